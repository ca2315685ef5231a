//! Settings resolution by example (the examples use Unix paths).

use std::path::{Path, PathBuf};

use serde_json::Value;

use precedent_engine::editing::DEFAULT_HINT_THRESHOLDS;

use super::layers::{line_column, toml_to_json};
use super::values::{glob, home_dir};
use super::*;

const HOME: &str = "/home/ana";
const TOML_ORIGIN: &str = "precedent.toml at /ws";
const CLIENT: &str = "client settings";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad test JSON {text}: {e}"))
}

fn toml(text: &str) -> Value {
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("bad test TOML: {e}"));
    toml_to_json(toml::Value::Table(table))
}

/// Resolves (origin, values) layers, all with base dir /ws and home /home/ana.
fn resolve(layers: &[(&str, &Value)]) -> (Settings, Vec<String>) {
    let layers: Vec<Layer> = layers
        .iter()
        .map(|(origin, values)| Layer {
            values,
            base_dir: Some(Path::new("/ws")),
            origin,
        })
        .collect();
    resolve_with_home(&layers, Some(Path::new(HOME)))
}

fn client(text: &str) -> (Settings, Vec<String>) {
    resolve(&[(CLIENT, &json(text))])
}

fn paths(paths: &[&str]) -> Vec<PathBuf> {
    paths.iter().map(PathBuf::from).collect()
}

fn strings(strings: &[&str]) -> Vec<String> {
    strings.iter().map(|s| s.to_string()).collect()
}

fn patterns(patterns: &[&str]) -> FilePatterns {
    FilePatterns::new(strings(patterns))
}

#[test]
fn defaults_are_those_of_the_protocol() {
    let s = Settings::default();
    assert_eq!(s.model_path, None);
    assert!(s.index_paths.is_empty() && s.corpus.is_empty());
    assert_eq!(s.corpus_index_path, None);
    assert_eq!(s.knn, KnnOverrides::default());
    assert_eq!(
        s.languages,
        [
            "markdown",
            "plaintext",
            "restructuredtext",
            "asciidoc",
            "html"
        ]
    );
    assert!(s.file_patterns.as_slice().is_empty());
    assert_eq!(
        s.completion,
        CompletionSettings {
            enabled: true,
            max_items: 8,
            phrase_words: 3,
            phrase_min_probability: 0.5
        }
    );
    assert!(s.hover.enabled);
    assert_eq!(
        s.hints,
        HintSettings {
            enabled: true,
            severity: Severity::Hint,
            min_preferred_probability: DEFAULT_HINT_THRESHOLDS.min_preferred_probability,
            min_ratio: DEFAULT_HINT_THRESHOLDS.min_ratio,
            max_fluency_loss: DEFAULT_HINT_THRESHOLDS.max_fluency_loss,
            max_per_document: 20,
            docs_url: None
        }
    );
    assert_eq!(resolve(&[]), (Settings::default(), vec![]));
    assert_eq!(client("{}"), (Settings::default(), vec![]));
    assert_eq!(client("null"), (Settings::default(), vec![]));
}

