//! Reductions: fold tiles into partials, merge partials, finish into result blocks.

use std::borrow::Cow;

use tessera_chunks::DType;
use tessera_graph::{ReduceKernel, ReduceOp, ReduceStage};

use super::arg;
use super::eval::Evaluator;
use super::numeric;
use super::terms;
use super::tile::{Col, Tile, TileVal, strips, tiles};
use crate::value::standard;
use crate::{Block, ExactColumns, ExactSum, KernelError, Partial, PartialData};

/// A fresh partial of `len` states for `op` over values of `dtype`.
pub(crate) fn empty(op: ReduceOp, dtype: DType, len: usize) -> PartialData {
    match (op, dtype) {
        (ReduceOp::ArgMin | ReduceOp::ArgMax, DType::Float32 | DType::Float64) => {
            PartialData::Arg { floats: vec![0.0; len], ints: Vec::new(), index: vec![-1; len] }
        }
        (ReduceOp::ArgMin | ReduceOp::ArgMax, _) => {
            PartialData::Arg { floats: Vec::new(), ints: vec![0; len], index: vec![-1; len] }
        }
        (ReduceOp::Var { .. } | ReduceOp::NanMean | ReduceOp::NanVar { .. }, _) => {
            PartialData::Moments(vec![ExactSum::new(); terms::slots(op) * len])
        }
        (ReduceOp::NanMin | ReduceOp::NanMax, DType::Float32 | DType::Float64) => PartialData::F64(vec![f64::NAN; len]),
        (ReduceOp::NanMin, DType::Int64) => PartialData::I64(vec![i64::MAX; len]),
        (ReduceOp::NanMax, DType::Int64) => PartialData::I64(vec![i64::MIN; len]),
        (ReduceOp::NanMin, _) => PartialData::Bool(vec![true; len]),
        (ReduceOp::NanMax, _) => PartialData::Bool(vec![false; len]),
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
        ReduceOp::Min | ReduceOp::ArgMin => |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) },
        ReduceOp::Max | ReduceOp::ArgMax => |a, b| if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) },
        ReduceOp::NanMin => numeric::fmin,
        ReduceOp::NanMax => numeric::fmax,
        ReduceOp::Sum | ReduceOp::Mean | ReduceOp::Var { .. } | ReduceOp::NanMean | ReduceOp::NanVar { .. } => {
            |a, b| a + b
        }
    }
}

pub(crate) fn i64_op(op: ReduceOp) -> fn(i64, i64) -> i64 {
    match op {
        ReduceOp::Prod => i64::wrapping_mul,
        ReduceOp::Min | ReduceOp::NanMin | ReduceOp::ArgMin => i64::min,
        ReduceOp::Max | ReduceOp::NanMax | ReduceOp::ArgMax => i64::max,
        ReduceOp::Sum | ReduceOp::Mean | ReduceOp::Var { .. } | ReduceOp::NanMean | ReduceOp::NanVar { .. } => {
            i64::wrapping_add
        }
    }
}

pub(crate) fn bool_op(op: ReduceOp) -> fn(bool, bool) -> bool {
    match op {
        ReduceOp::Min | ReduceOp::NanMin | ReduceOp::Prod => |a, b| a & b,
        _ => |a, b| a | b,
    }
}

/// Where each row of a region of a block lands in the block's partial.
struct Layout {
    /// Partial stride of each leading (non-last) axis; 0 for reduced axes.
    strides: Vec<usize>,
    /// Whether the last axis is reduced (a whole row folds into one state).
    last_reduced: bool,
    /// The region's shape (rows are counted over its leading axes).
    shape: Vec<usize>,
    /// The partial index of the region's first row.
    base: usize,
    /// The region's first column in the block, when the last axis is kept.
    col_base: usize,
}

