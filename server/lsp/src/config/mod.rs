//! Settings resolution (PROTOCOL.md, "Settings"): defaults, then `precedent.toml`, then the
//! client, key by key.
//!
//! Each layer is a raw JSON object (the TOML file is converted) read key by key rather than
//! deserialized into a struct, so that one bad value costs only itself and each problem
//! becomes one warning naming its origin, key, value and reason.
//!
//! Choices the protocol leaves open:
//! - Keys are camelCase; snake_case segments (`max_per_document`) and flattened dotted keys
//!   (`"hints.severity"`) are accepted in every layer. If one layer sets a setting twice, the
//!   camelCase spelling wins, else the first in key order; the others are warned about.
//! - Lists replace the previous layer's list; they are not appended to.
//! - Relative paths resolve against the layer's `base_dir`. A layer without one (client
//!   settings with no workspace folder) has nothing sensible to resolve against (the server's
//!   working directory is arbitrary), so such a value is ignored with a warning.
//! - `null` resets the optional settings (the paths and kNN parameters whose default is
//!   "unset", `Kind::OptionalPath` and `Kind::Index*` in table.rs); `""` counts as `null`
//!   for a path because VS Code leaves a cleared text setting as `""`. For the other
//!   settings `null` is invalid.
//! - `filePatterns`: a pattern without `/` matches the file name anywhere; one starting with
//!   `/` or `**` matches the absolute path; any other is relative to the layer's `base_dir`
//!   (anywhere below it if the layer has none, like `**/pattern`). `*` never crosses `/`.

mod layers;
mod patterns;
#[cfg(test)]
mod reference;
mod table;
#[cfg(all(test, unix))]
mod tests;
mod values;

use std::path::{Path, PathBuf};

use precedent_engine::editing::HintKind;
use serde_json::{Map, Value};
use tower_lsp_server::ls_types::Uri;

pub use layers::{client_section, read_workspace_file, WORKSPACE_FILE};
pub use patterns::FilePatterns;
/// kNN parameters set by the user; `None` = take the index's value.
pub use precedent_engine::knnlm::KnnOverrides;
pub use table::SETTINGS;
use values::{home_dir, kind, show, PathBase};

/// Settings for one document, every value resolved (defaults filled in). The keys, ranges,
/// defaults and documentation are in [`SETTINGS`].
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `None`: the installed default model.
    pub model_path: Option<PathBuf>,
    pub index_paths: Vec<PathBuf>,
    pub corpus: Vec<PathBuf>,
    /// `None`: in precedent's data directory, one per workspace root.
    pub corpus_index_path: Option<PathBuf>,
    pub knn: KnnOverrides,
    pub languages: Vec<String>,
    pub file_patterns: FilePatterns,
    pub completion: CompletionSettings,
    pub hover: HoverSettings,
    pub hints: HintSettings,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompletionSettings {
    pub enabled: bool,
    pub max_items: usize,
    /// Longest phrase offered; 0 = words only.
    pub phrase_words: usize,
    pub phrase_min_probability: f32,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HoverSettings {
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HintSettings {
    pub enabled: bool,
    pub severity: Severity,
    pub min_preferred_probability: f32,
    pub min_ratio: f32,
    pub max_fluency_loss: f64,
    pub max_per_document: usize,
    /// `None`: no link.
    pub docs_url: Option<DocsUrl>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Information,
    Hint,
}

impl Severity {
    /// Each severity, its name in settings, and how VS Code shows it.
    pub const CHOICES: [(Severity, &'static str, &'static str); 4] = [
        (
            Severity::Error,
            "error",
            "Red squiggle; counted as an error in the Problems panel.",
        ),
        (
            Severity::Warning,
            "warning",
            "Yellow squiggle; counted as a warning.",
        ),
        (
            Severity::Information,
            "information",
            "Blue squiggle; listed as information.",
        ),
        (
            Severity::Hint,
            "hint",
            "Faint dots under the word; the quietest.",
        ),
    ];
}

/// A link to the team's page on each kind of hint (`hints.docsUrl`): a template in which
/// [`DocsUrl::PLACEHOLDER`] stands for the kind, checked to give an absolute URI for every
/// kind.
#[derive(Clone, Debug, PartialEq)]
pub struct DocsUrl {
    hrefs: Vec<(HintKind, Uri)>,
}

impl DocsUrl {
    pub const PLACEHOLDER: &'static str = "{kind}";

    /// `Err` says why the template gives no link, in one phrase.
    pub fn new(template: &str) -> Result<DocsUrl, String> {
        let hrefs = HintKind::ALL
            .iter()
            .map(|&kind| {
                let url = template.replace(Self::PLACEHOLDER, kind.name());
                if url.contains(['{', '}']) {
                    return Err(format!(
                        "the one placeholder is {} (the hint's kind)",
                        Self::PLACEHOLDER
                    ));
                }
                let href = url.parse::<Uri>().map_err(|e| {
                    format!("{url:?} is not an absolute URI, like https://host/page ({e})")
                })?;
                Ok((kind, href))
            })
            .collect::<Result<_, _>>()?;
        Ok(DocsUrl { hrefs })
    }

    /// The page on `kind`.
    pub fn href(&self, kind: HintKind) -> Option<&Uri> {
        self.hrefs
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, href)| href)
    }
}

