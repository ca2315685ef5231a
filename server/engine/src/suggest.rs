//! Next-word suggestions: the kNN-LM's most probable next tokens, each extended to the end
//! of its word, with the corpus sentences that support it.

use std::ops::Range;

use crate::knnlm::{self, CorpusIndex, DocumentCache, Evidence, KnnParams, NeighbourSource};
use crate::lm::{Context, LmError};

/// One suggested continuation.
#[derive(Clone, Debug)]
pub struct Suggestion {
    /// The text to insert after the context (a leading space included when the word has one).
    pub text: String,
    /// Tokens of `text`; the first was ranked by the kNN-LM, the rest complete the word.
    pub tokens: Vec<u32>,
    /// Interpolated probability of the first token.
    pub probability: f32,
    pub lm_probability: f32,
    pub knn_probability: f32,
    /// Neighbours whose next token is this suggestion's first token, heaviest first.
    pub support: Vec<SupportingSentence>,
}

/// A neighbour shown as evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct SupportingSentence {
    /// Source file, or `None` for the document being written.
    pub path: Option<String>,
    pub line: u32,
    pub column: u32,
    pub sentence: String,
    /// Bytes of the supporting token within `sentence`.
    pub mark: Range<usize>,
    /// Weight of this neighbour in p_kNN.
    pub weight: f32,
}

#[derive(Clone, Debug)]
pub struct SuggestOptions {
    pub count: usize,
    /// At most this many tokens are added to complete a word.
    pub max_word_tokens: usize,
    /// At most this many supporting sentences per suggestion.
    pub max_support: usize,
}

impl Default for SuggestOptions {
    fn default() -> Self {
        SuggestOptions {
            count: 5,
            max_word_tokens: 4,
            max_support: 3,
        }
    }
}

/// Suggestions for the text after `tokens`, most probable first.
pub fn suggest(
    context: &Context,
    corpora: &[&CorpusIndex],
    cache: Option<&DocumentCache>,
    params: &KnnParams,
    tokens: &[u32],
    options: &SuggestOptions,
) -> Result<Vec<Suggestion>, LmError> {
    let next = context.next_token(tokens)?;
    let knn = knnlm::predict_knn(corpora, cache, params, &next.knn_key);
    let tokenizer = context.model().tokenizer();
    let mut suggestions = Vec::new();
    for (token, log_p, log_p_lm, p_knn) in
        knnlm::top_tokens(&next.log_probs, knn.as_ref(), options.count)
    {
        let word = complete_word(
            context,
            corpora,
            cache,
            params,
            tokens,
            token,
            options.max_word_tokens,
        )?;
        let support = knn
            .as_ref()
            .map(|k| supporting_sentences(corpora, &k.evidence, token, options.max_support))
            .unwrap_or_default();
        suggestions.push(Suggestion {
            text: tokenizer.decode(&word)?,
            tokens: word,
            probability: log_p.exp(),
            lm_probability: log_p_lm.exp(),
            knn_probability: p_knn,
            support,
        });
    }
    Ok(suggestions)
}

/// Extends `first` greedily with the kNN-LM until the word ends (the next token starts with
/// a space or punctuation) or `max_extra` tokens were added. The corpus takes part, so a word
/// the base model does not know is completed as the corpus spells it.
fn complete_word(
    context: &Context,
    corpora: &[&CorpusIndex],
    cache: Option<&DocumentCache>,
    params: &KnnParams,
    tokens: &[u32],
    first: u32,
    max_extra: usize,
) -> Result<Vec<u32>, LmError> {
    let tokenizer = context.model().tokenizer();
    let mut word = vec![first];
    if !tokenizer
        .token_text(first)
        .chars()
        .last()
        .is_some_and(char::is_alphanumeric)
    {
        return Ok(word);
    }
    let mut sequence = tokens.to_vec();
    sequence.push(first);
    for _ in 0..max_extra {
        let next = context.next_token(&sequence)?;
        let knn = knnlm::predict_knn(corpora, cache, params, &next.knn_key);
        let Some(&(best, ..)) = knnlm::top_tokens(&next.log_probs, knn.as_ref(), 1).first() else {
            break;
        };
        let text = tokenizer.token_text(best);
        if !text.chars().next().is_some_and(char::is_alphanumeric) {
            break;
        }
        word.push(best);
        sequence.push(best);
    }
    Ok(word)
}

/// The corpus sentences behind `token`: neighbours whose value is `token`, heaviest first.
pub fn supporting_sentences(
    corpora: &[&CorpusIndex],
    evidence: &[Evidence],
    token: u32,
    max: usize,
) -> Vec<SupportingSentence> {
    evidence
        .iter()
        .filter(|e| e.token == token)
        .filter_map(|e| match e.source {
            NeighbourSource::Corpus { corpus, entry } => corpora
                .get(corpus)
                .and_then(|c| corpus_sentence(c, entry, e.weight)),
            NeighbourSource::Document(_) => None,
        })
        .take(max)
        .collect()
}

fn corpus_sentence(corpus: &CorpusIndex, entry: u32, weight: f32) -> Option<SupportingSentence> {
    let store = corpus.store();
    let provenance = store.provenance().get(entry as usize)?;
    let document = store.document(provenance.document)?;
    let sentence = store.sentence(provenance.document, provenance.sentence)?;
    let end = (provenance.end as usize).min(sentence.text.len());
    let start = (provenance.start as usize).min(end);
    Some(SupportingSentence {
        path: Some(document.path.to_string()),
        line: provenance.line,
        column: provenance.column,
        sentence: sentence.text.to_string(),
        mark: start..end,
        weight,
    })
}
