//! `cnn`: kiln-cnn's convolutional network, a preset or conv blocks given as data.

use burn::prelude::*;
use kiln_cnn::{Cnn, CnnConfig, ConvBlockConfig};
use kiln_train::{KilnError, Result};
use serde::{Deserialize, Serialize};

use kiln_compress::structured::{
    filter_norms, flattened, keep_largest, slice_conv, slice_linear, slice_norm,
};

use crate::size::check_params;
use crate::{DataShape, KindInfo, ModelKind, TaskKind, Variant};

static INFO: KindInfo = KindInfo {
    name: "cnn",
    description: "convolutional network: conv blocks (plain or residual) -> classifier head",
    crate_name: "kiln-cnn",
    task: TaskKind::Samples,
    variant_key: Some("preset"),
    variants: &[
        Variant {
            name: "lenet",
            description: "conv 32 k3, pool 2, conv 64 k3, pool 2, 1600 -> 128 -> classes",
        },
        Variant {
            name: "resnet",
            description: "small residual network, batch norm, global average pooling",
        },
        Variant {
            name: "custom",
            description: "the [[model.blocks]] and head given in the config",
        },
    ],
    example: "[model]\nkind = \"cnn\"\npreset = \"lenet\"\ninput = [1, 28, 28]\n",
};

/// `[model] kind = "cnn"`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CnnSpec {
    /// `lenet` (the reference model), `resnet` (small residual network) or `custom`.
    #[serde(default)]
    pub preset: CnnPreset,
    /// Input shape `[channels, height, width]` the network is built for; checked against the data.
    #[serde(default = "mnist_shape")]
    pub input: Vec<usize>,
    /// `custom`: kiln-cnn's conv blocks, first to last, written as `[[model.blocks]]` tables
    /// with keys `channels`, `kernel`, `padding`, `stride`, `pool`, `batch_norm`, `dropout`,
    /// `residual`.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "blocks_in_toml"
    )]
    pub blocks: Vec<ConvBlockConfig>,
    /// `custom`: hidden widths of the classifier head.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<usize>,
    /// `custom`: global average pooling instead of flattening.
    #[serde(default)]
    pub global_avg_pool: bool,
    /// Dropout in the classifier head.
    #[serde(default)]
    pub dropout: f64,
}

fn mnist_shape() -> Vec<usize> {
    vec![1, 28, 28]
}

/// kiln-cnn's presets, by name.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CnnPreset {
    /// [`CnnConfig::lenet`].
    #[default]
    Lenet,
    /// [`CnnConfig::resnet_small`].
    Resnet,
    /// The blocks and head given in the config.
    Custom,
}

impl CnnSpec {
    /// kiln-cnn's config for `classes` outputs.
    pub fn config(&self, outputs: usize) -> CnnConfig {
        let [channels, height, width] = [self.input[0], self.input[1], self.input[2]];
        let preset = match self.preset {
            CnnPreset::Lenet => CnnConfig::lenet(outputs),
            CnnPreset::Resnet => CnnConfig::resnet_small(outputs),
            CnnPreset::Custom => CnnConfig::new(channels, height, width, outputs)
                .with_hidden_sizes(self.hidden.clone())
                .with_global_avg_pool(self.global_avg_pool)
                .with_blocks(self.blocks.clone()),
        };
        CnnConfig {
            input_channels: channels,
            input_height: height,
            input_width: width,
            ..preset
        }
        .with_dropout(self.dropout)
    }
}

impl ModelKind for CnnSpec {
    type Model = Cnn;

