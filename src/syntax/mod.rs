//! Stage 1, parse: KDL text → msws's own syntax tree (names, values, spans), and `msws fmt`.
//!
//! This is the only module that touches the `kdl` crate. Spans are copied out of the `kdl` document
//! into [`Node`]s right after parsing; nothing later looks at a `KdlDocument` again.

mod fast;
pub mod fmt;
mod v1;

pub use v1::quote;

use std::sync::Arc;

use kdl::{KdlDocument, KdlNode, KdlValue};

use crate::diag::{Diagnostic, FileId, Sink, Span};

/// A parsed file.
#[derive(Clone, Debug)]
pub struct Document {
    pub file: FileId,
    pub nodes: Vec<Node>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    String(String),
    Int(i128),
    Float(f64),
    Bool(bool),
    Null,
}

impl Literal {
    /// The word used in "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Literal::String(_) => "a string",
            Literal::Int(_) => "an integer",
            Literal::Float(_) => "a number",
            Literal::Bool(_) => "a boolean",
            Literal::Null => "#null",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub literal: Literal,
    /// A type annotation, `(t)"value"`.
    pub ty: Option<Box<Ident>>,
    pub span: Span,
    /// Set on values copied in from a preset.
    pub origin: Option<Arc<Origin>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Prop {
    pub key: Ident,
    pub value: Value,
    /// The whole `key=value`.
    pub span: Span,
}

/// Where a node came from when a preset put it there: the preset's name and the `extends` that
/// used it (itself possibly inside another preset).
#[derive(Clone, Debug, PartialEq)]
pub struct Origin {
    pub preset: String,
    pub used_at: Span,
    pub parent: Option<Arc<Origin>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: Ident,
    pub ty: Option<Box<Ident>>,
    pub args: Vec<Value>,
    pub props: Vec<Prop>,
    pub children: Option<Vec<Node>>,
    /// The whole node, children included.
    pub span: Span,
    /// Set on nodes copied in from a preset.
    pub origin: Option<Arc<Origin>>,
}

impl Node {
    pub fn prop(&self, key: &str) -> Option<&Prop> {
        // KDL: the rightmost of repeated properties wins.
        self.props.iter().rev().find(|p| p.key.name == key)
    }
    pub fn children(&self) -> &[Node] {
        self.children.as_deref().unwrap_or(&[])
    }
    /// The span to point at when talking about the node as a whole: its name and first argument.
    pub fn head_span(&self) -> Span {
        match self.args.first() {
            Some(a) => self.name.span.to(a.span),
            None => self.name.span,
        }
    }
    /// A node's first argument as a string, for nodes keyed by name (`container "vllm"`).
    pub fn key(&self) -> Option<&str> {
        match self.args.first().map(|a| &a.literal) {
            Some(Literal::String(s)) => Some(s),
            _ => None,
        }
    }
}

/// Which KDL syntax a file was written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KdlVersion {
    V2,
    V1,
}

/// Parses `text` as KDL v2, falling back to KDL v1 with a warning. Syntax errors go to `sink`.
///
/// Most files are read by the fast parser (`fast.rs`); whatever it does not handle — every error
/// among it — goes through the `kdl` crate.
pub fn parse(file: FileId, text: &str, sink: &mut Sink) -> Option<Document> {
    if let Some(nodes) = fast::parse(file, text) {
        return Some(Document { file, nodes });
    }
    parse_full(file, text, sink)
}

/// The fast parser alone: `None` when it leaves the text to the full parser. For the differential
/// test.
#[doc(hidden)]
pub fn parse_fast(file: FileId, text: &str) -> Option<Vec<Node>> {
    fast::parse(file, text)
}

/// The full parser (the `kdl` crate) alone, KDL v2 only. For the differential test.
#[doc(hidden)]
pub fn parse_kdl_v2(file: FileId, text: &str) -> Option<Vec<Node>> {
    let doc = KdlDocument::parse_v2(text).ok()?;
    Some(doc.nodes().iter().map(|n| convert(file, text, n)).collect())
}

fn parse_full(file: FileId, text: &str, sink: &mut Sink) -> Option<Document> {
    let (doc, version) = match parse_kdl(text) {
        Ok(ok) => ok,
        Err(err) => {
            let messages: Vec<String> = err.diagnostics.iter().filter_map(|d| d.message.clone()).collect();
            for d in err.diagnostics {
                let start = d.span.offset().min(text.len());
                let end = (start + d.span.len()).min(text.len());
                let message = d.message.unwrap_or_else(|| "invalid KDL".into());
                // An unclosed block is reported twice by the parser, at its `{` and over its
                // whole body; the first says it all.
                if message.starts_with("Closing '}' was not found")
                    && messages.iter().any(|m| m.starts_with("No closing '}'"))
                {
                    continue;
                }
                let found = text.get(start..end).unwrap_or("");
                let (message, label, help) = explain(message, d.label, d.help, found);
                let mut diag = Diagnostic::error("msws::syntax", message).label(Span::new(file, start, end), label);
                if let Some(h) = help {
                    diag = diag.help(h);
                }
                sink.push(diag);
            }
            return None;
        }
    };
    if version == KdlVersion::V1 {
        let first = doc.nodes().first().map(|n| n.name().span());
        let span = first.map(|s| Span::new(file, s.offset(), s.offset() + s.len())).unwrap_or(Span::detached(file));
        sink.push(
            Diagnostic::warning("msws::kdl-v1", "this file is written in KDL v1 syntax")
                .label(span, "parsed as KDL v1")
                .help("KDL v1 is still read, but support will be removed; `msws fmt` rewrites the file in KDL v2"),
        );
    }
    Some(Document { file, nodes: doc.nodes().iter().map(|n| convert(file, text, n)).collect() })
}

