//! Fused elementwise expressions: what one task evaluates, tile by tile.

use serde::{Deserialize, Serialize};
use tessera_chunks::DType;
use tessera_store::StoredArray;

use crate::{BinaryOp, Generator, LayerId, Scalar, UnaryOp, ViewMap};

/// A leaf of a fused expression, addressed through a view map from the expression's
/// coordinates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Leaf {
    /// A generator, evaluated for exactly the elements the task reads.
    Gen {
        /// The generator over its full array.
        generator: Generator,
        /// From the expression's coordinates to the generator's.
        view: ViewMap,
    },
    /// A stored array, read region by region by the task.
    Stored {
        /// What is read, and where it is.
        array: StoredArray,
        /// From the expression's coordinates to the stored array's.
        view: ViewMap,
    },
    /// A constant.
    Const(Scalar),
    /// The blocks of a materialized layer, gathered through the view.
    Input {
        /// The layer that produces the blocks.
        layer: LayerId,
        /// From the expression's coordinates to the layer's array.
        view: ViewMap,
    },
}

/// One node of a fused expression; operands are indices of earlier nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FNode {
    /// A leaf.
    Leaf(Leaf),
    /// An elementwise function.
    Unary(UnaryOp, usize),
    /// An elementwise operator; both operands have the same dtype.
    Binary(BinaryOp, usize, usize),
    /// `where(cond, a, b)`.
    Where(usize, usize, usize),
    /// A conversion to the node's dtype.
    Cast(usize),
}

/// A fused elementwise expression in topological order; the last node is the result.
/// Each node carries its dtype.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FusedExpr {
    /// The nodes with their dtypes.
    pub nodes: Vec<(FNode, DType)>,
}

impl FusedExpr {
    /// The index of the result node.
    pub fn root(&self) -> usize {
        self.nodes.len().saturating_sub(1)
    }

    /// The result's dtype.
    pub fn dtype(&self) -> DType {
        self.nodes.last().map_or(DType::Float64, |n| n.1)
    }

    /// The materialized inputs the expression reads, with their view maps.
    pub fn inputs(&self) -> impl Iterator<Item = (LayerId, &ViewMap)> {
        self.nodes.iter().filter_map(|(n, _)| match n {
            FNode::Leaf(Leaf::Input { layer, view }) => Some((*layer, view)),
            _ => None,
        })
    }

    /// The stored arrays the expression reads, with their view maps.
    pub fn stored(&self) -> impl Iterator<Item = (&StoredArray, &ViewMap)> {
        self.nodes.iter().filter_map(|(n, _)| match n {
            FNode::Leaf(Leaf::Stored { array, view }) => Some((array, view)),
            _ => None,
        })
    }

    /// A short name for task keys, e.g. `mul-random`.
    pub fn name(&self) -> String {
        let mut parts: Vec<&str> = Vec::new();
        for (node, _) in self.nodes.iter().rev() {
            let part = match node {
                FNode::Leaf(Leaf::Gen { generator, .. }) => generator.name(),
                FNode::Leaf(Leaf::Stored { array, .. }) => array.format.name(),
                FNode::Leaf(_) => continue,
                FNode::Unary(op, _) => op.name(),
                FNode::Binary(op, ..) => op.name(),
                FNode::Where(..) => "where",
                FNode::Cast(_) => "astype",
            };
            if !parts.contains(&part) {
                parts.push(part);
            }
            if parts.len() == 2 {
                break;
            }
        }
        if parts.is_empty() { "getitem".into() } else { parts.join("-") }
    }
}
