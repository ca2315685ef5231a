//! Building a kNN-LM datastore from a corpus: one entry per target token, key = the model's
//! kNN key for the context before it, value = the token, plus where it came from.
//!
//! Documents are read in path order. A document whose path and content hash are already in
//! the previous index has its entries copied from there instead of re-encoded (incremental
//! updates); the result is the same file a full rebuild would write.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use half::slice::HalfFloatSliceExt;

use crate::corpus::{self, CorpusConfig, Document, Warning};
use crate::datastore::{
    Datastore, DatastoreError, DatastoreWriter, DocumentInfo, Provenance, SentenceInfo,
};
use crate::lm::{LanguageModel, LmError, ScoreOptions};
use crate::search::{self, HnswParams};

/// How the corpus is cut into model windows and how the search graph is built.
#[derive(Clone, Debug)]
pub struct IndexOptions {
    pub corpus: CorpusConfig,
    /// Longest context of one model run; each target gets at least `window - stride` tokens
    /// of left context (or all that precede it).
    pub window: usize,
    pub stride: usize,
    /// What context each key sees: the document's windows, or its block alone.
    pub keys: KeyContext,
    pub hnsw: HnswParams,
    /// Re-encode every document even if the previous index has it.
    pub full_rebuild: bool,
    /// Replace an output file that is not a precedent index (never a folder, device, FIFO
    /// or socket).
    pub replace_other_file: bool,
}

/// Window 1024, stride 896: every target sees at least 128 tokens of its document before
/// it, and only documents longer than a window run any tokens twice. Measured on 61 Debian
/// Reference sections (16,482 tokens) against 45 held-out ones, with held-out text scored in
/// the same windows: kNN-LM perplexity 19.39 at 1024/896, against 19.40 at 1024/768, 640/512,
/// 768/640 and 768/512, 19.46 at 512/256 and 19.50 at 512/448. Indexing alternated with
/// 512/256 (the previous default): 469 and 518 against 422 and 442 tokens/s encoded.
///
/// Keys by blocks, since the editor queries block by block: on the Debian Reference (405
/// sections indexed, 44 held out, side by side in one run) held-out text read as the editor
/// reads it has kNN-LM perplexity 74.0 (ratio to the base model 0.464) with an index keyed
/// by blocks, against 103.6 (0.650) keyed by windows; `bench style` recall 36/99 against
/// 37/100 at 0.92 against 1.08 false alarms per 1,000 words. Windows score better only for
/// text read in windows (20.5 against 18.1), which no editor does.
impl Default for IndexOptions {
    fn default() -> Self {
        IndexOptions {
            corpus: CorpusConfig::default(),
            window: 1024,
            stride: 896,
            keys: KeyContext::Blocks,
            hnsw: HnswParams::default(),
            full_rebuild: false,
            replace_other_file: false,
        }
    }
}

/// What context the key of a corpus token is computed from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyContext {
    /// The document before it, in model windows (see [`IndexOptions::window`]).
    Windows,
    /// Its block (paragraph, heading, list item; long paragraphs in parts) from the block's
    /// start: the context the editor analyses a document's blocks in, so that the editor's
    /// queries and the corpus keys see alike contexts.
    Blocks,
}

