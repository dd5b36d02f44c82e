//! RDP of the sampled Gaussian mechanism: one step at order α is `ln(A_α) / (α − 1)`.

use crate::log_space::{log_add, log_erfc, log_sub};

/// Opacus's default orders: 1.1, 1.2, …, 10.9, then 12, 13, …, 63 (151 orders; 11 is absent).
pub const DEFAULT_ORDERS: usize = 151;

/// The default orders themselves.
pub fn default_orders() -> Vec<f64> {
    let mut orders: Vec<f64> = (1..100).map(|x| 1.0 + x as f64 / 10.0).collect();
    orders.extend((12..64).map(f64::from));
    orders
}

/// RDP at each of `orders` of `steps` steps of the sampled Gaussian mechanism with sampling
/// rate `q` and noise multiplier `sigma`.
pub fn compute_rdp(q: f64, sigma: f64, steps: usize, orders: &[f64]) -> Vec<f64> {
    orders
        .iter()
        .map(|&alpha| one_step(q, sigma, alpha) * steps as f64)
        .collect()
}

fn one_step(q: f64, sigma: f64, alpha: f64) -> f64 {
    if q == 0.0 {
        return 0.0;
    }
    if sigma == 0.0 {
        return f64::INFINITY;
    }
    if q == 1.0 {
        return alpha / (2.0 * sigma * sigma);
    }
    if alpha.is_infinite() {
        return f64::INFINITY;
    }
    let log_a = if alpha.fract() == 0.0 {
        log_a_integer(q, sigma, alpha as u64)
    } else {
        log_a_fractional(q, sigma, alpha)
    };
    log_a / (alpha - 1.0)
}

/// `ln C(n, k)` for integers.
fn log_binomial(n: u64, k: u64) -> f64 {
    let lg = |x: f64| libm::lgamma(x);
    lg(n as f64 + 1.0) - lg(k as f64 + 1.0) - lg((n - k) as f64 + 1.0)
}

fn log_a_integer(q: f64, sigma: f64, alpha: u64) -> f64 {
    let mut log_a = f64::NEG_INFINITY;
    for i in 0..=alpha {
        let log_coef =
            log_binomial(alpha, i) + i as f64 * q.ln() + (alpha - i) as f64 * (1.0 - q).ln();
        let s = log_coef + (i * i - i) as f64 / (2.0 * sigma * sigma);
        log_a = log_add(log_a, s);
    }
    log_a
}

fn log_a_fractional(q: f64, sigma: f64, alpha: f64) -> f64 {
    let (mut log_a0, mut log_a1) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let z0 = sigma * sigma * (1.0 / q - 1.0).ln() + 0.5;
    let mut coef = 1.0; // the generalised binomial C(α, i), from C(α, 0) = 1
    let mut i = 0u32;
    loop {
        let fi = f64::from(i);
        if i > 0 {
            coef *= (alpha - fi + 1.0) / fi;
        }
        let log_coef = coef.abs().ln();
        let j = alpha - fi;
        let log_t0 = log_coef + fi * q.ln() + j * (1.0 - q).ln();
        let log_t1 = log_coef + j * q.ln() + fi * (1.0 - q).ln();
        let root2_sigma = std::f64::consts::SQRT_2 * sigma;
        let log_e0 = 0.5f64.ln() + log_erfc((fi - z0) / root2_sigma);
        let log_e1 = 0.5f64.ln() + log_erfc((z0 - j) / root2_sigma);
        let log_s0 = log_t0 + (fi * fi - fi) / (2.0 * sigma * sigma) + log_e0;
        let log_s1 = log_t1 + (j * j - j) / (2.0 * sigma * sigma) + log_e1;
        if coef > 0.0 {
            log_a0 = log_add(log_a0, log_s0);
            log_a1 = log_add(log_a1, log_s1);
        } else {
            log_a0 = log_sub(log_a0, log_s0);
            log_a1 = log_sub(log_a1, log_s1);
        }
        i += 1;
        if log_s0.max(log_s1) < -30.0 {
            break;
        }
    }
    log_add(log_a0, log_a1)
}
