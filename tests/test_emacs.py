"""Emacs with Eglot and editors/emacs/precedent.el against the real `precedent serve`.

Debian's emacs-nox (28) with elpa-eglot (1.9), in batch mode (tests/run.sh installs them),
runs tests/emacs_driver.el: it opens a plain-text file in a workspace, starts the server with
M-x eglot and precedent.el's settings (an index of tests/fixtures/house-style built with the
tiny test model), waits for the house-style hint in Flymake (a rule its style guide states), applies its quick fix with
M-x eglot-code-actions (taking the default action at the prompt, as a writer pressing RET),
gets completion after a space and through completion-at-point, hover evidence through
Eglot's ElDoc function, and shuts the server down with eglot-shutdown. The tests below
assert on what it recorded. $PRECEDENT_EMACS overrides the emacs executable.
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
PACKAGE = ROOT / "editors" / "emacs" / "precedent.el"
DRIVER = TESTS / "emacs_driver.el"
FIXTURES = TESTS / "fixtures" / "house-style"

DOC = """\
Reports in the trash now show the date they will be deleted. To restore a report, click it in the trash, and then select Restore.

To sign out of every device at once, select your name in the sidebar.
"""
HINT_LINE, HINT_WORD, PREFERRED = 0, "click", "select"
HOVER_LINE, HOVER_WORD = 2, "select"
# Typed as a new paragraph at the end; completion after its last space, then after PREFIX.
TYPED = "Reports in the trash now show the date they will be deleted. To restore a report, "
PREFIX = "sel"
# The same settings as the Neovim test: the tiny model's hints need a strong corpus weight,
# and the tiny model is no judge of fluency (the hints' fluency check is left out).
SETTINGS = {"lambda": 0.9, "documentCache": False, "hints": {"maxFluencyLoss": 1e300}}


def find_emacs() -> str | None:
    return os.environ.get("PRECEDENT_EMACS") or shutil.which("emacs")


@pytest.fixture(scope="module")
def emacs() -> str:
    emacs = find_emacs()
    if not emacs:
        pytest.fail("emacs not found: tests/run.sh installs emacs-nox and elpa-eglot, or set PRECEDENT_EMACS",
                    pytrace=False)
    return emacs


@pytest.fixture(scope="module")
def session(emacs, precedent_bin, tiny_model, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("emacs")
    index = tmp / "idx"
    subprocess.run([precedent_bin, "--model", tiny_model, "index", FIXTURES, "--out", index],
                   check=True, capture_output=True, timeout=300)
    ws = tmp / "ws"
    ws.mkdir()
    (ws / "precedent.toml").write_text("# the workspace root for the test (no team settings)\n", encoding="utf-8")
    doc = ws / "trash.txt"
    doc.write_text(DOC, encoding="utf-8")
    hover_line = DOC.splitlines()[HOVER_LINE]
    scenario = {
        "cmd": [str(precedent_bin), "--model", str(tiny_model), "serve"],
        "settings": {"indexPaths": [str(index)], **SETTINGS},
        "doc": str(doc),
        "hint-word": HINT_WORD,
        "hint-line": HINT_LINE,
        "typed": TYPED,
        "prefix": PREFIX,
        "hover": {"line": HOVER_LINE, "character": hover_line.index(HOVER_WORD) + 2},
        "out": str(tmp / "observed.json"),
    }
    (tmp / "scenario.json").write_text(json.dumps(scenario, indent=1), encoding="utf-8")
    # A home of its own: no user init, Eglot from Debian's site-lisp (elpa-eglot).
    env = dict(os.environ, PRECEDENT_EMACS_TEST=str(tmp / "scenario.json"), HOME=str(tmp / "home"))
    argv = [emacs, "--batch", "-l", str(PACKAGE), "-l", str(DRIVER)]
    # Batch Emacs reads the minibuffer from stdin: an empty line takes the default answer.
    proc = subprocess.run(argv, input="\n" * 5, cwd=ws, env=env, capture_output=True, text=True, timeout=300)
    log = f"emacs exited with {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-6000:]}"
    out = Path(scenario["out"])
    assert out.exists(), log
    observed = json.loads(out.read_text(encoding="utf-8"))
    assert "error" not in observed, (f"driver error: {observed['error']} after {observed['steps']}\n{log}\n"
                                     f"{observed.get('eglot-log')}")
    assert proc.returncode == 0, log
    return {"observed": observed, "log": log, "doc": doc}


def test_eglot_starts_precedent_for_text_mode_as_plaintext(session):
    o = session["observed"]
    assert o["major-mode"] == "text-mode"
    assert o["language-id"] == "plaintext"
    assert "tiny" in o["status-model"], o  # precedent/statusChanged, kept by precedent.el


def test_the_hint_and_its_quick_fix_applied_by_eglot(session):
    o = session["observed"]
    hint = o["hint"]
    start = DOC.splitlines()[HINT_LINE].index(HINT_WORD)
    assert hint["start"] == {"line": HINT_LINE, "character": start}
    assert hint["end"] == {"line": HINT_LINE, "character": start + len(HINT_WORD)}
    assert (hint["word"], hint["preferred"]) == (HINT_WORD, PREFERRED)
    assert hint["text"].startswith("precedent [stated-rule]: "), hint
    # The default at Eglot's "Pick an action" prompt is the server's preferred quick fix.
    assert re.search(r"Pick an action \(default Replace with .select.\)", session["log"]), session["log"]
    expected = DOC.splitlines()[HINT_LINE].replace(f" {HINT_WORD} ", f" {PREFERRED} ", 1)
    assert o["fixed-line"] == expected


def test_completion_after_a_space_and_through_completion_at_point(session):
    o = session["observed"]
    # The corpus has this very sentence (release-notes.md:8, "To restore a report, select it
    # in the trash"): its next word comes first.
    assert o["completions"], o
    assert o["completions"][0] == PREFERRED, o["completions"]
    # Mid-word the prefix filters; the first item replaces it (Eglot applies its textEdit).
    assert o["chosen"] == PREFERRED
    assert o["completed-line"] == TYPED + PREFERRED


def test_hover_shows_corpus_sentences_with_the_word(session):
    text = session["observed"]["hover"]
    refs = re.findall(r"([\w.-]+\.md):(\d+)", text)
    assert refs, f"no file:line in the hover: {text}"
    cited = []
    for name, line in refs:
        lines = (FIXTURES / name).read_text(encoding="utf-8").splitlines()
        cited.append(lines[int(line) - 1])
    assert any(HOVER_WORD in line.lower() for line in cited), f"no cited line has '{HOVER_WORD}': {cited}\n{text}"


def test_eglot_shutdown_is_answered(session):
    # Eglot sends `"params": null` with shutdown (and exit).
    o = session["observed"]
    assert "shutdown-error" not in o, f"shutdown was refused: {o['shutdown-error']}"


def test_the_server_exits_by_itself_after_shutdown_and_exit(session):
    # Eglot would kill it after `exit`; the driver waited up to 10 s to see it end on its own.
    o = session["observed"]
    assert o["server-exit"] == {"status": "exit", "code": 0}, o["server-exit"]
    assert o["server-live"] is False
    assert not Path(f"/proc/{o['server-pid']}").exists()
