//! Search benchmark on synthetic keys that look like LM hidden states.
//!
//! ```text
//! cargo run --release -p precedent-engine --example search_bench -- --entries 100000
//! ```
//!
//! Builds an index (f16 keys, HNSW graph), reopens it, and prints: build time, bytes per
//! entry on disk, load time (warm, and cold with `--cold`), p50/p95 latency of search +
//! kNN scoring at each k and ef, recall@k of HNSW against exact search, exact-search
//! latency, and peak RSS. `--keys FILE` builds from real keys (raw f16 rows, e.g. dumped
//! from the model; the last `--queries` rows are held out as queries). `--index PATH`
//! reuses an index this benchmark built and kept with `--out PATH`.
//!
//! The synthetic keys: clusters with Zipf-distributed sizes (frequent contexts), variation
//! inside clusters along a few shared directions, a little isotropic noise, per-dimension
//! scales that vary (log-normal) and a few dimensions with large values. The parameters
//! are set so that neighbourhoods have the contrast of real keys: on 100k SmolLM2 keys
//! (crate READMEs) the median query has d64/d1 = 2.38 and d_median/d64 = 3.06; these keys
//! give 2.40 and 3.29. (Isotropic noise flattens neighbourhoods: an earlier generator with
//! 32 directions and more noise had d64/d1 = 1.55 and was far harder than real keys.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use half::f16;
use precedent_engine::datastore::{
    Datastore, DatastoreWriter, DocumentInfo, Provenance, SentenceInfo,
};
use precedent_engine::knn_scoring::knn_distribution;
use precedent_engine::random::SplitMix64;
use precedent_engine::search::{self, Hit, HnswParams, NeighbourIndex, SearchOptions};

