//! What a tough new user tried, on the real binary: no silently wrong answer, no lost
//! output, no unbounded memory, no abort. Memory is measured from outside the process.

use tessera_tests::{Measured, run_measured, tessera};

fn ok_json(args: &[&str]) -> serde_json::Value {
    let run = tessera(args);
    assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
    run.json()
}

/// One line on stderr, the exit code, nothing on stdout, no panic or abort.
fn assert_refused(m: &Measured, code: i32, needle: &str) {
    let run = &m.run;
    assert_eq!(run.code, code, "exit {}: {}", run.code, run.stderr);
    assert!(!run.stderr.contains("panicked") && !run.stderr.contains("overflow"), "{}", run.stderr);
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: ") && first.contains(needle), "expected {needle:?} in {:?}", run.stderr);
    assert!(run.stdout.is_empty(), "printed a result: {}", run.stdout);
}

fn file_with(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("tessera-hardening-{name}-{}.tsr", std::process::id()));
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn none_in_an_index_is_numpys_newaxis() {
    // numpy: np.ones((3, 4))[None].shape == (1, 3, 4), [:, None] -> (3, 1, 4),
    // [None, :, None, 1] -> (1, 3, 1), [..., None] is not supported yet.
    for (expr, shape) in [
        ("ones((3, 4))[None]", vec![1, 3, 4]),
        ("ones((3, 4))[:, None]", vec![3, 1, 4]),
        ("ones((3, 4))[:, :, None]", vec![3, 4, 1]),
        ("ones((3, 4))[None, :, None, 1]", vec![1, 3, 1]),
        ("ones(())[None]", vec![1]),
    ] {
        let j = ok_json(&["run", "--json", expr]);
        assert_eq!(j["shape"], serde_json::json!(shape), "{expr}");
    }
    // A new axis broadcasts: (3, 1) against (4,) is (3, 4), summing to arange's total 3 times.
    let j = ok_json(&["run", "--json", "(ones(3)[:, None] * arange(4, chunks=3)).sum()"]);
    assert_eq!(j["result"], 18.0);
    let j = ok_json(&["run", "--json", "(ones((6, 5), chunks=2)[:, None, :] + ones((6, 1, 5))).sum()"]);
    assert_eq!(j["result"], 60.0);
}

#[test]
fn infinities_and_nans_print_as_numpy_and_stay_apart_in_json() {
    assert_eq!(tessera(&["run", "1e400"]).stdout.trim(), "inf");
    assert_eq!(tessera(&["run", "--", "-1e400"]).stdout.trim(), "-inf");
    assert_eq!(tessera(&["run", "(ones(3) / 0).sum()"]).stdout.trim(), "inf");
    let line = tessera(&["run", "zeros(3) / 0 + (-ones(3)) / 0"]).stdout;
    assert!(line.trim().ends_with("[nan, nan, nan]"), "{line}");
    assert_eq!(ok_json(&["run", "--json", "1e400"])["result"], "inf");
    assert_eq!(ok_json(&["run", "--json", "--", "-(ones(2) / 0).sum()"])["result"], "-inf");
    assert_eq!(ok_json(&["run", "--json", "(zeros(2) / 0).sum()"])["result"], "nan");
    let values = ok_json(&["run", "--json", "arange(3) / 0"])["result"]["values"].clone();
    assert_eq!(values, serde_json::json!(["nan", "inf", "inf"]));
}

#[test]
fn integers_to_negative_powers_are_refused_as_numpy_refuses_them() {
    let numpy = "Integers to negative integer powers are not allowed.";
    assert_refused(&run_measured(&["run", "arange(10, dtype='int64') ** -1"], &[]), 2, numpy);
    // Negative exponents inside an array are found when the values are computed.
    assert_refused(&run_measured(&["run", "(arange(10) ** (arange(10) - 5)).sum()"], &[]), 2, numpy);
    // Python numbers and float arrays still follow Python and numpy.
    assert_eq!(ok_json(&["run", "--json", "2 ** -1"])["result"], 0.5);
    assert_eq!(ok_json(&["run", "--json", "(arange(3) ** 2).sum()"])["result"], 5);
    assert_eq!(
        ok_json(&["run", "--json", "(arange(1, 3) * 1.0) ** -1"])["result"]["values"],
        serde_json::json!([1.0, 0.5])
    );
}

