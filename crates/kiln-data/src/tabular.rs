//! Tables as they come: numeric and categorical columns (one-hot encoded), sensitive
//! attributes kept per sample, ignored columns, and a column that says which rows are test rows.

use std::collections::BTreeSet;
use std::path::Path;

use crate::csv_rows::{CsvRows, Row, read_csv_rows};
use crate::encoding::{ColumnEncoding, EncodeError, Encoding, MAX_LEVELS, is_missing, level_of};
use crate::error::read_file;
use crate::{DataError, Groups, Samples};

/// How to read a table: which column is the target and what each other column is for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TableOptions {
    /// The column of class labels (whole numbers >= 0).
    pub target: String,
    /// The categorical columns; `None` detects them: a column is categorical when any of its
    /// non-missing cells is not a number.
    pub categorical: Option<Vec<String>>,
    /// Sensitive attributes, kept per sample in [`Samples::groups`].
    pub sensitive: Vec<String>,
    /// Also give the sensitive columns to the model as features (default: not).
    pub sensitive_as_features: bool,
    /// Columns ignored entirely.
    pub drop: Vec<String>,
    /// Numeric columns taken as `ln(1 + value)` (skewed counts and amounts).
    pub log1p: Vec<String>,
    /// A column of `train` / `test` that splits the rows (see [`Table::split_by_column`]).
    pub split_column: Option<String>,
}

impl TableOptions {
    /// Options for a table whose class labels are in `target`, every other column a feature.
    pub fn new(target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            ..Self::default()
        }
    }
}

/// A loaded table: its samples (with their sensitive attributes), how its columns were
/// encoded, and which rows the split column marks as test rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Every row, in file order.
    pub samples: Samples,
    /// How the input columns became features; saved with a model for prediction.
    pub encoding: Encoding,
    /// Per row, true when the split column says `test`; empty without a split column.
    pub test_rows: Vec<bool>,
}

impl Table {
    /// The (train, test) rows by the split column, or `None` when the table has none.
    pub fn split_by_column(&self) -> Option<(Samples, Samples)> {
        if self.test_rows.is_empty() {
            return None;
        }
        let (test, train): (Vec<usize>, Vec<usize>) =
            (0..self.samples.len()).partition(|&i| self.test_rows[i]);
        Some((self.samples.select(&train), self.samples.select(&test)))
    }
}

/// Loads a CSV table with `options`.
pub fn load_table(path: &Path, options: &TableOptions) -> Result<Table, DataError> {
    parse_table(&read_file(path)?, path, options)
}

/// What one CSV column is for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Target,
    Split,
    Dropped,
    /// A model input; `sensitive` when it is also kept as a group attribute.
    Input {
        sensitive: bool,
    },
    /// A sensitive attribute the model does not see.
    Sensitive,
}

/// Parses CSV bytes with `options`; `origin` names the source in errors.
pub fn parse_table(
    bytes: &[u8],
    origin: &Path,
    options: &TableOptions,
) -> Result<Table, DataError> {
    let malformed = |problem: String| DataError::Malformed {
        path: origin.into(),
        problem,
    };
    let CsvRows { header, rows } = read_csv_rows(bytes, origin)?;
    let roles = assign_roles(&header, origin, options)?;
    let encoding = fit_encoding(&header, &roles, &rows, origin, options)?;
    if encoding.columns.is_empty() {
        return Err(malformed(if header.len() == 1 {
            format!(
                "no feature columns: the header holds only the target column '{}'",
                options.target
            )
        } else {
            format!(
                "no feature columns: every column but the target '{}' is dropped, sensitive or the split column",
                options.target
            )
        }));
    }
    let inputs = encoding
        .locate(&header)
        .map_err(|e| malformed(e.to_string()))?;
    let sensitive: Vec<usize> = (0..header.len())
        .filter(|&i| matches!(roles[i], Role::Sensitive | Role::Input { sensitive: true }))
        .collect();
    let target = roles
        .iter()
        .position(|r| *r == Role::Target)
        .expect("assigned");
    let split = roles.iter().position(|r| *r == Role::Split);

    let mut features = Vec::with_capacity(rows.len() * encoding.width());
    let mut labels = Vec::with_capacity(rows.len());
    let mut groups = Groups {
        names: sensitive.iter().map(|&i| header[i].clone()).collect(),
        values: Vec::with_capacity(rows.len() * sensitive.len()),
    };
    let mut test_rows = Vec::new();
    let mut cells = Vec::with_capacity(inputs.len());
    for Row { line, record } in &rows {
        let line = *line;
        let cell = record[target].trim();
        labels.push(parse_label(cell).ok_or_else(|| DataError::BadLabel {
            path: origin.into(),
            line,
            value: cell.into(),
        })?);
        cells.clear();
        cells.extend(inputs.iter().map(|&i| &record[i]));
        encoding
            .encode_cells(&cells, &mut features)
            .map_err(|e| cell_error(e, origin, line))?;
        groups
            .values
            .extend(sensitive.iter().map(|&i| level_of(&record[i]).to_string()));
        if let Some(split) = split {
            test_rows.push(match record[split].trim() {
                "train" => false,
                "test" => true,
                other => {
                    return Err(DataError::BadSplit {
                        path: origin.into(),
                        line,
                        column: header[split].clone(),
                        value: other.into(),
                    });
                }
            });
        }
    }
    let num_classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    Ok(Table {
        samples: Samples {
            features,
            sample_shape: vec![encoding.width()],
            labels,
            num_classes,
            feature_names: encoding.feature_names(),
            groups,
        },
        encoding,
        test_rows,
    })
}

