//! Properties of the step graph, checked on random workspaces written as text: the order respects
//! every edge and holds every step once, a cycle is always reported with every step in it named,
//! and the same input always gives the same order.
//!
//! The generator writes storages (some single-attach), an optional secret, downloads into those
//! storages and model-services (some serving a download), with random `after` edges between them.
//! Next to the text it keeps its own model of the edges the spec promises (storage → download →
//! release → model-service, secret → download, claim → model-service, `after`), which is the oracle
//! the graph is checked against.

use std::collections::{BTreeMap, BTreeSet};

use msws::diag::Sink;
use msws::graph::StepGraph;
use msws::lower::{Frontend, Options, load_str};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::Index;

use crate::robustness::config;

/// A random workspace, before it is written out.
#[derive(Clone, Debug)]
struct Spec {
    /// One entry per storage: whether it is single-attach (ReadWriteOnce).
    storages: Vec<bool>,
    secret: bool,
    /// One entry per download: the storage it writes into, and whether it reads the secret.
    downloads: Vec<(usize, bool)>,
    /// One entry per model-service: the download it serves, if any.
    services: Vec<Option<usize>>,
    /// `(owner, target)`: the owner (a download, then the services, by index) is `after` the
    /// target (any step, by index into [`Spec::steps`]).
    afters: Vec<(usize, usize)>,
}

impl Spec {
    fn storage(i: usize) -> String {
        format!("storage/st-{i}")
    }
    fn download(i: usize) -> String {
        format!("download/dl-{i}")
    }
    fn release(i: usize) -> String {
        format!("release/dl-{i}")
    }
    fn service(i: usize) -> String {
        format!("model-service/ms-{i}")
    }

    fn single_attach(&self, download: usize) -> bool {
        self.storages[self.downloads[download].0]
    }

    /// Every step, in a fixed order; `after` targets index into this list.
    fn steps(&self) -> Vec<String> {
        let mut out: Vec<String> = (0..self.storages.len()).map(Spec::storage).collect();
        if self.secret {
            out.push("secret/tok".into());
        }
        for d in 0..self.downloads.len() {
            out.push(Spec::download(d));
            if self.single_attach(d) {
                out.push(Spec::release(d));
            }
        }
        out.extend((0..self.services.len()).map(Spec::service));
        out
    }

    /// Every step of the graph: [`Spec::steps`] (what an `after` may name here) and the
    /// pre-pull of each service.
    fn all_steps(&self) -> Vec<String> {
        let mut out = self.steps();
        out.extend((0..self.services.len()).map(|i| format!("pre-pull/ms-{i}")));
        out
    }

    /// The owner of an `after`: downloads first, then services.
    fn owner(&self, i: usize) -> String {
        if i < self.downloads.len() { Spec::download(i) } else { Spec::service(i - self.downloads.len()) }
    }

    /// The edges the spec promises, as `(dependency, dependent)`.
    fn edges(&self) -> BTreeSet<(String, String)> {
        let mut e = BTreeSet::new();
        let mut last_release: BTreeMap<usize, usize> = BTreeMap::new();
        for (d, &(st, tok)) in self.downloads.iter().enumerate() {
            e.insert((Spec::storage(st), Spec::download(d)));
            if tok {
                e.insert(("secret/tok".into(), Spec::download(d)));
            }
            if self.storages[st] {
                // Downloads into one single-attach claim run one at a time, each released first.
                e.insert((Spec::download(d), Spec::release(d)));
                if let Some(prev) = last_release.insert(st, d) {
                    e.insert((Spec::release(prev), Spec::download(d)));
                }
            }
        }
        for (s, model) in self.services.iter().enumerate() {
            e.insert((format!("pre-pull/ms-{s}"), Spec::service(s)));
            let Some(d) = *model else { continue };
            let st = self.downloads[d].0;
            e.insert((Spec::storage(st), Spec::service(s)));
            let from = if self.single_attach(d) { Spec::release(d) } else { Spec::download(d) };
            e.insert((from, Spec::service(s)));
            if self.storages[st] {
                for (other, _) in self.downloads.iter().enumerate().filter(|(_, (o, _))| *o == st) {
                    e.insert((Spec::release(other), Spec::service(s)));
                }
            }
        }
        let steps = self.steps();
        for &(owner, target) in &self.afters {
            e.insert((steps[target].clone(), self.owner(owner)));
        }
        e
    }

