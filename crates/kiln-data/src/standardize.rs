//! Feature standardisation whose statistics come from the training split only.

use crate::Samples;

/// Per-feature mean and standard deviation, fitted on training data and applied to every split.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Mean of each feature (one value when fitted globally).
    pub mean: Vec<f32>,
    /// Standard deviation of each feature (constant features get 1).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Statistics of each feature position over `train` (for tables).
    pub fn fit_per_feature(train: &Samples) -> Self {
        let size = train.sample_size();
        let n = train.len().max(1) as f64;
        let mut sum = vec![0f64; size];
        let mut sum_sq = vec![0f64; size];
        for row in train.features.chunks_exact(size) {
            for (k, &v) in row.iter().enumerate() {
                sum[k] += v as f64;
                sum_sq[k] += (v as f64) * (v as f64);
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let std = sum_sq
            .iter()
            .zip(&mean)
            .map(|(sq, m)| guard_std((sq / n - m * m).max(0.0).sqrt()))
            .collect();
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std,
        }
    }

    /// One mean and standard deviation over all values of `train` (for images).
    pub fn fit_global(train: &Samples) -> Self {
        let n = train.features.len().max(1) as f64;
        let mean = train.features.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = train
            .features
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        Self {
            mean: vec![mean as f32],
            std: vec![guard_std(var.sqrt())],
        }
    }

    /// Standardises one sample's values in place.
    pub fn apply_to_sample(&self, values: &mut [f32]) {
        if self.mean.len() == 1 {
            values
                .iter_mut()
                .for_each(|v| *v = (*v - self.mean[0]) / self.std[0]);
        } else {
            for (k, v) in values.iter_mut().enumerate() {
                *v = (*v - self.mean[k]) / self.std[k];
            }
        }
    }

    /// Standardises every sample of `samples` in place.
    pub fn apply(&self, samples: &mut Samples) {
        let size = samples.sample_size();
        samples
            .features
            .chunks_exact_mut(size)
            .for_each(|row| self.apply_to_sample(row));
    }
}

fn guard_std(std: f64) -> f32 {
    if std > 1e-12 { std as f32 } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(values: Vec<f32>) -> Samples {
        let n = values.len() / 2;
        Samples {
            features: values,
            sample_shape: vec![2],
            labels: vec![0; n],
            num_classes: 1,
            feature_names: vec![],
            groups: Default::default(),
        }
    }

    #[test]
    fn per_feature_gives_zero_mean_unit_std_on_train() {
        let mut train = table(vec![1.0, 10.0, 3.0, 10.0, 5.0, 10.0]);
        let scaler = Standardizer::fit_per_feature(&train);
        assert_eq!(scaler.mean, vec![3.0, 10.0]);
        assert_eq!(scaler.std[1], 1.0, "constant feature keeps unit scale");
        scaler.apply(&mut train);
        let col0: Vec<f32> = train.features.iter().step_by(2).copied().collect();
        assert!((col0.iter().sum::<f32>()).abs() < 1e-6);
        assert!((col0.iter().map(|v| v * v).sum::<f32>() / 3.0 - 1.0).abs() < 1e-5);
    }

    #[test]
    fn test_split_uses_training_statistics() {
        let train = table(vec![0.0, 0.0, 2.0, 2.0]);
        let mut test = table(vec![4.0, 4.0]);
        Standardizer::fit_per_feature(&train).apply(&mut test);
        assert_eq!(test.features, vec![3.0, 3.0]);
    }
}
