//! An in-process LSP client for the server's tests: the real server (`precedent_lsp::serve`)
//! over a duplex stream, spoken to in framed JSON-RPC as an editor would, with the tiny test
//! model and an index of a small corpus.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use precedent_lsp::{serve, Ending, ServeOptions};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a test waits for an answer or a notification before it fails.
const TIMEOUT: Duration = Duration::from_secs(60);

pub struct TestClient {
    to_server: DuplexStream,
    from_server: mpsc::UnboundedReceiver<Value>,
    /// Notifications received while waiting for something else, oldest first.
    notifications: Vec<Value>,
    next_id: i64,
    server: JoinHandle<Ending>,
}

impl TestClient {
    /// Starts the server on the tiny model, initializes it with `root` as the workspace and
    /// `settings` as initializationOptions, and waits until the model has loaded.
    pub async fn start(root: &Path, settings: Value) -> TestClient {
        TestClient::start_with(root, settings, json!({})).await
    }

    /// As [`TestClient::start`], with the client capabilities `capabilities`. The client
    /// answers the server's requests with null, and `workspace/configuration` with null for
    /// each item (as Eglot does when it has no settings for the server).
    pub async fn start_with(root: &Path, settings: Value, capabilities: Value) -> TestClient {
        let (to_server, server_input) = tokio::io::duplex(1 << 20);
        let (server_output, client_input) = tokio::io::duplex(1 << 20);
        let options = ServeOptions {
            model_dir: Some(precedent_testing::test_model_dir()),
            threads: 1,
        };
        let server = tokio::spawn(serve(server_input, server_output, options));
        let (sender, from_server) = mpsc::unbounded_channel();
        tokio::spawn(read_frames(client_input, sender));
        let mut client = TestClient {
            to_server,
            from_server,
            notifications: Vec::new(),
            next_id: 0,
            server,
        };
        let root_uri = uri(root);
        client
            .request(
                "initialize",
                json!({
                    "processId": null,
                    "rootUri": root_uri,
                    "capabilities": capabilities,
                    "initializationOptions": settings,
                }),
            )
            .await;
        client.notify("initialized", json!({})).await;
        client
            .notification(|m| {
                m["method"] == "precedent/statusChanged" && !m["params"]["model"].is_null()
            })
            .await;
        client
    }

    pub async fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await;
    }

    /// Sends a request and returns its result (panics on an error answer).
    pub async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        let answer = self
            .receive(|m| m["id"] == id && m.get("method").is_none())
            .await;
        assert!(answer.get("error").is_none(), "{method} failed: {answer}");
        answer["result"].clone()
    }

    /// The first notification (kept or new) that `wanted` accepts.
    pub async fn notification(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        if let Some(index) = self.notifications.iter().position(&wanted) {
            return self.notifications.remove(index);
        }
        self.receive(wanted).await
    }

    /// The diagnostics published for `uri` at `version`.
    pub async fn diagnostics(&mut self, uri: &str, version: i64) -> Vec<Value> {
        let published = self
            .notification(|m| {
                m["method"] == "textDocument/publishDiagnostics"
                    && m["params"]["uri"] == uri
                    && m["params"]["version"] == version
            })
            .await;
        published["params"]["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Opens `path` with `text` as Markdown; returns its URI.
    pub async fn open(&mut self, path: &Path, text: &str) -> String {
        let uri = uri(path);
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "markdown", "version": 1, "text": text}}),
        )
        .await;
        uri
    }

    /// Replaces the whole text of `uri`.
    pub async fn replace(&mut self, uri: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
        )
        .await;
    }

    /// Shuts the server down and waits for it to end cleanly.
    pub async fn shut_down(mut self) {
        self.request("shutdown", Value::Null).await;
        self.notify("exit", Value::Null).await;
        let ending = tokio::time::timeout(TIMEOUT, self.server)
            .await
            .expect("the server ends after exit")
            .expect("the server task does not panic");
        assert!(ending.shut_down, "ended after a shutdown request");
    }

    async fn send(&mut self, message: Value) {
        let body = message.to_string();
        let frame = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.to_server.write_all(frame.as_bytes()).await.unwrap();
    }

    /// Reads messages until one that `wanted` accepts; answers the server's own requests
    /// (registrations, progress) with null and keeps the other notifications.
    async fn receive(&mut self, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            let message = tokio::time::timeout(TIMEOUT, self.from_server.recv())
                .await
                .expect("the server answers in time")
                .expect("the server is still running");
            if wanted(&message) {
                return message;
            }
            if message.get("id").is_some() && message.get("method").is_some() {
                let id = message["id"].clone();
                // No settings for any item (one null each), as Eglot answers; null to the rest.
                let result = match message["params"]["items"].as_array() {
                    Some(items) if message["method"] == "workspace/configuration" => {
                        json!(vec![Value::Null; items.len()])
                    }
                    _ => Value::Null,
                };
                self.send(json!({"jsonrpc": "2.0", "id": id, "result": result}))
                    .await;
            } else if message.get("method").is_some() {
                self.notifications.push(message);
            }
        }
    }
}

/// Reads Content-Length framed JSON messages until the stream ends.
async fn read_frames(stream: DuplexStream, messages: mpsc::UnboundedSender<Value>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("Content-Length:") {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let mut body = vec![0; length.expect("a Content-Length header")];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let message = serde_json::from_slice(&body).expect("the server sends JSON");
        if messages.send(message).is_err() {
            return;
        }
    }
}

pub fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A folder for the tests of this binary: the data directory (ignored words) lives there,
/// not in the user's.
pub fn test_home() -> &'static Path {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap().keep();
        // Set before any server starts (every test calls this first), read by the servers.
        std::env::set_var("PRECEDENT_HOME", &dir);
        dir
    })
}

/// Probabilities (0.87) masked as #.##, so that snapshots show the shape of what a writer
/// sees rather than the last digit of a float.
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let is_number = chars[i].is_ascii_digit()
            && chars.get(i + 1) == Some(&'.')
            && chars.get(i + 2).is_some_and(char::is_ascii_digit);
        if is_number {
            out.push_str("#.");
            i += 2;
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                out.push('#');
                i += 1;
            }
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}
