//! Blocks of a matrix product.

use ndarray::{Array2, Ix2};
use tessera_graph::MatMulKernel;

use super::eval::Evaluator;
use super::inputs::Inputs;
use crate::{Block, KernelError};

/// Output block at `off` with `shape`: the sum over inner blocks, in increasing order.
pub fn block(m: &MatMulKernel, off: &[usize], shape: &[usize], inputs: &Inputs<'_>) -> Result<Block, KernelError> {
    let mut acc: Option<Block> = None;
    let wrong = || inputs.error("matmul operands are not 2-D blocks of one dtype");
    for k in 0..m.inner.num_blocks() {
        let (k_off, k_len) = (m.inner.offsets(0)[k], m.inner.axis(0)[k]);
        let a = Evaluator::new(&m.a, &[off[0], k_off], &[shape[0], k_len], inputs)?.block()?;
        let b = Evaluator::new(&m.b, &[k_off, off[1]], &[k_len, shape[1]], inputs)?.block()?;
        let product = match (&a, &b) {
            (Block::F64(a), Block::F64(b)) => Block::F64(dot(a, b).ok_or_else(wrong)?.into_dyn()),
            (Block::F32(a), Block::F32(b)) => Block::F32(dot(a, b).ok_or_else(wrong)?.into_dyn()),
            (Block::I64(a), Block::I64(b)) => Block::I64(dot(a, b).ok_or_else(wrong)?.into_dyn()),
            _ => return Err(wrong()),
        };
        acc = Some(match (acc, product) {
            (None, p) => p,
            (Some(Block::F64(mut x)), Block::F64(y)) => {
                x += &y;
                Block::F64(x)
            }
            (Some(Block::F32(mut x)), Block::F32(y)) => {
                x += &y;
                Block::F32(x)
            }
            (Some(Block::I64(mut x)), Block::I64(y)) => {
                x.zip_mut_with(&y, |a, &b| *a = a.wrapping_add(b));
                Block::I64(x)
            }
            _ => return Err(wrong()),
        });
    }
    match acc {
        Some(block) => Ok(block),
        // An empty inner dimension: the product is all zeros.
        None => Ok(zeros_like(m, shape)),
    }
}

fn dot<T>(a: &ndarray::ArrayD<T>, b: &ndarray::ArrayD<T>) -> Option<Array2<T>>
where
    T: ndarray::LinalgScalar,
{
    let a = a.view().into_dimensionality::<Ix2>().ok()?;
    let b = b.view().into_dimensionality::<Ix2>().ok()?;
    Some(a.dot(&b).as_standard_layout().into_owned())
}

fn zeros_like(m: &MatMulKernel, shape: &[usize]) -> Block {
    use tessera_chunks::DType;
    let dim = ndarray::IxDyn(shape);
    match m.a.dtype() {
        DType::Float32 => Block::F32(ndarray::ArrayD::zeros(dim)),
        DType::Int64 | DType::Bool => Block::I64(ndarray::ArrayD::zeros(dim)),
        DType::Float64 => Block::F64(ndarray::ArrayD::zeros(dim)),
    }
}
