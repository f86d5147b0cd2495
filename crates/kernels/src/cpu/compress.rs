//! The two passes of a boolean mask over one block, tile by tile: count its true
//! values, then keep the values where it is true (in row-major order). The mask and
//! the values are one expression, so what both read is evaluated once per tile.

use ndarray::{ArrayD, IxDyn};
use tessera_chunks::DType;

use super::eval::Evaluator;
use super::tile::{Col, TileVal, tiles};
use crate::{Block, KernelError};

/// The true values of the expression over the evaluator's region, or `None` if it is
/// not bool.
pub(crate) fn count_true(eval: &Evaluator) -> Result<Option<i64>, KernelError> {
    let mut count = 0usize;
    for t in tiles(eval.shape()) {
        count += match eval.tile(t)? {
            TileVal::Bool(Col::Const(keep)) => usize::from(keep) * t.elements(),
            TileVal::Bool(Col::Vec(m)) => m.iter().filter(|&&keep| keep).count(),
            _ => return Ok(None),
        };
    }
    Ok(Some(count as i64))
}

/// Why a block could not be selected from.
pub(crate) enum SelectError {
    /// The mask or the values are not of the dtypes the graph says (a malformed graph).
    Malformed(&'static str),
    /// The mask selects another number of values than its counting pass found.
    Changed(String),
    /// Evaluating the expression failed.
    Kernel(KernelError),
}

/// The values (node `values`, of `dtype`) where the expression's root is true, as a
/// 1-D block of `expected` elements.
pub(crate) fn select(eval: &Evaluator, values: usize, dtype: DType, expected: usize) -> Result<Block, SelectError> {
    macro_rules! collect {
        ($variant:ident) => {{
            let mut out = Vec::with_capacity(expected);
            for t in tiles(eval.shape()) {
                let mut nodes = eval.nodes(t).map_err(SelectError::Kernel)?;
                let Some(TileVal::Bool(mask)) = nodes.pop() else {
                    return Err(SelectError::Malformed("a mask that is not bool"));
                };
                let Some(TileVal::$variant(v)) = nodes.get(values) else {
                    return Err(SelectError::Malformed("values of another dtype"));
                };
                keep(&mut out, v, &mask, t.elements());
                if out.len() > expected {
                    break;
                }
            }
            check_count(out.len(), expected)?;
            Block::$variant(
                ArrayD::from_shape_vec(IxDyn(&[expected]), out)
                    .map_err(|_| SelectError::Malformed("a selection of another size"))?,
            )
        }};
    }
    Ok(match dtype {
        DType::Float64 => collect!(F64),
        DType::Float32 => collect!(F32),
        DType::Int64 => collect!(I64),
        DType::Bool => collect!(Bool),
    })
}

/// Appends the values of `v` (`n` of them) where `mask` is true.
fn keep<T: Copy>(out: &mut Vec<T>, v: &Col<T>, mask: &Col<bool>, n: usize) {
    match (v, mask) {
        (_, Col::Const(false)) => {}
        (Col::Const(x), Col::Const(true)) => out.extend(std::iter::repeat_n(*x, n)),
        (Col::Vec(x), Col::Const(true)) => out.extend_from_slice(x),
        (Col::Const(x), Col::Vec(m)) => out.extend(m.iter().filter(|&&k| k).map(|_| *x)),
        (Col::Vec(x), Col::Vec(m)) => out.extend(x.iter().zip(m).filter(|&(_, &k)| k).map(|(&x, _)| x)),
    }
}

fn check_count(selected: usize, expected: usize) -> Result<(), SelectError> {
    if selected == expected {
        return Ok(());
    }
    Err(SelectError::Changed(format!(
        "a mask block selected {}{selected} values where its counting pass found {expected}: its input changed \
         between the two passes (stored data rewritten during the run?)",
        if selected > expected { "at least " } else { "" }
    )))
}