impl Default for Settings {
    /// The defaults declared in [`SETTINGS`].
    fn default() -> Self {
        // Placeholders only: every field is set from its declaration below.
        let mut settings = Settings {
            model_path: None,
            index_paths: Vec::new(),
            corpus: Vec::new(),
            corpus_index_path: None,
            knn: KnnOverrides::default(),
            languages: Vec::new(),
            file_patterns: FilePatterns::default(),
            completion: CompletionSettings {
                enabled: false,
                max_items: 0,
                phrase_words: 0,
                phrase_min_probability: 0.0,
            },
            hover: HoverSettings { enabled: false },
            hints: HintSettings {
                enabled: false,
                severity: Severity::Hint,
                min_preferred_probability: 0.0,
                min_ratio: 0.0,
                max_fluency_loss: 0.0,
                max_per_document: 0,
                docs_url: None,
            },
        };
        for setting in SETTINGS {
            setting.kind.set_default(&mut settings);
        }
        settings
    }
}

/// One source of settings: a JSON object and the directory its relative paths are relative to.
#[derive(Clone, Copy, Debug)]
pub struct Layer<'a> {
    pub values: &'a Value,
    pub base_dir: Option<&'a Path>,
    /// Names the source in warnings, e.g. "precedent.toml at /x" or "client settings".
    pub origin: &'a str,
}

impl Settings {
    /// Applies the layers in order over the defaults, key by key. Each invalid value is
    /// skipped and described in the returned warnings (origin, key, value, why), e.g.
    /// "client settings: hints.minRatio = -3 ignored: must be at least 1".
    ///
    /// Which layers apply to a document (the `precedent.toml` of the root it is under) is
    /// the caller's choice.
    pub fn resolve(layers: &[Layer]) -> (Settings, Vec<String>) {
        let home = home_dir();
        resolve_with_home(layers, home.as_deref())
    }

    /// Does this document take part? `language_id` from didOpen (may be unknown → ""),
    /// `path` from the URI if a file.
    pub fn applies_to(&self, language_id: &str, path: Option<&Path>) -> bool {
        if !language_id.is_empty() && self.languages.iter().any(|l| l == language_id) {
            return true;
        }
        path.is_some_and(|path| self.file_patterns.is_match(path))
    }

    /// Applies one setting; `Err` says why the value is ignored.
    fn apply(&mut self, key: &str, value: &Value, base: &PathBase) -> Result<(), String> {
        if let Some(setting) = table::find(key) {
            return setting.kind.apply(self, value, base);
        }
        // Only reached when a section is not an object (objects are flattened).
        if table::is_section(key) {
            return Err(format!("expected an object, got {}", kind(value)));
        }
        if key == "precedent" {
            return Err("unknown setting (put the settings at the top level, \
                        not in a `precedent` section)"
                .into());
        }
        Err(match suggestion(key) {
            Some(known) => format!("unknown setting (did you mean `{known}`?)"),
            None => "unknown setting".into(),
        })
    }
}

