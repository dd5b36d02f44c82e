//! `kiln explain`: integrated gradients of a run's predictions.

use kiln_experiment::explain::{Baseline, ExplainOptions, explain, refuse_language_model};
use kiln_experiment::{TrainedRun, load_run};
use kiln_train::{KilnError, Result};

use super::parse_backend;
use super::predict::{is_image, read_raw_rows, read_rows};
use crate::cli::ExplainArgs;

/// The raw values of the inputs (images, or the rows of one CSV file) and a name for each.
fn read_inputs(run: &TrainedRun, args: &ExplainArgs) -> Result<(Vec<f32>, Vec<String>)> {
    if args.inputs.iter().any(|p| is_image(p)) {
        let [_, height, width] = run.preprocess.sample_shape[..] else {
            return Err(KilnError::Input(format!(
                "{}: this model takes samples of shape {:?}, not images; give it a CSV file",
                args.run_dir.display(),
                run.preprocess.sample_shape
            )));
        };
        let mut values = Vec::new();
        for path in &args.inputs {
            if !is_image(path) {
                return Err(KilnError::Input(format!(
                    "{}: not a .png, .jpg or .jpeg file",
                    path.display()
                )));
            }
            values.extend(kiln_data::load_digit_image(path, height, width)?);
        }
        let names = args
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Ok((values, names));
    }
    let [input] = &args.inputs[..] else {
        return Err(KilnError::Input(
            "explain takes one CSV file (or several images)".into(),
        ));
    };
    let rows = match &run.preprocess.encoding {
        Some(encoding) => read_raw_rows(input, encoding)?,
        None => read_rows(
            input,
            &run.preprocess.feature_names,
            &run.config.data.target,
            run.sample_size(),
        )?,
    };
    let count = rows.len() / run.sample_size().max(1);
    let names = (1..=count)
        .map(|i| format!("{} row {i}", input.display()))
        .collect();
    Ok((rows, names))
}

/// Runs `kiln explain`.
pub fn run(args: &ExplainArgs) -> Result<()> {
    let run = load_run(&args.run_dir, parse_backend(args.backend.as_deref())?)?;
    refuse_language_model(&run)?;
    if args.steps == 0 {
        return Err(KilnError::Input("--steps must be at least 1".into()));
    }
    let (rows, names) = read_inputs(&run, args)?;
    let options = ExplainOptions {
        steps: args.steps,
        baseline: match args.baseline.as_str() {
            "raw-zeros" => Baseline::RawZeros,
            _ => Baseline::StandardisedZeros,
        },
        class: args.class,
        heat_maps: Some(
            args.out
                .clone()
                .unwrap_or_else(|| args.run_dir.join("explanations")),
        ),
    };
    let explanations = explain(&run, rows, &names, &options)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&explanations).expect("serialises")
        );
        return Ok(());
    }
    for e in &explanations {
        let a = &e.attribution;
        println!(
            "{}: predicted class {} (p = {:.4}); explaining class {}: f(x) = {:.4}, f(baseline) = {:.4}, sum of attributions {:.4}, completeness gap {:.2e} ({:.3}%)",
            e.input,
            e.predicted,
            e.probability,
            e.class,
            a.f_input,
            a.f_baseline,
            a.values.iter().map(|&v| f64::from(v)).sum::<f64>(),
            a.completeness_gap,
            a.relative_gap * 100.0
        );
        if !e.ranking.is_empty() {
            print!("{}", kiln_explain::ranking_table(&e.ranking, 10));
        }
        if let Some(path) = &e.heat_map {
            println!("  heat map: {}", path.display());
        }
    }
    Ok(())
}
