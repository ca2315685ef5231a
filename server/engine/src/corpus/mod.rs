//! Reading a reference corpus into prose documents with provenance.
//!
//! [`read_corpus`](crate::corpus::read_corpus) finds the corpus files under the given
//! folders ([`discover`](crate::corpus::discover): by extension, honouring
//! `.gitignore`/`.ignore` and exclude globs), reads each one
//! ([`read_document`](crate::corpus::read_document)) and extracts its prose: code blocks,
//! front matter, tags and markup characters are left out; blocks (paragraphs, headings,
//! list items, table cells) are separated by `"\n\n"`. Every byte of the prose maps back
//! to a line and column of its file, and sits in a sentence found by the Unicode sentence
//! segmenter.
//!
//! Files that cannot be used (binary, unreadable, not UTF-8, no prose) are skipped and
//! reported as [`Warning`](crate::corpus::Warning)s; nothing is printed.

mod asciidoc;
mod discover;
mod document;
mod html;
mod markdown;
mod plain;
mod prose;
mod rst;
mod sentences;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use discover::{discover, Discovery};
pub use document::{read_document, source_text, Document};
pub use prose::SourcePosition;

/// The markup language of a corpus file, which decides how its prose is extracted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// CommonMark with GitHub extensions (tables, task lists, footnotes), front matter.
    Markdown,
    /// Paragraphs separated by blank lines.
    PlainText,
    /// reStructuredText.
    ReStructuredText,
    /// AsciiDoc.
    AsciiDoc,
    /// HTML (also XHTML written as HTML).
    Html,
}

/// What counts as a corpus file and how it is read.
#[derive(Clone, Debug)]
pub struct CorpusConfig {
    /// File extension (lower case, without the dot) to format. Files under a folder whose
    /// extension is not here are not part of the corpus.
    pub formats: BTreeMap<String, Format>,
    /// Globs in `.gitignore` syntax, relative to each folder given, of files and folders to
    /// leave out (for example `drafts/` or `**/CHANGELOG.md`). Files named explicitly are
    /// always read.
    pub exclude: Vec<String>,
    /// Keep the text of inline code (`` `x` `` in Markdown, ``` ``x`` ``` in rst, `` `x` ``
    /// in AsciiDoc, `<code>` outside `<pre>` in HTML). Off by default: like code blocks,
    /// code is not prose, at the price of sentences with a gap where it stood.
    pub keep_inline_code: bool,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        let formats = [
            ("md", Format::Markdown),
            ("markdown", Format::Markdown),
            ("txt", Format::PlainText),
            ("text", Format::PlainText),
            ("rst", Format::ReStructuredText),
            ("adoc", Format::AsciiDoc),
            ("asciidoc", Format::AsciiDoc),
            ("html", Format::Html),
            ("htm", Format::Html),
        ]
        .into_iter()
        .map(|(extension, format)| (extension.to_string(), format))
        .collect();
        CorpusConfig {
            formats,
            exclude: Vec::new(),
            keep_inline_code: false,
        }
    }
}

impl CorpusConfig {
    /// The format of `path` by its extension (case-insensitive), if it is a corpus file.
    pub fn format_of(&self, path: &Path) -> Option<Format> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        self.formats.get(&extension).copied()
    }
}

/// The documents of a corpus and the files that were skipped.
#[derive(Debug)]
pub struct Corpus {
    /// Documents with prose, in path order.
    pub documents: Vec<Document>,
    /// One warning per skipped file or unreadable folder entry.
    pub warnings: Vec<Warning>,
}

/// Why a file was left out of the corpus.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SkipReason {
    /// The file or folder entry could not be read.
    #[error("cannot be read: {0}")]
    Unreadable(String),
    /// The file contains NUL bytes.
    #[error("binary file (contains NUL bytes)")]
    Binary,
    /// The file is not valid UTF-8.
    #[error("not valid UTF-8 (first invalid byte on line {line})")]
    NotUtf8 {
        /// 1-based line of the first invalid byte.
        line: usize,
    },
    /// The file was named explicitly but its extension has no configured format.
    #[error("no format configured for its extension (known: {known})")]
    UnknownFormat {
        /// The configured extensions, comma-separated.
        known: String,
    },
    /// Nothing was left after removing code and markup.
    #[error("no prose after removing code and markup")]
    NoProse,
    /// Larger than [`MAX_DOCUMENT_BYTES`]: reading it would take memory out of proportion.
    #[error("too large ({:.1} MB; precedent reads files of up to {} MB: split it)", *bytes as f64 / MEGABYTE, MAX_DOCUMENT_BYTES >> 20)]
    TooLarge {
        /// Its size.
        bytes: u64,
    },
    /// It starts with a UTF-16 byte-order mark but is not valid UTF-16.
    #[error("not valid UTF-16 (it starts with a UTF-16 byte-order mark)")]
    NotUtf16,
}