impl Layout {
    /// The layout of a region at `off` (relative to the block) with `shape`, in the
    /// partial of a block of `block_shape` reduced along `axes`; also the kept shape.
    fn new(block_shape: &[usize], axes: &[usize], off: &[usize], shape: &[usize]) -> (Layout, Vec<usize>) {
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
        let col_base = if last_reduced { 0 } else { off[n - 1] };
        strides.truncate(n.saturating_sub(1));
        let base = strides.iter().zip(off).map(|(s, o)| s * o).sum();
        (Layout { strides, last_reduced, shape: shape.to_vec(), base, col_base }, kept)
    }

    /// The partial index of the first element of row `r` of the region.
    fn row_base(&self, r: usize) -> usize {
        let mut rest = r;
        let mut base = self.base;
        for a in (0..self.strides.len()).rev() {
            base += (rest % self.shape[a]) * self.strides[a];
            rest /= self.shape[a];
        }
        base
    }
}

/// A partial being folded: its states, and the float levels of exact sums along a
/// leading axis (see [`ExactColumns`]): one set for sums, one per term for moments
/// (see [`terms`]).
pub(crate) struct Accumulator {
    op: ReduceOp,
    axes: Vec<usize>,
    block_shape: Vec<usize>,
    kept: Vec<usize>,
    data: PartialData,
    columns: Vec<ExactColumns>,
    /// For moments: the current tile's terms, kept between tiles so their buffers are
    /// reused.
    terms: Vec<Vec<f64>>,
    /// For `argmin`/`argmax`: how an element's coordinates make its position.
    positions: Option<arg::Positions>,
}

impl Accumulator {
    /// The identity of `k`'s reduction for a block of `block_shape`.
    pub(crate) fn new(k: &ReduceKernel, block_shape: &[usize]) -> Accumulator {
        let (layout, kept) = Layout::new(block_shape, &k.axes, &vec![0; block_shape.len()], block_shape);
        let len = kept.iter().product();
        let data = empty(k.op, k.input_dtype, len);
        let sets = match &data {
            _ if layout.last_reduced => 0,
            PartialData::Exact(_) => 1,
            PartialData::Moments(_) => terms::term_slots(k.op).len(),
            _ => 0,
        };
        let columns = (0..sets).map(|_| ExactColumns::new(len)).collect();
        let block_shape = block_shape.to_vec();
        let positions = match (&k.stage, k.op) {
            (ReduceStage::Partial { input, .. }, ReduceOp::ArgMin | ReduceOp::ArgMax) => {
                Some(arg::Positions::new(&input.shape(), &k.axes))
            }
            _ => None,
        };
        Accumulator { op: k.op, axes: k.axes.clone(), block_shape, kept, data, columns, terms: Vec::new(), positions }
    }

    /// Folds the evaluator's region, which starts at `off` within the block (only the
    /// kept axes' offsets place it: reduced axes all fold into the same states).
    pub(crate) fn fold_region(&mut self, eval: &Evaluator<'_>, off: &[usize]) -> Result<(), KernelError> {
        let (layout, _) = Layout::new(&self.block_shape, &self.axes, off, eval.shape());
        // A leading axis reduced: rows of accumulators, walked strip by strip.
        let order: Box<dyn Iterator<Item = Tile>> =
            if layout.last_reduced { Box::new(tiles(eval.shape())) } else { Box::new(strips(eval.shape())) };
        for t in order {
            let values = eval.tile(t)?;
            if self.positions.is_some() {
                self.fold_arg(&layout, eval.offset(), t, &values);
            } else {
                fold(self.op, self, &layout, t, &values);
            }
        }
        Ok(())
    }

