//! The wire in front of tower-lsp-server. Its read loop answers a frame it cannot decode
//! with an error, but the framed reader under it (tokio-util 0.7) ends its stream after any
//! decode error, so the session would end there (tower-lsp 0.20 stopped the same way). So
//! every frame is read, checked and answered here first: tower-lsp-server only ever sees
//! messages it can decode.
//!
//! - A body that is not JSON gets −32700 (id null); JSON that is not a JSON-RPC message
//!   (a non-object, a batch, a bad `jsonrpc`, `id`, `method` or `params`) gets −32600.
//! - A broken header, or a message over [`MAX_MESSAGE_BYTES`], is logged and answered
//!   −32700, and reading resumes at the next `Content-Length` header.
//! - `"params": null` is read as no params (Eglot and LSP4IJ send `shutdown` so).
//! - A request for a `$/` method gets −32601 (tower-lsp-server drops those unanswered; the server
//!   implements none).
//! - `exit` ends the session at once, even if more input follows; so does the end of input.
//!
//! Our answers and tower-lsp-server's output are written whole, one frame at a time, to stdout.

use std::future::Future;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Request, Response};

/// The largest message read: a whole document in a `didOpen` must fit.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
/// A header block longer than this is not a header.
const MAX_HEADER_BYTES: usize = 8 << 10;
const HEADER_NAME: &[u8] = b"Content-Length:";
/// How long the server may take to write the answers still due when the session ends.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// How a session ended.
#[derive(Debug, PartialEq)]
pub struct Ending {
    /// The client asked for `shutdown` before it left (the exit code is 0 only then).
    pub shut_down: bool,
    /// Why it ended, for the log: `exit`, or the end of input.
    pub reason: &'static str,
}

/// Serves `serve` (tower-lsp-server's `Server::serve`, reading and writing the two given ends)
/// behind the checks of this module, on `input` and `output`.
pub async fn run<S, F>(
    input: impl AsyncRead + Unpin,
    output: impl AsyncWrite + Unpin + Send + 'static,
    serve: S,
) -> Ending
where
    S: FnOnce(tokio::io::DuplexStream, tokio::io::DuplexStream) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let (mut to_server, server_input) = tokio::io::duplex(1 << 16);
    let (server_output, from_server) = tokio::io::duplex(1 << 16);
    let server = tokio::spawn(serve(server_input, server_output));

    let (frames, outbox) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(write_frames(output, outbox));
    let pump = tokio::spawn(forward_server_output(from_server, frames.clone()));

    let mut reader = FrameReader::new(input);
    let mut shut_down = false;
    let reason = loop {
        let Some(frame) = reader.next().await else {
            break "end of input";
        };
        let body = match frame {
            Frame::Body(body) => body,
            Frame::Broken(problem) => {
                tracing::warn!("unreadable message: {problem}");
                let _ = frames.send(frame_of(&error_response(Value::Null, -32700, &problem)));
                continue;
            }
        };
        match check(&body) {
            Checked::Forward(message) => {
                if message.method.as_deref() == Some("exit") && !message.is_request {
                    break "exit";
                }
                shut_down |= message.method.as_deref() == Some("shutdown") && message.is_request;
                if to_server
                    .write_all(&frame_of(&message.bytes))
                    .await
                    .is_err()
                {
                    break "the server stopped";
                }
            }
            Checked::NotJson(answer) => {
                // A body whose Content-Length was too large holds the start of the next
                // message(s): read on from there.
                if let Some(at) = header_start(&body) {
                    reader.unread(&body[at..]);
                }
                let _ = frames.send(frame_of(&answer));
            }
            Checked::Refused(answer) => {
                let _ = frames.send(frame_of(&answer));
            }
        }
    };
    tracing::info!("session ended: {reason}");
    // The server's input ends; it finishes what it is answering (for a short while).
    drop(to_server);
    let _ = tokio::time::timeout(DRAIN_TIME, server).await;
    pump.abort();
    drop(frames);
    let _ = tokio::time::timeout(DRAIN_TIME, writer).await;
    Ending { shut_down, reason }
}

