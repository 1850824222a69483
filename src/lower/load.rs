//! Loading a workspace's files: the root file, the files it imports (relative to the importing
//! file, cycles reported), and the built-in standard library of presets from `stdlib/`.
//!
//! Reading goes through [`Files`] so the front end can run on an in-memory file set (tests, fuzzing)
//! exactly as it runs on disk.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::diag::{Diagnostic, FileId, Sink, SourceMap, Span};
use crate::syntax::{self, Document, Node};

/// The standard library, compiled into the binary. Preset names in these files are used with a
/// `std/` prefix.
pub const STDLIB: &[(&str, &str)] = &[
    ("vllm.kdl", include_str!("../../stdlib/vllm.kdl")),
    ("hf-download.kdl", include_str!("../../stdlib/hf-download.kdl")),
];

pub trait Files {
    fn read(&self, path: &Path) -> std::io::Result<String>;
}

/// The real file system.
pub struct DiskFiles;

impl Files for DiskFiles {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }
}

/// An in-memory file set, keyed by normalised path.
#[derive(Default)]
pub struct MemFiles(pub BTreeMap<PathBuf, String>);

impl MemFiles {
    pub fn with(mut self, path: &str, text: &str) -> MemFiles {
        self.0.insert(normalize(Path::new(path)), text.to_string());
        self
    }
}

impl Files for MemFiles {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        self.0.get(&normalize(path)).cloned().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
    }
}

/// Lexical normalisation (`a/./b/../c` → `a/c`), so one file imported by two paths loads once.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// A top-level node and the file it came from.
pub struct TopNode {
    pub node: Node,
    pub root: bool,
}

pub struct Loaded {
    /// Top-level nodes in reading order, imports expanded where the `import` stands.
    pub nodes: Vec<TopNode>,
    /// The parsed standard library files.
    pub stdlib: Vec<Document>,
    /// Every user file read (root first), for hashing and token scanning.
    pub files: Vec<FileId>,
    /// A user file had a syntax error: its declarations are missing, so checking the rest would
    /// only report their absence (no workspace, dangling references).
    pub syntax_errors: bool,
}

pub fn load(root: &Path, files: &dyn Files, map: &mut SourceMap, sink: &mut Sink) -> Loaded {
    let mut loaded = Loaded { nodes: vec![], stdlib: vec![], files: vec![], syntax_errors: false };
    for (name, text) in STDLIB {
        let id = map.add(format!("<stdlib>/{name}"), None, *text);
        if let Some(doc) = syntax::parse(id, text, sink) {
            loaded.stdlib.push(doc);
        }
    }
    let text = match files.read(root) {
        Ok(t) => t,
        Err(e) => {
            sink.push(Diagnostic::error("msws::io", format!("cannot read {}: {e}", root.display())));
            return loaded;
        }
    };
    let id = map.add(root.display().to_string(), Some(&normalize(root)), text);
    let mut stack = vec![(normalize(root), None)];
    read_file(id, true, files, map, sink, &mut stack, &mut loaded);
    loaded
}

fn read_file(
    id: FileId,
    root: bool,
    files: &dyn Files,
    map: &mut SourceMap,
    sink: &mut Sink,
    stack: &mut Vec<(PathBuf, Option<Span>)>,
    loaded: &mut Loaded,
) {
    loaded.files.push(id);
    let text = map.get(id).text.clone();
    let Some(doc) = syntax::parse(id, &text, sink) else {
        loaded.syntax_errors = true;
        return;
    };
    let dir = map.get(id).path.as_deref().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
    for node in doc.nodes {
        if node.name.name != "import" {
            loaded.nodes.push(TopNode { node, root });
            continue;
        }
        let Some(target) = import_target(&node, sink) else { continue };
        // The import node itself stays in the list: its properties set variables.
        loaded.nodes.push(TopNode { node: node.clone(), root });
        let path = normalize(&dir.join(&target));
        if let Some(pos) = stack.iter().position(|(p, _)| *p == path) {
            let chain: Vec<String> =
                stack[pos..].iter().map(|(p, _)| p.display().to_string()).chain([path.display().to_string()]).collect();
            let mut d = Diagnostic::error("msws::import-cycle", format!("import cycle: {}", chain.join(" → ")))
                .label(node.head_span(), "this import closes the cycle")
                .help("a file cannot import itself, directly or through other files");
            for (_, span) in stack[pos + 1..].iter() {
                if let Some(span) = span {
                    d = d.note(Diagnostic::new_note("part of the cycle").label(*span, "imported here"));
                }
            }
            sink.push(d);
            continue;
        }
        if map.find_path(&path).is_some() {
            // Already loaded through another import: its declarations are in once.
            continue;
        }
        let text = match files.read(&path) {
            Ok(t) => t,
            Err(e) => {
                let message = match e.kind() {
                    std::io::ErrorKind::NotFound => format!("the imported file {} does not exist", path.display()),
                    _ => format!("cannot read the imported file {}: {e}", path.display()),
                };
                sink.push(Diagnostic::error("msws::import", message).label(node.args[0].span, "imported here").help(
                    format!(
                        "import paths are relative to the file that imports them, here {}",
                        if dir.as_os_str().is_empty() {
                            "the current directory".to_string()
                        } else {
                            format!("`{}/`", dir.display())
                        }
                    ),
                ));
                continue;
            }
        };
        let child = map.add(path.display().to_string(), Some(&path), text);
        stack.push((path, Some(node.head_span())));
        read_file(child, false, files, map, sink, stack, loaded);
        stack.pop();
    }
}

fn import_target(node: &Node, sink: &mut Sink) -> Option<String> {
    let bad = |sink: &mut Sink, span: Span| {
        sink.push(
            Diagnostic::error("msws::import", "`import` takes one path")
                .label(span, "expected `import \"file.kdl\"`")
                .help("import paths are relative to the importing file"),
        );
    };
    if node.args.len() != 1 || node.children.is_some() {
        bad(sink, node.span);
        return None;
    }
    match &node.args[0].literal {
        syntax::Literal::String(s) if !s.is_empty() => Some(s.clone()),
        _ => {
            bad(sink, node.args[0].span);
            None
        }
    }
}
