//! Stage 2, lower: syntax trees → the typed [`Workspace`](crate::model::Workspace).
//!
//! In order: load the root file and its imports (`load`), refuse literal tokens, declare variables
//! (`vars`), register presets (`presets`), read the `workspace` node and its `format`, expand
//! `extends` and read every declaration (`nodes`), then check references and run the lints that
//! need no cluster (`check`). Every problem is collected; the workspace is returned only when
//! there is no error.

mod check;
mod load;
mod nodes;
mod presets;
pub mod raw;
mod read;
mod vars;

use std::collections::BTreeMap;
use std::path::Path;

pub use load::{DiskFiles, Files, MemFiles, STDLIB, normalize};
pub use read::{check_dns_label, check_dns_subdomain};
pub use vars::{VarSource, env_name};

use crate::diag::{Diagnostic, FileId, Sink, SourceMap, Span, did_you_mean, token_ranges};
use crate::model::Workspace;
use crate::syntax::Literal;

use presets::{PresetKind, Presets};
use read::{Cx, Reader};

/// What the user passed from outside the file.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--var name=value`.
    pub vars: BTreeMap<String, String>,
    /// The process environment (only `MSWS_VAR_*` is read). Passed in so lowering stays pure.
    pub env: BTreeMap<String, String>,
}

/// A variable and the value it took, for `msws validate --format json`.
#[derive(Clone, Debug)]
pub struct VarInfo {
    pub name: String,
    pub value: Option<String>,
    pub source: VarSource,
}

/// Everything the front end produced: the files it read, its diagnostics, and the workspace when
/// there was no error.
pub struct Frontend {
    pub map: SourceMap,
    pub sink: Sink,
    pub workspace: Option<Workspace>,
    /// The user's files (root first, then imports), for hashing.
    pub files: Vec<FileId>,
    pub vars: Vec<VarInfo>,
}

const TOP_LEVEL: [&str; 8] = ["workspace", "import", "var", "preset", "storage", "secret", "download", "model-service"];

/// Loads and checks the workspace file at `path`.
pub fn load(path: &Path, files: &dyn Files, opts: &Options) -> Frontend {
    let mut map = SourceMap::new();
    let mut sink = Sink::new();
    let mut loaded = load::load(path, files, &mut map, &mut sink);
    let mut vars = vars::Vars::default();
    let workspace = lower(&mut loaded, &map, opts, &mut sink, &mut vars);
    vars.finish(&opts.vars, &mut sink);
    let var_info = vars
        .iter()
        .map(|(n, v)| VarInfo { name: n.clone(), value: v.value.clone(), source: v.source.clone() })
        .collect();
    let workspace = if sink.has_errors() { None } else { workspace };
    Frontend { map, sink, workspace, files: loaded.files, vars: var_info }
}

/// Loads a workspace held in memory (tests, fuzzing, benchmarks).
pub fn load_str(name: &str, text: &str, opts: &Options) -> Frontend {
    load(Path::new(name), &MemFiles::default().with(name, text), opts)
}

