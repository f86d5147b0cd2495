//! Zarr arrays through `zarrs`: v3 (sharding included) and v2, read chunk by chunk
//! (shard by shard); written one whole stored chunk at a time through [`AtomicStore`].

mod atomic_store;
mod create;
mod raw_zstd;

use std::path::Path;
use std::sync::Arc;

use zarrs::array::{Array, ArrayError, CodecOptions, data_type};

use crate::region::{ChunkCache, read_region};
use crate::{
    ArrayReader, ArrayWriter, Buffer, Format, Native as _, StoreError, StoredArray, StoredType, WriteStats,
    WriteTarget, counters, with_native,
};
pub use atomic_store::sweep_temporaries;
pub(crate) use atomic_store::{AtomicStore, TEMP_MARKER};
pub(crate) use create::{create, remove};

/// An opened Zarr array.
pub(crate) struct Zarr {
    array: Array<AtomicStore>,
    store: Arc<AtomicStore>,
    meta: StoredArray,
    options: CodecOptions,
    /// The fast path for zarr-python's default chunk encoding, where it applies.
    raw: Option<raw_zstd::RawZstd>,
}

/// One chunk per call and one thread per chunk: tasks are already parallel.
fn codec_options() -> CodecOptions {
    CodecOptions::default().with_concurrent_target(1).with_store_empty_chunks(true)
}

/// The array path inside a store (`/` for its root).
pub(crate) fn node_path(component: &str) -> String {
    format!("/{}", component.trim_matches('/'))
}

/// Opens the array at `component` of the store at `path`.
pub(crate) fn open(path: &str, component: &str) -> Result<Zarr, StoreError> {
    let root = Path::new(path);
    if !root.exists() {
        return Err(StoreError::BadInput(format!("{path}: no such file or directory")));
    }
    let store = Arc::new(AtomicStore::new(root).map_err(|e| StoreError::BadInput(format!("{path}: {e}")))?);
    let label = crate::meta_label(path, component);
    let array = match Array::open(store.clone(), &node_path(component)) {
        Ok(a) => a,
        Err(e) => return Err(not_an_array(path, component, &label, &e.to_string())),
    };
    let dtype = stored_type(&array).ok_or_else(|| {
        StoreError::BadInput(format!(
            "{label} holds {} elements; tessera reads bool, int8-int64, uint8-uint64, float32 and float64",
            array.data_type()
        ))
    })?;
    let metadata = serde_json::to_value(array.metadata()).unwrap_or_default();
    if metadata.get("chunk_grid").and_then(|g| g.get("name")).is_some_and(|n| n != "regular") {
        return Err(StoreError::BadInput(format!("{label} has an irregular chunk grid, which tessera does not read")));
    }
    let ndim = array.dimensionality();
    let chunk_shape =
        array.chunk_shape_usize(&vec![0; ndim]).map_err(|e| StoreError::Corrupt(format!("{label}: {e}")))?;
    let shape = array
        .shape()
        .iter()
        .map(|&n| usize::try_from(n).map_err(|_| StoreError::BadInput(format!("{label} is too large"))))
        .collect::<Result<Vec<_>, _>>()?;
    let meta = StoredArray {
        format: Format::Zarr,
        path: path.to_string(),
        component: component.trim_matches('/').to_string(),
        shape,
        dtype,
        chunk_shape: Some(chunk_shape),
        codecs: codec_names(&metadata),
    };
    let raw = raw_zstd::RawZstd::detect(&metadata, dtype, meta.chunk_or_whole());
    Ok(Zarr { array, store, meta, options: codec_options(), raw })
}

/// The error for a path that holds no array: a group (listing its arrays), or no store.
fn not_an_array(path: &str, component: &str, label: &str, reason: &str) -> StoreError {
    // Only a group is listed (listing opens its arrays, never this path again).
    let dir = crate::node_dir(path, component);
    if crate::info::zarr_node_type(&dir) == Some("group") {
        let mut arrays = Vec::new();
        crate::info::list_zarr_arrays(path, component, &dir, 0, &mut arrays);
        let names: Vec<&str> = arrays.iter().map(|a| a.component.as_str()).collect();
        return StoreError::BadInput(if names.is_empty() {
            format!("{label} is a Zarr group with no arrays")
        } else {
            format!("{label} is a Zarr group; choose an array with component= (it holds {})", names.join(", "))
        });
    }
    StoreError::BadInput(format!("{label} is not a Zarr array ({reason})"))
}

