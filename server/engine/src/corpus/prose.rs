//! Building the extracted prose of one file together with its map back to the source.
//!
//! The format extractors feed source characters (or decoded strings) into a
//! [`ProseBuilder`]. It collapses whitespace, separates blocks by `"\n\n"` and records,
//! for every byte it writes, where in the source it came from.

use std::ops::Range;

/// A position in a source file: 1-based line, 1-based column counted in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourcePosition {
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, in Unicode scalar values (a tab counts as one).
    pub column: u32,
}

/// A run of text bytes that come from one place in the source.
///
/// `verbatim` runs are a copy of one source line's bytes starting at (line, column), so
/// the column of a later byte is found by counting characters. Other runs (an entity's
/// decoded text, a block separator, a space standing for a line break) map every byte to
/// (line, column).
#[derive(Clone, Copy, Debug)]
struct Run {
    text_start: usize,
    line: u32,
    column: u32,
    verbatim: bool,
}

/// Maps byte offsets of extracted text back to source positions; a few runs per line.
#[derive(Clone, Debug, Default)]
pub(crate) struct Provenance {
    runs: Vec<Run>,
}

impl Provenance {
    /// The source position of the byte at `offset` in `text` (the text this map was built
    /// with). Offsets past the end are clamped to the last byte.
    pub(crate) fn position(&self, text: &str, offset: usize) -> SourcePosition {
        if self.runs.is_empty() {
            return SourcePosition { line: 1, column: 1 };
        }
        let mut offset = offset.min(text.len().saturating_sub(1));
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let run = self.runs[self.runs.partition_point(|run| run.text_start <= offset) - 1];
        let column = if run.verbatim {
            run.column + text[run.text_start..offset].chars().count() as u32
        } else {
            run.column
        };
        SourcePosition {
            line: run.line,
            column,
        }
    }

    /// Number of runs, to check that the map stays compact.
    #[cfg(test)]
    pub(crate) fn run_count(&self) -> usize {
        self.runs.len()
    }
}

/// Finds the line and column of source byte offsets; fast for increasing offsets.
struct Locator<'s> {
    source: &'s str,
    line_starts: Vec<usize>,
    /// The last answer (offset, line index, column), to count forward from it.
    cursor: (usize, usize, u32),
}

impl<'s> Locator<'s> {
    fn new(source: &'s str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Locator {
            source,
            line_starts,
            cursor: (0, 0, 1),
        }
    }

    fn locate(&mut self, offset: usize) -> (u32, u32) {
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let (cursor_offset, cursor_line, cursor_column) = self.cursor;
        let column = if cursor_line == line && cursor_offset <= offset {
            cursor_column + self.source[cursor_offset..offset].chars().count() as u32
        } else {
            1 + self.source[self.line_starts[line]..offset].chars().count() as u32
        };
        self.cursor = (offset, line, column);
        (line as u32 + 1, column)
    }
}

/// Where the previous write came from, to extend its run instead of starting a new one.
#[derive(Clone, Copy, PartialEq)]
enum LastWrite {
    /// A verbatim copy that ended just before this source offset.
    VerbatimUntil(usize),
    /// A non-verbatim write mapped to this source offset.
    PointAt(usize),
}

/// Accumulates prose text and its provenance.
pub(crate) struct ProseBuilder<'s> {
    source: &'s str,
    locator: Locator<'s>,
    text: String,
    runs: Vec<Run>,
    last_write: Option<LastWrite>,
    /// Whitespace seen since the last content, at this source offset.
    pending_space: Option<usize>,
    /// A block ended since the last content.
    pending_break: bool,
}

impl<'s> ProseBuilder<'s> {
    pub(crate) fn new(source: &'s str) -> Self {
        ProseBuilder {
            source,
            locator: Locator::new(source),
            text: String::new(),
            runs: Vec::new(),
            last_write: None,
            pending_space: None,
            pending_break: false,
        }
    }

    /// Copies `source[offset..offset + len]` as prose (whitespace collapses to one space).
    pub(crate) fn copy(&mut self, range: Range<usize>) {
        let start = range.start;
        for (i, c) in self.source[range].char_indices() {
            self.source_char(start + i, c);
        }
    }

    /// Writes one character found at `offset` in the source.
    pub(crate) fn source_char(&mut self, offset: usize, c: char) {
        debug_assert!(self.source[offset..].starts_with(c) || c.is_whitespace());
        if c.is_whitespace() {
            self.space(offset);
        } else {
            let mut buffer = [0; 4];
            self.content(c.encode_utf8(&mut buffer), offset, true);
        }
    }

    /// Writes characters gathered from the source (see [`BlockChars`]).
    pub(crate) fn chars(&mut self, chars: &[(usize, char)]) {
        for &(offset, c) in chars {
            self.source_char(offset, c);
        }
    }

