//! Errors raised while building or lowering an expression.

use tessera_chunks::ChunkError;

/// Why an array expression is invalid. Every variant is the user's input: the CLI maps
/// all of them to exit code 2.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// A bad chunk specification, slice or index.
    #[error(transparent)]
    Chunks(#[from] ChunkError),
    /// Two shapes that numpy cannot broadcast together.
    #[error("operands could not be broadcast together with shapes {a:?} and {b:?}")]
    Broadcast {
        /// The left shape.
        a: Vec<usize>,
        /// The right shape.
        b: Vec<usize>,
    },
    /// A matrix product whose inner dimensions differ, or of arrays that are not 2-D.
    #[error("matmul: shapes {a:?} and {b:?} are not aligned (need (n, k) @ (k, m))")]
    MatMul {
        /// The left shape.
        a: Vec<usize>,
        /// The right shape.
        b: Vec<usize>,
    },
    /// An axis outside the array.
    #[error("axis {axis} is out of bounds for an array of dimension {ndim}")]
    Axis {
        /// The axis as written.
        axis: i64,
        /// The array's number of dimensions.
        ndim: usize,
    },
    /// More indices than dimensions.
    #[error("too many indices: the array has {ndim} dimensions but {given} were indexed")]
    TooManyIndices {
        /// The array's number of dimensions.
        ndim: usize,
        /// The number of indices given.
        given: usize,
    },
    /// An operation that the dtype does not support.
    #[error("{0}")]
    Type(String),
    /// An index numpy refuses (its `IndexError`).
    #[error("{0}")]
    Index(String),
    /// A shape that is invalid (e.g. too many elements).
    #[error("{0}")]
    Shape(String),
    /// A chain of operations deeper than [`crate::MAX_GRAPH_DEPTH`].
    #[error(
        "the expression chains {depth} operations one after another, more than the limit of {}",
        crate::MAX_GRAPH_DEPTH
    )]
    TooDeep {
        /// The chain's length.
        depth: usize,
    },
}
