//! Go's text/template syntax: the lexer and parser, ported from `text/template/parse` so that
//! what Go accepts parses, what Go refuses fails with Go's message, and errors point where
//! Go's do.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::rc::Rc;

use super::TplError;

/// One parsed template: a file's top level, or a `define`d body.
#[derive(Debug)]
pub struct Tree {
    pub name: String,
    /// The file the template was parsed from (error locations name it).
    pub parse_name: Rc<str>,
    pub src: Rc<str>,
    pub root: Vec<Node>,
}

#[derive(Debug)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If(Control),
    Range(Control),
    With(Control),
    Template { pos: usize, name: String, pipe: Option<Pipe> },
    Break,
    Continue,
}

#[derive(Debug)]
pub struct Control {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

#[derive(Debug)]
pub struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug)]
pub struct Cmd {
    pub pos: usize,
    pub args: Vec<Operand>,
}

#[derive(Debug)]
pub enum Operand {
    Field { pos: usize, idents: Vec<String> },
    Variable { pos: usize, name: String, fields: Vec<String> },
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Number(usize, Number),
    Str { pos: usize, text: String, quoted: String },
    Ident(usize, String),
    Pipe(Box<Pipe>),
    Chain { pos: usize, node: Box<Operand>, fields: Vec<String> },
}

/// A number literal, with every interpretation Go's parser finds for it.
#[derive(Debug, Clone)]
pub struct Number {
    pub text: String,
    pub is_int: bool,
    pub int: i64,
    pub is_uint: bool,
    pub is_float: bool,
    pub float: f64,
}

