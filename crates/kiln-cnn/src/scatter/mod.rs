//! Wavelet scattering networks (Bruna and Mallat 2013; Oyallon et al. 2018): a fixed,
//! translation-stable feature extractor of Morlet wavelets and complex moduli, with a small
//! trained head. Tramer and Boneh (2021, "Differentially private learning needs better
//! features") show that such a network learns far better than an end-to-end one under
//! differential privacy, and on little data.

mod banded;
mod classifier;
pub mod filters;
mod transform;

pub use classifier::{ScatterNet, ScatterNetConfig};
pub use filters::FilterBank;
pub use transform::Scattering;
