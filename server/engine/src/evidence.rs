//! Evidence: the corpus sentences behind a prediction, found from the neighbours that
//! carried a token's probability.

use std::ops::Range;

use crate::knnlm::{CorpusIndex, NeighbourSource, WeightedNeighbour};
use crate::lexicon::{self, SentenceRef};
use crate::stated_rules;

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
    /// Weight in p_kNN of the neighbours in this sentence's text (a sentence the corpus
    /// writes more than once is shown once, where it first carried the most weight).
    pub weight: f32,
}

/// The corpus sentences behind `token`: neighbours whose value is `token`, heaviest first,
/// each sentence text once (its neighbours' weights summed), at most `max`.
pub fn supporting_sentences(
    corpora: &[&CorpusIndex],
    evidence: &[WeightedNeighbour],
    token: u32,
    max: usize,
) -> Vec<SupportingSentence> {
    let sentences = evidence
        .iter()
        .filter(|e| e.token == token)
        .filter_map(|e| match e.source {
            NeighbourSource::Corpus { corpus, entry } => corpora
                .get(corpus)
                .and_then(|c| corpus_sentence(c, entry, e.weight)),
            NeighbourSource::Document(_) => None,
        });
    let mut distinct: Vec<SupportingSentence> = Vec::new();
    for sentence in sentences {
        match distinct
            .iter_mut()
            .find(|s| s.sentence == sentence.sentence)
        {
            Some(shown) => shown.weight += sentence.weight,
            None => distinct.push(sentence),
        }
    }
    distinct.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    distinct.truncate(max);
    distinct
}

fn corpus_sentence(corpus: &CorpusIndex, entry: u64, weight: f32) -> Option<SupportingSentence> {
    let provenance = corpus.provenance(entry)?;
    let document = corpus.document(provenance.document)?;
    let sentence = corpus.sentence(provenance.document, provenance.sentence)?;
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

/// The corpus word that ends a neighbour's context: the word written right before the
/// neighbour's token, in its sentence. The neighbours of the context after a word are the
/// corpus's contexts that the model reads alike, so these are the words the corpus writes
/// where that word stands ("please use the" for "please utilize the").
#[derive(Clone, Debug, PartialEq)]
pub struct WordBefore {
    pub word: String,
    /// What separates the word from the neighbour's token (a space, ", ", …).
    pub gap: String,
    /// The neighbour's token (what follows the word in the corpus).
    pub next_token: u32,
    /// The neighbour's sentence, with the word marked, and the neighbour's weight.
    pub sentence: SupportingSentence,
}

/// The corpus word before each corpus neighbour's token, when the token starts a word (a
/// token inside a word has no word before it) in the same sentence.
pub fn words_before(corpora: &[&CorpusIndex], neighbours: &[WeightedNeighbour]) -> Vec<WordBefore> {
    neighbours
        .iter()
        .filter_map(|neighbour| match neighbour.source {
            NeighbourSource::Corpus { corpus, entry } => word_before(
                corpora.get(corpus)?,
                entry,
                neighbour.token,
                neighbour.weight,
            ),
            NeighbourSource::Document(_) => None,
        })
        .collect()
}

fn word_before(corpus: &CorpusIndex, entry: u64, token: u32, weight: f32) -> Option<WordBefore> {
    let provenance = corpus.provenance(entry)?;
    let document = corpus.document(provenance.document)?;
    let sentence = corpus.sentence(provenance.document, provenance.sentence)?;
    let text = sentence.text;
    let end = (provenance.end as usize).min(text.len());
    let start = (provenance.start as usize).min(end);
    // Where the token's text starts, past the space a token carries before a word.
    let token_text = text.get(start..end)?;
    let token_start = start + (token_text.len() - token_text.trim_start().len());
    // A token of letters right after letters is the rest of a word ("util|ize").
    let inside_word = text[token_start..]
        .chars()
        .next()
        .is_some_and(char::is_alphanumeric)
        && text[..token_start]
            .chars()
            .next_back()
            .is_some_and(char::is_alphanumeric);
    if inside_word {
        return None;
    }
    let (word_start, word) = lexicon::word_indices(&text[..token_start]).last()?;
    let word_end = word_start + word.len();
    Some(WordBefore {
        word: word.to_string(),
        gap: text[word_end..token_start].to_string(),
        next_token: token,
        sentence: SupportingSentence {
            path: Some(document.path.to_string()),
            line: sentence.line,
            column: sentence.column,
            sentence: text.to_string(),
            mark: word_start..word_end,
            weight,
        },
    })
}

/// Corpus sentence `at` of `corpus`, with the first use of the word `form` marked: the
/// evidence that the corpus writes a word (weight 0: it comes from counts, not neighbours).
pub fn sentence_using(
    corpus: &CorpusIndex,
    at: SentenceRef,
    form: &str,
) -> Option<SupportingSentence> {
    sentence_marked(corpus, at, |text| {
        let start = lexicon::word_indices(text)
            .find(|&(_, word)| word == form)?
            .0;
        Some(start..start + form.len())
    })
}

/// Corpus sentence `at` of `corpus`, with the first use of `term` (words in any case, as a
/// whole) marked; `None` if it does not write the term.
pub fn sentence_with_term(
    corpus: &CorpusIndex,
    at: SentenceRef,
    term: &str,
) -> Option<SupportingSentence> {
    sentence_marked(corpus, at, |text| {
        stated_rules::find_term(text, term, false)
            .into_iter()
            .next()
    })
}

/// Corpus sentence `at` with the bytes `mark(text)` finds marked, as evidence from counts.
fn sentence_marked(
    corpus: &CorpusIndex,
    at: SentenceRef,
    mark: impl FnOnce(&str) -> Option<Range<usize>>,
) -> Option<SupportingSentence> {
    let document = corpus.document(at.document)?;
    let sentence = corpus.sentence(at.document, at.sentence)?;
    Some(SupportingSentence {
        path: Some(document.path.to_string()),
        line: sentence.line,
        column: sentence.column,
        sentence: sentence.text.to_string(),
        mark: mark(sentence.text)?,
        weight: 0.0,
    })
}
