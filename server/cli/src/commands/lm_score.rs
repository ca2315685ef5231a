//! `precedent lm-score FILE`: per-position scores of the base language model, as JSON lines.
//!
//! Perplexity and fidelity checks stand on this output; keep its keys stable.

use std::io::{BufWriter, Read, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use precedent_engine::lm::ScoreOptions;
use serde::Serialize;

use crate::options::GlobalOptions;

/// Score every token of a file with the language model alone (no corpus)
///
/// Prints one JSON object per line for every token position i >= 1:
/// {"index": i, "token_id": <id of token i>, "logprob": <natural log p(token i | tokens before)>,
/// "top1": <the id the model ranks first at position i>}.
/// The file is tokenized exactly as the model does and run as one window when it fits the
/// model's context; longer files are scored in sliding windows, each token once.
/// The perplexity goes to stderr.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// UTF-8 text file to score ("-" reads stdin)
    file: PathBuf,

    /// Longest window in tokens [default: the model's max_positions]
    #[arg(long, value_name = "TOKENS")]
    window: Option<usize>,

    /// How far consecutive windows advance [default: half the window]
    #[arg(long, value_name = "TOKENS")]
    stride: Option<usize>,
}

/// One output line; the field order is the documented key order.
#[derive(Serialize)]
struct Line {
    index: usize,
    token_id: u32,
    logprob: f64,
    top1: u32,
}

pub fn run(global: &GlobalOptions, args: &Args) -> anyhow::Result<()> {
    let text = read_text(&args.file)?;
    let model = global.load_model()?;
    let options = ScoreOptions {
        window: args.window,
        stride: args.stride,
        ..ScoreOptions::default()
    };
    let scores = model.score_text(&text, options)?;

    let mut out = BufWriter::new(std::io::stdout().lock());
    for position in &scores.positions {
        let line = Line {
            index: position.index,
            token_id: position.token_id,
            logprob: position.logprob,
            top1: position.top1,
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    match scores.perplexity() {
        Some(perplexity) => eprintln!(
            "{} tokens scored, perplexity {perplexity:.4}",
            scores.positions.len()
        ),
        None => eprintln!("nothing to score: the file has fewer than 2 tokens"),
    }
    Ok(())
}

fn read_text(file: &PathBuf) -> anyhow::Result<String> {
    let bytes = if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read stdin")?;
        bytes
    } else {
        std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?
    };
    String::from_utf8(bytes).map_err(|error| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (invalid byte at offset {})",
            file.display(),
            error.utf8_error().valid_up_to()
        )
    })
}
