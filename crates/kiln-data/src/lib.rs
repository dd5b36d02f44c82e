//! Kiln's datasets: embedded real data (breast cancer, iris, UCI Adult, MNIST-10k, Shakespeare)
//! so that everything runs offline, loaders for a user's own CSV tables (numeric and
//! categorical columns, sensitive attributes kept per sample) and MNIST-style IDX directories,
//! seeded splits, standardisation with training statistics, and batching into Burn tensors.
//!
//! Every loader returns a typed [`DataError`] that names the file and the problem.
#![warn(missing_docs)]

mod augment;
mod batch;
mod csv_rows;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod encoding;
mod error;
mod groups;
pub mod idx;
mod image_file;
mod raw_rows;
mod rng;
mod samples;
mod standardize;
pub mod synthetic;
mod table;
mod tabular;
mod text;

pub use augment::{Augment, shift_rotate};
pub use batch::Batch;
pub use encoding::{ColumnEncoding, EncodeError, Encoding};
pub use error::DataError;
pub use groups::Groups;
pub use idx::load_mnist_dir;
pub use image_file::load_digit_image;
pub use raw_rows::encode_csv;
pub use rng::SeededRng;
pub use samples::Samples;
pub use standardize::Standardizer;
pub use table::{load_csv, parse_csv};
pub use tabular::{Table, TableOptions, load_table, parse_table};
pub use text::{Corpus, StreamChunks};
