//! The assistant: everything the editor asks of the engine, in editor terms and plain byte
//! offsets. It owns the model, the corpus indexes and every cache, reads each open document
//! as prose, and answers completions at an offset, the usage of the word at an offset, and
//! the hints of a document. Editors (the LSP server) and the CLI only convert its answers.
//! All calls block (model runs): async callers run them off their runtime.

mod caches;
mod completion;
mod document;
mod hints;
mod indexes;
mod usage;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use dashmap::DashMap;

use crate::editing::{self, AnalysisOptions, BlockAnalysis, Comparison, Hint, HintThresholds};
use crate::knnlm::DocumentCache;
use crate::lm::{Context, LanguageModel, LmError};
use caches::{AnalysisCache, BlockContexts};
use indexes::IndexSlot;

pub use completion::{Completions, SuggestedText};
pub use document::{format_of, word_around, OpenDocument, Prose};
pub use hints::{HintOptions, PlacedHint};
pub use indexes::{Corpora, IndexNews, LoadedIndex};
pub use usage::{VariantNote, WordUsage};

/// The document cache holds at most this many of the document's latest positions.
const DOCUMENT_CACHE_POSITIONS: usize = 8192;

pub struct Assistant {
    model: LanguageModel,
    indexes: Mutex<HashMap<PathBuf, IndexSlot>>,
    analyses: Mutex<AnalysisCache>,
    /// Per document: the KV cache of completion and hover, whose model runs go before
    /// background work.
    typing: DashMap<String, Arc<Mutex<Context>>>,
    /// For analysing blocks in the background: one KV cache per recently analysed block.
    block_contexts: Mutex<BlockContexts<Arc<Mutex<Context>>>>,
    /// Substitution checks by (corpora, the text the check read, the word).
    substitutions: Mutex<HashMap<(u64, u64), Comparison>>,
}

/// Which KV cache a model run uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// The document's interactive context: reused across keystrokes, served first.
    Typing,
    /// The context of the block (see [`BlockContexts`]): analysis and hints in the
    /// background (diagnostics).
    Background,
}

impl Assistant {
    pub fn new(model: LanguageModel) -> Assistant {
        Assistant {
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

    pub fn model_name(&self) -> &str {
        &self.model.manifest().name
    }

    fn typing_context(&self, document: &str) -> Arc<Mutex<Context>> {
        self.typing
            .entry(document.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(self.model.new_interactive_context())))
            .clone()
    }

    /// Frees a closed document's KV cache and analyses.
    pub fn forget(&self, document: &str) {
        self.typing.remove(document);
        self.analyses.lock().unwrap().latest.remove(document);
    }

    /// Analyses every block of `document`, as the editor's background pass does before the
    /// writer asks, so that completions draw on the document's own text (the document
    /// cache) as they do in the editor.
    pub fn analyse_document(&self, document: &OpenDocument, corpora: &Corpora) {
        let Some(prose) = document.prose(corpora.keep_inline_code) else {
            return;
        };
        let analyses = (0..prose.blocks.len())
            .filter_map(|block| {
                let text = prose.block_text(block);
                self.analysis(&document.id, corpora, text, Lane::Background, &|| false)
            })
            .collect();
        self.set_latest(&document.id, analyses);
    }

    /// Runs `work` with the document's typing context (completion, hover).
    fn with_typing_context<R>(&self, document: &str, work: impl FnOnce(&Context) -> R) -> R {
        let context = self.typing_context(document);
        let guard = context.lock().unwrap_or_else(|p| p.into_inner());
        work(&guard)
    }

    /// Runs `work` with the model context of `lane`. For the background lane, the context
    /// of the block whose text is `texts[0]` (or was `texts[1..]`), which then holds `texts[0]`,
    /// `tokens` long.
    fn with_lane_context<R>(
        &self,
        document: &str,
        lane: Lane,
        texts: &[&str],
        tokens: impl FnOnce(&R) -> usize,
        work: impl FnOnce(&Context) -> R,
    ) -> R {
        if lane == Lane::Typing {
            return self.with_typing_context(document, work);
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
    fn cached_analysis(&self, corpora: &Corpora, text: &str) -> Option<Arc<BlockAnalysis>> {
        let key = (corpora.key, text_hash(text));
        self.analyses
            .lock()
            .unwrap()
            .entries
            .get(&key)
            .filter(|a| a.text == text)
            .cloned()
    }

    /// The analysis of one block of `document` (cached by its text), running the model if needed.
    /// `None` if `cancelled` turned true or the model failed (logged).
    fn analysis(
        &self,
        document: &str,
        corpora: &Corpora,
        text: &str,
        lane: Lane,
        cancelled: &dyn Fn() -> bool,
    ) -> Option<Arc<BlockAnalysis>> {
        if let Some(found) = self.cached_analysis(corpora, text) {
            return Some(found);
        }
        let previous = self.similar_latest_block(document, text);
        let options = AnalysisOptions {
            k: corpora.params.k,
            ..AnalysisOptions::default()
        };
        let refs = corpora.refs();
        let mut texts = vec![text];
        texts.extend(previous.as_deref().map(|p| p.text.as_str()));
        let result = self.with_lane_context(
            document,
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

    /// The hints of an analysed block. The substitution check runs the model
    /// once per candidate word, so its result is cached by what decides it
    /// ([`editing::check_key`]): an edit re-checks only the words whose sentence changed
    /// before them or within the few tokens each check reads after them. `only_at`: the
    /// bytes of the one word (in the block's text) to check, for a hover.
    fn block_hints(
        &self,
        document: &str,
        corpora: &Corpora,
        analysis: &BlockAnalysis,
        thresholds: &HintThresholds,
        lane: Lane,
        only_at: Option<&std::ops::Range<usize>>,
    ) -> Vec<Hint> {
        let refs = corpora.refs();
        let params = &corpora.params;
        editing::checked_hints(analysis, &refs, params, thresholds, 3, |candidate| {
            let word = candidate.word;
            if only_at.is_some_and(|bytes| *bytes != word.bytes) {
                return None;
            }
            let key = (corpora.key, editing::check_key(analysis, candidate));
            if let Some(&found) = self.substitutions.lock().unwrap().get(&key) {
                return Some(found);
            }
            let started = std::time::Instant::now();
            let computed = self.with_lane_context(
                document,
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
    fn set_latest(&self, document: &str, blocks: Vec<Arc<BlockAnalysis>>) {
        self.analyses
            .lock()
            .unwrap()
            .latest
            .insert(document.to_string(), blocks);
    }

    /// Of the document's latest analysed blocks, the one sharing the longest start with
    /// `text` (at least a few words), to lend its analysis to this edited version.
    fn similar_latest_block(&self, document: &str, text: &str) -> Option<Arc<BlockAnalysis>> {
        let analyses = self.analyses.lock().unwrap();
        let blocks = analyses.latest.get(document)?;
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
    fn document_cache(
        &self,
        corpora: &Corpora,
        blocks: &[&str],
        current: usize,
        document: &str,
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
            .or_else(|| self.similar_latest_block(document, current_text));
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

fn text_hash(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}
