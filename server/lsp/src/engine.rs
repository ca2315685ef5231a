//! The engine side of the server: the loaded model, the corpus indexes, and the cache of
//! block analyses. All calls block (model runs); the server calls them off the async runtime.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use dashmap::DashMap;
use precedent_engine::datastore::Datastore;
use precedent_engine::editing::{
    self, AnalysisOptions, BlockAnalysis, Comparison, Hint, HintThresholds,
};
use precedent_engine::indexer::Encoding;
use precedent_engine::knnlm::{CorpusIndex, DocumentCache, KnnParams};
use precedent_engine::lm::{Context, LanguageModel, LmError};
use precedent_engine::search::{NeighbourIndex, SearchOptions};
use tower_lsp::lsp_types::Url;

use crate::config::{KnnOverrides, Settings};
use crate::handlers::status::rfc3339;

/// Analyses kept, counted in tokens (about 5 KB each: a key, neighbours, candidates).
const ANALYSIS_CACHE_TOKENS: usize = 60_000;
/// The document cache holds at most this many of the document's latest positions.
const DOCUMENT_CACHE_POSITIONS: usize = 8192;
/// Tokens of recently analysed blocks whose model KV caches are kept (about 46 KB each with
/// the default model, so at most about 190 MB).
const BLOCK_CONTEXT_TOKENS: usize = 4096;

pub struct Engine {
    pub model: LanguageModel,
    indexes: Mutex<HashMap<PathBuf, IndexSlot>>,
    analyses: Mutex<AnalysisCache>,
    /// Per document: the KV cache of completion and hover, whose model runs go before
    /// background work.
    typing: DashMap<Url, Arc<Mutex<Context>>>,
    /// For analysing blocks in the background: one KV cache per recently analysed block.
    block_contexts: Mutex<BlockContexts>,
    /// Substitution checks by (corpora, the text the check read, the word).
    substitutions: Mutex<HashMap<(u64, u64), Comparison>>,
}

/// A corpus index opened for queries.
pub struct LoadedIndex {
    pub path: PathBuf,
    pub corpus: CorpusIndex,
    pub loaded_at: SystemTime,
    pub documents: usize,
    /// How its documents were read and windowed (from its metadata, read once at load).
    pub encoding: Encoding,
    file: FileIdentity,
}

/// What tells a file apart from the one it replaced: a rebuild renames a new file over the
/// index (a new inode); a copy over it changes its length or time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileIdentity {
    device: u64,
    inode: u64,
    length: u64,
    modified: Option<SystemTime>,
}

