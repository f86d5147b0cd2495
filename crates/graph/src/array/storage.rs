//! Stored arrays as leaves, and writes of arrays to stored targets.

use tessera_chunks::{ChunkSpec, Chunks, DType};
use tessera_store::{Format, StoredArray, WriteTarget};

use super::{Array, Op};
use crate::GraphError;

impl Array {
    /// A stored array, read by the tasks that need it. Without `chunks` the task chunks
    /// are the stored chunks (shards when sharded; `auto` for contiguous data); with
    /// `auto` (or a byte size) each axis is a whole multiple of the stored chunks near
    /// the byte target; any other spec is taken as given.
    pub fn stored(array: StoredArray, chunks: Option<&ChunkSpec>, auto_bytes: u64) -> Result<Array, GraphError> {
        super::build::check_shape(&array.shape)?;
        let dtype = array.dtype.compute();
        let grid = stored_chunks(&array, dtype, chunks, auto_bytes)?;
        Ok(Array::new(Op::Stored(array.clone()), array.shape.clone(), dtype, grid))
    }

    /// Writes each array to its target; the result is an int64 array of shape
    /// `(targets, 2)` holding, per target, the stored chunks and the bytes written.
    pub fn write(writes: Vec<(Array, WriteTarget)>) -> Result<Array, GraphError> {
        if writes.is_empty() {
            return Err(GraphError::Shape("nothing to write".into()));
        }
        for (a, t) in &writes {
            if a.shape() != t.shape.as_slice() || t.chunk_shape.len() != t.shape.len() || t.chunk_shape.contains(&0) {
                return Err(GraphError::Shape(format!(
                    "cannot write an array of shape {:?} to {} (shape {:?}, chunks {:?})",
                    a.shape(),
                    t.label(),
                    t.shape,
                    t.chunk_shape
                )));
            }
        }
        let shape = vec![writes.len(), 2];
        let chunks = Chunks::regular(&shape, &shape);
        Ok(Array::new(Op::Write(writes), shape, DType::Int64, chunks))
    }
}

fn stored_chunks(
    array: &StoredArray,
    dtype: DType,
    chunks: Option<&ChunkSpec>,
    auto_bytes: u64,
) -> Result<Chunks, GraphError> {
    let shape = &array.shape;
    let Some(stored) = array.chunk_shape.as_ref().filter(|c| c.len() == shape.len() && !c.contains(&0)) else {
        return Ok(chunks.unwrap_or(&ChunkSpec::Auto).resolve(shape, dtype, auto_bytes)?);
    };
    let whole = |c: &[usize]| Chunks::checked_regular(shape, c).map_err(GraphError::from);
    match chunks {
        None => whole(stored),
        Some(spec @ (ChunkSpec::Auto | ChunkSpec::Bytes(_))) => {
            let auto = spec.resolve(shape, dtype, auto_bytes)?.chunksize();
            // The multiple of the stored chunk nearest the auto size, at least one.
            let size: Vec<usize> = auto
                .iter()
                .zip(stored)
                .zip(shape)
                .map(|((&a, &s), &n)| ((a as f64 / s as f64).round().max(1.0) as usize * s).min(n.max(1)))
                .collect();
            whole(&size)
        }
        Some(spec) => Ok(spec.resolve(shape, dtype, auto_bytes)?),
    }
}

/// The grid of write tasks for `array` written to `target`: every write task owns
/// whole stored chunks, so no stored chunk has two writers.
///
/// Along each axis, the array's own chunk boundaries are kept when every one of them
/// falls on a stored-chunk boundary; otherwise the axis is cut into runs of `k` stored
/// chunks, `k` the whole number nearest the array's mean chunk length over the stored
/// chunk length (at least 1). A `.npy` file has no stored chunks: tasks write disjoint
/// byte ranges, so the array's chunks are kept.
pub fn write_grid(chunks: &Chunks, target: &WriteTarget) -> Chunks {
    if target.format == Format::Npy {
        return chunks.clone();
    }
    let lengths = (0..chunks.ndim())
        .map(|axis| {
            let len = target.shape[axis];
            let c = target.chunk_shape[axis].max(1);
            let offsets = chunks.offsets(axis);
            if offsets.iter().all(|&o| o % c == 0 || o >= len) {
                return chunks.axis(axis).to_vec();
            }
            let blocks = chunks.axis(axis).len().max(1);
            let k = ((len as f64 / blocks as f64) / c as f64).round().max(1.0) as usize;
            Chunks::regular(&[len], &[k * c]).axis(0).to_vec()
        })
        .collect();
    Chunks::from_lengths(lengths)
}

#[cfg(test)]
mod tests {
    use tessera_store::{Compressor, Format, StoredType, WriteTarget};

    use super::*;

    fn target(format: Format, shape: &[usize], chunk: &[usize]) -> WriteTarget {
        WriteTarget {
            format,
            path: "/tmp/x".into(),
            component: String::new(),
            shape: shape.to_vec(),
            dtype: StoredType::F64,
            chunk_shape: chunk.to_vec(),
            compressor: Compressor::Zstd,
            zarr_format: 3,
            overwrite: false,
            staging: String::new(),
        }
    }

    /// Every write block starts on a stored-chunk boundary, so no stored chunk has two writers.
    fn owns_whole_chunks(grid: &Chunks, chunk: &[usize]) -> bool {
        let shape = grid.shape();
        (0..grid.ndim()).all(|a| grid.offsets(a).iter().all(|&o| o % chunk[a] == 0 || o == shape[a]))
    }

    #[test]
    fn aligned_chunks_are_kept_and_others_regrouped_into_whole_stored_chunks() {
        let shape = [100, 97];
        let aligned = Chunks::regular(&shape, &[20, 40]);
        let t = target(Format::Zarr, &shape, &[10, 20]);
        assert_eq!(write_grid(&aligned, &t), aligned, "boundaries on stored boundaries are kept");
        let skewed = Chunks::regular(&shape, &[30, 25]);
        let grid = write_grid(&skewed, &t);
        assert!(owns_whole_chunks(&grid, &[10, 20]), "{grid:?}");
        assert_eq!(grid.chunksize(), vec![30, 20], "k = round(30 / 10) = 3 and round(24.25 / 20) = 1");
        let npy = target(Format::Npy, &shape, &shape);
        assert_eq!(write_grid(&skewed, &npy), skewed, ".npy tasks write disjoint byte ranges of any grid");
    }
}
