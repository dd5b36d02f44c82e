//! Small synthetic datasets drawn from a seed, for examples and tests that need data in memory.

use crate::{Samples, SeededRng};

/// `n` points drawn uniformly from the square [-2, 2]², labelled 0 inside the circle of
/// radius √1.5 and 1 outside: two classes no linear model separates.
pub fn rings(n: usize, seed: u64) -> Samples {
    let mut rng = SeededRng::new(seed);
    let mut features = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for _ in 0..n {
        let (x, y) = (rng.unit_f32() * 4.0 - 2.0, rng.unit_f32() * 4.0 - 2.0);
        features.extend([x, y]);
        labels.push(u32::from(x * x + y * y > 1.5));
    }
    Samples {
        features,
        sample_shape: vec![2],
        labels,
        num_classes: 2,
        feature_names: vec!["x".into(), "y".into()],
        groups: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_same_seed_draws_the_same_balanced_rings() {
        let a = super::rings(400, 9);
        assert_eq!(a.features, super::rings(400, 9).features);
        let outside = a.labels.iter().filter(|&&l| l == 1).count();
        // P(x² + y² > 1.5) = 1 − 1.5π/16 ≈ 0.705 for uniform points in [-2, 2]².
        assert!((250..315).contains(&outside), "{outside} of 400 outside");
    }
}
