//! kNN-LM scoring, as docs/method.md describes it.
//!
//! - [`knn_distribution`]: p_kNN(y) = Σ_{i: v_i = y} softmax_i(−d_i / T) over the retrieved
//!   neighbours (squared L2 distance d_i, value token v_i), returned sparsely together with
//!   each neighbour's weight (the evidence shown to the writer).
//! - [`interpolate`]: log p = logaddexp(log p_LM + log(1−λ), log p_kNN + log λ), with
//!   log p_kNN = −∞ for tokens that were never retrieved.
//! - [`AdaptiveLambda`]: λ looked up from a small table over ln(nearest distance)
//!   (docs/method.md, "Measured on this model"), and [`AdaptiveLambda::fit`] to fit that
//!   table on held-out samples.
//! - [`TuningSet`] and [`tune`]: grid search of the global λ and T on held-out positions.
//!
//! Neighbours may come from the corpus datastore, from the document being written (the
//! continuous cache), or both: they simply share one list and one softmax.

use serde::{Deserialize, Serialize};

/// The default number of neighbours. docs/method.md: perplexity ratio 0.974 at k = 16,
/// 0.966 at 64 and 0.964 at 1024; k = 64 keeps almost all of the gain, and HNSW finds 64
/// neighbours among 1M keys in ~1.6 ms (1024 take ~6 ms; examples/search_bench.rs).
pub const DEFAULT_K: usize = 64;

/// One retrieved neighbour: the squared L2 distance of its key to the query and its value,
/// the token that followed its context.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbour {
    pub distance: f32,
    pub token: u32,
}

/// p_kNN for one query: a sparse distribution over tokens plus each neighbour's weight.
#[derive(Clone, Debug, PartialEq)]
pub struct KnnDistribution {
    /// (token, p_kNN(token)) for every retrieved token, most probable first (ties: lower
    /// token id first). Tokens that are absent have probability 0.
    pub tokens: Vec<(u32, f32)>,
    /// softmax_i(−d_i / T) of each neighbour, in the order the neighbours were given.
    pub weights: Vec<f32>,
}

impl KnnDistribution {
    /// p_kNN(token); 0 for a token no neighbour carries.
    pub fn prob(&self, token: u32) -> f32 {
        self.tokens
            .iter()
            .find(|&&(t, _)| t == token)
            .map_or(0.0, |&(_, p)| p)
    }

    /// ln p_kNN(token); −∞ for a token no neighbour carries.
    pub fn log_prob(&self, token: u32) -> f32 {
        self.prob(token).ln()
    }
}

/// p_kNN from the retrieved neighbours at temperature T (> 0).
///
/// The softmax subtracts the largest logit before exponentiating, so any distance scale is
/// safe; sums are taken in f64. An empty neighbour list gives an empty distribution.
pub fn knn_distribution(neighbours: &[Neighbour], temperature: f32) -> KnnDistribution {
    debug_assert!(temperature > 0.0, "temperature must be positive");
    let weights = softmax_of_negative_distances(neighbours.iter().map(|n| n.distance), temperature);

    let mut by_token: Vec<(u32, f64)> = neighbours
        .iter()
        .zip(&weights)
        .map(|(n, &w)| (n.token, w))
        .collect();
    by_token.sort_unstable_by_key(|&(token, _)| token);
    let mut tokens: Vec<(u32, f32)> = Vec::new();
    for (token, weight) in by_token {
        match tokens.last_mut() {
            Some((last, sum)) if *last == token => *sum += weight as f32,
            _ => tokens.push((token, weight as f32)),
        }
    }
    tokens.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

    KnnDistribution {
        tokens,
        weights: weights.into_iter().map(|w| w as f32).collect(),
    }
}

/// softmax(−d_i / T), computed stably in f64.
fn softmax_of_negative_distances(
    distances: impl Iterator<Item = f32> + Clone,
    temperature: f32,
) -> Vec<f64> {
    let t = f64::from(temperature);
    let max_logit = distances
        .clone()
        .map(|d| -f64::from(d) / t)
        .fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = distances
        .map(|d| (-f64::from(d) / t - max_logit).exp())
        .collect();
    let total: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / total).collect()
}

