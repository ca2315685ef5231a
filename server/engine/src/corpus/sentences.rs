//! Sentence boundaries in extracted prose, by the Unicode sentence segmenter (UAX #29).
//!
//! UAX #29 already keeps "e.g. the", "3.5", "example.com" and "Node.js" inside one
//! sentence: a full stop followed by a lower-case letter, a digit or no space is not a
//! boundary. Its known limits, and what is done about them:
//! - a full stop, a space and a capital letter always end a sentence, so "Dr. Smith" or
//!   "e.g. Python" would split; a sentence that ends with one of [`NON_FINAL_ABBREVIATIONS`]
//!   is therefore joined with the next one;
//! - initials ("J. R. R. Tolkien") and abbreviations outside that list still split;
//! - a sentence without final punctuation runs on to the next full stop, but never
//!   beyond its block: blocks (separated by "\n\n") are segmented one by one.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// Abbreviations that (almost) never end a sentence, compared case-sensitively with the
/// last word of a segment. "etc." is absent on purpose: it often does end one.
const NON_FINAL_ABBREVIATIONS: &[&str] = &[
    "e.g.", "E.g.", "i.e.", "I.e.", "cf.", "Cf.", "vs.", "viz.", "Mr.", "Mrs.", "Ms.", "Dr.",
    "Prof.", "St.", "Fig.", "Figs.", "approx.",
];

/// The sentences of `text` as byte ranges, in order, without surrounding whitespace.
pub(crate) fn sentence_ranges(text: &str) -> Vec<Range<usize>> {
    let mut sentences: Vec<Range<usize>> = Vec::new();
    let mut block_start = 0;
    for block in text.split("\n\n") {
        let mut joins_next = false;
        for (offset, segment) in block.split_sentence_bound_indices() {
            let trimmed = segment.trim_start();
            let start = block_start + offset + (segment.len() - trimmed.len());
            let end = start + trimmed.trim_end().len();
            if start == end {
                continue;
            }
            match sentences.last_mut() {
                Some(previous) if joins_next => previous.end = end,
                _ => sentences.push(start..end),
            }
            joins_next = ends_with_abbreviation(&text[start..end]);
        }
        block_start += block.len() + 2;
    }
    sentences
}

fn ends_with_abbreviation(sentence: &str) -> bool {
    let last_word = sentence.rsplit(char::is_whitespace).next().unwrap_or("");
    let last_word = last_word.trim_start_matches(['(', '"', '\'', '“', '‘']);
    NON_FINAL_ABBREVIATIONS.contains(&last_word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &[&str]) {
        let found: Vec<&str> = sentence_ranges(text)
            .into_iter()
            .map(|range| &text[range])
            .collect();
        assert_eq!(found, expected, "sentences of {text:?}");
    }

    #[test]
    fn sentences_follow_uax29_with_abbreviations_joined() {
        let cases: &[(&str, &[&str])] = &[
            ("One. Two!  Three?", &["One.", "Two!", "Three?"]),
            (
                "Use a tool, e.g. the linter. Then commit.",
                &["Use a tool, e.g. the linter.", "Then commit."],
            ),
            (
                "Pick a language, e.g. Python or Go. Done.",
                &["Pick a language, e.g. Python or Go.", "Done."],
            ),
            (
                "Version 3.5 is out. It costs $2.50 now.",
                &["Version 3.5 is out.", "It costs $2.50 now."],
            ),
            (
                "Ask Dr. Smith (i.e. Jane) first. See example.com for more.",
                &[
                    "Ask Dr. Smith (i.e. Jane) first.",
                    "See example.com for more.",
                ],
            ),
            (
                "He said \"Stop.\" Then he left.",
                &["He said \"Stop.\"", "Then he left."],
            ),
            (
                "A heading\n\nA paragraph. Another",
                &["A heading", "A paragraph.", "Another"],
            ),
            (
                "Unfinished e.g.\n\nNext block.",
                &["Unfinished e.g.", "Next block."],
            ),
            // Known limit: initials split.
            ("J. Smith wrote it.", &["J.", "Smith wrote it."]),
            ("", &[]),
        ];
        for (text, expected) in cases {
            check(text, expected);
        }
    }
}