impl Operand {
    pub fn pos(&self) -> usize {
        match self {
            Operand::Field { pos, .. }
            | Operand::Variable { pos, .. }
            | Operand::Dot(pos)
            | Operand::Nil(pos)
            | Operand::Bool(pos, _)
            | Operand::Number(pos, _)
            | Operand::Str { pos, .. }
            | Operand::Ident(pos, _)
            | Operand::Chain { pos, .. } => *pos,
            Operand::Pipe(p) => p.pos,
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Field { idents, .. } => idents.iter().try_for_each(|i| write!(f, ".{i}")),
            Operand::Variable { name, fields, .. } => {
                f.write_str(name)?;
                fields.iter().try_for_each(|i| write!(f, ".{i}"))
            }
            Operand::Dot(_) => f.write_str("."),
            Operand::Nil(_) => f.write_str("nil"),
            Operand::Bool(_, b) => write!(f, "{b}"),
            Operand::Number(_, n) => f.write_str(&n.text),
            Operand::Str { quoted, .. } => f.write_str(quoted),
            Operand::Ident(_, name) => f.write_str(name),
            Operand::Pipe(p) => write!(f, "{p}"),
            Operand::Chain { node, fields, .. } => {
                if let Operand::Pipe(p) = &**node {
                    write!(f, "({p})")?;
                } else {
                    write!(f, "{node}")?;
                }
                fields.iter().try_for_each(|i| write!(f, ".{i}"))
            }
        }
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_char(' ')?;
            }
            match a {
                Operand::Pipe(p) => write!(f, "({p})")?,
                a => write!(f, "{a}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

// ---- lexer -------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Field(String),
    Variable(String),
    Ident(String),
    Bool(bool),
    Number(String),
    CharConst(String),
    Str(String),
    RawStr(String),
    Assign,
    Declare,
    Pipe,
    LeftParen,
    RightParen,
    Char(char),
    Dot,
    Nil,
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
    Eof,
}

impl Tok {
    /// How Go's parser names the token in "unexpected …" messages.
    fn describe(&self) -> String {
        match self {
            Tok::Eof => "EOF".into(),
            Tok::Text(t) | Tok::Field(t) | Tok::Variable(t) | Tok::Ident(t) | Tok::Number(t) | Tok::CharConst(t) => {
                format!("{t:?}")
            }
            Tok::Str(t) | Tok::RawStr(t) => format!("{t:?}"),
            Tok::Space => "\" \"".into(),
            Tok::LeftDelim => "\"{{\"".into(),
            Tok::RightDelim => "\"}}\"".into(),
            Tok::Bool(b) => format!("\"{b}\""),
            Tok::Assign => "\"=\"".into(),
            Tok::Declare => "\":=\"".into(),
            Tok::Pipe => "\"|\"".into(),
            Tok::LeftParen => "\"(\"".into(),
            Tok::RightParen => "\")\"".into(),
            Tok::Char(c) => format!("{:?}", c.to_string()),
            Tok::Dot => "<.>".into(),
            Tok::Nil => "<nil>".into(),
            Tok::Block => "<block>".into(),
            Tok::Break => "<break>".into(),
            Tok::Continue => "<continue>".into(),
            Tok::Define => "<define>".into(),
            Tok::Else => "<else>".into(),
            Tok::End => "<end>".into(),
            Tok::If => "<if>".into(),
            Tok::Range => "<range>".into(),
            Tok::Template => "<template>".into(),
            Tok::With => "<with>".into(),
        }
    }
}

#[derive(Debug, Clone)]
struct Item {
    tok: Tok,
    pos: usize,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    items: Vec<Item>,
    paren_depth: i32,
}

/// A lexer or parser error before it is tied to a template name: message and byte offset.
pub struct SyntaxError {
    pub msg: String,
    pub pos: usize,
}

type LexResult<T> = Result<T, SyntaxError>;

impl<'a> Lexer<'a> {
    fn err<T>(&self, msg: impl Into<String>) -> LexResult<T> {
        Err(SyntaxError { msg: msg.into(), pos: self.pos.min(self.src.len()) })
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn emit(&mut self, tok: Tok, pos: usize) {
        self.items.push(Item { tok, pos });
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest().as_bytes();
        if r.len() >= 2 && is_space(r[0]) && r[1] == b'-' && self.rest()[2..].starts_with("}}") {
            return (true, true);
        }
        (self.rest().starts_with("}}"), false)
    }

    fn run(mut self) -> LexResult<Vec<Item>> {
        loop {
            // Text up to the next action.
            let start = self.pos;
            match self.rest().find("{{") {
                None => {
                    if self.pos < self.src.len() {
                        self.emit(Tok::Text(self.rest().to_string()), start);
                    }
                    self.pos = self.src.len();
                    self.emit(Tok::Eof, self.pos);
                    return Ok(self.items);
                }
                Some(x) => {
                    let delim = self.pos + x;
                    let after = &self.src[delim + 2..];
                    let trim = after.len() >= 2 && after.as_bytes()[0] == b'-' && is_space(after.as_bytes()[1]);
                    let mut text = &self.src[start..delim];
                    if trim {
                        text = text.trim_end_matches([' ', '\t', '\r', '\n']);
                    }
                    if !text.is_empty() {
                        self.emit(Tok::Text(text.to_string()), start);
                    }
                    self.pos = delim + 2;
                    let after_marker = if trim { 2 } else { 0 };
                    if self.src[self.pos + after_marker..].starts_with("/*") {
                        self.pos += after_marker;
                        self.comment()?;
                        continue;
                    }
                    self.emit(Tok::LeftDelim, delim);
                    self.pos += after_marker;
                    self.paren_depth = 0;
                    self.inside_action()?;
                }
            }
        }
    }

    fn comment(&mut self) -> LexResult<()> {
        self.pos += 2;
        let Some(x) = self.rest().find("*/") else {
            return self.err("unclosed comment");
        };
        self.pos += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.err("comment ends before closing delimiter");
        }
        if trim {
            self.pos += 2;
        }
        self.pos += 2;
        if trim {
            let r = self.rest();
            self.pos += r.len() - r.trim_start_matches([' ', '\t', '\r', '\n']).len();
        }
        Ok(())
    }

    fn inside_action(&mut self) -> LexResult<()> {
        loop {
            let (delim, trim) = self.at_right_delim();
            if delim {
                if self.paren_depth != 0 {
                    return self.err("unclosed left paren");
                }
                let p = self.pos;
                if trim {
                    self.pos += 2;
                }
                self.pos += 2;
                self.emit(Tok::RightDelim, p);
                if trim {
                    let r = self.rest();
                    self.pos += r.len() - r.trim_start_matches([' ', '\t', '\r', '\n']).len();
                }
                return Ok(());
            }
            let start = self.pos;
            let Some(c) = self.peek() else {
                return self.err("unclosed action");
            };
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    let mut n = 0;
                    while self.peek().is_some_and(|c| is_space(c as u8) && c.is_ascii()) {
                        self.pos += 1;
                        n += 1;
                    }
                    // " -}}": the space belongs to the delimiter.
                    let back = &self.src[self.pos - 1..];
                    if back.len() >= 4 && back.as_bytes()[1] == b'-' && back[2..].starts_with("}}") {
                        self.pos -= 1;
                        if n == 1 {
                            continue;
                        }
                    }
                    self.emit(Tok::Space, start);
                }
                '=' => {
                    self.pos += 1;
                    self.emit(Tok::Assign, start);
                }
                ':' => {
                    self.pos += 1;
                    if self.peek() != Some('=') {
                        return self.err("expected :=");
                    }
                    self.pos += 1;
                    self.emit(Tok::Declare, start);
                }
                '|' => {
                    self.pos += 1;
                    self.emit(Tok::Pipe, start);
                }
                '"' => self.quote()?,
                '`' => self.raw_quote()?,
                '$' => {
                    self.pos += 1;
                    self.field_or_variable(start, true)?;
                }
                '\'' => self.char_const()?,
                '.' => {
                    let next = self.src.as_bytes().get(self.pos + 1).copied();
                    if next.is_some_and(|b| b.is_ascii_digit()) {
                        self.number()?;
                    } else {
                        self.pos += 1;
                        self.field_or_variable(start, false)?;
                    }
                }
                '+' | '-' | '0'..='9' => self.number()?,
                c if is_alnum(c) => self.identifier()?,
                '(' => {
                    self.pos += 1;
                    self.paren_depth += 1;
                    self.emit(Tok::LeftParen, start);
                }
                ')' => {
                    self.pos += 1;
                    self.paren_depth -= 1;
                    if self.paren_depth < 0 {
                        return self.err("unexpected right paren");
                    }
                    self.emit(Tok::RightParen, start);
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    self.pos += 1;
                    self.emit(Tok::Char(c), start);
                }
                c => return self.err(format!("unrecognized character in action: {}", go_char_desc(c))),
            }
        }
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if c.is_ascii() && is_space(c as u8) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with("}}"),
        }
    }

    fn field_or_variable(&mut self, start: usize, var: bool) -> LexResult<()> {
        if self.at_terminator() {
            self.emit(if var { Tok::Variable("$".into()) } else { Tok::Dot }, start);
            return Ok(());
        }
        while self.peek().is_some_and(is_alnum) {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return self.err(format!("bad character {}", go_char_desc(c)));
        }
        let text = self.src[start..self.pos].to_string();
        self.emit(if var { Tok::Variable(text) } else { Tok::Field(text) }, start);
        Ok(())
    }

    fn identifier(&mut self) -> LexResult<()> {
        let start = self.pos;
        while self.peek().is_some_and(is_alnum) {
            self.pos += self.peek().map_or(1, char::len_utf8);
        }
        if !self.at_terminator() {
            let c = self.peek().unwrap_or(' ');
            return self.err(format!("bad character {}", go_char_desc(c)));
        }
        let word = &self.src[start..self.pos];
        let tok = match word {
            "block" => Tok::Block,
            "break" => Tok::Break,
            "continue" => Tok::Continue,
            "define" => Tok::Define,
            "else" => Tok::Else,
            "end" => Tok::End,
            "if" => Tok::If,
            "range" => Tok::Range,
            "nil" => Tok::Nil,
            "template" => Tok::Template,
            "with" => Tok::With,
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            w => Tok::Ident(w.to_string()),
        };
        self.emit(tok, start);
        Ok(())
    }

    fn number(&mut self) -> LexResult<()> {
        let start = self.pos;
        if !self.scan_number() {
            return Err(SyntaxError {
                msg: format!("bad number syntax: {:?}", &self.src[start..self.pos]),
                pos: start,
            });
        }
        if matches!(self.peek(), Some('+' | '-')) {
            // Go reads `1+2i` as a complex number; msws has no complex numbers.
            self.scan_number();
            return Err(SyntaxError {
                msg: format!("bad number syntax: {:?}", &self.src[start..self.pos]),
                pos: start,
            });
        }
        self.emit(Tok::Number(self.src[start..self.pos].to_string()), start);
        Ok(())
    }

    fn accept(&mut self, set: &str) -> bool {
        if self.peek().is_some_and(|c| set.contains(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            self.pos += self.peek().map_or(1, char::len_utf8);
            return false;
        }
        true
    }

    fn quote(&mut self) -> LexResult<()> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') | None => return self.err("unterminated quoted string"),
                        Some(c) => self.pos += c.len_utf8(),
                    }
                }
                Some('\n') | None => return self.err("unterminated quoted string"),
                Some('"') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        self.emit(Tok::Str(self.src[start..self.pos].to_string()), start);
        Ok(())
    }

    fn raw_quote(&mut self) -> LexResult<()> {
        let start = self.pos;
        self.pos += 1;
        match self.rest().find('`') {
            None => self.err("unterminated raw quoted string"),
            Some(x) => {
                self.pos += x + 1;
                self.emit(Tok::RawStr(self.src[start..self.pos].to_string()), start);
                Ok(())
            }
        }
    }

    fn char_const(&mut self) -> LexResult<()> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some('\n') | None => return self.err("unterminated character constant"),
                        Some(c) => self.pos += c.len_utf8(),
                    }
                }
                Some('\n') | None => return self.err("unterminated character constant"),
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        self.emit(Tok::CharConst(self.src[start..self.pos].to_string()), start);
        Ok(())
    }
}

