//! The engine side of the server: the loaded model, the corpus indexes, and the cache of
//! block analyses. All calls block (model runs); the server calls them off the async runtime.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use dashmap::DashMap;
use precedent_engine::datastore::Datastore;
use precedent_engine::editing::{self, AnalysisOptions, BlockAnalysis, Hint, HintThresholds};
use precedent_engine::knnlm::{CorpusIndex, DocumentCache, KnnParams};
use precedent_engine::lm::{Context, LanguageModel};
use precedent_engine::search::{NeighbourIndex, SearchOptions};
use tower_lsp::lsp_types::Url;

use crate::config::{KnnOverrides, Settings};

/// Analyses kept, counted in tokens (about 5 KB each: a key, neighbours, candidates).
const ANALYSIS_CACHE_TOKENS: usize = 60_000;
/// The document cache holds at most this many of the document's latest positions.
const DOCUMENT_CACHE_POSITIONS: usize = 8192;

pub struct Engine {
    pub model: LanguageModel,
    indexes: Mutex<HashMap<PathBuf, Arc<LoadedIndex>>>,
    analyses: Mutex<AnalysisCache>,
    /// Per document: the KV cache of completion and hover, whose model runs go before
    /// background work.
    typing: DashMap<Url, Arc<Mutex<Context>>>,
    /// For analysing blocks nobody is typing in.
    background: Mutex<Context>,
    /// Substitution checks: ln ratio by (corpora, the text the check read, the word).
    substitutions: Mutex<HashMap<(u64, u64), f32>>,
}

/// A corpus index opened for queries.
pub struct LoadedIndex {
    pub path: PathBuf,
    pub corpus: CorpusIndex,
    pub loaded_at: SystemTime,
    pub documents: usize,
}

/// The corpora one document retrieves from, and the parameters in force.
#[derive(Clone)]
pub struct Corpora {
    pub indexes: Vec<Arc<LoadedIndex>>,
    pub params: KnnParams,
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

/// Which KV cache a model run uses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// The document's interactive context: reused across keystrokes, served first.
    Typing,
    /// One context for background analysis (diagnostics); while the writer types in a
    /// block it holds that block, so its start is reused too.
    Background,
}

impl Engine {
    pub fn new(model: LanguageModel) -> Engine {
        let background = Mutex::new(model.new_context());
        Engine {
            model,
            indexes: Mutex::new(HashMap::new()),
            analyses: Mutex::new(AnalysisCache::default()),
            typing: DashMap::new(),
            background,
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

    /// The index at `path`, opened on first use. Errors say what is wrong and how to rebuild.
    pub fn index(&self, path: &Path) -> Result<Arc<LoadedIndex>, String> {
        if let Some(index) = self.indexes.lock().unwrap().get(path) {
            return Ok(index.clone());
        }
        let store = Datastore::open(path, Some(&self.model.manifest().fingerprint))
            .map_err(|e| e.to_string())?;
        let documents = store.document_count();
        let params = KnnParams::from_metadata(store.metadata());
        let index = NeighbourIndex::new(Arc::new(store), SearchOptions::default())
            .map_err(|e| e.to_string())?;
        let loaded = Arc::new(LoadedIndex {
            path: path.to_path_buf(),
            corpus: CorpusIndex { index, params },
            loaded_at: SystemTime::now(),
            documents,
        });
        tracing::info!(index = %path.display(), entries = loaded.corpus.store().len(), "opened index");
        self.indexes
            .lock()
            .unwrap()
            .insert(path.to_path_buf(), loaded.clone());
        Ok(loaded)
    }

    /// Forgets the index at `path` (it was rebuilt) and every analysis made with it.
    pub fn reload_index(&self, path: &Path) {
        self.indexes.lock().unwrap().remove(path);
        let mut analyses = self.analyses.lock().unwrap();
        *analyses = AnalysisCache::default();
        self.substitutions.lock().unwrap().clear();
    }

    /// The corpora `paths` with the parameters: overrides, else the first index's tuned
    /// values, else the defaults. Indexes that cannot be opened are left out and reported.
    pub fn corpora(&self, paths: &[PathBuf], overrides: &KnnOverrides) -> (Corpora, Vec<String>) {
        let mut indexes = Vec::new();
        let mut errors = Vec::new();
        for path in paths {
            match self.index(path) {
                Ok(index) => indexes.push(index),
                Err(error) => errors.push(error),
            }
        }
        let params = indexes
            .first()
            .map(|i| i.corpus.params.clone())
            .unwrap_or_default()
            .with_overrides(overrides);
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
                key,
            },
            errors,
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

    /// Runs `work` with the model context of `lane`.
    pub fn with_context<R>(&self, uri: &Url, lane: Lane, work: impl FnOnce(&Context) -> R) -> R {
        match lane {
            Lane::Typing => {
                let context = self.context(uri);
                let guard = context.lock().unwrap_or_else(|p| p.into_inner());
                work(&guard)
            }
            Lane::Background => {
                let guard = self.background.lock().unwrap_or_else(|p| p.into_inner());
                work(&guard)
            }
        }
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
        let result = self.with_context(uri, lane, |context| {
            editing::analyze_block(
                context,
                &refs,
                text,
                previous.as_deref(),
                &options,
                cancelled,
            )
        });
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
    /// once per candidate word, so its result is cached by the text it read (the block up to
    /// the end of the word's sentence): an edit re-checks only the words it can change.
    pub fn hints(
        &self,
        uri: &Url,
        corpora: &Corpora,
        analysis: &BlockAnalysis,
        thresholds: &HintThresholds,
        lane: Lane,
    ) -> Vec<Hint> {
        let refs = corpora.refs();
        let token_texts = self.model.tokenizer().token_texts();
        let params = &corpora.params;
        let mut hints = Vec::new();
        for candidate in editing::hint_candidates(analysis, token_texts, &refs, params, thresholds)
        {
            let word = candidate.word;
            let read = &analysis.text[..editing::checked_end(analysis, word)];
            let key = (
                corpora.key,
                text_hash(&format!(
                    "{}\u{0}{}\u{0}{read}",
                    word.bytes.start, candidate.preferred
                )),
            );
            let cached = self.substitutions.lock().unwrap().get(&key).copied();
            let log_ratio = match cached {
                Some(log_ratio) => log_ratio,
                None => {
                    let computed = self.with_context(uri, lane, |context| {
                        editing::substitution_log_ratio(
                            context, analysis, &refs, params, &candidate,
                        )
                    });
                    let Ok(log_ratio) = computed.inspect_err(|error| {
                        tracing::warn!(%error, "checking a hint failed");
                    }) else {
                        continue;
                    };
                    let mut cache = self.substitutions.lock().unwrap();
                    if cache.len() > 50_000 {
                        cache.clear();
                    }
                    cache.insert(key, log_ratio);
                    log_ratio
                }
            };
            if log_ratio >= thresholds.min_ratio.ln() {
                hints.push(candidate.into_hint(analysis, params, log_ratio, 3));
            }
        }
        hints
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
        let total: usize = pieces.iter().map(|(_, n)| n).sum();
        let mut skip = total.saturating_sub(DOCUMENT_CACHE_POSITIONS);
        for (analysis, positions) in pieces {
            for (key, token) in analysis.entries().take(positions) {
                if skip > 0 {
                    skip -= 1;
                    continue;
                }
                cache.push(key, token);
            }
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
