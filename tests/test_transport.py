"""The wire and the session: whatever arrives on stdin, `precedent serve` answers what it
must, reads on, and ends when it is told to or its input ends. With the tiny model."""

import json
import os
import random
import subprocess
import time
from pathlib import Path

import pytest

from lsp_client import LspClient, frame
from test_lsp import DISTINCTIVE, SETTINGS, ready, start

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND = -32700, -32600, -32601


@pytest.fixture
def workspace(tmp_path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    return root


def index_of(precedent_bin, tiny_model, tmp_path, name: str, sentence: str, out: Path,
             *options: str) -> Path:
    corpus = tmp_path / name
    corpus.mkdir()
    (corpus / f"{name}.md").write_text("# Council notes\n\n" + " ".join([sentence] * 12) + "\n")
    subprocess.run([precedent_bin, "--model", tiny_model, "index", corpus, "--out", out, *options],
                   check=True, capture_output=True)
    return out


def wait_exit(client: LspClient, timeout: float = 10) -> int:
    try:
        return client.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        client.process.kill()
        raise AssertionError(f"the server did not end; log:\n{client.log()}")


def body(message) -> bytes:
    return json.dumps(message).encode()


# (what is sent, the error code answered, the id answered)
MALFORMED = [
    (frame(b'{"jsonrpc":"2.0","method":'), PARSE_ERROR, None),
    (frame(b'{"jsonrpc":"2.0","method":"textDocument/didOpen","params":{"t":"\xff\xfe"}}'), PARSE_ERROR, None),
    (frame(b'[{"jsonrpc":"2.0","id":1,"method":"shutdown"}]'), INVALID_REQUEST, None),
    (frame(b'"shutdown"'), INVALID_REQUEST, None),
    (frame(b'{"jsonrpc":"1.0","id":1007,"method":"shutdown"}'), INVALID_REQUEST, 1007),
    (frame(b'{"jsonrpc":"2.0","id":{"a":1},"method":"shutdown"}'), INVALID_REQUEST, None),
    (frame(b'{"jsonrpc":"2.0","id":1008,"method":42}'), INVALID_REQUEST, 1008),
    (frame(b'{"jsonrpc":"2.0","id":1009,"method":"textDocument/hover","params":"x"}'), INVALID_REQUEST, 1009),
    (b"Content-Length: twelve\r\n\r\n{}", PARSE_ERROR, None),
    (b"Content-Length: 99999999999\r\n\r\n{}", PARSE_ERROR, None),
    (b"Content-Type: application/vscode-jsonrpc\r\n\r\n{}", PARSE_ERROR, None),
    (frame(b'{"jsonrpc":"2.0","id":1010,"method":"$/odd"}'), METHOD_NOT_FOUND, 1010),
    (frame(b'{"jsonrpc":"2.0","id":1011,"method":"odd/request"}'), METHOD_NOT_FOUND, 1011),
]


def test_malformed_messages_are_answered_and_the_server_reads_on(precedent_bin, tiny_model, workspace, tmp_path):
    client = start(precedent_bin, tiny_model, tmp_path)
    try:
        client.initialize(workspace)
        for data, code, answer_id in MALFORMED:
            before = len(client.answers)
            client.send_raw(data)
            # A request after each: its answer comes after the malformed message's.
            assert client.request("precedent/status", None)["indexes"] == [], data
            errors = [a for a in client.answers[before:] if "error" in a]
            assert [(e["error"]["code"], e["id"]) for e in errors] == [(code, answer_id)], data
        client.notify("odd/notification", {"x": 1})  # ignored, unanswered
        assert client.request("precedent/status", None)["indexes"] == []
        assert not [a for a in client.answers if a.get("id") is None and "error" not in a]
        assert client.process.poll() is None
    finally:
        client.close()
    assert client.process.returncode == 0


def test_shutdown_with_null_params_then_exit_ends_with_0(precedent_bin, tiny_model, workspace, tmp_path):
    client = start(precedent_bin, tiny_model, tmp_path)
    client.initialize(workspace)
    client.send_raw(frame(body({"jsonrpc": "2.0", "id": 99, "method": "shutdown", "params": None})))
    assert client.response(99) == {"jsonrpc": "2.0", "id": 99, "result": None}
    client.send_raw(frame(body({"jsonrpc": "2.0", "method": "exit", "params": None})))
    assert wait_exit(client) == 0


@pytest.mark.parametrize("how, code", [
    ("exit without shutdown", 1),
    ("exit, then more messages on an open stdin", 0),
    ("stdin closed after shutdown", 0),
    ("stdin closed without shutdown", 1),
])
def test_the_session_ends_with_the_exit_code_the_spec_names(precedent_bin, tiny_model, workspace, tmp_path, how, code):
    client = start(precedent_bin, tiny_model, tmp_path)
    client.initialize(workspace)
    if "after shutdown" in how or "then more" in how:
        client.request("shutdown", None)
    if how.startswith("exit"):
        client.notify("exit", None)
        if "more messages" in how:
            time.sleep(0.2)
            try:
                client.notify("textDocument/didOpen", {"textDocument": {
                    "uri": (workspace / "a.md").as_uri(), "languageId": "markdown",
                    "version": 1, "text": "More text."}})
            except BrokenPipeError:
                pass  # it has gone already
    else:
        client.process.stdin.close()
    assert wait_exit(client) == code


def random_params(rng: random.Random, depth: int = 0):
    choices = [None, True, 0, -1, 2**40, 1.5, "", "x" * rng.randrange(40), "😀é",
               "file:///nowhere/a.md"]
    if depth < 3:
        choices += [[random_params(rng, depth + 1) for _ in range(rng.randrange(3))],
                    {k: random_params(rng, depth + 1) for k in rng.sample(
                        ["textDocument", "position", "uri", "line", "character", "text",
                         "contentChanges", "range", "version", "settings", "command",
                         "arguments", "changes", "context", "id"], rng.randrange(4))}]
    return rng.choice(choices)


def well_formed(rng: random.Random, uri: str, request_id: int) -> tuple[bytes, int | None]:
    """A message a client may send, with random or half-valid params, and its id if it is a
    request (`request_id`)."""
    line, character = rng.randrange(-1, 5), rng.randrange(-1, 80)
    position = {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}
    text = " ".join(rng.choice(["The", "zebra", "council", "approves", "purple", "😀", "é\n", "\n\n"])
                    for _ in range(rng.randrange(30)))
    kind = rng.randrange(10)
    if kind == 0:
        method, params = "textDocument/completion", position
    elif kind == 1:
        method, params = "textDocument/hover", position
    elif kind == 2:
        method, params = "textDocument/didChange", {
            "textDocument": {"uri": uri, "version": rng.randrange(100)},
            "contentChanges": [{"range": {"start": {"line": line, "character": character},
                                          "end": {"line": rng.randrange(5), "character": rng.randrange(80)}},
                                "text": text}]}
    elif kind == 3:
        method, params = "textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "markdown", "version": 1, "text": text}}
    elif kind == 4:
        method, params = "workspace/executeCommand", {
            "command": rng.choice(["precedent.reindex", "precedent.ignoreHere", "nothing"]),
            "arguments": [random_params(rng)]}
    elif kind == 5:
        method, params = "workspace/didChangeConfiguration", {"settings": {"precedent": {
            "k": random_params(rng), "lambda": random_params(rng), "hints": random_params(rng)}}}
    else:
        method = rng.choice(["textDocument/completion", "textDocument/hover", "textDocument/codeAction",
                             "textDocument/didChange", "textDocument/didClose", "precedent/status",
                             "workspace/didChangeWatchedFiles", "$/cancelRequest", "$/setTrace"])
        params = random_params(rng)
    message = {"jsonrpc": "2.0", "method": method}
    if params is not None or rng.random() < 0.5:
        message["params"] = params
    if rng.random() < 0.5 and not method.startswith("textDocument/did"):
        message["id"] = request_id
    return frame(body(message)), message.get("id")


def malformed(rng: random.Random, good: bytes) -> bytes:
    """A frame no client should send, made from a good one."""
    payload = good.split(b"\r\n\r\n", 1)[1]
    kind = rng.randrange(11)
    if kind == 0:
        return frame(payload[: rng.randrange(1, len(payload))])  # cut JSON
    if kind == 1:
        return frame(payload.replace(b'"2.0"', b'"2.1"'))
    if kind == 2:
        return frame(b"[" + payload + b"]")
    if kind == 3:
        return frame(rng.choice([b"1", b"null", b'"text"', b"[]", b"{}", b"true"]))
    if kind == 4:
        return frame(payload[:-1] + b',"id":' + rng.choice([b"1.5", b"[1]", b"{}", b"true"]) + b"}")
    if kind == 5:
        return frame(payload.replace(b'"method":', b'"method":7,"x":', 1))
    if kind == 6:
        cut = rng.randrange(1, len(payload))
        return frame(payload[:cut] + bytes([rng.choice([0xff, 0xc3, 0x80, 0xfe])]) + payload[cut:])
    if kind == 7:  # a Content-Length too short or too long by a few bytes
        return b"Content-Length: %d\r\n\r\n" % max(1, len(payload) + rng.choice([-7, -1, 1, 9])) + payload
    if kind == 8:
        value = rng.choice([b"", b"-3", b"abc", b"1e3", b"99999999999999999999", b"67108865"])
        return b"Content-Length: " + value + b"\r\n\r\n" + payload
    if kind == 9:
        return b"Content-Type: application/json\r\n\r\n" + payload
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60)))  # noise


