//! `msws apply`, `msws destroy`, `msws recover` and `msws unlock`: the commands that change the
//! cluster. Each takes the lock, writes a journal, and rolls back on failure (src/apply/).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::common::{ClusterArgs, Output, WorkspaceArgs};
use super::{CliError, CmdResult};
use crate::apply::engine::{self, Command, Outcome, Report};
use crate::apply::lock::Holder;
use crate::apply::progress::{self, Event, Reporter};
use crate::apply::session::{self, Recovery, RunError, Stop};
use crate::plan::{Plan, show};

/// What apply and destroy share.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Steps that run at once (independent branches of the graph)
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
    /// Timeout of every wait, overriding the file's and the defaults (`90s`, `10m`, `2h`)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// On failure, leave everything as it is instead of rolling back (the journal stays)
    #[arg(long)]
    pub no_rollback: bool,
    /// On failure, also delete the claims this run created (and the downloads in them)
    #[arg(long)]
    pub rollback_storage: bool,
    /// Print progress as JSON lines on stdout (for CI)
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// The workspace file, or a plan saved with `msws plan --out`
    pub file: PathBuf,
    /// Set a variable: `--var name=value` (repeatable); wins over MSWS_VAR_<NAME> and the default
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = super::common::parse_var)]
    pub vars: Vec<(String, String)>,
    #[command(flatten)]
    pub run: RunArgs,
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

#[derive(clap::Args, Debug)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    #[command(flatten)]
    pub run: RunArgs,
    /// Delete the claims too, with the downloaded weights on them
    #[arg(long)]
    pub delete_storage: bool,
}

#[derive(clap::Args, Debug)]
#[group(id = "how", required = true, multiple = false)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Undo what the interrupted run did (storage and downloads are kept)
    #[arg(long, group = "how")]
    pub rollback: bool,
    /// Finish the interrupted run: plan again and apply; a failure rolls back both runs
    #[arg(long, group = "how")]
    pub resume: bool,
    /// Print progress as JSON lines on stdout
    #[arg(long)]
    pub json: bool,
    /// Do not ask for confirmation
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// With --resume: steps that run at once
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallelism: u16,
    /// Timeout of every wait, overriding the file's and the defaults (`90s`, `10m`, `2h`)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
    /// With --resume: do not check that paths on claims msws did not download into hold a model
    #[arg(long)]
    pub skip_model_check: bool,
}

#[derive(clap::Args, Debug)]
pub struct UnlockArgs {
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Required: deleting another run's lock lets two runs change the same objects at once
    #[arg(long)]
    pub force: bool,
}

pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::model::Duration::parse(s).map(|d| d.as_std()).map_err(|_| {
        format!("`{s}` is not a duration: whole numbers with units `s`, `m`, `h` or `d`, like `90s`, `10m`, `2h`")
    })
}

impl RunArgs {
    fn options(&self) -> engine::Options {
        engine::Options {
            parallelism: usize::from(self.parallelism),
            timeout: self.timeout,
            rollback: !self.no_rollback,
            rollback_storage: self.rollback_storage,
            ..engine::Options::default()
        }
    }
}

/// A saved plan, if `file` is one (JSON with a `format` and `steps`); `None` for a workspace file.
fn saved_plan(file: &std::path::Path) -> Result<Option<Plan>, CliError> {
    let text =
        std::fs::read_to_string(file).map_err(|e| CliError::failure(format!("cannot read {}: {e}", file.display())))?;
    if !text.trim_start().starts_with('{') {
        return Ok(None);
    }
    let plan: Plan = serde_json::from_str(&text).map_err(|e| {
        CliError::failure(format!("{} looks like a saved plan but cannot be read: {e}", file.display()))
    })?;
    if plan.format != crate::plan::PLAN_FORMAT {
        return Err(CliError::failure(format!(
            "{} is a plan of format {}; this msws reads format {}: make a new plan",
            file.display(),
            plan.format,
            crate::plan::PLAN_FORMAT
        )));
    }
    Ok(Some(plan))
}

