//! Nothing left behind: spill folders, a local cluster's folder (its cluster file holds
//! the secret) and its processes go on success, on error and on SIGINT/SIGTERM; what a
//! SIGKILL leaves is removed at the next start.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_tests::procs::processes_with;
use tessera_tests::tessera_bin;

/// Held values: fusion off and a transposed read keep many blocks in memory at once,
/// so under a small limit they spill.
const SPILLING: &str = "x = random((6000, 6000), seed=1); y = x + 1; (y + y.T).sum()";

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-cleanup-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => bytes_under(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn entries(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

fn spawn(args: &[&str], spill: &Path) -> Child {
    Command::new(tessera_bin())
        .args(args)
        .env("TESSERA_SPILL_DIR", spill)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts")
}

/// Waits until something has been spilled under `dir`.
fn wait_for_spill(dir: &Path, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while bytes_under(dir) < 8 << 20 {
        assert!(child.try_wait().expect("alive").is_none(), "the run ended before it spilled");
        assert!(Instant::now() < deadline, "nothing spilled under {}", dir.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill only sends a signal to the test's own child.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

#[test]
fn an_interrupted_threads_run_removes_its_spill_folder() {
    for (sig, code) in [(libc::SIGINT, 130), (libc::SIGTERM, 143)] {
        let spill = fresh_dir(&format!("threads-{sig}"));
        let mut run = spawn(&["run", "--no-fuse", "--chunks", "500", "--memory-limit", "48MiB", SPILLING], &spill);
        wait_for_spill(&spill, &mut run);
        signal(&run, sig);
        let status = run.wait().expect("ends");
        assert_eq!(status.code(), Some(code), "signal {sig}");
        assert_eq!(entries(&spill), Vec::<String>::new(), "signal {sig} left spill files");
        let _ = std::fs::remove_dir_all(&spill);
    }
}

#[test]
fn local_clusters_leave_nothing_whether_they_finish_or_are_interrupted() {
    let spill = fresh_dir("local");
    let args = ["run", "--no-fuse", "--chunks", "500", "--memory-limit", "96MiB", "--scheduler", "local-cluster"];
    // To the end: the workers spilled, and every folder is gone afterwards.
    let small = "x = random((3000, 3000), seed=1); y = x + 1; (y + y.T).sum()";
    let done = tessera_tests::run_measured(
        &[&args[..], &["--json", small]].concat(),
        &[("TESSERA_SPILL_DIR", spill.to_str().expect("utf-8"))],
    );
    assert_eq!(done.run.code, 0, "{}", done.run.stderr);
    assert!(
        done.run.json()["cluster_workers"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["spilled_bytes"].as_u64() > Some(0))),
        "the workers spilled"
    );
    assert_eq!(entries(&spill), Vec::<String>::new(), "a finished run left spill folders");
    // Interrupted mid-run: workers stopped, their spill folders and the cluster's folder gone.
    let mut run = spawn(&[&args[..], &[SPILLING]].concat(), &spill);
    wait_for_spill(&spill, &mut run);
    let local = format!("tessera-local-{}", run.id());
    assert!(std::env::temp_dir().join(&local).exists());
    signal(&run, libc::SIGTERM);
    assert_eq!(run.wait().expect("ends").code(), Some(143));
    assert_eq!(entries(&spill), Vec::<String>::new(), "an interrupted run left spill folders");
    assert!(!std::env::temp_dir().join(&local).exists(), "{local} (with the cluster file) is left");
    assert_eq!(processes_with(&local), Vec::<String>::new(), "a worker of {local} still runs");
    let _ = std::fs::remove_dir_all(&spill);
}

#[test]
fn a_worker_stopped_mid_run_removes_its_spill_folder_and_sigkills_are_swept_at_start() {
    let spill = fresh_dir("worker");
    let dir = fresh_dir("worker-cluster");
    let file = dir.join("cluster.json");
    let f = file.to_str().expect("utf-8");
    // Killed when the test ends, even if an assertion fails first.
    let mut procs = tessera_tests::procs::Procs(vec![spawn(
        &["scheduler", "--listen", "127.0.0.1:0", "--cluster-file", f],
        &spill,
    )]);
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::fs::read_to_string(&file).map_or(true, |t| !t.contains("secret")) {
        assert!(Instant::now() < deadline, "the scheduler wrote no cluster file");
        std::thread::sleep(Duration::from_millis(20));
    }
    procs.0.push(spawn(&["worker", "--cluster-file", f, "--threads", "2", "--memory-limit", "48MiB"], &spill));
    let mut client = spawn(&["run", "--no-fuse", "--chunks", "500", "--cluster-file", f, SPILLING], &spill);
    wait_for_spill(&spill, &mut client);
    // SIGTERM asks a worker to leave: it finishes what it started, hands over (here to
    // nobody: it is the only worker) and exits 0.
    signal(&procs.0[1], libc::SIGTERM);
    assert_eq!(procs.0[1].wait().expect("ends").code(), Some(0));
    assert_eq!(entries(&spill), Vec::<String>::new(), "the stopped worker left its spill folder");
    // What a SIGKILL leaves (a folder named for a pid that is gone) goes at the next start.
    let stale = spill.join("tessera-spill-4999999-0");
    std::fs::create_dir_all(stale.join("inner")).expect("stale folder");
    std::fs::write(stale.join("inner/value.bin"), [0u8; 64]).expect("stale file");
    let run = tessera_tests::run_measured(&["run", "1 + 1"], &[("TESSERA_SPILL_DIR", spill.to_str().expect("utf-8"))]);
    assert_eq!(run.run.code, 0, "{}", run.run.stderr);
    assert!(!stale.exists(), "the dead process's folder was not removed");
    procs.0.push(client);
    drop(procs);
    let _ = std::fs::remove_dir_all(&spill);
    let _ = std::fs::remove_dir_all(&dir);
}
