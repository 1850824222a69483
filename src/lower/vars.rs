//! Variables: `var "name" default=…` declares one; `${name}` inside any string uses it. A value
//! comes from `--var name=value`, else from the environment variable `MSWS_VAR_NAME`, else from
//! the default. A string that is exactly `"${name}"` can stand where an integer or a boolean is
//! expected (`replicas="${replicas}"`).

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::{Diagnostic, Sink, Span, did_you_mean};
use crate::syntax::{Literal, Value};

/// Where a variable's value came from; shown by `msws validate --format json` and in messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarSource {
    CommandLine,
    Environment(String),
    /// Set on an `import` node: `import "base.kdl" replicas=4`.
    Import,
    Default,
}

#[derive(Clone, Debug)]
pub struct Var {
    pub value: Option<String>,
    pub source: VarSource,
    pub span: Span,
}

#[derive(Clone, Debug, Default)]
pub struct Vars {
    vars: BTreeMap<String, Var>,
    used: BTreeSet<String>,
}

/// The environment variable that sets variable `name`.
pub fn env_name(name: &str) -> String {
    format!("MSWS_VAR_{}", name.to_ascii_uppercase().replace('-', "_"))
}

fn literal_text(l: &Literal) -> String {
    match l {
        Literal::String(s) => s.clone(),
        Literal::Int(i) => i.to_string(),
        Literal::Bool(b) => b.to_string(),
        Literal::Float(f) => f.to_string(),
        Literal::Null => String::new(),
    }
}

impl Vars {
    pub fn is_declared(&self, name: &str) -> bool {
        self.vars.contains_key(name)
    }
    pub fn get(&self, name: &str) -> Option<&Var> {
        self.vars.get(name)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.vars.keys().map(String::as_str)
    }

    /// Declares a variable. `cli` and `env` are what the user passed; their values win over the
    /// default in that order.
    #[allow(clippy::too_many_arguments)]
    pub fn declare(
        &mut self,
        name: &str,
        default: Option<&Literal>,
        imported: Option<&Literal>,
        span: Span,
        cli: &BTreeMap<String, String>,
        env: &BTreeMap<String, String>,
        sink: &mut Sink,
    ) {
        if let Some(prev) = self.vars.get(name) {
            sink.push(
                Diagnostic::error("msws::duplicate", format!("variable `{name}` is declared twice"))
                    .label(span, "declared again here")
                    .label(prev.span, "first declared here")
                    .help("variable names are unique (imported files included): remove one; an `import` can set the value instead"),
            );
            return;
        }
        let (value, source) = if let Some(v) = cli.get(name) {
            (Some(v.clone()), VarSource::CommandLine)
        } else if let Some(v) = env.get(&env_name(name)) {
            (Some(v.clone()), VarSource::Environment(env_name(name)))
        } else if let Some(l) = imported {
            (Some(literal_text(l)), VarSource::Import)
        } else {
            (default.map(literal_text), VarSource::Default)
        };
        self.vars.insert(name.to_string(), Var { value, source, span });
    }

    /// Marks as used the variables another copy of these (a reading thread's) used.
    pub fn merge_used(&mut self, other: Vars) {
        self.used.extend(other.used);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Var)> {
        self.vars.iter()
    }

    /// `Some(name)` when `s` is exactly one reference, `${name}`.
    pub fn whole_reference(s: &str) -> Option<&str> {
        let inner = s.strip_prefix("${")?.strip_suffix('}')?;
        (!inner.contains(['{', '}', '$'])).then_some(inner)
    }

    /// Substitutes `${name}` references in `s`; `$${` is a literal `${`.
    pub fn interpolate(&mut self, s: &str, at: &Value, sink: &mut Sink) -> Option<String> {
        if !s.contains("${") {
            return Some(s.to_string());
        }
        let mut out = String::new();
        let mut rest = s;
        let mut ok = true;
        while let Some(i) = rest.find("${") {
            if rest[..i].ends_with('$') {
                out.push_str(&rest[..i - 1]);
                out.push_str("${");
                rest = &rest[i + 2..];
                continue;
            }
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            let Some(end) = after.find('}') else {
                sink.push(
                    Diagnostic::error("msws::variable", "unclosed `${` in a string")
                        .label(at.span, "a `${` without its `}`")
                        .help("write `${name}`, or `$${` for a literal `${`"),
                );
                return None;
            };
            let name = &after[..end];
            match self.vars.get(name) {
                Some(Var { value: Some(v), .. }) => {
                    self.used.insert(name.to_string());
                    out.push_str(v);
                }
                Some(Var { value: None, .. }) => {
                    // Reported once at the declaration; nothing to add here.
                    self.used.insert(name.to_string());
                    ok = false;
                }
                None => {
                    let mut d = Diagnostic::error("msws::variable", format!("unknown variable `{name}`"))
                        .label(at.span, "used here");
                    d = match did_you_mean(name, self.vars.keys().map(String::as_str)) {
                        Some(m) => d.help(format!("did you mean `{m}`?")),
                        None => d.help(format!("declare it: `var \"{name}\" default=\"…\"`")),
                    };
                    sink.push(d);
                    ok = false;
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        ok.then_some(out)
    }

    /// After lowering: variables without a value, `--var`s nobody declared, declared but unused.
    pub fn finish(&self, cli: &BTreeMap<String, String>, sink: &mut Sink) {
        // A variable looks unused when the string using it had an error (`${replica}`): warn only
        // when there is nothing else to fix.
        let quiet = sink.has_errors();
        for (name, var) in &self.vars {
            if var.value.is_none() {
                sink.push(
                    Diagnostic::error("msws::variable", format!("variable `{name}` has no value"))
                        .label(var.span, "declared without a default")
                        .help(format!("pass `--var {name}=VALUE`, set {}, or give it `default=…`", env_name(name))),
                );
            } else if !self.used.contains(name) && !quiet {
                sink.push(
                    Diagnostic::warning("msws::unused-variable", format!("variable `{name}` is never used"))
                        .label(var.span, "declared here")
                        .help(format!("use it as `${{{name}}}` in a string, or remove it")),
                );
            }
        }
        for name in cli.keys() {
            if !self.vars.contains_key(name) {
                let d = Diagnostic::error(
                    "msws::variable",
                    format!("`--var {name}` sets a variable the workspace does not declare"),
                );
                let d = match did_you_mean(name, self.vars.keys().map(String::as_str)) {
                    Some(m) => d.help(format!("did you mean `{m}`?")),
                    None => d.help(format!("declare it: `var \"{name}\" default=\"…\"`")),
                };
                sink.push(d);
            }
        }
    }
}
