//! `histogram` as a chunked reduction: each task counts one block of the input into
//! the bins (a row of a `(blocks, bins)` array), and the rows are summed by the usual
//! reduction tree, in exact integers.

use serde::{Deserialize, Serialize};
use tessera_chunks::{Chunks, DType};

use super::{Array, Op};
use crate::{GraphError, ReduceOp};

/// The bins of a histogram: bin `k` counts `edges[k] <= x < edges[k + 1]`, the last
/// bin closed on the right (numpy's rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum BinEdges {
    /// `bins` equal bins over `[lo, hi]`, the edges as `linspace(lo, hi, bins + 1)` of
    /// `dtype` computes them (numpy's).
    Uniform {
        /// The first edge.
        lo: f64,
        /// The last edge.
        hi: f64,
        /// The number of bins.
        bins: usize,
        /// The edges' dtype (float32 for float32 data, as numpy).
        dtype: DType,
    },
    /// Increasing edges, as given.
    Listed(Vec<f64>),
}

impl BinEdges {
    /// The number of bins.
    pub fn bins(&self) -> usize {
        match self {
            BinEdges::Uniform { bins, .. } => *bins,
            BinEdges::Listed(e) => e.len().saturating_sub(1),
        }
    }
}

/// The most bins one histogram may have.
pub const MAX_BINS: usize = 1 << 20;

impl Array {
    /// numpy's `histogram(x, bins)` counts (int64, one per bin) over all elements.
    pub fn histogram(&self, edges: BinEdges) -> Result<Array, GraphError> {
        let bins = edges.bins();
        if bins == 0 || bins > MAX_BINS {
            return Err(GraphError::Shape(format!("histogram: between 1 and {MAX_BINS} bins, not {bins}")));
        }
        let blocks = self.chunks().num_blocks();
        let chunks = Chunks::from_lengths(vec![vec![1; blocks.max(1)], vec![bins]]);
        let rows = Array::new(Op::Histogram(self.clone(), edges), vec![blocks.max(1), bins], DType::Int64, chunks);
        rows.reduce(ReduceOp::Sum, Some(&[0]))
    }
}
