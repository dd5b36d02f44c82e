//! CSV tables with a header row and a named target column of class labels.

use std::path::Path;

use crate::error::read_file;
use crate::tabular::{TableOptions, parse_table};
use crate::{DataError, Samples};

/// Loads a CSV file: every column but `target` is a numeric feature, `target` holds class labels.
pub fn load_csv(path: &Path, target: &str) -> Result<Samples, DataError> {
    parse_csv(&read_file(path)?, path, target)
}

/// Parses CSV bytes; `origin` names the source in errors. Every column but `target` must be
/// numeric (see [`crate::parse_table`] for categorical columns and more).
pub fn parse_csv(bytes: &[u8], origin: &Path, target: &str) -> Result<Samples, DataError> {
    let options = TableOptions {
        categorical: Some(Vec::new()),
        ..TableOptions::new(target)
    };
    Ok(parse_table(bytes, origin, &options)?.samples)
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
