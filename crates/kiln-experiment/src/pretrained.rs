//! Kiln's pretrained models by name: the compiled-in run folders of kiln-pretrained, written
//! once into a cache folder and read back like any run (`kiln predict cnn-mnist digit.png`).

use std::path::{Path, PathBuf};

use kiln_train::{BackendKind, KilnError, Result};
use sha2::{Digest, Sha256};

use crate::{TrainedRun, load_run};

/// Where pretrained run folders are unpacked: `$KILN_CACHE`, else `$XDG_CACHE_HOME/kiln`, else
/// `~/.cache/kiln`, else the system's temporary folder.
pub fn cache_dir() -> PathBuf {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("KILN_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("kiln")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("kiln")))
        .unwrap_or_else(|| std::env::temp_dir().join("kiln-cache"))
}

/// The run folder of the pretrained model `name`, unpacked into the cache on first use (into a
/// folder named by a hash of its files, so a newer build never reads an older copy).
pub fn pretrained_dir(name: &str) -> Result<PathBuf> {
    let Some(model) = kiln_pretrained::find(name) else {
        return Err(KilnError::Input(format!(
            "'{name}' is neither a run folder nor a pretrained model (pretrained: {})",
            kiln_pretrained::names()
        )));
    };
    let mut hash = Sha256::new();
    for (file, bytes) in model.files {
        hash.update(file.as_bytes());
        hash.update(bytes);
    }
    let digest: String = hash.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let root = cache_dir().join("pretrained");
    let dir = root.join(format!("{name}-{digest}"));
    if dir.join(crate::run_dir::SUMMARY_FILE).is_file() {
        return Ok(dir);
    }
    let unpacking = root.join(format!(".{name}-{digest}-{}", std::process::id()));
    let unpack = || -> std::io::Result<()> {
        std::fs::create_dir_all(&unpacking)?;
        for (file, bytes) in model.files {
            std::fs::write(unpacking.join(file), bytes)?;
        }
        match std::fs::rename(&unpacking, &dir) {
            // Another process unpacked it first: theirs is the same.
            Err(_) if dir.join(crate::run_dir::SUMMARY_FILE).is_file() => {
                std::fs::remove_dir_all(&unpacking)
            }
            other => other,
        }
    };
    unpack().map_err(|e| {
        KilnError::Input(format!(
            "{}: cannot unpack the pretrained model {name}: {e} (set KILN_CACHE to a writable folder)",
            root.display()
        ))
    })?;
    Ok(dir)
}

/// `arg` itself when it exists, else the pretrained model of that name.
pub fn resolve_run(arg: &Path) -> Result<PathBuf> {
    if arg.exists() {
        return Ok(arg.to_path_buf());
    }
    match arg
        .to_str()
        .filter(|s| !s.contains(std::path::MAIN_SEPARATOR))
    {
        Some(name) => pretrained_dir(name),
        None => Err(KilnError::Input(format!(
            "{}: no such run folder (pretrained models: {})",
            arg.display(),
            kiln_pretrained::names()
        ))),
    }
}

/// The pretrained model `name`, ready for inference on `backend` (default: the build's).
pub fn pretrained(name: &str, backend: Option<BackendKind>) -> Result<TrainedRun> {
    load_run(&pretrained_dir(name)?, backend)
}