/// ln(e^a + e^b), exact for infinities: logaddexp(a, −∞) = a and logaddexp(−∞, −∞) = −∞.
pub fn log_add_exp(a: f32, b: f32) -> f32 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    if hi == f32::NEG_INFINITY {
        return f32::NEG_INFINITY;
    }
    hi + (lo - hi).exp().ln_1p()
}

/// The interpolated log-probability of one token:
/// logaddexp(log p_LM + log(1−λ), log p_kNN + log λ), λ in [0, 1].
///
/// λ = 0 gives log p_LM exactly, λ = 1 gives log p_kNN exactly (−∞ for a token that was
/// never retrieved).
pub fn interpolate(log_p_lm: f32, log_p_knn: f32, lambda: f32) -> f32 {
    debug_assert!((0.0..=1.0).contains(&lambda), "λ must be in [0, 1]");
    log_add_exp(
        weighted(log_p_lm, 1.0 - lambda),
        weighted(log_p_knn, lambda),
    )
}

/// log p + log w, where a zero weight removes the term entirely (even if log p is −∞).
fn weighted(log_p: f32, weight: f32) -> f32 {
    if weight <= 0.0 {
        f32::NEG_INFINITY
    } else {
        log_p + weight.ln()
    }
}

/// λ that depends on how close the nearest neighbour is (docs/method.md): a small table of
/// λ per bin of ln(nearest squared distance).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveLambda {
    /// Ascending interior boundaries over ln(nearest squared distance); bin i holds values
    /// in [edges[i-1], edges[i]) with open ends. There are `edges.len() + 1` bins.
    pub edges: Vec<f32>,
    /// λ of each bin.
    pub lambdas: Vec<f32>,
}

/// One held-out position for fitting [`AdaptiveLambda`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LambdaSample {
    /// ln of the nearest neighbour's squared distance.
    pub log_nearest_distance: f32,
    /// ln p_LM(target).
    pub log_p_lm: f32,
    /// ln p_kNN(target), −∞ if the target was not retrieved.
    pub log_p_knn: f32,
}

impl AdaptiveLambda {
    /// λ for a query whose nearest neighbour lies at this squared distance. With no
    /// neighbour at all pass `f32::INFINITY` (the last bin).
    pub fn lambda_for_distance(&self, nearest_distance: f32) -> f32 {
        self.lambda_for_log_distance(nearest_distance.ln())
    }

    /// λ for ln(nearest squared distance).
    pub fn lambda_for_log_distance(&self, log_nearest_distance: f32) -> f32 {
        let bin = self
            .edges
            .partition_point(|&edge| edge <= log_nearest_distance);
        self.lambdas[bin]
    }

    /// Fits the table on held-out samples: `bins` equal-count bins over ln(nearest
    /// distance), and in each bin the λ from `lambda_grid` that maximises the mean
    /// log-likelihood of its samples (the smallest such λ on ties). Bins with fewer than
    /// `min_samples_per_bin` samples get `fallback_lambda` (normally the tuned global λ).
    /// Bins whose boundaries coincide (many equal distances) are merged.
    pub fn fit(
        samples: &[LambdaSample],
        bins: usize,
        lambda_grid: &[f32],
        min_samples_per_bin: usize,
        fallback_lambda: f32,
    ) -> AdaptiveLambda {
        let mut log_distances: Vec<f32> = samples.iter().map(|s| s.log_nearest_distance).collect();
        log_distances.sort_by(f32::total_cmp);

        let mut edges: Vec<f32> = Vec::new();
        for b in 1..bins.max(1) {
            let Some(&edge) = log_distances.get(b * log_distances.len() / bins) else {
                break;
            };
            // A boundary at the smallest value would leave bin 0 empty; equal
            // boundaries would leave a bin empty.
            let above_previous = edge > *edges.last().unwrap_or(&log_distances[0]);
            if edge.is_finite() && above_previous {
                edges.push(edge);
            }
        }

        let mut per_bin: Vec<Vec<LambdaSample>> = vec![Vec::new(); edges.len() + 1];
        let table = AdaptiveLambda {
            edges,
            lambdas: Vec::new(),
        };
        for sample in samples {
            let bin = table
                .edges
                .partition_point(|&edge| edge <= sample.log_nearest_distance);
            per_bin[bin].push(*sample);
        }
        let lambdas = per_bin
            .iter()
            .map(|bin_samples| {
                if bin_samples.len() < min_samples_per_bin.max(1) {
                    fallback_lambda
                } else {
                    best_lambda(bin_samples, lambda_grid)
                }
            })
            .collect();
        AdaptiveLambda { lambdas, ..table }
    }
}