    fn text(&self) -> String {
        let steps = self.steps();
        let mut afters: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for &(owner, target) in &self.afters {
            afters.entry(self.owner(owner)).or_default().push(steps[target].clone());
        }
        let after_line = |owner: String| match afters.get(&owner) {
            Some(targets) => {
                let quoted: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
                format!("    after {}\n", quoted.join(" "))
            }
            None => String::new(),
        };
        let mut t = String::from("workspace \"prop\" format=1 {\n    namespace \"ns\"\n}\n\n");
        for (i, single) in self.storages.iter().enumerate() {
            let access = if *single { "ReadWriteOnce" } else { "ReadWriteMany" };
            t += &format!("storage \"st-{i}\" {{\n    access \"{access}\"\n    size \"10Gi\"\n}}\n\n");
        }
        if self.secret {
            t += "secret \"tok\" from-env=\"HF_TOKEN\"\n\n";
        }
        for (i, &(st, tok)) in self.downloads.iter().enumerate() {
            t += &format!(
                "download \"dl-{i}\" {{\n    from \"hf://org/d{i}\"\n    into \"st-{st}\" path=\"models/d{i}\"\n"
            );
            if tok {
                t += "    token secret=\"tok\"\n";
            }
            t += &after_line(Spec::download(i));
            t += "}\n\n";
        }
        for (i, model) in self.services.iter().enumerate() {
            t += &format!("model-service \"ms-{i}\" {{\n");
            match model {
                Some(d) => t += &format!("    model \"dl-{d}\"\n"),
                None => t += &format!("    uri \"hf://org/m{i}\"\n"),
            }
            t += &format!("    served-name \"org/m{i}\"\n    decode extends=\"std/vllm-single\"\n");
            t += &after_line(Spec::service(i));
            t += "}\n\n";
        }
        t
    }

    /// Strongly connected components of the oracle's graph that form a cycle (two or more steps,
    /// or one step waiting for itself).
    fn cycles(&self) -> Vec<BTreeSet<String>> {
        let steps = self.steps();
        let edges = self.edges();
        let reach = |from: &str| -> BTreeSet<String> {
            let mut seen = BTreeSet::new();
            let mut stack = vec![from.to_string()];
            while let Some(n) = stack.pop() {
                for (a, b) in &edges {
                    if *a == n && seen.insert(b.clone()) {
                        stack.push(b.clone());
                    }
                }
            }
            seen
        };
        let reach: BTreeMap<&String, BTreeSet<String>> = steps.iter().map(|s| (s, reach(s))).collect();
        let mut out: Vec<BTreeSet<String>> = Vec::new();
        for s in &steps {
            if !reach[s].contains(s) || out.iter().any(|c| c.contains(s)) {
                continue;
            }
            out.push(steps.iter().filter(|t| reach[s].contains(*t) && reach[*t].contains(s)).cloned().collect());
        }
        out
    }

    /// Drops every `after` that would close a cycle, keeping the rest in order.
    fn without_cycles(mut self) -> Spec {
        let all = std::mem::take(&mut self.afters);
        for a in all {
            self.afters.push(a);
            if !self.cycles().is_empty() {
                self.afters.pop();
            }
        }
        self
    }
}

fn spec() -> impl Strategy<Value = Spec> {
    (0usize..=3, any::<bool>(), 0usize..=4, 1usize..=8).prop_flat_map(|(ns, secret, nd, nm)| {
        let nd = if ns == 0 { 0 } else { nd };
        (
            vec(any::<bool>(), ns),
            vec((0..ns.max(1), any::<bool>()), nd),
            vec(option::of(0..nd.max(1)), nm),
            vec((0..nd + nm, any::<Index>()), 0..=12),
        )
            .prop_map(move |(storages, downloads, services, afters)| {
                let mut spec = Spec {
                    storages,
                    secret,
                    downloads: downloads.into_iter().map(|(st, tok)| (st, tok && secret)).collect(),
                    services: services.into_iter().map(|m| m.filter(|_| nd > 0)).collect(),
                    afters: vec![],
                };
                let n = spec.steps().len();
                spec.afters = afters.into_iter().map(|(owner, target)| (owner, target.index(n))).collect();
                spec
            })
    })
}

/// Loads and builds; the generated text itself must always load without errors.
fn build(spec: &Spec) -> (Frontend, Option<StepGraph>) {
    let text = spec.text();
    let mut fe = load_str("prop.kdl", &text, &Options::default());
    let ws = fe
        .workspace
        .as_ref()
        .unwrap_or_else(|| panic!("generated workspace does not load:\n{text}\n{:#?}", fe.sink.diagnostics()));
    let mut sink = Sink::new();
    let graph = msws::graph::build(ws, &mut sink);
    fe.sink.extend(sink);
    (fe, graph)
}

