//! Kernels: the code that computes one task.
//!
//! [`Backend`] is the one trait: given the task graph, a task and the values of its
//! dependencies, produce the task's value. The schedulers only know this trait, so the
//! same graph runs on the CPU backend here and on the GPU backend behind a feature.
//!
//! The [`cpu`] backend evaluates fused expressions tile by tile: a tile is a run of at
//! most 4096 consecutive elements of the output block; leaves fill tile buffers
//! (generators compute their values in place, constants stay scalars and are never
//! broadcast into memory), operators map buffers to buffers, and a reduction folds each
//! tile straight into its partial. No full-chunk temporary is created for an
//! elementwise chain that ends in a reduction.
//!
//! Stored leaves are read through `tessera-store` when a task is prepared: each stored
//! chunk the task touches is decoded once and shared by every view that reads it; write
//! tasks evaluate their block and hand it to the store's writer, whole stored chunks at
//! a time.
//!
//! Float sums are exact ([`ExactSum`]), which makes every sum, mean, var and std
//! independent of chunking and scheduling, bit for bit. Random values come from
//! Philox4x32-10 keyed by seed and element index ([`philox`]).

pub mod cpu;
mod error;
mod exact_columns;
mod exact_sum;
#[cfg(feature = "gpu")]
pub mod gpu;
mod levels;
mod moments;
pub mod philox;
mod simd;
mod value;
pub mod wire;

pub use error::KernelError;
pub use exact_columns::ExactColumns;
pub use exact_sum::ExactSum;
pub use value::{Block, Partial, PartialData, Value};

use tessera_graph::{TaskGraph, TaskId};

/// Something that can compute tasks.
///
/// ## Design
/// A backend is stateless with respect to the graph: every call receives the graph, the
/// task and its inputs, in the order of `task.deps`. That keeps scheduling (which task,
/// where, when) entirely in the runtime, and lets one backend instance serve many
/// threads at once (`Send + Sync`).
pub trait Backend: Send + Sync {
    /// A short name for reports (`cpu`, `gpu`).
    fn name(&self) -> &str;

    /// Computes `task` of `graph` from the values of its dependencies.
    fn execute(&self, graph: &TaskGraph, task: TaskId, inputs: &[&Value]) -> Result<Value, KernelError>;
}
