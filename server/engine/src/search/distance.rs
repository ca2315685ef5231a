//! Squared L2 distances between f32 queries and f16 keys, with an AVX2/FMA/F16C kernel
//! where the CPU has one (checked at run time) and a portable fallback.

use half::f16;
use half::slice::HalfFloatSliceExt;

/// ‖query − key‖² (no square root).
pub fn squared_l2(query: &[f32], key: &[f16]) -> f32 {
    assert_eq!(query.len(), key.len(), "query and key dimensions differ");
    #[cfg(target_arch = "x86_64")]
    if has_avx2_f16c() {
        // SAFETY: the CPU supports the features the kernel is compiled for (checked above),
        // and the lengths are equal.
        return unsafe { x86::squared_l2_f32_f16(query, key) };
    }
    portable_squared_l2(query, key)
}

/// ‖a − b‖² between two stored keys (used while building the graph).
pub fn squared_l2_f16(a: &[f16], b: &[f16]) -> f32 {
    assert_eq!(a.len(), b.len(), "key dimensions differ");
    #[cfg(target_arch = "x86_64")]
    if has_avx2_f16c() {
        // SAFETY: as in `squared_l2`.
        return unsafe { x86::squared_l2_f16_f16(a, b) };
    }
    let mut a32 = vec![0f32; a.len()];
    a.convert_to_f32_slice(&mut a32);
    portable_squared_l2(&a32, b)
}

/// ‖a − b‖² of two f32 vectors (the continuous cache keeps its keys in f32).
pub fn squared_l2_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dimensions differ");
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Asks the CPU to start loading a key into the cache: graph search touches keys scattered
/// over the whole map, so it requests a node's neighbours together before using them.
#[inline]
pub(crate) fn prefetch(key: &[f16]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = size_of_val(key);
        let start = key.as_ptr().cast::<i8>();
        for offset in (0..bytes).step_by(64) {
            // SAFETY: the address lies within `key`; prefetching never faults anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_f16c() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}

fn portable_squared_l2(query: &[f32], key: &[f16]) -> f32 {
    const CHUNK: usize = 64;
    let mut decoded = [0f32; CHUNK];
    let mut sum = 0f32;
    for (q, k) in query.chunks(CHUNK).zip(key.chunks(CHUNK)) {
        let decoded = &mut decoded[..k.len()];
        k.convert_to_f32_slice(decoded);
        sum += q
            .iter()
            .zip(decoded.iter())
            .map(|(x, y)| (x - y) * (x - y))
            .sum::<f32>();
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use half::f16;
    use std::arch::x86_64::*;

    /// Sum of the 8 lanes.
    #[target_feature(enable = "avx2,fma")]
    fn horizontal_sum(v: __m256) -> f32 {
        let pair = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let pair = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
        let single = _mm_add_ss(pair, _mm_shuffle_ps(pair, pair, 1));
        _mm_cvtss_f32(single)
    }

    /// 8 f16 at `p` widened to f32.
    ///
    /// # Safety
    /// `p` must be valid for reading 8 f16.
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_f16x8(p: *const f16) -> __m256 {
        // SAFETY: the caller guarantees 16 readable bytes at p (unaligned load).
        _mm256_cvtph_ps(unsafe { _mm_loadu_si128(p.cast()) })
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; `q.len() == k.len()`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn squared_l2_f32_f16(q: &[f32], k: &[f16]) -> f32 {
        let n = q.len();
        let (qp, kp) = (q.as_ptr(), k.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY: every load reads within [0, n) of both slices.
        unsafe {
            while i + 32 <= n {
                for (j, acc) in acc.iter_mut().enumerate() {
                    let at = i + 8 * j;
                    let d = _mm256_sub_ps(_mm256_loadu_ps(qp.add(at)), load_f16x8(kp.add(at)));
                    *acc = _mm256_fmadd_ps(d, d, *acc);
                }
                i += 32;
            }
            while i + 8 <= n {
                let d = _mm256_sub_ps(_mm256_loadu_ps(qp.add(i)), load_f16x8(kp.add(i)));
                acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
                i += 8;
            }
        }
        let total = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut sum = horizontal_sum(total);
        for j in i..n {
            let d = q[j] - k[j].to_f32();
            sum += d * d;
        }
        sum
    }

    /// # Safety
    /// The CPU must support AVX2, FMA and F16C; `a.len() == b.len()`.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn squared_l2_f16_f16(a: &[f16], b: &[f16]) -> f32 {
        let n = a.len();
        let (ap, bp) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 2];
        let mut i = 0;
        // SAFETY: every load reads within [0, n) of both slices.
        unsafe {
            while i + 16 <= n {
                for (j, acc) in acc.iter_mut().enumerate() {
                    let at = i + 8 * j;
                    let d = _mm256_sub_ps(load_f16x8(ap.add(at)), load_f16x8(bp.add(at)));
                    *acc = _mm256_fmadd_ps(d, d, *acc);
                }
                i += 16;
            }
        }
        let mut sum = horizontal_sum(_mm256_add_ps(acc[0], acc[1]));
        for j in i..n {
            let d = a[j].to_f32() - b[j].to_f32();
            sum += d * d;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(values: &[f32]) -> Vec<f16> {
        values.iter().map(|&x| f16::from_f32(x)).collect()
    }

    #[test]
    fn kernels_agree_with_the_definition() {
        // Lengths around the SIMD block sizes (8, 16, 32) exercise every tail.
        for dim in [1, 7, 8, 15, 16, 31, 33, 64, 576] {
            let a: Vec<f32> = (0..dim)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.5)
                .collect();
            let b: Vec<f32> = (0..dim)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.25)
                .collect();
            // The values are multiples of 1/4 below 8, exact in f16.
            let expected: f32 = a.iter().zip(&b).map(|(x, y)| (x - y) * (x - y)).sum();
            let (a16, b16) = (keys(&a), keys(&b));
            let tolerance = 1e-5 * expected.max(1.0);
            assert!(
                (squared_l2(&a, &b16) - expected).abs() <= tolerance,
                "f32·f16, dim {dim}"
            );
            assert!(
                (squared_l2_f16(&a16, &b16) - expected).abs() <= tolerance,
                "f16·f16, dim {dim}"
            );
            assert!(
                (portable_squared_l2(&a, &b16) - expected).abs() <= tolerance,
                "portable, dim {dim}"
            );
            assert!(
                (squared_l2_f32(&a, &b) - expected).abs() <= tolerance,
                "f32·f32, dim {dim}"
            );
        }
    }
}
