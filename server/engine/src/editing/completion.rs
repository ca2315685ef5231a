//! Completions at a cursor: the most probable next words under kNN-LM that fit what has been
//! typed of the word, each spelled out to the end of the word, and a short phrase where the
//! distribution is confident.

use super::usage::majority_word;
use crate::evidence::{supporting_sentences, SupportingSentence};
use crate::knnlm::{self, CorpusIndex, DocumentCache, KnnParams, KnnPrediction};
use crate::lm::{Context, LmError};

/// Where completion happens.
#[derive(Clone, Copy, Debug)]
pub struct CompletionQuery<'a> {
    /// Tokens of the text before the word being completed, without trailing whitespace.
    pub tokens_before: &'a [u32],
    /// What has been typed of the word so far (may be empty).
    pub prefix: &'a str,
    /// The word follows whitespace or a word, so its first token has a leading space
    /// (byte-level BPE: " word"); false after an opening bracket, quote or a block start.
    pub leading_space: bool,
}

#[derive(Clone, Debug)]
pub struct CompletionOptions {
    pub max_items: usize,
    /// Longest phrase offered, in words (0 or 1: no phrase).
    pub phrase_words: usize,
    /// Each word of a phrase must be at least this probable.
    pub phrase_min_probability: f32,
    pub max_support: usize,
    /// Model steps allowed beyond the first (to spell out a word or extend a phrase): each
    /// costs one decoded token.
    pub extra_steps: usize,
}

impl Default for CompletionOptions {
    fn default() -> Self {
        CompletionOptions {
            max_items: 8,
            phrase_words: 3,
            phrase_min_probability: 0.5,
            max_support: 3,
            extra_steps: 4,
        }
    }
}

/// One completion: a word, or a phrase starting with the top word.
#[derive(Clone, Debug)]
pub struct Completion {
    /// The word or phrase, without leading space.
    pub text: String,
    /// kNN-LM probability of the first token (of a phrase: the product over its words).
    pub probability: f32,
    pub lm_probability: f32,
    pub knn_probability: f32,
    /// Corpus sentences supporting the first token, heaviest first.
    pub support: Vec<SupportingSentence>,
    /// How many retrieved neighbours support the first token.
    pub support_count: usize,
    pub is_phrase: bool,
}

/// The neighbours' weight for ordering completions, when they agree: the share of p_kNN on
/// their favourite token (at most [`HOUSE_WORD_MAX_LAMBDA`]), if it is at least
/// [`HOUSE_WORD_AGREEMENT`] and more than λ, and the model finds that token fluent enough
/// for that agreement (at 0.5, at most [`HOUSE_WORD_MAX_LM_LOSS`] times less probable than
/// its own favourite). With λ tuned for perplexity (about 0.1) the model
/// outvotes unanimous neighbours: "If you can't" would list "log" (LM 0.21, corpus 0) above
/// "sign" (LM 0.15, corpus 0.99).
fn house_word_lambda(knn: &KnnPrediction, lm_log_probs: &[f32]) -> Option<f32> {
    let &(favourite, agreement) = knn
        .distribution
        .tokens
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let best_lm = lm_log_probs
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    // The surer the neighbours, the less fluent the model may find their word: at agreement
    // a, up to HOUSE_WORD_MAX_LM_LOSS × (a / (1 − a))² times less probable than its favourite
    // (20 at a = 0.5, 1,620 at 0.9, 48,020 at 0.98: "If you can't sign", corpus 0.98, after
    // "select the report in the sidebar.", where the model gives "sign" under 0.05%).
    let odds = (agreement / (1.0 - agreement).max(1e-6)).max(1.0);
    let fluent = lm_log_probs
        .get(favourite as usize)
        .is_some_and(|&lm| lm >= best_lm - (HOUSE_WORD_MAX_LM_LOSS * odds * odds).ln());
    // Below the house word, the model still orders the words the corpus does not carry.
    (fluent && agreement >= HOUSE_WORD_AGREEMENT && agreement > knn.lambda)
        .then_some(agreement.min(HOUSE_WORD_MAX_LAMBDA))
}

