//! Nearest-neighbour search over the datastore keys by squared L2 distance (no square
//! root), returning entry numbers and exact distances.
//!
//! - Exact brute force over the f16 keys ([`exact_search_batch`]), used for stores
//!   below [`GRAPH_MIN_ENTRIES`] entries, where it is as fast as the graph, and for
//!   evaluation against ground truth.
//! - HNSW: the graph is built by hnsw_rs ([`build_graph_section`]) and stored in the
//!   index in a compact form that is searched in place from the memory map. Every distance
//!   the search computes is exact (f32 query against the stored f16 key), so the returned
//!   neighbours are the candidates re-ranked by exact distance.

mod build;
mod distance;
mod exact;
mod graph;
mod topk;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::datastore::{Datastore, DatastoreError, DatastoreWriter, KeyMatrix};
use crate::knn_scoring::Neighbour;
pub use distance::{squared_l2, squared_l2_f16, squared_l2_f32};
pub use exact::{exact_search, exact_search_batch, exact_search_f32};
use graph::{GraphLayout, Scratch};

/// One search result: a datastore entry and its squared L2 distance to the query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub entry: u32,
    pub distance: f32,
}

/// Graph construction parameters. Defaults measured with `examples/search_bench.rs` on
/// 50k synthetic keys (a harder generator than the current one): M 24 / ef_construction
/// 64 reached recall@64 0.989 at ef 128 and built as fast as M 16 / 64 (0.953); M 16 / 100
/// was slower and worse (0.961); M 32 fills every hnsw_rs list and leaves a fifth of the
/// nodes unreachable (0.66).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HnswParams {
    /// Neighbours per node in the upper levels; level 0 keeps up to 2·M.
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 24,
            ef_construction: 64,
        }
    }
}

/// Stores with fewer entries get no graph. Measured on real SmolLM2 keys (search_bench
/// `--keys`): exact search costs ~0.065 ms per 1000 entries, HNSW ~0.08 ms at k = 64
/// (ef 128) and ~0.5 ms at k = 1024, so the graph wins from ~1.5k entries at k = 64 and
/// from ~10k at k = 1024. Below this size exact search stays under ~0.3 ms, is exact, and
/// the index needs no graph build.
pub const GRAPH_MIN_ENTRIES: usize = 4096;

/// Query-time parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchOptions {
    /// HNSW beam width at level 0; the search uses max(ef_search, k). `None`: chosen by the
    /// index's size ([`default_ef_search`]).
    pub ef_search: Option<usize>,
    /// Threads for exact search.
    pub threads: usize,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            ef_search: None,
            threads: 2,
        }
    }
}

/// Indexes up to this many entries are searched with the narrower beam.
pub const NARROW_BEAM_MAX_ENTRIES: usize = 250_000;

/// The beam width for an index of `entries` entries. Measured with `examples/search_bench.rs`,
/// k = 64: on the Debian Reference index (109,527 entries) with 500 keys of held-out
/// sections as queries (`--query-index`), ef 128 reached recall 0.978 at p50 0.38 ms and
/// ef 256 0.988 at 0.65 ms; on 1M synthetic keys (harder than real ones) ef 128 reached only
/// 0.922, ef 192 0.950 and ef 256 0.959 (p50 1.6 ms). Larger graphs need the wider beam.
pub fn default_ef_search(entries: usize) -> usize {
    if entries <= NARROW_BEAM_MAX_ENTRIES {
        128
    } else {
        256
    }
}

/// Builds the HNSW graph over `keys` and returns the index's graph section bytes,
/// calling `progress(done, total)` as points are inserted.
pub fn build_graph_section(
    keys: KeyMatrix<'_>,
    params: &HnswParams,
    progress: &mut dyn FnMut(usize, usize),
) -> Vec<u8> {
    if keys.is_empty() {
        return Vec::new();
    }
    let words = build::build_graph(keys, params, progress).encode();
    bytemuck::cast_slice(&words).to_vec()
}

