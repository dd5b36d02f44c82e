//! Pretrained models by name, ready for inference in Rust: `kiln_zoo::pretrained("cnn-mnist",
//! &device)` builds the model its shipped config describes and loads its shipped weights, with
//! the standardisation its inputs need. (`kiln predict NAME` and `kiln_experiment::pretrained`
//! read the same files as a run folder, with the data pipeline around them.)

use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use kiln_data::Standardizer;
use kiln_train::{KilnError, Result};

use crate::{AnyModel, DataShape, ModelConfig};

/// A pretrained model and what its inputs need.
#[derive(Debug)]
pub struct PretrainedModel {
    /// Its name (`cnn-mnist`), the shipped config it was trained from.
    pub name: &'static str,
    /// The model, with the shipped weights.
    pub model: AnyModel,
    /// The data it was trained on: sample shape, classes, vocabulary.
    pub shape: DataShape,
    /// The standardisation fitted on its training split (none for text).
    pub standardizer: Option<Standardizer>,
}

impl PretrainedModel {
    /// Logits `[batch, outputs]` of raw samples `[batch, features]` (pixels in [0, 1], table
    /// features as encoded for training): standardised as in training, then the model.
    pub fn predict(&self, raw: Tensor<2>) -> Tensor<2> {
        let inputs = match &self.standardizer {
            Some(s) => {
                let device = raw.device();
                let width = s.mean.len();
                let mean = Tensor::<1>::from_floats(s.mean.as_slice(), &device).reshape([1, width]);
                let std = Tensor::<1>::from_floats(s.std.as_slice(), &device).reshape([1, width]);
                (raw - mean) / std
            }
            None => raw,
        };
        self.model.logits(inputs)
    }
}

/// The pretrained model `name` on `device`; an unknown name is an input error listing the
/// names there are.
pub fn pretrained(name: &str, device: &Device) -> Result<PretrainedModel> {
    let Some(shipped) = kiln_pretrained::find(name) else {
        return Err(KilnError::Input(format!(
            "'{name}' is not a pretrained model (pretrained: {})",
            kiln_pretrained::names()
        )));
    };
    let file = |wanted: &str| {
        shipped
            .file(wanted)
            .ok_or_else(|| KilnError::Internal(format!("{name}: no {wanted} shipped")))
    };
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        KilnError::Internal(format!("{name}: the shipped {what} does not read: {e}"))
    };
    let config: toml::Table = std::str::from_utf8(file("config.toml")?)
        .map_err(|e| bad("config.toml", &e))?
        .parse()
        .map_err(|e| bad("config.toml", &e))?;
    let section = config
        .get("model")
        .cloned()
        .ok_or_else(|| bad("config.toml", &"no [model] section"))?;
    let model_config: ModelConfig = section.try_into().map_err(|e| bad("config.toml", &e))?;
    let preprocess: serde_json::Value =
        serde_json::from_slice(file("preprocess.json")?).map_err(|e| bad("preprocess.json", &e))?;
    let numbers = |key: &str| -> Vec<f32> {
        preprocess[key]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_f64())
                    .map(|v| v as f32)
                    .collect()
            })
            .unwrap_or_default()
    };
    let shape = DataShape {
        sample_shape: numbers("sample_shape")
            .iter()
            .map(|&v| v as usize)
            .collect(),
        classes: preprocess["classes"].as_u64().unwrap_or(0) as usize,
        vocab: preprocess["vocab"]
            .as_str()
            .map_or(0, |v| v.chars().count()),
    };
    let (mean, std) = (numbers("mean"), numbers("std"));
    let standardizer = (!mean.is_empty()).then(|| Standardizer {
        mean: match mean.len() {
            1 => vec![mean[0]; shape.features()],
            _ => mean,
        },
        std: match std.len() {
            1 => vec![std[0]; shape.features()],
            _ => std,
        },
    });
    // Initialising draws from Burn's global RNG: not in the middle of another thread's training.
    let initial = {
        let _rng = kiln_train::rng_guard();
        model_config.build(&shape, device)?
    };
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(file("model.bpk")?.to_vec()))
        .map_err(|e| bad("model.bpk", &format!("{e:?}")))?;
    let model = initial
        .try_load_record(record)
        .map_err(|e| bad("model.bpk", &format!("{e:?}")))?;
    Ok(PretrainedModel {
        name: shipped.name,
        model,
        shape,
        standardizer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cnn_mnist_by_name_classifies_test_digits() {
        let device = Device::flex();
        let p = pretrained("cnn-mnist", &device).unwrap();
        assert_eq!(p.shape.sample_shape, vec![1, 28, 28]);
        let (_, test) = kiln_data::embedded::mnist_10k();
        let picked: Vec<usize> = (0..200).collect();
        let batch = test.batch(&picked, &device);
        let predicted = p.predict(batch.inputs).argmax(1).reshape([200]);
        let right = predicted
            .equal(batch.labels)
            .int()
            .sum()
            .into_scalar::<i64>();
        assert!(right >= 195, "{right} of 200 test digits");
    }

    #[test]
    fn every_shipped_model_loads_and_an_unknown_name_lists_the_names() {
        let device = Device::flex();
        for shipped in kiln_pretrained::PRETRAINED {
            let p = pretrained(shipped.name, &device).unwrap();
            assert_eq!(p.name, shipped.name);
        }
        let message = pretrained("resnet-imagenet", &device)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("cnn-mnist") && message.contains("dp-mnist"),
            "{message}"
        );
    }
}
