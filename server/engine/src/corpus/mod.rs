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
pub use document::{read_document, Document};
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
            format!("empty corpus: no prose in {searched}; all {skipped} files found were skipped")
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
                "all 2 files found were skipped",
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
