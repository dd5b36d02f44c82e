//! Typed errors for every way a dataset can be unusable; each names the file and the problem.

use std::path::PathBuf;

/// Why a dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file or directory does not exist.
    #[error("{path}: file not found")]
    Missing {
        /// The path that was looked for.
        path: PathBuf,
    },
    /// The file exists but could not be read (permissions, I/O, corrupt gzip stream).
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// An IDX file does not start with the expected magic number.
    #[error("{path}: wrong IDX magic number {found:#010x} (expected {expected:#010x})")]
    BadMagic {
        /// The file being read.
        path: PathBuf,
        /// The magic number the file should have.
        expected: u32,
        /// The magic number it has.
        found: u32,
    },
    /// A file ends before the payload its header announces.
    #[error(
        "{path}: truncated: header announces {expected} bytes of data but only {actual} are present"
    )]
    Truncated {
        /// The file being read.
        path: PathBuf,
        /// Bytes announced by the header.
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
    /// Image and label files disagree on the number of samples.
    #[error("{images} holds {image_count} images but {labels} holds {label_count} labels")]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Number of images.
        image_count: usize,
        /// The label file.
        labels: PathBuf,
        /// Number of labels.
        label_count: usize,
    },
    /// A CSV cell that should be a number is not.
    #[error("{path}: line {line}, column '{column}': '{value}' is not a number")]
    NonNumeric {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number in the file (the header is line 1).
        line: usize,
        /// Column name from the header.
        column: String,
        /// The offending cell.
        value: String,
    },
    /// The configured target column is not in the CSV header.
    #[error("{path}: no target column '{target}' (columns: {available})")]
    MissingTarget {
        /// The file being read.
        path: PathBuf,
        /// The configured target column.
        target: String,
        /// The columns the header has, comma-separated.
        available: String,
    },
    /// A target value is not a class label (a non-negative integer).
    #[error("{path}: line {line}: target '{value}' is not a class label (a whole number >= 0)")]
    BadLabel {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The offending value.
        value: String,
    },
    /// A file or split holds no samples.
    #[error("{path}: dataset is empty")]
    Empty {
        /// The file (or dataset name) that is empty.
        path: PathBuf,
    },
    /// The file is malformed in some other way (ragged CSV rows, bad IDX header).
    #[error("{path}: {problem}")]
    Malformed {
        /// The file being read.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

/// Reads a whole file, mapping "not found" to [`DataError::Missing`].
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => DataError::Missing { path: path.into() },
        _ => DataError::Io {
            path: path.into(),
            source,
        },
    })
}
