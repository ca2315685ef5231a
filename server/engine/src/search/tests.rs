use std::path::Path;
use std::sync::Arc;

use half::f16;

use super::graph::{BuiltGraph, GraphLayout, LevelLists};
use super::*;
use crate::datastore::{DatastoreWriter, DocumentInfo, Provenance, SentenceInfo};
use crate::random::SplitMix64;

/// `n` keys of `dim` values around `clusters` Gaussian centres.
fn clustered_keys(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| 4.0 * rng.normal()).collect())
        .collect();
    (0..n)
        .map(|i| {
            centres[i % clusters]
                .iter()
                .map(|c| c + rng.normal())
                .collect()
        })
        .collect()
}

fn f16_rows(rows: &[Vec<f32>]) -> Vec<f16> {
    rows.iter().flatten().map(|&x| f16::from_f32(x)).collect()
}

/// Writes `keys` into an index (value of entry i = i % 1000) with or without a graph.
fn index_of(path: &Path, keys: &[Vec<f32>], graph: Option<&HnswParams>) -> NeighbourIndex {
    let dim = keys[0].len();
    let mut writer = DatastoreWriter::create(path, "test-model", dim).unwrap();
    writer.add_document(&DocumentInfo {
        path: "a.md".into(),
        content_hash: [0; 32],
        sentences: vec![SentenceInfo {
            text: "x".into(),
            line: 1,
            column: 1,
        }],
    });
    for (i, key) in keys.iter().enumerate() {
        writer
            .push(key, (i % 1000) as u32, Provenance::default())
            .unwrap();
    }
    let section = match graph {
        Some(params) => build_graph_section(
            writer.staged_keys().unwrap().matrix(),
            params,
            &mut |_, _| {},
        ),
        None => Vec::new(),
    };
    writer.commit(&section).unwrap();
    let store = Datastore::open(path, Some("test-model")).unwrap();
    NeighbourIndex::new(Arc::new(store), SearchOptions::default()).unwrap()
}

fn entries(hits: &[Hit]) -> Vec<u32> {
    hits.iter().map(|h| h.entry).collect()
}

#[test]
fn exact_search_on_small_cases() {
    // Keys (0,0) (1,0) (0,2) (3,3) (1,0); query (0.75, 0.25) — all values exact in f16.
    // Squared distances: 0.5625+0.0625 = 0.625; 0.0625+0.0625 = 0.125;
    // 0.5625+3.0625 = 3.625; 5.0625+7.5625 = 12.625; and 0.125 again for entry 4.
    let keys: Vec<f16> = [0.0, 0.0, 1.0, 0.0, 0.0, 2.0, 3.0, 3.0, 1.0, 0.0]
        .iter()
        .map(|&x| f16::from_f32(x))
        .collect();
    let matrix = KeyMatrix::new(&keys, 2);
    let query = [0.75, 0.25];
    let check = |k: usize, expected: &[(u32, f32)]| {
        let hits = exact_search(matrix, &query, k, 1);
        let got: Vec<(u32, f32)> = hits.iter().map(|h| (h.entry, h.distance)).collect();
        assert_eq!(got, expected, "k = {k}");
    };
    check(0, &[]);
    check(1, &[(1, 0.125)]);
    // The tie at 0.125 goes to the lower entry number.
    check(3, &[(1, 0.125), (4, 0.125), (0, 0.625)]);
    check(
        9,
        &[(1, 0.125), (4, 0.125), (0, 0.625), (2, 3.625), (3, 12.625)],
    );
}

#[test]
fn exact_search_is_the_same_in_batches_threads_and_against_a_naive_scan() {
    // 40k rows so that two threads are used.
    let rows = clustered_keys(40_000, 16, 50, 1);
    let keys = f16_rows(&rows);
    let matrix = KeyMatrix::new(&keys, 16);
    let queries = clustered_keys(5, 16, 5, 2);
    let query_refs: Vec<&[f32]> = queries.iter().map(|q| q.as_slice()).collect();
    let batch = exact_search_batch(matrix, &query_refs, 10, 2);
    for (query, batch_hits) in queries.iter().zip(&batch) {
        let mut naive: Vec<Hit> = (0..matrix.len())
            .map(|i| Hit {
                entry: i as u32,
                distance: squared_l2(query, matrix.row(i)),
            })
            .collect();
        naive.sort_by(|a, b| {
            a.distance
                .total_cmp(&b.distance)
                .then(a.entry.cmp(&b.entry))
        });
        naive.truncate(10);
        assert_eq!(batch_hits, &naive);
        assert_eq!(&exact_search(matrix, query, 10, 1), &naive, "one thread");
    }
}

