//! HDF5 datasets (and NetCDF-4 variables, which are HDF5 datasets), read by hyperslab
//! through libhdf5. libhdf5 serializes every call behind one lock, so reads inside one
//! process are serial; across worker processes they are not.

use std::sync::Arc;

use hdf5::types::{FloatSize, IntSize, TypeDescriptor};
use hdf5::{Dataset, Hyperslab, SliceOrIndex};

use crate::region::ChunkCache;
use crate::{ArrayReader, Buffer, Format, Native, StoreError, StoredArray, StoredType, counters, with_native};

/// An opened dataset.
pub(crate) struct Hdf5 {
    dataset: Dataset,
    meta: StoredArray,
}

fn stored_type(d: &TypeDescriptor) -> Option<StoredType> {
    Some(match d {
        TypeDescriptor::Boolean => StoredType::Bool,
        TypeDescriptor::Integer(IntSize::U1) => StoredType::I8,
        TypeDescriptor::Integer(IntSize::U2) => StoredType::I16,
        TypeDescriptor::Integer(IntSize::U4) => StoredType::I32,
        TypeDescriptor::Integer(IntSize::U8) => StoredType::I64,
        TypeDescriptor::Unsigned(IntSize::U1) => StoredType::U8,
        TypeDescriptor::Unsigned(IntSize::U2) => StoredType::U16,
        TypeDescriptor::Unsigned(IntSize::U4) => StoredType::U32,
        TypeDescriptor::Unsigned(IntSize::U8) => StoredType::U64,
        TypeDescriptor::Float(FloatSize::U4) => StoredType::F32,
        TypeDescriptor::Float(FloatSize::U8) => StoredType::F64,
        _ => return None,
    })
}

/// Opens `dataset` of the HDF5 file at `path`.
pub(crate) fn open(path: &str, dataset: &str) -> Result<Hdf5, StoreError> {
    if !std::path::Path::new(path).exists() {
        return Err(StoreError::BadInput(format!("{path}: no such file or directory")));
    }
    let label = crate::meta_label(path, dataset);
    let file = hdf5::File::open(path).map_err(|e| StoreError::BadInput(format!("{path} is not an HDF5 file ({e})")))?;
    let ds = file.dataset(dataset).map_err(|_| {
        let names = file.member_names().unwrap_or_default();
        StoreError::BadInput(format!("{path} has no dataset '{dataset}' (it holds {})", names.join(", ")))
    })?;
    let descriptor = ds
        .dtype()
        .and_then(|t| t.to_descriptor())
        .map_err(|e| StoreError::BadInput(format!("{label}: unreadable element type ({e})")))?;
    let dtype = stored_type(&descriptor).ok_or_else(|| {
        StoreError::BadInput(format!(
            "{label} holds {descriptor} elements; tessera reads bool, int8-int64, uint8-uint64, float32 and float64"
        ))
    })?;
    let codecs = ds.filters().iter().map(|f| format!("{f:?}").to_lowercase()).collect();
    let meta = StoredArray {
        format: Format::Hdf5,
        path: path.to_string(),
        component: dataset.to_string(),
        shape: ds.shape(),
        dtype,
        chunk_shape: ds.chunk(),
        codecs,
    };
    Ok(Hdf5 { dataset: ds, meta })
}

/// The datasets at the top of an HDF5 file.
pub(crate) fn datasets(path: &str) -> Result<Vec<String>, StoreError> {
    let file = hdf5::File::open(path).map_err(|e| StoreError::BadInput(format!("{path} is not an HDF5 file ({e})")))?;
    let names = file.member_names().map_err(|e| StoreError::Corrupt(format!("{path}: {e}")))?;
    Ok(names.into_iter().filter(|n| file.dataset(n).is_ok()).collect())
}

impl Hdf5 {
    /// The descriptor.
    pub(crate) fn meta(&self) -> &StoredArray {
        &self.meta
    }
}

impl ArrayReader for Hdf5 {
    fn read(&self, off: &[usize], shape: &[usize], _cache: &mut ChunkCache) -> Result<Arc<Buffer>, StoreError> {
        if shape.contains(&0) {
            return Ok(Arc::new(Buffer::filled(self.meta.dtype.compute(), 0, 0.0)));
        }
        let slab: Vec<SliceOrIndex> = off
            .iter()
            .zip(shape)
            .map(|(&start, &count)| SliceOrIndex::SliceCount { start, step: 1, count, block: 1 })
            .collect();
        let failed = |e: hdf5::Error| {
            StoreError::Corrupt(format!("reading {:?} at {:?} of {} failed: {e}", shape, off, self.meta.label()))
        };
        with_native!(self.meta.dtype, T => {
            let values = self
                .dataset
                .read_slice::<T, _, ndarray::IxDyn>(Hyperslab::from(slab))
                .map_err(failed)?;
            let (values, _) = values.into_raw_vec_and_offset();
            counters::add_read((values.len() * T::SIZE) as u64);
            T::widen(values).map(Arc::new).map_err(|e| StoreError::Corrupt(format!("{}: {e}", self.meta.label())))
        })
    }
}
