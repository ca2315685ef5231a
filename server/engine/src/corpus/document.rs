//! One corpus file read into prose, with its provenance and sentences.

use std::borrow::Cow;
use std::ops::Range;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::prose::{Provenance, SourcePosition};
use super::{asciidoc, html, markdown, plain, rst, sentences};
use super::{CorpusConfig, Format, SkipReason};

/// The prose of one corpus file.
///
/// `text` holds the file's prose blocks separated by `"\n\n"`; inside a block, whitespace
/// is a single space. Every byte of `text` maps back to the file ([`Self::source_position`])
/// and lies in or after one of its sentences ([`Self::sentence_at`]).
#[derive(Clone, Debug)]
pub struct Document {
    path: PathBuf,
    format: Format,
    text: String,
    content_hash: String,
    provenance: Provenance,
    sentences: Vec<Range<usize>>,
}

/// Reads the file at `path` and extracts its prose; the format comes from the extension.
pub fn read_document(path: &Path, config: &CorpusConfig) -> Result<Document, SkipReason> {
    let format = config
        .format_of(path)
        .ok_or_else(|| SkipReason::UnknownFormat {
            known: config
                .formats
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let size = std::fs::metadata(path)
        .map_err(|error| SkipReason::Unreadable(error.to_string()))?
        .len();
    if size > super::MAX_DOCUMENT_BYTES {
        return Err(SkipReason::TooLarge { bytes: size });
    }
    let bytes = std::fs::read(path).map_err(|error| SkipReason::Unreadable(error.to_string()))?;
    Document::from_bytes(path, format, &bytes, config)
}

/// The text of `bytes` if they start with a UTF-16 byte-order mark (as Windows editors save
/// "Unicode" text), without the mark; `None` for any other bytes.
fn utf16_text(bytes: &[u8]) -> Result<Option<String>, SkipReason> {
    let little_endian = match bytes {
        [0xFF, 0xFE, ..] => true,
        [0xFE, 0xFF, ..] => false,
        _ => return Ok(None),
    };
    let body = &bytes[2..];
    if !body.len().is_multiple_of(2) {
        return Err(SkipReason::NotUtf16);
    }
    let units = body.chunks_exact(2).map(|pair| {
        let pair = [pair[0], pair[1]];
        if little_endian {
            u16::from_le_bytes(pair)
        } else {
            u16::from_be_bytes(pair)
        }
    });
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map(Some)
        .map_err(|_| SkipReason::NotUtf16)
}

/// The text of a file's `bytes` as an editor shows it: UTF-8, or UTF-16 with a byte-order
/// mark, without a byte-order mark; binary or undecodable bytes are a reason to skip it.
pub fn source_text(bytes: &[u8]) -> Result<Cow<'_, str>, SkipReason> {
    if let Some(text) = utf16_text(bytes)? {
        if text.contains('\0') {
            return Err(SkipReason::Binary);
        }
        return Ok(Cow::Owned(text));
    }
    if bytes.contains(&0) {
        return Err(SkipReason::Binary);
    }
    let text = std::str::from_utf8(bytes).map_err(|error| SkipReason::NotUtf8 {
        line: 1 + bytes[..error.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
    })?;
    // Editors do not count a byte-order mark as a column.
    Ok(Cow::Borrowed(text.strip_prefix('\u{FEFF}').unwrap_or(text)))
}

impl Document {
    /// Extracts the prose of `bytes`, the content of the file at `path`, read as `format`.
    /// Also serves for text that is not on disk (an editor's buffer).
    pub fn from_bytes(
        path: &Path,
        format: Format,
        bytes: &[u8],
        config: &CorpusConfig,
    ) -> Result<Document, SkipReason> {
        let source = source_text(bytes)?;
        let source = source.as_ref();
        let keep_inline_code = config.keep_inline_code;
        let (text, provenance) = match format {
            Format::Markdown => markdown::extract(source, keep_inline_code),
            Format::PlainText => plain::extract(source),
            Format::ReStructuredText => rst::extract(source, keep_inline_code),
            Format::AsciiDoc => asciidoc::extract(source, keep_inline_code),
            Format::Html => html::extract(source, keep_inline_code),
        };
        if text.is_empty() {
            return Err(SkipReason::NoProse);
        }
        let sentences = sentences::sentence_ranges(&text);
        Ok(Document {
            path: path.to_path_buf(),
            format,
            content_hash: hex_sha256(bytes),
            text,
            provenance,
            sentences,
        })
    }

    /// The file this document was read from, as discovered.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The format the file was read as.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The extracted prose.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// SHA-256 of the file's raw bytes, lower-case hex: the same file content always has
    /// the same hash, so an index can skip unchanged documents.
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    /// Where the byte at `text_offset` of [`Self::text`] came from. A block separator or
    /// a space that stands for a line break maps to the source position of the next
    /// (or, for a space, the replaced) character; an entity's decoded text maps to the
    /// entity's '&'. Offsets past the end are clamped to the last byte.
    pub fn source_position(&self, text_offset: usize) -> SourcePosition {
        self.provenance.position(&self.text, text_offset)
    }

    /// The number of prose bytes that come from before `position` in the source: the prose
    /// offset of a cursor there. Assumes prose follows source order, as all the extractors
    /// write it.
    pub fn text_offset_before(&self, position: SourcePosition) -> usize {
        let text = &self.text;
        let mut low = 0;
        let mut high = text.len();
        // Binary search over char boundaries for the first byte at or after `position`.
        while low < high {
            let mut middle = low + (high - low) / 2;
            while !text.is_char_boundary(middle) {
                middle -= 1;
            }
            if self.source_position(middle) < position {
                let width = text[middle..].chars().next().map_or(1, char::len_utf8);
                low = middle + width;
            } else {
                high = middle;
            }
        }
        // A block separator maps to the next block: a cursor at that block's start is in it.
        if text[low..].starts_with("\n\n") && self.source_position(low + 2) <= position {
            low += 2;
        }
        low.min(text.len())
    }

    /// The sentences of [`Self::text`] as byte ranges, in order, never spanning blocks.
    pub fn sentences(&self) -> &[Range<usize>] {
        &self.sentences
    }

    /// The sentence that contains `text_offset`. An offset between two sentences (the
    /// whitespace or block separator after a sentence) belongs to the sentence before it.
    pub fn sentence_at(&self, text_offset: usize) -> Range<usize> {
        let following = self
            .sentences
            .partition_point(|sentence| sentence.start <= text_offset);
        let index = following.saturating_sub(1);
        self.sentences.get(index).cloned().unwrap_or(0..0)
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn markdown(source: &str) -> Document {
        let config = CorpusConfig::default();
        Document::from_bytes(
            Path::new("doc.md"),
            Format::Markdown,
            source.as_bytes(),
            &config,
        )
        .unwrap()
    }

    /// (needle in the prose, occurrence, expected line, expected column)
    type PositionCase = (&'static str, usize, u32, u32);

    fn check_positions(document: &Document, cases: &[PositionCase]) {
        for &(needle, occurrence, line, column) in cases {
            let offset = document
                .text()
                .match_indices(needle)
                .nth(occurrence)
                .unwrap_or_else(|| panic!("{needle:?} not in {:?}", document.text()))
                .0;
            let expected = SourcePosition { line, column };
            assert_eq!(document.source_position(offset), expected, "{needle}");
        }
    }

    #[test]
    fn a_cursor_in_the_source_maps_to_the_prose_before_it() {
        let source = "# Title\n\nWrite the **house** style;\nkeep it. Ünï end\n\n```\ncode\n```\n";
        let document = markdown(source);
        assert_eq!(
            document.text(),
            "Title\n\nWrite the house style; keep it. Ünï end"
        );
        // (line, column of the cursor, prose before it)
        let cases = [
            (1, 1, ""),
            (1, 8, "Title"),
            (3, 1, "Title\n\n"),
            (3, 10, "Title\n\nWrite the"),
            (3, 13, "Title\n\nWrite the "),
            (3, 16, "Title\n\nWrite the hou"),
            (4, 1, "Title\n\nWrite the house style; "),
            (4, 13, "Title\n\nWrite the house style; keep it. Ünï"),
            (4, 18, "Title\n\nWrite the house style; keep it. Ünï end"),
            (7, 2, "Title\n\nWrite the house style; keep it. Ünï end"),
        ];
        for (line, column, before) in cases {
            let offset = document.text_offset_before(SourcePosition { line, column });
            assert_eq!(
                &document.text()[..offset],
                before,
                "cursor at {line}:{column}"
            );
        }
    }

    #[test]
    fn every_prose_byte_maps_back_to_its_line_and_column() {
        let source = "---\ntitle: Guide\n---\n\n# Getting *started*\n\nInstall the \
                      [tool](https://x.org) first;\n  then run it &amp; rest.\n\n\
                      - Ünïcode item\n";
        let document = markdown(source);
        assert_eq!(
            document.text(),
            "Getting started\n\nInstall the tool first; then run it & rest.\n\nÜnïcode item"
        );
        check_positions(
            &document,
            &[
                ("Getting", 0, 5, 3),
                ("started", 0, 5, 12),
                ("Install", 0, 7, 1),
                ("tool", 0, 7, 14),
                ("first", 0, 7, 35),
                ("then", 0, 8, 3),
                ("&", 0, 8, 15),
                ("rest", 0, 8, 21),
                ("Ünïcode", 0, 10, 3),
                ("item", 0, 10, 11),
            ],
        );
        // The space standing for the line break maps to the end of line 7.
        let space = document.text().find("; then").unwrap() + 1;
        let expected = SourcePosition {
            line: 7,
            column: 41,
        };
        assert_eq!(document.source_position(space), expected);
    }

    #[test]
    fn sentence_at_finds_the_sentence_around_an_offset() {
        let document = markdown("# Title\n\nFirst one, e.g. this. Second one.\n\nLast\n");
        let sentence_of = |needle: &str| {
            let offset = document.text().find(needle).unwrap();
            &document.text()[document.sentence_at(offset)]
        };
        let cases = [
            ("Title", "Title"),
            ("\n\nFirst", "Title"),
            ("this", "First one, e.g. this."),
            (" Second", "First one, e.g. this."),
            ("one.\n", "Second one."),
            ("Last", "Last"),
        ];
        for (needle, expected) in cases {
            assert_eq!(sentence_of(needle), expected, "{needle}");
        }
        assert_eq!(document.sentences().len(), 4);
    }

    #[test]
    fn unusable_bytes_are_skipped_with_a_reason() {
        let config = CorpusConfig::default();
        let cases: &[(&[u8], SkipReason)] = &[
            (b"text\0more", SkipReason::Binary),
            (
                b"line one\nline two \xff\xfe",
                SkipReason::NotUtf8 { line: 2 },
            ),
            (b"```\ncode only\n```\n", SkipReason::NoProse),
            (b"", SkipReason::NoProse),
        ];
        for (bytes, expected) in cases {
            let result = Document::from_bytes(Path::new("x.md"), Format::Markdown, bytes, &config);
            assert_eq!(result.unwrap_err(), *expected, "{bytes:?}");
        }
    }

    #[test]
    fn content_hash_is_the_sha256_of_the_raw_bytes() {
        // sha256("Hello.\n"), from `printf 'Hello.\n' | sha256sum`.
        let document = markdown("Hello.\n");
        assert_eq!(
            document.content_hash(),
            "a2c064616af4c66c576821616646bdfad5556a263b4b007847605118971f4389"
        );
    }

    #[test]
    fn source_text_decodes_as_an_editor_opens_the_file() {
        let utf16_le: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("Sign in.".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        let utf16_be: Vec<u8> = [0xFE, 0xFF]
            .into_iter()
            .chain("Sign in.".encode_utf16().flat_map(u16::to_be_bytes))
            .collect();
        let cases: &[(&[u8], Result<&str, SkipReason>)] = &[
            (b"Sign in.", Ok("Sign in.")),
            ("\u{FEFF}Sign in.".as_bytes(), Ok("Sign in.")),
            (&utf16_le, Ok("Sign in.")),
            (&utf16_be, Ok("Sign in.")),
            (&[0xFF, 0xFE, b'S'], Err(SkipReason::NotUtf16)),
            (b"Sign\0in.", Err(SkipReason::Binary)),
            (b"ok\n\xff", Err(SkipReason::NotUtf8 { line: 2 })),
        ];
        for (bytes, expected) in cases {
            let decoded = source_text(bytes);
            assert_eq!(decoded.as_deref(), expected.as_deref(), "{bytes:?}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_not_a_column() {
        let document = markdown("\u{FEFF}Hello there.\n");
        assert_eq!(document.text(), "Hello there.");
        assert_eq!(
            document.source_position(0),
            SourcePosition { line: 1, column: 1 }
        );
    }
}
