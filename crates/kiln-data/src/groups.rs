//! [`Groups`]: the sensitive attributes (sex, race, ...) that follow each sample, so that
//! metrics can be broken down by group even when the model never sees them.

use crate::DataError;

/// Named attributes of each sample, as text, stored row-major: sample `i`'s value of
/// attribute `k` is `values[i * names.len() + k]`. Empty (no names) for data without them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Groups {
    /// The attribute names (CSV column names), in order.
    pub names: Vec<String>,
    /// One value per sample and attribute, sample after sample.
    pub values: Vec<String>,
}

impl Groups {
    /// True when there are no attributes.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The values of sample `index`, one per attribute.
    pub fn row(&self, index: usize) -> &[String] {
        let width = self.names.len();
        &self.values[index * width..(index + 1) * width]
    }

    /// The attributes of the samples at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Groups {
        if self.is_empty() {
            return Groups::default();
        }
        let mut values = Vec::with_capacity(indices.len() * self.names.len());
        for &i in indices {
            values.extend_from_slice(self.row(i));
        }
        Groups {
            names: self.names.clone(),
            values,
        }
    }

    /// The value of attribute `name` for every sample, or an error listing the attributes
    /// there are.
    pub fn attribute(&self, name: &str) -> Result<Vec<&str>, DataError> {
        let k = self.names.iter().position(|n| n == name).ok_or_else(|| {
            DataError::UnknownAttribute {
                attribute: name.into(),
                available: if self.is_empty() {
                    "none".into()
                } else {
                    self.names.join(", ")
                },
            }
        })?;
        Ok(self
            .values
            .chunks_exact(self.names.len())
            .map(|row| row[k].as_str())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Groups {
        Groups {
            names: vec!["sex".into(), "race".into()],
            values: ["F", "White", "M", "Black", "F", "Other"]
                .map(String::from)
                .to_vec(),
        }
    }

    #[test]
    fn attribute_reads_one_column() {
        let g = three();
        assert_eq!(g.attribute("sex").unwrap(), vec!["F", "M", "F"]);
        assert_eq!(
            g.attribute("race").unwrap(),
            vec!["White", "Black", "Other"]
        );
    }

    #[test]
    fn select_keeps_rows_together() {
        let picked = three().select(&[2, 0]);
        assert_eq!(picked.names, vec!["sex", "race"]);
        assert_eq!(picked.values, vec!["F", "Other", "F", "White"]);
        assert!(Groups::default().select(&[0, 1]).is_empty());
    }

    #[test]
    fn unknown_attribute_lists_the_known_ones() {
        let err = three().attribute("age").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no sensitive attribute 'age' (attributes: sex, race)"
        );
        let err = Groups::default().attribute("sex").unwrap_err();
        assert_eq!(
            err.to_string(),
            "no sensitive attribute 'sex' (attributes: none)"
        );
    }
}
