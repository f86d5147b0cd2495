//! The tessera expression language: numpy/dask syntax that a Dask user reads at first
//! sight, parsed into lazy [`Array`]s.
//!
//! ```text
//! x = ones((20000, 20000), chunks=(2000, 2000))
//! (x * x[::-1, ::-1]).sum()
//! ```
//!
//! A small hand-written lexer and Pratt parser keep every token's line and column, so
//! each error says where it is and what was expected. Evaluation builds the lazy graph
//! directly; shape, dtype and chunk errors from the graph are reported at the operator
//! or call that caused them. Nothing here computes array values.

mod ast;
mod constructors;
mod elementwise;
mod error;
mod eval;
mod gather;
mod lexer;
mod linalg;
mod parser;
mod shape;
mod stats;
mod storage;
mod value;

pub use error::{ErrorKind, ExprError};
pub use eval::{CountPass, EvalOptions, Program, evaluate};
pub use parser::{MAX_NESTING, MAX_SOURCE_BYTES};
pub use value::Value;

pub use tessera_graph::Array;

#[cfg(test)]
mod tests;