const USAGE: &str =
    "search_bench [--entries N] [--dim D] [--queries Q] [--k 64,1024] [--ef 64,128,...]
             [--m M] [--ef-construction E] [--exact-queries Q] [--out PATH | --index PATH] [--cold]
             [--keys FILE (raw f16 rows: the last --queries rows are the queries)]
             [--query-index PATH (queries: the keys of another index with the same model,
              e.g. one built from held-out documents; spread evenly over its entries)]
             [--fingerprint F (model fingerprint written into --out, so a server with that
              model opens the index: for measuring the server's memory on a large index)]";

struct Args {
    entries: usize,
    dim: usize,
    queries: usize,
    ks: Vec<usize>,
    efs: Option<Vec<usize>>,
    params: HnswParams,
    exact_queries: usize,
    out: Option<PathBuf>,
    existing: Option<PathBuf>,
    keys_file: Option<PathBuf>,
    query_index: Option<PathBuf>,
    cold: bool,
    fingerprint: String,
}

fn parse_args() -> Args {
    let mut args = Args {
        entries: 100_000,
        dim: 576,
        queries: 200,
        ks: vec![64, 1024],
        efs: None,
        params: HnswParams::default(),
        exact_queries: 20,
        out: None,
        existing: None,
        keys_file: None,
        query_index: None,
        cold: false,
        fingerprint: "bench".to_string(),
    };
    let mut it = std::env::args().skip(1);
    let list =
        |v: String| -> Vec<usize> { v.split(',').map(|x| x.parse().expect(USAGE)).collect() };
    while let Some(flag) = it.next() {
        let mut value = || it.next().expect(USAGE);
        match flag.as_str() {
            "--entries" => args.entries = value().parse().expect(USAGE),
            "--dim" => args.dim = value().parse().expect(USAGE),
            "--queries" => args.queries = value().parse().expect(USAGE),
            "--k" => args.ks = list(value()),
            "--ef" => args.efs = Some(list(value())),
            "--m" => args.params.m = value().parse().expect(USAGE),
            "--ef-construction" => args.params.ef_construction = value().parse().expect(USAGE),
            "--exact-queries" => args.exact_queries = value().parse().expect(USAGE),
            "--out" => args.out = Some(value().into()),
            "--index" => args.existing = Some(value().into()),
            "--keys" => args.keys_file = Some(value().into()),
            "--query-index" => args.query_index = Some(value().into()),
            "--cold" => args.cold = true,
            "--fingerprint" => args.fingerprint = value(),
            _ => panic!("unknown argument {flag}\nusage: {USAGE}"),
        }
    }
    args
}

/// The synthetic key distribution.
struct HiddenStates {
    dim: usize,
    scales: Vec<f32>,
    centres: Vec<Vec<f32>>,
    /// Cumulative Zipf weights of the clusters.
    cluster_cdf: Vec<f64>,
    /// dim × RANK shared directions of variation inside clusters.
    basis: Vec<f32>,
}

const RANK: usize = 10;
const WITHIN_CLUSTER: f32 = 0.5;
const NOISE: f32 = 0.1;
const OUTLIER_DIMS: usize = 4;

impl HiddenStates {
    fn new(dim: usize, clusters: usize, rng: &mut SplitMix64) -> Self {
        let mut scales: Vec<f32> = (0..dim).map(|_| (0.5 * rng.normal()).exp()).collect();
        for d in 0..OUTLIER_DIMS.min(dim) {
            scales[d * 97 % dim] *= 10.0;
        }
        let centres = (0..clusters)
            .map(|_| (0..dim).map(|_| rng.normal()).collect())
            .collect();
        let mut cluster_cdf: Vec<f64> = Vec::with_capacity(clusters);
        let mut total = 0.0;
        for rank in 1..=clusters {
            total += 1.0 / rank as f64;
            cluster_cdf.push(total);
        }
        cluster_cdf.iter_mut().for_each(|c| *c /= total);
        let basis = (0..dim * RANK).map(|_| rng.normal()).collect();
        HiddenStates {
            dim,
            scales,
            centres,
            cluster_cdf,
            basis,
        }
    }

    fn sample(&self, rng: &mut SplitMix64, out: &mut [f32]) {
        let u = rng.uniform();
        let cluster = self
            .cluster_cdf
            .partition_point(|&c| c < u)
            .min(self.centres.len() - 1);
        let z: Vec<f32> = (0..RANK).map(|_| rng.normal()).collect();
        for (d, x) in out.iter_mut().enumerate() {
            let low_rank: f32 = self.basis[d * RANK..(d + 1) * RANK]
                .iter()
                .zip(&z)
                .map(|(b, z)| b * z)
                .sum();
            let value = self.centres[cluster][d] + WITHIN_CLUSTER * low_rank + NOISE * rng.normal();
            *x = self.scales[d] * value;
        }
        debug_assert_eq!(out.len(), self.dim);
    }
}

/// Raw little-endian f16 rows of `dim` values.
fn read_key_file(path: &Path, dim: usize) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).expect("read key file");
    bytes
        .chunks_exact(2)
        .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
        .collect::<Vec<f32>>()
        .chunks_exact(dim)
        .map(|row| row.to_vec())
        .collect()
}

/// Writes the index; returns (entries, time to write the keys, time to build the graph).
fn build_index(path: &Path, args: &Args) -> (usize, Duration, Duration) {
    let mut rng = SplitMix64(42);
    let start = Instant::now();
    let mut writer =
        DatastoreWriter::create(path, &args.fingerprint, args.dim).expect("create index");
    writer.add_document(&DocumentInfo {
        path: "bench.txt".into(),
        content_hash: [0; 32],
        sentences: vec![SentenceInfo {
            text: "bench".into(),
            line: 1,
            column: 1,
        }],
    });
    let push = |writer: &mut DatastoreWriter, key: &[f32], rng: &mut SplitMix64| {
        let value = (rng.next_u64() % 49_152) as u32;
        writer
            .push(key, value, Provenance::default())
            .expect("push");
    };
    match &args.keys_file {
        Some(keys_file) => {
            let rows = read_key_file(keys_file, args.dim);
            let stored = rows.len().saturating_sub(args.queries).min(args.entries);
            for key in &rows[..stored] {
                push(&mut writer, key, &mut rng);
            }
            let source = serde_json::json!({ "keys_file": keys_file, "queries": args.queries });
            writer.set_metadata(serde_json::json!({ "bench": source }));
        }
        None => {
            let clusters = (args.entries / 200).clamp(64, 20_000);
            let states = HiddenStates::new(args.dim, clusters, &mut rng);
            let mut key = vec![0f32; args.dim];
            for _ in 0..args.entries {
                states.sample(&mut rng, &mut key);
                push(&mut writer, &key, &mut rng);
            }
            let source = serde_json::json!({ "synthetic_entries": args.entries });
            writer.set_metadata(serde_json::json!({ "bench": source }));
        }
    }
    let write_time = start.elapsed();
    let entries = writer.len();
    let staged = writer.staged_keys().expect("stage keys");
    let graph_start = Instant::now();
    let mut last_report = Instant::now();
    let graph = search::build_graph_section(staged.matrix(), &args.params, &mut |done, total| {
        if last_report.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "  graph: {done}/{total} after {:.0} s",
                graph_start.elapsed().as_secs_f64()
            );
            last_report = Instant::now();
        }
    });
    let graph_time = graph_start.elapsed();
    drop(staged);
    writer.commit(&graph).expect("commit");
    (entries, write_time, graph_time)
}

