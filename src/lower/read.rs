//! Reading syntax nodes into typed values, knuffel-style: a [`Reader`] hands out a node's arguments,
//! properties and children on request and remembers what was asked for, so whatever is left over
//! is reported as unknown — with the names that were asked for as "did you mean" candidates.
//! Every problem goes to the sink and reading carries on with the next value.

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, Sink, Span, did_you_mean};
use crate::model::{Duration, Map, Quantity};
use crate::syntax::{Literal, Node, Origin, Value};

use super::vars::Vars;

/// The lowering context: where diagnostics go and how variables resolve.
pub struct Cx<'a> {
    pub sink: &'a mut Sink,
    pub vars: &'a mut Vars,
}

/// Adds "preset X is used here" notes for a node or value that came from a preset.
pub fn with_origin(mut d: Diagnostic, origin: Option<&Origin>) -> Diagnostic {
    let mut o = origin;
    while let Some(origin) = o {
        d = d.note(
            Diagnostic::new_note(format!("this comes from preset `{}`", origin.preset))
                .label(origin.used_at, "the preset is used here"),
        );
        o = origin.parent.as_deref();
    }
    d
}

impl Cx<'_> {
    pub fn error(&mut self, d: Diagnostic) {
        self.sink.push(d);
    }

    fn report_at(&mut self, v: &Value, code: &'static str, msg: String, label: &str, help: Option<String>) {
        let mut d = Diagnostic::error(code, msg).label(v.span, label);
        if let Some(h) = help {
            d = d.help(h);
        }
        self.sink.push(with_origin(d, v.origin.as_deref()));
    }

    fn wrong_kind(&mut self, v: &Value, expected: &str) {
        let found = v.literal.kind_name();
        self.report_at(
            v,
            "msws::wrong-kind",
            format!("expected {expected}, found {found}"),
            &format!("this is {found}"),
            match (&v.literal, expected) {
                (Literal::Int(i), e) if e.contains("string") => Some(format!("quote it: \"{i}\"")),
                (Literal::String(s), e) if e.contains("boolean") && (s == "true" || s == "false") => {
                    Some(format!("KDL v2 writes booleans as #{s}"))
                }
                (Literal::String(s), e) if e.contains("integer") && s.parse::<i64>().is_ok() => {
                    Some(format!("drop the quotes: {s}"))
                }
                _ => None,
            },
        );
    }

    /// A string, with `${var}` references substituted.
    pub fn string(&mut self, v: &Value) -> Option<String> {
        match &v.literal {
            Literal::String(s) => self.vars.interpolate(s, v, self.sink),
            _ => {
                self.wrong_kind(v, "a string");
                None
            }
        }
    }

    /// A string that must not be empty.
    pub fn nonempty(&mut self, v: &Value, what: &str) -> Option<String> {
        let s = self.string(v)?;
        if s.is_empty() {
            self.report_at(v, "msws::invalid-value", format!("{what} cannot be empty"), "empty", None);
            return None;
        }
        Some(s)
    }

    pub fn int(&mut self, v: &Value) -> Option<i128> {
        match &v.literal {
            Literal::Int(i) => Some(*i),
            Literal::String(s) if Vars::whole_reference(s).is_some() => {
                let text = self.vars.interpolate(s, v, self.sink)?;
                match text.trim().parse::<i128>() {
                    Ok(i) => Some(i),
                    Err(_) => {
                        self.report_at(
                            v,
                            "msws::wrong-kind",
                            format!("expected an integer, but the variable's value is `{text}`"),
                            "this variable",
                            None,
                        );
                        None
                    }
                }
            }
            _ => {
                self.wrong_kind(v, "an integer");
                None
            }
        }
    }

    /// An integer within `[min, max]`.
    pub fn int_in(&mut self, v: &Value, min: i128, max: i128, what: &str) -> Option<i128> {
        let i = self.int(v)?;
        if i < min || i > max {
            let range = if max == i128::from(i32::MAX) || max == i128::from(u32::MAX) {
                format!("at least {min}")
            } else {
                format!("between {min} and {max}")
            };
            self.report_at(v, "msws::invalid-value", format!("{what} must be {range}, not {i}"), "out of range", None);
            return None;
        }
        Some(i)
    }

    pub fn u32(&mut self, v: &Value, min: u32, what: &str) -> Option<u32> {
        self.int_in(v, min.into(), u32::MAX.into(), what).map(|i| i as u32)
    }

    pub fn port(&mut self, v: &Value) -> Option<u16> {
        self.int_in(v, 1, 65535, "a port").map(|i| i as u16)
    }

    pub fn bool(&mut self, v: &Value) -> Option<bool> {
        match &v.literal {
            Literal::Bool(b) => Some(*b),
            Literal::String(s) if Vars::whole_reference(s).is_some() => {
                let text = self.vars.interpolate(s, v, self.sink)?;
                match text.as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => {
                        self.report_at(
                            v,
                            "msws::wrong-kind",
                            format!("expected a boolean, but the variable's value is `{text}`"),
                            "this variable",
                            Some("a boolean variable takes `true` or `false`".into()),
                        );
                        None
                    }
                }
            }
            _ => {
                self.wrong_kind(v, "a boolean (#true or #false)");
                None
            }
        }
    }

    pub fn quantity(&mut self, v: &Value) -> Option<Quantity> {
        let text = match &v.literal {
            Literal::Int(i) => i.to_string(),
            _ => self.string(v)?,
        };
        match Quantity::parse(&text) {
            Ok(q) => Some(q),
            Err(msg) => {
                self.report_at(
                    v,
                    "msws::quantity",
                    msg,
                    "not a quantity",
                    Some("write a Kubernetes quantity such as `5Gi`, `500Mi`, `16`, or `500m`".into()),
                );
                None
            }
        }
    }

    pub fn duration(&mut self, v: &Value) -> Option<Duration> {
        let text = self.string(v)?;
        match Duration::parse(&text) {
            Ok(d) => Some(d),
            Err(msg) => {
                self.report_at(v, "msws::duration", msg, "not a duration", None);
                None
            }
        }
    }

    /// One of a fixed set of words.
    pub fn choice<T: Copy>(&mut self, v: &Value, what: &str, options: &[(&'static str, T)]) -> Option<T> {
        let s = self.string(v)?;
        if let Some((_, t)) = options.iter().find(|(name, _)| *name == s) {
            return Some(*t);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let list = names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        let help = match did_you_mean(&s, names.iter().copied()) {
            Some(m) => format!("did you mean `{m}`? {what} is one of {list}"),
            None => format!("{what} is one of {list}"),
        };
        self.report_at(v, "msws::invalid-value", format!("unknown {what} `{s}`"), "not recognised", Some(help));
        None
    }

    /// A name that becomes (part of) a Kubernetes object name: a DNS-1123 label.
    pub fn name(&mut self, v: &Value, what: &str) -> Option<String> {
        let s = self.string(v)?;
        if let Err(why) = check_dns_label(&s) {
            self.report_at(
                v,
                "msws::invalid-name",
                format!("`{s}` is not a valid {what} name: {why}"),
                "invalid name",
                Some("names become Kubernetes object names: lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters".into()),
            );
            return None;
        }
        Some(s)
    }
}

/// Checks a DNS-1123 label (RFC 1123), the rule for most Kubernetes names and label values.
pub fn check_dns_label(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.len() > 63 {
        return Err(format!("it is {} characters long", s.len()));
    }
    if let Some(c) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Err(format!("it contains `{c}`"));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("it starts or ends with `-`".into());
    }
    Ok(())
}

/// Hands out a node's parts and reports what nobody asked for.
pub struct Reader<'n> {
    pub node: &'n Node,
    /// What the node is called in messages (`storage "x"`, `container "vllm"`).
    what: String,
    known_props: Vec<&'static str>,
    known_children: Vec<&'static str>,
    used_children: Vec<bool>,
    max_args: usize,
    any_props: bool,
}

