//! Reading syntax nodes into typed values, knuffel-style: a [`Reader`] hands out a node's arguments,
//! properties and children on request and remembers what was asked for, so whatever is left over
//! is reported as unknown — with the names that were asked for as "did you mean" candidates.
//! Every problem goes to the sink and reading carries on with the next value.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Diagnostic, Sink, Span, did_you_mean};
use crate::model::{Duration, Map, Quantity};
use crate::syntax::{Literal, Node, Origin, Value};

use super::vars::{VarSource, Vars};

/// The lowering context: where diagnostics go and how variables resolve.
pub struct Cx<'a> {
    pub sink: &'a mut Sink,
    pub vars: &'a mut Vars,
    /// Nodes (by span) whose `extends` failed: what the preset would have given them is missing,
    /// and saying so again would only repeat the preset error.
    pub incomplete: BTreeSet<Span>,
    /// The steps the file declares, `kind/name`, for suggestions when an `after` names no kind.
    pub steps: Vec<String>,
    /// The manifests model services name, read while loading, by the span of their path.
    pub manifests: BTreeMap<Span, super::load::ManifestText>,
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

impl<'a> Cx<'a> {
    pub fn new(sink: &'a mut Sink, vars: &'a mut Vars) -> Cx<'a> {
        Cx { sink, vars, incomplete: BTreeSet::new(), steps: vec![], manifests: BTreeMap::new() }
    }

    pub fn error(&mut self, d: Diagnostic) {
        self.sink.push(d);
    }

    /// Reports that something `node` needs is missing, unless a preset of the node or of a node
    /// around it failed to apply (the preset error already explains the gap).
    pub fn missing(&mut self, node: &Node, d: Diagnostic) {
        let s = node.span;
        let inside_incomplete =
            self.incomplete.iter().any(|i| i.file == s.file && i.start <= s.start && s.end <= i.end);
        if !inside_incomplete {
            self.sink.push(with_origin(d, node.origin.as_deref()));
        }
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
                (Literal::Int(i), "a string") => Some(format!("quote it: \"{i}\"")),
                (Literal::Float(f), "a string") => Some(format!("quote it: \"{f}\"")),
                (Literal::String(s), e) if e.contains("boolean") && (s == "true" || s == "false") => {
                    Some(format!("write #{s}, without quotes: in KDL v2 \"{s}\" is a string"))
                }
                (Literal::String(s), e) if e.contains("integer") && s.trim().parse::<i64>().is_ok() => {
                    Some(format!("drop the quotes: {}", s.trim()))
                }
                (Literal::String(_), e) if e.contains("integer") => {
                    Some("write a whole number without quotes, e.g. `2`, or a variable: `\"${name}\"`".into())
                }
                (Literal::Bool(b), "a string") => Some(format!("quote it: \"{b}\"")),
                (Literal::Float(f), e) if e.contains("integer") => Some(format!("write a whole number, not {f}")),
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
                        let help = self.var_help(s, "an integer, like `2`");
                        self.report_at(
                            v,
                            "msws::wrong-kind",
                            format!("expected an integer, but the variable's value is `{text}`"),
                            "this variable",
                            Some(help),
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

    /// Says where the value of the variable in `reference` (`"${name}"`) came from, and what it
    /// should be.
    fn var_help(&self, reference: &str, wanted: &str) -> String {
        let name = Vars::whole_reference(reference).unwrap_or(reference);
        let from = match self.vars.get(name).map(|v| &v.source) {
            Some(VarSource::CommandLine) => format!("`--var {name}=…`"),
            Some(VarSource::Environment(e)) => format!("the environment variable {e}"),
            Some(VarSource::Import) => "the `import` that sets it".to_string(),
            Some(VarSource::Default) | None => "its `default=`".to_string(),
        };
        format!("`{name}` takes its value from {from}; it must be {wanted} here")
    }

    /// An integer within `[min, max]`.
    pub fn int_in(&mut self, v: &Value, min: i128, max: i128, what: &str) -> Option<i128> {
        let i = self.int(v)?;
        if i < min || i > max {
            // A bound that only says how large a number the cluster stores is named only when
            // it is the one crossed.
            let wide = max >= i128::from(i32::MAX);
            let range = match (i < min, wide) {
                (true, true) => format!("at least {min}"),
                (false, true) => format!("at most {max}"),
                _ => format!("between {min} and {max}"),
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
                        let help = self.var_help(s, "`true` or `false`");
                        self.report_at(
                            v,
                            "msws::wrong-kind",
                            format!("expected a boolean, but the variable's value is `{text}`"),
                            "this variable",
                            Some(help),
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
            Literal::String(_) => self.string(v)?,
            _ => {
                self.wrong_kind(v, "a quantity (a string like \"5Gi\", or a number)");
                return None;
            }
        };
        match Quantity::parse(&text) {
            Ok(q) => Some(q),
            Err(msg) => {
                let general = "a Kubernetes quantity is a number and a unit: `5Gi`, `500Mi`, `16`, `500m`";
                let help = match quantity_hint(&text) {
                    Some(h) => format!("did you mean {h}? {general}"),
                    None => general.to_string(),
                };
                self.report_at(v, "msws::quantity", msg, "not a quantity", Some(help));
                None
            }
        }
    }

    pub fn duration(&mut self, v: &Value) -> Option<Duration> {
        let text = self.string(v)?;
        match Duration::parse(&text) {
            Ok(d) => Some(d),
            Err(_) => {
                let general = "a duration is whole numbers with units `s`, `m`, `h` or `d`: `90s`, `10m`, `1h30m`";
                let help = match duration_hint(&text) {
                    Some(h) => format!("did you mean `{h}`? {general}"),
                    None => general.to_string(),
                };
                self.report_at(
                    v,
                    "msws::duration",
                    format!("`{text}` is not a duration"),
                    "not a duration",
                    Some(help),
                );
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
            let rule = "names become Kubernetes object names: lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters";
            // Suggest the name with its characters fixed, but never shorten it: which part
            // matters is the user's choice.
            let fixed: String = s
                .chars()
                .map(|c| match c {
                    'A'..='Z' => c.to_ascii_lowercase(),
                    '_' | '.' | ' ' | '/' => '-',
                    c => c,
                })
                .collect();
            let fixed = fixed.trim_matches('-');
            let help = match check_dns_label(fixed) {
                Ok(()) if fixed != s => format!("write `{fixed}`; {rule}"),
                _ => rule.to_string(),
            };
            self.report_at(
                v,
                "msws::invalid-name",
                format!("`{s}` is not a valid {what} name: {why}"),
                "invalid name",
                Some(help),
            );
            return None;
        }
        Some(s)
    }
}

impl Cx<'_> {
    /// A name that prefixes object names (`fullname`): a DNS subdomain, as Kubernetes allows for
    /// Deployments, ServiceAccounts and the like (and Helm for releases).
    pub fn object_prefix(&mut self, v: &Value) -> Option<String> {
        let s = self.string(v)?;
        if let Err(why) = check_dns_subdomain(&s, 63) {
            self.report_at(
                v,
                "msws::invalid-name",
                format!("`{s}` is not a valid name for objects: {why}"),
                "invalid name",
                Some("object names are lowercase letters, digits, `-` and `.`, each part between dots starting and ending with a letter or digit".into()),
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

/// A DNS subdomain (RFC 1123) of at most `max` characters: DNS labels joined by `.` — what
/// Kubernetes takes for the names of most objects, and Helm for release names.
pub fn check_dns_subdomain(s: &str, max: usize) -> Result<(), String> {
    if s.len() > max {
        return Err(format!("it is {} characters long (at most {max})", s.len()));
    }
    for part in s.split('.') {
        match check_dns_label(part) {
            Ok(()) => {}
            Err(_) if part.is_empty() => return Err("it has an empty part between dots".into()),
            Err(why) => return Err(why),
        }
    }
    Ok(())
}

/// A likely meaning of a quantity written with a unit Kubernetes does not know (`5GB`, `16 GiB`,
/// `5 gigs`), as "`5Gi` or `5G`".
fn quantity_hint(text: &str) -> Option<String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let split = compact.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(compact.len());
    let (number, unit) = compact.split_at(split);
    if number.is_empty() || number.parse::<f64>().is_err() {
        return None;
    }
    let unit = unit.to_ascii_lowercase();
    let binary_only = unit.len() >= 2 && unit.as_bytes()[1] == b'i';
    let stem = unit.trim_end_matches("bytes").trim_end_matches("byte").trim_end_matches('s');
    let prefix = match stem {
        "k" | "kb" | "ki" | "kib" | "kilo" => "k",
        "m" | "mb" | "mi" | "mib" | "meg" | "mega" => "M",
        "g" | "gb" | "gi" | "gib" | "gig" | "giga" => "G",
        "t" | "tb" | "ti" | "tib" | "tera" => "T",
        "p" | "pb" | "pi" | "pib" | "peta" => "P",
        _ => return None,
    };
    let binary = format!("`{number}{}i`", prefix.to_ascii_uppercase());
    let decimal = format!("`{number}{prefix}`");
    Some(if binary_only { binary } else { format!("{binary} (binary) or {decimal} (decimal)") })
}

/// A likely meaning of a duration written with words or fractions (`10 seconds`, `1.5h`).
fn duration_hint(text: &str) -> Option<String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    let split = compact.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(compact.len());
    let (number, unit) = compact.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit_seconds = match unit.trim_end_matches('s') {
        "" if unit == "s" => 1.0,
        "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        "h" | "hr" | "hour" => 3600.0,
        "d" | "day" => 86400.0,
        _ => return None,
    };
    let seconds = number * unit_seconds;
    if seconds.fract() != 0.0 || !(1.0..1e12).contains(&seconds) {
        return None;
    }
    Some(Duration { seconds: seconds as u64 }.to_string())
}

/// How to write a required part that is missing, for the help of a "missing" diagnostic.
fn example(name: &str) -> Option<&'static str> {
    Some(match name {
        "access" => "add `access \"ReadWriteMany\"` (or `ReadWriteOnce`, `ReadWriteOncePod`)",
        "size" => "add `size \"10Gi\"`",
        "from" => "add `from \"hf://org/model\" revision=\"main\"`",
        "into" => "add `into \"storage-name\" path=\"models/name\"`",
        "image" => "add `image=\"…\"`, or `extends=\"std/vllm\"` for the llm-d vLLM image",
        "secret" => "name the secret: `secret=\"hf-token\"`",
        "path" => "add `path=\"/some/dir\"`, where the volume appears in the container",
        "template" => "name the ResourceClaimTemplate: `template=\"…\"`",
        "for" => {
            "say which kind of node it is for: `for=\"container\"` (or `role`, `model-service`, `download`, `storage`)"
        }
        _ => return None,
    })
}

/// Hands out a node's parts and reports what nobody asked for.
pub struct Reader<'n> {
    pub node: &'n Node,
    known_props: Names,
    known_children: Names,
    used_children: Used,
    max_args: usize,
    any_props: bool,
}

impl<'n> Reader<'n> {
    pub fn new(node: &'n Node) -> Reader<'n> {
        Reader {
            node,
            known_props: Names::default(),
            known_children: Names::default(),
            used_children: Used::new(node.children().len()),
            max_args: 0,
            any_props: false,
        }
    }

    /// Accepts every property (maps such as resource lists, whose keys are open-ended).
    pub fn any_props(&mut self) {
        self.any_props = true;
    }

    /// What the node is called in messages (`storage "x"`, `container "vllm"`); built only when
    /// there is something to say.
    fn what(&self) -> String {
        match self.node.key() {
            Some(k) => format!("`{} \"{}\"`", self.node.name.name, k),
            None => format!("`{}`", self.node.name.name),
        }
    }

    /// Argument `i`, which must be there.
    pub fn arg(&mut self, cx: &mut Cx, i: usize, what: &str) -> Option<&'n Value> {
        self.max_args = self.max_args.max(i + 1);
        let v = self.node.args.get(i);
        if v.is_none() {
            let d = Diagnostic::error("msws::missing", format!("{} needs {what}", self.what()))
                .label(self.node.name.span, format!("{what} missing"))
                .help(format!("write it after the node name: `{} <{what}>`", self.node.name.name));
            cx.missing(self.node, d);
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
        // A misspelt property (`imge=`) is reported as unknown, with `name` as its suggestion;
        // saying `name` is missing too would report one slip twice.
        let misspelt = || {
            self.node.props.iter().any(|p| did_you_mean(&p.key.name, [name]).is_some())
                || self.node.children().iter().any(|c| c.name.name == name)
        };
        if v.is_none() && !misspelt() {
            let mut d = Diagnostic::error("msws::missing", format!("{} needs `{name}=…`", self.what()))
                .label(self.node.head_span(), format!("no `{name}=`"));
            if let Some(h) = example(name) {
                d = d.help(h);
            }
            cx.missing(self.node, d);
        }
        v
    }

    /// Every child called `name`, in order.
    pub fn children(&mut self, name: &'static str) -> Vec<&'n Node> {
        self.known_children.push(name);
        let mut out = Vec::new();
        for (i, c) in self.node.children().iter().enumerate() {
            if c.name.name == name {
                self.used_children.set(i);
                out.push(c);
            }
        }
        out
    }

    /// Every child, all taken: for a node whose children are raw Kubernetes fields.
    pub fn all_children(&mut self) -> &'n [Node] {
        for i in 0..self.node.children().len() {
            self.used_children.set(i);
        }
        self.node.children()
    }

    /// The child called `name`; a second one is an error.
    pub fn child(&mut self, cx: &mut Cx, name: &'static str) -> Option<&'n Node> {
        let all = self.children(name);
        if let [first, .., last] = all.as_slice() {
            let d =
                Diagnostic::error("msws::duplicate", format!("`{name}` is given more than once in {}", self.what()))
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
        // As in `req_prop`: a misspelt child is reported once, as unknown, with `name` suggested.
        let misspelt = || {
            self.node.children().iter().any(|c| did_you_mean(&c.name.name, [name]).is_some())
                || self.node.props.iter().any(|p| p.key.name == name)
        };
        if c.is_none() && !misspelt() {
            let mut d = Diagnostic::error("msws::missing", format!("{} has no `{name}`", self.what()))
                .label(self.node.head_span(), format!("no `{name}` inside"));
            if let Some(h) = example(name) {
                d = d.help(h);
            }
            cx.missing(self.node, d);
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
            let d = Diagnostic::error("msws::unexpected-argument", format!("unexpected argument to {}", self.what()))
                .label(a.span, "not expected here")
                .help(if self.max_args == 0 {
                    format!("{} takes no arguments", self.what())
                } else {
                    format!("{} takes {} argument(s)", self.what(), self.max_args)
                });
            cx.error(with_origin(d, a.origin.as_deref().or(self.node.origin.as_deref())));
        }
        for (k, p) in self.node.props.iter().enumerate() {
            let seen = self.node.props[..k].iter().any(|q| q.key.name == p.key.name);
            if seen && self.known_props.contains(&p.key.name.as_str()) {
                let d = Diagnostic::error("msws::duplicate", format!("property `{}` is given twice", p.key.name))
                    .label(p.span, "given again here")
                    .help("keep one; KDL would silently use the last");
                cx.error(with_origin(d, p.value.origin.as_deref()));
            }
            if self.any_props || self.known_props.contains(&p.key.name.as_str()) {
                continue;
            }
            let mut d = Diagnostic::error(
                "msws::unknown-property",
                format!("unknown property `{}` on {}", p.key.name, self.what()),
            )
            .label(p.key.span, "unknown property");
            // A property spelt like a child node (or nearly) is a common slip: say so.
            let as_child = if self.known_children.contains(&p.key.name.as_str()) {
                Some(p.key.name.as_str())
            } else {
                did_you_mean(&p.key.name, self.known_children.iter())
            };
            d = match (did_you_mean(&p.key.name, self.known_props.iter()), as_child) {
                (Some(m), _) => d.help(format!("did you mean `{m}`?")),
                (None, Some(c)) => d.help(format!(
                    "`{c}` is a child node, not a property: write `{c} {}` inside the braces",
                    shown(&p.value)
                )),
                (None, None) if self.known_props.is_empty() => d.help(format!("{} takes no properties", self.what())),
                (None, None) => d.help(format!("{} takes {}", self.what(), list(&self.known_props.to_vec()))),
            };
            cx.error(with_origin(d, p.value.origin.as_deref().or(self.node.origin.as_deref())));
        }
        for (i, c) in self.node.children().iter().enumerate() {
            if self.used_children.get(i) {
                continue;
            }
            let mut d =
                Diagnostic::error("msws::unknown-node", format!("unknown node `{}` in {}", c.name.name, self.what()))
                    .label(c.name.span, "unknown node");
            // A child spelt like a property (or nearly) is a common slip: say so.
            let name = c.name.name.as_str();
            let exact_prop = self.known_props.contains(&name).then_some(name);
            let child = did_you_mean(name, self.known_children.iter());
            let as_prop = exact_prop.or(child.is_none().then(|| did_you_mean(name, self.known_props.iter())).flatten());
            d = match (as_prop, child) {
                (Some(p), _) => d.help(format!(
                    "`{p}` is a property, not a child node: write `{} {p}={}`",
                    self.node.name.name,
                    c.args.first().map(shown).unwrap_or_else(|| "…".into())
                )),
                (None, Some(m)) => d.help(format!("did you mean `{m}`?")),
                (None, None) if self.known_children.is_empty() => d.help(format!("{} takes no children", self.what())),
                (None, None) => d.help(format!("{} can contain {}", self.what(), list(&self.known_children.to_vec()))),
            };
            cx.error(with_origin(d, c.origin.as_deref()));
        }
    }
}

/// A value as it would be written in a file, for suggestions.
fn shown(v: &Value) -> String {
    match &v.literal {
        Literal::String(s) => format!("{s:?}"),
        Literal::Int(i) => i.to_string(),
        Literal::Float(f) => f.to_string(),
        Literal::Bool(b) => format!("#{b}"),
        Literal::Null => "#null".into(),
    }
}

fn list(names: &[&str]) -> String {
    let mut v: Vec<&str> = names.to_vec();
    v.dedup();
    v.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The names a reader was asked for: inline, so reading a node allocates nothing unless it has
/// more than 24 distinct parts.
#[derive(Default)]
struct Names {
    inline: [&'static str; 24],
    len: usize,
    spill: Vec<&'static str>,
}

impl Names {
    fn push(&mut self, name: &'static str) {
        if self.len < self.inline.len() {
            self.inline[self.len] = name;
            self.len += 1;
        } else {
            self.spill.push(name);
        }
    }
    fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.inline[..self.len].iter().chain(&self.spill).copied()
    }
    fn contains(&self, name: &&str) -> bool {
        self.iter().any(|n| n == *name)
    }
    fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn to_vec(&self) -> Vec<&'static str> {
        self.iter().collect()
    }
}

/// Which children were read: a bit mask, or a vector for nodes with more than 64 children.
struct Used {
    bits: u64,
    spill: Vec<bool>,
}

impl Used {
    fn new(n: usize) -> Used {
        Used { bits: 0, spill: if n > 64 { vec![false; n] } else { Vec::new() } }
    }
    fn set(&mut self, i: usize) {
        match self.spill.get_mut(i) {
            Some(b) => *b = true,
            None => self.bits |= 1 << i,
        }
    }
    fn get(&self, i: usize) -> bool {
        match self.spill.get(i) {
            Some(b) => *b,
            None => self.bits & (1 << i) != 0,
        }
    }
}
