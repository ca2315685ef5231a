//! Keeping the k nearest of a stream of candidates.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::Hit;

/// A candidate ordered by (distance, entry), so that results are deterministic on ties.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Ranked(pub Hit);

impl Eq for Ranked {}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .distance
            .total_cmp(&other.0.distance)
            .then(self.0.entry.cmp(&other.0.entry))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The k nearest hits offered so far (a max-heap of the current best).
#[derive(Clone, Debug)]
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Ranked>,
}

impl TopK {
    pub(crate) fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    /// Whether a hit at this distance could still enter (a cheap pre-check).
    #[inline]
    pub(crate) fn admits(&self, distance: f32) -> bool {
        self.heap.len() < self.k
            || self
                .heap
                .peek()
                .is_some_and(|worst| distance <= worst.0.distance)
    }

    #[inline]
    pub(crate) fn offer(&mut self, hit: Hit) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Ranked(hit));
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if Ranked(hit) < *worst {
                *worst = Ranked(hit);
            }
        }
    }

    pub(crate) fn merge(&mut self, other: TopK) {
        for ranked in other.heap {
            self.offer(ranked.0);
        }
    }

    /// The kept hits, nearest first.
    pub(crate) fn into_sorted(self) -> Vec<Hit> {
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|r| r.0)
            .collect()
    }
}
