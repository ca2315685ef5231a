//! The word choices a corpus states as rules: "Write select, not click or tap", "Use
//! toward rather than towards". A style guide says in words what its other pages only show.
//! Read as rules, they name the words to avoid where the neighbours and the counts cannot:
//! words of several tokens ("log in"), hyphens ("e-mail"), a word that reads as a name at
//! the end of a sentence ("select Okay.").
//!
//! Only a sentence that starts with a verb of writing ([`RULE_VERBS`]) states a rule, and
//! only of short terms (at most [`MAX_TERM_WORDS`] words of letters): "Harbor sends one
//! email per day, not one per booking" states none.

use std::collections::HashMap;
use std::ops::Range;

use crate::lexicon::{self, SentenceRef};

/// First words of a sentence that states a word choice ("Write", "Use", "Say" …).
const RULE_VERBS: &[&str] = &["write", "use", "say", "spell", "prefer", "type", "choose"];

/// Words a term of a rule may have: "sign in", "harbor master", not a whole clause ("your
/// changes will be saved" is a matter of voice, not of words).
const MAX_TERM_WORDS: usize = 3;

/// Where a sentence names words to avoid rather than use them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuledOut {
    /// Bytes of the marker: ", not", "(not", "rather than", "instead of", or a leading
    /// "Avoid", "Don't use" ….
    pub marker: Range<usize>,
    /// Bytes of the words it rules out, after the marker.
    pub words: Range<usize>,
    /// The marker starts the sentence ("Avoid utilize; use use"): what the house writes
    /// instead follows the words, not precedes the marker.
    pub leads: bool,
}

/// What follows ", not" (to the end of the clause: "not click, tap or swipe"), "(not",
/// "rather than" or "instead of" (to the next comma: "Instead of a semicolon, we use
/// braces"), at the sentence's first such marker; or what follows "Avoid" or "Don't use" at
/// the start of a sentence, to its end or to a verb of writing after a comma or semicolon
/// ("Avoid utilize; use use"). A style guide's "Write select, not click or
/// tap" writes "select" and mentions "click" and "tap": counted as written, they would look
/// like house usage, and the corpus's own rule would hide the word it rules out.
pub fn ruled_out(sentence: &str) -> Option<RuledOut> {
    const CLAUSE_END: &[char] = &['.', ';', ':', '!', '?', '(', ')'];
    const PHRASE_END: &[char] = &[',', '.', ';', ':', '!', '?', '(', ')'];
    const MARKERS: &[(&str, &[char])] = &[
        (", not ", CLAUSE_END),
        (" (not ", CLAUSE_END),
        (" rather than ", PHRASE_END),
        (" instead of ", PHRASE_END),
    ];
    const LEADING: &[&str] = &[
        "avoid ",
        "don't use ",
        "don\u{2019}t use ",
        "do not use ",
        "don't write ",
        "don\u{2019}t write ",
        "do not write ",
        "don't say ",
        "don\u{2019}t say ",
        "do not say ",
        "never use ",
        "never write ",
    ];
    // ASCII lowercase keeps every byte offset.
    let indent = sentence.len() - sentence.trim_start().len();
    let head = sentence[indent..].to_ascii_lowercase();
    if let Some(leading) = LEADING.iter().find(|l| head.starts_with(**l)) {
        // To the clause end, or to where a verb of writing starts the house terms ("Avoid
        // utilize, which says no more; use use").
        let start = indent + leading.len();
        let clause_end = sentence[start..]
            .find(['.', '!', '?', '(', ')'])
            .map_or(sentence.len(), |at| start + at);
        let end = sentence[start..clause_end]
            .match_indices([',', ';', ':'])
            .map(|(at, _)| start + at)
            .find(|&at| starts_with_rule_verb(&sentence[at + 1..]))
            .unwrap_or(clause_end);
        return Some(RuledOut {
            marker: indent..start - 1,
            words: start..end,
            leads: true,
        });
    }
    // A space before the sentence finds a marker at its start too (shifting offsets by one).
    let lower = format!(" {}", sentence.to_ascii_lowercase());
    let (found, marker, ends) = MARKERS
        .iter()
        .filter_map(|(marker, ends)| Some((lower.find(marker)?, *marker, *ends)))
        .min_by_key(|(found, _, _)| *found)?;
    // `found` is the marker's leading space or comma in `lower`: byte found - 1 of the
    // sentence, or before its start.
    let start = found + marker.len() - 1;
    let end = sentence[start..]
        .find(ends)
        .map_or(sentence.len(), |at| start + at);
    Some(RuledOut {
        marker: found.saturating_sub(1)..start,
        words: start..end,
        leads: false,
    })
}

