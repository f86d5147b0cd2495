//! When a plan cannot fit the memory limit: the largest chunk size that would.

use tessera::{ChunkSpec, LowerOptions, lower};
use tessera_expr::{EvalOptions, Value};

/// Whether every task of `source` with square chunks of `edge` fits `limit`.
fn fits(source: &str, edge: usize, auto_bytes: u64, options: &LowerOptions, limit: u64) -> bool {
    let Ok(chunks) = ChunkSpec::parse(&edge.to_string()) else { return false };
    let eval = EvalOptions { chunks: Some(chunks), auto_bytes };
    let Ok(Value::Array(array)) = tessera_expr::evaluate(source, &eval) else { return false };
    lower(&array, options).is_ok_and(|g| g.max_projected_bytes() <= limit)
}

/// The largest `--chunks N` below `edge` at which every task fits `limit` (to within
/// 2 %), or `None` if even tiny chunks do not.
pub fn largest_fitting_chunks(
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
