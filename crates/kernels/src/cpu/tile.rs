//! Tiles: runs of consecutive elements of a block, and the values computed over them.

use tessera_chunks::DType;
use tessera_graph::Scalar;

/// Elements per tile: small enough that a handful of tile buffers stay in L2.
pub const TILE: usize = 4096;

/// A tile of a block: rows `row0..row0+nrows` (rows are the block's last axis, counted
/// row-major over the leading axes) restricted to columns `col0..col0+ncols`. Either
/// one segment of one row, or several whole rows, so its elements are contiguous in
/// the block's row-major order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// First row.
    pub row0: usize,
    /// Number of rows.
    pub nrows: usize,
    /// First column.
    pub col0: usize,
    /// Number of columns.
    pub ncols: usize,
}

impl Tile {
    /// Elements in the tile.
    pub fn elements(&self) -> usize {
        self.nrows * self.ncols
    }

    /// The tile's first element in the block's row-major order.
    pub fn flat_start(&self, row_len: usize) -> usize {
        self.row0 * row_len + self.col0
    }
}

/// The length of the last axis of a block of `shape` (1 for 0-d).
pub fn row_len(shape: &[usize]) -> usize {
    shape.last().copied().unwrap_or(1)
}

/// The tiles that cover a block of `shape`, in row-major order, made one at a time: a
/// task's memory does not grow with its chunk's size.
pub fn tiles(shape: &[usize]) -> Tiles {
    let row = row_len(shape);
    let rows: usize = shape.iter().rev().skip(1).product();
    let (row, rows) = if row == 0 || rows == 0 { (0, 0) } else { (row, rows) };
    Tiles { row, rows, per: (TILE / row.max(1)).max(1), next_row: 0, next_col: 0 }
}

/// The iterator of [`tiles`]: either segments of one row (rows of at least [`TILE`]
/// elements) or runs of whole rows.
#[derive(Debug, Clone)]
pub struct Tiles {
    row: usize,
    rows: usize,
    /// Whole rows per tile when rows are shorter than a tile.
    per: usize,
    next_row: usize,
    next_col: usize,
}

impl Iterator for Tiles {
    type Item = Tile;

    fn next(&mut self) -> Option<Tile> {
        if self.next_row >= self.rows {
            return None;
        }
        if self.row >= TILE {
            let ncols = TILE.min(self.row - self.next_col);
            let t = Tile { row0: self.next_row, nrows: 1, col0: self.next_col, ncols };
            self.next_col += ncols;
            if self.next_col == self.row {
                self.next_col = 0;
                self.next_row += 1;
            }
            Some(t)
        } else {
            let nrows = self.per.min(self.rows - self.next_row);
            let t = Tile { row0: self.next_row, nrows, col0: 0, ncols: self.row };
            self.next_row += nrows;
            Some(t)
        }
    }
}

/// Columns per strip of [`strips`]: a row of accumulators this wide (three float
/// levels of it for exact sums) stays in L1 while the strip's rows go by.
pub const STRIP: usize = 512;

/// Tiles that cover a block of `shape` strip by strip: the last axis cut into strips of
/// at most [`STRIP`] columns, each strip walked from its first row to its last in
/// tiles of several rows (at most [`TILE`] elements). For reductions along leading
/// axes, whose accumulators are a row: one strip's accumulators serve every tile of
/// the strip before the next strip's are touched.
pub fn strips(shape: &[usize]) -> impl Iterator<Item = Tile> + use<> {
    let row = row_len(shape);
    let rows: usize = shape.iter().rev().skip(1).product();
    let (row, rows) = if row == 0 || rows == 0 { (0, 0) } else { (row, rows) };
    let width = STRIP.min(row.max(1));
    let per = (TILE / width).max(1);
    (0..row.div_ceil(width)).flat_map(move |s| {
        let col0 = s * width;
        let ncols = width.min(row - col0);
        (0..rows.div_ceil(per)).map(move |b| Tile { row0: b * per, nrows: per.min(rows - b * per), col0, ncols })
    })
}

/// A column of tile values: one constant standing for every element, or one value per
/// element.
#[derive(Debug, Clone, PartialEq)]
pub enum Col<T> {
    /// The same value everywhere in the tile.
    Const(T),
    /// One value per element.
    Vec(Vec<T>),
}

impl<T: Copy> Col<T> {
    /// Element `i`.
    #[inline]
    pub fn at(&self, i: usize) -> T {
        match self {
            Col::Const(v) => *v,
            Col::Vec(v) => v[i],
        }
    }
}

/// `f` applied to every element of `a`.
#[inline]
pub fn map1<T: Copy, U>(a: &Col<T>, f: impl Fn(T) -> U) -> Col<U> {
    match a {
        Col::Const(x) => Col::Const(f(*x)),
        Col::Vec(x) => Col::Vec(x.iter().map(|&x| f(x)).collect()),
    }
}

