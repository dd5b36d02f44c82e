//! Turns a `[data]` config into standardised train / validation / test splits.

use std::path::Path;

use kiln_data::{
    Corpus, DataError, Encoding, Samples, Standardizer, Table, TableOptions, embedded,
    load_mnist_dir, load_table, parse_table,
};
use serde::{Deserialize, Serialize};

use kiln_train::Result;
use kiln_zoo::DataShape;

use crate::config::DataConfig;

/// The splits one experiment trains, selects and tests on, already standardised.
#[derive(Debug, Clone)]
pub struct Splits {
    /// Training samples.
    pub train: Samples,
    /// Validation samples held out of the training split (early stopping, model selection).
    pub valid: Option<Samples>,
    /// Test samples, reported once at the end.
    pub test: Samples,
    /// What was done to the inputs; prediction repeats it.
    pub preprocess: Preprocess,
}

/// Input preprocessing fitted on the training split, saved with the model for prediction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Preprocess {
    /// Shape of one sample.
    pub sample_shape: Vec<usize>,
    /// Feature names (CSV header) when there are any.
    pub feature_names: Vec<String>,
    /// Number of classes.
    pub classes: usize,
    /// Mean per feature (or one global mean), or empty when not standardised.
    pub mean: Vec<f32>,
    /// Standard deviation per feature (or one global), or empty when not standardised.
    pub std: Vec<f32>,
    /// Language models: the characters of the vocabulary, in token order.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vocab: String,
    /// Tables with categorical (or log1p) columns: how a raw CSV row becomes the features, so
    /// that prediction takes raw rows. Absent for plain numeric tables and other data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

impl Preprocess {
    /// The shape of the data, for building a model.
    pub fn shape(&self) -> DataShape {
        DataShape {
            sample_shape: self.sample_shape.clone(),
            classes: self.classes,
            vocab: self.vocab.chars().count(),
        }
    }

    /// Applies the saved standardisation to one sample's values in place.
    pub fn apply(&self, values: &mut [f32]) {
        if !self.mean.is_empty() {
            Standardizer {
                mean: self.mean.clone(),
                std: self.std.clone(),
            }
            .apply_to_sample(values);
        }
    }
}

/// Loads the configured data and splits it with `seed`.
pub fn prepare(config: &DataConfig, seed: u64) -> Result<Splits> {
    let (train, test, encoding) = load(config, seed)?;
    let (mut train, mut valid) = if config.valid_fraction > 0.0 {
        let mut parts = train.split(
            &[1.0 - config.valid_fraction, config.valid_fraction],
            seed ^ 0x5eed,
        );
        let valid = parts.pop();
        (parts.remove(0), valid)
    } else {
        (train, None)
    };
    let mut test = test;
    let origin = config
        .path
        .as_deref()
        .map_or_else(|| config.dataset.clone(), |p| p.display().to_string());
    for (name, part) in [
        ("training", Some(&train)),
        ("test", Some(&test)),
        ("validation", valid.as_ref()),
    ] {
        if part.is_some_and(Samples::is_empty) {
            return Err(DataError::Empty {
                path: format!("{origin} ({name} split)").into(),
            }
            .into());
        }
    }
    let scaler = config.standardize.then(|| {
        if train.sample_shape.len() > 1 {
            Standardizer::fit_global(&train)
        } else {
            Standardizer::fit_per_feature(&train)
        }
    });
    if let Some(scaler) = &scaler {
        scaler.apply(&mut train);
        scaler.apply(&mut test);
        if let Some(valid) = valid.as_mut() {
            scaler.apply(valid);
        }
    }
    let classes = train.num_classes.max(test.num_classes);
    for part in [&mut train, &mut test].into_iter().chain(valid.as_mut()) {
        part.num_classes = classes;
    }
    let preprocess = Preprocess {
        sample_shape: train.sample_shape.clone(),
        feature_names: train.feature_names.clone(),
        classes,
        mean: scaler.as_ref().map_or_else(Vec::new, |s| s.mean.clone()),
        std: scaler.as_ref().map_or_else(Vec::new, |s| s.std.clone()),
        vocab: String::new(),
        encoding,
    };
    Ok(Splits {
        train,
        valid,
        test,
        preprocess,
    })
}

/// A text split by position for a language model: the first part trains, the rest validates.
#[derive(Debug, Clone)]
pub struct TextSplits {
    /// The vocabulary and the whole text's tokens.
    pub corpus: Corpus,
    /// Training tokens (the first `1 - valid_fraction` of the text).
    pub train: Vec<u32>,
    /// Validation tokens (the last `valid_fraction`).
    pub valid: Vec<u32>,
    /// The vocabulary, for prediction and generation.
    pub preprocess: Preprocess,
}