/// See [`house_word_lambda`].
pub const HOUSE_WORD_MAX_LM_LOSS: f32 = 20.0;

/// See [`house_word_lambda`]: most of the neighbours' weight on one token.
pub const HOUSE_WORD_AGREEMENT: f32 = 0.5;

/// A first word the corpus neighbours agree on at least this much (p_kNN) is sure, whatever
/// its interpolated probability (λ tuned for perplexity keeps that low): an editor may show
/// it as ghost text. (It does not start a phrase: extending "workspace" that way gave
/// "workspace to" where the corpus writes "workspace administrator".)
pub const SURE_AGREEMENT: f32 = 0.9;

/// See [`house_word_lambda`]: the largest weight the neighbours get in the order.
pub const HOUSE_WORD_MAX_LAMBDA: f32 = 0.95;

/// Completions for `query`, most probable first; the phrase, if any, comes right after
/// the word it starts with.
pub fn complete(
    context: &Context,
    corpora: &[&CorpusIndex],
    cache: Option<&DocumentCache>,
    params: &KnnParams,
    query: &CompletionQuery,
    options: &CompletionOptions,
) -> Result<Vec<Completion>, LmError> {
    if query.tokens_before.is_empty() {
        return Ok(Vec::new());
    }
    let tokenizer = context.model().tokenizer();
    let next = context.next_token(query.tokens_before)?;
    let knn = knnlm::predict_knn(corpora, cache, params, &next.knn_key);
    let texts = tokenizer.token_texts();
    let mut ranked: Vec<(u32, f32)> = Vec::new();
    let order_lambda = knn
        .as_ref()
        .and_then(|k| house_word_lambda(k, &next.log_probs));
    let mut order: Vec<(u32, f32)> = Vec::new();
    for (id, text) in texts.iter().enumerate().take(next.log_probs.len()) {
        let Some(body) = word_body(text, query.leading_space) else {
            continue;
        };
        if body.starts_with(query.prefix) || query.prefix.starts_with(body) {
            let lm = next.log_probs[id];
            let p = knn.as_ref().map_or(lm, |k| k.interpolate(lm, id as u32));
            ranked.push((id as u32, p));
            let in_order = match (knn.as_ref(), order_lambda) {
                (Some(k), Some(lambda)) => {
                    crate::knn_scoring::interpolate(lm, k.distribution.log_prob(id as u32), lambda)
                }
                _ => p,
            };
            order.push((id as u32, in_order));
        }
    }
    // Listed by `order` (the house word first where the neighbours agree); each item keeps
    // its kNN-LM probability.
    order.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let probability_of: std::collections::HashMap<u32, f32> = ranked.iter().copied().collect();
    let ranked: Vec<(u32, f32)> = order
        .iter()
        .map(|&(token, _)| (token, probability_of[&token]))
        .collect();

    let mut budget = options.extra_steps;
    let mut completions: Vec<Completion> = Vec::new();
    for &(token, log_p) in &ranked {
        if completions.len() >= options.max_items {
            break;
        }
        let body = word_body(&texts[token as usize], query.leading_space).unwrap_or_default();
        let all_support = knn
            .as_ref()
            .map(|k| supporting_sentences(corpora, &k.neighbours, token, usize::MAX))
            .unwrap_or_default();
        let corpus_spelling = majority_word(&all_support).filter(|w| w.starts_with(body));
        let word = match corpus_spelling {
            Some(word) if word.starts_with(query.prefix) => word,
            _ if body.starts_with(query.prefix) => body.to_string(),
            _ => {
                // The typed prefix runs past this token: spell the rest with the model.
                let mut sequence = query.tokens_before.to_vec();
                sequence.push(token);
                match spell_prefix(
                    context,
                    corpora,
                    cache,
                    params,
                    sequence,
                    body,
                    query.prefix,
                    &mut budget,
                )? {
                    Some(word) => word,
                    None => continue,
                }
            }
        };
        if completions.iter().any(|c| c.text == word) {
            continue;
        }
        let lm = next.log_probs[token as usize];
        completions.push(Completion {
            text: word,
            probability: log_p.exp(),
            lm_probability: lm.exp(),
            knn_probability: knn.as_ref().map_or(0.0, |k| k.distribution.prob(token)),
            support_count: all_support.len(),
            support: all_support.into_iter().take(options.max_support).collect(),
            is_phrase: false,
        });
    }

    if let Some(top) = completions.first() {
        if options.phrase_words > 1 && top.probability >= options.phrase_min_probability {
            let phrase = extend_phrase(
                context,
                corpora,
                cache,
                params,
                query,
                top,
                options,
                &mut budget,
            )?;
            if let Some(phrase) = phrase {
                completions.insert(1, phrase);
            }
        }
    }
    Ok(completions)
}

