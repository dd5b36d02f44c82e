//! Permutation feature importance: the informative feature ranks first, seeds reproduce,
//! grouped columns move together, and each error.

use kiln_explain::{
    ExplainError, FeatureGroup, grouped_permutation_importance, permutation_importance,
    rank_importances,
};

/// 200 rows `[label, noise]`: the label is 0 or 1, the noise an unrelated value in [0, 1).
fn label_and_noise() -> (Vec<f32>, Vec<u32>) {
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for i in 0..200u32 {
        let label = (i * 7 + i / 3) % 2;
        labels.push(label);
        features.push(label as f32);
        features.push(((i * 37 + 11) % 101) as f32 / 101.0);
    }
    (features, labels)
}

/// Predicts class 1 where column 0 exceeds one half (it only looks at the informative column).
fn threshold(rows: &[f32]) -> Vec<u32> {
    rows.chunks(2).map(|r| u32::from(r[0] > 0.5)).collect()
}

#[test]
fn the_feature_carrying_the_label_ranks_above_noise() {
    let (features, labels) = label_and_noise();
    let importances = permutation_importance(threshold, &features, &labels, 2, 10, 42).unwrap();
    assert_eq!(importances.len(), 2);
    let (signal, noise) = (&importances[0], &importances[1]);
    assert_eq!((signal.name.as_str(), noise.name.as_str()), ("0", "1"));
    assert_eq!(signal.baseline_accuracy, 1.0);
    // Shuffling a balanced binary label leaves about half the rows right.
    assert!(
        (0.35..0.65).contains(&signal.mean_drop),
        "{}",
        signal.mean_drop
    );
    assert!(signal.std > 0.0 && signal.drops.len() == 10);
    assert_eq!((noise.mean_drop, noise.std), (0.0, 0.0));
    let ranked = rank_importances(importances);
    assert_eq!(ranked[0].index, 0);
    assert_eq!(ranked[0].columns, [0]);
}

#[test]
fn the_same_seed_gives_the_same_result() {
    let (features, labels) = label_and_noise();
    let run = |seed| permutation_importance(threshold, &features, &labels, 2, 5, seed).unwrap();
    assert_eq!(run(7), run(7));
    assert_ne!(run(7)[0].drops, run(8)[0].drops);
}

#[test]
fn grouped_one_hot_columns_are_permuted_together() {
    // Rows: a one-hot colour in columns 0..3 that is the label, then a noise column.
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for i in 0..90u32 {
        let colour = (i * 5 + i / 7) % 3;
        labels.push(colour);
        let mut row = [0.0f32; 4];
        row[colour as usize] = 1.0;
        row[3] = ((i * 13) % 17) as f32;
        features.extend(row);
    }
    let predict = |rows: &[f32]| -> Vec<u32> {
        rows.chunks(4)
            .map(|r| {
                let ones = r[..3].iter().filter(|&&v| v == 1.0).count();
                assert_eq!(ones, 1, "a permuted row lost its one-hot code: {r:?}");
                r[..3].iter().position(|&v| v == 1.0).unwrap() as u32
            })
            .collect()
    };
    let groups = [
        FeatureGroup::new("colour", vec![0, 1, 2]),
        FeatureGroup::new("noise", vec![3]),
    ];
    let importances =
        grouped_permutation_importance(predict, &features, &labels, 4, &groups, 8, 1).unwrap();
    assert_eq!(importances[0].name, "colour");
    assert!(importances[0].mean_drop > 0.4, "{:?}", importances[0]);
    assert_eq!(importances[1].mean_drop, 0.0);
    let json = serde_json::to_string(&importances).unwrap();
    assert!(json.contains("\"mean_drop\""), "{json}");
}

#[test]
fn errors() {
    let (features, labels) = label_and_noise();
    let pi = |features: &[f32], labels: &[u32], width, repeats| {
        permutation_importance(threshold, features, labels, width, repeats, 0).unwrap_err()
    };
    assert!(matches!(
        pi(&features, &labels, 0, 3),
        ExplainError::Zero("width")
    ));
    assert!(matches!(
        pi(&features, &labels, 2, 0),
        ExplainError::Zero("repeats")
    ));
    assert!(matches!(pi(&[], &[], 2, 3), ExplainError::Empty("labels")));
    assert!(matches!(
        pi(&features[..5], &labels, 2, 3),
        ExplainError::LengthMismatch {
            expected: 400,
            actual: 5,
            ..
        }
    ));
    let short = |_: &[f32]| vec![0u32; 3];
    assert!(matches!(
        permutation_importance(short, &features, &labels, 2, 3, 0).unwrap_err(),
        ExplainError::BadPrediction {
            expected: 200,
            actual: 3
        }
    ));
    let grouped = |groups: &[FeatureGroup]| {
        grouped_permutation_importance(threshold, &features, &labels, 2, groups, 3, 0).unwrap_err()
    };
    let error = grouped(&[FeatureGroup::new("far", vec![0, 2])]);
    assert!(
        matches!(
            error,
            ExplainError::ColumnOutOfRange {
                column: 2,
                width: 2,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("\"far\""), "{error}");
    assert!(matches!(
        grouped(&[FeatureGroup::new("none", vec![])]),
        ExplainError::Empty(_)
    ));
    assert!(matches!(
        grouped(&[]),
        ExplainError::Empty("feature groups")
    ));
}
