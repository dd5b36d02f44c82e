//! Kiln's datasets: embedded real data (breast cancer, iris, MNIST-10k, Shakespeare) so that
//! everything runs offline, loaders for a user's own CSV tables and MNIST-style IDX directories,
//! seeded splits, standardisation with training statistics, and batching into Burn tensors.
//!
//! Every loader returns a typed [`DataError`] that names the file and the problem.
#![warn(missing_docs)]

mod augment;
mod batch;
#[cfg(feature = "embedded")]
pub mod embedded;
mod error;
pub mod idx;
mod image_file;
mod rng;
mod samples;
mod standardize;
pub mod synthetic;
mod table;
mod text;

pub use augment::Augment;
pub use batch::Batch;
pub use error::DataError;
pub use idx::load_mnist_dir;
pub use image_file::load_digit_image;
pub use rng::SeededRng;
pub use samples::Samples;
pub use standardize::Standardizer;
pub use table::{load_csv, parse_csv};
pub use text::{Corpus, StreamChunks};
