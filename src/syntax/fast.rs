//! A fast parser for the subset of KDL v2 that workspace files are written in.
//!
//! The `kdl` crate reads about 1 MB/s, which makes a 1000-model-service workspace take most of a
//! second to parse. This parser reads the common subset — nodes, children, slashdash, comments,
//! line continuations, identifier / quoted / raw single-line strings, decimal integers, simple
//! decimals, `#true` `#false` `#null` — at tens of MB/s, and produces exactly the tree (spans
//! included) that converting the `kdl` crate's document produces.
//!
//! It is deliberately conservative: on anything else (an error, a multi-line string, a type
//! annotation, a hexadecimal number, a Unicode space or newline, a BOM…) it answers `None` and the
//! caller parses with the `kdl` crate, which is also what reports every syntax error. A
//! differential test (`tests/it/parser.rs`) checks the two agree wherever this one answers.

use crate::diag::{FileId, Span};

use super::{Ident, Literal, Node, Prop, Value};

/// Parses `s` if it is in the supported subset; `None` means "use the full parser".
pub fn parse(file: FileId, s: &str) -> Option<Vec<Node>> {
    if !plain_text(s) {
        return None;
    }
    let mut p = Parser { s, b: s.as_bytes(), i: 0, file };
    let nodes = p.nodes(false)?;
    (p.i == s.len()).then_some(nodes)
}

