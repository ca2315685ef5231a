//! Held-out evaluation of an index: perplexity of the base LM and of kNN-LM on the same
//! tokens, next-word hit rates, and tuning of λ and T (docs/method.md).
//!
//! Every held-out position is scored once by the LM (with its key and its most probable
//! tokens) and its neighbours are retrieved once; the interpolation at any λ and T is then
//! arithmetic over those, so tuning costs no further model runs.

use std::path::PathBuf;

use crate::corpus::{self, CorpusConfig};
use crate::indexer::KeyContext;
use crate::knn_scoring::{self, AdaptiveLambda, Neighbour, TuningSet};
use crate::knnlm::{CorpusIndex, DocumentCache, KnnParams, KnnPrediction};
use crate::lm::{LanguageModel, LmError, ScoreOptions};

/// Tokens of the LM's top list kept per position for the hit rates: the interpolated top 5
/// always lies within the LM's top 32 and the retrieved tokens (see `top_tokens`).
const LM_TOP: usize = 32;

#[derive(Clone, Debug)]
pub struct EvalOptions {
    pub corpus: CorpusConfig,
    pub window: usize,
    pub stride: usize,
    /// How the index's keys were made; held-out text is scored alike (by blocks, the
    /// headline figures are the editor's view).
    pub keys: KeyContext,
    /// Tune λ, T (and the adaptive λ table) on half of the held-out documents and report
    /// on the other half.
    pub tune: bool,
}

/// One held-out position, retrieved once.
struct Position {
    target: u32,
    log_p_lm: f32,
    lm_top: Vec<(u32, f32)>,
    /// Corpus neighbours first, then the document's own earlier positions.
    neighbours: Vec<Neighbour>,
    corpus_neighbours: usize,
    word_start: bool,
}

/// What `precedent eval` reports (the JSON field names are a stable interface).
#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalReport {
    /// How held-out text was scored for the headline figures: "windows" or "blocks" (as the
    /// index's keys were made).
    pub keys: &'static str,
    pub documents: usize,
    pub tokens: usize,
    pub base_ppl: f64,
    pub knn_ppl: f64,
    pub ratio: f64,
    pub k: usize,
    pub lambda: f32,
    pub temperature: f32,
    pub adaptive_lambda: bool,
    pub document_cache: bool,
    /// Most recent positions the document cache leaves out.
    pub cache_skip_recent: usize,
    /// Word-start positions the hit rates are computed on.
    pub words: usize,
    pub base_top1: f64,
    pub base_top5: f64,
    pub knn_top1: f64,
    pub knn_top5: f64,
    /// With tuning: positions of the validation half the parameters were fitted on.
    pub tuned_on_tokens: Option<usize>,
    /// With tuning: the test-half perplexity of each variant, fitted on the validation half
    /// (the variant in `params` was chosen on the validation half alone).
    pub variants: Vec<VariantPerplexity>,
    /// The same documents (the test half, with tuning) scored as the editor reads them:
    /// block by block, each from its own start, with the parameters above.
    pub editor_view: EditorView,
    #[serde(skip)]
    pub params: KnnParams,
}

/// Perplexity of held-out text scored as the editor scores it: every block (paragraph, or a
/// part of a long one) from its own start, so a block's first token has no context and is
/// not scored, and no key sees the text before its block.
#[derive(Clone, Debug, serde::Serialize)]
pub struct EditorView {
    pub tokens: usize,
    pub base_ppl: f64,
    pub knn_ppl: f64,
    pub ratio: f64,
}

/// One tuning variant's kNN-LM perplexity and hit rates on the test half.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VariantPerplexity {
    pub document_cache: bool,
    pub adaptive_lambda: bool,
    pub knn_ppl: f64,
    pub knn_top1: f64,
    pub knn_top5: f64,
}

/// Which retrieval and interpolation variant tuning compares.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Variant {
    document_cache: bool,
    adaptive_lambda: bool,
}

