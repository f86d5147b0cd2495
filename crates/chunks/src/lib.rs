//! Chunk grids for tessera.
//!
//! A chunked array is a regular grid of blocks: along every axis the array's extent is
//! cut into a list of chunk lengths (the last one may be shorter). This crate owns
//! everything about that grid and nothing else: the element types and their sizes,
//! the chunk specifications a user writes (`1000`, `(1000, -1)`, `"auto"`, `"64MiB"`),
//! Dask-compatible `auto` chunking under a byte target, Python slice normalization
//! (negative steps included), the overlap maps used to gather one grid's blocks from
//! another's (slicing, transposes and rechunks all reduce to them), and the projected
//! bytes of a task.
//!
//! It is pure arithmetic with no I/O, so the graph, the schedulers and the CLI can all
//! rely on the same answers.

mod dtype;
mod grid;
mod overlap;
mod size;
mod slicing;
mod spec;

pub use dtype::DType;
pub use grid::{BlockIter, Chunks, MAX_ELEMENTS};
pub use overlap::{AxisPiece, axis_overlaps};
pub use size::{format_bytes, parse_bytes};
pub use slicing::{AxisSlice, normalize_index, normalize_slice};
/// The most blocks one array may be cut into (along one axis, and in all). Graphs are
/// built per block, so this bounds the memory and time a plan can take before it runs:
/// past it a chunking is almost surely a mistake (Dask's own advice is to keep graphs
/// well under a million tasks). The seed's smallest chunks make 10,000 blocks.
pub const MAX_BLOCKS: usize = 100_000;

pub use spec::{AxisChunks, ChunkSpec, DEFAULT_CHUNK_BYTES, chunk_byte_target};

/// Everything that can be wrong with a chunk specification, a size string or a slice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// A chunk length of zero, or a negative one other than -1.
    #[error("chunk size {0} is invalid: use a positive length, -1 for the whole axis, or \"auto\"")]
    BadChunkLength(i64),
    /// A chunk tuple whose length differs from the array's number of dimensions.
    #[error("chunks {given} have {got} entries but the array has {ndim} dimensions")]
    WrongRank {
        /// The chunks as the user wrote them.
        given: String,
        /// How many entries they have.
        got: usize,
        /// How many dimensions the array has.
        ndim: usize,
    },
    /// Explicit per-axis chunk lengths that do not add up to the axis length.
    #[error("explicit chunks along axis {axis} add up to {sum}, but the axis has length {len}")]
    ChunksDoNotCover {
        /// The axis.
        axis: usize,
        /// The sum of the given chunk lengths.
        sum: usize,
        /// The axis length.
        len: usize,
    },
    /// A byte size that cannot be parsed.
    #[error("invalid size {0:?}: expected a number of bytes such as 134217728, \"64MiB\" or \"1.5GB\"")]
    BadSize(String),
    /// A chunk specification string that cannot be parsed.
    #[error(
        "invalid chunks {0:?}: expected an integer, a tuple such as (1000, 2000), -1, \"auto\" or a byte size such as \"64MiB\""
    )]
    BadSpec(String),
    /// A slice step of zero.
    #[error("slice step cannot be zero")]
    ZeroStep,
    /// An integer index outside the axis.
    #[error("index {index} is out of bounds for axis {axis} with size {len}")]
    IndexOutOfBounds {
        /// The index as written.
        index: i64,
        /// The axis.
        axis: usize,
        /// The axis length.
        len: usize,
    },
    /// So many chunks that the grid alone would exhaust memory.
    #[error(
        "chunks of {size} along axis {axis} (length {len}) make {count} blocks, more than the limit of {MAX_BLOCKS}; use larger chunks"
    )]
    TooManyChunks {
        /// The axis.
        axis: usize,
        /// The axis length.
        len: usize,
        /// The chunk length.
        size: usize,
        /// The number of blocks it would make.
        count: usize,
    },
    /// So many blocks over all axes that the graph alone would exhaust memory.
    #[error(
        "these chunks cut the array of shape {shape:?} into {count} blocks, more than the limit of {MAX_BLOCKS}; use larger chunks"
    )]
    TooManyBlocks {
        /// The array's shape.
        shape: Vec<usize>,
        /// The number of blocks.
        count: u128,
    },
    /// A dtype name that is not supported.
    #[error("unknown dtype {0:?}: expected float64, float32, int64 or bool")]
    BadDType(String),
}
