//! Stored arrays: Zarr (v3 with sharding, and v2, through `zarrs`), `.npy`, and HDF5
//! for reading (through `hdf5-metno`).
//!
//! The crate is one small trait pair, [`ArrayReader`] (read a region into a buffer) and
//! [`ArrayWriter`] (write whole stored chunks), and the functions that open, create and
//! finish stored arrays. Graph leaves carry a [`StoredArray`] descriptor (format, path,
//! shape, dtype, stored chunks), so any process that can see the same path can read
//! the data itself; chunk data never has to pass through the process that planned.
//!
//! Why writes are race-free by construction:
//! - the planning process creates every target once, before any task runs: a Zarr
//!   array's metadata, or a `.npy` file's header and size ([`create_target`]);
//! - each write task owns whole stored chunks (the plan regroups the array's chunks so
//!   that no two tasks share one), so no chunk has two writers; `.npy` tasks write
//!   disjoint byte ranges;
//! - every Zarr chunk is written to a temporary file and renamed over its key, so a
//!   reader never sees a torn chunk, and a task rerun after its worker died rewrites
//!   the same bytes; the planner sweeps the temporary files a killed writer left once
//!   the run is over ([`finish_target`]).
//!
//! Integers compute as int64 (every stored integer type widens exactly, except uint64
//! values past `i64::MAX`, which are refused when read); writes convert with numpy's
//! `astype` ([`Buffer::cast`]). Opened arrays are cached per process and reopened when
//! the file behind them changes, so a long-lived worker never reads a replaced file
//! through a stale handle.

mod buffer;
mod cache;
mod counters;
mod dtype;
mod error;
#[cfg(feature = "hdf5")]
mod hdf5;
pub mod info;
mod meta;
mod npy;
mod region;
mod zarr;

pub use buffer::{Buffer, Native, decode_bytes, encode_bytes};
pub use counters::{bytes_read, bytes_written};
pub use dtype::{ALL_TYPES, StoredType};
pub use error::StoreError;
pub use meta::{Compressor, Format, StoredArray, WriteTarget};
pub use region::ChunkCache;

use std::sync::Arc;

/// Reads regions of one stored array.
pub trait ArrayReader: Send + Sync {
    /// The elements of the region at `off` with `shape`, row-major, in the type the
    /// array computes as. Chunks decoded on the way stay in `cache` for the task.
    fn read(&self, off: &[usize], shape: &[usize], cache: &mut ChunkCache) -> Result<Buffer, StoreError>;
}

/// Writes whole stored chunks of one target.
pub trait ArrayWriter: Send + Sync {
    /// Writes `data`, the region at `off` with `shape`, which covers whole stored
    /// chunks (clipped at the array's edge); each chunk is replaced atomically.
    fn write(&self, off: &[usize], shape: &[usize], data: &Buffer) -> Result<WriteStats, StoreError>;
}

/// What one write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// Stored chunks written.
    pub chunks: u64,
    /// Bytes written, as stored.
    pub bytes: u64,
}

/// Opens the array at `path` (`component`: a Zarr array path in its store or an HDF5
/// dataset) and describes it.
pub fn open(format: Format, path: &str, component: &str) -> Result<StoredArray, StoreError> {
    match format {
        Format::Zarr => Ok(zarr::open(path, component)?.meta().clone()),
        Format::Npy => Ok(npy::open(path, false)?.meta().clone()),
        #[cfg(feature = "hdf5")]
        Format::Hdf5 => Ok(hdf5::open(path, component)?.meta().clone()),
        #[cfg(not(feature = "hdf5"))]
        Format::Hdf5 => Err(StoreError::BadInput("this tessera was built without HDF5 support".into())),
    }
}

/// A reader of `array`, opened once per process (and again if its file changed);
/// refused if the array on disk is no longer the one described.
pub fn reader(array: &StoredArray) -> Result<Arc<dyn ArrayReader>, StoreError> {
    cache::reader(array)
}

/// A writer of a created `target`.
pub fn writer(target: &WriteTarget) -> Result<Arc<dyn ArrayWriter>, StoreError> {
    cache::writer(target)
}

/// Creates `target` before any task writes to it: refused if it exists and
/// `overwrite` is false, or if another run created it first.
pub fn create_target(target: &WriteTarget) -> Result<(), StoreError> {
    if target.shape.len() != target.chunk_shape.len() || target.chunk_shape.contains(&0) {
        return Err(StoreError::BadInput(format!("{}: bad chunk shape {:?}", target.label(), target.chunk_shape)));
    }
    match target.format {
        Format::Zarr => zarr::create(target),
        Format::Npy => npy::create(target),
        Format::Hdf5 => Err(StoreError::BadInput(
            "tessera does not write HDF5 (parallel HDF5 writes need MPI-IO); write Zarr with to_zarr".into(),
        )),
    }
}

/// Removes a target this run created, after the run failed: no partial output stays.
pub fn remove_target(target: &WriteTarget) {
    match target.format {
        Format::Zarr => zarr::remove(target),
        Format::Npy => npy::remove(target),
        Format::Hdf5 => {}
    }
}

/// Finishes a target once every task that writes it is done: removes the temporary
/// files writers killed mid-write left; returns how many there were.
pub fn finish_target(target: &WriteTarget) -> Result<usize, StoreError> {
    match target.format {
        Format::Zarr => zarr::sweep_temporaries(std::path::Path::new(&target.path))
            .map_err(|e| StoreError::io(format!("cannot clean {}", target.label()), e)),
        Format::Npy | Format::Hdf5 => Ok(0),
    }
}
