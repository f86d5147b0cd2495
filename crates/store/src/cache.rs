//! Opened arrays, cached per process. Each entry remembers the identity of the file
//! it was opened from (device, inode, size, modification time) and is reopened when
//! that changes, so a replaced file is never read or written through a stale handle.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use crate::{ArrayReader, ArrayWriter, Format, StoreError, StoredArray, WriteTarget, npy, zarr};

type Identity = (u64, u64, u64, i64, i64);

struct Entry<T: ?Sized> {
    /// The file whose identity stands for the array's, and that identity.
    file: PathBuf,
    identity: Option<Identity>,
    value: Arc<T>,
}

static READERS: Mutex<Option<FxHashMap<StoredArray, Entry<dyn ArrayReader>>>> = Mutex::new(None);
static WRITERS: Mutex<Option<FxHashMap<WriteTarget, Entry<dyn ArrayWriter>>>> = Mutex::new(None);

/// The file whose identity stands for the array's.
fn identity_file(format: Format, path: &str, component: &str) -> PathBuf {
    match format {
        Format::Npy | Format::Hdf5 => PathBuf::from(path),
        Format::Zarr => {
            let dir = crate::node_dir(path, component);
            let v3 = dir.join("zarr.json");
            if v3.exists() { v3 } else { dir.join(".zarray") }
        }
    }
}

fn identity(file: &Path) -> Option<Identity> {
    let m = std::fs::metadata(file).ok()?;
    Some((m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

fn lookup<K: std::hash::Hash + Eq + Clone, T: ?Sized>(
    map: &Mutex<Option<FxHashMap<K, Entry<T>>>>,
    key: &K,
    file: PathBuf,
    open: impl FnOnce() -> Result<Arc<T>, StoreError>,
) -> Result<Arc<T>, StoreError> {
    let now = identity(&file);
    if let Ok(guard) = map.lock()
        && let Some(entry) = guard.as_ref().and_then(|m| m.get(key))
        && entry.identity == now
        && now.is_some()
    {
        return Ok(entry.value.clone());
    }
    let value = open()?;
    if let Ok(mut guard) = map.lock() {
        let entries = guard.get_or_insert_with(FxHashMap::default);
        // Entries whose file was removed or replaced would only hold descriptors (and
        // the removed file's disk space) for the life of the process.
        entries.retain(|_, e| identity(&e.file) == e.identity);
        entries.insert(key.clone(), Entry { file, identity: now, value: value.clone() });
    }
    Ok(value)
}

/// Closes every array opened from `path` (a file about to be removed, say), so no
/// descriptor keeps it, or its disk space, alive.
pub fn release(path: &str) {
    if let Ok(mut guard) = READERS.lock()
        && let Some(m) = guard.as_mut()
    {
        m.retain(|k, _| k.path != path);
    }
    if let Ok(mut guard) = WRITERS.lock()
        && let Some(m) = guard.as_mut()
    {
        m.retain(|k, _| k.path != path);
    }
}

pub(crate) fn reader(array: &StoredArray) -> Result<Arc<dyn ArrayReader>, StoreError> {
    lookup(&READERS, array, identity_file(array.format, &array.path, &array.component), || {
        let (meta, reader): (StoredArray, Arc<dyn ArrayReader>) = match array.format {
            Format::Zarr => {
                let z = zarr::open(&array.path, &array.component)?;
                (z.meta().clone(), Arc::new(z))
            }
            Format::Npy => {
                let n = npy::open(&array.path, false)?;
                (n.meta().clone(), Arc::new(n))
            }
            #[cfg(feature = "hdf5")]
            Format::Hdf5 => {
                let h = crate::hdf5::open(&array.path, &array.component)?;
                (h.meta().clone(), Arc::new(h))
            }
            #[cfg(not(feature = "hdf5"))]
            Format::Hdf5 => return Err(StoreError::BadInput(crate::NO_HDF5.into())),
        };
        if &meta != array {
            return Err(StoreError::BadInput(format!(
                "{} changed after the run was planned (it now holds {:?} {})",
                array.label(),
                meta.shape,
                meta.dtype
            )));
        }
        Ok(reader)
    })
}

pub(crate) fn writer(target: &WriteTarget) -> Result<Arc<dyn ArrayWriter>, StoreError> {
    // Tasks write where the target is built (see `staging`).
    let target = &target.staged();
    lookup(&WRITERS, target, identity_file(target.format, &target.path, &target.component), || match target.format {
        Format::Zarr => {
            let z = zarr::open_target(target)?;
            zarr::check_written_type(&z, target)?;
            Ok(Arc::new(z) as Arc<dyn ArrayWriter>)
        }
        Format::Npy => {
            let n = npy::open(&target.path, true)?;
            npy::check_written_type(&n, target)?;
            Ok(Arc::new(n) as Arc<dyn ArrayWriter>)
        }
        Format::Hdf5 => Err(StoreError::BadInput("tessera does not write HDF5".into())),
    })
}
