//! An index that lives in a Milvus collection (`milvus://HOST:PORT/COLLECTION`), for teams
//! whose corpus outgrows one file per machine. It holds what an index file holds (each
//! entry's key, next token and provenance; the documents and their sentences; the model
//! fingerprint, encoding and tuned parameters) and answers the same searches:
//!
//! - [`publish`] brings a collection up to date with a built index file, document by
//!   document (by content hash): unchanged documents are not written again.
//! - [`MilvusIndex`] reads it: the catalog (documents, sentences, metadata) once at open,
//!   entries by search. The searches of a block go in one request ([`MilvusIndex::prefetch`])
//!   and every answer is kept for the block's later questions.
//!
//! Milvus scores L2 searches by squared distance, the distance precedent uses, computed
//! exactly for every candidate of an HNSW or FLAT index, and the stored keys are the index
//! file's f16 keys widened to f32: the distances are the ones an index file gives, so no
//! re-ranking with returned vectors is needed (docs/milvus-spike.md measured the equality).

mod collections;
mod connection;
mod location;
mod publish;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use milvus::v2::prelude::*;
use std::result::Result;

use crate::datastore::{DatastoreError, DocumentView, Provenance, SentenceView};
use crate::knn_scoring::Neighbour;
use collections::{CatalogDocument, LAYOUT_VERSION};
use connection::Connection;
pub use location::{redact_credentials, MilvusLocation, TOKEN_VARIABLE};
pub use publish::{publish, PublishReport};

/// Queries per search request: one block's word starts fit in one or two.
const QUERIES_PER_REQUEST: usize = 64;
/// How long a search the writer waits for may take (milvus-lite answers a 64-query batch
/// in 20–55 ms on 2 cores; docs/milvus-spike.md).
const SEARCH_TIMEOUT: Duration = Duration::from_secs(3);
/// After a failed search, searches are skipped this long before the engine is tried again,
/// so that typing never waits on an engine that is down.
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// Searches kept for reuse (each about 2.6 KB at k 64, so about 13 MB); past it the memory
/// starts over, provenance included (a block's questions come together, so a plain reset
/// loses little).
const REMEMBERED_SEARCHES: usize = 5_000;

/// Why a Milvus index cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MilvusError {
    #[error("cannot reach the Milvus engine of {location}: {detail}")]
    Unreachable { location: String, detail: String },
    #[error("{location}: {what} failed: {detail}")]
    Call {
        location: String,
        what: String,
        detail: String,
    },
    #[error("{location} holds no precedent index; build one with `precedent index <folders or files...> --out {location}`")]
    NoIndex { location: String },
    #[error("{location} is inconsistent: {detail}; rebuild it with `precedent index <folders or files...> --out {location}`")]
    Malformed { location: String, detail: String },
    /// The same refusals as for an index file (another model, another format).
    #[error(transparent)]
    Datastore(#[from] DatastoreError),
}

impl MilvusError {
    fn unreachable(location: &MilvusLocation, detail: impl std::fmt::Display) -> MilvusError {
        MilvusError::Unreachable {
            location: location.to_string(),
            detail: detail.to_string(),
        }
    }
}

/// Searches answered, by (query fingerprint, k).
type RememberedSearches = HashMap<(u64, usize), Arc<[MilvusHit]>>;

/// One search result from Milvus: the entry and everything evidence needs about it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MilvusHit {
    pub entry: u64,
    pub neighbour: Neighbour,
    /// `document` is the document's position in this index's catalog.
    pub provenance: Provenance,
}

/// A document of the catalog, as loaded.
struct LoadedDocument {
    path: String,
    content_hash: [u8; 32],
    sentences: Vec<(String, u32, u32)>,
}

/// An opened Milvus index, ready for searches; shareable between threads.
pub struct MilvusIndex {
    connection: Connection,
    location: MilvusLocation,
    model: String,
    key_dim: usize,
    entries: usize,
    metadata: serde_json::Value,
    documents: Vec<LoadedDocument>,
    /// Catalog document number → position in `documents`.
    positions: HashMap<i64, u32>,
    ef_search: usize,
    searches: Mutex<RememberedSearches>,
    provenance: DashMap<u64, Provenance>,
    /// The last failed search and when, until a search succeeds again.
    trouble: Mutex<Option<(String, Instant)>>,
}

