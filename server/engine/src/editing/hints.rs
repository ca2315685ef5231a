//! Word-choice hints: words the team's corpus writes differently. Four kinds, each with
//! the house word as the fix:
//! - **stated rule**: the corpus states the choice in words ("Write select, not click or
//!   tap", [`crate::stated_rules`]); found in the text as written, with no model check;
//! - **spelling**: the corpus never writes the word, but often writes a spelling variant
//!   of it ("organisation" → "organization", "cancelled" → "canceled");
//! - **capitalisation**: the corpus writes the same letters in another case ("Github" →
//!   "GitHub", "debian" → "Debian");
//! - **word choice**: at this point the corpus neighbours agree on another word, which the
//!   corpus writes far more often than the written one ("log in" → "sign in", "dashboard"
//!   → "workspace"); or, for a word the corpus never writes, the corpus's contexts that read
//!   like this one end in another word, which the model reads alike here ("please utilize
//!   the" → "please use the").
//!
//! A fluent word that is not the house word is never much less probable than the house
//! word, even under kNN-LM: what marks a house style is where the corpus departs from
//! general English. So candidates come from the corpus's own vocabulary and neighbours
//! (stage 1, no model run), and the model only confirms that the house word fits the
//! sentence (stage 2): the sentence with the house word, over the word and up to
//! [`RIGHT_CONTEXT_TOKENS`] tokens after it, must be about as fluent under the base model
//! as the sentence as written.
//! Names and acronyms get no word-choice hint unless the corpus prefers another
//! capitalised word: a rare name makes any sentence improbable, so "a bug in OpenPGP"
//! would otherwise become "a bug in the".

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::ops::Range;

use super::analysis::{BlockAnalysis, WordAnalysis};
use super::usage::majority_word;
use crate::evidence::{
    sentence_using, sentence_with_term, supporting_sentences, words_before, SupportingSentence,
};
use crate::knnlm::{self, CorpusIndex, KnnParams, KnnPrediction};
use crate::lm::{log_sum_exp, Context, LmError};
use crate::stated_rules::StatedRule;

/// Tokens after the word that the substitution check scores (the rest of the sentence, at
/// most this many). Measured with `precedent bench hints` on the Debian Reference: 6
/// instead of 12 catches the same planted swaps at the default thresholds (false alarms
/// 1.25 instead of 1.09 per 1,000 words, one more hint in 6,398 words) and makes each
/// check about a quarter cheaper.
pub const RIGHT_CONTEXT_TOKENS: usize = 6;

/// When a house word is worth a hint. Quiet by default: hints should be few and sure.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HintThresholds {
    /// Word choice: the corpus neighbours' p_kNN of the house word (its first token) where
    /// the written word stands must reach this.
    pub min_preferred_probability: f32,
    /// Word choice: the corpus neighbours must prefer the house word to the written word
    /// (first tokens, where the word stands) at least this many times more than the base
    /// model does ([`corpus_lift`]). The neighbours' agreement, not the interpolated model:
    /// with λ tuned for perplexity the base model outvotes unanimous neighbours.
    pub min_ratio: f32,
    /// Every kind: the sentence with the house word may be at most this many times less
    /// probable under the base model than as written (the house word must fit the
    /// sentence: "selects" is no spelling of "select").
    /// (f64: a test model may need e^100.)
    pub max_fluency_loss: f64,
    /// The same for a capitalisation variant ("Github" → "GitHub" costs little, "Go to
    /// the menu" → "GO" much). A spelling variant is held to `max_fluency_loss`: it must
    /// read alike ([`MIN_STATE_SIMILARITY`]), which tells another word ("must not be present"
    /// → "prevent") from a spelling the model merely finds rarer ("cancelled" → "canceled":
    /// 14 times less probable in one sentence, read 0.995 alike).
    pub max_variant_fluency_loss: f32,
    /// Word choice: the corpus writes the house word at least this many times as often as
    /// the written word, and at least this many times in all.
    pub min_count_ratio: f32,
    /// Words with fewer tokens before them in their block get no hint: with so little
    /// context neither the model nor the neighbours know what the sentence is about.
    pub min_context_tokens: usize,
}

/// Chosen with `precedent bench style` and `precedent bench hints` on held-out Debian
/// Reference sections and the demo corpus (docs/measurements.md).
pub const DEFAULT_HINT_THRESHOLDS: HintThresholds = HintThresholds {
    min_preferred_probability: 0.3,
    min_ratio: 30.0,
    max_fluency_loss: 100.0,
    max_variant_fluency_loss: 4.0,
    min_count_ratio: 4.0,
    min_context_tokens: 4,
};

impl Default for HintThresholds {
    fn default() -> Self {
        DEFAULT_HINT_THRESHOLDS
    }
}

/// Why the corpus would write another word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HintKind {
    /// The corpus states the house word in a rule ("Write sign in, not log in").
    StatedRule,
    /// The corpus writes the word with other letters and never this way.
    Spelling,
    /// The corpus writes the same letters in another case.
    Capitalisation,
    /// The corpus neighbours agree on another word, which the corpus writes far more often.
    WordChoice,
}

impl HintKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [HintKind; 4] = [
        HintKind::StatedRule,
        HintKind::Spelling,
        HintKind::Capitalisation,
        HintKind::WordChoice,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            HintKind::StatedRule => "stated-rule",
            HintKind::Spelling => "spelling",
            HintKind::Capitalisation => "capitalisation",
            HintKind::WordChoice => "word-choice",
        }
    }
}

/// A written word and the word the corpus writes in its place.
#[derive(Clone, Debug)]
pub struct Hint {
    /// Bytes of the written word in the block's text.
    pub bytes: Range<usize>,
    pub kind: HintKind,
    pub written: String,
    pub preferred: String,
    /// How often the corpus writes each (any case for a word choice or spelling; the exact
    /// form for capitalisation).
    pub written_count: u32,
    pub preferred_count: u32,
    /// ln of p(sentence with the preferred word) / p(sentence as written), from the word
    /// on, under kNN-LM and under the base model alone (0 for a stated rule: not checked).
    pub log_ratio: f32,
    pub lm_log_ratio: f32,
    /// Corpus sentences that use the preferred word, heaviest or first first.
    pub support: Vec<SupportingSentence>,
}

impl Hint {
    /// How sure the hint is, to keep the surest when a document has too many: the corpus's
    /// preference by counts and the sentence's under kNN-LM, in nats.
    pub fn confidence(&self) -> f32 {
        let counts = ((self.preferred_count as f32 + 1.0) / (self.written_count as f32 + 1.0)).ln();
        counts + self.log_ratio.max(0.0)
    }

    /// The corpus never writes the written word, in any form, and writes the house word
    /// instead: a term the house style rejects ("utilize" where the corpus writes "use",
    /// "organisation" where it writes "organization"). A capitalisation is none: the word
    /// is the house's own, only its case differs ("Github"), and its count is of that one
    /// form.
    pub fn is_rejected_term(&self) -> bool {
        self.kind != HintKind::Capitalisation && self.written_count == 0
    }
}

