//! The 2x2 max pool of one output row in vector registers (rows of up to 16 windows, as in the
//! reference CNN's 13- and 5-window rows): masked loads of the two input rows, even and odd
//! columns separated by permutes, and the winners' indices computed as vectors; AVX-512 where
//! the CPU has it (and the crate's `avx512` feature is on), else AVX2 in halves of 8 windows.
//! Compiled loops over so few windows ran mostly in their scalar remainder.

use std::arch::x86_64::*;

use super::kernels::CUT;

/// Windows a row may have for [`pool_row_of_twos`].
pub const MOST: usize = 16;

/// Pools the row of `out.len()` (at most [`MOST`]) 2x2 windows starting at `top` of `conv`
/// (rows `ow` apart) into `out` and `winners`, as [`super::kernels`]'s portable version does (the
/// same comparisons in the same order, the same bits); false, doing nothing, where the CPU has
/// neither AVX-512 nor AVX2 or the row is longer.
pub fn pool_row_of_twos(
    conv: &[f32],
    top: usize,
    ow: usize,
    bias: f32,
    out: &mut [f32],
    winners: &mut [u32],
) -> bool {
    let pw = out.len().min(winners.len());
    let fits = pw <= MOST && top + ow + 2 * pw <= conv.len() && 2 * pw <= ow;
    if !fits {
        return false;
    }
    let up = conv[top..].as_ptr();
    #[cfg(feature = "avx512")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F; the masked loads read `2 * pw` values of each row,
        // inside `conv` (checked above), and the masked stores write `pw` values of `out` and
        // `winners`.
        unsafe { row_avx512(up, top, ow, bias, pw, out, winners) };
        return true;
    }
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2; the same reads and writes as above, and whole vectors read
        // only within the `conv.len() - top` values from `up`.
        unsafe { row_avx2(up, conv.len() - top, top, ow, bias, pw, out, winners) };
        return true;
    }
    false
}

/// See [`pool_row_of_twos`], 8 windows at a time in AVX2 registers; `up` points at the row's
/// first value, with `room` values readable from it.
///
/// Whole vectors are loaded where they lie within `room` and the results stored whole where all
/// 8 windows are wanted (else through a buffer on the stack): AMD's Zen cores run AVX2's masked
/// stores (`vmaskmovps`, `vpmaskmovd`) slowly (they were 11% of the reference CNN's AVX2 training
/// profile on a Zen 4, against 5% for the AVX-512 version of this row).
#[target_feature(enable = "avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn row_avx2(
    up: *const f32,
    room: usize,
    top: usize,
    ow: usize,
    bias: f32,
    pw: usize,
    out: &mut [f32],
    winners: &mut [u32],
) {
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    let below = |count: usize| _mm256_cmpgt_epi32(_mm256_set1_epi32(count as i32), lane);
    // Even values to the low half, odd ones to the high half.
    let split = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    let zero = _mm256_setzero_ps();
    for first in (0..pw).step_by(8) {
        let count = (pw - first).min(8);
        let (m_lo, m_hi) = (
            below((2 * count).min(8)),
            below((2 * count).saturating_sub(8)),
        );
        // SAFETY: the caller keeps the masked reads (`2 * count` values of each row from
        // window `first`) and writes (`count` values) inside the slices.
        unsafe {
            let u = up.wrapping_add(2 * first);
            let l = u.wrapping_add(ow);
            let columns = |lo: __m256, hi: __m256| {
                let (lo, hi) = (
                    _mm256_permutevar8x32_ps(lo, split),
                    _mm256_permutevar8x32_ps(hi, split),
                );
                (
                    _mm256_permute2f128_ps::<0x20>(lo, hi),
                    _mm256_permute2f128_ps::<0x31>(lo, hi),
                )
            };
            // The lanes past `2 * count` values are never stored, so whole loads may read
            // anything there, within `room`.
            let whole = ow + 2 * first + 16 <= room;
            let load = |at: *const f32, mask: __m256i| {
                if whole {
                    _mm256_loadu_ps(at)
                } else {
                    _mm256_maskload_ps(at, mask)
                }
            };
            let (u0, u1) = columns(load(u, m_lo), load(u.wrapping_add(8), m_hi));
            let (l0, l1) = columns(load(l, m_lo), load(l.wrapping_add(8), m_hi));
            let down0 = _mm256_cmp_ps::<_CMP_GT_OQ>(l0, u0);
            let down1 = _mm256_cmp_ps::<_CMP_GT_OQ>(l1, u1);
            let v0 = _mm256_blendv_ps(u0, l0, down0);
            let v1 = _mm256_blendv_ps(u1, l1, down1);
            let right = _mm256_cmp_ps::<_CMP_GT_OQ>(v1, v0);
            let best = _mm256_blendv_ps(v0, v1, right);
            let down = _mm256_castps_si256(_mm256_blendv_ps(down0, down1, right));
            // `top + 2 (first + i) + right + (down ? ow : 0)`; `right` is all ones (-1) where set.
            let at = _mm256_add_epi32(
                _mm256_set1_epi32((top + 2 * first) as i32),
                _mm256_slli_epi32::<1>(lane),
            );
            let at = _mm256_sub_epi32(at, _mm256_castps_si256(right));
            let at = _mm256_add_epi32(at, _mm256_and_si256(down, _mm256_set1_epi32(ow as i32)));
            let value = _mm256_add_ps(best, _mm256_set1_ps(bias));
            let cut = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LE_OQ>(value, zero));
            let at = _mm256_or_si256(at, _mm256_and_si256(cut, _mm256_set1_epi32(CUT as i32)));
            let rectified = _mm256_max_ps(value, zero);
            if count == 8 {
                _mm256_storeu_ps(out.as_mut_ptr().add(first), rectified);
                _mm256_storeu_si256(winners.as_mut_ptr().add(first).cast(), at);
            } else {
                let (mut values, mut indices) = ([0.0f32; 8], [0u32; 8]);
                _mm256_storeu_ps(values.as_mut_ptr(), rectified);
                _mm256_storeu_si256(indices.as_mut_ptr().cast(), at);
                out[first..first + count].copy_from_slice(&values[..count]);
                winners[first..first + count].copy_from_slice(&indices[..count]);
            }
        }
    }
}

