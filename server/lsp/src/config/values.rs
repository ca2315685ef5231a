//! Reading one JSON value of a setting: each reader checks the type and range and says in
//! one phrase why a value is refused ("must be at least 1").

use std::path::{Path, PathBuf};

use globset::GlobBuilder;
use precedent_engine::milvus::MilvusLocation;
use serde_json::Value;

use super::table::Kind;
use super::{DocsUrl, FilePatterns, Settings, Severity};

impl Kind {
    /// Parses `value` and stores it in its field; `Err` says why the value is ignored.
    pub fn apply(
        &self,
        settings: &mut Settings,
        value: &Value,
        base: &PathBase,
    ) -> Result<(), String> {
        match self {
            Kind::Bool { field, .. } => *field(settings) = boolean(value)?,
            Kind::Integer {
                min, max, field, ..
            } => *field(settings) = integer(value, *min, *max)?,
            Kind::Number { range, field, .. } => *field(settings) = range.check(float(value)?)?,
            Kind::Ratio { field, .. } => *field(settings) = ratio(value)?,
            Kind::Severity { field, .. } => *field(settings) = severity(value)?,
            Kind::Strings { field, .. } => {
                *field(settings) = strings(value)?.into_iter().map(str::to_owned).collect()
            }
            Kind::Paths { field } => *field(settings) = base.paths(value)?,
            Kind::Patterns { field } => *field(settings) = FilePatterns::new(base.patterns(value)?),
            Kind::OptionalPath { field, .. } => *field(settings) = base.optional_path(value)?,
            Kind::IndexInteger {
                min, max, field, ..
            } => *field(settings) = nullable(value, |v| integer(v, *min, *max))?,
            Kind::IndexNumber { range, field, .. } => {
                *field(settings) = nullable(value, |v| range.check(float(v)?))?
            }
            Kind::IndexBool { field, .. } => *field(settings) = nullable(value, boolean)?,
            Kind::DocsUrl { field } => *field(settings) = docs_url(value)?,
        }
        Ok(())
    }
}

/// What relative paths and `~` resolve against for one layer.
pub struct PathBase<'a> {
    pub base_dir: Option<&'a Path>,
    pub home: Option<&'a Path>,
}

impl PathBase<'_> {
    fn path(&self, s: &str) -> Result<PathBuf, String> {
        if s.is_empty() {
            return Err("empty path".into());
        }
        // An index in Milvus is a location, not a path: kept as written.
        if let Some(location) = MilvusLocation::parse(s) {
            return location.map(|_| PathBuf::from(s));
        }
        let path = match tilde(s) {
            Some(rest) => self.home()?.join(rest),
            None => PathBuf::from(s),
        };
        let path = if path.is_absolute() {
            path
        } else if let Some(base) = self.base_dir {
            base.join(path)
        } else {
            return Err(format!(
                "relative path {s:?} has no workspace folder to resolve against; \
                 use an absolute path"
            ));
        };
        // Lexical tidying only (drops `.` segments): `..` may cross a symlink.
        Ok(path.components().collect())
    }

    pub fn optional_path(&self, value: &Value) -> Result<Option<PathBuf>, String> {
        match value {
            Value::Null => Ok(None),
            Value::String(s) if s.is_empty() => Ok(None),
            Value::String(s) => self.path(s).map(Some),
            other => Err(format!(
                "expected a path (string) or null, got {}",
                kind(other)
            )),
        }
    }

    pub fn paths(&self, value: &Value) -> Result<Vec<PathBuf>, String> {
        strings(value)?.into_iter().map(|s| self.path(s)).collect()
    }

    pub fn patterns(&self, value: &Value) -> Result<Vec<String>, String> {
        strings(value)?
            .into_iter()
            .map(|s| {
                let pattern = self.pattern(s)?;
                glob(&pattern).map_err(|e| format!("invalid glob {s:?}: {}", e.kind()))?;
                Ok(pattern)
            })
            .collect()
    }

    fn pattern(&self, s: &str) -> Result<String, String> {
        if let Some(rest) = tilde(s) {
            return Ok(format!("{}/{rest}", escaped_dir(self.home()?)?));
        }
        if !s.contains('/') || s.starts_with('/') || s.starts_with("**") {
            return Ok(s.to_owned());
        }
        let mut relative = s;
        while let Some(rest) = relative.strip_prefix("./") {
            relative = rest;
        }
        Ok(match self.base_dir {
            Some(base) => format!("{}/{relative}", escaped_dir(base)?),
            None => format!("**/{relative}"),
        })
    }

    fn home(&self) -> Result<&Path, String> {
        self.home
            .ok_or_else(|| "cannot expand `~`: no home directory ($HOME is not set)".into())
    }
}

/// `~` and `~/x` → Some("") and Some("x").
fn tilde(s: &str) -> Option<&str> {
    if s == "~" {
        Some("")
    } else {
        s.strip_prefix("~/")
    }
}

