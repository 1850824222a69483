//! A small tree of KDL nodes and its printer, for the workspace `import-values` writes. The text
//! is then put through `msws fmt`'s formatter, which also checks that it parses.

/// A value: an argument or a property.
#[derive(Clone, Debug, PartialEq)]
pub enum KVal {
    Str(String),
    /// A reference to a variable, written `"${name}"` (a `Str` holding `${` is escaped instead).
    Var(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl KVal {
    /// A JSON scalar as a KDL value (arrays and objects are written as nodes, never as values).
    pub fn from_json(v: &serde_json::Value) -> KVal {
        match v {
            serde_json::Value::String(s) => KVal::Str(s.clone()),
            serde_json::Value::Bool(b) => KVal::Bool(*b),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => KVal::Int(i),
                (None, Some(f)) => KVal::Float(f),
                _ => KVal::Str(n.to_string()),
            },
            _ => KVal::Null,
        }
    }
}

impl From<&str> for KVal {
    fn from(s: &str) -> KVal {
        KVal::Str(s.to_string())
    }
}
impl From<String> for KVal {
    fn from(s: String) -> KVal {
        KVal::Str(s)
    }
}
impl From<&String> for KVal {
    fn from(s: &String) -> KVal {
        KVal::Str(s.clone())
    }
}
impl From<i64> for KVal {
    fn from(i: i64) -> KVal {
        KVal::Int(i)
    }
}
impl From<bool> for KVal {
    fn from(b: bool) -> KVal {
        KVal::Bool(b)
    }
}

#[derive(Clone, Debug, Default)]
pub struct KNode {
    /// Line comments printed above the node.
    pub comments: Vec<String>,
    pub name: String,
    pub args: Vec<KVal>,
    pub props: Vec<(String, KVal)>,
    pub children: Vec<KNode>,
}

impl KNode {
    pub fn new(name: &str) -> KNode {
        KNode { name: name.to_string(), ..KNode::default() }
    }
    pub fn arg(mut self, v: impl Into<KVal>) -> KNode {
        self.args.push(v.into());
        self
    }
    pub fn prop(mut self, key: &str, v: impl Into<KVal>) -> KNode {
        self.props.push((key.to_string(), v.into()));
        self
    }
    pub fn child(mut self, c: KNode) -> KNode {
        self.children.push(c);
        self
    }
    pub fn comment(mut self, text: impl Into<String>) -> KNode {
        self.comments.push(text.into());
        self
    }
    pub fn push(&mut self, c: KNode) {
        self.children.push(c);
    }

    /// Raw Kubernetes fields as nodes (see `lower::raw`).
    pub fn from_written(w: &crate::lower::raw::Written) -> KNode {
        KNode {
            comments: Vec::new(),
            name: match w.ty {
                Some(t) => format!("({t}){}", ident(&w.name)),
                None => w.name.clone(),
            },
            args: w.args.iter().map(KVal::from_json).collect(),
            props: w.props.iter().map(|(k, v)| (k.clone(), KVal::from_json(v))).collect(),
            children: w.children.iter().map(KNode::from_written).collect(),
        }
    }

    /// A block of raw fields: `pod { … }`, `container { … }`.
    pub fn raw_block(name: &str, fields: &[crate::lower::raw::Written]) -> KNode {
        KNode { children: fields.iter().map(KNode::from_written).collect(), ..KNode::new(name) }
    }
}

/// The document: top-level nodes separated by blank lines, with an opening comment.
pub fn print(header: &[String], nodes: &[KNode]) -> String {
    let mut out = String::new();
    for line in header {
        push_comment(&mut out, "", line);
    }
    for (i, n) in nodes.iter().enumerate() {
        if i > 0 || !header.is_empty() {
            out.push('\n');
        }
        print_node(&mut out, n, 0);
    }
    out
}

fn push_comment(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        out.push_str(indent);
        out.push_str("//");
        if !line.is_empty() {
            out.push(' ');
            out.push_str(line);
        }
        out.push('\n');
    }
}

fn print_node(out: &mut String, n: &KNode, depth: usize) {
    let indent = "    ".repeat(depth);
    for c in &n.comments {
        push_comment(out, &indent, c);
    }
    out.push_str(&indent);
    // A type annotation is written in front of the (already quoted) name.
    if n.name.starts_with('(') {
        out.push_str(&n.name);
    } else {
        out.push_str(&ident(&n.name));
    }
    for a in &n.args {
        out.push(' ');
        out.push_str(&value(a));
    }
    for (k, v) in &n.props {
        out.push(' ');
        out.push_str(&ident(k));
        out.push('=');
        out.push_str(&value(v));
    }
    if n.children.is_empty() {
        out.push('\n');
        return;
    }
    out.push_str(" {\n");
    for c in &n.children {
        print_node(out, c, depth + 1);
    }
    out.push_str(&indent);
    out.push_str("}\n");
}

/// A node name or property key: bare when KDL v2 allows it and it reads plainly, else quoted.
pub fn ident(s: &str) -> String {
    // The element marker of raw lists (`- name="x"`) is a bare identifier in KDL v2.
    if s == "-" {
        return s.to_string();
    }
    let mut chars = s.chars();
    let plain = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !matches!(s, "true" | "false" | "null" | "inf" | "nan");
    if plain { s.to_string() } else { crate::syntax::quote(s) }
}

/// A value as KDL. Strings are written so that msws reads them back unchanged: `${` (which msws
/// would substitute as a variable) is escaped as `$${`, and strings holding quotes or
/// backslashes are raw strings (`#"{"a":1}"#`), which read better than escapes.
pub fn value(v: &KVal) -> String {
    match v {
        KVal::Int(i) => i.to_string(),
        // Written so that it reads back as a float (`1.0`, not `1`).
        KVal::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.1}"),
        KVal::Float(f) if f.is_finite() && f.fract() == 0.0 => format!("{f:e}"),
        KVal::Float(f) if f.is_finite() => format!("{f}"),
        KVal::Float(f) if f.is_nan() => "#nan".into(),
        KVal::Float(f) if *f > 0.0 => "#inf".into(),
        KVal::Float(_) => "#-inf".into(),
        KVal::Bool(true) => "#true".into(),
        KVal::Bool(false) => "#false".into(),
        KVal::Null => "#null".into(),
        KVal::Var(name) => crate::syntax::quote(&format!("${{{name}}}")),
        KVal::Str(s) => {
            let s = s.replace("${", "$${");
            let printable = s.chars().all(|c| !c.is_control());
            if printable && (s.contains('"') || s.contains('\\')) {
                let mut hashes = "#".to_string();
                while s.contains(&format!("\"{hashes}")) {
                    hashes.push('#');
                }
                format!("{hashes}\"{s}\"{hashes}")
            } else {
                crate::syntax::quote(&s)
            }
        }
    }
}