#[test]
fn runs_report_the_workers_and_threads_that_ran() {
    let j = ok_json(&["run", "--json", "--scheduler", "local-cluster", "--workers", "3", "ones(30, chunks=5).sum()"]);
    assert_eq!((j["workers"].as_u64(), j["threads"].as_u64()), (Some(3), Some(3)), "{j}");
    let names: Vec<&str> =
        j["cluster_workers"].as_array().expect("workers").iter().filter_map(|w| w["name"].as_str()).collect();
    assert_eq!(names, ["local-0", "local-1", "local-2"]);
    let j = ok_json(&[
        "run",
        "--json",
        "--scheduler",
        "local-cluster",
        "--workers",
        "1",
        "--threads-per-worker",
        "2",
        "ones(30, chunks=5).sum()",
    ]);
    assert_eq!((j["workers"].as_u64(), j["threads"].as_u64()), (Some(1), Some(2)), "{j}");
    let j = ok_json(&["run", "--json", "--workers", "3", "ones(30, chunks=5).sum()"]);
    assert_eq!((j["workers"].as_u64(), j["threads"].as_u64()), (Some(3), Some(3)), "{j}");
}

#[test]
fn results_that_cannot_be_written_are_errors() {
    use std::process::{Command, Stdio};
    let bin = tessera_tests::tessera_bin();
    let full = || std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    for extra in [&["--json"][..], &[][..], &["--scheduler", "local-cluster"][..]] {
        let out = Command::new(bin)
            .arg("run")
            .args(extra)
            .arg("ones(3).sum()")
            .stdout(full())
            .stderr(Stdio::piped())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
        let line = stderr.lines().find(|l| l.starts_with("error: ")).unwrap_or_default();
        assert!(line.contains("cannot write the result to standard output"), "{extra:?}: {stderr}");
    }
    // A closed stdout: refused before any work.
    let out = Command::new("sh")
        .args(["-c", "exec \"$0\" run --json 'ones(3).sum()' >&-"])
        .arg(bin)
        .stderr(Stdio::piped())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: cannot write the result: standard output is closed"), "{stderr}");
    // A plot that cannot be written: refused before the runs start.
    let m = run_measured(&["sweep", "ones(100).sum()", "--chunks", "10,20", "--out", "/nonexistent/plot.svg"], &[]);
    assert_refused(&m, 2, "--out /nonexistent/plot.svg: cannot write there");
    assert!(!m.run.stderr.contains("sweep: chunks="), "no run started: {}", m.run.stderr);
}

/// Plans that would explode are refused on numbers, in little memory.
#[test]
fn absurd_plans_are_refused_before_anything_is_allocated() {
    for (args, code, needle) in [
        (&["run", "ones((10**7,), chunks=1).sum()"][..], 2, "more than the limit of 100000"),
        (&["run", "arange(2**50).sum()"][..], 2, "use larger chunks"),
        (&["run", "arange(2**62).sum()"][..], 2, "use larger chunks"),
        (&["run", "ones((10**6, 10**6, 10**6), chunks=1000).sum()"][..], 2, "blocks, more than the limit"),
        (
            &["run", "--no-fuse", "x = ones((300, 300), chunks=1); (x + 1 + 2).sum()"][..],
            2,
            "tasks, more than the limit",
        ),
        (&["run", "--memory-limit", "1", "random((2000, 2000)).sum()"][..], 2, "below the smallest limit"),
        (&["run", "--memory-limit", "0.5MiB", "random((2000, 2000)).sum()"][..], 2, "below the smallest limit"),
        (&["run", "--memory-limit", "0", "random((2000, 2000)).sum()"][..], 2, "invalid size"),
        (&["run", "--workers", "100000000", "ones(3).sum()"][..], 2, "the limit is 1024"),
        (&["run", "--scheduler", "local-cluster", "--workers", "10000", "ones(3).sum()"][..], 2, "the limit is 256"),
        (&["worker", "--cluster-file", "/nonexistent", "--threads", "5000"][..], 2, "cannot read cluster file"),
        (&["run", "--file", "/dev/zero"][..], 2, "not a regular file"),
    ] {
        let m = run_measured(args, &[]);
        assert_refused(&m, code, needle);
        // Before the checks on numbers these took gigabytes (or aborted) on the way.
        assert!(m.peak_rss_bytes < 50 << 20, "{args:?}: peak RSS {} MiB", m.peak_rss_bytes >> 20);
    }
}

