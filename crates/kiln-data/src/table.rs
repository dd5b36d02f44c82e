//! CSV tables with a header row and a named target column of class labels.

use std::path::Path;

use crate::error::read_file;
use crate::{DataError, Samples};

/// Loads a CSV file: every column but `target` is a numeric feature, `target` holds class labels.
pub fn load_csv(path: &Path, target: &str) -> Result<Samples, DataError> {
    parse_csv(&read_file(path)?, path, target)
}

/// Parses CSV bytes; `origin` names the source in errors.
pub fn parse_csv(bytes: &[u8], origin: &Path, target: &str) -> Result<Samples, DataError> {
    let malformed = |problem: String| DataError::Malformed {
        path: origin.into(),
        problem,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| malformed(format!("cannot read the header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let target_index =
        header
            .iter()
            .position(|h| h == target)
            .ok_or_else(|| DataError::MissingTarget {
                path: origin.into(),
                target: target.into(),
                available: header.join(", "),
            })?;
    let feature_names: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != target_index)
        .map(|(_, h)| h.clone())
        .collect();
    if feature_names.is_empty() {
        return Err(malformed(format!(
            "no feature columns: the header holds only the target column '{target}'"
        )));
    }

    let mut features = Vec::new();
    let mut labels = Vec::new();
    for (row_index, record) in reader.records().enumerate() {
        let line = row_index + 2;
        let record = record.map_err(|e| malformed(format!("line {line}: {e}")))?;
        for (column, cell) in record.iter().enumerate() {
            let cell = cell.trim();
            if column == target_index {
                labels.push(parse_label(cell).ok_or_else(|| DataError::BadLabel {
                    path: origin.into(),
                    line,
                    value: cell.into(),
                })?);
            } else {
                features.push(
                    cell.parse::<f32>()
                        .ok()
                        .filter(|v| v.is_finite())
                        .ok_or_else(|| DataError::NonNumeric {
                            path: origin.into(),
                            line,
                            column: header[column].clone(),
                            value: cell.into(),
                        })?,
                );
            }
        }
    }
    if labels.is_empty() {
        return Err(DataError::Empty {
            path: origin.into(),
        });
    }
    let num_classes = labels.iter().max().map_or(0, |&m| m as usize + 1);
    Ok(Samples {
        features,
        sample_shape: vec![feature_names.len()],
        labels,
        num_classes,
        feature_names,
    })
}

fn parse_label(cell: &str) -> Option<u32> {
    let value: f64 = cell.parse().ok()?;
    (value >= 0.0 && value.fract() == 0.0 && value <= u32::MAX as f64).then_some(value as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Samples, DataError> {
        parse_csv(text.as_bytes(), Path::new("t.csv"), "y")
    }

    #[test]
    fn reads_features_and_labels() {
        let s = parse("a,y,b\n1,0,2\n3.5,2,-4\n").unwrap();
        assert_eq!(s.features, vec![1.0, 2.0, 3.5, -4.0]);
        assert_eq!(s.labels, vec![0, 2]);
        assert_eq!((s.num_classes, s.sample_shape.clone()), (3, vec![2]));
        assert_eq!(s.feature_names, vec!["a", "b"]);
    }

    #[test]
    fn non_numeric_cell_names_line_and_column() {
        let err = parse("a,y\n1,0\nabc,1\n").unwrap_err();
        assert!(
            matches!(err, DataError::NonNumeric { line: 3, .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("t.csv: line 3, column 'a': 'abc'"),
            "{err}"
        );
    }

    #[test]
    fn a_table_of_only_the_target_is_refused() {
        let err = parse("y\n0\n1\n").unwrap_err();
        assert!(matches!(err, DataError::Malformed { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("t.csv: no feature columns: the header holds only the target column 'y'"),
            "{err}"
        );
    }

    #[test]
    fn missing_target_lists_columns() {
        let err = parse_csv(b"a,b\n1,2\n", Path::new("t.csv"), "label").unwrap_err();
        assert!(matches!(err, DataError::MissingTarget { .. }));
        assert!(
            err.to_string()
                .contains("no target column 'label' (columns: a, b)")
        );
    }

    #[test]
    fn empty_and_ragged_and_bad_label_are_refused() {
        assert!(matches!(
            parse("a,y\n").unwrap_err(),
            DataError::Empty { .. }
        ));
        assert!(matches!(
            parse("a,y\n1,0,5\n").unwrap_err(),
            DataError::Malformed { .. }
        ));
        assert!(matches!(
            parse("a,y\n1,0.5\n").unwrap_err(),
            DataError::BadLabel { .. }
        ));
    }

    #[test]
    fn missing_file_is_named() {
        let err = load_csv(Path::new("/nonexistent/x.csv"), "y").unwrap_err();
        assert_eq!(err.to_string(), "/nonexistent/x.csv: file not found");
    }
}
