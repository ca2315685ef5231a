//! The corpus's vocabulary: how often it writes each word form, where, and which forms are
//! spelling or capitalisation variants of a word it does not write.
//!
//! A house style shows as much in what a corpus never writes as in what it writes:
//! "organisation" 0 times next to "organization" 12 times is a rule. The lexicon is
//! counted from the sentences an index stores, so every index has one without a new
//! format, and it is built once per loaded index.

use std::collections::HashMap;

use unicode_segmentation::UnicodeSegmentation;

use crate::stated_rules;

/// Corpus sentences kept per word form, to show as evidence of its use.
const EXAMPLES_PER_FORM: usize = 3;

/// Where a corpus sentence is: (document, sentence) as in the datastore.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentenceRef {
    pub document: u32,
    pub sentence: u32,
}

/// How a corpus writes one word form (exact spelling and case).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FormUse {
    /// Occurrences anywhere.
    pub count: u32,
    /// Occurrences as a sentence's first word, where a capital says nothing of the word.
    pub sentence_initial: u32,
    /// The first few sentences that use it.
    pub examples: Vec<SentenceRef>,
}

impl FormUse {
    /// Occurrences inside a sentence, where the capitalisation is the word's own.
    pub fn inside_sentence(&self) -> u32 {
        self.count - self.sentence_initial
    }
}

/// Word forms of a corpus, with their use.
#[derive(Debug, Default)]
pub struct Lexicon {
    forms: HashMap<String, FormUse>,
    /// Lowercased word → the forms written with those letters.
    by_folded: HashMap<String, Vec<String>>,
    /// Lowercased words by their number of characters, for the variant search.
    folded_by_length: HashMap<usize, Vec<String>>,
    /// Words written, every occurrence (asked for at every word a hint considers).
    word_count: u64,
}

impl Lexicon {
    /// The words of a corpus's sentences, each with where it is.
    pub fn from_corpus_sentences<'a>(
        sentences: impl IntoIterator<Item = (SentenceRef, &'a str)>,
    ) -> Lexicon {
        let mut lexicon = Lexicon::default();
        for (at, text) in sentences {
            lexicon.add_sentence(text, at);
        }
        lexicon.index_folded();
        lexicon
    }

    /// A lexicon of plain sentences (tests, and texts that are not an index).
    pub fn from_sentences<'a>(sentences: impl IntoIterator<Item = &'a str>) -> Lexicon {
        let mut lexicon = Lexicon::default();
        for (number, sentence) in sentences.into_iter().enumerate() {
            let at = SentenceRef {
                document: 0,
                sentence: number as u32,
            };
            lexicon.add_sentence(sentence, at);
        }
        lexicon.index_folded();
        lexicon
    }

    fn add_sentence(&mut self, sentence: &str, at: SentenceRef) {
        let avoided = stated_rules::avoided_span(sentence);
        let written = word_indices(sentence).filter(|(offset, _)| !avoided.contains(offset));
        for (position, (_, word)) in written.enumerate() {
            let form = self.forms.entry(word.to_string()).or_default();
            form.count += 1;
            if position == 0 {
                form.sentence_initial += 1;
            }
            if form.examples.len() < EXAMPLES_PER_FORM && form.examples.last() != Some(&at) {
                form.examples.push(at);
            }
        }
    }

    fn index_folded(&mut self) {
        self.word_count = self.forms.values().map(|f| u64::from(f.count)).sum();
        for form in self.forms.keys() {
            let folded = form.to_lowercase();
            let forms = self.by_folded.entry(folded.clone()).or_default();
            if forms.is_empty() {
                self.folded_by_length
                    .entry(folded.chars().count())
                    .or_default()
                    .push(folded);
            }
            forms.push(form.clone());
        }
        for forms in self.by_folded.values_mut() {
            forms.sort();
        }
        for words in self.folded_by_length.values_mut() {
            words.sort();
        }
    }

    /// How the corpus writes `form`, exactly.
    pub fn form(&self, form: &str) -> Option<&FormUse> {
        self.forms.get(form)
    }

    /// Occurrences of `form`, exactly as written.
    pub fn count(&self, form: &str) -> u32 {
        self.form(form).map_or(0, |f| f.count)
    }

    /// Occurrences of the word in any capitalisation.
    pub fn count_folded(&self, word: &str) -> u32 {
        self.forms_of(word).map(|(_, use_)| use_.count).sum()
    }

    /// Occurrences of the word and of its inflections ("shared": also "share", "shares"),
    /// in any case: a corpus that writes "share" does not avoid "shared".
    pub fn count_inflected(&self, word: &str) -> u32 {
        let folded = word.to_lowercase();
        let length = folded.chars().count();
        (length.saturating_sub(3)..=length + 3)
            .filter_map(|l| self.folded_by_length.get(&l))
            .flatten()
            .filter(|other| {
                **other == folded
                    || (other.len().min(folded.len()) >= 3
                        && inflections_of_one_stem(&folded, other))
            })
            .map(|other| self.count_folded(other))
            .sum()
    }

    /// The forms written with the same letters as `word`, in any case.
    pub fn forms_of<'a>(&'a self, word: &str) -> impl Iterator<Item = (&'a str, &'a FormUse)> {
        self.by_folded
            .get(&word.to_lowercase())
            .into_iter()
            .flatten()
            .filter_map(|form| Some((form.as_str(), self.forms.get(form)?)))
    }

    /// Number of words written (every occurrence).
    pub fn word_count(&self) -> u64 {
        self.word_count
    }

    /// Number of distinct word forms.
    pub fn len(&self) -> usize {
        self.forms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// Lowercased corpus words that are spelling variants of `word` (see
    /// [`spelling_variant`]), in no particular order.
    pub fn spelling_variants(&self, word: &str) -> Vec<&str> {
        let folded = word.to_lowercase();
        let length = folded.chars().count();
        let max_distance = max_spelling_distance(length);
        if max_distance == 0 {
            return Vec::new();
        }
        (length.saturating_sub(max_distance)..=length + max_distance)
            .filter_map(|l| self.folded_by_length.get(&l))
            .flatten()
            .filter(|other| spelling_variant(&folded, other))
            .map(String::as_str)
            .collect()
    }
}

