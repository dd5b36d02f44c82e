use super::*;

fn parse(text: &str, options: &TableOptions) -> Result<Table, DataError> {
    parse_table(text.as_bytes(), Path::new("t.csv"), options)
}

fn options() -> TableOptions {
    TableOptions::new("y")
}

const PEOPLE: &str = "\
age,color,sex,y
30,red,F,1
41,blue,M,0
25,,F,0
52,red,?,1
";

#[test]
fn one_hot_of_a_tiny_table_is_the_hand_written_one() {
    let table = parse(PEOPLE, &options()).unwrap();
    let s = &table.samples;
    assert_eq!(
        s.feature_names,
        vec![
            "age",
            "color=?",
            "color=blue",
            "color=red",
            "sex=?",
            "sex=F",
            "sex=M"
        ]
    );
    #[rustfmt::skip]
    let expected = vec![
        30.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0,
        41.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0,
        25.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0,
        52.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0,
    ];
    assert_eq!(s.features, expected);
    assert_eq!(s.sample_shape, vec![7]);
    assert_eq!((s.labels.clone(), s.num_classes), (vec![1, 0, 0, 1], 2));
    assert!(s.groups.is_empty() && table.test_rows.is_empty());
    assert_eq!(table.encoding.width(), 7);
    assert_eq!(table.encoding.feature_names(), s.feature_names);
}

#[test]
fn an_empty_field_and_a_question_mark_are_one_level_of_their_own() {
    let table = parse("c,y\na,0\n,1\n?,0\n  ,1\n", &options()).unwrap();
    assert_eq!(
        table.encoding.columns,
        vec![ColumnEncoding::Categorical {
            name: "c".into(),
            levels: vec!["?".into(), "a".into()],
        }]
    );
    assert_eq!(
        table.samples.features,
        vec![0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0]
    );
}

#[test]
fn sensitive_columns_follow_the_samples_but_are_not_features() {
    let opts = TableOptions {
        sensitive: vec!["sex".into()],
        ..options()
    };
    let table = parse(PEOPLE, &opts).unwrap();
    let s = &table.samples;
    assert_eq!(s.sample_size(), 4);
    assert!(!s.feature_names.iter().any(|f| f.starts_with("sex")));
    assert_eq!(s.attribute("sex").unwrap(), vec!["F", "M", "F", "?"]);
    let err = s.attribute("race").unwrap_err();
    assert!(err.to_string().contains("(attributes: sex)"), "{err}");
    let picked = s.select(&[3, 1]);
    assert_eq!(picked.attribute("sex").unwrap(), vec!["?", "M"]);

    let as_features = TableOptions {
        sensitive_as_features: true,
        ..opts
    };
    let s = parse(PEOPLE, &as_features).unwrap().samples;
    assert_eq!(s.sample_size(), 7);
    assert_eq!(s.attribute("sex").unwrap(), vec!["F", "M", "F", "?"]);
}

#[test]
fn dropped_columns_are_ignored_and_log1p_applies() {
    let opts = TableOptions {
        drop: vec!["color".into(), "sex".into()],
        log1p: vec!["age".into()],
        ..options()
    };
    let table = parse(PEOPLE, &opts).unwrap();
    assert_eq!(table.samples.feature_names, vec!["age"]);
    let expected: Vec<f32> = [30f64, 41.0, 25.0, 52.0]
        .iter()
        .map(|v| v.ln_1p() as f32)
        .collect();
    assert_eq!(table.samples.features, expected);
    assert!(!table.encoding.is_identity());
}

