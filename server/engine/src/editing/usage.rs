//! "Similar usage" of a written word: the corpus sentences that support it in this context,
//! and the word the corpus would have preferred there, with its own evidence.

use std::collections::HashMap;

use super::analysis::{Candidate, WordAnalysis};
use super::words::corpus_word;
use crate::evidence::{supporting_sentences, SupportingSentence};
use crate::knnlm::{CorpusIndex, KnnParams};

/// What the corpus says about one written word.
#[derive(Clone, Debug)]
pub struct Usage {
    pub written: Candidate,
    /// Corpus sentences whose neighbour carried the written word, heaviest first.
    pub support: Vec<SupportingSentence>,
    /// The most probable word under kNN-LM when it is another word that the corpus
    /// supports more than the written one (a word the model favours over a written word
    /// the corpus supports is no preference of the corpus).
    pub preferred: Option<Preferred>,
}

/// A word the corpus favours, spelled as the corpus spells it.
#[derive(Clone, Debug)]
pub struct Preferred {
    pub word: String,
    pub candidate: Candidate,
    pub support: Vec<SupportingSentence>,
}

/// The usage of `word` (whose text in the document is `written_text`).
pub fn similar_usage(
    word: &WordAnalysis,
    written_text: &str,
    corpora: &[&CorpusIndex],
    params: &KnnParams,
    max_support: usize,
) -> Usage {
    let evidence = word
        .prediction(params)
        .map(|p| p.neighbours)
        .unwrap_or_default();
    let written = word.written(params);
    let support = supporting_sentences(corpora, &evidence, word.written, max_support);
    let preferred = word
        .ranked(params)
        .into_iter()
        .next()
        .filter(|best| best.token != word.written && best.knn_probability > written.knn_probability)
        .and_then(|best| {
            let all = supporting_sentences(corpora, &evidence, best.token, usize::MAX);
            let spelled = majority_word(&all)?;
            (!spelled.eq_ignore_ascii_case(written_text)).then(|| Preferred {
                word: spelled,
                candidate: best,
                support: all.into_iter().take(max_support).collect(),
            })
        });
    Usage {
        written,
        support,
        preferred,
    }
}

/// The word the supporting sentences spell at their marks, by total weight (ties: the
/// heaviest single sentence's word, as `support` is heaviest first).
pub(crate) fn majority_word(support: &[SupportingSentence]) -> Option<String> {
    let mut weights: HashMap<&str, (f32, usize)> = HashMap::new();
    for (rank, sentence) in support.iter().enumerate() {
        if let Some(word) = corpus_word(&sentence.sentence, sentence.mark.clone()) {
            let entry = weights.entry(word).or_insert((0.0, rank));
            entry.0 += sentence.weight;
        }
    }
    weights
        .into_iter()
        .max_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(b.1 .1.cmp(&a.1 .1)))
        .map(|(word, _)| word.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(text: &str, mark: std::ops::Range<usize>, weight: f32) -> SupportingSentence {
        SupportingSentence {
            path: Some("a.md".into()),
            line: 1,
            column: 1,
            sentence: text.into(),
            mark,
            weight,
        }
    }

    #[test]
    fn the_corpus_spelling_with_most_weight_wins() {
        let support = [
            sentence("Read the handbook.", 8..13, 0.3),
            sentence("The handbooks differ.", 3..8, 0.25),
            sentence("A handbook helps.", 1..6, 0.2),
        ];
        assert_eq!(majority_word(&support).as_deref(), Some("handbook"));
        assert_eq!(majority_word(&support[1..2]).as_deref(), Some("handbooks"));
        assert_eq!(majority_word(&[]), None);
    }
}
