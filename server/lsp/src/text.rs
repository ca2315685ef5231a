//! Text positions: LSP's (line, UTF-16 column) ↔ byte offsets, and incremental edits.

use tower_lsp_server::ls_types::{Position, Range, TextDocumentContentChangeEvent};

/// Line starts of a text, for converting positions.
#[derive(Clone, Debug)]
pub struct LineIndex {
    line_starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex { line_starts }
    }

    fn line_text<'t>(&self, text: &'t str, line: usize) -> &'t str {
        let start = self.line_starts[line];
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(text.len(), |&next| next - 1);
        let line_text = &text[start..end.max(start)];
        line_text.strip_suffix('\r').unwrap_or(line_text)
    }

    /// Byte offset of an LSP position; past the end of a line means its end, past the last
    /// line the end of the text (as LSP asks clients and servers to be lenient).
    pub fn offset(&self, text: &str, position: Position) -> usize {
        let line = position.line as usize;
        if line >= self.line_starts.len() {
            return text.len();
        }
        let start = self.line_starts[line];
        let mut units = 0;
        for (index, ch) in self.line_text(text, line).char_indices() {
            if units >= position.character as usize {
                return start + index;
            }
            units += ch.len_utf16();
        }
        start + self.line_text(text, line).len()
    }

    /// The LSP position of a byte offset (clamped to the text, snapped to a char boundary).
    pub fn position(&self, text: &str, offset: usize) -> Position {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let character: usize = text[start..offset].chars().map(char::len_utf16).sum();
        Position::new(line as u32, character as u32)
    }

    pub fn range(&self, text: &str, bytes: std::ops::Range<usize>) -> Range {
        Range::new(
            self.position(text, bytes.start),
            self.position(text, bytes.end),
        )
    }
}

/// Applies LSP content changes in order; returns the byte offset where the last change ended
/// (the writer's most recent edit).
pub fn apply_changes(
    text: &mut String,
    changes: Vec<TextDocumentContentChangeEvent>,
) -> Option<usize> {
    let mut last_edit = None;
    for change in changes {
        match change.range {
            Some(range) => {
                let index = LineIndex::new(text);
                let start = index.offset(text, range.start);
                let end = index.offset(text, range.end).max(start);
                text.replace_range(start..end, &change.text);
                last_edit = Some(start + change.text.len());
            }
            None => {
                *text = change.text;
                last_edit = None;
            }
        }
    }
    last_edit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_count_surrogate_pairs_twice() {
        let text = "aé😀b\nsecond\r\nthird";
        let index = LineIndex::new(text);
        // (position, byte offset)
        let cases = [
            ((0, 0), 0),
            ((0, 1), 1),
            ((0, 2), 3),  // after é (2 bytes, 1 unit)
            ((0, 4), 7),  // after 😀 (4 bytes, 2 units)
            ((0, 5), 8),  // after b
            ((1, 6), 15), // end of "second" before \r\n
            ((2, 5), text.len()),
        ];
        for ((line, character), offset) in cases {
            let position = Position::new(line, character);
            assert_eq!(index.offset(text, position), offset, "{position:?}");
            assert_eq!(index.position(text, offset), position, "{offset}");
        }
        // Lenient: past the end of a line or of the text.
        assert_eq!(index.offset(text, Position::new(0, 99)), 8);
        assert_eq!(index.offset(text, Position::new(9, 0)), text.len());
    }

    #[test]
    fn incremental_changes_apply_in_order() {
        let mut text = "Hello wörld".to_string();
        let change = |(l1, c1), (l2, c2), new: &str| TextDocumentContentChangeEvent {
            range: Some(Range::new(Position::new(l1, c1), Position::new(l2, c2))),
            range_length: None,
            text: new.to_string(),
        };
        let last = apply_changes(
            &mut text,
            vec![
                change((0, 6), (0, 11), "world"),
                change((0, 11), (0, 11), "!\nBye"),
            ],
        );
        assert_eq!(text, "Hello world!\nBye");
        assert_eq!(last, Some(text.len()));
    }
}
