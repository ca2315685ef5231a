//! `precedent doctor`: where precedent looks for ONNX Runtime and the model, and whether each loads.

use std::fmt::Display;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use precedent_engine::datastore::Datastore;
use precedent_engine::indexer::{self, Encoding};
use precedent_engine::lexicon::SentenceRef;
use precedent_engine::lm::{LanguageModel, Manifest, ScoreOptions, TextTokenizer};
use precedent_engine::milvus::{MilvusIndex, MilvusLocation};
use precedent_engine::paths::DataDir;
use precedent_engine::runtime::{self, LibraryLocation, Runtime};
use precedent_engine::stated_rules::StatedRules;

use crate::options::GlobalOptions;

/// Check that ONNX Runtime and the model are installed and load, and that indexes are sound
///
/// Shows where precedent looks for each (data directory, ORT_DYLIB_PATH, --model), loads them,
/// summarises the model's manifest, verifies its fingerprint and runs one sample sentence.
/// With --index, also reads every byte of each index: section checksums (keys and graph
/// included), finite keys, and whether it was built for the model in use.
/// Exits with status 1 if any check fails; each failure says how to fix it.
#[derive(clap::Args)]
#[command(
    verbatim_doc_comment,
    after_help = "Example: precedent doctor --index team.index"
)]
pub struct Args {
    /// An index file to verify, or a Milvus index (milvus://HOST:PORT/COLLECTION) to open and
    /// search once (repeatable)
    #[arg(long = "index", value_name = "FILE|URL")]
    indexes: Vec<PathBuf>,
}

const SAMPLE: &str = "The capital of France is Paris, and the capital of Italy is Rome.";

/// Prints one line per check and counts the failures.
struct Report<W: Write> {
    out: W,
    failures: usize,
}

impl<W: Write> Report<W> {
    fn line(&mut self, label: &str, text: impl Display) -> std::io::Result<()> {
        writeln!(self.out, "{label:<16} {text}")
    }

    /// Prints `ok: <summary>` or `FAILED: <error>` and returns the value on success.
    fn check<T, E: Display>(
        &mut self,
        label: &str,
        result: Result<T, E>,
        summary: impl FnOnce(&T) -> String,
    ) -> std::io::Result<Option<T>> {
        match result {
            Ok(value) => {
                let text = summary(&value);
                self.line(label, format_args!("ok: {text}"))?;
                Ok(Some(value))
            }
            Err(error) => {
                self.failures += 1;
                self.line(label, format_args!("FAILED: {error}"))?;
                Ok(None)
            }
        }
    }
}

pub fn run(global: &GlobalOptions, args: &Args) -> anyhow::Result<()> {
    let mut report = Report {
        out: std::io::stdout().lock(),
        failures: 0,
    };

    let data_dir = report.check("data directory", DataDir::from_env(), |dir| {
        format!("{} ({})", dir.root().display(), dir.source())
    })?;

    let runtime = check_runtime(&mut report)?;

    let model_dir = match &global.model {
        Some(dir) => Some(dir.clone()),
        None => data_dir.map(|dir| dir.default_model_dir()),
    };
    if let Some(model_dir) = model_dir {
        let origin = if global.model.is_some() {
            "from --model"
        } else {
            "the default model"
        };
        report.line("model", format_args!("{} ({origin})", model_dir.display()))?;
        let fingerprint = check_model(&mut report, global, runtime.as_ref(), &model_dir)?;
        for index in &args.indexes {
            check_index(&mut report, index, fingerprint.as_deref())?;
        }
    }

    if report.failures == 0 {
        writeln!(report.out, "\nAll checks passed.")?;
        Ok(())
    } else {
        anyhow::bail!(
            "{} check(s) failed; each FAILED line above says how to fix it",
            report.failures
        )
    }
}

