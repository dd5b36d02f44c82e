//! The one error type of the crate, with messages meant for the person running the audit.

use std::fmt;

/// Which input a value came from: the true labels or the predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    /// The true label (`y_true`).
    Label,
    /// The model's prediction (`y_pred`).
    Prediction,
}

impl fmt::Display for LabelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LabelKind::Label => "label",
            LabelKind::Prediction => "prediction",
        })
    }
}

/// Everything that can go wrong in an audit.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A label or prediction other than 0 or 1 where binary metrics were asked for.
    #[error(
        "{kind} {value} at {location} is not 0 or 1: selection rate, TPR, FPR, demographic \
         parity and equalized odds need binary labels and predictions (0/1); for more than two \
         classes use the multi-class report, which gives per-group count and accuracy only \
         (kiln_audit::MulticlassFrame)"
    )]
    NotBinary {
        /// Label or prediction.
        kind: LabelKind,
        /// The offending value.
        value: u64,
        /// Where it is: `sample 17`, or `FILE line 19, column 'pred'`.
        location: String,
    },
    /// Two inputs that need one value per sample have different lengths.
    #[error(
        "{what} has {got} values but {reference} has {expected}: every input needs one value per sample"
    )]
    LengthMismatch {
        /// The input that does not match (`y_pred`, `sensitive feature 'sex'`, ...).
        what: String,
        /// The input it is compared with (`y_true`, `scores`, ...).
        reference: &'static str,
        /// Number of samples (the length of `reference`).
        expected: usize,
        /// The length found.
        got: usize,
    },
    /// Empty inputs.
    #[error("no samples: {what} is empty, there is nothing to audit")]
    NoSamples {
        /// The empty input.
        what: String,
    },
    /// Group metrics asked for without any sensitive feature.
    #[error(
        "no sensitive feature: group metrics need at least one column to group by (e.g. --by sex)"
    )]
    NoSensitiveFeature,
    /// A group asked for by name that has no samples.
    #[error("no samples in group '{group}': the groups with samples are {list}", list = quoted(.available))]
    UnknownGroup {
        /// The name asked for.
        group: String,
        /// The groups there are.
        available: Vec<String>,
    },
    /// Thresholds applied to a group they were not fitted on.
    #[error(
        "group '{group}' (sample {index}) was not seen when the thresholds were fitted; the \
         fitted groups are {list}: refit on data that has every group",
        list = quoted(.known)
    )]
    UnseenGroup {
        /// The unseen group.
        group: String,
        /// Index of its first sample.
        index: usize,
        /// The groups the thresholds were fitted on.
        known: Vec<String>,
    },
    /// A score that is NaN or infinite.
    #[error("score {value} at sample {index} is not a finite number")]
    NotFinite {
        /// Index of the sample.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A parameter outside its range.
    #[error("invalid {what}: {message}")]
    InvalidArgument {
        /// The parameter.
        what: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The predictions file cannot be opened or read.
    #[error("cannot read {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The predictions file has no header line.
    #[error(
        "{file} is empty: expected a CSV header line naming the columns, then one row per sample"
    )]
    EmptyFile {
        /// The file.
        file: String,
    },
    /// The predictions file has a header and no rows.
    #[error("{file} has a header line but no rows: no samples to audit")]
    NoRows {
        /// The file.
        file: String,
    },
    /// A column named on the command line is not in the header.
    #[error("{file}: no column '{column}' (asked for as the {role} column); the columns are: {list}", list = .available.join(", "))]
    MissingColumn {
        /// The file.
        file: String,
        /// The column asked for.
        column: String,
        /// What it was for (`--label`, `--prediction`, `--by`, `--score`).
        role: &'static str,
        /// The header's columns.
        available: Vec<String>,
    },
    /// A column named twice in the header, so which one is meant is unclear.
    #[error(
        "{file}: the header has {count} columns named '{column}'; rename them so that each is unique"
    )]
    DuplicateColumn {
        /// The file.
        file: String,
        /// The column.
        column: String,
        /// How many times it occurs.
        count: usize,
    },
    /// A label or prediction cell that is not a non-negative integer.
    #[error(
        "{file} line {line}, column '{column}': '{value}' is not an integer class label (expected 0, 1, 2, ...)"
    )]
    NotInteger {
        /// The file.
        file: String,
        /// Line number, 1-based (the header is line 1).
        line: u64,
        /// The column.
        column: String,
        /// The cell.
        value: String,
    },
    /// A score cell that is not a probability.
    #[error("{file} line {line}, column '{column}': '{value}' is not a probability in [0, 1]")]
    NotProbability {
        /// The file.
        file: String,
        /// Line number, 1-based.
        line: u64,
        /// The column.
        column: String,
        /// The cell.
        value: String,
    },
    /// A row with more or fewer fields than the header.
    #[error("{file} line {line}: {got} fields, but the header has {expected}")]
    RaggedRow {
        /// The file.
        file: String,
        /// Line number, 1-based.
        line: u64,
        /// Number of header columns.
        expected: usize,
        /// Number of fields in the row.
        got: usize,
    },
    /// Any other CSV problem (invalid UTF-8, ...).
    #[error("{file} line {line}: {message}")]
    Csv {
        /// The file.
        file: String,
        /// Line number, 1-based (0 when unknown).
        line: u64,
        /// The CSV reader's message.
        message: String,
    },
}

/// The crate's result type.
pub type Result<T, E = AuditError> = std::result::Result<T, E>;

/// Checks that every value is 0 or 1; `location` names a sample by its index.
pub(crate) fn check_binary<T: Copy + Into<u64>>(
    values: &[T],
    kind: LabelKind,
    location: impl Fn(usize) -> String,
) -> Result<()> {
    match values.iter().position(|&v| v.into() > 1) {
        Some(i) => Err(AuditError::NotBinary {
            kind,
            value: values[i].into(),
            location: location(i),
        }),
        None => Ok(()),
    }
}

/// Checks that `what` (of length `got`) has as many values as `reference`.
pub(crate) fn check_len(
    what: impl Into<String>,
    reference: &'static str,
    expected: usize,
    got: usize,
) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(AuditError::LengthMismatch {
            what: what.into(),
            reference,
            expected,
            got,
        })
    }
}

/// Group names in quotes, comma-separated (names of several features contain commas).
fn quoted(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    quoted.join(", ")
}

/// Names sample `i` in messages.
pub(crate) fn sample(i: usize) -> String {
    format!("sample {i}")
}
