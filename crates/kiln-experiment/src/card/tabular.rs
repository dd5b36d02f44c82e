//! Permutation feature importance of a tabular run on its test split, the one-hot columns of a
//! categorical feature permuted together.

use std::cell::RefCell;

use kiln_data::Samples;
use kiln_explain::{FeatureGroup, grouped_permutation_importance, rank_importances};
use kiln_train::{KilnError, Result};
use serde::{Deserialize, Serialize};

use super::{argmax, probabilities};
use crate::TrainedRun;

/// Permutations of each feature.
const REPEATS: usize = 5;

/// One feature's importance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeatureImportance {
    /// The column (a categorical's one-hot columns count as one).
    pub feature: String,
    /// Mean test accuracy lost when it is shuffled.
    pub mean_drop: f64,
    /// Standard deviation of that loss over the repeats.
    pub std: f64,
}

/// The model's features grouped by source column: `workclass=Private` and
/// `workclass=State-gov` are one group `workclass`; a numeric column is a group of its own.
pub fn column_groups(feature_names: &[String]) -> Vec<FeatureGroup> {
    let mut groups: Vec<FeatureGroup> = Vec::new();
    for (i, name) in feature_names.iter().enumerate() {
        let column = name.split_once('=').map_or(name.as_str(), |(c, _)| c);
        match groups.iter_mut().find(|g| g.name == column) {
            Some(group) => group.columns.push(i),
            None => groups.push(FeatureGroup::new(column, vec![i])),
        }
    }
    groups
}

/// Permutation importance of `run`'s features on `test`, most important first.
pub fn permutation_importance(
    run: &TrainedRun,
    test: &Samples,
    seed: u64,
) -> Result<Vec<FeatureImportance>> {
    let width = test.sample_size();
    let names = if test.feature_names.len() == width {
        test.feature_names.clone()
    } else {
        (0..width).map(|i| format!("feature {i}")).collect()
    };
    let failure = RefCell::new(None);
    let predict = |rows: &[f32]| -> Vec<u32> {
        let samples = Samples {
            features: rows.to_vec(),
            sample_shape: test.sample_shape.clone(),
            labels: vec![0; rows.len() / width],
            num_classes: test.num_classes,
            ..Samples::default()
        };
        match probabilities(run, &samples) {
            Ok(p) => argmax(&p),
            Err(e) => {
                failure.borrow_mut().get_or_insert(e);
                vec![u32::MAX; rows.len() / width]
            }
        }
    };
    let importances = grouped_permutation_importance(
        predict,
        &test.features,
        &test.labels,
        width,
        &column_groups(&names),
        REPEATS,
        seed,
    )
    .map_err(|e| KilnError::Input(format!("permutation importance: {e}")))?;
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    Ok(rank_importances(importances)
        .into_iter()
        .map(|i| FeatureImportance {
            feature: i.name,
            mean_drop: i.mean_drop,
            std: i.std,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_hot_columns_form_one_group() {
        let names: Vec<String> = ["age", "sex=Female", "sex=Male", "hours"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let groups = column_groups(&names);
        let got: Vec<(&str, &[usize])> = groups
            .iter()
            .map(|g| (g.name.as_str(), g.columns.as_slice()))
            .collect();
        assert_eq!(
            got,
            vec![("age", &[0][..]), ("sex", &[1, 2][..]), ("hours", &[3][..])]
        );
    }
}
