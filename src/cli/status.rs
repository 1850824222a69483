//! `msws status FILE`: each step's live state — ready, waiting (and why), failed (and why), or
//! absent — and what each download recorded.

use std::process::ExitCode;

use super::common::{ClusterArgs, Output, WorkspaceArgs};
use super::{CliError, CmdResult};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Print the states as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args, out: &Output) -> CmdResult {
    let (fe, graph) = args.workspace.load(out)?;
    let Some(ws) = &fe.workspace else { return Err(CliError::failure("no workspace")) };
    let runtime = super::common::runtime()?;
    let cluster = args.cluster.connect(ws, &runtime)?;
    let namespace = args.cluster.namespace_for(ws, Some(cluster.as_ref()));
    let rendered = crate::render::render(
        ws,
        &graph,
        &crate::render::Options { namespace: namespace.clone(), ..Default::default() },
    );
    let states = runtime
        .block_on(crate::plan::status::status(cluster.as_ref(), ws, &graph, &rendered))
        .map_err(|e| super::common::cluster_error(&e))?;
    if args.json {
        let doc = serde_json::json!({
            "version": 1,
            "workspace": ws.name,
            "namespace": namespace,
            "cluster": cluster.describe(),
            "steps": states,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        println!("Status of workspace {} in namespace {} ({})\n", ws.name, namespace, cluster.describe());
        let width = states.iter().map(|s| s.step.len()).max().unwrap_or(0);
        for s in &states {
            println!("  {:width$}  {:8} {}", s.step, s.state, s.detail);
        }
    }
    Ok(if states.iter().any(|s| s.state == "failed") { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
