//! The values tasks produce: dense blocks, and reduction partials.

use ndarray::{ArrayD, IxDyn};
use tessera_chunks::DType;

use crate::ExactSum;

/// A dense block of an array, always in standard (row-major, contiguous) layout.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// float64 elements.
    F64(ArrayD<f64>),
    /// float32 elements.
    F32(ArrayD<f32>),
    /// int64 elements.
    I64(ArrayD<i64>),
    /// bool elements.
    Bool(ArrayD<bool>),
}

impl Block {
    /// The same elements in row-major order with another shape of as many elements;
    /// `None` when the element counts differ.
    pub fn reshaped(self, shape: &[usize]) -> Option<Block> {
        fn go<T: Clone>(a: ArrayD<T>, shape: &[usize]) -> Option<ArrayD<T>> {
            let a = if a.is_standard_layout() { a } else { a.as_standard_layout().into_owned() };
            a.into_shape_with_order(ndarray::IxDyn(shape)).ok()
        }
        Some(match self {
            Block::F64(a) => Block::F64(go(a, shape)?),
            Block::F32(a) => Block::F32(go(a, shape)?),
            Block::I64(a) => Block::I64(go(a, shape)?),
            Block::Bool(a) => Block::Bool(go(a, shape)?),
        })
    }

    /// The block's dtype.
    pub fn dtype(&self) -> DType {
        match self {
            Block::F64(_) => DType::Float64,
            Block::F32(_) => DType::Float32,
            Block::I64(_) => DType::Int64,
            Block::Bool(_) => DType::Bool,
        }
    }

    /// The block's shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            Block::F64(a) => a.shape(),
            Block::F32(a) => a.shape(),
            Block::I64(a) => a.shape(),
            Block::Bool(a) => a.shape(),
        }
    }

    /// Bytes of element data.
    pub fn nbytes(&self) -> usize {
        self.shape().iter().product::<usize>() * self.dtype().itemsize()
    }

    /// A block of `shape` from row-major data of matching dtype.
    pub(crate) fn from_vec_f64(shape: &[usize], data: Vec<f64>) -> Block {
        Block::F64(standard(shape, data))
    }

    /// Element `i` (row-major) as a float, for reports.
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        match self {
            Block::F64(a) => a.as_slice().and_then(|s| s.get(i)).copied(),
            Block::F32(a) => a.as_slice().and_then(|s| s.get(i)).map(|&v| f64::from(v)),
            Block::I64(a) => a.as_slice().and_then(|s| s.get(i)).map(|&v| v as f64),
            Block::Bool(a) => a.as_slice().and_then(|s| s.get(i)).map(|&v| f64::from(u8::from(v))),
        }
    }
}

/// Builds a standard-layout array; the data length always matches the shape here.
pub(crate) fn standard<T>(shape: &[usize], data: Vec<T>) -> ArrayD<T> {
    let n = data.len();
    ArrayD::from_shape_vec(IxDyn(shape), data)
        .unwrap_or_else(|_| panic!("block data of {n} elements does not match shape {shape:?}"))
}

/// The state of a reduction for every element of a partial block.
#[derive(Debug, Clone, PartialEq)]
pub enum PartialData {
    /// Exact float sums (sum, mean).
    Exact(Vec<ExactSum>),
    /// float64 running values (prod, min, max of floats).
    F64(Vec<f64>),
    /// int64 running values (sum, prod, min, max of ints).
    I64(Vec<i64>),
    /// bool running values (min, max of bools).
    Bool(Vec<bool>),
    /// Variance moments: the exact sums of the values (the first half, one per state)
    /// and of their exact squares (the second half).
    Moments(Vec<ExactSum>),
    /// `argmin`/`argmax`: per state the best value so far (float values in `floats`,
    /// integers in `ints`; the other is empty) and its position (-1 before any).
    Arg {
        /// Float values.
        floats: Vec<f64>,
        /// Integer values.
        ints: Vec<i64>,
        /// Positions.
        index: Vec<i64>,
    },
}

/// A partial reduction: one state per element of the kept axes of a block.
#[derive(Debug, Clone, PartialEq)]
pub struct Partial {
    /// The shape of the kept axes.
    pub shape: Vec<usize>,
    /// The states, row-major.
    pub data: PartialData,
}

impl Partial {
    /// Approximate bytes held.
    pub fn nbytes(&self) -> usize {
        match &self.data {
            PartialData::Exact(v) | PartialData::Moments(v) => v.len() * std::mem::size_of::<ExactSum>(),
            PartialData::F64(v) => v.len() * 8,
            PartialData::I64(v) => v.len() * 8,
            PartialData::Bool(v) => v.len(),
            PartialData::Arg { floats, ints, index } => 8 * (floats.len() + ints.len() + index.len()),
        }
    }
}

/// What a task produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A block of an array.
    Block(Block),
    /// A partial reduction.
    Partial(Partial),
}

impl Value {
    /// Approximate bytes held.
    pub fn nbytes(&self) -> usize {
        match self {
            Value::Block(b) => b.nbytes(),
            Value::Partial(p) => p.nbytes(),
        }
    }
}

impl Block {
    /// Joins blocks laid out on `chunks` (row-major block order) into one block.
    /// Returns `None` if a block's dtype or shape does not fit the grid. A lone block
    /// is the result as it is; otherwise each block is dropped once copied, so the
    /// memory held stays near one result's worth (the result's pages are zeroed lazily
    /// by the system, and are touched only as blocks are copied in).
    pub fn assemble(chunks: &tessera_chunks::Chunks, blocks: Vec<Block>) -> Option<Block> {
        if blocks.len() == 1 && chunks.num_blocks() == 1 {
            return blocks.into_iter().next().filter(|b| b.shape() == chunks.shape().as_slice());
        }
        let first = blocks.first()?.dtype();
        fn join<T: Clone + Default>(chunks: &tessera_chunks::Chunks, parts: Vec<ArrayD<T>>) -> Option<ArrayD<T>> {
            let mut out = ArrayD::from_elem(IxDyn(&chunks.shape()), T::default());
            for (block, part) in chunks.blocks().zip(parts) {
                let off = chunks.block_offset(&block);
                let shape = chunks.block_shape(&block);
                if part.shape() != shape.as_slice() {
                    return None;
                }
                out.slice_each_axis_mut(|d| {
                    let a = d.axis.index();
                    ndarray::Slice::from(off[a]..off[a] + shape[a])
                })
                .assign(&part);
            }
            Some(out)
        }
        macro_rules! gather {
            ($variant:ident) => {{
                let parts = blocks
                    .into_iter()
                    .map(|b| match b {
                        Block::$variant(a) => Some(a),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                Block::$variant(join(chunks, parts)?)
            }};
        }
        Some(match first {
            DType::Float64 => gather!(F64),
            DType::Float32 => gather!(F32),
            DType::Int64 => gather!(I64),
            DType::Bool => gather!(Bool),
        })
    }
}
