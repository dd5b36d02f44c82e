//! A plain-text table for terminal output: first column left-aligned, the others right-aligned.

use std::fmt;

/// Rows of cells under a header.
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Writes the table, each line indented by `indent` spaces.
    pub fn write(&self, f: &mut fmt::Formatter<'_>, indent: usize) -> fmt::Result {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(cell.chars().count());
                }
            }
        }
        let pad = " ".repeat(indent);
        for line in std::iter::once(&self.header).chain(&self.rows) {
            let mut text = pad.clone();
            for (i, cell) in line.iter().enumerate() {
                let w = widths.get(i).copied().unwrap_or(0);
                if i == 0 {
                    text.push_str(&format!("{cell:<w$}"));
                } else {
                    text.push_str(&format!("  {cell:>w$}"));
                }
            }
            writeln!(f, "{}", text.trim_end())?;
        }
        Ok(())
    }
}

/// A rate to four decimals.
pub(crate) fn num(x: f64) -> String {
    format!("{x:.4}")
}
