//! The batch norm's reductions over one feature map: `(sum d, sum d * (y - mean))` with
//! `d = (x - shift)` masked, in 16 f32 lanes, widened to f64 per map.
//!
//! Written with AVX2 intrinsics (two 8-lane registers for the 16 lanes) where the CPU has AVX2:
//! the compiler did not keep the portable version's lane arrays in registers (it spilled them
//! and ran the lanes one by one). The portable version performs the same operations in the
//! same order (no fused multiply-add), so both give the same sums bit for bit.

/// f32 lanes of the sums.
pub const LANES: usize = 16;

/// One map's `(sum d, sum d * (y - mean))`, `d = x - shift` where `kept` (all of them when
/// `kept` is empty); `x`, `y` (and `kept`) the same length.
pub fn plane_sums(x: &[f32], y: &[f32], kept: &[bool], shift: f32, mean: f32) -> (f64, f64) {
    assert!(y.len() == x.len() && (kept.is_empty() || kept.len() == x.len()));
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, and the lengths are checked above.
        return unsafe { avx2::plane_sums(x, y, kept, shift, mean) };
    }
    portable(x, y, kept, shift, mean)
}

/// `value` where `keep`, else 0.
fn masked(value: f32, keep: bool) -> f32 {
    if keep { value } else { 0.0 }
}

/// The sums of the lanes (in order) and the tail, in f64.
fn widen(lanes: &[f32; LANES], tail: f32) -> f64 {
    lanes.iter().map(|&v| f64::from(v)).sum::<f64>() + f64::from(tail)
}

/// Lane `k` sums the values at `k`, `k + 16`, ...; the values past the last whole block are
/// summed in order on their own (the tail).
fn portable(x: &[f32], y: &[f32], kept: &[bool], shift: f32, mean: f32) -> (f64, f64) {
    let whole = x.len() / LANES * LANES;
    let keep = |i: usize| kept.is_empty() || kept[i];
    let (mut first, mut second) = ([0.0f32; LANES], [0.0f32; LANES]);
    for start in (0..whole).step_by(LANES) {
        for k in 0..LANES {
            let i = start + k;
            let d = masked(x[i] - shift, keep(i));
            first[k] += d;
            second[k] += d * (y[i] - mean);
        }
    }
    let (mut tail_first, mut tail_second) = (0.0f32, 0.0f32);
    for i in whole..x.len() {
        let d = masked(x[i] - shift, keep(i));
        tail_first += d;
        tail_second += d * (y[i] - mean);
    }
    (widen(&first, tail_first), widen(&second, tail_second))
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{LANES, masked, widen};

    /// [`super::portable`] in two 8-lane registers per sum.
    ///
    /// # Safety
    /// The CPU has AVX2; `y` (and `kept`, unless empty) are as long as `x`.
    #[target_feature(enable = "avx2")]
    pub unsafe fn plane_sums(
        x: &[f32],
        y: &[f32],
        kept: &[bool],
        shift: f32,
        mean: f32,
    ) -> (f64, f64) {
        let whole = x.len() / LANES * LANES;
        let (shift_v, mean_v) = (_mm256_set1_ps(shift), _mm256_set1_ps(mean));
        let mut first = [_mm256_setzero_ps(); 2];
        let mut second = [_mm256_setzero_ps(); 2];
        for start in (0..whole).step_by(LANES) {
            for (half, (first, second)) in first.iter_mut().zip(&mut second).enumerate() {
                let at = start + half * 8;
                // SAFETY: `at + 8 <= whole <= x.len()`, and `y` and `kept` are as long.
                unsafe {
                    let mut d = _mm256_sub_ps(_mm256_loadu_ps(x.as_ptr().add(at)), shift_v);
                    if !kept.is_empty() {
                        let bytes = _mm_loadl_epi64(kept.as_ptr().add(at).cast());
                        let ones =
                            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_cvtepu8_epi32(bytes));
                        d = _mm256_and_ps(d, _mm256_castsi256_ps(ones));
                    }
                    let centred = _mm256_sub_ps(_mm256_loadu_ps(y.as_ptr().add(at)), mean_v);
                    *first = _mm256_add_ps(*first, d);
                    *second = _mm256_add_ps(*second, _mm256_mul_ps(d, centred));
                }
            }
        }
        let lanes = |v: [__m256; 2]| {
            let mut out = [0.0f32; LANES];
            // SAFETY: `out` holds 16 values.
            unsafe {
                _mm256_storeu_ps(out.as_mut_ptr(), v[0]);
                _mm256_storeu_ps(out.as_mut_ptr().add(8), v[1]);
            }
            out
        };
        let (mut tail_first, mut tail_second) = (0.0f32, 0.0f32);
        for i in whole..x.len() {
            let d = masked(x[i] - shift, kept.is_empty() || kept[i]);
            tail_first += d;
            tail_second += d * (y[i] - mean);
        }
        (
            widen(&lanes(first), tail_first),
            widen(&lanes(second), tail_second),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_gives_the_portable_sums_bit_for_bit() {
        for len in [0, 1, 15, 16, 49, 196, 784] {
            let x: Vec<f32> = (0..len)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.37)
                .collect();
            let y: Vec<f32> = (0..len)
                .map(|i| ((i * 53 % 89) as f32 - 40.0) * 0.11)
                .collect();
            let kept: Vec<bool> = (0..len).map(|i| i % 3 != 1).collect();
            for kept in [&kept[..], &[]] {
                let (a, b) = plane_sums(&x, &y, kept, 0.25, -1.5);
                let (c, d) = portable(&x, &y, kept, 0.25, -1.5);
                assert_eq!(
                    (a.to_bits(), b.to_bits()),
                    (c.to_bits(), d.to_bits()),
                    "{len}"
                );
                // And the sums themselves, against a plain f64 loop.
                let mask = |i: usize| kept.is_empty() || kept[i];
                let d: Vec<f64> = (0..len)
                    .map(|i| if mask(i) { f64::from(x[i] - 0.25) } else { 0.0 })
                    .collect();
                let sum: f64 = d.iter().sum();
                let dot: f64 = (0..len).map(|i| d[i] * f64::from(y[i] + 1.5)).sum();
                assert!(
                    (a - sum).abs() <= 1e-3 * (1.0 + sum.abs()),
                    "{len}: {a} vs {sum}"
                );
                assert!(
                    (b - dot).abs() <= 1e-3 * (1.0 + dot.abs()),
                    "{len}: {b} vs {dot}"
                );
            }
        }
    }
}