/// Gives every header column its role, refusing names the header lacks, a header that
/// repeats a name and options that give one column two roles.
fn assign_roles(
    header: &[String],
    origin: &Path,
    options: &TableOptions,
) -> Result<Vec<Role>, DataError> {
    let malformed = |problem: String| DataError::Malformed {
        path: origin.into(),
        problem,
    };
    if !header.contains(&options.target) {
        return Err(DataError::MissingTarget {
            path: origin.into(),
            target: options.target.clone(),
            available: header.join(", "),
        });
    }
    let split: Vec<String> = options.split_column.iter().cloned().collect();
    let lists: [(&str, &[String]); 5] = [
        ("categorical", options.categorical.as_deref().unwrap_or(&[])),
        ("sensitive", &options.sensitive),
        ("drop", &options.drop),
        ("log1p", &options.log1p),
        ("split_column", &split),
    ];
    for (list, names) in lists {
        if let Some(column) = names.iter().find(|n| !header.contains(n)) {
            return Err(DataError::UnknownColumn {
                path: origin.into(),
                list: list.into(),
                column: column.clone(),
                available: header.join(", "),
            });
        }
        if names.contains(&options.target) {
            return Err(malformed(format!(
                "the target column '{}' cannot also be in the {list} list",
                options.target
            )));
        }
    }
    let conflicts = [
        ("drop", &options.drop, "sensitive", &options.sensitive),
        ("drop", &options.drop, "log1p", &options.log1p),
        ("split_column", &split, "drop", &options.drop),
        ("split_column", &split, "sensitive", &options.sensitive),
        ("split_column", &split, "log1p", &options.log1p),
    ];
    let categorical = options.categorical.clone().unwrap_or_default();
    for (a, left, b, right) in conflicts.into_iter().chain([
        ("categorical", &categorical, "log1p", &options.log1p),
        ("categorical", &categorical, "drop", &options.drop),
        ("split_column", &split, "categorical", &categorical),
    ]) {
        if let Some(column) = left.iter().find(|n| right.contains(n)) {
            return Err(malformed(format!(
                "column '{column}' cannot be in both the {a} and the {b} lists"
            )));
        }
    }
    Ok(header
        .iter()
        .map(|name| {
            let sensitive = options.sensitive.contains(name);
            if *name == options.target {
                Role::Target
            } else if split.contains(name) {
                Role::Split
            } else if options.drop.contains(name) {
                Role::Dropped
            } else if sensitive && !options.sensitive_as_features {
                Role::Sensitive
            } else {
                Role::Input { sensitive }
            }
        })
        .collect())
}

/// Decides each input column's kind and collects the levels of the categorical ones.
fn fit_encoding(
    header: &[String],
    roles: &[Role],
    rows: &[Row],
    origin: &Path,
    options: &TableOptions,
) -> Result<Encoding, DataError> {
    let mut columns = Vec::new();
    for (i, name) in header.iter().enumerate() {
        if !matches!(roles[i], Role::Input { .. }) {
            continue;
        }
        let log1p = options.log1p.contains(name);
        let categorical = match &options.categorical {
            Some(list) => list.contains(name),
            None => {
                !log1p
                    && rows.iter().any(|row| {
                        let cell = &row.record[i];
                        !is_missing(cell) && !cell.trim().parse::<f32>().is_ok_and(f32::is_finite)
                    })
            }
        };
        if !categorical {
            columns.push(ColumnEncoding::Numeric {
                name: name.clone(),
                log1p,
            });
            continue;
        }
        let mut levels = BTreeSet::new();
        for row in rows {
            let level = level_of(&row.record[i]);
            if !levels.contains(level) {
                levels.insert(level.to_string());
                if levels.len() > MAX_LEVELS {
                    return Err(DataError::TooManyLevels {
                        path: origin.into(),
                        line: row.line,
                        column: name.clone(),
                        limit: MAX_LEVELS,
                    });
                }
            }
        }
        columns.push(ColumnEncoding::Categorical {
            name: name.clone(),
            levels: levels.into_iter().collect(),
        });
    }
    Ok(Encoding { columns })
}

/// A cell that could not be encoded, as a [`DataError`] naming the file and line.
fn cell_error(error: EncodeError, origin: &Path, line: usize) -> DataError {
    match error {
        EncodeError::NonNumeric { column, value } => DataError::NonNumeric {
            path: origin.into(),
            line,
            column,
            value,
        },
        EncodeError::MissingValue { column } => DataError::MissingValue {
            path: origin.into(),
            line,
            column,
        },
        source => DataError::Encode {
            path: origin.into(),
            line,
            source,
        },
    }
}

/// A class label: a whole number >= 0.
fn parse_label(cell: &str) -> Option<u32> {
    let value: f64 = cell.parse().ok()?;
    (value >= 0.0 && value.fract() == 0.0 && value <= u32::MAX as f64).then_some(value as u32)
}

#[cfg(test)]
#[path = "tabular_tests.rs"]
mod tests;
