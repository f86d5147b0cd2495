//! The lazy chunked-array expression, its optimizer, and its lowering to tasks.
//!
//! An [`Array`] is an immutable node in a DAG of array operations (constructors,
//! elementwise arithmetic with numpy broadcasting, views, reductions, matmul). Building
//! one computes only metadata: shape, dtype and chunk grid, and checks the operation
//! (broadcasting, axes, dtypes), so a bad expression fails where it is written.
//!
//! [`lower`] turns an array into a [`TaskGraph`]. Optimization happens during lowering
//! rather than as rewrites of a Dask-style graph, because every optimization here is a
//! decision about *where a layer boundary is*:
//!
//! - **generator inlining**: `ones`, `random`, ... are never stored; the task that needs a
//!   block evaluates the generator for exactly the elements it reads;
//! - **blockwise fusion**: a chain of elementwise operations and views becomes one
//!   [`FusedExpr`] evaluated tile by tile, with views (slices with negative steps,
//!   transposes, broadcasts) folded into affine index maps on the leaves;
//! - **reduction fusion**: the per-chunk step of a reduction is part of the same task;
//!   partials are then combined in a tree of fixed shape (`split_every`);
//! - **compute once**: a reduction that reads one costly leaf (`random`, stored data)
//!   through two views related by a mirror or a transpose pairs its partial tasks, so
//!   one task generates the values both read (see `pairing.rs` and `lower.rs`);
//! - **culling**: tasks are created on demand from the output, so blocks that nothing
//!   reads are never computed;
//! - **stored leaves and writes**: a stored array (Zarr, `.npy`, HDF5) is a leaf like a
//!   generator, read region by region by the tasks that need it; a write is a layer
//!   whose tasks each own whole stored chunks ([`write_grid`]), with one summary task.
//!
//! Tasks are numbered in a depth-first post-order from the output, which is both a
//! topological order and a memory-friendly priority (like Dask's `order`).
//!
//! The crate is pure: no I/O, no threads, no kernels (stored arrays are descriptors
//! from `tessera-store` without its I/O feature). It describes what to compute;
//! `tessera-kernels` computes it and `tessera-runtime` decides when.

mod array;
mod error;
mod fused;
mod generator;
mod lower;
mod ops;
mod pairing;
mod scalar;
mod task;
mod validate;
mod view;

pub use array::{
    Array, AxisGroup, BinEdges, Compression, Gathering, Index, MAX_BINS, MAX_GATHER_RUNS, MAX_GRAPH_DEPTH,
    MAX_STACKED_MATRICES, Op, PadMode, QuantileMethod, Ranking, Reshaping, reshape_source_block, write_grid,
};
pub use error::GraphError;
pub use fused::{FNode, FusedExpr, Leaf};
pub use generator::{GenKind, Generator};
pub use lower::{LowerOptions, lower, lower_all};
pub use ops::{BinaryOp, ReduceOp, ScanOp, UnaryOp};
pub use pairing::{PairRole, pair_role};
pub use scalar::Scalar;
pub use task::{
    BlockCountKernel, CompressKernel, GatherKernel, GatherRun, HistogramKernel, Kernel, Layer, LayerId, MatMulKernel,
    QuantileKernel, ReduceKernel, ReduceStage, ReshapeKernel, ResultArray, ScanKernel, Task, TaskGraph, TaskId,
    WriteKernel,
};
pub use tessera_chunks::{ChunkSpec, Chunks, DType};
pub use tessera_store::{Compressor, Format, StoredArray, StoredType, WriteTarget};
pub use view::{SrcAxis, ViewMap};

/// Elements in one sub-box of a paired partial task (see [`pair_role`]): the values a
/// leader generates once and reads twice, small enough to stay in L2.
pub const PAIRED_SUB_BOX: usize = 1 << 16;

/// The default number of partials combined by one reduction task (Dask's `split_every`).
pub const SPLIT_EVERY: usize = 16;
