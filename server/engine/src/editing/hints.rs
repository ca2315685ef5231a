//! Word-choice hints: words where the corpus clearly prefers another word in this context.
//!
//! Two stages. (1) From the block analysis, no model run: at a word, the corpus neighbours'
//! favourite word is another word, whose kNN-LM probability given the text before it
//! reaches `min_preferred_probability`. The left context alone also "prefers"
//! continuations that do not fit what the writer wrote next ("can safely be" vs "can be
//! removed"), so (2) the substitution is checked: the sentence with the preferred word put
//! in is scored against the sentence as written, over the word and up to
//! [`RIGHT_CONTEXT_TOKENS`] tokens after it, and must be `min_ratio` times more probable.
//! Names and acronyms get no hint unless the corpus prefers another capitalised word: a
//! rare name makes any sentence improbable, so "a bug in OpenPGP" would otherwise become
//! "a bug in the".
//! The written side is known from the analysis, and the preferred side can be no more
//! probable than its first token: a check that cannot reach `min_ratio` even so is settled
//! without running the model (2 of 33 from cold on a 1,000-word Debian Reference text).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::ops::Range;

use super::analysis::{BlockAnalysis, Candidate, WordAnalysis};
use super::usage::majority_word;
use crate::evidence::{supporting_sentences, SupportingSentence};
use crate::knnlm::{self, CorpusIndex, KnnParams, KnnPrediction};
use crate::lm::{log_sum_exp, Context, LmError};

/// Tokens after the word that the substitution check scores (the rest of the sentence, at
/// most this many). Measured with `precedent bench hints` on the Debian Reference: 6
/// instead of 12 catches the same planted swaps at the default thresholds (false alarms
/// 1.25 instead of 1.09 per 1,000 words, one more hint in 6,398 words) and makes each
/// check about a quarter cheaper.
pub const RIGHT_CONTEXT_TOKENS: usize = 6;

/// When a preferred word is worth a hint. Quiet by default: hints should be few and sure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HintThresholds {
    /// The preferred word's kNN-LM probability given the text before it must reach this.
    pub min_preferred_probability: f32,
    /// The sentence with the preferred word must be at least this many times as probable
    /// (under kNN-LM, over the word and the words after it) as the sentence as written.
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
    /// The two words' first tokens given the text before them.
    pub written_candidate: Candidate,
    pub preferred_candidate: Candidate,
    /// ln of p(sentence with the preferred word) / p(sentence as written), from the word on.
    pub log_ratio: f32,
    /// Corpus sentences that use the preferred word in such a context, heaviest first.
    pub support: Vec<SupportingSentence>,
}

impl Hint {
    /// How strongly the corpus prefers the other word: p(with preferred) / p(as written).
    pub fn ratio(&self) -> f32 {
        self.log_ratio.exp()
    }
}

/// A word that passed the first stage, before the substitution check.
#[derive(Clone, Debug)]
pub struct HintCandidate<'a> {
    pub word: &'a WordAnalysis,
    pub preferred: String,
    pub preferred_candidate: Candidate,
    pub support: Vec<SupportingSentence>,
}

impl HintCandidate<'_> {
    /// The hint, once the substitution check gave `log_ratio`.
    pub fn into_hint(
        self,
        analysis: &BlockAnalysis,
        params: &KnnParams,
        log_ratio: f32,
        max_support: usize,
    ) -> Hint {
        let word = self.word;
        Hint {
            bytes: word.bytes.clone(),
            written: analysis.text[word.bytes.clone()].to_string(),
            preferred: self.preferred,
            written_candidate: word.written(params),
            preferred_candidate: self.preferred_candidate,
            log_ratio,
            support: self.support.into_iter().take(max_support).collect(),
        }
    }
}

