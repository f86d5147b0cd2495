//! The lazy array: a node of the expression DAG with its metadata.

mod build;
mod contract;
mod elementwise;
mod gather;
mod histogram;
mod mask;
mod quantile;
mod reduce;
mod reshape;
mod shape;
mod std_ops;
mod storage;
mod views;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tessera_chunks::{Chunks, DType};

use crate::ScanOp;
use tessera_store::{StoredArray, WriteTarget};

use crate::{BinaryOp, Generator, ReduceOp, Scalar, UnaryOp, ViewMap};

pub use contract::MAX_STACKED_MATRICES;
pub use gather::{Gathering, MAX_GATHER_RUNS, PadMode};
pub use histogram::{BinEdges, MAX_BINS};
pub use mask::Compression;
pub(crate) use mask::is_strips;
pub use quantile::{QuantileMethod, Ranking};
pub use reshape::{AxisGroup, Reshaping, reshape_source_block};
pub use storage::write_grid;
pub use views::Index;

/// One operation of the expression DAG. Operands of `Binary` and `Where` already have
/// the result's shape (broadcasts are explicit views) and a common dtype (casts are
/// explicit), so kernels never promote or broadcast by themselves.
#[derive(Debug, Clone)]
pub enum Op {
    /// A generator (`ones`, `random`, ...).
    Gen(Generator),
    /// A 0-d constant.
    Scalar(Scalar),
    /// An elementwise function.
    Unary(UnaryOp, Array),
    /// An elementwise operator.
    Binary(BinaryOp, Array, Array),
    /// `where(cond, a, b)`.
    Where(Array, Array, Array),
    /// A conversion to this node's dtype.
    Cast(Array),
    /// A view of the operand through an affine index map.
    View(Array, ViewMap),
    /// The operand with this node's chunks.
    Rechunk(Array),
    /// A reduction over the given axes of the operand.
    Reduce(ReduceOp, Array, Vec<usize>),
    /// A 2-D matrix product.
    MatMul(Array, Array),
    /// A cumulative sum or product along an axis (`cumsum`, `cumprod`).
    Scan(ScanOp, Array, usize),
    /// Runs of the parts laid out along an axis (`concatenate`, `stack`, `pad`, `roll`,
    /// `take`); the parts have this node's dtype and, off the axis, its shape.
    Gather(Vec<Array>, Gathering),
    /// The operand's values in row-major order with this node's shape; each output
    /// block is one block of the operand (see `reshape.rs`).
    Reshape(Array, Reshaping),
    /// Order statistics (`median`, `quantile`) along an axis that is whole in every
    /// block of the operand.
    Quantile(Array, Ranking),
    /// Per block of the operand, its counts in the bins: a `(blocks, bins)` array.
    Histogram(Array, BinEdges),
    /// Per block of a bool operand, its count of true values (one element each).
    BlockCounts(Array),
    /// The values of the first operand where the second (a bool of the same row-strip
    /// chunks) is true, in row-major order; output block `b` selects from input block
    /// `sources[b]`.
    Compress(Array, Array, Compression),
    /// A stored array (Zarr, `.npy`, HDF5), read by the tasks that need it.
    Stored(StoredArray),
    /// Arrays written to stored targets (the value: chunks and bytes per target).
    Write(Vec<(Array, WriteTarget)>),
}

impl Op {
    /// The arrays this operation reads.
    pub fn operands(&self) -> Vec<&Array> {
        match self {
            Op::Gen(_) | Op::Scalar(_) | Op::Stored(_) => Vec::new(),
            Op::Unary(_, a)
            | Op::Cast(a)
            | Op::View(a, _)
            | Op::Rechunk(a)
            | Op::Reduce(_, a, _)
            | Op::Scan(_, a, _)
            | Op::Reshape(a, _)
            | Op::Quantile(a, _)
            | Op::Histogram(a, _)
            | Op::BlockCounts(a) => vec![a],
            Op::Binary(_, a, b) | Op::MatMul(a, b) | Op::Compress(a, b, _) => vec![a, b],
            Op::Where(c, a, b) => vec![c, a, b],
            Op::Gather(parts, ..) => parts.iter().collect(),
            Op::Write(writes) => writes.iter().map(|(a, _)| a).collect(),
        }
    }

    /// Moves the operands out, leaving a leaf behind (for dropping without recursion).
    fn take_operands(&mut self) -> Vec<Array> {
        match std::mem::replace(self, Op::Scalar(Scalar::Int(0))) {
            Op::Gen(_) | Op::Scalar(_) | Op::Stored(_) => Vec::new(),
            Op::Unary(_, a)
            | Op::Cast(a)
            | Op::View(a, _)
            | Op::Rechunk(a)
            | Op::Reduce(_, a, _)
            | Op::Scan(_, a, _)
            | Op::Reshape(a, _)
            | Op::Quantile(a, _)
            | Op::Histogram(a, _)
            | Op::BlockCounts(a) => vec![a],
            Op::Binary(_, a, b) | Op::MatMul(a, b) | Op::Compress(a, b, _) => vec![a, b],
            Op::Where(c, a, b) => vec![c, a, b],
            Op::Gather(parts, ..) => parts,
            Op::Write(writes) => writes.into_iter().map(|(a, _)| a).collect(),
        }
    }
}

/// The deepest chain of operations a graph may have, from its result to a leaf.
/// Lowering walks the graph recursively, so deeper graphs are refused before that walk
/// (the expression language refuses them as they are built).
pub const MAX_GRAPH_DEPTH: usize = 2000;

#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) id: u64,
    /// Operations on the longest path from here to a leaf, this one included.
    pub(crate) depth: usize,
    pub(crate) op: Op,
    pub(crate) shape: Vec<usize>,
    pub(crate) dtype: DType,
    pub(crate) chunks: Chunks,
}

/// A lazy, chunked n-dimensional array: cheap to clone, immutable, and checked when
/// built. Nothing is computed until the array is lowered and run.
#[derive(Debug, Clone)]
pub struct Array(pub(crate) Arc<Node>);

/// Dropping a long chain of nodes one inside the other would recurse once per node;
/// this unlinks the chain into a list first, so any depth drops in constant stack.
impl Drop for Node {
    fn drop(&mut self) {
        let mut pending = self.op.take_operands();
        while let Some(a) = pending.pop() {
            if let Ok(mut node) = Arc::try_unwrap(a.0) {
                pending.extend(node.op.take_operands());
            }
        }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Array {
    pub(crate) fn new(op: Op, shape: Vec<usize>, dtype: DType, chunks: Chunks) -> Array {
        debug_assert_eq!(chunks.shape(), shape);
        let depth = 1 + op.operands().iter().map(|a| a.depth()).max().unwrap_or(0);
        Array(Arc::new(Node { id: NEXT_ID.fetch_add(1, Ordering::Relaxed), depth, op, shape, dtype, chunks }))
    }

    /// Operations on the longest path from this array to a leaf, its own included.
    pub fn depth(&self) -> usize {
        self.0.depth
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    /// The number of dimensions.
    pub fn ndim(&self) -> usize {
        self.0.shape.len()
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.0.shape.iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }

    /// The chunk grid.
    pub fn chunks(&self) -> &Chunks {
        &self.0.chunks
    }

    /// The operation that produces this array.
    pub fn op(&self) -> &Op {
        &self.0.op
    }

    pub(crate) fn id(&self) -> u64 {
        self.0.id
    }
}