    /// Folds a tile into `argmin`/`argmax` states: each element with its position.
    fn fold_arg(&mut self, layout: &Layout, origin: &[usize], tile: Tile, values: &TileVal) {
        let (Some(positions), PartialData::Arg { floats, ints, index }) = (&self.positions, &mut self.data) else {
            return;
        };
        let max = arg::is_max(self.op);
        let n = origin.len();
        let mut g = origin.to_vec();
        let step = positions.last_step();
        let floats_in = floats.len() == index.len() && !index.is_empty();
        let (as_f64, as_i64) = (as_f64(values), values.cast(DType::Int64));
        for (i, r) in (tile.row0..tile.row0 + tile.nrows).enumerate() {
            let mut rest = r;
            for a in (0..n.saturating_sub(1)).rev() {
                g[a] = origin[a] + rest % layout.shape[a];
                rest /= layout.shape[a];
            }
            if n > 0 {
                g[n - 1] = origin[n - 1] + tile.col0;
            }
            let first = positions.of(&g);
            let base = layout.row_base(r) + if layout.last_reduced { 0 } else { layout.col_base + tile.col0 };
            for j in 0..tile.ncols {
                let at = if layout.last_reduced { base } else { base + j };
                let (k, pos) = (i * tile.ncols + j, first + step * j as i64);
                if floats_in {
                    let x = as_f64.at(k);
                    if arg::better_f64(max, x, pos, floats[at], index[at]) {
                        (floats[at], index[at]) = (x, pos);
                    }
                } else if let TileVal::I64(c) = &as_i64 {
                    let x = c.at(k);
                    if arg::better_i64(max, x, pos, ints[at], index[at]) {
                        (ints[at], index[at]) = (x, pos);
                    }
                }
            }
        }
    }

    /// The finished partial.
    pub(crate) fn finish(mut self) -> Partial {
        match (&mut self.data, self.columns.as_mut_slice()) {
            (PartialData::Exact(states), [columns]) => columns.flush(states),
            (PartialData::Moments(states), columns) if !columns.is_empty() => {
                let len = states.len() / terms::slots(self.op);
                for (columns, &slot) in columns.iter_mut().zip(terms::term_slots(self.op)) {
                    columns.flush(&mut states[slot * len..(slot + 1) * len]);
                }
            }
            _ => {}
        }
        Partial { shape: self.kept, data: self.data }
    }
}

/// Folds the values of one tile into the partial.
///
/// Each row of the tile goes whole into a slice operation: a row reduced into one
/// state (the last axis reduced), or a row combined elementwise with a row of states
/// (a leading axis reduced), so both directions run as vectorized loops.
fn fold(op: ReduceOp, acc: &mut Accumulator, layout: &Layout, tile: Tile, values: &TileVal) {
    let cols = tile.ncols;
    let rows = tile.row0..tile.row0 + tile.nrows;
    let place = |r: usize| {
        let base = layout.row_base(r);
        if layout.last_reduced { base } else { base + layout.col_base + tile.col0 }
    };
    match &mut acc.data {
        PartialData::Exact(states) => {
            let floats = as_f64(values);
            if let (Col::Vec(v), [columns]) = (&*floats, acc.columns.as_mut_slice()) {
                for (first, count, at) in runs(tile, place) {
                    columns.add_rows(states, at, &v[first * cols..(first + count) * cols], cols);
                }
                return;
            }
            for (i, r) in rows.enumerate() {
                let at = place(r);
                match &*floats {
                    Col::Const(v) if layout.last_reduced => states[at].add_repeated(*v, cols),
                    Col::Vec(v) if layout.last_reduced => states[at].add_slice(&v[i * cols..(i + 1) * cols]),
                    col => (0..cols).for_each(|j| states[at + j].add(col.at(i * cols + j))),
                }
            }
        }
        PartialData::Moments(states) => {
            let floats = as_f64(values);
            let values: Cow<'_, [f64]> = match &*floats {
                Col::Vec(v) => Cow::Borrowed(v),
                Col::Const(v) => Cow::Owned(vec![*v; tile.elements()]),
            };
            terms::terms(op, &values, &mut acc.terms);
            let len = states.len() / terms::slots(op);
            for (t, &slot) in terms::term_slots(op).iter().enumerate() {
                let (target, term) = (&mut states[slot * len..(slot + 1) * len], &acc.terms[t]);
                if let Some(columns) = acc.columns.get_mut(t) {
                    for (first, count, at) in runs(tile, place) {
                        columns.add_rows(target, at, &term[first * cols..(first + count) * cols], cols);
                    }
                    continue;
                }
                for (i, r) in rows.clone().enumerate() {
                    let (at, row) = (place(r), &term[i * cols..(i + 1) * cols]);
                    if layout.last_reduced {
                        target[at].add_slice(row);
                    } else {
                        row.iter().enumerate().for_each(|(j, &x)| target[at + j].add(x));
                    }
                }
            }
        }
        PartialData::F64(states) => {
            let floats = as_f64(values);
            fold_rows(op, states, &floats, rows, cols, layout.last_reduced, place, F64Fold);
        }
        PartialData::I64(states) => {
            if let TileVal::I64(ints) = values.cast(DType::Int64) {
                fold_rows(op, states, &ints, rows, cols, layout.last_reduced, place, I64Fold);
            }
        }
        // Folded with their positions by `Accumulator::fold_arg`.
        PartialData::Arg { .. } => {}
        PartialData::Bool(states) => {
            if let TileVal::Bool(bools) = values.cast(DType::Bool) {
                fold_rows(op, states, &bools, rows, cols, layout.last_reduced, place, BoolFold);
            }
        }
    }
}