def test_10000_seeded_messages_malformed_ones_included_leave_the_server_serving(
        precedent_bin, tiny_model, workspace, tmp_path):
    out = index_of(precedent_bin, tiny_model, tmp_path, "zebra", DISTINCTIVE, tmp_path / "team.index")
    client = start(precedent_bin, tiny_model, tmp_path)
    try:
        client.initialize(workspace, dict(SETTINGS, indexPaths=[str(out)]))
        ready(client)
        rng = random.Random(17)
        uri = (workspace / "fuzz.md").as_uri()
        asked, malformed_sent = [], 0
        for number in range(10_000):
            good, request_id = well_formed(rng, uri, 1_000_000 + number)
            if rng.random() < 0.3:
                client.send_raw(malformed(rng, good))
                malformed_sent += 1
            else:
                client.send_raw(good)
                asked.extend([request_id] if request_id is not None else [])
            assert client.process.poll() is None, client.log()
        # A frame that was too long ends inside what follows: these give it enough bytes.
        for _ in range(3):
            client.notify("$/padding", {"text": "." * 64})
        assert malformed_sent > 2500 and len(asked) > 2500

        # Every request among the good messages was answered.
        for request_id in asked:
            response = client.response(request_id, timeout=60)
            assert "result" in response or "error" in response

        # The random settings replaced the client's: back to the test's.
        client.notify("workspace/didChangeConfiguration", {"settings": {"precedent": dict(
            SETTINGS, indexPaths=[str(out)])}})
        text = "# Notes\n\nEvery Thursday. The zebra council approves purple "
        notes = client.open(workspace / "notes.md", text)
        completion = client.request("textDocument/completion", {
            "textDocument": {"uri": notes}, "position": {"line": 2, "character": len(text) - 9}})
        assert completion["items"][0]["label"] == "umbrellas"
        assert "zebra.md:3" in completion["items"][0]["documentation"]["value"]
        assert client.process.poll() is None
    finally:
        client.close()
    assert client.process.returncode == 0