/// Whether a word written after `previous` (the last character before it, `None` at the
/// start of a block) starts with a space in byte-level BPE, as " word" does after a word,
/// whitespace or most punctuation; not after an opening bracket or quote, a slash or a dash.
pub fn leading_space_after(previous: Option<char>) -> bool {
    previous.is_some_and(|c| {
        !matches!(
            c,
            '(' | '[' | '{' | '"' | '\'' | '“' | '‘' | '/' | '-' | '—'
        )
    })
}

/// The word part of a token's text when it can start a word here: after its leading space
/// (required when `leading_space`, forbidden otherwise), beginning with a letter or digit.
fn word_body(text: &str, leading_space: bool) -> Option<&str> {
    let body = if leading_space {
        text.strip_prefix(' ')?
    } else {
        text
    };
    body.chars()
        .next()
        .is_some_and(char::is_alphanumeric)
        .then_some(body)
}

/// Extends `spelled` (the text of `sequence`'s last tokens) with the most probable tokens
/// that continue the word and fit `prefix`, until it covers the prefix.
#[allow(
    clippy::too_many_arguments,
    reason = "the completion step's whole state, passed explicitly"
)]
fn spell_prefix(
    context: &Context,
    corpora: &[&CorpusIndex],
    cache: Option<&DocumentCache>,
    params: &KnnParams,
    mut sequence: Vec<u32>,
    spelled: &str,
    prefix: &str,
    budget: &mut usize,
) -> Result<Option<String>, LmError> {
    let texts = context.model().tokenizer().token_texts();
    let mut word = spelled.to_string();
    while !word.starts_with(prefix) {
        if *budget == 0 {
            return Ok(None);
        }
        *budget -= 1;
        let next = context.next_token(&sequence)?;
        let knn = knnlm::predict_knn(corpora, cache, params, &next.knn_key);
        let rest = &prefix[word.len()..];
        let best = best_token(&next.log_probs, knn.as_ref(), |id| {
            let text = &texts[id as usize];
            word_body(text, false).is_some_and(|t| t.starts_with(rest) || rest.starts_with(t))
        });
        let Some((token, _)) = best else {
            return Ok(None);
        };
        word.push_str(&texts[token as usize]);
        sequence.push(token);
    }
    Ok(Some(word))
}

/// Greedily adds the next words after `top` while each is at least
/// `phrase_min_probability` probable, within the step budget.
#[allow(
    clippy::too_many_arguments,
    reason = "the completion step's whole state, passed explicitly"
)]
fn extend_phrase(
    context: &Context,
    corpora: &[&CorpusIndex],
    cache: Option<&DocumentCache>,
    params: &KnnParams,
    query: &CompletionQuery,
    top: &Completion,
    options: &CompletionOptions,
    budget: &mut usize,
) -> Result<Option<Completion>, LmError> {
    let tokenizer = context.model().tokenizer();
    let texts = tokenizer.token_texts();
    let space = if query.leading_space { " " } else { "" };
    let mut sequence = query.tokens_before.to_vec();
    sequence.extend(tokenizer.encode(&format!("{space}{}", top.text))?);
    let mut phrase = top.text.clone();
    let mut words = 1;
    let mut probability = top.probability;
    let mut in_word = true;
    while words < options.phrase_words && *budget > 0 {
        *budget -= 1;
        let next = context.next_token(&sequence)?;
        let knn = knnlm::predict_knn(corpora, cache, params, &next.knn_key);
        let Some((token, log_p)) = best_token(&next.log_probs, knn.as_ref(), |_| true) else {
            break;
        };
        let text = &texts[token as usize];
        if in_word && word_body(text, false).is_some() {
            // The last word goes on (the model spells it further): part of the same word.
            phrase.push_str(text);
        } else if word_body(text, true).is_some() && log_p.exp() >= options.phrase_min_probability {
            phrase.push_str(text);
            probability *= log_p.exp();
            words += 1;
            in_word = true;
        } else {
            break;
        }
        sequence.push(token);
    }
    // A phrase ends with a whole word: drop a word whose spelling was cut by the budget.
    if words < 2 {
        return Ok(None);
    }
    Ok(Some(Completion {
        text: phrase,
        probability,
        lm_probability: top.lm_probability,
        knn_probability: top.knn_probability,
        support: top.support.clone(),
        support_count: top.support_count,
        is_phrase: true,
    }))
}

