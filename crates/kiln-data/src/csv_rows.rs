//! Reading a CSV file's header and records with the line number of each record, refusing a
//! repeated column name, ragged rows and a file without rows.

use std::path::Path;

use crate::DataError;

/// One record and the 1-based line it starts on.
pub(crate) struct Row {
    /// The line in the file (the header is line 1).
    pub line: usize,
    /// The record's cells, untrimmed.
    pub record: csv::StringRecord,
}

/// A CSV file's trimmed header and its rows, each as wide as the header.
pub(crate) struct CsvRows {
    /// Column names, trimmed.
    pub header: Vec<String>,
    /// The records after the header, at least one.
    pub rows: Vec<Row>,
}

/// Reads `bytes` as CSV with a header; `origin` names the source in errors.
pub(crate) fn read_csv_rows(bytes: &[u8], origin: &Path) -> Result<CsvRows, DataError> {
    let malformed = |problem: String| DataError::Malformed {
        path: origin.into(),
        problem,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| malformed(format!("cannot read the header: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    for (i, name) in header.iter().enumerate() {
        if header[..i].contains(name) {
            return Err(malformed(format!(
                "line 1: the header has the column '{name}' twice"
            )));
        }
    }
    let mut rows = Vec::new();
    let mut lines = LineCounter::new(bytes);
    for record in reader.records() {
        let record = record.map_err(|e| malformed(e.to_string()))?;
        let line = lines.line_at(record.position().map_or(0, |p| p.byte() as usize));
        if record.len() != header.len() {
            return Err(malformed(format!(
                "line {line}: {} fields but the header has {} columns",
                record.len(),
                header.len()
            )));
        }
        rows.push(Row { line, record });
    }
    if rows.is_empty() {
        return Err(DataError::Empty {
            path: origin.into(),
        });
    }
    Ok(CsvRows { header, rows })
}

/// Line numbers of byte offsets read in increasing order (the CSV reader's own line count
/// skips blank lines).
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    /// A counter at the start of `bytes`, line 1.
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of the record starting at byte `offset` (not before the previous one
    /// asked for); the reader reports a record after blank lines at the first of them.
    fn line_at(&mut self, offset: usize) -> usize {
        let mut offset = offset.clamp(self.offset, self.bytes.len());
        while matches!(self.bytes.get(offset), Some(b'\n' | b'\r')) {
            offset += 1;
        }
        self.line += self.bytes[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.offset = offset;
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<usize> {
        read_csv_rows(text.as_bytes(), Path::new("t.csv"))
            .unwrap()
            .rows
            .iter()
            .map(|r| r.line)
            .collect()
    }

    #[test]
    fn lines_count_blank_lines_crlf_and_quoted_newlines() {
        assert_eq!(lines("a,b\n1,2\n3,4\n"), vec![2, 3]);
        assert_eq!(lines("a,b\n\n1,2\n\n\n3,4"), vec![3, 6]);
        assert_eq!(lines("a,b\r\n1,2\r\n\r\n3,4\r\n"), vec![2, 4]);
        assert_eq!(lines("a,b\n\"x\ny\",2\n3,4\n"), vec![2, 4]);
    }

    #[test]
    fn ragged_repeated_and_empty_are_refused() {
        let err = |text: &str| {
            read_csv_rows(text.as_bytes(), Path::new("t.csv"))
                .err()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            err("a,b\n1,2\n\n3\n"),
            "t.csv: line 4: 1 fields but the header has 2 columns"
        );
        assert_eq!(
            err("a, a\n1,2\n"),
            "t.csv: line 1: the header has the column 'a' twice"
        );
        assert_eq!(err("a,b\n"), "t.csv: dataset is empty");
    }
}
