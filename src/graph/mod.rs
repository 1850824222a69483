//! Stage 3, graph: the steps a workspace needs and the order between them (spec §2).
//!
//! Steps: `storage/<name>`, `secret/<name>`, `download/<name>`, `release/<download>` (only for a
//! download into a ReadWriteOnce or ReadWriteOncePod claim), `pre-pull/<model-service>` (unless
//! the workspace says `pre-pull #false`) and `model-service/<name>`. Edges: storage → download →
//! release → model-service; pre-pull → model-service (a pre-pull waits for nothing, so it runs
//! alongside the claim and the download); a secret → whatever uses it; a claim → the
//! model-services reading it; `after` adds its own. A cycle is an error naming every step in it.
//!
//! The order is deterministic: among the steps that are ready, the one declared first goes first.

mod render;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::diag::{Diagnostic, Sink, Span};
use crate::model::{EnvValue, StepKind, Workspace};

pub use render::{to_dot, to_text};

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepId {
    pub kind: StepKind,
    pub name: String,
}

impl StepId {
    pub fn new(kind: StepKind, name: impl Into<String>) -> StepId {
        StepId { kind, name: name.into() }
    }
    /// Parses `kind/name`.
    pub fn parse(s: &str) -> Option<StepId> {
        let (k, n) = s.split_once('/')?;
        Some(StepId::new(StepKind::parse(k)?, n))
    }
}

impl fmt::Display for StepId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind.as_str(), self.name)
    }
}

#[derive(Clone, Debug)]
pub struct Step {
    pub id: StepId,
    /// Where the step is declared (for a release: its download).
    pub span: Span,
}

/// Why one step waits for another.
#[derive(Clone, Debug, PartialEq)]
pub enum Edge {
    /// The download writes into the claim.
    Storage,
    /// The step reads the secret.
    Secret,
    /// The release deletes this download's Job.
    Release,
    /// The model-service serves this download's files.
    Model,
    /// The model-service mounts the claim.
    Claim,
    /// A single-attach claim: the downloader must be gone first.
    Attach,
    /// The model-service's images were pulled onto its nodes beforehand.
    PrePull,
    /// Written in the file with `after`.
    After(Span),
}

impl Edge {
    pub fn describe(&self) -> &'static str {
        match self {
            Edge::Storage => "writes into the claim",
            Edge::Secret => "reads the secret",
            Edge::Release => "deletes the downloader",
            Edge::Model => "serves the downloaded model",
            Edge::Claim => "mounts the claim",
            Edge::Attach => "needs the single-attach claim free",
            Edge::PrePull => "starts from images already on its nodes",
            Edge::After(_) => "`after`",
        }
    }
}

pub struct StepGraph {
    pub workspace: String,
    pub graph: DiGraph<Step, Edge>,
    order: Vec<NodeIndex>,
    /// Position of each step (by node index) in `order`.
    rank: Vec<usize>,
    index: BTreeMap<StepId, NodeIndex>,
}

impl StepGraph {
    /// Steps in execution order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.order.iter().map(|&i| &self.graph[i])
    }
    pub fn order(&self) -> &[NodeIndex] {
        &self.order
    }
    pub fn find(&self, id: &StepId) -> Option<NodeIndex> {
        self.index.get(id).copied()
    }
    pub fn step(&self, i: NodeIndex) -> &Step {
        &self.graph[i]
    }
    pub fn len(&self) -> usize {
        self.order.len()
    }
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
    /// The steps `i` waits for, in execution order.
    pub fn dependencies(&self, i: NodeIndex) -> Vec<NodeIndex> {
        let mut deps: Vec<NodeIndex> = self.graph.neighbors_directed(i, petgraph::Direction::Incoming).collect();
        deps.sort_by_key(|d| self.position(*d));
        deps.dedup();
        deps
    }
    /// The steps that wait for `i`.
    pub fn dependents(&self, i: NodeIndex) -> Vec<NodeIndex> {
        let mut deps: Vec<NodeIndex> = self.graph.neighbors_directed(i, petgraph::Direction::Outgoing).collect();
        deps.sort_by_key(|d| self.position(*d));
        deps.dedup();
        deps
    }
    pub fn position(&self, i: NodeIndex) -> usize {
        self.rank.get(i.index()).copied().unwrap_or(usize::MAX)
    }
}

