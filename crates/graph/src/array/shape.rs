//! Shape functions that are views: `expand_dims`, `squeeze`, `moveaxis`, `swapaxes`,
//! `flip`. Each is an affine index map, so it costs nothing at run time and fuses
//! into whatever reads it.

use super::views::normalize_axis;
use super::{Array, Index};
use crate::GraphError;

/// Axes as numpy takes them: possibly negative, against `ndim`, no duplicates.
fn axes_of(axes: &[i64], ndim: usize) -> Result<Vec<usize>, GraphError> {
    let mut out = axes.iter().map(|&a| normalize_axis(a, ndim)).collect::<Result<Vec<_>, _>>()?;
    out.sort_unstable();
    let before = out.len();
    out.dedup();
    if out.len() != before {
        return Err(GraphError::Shape("repeated axis".into()));
    }
    Ok(out)
}

impl Array {
    /// numpy's `expand_dims(x, axis)`: length-1 axes inserted at `axes` of the result.
    pub fn expand_dims(&self, axes: &[i64]) -> Result<Array, GraphError> {
        let ndim = self.ndim() + axes.len();
        let new = axes_of(axes, ndim)?;
        let index: Vec<Index> =
            (0..ndim).map(|a| if new.contains(&a) { Index::NewAxis } else { Index::FULL }).collect();
        self.slice(&index)
    }

    /// numpy's `squeeze(x, axis=None)`: the length-1 axes (or the named ones, which must
    /// have length 1) removed.
    pub fn squeeze(&self, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        let drop = match axes {
            None => (0..self.ndim()).filter(|&a| self.shape()[a] == 1).collect(),
            Some(list) => {
                let drop = axes_of(list, self.ndim())?;
                if drop.iter().any(|&a| self.shape()[a] != 1) {
                    return Err(GraphError::Shape(
                        "cannot select an axis to squeeze out which has size not equal to one".into(),
                    ));
                }
                drop
            }
        };
        let index: Vec<Index> =
            (0..self.ndim()).map(|a| if drop.contains(&a) { Index::At(0) } else { Index::FULL }).collect();
        self.slice(&index)
    }

    /// numpy's `moveaxis(x, source, destination)`.
    pub fn moveaxis(&self, source: &[i64], destination: &[i64]) -> Result<Array, GraphError> {
        if source.len() != destination.len() {
            return Err(GraphError::Shape(
                "`source` and `destination` arguments must have the same number of elements".into(),
            ));
        }
        let (src, dst) = (axes_in_order(source, self.ndim())?, axes_in_order(destination, self.ndim())?);
        let mut order: Vec<usize> = (0..self.ndim()).filter(|a| !src.contains(a)).collect();
        let mut pairs: Vec<(usize, usize)> = dst.into_iter().zip(src).collect();
        pairs.sort_unstable();
        for (d, s) in pairs {
            order.insert(d, s);
        }
        let perm: Vec<i64> = order.iter().map(|&a| a as i64).collect();
        self.transpose(Some(&perm))
    }

    /// numpy's `swapaxes(x, axis1, axis2)`.
    pub fn swapaxes(&self, a: i64, b: i64) -> Result<Array, GraphError> {
        let (a, b) = (normalize_axis(a, self.ndim())?, normalize_axis(b, self.ndim())?);
        let mut perm: Vec<i64> = (0..self.ndim() as i64).collect();
        perm.swap(a, b);
        self.transpose(Some(&perm))
    }

    /// numpy's `flip(x, axis=None)`: the axes (all of them by default) reversed.
    pub fn flip(&self, axes: Option<&[i64]>) -> Result<Array, GraphError> {
        let flipped = match axes {
            None => (0..self.ndim()).collect(),
            Some(list) => axes_of(list, self.ndim())?,
        };
        let index: Vec<Index> =
            (0..self.ndim()).map(|a| if flipped.contains(&a) { Index::REVERSED } else { Index::FULL }).collect();
        self.slice(&index)
    }
}

impl Array {
    /// numpy's `diff(x, n=1, axis=-1)`: `x[1:] - x[:-1]` along `axis`, `n` times (for
    /// bools `!=`, as numpy). Views and one fused subtraction per order.
    pub fn diff(&self, n: usize, axis: i64) -> Result<Array, GraphError> {
        let axis = normalize_axis(axis, self.ndim())?;
        let mut out = self.clone();
        for _ in 0..n {
            let part = |start: Option<i64>, stop: Option<i64>| {
                let index: Vec<Index> = (0..out.ndim())
                    .map(|a| if a == axis { Index::Slice { start, stop, step: None } } else { Index::FULL })
                    .collect();
                out.slice(&index)
            };
            let (upper, lower) = (part(Some(1), None)?, part(None, Some(-1))?);
            let op = if out.dtype() == crate::DType::Bool { crate::BinaryOp::Ne } else { crate::BinaryOp::Sub };
            out = upper.binary(op, &lower)?;
        }
        Ok(out)
    }
}

/// Distinct axes, kept in the order given (moveaxis pairs them up).
fn axes_in_order(axes: &[i64], ndim: usize) -> Result<Vec<usize>, GraphError> {
    let out = axes.iter().map(|&a| normalize_axis(a, ndim)).collect::<Result<Vec<_>, _>>()?;
    axes_of(axes, ndim)?;
    Ok(out)
}
