//! Element types.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ChunkError;

/// The element type of an array (numpy's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DType {
    /// Booleans, the result of comparisons.
    Bool,
    /// 64-bit signed integers.
    Int64,
    /// 32-bit IEEE floats.
    Float32,
    /// 64-bit IEEE floats, the default.
    Float64,
}

impl DType {
    /// Bytes per element.
    pub fn itemsize(self) -> usize {
        match self {
            DType::Bool => 1,
            DType::Float32 => 4,
            DType::Int64 | DType::Float64 => 8,
        }
    }

    /// numpy's name for the type.
    pub fn name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::Int64 => "int64",
            DType::Float32 => "float32",
            DType::Float64 => "float64",
        }
    }

    /// Parses numpy's names (and a few aliases).
    pub fn parse(name: &str) -> Result<DType, ChunkError> {
        match name.trim() {
            "bool" => Ok(DType::Bool),
            "int64" | "int" | "i8" => Ok(DType::Int64),
            "float32" | "f4" => Ok(DType::Float32),
            "float64" | "float" | "f8" => Ok(DType::Float64),
            other => Err(ChunkError::BadDType(other.to_string())),
        }
    }

    /// Whether the type is a floating point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::Float32 | DType::Float64)
    }

    /// The type numpy gives the result of a binary arithmetic operation on two arrays.
    pub fn promote(a: DType, b: DType) -> DType {
        use DType::*;
        match (a, b) {
            (Float64, _) | (_, Float64) => Float64,
            // numpy promotes int64 with float32 to float64.
            (Float32, Int64) | (Int64, Float32) => Float64,
            (Float32, _) | (_, Float32) => Float32,
            (Int64, _) | (_, Int64) => Int64,
            (Bool, Bool) => Bool,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_follows_numpy() {
        assert_eq!(DType::promote(DType::Int64, DType::Float32), DType::Float64);
        assert_eq!(DType::promote(DType::Bool, DType::Int64), DType::Int64);
        assert_eq!(DType::promote(DType::Float32, DType::Float32), DType::Float32);
        assert_eq!(DType::promote(DType::Bool, DType::Bool), DType::Bool);
    }

    #[test]
    fn names_round_trip() {
        for d in [DType::Bool, DType::Int64, DType::Float32, DType::Float64] {
            assert_eq!(DType::parse(d.name()), Ok(d));
        }
        assert!(DType::parse("complex128").is_err());
    }
}