/// Go's `%#U` of a rune: `U+002D '-'`.
fn go_char_desc(c: char) -> String {
    if c.is_control() { format!("U+{:04X}", c as u32) } else { format!("U+{:04X} '{c}'", c as u32) }
}

// ---- unquoting ---------------------------------------------------------------------------

/// `strconv.Unquote` for `"…"`, `` `…` `` and `'…'`.
pub fn unquote(s: &str) -> Option<String> {
    if let Some(raw) = s.strip_prefix('`').and_then(|s| s.strip_suffix('`')) {
        return Some(raw.replace('\r', ""));
    }
    let (q, body) = if let Some(b) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        ('"', b)
    } else if let Some(b) = s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        ('\'', b)
    } else {
        return None;
    };
    let mut out = String::new();
    let mut chars = body.chars().peekable();
    while let Some(c) = chars.next() {
        if c == q || c == '\n' {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars.next()?;
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '"' if q == '"' => out.push('"'),
            '\'' if q == '\'' => out.push('\''),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let mut v = 0u32;
                for _ in 0..n {
                    v = v * 16 + chars.next()?.to_digit(16)?;
                }
                if e == 'x' {
                    // A byte; msws strings are UTF-8, so bytes past ASCII become their code point.
                    out.push(char::from_u32(v)?);
                } else {
                    out.push(char::from_u32(v)?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + chars.next()?.to_digit(8)?;
                }
                if v > 255 {
                    return None;
                }
                out.push(char::from_u32(v)?);
            }
            _ => return None,
        }
    }
    if q == '\'' && out.chars().count() != 1 {
        return None;
    }
    Some(out)
}