/// The hint in a sentence, for a diagnostic or a line of `precedent check`:
/// "The corpus writes “sign” here (13 times; “log” 2 times)".
pub fn hint_message(hint: &Hint) -> String {
    let times = |count: u32| match count {
        0 => "never".to_string(),
        1 => "once".to_string(),
        n => format!("{n} times"),
    };
    if hint.kind == HintKind::StatedRule {
        return format!(
            "The corpus says to write \u{201c}{}\u{201d}, not \u{201c}{}\u{201d} (it writes \u{201c}{}\u{201d} {}; \u{201c}{}\u{201d} {})",
            hint.preferred,
            hint.written,
            hint.preferred,
            times(hint.preferred_count),
            hint.written,
            times(hint.written_count),
        );
    }
    let what = match hint.kind {
        HintKind::Spelling => "spells it",
        HintKind::StatedRule | HintKind::Capitalisation | HintKind::WordChoice => "writes",
    };
    let here = if hint.kind == HintKind::WordChoice {
        " here"
    } else {
        ""
    };
    format!(
        "The corpus {what} \u{201c}{}\u{201d}{here} ({}; \u{201c}{}\u{201d} {})",
        hint.preferred,
        times(hint.preferred_count),
        hint.written,
        times(hint.written_count),
    )
}

/// A word that passed the first stage, before the substitution check.
#[derive(Clone, Debug)]
pub struct HintCandidate<'a> {
    pub word: &'a WordAnalysis,
    pub kind: HintKind,
    /// The house word, spelled as it would stand here.
    pub preferred: String,
    pub written_count: u32,
    pub preferred_count: u32,
    /// A word choice that rests on the model agreeing, for a word the corpus never writes:
    /// the house word must then fit the sentence at least as well as the written word, and
    /// the model must read the two sentences alike ([`MIN_STATE_SIMILARITY`]).
    pub model_agrees: bool,
    pub support: Vec<SupportingSentence>,
}

impl HintCandidate<'_> {
    /// Whether the substitution check's `comparison` confirms the hint: the house word fits
    /// the sentence about as well as the written word under the base model. (That the
    /// corpus prefers it is what stage (1) established.)
    pub fn confirmed_by(&self, comparison: Comparison, thresholds: &HintThresholds) -> bool {
        let max_loss = match self.kind {
            // The corpus states it in words ([`stated_rule_hints`] finds no candidates).
            HintKind::StatedRule => return true,
            // Resting on the model, the house word must also mean the same there: the model
            // reads the sentence with it alike.
            HintKind::WordChoice if self.model_agrees => {
                if comparison.state_similarity < MIN_STATE_SIMILARITY {
                    return false;
                }
                1.0
            }
            HintKind::WordChoice => thresholds.max_fluency_loss,
            // Two spellings of one word read alike; a near spelling of another word does
            // not, however often the corpus writes it ("texts" / "tests").
            HintKind::Spelling if comparison.state_similarity < MIN_STATE_SIMILARITY => {
                return false;
            }
            HintKind::Spelling => thresholds.max_fluency_loss,
            HintKind::Capitalisation => f64::from(thresholds.max_variant_fluency_loss),
        };
        f64::from(comparison.lm_log_ratio) >= -max_loss.ln()
    }

    /// The hint, once the substitution check gave `comparison`.
    pub fn into_hint(
        self,
        analysis: &BlockAnalysis,
        comparison: Comparison,
        max_support: usize,
    ) -> Hint {
        let word = self.word;
        Hint {
            bytes: word.bytes.clone(),
            kind: self.kind,
            written: analysis.text[word.bytes.clone()].to_string(),
            preferred: self.preferred,
            written_count: self.written_count,
            preferred_count: self.preferred_count,
            log_ratio: comparison.log_ratio,
            lm_log_ratio: comparison.lm_log_ratio,
            support: self.support.into_iter().take(max_support).collect(),
        }
    }
}

/// The corpora's vocabularies, counted together.
struct Vocabulary<'a> {
    corpora: &'a [&'a CorpusIndex],
}

impl Vocabulary<'_> {
    fn count_folded(&self, word: &str) -> u32 {
        self.corpora
            .iter()
            .map(|c| c.lexicon().count_folded(word))
            .sum()
    }

    /// Whether a corpus sentence that writes `word` (in any case) contains `text`: the text
    /// is the corpus's own ("Write remove for taking something out of a list" in the style
    /// guide itself), whatever its neighbours say.
    fn writes_text(&self, word: &str, text: &str) -> bool {
        let text = text.trim();
        self.corpora.iter().any(|corpus| {
            let lexicon = corpus.lexicon();
            lexicon.forms_of(word).any(|(_, use_)| {
                use_.examples.iter().any(|&at| {
                    corpus
                        .sentence(at.document, at.sentence)
                        .is_some_and(|s| s.text.contains(text) || text.contains(s.text.trim()))
                })
            })
        })
    }

    /// Whether the corpus writes `word` as a name: capitalised inside sentences more often
    /// than not ("Debian" yes; "The", capitalised in titles, no).
    fn is_name(&self, word: &str) -> bool {
        let (capitalised, lower): (Vec<_>, Vec<_>) = self
            .forms(word)
            .into_iter()
            .partition(|(form, _, _)| has_capital(form));
        let inside = |forms: &[(String, u32, u32)]| forms.iter().map(|f| f.2).sum::<u32>();
        inside(&capitalised) > inside(&lower)
    }

    /// See [`MAX_AVOIDED_COUNT`].
    fn max_avoided_count(&self) -> u32 {
        let words: u64 = self.corpora.iter().map(|c| c.lexicon().word_count()).sum();
        MAX_AVOIDED_COUNT + (words / 100_000) as u32
    }

    fn count_inflected(&self, word: &str) -> u32 {
        self.corpora
            .iter()
            .map(|c| c.lexicon().count_inflected(word))
            .sum()
    }

    /// Every form of `word`'s letters with its (count, count inside sentences), summed.
    fn forms(&self, word: &str) -> Vec<(String, u32, u32)> {
        let mut forms: Vec<(String, u32, u32)> = Vec::new();
        for corpus in self.corpora {
            for (form, use_) in corpus.lexicon().forms_of(word) {
                match forms.iter_mut().find(|(f, _, _)| f == form) {
                    Some(found) => {
                        found.1 += use_.count;
                        found.2 += use_.inside_sentence();
                    }
                    None => forms.push((form.to_string(), use_.count, use_.inside_sentence())),
                }
            }
        }
        forms.sort();
        forms
    }

    fn spelling_variants(&self, word: &str) -> Vec<String> {
        let mut variants: Vec<String> = self
            .corpora
            .iter()
            .flat_map(|c| c.lexicon().spelling_variants(word))
            .map(str::to_string)
            .collect();
        variants.sort();
        variants.dedup();
        variants
    }

    /// Up to `max` corpus sentences that write `form`, each sentence text once.
    fn examples(&self, form: &str, max: usize) -> Vec<SupportingSentence> {
        let mut distinct: Vec<SupportingSentence> = Vec::new();
        let sentences = self.corpora.iter().flat_map(|corpus| {
            let examples = corpus
                .lexicon()
                .form(form)
                .map(|use_| use_.examples.clone())
                .unwrap_or_default();
            examples
                .into_iter()
                .filter_map(move |at| sentence_using(corpus, at, form))
        });
        for sentence in sentences {
            if distinct.len() == max {
                break;
            }
            if !distinct.iter().any(|s| s.sentence == sentence.sentence) {
                distinct.push(sentence);
            }
        }
        distinct
    }

    /// Up to `max` corpus sentences that write `term` (one word or several), each sentence
    /// text once: among the sentences kept as examples of its first word.
    /// A heading that is only the term ("Sign in") shows nothing of its use: a sentence
    /// has at least two words more.
    fn term_examples(&self, term: &str, max: usize) -> Vec<SupportingSentence> {
        let Some(first) = crate::lexicon::words(term).next() else {
            return Vec::new();
        };
        let min_words = crate::lexicon::words(term).count() + 2;
        let mut distinct: Vec<SupportingSentence> = Vec::new();
        for corpus in self.corpora {
            for (_, use_) in corpus.lexicon().forms_of(first) {
                for &at in &use_.examples {
                    let Some(sentence) = sentence_with_term(corpus, at, term) else {
                        continue;
                    };
                    let words = crate::lexicon::words(&sentence.sentence).count();
                    if words >= min_words
                        && distinct.len() < max
                        && !distinct.iter().any(|s| s.sentence == sentence.sentence)
                    {
                        distinct.push(sentence);
                    }
                }
            }
        }
        distinct
    }
}

