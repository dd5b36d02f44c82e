//! The bit-mask dropout: Burn's `Dropout` maths on a mask drawn from a seed (values, gradients,
//! the probability of dropping), reproducible under a seed, and the identity outside training.

use std::sync::Mutex;

use burn::module::Module;
use burn::nn::DropoutConfig;
use burn::prelude::*;
use burn::tensor::Distribution;

use super::{dropout, kernels};
use crate::testing::values;

/// The tests here reseed Burn's global random state; they take turns.
static RNG: Mutex<()> = Mutex::new(());

/// The input, the output and the input's gradient of `f` on a random input of `shape`, with the
/// generator seeded with `seed` just before `f` draws; the gradient is that of `sum(out * w)`
/// for a random `w`, also returned.
fn run(
    f: impl Fn(Tensor<3>) -> Tensor<3>,
    shape: [usize; 3],
    seed: u64,
    device: &Device,
) -> [Vec<f32>; 4] {
    let _turn = RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    device.seed(5);
    let input = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), device);
    let weights = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), device);
    let leaf = input.clone().detach().require_grad();
    device.seed(seed);
    let out = f(leaf.clone());
    let grads = (out.clone() * weights.clone()).sum().backward();
    let grad = leaf.grad(&grads).expect("the input's gradient");
    [
        values(input.detach()),
        values(out.detach()),
        values(grad),
        values(weights.detach()),
    ]
}

#[test]
fn values_and_gradients_are_dropouts_on_the_drawn_mask() {
    let device = Device::flex().autodiff();
    assert!(
        crate::has_fused_kernel(&device),
        "flex runs the bit-mask path"
    );
    for prob in [0.1, 0.5, 0.6, 0.9] {
        let layer = DropoutConfig::new(prob).init();
        // 4 x 125 x 101 = 50,500 elements: not a whole number of 64-bit words.
        let [x, out, grad, w] = run(|x| dropout(&layer, x), [4, 125, 101], 17, &device);
        let scale = (1.0 / (1.0 - prob)) as f32;
        let mut dropped = 0;
        for i in 0..x.len() {
            // The inputs are never exactly zero, so a zero output marks a dropped element.
            let kept = out[i] != 0.0;
            dropped += usize::from(!kept);
            let k = f32::from(u8::from(kept));
            assert_eq!(
                out[i].to_bits(),
                ((x[i] * k) * scale).to_bits(),
                "value {i}"
            );
            assert_eq!(
                grad[i].to_bits(),
                ((w[i] * scale) * k).to_bits(),
                "grad {i}"
            );
        }
        // The dropped share of 50,500 draws has a standard deviation below 0.0023.
        let share = dropped as f64 / x.len() as f64;
        assert!((share - prob).abs() < 0.012, "p = {prob}: dropped {share}");
    }
}

#[test]
fn the_same_seed_draws_the_same_mask_and_another_seed_another() {
    let device = Device::flex().autodiff();
    let layer = DropoutConfig::new(0.5).init();
    let shape = [2, 300, 130];
    let [_, first, ..] = run(|x| dropout(&layer, x), shape, 17, &device);
    let [_, again, ..] = run(|x| dropout(&layer, x), shape, 17, &device);
    let [_, other, ..] = run(|x| dropout(&layer, x), shape, 18, &device);
    assert_eq!(first, again);
    let differ = first
        .iter()
        .zip(&other)
        .filter(|(a, b)| (**a == 0.0) != (**b == 0.0))
        .count();
    // Two independent masks at p = 0.5 differ in half the elements.
    let share = differ as f64 / first.len() as f64;
    assert!((share - 0.5).abs() < 0.02, "masks differ in {share}");
}

#[test]
fn the_mask_is_the_same_whichever_threads_draw_it_and_has_no_pattern() {
    let len = 200_003;
    let threshold = kernels::threshold(0.3);
    let parallel = kernels::mask(99, threshold, len);
    for parts in [1, 2, 3, 7] {
        assert_eq!(kernels::mask_in_parts(99, threshold, len, parts), parallel);
    }
    // Bits past the end are clear.
    let last = parallel[len / 64];
    assert_eq!(last >> (len % 64), 0);
    // Every bit position of the words, and both halves of each hash, keep about 30%.
    let words = len / 64;
    for bit in 0..64 {
        let kept = parallel[..words]
            .iter()
            .filter(|w| (*w >> bit) & 1 == 1)
            .count() as f64
            / words as f64;
        assert!((kept - 0.3).abs() < 0.04, "bit {bit} kept {kept}");
    }
    // Neighbours are independent: both kept about 9% of the time.
    let pairs = (0..len - 1)
        .filter(|i| {
            let bit = |j: usize| (parallel[j / 64] >> (j % 64)) & 1 == 1;
            bit(*i) && bit(i + 1)
        })
        .count() as f64
        / (len - 1) as f64;
    assert!((pairs - 0.09).abs() < 0.01, "both neighbours kept {pairs}");
    // Probabilities 0 and 1 drop everything and nothing.
    assert!(
        kernels::mask(1, kernels::threshold(0.0), 1000)
            .iter()
            .all(|w| *w == 0)
    );
    let all = kernels::mask(1, kernels::threshold(1.0), 128);
    assert_eq!(all, vec![u64::MAX, u64::MAX]);
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
fn the_backward_pass_keeps_the_masked_elements_only() {
    let bits = vec![0x5555_5555_5555_5555u64, 0b11];
    let mut grad = vec![2.0; 66];
    kernels::backward(&mut grad, &bits, 1.5);
    for (i, g) in grad.iter().enumerate() {
        assert_eq!(
            *g,
            if i % 2 == 0 || i >= 64 { 3.0 } else { 0.0 },
            "element {i}"
        );
    }
}