impl FileIdentity {
    /// `Err` says why the path cannot be an index file: missing, or not a regular file
    /// (a FIFO would block the open, a directory cannot be mapped).
    fn of(path: &Path) -> Result<FileIdentity, String> {
        let metadata = std::fs::metadata(path)
            .map_err(|e| format!("cannot access index {}: {e}", path.display()))?;
        if !metadata.is_file() {
            return Err(format!(
                "{} is not a regular file, so not an index",
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
/// (not tried again until the file changes).
#[derive(Default)]
struct IndexSlot {
    serving: Option<Arc<LoadedIndex>>,
    refused: Option<(Result<FileIdentity, String>, String)>,
}

/// What happened to an index path when it was looked up.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexNews {
    /// Its file was replaced and the new index now serves.
    Reloaded(PathBuf),
    /// It cannot be opened; the message says why, and whether an older index still serves.
    Problem(String),
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

#[derive(Default)]
struct AnalysisCache {
    entries: HashMap<(u64, u64), Arc<BlockAnalysis>>,
    order: VecDeque<((u64, u64), usize)>,
    tokens: usize,
    /// The blocks of each document's latest analysed version, to lend their start to an
    /// edited block.
    latest: HashMap<Url, Vec<Arc<BlockAnalysis>>>,
}

impl AnalysisCache {
    fn insert(&mut self, key: (u64, u64), analysis: Arc<BlockAnalysis>) {
        let size = analysis.tokens.len().max(1);
        if self.entries.insert(key, analysis).is_none() {
            self.order.push_back((key, size));
            self.tokens += size;
        }
        while self.tokens > ANALYSIS_CACHE_TOKENS {
            let Some((old, size)) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&old);
            self.tokens -= size;
        }
    }
}

/// Model contexts of recently analysed blocks, each holding its block in the KV cache, by
/// the block's text. An edited block continues in the context of its previous version, so
/// the model runs it from the edit on rather than from its start; its hint checks branch
/// from the block held there. Oldest first; the total held is bounded in tokens.
struct BlockContexts<C = Arc<Mutex<Context>>> {
    entries: VecDeque<BlockContext<C>>,
    tokens: usize,
}

struct BlockContext<C> {
    text_hash: u64,
    tokens: usize,
    context: C,
}

impl<C> Default for BlockContexts<C> {
    fn default() -> Self {
        BlockContexts {
            entries: VecDeque::new(),
            tokens: 0,
        }
    }
}

impl<C> BlockContexts<C> {
    /// Takes out the context holding the first of `text_hashes` held, if any.
    fn take(&mut self, text_hashes: &[u64]) -> Option<C> {
        let index = text_hashes
            .iter()
            .find_map(|hash| self.entries.iter().position(|e| e.text_hash == *hash))?;
        let entry = self.entries.remove(index)?;
        self.tokens -= entry.tokens;
        Some(entry.context)
    }

    /// Keeps `context` as the newest, holding a text with `text_hash` and `tokens` tokens;
    /// the oldest go (their KV caches are freed) while too many tokens are held.
    fn keep(&mut self, text_hash: u64, tokens: usize, context: C) {
        self.entries.push_back(BlockContext {
            text_hash,
            tokens,
            context,
        });
        self.tokens += tokens;
        while self.tokens > BLOCK_CONTEXT_TOKENS && self.entries.len() > 1 {
            if let Some(old) = self.entries.pop_front() {
                self.tokens -= old.tokens;
            }
        }
    }
}

/// Which KV cache a model run uses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The document's interactive context: reused across keystrokes, served first.
    Typing,
    /// The context of the block (see [`BlockContexts`]): analysis and hints in the
    /// background (diagnostics).
    Background,
}

impl Engine {
    pub fn new(model: LanguageModel) -> Engine {
        Engine {
            model,
            indexes: Mutex::new(HashMap::new()),
            analyses: Mutex::new(AnalysisCache::default()),
            typing: DashMap::new(),
            block_contexts: Mutex::default(),
            substitutions: Mutex::new(HashMap::new()),
        }
    }

    pub fn model(&self) -> &LanguageModel {
        &self.model
    }

    pub fn model_name(&self) -> String {
        let manifest = self.model.manifest();
        manifest.name.clone()
    }

    /// The index at `path`, opened on first use and again whenever its file is replaced; the
    /// swap is atomic (requests under way keep the index they started with). A replacement
    /// that cannot be opened leaves the previous index serving, and says so.
    fn index(&self, path: &Path) -> (Option<Arc<LoadedIndex>>, Option<IndexNews>) {
        let file = FileIdentity::of(path);
        let (serving, refused) = {
            let indexes = self.indexes.lock().unwrap();
            let slot = indexes.get(path);
            let serving = slot.and_then(|s| s.serving.clone());
            let refused = slot
                .and_then(|s| s.refused.as_ref())
                .filter(|(refused_file, _)| *refused_file == file)
                .map(|(_, error)| error.clone());
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
                slot.refused = Some((file, error.clone()));
                let problem = match &slot.serving {
                    Some(old) => format!(
                        "{error}; still serving the index loaded from it at {}",
                        rfc3339(old.loaded_at)
                    ),
                    None => error,
                };
                (slot.serving.clone(), Some(IndexNews::Problem(problem)))
            }
        }
    }

    /// Why the file now at `path` is not the index serving it, if it could not be opened.
    pub fn refused_replacement(&self, path: &Path) -> Option<String> {
        let indexes = self.indexes.lock().unwrap();
        let slot = indexes.get(path)?;
        slot.serving.as_ref()?;
        slot.refused.as_ref().map(|(_, error)| error.clone())
    }

    fn open_index(&self, path: &Path, file: FileIdentity) -> Result<Arc<LoadedIndex>, String> {
        let store = Datastore::open(path, Some(&self.model.manifest().fingerprint))
            .map_err(|e| e.to_string())?;
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
        });
        tracing::info!(index = %path.display(), entries = loaded.corpus.store().len(), "opened index");
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
            indexes.extend(index);
            news.extend(event);
        }
        let params = indexes
            .first()
            .map(|i| i.corpus.params.clone())
            .unwrap_or_default()
            .with_overrides(overrides);
        let keep_inline_code = indexes.first().is_some_and(|i| i.encoding.keep_inline_code);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
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

    fn context(&self, uri: &Url) -> Arc<Mutex<Context>> {
        self.typing
            .entry(uri.clone())
            .or_insert_with(|| Arc::new(Mutex::new(self.model.new_interactive_context())))
            .clone()
    }

