//! Errors with positions.

use std::fmt;

/// A position in the source text, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column (in characters), from 1.
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.col)
    }
}

/// What kind of mistake an error is, as numpy would raise it (the Python package maps
/// these to `ValueError`, `TypeError`, `IndexError` and numpy's `AxisError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorKind {
    /// A wrong value: a shape, a chunk spec, a syntax error.
    #[default]
    Value,
    /// A wrong type: a float where an integer is needed, an operation a dtype lacks.
    Type,
    /// A wrong index.
    Index,
    /// An axis out of range.
    Axis,
}

impl ErrorKind {
    /// The kind of a graph error: numpy's exception for the same mistake.
    pub fn of(e: &tessera_graph::GraphError) -> ErrorKind {
        use tessera_graph::GraphError;
        match e {
            GraphError::Type(_) => ErrorKind::Type,
            GraphError::Index(_)
            | GraphError::TooManyIndices { .. }
            | GraphError::Chunks(tessera_chunks::ChunkError::IndexOutOfBounds { .. }) => ErrorKind::Index,
            GraphError::Chunks(tessera_chunks::ChunkError::BadDType(_)) => ErrorKind::Type,
            GraphError::Axis { .. } => ErrorKind::Axis,
            _ => ErrorKind::Value,
        }
    }
}

/// An error in an expression: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct ExprError {
    /// Where.
    pub pos: Pos,
    /// What is wrong, e.g. "expected ')' but found ','".
    pub message: String,
    /// What kind of mistake it is.
    pub kind: ErrorKind,
}

impl ExprError {
    pub(crate) fn new(pos: Pos, message: impl Into<String>) -> ExprError {
        ExprError { pos, message: message.into(), kind: ErrorKind::Value }
    }

    pub(crate) fn of_kind(mut self, kind: ErrorKind) -> ExprError {
        self.kind = kind;
        self
    }
}
