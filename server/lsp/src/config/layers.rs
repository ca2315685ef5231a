//! The two layers besides the defaults: `precedent.toml` at a workspace root, and the
//! client's settings object.

use std::io::ErrorKind;
use std::path::Path;

use serde_json::{Map, Value};

/// The team settings file at a workspace root.
pub const WORKSPACE_FILE: &str = "precedent.toml";

/// Reads `precedent.toml` in `root` if it exists: Ok(None) if absent, Err(message) if
/// unreadable or not valid TOML (the message names the file and the line). The TOML is
/// converted to a serde_json::Value.
pub fn read_workspace_file(root: &Path) -> Result<Option<Value>, String> {
    let path = root.join(WORKSPACE_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(None)
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    match text.parse::<toml::Table>() {
        Ok(table) => Ok(Some(toml_to_json(toml::Value::Table(table)))),
        Err(e) => {
            // One line, `file:line:column:` so editors and terminals can jump to it.
            let message = e.message().trim().replace('\n', "; ");
            Err(match e.span() {
                Some(span) => {
                    let (line, column) = line_column(text, span.start);
                    format!(
                        "{}:{line}:{column}: invalid TOML: {message}",
                        path.display()
                    )
                }
                None => format!("{}: invalid TOML: {message}", path.display()),
            })
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

pub(super) fn toml_to_json(value: toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        // JSON has no nan or inf: they become the strings "NaN", "inf", "-inf", which the
        // number settings recognise to say "must be a finite number".
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map_or_else(|| Value::String(f.to_string()), Value::Number),
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.into_iter().map(toml_to_json).collect()),
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(k, v)| (k, toml_to_json(v)))
                .collect(),
        ),
    }
}

/// The client's settings object may come wrapped: `{"precedent": {...}}` (VS Code
/// didChangeConfiguration sends `settings: {precedent: {...}}`) or bare; return the inner
/// object. Keys flattened with the section name (`"precedent.hints.severity"`) are
/// unwrapped too; other sections' keys beside them are dropped.
pub fn client_section(settings: &Value) -> Value {
    let Value::Object(map) = settings else {
        return settings.clone();
    };
    let flattened: Map<String, Value> = map
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("precedent.")?.to_owned(), v.clone())))
        .collect();
    match map.get("precedent") {
        Some(Value::Object(inner)) => {
            let mut inner = inner.clone();
            for (k, v) in flattened {
                inner.entry(k).or_insert(v);
            }
            Value::Object(inner)
        }
        Some(inner) if flattened.is_empty() => inner.clone(),
        _ if !flattened.is_empty() => Value::Object(flattened),
        _ => settings.clone(),
    }
}