/// Bytes of a sentence that name words to avoid rather than use them ([`ruled_out`]), or
/// an empty range.
pub fn avoided_span(sentence: &str) -> Range<usize> {
    ruled_out(sentence).map_or(0..0, |ruled_out| ruled_out.words)
}

/// Whether `text` starts with a verb of writing and a word after it ("; use use").
fn starts_with_rule_verb(text: &str) -> bool {
    let text = text.trim_start_matches(|c: char| {
        c.is_whitespace() || matches!(c, '-' | '\u{2013}' | '\u{2014}')
    });
    text.split_once(char::is_whitespace)
        .is_some_and(|(verb, _)| RULE_VERBS.contains(&verb.to_lowercase().as_str()))
}

/// One stated word choice.
#[derive(Clone, Debug, PartialEq)]
pub struct StatedRule {
    /// The words the rule rules out, as the rule writes them ("log in").
    pub avoided: String,
    /// The words it writes instead ("sign in").
    pub house: String,
    /// The two differ only in case ("Github" / "GitHub"): matched with their case. Any
    /// other rule holds in any case ("Okay" as well as "okay").
    pub case_sensitive: bool,
    /// The sentence that states it.
    pub stated_in: SentenceRef,
    /// How often the corpus writes each outside the words its sentences rule out.
    pub avoided_count: u32,
    pub house_count: u32,
}

impl StatedRule {
    /// Where `text` writes the avoided words ([`find_term`]).
    pub fn find_in(&self, text: &str) -> Vec<Range<usize>> {
        find_term(text, &self.avoided, self.case_sensitive)
    }
}

/// Where `text` writes `term`: as whole words (not "click" in "double-click"), with the
/// same letters, spacing aside, in any case unless `case_sensitive`.
pub fn find_term(text: &str, term: &str, case_sensitive: bool) -> Vec<Range<usize>> {
    let phrase = Phrase::new(term, case_sensitive);
    let words: Vec<(usize, &str)> = lexicon::word_indices(text).collect();
    phrase
        .matches(&words)
        .map(|(first, last)| words[first].0..words[last].0 + words[last].1.len())
        .filter(|bytes| {
            let before = text[..bytes.start].chars().next_back();
            let after = text[bytes.end..].chars().next();
            let joined = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-');
            !joined(before)
                && !joined(after)
                && normalized(&text[bytes.clone()], case_sensitive)
                    == normalized(term, case_sensitive)
        })
        .collect()
}

/// The rules a corpus states, with how often it writes each term.
#[derive(Debug, Default)]
pub struct StatedRules {
    rules: Vec<StatedRule>,
}

