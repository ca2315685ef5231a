//! `precedent demo`: sets everything up on first use, indexes a small sample of house-style
//! documents and shows suggestions with their evidence next to the base model's.

use std::path::Path;

use anyhow::Context;
use precedent_engine::indexer::{self, IndexOptions};
use precedent_engine::paths::DataDir;

use super::setup;
use precedent_engine::assist::{Assistant, Corpora, HintOptions, OpenDocument};
use precedent_engine::corpus::Format;
use precedent_engine::editing::HintThresholds;

use super::check;
use super::suggest::{self, KnnArgs};
use crate::options::GlobalOptions;

/// Set up (first run only), index a sample corpus and show suggestions with evidence
///
/// The sample corpus is three short documents of a made-up product's house style (it says
/// "select", never "click"; "sign in", never "log in"). For each sample sentence the demo
/// prints the base model's next words, then the kNN-LM's, with the corpus sentences behind them.
/// Then it checks a new paragraph that breaks the house style, as the editor and
/// `precedent check` do, and prints its hints.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Index this folder instead of the built-in sample
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<std::path::PathBuf>,
    /// Sentences to continue (default: built-in samples)
    #[arg(value_name = "TEXT")]
    pub texts: Vec<String>,
}

const SAMPLE_CORPUS: &[(&str, &str)] = &[
    (
        "getting-started.md",
        include_str!("../../demo/house-style/getting-started.md"),
    ),
    (
        "writing-guide.md",
        include_str!("../../demo/house-style/writing-guide.md"),
    ),
    (
        "release-notes.md",
        include_str!("../../demo/house-style/release-notes.md"),
    ),
];

/// A new page that breaks the five rules of the sample's writing guide.
const SAMPLE_PAGE: &str = "# Sharing reports\n\n\
Lumen makes it easy to share your work with your team. This guide explains how to share a \
report.\n\n\
To share a report, click the report in the sidebar, and then click **Share**. If you can't \
log in, ask your dashboard administrator to check your account. Your organisation can see \
every shared report. Shares that you cancelled stay in the trash for thirty days.\n";

const SAMPLE_TEXTS: &[&str] = &[
    "To rename a report, right-click the report in the sidebar and",
    "If you forget your password, you will not be able to",
    "Reports stay in the trash for",
    "To share the report with your team,",
];

pub fn run(global: &GlobalOptions, args: &Args) -> anyhow::Result<()> {
    let data = DataDir::from_env()?;
    if global.model.is_none() {
        setup::install(data.root(), false, None)?;
    }
    let model = global.load_model()?;
    let demo_dir = data.root().join("demo");
    let corpus_dir = match &args.corpus {
        Some(dir) => dir.clone(),
        None => write_sample_corpus(&demo_dir.join("house-style"))?,
    };
    let index_path = demo_dir.join("demo.index");
    eprintln!("indexing {} ...", corpus_dir.display());
    let report = indexer::build_index(
        &model,
        std::slice::from_ref(&corpus_dir),
        &index_path,
        &IndexOptions::default(),
        &mut |_| {},
    )
    .with_context(|| format!("indexing {} failed", corpus_dir.display()))?;
    println!(
        "Indexed {} documents from {} into {}: {} entries ({} tokens encoded).\n",
        report.documents,
        corpus_dir.display(),
        index_path.display(),
        report.entries,
        report.encoded_tokens
    );
    let assistant = Assistant::new(model);
    let corpora = suggest::open_corpora(&assistant, &index_path, &KnnArgs::default())?;
    println!(
        "kNN-LM: k = {}, λ = {}, T = {} (untuned defaults; `precedent eval --tune --save` fits them to a corpus)\n",
        corpora.params.k, corpora.params.lambda, corpora.params.temperature
    );
    let texts: Vec<&str> = if args.texts.is_empty() {
        SAMPLE_TEXTS.to_vec()
    } else {
        args.texts.iter().map(String::as_str).collect()
    };
    for text in texts {
        let suggestions = suggest::suggest_for_text(&assistant, &corpora, text, 5)?;
        print!("{}", suggest::render(text, &suggestions));
        println!();
    }
    if args.corpus.is_none() && args.texts.is_empty() {
        show_hints(
            &assistant,
            &corpora,
            &demo_dir.join("sharing.md"),
            &index_path,
        )?;
    }
    Ok(())
}

/// Writes [`SAMPLE_PAGE`] to `page` and prints its hints, as `precedent check` would.
fn show_hints(
    assistant: &Assistant,
    corpora: &Corpora,
    page: &Path,
    index_path: &Path,
) -> anyhow::Result<()> {
    std::fs::write(page, SAMPLE_PAGE)
        .with_context(|| format!("cannot write {}", page.display()))?;
    let document = OpenDocument::new(
        page.display().to_string(),
        page.to_path_buf(),
        Format::Markdown,
        0,
        SAMPLE_PAGE.to_string(),
        None,
    );
    let options = HintOptions {
        thresholds: HintThresholds::default(),
        max_per_document: usize::MAX,
    };
    let hints = assistant
        .document_hints(&document, corpora, &options, &|_, _| false, &|| false)
        .context("the model failed on the sample page (see the log)")?;
    println!("House-style hints on a new page, {}:\n", page.display());
    for line in SAMPLE_PAGE.lines().filter(|line| !line.is_empty()) {
        println!("    {line}");
    }
    println!();
    for placed in &hints {
        println!("{}", check::hint_line(&page.display(), placed));
    }
    println!(
        "\nThe same in CI: precedent check --index {} {}",
        index_path.display(),
        page.display()
    );
    Ok(())
}

fn write_sample_corpus(dir: &Path) -> anyhow::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for (name, text) in SAMPLE_CORPUS {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("cannot write {}", dir.join(name).display()))?;
    }
    Ok(dir.to_path_buf())
}