fn parse_number(text: &str, is_char: bool) -> Result<Number, String> {
    let mut n = Number { text: text.to_string(), is_int: false, int: 0, is_uint: false, is_float: false, float: 0.0 };
    if is_char {
        let s = unquote(text).ok_or_else(|| format!("malformed character constant: {text}"))?;
        let c = s.chars().next().unwrap_or('\0') as i64;
        n.is_int = true;
        n.int = c;
        n.is_uint = true;
        n.is_float = true;
        n.float = c as f64;
        return Ok(n);
    }
    if text.ends_with('i') {
        return Err(format!("illegal number syntax: {text:?}"));
    }
    let u = super::value::go_parse_uint(text.strip_prefix('+').unwrap_or(text));
    let u = if text.starts_with('-') { None } else { u };
    if u.is_some() {
        n.is_uint = true;
    }
    if let Some(i) = super::value::go_parse_int(text) {
        n.is_int = true;
        n.int = i;
        if i == 0 {
            n.is_uint = true;
        }
    }
    if n.is_int {
        n.is_float = true;
        n.float = n.int as f64;
    } else if let Some(u) = u {
        n.is_float = true;
        n.float = u as f64;
    } else if let Some(f) = go_parse_float_literal(text) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!("integer overflow: {text:?}"));
        }
        n.is_float = true;
        n.float = f;
        if !n.is_int && (f as i64) as f64 == f && f.abs() < 9.2e18 {
            n.is_int = true;
            n.int = f as i64;
        }
        if !n.is_uint && f >= 0.0 && (f as u64) as f64 == f && f < 1.8e19 {
            n.is_uint = true;
        }
    }
    if !n.is_int && !n.is_uint && !n.is_float {
        return Err(format!("illegal number syntax: {text:?}"));
    }
    Ok(n)
}

