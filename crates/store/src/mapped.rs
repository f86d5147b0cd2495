//! Regions of stored arrays read in place: the bytes of the region's rows mapped from
//! the file (`mmap`), addressed with the file's own strides, so a task reads the page
//! cache directly: no `read` copy, no buffer to allocate and fault in. The mapping
//! spans only the region's rows and is unmapped when the task drops it, so what a
//! process holds mapped stays within the regions in flight.
//!
//! Like numpy's `mmap_mode="r"`, this trusts the file not to shrink while it is read
//! (a file truncated under a mapping faults the reader); the per-process reader cache
//! already reopens files that changed between tasks.

use std::fs::File;

use memmap2::{Mmap, MmapOptions};

use crate::{StoreError, StoredType};

/// A region of an array mapped from its file.
pub struct MappedRegion {
    map: Mmap,
    dtype: StoredType,
    elements: usize,
    origin: Vec<usize>,
    strides: Vec<usize>,
}

/// The elements of a mapped region, from its first element to its last.
pub enum MappedElements<'a> {
    /// float64.
    F64(&'a [f64]),
    /// float32.
    F32(&'a [f32]),
    /// int64.
    I64(&'a [i64]),
}

impl MappedRegion {
    /// Maps the region at `off` with `shape` of a row-major, native-endian array of
    /// `dtype` (float64, float32 or int64) and `full` shape whose data starts at byte
    /// `data_offset` of `file`; `None` for other types or an empty region.
    pub(crate) fn map(
        file: &File,
        data_offset: u64,
        dtype: StoredType,
        full: &[usize],
        off: &[usize],
        shape: &[usize],
    ) -> Result<Option<MappedRegion>, StoreError> {
        if !matches!(dtype, StoredType::F64 | StoredType::F32 | StoredType::I64) || shape.contains(&0) {
            return Ok(None);
        }
        let mut strides = vec![1usize; full.len()];
        for a in (0..full.len().saturating_sub(1)).rev() {
            strides[a] = strides[a + 1] * full[a + 1];
        }
        let first: usize = off.iter().zip(&strides).map(|(o, s)| o * s).sum();
        let last: usize = off.iter().zip(shape).zip(&strides).map(|((o, n), s)| (o + n - 1) * s).sum();
        let itemsize = dtype.itemsize();
        let elements = last - first + 1;
        // SAFETY: the map is read-only and private to this region; the file is a
        // stored array tessera reads, which the module doc asks not to be truncated
        // while a run reads it.
        let map = unsafe {
            MmapOptions::new()
                .offset(data_offset + (first * itemsize) as u64)
                .len(elements * itemsize)
                .map(file)
                .map_err(|e| StoreError::io("cannot map the array's file".to_string(), e))?
        };
        if !(map.as_ptr() as usize).is_multiple_of(itemsize) {
            // Data not aligned to its elements (an unusual header): read it instead.
            return Ok(None);
        }
        Ok(Some(MappedRegion { map, dtype, elements, origin: off.to_vec(), strides }))
    }

    /// The region's elements: element `g` (global coordinates) is at
    /// `sum((g[k] - origin[k]) * strides[k])`.
    pub fn elements(&self) -> MappedElements<'_> {
        let bytes = &self.map[..self.elements * self.dtype.itemsize()];
        match self.dtype {
            StoredType::F32 => MappedElements::F32(bytemuck::cast_slice(bytes)),
            StoredType::I64 => MappedElements::I64(bytemuck::cast_slice(bytes)),
            _ => MappedElements::F64(bytemuck::cast_slice(bytes)),
        }
    }

    /// The global coordinates of the region's first element.
    pub fn origin(&self) -> &[usize] {
        &self.origin
    }

    /// The array's row-major element strides.
    pub fn strides(&self) -> &[usize] {
        &self.strides
    }
}