/// Writes whole frames, in order, flushing each.
async fn write_frames(
    mut output: impl AsyncWrite + Unpin,
    mut outbox: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    while let Some(frame) = outbox.recv().await {
        if let Err(error) = async {
            output.write_all(&frame).await?;
            output.flush().await
        }
        .await
        {
            tracing::warn!(%error, "cannot write to the client");
            return;
        }
    }
}

/// Passes tower-lsp-server's output on, frame by frame, so that our answers go between frames.
async fn forward_server_output(
    from_server: impl AsyncRead + Unpin,
    frames: mpsc::UnboundedSender<Vec<u8>>,
) {
    let mut reader = FrameReader::new(from_server);
    while let Some(frame) = reader.next().await {
        match frame {
            Frame::Body(body) => {
                if frames.send(frame_of(&body)).is_err() {
                    return;
                }
            }
            Frame::Broken(problem) => tracing::error!("the server wrote a broken frame: {problem}"),
        }
    }
}

fn frame_of(body: &[u8]) -> Vec<u8> {
    let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    frame.extend_from_slice(body);
    frame
}

fn error_response(id: Value, code: i64, message: &str) -> Vec<u8> {
    let response = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    serde_json::to_vec(&response).expect("a JSON value serializes")
}

/// A message that may go to tower-lsp-server, or the answer that refuses it.
#[derive(Debug, PartialEq)]
pub enum Checked {
    Forward(Message),
    /// Not JSON: the −32700 answer.
    NotJson(Vec<u8>),
    /// JSON, but not a message tower-lsp-server may be given: the answer.
    Refused(Vec<u8>),
}

#[derive(Debug, PartialEq)]
pub struct Message {
    /// The message as tower-lsp-server is given it.
    pub bytes: Vec<u8>,
    /// `None` for a response.
    pub method: Option<String>,
    /// It has an id and a method (so it is owed an answer).
    pub is_request: bool,
}

/// Checks one body against JSON-RPC 2.0 as LSP uses it.
pub fn check(body: &[u8]) -> Checked {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => {
            let message = format!("Parse error: {error}");
            return Checked::NotJson(error_response(Value::Null, -32700, &message));
        }
    };
    let mut object = match value {
        Value::Object(object) => object,
        Value::Array(_) => return invalid(Value::Null, "batch messages are not part of LSP"),
        _ => return invalid(Value::Null, "a message must be a JSON object"),
    };
    let id = object.get("id").cloned();
    let answer_id = id.clone().filter(is_valid_id).unwrap_or(Value::Null);
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return invalid(answer_id, "\"jsonrpc\" must be \"2.0\"");
    }
    if id.as_ref().is_some_and(|id| !is_valid_id(id)) {
        return invalid(Value::Null, "\"id\" must be an integer, a string or null");
    }
    let method = match object.get("method") {
        None => None,
        Some(Value::String(method)) if !method.is_empty() => Some(method.clone()),
        Some(_) => return invalid(answer_id, "\"method\" must be a non-empty string"),
    };
    let is_request = method.is_some() && id.is_some();
    if method.is_some() {
        match object.get("params") {
            None | Some(Value::Object(_)) | Some(Value::Array(_)) => {}
            Some(Value::Null) => {
                object.remove("params");
            }
            Some(_) => return invalid(answer_id, "\"params\" must be an object or an array"),
        }
    } else if id.is_none() || object.contains_key("result") == object.contains_key("error") {
        return invalid(
            answer_id,
            "a message needs a \"method\", or an \"id\" and a \"result\" or an \"error\"",
        );
    }
    if is_request && method.as_deref().is_some_and(|m| m.starts_with("$/")) {
        let message = format!("Method not found: {}", method.unwrap_or_default());
        return Checked::Refused(error_response(answer_id, -32601, &message));
    }
    let bytes = serde_json::to_vec(&Value::Object(object)).expect("a JSON value serializes");
    // The last word is tower-lsp-server's: what it would fail to decode is refused here.
    let decodes = match method {
        Some(_) => serde_json::from_slice::<Request>(&bytes).is_ok(),
        None => serde_json::from_slice::<Response>(&bytes).is_ok(),
    };
    if !decodes {
        return invalid(
            answer_id,
            "not a JSON-RPC request, notification or response",
        );
    }
    Checked::Forward(Message {
        bytes,
        method,
        is_request,
    })
}

