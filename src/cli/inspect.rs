//! `msws inspect STORAGE FILE`: the runbook's debugging pod, done for the user. A short-lived,
//! read-only pod lists the claim and names every model directory on it with the URI a model
//! service serves it with (src/inspect/). No lock: it changes nothing msws owns, and the pod is
//! deleted on every way out, Ctrl-C included.

use std::process::ExitCode;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::common::{ClusterArgs, Output, WorkspaceArgs, cluster_error};
use super::{CliError, CmdResult};
use crate::inspect::{InspectError, Inspection, Request, show};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The `storage` of the workspace whose claim to inspect
    pub storage: String,
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Print the inspection as JSON (docs/commands.md describes the document)
    #[arg(long)]
    pub json: bool,
    /// Directory levels below the claim's root that are searched for models and listed
    #[arg(long, value_name = "N", default_value_t = crate::inspect::DEFAULT_DEPTH, value_parser = clap::value_parser!(u32).range(0..=32))]
    pub depth: u32,
    /// How long the inspection may take, the image pull included (`90s`, `10m`)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = super::apply::parse_duration)]
    pub timeout: Duration,
    /// The image that runs the inspection (any with python3); default: the workspace's downloader image
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
}

pub fn run(args: Args, out: &Output) -> CmdResult {
    let (fe, _) = args.workspace.load(out)?;
    let Some(ws) = &fe.workspace else { return Err(CliError::failure("no workspace")) };
    let request = request(&args, ws, None)?;
    let runtime = super::common::runtime()?;
    let cluster = args.cluster.connect(ws, &runtime)?;
    let request = Request { namespace: args.cluster.namespace_for(ws, Some(cluster.as_ref())), ..request };
    let cancel = CancellationToken::new();
    runtime.spawn({
        let cancel = cancel.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: deleting the inspection pod");
                cancel.cancel();
            }
        }
    });
    let progress = |line: &str| eprintln!("{line}");
    let result = runtime.block_on(crate::inspect::inspect(cluster.as_ref(), &request, &cancel, &progress));
    print(&result, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// The inspection the arguments ask for (`namespace` as given, else the workspace's).
pub fn request(args: &Args, ws: &crate::model::Workspace, namespace: Option<&str>) -> Result<Request, CliError> {
    if ws.storage(&args.storage).is_none() {
        let names: Vec<&str> = ws.storages.iter().map(|s| s.name.as_str()).collect();
        let hint = match crate::diag::did_you_mean(&args.storage, names.iter().copied()) {
            Some(s) => format!(" (did you mean `{s}`?)"),
            None if names.is_empty() => " (it declares none)".to_string(),
            None => format!(" (it declares {})", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
        };
        return Err(CliError::usage(format!("workspace {} has no storage `{}`{hint}", ws.name, args.storage)));
    }
    let namespace = namespace
        .map(str::to_string)
        .or_else(|| args.cluster.namespace.clone())
        .or_else(|| ws.namespace.clone())
        .unwrap_or_else(|| "default".into());
    Ok(Request {
        image: args.image.clone().unwrap_or_else(|| crate::inspect::image_for(ws, &args.storage)),
        depth: args.depth,
        timeout: args.timeout,
        ..Request::new(&namespace, &args.storage, &ws.name)
    })
}

/// Prints an inspection (or says why there is none).
pub fn print(result: &Result<Inspection, InspectError>, json: bool) -> Result<(), CliError> {
    match result {
        Ok(i) if json => {
            println!("{}", serde_json::to_string_pretty(&show::to_json(i)).unwrap_or_default());
            Ok(())
        }
        Ok(i) => {
            print!("{}", show::to_text(i));
            Ok(())
        }
        Err(e) => Err(error(e)),
    }
}

/// An inspection's failure as the line a user reads.
pub fn error(e: &InspectError) -> CliError {
    match e {
        InspectError::Cluster(c) => cluster_error(c),
        other => CliError::failure(other.to_string()),
    }
}
