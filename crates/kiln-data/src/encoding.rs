//! [`Encoding`]: how a table's raw input columns become a model's feature vector (numbers as
//! they are or log1p'd, categories one-hot over their sorted levels). It is fitted when a table
//! is loaded and saved with a trained model, so that prediction can take raw CSV rows.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The most levels one categorical column may have; more means it is not a category (an id,
/// free text) and the table is refused.
pub const MAX_LEVELS: usize = 10_000;

/// The level that stands for a missing cell (an empty field or `?`).
pub const MISSING_LEVEL: &str = "?";

/// The level a raw categorical cell belongs to: the trimmed text, or [`MISSING_LEVEL`] for an
/// empty field or `?`.
pub fn level_of(cell: &str) -> &str {
    let cell = cell.trim();
    if cell.is_empty() { MISSING_LEVEL } else { cell }
}

/// True when a raw cell is missing (empty or `?`).
pub fn is_missing(cell: &str) -> bool {
    level_of(cell) == MISSING_LEVEL
}

/// How one input column becomes features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ColumnEncoding {
    /// A number, one feature: the value itself, or `ln(1 + value)` when `log1p`.
    Numeric {
        /// Column name.
        name: String,
        /// Take `ln(1 + value)` (for skewed counts and amounts); values must be > -1.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        log1p: bool,
    },
    /// A category, one-hot: one feature per level, in the (sorted) order of `levels`.
    Categorical {
        /// Column name.
        name: String,
        /// The levels seen in training, sorted; [`MISSING_LEVEL`] is one when cells were missing.
        levels: Vec<String>,
    },
}

impl ColumnEncoding {
    /// The column's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Numeric { name, .. } | Self::Categorical { name, .. } => name,
        }
    }

    /// Number of features it becomes.
    pub fn width(&self) -> usize {
        match self {
            Self::Numeric { .. } => 1,
            Self::Categorical { levels, .. } => levels.len(),
        }
    }

    /// Names of its features: the column name, or `name=level` per level.
    pub fn feature_names(&self) -> Vec<String> {
        match self {
            Self::Numeric { name, .. } => vec![name.clone()],
            Self::Categorical { name, levels } => {
                levels.iter().map(|l| format!("{name}={l}")).collect()
            }
        }
    }

    /// Appends the features of one raw cell to `out`.
    pub fn encode_cell(&self, cell: &str, out: &mut Vec<f32>) -> Result<(), EncodeError> {
        match self {
            Self::Numeric { name, log1p } => {
                out.push(parse_number(name, cell, *log1p)?);
            }
            Self::Categorical { name, levels } => {
                let level = level_of(cell);
                let hot = levels
                    .binary_search_by(|l| l.as_str().cmp(level))
                    .map_err(|_| EncodeError::UnknownLevel {
                        column: name.clone(),
                        value: level.into(),
                        known: list_levels(levels),
                    })?;
                out.extend((0..levels.len()).map(|k| if k == hot { 1.0 } else { 0.0 }));
            }
        }
        Ok(())
    }
}

/// A numeric cell's value, `ln(1 + value)` when `log1p`.
fn parse_number(column: &str, cell: &str, log1p: bool) -> Result<f32, EncodeError> {
    let cell = cell.trim();
    if is_missing(cell) {
        return Err(EncodeError::MissingValue {
            column: column.into(),
        });
    }
    let value = cell
        .parse::<f32>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| EncodeError::NonNumeric {
            column: column.into(),
            value: cell.into(),
        })?;
    if !log1p {
        return Ok(value);
    }
    if value <= -1.0 {
        return Err(EncodeError::OutOfDomain {
            column: column.into(),
            value: cell.into(),
        });
    }
    Ok((value as f64).ln_1p() as f32)
}

/// At most this many levels are listed in an error message.
const LISTED_LEVELS: usize = 50;

fn list_levels(levels: &[String]) -> String {
    let shown = levels[..levels.len().min(LISTED_LEVELS)].join(", ");
    if levels.len() > LISTED_LEVELS {
        format!("{shown}, ... ({} in all)", levels.len())
    } else {
        shown
    }
}

