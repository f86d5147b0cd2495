//! The syntax tree.

use crate::error::Pos;

/// An expression with the position of its first token (or its operator).
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    /// What it is.
    pub kind: ExprKind,
    /// Where it is.
    pub pos: Pos,
    /// Levels of the tree under and including this node (1 for a leaf): what every
    /// recursive walk of it (evaluation, dropping) costs in stack.
    pub depth: usize,
}

impl Expr {
    /// A node over `kind`, its depth derived from its children's.
    pub fn new(kind: ExprKind, pos: Pos) -> Expr {
        let depth = 1 + kind.children().map(|c| c.depth).max().unwrap_or(0);
        Expr { kind, pos, depth }
    }
}

impl ExprKind {
    /// The expressions directly under this one.
    fn children(&self) -> Box<dyn Iterator<Item = &Expr> + '_> {
        match self {
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) | ExprKind::Name(_) => {
                Box::new(std::iter::empty())
            }
            ExprKind::Tuple(items) => Box::new(items.iter()),
            ExprKind::Unary(_, a) | ExprKind::Attr(a, _) => Box::new(std::iter::once(&**a)),
            ExprKind::Binary(_, a, b) => Box::new([&**a, &**b].into_iter()),
            ExprKind::Call(f, args, kwargs) => {
                Box::new(std::iter::once(&**f).chain(args.iter()).chain(kwargs.iter().map(|(_, e, _)| e)))
            }
            ExprKind::Index(a, subs) => Box::new(std::iter::once(&**a).chain(subs.iter().flat_map(|s| match s {
                Subscript::At(e) => vec![e],
                Subscript::Slice(a, b, c) => [a, b, c].into_iter().flatten().collect(),
                Subscript::Ellipsis => Vec::new(),
            }))),
        }
    }
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
    /// `...`: as many `:` as the other entries leave.
    Ellipsis,
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `name = expr`
    Assign(String, Expr),
    /// An expression.
    Expr(Expr),
}
