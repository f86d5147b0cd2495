//! Resource measurements, cheap enough to take around every run and at 4 Hz.
//!
//! The numbers `tessera run --json` reports (`cpu_percent`, `peak_memory_bytes`) come
//! from here: CPU time and peak resident memory from `getrusage`, resident memory from
//! `/proc/self/statm`, available memory from `/proc/meminfo`. Workers put the same
//! measurements in their heartbeats ([`WorkerStatus`], [`WorkerRun`]), so local and
//! cluster runs report alike. The crate knows nothing of arrays or networks, so
//! schedulers, workers and UIs can all use it.

mod process;
mod workers;

pub use process::{Usage, available_memory_bytes, current_rss_bytes};
pub use workers::{TaskSpan, WorkerRun, WorkerStatus};
