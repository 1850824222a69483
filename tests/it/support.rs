//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

use msws::diag::{RenderOptions, render_all};
use msws::lower::{DiskFiles, Frontend, Options};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Loads a file by its path relative to the crate root, so diagnostics name it stably.
pub fn load(rel: &Path) -> Frontend {
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(cwd, root(), "tests run from the crate root");
    let mut fe = msws::lower::load(rel, &DiskFiles, &Options::default());
    if let Some(ws) = &fe.workspace {
        msws::graph::build(ws, &mut fe.sink);
    }
    fe
}

/// All diagnostics, rendered without colour at a fixed width.
pub fn rendered(fe: &Frontend) -> String {
    render_all(fe.sink.sorted(), &fe.map, RenderOptions::plain())
}

/// Every `.kdl` file under `dir`, recursively, sorted.
pub fn kdl_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "kdl") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// [`kdl_files`] relative to the crate root. Root files and imported ones alike: callers filter
/// (see `is_root_file`).
pub fn workspace_files(dir: &Path) -> Vec<PathBuf> {
    kdl_files(dir).into_iter().map(|p| p.strip_prefix(root()).map(Path::to_path_buf).unwrap_or(p)).collect()
}

/// Whether a file declares a workspace (imported library files do not).
pub fn is_root_file(p: &Path) -> bool {
    let text = std::fs::read_to_string(p).unwrap();
    text.lines().any(|l| l.trim_start().starts_with("workspace "))
}

/// Snapshot filter: the version of the Kustomize that built a recipe (it is kubectl's, and differs
/// between machines).
pub const KUSTOMIZE_VERSION: [(&str, &str); 1] = [(r"\(Kustomize v[^)\s]+\)", "(Kustomize [version])")];
