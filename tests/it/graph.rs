//! The step graph of every example workspace, as `msws graph` prints it (text tree and DOT),
//! snapshotted; and the edges each example exists to show, asserted by name so that a reviewed
//! snapshot cannot quietly lose them.

use std::path::{Path, PathBuf};

use msws::graph::{StepGraph, StepId};
use msws::lower::{DiskFiles, Options};

use crate::support::{is_root_file, rendered, root, workspace_files};

/// The root workspaces under `workspaces/` (imported libraries such as `multi-env/base.kdl` are
/// not workspaces of their own).
fn example_workspaces() -> Vec<PathBuf> {
    workspace_files(&root().join("workspaces")).into_iter().filter(|f| is_root_file(f)).collect()
}

/// Loads an example with no `--var` and no environment, and builds its graph.
fn graph_of(rel: &Path) -> StepGraph {
    let mut fe = msws::lower::load(rel, &DiskFiles, &Options::default());
    let ws = fe.workspace.take().unwrap_or_else(|| panic!("{} does not load:\n{}", rel.display(), rendered(&fe)));
    let graph = msws::graph::build(&ws, &mut fe.sink);
    graph.unwrap_or_else(|| panic!("{} has no graph:\n{}", rel.display(), rendered(&fe)))
}

/// `multi-env/dev.kdl` → `multi-env-dev`.
fn snapshot_name(rel: &Path) -> String {
    let rel = rel.strip_prefix("workspaces").unwrap_or(rel);
    rel.with_extension("").to_string_lossy().replace(['/', '\\'], "-")
}

fn id(s: &str) -> StepId {
    StepId::parse(s).unwrap_or_else(|| panic!("`{s}` is not a step id"))
}

/// The steps `step` waits for, by id.
fn dependencies(g: &StepGraph, step: &str) -> Vec<String> {
    let i = g.find(&id(step)).unwrap_or_else(|| panic!("no step {step} in {}", g.workspace));
    g.dependencies(i).into_iter().map(|d| g.step(d).id.to_string()).collect()
}

fn order(g: &StepGraph) -> Vec<String> {
    g.steps().map(|s| s.id.to_string()).collect()
}

#[test]
fn every_example_workspace_has_snapshotted_text_and_dot_graphs() {
    let files = example_workspaces();
    assert!(files.len() >= 8, "found only {files:?}");
    for f in files {
        let g = graph_of(&f);
        let name = snapshot_name(&f);
        insta::assert_snapshot!(format!("{name}.text"), msws::graph::to_text(&g));
        insta::assert_snapshot!(format!("{name}.dot"), msws::graph::to_dot(&g));
    }
}

#[test]
fn every_dependency_comes_before_its_dependents_in_every_example() {
    for f in example_workspaces() {
        let g = graph_of(&f);
        for &i in g.order() {
            for d in g.dependencies(i) {
                assert!(
                    g.position(d) < g.position(i),
                    "{}: {} runs before {}",
                    f.display(),
                    g.step(i).id,
                    g.step(d).id
                );
            }
        }
    }
}

#[test]
fn a_read_write_once_claim_is_released_between_the_download_and_the_model_service() {
    let g = graph_of(Path::new("workspaces/opt-125m-rwo.kdl"));
    assert_eq!(
        order(&g),
        [
            "storage/model-pvc",
            "secret/hf-token",
            "download/opt-125m",
            "release/opt-125m",
            "pre-pull/opt",
            "model-service/opt"
        ]
    );
    assert_eq!(dependencies(&g, "release/opt-125m"), ["download/opt-125m"]);
    assert_eq!(dependencies(&g, "model-service/opt"), ["storage/model-pvc", "release/opt-125m", "pre-pull/opt"]);
    // The pre-pull waits for nothing: it runs beside the claim and the download.
    assert!(dependencies(&g, "pre-pull/opt").is_empty());
    // The service never waits on the download directly: only through its release.
    assert!(!dependencies(&g, "model-service/opt").contains(&"download/opt-125m".to_string()));
    let text = msws::graph::to_text(&g);
    assert!(text.contains("└── download/opt-125m") && text.contains("    └── release/opt-125m"), "{text}");
    let dot = msws::graph::to_dot(&g);
    assert!(dot.contains("\"release/opt-125m\" [shape=box, style=dashed];"), "{dot}");
    assert!(dot.contains("\"download/opt-125m\" -> \"release/opt-125m\";"), "{dot}");
    assert!(dot.contains("\"release/opt-125m\" -> \"model-service/opt\""), "{dot}");
}

#[test]
fn a_read_write_many_claim_has_no_release_step() {
    for f in ["workspaces/opt-125m-rwx.kdl", "workspaces/shared-claim.kdl", "workspaces/multi-env/prod.kdl"] {
        let g = graph_of(Path::new(f));
        assert!(g.steps().all(|s| !s.id.to_string().starts_with("release/")), "{f}: {:?}", order(&g));
    }
    let g = graph_of(Path::new("workspaces/opt-125m-rwx.kdl"));
    assert_eq!(dependencies(&g, "model-service/opt"), ["storage/model-pvc", "download/opt-125m", "pre-pull/opt"]);
}

#[test]
fn an_after_in_the_file_is_an_edge_of_the_graph() {
    let g = graph_of(Path::new("workspaces/shared-claim.kdl"));
    assert_eq!(
        dependencies(&g, "model-service/qwen"),
        ["storage/models", "download/qwen-7b", "model-service/llama", "pre-pull/qwen"]
    );
    let llama = order(&g).iter().position(|s| s == "model-service/llama");
    let qwen = order(&g).iter().position(|s| s == "model-service/qwen");
    assert!(llama < qwen, "{:?}", order(&g));
    let dot = msws::graph::to_dot(&g);
    assert!(dot.contains("\"model-service/llama\" -> \"model-service/qwen\" [label=\"after\", style=bold];"), "{dot}");
    let text = msws::graph::to_text(&g);
    assert!(
        text.contains("model-service/qwen  (also after storage/models, model-service/llama, pre-pull/qwen)"),
        "{text}"
    );
}

#[test]
fn a_model_served_from_an_existing_claim_waits_for_the_claim_and_its_token() {
    let g = graph_of(Path::new("workspaces/pvc-hf.kdl"));
    assert_eq!(order(&g), ["storage/hf-cache", "secret/llm-d-hf-token", "pre-pull/llama", "model-service/llama"]);
    assert_eq!(
        dependencies(&g, "model-service/llama"),
        ["storage/hf-cache", "secret/llm-d-hf-token", "pre-pull/llama"]
    );
    let dot = msws::graph::to_dot(&g);
    assert!(dot.contains("\"storage/hf-cache\" -> \"model-service/llama\";"), "{dot}");
}

#[test]
fn a_workspace_without_storage_is_its_model_service_and_its_pre_pull() {
    for f in ["workspaces/cpu-sim.kdl", "workspaces/hf-direct.kdl"] {
        let g = graph_of(Path::new(f));
        assert_eq!(g.len(), 2, "{f}: {:?}", order(&g));
        assert!(order(&g)[0].starts_with("pre-pull/"));
        assert!(order(&g)[1].starts_with("model-service/"));
    }
}
