//! Batching: one gather into a contiguous buffer and one tensor per batch, never a tensor per
//! sample.

use burn::prelude::*;

use crate::{Augment, Samples, SeededRng};

/// A batch ready for a model: inputs `[batch, sample_size]` and the samples' class labels.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Inputs, one flattened sample per row; models reshape them (free) as they need.
    pub inputs: Tensor<2>,
    /// Class label of each row.
    pub labels: Tensor<1, Int>,
    /// Number of rows.
    pub size: usize,
}

impl Samples {
    /// The batch of the samples at `indices`, built on `device`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Batch {
        self.augmented_batch(indices, device, None)
    }

    /// Like [`Samples::batch`], with each image sample transformed by `augment` (seeded by
    /// `rng`) as it is gathered. Needs `[channels, height, width]` samples.
    pub fn augmented_batch(
        &self,
        indices: &[usize],
        device: &Device,
        augment: Option<(&Augment, &mut SeededRng)>,
    ) -> Batch {
        let size = self.sample_size();
        let mut values = Vec::with_capacity(indices.len() * size);
        let mut labels = Vec::with_capacity(indices.len());
        let (height, width) = match self.sample_shape[..] {
            [_, h, w] => (h, w),
            _ => (1, size),
        };
        let mut augment = augment.filter(|(a, _)| !a.is_identity() && self.sample_shape.len() == 3);
        for &i in indices {
            let start = values.len();
            values.extend_from_slice(self.sample(i));
            if let Some((transform, rng)) = augment.as_mut() {
                transform.apply(&mut values[start..], height, width, rng);
            }
            labels.push(self.labels[i] as i64);
        }
        Batch {
            inputs: Tensor::from_data(TensorData::new(values, [indices.len(), size]), device),
            labels: Tensor::from_data(TensorData::new(labels, [indices.len()]), device),
            size: indices.len(),
        }
    }

    /// The order of one epoch's batches: a seeded shuffle (or `0..n` when `seed` is `None`)
    /// cut into chunks of `batch_size` (0 = the whole set in one batch).
    pub fn batch_order(&self, batch_size: usize, seed: Option<u64>) -> Vec<Vec<usize>> {
        let order = match seed {
            Some(seed) => SeededRng::new(seed).permutation(self.len()),
            None => (0..self.len()).collect(),
        };
        let chunk = if batch_size == 0 {
            self.len().max(1)
        } else {
            batch_size
        };
        order.chunks(chunk).map(<[usize]>::to_vec).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_gathers_rows_and_labels() {
        let samples = Samples {
            features: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            sample_shape: vec![2],
            labels: vec![0, 1, 2],
            num_classes: 3,
            feature_names: vec![],
            groups: Default::default(),
        };
        let device = Device::flex();
        let batch = samples.batch(&[2, 0], &device);
        assert_eq!(
            batch.inputs.to_data().try_to_vec::<f32>().unwrap(),
            vec![4.0, 5.0, 0.0, 1.0]
        );
        assert_eq!(
            batch
                .labels
                .to_data()
                .convert::<i64>()
                .try_to_vec::<i64>()
                .unwrap(),
            vec![2, 0]
        );
        assert_eq!(batch.size, 2);
    }

    #[test]
    fn batch_order_covers_every_sample_once() {
        let samples = Samples {
            features: vec![0.0; 10],
            sample_shape: vec![1],
            labels: vec![0; 10],
            num_classes: 1,
            feature_names: vec![],
            groups: Default::default(),
        };
        let batches = samples.batch_order(4, Some(3));
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![4, 4, 2]
        );
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(
            samples.batch_order(0, None),
            vec![(0..10).collect::<Vec<_>>()]
        );
    }
}