#[test]
fn listed_categorical_columns_are_the_only_ones() {
    let opts = TableOptions {
        categorical: Some(vec!["age".into(), "color".into()]),
        drop: vec!["sex".into()],
        ..options()
    };
    let table = parse(PEOPLE, &opts).unwrap();
    assert_eq!(
        table.samples.feature_names[..4],
        ["age=25", "age=30", "age=41", "age=52"]
    );
    let opts = TableOptions {
        categorical: Some(vec!["color".into()]),
        ..options()
    };
    let err = parse(PEOPLE, &opts).unwrap_err();
    assert!(
        matches!(err, DataError::NonNumeric { line: 2, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("t.csv: line 2, column 'sex': 'F' is not a number"),
        "{err}"
    );
}

#[test]
fn a_numeric_table_loads_as_parse_csv_does() {
    let text = "a,y,b\n1,0,2\n3.5,2,-4\n";
    let table = parse(text, &options()).unwrap();
    let old = crate::parse_csv(text.as_bytes(), Path::new("t.csv"), "y").unwrap();
    assert_eq!(table.samples, old);
    assert!(table.encoding.is_identity());
}

#[test]
fn a_missing_number_names_line_and_column() {
    let err = parse("a,b,y\n1,2,0\n3,?,1\n", &options()).unwrap_err();
    assert!(
        matches!(err, DataError::MissingValue { line: 3, ref column, .. } if column == "b"),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("t.csv: line 3, column 'b': missing value")
    );
}

#[test]
fn unknown_columns_in_any_list_are_named_with_the_available_ones() {
    let cases = [
        (
            TableOptions {
                categorical: Some(vec!["colour".into()]),
                ..options()
            },
            "categorical",
        ),
        (
            TableOptions {
                sensitive: vec!["colour".into()],
                ..options()
            },
            "sensitive",
        ),
        (
            TableOptions {
                drop: vec!["colour".into()],
                ..options()
            },
            "drop",
        ),
        (
            TableOptions {
                log1p: vec!["colour".into()],
                ..options()
            },
            "log1p",
        ),
        (
            TableOptions {
                split_column: Some("colour".into()),
                ..options()
            },
            "split_column",
        ),
    ];
    for (opts, list) in cases {
        let err = parse(PEOPLE, &opts).unwrap_err();
        assert!(matches!(err, DataError::UnknownColumn { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!(
                "t.csv: line 1: the {list} list names column 'colour', which the header does not have (columns: age, color, sex, y)"
            )
        );
    }
    let err = parse(PEOPLE, &TableOptions::new("label")).unwrap_err();
    assert!(matches!(err, DataError::MissingTarget { .. }), "{err}");
}

#[test]
fn conflicting_roles_and_repeated_headers_are_refused() {
    let opts = TableOptions {
        drop: vec!["y".into()],
        ..options()
    };
    let err = parse(PEOPLE, &opts).unwrap_err().to_string();
    assert!(
        err.contains("the target column 'y' cannot also be in the drop list"),
        "{err}"
    );
    let opts = TableOptions {
        drop: vec!["sex".into()],
        sensitive: vec!["sex".into()],
        ..options()
    };
    let err = parse(PEOPLE, &opts).unwrap_err().to_string();
    assert!(
        err.contains("column 'sex' cannot be in both the drop and the sensitive lists"),
        "{err}"
    );
    let err = parse("a,a,y\n1,2,0\n", &options()).unwrap_err().to_string();
    assert!(
        err.contains("line 1: the header has the column 'a' twice"),
        "{err}"
    );
    let opts = TableOptions {
        drop: vec!["age".into(), "color".into(), "sex".into()],
        ..options()
    };
    let err = parse(PEOPLE, &opts).unwrap_err().to_string();
    assert!(err.contains("no feature columns"), "{err}");
}

#[test]
fn ragged_rows_and_bad_labels_name_the_line() {
    let err = parse("a,y\n1,0\n2,1,5\n", &options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv: line 3: 3 fields but the header has 2 columns"
    );
    let err = parse("a,y\n1,0\n\n2\n", &options()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv: line 4: 1 fields but the header has 2 columns"
    );
    let err = parse("a,y\n1,0\n2,yes\n", &options()).unwrap_err();
    assert!(matches!(err, DataError::BadLabel { line: 3, .. }), "{err}");
    assert!(matches!(
        parse("a,y\n", &options()).unwrap_err(),
        DataError::Empty { .. }
    ));
}

#[test]
fn an_absurd_number_of_levels_is_refused() {
    let mut text = String::from("id,y\n");
    for i in 0..=MAX_LEVELS {
        text.push_str(&format!("id{i},0\n"));
    }
    let err = parse(&text, &options()).unwrap_err();
    assert!(
        matches!(err, DataError::TooManyLevels { line, .. } if line == MAX_LEVELS + 2),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("column 'id': more than 10000 distinct values"),
        "{err}"
    );
    text.truncate(text.rfind("id").unwrap());
    assert_eq!(
        parse(&text, &options()).unwrap().samples.sample_size(),
        MAX_LEVELS
    );
}

#[test]
fn the_split_column_splits_rows() {
    let text = "a,y,split\n1,0,train\n2,1,test\n3,1, train\n4,0,test\n";
    let opts = TableOptions {
        split_column: Some("split".into()),
        ..options()
    };
    let table = parse(text, &opts).unwrap();
    assert_eq!(table.samples.feature_names, vec!["a"]);
    assert_eq!(table.test_rows, vec![false, true, false, true]);
    let (train, test) = table.split_by_column().unwrap();
    assert_eq!(
        (train.features, test.features),
        (vec![1.0, 3.0], vec![2.0, 4.0])
    );
    assert_eq!(test.labels, vec![1, 0]);
    let unsplit = parse(text, &options()).unwrap();
    assert_eq!(
        unsplit.samples.feature_names,
        vec!["a", "split=test", "split=train"],
        "without the option the column is just a category"
    );

    let err = parse("a,y,split\n1,0,train\n2,1,valid\n", &opts).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv: line 3, column 'split': 'valid' is neither 'train' nor 'test'"
    );
}

#[test]
fn a_missing_file_is_named() {
    let err = load_table(Path::new("/nonexistent/t.csv"), &options()).unwrap_err();
    assert_eq!(err.to_string(), "/nonexistent/t.csv: file not found");
}
