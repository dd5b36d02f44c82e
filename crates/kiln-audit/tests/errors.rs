//! Every error of the metric frames, with its message.

use kiln_audit::{AuditError, MetricFrame, MulticlassFrame};

fn col(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

#[test]
fn labels_other_than_0_and_1_point_to_the_multiclass_path() {
    let sex = [col(&["F", "M", "F"])];
    let err = MetricFrame::new(&[0, 2, 1], &[0, 1, 1], &sex).unwrap_err();
    assert!(matches!(err, AuditError::NotBinary { value: 2, .. }));
    assert_eq!(
        err.to_string(),
        "label 2 at sample 1 is not 0 or 1: selection rate, TPR, FPR, demographic parity and \
         equalized odds need binary labels and predictions (0/1); for more than two classes use \
         the multi-class report, which gives per-group count and accuracy only \
         (kiln_audit::MulticlassFrame)"
    );
    let err = MetricFrame::new(&[0, 1, 1], &[0, 1, 7], &sex).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("prediction 7 at sample 2 is not 0 or 1: selection rate, TPR, FPR"),
        "{err}"
    );
    let err = kiln_audit::demographic_parity_difference(
        &[0, 3, 1],
        &[0, 1, 1],
        &sex,
        kiln_audit::Method::BetweenGroups,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("demographic parity and equalized odds need binary")
    );
}

#[test]
fn the_multiclass_path_gives_count_and_accuracy() {
    let y_true = [0, 1, 2, 2, 1, 0];
    let y_pred = [0, 2, 2, 2, 1, 1];
    let group = [col(&["a", "a", "a", "b", "b", "b"])];
    let frame =
        MulticlassFrame::with_feature_names(&y_true, &y_pred, &["site".into()], &group).unwrap();
    assert_eq!(frame.classes(), [0, 1, 2]);
    let a = frame.group("a").unwrap();
    assert_eq!((a.count, a.correct), (3, 2));
    assert!((a.accuracy - 2.0 / 3.0).abs() < 1e-15);
    assert_eq!(frame.overall().correct, 4);
    let d = frame.accuracy_difference(kiln_audit::Method::BetweenGroups);
    assert!(d.abs() < 1e-15);
    let text = frame.to_string();
    assert!(
        text.contains("multi-class: count and accuracy only"),
        "{text}"
    );
    let err = frame.group("c").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no samples in group 'c': the groups with samples are 'a', 'b'"
    );
}

#[test]
fn lengths_that_differ() {
    let err = MetricFrame::new(&[0, 1, 1], &[0, 1], &[col(&["F", "M", "F"])]).unwrap_err();
    assert!(matches!(
        err,
        AuditError::LengthMismatch {
            expected: 3,
            got: 2,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        "y_pred has 2 values but y_true has 3: every input needs one value per sample"
    );
    let err = MetricFrame::with_feature_names(
        &[0, 1, 1],
        &[0, 1, 1],
        &["sex".into(), "race".into()],
        &[col(&["F", "M", "F"]), col(&["x", "y"])],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "sensitive feature 'race' has 2 values but y_true has 3: every input needs one value per \
         sample"
    );
    let err = MulticlassFrame::new(&[0, 1], &[0, 1, 2], &[col(&["F", "M"])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "y_pred has 3 values but y_true has 2: every input needs one value per sample"
    );
}

#[test]
fn no_samples_and_no_sensitive_feature() {
    let err = MetricFrame::new(&[], &[], &[Vec::new()]).unwrap_err();
    assert!(matches!(err, AuditError::NoSamples { .. }));
    assert_eq!(
        err.to_string(),
        "no samples: y_true is empty, there is nothing to audit"
    );
    let err = MulticlassFrame::new(&[], &[], &[Vec::new()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no samples: y_true is empty, there is nothing to audit"
    );
    let err = MetricFrame::new(&[0, 1], &[0, 1], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no sensitive feature: group metrics need at least one column to group by (e.g. --by sex)"
    );
}

#[test]
fn a_group_filter_naming_a_group_without_samples() {
    let frame = MetricFrame::with_feature_names(
        &[0, 1, 1, 0],
        &[0, 1, 0, 0],
        &["sex".into(), "race".into()],
        &[col(&["F", "M", "F", "M"]), col(&["x", "x", "y", "y"])],
    )
    .unwrap();
    let err = frame.group("Female").unwrap_err();
    assert!(matches!(err, AuditError::UnknownGroup { .. }));
    assert_eq!(
        err.to_string(),
        "no samples in group 'Female': the groups with samples are 'F, x', 'F, y', 'M, x', 'M, y'"
    );
    assert_eq!(frame.group("M, y").unwrap().tn, 1);
}

#[test]
fn zero_over_zero_rates_and_ratios() {
    // Group b has no positives (TPR 0/0 = 0) and nobody selected.
    let frame =
        MetricFrame::new(&[1, 0, 0, 0], &[1, 0, 0, 0], &[col(&["a", "a", "b", "b"])]).unwrap();
    let b = frame.group("b").unwrap();
    assert_eq!(
        (b.tpr, b.fpr, b.selection_rate, b.accuracy),
        (0.0, 0.0, 0.0, 1.0)
    );
    use kiln_audit::{Method, Metric};
    // FPR is 0 everywhere: groups equal, ratio 1 (Fairlearn: NaN).
    assert_eq!(
        frame.ratio(Metric::FalsePositiveRate, Method::BetweenGroups),
        1.0
    );
    assert_eq!(
        frame.ratio(Metric::FalsePositiveRate, Method::ToOverall),
        1.0
    );
    assert_eq!(
        frame.ratio(Metric::TruePositiveRate, Method::BetweenGroups),
        0.0
    );
    assert_eq!(
        frame.difference(Metric::SelectionRate, Method::BetweenGroups),
        0.5
    );
    assert_eq!(
        frame.difference(Metric::SelectionRate, Method::ToOverall),
        0.25
    );
    // to_overall ratio: min over groups of min(g/o, o/g) = min(0.5/0.25 -> 0.5, 0) = 0.
    assert_eq!(frame.ratio(Metric::SelectionRate, Method::ToOverall), 0.0);
}