/// The largest file the corpus reader reads: indexing a 5 MB one-line file peaked at 765 MB
/// (the tokenizer's working memory grows with the file), so this keeps a build under 1 GB;
/// house-style documents are far smaller.
pub const MAX_DOCUMENT_BYTES: u64 = 4 << 20;
const MEGABYTE: f64 = (1 << 20) as f64;

impl SkipReason {
    /// The kind of reason, without its details.
    pub fn kind(&self) -> &'static str {
        match self {
            SkipReason::Unreadable(_) => "unreadable",
            SkipReason::Binary => "binary",
            SkipReason::NotUtf8 { .. } => "not UTF-8",
            SkipReason::UnknownFormat { .. } => "unknown format",
            SkipReason::NoProse => "no prose",
            SkipReason::TooLarge { .. } => "too large",
            SkipReason::NotUtf16 => "not UTF-16",
        }
    }
}

/// A file left out of the corpus, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The file (or folder entry) concerned.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: SkipReason,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skipped {}: {}", self.path.display(), self.reason)
    }
}

/// Errors that stop the reading of a corpus.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A path given on the command line does not exist.
    #[error("{0}: no such file or folder")]
    NotFound(PathBuf),
    /// An exclude glob could not be parsed.
    #[error("invalid exclude glob {glob:?}: {message}")]
    InvalidExclude {
        /// The glob as given.
        glob: String,
        /// The parser's explanation.
        message: String,
    },
    /// No prose at all was found; the warnings say what was skipped.
    #[error("{}", empty_corpus_message(paths, extensions, warnings))]
    Empty {
        /// The paths that were searched.
        paths: Vec<PathBuf>,
        /// The file extensions that were looked for.
        extensions: Vec<String>,
        /// Every file that was found but skipped.
        warnings: Vec<Warning>,
    },
}

fn empty_corpus_message(paths: &[PathBuf], extensions: &[String], warnings: &[Warning]) -> String {
    let searched = paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    match warnings.len() {
        0 => format!(
            "empty corpus: no corpus files in {searched} (looked for extensions {})",
            extensions.join(", ")
        ),
        skipped => {
            // The reasons, most frequent first, with an example file each.
            let mut reasons: Vec<(&str, String, usize, &Path)> = Vec::new();
            for warning in warnings {
                let kind = warning.reason.kind();
                match reasons.iter_mut().find(|(k, ..)| *k == kind) {
                    Some(entry) => entry.2 += 1,
                    None => reasons.push((kind, warning.reason.to_string(), 1, &warning.path)),
                }
            }
            reasons.sort_by_key(|r| std::cmp::Reverse(r.2));
            let listed = reasons
                .iter()
                .map(|(_, reason, count, example)| {
                    format!("{count} × {reason} (e.g. {})", example.display())
                })
                .collect::<Vec<_>>()
                .join("; ");
            format!(
                "empty corpus: no prose in {searched}; all {skipped} files found were skipped: {listed}"
            )
        }
    }
}

