//! Reading a region of a chunked array: the chunks it overlaps, each decoded once per
//! task (a [`ChunkCache`] lives as long as the task), copied into one buffer.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use tessera_chunks::DType;

use crate::{Buffer, StoreError};

/// Decoded stored chunks, kept for one task so that several views of one stored
/// array (`x` and `x[::-1]`, `x` and `x.T`) decode each chunk once.
#[derive(Debug, Default)]
pub struct ChunkCache {
    chunks: FxHashMap<Vec<u64>, Arc<Buffer>>,
}

impl ChunkCache {
    /// Decoded bytes held.
    pub fn bytes(&self) -> usize {
        self.chunks.values().map(|b| b.len() * b.dtype().itemsize()).sum()
    }
}

/// The region `off`, `shape` of an array of `array_shape` stored in chunks of
/// `chunk_shape`, assembled from `read_chunk` (chunk index -> its decoded elements,
/// a whole chunk even at the array's edge).
pub(crate) fn read_region(
    dtype: DType,
    chunk_shape: &[usize],
    off: &[usize],
    shape: &[usize],
    cache: &mut ChunkCache,
    mut read_chunk: impl FnMut(&[u64]) -> Result<Buffer, StoreError>,
) -> Result<Arc<Buffer>, StoreError> {
    let n: usize = shape.iter().product();
    if n == 0 {
        return Ok(Arc::new(Buffer::filled(dtype, 0, 0.0)));
    }
    let first: Vec<usize> = off.iter().zip(chunk_shape).map(|(&o, &c)| o / c).collect();
    // A region that is one whole chunk is that chunk.
    let aligned = off.iter().zip(chunk_shape).all(|(&o, &c)| o % c == 0) && shape == chunk_shape;
    if aligned {
        let key: Vec<u64> = first.iter().map(|&i| i as u64).collect();
        if let Some(chunk) = cache.chunks.get(&key) {
            return Ok(chunk.clone());
        }
        let chunk = Arc::new(read_chunk(&key)?);
        cache.chunks.insert(key, chunk.clone());
        return Ok(chunk);
    }
    let mut out = Buffer::filled(dtype, n, 0.0);
    let last: Vec<usize> = off.iter().zip(shape).zip(chunk_shape).map(|((&o, &s), &c)| (o + s - 1) / c).collect();
    let mut index = first.clone();
    loop {
        let key: Vec<u64> = index.iter().map(|&i| i as u64).collect();
        if !cache.chunks.contains_key(&key) {
            let chunk = read_chunk(&key)?;
            cache.chunks.insert(key.clone(), Arc::new(chunk));
        }
        let chunk = &cache.chunks[&key];
        // The overlap of this chunk with the region, in array coordinates.
        let lo: Vec<usize> = index.iter().zip(chunk_shape).zip(off).map(|((&i, &c), &o)| (i * c).max(o)).collect();
        let hi: Vec<usize> = index
            .iter()
            .zip(chunk_shape)
            .zip(off.iter().zip(shape))
            .map(|((&i, &c), (&o, &s))| ((i + 1) * c).min(o + s))
            .collect();
        let size: Vec<usize> = lo.iter().zip(&hi).map(|(l, h)| h - l).collect();
        let src_at: Vec<usize> = lo.iter().zip(&index).zip(chunk_shape).map(|((&l, &i), &c)| l - i * c).collect();
        let dst_at: Vec<usize> = lo.iter().zip(off).map(|(l, o)| l - o).collect();
        out.copy_box_from(shape, &dst_at, chunk, chunk_shape, &src_at, &size);
        // Next chunk index, row-major.
        let mut axis = index.len();
        loop {
            if axis == 0 {
                return Ok(Arc::new(out));
            }
            axis -= 1;
            if index[axis] < last[axis] {
                index[axis] += 1;
                break;
            }
            index[axis] = first[axis];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_across_chunks_are_assembled_and_each_chunk_decoded_once() {
        // A 5x6 array of value 10*i + j in chunks of 2x4.
        let chunk_shape = [2usize, 4];
        let decoded = std::cell::Cell::new(0);
        let mut cache = ChunkCache::default();
        let mut read = |idx: &[u64]| {
            decoded.set(decoded.get() + 1);
            let mut v = Vec::new();
            for r in 0..2 {
                for c in 0..4 {
                    v.push((10 * (idx[0] as i64 * 2 + r) + idx[1] as i64 * 4 + c) as f64);
                }
            }
            Ok(Buffer::F64(v))
        };
        let got = read_region(DType::Float64, &chunk_shape, &[1, 3], &[3, 2], &mut cache, &mut read).expect("reads");
        assert_eq!(*got, Buffer::F64(vec![13.0, 14.0, 23.0, 24.0, 33.0, 34.0]));
        let again = read_region(DType::Float64, &chunk_shape, &[1, 3], &[3, 2], &mut cache, &mut read).expect("reads");
        assert_eq!(got, again);
        assert_eq!(decoded.get(), 4, "four chunks overlap the region; each is decoded once");
        let whole = read_region(DType::Float64, &chunk_shape, &[2, 4], &[2, 4], &mut cache, &mut read).expect("reads");
        assert_eq!(decoded.get(), 4, "an aligned chunk already decoded is shared");
        assert_eq!(whole.len(), 8);
    }
}