impl Variant {
    const ALL: [Variant; 4] = [
        Variant {
            document_cache: true,
            adaptive_lambda: true,
        },
        Variant {
            document_cache: true,
            adaptive_lambda: false,
        },
        Variant {
            document_cache: false,
            adaptive_lambda: true,
        },
        Variant {
            document_cache: false,
            adaptive_lambda: false,
        },
    ];
}

/// λ and T by grid search on `positions`, and the λ table when the variant has one.
fn fit(positions: &[&Position], base: &KnnParams, variant: Variant) -> KnnParams {
    let mut params = KnnParams {
        document_cache: variant.document_cache,
        adaptive_lambda: None,
        ..base.clone()
    };
    let tuning = tuning_set(positions, variant.document_cache);
    let tuned = knn_scoring::tune(
        &tuning,
        &knn_scoring::log_grid(0.25, 64.0, 25),
        &knn_scoring::unit_grid(41),
    );
    params.lambda = tuned.lambda;
    params.temperature = tuned.temperature;
    if variant.adaptive_lambda {
        let samples = tuning.lambda_samples(tuned.temperature);
        params.adaptive_lambda = Some(AdaptiveLambda::fit(
            &samples,
            8,
            &knn_scoring::unit_grid(41),
            50,
            tuned.lambda,
        ));
    }
    params
}