/// The corpus writes a variant or a house word at least this often (spelling variants of
/// the demo's style guide are written once; capitalisation needs more, as titles are often
/// capitalised).
const MIN_CAPITALISED_COUNT: u32 = 3;

/// A name the corpus writes at least this often (once inside a sentence at least) and
/// never in the written case is a capitalisation finding.
const MIN_NAME_COUNT: u32 = 2;

/// A word the corpus writes at most this often, plus one per 100,000 corpus words, is one
/// it avoids; a word it writes more often is not a word-choice finding, however strongly
/// the neighbours prefer another one here.
const MAX_AVOIDED_COUNT: u32 = 2;

/// Tokens of its sentence that must follow a word for a word-choice hint.
const MIN_RIGHT_TOKENS: usize = 2;

/// Word choices checked per word, the highest [`corpus_lift`] first: the first that fits
/// the sentence is the hint.
const WORD_CHOICE_CANDIDATES: usize = 3;

/// A word written where like contexts end ([`words_in_like_contexts`]) must carry at least
/// this share of the neighbours' weight.
const MIN_LIKE_CONTEXT_WEIGHT: f32 = 0.05;

/// Corpus sentences among the neighbours that must write the house word, for a word choice
/// from the neighbours before the word: a house habit, not one sentence that happens to
/// read alike. On held-out Python HOWTOs, one or two sentences gave "presentation" →
/// "talk", "strokes" → "windows", "glyph" → "section"; the demo's rules have 4 to 10.
const MIN_SUPPORTING_SENTENCES: usize = 3;

/// The corpus writes a word of like contexts at least this often, in any case.
const MIN_LIKE_CONTEXT_COUNT: u32 = 4;

/// How alike the model must read the sentence with the house word and as written, for a
/// house word of like contexts and for a spelling variant: the cosine similarity of the
/// model's states (keys) right after either word. Synonyms in context read alike ("please
/// use" / "please utilize": 0.99; "organisation" / "organization": 0.995), other fluent
/// words less ("this section" / "this elementary": 0.85; "texts" / "tests": 0.93).
pub const MIN_STATE_SIMILARITY: f32 = 0.97;

/// For a word the corpus never writes: how much the neighbours must prefer the house word
/// (ln of the p_kNN ratio) when the model prefers it too: ln 5.
const AVOIDED_WORD_KNN_PREFERENCE: f32 = 1.609_438;

/// Added to both p_kNN of a word choice, so that a word the neighbours never carry is not
/// infinitely dispreferred.
const KNN_SMOOTHING: f32 = 0.01;

/// How often the corpora write `word`, in any case.
pub fn corpus_count(corpora: &[&CorpusIndex], word: &str) -> u32 {
    Vocabulary { corpora }.count_folded(word)
}

/// A spelling or capitalisation the corpus writes instead of the word at `word`, with how
/// often it writes each and up to `max_support` of its sentences (what a hover shows of a
/// spelling or capitalisation hint; no model run).
pub fn house_variant(
    analysis: &BlockAnalysis,
    word: &WordAnalysis,
    corpora: &[&CorpusIndex],
    max_support: usize,
) -> Option<(HintKind, String, u32, u32, Vec<SupportingSentence>)> {
    let vocabulary = Vocabulary { corpora };
    let written = &analysis.text[word.bytes.clone()];
    let initial = sentence_initial(&analysis.text, word.bytes.start);
    let finding = capitalisation(&vocabulary, written, initial)
        .or_else(|| spelling(&vocabulary, &analysis.text, word, initial))?;
    let support = vocabulary.examples(&finding.house_form, max_support);
    Some((
        finding.kind,
        finding.preferred,
        finding.written_count,
        finding.preferred_count,
        support,
    ))
}

/// Stage (1) for the word choices the corpus states as rules ("Write sign in, not log in";
/// [`crate::stated_rules`]): where the block writes a term a rule rules out, with the house
/// term as the fix and the rule's sentence first in the evidence. No model check: the
/// corpus says so in words. A rule holds while the corpus avoids the term elsewhere too (at
/// most [`MAX_AVOIDED_COUNT`], and `min_count_ratio` times less often than the house term:
/// [`holding_rules`]). The block's own rules ("Write canceled, not cancelled") are no hints.
pub fn stated_rule_hints(
    text: &str,
    corpora: &[&CorpusIndex],
    thresholds: &HintThresholds,
) -> Vec<Hint> {
    let vocabulary = Vocabulary { corpora };
    let ruled_out = RuledOutSpans::of(text);
    let mut hints: Vec<Hint> = Vec::new();
    for (corpus, rule) in holding_rules(corpora, thresholds) {
        for bytes in rule.find_in(text) {
            let taken = hints
                .iter()
                .any(|h| h.bytes.start < bytes.end && bytes.start < h.bytes.end);
            if taken || ruled_out.contains(bytes.start) {
                continue;
            }
            let written = &text[bytes.clone()];
            let capitalised = |s: &str| s.chars().next().is_some_and(char::is_uppercase);
            let preferred = if capitalised(written) && !capitalised(&rule.house) {
                capitalise_first(&rule.house)
            } else {
                rule.house.clone()
            };
            let stated = sentence_with_term(corpus, rule.stated_in, &rule.house);
            let mut support: Vec<SupportingSentence> = stated.into_iter().collect();
            for example in vocabulary.term_examples(&rule.house, EXAMPLES) {
                if support.len() < EXAMPLES
                    && !support.iter().any(|s| s.sentence == example.sentence)
                {
                    support.push(example);
                }
            }
            hints.push(Hint {
                bytes,
                kind: HintKind::StatedRule,
                written: written.to_string(),
                preferred,
                written_count: rule.avoided_count,
                preferred_count: rule.house_count,
                log_ratio: 0.0,
                lm_log_ratio: 0.0,
                support,
            });
        }
    }
    hints.sort_by_key(|h| h.bytes.start);
    hints
}