    /// Writes `decoded`, the parser's reading of `source[range]` (entities and escapes
    /// resolved, CRLF normalised). Characters that appear as such in the source keep
    /// their exact position; the others map to the start of the construct they came from.
    pub(crate) fn decoded(&mut self, range: Range<usize>, decoded: &str) {
        let raw = &self.source[range.clone()];
        if raw == decoded {
            return self.copy(range);
        }
        let mut at = 0;
        let mut construct_start = range.start;
        for c in decoded.chars() {
            let rest = &raw[at..];
            let skippable = rest
                .char_indices()
                .take(MAX_SKIPPED_MARKUP)
                .take_while(|&(_, r)| r != c && is_skippable_markup(r))
                .last()
                .map(|(i, r)| i + r.len_utf8());
            if let Some(skip) = skippable.filter(|&skip| rest[skip..].starts_with(c)) {
                at += skip;
            }
            let rest = &raw[at..];
            let offset = range.start + at;
            if rest.starts_with('&') && (c != '&' || is_ampersand_reference(rest)) {
                construct_start = offset;
                at += reference_len(rest);
                self.mapped_char(c, offset);
            } else if rest.starts_with(c) {
                construct_start = offset;
                at += c.len_utf8();
                self.source_char(offset, c);
            } else {
                // The rest of a multi-character replacement: same place as its start.
                self.mapped_char(c, construct_start);
            }
        }
    }

    /// Writes a character that stands for the source construct at `offset`.
    fn mapped_char(&mut self, c: char, offset: usize) {
        if c.is_whitespace() {
            self.space(offset);
        } else {
            let mut buffer = [0; 4];
            self.content(c.encode_utf8(&mut buffer), offset, false);
        }
    }

    /// Whitespace (or a line break inside a block) at `offset`: one space before the next
    /// content of the same block, nothing at a block's start or end.
    pub(crate) fn space(&mut self, offset: usize) {
        if self.pending_space.is_none() {
            self.pending_space = Some(offset);
        }
    }

    /// Forgets whitespace seen since the last content: where a construct is dropped
    /// (inline code, a footnote reference), "word [1]." reads "word." rather than "word .".
    pub(crate) fn drop_space(&mut self) {
        self.pending_space = None;
    }

    /// Ends the current block: the next content starts after `"\n\n"`.
    pub(crate) fn block_break(&mut self) {
        self.pending_break = true;
    }

    fn content(&mut self, piece: &str, offset: usize, verbatim: bool) {
        if self.pending_break && !self.text.is_empty() {
            self.write("\n\n", offset, false);
        } else if let Some(space_offset) = self.pending_space.filter(|_| !self.text.is_empty()) {
            let is_plain_space = self.source.as_bytes().get(space_offset) == Some(&b' ');
            self.write(" ", space_offset, is_plain_space);
        }
        self.pending_break = false;
        self.pending_space = None;
        self.write(piece, offset, verbatim);
    }

    fn write(&mut self, piece: &str, offset: usize, verbatim: bool) {
        let continues = match self.last_write {
            Some(LastWrite::VerbatimUntil(end)) => verbatim && end == offset,
            Some(LastWrite::PointAt(point)) => !verbatim && point == offset,
            None => false,
        };
        if !continues {
            let (line, column) = self.locator.locate(offset);
            self.runs.push(Run {
                text_start: self.text.len(),
                line,
                column,
                verbatim,
            });
        }
        self.text.push_str(piece);
        self.last_write = Some(if verbatim {
            LastWrite::VerbatimUntil(offset + piece.len())
        } else {
            LastWrite::PointAt(offset)
        });
    }

    pub(crate) fn finish(self) -> (String, Provenance) {
        (self.text, Provenance { runs: self.runs })
    }
}

/// How far `decoded` looks ahead for source characters a parser drops (escapes, code
/// span backticks, line-break markup).
const MAX_SKIPPED_MARKUP: usize = 8;

fn is_skippable_markup(c: char) -> bool {
    matches!(c, '\\' | '`' | '\r' | '\n' | ' ' | '\t' | '>')
}

/// Whether `rest` (starting with '&') is a reference that decodes to '&' itself.
fn is_ampersand_reference(rest: &str) -> bool {
    let lower = rest.get(..6).unwrap_or(rest).to_ascii_lowercase();
    lower.starts_with("&amp") || lower.starts_with("&#38") || lower.starts_with("&#x26")
}

/// Length of a character reference such as `&amp;`, `&#38;` or `&#x26;` at the start of
/// `rest`; just the '&' when no name follows.
fn reference_len(rest: &str) -> usize {
    let name_len = rest[1..]
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphanumeric() || (i == 0 && c == '#')))
        .map_or(rest.len() - 1, |(i, _)| i);
    let semicolon = usize::from(rest[1 + name_len..].starts_with(';'));
    1 + name_len + semicolon
}

/// The lines of `source` as (byte offset of the line, line without its line break).
pub(crate) fn source_lines(source: &str) -> impl Iterator<Item = (usize, &str)> {
    source.split_inclusive('\n').scan(0, |offset, line| {
        let start = *offset;
        *offset += line.len();
        let line = line.strip_suffix('\n').unwrap_or(line);
        Some((start, line.strip_suffix('\r').unwrap_or(line)))
    })
}