/// The λ of the grid with the highest mean log-likelihood over these samples.
fn best_lambda(samples: &[LambdaSample], lambda_grid: &[f32]) -> f32 {
    let mut best = (f64::NEG_INFINITY, lambda_grid[0]);
    for &lambda in lambda_grid {
        let score = mean_log_likelihood(samples.iter().map(|s| (s.log_p_lm, s.log_p_knn)), lambda);
        if score > best.0 {
            best = (score, lambda);
        }
    }
    best.1
}

/// Mean of log p over (log p_LM, log p_kNN) pairs of target tokens.
fn mean_log_likelihood(pairs: impl Iterator<Item = (f32, f32)>, lambda: f32) -> f64 {
    let (mut sum, mut count) = (0.0f64, 0usize);
    for (log_p_lm, log_p_knn) in pairs {
        sum += f64::from(interpolate(log_p_lm, log_p_knn, lambda));
        count += 1;
    }
    if count == 0 {
        f64::NEG_INFINITY
    } else {
        sum / count as f64
    }
}

/// Held-out evidence for tuning λ and T, compactly: for each position, ln p_LM(target) and
/// its neighbours' squared distances, each flagged with whether that neighbour's value is
/// the target. That is all p_kNN(target) needs at any temperature.
#[derive(Clone, Debug, Default)]
pub struct TuningSet {
    log_p_lm: Vec<f32>,
    /// Neighbours of position i are `ends[i-1]..ends[i]` (from 0 for i = 0).
    ends: Vec<usize>,
    distances: Vec<f32>,
    is_target: Vec<bool>,
}

impl TuningSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one held-out position: ln p_LM of its target token and its retrieved neighbours.
    pub fn push(&mut self, log_p_lm: f32, neighbours: &[Neighbour], target: u32) {
        self.log_p_lm.push(log_p_lm);
        self.distances.extend(neighbours.iter().map(|n| n.distance));
        self.is_target
            .extend(neighbours.iter().map(|n| n.token == target));
        self.ends.push(self.distances.len());
    }

    /// Number of positions.
    pub fn len(&self) -> usize {
        self.log_p_lm.len()
    }

    pub fn is_empty(&self) -> bool {
        self.log_p_lm.is_empty()
    }

    fn neighbour_range(&self, position: usize) -> std::ops::Range<usize> {
        let start = if position == 0 {
            0
        } else {
            self.ends[position - 1]
        };
        start..self.ends[position]
    }

    /// ln p_kNN(target) of one position at temperature T; −∞ if no neighbour is the target.
    pub fn log_p_knn(&self, position: usize, temperature: f32) -> f32 {
        let range = self.neighbour_range(position);
        let distances = &self.distances[range.clone()];
        let is_target = &self.is_target[range];
        if !is_target.contains(&true) {
            return f32::NEG_INFINITY;
        }
        let weights = softmax_of_negative_distances(distances.iter().copied(), temperature);
        let p: f64 = weights
            .iter()
            .zip(is_target)
            .filter(|&(_, &hit)| hit)
            .map(|(w, _)| w)
            .sum();
        p.ln() as f32
    }

    /// The samples [`AdaptiveLambda::fit`] needs, at temperature T. Positions without any
    /// neighbour get an infinite nearest distance.
    pub fn lambda_samples(&self, temperature: f32) -> Vec<LambdaSample> {
        (0..self.len())
            .map(|i| {
                let nearest = self.distances[self.neighbour_range(i)]
                    .iter()
                    .copied()
                    .fold(f32::INFINITY, f32::min);
                LambdaSample {
                    log_nearest_distance: nearest.ln(),
                    log_p_lm: self.log_p_lm[i],
                    log_p_knn: self.log_p_knn(i, temperature),
                }
            })
            .collect()
    }

    /// Mean log-likelihood per token of the interpolated model with these λ and T.
    pub fn mean_log_likelihood(&self, lambda: f32, temperature: f32) -> f64 {
        mean_log_likelihood(
            (0..self.len()).map(|i| (self.log_p_lm[i], self.log_p_knn(i, temperature))),
            lambda,
        )
    }
}