/// The stated rules the corpora hold to: the corpus writes the ruled-out term at most
/// [`MAX_AVOIDED_COUNT`] times (plus one per 100,000 words), and `min_count_ratio` times
/// less often than the house term.
fn holding_rules<'a>(
    corpora: &'a [&'a CorpusIndex],
    thresholds: &HintThresholds,
) -> Vec<(&'a CorpusIndex, &'a StatedRule)> {
    let max_avoided = Vocabulary { corpora }.max_avoided_count();
    corpora
        .iter()
        .flat_map(|corpus| {
            corpus
                .stated_rules()
                .rules()
                .iter()
                .map(move |r| (*corpus, r))
        })
        .filter(|(_, rule)| {
            rule.avoided_count <= max_avoided
                && rule.house_count as f32 >= thresholds.min_count_ratio * rule.avoided_count as f32
        })
        .collect()
}

/// For each of `texts`, the house term of a stated rule it breaks ("select" for "click the
/// report"), if any: for completions, which the writer has not written yet. The rules that
/// hold are found once for all of them.
pub fn house_terms_instead(
    texts: &[&str],
    corpora: &[&CorpusIndex],
    thresholds: &HintThresholds,
) -> Vec<Option<String>> {
    let rules = holding_rules(corpora, thresholds);
    texts
        .iter()
        .map(|text| {
            rules
                .iter()
                .find(|(_, rule)| !rule.find_in(text).is_empty())
                .map(|(_, rule)| rule.house.clone())
        })
        .collect()
}

/// Corpus sentences kept as the evidence of a spelling or capitalisation candidate.
const EXAMPLES: usize = 3;

/// What stage (1) found at a word.
struct Finding {
    kind: HintKind,
    /// The house word as it would stand here (capitalised at a sentence start).
    preferred: String,
    /// The house word as the corpus writes it, to find its sentences.
    house_form: String,
    written_count: u32,
    preferred_count: u32,
    model_agrees: bool,
    support: Vec<SupportingSentence>,
}

/// Stage (1): the words of the block that the corpus writes differently, with the house
/// word (for a word choice, up to [`WORD_CHOICE_CANDIDATES`] house words, the likeliest
/// first), without running the model.
pub fn hint_candidates<'a>(
    analysis: &'a BlockAnalysis,
    corpora: &[&CorpusIndex],
    params: &KnnParams,
    thresholds: &HintThresholds,
) -> Vec<HintCandidate<'a>> {
    let vocabulary = Vocabulary { corpora };
    let mut candidates = Vec::new();
    let ruled_out = RuledOutSpans::of(&analysis.text);
    for word in &analysis.words {
        if word.token_index < thresholds.min_context_tokens {
            continue;
        }
        let written = &analysis.text[word.bytes.clone()];
        if !written
            .chars()
            .all(|c| c.is_alphabetic() || c == '\'' || c == '’')
        {
            continue;
        }
        if ruled_out.contains(word.bytes.start) {
            continue;
        }
        let initial = sentence_initial(&analysis.text, word.bytes.start);
        let variant = capitalisation(&vocabulary, written, initial)
            .or_else(|| spelling(&vocabulary, &analysis.text, word, initial));
        let found = match variant {
            Some(variant) => vec![variant],
            None => word_choice(&vocabulary, analysis, word, params, thresholds),
        };
        for mut finding in found {
            if finding.support.is_empty() {
                finding.support = vocabulary.examples(&finding.house_form, EXAMPLES);
            }
            candidates.push(HintCandidate {
                word,
                kind: finding.kind,
                preferred: finding.preferred,
                written_count: finding.written_count,
                preferred_count: finding.preferred_count,
                model_agrees: finding.model_agrees,
                support: finding.support,
            });
        }
    }
    candidates
}

/// The corpus writes these letters in another case, and never (inside a sentence) as
/// written. A capital that only marks a sentence start, or a capital first letter where
/// the corpus writes the word in lower case (a heading, a label after a colon), is no
/// finding.
fn capitalisation(vocabulary: &Vocabulary, written: &str, initial: bool) -> Option<Finding> {
    // A word in capitals is emphasis or a title ("JOB CONTROL"), not a spelling.
    let letters = written.chars().filter(|c| c.is_alphabetic()).count();
    if letters > 1 && !written.chars().any(char::is_lowercase) {
        return None;
    }
    let forms = vocabulary.forms(written);
    let as_at_start = |form: &str| capitalise_first(form);
    let written_use: u32 = forms
        .iter()
        .filter(|(form, _, _)| {
            if initial {
                as_at_start(form) == as_at_start(written)
            } else {
                form == written
            }
        })
        .map(|(_, count, inside)| if initial { *count } else { *inside })
        .sum();
    let (house, count, _) = forms
        .iter()
        .filter(|(form, _, _)| {
            form != written && !(initial && as_at_start(form) == as_at_start(written))
        })
        .map(|(form, count, inside)| (form, *count, if initial { *count } else { *inside }))
        .max_by_key(|&(form, _, relevant)| (relevant, std::cmp::Reverse(form.clone())))?;
    let relevant = if initial {
        count
    } else {
        forms.iter().find(|f| &f.0 == house)?.2
    };
    // A name the corpus writes a few times, inside a sentence at least once, and never as
    // written anywhere, is as sure as a word it often capitalises inside sentences ("NFS",
    // "eucJP": most of their uses are in headings and tables).
    let written_anywhere: u32 = forms
        .iter()
        .filter(|(form, _, _)| form == written)
        .map(|f| f.1)
        .sum();
    let rare_name = !initial && relevant >= 1 && count >= MIN_NAME_COUNT && written_anywhere == 0;
    if (relevant < MIN_CAPITALISED_COUNT && !rare_name) || written_use > 0 {
        return None;
    }
    // "Workspace" inside a sentence where the corpus writes "workspace": often a label or
    // a heading in title case, seldom a house rule.
    if !initial && lower_first(written) == *house {
        return None;
    }
    let preferred = if initial {
        capitalise_first(house)
    } else {
        house.clone()
    };
    Some(Finding {
        kind: HintKind::Capitalisation,
        preferred,
        house_form: house.clone(),
        written_count: written_use,
        preferred_count: count,
        model_agrees: false,
        support: Vec::new(),
    })
}