fn invalid(id: Value, why: &str) -> Checked {
    Checked::Refused(error_response(
        id,
        -32600,
        &format!("Invalid request: {why}"),
    ))
}

fn is_valid_id(id: &Value) -> bool {
    match id {
        Value::Number(number) => number.is_i64(),
        Value::String(_) | Value::Null => true,
        _ => false,
    }
}

/// Where a header begins in `body` after its first byte, or the start of one at its end.
fn header_start(body: &[u8]) -> Option<usize> {
    (1..body.len()).find(|&at| {
        let rest = &body[at..];
        rest.starts_with(HEADER_NAME) || HEADER_NAME.starts_with(rest)
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What the reader found: a message body, or a framing problem it read past.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Body(Vec<u8>),
    Broken(String),
}

/// Reads `Content-Length` frames; after a broken header it resumes at the next one.
pub struct FrameReader<R> {
    input: R,
    buffer: Vec<u8>,
    at_end: bool,
    /// After a broken header: input is dropped until the next `Content-Length`.
    seeking: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(input: R) -> FrameReader<R> {
        FrameReader {
            input,
            buffer: Vec::new(),
            at_end: false,
            seeking: false,
        }
    }

    /// Puts `bytes` back in front of what is still to be read.
    pub fn unread(&mut self, bytes: &[u8]) {
        self.buffer.splice(0..0, bytes.iter().copied());
    }

    /// Reads more input; false at its end (or on a read error, logged).
    async fn fill(&mut self) -> bool {
        if self.at_end {
            return false;
        }
        let mut chunk = vec![0; 1 << 16];
        match self.input.read(&mut chunk).await {
            Ok(0) => self.at_end = true,
            Ok(read) => self.buffer.extend_from_slice(&chunk[..read]),
            Err(error) => {
                tracing::warn!(%error, "cannot read the client's messages");
                self.at_end = true;
            }
        }
        !self.at_end
    }

    /// The next frame, or `None` at the end of input.
    pub async fn next(&mut self) -> Option<Frame> {
        while self.seeking {
            match find(&self.buffer, HEADER_NAME) {
                Some(at) => {
                    self.buffer.drain(..at);
                    self.seeking = false;
                }
                None => {
                    self.keep_tail();
                    if !self.fill().await {
                        return None;
                    }
                }
            }
        }
        let header_end = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break end;
            }
            if self.buffer.len() > MAX_HEADER_BYTES {
                return Some(self.resync(format!("no end of header in {MAX_HEADER_BYTES} bytes")));
            }
            if !self.fill().await {
                if !self.buffer.iter().all(u8::is_ascii_whitespace) {
                    let left = std::mem::take(&mut self.buffer);
                    return Some(Frame::Broken(format!(
                        "input ended inside a header ({} bytes)",
                        left.len()
                    )));
                }
                return None;
            }
        };
        let length = match content_length(&self.buffer[..header_end]) {
            Ok(length) if length <= MAX_MESSAGE_BYTES => length,
            Ok(length) => {
                return Some(self.resync(format!(
                    "a message of {length} bytes is over the limit of {MAX_MESSAGE_BYTES}"
                )))
            }
            Err(problem) => return Some(self.resync(problem)),
        };
        let start = header_end + 4;
        while self.buffer.len() < start + length {
            if !self.fill().await {
                // What came is judged as it is: a header inside it is read on from.
                let body = self.buffer.split_off(start);
                self.buffer.clear();
                if let Some(at) = find(&body, HEADER_NAME) {
                    self.unread(&body[at..]);
                }
                return Some(Frame::Broken(format!(
                    "input ended {} bytes into a message of {length}",
                    body.len()
                )));
            }
        }
        let body = self.buffer[start..start + length].to_vec();
        self.buffer.drain(..start + length);
        Some(Frame::Body(body))
    }

    /// Drops input up to the next `Content-Length` header after the current position (read
    /// on for it if there is none yet), and reports `problem`.
    fn resync(&mut self, problem: String) -> Frame {
        match find(self.buffer.get(1..).unwrap_or_default(), HEADER_NAME) {
            Some(at) => {
                self.buffer.drain(..=at);
            }
            None => {
                self.keep_tail();
                self.seeking = true;
            }
        }
        Frame::Broken(problem)
    }

    /// Drops all but the bytes that could begin a header.
    fn keep_tail(&mut self) {
        let keep = (HEADER_NAME.len() - 1).min(self.buffer.len());
        self.buffer.drain(..self.buffer.len() - keep);
    }
}

