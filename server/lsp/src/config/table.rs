//! Every setting, declared once: its key, what it takes (type and range), its default and
//! what it means. Resolution (`apply`), `Settings::default`, PROTOCOL.md's settings table
//! and the VS Code extension's `package.json` contributions all come from [`SETTINGS`]
//! (the last two are checked by the tests in `reference.rs`).
//!
//! Adding a setting: a field in [`Settings`], one entry here, and its cases in the tests.

use std::path::PathBuf;

use precedent_engine::editing::{CompletionOptions, DEFAULT_HINT_THRESHOLDS};
use precedent_engine::knnlm::KnnParams;

use super::{DocsUrl, FilePatterns, Settings, Severity};

/// One setting.
pub struct Setting {
    /// camelCase; a setting of a section is dotted: `hints.minRatio`.
    pub key: &'static str,
    pub kind: Kind,
    /// Markdown, one or two sentences, shown in PROTOCOL.md and VS Code's settings editor.
    /// A setting named in backquotes (`` `corpus` ``) becomes a link in VS Code.
    pub doc: &'static str,
}

/// Where a setting's value lives in [`Settings`].
pub type Field<T> = fn(&mut Settings) -> &mut T;

/// What a setting accepts, its default, and where it goes.
///
/// Defaults that the engine also uses are functions that read the engine's value, so that
/// the number is written once.
pub enum Kind {
    Bool {
        default: bool,
        field: Field<bool>,
    },
    /// `max` = `usize::MAX`: no upper bound.
    Integer {
        min: usize,
        max: usize,
        default: fn() -> usize,
        field: Field<usize>,
    },
    Number {
        range: Range,
        default: fn() -> f32,
        field: Field<f32>,
    },
    /// A ratio of probabilities, at least 1, in full precision (a test model may need
    /// e^100).
    Ratio {
        default: fn() -> f64,
        field: Field<f64>,
    },
    Severity {
        default: Severity,
        field: Field<Severity>,
    },
    /// A string or a list of them; default `[]` unless given.
    Strings {
        default: &'static [&'static str],
        field: Field<Vec<String>>,
    },
    /// Paths resolved against the layer's folder; default `[]`.
    Paths {
        field: Field<Vec<PathBuf>>,
    },
    /// Globs (see the module documentation of `config`); default `[]`.
    Patterns {
        field: Field<FilePatterns>,
    },
    /// `null` or `""` (or unset): `unset` says what is used instead.
    OptionalPath {
        unset: &'static str,
        field: Field<Option<PathBuf>>,
    },
    /// The kNN parameters: `null` (or unset) takes the index's value, else the engine's
    /// default (`engine_default`).
    IndexInteger {
        min: usize,
        max: usize,
        engine_default: fn() -> usize,
        field: Field<Option<usize>>,
    },
    IndexNumber {
        range: Range,
        engine_default: fn() -> f32,
        field: Field<Option<f32>>,
    },
    IndexBool {
        engine_default: fn() -> bool,
        field: Field<Option<bool>>,
    },
    /// A URL template ([`DocsUrl`]); `null` or `""` (or unset): no link.
    DocsUrl {
        field: Field<Option<DocsUrl>>,
    },
}

/// The finite numbers a number setting accepts.
#[derive(Clone, Copy)]
pub enum Range {
    /// 0..=1.
    Probability,
    /// `x >= min`.
    AtLeast(f32),
    /// `x > 0`.
    Positive,
}

impl Range {
    pub fn check(self, x: f32) -> Result<f32, String> {
        let ok = match self {
            Range::Probability => (0.0..=1.0).contains(&x),
            Range::AtLeast(min) => x >= min,
            Range::Positive => x > 0.0,
        };
        if ok {
            Ok(x)
        } else {
            Err(match self {
                Range::Probability => "must be between 0 and 1".into(),
                Range::AtLeast(min) => format!("must be at least {min}"),
                Range::Positive => "must be greater than 0".into(),
            })
        }
    }
}

/// The language ids acted on by default: those the engine reads prose from.
const DEFAULT_LANGUAGES: &[&str] = &[
    "markdown",
    "plaintext",
    "restructuredtext",
    "asciidoc",
    "html",
];

