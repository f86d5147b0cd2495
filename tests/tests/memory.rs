//! The memory limit: plans that cannot fit are refused at once; plans that can stay
//! under it, spilling held chunks to disk when they must.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tessera_tests::{tessera, tessera_bin};

/// Runs `tessera` with spills going to `spill_dir`: exit code, JSON, peak RSS, stderr.
fn run_measured(args: &[&str], spill_dir: &std::path::Path) -> (i32, serde_json::Value, u64, String) {
    let m = tessera_tests::run_measured(args, &[("TESSERA_SPILL_DIR", spill_dir.to_str().expect("utf-8"))]);
    let json = serde_json::from_str(m.run.stdout.trim()).unwrap_or(serde_json::Value::Null);
    (m.run.code, json, m.peak_rss_bytes, m.run.stderr)
}

#[test]
fn a_materializing_run_three_times_the_limit_stays_under_it() {
    // Fusion off: every block of y is stored, and y.T reads them in another order, so
    // all of y (128 MB) would be held at once without spilling.
    let expr = "x = random((4000, 4000), seed=1); y = x + 1; (y + y.T).sum()";
    let want = tessera(&["run", "--json", "--no-fuse", "--chunks", "500", expr]).json()["result"].clone();
    let spill = std::env::temp_dir().join(format!("tessera-spill-test-{}", std::process::id()));
    std::fs::create_dir_all(&spill).expect("spill dir");
    let limit = 48u64 << 20;
    let (code, j, peak, stderr) =
        run_measured(&["run", "--json", "--no-fuse", "--chunks", "500", "--memory-limit", "48MiB", expr], &spill);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(j["result"], want, "spilling changes nothing in the result");
    assert!(j["spilled_bytes"].as_u64() > Some(0), "held chunks went to disk: {j}");
    assert!(peak < limit, "peak RSS {} MiB over the 48 MiB limit", peak >> 20);
    let left: Vec<_> = std::fs::read_dir(&spill).expect("readable").collect();
    assert!(left.is_empty(), "spill files removed at the end: {left:?}");
    let _ = std::fs::remove_dir_all(&spill);
}

#[test]
fn the_seeds_crash_case_is_refused_at_once_and_auto_fits() {
    // The seed at CI size: a matmul whose whole-array chunks need ~200 MiB per task
    // under a 64 MiB limit (the seed: chunks of 20000 under 2 GiB).
    let expr = "x = random((3000, 3000), seed=1); (x @ x.T).sum()";
    tessera_bin();
    let start = Instant::now();
    let refused = tessera(&["run", "--chunks", "3000", "--memory-limit", "64MiB", expr]);
    assert!(start.elapsed() < Duration::from_secs(1), "refused in {:?}", start.elapsed());
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    let line = refused.stderr.lines().find(|l| l.starts_with("error: ")).expect("one error line");
    assert!(line.contains("memory limit of 64.00 MiB") && line.contains("--chunks "), "{line}");
    // The suggestion is right: the size it names runs under the same limit.
    let suggested = line.split("--chunks ").nth(1).and_then(|t| t.split(';').next()).expect("a size");
    let ok = tessera(&["run", "--json", "--chunks", suggested, "--memory-limit", "64MiB", expr]);
    assert_eq!(ok.code, 0, "the suggested --chunks {suggested} fits: {}", ok.stderr);
    // `auto` (its byte target scaled down with the problem) fits too.
    let auto = tessera(&["run", "--json", "--chunks", "auto", "--chunk-size", "4MiB", "--memory-limit", "64MiB", expr]);
    assert_eq!(auto.code, 0, "{}", auto.stderr);
    assert_eq!(auto.json()["result"], ok.json()["result"]);
}

#[test]
#[allow(clippy::zombie_processes)] // reaped with wait4, which keeps its resource usage
fn a_cluster_worker_under_its_limit_spills_and_stays_under_it() {
    // Unfused: y's blocks are all stored and read again transposed; without a limit the
    // worker peaks near 84 MiB (debug build) on this.
    let expr = "x = random((3000, 3000), seed=1); y = x + 1; (y + y.T).sum()";
    let want = tessera(&["run", "--json", "--no-fuse", "--chunks", "375", expr]).json()["result"].clone();
    let dir = std::env::temp_dir().join(format!("tessera-test-worker-spill-{}", std::process::id()));
    let spill = dir.join("spill");
    std::fs::create_dir_all(&spill).expect("dirs");
    let file = dir.join("cluster.json");
    let f = file.to_str().expect("utf-8").to_string();
    let mut scheduler = Command::new(tessera_bin())
        .args(["scheduler", "--listen", "127.0.0.1:0", "--cluster-file", &f])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("scheduler starts");
    let start = Instant::now();
    while std::fs::read_to_string(&file).map_or(true, |t| !t.contains("secret")) {
        assert!(start.elapsed() < Duration::from_secs(15), "no cluster file");
        std::thread::sleep(Duration::from_millis(20));
    }
    let limit: u64 = 40 << 20;
    let worker = Command::new(tessera_bin())
        .args(["worker", "--cluster-file", &f, "--threads", "2", "--memory-limit", "40MiB", "--name", "small"])
        .env("TESSERA_SPILL_DIR", &spill)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("worker starts");
    let pid = worker.id() as libc::pid_t;

    let run = tessera(&["run", "--json", "--no-fuse", "--chunks", "375", "--cluster-file", &f, expr]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["result"], want, "same result as on threads");
    assert!(j["spilled_bytes"].as_u64().expect("spilled") > 0, "{j}");
    assert!(j["cluster_workers"][0]["spilled_bytes"].as_u64().expect("per worker") > 0, "{j}");

    // The worker ends when the scheduler goes; its peak comes from the kernel.
    scheduler.kill().expect("stop scheduler");
    let _ = scheduler.wait();
    let mut status = 0;
    // SAFETY: rusage is plain data, zeroed, and wait4 writes only into it and `status`.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    let peak = usage.ru_maxrss as u64 * 1024;
    assert!(peak < limit, "worker peak {} MiB over its 40 MiB limit", peak >> 20);
    let left: Vec<_> = std::fs::read_dir(&spill).expect("spill dir").collect();
    assert!(left.is_empty(), "the worker removed its spill folder: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stored_data_twice_the_limit_is_read_transformed_and_written_under_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (input, output) = (dir.path().join("in.zarr"), dir.path().join("out.zarr"));
    // 128 MB of float64 in 250 x 4000 chunks (8 MB each), written by tessera itself.
    let make = format!("to_zarr(random((4000, 4000), seed=9, chunks=(250, 4000)), '{}')", input.display());
    let run = tessera(&["run", &make]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let limit = 64u64 << 20;
    let expr = format!(
        "x = from_zarr('{}'); to_zarr((x * 2 - 1).astype(float32), '{}', chunks=(500, 4000))",
        input.display(),
        output.display()
    );
    let (code, j, peak, stderr) = run_measured(&["run", "--json", "--memory-limit", "64MiB", &expr], dir.path());
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(j["result"][0]["chunks_written"], 8, "{j}");
    assert!(peak < limit, "peak RSS {} MiB over the 64 MiB limit", peak >> 20);
    let sum = tessera(&["run", "--json", &format!("from_zarr('{}').astype(float64).sum()", output.display())]);
    let want = tessera(&[
        "run",
        "--json",
        "x = random((4000, 4000), seed=9); (x * 2 - 1).astype(float32).astype(float64).sum()",
    ]);
    assert_eq!(sum.json()["result"], want.json()["result"], "the written values are the computed ones");
}
