//! Reading a predictions CSV (one row per sample: label, prediction, sensitive columns, and
//! optionally a score), as `kiln fairness PREDICTIONS.csv --label COL --prediction COL --by COL`
//! does.

use std::fmt;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{AuditError, LabelKind, Result, check_binary};
use crate::frame::MetricFrame;
use crate::multiclass::{MulticlassFrame, MulticlassReport};
use crate::report::FairnessReport;

/// Which columns of the CSV hold what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictionColumns {
    /// The true class (`--label`).
    pub label: String,
    /// The predicted class (`--prediction`).
    pub prediction: String,
    /// The sensitive features to group by (`--by`).
    pub by: Vec<String>,
    /// The model's probability of class 1 (`--score`), for mitigation.
    pub score: Option<String>,
}

impl PredictionColumns {
    /// Label, prediction and sensitive columns, no score.
    pub fn new(label: &str, prediction: &str, by: &[String]) -> Self {
        PredictionColumns {
            label: label.to_string(),
            prediction: prediction.to_string(),
            by: by.to_vec(),
            score: None,
        }
    }

    /// Also reads `score` (probabilities in [0, 1]).
    pub fn with_score(mut self, score: &str) -> Self {
        self.score = Some(score.to_string());
        self
    }

    /// Reads the file at `path`.
    pub fn read(&self, path: impl AsRef<Path>) -> Result<Predictions> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let reader = std::fs::File::open(path).map_err(|source| AuditError::Io {
            file: file.clone(),
            source,
        })?;
        self.parse(reader, &file)
    }

    /// Reads CSV text from `reader`; `file` names it in error messages.
    pub fn parse<R: Read>(&self, reader: R, file: &str) -> Result<Predictions> {
        let mut rdr = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let header = rdr.headers().map_err(|e| csv_error(file, e))?.clone();
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(AuditError::EmptyFile { file: file.into() });
        }
        let names: Vec<String> = header.iter().map(str::to_string).collect();
        let find = |column: &str, role: &'static str| -> Result<usize> {
            let hits: Vec<usize> = (0..names.len()).filter(|&i| names[i] == column).collect();
            match hits.len() {
                0 => Err(AuditError::MissingColumn {
                    file: file.into(),
                    column: column.into(),
                    role,
                    available: names.clone(),
                }),
                1 => Ok(hits[0]),
                count => Err(AuditError::DuplicateColumn {
                    file: file.into(),
                    column: column.into(),
                    count,
                }),
            }
        };
        let label = find(&self.label, "--label")?;
        let prediction = find(&self.prediction, "--prediction")?;
        let by = self
            .by
            .iter()
            .map(|c| find(c, "--by"))
            .collect::<Result<Vec<_>>>()?;
        let score = self
            .score
            .as_deref()
            .map(|c| find(c, "--score"))
            .transpose()?;

        let mut out = Predictions {
            file: file.into(),
            columns: self.clone(),
            labels: Vec::new(),
            predictions: Vec::new(),
            sensitive: vec![Vec::new(); by.len()],
            scores: score.map(|_| Vec::new()),
            lines: Vec::new(),
        };
        for record in rdr.records() {
            let record = record.map_err(|e| csv_error(file, e))?;
            let line = record.position().map_or(0, |p| p.line());
            if record.len() != names.len() {
                return Err(AuditError::RaggedRow {
                    file: file.into(),
                    line,
                    expected: names.len(),
                    got: record.len(),
                });
            }
            let cell = |i: usize| (&record[i], names[i].as_str());
            out.labels.push(parse_class(cell(label), file, line)?);
            out.predictions
                .push(parse_class(cell(prediction), file, line)?);
            for (column, &i) in out.sensitive.iter_mut().zip(&by) {
                column.push(record[i].to_string());
            }
            if let (Some(scores), Some(i)) = (out.scores.as_mut(), score) {
                scores.push(parse_probability(cell(i), file, line)?);
            }
            out.lines.push(line);
        }
        if out.lines.is_empty() {
            return Err(AuditError::NoRows { file: file.into() });
        }
        Ok(out)
    }
}

