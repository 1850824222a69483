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

    /// Whether `path` is a directory (a Kustomize directory of manifests).
    fn is_dir(&self, _path: &Path) -> bool {
        false
    }

    /// The manifests a Kustomize directory builds, and what built them (`kubectl kustomize
    /// (Kustomize v5.5.0)`), or why they could not be built.
    fn kustomize(&self, dir: &Path) -> Result<(String, String), String> {
        Err(format!("{} is a directory, and this front end builds no Kustomize directories", dir.display()))
    }
}

/// The real file system; Kustomize directories are built with `kubectl kustomize` (the kubectl
/// of `MSWS_KUBECTL`, else of `PATH`).
pub struct DiskFiles;

impl Files for DiskFiles {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn kustomize(&self, dir: &Path) -> Result<(String, String), String> {
        let kubectl = std::env::var_os("MSWS_KUBECTL").unwrap_or_else(|| "kubectl".into());
        let shown = Path::new(&kubectl).display().to_string();
        let missing = |e: std::io::Error| {
            format!(
                "cannot run `{shown} kustomize` to build {}: {e}. msws builds Kustomize directories with kubectl: install kubectl (or set MSWS_KUBECTL to it), or build the manifests yourself (`kubectl kustomize DIR > manifests.yaml`) and name the file",
                dir.display()
            )
        };
        let out = std::process::Command::new(&kubectl).arg("kustomize").arg(dir).output().map_err(missing)?;
        if !out.status.success() {
            return Err(format!(
                "`{shown} kustomize {}` failed: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let text = String::from_utf8(out.stdout)
            .map_err(|_| format!("`{shown} kustomize` printed something that is not UTF-8"))?;
        // The version, for the plan to name (best effort: the build itself already worked).
        let version = std::process::Command::new(&kubectl)
            .args(["version", "--client"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|v| v.lines().find_map(|l| l.strip_prefix("Kustomize Version: ").map(str::to_string)));
        let by = match version {
            Some(v) => format!("{shown} kustomize (Kustomize {v})"),
            None => format!("{shown} kustomize"),
        };
        Ok((text, by))
    }
}

/// The manifests a model service names (`manifests "dir-or-file"`), read while loading.
#[derive(Clone, Debug)]
pub struct ManifestText {
    /// What they are: `file pd.yaml`, or the build command.
    pub source: String,
    /// Their text (a YAML stream), or why it could not be had.
    pub text: Result<String, String>,
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
            // `..` undoes a name before it; at the start of a relative path (or after another
            // `..`) it stays, and above the root it is the root.
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
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
    /// The manifests model services name, by the span of the path that names them.
    pub manifests: BTreeMap<Span, ManifestText>,
}

pub fn load(root: &Path, files: &dyn Files, map: &mut SourceMap, sink: &mut Sink) -> Loaded {
    let mut loaded =
        Loaded { nodes: vec![], stdlib: vec![], files: vec![], syntax_errors: false, manifests: BTreeMap::new() };
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
    read_manifests(files, map, &mut loaded);
    loaded
}

/// Reads the manifests each model service names (`manifests "path"`, relative to its file): a
/// YAML file, or a Kustomize directory built with `kubectl kustomize`. Their text joins the
/// user's files, so that the workspace's hash covers it and a token in it is found.
fn read_manifests(files: &dyn Files, map: &mut SourceMap, loaded: &mut Loaded) {
    let mut wanted = Vec::new();
    for top in loaded.nodes.iter().filter(|t| t.node.name.name == "model-service") {
        for c in top.node.children().iter().filter(|c| c.name.name == "manifests") {
            if let Some(arg) = c.args.first()
                && let syntax::Literal::String(p) = &arg.literal
            {
                wanted.push((arg.span, p.clone()));
            }
        }
    }
    for (span, given) in wanted {
        let dir = map.get(span.file).path.as_deref().and_then(Path::parent).map(Path::to_path_buf).unwrap_or_default();
        let path = normalize(&dir.join(&given));
        let m = if files.is_dir(&path) {
            match files.kustomize(&path) {
                Ok((text, by)) => {
                    ManifestText { source: format!("the Kustomize directory {given}, built by {by}"), text: Ok(text) }
                }
                Err(e) => ManifestText { source: format!("the Kustomize directory {given}"), text: Err(e) },
            }
        } else {
            match files.read(&path) {
                Ok(text) => ManifestText { source: format!("the file {given}"), text: Ok(text) },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => ManifestText {
                    source: format!("the file {given}"),
                    text: Err(format!("{} does not exist (paths are relative to the workspace file)", path.display())),
                },
                Err(e) => ManifestText {
                    source: format!("the file {given}"),
                    text: Err(format!("cannot read {}: {e}", path.display())),
                },
            }
        };
        if let Ok(text) = &m.text {
            let id = map.add(format!("<manifests {given}>"), None, text.as_str());
            loaded.files.push(id);
        }
        loaded.manifests.insert(span, m);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_keeps_the_parents_a_relative_path_climbs() {
        let n = |p: &str| normalize(Path::new(p)).display().to_string();
        assert_eq!(n("a/./b/../c"), "a/c");
        assert_eq!(n("../../x/y"), "../../x/y");
        assert_eq!(n("a/../../x"), "../x");
        assert_eq!(n("/../x"), "/x");
        assert_eq!(n("./w.kdl"), "w.kdl");
    }
}
