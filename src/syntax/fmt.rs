//! `msws fmt`: a canonical layout for workspace files that keeps every comment and every value as
//! written (quoting style, raw and multi-line strings, numbers).
//!
//! The printer works on tokens, not on the `kdl` crate's document: the document model loses a
//! comment that follows a closing `}` on the same line, and a formatter must never lose a comment.
//! Layout rules: one node per line, four spaces per level, one space between entries, no space
//! around `=`, at most one blank line between nodes and none at the edges of a block, exactly one
//! newline at the end of the file. Before returning, the output is parsed again and compared with
//! the input (same nodes and values, same comments); any difference is an internal error and
//! nothing is written.

use super::{KdlVersion, Literal, Node, parse_kdl};
use crate::diag::FileId;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FmtError {
    #[error("the file is not valid KDL; run `msws validate` to see why")]
    Syntax,
    #[error("internal error: formatting would change the file's meaning ({0}); the file was left untouched")]
    Changed(&'static str),
}

/// Formats a workspace file. KDL v1 input is converted to KDL v2 first.
pub fn format_source(text: &str) -> Result<String, FmtError> {
    let (_, version) = parse_kdl(text).map_err(|_| FmtError::Syntax)?;
    let v2;
    let input = match version {
        KdlVersion::V2 => text,
        KdlVersion::V1 => {
            v2 = super::v1::to_v2(text).ok_or(FmtError::Changed("the KDL v1 text could not be converted"))?;
            &v2
        }
    };
    let tokens = lex(input);
    let out = print(input, &tokens);
    verify(input, &tokens, &out)?;
    // `verify` compares with the converted text; the conversion itself must keep every value too.
    if version == KdlVersion::V1 {
        let mut sink = crate::diag::Sink::new();
        let before = super::parse(FileId(0), text, &mut sink).ok_or(FmtError::Syntax)?;
        let after = super::parse(FileId(0), &out, &mut sink).ok_or(FmtError::Changed("the output does not parse"))?;
        if shape(&before.nodes) != shape(&after.nodes) {
            return Err(FmtError::Changed("converting from KDL v1 changes a value"));
        }
    }
    Ok(out)
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok {
    Space,
    Newline,
    LineComment,
    BlockComment,
    Word,
    LBrace,
    RBrace,
    Semi,
    Eq,
    LParen,
    RParen,
    Slashdash,
    Continuation,
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Tok,
    start: usize,
    end: usize,
}

fn is_newline(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{0C}' | '\u{2028}' | '\u{2029}')
}

fn is_space(c: char) -> bool {
    !is_newline(c) && (c.is_whitespace() || c == '\u{FEFF}')
}

fn is_delimiter(c: char) -> bool {
    is_space(c) || is_newline(c) || matches!(c, '{' | '}' | ';' | '=' | '(' | ')' | '"' | '\\' | '/' | '[' | ']')
}

/// Splits KDL v2 text into tokens. Only called on text `kdl` already accepted, so the lexer can be
/// simple about malformed input: it never panics and never loops, and `verify` catches the rest.
fn lex(s: &str) -> Vec<Token> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let char_at = |i: usize| s[i..].chars().next().unwrap_or('\0');
    while i < s.len() {
        let c = char_at(i);
        let start = i;
        let kind = if is_newline(c) {
            i += if s[i..].starts_with("\r\n") { 2 } else { c.len_utf8() };
            Tok::Newline
        } else if is_space(c) {
            while i < s.len() && is_space(char_at(i)) {
                i += char_at(i).len_utf8();
            }
            Tok::Space
        } else if s[i..].starts_with("//") {
            while i < s.len() && !is_newline(char_at(i)) {
                i += char_at(i).len_utf8();
            }
            Tok::LineComment
        } else if s[i..].starts_with("/*") {
            let mut depth = 0;
            while i < s.len() {
                if s[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if s[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += char_at(i).len_utf8();
                }
            }
            Tok::BlockComment
        } else if s[i..].starts_with("/-") {
            i += 2;
            Tok::Slashdash
        } else if c == '"' || (c == '#' && s[i..].trim_start_matches('#').starts_with('"')) {
            i = end_of_string(s, i);
            Tok::Word
        } else {
            match c {
                '{' | '}' | ';' | '=' | '(' | ')' | '\\' => {
                    i += 1;
                    match c {
                        '{' => Tok::LBrace,
                        '}' => Tok::RBrace,
                        ';' => Tok::Semi,
                        '=' => Tok::Eq,
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        _ => Tok::Continuation,
                    }
                }
                _ => {
                    i += c.len_utf8();
                    while i < s.len() && !is_delimiter(char_at(i)) {
                        i += char_at(i).len_utf8();
                    }
                    Tok::Word
                }
            }
        };
        debug_assert!(i > start || i >= b.len());
        out.push(Token { kind, start, end: i.max(start + 1).min(s.len()) });
        i = i.max(start + 1);
        // Keep `i` on a char boundary after the forced advance above.
        while i < s.len() && !s.is_char_boundary(i) {
            i += 1;
        }
    }
    out
}

/// End (exclusive) of a quoted, raw or multi-line string starting at `i`.
fn end_of_string(s: &str, i: usize) -> usize {
    let hashes = s[i..].chars().take_while(|&c| c == '#').count();
    let q = i + hashes;
    let multi = s[q..].starts_with("\"\"\"");
    let open = if multi { 3 } else { 1 };
    let close: String = format!("{}{}", if multi { "\"\"\"" } else { "\"" }, "#".repeat(hashes));
    let mut j = q + open;
    while j < s.len() {
        if hashes == 0 && s.as_bytes()[j] == b'\\' {
            j += 1;
            j += s[j..].chars().next().map(char::len_utf8).unwrap_or(0);
            continue;
        }
        if s[j..].starts_with(&close) {
            return j + close.len();
        }
        j += s[j..].chars().next().map(char::len_utf8).unwrap_or(1);
    }
    s.len()
}

struct Printer<'a> {
    src: &'a str,
    out: String,
    depth: usize,
    /// Something is on the current output line.
    line_open: bool,
    /// The next word must start a new line (after `;`, `{` or `}`).
    need_break: bool,
    /// The next word follows without a space (after `=`, `(`, `)`, `/-`, or a continuation).
    glue: bool,
    /// Newlines seen since the last content, to keep (at most one) blank line.
    newlines: usize,
    /// At the start of the file or of a block: blank lines here are dropped.
    block_start: bool,
    /// After a `\` line continuation, the next newline does not end the node.
    continuation: bool,
    /// A `\` line continuation between nodes is only whitespace: it and its newline are dropped.
    drop_escline: bool,
    last: Option<Tok>,
}

impl Printer<'_> {
    fn indent(&self) -> String {
        "    ".repeat(self.depth)
    }

    fn end_line(&mut self) {
        if self.line_open {
            self.out.push('\n');
            self.line_open = false;
        }
    }

    fn start_line(&mut self) {
        self.end_line();
        if self.newlines >= 2 && !self.block_start {
            self.out.push('\n');
        }
        self.out.push_str(&self.indent());
        self.line_open = true;
        self.need_break = false;
        self.glue = false;
        self.block_start = false;
        self.newlines = 0;
    }

    /// Places content: on a new line when needed, otherwise after one space (or glued).
    fn place(&mut self) {
        if !self.line_open || self.need_break {
            self.start_line();
        } else if !self.glue {
            self.out.push(' ');
        }
        self.glue = false;
        self.newlines = 0;
    }

    /// Text that may span lines (multi-line strings, block comments): lines after the first move
    /// with the line they start on, so a multi-line string keeps its value.
    fn push_reindented(&mut self, text: &str, start: usize) {
        // Newlines can be wider than one byte (U+2028 is three): step over the whole character.
        let line_start = self.src[..start]
            .rfind(is_newline)
            .map(|i| i + self.src[i..].chars().next().map_or(1, char::len_utf8))
            .unwrap_or(0);
        let orig = self.src[line_start..start].chars().take_while(|&c| is_space(c)).count() as isize;
        let current = self.out.rsplit('\n').next().map(|l| l.len() - l.trim_start().len()).unwrap_or(0) as isize;
        let delta = current - orig;
        let mut lines = text.split('\n');
        self.out.push_str(lines.next().unwrap_or(""));
        let rest: Vec<&str> = lines.collect();
        let can_shift_left =
            rest.iter().all(|l| l.trim().is_empty() || l.chars().take_while(|&c| c == ' ').count() as isize >= -delta);
        for l in rest {
            self.out.push('\n');
            if l.trim().is_empty() {
                self.out.push_str(l.trim_start_matches(' '));
            } else if delta >= 0 {
                self.out.push_str(&" ".repeat(delta as usize));
                self.out.push_str(l);
            } else if can_shift_left {
                self.out.push_str(&l[(-delta) as usize..]);
            } else {
                self.out.push_str(l);
            }
        }
    }
}

