//! Per-example gradients of a stack of Linear layers in one batched pass (the probe route of
//! the notes, as Opacus's hooks compute them): a zero probe added to each Linear's output has
//! the per-example `dL/dz` as its gradient, so with `a` the layer's input, an example's weight
//! gradient is `a_n ⊗ g_n` (squared norm `‖a_n‖²‖g_n‖²`) and its bias gradient `g_n`. The
//! clipped sums are `aᵀ(c ⊙ g)` and `Σ c_n g_n`.

use burn::nn::Linear;
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::FloatDType;

/// A model that can run its forward pass with a probe added to each Linear layer's output,
/// giving its Linear layers in the order it used them. Only models whose every parameter is in
/// those layers may take this route (an MLP without batch norm).
pub trait ProbedLinears {
    /// Logits of `x`; `probe(l, z)` is applied to the output `z` of the `l`-th Linear layer
    /// and the layer's input is pushed to `inputs`.
    fn forward_probed(
        &self,
        x: Tensor<2>,
        probe: &mut dyn FnMut(usize, Tensor<2>) -> Tensor<2>,
        inputs: &mut Vec<Tensor<2>>,
    ) -> Tensor<2>;

    /// The Linear layers, in the order of the forward pass.
    fn linears(&self) -> Vec<&Linear>;
}

/// [`ProbedLinears::forward_probed`] of a stack of Linear layers: `hidden`, each followed by
/// `between` (an activation, dropout), then `output`.
pub fn forward_probed_stack(
    hidden: &[Linear],
    output: &Linear,
    between: impl Fn(Tensor<2>) -> Tensor<2>,
    x: Tensor<2>,
    probe: &mut dyn FnMut(usize, Tensor<2>) -> Tensor<2>,
    inputs: &mut Vec<Tensor<2>>,
) -> Tensor<2> {
    let mut x = x;
    for (index, layer) in hidden.iter().enumerate() {
        inputs.push(x.clone());
        x = between(probe(index, layer.forward(x)));
    }
    inputs.push(x.clone());
    probe(hidden.len(), output.forward(x))
}

/// The summed clipped per-example gradients of a batch, registered by parameter, and the sum of
/// the examples' losses; `losses(logits)` gives each example's loss `[batch]`.
pub fn clipped_linear_gradients<M: ProbedLinears>(
    model: &M,
    x: Tensor<2>,
    losses: impl Fn(Tensor<2>) -> Tensor<1>,
    max_norm: f64,
    device: &Device,
) -> (GradientsParams, f64, Tensor<2>) {
    let batch = x.dims()[0];
    let mut probes = Vec::new();
    let mut inputs = Vec::new();
    let logits = model.forward_probed(
        x,
        &mut |_, z| {
            let probe = z.zeros_like().detach().require_grad();
            probes.push(probe.clone());
            z + probe
        },
        &mut inputs,
    );
    let logits = logits.cast(FloatDType::F32);
    let per_example = losses(logits.clone());
    let loss_sum = f64::from(per_example.clone().sum().into_scalar::<f32>());
    let grads = per_example.sum().backward();
    let layers = model.linears();
    // dL/dz of each layer, per example ([batch, out]), and the layers' inputs ([batch, in]),
    // in f32 also for a half-precision model (their norms and sums could overflow f16).
    let g: Vec<Tensor<2>> = probes
        .iter()
        .map(|p| {
            p.grad(&grads)
                .expect("every probe is used")
                .cast(FloatDType::F32)
        })
        .collect();
    let a: Vec<Tensor<2>> = inputs
        .iter()
        .map(|a| a.clone().detach().inner().cast(FloatDType::F32))
        .collect();
    let mut squared = Tensor::<1>::zeros([batch], &device.clone().inner());
    for (a, g) in a.iter().zip(&g) {
        let g2: Tensor<1> = g.clone().powi_scalar(2).sum_dim(1).reshape([batch]);
        let a2: Tensor<1> = a.clone().powi_scalar(2).sum_dim(1).reshape([batch]);
        squared = squared + g2.clone() * a2 + g2;
    }
    let factors = squared
        .sqrt()
        .add_scalar(1e-6)
        .recip()
        .mul_scalar(max_norm)
        .clamp_max(1.0);
    let mut clipped = GradientsParams::new();
    for ((layer, a), g) in layers.iter().zip(&a).zip(&g) {
        let scaled = g.clone() * factors.clone().unsqueeze_dim::<2>(1);
        clipped.register::<2>(
            layer.weight.id,
            a.clone().transpose().matmul(scaled.clone()),
        );
        if let Some(bias) = &layer.bias {
            clipped.register::<1>(bias.id, scaled.sum_dim(0).reshape([g.dims()[1]]));
        }
    }
    (clipped, loss_sum, logits.detach())
}

/// Each example's loss `[batch]` under `objective` (the task's losses, not averaged).
pub fn per_example_losses(
    objective: kiln_train::Objective,
    logits: Tensor<2>,
    labels: Tensor<1, Int>,
) -> Tensor<1> {
    let batch = logits.dims()[0];
    match objective {
        kiln_train::Objective::Multiclass { .. } => {
            let log_p = burn::tensor::activation::log_softmax(logits, 1);
            log_p
                .gather(1, labels.unsqueeze_dim(1))
                .reshape([batch])
                .neg()
        }
        kiln_train::Objective::Binary => {
            // max(x, 0) − x·t + ln(1 + e^−|x|), the stable binary cross-entropy with logits.
            let x: Tensor<1> = logits.reshape([batch]);
            let t = labels.float();
            x.clone().clamp_min(0.0) - x.clone() * t + x.abs().neg().exp().log1p()
        }
    }
}