/// Float literals as Go's `strconv.ParseFloat` reads them (underscores allowed between digits).
fn go_parse_float_literal(text: &str) -> Option<f64> {
    let clean: String = text.chars().filter(|&c| c != '_').collect();
    if clean.len() != text.len() && !text.chars().zip(text.chars().skip(1)).all(|(a, b)| !(a == '_' && b == '_')) {
        return None;
    }
    if clean.starts_with("0x") || clean.starts_with("0X") || clean.contains(['p', 'P']) {
        return None;
    }
    let f: f64 = clean.parse().ok()?;
    if f.is_infinite() { None } else { Some(f) }
}

// ---- parser ------------------------------------------------------------------------------

/// The names of the functions Helm defines; a template naming any other is refused when
/// parsed, as Go does.
pub trait FuncCheck {
    fn has_function(&self, name: &str) -> bool;
}

struct Parser<'a> {
    items: Vec<Item>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    depth: usize,
    funcs: &'a dyn FuncCheck,
    defines: Vec<(String, Vec<Node>)>,
}

type PResult<T> = Result<T, SyntaxError>;

/// Nesting deeper than this is refused rather than risking the stack.
const MAX_NESTING: usize = 100;

/// A parsed text: its top-level nodes and the templates it `define`s.
pub type ParsedText = (Vec<Node>, Vec<(String, Vec<Node>)>);