fn print(src: &str, tokens: &[Token]) -> String {
    let mut p = Printer {
        src,
        out: String::new(),
        depth: 0,
        line_open: false,
        need_break: false,
        glue: false,
        newlines: 0,
        block_start: true,
        continuation: false,
        drop_escline: false,
        last: None,
    };
    for t in tokens {
        let text = &src[t.start..t.end];
        match t.kind {
            Tok::Space => {}
            Tok::Newline => {
                if p.drop_escline {
                    p.drop_escline = false;
                } else if p.continuation {
                    p.continuation = false;
                    p.out.push('\n');
                    p.out.push_str(&"    ".repeat(p.depth + 1));
                    p.glue = true;
                } else {
                    p.newlines += 1;
                    if p.line_open {
                        p.need_break = true;
                    }
                }
            }
            Tok::LineComment | Tok::BlockComment => {
                // A comment after content on the same line stays there.
                if p.line_open && p.newlines == 0 && !p.glue {
                    p.out.push(' ');
                } else if p.line_open && p.newlines == 0 {
                    // glued (after `(` or `=`): keep it glued
                } else {
                    p.start_line();
                }
                p.push_reindented(text, t.start);
                // After `\`, a line comment ends the line but not the node.
                if t.kind == Tok::LineComment && !p.continuation {
                    p.need_break = true;
                }
                p.newlines = 0;
            }
            Tok::Word => {
                p.place();
                p.push_reindented(text, t.start);
            }
            Tok::Slashdash => {
                p.place();
                p.out.push_str("/-");
                p.glue = true;
            }
            Tok::Eq => {
                p.out.push('=');
                p.glue = true;
            }
            Tok::LParen => {
                p.place();
                p.out.push('(');
                p.glue = true;
            }
            Tok::RParen => {
                p.out.push(')');
                p.glue = true;
            }
            Tok::LBrace => {
                if p.line_open && p.last != Some(Tok::Slashdash) {
                    p.out.push(' ');
                } else if !p.line_open {
                    p.start_line();
                }
                p.out.push('{');
                p.depth += 1;
                p.need_break = true;
                p.glue = false;
                p.block_start = true;
                p.newlines = 0;
            }
            Tok::RBrace => {
                p.depth = p.depth.saturating_sub(1);
                // Nothing printed since the `{`: an empty block stays on one line.
                if p.out.ends_with('{') {
                    p.out.push('}');
                } else {
                    p.end_line();
                    p.out.push_str(&p.indent());
                    p.out.push('}');
                    p.line_open = true;
                }
                p.need_break = true;
                p.block_start = false;
                p.newlines = 0;
            }
            Tok::Semi => p.need_break = true,
            // Between nodes (nothing of a node on the line yet) a continuation means nothing.
            Tok::Continuation if !p.line_open || p.need_break => p.drop_escline = true,
            Tok::Continuation => {
                p.out.push_str(" \\");
                p.continuation = true;
            }
        }
        if t.kind != Tok::Space {
            p.last = Some(t.kind);
        }
    }
    p.end_line();
    let mut out = p.out.trim_end().to_string();
    out.push('\n');
    if out == "\n" {
        out.clear();
    }
    out
}

