//! Words of a text, the tokens that start them, and words as the corpus spells them.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

use crate::corpus::Document;
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

/// The longest block analysed as one, in bytes (about 200 tokens of English prose). A
/// longer paragraph is cut at sentence ends. The model's work per token grows with the
/// block's length, and an edit re-runs its block from the edit on, so one long block (a
/// plain-text file without blank lines, say) would make hints slow; the cost is that a
/// part does not see the text of the parts before it.
pub const MAX_BLOCK_BYTES: usize = 1000;

/// Byte ranges of the blocks of a document's prose: its paragraphs (separated by
/// `"\n\n"`), empty ones left out, those longer than [`MAX_BLOCK_BYTES`] cut at the
/// document's sentence ends.
pub fn block_ranges(document: &Document) -> Vec<Range<usize>> {
    let text = document.text();
    let sentences = document.sentences();
    let mut blocks = Vec::new();
    for paragraph in paragraph_ranges(text) {
        if paragraph.len() <= MAX_BLOCK_BYTES {
            blocks.push(paragraph);
            continue;
        }
        // Sentences are in order and never span paragraphs.
        let first = sentences.partition_point(|s| s.start < paragraph.start);
        let sentence_starts: Vec<usize> = sentences[first..]
            .iter()
            .take_while(|s| s.start < paragraph.end)
            .map(|s| s.start)
            .collect();
        cut_long_block(text, paragraph, &sentence_starts, &mut blocks);
    }
    blocks
}

/// Byte ranges of the paragraphs of extracted prose (separated by `"\n\n"`), empty ones
/// left out.
fn paragraph_ranges(text: &str) -> Vec<Range<usize>> {
    let mut paragraphs = Vec::new();
    let mut start = 0;
    for (separator, _) in text.match_indices("\n\n") {
        if separator > start {
            paragraphs.push(start..separator);
        }
        start = separator + 2;
    }
    if text.len() > start {
        paragraphs.push(start..text.len());
    }
    paragraphs
}

/// Pushes `block` as parts of at most [`MAX_BLOCK_BYTES`], each as long as it can be: cut
/// at the last of `sentence_starts` that fits, else at a space, else (a run of text
/// without spaces) between two characters. A part depends only on the text from its start,
/// so writing at the end of a long paragraph never moves the cuts before it, and their
/// analyses stay cached.
fn cut_long_block(
    text: &str,
    block: Range<usize>,
    sentence_starts: &[usize],
    blocks: &mut Vec<Range<usize>>,
) {
    let mut start = block.start;
    while block.end - start > MAX_BLOCK_BYTES {
        let limit = floor_char_boundary(text, start + MAX_BLOCK_BYTES);
        let last_sentence = sentence_starts
            .iter()
            .copied()
            .filter(|&s| s > start && s <= limit)
            .max();
        let cut = last_sentence
            .or_else(|| {
                let last_space = text[start..limit].rfind(char::is_whitespace)?;
                Some(start + last_space).filter(|&s| s > start)
            })
            .unwrap_or(limit);
        let part = text[start..cut].trim_end();
        if !part.is_empty() {
            blocks.push(start..start + part.len());
        }
        start = cut + (text[cut..block.end].len() - text[cut..block.end].trim_start().len());
    }
    if block.end > start {
        blocks.push(start..block.end);
    }
}

/// The largest char boundary of `text` at or before `index`.
fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
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

    /// The blocks of `text` read as a plain-text document.
    fn blocks(text: &str) -> Vec<String> {
        let path = std::path::Path::new("draft.txt");
        let config = crate::corpus::CorpusConfig::default();
        let document = Document::from_bytes(
            path,
            crate::corpus::Format::PlainText,
            text.as_bytes(),
            &config,
        )
        .unwrap();
        block_ranges(&document)
            .into_iter()
            .map(|r| document.text()[r].to_string())
            .collect()
    }

    #[test]
    fn blocks_are_split_on_blank_lines() {
        let text = "Title\n\nFirst para.\n\n\n\nSecond";
        assert_eq!(blocks(text), ["Title", "First para.", "Second"]);
    }

    #[test]
    fn long_paragraphs_are_cut_at_the_last_sentence_end_that_fits() {
        // 1,500 bytes of sentences; 2,500 bytes without a sentence end; 2,500 bytes of
        // two-byte letters without a space.
        let sentences = "This sentence is one of many. ".repeat(50);
        let words = "word ".repeat(500);
        let letters = "é".repeat(1250);
        // (paragraph, number of parts, whether every part ends a sentence)
        let cases = [
            (sentences.trim_end(), 2, true),
            (words.trim_end(), 3, false),
            (letters.as_str(), 3, false),
        ];
        for (paragraph, parts, at_sentence_ends) in cases {
            let text = format!("Title\n\n{paragraph}\n\nEnd.");
            let found = blocks(&text);
            let (first, last) = (found[0].as_str(), found[found.len() - 1].as_str());
            let middle = &found[1..found.len() - 1];
            assert_eq!((first, last), ("Title", "End."));
            assert_eq!(middle.len(), parts, "{:?}", &paragraph[..20]);
            for (i, part) in middle.iter().enumerate() {
                assert!(part.len() <= MAX_BLOCK_BYTES, "{}", part.len());
                if i + 1 < parts {
                    assert!(part.len() > MAX_BLOCK_BYTES - 32, "as long as it can be");
                }
                assert_eq!(part.trim(), *part);
                if at_sentence_ends {
                    assert!(part.ends_with("many."), "{part}");
                }
            }
            let kept: String = middle.concat().split_whitespace().collect();
            let whole: String = paragraph.split_whitespace().collect();
            assert_eq!(kept, whole, "nothing lost");

            // Writing on at the end of the paragraph leaves the parts before it alone.
            let longer = format!("{paragraph} And one more sentence here.");
            assert_eq!(blocks(&longer)[..parts - 1], middle[..parts - 1]);
        }
    }
}
