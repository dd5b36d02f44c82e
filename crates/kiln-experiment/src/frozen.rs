//! Models whose first stage is a fixed transform without parameters (the scattering network):
//! training computes that stage once for the training and validation samples and trains the
//! head on the result, instead of repeating the transform at every step of every epoch.

use burn::prelude::*;
use kiln_data::Samples;
use kiln_zoo::AnyModel;

/// Samples through a model's frozen first stage, computed a batch at a time.
const BATCH: usize = 256;

/// The training and validation samples the head trains on.
pub(crate) struct HeadSamples {
    /// The training split's features.
    pub train: Samples,
    /// The validation split's features, when there is one.
    pub valid: Option<Samples>,
}

/// The frozen features of `train` and `valid` through `model` (on its `device`), or `None`
/// when the model has no frozen first stage (its first batch says so). The stage has no
/// parameters, so none of the model's lazily initialised parameters is touched: the weights a
/// seed gives stay the same.
pub(crate) fn head_samples(
    model: &AnyModel,
    train: &Samples,
    valid: Option<&Samples>,
    device: &Device,
) -> Option<HeadSamples> {
    let train = features(model, train, device)?;
    let valid = valid.and_then(|v| features(model, v, device));
    Some(HeadSamples { train, valid })
}

/// `samples` through the model's frozen stage, or `None` when it has none.
fn features(model: &AnyModel, samples: &Samples, device: &Device) -> Option<Samples> {
    let indices: Vec<usize> = (0..samples.len()).collect();
    let mut values = Vec::new();
    let mut width = 0;
    for chunk in indices.chunks(BATCH) {
        let batch = samples.batch(chunk, device);
        let f = model.frozen_features(batch.inputs)?.detach();
        width = f.dims()[1];
        values.extend(f.into_data().try_to_vec::<f32>().expect("f32 features"));
    }
    if samples.is_empty() {
        // Nothing to transform: ask the model for the width of one zero sample.
        let zero = Tensor::<2>::zeros([1, samples.sample_size()], device);
        width = model.frozen_features(zero)?.dims()[1];
    }
    Some(Samples {
        features: values,
        sample_shape: vec![width],
        labels: samples.labels.clone(),
        num_classes: samples.num_classes,
        feature_names: Vec::new(),
        groups: samples.groups.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_zoo::{DataShape, ModelConfig};

    fn images(n: usize) -> Samples {
        Samples {
            features: (0..n * 784).map(|i| ((i * 7) % 13) as f32 / 13.0).collect(),
            sample_shape: vec![1, 28, 28],
            labels: (0..n as u32).map(|i| i % 10).collect(),
            num_classes: 10,
            feature_names: Vec::new(),
            groups: Default::default(),
        }
    }

    fn build(section: &str, shape: Vec<usize>) -> AnyModel {
        let config: ModelConfig = toml::from_str(section).unwrap();
        let shape = DataShape {
            sample_shape: shape,
            classes: 10,
            vocab: 0,
        };
        config.build(&shape, &Device::flex().autodiff()).unwrap()
    }

    #[test]
    fn a_scattering_network_trains_its_head_on_features_that_give_the_same_logits() {
        let device = Device::flex().autodiff();
        let model = build("kind = \"scatter\"", vec![1, 28, 28]);
        let train = images(300);
        let head = head_samples(&model, &train, None, &device).expect("scatter has a frozen stage");
        assert_eq!(head.train.sample_shape, vec![3969]);
        assert_eq!(head.train.labels, train.labels);
        assert!(head.valid.is_none());
        // The head on the stored features gives the model's own logits.
        let picked = [0, 150, 299];
        let full = model.logits(train.batch(&picked, &device).inputs);
        let through = model.head_logits(head.train.batch(&picked, &device).inputs);
        let gap = (full - through).abs().max().into_scalar::<f32>();
        assert!(gap < 1e-5, "gap {gap}");
    }

    #[test]
    fn other_models_train_whole() {
        let model = build("kind = \"mlp\"\nhidden = [8]", vec![1, 28, 28]);
        let head = head_samples(&model, &images(3), None, &Device::flex().autodiff());
        assert!(head.is_none());
    }
}