/// Reads `path` with these label, prediction and sensitive columns (no score).
pub fn read_predictions(
    path: impl AsRef<Path>,
    label: &str,
    prediction: &str,
    by: &[String],
) -> Result<Predictions> {
    PredictionColumns::new(label, prediction, by).read(path)
}

/// Splits a command-line list `sex,race` into column names (trimmed, empty parts dropped).
pub fn split_columns(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The samples of a predictions CSV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    /// The file they came from.
    pub file: String,
    /// The columns read.
    pub columns: PredictionColumns,
    /// True classes.
    pub labels: Vec<u32>,
    /// Predicted classes.
    pub predictions: Vec<u32>,
    /// One column of values per sensitive feature, in `columns.by` order.
    pub sensitive: Vec<Vec<String>>,
    /// Probabilities of class 1, where a score column was asked for.
    pub scores: Option<Vec<f64>>,
    /// The line of each sample in the file (1-based; the header is line 1).
    pub lines: Vec<u64>,
}

/// A binary or a multi-class audit, whichever the labels allow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditReport {
    /// Labels and predictions in {0, 1}: every metric.
    Binary(FairnessReport),
    /// Other classes: count and accuracy per group.
    Multiclass(MulticlassReport),
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditReport::Binary(r) => r.fmt(f),
            AuditReport::Multiclass(r) => r.fmt(f),
        }
    }
}

impl Predictions {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no samples (never, for a file that was read).
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Whether every label and prediction is 0 or 1.
    pub fn is_binary(&self) -> bool {
        self.labels.iter().chain(&self.predictions).all(|&v| v <= 1)
    }

    /// Labels and predictions as 0/1, or an error naming the first other value's line.
    pub fn binary(&self) -> Result<(Vec<u8>, Vec<u8>)> {
        let at = |column: &str, i: usize| {
            format!("{} line {}, column '{column}'", self.file, self.lines[i])
        };
        check_binary(&self.labels, LabelKind::Label, |i| {
            at(&self.columns.label, i)
        })?;
        check_binary(&self.predictions, LabelKind::Prediction, |i| {
            at(&self.columns.prediction, i)
        })?;
        let narrow = |v: &[u32]| v.iter().map(|&x| x as u8).collect();
        Ok((narrow(&self.labels), narrow(&self.predictions)))
    }

    /// Binary metrics by group.
    pub fn metric_frame(&self) -> Result<MetricFrame> {
        let (y_true, y_pred) = self.binary()?;
        MetricFrame::with_feature_names(&y_true, &y_pred, &self.columns.by, &self.sensitive)
    }

    /// Count and accuracy by group, for any classes.
    pub fn multiclass_frame(&self) -> Result<MulticlassFrame> {
        MulticlassFrame::with_feature_names(
            &self.labels,
            &self.predictions,
            &self.columns.by,
            &self.sensitive,
        )
    }

    /// The binary report where labels and predictions are 0/1, the multi-class one otherwise.
    pub fn report(&self) -> Result<AuditReport> {
        if self.is_binary() {
            Ok(AuditReport::Binary(self.metric_frame()?.report()))
        } else {
            Ok(AuditReport::Multiclass(self.multiclass_frame()?.report()))
        }
    }
}

/// A class label: a non-negative integer (`1.0` is accepted as 1).
fn parse_class((value, column): (&str, &str), file: &str, line: u64) -> Result<u32> {
    if let Ok(v) = value.parse::<u32>() {
        return Ok(v);
    }
    match value.parse::<f64>() {
        Ok(x) if x.fract() == 0.0 && (0.0..=u32::MAX as f64).contains(&x) => Ok(x as u32),
        _ => Err(AuditError::NotInteger {
            file: file.into(),
            line,
            column: column.into(),
            value: value.into(),
        }),
    }
}

/// A probability in [0, 1].
fn parse_probability((value, column): (&str, &str), file: &str, line: u64) -> Result<f64> {
    match value.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(AuditError::NotProbability {
            file: file.into(),
            line,
            column: column.into(),
            value: value.into(),
        }),
    }
}

fn csv_error(file: &str, e: csv::Error) -> AuditError {
    let line = e.position().map_or(0, |p| p.line());
    let message = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => AuditError::Io {
            file: file.into(),
            source,
        },
        _ => AuditError::Csv {
            file: file.into(),
            line,
            message,
        },
    }
}
