//! Writing an index file atomically: everything goes to a temporary file in the target's
//! directory, which is fsynced and renamed over the target only by
//! [`DatastoreWriter::commit`]. Dropping the writer (an error, a panic) deletes the
//! temporary file; a killed process leaves a `.NAME.PID.XXXX.partial` file behind, which
//! the next writer for the same index removes once that process is gone.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use half::f16;
use half::slice::HalfFloatSliceExt;
use memmap2::Mmap;
use sha2::Digest;
use tempfile::NamedTempFile;

use super::format::{
    align_up, sha256, DocumentRecord, Header, Section, SectionEntry, SentenceRecord,
    FORMAT_VERSION, HEADER_LEN, KEY_ENCODING_F16, MAX_FINGERPRINT_LEN, SECTION_COUNT,
};
use super::{Datastore, DatastoreError, KeyMatrix, Provenance};

/// A document to record in the index, with its sentences (for evidence).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentInfo {
    pub path: String,
    pub content_hash: [u8; 32],
    pub sentences: Vec<SentenceInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentenceInfo {
    pub text: String,
    /// 1-based line and column where the sentence starts in the source file.
    pub line: u32,
    pub column: u32,
}

/// Builds a new index file; nothing is visible at the target path until
/// [`commit`](Self::commit) succeeds.
pub struct DatastoreWriter {
    path: PathBuf,
    temp: NamedTempFile,
    keys_out: BufWriter<File>,
    keys_sha: sha2::Sha256,
    key_dim: usize,
    model_fingerprint: String,
    entry_count: u64,
    clamped_values: u64,
    key_buf: Vec<f16>,
    values: Vec<u32>,
    provenance: Vec<Provenance>,
    documents: Vec<DocumentRecord>,
    sentences: Vec<SentenceRecord>,
    strings: Vec<u8>,
    metadata: serde_json::Value,
}

/// The keys written so far, memory-mapped from the temporary file, e.g. to build the
/// search graph before committing.
pub struct StagedKeys {
    map: Option<Mmap>,
    dim: usize,
    len: usize,
}

impl StagedKeys {
    pub fn matrix(&self) -> KeyMatrix<'_> {
        match &self.map {
            Some(map) => {
                let bytes = &map[HEADER_LEN..HEADER_LEN + self.len * self.dim * 2];
                KeyMatrix::new(bytemuck::cast_slice(bytes), self.dim)
            }
            None => KeyMatrix::new(&[], self.dim),
        }
    }
}

impl DatastoreWriter {
    /// Starts writing an index that will replace `path` on commit.
    pub fn create(
        path: &Path,
        model_fingerprint: &str,
        key_dim: usize,
    ) -> Result<DatastoreWriter, DatastoreError> {
        let invalid = |detail: String| DatastoreError::InvalidInput {
            path: path.to_path_buf(),
            detail,
        };
        if model_fingerprint.len() > MAX_FINGERPRINT_LEN {
            return Err(invalid(format!(
                "model fingerprint longer than {MAX_FINGERPRINT_LEN} bytes"
            )));
        }
        if key_dim == 0 || u32::try_from(key_dim).is_err() {
            return Err(invalid(format!("key dimension {key_dim}")));
        }
        let file_name = path
            .file_name()
            .ok_or_else(|| invalid("the path has no file name".into()))?
            .to_string_lossy()
            .into_owned();
        let dir = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        remove_stale_partials(&dir, &file_name);
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{file_name}.{}.", std::process::id()))
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(DatastoreError::io(path))?;
        let mut file = temp
            .as_file()
            .try_clone()
            .map_err(DatastoreError::io(path))?;
        file.seek(SeekFrom::Start(HEADER_LEN as u64))
            .map_err(DatastoreError::io(path))?;
        Ok(DatastoreWriter {
            path: path.to_path_buf(),
            temp,
            keys_out: BufWriter::with_capacity(1 << 20, file),
            keys_sha: sha2::Sha256::new(),
            key_dim,
            model_fingerprint: model_fingerprint.to_string(),
            entry_count: 0,
            clamped_values: 0,
            key_buf: vec![f16::ZERO; key_dim],
            values: Vec::new(),
            provenance: Vec::new(),
            documents: Vec::new(),
            sentences: Vec::new(),
            strings: Vec::new(),
            metadata: serde_json::Value::Object(Default::default()),
        })
    }

    pub fn key_dim(&self) -> usize {
        self.key_dim
    }

    /// Number of entries pushed so far.
    pub fn len(&self) -> usize {
        self.entry_count as usize
    }

    pub fn is_empty(&self) -> bool {
        self.entry_count == 0
    }

