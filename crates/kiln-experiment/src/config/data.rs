//! `[data]`: where the data comes from and how it is split.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Data source and split.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// An embedded dataset: `breast-cancer`, `iris`, `adult-census-income`, `mnist-10k` (or
    /// `shakespeare` for a language model).
    pub dataset: String,
    /// A user's own data instead: a CSV file (with `target`) or an MNIST-style IDX directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Target column of a CSV table.
    #[serde(default = "default_target")]
    pub target: String,
    /// Fraction held out for the test split (datasets without their own test split).
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Fraction of the training split held out for validation (early stopping, model selection).
    #[serde(default)]
    pub valid_fraction: f64,
    /// Tables: the categorical columns (one-hot encoded); omitted = detect them (a column is
    /// categorical when any non-missing cell is not a number).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categorical: Option<Vec<String>>,
    /// Tables: sensitive attributes, kept per sample (for group metrics) and not given to the
    /// model unless `sensitive_as_features`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<String>,
    /// Tables: also give the sensitive columns to the model as features.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive_as_features: bool,
    /// Tables: columns ignored entirely.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drop: Vec<String>,
    /// Tables: numeric columns taken as `ln(1 + value)` (skewed counts and amounts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log1p: Vec<String>,
    /// Tables: a column of `train` / `test` that splits the rows instead of `test_fraction`
    /// (default `split` for `adult-census-income`; `""` splits randomly).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_column: Option<String>,
    /// Standardise features with the training split's statistics.
    #[serde(default = "yes")]
    pub standardize: bool,
    /// Training images only: random shifts of up to this many pixels (seeded).
    #[serde(default)]
    pub augment_shift: f32,
    /// Training images only: random rotations of up to this many degrees either way (seeded).
    #[serde(default)]
    pub augment_rotation: f32,
}

fn default_target() -> String {
    "target".into()
}
fn default_test_fraction() -> f64 {
    0.2
}
fn yes() -> bool {
    true
}

impl DataConfig {
    /// Checks the ranges; the message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.test_fraction) {
            return Err("data.test_fraction must be in [0, 1)".into());
        }
        if !(0.0..1.0).contains(&self.valid_fraction) {
            return Err("data.valid_fraction must be in [0, 1)".into());
        }
        if !(self.augment_shift >= 0.0 && self.augment_rotation >= 0.0) {
            return Err("data.augment_shift and data.augment_rotation must be >= 0".into());
        }
        self.validate_table_keys()
    }

    /// The split column to use: the configured one, `split` for the embedded Adult data, or
    /// none (`""` or not set) for a random split.
    pub fn split_column(&self) -> Option<&str> {
        match self.split_column.as_deref() {
            Some("") => None,
            Some(column) => Some(column),
            None if self.path.is_none() && self.dataset == ADULT => Some("split"),
            None => None,
        }
    }

    /// True when a table key (`categorical`, `sensitive`, ...) is set.
    fn has_table_keys(&self) -> bool {
        self.categorical.is_some()
            || !self.sensitive.is_empty()
            || self.sensitive_as_features
            || !self.drop.is_empty()
            || !self.log1p.is_empty()
            || self.split_column.as_deref().is_some_and(|c| !c.is_empty())
    }

    /// The table keys: column names that are not empty, not repeated, not the target, and
    /// no column in two lists that exclude each other; only for tables.
    fn validate_table_keys(&self) -> Result<(), String> {
        if !self.has_table_keys() {
            return Ok(());
        }
        if self.path.is_none() && NOT_TABLES.contains(&self.dataset.as_str()) {
            return Err(format!(
                "data.categorical, sensitive, sensitive_as_features, drop, log1p and split_column apply to tables (a CSV file or adult-census-income, breast-cancer, iris), not to {}",
                self.dataset
            ));
        }
        let split: Vec<String> = self.split_column().map(String::from).into_iter().collect();
        let categorical = self.categorical.clone().unwrap_or_default();
        let lists: [(&str, &[String]); 5] = [
            ("categorical", &categorical),
            ("sensitive", &self.sensitive),
            ("drop", &self.drop),
            ("log1p", &self.log1p),
            ("split_column", &split),
        ];
        for (key, names) in lists {
            if let Some(name) = names.iter().find(|n| n.trim().is_empty()) {
                return Err(format!("data.{key}: column name '{name}' is empty"));
            }
            let repeated = names
                .iter()
                .enumerate()
                .find_map(|(i, n)| names[..i].contains(n).then_some(n));
            if let Some(name) = repeated {
                return Err(format!("data.{key} names the column '{name}' twice"));
            }
            if names.contains(&self.target) {
                return Err(format!(
                    "data.{key} must not name the target column '{}'",
                    self.target
                ));
            }
        }
        let exclusive = [
            ("drop", "sensitive"),
            ("drop", "log1p"),
            ("drop", "categorical"),
            ("categorical", "log1p"),
            ("split_column", "drop"),
            ("split_column", "sensitive"),
            ("split_column", "log1p"),
            ("split_column", "categorical"),
        ];
        let list = |key: &str| {
            lists
                .iter()
                .find(|(k, _)| *k == key)
                .map_or(&[][..], |l| l.1)
        };
        for (a, b) in exclusive {
            if let Some(name) = list(a).iter().find(|n| list(b).contains(n)) {
                return Err(format!(
                    "data.{a} and data.{b} both name the column '{name}'"
                ));
            }
        }
        if self.sensitive_as_features && self.sensitive.is_empty() {
            return Err("data.sensitive_as_features needs data.sensitive columns".into());
        }
        Ok(())
    }
}