fn lower(
    loaded: &mut load::Loaded,
    map: &SourceMap,
    opts: &Options,
    sink: &mut Sink,
    vars: &mut vars::Vars,
) -> Option<Workspace> {
    // A token in a file that is kept in Git is a leak, wherever it stands (comments included).
    for &file in &loaded.files {
        for (start, end) in token_ranges(&map.get(file).text) {
            sink.push(
                Diagnostic::error("msws::literal-token", "a Hugging Face token is written in the workspace file")
                    .label(Span::new(file, start, end), "a token (shown masked)")
                    .help("remove it and revoke it; declare `secret \"hf-token\" from-env=\"HF_TOKEN\"` and use `token secret=\"hf-token\"`"),
            );
        }
    }

    // A file with a syntax error contributed nothing: checking the rest would only report its
    // declarations as missing.
    if loaded.syntax_errors {
        return None;
    }
    for top in &loaded.nodes {
        type_annotations(&top.node, sink);
    }

    // Variables set on `import` nodes: `import "base.kdl" replicas=4`.
    let mut imported: BTreeMap<String, (Literal, Span)> = BTreeMap::new();
    for top in loaded.nodes.iter().filter(|t| t.node.name.name == "import") {
        for p in &top.node.props {
            if let Some((_, first)) = imported.get(&p.key.name) {
                sink.push(
                    Diagnostic::error("msws::duplicate", format!("variable `{}` is set by two imports", p.key.name))
                        .label(p.key.span, "set again here")
                        .label(*first, "first set here"),
                );
                continue;
            }
            imported.insert(p.key.name.clone(), (p.value.literal.clone(), p.key.span));
        }
    }
    for top in loaded.nodes.iter().filter(|t| t.node.name.name == "var") {
        let mut cx = Cx::new(sink, vars);
        let mut r = Reader::new(&top.node);
        let name = r.arg(&mut cx, 0, "a name").and_then(|v| match &v.literal {
            Literal::String(s)
                if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                Some((s.clone(), v.span))
            }
            Literal::String(s) => {
                let fixed: String =
                    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' }).collect();
                cx.error(
                    Diagnostic::error("msws::variable", format!("`{s}` is not a valid variable name"))
                        .label(v.span, "invalid variable name")
                        .help(format!(
                            "a variable name is letters, digits, `-` and `_`, such as `{}`",
                            fixed.trim_matches('-')
                        )),
                );
                None
            }
            _ => {
                cx.error(
                    Diagnostic::error("msws::variable", "a variable name is a string")
                        .label(v.span, "not a string")
                        .help("write `var \"name\" default=…`"),
                );
                None
            }
        });
        // `default=#null` gives no default: the value must then come from outside.
        let default = r.prop("default").map(|v| v.literal.clone()).filter(|l| *l != Literal::Null);
        let _description = r.prop("description").and_then(|v| cx.string(v));
        r.finish(&mut cx);
        if let Some((name, span)) = name {
            let set = imported.get(&name).map(|(l, _)| l);
            vars.declare(&name, default.as_ref(), set, span, &opts.vars, &opts.env, sink);
        }
    }
    for (name, (_, span)) in &imported {
        if !vars.is_declared(name) {
            let mut d =
                Diagnostic::error("msws::variable", format!("the import sets `{name}`, which no file declares"))
                    .label(*span, "not a variable");
            d = match did_you_mean(name, vars.names()) {
                Some(m) => d.help(format!("did you mean `{m}`?")),
                None => d.help(format!("declare it in the imported file: `var \"{name}\" default=…`")),
            };
            sink.push(d);
        }
    }

    let mut presets = Presets::default();
    {
        let mut cx = Cx::new(sink, vars);
        for doc in &loaded.stdlib {
            presets.add_stdlib(doc, &mut cx);
        }
        for top in loaded.nodes.iter().filter(|t| t.node.name.name == "preset") {
            presets.declare(&top.node, false, &mut cx);
        }
    }

    let mut cx = Cx::new(sink, vars);
    cx.manifests = std::mem::take(&mut loaded.manifests);
    cx.steps = loaded
        .nodes
        .iter()
        .filter(|t| matches!(t.node.name.name.as_str(), "storage" | "secret" | "download" | "model-service"))
        .filter_map(|t| Some(format!("{}/{}", t.node.name.name, t.node.key()?)))
        .collect();
    let root_file = loaded.files.first().copied()?;
    let ws_nodes: Vec<&load::TopNode> = loaded.nodes.iter().filter(|t| t.node.name.name == "workspace").collect();
    for t in ws_nodes.iter().filter(|t| !t.root) {
        cx.error(
            Diagnostic::error("msws::import", "an imported file cannot declare a workspace")
                .label(t.node.head_span(), "a `workspace` in an imported file")
                .help("keep the `workspace` node in the file you run msws on; imported files hold declarations and presets"),
        );
    }
    let roots: Vec<&&load::TopNode> = ws_nodes.iter().filter(|t| t.root).collect();
    if let [_, second, ..] = roots.as_slice() {
        cx.error(
            Diagnostic::error("msws::duplicate", "the file declares two workspaces")
                .label(second.node.head_span(), "a second `workspace`")
                .label(roots[0].node.head_span(), "the first")
                .help("one file is one workspace; to share declarations between workspaces, move them to a file without a `workspace` node and `import` it from each"),
        );
    }
    let Some(ws_node) = roots.first() else {
        cx.error(
            Diagnostic::error("msws::missing", "the file declares no workspace")
                .label(Span::new(root_file, 0, 0), "expected `workspace \"name\" format=1 { … }`")
                .help("start the file with `workspace \"my-model\" format=1 { namespace \"llm-d\" }`"),
        );
        return None;
    };
    let header = nodes::workspace(&mut cx, &ws_node.node);
    // Without a known format the rest of the file has no defined meaning: stop here.
    let (name, format, namespace, labels, annotations, pre_pull) = header?;

    let mut ws = Workspace {
        name,
        format,
        namespace,
        labels,
        annotations,
        storages: vec![],
        secrets: vec![],
        downloads: vec![],
        services: vec![],
        pre_pull,
        span: ws_node.node.head_span(),
    };
    // The declarations are read once more, for the last time: expansion takes them by value.
    presets.expand_all(&mut cx);
    let declared = read_all(std::mem::take(&mut loaded.nodes), &presets, &mut cx);
    ws.storages = declared.storages;
    ws.secrets = declared.secrets;
    ws.downloads = declared.downloads;
    ws.services = declared.services;
    check::check(&mut cx, &mut ws);
    Some(ws)
}

