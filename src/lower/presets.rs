//! Presets: named bodies a node can `extends`. The standard library's presets are named `std/…`;
//! a workspace declares its own with `preset "name" for="container" { … }`.
//!
//! Expansion happens on the syntax tree, before typed reading, so a preset can hold anything the
//! node it extends can hold. Merge rules (documented in docs/language.md, "Presets"):
//! - properties: the node's own win over the preset's;
//! - arguments: the node's own replace the preset's when it has any;
//! - children that repeat as a list (`args`, `after`, `toleration`, `node-affinity`,
//!   `resource-claim`, `image-pull-secret`) are appended after the preset's;
//! - keyed children (`container`, `init-container`, `env`, `volume`, `volume-mount`, `port`,
//!   `probe`) merge with the preset's child of the same key, by these same rules;
//! - any other child merges with the preset's child of the same name, by these same rules.
//!
//! Every node and value copied from a preset carries an [`Origin`], so a diagnostic inside a preset
//! points at the preset and at the place that used it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::syntax::{Document, Literal, Node, Origin};

use super::read::{Cx, Reader, with_origin};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresetKind {
    Storage,
    Download,
    ModelService,
    Role,
    Container,
}

impl PresetKind {
    pub const ALL: [(&'static str, PresetKind); 5] = [
        ("storage", PresetKind::Storage),
        ("download", PresetKind::Download),
        ("model-service", PresetKind::ModelService),
        ("role", PresetKind::Role),
        ("container", PresetKind::Container),
    ];
    fn as_str(self) -> &'static str {
        PresetKind::ALL.iter().find(|(_, k)| *k == self).map(|(s, _)| *s).unwrap_or("?")
    }
}

struct Preset {
    kind: PresetKind,
    /// The body: the preset node's properties (but `for`) and children, named like the node kind.
    body: Node,
    span: Span,
}

#[derive(Default)]
pub struct Presets {
    map: BTreeMap<String, Preset>,
    /// Preset bodies with their own `extends` resolved, by name.
    expanded: std::sync::Mutex<BTreeMap<String, Node>>,
}

pub const STD_PREFIX: &str = "std/";

/// Children merged by list, by key, or (otherwise) by name.
const APPENDED: &[&str] = &["args", "after", "toleration", "node-affinity", "resource-claim", "image-pull-secret"];
const KEYED: &[&str] = &["container", "init-container", "env", "volume", "volume-mount", "port", "probe"];

impl Presets {
    /// Registers the presets of a standard library file.
    pub fn add_stdlib(&mut self, doc: &Document, cx: &mut Cx) {
        for node in &doc.nodes {
            self.declare(node, true, cx);
        }
    }

    /// Reads a `preset "name" for="kind" … { … }` node.
    pub fn declare(&mut self, node: &Node, stdlib: bool, cx: &mut Cx) {
        let mut r = Reader::new(node);
        let name = r.arg(cx, 0, "a name").and_then(|v| cx.nonempty(v, "a preset name"));
        let kind = r.req_prop(cx, "for").and_then(|v| cx.choice(v, "preset kind", &PresetKind::ALL));
        // Everything else on the node is the body; it is checked where the preset is used.
        let (Some(name), Some(kind)) = (name, kind) else { return };
        if !stdlib && name.contains('/') {
            cx.error(
                Diagnostic::error("msws::invalid-name", format!("preset name `{name}` contains `/`"))
                    .label(node.args[0].span, "local preset names cannot contain `/`")
                    .help("names with `/` are reserved for the standard library (`std/…`)"),
            );
            return;
        }
        let full = if stdlib { format!("{STD_PREFIX}{name}") } else { name };
        if let Some(prev) = self.map.get(&full) {
            cx.error(
                Diagnostic::error("msws::duplicate", format!("preset `{full}` is declared twice"))
                    .label(node.head_span(), "declared again here")
                    .label(prev.span, "first declared here")
                    .help("preset names are unique (imported files included): rename or remove one"),
            );
            return;
        }
        let body = Node {
            name: crate::syntax::Ident { name: kind.as_str().into(), span: node.name.span },
            ty: None,
            args: vec![],
            props: node.props.iter().filter(|p| p.key.name != "for").cloned().collect(),
            children: node.children.clone(),
            span: node.span,
            origin: None,
        };
        self.map.insert(full, Preset { kind, body, span: node.head_span() });
    }

