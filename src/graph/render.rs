//! `msws graph` output: a text tree and Graphviz DOT.

use std::collections::HashMap;
use std::fmt::Write;

use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;

use super::{Edge, StepGraph};
use crate::model::StepKind;

/// How strongly an edge says "this is what the step is for": the runbook's chain (claim →
/// download → release → service) reads best as the tree's spine.
fn spine_rank(e: &Edge) -> u8 {
    match e {
        Edge::Release | Edge::Model => 6,
        Edge::Storage => 5,
        Edge::Attach => 4,
        Edge::Claim => 3,
        Edge::After(_) => 2,
        Edge::PrePull => 1,
        Edge::Secret => 1,
    }
}

/// A tree in execution order. Each step hangs under one dependency — the one on the runbook's
/// chain (claim → download → release → service) — and its other dependencies are listed after it.
pub fn to_text(g: &StepGraph) -> String {
    let n = g.len();
    let mut out = format!("workspace {}: {} step{}\n", g.workspace, n, if n == 1 { "" } else { "s" });
    let parent = |i: NodeIndex| {
        g.graph
            .edges_directed(i, petgraph::Direction::Incoming)
            .max_by_key(|e| (spine_rank(e.weight()), g.position(e.source())))
            .map(|e| e.source())
    };
    let mut tree = Tree { g, parent: HashMap::new(), kids: HashMap::new() };
    for &i in g.order() {
        let p = parent(i);
        tree.parent.insert(i, p);
        tree.kids.entry(p).or_default().push(i);
    }
    for &r in tree.kids.get(&None).map(Vec::as_slice).unwrap_or(&[]) {
        tree.walk(&mut out, r, "", true, true);
    }
    out
}

struct Tree<'a> {
    g: &'a StepGraph,
    parent: HashMap<NodeIndex, Option<NodeIndex>>,
    /// Children of each step (`None`: the roots), in execution order.
    kids: HashMap<Option<NodeIndex>, Vec<NodeIndex>>,
}

impl Tree<'_> {
    fn walk(&self, out: &mut String, i: NodeIndex, prefix: &str, last: bool, root: bool) {
        let g = self.g;
        let branch = if root {
            ""
        } else if last {
            "└── "
        } else {
            "├── "
        };
        let mut line = format!("{prefix}{branch}{}", g.step(i).id);
        let parent = self.parent.get(&i).copied().flatten();
        let others: Vec<String> =
            g.dependencies(i).into_iter().filter(|d| Some(*d) != parent).map(|d| g.step(d).id.to_string()).collect();
        if !others.is_empty() {
            line += &format!("  (also after {})", others.join(", "));
        }
        let _ = writeln!(out, "{line}");
        let kids = self.kids.get(&Some(i)).map(Vec::as_slice).unwrap_or(&[]);
        let child_prefix =
            if root { String::new() } else { format!("{prefix}{}", if last { "    " } else { "│   " }) };
        for (k, c) in kids.iter().enumerate() {
            self.walk(out, *c, &child_prefix, k + 1 == kids.len(), false);
        }
    }
}

/// Which reason labels a DOT edge: an explicit `after` first, then a single-attach wait.
fn dot_rank(e: &Edge) -> u8 {
    match e {
        Edge::After(_) => 2,
        Edge::Attach => 1,
        _ => 0,
    }
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Graphviz DOT, one node per step (shaped by kind), one edge per dependency.
pub fn to_dot(g: &StepGraph) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph {} {{", quote(&g.workspace));
    let _ = writeln!(out, "    rankdir=LR;");
    let _ = writeln!(out, "    node [fontname=\"Helvetica\"];");
    for &i in g.order() {
        let step = g.step(i);
        let shape = match step.id.kind {
            StepKind::Storage => "cylinder",
            StepKind::Secret => "note",
            StepKind::Download => "box",
            StepKind::Release => "box, style=dashed",
            StepKind::PrePull => "box, style=dotted",
            StepKind::ModelService => "component",
        };
        let _ = writeln!(out, "    {} [shape={shape}];", quote(&step.id.to_string()));
    }
    for &i in g.order() {
        let mut edges: Vec<_> = g.graph.edges(i).collect();
        // One arrow per pair of steps: an edge that exists for several reasons is drawn once,
        // labelled by the reason a reader most needs to see.
        edges.sort_by_key(|e| (g.position(e.target()), std::cmp::Reverse(dot_rank(e.weight()))));
        edges.dedup_by_key(|e| e.target());
        for e in edges {
            let attrs = match e.weight() {
                Edge::After(_) => " [label=\"after\", style=bold]",
                Edge::Attach => " [label=\"single-attach\"]",
                Edge::PrePull => " [style=dotted]",
                _ => "",
            };
            let _ = writeln!(
                out,
                "    {} -> {}{attrs};",
                quote(&g.step(i).id.to_string()),
                quote(&g.step(e.target()).id.to_string())
            );
        }
    }
    out.push_str("}\n");
    out
}
