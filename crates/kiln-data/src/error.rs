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
    /// A column named in one of the table options (`categorical`, `sensitive`, `drop`,
    /// `log1p`, `split_column`) is not in the CSV header.
    #[error(
        "{path}: line 1: the {list} list names column '{column}', which the header does not have (columns: {available})"
    )]
    UnknownColumn {
        /// The file being read.
        path: PathBuf,
        /// Which option names the column.
        list: String,
        /// The column it names.
        column: String,
        /// The columns the header has, comma-separated.
        available: String,
    },
    /// A numeric column has an empty or `?` cell.
    #[error(
        "{path}: line {line}, column '{column}': missing value in a numeric column (list the column as categorical to keep '?' as a level, drop it, or fill the value in)"
    )]
    MissingValue {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Column name from the header.
        column: String,
    },
    /// A categorical column has more distinct values than any category should.
    #[error(
        "{path}: line {line}, column '{column}': more than {limit} distinct values, too many for a categorical column (drop it, or list the categorical columns yourself)"
    )]
    TooManyLevels {
        /// The file being read.
        path: PathBuf,
        /// The line holding the first value over the limit.
        line: usize,
        /// Column name from the header.
        column: String,
        /// The most levels a column may have.
        limit: usize,
    },
    /// A cell of the split column is neither `train` nor `test`.
    #[error("{path}: line {line}, column '{column}': '{value}' is neither 'train' nor 'test'")]
    BadSplit {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The split column's name.
        column: String,
        /// The offending cell.
        value: String,
    },
    /// A raw record could not be encoded for a model: a column it needs is missing, or a cell
    /// holds a level never seen in training or a bad number.
    #[error("{path}: line {line}, {source}")]
    Encode {
        /// The file being read.
        path: PathBuf,
        /// 1-based line number (1 for the header).
        line: usize,
        /// What is wrong, naming the column.
        source: crate::EncodeError,
    },
    /// A sensitive attribute was asked for by a name the samples do not carry.
    #[error("no sensitive attribute '{attribute}' (attributes: {available})")]
    UnknownAttribute {
        /// The name asked for.
        attribute: String,
        /// The attributes there are, comma-separated (or `none`).
        available: String,
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