/// A directory as a glob prefix: metacharacters in its name match literally.
fn escaped_dir(dir: &Path) -> Result<String, String> {
    let dir = dir
        .to_str()
        .ok_or_else(|| format!("{} is not valid UTF-8", dir.display()))?;
    Ok(globset::escape(dir.trim_end_matches('/')))
}

pub fn glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).build()
}

pub fn nullable<T>(
    value: &Value,
    parse: impl FnOnce(&Value) -> Result<T, String>,
) -> Result<Option<T>, String> {
    match value {
        Value::Null => Ok(None),
        value => parse(value).map(Some),
    }
}

pub fn boolean(value: &Value) -> Result<bool, String> {
    value
        .as_bool()
        .ok_or_else(|| format!("expected true or false, got {}", kind(value)))
}

/// Integers written as `64.0` are accepted: TOML and JavaScript do not always keep the kind.
pub fn integer(value: &Value, min: usize, max: usize) -> Result<usize, String> {
    let Value::Number(n) = value else {
        return Err(format!("expected an integer, got {}", kind(value)));
    };
    let too_small = || format!("must be at least {min}");
    let too_large = || format!("must be at most {max}");
    let n = if let Some(u) = n.as_u64() {
        usize::try_from(u).map_err(|_| too_large())?
    } else if n.is_i64() {
        return Err(too_small()); // as_u64 failed: negative
    } else {
        let f = n.as_f64().unwrap_or(f64::NAN);
        if !f.is_finite() || f.fract() != 0.0 {
            return Err("must be an integer".into());
        }
        if f < 0.0 {
            return Err(too_small());
        }
        if f > max as f64 {
            return Err(too_large());
        }
        f as usize // saturating, and in range
    };
    if n < min {
        Err(too_small())
    } else if n > max {
        Err(too_large())
    } else {
        Ok(n)
    }
}

/// A finite number of at least 1, in full precision.
pub fn ratio(value: &Value) -> Result<f64, String> {
    let f = match value {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) if matches!(s.as_str(), "NaN" | "inf" | "-inf") => f64::NAN,
        other => return Err(format!("expected a number, got {}", kind(other))),
    };
    if !f.is_finite() {
        Err("must be a finite number".into())
    } else if f < 1.0 {
        Err("must be at least 1".into())
    } else {
        Ok(f)
    }
}

/// A finite number, checked as f32 (1e300 would become infinity).
pub fn float(value: &Value) -> Result<f32, String> {
    let f = match value {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN) as f32,
        // How `read_workspace_file` carries TOML's nan and inf, which JSON cannot hold.
        Value::String(s) if matches!(s.as_str(), "NaN" | "inf" | "-inf") => f32::NAN,
        other => return Err(format!("expected a number, got {}", kind(other))),
    };
    if f.is_finite() {
        Ok(f)
    } else {
        Err("must be a finite number".into())
    }
}

/// `null` and `""` (VS Code's cleared text setting) are no link.
pub fn docs_url(value: &Value) -> Result<Option<DocsUrl>, String> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.is_empty() => Ok(None),
        Value::String(s) => DocsUrl::new(s).map(Some),
        other => Err(format!(
            "expected a URL (string) or null, got {}",
            kind(other)
        )),
    }
}

pub fn severity(value: &Value) -> Result<Severity, String> {
    let expected = format!(
        "expected {}",
        or_list(
            Severity::CHOICES
                .iter()
                .map(|(_, name, _)| format!("{name:?}"))
        )
    );
    let Value::String(s) = value else {
        return Err(format!("{expected}, got {}", kind(value)));
    };
    let s = s.to_lowercase();
    // "info" is a common spelling of "information".
    let s = if s == "info" { "information" } else { &s };
    Severity::CHOICES
        .iter()
        .find(|(_, name, _)| *name == s)
        .map(|(severity, _, _)| *severity)
        .ok_or(expected)
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// A string or an array of non-empty strings (a single string is a one-element list).
pub fn strings(value: &Value) -> Result<Vec<&str>, String> {
    let items: Vec<&Value> = match value {
        Value::String(_) => vec![value],
        Value::Array(items) => items.iter().collect(),
        other => {
            return Err(format!(
                "expected a string or an array of strings, got {}",
                kind(other)
            ))
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) if s.is_empty() => Err("empty string in the list".to_owned()),
            Value::String(s) => Ok(s.as_str()),
            other => Err(format!(
                "expected strings, item {} is {}",
                i + 1,
                kind(other)
            )),
        })
        .collect()
}

pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value as JSON, shortened so one warning stays one readable line.
pub fn show(value: &Value) -> String {
    const MAX: usize = 60;
    let json = value.to_string();
    match json.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &json[..end]),
        None => json,
    }
}

pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}
