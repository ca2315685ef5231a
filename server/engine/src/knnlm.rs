//! The kNN-LM next-token distribution for a context: the language model's prediction,
//! the corpus neighbours of the context's key (and, optionally, earlier positions of the
//! document being written), p_kNN over them and the interpolation (docs/method.md).

use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::datastore::{Datastore, DocumentView, Provenance, SentenceView};
use crate::knn_scoring::{self, AdaptiveLambda, KnnDistribution, Neighbour};
use crate::lexicon::{Lexicon, SentenceRef};
use crate::milvus::MilvusIndex;
use crate::search::{exact_search_f32, NeighbourIndex};
use crate::stated_rules::StatedRules;

/// How many of the most recent positions the document cache leaves out by default (see
/// [`KnnParams::cache_skip_recent`]). Measured with `eval --tune` on 45 held-out Debian
/// Reference sections, cache on: skipping 0, 1, 2, 4, 8, 16 positions gave kNN-LM
/// perplexity 15.01, 14.88, 14.83, 14.74, 14.71, 14.80 (adaptive λ) and 15.40, 15.28,
/// 15.24, 15.18, 15.20, 15.34 (global λ); the other halving of the documents agreed. 4 and
/// 8 are equal within noise, and 4 leaves more of a short document searchable.
pub const DEFAULT_CACHE_SKIP_RECENT: usize = 4;

/// Retrieval and interpolation parameters. λ and T are tuned per index (`precedent eval
/// --tune --save`); these defaults are only the starting point of an untuned index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnParams {
    /// Neighbours retrieved from the corpus per query.
    pub k: usize,
    pub lambda: f32,
    pub temperature: f32,
    /// λ by nearest distance; used instead of `lambda` when present.
    pub adaptive_lambda: Option<AdaptiveLambda>,
    /// Also retrieve among the earlier positions of the document being written.
    pub document_cache: bool,
    /// The document cache leaves out this many of the positions right before the query:
    /// adjacent contexts have near-identical keys, so they would otherwise dominate the
    /// softmax and push towards repeating the last tokens. (Indexes saved before this
    /// setting existed get the default.)
    #[serde(default = "default_cache_skip_recent")]
    pub cache_skip_recent: usize,
}

fn default_cache_skip_recent() -> usize {
    DEFAULT_CACHE_SKIP_RECENT
}

impl Default for KnnParams {
    fn default() -> Self {
        // docs/method.md: measured λ ≈ 0.07–0.15 and T ≈ 1.65 for this model's keys.
        KnnParams {
            k: 64,
            lambda: 0.15,
            temperature: 2.0,
            adaptive_lambda: None,
            document_cache: true,
            cache_skip_recent: DEFAULT_CACHE_SKIP_RECENT,
        }
    }
}

impl KnnParams {
    /// The parameters saved in an index's metadata by tuning, else the defaults.
    pub fn from_metadata(metadata: &serde_json::Value) -> KnnParams {
        metadata
            .get("knn")
            .and_then(|value| serde_json::from_value(value.clone()).ok())
            .unwrap_or_default()
    }
}

/// Parameters a user sets over an index's tuned ones; `None` keeps the index's value.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KnnOverrides {
    pub k: Option<usize>,
    /// A global λ; it replaces the index's distance-dependent λ table too.
    pub lambda: Option<f32>,
    pub temperature: Option<f32>,
    pub document_cache: Option<bool>,
    pub cache_skip_recent: Option<usize>,
    /// `Some(false)`: the global λ even where the index has a distance-dependent λ table.
    pub adaptive_lambda: Option<bool>,
}

impl KnnParams {
    /// These parameters with `overrides` applied.
    pub fn with_overrides(mut self, overrides: &KnnOverrides) -> KnnParams {
        if let Some(k) = overrides.k {
            self.k = k;
        }
        if let Some(lambda) = overrides.lambda {
            self.lambda = lambda;
            self.adaptive_lambda = None;
        }
        if let Some(temperature) = overrides.temperature {
            self.temperature = temperature;
        }
        if let Some(document_cache) = overrides.document_cache {
            self.document_cache = document_cache;
        }
        if let Some(skip) = overrides.cache_skip_recent {
            self.cache_skip_recent = skip;
        }
        if overrides.adaptive_lambda == Some(false) {
            self.adaptive_lambda = None;
        }
        self
    }
}