/// The tile's rows grouped into runs that fold into the same row of states (all of a
/// tile's rows, when only leading axes are reduced): `(first row, rows, place)`.
fn runs(tile: Tile, place: impl Fn(usize) -> usize) -> Vec<(usize, usize, usize)> {
    let mut out: Vec<(usize, usize, usize)> = Vec::new();
    for i in 0..tile.nrows {
        let at = place(tile.row0 + i);
        match out.last_mut() {
            Some((_, count, last)) if *last == at => *count += 1,
            _ => out.push((i, 1, at)),
        }
    }
    out
}

/// The tile's values as float64, borrowed when they already are.
fn as_f64(values: &TileVal) -> Cow<'_, Col<f64>> {
    match values {
        TileVal::F64(c) => Cow::Borrowed(c),
        other => Cow::Owned(other.to_f64()),
    }
}

/// Folds each row of a tile into its state (last axis reduced) or its row of states.
#[allow(clippy::too_many_arguments)]
fn fold_rows<T: Copy, F: SliceFold<T>>(
    op: ReduceOp,
    states: &mut [T],
    col: &Col<T>,
    rows: std::ops::Range<usize>,
    cols: usize,
    last_reduced: bool,
    place: impl Fn(usize) -> usize,
    f: F,
) {
    for (i, r) in rows.enumerate() {
        let at = place(r);
        match col {
            Col::Const(v) if last_reduced => states[at] = f.repeat(op, states[at], *v, cols),
            Col::Vec(v) if last_reduced => states[at] = f.reduce(op, states[at], &v[i * cols..(i + 1) * cols]),
            Col::Const(v) => states[at..at + cols].iter_mut().for_each(|s| *s = f.combine(op, *s, *v)),
            Col::Vec(v) => f.combine_rows(op, &mut states[at..at + cols], &v[i * cols..(i + 1) * cols]),
        }
    }
}

/// One reduction's element operations, written so the slice loops vectorize.
trait SliceFold<T: Copy> {
    fn combine(&self, op: ReduceOp, a: T, b: T) -> T;

    /// `state` combined with `x` `n` times over (a constant row of `n` elements).
    fn repeat(&self, op: ReduceOp, state: T, x: T, n: usize) -> T {
        (0..n).fold(state, |a, _| self.combine(op, a, x))
    }

    /// `state` combined with every element of `xs`.
    fn reduce(&self, op: ReduceOp, state: T, xs: &[T]) -> T {
        xs.iter().fold(state, |a, &x| self.combine(op, a, x))
    }