fn order(g: &StepGraph) -> Vec<String> {
    g.steps().map(|s| s.id.to_string()).collect()
}

/// The step names a message mentions (`kind/name` words).
fn named_steps(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '/'))
        .filter(|w| w.contains('/'))
        .map(str::to_string)
        .collect()
}

fn check_order(spec: &Spec, g: &StepGraph) -> Result<(), TestCaseError> {
    let order = order(g);
    let pos: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
    prop_assert_eq!(pos.len(), order.len(), "a step appears twice: {:?}", order);
    let expected: BTreeSet<String> = spec.all_steps().into_iter().collect();
    let got: BTreeSet<String> = order.iter().cloned().collect();
    prop_assert_eq!(got, expected, "the order holds exactly the workspace's steps");
    for (from, to) in spec.edges() {
        prop_assert!(pos[from.as_str()] < pos[to.as_str()], "{} must run before {}: {:?}", from, to, order);
    }
    // The graph's own edges, including any the oracle does not know about, are respected too.
    for &i in g.order() {
        for d in g.dependencies(i) {
            prop_assert!(g.position(d) < g.position(i), "{} before {}", g.step(d).id, g.step(i).id);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn acyclic_graphs_build_and_the_order_respects_every_edge(spec in spec().prop_map(Spec::without_cycles)) {
        let (fe, graph) = build(&spec);
        prop_assert!(spec.cycles().is_empty());
        let g = graph.ok_or_else(|| TestCaseError::fail(format!("no graph: {:#?}", fe.sink.diagnostics())))?;
        prop_assert!(!fe.sink.has_errors(), "{:#?}", fe.sink.diagnostics());
        check_order(&spec, &g)?;
    }

    #[test]
    fn any_graph_either_orders_or_names_every_cycle(spec in spec()) {
        let (fe, graph) = build(&spec);
        let cycles = spec.cycles();
        if cycles.is_empty() {
            let g = graph.ok_or_else(|| TestCaseError::fail(format!("no graph: {:#?}", fe.sink.diagnostics())))?;
            check_order(&spec, &g)?;
        } else {
            prop_assert!(graph.is_none(), "a cycle was not reported: {:?}\n{}", cycles, spec.text());
            let reported: Vec<BTreeSet<String>> = fe
                .sink
                .diagnostics()
                .iter()
                .filter(|d| d.code == "msws::cycle")
                .map(|d| named_steps(&format!("{} {}", d.message, d.help.as_deref().unwrap_or(""))))
                .collect();
            prop_assert!(!reported.is_empty(), "no msws::cycle diagnostic: {:#?}", fe.sink.diagnostics());
            // Each cycle (strongly connected component) gets a diagnostic that names all its steps.
            for cycle in &cycles {
                prop_assert!(
                    reported.iter().any(|r| cycle.is_subset(r)),
                    "no diagnostic names all of {:?}; reported {:?}",
                    cycle,
                    reported
                );
            }
        }
    }

    #[test]
    fn the_order_is_deterministic(spec in spec().prop_map(Spec::without_cycles)) {
        let (_, first) = build(&spec);
        let (_, second) = build(&spec);
        let (first, second) = (first.expect("acyclic"), second.expect("acyclic"));
        prop_assert_eq!(order(&first), order(&second));
    }
}

/// A cycle written on purpose among the services, whatever else is generated, is always reported.
#[test]
fn an_injected_cycle_is_always_reported() {
    proptest!(config(128), |(spec in spec(), len in 1usize..=4)| {
        let mut spec = spec;
        let nm = spec.services.len();
        let len = len.min(nm);
        let nd = spec.downloads.len();
        // ms-0 after ms-1 after … after ms-(len-1) after ms-0.
        let service_step = |s: usize, spec: &Spec| spec.steps().iter().position(|x| *x == Spec::service(s)).unwrap();
        for k in 0..len {
            let target = service_step((k + 1) % len, &spec);
            spec.afters.push((nd + k, target));
        }
        let (fe, graph) = build(&spec);
        prop_assert!(graph.is_none());
        let ring: BTreeSet<String> = (0..len).map(Spec::service).collect();
        let named = fe
            .sink
            .diagnostics()
            .iter()
            .filter(|d| d.code == "msws::cycle")
            .any(|d| ring.is_subset(&named_steps(&format!("{} {}", d.message, d.help.as_deref().unwrap_or("")))));
        prop_assert!(named, "the ring {:?} is not named: {:#?}", ring, fe.sink.diagnostics());
    });
}
