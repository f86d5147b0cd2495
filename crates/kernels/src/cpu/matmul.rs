//! Blocks of a matrix product: float operands through the `gemm` crate (blocked,
//! AVX-512 or AVX2 kernels chosen at run time), integers through ndarray.

use ndarray::{ArrayD, Ix2, IxDyn};
use tessera_chunks::DType;
use tessera_graph::MatMulKernel;

use super::eval::Evaluator;
use super::inputs::Inputs;
use crate::{Block, KernelError};

/// Output block at `off` with `shape`: the sum over inner blocks, in increasing order.
pub fn block(m: &MatMulKernel, off: &[usize], shape: &[usize], inputs: &Inputs<'_>) -> Result<Block, KernelError> {
    let wrong = || inputs.error("matmul operands are not 2-D blocks of one dtype");
    let [rows, cols] = *shape else { return Err(wrong()) };
    let mut out = match m.a.dtype() {
        DType::Float64 => Block::F64(ArrayD::zeros(IxDyn(shape))),
        DType::Float32 => Block::F32(ArrayD::zeros(IxDyn(shape))),
        DType::Int64 | DType::Bool => Block::I64(ArrayD::zeros(IxDyn(shape))),
    };
    for k in 0..m.inner.num_blocks() {
        let (k_off, k_len) = (m.inner.offsets(0)[k], m.inner.axis(0)[k]);
        let a = Evaluator::new(&m.a, &[off[0], k_off], &[rows, k_len], inputs)?.block()?;
        let b = Evaluator::new(&m.b, &[k_off, off[1]], &[k_len, cols], inputs)?.block()?;
        let accumulate = k > 0;
        match (&mut out, &a, &b) {
            (Block::F64(c), Block::F64(a), Block::F64(b)) => gemm_into(c, a, b, k_len, accumulate).ok_or_else(wrong)?,
            (Block::F32(c), Block::F32(a), Block::F32(b)) => gemm_into(c, a, b, k_len, accumulate).ok_or_else(wrong)?,
            (Block::I64(c), Block::I64(a), Block::I64(b)) => {
                let a = a.view().into_dimensionality::<Ix2>().map_err(|_| wrong())?;
                let b = b.view().into_dimensionality::<Ix2>().map_err(|_| wrong())?;
                let product = a.dot(&b).into_dyn();
                c.zip_mut_with(&product, |x, &y| *x = x.wrapping_add(y));
            }
            _ => return Err(wrong()),
        }
    }
    Ok(out)
}

/// `c = a @ b` (`accumulate`: `c += a @ b`) for row-major `c` (m x n), `a` (m x k) and
/// `b` (k x n); `None` when the shapes do not say so.
fn gemm_into<T: GemmFloat>(c: &mut ArrayD<T>, a: &ArrayD<T>, b: &ArrayD<T>, k: usize, accumulate: bool) -> Option<()> {
    let (m, n) = (c.shape()[0], c.shape()[1]);
    if a.shape() != [m, k] || b.shape() != [k, n] {
        return None;
    }
    let (a, b) = (a.as_slice()?, b.as_slice()?);
    let c = c.as_slice_mut()?;
    if m == 0 || n == 0 || k == 0 {
        return Some(());
    }
    // SAFETY: `c` holds m x n elements with row stride n, `a` m x k with row stride k,
    // `b` k x n with row stride n (checked above); `T` is f32 or f64, which `gemm`
    // accepts; the destination does not alias the operands.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Some(())
}

/// The float types `gemm` multiplies.
trait GemmFloat: Copy + 'static {
    const ONE: Self;
}

impl GemmFloat for f64 {
    const ONE: f64 = 1.0;
}

impl GemmFloat for f32 {
    const ONE: f32 = 1.0;
}
