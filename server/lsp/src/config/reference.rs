//! Drift tests: PROTOCOL.md's settings table and the VS Code extension's `package.json`
//! contributions say what [`SETTINGS`] declares. On a mismatch the test prints the expected
//! text; `UPDATE_EXPECT=1 cargo test -p precedent-lsp reference` rewrites PROTOCOL.md's table.

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};

use super::table::{Kind, Range, Setting, SETTINGS};
use super::Severity;

fn protocol_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("PROTOCOL.md")
}

fn package_json_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../editors/vscode/package.json")
}

/// Settings of the extension itself (how to start the server), never sent to the server.
const EXTENSION_ONLY: &[&str] = &["serverPath", "serverArgs"];

/// The Default of a `Kind::DocsUrl`.
const NO_LINK: &str = "no link";

const TABLE_HEADER: &str = "| Setting | Type | Default | Meaning |\n|---|---|---|---|\n";

/// An f32 as JSON, with the decimals it was written with (0.15, not 0.15000000596).
fn number(x: f32) -> Value {
    let shortest: f64 = x.to_string().parse().unwrap_or(f64::from(x));
    if shortest.fract() == 0.0 && shortest.abs() < 1e15 {
        json!(shortest as i64)
    } else {
        json!(shortest)
    }
}

fn range_text(min: usize, max: usize) -> String {
    if max == usize::MAX {
        format!("integer ≥ {min}")
    } else {
        format!("integer {min}..{max}")
    }
}

fn number_range_text(range: Range) -> String {
    match range {
        Range::Probability => "number 0..1".into(),
        Range::AtLeast(min) => format!("number ≥ {min}"),
        Range::Positive => "number > 0".into(),
    }
}

fn severity_names() -> impl Iterator<Item = &'static str> {
    Severity::CHOICES.iter().map(|(_, name, _)| *name)
}

/// The Type and Default columns of PROTOCOL.md.
fn type_and_default(kind: &Kind) -> (String, String) {
    let from_index = |fallback: String| format!("from the index (else {fallback})");
    match kind {
        Kind::Bool { default, .. } => ("boolean".into(), default.to_string()),
        Kind::Integer {
            min, max, default, ..
        } => (range_text(*min, *max), default().to_string()),
        Kind::Number { range, default, .. } => (number_range_text(*range), default().to_string()),
        Kind::Ratio { default, .. } => ("number ≥ 1".into(), default().to_string()),
        Kind::Severity { default, .. } => {
            let names: Vec<String> = severity_names().map(|n| format!("\"{n}\"")).collect();
            let default = Severity::CHOICES.iter().find(|(s, _, _)| s == default);
            (
                format!("`{}`", names.join(" \\| ")),
                format!("`\"{}\"`", default.map_or("", |(_, name, _)| name)),
            )
        }
        Kind::Strings { default, .. } => ("string[]".into(), format!("`{}`", json!(default))),
        Kind::Paths { .. } | Kind::Patterns { .. } => ("string[]".into(), "`[]`".into()),
        Kind::OptionalPath { unset, .. } => ("string".into(), unset.to_string()),
        Kind::IndexInteger {
            min,
            max,
            engine_default,
            ..
        } => (
            range_text(*min, *max),
            from_index(engine_default().to_string()),
        ),
        Kind::IndexNumber {
            range,
            engine_default,
            ..
        } => (
            number_range_text(*range),
            from_index(number(engine_default()).to_string()),
        ),
        Kind::IndexBool { engine_default, .. } => {
            ("boolean".into(), from_index(engine_default().to_string()))
        }
        Kind::DocsUrl { .. } => ("string".into(), NO_LINK.into()),
    }
}

fn protocol_table() -> String {
    let mut table = TABLE_HEADER.to_owned();
    for setting in SETTINGS {
        let (kind, default) = type_and_default(&setting.kind);
        table.push_str(&format!(
            "| `{}` | {kind} | {default} | {} |\n",
            setting.key, setting.doc
        ));
    }
    table
}