/// The corpus never writes the word in any case, but writes a spelling variant of it
/// ([`crate::lexicon::spelling_variant`]). A name needs a capitalised variant.
fn spelling(
    vocabulary: &Vocabulary,
    text: &str,
    word: &WordAnalysis,
    initial: bool,
) -> Option<Finding> {
    let written = &text[word.bytes.clone()];
    let possessive = written.contains(['\'', '’']);
    // "WindowsXP", "OpenPGP": a capital inside a word marks a name or a product, whose
    // letters are not a spelling of another word (its case is checked above).
    let inner_capital = written.chars().skip(1).any(char::is_uppercase);
    if possessive || inner_capital || vocabulary.count_folded(written) > 0 {
        return None;
    }
    let name = reads_as_name(text, word.bytes.clone());
    let (house, count) = vocabulary
        .spelling_variants(written)
        .into_iter()
        .filter_map(|variant| {
            // The variant's most used form, and how often the corpus writes it at all.
            let forms = vocabulary.forms(&variant);
            let total: u32 = forms.iter().map(|f| f.1).sum();
            let (form, _, _) = forms.into_iter().max_by_key(|f| (f.2, f.1))?;
            Some((form, total))
        })
        .filter(|(form, _)| !name || has_capital(form))
        .max_by_key(|(form, count)| (*count, std::cmp::Reverse(form.clone())))?;
    let preferred = if initial || written.chars().next().is_some_and(char::is_uppercase) {
        capitalise_first(&house)
    } else {
        house.clone()
    };
    Some(Finding {
        kind: HintKind::Spelling,
        preferred,
        house_form: house,
        written_count: 0,
        preferred_count: count,
        model_agrees: false,
        support: Vec::new(),
    })
}

/// The corpus neighbours agree on another word here, which the corpus writes far more often
/// than the written word. Only for words the model reads as one token (common words: a
/// term or a name of several tokens is new to a corpus for other reasons than style).
fn word_choice(
    vocabulary: &Vocabulary,
    analysis: &BlockAnalysis,
    word: &WordAnalysis,
    params: &KnnParams,
    thresholds: &HintThresholds,
) -> Vec<Finding> {
    let text = &analysis.text;
    let written = &text[word.bytes.clone()];
    let one_token = analysis.tokens[word.token_index].bytes.end >= word.bytes.end;
    // The check needs words after this one to tell a house word from a word that does not
    // fit ("a backend for gtk" → "for the"): a word that ends its sentence gets none.
    let read = checked_tokens(analysis, word);
    let followed = !read.paragraph_break && read.tokens.end - read.word_end >= MIN_RIGHT_TOKENS;
    let Some(prediction) = word.prediction(params).filter(|_| one_token && followed) else {
        return Vec::new();
    };
    let written_knn = prediction.distribution.prob(word.written);
    // Any form of the written word counts: a corpus that writes "share" does not avoid
    // "shared".
    let written_count = vocabulary.count_inflected(written);
    let sentence = sentence_start(text, word.bytes.start)
        ..word.bytes.end + sentence_end(&text[word.bytes.end..]);
    if written_count > vocabulary.max_avoided_count()
        || vocabulary.writes_text(written, &text[sentence])
        || is_number_word(written)
    {
        return Vec::new();
    }
    let name = reads_as_name(text, word.bytes.clone());
    let mut findings: Vec<(f32, Finding)> = prediction
        .distribution
        .tokens
        .iter()
        .filter(|&&(token, p)| {
            token != word.written
                && p >= thresholds.min_preferred_probability
                && preferred_here(word, token, p, written_knn, written_count, thresholds)
        })
        .filter_map(|&(token, _)| {
            let support = supporting_sentences(
                vocabulary.corpora,
                &prediction.neighbours,
                token,
                usize::MAX,
            );
            if support.len() < MIN_SUPPORTING_SENTENCES {
                return None;
            }
            let house = majority_word(&support)?;
            let count = vocabulary.count_folded(&house);
            let differs =
                house.to_lowercase() != written.to_lowercase() && !are_opposites(&house, written);
            let preferred_enough =
                count as f32 >= thresholds.min_count_ratio * written_count.max(1) as f32;
            // A name is only replaced by another name: a word the corpus capitalises inside
            // sentences ("RSA" → "The" is no finding).
            let fits_name = !name || vocabulary.is_name(&house);
            (differs && preferred_enough && fits_name).then(|| {
                let lift = corpus_lift(
                    word,
                    token,
                    prediction.distribution.prob(token),
                    written_knn,
                );
                let finding = Finding {
                    kind: HintKind::WordChoice,
                    preferred: house.clone(),
                    house_form: house,
                    written_count,
                    preferred_count: count,
                    model_agrees: lift < thresholds.min_ratio.ln(),
                    support,
                };
                (lift, finding)
            })
        })
        .collect();
    findings.sort_by(|a, b| b.0.total_cmp(&a.0));
    findings.dedup_by(|a, b| a.1.preferred == b.1.preferred);
    let mut findings: Vec<Finding> = findings
        .into_iter()
        .take(WORD_CHOICE_CANDIDATES)
        .map(|(_, finding)| finding)
        .collect();
    if written_count == 0 && !name {
        for like in words_in_like_contexts(vocabulary, analysis, word, params, thresholds) {
            if !findings.iter().any(|f| f.preferred == like.preferred) {
                findings.push(like);
            }
        }
    }
    findings
}

