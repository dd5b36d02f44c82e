//! `kiln eval`: test-split metrics of a trained run.

use kiln_experiment::load_run;
use kiln_train::Result;

use super::parse_backend;
use crate::cli::EvalArgs;

/// Runs `kiln eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let run = load_run(&args.run_dir, parse_backend(args.backend.as_deref())?)?;
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
                args.run_dir.display(),
                evaluation.loss,
                evaluation.accuracy
            ),
        }
        return Ok(());
    }
    let picture = args.run_dir.join("confusion.png");
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
        args.run_dir.display(),
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
