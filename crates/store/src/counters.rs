//! Bytes this process read from and wrote to stored arrays (as they are on disk), for
//! the run's report and the workers' heartbeats.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

static READ: AtomicU64 = AtomicU64::new(0);
static WRITTEN: AtomicU64 = AtomicU64::new(0);

pub(crate) fn add_read(bytes: u64) {
    READ.fetch_add(bytes, Ordering::Relaxed);
}

thread_local! {
    static WRITTEN_HERE: Cell<u64> = const { Cell::new(0) };
}

pub(crate) fn add_written(bytes: u64) {
    WRITTEN.fetch_add(bytes, Ordering::Relaxed);
    WRITTEN_HERE.with(|w| w.set(w.get() + bytes));
}

/// Bytes written by the calling thread so far (a writer's own count, free of the
/// other threads' writes).
pub(crate) fn written_here() -> u64 {
    WRITTEN_HERE.with(Cell::get)
}

/// Bytes read from stored arrays by this process so far.
pub fn bytes_read() -> u64 {
    READ.load(Ordering::Relaxed)
}

/// Bytes written to stored arrays by this process so far.
pub fn bytes_written() -> u64 {
    WRITTEN.load(Ordering::Relaxed)
}