/// Stage (1): the words of the block where the corpus prefers another word: the corpus
/// neighbours' most probable word (a token that starts a word), if it is not the written
/// one and its kNN-LM probability reaches the threshold. `token_texts` is the tokenizer's
/// [`token_texts`](crate::lm::TextTokenizer::token_texts).
pub fn hint_candidates<'a>(
    analysis: &'a BlockAnalysis,
    token_texts: &[String],
    corpora: &[&CorpusIndex],
    params: &KnnParams,
    thresholds: &HintThresholds,
) -> Vec<HintCandidate<'a>> {
    let starts_word = |token: u32| {
        token_texts
            .get(token as usize)
            .and_then(|t| t.strip_prefix(' '))
            .and_then(|t| t.chars().next())
            .is_some_and(char::is_alphanumeric)
    };
    let mut candidates = Vec::new();
    for word in &analysis.words {
        if word.token_index < thresholds.min_context_tokens {
            continue;
        }
        let ranked = word.ranked(params);
        let favourite = ranked
            .iter()
            .filter(|c| starts_word(c.token))
            .max_by(|a, b| {
                a.knn_probability
                    .total_cmp(&b.knn_probability)
                    .then(a.probability.total_cmp(&b.probability))
            });
        let Some(&best) = favourite else {
            continue;
        };
        // The preferred word must be more probable than the written one where it stands;
        // this also keeps the model runs of stage (2) to a few words per block.
        if best.token == word.written
            || best.knn_probability <= 0.0
            || best.probability < thresholds.min_preferred_probability
            || best.probability <= word.written(params).probability
        {
            continue;
        }
        let Some(prediction) = word.prediction(params) else {
            continue;
        };
        let support = supporting_sentences(corpora, &prediction.evidence, best.token, usize::MAX);
        let Some(preferred) = majority_word(&support) else {
            continue;
        };
        let written = &analysis.text[word.bytes.clone()];
        if preferred.to_lowercase() == written.to_lowercase() {
            continue;
        }
        if reads_as_name(&analysis.text, word.bytes.clone()) && !has_capital(&preferred) {
            continue;
        }
        candidates.push(HintCandidate {
            word,
            preferred,
            preferred_candidate: best,
            support,
        });
    }
    candidates
}

/// The block's hints, in text order: stage (1), then the substitution check (2), which
/// runs the model in `context` on the few candidates.
pub fn word_choice_hints(
    context: &Context,
    analysis: &BlockAnalysis,
    corpora: &[&CorpusIndex],
    params: &KnnParams,
    thresholds: &HintThresholds,
    max_support: usize,
) -> Result<Vec<Hint>, LmError> {
    let token_texts = context.model().tokenizer().token_texts();
    let mut failure = None;
    let hints = checked_hints(
        analysis,
        token_texts,
        corpora,
        params,
        thresholds,
        max_support,
        |candidate, floor| {
            if failure.is_some() {
                return None;
            }
            check_substitution(context, analysis, corpora, params, candidate, floor)
                .map_err(|error| failure = Some(error))
                .ok()
        },
    );
    failure.map_or(Ok(hints), Err)
}

/// The block's hints, in text order: stage (1), then `check(candidate, floor)` (2) on each
/// candidate, which gives its [`check_substitution`] with that floor (computed, or
/// remembered by a caller that caches them), or `None` to leave the candidate out.
pub fn checked_hints(
    analysis: &BlockAnalysis,
    token_texts: &[String],
    corpora: &[&CorpusIndex],
    params: &KnnParams,
    thresholds: &HintThresholds,
    max_support: usize,
    mut check: impl FnMut(&HintCandidate, f32) -> Option<Substitution>,
) -> Vec<Hint> {
    let floor = thresholds.min_ratio.ln();
    let mut hints = Vec::new();
    for candidate in hint_candidates(analysis, token_texts, corpora, params, thresholds) {
        let Some(log_ratio) = check(&candidate, floor).and_then(|s| s.log_ratio_reaching(floor))
        else {
            continue;
        };
        hints.push(candidate.into_hint(analysis, params, log_ratio, max_support));
    }
    hints
}

/// What a substitution check found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Substitution {
    /// ln p(preferred word + rest) − ln p(written word + rest).
    LogRatio(f32),
    /// The log ratio is at most this, which is below the floor the check was given, so the
    /// model was not run: with the preferred word's first token alone, the sentence is
    /// already too improbable next to the sentence as written.
    AtMost(f32),
}

impl Substitution {
    /// The log ratio, if it was computed and reaches `floor`.
    pub fn log_ratio_reaching(self, floor: f32) -> Option<f32> {
        match self {
            Substitution::LogRatio(log_ratio) if log_ratio >= floor => Some(log_ratio),
            _ => None,
        }
    }
}

