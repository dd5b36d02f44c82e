//! The shipped UCI Adult config end to end: the table loader's split and sensitive groups, a
//! short training run, and `kiln predict` on raw CSV rows with text categories.

mod common;

use common::{assert_bad_input, json, kiln, write};
use kiln_experiment::ExperimentConfig;

const HEADER: &str = "age,workclass,fnlwgt,education,education_num,marital_status,occupation,relationship,race,sex,capital_gain,capital_loss,hours_per_week,native_country,income_gt_50k,split";

/// Lines 2, 3 and 16 of the embedded adult.csv: text categories (the last row's native
/// country is missing, an empty field), with the target, sensitive and split columns.
const ROWS: &str = "\
39,State-gov,77516,Bachelors,13,Never-married,Adm-clerical,Not-in-family,White,Male,2174,0,40,United-States,0,train
50,Self-emp-not-inc,83311,Bachelors,13,Married-civ-spouse,Exec-managerial,Husband,White,Male,0,0,13,United-States,0,train
40,Private,121772,Assoc-voc,11,Married-civ-spouse,Craft-repair,Husband,Asian-Pac-Islander,Male,0,0,40,,1,train
";

#[test]
fn the_adult_config_splits_by_uci_and_keeps_sex_per_sample() {
    let text = kiln::shipped::shipped_config("fnn-adult").expect("fnn-adult is shipped");
    let config = ExperimentConfig::parse(text, &[], "fnn-adult").unwrap();
    let splits = kiln_experiment::data::prepare(&config.data, config.seed).unwrap();
    assert_eq!(splits.test.len(), 16_281);
    let valid = splits.valid.as_ref().map_or(0, |v| v.len());
    assert_eq!(splits.train.len() + valid, 32_561);
    let sex = splits.test.attribute("sex").unwrap();
    assert_eq!(sex.iter().filter(|s| **s == "Female").count(), 5_421);
    assert_eq!(splits.test.attribute("race").unwrap().len(), 16_281);
    let names = &splits.preprocess.feature_names;
    assert!(names.contains(&"workclass=?".to_string()), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.starts_with("sex") || n.starts_with("race"))
    );
    assert!(!names.iter().any(|n| n == "fnlwgt" || n == "split"));
}