/// See [`pool_row_of_twos`]; `up` points at the row's first value.
#[cfg(feature = "avx512")]
#[target_feature(enable = "avx512f")]
unsafe fn row_avx512(
    up: *const f32,
    top: usize,
    ow: usize,
    bias: f32,
    pw: usize,
    out: &mut [f32],
    winners: &mut [u32],
) {
    let n = 2 * pw;
    let lanes = |count: usize| -> __mmask16 { ((1u32 << count.min(16)) - 1) as __mmask16 };
    let (m_lo, m_hi, m_out) = (lanes(n), lanes(n.saturating_sub(16)), lanes(pw));
    // SAFETY (whole body): the caller keeps the masked reads and writes inside the slices.
    unsafe {
        let down_row = up.add(ow);
        let u_lo = _mm512_maskz_loadu_ps(m_lo, up);
        let u_hi = _mm512_maskz_loadu_ps(m_hi, up.wrapping_add(16));
        let l_lo = _mm512_maskz_loadu_ps(m_lo, down_row);
        let l_hi = _mm512_maskz_loadu_ps(m_hi, down_row.wrapping_add(16));
        let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        let (u0, u1) = (
            _mm512_permutex2var_ps(u_lo, even, u_hi),
            _mm512_permutex2var_ps(u_lo, odd, u_hi),
        );
        let (l0, l1) = (
            _mm512_permutex2var_ps(l_lo, even, l_hi),
            _mm512_permutex2var_ps(l_lo, odd, l_hi),
        );
        // `down = l > u` per column, then the larger of the pair's two columns (`right`).
        let down0 = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(l0, u0);
        let down1 = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(l1, u1);
        let v0 = _mm512_mask_blend_ps(down0, u0, l0);
        let v1 = _mm512_mask_blend_ps(down1, u1, l1);
        let right = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v1, v0);
        let best = _mm512_mask_blend_ps(right, v0, v1);
        let down = (right & down1) | (!right & down0);
        // The winner's index: `top + 2 px + right + (down ? ow : 0)`.
        let columns = _mm512_slli_epi32::<1>(_mm512_setr_epi32(
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
        ));
        let at = _mm512_add_epi32(_mm512_set1_epi32(top as i32), columns);
        let at = _mm512_mask_add_epi32(at, right, at, _mm512_set1_epi32(1));
        let at = _mm512_mask_add_epi32(at, down, at, _mm512_set1_epi32(ow as i32));
        let value = _mm512_add_ps(best, _mm512_set1_ps(bias));
        let cut = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(value, _mm512_setzero_ps());
        let at = _mm512_mask_or_epi32(at, cut, at, _mm512_set1_epi32(CUT as i32));
        let rectified = _mm512_max_ps(value, _mm512_setzero_ps());
        _mm512_mask_storeu_ps(out.as_mut_ptr(), m_out, rectified);
        _mm512_mask_storeu_epi32(winners.as_mut_ptr().cast(), m_out, at);
    }
}

#[cfg(test)]
mod tests {
    use super::super::kernels::pool_row_of_twos_body;
    use super::*;

    #[test]
    fn matches_the_portable_pool_bit_for_bit() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            eprintln!("skipped: this CPU has neither AVX-512 nor AVX2");
            return;
        }
        let mut state = 7u32;
        let mut next = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            // Values on a coarse grid, so that ties are common, negative and positive.
            ((state >> 24) % 9) as f32 - 4.0
        };
        for ow in [2, 5, 11, 26, 32, 33] {
            let rows = 4;
            let conv: Vec<f32> = (0..ow * rows).map(|_| next()).collect();
            for pw in 1..=(ow / 2).min(MOST) {
                for (top, bias) in [(0, 0.0), (ow, 1.5), (2 * ow, -2.0)] {
                    let (mut out, mut won) = (vec![0.0; pw], vec![0u32; pw]);
                    let (mut want, mut want_won) = (vec![0.0; pw], vec![0u32; pw]);
                    assert!(pool_row_of_twos(&conv, top, ow, bias, &mut out, &mut won));
                    pool_row_of_twos_body(&conv, top, ow, bias, &mut want, &mut want_won);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&out), bits(&want), "ow {ow} pw {pw} top {top}");
                    assert_eq!(won, want_won, "ow {ow} pw {pw} top {top}: winners");
                }
            }
        }
        // A row longer than the registers hold is left to the portable version.
        let conv = vec![1.0; 80];
        let (mut out, mut won) = (vec![0.0; 17], vec![0u32; 17]);
        assert!(!pool_row_of_twos(&conv, 0, 34, 0.0, &mut out, &mut won));
    }
}