/// Loads the configured text (`shakespeare`, or a UTF-8 file at `data.path`) and splits it.
pub fn prepare_text(config: &DataConfig) -> Result<TextSplits> {
    let (text, origin) = match &config.path {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => DataError::Missing { path: path.clone() },
                _ => DataError::Io {
                    path: path.clone(),
                    source,
                },
            })?;
            let text = String::from_utf8(bytes).map_err(|_| DataError::Malformed {
                path: path.clone(),
                problem: "not UTF-8 text".into(),
            })?;
            (text, path.display().to_string())
        }
        None if config.dataset == "shakespeare" => {
            (embedded::shakespeare(), "embedded:shakespeare".into())
        }
        None => {
            return Err(kiln_train::KilnError::Config(format!(
                "data.dataset '{}' is not an embedded text (embedded: shakespeare); use data.path for your own text file",
                config.dataset
            )));
        }
    };
    let corpus = Corpus::from_text(&text, &origin)?;
    let (train, valid) = corpus.split_at_fraction(1.0 - config.valid_fraction);
    let preprocess = Preprocess {
        sample_shape: Vec::new(),
        feature_names: Vec::new(),
        classes: corpus.vocab.len(),
        mean: Vec::new(),
        std: Vec::new(),
        vocab: corpus.vocab.iter().collect(),
        encoding: None,
    };
    Ok(TextSplits {
        corpus,
        train,
        valid,
        preprocess,
    })
}

