//! Explanations for Kiln's models, and for any Burn model that maps float rows to logits:
//!
//! - [`integrated_gradients`] (Sundararajan et al. 2017) with its completeness gap and step
//!   refinement, on any backend, and [`input_gradient`] for one sample;
//! - [`rank_attributions`], features ranked by `|attribution|` with the sign kept, for tables
//!   and `--json`;
//! - [`permutation_importance`] (Breiman 2001, scikit-learn's semantics) with a small seeded
//!   generator, also for groups of columns such as one-hot categoricals;
//! - [`write_heat_map`], an attribution heat map as a PNG, beside the image if given.
//!
//! # Input gradients in Burn 0.22
//!
//! Autodiff is a property of each tensor. The explained rows are created on the model's device
//! with `Tensor::from_data(data, &device).autodiff().require_grad()`; the model is an
//! inference copy, `model.valid()`: dropout off, batch norm on its running statistics, and
//! parameters without autodiff, which the graph treats as constants (a model on an autodiff
//! device works too, if `valid()`). Then `output.sum().backward()` and `input.grad(&grads)` give
//! each row's gradient in one pass, since in inference mode a row's output depends on that row
//! alone. A forward pass whose output depends on its batch (a model left in training mode)
//! is detected and refused.
//!
//! ```
//! use burn::nn::LinearConfig;
//! use burn::prelude::*;
//! use kiln_explain::{IgOptions, Output, integrated_gradients};
//!
//! let device = Device::flex();
//! let model = LinearConfig::new(3, 2).init(&device).valid();
//! let options = IgOptions::default().with_output(Output::Logit);
//! let attribution =
//!     integrated_gradients(|x| model.forward(x), &[1.0, -2.0, 0.5], None, 1, &options, &device)
//!         .unwrap();
//! assert_eq!(attribution.values.len(), 3);
//! assert!(attribution.relative_gap < 1e-4);
//! ```
#![warn(missing_docs)]

mod error;
mod gradient;
mod heat_map;
mod integrated;
mod permutation;
mod quadrature;
mod ranking;
mod rng;

pub use error::ExplainError;
pub use gradient::{Output, explained_values, input_gradient};
pub use heat_map::{
    DEFAULT_SCALE, RgbImage, diverging_colour, render_heat_map, write_heat_map, write_png,
};
pub use integrated::{Attribution, IgOptions, integrated_gradients};
pub use permutation::{
    FeatureGroup, Importance, grouped_permutation_importance, permutation_importance,
    rank_importances,
};
pub use quadrature::Quadrature;
pub use ranking::{RankedFeature, group_attributions, rank_attributions, ranking_table};
