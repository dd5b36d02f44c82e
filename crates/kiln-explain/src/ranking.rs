//! Features ranked by the size of their attribution, for tables and `--json`.

use serde::{Deserialize, Serialize};

use crate::{ExplainError, FeatureGroup};

/// One row of a ranking: a feature (or group of columns) and its signed attribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankedFeature {
    /// Position in the ranking, 1 for the largest `|attribution|`.
    pub rank: usize,
    /// The feature's (or group's) index in the input order.
    pub index: usize,
    /// The feature's name.
    pub name: String,
    /// The attribution, sign kept (positive: pushes the explained output up).
    pub attribution: f32,
    /// `|attribution|` over the sum of all `|attribution|` (0 when all are 0).
    pub share: f64,
}

/// Features ranked by `|attribution|`, largest first (ties in input order), the sign kept.
/// `names` and `attributions` pair up one to one.
pub fn rank_attributions<S: AsRef<str>>(
    names: &[S],
    attributions: &[f32],
) -> Result<Vec<RankedFeature>, ExplainError> {
    if names.len() != attributions.len() {
        return Err(ExplainError::LengthMismatch {
            what: "feature names",
            expected: attributions.len(),
            actual: names.len(),
        });
    }
    let total: f64 = attributions.iter().map(|a| f64::from(a.abs())).sum();
    let mut order: Vec<usize> = (0..attributions.len()).collect();
    order.sort_by(|&a, &b| {
        attributions[b]
            .abs()
            .total_cmp(&attributions[a].abs())
            .then(a.cmp(&b))
    });
    Ok(order
        .into_iter()
        .enumerate()
        .map(|(position, index)| RankedFeature {
            rank: position + 1,
            index,
            name: names[index].as_ref().to_string(),
            attribution: attributions[index],
            share: if total > 0.0 {
                f64::from(attributions[index].abs()) / total
            } else {
                0.0
            },
        })
        .collect())
}

/// Attributions summed per group of columns (for example a one-hot categorical's columns),
/// one per group in order; sums keep completeness. Columns in no group are left out.
pub fn group_attributions(
    attributions: &[f32],
    groups: &[FeatureGroup],
) -> Result<Vec<f32>, ExplainError> {
    let width = attributions.len();
    groups
        .iter()
        .map(|group| {
            group.check(width)?;
            Ok(group
                .columns
                .iter()
                .map(|&c| f64::from(attributions[c]))
                .sum::<f64>() as f32)
        })
        .collect()
}

/// A plain-text table of the first `top` rows of `ranking`: rank, name, signed attribution and
/// share in percent, one line each with a header.
pub fn ranking_table(ranking: &[RankedFeature], top: usize) -> String {
    let rows = &ranking[..top.min(ranking.len())];
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0)
        .max("feature".len());
    let mut table = format!(
        "{:>4}  {:<width$}  {:>12}  {:>7}\n",
        "rank", "feature", "attribution", "share"
    );
    for row in rows {
        table.push_str(&format!(
            "{:>4}  {:<width$}  {:>+12.5}  {:>6.1}%\n",
            row.rank,
            row.name,
            row.attribution,
            100.0 * row.share
        ));
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_magnitude_and_keeps_the_sign() {
        let ranking = rank_attributions(&["a", "b", "c", "d"], &[0.1, -0.5, 0.3, 0.0]).unwrap();
        let names: Vec<&str> = ranking.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["b", "c", "a", "d"]);
        assert_eq!(ranking[0].attribution, -0.5);
        assert_eq!(ranking[0].rank, 1);
        assert_eq!(ranking[0].index, 1);
        assert!((ranking[0].share - 0.5 / 0.9).abs() < 1e-6);
        let json = serde_json::to_string(&ranking).unwrap();
        assert!(json.contains("\"name\":\"b\""), "{json}");
        let back: Vec<RankedFeature> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ranking);
        let table = ranking_table(&ranking, 2);
        assert_eq!(table.lines().count(), 3, "{table}");
        assert!(table.contains("-0.50000"), "{table}");
    }

    #[test]
    fn ties_keep_input_order_and_all_zero_shares_are_zero() {
        let ranking = rank_attributions(&["x", "y"], &[0.0, 0.0]).unwrap();
        assert_eq!(ranking[0].name, "x");
        assert_eq!(ranking[1].share, 0.0);
    }

    #[test]
    fn names_must_match_the_attributions() {
        let error = rank_attributions(&["a"], &[1.0, 2.0]).unwrap_err();
        assert!(matches!(
            error,
            ExplainError::LengthMismatch {
                expected: 2,
                actual: 1,
                ..
            }
        ));
    }

    #[test]
    fn group_sums_and_bad_columns() {
        let groups = [
            FeatureGroup::new("colour", vec![0, 1, 2]),
            FeatureGroup::new("size", vec![3]),
        ];
        let sums = group_attributions(&[0.1, 0.2, -0.4, 1.0], &groups).unwrap();
        assert!((sums[0] + 0.1).abs() < 1e-6 && sums[1] == 1.0);
        let error = group_attributions(&[0.1], &groups).unwrap_err();
        assert!(matches!(
            error,
            ExplainError::ColumnOutOfRange { column: 1, .. }
        ));
    }
}
