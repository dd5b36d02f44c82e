//! `kiln predict`: class probabilities for the rows of a CSV file.

use std::path::Path;

use kiln_train::{KilnError, Result, load_run};

use super::parse_backend;
use crate::cli::PredictArgs;

/// Reads feature rows from a CSV file. A first row that is not all numbers is a header: its
/// columns are matched to the model's features by name and a target column is dropped;
/// without a header, columns are taken in order.
pub fn read_rows(
    path: &Path,
    feature_names: &[String],
    target: &str,
    width: usize,
) -> Result<Vec<f32>> {
    let bad = |problem: String| KilnError::Input(format!("{}: {problem}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records().enumerate().peekable();
    let mut columns: Vec<usize> = (0..width).collect();
    let mut row_len = width;
    if let Some((_, Ok(first))) = records.peek()
        && first.iter().any(|cell| cell.trim().parse::<f32>().is_err())
    {
        let header: Vec<String> = first.iter().map(|c| c.trim().to_string()).collect();
        columns = if feature_names.iter().all(|f| header.contains(f)) && !feature_names.is_empty() {
            feature_names
                .iter()
                .map(|f| header.iter().position(|h| h == f).expect("checked"))
                .collect()
        } else {
            (0..header.len()).filter(|&i| header[i] != target).collect()
        };
        row_len = header.len();
        records.next();
    }
    if columns.len() != width {
        return Err(bad(format!(
            "has {} feature columns but the model takes {width}",
            columns.len()
        )));
    }
    let mut values = Vec::new();
    for (index, record) in records {
        let line = index + 1;
        let record = record.map_err(|e| bad(format!("line {line}: {e}")))?;
        if record.len() != row_len {
            return Err(bad(format!(
                "line {line}: {} columns, expected {row_len}",
                record.len()
            )));
        }
        for &column in &columns {
            let cell = record[column].trim();
            values.push(
                cell.parse::<f32>()
                    .map_err(|_| bad(format!("line {line}: '{cell}' is not a number")))?,
            );
        }
    }
    if values.is_empty() {
        return Err(bad("no rows to predict".into()));
    }
    Ok(values)
}

/// Runs `kiln predict`.
pub fn run(args: &PredictArgs) -> Result<()> {
    let run = load_run(&args.run_dir, parse_backend(args.backend.as_deref())?)?;
    let rows = read_rows(
        &args.input,
        &run.preprocess.feature_names,
        &run.config.data.target,
        run.sample_size(),
    )?;
    let probabilities = run.predict(rows)?;
    let best = |p: &[f32]| {
        p.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i)
    };
    if args.json {
        let rows: Vec<_> = probabilities
            .iter()
            .map(|p| serde_json::json!({ "class": best(p), "probabilities": p }))
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("serialises")
        );
    } else {
        let header: Vec<String> = (0..run.objective.classes())
            .map(|c| format!("p{c}"))
            .collect();
        println!("row,class,{}", header.join(","));
        for (i, p) in probabilities.iter().enumerate() {
            let cells: Vec<String> = p.iter().map(|v| format!("{v:.6}")).collect();
            println!("{},{},{}", i + 1, best(p), cells.join(","));
        }
    }
    Ok(())
}
