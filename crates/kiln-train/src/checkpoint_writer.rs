//! Writing a captured checkpoint to disk: every file into a temporary folder, each fsync'd once,
//! then `state.json`, then the folder renamed into place and the `latest` pointer updated, so a
//! crash at any moment leaves the previous checkpoints intact. [`BackgroundWriter`] does this on
//! its own thread while training goes on; it writes one checkpoint at a time, in order.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::atomic::write_atomic;
use crate::checkpoint::{STATE_FILE, TrainState};
use crate::{KilnError, Result};

/// A checkpoint held in memory, ready to be written: its files' bytes and its state (the writer
/// adds the files' digests and the state's own hash).
pub(crate) struct CapturedCheckpoint {
    /// The `checkpoints` folder of the run.
    pub root: PathBuf,
    /// The checkpoint folder's name (`step-0000000123`).
    pub name: String,
    /// File names and their contents.
    pub files: Vec<(String, Vec<u8>)>,
    /// The state, without digests.
    pub state: TrainState,
    /// Whether it becomes the `best` checkpoint.
    pub is_best: bool,
    /// How many of the newest checkpoints to keep (the best one is kept besides).
    pub keep_last: usize,
}

impl CapturedCheckpoint {
    /// Writes the checkpoint atomically, points `latest` (and `best`) at it and prunes old ones.
    pub fn write(self) -> Result<PathBuf> {
        let failed = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KilnError::Write { path, source }
        };
        let target = self.root.join(&self.name);
        let tmp = self
            .root
            .join(format!(".tmp-{}-{}", self.name, std::process::id()));
        fs::create_dir_all(&self.root).map_err(failed(&self.root))?;
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(failed(&tmp))?;
        }
        fs::create_dir(&tmp).map_err(failed(&tmp))?;
        let written = self.write_into(&tmp, &target);
        if written.is_err() {
            let _ = fs::remove_dir_all(&tmp); // a failed write (a full disk) leaves nothing behind
        }
        written
    }

    /// Writes the files into `tmp`, renames it to `target` and updates the pointers.
    fn write_into(self, tmp: &Path, target: &Path) -> Result<PathBuf> {
        let failed = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KilnError::Write { path, source }
        };
        let state = self.state.sealed(&self.files);
        let state = serde_json::to_string_pretty(&state).expect("serialises");
        let state_file = (STATE_FILE.to_string(), state.into_bytes());
        for (file, bytes) in self.files.iter().chain([&state_file]) {
            let path = tmp.join(file);
            write_synced(&path, bytes).map_err(failed(&path))?;
        }
        fsync(tmp)?;
        if target.exists() {
            fs::remove_dir_all(target).map_err(failed(target))?;
        }
        fs::rename(tmp, target).map_err(failed(target))?;
        fsync(&self.root)?;
        write_atomic(&self.root.join("latest"), self.name.as_bytes())?;
        if self.is_best {
            write_atomic(&self.root.join("best"), self.name.as_bytes())?;
        }
        prune(&self.root, self.keep_last)?;
        Ok(target.to_path_buf())
    }
}

