//! Boolean masks `x[mask]` through the API, and the counting pass that programs use:
//! the mask's true values are counted per block by a small graph run here first, so
//! the result's shape and chunks are known before its values are computed.

use std::sync::Arc;
use std::time::Instant;

use tessera_chunks::format_bytes;
use tessera_expr::CountPass;
use tessera_graph::{Array, LowerOptions, lower};
use tessera_runtime::{NoObserver, Scheduler};

use crate::Error;

/// `x[mask]` for a bool `mask` of `x`'s shape: a 1-D array of the values where the
/// mask is true, in row-major order. The mask is computed once on `scheduler` to count
/// them, and again when the result is.
pub fn boolean_index(x: &Array, mask: &Array, scheduler: Scheduler) -> Result<Array, Error> {
    let (values, flat_mask) = x.mask_operands(mask)?;
    let counts = count_blocks(&flat_mask.block_counts()?, scheduler, u64::MAX)?;
    Ok(values.compress_blocks(&flat_mask, &counts)?)
}

/// Computes per-block counts (an array from [`Array::block_counts`]) on `scheduler`,
/// every task within `memory_limit`.
pub fn count_blocks(counts: &Array, scheduler: Scheduler, memory_limit: u64) -> Result<Vec<u64>, Error> {
    let graph = lower(counts, &LowerOptions::default())?;
    let projected = graph.max_projected_bytes();
    if projected > memory_limit {
        return Err(Error::Graph(tessera_graph::GraphError::Shape(format!(
            "the counting pass of a boolean mask would need about {} per task, more than the memory limit of {}; \
             use smaller chunks",
            format_bytes(projected),
            format_bytes(memory_limit)
        ))));
    }
    tracing::debug!(blocks = counts.len(), "counting a boolean mask's true values");
    let computed = crate::run_graph_within(&graph, scheduler, &NoObserver, Instant::now(), memory_limit)?;
    let crate::Block::I64(values) = computed.block else { return Err(Error::Assemble) };
    Ok(values.iter().map(|&c| c.max(0) as u64).collect())
}

/// The counting pass programs use: on this process's threads, within `memory_limit`.
pub fn local_count_pass(memory_limit: u64) -> CountPass {
    Arc::new(move |counts: &Array| count_blocks(counts, Scheduler::threads(), memory_limit).map_err(|e| e.to_string()))
}

#[cfg(test)]
mod tests {
    use tessera_chunks::ChunkSpec;
    use tessera_graph::{BinaryOp, Scalar};

    use super::*;
    use crate::Compute;

    #[test]
    fn a_mask_selects_in_row_major_order_with_its_length_known_before_the_values() {
        let x =
            Array::arange(60, &ChunkSpec::parse("7").expect("valid")).expect("valid").reshape(&[6, 10]).expect("ok");
        let x = x.rechunk(&ChunkSpec::parse("(4, 3)").expect("valid")).expect("valid");
        let mask =
            x.binary_scalar(BinaryOp::Mod, Scalar::Int(7)).expect("ok").binary_scalar(BinaryOp::Eq, Scalar::Int(0));
        let picked = boolean_index(&x, &mask.expect("ok"), Scheduler::SingleThreaded).expect("counts");
        assert_eq!(picked.shape(), &[9]);
        let got = picked.compute(Scheduler::threads()).expect("computes").block;
        let crate::Block::I64(values) = got else { panic!("int64 values") };
        assert_eq!(values.iter().copied().collect::<Vec<_>>(), vec![0, 7, 14, 21, 28, 35, 42, 49, 56]);
    }

    #[test]
    fn counts_that_the_values_do_not_match_fail_with_a_message_not_a_wrong_result() {
        let x = Array::random(&[100], 1, &ChunkSpec::parse("25").expect("valid")).expect("valid");
        let mask = x.binary_scalar(BinaryOp::Gt, Scalar::Float(0.5)).expect("ok");
        let (values, flat) = x.mask_operands(&mask).expect("operands");
        let wrong = values.compress_blocks(&flat, &[1, 1, 1, 1]).expect("builds");
        let err = wrong.compute(Scheduler::threads()).map(|_| ()).expect_err("the counts are wrong");
        assert!(err.to_string().contains("changed between the two passes"), "{err}");
    }
}
