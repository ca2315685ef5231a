//! A small deterministic random generator (SplitMix64) for synthetic data and sampling in
//! benchmarks and tests: the same seed gives the same numbers everywhere, with no dependency.

/// SplitMix64, with uniform and standard normal (Box–Muller) draws.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f32 {
        let u = self.uniform().max(1e-12);
        let v = self.uniform();
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_numbers_and_draws_stay_in_range() {
        let (mut a, mut b) = (SplitMix64(7), SplitMix64(7));
        let first: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        assert_eq!(first, (0..4).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(first[0], SplitMix64(8).next_u64());
        let mut draws = SplitMix64(1);
        let normals: Vec<f32> = (0..10_000).map(|_| draws.normal()).collect();
        let mean = normals.iter().sum::<f32>() / normals.len() as f32;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((0..1000).all(|_| (0.0..1.0).contains(&draws.uniform())));
    }
}
