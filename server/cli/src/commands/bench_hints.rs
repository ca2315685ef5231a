//! `precedent bench hints`: how often word-choice hints fire on text that already follows
//! the house style (false alarms), and how many planted word swaps they catch.

use std::io::Write;
use std::path::PathBuf;

use precedent_engine::corpus;
use precedent_engine::editing::{self, AnalysisOptions, BlockAnalysis, HintThresholds};
use precedent_engine::indexer::Encoding;
use precedent_engine::random::SplitMix64;
use unicode_segmentation::UnicodeSegmentation;

use super::suggest::{open_index, KnnOverrides};
use crate::options::GlobalOptions;

/// Word-choice hints: false alarms per 1,000 words and planted swaps caught
///
/// Analyses each held-out document block by block as the server does. (a) Untouched text:
/// hints per 1,000 words (the text follows the house style, so every hint is a false
/// alarm). (b) A copy in which about one word in --every is replaced by the base model's
/// most probable other word there: the share of replacements hinted with the original word
/// as the fix. Both for a grid of thresholds, so the defaults can be chosen.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct HintsArgs {
    /// Index of the corpus (built with `precedent index`)
    #[arg(long, value_name = "FILE")]
    index: PathBuf,

    /// Held-out documents or folders (not part of the index)
    #[arg(required = true, value_name = "PATH")]
    held_out: Vec<PathBuf>,

    /// Replace about one word in this many
    #[arg(long, value_name = "N", default_value_t = 50)]
    every: u64,

    /// Seed of the choice of words to replace
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Also print the hints on the untouched text at these thresholds, e.g. 0.4,10000
    #[arg(long, value_name = "MIN_P,MIN_RATIO", value_parser = parse_pair)]
    show_hints: Option<(f32, f32)>,

    /// Write every stage-1 candidate (at the loosest thresholds) to this file, one per
    /// line, tab-separated: text (untouched or swapped), written word, preferred word,
    /// p(preferred), p(written) (kNN-LM, first tokens, given the text before), ln ratio of
    /// the substitution check, and whether it is a planted swap with the original as the fix
    #[arg(long, value_name = "FILE")]
    candidates: Option<PathBuf>,

    #[command(flatten)]
    knn: KnnOverrides,
}

fn parse_pair(text: &str) -> Result<(f32, f32), String> {
    let (p, r) = text.split_once(',').ok_or("expected MIN_P,MIN_RATIO")?;
    Ok((
        p.trim().parse().map_err(|e| format!("{p}: {e}"))?,
        r.trim().parse().map_err(|e| format!("{r}: {e}"))?,
    ))
}

/// Words with fewer tokens before them in their block are not judged (as in the server).
const MIN_CONTEXT_TOKENS: usize = 4;

struct Swap {
    block: usize,
    bytes: std::ops::Range<usize>,
    original: String,
}