impl MilvusIndex {
    /// Connects, reads the catalog and refuses an index built for another model.
    pub fn open(
        location: &MilvusLocation,
        expected_model: Option<&str>,
    ) -> Result<MilvusIndex, MilvusError> {
        let connection = Connection::open(location)?;
        let no_index = || MilvusError::NoIndex {
            location: location.to_string(),
        };
        if !collections::exists(&connection, &location.collection)?
            || !collections::exists(&connection, &location.catalog_collection())?
        {
            return Err(no_index());
        }
        let catalog = collections::read_catalog(&connection)?;
        let stored = catalog.metadata.ok_or_else(no_index)?;
        let path = PathBuf::from(location.to_string());
        if stored.layout != LAYOUT_VERSION {
            return Err(DatastoreError::FormatVersion {
                path,
                found: stored.layout,
                supported: LAYOUT_VERSION,
            }
            .into());
        }
        if let Some(expected) = expected_model.filter(|e| *e != stored.model) {
            return Err(DatastoreError::ModelMismatch {
                path,
                found: stored.model,
                expected: expected.to_string(),
            }
            .into());
        }
        for name in [location.collection.clone(), location.catalog_collection()] {
            collections::load(&connection, &name)?;
        }
        let mut documents = Vec::with_capacity(catalog.documents.len());
        let mut positions = HashMap::with_capacity(catalog.documents.len());
        for (number, document) in catalog.documents {
            let CatalogDocument {
                path,
                hash,
                sentences,
            } = document;
            positions.insert(number, documents.len() as u32);
            documents.push(LoadedDocument {
                path,
                content_hash: hash_from_hex(&hash).unwrap_or([0; 32]),
                sentences,
            });
        }
        let entries = stored.entries;
        Ok(MilvusIndex {
            connection,
            location: location.clone(),
            model: stored.model,
            key_dim: stored.key_dim,
            entries,
            metadata: stored.metadata,
            documents,
            positions,
            // Twice a file index's beam: Milvus's HNSW (faiss in milvus-lite) is built
            // differently. On the Debian Reference (82,664 entries, 1,280 held-out queries,
            // k 64, `examples/milvus_bench.rs`), ef 128 reached recall 0.937–0.948 and ef 256
            // 0.979 (the file index's own graph: 0.98 at 128), at no measurable cost.
            ef_search: 2 * crate::search::default_ef_search(entries),
            searches: Mutex::new(HashMap::new()),
            provenance: DashMap::new(),
            trouble: Mutex::new(None),
        })
    }

    /// Searches with beam width `ef` instead of the default for the index's size.
    pub fn with_ef_search(mut self, ef: usize) -> MilvusIndex {
        self.ef_search = ef;
        self
    }

    pub fn location(&self) -> &MilvusLocation {
        &self.location
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub fn key_dim(&self) -> usize {
        self.key_dim
    }

    pub fn model_fingerprint(&self) -> &str {
        &self.model
    }

    pub fn metadata(&self) -> &serde_json::Value {
        &self.metadata
    }

    pub fn document_count(&self) -> usize {
        self.documents.len()
    }

    pub fn document(&self, id: u32) -> Option<DocumentView<'_>> {
        let document = self.documents.get(id as usize)?;
        Some(DocumentView {
            path: &document.path,
            content_hash: &document.content_hash,
            sentence_count: document.sentences.len() as u32,
        })
    }

