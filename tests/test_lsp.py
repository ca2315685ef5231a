"""The language server end to end: the real `precedent serve` on the tiny model and a small
corpus, spoken to over stdio with JSON-RPC."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from lsp_client import LspClient

DISTINCTIVE = "The zebra council approves purple umbrellas every Thursday."
# The corpus writes its word in three sentences, as a word-choice hint needs (12 in all).
HABIT = [DISTINCTIVE, "The zebra council buys purple umbrellas every Thursday.",
         "The zebra council lends purple umbrellas every Thursday."]
COUNCIL_NOTES = "# Council notes\n\n" + " ".join(HABIT * 4) + "\n"
# The tiny model's keys see little beyond the last token: documents repeat the corpus's
# context closely, so its neighbours are the corpus sentence's.
# The tiny model is no judge of fluency ("coats" → "umbrellas" costs it e^100), so the
# hints' fluency check is left out: the hint is "coats", a common word the corpus never
# writes where its neighbours agree on "umbrellas".
SETTINGS = {"k": 8, "lambda": 0.5, "temperature": 1.0, "documentCache": False,
            "hints": {"minPreferredProbability": 0.4, "maxFluencyLoss": 1e300}}


@pytest.fixture(scope="module")
def corpus_index(tmp_path_factory, precedent_bin, tiny_model) -> Path:
    corpus = tmp_path_factory.mktemp("corpus")
    (corpus / "zebra.md").write_text(COUNCIL_NOTES)
    out = tmp_path_factory.mktemp("index") / "team.index"
    subprocess.run([precedent_bin, "--model", tiny_model, "index", corpus, "--out", out],
                   check=True, capture_output=True)
    return out


@pytest.fixture
def workspace(tmp_path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    return root


def start(precedent_bin, model, tmp_path, configuration=None) -> LspClient:
    env = dict(os.environ, PRECEDENT_HOME=str(tmp_path / "home"))
    return LspClient([precedent_bin, "--model", model, "serve"], env=env,
                     configuration=configuration)


def start_on_demo(precedent_bin, default_model, demo_index, workspace, tmp_path) -> LspClient:
    """The default model serving the demo corpus's index, initialized and loaded."""
    client = start(precedent_bin, default_model, tmp_path)
    try:
        client.initialize(workspace, {"indexPaths": [str(demo_index)]})
        ready(client)
    except BaseException:
        client.close()
        raise
    return client


def ready(client: LspClient):
    client.wait_for(lambda m: m["method"] == "precedent/statusChanged"
                    and m["params"]["model"] is not None, what="model loaded")