#[test]
fn a_short_adult_run_predicts_raw_rows_and_refuses_unknown_levels() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let out = kiln(&[
        "train",
        "fnn-adult",
        "--out",
        run_s,
        "--epochs",
        "1",
        "--set",
        "model.hidden=[8]",
        "--set",
        "train.batch_size=1024",
        "--set",
        "optim.lr=0.02",
    ]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary = json(&run.join("summary.json"));
    assert_eq!(summary["samples"]["test"], 16_281, "{summary}");
    let accuracy = summary["test"]["accuracy"].as_f64().unwrap();
    assert!(
        accuracy > 0.75,
        "29 steps beat the 76% majority class: {accuracy}"
    );
    let preprocess = json(&run.join("preprocess.json"));
    let columns = preprocess["encoding"]["columns"].as_array().unwrap();
    let workclass = columns.iter().find(|c| c["name"] == "workclass").unwrap();
    assert_eq!(workclass["kind"], "categorical");
    assert_eq!(
        workclass["levels"][0], "?",
        "the missing workclass is a level"
    );

    let rows = write(dir.path(), "rows.csv", &format!("{HEADER}\n{ROWS}"));
    let predict = kiln(&["predict", run_s, rows.to_str().unwrap(), "--json"]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    let p: serde_json::Value = serde_json::from_str(&predict.stdout).unwrap();
    assert_eq!(p.as_array().unwrap().len(), 3, "{p}");
    let sum: f64 = p[0]["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 1e-4, "{p}");

    // Only the model's columns are needed: no target, sensitive, dropped or split columns.
    let lean = "age,workclass,education_num,marital_status,occupation,relationship,capital_gain,capital_loss,hours_per_week,native_country\n\
                39,,13,Never-married,Adm-clerical,Not-in-family,2174,0,40,United-States\n";
    let lean = write(dir.path(), "lean.csv", lean);
    let predict = kiln(&["predict", run_s, lean.to_str().unwrap()]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    assert_eq!(predict.stdout.lines().count(), 2, "{}", predict.stdout);

    let unknown = ROWS.replacen("State-gov", "Starship-crew", 1);
    let unknown = write(dir.path(), "unknown.csv", &format!("{HEADER}\n{unknown}"));
    assert_bad_input(
        &kiln(&["predict", run_s, unknown.to_str().unwrap()]),
        "unknown.csv: line 2, column 'workclass': 'Starship-crew' is a level never seen in training",
    );
    let missing = write(dir.path(), "missing.csv", "age,sex\n39,Male\n");
    assert_bad_input(
        &kiln(&["predict", run_s, missing.to_str().unwrap()]),
        "missing.csv: line 1, no column 'workclass'",
    );
    let ragged = write(
        dir.path(),
        "ragged.csv",
        &format!("{HEADER}\n39,State-gov\n"),
    );
    assert_bad_input(
        &kiln(&["predict", run_s, ragged.to_str().unwrap()]),
        "ragged.csv: line 2: 2 fields but the header has 16 columns",
    );
}

/// The shipped config as it is: >= 0.85 on UCI's test split; its card shows metrics by sex
/// and by race; `kiln eval --by sex` equals `kiln fairness` of the run's own predictions; and
/// per-group thresholds at tolerance 0.08 at least halve the demographic-parity difference
/// for at most 1.5 points of accuracy.
#[test]
fn fnn_adult_reaches_085_and_its_mitigation_halves_the_parity_gap() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_s = run.to_str().unwrap();
    let out = kiln(&["train", "fnn-adult", "--out", run_s]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let summary = json(&run.join("summary.json"));
    let accuracy = summary["test"]["accuracy"].as_f64().unwrap();
    assert!(accuracy >= 0.85, "fnn-adult test accuracy {accuracy}");

    let card = json(&run.join("model-card.json"));
    let attributes: Vec<&str> = card["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["attribute"].as_str().unwrap())
        .collect();
    assert_eq!(attributes, ["race", "sex"]);
    let markdown = std::fs::read_to_string(run.join("model-card.md")).unwrap();
    assert!(markdown.contains("### By sex") && markdown.contains("### By race"));
    assert!(
        markdown.contains("by the data's `split` column"),
        "{markdown}"
    );

    let eval = kiln(&["eval", run_s, "--by", "sex", "--json"]);
    assert_eq!(eval.code, 0, "{}", eval.stderr);
    let by_sex: serde_json::Value = serde_json::from_str(&eval.stdout).unwrap();
    let test = &by_sex["test"];
    assert_eq!(test["overall"]["count"], 16_281);
    let overall = test["overall"]["accuracy"].as_f64().unwrap();
    assert!(
        (overall - accuracy).abs() < 1e-12,
        "{overall} vs {accuracy}"
    );
    let card_dp = card["groups"][1]["demographic_parity_difference"]
        .as_f64()
        .unwrap();
    let eval_dp = test["demographic_parity"]["difference"].as_f64().unwrap();
    assert!((card_dp - eval_dp).abs() < 1e-12);

    // `kiln fairness` of the run's own test predictions says exactly what `eval --by` says.
    let trained = kiln_experiment::load_run(&run, None).unwrap();
    let splits = kiln_experiment::data::prepare(&trained.config.data, trained.config.seed).unwrap();
    let predicted = kiln_experiment::card::argmax(
        &kiln_experiment::card::probabilities(&trained, &splits.test).unwrap(),
    );
    let sex = splits.test.attribute("sex").unwrap();
    let mut csv = String::from("label,prediction,sex\n");
    for ((label, p), s) in splits.test.labels.iter().zip(&predicted).zip(&sex) {
        csv.push_str(&format!("{label},{p},{s}\n"));
    }
    let file = write(dir.path(), "predictions.csv", &csv);
    let audit = kiln(&[
        "fairness",
        file.to_str().unwrap(),
        "--label",
        "label",
        "--prediction",
        "prediction",
        "--by",
        "sex",
        "--json",
    ]);
    assert_eq!(audit.code, 0, "{}", audit.stderr);
    let audit: serde_json::Value = serde_json::from_str(&audit.stdout).unwrap();
    assert_eq!(&audit, test, "kiln fairness and kiln eval --by agree");

    let mitigated = kiln(&[
        "eval",
        run_s,
        "--by",
        "sex",
        "--mitigate",
        "demographic-parity",
        "--tolerance",
        "0.08",
        "--json",
    ]);
    assert_eq!(mitigated.code, 0, "{}", mitigated.stderr);
    let m: serde_json::Value = serde_json::from_str(&mitigated.stdout).unwrap();
    assert_eq!(m["mitigation"]["fitted_on"], "validation");
    let report = &m["mitigation"]["report"];
    let (before, after) = (&report["before"], &report["after"]);
    let dp = |o: &serde_json::Value| o["demographic_parity_difference"].as_f64().unwrap();
    let acc = |o: &serde_json::Value| o["accuracy"].as_f64().unwrap();
    assert!(
        (dp(before) - eval_dp).abs() < 1e-12,
        "before = the single threshold 0.5"
    );
    assert!(
        dp(after) <= dp(before) / 2.0,
        "{} -> {}",
        dp(before),
        dp(after)
    );
    assert!(
        acc(before) - acc(after) <= 0.015,
        "{} -> {}",
        acc(before),
        acc(after)
    );

    assert_bad_input(
        &kiln(&["eval", run_s, "--by", "colour"]),
        "it keeps: race, sex",
    );
    assert_bad_input(
        &kiln(&[
            "eval",
            run_s,
            "--by",
            "sex,race",
            "--mitigate",
            "equalized-odds",
        ]),
        "single column",
    );
}
