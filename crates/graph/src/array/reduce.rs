//! Reductions and the matrix product.

use tessera_chunks::DType;

use super::views::normalize_axis;
use super::{Array, Op};
use crate::{BinaryOp, GraphError, ReduceOp, UnaryOp};

impl Array {
    /// Reduces over `axes` (`None`: all axes). Axes may be negative; duplicates are an
    /// error, as in numpy.
    pub fn reduce(&self, op: ReduceOp, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        let axes = self.resolve_axes(axes)?;
        if matches!(op, ReduceOp::Min | ReduceOp::Max) && axes.iter().any(|&a| self.shape()[a] == 0) {
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

    /// `var(axis=...)`, computed as numpy does: `mean(abs(x - mean(x))**2)`, with exact
    /// sums, so it is as accurate as a two-pass algorithm can be.
    pub fn var(&self, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        let resolved = self.resolve_axes(axes)?;
        let x = match self.dtype() {
            DType::Float32 | DType::Float64 => self.clone(),
            _ => self.astype(DType::Float64),
        };
        let mean = x.reduce(ReduceOp::Mean, axes)?;
        let centered = x.binary(BinaryOp::Sub, &mean.expand_reduced(x.shape(), &resolved))?;
        let squared = centered.binary(BinaryOp::Mul, &centered)?;
        squared.reduce(ReduceOp::Mean, axes)
    }

    /// `std(axis=...)`: the square root of [`Array::var`].
    pub fn std(&self, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        self.var(axes)?.unary(UnaryOp::Sqrt)
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