def test_completion_hover_hint_and_quick_fix(precedent_bin, tiny_model, corpus_index, workspace, tmp_path):
    client = start(precedent_bin, tiny_model, tmp_path)
    try:
        result = client.initialize(workspace, dict(SETTINGS, indexPaths=[str(corpus_index)]))
        capabilities = result["capabilities"]
        assert capabilities["completionProvider"]["triggerCharacters"] == [" "]
        assert capabilities["textDocumentSync"]["change"] == 2  # incremental
        assert set(capabilities["executeCommandProvider"]["commands"]) == {
            "precedent.reindex", "precedent.ignoreHere", "precedent.ignoreInWorkspace"}
        ready(client)

        text = ("# Notes\n\nEvery Thursday. The zebra council approves purple coats every Thursday.\n\n"
                "Every Thursday. The zebra council approves purple ")
        uri = client.open(workspace / "notes.md", text)

        # Completion at the end: the corpus word, spelled out, with its evidence.
        completion = client.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": 4, "character": 50}})
        assert completion["isIncomplete"] is True
        first = completion["items"][0]
        assert first["label"] == "umbrellas"
        assert first["textEdit"] == {"range": {"start": {"line": 4, "character": 50},
                                               "end": {"line": 4, "character": 50}},
                                     "newText": "umbrellas"}
        assert "3 corpus examples" in first["detail"]  # three sentences, each written 4 times
        assert "zebra.md:3" in first["documentation"]["value"]
        assert "**umbrellas**" in first["documentation"]["value"]

        # Mid-word: the typed prefix filters and is replaced.
        client.change(uri, 2, (4, 50), (4, 50), "umb")
        completion = client.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": 4, "character": 53}})
        first = completion["items"][0]
        assert first["label"] == "umbrellas"
        assert first["textEdit"]["range"] == {"start": {"line": 4, "character": 50},
                                              "end": {"line": 4, "character": 53}}
        assert all(item["label"].startswith("umb") for item in completion["items"])

        # The hint: "coats" where the corpus says "umbrellas"; not the word being typed.
        diagnostics = client.diagnostics(uri, 2)
        assert [(d["range"], d["severity"], d["source"], d["code"], d["data"]["preferred"])
                for d in diagnostics] == [
            ({"start": {"line": 2, "character": 50}, "end": {"line": 2, "character": 55}},
             4, "precedent", "word-choice", "umbrellas")]
        assert "umbrellas" in diagnostics[0]["message"]

        # Hover on the hinted word: no support for it, the corpus's preference with evidence.
        hover = client.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": {"line": 2, "character": 53}})
        value = hover["contents"]["value"]
        assert hover["range"] == diagnostics[0]["range"]
        assert "No similar usage in the corpus" in value
        assert "The corpus prefers *umbrellas* here" in value
        assert "zebra.md:3" in value

        # The quick fix and its edit.
        actions = client.request("textDocument/codeAction", {
            "textDocument": {"uri": uri}, "range": diagnostics[0]["range"],
            "context": {"diagnostics": diagnostics}})
        titles = [a["title"] for a in actions]
        assert titles == ["Replace with \u201cumbrellas\u201d", "Ignore \u201ccoats\u201d here",
                          "Ignore \u201ccoats\u201d in this workspace"]
        assert actions[0]["isPreferred"] is True
        assert actions[0]["edit"]["changes"][uri] == [
            {"range": diagnostics[0]["range"], "newText": "umbrellas"}]

        # Ignoring it in the workspace removes the hint, and survives a restart (below).
        client.request("workspace/executeCommand", actions[2]["command"])
        assert client.diagnostics(uri, 2, timeout=30) is not None
        client.change(uri, 3, (4, 50), (4, 53), "")
        assert client.diagnostics(uri, 3) == []

        status = client.request("precedent/status", None)
        assert status["model"] is not None and status["modelError"] is None
        assert [i["path"] for i in status["indexes"]] == [str(corpus_index)]
        assert status["indexes"][0]["documents"] == 1
        assert status["indexes"][0]["keepInlineCode"] is False
        assert (status["k"], status["lambda"], status["temperature"]) == (8, 0.5, 1.0)
        assert (status["documentCache"], status["documentCacheSkipRecent"]) == (False, 4)
    finally:
        client.close()

    client = start(precedent_bin, tiny_model, tmp_path)
    try:
        client.initialize(workspace, dict(SETTINGS, indexPaths=[str(corpus_index)]))
        uri = client.open(workspace / "notes.md", text)
        assert client.diagnostics(uri, 1) == [], "ignored in the workspace, persisted"
    finally:
        client.close()


def test_utf16_positions_and_configuration_changes(precedent_bin, tiny_model, corpus_index, workspace, tmp_path):
    client = start(precedent_bin, tiny_model, tmp_path)
    try:
        client.initialize(workspace, dict(SETTINGS, indexPaths=[str(corpus_index)]))
        ready(client)
        # Non-ASCII before the hinted word on its line: 😀 is two UTF-16 units, é one.
        line = "Every Thursday 😀 é. The zebra council approves purple coats every Thursday."
        uri = client.open(workspace / "utf16.md", "# Notes\n\n" + line + "\n")
        diagnostics = [d for d in client.diagnostics(uri, 1) if d["data"]["word"] == "coats"]
        start_char = len(line[: line.index("coats")].encode("utf-16-le")) // 2
        assert [d["range"]["start"] for d in diagnostics] == [{"line": 2, "character": start_char}]
        assert diagnostics[0]["range"]["end"]["character"] == start_char + len("coats")

        # Settings from the client: severity warning; an invalid value is ignored, not fatal.
        client.notify("workspace/didChangeConfiguration", {"settings": {"precedent": dict(
            SETTINGS, indexPaths=[str(corpus_index)],
            hints={"minPreferredProbability": 0.4, "maxFluencyLoss": 1e300, "minRatio": -3,
                   "severity": "warning"})}})
        client.change(uri, 2, (0, 2), (0, 7), "Minutes")
        diagnostics = client.diagnostics(uri, 2)
        assert {d["severity"] for d in diagnostics} == {2}
        assert "minRatio = -3 ignored" in client.log()

        # Turning hints off clears them.
        client.notify("workspace/didChangeConfiguration", {"settings": {"precedent": dict(
            SETTINGS, indexPaths=[str(corpus_index)], hints={"enabled": False})}})
        client.change(uri, 3, (0, 2), (0, 9), "Notes")
        assert client.diagnostics(uri, 3) == []
    finally:
        client.close()


