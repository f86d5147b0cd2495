//! Generators: arrays defined by a formula of the element index, never stored.

use serde::{Deserialize, Serialize};
use tessera_chunks::DType;

use crate::Scalar;

/// What a generator computes at global index `i` (row-major flat index `k`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum GenKind {
    /// The same value everywhere (`ones`, `zeros`, `full`).
    Full(Scalar),
    /// `start + step * i` along a 1-D array.
    Arange {
        /// First value.
        start: Scalar,
        /// Increment.
        step: Scalar,
    },
    /// Uniform values in `[0, 1)` from Philox4x32-10 keyed by the seed and counted by
    /// the flat index, so values do not depend on chunking.
    Random {
        /// The seed.
        seed: u64,
    },
}

/// A generator over a whole array of `shape`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    /// The formula.
    pub kind: GenKind,
    /// The full array's shape (random values are keyed by flat index in this shape).
    pub shape: Vec<usize>,
    /// The element type.
    pub dtype: DType,
}

impl Generator {
    /// The name used in task keys.
    pub fn name(&self) -> &'static str {
        match self.kind {
            GenKind::Full(s) if s.as_f64() == 1.0 => "ones",
            GenKind::Full(s) if s.as_f64() == 0.0 => "zeros",
            GenKind::Full(_) => "full",
            GenKind::Arange { .. } => "arange",
            GenKind::Random { .. } => "random",
        }
    }
}