/// Queries for an index this benchmark built: fresh synthetic samples, or the held-out
/// tail of the key file. For any other index: stored keys with 5% noise.
fn make_queries(store: &Datastore, count: usize) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64(7);
    let dim = store.key_dim();
    let bench = &store.metadata()["bench"];
    if let Some(keys_file) = bench["keys_file"].as_str() {
        let rows = read_key_file(Path::new(keys_file), dim);
        let held_out = bench["queries"].as_u64().unwrap_or(0) as usize;
        return rows[rows.len() - held_out..]
            .iter()
            .take(count)
            .cloned()
            .collect();
    }
    if bench["synthetic_entries"].is_u64() {
        let clusters = (store.len() / 200).clamp(64, 20_000);
        let states = HiddenStates::new(dim, clusters, &mut SplitMix64(42));
        return (0..count)
            .map(|_| {
                let mut q = vec![0f32; dim];
                states.sample(&mut rng, &mut q);
                q
            })
            .collect();
    }
    let keys = store.keys();
    (0..count)
        .map(|_| {
            let row = keys.row((rng.next_u64() % keys.len() as u64) as usize);
            row.iter()
                .map(|x| x.to_f32() * (1.0 + 0.05 * rng.normal()))
                .collect()
        })
        .collect()
}

/// `count` keys spread evenly over the entries of the index at `path`, which must have been
/// built with `store`'s model.
fn keys_of_index(path: &Path, store: &Datastore, count: usize) -> Vec<Vec<f32>> {
    let other = Datastore::open(path, Some(store.model_fingerprint())).expect("open --query-index");
    let keys = other.keys();
    let step = (keys.len() / count.max(1)).max(1);
    (0..keys.len())
        .step_by(step)
        .take(count)
        .map(|row| keys.row(row).iter().map(|x| x.to_f32()).collect())
        .collect()
}

fn evict_from_page_cache(path: &Path) {
    use std::os::unix::io::AsRawFd;
    let file = std::fs::File::open(path).expect("open index");
    // SAFETY: plain syscall on a valid descriptor; only advises the kernel.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise");
}

