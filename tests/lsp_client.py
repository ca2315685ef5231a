"""A small LSP client for end-to-end tests: starts `precedent serve`, speaks JSON-RPC over
its stdio, answers the server's own requests, and records its notifications."""

import json
import queue
import subprocess
import threading
import time
from pathlib import Path


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class LspClient:
    def __init__(self, command: list, env: dict | None = None, cwd: Path | None = None,
                 configuration: dict | None = None):
        self.process = subprocess.Popen(
            [str(c) for c in command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env, cwd=cwd)
        self.next_id = 0
        self.responses: dict[int, dict] = {}
        self.answers: list[dict] = []  # every response, in order (ids may be null or repeat)
        self.notifications: list[dict] = []
        self.server_requests: list[dict] = []
        self.configuration = configuration or {}
        self.changed = threading.Condition()
        self.stderr_lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    # --- wire ---------------------------------------------------------------
    def _send(self, message: dict):
        self.send_raw(frame(json.dumps(message).encode("utf-8")))

    def send_raw(self, data: bytes):
        """Writes bytes as they are: for frames a client should not send."""
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def _read(self):
        stream = self.process.stdout
        while True:
            headers = {}
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.decode("ascii").strip()
                if not line:
                    break
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            message = json.loads(body)
            if "id" in message and "method" in message:
                self._answer(message)
            with self.changed:
                if "id" in message and "method" not in message:
                    self.responses[message["id"]] = message
                    self.answers.append(message)
                elif "method" in message and "id" not in message:
                    self.notifications.append(message)
                self.changed.notify_all()

    def _read_stderr(self):
        for line in self.process.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace"))

    def _answer(self, request: dict):
        self.server_requests.append(request)
        result = None
        if request["method"] == "workspace/configuration":
            result = [self.configuration for _ in request["params"]["items"]]
        self._send({"jsonrpc": "2.0", "id": request["id"], "result": result})

    # --- API ----------------------------------------------------------------
    def request(self, method: str, params, timeout: float = 60) -> dict:
        self.next_id += 1
        request_id = self.next_id
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:  # JSON-RPC: params is omitted, never null
            message["params"] = params
        self._send(message)
        response = self.response(request_id, method, timeout)
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response["result"]

    def response(self, request_id, what: str = "request", timeout: float = 60) -> dict:
        """The whole response (result or error) to the request with `request_id`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while request_id not in self.responses:
                left = deadline - time.monotonic()
                if left <= 0 or self.process.poll() is not None:
                    raise TimeoutError(f"{what}: no answer; server log:\n{self.log()}")
                self.changed.wait(left)
            return self.responses.pop(request_id)

    def notify(self, method: str, params):
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)

    def wait_for(self, predicate, timeout: float = 60, what: str = "notification") -> dict:
        """The first notification (old or new) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for message in self.notifications:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what}; server log:\n{self.log()}")
                self.changed.wait(left)

    def diagnostics(self, uri: str, version: int, timeout: float = 60) -> list:
        message = self.wait_for(
            lambda m: m["method"] == "textDocument/publishDiagnostics"
            and m["params"]["uri"] == uri and m["params"].get("version") == version,
            timeout, f"diagnostics for {uri} v{version}")
        return message["params"]["diagnostics"]

    def initialize(self, root: Path, options: dict | None = None,
                   text_document: dict | None = None) -> dict:
        """`text_document`: client capabilities added to textDocument's."""
        result = self.request("initialize", {
            "processId": None,
            "rootUri": root.as_uri(),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            "initializationOptions": options or {},
            "capabilities": {
                "window": {"workDoneProgress": True},
                "workspace": {"configuration": True,
                              "didChangeWatchedFiles": {"dynamicRegistration": True}},
                "textDocument": {"completion": {"completionItem": {"snippetSupport": False}},
                                 **(text_document or {})},
            },
        })
        self.notify("initialized", {})
        return result

    def open(self, path: Path, text: str, language: str = "markdown", version: int = 1) -> str:
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": language, "version": version, "text": text}})
        return uri

    def change(self, uri: str, version: int, start, end, text: str):
        self.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": {"line": start[0], "character": start[1]},
                                          "end": {"line": end[0], "character": end[1]}},
                                "text": text}]})

    def log(self) -> str:
        return "".join(self.stderr_lines[-60:])

    def close(self):
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
