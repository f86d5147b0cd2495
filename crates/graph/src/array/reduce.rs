//! Reductions and the matrix product.

use tessera_chunks::DType;

use super::views::normalize_axis;
use super::{Array, Op};
use crate::{GraphError, ReduceOp, UnaryOp};

impl Array {
    /// Reduces over `axes` (`None`: all axes). Axes may be negative; duplicates are an
    /// error, as in numpy.
    pub fn reduce(&self, op: ReduceOp, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        let axes = self.resolve_axes(axes)?;
        if matches!(op, ReduceOp::ArgMin | ReduceOp::ArgMax) && axes.len() != 1 && axes.len() != self.ndim() {
            return Err(GraphError::Shape(format!("{} takes one axis or none", op.name())));
        }
        if matches!(op, ReduceOp::ArgMin | ReduceOp::ArgMax) && axes.iter().any(|&a| self.shape()[a] == 0) {
            return Err(GraphError::Shape(format!("attempt to get {} of an empty sequence", op.name())));
        }
        if matches!(op, ReduceOp::Min | ReduceOp::Max | ReduceOp::NanMin | ReduceOp::NanMax)
            && axes.iter().any(|&a| self.shape()[a] == 0)
        {
            return Err(GraphError::Shape(format!(
                "zero-size array to reduction operation {} which has no identity",
                op.name()
            )));
        }
        let input = self.astype(op.input_dtype(self.dtype()));
        let shape: Vec<usize> = (0..self.ndim()).filter(|a| !axes.contains(a)).map(|a| self.shape()[a]).collect();
        let chunks = self.chunks().without_axes(&axes);
        Ok(Array::new(Op::Reduce(op, input, axes), shape, op.result_dtype(self.dtype()), chunks))
    }

    /// `sum(axis=...)`
    pub fn sum(&self, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        self.reduce(ReduceOp::Sum, axes)
    }

    /// `mean(axis=...)`
    pub fn mean(&self, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        self.reduce(ReduceOp::Mean, axes)
    }

    /// `var(axis=..., ddof=...)` in one pass over the data: the exact sums of the values
    /// and of their exact squares (each square split into its rounded product and that
    /// product's error), finished in double-double arithmetic as
    /// `(S2 - S1^2 / n) / max(n - ddof, 0)`. As accurate as numpy's two passes, and the
    /// same bits for every chunking.
    pub fn var(&self, axes: Option<&[i64]>, ddof: u32) -> Result<Array, GraphError> {
        self.reduce(ReduceOp::Var { ddof }, axes)
    }

    /// `std(axis=..., ddof=...)`: the square root of [`Array::var`].
    pub fn std(&self, axes: Option<&[i64]>, ddof: u32) -> Result<Array, GraphError> {
        self.var(axes, ddof)?.unary(UnaryOp::Sqrt)
    }

    /// numpy's `any(axis=...)`: whether some element is nonzero.
    pub fn any(&self, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        self.astype(DType::Bool).reduce(ReduceOp::Max, axes)
    }

    /// numpy's `all(axis=...)`: whether every element is nonzero.
    pub fn all(&self, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        self.astype(DType::Bool).reduce(ReduceOp::Min, axes)
    }

    /// numpy's `count_nonzero(x, axis=...)`.
    pub fn count_nonzero(&self, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        self.astype(DType::Bool).reduce(ReduceOp::Sum, axes)
    }

