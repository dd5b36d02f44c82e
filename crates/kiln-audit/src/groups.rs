//! Grouping samples by the values of one or more sensitive features.

use std::collections::BTreeMap;

use crate::error::{AuditError, Result, check_len};

/// The groups of samples that share the value of every sensitive feature, as Fairlearn forms
/// them: several features group by the tuple of values. Groups are sorted by that tuple (for one
/// feature: by name) and named by its values joined with `", "` (`Female, White`).
#[derive(Debug, Clone)]
pub(crate) struct Grouping {
    /// Names of the features (`sex`, `race`).
    pub features: Vec<String>,
    /// Group names, sorted.
    pub names: Vec<String>,
    /// Each group's tuple of values.
    pub values: Vec<Vec<String>>,
    /// The group of each sample (an index into `names`).
    pub of_sample: Vec<usize>,
}

/// Fairlearn's names for unnamed sensitive features.
pub(crate) fn default_feature_names(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("sensitive_feature_{i}"))
        .collect()
}

impl Grouping {
    /// Groups `n` samples by the columns of `sensitive` (one value per sample each).
    pub fn new(n: usize, features: &[String], sensitive: &[Vec<String>]) -> Result<Self> {
        if sensitive.is_empty() {
            return Err(AuditError::NoSensitiveFeature);
        }
        if features.len() != sensitive.len() {
            return Err(AuditError::InvalidArgument {
                what: "sensitive feature names",
                message: format!(
                    "{} names for {} sensitive columns",
                    features.len(),
                    sensitive.len()
                ),
            });
        }
        for (name, column) in features.iter().zip(sensitive) {
            check_len(
                format!("sensitive feature '{name}'"),
                "y_true",
                n,
                column.len(),
            )?;
        }
        let mut index: BTreeMap<Vec<&str>, usize> = BTreeMap::new();
        let keys: Vec<Vec<&str>> = (0..n)
            .map(|i| sensitive.iter().map(|c| c[i].as_str()).collect())
            .collect();
        for key in &keys {
            index.entry(key.clone()).or_insert(0);
        }
        for (rank, slot) in index.values_mut().enumerate() {
            *slot = rank;
        }
        let of_sample = keys.iter().map(|k| index[k]).collect();
        let values: Vec<Vec<String>> = index
            .keys()
            .map(|k| k.iter().map(|s| s.to_string()).collect())
            .collect();
        let names = values.iter().map(|v| v.join(", ")).collect();
        Ok(Grouping {
            features: features.to_vec(),
            names,
            values,
            of_sample,
        })
    }
}

/// Finds `name` among `names`, or says which groups there are.
pub(crate) fn find_group(names: &[String], name: &str) -> Result<usize> {
    names
        .iter()
        .position(|g| g == name)
        .ok_or_else(|| AuditError::UnknownGroup {
            group: name.to_string(),
            available: names.to_vec(),
        })
}