/// For a word the corpus never writes in any form: the words the corpus writes where its
/// contexts read like this one up to and including the word ("please use the" for "please
/// utilize the"), heaviest first. They come from the corpus neighbours of the context
/// *after* the word, which see the word itself: the neighbours of the text before a wordy
/// synonym spread their weight over whatever may follow it. The check (stage 2) must then
/// find that the model reads the sentence with the house word alike
/// ([`MIN_STATE_SIMILARITY`]) and at least as fluently.
fn words_in_like_contexts(
    vocabulary: &Vocabulary,
    analysis: &BlockAnalysis,
    word: &WordAnalysis,
    params: &KnnParams,
    thresholds: &HintThresholds,
) -> Vec<Finding> {
    let text = &analysis.text;
    let written = &text[word.bytes.clone()];
    let read = checked_tokens(analysis, word);
    let (Some(next), Some(after_word)) = (
        analysis.tokens.get(read.word_end),
        analysis.knn_at(vocabulary.corpora, params, read.word_end - 1),
    ) else {
        return Vec::new();
    };
    let next_start = next.bytes.start
        + (text[next.bytes.clone()].len() - text[next.bytes.clone()].trim_start().len());
    let gap = text
        .get(word.bytes.end..next_start)
        .unwrap_or_default()
        .trim();
    let initial = sentence_initial(text, word.bytes.start);
    let mut words: Vec<(String, f32, Vec<SupportingSentence>)> = Vec::new();
    for before in words_before(vocabulary.corpora, &after_word.neighbours) {
        if before.gap.trim() != gap {
            continue;
        }
        let lower = before.word.to_lowercase();
        match words.iter_mut().find(|(w, _, _)| *w == lower) {
            Some((_, weight, support)) => {
                *weight += before.sentence.weight;
                if !support
                    .iter()
                    .any(|s| s.sentence == before.sentence.sentence)
                {
                    support.push(before.sentence);
                }
            }
            None => words.push((lower, before.sentence.weight, vec![before.sentence])),
        }
    }
    words.sort_by(|a, b| b.1.total_cmp(&a.1));
    let min_count = (thresholds.min_count_ratio.ceil() as u32).max(MIN_LIKE_CONTEXT_COUNT);
    words
        .into_iter()
        .filter(|(house, weight, _)| {
            *weight >= MIN_LIKE_CONTEXT_WEIGHT
                && house.chars().all(char::is_alphabetic)
                && !house.eq_ignore_ascii_case(written)
                && !are_opposites(house, written)
                && !vocabulary.is_name(house)
        })
        .filter_map(|(house, _, support)| {
            let count = vocabulary.count_folded(&house);
            (count >= min_count).then(|| Finding {
                kind: HintKind::WordChoice,
                preferred: if initial {
                    capitalise_first(&house)
                } else {
                    house.clone()
                },
                house_form: house,
                written_count: 0,
                preferred_count: count,
                model_agrees: true,
                support,
            })
        })
        .take(WORD_CHOICE_CANDIDATES)
        .collect()
}

/// How much more the corpus neighbours prefer `token` (p_kNN `knn`) to the written token
/// (p_kNN `written_knn`) than the base model does, in nats:
/// ln((p_kNN(x) + ε) / (p_kNN(w) + ε)) − ln(p_LM(x) / p_LM(w)). High where the corpus
/// departs from general English: "log in" → "sign in" (the model finds both fluent, the
/// corpus writes only one), not "may roll" → "may be" (the model prefers "be" as much).
fn corpus_lift(word: &WordAnalysis, token: u32, knn: f32, written_knn: f32) -> f32 {
    let knn_preference = ((knn + KNN_SMOOTHING) / (written_knn + KNN_SMOOTHING)).ln();
    knn_preference - lm_preference(word, token)
}

/// Whether the corpus prefers `token` (p_kNN `knn`) to the written word here, clearly enough
/// for a word-choice hint. Either the corpus departs from general English (its
/// [`corpus_lift`] reaches `min_ratio`: "log in" → "sign in", which the model finds about
/// as fluent), or the corpus never writes the written word in any form and both the
/// neighbours and the model prefer the house word ("please utilize" → "please use").
fn preferred_here(
    word: &WordAnalysis,
    token: u32,
    knn: f32,
    written_knn: f32,
    written_count: u32,
    thresholds: &HintThresholds,
) -> bool {
    let min_preference = thresholds.min_ratio.ln();
    let knn_preference = ((knn + KNN_SMOOTHING) / (written_knn + KNN_SMOOTHING)).ln();
    let lm_preference = lm_preference(word, token);
    knn_preference - lm_preference >= min_preference
        || (written_count == 0
            && lm_preference >= 0.0
            && knn_preference >= min_preference.min(AVOIDED_WORD_KNN_PREFERENCE))
}

/// Whether one word is the other with a negating prefix ("equality" / "inequality",
/// "able" / "unable"): neighbours that agree on one say nothing for a house word in place
/// of the other, which means the opposite. (A stem of under 4 letters is no word negated:
/// "index" is not "dex".)
fn are_opposites(a: &str, b: &str) -> bool {
    const NEGATIONS: &[&str] = &["un", "in", "im", "il", "ir", "non", "non-", "dis", "mis"];
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    let negates = |word: &str, other: &str| {
        other.chars().count() >= 4
            && NEGATIONS
                .iter()
                .any(|prefix| word.strip_prefix(prefix) == Some(other))
    };
    negates(&a, &b) || negates(&b, &a)
}

/// Whether the word is an English number ("six", "Twelve", "hundred"): a number says what
/// the text is about, not how the team words it ("there are six" is no finding where the
/// corpus writes "there are few").
fn is_number_word(word: &str) -> bool {
    const NUMBERS: &[&str] = &[
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "sixty",
        "seventy",
        "eighty",
        "ninety",
        "hundred",
        "thousand",
        "million",
        "billion",
        "dozen",
    ];
    NUMBERS.contains(&word.to_lowercase().as_str())
}

/// ln p_LM(token) − ln p_LM(written) where the word stands (0 if either is unknown).
fn lm_preference(word: &WordAnalysis, token: u32) -> f32 {
    match (word.lm_log_prob(token), word.lm_log_prob(word.written)) {
        (Some(x), Some(w)) => x - w,
        _ => 0.0,
    }
}

/// The bytes of a block that name words to avoid, not use them: "Write canceled, not
/// cancelled" is a style rule, as the lexicon reads it in the corpus
/// ([`crate::stated_rules::avoided_span`]). Found once per block, sentence by sentence.
struct RuledOutSpans(Vec<Range<usize>>);

impl RuledOutSpans {
    fn of(text: &str) -> RuledOutSpans {
        let mut spans = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let end = start + sentence_end(&text[start..]);
            let span = crate::stated_rules::avoided_span(&text[start..end]);
            if !span.is_empty() {
                spans.push(start + span.start..start + span.end);
            }
            start = end;
        }
        RuledOutSpans(spans)
    }

    /// Whether the word at byte `offset` is in one.
    fn contains(&self, offset: usize) -> bool {
        self.0.iter().any(|span| span.contains(&offset))
    }
}

/// Whether the word at byte `offset` is its sentence's first.
fn sentence_initial(text: &str, offset: usize) -> bool {
    !text[sentence_start(text, offset)..offset]
        .chars()
        .any(char::is_alphanumeric)
}

fn capitalise_first(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

fn lower_first(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_lowercase().chain(chars).collect()
    })
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
    let mut failure = None;
    let hints = checked_hints(
        analysis,
        corpora,
        params,
        thresholds,
        max_support,
        |candidate| {
            if failure.is_some() {
                return None;
            }
            compare_words(
                context,
                analysis,
                corpora,
                params,
                candidate.word,
                &candidate.preferred,
            )
            .map_err(|error| failure = Some(error))
            .ok()
        },
    );
    failure.map_or(Ok(hints), Err)
}