    pub fn sentence(&self, document: u32, index: u32) -> Option<SentenceView<'_>> {
        let (text, line, column) = self
            .documents
            .get(document as usize)?
            .sentences
            .get(index as usize)?;
        Some(SentenceView {
            text,
            line: *line,
            column: *column,
        })
    }

    /// The provenance of an entry a search returned.
    pub fn provenance(&self, entry: u64) -> Option<Provenance> {
        self.provenance.get(&entry).map(|p| *p)
    }

    /// The last call that failed, while the engine has not answered since.
    pub fn trouble(&self) -> Option<String> {
        self.trouble
            .lock()
            .expect("trouble")
            .as_ref()
            .map(|(error, _)| error.clone())
    }

    /// The `k` nearest entries to `query`, nearest first: remembered from an earlier
    /// search or prefetch, else searched now. When the engine fails, no neighbours (the
    /// writer still gets the model's suggestions) and [`trouble`](Self::trouble) says why.
    pub fn search(&self, query: &[f32], k: usize) -> Arc<[MilvusHit]> {
        let key = (query_fingerprint(query), k);
        if let Some(hits) = self.searches.lock().expect("searches").get(&key) {
            return hits.clone();
        }
        self.prefetch(&[query], k);
        self.searches
            .lock()
            .expect("searches")
            .get(&key)
            .cloned()
            .unwrap_or_else(|| Arc::from([]))
    }

    /// Searches every query not searched yet, [`QUERIES_PER_REQUEST`] to a request, and
    /// remembers the answers.
    pub fn prefetch(&self, queries: &[&[f32]], k: usize) {
        let missing: Vec<&[f32]> = {
            let searches = self.searches.lock().expect("searches");
            let mut seen = std::collections::HashSet::new();
            queries
                .iter()
                .copied()
                .filter(|q| {
                    let key = (query_fingerprint(q), k);
                    !searches.contains_key(&key) && seen.insert(key)
                })
                .collect()
        };
        let (troubled, resting) = match &*self.trouble.lock().expect("trouble") {
            Some((_, at)) => (true, at.elapsed() < RETRY_AFTER),
            None => (false, false),
        };
        if resting || missing.is_empty() {
            return;
        }
        for batch in missing.chunks(QUERIES_PER_REQUEST) {
            // An engine that restarted serves its collections again only once they are
            // loaded (milvus-lite: "call load() before search").
            let searched = match troubled {
                true => collections::load(&self.connection, &self.location.collection)
                    .and_then(|()| self.search_batch(batch, k)),
                false => self.search_batch(batch, k),
            };
            match searched {
                Ok(found) => {
                    *self.trouble.lock().expect("trouble") = None;
                    let mut searches = self.searches.lock().expect("searches");
                    if searches.len() + found.len() > REMEMBERED_SEARCHES {
                        searches.clear();
                        self.provenance.clear();
                        for hits in &found {
                            for hit in hits {
                                self.provenance.insert(hit.entry, hit.provenance);
                            }
                        }
                    }
                    for (query, hits) in batch.iter().zip(found) {
                        searches.insert((query_fingerprint(query), k), hits.into());
                    }
                }
                Err(error) => {
                    tracing::warn!(index = %self.location, %error, "search failed");
                    *self.trouble.lock().expect("trouble") =
                        Some((error.to_string(), Instant::now()));
                    return;
                }
            }
        }
    }

    /// One search request for `queries`.
    pub fn search_batch(
        &self,
        queries: &[&[f32]],
        k: usize,
    ) -> Result<Vec<Vec<MilvusHit>>, MilvusError> {
        if queries.is_empty() || k == 0 {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let vectors: Vec<Vec<f32>> = queries.iter().map(|q| q.to_vec()).collect();
        let name = self.location.collection.clone();
        let ef = self.ef_search.max(k);
        let results =
            self.connection
                .call_within(SEARCH_TIMEOUT, "Search", move |client| async move {
                    let request = SearchRequest::builder()
                        .collection_name(name)
                        .vector_field(collections::KEY)
                        .vectors(SearchVectors::Float(vectors))
                        .limit(k as i64)
                        .metric_type(MetricType::L2)
                        .extra_params(HashMap::from([("ef".to_string(), ef.to_string())]))
                        .output_fields(collections::PROVENANCE_FIELDS)
                        .consistency_level(ConsistencyLevel::Bounded)
                        .build()?;
                    Ok(client.search(request).await?.results().clone())
                })?;
        let malformed = |detail: &str| MilvusError::Malformed {
            location: self.location.to_string(),
            detail: format!("a search answer {detail}"),
        };
        let lists = results.get_results();
        if lists.len() != queries.len() {
            return Err(malformed(&format!(
                "has {} result lists for {} queries",
                lists.len(),
                queries.len()
            )));
        }
        let mut found = Vec::with_capacity(lists.len());
        for one in lists {
            let Ids::Int64(ids) = one.get_ids() else {
                return Err(malformed("has ids that are not numbers"));
            };
            let scores = one.get_scores();
            let column = |name: &str| -> Result<Vec<i64>, MilvusError> {
                let field = one
                    .get_output_field(name)
                    .ok_or_else(|| malformed(&format!("lacks {name}")))?;
                field
                    .as_int32()
                    .map(|v| v.iter().map(|&x| i64::from(x)).collect())
                    .or_else(|| field.as_int64().map(<[i64]>::to_vec))
                    .ok_or_else(|| malformed(&format!("has a {name} that is not a number")))
            };
            let [token, document, sentence, start, end, line, column] =
                collections::PROVENANCE_FIELDS.map(column);
            let (token, document, sentence, start, end, line, column) =
                (token?, document?, sentence?, start?, end?, line?, column?);
            let mut hits = Vec::with_capacity(ids.len());
            for row in 0..ids.len().min(scores.len()) {
                // An entry of a document missing from the catalog read at open (written
                // since, or left by an interrupted run) has no evidence to show: skipped.
                let Some(&position) = self.positions.get(&document[row]) else {
                    continue;
                };
                let provenance = Provenance {
                    document: position,
                    sentence: sentence[row] as u32,
                    start: start[row] as u32,
                    end: end[row] as u32,
                    line: line[row] as u32,
                    column: column[row] as u32,
                };
                let entry = ids[row] as u64;
                self.provenance.insert(entry, provenance);
                hits.push(MilvusHit {
                    entry,
                    neighbour: Neighbour {
                        distance: scores[row],
                        token: token[row] as u32,
                    },
                    provenance,
                });
            }
            hits.sort_by(|a, b| {
                a.neighbour
                    .distance
                    .total_cmp(&b.neighbour.distance)
                    .then(a.entry.cmp(&b.entry))
            });
            found.push(hits);
        }
        Ok(found)
    }
}

/// A query's identity for the memory of searches: its exact bits.
fn query_fingerprint(query: &[f32]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for value in query {
        value.to_bits().hash(&mut hasher);
    }
    hasher.finish()
}

pub(crate) fn hash_to_hex(hash: &[u8; 32]) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_from_hex(hex: &str) -> Option<[u8; 32]> {
    let mut hash = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hashes_round_trip_through_hex() {
        let hash: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(hash_from_hex(&hash_to_hex(&hash)), Some(hash));
        assert_eq!(hash_from_hex("00"), None);
        assert_eq!(hash_from_hex(&"zz".repeat(32)), None);
    }
}
