//! The open documents: their text as the client last sent it, and a prose view of each
//! version (what the engine reads), extracted once per version.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use precedent_engine::corpus::{CorpusConfig, Document, Format};
use precedent_engine::editing::block_ranges;
use tower_lsp::lsp_types::Url;

use crate::text::LineIndex;

/// One version of an open document. Handlers work on a snapshot and check the version
/// before publishing, so results for old text are dropped.
#[derive(Debug)]
pub struct Snapshot {
    pub uri: Url,
    pub language_id: String,
    pub version: i32,
    pub text: String,
    pub lines: LineIndex,
    /// Byte offset where the latest edit ended: the writer is typing there.
    pub last_edit: Option<usize>,
    /// The prose without and with inline code, each extracted when first asked for.
    prose: [OnceLock<Option<Arc<Prose>>>; 2],
}

impl Snapshot {
    pub fn new(
        uri: Url,
        language_id: String,
        version: i32,
        text: String,
        last_edit: Option<usize>,
    ) -> Snapshot {
        Snapshot {
            lines: LineIndex::new(&text),
            uri,
            language_id,
            version,
            text,
            last_edit,
            prose: Default::default(),
        }
    }

    pub fn path(&self) -> Option<PathBuf> {
        self.uri.to_file_path().ok()
    }

    /// The document's prose (`None` when it has none, e.g. empty or only code), extracted
    /// as the corpus was: with or without the text of inline code.
    pub fn prose(&self, keep_inline_code: bool) -> Option<Arc<Prose>> {
        self.prose[usize::from(keep_inline_code)]
            .get_or_init(|| {
                let path = self
                    .path()
                    .unwrap_or_else(|| PathBuf::from(self.uri.path()));
                let format = format_of(&self.language_id, &path);
                let config = CorpusConfig {
                    keep_inline_code,
                    ..CorpusConfig::default()
                };
                Document::from_bytes(&path, format, self.text.as_bytes(), &config)
                    .ok()
                    .map(|document| Arc::new(Prose::new(document)))
            })
            .clone()
    }
}

/// How a document's prose is extracted: by language id, else by file extension.
pub fn format_of(language_id: &str, path: &std::path::Path) -> Format {
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
    pub fn source_range(&self, snapshot: &Snapshot, range: Range<usize>) -> Range<usize> {
        let start = self.document.source_position(range.start);
        let (last, last_char_len) = self
            .text()
            .get(range.clone())
            .and_then(|t| t.char_indices().next_back())
            .map_or((range.start, 0), |(i, c)| (range.start + i, c.len_utf8()));
        let end = self.document.source_position(last);
        let start = snapshot.lines.offset_of_source(&snapshot.text, start);
        let end = snapshot.lines.offset_of_source(&snapshot.text, end) + last_char_len;
        start..end.min(snapshot.text.len()).max(start)
    }

    /// Prose offset of the source byte offset `offset`: the prose written before it.
    pub fn prose_offset(&self, snapshot: &Snapshot, offset: usize) -> usize {
        let position = snapshot.lines.source_position(&snapshot.text, offset);
        self.document.text_offset_before(position)
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
    fn prose_maps_back_to_the_source() {
        let uri = Url::parse("file:///tmp/a.md").unwrap();
        let text = "# Title\n\nWrite the **house** style.\n";
        let snapshot = Snapshot::new(uri, "markdown".into(), 1, text.into(), None);
        let prose = snapshot.prose(false).unwrap();
        assert_eq!(prose.text(), "Title\n\nWrite the house style.");
        let house = prose.text().find("house").unwrap();
        let source = prose.source_range(&snapshot, house..house + 5);
        assert_eq!(&text[source], "house");
        assert_eq!(
            prose.prose_offset(&snapshot, text.find("style").unwrap()),
            house + 6
        );
        assert_eq!(prose.block_at(house), Some(1));
    }

    #[test]
    fn inline_code_is_in_the_prose_only_when_the_corpus_kept_it() {
        let uri = Url::parse("file:///tmp/a.md").unwrap();
        let text = "Edit the `sources.list` file.\n";
        let snapshot = Snapshot::new(uri, "markdown".into(), 1, text.into(), None);
        // (keep inline code, the prose)
        for (keep, expected) in [
            (false, "Edit the file."),
            (true, "Edit the sources.list file."),
        ] {
            assert_eq!(
                snapshot.prose(keep).unwrap().text(),
                expected,
                "keep {keep}"
            );
        }
    }
}
