//! `tessera sweep`: one run per chunk size, each in a fresh process of this binary, so
//! every row's peak memory is its own (a process's peak only grows).

use std::process::{Command, Stdio};

use serde_json::{Value as Json, json};
use tessera::format_bytes;

use crate::cli::SweepArgs;
use crate::error::CliError;
use crate::output::print_line;
use crate::sweep_plot;
use crate::sweep_row::Row;

/// Splits `1000,(2000, 500),auto` at the commas outside parentheses.
fn chunk_list(text: &str) -> Result<Vec<String>, CliError> {
    let mut sizes = vec![String::new()];
    let mut depth = 0i32;
    for c in text.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            sizes.push(String::new());
        } else if let Some(last) = sizes.last_mut() {
            last.push(c);
        }
    }
    let sizes: Vec<String> = sizes.into_iter().map(|s| s.trim().to_string()).collect();
    if depth != 0 || sizes.iter().any(String::is_empty) {
        return Err(CliError::BadInput(format!(
            "--chunks {text:?} is not a comma-separated list of chunk sizes such as 1000,2000,auto"
        )));
    }
    Ok(sizes)
}

/// The `tessera run` arguments of one run with chunk size `chunks`.
fn run_args(args: &SweepArgs, chunks: &str) -> Vec<String> {
    let mut a = vec!["run".to_string(), "--json".into(), "--chunks".into(), chunks.into()];
    match (&args.expr, &args.file) {
        (Some(e), _) => a.push(e.clone()),
        (None, Some(f)) => a.extend(["--file".into(), f.display().to_string()]),
        (None, None) => {}
    }
    if let Some(f) = &args.place.cluster_file {
        a.extend(["--cluster-file".into(), f.display().to_string()]);
    } else {
        let name = clap::ValueEnum::to_possible_value(&args.place.scheduler).map(|v| v.get_name().to_string());
        a.extend(["--scheduler".into(), name.unwrap_or_default()]);
        a.extend(["--threads-per-worker".into(), args.place.threads_per_worker.to_string()]);
    }
    if let Some(w) = args.place.workers {
        a.extend(["--workers".into(), w.to_string()]);
    }
    if let Some(m) = &args.place.memory_limit {
        a.extend(["--memory-limit".into(), m.clone()]);
    }
    if args.no_fuse {
        a.push("--no-fuse".into());
    }
    a
}

/// The first line a failed run printed, without its `error: ` prefix.
fn first_error_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let line = text.lines().find(|l| l.starts_with("error: ")).or_else(|| text.lines().next()).unwrap_or("");
    line.trim_start_matches("error: ").to_string()
}

/// Runs one chunk size `repeat` times; the run with the median wall time stands for it.
fn measure(args: &SweepArgs, chunks: &str) -> Result<Row, CliError> {
    let exe = std::env::current_exe().map_err(|e| CliError::Failed(format!("cannot find this program: {e}")))?;
    let mut runs = Vec::new();
    for _ in 0..args.repeat {
        let out = Command::new(&exe)
            .args(run_args(args, chunks))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| CliError::Failed(format!("cannot start a run: {e}")))?;
        let message = first_error_line(&out.stderr);
        match out.status.code() {
            Some(0) => match serde_json::from_slice::<Json>(&out.stdout) {
                Ok(j) => runs.push(j),
                Err(e) => return Err(CliError::Failed(format!("a run printed no JSON: {e}"))),
            },
            // The same expression is bad at every chunk size: stop.
            Some(2) => return Err(CliError::BadInput(message)),
            Some(3) => return Ok(Row { chunks: chunks.into(), outcome: Err(format!("refused: {message}")) }),
            _ => return Ok(Row { chunks: chunks.into(), outcome: Err(format!("failed: {message}")) }),
        }
    }
    runs.sort_by(|a, b| a["wall_s"].as_f64().partial_cmp(&b["wall_s"].as_f64()).unwrap_or(std::cmp::Ordering::Equal));
    let mut median = runs.swap_remove(runs.len() / 2);
    median["chunks"] = json!(chunks);
    median["repeat"] = json!(args.repeat);
    Ok(Row { chunks: chunks.into(), outcome: Ok(median) })
}

/// Runs the sweep and prints its table (or JSON), and writes the plot.
pub fn sweep(args: &SweepArgs) -> Result<(), CliError> {
    crate::output::check_stdout()?;
    let sizes = chunk_list(&args.chunks)?;
    crate::run::check_placement(&args.place)?;
    if args.repeat == 0 {
        return Err(CliError::BadInput("--repeat must be at least 1".into()));
    }
    // A plot that cannot be written is found out before the runs, not after them.
    if let Some(path) = &args.out {
        check_writable(path)?;
    }
    let mut rows = Vec::new();
    for (i, chunks) in sizes.iter().enumerate() {
        warn!("sweep: chunks={chunks} ({}/{}), {} run(s)", i + 1, sizes.len(), args.repeat);
        rows.push(measure(args, chunks)?);
    }
    if args.json {
        let objects: Vec<Json> = rows
            .iter()
            .map(|r| match &r.outcome {
                Ok(j) => j.clone(),
                Err(e) => json!({ "chunks": r.chunks, "error": e }),
            })
            .collect();
        print_line(&Json::Array(objects).to_string())?;
    } else {
        print_table(&rows)?;
    }
    if let Some(path) = &args.out {
        sweep_plot::write(path, &rows)
            .map_err(|e| CliError::Failed(format!("cannot write {}: {e}", path.display())))?;
        warn!("sweep: plot written to {}", path.display());
    }
    Ok(())
}

/// Fails unless `path` can be written, leaving the file system as it was.
fn check_writable(path: &std::path::Path) -> Result<(), CliError> {
    let refused = |e: std::io::Error| CliError::BadInput(format!("--out {}: cannot write there: {e}", path.display()));
    if path.exists() {
        std::fs::OpenOptions::new().write(true).open(path).map(drop).map_err(refused)
    } else {
        std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(refused)?;
        std::fs::remove_file(path).map_err(refused)
    }
}

fn print_table(rows: &[Row]) -> Result<(), CliError> {
    print_line(&format!(
        "{:<14} {:>8} {:>10} {:>7} {:>12}  result",
        "chunks", "tasks", "wall s", "cpu %", "peak memory"
    ))?;
    for r in rows {
        let line = match &r.outcome {
            Ok(j) => format!(
                "{:<14} {:>8} {:>10.3} {:>7.0} {:>12}  {}",
                r.chunks,
                j["tasks"].as_u64().unwrap_or(0),
                j["wall_s"].as_f64().unwrap_or(f64::NAN),
                j["cpu_percent"].as_f64().unwrap_or(f64::NAN),
                format_bytes(j["peak_memory_bytes"].as_u64().unwrap_or(0)),
                j["result"].as_str().map_or_else(|| j["result"].to_string(), str::to_string)
            ),
            Err(e) => format!("{:<14} {e}", r.chunks),
        };
        print_line(&line)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_lists_split_outside_parentheses() {
        assert_eq!(chunk_list("1000, 2000,auto").expect("valid"), ["1000", "2000", "auto"]);
        assert_eq!(chunk_list("(1000, 500),-1").expect("valid"), ["(1000, 500)", "-1"]);
        assert!(chunk_list("1000,,2000").is_err());
        assert!(chunk_list("(1000, 500").is_err());
        assert!(chunk_list("").is_err());
    }
}