/// Builds the step graph. A cycle is reported to `sink` and yields `None`.
pub fn build(ws: &Workspace, sink: &mut Sink) -> Option<StepGraph> {
    let mut g: DiGraph<Step, Edge> = DiGraph::new();
    let mut index = BTreeMap::new();
    let mut add = |g: &mut DiGraph<Step, Edge>, kind, name: &str, span| {
        let id = StepId::new(kind, name);
        let i = g.add_node(Step { id: id.clone(), span });
        index.insert(id, i);
        i
    };
    for s in &ws.storages {
        add(&mut g, StepKind::Storage, &s.name, s.span);
    }
    for s in &ws.secrets {
        add(&mut g, StepKind::Secret, &s.name, s.span);
    }
    let lookup = ws.lookup();
    let single_attach = |claim: &str| lookup.single_attach(claim);
    for d in &ws.downloads {
        add(&mut g, StepKind::Download, &d.name, d.span);
        if single_attach(&d.storage) {
            add(&mut g, StepKind::Release, &d.name, d.span);
        }
    }
    for s in &ws.services {
        if ws.pre_pull {
            add(&mut g, StepKind::PrePull, &s.name, s.span);
        }
        add(&mut g, StepKind::ModelService, &s.name, s.span);
    }
    // Edges are added by (kind, name) without allocating a `StepId` per lookup.
    let by_name: std::collections::HashMap<(StepKind, &str), NodeIndex> =
        g.node_indices().map(|i| ((g[i].id.kind, g[i].id.name.as_str()), i)).collect();
    let idx = |kind, name: &str| by_name.get(&(kind, name)).copied();
    let mut edges: Vec<(Option<NodeIndex>, Option<NodeIndex>, Edge)> = Vec::new();

    // Downloads into one single-attach claim run one after another, each released before the next.
    let mut last_release: BTreeMap<&str, &str> = BTreeMap::new();
    for d in &ws.downloads {
        let me = idx(StepKind::Download, &d.name);
        edges.push((idx(StepKind::Storage, &d.storage), me, Edge::Storage));
        if let Some(t) = &d.token {
            edges.push((idx(StepKind::Secret, &t.secret), me, Edge::Secret));
        }
        if single_attach(&d.storage) {
            edges.push((me, idx(StepKind::Release, &d.name), Edge::Release));
            if let Some(prev) = last_release.insert(&d.storage, &d.name) {
                edges.push((idx(StepKind::Release, prev), me, Edge::Attach));
            }
        }
        for a in &d.after {
            edges.push((idx(a.kind, &a.name), me, Edge::After(a.span)));
        }
    }
    for s in &ws.services {
        let me = idx(StepKind::ModelService, &s.name);
        edges.push((idx(StepKind::PrePull, &s.name), me, Edge::PrePull));
        if let Some(claim) = s.model.uri().claim() {
            edges.push((idx(StepKind::Storage, claim), me, Edge::Claim));
            if single_attach(claim) {
                for d in lookup.downloads_into.get(claim).into_iter().flatten() {
                    edges.push((idx(StepKind::Release, &d.name), me, Edge::Attach));
                }
            }
        }
        if let crate::model::ModelSource::Download { name, .. } = &s.model
            && let Some(d) = lookup.downloads.get(name.as_str())
        {
            let from = if single_attach(&d.storage) { StepKind::Release } else { StepKind::Download };
            edges.push((idx(from, name), me, Edge::Model));
        }
        let mut secrets: Vec<&str> = s.token.iter().map(|t| t.secret.as_str()).collect();
        for (_, role) in s.roles() {
            for c in role.containers.iter().chain(&role.init_containers) {
                for e in &c.env {
                    if let EnvValue::SecretKey { secret, .. } = &e.value {
                        secrets.push(secret);
                    }
                }
            }
        }
        for secret in secrets {
            edges.push((idx(StepKind::Secret, secret), me, Edge::Secret));
        }
        for a in &s.after {
            edges.push((idx(a.kind, &a.name), me, Edge::After(a.span)));
        }
    }
    for (from, to, why) in edges {
        // Dangling references were reported by the front end; they add no edge.
        if let (Some(from), Some(to)) = (from, to)
            && !g.edges_connecting(from, to).any(|e| *e.weight() == why)
        {
            g.add_edge(from, to, why);
        }
    }

    if report_cycles(&g, sink) {
        return None;
    }
    let order = topological(&g);
    let mut rank = vec![usize::MAX; g.node_count()];
    for (k, i) in order.iter().enumerate() {
        rank[i.index()] = k;
    }
    Some(StepGraph { workspace: ws.name.clone(), graph: g, order, rank, index })
}