/// The characters of a block gathered from several lines, each with its source offset;
/// lines are joined by a '\n' at the end of the previous line (a space in the prose).
/// Inline markup that spans lines is then parsed in one go.
#[derive(Default)]
pub(crate) struct BlockChars {
    pub(crate) chars: Vec<(usize, char)>,
}

impl BlockChars {
    pub(crate) fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Appends `line` (the text at `offset`), separated from earlier lines by a break.
    pub(crate) fn push_line(&mut self, offset: usize, line: &str) {
        if let Some(&(last_offset, last)) = self.chars.last() {
            self.chars.push((last_offset + last.len_utf8(), '\n'));
        }
        self.chars
            .extend(line.char_indices().map(|(i, c)| (offset + i, c)));
    }

    pub(crate) fn take(&mut self) -> Vec<(usize, char)> {
        std::mem::take(&mut self.chars)
    }
}

/// Whether the run of emphasis-like markers at `chars[start..end]` opens or closes inline
/// markup (so it is dropped): an opener follows whitespace, punctuation or the start and
/// precedes a non-space; a closer is the mirror image. `2 * 3` and `snake_case` stay.
pub(crate) fn is_markup_delimiter(chars: &[(usize, char)], start: usize, end: usize) -> bool {
    let before = start.checked_sub(1).map(|i| chars[i].1);
    let after = chars.get(end).map(|&(_, c)| c);
    let is_boundary = |c: Option<char>| c.is_none_or(|c| c.is_whitespace() || is_punctuation(c));
    let is_solid = |c: Option<char>| c.is_some_and(|c| !c.is_whitespace());
    let opens = is_boundary(before) && is_solid(after);
    let closes = is_solid(before) && is_boundary(after);
    opens || closes
}

fn is_punctuation(c: char) -> bool {
    !c.is_alphanumeric() && !c.is_whitespace()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(line: u32, column: u32) -> SourcePosition {
        SourcePosition { line, column }
    }

    #[test]
    fn copied_lines_collapse_whitespace_and_keep_columns() {
        let source = "  héllo   wörld\n\tnext line\n";
        let mut builder = ProseBuilder::new(source);
        for (offset, line) in source_lines(source) {
            builder.copy(offset..offset + line.len());
        }
        let (text, provenance) = builder.finish();
        assert_eq!(text, "héllo wörld next line");
        let cases = [
            ("h", position(1, 3)),
            ("w", position(1, 11)),
            ("d", position(1, 15)),
            ("n", position(2, 2)),
            ("ext", position(2, 3)),
        ];
        for (needle, expected) in cases {
            let offset = text.find(needle).unwrap();
            assert_eq!(provenance.position(&text, offset), expected, "{needle}");
        }
        // "héllo " (its space is verbatim), "wörld" after a collapsed run, " " for the
        // line break, "next line": four runs.
        assert_eq!(provenance.run_count(), 4);
    }

    #[test]
    fn decoded_text_maps_entities_to_their_start() {
        let source = "a &amp; b &lt;c&gt; AT&T &#x263A;!";
        let decoded = "a & b <c> AT&T \u{263A}!";
        let mut builder = ProseBuilder::new(source);
        builder.decoded(0..source.len(), decoded);
        let (text, provenance) = builder.finish();
        assert_eq!(text, decoded);
        let cases = [
            ("&", position(1, 3)),
            ("b", position(1, 9)),
            ("<", position(1, 11)),
            ("c", position(1, 15)),
            ("T&T", position(1, 22)),
            ("&T", position(1, 23)),
            ("\u{263A}", position(1, 26)),
            ("!", position(1, 34)),
        ];
        for (needle, expected) in cases {
            let offset = text.find(needle).unwrap();
            assert_eq!(provenance.position(&text, offset), expected, "{needle}");
        }
    }

    #[test]
    fn blocks_are_separated_once_and_trimmed() {
        let source = "one\n\n\ntwo";
        let mut builder = ProseBuilder::new(source);
        builder.block_break();
        builder.copy(0..3);
        builder.space(3);
        builder.block_break();
        builder.block_break();
        builder.copy(6..9);
        builder.block_break();
        let (text, provenance) = builder.finish();
        assert_eq!(text, "one\n\ntwo");
        assert_eq!(provenance.position(&text, 3), position(4, 1));
        assert_eq!(provenance.position(&text, 5), position(4, 1));
        assert_eq!(provenance.position(&text, 99), position(4, 3));
    }

    #[test]
    fn markup_delimiters_need_a_word_boundary() {
        let cases = [
            ("*bold*", vec![true, true]),
            ("2 * 3", vec![false]),
            ("snake_case", vec![false]),
            ("(*a*)", vec![true, true]),
            ("word_ next", vec![true]),
        ];
        for (input, expected) in cases {
            let chars: Vec<(usize, char)> = input.char_indices().collect();
            let found: Vec<bool> = chars
                .iter()
                .enumerate()
                .filter(|(_, (_, c))| matches!(c, '*' | '_'))
                .map(|(i, _)| is_markup_delimiter(&chars, i, i + 1))
                .collect();
            assert_eq!(found, expected, "{input}");
        }
    }
}