def test_a_long_paragraph_is_judged_in_parts_that_map_back_to_its_lines(
        precedent_bin, tiny_model, corpus_index, workspace, tmp_path):
    client = start(precedent_bin, tiny_model, tmp_path)
    try:
        client.initialize(workspace, dict(SETTINGS, indexPaths=[str(corpus_index)]))
        ready(client)
        # One Markdown paragraph of 1,300 bytes over 21 soft-wrapped lines: the server cuts
        # it at a sentence end into two blocks. The hinted word is in the second.
        lines = [DISTINCTIVE] * 20 + ["The zebra council approves purple coats every Thursday."]
        uri = client.open(workspace / "long.md", "# Notes\n\n" + "\n".join(lines) + "\n")
        coats = {"start": {"line": 22, "character": 34}, "end": {"line": 22, "character": 39}}
        diagnostics = client.diagnostics(uri, 1)
        assert [(d["range"], d["data"]["preferred"]) for d in diagnostics] == [(coats, "umbrellas")]

        hover = client.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": {"line": 22, "character": 36}})
        assert hover["range"] == coats
        assert "The corpus prefers *umbrellas* here" in hover["contents"]["value"]
    finally:
        client.close()


def test_team_settings_from_precedent_toml(precedent_bin, tiny_model, corpus_index, workspace, tmp_path):
    (workspace / "precedent.toml").write_text(
        f'index_paths = ["{corpus_index}"]\nk = 8\nlambda = 0.5\ntemperature = 1.0\n'
        'document_cache = false\n[hints]\nmin_preferred_probability = 0.4\nmax_fluency_loss = 1e300\n'
        'severity = "information"\n')
    client = start(precedent_bin, tiny_model, tmp_path)
    try:
        client.initialize(workspace)
        text = "# Notes\n\nEvery Thursday. The zebra council approves purple coats every Thursday.\n"
        uri = client.open(workspace / "notes.md", text)
        diagnostics = client.diagnostics(uri, 1)
        assert [(d["severity"], d["data"]["word"]) for d in diagnostics] == [(3, "coats")]
    finally:
        client.close()


def test_missing_model_is_reported_once_and_the_server_keeps_running(precedent_bin, workspace, tmp_path):
    client = LspClient([precedent_bin, "--model", tmp_path / "no-such-model", "serve"],
                       env=dict(os.environ, PRECEDENT_HOME=str(tmp_path / "home")))
    try:
        client.initialize(workspace)
        message = client.wait_for(lambda m: m["method"] == "window/showMessage", what="error message")
        assert message["params"]["type"] == 1
        assert "cannot load the language model" in message["params"]["message"]
        uri = client.open(workspace / "a.md", "Some text here.")
        assert client.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": 0, "character": 15}}) is None
        assert client.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": {"line": 0, "character": 2}}) is None
        status = client.request("precedent/status", None)
        assert status["model"] is None and "no-such-model" in status["modelError"]
    finally:
        client.close()


def test_corpus_folders_are_indexed_in_the_background_with_progress(precedent_bin, tiny_model, workspace, tmp_path):
    corpus = workspace / "style"
    corpus.mkdir()
    (corpus / "zebra.md").write_text(COUNCIL_NOTES)
    client = start(precedent_bin, tiny_model, tmp_path)
    try:
        client.initialize(workspace, dict(SETTINGS, corpus=["style"]))
        end = client.wait_for(lambda m: m["method"] == "$/progress"
                              and m["params"]["value"]["kind"] == "end", what="indexing finished")
        begin = client.wait_for(lambda m: m["method"] == "$/progress"
                                and m["params"]["value"]["kind"] == "begin")
        assert begin["params"]["value"]["title"] == "precedent: indexing corpus"
        assert "1 documents" in end["params"]["value"]["message"]
        assert any(r["method"] == "window/workDoneProgress/create" for r in client.server_requests)
        assert any(r["method"] == "client/registerCapability" for r in client.server_requests)
        status = client.request("precedent/status", None)
        assert status["indexes"][0]["documents"] == 1
        assert status["indexes"][0]["path"].startswith(str(tmp_path / "home" / "indexes"))

        text = "# Notes\n\nEvery Thursday. The zebra council approves purple coats every Thursday.\n"
        uri = client.open(workspace / "notes.md", text)
        assert [d["data"]["preferred"] for d in client.diagnostics(uri, 1)] == ["umbrellas"]
    finally:
        client.close()