    /// Resolves `extends` on `node` and, recursively, on the children that can carry it.
    /// `implicit` is the preset used when the node names none.
    pub fn expand(&self, node: Node, kind: PresetKind, implicit: Option<&str>, cx: &mut Cx) -> Node {
        self.expand_in(node, kind, implicit, cx, &mut Vec::new())
    }

    fn expand_in(
        &self,
        mut node: Node,
        kind: PresetKind,
        implicit: Option<&str>,
        cx: &mut Cx,
        stack: &mut Vec<String>,
    ) -> Node {
        // `extends` is removed from the node here, before the reader could see it twice.
        let all: Vec<&crate::syntax::Prop> = node.props.iter().filter(|p| p.key.name == "extends").collect();
        if let [first, .., last] = all.as_slice() {
            cx.error(with_origin(
                Diagnostic::error("msws::duplicate", "`extends` is given twice")
                    .label(last.span, "given again here")
                    .label(first.span, "first given here")
                    .help("a node extends one preset; to combine presets, let one preset extend the other"),
                last.value.origin.as_deref(),
            ));
        }
        let extends = node.props.iter().rposition(|p| p.key.name == "extends").map(|i| node.props.remove(i));
        node.props.retain(|p| p.key.name != "extends");
        let target = match &extends {
            Some(p) => cx.string(&p.value).map(|s| (s, p.value.span, p.value.origin.clone())),
            None => implicit.map(|s| (s.to_string(), node.name.span, None)),
        };
        if let Some((name, span, value_origin)) = target {
            node = self.apply(node, kind, &name, span, value_origin, extends.is_some(), cx, stack);
        }
        if let Some(children) = node.children.take() {
            let expanded = children
                .into_iter()
                .map(|c| match child_kind(kind, &c.name.name) {
                    Some(k) => self.expand_in(c, k, None, cx, stack),
                    None => c,
                })
                .collect();
            node.children = Some(expanded);
        }
        node
    }