impl KeyContext {
    pub fn name(self) -> &'static str {
        match self {
            KeyContext::Windows => "windows",
            KeyContext::Blocks => "blocks",
        }
    }

    pub fn from_name(name: &str) -> Option<KeyContext> {
        [KeyContext::Windows, KeyContext::Blocks]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// Metadata flag: the tuned kNN parameters (`"knn"`) were kept from an index of an older
/// corpus or another encoding; `precedent eval --tune --save` refits them and clears it.
pub const TUNED_ON_OLDER_CORPUS: &str = "knn_tuned_on_older_corpus";

/// Progress of an indexing run, reported as it goes.
#[derive(Clone, Debug)]
pub enum IndexProgress {
    /// The corpus was read: documents and their total token count.
    CorpusRead { documents: usize, tokens: usize },
    /// `tokens_done` of `tokens_total` tokens are in the datastore (encoded or reused).
    Encoding {
        tokens_done: usize,
        tokens_total: usize,
    },
    /// The search graph is being built.
    Graph { done: usize, total: usize },
}

/// What an indexing run did.
#[derive(Clone, Debug, Default)]
pub struct IndexReport {
    pub documents: usize,
    pub reused_documents: usize,
    pub removed_documents: usize,
    pub entries: usize,
    /// Tokens run through the model (reused documents excluded).
    pub encoded_tokens: usize,
    pub encode_seconds: f64,
    pub graph_seconds: f64,
    pub warnings: Vec<Warning>,
    pub file_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Corpus(#[from] corpus::CorpusError),
    #[error(transparent)]
    Model(#[from] LmError),
    #[error(transparent)]
    Datastore(#[from] DatastoreError),
    #[error("invalid indexing options: {0}")]
    Options(String),
    #[error("{path} is {what}, not a precedent index: not replaced ({hint})")]
    NotAnIndex {
        path: String,
        what: &'static str,
        hint: &'static str,
    },
    #[error("cannot check the output {path}: {error}")]
    Output { path: String, error: std::io::Error },
    #[error("another `precedent index` ({holder}) is writing {path}: wait for it to finish, or write elsewhere")]
    Busy { path: String, holder: String },
}

/// A lock on an index being written, so that two builds never write the same file: a
/// `.NAME.lock` file next to it, locked while the build runs (the lock goes with the
/// process, so a killed build never blocks the next) and removed when it ends.
struct OutputLock {
    path: PathBuf,
    _file: std::fs::File,
}

impl OutputLock {
    fn acquire(out: &Path) -> Result<OutputLock, IndexError> {
        let name = out.file_name().unwrap_or_default().to_string_lossy();
        let path = out.with_file_name(format!(".{name}.lock"));
        let io = |error| IndexError::Output {
            path: path.display().to_string(),
            error,
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&path).unwrap_or_default();
                let holder = match holder.trim() {
                    "" => "another process".to_string(),
                    pid => format!("process {pid}"),
                };
                return Err(IndexError::Busy {
                    path: out.display().to_string(),
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(io(error)),
        }
        use std::io::Write;
        file.set_len(0).map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(OutputLock { path, _file: file })
    }
}

/// What an interrupted build of `out` in this process leaves to remove before it exits: its
/// `.partial` file and its lock. The previous index at `out` is untouched.
pub fn clean_up_interrupted(out: &Path) {
    crate::datastore::remove_own_partials(out);
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    let lock = out.with_file_name(format!(".{name}.lock"));
    let ours = std::fs::read_to_string(&lock)
        .is_ok_and(|pid| pid.trim() == std::process::id().to_string());
    if ours {
        let _ = std::fs::remove_file(lock);
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // Removed while still held: a build waiting for it finds the lock free after.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `out` may be written: absent, or a precedent index (recognised by its magic
/// number), or, with `replace_other_file`, another regular file. A folder, device, FIFO or
/// socket is never replaced. A symbolic link is judged by what it points to.
pub fn check_output(out: &Path, replace_other_file: bool) -> Result<(), IndexError> {
    let refuse = |what, hint| {
        Err(IndexError::NotAnIndex {
            path: out.display().to_string(),
            what,
            hint,
        })
    };
    let metadata = match std::fs::metadata(out) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(error) => {
            return Err(IndexError::Output {
                path: out.display().to_string(),
                error,
            })
        }
    };
    const NEVER: &str = "choose another --out";
    if metadata.is_dir() {
        return refuse("a folder", NEVER);
    }
    if !metadata.is_file() {
        return refuse("a device, FIFO or socket", NEVER);
    }
    let mut start = [0u8; 8];
    let read = std::fs::File::open(out)
        .and_then(|mut file| std::io::Read::read(&mut file, &mut start))
        .map_err(|error| IndexError::Output {
            path: out.display().to_string(),
            error,
        })?;
    let is_index = read == start.len() && crate::datastore::is_index_magic(&start);
    if is_index || replace_other_file {
        Ok(())
    } else {
        refuse(
            "another file",
            "choose another --out, or pass --force to replace it",
        )
    }
}

/// Indexes the corpus under `inputs` into the index file `out` (replaced atomically).
pub fn build_index(
    model: &LanguageModel,
    inputs: &[PathBuf],
    out: &Path,
    options: &IndexOptions,
    progress: &mut dyn FnMut(IndexProgress),
) -> Result<IndexReport, IndexError> {
    if options.stride == 0 || options.stride >= options.window {
        return Err(IndexError::Options(format!(
            "need 1 <= stride ({}) < window ({})",
            options.stride, options.window
        )));
    }
    let manifest = model.manifest();
    if options.window > manifest.max_positions {
        return Err(IndexError::Options(format!(
            "the window ({} tokens) is longer than the model's context ({} tokens); \
             pass a window of at most {} and a smaller stride",
            options.window, manifest.max_positions, manifest.max_positions
        )));
    }
    check_output(out, options.replace_other_file)?;
    let _lock = OutputLock::acquire(out)?;
    let corpus = corpus::read_corpus(inputs, &options.corpus)?;
    let previous_index = open_previous(out, &manifest.fingerprint);
    // Tuned parameters outlive a re-index; whether they still fit is said below.
    let tuned = previous_index.as_ref().and_then(|store| {
        let metadata = store.metadata();
        let knn = metadata.get("knn")?.clone();
        let older = metadata.get(TUNED_ON_OLDER_CORPUS) == Some(&serde_json::Value::Bool(true));
        let same_encoding = Encoding::from_metadata(metadata) == Encoding::of(options);
        Some((knn, older || !same_encoding))
    });
    let previous = if options.full_rebuild {
        None
    } else {
        previous_index.filter(|store| {
            let same = Encoding::from_metadata(store.metadata()) == Encoding::of(options);
            if !same {
                tracing::info!(
                    "the previous index was built with another window, stride, key context or \
                     inline-code setting: re-encoding every document"
                );
            }
            same
        })
    };
    // Entries are copied only from an index whose every checksum and key is sound: a
    // damaged one must not pass its damage on under a valid checksum.
    let previous = previous.filter(|store| match store.verify() {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!("not reusing the previous index: {error}; re-encoding every document");
            false
        }
    });
    let reusable = previous
        .as_ref()
        .map(reusable_documents)
        .unwrap_or_default();

    let tokenizer = model.tokenizer();
    let mut tokenized = Vec::with_capacity(corpus.documents.len());
    for document in &corpus.documents {
        tokenized.push(tokenizer.encode_with_offsets(document.text())?);
    }
    let tokens_total: usize = tokenized.iter().map(|t| t.len().saturating_sub(1)).sum();
    progress(IndexProgress::CorpusRead {
        documents: corpus.documents.len(),
        tokens: tokens_total,
    });

    let mut writer = DatastoreWriter::create(out, &manifest.fingerprint, manifest.key_dim)?;
    let mut report = IndexReport {
        documents: corpus.documents.len(),
        ..IndexReport::default()
    };
    let mut tokens_done = 0;
    let started = Instant::now();
    let mut seen_previous = 0;
    for (document, spans) in corpus.documents.iter().zip(&tokenized) {
        let hash = hash_bytes(document.content_hash());
        let info = document_info(document);
        let id = writer.add_document(&info);
        let key = (document.path().to_string_lossy().into_owned(), hash);
        if let (Some(store), Some(range)) = (previous.as_ref(), reusable.get(&key)) {
            let copied = copy_entries(store, range.clone(), id, &mut writer)?;
            report.reused_documents += 1;
            seen_previous += 1;
            tokens_done += copied;
        } else {
            let targets = spans.len().saturating_sub(1);
            if targets > 0 {
                // Progress within a long document too, block by block.
                let mut done_here = |encoded: usize| {
                    progress(IndexProgress::Encoding {
                        tokens_done: tokens_done + encoded.min(targets),
                        tokens_total,
                    })
                };
                encode_document(
                    model,
                    document,
                    spans,
                    id,
                    options,
                    &mut writer,
                    &mut done_here,
                )?;
                report.encoded_tokens += targets;
            }
            tokens_done += targets;
        }
        progress(IndexProgress::Encoding {
            tokens_done,
            tokens_total,
        });
    }
    report.encode_seconds = started.elapsed().as_secs_f64();
    report.removed_documents = previous
        .as_ref()
        .map_or(0, |p| p.document_count() - seen_previous);
    report.entries = writer.len();
    let mut metadata = Encoding::of(options).to_metadata();
    metadata["model"] = manifest.name.clone().into();
    metadata["documents"] = report.documents.into();
    if let Some((knn, older)) = tuned {
        let changed = older || report.encoded_tokens > 0 || report.removed_documents > 0;
        if changed {
            tracing::warn!(
                "kept the tuned λ and T of the previous index, fitted on an older corpus; \
                 `precedent eval --index {} HELD-OUT... --tune --save` refits them",
                out.display()
            );
        }
        metadata["knn"] = knn;
        metadata[TUNED_ON_OLDER_CORPUS] = changed.into();
    }
    writer.set_metadata(metadata);
    drop(previous);
    let graph_started = Instant::now();
    search::commit_with_graph(writer, &options.hnsw, &mut |done, total| {
        progress(IndexProgress::Graph { done, total })
    })?;
    report.graph_seconds = graph_started.elapsed().as_secs_f64();
    report.warnings = corpus.warnings;
    report.file_bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    Ok(report)
}

/// The previous index at `out`, if it exists and was built for this model.
fn open_previous(out: &Path, fingerprint: &str) -> Option<Datastore> {
    if !out.exists() {
        return None;
    }
    match Datastore::open(out, Some(fingerprint)) {
        Ok(store) => Some(store),
        Err(error) => {
            tracing::warn!("not reusing the previous index: {error}");
            None
        }
    }
}

/// How an index turned its documents into entries, as recorded in its metadata. Held-out
/// text is read and scored the same way, and a re-index reuses entries only when this is
/// unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Encoding {
    pub window: usize,
    pub stride: usize,
    pub keys: KeyContext,
    pub keep_inline_code: bool,
}

impl Encoding {
    pub fn of(options: &IndexOptions) -> Encoding {
        Encoding {
            window: options.window,
            stride: options.stride,
            keys: options.keys,
            keep_inline_code: options.corpus.keep_inline_code,
        }
    }

    /// How to read text (held-out documents, a document being written) as this index's
    /// documents were read.
    pub fn corpus_config(&self) -> CorpusConfig {
        CorpusConfig {
            keep_inline_code: self.keep_inline_code,
            ..CorpusConfig::default()
        }
    }

    /// The metadata fields that record this encoding, read back by [`Encoding::from_metadata`].
    pub fn to_metadata(&self) -> serde_json::Value {
        serde_json::json!({
            "window": self.window,
            "stride": self.stride,
            "keys": self.keys.name(),
            "keep_inline_code": self.keep_inline_code,
        })
    }

    /// The encoding recorded in an index's metadata; what is missing is the default (indexes
    /// from before the inline-code setting dropped inline code).
    pub fn from_metadata(metadata: &serde_json::Value) -> Encoding {
        let default = Encoding::of(&IndexOptions::default());
        let number = |name: &str, default: usize| {
            metadata
                .get(name)
                .and_then(serde_json::Value::as_u64)
                .map_or(default, |n| n as usize)
        };
        Encoding {
            window: number("window", default.window),
            stride: number("stride", default.stride),
            // Indexes from before this setting keyed their documents in windows.
            keys: metadata
                .get("keys")
                .and_then(serde_json::Value::as_str)
                .and_then(KeyContext::from_name)
                .unwrap_or(KeyContext::Windows),
            keep_inline_code: metadata
                .get("keep_inline_code")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(default.keep_inline_code),
        }
    }
}

/// (path, content hash) → the entries of that document in the previous index.
fn reusable_documents(store: &Datastore) -> HashMap<(String, [u8; 32]), std::ops::Range<usize>> {
    // A document's entries are contiguous (the indexer writes them in order): one pass
    // finds every document's range.
    let mut ranges: HashMap<u32, std::ops::Range<usize>> = HashMap::new();
    for (entry, provenance) in store.provenance().iter().enumerate() {
        ranges
            .entry(provenance.document)
            .or_insert(entry..entry)
            .end = entry + 1;
    }
    (0..store.document_count() as u32)
        .filter_map(|id| {
            let document = store.document(id)?;
            let range = ranges.get(&id).cloned().unwrap_or(0..0);
            Some(((document.path.to_string(), *document.content_hash), range))
        })
        .collect()
}

/// Copies the entries `range` of `store` as entries of document `new_id`; returns how many.
fn copy_entries(
    store: &Datastore,
    range: std::ops::Range<usize>,
    new_id: u32,
    writer: &mut DatastoreWriter,
) -> Result<usize, DatastoreError> {
    let keys = store.keys();
    let mut key = vec![0f32; keys.dim()];
    for entry in range.clone() {
        keys.row(entry).convert_to_f32_slice(&mut key);
        let provenance = Provenance {
            document: new_id,
            ..store.provenance()[entry]
        };
        writer.push(&key, store.values()[entry], provenance)?;
    }
    Ok(range.len())
}

fn encode_document(
    model: &LanguageModel,
    document: &Document,
    spans: &[crate::lm::TokenSpan],
    id: u32,
    options: &IndexOptions,
    writer: &mut DatastoreWriter,
    encoded: &mut dyn FnMut(usize),
) -> Result<(), IndexError> {
    let sentences = document.sentences();
    let mut encode = |spans: &[crate::lm::TokenSpan], offset: usize| -> Result<(), IndexError> {
        if spans.len() < 2 {
            return Ok(());
        }
        let tokens: Vec<u32> = spans.iter().map(|s| s.id).collect();
        let scores = model.score_tokens(
            tokens,
            ScoreOptions {
                window: Some(options.window),
                stride: Some(options.stride),
                keys: true,
                logits: false,
                ..ScoreOptions::default()
            },
        )?;
        for (row, position) in scores.positions.iter().enumerate() {
            let span = &spans[position.index];
            let bytes = offset + span.bytes.start..offset + span.bytes.end;
            let key = scores.key(row).expect("keys were requested");
            writer.push(
                key,
                position.token_id,
                provenance(document, sentences, bytes, id),
            )?;
        }
        Ok(())
    };
    match options.keys {
        KeyContext::Windows => encode(spans, 0),
        KeyContext::Blocks => {
            // Each block tokenized and run alone, as the editor analyses it.
            let tokenizer = model.tokenizer();
            let mut tokens = 0;
            for block in crate::editing::block_ranges(document) {
                let block_spans = tokenizer.encode_with_offsets(&document.text()[block.clone()])?;
                encode(&block_spans, block.start)?;
                tokens += block_spans.len();
                encoded(tokens);
            }
            Ok(())
        }
    }
}

/// Where a token sits: its sentence (located by its first non-space byte, since byte-level
/// tokens carry the space before a word) and its range within that sentence.
fn provenance(
    document: &Document,
    sentences: &[std::ops::Range<usize>],
    bytes: std::ops::Range<usize>,
    document_id: u32,
) -> Provenance {
    let text = document.text();
    let first_visible = text[bytes.clone()]
        .char_indices()
        .find(|(_, c)| !c.is_whitespace())
        .map_or(bytes.start, |(i, _)| bytes.start + i);
    let sentence_index = sentences
        .partition_point(|s| s.end <= first_visible)
        .min(sentences.len().saturating_sub(1));
    let sentence = sentences
        .get(sentence_index)
        .cloned()
        .unwrap_or(0..text.len());
    let start = first_visible.clamp(sentence.start, sentence.end) - sentence.start;
    let end = bytes.end.clamp(sentence.start, sentence.end) - sentence.start;
    let position = document.source_position(first_visible);
    Provenance {
        document: document_id,
        sentence: sentence_index as u32,
        start: start as u32,
        end: end.max(start) as u32,
        line: position.line,
        column: position.column,
    }
}

fn document_info(document: &Document) -> DocumentInfo {
    let text = document.text();
    DocumentInfo {
        path: document.path().to_string_lossy().into_owned(),
        content_hash: hash_bytes(document.content_hash()),
        sentences: document
            .sentences()
            .iter()
            .map(|range| {
                let position = document.source_position(range.start);
                SentenceInfo {
                    text: text[range.clone()].to_string(),
                    line: position.line,
                    column: position.column,
                }
            })
            .collect(),
    }
}

/// The corpus reader's hex SHA-256 as bytes.
fn hash_bytes(hex: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    out
}