/// Why one raw record could not be encoded; the caller adds the file and line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EncodeError {
    /// The record has no cell for a column the model needs.
    #[error("no column '{column}' (the model needs the columns {needed})")]
    MissingColumn {
        /// The column missing.
        column: String,
        /// Every input column of the encoding, comma-separated.
        needed: String,
    },
    /// A categorical cell holds a level never seen in training.
    #[error(
        "column '{column}': '{value}' is a level never seen in training (known levels: {known})"
    )]
    UnknownLevel {
        /// Column name.
        column: String,
        /// The unknown level.
        value: String,
        /// The known levels, comma-separated.
        known: String,
    },
    /// A numeric cell is not a (finite) number.
    #[error("column '{column}': '{value}' is not a number")]
    NonNumeric {
        /// Column name.
        column: String,
        /// The offending cell.
        value: String,
    },
    /// A numeric cell is empty or `?`.
    #[error("column '{column}': missing value in a numeric column")]
    MissingValue {
        /// Column name.
        column: String,
    },
    /// A log1p column holds a value of -1 or less.
    #[error("column '{column}': log1p needs values > -1, not '{value}'")]
    OutOfDomain {
        /// Column name.
        column: String,
        /// The offending cell.
        value: String,
    },
}

impl EncodeError {
    /// The column the problem is in.
    pub fn column(&self) -> &str {
        match self {
            Self::MissingColumn { column, .. }
            | Self::UnknownLevel { column, .. }
            | Self::NonNumeric { column, .. }
            | Self::MissingValue { column }
            | Self::OutOfDomain { column, .. } => column,
        }
    }
}

/// Every input column of a table, in feature order, and how it becomes features.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Encoding {
    /// The input columns, in the order their features appear.
    pub columns: Vec<ColumnEncoding>,
}

impl Encoding {
    /// Number of features of one encoded record.
    pub fn width(&self) -> usize {
        self.columns.iter().map(ColumnEncoding::width).sum()
    }

    /// The feature names, in order (`age`, `workclass=Private`, ...).
    pub fn feature_names(&self) -> Vec<String> {
        self.columns
            .iter()
            .flat_map(ColumnEncoding::feature_names)
            .collect()
    }

