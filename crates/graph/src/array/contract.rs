//! Tensor contractions built from the 2-D matrix product: `tensordot`, `matmul` of
//! stacks of matrices (numpy's broadcasting of the leading axes), and `einsum` of one
//! or two operands.
//!
//! `tensordot` moves the contracted axes together (a view), reshapes each operand to a
//! matrix (`reshape.rs`, block by block), multiplies with the GEMM kernel and reshapes
//! the product back. A stack of matrices is one 2-D product per matrix, stacked. An
//! `einsum` whose operands share no output label is a `tensordot` and a transpose; one
//! with batch labels (shared and kept) is a broadcast product summed over the
//! contracted labels, which fuses into one reduction (exact sums, no GEMM).

use super::Array;
use super::views::normalize_axis;
use crate::{BinaryOp, GraphError, Index, ReduceOp};

/// The most matrices one stacked `matmul` multiplies (one product layer each).
pub const MAX_STACKED_MATRICES: usize = 4096;

fn product(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// The dtype of a matrix product of `a` and `b` (bools multiply as integers).
fn products_dtype(a: &Array, b: &Array) -> crate::DType {
    match crate::DType::promote(a.dtype(), b.dtype()) {
        crate::DType::Bool => crate::DType::Int64,
        d => d,
    }
}

fn as_i64(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&n| n as i64).collect()
}

impl Array {
    /// numpy's `tensordot(a, b, axes=(axes_a, axes_b))`: the sum over `a`'s axes
    /// `axes_a` paired with `b`'s `axes_b`; the result has `a`'s other axes, then `b`'s.
    pub fn tensordot(&self, other: &Array, axes_a: &[i64], axes_b: &[i64]) -> Result<Array, GraphError> {
        if axes_a.len() != axes_b.len() {
            return Err(GraphError::Shape("shape-mismatch for sum: tensordot needs as many axes of each".into()));
        }
        let ca = axes_a.iter().map(|&x| normalize_axis(x, self.ndim())).collect::<Result<Vec<_>, _>>()?;
        let cb = axes_b.iter().map(|&x| normalize_axis(x, other.ndim())).collect::<Result<Vec<_>, _>>()?;
        for (&i, &j) in ca.iter().zip(&cb) {
            if self.shape()[i] != other.shape()[j] {
                return Err(GraphError::Shape(format!(
                    "shape-mismatch for sum: axis {i} of {:?} and axis {j} of {:?}",
                    self.shape(),
                    other.shape()
                )));
            }
        }
        let distinct = |v: &[usize]| v.iter().enumerate().all(|(k, a)| !v[..k].contains(a));
        if !distinct(&ca) || !distinct(&cb) {
            return Err(GraphError::Shape("repeated axis in tensordot".into()));
        }
        let free_a: Vec<usize> = (0..self.ndim()).filter(|x| !ca.contains(x)).collect();
        let free_b: Vec<usize> = (0..other.ndim()).filter(|x| !cb.contains(x)).collect();
        let perm_a: Vec<i64> = free_a.iter().chain(&ca).map(|&x| x as i64).collect();
        let perm_b: Vec<i64> = cb.iter().chain(&free_b).map(|&x| x as i64).collect();
        let a = if self.ndim() > 0 { self.transpose(Some(&perm_a))? } else { self.clone() };
        let b = if other.ndim() > 0 { other.transpose(Some(&perm_b))? } else { other.clone() };
        let shape_a: Vec<usize> = free_a.iter().map(|&x| self.shape()[x]).collect();
        let shape_b: Vec<usize> = free_b.iter().map(|&x| other.shape()[x]).collect();
        let k = product(&ca.iter().map(|&x| self.shape()[x]).collect::<Vec<_>>());
        let (m, n) = (product(&shape_a), product(&shape_b));
        let out = a.reshape(&[m as i64, k as i64])?.matmul(&b.reshape(&[k as i64, n as i64])?)?;
        let shape: Vec<usize> = shape_a.into_iter().chain(shape_b).collect();
        out.reshape(&as_i64(&shape))
    }

