//! One block of a document run through the model and the corpus: for every word, the
//! language model's probabilities of the candidate tokens and the corpus neighbours of
//! the context before it. Everything hover and hints need, without running the model again.

use std::ops::Range;
use std::sync::Arc;

use super::words::{words_with_tokens, WordAt};
use crate::knn_scoring::Neighbour;
use crate::knnlm::{self, CorpusIndex, DocumentCache, KnnParams, KnnPrediction, NeighbourSource};
use crate::lm::{log_sum_exp, Context, LmError, TokenSpan};

#[derive(Clone, Debug)]
pub struct AnalysisOptions {
    /// Corpus neighbours kept per word (the largest k the results may be asked for).
    pub k: usize,
    /// The language model's most probable tokens kept per word, besides the written token
    /// and every token the corpus neighbours carry.
    pub lm_candidates: usize,
    /// Tokens per model call: between calls other (interactive) work gets the model.
    pub chunk: usize,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        AnalysisOptions {
            k: 64,
            lm_candidates: 32,
            chunk: 128,
        }
    }
}

/// The analysis of one block of prose.
#[derive(Clone, Debug)]
pub struct BlockAnalysis {
    pub text: String,
    pub tokens: Vec<TokenSpan>,
    /// Row `i` is the key of the context `tokens[..=i]`, which predicts `tokens[i + 1]`.
    /// Shared, so that a document cache can use them without a copy.
    keys: Arc<[f32]>,
    key_dim: usize,
    /// How many corpus neighbours each word's search asked for.
    searched_k: usize,
    /// Entry `i` is the LM's ln p(tokens[i + 1] | tokens[..=i]): the text as written, scored.
    next_log_probs: Vec<f32>,
    /// Words after the block's first token, in order.
    pub words: Vec<WordAnalysis>,
}

/// One word of a block: what the model and the corpus said about its first token.
#[derive(Clone, Debug)]
pub struct WordAnalysis {
    /// Bytes of the whole word in the block's text.
    pub bytes: Range<usize>,
    /// Index of the word's first token in [`BlockAnalysis::tokens`].
    pub token_index: usize,
    /// The token written there.
    pub written: u32,
    /// Natural-log LM probabilities of the candidates (the written token, the LM's top
    /// tokens, every neighbour's token), sorted by token id. Any other token is less probable
    /// than all of the LM's top tokens, so it cannot be the most probable under kNN-LM.
    pub lm_log_probs: Vec<(u32, f32)>,
    /// Corpus neighbours of the context before the word, nearest first.
    pub neighbours: Vec<Neighbour>,
    pub sources: Vec<NeighbourSource>,
}

/// A token's probabilities under the interpolated, LM and kNN distributions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    pub token: u32,
    pub probability: f32,
    pub lm_probability: f32,
    pub knn_probability: f32,
}

impl BlockAnalysis {
    /// Keys and next tokens of every position, for a document cache.
    pub fn entries(&self) -> impl Iterator<Item = (&[f32], u32)> + '_ {
        self.keys
            .chunks_exact(self.key_dim.max(1))
            .zip(self.tokens.iter().skip(1).map(|t| t.id))
    }

    /// Adds the entries of positions `positions` to `cache`, sharing their keys.
    pub fn lend_to(&self, cache: &mut DocumentCache, positions: Range<usize>) {
        let positions = positions.start..positions.end.min(self.tokens.len().saturating_sub(1));
        let next_tokens = self.tokens[positions.start + 1..positions.end + 1]
            .iter()
            .map(|t| t.id)
            .collect();
        cache.push_shared(self.keys.clone(), positions.start, next_tokens);
    }

    pub fn key_dim(&self) -> usize {
        self.key_dim
    }

    /// The key of the context `tokens[..=position]`.
    pub fn key(&self, position: usize) -> Option<&[f32]> {
        self.keys
            .get(position * self.key_dim..(position + 1) * self.key_dim)
    }

    /// The LM's ln p(tokens[position + 1] | tokens[..=position]).
    pub fn next_log_prob(&self, position: usize) -> Option<f32> {
        self.next_log_probs.get(position).copied()
    }

    /// p_kNN of the context `tokens[..=position]` from the corpus neighbours alone (no
    /// document cache): the stored search when a word starts at `position + 1` and was
    /// searched with `params.k`, else a new search. Both give the same neighbours.
    pub fn knn_at(
        &self,
        corpora: &[&CorpusIndex],
        params: &KnnParams,
        position: usize,
    ) -> Option<KnnPrediction> {
        if self.searched_k == params.k {
            let index = self
                .words
                .binary_search_by_key(&(position + 1), |w| w.token_index);
            if let Ok(index) = index {
                return self.words[index].prediction(params);
            }
        }
        knnlm::predict_knn(corpora, None, params, self.key(position)?)
    }

    /// The word whose bytes contain `offset` (or end at it).
    pub fn word_at(&self, offset: usize) -> Option<&WordAnalysis> {
        self.words
            .iter()
            .find(|w| w.bytes.start <= offset && offset <= w.bytes.end)
    }
}

