//! A Pratt parser with Python's precedences.

use crate::ast::{Expr, ExprKind, Stmt, Subscript};
use crate::error::{ExprError, Pos};
use crate::lexer::{Tok, lex};

/// The deepest an expression may nest (parentheses, operators, calls, indexing and
/// attributes all count a level). Parsing, evaluating and dropping a syntax tree walk it
/// recursively, so the depth is bounded here, before anything walks it; Python's own
/// parser stops at 200 nested parentheses.
pub const MAX_NESTING: usize = 256;

/// The largest program accepted, in bytes: far past any expression a person writes,
/// small enough that its tokens and tree stay a few hundred megabytes at worst.
pub const MAX_SOURCE_BYTES: usize = 16 << 20;

/// Parses a program: statements separated by newlines or `;`.
pub fn parse(src: &str) -> Result<Vec<Stmt>, ExprError> {
    if src.len() > MAX_SOURCE_BYTES {
        return Err(ExprError::new(
            Pos { line: 1, col: 1 },
            format!("the program is {} bytes, more than the limit of {MAX_SOURCE_BYTES} (16 MiB)", src.len()),
        ));
    }
    let mut p = Parser { toks: lex(src)?, at: 0, nesting: 0 };
    let mut stmts = Vec::new();
    loop {
        while p.peek() == &Tok::End {
            p.at += 1;
        }
        if p.peek() == &Tok::Eof {
            break;
        }
        stmts.push(p.statement()?);
        match p.peek() {
            Tok::End | Tok::Eof => {}
            other => return Err(p.error(format!("expected the end of the statement but found {}", other.describe()))),
        }
    }
    if stmts.is_empty() {
        return Err(ExprError::new(Pos { line: 1, col: 1 }, "the expression is empty"));
    }
    Ok(stmts)
}

struct Parser {
    toks: Vec<(Tok, Pos)>,
    at: usize,
    /// Recursive descents in progress.
    nesting: usize,
}

/// Python's precedence: comparisons, `|`, `^`, `&`, `+ -`, `* / // % @`, unary
/// minus and `~`, then `**`.
fn binding_power(sym: &str) -> Option<(u8, u8)> {
    Some(match sym {
        "==" | "!=" | "<" | "<=" | ">" | ">=" => (1, 2),
        "|" => (3, 4),
        "^" => (5, 6),
        "&" => (7, 8),
        "+" | "-" => (9, 10),
        "*" | "/" | "//" | "%" | "@" => (11, 12),
        // right-associative and tighter than unary minus on its left
        "**" => (16, 15),
        _ => return None,
    })
}

