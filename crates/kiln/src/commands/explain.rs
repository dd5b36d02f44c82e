//! `kiln explain`: integrated gradients of a run's predictions.

use kiln_experiment::explain::{Baseline, ExplainOptions, explain, refuse_language_model};
use kiln_experiment::{TrainedRun, load_run};
use kiln_train::{KilnError, Result};

use super::inputs::{is_image, read_images, read_table};
use super::parse_backend;
use crate::cli::ExplainArgs;

/// The raw values of the inputs (images, or the rows of one CSV file) and a name for each.
fn read_inputs(run: &TrainedRun, args: &ExplainArgs) -> Result<(Vec<f32>, Vec<String>)> {
    if args.inputs.iter().any(|p| is_image(p)) {
        let values = read_images(run, &args.inputs)?;
        let names = args
            .inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Ok((values, names));
    }
    let rows = read_table(run, &args.inputs, "explain")?;
    let count = rows.len() / run.sample_size().max(1);
    let names = (1..=count)
        .map(|i| format!("{} row {i}", args.inputs[0].display()))
        .collect();
    Ok((rows, names))
}

/// Runs `kiln explain`.
pub fn run(args: &ExplainArgs) -> Result<()> {
    let run = load_run(
        &kiln_experiment::resolve_run(&args.run_dir)?,
        parse_backend(args.backend.as_deref())?,
    )?;
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
                .unwrap_or_else(|| match args.run_dir.exists() {
                    true => run.dir.join("explanations"),
                    // A pretrained model's folder is in the cache: write where the user is.
                    false => std::path::PathBuf::from("explanations"),
                }),
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
