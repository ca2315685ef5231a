//! Words of a text, the tokens that start them, and words as the corpus spells them.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

use crate::lm::TokenSpan;

/// A word and the index of the token that starts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WordAt {
    pub bytes: Range<usize>,
    pub token: usize,
}

/// The words of `text` (Unicode word boundaries, at least one letter) that start a token:
/// the token holds the word's first letter and nothing before it but whitespace. A word
/// that begins inside a token (rare with this tokenizer) is left out.
pub fn words_with_tokens(text: &str, tokens: &[TokenSpan]) -> Vec<WordAt> {
    let mut words = Vec::new();
    for (start, word) in text.unicode_word_indices() {
        if !word.chars().any(char::is_alphabetic) {
            continue;
        }
        let following = tokens.partition_point(|t| t.bytes.start <= start);
        let Some(index) = following.checked_sub(1) else {
            continue;
        };
        let token = &tokens[index];
        let before = text.get(token.bytes.start..start).unwrap_or("x");
        if token.bytes.end > start && before.chars().all(char::is_whitespace) {
            words.push(WordAt {
                bytes: start..start + word.len(),
                token: index,
            });
        }
    }
    words
}

/// The word of `sentence` that begins at or just after `mark.start` (leading whitespace
/// skipped): how the corpus spells the word a supporting token starts.
pub fn corpus_word(sentence: &str, mark: Range<usize>) -> Option<&str> {
    let rest = sentence.get(mark.start..)?;
    let first = mark.start + (rest.len() - rest.trim_start().len());
    sentence
        .unicode_word_indices()
        .find(|&(start, word)| start <= first && first < start + word.len())
        .filter(|&(start, _)| start == first)
        .map(|(_, word)| word)
}

/// Byte ranges of the blocks of extracted prose (separated by `"\n\n"`), empty ones left out.
pub fn block_ranges(text: &str) -> Vec<Range<usize>> {
    let mut blocks = Vec::new();
    let mut start = 0;
    for (separator, _) in text.match_indices("\n\n") {
        if separator > start {
            blocks.push(start..separator);
        }
        start = separator + 2;
    }
    if text.len() > start {
        blocks.push(start..text.len());
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(text: &str, pieces: &[&str]) -> Vec<TokenSpan> {
        let mut offset = 0;
        pieces
            .iter()
            .enumerate()
            .map(|(id, piece)| {
                assert_eq!(&text[offset..offset + piece.len()], *piece);
                let span = TokenSpan {
                    id: id as u32,
                    bytes: offset..offset + piece.len(),
                };
                offset += piece.len();
                span
            })
            .collect()
    }

    #[test]
    fn words_start_at_their_first_token() {
        let text = "The house-style, 2024 don't";
        let tokens = spans(
            text,
            &["The", " house", "-", "style", ",", " 2024", " don", "'t"],
        );
        let words: Vec<(&str, usize)> = words_with_tokens(text, &tokens)
            .into_iter()
            .map(|w| (&text[w.bytes], w.token))
            .collect();
        assert_eq!(
            words,
            [("The", 0), ("house", 1), ("style", 3), ("don't", 6)]
        );
    }

    #[test]
    fn a_word_starting_inside_a_token_is_left_out() {
        let text = "(house";
        let tokens = spans(text, &["(h", "ouse"]);
        assert_eq!(words_with_tokens(text, &tokens), []);
    }

    #[test]
    fn corpus_words() {
        let cases = [
            ("We keep the style guide.", 11..17, Some("style")),
            ("We keep the style guide.", 7..11, Some("the")),
            ("Use house-style here.", 3..9, Some("house")),
            ("End.", 3..4, None),
        ];
        for (sentence, mark, expected) in cases {
            assert_eq!(
                corpus_word(sentence, mark.clone()),
                expected,
                "{sentence} {mark:?}"
            );
        }
    }

    #[test]
    fn blocks_are_split_on_blank_lines() {
        let text = "Title\n\nFirst para.\n\n\n\nSecond";
        let blocks: Vec<&str> = block_ranges(text).into_iter().map(|r| &text[r]).collect();
        assert_eq!(blocks, ["Title", "First para.", "Second"]);
    }
}
