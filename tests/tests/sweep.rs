//! `tessera sweep`: the seed's chunk-size experiment as one command.

use tessera_tests::tessera;

const S2_SMALL: &str = "x = random((600, 600), seed=4); (x * x[::-1, ::-1]).sum()";

#[test]
fn one_json_object_per_chunk_size_with_the_same_result() {
    let run = tessera(&["sweep", "--json", "--chunks", "100,(300, 200),auto", "--repeat", "2", S2_SMALL]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(run.stdout.trim()).expect("a JSON array");
    assert_eq!(rows.len(), 3);
    let labels: Vec<&str> = rows.iter().map(|r| r["chunks"].as_str().expect("label")).collect();
    assert_eq!(labels, ["100", "(300, 200)", "auto"]);
    for r in &rows {
        for key in ["result", "tasks", "wall_s", "cpu_percent", "peak_memory_bytes", "chunksize", "scheduler"] {
            assert!(!r[key].is_null(), "{key} missing in {r}");
        }
        assert_eq!(r["result"], rows[0]["result"], "the result does not depend on the chunks");
        assert_eq!(r["repeat"], 2);
    }
    assert_eq!(rows[0]["chunksize"], serde_json::json!([100, 100]));
    assert!(rows[0]["tasks"].as_u64() > rows[2]["tasks"].as_u64(), "smaller chunks, more tasks");
}

#[test]
fn the_table_and_the_plot_name_every_chunk_size() {
    let dir = std::env::temp_dir().join(format!("tessera-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let svg = dir.join("sweep.svg");
    let run = tessera(&["sweep", "--chunks", "150,300", "--out", svg.to_str().expect("utf-8"), S2_SMALL]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].contains("wall s") && lines[0].contains("peak memory"), "{}", run.stdout);
    assert!(lines[1].starts_with("150 ") && lines[2].starts_with("300 "), "{}", run.stdout);
    let plot = std::fs::read_to_string(&svg).expect("the plot was written");
    assert!(plot.starts_with("<svg") && plot.contains("wall time") && plot.contains("peak memory"));
    assert!(plot.contains(">\n150\n<") || plot.contains(">150<"), "x labels are the chunk sizes");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_chunk_size_that_cannot_fit_is_refused_and_the_others_run() {
    // A matmul task holds its input blocks and its output: with 600 x 600 float64 chunks
    // about 8 MiB, over a 4 MiB limit; with 100 x 100 chunks a few hundred KiB.
    let run = tessera(&[
        "sweep",
        "--json",
        "--memory-limit",
        "4MiB",
        "--chunks",
        "100,600",
        "x = random((600, 600)); (x @ x).sum()",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(run.stdout.trim()).expect("a JSON array");
    assert!(rows[0]["result"].is_number(), "{}", rows[0]);
    let error = rows[1]["error"].as_str().expect("the big chunks were refused");
    assert!(error.starts_with("refused: ") && error.contains("memory limit"), "{error}");
}

#[test]
fn bad_input_stops_the_sweep_with_exit_code_2() {
    for args in [
        vec!["sweep", "--chunks", "100,,200", S2_SMALL],
        vec!["sweep", "--chunks", "100", "--repeat", "0", S2_SMALL],
        vec!["sweep", "--chunks", "100,bogus", S2_SMALL],
        vec!["sweep", "--chunks", "100", "ones((10,)).sum("],
    ] {
        let run = tessera(&args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.lines().any(|l| l.starts_with("error: ")), "{}", run.stderr);
        assert!(!run.stderr.contains("panicked"));
    }
}
