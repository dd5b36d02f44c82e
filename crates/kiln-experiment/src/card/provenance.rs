//! Where the training data came from and under which license, read from the embedded
//! dataset's README (`crates/kiln-data/data/<name>/README.md`).

use serde::{Deserialize, Serialize};

/// The card's "training data" provenance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    /// The dataset's title (the README's first heading), or the file the data came from.
    pub title: String,
    /// The README's source-and-license bullets, as Markdown lines (empty for a user's file).
    pub source_and_license: Vec<String>,
}

impl Provenance {
    /// From an embedded dataset's README: its first heading, and the bullets of every
    /// section whose heading names a license (not the verbatim license texts).
    pub fn from_readme(readme: &str) -> Provenance {
        let title = readme
            .lines()
            .find_map(|l| l.strip_prefix("# "))
            .unwrap_or("unnamed dataset")
            .trim()
            .to_string();
        let mut bullets: Vec<String> = Vec::new();
        // Inside a section whose heading names a license, until its verbatim license text.
        let mut collecting = false;
        for line in readme.lines() {
            if let Some(heading) = line.strip_prefix("## ") {
                collecting = heading.to_lowercase().contains("license");
                continue;
            }
            if !collecting {
                continue;
            }
            if let Some(item) = line.strip_prefix("- ") {
                bullets.push(item.trim().to_string());
            } else if line.starts_with("  ") && !line.trim().is_empty() {
                if let Some(last) = bullets.last_mut() {
                    last.push(' ');
                    last.push_str(line.trim());
                }
            } else if !line.trim().is_empty() {
                collecting = false; // the verbatim license text that follows the bullets
            }
        }
        Provenance {
            title,
            source_and_license: bullets,
        }
    }

    /// A user's own data file: named, provenance unknown to Kiln.
    pub fn user_file(path: &str) -> Provenance {
        Provenance {
            title: path.into(),
            source_and_license: vec![
                "A user's own file: its source and license are not recorded by Kiln.".into(),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_title_and_source_bullets_but_not_the_license_text() {
        let readme = "# iris (Fisher's Iris)\n\nText.\n\n## Columns\n- a: b\n\n## Source and license\n\n- Dataset: UCI,\n  licensed **CC BY 4.0**.\n- The copy ships in scikit-learn.\n\n```\nBSD 3-Clause License\n```\n";
        let p = Provenance::from_readme(readme);
        assert_eq!(p.title, "iris (Fisher's Iris)");
        assert_eq!(
            p.source_and_license,
            vec![
                "Dataset: UCI, licensed **CC BY 4.0**.".to_string(),
                "The copy ships in scikit-learn.".to_string()
            ]
        );
    }
}