/// The saved plan's workspace file: recorded in the plan, relative to the plan file.
fn plan_workspace(plan: &Plan, plan_file: &std::path::Path) -> Result<PathBuf, CliError> {
    let Some(source) = &plan.source else {
        return Err(CliError::failure("the saved plan does not name its workspace file: make a new plan"));
    };
    let p = PathBuf::from(source);
    Ok(if p.is_absolute() { p } else { plan_file.parent().unwrap_or(std::path::Path::new(".")).join(p) })
}

/// Ctrl-C once: stop and roll back; twice: stop the rollback too (the journal stays).
fn watch_ctrl_c(stop: &Stop, reporter: Arc<dyn Reporter>, runtime: &tokio::runtime::Runtime) {
    let stop = stop.clone();
    runtime.spawn(async move {
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        reporter.event(&Event::Warning {
            message: "interrupted: stopping and rolling back (Ctrl-C again stops the rollback; the journal then stays for `msws recover`)".into(),
        });
        stop.cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            stop.abort.cancel();
        }
    });
}

/// Asks "yes" on a terminal; without one, `--yes` is required.
fn confirmer(yes: bool, out_color: bool, verb: &'static str) -> impl FnMut(&Plan) -> bool + Send {
    move |plan: &Plan| {
        if verb == "destroy" {
            let (delete, keep) = session::destroy_targets(plan, plan.delete_storage);
            eprintln!("Destroying workspace {} in namespace {} ({}):", plan.workspace, plan.namespace, plan.cluster);
            for d in &delete {
                eprintln!("  - {d}");
            }
            for k in &keep {
                eprintln!("  = {k} (kept: storage holds the downloaded weights; --delete-storage deletes it)");
            }
        } else {
            eprint!("{}", show::to_text(plan, show::Style { color: out_color }));
        }
        if yes {
            return true;
        }
        if !std::io::stdin().is_terminal() {
            eprintln!("\nNot a terminal, and --yes was not given: nothing was changed.");
            return false;
        }
        ask(&format!("\nDo you want to {verb} this? Only `yes` is accepted: ")) == "yes"
    }
}

/// Asks on stderr and reads one line of stdin, trimmed.
fn ask(question: &str) -> String {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    line.trim().to_string()
}

/// What `go` does once the workspace is loaded and the cluster reached.
enum Action {
    Run { command: Command, saved: Option<Box<Plan>> },
    Recover(Recovery),
}

fn run_error(e: RunError) -> CliError {
    match e {
        RunError::Cluster(c) => super::common::cluster_error(&c),
        other => CliError::failure(other.to_string()),
    }
}

