//! `kiln predict`: class probabilities for the rows of a CSV file.

use std::path::Path;

use kiln_experiment::load_run;
use kiln_train::{KilnError, Result};

use super::inputs::{is_image, read_images, read_table};
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

/// Reads raw CSV rows for a model trained on a table with categorical columns: a header, then
/// one row per sample with categories as text; the model's columns are found by name, others
/// (the target, sensitive attributes) are ignored. A missing column, an unknown level or a
/// bad number is refused with the file, line and column.
pub fn read_raw_rows(path: &Path, encoding: &kiln_data::Encoding) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path)
        .map_err(|e| KilnError::Input(format!("{}: cannot read: {e}", path.display())))?;
    match kiln_data::encode_csv(encoding, &bytes, path) {
        Err(kiln_data::DataError::Empty { .. }) => Err(KilnError::Input(format!(
            "{}: no rows to predict",
            path.display()
        ))),
        other => Ok(other?),
    }
}

/// Runs `kiln predict`.
pub fn run(args: &PredictArgs) -> Result<()> {
    let run = load_run(
        &kiln_experiment::resolve_run(&args.run_dir)?,
        parse_backend(args.backend.as_deref())?,
    )?;
    run.require_classifier()?;
    if args.inputs.iter().any(|p| is_image(p)) {
        return predict_images(&run, args);
    }
    let rows = read_table(&run, &args.inputs, "predict")?;
    let probabilities = run.predict(rows)?;
    if args.json {
        let rows: Vec<_> = probabilities
            .iter()
            .map(|p| serde_json::json!({ "class": top_classes(p, 1)[0].0, "probabilities": p }))
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
            println!("{},{},{}", i + 1, top_classes(p, 1)[0].0, cells.join(","));
        }
    }
    Ok(())
}

/// The `k` most probable classes, most probable first.
fn top_classes(probabilities: &[f32], k: usize) -> Vec<(usize, f32)> {
    let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.truncate(k);
    ranked
}

fn predict_images(run: &kiln_experiment::TrainedRun, args: &PredictArgs) -> Result<()> {
    let values = read_images(run, &args.inputs)?;
    let probabilities = run.predict(values)?;
    let results: Vec<_> = args
        .inputs
        .iter()
        .zip(&probabilities)
        .map(|(path, p)| (path.display().to_string(), top_classes(p, 3)))
        .collect();
    if args.json {
        let json: Vec<_> = results
            .iter()
            .map(|(file, top)| {
                let top: Vec<_> = top
                    .iter()
                    .map(|(c, p)| serde_json::json!({ "class": c, "probability": p }))
                    .collect();
                serde_json::json!({ "file": file, "top": top })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("serialises")
        );
    } else {
        for (file, top) in results {
            let ranked: Vec<String> = top.iter().map(|(c, p)| format!("{c} ({p:.3})")).collect();
            println!("{file}: {}", ranked.join(", "));
        }
    }
    Ok(())
}