impl<'n> Reader<'n> {
    pub fn new(node: &'n Node) -> Reader<'n> {
        let what = match node.key() {
            Some(k) => format!("`{} \"{}\"`", node.name.name, k),
            None => format!("`{}`", node.name.name),
        };
        Reader {
            node,
            what,
            known_props: vec![],
            known_children: vec![],
            used_children: vec![false; node.children().len()],
            max_args: 0,
            any_props: false,
        }
    }

    /// Accepts every property (maps such as resource lists, whose keys are open-ended).
    pub fn any_props(&mut self) {
        self.any_props = true;
    }

    fn err(&self, d: Diagnostic) -> Diagnostic {
        with_origin(d, self.node.origin.as_deref())
    }

    /// Argument `i`, which must be there.
    pub fn arg(&mut self, cx: &mut Cx, i: usize, what: &str) -> Option<&'n Value> {
        self.max_args = self.max_args.max(i + 1);
        let v = self.node.args.get(i);
        if v.is_none() {
            let d = Diagnostic::error("msws::missing", format!("{} needs {what}", self.what.trim_matches('`')))
                .label(self.node.name.span, format!("{what} missing"))
                .help(format!("write it after the node name: `{} <{what}>`", self.node.name.name));
            cx.error(self.err(d));
        }
        v
    }

