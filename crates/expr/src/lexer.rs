//! Tokens with positions.

use crate::error::{ExprError, Pos};

/// A token's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// An integer literal.
    Int(i64),
    /// A float literal.
    Float(f64),
    /// A quoted string.
    Str(String),
    /// A name.
    Ident(String),
    /// Punctuation or an operator, e.g. `**`, `(`, `==`.
    Sym(&'static str),
    /// End of a statement: a newline (outside brackets) or `;`.
    End,
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Int(i) => format!("number {i}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Ident(s) => format!("name '{s}'"),
            Tok::Sym(s) => format!("'{s}'"),
            Tok::End => "end of statement".into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// Longest first, so `**` and `//` are not read as two `*` or `/`.
const SYMBOLS: [&str; 30] = [
    "...", "**", "//", "==", "!=", "<=", ">=", "(", ")", "[", "]", ",", ":", ";", "=", ".", "+", "-", "*", "/", "%",
    "@", "<", ">", "~", "&", "|", "^", "{", "}",
];

/// Splits `src` into tokens. Newlines inside brackets do not end a statement.
pub fn lex(src: &str) -> Result<Vec<(Tok, Pos)>, ExprError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    let mut depth = 0i32;
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, col };
        let advance = |n: usize, i: &mut usize, col: &mut u32| {
            *i += n;
            *col += n as u32;
        };
        if c == '\n' {
            if depth == 0 {
                out.push((Tok::End, pos));
            }
            i += 1;
            line += 1;
            col = 1;
            continue;
        }
        if c.is_whitespace() {
            advance(1, &mut i, &mut col);
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                advance(1, &mut i, &mut col);
            }
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            let mut is_float = false;
            while i < chars.len() {
                let d = chars[i];
                if d.is_ascii_digit() || d == '_' {
                } else if d == '.' && !is_float {
                    is_float = true;
                } else if (d == 'e' || d == 'E')
                    && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit() || *n == '-' || *n == '+')
                {
                    is_float = true;
                    advance(1, &mut i, &mut col);
                } else {
                    break;
                }
                advance(1, &mut i, &mut col);
            }
            let text: String = chars[start..i].iter().filter(|&&c| c != '_').collect();
            let tok = if is_float {
                Tok::Float(text.parse().map_err(|_| ExprError::new(pos, format!("invalid number '{text}'")))?)
            } else {
                Tok::Int(text.parse().map_err(|_| ExprError::new(pos, format!("integer '{text}' is too large")))?)
            };
            out.push((tok, pos));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                advance(1, &mut i, &mut col);
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), pos));
            continue;
        }
        if c == '"' || c == '\'' {
            let start = i + 1;
            advance(1, &mut i, &mut col);
            while i < chars.len() && chars[i] != c && chars[i] != '\n' {
                advance(1, &mut i, &mut col);
            }
            if i >= chars.len() || chars[i] != c {
                return Err(ExprError::new(pos, "unterminated string: expected a closing quote"));
            }
            out.push((Tok::Str(chars[start..i].iter().collect()), pos));
            advance(1, &mut i, &mut col);
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
        let Some(sym) = SYMBOLS.iter().find(|s| rest.starts_with(*s)) else {
            // Control characters (a NUL from a file, say) are shown escaped, never raw.
            return Err(ExprError::new(pos, format!("unexpected character '{}'", c.escape_debug())));
        };
        match *sym {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            _ => {}
        }
        if *sym == ";" {
            out.push((Tok::End, pos));
        } else {
            out.push((Tok::Sym(sym), pos));
        }
        advance(sym.len(), &mut i, &mut col);
    }
    out.push((Tok::Eof, Pos { line, col }));
    Ok(out)
}
