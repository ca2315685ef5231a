//! Pure arithmetic of scoring: log-softmax over a logits row, and how a long token
//! sequence is cut into overlapping windows so that every token is scored exactly once.

/// Score of token `index` of a sequence given the tokens before it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PositionScore {
    /// Position of the token in the sequence (≥ 1: token 0 has no context).
    pub index: usize,
    pub token_id: u32,
    /// Natural log of p(token | tokens before it).
    pub logprob: f64,
    /// The token the model ranks first at this position.
    pub top1: u32,
}

/// Natural log of the normaliser of `logits`: ln Σ exp(x).
///
/// Exponentials are taken in f32 of `x - max` (never overflow; relative error below 3e-7
/// each, see [`exp_non_positive`]) and summed in f64, so a 49k-token vocabulary loses no
/// precision in the sum. Written so that the compiler vectorises it: the analysis of a
/// document takes one normaliser per token.
pub fn log_sum_exp(logits: &[f32]) -> f64 {
    // Lanes of independent maxima and sums, so the loops vectorise; the f32 sums go into
    // the f64 total every few chunks, before they can lose precision.
    const LANES: usize = 16;
    const CHUNKS_PER_FLUSH: usize = 8;
    let chunks = logits.chunks_exact(LANES);
    let mut maxima = [f32::NEG_INFINITY; LANES];
    for chunk in chunks.clone() {
        for (max, &x) in maxima.iter_mut().zip(chunk) {
            *max = if x > *max { x } else { *max };
        }
    }
    let max = maxima
        .iter()
        .chain(chunks.remainder())
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return f64::from(max);
    }
    let mut total = 0f64;
    for group in logits.chunks(LANES * CHUNKS_PER_FLUSH) {
        let mut sums = [0f32; LANES];
        let chunks = group.chunks_exact(LANES);
        total += chunks
            .remainder()
            .iter()
            .map(|&x| f64::from(exp_non_positive(x - max)))
            .sum::<f64>();
        for chunk in chunks {
            for (sum, &x) in sums.iter_mut().zip(chunk) {
                *sum += exp_non_positive(x - max);
            }
        }
        total += sums.iter().map(|&s| f64::from(s)).sum::<f64>();
    }
    f64::from(max) + total.ln()
}

/// e^x for x ≤ 0, within 3e-7 relative, without a branch or a library call so that loops
/// over it vectorise (Cephes' expf: x = n ln 2 + r, a degree-6 polynomial for e^r, 2^n
/// built in the exponent bits). Below −87 it returns e^−87 ≈ 1.6e-38 instead of a smaller
/// number: nothing a normaliser whose largest term is 1 can tell apart.
fn exp_non_positive(x: f32) -> f32 {
    // Adding 1.5 · 2^23 rounds to an integer, which then sits in the low mantissa bits.
    const ROUNDER: f32 = 12_582_912.0;
    let x = if x < -87.0 { -87.0 } else { x };
    let shifted = x * std::f32::consts::LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    // ln 2 in two parts, so that x − n ln 2 is exact enough.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 0.166_666_65)
        * r
        + 0.5;
    let e_r = p * r * r + r + 1.0;
    let exponent = (shifted.to_bits() as i32 - ROUNDER.to_bits() as i32 + 127) << 23;
    e_r * f32::from_bits(exponent as u32)
}

/// Index of the largest logit (the first one on ties).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (index, &value) in logits.iter().enumerate() {
        if value > logits[best] {
            best = index;
        }
    }
    best as u32
}

/// Log-probabilities of the whole vocabulary.
pub fn log_softmax(logits: &[f32]) -> Vec<f32> {
    let normaliser = log_sum_exp(logits);
    logits
        .iter()
        .map(|&x| (f64::from(x) - normaliser) as f32)
        .collect()
}

/// One model run over `tokens[start..end]`, scoring the targets `first_target..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: usize,
    pub first_target: usize,
    pub end: usize,
}