    fn info() -> &'static KindInfo {
        &INFO
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if !(0.0..1.0).contains(&self.dropout) {
            return Err("model.dropout must be in [0, 1)".into());
        }
        if self.input.len() != 3 {
            return Err("model.input must be [channels, height, width]".into());
        }
        if self.preset == CnnPreset::Custom && self.blocks.is_empty() {
            return Err("model.preset = \"custom\" needs [[model.blocks]]".into());
        }
        Ok(())
    }

    fn build(&self, shape: &DataShape, device: &Device) -> Result<Cnn> {
        shape.check_image_input(&self.input)?;
        let config = self.config(shape.outputs());
        config
            .check()
            .map_err(|e| KilnError::Input(format!("model: {e}")))?;
        let head = config.feature_size().ok().and_then(|features| {
            crate::size::linear_stack(features, &config.hidden_sizes, shape.outputs())
        });
        check_params(head, "model.hidden")?;
        Ok(config.init(device))
    }

    fn for_inference(model: Cnn) -> Cnn {
        model.fold_batch_norms()
    }

    fn logits(model: &Cnn, inputs: Tensor<2>) -> Tensor<2> {
        model.forward_flat(inputs)
    }

    fn remove_units(
        &self,
        model: &Cnn,
        fraction: f64,
        shape: &DataShape,
        device: &Device,
    ) -> Result<(Self, Cnn)> {
        let config = self.config(shape.outputs());
        if config.blocks.iter().any(|b| b.residual) {
            return Err(KilnError::Input(
                "structured pruning of residual conv blocks is not supported: their skip connections need the same channels on both sides".into(),
            ));
        }
        let keeps: Vec<Vec<usize>> = model
            .blocks
            .iter()
            .map(|b| keep_largest(&filter_norms(&b.conv), fraction))
            .collect();
        let mut blocks = config.blocks.clone();
        for (block, keep) in blocks.iter_mut().zip(&keeps) {
            block.out_channels = keep.len();
        }
        let spec = CnnSpec {
            preset: CnnPreset::Custom,
            blocks,
            hidden: config.hidden_sizes.clone(),
            global_avg_pool: config.global_avg_pool,
            ..self.clone()
        };
        let mut small = spec.build(shape, device)?;
        let mut inputs: Vec<usize> = (0..self.input[0]).collect();
        for ((to, from), keep) in small.blocks.iter_mut().zip(&model.blocks).zip(&keeps) {
            slice_conv(&mut to.conv, &from.conv, keep, &inputs);
            if let (Some(to), Some(from)) = (to.norm.as_mut(), from.norm.as_ref()) {
                slice_norm(to, from, keep);
            }
            inputs = keep.clone();
        }
        let channels = config
            .blocks
            .last()
            .map_or(self.input[0], |b| b.out_channels);
        let features = config
            .feature_size()
            .map_err(|e| KilnError::Input(format!("model: {e}")))?;
        let rows = flattened(&inputs, features / channels.max(1));
        let outputs = |layer: &burn::nn::Linear| -> Vec<usize> {
            (0..layer.weight.val().dims()[1]).collect()
        };
        match small.hidden.first_mut() {
            Some(first) => {
                slice_linear(first, &model.hidden[0], &rows, &outputs(&model.hidden[0]));
                for (to, from) in small.hidden.iter_mut().zip(&model.hidden).skip(1) {
                    *to = from.clone();
                }
                small.output = model.output.clone();
            }
            None => slice_linear(
                &mut small.output,
                &model.output,
                &rows,
                &outputs(&model.output),
            ),
        }
        Ok((spec, small))
    }
}

/// `[[model.blocks]]` tables in the config's key names, read into kiln-cnn's own
/// [`ConvBlockConfig`] (whose fields are `out_channels`, `kernel_size`, ...).
mod blocks_in_toml {
    use super::ConvBlockConfig;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Block {
        channels: usize,
        #[serde(default = "three")]
        kernel: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        pool: usize,
        #[serde(default)]
        batch_norm: bool,
        #[serde(default)]
        dropout: f64,
        #[serde(default)]
        residual: bool,
    }

    fn three() -> usize {
        3
    }
    fn one() -> usize {
        1
    }

    pub fn serialize<S: Serializer>(
        blocks: &[ConvBlockConfig],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        let blocks: Vec<Block> = blocks
            .iter()
            .map(|b| Block {
                channels: b.out_channels,
                kernel: b.kernel_size,
                padding: b.padding,
                stride: b.stride,
                pool: b.pool,
                batch_norm: b.batch_norm,
                dropout: b.dropout,
                residual: b.residual,
            })
            .collect();
        blocks.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<ConvBlockConfig>, D::Error> {
        let blocks = Vec::<Block>::deserialize(deserializer)?;
        Ok(blocks
            .into_iter()
            .map(|b| {
                ConvBlockConfig::new(b.channels)
                    .with_kernel_size(b.kernel)
                    .with_padding(b.padding)
                    .with_stride(b.stride)
                    .with_pool(b.pool)
                    .with_batch_norm(b.batch_norm)
                    .with_dropout(b.dropout)
                    .with_residual(b.residual)
            })
            .collect())
    }
}