/// Result of [`tune`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tuned {
    pub lambda: f32,
    pub temperature: f32,
    /// Mean ln p(target) per token at these values; perplexity is exp(−this).
    pub mean_log_likelihood: f64,
}

impl Tuned {
    pub fn perplexity(&self) -> f64 {
        (-self.mean_log_likelihood).exp()
    }
}

/// Grid search of the global λ and T maximising the mean log-likelihood of the held-out
/// targets (ties: the first in grid order). Each temperature costs one pass over all
/// neighbours; each λ then costs one pass over the positions.
pub fn tune(set: &TuningSet, temperatures: &[f32], lambdas: &[f32]) -> Tuned {
    let mut best = Tuned {
        lambda: lambdas[0],
        temperature: temperatures[0],
        mean_log_likelihood: f64::NEG_INFINITY,
    };
    for &temperature in temperatures {
        let pairs: Vec<(f32, f32)> = (0..set.len())
            .map(|i| (set.log_p_lm[i], set.log_p_knn(i, temperature)))
            .collect();
        for &lambda in lambdas {
            let score = mean_log_likelihood(pairs.iter().copied(), lambda);
            if score > best.mean_log_likelihood {
                best = Tuned {
                    lambda,
                    temperature,
                    mean_log_likelihood: score,
                };
            }
        }
    }
    best
}

/// `steps` values from `min` to `max` spaced evenly on a log scale (for T).
pub fn log_grid(min: f32, max: f32, steps: usize) -> Vec<f32> {
    let (lo, hi) = (min.ln(), max.ln());
    (0..steps)
        .map(|i| (lo + (hi - lo) * i as f32 / (steps.max(2) - 1) as f32).exp())
        .collect()
}

