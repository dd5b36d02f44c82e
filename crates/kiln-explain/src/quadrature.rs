//! Quadrature rules on `[0, 1]`: the points `alpha` along the integrated-gradients path and
//! their weights.

use serde::{Deserialize, Serialize};

/// How the path integral of integrated gradients is approximated from `steps` gradient
/// evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quadrature {
    /// The composite trapezoid rule on `steps` equal intervals (`steps + 1` points, endpoints
    /// included, each end with half weight). Its points nest: doubling the intervals reuses
    /// every earlier gradient, which makes it the default for the refinement of
    /// [`IgOptions`](crate::IgOptions). As good as the others where ReLU kinks dominate the
    /// error.
    #[default]
    Trapezoid,
    /// Gauss-Legendre with `steps` nodes: exact for polynomials of degree `2 * steps - 1`, so the
    /// best choice where the gradient is smooth along the whole path (smooth activations).
    GaussLegendre,
    /// The midpoint (Riemann) rule on `steps` equal intervals, close to the original paper's
    /// right Riemann sum.
    Midpoint,
}

impl Quadrature {
    /// The nodes `alpha` in `[0, 1]` and their weights (summing to 1) of this rule with `steps`
    /// intervals or nodes; `steps` must be at least 1.
    pub fn nodes(self, steps: usize) -> Vec<(f64, f64)> {
        assert!(steps > 0, "a quadrature rule needs at least one step");
        let h = 1.0 / steps as f64;
        match self {
            Quadrature::GaussLegendre => gauss_legendre(steps),
            Quadrature::Trapezoid => (0..=steps)
                .map(|k| {
                    let end = k == 0 || k == steps;
                    (k as f64 * h, if end { h / 2.0 } else { h })
                })
                .collect(),
            Quadrature::Midpoint => (0..steps).map(|k| ((k as f64 + 0.5) * h, h)).collect(),
        }
    }
}

/// Gauss-Legendre nodes and weights mapped from `[-1, 1]` to `[0, 1]`, by Newton's method on
/// the Legendre polynomial `P_n` from Chebyshev starting guesses, in ascending order.
fn gauss_legendre(n: usize) -> Vec<(f64, f64)> {
    let mut nodes = vec![(0.0, 0.0); n];
    for i in 0..n.div_ceil(2) {
        let mut x = (std::f64::consts::PI * (i as f64 + 0.75) / (n as f64 + 0.5)).cos();
        let mut derivative = 0.0;
        for _ in 0..100 {
            let (p, dp) = legendre(n, x);
            derivative = dp;
            let step = p / dp;
            x -= step;
            if step.abs() < 1e-15 {
                derivative = legendre(n, x).1;
                break;
            }
        }
        let weight = 2.0 / ((1.0 - x * x) * derivative * derivative);
        // On [0, 1]: alpha = (1 + x) / 2, weight halved.
        nodes[n - 1 - i] = ((1.0 + x) / 2.0, weight / 2.0);
        nodes[i] = ((1.0 - x) / 2.0, weight / 2.0);
    }
    nodes
}

/// `P_n(x)` and its derivative by the three-term recurrence.
fn legendre(n: usize, x: f64) -> (f64, f64) {
    let (mut p0, mut p1) = (1.0, x);
    if n == 0 {
        return (1.0, 0.0);
    }
    for k in 2..=n {
        let k = k as f64;
        let p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
    }
    let dp = n as f64 * (x * p1 - p0) / (x * x - 1.0);
    (p1, dp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integrate(rule: Quadrature, steps: usize, f: impl Fn(f64) -> f64) -> f64 {
        rule.nodes(steps).iter().map(|&(a, w)| w * f(a)).sum()
    }

    #[test]
    fn weights_sum_to_one_and_nodes_lie_in_the_unit_interval() {
        for rule in [
            Quadrature::GaussLegendre,
            Quadrature::Trapezoid,
            Quadrature::Midpoint,
        ] {
            for steps in [1, 2, 3, 7, 64, 257] {
                let nodes = rule.nodes(steps);
                let total: f64 = nodes.iter().map(|n| n.1).sum();
                assert!((total - 1.0).abs() < 1e-12, "{rule:?} {steps}: {total}");
                assert!(
                    nodes
                        .iter()
                        .all(|n| (0.0..=1.0).contains(&n.0) && n.1 > 0.0)
                );
                assert!(
                    nodes.windows(2).all(|w| w[0].0 < w[1].0),
                    "{rule:?} ascending"
                );
            }
        }
    }

    #[test]
    fn gauss_legendre_is_exact_for_polynomials_of_degree_2n_minus_1() {
        for n in [1usize, 2, 5, 16] {
            let degree = 2 * n - 1;
            let exact = 1.0 / (degree as f64 + 1.0);
            let got = integrate(Quadrature::GaussLegendre, n, |a| a.powi(degree as i32));
            assert!((got - exact).abs() < 1e-12, "n={n}: {got} vs {exact}");
        }
        // Known nodes for n = 2: (1 -+ 1/sqrt(3)) / 2.
        let nodes = Quadrature::GaussLegendre.nodes(2);
        assert!((nodes[0].0 - (1.0 - 3f64.sqrt().recip()) / 2.0).abs() < 1e-14);
    }

    #[test]
    fn trapezoid_and_midpoint_integrate_linear_functions_exactly() {
        for rule in [Quadrature::Trapezoid, Quadrature::Midpoint] {
            let got = integrate(rule, 10, |a| 3.0 * a + 1.0);
            assert!((got - 2.5).abs() < 1e-12, "{rule:?}: {got}");
        }
    }
}
