//! `precedent index`: builds (or updates) a kNN-LM index from a folder of documents.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use precedent_engine::datastore::Datastore;
use precedent_engine::indexer::{self, IndexOptions, IndexProgress, KeyContext};
use precedent_engine::milvus::{self, MilvusLocation};
use precedent_engine::paths::DataDir;

use crate::options::GlobalOptions;

/// Index documents into a datastore that precedent's suggestions and evidence draw on
///
/// Reads Markdown, plain text, reStructuredText, AsciiDoc and HTML files under the given
/// folders (honouring .gitignore), extracts their prose, runs it through the model and
/// stores one entry per token: the model's key for the context and the token that followed.
/// Re-running over a changed corpus re-encodes only new and changed documents. The index is
/// one file, replaced atomically: an interrupted run leaves the previous index usable.
///
/// Example: precedent index docs/ --out team.index
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Folders or files to index
    #[arg(required = true, value_name = "PATH")]
    pub inputs: Vec<PathBuf>,
    /// Index file to write, or a Milvus collection: milvus://HOST:PORT/COLLECTION
    /// (milvuss:// for TLS; the token, if the engine wants one, in PRECEDENT_MILVUS_TOKEN)
    #[arg(long, short, value_name = "FILE|URL")]
    pub out: PathBuf,
    /// Leave out files matching this glob (.gitignore syntax; repeatable)
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Longest context of one model run, in tokens
    #[arg(long, default_value_t = IndexOptions::default().window)]
    pub window: usize,
    /// How far consecutive windows advance (each token keeps at least window − stride tokens of context)
    #[arg(long, default_value_t = IndexOptions::default().stride)]
    pub stride: usize,
    /// What context each corpus key is computed from: "windows" of the document (the
    /// document before the token), or "blocks" (the token's paragraph from its start, as the
    /// editor analyses a document)
    #[arg(long, value_parser = parse_key_context, default_value = IndexOptions::default().keys.name())]
    pub keys: KeyContext,
    /// Keep the text of inline code (`x` in Markdown, <code> in HTML...) in the prose
    /// instead of dropping it; recorded in the index, so `eval` reads held-out text alike
    #[arg(long)]
    pub keep_inline_code: bool,
    /// Re-encode every document even when the previous index has it
    #[arg(long)]
    pub full: bool,
    /// Replace --out even if it is not a precedent index (never a folder or device)
    #[arg(long)]
    pub force: bool,
}

/// On Ctrl-C or SIGTERM: removes what this build wrote so far (the previous index stays as
/// it was), says so with `message`, and exits with 130 or 143, as a shell reports those
/// signals.
fn clean_up_on_interrupt(out: PathBuf, message: String) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        let code = runtime.block_on(async {
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok()?;
            tokio::select! {
                result = tokio::signal::ctrl_c() => result.ok().map(|()| 130),
                _ = terminate.recv() => Some(143),
            }
        });
        let Some(code) = code else {
            return;
        };
        indexer::clean_up_interrupted(&out);
        eprintln!("\ninterrupted: {message}");
        #[allow(
            clippy::exit,
            reason = "the build is abandoned mid-way from another thread; its files are removed above"
        )]
        std::process::exit(code);
    });
}

fn parse_key_context(name: &str) -> Result<KeyContext, String> {
    KeyContext::from_name(name)
        .ok_or_else(|| format!("{name:?}: expected \"windows\" or \"blocks\""))
}