/// ln p(preferred word + rest) − ln p(written word + rest), both after the same left
/// context, under kNN-LM (corpus neighbours, no document cache). "rest" is the block's text
/// after the written word up to the end of its sentence, at most [`RIGHT_CONTEXT_TOKENS`]
/// tokens; when the sentence ends with the word, a paragraph break ([`checked_tokens`]).
///
/// The written side is read from the analysis (which scored the block as written), so only
/// the preferred side runs the model, as a branch of `context`'s KV cache: right after
/// [`analyze_block`](super::analyze_block) in the same context, that is the new tokens only.
/// It runs only if the ratio can reach `floor`: the preferred side is at most as probable
/// as its first token, which the analysis knows. Otherwise the bound is returned
/// ([`Substitution::AtMost`]). With a floor of −∞ the ratio is always computed.
pub fn check_substitution(
    context: &Context,
    analysis: &BlockAnalysis,
    corpora: &[&CorpusIndex],
    params: &KnnParams,
    candidate: &HintCandidate,
    floor: f32,
) -> Result<Substitution, LmError> {
    let word = candidate.word;
    let ids: Vec<u32> = analysis.tokens.iter().map(|t| t.id).collect();
    let first = word.token_index;
    if first == 0 {
        // No left context to compare the two words in.
        return Ok(Substitution::LogRatio(0.0));
    }
    let read = checked_tokens(analysis, word);
    // The written word with its leading whitespace, as its first token carries it.
    let lead = &analysis.text[analysis.tokens[first].bytes.start..word.bytes.start];
    let tokenizer = context.model().tokenizer();
    let mut preferred = tokenizer.encode(&format!("{lead}{}", candidate.preferred))?;
    let left = &ids[..first];
    // What the analysis knows of a first token at the word: its LM ln p, and p_kNN there.
    let knn_at_word = analysis.knn_at(corpora, params, first - 1);
    let known = |token: u32| Some((word.lm_log_prob(token)?, knn_at_word.as_ref()));

    let rest = if read.paragraph_break {
        tokenizer.encode("\n\n")?
    } else {
        ids[read.word_end..read.tokens.end].to_vec()
    };
    let with_written = if read.paragraph_break {
        None
    } else {
        // The text as written: the analysis has scored it already. Its first token is
        // predicted at the word, where p_kNN is known above.
        let mut sum = 0.0;
        for target in read.tokens {
            let position = target - 1;
            let lm = analysis
                .next_log_prob(position)
                .ok_or(LmError::EmptyInput)?;
            let searched;
            let knn = if target == first {
                knn_at_word.as_ref()
            } else {
                searched = analysis.knn_at(corpora, params, position);
                searched.as_ref()
            };
            sum += interpolated(knn, lm, ids[target]);
        }
        Some(sum)
    };
    let preferred_first = known(preferred[0]);
    if let Some(with_written) = with_written {
        // Every later token of the preferred side has ln p ≤ 0.
        let at_most = preferred_first.map_or(0.0, |(lm, knn)| interpolated(knn, lm, preferred[0]))
            - with_written;
        if at_most < floor {
            return Ok(Substitution::AtMost(at_most));
        }
    }
    preferred.extend(&rest);
    let with_preferred = score_branch(context, corpora, params, left, &preferred, preferred_first)?;
    let with_written = match with_written {
        Some(sum) => sum,
        None => {
            let written: Vec<u32> = ids[first..read.word_end]
                .iter()
                .chain(&rest)
                .copied()
                .collect();
            score_branch(context, corpora, params, left, &written, known(written[0]))?
        }
    };
    Ok(Substitution::LogRatio(with_preferred - with_written))
}

/// What the substitution check of a word reads after the text before it: the word's tokens,
/// then the rest of its sentence, at most [`RIGHT_CONTEXT_TOKENS`] tokens. Its result
/// depends on nothing else but the preferred word, so callers can cache it by these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedTokens {
    /// Indices into the block's tokens: the word's, then the rest's.
    pub tokens: Range<usize>,
    /// The first token after the word.
    pub word_end: usize,
    /// Only blank text follows the word in its sentence: the check scores a paragraph break
    /// after either word instead of the rest.
    pub paragraph_break: bool,
}

pub fn checked_tokens(analysis: &BlockAnalysis, word: &WordAnalysis) -> CheckedTokens {
    let first = word.token_index;
    let word_end = first
        + analysis.tokens[first..]
            .iter()
            .take_while(|t| t.bytes.start < word.bytes.end)
            .count();
    let rest = &analysis.text[word.bytes.end..];
    let end_of_sentence = word.bytes.end + sentence_end(rest);
    let rest_tokens = analysis.tokens[word_end..]
        .iter()
        .take_while(|t| t.bytes.start < end_of_sentence)
        .count()
        .min(RIGHT_CONTEXT_TOKENS);
    CheckedTokens {
        tokens: first..word_end + rest_tokens,
        word_end,
        paragraph_break: analysis.text[word.bytes.end..end_of_sentence]
            .trim()
            .is_empty(),
    }
}

/// A hash of what decides a candidate's [`check_substitution`], for callers that cache
/// it: the word's sentence up to the word, the preferred word and the [`checked_tokens`].
/// (The text before the sentence is left out: it changes the result little.)
pub fn check_key(analysis: &BlockAnalysis, candidate: &HintCandidate) -> u64 {
    let word = candidate.word;
    let read = checked_tokens(analysis, word);
    let mut hasher = DefaultHasher::new();
    analysis.text[sentence_start(&analysis.text, word.bytes.start)..word.bytes.start]
        .hash(&mut hasher);
    candidate.preferred.hash(&mut hasher);
    read.paragraph_break.hash(&mut hasher);
    for token in &analysis.tokens[read.tokens] {
        token.id.hash(&mut hasher);
    }
    hasher.finish()
}