impl WordAnalysis {
    /// The LM log-probability of `token` if it is one of the candidates.
    pub fn lm_log_prob(&self, token: u32) -> Option<f32> {
        self.lm_log_probs
            .binary_search_by_key(&token, |&(t, _)| t)
            .ok()
            .map(|i| self.lm_log_probs[i].1)
    }

    /// p_kNN over the nearest `params.k` stored neighbours and λ (docs/method.md).
    pub fn prediction(&self, params: &KnnParams) -> Option<KnnPrediction> {
        let k = params.k.min(self.neighbours.len());
        knnlm::prediction_from_neighbours(&self.neighbours[..k], Some(&self.sources[..k]), params)
    }

    /// Every candidate, most probable under kNN-LM first.
    pub fn ranked(&self, params: &KnnParams) -> Vec<Candidate> {
        let knn = self.prediction(params);
        let mut ranked: Vec<Candidate> = self
            .lm_log_probs
            .iter()
            .map(|&(token, lm)| candidate(token, lm, knn.as_ref()))
            .collect();
        ranked.sort_by(|a, b| {
            b.probability
                .total_cmp(&a.probability)
                .then(a.token.cmp(&b.token))
        });
        ranked
    }

    /// The written token's probabilities.
    pub fn written(&self, params: &KnnParams) -> Candidate {
        let lm = self.lm_log_prob(self.written).unwrap_or(f32::NEG_INFINITY);
        candidate(self.written, lm, self.prediction(params).as_ref())
    }
}

fn candidate(token: u32, log_p_lm: f32, knn: Option<&KnnPrediction>) -> Candidate {
    match knn {
        Some(knn) => Candidate {
            token,
            probability: knn.interpolate(log_p_lm, token).exp(),
            lm_probability: log_p_lm.exp(),
            knn_probability: knn.distribution.prob(token),
        },
        None => Candidate {
            token,
            probability: log_p_lm.exp(),
            lm_probability: log_p_lm.exp(),
            knn_probability: 0.0,
        },
    }
}