# A new paragraph that breaks the five rules of the demo corpus's writing guide
# (tests/fixtures/house-style/writing-guide.md), after two sentences of context.
HOUSE_STYLE_VIOLATIONS = (
    "# Sharing reports\n\n"
    "Lumen makes it easy to share your work with your team. This guide explains how to share "
    "a report.\n\n"
    "To share a report, click the report in the sidebar, and then click **Share**. If you "
    "can't log in, ask your dashboard administrator to check your account. Your organisation "
    "can see every shared report. Shares that you cancelled stay in the trash for thirty days.\n"
)
HOUSE_STYLE_FIXES = [("click", "select"), ("click", "select"), ("log in", "sign in"),
                     ("dashboard", "workspace"), ("organisation", "organization"),
                     ("cancelled", "canceled")]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "house-style"


@pytest.fixture(scope="module")
def demo_index(tmp_path_factory, precedent_bin, default_model) -> Path:
    out = tmp_path_factory.mktemp("demo") / "demo.index"
    subprocess.run([precedent_bin, "--model", default_model, "index", FIXTURES, "--out", out],
                   check=True, capture_output=True)
    return out


def test_the_house_style_rules_of_the_demo_corpus_are_hinted_and_fixed(
        precedent_bin, default_model, demo_index, workspace, tmp_path):
    """The default model and the demo corpus: each written rule of its style guide is
    flagged with the house word as the quick fix, and the fixes give the house text."""
    client = start_on_demo(precedent_bin, default_model, demo_index, workspace, tmp_path)
    try:
        uri = client.open(workspace / "sharing.md", HOUSE_STYLE_VIOLATIONS)
        diagnostics = client.diagnostics(uri, 1, timeout=120)
        found = [(d["data"]["word"], d["data"]["preferred"]) for d in diagnostics]
        assert found == HOUSE_STYLE_FIXES, found
        kinds = {d["data"]["word"]: d["data"]["kind"] for d in diagnostics}
        assert {d["data"]["word"]: d["code"] for d in diagnostics} == kinds
        # Its style guide states three of the rules ("Write sign in and sign out, not log in,
        # login or log out"); the corpus only writes the other two the house way.
        assert kinds == {"click": "stated-rule", "log in": "stated-rule",
                         "dashboard": "stated-rule", "organisation": "spelling",
                         "cancelled": "spelling"}
        assert ("The corpus says to write \u201csign in\u201d, not \u201clog in\u201d (it writes "
                "\u201csign in\u201d 9 times; \u201clog in\u201d never)") in [
            d["message"] for d in diagnostics]

        # Hover on a violating word says why: how often the corpus writes each word, and where.
        def hover_on(word):
            [hint] = [d for d in diagnostics if d["data"]["word"] == word]
            return client.request("textDocument/hover", {
                "textDocument": {"uri": uri}, "position": hint["range"]["start"]})["contents"]["value"]
        value = hover_on("organisation")
        assert "The corpus spells it *organization*** (2 times; *organisation* never)" in value, value
        assert "getting-started.md" in value and "**organization**" in value, value
        value = hover_on("log in")
        assert ("The corpus says to write *sign in*, not *log in*** (*sign in* 9 times; *log in* "
                "never)") in value, value
        assert "Write **sign in** and sign out, not log in" in value, value

        # Apply every quick fix, last first so that earlier ranges stay valid.
        lines = HOUSE_STYLE_VIOLATIONS.split("\n")
        for diagnostic in sorted(diagnostics, key=lambda d: d["range"]["start"]["character"],
                                 reverse=True):
            actions = client.request("textDocument/codeAction", {
                "textDocument": {"uri": uri}, "range": diagnostic["range"],
                "context": {"diagnostics": [diagnostic]}})
            [edit] = actions[0]["edit"]["changes"][uri]
            assert actions[0]["isPreferred"] is True
            start, end = edit["range"]["start"], edit["range"]["end"]
            assert start["line"] == end["line"] == 4
            line = lines[4]
            lines[4] = line[:start["character"]] + edit["newText"] + line[end["character"]:]
        assert lines[4] == (
            "To share a report, select the report in the sidebar, and then select **Share**. If "
            "you can't sign in, ask your workspace administrator to check your account. Your "
            "organization can see every shared report. Shares that you canceled stay in the trash "
            "for thirty days.")
    finally:
        client.close()