/// An input and what it changes.
type Effect = (&'static str, fn(&mut Settings));

/// Client settings (workspace folder /ws, home /home/ana) → change from the defaults.
const EFFECTS: &[Effect] = &[
    (r#"{"modelPath": "/models/smol"}"#, |s| {
        s.model_path = Some("/models/smol".into())
    }),
    (r#"{"modelPath": "models/smol/"}"#, |s| {
        s.model_path = Some("/ws/models/smol".into())
    }),
    (r#"{"modelPath": "~/models/smol"}"#, |s| {
        s.model_path = Some("/home/ana/models/smol".into())
    }),
    (r#"{"modelPath": null}"#, |_| {}),
    (r#"{"modelPath": ""}"#, |_| {}),
    (r#"{"indexPaths": "team.index"}"#, |s| {
        s.index_paths = paths(&["/ws/team.index"])
    }),
    (
        r#"{"indexPaths": ["/srv/team.index", "./mine/../my.index", "~"]}"#,
        |s| s.index_paths = paths(&["/srv/team.index", "/ws/mine/../my.index", "/home/ana"]),
    ),
    (
        r#"{"indexPaths": ["team.index", "milvus://db.example.com:19530/house_style"]}"#,
        |s| {
            s.index_paths = paths(&[
                "/ws/team.index",
                "milvus://db.example.com:19530/house_style",
            ])
        },
    ),
    (r#"{"corpus": ["docs", "/shared/style"]}"#, |s| {
        s.corpus = paths(&["/ws/docs", "/shared/style"])
    }),
    (r#"{"corpus": []}"#, |_| {}),
    (r#"{"corpusIndexPath": ".precedent/corpus.index"}"#, |s| {
        s.corpus_index_path = Some("/ws/.precedent/corpus.index".into())
    }),
    (r#"{"k": 128}"#, |s| s.knn.k = Some(128)),
    (r#"{"k": 4096.0}"#, |s| s.knn.k = Some(4096)),
    (r#"{"k": null}"#, |_| {}),
    (r#"{"lambda": 0}"#, |s| s.knn.lambda = Some(0.0)),
    (r#"{"lambda": 0.25}"#, |s| s.knn.lambda = Some(0.25)),
    (r#"{"temperature": 0.5}"#, |s| s.knn.temperature = Some(0.5)),
    (r#"{"documentCache": false}"#, |s| {
        s.knn.document_cache = Some(false)
    }),
    (r#"{"documentCacheSkipRecent": 4}"#, |s| {
        s.knn.cache_skip_recent = Some(4)
    }),
    (r#"{"documentCacheSkipRecent": 0}"#, |s| {
        s.knn.cache_skip_recent = Some(0)
    }),
    (r#"{"documentCacheSkipRecent": null}"#, |_| {}),
    (r#"{"languages": ["markdown", "latex"]}"#, |s| {
        s.languages = strings(&["markdown", "latex"])
    }),
    (r#"{"languages": "latex"}"#, |s| {
        s.languages = strings(&["latex"])
    }),
    (r#"{"languages": []}"#, |s| s.languages = vec![]),
    (
        r#"{"filePatterns": ["*.txt", "notes/**/*.md", "./*.adoc", "**/README", "/etc/*.conf", "~/notes/*"]}"#,
        |s| {
            s.file_patterns = patterns(&[
                "*.txt",
                "/ws/notes/**/*.md",
                "/ws/*.adoc",
                "**/README",
                "/etc/*.conf",
                "/home/ana/notes/*",
            ])
        },
    ),
    (
        r#"{"completion": {"enabled": false, "maxItems": 50, "phraseWords": 0, "phraseMinProbability": 1}}"#,
        |s| {
            s.completion = CompletionSettings {
                enabled: false,
                max_items: 50,
                phrase_words: 0,
                phrase_min_probability: 1.0,
            }
        },
    ),
    (r#"{"hover": {"enabled": false}}"#, |s| {
        s.hover.enabled = false
    }),
    (r#"{"hints": {"enabled": false}}"#, |s| {
        s.hints.enabled = false
    }),
    (r#"{"hints": {"severity": "Warning"}}"#, |s| {
        s.hints.severity = Severity::Warning
    }),
    (r#"{"hints": {"severity": "ERROR"}}"#, |s| {
        s.hints.severity = Severity::Error
    }),
    (r#"{"hints": {"severity": "info"}}"#, |s| {
        s.hints.severity = Severity::Information
    }),
    (r#"{"hints": {"severity": "information"}}"#, |s| {
        s.hints.severity = Severity::Information
    }),
    (
        r#"{"hints": {"minPreferredProbability": 0.9, "minRatio": 1, "maxPerDocument": 0}}"#,
        |s| {
            s.hints.min_preferred_probability = 0.9;
            s.hints.min_ratio = 1.0;
            s.hints.max_per_document = 0;
        },
    ),
    (
        r#"{"hints": {"docsUrl": "https://wiki.example.com/style#{kind}"}}"#,
        |s| s.hints.docs_url = Some(docs_url(STYLE_PAGE)),
    ),
    (r#"{"hints": {"docsUrl": ""}}"#, |_| {}),
    (r#"{"hints": {"docsUrl": null}}"#, |_| {}),
    // Other spellings of the same settings.
    (r#"{"hints.severity": "error"}"#, |s| {
        s.hints.severity = Severity::Error
    }),
    (r#"{"hints": {"max_per_document": 5}}"#, |s| {
        s.hints.max_per_document = 5
    }),
    (r#"{"hints.max_per_document": 5}"#, |s| {
        s.hints.max_per_document = 5
    }),
    (r#"{"completion.phrase_words": 1}"#, |s| {
        s.completion.phrase_words = 1
    }),
    (r#"{"index_paths": "/a.index"}"#, |s| {
        s.index_paths = paths(&["/a.index"])
    }),
    (r#"{"document_cache": true}"#, |s| {
        s.knn.document_cache = Some(true)
    }),
    // A section given twice, nested and flattened: both apply.
    (
        r#"{"hints": {"minRatio": 3}, "hints.severity": "error"}"#,
        |s| {
            s.hints.min_ratio = 3.0;
            s.hints.severity = Severity::Error;
        },
    ),
];

#[test]
fn each_setting_has_its_effect() {
    for (input, effect) in EFFECTS {
        let mut expected = Settings::default();
        effect(&mut expected);
        assert_eq!(client(input), (expected, vec![]), "{input}");
    }
}

