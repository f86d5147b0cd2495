//! Reading and writing (the `io` feature): the trait pair and the functions that
//! open, create and finish stored arrays.

pub use crate::buffer::{Buffer, Native, decode_bytes, encode_bytes};
pub use crate::counters::{bytes_read, bytes_written};
pub use crate::error::StoreError;
pub use crate::mapped::{MappedElements, MappedRegion};
pub use crate::region::ChunkCache;

use std::sync::Arc;

use crate::{Format, StoredArray, WriteTarget, cache, npy, staging, zarr};

/// The message of a build without HDF5.
pub const NO_HDF5: &str = "this tessera was built without HDF5 support; build it with `--features hdf5` \
     (needs libhdf5-dev), or convert the file to Zarr";

/// Reads regions of one stored array.
pub trait ArrayReader: Send + Sync {
    /// The elements of the region at `off` with `shape`, row-major, in the type the
    /// array computes as. Chunks decoded on the way stay in `cache` for the task; a
    /// region that is exactly one stored chunk is that chunk, shared, not a copy.
    fn read(&self, off: &[usize], shape: &[usize], cache: &mut ChunkCache) -> Result<Arc<Buffer>, StoreError>;

    /// The region mapped in place from the file, where the format stores it raw in
    /// the type it computes as (`.npy` of native-endian float64, float32 or int64);
    /// `None` where it must be read with [`ArrayReader::read`].
    fn map(&self, _off: &[usize], _shape: &[usize]) -> Result<Option<MappedRegion>, StoreError> {
        Ok(None)
    }
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
    if format == Format::Zarr {
        check_component(component)?;
    }
    match format {
        Format::Zarr => Ok(zarr::open(path, component)?.meta().clone()),
        Format::Npy => Ok(npy::open(path, false)?.meta().clone()),
        #[cfg(feature = "hdf5")]
        Format::Hdf5 => Ok(crate::hdf5::open(path, component)?.meta().clone()),
        #[cfg(not(feature = "hdf5"))]
        Format::Hdf5 => Err(StoreError::BadInput(NO_HDF5.into())),
    }
}

/// A reader of `array`, opened once per process (and again if its file changed);
/// refused if the array on disk is no longer the one described.
pub fn reader(array: &StoredArray) -> Result<Arc<dyn ArrayReader>, StoreError> {
    cache::reader(array)
}

/// Closes every array this process opened from `path` (before the file is removed).
pub fn release(path: &str) {
    cache::release(path)
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
    check_component(&target.component)?;
    // Anything at the place, a dangling symbolic link included.
    if std::fs::symlink_metadata(target.node_dir()).is_ok() {
        if !target.overwrite {
            return Err(StoreError::BadInput(format!(
                "{} already exists; pass overwrite=True to replace it",
                target.label()
            )));
        }
        staging::check_replaceable(target)?;
    }
    let swept = staging::sweep_dead(target);
    if swept > 0 {
        tracing::info!(target = %target.label(), swept, "removed what killed runs left while building it");
    }
    let staged = target.staged();
    match target.format {
        Format::Zarr => zarr::create(&staged),
        Format::Npy => npy::create(&staged),
        Format::Hdf5 => Err(StoreError::BadInput(
            "tessera does not write HDF5 (parallel HDF5 writes need MPI-IO); write Zarr with to_zarr".into(),
        )),
    }
}

/// Refuses a component that would leave its store: `..`, `.`, or empty parts.
pub fn check_component(component: &str) -> Result<(), StoreError> {
    let trimmed = component.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(());
    }
    if trimmed.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(StoreError::BadInput(format!(
            "component '{component}' is not a path inside the store (no '..', '.' or empty parts)"
        )));
    }
    Ok(())
}

/// Removes a target this run created, after the run failed: no partial output stays.
pub fn remove_target(target: &WriteTarget) {
    let staged = target.staged();
    match target.format {
        Format::Zarr => zarr::remove(&staged),
        Format::Npy => npy::remove(&staged),
        Format::Hdf5 => {}
    }
}

/// Finishes a target once every task that writes it is done: removes the temporary
/// files writers killed mid-write left, then moves the finished array into place
/// (replacing the old one in one step); returns how many temporaries there were.
pub fn finish_target(target: &WriteTarget) -> Result<usize, StoreError> {
    let staged = target.staged();
    let swept = match target.format {
        Format::Zarr => zarr::sweep_temporaries(&staged.node_dir())
            .map_err(|e| StoreError::io(format!("cannot clean {}", target.label()), e))?,
        Format::Npy | Format::Hdf5 => 0,
    };
    staging::publish(target)?;
    Ok(swept)
}

/// Where a target is built until the run finishes (registered for removal if the
/// process is stopped).
pub fn staged_place(target: &WriteTarget) -> std::path::PathBuf {
    target.staged().node_dir()
}

/// Opens `path` only if it is a regular file: opened without blocking (a FIFO would
/// wait for a writer forever, a device read without end) and refused unless the
/// opened file is a plain file.
pub fn open_regular(path: &std::path::Path, writable: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).write(writable).custom_flags(libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device, socket or directory)",
        ));
    }
    Ok(file)
}

/// The bytes of a small metadata file (`zarr.json`), if it is a regular file of at most
/// 16 MiB; `None` otherwise (missing, a FIFO, too large, unreadable).
pub(crate) fn read_metadata_file(path: &std::path::Path) -> Option<Vec<u8>> {
    const LIMIT: u64 = 16 << 20;
    let mut bytes = Vec::new();
    let file = open_regular(path, false).ok()?;
    std::io::Read::read_to_end(&mut std::io::Read::take(file, LIMIT + 1), &mut bytes).ok()?;
    (bytes.len() as u64 <= LIMIT).then_some(bytes)
}
