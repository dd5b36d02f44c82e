//! Raw CSV rows (with a header, categories as text) encoded for a trained model, as
//! `kiln predict` reads them: the columns are found by name, others are ignored.

use std::path::Path;

use crate::csv_rows::{CsvRows, read_csv_rows};
use crate::{DataError, Encoding};

/// Encodes every row of the CSV `bytes` with `encoding`, one feature vector after another;
/// `origin` names the source in errors. The header must name every input column of the
/// encoding; other columns (the target, sensitive attributes) are ignored.
pub fn encode_csv(encoding: &Encoding, bytes: &[u8], origin: &Path) -> Result<Vec<f32>, DataError> {
    let CsvRows { header, rows } = read_csv_rows(bytes, origin)?;
    let columns = encoding
        .locate(&header)
        .map_err(|source| DataError::Encode {
            path: origin.into(),
            line: 1,
            source,
        })?;
    let mut values = Vec::with_capacity(rows.len() * encoding.width());
    let mut cells = Vec::with_capacity(columns.len());
    for row in &rows {
        cells.clear();
        cells.extend(columns.iter().map(|&i| &row.record[i]));
        encoding
            .encode_cells(&cells, &mut values)
            .map_err(|source| DataError::Encode {
                path: origin.into(),
                line: row.line,
                source,
            })?;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TableOptions, parse_table};

    fn trained() -> Encoding {
        let text = "age,color,y\n30,red,1\n41,blue,0\n25,,0\n";
        parse_table(
            text.as_bytes(),
            Path::new("train.csv"),
            &TableOptions::new("y"),
        )
        .unwrap()
        .encoding
    }

    #[test]
    fn rows_are_encoded_by_column_name() {
        let rows = "color,extra,age\nblue,x,50\n?,y,20\n";
        let values = encode_csv(&trained(), rows.as_bytes(), Path::new("p.csv")).unwrap();
        assert_eq!(values, vec![50.0, 0.0, 1.0, 0.0, 20.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn unknown_levels_and_missing_columns_name_file_line_and_column() {
        let encode = |rows: &str| {
            encode_csv(&trained(), rows.as_bytes(), Path::new("p.csv"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            encode("age,color\n1,red\n2,green\n"),
            "p.csv: line 3, column 'color': 'green' is a level never seen in training (known levels: ?, blue, red)"
        );
        assert_eq!(
            encode("age,colour\n1,red\n"),
            "p.csv: line 1, no column 'color' (the model needs the columns age, color)"
        );
        assert_eq!(
            encode("age,color\nold,red\n"),
            "p.csv: line 2, column 'age': 'old' is not a number"
        );
        assert_eq!(encode("age,color\n"), "p.csv: dataset is empty");
    }
}
