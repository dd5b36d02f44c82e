//! `kiln fairness` against Fairlearn 0.15's reference values on UCI Adult (the fixed rule
//! `education_num >= 13` on UCI's test split), and its refusals.

mod common;

use common::{assert_bad_input, kiln, write};
use serde_json::Value;

/// `label,prediction,sex,race` of UCI's 16,281 test rows, predicting `education_num >= 13`.
fn adult_rule_predictions() -> String {
    let bytes = kiln_data::embedded::adult_census_income_csv();
    let mut reader = csv::Reader::from_reader(bytes.as_slice());
    let header = reader.headers().unwrap().clone();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (edu, income, sex, race, split) = (
        col("education_num"),
        col("income_gt_50k"),
        col("sex"),
        col("race"),
        col("split"),
    );
    let mut out = String::from("label,prediction,sex,race\n");
    for record in reader.records() {
        let r = record.unwrap();
        if &r[split] != "test" {
            continue;
        }
        let predicted = u8::from(r[edu].parse::<u32>().unwrap() >= 13);
        out.push_str(&format!(
            "{},{predicted},{},{}\n",
            &r[income], &r[sex], &r[race]
        ));
    }
    out
}

fn close(value: &Value, expected: f64, tolerance: f64, what: &str) {
    let got = value.as_f64().unwrap_or_else(|| panic!("{what}: {value}"));
    assert!(
        (got - expected).abs() <= tolerance,
        "{what}: {got} against Fairlearn's {expected}"
    );
}

#[test]
fn kiln_fairness_equals_fairlearn_on_adult() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "predictions.csv", &adult_rule_predictions());
    let file = file.to_str().unwrap();
    let run = |by: &str| {
        let out = kiln(&[
            "fairness",
            file,
            "--label",
            "label",
            "--prediction",
            "prediction",
            "--by",
            by,
            "--json",
        ]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str::<Value>(&out.stdout).unwrap()
    };
    let sex = run("sex");
    assert_eq!(sex["kind"], "binary");
    // Fairlearn's table gives the rates rounded to 10 digits.
    let groups = sex["groups"].as_array().unwrap();
    let female = &groups[0];
    assert_eq!(female["group"], "Female");
    assert_eq!(
        [
            &female["count"],
            &female["tp"],
            &female["fp"],
            &female["tn"],
            &female["fn"]
        ],
        [5421, 328, 906, 3925, 262].map(Value::from).each_ref()
    );
    close(&female["accuracy"], 0.7845415975, 1e-9, "Female accuracy");
    close(
        &female["selection_rate"],
        0.2276332780,
        1e-9,
        "Female selection rate",
    );
    close(&female["tpr"], 0.5559322034, 1e-9, "Female TPR");
    close(&female["fpr"], 0.1875388118, 1e-9, "Female FPR");
    let male = &groups[1];
    assert_eq!(male["count"], 10860);
    close(&male["tpr"], 0.4861793612, 1e-9, "Male TPR");
    close(&male["fpr"], 0.1612309311, 1e-9, "Male FPR");
    close(
        &sex["overall"]["accuracy"],
        0.7501996192,
        1e-9,
        "overall accuracy",
    );
    let dp = &sex["demographic_parity"];
    close(
        &dp["difference"],
        0.03102233894991957,
        1e-12,
        "DP difference",
    );
    close(&dp["ratio"], 0.8800631537927638, 1e-12, "DP ratio");
    close(
        &dp["difference_to_overall"],
        0.020692991892151985,
        1e-12,
        "DP to overall",
    );
    let eo = &sex["equalized_odds"];
    close(
        &eo["difference"],
        0.06975284221046935,
        1e-12,
        "EO difference",
    );
    close(&eo["ratio"], 0.859720340055716, 1e-12, "EO ratio");

    let race = run("race");
    close(
        &race["demographic_parity"]["difference"],
        0.32853773584905654,
        1e-12,
        "race DPD",
    );
    close(
        &race["demographic_parity"]["ratio"],
        0.23447517860413997,
        1e-12,
        "race DPR",
    );
    close(
        &race["equalized_odds"]["difference"],
        0.5037593984962405,
        1e-12,
        "race EOD",
    );
    close(
        &race["equalized_odds"]["ratio"],
        0.23863636363636365,
        1e-12,
        "race EOR",
    );

    // Two columns group by their combined values.
    let both = run("sex,race");
    assert_eq!(both["groups"].as_array().unwrap().len(), 10);
    let table = kiln(&[
        "fairness",
        file,
        "--label",
        "label",
        "--prediction",
        "prediction",
        "--by",
        "sex",
    ]);
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(
        table.stdout.contains("Female") && table.stdout.contains("0.7845"),
        "{}",
        table.stdout
    );
}

#[test]
fn kiln_fairness_refuses_bad_predictions_files() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ok.csv", "y,p,sex\n1,1,F\n0,1,M\n");
    let ok = ok.to_str().unwrap();
    let missing = kiln(&[
        "fairness",
        ok,
        "--label",
        "y",
        "--prediction",
        "p",
        "--by",
        "race",
    ]);
    assert_bad_input(&missing, "race");
    assert!(
        missing.stderr.contains("sex"),
        "lists the columns: {}",
        missing.stderr
    );
    let multi = write(dir.path(), "multi.csv", "y,p,sex\n2,1,F\n0,1,M\n");
    let out = kiln(&[
        "fairness",
        multi.to_str().unwrap(),
        "--label",
        "y",
        "--prediction",
        "p",
        "--by",
        "sex",
        "--json",
    ]);
    // Other labels than 0/1: count and accuracy per group only.
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("\"multiclass\""), "{}", out.stdout);
    let bad = write(dir.path(), "bad.csv", "y,p,sex\n1,yes,F\n");
    let out = kiln(&[
        "fairness",
        bad.to_str().unwrap(),
        "--label",
        "y",
        "--prediction",
        "p",
        "--by",
        "sex",
    ]);
    assert_bad_input(&out, "bad.csv");
    assert!(out.stderr.contains("line 2"), "{}", out.stderr);
    let empty = write(dir.path(), "empty.csv", "");
    assert_bad_input(
        &kiln(&[
            "fairness",
            empty.to_str().unwrap(),
            "--label",
            "y",
            "--prediction",
            "p",
            "--by",
            "sex",
        ]),
        "empty.csv",
    );
}