/// The most probable token under kNN-LM among those `allowed`.
fn best_token(
    log_probs: &[f32],
    knn: Option<&KnnPrediction>,
    allowed: impl Fn(u32) -> bool,
) -> Option<(u32, f32)> {
    let limit = log_probs.len();
    let mut candidates: Vec<u32> = knnlm::top_indices(log_probs, 64);
    if let Some(knn) = knn {
        candidates.extend(knn.distribution.tokens.iter().map(|&(t, _)| t));
    }
    candidates
        .into_iter()
        .filter(|&t| (t as usize) < limit && allowed(t))
        .map(|t| {
            let lm = log_probs[t as usize];
            (t, knn.map_or(lm, |k| k.interpolate(lm, t)))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knn_scoring::KnnDistribution;

    #[test]
    fn unanimous_neighbours_order_their_word_first_unless_the_model_finds_it_unfit() {
        // Token 0 is the model's favourite (p 0.5); the neighbours favour token 1.
        // (the neighbours' share on token 1, the model's p of token 1, the order's λ)
        let cases = [
            (0.98, 0.0004, Some(0.95)), // 1,250 times less probable: allowed at 0.98
            (0.98, 0.000_005, None),    // 100,000 times: not
            (0.9, 0.001, Some(0.9)),    // 500 times: allowed at 0.9 (up to 1,620)
            (0.9, 0.0001, None),        // 5,000 times: not
            (0.6, 0.02, Some(0.6)),     // 25 times: allowed at 0.6 (up to 45)
            (0.6, 0.005, None),         // 100 times: not
            (0.4, 0.3, None),           // the neighbours do not agree
        ];
        for (agreement, lm_p, expected) in cases {
            let knn = KnnPrediction {
                distribution: KnnDistribution {
                    tokens: vec![
                        (1, agreement),
                        (2, (1.0 - agreement) / 2.0),
                        (3, (1.0 - agreement) / 2.0),
                    ],
                    weights: Vec::new(),
                },
                neighbours: Vec::new(),
                lambda: 0.15,
            };
            let lm_log_probs = [0.5f32.ln(), f32::ln(lm_p), 0.1f32.ln(), 0.1f32.ln()];
            assert_eq!(
                house_word_lambda(&knn, &lm_log_probs),
                expected,
                "agreement {agreement}, p_LM {lm_p}"
            );
        }
    }

    #[test]
    fn a_word_takes_a_leading_space_except_after_an_opening_or_a_joiner() {
        // (the character before the word, whether the word's first token has a space)
        let cases = [
            (None, false),
            (Some('x'), true),
            (Some(' '), true),
            (Some('\n'), true),
            (Some(','), true),
            (Some('.'), true),
            (Some(')'), true),
            (Some('('), false),
            (Some('“'), false),
            (Some('"'), false),
            (Some('/'), false),
            (Some('-'), false),
        ];
        for (previous, expected) in cases {
            assert_eq!(
                leading_space_after(previous),
                expected,
                "after {previous:?}"
            );
        }
    }
}