/// The embedded UCI Adult table.
const ADULT: &str = "adult-census-income";

/// Embedded datasets that are not tables.
const NOT_TABLES: [&str; 2] = ["mnist-10k", "shakespeare"];

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> DataConfig {
        toml::from_str(&format!(
            "dataset = \"adult-census-income\"\ntarget = \"y\"\n{extra}"
        ))
        .unwrap()
    }

    #[test]
    fn table_keys_parse_and_default_to_nothing() {
        let c = config(
            "categorical = [\"a\"]\nsensitive = [\"sex\"]\ndrop = [\"w\"]\nlog1p = [\"g\"]\nsplit_column = \"part\"",
        );
        assert_eq!(c.categorical, Some(vec!["a".to_string()]));
        assert_eq!((c.sensitive.len(), c.drop.len(), c.log1p.len()), (1, 1, 1));
        assert_eq!(c.split_column(), Some("part"));
        assert!(c.validate().is_ok());
        let plain: DataConfig = toml::from_str("dataset = \"iris\"").unwrap();
        assert!(
            plain.categorical.is_none()
                && plain.sensitive.is_empty()
                && plain.split_column().is_none()
        );
        let text = toml::to_string(&plain).unwrap();
        for key in ["categorical", "sensitive", "drop", "log1p", "split_column"] {
            assert!(!text.contains(key), "an unset {key} is not written: {text}");
        }
    }

    #[test]
    fn adult_splits_by_its_split_column_unless_told_otherwise() {
        assert_eq!(config("").split_column(), Some("split"));
        assert_eq!(config("split_column = \"\"").split_column(), None);
        let mut own = config("");
        own.path = Some("x.csv".into());
        assert_eq!(own.split_column(), None);
    }

    #[test]
    fn bad_table_keys_name_the_key() {
        let err = |extra: &str| config(extra).validate().unwrap_err();
        assert_eq!(
            err("drop = [\"y\"]"),
            "data.drop must not name the target column 'y'"
        );
        assert_eq!(
            err("sensitive = [\"a\", \"a\"]"),
            "data.sensitive names the column 'a' twice"
        );
        assert_eq!(
            err("categorical = [\"\"]"),
            "data.categorical: column name '' is empty"
        );
        assert_eq!(
            err("drop = [\"sex\"]\nsensitive = [\"sex\"]"),
            "data.drop and data.sensitive both name the column 'sex'"
        );
        assert_eq!(
            err("categorical = [\"g\"]\nlog1p = [\"g\"]"),
            "data.categorical and data.log1p both name the column 'g'"
        );
        assert_eq!(
            err("sensitive_as_features = true"),
            "data.sensitive_as_features needs data.sensitive columns"
        );
        let mut mnist = config("sensitive = [\"s\"]");
        mnist.dataset = "mnist-10k".into();
        assert!(mnist.validate().unwrap_err().contains("apply to tables"));
    }
}
