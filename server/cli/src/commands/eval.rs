//! `precedent eval`: held-out perplexity and hit rates of the base LM and of kNN-LM.

use std::path::PathBuf;

use anyhow::Context;
use precedent_engine::evaluate::{self, EvalOptions};
use precedent_engine::indexer::{Encoding, KeyContext};
use precedent_engine::knnlm::KnnParams;

use super::suggest::{cannot_use, open_index, KnnArgs};
use crate::options::GlobalOptions;

/// Measure how much the index improves the model on held-out documents
///
/// Scores the held-out files (same formats as `precedent index`) with the base LM and with
/// kNN-LM on the same tokens and reports both perplexities and the next-word hit rates: at
/// every position where a new word starts, is the word's first token the top-ranked (top 1)
/// or among the five top-ranked (top 5) tokens? With --tune, λ and T (and a λ table over the
/// nearest distance) are fitted on half of the held-out documents and the figures are
/// reported on the other half; --save stores the fitted values in the index, where
/// `suggest` and the server pick them up.
///
/// Example: precedent eval --index team.index held-out/ --tune --save
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// Held-out folders or files (not part of the index)
    #[arg(required = true, value_name = "PATH")]
    pub held_out: Vec<PathBuf>,
    /// Index file built by `precedent index`
    #[arg(long, value_name = "FILE")]
    pub index: PathBuf,
    /// Fit λ and T on half of the held-out documents, report on the other half
    #[arg(long)]
    pub tune: bool,
    /// With --tune: store the fitted values in the index
    #[arg(long, requires = "tune")]
    pub save: bool,
    #[command(flatten)]
    pub knn: KnnArgs,
    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &GlobalOptions, args: &Args) -> anyhow::Result<()> {
    let model = global.load_model()?;
    let corpus =
        open_index(&model, &args.index, &args.knn).with_context(|| cannot_use(&args.index))?;
    // Held-out text is read and windowed as the index's documents were.
    let encoding = Encoding::from_metadata(corpus.metadata());
    let options = EvalOptions {
        corpus: encoding.corpus_config(),
        window: encoding.window,
        stride: encoding.stride,
        keys: encoding.keys,
        tune: args.tune,
    };
    let report = evaluate::evaluate(
        &model,
        &corpus,
        &corpus.params,
        &args.held_out,
        &options,
        &mut |done, total| {
            eprint!("\rscored {done}/{total} held-out documents");
        },
    )?;
    eprintln!();
    let figures = [report.base_ppl, report.knn_ppl, report.editor_view.knn_ppl];
    if figures.iter().any(|f| !f.is_finite()) {
        anyhow::bail!(
            "the perplexity came out as {} (base {}): the index or the model gives non-finite \
             numbers; `precedent doctor --index {}` checks the index",
            report.knn_ppl,
            report.base_ppl,
            args.index.display()
        );
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "held-out: {} documents, {} tokens ({} word starts)",
            report.documents, report.tokens, report.words
        );
        if let Some(n) = report.tuned_on_tokens {
            println!("tuned on {n} tokens of the other half (λ and T grid search)");
        }
        let scored = match encoding.keys {
            KeyContext::Windows => "in the index's windows",
            KeyContext::Blocks => "block by block, as the index and the editor read it",
        };
        println!(
            "perplexity  base {:.3}   kNN-LM {:.3}   ratio {:.4}   ({scored})",
            report.base_ppl, report.knn_ppl, report.ratio
        );
        if encoding.keys == KeyContext::Windows {
            let editor = &report.editor_view;
            println!(
                "as the editor reads it (each paragraph from its start, {} tokens): base {:.3}   kNN-LM {:.3}   ratio {:.4}",
                editor.tokens, editor.base_ppl, editor.knn_ppl, editor.ratio
            );
        }
        for variant in &report.variants {
            println!(
                "            document cache {:<5}  adaptive λ {:<5}  kNN-LM {:.3}   top-1 {:.1}%  top-5 {:.1}%",
                variant.document_cache,
                variant.adaptive_lambda,
                variant.knn_ppl,
                100.0 * variant.knn_top1,
                100.0 * variant.knn_top5
            );
        }
        println!(
            "next word   top-1 {:.1}% → {:.1}%   top-5 {:.1}% → {:.1}%",
            100.0 * report.base_top1,
            100.0 * report.knn_top1,
            100.0 * report.base_top5,
            100.0 * report.knn_top5
        );
        let cache = if report.document_cache {
            format!("on, skips the last {} positions", report.cache_skip_recent)
        } else {
            "off".to_string()
        };
        println!(
            "parameters  k {}  λ {}  T {:.3}  adaptive λ {}  document cache {cache}",
            report.k, report.lambda, report.temperature, report.adaptive_lambda,
        );
    }
    if args.save {
        save_params(&corpus, &report.params)?;
        eprintln!("saved the tuned parameters in {}", args.index.display());
    }
    Ok(())
}

fn save_params(
    corpus: &precedent_engine::knnlm::CorpusIndex,
    params: &KnnParams,
) -> anyhow::Result<()> {
    let Some(store) = corpus.file() else {
        anyhow::bail!(
            "tuned parameters are saved in an index file; {} is a Milvus index: tune its working file \
             (`precedent index ... --out {}` prints where it is) and run that index command again to publish them",
            corpus.location(),
            corpus.location()
        );
    };
    let mut metadata = store.metadata().clone();
    if !metadata.is_object() {
        metadata = serde_json::json!({});
    }
    metadata["knn"] = serde_json::to_value(params)?;
    if let Some(object) = metadata.as_object_mut() {
        object.remove(precedent_engine::indexer::TUNED_ON_OLDER_CORPUS);
    }
    store.save_with_metadata(store.path(), &metadata)?;
    Ok(())
}
