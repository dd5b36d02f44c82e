//! `kiln eval`: test-split metrics of a trained run.

use kiln_experiment::{TrainedRun, fairness, load_run};
use kiln_train::Result;

use super::parse_backend;
use crate::cli::EvalArgs;

/// `kiln eval --by ... [--mitigate ...]`: the test split's metrics by group, and mitigation.
fn by_group(run: &TrainedRun, args: &EvalArgs) -> Result<()> {
    let report = fairness::evaluate_by(run, &args.by)?;
    let mitigation = match &args.mitigate {
        Some(name) => Some(fairness::mitigate(
            run,
            &args.by,
            fairness::parse_constraint(name)?,
            args.tolerance,
        )?),
        None => None,
    };
    if args.json {
        let mut json = serde_json::json!({ "by": args.by, "test": report });
        if let Some((m, fitted_on)) = &mitigation {
            json["mitigation"] = serde_json::json!({ "fitted_on": fitted_on, "report": m });
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("serialises")
        );
        return Ok(());
    }
    println!("{}: test split\n", run.dir.display());
    print!("{report}");
    if let Some((m, fitted_on)) = &mitigation {
        println!(
            "\nmitigation: {} by per-group thresholds, fitted on the {fitted_on} split (tolerance {})",
            m.constraint, m.tolerance
        );
        for t in &m.thresholds {
            println!("  {:<24} threshold {:.4}", t.group, t.threshold);
        }
        println!(
            "\n{:<8} {:>9} {:>14} {:>13}",
            "test", "accuracy", "DP difference", "EO difference"
        );
        for (name, o) in [("before", &m.before), ("after", &m.after)] {
            println!(
                "{name:<8} {:>9.4} {:>14.4} {:>13.4}",
                o.accuracy, o.demographic_parity_difference, o.equalized_odds_difference
            );
        }
        println!(
            "accuracy {:+.4}, demographic-parity difference {:+.4} ({:.0}% of before)",
            m.after.accuracy - m.before.accuracy,
            m.after.demographic_parity_difference - m.before.demographic_parity_difference,
            100.0 * m.after.demographic_parity_difference
                / m.before.demographic_parity_difference.max(1e-12)
        );
    }
    Ok(())
}

/// Runs `kiln eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let run = load_run(
        &kiln_experiment::resolve_run(&args.run_dir)?,
        parse_backend(args.backend.as_deref())?,
    )?;
    if !args.by.is_empty() {
        run.require_classifier()?;
        return by_group(&run, args);
    }
    let evaluation = run.evaluate_test()?;
    if let Some(bits) = evaluation.bits_per_char {
        let json = serde_json::json!({ "loss": evaluation.loss, "accuracy": evaluation.accuracy, "bits_per_char": bits });
        match args.json {
            true => println!(
                "{}",
                serde_json::to_string_pretty(&json).expect("serialises")
            ),
            false => println!(
                "{}: validation text {bits:.4} bits per character, loss {:.4}, next-character accuracy {:.4}",
                run.dir.display(),
                evaluation.loss,
                evaluation.accuracy
            ),
        }
        return Ok(());
    }
    let picture = run.dir.join("confusion.png");
    kiln_experiment::plot::write_confusion(&picture, &evaluation.confusion)?;
    if args.json {
        let json = serde_json::json!({
            "accuracy": evaluation.accuracy,
            "loss": evaluation.loss,
            "precision": evaluation.precision(),
            "recall": evaluation.recall(),
            "confusion": evaluation.confusion,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).expect("serialises")
        );
        return Ok(());
    }
    let samples: usize = evaluation.confusion.iter().flatten().sum();
    println!(
        "{}: test accuracy {:.4}, loss {:.4} on {samples} samples",
        run.dir.display(),
        evaluation.accuracy,
        evaluation.loss
    );
    println!("\nclass  precision  recall  support");
    for (class, (p, r)) in evaluation
        .precision()
        .iter()
        .zip(evaluation.recall())
        .enumerate()
    {
        let support: usize = evaluation.confusion[class].iter().sum();
        println!("{class:>5}  {p:>9.4}  {r:>6.4}  {support:>7}");
    }
    println!(
        "\nconfusion (rows: true class, columns: predicted; also {})",
        picture.display()
    );
    for row in &evaluation.confusion {
        println!(
            "{}",
            row.iter().map(|c| format!("{c:>6}")).collect::<String>()
        );
    }
    Ok(())
}