/// `f` applied elementwise to `a` and `b`.
#[inline]
pub fn map2<T: Copy, U>(a: &Col<T>, b: &Col<T>, f: impl Fn(T, T) -> U) -> Col<U> {
    match (a, b) {
        (Col::Const(x), Col::Const(y)) => Col::Const(f(*x, *y)),
        (Col::Vec(x), Col::Const(y)) => Col::Vec(x.iter().map(|&x| f(x, *y)).collect()),
        (Col::Const(x), Col::Vec(y)) => Col::Vec(y.iter().map(|&y| f(*x, y)).collect()),
        (Col::Vec(x), Col::Vec(y)) => Col::Vec(x.iter().zip(y).map(|(&x, &y)| f(x, y)).collect()),
    }
}

/// The values of one expression node over one tile.
#[derive(Debug, Clone, PartialEq)]
pub enum TileVal {
    /// float64 values.
    F64(Col<f64>),
    /// float32 values.
    F32(Col<f32>),
    /// int64 values.
    I64(Col<i64>),
    /// bool values.
    Bool(Col<bool>),
}

impl TileVal {
    /// A constant tile of `dtype`.
    pub fn constant(value: Scalar, dtype: DType) -> TileVal {
        match dtype {
            DType::Float64 => TileVal::F64(Col::Const(value.as_f64())),
            DType::Float32 => TileVal::F32(Col::Const(value.as_f64() as f32)),
            DType::Int64 => TileVal::I64(Col::Const(value.as_i64())),
            DType::Bool => TileVal::Bool(Col::Const(value.as_bool())),
        }
    }

    /// The values as float64 (exact for every dtype but int64 beyond 2^53).
    pub fn to_f64(&self) -> Col<f64> {
        match self {
            TileVal::F64(c) => c.clone(),
            TileVal::F32(c) => map1(c, f64::from),
            TileVal::I64(c) => map1(c, |v| v as f64),
            TileVal::Bool(c) => map1(c, |v| f64::from(u8::from(v))),
        }
    }

    /// The values converted to `dtype` with numpy's `astype` rules.
    pub fn cast(&self, dtype: DType) -> TileVal {
        match (self, dtype) {
            (TileVal::F64(_), DType::Float64)
            | (TileVal::F32(_), DType::Float32)
            | (TileVal::I64(_), DType::Int64)
            | (TileVal::Bool(_), DType::Bool) => self.clone(),
            (_, DType::Float64) => TileVal::F64(self.to_f64()),
            (TileVal::F64(c), DType::Float32) => TileVal::F32(map1(c, |v| v as f32)),
            (TileVal::I64(c), DType::Float32) => TileVal::F32(map1(c, |v| v as f32)),
            (TileVal::Bool(c), DType::Float32) => TileVal::F32(map1(c, |v| f32::from(u8::from(v)))),
            (TileVal::F64(c), DType::Int64) => TileVal::I64(map1(c, |v| v as i64)),
            (TileVal::F32(c), DType::Int64) => TileVal::I64(map1(c, |v| v as i64)),
            (TileVal::Bool(c), DType::Int64) => TileVal::I64(map1(c, i64::from)),
            (TileVal::F64(c), DType::Bool) => TileVal::Bool(map1(c, |v| v != 0.0)),
            (TileVal::F32(c), DType::Bool) => TileVal::Bool(map1(c, |v| v != 0.0)),
            (TileVal::I64(c), DType::Bool) => TileVal::Bool(map1(c, |v| v != 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_cover_blocks_once() {
        for shape in [vec![3usize, 5], vec![2, 10_000], vec![7], vec![], vec![4, 0], vec![3, 20, 3000]] {
            let (row, rows) = (row_len(&shape), shape.iter().rev().skip(1).product::<usize>());
            let mut seen = vec![0u8; shape.iter().product()];
            for t in strips(&shape) {
                assert!(t.elements() <= TILE && t.ncols <= STRIP, "{shape:?}: {t:?}");
                for r in t.row0..t.row0 + t.nrows {
                    (t.col0..t.col0 + t.ncols).for_each(|c| seen[r * row + c] += 1);
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{shape:?} ({rows} rows)");
        }
    }

    #[test]
    fn tiles_cover_blocks_contiguously() {
        for shape in [vec![3usize, 5], vec![2, 10_000], vec![7], vec![], vec![4, 0], vec![3, 2, 3000]] {
            let row = row_len(&shape);
            let mut next = 0;
            for t in tiles(&shape) {
                assert_eq!(t.flat_start(row), next, "shape {shape:?}");
                assert!(t.elements() <= TILE.max(row.min(TILE)));
                next += t.elements();
            }
            assert_eq!(next, shape.iter().product::<usize>());
        }
    }
}
