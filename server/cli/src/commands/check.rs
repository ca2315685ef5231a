//! `precedent check`: the editor's word-choice hints for files, for CI.

use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};
use precedent_engine::assist::{Assistant, HintOptions, IndexNews, OpenDocument, PlacedHint};
use precedent_engine::corpus;
use precedent_engine::editing::{self, HintThresholds};
use precedent_lsp::config::{self, Layer, Settings};
use serde_json::json;

use super::suggest::KnnArgs;
use crate::options::GlobalOptions;

/// Check files against the team's corpus: the editor's word-choice hints, for CI
///
/// Reads each file's prose as the index's documents were read, analyses it paragraph by
/// paragraph as the editor does, and prints one line per hint:
///
///   FILE:LINE:COLUMN: written → house word [kind] (how often the corpus writes each)
///
/// Kinds: stated-rule (log in → sign in, where the corpus says "Write sign in, not log
/// in"), spelling (organisation → organization), capitalisation (Github → GitHub) and
/// word-choice (dashboard → workspace, where the corpus neighbours agree and the corpus
/// writes the house word far more often). `precedent doctor --index I` lists the rules a
/// corpus states.
///
/// The index paths and hint thresholds come from the options, else from `precedent.toml`
/// in the current directory (`index_paths`, `[hints]`), as the editor reads them. With
/// `--format json`, each hint's `docs_url` is the team's page on its kind (`[hints]
/// docs_url`), or null.
///
/// Exit code: 0 when no file has a hint, 1 when any has, 2 on an error.
#[derive(clap::Args)]
#[command(
    verbatim_doc_comment,
    after_help = "Example: precedent check --index team.index docs/"
)]
pub struct Args {
    /// Files or folders to check (Markdown, text, rst, AsciiDoc, HTML)
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Index of the team's corpus (repeatable; default: index_paths of precedent.toml)
    #[arg(long = "index", value_name = "FILE")]
    indexes: Vec<PathBuf>,

    /// Output: one line per hint, or one JSON array
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,

    #[command(flatten)]
    knn: KnnArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

/// `precedent check` found hints: exit code 1, not an error message.
#[derive(Debug)]
pub struct HintsFound(pub usize);

impl std::fmt::Display for HintsFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} hint{}", self.0, if self.0 == 1 { "" } else { "s" })
    }
}

impl std::error::Error for HintsFound {}

pub fn run(global: &GlobalOptions, args: &Args) -> anyhow::Result<()> {
    let settings = settings()?;
    let index_paths = if args.indexes.is_empty() {
        settings.index_paths.clone()
    } else {
        args.indexes.clone()
    };
    if index_paths.is_empty() {
        anyhow::bail!(
            "no index: pass --index FILE (built with `precedent index`), or set index_paths in {}",
            config::WORKSPACE_FILE
        );
    }
    let assistant = Assistant::new(global.load_model()?);
    let (corpora, news) = assistant.corpora(&index_paths, &args.knn.overrides());
    for event in news {
        if let IndexNews::Problem { error, .. } = event {
            anyhow::bail!("{error}");
        }
    }
    // Read the files as the first index's documents were read, as the editor does.
    let corpus_config = corpora.indexes[0].encoding.corpus_config();
    let documents = corpus::read_corpus(&args.paths, &corpus_config)?;
    for warning in &documents.warnings {
        tracing::warn!("{warning}");
    }
    let options = HintOptions {
        thresholds: HintThresholds {
            min_preferred_probability: settings.hints.min_preferred_probability,
            min_ratio: settings.hints.min_ratio,
            max_fluency_loss: settings.hints.max_fluency_loss,
            ..HintThresholds::default()
        },
        max_per_document: settings.hints.max_per_document,
    };
    let bar = ProgressBar::new(documents.documents.len() as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} files {wide_msg}")
            .expect("a valid template"),
    );
    let mut found = 0;
    let mut report = Vec::new();
    for document in &documents.documents {
        bar.set_message(document.path().display().to_string());
        let path = document.path();
        // The editor's path: the file's source text (decoded as the corpus reader decoded
        // it) read as an open document.
        let bytes = std::fs::read(path)?;
        let source = corpus::source_text(&bytes)
            .map_err(|reason| anyhow::anyhow!("{}: {reason}", path.display()))?;
        let open = OpenDocument::new(
            path.display().to_string(),
            path.to_path_buf(),
            document.format(),
            0,
            source.into_owned(),
            None,
        );
        let hints = assistant
            .document_hints(&open, &corpora, &options, &|_, _| false, &|| false)
            .ok_or_else(|| {
                anyhow::anyhow!("the model failed on {} (see the log)", path.display())
            })?;
        found += hints.len();
        for placed in hints {
            let hint = &placed.hint;
            let path = path.display();
            let docs_url = settings.hints.docs_url.as_ref();
            let docs_url = docs_url.and_then(|docs| docs.href(hint.kind));
            match args.format {
                OutputFormat::Text => bar.suspend(|| println!("{}", hint_line(&path, &placed))),
                OutputFormat::Json => report.push(json!({
                    "path": path.to_string(),
                    "line": placed.position.line,
                    "column": placed.position.column,
                    "written": hint.written,
                    "preferred": hint.preferred,
                    "kind": hint.kind.name(),
                    "message": editing::hint_message(hint),
                    "written_count": hint.written_count,
                    "preferred_count": hint.preferred_count,
                    "docs_url": docs_url.map(|href| href.as_str()),
                    "evidence": hint.support.iter().map(|s| json!({
                        "path": s.path,
                        "line": s.line,
                        "sentence": s.sentence,
                    })).collect::<Vec<_>>(),
                })),
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if args.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    eprintln!(
        "{} file{} checked, {found} hint{}",
        documents.documents.len(),
        if documents.documents.len() == 1 {
            ""
        } else {
            "s"
        },
        if found == 1 { "" } else { "s" }
    );
    if found > 0 {
        return Err(HintsFound(found).into());
    }
    Ok(())
}

/// One hint as a line: "FILE:LINE:COLUMN: written → house word [kind] message".
pub fn hint_line(path: &impl std::fmt::Display, placed: &PlacedHint) -> String {
    let hint = &placed.hint;
    format!(
        "{path}:{}:{}: {} \u{2192} {} [{}] {}",
        placed.position.line,
        placed.position.column,
        hint.written,
        hint.preferred,
        hint.kind.name(),
        editing::hint_message(hint),
    )
}

/// The settings of the current directory's `precedent.toml`, or the defaults.
fn settings() -> anyhow::Result<Settings> {
    let root = std::env::current_dir()?;
    let Some(values) = config::read_workspace_file(&root).map_err(anyhow::Error::msg)? else {
        return Ok(Settings::default());
    };
    let origin = format!("{} at {}", config::WORKSPACE_FILE, root.display());
    let layer = Layer {
        values: &values,
        base_dir: Some(&root),
        origin: &origin,
    };
    let (settings, warnings) = Settings::resolve(&[layer]);
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(settings)
}