/// Where a neighbour came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighbourSource {
    /// An entry of one of the corpus indexes searched (its position in the slice passed to
    /// [`predict_knn`]).
    Corpus { corpus: usize, entry: u64 },
    /// Token position in the document being written (its key predicted this position).
    Document(usize),
}

/// A neighbour with its weight in p_kNN.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WeightedNeighbour {
    pub source: NeighbourSource,
    pub token: u32,
    pub distance: f32,
    pub weight: f32,
}

/// Keys and next tokens of the earlier positions of one document (the continuous cache),
/// in document order. Entries come one at a time ([`push`](Self::push)) or as a run of
/// keys shared with whoever computed them ([`push_shared`](Self::push_shared)), so that a
/// server can build one per keystroke from its analysed blocks without copying their keys.
#[derive(Clone, Debug, Default)]
pub struct DocumentCache {
    /// Runs of entries in order; only the last may grow.
    runs: Vec<CacheRun>,
    dim: usize,
}

#[derive(Clone, Debug)]
struct CacheRun {
    keys: RunKeys,
    /// Entry `i` of the run has the key `keys[(first + i) * dim..]` and the next token `tokens[i]`.
    first: usize,
    tokens: Vec<u32>,
}

#[derive(Clone, Debug)]
enum RunKeys {
    Owned(Vec<f32>),
    Shared(Arc<[f32]>),
}

impl CacheRun {
    fn keys(&self, dim: usize) -> &[f32] {
        let keys: &[f32] = match &self.keys {
            RunKeys::Owned(keys) => keys,
            RunKeys::Shared(keys) => keys,
        };
        &keys[self.first * dim..(self.first + self.tokens.len()) * dim]
    }
}

impl DocumentCache {
    pub fn new(dim: usize) -> DocumentCache {
        DocumentCache {
            runs: Vec::new(),
            dim,
        }
    }

    /// Adds the key of a context and the token that followed it.
    pub fn push(&mut self, key: &[f32], next_token: u32) {
        assert_eq!(key.len(), self.dim, "key dimension");
        match self.runs.last_mut() {
            Some(CacheRun {
                keys: RunKeys::Owned(keys),
                tokens,
                ..
            }) => {
                keys.extend_from_slice(key);
                tokens.push(next_token);
            }
            _ => self.runs.push(CacheRun {
                keys: RunKeys::Owned(key.to_vec()),
                first: 0,
                tokens: vec![next_token],
            }),
        }
    }

    /// Adds `next_tokens.len()` entries whose keys are rows `first..` of `keys` (rows of
    /// this cache's dimension), shared rather than copied.
    pub fn push_shared(&mut self, keys: Arc<[f32]>, first: usize, next_tokens: Vec<u32>) {
        assert!(
            (first + next_tokens.len()) * self.dim <= keys.len(),
            "{} entries from row {first} of {} keys",
            next_tokens.len(),
            keys.len() / self.dim.max(1)
        );
        if !next_tokens.is_empty() {
            self.runs.push(CacheRun {
                keys: RunKeys::Shared(keys),
                first,
                tokens: next_tokens,
            });
        }
    }