    /// A preset's body with its own `extends` resolved. It expands the same way wherever it is
    /// used, so it is expanded once and kept.
    fn body(&self, name: &str, preset: &Preset, cx: &mut Cx, stack: &mut Vec<String>) -> Node {
        let cached = self.cache().get(name).cloned();
        match cached {
            Some(base) => base,
            None => {
                stack.push(name.to_string());
                let base = self.expand_in(preset.body.clone(), preset.kind, None, cx, stack);
                stack.pop();
                self.cache().insert(name.to_string(), base.clone());
                base
            }
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Node>> {
        // A panic while the lock was held cannot leave a half-written entry (inserts are whole),
        // so a poisoned cache is still a good cache.
        self.expanded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Expands every preset's body once, up front: errors inside a preset are reported even when
    /// nothing uses it, and declarations can then be read on several threads that only read the
    /// cache.
    pub fn expand_all(&self, cx: &mut Cx) {
        for (name, preset) in &self.map {
            self.body(name, preset, cx, &mut Vec::new());
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        node: Node,
        kind: PresetKind,
        name: &str,
        span: Span,
        value_origin: Option<Arc<Origin>>,
        explicit: bool,
        cx: &mut Cx,
        stack: &mut Vec<String>,
    ) -> Node {
        // When a preset cannot be applied, the node lacks what it would have given: mark it, so
        // that reading it does not report each missing part as a mistake of its own.
        let same_kind =
            || -> Vec<&str> { self.map.iter().filter(|(_, p)| p.kind == kind).map(|(n, _)| n.as_str()).collect() };
        let listed = |names: &[&str]| names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ");
        let Some(preset) = self.map.get(name) else {
            let same_kind = same_kind();
            let mut d = Diagnostic::error("msws::unknown-preset", format!("unknown preset `{name}`"))
                .label(span, "no such preset");
            d = match did_you_mean(name, same_kind.iter().copied()) {
                Some(m) => d.help(format!("did you mean `{m}`?")),
                None if same_kind.is_empty() => {
                    d.help(format!("declare it with `preset \"{name}\" for=\"{}\" {{ … }}`", kind.as_str()))
                }
                None => d.help(format!(
                    "presets for a {} are {}; or declare one with `preset \"{name}\" for=\"{}\" {{ … }}`",
                    kind.as_str(),
                    listed(&same_kind),
                    kind.as_str()
                )),
            };
            cx.error(with_origin(d, value_origin.as_deref()));
            cx.incomplete.insert(node.span);
            return node;
        };
        if preset.kind != kind {
            let mut d = Diagnostic::error(
                "msws::preset-kind",
                format!("preset `{name}` is for a {}, but it is used on a {}", preset.kind.as_str(), kind.as_str()),
            )
            .label(span, format!("used on a {}", kind.as_str()))
            .label(preset.span, format!("declared for a {}", preset.kind.as_str()));
            let same_kind = same_kind();
            if !same_kind.is_empty() {
                d = d.help(format!("presets for a {} are {}", kind.as_str(), listed(&same_kind)));
            }
            cx.error(with_origin(d, value_origin.as_deref()));
            cx.incomplete.insert(node.span);
            return node;
        }
        if let Some(pos) = stack.iter().position(|s| s == name) {
            let chain = stack[pos..].iter().chain([&name.to_string()]).cloned().collect::<Vec<_>>().join(" → ");
            cx.error(
                Diagnostic::error("msws::preset-cycle", format!("presets extend each other in a cycle: {chain}"))
                    .label(span, "this `extends` closes the cycle")
                    .help("a preset cannot extend itself, directly or through others: remove one of these `extends`"),
            );
            cx.incomplete.insert(node.span);
            return node;
        }
        let base = self.body(name, preset, cx, stack);
        // Nodes and values from the preset remember where it was used. An implicit preset (the
        // default downloader) has no `extends` to point at, so it adds no note.
        let base = if explicit {
            let origin = Arc::new(Origin { preset: name.to_string(), used_at: span, parent: node.origin.clone() });
            stamp(base, &origin)
        } else {
            base
        };
        merge(base, node)
    }
}

/// Which children of a `kind` node can themselves extend a preset, and of what kind.
fn child_kind(kind: PresetKind, child: &str) -> Option<PresetKind> {
    match (kind, child) {
        (PresetKind::ModelService, "decode" | "prefill") => Some(PresetKind::Role),
        (PresetKind::Role, "container" | "init-container") => Some(PresetKind::Container),
        _ => None,
    }
}

/// Marks everything in `node` as coming from the preset `origin` (keeping deeper origins, which
/// now continue into this one).
fn stamp(mut node: Node, origin: &Arc<Origin>) -> Node {
    let mark = |o: &mut Option<Arc<Origin>>| {
        *o = Some(match o.take() {
            None => origin.clone(),
            Some(inner) => chain(&inner, origin),
        });
    };
    mark(&mut node.origin);
    for a in &mut node.args {
        mark(&mut a.origin);
    }
    for p in &mut node.props {
        mark(&mut p.value.origin);
    }
    if let Some(children) = node.children.take() {
        node.children = Some(children.into_iter().map(|c| stamp(c, origin)).collect());
    }
    node
}

fn chain(inner: &Arc<Origin>, outer: &Arc<Origin>) -> Arc<Origin> {
    Arc::new(Origin {
        preset: inner.preset.clone(),
        used_at: inner.used_at,
        parent: Some(match &inner.parent {
            None => outer.clone(),
            Some(p) => chain(p, outer),
        }),
    })
}

fn same_key(a: &Node, b: &Node) -> bool {
    let key = |n: &Node| n.args.first().map(|v| v.literal.clone());
    match (key(a), key(b)) {
        (Some(Literal::Int(x)), Some(Literal::Int(y))) => x == y,
        (x, y) => x == y,
    }
}

/// The node `over` on top of the preset body `base`.
pub fn merge(base: Node, over: Node) -> Node {
    // Raw Kubernetes fields (`pod { … }`, a container's `container { … }`) merge like JSON.
    if over.name.name == "pod" || (over.name.name == "container" && over.args.is_empty()) {
        return merge_raw(base, over);
    }
    let Node { name, ty, args, props: over_props, children: over_children, span, origin } = over;
    // Each of the node's own properties replaces the preset's of the same name; a property the
    // node gives twice stays twice, so that reading it reports the duplicate.
    let mut props = base.props;
    let mut replaced = vec![false; props.len()];
    for p in over_props {
        match (0..replaced.len()).find(|&j| !replaced[j] && props[j].key.name == p.key.name) {
            Some(j) => {
                props[j] = p;
                replaced[j] = true;
            }
            None => props.push(p),
        }
    }
    let children = match (base.children, over_children) {
        (None, None) => None,
        (b, o) => {
            let mut result: Vec<Node> = b.unwrap_or_default();
            let mut matched = vec![false; result.len()];
            for oc in o.unwrap_or_default() {
                let name = oc.name.name.as_str();
                let found = if APPENDED.contains(&name) {
                    None
                } else {
                    let keyed = KEYED.contains(&name);
                    (0..result.len())
                        .find(|&j| !matched[j] && result[j].name.name == name && (!keyed || same_key(&result[j], &oc)))
                };
                match found {
                    Some(j) => {
                        let base_child = std::mem::replace(&mut result[j], placeholder());
                        result[j] = merge(base_child, oc);
                        matched[j] = true;
                    }
                    None => {
                        result.push(oc);
                        matched.push(true);
                    }
                }
            }
            Some(result)
        }
    };
    Node {
        name,
        ty: ty.or(base.ty),
        args: if args.is_empty() { base.args } else { args },
        props,
        children,
        span,
        origin,
    }
}

/// Raw fields merge as JSON objects do: a field the node sets replaces the preset's — merged
/// field by field when both give it once with fields of its own, replaced whole otherwise (a
/// list, written as repeated nodes, is the node's own).
fn merge_raw(base: Node, over: Node) -> Node {
    let Node { name, ty, args, props: over_props, children: over_children, span, origin } = over;
    let had_children = base.children.is_some() || over_children.is_some();
    let base_children = base.children.unwrap_or_default();
    let over_children = over_children.unwrap_or_default();
    let count = |nodes: &[Node], n: &str| nodes.iter().filter(|c| c.name.name == n).count();
    let set_by_over = |n: &str| over_props.iter().any(|p| p.key.name == n) || count(&over_children, n) > 0;
    // The preset's fields the node does not set, then the node's own.
    let mut props: Vec<_> = base.props.into_iter().filter(|p| !set_by_over(&p.key.name)).collect();
    let mut children: Vec<Node> = base_children.iter().filter(|c| !set_by_over(&c.name.name)).cloned().collect();
    for oc in over_children.iter() {
        let n = oc.name.name.as_str();
        let mergeable = count(&base_children, n) == 1 && count(&over_children, n) == 1 && oc.args.is_empty();
        match base_children.iter().find(|b| b.name.name == n) {
            Some(b) if mergeable && b.args.is_empty() && n != super::raw::ELEMENT => {
                children.push(merge_raw(b.clone(), oc.clone()))
            }
            _ => children.push(oc.clone()),
        }
    }
    props.extend(over_props);
    Node {
        name,
        ty: ty.or(base.ty),
        args: if args.is_empty() { base.args } else { args },
        props,
        children: had_children.then_some(children),
        span,
        origin,
    }
}

/// Stands in for a child while it is being merged (moved out, merged, put back).
fn placeholder() -> Node {
    let span = Span::new(crate::diag::FileId(0), 0, 0);
    Node {
        name: crate::syntax::Ident { name: String::new(), span },
        ty: None,
        args: vec![],
        props: vec![],
        children: None,
        span,
        origin: None,
    }
}
