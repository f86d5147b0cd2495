//! When a plan cannot fit the memory limit: the largest chunk size that would.

use tessera::{ChunkSpec, LowerOptions, TaskGraph, format_bytes, lower};
use tessera_expr::EvalOptions;

use crate::error::CliError;
use crate::evaluate::evaluate_array;

/// Refuses `graph` (lowered from `source`) when a task cannot fit `limit`, naming the
/// largest chunk size that would.
pub fn check_fits(
    graph: &TaskGraph,
    source: &str,
    auto_bytes: u64,
    options: &LowerOptions,
    limit: u64,
) -> Result<(), CliError> {
    let projected = graph.max_projected_bytes();
    if projected <= limit {
        return Ok(());
    }
    let edge = graph.work_chunksize().into_iter().max().unwrap_or(1);
    let advice = match largest_fitting_chunks(source, edge, auto_bytes, options, limit) {
        Some(c) => format!("the largest chunks that fit are --chunks {c}; or raise --memory-limit"),
        None => "no chunk size fits; raise --memory-limit".into(),
    };
    Err(CliError::Resources(format!(
        "a task would need about {} of memory, more than the memory limit of {}; {advice}",
        format_bytes(projected),
        format_bytes(limit)
    )))
}

/// Whether every task of `source` with square chunks of `edge` fits `limit`.
fn fits(source: &str, edge: usize, auto_bytes: u64, options: &LowerOptions, limit: u64) -> bool {
    let Ok(chunks) = ChunkSpec::parse(&edge.to_string()) else { return false };
    let Ok(array) = evaluate_array(source, &EvalOptions { chunks: Some(chunks), auto_bytes }) else { return false };
    lower(&array, options).is_ok_and(|g| g.max_projected_bytes() <= limit)
}

/// The largest `--chunks N` below `edge` at which every task fits `limit` (to within
/// 2 %), or `None` if even tiny chunks do not.
fn largest_fitting_chunks(
    source: &str,
    edge: usize,
    auto_bytes: u64,
    options: &LowerOptions,
    limit: u64,
) -> Option<usize> {
    let fit = |e: usize| fits(source, e, auto_bytes, options, limit);
    // Halve until it fits, then search between the last size that did not and it.
    let (mut hi, mut lo) = (edge, edge / 2);
    while lo >= 1 && !fit(lo) {
        hi = lo;
        lo /= 2;
    }
    if lo == 0 {
        return None;
    }
    while hi - lo > (lo / 50).max(1) {
        let mid = lo + (hi - lo) / 2;
        if fit(mid) { lo = mid } else { hi = mid }
    }
    Some(lo)
}