def test_a_request_right_after_attaching_waits_for_the_model(precedent_bin, tiny_model, workspace, tmp_path):
    out = index_of(precedent_bin, tiny_model, tmp_path, "zebra", DISTINCTIVE, tmp_path / "team.index")
    client = start(precedent_bin, tiny_model, tmp_path)
    try:
        client.initialize(workspace, dict(SETTINGS, indexPaths=[str(out)]))
        text = "# Notes\n\nEvery Thursday. The zebra council approves purple "
        uri = client.open(workspace / "notes.md", text)
        # No wait for the model: asked at once, as an editor does when it attaches.
        completion = client.request("textDocument/completion", {
            "textDocument": {"uri": uri}, "position": {"line": 2, "character": len(text) - 9}})
        hover = client.request("textDocument/hover", {
            "textDocument": {"uri": uri}, "position": {"line": 2, "character": 20}})
        assert completion["items"][0]["label"] == "umbrellas"
        assert "zebra.md:3" in hover["contents"]["value"]
    finally:
        client.close()


def test_an_index_replaced_while_serving_is_swapped_in_or_kept_if_broken(
        precedent_bin, tiny_model, workspace, tmp_path):
    out = index_of(precedent_bin, tiny_model, tmp_path, "zebra", DISTINCTIVE, tmp_path / "team.index")
    client = start(precedent_bin, tiny_model, tmp_path)
    try:
        client.initialize(workspace, dict(SETTINGS, indexPaths=[str(out)]))
        ready(client)
        text = "# Notes\n\nEvery Thursday. The zebra council approves purple "
        uri = client.open(workspace / "notes.md", text)
        at_end = {"textDocument": {"uri": uri}, "position": {"line": 2, "character": len(text) - 9}}

        def evidence() -> tuple[str, str]:
            first = client.request("textDocument/completion", at_end)["items"][0]
            return first["label"], first["documentation"]["value"]

        assert evidence()[0] == "umbrellas"

        # Rebuilt by `precedent index` from another corpus (renamed over the old file).
        index_of(precedent_bin, tiny_model, tmp_path, "lantern",
                 DISTINCTIVE.replace("umbrellas", "lanterns"), out)
        label, documentation = evidence()
        assert (label, "lantern.md:3" in documentation) == ("lanterns", True)
        status = client.request("precedent/status", None)
        assert status["indexes"][0]["replacementError"] is None
        client.wait_for(lambda m: m["method"] == "precedent/statusChanged"
                        and m["params"]["indexes"] and m["params"]["lastUpdate"], what="status")

        # Replaced by a file that is not an index: the rebuilt one keeps serving, and says so.
        broken = tmp_path / "broken.partial"
        broken.write_bytes(b"not an index at all" * 100)
        os.replace(broken, out)
        client.request("workspace/executeCommand", {"command": "precedent.reindex", "arguments": []})
        label, documentation = evidence()
        assert (label, "lantern.md:3" in documentation) == ("lanterns", True)
        status = client.request("precedent/status", None)
        assert "not a precedent index" in status["indexes"][0]["replacementError"]
        shown = client.wait_for(lambda m: m["method"] == "window/showMessage"
                                and "still serving" in m["params"]["message"], what="message")
        assert str(out) in shown["params"]["message"]

        # Fixed again (--force: what is there is not an index): didChangeWatchedFiles, as an
        # editor's watcher sends it, swaps it in.
        index_of(precedent_bin, tiny_model, tmp_path, "zebra2", DISTINCTIVE, out, "--force")
        client.notify("workspace/didChangeWatchedFiles", {"changes": [{"uri": out.as_uri(), "type": 2}]})
        label, documentation = evidence()
        assert (label, "zebra2.md:3" in documentation) == ("umbrellas", True)
        assert client.request("precedent/status", None)["indexes"][0]["replacementError"] is None
    finally:
        client.close()
