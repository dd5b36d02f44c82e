//! The one error type of this crate.

use thiserror::Error;

/// Why an explanation could not be computed or written.
#[derive(Debug, Error)]
pub enum ExplainError {
    /// Two inputs that must have the same length do not.
    #[error("{what}: expected {expected} values, got {actual}")]
    LengthMismatch {
        /// What was measured (for example "baseline").
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// An input that must not be empty is.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// The target class is not one of the model's classes.
    #[error("target class {target} is out of range for a model with {classes} classes")]
    TargetOutOfRange {
        /// The requested class.
        target: usize,
        /// How many classes the model has (2 for a single-logit binary model).
        classes: usize,
    },
    /// A count that must be at least 1 is 0 (steps, batch size, repeats, width, scale).
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// The forward pass returned a tensor of the wrong shape.
    #[error(
        "the forward pass returned shape {actual:?} for {rows} input rows; expected [{rows}, classes]"
    )]
    BadOutput {
        /// Rows passed in.
        rows: usize,
        /// Shape returned.
        actual: Vec<usize>,
    },
    /// The output does not depend on the input through autodiff (the forward pass detached it
    /// or moved it off the autodiff device).
    #[error(
        "the forward pass's output carries no gradient back to its input (was the input detached?)"
    )]
    NoGradient,
    /// The same input gave different outputs in different batches: dropout or batch statistics
    /// are active. Pass an inference copy of the model (`model.valid()`).
    #[error(
        "the forward pass is not deterministic: f(input) was {first} in one batch and {second} in \
         another; use an inference copy of the model (`model.valid()`) so dropout is off and batch \
         norm uses its running statistics"
    )]
    NotDeterministic {
        /// The first evaluation.
        first: f64,
        /// The second evaluation.
        second: f64,
    },
    /// Reading a tensor back to the host failed.
    #[error("cannot read a tensor back to the host: {0}")]
    Read(String),
    /// A column index in a feature group is not below the row width.
    #[error("feature group {group:?} names column {column}, but rows have {width} columns")]
    ColumnOutOfRange {
        /// The group's name.
        group: String,
        /// The offending column.
        column: usize,
        /// The row width.
        width: usize,
    },
    /// The prediction function returned a wrong number of classes.
    #[error("the prediction function returned {actual} classes for {expected} rows")]
    BadPrediction {
        /// Rows passed in.
        expected: usize,
        /// Predictions returned.
        actual: usize,
    },
    /// An image is too large to write.
    #[error("a {width}x{height} pixel image is too large to write")]
    ImageTooLarge {
        /// Width in pixels (before the limit).
        width: u64,
        /// Height in pixels.
        height: u64,
    },
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The PNG encoder failed.
    #[error("cannot encode the PNG {path}: {source}")]
    Png {
        /// The file.
        path: String,
        /// The cause.
        source: png::EncodingError,
    },
}