/// Client settings → the one warning; the value is ignored.
const INVALID: &[(&str, &str)] = &[
    (
        r#"{"hints": {"minRatio": -3}}"#,
        "hints.minRatio = -3 ignored: must be at least 1",
    ),
    (
        r#"{"hints.min_ratio": 0.5}"#,
        "hints.min_ratio = 0.5 ignored: must be at least 1",
    ),
    (
        r#"{"hints": {"minRatio": 1e300}}"#,
        "hints.minRatio = 1e+300 ignored: must be a finite number",
    ),
    (
        r#"{"hints": {"minRatio": null}}"#,
        "hints.minRatio = null ignored: expected a number, got null",
    ),
    (r#"{"k": 0}"#, "k = 0 ignored: must be at least 1"),
    (
        r#"{"hints": {"docsUrl": "wiki/style#{kind}"}}"#,
        r#"hints.docsUrl = "wiki/style#{kind}" ignored: "wiki/style#stated-rule" is not an absolute URI, like https://host/page (unexpected character at index 4)"#,
    ),
    (
        r#"{"hints": {"docsUrl": "https://wiki.example.com/{rule}"}}"#,
        r#"hints.docsUrl = "https://wiki.example.com/{rule}" ignored: the one placeholder is {kind} (the hint's kind)"#,
    ),
    (
        r#"{"hints": {"docsUrl": ["https://wiki.example.com"]}}"#,
        r#"hints.docsUrl = ["https://wiki.example.com"] ignored: expected a URL (string) or null, got an array"#,
    ),
    (r#"{"k": -1}"#, "k = -1 ignored: must be at least 1"),
    (r#"{"k": 4097}"#, "k = 4097 ignored: must be at most 4096"),
    (
        r#"{"k": 1e300}"#,
        "k = 1e+300 ignored: must be at most 4096",
    ),
    (r#"{"k": 2.5}"#, "k = 2.5 ignored: must be an integer"),
    (
        r#"{"k": "64"}"#,
        r#"k = "64" ignored: expected an integer, got a string"#,
    ),
    (
        r#"{"lambda": 1.5}"#,
        "lambda = 1.5 ignored: must be between 0 and 1",
    ),
    (
        r#"{"lambda": -0.1}"#,
        "lambda = -0.1 ignored: must be between 0 and 1",
    ),
    (
        r#"{"temperature": 0}"#,
        "temperature = 0 ignored: must be greater than 0",
    ),
    (
        r#"{"temperature": -2}"#,
        "temperature = -2 ignored: must be greater than 0",
    ),
    (
        r#"{"temperature": 5e-324}"#,
        "temperature = 5e-324 ignored: must be greater than 0",
    ),
    (
        r#"{"temperature": 1e39}"#,
        "temperature = 1e+39 ignored: must be a finite number",
    ),
    (
        r#"{"documentCache": "yes"}"#,
        r#"documentCache = "yes" ignored: expected true or false, got a string"#,
    ),
    (
        r#"{"documentCacheSkipRecent": -1}"#,
        "documentCacheSkipRecent = -1 ignored: must be at least 0",
    ),
    (
        r#"{"documentCacheSkipRecent": 1.5}"#,
        "documentCacheSkipRecent = 1.5 ignored: must be an integer",
    ),
    (
        r#"{"completion": {"maxItems": 0}}"#,
        "completion.maxItems = 0 ignored: must be at least 1",
    ),
    (
        r#"{"completion": {"maxItems": 51}}"#,
        "completion.maxItems = 51 ignored: must be at most 50",
    ),
    (
        r#"{"completion": {"phraseWords": 9}}"#,
        "completion.phraseWords = 9 ignored: must be at most 8",
    ),
    (
        r#"{"completion": {"enabled": null}}"#,
        "completion.enabled = null ignored: expected true or false, got null",
    ),
    (
        r#"{"completion": {"phraseMinProbability": 2}}"#,
        "completion.phraseMinProbability = 2 ignored: must be between 0 and 1",
    ),
    (
        r#"{"hover": {"enabled": 1}}"#,
        "hover.enabled = 1 ignored: expected true or false, got a number",
    ),
    (
        r#"{"hints": {"minPreferredProbability": "high"}}"#,
        r#"hints.minPreferredProbability = "high" ignored: expected a number, got a string"#,
    ),
    (
        r#"{"hints": {"severity": "warn"}}"#,
        r#"hints.severity = "warn" ignored: expected "error", "warning", "information" or "hint""#,
    ),
    (
        r#"{"hints": {"severity": 2}}"#,
        r#"hints.severity = 2 ignored: expected "error", "warning", "information" or "hint", got a number"#,
    ),
    (
        r#"{"hints": {"maxPerDocument": -1}}"#,
        "hints.maxPerDocument = -1 ignored: must be at least 0",
    ),
    (
        r#"{"hints": {"maxPerDocument": 1.5}}"#,
        "hints.maxPerDocument = 1.5 ignored: must be an integer",
    ),
    (
        r#"{"hints": "strict"}"#,
        r#"hints = "strict" ignored: expected an object, got a string"#,
    ),
    (
        r#"{"languages": [1]}"#,
        "languages = [1] ignored: expected strings, item 1 is a number",
    ),
    (
        r#"{"languages": ["markdown", ""]}"#,
        r#"languages = ["markdown",""] ignored: empty string in the list"#,
    ),
    (
        r#"{"languages": {"markdown": true}}"#,
        r#"languages = {"markdown":true} ignored: expected a string or an array of strings, got an object"#,
    ),
    (
        r#"{"filePatterns": ["*.txt", "[abc"]}"#,
        r#"filePatterns = ["*.txt","[abc"] ignored: invalid glob "[abc": unclosed character class; missing ']'"#,
    ),
    (
        r#"{"modelPath": 3}"#,
        "modelPath = 3 ignored: expected a path (string) or null, got a number",
    ),
    (
        r#"{"corpus": ["docs", null]}"#,
        r#"corpus = ["docs",null] ignored: expected strings, item 2 is null"#,
    ),
    // Unknown keys, with the likely intended one.
    (
        r#"{"hints": {"minRatoi": 3}}"#,
        "hints.minRatoi = 3 ignored: unknown setting (did you mean `hints.minRatio`?)",
    ),
    (
        r#"{"minRatio": 3}"#,
        "minRatio = 3 ignored: unknown setting (did you mean `hints.minRatio`?)",
    ),
    (
        r#"{"lamda": 0.3}"#,
        "lamda = 0.3 ignored: unknown setting (did you mean `lambda`?)",
    ),
    (
        r#"{"Languages": []}"#,
        "Languages = [] ignored: unknown setting (did you mean `languages`?)",
    ),
    (
        r#"{"colour": "blue"}"#,
        r#"colour = "blue" ignored: unknown setting"#,
    ),
    (
        r#"{"completion": {"hints": {}}}"#,
        "completion.hints = {} ignored: unknown setting",
    ),
    (
        r#"{"precedent": {"k": 3}}"#,
        r#"precedent = {"k":3} ignored: unknown setting (put the settings at the top level, not in a `precedent` section)"#,
    ),
    (
        r#"{"languages": [1, "a very long language id that goes on and on and on and on"]}"#,
        r#"languages = [1,"a very long language id that goes on and on and on and o… ignored: expected strings, item 1 is a number"#,
    ),
];

/// A team file setting every setting, to show that invalid client values keep it.
const TEAM_TOML: &str = r#"
    # precedent.toml: team settings for this repository
    model_path = "models/smollm2-135m"
    index_paths = ["indexes/team.index", "~/precedent/personal.index"]
    corpus = "docs"
    corpus_index_path = ".precedent/corpus.index"
    k = 128
    lambda = 0.25
    temperature = 1.5
    document_cache = false
    document_cache_skip_recent = 2
    languages = ["markdown", "plaintext"]
    file_patterns = ["*.txt", "notes/**/*.md"]

    [completion]
    enabled = true
    max_items = 5
    phrase_words = 0
    phrase_min_probability = 0.7

    [hover]
    enabled = false

    [hints]
    severity = "information"
    min_preferred_probability = 0.8
    min_ratio = 10
    max_per_document = 50
    docs_url = "https://wiki.example.com/style#{kind}"
"#;

const STYLE_PAGE: &str = "https://wiki.example.com/style#{kind}";

fn docs_url(template: &str) -> DocsUrl {
    DocsUrl::new(template).unwrap_or_else(|e| panic!("{template}: {e}"))
}

#[test]
fn invalid_values_are_ignored_with_a_warning() {
    let team = toml(TEAM_TOML);
    let (team_settings, team_warnings) = resolve(&[(TOML_ORIGIN, &team)]);
    assert_eq!(team_warnings, Vec::<String>::new());
    for (input, warning) in INVALID {
        let expected = vec![format!("{CLIENT}: {warning}")];
        let (settings, warnings) = client(input);
        assert_eq!(warnings, expected, "{input}");
        assert_eq!(settings, Settings::default(), "{input} over the defaults");
        // Over a previous layer, that layer's value is kept.
        let (settings, warnings) = resolve(&[(TOML_ORIGIN, &team), (CLIENT, &json(input))]);
        assert_eq!(warnings, expected, "{input}");
        assert_eq!(settings, team_settings, "{input} over the team file");
    }
}

#[test]
fn the_docs_url_names_each_kind_of_hint() {
    use precedent_engine::editing::HintKind;
    // (template, kind, link)
    let cases = [
        (
            STYLE_PAGE,
            HintKind::WordChoice,
            "https://wiki.example.com/style#word-choice",
        ),
        (
            "https://wiki.example.com/{kind}/",
            HintKind::Spelling,
            "https://wiki.example.com/spelling/",
        ),
        // One page for every kind.
        (
            "file:///srv/docs/style.html",
            HintKind::Capitalisation,
            "file:///srv/docs/style.html",
        ),
    ];
    for (template, kind, link) in cases {
        let href = docs_url(template)
            .href(kind)
            .map(|uri| uri.as_str().to_owned());
        assert_eq!(href.as_deref(), Some(link), "{template}");
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("precedent-config-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn with_file(name: &str, text: &str) -> TempDir {
        let dir = TempDir::new(name);
        std::fs::write(dir.0.join(WORKSPACE_FILE), text).unwrap();
        dir
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_team_file_resolves_against_its_root() {
    let dir = TempDir::with_file("team", TEAM_TOML);
    let root = dir.0.as_path();
    let values = read_workspace_file(root).unwrap().unwrap();
    let origin = format!("{WORKSPACE_FILE} at {}", root.display());
    let layer = Layer {
        values: &values,
        base_dir: Some(root),
        origin: &origin,
    };
    let (settings, warnings) = resolve_with_home(&[layer], Some(Path::new(HOME)));
    assert_eq!(warnings, Vec::<String>::new());
    let r = root.display();
    assert_eq!(
        settings,
        Settings {
            model_path: Some(root.join("models/smollm2-135m")),
            index_paths: vec![
                root.join("indexes/team.index"),
                "/home/ana/precedent/personal.index".into()
            ],
            corpus: vec![root.join("docs")],
            corpus_index_path: Some(root.join(".precedent/corpus.index")),
            knn: KnnOverrides {
                k: Some(128),
                lambda: Some(0.25),
                temperature: Some(1.5),
                document_cache: Some(false),
                cache_skip_recent: Some(2),
                adaptive_lambda: None
            },
            languages: strings(&["markdown", "plaintext"]),
            file_patterns: FilePatterns::new(vec!["*.txt".into(), format!("{r}/notes/**/*.md")]),
            completion: CompletionSettings {
                enabled: true,
                max_items: 5,
                phrase_words: 0,
                phrase_min_probability: 0.7
            },
            hover: HoverSettings { enabled: false },
            hints: HintSettings {
                enabled: true,
                severity: Severity::Information,
                min_preferred_probability: 0.8,
                min_ratio: 10.0,
                max_fluency_loss: DEFAULT_HINT_THRESHOLDS.max_fluency_loss,
                max_per_document: 50,
                docs_url: Some(docs_url(STYLE_PAGE))
            },
        }
    );
}

#[test]
fn the_client_overrides_the_team_file_key_by_key() {
    let team = toml(TEAM_TOML);
    let (team_settings, _) = resolve(&[(TOML_ORIGIN, &team)]);
    let cases: &[Effect] = &[
        // Only hints.severity: the file's hints.minRatio and the rest survive.
        (r#"{"hints": {"severity": "error"}}"#, |s| {
            s.hints.severity = Severity::Error
        }),
        (r#"{"hints.severity": "error"}"#, |s| {
            s.hints.severity = Severity::Error
        }),
        // A list replaces the file's list.
        (r#"{"indexPaths": ["/mine.index"]}"#, |s| {
            s.index_paths = paths(&["/mine.index"])
        }),
        // null resets the optional settings to "the installed model" / "from the index".
        (
            r#"{"modelPath": null, "corpusIndexPath": "", "k": null, "lambda": null,
                "temperature": null, "documentCache": null, "documentCacheSkipRecent": null}"#,
            |s| {
                s.model_path = None;
                s.corpus_index_path = None;
                s.knn = KnnOverrides::default();
            },
        ),
    ];
    for (input, effect) in cases {
        let mut expected = team_settings.clone();
        effect(&mut expected);
        let got = resolve(&[(TOML_ORIGIN, &team), (CLIENT, &json(input))]);
        assert_eq!(got, (expected, vec![]), "{input}");
    }
    assert_eq!(team_settings.hints.min_ratio, 10.0);
}

#[test]
fn warnings_name_the_layer_and_later_layers_still_apply() {
    let team = toml("k = 0\nlambda = 0.3\n[hints]\nmin_ratio = 4\n");
    let (settings, warnings) = resolve(&[
        (TOML_ORIGIN, &team),
        (CLIENT, &json(r#"{"lambda": 7, "k": 32}"#)),
    ]);
    assert_eq!(
        warnings,
        [
            "precedent.toml at /ws: k = 0 ignored: must be at least 1",
            "client settings: lambda = 7 ignored: must be between 0 and 1",
        ]
    );
    assert_eq!(settings.knn.k, Some(32));
    assert_eq!(settings.knn.lambda, Some(0.3));
    assert_eq!(settings.hints.min_ratio, 4.0);
}

#[test]
fn a_setting_given_twice_in_one_layer_keeps_the_camel_case_spelling() {
    let (settings, warnings) = client(
        r#"{"hints.min_ratio": 4, "hints": {"minRatio": 3, "max_per_document": 1},
            "hints.maxPerDocument": 2}"#,
    );
    assert_eq!(settings.hints.min_ratio, 3.0);
    assert_eq!(settings.hints.max_per_document, 2);
    assert_eq!(
        warnings,
        [
            "client settings: hints.max_per_document = 1 ignored: also set as hints.maxPerDocument",
            "client settings: hints.min_ratio = 4 ignored: also set as hints.minRatio",
        ]
    );
}

#[test]
fn paths_need_a_base_dir_and_a_home() {
    // (base dir, home, client settings, effect, warnings)
    type Case = (
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
        fn(&mut Settings),
        &'static [&'static str],
    );
    let cases: &[Case] = &[
        (
            None,
            Some(HOME),
            r#"{"modelPath": "/m", "corpus": "~/notes"}"#,
            |s| {
                s.model_path = Some("/m".into());
                s.corpus = paths(&["/home/ana/notes"]);
            },
            &[],
        ),
        (
            None,
            Some(HOME),
            r#"{"indexPaths": ["/a.index", "b.index"]}"#,
            |_| {},
            &[
                r#"client settings: indexPaths = ["/a.index","b.index"] ignored: relative path "b.index" has no workspace folder to resolve against; use an absolute path"#,
            ],
        ),
        (
            Some("/ws"),
            None,
            r#"{"indexPaths": ["milvus://ana:hunter2@db:19530/house"]}"#,
            |_| {},
            &[
                r#"client settings: indexPaths = ["milvus://…@db:19530/house"] ignored: milvus://…@db:19530/house: credentials do not go in the location; set PRECEDENT_MILVUS_TOKEN instead (expected milvus://HOST:PORT/COLLECTION, or milvuss:// for TLS)"#,
            ],
        ),
        (
            None,
            Some(HOME),
            r#"{"filePatterns": "notes/*.md"}"#,
            |s| s.file_patterns = patterns(&["**/notes/*.md"]),
            &[],
        ),
        (
            Some("/ws"),
            None,
            r#"{"modelPath": "~/m"}"#,
            |_| {},
            &[
                r#"client settings: modelPath = "~/m" ignored: cannot expand `~`: no home directory ($HOME is not set)"#,
            ],
        ),
        (
            Some("/ws"),
            None,
            r#"{"filePatterns": "~/*.md"}"#,
            |_| {},
            &[
                r#"client settings: filePatterns = "~/*.md" ignored: cannot expand `~`: no home directory ($HOME is not set)"#,
            ],
        ),
        // Only `~` and `~/` are expanded.
        (
            Some("/ws"),
            Some(HOME),
            r#"{"modelPath": "~ana/m"}"#,
            |s| s.model_path = Some("/ws/~ana/m".into()),
            &[],
        ),
        // Glob characters in the folder's name are taken literally.
        (
            Some("/w[s]/{a,b}"),
            None,
            r#"{"filePatterns": "notes/*.md"}"#,
            |s| s.file_patterns = patterns(&["/w[[]s[]]/[{]a,b[}]/notes/*.md"]),
            &[],
        ),
        (
            Some("/"),
            None,
            r#"{"filePatterns": "notes/*.md", "corpus": "."}"#,
            |s| {
                s.file_patterns = patterns(&["/notes/*.md"]);
                s.corpus = paths(&["/"]);
            },
            &[],
        ),
    ];
    for (base_dir, home, input, effect, expected_warnings) in cases {
        let values = json(input);
        let layer = Layer {
            values: &values,
            base_dir: base_dir.map(Path::new),
            origin: CLIENT,
        };
        let mut expected = Settings::default();
        effect(&mut expected);
        let (settings, warnings) = resolve_with_home(&[layer], home.map(Path::new));
        assert_eq!(settings, expected, "{input}");
        assert_eq!(warnings, *expected_warnings, "{input}");
    }
}

#[test]
fn resolve_expands_tilde_with_the_home_directory() {
    let Some(home) = home_dir() else { return };
    let values = json(r#"{"modelPath": "~/m"}"#);
    let layer = Layer {
        values: &values,
        base_dir: None,
        origin: CLIENT,
    };
    let (settings, _) = Settings::resolve(&[layer]);
    assert_eq!(
        settings.model_path,
        Some(home.join("m").components().collect())
    );
}

#[test]
fn which_documents_take_part() {
    // (settings, language id, path, takes part)
    let cases: &[(&str, &str, Option<&str>, bool)] = &[
        ("{}", "markdown", None, true),
        ("{}", "html", Some("/ws/index.html"), true),
        ("{}", "rust", Some("/ws/main.rs"), false),
        ("{}", "", Some("/ws/notes.txt"), false),
        (r#"{"languages": "latex"}"#, "latex", None, true),
        (r#"{"languages": []}"#, "markdown", Some("/ws/a.md"), false),
        // A pattern without '/' matches the file name anywhere.
        (
            r#"{"filePatterns": "*.txt"}"#,
            "",
            Some("/ws/notes.txt"),
            true,
        ),
        (
            r#"{"filePatterns": "*.txt"}"#,
            "",
            Some("/elsewhere/deep/notes.txt"),
            true,
        ),
        (
            r#"{"filePatterns": "*.txt"}"#,
            "",
            Some("/ws/notes.txt.bak"),
            false,
        ),
        (r#"{"filePatterns": "*.txt"}"#, "plaintext", None, true),
        (r#"{"filePatterns": "*.txt"}"#, "", None, false),
        // With '/', relative to the workspace folder, `*` not crossing '/'.
        (
            r#"{"filePatterns": "notes/*.md"}"#,
            "",
            Some("/ws/notes/a.md"),
            true,
        ),
        (
            r#"{"filePatterns": "notes/*.md"}"#,
            "",
            Some("/ws/notes/old/a.md"),
            false,
        ),
        (
            r#"{"filePatterns": "notes/*.md"}"#,
            "",
            Some("/other/notes/a.md"),
            false,
        ),
        (
            r#"{"filePatterns": "notes/**/*.md"}"#,
            "",
            Some("/ws/notes/a.md"),
            true,
        ),
        (
            r#"{"filePatterns": "notes/**/*.md"}"#,
            "",
            Some("/ws/notes/old/a.md"),
            true,
        ),
        (
            r#"{"filePatterns": "**/*.txt"}"#,
            "",
            Some("/anywhere/a.txt"),
            true,
        ),
        (
            r#"{"filePatterns": "**/drafts/*"}"#,
            "",
            Some("/x/drafts/a"),
            true,
        ),
        (
            r#"{"filePatterns": "**/drafts/*"}"#,
            "",
            Some("/x/drafts/b/a"),
            false,
        ),
        (
            r#"{"filePatterns": "/srv/*.log"}"#,
            "",
            Some("/srv/a.log"),
            true,
        ),
        (
            r#"{"filePatterns": ["*.rst", "*.txt"]}"#,
            "",
            Some("/ws/a.txt"),
            true,
        ),
    ];
    for (input, language_id, path, expected) in cases {
        let (settings, warnings) = client(input);
        assert!(warnings.is_empty(), "{input}: {warnings:?}");
        assert_eq!(
            settings.applies_to(language_id, path.map(Path::new)),
            *expected,
            "{input} {language_id:?} {path:?}"
        );
    }
    // Hand-made settings with a broken glob: that glob is skipped.
    let settings = Settings {
        file_patterns: patterns(&["[", "*.txt"]),
        ..Settings::default()
    };
    assert!(settings.applies_to("", Some(Path::new("/a.txt"))));
}

#[test]
fn client_settings_are_unwrapped() {
    let cases: &[(&str, &str)] = &[
        (r#"{"precedent": {"k": 3}}"#, r#"{"k": 3}"#),
        (
            r#"{"precedent": {"k": 3}, "editor": {"tabSize": 4}}"#,
            r#"{"k": 3}"#,
        ),
        (r#"{"k": 3}"#, r#"{"k": 3}"#),
        (r#"{"precedent": null}"#, "null"),
        ("null", "null"),
        ("[1]", "[1]"),
        (
            r#"{"precedent.k": 3, "precedent.hints.severity": "hint", "editor.tabSize": 4}"#,
            r#"{"k": 3, "hints.severity": "hint"}"#,
        ),
        (
            r#"{"precedent": {"k": 3}, "precedent.k": 4, "precedent.lambda": 0.5}"#,
            r#"{"k": 3, "lambda": 0.5}"#,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(client_section(&json(input)), json(expected), "{input}");
    }
}

#[test]
fn the_workspace_file_may_be_absent_or_broken() {
    let empty = TempDir::new("absent");
    assert_eq!(read_workspace_file(&empty.0), Ok(None));
    assert_eq!(read_workspace_file(&empty.0.join("no/such/root")), Ok(None));
    let file_as_root = empty.0.join("file");
    std::fs::write(&file_as_root, "").unwrap();
    assert_eq!(read_workspace_file(&file_as_root), Ok(None));

    let dir = TempDir::new("directory");
    std::fs::create_dir(dir.0.join(WORKSPACE_FILE)).unwrap();
    let err = read_workspace_file(&dir.0).unwrap_err();
    let path = dir.0.join(WORKSPACE_FILE);
    assert!(
        err.starts_with(&format!("cannot read {}: ", path.display())),
        "{err}"
    );

    // (file contents, error after "<path>:")
    let cases: &[(&str, &str)] = &[
        (
            "k = 3\n\n[hints\nmin_ratio = 2\n",
            "3:7: invalid TOML: unclosed table, expected `]`",
        ),
        ("k = 3\nk = 4\n", "2:1: invalid TOML: duplicate key"),
        ("# é\nlambda = 0,5\n", "2:11: invalid TOML: "),
        ("\u{feff}k = \n", "1:5: invalid TOML: "),
        ("\u{0}", "1:2: invalid TOML: key with no value"),
    ];
    for (i, (text, expected)) in cases.iter().enumerate() {
        let dir = TempDir::with_file(&format!("broken{i}"), text);
        let path = dir.0.join(WORKSPACE_FILE);
        let err = read_workspace_file(&dir.0).unwrap_err();
        let prefix = format!("{}:{expected}", path.display());
        assert!(
            err.starts_with(&prefix),
            "{text:?}: {err}\nexpected {prefix}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    let dir = TempDir::with_file("utf8", "k = \"\u{0}\"\n");
    assert!(read_workspace_file(&dir.0).is_err());
    std::fs::write(dir.0.join(WORKSPACE_FILE), b"k = \"\xff\"\n").unwrap();
    let err = read_workspace_file(&dir.0).unwrap_err();
    assert!(err.starts_with("cannot read "), "{err}");
}

#[test]
fn toml_values_json_cannot_hold_are_reported() {
    let values = toml(
        "temperature = inf\nlambda = nan\nk = -inf\nsince = 1979-05-27T07:32:00Z\nlanguages = 'markdown'\n",
    );
    let (settings, warnings) = resolve(&[(TOML_ORIGIN, &values)]);
    assert_eq!(settings.languages, ["markdown"]);
    assert_eq!(
        warnings,
        [
            r#"precedent.toml at /ws: k = "-inf" ignored: expected an integer, got a string"#,
            r#"precedent.toml at /ws: lambda = "NaN" ignored: must be a finite number"#,
            r#"precedent.toml at /ws: since = "1979-05-27T07:32:00Z" ignored: unknown setting"#,
            r#"precedent.toml at /ws: temperature = "inf" ignored: must be a finite number"#,
        ]
    );
}

#[test]
fn a_layer_that_is_not_an_object_is_ignored() {
    for input in ["true", "3", r#""k=3""#, "[]"] {
        let (settings, warnings) = client(input);
        assert_eq!(settings, Settings::default());
        assert_eq!(warnings.len(), 1, "{input}");
        assert!(
            warnings[0].starts_with("client settings: settings "),
            "{input}"
        );
    }
}

#[test]
fn line_columns_count_characters() {
    let text = "a\né = 1\n";
    assert_eq!(line_column(text, 0), (1, 1));
    assert_eq!(line_column(text, 2), (2, 1));
    assert_eq!(line_column(text, 3), (2, 1)); // inside 'é': rounded down
    assert_eq!(line_column(text, 4), (2, 2));
    assert_eq!(line_column(text, 1000), (3, 1));
}

/// Every value the invariants of `Settings` promise: what the server relies on.
fn check_invariants(s: &Settings, context: &str) {
    let mut paths: Vec<&PathBuf> = s.index_paths.iter().chain(&s.corpus).collect();
    paths.extend(s.model_path.iter().chain(&s.corpus_index_path));
    for path in paths {
        assert!(path.is_absolute(), "{context}: {path:?}");
    }
    let k = &s.knn;
    assert!(k.k.is_none_or(|k| (1..=4096).contains(&k)), "{context}");
    assert!(
        k.lambda.is_none_or(|l| (0.0..=1.0).contains(&l)),
        "{context}"
    );
    assert!(
        k.temperature.is_none_or(|t| t > 0.0 && t.is_finite()),
        "{context}"
    );
    assert!((1..=50).contains(&s.completion.max_items), "{context}");
    assert!(s.completion.phrase_words <= 8, "{context}");
    for p in [
        s.completion.phrase_min_probability,
        s.hints.min_preferred_probability,
    ] {
        assert!((0.0..=1.0).contains(&p), "{context}");
    }
    assert!(
        s.hints.min_ratio >= 1.0 && s.hints.min_ratio.is_finite(),
        "{context}"
    );
    assert!(s.languages.iter().all(|l| !l.is_empty()), "{context}");
    assert!(
        s.file_patterns.as_slice().iter().all(|p| glob(p).is_ok()),
        "{context}"
    );
}

/// Deterministic pseudo-random JSON values (xorshift), nested a few levels.
struct Values(u64);

impl Values {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn value(&mut self, depth: u32) -> Value {
        const STRINGS: &[&str] = &[
            "", "~", "~/", "~/x", "/", ".", "..", "a/b", "**", "**/", "[", "{a,b}", "\u{feff}",
            "é/…", "../..", "NaN", "inf", "hint", "INFO", "markdown", "\\", "C:\\x", "*.txt",
            "/abs/p", "\u{0}",
        ];
        match self.next() % if depth == 0 { 6 } else { 8 } {
            0 => Value::Null,
            1 => Value::Bool(self.next() & 1 == 0),
            2 => Value::from(self.next() as i64 >> (self.next() % 64)),
            3 => Value::from(f64::from_bits(self.next())),
            4 => Value::from(
                [0.0, 0.5, 1.0, -1.0, 1e-40, 1e39, 4096.0, 1.5][self.next() as usize % 8],
            ),
            5 => Value::from(STRINGS[self.next() as usize % STRINGS.len()]),
            6 => Value::Array(
                (0..self.next() % 4)
                    .map(|_| self.value(depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..self.next() % 4)
                    .map(|_| {
                        let key = SETTINGS[self.next() as usize % SETTINGS.len()].key;
                        (key.to_owned(), self.value(depth - 1))
                    })
                    .collect(),
            ),
        }
    }
}

#[test]
fn no_input_makes_it_panic() {
    let mut values = Values(0x9e37_79b9_7f4a_7c15);
    let mut samples: Vec<Value> = (0..200).map(|_| values.value(3)).collect();
    samples.extend(
        [
            "null",
            "true",
            "0",
            "-1",
            "1",
            "0.5",
            "1e300",
            "-1e300",
            "18446744073709551615",
            "-9223372036854775808",
            "4096.0",
            "\"\"",
            "\"~\"",
            "[]",
            "[\"\"]",
            "[1]",
            "{}",
            "{\"enabled\": true}",
            "[[[[\"a\"]]]]",
        ]
        .map(json),
    );
    let mut keys: Vec<Value> = Vec::new();
    for key in SETTINGS
        .iter()
        .map(|s| s.key)
        .chain(["completion", "hover", "hints"])
        .chain(["precedent", "x.y.z", "_", "a__b", "hints."])
    {
        // Nested, flattened and snake_case spellings.
        let snake: String = key
            .chars()
            .flat_map(|c| match c.is_uppercase() {
                true => vec!['_', c.to_ascii_lowercase()],
                false => vec![c],
            })
            .collect();
        keys.push(json(&format!("{{{key:?}: 0}}")));
        keys.push(json(&format!("{{{snake:?}: 0}}")));
        if let Some((section, name)) = key.split_once('.') {
            keys.push(json(&format!("{{{section:?}: {{{name:?}: 0}}}}")));
        }
    }
    let check = |values: &Value| {
        // With and without a workspace folder and a home directory.
        for (base_dir, home) in [(Some("/ws"), Some(HOME)), (None, None)] {
            let layer = Layer {
                values,
                base_dir: base_dir.map(Path::new),
                origin: CLIENT,
            };
            let (settings, _) = resolve_with_home(&[layer], home.map(Path::new));
            check_invariants(&settings, &values.to_string());
            settings.applies_to("markdown", Some(Path::new("/ws/a.txt")));
        }
        client_section(values);
    };
    for sample in &samples {
        check(sample);
        // The sample at every key, in every spelling: replace the leaf 0.
        for template in &keys {
            let mut layer = template.clone();
            let mut leaf = &mut layer;
            while let Value::Object(map) = leaf {
                leaf = map.values_mut().next().unwrap();
            }
            *leaf = sample.clone();
            check(&layer);
        }
    }
}