/// tessera's name for the array's element type, if it reads it.
fn stored_type(array: &Array<AtomicStore>) -> Option<StoredType> {
    let dt = array.data_type();
    let pairs = [
        (data_type::bool(), StoredType::Bool),
        (data_type::int8(), StoredType::I8),
        (data_type::int16(), StoredType::I16),
        (data_type::int32(), StoredType::I32),
        (data_type::int64(), StoredType::I64),
        (data_type::uint8(), StoredType::U8),
        (data_type::uint16(), StoredType::U16),
        (data_type::uint32(), StoredType::U32),
        (data_type::uint64(), StoredType::U64),
        (data_type::float32(), StoredType::F32),
        (data_type::float64(), StoredType::F64),
    ];
    pairs.into_iter().find(|(d, _)| d == dt).map(|(_, t)| t)
}

/// The codec names of v3 or v2 metadata, the array-to-bytes codec's inner ones included
/// (`sharding_indexed(bytes, zstd)`).
pub(crate) fn codec_names(metadata: &serde_json::Value) -> Vec<String> {
    fn names(codecs: &serde_json::Value) -> Vec<String> {
        let Some(list) = codecs.as_array() else { return Vec::new() };
        list.iter()
            .filter_map(|c| {
                let name = c.get("name")?.as_str()?;
                let inner = c.get("configuration").and_then(|cfg| cfg.get("codecs")).map(names);
                Some(match inner {
                    Some(inner) if !inner.is_empty() => format!("{name}({})", inner.join(", ")),
                    _ => name.to_string(),
                })
            })
            .collect()
    }
    if let Some(codecs) = metadata.get("codecs") {
        return names(codecs);
    }
    let id = |v: &serde_json::Value| v.get("id").and_then(|i| i.as_str()).map(str::to_string);
    let mut out: Vec<String> = metadata
        .get("filters")
        .and_then(|f| f.as_array())
        .map(|f| f.iter().filter_map(id).collect())
        .unwrap_or_default();
    if let Some(c) = metadata.get("compressor").and_then(id) {
        out.push(c);
    }
    out
}

impl Zarr {
    /// The descriptor.
    pub(crate) fn meta(&self) -> &StoredArray {
        &self.meta
    }

    fn chunk_error(&self, index: &[u64], e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(format!(
            "chunk {} of {} cannot be read: {e}",
            self.array.chunk_key(index).as_str(),
            self.meta.label()
        ))
    }

    fn read_chunk(&self, index: &[u64]) -> Result<Buffer, StoreError> {
        if let Some(raw) = &self.raw {
            let path = self.store.path_of(&self.array.chunk_key(index));
            if let Some(chunk) = raw.read(&path).map_err(|e| self.chunk_error(index, e))? {
                return Ok(chunk);
            }
        }
        with_native!(self.meta.dtype, T => {
            let values: Vec<T> = self
                .array
                .retrieve_chunk_opt::<Vec<T>>(index, &self.options)
                .map_err(|e| self.chunk_error(index, e))?;
            T::widen(values).map_err(|e| self.chunk_error(index, e))
        })
    }

    fn write_chunk(&self, index: &[u64], chunk: &Buffer) -> Result<(), ArrayError> {
        // Elements already of the stored type are written without a converted copy.
        match (self.meta.dtype, chunk) {
            (StoredType::F64, Buffer::F64(v)) => return self.array.store_chunk_opt(index, v.as_slice(), &self.options),
            (StoredType::F32, Buffer::F32(v)) => return self.array.store_chunk_opt(index, v.as_slice(), &self.options),
            (StoredType::I64, Buffer::I64(v)) => return self.array.store_chunk_opt(index, v.as_slice(), &self.options),
            (StoredType::Bool, Buffer::Bool(v)) => {
                return self.array.store_chunk_opt(index, v.as_slice(), &self.options);
            }
            _ => {}
        }
        with_native!(self.meta.dtype, T => {
            let values: Vec<T> = chunk.cast::<T>();
            self.array.store_chunk_opt(index, values, &self.options)
        })
    }
}