/// The documentation as VS Code shows it: settings named in backquotes become links.
fn vscode_doc(setting: &Setting) -> String {
    let mut doc = setting.doc.to_owned();
    for other in SETTINGS {
        doc = doc.replace(
            &format!("`{}`", other.key),
            &format!("`#precedent.{}#`", other.key),
        );
    }
    let unset = match &setting.kind {
        Kind::OptionalPath { unset, .. } => Some(unset.to_string()),
        Kind::IndexInteger { engine_default, .. } => Some(engine_default().to_string()),
        Kind::IndexNumber { engine_default, .. } => Some(number(engine_default()).to_string()),
        Kind::IndexBool { engine_default, .. } => Some(format!("`{}`", engine_default())),
        Kind::DocsUrl { .. } => Some(NO_LINK.to_owned()),
        _ => None,
    };
    match (&setting.kind, unset) {
        (Kind::OptionalPath { .. }, Some(unset)) => format!("{doc} `null`: {unset}."),
        (Kind::DocsUrl { .. }, Some(unset)) => format!("{doc} `null` or empty: {unset}."),
        (_, Some(fallback)) => {
            format!("{doc} `null`: the value saved in the index, else {fallback}.")
        }
        _ => doc,
    }
}

/// One `contributes.configuration.properties` entry, its fields in the order package.json
/// writes them.
fn vscode_property(setting: &Setting) -> Vec<(&'static str, Value)> {
    let nullable = |kind: &str| json!([kind, "null"]);
    let strings = || {
        vec![
            ("type", json!("array")),
            ("items", json!({"type": "string"})),
        ]
    };
    let bounds = |min: usize, max: usize| {
        let mut fields = vec![("minimum", json!(min))];
        if max != usize::MAX {
            fields.push(("maximum", json!(max)));
        }
        fields
    };
    let number_bounds = |range: Range| match range {
        Range::Probability => vec![("minimum", json!(0)), ("maximum", json!(1))],
        Range::AtLeast(min) => vec![("minimum", number(min))],
        Range::Positive => vec![("exclusiveMinimum", json!(0))],
    };
    let mut fields = match &setting.kind {
        Kind::Bool { default, .. } => vec![("type", json!("boolean")), ("default", json!(default))],
        Kind::Integer {
            min, max, default, ..
        } => {
            let mut fields = vec![("type", json!("integer"))];
            fields.extend(bounds(*min, *max));
            fields.push(("default", json!(default())));
            fields
        }
        Kind::Number { range, default, .. } => {
            let mut fields = vec![("type", json!("number"))];
            fields.extend(number_bounds(*range));
            fields.push(("default", number(default())));
            fields
        }
        Kind::Ratio { default, .. } => vec![
            ("type", json!("number")),
            ("minimum", json!(1)),
            ("default", json!(default())),
        ],
        Kind::Severity { default, .. } => {
            let names: Vec<&str> = severity_names().collect();
            let descriptions: Vec<&str> = Severity::CHOICES.iter().map(|(_, _, d)| *d).collect();
            let default = Severity::CHOICES.iter().find(|(s, _, _)| s == default);
            vec![
                ("type", json!("string")),
                ("enum", json!(names)),
                ("enumDescriptions", json!(descriptions)),
                ("default", json!(default.map(|(_, name, _)| name))),
            ]
        }
        Kind::Strings { default, .. } => {
            let mut fields = strings();
            fields.push(("default", json!(default)));
            fields
        }
        Kind::Paths { .. } | Kind::Patterns { .. } => {
            let mut fields = strings();
            fields.push(("default", json!([])));
            fields
        }
        Kind::OptionalPath { .. } => vec![("type", nullable("string")), ("default", Value::Null)],
        Kind::IndexInteger { min, max, .. } => {
            let mut fields = vec![("type", nullable("integer"))];
            fields.extend(bounds(*min, *max));
            fields.push(("default", Value::Null));
            fields
        }
        Kind::IndexNumber { range, .. } => {
            let mut fields = vec![("type", nullable("number"))];
            fields.extend(number_bounds(*range));
            fields.push(("default", Value::Null));
            fields
        }
        Kind::IndexBool { .. } => vec![("type", nullable("boolean")), ("default", Value::Null)],
        Kind::DocsUrl { .. } => vec![("type", nullable("string")), ("default", Value::Null)],
    };
    fields.push(("markdownDescription", json!(vscode_doc(setting))));
    fields
}

