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

mod dtype;
mod meta;

pub use dtype::{ALL_TYPES, StoredType};
#[cfg(feature = "io")]
pub(crate) use meta::label as meta_label;
pub use meta::{Compressor, Format, STAGING_MARKER, STAGING_SUFFIX, StoredArray, WriteTarget, node_dir, staging_token};

#[cfg(feature = "io")]
mod buffer;
#[cfg(feature = "io")]
mod cache;
#[cfg(feature = "io")]
mod counters;
#[cfg(feature = "io")]
mod error;
#[cfg(feature = "hdf5")]
mod hdf5;
#[cfg(feature = "io")]
pub mod info;
#[cfg(feature = "io")]
mod io;
#[cfg(feature = "io")]
mod mapped;
#[cfg(feature = "io")]
mod npy;
#[cfg(feature = "io")]
mod region;
#[cfg(feature = "io")]
mod staging;
#[cfg(feature = "io")]
mod zarr;
#[cfg(feature = "io")]
pub use io::*;
