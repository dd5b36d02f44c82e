//! Data-parallel training over MPI: `mpirun -np 2 kiln train` ends where one process ends
//! (every weight to 1e-5 relative after 113 steps), only rank 0 writes, an MPI run resumes
//! bit-exactly with the same ranks and within tolerance with one process, and bad jobs are
//! refused on every rank.
//!
//! Needs the binary built with `--features mpi` and Open MPI's `mpirun` (CI installs
//! openmpi-bin and runs this file with the feature). Otherwise it says "skipped", unless
//! `KILN_REQUIRE_MPI=1`, where it fails.

mod common;

use std::path::Path;
use std::process::Command;

use common::{json, kiln};

/// Whether the MPI checks can run here.
fn mpi_available() -> bool {
    let mpirun = Command::new("mpirun")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ok = kiln_distributed::MPI_BUILT_IN && mpirun;
    if !ok {
        assert!(
            std::env::var_os("KILN_REQUIRE_MPI").is_none(),
            "KILN_REQUIRE_MPI is set but the binary has no mpi feature or mpirun is missing"
        );
        eprintln!(
            "skipped: data-parallel tests need `--features mpi` (built in: {}) and mpirun (found: {mpirun})",
            kiln_distributed::MPI_BUILT_IN
        );
    }
    ok
}