/// Parses a template text: its top-level nodes and the templates it `define`s.
pub fn parse(name: &str, src: &str, funcs: &dyn FuncCheck) -> Result<ParsedText, SyntaxError> {
    let items = Lexer { src, pos: 0, items: Vec::new(), paren_depth: 0 }.run()?;
    let _ = name;
    let mut p = Parser { items, i: 0, vars: vec!["$".into()], range_depth: 0, depth: 0, funcs, defines: Vec::new() };
    let root = p.parse_top()?;
    Ok((root, p.defines))
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Item {
        &self.items[self.i.min(self.items.len() - 1)]
    }

    fn next(&mut self) -> Item {
        let it = self.peek().clone();
        self.i += 1;
        it
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.tok != Tok::Space {
                return it;
            }
        }
    }

    /// Go's peekNonSpace: skips (consumes) spaces and returns the next token without taking it.
    fn peek_non_space(&mut self) -> Item {
        while self.peek().tok == Tok::Space {
            self.i += 1;
        }
        self.peek().clone()
    }

    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> PResult<T> {
        Err(SyntaxError { msg: msg.into(), pos })
    }

    fn unexpected<T>(&self, it: &Item, context: &str) -> PResult<T> {
        if it.tok == Tok::Eof {
            // Go: "unexpected EOF" is reported by the list reader; inside an action it is this.
            return self.err(it.pos, format!("unexpected EOF in {context}"));
        }
        self.err(it.pos, format!("unexpected {} in {context}", it.tok.describe()))
    }

    fn parse_top(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().tok != Tok::Eof {
            if self.peek().tok == Tok::LeftDelim {
                let save = self.i;
                self.next();
                if self.next_non_space().tok == Tok::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.i = save;
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.push(n),
                Parsed::End(pos) => return self.err(pos, "unexpected {{end}}"),
                Parsed::Else(pos) => return self.err(pos, "unexpected {{else}}"),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let it = self.next_non_space();
        let name = match &it.tok {
            Tok::Str(s) | Tok::RawStr(s) => {
                unquote(s).ok_or_else(|| SyntaxError { msg: "invalid syntax".into(), pos: it.pos })?
            }
            _ => return self.unexpected(&it, context),
        };
        let close = self.next_non_space();
        if close.tok != Tok::RightDelim {
            return self.unexpected(&close, context);
        }
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if let End::Else(pos) = end {
            return self.err(pos, format!("unexpected {{{{else}}}} in {context}"));
        }
        self.defines.push((name, list));
        Ok(())
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, End)> {
        let mut list = Vec::new();
        loop {
            if self.peek_non_space().tok == Tok::Eof {
                let pos = self.peek().pos;
                return self.err(pos, "unexpected EOF");
            }
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                Parsed::End(_) => return Ok((list, End::End)),
                Parsed::Else(pos) => return Ok((list, End::Else(pos))),
            }
        }
    }

    fn text_or_action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Text(t) => Ok(Parsed::Node(Node::Text(t))),
            Tok::LeftDelim => {
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return self.err(it.pos, "template nested too deeply");
                }
                let r = self.action();
                self.depth -= 1;
                r
            }
            _ => self.unexpected(&it, "input"),
        }
    }

    fn action(&mut self) -> PResult<Parsed> {
        let it = self.next_non_space();
        match it.tok {
            Tok::Block => return self.block_control(it.pos).map(Parsed::Node),
            Tok::Break | Tok::Continue => {
                let is_break = it.tok == Tok::Break;
                let close = self.next_non_space();
                let word = if is_break { "{{break}}" } else { "{{continue}}" };
                if close.tok != Tok::RightDelim {
                    return self.unexpected(&close, word);
                }
                if self.range_depth == 0 {
                    return self.err(it.pos, format!("{word} outside {{{{range}}}}"));
                }
                return Ok(Parsed::Node(if is_break { Node::Break } else { Node::Continue }));
            }
            Tok::Else => {
                let peek = self.peek_non_space();
                if peek.tok == Tok::If || peek.tok == Tok::With {
                    return Ok(Parsed::Else(it.pos));
                }
                let close = self.next_non_space();
                if close.tok != Tok::RightDelim {
                    return self.unexpected(&close, "else");
                }
                return Ok(Parsed::Else(it.pos));
            }
            Tok::End => {
                let close = self.next_non_space();
                if close.tok != Tok::RightDelim {
                    return self.unexpected(&close, "end");
                }
                return Ok(Parsed::End(it.pos));
            }
            Tok::If => return self.control("if").map(|c| Parsed::Node(Node::If(c))),
            Tok::Range => return self.control("range").map(|c| Parsed::Node(Node::Range(c))),
            Tok::With => return self.control("with").map(|c| Parsed::Node(Node::With(c))),
            Tok::Template => return self.template_control().map(Parsed::Node),
            _ => {}
        }
        self.i -= 1;
        let pipe = self.pipeline("command", Tok::RightDelim)?;
        Ok(Parsed::Node(Node::Action(pipe)))
    }

    fn control(&mut self, context: &str) -> PResult<Control> {
        let nvars = self.vars.len();
        let r = self.control_inner(context);
        self.vars.truncate(nvars);
        r
    }

    fn control_inner(&mut self, context: &str) -> PResult<Control> {
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, end) = r?;
        let mut else_list = None;
        if let End::Else(_) = end {
            let next = self.peek().tok.clone();
            if context == "if" && next == Tok::If {
                self.next();
                let inner = self.control("if")?;
                else_list = Some(vec![Node::If(inner)]);
            } else if context == "with" && next == Tok::With {
                self.next();
                let inner = self.control("with")?;
                else_list = Some(vec![Node::With(inner)]);
            } else {
                let (l, end) = self.item_list()?;
                if let End::Else(p) = end {
                    return self.err(p, "expected end; found {{else}}");
                }
                else_list = Some(l);
            }
        }
        Ok(Control { pos: pipe.pos, pipe, list, else_list })
    }

    fn template_name(&mut self, context: &str) -> PResult<(usize, String)> {
        let it = self.next_non_space();
        match &it.tok {
            Tok::Str(s) | Tok::RawStr(s) => {
                let name = unquote(s).ok_or_else(|| SyntaxError { msg: "invalid syntax".into(), pos: it.pos })?;
                Ok((it.pos, name))
            }
            _ => self.unexpected(&it, context),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        let context = "template clause";
        let (pos, name) = self.template_name(context)?;
        let pipe = if self.peek_non_space().tok == Tok::RightDelim {
            self.next_non_space();
            None
        } else {
            Some(self.pipeline(context, Tok::RightDelim)?)
        };
        Ok(Node::Template { pos, name, pipe })
    }

    fn block_control(&mut self, pos: usize) -> PResult<Node> {
        let context = "block clause";
        let (_, name) = self.template_name(context)?;
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let r = self.item_list();
        self.vars = saved_vars;
        let (list, end) = r?;
        if let End::Else(p) = end {
            return self.err(p, format!("unexpected {{{{else}}}} in {context}"));
        }
        self.defines.push((name.clone(), list));
        Ok(Node::Template { pos, name, pipe: Some(pipe) })
    }

    fn pipeline(&mut self, context: &str, end: Tok) -> PResult<Pipe> {
        let first = self.peek_non_space();
        let mut pipe = Pipe { pos: first.pos, is_assign: false, decl: Vec::new(), cmds: Vec::new() };
        // Declarations: `$x :=`, `$x =`, `$i, $v :=`.
        loop {
            let v = self.peek_non_space();
            let Tok::Variable(name) = &v.tok else { break };
            let save = self.i;
            self.next();
            let next = self.peek_non_space();
            match next.tok {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = next.tok == Tok::Assign;
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    break;
                }
                Tok::Char(',') => {
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().tok {
                            Tok::Variable(_) | Tok::RightDelim | Tok::RightParen => continue,
                            _ => return self.err(next.pos, "range can only initialize variables"),
                        }
                    }
                    return self.err(next.pos, format!("too many declarations in {context}"));
                }
                _ => {
                    self.i = save;
                    break;
                }
            }
        }
        loop {
            let it = self.next_non_space();
            if it.tok == end {
                if pipe.cmds.is_empty() {
                    return self.err(it.pos, format!("missing value for {context}"));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args[0],
                        Operand::Bool(..)
                            | Operand::Dot(_)
                            | Operand::Nil(_)
                            | Operand::Number(..)
                            | Operand::Str { .. }
                    ) {
                        return self.err(c.pos, format!("non executable command in pipeline stage {}", i + 1));
                    }
                }
                return Ok(pipe);
            }
            match it.tok {
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Ident(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::RawStr(_)
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.i -= 1;
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&it, context),
            }
        }
    }

    fn command(&mut self) -> PResult<Cmd> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Cmd { pos, args: Vec::new() };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let it = self.next();
            match it.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => {
                    self.i -= 1;
                }
                Tok::Pipe => {}
                _ => return self.unexpected(&it, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.err(pos, "empty command");
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Operand>> {
        let Some(node) = self.term()? else { return Ok(None) };
        if let Tok::Field(_) = self.peek().tok {
            let chain_pos = self.peek().pos;
            let mut fields = Vec::new();
            while let Tok::Field(f) = &self.peek().tok {
                fields.push(f[1..].to_string());
                self.next();
            }
            return Ok(Some(match node {
                Operand::Field { mut idents, .. } => {
                    idents.extend(fields);
                    Operand::Field { pos: chain_pos, idents }
                }
                Operand::Variable { name, fields: mut fs, .. } => {
                    fs.extend(fields);
                    Operand::Variable { pos: chain_pos, name, fields: fs }
                }
                Operand::Bool(..) | Operand::Str { .. } | Operand::Number(..) | Operand::Nil(_) | Operand::Dot(_) => {
                    return self.err(chain_pos, format!("unexpected . after term {:?}", node.to_string()));
                }
                other => Operand::Chain { pos: chain_pos, node: Box::new(other), fields },
            }));
        }
        Ok(Some(node))
    }

    fn term(&mut self) -> PResult<Option<Operand>> {
        let it = self.next_non_space();
        Ok(Some(match it.tok {
            Tok::Ident(name) => {
                if !self.funcs.has_function(&name) {
                    return self.err(it.pos, format!("function {name:?} not defined"));
                }
                Operand::Ident(it.pos, name)
            }
            Tok::Dot => Operand::Dot(it.pos),
            Tok::Nil => Operand::Nil(it.pos),
            Tok::Variable(v) => {
                let (name, rest) = match v.find('.') {
                    Some(i) => (v[..i].to_string(), v[i + 1..].split('.').map(str::to_string).collect()),
                    None => (v.clone(), Vec::new()),
                };
                if !self.vars.contains(&name) {
                    return self.err(it.pos, format!("undefined variable {name:?}"));
                }
                Operand::Variable { pos: it.pos, name, fields: rest }
            }
            Tok::Field(f) => Operand::Field { pos: it.pos, idents: vec![f[1..].to_string()] },
            Tok::Bool(b) => Operand::Bool(it.pos, b),
            Tok::Number(t) => {
                Operand::Number(it.pos, parse_number(&t, false).map_err(|m| SyntaxError { msg: m, pos: it.pos })?)
            }
            Tok::CharConst(t) => {
                Operand::Number(it.pos, parse_number(&t, true).map_err(|m| SyntaxError { msg: m, pos: it.pos })?)
            }
            Tok::LeftParen => {
                self.depth += 1;
                if self.depth > MAX_NESTING {
                    return self.err(it.pos, "template nested too deeply");
                }
                let p = self.pipeline("parenthesized pipeline", Tok::RightParen);
                self.depth -= 1;
                Operand::Pipe(Box::new(p?))
            }
            Tok::Str(q) | Tok::RawStr(q) => {
                let text = unquote(&q).ok_or_else(|| SyntaxError { msg: "invalid syntax".into(), pos: it.pos })?;
                Operand::Str { pos: it.pos, text, quoted: q }
            }
            _ => {
                self.i -= 1;
                return Ok(None);
            }
        }))
    }
}

enum Parsed {
    Node(Node),
    End(usize),
    Else(usize),
}

enum End {
    End,
    Else(usize),
}

/// Parsed templates by name.
pub type TreeMap = HashMap<String, Rc<Tree>>;

/// Turns a byte offset into Go's `line:col` (1-based line, 0-based byte column).
pub fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let before = &src[..pos];
    let line = 1 + before.matches('\n').count();
    let col = match before.rfind('\n') {
        Some(nl) => pos - nl - 1,
        None => pos,
    };
    (line, col)
}

impl SyntaxError {
    pub fn into_error(self, name: &str, src: &str) -> TplError {
        let (line, col) = line_col(src, self.pos);
        TplError::parse(name, line, col, self.msg)
    }
}
