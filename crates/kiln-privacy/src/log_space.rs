//! Sums and differences of numbers held as their logarithms, and `ln erfc`.

/// `ln(e^x + e^y)`.
pub fn log_add(x: f64, y: f64) -> f64 {
    let (a, b) = (x.min(y), x.max(y));
    if a == f64::NEG_INFINITY {
        return b;
    }
    (a - b).exp().ln_1p() + b
}

/// `ln(e^x − e^y)` for `x >= y` (as Opacus: `x` when the difference overflows).
pub fn log_sub(x: f64, y: f64) -> f64 {
    if y == f64::NEG_INFINITY {
        return x;
    }
    if x == y {
        return f64::NEG_INFINITY;
    }
    let d = (x - y).exp_m1();
    if d.is_infinite() { x } else { d.ln() + y }
}

/// `ln erfc(x)`, accurate where `erfc(x)` underflows (the asymptotic series).
pub fn log_erfc(x: f64) -> f64 {
    if x < 25.0 {
        return libm::erfc(x).ln();
    }
    let (x2, pi) = (x * x, std::f64::consts::PI);
    -x2 - x.ln() - 0.5 * pi.ln() - 0.5 / x2 + 0.625 / (x2 * x2) - (37.0 / 24.0) / (x2 * x2 * x2)
        + (353.0 / 64.0) / (x2 * x2 * x2 * x2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_arithmetic_and_erfc() {
        assert!((log_add(2f64.ln(), 3f64.ln()) - 5f64.ln()).abs() < 1e-15);
        assert!((log_sub(5f64.ln(), 3f64.ln()) - 2f64.ln()).abs() < 1e-15);
        assert_eq!(log_sub(1.0, 1.0), f64::NEG_INFINITY);
        // Both branches agree where they meet.
        let (a, b) = (libm::erfc(24.9).ln(), log_erfc(24.9));
        let series = {
            let x: f64 = 24.9;
            let x2 = x * x;
            -x2 - x.ln() - 0.5 * std::f64::consts::PI.ln() - 0.5 / x2 + 0.625 / (x2 * x2)
                - (37.0 / 24.0) / (x2 * x2 * x2)
                + (353.0 / 64.0) / (x2 * x2 * x2 * x2)
        };
        assert_eq!(a, b);
        assert!(((series - a) / a).abs() < 1e-12, "{series} vs {a}");
    }
}
