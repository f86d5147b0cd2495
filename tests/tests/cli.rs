//! `tessera run` as a user and a script see it: results, JSON keys, exit codes.

use proptest::prelude::*;
use tessera_tests::tessera;

const SEED_SMALL: &str = "x = ones((2000, 2000), chunks=(500, 500))\n(x * x[::-1, ::-1]).sum()";
const RANDOM_SMALL: &str = "x = random((1500, 1300), seed=42, chunks=100); (x * x[::-1, ::-1]).sum()";

#[test]
fn json_has_the_documented_keys() {
    let run = tessera(&["run", "--json", SEED_SMALL]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["result"], 4e6);
    for key in [
        "result",
        "shape",
        "dtype",
        "chunksize",
        "tasks",
        "scheduler",
        "workers",
        "wall_s",
        "cpu_percent",
        "peak_memory_bytes",
    ] {
        assert!(j.get(key).is_some(), "missing key {key} in {j}");
    }
    assert_eq!(j["dtype"], "float64");
    assert_eq!(j["scheduler"], "threads");
    assert_eq!(j["chunksize"], serde_json::json!([500, 500]));
    assert!(j["tasks"].as_u64().is_some_and(|t| t > 16));
    assert!(j["peak_memory_bytes"].as_u64().is_some_and(|m| m > 0));
}

#[test]
fn random_sums_are_identical_for_every_chunking_and_scheduler() {
    let mut results = Vec::new();
    for chunks in ["100", "(700, 333)", "auto", "-1"] {
        for scheduler in ["threads", "single-threaded"] {
            let run = tessera(&["run", "--json", "--chunks", chunks, "--scheduler", scheduler, RANDOM_SMALL]);
            assert_eq!(run.code, 0, "{}", run.stderr);
            // Compare the printed number itself: JSON keeps every bit of an f64.
            results.push(run.json()["result"].to_string());
        }
    }
    assert!(results.iter().all(|r| r == &results[0]), "{results:?}");
    let no_fuse = tessera(&["run", "--json", "--no-fuse", "--workers", "3", RANDOM_SMALL]);
    assert_eq!(no_fuse.json()["result"].to_string(), results[0]);
}