/// Even-numbered items and odd-numbered items.
fn split_alternately<T>(items: Vec<T>) -> (Vec<T>, Vec<T>) {
    let (even, odd): (Vec<_>, Vec<_>) =
        items.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    (
        even.into_iter().map(|(_, x)| x).collect(),
        odd.into_iter().map(|(_, x)| x).collect(),
    )
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Corpus(#[from] corpus::CorpusError),
    #[error(transparent)]
    Model(#[from] LmError),
    #[error("nothing to evaluate: the held-out text has fewer than two tokens")]
    Empty,
}

/// Evaluates `index` (with its parameters `params`) on the held-out files.
pub fn evaluate(
    model: &LanguageModel,
    index: &CorpusIndex,
    params: &KnnParams,
    held_out: &[PathBuf],
    options: &EvalOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport, EvalError> {
    let corpus = corpus::read_corpus(held_out, &options.corpus)?;
    let documents = corpus.documents.len();
    let mut per_document_windows = Vec::with_capacity(documents);
    let mut per_document_blocks = Vec::with_capacity(documents);
    for (i, document) in corpus.documents.iter().enumerate() {
        if options.keys == KeyContext::Windows {
            per_document_windows.push(retrieve_document(
                model,
                index,
                params,
                document.text(),
                options,
            )?);
        }
        let mut blocks = Vec::new();
        for block in crate::editing::block_ranges(document) {
            blocks.extend(retrieve_document(
                model,
                index,
                params,
                &document.text()[block],
                options,
            )?);
        }
        per_document_blocks.push(blocks);
        progress(i + 1, documents);
    }
    let (_, test_blocks) = split_alternately(per_document_blocks.iter().collect());
    let editor_test: Vec<&Position> = if options.tune && documents >= 2 {
        test_blocks.iter().flat_map(|d| d.iter()).collect()
    } else {
        per_document_blocks.iter().flatten().collect()
    };
    // Scored as the keys were made: for an index keyed by blocks, the editor's view.
    let per_document = match options.keys {
        KeyContext::Windows => &per_document_windows,
        KeyContext::Blocks => &per_document_blocks,
    };
    // With tuning: even documents fit the parameters, odd ones measure them.
    let (validation_docs, test_docs) = split_alternately(per_document.iter().collect());
    let test: Vec<&Position> = if options.tune && documents >= 2 {
        test_docs.iter().flat_map(|d| d.iter()).collect()
    } else {
        per_document.iter().flatten().collect()
    };
    if test.is_empty() {
        return Err(EvalError::Empty);
    }
    let mut params = params.clone();
    let mut variants = Vec::new();
    let mut tuned_on = None;
    if options.tune {
        let validation_docs = if documents >= 2 {
            validation_docs
        } else {
            per_document.iter().collect()
        };
        let validation: Vec<&Position> = validation_docs.iter().flat_map(|d| d.iter()).collect();
        tuned_on = Some(validation.len());
        // Choose the variant on two folds of the validation documents (fit on one, score
        // on the other), then refit the chosen variant on all of them.
        let (fold_a, fold_b) = split_alternately(validation_docs);
        let fold_a: Vec<&Position> = fold_a.iter().flat_map(|d| d.iter()).collect();
        let fold_b: Vec<&Position> = fold_b.iter().flat_map(|d| d.iter()).collect();
        let choose_on = if fold_a.is_empty() || fold_b.is_empty() {
            (&validation, &validation)
        } else {
            (&fold_a, &fold_b)
        };
        let mut best: Option<(f64, Variant)> = None;
        for variant in Variant::ALL {
            let score = perplexity(choose_on.1, &fit(choose_on.0, &params, variant));
            if best.as_ref().is_none_or(|(b, _)| score < *b) {
                best = Some((score, variant));
            }
            let fitted = fit(&validation, &params, variant);
            let (knn_top1, knn_top5) = knn_hit_rates(&test, &fitted);
            variants.push(VariantPerplexity {
                document_cache: variant.document_cache,
                adaptive_lambda: variant.adaptive_lambda,
                knn_ppl: perplexity(&test, &fitted),
                knn_top1,
                knn_top5,
            });
        }
        let (_, chosen) = best.expect("four variants");
        params = fit(&validation, &params, chosen);
    }
    let base_ppl =
        (-test.iter().map(|p| f64::from(p.log_p_lm)).sum::<f64>() / test.len() as f64).exp();
    let knn_ppl = perplexity(&test, &params);
    let words = test.iter().filter(|p| p.word_start).count();
    let (base_top1, base_top5) = base_hit_rates(&test);
    let (knn_top1, knn_top5) = knn_hit_rates(&test, &params);
    let editor_base = (-editor_test
        .iter()
        .map(|p| f64::from(p.log_p_lm))
        .sum::<f64>()
        / editor_test.len().max(1) as f64)
        .exp();
    let editor_knn = perplexity(&editor_test, &params);
    let editor_view = EditorView {
        tokens: editor_test.len(),
        base_ppl: editor_base,
        knn_ppl: editor_knn,
        ratio: editor_knn / editor_base,
    };
    Ok(EvalReport {
        keys: options.keys.name(),
        editor_view,
        documents,
        tokens: test.len(),
        base_ppl,
        knn_ppl,
        ratio: knn_ppl / base_ppl,
        k: params.k,
        lambda: params.lambda,
        temperature: params.temperature,
        adaptive_lambda: params.adaptive_lambda.is_some(),
        document_cache: params.document_cache,
        cache_skip_recent: params.cache_skip_recent,
        words,
        base_top1,
        base_top5,
        knn_top1,
        knn_top5,
        tuned_on_tokens: tuned_on,
        variants,
        params,
    })
}

/// Scores one document and retrieves the neighbours of every position: corpus neighbours,
/// plus (when enabled) the document's own earlier positions.
fn retrieve_document(
    model: &LanguageModel,
    index: &CorpusIndex,
    params: &KnnParams,
    text: &str,
    options: &EvalOptions,
) -> Result<Vec<Position>, EvalError> {
    let tokens = model.tokenizer().encode(text)?;
    if tokens.len() < 2 {
        return Ok(Vec::new());
    }
    let scores = model.score_tokens(
        tokens.clone(),
        ScoreOptions {
            window: Some(options.window),
            stride: Some(options.stride),
            keys: true,
            top_n: LM_TOP,
            ..ScoreOptions::default()
        },
    )?;
    let tokenizer = model.tokenizer();
    let mut cache = DocumentCache::new(scores.key_dim);
    let mut positions = Vec::with_capacity(scores.positions.len());
    let keys: Vec<&[f32]> = (0..scores.positions.len())
        .filter_map(|row| scores.key(row))
        .collect();
    index.prefetch(&keys, params.k);
    for (row, score) in scores.positions.iter().enumerate() {
        let key = scores.key(row).expect("keys were requested");
        // Both kinds are always retrieved, so tuning can compare with and without the cache.
        let mut neighbours: Vec<Neighbour> = index
            .nearest(key, params.k)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let corpus_neighbours = neighbours.len();
        neighbours.extend(
            cache
                .nearest(key, params.k, params.cache_skip_recent)
                .into_iter()
                .map(|(_, n)| n),
        );
        let text = tokenizer.token_text(score.token_id);
        let previous = tokenizer.token_text(tokens[score.index - 1]);
        let word_start = text
            .strip_prefix(' ')
            .unwrap_or(&text)
            .starts_with(char::is_alphanumeric)
            && (text.starts_with(' ') || previous.ends_with(char::is_whitespace));
        positions.push(Position {
            target: score.token_id,
            log_p_lm: score.logprob as f32,
            lm_top: scores.top_at(row).to_vec(),
            neighbours,
            corpus_neighbours,
            word_start,
        });
        cache.push(key, score.token_id);
    }
    Ok(positions)
}

fn tuning_set(positions: &[&Position], document_cache: bool) -> TuningSet {
    let mut set = TuningSet::new();
    for p in positions {
        set.push(p.log_p_lm, p.used_neighbours(document_cache), p.target);
    }
    set
}

impl Position {
    fn used_neighbours(&self, document_cache: bool) -> &[Neighbour] {
        if document_cache {
            &self.neighbours
        } else {
            &self.neighbours[..self.corpus_neighbours]
        }
    }
}

fn prediction(position: &Position, params: &KnnParams) -> Option<KnnPrediction> {
    crate::knnlm::prediction_from_neighbours(
        position.used_neighbours(params.document_cache),
        None,
        params,
    )
}

fn perplexity(positions: &[&Position], params: &KnnParams) -> f64 {
    let total: f64 = positions
        .iter()
        .map(|p| match prediction(p, params) {
            Some(prediction) => f64::from(prediction.interpolate(p.log_p_lm, p.target)),
            None => f64::from(p.log_p_lm),
        })
        .sum();
    (-total / positions.len() as f64).exp()
}

/// The base LM's next-word top-1 and top-5 hit rates over the word starts of `positions`.
fn base_hit_rates(positions: &[&Position]) -> (f64, f64) {
    hit_rates(positions, |position| {
        position
            .lm_top
            .iter()
            .position(|&(t, _)| t == position.target)
    })
}

/// The kNN-LM's next-word top-1 and top-5 hit rates with `params`.
fn knn_hit_rates(positions: &[&Position], params: &KnnParams) -> (f64, f64) {
    hit_rates(positions, |position| {
        let prediction = prediction(position, params);
        let ranked = crate::knnlm::top_tokens(&dense_lm(position), prediction.as_ref(), 5);
        ranked.iter().position(|&(t, ..)| t == position.target)
    })
}

/// Top-1 and top-5 hit rates over the word starts, given each one's rank of its target.
fn hit_rates(positions: &[&Position], rank: impl Fn(&Position) -> Option<usize>) -> (f64, f64) {
    let (mut words, mut top1, mut top5) = (0usize, 0usize, 0usize);
    for position in positions.iter().filter(|p| p.word_start) {
        let rank = rank(position);
        words += 1;
        top1 += usize::from(rank == Some(0));
        top5 += usize::from(rank.is_some_and(|r| r < 5));
    }
    let rate = |hits: usize| hits as f64 / words.max(1) as f64;
    (rate(top1), rate(top5))
}

/// A dense LM log-probability row from the kept top list and the target (others: −∞),
/// enough to rank the interpolated top 5.
fn dense_lm(position: &Position) -> Vec<f32> {
    let max_token = position
        .lm_top
        .iter()
        .map(|&(t, _)| t)
        .chain(position.neighbours.iter().map(|n| n.token))
        .chain(std::iter::once(position.target))
        .max()
        .unwrap_or(0);
    let mut row = vec![f32::NEG_INFINITY; max_token as usize + 1];
    for &(token, log_p) in &position.lm_top {
        row[token as usize] = log_p;
    }
    row[position.target as usize] = position.log_p_lm;
    row
}