#[test]
fn exact_search_over_f32_cache_keys() {
    // Rows (0,0) (2,0) (0,1), query (0,0.25): d = 0.0625, 4.0625, 0.5625.
    let hits = exact_search_f32([&[0.0, 0.0, 2.0, 0.0, 0.0, 1.0][..]], 2, &[0.0, 0.25], 2);
    assert_eq!(
        hits,
        vec![
            Hit {
                entry: 0,
                distance: 0.0625
            },
            Hit {
                entry: 2,
                distance: 0.5625
            }
        ]
    );
}

#[test]
fn graph_encoding_round_trips_and_rejects_damage() {
    // 3 nodes; node 2 is also at level 1 alone (the entry).
    let graph = BuiltGraph {
        node_count: 3,
        entry: 2,
        m: 4,
        ef_construction: 10,
        levels: vec![
            LevelLists {
                nodes: vec![],
                lists: vec![vec![1, 2], vec![0], vec![0, 1]],
            },
            LevelLists {
                nodes: vec![2],
                lists: vec![vec![]],
            },
        ],
    };
    let words = graph.encode();
    // header 8 + level 0: offsets 4 + neighbours 5 + level 1: count 1, nodes 1, offsets 2.
    assert_eq!(words.len(), 8 + 4 + 5 + 1 + 1 + 2);
    let layout = GraphLayout::parse(&words, 3).unwrap();
    assert_eq!((layout.entry, layout.level_count(), layout.m), (2, 2, 4));
    assert!(
        GraphLayout::parse(&words, 4).is_err(),
        "node count must match the keys"
    );
    assert!(
        GraphLayout::parse(&words[..words.len() - 1], 3).is_err(),
        "truncated"
    );
    let mut extra = words.clone();
    extra.push(0);
    assert!(GraphLayout::parse(&extra, 3).is_err(), "trailing words");
    let mut bad_magic = words;
    bad_magic[0] ^= 1;
    assert!(GraphLayout::parse(&bad_magic, 3).is_err(), "magic");
}

#[test]
fn hnsw_recall_on_a_clustered_set() {
    let dir = tempfile::tempdir().unwrap();
    let keys = clustered_keys(2_000, 16, 40, 3);
    let index = index_of(
        &dir.path().join("hnsw.index"),
        &keys,
        Some(&HnswParams::default()),
    );
    assert!(index.has_graph());
    let queries = clustered_keys(50, 16, 40, 4);
    for k in [10, 64] {
        let mut found = 0;
        for query in &queries {
            let approximate = index.search(query, k);
            let exact = index.search_exact(query, k);
            assert_eq!(approximate.len(), k);
            assert!(
                approximate
                    .windows(2)
                    .all(|w| w[0].distance <= w[1].distance),
                "nearest first"
            );
            let truth = entries(&exact);
            found += entries(&approximate)
                .iter()
                .filter(|e| truth.contains(e))
                .count();
        }
        let recall = found as f64 / (k * queries.len()) as f64;
        assert!(recall >= 0.95, "recall@{k} = {recall}");
    }
}

#[test]
fn an_index_without_graph_searches_exactly_and_reports_values() {
    let dir = tempfile::tempdir().unwrap();
    let keys = clustered_keys(1_500, 8, 10, 5);
    let index = index_of(&dir.path().join("small.index"), &keys, None);
    assert!(!index.has_graph());
    let query = &keys[1234];
    let hits = index.search(query, 3);
    assert_eq!(
        hits[0].entry, 1234,
        "a stored key is its own nearest neighbour"
    );
    let neighbours = index.neighbours(&hits);
    assert_eq!(
        neighbours[0].token, 234,
        "value of entry 1234 is 1234 % 1000"
    );
    assert_eq!(neighbours[0].distance, hits[0].distance);
}