impl StatedRules {
    /// The rules stated in a corpus's sentences. `sentences()` gives them all, and is read
    /// twice: once for the rules, once to count their terms.
    pub fn from_corpus_sentences<'a, I>(sentences: impl Fn() -> I) -> StatedRules
    where
        I: Iterator<Item = (SentenceRef, &'a str)>,
    {
        let mut rules: Vec<StatedRule> = Vec::new();
        let mut previous: Option<(SentenceRef, &str)> = None;
        for (at, sentence) in sentences() {
            let before = previous
                .filter(|(p, _)| p.document == at.document && p.sentence + 1 == at.sentence)
                .map(|(_, text)| text);
            previous = Some((at, sentence));
            for (avoided, house) in rules_stated_in(sentence, before) {
                if rules
                    .iter()
                    .any(|r| r.avoided == avoided && r.house == house)
                {
                    continue;
                }
                rules.push(StatedRule {
                    case_sensitive: avoided.to_lowercase() == house.to_lowercase(),
                    avoided,
                    house,
                    stated_in: at,
                    avoided_count: 0,
                    house_count: 0,
                });
            }
        }
        if rules.is_empty() {
            return StatedRules { rules };
        }
        // Each term, counted in every sentence outside the words the sentence rules out.
        let mut counts: HashMap<(String, bool), u32> = HashMap::new();
        for rule in &rules {
            counts.insert((rule.avoided.clone(), rule.case_sensitive), 0);
            counts.insert((rule.house.clone(), rule.case_sensitive), 0);
        }
        let phrases: Vec<((String, bool), Phrase)> = counts
            .keys()
            .map(|(term, case)| ((term.clone(), *case), Phrase::new(term, *case)))
            .collect();
        for (_, sentence) in sentences() {
            let avoided = avoided_span(sentence);
            let words: Vec<(usize, &str)> = lexicon::word_indices(sentence)
                .filter(|(offset, _)| !avoided.contains(offset))
                .collect();
            for (key, phrase) in &phrases {
                let found = phrase.matches(&words).count() as u32;
                if found > 0 {
                    *counts.get_mut(key).expect("every phrase is counted") += found;
                }
            }
        }
        for rule in &mut rules {
            rule.avoided_count = counts[&(rule.avoided.clone(), rule.case_sensitive)];
            rule.house_count = counts[&(rule.house.clone(), rule.case_sensitive)];
        }
        StatedRules { rules }
    }

    pub fn rules(&self) -> &[StatedRule] {
        &self.rules
    }
}

/// The word choices one sentence states, as (avoided, house) pairs: "Write sign in and sign
/// out, not log in, login or log out." gives ("log in", "sign in"), ("login", "sign in") and
/// ("log out", "sign out"). Each avoided term is paired with the house term it ends most
/// like. A sentence that only rules terms out ("Don't use log in or login.") takes the house
/// terms from the sentence before it when that one only names them ("Use sign in.").
pub fn rules_stated_in(sentence: &str, previous: Option<&str>) -> Vec<(String, String)> {
    let Some(ruled_out) = ruled_out(sentence) else {
        return Vec::new();
    };
    let (houses, avoided) = if ruled_out.leads {
        // "Avoid utilize; use use instead": the house terms after the avoided ones.
        let after = sentence[ruled_out.words.end..].trim_start_matches(|c: char| {
            c.is_whitespace() || matches!(c, ',' | ';' | ':' | '-' | '\u{2013}' | '\u{2014}')
        });
        let clause = &after[..after.find(['.', ';', '!', '?', '(']).unwrap_or(after.len())];
        let with_verb = strip_suffix_ignoring_case(clause.trim_end(), " instead");
        match house_terms(with_verb, false) {
            Some(houses) => (houses, terms(&sentence[ruled_out.words])),
            // "Use sign in. Don't use log in, login or log on."
            None => {
                let previous = previous.map(|p| p.trim().trim_end_matches(['.', '!']));
                match (
                    previous.and_then(|previous| house_terms(previous, true)),
                    only_terms(&sentence[ruled_out.words]),
                ) {
                    (Some(houses), Some(avoided)) => (houses, avoided),
                    _ => return Vec::new(),
                }
            }
        }
    } else {
        // "Write select, not click": the house terms before the marker. Without a verb,
        // only quoted terms, as in a word list ("\"sign in\" (not \"log in\")"): "Yes, not
        // really" is no rule.
        let before = sentence[..ruled_out.marker.start].trim_start();
        let quoted_only = || {
            Some(before)
                .filter(|b| b.contains(QUOTES))
                .and_then(only_terms)
        };
        let Some(houses) = house_terms(before, false).or_else(quoted_only) else {
            return Vec::new();
        };
        (houses, terms(&sentence[ruled_out.words]))
    };
    avoided
        .into_iter()
        .filter_map(|avoided| {
            let house = houses
                .iter()
                .rev()
                .max_by_key(|house| common_ending(house, &avoided))?;
            (*house != avoided).then(|| (avoided, house.clone()))
        })
        .collect()
}

/// The terms after a verb of writing ("Write sign in and sign out"), if any. `only`: the
/// text names nothing else ("Use sign in.", not "Use the menu to sign in.").
fn house_terms(with_verb: &str, only: bool) -> Option<Vec<String>> {
    let (verb, part) = with_verb.split_once(char::is_whitespace)?;
    if !RULE_VERBS.contains(&verb.to_lowercase().as_str()) {
        return None;
    }
    // "Spell it canceled", "Write it as e-mail".
    let part = ["it as ", "it "]
        .iter()
        .find_map(|it| {
            part.get(..it.len())
                .filter(|head| head.eq_ignore_ascii_case(it))
                .map(|_| &part[it.len()..])
        })
        .unwrap_or(part);
    let houses = if only { only_terms(part)? } else { terms(part) };
    Some(houses).filter(|houses| !houses.is_empty())
}

/// The terms of one side of a rule: the quoted ones if any are quoted ("Write "OK", not
/// "okay""), else the items of a list ("log in, login or log out"). A term longer than
/// [`MAX_TERM_WORDS`] words, with a word that does not start with a letter ("--release"), or
/// with other characters than letters, spaces, hyphens, apostrophes and dots, is none.
fn terms(part: &str) -> Vec<String> {
    listed(part).items.into_iter().flatten().collect()
}

/// [`terms`], or `None` unless the text is nothing but terms ("log in, login or log on",
/// not "log in when you can" nor ""please" in instructions").
fn only_terms(part: &str) -> Option<Vec<String>> {
    let listed = listed(part);
    if listed.more {
        return None;
    }
    listed.items.into_iter().collect()
}

/// The items of one side of a rule.
struct Listed {
    /// Each item, or `None` for one that is no term.
    items: Vec<Option<String>>,
    /// The text says more than the items (a remark after the list, words between quotes).
    more: bool,
}

/// Quotation marks around a term.
const QUOTES: &[char] = &['"', '\u{201c}', '\u{201d}', '`'];

fn listed(part: &str) -> Listed {
    const CONJUNCTIONS: &[&str] = &["or", "and", "nor"];
    let (items, more): (Vec<&str>, bool) = if part.contains(QUOTES) {
        let between = part.split(QUOTES).step_by(2);
        let more = between
            .flat_map(lexicon::words)
            .any(|word| !CONJUNCTIONS.contains(&word.to_lowercase().as_str()));
        (part.split(QUOTES).skip(1).step_by(2).collect(), more)
    } else {
        // A list goes on to its last part with a conjunction: "log in, login or log out",
        // but "log in, when you can" is one term and a remark.
        let parts: Vec<&str> = part.split(',').collect();
        let has_conjunction = |part: &&str| {
            lexicon::words(part).any(|word| CONJUNCTIONS.contains(&word.to_lowercase().as_str()))
        };
        let listed = parts
            .iter()
            .rposition(has_conjunction)
            .map_or(1, |last| last + 1);
        let items = parts[..listed]
            .iter()
            .flat_map(|item| item.split(" or "))
            .flat_map(|item| item.split(" and "))
            .flat_map(|item| item.split(" nor "))
            .collect();
        (items, listed < parts.len())
    };
    let items = items
        .into_iter()
        .map(|item| {
            let item = item.trim().trim_matches(|c: char| {
                c.is_whitespace() || matches!(c, '.' | ',' | ';' | ':' | '!' | '?' | '*' | '_')
            });
            let item = ["or ", "and ", "nor "]
                .iter()
                .find_map(|conjunction| item.strip_prefix(conjunction))
                .unwrap_or(item);
            item.split_whitespace().collect::<Vec<_>>().join(" ")
        })
        .map(|item| {
            let words = lexicon::words(&item).count();
            let is_term = (1..=MAX_TERM_WORDS).contains(&words)
                && item
                    .split(' ')
                    .all(|word| word.starts_with(char::is_alphabetic))
                && item
                    .chars()
                    .all(|c| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '\u{2019}' | '.'));
            is_term.then_some(item)
        })
        .collect();
    Listed { items, more }
}

