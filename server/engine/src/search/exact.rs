//! Exact (brute-force) k-nearest-neighbour search.
//!
//! The keys are scanned in blocks small enough to stay in the L2 cache while every query
//! of the batch is compared with them, so a batch costs about one pass over memory. The
//! key range is split over up to `threads` threads (the target machines have 2 cores).

use super::distance::{squared_l2, squared_l2_f32};
use super::topk::TopK;
use super::Hit;
use crate::datastore::KeyMatrix;

/// Rows per block: 128 × 576 f16 = 144 KiB, well inside a 512 KiB–1 MiB L2.
const BLOCK_ROWS: usize = 128;
/// Below this many rows per thread, starting a thread costs more than it saves.
const MIN_ROWS_PER_THREAD: usize = 16_384;

/// The k nearest keys of each query, nearest first (ties by entry number).
pub fn exact_search_batch(
    keys: KeyMatrix<'_>,
    queries: &[&[f32]],
    k: usize,
    threads: usize,
) -> Vec<Vec<Hit>> {
    let n = keys.len();
    let threads = threads.clamp(1, n.div_ceil(MIN_ROWS_PER_THREAD).max(1));
    let per_thread = n.div_ceil(threads);
    let partials: Vec<Vec<TopK>> = if threads == 1 {
        vec![scan(keys, 0..n, queries, k)]
    } else {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let rows = t * per_thread..((t + 1) * per_thread).min(n);
                    scope.spawn(move || scan(keys, rows, queries, k))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("search thread panicked"))
                .collect()
        })
    };
    let mut partials = partials.into_iter();
    let mut merged = partials.next().unwrap_or_default();
    for partial in partials {
        for (into, from) in merged.iter_mut().zip(partial) {
            into.merge(from);
        }
    }
    merged.into_iter().map(TopK::into_sorted).collect()
}

/// The k nearest keys of one query.
pub fn exact_search(keys: KeyMatrix<'_>, query: &[f32], k: usize, threads: usize) -> Vec<Hit> {
    exact_search_batch(keys, &[query], k, threads)
        .pop()
        .unwrap_or_default()
}

fn scan(
    keys: KeyMatrix<'_>,
    rows: std::ops::Range<usize>,
    queries: &[&[f32]],
    k: usize,
) -> Vec<TopK> {
    let mut best: Vec<TopK> = queries.iter().map(|_| TopK::new(k)).collect();
    let mut start = rows.start;
    while start < rows.end {
        let end = (start + BLOCK_ROWS).min(rows.end);
        for (query, best) in queries.iter().zip(best.iter_mut()) {
            for row in start..end {
                let distance = squared_l2(query, keys.row(row));
                if best.admits(distance) {
                    best.offer(Hit {
                        entry: row as u32,
                        distance,
                    });
                }
            }
        }
        start = end;
    }
    best
}

/// The k nearest of a small set of f32 keys (e.g. the continuous cache of the document
/// being written), `dim` values per key, held in consecutive segments: entries are numbered
/// across the segments in order.
pub fn exact_search_f32<'a>(
    segments: impl IntoIterator<Item = &'a [f32]>,
    dim: usize,
    query: &[f32],
    k: usize,
) -> Vec<Hit> {
    let mut best = TopK::new(k);
    let rows = segments.into_iter().flat_map(|keys| keys.chunks_exact(dim));
    for (row, key) in rows.enumerate() {
        best.offer(Hit {
            entry: row as u32,
            distance: squared_l2_f32(query, key),
        });
    }
    best.into_sorted()
}