/// Removes the temporary folders (`.tmp-*`) a killed or failed checkpoint write left under
/// `root`; returns how many.
pub(crate) fn remove_stale_temporaries(root: &Path) -> Result<usize> {
    let Ok(entries) = fs::read_dir(root) else {
        return Ok(0);
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with(".tmp-") && path.is_dir() {
            fs::remove_dir_all(&path).map_err(|source| KilnError::Write {
                path: path.clone(),
                source,
            })?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Writes checkpoints on a background thread, one at a time. Clones share the thread; the last
/// one dropped waits for the write in progress.
#[derive(Debug, Clone, Default)]
pub(crate) struct BackgroundWriter {
    pending: Arc<Pending>,
}

#[derive(Debug, Default)]
struct Pending(Mutex<Option<JoinHandle<Result<PathBuf>>>>);

impl BackgroundWriter {
    /// Waits for the previous checkpoint, reporting its error, then starts writing `checkpoint`.
    pub fn submit(&self, checkpoint: CapturedCheckpoint) -> Result<()> {
        let mut slot = self.pending.0.lock().unwrap_or_else(|e| e.into_inner());
        join(slot.take())?;
        let handle = std::thread::Builder::new()
            .name("kiln-checkpoint".into())
            .spawn(move || checkpoint.write())
            .map_err(|e| KilnError::Internal(format!("cannot start the checkpoint writer: {e}")))?;
        *slot = Some(handle);
        Ok(())
    }

    /// Waits until the checkpoint being written is on disk; its path, or its error.
    pub fn wait(&self) -> Result<Option<PathBuf>> {
        let mut slot = self.pending.0.lock().unwrap_or_else(|e| e.into_inner());
        join(slot.take())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let slot = self.0.get_mut().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = join(slot.take()) {
            eprintln!("warning: the last checkpoint was not written: {error}");
        }
    }
}

fn join(handle: Option<JoinHandle<Result<PathBuf>>>) -> Result<Option<PathBuf>> {
    match handle {
        None => Ok(None),
        Some(handle) => match handle.join() {
            Ok(written) => written.map(Some),
            Err(_) => Err(KilnError::Internal("the checkpoint writer panicked".into())),
        },
    }
}

/// Removes all but the newest `keep_last` checkpoints under `root` and the best one.
fn prune(root: &Path, keep_last: usize) -> Result<()> {
    let best_file = root.join("best");
    let best = match fs::read_to_string(&best_file) {
        Ok(name) => name,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        // Never prune without knowing which checkpoint is the best one.
        Err(source) => {
            return Err(KilnError::Read {
                path: best_file,
                source,
            });
        }
    };
    let mut names = checkpoint_names(root);
    let keep = keep_last.max(1);
    if names.len() <= keep {
        return Ok(());
    }
    names.truncate(names.len() - keep);
    for name in names.into_iter().filter(|n| *n != best.trim()) {
        let path = root.join(name);
        fs::remove_dir_all(&path).map_err(|source| KilnError::Write { path, source })?;
    }
    Ok(())
}

/// The names of the checkpoint folders under `root`, oldest first.
pub(crate) fn checkpoint_names(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("step-"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// fsyncs a file or folder.
pub(crate) fn fsync(path: &Path) -> Result<()> {
    fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|source| KilnError::Write {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{self, RunningSums, StopperState};

    fn captured(root: &Path, step: usize) -> CapturedCheckpoint {
        let state = TrainState::at(
            1,
            step,
            step,
            7,
            step * 10,
            0.5,
            RunningSums::default(),
            Vec::new(),
            StopperState::default(),
        );
        CapturedCheckpoint {
            root: root.to_path_buf(),
            name: format!("step-{step:010}"),
            files: vec![
                ("model.bpk".into(), vec![step as u8; 100]),
                ("optimizer.bpk".into(), vec![1, 2, 3]),
            ],
            state,
            is_best: false,
            keep_last: 2,
        }
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_folder_and_keeps_the_previous_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("checkpoints");
        captured(&root, 1).write().unwrap();
        let mut bad = captured(&root, 2);
        // A file that cannot be created fails the write half-way, as a full disk would.
        bad.files
            .push(("no-such-folder/extra.bin".into(), vec![0; 8]));
        let err = bad.write().unwrap_err();
        assert!(matches!(err, KilnError::Write { .. }), "{err}");
        let names: Vec<String> = fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.starts_with(".tmp-")), "{names:?}");
        assert!(!names.iter().any(|n| n == "step-0000000002"), "{names:?}");
        assert_eq!(
            fs::read_to_string(root.join("latest")).unwrap(),
            "step-0000000001"
        );
        let newest = checkpoint::newest_valid(dir.path()).unwrap().unwrap();
        assert_eq!(newest.state.step, 1);
    }

    #[test]
    fn background_writes_land_in_order_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("checkpoints");
        let writer = BackgroundWriter::default();
        for step in 1..=3 {
            writer.submit(captured(&root, step)).unwrap();
        }
        let last = writer
            .wait()
            .unwrap()
            .expect("the last checkpoint's folder");
        assert_eq!(last, root.join("step-0000000003"));
        assert_eq!(
            fs::read_to_string(root.join("latest")).unwrap(),
            "step-0000000003"
        );
        // keep_last 2: the oldest was pruned, the others verify.
        assert_eq!(
            checkpoint_names(&root),
            ["step-0000000002", "step-0000000003"]
        );
        let state = checkpoint::verify(&last).unwrap();
        assert_eq!((state.step, state.files["model.bpk"].size), (3, 100));
        assert_eq!(writer.wait().unwrap(), None, "nothing left to wait for");
    }

    #[test]
    fn a_failed_background_write_is_reported_by_the_next_wait() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-folder");
        fs::write(&blocker, b"file").unwrap();
        let writer = BackgroundWriter::default();
        writer
            .submit(captured(&blocker.join("checkpoints"), 1))
            .unwrap();
        let error = writer.wait().unwrap_err().to_string();
        assert!(error.contains("not-a-folder"), "{error}");
    }
}