/// JSON as `JSON.stringify(value, null, 2)` writes it, indented by `indent` spaces.
fn pretty(value: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent + 2);
    let close = " ".repeat(indent);
    match value {
        Value::Array(items) if !items.is_empty() => {
            let items: Vec<String> = items
                .iter()
                .map(|item| format!("{pad}{}", pretty(item, indent + 2)))
                .collect();
            format!("[\n{}\n{close}]", items.join(",\n"))
        }
        Value::Object(map) if !map.is_empty() => {
            let fields: Vec<(&str, Value)> =
                map.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            pretty_object(&fields, indent)
        }
        other => other.to_string(),
    }
}

fn pretty_object(fields: &[(&str, Value)], indent: usize) -> String {
    let pad = " ".repeat(indent + 2);
    let close = " ".repeat(indent);
    let fields: Vec<String> = fields
        .iter()
        .map(|(key, value)| format!("{pad}{}: {}", json!(key), pretty(value, indent + 2)))
        .collect();
    format!("{{\n{}\n{close}}}", fields.join(",\n"))
}

/// The server's settings as they belong in package.json's `properties` (8 spaces deep).
fn vscode_properties_text() -> String {
    let entries: Vec<String> = SETTINGS
        .iter()
        .map(|setting| {
            format!(
                "        \"precedent.{}\": {}",
                setting.key,
                pretty_object(&vscode_property(setting), 8)
            )
        })
        .collect();
    entries.join(",\n")
}

#[test]
fn protocol_md_lists_every_setting_as_declared() {
    let path = protocol_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let settings = text
        .find("## Settings")
        .expect("PROTOCOL.md has a Settings section");
    let start = settings
        + text[settings..]
            .find(TABLE_HEADER)
            .expect("the settings table");
    // The rows: the lines after the header that start with `|`.
    let rows: usize = text[start + TABLE_HEADER.len()..]
        .split_inclusive('\n')
        .take_while(|line| line.starts_with('|'))
        .map(str::len)
        .sum();
    let rows_end = start + TABLE_HEADER.len() + rows;
    let written = &text[start..rows_end];
    let expected = protocol_table();
    if written != expected {
        if std::env::var_os("UPDATE_EXPECT").is_some() {
            let updated = format!("{}{expected}{}", &text[..start], &text[rows_end..]);
            std::fs::write(&path, updated).unwrap();
            return;
        }
        panic!(
            "{} disagrees with config::SETTINGS; the table should read (or run with \
             UPDATE_EXPECT=1):\n\n{expected}",
            path.display()
        );
    }
}

#[test]
fn package_json_contributes_every_setting_as_declared() {
    let path = package_json_path();
    let text = std::fs::read_to_string(&path).unwrap();
    let manifest: Value = serde_json::from_str(&text).unwrap();
    let properties = &manifest["contributes"]["configuration"]["properties"];
    let properties: &Map<String, Value> = properties.as_object().expect("properties");
    let mut agree = true;
    for setting in SETTINGS {
        let expected: Map<String, Value> = vscode_property(setting)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let key = format!("precedent.{}", setting.key);
        agree &= properties.get(&key) == Some(&Value::Object(expected));
    }
    let undeclared: Vec<&String> = properties
        .keys()
        .filter(|key| {
            let name = key.strip_prefix("precedent.").unwrap_or(key);
            !EXTENSION_ONLY.contains(&name) && !SETTINGS.iter().any(|s| s.key == name)
        })
        .collect();
    assert!(
        undeclared.is_empty(),
        "{} contributes settings the server does not declare: {undeclared:?}",
        path.display()
    );
    assert!(
        agree,
        "{} disagrees with config::SETTINGS; after the extension's own settings ({}), \
         the properties should read:\n\n{}",
        path.display(),
        EXTENSION_ONLY.join(", "),
        vscode_properties_text()
    );
}
