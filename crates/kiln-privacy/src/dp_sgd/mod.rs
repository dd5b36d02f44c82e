//! DP-SGD (Abadi et al. 2016, as Opacus 1.6 implements it) on Kiln's loop:
//!
//! - [`DpClassification`]: the training task. Each step draws a Poisson sample of the training
//!   set (every example independently with probability `q`; a batch may be empty), computes each
//!   example's gradient (micro-batches of one: correct for every model), clips it to the global
//!   L2 norm `C` over all parameters and sums the clipped gradients;
//! - [`GaussianNoise`]: the gradient hook that adds `N(0, σ²C²)` to every coordinate of that sum
//!   and divides by the expected batch size `q·N`, before any of Kiln's optimizers.
//!
//! The noise is drawn from the device's generator, which the loop reseeds from the seed and the
//! step before every batch, and the sample from the seed and the step: a resumed run draws what
//! an uninterrupted one would.

mod clip;
mod linear;
mod noise;
mod task;

pub use clip::{clip_factor, squared_norm};
pub use linear::{
    ProbedLinears, clipped_linear_gradients, forward_probed_stack, per_example_losses,
};
pub use noise::GaussianNoise;
pub use task::{BatchedRoute, DpClassification, poisson_sample};