fn check_runtime(report: &mut Report<impl Write>) -> anyhow::Result<Option<Runtime>> {
    let Some(location) = report.check("runtime", LibraryLocation::from_env(), |location| {
        format!(
            "looking at {} ({})",
            location.path.display(),
            location.source
        )
    })?
    else {
        return Ok(None);
    };
    let started = Instant::now();
    let runtime = report.check("  loads", runtime::init_from(&location), |runtime| {
        let millis = started.elapsed().as_secs_f64() * 1e3;
        format!("in {millis:.0} ms ({})", build_version(runtime))
    })?;
    Ok(runtime)
}

/// ONNX Runtime's build description without the long compiler flags.
fn build_version(runtime: &Runtime) -> String {
    let info = runtime.build_info();
    let without_flags = info.split(", cmake cxx flags").next().unwrap_or(info);
    without_flags
        .trim_start_matches("ORT Build Info: ")
        .to_string()
}

/// Checks the model; returns its fingerprint when its manifest reads.
fn check_model(
    report: &mut Report<impl Write>,
    global: &GlobalOptions,
    runtime: Option<&Runtime>,
    dir: &Path,
) -> anyhow::Result<Option<String>> {
    let Some(manifest) = report.check("  manifest", Manifest::read(dir), summarise)? else {
        return Ok(None);
    };
    let fingerprint = Some(manifest.fingerprint.clone());
    report.check("  files", manifest.compute_fingerprint(dir), |fingerprint| {
        let sizes = [manifest.onnx_path(dir), manifest.tokenizer_path(dir)]
            .iter()
            .map(|path| format!("{} {}", path.file_name().unwrap_or_default().to_string_lossy(), file_size(path)))
            .collect::<Vec<_>>()
            .join(", ");
        if *fingerprint == manifest.fingerprint {
            format!("{sizes}; fingerprint matches the manifest")
        } else {
            format!("{sizes}; WARNING: fingerprint {fingerprint} differs from the manifest's (files changed since the model was built)")
        }
    })?;
    report.check(
        "  tokenizer",
        TextTokenizer::from_file(&manifest.tokenizer_path(dir), &manifest),
        |tokenizer| format!("{} tokens", tokenizer.inner().get_vocab_size(true)),
    )?;
    let Some(runtime) = runtime else {
        report.line("  session", "skipped: ONNX Runtime did not load")?;
        return Ok(fingerprint);
    };
    let started = Instant::now();
    let loaded = LanguageModel::load(runtime, dir, global.session_options());
    let elapsed = started.elapsed();
    let Some(model) = report.check("  session", loaded, |_| {
        format!(
            "loaded in {:.0} ms ({} threads)",
            elapsed.as_secs_f64() * 1e3,
            global.threads
        )
    })?
    else {
        return Ok(fingerprint);
    };
    report.check(
        "  sample",
        model.score_text(SAMPLE, ScoreOptions::default()),
        |scores| {
            let perplexity = scores.perplexity().unwrap_or(f64::NAN);
            format!(
                "perplexity {perplexity:.2} on {:?} ({} tokens)",
                SAMPLE,
                scores.tokens.len()
            )
        },
    )?;
    Ok(fingerprint)
}

/// Opens `path` as an index for the model with `fingerprint`, then reads all of it.
fn check_index(
    report: &mut Report<impl Write>,
    path: &Path,
    fingerprint: Option<&str>,
) -> anyhow::Result<()> {
    report.line("index", path.display())?;
    if let Some(location) = MilvusLocation::from_path(path) {
        return check_milvus_index(report, location, fingerprint);
    }
    let Some(store) = report.check("  opens", Datastore::open(path, fingerprint), |store| {
        format!(
            "{} entries, {} documents, {}, {}",
            store.len(),
            store.document_count(),
            describe_metadata(store.metadata()),
            file_size(path)
        )
    })?
    else {
        return Ok(());
    };
    let started = Instant::now();
    report.check("  verified", store.verify(), |()| {
        format!(
            "every checksum matches and every key is finite ({:.0} ms)",
            started.elapsed().as_secs_f64() * 1e3
        )
    })?;
    list_stated_rules(report, &store)
}

