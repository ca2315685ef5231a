#!/usr/bin/env bash
# Builds, lints, tests and packages the VS Code extension from a clean checkout, with only
# node and npm from the machine (every tool comes from package-lock.json).
# Quiet on success (two summary lines); on failure prints the failing step's output, exits 1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v npm >/dev/null 2>&1; then
  echo "editors/vscode: npm not found (Node.js 20 or later with npm is needed)" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "editors/vscode: Node.js 20 or later is needed, found $(node --version)" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

step() {
  local name=$1
  shift
  if ! "$@" >"$log" 2>&1 </dev/null; then
    echo "editors/vscode: $name failed:" >&2
    cat "$log" >&2
    exit 1
  fi
}

step "npm ci" npm ci --no-audit --no-fund
step "npm run compile" npm run compile
step "npm run lint" npm run lint
step "npm test" npm test
# node's test runner: TAP ("# pass 37") when not on a terminal, "ℹ pass 37" on one.
passed=$(grep -E '^(# |ℹ )pass [0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
failed=$(grep -E '^(# |ℹ )fail [0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
if [ "$passed" -eq 0 ] || [ "$failed" -ne 0 ]; then
  echo "editors/vscode: npm test ran no test or had failures:" >&2
  cat "$log" >&2
  exit 1
fi
rm -f precedent.vsix
step "npm run package" npm run package
size=$(wc -c <precedent.vsix)
echo "editors/vscode: compiled, lint clean, precedent.vsix $((size / 1024)) KiB"
echo "vscode: $passed passed, $failed failed"
