//! Cumulative sums and products along an axis: the block's values accumulated left to
//! right, each element the rounded result of the one before it and itself (numpy's
//! order), starting from the last values of the block before it along the axis.

use ndarray::{ArrayD, Axis, Zip};
use tessera_graph::ScanOp;

use crate::{Block, KernelError};

/// `block` accumulated along `axis` by `op`, continuing from `carry` (the previous
/// block along the axis, whose last slice along it starts this one).
pub(crate) fn block(op: ScanOp, axis: usize, block: Block, carry: Option<&Block>) -> Result<Block, KernelError> {
    fn run<T: Copy>(mut a: ArrayD<T>, carry: Option<&ArrayD<T>>, axis: usize, f: impl Fn(T, T) -> T) -> ArrayD<T> {
        if axis >= a.ndim() || a.len_of(Axis(axis)) == 0 {
            return a;
        }
        if let Some(prev) = carry
            && prev.ndim() == a.ndim()
            && prev.len_of(Axis(axis)) > 0
        {
            let last = prev.index_axis(Axis(axis), prev.len_of(Axis(axis)) - 1);
            let mut first = a.index_axis_mut(Axis(axis), 0);
            if first.shape() == last.shape() {
                Zip::from(&mut first).and(&last).for_each(|x, &p| *x = f(p, *x));
            }
        }
        a.accumulate_axis_inplace(Axis(axis), |&p, x| *x = f(p, *x));
        a
    }
    let wrong = || KernelError::Internal { task: String::new(), message: "a scan's carry has another dtype".into() };
    macro_rules! scan {
        ($variant:ident, $a:expr, $sum:expr, $prod:expr) => {{
            let c = match carry {
                None => None,
                Some(Block::$variant(c)) => Some(c),
                Some(_) => return Err(wrong()),
            };
            Block::$variant(match op {
                ScanOp::Sum => run($a, c, axis, $sum),
                ScanOp::Prod => run($a, c, axis, $prod),
            })
        }};
    }
    Ok(match block {
        Block::F64(a) => scan!(F64, a, |p: f64, x: f64| p + x, |p: f64, x: f64| p * x),
        Block::F32(a) => scan!(F32, a, |p: f32, x: f32| p + x, |p: f32, x: f32| p * x),
        Block::I64(a) => scan!(I64, a, i64::wrapping_add, i64::wrapping_mul),
        Block::Bool(_) => return Err(wrong()),
    })
}
