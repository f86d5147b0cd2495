//! Evaluation of a fused expression over a region, tile by tile.

use tessera_chunks::DType;
use tessera_graph::{FNode, FusedExpr};

use super::inputs::Inputs;
use super::leaf::{Generated, Source, StoredReads};
use super::ops;
use super::tile::{Col, Tile, TileVal, row_len, tiles};
use crate::value::standard;
use crate::{Block, KernelError};

/// What the leaves of a task's evaluations read once and share: stored chunks decoded
/// once, and (for the two regions of a paired partial) boxes of random values.
#[derive(Default)]
pub struct Reads<'a> {
    /// Opened stored arrays and their decoded chunks.
    pub stored: StoredReads<'a>,
    /// Random boxes kept for a second reader, when the task has one.
    pub generated: Option<Generated<'a>>,
}

/// A fused expression bound to a region and the task's inputs.
pub struct Evaluator<'a> {
    expr: &'a FusedExpr,
    sources: Vec<Option<Source<'a>>>,
    off: Vec<usize>,
    shape: Vec<usize>,
    inputs: &'a Inputs<'a>,
}

impl<'a> Evaluator<'a> {
    /// Prepares `expr` over the region starting at `off` with `shape`.
    pub fn new(
        expr: &'a FusedExpr,
        off: &[usize],
        shape: &[usize],
        inputs: &'a Inputs<'a>,
    ) -> Result<Self, KernelError> {
        Self::with_reads(expr, off, shape, inputs, &mut Reads::default())
    }

    /// Like [`Evaluator::new`], with leaf reads shared with the task's other
    /// evaluations (stored chunks decoded once, random boxes generated once).
    pub fn with_reads(
        expr: &'a FusedExpr,
        off: &[usize],
        shape: &[usize],
        inputs: &'a Inputs<'a>,
        reads: &mut Reads<'a>,
    ) -> Result<Self, KernelError> {
        let sources = expr
            .nodes
            .iter()
            .map(|(node, dtype)| match node {
                FNode::Leaf(leaf) => {
                    Source::prepare(leaf, *dtype, off, shape, inputs, &mut reads.stored, reads.generated.as_mut())
                        .map(Some)
                }
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Evaluator { expr, sources, off: off.to_vec(), shape: shape.to_vec(), inputs })
    }

    /// The region's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The region's first element, in the expression's coordinates.
    pub fn offset(&self) -> &[usize] {
        &self.off
    }

    /// The expression's values over one tile.
    pub fn tile(&self, tile: Tile) -> Result<TileVal, KernelError> {
        self.nodes(tile)?.pop().ok_or_else(|| self.inputs.error("empty expression"))
    }

    /// Every node's values over one tile, the root's last.
    pub fn nodes(&self, tile: Tile) -> Result<Vec<TileVal>, KernelError> {
        let mut values: Vec<TileVal> = Vec::with_capacity(self.expr.nodes.len());
        let bad = || self.inputs.error("operand dtypes do not match");
        for (i, (node, dtype)) in self.expr.nodes.iter().enumerate() {
            let v = match node {
                FNode::Leaf(_) => match &self.sources[i] {
                    Some(src) => src.fill(tile, &self.off, &self.shape),
                    None => return Err(self.inputs.error("leaf was not prepared")),
                },
                FNode::Unary(op, a) => ops::unary(*op, &values[*a]),
                FNode::Binary(op, a, b) => match ops::binary(*op, &values[*a], &values[*b]) {
                    Ok(v) => v,
                    Err(ops::BinaryError::DTypes) => return Err(bad()),
                    Err(ops::BinaryError::Value(message)) => return Err(self.inputs.value_error(message)),
                },
                FNode::Where(c, a, b) => {
                    let TileVal::Bool(cond) = values[*c].cast(DType::Bool) else { return Err(bad()) };
                    ops::select(&cond, &values[*a], &values[*b], tile.elements()).ok_or_else(bad)?
                }
                FNode::Cast(a) => values[*a].cast(*dtype),
            };
            values.push(v);
        }
        Ok(values)
    }

    /// The expression's values over the whole region, as a dense block.
    pub fn block(&self) -> Result<Block, KernelError> {
        let n: usize = self.shape.iter().product();
        let row = row_len(&self.shape);
        let tiles = tiles(&self.shape);
        // Tiles come in row-major order, each starting where the last ended: the
        // block is their values appended, never zeroed first.
        macro_rules! fill {
            ($variant:ident, $t:ty) => {{
                let mut out: Vec<$t> = Vec::with_capacity(n);
                for t in tiles {
                    if t.flat_start(row) != out.len() {
                        return Err(self.inputs.error("tiles out of order"));
                    }
                    match self.tile(t)? {
                        TileVal::$variant(Col::Const(v)) => out.resize(out.len() + t.elements(), v),
                        TileVal::$variant(Col::Vec(v)) => out.extend_from_slice(&v),
                        _ => return Err(self.inputs.error("result dtype does not match")),
                    }
                }
                if out.len() != n {
                    return Err(self.inputs.error("tiles do not cover the block"));
                }
                Block::$variant(standard(&self.shape, out))
            }};
        }
        Ok(match self.expr.dtype() {
            DType::Float64 => fill!(F64, f64),
            DType::Float32 => fill!(F32, f32),
            DType::Int64 => fill!(I64, i64),
            DType::Bool => fill!(Bool, bool),
        })
    }
}