#[test]
fn axis_reductions_report_shape_dtype_and_values() {
    let run =
        tessera(&["run", "--json", "arange(12, chunks=5).astype(float64).sum(axis=0) + ones((3, 4)).sum(axis=1)"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    assert_eq!(j["result"]["shape"], serde_json::json!([3]));
    assert_eq!(j["result"]["dtype"], "float64");
    assert_eq!(j["result"]["values"], serde_json::json!([70.0, 70.0, 70.0]));
    let plain = tessera(&["run", "arange(6, chunks=4) * 2"]);
    assert_eq!(plain.stdout.trim(), "array(shape=[6], dtype=int64): [0, 2, 4, 6, 8, 10]");
}

#[test]
fn expressions_can_come_from_a_file() {
    let dir = std::env::temp_dir().join(format!("tessera-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("seed.tsr");
    std::fs::write(&file, SEED_SMALL).expect("write");
    let run = tessera(&["run", "--file", file.to_str().expect("utf-8 path")]);
    assert_eq!((run.code, run.stdout.trim()), (0, "4000000.0"), "{}", run.stderr);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn progress_falls_back_to_plain_lines_without_a_terminal() {
    let run = tessera(&["run", "--progress", RANDOM_SMALL]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("progress: 100%"), "{}", run.stderr);
    assert!(run.stderr.contains("progress:  50%") || run.stderr.contains("progress:  60%"), "{}", run.stderr);
}

fn assert_one_line_error(args: &[&str], code: i32, needle: &str) {
    let run = tessera(args);
    assert_eq!(run.code, code, "{args:?}: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{args:?} panicked: {}", run.stderr);
    let first = run.stderr.lines().next().unwrap_or_default();
    assert!(first.contains(needle), "{args:?}: expected {needle:?} in {:?}", run.stderr);
    assert!(run.stdout.is_empty(), "{args:?} printed a result on failure: {}", run.stdout);
}

#[test]
fn bad_input_exits_2_with_one_clear_line() {
    assert_one_line_error(&["run", "ones((3, 3)"], 2, "line 1, column 12: expected ')'");
    assert_one_line_error(&["run", "ones((3, 4)) + ones((5,))"], 2, "shapes [3, 4] and [5]");
    assert_one_line_error(&["run", "ones((3, 4)) @ ones((3, 4))"], 2, "matmul: shapes [3, 4] and [3, 4]");
    assert_one_line_error(&["run", "ones(10, chunks=0).sum()"], 2, "chunk size 0 is invalid");
    assert_one_line_error(&["run", "--chunks", "-3", "ones(10).sum()"], 2, "chunk size -3 is invalid");
    assert_one_line_error(&["run", "--chunks", "12XB", "ones(10).sum()"], 2, "invalid chunks");
    assert_one_line_error(&["run", "--chunk-size", "lots", "ones(10).sum()"], 2, "invalid size");
    assert_one_line_error(&["run", "ones((2, 2)).sum(axis=5)"], 2, "axis 5 is out of bounds");
    assert_one_line_error(&["run", "onez(3)"], 2, "unknown function 'onez'");
    assert_one_line_error(&["run", "ones(\"big\")"], 2, "expected a shape");
    assert_one_line_error(&["run", "--scheduler", "magic", "ones(3)"], 2, "invalid value 'magic'");
    assert_one_line_error(&["run", "--file", "/nonexistent/expr.tsr"], 2, "cannot read /nonexistent/expr.tsr");
    assert_one_line_error(&["run", "--workers", "0", "ones(3)"], 2, "--workers must be at least 1");
    assert_one_line_error(&["run", "ones((10**9, 10**9), chunks=100).sum()"], 2, "use larger chunks");
    assert_one_line_error(&["run", "arange(24).reshape(5, -1)"], 2, "cannot reshape array of size 24 into shape");
    assert_one_line_error(&["run", "concatenate([ones((2, 3)), ones((2, 4))])"], 2, "along dimension 1");
    assert_one_line_error(&["run", "take(arange(5), [7], axis=0)"], 2, "index 7 is out of bounds for axis 0");
    assert_one_line_error(&["run", "pad(arange(3), 5, mode='reflect')"], 2, "pad: mode 'reflect' pads at most");
}

/// Dask's reshape merges a block with every block across the raveled axes (dask#5544);
/// tessera keeps blocks under the chunk target instead, and says so.
#[test]
fn a_reshape_that_would_blow_up_chunks_rechunks_and_warns() {
    let expr = "x = random((2000, 2000), seed=1, chunks=200); x.ravel()[::997].sum() - x.sum() * 0";
    let run = tessera(&["run", "--json", "--chunk-size", "1MiB", expr]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let j = run.json();
    let warnings = j["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{j}");
    assert!(warnings[0].as_str().is_some_and(|w| w.contains("rechunked to [65, 2000]")), "{j}");
    assert!(j["projected_task_bytes"].as_u64().is_some_and(|b| b < 4 << 20), "{j}");
    let plain = tessera(&["run", "--chunk-size", "1MiB", expr]);
    assert!(plain.stderr.lines().any(|l| l.starts_with("warning: reshape:")), "{}", plain.stderr);
    // Rows already whole: Dask's chunks, no rechunk, no warning.
    let whole = tessera(&["run", "--json", "random((200, 50), chunks=(20, 50)).ravel().sum()"]);
    assert!(whole.json().get("warnings").is_none(), "{}", whole.stdout);
}

/// `x[mask]`: the counting pass makes the length and chunks known before the values
/// (Dask's are NaN), and every scheduler selects the same values.
#[test]
fn a_boolean_mask_has_its_length_before_its_values_and_the_same_bits_everywhere() {
    let expr = "x = random((300, 200), seed=5, chunks=(70, 90)); y = x[x > 0.75]; y * 2";
    let threads = tessera(&["run", "--json", expr]).json();
    let n = threads["shape"][0].as_u64().expect("a 1-D result");
    // About a quarter of 60000 uniform values, and one chunk per block that selects any.
    assert!((14000..16000).contains(&n), "{threads}");
    assert_eq!(threads["result"]["shape"][0].as_u64(), Some(n));
    let sum = "x = random((300, 200), seed=5, chunks=(70, 90)); x[x > 0.75].sum()";
    let want = tessera(&["run", "--json", sum]).json()["result"].clone();
    for scheduler in ["single-threaded", "local-cluster"] {
        let got = tessera(&["run", "--json", "--scheduler", scheduler, sum]).json();
        assert_eq!(got["result"], want, "{scheduler}: {got}");
    }
    assert_one_line_error(
        &["run", "x = ones((3, 4)); x[ones((4, 3)) > 0]"],
        2,
        "boolean index did not match indexed array along axis 0",
    );
    assert_one_line_error(&["run", "x = ones((3, 4)); x[x]"], 2, "must be bool masks");
}

#[test]
fn resource_refusals_exit_3() {
    assert_one_line_error(
        &["run", "--memory-limit", "64MiB", "ones((10000, 10000), chunks=-1) + 1"],
        3,
        "more than the memory limit of 64.00 MiB",
    );
}

/// `tessera` with the Vulkan loader pointed at no driver: a machine without a GPU.
fn without_gpu(args: &[&str]) -> std::process::Output {
    std::process::Command::new(tessera_tests::tessera_bin())
        .args(args)
        .env("VK_ICD_FILENAMES", "/nonexistent.json")
        .env("VK_DRIVER_FILES", "/nonexistent.json")
        .output()
        .expect("starts")
}

#[test]
fn without_a_gpu_device_gpu_exits_3_and_auto_uses_the_cpu() {
    let gpu = without_gpu(&["run", "--device", "gpu", "ones(3).sum()"]);
    let stderr = String::from_utf8_lossy(&gpu.stderr);
    assert_eq!(gpu.status.code(), Some(3), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error: no GPU adapter: "), "{stderr}");
    assert!(stderr.contains("vulkan"), "wgpu's reason: {stderr}");
    assert!(gpu.stdout.is_empty());

    let auto = without_gpu(&["run", "--device", "auto", "--json", "ones(3).sum()"]);
    let stderr = String::from_utf8_lossy(&auto.stderr);
    assert_eq!(auto.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("device auto: using the CPU (no GPU adapter"), "{stderr}");
    let j: serde_json::Value = serde_json::from_slice(&auto.stdout).expect("json");
    assert_eq!((j["result"].as_f64(), j["device"].as_str()), (Some(3.0), Some("cpu")));
}

#[test]
fn auto_never_picks_a_gpu_emulated_on_the_cpu_and_gpu_on_one_warns() {
    let gpu = tessera_tests::tessera(&["run", "--device", "gpu", "--json", "ones(3).sum()"]);
    if gpu.code == 3 {
        return eprintln!("skipped: no GPU adapter here ({})", gpu.stderr.trim());
    }
    assert_eq!(gpu.code, 0, "{}", gpu.stderr);
    if !gpu.stderr.contains("is a CPU emulating a GPU") {
        return eprintln!("skipped: this machine's adapter is a real GPU ({})", gpu.json()["adapter"]);
    }
    assert_eq!(gpu.json()["device"].as_str(), Some("gpu"), "--device gpu still runs on it");
    let auto = tessera_tests::tessera(&["run", "--device", "auto", "--json", "ones(3).sum()"]);
    assert_eq!(auto.code, 0, "{}", auto.stderr);
    assert!(auto.stderr.contains("device auto: using the CPU") && auto.stderr.contains("emulating"), "{}", auto.stderr);
    assert_eq!(auto.json()["device"].as_str(), Some("cpu"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Whatever the text, the CLI answers with a documented exit code and never panics.
    #[test]
    fn arbitrary_expressions_never_panic(parts in proptest::collection::vec(prop_oneof![
        Just("ones((40, 60), chunks=7)"), Just("random((40, 60), seed=1)"), Just("x"), Just("x = "),
        Just("("), Just(")"), Just("["), Just("]"), Just(":"), Just("::-1"), Just(","), Just("+"), Just("*"),
        Just("/"), Just("@"), Just(".T"), Just(".sum("), Just(".mean(axis=1)"), Just("axis="), Just("-1"),
        Just("0"), Just("2.5"), Just(";"), Just("\n"), Just("where("), Just(".rechunk(13)"), Just("arange(60)"),
        Just("\u{e9}"), Just("\""), Just("sqrt("), Just(".std()"), Just("**"), Just(">"),
    ], 0..12)) {
        let src: String = parts.concat();
        let run = tessera(&["run", "--json", &src]);
        prop_assert!([0, 2].contains(&run.code), "{:?} exited {}: {}", src, run.code, run.stderr);
        prop_assert!(!run.stderr.contains("panicked"), "{:?}: {}", src, run.stderr);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// Deep nesting and long statement chains, through the real binary: a result or
    /// exit 2, never an abort (a stack overflow exits 134).
    #[test]
    fn deep_and_long_programs_exit_0_or_2(parts in proptest::collection::vec((prop_oneof![
        Just("("), Just(")"), Just("-"), Just("1+"), Just(".T"), Just("x = x + 1\n"), Just("x = ones(4)\n"),
        Just("sqrt("), Just("[None]"), Just("x"), Just("1"), Just("\n"),
    ], 1..12_000usize), 1..5)) {
        let src: String = parts.into_iter().map(|(p, n)| p.repeat(n)).collect();
        let file = std::env::temp_dir().join(format!("tessera-cli-deep-{}.tsr", std::process::id()));
        std::fs::write(&file, &src).expect("write");
        let run = tessera(&["run", "--json", "--no-fuse", "--file", file.to_str().expect("utf-8")]);
        prop_assert!([0, 2].contains(&run.code), "exited {}: {}", run.code, run.stderr);
        prop_assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
}
