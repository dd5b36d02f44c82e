//! Burn's Adam with its update fused into one pass on the CPU backends.
//!
//! Burn's Adam updates each parameter tensor with about a dozen element-wise tensor operations
//! (moments, bias correction, square root, division, the step), each a pass over the tensor on
//! one thread: a third of an MLP training step on flex. [`FusedAdam`] implements Burn's own
//! `Optimizer` trait with Burn's own state type (`AdamState`, so its records, and Kiln's
//! checkpoints, are the same as Burn's Adam's) and, on flex and ndarray for f32 parameters,
//! does the same arithmetic in the same order in one pass over the parameter, its gradient and
//! its two moments (split across threads for large tensors): the same weights, bit for bit. On
//! flex it is a backend operation that updates the parameter's and the moments' own buffers in
//! place where no other tensor shares them (no copies, no allocations per step).
//! Anywhere else (wgpu, half precision) it is Burn's Adam itself; with weight decay Kiln uses
//! Burn's Adam directly.

use burn::optim::{Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, Optimizer};
use burn::prelude::*;
use burn::tensor::DType;

#[cfg(any(feature = "flex", feature = "ndarray"))]
mod extension;

/// Values per parallel task of the fused update (element-wise: any split gives the same result).
const VALUES_PER_TASK: usize = 1 << 15;

/// Burn's Adam, fused into one pass per parameter on the CPU backends (see the module docs).
#[derive(Clone)]
pub struct FusedAdam {
    burn: Adam,
    beta_1: f32,
    beta_2: f32,
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
            beta_1,
            beta_2,
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
        let fused = tensor.dtype() == DType::F32
            && grad.dtype() == DType::F32
            && kiln_kernels::has_fused_kernel(&tensor.device());
        if !fused {
            return self.burn.step(lr, tensor, grad, state);
        }
        let (tensor, momentum) = self.fused_step(lr, tensor, grad, state.map(|s| s.momentum));
        (tensor, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

impl FusedAdam {
    /// One Adam step in the order of Burn's `AdaptiveMomentum::transform` and `Adam::step`,
    /// as one backend operation that updates the parameter and its moments in place.
    fn fused_step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        momentum: Option<AdaptiveMomentumState<D>>,
    ) -> (Tensor<D>, AdaptiveMomentumState<D>) {
        // Burn's first step sets the moments rather than decaying zeros (the same values, but
        // for the sign of a zero gradient).
        let (time, m1, m2, first) = match momentum {
            Some(state) => (state.time + 1, state.moment_1, state.moment_2, false),
            None => (1, grad.zeros_like(), grad.zeros_like(), true),
        };
        let c = Coefficients::new(self, lr, time as i32, first);
        let (tensor, m1, m2) = step(tensor, grad, m1, m2, c);
        (tensor, AdaptiveMomentumState::new(time, m1, m2))
    }
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
    let (tensor, m1, m2) = <Dispatch as AdamStepBackend>::adam_step(
        tensor.into_dispatch(),
        grad.into_dispatch(),
        m1.into_dispatch(),
        m2.into_dispatch(),
        c.to_array(),
        c.first,
    );
    (
        Tensor::from_dispatch(tensor),
        Tensor::from_dispatch(m1),
        Tensor::from_dispatch(m2),
    )
}

/// Without a CPU backend compiled in there is no fused step ([`FusedAdam`] uses Burn's Adam).
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

/// The scalars of one step.
#[derive(Clone, Copy)]
struct Coefficients {
    beta_1: f32,
    beta_2: f32,
    factor_1: f32,
    factor_2: f32,
    combined: f32,
    epsilon: f32,
    lr: f32,
    first: bool,
}

impl Coefficients {
    /// The scalars in the order [`Coefficients::from_array`] reads them.
    #[cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(dead_code))]
    fn to_array(self) -> [f32; 7] {
        [
            self.beta_1,
            self.beta_2,
            self.factor_1,
            self.factor_2,
            self.combined,
            self.epsilon,
            self.lr,
        ]
    }

    /// The scalars [`Coefficients::to_array`] gave.
    #[cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(dead_code))]
    fn from_array(c: [f32; 7], first: bool) -> Self {
        let [beta_1, beta_2, factor_1, factor_2, combined, epsilon, lr] = c;
        Self {
            beta_1,
            beta_2,
            factor_1,
            factor_2,
            combined,
            epsilon,
            lr,
            first,
        }
    }

