//! Values of the expression language.

use std::fmt;

use tessera_graph::{Array, Scalar};

/// What an expression evaluates to.
#[derive(Debug, Clone)]
pub enum Value {
    /// A lazy array.
    Array(Array),
    /// A Python number or boolean.
    Number(Scalar),
    /// A string, e.g. `"auto"` or `"float32"`.
    Str(String),
    /// A tuple, e.g. a shape.
    Tuple(Vec<Value>),
    /// `None`.
    None,
    /// What a write statement (`to_zarr`, `to_npy`) evaluates to: the write is recorded
    /// and the program's result becomes the summary of its writes.
    Written,
}

impl Value {
    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Array(_) => "an array",
            Value::Number(Scalar::Bool(_)) => "a boolean",
            Value::Number(Scalar::Int(_)) => "an integer",
            Value::Number(Scalar::Float(_)) => "a float",
            Value::Str(_) => "a string",
            Value::Tuple(_) => "a tuple",
            Value::None => "None",
            Value::Written => "a write",
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Array(a) => write!(f, "array(shape={:?}, dtype={})", a.shape(), a.dtype()),
            Value::Number(Scalar::Int(i)) => write!(f, "{i}"),
            Value::Number(Scalar::Float(x)) => write!(f, "{x}"),
            Value::Number(Scalar::Bool(b)) => write!(f, "{}", if *b { "True" } else { "False" }),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Tuple(items) => {
                let parts: Vec<String> = items.iter().map(|v| v.to_string()).collect();
                if parts.len() == 1 { write!(f, "({},)", parts[0]) } else { write!(f, "({})", parts.join(", ")) }
            }
            Value::None => write!(f, "None"),
            Value::Written => write!(f, "<write>"),
        }
    }
}
