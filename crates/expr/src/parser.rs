//! A Pratt parser with Python's precedences.

use crate::ast::{Expr, ExprKind, Stmt, Subscript};
use crate::error::{ExprError, Pos};
use crate::lexer::{Tok, lex};

/// Parses a program: statements separated by newlines or `;`.
pub fn parse(src: &str) -> Result<Vec<Stmt>, ExprError> {
    let mut p = Parser { toks: lex(src)?, at: 0 };
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
}

fn binding_power(sym: &str) -> Option<(u8, u8)> {
    Some(match sym {
        "==" | "!=" | "<" | "<=" | ">" | ">=" => (1, 2),
        "+" | "-" => (3, 4),
        "*" | "/" | "@" => (5, 6),
        // right-associative and tighter than unary minus on its left
        "**" => (10, 9),
        _ => return None,
    })
}

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
            return Ok(Stmt::Assign(name, self.expr(0)?));
        }
        Ok(Stmt::Expr(self.expr(0)?))
    }

    fn expr(&mut self, min_bp: u8) -> Result<Expr, ExprError> {
        let mut lhs = self.prefix()?;
        while let Tok::Sym(sym) = *self.peek() {
            let Some((l, r)) = binding_power(sym) else { break };
            if l < min_bp {
                break;
            }
            let pos = self.next().1;
            let rhs = self.expr(r)?;
            lhs = Expr { kind: ExprKind::Binary(sym, Box::new(lhs), Box::new(rhs)), pos };
        }
        Ok(lhs)
    }

    fn prefix(&mut self) -> Result<Expr, ExprError> {
        if let Tok::Sym(s @ ("-" | "+")) = *self.peek() {
            let pos = self.next().1;
            // Unary minus binds looser than `**` (-x**2 == -(x**2)) but tighter than `*`.
            let operand = self.expr(7)?;
            return Ok(Expr { kind: ExprKind::Unary(s, Box::new(operand)), pos });
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
                    let first = self.expr(0)?;
                    if self.eat(")") {
                        return Ok(first);
                    }
                    let mut items = vec![first];
                    while self.eat(",") {
                        if matches!(self.peek(), Tok::Sym(")")) {
                            break;
                        }
                        items.push(self.expr(0)?);
                    }
                    self.expect(")")?;
                    ExprKind::Tuple(items)
                }
            }
            other => {
                return Err(ExprError::new(pos, format!("expected a value but found {}", other.describe())));
            }
        };
        Ok(Expr { kind, pos })
    }

    fn postfix(&mut self, mut e: Expr) -> Result<Expr, ExprError> {
        loop {
            if self.eat("(") {
                let pos = e.pos;
                let (args, kwargs) = self.arguments()?;
                e = Expr { kind: ExprKind::Call(Box::new(e), args, kwargs), pos };
            } else if self.eat("[") {
                let pos = e.pos;
                let subs = self.subscripts()?;
                e = Expr { kind: ExprKind::Index(Box::new(e), subs), pos };
            } else if matches!(self.peek(), Tok::Sym(".")) {
                let dot = self.next().1;
                match self.next() {
                    (Tok::Ident(name), _) => e = Expr { kind: ExprKind::Attr(Box::new(e), name), pos: dot },
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
                kwargs.push((name, self.expr(0)?, pos));
            } else {
                if !kwargs.is_empty() {
                    return Err(self.error("positional argument follows keyword argument"));
                }
                args.push(self.expr(0)?);
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
        let is_colon = |p: &Parser| matches!(p.peek(), Tok::Sym(":"));
        let is_end = |p: &Parser| matches!(p.peek(), Tok::Sym(":" | "," | "]"));
        let start = if is_colon(self) { None } else { Some(self.expr(0)?) };
        if !self.eat(":") {
            return match start {
                Some(e) => Ok(Subscript::At(e)),
                None => Err(self.error("expected an index")),
            };
        }
        let stop = if is_end(self) { None } else { Some(self.expr(0)?) };
        let step = if self.eat(":") && !is_end(self) { Some(self.expr(0)?) } else { None };
        Ok(Subscript::Slice(start, stop, step))
    }
}
