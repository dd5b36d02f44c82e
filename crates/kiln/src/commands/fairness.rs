//! `kiln fairness`: fairness by group of any model's predictions in a CSV file.

use kiln_audit::PredictionColumns;
use kiln_train::{KilnError, Result};

use crate::cli::FairnessArgs;

/// Runs `kiln fairness`.
pub fn run(args: &FairnessArgs) -> Result<()> {
    let bad = |e: kiln_audit::AuditError| KilnError::Input(e.to_string());
    let predictions = PredictionColumns::new(&args.label, &args.prediction, &args.by)
        .read(&args.predictions)
        .map_err(bad)?;
    let report = predictions.report().map_err(bad)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("reports serialise")
        );
    } else {
        print!("{report}");
    }
    Ok(())
}
