//! [`Samples`]: labelled samples in one flat buffer, the common form of every Kiln dataset.

use crate::rng::SeededRng;
use crate::{DataError, Groups};

/// Labelled samples stored row-major in one contiguous `Vec<f32>`.
///
/// Every sample has the same `sample_shape` (`[features]` for a table, `[1, 28, 28]` for an
/// image, `[steps, features]` for a sequence), so a batch is one gather and one tensor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Samples {
    /// All samples' values, sample after sample.
    pub features: Vec<f32>,
    /// Shape of one sample.
    pub sample_shape: Vec<usize>,
    /// One class label per sample.
    pub labels: Vec<u32>,
    /// Number of classes (labels are `0..num_classes`).
    pub num_classes: usize,
    /// Names of the features, when the source has them (CSV header).
    pub feature_names: Vec<String>,
    /// Sensitive attributes of each sample (sex, race, ...), kept beside the features; empty
    /// when the source has none.
    pub groups: Groups,
}

impl Samples {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Number of values in one sample (the product of `sample_shape`).
    pub fn sample_size(&self) -> usize {
        self.sample_shape.iter().product()
    }

    /// The values of sample `index`.
    pub fn sample(&self, index: usize) -> &[f32] {
        let size = self.sample_size();
        &self.features[index * size..(index + 1) * size]
    }

    /// A new set holding the samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Samples {
        let size = self.sample_size();
        let mut features = Vec::with_capacity(indices.len() * size);
        for &i in indices {
            features.extend_from_slice(self.sample(i));
        }
        Samples {
            features,
            sample_shape: self.sample_shape.clone(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            num_classes: self.num_classes,
            feature_names: self.feature_names.clone(),
            groups: self.groups.select(indices),
        }
    }

    /// The value of sensitive attribute `name` for every sample, or an error listing the
    /// attributes the samples carry.
    pub fn attribute(&self, name: &str) -> Result<Vec<&str>, DataError> {
        self.groups.attribute(name)
    }

    /// Splits into consecutive parts of a seeded random permutation, sized by `fractions`
    /// (e.g. `[0.8, 0.2]`); the last part takes the rounding remainder.
    pub fn split(&self, fractions: &[f64], seed: u64) -> Vec<Samples> {
        let order = SeededRng::new(seed).permutation(self.len());
        let mut parts = Vec::with_capacity(fractions.len());
        let mut start = 0;
        for (k, fraction) in fractions.iter().enumerate() {
            let end = if k + 1 == fractions.len() {
                self.len()
            } else {
                (start + (fraction * self.len() as f64).round() as usize).min(self.len())
            };
            parts.push(self.select(&order[start..end]));
            start = end;
        }
        parts
    }

    /// Counts of each class label.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.num_classes];
        for &label in &self.labels {
            counts[label as usize] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ten() -> Samples {
        Samples {
            features: (0..20).map(|v| v as f32).collect(),
            sample_shape: vec![2],
            labels: (0..10).map(|i| i % 2).collect(),
            num_classes: 2,
            feature_names: vec!["a".into(), "b".into()],
            groups: Groups {
                names: vec!["g".into()],
                values: (0..10).map(|i| format!("g{i}")).collect(),
            },
        }
    }

    #[test]
    fn select_gathers_rows_in_order() {
        let picked = ten().select(&[3, 0]);
        assert_eq!(picked.features, vec![6.0, 7.0, 0.0, 1.0]);
        assert_eq!(picked.labels, vec![1, 0]);
        assert_eq!(picked.attribute("g").unwrap(), vec!["g3", "g0"]);
    }

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let data = ten();
        let parts = data.split(&[0.8, 0.2], 42);
        assert_eq!((parts[0].len(), parts[1].len()), (8, 2));
        assert_eq!(parts, data.split(&[0.8, 0.2], 42));
        assert_ne!(parts[0].features, data.split(&[0.8, 0.2], 43)[0].features);
        for part in &parts {
            let groups = part.attribute("g").unwrap();
            let firsts = part.features.chunks(2).map(|c| c[0]);
            for (g, first) in groups.iter().zip(firsts) {
                assert_eq!(
                    *g,
                    format!("g{}", first as usize / 2),
                    "groups follow their rows"
                );
            }
        }
        let mut firsts: Vec<f32> = parts
            .iter()
            .flat_map(|p| p.features.chunks(2).map(|c| c[0]))
            .collect();
        firsts.sort_by(f32::total_cmp);
        assert_eq!(firsts, (0..10).map(|i| (2 * i) as f32).collect::<Vec<_>>());
    }
}