/// The closing lines and the exit code.
fn finish(report: &Report, json: bool) -> CmdResult {
    if !json {
        let sections = [
            ("Changed:", &report.changed),
            ("Rolled back:", &report.rolled_back),
            ("Kept:", &report.kept),
            ("Not undone (the journal keeps them; `msws recover FILE --rollback` retries):", &report.not_undone),
        ];
        let mut err = std::io::stderr();
        for (title, lines) in sections.into_iter().filter(|(_, l)| !l.is_empty()) {
            let _ = writeln!(err, "\n{title}");
            for line in lines {
                let _ = writeln!(err, "  {line}");
            }
        }
    }
    match report.outcome {
        Outcome::Applied | Outcome::NoChanges => Ok(ExitCode::SUCCESS),
        Outcome::Recovered => {
            if !json {
                eprintln!(
                    "\nRecovered: everything the interrupted run changed was rolled back (storage and completed downloads are kept); the journal is removed"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Outcome::RolledBack => Err(CliError::failure(format!(
            "{}everything this run changed was rolled back (storage and completed downloads are kept)",
            reason_first(report)
        ))),
        Outcome::Stopped => Err(CliError::failure(format!(
            "{}the run stopped with changes in place: the journal in .msws/ records them (`msws recover FILE --rollback` or `--resume`)",
            reason_first(report)
        ))),
    }
}

/// The reason a run ended badly, as the start of the closing line (nothing when there is none).
fn reason_first(report: &Report) -> String {
    report.error.as_deref().filter(|e| !e.is_empty()).map(|e| format!("{e}; ")).unwrap_or_default()
}

struct Common {
    ws_args: WorkspaceArgs,
    cluster: ClusterArgs,
    json: bool,
}

fn go(
    common: Common,
    out: &Output,
    build: impl Fn(session::Request<'_>) -> session::Request<'_>,
    action: Action,
    yes: bool,
) -> CmdResult {
    let (fe, graph) = common.ws_args.load(out)?;
    let Some(ws) = &fe.workspace else { return Err(CliError::failure("no workspace")) };
    let runtime = super::common::runtime()?;
    let cluster: Arc<dyn crate::cluster::Cluster> = Arc::from(common.cluster.connect(ws, &runtime)?);
    let namespace = common.cluster.namespace_for(ws, Some(cluster.as_ref()));
    let holder = Holder::current();
    let command = match &action {
        Action::Run { command, .. } => *command,
        // The journal says which command it was.
        Action::Recover(_) => Command::Apply,
    };
    let request = |saved: Option<Plan>| {
        build(session::Request {
            command,
            ws,
            graph: &graph,
            file: &common.ws_args.file,
            namespace: namespace.clone(),
            secret_values: super::common::secret_values(ws),
            workspace_hash: super::common::workspace_hash(&fe, &namespace),
            git_commit: git_commit(&common.ws_args.file),
            saved,
            replace_storage: false,
            delete_storage: false,
            opts: engine::Options::default(),
            holder: holder.clone(),
        })
    };
    let reporter = progress::for_terminal(common.json, out.color_stderr);
    let stop = Stop::default();
    watch_ctrl_c(&stop, reporter.clone(), &runtime);
    let recover = |how: Recovery| {
        runtime
            .block_on(session::recover(cluster.clone(), request(None), how, reporter.clone(), stop.clone()))
            .map_err(run_error)
            .map(|(_, report)| report)
    };
    let report = match action {
        Action::Recover(how) => {
            let path = crate::apply::journal::path_for(&common.ws_args.file, &ws.name);
            if let Ok(recorded) = crate::apply::journal::read(&path) {
                eprintln!("{}", recorded.describe());
                if !yes && !std::io::stdin().is_terminal() {
                    return Err(CliError::failure("not a terminal, and --yes was not given: nothing was changed"));
                }
                let question = if how == Recovery::Rollback { "Roll it back?" } else { "Resume it?" };
                if !yes && ask(&format!("\n{question} Only `yes` is accepted: ")) != "yes" {
                    return Err(CliError::failure("not confirmed: nothing was changed"));
                }
            }
            recover(how)?
        }
        Action::Run { saved, .. } => {
            let mut confirm = confirmer(yes, out.color_stderr, command.as_str());
            let result = runtime.block_on(session::run(
                cluster.clone(),
                request(saved.map(|p| *p)),
                reporter.clone(),
                &mut confirm,
                stop.clone(),
            ));
            match result {
                // On a terminal, an interrupted run is offered for recovery there and then.
                Err(e @ RunError::Interrupted { .. }) if !yes && std::io::stdin().is_terminal() => {
                    eprintln!("{e}\n");
                    match ask("Roll it back (`rollback`), resume it (`resume`), or leave it (anything else)? ").as_str()
                    {
                        "rollback" => recover(Recovery::Rollback)?,
                        "resume" => recover(Recovery::Resume)?,
                        _ => return Err(CliError::failure("left as it is: nothing was changed")),
                    }
                }
                other => other.map_err(run_error)?.1,
            }
        }
    };
    finish(&report, common.json)
}

pub fn apply(args: ApplyArgs, out: &Output) -> CmdResult {
    let saved = saved_plan(&args.file)?;
    if saved.is_some() && (args.replace_storage || args.delete_storage) {
        return Err(CliError::usage(
            "--replace-storage and --delete-storage are part of a saved plan: make the plan with them (`msws plan --out`)",
        ));
    }
    let file = match &saved {
        Some(p) => plan_workspace(p, &args.file)?,
        None => args.file.clone(),
    };
    let mut opts = args.run.options();
    opts.model_check = !args.skip_model_check;
    let common = Common {
        ws_args: WorkspaceArgs { file, vars: args.vars.clone() },
        cluster: args.run.cluster.clone(),
        json: args.run.json,
    };
    let (replace_storage, delete_storage) = match &saved {
        Some(p) => (p.replace_storage, p.delete_storage),
        None => (args.replace_storage, args.delete_storage),
    };
    go(
        common,
        out,
        |mut r| {
            r.opts = opts.clone();
            r.replace_storage = replace_storage;
            r.delete_storage = delete_storage;
            r
        },
        Action::Run { command: Command::Apply, saved: saved.map(Box::new) },
        args.run.yes,
    )
}

pub fn destroy(args: DestroyArgs, out: &Output) -> CmdResult {
    let mut opts = args.run.options();
    opts.delete_storage = args.delete_storage;
    let delete_storage = args.delete_storage;
    let common = Common { ws_args: args.workspace, cluster: args.run.cluster.clone(), json: args.run.json };
    go(
        common,
        out,
        |mut r| {
            r.opts = opts.clone();
            r.delete_storage = delete_storage;
            r
        },
        Action::Run { command: Command::Destroy, saved: None },
        args.run.yes,
    )
}

pub fn recover(args: RecoverArgs, out: &Output) -> CmdResult {
    let how = if args.rollback { Recovery::Rollback } else { Recovery::Resume };
    let opts = engine::Options {
        parallelism: usize::from(args.parallelism),
        timeout: args.timeout,
        model_check: !args.skip_model_check,
        ..engine::Options::default()
    };
    let common = Common { ws_args: args.workspace, cluster: args.cluster, json: args.json };
    go(
        common,
        out,
        |mut r| {
            r.opts = opts.clone();
            r
        },
        Action::Recover(how),
        args.yes,
    )
}

pub fn unlock(args: UnlockArgs, out: &Output) -> CmdResult {
    if !args.force {
        return Err(CliError::usage(
            "`msws unlock` deletes the lock another run may still hold: pass --force if you are sure no apply or destroy of this workspace is running",
        ));
    }
    let (fe, _) = args.workspace.load(out)?;
    let Some(ws) = &fe.workspace else { return Err(CliError::failure("no workspace")) };
    let runtime = super::common::runtime()?;
    let cluster = args.cluster.connect(ws, &runtime)?;
    let namespace = args.cluster.namespace_for(ws, Some(cluster.as_ref()));
    let previous = runtime
        .block_on(crate::apply::lock::force_unlock(cluster.as_ref(), &namespace, &ws.name))
        .map_err(|e| super::common::cluster_error(&e))?;
    match previous {
        Some(holder) => println!("Removed the lock of workspace {} held by {holder}.", ws.name),
        None => println!("Workspace {} was not locked.", ws.name),
    }
    Ok(ExitCode::SUCCESS)
}

/// The Git commit of the workspace file, when it is in a repository (`+dirty` when the file has
/// uncommitted changes).
pub fn git_commit(file: &std::path::Path) -> Option<String> {
    let dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let name = file.file_name()?;
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = run(&["rev-parse".as_ref(), "HEAD".as_ref()]).filter(|h| !h.is_empty())?;
    run(&["ls-files".as_ref(), "--error-unmatch".as_ref(), name])?;
    let dirty = run(&["status".as_ref(), "--porcelain".as_ref(), "--".as_ref(), name]).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}+dirty") } else { head })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(outcome: Outcome, error: Option<&str>) -> Report {
        Report {
            outcome,
            error: error.map(str::to_string),
            changed: vec![],
            rolled_back: vec!["deleted Job llm-d/opt-125m-download".into()],
            kept: vec![],
            not_undone: vec![],
            downloads: Default::default(),
            steps: vec![],
        }
    }

    /// Found against a real control plane: a recovery that undid everything printed
    /// `error: ; everything this run changed was rolled back …` and exited 1.
    #[test]
    fn a_recovery_that_undid_everything_succeeds_and_a_closing_line_never_starts_empty() {
        assert_eq!(finish(&report(Outcome::Recovered, None), true).unwrap(), ExitCode::SUCCESS);
        let e = finish(&report(Outcome::RolledBack, None), true).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (1, "everything this run changed was rolled back (storage and completed downloads are kept)")
        );
        let e = finish(&report(Outcome::Stopped, Some("deleting Job llm-d/x: forbidden")), true).unwrap_err();
        assert!(e.message.starts_with("deleting Job llm-d/x: forbidden; the run stopped"), "{}", e.message);
    }
}