/// The block's hints, in text order: the stated rules' ([`stated_rule_hints`]), then stage
/// (1) on the other words, and `check(candidate)` (2) on each candidate, which gives its
/// [`compare_words`] (computed, or remembered by a caller that caches them), or `None` to
/// leave the candidate out.
pub fn checked_hints(
    analysis: &BlockAnalysis,
    corpora: &[&CorpusIndex],
    params: &KnnParams,
    thresholds: &HintThresholds,
    max_support: usize,
    mut check: impl FnMut(&HintCandidate) -> Option<Comparison>,
) -> Vec<Hint> {
    let mut hints: Vec<Hint> = Vec::new();
    // The last hint's state similarity, while a later candidate for its word may replace it:
    // of the house words that rest on the model agreeing, the one read most alike wins
    // ("utilizing" → "using", not "uses"). Any other hint is its word's first confirmed one.
    let mut open_similarity: Option<f32> = None;
    let stated = stated_rule_hints(&analysis.text, corpora, thresholds);
    for candidate in hint_candidates(analysis, corpora, params, thresholds) {
        let bytes = &candidate.word.bytes;
        if stated
            .iter()
            .any(|h| h.bytes.start < bytes.end && bytes.start < h.bytes.end)
        {
            continue;
        }
        let same_word = hints
            .last()
            .is_some_and(|h| h.bytes == candidate.word.bytes);
        if same_word && !(candidate.model_agrees && open_similarity.is_some()) {
            continue;
        }
        let Some(comparison) = check(&candidate) else {
            continue;
        };
        tracing::debug!(
            written = &analysis.text[candidate.word.bytes.clone()],
            preferred = candidate.preferred,
            kind = candidate.kind.name(),
            lm_log_ratio = comparison.lm_log_ratio,
            log_ratio = comparison.log_ratio,
            state_similarity = comparison.state_similarity,
            model_agrees = candidate.model_agrees,
            support = candidate.support.len(),
            "hint candidate checked"
        );
        if !candidate.confirmed_by(comparison, thresholds) {
            continue;
        }
        if same_word {
            if open_similarity.is_some_and(|best| best >= comparison.state_similarity) {
                continue;
            }
            hints.pop();
        }
        open_similarity = candidate
            .model_agrees
            .then_some(comparison.state_similarity);
        hints.push(candidate.into_hint(analysis, comparison, max_support));
    }
    hints.extend(stated);
    hints.sort_by_key(|h| h.bytes.start);
    hints
}

/// What the substitution check found: ln p(preferred word + rest) − ln p(written word +
/// rest) under kNN-LM and under the base model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Comparison {
    pub log_ratio: f32,
    pub lm_log_ratio: f32,
    /// The preferred word's first token here.
    pub preferred_first_token: Option<u32>,
    /// How alike the model reads the two sentences: the cosine similarity of its states
    /// (keys) right after either word.
    pub state_similarity: f32,
}

/// ln p(preferred word + rest) − ln p(written word + rest), both after the same left
/// context, under kNN-LM (corpus neighbours, no document cache) and under the base model.
/// "rest" is the block's text after the written word up to the end of its sentence, at
/// most [`RIGHT_CONTEXT_TOKENS`] tokens; when the sentence ends with the word, a paragraph
/// break ([`checked_tokens`]).
///
/// The written side is read from the analysis (which scored the block as written), so only
/// the preferred side runs the model, as a branch of `context`'s KV cache: right after
/// [`analyze_block`](super::analyze_block) in the same context, that is the new tokens only.
pub fn compare_words(
    context: &Context,
    analysis: &BlockAnalysis,
    corpora: &[&CorpusIndex],
    params: &KnnParams,
    word: &WordAnalysis,
    preferred: &str,
) -> Result<Comparison, LmError> {
    let ids: Vec<u32> = analysis.tokens.iter().map(|t| t.id).collect();
    let first = word.token_index;
    if first == 0 {
        // No left context to compare the two words in.
        return Ok(Comparison {
            log_ratio: 0.0,
            lm_log_ratio: 0.0,
            preferred_first_token: None,
            state_similarity: 0.0,
        });
    }
    let read = checked_tokens(analysis, word);
    // The written word with its leading whitespace, as its first token carries it.
    let lead = &analysis.text[analysis.tokens[first].bytes.start..word.bytes.start];
    let tokenizer = context.model().tokenizer();
    let mut preferred = tokenizer.encode(&format!("{lead}{preferred}"))?;
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
        let mut sum = Scores::default();
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
            sum.add(knn, lm, ids[target]);
        }
        Some(sum)
    };
    let preferred_first_token = preferred.first().copied();
    let preferred_first = preferred_first_token.and_then(known);
    let preferred_len = preferred.len();
    preferred.extend(&rest);
    let mut state_after_preferred = None;
    let with_preferred = score_branch(
        context,
        corpora,
        params,
        left,
        &preferred,
        preferred_first,
        Some((preferred_len, &mut state_after_preferred)),
    )?;
    let state_similarity = match (state_after_preferred, analysis.key(read.word_end - 1)) {
        (Some(preferred), Some(written)) => cosine_similarity(&preferred, written),
        _ => 0.0,
    };
    let with_written = match with_written {
        Some(sum) => sum,
        None => {
            let written: Vec<u32> = ids[first..read.word_end]
                .iter()
                .chain(&rest)
                .copied()
                .collect();
            score_branch(
                context,
                corpora,
                params,
                left,
                &written,
                known(written[0]),
                None,
            )?
        }
    };
    Ok(Comparison {
        log_ratio: with_preferred.knn_lm - with_written.knn_lm,
        lm_log_ratio: with_preferred.lm - with_written.lm,
        preferred_first_token,
        state_similarity,
    })
}

/// Summed ln p of a continuation under kNN-LM and under the base model.
#[derive(Clone, Copy, Debug, Default)]
struct Scores {
    knn_lm: f32,
    lm: f32,
}