    /// Frees a closed document's KV cache and analyses.
    pub fn forget(&self, uri: &Url) {
        self.typing.remove(uri);
        self.analyses.lock().unwrap().latest.remove(uri);
    }

    /// Runs `work` with the document's typing context (completion, hover).
    pub fn with_typing_context<R>(&self, uri: &Url, work: impl FnOnce(&Context) -> R) -> R {
        let context = self.context(uri);
        let guard = context.lock().unwrap_or_else(|p| p.into_inner());
        work(&guard)
    }

    /// Runs `work` with the model context of `lane`. For the background lane, the context
    /// of the block whose text is `texts[0]` (or was `texts[1..]`), which then holds `texts[0]`,
    /// `tokens` long.
    fn with_lane_context<R>(
        &self,
        uri: &Url,
        lane: Lane,
        texts: &[&str],
        tokens: impl FnOnce(&R) -> usize,
        work: impl FnOnce(&Context) -> R,
    ) -> R {
        if lane == Lane::Typing {
            return self.with_typing_context(uri, work);
        }
        let hashes: Vec<u64> = texts.iter().map(|t| text_hash(t)).collect();
        let taken = self.block_contexts.lock().unwrap().take(&hashes);
        let context = taken.unwrap_or_else(|| Arc::new(Mutex::new(self.model.new_context())));
        let result = work(&context.lock().unwrap_or_else(|p| p.into_inner()));
        let held = tokens(&result);
        self.block_contexts
            .lock()
            .unwrap()
            .keep(hashes[0], held, context);
        result
    }

    /// The cached analysis of `text` with `corpora`, if any.
    pub fn cached_analysis(&self, corpora: &Corpora, text: &str) -> Option<Arc<BlockAnalysis>> {
        let key = (corpora.key, text_hash(text));
        self.analyses
            .lock()
            .unwrap()
            .entries
            .get(&key)
            .filter(|a| a.text == text)
            .cloned()
    }

    /// The analysis of one block of `uri` (cached by its text), running the model if needed.
    /// `None` if `cancelled` turned true or the model failed (logged).
    pub fn analysis(
        &self,
        uri: &Url,
        corpora: &Corpora,
        text: &str,
        lane: Lane,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<Arc<BlockAnalysis>> {
        if let Some(found) = self.cached_analysis(corpora, text) {
            return Some(found);
        }
        let previous = self.similar_latest_block(uri, text);
        let options = AnalysisOptions {
            k: corpora.params.k,
            ..AnalysisOptions::default()
        };
        let refs = corpora.refs();
        let mut texts = vec![text];
        texts.extend(previous.as_deref().map(|p| p.text.as_str()));
        let result = self.with_lane_context(
            uri,
            lane,
            &texts,
            |result: &Result<Option<BlockAnalysis>, LmError>| match result {
                Ok(Some(analysis)) => analysis.tokens.len(),
                _ => text.len() / 4, // roughly: the context holds part of the block
            },
            |context| {
                editing::analyze_block(
                    context,
                    &refs,
                    text,
                    previous.as_deref(),
                    &options,
                    cancelled,
                )
            },
        );
        match result {
            Ok(Some(analysis)) => {
                let analysis = Arc::new(analysis);
                let key = (corpora.key, text_hash(text));
                self.analyses.lock().unwrap().insert(key, analysis.clone());
                Some(analysis)
            }
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(%error, "block analysis failed");
                None
            }
        }
    }

    /// The word-choice hints of an analysed block. The substitution check runs the model
    /// once per candidate word, so its result is cached by what decides it
    /// ([`editing::check_key`]): an edit re-checks only the words whose sentence changed
    /// before them or within the few tokens each check reads after them.
    pub fn hints(
        &self,
        uri: &Url,
        corpora: &Corpora,
        analysis: &BlockAnalysis,
        thresholds: &HintThresholds,
        lane: Lane,
    ) -> Vec<Hint> {
        let refs = corpora.refs();
        let params = &corpora.params;
        editing::checked_hints(analysis, &refs, params, thresholds, 3, |candidate| {
            let word = candidate.word;
            let key = (corpora.key, editing::check_key(analysis, candidate));
            if let Some(&found) = self.substitutions.lock().unwrap().get(&key) {
                return Some(found);
            }
            let started = std::time::Instant::now();
            let computed = self.with_lane_context(
                uri,
                lane,
                &[&analysis.text],
                |_| analysis.tokens.len(),
                |context| {
                    editing::compare_words(
                        context,
                        analysis,
                        &refs,
                        params,
                        word,
                        &candidate.preferred,
                    )
                },
            );
            let found = computed
                .inspect_err(|error| tracing::warn!(%error, "checking a hint failed"))
                .ok()?;
            tracing::trace!(
                word = &analysis.text[word.bytes.clone()],
                preferred = candidate.preferred,
                ?found,
                ms = started.elapsed().as_millis() as u64,
                "substitution checked"
            );
            let mut cache = self.substitutions.lock().unwrap();
            if cache.len() > 50_000 {
                cache.clear();
            }
            cache.insert(key, found);
            Some(found)
        })
    }

