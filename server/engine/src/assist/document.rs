//! An open document as the assistant reads it: its source text at one version, and the prose
//! view of that version (extracted once, as the corpus was), with the mapping between
//! source bytes and prose bytes.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use crate::corpus::{CorpusConfig, Document, Format, SourcePosition};
use crate::editing::block_ranges;

/// One version of an open document. Results are computed on a version and dropped by the
/// caller when the document has moved on.
#[derive(Debug)]
pub struct OpenDocument {
    /// The editor's name for the document (a URI): caches are kept per document.
    pub id: String,
    pub path: PathBuf,
    pub format: Format,
    pub version: i32,
    pub text: String,
    /// Byte offset where the latest edit ended: the writer is typing there.
    pub last_edit: Option<usize>,
    line_starts: Vec<usize>,
    /// The prose without and with inline code, each extracted when first asked for.
    prose: [OnceLock<Option<Arc<Prose>>>; 2],
}

impl OpenDocument {
    pub fn new(
        id: String,
        path: PathBuf,
        format: Format,
        version: i32,
        text: String,
        last_edit: Option<usize>,
    ) -> OpenDocument {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        OpenDocument {
            id,
            path,
            format,
            version,
            text,
            last_edit,
            line_starts,
            prose: Default::default(),
        }
    }

    /// The document's prose (`None` when it has none, e.g. empty or only code), extracted
    /// as the corpus was: with or without the text of inline code.
    pub fn prose(&self, keep_inline_code: bool) -> Option<Arc<Prose>> {
        self.prose[usize::from(keep_inline_code)]
            .get_or_init(|| {
                let config = CorpusConfig {
                    keep_inline_code,
                    ..CorpusConfig::default()
                };
                Document::from_bytes(&self.path, self.format, self.text.as_bytes(), &config)
                    .ok()
                    .map(|document| Arc::new(Prose::new(document)))
            })
            .clone()
    }

    fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line];
        let end = self
            .line_starts
            .get(line + 1)
            .map_or(self.text.len(), |&next| next - 1);
        let line_text = &self.text[start..end.max(start)];
        line_text.strip_suffix('\r').unwrap_or(line_text)
    }

    /// Byte offset of a source position (1-based line and column in characters).
    pub fn offset_of_source(&self, position: SourcePosition) -> usize {
        let line = (position.line as usize).saturating_sub(1);
        if line >= self.line_starts.len() {
            return self.text.len();
        }
        let column = (position.column as usize).saturating_sub(1);
        let line_text = self.line_text(line);
        self.line_starts[line]
            + line_text
                .char_indices()
                .nth(column)
                .map_or(line_text.len(), |(i, _)| i)
    }

    /// The source position of a byte offset (clamped, snapped to a character boundary).
    pub fn source_position(&self, offset: usize) -> SourcePosition {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let column = self.text[self.line_starts[line]..offset].chars().count();
        SourcePosition {
            line: line as u32 + 1,
            column: column as u32 + 1,
        }
    }
}

/// How a document's prose is extracted: by the editor's language id, else by file
/// extension, else as plain text.
pub fn format_of(language_id: &str, path: &Path) -> Format {
    match language_id {
        "markdown" => return Format::Markdown,
        "restructuredtext" | "rst" => return Format::ReStructuredText,
        "asciidoc" | "asciidoctor" => return Format::AsciiDoc,
        "html" => return Format::Html,
        "plaintext" | "text" => return Format::PlainText,
        _ => {}
    }
    CorpusConfig::default()
        .format_of(path)
        .unwrap_or(Format::PlainText)
}

/// A document's prose split into blocks.
#[derive(Debug)]
pub struct Prose {
    pub document: Document,
    pub blocks: Vec<Range<usize>>,
}

impl Prose {
    fn new(document: Document) -> Prose {
        let blocks = block_ranges(&document);
        Prose { document, blocks }
    }

    pub fn text(&self) -> &str {
        self.document.text()
    }