impl Scores {
    fn add(&mut self, knn: Option<&KnnPrediction>, lm_log_prob: f32, token: u32) {
        self.knn_lm += interpolated(knn, lm_log_prob, token);
        self.lm += lm_log_prob;
    }
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

/// A hash of what decides a candidate's [`compare_words`], for callers that cache it: the
/// word's sentence up to the word, the preferred word and the [`checked_tokens`]. (The
/// text before the sentence is left out: it changes the result little.)
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

/// ln p(continuation | left) under kNN-LM and the base model, the model running as a
/// branch of `context`'s cache.
/// `first`, when the analysis has them: the LM's ln p of the continuation's first token
/// and p_kNN at the end of `left`, so that the run starts one token later.
/// The continuation's last token is never run: nothing after it is scored.
/// `state_wanted` = (i, slot): the model's state (key) that predicts `continuation[i]` is
/// kept in slot.
fn score_branch(
    context: &Context,
    corpora: &[&CorpusIndex],
    params: &KnnParams,
    left: &[u32],
    continuation: &[u32],
    first: Option<(f32, Option<&KnnPrediction>)>,
    mut state_wanted: Option<(usize, &mut Option<Vec<f32>>)>,
) -> Result<Scores, LmError> {
    let mut total = Scores::default();
    if left.is_empty() || continuation.is_empty() {
        return Ok(total);
    }
    let mut scored_from = 0;
    if let Some((lm, knn)) = first {
        total.add(knn, lm, continuation[0]);
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
        if let Some((at, state)) = state_wanted.as_mut() {
            if *at == i {
                **state = Some(key.to_vec());
            }
        }
        let knn = knnlm::predict_knn(corpora, None, params, key);
        total.add(knn.as_ref(), lm, token);
    }
    Ok(total)
}

fn cosine_similarity(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let norms = norm(a) * norm(b);
    if norms > 0.0 {
        dot / norms
    } else {
        0.0
    }
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

    #[test]
    fn a_rejected_term_is_a_word_the_corpus_never_writes_in_any_case() {
        // (kind, written, how often the corpus writes it, house word, rejected)
        let cases = [
            (HintKind::WordChoice, "utilize", 0, "use", true),
            (HintKind::WordChoice, "log", 2, "sign", false),
            (HintKind::Spelling, "organisation", 0, "organization", true),
            (HintKind::Capitalisation, "Github", 0, "GitHub", false),
        ];
        for (kind, written, written_count, preferred, rejected) in cases {
            let hint = Hint {
                bytes: 0..written.len(),
                kind,
                written: written.to_string(),
                preferred: preferred.to_string(),
                written_count,
                preferred_count: 40,
                log_ratio: 0.0,
                lm_log_ratio: 0.0,
                support: Vec::new(),
            };
            assert_eq!(hint.is_rejected_term(), rejected, "{written} → {preferred}");
        }
    }

    #[test]
    fn cosine_similarity_by_hand() {
        // (a, b, cos)
        let cases: [(&[f32], &[f32], f32); 4] = [
            (&[1.0, 0.0], &[2.0, 0.0], 1.0),
            (&[1.0, 0.0], &[0.0, 3.0], 0.0),
            (&[1.0, 1.0], &[1.0, 0.0], std::f32::consts::FRAC_1_SQRT_2),
            (&[0.0, 0.0], &[1.0, 0.0], 0.0),
        ];
        for (a, b, expected) in cases {
            assert!(
                (cosine_similarity(a, b) - expected).abs() < 1e-6,
                "{a:?} {b:?}"
            );
        }
    }

    /// A written word with nothing analysed about it (the checks below read only the
    /// comparison and the candidate).
    fn a_word() -> WordAnalysis {
        WordAnalysis {
            bytes: 0..4,
            token_index: 5,
            written: 1,
            lm_log_probs: Vec::new(),
            neighbours: Vec::new(),
            sources: Vec::new(),
        }
    }

    #[test]
    fn a_spelling_variant_must_read_alike_however_often_the_corpus_writes_it() {
        let word = a_word();
        let thresholds = HintThresholds::default();
        // (times the corpus writes the house spelling, state similarity, confirmed)
        let cases = [
            (1, 0.99, true),
            (1, 0.90, false),
            (30, 0.99, true),
            (30, 0.93, false),
        ];
        for (preferred_count, state_similarity, confirmed) in cases {
            let candidate = HintCandidate {
                word: &word,
                kind: HintKind::Spelling,
                preferred: "report".to_string(),
                written_count: 0,
                preferred_count,
                model_agrees: false,
                support: Vec::new(),
            };
            let comparison = Comparison {
                log_ratio: 0.0,
                lm_log_ratio: 0.0,
                preferred_first_token: None,
                state_similarity,
            };
            assert_eq!(
                candidate.confirmed_by(comparison, &thresholds),
                confirmed,
                "{preferred_count} {state_similarity}"
            );
        }
    }

    #[test]
    fn a_word_a_sentence_rules_out_gets_no_hint() {
        // (text, the word, ruled out there)
        let cases = [
            ("Write canceled, not cancelled. It is", "cancelled", true),
            ("Write canceled, not cancelled. It is", "canceled", false),
            (
                "A cancelled booking stays. Write canceled",
                "cancelled",
                false,
            ),
            ("Use the menu instead of the keyboard.", "keyboard", true),
        ];
        for (text, word, ruled_out) in cases {
            let offset = text.find(word).unwrap();
            assert_eq!(
                RuledOutSpans::of(text).contains(offset),
                ruled_out,
                "{word} in {text}"
            );
        }
    }

    #[test]
    fn a_number_is_no_word_choice() {
        let cases = [
            ("six", true),
            ("Twelve", true),
            ("hundred", true),
            ("few", false),
        ];
        for (word, number) in cases {
            assert_eq!(is_number_word(word), number, "{word}");
        }
    }

    #[test]
    fn a_word_with_a_negating_prefix_is_the_opposite_not_a_variant() {
        let cases = [
            ("equality", "inequality", true),
            ("Unable", "able", true),
            ("blocking", "non-blocking", true),
            ("trusted", "distrusted", true),
            ("install", "uninstall", true),
            ("sign", "log", false),
            ("index", "dex", false),
            ("interest", "interests", false),
        ];
        for (a, b, opposites) in cases {
            assert_eq!(are_opposites(a, b), opposites, "{a} / {b}");
        }
    }

    #[test]
    fn a_house_word_resting_on_the_model_must_read_alike_and_no_less_fluently() {
        let word = a_word();
        let thresholds = HintThresholds::default();
        let loss_allowed = -(thresholds.max_fluency_loss.ln() as f32);
        let variant_loss_allowed = -thresholds.max_variant_fluency_loss.ln();
        // (kind, rests on the model, ln p_LM ratio over the sentence, state similarity,
        // confirmed)
        let cases = [
            (HintKind::WordChoice, true, 0.5, 0.99, true),
            (HintKind::WordChoice, true, 0.5, 0.96, false),
            (HintKind::WordChoice, true, -0.1, 0.99, false),
            // The corpus's preference alone: a fluency loss is allowed, however differently
            // the model reads the sentence ("log in" / "sign in").
            (HintKind::WordChoice, false, loss_allowed + 0.1, 0.5, true),
            (HintKind::WordChoice, false, loss_allowed - 0.1, 0.99, false),
            // A spelling variant that reads alike may be as much rarer as a word choice.
            (HintKind::Spelling, false, loss_allowed + 0.1, 0.99, true),
            (HintKind::Spelling, false, loss_allowed - 0.1, 0.99, false),
            (
                HintKind::Capitalisation,
                false,
                variant_loss_allowed + 0.1,
                0.5,
                true,
            ),
            (
                HintKind::Capitalisation,
                false,
                variant_loss_allowed - 0.1,
                0.99,
                false,
            ),
        ];
        for (kind, model_agrees, lm_log_ratio, state_similarity, confirmed) in cases {
            let candidate = HintCandidate {
                word: &word,
                kind,
                preferred: "use".to_string(),
                written_count: 0,
                preferred_count: 10,
                model_agrees,
                support: Vec::new(),
            };
            let comparison = Comparison {
                log_ratio: lm_log_ratio,
                lm_log_ratio,
                preferred_first_token: None,
                state_similarity,
            };
            assert_eq!(
                candidate.confirmed_by(comparison, &thresholds),
                confirmed,
                "{kind:?} {model_agrees} {lm_log_ratio} {state_similarity}"
            );
        }
    }
}