    /// The input column names, in order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(ColumnEncoding::name).collect()
    }

    /// True when every column is a plain number: the encoded record is the raw one.
    pub fn is_identity(&self) -> bool {
        self.columns
            .iter()
            .all(|c| matches!(c, ColumnEncoding::Numeric { log1p: false, .. }))
    }

    /// Where each input column is in a CSV `header`, or the first one missing.
    pub fn locate(&self, header: &[String]) -> Result<Vec<usize>, EncodeError> {
        self.columns
            .iter()
            .map(|c| {
                header
                    .iter()
                    .position(|h| h == c.name())
                    .ok_or_else(|| self.missing(c.name()))
            })
            .collect()
    }

    fn missing(&self, column: &str) -> EncodeError {
        EncodeError::MissingColumn {
            column: column.into(),
            needed: self.column_names().join(", "),
        }
    }

    /// Appends the features of one record to `out`; `cells` holds one raw cell per input
    /// column, in the order of [`Encoding::columns`].
    pub fn encode_cells(&self, cells: &[&str], out: &mut Vec<f32>) -> Result<(), EncodeError> {
        if let Some(column) = self.columns.get(cells.len()) {
            return Err(self.missing(column.name()));
        }
        for (column, cell) in self.columns.iter().zip(cells) {
            column.encode_cell(cell, out)?;
        }
        Ok(())
    }

    /// The features of one raw record given as cells by column name; other cells (the
    /// target, sensitive attributes) are ignored.
    pub fn encode_record(&self, record: &HashMap<&str, &str>) -> Result<Vec<f32>, EncodeError> {
        let mut out = Vec::with_capacity(self.width());
        for column in &self.columns {
            let cell = record
                .get(column.name())
                .ok_or_else(|| self.missing(column.name()))?;
            column.encode_cell(cell, &mut out)?;
        }
        Ok(out)
    }

    /// Checks an encoding read from a file: at least one column, distinct non-empty names,
    /// and for each category between 1 and [`MAX_LEVELS`] distinct, sorted, trimmed levels.
    pub fn check(&self) -> Result<(), String> {
        if self.columns.is_empty() {
            return Err("the encoding has no columns".into());
        }
        let mut seen = std::collections::HashSet::new();
        for column in &self.columns {
            let name = column.name();
            if name.trim().is_empty() || name.trim() != name {
                return Err(format!("encoding: column name '{name}' is empty or padded"));
            }
            if !seen.insert(name) {
                return Err(format!("encoding: column '{name}' appears twice"));
            }
            if let ColumnEncoding::Categorical { levels, .. } = column {
                if levels.is_empty() || levels.len() > MAX_LEVELS {
                    return Err(format!(
                        "encoding: column '{name}' has {} levels (expected 1 to {MAX_LEVELS})",
                        levels.len()
                    ));
                }
                if levels.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!(
                        "encoding: the levels of column '{name}' are not sorted and distinct"
                    ));
                }
                if let Some(bad) = levels.iter().find(|l| level_of(l) != l.as_str()) {
                    return Err(format!(
                        "encoding: column '{name}' has the level '{bad}', which no cell can hold"
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoding() -> Encoding {
        Encoding {
            columns: vec![
                ColumnEncoding::Numeric {
                    name: "age".into(),
                    log1p: false,
                },
                ColumnEncoding::Categorical {
                    name: "color".into(),
                    levels: vec!["?".into(), "blue".into(), "red".into()],
                },
                ColumnEncoding::Numeric {
                    name: "gain".into(),
                    log1p: true,
                },
            ],
        }
    }

    #[test]
    fn encodes_numbers_one_hot_and_log1p() {
        let e = encoding();
        assert_eq!(e.width(), 5);
        assert_eq!(
            e.feature_names(),
            vec!["age", "color=?", "color=blue", "color=red", "gain"]
        );
        let mut out = Vec::new();
        e.encode_cells(&["30", " red ", "0"], &mut out).unwrap();
        e.encode_cells(&["1.5", "", "1"], &mut out).unwrap();
        e.encode_cells(&["2", "?", "9"], &mut out).unwrap();
        let ln2 = 2f32.ln();
        let ln10 = 10f32.ln();
        assert_eq!(
            out,
            vec![
                30.0, 0.0, 0.0, 1.0, 0.0, //
                1.5, 1.0, 0.0, 0.0, ln2, //
                2.0, 1.0, 0.0, 0.0, ln10,
            ]
        );
    }

    #[test]
    fn encode_record_goes_by_name_and_ignores_other_cells() {
        let e = encoding();
        let record = HashMap::from([
            ("gain", "0"),
            ("target", "1"),
            ("color", "blue"),
            ("age", "4"),
        ]);
        assert_eq!(
            e.encode_record(&record).unwrap(),
            vec![4.0, 0.0, 1.0, 0.0, 0.0]
        );
        let err = e
            .encode_record(&HashMap::from([("age", "4"), ("gain", "0")]))
            .unwrap_err();
        assert_eq!(err.column(), "color");
        assert_eq!(
            err.to_string(),
            "no column 'color' (the model needs the columns age, color, gain)"
        );
    }

    #[test]
    fn unknown_level_names_column_value_and_levels() {
        let err = encoding()
            .encode_cells(&["1", "green", "0"], &mut Vec::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "column 'color': 'green' is a level never seen in training (known levels: ?, blue, red)"
        );
    }

    #[test]
    fn bad_numbers_are_refused() {
        let e = encoding();
        let err = |cells: &[&str]| e.encode_cells(cells, &mut Vec::new()).unwrap_err();
        assert!(matches!(
            err(&["x", "red", "0"]),
            EncodeError::NonNumeric { .. }
        ));
        assert!(matches!(
            err(&["inf", "red", "0"]),
            EncodeError::NonNumeric { .. }
        ));
        assert!(matches!(
            err(&["?", "red", "0"]),
            EncodeError::MissingValue { .. }
        ));
        assert!(matches!(
            err(&["1", "red", "-1"]),
            EncodeError::OutOfDomain { .. }
        ));
        assert!(matches!(
            err(&["1", "red"]),
            EncodeError::MissingColumn { .. }
        ));
    }

    #[test]
    fn serialises_round_trip_and_checks() {
        let e = encoding();
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""kind":"categorical""#), "{json}");
        let back: Encoding = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
        assert!(e.check().is_ok());
        assert!(e.is_identity().eq(&false));

        let mut unsorted = e.clone();
        unsorted.columns[1] = ColumnEncoding::Categorical {
            name: "color".into(),
            levels: vec!["red".into(), "blue".into()],
        };
        assert!(unsorted.check().unwrap_err().contains("not sorted"));
        let mut twice = e.clone();
        twice.columns.push(e.columns[0].clone());
        assert!(twice.check().unwrap_err().contains("appears twice"));
        assert!(Encoding::default().check().is_err());
    }
}
