//! Reductions: fold tiles into partials, merge partials, finish into result blocks.

use tessera_chunks::DType;
use tessera_graph::{ReduceKernel, ReduceOp};

use super::eval::Evaluator;
use super::tile::{Col, Tile, TileVal, tiles};
use crate::value::standard;
use crate::{Block, ExactSum, KernelError, Partial, PartialData};

/// A fresh partial of `len` states for `op` over values of `dtype`.
pub(crate) fn empty(op: ReduceOp, dtype: DType, len: usize) -> PartialData {
    match (op, dtype) {
        (ReduceOp::Sum | ReduceOp::Mean, DType::Float32 | DType::Float64) => {
            PartialData::Exact(vec![ExactSum::new(); len])
        }
        (ReduceOp::Sum, _) => PartialData::I64(vec![0; len]),
        (ReduceOp::Prod, DType::Int64 | DType::Bool) => PartialData::I64(vec![1; len]),
        (ReduceOp::Prod, _) => PartialData::F64(vec![1.0; len]),
        (ReduceOp::Min, DType::Bool) => PartialData::Bool(vec![true; len]),
        (ReduceOp::Max, DType::Bool) => PartialData::Bool(vec![false; len]),
        (ReduceOp::Min, DType::Int64) => PartialData::I64(vec![i64::MAX; len]),
        (ReduceOp::Max, DType::Int64) => PartialData::I64(vec![i64::MIN; len]),
        (ReduceOp::Min, _) => PartialData::F64(vec![f64::INFINITY; len]),
        (ReduceOp::Max, _) => PartialData::F64(vec![f64::NEG_INFINITY; len]),
        (ReduceOp::Mean, _) => PartialData::F64(vec![0.0; len]),
    }
}

pub(crate) fn f64_op(op: ReduceOp) -> fn(f64, f64) -> f64 {
    match op {
        ReduceOp::Prod => |a, b| a * b,
        ReduceOp::Min => |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) },
        ReduceOp::Max => |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) },
        ReduceOp::Sum | ReduceOp::Mean => |a, b| a + b,
    }
}

pub(crate) fn i64_op(op: ReduceOp) -> fn(i64, i64) -> i64 {
    match op {
        ReduceOp::Prod => i64::wrapping_mul,
        ReduceOp::Min => i64::min,
        ReduceOp::Max => i64::max,
        ReduceOp::Sum | ReduceOp::Mean => i64::wrapping_add,
    }
}

pub(crate) fn bool_op(op: ReduceOp) -> fn(bool, bool) -> bool {
    match op {
        ReduceOp::Min | ReduceOp::Prod => |a, b| a & b,
        _ => |a, b| a | b,
    }
}

/// Where each row of a block lands in the partial.
struct Layout {
    /// Partial stride of each leading (non-last) axis; 0 for reduced axes.
    strides: Vec<usize>,
    /// Whether the last axis is reduced (a whole row folds into one state).
    last_reduced: bool,
    shape: Vec<usize>,
}

impl Layout {
    fn new(block_shape: &[usize], axes: &[usize]) -> (Layout, Vec<usize>) {
        let n = block_shape.len();
        let kept: Vec<usize> = (0..n).filter(|a| !axes.contains(a)).map(|a| block_shape[a]).collect();
        let mut strides = vec![0; n];
        let mut s = 1;
        for a in (0..n).rev() {
            if !axes.contains(&a) {
                strides[a] = s;
                s *= block_shape[a];
            }
        }
        let last_reduced = n == 0 || axes.contains(&(n - 1));
        strides.truncate(n.saturating_sub(1));
        (Layout { strides, last_reduced, shape: block_shape.to_vec() }, kept)
    }

    /// The partial index of the first element of row `r`.
    fn row_base(&self, r: usize) -> usize {
        let mut rest = r;
        let mut base = 0;
        for a in (0..self.strides.len()).rev() {
            base += (rest % self.shape[a]) * self.strides[a];
            rest /= self.shape[a];
        }
        base
    }
}