/// `steps` values from 0 to 1 inclusive, evenly spaced (for λ).
pub fn unit_grid(steps: usize) -> Vec<f32> {
    (0..steps)
        .map(|i| i as f32 / (steps.max(2) - 1) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: f64 = std::f64::consts::E;

    fn neighbours(distances: &[f32], tokens: &[u32]) -> Vec<Neighbour> {
        distances
            .iter()
            .zip(tokens)
            .map(|(&distance, &token)| Neighbour { distance, token })
            .collect()
    }

    fn assert_close(actual: f64, expected: f64, what: &str) {
        assert!(
            (actual - expected).abs() <= 1e-6 * expected.abs().max(1.0),
            "{what}: got {actual}, expected {expected}"
        );
    }

    #[test]
    fn p_knn_matches_hand_computation() {
        struct Case {
            distances: &'static [f32],
            tokens: &'static [u32],
            temperature: f32,
            /// (token, p_kNN) for every token that must appear, computed by hand.
            expected: Vec<(u32, f64)>,
        }
        let cases = [
            // d = [1, 2, 2], values [5, 7, 5], T = 1:
            // weights ∝ e^-1, e^-2, e^-2; Z = e^-1 + 2e^-2
            // p(5) = (e^-1 + e^-2) / Z = 0.5032 / 0.6386 = 0.78805
            // p(7) = e^-2 / Z = 0.1353 / 0.6386 = 0.21194
            Case {
                distances: &[1.0, 2.0, 2.0],
                tokens: &[5, 7, 5],
                temperature: 1.0,
                expected: vec![
                    (
                        5,
                        (E.powi(-1) + E.powi(-2)) / (E.powi(-1) + 2.0 * E.powi(-2)),
                    ),
                    (7, E.powi(-2) / (E.powi(-1) + 2.0 * E.powi(-2))),
                ],
            },
            // Same neighbours, T = 2: logits -0.5, -1, -1; Z = e^-0.5 + 2e^-1
            // p(5) = (e^-0.5 + e^-1) / Z = 0.97441 / 1.34230 = 0.72593
            Case {
                distances: &[1.0, 2.0, 2.0],
                tokens: &[5, 7, 5],
                temperature: 2.0,
                expected: vec![
                    (
                        5,
                        (E.powf(-0.5) + E.powi(-1)) / (E.powf(-0.5) + 2.0 * E.powi(-1)),
                    ),
                    (7, E.powi(-1) / (E.powf(-0.5) + 2.0 * E.powi(-1))),
                ],
            },
            // Equal distances split the mass by count: 3 of 4 neighbours carry 9 → 0.75.
            Case {
                distances: &[4.0, 4.0, 4.0, 4.0],
                tokens: &[9, 9, 3, 9],
                temperature: 1.0,
                expected: vec![(9, 0.75), (3, 0.25)],
            },
            // Huge distances must not underflow: d = [1000, 1001], T = 1 → softmax of
            // (0, -1) after subtracting the max: p(1) = 1/(1+e^-1) = 0.73106.
            Case {
                distances: &[1000.0, 1001.0],
                tokens: &[1, 2],
                temperature: 1.0,
                expected: vec![
                    (1, 1.0 / (1.0 + E.powi(-1))),
                    (2, E.powi(-1) / (1.0 + E.powi(-1))),
                ],
            },
        ];
        for (i, case) in cases.iter().enumerate() {
            let dist = knn_distribution(&neighbours(case.distances, case.tokens), case.temperature);
            assert_eq!(
                dist.tokens.len(),
                case.expected.len(),
                "case {i}: token count"
            );
            for &(token, p) in &case.expected {
                assert_close(
                    f64::from(dist.prob(token)),
                    p,
                    &format!("case {i}: p({token})"),
                );
            }
            let total: f32 = dist.weights.iter().sum();
            assert_close(f64::from(total), 1.0, &format!("case {i}: weights sum"));
            assert_eq!(dist.prob(424242), 0.0, "case {i}: absent token");
            assert_eq!(
                dist.log_prob(424242),
                f32::NEG_INFINITY,
                "case {i}: absent token"
            );
        }
    }

    #[test]
    fn weights_follow_neighbour_order_and_tokens_are_ranked() {
        // d = [2, 1], T = 1: weights e^-2/(e^-1+e^-2) = 0.26894, e^-1/(..) = 0.73106.
        let dist = knn_distribution(&neighbours(&[2.0, 1.0], &[10, 20]), 1.0);
        assert_close(
            f64::from(dist.weights[0]),
            1.0 / (1.0 + E),
            "weight of first",
        );
        assert_close(
            f64::from(dist.weights[1]),
            E / (1.0 + E),
            "weight of second",
        );
        assert_eq!(dist.tokens[0].0, 20, "most probable token first");
    }

    #[test]
    fn empty_neighbours_give_empty_distribution() {
        let dist = knn_distribution(&[], 1.0);
        assert!(dist.tokens.is_empty() && dist.weights.is_empty());
    }

    #[test]
    fn interpolation_matches_hand_computation() {
        let ln = |x: f64| x.ln() as f32;
        // (p_LM, p_kNN or None when never retrieved, λ, expected p)
        let cases: &[(f64, Option<f64>, f32, f64)] = &[
            // 0.75 · 0.2 + 0.25 · 0.6 = 0.15 + 0.15 = 0.3
            (0.2, Some(0.6), 0.25, 0.3),
            // 0.75 · 0.2 + 0.25 · 0 = 0.15 (token never retrieved)
            (0.2, None, 0.25, 0.15),
            // λ = 0: exactly p_LM
            (0.2, Some(0.6), 0.0, 0.2),
            (0.2, None, 0.0, 0.2),
            // λ = 1: exactly p_kNN, and 0 for a token never retrieved
            (0.2, Some(0.6), 1.0, 0.6),
            (0.2, None, 1.0, 0.0),
            // 0.1 · 0.01 + 0.9 · 0.5 = 0.001 + 0.45 = 0.451
            (0.01, Some(0.5), 0.9, 0.451),
        ];
        for &(p_lm, p_knn, lambda, expected) in cases {
            let log_p_knn = p_knn.map_or(f32::NEG_INFINITY, ln);
            let got = interpolate(ln(p_lm), log_p_knn, lambda);
            let what = format!("p_LM {p_lm}, p_kNN {p_knn:?}, λ {lambda}");
            if expected == 0.0 {
                assert_eq!(got, f32::NEG_INFINITY, "{what}");
            } else {
                assert!(
                    (f64::from(got) - expected.ln()).abs() < 1e-6,
                    "{what}: got ln p = {got}, expected {}",
                    expected.ln()
                );
            }
        }
    }

    #[test]
    fn log_add_exp_handles_infinities() {
        let inf = f32::NEG_INFINITY;
        assert_eq!(log_add_exp(inf, inf), inf);
        assert_eq!(log_add_exp(-3.0, inf), -3.0);
        assert_eq!(log_add_exp(inf, -3.0), -3.0);
        // ln(e^0 + e^0) = ln 2
        assert!((log_add_exp(0.0, 0.0) - std::f32::consts::LN_2).abs() < 1e-7);
    }

    #[test]
    fn adaptive_lambda_lookup_uses_bins_over_log_distance() {
        let table = AdaptiveLambda {
            edges: vec![0.0, 2.0],
            lambdas: vec![0.5, 0.2, 0.05],
        };
        // (squared distance, expected λ): ln 0.5 < 0 → bin 0; ln 1 = 0 is an edge → bin 1;
        // ln 7 = 1.95 → bin 1; ln 8 = 2.08 → bin 2; 0 and ∞ land in the end bins.
        let cases = [
            (0.5, 0.5),
            (1.0, 0.2),
            (7.0, 0.2),
            (8.0, 0.05),
            (0.0, 0.5),
            (f32::INFINITY, 0.05),
        ];
        for (distance, expected) in cases {
            assert_eq!(
                table.lambda_for_distance(distance),
                expected,
                "d = {distance}"
            );
        }
    }

    #[test]
    fn adaptive_lambda_fit_picks_best_lambda_per_bin() {
        let ln = |x: f32| x.ln();
        let mut samples = Vec::new();
        // Near neighbours (ln d = -1): kNN is right (p_kNN 0.9, p_LM 0.1); the best λ on
        // the grid {0, 0.5, 1} is 1: ln 0.9 > ln(0.5·0.1 + 0.5·0.9) = ln 0.5.
        for _ in 0..10 {
            samples.push(LambdaSample {
                log_nearest_distance: -1.0,
                log_p_lm: ln(0.1),
                log_p_knn: ln(0.9),
            });
        }
        // Far neighbours (ln d = 3): kNN never retrieves the target; λ = 0 is best.
        for _ in 0..10 {
            samples.push(LambdaSample {
                log_nearest_distance: 3.0,
                log_p_lm: ln(0.3),
                log_p_knn: f32::NEG_INFINITY,
            });
        }
        // One lone sample at ln d = 10: a third bin that is too sparse → fallback 0.25.
        samples.push(LambdaSample {
            log_nearest_distance: 10.0,
            log_p_lm: ln(0.3),
            log_p_knn: ln(0.3),
        });
        // 21 bins over 21 sorted values put a boundary at every distinct value except the
        // smallest: edges [3, 10] → bins (-∞, 3) near, [3, 10) far, [10, ∞) lone.
        let table = AdaptiveLambda::fit(&samples, 21, &[0.0, 0.5, 1.0], 2, 0.25);
        assert_eq!(table.edges, vec![3.0, 10.0]);
        // near → 1.0; far → 0.0; the lone sample is fewer than 2 → fallback 0.25.
        assert_eq!(table.lambdas, vec![1.0, 0.0, 0.25]);
        assert_eq!(table.lambda_for_log_distance(-1.0), 1.0);
        assert_eq!(table.lambda_for_log_distance(3.5), 0.0);

        // 3 bins: boundaries at sorted[7] = -1 (the smallest, dropped) and sorted[14] = 3.
        let coarse = AdaptiveLambda::fit(&samples, 3, &[0.0, 0.5, 1.0], 2, 0.25);
        assert_eq!(coarse.edges, vec![3.0]);
        assert_eq!(coarse.lambdas, vec![1.0, 0.0]);
    }

    #[test]
    fn tuning_set_reproduces_p_knn_of_target() {
        // The worked example again: d = [1, 2, 2], values [5, 7, 5], target 5, T = 1:
        // p_kNN(5) = (e^-1 + e^-2)/(e^-1 + 2e^-2) = 0.78805.
        let mut set = TuningSet::new();
        set.push(0.1f32.ln(), &neighbours(&[1.0, 2.0, 2.0], &[5, 7, 5]), 5);
        set.push(0.1f32.ln(), &neighbours(&[1.0], &[8]), 5);
        let expected = (E.powi(-1) + E.powi(-2)) / (E.powi(-1) + 2.0 * E.powi(-2));
        assert_close(
            f64::from(set.log_p_knn(0, 1.0)),
            expected.ln(),
            "position 0",
        );
        assert_eq!(
            set.log_p_knn(1, 1.0),
            f32::NEG_INFINITY,
            "target not retrieved"
        );
        let samples = set.lambda_samples(1.0);
        assert_eq!(samples[0].log_nearest_distance, 0.0, "ln of nearest d = 1");
    }

    #[test]
    fn tune_finds_the_lambda_and_temperature_that_fit_the_data() {
        // Two neighbours per position at d = 1 (target) and d = 2 (other token).
        // At T → 0, p_kNN(target) → 1; at large T it tends to 0.5. p_LM(target) = 0.05,
        // so the likelihood grows with λ and with smaller T: the best on the grid is
        // λ = 1, T = 0.1 (p_kNN = 1/(1+e^-10) ≈ 0.99995).
        let mut set = TuningSet::new();
        for _ in 0..4 {
            set.push(0.05f32.ln(), &neighbours(&[1.0, 2.0], &[1, 2]), 1);
        }
        let tuned = tune(&set, &[0.1, 1.0, 10.0], &unit_grid(5));
        assert_eq!((tuned.lambda, tuned.temperature), (1.0, 0.1));
        assert_close(tuned.perplexity(), 1.0 + E.powi(-10), "perplexity");

        // When kNN is always wrong, tuning must switch it off.
        let mut wrong = TuningSet::new();
        for _ in 0..4 {
            wrong.push(0.05f32.ln(), &neighbours(&[1.0, 2.0], &[3, 4]), 1);
        }
        assert_eq!(tune(&wrong, &[1.0], &unit_grid(5)).lambda, 0.0);
    }

    #[test]
    fn grids_have_the_requested_ends() {
        let t = log_grid(0.5, 50.0, 3);
        assert_close(f64::from(t[0]), 0.5, "first");
        assert_close(f64::from(t[1]), 5.0, "geometric middle");
        assert_close(f64::from(t[2]), 50.0, "last");
        assert_eq!(unit_grid(5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
    }
}