fn percentile(sorted: &[Duration], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

fn recall(found: &[Hit], truth: &[Hit]) -> f64 {
    let truth: std::collections::HashSet<u32> = truth.iter().map(|h| h.entry).collect();
    found.iter().filter(|h| truth.contains(&h.entry)).count() as f64 / truth.len().max(1) as f64
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args = parse_args();
    let temp_dir = tempfile::tempdir().expect("temp dir");
    let path = match (&args.existing, &args.out) {
        (Some(existing), _) => existing.clone(),
        (None, Some(out)) => out.clone(),
        (None, None) => temp_dir.path().join("bench.index"),
    };

    if args.existing.is_none() {
        println!(
            "building up to {} entries, dim {}, M {}, ef_construction {} ...",
            args.entries, args.dim, args.params.m, args.params.ef_construction
        );
        let start = Instant::now();
        let (entries, write, graph) = build_index(&path, &args);
        println!(
            "build: {:.1} s total (keys written {:.1} s, graph {:.1} s = {:.0} entries/s)",
            start.elapsed().as_secs_f64(),
            write.as_secs_f64(),
            graph.as_secs_f64(),
            entries as f64 / graph.as_secs_f64()
        );
        println!("peak RSS during build: {} MB", status_kb("VmHWM:") / 1024);
    }

    if args.cold {
        evict_from_page_cache(&path);
    }
    let start = Instant::now();
    let store = Arc::new(Datastore::open(&path, None).expect("open index"));
    let index = NeighbourIndex::new(store.clone(), SearchOptions::default()).expect("graph");
    let load = start.elapsed();
    let n = store.len();
    let graph_bytes = store.graph_bytes().len() as f64;
    println!(
        "index: {n} entries, {:.0} bytes/entry on disk (keys {:.0}, graph {:.0}), {:?}",
        store.file_len() as f64 / n as f64,
        (store.key_dim() * 2) as f64,
        graph_bytes / n as f64,
        index.graph_params()
    );
    println!(
        "load ({}): {:.1} ms",
        if args.cold {
            "cold page cache"
        } else {
            "warm page cache"
        },
        load.as_secs_f64() * 1e3
    );

    let queries = match &args.query_index {
        Some(path) => keys_of_index(path, &store, args.queries),
        None => make_queries(&store, args.queries),
    };
    let max_k = args.ks.iter().copied().max().unwrap_or(64).min(n);
    let start = Instant::now();
    let query_refs: Vec<&[f32]> = queries.iter().map(|q| q.as_slice()).collect();
    let truth = index.search_exact_batch(&query_refs, max_k);
    println!(
        "exact ground truth, batch of {}: {:.1} ms per query",
        queries.len(),
        start.elapsed().as_secs_f64() * 1e3 / queries.len() as f64
    );
    let mut exact_times: Vec<Duration> = queries
        .iter()
        .take(args.exact_queries)
        .map(|q| {
            let start = Instant::now();
            let hits = index.search_exact(q, 64);
            std::hint::black_box(knn_distribution(&index.neighbours(&hits), 1.0));
            start.elapsed()
        })
        .collect();
    exact_times.sort();
    if !exact_times.is_empty() {
        println!(
            "exact search + scoring, one query at a time, k 64: p50 {:.2} ms, p95 {:.2} ms",
            percentile(&exact_times, 50),
            percentile(&exact_times, 95)
        );
    }

    if index.has_graph() {
        println!(
            "{:>6} {:>6} {:>10} {:>10} {:>10} {:>8}",
            "k", "ef", "p50 ms", "p95 ms", "score ms", "recall"
        );
        for &k in &args.ks {
            let k = k.min(n);
            let efs = args
                .efs
                .clone()
                .unwrap_or_else(|| vec![k, k * 3 / 2, k * 2, k * 3]);
            for ef in efs.into_iter().filter(|&ef| ef >= k) {
                let mut times = Vec::with_capacity(queries.len());
                let mut scoring = Duration::ZERO;
                let mut recall_sum = 0.0;
                for (query, truth) in queries.iter().zip(&truth) {
                    let start = Instant::now();
                    let hits = index.search_with_ef(query, k, ef);
                    let scoring_start = Instant::now();
                    std::hint::black_box(knn_distribution(&index.neighbours(&hits), 1.0));
                    scoring += scoring_start.elapsed();
                    times.push(start.elapsed());
                    recall_sum += recall(&hits, &truth[..k]);
                }
                times.sort();
                println!(
                    "{k:>6} {ef:>6} {:>10.3} {:>10.3} {:>10.3} {:>8.4}",
                    percentile(&times, 50),
                    percentile(&times, 95),
                    scoring.as_secs_f64() * 1e3 / queries.len() as f64,
                    recall_sum / queries.len() as f64
                );
            }
        }
    } else {
        println!("no graph in this index: searches are exact");
    }
    println!(
        "peak RSS: {} MB (current {} MB, includes mapped index pages)",
        status_kb("VmHWM:") / 1024,
        status_kb("VmRSS:") / 1024
    );
}
