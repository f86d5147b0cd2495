//! What a stored array is (its descriptor, carried by graph leaves to every worker) and
//! what a write creates.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::StoredType;

/// A storage format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Format {
    /// A Zarr store (v3 or v2) in a directory.
    Zarr,
    /// A numpy `.npy` file.
    Npy,
    /// A dataset of an HDF5 (or NetCDF-4) file.
    Hdf5,
}

impl Format {
    /// The name users see (`zarr`, `npy`, `hdf5`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Zarr => "zarr",
            Format::Npy => "npy",
            Format::Hdf5 => "hdf5",
        }
    }
}

/// The directory of the Zarr node `component` of the store at `path` (the store itself
/// for an empty component).
pub fn node_dir(path: &str, component: &str) -> PathBuf {
    let component = component.trim_matches('/');
    if component.is_empty() { PathBuf::from(path) } else { Path::new(path).join(component) }
}

/// `path`, or `path:component`, for messages.
pub(crate) fn label(path: &str, component: &str) -> String {
    if component.is_empty() { path.to_string() } else { format!("{path}:{component}") }
}

/// An array as it is stored: everything a reader on any host needs to find and decode
/// it, checked when it was opened.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoredArray {
    /// The format.
    pub format: Format,
    /// The file or store directory, as the user gave it.
    pub path: String,
    /// The array inside: a Zarr array path in its store or an HDF5 dataset; empty for a
    /// Zarr array at its store's root and for `.npy`.
    pub component: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// The stored element type.
    pub dtype: StoredType,
    /// The stored chunks (shards, when sharded); `None` when the data is contiguous.
    pub chunk_shape: Option<Vec<usize>>,
    /// The codecs, outermost last (for reports).
    pub codecs: Vec<String>,
}

impl StoredArray {
    /// `path` or `path:component`, for messages.
    pub fn label(&self) -> String {
        label(&self.path, &self.component)
    }

    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes of all elements, as stored.
    pub fn nbytes(&self) -> u64 {
        self.len() as u64 * self.dtype.itemsize() as u64
    }

    /// The stored chunk's shape (the whole array when contiguous).
    pub fn chunk_or_whole(&self) -> &[usize] {
        self.chunk_shape.as_deref().unwrap_or(&self.shape)
    }

    /// Bytes of one stored chunk, as stored.
    pub fn chunk_nbytes(&self) -> u64 {
        self.chunk_or_whole().iter().map(|&n| n as u64).product::<u64>() * self.dtype.itemsize() as u64
    }

    /// The number of stored chunks.
    pub fn chunk_count(&self) -> u64 {
        self.shape.iter().zip(self.chunk_or_whole()).map(|(&n, &c)| n.div_ceil(c.max(1)) as u64).product()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The compressor of a Zarr array tessera writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Compressor {
    /// zstd (zarr-python 3's default).
    Zstd,
    /// blosc with zstd inside and byte shuffle (zarr-python 2's default family).
    Blosc,
    /// gzip.
    Gzip,
    /// No compression.
    None,
}

impl Compressor {
    /// Parses `zstd`, `blosc`, `gzip` or `none`.
    pub fn parse(name: &str) -> Option<Compressor> {
        match name.trim().to_ascii_lowercase().as_str() {
            "zstd" => Some(Compressor::Zstd),
            "blosc" => Some(Compressor::Blosc),
            "gzip" => Some(Compressor::Gzip),
            "none" | "" => Some(Compressor::None),
            _ => None,
        }
    }
}

/// An array to be written: created (metadata, or header and size) once by the process
/// that plans the run, then filled by write tasks that each own whole stored chunks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WriteTarget {
    /// The format (Zarr or `.npy`).
    pub format: Format,
    /// The store directory or file.
    pub path: String,
    /// The array path inside a Zarr store; empty for its root.
    pub component: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// The element type written.
    pub dtype: StoredType,
    /// The stored chunks (for `.npy`, the whole array).
    pub chunk_shape: Vec<usize>,
    /// The compressor (Zarr).
    pub compressor: Compressor,
    /// 3 or 2 (Zarr).
    pub zarr_format: u8,
    /// Whether an existing target may be replaced.
    pub overwrite: bool,
    /// This write's own name for the place it is built in before it is renamed into
    /// place ([`WriteTarget::staged`]); made by [`staging_token`] when the write is
    /// planned, unique to the planning process and the write.
    pub staging: String,
}

/// A name unique to this process and this call: the process id first (so a sweep can
/// tell a dead process's leftovers), then a counter and the clock.
pub fn staging_token() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The marker in the names of targets being built.
pub const STAGING_MARKER: &str = ".tessera-";
/// The end of the names of targets being built.
pub const STAGING_SUFFIX: &str = ".partial";

impl WriteTarget {
    /// `path` or `path:component`, for messages.
    pub fn label(&self) -> String {
        label(&self.path, &self.component)
    }

    /// Where the target is: the Zarr array's directory, or the `.npy` file.
    pub fn node_dir(&self) -> PathBuf {
        node_dir(&self.path, &self.component)
    }

    /// The same write aimed at where it is built: a hidden sibling of the array's
    /// directory or the `.npy` file, `.{name}.tessera-{staging}.partial`, renamed over
    /// the target only once every chunk is written, so no reader ever sees a partial
    /// target (a write planned without a staging name is built in place).
    pub fn staged(&self) -> WriteTarget {
        if self.staging.is_empty() {
            return self.clone();
        }
        let staged_name = |name: &str| format!(".{name}{STAGING_MARKER}{}{STAGING_SUFFIX}", self.staging);
        let mut out = self.clone();
        out.staging = String::new();
        let component = self.component.trim_matches('/');
        if component.is_empty() {
            let path = Path::new(&self.path);
            let name = path.file_name().map_or_else(|| "array".into(), |n| n.to_string_lossy().into_owned());
            out.path = path.with_file_name(staged_name(&name)).to_string_lossy().into_owned();
        } else {
            let (parent, leaf) = component.rsplit_once('/').map_or(("", component), |(p, l)| (p, l));
            let leaf = staged_name(leaf);
            out.component = if parent.is_empty() { leaf } else { format!("{parent}/{leaf}") };
        }
        out
    }
}
