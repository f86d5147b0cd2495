//! A filesystem store whose writes are atomic: each value is written to a temporary
//! file in the same directory and renamed over its key, so a reader never sees a torn
//! chunk and a writer killed mid-way leaves only a temporary file (swept when the run
//! that owns the target finishes, see [`sweep_temporaries`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use zarrs::filesystem::FilesystemStore;
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{
    Bytes, ListableStorageTraits, MaybeBytesIterator, OffsetBytesIterator, ReadableStorageTraits, StorageError,
    StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix, WritableStorageTraits,
};

use crate::counters;

/// The marker in the names of temporary chunk files.
pub(crate) const TEMP_MARKER: &str = ".tessera-tmp-";

/// A [`FilesystemStore`] with atomic `set` and byte counting.
pub(crate) struct AtomicStore {
    inner: FilesystemStore,
}

impl AtomicStore {
    pub(crate) fn new(root: &Path) -> Result<AtomicStore, StorageError> {
        let inner = FilesystemStore::new(root).map_err(|e| StorageError::Other(e.to_string()))?;
        Ok(AtomicStore { inner })
    }

    /// The file that holds `key`.
    pub(crate) fn path_of(&self, key: &StoreKey) -> PathBuf {
        self.inner.key_to_fspath(key)
    }

    fn temporary(path: &Path) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        path.with_file_name(format!("{name}{TEMP_MARKER}{}-{unique}", std::process::id()))
    }
}

impl ReadableStorageTraits for AtomicStore {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        // A FIFO or device in place of a chunk or metadata file would block or read
        // without end: only regular files are read (stat never blocks).
        if let Ok(meta) = std::fs::metadata(self.inner.key_to_fspath(key))
            && !meta.is_file()
        {
            return Err(StorageError::Other(format!("{key} is not a regular file (a FIFO, device or socket?)")));
        }
        let Some(values) = self.inner.get_partial_many(key, byte_ranges)? else { return Ok(None) };
        let values: Vec<Result<Bytes, StorageError>> = values.collect();
        let read: usize = values.iter().filter_map(|v| v.as_ref().ok()).map(|b| b.len()).sum();
        counters::add_read(read as u64);
        Ok(Some(Box::new(values.into_iter())))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.inner.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

impl WritableStorageTraits for AtomicStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        let path = self.inner.key_to_fspath(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let temporary = Self::temporary(&path);
        let written = (|| {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&value)?;
            std::fs::rename(&temporary, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&temporary);
            return Err(e.into());
        }
        counters::add_written(value.len() as u64);
        Ok(())
    }

    fn set_partial_many(&self, key: &StoreKey, offset_values: OffsetBytesIterator) -> Result<(), StorageError> {
        zarrs::storage::store_set_partial_many(self, key, offset_values)
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.inner.erase(key)
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.inner.erase_prefix(prefix)
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

impl ListableStorageTraits for AtomicStore {
    fn list(&self) -> Result<StoreKeys, StorageError> {
        self.inner.list()
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> Result<StoreKeys, StorageError> {
        self.inner.list_prefix(prefix)
    }

    fn list_dir(&self, prefix: &StorePrefix) -> Result<StoreKeysPrefixes, StorageError> {
        self.inner.list_dir(prefix)
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> Result<u64, StorageError> {
        self.inner.size_prefix(prefix)
    }
}

/// Removes the temporary files writers killed mid-write left under `dir`; returns how
/// many there were. Called once the run that owns the target has finished, when no
/// writer of it is left.
pub fn sweep_temporaries(dir: &Path) -> std::io::Result<usize> {
    let mut removed = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if entry.file_name().to_string_lossy().contains(TEMP_MARKER) {
                std::fs::remove_file(entry.path())?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}