    pub fn len(&self) -> usize {
        self.runs.iter().map(|run| run.tokens.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k` nearest entries to `query` by squared L2, nearest first (ties: the earlier
    /// position first), leaving out the `skip_recent` most recently added entries.
    /// Positions count entries from the first one added.
    pub(crate) fn nearest(
        &self,
        query: &[f32],
        k: usize,
        skip_recent: usize,
    ) -> Vec<(usize, Neighbour)> {
        let mut left = self.len().saturating_sub(skip_recent);
        let segments = self.runs.iter().map_while(|run| {
            let entries = run.tokens.len().min(left);
            left -= entries;
            (entries > 0).then(|| &run.keys(self.dim)[..entries * self.dim])
        });
        exact_search_f32(segments, self.dim, query, k)
            .into_iter()
            .filter_map(|hit| {
                let position = hit.entry as usize;
                let neighbour = Neighbour {
                    distance: hit.distance,
                    token: self.token(position)?,
                };
                Some((position, neighbour))
            })
            .collect()
    }

    /// The next token of entry `position` (counted from the first entry added).
    fn token(&self, mut position: usize) -> Option<u32> {
        for run in &self.runs {
            match run.tokens.get(position) {
                Some(&token) => return Some(token),
                None => position -= run.tokens.len(),
            }
        }
        None
    }
}

/// Where a corpus index's entries are searched: an index file (memory-mapped, with its
/// graph) or a Milvus collection.
pub enum IndexEntries {
    File(NeighbourIndex),
    Milvus(Box<MilvusIndex>),
}

/// A corpus index ready for queries.
pub struct CorpusIndex {
    pub entries: IndexEntries,
    pub params: KnnParams,
    /// Counted from the stored sentences when first asked for.
    lexicon: OnceLock<Lexicon>,
    /// Read from the stored sentences when first asked for.
    stated_rules: OnceLock<StatedRules>,
}

impl CorpusIndex {
    pub fn new(index: NeighbourIndex, params: KnnParams) -> CorpusIndex {
        CorpusIndex::with_entries(IndexEntries::File(index), params)
    }

    pub fn with_entries(entries: IndexEntries, params: KnnParams) -> CorpusIndex {
        CorpusIndex {
            entries,
            params,
            lexicon: OnceLock::new(),
            stated_rules: OnceLock::new(),
        }
    }

    /// The index file, when the entries are in one (for what only a file has: saving tuned
    /// parameters, checksums, the graph).
    pub fn file(&self) -> Option<&Arc<Datastore>> {
        match &self.entries {
            IndexEntries::File(index) => Some(index.store()),
            IndexEntries::Milvus(_) => None,
        }
    }

    /// The index file's path or the Milvus location, for messages.
    pub fn location(&self) -> String {
        match &self.entries {
            IndexEntries::File(index) => index.store().path().display().to_string(),
            IndexEntries::Milvus(index) => index.location().to_string(),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        match &self.entries {
            IndexEntries::File(index) => index.store().len(),
            IndexEntries::Milvus(index) => index.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stored metadata (encoding options, tuned λ, T, ...).
    pub fn metadata(&self) -> &serde_json::Value {
        match &self.entries {
            IndexEntries::File(index) => index.store().metadata(),
            IndexEntries::Milvus(index) => index.metadata(),
        }
    }

    pub fn document_count(&self) -> usize {
        match &self.entries {
            IndexEntries::File(index) => index.store().document_count(),
            IndexEntries::Milvus(index) => index.document_count(),
        }
    }

    pub fn document(&self, id: u32) -> Option<DocumentView<'_>> {
        match &self.entries {
            IndexEntries::File(index) => index.store().document(id),
            IndexEntries::Milvus(index) => index.document(id),
        }
    }

    /// Sentence `index` of document `document` (as in [`Provenance`]).
    pub fn sentence(&self, document: u32, index: u32) -> Option<SentenceView<'_>> {
        match &self.entries {
            IndexEntries::File(file) => file.store().sentence(document, index),
            IndexEntries::Milvus(milvus) => milvus.sentence(document, index),
        }
    }

    /// Where entry `entry` (as a search returned it) came from.
    pub fn provenance(&self, entry: u64) -> Option<Provenance> {
        match &self.entries {
            IndexEntries::File(index) => index
                .store()
                .provenance()
                .get(usize::try_from(entry).ok()?)
                .copied(),
            IndexEntries::Milvus(index) => index.provenance(entry),
        }
    }

    /// The `k` nearest entries to `query`, nearest first, with their entry numbers.
    pub fn nearest(&self, query: &[f32], k: usize) -> Vec<(Neighbour, u64)> {
        match &self.entries {
            IndexEntries::File(index) => {
                let hits = index.search(query, k);
                let neighbours = index.neighbours(&hits);
                neighbours
                    .into_iter()
                    .zip(hits.iter().map(|h| u64::from(h.entry)))
                    .collect()
            }
            IndexEntries::Milvus(index) => index
                .search(query, k)
                .iter()
                .map(|h| (h.neighbour, h.entry))
                .collect(),
        }
    }

    /// Searches all of `queries` ahead of their [`nearest`](Self::nearest) calls, where one
    /// request for many is cheaper than one each (a Milvus collection); a file needs none.
    pub fn prefetch(&self, queries: &[&[f32]], k: usize) {
        if let IndexEntries::Milvus(index) = &self.entries {
            index.prefetch(queries, k);
        }
    }

    /// Why the last search could not be answered, while the index is failing (a Milvus
    /// engine that is unreachable); `None` for a file.
    pub fn trouble(&self) -> Option<String> {
        match &self.entries {
            IndexEntries::File(_) => None,
            IndexEntries::Milvus(index) => index.trouble(),
        }
    }

    /// The words the corpus writes, and how often.
    pub fn lexicon(&self) -> &Lexicon {
        self.lexicon
            .get_or_init(|| Lexicon::from_corpus_sentences(self.sentences()))
    }

    /// The word choices the corpus states as rules ("Write select, not click").
    pub fn stated_rules(&self) -> &StatedRules {
        self.stated_rules
            .get_or_init(|| StatedRules::from_corpus_sentences(|| self.sentences()))
    }

    /// Every stored sentence, document by document.
    fn sentences(&self) -> impl Iterator<Item = (SentenceRef, &str)> {
        (0..self.document_count() as u32).flat_map(move |document| {
            let count = self.document(document).map_or(0, |d| d.sentence_count);
            (0..count).filter_map(move |sentence| {
                let text = self.sentence(document, sentence)?.text;
                Some((SentenceRef { document, sentence }, text))
            })
        })
    }
}

/// Searches `queries` ahead in every corpus (see [`CorpusIndex::prefetch`]).
pub fn prefetch(corpora: &[&CorpusIndex], queries: &[&[f32]], k: usize) {
    for corpus in corpora {
        corpus.prefetch(queries, k);
    }
}

/// The kNN side of one prediction: p_kNN, λ and the neighbours behind it.
#[derive(Clone, Debug)]
pub struct KnnPrediction {
    pub distribution: KnnDistribution,
    pub neighbours: Vec<WeightedNeighbour>,
    pub lambda: f32,
}

impl KnnPrediction {
    /// The interpolated log-probability of `token` given its LM log-probability.
    pub fn interpolate(&self, log_p_lm: f32, token: u32) -> f32 {
        knn_scoring::interpolate(log_p_lm, self.distribution.log_prob(token), self.lambda)
    }
}

/// Retrieves the neighbours of `query` (the k nearest over all `corpora` together, and
/// the document cache when enabled) and computes p_kNN. `None` when there is nothing to
/// retrieve from.
pub fn predict_knn(
    corpora: &[&CorpusIndex],
    cache: Option<&DocumentCache>,
    params: &KnnParams,
    query: &[f32],
) -> Option<KnnPrediction> {
    let (mut neighbours, mut sources) = corpus_neighbours(corpora, params.k, query);
    if let Some(cache) = cache.filter(|_| params.document_cache) {
        for (position, neighbour) in cache.nearest(query, params.k, params.cache_skip_recent) {
            neighbours.push(neighbour);
            sources.push(NeighbourSource::Document(position));
        }
    }
    prediction_from_neighbours(&neighbours, Some(&sources), params)
}

/// The `k` nearest corpus entries to `query` over all `corpora`, nearest first, with
/// their sources. With one corpus this is that index's search.
pub fn corpus_neighbours(
    corpora: &[&CorpusIndex],
    k: usize,
    query: &[f32],
) -> (Vec<Neighbour>, Vec<NeighbourSource>) {
    let mut found: Vec<(Neighbour, NeighbourSource)> = Vec::new();
    for (corpus, index) in corpora.iter().enumerate() {
        found.extend(
            index
                .nearest(query, k)
                .into_iter()
                .map(|(n, entry)| (n, NeighbourSource::Corpus { corpus, entry })),
        );
    }
    if corpora.len() > 1 {
        found.sort_by(|a, b| a.0.distance.total_cmp(&b.0.distance));
        found.truncate(k);
    }
    found.into_iter().unzip()
}

/// p_kNN and λ from already retrieved neighbours (`sources`, when given, label the neighbours;
/// without them the neighbour list is empty). `None` when there are no neighbours.
pub fn prediction_from_neighbours(
    neighbours: &[Neighbour],
    sources: Option<&[NeighbourSource]>,
    params: &KnnParams,
) -> Option<KnnPrediction> {
    if neighbours.is_empty() {
        return None;
    }
    let distribution = knn_scoring::knn_distribution(neighbours, params.temperature);
    let nearest = neighbours
        .iter()
        .map(|n| n.distance)
        .fold(f32::INFINITY, f32::min);
    let lambda = match &params.adaptive_lambda {
        Some(table) => table.lambda_for_distance(nearest),
        None => params.lambda,
    };
    let mut neighbours: Vec<WeightedNeighbour> = sources
        .unwrap_or(&[])
        .iter()
        .zip(neighbours)
        .zip(&distribution.weights)
        .map(|((&source, n), &weight)| WeightedNeighbour {
            source,
            token: n.token,
            distance: n.distance,
            weight,
        })
        .collect();
    neighbours.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    Some(KnnPrediction {
        distribution,
        neighbours,
        lambda,
    })
}

/// The `n` most probable tokens under the interpolated distribution, as
/// (token, log p, log p_LM, p_kNN). Candidates are the LM's top tokens and every
/// retrieved token, so a token the corpus favours is never missed.
pub fn top_tokens(
    log_p_lm: &[f32],
    knn: Option<&KnnPrediction>,
    n: usize,
) -> Vec<(u32, f32, f32, f32)> {
    let mut candidates: Vec<u32> = top_indices(log_p_lm, n.max(8) * 4);
    if let Some(knn) = knn {
        candidates.extend(knn.distribution.tokens.iter().map(|&(t, _)| t));
    }
    candidates.sort_unstable();
    candidates.dedup();
    let mut scored: Vec<(u32, f32, f32, f32)> = candidates
        .into_iter()
        .map(|token| {
            let lm = log_p_lm[token as usize];
            match knn {
                Some(knn) => (
                    token,
                    knn.interpolate(lm, token),
                    lm,
                    knn.distribution.prob(token),
                ),
                None => (token, lm, lm, 0.0),
            }
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.truncate(n);
    scored
}

/// Indices of the `n` largest values, largest first; among equal values the lower index
/// first. One pass that keeps the best `n` so far: a vocabulary row has few values above
/// the running n-th largest, so this is a scan, not a sort.
pub(crate) fn top_indices(values: &[f32], n: usize) -> Vec<u32> {
    let n = n.min(values.len());
    if n == 0 {
        return Vec::new();
    }
    let ranks_before = |a: u32, b: u32| {
        values[b as usize]
            .total_cmp(&values[a as usize])
            .then(a.cmp(&b))
    };
    let mut best: Vec<u32> = (0..n as u32).collect();
    best.sort_by(|&a, &b| ranks_before(a, b));
    let mut threshold = values[best[n - 1] as usize];
    for (index, value) in values.iter().enumerate().skip(n) {
        // Later indices lose ties, so only a strictly larger value gets in.
        if value.total_cmp(&threshold).is_gt() {
            let at = best.partition_point(|&b| values[b as usize].total_cmp(value).is_ge());
            best.pop();
            best.insert(at, index as u32);
            threshold = values[best[n - 1] as usize];
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_indices_are_the_largest_values_in_order() {
        // (values, n, expected indices)
        let cases: [(&[f32], usize, &[u32]); 6] = [
            (&[], 3, &[]),
            (&[1.0, 2.0], 0, &[]),
            (&[0.5, 3.0, -1.0, 2.0], 2, &[1, 3]),
            (&[0.5, 3.0, -1.0, 2.0], 9, &[1, 3, 0, 2]),
            (&[1.0, 1.0, 2.0, 1.0], 3, &[2, 0, 1]),
            (&[-5.0, -4.0, -3.0, -2.0, -1.0], 2, &[4, 3]),
        ];
        for (values, n, expected) in cases {
            assert_eq!(top_indices(values, n), expected, "{values:?}, n {n}");
        }
        // A vocabulary-sized row against a full sort, with many ties.
        let mut random = crate::random::SplitMix64(3);
        let row: Vec<f32> = (0..49_152)
            .map(|_| (random.normal() * 4.0).round())
            .collect();
        let mut sorted: Vec<u32> = (0..row.len() as u32).collect();
        sorted.sort_by(|&a, &b| row[b as usize].total_cmp(&row[a as usize]).then(a.cmp(&b)));
        assert_eq!(top_indices(&row, 32), sorted[..32]);
    }

    #[test]
    fn a_cache_of_shared_runs_searches_like_one_built_by_pushes() {
        // Entry i has the 1-d key i and the next token 100 + i, i = 0..11; the runs are
        // shared rows 1..4 of [-5, 0, 1, 2], pushes 3 and 4, shared rows 0..6 of [5..11).
        let mut flat = DocumentCache::new(1);
        for i in 0..11 {
            flat.push(&[i as f32], 100 + i);
        }
        let mut runs = DocumentCache::new(1);
        runs.push_shared(Arc::from([-5.0, 0.0, 1.0, 2.0]), 1, vec![100, 101, 102]);
        runs.push(&[3.0], 103);
        runs.push(&[4.0], 104);
        runs.push_shared(
            Arc::from([5.0, 6.0, 7.0, 8.0, 9.0, 10.0]),
            0,
            (105..111).collect(),
        );
        assert_eq!(runs.len(), flat.len());
        // (query, k, skip_recent)
        for (query, k, skip) in [
            (0.2, 3, 0),
            (4.4, 4, 0),
            (9.6, 3, 0),
            (9.6, 3, 4),
            (3.0, 11, 8),
            (7.0, 2, 11),
            (2.5, 2, 0),
            (4.5, 1, 0),
        ] {
            assert_eq!(
                runs.nearest(&[query], k, skip),
                flat.nearest(&[query], k, skip),
                "query {query}, k {k}, skip {skip}"
            );
        }
    }

    #[test]
    fn document_cache_joins_the_same_softmax() {
        // Two cached positions at squared distances 1 and 4 (T = 1, no corpus):
        // weights e^-1/(e^-1+e^-4) and e^-4/(e^-1+e^-4).
        let mut cache = DocumentCache::new(2);
        cache.push(&[1.0, 0.0], 7);
        cache.push(&[2.0, 0.0], 9);
        let params = KnnParams {
            k: 8,
            lambda: 0.5,
            temperature: 1.0,
            adaptive_lambda: None,
            document_cache: true,
            cache_skip_recent: 0,
        };
        let prediction = predict_knn(&[], Some(&cache), &params, &[0.0, 0.0]).unwrap();
        let expected = (-1f32).exp() / ((-1f32).exp() + (-4f32).exp());
        assert!((prediction.distribution.prob(7) - expected).abs() < 1e-6);
        assert_eq!(
            prediction.neighbours[0].source,
            NeighbourSource::Document(0)
        );
        // λ = 0.5: p = 0.5 p_LM + 0.5 p_kNN; with p_LM(7) = 0.1 → 0.05 + 0.5·expected.
        let p = prediction.interpolate(0.1f32.ln(), 7).exp();
        assert!((p - (0.05 + 0.5 * expected)).abs() < 1e-6);
    }

    #[test]
    fn document_cache_leaves_out_the_most_recent_positions() {
        // Cached keys 3, 2, 1 (oldest first) predicting tokens 10, 20, 30; the query 0 is
        // nearest to the most recent one. Squared distances 9, 4, 1; T = 1.
        let mut cache = DocumentCache::new(1);
        for (key, token) in [(3.0, 10), (2.0, 20), (1.0, 30)] {
            cache.push(&[key], token);
        }
        let e = |d: f32| (-d).exp();
        // (positions left out, expected (position, token, p_kNN) nearest first)
        type Expected = Vec<(usize, u32, f32)>;
        let cases: [(usize, Expected); 5] = [
            (
                0,
                vec![
                    (2, 30, e(1.0) / (e(1.0) + e(4.0) + e(9.0))),
                    (1, 20, e(4.0) / (e(1.0) + e(4.0) + e(9.0))),
                    (0, 10, e(9.0) / (e(1.0) + e(4.0) + e(9.0))),
                ],
            ),
            (
                1,
                vec![
                    (1, 20, e(4.0) / (e(4.0) + e(9.0))),
                    (0, 10, e(9.0) / (e(4.0) + e(9.0))),
                ],
            ),
            (2, vec![(0, 10, 1.0)]),
            (3, vec![]),
            (7, vec![]),
        ];
        for (skip, expected) in cases {
            let params = KnnParams {
                k: 8,
                temperature: 1.0,
                document_cache: true,
                cache_skip_recent: skip,
                ..KnnParams::default()
            };
            let prediction = predict_knn(&[], Some(&cache), &params, &[0.0]);
            let got: Vec<(usize, u32, f32)> = prediction
                .iter()
                .flat_map(|p| &p.neighbours)
                .map(|e| match e.source {
                    NeighbourSource::Document(position) => (position, e.token, e.weight),
                    NeighbourSource::Corpus { .. } => unreachable!("no corpus"),
                })
                .collect();
            assert_eq!(got.len(), expected.len(), "skip {skip}: {got:?}");
            for (g, x) in got.iter().zip(&expected) {
                assert_eq!((g.0, g.1), (x.0, x.1), "skip {skip}");
                assert!((g.2 - x.2).abs() < 1e-6, "skip {skip}: {g:?} vs {x:?}");
            }
        }
    }

    #[test]
    fn params_saved_before_the_skip_existed_still_load() {
        let metadata = serde_json::json!({"knn": {
            "k": 32, "lambda": 0.3, "temperature": 1.5,
            "adaptive_lambda": null, "document_cache": false
        }});
        let params = KnnParams::from_metadata(&metadata);
        assert_eq!(
            params,
            KnnParams {
                k: 32,
                lambda: 0.3,
                temperature: 1.5,
                adaptive_lambda: None,
                document_cache: false,
                cache_skip_recent: DEFAULT_CACHE_SKIP_RECENT,
            }
        );
    }

    #[test]
    fn document_cache_is_ignored_when_switched_off() {
        let mut cache = DocumentCache::new(1);
        cache.push(&[0.0], 3);
        let params = KnnParams {
            document_cache: false,
            ..KnnParams::default()
        };
        assert!(predict_knn(&[], Some(&cache), &params, &[0.0]).is_none());
    }

    #[test]
    fn top_tokens_include_corpus_favourites_the_lm_ranks_low() {
        // LM: token 0 is likely, token 5 is not; the corpus retrieved only token 5.
        let mut log_p_lm = vec![(1e-4f32).ln(); 100];
        log_p_lm[0] = 0.5f32.ln();
        let mut cache = DocumentCache::new(1);
        cache.push(&[0.0], 5);
        let params = KnnParams {
            k: 4,
            lambda: 0.9,
            temperature: 1.0,
            adaptive_lambda: None,
            document_cache: true,
            cache_skip_recent: 0,
        };
        let knn = predict_knn(&[], Some(&cache), &params, &[0.0]).unwrap();
        let top = top_tokens(&log_p_lm, Some(&knn), 2);
        // p(5) = 0.1·1e-4 + 0.9·1 ≈ 0.9; p(0) = 0.1·0.5 = 0.05.
        assert_eq!(top[0].0, 5);
        assert!((top[0].1.exp() - (0.1 * 1e-4 + 0.9)).abs() < 1e-5);
        assert_eq!(top[1].0, 0);
    }
}