/// `resolve` with the home directory passed in, so tests do not depend on `$HOME`.
fn resolve_with_home(layers: &[Layer], home: Option<&Path>) -> (Settings, Vec<String>) {
    let mut settings = Settings::default();
    let mut warnings = Vec::new();
    for layer in layers {
        let map = match layer.values {
            Value::Object(map) => map,
            // "No settings", e.g. `{"precedent": null}` or absent initializationOptions.
            Value::Null => continue,
            other => {
                warnings.push(format!(
                    "{}: settings {} ignored: expected an object, got {}",
                    layer.origin,
                    show(other),
                    kind(other)
                ));
                continue;
            }
        };
        let base = PathBase {
            base_dir: layer.base_dir,
            home,
        };
        let mut entries = Vec::new();
        flatten(map, "", &mut entries);
        // Deterministic whatever the map's order (serde_json's `preserve_order` may be on);
        // the canonical spelling first so it wins over an alias of the same setting.
        entries.sort_by(|a, b| {
            (a.written != a.key, &a.written).cmp(&(b.written != b.key, &b.written))
        });
        let mut applied: Vec<(&str, &str)> = Vec::new();
        for entry in &entries {
            let result = match applied.iter().find(|(key, _)| *key == entry.key) {
                Some((_, first)) => Err(format!("also set as {first}")),
                None => {
                    applied.push((&entry.key, &entry.written));
                    settings.apply(&entry.key, entry.value, &base)
                }
            };
            if let Err(why) = result {
                warnings.push(format!(
                    "{}: {} = {} ignored: {why}",
                    layer.origin,
                    entry.written,
                    // A location written with a password in it is refused, never repeated.
                    precedent_engine::milvus::redact_credentials(&show(entry.value))
                ));
            }
        }
    }
    (settings, warnings)
}

struct Entry<'v> {
    /// As the user spelled it, dotted: `hints.min_ratio`.
    written: String,
    /// Canonical: `hints.minRatio`.
    key: String,
    value: &'v Value,
}

/// Top-level sections given as objects become dotted keys; anything else stays a value.
fn flatten<'v>(map: &'v Map<String, Value>, prefix: &str, out: &mut Vec<Entry<'v>>) {
    for (name, value) in map {
        let written = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let key = canonical(&written);
        if prefix.is_empty() && table::is_section(&key) {
            if let Value::Object(inner) = value {
                flatten(inner, &written, out);
                continue;
            }
        }
        out.push(Entry {
            written,
            key,
            value,
        });
    }
}

/// `hints.min_ratio` → `hints.minRatio`; segments that are not plain snake_case stay as is.
fn canonical(written: &str) -> String {
    let segments: Vec<String> = written
        .split('.')
        .map(|segment| {
            let parts: Vec<&str> = segment.split('_').collect();
            if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
                return segment.to_owned();
            }
            let mut camel = parts[0].to_owned();
            for part in &parts[1..] {
                let mut chars = part.chars();
                if let Some(first) = chars.next() {
                    camel.extend(first.to_uppercase());
                    camel.push_str(chars.as_str());
                }
            }
            camel
        })
        .collect();
    segments.join(".")
}

/// The known key closest to an unknown one, to make typos and misplaced keys obvious.
fn suggestion(key: &str) -> Option<&'static str> {
    let key = key.to_lowercase();
    let limit = (key.chars().count() / 3).clamp(1, 3);
    SETTINGS
        .iter()
        .map(|setting| {
            let known = setting.key;
            let full = edit_distance(&key, &known.to_lowercase());
            // `minRatio` at the top level: the right name in the wrong place.
            let last = known.rsplit('.').next().unwrap_or(known).to_lowercase();
            let misplaced = if key.contains('.') || !known.contains('.') {
                usize::MAX
            } else {
                edit_distance(&key, &last)
            };
            (full.min(misplaced), known)
        })
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, known)| known)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}
