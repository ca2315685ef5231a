//! The corpus indexes the assistant serves from: each opened on first use, reopened when its
//! file is replaced (the old one kept serving if the new one cannot be opened), and the set
//! of them one document retrieves from.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::caches::AnalysisCache;
use super::Assistant;
use crate::datastore::Datastore;
use crate::indexer::Encoding;
use crate::knnlm::{CorpusIndex, IndexEntries, KnnOverrides, KnnParams};
use crate::milvus::{MilvusIndex, MilvusLocation};
use crate::search::{NeighbourIndex, SearchOptions};

/// Indexes up to this size are verified in full before they serve.
const VERIFY_ON_OPEN_BYTES: u64 = 512 << 20;

/// A Milvus index that could not be opened (engine unreachable, no index there yet) is
/// tried again after this long.
const MILVUS_RETRY: Duration = Duration::from_secs(15);

/// A corpus index opened for queries.
pub struct LoadedIndex {
    pub path: PathBuf,
    pub corpus: CorpusIndex,
    pub loaded_at: SystemTime,
    pub documents: usize,
    /// How its documents were read and windowed (from its metadata, read once at load).
    pub encoding: Encoding,
    file: FileIdentity,
    /// The search trouble last told in [`IndexNews`] (a Milvus engine not answering).
    told_trouble: std::sync::Mutex<Option<String>>,
}

/// What tells a file apart from the one it replaced: a rebuild renames a new file over the
/// index (a new inode); a copy over it changes its length or time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileIdentity {
    device: u64,
    inode: u64,
    length: u64,
    modified: Option<SystemTime>,
}

impl FileIdentity {
    /// A Milvus location has no file: one identity for as long as it is configured.
    const MILVUS: FileIdentity = FileIdentity {
        device: 0,
        inode: 0,
        length: 0,
        modified: None,
    };

    /// The identity of whatever is at `path` now.
    fn at(path: &Path) -> Result<FileIdentity, String> {
        match MilvusLocation::from_path(path) {
            Some(location) => location.map(|_| FileIdentity::MILVUS),
            None => FileIdentity::of(path),
        }
    }