/// Only ASCII spaces, tabs and `\n` / `\r\n` as whitespace, and no code point KDL forbids: the
/// parser below then never has to think about Unicode whitespace.
fn plain_text(s: &str) -> bool {
    let b = s.as_bytes();
    // Printable ASCII, tab and `\n` are the common case: check them byte by byte, and decode
    // characters only from the first byte that needs a closer look.
    let Some(first) = b.iter().position(|&c| !(c == b'\t' || c == b'\n' || (0x20..0x7f).contains(&c))) else {
        return true;
    };
    let start = s[..first].rfind('\n').map_or(0, |i| i + 1);
    for (k, c) in s[start..].char_indices().map(|(k, c)| (k + start, c)) {
        let ok = match c {
            '\t' | '\n' => true,
            '\r' => b.get(k + 1) == Some(&b'\n'),
            c if (c as u32) < 0x20 || c == '\u{7f}' => false,
            c if c.is_ascii() => true,
            // Unicode whitespace and newlines, direction controls, the BOM.
            '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200f}' | '\u{2028}'..='\u{202f}' => false,
            '\u{205f}' | '\u{2066}'..='\u{2069}' | '\u{3000}' | '\u{feff}' => false,
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    true
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
    file: FileId,
}

fn is_ident_byte(c: u8) -> bool {
    // Non-ASCII bytes belong to identifier characters: `plain_text` already refused the
    // non-ASCII code points KDL treats specially.
    !matches!(
        c,
        b' ' | b'\t'
            | b'\n'
            | b'\r'
            | b'\\'
            | b'/'
            | b'('
            | b')'
            | b'{'
            | b'}'
            | b';'
            | b'['
            | b']'
            | b'"'
            | b'#'
            | b'='
    )
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn at(&self, t: &str) -> bool {
        self.b[self.i..].starts_with(t.as_bytes())
    }
    fn span(&self, start: usize, end: usize) -> Span {
        Span::new(self.file, start, end)
    }
    fn at_newline(&self) -> bool {
        matches!(self.peek(), Some(b'\n')) || self.at("\r\n")
    }

    fn skip_newline(&mut self) {
        if self.at("\r\n") {
            self.i += 2;
        } else {
            self.i += 1;
        }
    }

    /// A block comment, nested. `None` if it never closes.
    fn block_comment(&mut self) -> Option<()> {
        let mut depth = 0usize;
        while self.i < self.b.len() {
            if self.at("/*") {
                depth += 1;
                self.i += 2;
            } else if self.at("*/") {
                depth -= 1;
                self.i += 2;
                if depth == 0 {
                    return Some(());
                }
            } else {
                self.i += 1;
            }
        }
        None
    }

    fn line_comment(&mut self) {
        while self.i < self.b.len() && !self.at_newline() {
            self.i += 1;
        }
    }

    /// Spaces, tabs, block comments and line continuations inside a node. True if any.
    fn node_space(&mut self) -> Option<bool> {
        let start = self.i;
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.i += 1,
                Some(b'/') if self.at("/*") => self.block_comment()?,
                Some(b'\\') => {
                    // `\`, spaces, then a line comment or a newline (or the end): the node goes on.
                    self.i += 1;
                    while matches!(self.peek(), Some(b' ' | b'\t')) {
                        self.i += 1;
                    }
                    if self.at("//") {
                        self.line_comment();
                    }
                    if self.at_newline() {
                        self.skip_newline();
                    } else if self.i < self.b.len() {
                        return None;
                    }
                }
                _ => return Some(self.i > start),
            }
        }
    }

    /// Whitespace, newlines and comments between nodes.
    fn line_space(&mut self) -> Option<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n') => self.i += 1,
                Some(b'\r') if self.at("\r\n") => self.i += 2,
                Some(b'/') if self.at("//") => self.line_comment(),
                Some(b'/') if self.at("/*") => self.block_comment()?,
                Some(b'\\') => {
                    self.node_space()?;
                }
                _ => return Some(()),
            }
        }
    }

    fn nodes(&mut self, in_block: bool) -> Option<Vec<Node>> {
        let mut out = Vec::new();
        loop {
            self.line_space()?;
            match self.peek() {
                None => return if in_block { None } else { Some(out) },
                Some(b'}') => return if in_block { Some(out) } else { None },
                Some(b'/') if self.at("/-") => {
                    self.i += 2;
                    self.line_space()?;
                    self.node()?;
                    // The `kdl` crate rejects a commented-out node ended by `;`: so must we.
                    if self.b[self.i - 1] == b';' {
                        return None;
                    }
                }
                _ => out.push(self.node()?),
            }
        }
    }

    fn node(&mut self) -> Option<Node> {
        let start = self.i;
        let (name, name_span) = self.string()?;
        let mut args = Vec::new();
        let mut props = Vec::new();
        let mut children: Option<Vec<Node>> = None;
        let end;
        loop {
            let spaced = self.node_space()?;
            // The node ends at a terminator; its span includes the spaces before it.
            match self.peek() {
                None | Some(b'\n' | b';' | b'}') => {
                    end = self.i;
                    break;
                }
                Some(b'\r') if self.at("\r\n") => {
                    end = self.i;
                    break;
                }
                Some(b'/') if self.at("//") => {
                    end = self.i;
                    break;
                }
                _ => {}
            }
            if self.at("/-") {
                if !spaced {
                    return None;
                }
                self.i += 2;
                self.node_space()?;
                if self.peek() == Some(b'{') {
                    self.block()?;
                } else if children.is_some() {
                    return None;
                } else {
                    self.entry()?;
                }
                continue;
            }
            if self.peek() == Some(b'{') {
                if children.is_some() {
                    return None;
                }
                children = Some(self.block()?);
                continue;
            }
            // An entry must be separated by space, and no entry may follow the children.
            if !spaced || children.is_some() {
                return None;
            }
            match self.entry()? {
                Entry::Arg(v) => args.push(v),
                Entry::Prop(p) => props.push(p),
            }
        }
        match self.peek() {
            Some(b';') => self.i += 1,
            Some(b'\n' | b'\r') => self.skip_newline(),
            _ => {}
        }
        Some(Node {
            name: Ident { name, span: name_span },
            ty: None,
            args,
            props,
            children,
            span: self.span(start, end),
            origin: None,
        })
    }

    fn block(&mut self) -> Option<Vec<Node>> {
        self.i += 1; // `{`
        let nodes = self.nodes(true)?;
        self.i += 1; // `}`
        Some(nodes)
    }

    fn entry(&mut self) -> Option<Entry> {
        let start = self.i;
        match self.peek()? {
            b'(' => None,
            b'#' if !self.raw_string_ahead() => {
                let literal = self.keyword()?;
                Some(Entry::Arg(self.value(literal, start)))
            }
            c if c.is_ascii_digit()
                || ((c == b'-' || c == b'+') && self.b.get(self.i + 1).is_some_and(u8::is_ascii_digit)) =>
            {
                let literal = self.number()?;
                Some(Entry::Arg(self.value(literal, start)))
            }
            _ => {
                let (text, key_span) = self.string()?;
                // `key=value`, with optional spaces around `=`.
                let save = self.i;
                while matches!(self.peek(), Some(b' ' | b'\t')) {
                    self.i += 1;
                }
                if self.peek() != Some(b'=') {
                    self.i = save;
                    if matches!(self.peek(), Some(b'/' | b'\\')) && !self.at("//") && !self.at("/-") {
                        // A comment or continuation before a possible `=`: leave it to the full parser.
                        return None;
                    }
                    return Some(Entry::Arg(self.value(Literal::String(text), start)));
                }
                self.i += 1;
                while matches!(self.peek(), Some(b' ' | b'\t')) {
                    self.i += 1;
                }
                let vstart = self.i;
                let literal = match self.peek()? {
                    b'(' => return None,
                    b'#' if !self.raw_string_ahead() => self.keyword()?,
                    c if c.is_ascii_digit()
                        || ((c == b'-' || c == b'+') && self.b.get(self.i + 1).is_some_and(u8::is_ascii_digit)) =>
                    {
                        self.number()?
                    }
                    _ => Literal::String(self.string()?.0),
                };
                let value = Value { literal, ty: None, span: self.span(vstart, self.i), origin: None };
                Some(Entry::Prop(Prop {
                    key: Ident { name: text, span: key_span },
                    value,
                    span: self.span(start, self.i),
                }))
            }
        }
    }

    fn value(&self, literal: Literal, start: usize) -> Value {
        Value { literal, ty: None, span: self.span(start, self.i), origin: None }
    }

    /// At `#`: whether hashes lead into a raw string (`#"…"#`) rather than a keyword (`#true`).
    fn raw_string_ahead(&self) -> bool {
        self.b[self.i..].iter().find(|&&c| c != b'#') == Some(&b'"')
    }

    /// The token just read is not glued to an identifier character (`1abc`, `#truex`).
    fn delimited(&self) -> bool {
        self.peek().is_none_or(|c| !is_ident_byte(c))
    }

    fn keyword(&mut self) -> Option<Literal> {
        let literal = if self.at("#true") {
            self.i += 5;
            Literal::Bool(true)
        } else if self.at("#false") {
            self.i += 6;
            Literal::Bool(false)
        } else if self.at("#null") {
            self.i += 5;
            Literal::Null
        } else {
            return None;
        };
        self.delimited().then_some(literal)
    }

    /// A decimal integer, or a simple decimal like `1.5`; anything else is left to `kdl`.
    fn number(&mut self) -> Option<Literal> {
        let start = self.i;
        if matches!(self.peek(), Some(b'-' | b'+')) {
            self.i += 1;
        }
        let digits = |p: &mut Self| {
            let s = p.i;
            while p.peek().is_some_and(|c| c.is_ascii_digit() || c == b'_') {
                p.i += 1;
            }
            p.i > s
        };
        if !digits(self) {
            return None;
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !self.peek().is_some_and(|c| c.is_ascii_digit()) || !digits(self) {
                return None;
            }
            float = true;
        }
        if !self.delimited() {
            // An exponent, a hexadecimal prefix, a suffix: not ours.
            return None;
        }
        let text = &self.s[start..self.i];
        if float {
            // Underscores in decimals are rare; let `kdl` decide how they read.
            if text.contains('_') {
                return None;
            }
            return text.parse::<f64>().ok().map(Literal::Float);
        }
        let clean: String = text.chars().filter(|&c| c != '_').collect();
        clean.parse::<i128>().ok().map(Literal::Int)
    }

    /// An identifier, a quoted single-line string or a single-line raw string, with its span.
    fn string(&mut self) -> Option<(String, Span)> {
        let start = self.i;
        let text = match self.peek()? {
            b'"' => self.quoted()?,
            b'#' => self.raw()?,
            _ => self.identifier()?,
        };
        if !self.delimited() {
            return None;
        }
        Some((text, self.span(start, self.i)))
    }

    fn identifier(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_ident_byte) {
            self.i += 1;
        }
        let text = &self.s[start..self.i];
        let first = text.as_bytes().first()?;
        // Identifiers that start like numbers, and the bare keywords KDL v2 forbids.
        let second = text.as_bytes().get(1);
        let signed = matches!(first, b'-' | b'+');
        if first.is_ascii_digit()
            || *first == b'.'
            || (signed && second.is_some_and(|c| c.is_ascii_digit() || *c == b'.'))
        {
            return None;
        }
        if matches!(text, "true" | "false" | "null" | "inf" | "-inf" | "nan") {
            return None;
        }
        Some(text.to_string())
    }

    fn quoted(&mut self) -> Option<String> {
        if self.at("\"\"\"") {
            return None;
        }
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.s[self.i..];
            let stop = rest.find(['"', '\\', '\n', '\r'])?;
            out.push_str(&rest[..stop]);
            self.i += stop;
            match self.b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Some(out);
                }
                b'\\' => {
                    let e = *self.b.get(self.i + 1)?;
                    self.i += 2;
                    match e {
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'\\' => out.push('\\'),
                        b'"' => out.push('"'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b's' => out.push(' '),
                        b'u' => {
                            let rest = self.s.get(self.i..)?.strip_prefix('{')?;
                            let close = rest.find('}')?;
                            let hex = &rest[..close];
                            if hex.is_empty() || hex.len() > 6 {
                                return None;
                            }
                            out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
                            self.i += close + 2;
                        }
                        // Whitespace escapes and anything unusual: the full parser.
                        _ => return None,
                    }
                }
                // A newline inside a single-line string is an error.
                _ => return None,
            }
        }
    }

    fn raw(&mut self) -> Option<String> {
        let hashes = self.b[self.i..].iter().take_while(|&&c| c == b'#').count();
        let open = self.i + hashes;
        if self.b.get(open) != Some(&b'"') || self.s[open..].starts_with("\"\"\"") {
            return None;
        }
        let body = open + 1;
        let close = format!("\"{}", "#".repeat(hashes));
        let len = self.s[body..].find(&close)?;
        let text = &self.s[body..body + len];
        if text.contains(['\n', '\r']) {
            return None;
        }
        self.i = body + len + close.len();
        self.delimited().then(|| text.to_string())
    }
}

enum Entry {
    Arg(Value),
    Prop(Prop),
}