/// The meaning of a document without its layout: node names, type annotations, values, children.
fn shape(nodes: &[Node]) -> Vec<String> {
    fn lit(l: &Literal) -> String {
        match l {
            Literal::Float(f) => format!("float:{}", f.to_bits()),
            other => format!("{other:?}"),
        }
    }
    fn walk(n: &Node, out: &mut Vec<String>, depth: usize) {
        let mut line = format!("{depth}:{:?}:{}", n.ty.as_ref().map(|t| &t.name), n.name.name);
        for a in &n.args {
            line += &format!(" {:?}{}", a.ty.as_ref().map(|t| &t.name), lit(&a.literal));
        }
        for p in &n.props {
            line += &format!(" {}={:?}{}", p.key.name, p.value.ty.as_ref().map(|t| &t.name), lit(&p.value.literal));
        }
        line += if n.children.is_some() { " {" } else { "" };
        out.push(line);
        for c in n.children() {
            walk(c, out, depth + 1);
        }
    }
    let mut out = Vec::new();
    for n in nodes {
        walk(n, &mut out, 0);
    }
    out
}

fn comments(src: &str, tokens: &[Token]) -> Vec<String> {
    tokens
        .iter()
        .filter(|t| matches!(t.kind, Tok::LineComment | Tok::BlockComment | Tok::Slashdash))
        .map(|t| src[t.start..t.end].lines().map(str::trim).collect::<Vec<_>>().join("\n"))
        .collect()
}