    /// `states[j]` combined with `xs[j]`.
    fn combine_rows(&self, op: ReduceOp, states: &mut [T], xs: &[T]) {
        states.iter_mut().zip(xs).for_each(|(s, &x)| *s = self.combine(op, *s, x));
    }
}

struct F64Fold;
struct I64Fold;
struct BoolFold;

/// NaN-propagating `min` as a compare and a blend: `x` wins if it is smaller or NaN,
/// and a NaN state is never replaced (`x < NaN` is false).
#[inline(always)]
fn min_nan(a: f64, x: f64) -> f64 {
    if x < a || x.is_nan() { x } else { a }
}

#[inline(always)]
fn max_nan(a: f64, x: f64) -> f64 {
    if x > a || x.is_nan() { x } else { a }
}

impl SliceFold<f64> for F64Fold {
    fn combine(&self, op: ReduceOp, a: f64, b: f64) -> f64 {
        f64_op(op)(a, b)
    }

    fn reduce(&self, op: ReduceOp, state: f64, xs: &[f64]) -> f64 {
        const LANES: usize = 8;
        let lanes = |pick: fn(f64, f64) -> f64| {
            let mut acc = [state; LANES];
            let mut chunks = xs.chunks_exact(LANES);
            for c in &mut chunks {
                for l in 0..LANES {
                    acc[l] = pick(acc[l], c[l]);
                }
            }
            let tail = chunks.remainder().iter().fold(state, |a, &x| pick(a, x));
            acc.iter().fold(tail, |a, &x| pick(a, x))
        };
        match op {
            ReduceOp::Min => lanes(min_nan),
            ReduceOp::Max => lanes(max_nan),
            // Products keep numpy's left-to-right order.
            _ => xs.iter().fold(state, |a, &x| f64_op(op)(a, x)),
        }
    }

    fn combine_rows(&self, op: ReduceOp, states: &mut [f64], xs: &[f64]) {
        let pairs = states.iter_mut().zip(xs);
        match op {
            ReduceOp::Min => pairs.for_each(|(s, &x)| *s = min_nan(*s, x)),
            ReduceOp::Max => pairs.for_each(|(s, &x)| *s = max_nan(*s, x)),
            _ => pairs.for_each(|(s, &x)| *s = f64_op(op)(*s, x)),
        }
    }
}

impl SliceFold<i64> for I64Fold {
    fn combine(&self, op: ReduceOp, a: i64, b: i64) -> i64 {
        i64_op(op)(a, b)
    }

    fn repeat(&self, op: ReduceOp, state: i64, x: i64, n: usize) -> i64 {
        match op {
            _ if n == 0 => state,
            ReduceOp::Min | ReduceOp::NanMin | ReduceOp::Max | ReduceOp::NanMax => self.combine(op, state, x),
            ReduceOp::Prod => state.wrapping_mul(crate::cpu::numeric::int_power(x, n as i64)),
            _ => state.wrapping_add(x.wrapping_mul(n as i64)),
        }
    }

    fn reduce(&self, op: ReduceOp, state: i64, xs: &[i64]) -> i64 {
        match op {
            ReduceOp::Min | ReduceOp::NanMin => xs.iter().copied().min().map_or(state, |m| m.min(state)),
            ReduceOp::Max | ReduceOp::NanMax => xs.iter().copied().max().map_or(state, |m| m.max(state)),
            ReduceOp::Prod => xs.iter().fold(state, |a, &x| a.wrapping_mul(x)),
            _ => xs.iter().fold(state, |a, &x| a.wrapping_add(x)),
        }
    }

