//! The kNN-LM datastore on disk: one entry per target token (key, value, provenance), a
//! table of documents and their sentences for evidence, free-form JSON metadata (tuned λ,
//! T, model name, ...) and the HNSW graph, all in ONE file.
//!
//! One file, because an index must be shareable as a single thing and replaced atomically:
//! [`DatastoreWriter`] writes a temporary file in the target's directory, fsyncs it and
//! renames it over the old index, so an interrupted run (error, panic, Ctrl-C, kill -9)
//! leaves the previous index intact. The graph lives in its own section in the search
//! module's compact format rather than in hnsw_rs's dump files (see `search`).
//!
//! [`Datastore::open`] memory-maps the file and checks the cheap things: magic, format
//! version, header checksum, model fingerprint, section sizes against the file length, and
//! the checksums of every section except the two large ones (keys and graph), which
//! [`Datastore::verify`] checks explicitly (e.g. `precedent doctor`). Keys are f16.
//!
//! The map is read-only and the writer never modifies a file in place, so replacing an
//! index while a server has the old one mapped is safe: the server keeps the old file.

mod format;
mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};

use half::f16;
use memmap2::Mmap;

use format::{read_version, DocumentRecord, Header, Section, SentenceRecord, HEADER_LEN};
pub use format::{Provenance, FORMAT_VERSION};
pub use writer::{remove_own_partials, DatastoreWriter, DocumentInfo, SentenceInfo, StagedKeys};

const REBUILD: &str = "rebuild it with `precedent index <folders or files...> --out";

/// Why an index cannot be opened or written. Each refusal says how to rebuild.
#[derive(Debug, thiserror::Error)]
pub enum DatastoreError {
    // The OS error is in the message, so it is not also a `source` (which error reporters
    // print after the message: it would show twice).
    #[error("cannot access index {path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not a precedent index (wrong magic number); {REBUILD} {path}`")]
    NotAnIndex { path: PathBuf },
    #[error("{path} is {kind}, not an index file; pass the index file built by `precedent index ... --out FILE`")]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("{path} has index format version {found} but this precedent reads version {supported} ({}); {REBUILD} {path}`",
        if found > supported { "it was built by a newer precedent" } else { "it was built by an older precedent" })]
    FormatVersion {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{path} was built with model `{found}` but the current model is `{expected}`; {REBUILD} {path}`")]
    ModelMismatch {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error(
        "{path} is truncated ({actual} bytes, the header describes {expected}); {REBUILD} {path}`"
    )]
    Truncated {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error("{path} is corrupt: the {section} fails its checksum; {REBUILD} {path}`")]
    Corrupt { path: PathBuf, section: String },
    #[error("{path} is inconsistent: {detail}; {REBUILD} {path}`")]
    Malformed { path: PathBuf, detail: String },
    #[error("cannot write index {path}: {detail}")]
    InvalidInput { path: PathBuf, detail: String },
}

impl DatastoreError {
    fn io(path: &Path) -> impl Fn(std::io::Error) -> DatastoreError + '_ {
        move |error| DatastoreError::Io {
            path: path.to_path_buf(),
            error,
        }
    }
}

/// A read-only view of n keys of `dim` f16 values each, row after row.
#[derive(Clone, Copy, Debug)]
pub struct KeyMatrix<'a> {
    data: &'a [f16],
    dim: usize,
}

impl<'a> KeyMatrix<'a> {
    /// `data.len()` must be a multiple of `dim`.
    pub fn new(data: &'a [f16], dim: usize) -> Self {
        assert!(
            dim > 0 && data.len().is_multiple_of(dim),
            "keys are whole rows"
        );
        KeyMatrix { data, dim }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn row(&self, index: usize) -> &'a [f16] {
        &self.data[index * self.dim..(index + 1) * self.dim]
    }

    /// All keys as one slice, row after row.
    pub fn as_slice(&self) -> &'a [f16] {
        self.data
    }
}

