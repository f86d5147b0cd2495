//! Constructors: generators and scalars.

use tessera_chunks::{ChunkSpec, Chunks, DType, chunk_byte_target};

use super::{Array, Op};
use crate::{GenKind, Generator, GraphError, Scalar};

impl Array {
    /// An array defined by a generator, chunked by `chunks` (with `auto` axes sized
    /// under `auto_bytes`).
    pub fn generate(
        kind: GenKind,
        shape: &[usize],
        dtype: DType,
        chunks: &ChunkSpec,
        auto_bytes: u64,
    ) -> Result<Array, GraphError> {
        check_shape(shape)?;
        if matches!(kind, GenKind::Random { .. } | GenKind::Normal { .. }) && !dtype.is_float() {
            return Err(GraphError::Type(format!(
                "random produces floats; dtype {dtype} is not supported (use float64 or float32)"
            )));
        }
        match kind {
            GenKind::Integers { low, high, .. } if high <= low => {
                return Err(GraphError::Shape(format!("integers: low ({low}) must be below high ({high})")));
            }
            GenKind::Integers { .. } if dtype != DType::Int64 => {
                return Err(GraphError::Type(format!("integers produces int64, not {dtype}")));
            }
            GenKind::Normal { scale, .. } if scale.is_nan() || scale < 0.0 => {
                return Err(GraphError::Shape(format!("normal: scale must be non-negative, not {scale}")));
            }
            GenKind::Eye { .. } | GenKind::Tri { .. } if shape.len() != 2 => {
                return Err(GraphError::Shape("eye and tri make 2-D arrays".into()));
            }
            _ => {}
        }
        let grid = chunks.resolve(shape, dtype, auto_bytes)?;
        let generator = Generator { kind, shape: shape.to_vec(), dtype };
        Ok(Array::new(Op::Gen(generator), shape.to_vec(), dtype, grid))
    }

    /// `ones(shape, chunks=...)`, with the default `auto` byte target.
    pub fn ones(shape: &[usize], chunks: &ChunkSpec) -> Result<Array, GraphError> {
        Array::full(shape, Scalar::Float(1.0), DType::Float64, chunks)
    }

    /// `zeros(shape, chunks=...)`, with the default `auto` byte target.
    pub fn zeros(shape: &[usize], chunks: &ChunkSpec) -> Result<Array, GraphError> {
        Array::full(shape, Scalar::Float(0.0), DType::Float64, chunks)
    }

    /// `full(shape, value, chunks=..., dtype=...)`, with the default `auto` byte target.
    pub fn full(shape: &[usize], value: Scalar, dtype: DType, chunks: &ChunkSpec) -> Result<Array, GraphError> {
        Array::generate(GenKind::Full(value), shape, dtype, chunks, chunk_byte_target()?)
    }

    /// `random(shape, seed=...)`: float64 uniform in `[0, 1)`, independent of chunking.
    pub fn random(shape: &[usize], seed: u64, chunks: &ChunkSpec) -> Result<Array, GraphError> {
        Array::generate(GenKind::Random { seed }, shape, DType::Float64, chunks, chunk_byte_target()?)
    }

    /// `arange(n)`: the integers `0..n` as int64.
    pub fn arange(n: usize, chunks: &ChunkSpec) -> Result<Array, GraphError> {
        let kind = GenKind::Arange { start: Scalar::Int(0), step: Scalar::Int(1) };
        Array::generate(kind, &[n], DType::Int64, chunks, chunk_byte_target()?)
    }

    /// A 0-d array holding `value` with the given dtype.
    pub fn scalar(value: Scalar, dtype: DType) -> Array {
        Array::new(Op::Scalar(value), Vec::new(), dtype, Chunks::scalar())
    }
}

pub(crate) fn check_shape(shape: &[usize]) -> Result<(), GraphError> {
    let mut total: u64 = 1;
    for &n in shape {
        total = total
            .checked_mul(n as u64)
            .filter(|&t| t <= tessera_chunks::MAX_ELEMENTS)
            .ok_or_else(|| GraphError::Shape(format!("shape {shape:?} has too many elements")))?;
    }
    Ok(())
}
