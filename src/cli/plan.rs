//! `msws plan FILE`: what `apply` would change in the cluster, by step; `--json`; `--out` saves
//! the plan for `msws apply PLANFILE`; `--offline` and `--live FILE` plan without a cluster.

use std::path::PathBuf;
use std::process::ExitCode;

use super::common::{ClusterArgs, Output, WorkspaceArgs, write_atomically};
use super::{CliError, CmdResult};
use crate::plan::{Live, ObserveOptions, Source, live_from_yaml, show};

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Plan against an empty cluster, without reading one (for CI without cluster access)
    #[arg(long, conflicts_with = "live")]
    pub offline: bool,
    /// Plan against objects recorded with `kubectl get … -o yaml` instead of a cluster
    #[arg(long, value_name = "FILE")]
    pub live: Option<PathBuf>,
    /// Print the plan as JSON (docs/commands.md describes the document)
    #[arg(long)]
    pub json: bool,
    /// Save the plan for `msws apply PLANFILE`
    #[arg(long, value_name = "PLANFILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when nothing would change, 2 when something would, 1 on errors
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Allow replacing a claim whose access mode, class or volume changed: deletes it and its data
    #[arg(long)]
    pub replace_storage: bool,
    /// Delete claims no longer in the workspace (with their data) instead of keeping them
    #[arg(long)]
    pub delete_storage: bool,
    /// Do not check, with a short-lived pod, that a path on a claim msws did not download into holds a model
    #[arg(long)]
    pub skip_model_check: bool,
}

pub fn run(args: Args, out: &Output) -> CmdResult {
    let (fe, graph) = args.workspace.load(out)?;
    let Some(ws) = &fe.workspace else { return Err(CliError::failure("no workspace")) };
    let runtime = super::common::runtime()?;
    let (source_name, cluster) = if args.offline || args.live.is_some() {
        (None, None)
    } else {
        let c = args.cluster.connect(ws, &runtime)?;
        (Some(c.describe()), Some(c))
    };
    let namespace = args.cluster.namespace_for(ws, cluster.as_deref());
    let request = crate::plan::Request {
        ws,
        graph: &graph,
        namespace: namespace.clone(),
        secret_values: super::common::secret_values(ws),
        cluster: match (&args.live, args.offline, &source_name) {
            (Some(f), _, _) => format!("recorded in {}", f.display()),
            (None, true, _) => "offline".into(),
            (None, false, Some(name)) => name.clone(),
            (None, false, None) => "?".into(),
        },
        workspace_hash: super::common::workspace_hash(&fe, &namespace),
        replace_storage: args.replace_storage,
        delete_storage: args.delete_storage,
    };
    let source = match (&args.live, &cluster) {
        (Some(file), _) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| CliError::failure(format!("cannot read {}: {e}", file.display())))?;
            Source::Known(
                live_from_yaml(&text, &ws.name).map_err(|e| CliError::failure(format!("{}: {e}", file.display())))?,
            )
        }
        (None, Some(c)) => Source::Cluster(c.as_ref(), ObserveOptions::default()),
        (None, None) => Source::Known(Live::empty()),
    };
    let online = matches!(source, Source::Cluster(..));
    let mut plan =
        runtime.block_on(crate::plan::make(&request, source)).map_err(|e| super::common::cluster_error(&e))?;
    if let (true, false, Some(c)) = (online, args.skip_model_check, &cluster) {
        check_models(c.as_ref(), ws, &mut plan, &runtime)?;
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&show::to_json(&plan)).unwrap_or_default());
    } else {
        print!("{}", show::to_text(&plan, show::Style { color: out.color_stdout }));
    }
    if let Some(path) = &args.out {
        let mut plan = plan.clone();
        plan.source = Some(relative_to(&args.workspace.file, path));
        let text = serde_json::to_string_pretty(&plan).map_err(|e| CliError::failure(e.to_string()))?;
        write_atomically(path, text.as_bytes())
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))?;
        if !args.json {
            println!("Saved the plan to {}; `msws apply {}` applies exactly this.", path.display(), path.display());
        }
    }
    if !plan.refusals.is_empty() {
        return Err(CliError::failure("the plan has refusals (above): nothing can be applied until they are resolved"));
    }
    Ok(if args.detailed_exitcode && plan.has_changes() { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

/// The model check (src/plan/models.rs), its progress on stderr; Ctrl-C deletes its pod.
fn check_models(
    cluster: &dyn crate::cluster::Cluster,
    ws: &crate::model::Workspace,
    plan: &mut crate::plan::Plan,
    runtime: &tokio::runtime::Runtime,
) -> Result<(), CliError> {
    let cancel = tokio_util::sync::CancellationToken::new();
    let watcher = runtime.spawn({
        let cancel = cancel.clone();
        async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        }
    });
    let checks = crate::plan::models::ModelChecks::default();
    let progress = |line: &str| eprintln!("{line}");
    let result = runtime.block_on(crate::plan::models::check(cluster, ws, plan, &checks, &cancel, &progress));
    watcher.abort();
    result.map_err(|e| match e {
        crate::plan::models::CheckError::Cluster(c) => super::common::cluster_error(&c),
        other => CliError::failure(other.to_string()),
    })
}

/// `file` as seen from the directory of `plan_file` (absolute when they share no directory).
fn relative_to(file: &std::path::Path, plan_file: &std::path::Path) -> String {
    let abs = |p: &std::path::Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let file = abs(file);
    let dir = abs(plan_file).parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let (f, d): (Vec<_>, Vec<_>) = (file.components().collect(), dir.components().collect());
    let common = f.iter().zip(&d).take_while(|(a, b)| a == b).count();
    if common <= 1 {
        return file.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in common..d.len() {
        rel.push("..");
    }
    for c in &f[common..] {
        rel.push(c);
    }
    rel.display().to_string()
}