    fn new(adam: &FusedAdam, lr: LearningRate, time: i32, first: bool) -> Self {
        let bias_correction2_sqrt = (1.0 - adam.beta_2.powi(time)).sqrt();
        Self {
            beta_1: adam.beta_1,
            beta_2: adam.beta_2,
            factor_1: 1.0 - adam.beta_1,
            factor_2: 1.0 - adam.beta_2,
            combined: bias_correction2_sqrt / (1.0 - adam.beta_1.powi(time)),
            epsilon: adam.epsilon * bias_correction2_sqrt,
            lr: lr as f32,
            first,
        }
    }
}

/// The update of a parameter's values, split across threads for large parameters (element-wise:
/// any split gives the same result).
#[cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(dead_code))]
fn update(values: &mut [f32], m1: &mut [f32], m2: &mut [f32], grad: &[f32], c: Coefficients) {
    if values.len() <= VALUES_PER_TASK {
        update_run(values, m1, m2, grad, c);
    } else {
        let parts: Vec<_> = values
            .chunks_mut(VALUES_PER_TASK)
            .zip(m1.chunks_mut(VALUES_PER_TASK))
            .zip(m2.chunks_mut(VALUES_PER_TASK))
            .zip(grad.chunks(VALUES_PER_TASK))
            .collect();
        kiln_kernels::run_parts(parts, |(((v, m1), m2), g)| update_run(v, m1, m2, g, c));
    }
}

/// The update of a run of values: moments, then `value -= lr * m1 * combined / (sqrt(m2) + eps)`,
/// compiled for AVX2 as well and chosen at run time (the same operations in the same order, so
/// the same results: Rust does not contract them into fused multiply-adds).
fn update_run(values: &mut [f32], m1: &mut [f32], m2: &mut [f32], grad: &[f32], c: Coefficients) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn wide(v: &mut [f32], m1: &mut [f32], m2: &mut [f32], g: &[f32], c: Coefficients) {
            update_body(v, m1, m2, g, c)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has the feature `wide` was compiled for.
            unsafe { wide(values, m1, m2, grad, c) };
            return;
        }
    }
    update_body(values, m1, m2, grad, c)
}

/// The body of [`update`].
#[inline(always)]
fn update_body(values: &mut [f32], m1: &mut [f32], m2: &mut [f32], grad: &[f32], c: Coefficients) {
    let n = values.len().min(m1.len()).min(m2.len()).min(grad.len());
    let (values, m1, m2, grad) = (&mut values[..n], &mut m1[..n], &mut m2[..n], &grad[..n]);
    if c.first {
        for i in 0..n {
            let g = grad[i];
            m1[i] = g * c.factor_1;
            m2[i] = (g * g) * c.factor_2;
        }
    } else {
        for i in 0..n {
            let g = grad[i];
            m1[i] = m1[i] * c.beta_1 + g * c.factor_1;
            m2[i] = m2[i] * c.beta_2 + (g * g) * c.factor_2;
        }
    }
    for i in 0..n {
        let step = (m1[i] * c.combined) / (m2[i].sqrt() + c.epsilon);
        values[i] -= step * c.lr;
    }
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

    #[test]
    fn fused_adam_gives_burns_adam_weights() {
        let device = Device::flex().autodiff();
        let _rng = crate::rng_guard(); // Burn's RNG is global: keep other tests from reseeding it
        let start = layer(&device);
        let ours = train(start.clone(), &mut fused(), 5);
        let burns = train(start.clone(), &mut burn_adam(), 5);
        let (a, b) = (values(&ours), values(&burns));
        assert_ne!(a, values(&start), "the weights moved");
        // The same operations in the same order: the same bits.
        assert_eq!(a, b);
    }

    #[test]
    fn fused_and_burns_adam_read_each_others_state() {
        let device = Device::flex().autodiff();
        let _rng = crate::rng_guard(); // Burn's RNG is global: keep other tests from reseeding it
        let mut burns = burn_adam();
        let model = train(layer(&device), &mut burns, 3);
        let saved = burns.into_bytes().unwrap();
        // Burn's state continued by the fused optimizer, and by Burn's own.
        let mut ours = fused().from_bytes(saved.clone()).unwrap();
        let mut theirs = burn_adam().from_bytes(saved).unwrap();
        let a = values(&train(model.clone(), &mut ours, 2));
        let b = values(&train(model, &mut theirs, 2));
        assert_eq!(a, b);
        // And the fused optimizer's state back into Burn's.
        let restored = burn_adam().from_bytes(ours.into_bytes().unwrap());
        assert!(restored.is_ok());
    }
}
