//! Burn's Adam and AdamW with their updates fused into one pass on the CPU backends.
//!
//! Burn's Adam updates each parameter tensor with about a dozen element-wise tensor operations
//! (moments, bias correction, square root, division, the step), each a pass over the tensor on
//! one thread: a third of an MLP training step on flex. [`FusedAdam`] and [`FusedAdamW`]
//! implement Burn's own `Optimizer` trait with Burn's own state types (`AdamState`,
//! `AdamWState`, so their records, and Kiln's checkpoints, are the same as Burn's optimizers')
//! and, on flex and ndarray for f32 parameters, do the same arithmetic in the same order in one
//! pass over the parameter, its gradient and its two moments (split across threads for large
//! tensors): the same weights, bit for bit, except that subnormal values (below
//! `f32::MIN_POSITIVE`) count as zero, which is much faster and changed none of the shipped
//! models' weights. On flex it is a backend operation that updates the parameter's and the
//! moments' own buffers in place where no other tensor shares them (no copies, no allocations
//! per step). Anywhere else (wgpu, half precision) it is Burn's optimizer itself; Adam with
//! (L2) weight decay is Burn's Adam.

use burn::optim::{
    Adam, AdamConfig, AdamState, AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState,
    LearningRate, Optimizer,
};
use burn::prelude::*;
use burn::tensor::DType;

mod coefficients;
#[cfg(any(feature = "flex", feature = "ndarray"))]
mod extension;
mod update;

use coefficients::Coefficients;

/// Burn's Adam, fused into one pass per parameter on the CPU backends (see the module docs).
#[derive(Clone)]
pub struct FusedAdam {
    burn: Adam,
    betas: (f32, f32),
    epsilon: f32,
}