    /// numpy's `nansum`, `nanprod`, `nanmin`, `nanmax`, `nanmean`, `nanvar` and
    /// `nanstd` (`ddof` for the last two): NaNs are left out (all-NaN slices: 0, 1,
    /// NaN, NaN, NaN, NaN, NaN, as numpy, without its warning). Arrays that cannot hold
    /// NaN reduce as the plain reductions.
    pub fn nan_reduce(&self, name: &str, axes: Option<&[i64]>, ddof: u32) -> Result<Array, GraphError> {
        let floats = self.dtype().is_float();
        let without_nan = |fill: f64| -> Result<Array, GraphError> {
            if !floats {
                return Ok(self.clone());
            }
            let nan = self.unary(UnaryOp::IsNan)?;
            Array::where_(&nan, &Array::scalar(crate::Scalar::Float(fill), self.dtype()), self)
        };
        match (name, floats) {
            ("nansum", _) => without_nan(0.0)?.reduce(ReduceOp::Sum, axes),
            ("nanprod", _) => without_nan(1.0)?.reduce(ReduceOp::Prod, axes),
            ("nanmin", true) => self.reduce(ReduceOp::NanMin, axes),
            ("nanmax", true) => self.reduce(ReduceOp::NanMax, axes),
            ("nanmean", true) => self.reduce(ReduceOp::NanMean, axes),
            ("nanvar", true) => self.reduce(ReduceOp::NanVar { ddof }, axes),
            ("nanstd", true) => self.reduce(ReduceOp::NanVar { ddof }, axes)?.unary(UnaryOp::Sqrt),
            ("nanmin", false) => self.reduce(ReduceOp::Min, axes),
            ("nanmax", false) => self.reduce(ReduceOp::Max, axes),
            ("nanmean", false) => self.reduce(ReduceOp::Mean, axes),
            ("nanvar", false) => self.var(axes, ddof),
            ("nanstd", false) => self.std(axes, ddof),
            _ => Err(GraphError::Shape(format!("unknown reduction {name}"))),
        }
    }

    /// numpy's `cumsum`/`cumprod` along `axis` (`None`: of the array raveled). Each block continues from the last values of the block before
    /// it along the axis, so every element is numpy's left-to-right rounding, whatever
    /// the chunking; blocks along the axis run one after another.
    pub fn scan(&self, op: crate::ScanOp, axis: Option<i64>) -> Result<Array, GraphError> {
        let axis = match axis {
            Some(a) => normalize_axis(a, self.ndim())?,
            None if self.ndim() == 1 => 0,
            None => return self.ravel()?.scan(op, Some(0)),
        };
        let input = self.astype(op.dtype(self.dtype()));
        Ok(Array::new(Op::Scan(op, input.clone(), axis), self.shape().to_vec(), input.dtype(), input.chunks().clone()))
    }

    /// numpy's `keepdims=True`: `reduced`, a reduction of `self` over `axes`, with the
    /// reduced axes kept as axes of length 1.
    pub fn keep_reduced_dims(&self, reduced: &Array, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        let axes = self.resolve_axes(axes)?;
        let shape: Vec<usize> =
            self.shape().iter().enumerate().map(|(a, &n)| if axes.contains(&a) { 1 } else { n }).collect();
        if reduced.ndim() + axes.len() != shape.len() {
            return Err(GraphError::Shape("keepdims needs the reduction of this array over these axes".into()));
        }
        Ok(reduced.expand_reduced(&shape, &axes))
    }

    /// `self @ other` for 2-D arrays.
    pub fn matmul(&self, other: &Array) -> Result<Array, GraphError> {
        let (a, b) = (self.shape(), other.shape());
        if a.len() != 2 || b.len() != 2 || a[1] != b[0] {
            return Err(GraphError::MatMul { a: a.to_vec(), b: b.to_vec() });
        }
        let dtype = match DType::promote(self.dtype(), other.dtype()) {
            DType::Bool => DType::Int64,
            d => d,
        };
        let lhs = self.astype(dtype);
        let rhs = other.astype(dtype);
        let chunks =
            tessera_chunks::Chunks::from_lengths(vec![lhs.chunks().axis(0).to_vec(), rhs.chunks().axis(1).to_vec()]);
        Ok(Array::new(Op::MatMul(lhs, rhs), vec![a[0], b[1]], dtype, chunks))
    }

    fn resolve_axes(&self, axes: Option<&[i64]>) -> Result<Vec<usize>, GraphError> {
        let mut resolved = match axes {
            None => (0..self.ndim()).collect::<Vec<_>>(),
            Some(list) => list.iter().map(|&a| normalize_axis(a, self.ndim())).collect::<Result<Vec<_>, _>>()?,
        };
        resolved.sort_unstable();
        let before = resolved.len();
        resolved.dedup();
        if resolved.len() != before {
            return Err(GraphError::Shape("duplicate value in 'axis'".into()));
        }
        Ok(resolved)
    }
}