# (a new paragraph after a line of context, the house word completion must list first)
HOUSE_WORD_FIRST = [
    ("If you can't ", "sign"),
    ("To share a report, select the report in the sidebar. If you can't ", "sign"),
    ("To share a report, ", "select"),
    ("If you can't sign in, ask your ", "workspace"),
]


def test_completion_lists_the_house_word_first_where_the_corpus_agrees(
        precedent_bin, default_model, demo_index, workspace, tmp_path):
    """The default model and the demo corpus: where the corpus neighbours agree, the word the
    corpus writes comes before the words the model alone prefers ("find", "I")."""
    client = start_on_demo(precedent_bin, default_model, demo_index, workspace, tmp_path)
    try:
        head = "# Sharing reports\n\nLumen makes it easy to share your work with your team.\n\n"
        for number, (paragraph, house_word) in enumerate(HOUSE_WORD_FIRST):
            uri = client.open(workspace / f"first{number}.md", head + paragraph)
            items = client.request("textDocument/completion", {
                "textDocument": {"uri": uri},
                "position": {"line": 4, "character": len(paragraph)}})["items"]
            labels = [item["label"] for item in items]
            assert labels[0] == house_word, (paragraph, labels)
            assert "corpus 0.9" in items[0]["detail"] or "corpus 1.00" in items[0]["detail"], items[0]
    finally:
        client.close()


def test_completion_lists_a_word_the_style_guide_rules_out_last_and_struck_through(
        precedent_bin, default_model, demo_index, workspace, tmp_path):
    """The demo's guide says "Write select, not click or tap": typing "cl", "click" is still
    offered (the writer may mean it), after every other word, tagged Deprecated, with the
    house word in its detail."""
    client = start_on_demo(precedent_bin, default_model, demo_index, workspace, tmp_path)
    try:
        head = "# Sharing reports\n\nLumen makes it easy to share your work with your team.\n\n"
        for number, (paragraph, ruled_out, house) in enumerate([
                ("To share a report, cl", "click", "select"),
                ("Go to your da", "dashboard", "workspace")]):
            uri = client.open(workspace / f"ruled{number}.md", head + paragraph)
            items = client.request("textDocument/completion", {
                "textDocument": {"uri": uri},
                "position": {"line": 4, "character": len(paragraph)}})["items"]
            labels = [item["label"] for item in items]
            assert labels[-1] == ruled_out, labels
            assert items[-1]["tags"] == [1], items[-1]
            assert items[-1]["detail"].endswith(f"the corpus says to write \u201c{house}\u201d")
            assert all("tags" not in item for item in items[:-1]), items
    finally:
        client.close()


def test_hover_on_the_house_word_names_no_other_word_the_corpus_would_prefer(
        precedent_bin, default_model, demo_index, workspace, tmp_path):
    """Hover on "sign" where the corpus writes "sign" (corpus 0.98): the model alone favours
    "find" there (p 0.33 with λ 0.15, corpus 0.00), which is no preference of the corpus."""
    client = start_on_demo(precedent_bin, default_model, demo_index, workspace, tmp_path)
    try:
        paragraph = "To share a report, select the report in the sidebar. If you can't sign in, ask your team."
        uri = client.open(workspace / "hover.md", "# Sharing reports\n\n" + paragraph + "\n")
        value = client.request("textDocument/hover", {
            "textDocument": {"uri": uri},
            "position": {"line": 2, "character": paragraph.index("sign in") + 1}})["contents"]["value"]
        assert "*sign* here" in value and "If you can't **sign** in" in value, value
        assert "The corpus prefers" not in value, value
    finally:
        client.close()


