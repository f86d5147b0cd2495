//! `.npy` files: read by positioned reads of the region's contiguous runs, written by
//! positioned writes of each task's own runs into a file whose header was written and
//! whose size was set before any task ran.

mod header;

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use crate::mapped::MappedRegion;
use crate::region::ChunkCache;
use crate::{
    ArrayReader, ArrayWriter, Buffer, Format, StoreError, StoredArray, StoredType, WriteStats, WriteTarget, counters,
    decode_bytes, encode_bytes,
};

/// An opened `.npy` file.
pub(crate) struct Npy {
    file: File,
    meta: StoredArray,
    big_endian: bool,
    data_offset: u64,
}

fn io_error(path: &str, what: &str) -> impl Fn(std::io::Error) -> StoreError {
    let context = format!("cannot {what} {path}");
    move |e| StoreError::io(context.clone(), e)
}

/// Opens `path` for reading (or, `writable`, for a run's writes).
pub(crate) fn open(path: &str, writable: bool) -> Result<Npy, StoreError> {
    let mut file = crate::open_regular(Path::new(path), writable).map_err(io_error(path, "open"))?;
    let size = file.metadata().map_err(io_error(path, "read"))?.len();
    let mut start = [0u8; 12];
    let got = file.read(&mut start).map_err(io_error(path, "read"))?;
    let bad = |m: String| StoreError::BadInput(format!("{path}: {m}"));
    let (pre, len) = header::preamble(&start[..got]).map_err(bad)?;
    if len > header::MAX_HEADER || (pre + len) as u64 > size {
        return Err(StoreError::Corrupt(format!("{path}: the .npy header is truncated or too large ({len} bytes)")));
    }
    let mut dict = vec![0u8; len];
    file.read_exact_at(&mut dict, pre as u64).map_err(io_error(path, "read"))?;
    let h = header::parse(&dict, pre).map_err(bad)?;
    if h.fortran_order && h.shape.iter().filter(|&&n| n > 1).count() > 1 {
        return Err(bad("the array is stored in Fortran order, which tessera does not read; save it with \
             np.save(path, np.ascontiguousarray(a))"
            .into()));
    }
    let elements = h.shape.iter().try_fold(1u64, |acc, &n| acc.checked_mul(n as u64));
    let needed =
        elements.and_then(|n| n.checked_mul(h.dtype.itemsize() as u64)).and_then(|b| b.checked_add(h.data_offset));
    match needed {
        Some(n) if n <= size => {}
        Some(n) => {
            return Err(StoreError::Corrupt(format!(
                "{path} is truncated: the header says {} data bytes, the file holds {}",
                n - h.data_offset,
                size.saturating_sub(h.data_offset)
            )));
        }
        None => return Err(bad("the .npy header's shape is too large".into())),
    }
    let meta = StoredArray {
        format: Format::Npy,
        path: path.to_string(),
        component: String::new(),
        shape: h.shape,
        dtype: h.dtype,
        chunk_shape: None,
        codecs: Vec::new(),
    };
    Ok(Npy { file, meta, big_endian: h.big_endian, data_offset: h.data_offset })
}

impl Npy {
    /// The descriptor.
    pub(crate) fn meta(&self) -> &StoredArray {
        &self.meta
    }

    /// The region's contiguous runs: (element offset in the file's data, elements).
    fn runs(&self, off: &[usize], shape: &[usize]) -> Vec<(u64, usize)> {
        let full = &self.meta.shape;
        let n = full.len();
        if n == 0 {
            return vec![(0, 1)];
        }
        if shape.contains(&0) {
            return Vec::new();
        }
        // Axes after `k` are whole, so a run spans axis `k` and everything after it.
        let mut k = n - 1;
        while k > 0 && off[k] == 0 && shape[k] == full[k] {
            k -= 1;
        }
        let inner: usize = full[k + 1..].iter().product();
        let run = shape[k] * inner;
        let mut strides = vec![1u64; n];
        for a in (0..n - 1).rev() {
            strides[a] = strides[a + 1] * full[a + 1] as u64;
        }
        let outer: Vec<usize> = shape[..k].to_vec();
        let count: usize = outer.iter().product();
        let mut runs = Vec::with_capacity(count);
        let mut index = vec![0usize; k];
        for _ in 0..count {
            let mut at = off[k] as u64 * strides[k];
            for a in 0..k {
                at += (off[a] + index[a]) as u64 * strides[a];
            }
            runs.push((at, run));
            for a in (0..k).rev() {
                index[a] += 1;
                if index[a] < outer[a] {
                    break;
                }
                index[a] = 0;
            }
        }
        runs
    }
}