    /// numpy's `matmul` (`@`): 1-D operands are a row or a column (dropped from the
    /// result), more than 2-D are stacks of matrices whose leading axes broadcast.
    pub fn matmul_nd(&self, other: &Array) -> Result<Array, GraphError> {
        let error = || GraphError::MatMul { a: self.shape().to_vec(), b: other.shape().to_vec() };
        if self.ndim() == 0 || other.ndim() == 0 {
            return Err(GraphError::Shape("matmul: input operand does not have enough dimensions".into()));
        }
        if self.ndim() == 2 && other.ndim() == 2 {
            return self.matmul(other);
        }
        let a = if self.ndim() == 1 { self.slice(&[Index::NewAxis, Index::FULL])? } else { self.clone() };
        let b = if other.ndim() == 1 { other.slice(&[Index::FULL, Index::NewAxis])? } else { other.clone() };
        let (an, bn) = (a.ndim(), b.ndim());
        if a.shape()[an - 1] != b.shape()[bn - 2] {
            return Err(error());
        }
        let batch =
            super::elementwise::broadcast_shapes(&a.shape()[..an - 2], &b.shape()[..bn - 2]).map_err(|_| error())?;
        let count = product(&batch);
        if count > MAX_STACKED_MATRICES {
            return Err(GraphError::Shape(format!(
                "matmul: a stack of {count} matrices, more than the {MAX_STACKED_MATRICES} supported"
            )));
        }
        let (n, k, m) = (a.shape()[an - 2], a.shape()[an - 1], b.shape()[bn - 1]);
        let stack = |x: &Array, rows: usize, cols: usize| -> Result<Array, GraphError> {
            let full: Vec<usize> = batch.iter().copied().chain([rows, cols]).collect();
            x.broadcast_to(&full)?.reshape(&[count as i64, rows as i64, cols as i64])
        };
        let (sa, sb) = (stack(&a, n, k)?, stack(&b, k, m)?);
        let products = (0..count as i64)
            .map(|i| sa.slice(&[Index::At(i)])?.matmul(&sb.slice(&[Index::At(i)])?))
            .collect::<Result<Vec<_>, _>>()?;
        let out = if count == 0 {
            // An empty stack: nothing to multiply.
            Array::empty_of(&[0, n, m], products_dtype(&a, &b))
        } else {
            Array::stack(&products, 0)?
        };
        let mut shape: Vec<usize> = batch;
        if self.ndim() > 1 {
            shape.push(n);
        }
        if other.ndim() > 1 {
            shape.push(m);
        }
        out.reshape(&as_i64(&shape))
    }