fn verify(input: &str, tokens: &[Token], out: &str) -> Result<(), FmtError> {
    let mut sink = crate::diag::Sink::new();
    let before = super::parse(FileId(0), input, &mut sink).ok_or(FmtError::Syntax)?;
    let after = super::parse(FileId(0), out, &mut sink).ok_or(FmtError::Changed("the output does not parse"))?;
    if shape(&before.nodes) != shape(&after.nodes) {
        return Err(FmtError::Changed("nodes or values differ"));
    }
    if comments(input, tokens) != comments(out, &lex(out)) {
        return Err(FmtError::Changed("comments differ"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expected: &str) {
        let out = format_source(input).unwrap();
        assert_eq!(out, expected, "\n--- got ---\n{out}");
        assert_eq!(format_source(&out).unwrap(), out, "formatting is idempotent");
    }

    /// Found by `formatting_keeps_the_meaning_of_mutated_files`: a `\` on a line of its own between
    /// nodes was glued to the comment above it, and a comment after `\` ended the node.
    #[test]
    fn line_continuations_between_nodes_and_before_comments() {
        check("// c\n\\\nws 1\n", "// c\nws 1\n");
        check("a 1\n\\ // c\nb 2\n", "a 1\n// c\nb 2\n");
        check("a 1 \\ // c\n  2\n", "a 1 \\ // c\n    2\n");
    }

    #[test]
    fn indents_and_spaces() {
        check("a   1   x=2{\nb \"c\";d (t)\"e\"\n  }\n\n\n\nf\n", "a 1 x=2 {\n    b \"c\"\n    d (t)\"e\"\n}\n\nf\n");
    }

    #[test]
    fn keeps_comments_everywhere() {
        let input = "// head\n\nws \"x\" { // after brace\n  labels { a \"b\" } // after block\n\n\n  /* block\n     two */ n 1\n  // last\n}\n// tail\n";
        let expected = "// head\n\nws \"x\" { // after brace\n    labels {\n        a \"b\"\n    } // after block\n\n    /* block\n       two */ n 1\n    // last\n}\n// tail\n";
        check(input, expected);
    }

    #[test]
    fn keeps_string_styles_and_multiline_values() {
        let input = "a #\"raw \"q\"\"# \"\"\"\n      line one\n        line two\n      \"\"\"\n";
        let out = format_source(input).unwrap();
        assert!(out.contains("#\"raw \"q\"\"#"));
        assert_eq!(format_source(&out).unwrap(), out);
        let nested = "x {\ny \"\"\"\n  hi\n  \"\"\"\n}\n";
        let out = format_source(nested).unwrap();
        assert_eq!(out, "x {\n    y \"\"\"\n      hi\n      \"\"\"\n}\n");
    }

    #[test]
    fn slashdash_and_continuations() {
        check(
            "a /-\"b\" \"c\" \\\n   \"d\"\n/-gone {\n x 1\n}\n",
            "a /-\"b\" \"c\" \\\n    \"d\"\n/-gone {\n    x 1\n}\n",
        );
    }

    #[test]
    fn empty_blocks_and_empty_file() {
        check("a {}\nb {\n}\n", "a {}\nb {}\n");
        assert_eq!(format_source("").unwrap(), "");
        assert_eq!(format_source("\n\n// only\n").unwrap(), "// only\n");
    }

    #[test]
    fn v1_input_becomes_v2() {
        let out = format_source("node \"x\" true null\n").unwrap();
        assert!(out.contains("#true") && out.contains("#null"), "{out}");
    }

    #[test]
    fn invalid_input_is_refused() {
        assert_eq!(format_source("a {"), Err(FmtError::Syntax));
    }
}
