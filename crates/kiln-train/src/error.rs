//! Kiln's error type and its exit codes: 2 for bad input, 1 for internal failures.

use std::path::PathBuf;

use kiln_data::DataError;

/// Everything that can stop a Kiln command.
#[derive(Debug, thiserror::Error)]
pub enum KilnError {
    /// A config file or override is malformed or inconsistent.
    #[error("{0}")]
    Config(String),
    /// A dataset cannot be loaded.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The model does not fit the data, or the command was used wrongly.
    #[error("{0}")]
    Input(String),
    /// A file Kiln must write (run folder, model) cannot be written.
    #[error("{path}: cannot write: {source}")]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A file Kiln must read cannot be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Training was stopped by SIGINT or SIGTERM after writing a checkpoint.
    #[error("interrupted: training state saved in {0}; continue with --resume")]
    Interrupted(PathBuf),
    /// Something failed inside Kiln or Burn.
    #[error("internal error: {0}")]
    Internal(String),
}

impl KilnError {
    /// The process exit code for this error: 2 for bad input, 1 for internal errors.
    pub fn exit_code(&self) -> i32 {
        match self {
            KilnError::Internal(_) => 1,
            KilnError::Interrupted(_) => 130,
            _ => 2,
        }
    }
}

/// Shorthand for results in Kiln.
pub type Result<T, E = KilnError> = std::result::Result<T, E>;