    /// Adds a document and returns its id (for [`Provenance::document`]).
    pub fn add_document(&mut self, document: &DocumentInfo) -> u32 {
        let path_offset = self.push_string(&document.path);
        let first_sentence = self.sentences.len() as u32;
        for sentence in &document.sentences {
            let text_offset = self.push_string(&sentence.text);
            self.sentences.push(SentenceRecord {
                text_offset,
                text_len: sentence.text.len() as u32,
                document: self.documents.len() as u32,
                line: sentence.line,
                column: sentence.column,
            });
        }
        self.documents.push(DocumentRecord {
            path_offset,
            path_len: document.path.len() as u32,
            first_sentence,
            sentence_count: document.sentences.len() as u32,
            reserved: 0,
            content_hash: document.content_hash,
        });
        (self.documents.len() - 1) as u32
    }

    fn push_string(&mut self, text: &str) -> u64 {
        let offset = self.strings.len() as u64;
        self.strings.extend_from_slice(text.as_bytes());
        offset
    }

    /// Adds one entry. The key is stored as f16; finite values beyond the f16 range are
    /// clamped to ±65504 (counted and logged at commit), NaN and infinities are refused.
    pub fn push(
        &mut self,
        key: &[f32],
        value: u32,
        provenance: Provenance,
    ) -> Result<(), DatastoreError> {
        if key.len() != self.key_dim {
            return Err(self.invalid(format!(
                "key of dimension {} in an index of dimension {}",
                key.len(),
                self.key_dim
            )));
        }
        if key.iter().any(|x| !x.is_finite()) {
            return Err(self.invalid(format!("entry {} has a non-finite key", self.entry_count)));
        }
        self.key_buf.convert_from_f32_slice(key);
        for x in &mut self.key_buf {
            if x.is_infinite() {
                *x = if x.is_sign_negative() {
                    f16::MIN
                } else {
                    f16::MAX
                };
                self.clamped_values += 1;
            }
        }
        let bytes: &[u8] = bytemuck::cast_slice(&self.key_buf);
        self.keys_sha.update(bytes);
        self.keys_out
            .write_all(bytes)
            .map_err(DatastoreError::io(&self.path))?;
        self.values.push(value);
        self.provenance.push(provenance);
        self.entry_count += 1;
        Ok(())
    }

    /// Replaces the free-form metadata (default: an empty JSON object).
    pub fn set_metadata(&mut self, metadata: serde_json::Value) {
        self.metadata = metadata;
    }

    /// Flushes the keys written so far and maps them, e.g. to build the search graph.
    pub fn staged_keys(&mut self) -> Result<StagedKeys, DatastoreError> {
        self.keys_out
            .flush()
            .map_err(DatastoreError::io(&self.path))?;
        let map = if self.entry_count == 0 {
            None
        } else {
            // SAFETY: the temporary file is private to this writer and only appended to
            // after the keys region, so the mapped keys do not change while mapped.
            let map = unsafe { Mmap::map(self.temp.as_file()) };
            Some(map.map_err(DatastoreError::io(&self.path))?)
        };
        Ok(StagedKeys {
            map,
            dim: self.key_dim,
            len: self.entry_count as usize,
        })
    }

    fn invalid(&self, detail: String) -> DatastoreError {
        DatastoreError::InvalidInput {
            path: self.path.clone(),
            detail,
        }
    }

    /// Checks that every entry names an existing document and sentence, and that token
    /// ranges lie within their sentence.
    fn check_provenance(&self) -> Result<(), DatastoreError> {
        for (i, p) in self.provenance.iter().enumerate() {
            let sentence = self
                .documents
                .get(p.document as usize)
                .filter(|doc| p.sentence < doc.sentence_count)
                .map(|doc| &self.sentences[(doc.first_sentence + p.sentence) as usize]);
            let Some(sentence) = sentence else {
                return Err(self.invalid(format!(
                    "entry {i} refers to document {} sentence {}, which was not added",
                    p.document, p.sentence
                )));
            };
            if p.start > p.end || p.end > sentence.text_len {
                return Err(self.invalid(format!(
                    "entry {i} has token range {}..{} in a sentence of {} bytes",
                    p.start, p.end, sentence.text_len
                )));
            }
        }
        Ok(())
    }