/// A reduction's memory does not grow with its chunk: tiles are made one at a time,
/// and the projection the limit is checked against is what the task really holds.
#[test]
fn one_chunk_reductions_run_in_constant_memory_under_the_limit() {
    let mut peaks = Vec::new();
    for (expr, k) in [
        ("ones((2**12,), chunks=2**12).sum()", 12),
        ("random((2**12,), chunks=2**12).sum()", 12),
        ("random((2**24,), chunks=2**24).sum()", 24),
        ("ones((2**30,), chunks=2**30).sum()", 30),
        ("ones((2**36,), chunks=2**36).sum()", 36),
        ("ones((2**18, 2**18), chunks=-1).sum()", 36),
    ] {
        // The smaller of two runs: a process's peak is its own, but a busy machine can
        // add transient pages to one run; growth with the chunk shows in both.
        let mut peak = u64::MAX;
        let mut projected = 0;
        for _ in 0..2 {
            let m = run_measured(&["run", "--json", "--memory-limit", "100MiB", expr], &[]);
            assert_eq!(m.run.code, 0, "{expr}: {}", m.run.stderr);
            projected = m.run.json()["projected_task_bytes"].as_u64().expect("projection");
            assert!(projected < 1 << 20, "{expr}: projected {projected}");
            peak = peak.min(m.peak_rss_bytes);
        }
        peaks.push((k, peak, projected));
    }
    let smallest = peaks.iter().map(|p| p.1).min().unwrap_or(0);
    for &(k, peak, projected) in &peaks {
        // The fixed overhead of the process, plus at most the projection and a margin.
        assert!(
            peak <= smallest + projected + (8 << 20),
            "2^{k} elements: peak {} MiB against {} MiB at the smallest: {peaks:?}",
            peak >> 20,
            smallest >> 20
        );
        assert!(peak < 100 << 20, "2^{k}: peak {} MiB over the limit", peak >> 20);
    }
}

/// Deep nesting gets exit 2 with the limit named, never a stack overflow.
#[test]
fn deep_nesting_is_refused_with_the_limit_named() {
    let deep = [
        ("parens", format!("{}1{}", "(".repeat(20000), ")".repeat(20000)), "nests deeper than the limit of 256"),
        ("unary", format!("{}1", "-".repeat(100_000)), "nests deeper than the limit of 256"),
        ("transposes", format!("ones((2, 3)){}", ".T".repeat(100_000)), "nests deeper than the limit of 256"),
        ("sums", format!("{}1", "1+".repeat(500_000)), "nests deeper than the limit of 256"),
        ("calls", format!("{}ones(3){}", "sqrt(".repeat(5000), ")".repeat(5000)), "nests deeper"),
        (
            "statements",
            format!("x = ones(10)\n{}x.sum()", "x = x + 1\n".repeat(30_000)),
            "chains 2001 operations one after another, more than the limit of 2000",
        ),
    ];
    for (name, text, needle) in &deep {
        let file = file_with(name, text);
        let f = file.to_str().expect("utf-8");
        for extra in [&[][..], &["--no-fuse"][..]] {
            let mut args = vec!["run", "--file", f];
            args.extend(extra);
            assert_refused(&run_measured(&args, &[]), 2, needle);
        }
        let _ = std::fs::remove_file(&file);
    }
    // Just under the limits everything runs, fused or not, locally and on a cluster.
    let file = file_with("chain", &format!("x = ones(10)\n{}x.sum()", "x = x + 1\n".repeat(1990)));
    let f = file.to_str().expect("utf-8");
    for args in [
        &["run", "--json", "--file", f][..],
        &["run", "--json", "--no-fuse", "--file", f][..],
        &["run", "--json", "--no-fuse", "--scheduler", "local-cluster", "--file", f][..],
    ] {
        assert_eq!(ok_json(args)["result"], 19910.0, "{args:?}");
    }
    let nested = format!("{}1{}", "(".repeat(250), ")".repeat(250));
    assert_eq!(ok_json(&["run", "--json", &nested])["result"], 1);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn a_refused_thread_spawn_is_a_clear_resource_error() {
    // 1000 threads' stacks do not fit 1.5 GB of address space: the system refuses some.
    let out = std::process::Command::new("sh")
        .args(["-c", "ulimit -v 1500000 && exec \"$0\" run --workers 1000 'ones(1000, chunks=10).sum()'"])
        .arg(tessera_tests::tessera_bin())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.starts_with("error: could not start 1000 threads (the system refused after "), "{stderr}");
}

