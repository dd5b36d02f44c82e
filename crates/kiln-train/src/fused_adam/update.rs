//! The fused update itself: moments and step in one pass over a run of values.

use super::coefficients::{Coefficients, Rule};

/// Values per parallel task of the fused update (element-wise: any split gives the same result).
const VALUES_PER_TASK: usize = 1 << 15;

/// The update of a parameter's values, split across threads for large parameters (element-wise:
/// any split gives the same result).
#[cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(dead_code))]
pub(super) fn update(
    values: &mut [f32],
    m1: &mut [f32],
    m2: &mut [f32],
    grad: &[f32],
    c: Coefficients,
) {
    if values.len() <= VALUES_PER_TASK {
        update_run(values, m1, m2, grad, c);
    } else {
        let parts: Vec<_> = values
            .chunks_mut(VALUES_PER_TASK)
            .zip(m1.chunks_mut(VALUES_PER_TASK))
            .zip(m2.chunks_mut(VALUES_PER_TASK))
            .zip(grad.chunks(VALUES_PER_TASK))
            .collect();
        kiln_kernels::run_parts(parts, |(((v, m1), m2), g)| update_run(v, m1, m2, g, c));
    }
}

/// The update of a run of values, compiled for AVX2 as well and chosen at run time (the same
/// operations in the same order, so the same results: Rust does not contract them into fused
/// multiply-adds). Subnormal values are flushed to zero ([`kiln_kernels::subnormal`]): the
/// moments of a parameter whose gradient stays zero decay through that range, where every
/// operation would take the CPU's slow path.
fn update_run(values: &mut [f32], m1: &mut [f32], m2: &mut [f32], grad: &[f32], c: Coefficients) {
    kiln_kernels::subnormal::flushed(|| {
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2")]
            fn wide(v: &mut [f32], m1: &mut [f32], m2: &mut [f32], g: &[f32], c: Coefficients) {
                update_body(v, m1, m2, g, c)
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has the feature `wide` was compiled for.
                unsafe { wide(values, m1, m2, grad, c) };
                return;
            }
        }
        update_body(values, m1, m2, grad, c)
    })
}

/// The body of [`update_run`]: Burn's operations, in Burn's order, per value.
#[inline(always)]
fn update_body(values: &mut [f32], m1: &mut [f32], m2: &mut [f32], grad: &[f32], c: Coefficients) {
    let n = values.len().min(m1.len()).min(m2.len()).min(grad.len());
    let (values, m1, m2, grad) = (&mut values[..n], &mut m1[..n], &mut m2[..n], &grad[..n]);
    if c.first {
        for i in 0..n {
            let g = grad[i];
            m1[i] = g * c.factor_1;
            m2[i] = (g * g) * c.factor_2;
        }
    } else {
        for i in 0..n {
            let g = grad[i];
            m1[i] = m1[i] * c.beta_1 + g * c.factor_1;
            m2[i] = m2[i] * c.beta_2 + (g * g) * c.factor_2;
        }
    }
    match c.rule {
        Rule::Adam { combined, epsilon } => {
            for i in 0..n {
                let step = (m1[i] * combined) / (m2[i].sqrt() + epsilon);
                values[i] -= step * c.lr;
            }
        }
        Rule::AdamW {
            correction_1,
            correction_2,
            epsilon,
            keep,
        } => {
            for i in 0..n {
                let step = (m1[i] / correction_1) / ((m2[i] / correction_2).sqrt() + epsilon);
                values[i] = values[i] * keep - step * c.lr;
            }
        }
    }
}