/// The words of a sentence as the lexicon counts them: Unicode words with a letter.
pub fn words(sentence: &str) -> impl Iterator<Item = &str> {
    word_indices(sentence).map(|(_, word)| word)
}

/// [`words`] with their byte offsets.
pub fn word_indices(sentence: &str) -> impl Iterator<Item = (usize, &str)> {
    sentence
        .unicode_word_indices()
        .filter(|(_, w)| w.chars().any(char::is_alphabetic))
}

/// Edits allowed between two spellings of a word of `length` characters: none for short
/// words (too many real words are one letter apart), one from 5 letters, two from 9 when
/// they are one inserted pair of letters ("catalogue"/"catalog", "programme"/"program").
fn max_spelling_distance(length: usize) -> usize {
    match length {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Whether two lowercased words are plausibly two spellings of one word: the same first
/// letter, within [`max_spelling_distance`] edits (a swap of two neighbouring letters is
/// one edit), and not the same stem with different inflections ("select"/"selects",
/// "configured"/"configures"), which are different words, not spellings.
pub fn spelling_variant(a: &str, b: &str) -> bool {
    if a == b || a.chars().next() != b.chars().next() {
        return false;
    }
    let length = a.chars().count().min(b.chars().count());
    let max_distance = max_spelling_distance(length);
    if max_distance == 0 || inflections_of_one_stem(a, b) {
        return false;
    }
    match edit_distance(a, b, max_distance) {
        0 => false,
        1 => true,
        // Two edits elsewhere are mostly two words ("descriptor"/"description").
        2 => one_inserted_pair(a, b),
        _ => false,
    }
}

/// Whether one word is the other with two neighbouring letters inserted somewhere.
fn one_inserted_pair(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    let prefix: usize = short
        .chars()
        .zip(long.chars())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len_utf8())
        .sum();
    let suffix: usize = short[prefix..]
        .chars()
        .rev()
        .zip(long[prefix..].chars().rev())
        .take_while(|(x, y)| x == y)
        .map(|(x, _)| x.len_utf8())
        .sum();
    prefix + suffix == short.len() && long[prefix..long.len() - suffix].chars().count() == 2
}

/// Endings that make inflections and common derivations of one stem.
const INFLECTIONS: &[&str] = &[
    "", "s", "es", "d", "ed", "ing", "e", "er", "ers", "est", "ly", "ion", "ions", "al", "y",
];

fn inflections_of_one_stem(a: &str, b: &str) -> bool {
    let common = a
        .char_indices()
        .zip(b.chars())
        .take_while(|((_, x), y)| x == y)
        .last()
        .map_or(0, |((i, x), _)| i + x.len_utf8());
    INFLECTIONS.contains(&&a[common..]) && INFLECTIONS.contains(&&b[common..])
}

/// Optimal-string-alignment distance (insertions, deletions, substitutions and swaps of
/// neighbouring characters), or `limit + 1` once it must exceed `limit`.
pub fn edit_distance(a: &str, b: &str, limit: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > limit {
        return limit + 1;
    }
    let width = b.len() + 1;
    let mut before_previous = vec![0; width];
    let mut previous: Vec<usize> = (0..width).collect();
    let mut current = vec![0; width];
    for i in 1..=a.len() {
        current[0] = i;
        let mut row_min = current[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (previous[j] + 1)
                .min(current[j - 1] + 1)
                .min(previous[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before_previous[j - 2] + 1);
            }
            current[j] = best;
            row_min = row_min.min(best);
        }
        if row_min > limit {
            return limit + 1;
        }
        std::mem::swap(&mut before_previous, &mut previous);
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()].min(limit + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_insertions_substitutions_and_swaps() {
        // (a, b, distance with a limit of 3)
        let cases = [
            ("canceled", "cancelled", 1),
            ("organisation", "organization", 1),
            ("behaviour", "behavior", 1),
            ("centre", "center", 1),
            ("form", "from", 1),
            ("catalogue", "catalog", 2),
            ("same", "same", 0),
            ("kitten", "sitting", 3),
            ("a", "abcdefgh", 4),
        ];
        for (a, b, expected) in cases {
            assert_eq!(edit_distance(a, b, 3), expected, "{a} / {b}");
            assert_eq!(edit_distance(b, a, 3), expected, "{b} / {a}");
        }
    }

    #[test]
    fn spelling_variants_are_near_spellings_of_one_word_not_inflections() {
        // (written, other, a spelling variant)
        let cases = [
            ("organisation", "organization", true),
            ("cancelled", "canceled", true),
            ("behaviour", "behavior", true),
            ("catalogue", "catalog", true),
            ("licence", "license", true),
            ("selects", "select", false),
            ("selected", "selects", false),
            ("programme", "program", true),
            ("descriptor", "description", false),
            ("downgraded", "downloaded", false),
            ("configured", "configures", false),
            ("reports", "report", false),
            ("form", "from", false),
            ("cat", "car", false),
            ("modem", "model", true),
            ("install", "uninstall", false),
        ];
        for (a, b, expected) in cases {
            assert_eq!(spelling_variant(a, b), expected, "{a} / {b}");
        }
    }

    #[test]
    fn words_a_sentence_rules_out_are_not_counted_as_written() {
        // (sentence, times each word is counted as written)
        let cases: &[(&str, &[(&str, u32)])] = &[
            (
                "Write select, not click or tap.",
                &[("select", 1), ("not", 1), ("click", 0), ("tap", 0)],
            ),
            (
                "Use the menu instead of the keyboard; it is faster.",
                &[("menu", 1), ("the", 1), ("keyboard", 0), ("faster", 1)],
            ),
            (
                "Say \"Lumen saves\" rather than \"is saved\" (the active voice).",
                &[("saves", 1), ("is", 0), ("saved", 0), ("voice", 1)],
            ),
            (
                "Instead of a semicolon, we use braces.",
                &[("semicolon", 0), ("braces", 1), ("use", 1)],
            ),
            (
                "This does not change the file.",
                &[("not", 1), ("change", 1), ("file", 1)],
            ),
            (
                "Avoid utilize, which says no more; use use.",
                &[("utilize", 0), ("says", 0), ("use", 2)],
            ),
            (
                "Don't use log in, login or log on.",
                &[("use", 1), ("log", 0), ("login", 0), ("on", 0)],
            ),
            (
                "Write sign in (not log in) everywhere.",
                &[("sign", 1), ("log", 0), ("everywhere", 1)],
            ),
        ];
        for (sentence, counts) in cases {
            let lexicon = Lexicon::from_sentences([*sentence]);
            for (word, count) in *counts {
                assert_eq!(lexicon.count(word), *count, "{word} in {sentence}");
            }
        }
    }

    #[test]
    fn forms_are_counted_with_their_case_and_sentence_position() {
        let lexicon = Lexicon::from_sentences([
            "Sign in with GitHub.",
            "To sign in, open GitHub and sign in again.",
            "Organization settings are on GitHub.",
        ]);
        assert_eq!(lexicon.count("sign"), 2);
        assert_eq!(lexicon.count("Sign"), 1);
        assert_eq!(lexicon.form("Sign").unwrap().inside_sentence(), 0);
        assert_eq!(lexicon.count_folded("SIGN"), 3);
        assert_eq!(lexicon.count("GitHub"), 3);
        assert_eq!(lexicon.count("Github"), 0);
        let forms: Vec<&str> = lexicon.forms_of("github").map(|(f, _)| f).collect();
        assert_eq!(forms, ["GitHub"]);
        assert_eq!(lexicon.spelling_variants("organisation"), ["organization"]);
        assert_eq!(lexicon.count_inflected("signs"), 3);
        assert_eq!(lexicon.count_inflected("settings"), 1);
        // A sentence that uses a word twice is one example.
        let one = SentenceRef {
            document: 0,
            sentence: 1,
        };
        assert_eq!(lexicon.form("sign").unwrap().examples, [one]);
    }
}
