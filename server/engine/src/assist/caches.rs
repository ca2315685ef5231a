//! What the assistant keeps between requests: block analyses by text, and the model's KV
//! caches of recently analysed blocks.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::editing::BlockAnalysis;

/// Analyses kept, counted in tokens (about 5 KB each: a key, neighbours, candidates).
const ANALYSIS_CACHE_TOKENS: usize = 60_000;
/// Tokens of recently analysed blocks whose model KV caches are kept (about 46 KB each with
/// the default model, so at most about 190 MB).
const BLOCK_CONTEXT_TOKENS: usize = 4096;

#[derive(Default)]
pub(super) struct AnalysisCache {
    pub entries: HashMap<(u64, u64), Arc<BlockAnalysis>>,
    order: VecDeque<((u64, u64), usize)>,
    tokens: usize,
    /// The blocks of each document's latest analysed version, to lend their start to an
    /// edited block.
    pub latest: HashMap<String, Vec<Arc<BlockAnalysis>>>,
}

impl AnalysisCache {
    pub fn insert(&mut self, key: (u64, u64), analysis: Arc<BlockAnalysis>) {
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
pub(super) struct BlockContexts<C> {
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
    pub fn take(&mut self, text_hashes: &[u64]) -> Option<C> {
        let index = text_hashes
            .iter()
            .find_map(|hash| self.entries.iter().position(|e| e.text_hash == *hash))?;
        let entry = self.entries.remove(index)?;
        self.tokens -= entry.tokens;
        Some(entry.context)
    }

    /// Keeps `context` as the newest, holding a text with `text_hash` and `tokens` tokens;
    /// the oldest go (their KV caches are freed) while too many tokens are held.
    pub fn keep(&mut self, text_hash: u64, tokens: usize, context: C) {
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
