//! A model prepared for inference (`AnyModel::for_inference`) gives the same logits: the ResNet
//! preset with its batch norms folded into its convolutions, and kinds with nothing to prepare.

use burn::prelude::*;
use burn::tensor::Distribution;
use kiln_zoo::kinds::cnn::CnnPreset;
use kiln_zoo::{AnyModel, ModelKind};

mod common;
use common::{digits, preset};

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap()
}

#[test]
fn the_resnet_preset_prepared_for_inference_gives_the_same_logits() {
    let device = Device::flex();
    let shape = digits();
    for kind in [CnnPreset::Resnet, CnnPreset::Lenet] {
        let spec = preset(kind);
        let model = AnyModel::Cnn(spec.build(&shape, &device).unwrap());
        let inputs = Tensor::<2>::random([3, 784], Distribution::Default, &device);
        let expected = values(model.logits(inputs.clone()));
        let prepared = model.for_inference();
        let AnyModel::Cnn(cnn) = &prepared else {
            unreachable!("the same kind")
        };
        assert!(cnn.blocks.iter().all(|b| b.norm.is_none()), "{kind:?}");
        assert_eq!(values(prepared.logits(inputs)), expected, "{kind:?}");
    }
}