    /// Argument `i`, if given.
    pub fn opt_arg(&mut self, i: usize) -> Option<&'n Value> {
        self.max_args = self.max_args.max(i + 1);
        self.node.args.get(i)
    }

    /// All arguments from `from` on.
    pub fn rest_args(&mut self, from: usize) -> &'n [Value] {
        self.max_args = usize::MAX;
        self.node.args.get(from..).unwrap_or(&[])
    }

    pub fn prop(&mut self, name: &'static str) -> Option<&'n Value> {
        self.known_props.push(name);
        self.node.prop(name).map(|p| &p.value)
    }

    /// A property that must be there.
    pub fn req_prop(&mut self, cx: &mut Cx, name: &'static str) -> Option<&'n Value> {
        let v = self.prop(name);
        if v.is_none() {
            let d = Diagnostic::error("msws::missing", format!("{} needs `{name}=…`", self.what.trim_matches('`')))
                .label(self.node.head_span(), format!("`{name}` missing"));
            cx.error(self.err(d));
        }
        v
    }

    /// Every child called `name`, in order.
    pub fn children(&mut self, name: &'static str) -> Vec<&'n Node> {
        self.known_children.push(name);
        let mut out = Vec::new();
        for (i, c) in self.node.children().iter().enumerate() {
            if c.name.name == name {
                self.used_children[i] = true;
                out.push(c);
            }
        }
        out
    }

    /// The child called `name`; a second one is an error.
    pub fn child(&mut self, cx: &mut Cx, name: &'static str) -> Option<&'n Node> {
        let all = self.children(name);
        if let [first, .., last] = all.as_slice() {
            let d = Diagnostic::error("msws::duplicate", format!("`{name}` is given more than once in {}", self.what))
                .label(last.name.span, "given again here")
                .label(first.name.span, "first given here")
                .help(format!("keep one `{name}`"));
            cx.error(with_origin(d, last.origin.as_deref()));
        }
        all.first().copied()
    }

    /// A child that must be there.
    pub fn req_child(&mut self, cx: &mut Cx, name: &'static str) -> Option<&'n Node> {
        let c = self.child(cx, name);
        if c.is_none() {
            let d = Diagnostic::error("msws::missing", format!("{} needs a `{name}`", self.what.trim_matches('`')))
                .label(self.node.head_span(), format!("no `{name}` inside"));
            cx.error(self.err(d));
        }
        c
    }

    /// The single argument of a child like `size "5Gi"`.
    pub fn child_value(&mut self, cx: &mut Cx, name: &'static str) -> Option<&'n Value> {
        let c = self.child(cx, name)?;
        let mut r = Reader::new(c);
        let v = r.arg(cx, 0, "a value");
        r.finish(cx);
        v
    }

    pub fn req_child_value(&mut self, cx: &mut Cx, name: &'static str) -> Option<&'n Value> {
        let c = self.req_child(cx, name)?;
        let mut r = Reader::new(c);
        let v = r.arg(cx, 0, "a value");
        r.finish(cx);
        v
    }

    /// The arguments of every child called `name`, joined: `args "a" "b"` then `args "c"`.
    pub fn child_list(&mut self, cx: &mut Cx, name: &'static str) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.children(name) {
            let mut r = Reader::new(c);
            for v in r.rest_args(0) {
                if let Some(s) = cx.string(v) {
                    out.push(s);
                }
            }
            r.finish(cx);
        }
        out
    }

    /// A string map written either as properties (`labels team="ml"`) or as children
    /// (`labels { "llm-d.ai/role" "decode" }`). Several such nodes are merged.
    pub fn child_map(&mut self, cx: &mut Cx, name: &'static str) -> Option<Map> {
        let nodes = self.children(name);
        if nodes.is_empty() {
            return None;
        }
        let mut map = BTreeMap::new();
        let mut seen: BTreeMap<String, Span> = BTreeMap::new();
        for n in nodes {
            if let Some(a) = n.args.first() {
                let d =
                    Diagnostic::error("msws::unexpected-argument", format!("`{name}` takes entries, not arguments"))
                        .label(a.span, "unexpected argument")
                        .help(format!("write `{name} key=\"value\"` or `{name} {{ key \"value\" }}`"));
                cx.error(with_origin(d, a.origin.as_deref()));
            }
            let mut entries: Vec<(String, Span, &Value)> =
                n.props.iter().map(|p| (p.key.name.clone(), p.key.span, &p.value)).collect();
            for c in n.children() {
                let mut r = Reader::new(c);
                if let Some(v) = r.arg(cx, 0, "a value") {
                    entries.push((c.name.name.clone(), c.name.span, v));
                }
                r.finish(cx);
            }
            for (key, span, v) in entries {
                if let Some(first) = seen.get(&key) {
                    cx.error(
                        Diagnostic::error("msws::duplicate", format!("`{key}` is given more than once in `{name}`"))
                            .label(span, "given again here")
                            .label(*first, "first given here"),
                    );
                    continue;
                }
                seen.insert(key.clone(), span);
                let value = match &v.literal {
                    Literal::Int(i) => Some(i.to_string()),
                    Literal::Bool(b) => Some(b.to_string()),
                    _ => cx.string(v),
                };
                if let Some(value) = value {
                    map.insert(key, value);
                }
            }
        }
        Some(map)
    }

    /// Reports arguments, properties and children nobody asked for.
    pub fn finish(self, cx: &mut Cx) {
        for a in self.node.args.iter().skip(self.max_args) {
            let d = Diagnostic::error("msws::unexpected-argument", format!("unexpected argument to {}", self.what))
                .label(a.span, "not expected here")
                .help(if self.max_args == 0 {
                    format!("{} takes no arguments", self.what)
                } else {
                    format!("{} takes {} argument(s)", self.what, self.max_args)
                });
            cx.error(with_origin(d, a.origin.as_deref().or(self.node.origin.as_deref())));
        }
        let mut seen_props: Vec<&str> = Vec::new();
        for p in &self.node.props {
            if seen_props.contains(&p.key.name.as_str()) && self.known_props.contains(&p.key.name.as_str()) {
                let d = Diagnostic::error("msws::duplicate", format!("property `{}` is given twice", p.key.name))
                    .label(p.span, "given again here")
                    .help("keep one; KDL would silently use the last");
                cx.error(with_origin(d, p.value.origin.as_deref()));
            }
            seen_props.push(&p.key.name);
            if self.any_props || self.known_props.contains(&p.key.name.as_str()) {
                continue;
            }
            let mut d = Diagnostic::error(
                "msws::unknown-property",
                format!("unknown property `{}` on {}", p.key.name, self.what),
            )
            .label(p.key.span, "unknown property");
            d = match did_you_mean(&p.key.name, self.known_props.iter().copied()) {
                Some(m) => d.help(format!("did you mean `{m}`?")),
                None if self.known_props.is_empty() => d.help(format!("{} takes no properties", self.what)),
                None => d.help(format!("{} takes {}", self.what, list(&self.known_props))),
            };
            // A property spelt like a child node is a common slip: say so.
            if self.known_children.contains(&p.key.name.as_str()) {
                d = d.help(format!(
                    "`{}` is written as a child node: `{} {{ {} … }}`",
                    p.key.name, self.node.name.name, p.key.name
                ));
            }
            cx.error(with_origin(d, p.value.origin.as_deref().or(self.node.origin.as_deref())));
        }
        for (i, c) in self.node.children().iter().enumerate() {
            if self.used_children[i] {
                continue;
            }
            let mut d =
                Diagnostic::error("msws::unknown-node", format!("unknown node `{}` in {}", c.name.name, self.what))
                    .label(c.name.span, "unknown node");
            d = match did_you_mean(&c.name.name, self.known_children.iter().copied()) {
                Some(m) => d.help(format!("did you mean `{m}`?")),
                None if self.known_children.is_empty() => d.help(format!("{} takes no children", self.what)),
                None => d.help(format!("{} can contain {}", self.what, list(&self.known_children))),
            };
            if self.known_props.contains(&c.name.name.as_str()) {
                d = d.help(format!(
                    "`{}` is a property: write `{}={}` on the node itself",
                    c.name.name, c.name.name, "…"
                ));
            }
            cx.error(with_origin(d, c.origin.as_deref()));
        }
    }
}

fn list(names: &[&str]) -> String {
    let mut v: Vec<&str> = names.to_vec();
    v.dedup();
    v.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
