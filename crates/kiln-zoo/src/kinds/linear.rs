//! `linear`: softmax (or logistic) regression, one Burn `Linear` layer on flat samples; the
//! smallest kind, and the template for a new one.

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use kiln_train::Result;
use serde::{Deserialize, Serialize};

use crate::size::{check_params, linear};
use crate::{DataShape, KindInfo, ModelKind, TaskKind};

static INFO: KindInfo = KindInfo {
    name: "linear",
    description: "softmax / logistic regression: one Linear layer from the features to the logits",
    crate_name: "burn",
    task: TaskKind::Samples,
    variant_key: None,
    variants: &[],
    example: "[model]\nkind = \"linear\"\n",
};

/// `[model] kind = "linear"`: nothing to choose; the sizes come from the data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinearSpec {
    /// Whether the layer has a bias (default true).
    #[serde(default = "yes")]
    pub bias: bool,
}

fn yes() -> bool {
    true
}

impl ModelKind for LinearSpec {
    type Model = Linear;

    fn info() -> &'static KindInfo {
        &INFO
    }

    fn validate(&self) -> std::result::Result<(), String> {
        Ok(())
    }

    fn build(&self, shape: &DataShape, device: &Device) -> Result<Linear> {
        let (inputs, outputs) = (shape.features(), shape.outputs());
        check_params(linear(inputs, outputs), "the data's features and classes")?;
        Ok(LinearConfig::new(inputs, outputs)
            .with_bias(self.bias)
            .init(device))
    }

    fn logits(model: &Linear, inputs: Tensor<2>) -> Tensor<2> {
        model.forward(inputs)
    }
}