/// Commits `writer`, with a graph if it holds at least [`GRAPH_MIN_ENTRIES`] entries.
pub fn commit_with_graph(
    mut writer: DatastoreWriter,
    params: &HnswParams,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), DatastoreError> {
    let graph = if writer.len() >= GRAPH_MIN_ENTRIES {
        let staged = writer.staged_keys()?;
        build_graph_section(staged.matrix(), params, progress)
    } else {
        Vec::new()
    };
    writer.commit(&graph)
}

/// The index's graph cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{path}: the search graph is unreadable ({detail}); rebuild it with `precedent index <folders or files...> --out {path}`")]
pub struct GraphError {
    pub path: PathBuf,
    pub detail: String,
}

/// Searches one opened datastore; shareable between threads.
pub struct NeighbourIndex {
    store: Arc<Datastore>,
    graph: Option<GraphLayout>,
    options: SearchOptions,
    scratch: Mutex<Vec<Scratch>>,
}

impl NeighbourIndex {
    /// Reads the graph directory (a few words; nothing proportional to the index size).
    pub fn new(store: Arc<Datastore>, options: SearchOptions) -> Result<Self, GraphError> {
        let graph = if store.graph_bytes().is_empty() {
            None
        } else {
            let error = |detail: String| GraphError {
                path: store.path().to_path_buf(),
                detail,
            };
            let words: &[u32] =
                bytemuck::try_cast_slice(store.graph_bytes()).map_err(|e| error(e.to_string()))?;
            Some(GraphLayout::parse(words, store.len()).map_err(error)?)
        };
        Ok(NeighbourIndex {
            store,
            graph,
            options,
            scratch: Mutex::new(Vec::new()),
        })
    }

    pub fn store(&self) -> &Arc<Datastore> {
        &self.store
    }

    pub fn has_graph(&self) -> bool {
        self.graph.is_some()
    }

    /// The parameters the graph was built with, if the index has one.
    pub fn graph_params(&self) -> Option<HnswParams> {
        self.graph.as_ref().map(|g| HnswParams {
            m: g.m as usize,
            ef_construction: g.ef_construction as usize,
        })
    }

    pub fn options(&self) -> SearchOptions {
        self.options
    }

    /// The HNSW beam width searches use: the options', else the default for this size.
    pub fn ef_search(&self) -> usize {
        self.options
            .ef_search
            .unwrap_or_else(|| default_ef_search(self.store.len()))
    }

    /// The k nearest entries, nearest first: HNSW when the index has a graph, else exact.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<Hit> {
        self.search_with_ef(query, k, self.ef_search())
    }

    /// As [`search`](Self::search) with an explicit beam width (for measurements).
    pub fn search_with_ef(&self, query: &[f32], k: usize, ef_search: usize) -> Vec<Hit> {
        let Some(layout) = &self.graph else {
            return self.search_exact(query, k);
        };
        let mut scratch = self.take_scratch();
        let words: &[u32] = bytemuck::cast_slice(self.store.graph_bytes());
        let keys = self.store.keys();
        let hits = graph::search(layout, words, keys, query, k, ef_search, &mut scratch);
        self.scratch.lock().expect("scratch pool").push(scratch);
        hits
    }

    fn take_scratch(&self) -> Scratch {
        self.scratch
            .lock()
            .expect("scratch pool")
            .pop()
            .unwrap_or_default()
    }

    /// Exact k nearest entries.
    pub fn search_exact(&self, query: &[f32], k: usize) -> Vec<Hit> {
        exact_search(self.store.keys(), query, k, self.options.threads)
    }

    /// Exact k nearest entries of many queries in one pass over the keys.
    pub fn search_exact_batch(&self, queries: &[&[f32]], k: usize) -> Vec<Vec<Hit>> {
        exact_search_batch(self.store.keys(), queries, k, self.options.threads)
    }

    /// The hits as scoring input: distance and value (next token) of each entry.
    pub fn neighbours(&self, hits: &[Hit]) -> Vec<Neighbour> {
        let values = self.store.values();
        hits.iter()
            .map(|hit| Neighbour {
                distance: hit.distance,
                token: values[hit.entry as usize],
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