impl ArrayReader for Zarr {
    fn read(&self, off: &[usize], shape: &[usize], cache: &mut ChunkCache) -> Result<Arc<Buffer>, StoreError> {
        let chunk_shape = self.meta.chunk_or_whole();
        read_region(self.meta.dtype.compute(), chunk_shape, off, shape, cache, |index| self.read_chunk(index))
    }
}

impl ArrayWriter for Zarr {
    fn write(&self, off: &[usize], shape: &[usize], data: &Buffer) -> Result<WriteStats, StoreError> {
        let chunk_shape = self.meta.chunk_or_whole().to_vec();
        let before = counters::written_here();
        let mut chunks = 0;
        let first: Vec<usize> = off.iter().zip(&chunk_shape).map(|(&o, &c)| o / c).collect();
        let count: Vec<usize> =
            off.iter().zip(shape).zip(&chunk_shape).map(|((&o, &s), &c)| (o + s).div_ceil(c) - o / c).collect();
        if count.contains(&0) {
            return Ok(WriteStats::default());
        }
        let total: usize = count.iter().product();
        let elements: usize = chunk_shape.iter().product();
        for flat in 0..total {
            let mut rest = flat;
            let mut index = vec![0usize; count.len()];
            for a in (0..count.len()).rev() {
                index[a] = first[a] + rest % count[a];
                rest /= count[a];
            }
            // This chunk's part of the region (clipped at the array's edge), into a
            // whole chunk padded with the fill value (0).
            let origin: Vec<usize> = index.iter().zip(&chunk_shape).map(|(&i, &c)| i * c).collect();
            let size: Vec<usize> = origin
                .iter()
                .zip(&chunk_shape)
                .zip(off.iter().zip(shape))
                .map(|((&o, &c), (&ro, &rs))| (o + c).min(ro + rs) - o)
                .collect();
            let src_at: Vec<usize> = origin.iter().zip(off).map(|(o, r)| o - r).collect();
            // A region that is exactly this whole chunk is written as it is.
            let whole = total == 1 && size == chunk_shape && shape == chunk_shape.as_slice();
            let padded;
            let chunk = if whole {
                data
            } else {
                let mut c = Buffer::filled(data.dtype(), elements, 0.0);
                c.copy_box_from(&chunk_shape, &vec![0; size.len()], data, shape, &src_at, &size);
                padded = c;
                &padded
            };
            let key: Vec<u64> = index.iter().map(|&i| i as u64).collect();
            self.write_chunk(&key, chunk).map_err(|e| {
                StoreError::Corrupt(format!(
                    "writing chunk {} of {} failed: {e}",
                    self.array.chunk_key(&key).as_str(),
                    self.meta.label()
                ))
            })?;
            chunks += 1;
        }
        Ok(WriteStats { chunks, bytes: counters::written_here() - before })
    }
}

/// Opens a created target for writing.
pub(crate) fn open_target(target: &WriteTarget) -> Result<Zarr, StoreError> {
    open(&target.path, &target.component)
}

/// Refuses a target on disk whose shape, type or chunks are not the ones this run writes.
pub(crate) fn check_written_type(z: &Zarr, target: &WriteTarget) -> Result<(), StoreError> {
    let m = &z.meta;
    if m.dtype != target.dtype || m.shape != target.shape || m.chunk_shape.as_ref() != Some(&target.chunk_shape) {
        return Err(StoreError::BadInput(format!(
            "{} holds {:?} {} elements in chunks {:?}, not the {:?} {} in chunks {:?} this run writes",
            target.label(),
            m.shape,
            m.dtype,
            m.chunk_shape,
            target.shape,
            target.dtype,
            target.chunk_shape
        )));
    }
    Ok(())
}