/// `mpirun -np N kiln ARGS...` in `dir` (loopback TCP, as root in CI): (code, stdout, stderr).
fn mpirun(dir: &Path, ranks: usize, args: &[&str]) -> (i32, String, String) {
    let n = ranks.to_string();
    let mut command = Command::new("mpirun");
    command
        .args([
            "-np",
            &n,
            "--oversubscribe",
            "--allow-run-as-root",
            "--mca",
            "btl",
            "tcp,self",
        ])
        .arg(env!("CARGO_BIN_EXE_kiln"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0");
    let out = command.output().expect("mpirun runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Every tensor of a run's model, by name.
fn weights(run: &Path) -> Vec<(String, Vec<f32>)> {
    let run = kiln_experiment::load_run(run, None).unwrap();
    kiln_interop::torch_state_dict(&run.model)
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.values))
        .collect()
}

/// The largest relative difference of any weight tensor, ||a - b|| / ||a|| (L2 norms).
fn worst_relative(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f64 {
    let mut worst = 0f64;
    for ((name_a, va), (name_b, vb)) in a.iter().zip(b) {
        assert_eq!(name_a, name_b);
        let (mut diff, mut norm, mut each) = (0f64, 0f64, 0f64);
        for (x, y) in va.iter().zip(vb) {
            let (x, y) = (*x as f64, *y as f64);
            diff += (x - y) * (x - y);
            norm += x * x;
            each = each.max((x - y).abs() / x.abs().max(y.abs()).max(1e-2));
        }
        let relative = (diff / norm.max(1e-30)).sqrt();
        eprintln!("  {name_a}: ||a-b||/||a|| = {relative:.2e}, worst single weight {each:.2e}");
        // Adam divides by the gradients' running RMS, so a weight whose gradient is near zero
        // moves by a different rounding in each run: single weights differ more than tensors.
        assert!(
            each <= 1e-3,
            "{name_a}: a single weight differs by {each:e}"
        );
        worst = worst.max(relative);
    }
    worst
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn two_ranks_end_where_one_process_ends_and_resume_exactly() {
    if !mpi_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let one = d.join("one");
    let o = kiln(&[
        "train",
        "mlp-mnist",
        "--epochs",
        "1",
        "--no-card",
        "--out",
        one.to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);

    let work = d.join("work");
    std::fs::create_dir(&work).unwrap();
    let (code, stdout, stderr) = mpirun(
        &work,
        2,
        &[
            "train",
            "mlp-mnist",
            "--epochs",
            "1",
            "--no-card",
            "--out",
            "two",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("data-parallel over 2 ranks"), "{stdout}");
    // Rank 0 alone printed and wrote: one run folder, nothing else.
    assert_eq!(stdout.matches("trained mlp-mnist").count(), 1, "{stdout}");
    assert_eq!(files_in(&work), ["two"]);
    let two = work.join("two");
    let worst = worst_relative(&weights(&one), &weights(&two));
    eprintln!("2 ranks vs 1 process after 113 steps: worst relative weight difference {worst:.2e}");
    assert!(worst <= 1e-5, "{worst:e}");
    let (s1, s2) = (
        json(&one.join("summary.json")),
        json(&two.join("summary.json")),
    );
    assert_eq!(s1["steps"], s2["steps"]);
    let loss = |s: &serde_json::Value| s["test"]["loss"].as_f64().unwrap();
    assert!(
        (loss(&s1) - loss(&s2)).abs() <= 1e-4 * loss(&s1),
        "{} vs {}",
        loss(&s1),
        loss(&s2)
    );
    assert_eq!(s1["test"]["accuracy"], s2["test"]["accuracy"]);
    // The train metrics are over the whole global batch, not rank 0's half.
    let train = |s: &serde_json::Value| s["train"]["loss"].as_f64().unwrap();
    assert!((train(&s1) - train(&s2)).abs() <= 1e-4 * train(&s1));

    // Resume: two epochs straight, then the same run resumed from its first epoch's
    // checkpoint (the later one removed), with 2 ranks: bit-exact.
    let args = ["train", "mlp-mnist", "--epochs", "2", "--no-card", "--out"];
    let (code, _, stderr) = mpirun(&work, 2, &[&args[..], &["straight"]].concat());
    assert_eq!(code, 0, "{stderr}");
    let straight = work.join("straight");
    let sha = |p: &Path| json(&p.join("summary.json"))["weights_sha256"].clone();
    for (copy, ranks) in [("resumed-2", 2), ("resumed-1", 1)] {
        let dest = work.join(copy);
        copy_dir(&straight, &dest);
        let newest = common::checkpoints(&dest).pop().unwrap();
        std::fs::remove_dir_all(&newest).unwrap();
        assert!(
            !common::checkpoints(&dest).is_empty(),
            "the first epoch's checkpoint is kept"
        );
        let resume = [&args[..], &[copy, "--resume"]].concat();
        let (code, _, stderr) = if ranks == 2 {
            mpirun(&work, 2, &resume)
        } else {
            let o = Command::new(env!("CARGO_BIN_EXE_kiln"))
                .args(&resume)
                .current_dir(&work)
                .output()
                .unwrap();
            (
                o.status.code().unwrap_or(-1),
                String::new(),
                String::from_utf8_lossy(&o.stderr).into(),
            )
        };
        assert_eq!(code, 0, "{stderr}");
        assert!(stderr.contains("resuming from"), "{stderr}");
        if ranks == 2 {
            assert_eq!(
                sha(&dest),
                sha(&straight),
                "resume with the same ranks is bit-exact"
            );
        } else {
            let worst = worst_relative(&weights(&straight), &weights(&dest));
            eprintln!("2-rank run resumed by 1 process: worst relative difference {worst:.2e}");
            assert!(worst <= 1e-5, "{worst:e}");
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn bad_jobs_are_refused_on_every_rank() {
    if !mpi_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A global batch the ranks cannot share.
    let (code, _, stderr) = mpirun(
        d,
        2,
        &[
            "train",
            "fnn-iris",
            "--set",
            "train.batch_size=15",
            "--out",
            "x",
        ],
    );
    assert_ne!(code, 0);
    for rank in 0..2 {
        assert!(stderr.contains(&format!("rank {rank}: train.batch_size = 15 (the global batch) is not divisible by the 2 ranks")), "{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!d.join("x").exists());
    // Ranks that read different configs (MPMD: another seed on rank 1).
    let exe = env!("CARGO_BIN_EXE_kiln");
    let out = Command::new("mpirun")
        .args([
            "--oversubscribe",
            "--allow-run-as-root",
            "--mca",
            "btl",
            "tcp,self",
        ])
        .args(["-np", "1", exe, "train", "fnn-iris", "--out", "y", ":"])
        .args([
            "-np", "1", exe, "train", "fnn-iris", "--seed", "7", "--out", "y",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for rank in 0..2 {
        assert!(
            stderr.contains(&format!("rank {rank}: the ranks read different configs")),
            "{stderr}"
        );
    }
    assert!(!d.join("y").exists());
    // The same binary without mpirun is one process.
    let o = kiln(&[
        "train",
        "fnn-iris",
        "--no-card",
        "--out",
        d.join("z").to_str().unwrap(),
    ]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stdout.contains("data-parallel"));
}

#[test]
fn batch_norm_statistics_are_averaged_so_the_ranks_stay_identical() {
    if !mpi_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Each rank normalises its own half of a batch, so its running statistics would differ;
    // averaged after every step they stay equal, and the ranks' checksums (every 50 steps and
    // at the end, running statistics included) agree.
    let args = [
        "train",
        "fnn-iris",
        "--set",
        "model.batch_norm=true",
        "--set",
        "train.batch_size=16",
        "--epochs",
        "40",
        "--no-card",
        "--out",
        "bn",
    ];
    let (code, stdout, stderr) = mpirun(dir.path(), 2, &args);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("data-parallel over 2 ranks"), "{stdout}");
    let summary = json(&dir.path().join("bn/summary.json"));
    assert!(summary["steps"].as_u64().unwrap() > 50);
    assert!(
        summary["test"]["accuracy"].as_f64().unwrap() >= 0.8,
        "{summary}"
    );
}

/// The pid of the `kiln` process of MPI rank `rank` whose command line mentions `marker`.
fn rank_pid(rank: usize, marker: &str) -> Option<u32> {
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        let has = |bytes: &[u8], needle: &str| {
            bytes
                .split(|b| *b == 0)
                .any(|part| part == needle.as_bytes())
        };
        if has(&cmdline, marker) && has(&environ, &format!("OMPI_COMM_WORLD_RANK={rank}")) {
            return Some(pid);
        }
    }
    None
}

#[test]
fn a_rank_that_dies_ends_the_job_and_the_run_resumes_exactly() {
    if !mpi_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path();
    let args = |out: &str| {
        vec![
            "train".to_string(),
            "mlp-mnist".into(),
            "--epochs".into(),
            "3".into(),
            "--no-card".into(),
            "--set".into(),
            "checkpoint.every_steps=20".into(),
            "--out".into(),
            out.into(),
        ]
    };
    let (code, _, stderr) = mpirun(
        work,
        2,
        &args("straight")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_eq!(code, 0, "{stderr}");

    let child = Command::new("mpirun")
        .args([
            "-np",
            "2",
            "--oversubscribe",
            "--allow-run-as-root",
            "--mca",
            "btl",
            "tcp,self",
        ])
        .arg(env!("CARGO_BIN_EXE_kiln"))
        .args(args("killed"))
        .current_dir(work)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let run = work.join("killed");
    let start = std::time::Instant::now();
    let saved = |run: &Path| {
        if run.join("checkpoints").is_dir() {
            common::checkpoints(run).len()
        } else {
            0
        }
    };
    while saved(&run) < 3 && start.elapsed().as_secs() < 120 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let pid = rank_pid(1, "killed").expect("rank 1 is running");
    // SAFETY: sending a signal to a process this test started.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the job must end when a rank dies");
    assert!(
        stderr.contains("signal 9") || stderr.contains("Killed"),
        "{stderr}"
    );
    assert!(!run.join("summary.json").exists(), "the run did not finish");
    assert!(saved(&run) > 0, "the checkpoints written before survive");

    let mut resume = args("killed");
    resume.push("--resume".into());
    let (code, _, stderr) = mpirun(
        work,
        2,
        &resume.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("resuming from"), "{stderr}");
    let sha = |p: &Path| json(&p.join("summary.json"))["weights_sha256"].clone();
    assert_eq!(
        sha(&run),
        sha(&work.join("straight")),
        "the resumed run ends bit for bit where an uninterrupted one does"
    );
}
