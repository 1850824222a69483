//! `msws render FILE`: the Kubernetes objects of every step, in apply order, as one YAML stream
//! (each object preceded by a comment naming its step), or with `--out DIR` one file per object
//! with an ordered prefix, for GitOps repositories.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::common::{Output, WorkspaceArgs, write_atomically};
use super::{CliError, CmdResult};
use crate::render::{GENERATED, Options, to_files, to_yaml_stream};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// The namespace to render into; default: the workspace's `namespace`, else `default`
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// Write one file per object into DIR (`01-persistentvolumeclaim-model-pvc.yaml`, …);
    /// files an earlier `render --out` wrote and this one does not are removed
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Annotate objects with Argo CD sync waves, one per level of the step graph
    #[arg(long)]
    pub argocd: bool,
}

pub fn run(args: Args, out: &Output) -> CmdResult {
    let (fe, graph) = args.workspace.load(out)?;
    let Some(ws) = &fe.workspace else { return Err(CliError::failure("no workspace")) };
    let namespace = args.namespace.clone().or_else(|| ws.namespace.clone()).unwrap_or_else(|| "default".into());
    if let Err(why) = crate::lower::check_dns_label(&namespace) {
        return Err(CliError::usage(format!("`{namespace}` is not a namespace name: {why}")));
    }
    let opts = Options { namespace, argocd_waves: args.argocd, ..Options::default() };
    let rendered = crate::render::render(ws, &graph, &opts);
    match &args.out {
        None => print!("{}", to_yaml_stream(&rendered)),
        Some(dir) => {
            let files = to_files(&rendered);
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::failure(format!("cannot create {}: {e}", dir.display())))?;
            for f in &files {
                write_atomically(&dir.join(&f.name), f.contents.as_bytes())
                    .map_err(|e| CliError::failure(format!("cannot write {}: {e}", dir.join(&f.name).display())))?;
            }
            let removed = remove_stale(dir, &files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>())?;
            println!(
                "{}: {} file{} written{}",
                dir.display(),
                files.len(),
                if files.len() == 1 { "" } else { "s" },
                if removed.is_empty() {
                    String::new()
                } else {
                    format!(", {} removed ({})", removed.len(), removed.join(", "))
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes files an earlier `render --out` wrote (they start with the generated-file header) that
/// this run did not write. Nothing else in the directory is touched.
fn remove_stale(dir: &Path, keep: &[&str]) -> Result<Vec<String>, CliError> {
    let mut removed = Vec::new();
    let entries =
        std::fs::read_dir(dir).map_err(|e| CliError::failure(format!("cannot list {}: {e}", dir.display())))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.ends_with(".yaml") || keep.contains(&name.as_str()) {
            continue;
        }
        let generated = std::fs::read_to_string(e.path()).is_ok_and(|t| t.starts_with(GENERATED));
        if generated {
            std::fs::remove_file(e.path()).map_err(|err| CliError::failure(format!("cannot remove {name}: {err}")))?;
            removed.push(name);
        }
    }
    removed.sort();
    Ok(removed)
}