impl FusedAdam {
    /// Adam with these coefficients (no weight decay, no AMSGrad: Burn's `AdamConfig` for those).
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        let burn = AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .build();
        Self {
            burn,
            betas: (beta_1, beta_2),
            epsilon,
        }
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !fusable(&tensor, &grad) {
            return self.burn.step(lr, tensor, grad, state);
        }
        let coefficients = |time| Coefficients::adam(self.betas, self.epsilon, lr, time);
        let (tensor, momentum) = fused_step(tensor, grad, state.map(|s| s.momentum), coefficients);
        (tensor, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// Burn's AdamW (decoupled weight decay), fused into one pass per parameter on the CPU backends
/// (see the module docs).
#[derive(Clone)]
pub struct FusedAdamW {
    burn: AdamW,
    betas: (f32, f32),
    epsilon: f32,
    weight_decay: f32,
}

impl FusedAdamW {
    /// AdamW with these coefficients (no AMSGrad, no cautious decay: Burn's `AdamWConfig` for
    /// those).
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, weight_decay: f32) -> Self {
        let burn = AdamWConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay)
            .build();
        Self {
            burn,
            betas: (beta_1, beta_2),
            epsilon,
            weight_decay,
        }
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !fusable(&tensor, &grad) {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (betas, epsilon, decay) = (self.betas, self.epsilon, self.weight_decay);
        let coefficients = |time| Coefficients::adam_w(betas, epsilon, decay, lr, time);
        let (tensor, momentum) = fused_step(tensor, grad, state.map(|s| s.momentum), coefficients);
        (tensor, Some(AdamWState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <AdamW as Optimizer>::to_device(state, device)
    }
}

/// Whether the fused update takes this parameter: f32 values and gradient on a CPU backend.
fn fusable<const D: usize>(tensor: &Tensor<D>, grad: &Tensor<D>) -> bool {
    tensor.dtype() == DType::F32
        && grad.dtype() == DType::F32
        && kiln_kernels::has_fused_kernel(&tensor.device())
}

/// One step in the order of Burn's `AdaptiveMomentum::transform` and the optimizer's own step,
/// as one backend operation that updates the parameter and its moments in place;
/// `coefficients` gives the step's scalars from `(time, first)`.
fn fused_step<const D: usize>(
    tensor: Tensor<D>,
    grad: Tensor<D>,
    momentum: Option<AdaptiveMomentumState<D>>,
    coefficients: impl FnOnce((i32, bool)) -> Coefficients,
) -> (Tensor<D>, AdaptiveMomentumState<D>) {
    // Burn's first step sets the moments rather than decaying zeros (the same values, but
    // for the sign of a zero gradient).
    let (time, m1, m2, first) = match momentum {
        Some(state) => (state.time + 1, state.moment_1, state.moment_2, false),
        None => (1, grad.zeros_like(), grad.zeros_like(), true),
    };
    let c = coefficients((time as i32, first));
    let (tensor, m1, m2) = step(tensor, grad, m1, m2, c);
    (tensor, AdaptiveMomentumState::new(time, m1, m2))
}

/// The fused update through the backend extension (CPU backends only).
#[cfg(any(feature = "flex", feature = "ndarray"))]
fn step<const D: usize>(
    tensor: Tensor<D>,
    grad: Tensor<D>,
    m1: Tensor<D>,
    m2: Tensor<D>,
    c: Coefficients,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    use burn::backend::Dispatch;
    use extension::AdamStepBackend;
    let (scalars, decoupled) = c.to_array();
    let (tensor, m1, m2) = <Dispatch as AdamStepBackend>::adam_step(
        tensor.into_dispatch(),
        grad.into_dispatch(),
        m1.into_dispatch(),
        m2.into_dispatch(),
        scalars,
        [c.first, decoupled],
    );
    (
        Tensor::from_dispatch(tensor),
        Tensor::from_dispatch(m1),
        Tensor::from_dispatch(m2),
    )
}

/// Without a CPU backend compiled in there is no fused step (the optimizers use Burn's).
#[cfg(not(any(feature = "flex", feature = "ndarray")))]
fn step<const D: usize>(
    _: Tensor<D>,
    _: Tensor<D>,
    _: Tensor<D>,
    _: Tensor<D>,
    _: Coefficients,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    unreachable!("no CPU backend compiled in, so no device has the fused Adam step")
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, ModuleOptimizer};
    use burn::tensor::Distribution;

    use super::*;

    /// A layer big enough for the parallel path (300 x 200 weights) and a bias for the serial one.
    fn layer(device: &Device) -> Linear {
        device.seed(7);
        LinearConfig::new(300, 200).init(device)
    }

    /// `steps` Adam steps of `optimizer` on a fixed regression loss.
    fn train(mut model: Linear, optimizer: &mut ModuleOptimizer, steps: usize) -> Linear {
        let device = model.weight.device();
        for step in 0..steps {
            device.seed(100 + step as u64);
            let x = Tensor::<2>::random([16, 300], Distribution::Normal(0.0, 1.0), &device);
            let loss = model.forward(x).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(1e-2, model, grads);
        }
        model
    }

    fn values(model: &Linear) -> Vec<f32> {
        let mut all: Vec<f32> = model.weight.val().into_data().try_into_vec().unwrap();
        let bias = model.bias.as_ref().unwrap().val().into_data();
        all.extend(bias.try_into_vec::<f32>().unwrap());
        all
    }

    fn fused() -> ModuleOptimizer {
        FusedAdam::new(0.9, 0.999, 1e-5).into()
    }

    fn burn_adam() -> ModuleOptimizer {
        AdamConfig::new().init()
    }

    fn fused_w() -> ModuleOptimizer {
        FusedAdamW::new(0.9, 0.999, 1e-5, 0.05).into()
    }

    fn burn_adam_w() -> ModuleOptimizer {
        AdamWConfig::new().with_weight_decay(0.05).init()
    }

    /// Trains a layer 5 steps with both optimizers and checks they give the same bits.
    fn same_weights(ours: fn() -> ModuleOptimizer, burns: fn() -> ModuleOptimizer) {
        let device = Device::flex().autodiff();
        let _rng = crate::rng_guard(); // Burn's RNG is global: keep other tests from reseeding it
        let start = layer(&device);
        let a = values(&train(start.clone(), &mut ours(), 5));
        let b = values(&train(start.clone(), &mut burns(), 5));
        assert_ne!(a, values(&start), "the weights moved");
        // The same operations in the same order: the same bits.
        assert_eq!(a, b);
    }

    /// Burn's optimizer state continued by ours and by Burn's give the same weights, and ours
    /// loads back into Burn's.
    fn same_state(ours: fn() -> ModuleOptimizer, burns: fn() -> ModuleOptimizer) {
        let device = Device::flex().autodiff();
        let _rng = crate::rng_guard(); // Burn's RNG is global: keep other tests from reseeding it
        let mut first = burns();
        let model = train(layer(&device), &mut first, 3);
        let saved = first.into_bytes().unwrap();
        let mut continued = ours().from_bytes(saved.clone()).unwrap();
        let mut theirs = burns().from_bytes(saved).unwrap();
        let a = values(&train(model.clone(), &mut continued, 2));
        let b = values(&train(model, &mut theirs, 2));
        assert_eq!(a, b);
        let restored = burns().from_bytes(continued.into_bytes().unwrap());
        assert!(restored.is_ok());
    }

    #[test]
    fn fused_adam_gives_burns_adam_weights() {
        same_weights(fused, burn_adam);
    }

    #[test]
    fn fused_and_burns_adam_read_each_others_state() {
        same_state(fused, burn_adam);
    }

    #[test]
    fn fused_adam_w_gives_burns_adam_w_weights() {
        same_weights(fused_w, burn_adam_w);
        // Without decay too (Burn then skips the decay's multiplication).
        same_weights(
            || FusedAdamW::new(0.9, 0.999, 1e-5, 0.0).into(),
            || AdamWConfig::new().with_weight_decay(0.0).init(),
        );
    }

    #[test]
    fn fused_and_burns_adam_w_read_each_others_state() {
        same_state(fused_w, burn_adam_w);
    }

    #[test]
    fn the_two_rules_differ() {
        // AdamW's decay shows: the same gradients give other weights than Adam's.
        let device = Device::flex().autodiff();
        let _rng = crate::rng_guard();
        let start = layer(&device);
        let adam = values(&train(start.clone(), &mut fused(), 3));
        let adam_w = values(&train(start, &mut fused_w(), 3));
        assert_ne!(adam, adam_w);
    }
}
