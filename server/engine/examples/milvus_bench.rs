//! How a Milvus index answers against the file index of the same documents: search latency
//! per batch, and recall against exact search.
//!
//! ```text
//! precedent index CORPUS --out team.index            # the file index
//! precedent index CORPUS --out milvus://HOST:PORT/C  # the same documents in Milvus
//! precedent index HELD-OUT --out queries.index       # keys of text the corpus has not seen
//! cargo run --release -p precedent-engine --example milvus_bench -- \
//!     --index team.index --milvus milvus://HOST:PORT/C --queries queries.index
//! ```
//!
//! Prints, side by side in one run: the latency of one Milvus request of `--batch` queries
//! (p50, p90) and per query, one query per request, and the file index's HNSW search of
//! the same queries; then recall@k of both against exact search over the file's keys (the
//! share of returned neighbours no farther than the exact k-th one).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use precedent_engine::datastore::Datastore;
use precedent_engine::milvus::{MilvusIndex, MilvusLocation};
use precedent_engine::search::{NeighbourIndex, SearchOptions};

const USAGE: &str = "milvus_bench --index FILE --milvus milvus://HOST:PORT/COLLECTION --queries FILE [--k 64] [--batch 64] [--batches 20] [--ef N (Milvus HNSW beam; default as for a file index)]";

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut index, mut milvus, mut queries) = (None, None, None);
    let (mut k, mut batch, mut batches, mut ef) = (64usize, 64usize, 20usize, None);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--index" => index = Some(PathBuf::from(value)),
            "--milvus" => milvus = Some(value),
            "--queries" => queries = Some(PathBuf::from(value)),
            "--k" => k = value.parse().expect("--k"),
            "--batch" => batch = value.parse().expect("--batch"),
            "--batches" => batches = value.parse().expect("--batches"),
            "--ef" => ef = Some(value.parse().expect("--ef")),
            _ => panic!("unknown {flag}\n{USAGE}"),
        }
    }
    let store = Arc::new(Datastore::open(&index.expect(USAGE), None).expect("the file index"));
    let location = MilvusLocation::parse(&milvus.expect(USAGE))
        .expect("a milvus:// location")
        .expect("a valid location");
    let mut remote =
        MilvusIndex::open(&location, Some(store.model_fingerprint())).expect("the Milvus index");
    if let Some(ef) = ef {
        remote = remote.with_ef_search(ef);
    }
    let local = NeighbourIndex::new(store.clone(), SearchOptions::default()).expect("graph");
    let query_store =
        Datastore::open(&queries.expect(USAGE), Some(store.model_fingerprint())).expect("queries");
    let wanted = (batch * batches).min(query_store.len());
    let step = (query_store.len() / wanted.max(1)).max(1);
    let queries: Vec<Vec<f32>> = (0..wanted)
        .map(|i| {
            query_store
                .keys()
                .row(i * step)
                .iter()
                .map(|v| v.to_f32())
                .collect()
        })
        .collect();
    println!(
        "file index {} entries; Milvus {} ({} entries); {} queries, k {k}",
        store.len(),
        location,
        remote.len(),
        queries.len()
    );

    let mut batch_ms = Vec::new();
    let mut found = Vec::new();
    for chunk in queries.chunks(batch) {
        let refs: Vec<&[f32]> = chunk.iter().map(Vec::as_slice).collect();
        let started = Instant::now();
        found.extend(remote.search_batch(&refs, k).expect("a search"));
        batch_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let mut single_ms = Vec::new();
    for query in queries.iter().take(batch) {
        let started = Instant::now();
        remote.search_batch(&[query], k).expect("a search");
        single_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let mut file_ms = Vec::new();
    let mut file_found = Vec::new();
    for query in &queries {
        let started = Instant::now();
        file_found.push(local.search(query, k));
        file_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let refs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
    let exact = local.search_exact_batch(&refs, k);
    let recall = |distances: Vec<Vec<f32>>| -> f64 {
        let mut hits = 0usize;
        for (got, truth) in distances.iter().zip(&exact) {
            let kth = truth.last().map_or(f32::INFINITY, |h| h.distance);
            hits += got
                .iter()
                .filter(|&&d| d <= kth * (1.0 + 1e-4) + 1e-6)
                .count()
                .min(truth.len());
        }
        hits as f64 / exact.iter().map(Vec::len).sum::<usize>().max(1) as f64
    };
    let milvus_recall = recall(
        found
            .iter()
            .map(|hits| hits.iter().map(|h| h.neighbour.distance).collect())
            .collect(),
    );
    let file_recall = recall(
        file_found
            .iter()
            .map(|hits| hits.iter().map(|h| h.distance).collect())
            .collect(),
    );
    println!(
        "Milvus, {batch} queries a request: p50 {:.1} ms, p90 {:.1} ms a request ({:.2} ms a query)",
        percentile(&batch_ms, 0.5),
        percentile(&batch_ms, 0.9),
        percentile(&batch_ms, 0.5) / batch as f64
    );
    println!(
        "Milvus, 1 query a request:  p50 {:.1} ms, p90 {:.1} ms",
        percentile(&single_ms, 0.5),
        percentile(&single_ms, 0.9)
    );
    println!(
        "file index HNSW, per query: p50 {:.3} ms, p90 {:.3} ms",
        percentile(&file_ms, 0.5),
        percentile(&file_ms, 0.9)
    );
    println!(
        "recall@{k} against exact search: Milvus {milvus_recall:.3}, file HNSW {file_recall:.3}"
    );
}

fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
        .get(((sorted.len() as f64 - 1.0) * q).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}
