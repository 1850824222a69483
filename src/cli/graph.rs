//! `msws graph FILE`: the steps and their order, as a text tree or (`--dot`) Graphviz DOT.

use std::process::ExitCode;

use super::CmdResult;
use super::common::{Output, WorkspaceArgs};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// Print Graphviz DOT instead of a tree (`msws graph w.kdl --dot | dot -Tsvg > steps.svg`)
    #[arg(long)]
    pub dot: bool,
}

pub fn run(args: Args, out: &Output) -> CmdResult {
    let (_, graph) = args.workspace.load(out)?;
    let text = if args.dot { crate::graph::to_dot(&graph) } else { crate::graph::to_text(&graph) };
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