    /// Index of the block that holds prose offset `offset` (or ends right at it).
    pub fn block_at(&self, offset: usize) -> Option<usize> {
        self.blocks
            .iter()
            .position(|b| b.start <= offset && offset <= b.end)
    }

    pub fn block_text(&self, block: usize) -> &str {
        &self.text()[self.blocks[block].clone()]
    }

    /// Source byte range of prose bytes `range` (which lie in one block).
    pub fn source_range(&self, source: &OpenDocument, range: Range<usize>) -> Range<usize> {
        let start = self.document.source_position(range.start);
        let (last, last_char_len) = self
            .text()
            .get(range.clone())
            .and_then(|t| t.char_indices().next_back())
            .map_or((range.start, 0), |(i, c)| (range.start + i, c.len_utf8()));
        let end = self.document.source_position(last);
        let start = source.offset_of_source(start);
        let end = source.offset_of_source(end) + last_char_len;
        start..end.min(source.text.len()).max(start)
    }

    /// Prose offset of the source byte offset `offset`: the prose written before it.
    pub fn prose_offset(&self, source: &OpenDocument, offset: usize) -> usize {
        self.document
            .text_offset_before(source.source_position(offset))
    }
}

/// The word (letters, digits, inner apostrophes) around source byte `offset`.
pub fn word_around(text: &str, offset: usize) -> Range<usize> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut start = offset.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = start;
    while let Some(c) = text[..start].chars().next_back().filter(|&c| is_word(c)) {
        start -= c.len_utf8();
    }
    while let Some(c) = text[end..].chars().next().filter(|&c| is_word(c)) {
        end += c.len_utf8();
    }
    start..end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn markdown(text: &str) -> OpenDocument {
        OpenDocument::new(
            "file:///tmp/a.md".into(),
            "/tmp/a.md".into(),
            Format::Markdown,
            1,
            text.into(),
            None,
        )
    }

    #[test]
    fn words_around_a_cursor() {
        let text = "the hoüse-style, ok";
        // (cursor, word)
        let cases = [
            (0, "the"),
            (3, "the"),
            (6, "hoüse"),
            (4, "hoüse"),
            (11, "style"),
            (16, "style"),
            (17, ""),
        ];
        for (cursor, word) in cases {
            assert_eq!(&text[word_around(text, cursor)], word, "{cursor}");
        }
    }

    #[test]
    fn source_positions_count_characters() {
        let document = markdown("aé😀b\nxyz");
        // (byte offset, 1-based line and column in characters)
        let cases = [(0, (1, 1)), (7, (1, 4)), (10, (2, 2))];
        for (offset, (line, column)) in cases {
            let position = SourcePosition { line, column };
            assert_eq!(document.source_position(offset), position, "{offset}");
            assert_eq!(document.offset_of_source(position), offset, "{position:?}");
        }
    }

    #[test]
    fn prose_maps_back_to_the_source() {
        let text = "# Title\n\nWrite the **house** style.\n";
        let document = markdown(text);
        let prose = document.prose(false).unwrap();
        assert_eq!(prose.text(), "Title\n\nWrite the house style.");
        let house = prose.text().find("house").unwrap();
        let source = prose.source_range(&document, house..house + 5);
        assert_eq!(&text[source], "house");
        assert_eq!(
            prose.prose_offset(&document, text.find("style").unwrap()),
            house + 6
        );
        assert_eq!(prose.block_at(house), Some(1));
    }

    #[test]
    fn inline_code_is_in_the_prose_only_when_the_corpus_kept_it() {
        let document = markdown("Edit the `sources.list` file.\n");
        // (keep inline code, the prose)
        for (keep, expected) in [
            (false, "Edit the file."),
            (true, "Edit the sources.list file."),
        ] {
            assert_eq!(
                document.prose(keep).unwrap().text(),
                expected,
                "keep {keep}"
            );
        }
    }
}