impl ArrayReader for Npy {
    fn map(&self, off: &[usize], shape: &[usize]) -> Result<Option<MappedRegion>, StoreError> {
        if self.big_endian || cfg!(target_endian = "big") {
            return Ok(None);
        }
        let region = MappedRegion::map(&self.file, self.data_offset, self.meta.dtype, &self.meta.shape, off, shape)?;
        if region.is_some() {
            let elements: usize = shape.iter().product();
            counters::add_read((elements * self.meta.dtype.itemsize()) as u64);
        }
        Ok(region)
    }

    fn read(&self, off: &[usize], shape: &[usize], _cache: &mut ChunkCache) -> Result<Arc<Buffer>, StoreError> {
        let itemsize = self.meta.dtype.itemsize();
        let runs = self.runs(off, shape);
        let total: usize = runs.iter().map(|r| r.1).sum();
        let read_into = |dst: &mut [u8]| -> Result<(), StoreError> {
            let mut at = 0;
            for &(start, len) in &runs {
                self.file
                    .read_exact_at(&mut dst[at..at + len * itemsize], self.data_offset + start * itemsize as u64)
                    .map_err(io_error(&self.meta.path, "read"))?;
                at += len * itemsize;
            }
            counters::add_read(dst.len() as u64);
            Ok(())
        };
        // Little-endian float64, float32 and int64 (the common case) are read straight into
        // their elements; anything else is read as bytes and converted.
        let native = !self.big_endian && cfg!(target_endian = "little");
        let buffer = match self.meta.dtype {
            StoredType::F64 if native => {
                let mut v = vec![0f64; total];
                read_into(bytemuck::cast_slice_mut(&mut v))?;
                Buffer::F64(v)
            }
            StoredType::F32 if native => {
                let mut v = vec![0f32; total];
                read_into(bytemuck::cast_slice_mut(&mut v))?;
                Buffer::F32(v)
            }
            StoredType::I64 if native => {
                let mut v = vec![0i64; total];
                read_into(bytemuck::cast_slice_mut(&mut v))?;
                Buffer::I64(v)
            }
            _ => {
                let mut bytes = vec![0u8; total * itemsize];
                read_into(&mut bytes)?;
                decode_bytes(self.meta.dtype, self.big_endian, &bytes)
                    .map_err(|e| StoreError::Corrupt(format!("{}: {e}", self.meta.path)))?
            }
        };
        Ok(Arc::new(buffer))
    }
}

impl ArrayWriter for Npy {
    fn write(&self, off: &[usize], shape: &[usize], data: &Buffer) -> Result<WriteStats, StoreError> {
        let itemsize = self.meta.dtype.itemsize();
        let bytes = encode_bytes(data, self.meta.dtype);
        let mut at = 0;
        for (start, len) in self.runs(off, shape) {
            let src = &bytes[at..at + len * itemsize];
            self.file
                .write_all_at(src, self.data_offset + start * itemsize as u64)
                .map_err(io_error(&self.meta.path, "write"))?;
            at += len * itemsize;
        }
        counters::add_written(bytes.len() as u64);
        Ok(WriteStats { chunks: 1, bytes: bytes.len() as u64 })
    }
}

/// Creates the target file: refused when it exists (unless `overwrite`), created with
/// `O_EXCL` so that of two runs one wins, the header written and the size set.
pub(crate) fn create(target: &WriteTarget) -> Result<(), StoreError> {
    let path = Path::new(&target.path);
    if path.exists() {
        if !target.overwrite {
            return Err(StoreError::BadInput(format!(
                "{} already exists; pass overwrite=True to replace it",
                target.path
            )));
        }
        std::fs::remove_file(path).map_err(io_error(&target.path, "remove"))?;
    }
    let file = match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(StoreError::BadInput(format!(
                "{} was created by another run while this one started; it is not replaced",
                target.path
            )));
        }
        Err(e) => return Err(io_error(&target.path, "create")(e)),
    };
    let header = header::encode(target.dtype, &target.shape);
    let data: u64 = target.shape.iter().map(|&n| n as u64).product::<u64>() * target.dtype.itemsize() as u64;
    let made = file.write_all_at(&header, 0).and_then(|()| file.set_len(header.len() as u64 + data));
    if let Err(e) = made {
        let _ = std::fs::remove_file(path);
        return Err(io_error(&target.path, "create")(e));
    }
    Ok(())
}

/// Removes a target this run created.
pub(crate) fn remove(target: &WriteTarget) {
    let _ = std::fs::remove_file(&target.path);
}

/// The type of a target opened for writing.
pub(crate) fn check_written_type(npy: &Npy, target: &WriteTarget) -> Result<(), StoreError> {
    if npy.meta.dtype != target.dtype || npy.meta.shape != target.shape {
        return Err(StoreError::BadInput(format!(
            "{} holds {:?} {} elements, not the {:?} {} this run writes",
            target.path, npy.meta.shape, npy.meta.dtype, target.shape, target.dtype
        )));
    }
    Ok(())
}