/// A Zarr v3 array's metadata with `shape` and `chunks` (JSON lists).
fn zarr_json(shape: &str, chunks: &str) -> String {
    format!(
        r#"{{"zarr_format": 3, "node_type": "array", "shape": {shape}, "data_type": "float64",
        "chunk_grid": {{"name": "regular", "configuration": {{"chunk_shape": {chunks}}}}},
        "chunk_key_encoding": {{"name": "default", "configuration": {{"separator": "/"}}}},
        "fill_value": 0.0, "codecs": [{{"name": "bytes", "configuration": {{"endian": "little"}}}}], "attributes": {{}}}}"#
    )
}

#[test]
fn huge_shapes_in_stored_metadata_are_refused_before_anything_is_allocated() {
    tessera_tests::tessera_bin(); // built before anything is timed
    let dir = tempfile::tempdir().expect("a temporary directory");
    for (name, shape, chunks) in [
        ("a", "[1152921504606846976]", "[50]"),
        ("b", "[1152921504606846976, 1]", "[1, 1]"),
        ("c", "[1073741824, 1073741824]", "[50, 50]"),
        ("d", "[9223372036854775807, 9223372036854775807]", "[1, 1]"),
    ] {
        let store = dir.path().join(name);
        std::fs::create_dir(&store).expect("a store");
        std::fs::write(store.join("zarr.json"), zarr_json(shape, chunks)).expect("metadata");
        let src = format!("from_zarr('{}').sum()", store.display());
        let m = run_measured(&["run", &src], &[]);
        assert_refused(&m, 2, "");
        assert!(m.run.stderr.contains(&store.display().to_string()), "names the store: {}", m.run.stderr);
        assert!(m.wall < std::time::Duration::from_secs(2), "{shape}: refused after {:?}", m.wall);
        assert!(m.peak_rss_bytes < 64 << 20, "{shape}: {} bytes resident", m.peak_rss_bytes);
    }
}

#[test]
fn fifos_and_devices_are_refused_at_once_not_waited_on() {
    tessera_tests::tessera_bin(); // built before anything is timed
    let dir = tempfile::tempdir().expect("a temporary directory");
    let fifo = dir.path().join("pipe.npy");
    let zarr = dir.path().join("z.zarr");
    std::fs::create_dir(&zarr).expect("a store");
    for path in [&fifo, &zarr.join("zarr.json")] {
        let c = std::ffi::CString::new(path.display().to_string()).expect("a path");
        // SAFETY: mkfifo reads a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
    }
    let (f, z) = (fifo.display().to_string(), zarr.display().to_string());
    for args in [
        vec!["run".to_string(), format!("from_npy('{f}')")],
        vec!["run".to_string(), format!("from_zarr('{z}')")],
        vec!["info".to_string(), f.clone()],
        vec!["info".to_string(), z.clone()],
        vec!["run".to_string(), "--file".to_string(), f.clone()],
        vec!["run".to_string(), "--file".to_string(), "/dev/zero".to_string()],
        vec!["run".to_string(), "--cluster-file".to_string(), f.clone(), "1 + 1".to_string()],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let m = run_measured(&args, &[]);
        assert!(matches!(m.run.code, 1 | 2), "{args:?}: exit {}: {}", m.run.code, m.run.stderr);
        assert!(m.run.stderr.starts_with("error: ") && m.run.stderr.lines().count() == 1, "{args:?}: {}", m.run.stderr);
        assert!(m.wall < std::time::Duration::from_secs(5), "{args:?} waited {:?}", m.wall);
    }
}
