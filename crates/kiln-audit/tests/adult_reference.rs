//! Fairlearn 0.15.0 reference values on UCI Adult (README of the embedded data set and
//! shared/notes/responsible-ai.md §1): test split, `y_pred = education_num >= 13`.

mod common;

use kiln_audit::{Agg, Method, Metric, MetricFrame};

struct Fixture {
    y_true: Vec<u8>,
    y_pred: Vec<u8>,
    sex: Vec<String>,
    race: Vec<String>,
}

fn fixture() -> Fixture {
    let rows = common::adult();
    let test: Vec<&common::Row> = rows.iter().filter(|r| r.split == "test").collect();
    assert_eq!(test.len(), 16_281);
    Fixture {
        y_true: test.iter().map(|r| r.income_gt_50k).collect(),
        y_pred: test
            .iter()
            .map(|r| u8::from(r.education_num >= 13))
            .collect(),
        sex: test.iter().map(|r| r.sex.clone()).collect(),
        race: test.iter().map(|r| r.race.clone()).collect(),
    }
}

fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:.17}, want {want:.17} (tolerance {tol:e})"
    );
}

#[test]
fn sex_table_matches_fairlearn() {
    let f = fixture();
    let frame =
        MetricFrame::with_feature_names(&f.y_true, &f.y_pred, &["sex".into()], &[f.sex]).unwrap();
    // group, n, TP, FP, TN, FN, accuracy, selection rate, TPR, FPR (rates rounded to 10 digits).
    let table = [
        (
            "Female",
            [5421, 328, 906, 3925, 262],
            [0.7845415975, 0.2276332780, 0.5559322034, 0.1875388118],
        ),
        (
            "Male",
            [10860, 1583, 1226, 6378, 1673],
            [0.7330570902, 0.2586556169, 0.4861793612, 0.1612309311],
        ),
        (
            "overall",
            [16281, 1911, 2132, 10303, 1935],
            [0.7501996192, 0.2483262699, 0.4968798752, 0.1714515480],
        ),
    ];
    let names: Vec<&str> = frame.by_group().iter().map(|g| g.group.as_str()).collect();
    assert_eq!(names, ["Female", "Male"]);
    for (name, counts, rates) in table {
        let g = if name == "overall" {
            frame.overall()
        } else {
            frame.group(name).unwrap()
        };
        assert_eq!([g.count, g.tp, g.fp, g.tn, g.fn_], counts, "{name} counts");
        for (metric, want) in Metric::ALL.into_iter().zip(rates) {
            close(g.get(metric), want, 1e-9, &format!("{name} {metric}"));
        }
    }
    let bg = Method::BetweenGroups;
    close(
        frame.demographic_parity_difference(bg),
        0.03102233894991957,
        1e-12,
        "DPD",
    );
    close(
        frame.demographic_parity_ratio(bg),
        0.8800631537927638,
        1e-12,
        "DPR",
    );
    close(
        frame.equalized_odds_difference(bg, Agg::WorstCase),
        0.06975284221046935,
        1e-12,
        "EOD",
    );
    close(
        frame.equalized_odds_ratio(bg, Agg::WorstCase),
        0.859720340055716,
        1e-12,
        "EOR",
    );
    close(
        frame.demographic_parity_difference(Method::ToOverall),
        0.020692991892151985,
        1e-12,
        "DPD to overall",
    );
    // The differences come straight from the table: TPR gap and FPR gap.
    let tpr = frame.difference(Metric::TruePositiveRate, bg);
    let fpr = frame.difference(Metric::FalsePositiveRate, bg);
    close(tpr, 0.5559322034 - 0.4861793612, 2e-10, "TPR difference");
    close(
        frame.equalized_odds_difference(bg, Agg::Mean),
        (tpr + fpr) / 2.0,
        1e-15,
        "EOD mean",
    );
}

#[test]
fn race_summary_matches_fairlearn() {
    let f = fixture();
    let frame =
        MetricFrame::with_feature_names(&f.y_true, &f.y_pred, &["race".into()], &[f.race]).unwrap();
    let names: Vec<&str> = frame.by_group().iter().map(|g| g.group.as_str()).collect();
    assert_eq!(
        names,
        [
            "Amer-Indian-Eskimo",
            "Asian-Pac-Islander",
            "Black",
            "Other",
            "White"
        ]
    );
    assert_eq!(frame.group("Other").unwrap().count, 135);
    let bg = Method::BetweenGroups;
    close(
        frame.demographic_parity_difference(bg),
        0.32853773584905654,
        1e-12,
        "DPD",
    );
    close(
        frame.demographic_parity_ratio(bg),
        0.23447517860413997,
        1e-12,
        "DPR",
    );
    close(
        frame.equalized_odds_difference(bg, Agg::WorstCase),
        0.5037593984962405,
        1e-12,
        "EOD",
    );
    close(
        frame.equalized_odds_ratio(bg, Agg::WorstCase),
        0.23863636363636365,
        1e-12,
        "EOR",
    );
}

#[test]
fn free_functions_and_report_agree_with_the_frame() {
    let f = fixture();
    let sensitive = [f.sex.clone()];
    let bg = Method::BetweenGroups;
    let dpd = kiln_audit::demographic_parity_difference(&f.y_true, &f.y_pred, &sensitive, bg);
    close(dpd.unwrap(), 0.03102233894991957, 1e-12, "DPD");
    let eor =
        kiln_audit::equalized_odds_ratio(&f.y_true, &f.y_pred, &sensitive, bg, Agg::WorstCase);
    close(eor.unwrap(), 0.859720340055716, 1e-12, "EOR");
    let frame =
        MetricFrame::with_feature_names(&f.y_true, &f.y_pred, &["sex".into()], &sensitive).unwrap();
    let report = frame.report();
    close(
        report.demographic_parity.difference_to_overall,
        0.020692991892151985,
        1e-12,
        "DPD to overall",
    );
    close(report.equalized_odds.ratio, 0.859720340055716, 1e-12, "EOR");
    // JSON round trip keeps every number exactly.
    let json = serde_json::to_string(&report).unwrap();
    assert!(json.contains("\"fn\":262"), "{json}");
    let back: kiln_audit::FairnessReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    let text = report.to_string();
    assert!(
        text.starts_with("Fairness by sex: 16281 samples, 2 groups"),
        "{text}"
    );
    assert!(text.contains("Female"), "{text}");
    assert!(text.contains("0.0310"), "{text}");
}

#[test]
fn two_features_group_by_the_tuple() {
    let f = fixture();
    let frame = MetricFrame::with_feature_names(
        &f.y_true,
        &f.y_pred,
        &["sex".into(), "race".into()],
        &[f.sex.clone(), f.race.clone()],
    )
    .unwrap();
    assert_eq!(frame.by_group().len(), 10);
    assert_eq!(frame.by_group()[0].group, "Female, Amer-Indian-Eskimo");
    let g = frame.group("Female, White").unwrap();
    assert_eq!(g.values, ["Female", "White"]);
    let total: usize = frame.by_group().iter().map(|g| g.count).sum();
    assert_eq!(total, 16_281);
    // Each sex's counts are the sums over its races.
    let female_tp: usize = frame
        .by_group()
        .iter()
        .filter(|g| g.values[0] == "Female")
        .map(|g| g.tp)
        .sum();
    assert_eq!(female_tp, 328);
}
