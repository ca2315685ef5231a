//! Word-choice hints: words where the corpus clearly prefers another word in this context.

use std::ops::Range;

use super::analysis::{BlockAnalysis, Candidate};
use super::usage::majority_word;
use crate::knnlm::{CorpusIndex, KnnParams};
use crate::suggest::{supporting_sentences, SupportingSentence};

/// When a preferred word is worth a hint. Quiet by default: hints should be few and sure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HintThresholds {
    /// The preferred word's kNN-LM probability must reach this.
    pub min_preferred_probability: f32,
    /// ... and be at least this many times the written word's.
    pub min_ratio: f32,
    /// Words with fewer tokens before them in their block get no hint: with so little
    /// context neither the model nor the neighbours know what the sentence is about.
    pub min_context_tokens: usize,
}

/// A written word and the word the corpus prefers in its place.
#[derive(Clone, Debug)]
pub struct Hint {
    /// Bytes of the written word in the block's text.
    pub bytes: Range<usize>,
    pub written: String,
    pub preferred: String,
    pub written_candidate: Candidate,
    pub preferred_candidate: Candidate,
    /// Corpus sentences that use the preferred word in such a context, heaviest first.
    pub support: Vec<SupportingSentence>,
}

impl Hint {
    /// How strongly the corpus prefers the other word: p(preferred) / p(written).
    pub fn ratio(&self) -> f32 {
        self.preferred_candidate.probability / self.written_candidate.probability.max(1e-30)
    }
}

/// The block's hints, in text order. A hint needs (1) another word most probable under
/// kNN-LM, reaching both thresholds, (2) the corpus to be what prefers it: it is also the
/// corpus neighbours' favourite token, and (3) corpus sentences that spell it as a word
/// other than the written one (ignoring case).
pub fn word_choice_hints(
    analysis: &BlockAnalysis,
    corpora: &[&CorpusIndex],
    params: &KnnParams,
    thresholds: &HintThresholds,
    max_support: usize,
) -> Vec<Hint> {
    let mut hints = Vec::new();
    for word in &analysis.words {
        if word.token_index < thresholds.min_context_tokens {
            continue;
        }
        let ranked = word.ranked(params);
        let Some(&best) = ranked.first() else {
            continue;
        };
        if best.token == word.written || best.probability < thresholds.min_preferred_probability {
            continue;
        }
        let written = word.written(params);
        if best.probability < thresholds.min_ratio * written.probability {
            continue;
        }
        let corpus_favourite = ranked
            .iter()
            .max_by(|a, b| a.knn_probability.total_cmp(&b.knn_probability))
            .is_some_and(|c| c.token == best.token && c.knn_probability > 0.0);
        if !corpus_favourite {
            continue;
        }
        let Some(prediction) = word.prediction(params) else {
            continue;
        };
        let support = supporting_sentences(corpora, &prediction.evidence, best.token, usize::MAX);
        let Some(preferred) = majority_word(&support) else {
            continue;
        };
        let written_text = &analysis.text[word.bytes.clone()];
        if preferred.to_lowercase() == written_text.to_lowercase() {
            continue;
        }
        hints.push(Hint {
            bytes: word.bytes.clone(),
            written: written_text.to_string(),
            preferred,
            written_candidate: written,
            preferred_candidate: best,
            support: support.into_iter().take(max_support).collect(),
        });
    }
    hints
}