/// The Content-Length of a header block (its lines, without the blank line).
fn content_length(header: &[u8]) -> Result<usize, String> {
    let header = std::str::from_utf8(header).map_err(|_| "the header is not UTF-8".to_string())?;
    let mut length = None;
    for line in header.split("\r\n") {
        let Some((name, value)) = line
            .split_once(':')
            .filter(|(name, _)| is_header_name(name))
        else {
            return Err(format!("not a header line: {:?}", clip(line)));
        };
        if name.eq_ignore_ascii_case("content-length") {
            let value = value.trim();
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| format!("Content-Length is not a length: {:?}", clip(value)))?,
            );
        }
    }
    length.ok_or_else(|| "a header without Content-Length".to_string())
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(checked: &Checked) -> Value {
        match checked {
            Checked::NotJson(answer) | Checked::Refused(answer) => {
                serde_json::from_slice(answer).unwrap()
            }
            Checked::Forward(message) => panic!("forwarded: {message:?}"),
        }
    }

    #[test]
    fn malformed_messages_get_the_error_json_rpc_names() {
        // (body, error code, id of the answer)
        let cases: &[(&[u8], i64, Value)] = &[
            (b"{\"jsonrpc\":\"2.0\",\"method\":", -32700, Value::Null),
            (b"", -32700, Value::Null),
            (
                b"{\"jsonrpc\":\"2.0\",\"method\":\"a\",\"params\":{\"t\":\"\xff\"}}",
                -32700,
                Value::Null,
            ),
            (
                b"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"shutdown\"}]",
                -32600,
                Value::Null,
            ),
            (b"[]", -32600, Value::Null),
            (b"\"shutdown\"", -32600, Value::Null),
            (b"null", -32600, Value::Null),
            (b"{\"id\":1,\"method\":\"shutdown\"}", -32600, json!(1)),
            (
                b"{\"jsonrpc\":2,\"id\":1,\"method\":\"shutdown\"}",
                -32600,
                json!(1),
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"shutdown\"}",
                -32600,
                Value::Null,
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"shutdown\"}",
                -32600,
                Value::Null,
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":7}",
                -32600,
                json!("a"),
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"\"}",
                -32600,
                json!(2),
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"hover\",\"params\":3}",
                -32600,
                json!(2),
            ),
            (b"{\"jsonrpc\":\"2.0\",\"id\":3}", -32600, json!(3)),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":1,\"error\":{}}",
                -32600,
                json!(3),
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":\"no\"}",
                -32600,
                json!(3),
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"$/odd\"}",
                -32601,
                json!(4),
            ),
        ];
        for (body, code, id) in cases {
            let answer = answer(&check(body));
            let shown = String::from_utf8_lossy(body);
            assert_eq!(answer["error"]["code"], json!(code), "{shown}");
            assert_eq!(answer["id"], *id, "{shown}");
            assert_eq!(answer["jsonrpc"], "2.0");
        }
    }

    #[test]
    fn good_messages_are_forwarded_with_null_params_dropped() {
        // (body, forwarded as, method, is a request)
        let cases: &[(&str, &str, Option<&str>, bool)] = &[
            (
                r#"{"jsonrpc":"2.0","id":1,"method":"shutdown","params":null}"#,
                r#"{"id":1,"jsonrpc":"2.0","method":"shutdown"}"#,
                Some("shutdown"),
                true,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"exit"}"#,
                r#"{"jsonrpc":"2.0","method":"exit"}"#,
                Some("exit"),
                false,
            ),
            (
                r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":3}}"#,
                r#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":3}}"#,
                Some("$/cancelRequest"),
                false,
            ),
            (
                r#"{"jsonrpc":"2.0","id":"x","result":null}"#,
                r#"{"id":"x","jsonrpc":"2.0","result":null}"#,
                None,
                false,
            ),
        ];
        for (body, forwarded, method, is_request) in cases {
            let expected = Checked::Forward(Message {
                bytes: forwarded.as_bytes().to_vec(),
                method: method.map(str::to_string),
                is_request: *is_request,
            });
            assert_eq!(check(body.as_bytes()), expected, "{body}");
        }
    }

    #[test]
    fn a_body_that_is_too_long_gives_back_the_header_it_swallowed() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"{}C", Some(2)),
            (b"{}Content-Le", Some(2)),
            (b"{}Content-Length: 2\r\n\r\n{", Some(2)),
            (b"{\"a\":1}", None),
            (b"C", None),
        ];
        for (body, expected) in cases {
            assert_eq!(
                header_start(body),
                *expected,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    fn frames_of(input: &[u8]) -> Vec<Frame> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut reader = FrameReader::new(input);
            let mut frames = Vec::new();
            while let Some(frame) = reader.next().await {
                frames.push(frame);
            }
            frames
        })
    }

    fn body(text: &str) -> Frame {
        Frame::Body(text.as_bytes().to_vec())
    }

    fn broken(problem: &str) -> Frame {
        Frame::Broken(problem.to_string())
    }

    #[test]
    fn broken_frames_are_reported_and_reading_resumes_at_the_next_header() {
        let over = MAX_MESSAGE_BYTES + 1;
        let cases: Vec<(String, Vec<Frame>)> = vec![
            (
                "Content-Length: 2\r\n\r\n{}content-length:3\r\nContent-Type: x\r\n\r\n[1]".into(),
                vec![body("{}"), body("[1]")],
            ),
            (
                "Content-Length: abc\r\n\r\n{}Content-Length: 2\r\n\r\n{}".into(),
                vec![
                    broken("Content-Length is not a length: \"abc\""),
                    body("{}"),
                ],
            ),
            (
                "Content-Length: -2\r\n\r\nContent-Length: 2\r\n\r\n{}".into(),
                vec![broken("Content-Length is not a length: \"-2\""), body("{}")],
            ),
            (
                "Content-Type: x\r\n\r\n{}Content-Length: 2\r\n\r\n{}".into(),
                vec![broken("a header without Content-Length"), body("{}")],
            ),
            (
                "garbage\r\n\r\nmore garbage\r\n\r\nContent-Length: 2\r\n\r\n{}".into(),
                vec![broken("not a header line: \"garbage\""), body("{}")],
            ),
            (
                format!("Content-Length: {over}\r\n\r\n{{}}Content-Length: 2\r\n\r\n{{}}"),
                vec![
                    broken(&format!(
                        "a message of {over} bytes is over the limit of {MAX_MESSAGE_BYTES}"
                    )),
                    body("{}"),
                ],
            ),
            // Too short: the rest of the body is not a header; reading resumes after it.
            (
                "Content-Length: 1\r\n\r\n{}Content-Length: 2\r\n\r\n[]".into(),
                vec![
                    body("{"),
                    broken("not a header line: \"}Content-Length: 2\""),
                    body("[]"),
                ],
            ),
            // Too long at the end of input: the header inside is read on from.
            (
                "Content-Length: 30\r\n\r\n{}Content-Length: 2\r\n\r\n[]".into(),
                vec![
                    broken("input ended 25 bytes into a message of 30"),
                    body("[]"),
                ],
            ),
            (
                "Content-Len".into(),
                vec![broken("input ended inside a header (11 bytes)")],
            ),
            ("\r\n".into(), vec![]),
        ];
        for (input, expected) in cases {
            assert_eq!(frames_of(input.as_bytes()), expected, "{input:?}");
        }
    }
}