    fn combine_rows(&self, op: ReduceOp, states: &mut [i64], xs: &[i64]) {
        let pairs = states.iter_mut().zip(xs);
        match op {
            ReduceOp::Min | ReduceOp::NanMin => pairs.for_each(|(s, &x)| *s = (*s).min(x)),
            ReduceOp::Max | ReduceOp::NanMax => pairs.for_each(|(s, &x)| *s = (*s).max(x)),
            ReduceOp::Prod => pairs.for_each(|(s, &x)| *s = s.wrapping_mul(x)),
            _ => pairs.for_each(|(s, &x)| *s = s.wrapping_add(x)),
        }
    }
}

impl SliceFold<bool> for BoolFold {
    fn combine(&self, op: ReduceOp, a: bool, b: bool) -> bool {
        bool_op(op)(a, b)
    }
}

/// Reduces the evaluator's region into a partial.
pub fn partial(k: &ReduceKernel, eval: &Evaluator<'_>) -> Result<Partial, KernelError> {
    let mut acc = Accumulator::new(k, eval.shape());
    acc.fold_region(eval, &vec![0; eval.shape().len()])?;
    Ok(acc.finish())
}

/// Merges partials of one shape, in order.
pub fn merge(op: ReduceOp, parts: &[&Partial]) -> Option<Partial> {
    let first = parts.first()?;
    let mut out = (*first).clone();
    for p in &parts[1..] {
        match (&mut out.data, &p.data) {
            (PartialData::Exact(a), PartialData::Exact(b)) | (PartialData::Moments(a), PartialData::Moments(b)) => {
                a.iter_mut().zip(b).for_each(|(x, y)| x.merge(y))
            }
            (PartialData::F64(a), PartialData::F64(b)) => {
                let f = f64_op(op);
                a.iter_mut().zip(b).for_each(|(x, &y)| *x = f(*x, y));
            }
            (PartialData::I64(a), PartialData::I64(b)) => {
                let f = i64_op(op);
                a.iter_mut().zip(b).for_each(|(x, &y)| *x = f(*x, y));
            }
            (
                PartialData::Arg { floats: fa, ints: ia, index: xa },
                PartialData::Arg { floats: fb, ints: ib, index: xb },
            ) => {
                let max = arg::is_max(op);
                for k in 0..xa.len().min(xb.len()) {
                    let take = if fa.len() == xa.len() {
                        arg::better_f64(max, fb[k], xb[k], fa[k], xa[k])
                    } else {
                        arg::better_i64(max, ib[k], xb[k], ia[k], xa[k])
                    };
                    if take && xb[k] >= 0 {
                        if fa.len() == xa.len() {
                            fa[k] = fb[k];
                        } else {
                            ia[k] = ib[k];
                        }
                        xa[k] = xb[k];
                    }
                }
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
        PartialData::Moments(m) => {
            let len = m.len() / terms::slots(op);
            let slot = |s: usize| &m[s * len..(s + 1) * len];
            match op {
                ReduceOp::NanMean => slot(0).iter().zip(slot(1)).map(|(s, n)| s.value() / n.value()).collect(),
                ReduceOp::NanVar { ddof } => {
                    let n = slot(2).iter().map(|n| n.value() as u64);
                    slot(0)
                        .iter()
                        .zip(slot(1))
                        .zip(n)
                        .map(|((a, b), n)| crate::moments::variance(a, b, n, ddof))
                        .collect()
                }
                _ => {
                    let ddof = if let ReduceOp::Var { ddof } = op { ddof } else { 0 };
                    slot(0).iter().zip(slot(1)).map(|(a, b)| crate::moments::variance(a, b, count, ddof)).collect()
                }
            }
        }
        PartialData::F64(v) => v,
        PartialData::I64(v) => return Block::I64(standard(&p.shape, v)),
        PartialData::Bool(v) => return Block::Bool(standard(&p.shape, v)),
        PartialData::Arg { index, .. } => return Block::I64(standard(&p.shape, index)),
    };
    match out {
        DType::Float32 => Block::F32(standard(&p.shape, floats.into_iter().map(|v| v as f32).collect())),
        _ => Block::from_vec_f64(&p.shape, floats),
    }
}