/// Rewrites the parser's message, label and help for the mistakes people make most in workspace
/// files, in msws's words; anything else keeps the parser's text (with a lowercase start, like
/// every other message).
fn explain(
    message: String,
    label: Option<String>,
    help: Option<String>,
    found: &str,
) -> (String, String, Option<String>) {
    let starts_like_number = found.trim_start_matches(['+', '-']).starts_with(|c: char| c.is_ascii_digit());
    if matches!(found, "true" | "false" | "null") {
        return (
            format!("`{found}` is not a value in KDL v2"),
            "a bare word".into(),
            Some(format!("KDL v2 writes `#{found}`; `\"{found}\"` is a string")),
        );
    }
    if message.starts_with("Expected") && starts_like_number && !found.is_empty() {
        return (
            format!("`{found}` is not a number"),
            "not a number".into(),
            Some(format!("quote it: `\"{found}\"`; quantities (`5Gi`), durations (`10m`) and versions are strings")),
        );
    }
    if message.starts_with("Expected identifier string") && !found.is_empty() {
        // Typically a Kubernetes key (`app.kubernetes.io/name`) or a path written bare.
        let bare = found.split(['=', ' ']).next().unwrap_or(found);
        return (
            format!("`{bare}` must be quoted"),
            "not a valid bare word".into(),
            Some(format!(
                "write `\"{bare}\"`; only plain words can go without quotes, not ones containing `/`, `(`, `)`, `{{`, `}}`, `[`, `]`, `;`, `=`, `#` or quotes"
            )),
        );
    }
    if message.starts_with("Unexpected newline in single-line quoted string") {
        return (
            "this string is not closed".into(),
            "no closing `\"` on this line".into(),
            Some("add the closing `\"`; a string that spans lines is written between `\"\"\"` lines".into()),
        );
    }
    if message.starts_with("No closing '}'") {
        return (
            "this `{` is never closed".into(),
            "opened here".into(),
            Some("add a `}` after the last child of this node".into()),
        );
    }
    if message.starts_with("Expected end of document") && found == "}" {
        return (
            "this `}` closes nothing".into(),
            "no `{` is open here".into(),
            Some("remove it, or look for a node above that closes its block twice".into()),
        );
    }
    let mut chars = message.chars();
    let message = match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => message,
    };
    (message, label.unwrap_or_else(|| "here".into()), help)
}

/// Parses KDL v2 first, then v1. A v1 parse is used only when it succeeds; otherwise the v2 errors
/// are the ones the user sees, since v2 is the language we document.
pub(crate) fn parse_kdl(text: &str) -> Result<(KdlDocument, KdlVersion), kdl::KdlError> {
    match KdlDocument::parse_v2(text) {
        Ok(doc) => Ok((doc, KdlVersion::V2)),
        Err(v2_err) => match KdlDocument::parse_v1(text) {
            Ok(doc) => Ok((doc, KdlVersion::V1)),
            Err(_) => Err(v2_err),
        },
    }
}

fn span_of(file: FileId, s: miette::SourceSpan) -> Span {
    Span::new(file, s.offset(), s.offset() + s.len())
}

fn convert(file: FileId, text: &str, n: &KdlNode) -> Node {
    let ident = |i: &kdl::KdlIdentifier| Ident { name: i.value().to_string(), span: span_of(file, i.span()) };
    let mut args = Vec::new();
    let mut props = Vec::new();
    for e in n.entries() {
        let value = Value {
            literal: match e.value() {
                KdlValue::String(s) => Literal::String(s.clone()),
                KdlValue::Integer(i) => Literal::Int(*i),
                KdlValue::Float(f) => Literal::Float(*f),
                KdlValue::Bool(b) => Literal::Bool(*b),
                KdlValue::Null => Literal::Null,
            },
            ty: e.ty().map(|t| Box::new(ident(t))),
            span: span_of(file, e.span()),
            origin: None,
        };
        match e.name() {
            Some(k) => {
                // The entry's span covers `key=value`; the value alone starts after the `=` and any
                // space KDL v2 allows around it.
                let key = ident(k);
                let whole = span_of(file, e.span());
                let rest = text.get(key.span.end as usize..whole.end as usize).unwrap_or("");
                let skip = rest.find('=').map(|i| i + 1).unwrap_or(0);
                let skip = skip + rest[skip..].len() - rest[skip..].trim_start().len();
                let value_span = Span { start: key.span.end + skip as u32, ..whole };
                props.push(Prop { key, value: Value { span: value_span, ..value }, span: whole });
            }
            None => args.push(value),
        }
    }
    Node {
        name: ident(n.name()),
        ty: n.ty().map(|t| Box::new(ident(t))),
        args,
        props,
        children: n.children().map(|c| c.nodes().iter().map(|n| convert(file, text, n)).collect()),
        span: span_of(file, n.span()),
        origin: None,
    }
}
