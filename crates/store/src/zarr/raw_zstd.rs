//! The common chunk encoding read without zarrs' copies. zarr-python's default array
//! (Zarr v3 `bytes(little)` + `zstd`, or v2 with the zstd compressor and no filters)
//! stores each chunk as one zstd frame of the raw little-endian elements. zarrs reads
//! such a chunk into a buffer, decodes it into another and converts that into the
//! element vector: two copies of every chunk and a zeroed allocation. Here the chunk
//! file is mapped and decoded once, straight into the element vector's uninitialized
//! memory. Everything else (other codecs, sharding, missing chunks with their fill
//! value) goes through zarrs.

use std::path::Path;

use zstd::zstd_safe::WriteBuf;

use crate::{Buffer, StoredType, counters};

/// Chunk files at least this large are mapped rather than read.
const MAP_AT_LEAST: u64 = 1 << 16;

/// How an array's chunks are decoded on the fast path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawZstd {
    dtype: StoredType,
    elements: usize,
}

impl RawZstd {
    /// The fast path for an array whose metadata is `metadata`, when its chunks are
    /// zstd frames of native little-endian float64, float32 or int64 elements.
    pub(crate) fn detect(metadata: &serde_json::Value, dtype: StoredType, chunk_shape: &[usize]) -> Option<RawZstd> {
        if !matches!(dtype, StoredType::F64 | StoredType::F32 | StoredType::I64) || cfg!(target_endian = "big") {
            return None;
        }
        let name = |c: &serde_json::Value| c.get("name").and_then(|n| n.as_str()).map(str::to_string);
        let plain = match metadata.get("zarr_format").and_then(|f| f.as_u64()) {
            Some(3) => {
                let codecs = metadata.get("codecs")?.as_array()?;
                let little = codecs.first().and_then(|c| c.get("configuration")).and_then(|c| c.get("endian"));
                codecs.len() == 2
                    && codecs.first().and_then(name).as_deref() == Some("bytes")
                    && little.and_then(|e| e.as_str()) == Some("little")
                    && codecs.get(1).and_then(name).as_deref() == Some("zstd")
            }
            Some(2) => {
                let id = metadata.get("compressor").and_then(|c| c.get("id")).and_then(|i| i.as_str());
                let filters =
                    metadata.get("filters").is_none_or(|f| f.is_null() || f.as_array().is_some_and(|a| a.is_empty()));
                let order = metadata.get("order").and_then(|o| o.as_str()) == Some("C");
                let little = metadata.get("dtype").and_then(|d| d.as_str()).is_some_and(|d| d.starts_with('<'));
                id == Some("zstd") && filters && order && little
            }
            _ => false,
        };
        plain.then(|| RawZstd { dtype, elements: chunk_shape.iter().product() })
    }

    /// The decoded chunk in the file at `path`, or `None` when there is no such file
    /// (the chunk holds the fill value, which zarrs supplies).
    pub(crate) fn read(&self, path: &Path) -> Result<Option<Buffer>, String> {
        let file = match crate::open_regular(path, false) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        counters::add_read(len);
        let decoded = if len >= MAP_AT_LEAST {
            // SAFETY: a read-only map of a chunk file; chunk files are replaced by
            // renaming a new file over them (here and in zarr-python), never truncated
            // in place, so the mapped pages stay valid while they are decoded.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| e.to_string())?;
            self.decode(&map)
        } else {
            self.decode(&std::fs::read(path).map_err(|e| e.to_string())?)
        };
        decoded.map(Some)
    }

    fn decode(&self, frame: &[u8]) -> Result<Buffer, String> {
        Ok(match self.dtype {
            StoredType::F32 => Buffer::F32(decode_into(frame, self.elements)?),
            StoredType::I64 => Buffer::I64(decode_into(frame, self.elements)?),
            _ => Buffer::F64(decode_into(frame, self.elements)?),
        })
    }
}

/// `elements` elements decoded from one zstd frame into a new vector.
fn decode_into<T: bytemuck::Pod>(frame: &[u8], elements: usize) -> Result<Vec<T>, String> {
    let mut out = Elements { values: Vec::with_capacity(elements), bytes: 0 };
    let wrong = |got: usize| format!("the chunk decodes to {got} bytes, not {}", elements * size_of::<T>());
    match zstd::bulk::Decompressor::new().and_then(|mut d| d.decompress_to_buffer(frame, &mut out)) {
        Ok(n) if n == elements * size_of::<T>() && out.bytes == n => Ok(out.values),
        Ok(n) => Err(wrong(n)),
        Err(e) => Err(format!("zstd: {e}")),
    }
}

/// A vector of elements that zstd decodes into (its spare capacity, not zeroed first).
struct Elements<T> {
    values: Vec<T>,
    /// Bytes written so far.
    bytes: usize,
}

// SAFETY: `as_slice` covers only the elements written, `capacity` and `as_mut_ptr`
// describe the vector's allocation, and `filled_until` marks only whole elements of
// the `n` bytes zstd wrote as initialized.
unsafe impl<T: bytemuck::Pod> WriteBuf for Elements<T> {
    fn as_slice(&self) -> &[u8] {
        bytemuck::cast_slice(&self.values)
    }

    fn capacity(&self) -> usize {
        self.values.capacity() * size_of::<T>()
    }

    fn as_mut_ptr(&mut self) -> *mut u8 {
        self.values.as_mut_ptr().cast()
    }

    unsafe fn filled_until(&mut self, n: usize) {
        self.bytes = n;
        // SAFETY: zstd initialized the first `n` bytes; whole elements only.
        unsafe { self.values.set_len(n / size_of::<T>()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_into_elements_and_wrong_sizes_are_refused() {
        let values: Vec<f64> = (0..1000).map(|i| i as f64 * 0.5).collect();
        let frame = zstd::bulk::compress(bytemuck::cast_slice(&values), 3).expect("compresses");
        assert_eq!(decode_into::<f64>(&frame, 1000), Ok(values));
        assert!(decode_into::<f64>(&frame, 999).is_err(), "a frame larger than the chunk");
        assert!(decode_into::<f64>(&frame, 1001).expect_err("too small a frame").contains("8000 bytes"));
        assert!(decode_into::<f64>(&frame[..frame.len() / 2], 1000).is_err(), "a truncated frame");
    }
}