/// Start of the sentence around byte `offset` of a block's text: just after the previous
/// . ! ? or line end, or the block's start.
fn sentence_start(text: &str, offset: usize) -> usize {
    text[..offset]
        .char_indices()
        .rev()
        .find(|&(_, c)| matches!(c, '.' | '!' | '?' | '\n'))
        .map_or(0, |(i, c)| i + c.len_utf8())
}

/// Whether the word at `bytes` of `text` is written as a name or an acronym: a capital
/// after its first letter ("OpenPGP", "GUI"), or a capital first letter inside a sentence
/// ("from Berkeley"). A sentence's first word is not, nor is "I".
fn reads_as_name(text: &str, bytes: Range<usize>) -> bool {
    let word = &text[bytes.clone()];
    let mut letters = word.chars().filter(|c| c.is_alphabetic());
    let Some(first) = letters.next() else {
        return false;
    };
    if letters.clone().any(char::is_uppercase) {
        return true;
    }
    let inside_sentence = text[sentence_start(text, bytes.start)..bytes.start]
        .chars()
        .any(char::is_alphanumeric);
    first.is_uppercase() && inside_sentence && word != "I"
}

fn has_capital(word: &str) -> bool {
    word.chars().any(char::is_uppercase)
}

/// Byte length of `rest` up to and including the end of its sentence (. ! ? or a line end).
fn sentence_end(rest: &str) -> usize {
    rest.char_indices()
        .find(|&(_, c)| matches!(c, '.' | '!' | '?' | '\n'))
        .map_or(rest.len(), |(i, c)| i + c.len_utf8())
}

/// ln p_kNN-LM(continuation | left), the model running as a branch of `context`'s cache.
/// `first`, when the analysis has them: the LM's ln p of the continuation's first token
/// and p_kNN at the end of `left`, so that the run starts one token later.
/// The continuation's last token is never run: nothing after it is scored.
fn score_branch(
    context: &Context,
    corpora: &[&CorpusIndex],
    params: &KnnParams,
    left: &[u32],
    continuation: &[u32],
    first: Option<(f32, Option<&KnnPrediction>)>,
) -> Result<f32, LmError> {
    if left.is_empty() || continuation.is_empty() {
        return Ok(0.0);
    }
    let mut total = 0.0;
    let mut scored_from = 0;
    if let Some((lm, knn)) = first {
        total += interpolated(knn, lm, continuation[0]);
        scored_from = 1;
    }
    if scored_from == continuation.len() {
        return Ok(total);
    }
    // Position left.len() - 1 + i predicts continuation[i].
    let sequence: Vec<u32> = left
        .iter()
        .chain(&continuation[..continuation.len() - 1])
        .copied()
        .collect();
    let branch_from = left.len() - 1 + scored_from;
    let forward = context.branch(&sequence, branch_from, continuation.len() - scored_from)?;
    for (i, &token) in continuation.iter().enumerate().skip(scored_from) {
        let position = left.len() - 1 + i;
        let logits = forward.logits_at(position).ok_or(LmError::EmptyInput)?;
        let lm = (f64::from(logits[token as usize]) - log_sum_exp(logits)) as f32;
        let key = forward.key_at(position).ok_or(LmError::EmptyInput)?;
        let knn = knnlm::predict_knn(corpora, None, params, key);
        total += interpolated(knn.as_ref(), lm, token);
    }
    Ok(total)
}

/// ln p_kNN-LM(token), given the LM's ln p and p_kNN (none: nothing to retrieve from).
fn interpolated(knn: Option<&KnnPrediction>, lm_log_prob: f32, token: u32) -> f32 {
    match knn {
        Some(knn) => knn.interpolate(lm_log_prob, token),
        None => lm_log_prob,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_acronyms_are_recognised_by_their_capitals() {
        // (text, word, reads as a name)
        let cases = [
            ("There was a bug in OpenPGP here.", "OpenPGP", true),
            ("Set it from the GUI menu.", "GUI", true),
            ("An enhanced version of Berkeley csh.", "Berkeley", true),
            ("Intro. Berkeley wrote it.", "Berkeley", false),
            ("\"Berkeley wrote it.", "Berkeley", false),
            ("Then I went home.", "I", false),
            ("The cat sat.", "The", false),
            ("the cat sat.", "cat", false),
            ("It costs 3.5 euros.", "euros", false),
        ];
        for (text, word, expected) in cases {
            let start = text.find(word).unwrap();
            assert_eq!(
                reads_as_name(text, start..start + word.len()),
                expected,
                "{word} in {text:?}"
            );
        }
    }
}