/// The configured data as (train, test) and, for a table that needs one, its encoding.
fn load(config: &DataConfig, seed: u64) -> Result<(Samples, Samples, Option<Encoding>)> {
    if let Some(path) = &config.path {
        if path.is_dir() {
            let (train, test) = load_mnist_dir(path)?;
            return Ok((train, test, None));
        }
        return Ok(split_table(
            load_table(path, &table_options(config))?,
            config,
            seed,
        ));
    }
    if config.dataset == "mnist-10k" {
        let (train, test) = embedded::mnist_10k();
        return Ok((train, test, None));
    }
    let bytes = embedded::embedded_csv(&config.dataset).ok_or_else(|| {
        kiln_train::KilnError::Config(format!(
            "data.dataset '{}' is not an embedded dataset (embedded: {}); \
             use data.path for your own CSV file or IDX directory",
            config.dataset,
            embedded::EMBEDDED
                .iter()
                .filter(|name| **name != "shakespeare")
                .copied()
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let origin = format!("embedded:{}", config.dataset);
    let table = parse_table(&bytes, Path::new(&origin), &table_options(config))?;
    Ok(split_table(table, config, seed))
}

/// The table loader's options from `[data]`.
fn table_options(config: &DataConfig) -> TableOptions {
    TableOptions {
        target: config.target.clone(),
        categorical: config.categorical.clone(),
        sensitive: config.sensitive.clone(),
        sensitive_as_features: config.sensitive_as_features,
        drop: config.drop.clone(),
        log1p: config.log1p.clone(),
        split_column: config.split_column().map(String::from),
    }
}

/// (train, test) by the table's split column, or a seeded random split by `test_fraction`;
/// the encoding is kept when it is more than the identity (categories, log1p).
fn split_table(
    table: Table,
    config: &DataConfig,
    seed: u64,
) -> (Samples, Samples, Option<Encoding>) {
    let (train, test) = table.split_by_column().unwrap_or_else(|| {
        let mut parts = table
            .samples
            .split(&[1.0 - config.test_fraction, config.test_fraction], seed);
        let test = parts.pop().expect("two parts");
        (parts.remove(0), test)
    });
    let encoding = (!table.encoding.is_identity()).then_some(table.encoding);
    (train, test, encoding)
}

/// The preprocessing of a run folder, if it was saved there.
pub fn load_preprocess(path: &Path) -> Result<Preprocess> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        kiln_train::KilnError::Input(format!("{}: cannot read: {e}", path.display()))
    })?;
    let preprocess: Preprocess = serde_json::from_str(&text)
        .map_err(|e| kiln_train::KilnError::Input(format!("{}: malformed: {e}", path.display())))?;
    preprocess.check().map_err(|problem| {
        kiln_train::KilnError::Input(format!("{}: {problem}", path.display()))
    })?;
    Ok(preprocess)
}

/// Samples of more values than this are refused (a gigabyte of f32 per sample).
const MAX_SAMPLE_VALUES: usize = 1 << 28;

impl Preprocess {
    /// Checks that the values read from `preprocess.json` fit together: a sample shape of
    /// positive sizes, one mean and standard deviation per feature (or one for all, or none),
    /// finite statistics, positive deviations, a vocabulary without repeated characters, and an
    /// encoding (if any) that is well formed and makes as many features as a sample has.
    pub fn check(&self) -> std::result::Result<(), String> {
        if !self.vocab.is_empty() {
            return self.check_vocab();
        }
        let size = self
            .sample_shape
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d).filter(|_| d > 0))
            .filter(|&n| n <= MAX_SAMPLE_VALUES && !self.sample_shape.is_empty())
            .ok_or_else(|| format!("sample_shape {:?} is not a usable shape", self.sample_shape))?;
        if self.classes == 0 {
            return Err("classes must be at least 1".into());
        }
        if self.mean.len() != self.std.len() {
            return Err(format!(
                "{} means but {} standard deviations",
                self.mean.len(),
                self.std.len()
            ));
        }
        if ![0, 1, size].contains(&self.mean.len()) {
            return Err(format!(
                "{} means and standard deviations for samples of {size} values (expected {size}, 1 or none)",
                self.mean.len()
            ));
        }
        if self.mean.iter().any(|m| !m.is_finite())
            || self.std.iter().any(|s| !(s.is_finite() && *s > 0.0))
        {
            return Err("means must be finite and standard deviations finite and positive".into());
        }
        if !self.feature_names.is_empty() && self.feature_names.len() != size {
            return Err(format!(
                "{} feature names for samples of {size} values",
                self.feature_names.len()
            ));
        }
        if let Some(encoding) = &self.encoding {
            encoding.check()?;
            if encoding.width() != size || self.sample_shape.len() != 1 {
                return Err(format!(
                    "the encoding makes {} features but samples have shape {:?}",
                    encoding.width(),
                    self.sample_shape
                ));
            }
            if !self.feature_names.is_empty() && self.feature_names != encoding.feature_names() {
                return Err("feature_names differ from the encoding's features".into());
            }
        }
        Ok(())
    }

    /// A language model's preprocessing: a vocabulary of distinct characters, one class each.
    fn check_vocab(&self) -> std::result::Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        if let Some(c) = self.vocab.chars().find(|c| !seen.insert(*c)) {
            return Err(format!("vocab repeats the character {c:?}"));
        }
        if self.classes != seen.len()
            || !self.sample_shape.is_empty()
            || !self.mean.is_empty()
            || self.encoding.is_some()
        {
            return Err(format!(
                "a vocabulary of {} characters needs classes = {} and no sample_shape or statistics",
                seen.len(),
                seen.len()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adult() -> DataConfig {
        toml::from_str(
            "dataset = \"adult-census-income\"\ntarget = \"income_gt_50k\"\n\
             sensitive = [\"sex\"]\ndrop = [\"fnlwgt\"]\nvalid_fraction = 0.1",
        )
        .unwrap()
    }

    #[test]
    fn adult_is_split_by_uci_with_its_encoding_and_groups() {
        let splits = prepare(&adult(), 42).unwrap();
        assert_eq!(splits.test.len(), 16_281);
        assert_eq!(
            splits.train.len() + splits.valid.as_ref().unwrap().len(),
            32_561
        );
        assert_eq!(
            splits
                .valid
                .as_ref()
                .unwrap()
                .attribute("sex")
                .unwrap()
                .len(),
            3_256
        );
        let p = &splits.preprocess;
        let encoding = p
            .encoding
            .as_ref()
            .expect("categorical columns need an encoding");
        assert_eq!(encoding.width(), p.sample_shape[0]);
        assert_eq!(p.mean.len(), encoding.width(), "standardised per feature");
        assert!(p.check().is_ok());
        let json = serde_json::to_string(p).unwrap();
        assert_eq!(serde_json::from_str::<Preprocess>(&json).unwrap(), *p);

        let mut wrong = p.clone();
        wrong.sample_shape = vec![p.sample_shape[0] + 1];
        wrong.feature_names.clear();
        wrong.mean.clear();
        wrong.std.clear();
        assert!(wrong.check().unwrap_err().contains("the encoding makes"));
    }

    #[test]
    fn numeric_tables_need_no_encoding_and_old_preprocess_files_still_load() {
        let config: DataConfig = toml::from_str("dataset = \"breast-cancer\"").unwrap();
        let splits = prepare(&config, 42).unwrap();
        assert!(splits.preprocess.encoding.is_none());
        assert_eq!((splits.train.len(), splits.test.len()), (455, 114));
        let json = serde_json::to_string(&splits.preprocess).unwrap();
        assert!(!json.contains("encoding"), "{json}");
        let old =
            r#"{"sample_shape":[2],"feature_names":["a","b"],"classes":2,"mean":[],"std":[]}"#;
        let old: Preprocess = serde_json::from_str(old).unwrap();
        assert!(old.encoding.is_none() && old.check().is_ok());
    }

    #[test]
    fn unknown_columns_are_refused_naming_the_column() {
        let mut config = adult();
        config.sensitive = vec!["gender".into()];
        let err = prepare(&config, 42).unwrap_err().to_string();
        assert!(
            err.contains("the sensitive list names column 'gender'")
                && err.contains("columns: age,"),
            "{err}"
        );
    }
}
