//! Fairness of a trained run by the groups of its sensitive attributes (`kiln eval --by`), and
//! mitigation by per-group decision thresholds chosen on the validation split
//! (`--mitigate demographic-parity|equalized-odds`).

use kiln_audit::{
    AuditReport, Constraint, MetricFrame, MitigationReport, MulticlassFrame, ThresholdOptimizer,
};
use kiln_data::Samples;
use kiln_train::{KilnError, Result};

use crate::TrainedRun;
use crate::card::{argmax, probabilities};
use crate::data::prepare;

fn audit(e: kiln_audit::AuditError) -> KilnError {
    KilnError::Input(e.to_string())
}

/// The sensitive columns `by` of `samples`, one column of values each; a name the data does
/// not keep is refused, listing the ones it does.
fn columns(run: &TrainedRun, samples: &Samples, by: &[String]) -> Result<Vec<Vec<String>>> {
    if by.is_empty() {
        return Err(KilnError::Input(
            "--by needs at least one sensitive attribute".into(),
        ));
    }
    by.iter()
        .map(|name| {
            samples
                .attribute(name)
                .map(|values| values.into_iter().map(String::from).collect())
                .map_err(|_| {
                    let kept = &samples.groups.names;
                    KilnError::Input(format!(
                        "{}: --by {name}: the run keeps no sensitive attribute '{name}' ({}); name sensitive columns in the config's data.sensitive",
                        run.dir.display(),
                        if kept.is_empty() {
                            "it keeps none".to_string()
                        } else {
                            format!("it keeps: {}", kept.join(", "))
                        }
                    ))
                })
        })
        .collect()
}

/// The test split's metrics by the groups of `by` (several attributes group by their combined
/// values): every binary metric for a binary task, count and accuracy per group otherwise.
pub fn evaluate_by(run: &TrainedRun, by: &[String]) -> Result<AuditReport> {
    let splits = prepare(&run.config.data, run.config.seed)?;
    let test = &splits.test;
    let sensitive = columns(run, test, by)?;
    let predicted = argmax(&probabilities(run, test)?);
    if run.objective.classes() == 2 {
        let y_true: Vec<u8> = test.labels.iter().map(|&l| l as u8).collect();
        let y_pred: Vec<u8> = predicted.iter().map(|&p| p as u8).collect();
        let frame =
            MetricFrame::with_feature_names(&y_true, &y_pred, by, &sensitive).map_err(audit)?;
        return Ok(AuditReport::Binary(frame.report()));
    }
    let frame = MulticlassFrame::with_feature_names(&test.labels, &predicted, by, &sensitive)
        .map_err(audit)?;
    Ok(AuditReport::Multiclass(frame.report()))
}

/// Parses `demographic-parity` or `equalized-odds`.
pub fn parse_constraint(name: &str) -> Result<Constraint> {
    match name {
        "demographic-parity" => Ok(Constraint::DemographicParity),
        "equalized-odds" => Ok(Constraint::EqualizedOdds),
        other => Err(KilnError::Input(format!(
            "--mitigate {other}: expected demographic-parity or equalized-odds"
        ))),
    }
}

/// Per-group thresholds for `constraint` fitted on the validation split (the training split
/// when the run has none) and their effect on the test split, against the single threshold
/// 0.5, leaving at most `tolerance` of disparity on the fitting split. Binary tasks and one
/// attribute only.
pub fn mitigate(
    run: &TrainedRun,
    by: &[String],
    constraint: Constraint,
    tolerance: f64,
) -> Result<(MitigationReport, &'static str)> {
    if run.objective.classes() != 2 {
        return Err(KilnError::Input(format!(
            "{}: --mitigate needs a binary classifier (selection rates and error rates are defined for labels 0/1); this one has {} classes",
            run.dir.display(),
            run.objective.classes()
        )));
    }
    let [attribute] = by else {
        return Err(KilnError::Input(
            "--mitigate chooses one threshold per group of one attribute: give --by a single column".into(),
        ));
    };
    let splits = prepare(&run.config.data, run.config.seed)?;
    let (fitting, fitting_name) = match &splits.valid {
        Some(valid) => (valid, "validation"),
        None => (&splits.train, "training"),
    };
    let scored = |samples: &Samples| -> Result<(Vec<f64>, Vec<u8>, Vec<String>)> {
        let scores = probabilities(run, samples)?
            .iter()
            .map(|p| f64::from(p[1]))
            .collect();
        let labels = samples.labels.iter().map(|&l| l as u8).collect();
        let groups = columns(run, samples, std::slice::from_ref(attribute))?.remove(0);
        Ok((scores, labels, groups))
    };
    let (scores, labels, groups) = scored(fitting)?;
    let fitted = ThresholdOptimizer::new(constraint)
        .with_tolerance(tolerance)
        .fit(&scores, &labels, &groups)
        .map_err(audit)?;
    let (scores, labels, groups) = scored(&splits.test)?;
    let report = fitted
        .evaluate(&scores, &labels, &groups, 0.5)
        .map_err(audit)?;
    Ok((report, fitting_name))
}
