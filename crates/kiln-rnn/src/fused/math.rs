//! Vectorisable element-wise maths for the fused kernels: `exp`, `sigmoid` and `tanh` on slices.
//!
//! The scalar `expf`/`tanhf` of libm cannot be vectorised; these branch-free versions can (a
//! degree-6 polynomial after Cody-Waite range reduction, about 2 ulp on `exp`). The range
//! reduction and the polynomial use fused multiply-adds (`f32::mul_add`: one rounding, so the
//! same bits on every path); they halve the exponential's operations against a multiply and an
//! add per term (docs/performance.md). On x86-64 with AVX2 and FMA the slice function (like the
//! step functions of `rows`, through `kiln_kernels::widest!`) runs an 8-wide build chosen at run
//! time, and a 16-wide one where the CPU has AVX-512 and the crate's `avx512` feature is on; a CPU
//! without FMA runs the baseline build, whose `mul_add` is libm's exact but slow `fmaf`.

use kiln_kernels::widest;

const LOG2_E: f32 = std::f32::consts::LOG2_E;
const LN2_HI: f32 = 0.693_145_75;
const LN2_LO: f32 = 1.428_606_8e-6;
/// Adding and subtracting 1.5 * 2^23 rounds an f32 of magnitude below 2^22 to an integer.
const ROUND: f32 = 12_582_912.0;

/// `e^x`, clamped to the normal f32 range.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // `t` holds round(x / ln 2) in its low mantissa bits; reading them as an integer (instead
    // of a saturating `as i32`) keeps the whole function vectorisable.
    let t = x.mul_add(LOG2_E, ROUND);
    let n = t - ROUND;
    let exponent = t.to_bits().wrapping_sub(ROUND.to_bits());
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let p = r.mul_add(1.0 / 720.0, 1.0 / 120.0);
    let p = r.mul_add(p, 1.0 / 24.0);
    let p = r.mul_add(p, 1.0 / 6.0);
    let p = r.mul_add(p, 0.5);
    let p = r.mul_add(p, 1.0);
    let p = r.mul_add(p, 1.0);
    f32::from_bits(exponent.wrapping_add(127) << 23) * p
}

/// The logistic function `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// The hyperbolic tangent, as `1 - 2 / (e^2x + 1)`.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

widest! {
    /// Applies [`tanh`] to every value in place.
    pub fn tanh_in_place(values: &mut [f32]) {
        for v in values.iter_mut() {
            *v = tanh(*v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_sigmoid_and_tanh_match_the_standard_library() {
        let mut worst = [0.0f32; 3];
        for i in -4000..=4000 {
            let x = i as f32 / 200.0;
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            worst[0] = worst[0].max(rel);
            worst[1] = worst[1].max((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs());
            worst[2] = worst[2].max((tanh(x) - x.tanh()).abs());
        }
        assert!(worst[0] < 1e-6, "exp relative error {}", worst[0]);
        assert!(worst[1] < 1e-6, "sigmoid error {}", worst[1]);
        assert!(worst[2] < 1e-6, "tanh error {}", worst[2]);
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
        assert_eq!(sigmoid(-200.0), 1.0 / (1.0 + exp(200.0)));
    }

    #[test]
    fn slice_versions_agree_with_the_scalar_ones() {
        let values: Vec<f32> = (0..37).map(|i| i as f32 * 0.37 - 6.0).collect();
        let mut t = values.clone();
        tanh_in_place(&mut t);
        for (i, v) in values.iter().enumerate() {
            assert_eq!(t[i].to_bits(), tanh(*v).to_bits());
        }
    }
}