/// Runs `text` (one block) through the model in `context` and retrieves the corpus
/// neighbours of every word's context. `previous`, an analysis of an earlier version of
/// the block made with the same corpora, lends its results for the tokens the two versions
/// share at the start, so a typing edit re-runs only what follows it. Returns `Ok(None)`
/// when `cancelled()` turns true between model calls.
pub fn analyze_block(
    context: &Context,
    corpora: &[&CorpusIndex],
    text: &str,
    previous: Option<&BlockAnalysis>,
    options: &AnalysisOptions,
    cancelled: &dyn Fn() -> bool,
) -> Result<Option<BlockAnalysis>, LmError> {
    let tokenizer = context.model().tokenizer();
    let tokens = tokenizer.encode_with_offsets(text)?;
    let key_dim = context.model().manifest().key_dim;
    let words = words_with_tokens(text, &tokens);
    let mut analysis = BlockAnalysis {
        text: text.to_string(),
        tokens,
        keys: Arc::from([]),
        key_dim,
        searched_k: options.k,
        next_log_probs: Vec::new(),
        words: Vec::with_capacity(words.len()),
    };
    if analysis.tokens.len() < 2 {
        return Ok(Some(analysis));
    }
    let ids: Vec<u32> = analysis.tokens.iter().map(|t| t.id).collect();
    let mut next_word = words.iter().filter(|w| w.token > 0).peekable();
    // Positions 0..ids.len()-1 predict the next token: position p has the key of
    // tokens[..=p] and scores the word starting at token p + 1. Both are unchanged from
    // `previous` while p + 1 is inside the shared prefix.
    let positions = ids.len() - 1;
    let mut keys: Vec<f32> = Vec::with_capacity(positions * key_dim);
    let mut end = 0;
    if let Some(previous) = previous.filter(|p| p.key_dim == key_dim && p.searched_k == options.k) {
        let shared = previous
            .tokens
            .iter()
            .zip(&analysis.tokens)
            .take_while(|(a, b)| a.id == b.id)
            .count();
        end = shared.saturating_sub(1).min(positions);
        let mut old_words = previous.words.iter().peekable();
        while let Some(word) = next_word.peek().filter(|w| w.token <= end) {
            while old_words.next_if(|o| o.token_index < word.token).is_some() {}
            let Some(old) = old_words.next_if(|o| o.token_index == word.token) else {
                // Not analysed before (word boundaries moved): run from here.
                end = word.token - 1;
                break;
            };
            analysis.words.push(WordAnalysis {
                bytes: word.bytes.clone(),
                ..old.clone()
            });
            next_word.next();
        }
        keys.extend_from_slice(&previous.keys[..end * key_dim]);
        analysis
            .next_log_probs
            .extend_from_slice(&previous.next_log_probs[..end]);
    }
    while end < positions {
        if cancelled() {
            return Ok(None);
        }
        let start = end;
        end = (start + options.chunk.max(1)).min(positions);
        let forward = context.forward_from(&ids[..end], start, end - start)?;
        // The chunk's searches in one request where that is cheaper (a Milvus index).
        let word_keys: Vec<&[f32]> = words
            .iter()
            .filter(|w| w.token > start && w.token <= end)
            .filter_map(|w| forward.key_at(w.token - 1))
            .collect();
        knnlm::prefetch(corpora, &word_keys, options.k);
        for position in start..end {
            let key = forward.key_at(position).ok_or(LmError::EmptyInput)?;
            keys.extend_from_slice(key);
            let logits = forward.logits_at(position).ok_or(LmError::EmptyInput)?;
            // ln p = logit − ln Σ exp(logits), taken only for the tokens kept.
            let normaliser = log_sum_exp(logits);
            let log_prob = |token: u32| {
                logits
                    .get(token as usize)
                    .map_or(f32::NEG_INFINITY, |&l| (f64::from(l) - normaliser) as f32)
            };
            analysis.next_log_probs.push(log_prob(ids[position + 1]));
            if let Some(word) = next_word.next_if(|w| w.token == position + 1) {
                analysis.words.push(analyze_word(
                    word, &ids, logits, log_prob, key, corpora, options,
                ));
            }
        }
    }
    analysis.keys = keys.into();
    Ok(Some(analysis))
}

/// The word's candidates: the LM's top tokens (the largest logits), the written token and
/// every neighbour's token, with `log_prob` of each.
fn analyze_word(
    word: &WordAt,
    ids: &[u32],
    logits: &[f32],
    log_prob: impl Fn(u32) -> f32,
    key: &[f32],
    corpora: &[&CorpusIndex],
    options: &AnalysisOptions,
) -> WordAnalysis {
    let written = ids[word.token];
    let (neighbours, sources) = knnlm::corpus_neighbours(corpora, options.k, key);
    let mut tokens = knnlm::top_indices(logits, options.lm_candidates);
    tokens.push(written);
    tokens.extend(neighbours.iter().map(|n| n.token));
    tokens.retain(|&t| (t as usize) < logits.len());
    tokens.sort_unstable();
    tokens.dedup();
    WordAnalysis {
        bytes: word.bytes.clone(),
        token_index: word.token,
        written,
        lm_log_probs: tokens.iter().map(|&t| (t, log_prob(t))).collect(),
        neighbours,
        sources,
    }
}