/// Kahn's algorithm; among ready steps the earliest declared goes first.
fn topological(g: &DiGraph<Step, Edge>) -> Vec<NodeIndex> {
    let mut indegree: Vec<usize> =
        g.node_indices().map(|i| g.neighbors_directed(i, petgraph::Direction::Incoming).count()).collect();
    let mut ready: BinaryHeap<Reverse<usize>> =
        g.node_indices().filter(|i| indegree[i.index()] == 0).map(|i| Reverse(i.index())).collect();
    let mut order = Vec::with_capacity(g.node_count());
    while let Some(Reverse(i)) = ready.pop() {
        let n = NodeIndex::new(i);
        order.push(n);
        for e in g.edges(n) {
            let t = e.target().index();
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push(Reverse(t));
            }
        }
    }
    order
}

/// Reports every cycle (one diagnostic per strongly connected component). True if any.
fn report_cycles(g: &DiGraph<Step, Edge>, sink: &mut Sink) -> bool {
    let mut found = false;
    let mut sccs = petgraph::algo::tarjan_scc(g);
    sccs.sort_by_key(|c| c.iter().map(|i| i.index()).min());
    for mut scc in sccs {
        let self_loop = scc.len() == 1 && g.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        found = true;
        scc.sort();
        let cycle = cycle_path(g, &scc);
        let names: Vec<String> = cycle.iter().chain(cycle.first()).map(|&i| g[i].id.to_string()).collect();
        let message = if self_loop {
            format!("step `{}` waits for itself", g[scc[0]].id)
        } else {
            format!("steps wait for each other in a cycle: {}", names.join(" → "))
        };
        let mut d = Diagnostic::error("msws::cycle", message)
            .help("no order satisfies these edges; remove one of the `after`s in the cycle");
        let mut labelled = false;
        for (k, &from) in cycle.iter().enumerate() {
            let to = cycle[(k + 1) % cycle.len()];
            if let Some(e) = g.edges_connecting(from, to).next() {
                let text = if from == to {
                    format!("{} waits for itself ({})", g[to].id, e.weight().describe())
                } else {
                    format!("{} waits for {} ({})", g[to].id, g[from].id, e.weight().describe())
                };
                match e.weight() {
                    Edge::After(span) => d = d.label(*span, text),
                    _ => d = d.label(g[to].span, text),
                }
                labelled = true;
            }
        }
        if !labelled {
            d = d.label(g[scc[0]].span, "in a cycle");
        }
        // Every step in the cycle, not only those on the path drawn above, is named.
        let others: Vec<String> = scc.iter().filter(|i| !cycle.contains(i)).map(|&i| g[i].id.to_string()).collect();
        if !others.is_empty() {
            d = d.help(format!(
                "also in the cycle: {}; remove one of the `after`s between these steps",
                others.join(", ")
            ));
        }
        sink.push(d);
    }
    found
}

/// A closed walk through the component, starting from its first step.
fn cycle_path(g: &DiGraph<Step, Edge>, scc: &[NodeIndex]) -> Vec<NodeIndex> {
    let start = scc[0];
    // Depth-first search inside the component for a path back to `start`.
    let mut stack = vec![(start, vec![start])];
    let mut seen = vec![start];
    while let Some((n, path)) = stack.pop() {
        let mut next: Vec<NodeIndex> = g.neighbors(n).filter(|m| scc.contains(m)).collect();
        next.sort();
        next.dedup();
        for m in next.into_iter().rev() {
            if m == start {
                return path;
            }
            if !seen.contains(&m) {
                seen.push(m);
                let mut p = path.clone();
                p.push(m);
                stack.push((m, p));
            }
        }
    }
    vec![start]
}