/// Every setting, in the order the documentation lists them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        key: "modelPath",
        kind: Kind::OptionalPath {
            unset: "the default model installed by `precedent setup`",
            field: |s| &mut s.model_path,
        },
        doc: "Directory holding `manifest.json` of an ONNX model. Read when the server starts: a \
              change applies after a restart (the VS Code extension restarts the server).",
    },
    Setting {
        key: "indexPaths",
        kind: Kind::Paths {
            field: |s| &mut s.index_paths,
        },
        doc: "Index files built with `precedent index` (shared team indexes). Relative paths \
              are relative to the workspace root.",
    },
    Setting {
        key: "corpus",
        kind: Kind::Paths {
            field: |s| &mut s.corpus,
        },
        doc: "Folders of reference documents that the server indexes itself, in the \
              background, and keeps up to date as they change.",
    },
    Setting {
        key: "corpusIndexPath",
        kind: Kind::OptionalPath {
            unset: "in precedent's data directory, one per workspace root",
            field: |s| &mut s.corpus_index_path,
        },
        doc: "Where the index of `corpus` is written.",
    },
    Setting {
        key: "k",
        kind: Kind::IndexInteger {
            min: 1,
            max: 4096,
            engine_default: || KnnParams::default().k,
            field: |s| &mut s.knn.k,
        },
        doc: "Neighbours retrieved from the index for each prediction.",
    },
    Setting {
        key: "lambda",
        kind: Kind::IndexNumber {
            range: Range::Probability,
            engine_default: || KnnParams::default().lambda,
            field: |s| &mut s.knn.lambda,
        },
        doc: "Interpolation weight of the corpus (kNN) distribution against the language \
              model (0 = model only); `precedent eval --tune --save` fits it to a corpus.",
    },
    Setting {
        key: "temperature",
        kind: Kind::IndexNumber {
            range: Range::Positive,
            engine_default: || KnnParams::default().temperature,
            field: |s| &mut s.knn.temperature,
        },
        doc: "Softmax temperature over neighbour distances (higher spreads the weight over \
              more neighbours).",
    },
    Setting {
        key: "documentCache",
        kind: Kind::IndexBool {
            engine_default: || KnnParams::default().document_cache,
            field: |s| &mut s.knn.document_cache,
        },
        doc: "Whether the open document's earlier text joins the neighbours for completion.",
    },
    Setting {
        key: "documentCacheSkipRecent",
        kind: Kind::IndexInteger {
            min: 0,
            max: 4096,
            engine_default: || KnnParams::default().cache_skip_recent,
            field: |s| &mut s.knn.cache_skip_recent,
        },
        doc: "How many token positions right before the cursor `documentCache` leaves out: \
              adjacent contexts are near-identical and would push towards repeating the \
              last words.",
    },
    Setting {
        key: "languages",
        kind: Kind::Strings {
            default: DEFAULT_LANGUAGES,
            field: |s| &mut s.languages,
        },
        doc: "Language ids precedent acts on. Changing them restarts the server in VS Code.",
    },
    Setting {
        key: "filePatterns",
        kind: Kind::Patterns {
            field: |s| &mut s.file_patterns,
        },
        doc: "Extra glob patterns of files to act on whatever their language, for example \
              `**/*.txt`. Changing them restarts the server in VS Code.",
    },
    Setting {
        key: "completion.enabled",
        kind: Kind::Bool {
            default: true,
            field: |s| &mut s.completion.enabled,
        },
        doc: "Suggest the next words at the cursor.",
    },
    Setting {
        key: "completion.maxItems",
        kind: Kind::Integer {
            min: 1,
            max: 50,
            default: || CompletionOptions::default().max_items,
            field: |s| &mut s.completion.max_items,
        },
        doc: "Most suggestions offered at once.",
    },
    Setting {
        key: "completion.phraseWords",
        kind: Kind::Integer {
            min: 0,
            max: 8,
            default: || CompletionOptions::default().phrase_words,
            field: |s| &mut s.completion.phrase_words,
        },
        doc: "Longest phrase offered, in words (0 = single words only).",
    },
    Setting {
        key: "completion.phraseMinProbability",
        kind: Kind::Number {
            range: Range::Probability,
            default: || CompletionOptions::default().phrase_min_probability,
            field: |s| &mut s.completion.phrase_min_probability,
        },
        doc: "A phrase is extended by a further word only if that word is at least this \
              probable.",
    },
    Setting {
        key: "hover.enabled",
        kind: Kind::Bool {
            default: true,
            field: |s| &mut s.hover.enabled,
        },
        doc: "On hover, show the corpus sentences that support the word under the mouse \
              (\"similar usage\") and the word the corpus prefers there, if another.",
    },
    Setting {
        key: "hints.enabled",
        kind: Kind::Bool {
            default: true,
            field: |s| &mut s.hints.enabled,
        },
        doc: "Mark words where the corpus clearly prefers another word (house-style \
              hints), with a quick fix.",
    },
    Setting {
        key: "hints.severity",
        kind: Kind::Severity {
            default: Severity::Hint,
            field: |s| &mut s.hints.severity,
        },
        doc: "How word-choice hints are shown.",
    },
    Setting {
        key: "hints.minPreferredProbability",
        kind: Kind::Number {
            range: Range::Probability,
            default: || DEFAULT_HINT_THRESHOLDS.min_preferred_probability,
            field: |s| &mut s.hints.min_preferred_probability,
        },
        doc: "Word choice: the corpus neighbours' p_kNN of the house word where the written \
              word stands must be at least this. Measured (docs/house-style.md).",
    },
    Setting {
        key: "hints.minRatio",
        kind: Kind::Number {
            range: Range::AtLeast(1.0),
            default: || DEFAULT_HINT_THRESHOLDS.min_ratio,
            field: |s| &mut s.hints.min_ratio,
        },
        doc: "Word choice: the corpus neighbours must prefer the house word to the written \
              word at least this many times more than the language model does (for a word \
              the corpus never writes, 5 times when the model agrees). Measured \
              (docs/house-style.md).",
    },
    Setting {
        key: "hints.maxFluencyLoss",
        kind: Kind::Ratio {
            default: || DEFAULT_HINT_THRESHOLDS.max_fluency_loss,
            field: |s| &mut s.hints.max_fluency_loss,
        },
        doc: "Word choice: the sentence with the house word may be at most this many times \
              less probable under the language model than as written, from the word to the \
              end of its sentence (at most 6 tokens after it); spelling and capitalisation \
              variants at most 4 times. Measured (docs/house-style.md).",
    },
    Setting {
        key: "hints.maxPerDocument",
        kind: Kind::Integer {
            min: 0,
            max: usize::MAX,
            default: || 20,
            field: |s| &mut s.hints.max_per_document,
        },
        doc: "Most hints shown in one document, the most confident first (0 = none).",
    },
    Setting {
        key: "hints.docsUrl",
        kind: Kind::DocsUrl {
            field: |s| &mut s.hints.docs_url,
        },
        doc: "Your team's page on each kind of hint, linked from the hint (LSP \
              `codeDescription`; VS Code links the hint's code): `{kind}` becomes \
              `stated-rule`, `spelling`, `capitalisation` or `word-choice`, e.g. `https://wiki.example.com/style#{kind}`. \
              Set it in `precedent.toml` for the whole team.",
    },
];

