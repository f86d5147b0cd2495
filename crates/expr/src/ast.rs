//! The syntax tree.

use crate::error::Pos;

/// An expression with the position of its first token (or its operator).
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is.
    pub pos: Pos,
}

/// Expression kinds.
#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A name.
    Name(String),
    /// `(a, b, ...)`
    Tuple(Vec<Expr>),
    /// `-a`, `+a`
    Unary(&'static str, Box<Expr>),
    /// `a op b`
    Binary(&'static str, Box<Expr>, Box<Expr>),
    /// `a.name`
    Attr(Box<Expr>, String),
    /// `f(args, key=value)`
    Call(Box<Expr>, Vec<Expr>, Vec<(String, Expr, Pos)>),
    /// `a[subscripts]`
    Index(Box<Expr>, Vec<Subscript>),
}

/// One subscript.
#[derive(Debug, Clone, PartialEq)]
pub enum Subscript {
    /// An integer index.
    At(Expr),
    /// `start:stop:step`
    Slice(Option<Expr>, Option<Expr>, Option<Expr>),
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `name = expr`
    Assign(String, Expr),
    /// An expression.
    Expr(Expr),
}
