//! The element types of stored arrays, and how each computes.

use std::fmt;

use serde::{Deserialize, Serialize};
use tessera_chunks::DType;

/// A stored element type: every numeric dtype numpy and zarr-python write by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StoredType {
    /// `bool`, one byte per element.
    Bool,
    /// `int8`.
    I8,
    /// `int16`.
    I16,
    /// `int32`.
    I32,
    /// `int64`.
    I64,
    /// `uint8`.
    U8,
    /// `uint16`.
    U16,
    /// `uint32`.
    U32,
    /// `uint64` (computes as int64; values past `i64::MAX` are refused when read).
    U64,
    /// `float32`.
    F32,
    /// `float64`.
    F64,
}

/// Every stored type, in numpy's order.
pub const ALL_TYPES: [StoredType; 11] = [
    StoredType::Bool,
    StoredType::I8,
    StoredType::I16,
    StoredType::I32,
    StoredType::I64,
    StoredType::U8,
    StoredType::U16,
    StoredType::U32,
    StoredType::U64,
    StoredType::F32,
    StoredType::F64,
];

impl StoredType {
    /// numpy's name (`int16`, `float32`, ...).
    pub fn name(self) -> &'static str {
        match self {
            StoredType::Bool => "bool",
            StoredType::I8 => "int8",
            StoredType::I16 => "int16",
            StoredType::I32 => "int32",
            StoredType::I64 => "int64",
            StoredType::U8 => "uint8",
            StoredType::U16 => "uint16",
            StoredType::U32 => "uint32",
            StoredType::U64 => "uint64",
            StoredType::F32 => "float32",
            StoredType::F64 => "float64",
        }
    }

    /// Parses numpy's name.
    pub fn parse(name: &str) -> Option<StoredType> {
        ALL_TYPES.into_iter().find(|t| t.name() == name.trim())
    }

    /// Bytes per element.
    pub fn itemsize(self) -> usize {
        match self {
            StoredType::Bool | StoredType::I8 | StoredType::U8 => 1,
            StoredType::I16 | StoredType::U16 => 2,
            StoredType::I32 | StoredType::U32 | StoredType::F32 => 4,
            StoredType::I64 | StoredType::U64 | StoredType::F64 => 8,
        }
    }

    /// The type tessera computes this one as: integers widen to int64 (exact for every
    /// value except uint64 past `i64::MAX`), floats and bool stay as they are.
    pub fn compute(self) -> DType {
        match self {
            StoredType::Bool => DType::Bool,
            StoredType::F32 => DType::Float32,
            StoredType::F64 => DType::Float64,
            _ => DType::Int64,
        }
    }

    /// The stored type of a computed dtype.
    pub fn of(dtype: DType) -> StoredType {
        match dtype {
            DType::Bool => StoredType::Bool,
            DType::Int64 => StoredType::I64,
            DType::Float32 => StoredType::F32,
            DType::Float64 => StoredType::F64,
        }
    }

    /// numpy's type string for a little-endian `.npy` header (`<f8`, `|b1`, ...).
    pub fn npy_descr(self) -> &'static str {
        match self {
            StoredType::Bool => "|b1",
            StoredType::I8 => "|i1",
            StoredType::I16 => "<i2",
            StoredType::I32 => "<i4",
            StoredType::I64 => "<i8",
            StoredType::U8 => "|u1",
            StoredType::U16 => "<u2",
            StoredType::U32 => "<u4",
            StoredType::U64 => "<u8",
            StoredType::F32 => "<f4",
            StoredType::F64 => "<f8",
        }
    }

    /// Parses a numpy type string (`<f8`, `>i4`, `|u1`, `b1`): the type and whether its
    /// bytes are big-endian. `None` for anything that is not one of the stored types.
    pub fn from_numpy_str(s: &str) -> Option<(StoredType, bool)> {
        let (big, code) = match s.as_bytes().first()? {
            b'<' | b'=' | b'|' => (false, &s[1..]),
            b'>' => (true, &s[1..]),
            _ => (false, s),
        };
        let t = match code {
            "b1" | "?" => StoredType::Bool,
            "i1" => StoredType::I8,
            "i2" => StoredType::I16,
            "i4" => StoredType::I32,
            "i8" => StoredType::I64,
            "u1" => StoredType::U8,
            "u2" => StoredType::U16,
            "u4" => StoredType::U32,
            "u8" => StoredType::U64,
            "f4" => StoredType::F32,
            "f8" => StoredType::F64,
            _ => return None,
        };
        Some((t, big && t.itemsize() > 1))
    }
}

impl fmt::Display for StoredType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numpy_strings_round_trip() {
        for t in ALL_TYPES {
            assert_eq!(StoredType::parse(t.name()), Some(t));
            assert_eq!(StoredType::from_numpy_str(t.npy_descr()), Some((t, false)));
        }
        assert_eq!(StoredType::from_numpy_str(">f8"), Some((StoredType::F64, true)));
        assert_eq!(StoredType::from_numpy_str("<c16"), None);
        assert_eq!(StoredType::from_numpy_str("<U10"), None);
    }
}