    /// numpy's `einsum(subscripts, *operands)` for one or two operands without repeated
    /// labels within an operand (no diagonals), explicit (`->`) or implicit output.
    pub fn einsum(subscripts: &str, operands: &[Array]) -> Result<Array, GraphError> {
        let bad = |why: &str| GraphError::Shape(format!("einsum '{subscripts}': {why}"));
        let text: String = subscripts.chars().filter(|c| !c.is_whitespace()).collect();
        let (inputs, output) = match text.split_once("->") {
            Some((i, o)) => (i.to_string(), Some(o.to_string())),
            None => (text.clone(), None),
        };
        let specs: Vec<Vec<char>> = inputs.split(',').map(|s| s.chars().collect()).collect();
        if specs.len() != operands.len() || !(1..=2).contains(&specs.len()) {
            return Err(bad("one or two operands, one subscript each"));
        }
        for (spec, x) in specs.iter().zip(operands) {
            if spec.iter().any(|c| !c.is_ascii_alphabetic()) {
                return Err(bad("subscripts are letters (no '...')"));
            }
            if spec.len() != x.ndim() {
                return Err(bad("a subscript has more or fewer letters than its operand has axes"));
            }
            if spec.iter().enumerate().any(|(k, c)| spec[..k].contains(c)) {
                return Err(bad("a letter repeated within one operand (a diagonal) is not supported"));
            }
        }
        let output: Vec<char> = match output {
            Some(o) => o.chars().collect(),
            None => {
                // Implicit: the letters that appear once, in alphabetical order.
                let all: Vec<char> = specs.concat();
                let mut once: Vec<char> =
                    all.iter().copied().filter(|c| all.iter().filter(|d| *d == c).count() == 1).collect();
                once.sort_unstable();
                once
            }
        };
        let present = |c: &char| specs.iter().any(|s| s.contains(c));
        if output.iter().any(|c| !present(c)) || output.iter().enumerate().any(|(k, c)| output[..k].contains(c)) {
            return Err(bad("an output letter that is not an input letter, or one repeated"));
        }
        let mut sizes = std::collections::HashMap::new();
        for (spec, x) in specs.iter().zip(operands) {
            for (c, &n) in spec.iter().zip(x.shape()) {
                if *sizes.entry(*c).or_insert(n) != n {
                    return Err(bad(&format!("letter '{c}' has sizes {} and {n}", sizes[c])));
                }
            }
        }
        // Sum each operand over the letters nobody else needs.
        let mut reduced = Vec::with_capacity(operands.len());
        for (k, (spec, x)) in specs.iter().zip(operands).enumerate() {
            let needed =
                |c: &char| output.contains(c) || specs.iter().enumerate().any(|(j, s)| j != k && s.contains(c));
            let drop: Vec<i64> = (0..spec.len()).filter(|&a| !needed(&spec[a])).map(|a| a as i64).collect();
            let kept: Vec<char> = spec.iter().copied().filter(|c| needed(c)).collect();
            let x = if drop.is_empty() { x.clone() } else { x.reduce(ReduceOp::Sum, Some(&drop))? };
            reduced.push((kept, x));
        }
        let order = |labels: &[char], x: &Array, want: &[char]| -> Result<Array, GraphError> {
            let perm: Vec<i64> =
                want.iter().filter_map(|c| labels.iter().position(|l| l == c)).map(|p| p as i64).collect();
            if perm.len() < 2 { Ok(x.clone()) } else { x.transpose(Some(&perm)) }
        };
        if reduced.len() == 1 {
            let (labels, x) = &reduced[0];
            return order(labels, x, &output);
        }
        let (la, a) = &reduced[0];
        let (lb, b) = &reduced[1];
        let shared: Vec<char> = la.iter().copied().filter(|c| lb.contains(c)).collect();
        let batch: Vec<char> = shared.iter().copied().filter(|c| output.contains(c)).collect();
        let contracted: Vec<char> = shared.iter().copied().filter(|c| !output.contains(c)).collect();
        if batch.is_empty() {
            let axes_a: Vec<i64> =
                contracted.iter().filter_map(|c| la.iter().position(|l| l == c)).map(|p| p as i64).collect();
            let axes_b: Vec<i64> =
                contracted.iter().filter_map(|c| lb.iter().position(|l| l == c)).map(|p| p as i64).collect();
            let out = a.tensordot(b, &axes_a, &axes_b)?;
            let labels: Vec<char> = la.iter().chain(lb.iter()).copied().filter(|c| !contracted.contains(c)).collect();
            return order(&labels, &out, &output);
        }
        // Batch letters: a broadcast product over all letters, summed over the contracted.
        let all: Vec<char> = output.iter().copied().chain(contracted.iter().copied()).collect();
        let spread = |labels: &[char], x: &Array| -> Result<Array, GraphError> {
            let ordered: Vec<char> = all.iter().copied().filter(|c| labels.contains(c)).collect();
            let x = order(labels, x, &ordered)?;
            let index: Vec<Index> =
                all.iter().map(|c| if labels.contains(c) { Index::FULL } else { Index::NewAxis }).collect();
            x.slice(&index)
        };
        let product = spread(la, a)?.binary(BinaryOp::Mul, &spread(lb, b)?)?;
        if contracted.is_empty() {
            return Ok(product);
        }
        let axes: Vec<i64> = (output.len()..all.len()).map(|a| a as i64).collect();
        product.reduce(ReduceOp::Sum, Some(&axes))
    }
}