/// Cuts a sequence of `len` tokens into windows of at most `window` tokens that advance by
/// `stride`. Each target 1..len is scored once, in the first window that contains it after its
/// start, so every target has at least `window - stride` tokens of context (or all before it).
///
/// Requires `1 <= stride < window`.
pub fn plan_windows(len: usize, window: usize, stride: usize) -> Vec<Window> {
    assert!(
        stride >= 1 && stride < window,
        "need 1 <= stride ({stride}) < window ({window})"
    );
    if len < 2 {
        return Vec::new();
    }
    let mut windows = vec![Window {
        start: 0,
        first_target: 1,
        end: len.min(window),
    }];
    while let Some(&last) = windows.last().filter(|last| last.end < len) {
        let start = last.start + stride;
        windows.push(Window {
            start,
            first_target: last.end,
            end: len.min(start + window),
        });
    }
    windows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_softmax_matches_the_exact_normaliser() {
        // (logits, ln Σ exp(x) worked out by hand)
        let cases: [(&[f32], f64); 4] = [
            (&[0.0, 0.0, 0.0, 0.0], 4f64.ln()),
            (
                &[1.0, 2.0, 3.0],
                (1f64.exp() + 2f64.exp() + 3f64.exp()).ln(),
            ),
            (
                &[1000.0, 999.0, -1000.0],
                1000.0 + (1.0 + (-1f64).exp()).ln(),
            ),
            (
                &[-50.0, -50.5, -49.0, -80.0],
                -49.0 + ((-1f64).exp() + (-1.5f64).exp() + 1.0 + (-31f64).exp()).ln(),
            ),
        ];
        for (logits, normaliser) in cases {
            assert!(
                (log_sum_exp(logits) - normaliser).abs() < 1e-6,
                "{logits:?}"
            );
            let log_probs = log_softmax(logits);
            for (&x, &lp) in logits.iter().zip(&log_probs) {
                let expected = f64::from(x) - normaliser;
                // The results are f32: compare with relative precision.
                let tolerance = 1e-6 * expected.abs().max(1.0);
                assert!(
                    (f64::from(lp) - expected).abs() < tolerance,
                    "{logits:?}: {lp} vs {expected}"
                );
            }
            let total: f64 = log_probs.iter().map(|&lp| f64::from(lp).exp()).sum();
            assert!((total - 1.0).abs() < 1e-6, "{logits:?} sums to {total}");
        }
    }

    #[test]
    fn exp_non_positive_is_within_3e7_of_the_exact_exponential() {
        for step in 0..=870_000 {
            let x = -(step as f32) * 1e-4;
            let exact = f64::from(x).exp();
            let relative = (f64::from(exp_non_positive(x)) - exact).abs() / exact;
            assert!(relative < 3e-7, "e^{x}: relative error {relative}");
        }
        assert_eq!(exp_non_positive(0.0), 1.0);
        assert!(exp_non_positive(-1000.0) < 2e-38);
        assert!(exp_non_positive(f32::NEG_INFINITY) < 2e-38);
    }

    #[test]
    fn log_sum_exp_of_a_vocabulary_row_matches_f64() {
        let mut random = crate::random::SplitMix64(7);
        for spread in [0.1f32, 5.0, 30.0] {
            let logits: Vec<f32> = (0..49_152)
                .map(|_| (random.uniform() as f32 - 0.5) * 2.0 * spread)
                .collect();
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exact = f64::from(max)
                + logits
                    .iter()
                    .map(|&x| (f64::from(x) - f64::from(max)).exp())
                    .sum::<f64>()
                    .ln();
            let error = (log_sum_exp(&logits) - exact).abs();
            assert!(error < 1e-6, "spread {spread}: off by {error}");
        }
        assert_eq!(log_sum_exp(&[f32::NEG_INFINITY; 3]), f64::NEG_INFINITY);
    }

    #[test]
    fn argmax_picks_the_first_largest() {
        let cases: [(&[f32], u32); 4] = [
            (&[3.0], 0),
            (&[1.0, 5.0, 2.0], 1),
            (&[2.0, 7.0, 7.0], 1),
            (&[-3.0, -1.0], 1),
        ];
        for (logits, expected) in cases {
            assert_eq!(argmax(logits), expected, "{logits:?}");
        }
    }

    fn check_plan(len: usize, window: usize, stride: usize, expected: &[(usize, usize, usize)]) {
        let actual: Vec<(usize, usize, usize)> = plan_windows(len, window, stride)
            .iter()
            .map(|w| (w.start, w.first_target, w.end))
            .collect();
        assert_eq!(
            actual, expected,
            "len {len}, window {window}, stride {stride}"
        );
        // Every target 1..len exactly once, always with context inside its window.
        let targets: Vec<usize> = plan_windows(len, window, stride)
            .iter()
            .flat_map(|w| {
                assert!(w.start < w.first_target && w.end - w.start <= window);
                w.first_target..w.end
            })
            .collect();
        assert_eq!(targets, (1..len).collect::<Vec<_>>());
    }

    #[test]
    fn windows_cover_every_target_once() {
        check_plan(0, 8, 4, &[]);
        check_plan(1, 8, 4, &[]);
        check_plan(2, 8, 4, &[(0, 1, 2)]);
        check_plan(8, 8, 4, &[(0, 1, 8)]);
        check_plan(9, 8, 4, &[(0, 1, 8), (4, 8, 9)]);
        check_plan(
            20,
            8,
            4,
            &[(0, 1, 8), (4, 8, 12), (8, 12, 16), (12, 16, 20)],
        );
        check_plan(10, 8, 7, &[(0, 1, 8), (7, 8, 10)]);
        check_plan(5, 2, 1, &[(0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5)]);
    }
}
