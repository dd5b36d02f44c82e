//! `manifest.json`: the size and sha256 of every run-folder file that eval, predict, inspect,
//! generate and resume read (`config.toml`, `preprocess.json`, `model.bpk`), so that a file
//! changed on disk is refused instead of silently served.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use kiln_train::checkpoint::FileDigest;
use kiln_train::{KilnError, Result, write_atomic};

/// File name of the manifest inside a run folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// The digests of a run folder's files.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// File name to its size and sha256.
    pub files: BTreeMap<String, FileDigest>,
}

impl Manifest {
    /// Reads `dir/manifest.json`; a missing or malformed manifest is an error naming it.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            KilnError::Input(format!(
                "{}: cannot read ({e}); without it the run's files cannot be verified",
                path.display()
            ))
        })?;
        serde_json::from_str(&text)
            .map_err(|e| KilnError::Input(format!("{}: malformed: {e}", path.display())))
    }

    /// Records the digests of `names` (files in `dir`) in `dir/manifest.json`, keeping the
    /// entries of other files already recorded.
    pub fn record(dir: &Path, names: &[&str]) -> Result<()> {
        let mut manifest = Self::read(dir).unwrap_or_default();
        for name in names {
            let path = dir.join(name);
            let digest =
                FileDigest::of_file(&path).map_err(|source| KilnError::Read { path, source })?;
            manifest.files.insert((*name).to_string(), digest);
        }
        let json = serde_json::to_string_pretty(&manifest).expect("manifest serialises");
        write_atomic(&dir.join(MANIFEST_FILE), json.as_bytes())
    }

    /// Checks that `dir/name` is the file the manifest recorded.
    pub fn verify(&self, dir: &Path, name: &str) -> Result<()> {
        let path = dir.join(name);
        let expected = self.files.get(name).ok_or_else(|| {
            KilnError::Input(format!(
                "{}: not recorded in {MANIFEST_FILE}; it cannot be verified",
                path.display()
            ))
        })?;
        let actual = FileDigest::of_file(&path)
            .map_err(|e| KilnError::Input(format!("{}: cannot read: {e}", path.display())))?;
        if &actual != expected {
            return Err(KilnError::Input(format!(
                "{}: changed since training (sha256 {}, {} bytes; {MANIFEST_FILE} records {}, {} bytes): refusing to use it",
                path.display(),
                actual.sha256,
                actual.size,
                expected.sha256,
                expected.size
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("model.bpk"), b"weights").unwrap();
        Manifest::record(dir.path(), &["model.bpk"]).unwrap();
        let manifest = Manifest::read(dir.path()).unwrap();
        manifest.verify(dir.path(), "model.bpk").unwrap();
        std::fs::write(dir.path().join("model.bpk"), b"weighs!").unwrap();
        let err = manifest.verify(dir.path(), "model.bpk").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string()
                .contains("model.bpk: changed since training"),
            "{err}"
        );
        let err = manifest.verify(dir.path(), "preprocess.json").unwrap_err();
        assert!(err.to_string().contains("not recorded"), "{err}");
    }

    #[test]
    fn a_missing_manifest_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Manifest::read(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains("manifest.json: cannot read"),
            "{err}"
        );
    }
}