/// The declarations read from the top-level nodes.
#[derive(Default)]
struct Declared {
    storages: Vec<crate::model::Storage>,
    secrets: Vec<crate::model::Secret>,
    downloads: Vec<crate::model::Download>,
    services: Vec<crate::model::ModelService>,
}

impl Declared {
    fn append(&mut self, mut other: Declared) {
        self.storages.append(&mut other.storages);
        self.secrets.append(&mut other.secrets);
        self.downloads.append(&mut other.downloads);
        self.services.append(&mut other.services);
    }
}

/// Below this many top-level nodes, reading on one thread is faster than starting others.
const PARALLEL_FROM: usize = 256;

/// Reads every declaration. Each is read on its own (presets are expanded already), so a large
/// workspace is split over the cores: each thread has its own sink and its own record of the
/// variables it used, merged back in order, so the result does not depend on the split.
fn read_all(nodes: Vec<load::TopNode>, presets: &Presets, cx: &mut Cx) -> Declared {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if nodes.len() < PARALLEL_FROM || threads < 2 {
        return read_declarations(nodes, presets, cx);
    }
    let per = nodes.len().div_ceil(threads);
    let mut chunks: Vec<Vec<load::TopNode>> = Vec::new();
    let mut nodes = nodes.into_iter().peekable();
    while nodes.peek().is_some() {
        chunks.push(nodes.by_ref().take(per).collect());
    }
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let mut vars = cx.vars.clone();
                let steps = cx.steps.clone();
                scope.spawn(move || {
                    let mut sink = Sink::new();
                    let mut tcx = Cx::new(&mut sink, &mut vars);
                    tcx.steps = steps;
                    let declared = read_declarations(chunk, presets, &mut tcx);
                    let incomplete = std::mem::take(&mut tcx.incomplete);
                    (declared, sink, vars, incomplete)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect::<Vec<_>>()
    });
    let mut all = Declared::default();
    for (declared, sink, vars, incomplete) in results {
        all.append(declared);
        cx.sink.extend(sink);
        cx.vars.merge_used(vars);
        cx.incomplete.extend(incomplete);
    }
    all
}

fn read_declarations(nodes: Vec<load::TopNode>, presets: &Presets, cx: &mut Cx) -> Declared {
    let mut out = Declared::default();
    for top in nodes {
        let node = top.node;
        match node.name.name.as_str() {
            "workspace" | "import" | "var" | "preset" => {}
            "storage" => {
                let n = presets.expand(node, PresetKind::Storage, None, cx);
                out.storages.extend(nodes::storage(cx, &n));
            }
            "secret" => out.secrets.extend(nodes::secret(cx, &node)),
            "download" => {
                let n = presets.expand(node, PresetKind::Download, Some("std/hf-download"), cx);
                out.downloads.extend(nodes::download(cx, &n));
            }
            "model-service" => {
                let n = presets.expand(node, PresetKind::ModelService, None, cx);
                out.services.extend(nodes::model_service(cx, &n));
            }
            other => {
                let mut d = Diagnostic::error("msws::unknown-node", format!("unknown node `{other}`"))
                    .label(node.name.span, "unknown node");
                d = match did_you_mean(other, TOP_LEVEL) {
                    Some(m) => d.help(format!("did you mean `{m}`?")),
                    None => {
                        d.help(format!("a workspace file holds {}", TOP_LEVEL.map(|t| format!("`{t}`")).join(", ")))
                    }
                };
                cx.error(d);
            }
        }
    }
    out
}

/// KDL type annotations (`(u8)"5"`) mean nothing in a workspace file; one that is silently ignored
/// would suggest a check msws does not make.
fn type_annotations(node: &crate::syntax::Node, sink: &mut Sink) {
    let types =
        node.ty.iter().chain(node.args.iter().chain(node.props.iter().map(|p| &p.value)).filter_map(|v| v.ty.as_ref()));
    for ty in types {
        sink.push(
            Diagnostic::error("msws::type-annotation", format!("type annotation `({})` is not used", ty.name))
                .label(ty.span, "msws gives type annotations no meaning")
                .help(format!("remove `({})`; values are checked by the property they are given to", ty.name)),
        );
    }
    for c in node.children() {
        // Raw Kubernetes fields read `(array)` and `(object)` themselves (`lower::raw`).
        let raw = matches!(
            c.name.name.as_str(),
            "pod" | "object" | "relabeling" | "metric-relabeling" | "namespace-selector"
        ) || (c.name.name == "container" && c.args.is_empty())
            || node.name.name == "volume";
        if !raw {
            type_annotations(c, sink);
        }
    }
}