/// One document of the index, for evidence and incremental updates.
#[derive(Clone, Copy, Debug)]
pub struct DocumentView<'a> {
    pub path: &'a str,
    /// The content hash the corpus reader recorded (for incremental re-indexing).
    pub content_hash: &'a [u8; 32],
    pub sentence_count: u32,
}

/// One sentence of a document, for showing evidence.
#[derive(Clone, Copy, Debug)]
pub struct SentenceView<'a> {
    pub text: &'a str,
    /// 1-based line and column where the sentence starts in the source file.
    pub line: u32,
    pub column: u32,
}

/// Whether a file that starts with `bytes` is a precedent index (its magic number).
pub fn is_index_magic(bytes: &[u8]) -> bool {
    bytes.starts_with(&format::MAGIC)
}

/// An opened, memory-mapped index.
#[derive(Debug)]
pub struct Datastore {
    path: PathBuf,
    map: Mmap,
    header: Header,
    metadata: serde_json::Value,
}

impl Datastore {
    /// Maps and validates an index. With `expected_model`, an index built for another
    /// model fingerprint is refused. Checksums of the keys and graph are not read here (see
    /// [`Datastore::verify`]), so opening costs milliseconds whatever the index size.
    pub fn open(path: &Path, expected_model: Option<&str>) -> Result<Datastore, DatastoreError> {
        // Opening a FIFO would block, and a folder cannot be mapped: say what it is instead.
        let kind = std::fs::metadata(path).map_err(DatastoreError::io(path))?;
        if kind.is_dir() {
            return Err(DatastoreError::NotAFile {
                path: path.to_path_buf(),
                kind: "a folder",
            });
        }
        if !kind.is_file() {
            return Err(DatastoreError::NotAFile {
                path: path.to_path_buf(),
                kind: "not a regular file (a FIFO, socket or device)",
            });
        }
        let file = File::open(path).map_err(DatastoreError::io(path))?;
        // SAFETY: the map is read-only, and index files are only ever replaced by rename,
        // never modified in place (see the module docs), so the mapped bytes do not change.
        let map = unsafe { Mmap::map(&file) }.map_err(DatastoreError::io(path))?;
        let header = Self::check_header(path, &map, expected_model)?;
        let store = Datastore {
            path: path.to_path_buf(),
            map,
            header,
            metadata: serde_json::Value::Null,
        };
        store.check_layout()?;
        for section in Section::ALL.into_iter().filter(|s| s.checked_on_open()) {
            store.check_section_checksum(section)?;
        }
        if std::str::from_utf8(store.section_bytes(Section::Strings)).is_err() {
            return Err(store.malformed("the strings section is not UTF-8".into()));
        }
        store.check_tables()?;
        let metadata = serde_json::from_slice(store.section_bytes(Section::Metadata))
            .map_err(|e| store.malformed(format!("metadata is not JSON: {e}")))?;
        Ok(Datastore { metadata, ..store })
    }

