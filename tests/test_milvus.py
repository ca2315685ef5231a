"""An index in Milvus (`milvus://HOST:PORT/COLLECTION`) against a real engine: milvus-lite,
pinned in tests/requirements.txt, started on a free loopback port. The same corpus is
indexed into a file and into Milvus; both must answer alike."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lsp_client import LspClient

DISTINCTIVE = "The zebra council approves purple umbrellas every Thursday."
OTHER = "Our lighthouse keeper paints the stairs green in April."
# As in test_lsp.py: the tiny model is no judge of fluency, so the hints' fluency check is off.
SETTINGS = {"k": 8, "lambda": 0.5, "temperature": 1.0, "documentCache": False,
            "hints": {"minPreferredProbability": 0.4, "maxFluencyLoss": 1e300}}
HELD_OUT = ("The zebra council approves purple umbrellas every Thursday, and our lighthouse "
            "keeper paints the stairs green in April.\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Engine:
    """milvus-lite serving one data folder on one port; stopped and started again at will."""

    def __init__(self, data: Path):
        self.data, self.port, self.process = data, free_port(), None

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data),
             "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "milvus-lite exited at start"
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("milvus-lite did not listen within 60 s")

    def stop(self):
        if self.process and self.process.poll() is None:
            # SIGTERM: a background milvus-lite ignores SIGINT.
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)

    def location(self, collection: str) -> str:
        return f"milvus://127.0.0.1:{self.port}/{collection}"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = Engine(tmp_path_factory.mktemp("milvus"))
    engine.start()
    yield engine
    engine.stop()


@pytest.fixture
def home(tmp_path) -> dict:
    """The environment of a precedent with its own data folder (where Milvus working files go)."""
    return dict(os.environ, PRECEDENT_HOME=str(tmp_path / "home"))


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zebra.md").write_text("# Council notes\n\n" + " ".join([DISTINCTIVE] * 12) + "\n")
    (folder / "lighthouse.md").write_text("# Keeper\n\n" + " ".join([OTHER] * 8) + "\n")
    (folder / "short.txt").write_text("Short notes say little. They still count.\n")
    return folder


def run(precedent_bin, model, env, *args, check=True):
    result = subprocess.run([precedent_bin, "--model", model, *map(str, args)],
                            capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def suggestions(precedent_bin, model, env, index, text):
    out = run(precedent_bin, model, env, "suggest", "--json", "--count", 8, "--index", index, text).stdout
    return json.loads(out)


def assert_same_suggestions(found, expected, text):
    """Same words, examples and evidence; probabilities equal to float rounding (Milvus
    computes the same squared distances in f32, in another order)."""
    def close(a, b):
        return abs(a - b) <= 1e-4 * max(abs(a), abs(b), 1e-6)
    assert len(found["suggestions"]) == len(expected["suggestions"]), text
    for got, want in zip(found["suggestions"], expected["suggestions"]):
        assert (got["text"], got["examples"], got["phrase"]) == (want["text"], want["examples"], want["phrase"]), text
        for field in ("p", "p_knn", "p_lm"):
            assert close(got[field], want[field]), (text, field, got[field], want[field])
        assert [(e["path"], e["line"], e["sentence"], e["mark"]) for e in got["support"]] == \
            [(e["path"], e["line"], e["sentence"], e["mark"]) for e in want["support"]], text


def test_a_milvus_index_suggests_and_evaluates_as_the_file_index_does(
        precedent_bin, tiny_model, engine, home, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    file_index = tmp_path / "team.index"
    run(precedent_bin, tiny_model, home, "index", corpus, "--out", file_index)
    location = engine.location("same_answers")
    published = run(precedent_bin, tiny_model, home, "index", corpus, "--out", location).stdout
    assert "3 documents added, 0 kept, 0 removed (new collection)" in published, published

    for text, expected_first in [("The zebra council approves purple", "umbrellas"),
                                 ("Our lighthouse keeper paints the", None),
                                 ("Short notes say", None)]:
        from_file = suggestions(precedent_bin, tiny_model, home, file_index, text)
        from_milvus = suggestions(precedent_bin, tiny_model, home, location, text)
        assert_same_suggestions(from_milvus, from_file, text)
        if expected_first:
            assert from_file["suggestions"][0]["text"].strip().startswith(expected_first), from_file

    doctor = run(precedent_bin, tiny_model, home, "doctor", "--index", location).stdout
    assert "opens          ok: " in doctor and "3 documents" in doctor and "searches       ok: 8 neighbours" in doctor, doctor

    held_out = tmp_path / "held-out"
    held_out.mkdir()
    (held_out / "new.md").write_text(HELD_OUT)
    reports = [json.loads(run(precedent_bin, tiny_model, home, "eval", "--json", "--index", index,
                              held_out).stdout) for index in (file_index, location)]
    knn = [r["knn_ppl"] for r in reports]
    assert abs(knn[1] - knn[0]) <= 0.005 * knn[0], knn
    assert knn[0] < reports[0]["base_ppl"], "the corpus helps on text like it"
    assert reports[1]["base_ppl"] == reports[0]["base_ppl"]


def test_publishing_is_by_document_and_an_unchanged_corpus_writes_nothing(
        precedent_bin, tiny_model, engine, home, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    location = engine.location("incremental")
    run(precedent_bin, tiny_model, home, "index", corpus, "--out", location)

    again = run(precedent_bin, tiny_model, home, "index", corpus, "--out", location).stdout
    assert "0 documents added, 3 kept, 0 removed; 0 entries written" in again, again

    (corpus / "short.txt").unlink()
    (corpus / "lighthouse.md").write_text("# Keeper\n\nThe keeper rows a blue boat to the island.\n")
    changed = run(precedent_bin, tiny_model, home, "index", corpus, "--out", location).stdout
    assert "1 documents added, 1 kept, 2 removed" in changed, changed
    answer = suggestions(precedent_bin, tiny_model, home, location, "The keeper rows a blue")
    evidence = json.dumps(answer)
    assert "lighthouse.md" in evidence and "blue boat" in evidence, evidence
    assert "paints the stairs" not in evidence and "short.txt" not in evidence, evidence

    # Another machine (no working file) publishing the same corpus: nothing to write.
    elsewhere = dict(home, PRECEDENT_HOME=str(tmp_path / "other-home"))
    same = run(precedent_bin, tiny_model, elsewhere, "index", corpus, "--out", location).stdout
    assert "0 documents added, 2 kept, 0 removed; 0 entries written" in same, same


def test_an_index_of_another_model_is_refused_as_a_file_index_is(
        precedent_bin, tiny_model, default_model, engine, home, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    file_index = tmp_path / "tiny.index"
    location = engine.location("tiny_model")
    run(precedent_bin, tiny_model, home, "index", corpus, "--out", file_index)
    run(precedent_bin, tiny_model, home, "index", corpus, "--out", location)
    refusals = [run(precedent_bin, default_model, home, "suggest", "--index", index, "Short notes",
                    check=False) for index in (file_index, location)]
    for refusal in refusals:
        assert refusal.returncode != 0
    assert "was built with model" in refusals[1].stderr, refusals[1].stderr
    assert (refusals[1].stderr.replace(location, "INDEX")
            == refusals[0].stderr.replace(str(file_index), "INDEX")), [r.stderr for r in refusals]


def test_bad_locations_and_a_missing_index_are_clear(precedent_bin, tiny_model, engine, home, tmp_path):
    cases = [
        (f"milvus://127.0.0.1:{engine.port}/no_such_index", "holds no precedent index; build one with"),
        ("milvus://127.0.0.1:notaport/house", "is not a port number"),
        ("milvus://user:secret@127.0.0.1:1/house", "set PRECEDENT_MILVUS_TOKEN instead"),
        (f"milvus://127.0.0.1:{free_port()}/house", "cannot reach the Milvus engine"),
    ]
    for location, message in cases:
        result = run(precedent_bin, tiny_model, home, "suggest", "--index", location, "Short notes", check=False)
        assert result.returncode != 0 and message in result.stderr, (location, result.stderr)
        assert "secret" not in result.stderr


def completion(client, uri, line, character):
    return client.request("textDocument/completion", {
        "textDocument": {"uri": uri}, "position": {"line": line, "character": character}})


def test_the_server_serves_from_milvus_and_goes_on_while_the_engine_is_stopped(
        precedent_bin, tiny_model, engine, home, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    location = engine.location("served")
    run(precedent_bin, tiny_model, home, "index", corpus, "--out", location)
    workspace = tmp_path / "docs"
    workspace.mkdir()
    client = LspClient([precedent_bin, "--model", tiny_model, "serve"], env=home)
    try:
        client.initialize(workspace, dict(SETTINGS, indexPaths=[location]))
        client.wait_for(lambda m: m["method"] == "precedent/statusChanged"
                        and m["params"]["model"] is not None, what="model loaded")
        text = "# Notes\n\nEvery Thursday. The zebra council approves purple "
        uri = client.open(workspace / "notes.md", text)
        end = len("Every Thursday. The zebra council approves purple ")
        first = completion(client, uri, 2, end)["items"][0]
        assert first["label"] == "umbrellas"
        assert "zebra.md:3" in first["documentation"]["value"]
        hover = client.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": {"line": 2, "character": end - 9}})
        assert "zebra.md:3" in hover["contents"]["value"], hover  # "purple": its corpus sentence
        status = client.request("precedent/status", None)
        assert [(i["path"], i["documents"], i["searchError"]) for i in status["indexes"]] == [
            (location, 3, None)]

        def evidence_after(typed):
            nonlocal end, version
            version += 1
            client.change(uri, version, (2, end), (2, end), typed)
            end += len(typed)
            items = completion(client, uri, 2, end)["items"]
            return items, any("lighthouse.md" in json.dumps(i) for i in items)

        version = 1
        sentence = "umbrellas. Our lighthouse keeper paints the "
        assert evidence_after(sentence)[1], "lighthouse.md's evidence, with the engine up"

        engine.stop()
        started = time.monotonic()
        items, evidence = evidence_after("stairs. " + sentence)
        assert time.monotonic() - started < 20, "completion waited on the stopped engine"
        assert items, "the model still suggests"
        assert not evidence, "no corpus evidence without the engine"
        # The next request tells of the failure: a message and the status.
        completion(client, uri, 2, end)
        warning = client.wait_for(lambda m: m["method"] == "window/showMessage"
                                  and "until it answers" in m["params"]["message"],
                                  timeout=30, what="the search failure told")
        assert location in warning["params"]["message"]
        status = client.request("precedent/status", None)
        assert status["indexes"][0]["searchError"], status

        engine.start()
        deadline = time.monotonic() + 60
        while not any("lighthouse.md" in json.dumps(i) for i in completion(client, uri, 2, end)["items"]):
            assert time.monotonic() < deadline, ("no corpus evidence after the engine came back",
                                                 client.request("precedent/status", None), client.log())
            time.sleep(1)
        completion(client, uri, 2, end)
        client.wait_for(lambda m: m["method"] == "window/showMessage"
                        and "answers again" in m["params"]["message"], timeout=30, what="recovery told")
        assert client.request("precedent/status", None)["indexes"][0]["searchError"] is None
    finally:
        client.close()
        if engine.process.poll() is not None:
            engine.start()


def test_a_publish_killed_midway_leaves_the_old_documents_and_the_next_run_finishes(
        precedent_bin, tiny_model, engine, home, tmp_path):
    corpus = write_corpus(tmp_path / "corpus")
    location = engine.location("interrupted")
    run(precedent_bin, tiny_model, home, "index", corpus, "--out", location)
    notes = 600
    for n in range(notes):
        (corpus / f"note{n:03}.md").write_text(f"# Note {n}\n\nNote {n} says the ferry leaves at {n % 12} o'clock.\n")
    publishing = subprocess.Popen([precedent_bin, "--model", tiny_model, "index", corpus, "--out", location],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=home)
    for line in publishing.stderr:
        if line.startswith("publishing: 0/"):
            break
    time.sleep(0.3)
    publishing.kill()
    out, _ = publishing.communicate()
    assert "documents added" not in out, "killed before it finished"

    answer = suggestions(precedent_bin, tiny_model, home, location, "The zebra council approves purple")
    assert answer["suggestions"][0]["text"].strip() == "umbrellas", "the documents of before still serve"
    finished = run(precedent_bin, tiny_model, home, "index", corpus, "--out", location).stdout
    assert ", 0 removed" in finished and f"{notes + 3} entries" not in finished, finished
    again = run(precedent_bin, tiny_model, home, "index", corpus, "--out", location).stdout
    assert f"0 documents added, {notes + 3} kept, 0 removed; 0 entries written" in again, again
    # Nothing the killed run wrote is left over: as many entries as a file index of the corpus.
    built = run(precedent_bin, tiny_model, home, "index", corpus, "--out", tmp_path / "all.index").stdout
    entries = built.split(" entries,")[0].rsplit(" ", 1)[-1]
    assert f"; {entries} entries in all" in again, (built, again)