    /// Records the blocks of the document's latest analysed version.
    pub fn set_latest(&self, uri: &Url, blocks: Vec<Arc<BlockAnalysis>>) {
        self.analyses
            .lock()
            .unwrap()
            .latest
            .insert(uri.clone(), blocks);
    }

    /// Of the document's latest analysed blocks, the one sharing the longest start with
    /// `text` (at least a few words), to lend its analysis to this edited version.
    fn similar_latest_block(&self, uri: &Url, text: &str) -> Option<Arc<BlockAnalysis>> {
        let analyses = self.analyses.lock().unwrap();
        let blocks = analyses.latest.get(uri)?;
        blocks
            .iter()
            .map(|b| (common_prefix(&b.text, text), b))
            .filter(|(shared, _)| *shared >= 12)
            .max_by_key(|(shared, _)| *shared)
            .map(|(_, b)| b.clone())
    }

    /// The document cache for a query in block `current` of `blocks` (texts in order):
    /// every analysed earlier block, then the current block's analysed positions that
    /// `context_tokens` still shares.
    pub fn document_cache(
        &self,
        corpora: &Corpora,
        blocks: &[&str],
        current: usize,
        uri: &Url,
        context_tokens: &[u32],
    ) -> DocumentCache {
        let mut cache = DocumentCache::new(self.model.manifest().key_dim);
        let mut pieces: Vec<(Arc<BlockAnalysis>, usize)> = Vec::new();
        for text in &blocks[..current] {
            if let Some(analysis) = self.cached_analysis(corpora, text) {
                let positions = analysis.tokens.len().saturating_sub(1);
                pieces.push((analysis, positions));
            }
        }
        let current_text = blocks.get(current).copied().unwrap_or("");
        let current_analysis = self
            .cached_analysis(corpora, current_text)
            .or_else(|| self.similar_latest_block(uri, current_text));
        if let Some(analysis) = current_analysis {
            let shared = analysis
                .tokens
                .iter()
                .zip(context_tokens)
                .take_while(|(a, &b)| a.id == b)
                .count();
            pieces.push((analysis, shared.saturating_sub(1)));
        }
        // The most recent positions, at most DOCUMENT_CACHE_POSITIONS of them.
        let total: usize = pieces.iter().map(|(_, n)| n).sum();
        let mut skip = total.saturating_sub(DOCUMENT_CACHE_POSITIONS);
        for (analysis, positions) in pieces {
            let skipped = skip.min(positions);
            skip -= skipped;
            analysis.lend_to(&mut cache, skipped..positions);
        }
        cache
    }
}

/// Everything the engine needs from the settings to serve one document.
pub fn index_paths(settings: &Settings, corpus_index: Option<&Path>) -> Vec<PathBuf> {
    let mut paths = settings.index_paths.clone();
    if let Some(path) = corpus_index.filter(|p| p.is_file()) {
        if !paths.iter().any(|p| p == path) {
            paths.push(path.to_path_buf());
        }
    }
    paths
}

fn text_hash(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_contexts_are_found_by_text_and_the_oldest_go_first() {
        let mut contexts = BlockContexts::<&str>::default();
        contexts.keep(1, 1000, "first block");
        contexts.keep(2, 2000, "second block");
        // An edited block is found by its previous text (the second hash asked for).
        assert_eq!(contexts.take(&[9, 1]), Some("first block"));
        assert_eq!(contexts.take(&[1]), None, "taken out while in use");
        contexts.keep(3, 1000, "first block, edited");
        // Over the bound: the oldest go, the newest stays even if alone over it.
        contexts.keep(4, 1500, "a long block");
        assert_eq!(contexts.take(&[2]), None);
        assert_eq!(contexts.tokens, 2500);
        contexts.keep(5, BLOCK_CONTEXT_TOKENS + 1, "longer than the bound");
        assert_eq!(contexts.entries.len(), 1);
        assert_eq!(contexts.take(&[5]), Some("longer than the bound"));
        assert_eq!(contexts.tokens, 0);
    }
}
