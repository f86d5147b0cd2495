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
    /// Normal values `loc + scale * z`, `z` by Box-Muller from one Philox block per
    /// element (a stream of its own: counter word 2 is 1).
    Normal {
        /// The seed.
        seed: u64,
        /// The mean.
        loc: f64,
        /// The standard deviation.
        scale: f64,
    },
    /// Integers in `[low, high)` by Lemire's multiply-shift of 64 Philox bits per
    /// element (counter word 2 is 2).
    Integers {
        /// The seed.
        seed: u64,
        /// The lowest value.
        low: i64,
        /// One past the highest value.
        high: i64,
    },
    /// numpy's `linspace`: `i * step + start` with `step = (stop - start) / div`, the
    /// last element exactly `stop` when `endpoint`.
    Linspace {
        /// The first value.
        start: f64,
        /// The last value (or the one past it, without `endpoint`).
        stop: f64,
        /// Whether `stop` is the last value.
        endpoint: bool,
    },
    /// numpy's `eye`: 1 where `column - row == k` of a 2-D array, else 0.
    Eye {
        /// The diagonal.
        k: i64,
    },
    /// numpy's `tri`: 1 where `column - row <= k` of a 2-D array, else 0.
    Tri {
        /// The diagonal.
        k: i64,
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
            GenKind::Normal { .. } => "normal",
            GenKind::Integers { .. } => "integers",
            GenKind::Linspace { .. } => "linspace",
            GenKind::Eye { .. } => "eye",
            GenKind::Tri { .. } => "tri",
        }
    }
}
