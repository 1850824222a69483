//! Stage 1, parse: KDL text → msws's own syntax tree (names, values, spans), and `msws fmt`.
//!
//! This is the only module that touches the `kdl` crate. Spans are copied out of the `kdl` document
//! into [`Node`]s right after parsing; nothing later looks at a `KdlDocument` again.

pub mod fmt;

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
    pub ty: Option<Ident>,
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
    pub ty: Option<Ident>,
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
pub fn parse(file: FileId, text: &str, sink: &mut Sink) -> Option<Document> {
    let (doc, version) = match parse_kdl(text) {
        Ok(ok) => ok,
        Err(err) => {
            for d in err.diagnostics {
                let start = d.span.offset().min(text.len());
                let end = (start + d.span.len()).min(text.len());
                let mut diag = Diagnostic::error("msws::syntax", d.message.unwrap_or_else(|| "invalid KDL".into()))
                    .label(Span::new(file, start, end), d.label.unwrap_or_else(|| "here".into()));
                if let Some(h) = d.help {
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
            ty: e.ty().map(ident),
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
        ty: n.ty().map(ident),
        args,
        props,
        children: n.children().map(|c| c.nodes().iter().map(|n| convert(file, text, n)).collect()),
        span: span_of(file, n.span()),
        origin: None,
    }
}
