//! The bit-mask dropout against Burn's `Dropout`: the same draw gives the same values and the
//! same gradients, bit for bit.

use std::sync::Mutex;

use burn::module::Module;
use burn::nn::DropoutConfig;
use burn::prelude::*;
use burn::tensor::Distribution;

use super::{dropout, kernels};
use crate::testing::values;

/// The tests here reseed Burn's global random state; they take turns.
static RNG: Mutex<()> = Mutex::new(());

/// The output and the input's gradient of `f` on a fixed input, with the generator seeded
/// just before `f` draws.
fn output_and_gradient(
    f: impl Fn(Tensor<3>) -> Tensor<3>,
    device: &Device,
) -> (Vec<f32>, Vec<f32>) {
    let _turn = RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(5);
    // 3 x 70 x 5 = 1,050 elements: not a whole number of 64-bit words.
    let input = Tensor::<3>::random([3, 70, 5], Distribution::Normal(0.0, 1.0), device);
    let weights = Tensor::<3>::random([3, 70, 5], Distribution::Normal(0.0, 1.0), device);
    let leaf = input.detach().require_grad();
    device.seed(17);
    let out = f(leaf.clone());
    let grads = (out.clone() * weights).sum().backward();
    let grad = leaf.grad(&grads).expect("the input's gradient");
    (values(out.detach()), values(grad))
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn values_and_gradients_are_burns_to_the_bit() {
    let device = Device::flex().autodiff();
    assert!(
        crate::has_fused_kernel(&device),
        "flex runs the bit-mask path"
    );
    for prob in [0.1, 0.5, 0.9] {
        let layer = DropoutConfig::new(prob).init();
        let (out, grad) = output_and_gradient(|x| dropout(&layer, x), &device);
        let (burn_out, burn_grad) = output_and_gradient(|x| layer.forward(x), &device);
        assert_eq!(bits(&out), bits(&burn_out), "values, p = {prob}");
        assert_eq!(bits(&grad), bits(&burn_grad), "gradient, p = {prob}");
        let dropped = out.iter().filter(|v| **v == 0.0).count() as f64 / out.len() as f64;
        assert!(
            (dropped - prob).abs() < 0.06,
            "p = {prob}: dropped {dropped}"
        );
    }
}

#[test]
fn outside_training_it_is_the_identity() {
    let input = Tensor::<2>::from_floats([[1.0, -2.0], [3.0, 4.5]], &Device::flex());
    let layer = DropoutConfig::new(0.5).init();
    let off_autodiff = dropout(&layer, input.clone());
    assert_eq!(values(off_autodiff), values(input.clone()));
    let frozen = DropoutConfig::new(0.5).init().freeze();
    let tracked = input.clone().to_device(&Device::flex().autodiff());
    assert_eq!(values(dropout(&frozen, tracked)), values(input.clone()));
    let never = DropoutConfig::new(0.0).init();
    let tracked = input.clone().to_device(&Device::flex().autodiff());
    assert_eq!(values(dropout(&never, tracked)), values(input));
}

#[test]
fn packed_bits_mark_the_kept_elements() {
    let draw: Vec<f32> = (0..130).map(|i| f32::from(i % 3 == 0)).collect();
    let packed = kernels::pack(&draw);
    assert_eq!(packed.len(), 3);
    let mut grad = vec![2.0; 130];
    kernels::backward(&mut grad, &packed, 1.5);
    for (i, g) in grad.iter().enumerate() {
        assert_eq!(*g, if i % 3 == 0 { 3.0 } else { 0.0 }, "element {i}");
    }
}
