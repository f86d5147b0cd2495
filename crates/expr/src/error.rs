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

/// An error in an expression: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct ExprError {
    /// Where.
    pub pos: Pos,
    /// What is wrong, e.g. "expected ')' but found ','".
    pub message: String,
}

impl ExprError {
    pub(crate) fn new(pos: Pos, message: impl Into<String>) -> ExprError {
        ExprError { pos, message: message.into() }
    }
}
