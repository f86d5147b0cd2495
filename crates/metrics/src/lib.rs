//! Resource measurements, cheap enough to take around every run and at 4 Hz.
//!
//! The numbers `tessera run --json` reports (`cpu_percent`, `peak_memory_bytes`) come
//! from here: CPU time and peak resident memory from `getrusage`, resident memory from
//! `/proc/self/statm`, available memory from `/proc/meminfo`. Workers put the same
//! measurements in their heartbeats ([`WorkerStatus`], [`WorkerRun`]), so local and
//! cluster runs report alike. Task events and their aggregation per operation and per
//! lane ([`Sink`], [`RunProgress`]) live here too: local runs and cluster watches feed
//! them, progress bars and the UI read them. The crate knows nothing of arrays or
//! networks, so schedulers, workers and UIs can all use it.

mod events;
mod process;
mod workers;

pub use events::{Lane, NoSink, RunProgress, Sink, TaskEvent};
pub use process::{Usage, available_memory_bytes, current_rss_bytes};
pub use workers::{TaskSpan, WorkerRun, WorkerStatus};