def test_a_team_file_links_each_hint_to_its_page_and_strikes_out_words_the_corpus_never_writes(
        precedent_bin, default_model, demo_index, workspace, tmp_path):
    """The default model and the demo corpus, with the team's precedent.toml setting
    hints.docs_url: each hint links the page on its kind (codeDescription), and the words the
    corpus never writes are tagged Deprecated for a client that shows the tag: all of them, as
    its style guide only rules out "click", "log in" and "dashboard" ("Write select, not click
    or tap") and never writes "organisation" or "cancelled"."""
    (workspace / "precedent.toml").write_text(
        f'index_paths = ["{demo_index}"]\n\n'
        '[hints]\ndocs_url = "https://wiki.example.com/style#{kind}"\n')
    client = start(precedent_bin, default_model, tmp_path)
    try:
        client.initialize(workspace, {}, text_document={
            "publishDiagnostics": {"tagSupport": {"valueSet": [1, 2]}}})
        ready(client)
        uri = client.open(workspace / "sharing.md", HOUSE_STYLE_VIOLATIONS)
        hints = client.diagnostics(uri, 1, timeout=120)
        page = "https://wiki.example.com/style#"
        assert [(h["data"]["word"], h["codeDescription"]["href"], h.get("tags")) for h in hints] == [
            ("click", page + "stated-rule", [2]),
            ("click", page + "stated-rule", [2]),
            ("log in", page + "stated-rule", [2]),
            ("dashboard", page + "stated-rule", [2]),
            ("organisation", page + "spelling", [2]),
            ("cancelled", page + "spelling", [2]),
        ]
    finally:
        client.close()


def test_the_demo_shows_suggestions_and_the_hints_of_a_page_that_breaks_the_house_style(
        precedent_bin, default_model, tmp_path):
    """`precedent demo` (the README's first command), on the model already installed: it
    indexes the built-in sample, suggests, then checks a new page as `precedent check` does."""
    env = dict(os.environ, PRECEDENT_HOME=str(tmp_path / "home"))
    run = subprocess.run([precedent_bin, "--model", default_model, "demo"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    page = tmp_path / "home" / "demo" / "sharing.md"
    assert page.read_text() == HOUSE_STYLE_VIOLATIONS
    hints = [line for line in run.stdout.splitlines() if line.startswith(f"{page}:")]
    assert [line.split(": ", 1)[1].split(" [")[0] for line in hints] == [
        f"{written} \u2192 {preferred}" for written, preferred in HOUSE_STYLE_FIXES], run.stdout
    assert f"precedent check --index {tmp_path / 'home' / 'demo' / 'demo.index'} {page}" in run.stdout


def test_check_exits_1_on_violations_and_0_on_the_corpus_itself(
        precedent_bin, default_model, demo_index, tmp_path):
    """`precedent check` for CI: the editor's hints as file:line:col lines, exit codes as vale's."""
    document = tmp_path / "sharing.md"
    document.write_text(HOUSE_STYLE_VIOLATIONS)
    run = subprocess.run([precedent_bin, "--model", default_model, "check", "--index", demo_index,
                          document], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(HOUSE_STYLE_FIXES), lines
    assert lines[2].startswith(f"{document}:5:92: log in \u2192 sign in [stated-rule] "), lines

    # The team's page on each kind of hint, from the precedent.toml of the current directory.
    (tmp_path / "precedent.toml").write_text(
        '[hints]\ndocs_url = "https://wiki.example.com/style#{kind}"\n')
    run = subprocess.run([precedent_bin, "--model", default_model, "check", "--index", demo_index,
                          "--format", "json", document], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert run.returncode == 1
    report = json.loads(run.stdout)
    assert [(h["written"], h["preferred"]) for h in report] == HOUSE_STYLE_FIXES
    assert all(h["evidence"] for h in report)
    assert [h["docs_url"] for h in report] == [
        f"https://wiki.example.com/style#{h['kind']}" for h in report]

    run = subprocess.run([precedent_bin, "--model", default_model, "check", "--index", demo_index,
                          FIXTURES], capture_output=True, text=True, timeout=300)
    assert (run.returncode, run.stdout) == (0, ""), run.stderr

    run = subprocess.run([precedent_bin, "--model", default_model, "check", "--index",
                          tmp_path / "missing.index", document], capture_output=True, text=True)
    assert run.returncode == 2 and "missing.index" in run.stderr
