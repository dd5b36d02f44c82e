//! Reading a predictions CSV: the happy path and every error, with its message.

use std::io::Write;

use kiln_audit::{AuditError, AuditReport, PredictionColumns, read_predictions, split_columns};

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn by(list: &str) -> Vec<String> {
    split_columns(list)
}

const GOOD: &str = "id,label,pred,sex,race,p\n\
                    1,1,1,F,x,0.9\n\
                    2,0,1,M,y,0.6\n\
                    3,0,0,F,y,0.2\n\
                    4,1,0,M,x,0.4\n";

#[test]
fn reads_labels_predictions_groups_and_scores() {
    let f = file(GOOD);
    let p = PredictionColumns::new("label", "pred", &by("sex, race"))
        .with_score("p")
        .read(f.path())
        .unwrap();
    assert_eq!(p.len(), 4);
    assert_eq!(p.labels, [1, 0, 0, 1]);
    assert_eq!(p.predictions, [1, 1, 0, 0]);
    assert_eq!(p.sensitive, [by("F,M,F,M"), by("x,y,y,x")]);
    assert_eq!(p.scores.as_deref(), Some(&[0.9, 0.6, 0.2, 0.4][..]));
    assert_eq!(p.lines, [2, 3, 4, 5]);
    let frame = p.metric_frame().unwrap();
    assert_eq!(frame.sensitive_features(), ["sex", "race"]);
    assert_eq!(frame.group("F, x").unwrap().tp, 1);
    assert!(matches!(p.report().unwrap(), AuditReport::Binary(_)));
    let json = serde_json::to_value(p.report().unwrap()).unwrap();
    assert_eq!(json["kind"], "binary");
}

#[test]
fn multiclass_files_get_the_multiclass_report() {
    let f = file("y,yhat,g\n0,0,a\n2,1,a\n1,1,b\n2,2,b\n");
    let p = read_predictions(f.path(), "y", "yhat", &by("g")).unwrap();
    assert!(!p.is_binary());
    let AuditReport::Multiclass(r) = p.report().unwrap() else {
        panic!("expected the multi-class report");
    };
    assert_eq!(r.classes, [0, 1, 2]);
    assert_eq!(r.groups[0].accuracy, 0.5);
    let err = p.metric_frame().unwrap_err();
    let name = f.path().display().to_string();
    assert!(
        err.to_string().starts_with(&format!(
            "label 2 at {name} line 3, column 'y' is not 0 or 1"
        )),
        "{err}"
    );
    assert!(err.to_string().contains("multi-class report"), "{err}");
}

#[test]
fn a_missing_column_lists_the_columns_there_are() {
    let f = file(GOOD);
    let name = f.path().display().to_string();
    let err = read_predictions(f.path(), "label", "pred", &by("gender")).unwrap_err();
    assert!(matches!(err, AuditError::MissingColumn { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{name}: no column 'gender' (asked for as the --by column); the columns are: id, \
             label, pred, sex, race, p"
        )
    );
    let err = read_predictions(f.path(), "y", "pred", &by("sex")).unwrap_err();
    assert!(
        err.to_string()
            .contains("no column 'y' (asked for as the --label column)")
    );
    let err = PredictionColumns::new("label", "pred", &by("sex"))
        .with_score("prob")
        .read(f.path())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no column 'prob' (asked for as the --score column)")
    );
}

#[test]
fn a_cell_that_is_not_an_integer_label() {
    let f = file("label,pred,sex\n1,1,F\n0,yes,M\n");
    let name = f.path().display().to_string();
    let err = read_predictions(f.path(), "label", "pred", &by("sex")).unwrap_err();
    assert!(matches!(err, AuditError::NotInteger { line: 3, .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "{name} line 3, column 'pred': 'yes' is not an integer class label (expected 0, 1, 2, ...)"
        )
    );
    let f = file("label,pred,sex\n-1,1,F\n");
    let err = read_predictions(f.path(), "label", "pred", &by("sex")).unwrap_err();
    assert!(
        err.to_string()
            .contains("line 2, column 'label': '-1' is not an integer"),
        "{err}"
    );
    // Integral floats (as pandas writes them) are accepted.
    let f = file("label,pred,sex\n1.0,0,F\n");
    let p = read_predictions(f.path(), "label", "pred", &by("sex")).unwrap();
    assert_eq!(p.labels, [1]);
}

#[test]
fn a_score_that_is_not_a_probability() {
    let f = file("label,pred,sex,p\n1,1,F,0.5\n0,1,M,1.5\n");
    let name = f.path().display().to_string();
    let err = PredictionColumns::new("label", "pred", &by("sex"))
        .with_score("p")
        .read(f.path())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{name} line 3, column 'p': '1.5' is not a probability in [0, 1]")
    );
}

#[test]
fn a_ragged_row() {
    let f = file("label,pred,sex\n1,1,F\n0,1\n");
    let name = f.path().display().to_string();
    let err = read_predictions(f.path(), "label", "pred", &by("sex")).unwrap_err();
    assert!(matches!(
        err,
        AuditError::RaggedRow {
            line: 3,
            expected: 3,
            got: 2,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!("{name} line 3: 2 fields, but the header has 3")
    );
}

#[test]
fn an_empty_file_and_a_header_without_rows() {
    let f = file("");
    let name = f.path().display().to_string();
    let err = read_predictions(f.path(), "label", "pred", &by("sex")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{name} is empty: expected a CSV header line naming the columns, then one row per sample"
        )
    );
    let f = file("label,pred,sex\n");
    let name = f.path().display().to_string();
    let err = read_predictions(f.path(), "label", "pred", &by("sex")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{name} has a header line but no rows: no samples to audit")
    );
}

#[test]
fn a_file_that_does_not_exist_and_a_duplicate_column() {
    let err = read_predictions("/nonexistent/preds.csv", "label", "pred", &by("sex")).unwrap_err();
    assert!(matches!(err, AuditError::Io { .. }));
    assert!(
        err.to_string()
            .starts_with("cannot read /nonexistent/preds.csv: "),
        "{err}"
    );
    let f = file("label,pred,sex,sex\n1,1,F,M\n");
    let name = f.path().display().to_string();
    let err = read_predictions(f.path(), "label", "pred", &by("sex")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{name}: the header has 2 columns named 'sex'; rename them so that each is unique")
    );
}

#[test]
fn parse_names_the_source_and_split_columns_trims() {
    let err = PredictionColumns::new("label", "pred", &by("sex"))
        .parse("label,pred,sex\n1,x,F\n".as_bytes(), "stdin")
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("stdin line 2, column 'pred': 'x'"),
        "{err}"
    );
    assert_eq!(split_columns(" sex , race,,"), ["sex", "race"]);
}