/// Folds the values of one tile into the partial.
fn fold(op: ReduceOp, data: &mut PartialData, layout: &Layout, tile: Tile, values: &TileVal) {
    let cols = tile.ncols;
    // Convert once per tile, not per row.
    let floats = matches!(data, PartialData::Exact(_) | PartialData::F64(_)).then(|| values.to_f64());
    let ints = match (&*data, matches!(data, PartialData::I64(_)).then(|| values.cast(DType::Int64))) {
        (PartialData::I64(_), Some(TileVal::I64(c))) => Some(c),
        _ => None,
    };
    let bools = match (&*data, matches!(data, PartialData::Bool(_)).then(|| values.cast(DType::Bool))) {
        (PartialData::Bool(_), Some(TileVal::Bool(c))) => Some(c),
        _ => None,
    };
    for (i, r) in (tile.row0..tile.row0 + tile.nrows).enumerate() {
        let base = layout.row_base(r);
        let range = i * cols..(i + 1) * cols;
        let target = |j: usize| if layout.last_reduced { base } else { base + tile.col0 + j };
        match (&mut *data, &floats, &ints, &bools) {
            (PartialData::Exact(acc), Some(col), _, _) => match col {
                Col::Const(v) if layout.last_reduced => acc[base].add_repeated(*v, cols),
                Col::Vec(v) if layout.last_reduced => acc[base].add_slice(&v[range]),
                col => (0..cols).for_each(|j| acc[target(j)].add(col.at(i * cols + j))),
            },
            (PartialData::F64(acc), Some(col), _, _) => {
                let f = f64_op(op);
                (0..cols).for_each(|j| acc[target(j)] = f(acc[target(j)], col.at(i * cols + j)));
            }
            (PartialData::I64(acc), _, Some(col), _) => {
                let f = i64_op(op);
                (0..cols).for_each(|j| acc[target(j)] = f(acc[target(j)], col.at(i * cols + j)));
            }
            (PartialData::Bool(acc), _, _, Some(col)) => {
                let f = bool_op(op);
                (0..cols).for_each(|j| acc[target(j)] = f(acc[target(j)], col.at(i * cols + j)));
            }
            _ => {}
        }
    }
}

/// Reduces the evaluator's region into a partial.
pub fn partial(k: &ReduceKernel, eval: &Evaluator<'_>) -> Result<Partial, KernelError> {
    let (layout, kept) = Layout::new(eval.shape(), &k.axes);
    let mut data = empty(k.op, k.input_dtype, kept.iter().product());
    for t in tiles(eval.shape()) {
        let values = eval.tile(t)?;
        fold(k.op, &mut data, &layout, t, &values);
    }
    Ok(Partial { shape: kept, data })
}

/// Merges partials of one shape, in order.
pub fn merge(op: ReduceOp, parts: &[&Partial]) -> Option<Partial> {
    let first = parts.first()?;
    let mut out = (*first).clone();
    for p in &parts[1..] {
        match (&mut out.data, &p.data) {
            (PartialData::Exact(a), PartialData::Exact(b)) => a.iter_mut().zip(b).for_each(|(x, y)| x.merge(y)),
            (PartialData::F64(a), PartialData::F64(b)) => {
                let f = f64_op(op);
                a.iter_mut().zip(b).for_each(|(x, &y)| *x = f(*x, y));
            }
            (PartialData::I64(a), PartialData::I64(b)) => {
                let f = i64_op(op);
                a.iter_mut().zip(b).for_each(|(x, &y)| *x = f(*x, y));
            }
            (PartialData::Bool(a), PartialData::Bool(b)) => {
                let f = bool_op(op);
                a.iter_mut().zip(b).for_each(|(x, &y)| *x = f(*x, y));
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Turns a merged partial into the result block of dtype `out`.
pub fn finish(op: ReduceOp, p: Partial, count: u64, out: DType) -> Block {
    let floats: Vec<f64> = match p.data {
        PartialData::Exact(acc) => {
            let div = if op == ReduceOp::Mean { count as f64 } else { 1.0 };
            acc.iter().map(|a| a.value() / div).collect()
        }
        PartialData::F64(v) => v,
        PartialData::I64(v) => return Block::I64(standard(&p.shape, v)),
        PartialData::Bool(v) => return Block::Bool(standard(&p.shape, v)),
    };
    match out {
        DType::Float32 => Block::F32(standard(&p.shape, floats.into_iter().map(|v| v as f32).collect())),
        _ => Block::from_vec_f64(&p.shape, floats),
    }
}