pub fn run(global: &GlobalOptions, args: &Args) -> anyhow::Result<()> {
    let model = global.load_model()?;
    let mut options = IndexOptions {
        window: args.window,
        stride: args.stride,
        keys: args.keys,
        full_rebuild: args.full,
        replace_other_file: args.force,
        ..IndexOptions::default()
    };
    options.corpus.exclude = args.exclude.clone();
    options.corpus.keep_inline_code = args.keep_inline_code;
    let milvus = match MilvusLocation::from_path(&args.out) {
        Some(location) => Some(location.map_err(anyhow::Error::msg)?),
        None => None,
    };
    // A Milvus index is built as a file first (the working file, which also makes the next
    // run incremental), then published to the collection document by document.
    let file = match &milvus {
        Some(location) => working_file(location)?,
        None => args.out.clone(),
    };
    let interrupted = match &milvus {
        Some(location) => {
            format!("{location} keeps the documents it had; run the same command again to finish")
        }
        None => format!(
            "nothing was written to {} (it is as it was)",
            file.display()
        ),
    };
    clean_up_on_interrupt(file.clone(), interrupted);
    let mut progress = Progress::new();
    let report = indexer::build_index(&model, &args.inputs, &file, &options, &mut |p| {
        progress.update(p)
    })
    .with_context(|| format!("indexing into {} failed", file.display()))?;
    progress.finish();
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    let rate = report.encoded_tokens as f64 / report.encode_seconds.max(1e-9);
    println!(
        "indexed {} documents ({} reused, {} removed): {} entries, {} tokens encoded in {:.1} s ({:.0} tokens/s), graph {:.1} s",
        report.documents,
        report.reused_documents,
        report.removed_documents,
        report.entries,
        report.encoded_tokens,
        report.encode_seconds,
        rate,
        report.graph_seconds
    );
    let per_entry = report.file_bytes as f64 / report.entries.max(1) as f64;
    println!(
        "{}: {:.1} MB, {:.0} bytes per entry",
        file.display(),
        report.file_bytes as f64 / 1e6,
        per_entry
    );
    if let Some(location) = &milvus {
        publish(&file, location, &model.manifest().fingerprint)?;
    }
    Ok(())
}

/// Where the working file of a Milvus index lives: precedent's data directory.
fn working_file(location: &MilvusLocation) -> anyhow::Result<PathBuf> {
    let folder = DataDir::from_env()?.root().join("milvus");
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let name = format!(
        "{}-{}-{}.index",
        location.host, location.port, location.collection
    );
    Ok(folder.join(name.replace(['/', ':'], "_")))
}

/// Brings the collection at `location` up to date with the working file.
fn publish(file: &Path, location: &MilvusLocation, fingerprint: &str) -> anyhow::Result<()> {
    let store = Datastore::open(file, Some(fingerprint))?;
    eprintln!("publishing to {location}");
    let mut last_line: Option<Instant> = None;
    let report = milvus::publish(&store, location, &mut |done, total| {
        let due = last_line.is_none_or(|at| at.elapsed() > Duration::from_secs(5));
        if done == total || due {
            eprintln!("publishing: {done}/{total} documents");
            last_line = Some(Instant::now());
        }
    })
    .with_context(|| {
        format!("publishing to {location} failed (run the command again to finish)")
    })?;
    println!(
        "{location}: {} documents added, {} kept, {} removed{}; {} entries written in {:.1} s ({:.0} entries/s); {} entries in all",
        report.added,
        report.kept,
        report.removed,
        if report.created { " (new collection)" } else { "" },
        report.entries_written,
        report.seconds,
        report.entries_written as f64 / report.seconds.max(1e-9),
        report.entries,
    );
    Ok(())
}

/// A progress bar on a terminal, plain lines every few seconds otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    last_line: Instant,
    started: Instant,
}

impl Progress {
    fn new() -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{msg:>9} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            bar
        });
        Progress {
            bar,
            last_line: Instant::now(),
            started: Instant::now(),
        }
    }

    fn update(&mut self, progress: IndexProgress) {
        let (label, done, total) = match progress {
            IndexProgress::CorpusRead { documents, tokens } => {
                eprintln!("read {documents} documents, {tokens} tokens to index");
                return;
            }
            IndexProgress::Encoding {
                tokens_done,
                tokens_total,
            } => ("encoding", tokens_done, tokens_total),
            IndexProgress::Graph { done, total } => ("graph", done, total),
        };
        match &self.bar {
            Some(bar) => {
                if bar.message() != label {
                    bar.reset();
                    bar.set_message(label);
                }
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
            None if self.last_line.elapsed() > Duration::from_secs(5) || done == total => {
                let seconds = self.started.elapsed().as_secs_f64();
                eprintln!(
                    "{label}: {done}/{total} ({:.0}/s)",
                    done as f64 / seconds.max(1e-9)
                );
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
