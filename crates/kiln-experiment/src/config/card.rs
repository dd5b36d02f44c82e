//! `[card]`: what the model card says about the model's use, beyond what Kiln measures.

use serde::{Deserialize, Serialize};

/// The model card's intended use, out-of-scope uses and caveats. Omitted keys take the
/// defaults of the embedded dataset the run trains on (see [`CardConfig::for_dataset`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CardConfig {
    /// What the model is for, in a sentence or two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intended_use: Option<String>,
    /// Uses the model is not fit for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub out_of_scope: Vec<String>,
    /// Known limitations, in addition to the ones the card finds itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caveats: Vec<String>,
}

impl CardConfig {
    /// Checks the values (a message naming the key).
    pub fn validate(&self) -> Result<(), String> {
        if self
            .intended_use
            .as_deref()
            .is_some_and(|u| u.trim().is_empty())
        {
            return Err("card.intended_use must not be empty (omit it for the default)".into());
        }
        if self.out_of_scope.iter().any(|u| u.trim().is_empty()) {
            return Err("card.out_of_scope holds an empty entry".into());
        }
        if self.caveats.iter().any(|c| c.trim().is_empty()) {
            return Err("card.caveats holds an empty entry".into());
        }
        Ok(())
    }

    /// This section with every omitted key filled from `dataset`'s defaults.
    pub fn resolved(&self, dataset: &str) -> CardConfig {
        let default = Self::for_dataset(dataset);
        CardConfig {
            intended_use: self.intended_use.clone().or(default.intended_use),
            out_of_scope: if self.out_of_scope.is_empty() {
                default.out_of_scope
            } else {
                self.out_of_scope.clone()
            },
            caveats: self.caveats.clone(),
        }
    }

    /// The defaults for an embedded dataset (and a generic text for anything else).
    pub fn for_dataset(dataset: &str) -> CardConfig {
        let (intended_use, out_of_scope): (&str, &[&str]) = match dataset {
            "mnist-10k" => (
                "Recognising centred, size-normalised handwritten digits 0-9 (MNIST style), for teaching, research and benchmarking Kiln's models.",
                &[
                    "Reading digits in the wild (photos, forms, meters, cheques): no such images were seen in training.",
                    "Any decision about a person (identity, handwriting analysis).",
                    "Letters, other scripts, or images that are not a single digit: the model always answers one of 10 digits.",
                ],
            ),
            "breast-cancer" => (
                "Teaching and benchmarking tabular classification on the Wisconsin Diagnostic Breast Cancer features.",
                &[
                    "Diagnosis, screening or any clinical decision: 569 patients from one hospital in the 1990s, no clinical validation.",
                    "Features measured differently from the original fine-needle-aspirate image analysis.",
                ],
            ),
            "iris" => (
                "Teaching and benchmarking: the classic three-class iris measurements.",
                &["Identifying plants in the field: 150 flowers of three species."],
            ),
            "adult-census-income" => (
                "Research on, and teaching of, group fairness metrics and their mitigation on the UCI Adult census extract.",
                &[
                    "Any decision about a real person's income, credit, employment, housing or insurance.",
                    "Populations other than the 1994 US census respondents: the data is 30 years old and its groups are unbalanced.",
                ],
            ),
            "shakespeare" => (
                "Generating Shakespeare-like text character by character, for teaching and benchmarking language models.",
                &["Factual answers, modern text or any other language: it imitates six tragedies."],
            ),
            _ => (
                "As stated by whoever trained it: no [card] intended_use was given.",
                &[],
            ),
        };
        CardConfig {
            intended_use: Some(intended_use.into()),
            out_of_scope: out_of_scope.iter().map(|s| (*s).into()).collect(),
            caveats: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_keys_win_and_omitted_ones_take_the_dataset_default() {
        let card = CardConfig {
            intended_use: Some("mine".into()),
            ..CardConfig::default()
        };
        let resolved = card.resolved("mnist-10k");
        assert_eq!(resolved.intended_use.as_deref(), Some("mine"));
        assert_eq!(
            resolved.out_of_scope,
            CardConfig::for_dataset("mnist-10k").out_of_scope
        );
        assert!(!resolved.out_of_scope.is_empty());
    }

    #[test]
    fn empty_entries_are_refused_naming_the_key() {
        let card = CardConfig {
            caveats: vec![" ".into()],
            ..CardConfig::default()
        };
        assert!(card.validate().unwrap_err().contains("card.caveats"));
    }
}