    /// `Err` says why the path cannot be an index file: missing, or not a regular file
    /// (a FIFO would block the open, a directory cannot be mapped).
    fn of(path: &Path) -> Result<FileIdentity, String> {
        let metadata = std::fs::metadata(path)
            .map_err(|e| format!("cannot access index {}: {e}", path.display()))?;
        if metadata.is_dir() {
            return Err(format!("{} is a folder, not an index file", path.display()));
        }
        if !metadata.is_file() {
            return Err(format!(
                "{} is not a regular file (a FIFO, socket or device), so not an index",
                path.display()
            ));
        }
        #[cfg(unix)]
        let (device, inode) = {
            use std::os::unix::fs::MetadataExt;
            (metadata.dev(), metadata.ino())
        };
        #[cfg(not(unix))]
        let (device, inode) = (0, 0);
        Ok(FileIdentity {
            device,
            inode,
            length: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

/// One index path: the index serving it, and the last file there that could not be opened
/// (not tried again until the file changes; a Milvus location, after [`MILVUS_RETRY`]).
#[derive(Default)]
pub(super) struct IndexSlot {
    serving: Option<Arc<LoadedIndex>>,
    refused: Option<Refusal>,
}

struct Refusal {
    file: Result<FileIdentity, String>,
    error: String,
    at: Instant,
}

impl Refusal {
    /// Whether the refusal still holds for `file` at `path`.
    fn holds_for(&self, path: &Path, file: &Result<FileIdentity, String>) -> bool {
        let milvus = MilvusLocation::from_path(path).is_some_and(|l| l.is_ok());
        self.file == *file && !(milvus && self.at.elapsed() >= MILVUS_RETRY)
    }
}

/// What happened to an index path when it was looked up.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexNews {
    /// Its file was replaced and the new index now serves.
    Reloaded(PathBuf),
    /// It cannot be opened: why, and since when the older index still serving it was loaded
    /// (if one is).
    Problem {
        error: String,
        still_serving_since: Option<SystemTime>,
    },
    /// Its searches started failing (why), or answer again (`None`): a Milvus engine that
    /// stopped or came back. Meanwhile suggestions come from the other indexes and the model.
    SearchTrouble {
        path: PathBuf,
        error: Option<String>,
    },
}

/// The corpora one document retrieves from, and the parameters in force.
#[derive(Clone)]
pub struct Corpora {
    pub indexes: Vec<Arc<LoadedIndex>>,
    pub params: KnnParams,
    /// Whether the corpus kept the text of inline code, so the document's prose must too
    /// (the first index's setting, like the parameters).
    pub keep_inline_code: bool,
    /// Identifies the indexes and k: analyses made with other corpora are not reused.
    pub key: u64,
}

impl Corpora {
    pub fn refs(&self) -> Vec<&CorpusIndex> {
        self.indexes.iter().map(|i| &i.corpus).collect()
    }
}

impl Assistant {
    /// The index at `path`, opened on first use and again whenever its file is replaced; the
    /// swap is atomic (requests under way keep the index they started with). A replacement
    /// that cannot be opened leaves the previous index serving, and says so.
    fn index(&self, path: &Path) -> (Option<Arc<LoadedIndex>>, Option<IndexNews>) {
        let file = FileIdentity::at(path);
        let (serving, refused) = {
            let indexes = self.indexes.lock().unwrap();
            let slot = indexes.get(path);
            let serving = slot.and_then(|s| s.serving.clone());
            let refused = slot
                .and_then(|s| s.refused.as_ref())
                .filter(|refusal| refusal.holds_for(path, &file))
                .map(|refusal| refusal.error.clone());
            (serving, refused)
        };
        if let Some(index) = serving.as_ref().filter(|i| Ok(i.file) == file) {
            return (Some(index.clone()), None);
        }
        let opened = match refused {
            Some(error) => Err(error),
            None => file.clone().and_then(|file| self.open_index(path, file)),
        };
        let mut indexes = self.indexes.lock().unwrap();
        let slot = indexes.entry(path.to_path_buf()).or_default();
        match opened {
            Ok(index) => {
                let reloaded = slot.serving.replace(index.clone()).is_some();
                slot.refused = None;
                drop(indexes);
                if !reloaded {
                    return (Some(index), None);
                }
                // Analyses made with the old index are never asked for again: free them now.
                *self.analyses.lock().unwrap() = AnalysisCache::default();
                self.substitutions.lock().unwrap().clear();
                (Some(index), Some(IndexNews::Reloaded(path.to_path_buf())))
            }
            Err(error) => {
                slot.refused = Some(Refusal {
                    file,
                    error: error.clone(),
                    at: Instant::now(),
                });
                let problem = IndexNews::Problem {
                    error,
                    still_serving_since: slot.serving.as_ref().map(|old| old.loaded_at),
                };
                (slot.serving.clone(), Some(problem))
            }
        }
    }

    /// Why the file now at `path` is not the index serving it, if it could not be opened.
    pub fn refused_replacement(&self, path: &Path) -> Option<String> {
        let indexes = self.indexes.lock().unwrap();
        let slot = indexes.get(path)?;
        slot.serving.as_ref()?;
        slot.refused.as_ref().map(|refusal| refusal.error.clone())
    }

    fn open_index(&self, path: &Path, file: FileIdentity) -> Result<Arc<LoadedIndex>, String> {
        if let Some(location) = MilvusLocation::from_path(path) {
            let index = MilvusIndex::open(&location?, Some(&self.model.manifest().fingerprint))
                .map_err(|e| e.to_string())?;
            let params = KnnParams::from_metadata(index.metadata());
            let loaded = Arc::new(LoadedIndex {
                path: path.to_path_buf(),
                documents: index.document_count(),
                encoding: Encoding::from_metadata(index.metadata()),
                corpus: CorpusIndex::with_entries(IndexEntries::Milvus(Box::new(index)), params),
                loaded_at: SystemTime::now(),
                file,
                told_trouble: Default::default(),
            });
            tracing::info!(index = %path.display(), entries = loaded.corpus.len(), "opened Milvus index");
            return Ok(loaded);
        }
        let store = Datastore::open(path, Some(&self.model.manifest().fingerprint))
            .map_err(|e| e.to_string())?;
        // Every checksum and key, before the index serves: about 0.1 s per 100 MB. A larger
        // index serves at once and is verified on the side.
        if file.length <= VERIFY_ON_OPEN_BYTES {
            store.verify().map_err(|e| e.to_string())?;
        } else {
            let path = path.to_path_buf();
            std::thread::spawn(move || match Datastore::open(&path, None)?.verify() {
                Ok(()) => {
                    tracing::info!(index = %path.display(), "index verified");
                    Ok(())
                }
                Err(error) => {
                    tracing::error!("{error}");
                    Err(error)
                }
            });
        }
        let documents = store.document_count();
        let params = KnnParams::from_metadata(store.metadata());
        let encoding = Encoding::from_metadata(store.metadata());
        let index = NeighbourIndex::new(Arc::new(store), SearchOptions::default())
            .map_err(|e| e.to_string())?;
        let loaded = Arc::new(LoadedIndex {
            path: path.to_path_buf(),
            corpus: CorpusIndex::new(index, params),
            loaded_at: SystemTime::now(),
            documents,
            encoding,
            file,
            told_trouble: Default::default(),
        });
        tracing::info!(index = %path.display(), entries = loaded.corpus.len(), "opened index");
        Ok(loaded)
    }

    /// The corpora `paths` with the parameters: overrides, else the first index's tuned
    /// values, else the defaults. Indexes that cannot be opened are left out; what changed
    /// (a reload, a problem) is in the news.
    pub fn corpora(
        &self,
        paths: &[PathBuf],
        overrides: &KnnOverrides,
    ) -> (Corpora, Vec<IndexNews>) {
        let mut indexes = Vec::new();
        let mut news = Vec::new();
        for path in paths {
            let (index, event) = self.index(path);
            news.extend(event);
            if let Some(index) = &index {
                let trouble = index.corpus.trouble();
                let mut told = index.told_trouble.lock().unwrap();
                if *told != trouble {
                    told.clone_from(&trouble);
                    // Analyses made while searches failed lack this corpus; made before,
                    // they are still right but cheap to redo: forget both alike.
                    *self.analyses.lock().unwrap() = AnalysisCache::default();
                    self.substitutions.lock().unwrap().clear();
                    news.push(IndexNews::SearchTrouble {
                        path: path.clone(),
                        error: trouble,
                    });
                }
            }
            indexes.extend(index);
        }
        let params = indexes
            .first()
            .map(|i| i.corpus.params.clone())
            .unwrap_or_default()
            .with_overrides(overrides);
        let keep_inline_code = indexes.first().is_some_and(|i| i.encoding.keep_inline_code);
        let mut hasher = DefaultHasher::new();
        for index in &indexes {
            index.path.hash(&mut hasher);
            index.loaded_at.hash(&mut hasher);
        }
        params.k.hash(&mut hasher);
        let key = hasher.finish();
        (
            Corpora {
                indexes,
                params,
                keep_inline_code,
                key,
            },
            news,
        )
    }
}