/// The setting with this canonical key.
pub fn find(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.key == key)
}

/// Is `name` a section (`hints` of `hints.minRatio`)?
pub fn is_section(name: &str) -> bool {
    SETTINGS
        .iter()
        .any(|setting| setting.key.split_once('.').is_some_and(|(s, _)| s == name))
}

impl Kind {
    /// Puts the default value in its field.
    pub fn set_default(&self, settings: &mut Settings) {
        match self {
            Kind::Bool { default, field } => *field(settings) = *default,
            Kind::Integer { default, field, .. } => *field(settings) = default(),
            Kind::Number { default, field, .. } => *field(settings) = default(),
            Kind::Ratio { default, field } => *field(settings) = default(),
            Kind::Severity { default, field } => *field(settings) = *default,
            Kind::Strings { default, field } => {
                *field(settings) = default.iter().map(|s| s.to_string()).collect()
            }
            Kind::Paths { field } => *field(settings) = Vec::new(),
            Kind::Patterns { field } => *field(settings) = FilePatterns::default(),
            Kind::OptionalPath { field, .. } => *field(settings) = None,
            Kind::IndexInteger { field, .. } => *field(settings) = None,
            Kind::IndexNumber { field, .. } => *field(settings) = None,
            Kind::IndexBool { field, .. } => *field(settings) = None,
            Kind::DocsUrl { field } => *field(settings) = None,
        }
    }
}