    fn check_header(
        path: &Path,
        bytes: &[u8],
        expected_model: Option<&str>,
    ) -> Result<Header, DatastoreError> {
        let path_buf = || path.to_path_buf();
        let Some(version) = read_version(bytes) else {
            if bytes.len() < 12 && format::MAGIC.starts_with(bytes) {
                return Err(DatastoreError::Truncated {
                    path: path_buf(),
                    expected: HEADER_LEN as u64,
                    actual: bytes.len() as u64,
                });
            }
            return Err(DatastoreError::NotAnIndex { path: path_buf() });
        };
        if version != FORMAT_VERSION {
            return Err(DatastoreError::FormatVersion {
                path: path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        if bytes.len() < HEADER_LEN {
            return Err(DatastoreError::Truncated {
                path: path_buf(),
                expected: HEADER_LEN as u64,
                actual: bytes.len() as u64,
            });
        }
        let header = Header::decode(&bytes[..HEADER_LEN]).ok_or(DatastoreError::Corrupt {
            path: path_buf(),
            section: "header".into(),
        })?;
        if let Some(expected) = expected_model {
            if header.model_fingerprint != expected {
                return Err(DatastoreError::ModelMismatch {
                    path: path_buf(),
                    found: header.model_fingerprint,
                    expected: expected.to_string(),
                });
            }
        }
        Ok(header)
    }

    /// Section bounds, alignment and sizes agree with the header and the file length.
    fn check_layout(&self) -> Result<(), DatastoreError> {
        let file_len = self.map.len() as u64;
        let needed = self
            .header
            .sections
            .iter()
            .map(|s| s.end())
            .max()
            .unwrap_or(0);
        if needed > file_len {
            return Err(DatastoreError::Truncated {
                path: self.path.clone(),
                expected: needed,
                actual: file_len,
            });
        }
        let n = self.header.entry_count;
        let dim = u64::from(self.header.key_dim);
        if dim == 0 || self.header.key_encoding != format::KEY_ENCODING_F16 {
            return Err(self.malformed(format!(
                "key dimension {dim}, key encoding {}",
                self.header.key_encoding
            )));
        }
        let expect_len = |section: Section, len: Option<u64>| {
            let entry = self.header.section(section);
            if !entry.offset.is_multiple_of(format::SECTION_ALIGN)
                || len.is_some_and(|l| entry.len != l)
            {
                return Err(self.malformed(format!(
                    "the {} section has offset {} and length {}",
                    section.name(),
                    entry.offset,
                    entry.len
                )));
            }
            Ok(())
        };
        let record_multiple = |section: Section, size: usize| {
            let len = self.header.section(section).len;
            len.is_multiple_of(size as u64).then_some(len)
        };
        expect_len(Section::Keys, n.checked_mul(dim * 2))?;
        expect_len(Section::Values, n.checked_mul(4))?;
        expect_len(
            Section::Provenance,
            n.checked_mul(size_of::<Provenance>() as u64),
        )?;
        let documents = record_multiple(Section::Documents, size_of::<DocumentRecord>());
        expect_len(Section::Documents, documents)?;
        let sentences = record_multiple(Section::Sentences, size_of::<SentenceRecord>());
        expect_len(Section::Sentences, sentences)?;
        expect_len(Section::Graph, record_multiple(Section::Graph, 4))?;
        for section in [Section::Strings, Section::Metadata] {
            expect_len(section, None)?;
        }
        Ok(())
    }

    /// Documents, sentences and provenance refer only to things that exist.
    fn check_tables(&self) -> Result<(), DatastoreError> {
        let strings_len = self.section_bytes(Section::Strings).len() as u64;
        let sentences = self.sentence_records();
        for (i, doc) in self.document_records().iter().enumerate() {
            let sentence_end = u64::from(doc.first_sentence) + u64::from(doc.sentence_count);
            if doc.path_offset + u64::from(doc.path_len) > strings_len
                || sentence_end > sentences.len() as u64
            {
                return Err(self.malformed(format!("document {i} points outside the tables")));
            }
        }
        for (i, sentence) in sentences.iter().enumerate() {
            if sentence.text_offset + u64::from(sentence.text_len) > strings_len {
                return Err(self.malformed(format!("sentence {i} points outside the strings")));
            }
        }
        let document_count = self.document_records().len();
        for (i, p) in self.provenance().iter().enumerate() {
            let doc = self.document_records().get(p.document as usize);
            if p.document as usize >= document_count
                || doc.is_some_and(|d| p.sentence >= d.sentence_count)
            {
                return Err(self.malformed(format!("entry {i} has no document or sentence")));
            }
        }
        Ok(())
    }

    fn check_section_checksum(&self, section: Section) -> Result<(), DatastoreError> {
        let expected = self.header.section(section).sha256;
        if format::sha256(self.section_bytes(section)) != expected {
            return Err(DatastoreError::Corrupt {
                path: self.path.clone(),
                section: format!("{} section", section.name()),
            });
        }
        Ok(())
    }

    fn malformed(&self, detail: String) -> DatastoreError {
        DatastoreError::Malformed {
            path: self.path.clone(),
            detail,
        }
    }

    /// Checks the checksums of every section, including the keys and the graph that
    /// [`Datastore::open`] skips, and that every key is finite (a key written with a NaN or
    /// an infinity would silently give p_kNN 0). Reads the whole file.
    pub fn verify(&self) -> Result<(), DatastoreError> {
        Section::ALL
            .into_iter()
            .try_for_each(|section| self.check_section_checksum(section))?;
        let keys = self.keys();
        let dim = keys.dim();
        if let Some(at) = keys.as_slice().iter().position(|x| !x.is_finite()) {
            return Err(self.malformed(format!(
                "entry {} has a non-finite key (NaN or infinity)",
                at / dim
            )));
        }
        Ok(())
    }

    fn section_bytes(&self, section: Section) -> &[u8] {
        let entry = self.header.section(section);
        &self.map[entry.offset as usize..entry.end() as usize]
    }

    fn document_records(&self) -> &[DocumentRecord] {
        bytemuck::cast_slice(self.section_bytes(Section::Documents))
    }

    fn sentence_records(&self) -> &[SentenceRecord] {
        bytemuck::cast_slice(self.section_bytes(Section::Sentences))
    }

    fn string(&self, offset: u64, len: u32) -> &str {
        let strings = self.section_bytes(Section::Strings);
        let bytes = &strings[offset as usize..offset as usize + len as usize];
        // Checked on open: the section is UTF-8 and made of whole strings.
        std::str::from_utf8(bytes).unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of entries (target tokens).
    pub fn len(&self) -> usize {
        self.header.entry_count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.header.entry_count == 0
    }

    pub fn key_dim(&self) -> usize {
        self.header.key_dim as usize
    }

    /// The fingerprint of the model whose keys this index holds.
    pub fn model_fingerprint(&self) -> &str {
        &self.header.model_fingerprint
    }

    /// Size of the index file in bytes.
    pub fn file_len(&self) -> u64 {
        self.map.len() as u64
    }

    pub fn keys(&self) -> KeyMatrix<'_> {
        KeyMatrix::new(
            bytemuck::cast_slice(self.section_bytes(Section::Keys)),
            self.key_dim(),
        )
    }

    /// The value (next token id) of every entry.
    pub fn values(&self) -> &[u32] {
        bytemuck::cast_slice(self.section_bytes(Section::Values))
    }

    pub fn provenance(&self) -> &[Provenance] {
        bytemuck::cast_slice(self.section_bytes(Section::Provenance))
    }

    pub fn document_count(&self) -> usize {
        self.document_records().len()
    }

    pub fn document(&self, id: u32) -> Option<DocumentView<'_>> {
        let record = self.document_records().get(id as usize)?;
        Some(DocumentView {
            path: self.string(record.path_offset, record.path_len),
            content_hash: &record.content_hash,
            sentence_count: record.sentence_count,
        })
    }

    /// Sentence `index` of document `document` (as in [`Provenance`]).
    pub fn sentence(&self, document: u32, index: u32) -> Option<SentenceView<'_>> {
        let doc = self.document_records().get(document as usize)?;
        if index >= doc.sentence_count {
            return None;
        }
        let record = self.sentence_records()[(doc.first_sentence + index) as usize];
        Some(SentenceView {
            text: self.string(record.text_offset, record.text_len),
            line: record.line,
            column: record.column,
        })
    }

    /// The free-form metadata (tuned λ and T, window, stride, model name, ...).
    pub fn metadata(&self) -> &serde_json::Value {
        &self.metadata
    }

    /// The search graph section (empty when the index has no graph).
    pub fn graph_bytes(&self) -> &[u8] {
        self.section_bytes(Section::Graph)
    }

    /// Writes a copy of this index to `path` (atomically, as [`DatastoreWriter`] does) with
    /// `metadata` in place of the current metadata; `path` may be this index's own path.
    /// Used to save tuned parameters. Other sections are copied with their checksums.
    pub fn save_with_metadata(
        &self,
        path: &Path,
        metadata: &serde_json::Value,
    ) -> Result<(), DatastoreError> {
        writer::copy_with_metadata(self, path, metadata)
    }
}

#[cfg(test)]
mod tests;