/// Reads every corpus file under `paths` (folders or files) into prose documents.
///
/// Files that cannot be used become warnings; if no document has any prose, the result is
/// [`CorpusError::Empty`], which carries those warnings.
pub fn read_corpus(paths: &[PathBuf], config: &CorpusConfig) -> Result<Corpus, CorpusError> {
    let Discovery {
        files,
        mut warnings,
    } = discover(paths, config)?;
    let mut documents = Vec::with_capacity(files.len());
    for path in files {
        match read_document(&path, config) {
            Ok(document) => documents.push(document),
            Err(reason) => {
                tracing::debug!(path = %path.display(), %reason, "skipping corpus file");
                warnings.push(Warning { path, reason });
            }
        }
    }
    tracing::debug!(
        documents = documents.len(),
        skipped = warnings.len(),
        "corpus read"
    );
    if documents.is_empty() {
        return Err(CorpusError::Empty {
            paths: paths.to_vec(),
            extensions: config.formats.keys().cloned().collect(),
            warnings,
        });
    }
    Ok(Corpus {
        documents,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Creates `files` (relative path, content) in a fresh folder.
    fn folder_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let folder = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let path = folder.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, content).unwrap();
        }
        folder
    }

    fn file_names(paths: impl Iterator<Item = PathBuf>) -> Vec<String> {
        paths
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn unusable_files_become_warnings_that_name_them() {
        let folder = folder_with(&[
            ("good.md", b"Prose here.\n"),
            ("binary.txt", b"PK\x03\x04\x00\x00"),
            ("latin1.txt", b"first line\ncaf\xe9\n"),
            ("code.md", b"```\nx = 1\n```\n"),
            ("image.png", b"\x89PNG"),
            (".gitignore", b"ignored.md\n"),
            ("ignored.md", b"Ignored prose.\n"),
        ]);
        let corpus = read_corpus(&[folder.path().to_path_buf()], &CorpusConfig::default()).unwrap();
        let documents = corpus.documents.iter().map(|d| d.path().to_path_buf());
        assert_eq!(file_names(documents), ["good.md"]);
        assert_eq!(corpus.documents[0].text(), "Prose here.");

        let expected = [
            ("binary.txt", SkipReason::Binary),
            ("code.md", SkipReason::NoProse),
            ("latin1.txt", SkipReason::NotUtf8 { line: 2 }),
        ];
        let found: Vec<(String, SkipReason)> = corpus
            .warnings
            .iter()
            .map(|warning| {
                let name = warning.path.file_name().unwrap().to_string_lossy();
                (name.into_owned(), warning.reason.clone())
            })
            .collect();
        let expected: Vec<(String, SkipReason)> = expected
            .into_iter()
            .map(|(name, reason)| (name.to_string(), reason))
            .collect();
        assert_eq!(found, expected);

        let message = corpus.warnings[0].to_string();
        let binary = folder.path().join("binary.txt");
        assert_eq!(
            message,
            format!(
                "skipped {}: binary file (contains NUL bytes)",
                binary.display()
            )
        );
    }

    #[test]
    fn explicitly_named_files_that_cannot_be_read_are_warned_about() {
        let folder = folder_with(&[
            ("notes.tex", b"Some prose.\n"),
            ("dir.md/a.rst", b"Fine.\n"),
        ]);
        let config = CorpusConfig::default();
        let tex = folder.path().join("notes.tex");
        let reason = read_document(&tex, &config).unwrap_err();
        assert!(matches!(&reason, SkipReason::UnknownFormat { known } if known.contains("md")));
        // A folder named like a Markdown file cannot be read as one.
        let reason = read_document(&folder.path().join("dir.md"), &config).unwrap_err();
        assert!(matches!(reason, SkipReason::Unreadable(_)), "{reason:?}");
    }

    #[test]
    fn a_corpus_without_prose_is_a_clear_error() {
        // (files, warnings expected, part of the message)
        type Case<'a> = (&'a [(&'a str, &'a [u8])], usize, &'a str);
        let cases: &[Case] = &[
            (&[], 0, "empty corpus: no corpus files in"),
            (
                &[("script.py", b"print(1)\n")],
                0,
                "looked for extensions adoc, asciidoc",
            ),
            (
                &[("code.md", b"    indented code\n"), ("blob.txt", b"\0")],
                2,
                "all 2 files found were skipped: 1 × binary file (contains NUL bytes) (e.g. ",
            ),
            (
                &[("a.md", b"    code\n"), ("b.md", b"    more code\n")],
                2,
                "skipped: 2 × no prose after removing code and markup (e.g. ",
            ),
        ];
        for (files, warning_count, message_part) in cases {
            let folder = folder_with(files);
            let error =
                read_corpus(&[folder.path().to_path_buf()], &CorpusConfig::default()).unwrap_err();
            let message = error.to_string();
            let CorpusError::Empty { warnings, .. } = error else {
                panic!("expected an empty-corpus error, got {error:?}");
            };
            assert_eq!(warnings.len(), *warning_count, "{files:?}");
            assert!(message.contains(message_part), "{message}");
        }
    }

    #[test]
    fn utf16_files_are_read_and_oversized_ones_skipped_with_the_reason() {
        let utf16 = |big_endian: bool, text: &str| -> Vec<u8> {
            let mut bytes = if big_endian {
                vec![0xFE, 0xFF]
            } else {
                vec![0xFF, 0xFE]
            };
            for unit in text.encode_utf16() {
                let pair = if big_endian {
                    unit.to_be_bytes()
                } else {
                    unit.to_le_bytes()
                };
                bytes.extend(pair);
            }
            bytes
        };
        let little = utf16(false, "Café prose, saved by Notepad.\n");
        let big = utf16(true, "Big-endian prose.\n");
        let mut odd = utf16(false, "Half a character");
        odd.push(0x41);
        let folder = folder_with(&[("le.txt", &little), ("be.txt", &big), ("odd.txt", &odd)]);
        let huge = folder.path().join("huge.txt");
        let file = std::fs::File::create(&huge).unwrap();
        file.set_len(MAX_DOCUMENT_BYTES + 1).unwrap(); // sparse: nothing is written
        let corpus = read_corpus(&[folder.path().to_path_buf()], &CorpusConfig::default()).unwrap();
        let texts: Vec<&str> = corpus.documents.iter().map(|d| d.text()).collect();
        assert_eq!(
            texts,
            ["Big-endian prose.", "Café prose, saved by Notepad."]
        );
        let reasons: Vec<(String, String)> = corpus
            .warnings
            .iter()
            .map(|w| {
                (
                    file_names(std::iter::once(w.path.clone()))[0].clone(),
                    w.reason.to_string(),
                )
            })
            .collect();
        assert_eq!(
            reasons,
            [
                (
                    "huge.txt".to_string(),
                    "too large (4.0 MB; precedent reads files of up to 4 MB: split it)".to_string()
                ),
                (
                    "odd.txt".to_string(),
                    "not valid UTF-16 (it starts with a UTF-16 byte-order mark)".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_file_linked_twice_is_read_once() {
        let folder = folder_with(&[("guide.md", b"Prose here.\n")]);
        std::os::unix::fs::symlink(
            folder.path().join("guide.md"),
            folder.path().join("alias.md"),
        )
        .unwrap();
        let corpus = read_corpus(&[folder.path().to_path_buf()], &CorpusConfig::default()).unwrap();
        let documents = corpus.documents.iter().map(|d| d.path().to_path_buf());
        assert_eq!(file_names(documents), ["alias.md"]);
    }

    /// Each format's prose, byte by byte, points at the character it was copied from (or
    /// at the '&' of the entity it was decoded from).
    #[test]
    fn provenance_points_at_the_source_characters() {
        let samples = [
            (
                Format::Markdown,
                "---\na: b\n---\n# Tïtle *x*\n\nA [link](u) and\n  `code` &amp; más. \\*x\\*\n\n| a | b |\n|---|---|\n| c | d |\n",
            ),
            (Format::PlainText, "  Línea uno\r\n\tdos.\r\n\r\nTres.\n"),
            (
                Format::ReStructuredText,
                "Títle\n=====\n\n- *item* `ref <u>`_ and word_\n  more::\n\n     code\n\nEnd [1]_.\n",
            ),
            (
                Format::AsciiDoc,
                "= Doc\n\n== Sëction\n\n* _item_ https://x.org[site]\nmore <<a,text>>.\n",
            ),
            (
                Format::Html,
                "<html><body>\n<h1>T&iacute;tle</h1>\n<p>Some <b>bold</b>\r\n text &lt;3</p></body></html>",
            ),
        ];
        for (format, source) in samples {
            let document = Document::from_bytes(
                Path::new("x"),
                format,
                source.as_bytes(),
                &CorpusConfig::default(),
            )
            .unwrap();
            let lines: Vec<&str> = source.split('\n').collect();
            for (offset, c) in document.text().char_indices() {
                if c.is_whitespace() {
                    continue;
                }
                let position = document.source_position(offset);
                let line = lines[position.line as usize - 1];
                let found = line.chars().nth(position.column as usize - 1);
                assert!(
                    found == Some(c) || found == Some('&'),
                    "{format:?}: {c:?} at text offset {offset} maps to {position:?}, \
                     which holds {found:?}"
                );
            }
        }
    }
}