pub fn run(global: &GlobalOptions, args: &HintsArgs) -> anyhow::Result<()> {
    let model = global.load_model()?;
    let corpus = open_index(&model, &args.index, &args.knn)?;
    // Held-out prose read as the server reads a document for this index.
    let config = Encoding::from_metadata(corpus.store().metadata()).corpus_config();
    let documents = corpus::read_corpus(&args.held_out, &config)?;
    let blocks: Vec<String> = documents
        .documents
        .iter()
        .flat_map(|d| {
            editing::block_ranges(d)
                .into_iter()
                .map(|r| d.text()[r].to_string())
        })
        .collect();
    let words: usize = blocks.iter().map(|b| b.unicode_words().count()).sum();
    eprintln!(
        "{} documents, {} blocks, {words} words; k {}, λ {}, T {}",
        documents.documents.len(),
        blocks.len(),
        corpus.params.k,
        corpus.params.lambda,
        corpus.params.temperature
    );
    let context = model.new_context();
    let options = AnalysisOptions {
        k: corpus.params.k,
        ..AnalysisOptions::default()
    };
    let analyze = |text: &str| -> anyhow::Result<BlockAnalysis> {
        Ok(
            editing::analyze_block(&context, &[&corpus], text, None, &options, &|| false)?
                .expect("never cancelled"),
        )
    };
    let started = std::time::Instant::now();
    let clean: Vec<BlockAnalysis> = blocks
        .iter()
        .map(|b| analyze(b))
        .collect::<Result<_, _>>()?;
    let tokens: usize = clean.iter().map(|a| a.tokens.len()).sum();
    eprintln!(
        "analysed {tokens} tokens in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Plant swaps: the base model's most probable other whole word at chosen word starts.
    let texts = model.tokenizer().token_texts();
    let mut random = SplitMix64(args.seed);
    let mut swaps = Vec::new();
    let mut corrupted_blocks = Vec::new();
    for (block, analysis) in clean.iter().enumerate() {
        let mut text = analysis.text.clone();
        let mut planted: Vec<(std::ops::Range<usize>, String, String)> = Vec::new();
        for word in &analysis.words {
            if word.token_index < MIN_CONTEXT_TOKENS
                || !random.next_u64().is_multiple_of(args.every.max(1))
            {
                continue;
            }
            let original = &analysis.text[word.bytes.clone()];
            let mut candidates = word.lm_log_probs.clone();
            candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
            let replacement = candidates.iter().find_map(|&(token, _)| {
                let body = texts.get(token as usize)?.strip_prefix(' ')?;
                let whole = body.len() > 1 && body.chars().all(char::is_alphabetic);
                (token != word.written && whole && !body.eq_ignore_ascii_case(original))
                    .then(|| body.to_string())
            });
            if let Some(replacement) = replacement {
                planted.push((word.bytes.clone(), original.to_string(), replacement));
            }
        }
        // Apply from the end so earlier offsets stay valid, then record the new ranges.
        for (bytes, _, replacement) in planted.iter().rev() {
            text.replace_range(bytes.clone(), replacement);
        }
        let mut shift: isize = 0;
        for (bytes, original, replacement) in planted {
            let start = (bytes.start as isize + shift) as usize;
            swaps.push(Swap {
                block,
                bytes: start..start + replacement.len(),
                original,
            });
            shift += replacement.len() as isize - bytes.len() as isize;
        }
        corrupted_blocks.push(text);
    }
    let corrupted: Vec<BlockAnalysis> = corrupted_blocks
        .iter()
        .map(|b| analyze(b))
        .collect::<Result<_, _>>()?;
    eprintln!("{} words replaced", swaps.len());

    // Stage 1 at the loosest probability threshold, and each candidate's substitution
    // ratio, once; the grid then only filters.
    let loosest = HintThresholds {
        min_preferred_probability: GRID_PROBABILITIES[0],
        min_ratio: 1.0,
        min_context_tokens: MIN_CONTEXT_TOKENS,
    };
    let scored = |analyses: &[BlockAnalysis]| -> anyhow::Result<Vec<Vec<Scored>>> {
        let mut all = Vec::new();
        for analysis in analyses {
            let mut block = Vec::new();
            for candidate in
                editing::hint_candidates(analysis, texts, &[&corpus], &corpus.params, &loosest)
            {
                // No floor: every candidate's ratio is computed, so the grid can filter.
                let editing::Substitution::LogRatio(log_ratio) = editing::check_substitution(
                    &context,
                    analysis,
                    &[&corpus],
                    &corpus.params,
                    &candidate,
                    f32::NEG_INFINITY,
                )?
                else {
                    unreachable!("a check without a floor computes the ratio");
                };
                block.push(Scored {
                    bytes: candidate.word.bytes.clone(),
                    written: analysis.text[candidate.word.bytes.clone()].to_string(),
                    preferred: candidate.preferred,
                    probability: candidate.preferred_candidate.probability,
                    written_probability: candidate.word.written(&corpus.params).probability,
                    log_ratio,
                });
            }
            all.push(block);
        }
        Ok(all)
    };
    let started = std::time::Instant::now();
    let clean_hints = scored(&clean)?;
    let corrupted_hints = scored(&corrupted)?;
    eprintln!(
        "{} + {} candidates checked in {:.1} s",
        clean_hints.iter().map(Vec::len).sum::<usize>(),
        corrupted_hints.iter().map(Vec::len).sum::<usize>(),
        started.elapsed().as_secs_f64()
    );
    if let Some((p, r)) = args.show_hints {
        // The false alarms themselves, to see what the thresholds let through.
        for (block, hints) in clean_hints.iter().enumerate() {
            for hint in hints
                .iter()
                .filter(|h| h.probability >= p && h.log_ratio >= r.ln())
            {
                eprintln!(
                    "{} -> {} | p {:.2} | ratio {:.1} | {}",
                    hint.written,
                    hint.preferred,
                    hint.probability,
                    hint.log_ratio.exp(),
                    &clean[block].text[..hint.bytes.end]
                );
            }
        }
    }

    let is_caught_swap = |block: usize, hint: &Scored| {
        swaps.iter().any(|s| {
            s.block == block
                && hint.bytes == s.bytes
                && hint.preferred.eq_ignore_ascii_case(&s.original)
        })
    };
    if let Some(path) = &args.candidates {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        for (text, all, swapped) in [
            ("untouched", &clean_hints, false),
            ("swapped", &corrupted_hints, true),
        ] {
            for (block, hints) in all.iter().enumerate() {
                for h in hints {
                    writeln!(
                        file,
                        "{text}\t{}\t{}\t{}\t{}\t{}\t{}",
                        h.written,
                        h.preferred,
                        h.probability,
                        h.written_probability,
                        h.log_ratio,
                        swapped && is_caught_swap(block, h)
                    )?;
                }
            }
        }
        file.flush()?;
    }

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "min_p  min_ratio  hints/1k words (untouched)  caught (of {})  hints on swapped text  precision",
        swaps.len()
    )?;
    for min_p in GRID_PROBABILITIES {
        for min_ratio in GRID_RATIOS {
            let passes = |h: &&Scored| h.probability >= min_p && h.log_ratio >= min_ratio.ln();
            let false_alarms: usize = clean_hints
                .iter()
                .map(|b| b.iter().filter(passes).count())
                .sum();
            let mut caught = 0;
            let mut total = 0;
            for (block, found) in corrupted_hints.iter().enumerate() {
                let found: Vec<&Scored> = found.iter().filter(passes).collect();
                total += found.len();
                // A word has at most one candidate, so each swap is counted once.
                caught += found.iter().filter(|h| is_caught_swap(block, h)).count();
            }
            writeln!(
                out,
                "{min_p:>5}  {min_ratio:>9}  {:>26.2}  {:>7} ({:>5.1}%)  {total:>21}  {:>9.2}",
                1000.0 * false_alarms as f64 / words.max(1) as f64,
                caught,
                100.0 * caught as f64 / swaps.len().max(1) as f64,
                caught as f64 / total.max(1) as f64,
            )?;
        }
    }
    Ok(())
}

const GRID_PROBABILITIES: [f32; 5] = [0.1, 0.2, 0.3, 0.4, 0.6];
const GRID_RATIOS: [f32; 6] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5];

/// A stage-1 candidate with its substitution ratio.
struct Scored {
    bytes: std::ops::Range<usize>,
    written: String,
    preferred: String,
    probability: f32,
    written_probability: f32,
    log_ratio: f32,
}