/// The binding power of a prefix operator's operand: tighter than `*`, looser than `**`.
const PREFIX_BP: u8 = 13;

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.at].0
    }

    fn pos(&self) -> Pos {
        self.toks[self.at].1
    }

    fn next(&mut self) -> (Tok, Pos) {
        let t = self.toks[self.at].clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn error(&self, message: impl Into<String>) -> ExprError {
        ExprError::new(self.pos(), message)
    }

    fn too_deep(pos: Pos) -> ExprError {
        ExprError::new(pos, format!("the expression nests deeper than the limit of {MAX_NESTING} levels"))
    }

    /// A node over `kind`, refused when it would make the tree too deep.
    fn node(kind: ExprKind, pos: Pos) -> Result<Expr, ExprError> {
        let e = Expr::new(kind, pos);
        if e.depth > MAX_NESTING {
            return Err(Self::too_deep(pos));
        }
        Ok(e)
    }

    /// `expr(min_bp)` one recursion level deeper, refused past the nesting limit.
    fn nested(&mut self, min_bp: u8) -> Result<Expr, ExprError> {
        if self.nesting >= MAX_NESTING {
            return Err(Self::too_deep(self.pos()));
        }
        self.nesting += 1;
        let e = self.expr(min_bp);
        self.nesting -= 1;
        e
    }

    fn expect(&mut self, sym: &str) -> Result<Pos, ExprError> {
        match self.peek() {
            Tok::Sym(s) if *s == sym => Ok(self.next().1),
            other => Err(self.error(format!("expected '{sym}' but found {}", other.describe()))),
        }
    }

    fn eat(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Tok::Sym(s) if *s == sym) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn statement(&mut self) -> Result<Stmt, ExprError> {
        if let (Tok::Ident(name), Some((Tok::Sym("="), _))) = (self.peek().clone(), self.toks.get(self.at + 1)) {
            self.at += 2;
            return Ok(Stmt::Assign(name, self.nested(0)?));
        }
        Ok(Stmt::Expr(self.nested(0)?))
    }

    fn expr(&mut self, min_bp: u8) -> Result<Expr, ExprError> {
        let mut lhs = self.prefix()?;
        while let Tok::Sym(sym) = *self.peek() {
            let Some((l, r)) = binding_power(sym) else { break };
            if l < min_bp {
                break;
            }
            let pos = self.next().1;
            let rhs = self.nested(r)?;
            lhs = Self::node(ExprKind::Binary(sym, Box::new(lhs), Box::new(rhs)), pos)?;
        }
        Ok(lhs)
    }

    fn prefix(&mut self) -> Result<Expr, ExprError> {
        if let Tok::Sym(s @ ("-" | "+" | "~")) = *self.peek() {
            let pos = self.next().1;
            // Unary minus binds looser than `**` (-x**2 == -(x**2)) but tighter than `*`.
            let operand = self.nested(PREFIX_BP)?;
            return Self::node(ExprKind::Unary(s, Box::new(operand)), pos);
        }
        let atom = self.atom()?;
        self.postfix(atom)
    }

    fn atom(&mut self) -> Result<Expr, ExprError> {
        let (tok, pos) = self.next();
        let kind = match tok {
            Tok::Int(i) => ExprKind::Int(i),
            Tok::Float(f) => ExprKind::Float(f),
            Tok::Str(s) => ExprKind::Str(s),
            Tok::Ident(n) => ExprKind::Name(n),
            Tok::Sym("(") => {
                if self.eat(")") {
                    ExprKind::Tuple(Vec::new())
                } else {
                    let first = self.nested(0)?;
                    if self.eat(")") {
                        return Ok(first);
                    }
                    let mut items = vec![first];
                    while self.eat(",") {
                        if matches!(self.peek(), Tok::Sym(")")) {
                            break;
                        }
                        items.push(self.nested(0)?);
                    }
                    self.expect(")")?;
                    ExprKind::Tuple(items)
                }
            }
            Tok::Sym("[") => {
                let mut items = Vec::new();
                while !self.eat("]") {
                    items.push(self.nested(0)?);
                    if !self.eat(",") {
                        self.expect("]")?;
                        break;
                    }
                }
                ExprKind::Tuple(items)
            }
            other => {
                return Err(ExprError::new(pos, format!("expected a value but found {}", other.describe())));
            }
        };
        Self::node(kind, pos)
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, ExprError> {
        loop {
            if self.eat("(") {
                let pos = e.pos;
                let (args, kwargs) = self.arguments()?;
                e = Self::node(ExprKind::Call(Box::new(e), args, kwargs), pos)?;
            } else if self.eat("[") {
                let pos = e.pos;
                let subs = self.subscripts()?;
                e = Self::node(ExprKind::Index(Box::new(e), subs), pos)?;
            } else if matches!(self.peek(), Tok::Sym(".")) {
                let dot = self.next().1;
                match self.next() {
                    (Tok::Ident(name), _) => e = Self::node(ExprKind::Attr(Box::new(e), name), dot)?,
                    (other, p) => {
                        return Err(ExprError::new(
                            p,
                            format!("expected a name after '.' but found {}", other.describe()),
                        ));
                    }
                }
            } else {
                return Ok(e);
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn arguments(&mut self) -> Result<(Vec<Expr>, Vec<(String, Expr, Pos)>), ExprError> {
        let mut args = Vec::new();
        let mut kwargs: Vec<(String, Expr, Pos)> = Vec::new();
        while !self.eat(")") {
            if let (Tok::Ident(name), Some((Tok::Sym("="), _))) = (self.peek().clone(), self.toks.get(self.at + 1)) {
                let pos = self.pos();
                self.at += 2;
                if kwargs.iter().any(|(k, _, _)| *k == name) {
                    return Err(ExprError::new(pos, format!("keyword argument '{name}' repeated")));
                }
                kwargs.push((name, self.nested(0)?, pos));
            } else {
                if !kwargs.is_empty() {
                    return Err(self.error("positional argument follows keyword argument"));
                }
                args.push(self.nested(0)?);
            }
            if !self.eat(",") {
                self.expect(")")?;
                break;
            }
        }
        Ok((args, kwargs))
    }

    fn subscripts(&mut self) -> Result<Vec<Subscript>, ExprError> {
        let mut subs = Vec::new();
        loop {
            if self.eat("]") {
                break;
            }
            subs.push(self.subscript()?);
            if !self.eat(",") {
                self.expect("]")?;
                break;
            }
        }
        if subs.is_empty() {
            return Err(self.error("expected an index or a slice inside '[]'"));
        }
        Ok(subs)
    }

    fn subscript(&mut self) -> Result<Subscript, ExprError> {
        if self.eat("...") {
            return Ok(Subscript::Ellipsis);
        }
        let is_colon = |p: &Parser| matches!(p.peek(), Tok::Sym(":"));
        let is_end = |p: &Parser| matches!(p.peek(), Tok::Sym(":" | "," | "]"));
        let start = if is_colon(self) { None } else { Some(self.nested(0)?) };
        if !self.eat(":") {
            return match start {
                Some(e) => Ok(Subscript::At(e)),
                None => Err(self.error("expected an index")),
            };
        }
        let stop = if is_end(self) { None } else { Some(self.nested(0)?) };
        let step = if self.eat(":") && !is_end(self) { Some(self.nested(0)?) } else { None };
        Ok(Subscript::Slice(start, stop, step))
    }
}