    /// Writes the remaining sections and the header, fsyncs, and atomically replaces the
    /// index at the target path. `graph` is the search graph section (may be empty).
    pub fn commit(mut self, graph: &[u8]) -> Result<(), DatastoreError> {
        self.check_provenance()?;
        if self.clamped_values > 0 {
            tracing::warn!(
                "{} key values exceeded the f16 range and were clamped",
                self.clamped_values
            );
        }
        let path = self.path.clone();
        let io = DatastoreError::io(&path);
        self.keys_out.flush().map_err(&io)?;
        let keys = SectionEntry {
            offset: HEADER_LEN as u64,
            len: self.entry_count * self.key_dim as u64 * 2,
            sha256: std::mem::take(&mut self.keys_sha).finalize().into(),
        };
        let metadata = serde_json::to_vec(&self.metadata).expect("JSON values serialize");
        let mut sections = SectionWriter::new(&mut self.keys_out, keys.end());
        let rest = [
            sections.append(bytemuck::cast_slice(&self.values), None),
            sections.append(bytemuck::cast_slice(&self.provenance), None),
            sections.append(bytemuck::cast_slice(&self.documents), None),
            sections.append(bytemuck::cast_slice(&self.sentences), None),
            sections.append(&self.strings, None),
            sections.append(&metadata, None),
            sections.append(graph, None),
        ];
        let mut entries = [keys; SECTION_COUNT];
        for (slot, entry) in entries[1..].iter_mut().zip(rest) {
            *slot = entry.map_err(&io)?;
        }
        let header = Header {
            format_version: FORMAT_VERSION,
            key_dim: self.key_dim as u32,
            key_encoding: KEY_ENCODING_F16,
            entry_count: self.entry_count,
            model_fingerprint: self.model_fingerprint.clone(),
            sections: entries,
        };
        finish_file(self.keys_out, self.temp, &header, &path)
    }
}

/// Appends aligned sections to a file and records where they went.
struct SectionWriter<'a> {
    out: &'a mut BufWriter<File>,
    position: u64,
}

impl<'a> SectionWriter<'a> {
    fn new(out: &'a mut BufWriter<File>, position: u64) -> Self {
        SectionWriter { out, position }
    }

    /// Writes `bytes` at the next aligned offset; `known_sha256` skips hashing bytes whose
    /// checksum is already known (copied sections).
    fn append(
        &mut self,
        bytes: &[u8],
        known_sha256: Option<[u8; 32]>,
    ) -> std::io::Result<SectionEntry> {
        let offset = align_up(self.position);
        let padding = (offset - self.position) as usize;
        self.out.write_all(&[0u8; 64][..padding])?;
        self.out.write_all(bytes)?;
        self.position = offset + bytes.len() as u64;
        Ok(SectionEntry {
            offset,
            len: bytes.len() as u64,
            sha256: known_sha256.unwrap_or_else(|| sha256(bytes)),
        })
    }
}

/// Writes the header at offset 0, fsyncs the file, renames it over `path` and fsyncs the
/// directory so the rename itself is durable.
fn finish_file(
    mut out: BufWriter<File>,
    temp: NamedTempFile,
    header: &Header,
    path: &Path,
) -> Result<(), DatastoreError> {
    let io = DatastoreError::io(path);
    out.seek(SeekFrom::Start(0)).map_err(&io)?;
    out.write_all(&header.encode()).map_err(&io)?;
    let file = out.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(&io)?;
    let permissions = std::fs::metadata(path)
        .map(|m| m.permissions())
        .unwrap_or_else(|_| default_permissions());
    std::fs::set_permissions(temp.path(), permissions).map_err(&io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(&io)?;
    Ok(())
}

/// A new index should be readable by the team it is shared with (temp files are 0600).
fn default_permissions() -> std::fs::Permissions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::Permissions::from_mode(0o644)
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(".")
            .map(|m| m.permissions())
            .expect("current directory is readable")
    }
}

/// Removes the `.partial` files this process is writing for `path` (what an interrupted
/// build calls before it exits, so that it leaves no stray file).
pub fn remove_own_partials(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(".{}.{}.", name.to_string_lossy(), std::process::id());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.ends_with(".partial") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Removes `.NAME.PID.*.partial` files left by killed writers whose process is gone.
fn remove_stale_partials(dir: &Path, file_name: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{file_name}.");
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if name.ends_with(".partial") && !process_is_alive(pid) {
            tracing::info!("removing {name}, left by an interrupted index build");
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn process_is_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true // cannot tell: keep the file
    }
}

/// See [`Datastore::save_with_metadata`].
pub(super) fn copy_with_metadata(
    store: &Datastore,
    path: &Path,
    metadata: &serde_json::Value,
) -> Result<(), DatastoreError> {
    let mut writer = DatastoreWriter::create(path, store.model_fingerprint(), store.key_dim())?;
    let io = DatastoreError::io(path);
    let metadata = serde_json::to_vec(metadata).expect("JSON values serialize");
    let old = &store.header;
    let mut entries = [SectionEntry::default(); SECTION_COUNT];
    // The writer's file is positioned at HEADER_LEN, where the keys section starts.
    let mut sections = SectionWriter::new(&mut writer.keys_out, HEADER_LEN as u64);
    for section in Section::ALL {
        let entry = if section == Section::Metadata {
            sections.append(&metadata, None)
        } else {
            let sha = old.section(section).sha256;
            sections.append(store.section_bytes(section), Some(sha))
        };
        entries[section as usize] = entry.map_err(&io)?;
    }
    let header = Header {
        sections: entries,
        ..old.clone()
    };
    finish_file(writer.keys_out, writer.temp, &header, path)
}