/// Rules listed in full; more are counted.
const RULES_LISTED: usize = 20;

/// The word choices the corpus states as rules, which hints apply: what a team lead checks
/// the style guide was read as.
fn list_stated_rules(report: &mut Report<impl Write>, store: &Datastore) -> anyhow::Result<()> {
    let sentences = || {
        (0..store.document_count() as u32).flat_map(move |document| {
            let count = store.document(document).map_or(0, |d| d.sentence_count);
            (0..count).filter_map(move |sentence| {
                let text = store.sentence(document, sentence)?.text;
                Some((SentenceRef { document, sentence }, text))
            })
        })
    };
    let rules = StatedRules::from_corpus_sentences(sentences);
    let rules = rules.rules();
    report.line(
        "  stated rules",
        match rules.len() {
            0 => "none (a sentence like \"Write select, not click\" states one)".to_string(),
            n => format!("{n} (the corpus writes each term so many times outside its rules)"),
        },
    )?;
    for rule in rules.iter().take(RULES_LISTED) {
        report.line(
            "",
            format_args!(
                "  \u{201c}{}\u{201d} ({}) \u{2192} \u{201c}{}\u{201d} ({})",
                rule.avoided, rule.avoided_count, rule.house, rule.house_count
            ),
        )?;
    }
    if rules.len() > RULES_LISTED {
        report.line(
            "",
            format_args!("  … and {} more", rules.len() - RULES_LISTED),
        )?;
    }
    Ok(())
}

/// Connects to a Milvus index, reads its catalog, and runs one search.
fn check_milvus_index(
    report: &mut Report<impl Write>,
    location: Result<MilvusLocation, String>,
    fingerprint: Option<&str>,
) -> anyhow::Result<()> {
    let opened = location
        .map_err(anyhow::Error::msg)
        .and_then(|location| Ok(MilvusIndex::open(&location, fingerprint)?));
    let Some(index) = report.check("  opens", opened, |index| {
        format!(
            "{} entries, {} documents, {}",
            index.len(),
            index.document_count(),
            describe_metadata(index.metadata())
        )
    })?
    else {
        return Ok(());
    };
    let query = vec![0.0f32; index.key_dim()];
    let started = Instant::now();
    let searched = index.search_batch(&[&query], 8);
    report.check("  searches", searched, |found| {
        format!(
            "{} neighbours in {:.0} ms",
            found.first().map_or(0, Vec::len),
            started.elapsed().as_secs_f64() * 1e3
        )
    })?;
    Ok(())
}

/// How an index's keys were made and whether its parameters were tuned.
fn describe_metadata(metadata: &serde_json::Value) -> String {
    let encoding = Encoding::from_metadata(metadata);
    let tuned = match (
        metadata.get("knn"),
        metadata.get(indexer::TUNED_ON_OLDER_CORPUS),
    ) {
        (None, _) => "default parameters",
        (Some(_), Some(serde_json::Value::Bool(true))) => {
            "parameters tuned on an older corpus (`precedent eval --tune --save` refits them)"
        }
        (Some(_), _) => "tuned parameters",
    };
    format!("keys by {}, {tuned}", encoding.keys.name())
}

fn summarise(manifest: &Manifest) -> String {
    format!(
        "{} ({}), {} layers, {} KV heads x {}, vocabulary {}, key dim {}, context {} tokens, {}",
        manifest.name,
        manifest.format,
        manifest.num_layers,
        manifest.num_kv_heads,
        manifest.head_dim,
        manifest.vocab_size,
        manifest.key_dim,
        manifest.max_positions,
        if manifest.add_bos {
            "BOS prepended"
        } else {
            "no BOS"
        },
    )
}

fn file_size(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(metadata) => format!("{:.1} MB", metadata.len() as f64 / 1e6),
        Err(_) => "missing".to_string(),
    }
}