fn strip_suffix_ignoring_case<'a>(text: &'a str, suffix: &str) -> &'a str {
    let at = text.len().saturating_sub(suffix.len());
    match text.get(at..) {
        Some(tail) if tail.eq_ignore_ascii_case(suffix) => &text[..at],
        _ => text,
    }
}

/// Letters two terms end with alike, in any case ("login" and "sign in": 2).
fn common_ending(a: &str, b: &str) -> usize {
    let letters = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let (a, b) = (letters(a), letters(b));
    a.iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count()
}

/// A term's text with its spaces collapsed, and in lower case unless its case matters.
fn normalized(text: &str, case_sensitive: bool) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if case_sensitive {
        joined
    } else {
        joined.to_lowercase()
    }
}

/// A term as a sequence of words, to find among a sentence's words.
struct Phrase {
    words: Vec<String>,
    case_sensitive: bool,
}

impl Phrase {
    fn new(term: &str, case_sensitive: bool) -> Phrase {
        Phrase {
            words: lexicon::words(term)
                .map(|w| normalized(w, case_sensitive))
                .collect(),
            case_sensitive,
        }
    }

    /// (first, last) indices into `words` of each run that spells the phrase.
    fn matches<'a>(
        &'a self,
        words: &'a [(usize, &str)],
    ) -> impl Iterator<Item = (usize, usize)> + 'a {
        let n = self.words.len();
        (0..(words.len() + 1).saturating_sub(n))
            .filter(move |&i| {
                n > 0
                    && words[i..i + n]
                        .iter()
                        .zip(&self.words)
                        .all(|((_, word), want)| normalized(word, self.case_sensitive) == *want)
            })
            .map(move |i| (i, i + n - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sentence_that_starts_with_a_verb_of_writing_states_its_word_choices() {
        // (sentence, the (avoided, house) pairs it states)
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("Write select, not click or tap.", &[("click", "select"), ("tap", "select")]),
            (
                "Write sign in and sign out, not log in, login or log out.",
                &[("log in", "sign in"), ("login", "sign in"), ("log out", "sign out")],
            ),
            ("Write \"email\", not \"e-mail\".", &[("e-mail", "email")]),
            ("Write \u{201c}OK\u{201d}, not \u{201c}okay\u{201d}.", &[("okay", "OK")]),
            ("Write \"harbor master\", not \"administrator\".", &[("administrator", "harbor master")]),
            ("Use toward rather than towards.", &[("towards", "toward")]),
            ("Write GitHub, not Github.", &[("Github", "GitHub")]),
            ("Prefer use instead of utilize, which says no more.", &[("utilize", "use")]),
            ("Avoid \"utilize\"; use \"use\" instead.", &[("utilize", "use")]),
            // A remark after the list is no term.
            ("Use sign in, not log in, when you can.", &[("log in", "sign in")]),
            ("Write select, not click, tap, or swipe, in every guide.", &[("click", "select"), ("tap", "select"), ("swipe", "select")]),
            ("Spell it canceled (not cancelled).", &[("cancelled", "canceled")]),
            ("Don't write login or log-in, write sign in.", &[("login", "sign in"), ("log-in", "sign in")]),
            ("Write sign in (not log in) on every page.", &[("log in", "sign in")]),
            // Avoiding is no rule without the word to write instead.
            ("Avoid jargon.", &[]),
            ("Avoid long sentences; they tire the reader.", &[]),
            // No verb of writing first: a sentence that contrasts, not a rule.
            ("Harbor now sends one email per day, not one per booking.", &[]),
            ("Instead of a semicolon, we use braces.", &[]),
            // A clause is no term.
            (
                "Use the active voice: \"Lumen saves your changes\" rather than \"your changes will be saved\".",
                &[],
            ),
            ("Use `cargo build --release`, not `rustc`.", &[]),
            ("This does not change the file.", &[]),
            // A word list: quoted terms need no verb.
            ("\"sign in\" (not \"log in\")", &[("log in", "sign in")]),
            ("\u{201c}email\u{201d}, not \u{201c}e-mail\u{201d}.", &[("e-mail", "email")]),
            ("Yes, not really.", &[]),
        ];
        for (sentence, expected) in cases {
            let found = rules_stated_in(sentence, None);
            assert_eq!(pairs(&found), *expected, "{sentence}");
        }
    }

    #[test]
    fn a_sentence_that_only_rules_terms_out_takes_the_house_terms_from_the_one_before() {
        // (sentence before, sentence, the (avoided, house) pairs stated)
        type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let cases: &[Case] = &[
            (
                "Use sign in.",
                "Don't use log in, login or log on.",
                &[
                    ("log in", "sign in"),
                    ("login", "sign in"),
                    ("log on", "sign in"),
                ],
            ),
            (
                "Use \"email\".",
                "Avoid \"e-mail\".",
                &[("e-mail", "email")],
            ),
            // The sentence before must only name the house terms.
            ("Use the search bar to find a boat.", "Avoid the menu.", &[]),
            ("Sign in with your key.", "Don't use log in.", &[]),
            // And the sentence must only name the terms it rules out.
            ("Use sign in.", "Avoid log in when you can.", &[]),
            (
                "Say \"hold\" instead of \"reservation\".",
                "Avoid \"please\" in instructions.",
                &[],
            ),
            (
                "Use \"checkout\" as a noun.",
                "Don't use \"check-out\".",
                &[],
            ),
        ];
        for (before, sentence, expected) in cases {
            let found = rules_stated_in(sentence, Some(before));
            assert_eq!(pairs(&found), *expected, "{before} {sentence}");
        }
    }

    fn pairs(found: &[(String, String)]) -> Vec<(&str, &str)> {
        found
            .iter()
            .map(|(avoided, house)| (avoided.as_str(), house.as_str()))
            .collect()
    }

    #[test]
    fn a_term_is_found_in_a_text_as_whole_words() {
        // (term, case sensitive, text, the words found)
        let cases: &[(&str, bool, &str, &[&str])] = &[
            (
                "log in",
                false,
                "If you can't log in, ask. Log  in again.",
                &["log in", "Log  in"],
            ),
            (
                "click",
                false,
                "Double-click the icon, then click OK.",
                &["click"],
            ),
            (
                "e-mail",
                false,
                "We send an e-mail, not a mail.",
                &["e-mail"],
            ),
            (
                "okay",
                false,
                "When the dialog opens, select Okay.",
                &["Okay"],
            ),
            (
                "Github",
                true,
                "Keep plans in Github or GitHub; github too.",
                &["Github"],
            ),
            (
                "towards",
                false,
                "Drag it towards the berth, toward the quay.",
                &["towards"],
            ),
        ];
        for (term, case_sensitive, text, expected) in cases {
            let found: Vec<&str> = find_term(text, term, *case_sensitive)
                .into_iter()
                .map(|b| &text[b])
                .collect();
            assert_eq!(found, *expected, "{term} in {text}");
        }
    }

    #[test]
    fn a_corpus_counts_each_term_outside_the_words_its_rules_rule_out() {
        let sentences = [
            "Write sign in, not log in.",
            "To sign in, open the app and sign in again.",
            "Write \"email\", not \"e-mail\".",
            "We send an email and another email.",
            "The old e-mail form is gone.",
        ];
        let refs = || {
            sentences.iter().enumerate().map(|(i, s)| {
                let at = SentenceRef {
                    document: 0,
                    sentence: i as u32,
                };
                (at, *s)
            })
        };
        let rules = StatedRules::from_corpus_sentences(refs);
        let counts: Vec<(&str, u32, &str, u32)> = rules
            .rules()
            .iter()
            .map(|r| {
                (
                    r.avoided.as_str(),
                    r.avoided_count,
                    r.house.as_str(),
                    r.house_count,
                )
            })
            .collect();
        assert_eq!(
            counts,
            [("log in", 0, "sign in", 3), ("e-mail", 1, "email", 3)]
        );
    }
}
