//! One apply, destroy or recovery from start to end, against any [`Cluster`]: take the lock, look
//! for an interrupted run's journal, plan against the live cluster (and check a saved plan is
//! still true), confirm, run the engine with a journal, release the lock. The command line wraps
//! this; tests drive it against the fake cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::engine::{self, Command, Done, Engine, Input, Report};
use super::journal::{self, Fate, Header, Journal};
use super::lock::{self, Holder, LockError, LockWatch};
use super::progress::{Event, Reporter};
use crate::cluster::{Cluster, ClusterError};
use crate::graph::StepGraph;
use crate::model::Workspace;
use crate::plan::{ObserveOptions, Plan, Source};

/// Everything a run needs besides the cluster.
pub struct Request<'a> {
    pub command: Command,
    pub ws: &'a Workspace,
    pub graph: &'a StepGraph,
    /// The workspace file: the journal lives in `.msws/` beside it.
    pub file: &'a Path,
    pub namespace: String,
    pub secret_values: BTreeMap<String, BTreeMap<String, String>>,
    pub workspace_hash: String,
    pub git_commit: Option<String>,
    /// A plan saved with `plan --out`: applied only if nothing it read has changed.
    pub saved: Option<Plan>,
    pub replace_storage: bool,
    pub delete_storage: bool,
    pub opts: engine::Options,
    pub holder: Holder,
}

/// Why a run did not start (nothing was changed), or how it ended badly.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Lock(#[from] LockError),
    #[error(
        "an earlier {command} of this workspace was interrupted; its journal is {path}:\n{description}\nrun `msws recover {file} --rollback` to undo what it did, or `msws recover {file} --resume` to finish it"
    )]
    Interrupted { command: String, path: PathBuf, file: String, description: String },
    #[error("{0}")]
    Journal(#[from] journal::JournalError),
    #[error("the saved plan is stale, so nothing was applied:\n  - {}\nmake a new plan", .0.join("\n  - "))]
    Stale(Vec<String>),
    #[error("the plan has refusals, so nothing was applied:\n  - {}", .0.join("\n  - "))]
    Refused(Vec<String>),
    #[error("these secrets take their value from the environment, and it is not set: {}", .0.join(", "))]
    MissingSecrets(Vec<String>),
    #[error("not confirmed: nothing was changed")]
    Declined,
    #[error("namespace {0} does not exist: create it first (msws works inside a namespace and does not create one)")]
    NoNamespace(String),
    #[error("there is no interrupted run to recover: {0} does not exist")]
    NoJournal(PathBuf),
    #[error("{0}")]
    Cluster(#[from] ClusterError),
    /// The model check before the plan was interrupted.
    #[error("{0}")]
    Check(crate::plan::models::CheckError),
}

impl From<crate::plan::models::CheckError> for RunError {
    fn from(e: crate::plan::models::CheckError) -> RunError {
        match e {
            crate::plan::models::CheckError::Cluster(c) => RunError::Cluster(c),
            other => RunError::Check(other),
        }
    }
}

/// How a recovery goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    Rollback,
    Resume,
}

/// Cancellation from outside: the first token stops the run and starts the rollback, the second
/// stops the rollback too (the journal stays).
#[derive(Clone, Default)]
pub struct Stop {
    pub cancel: CancellationToken,
    pub abort: CancellationToken,
}

/// The plan against the live cluster, as `msws plan` makes it.
pub async fn fresh_plan(cluster: &dyn Cluster, req: &Request<'_>) -> Result<Plan, ClusterError> {
    let request = crate::plan::Request {
        ws: req.ws,
        graph: req.graph,
        namespace: req.namespace.clone(),
        secret_values: req.secret_values.clone(),
        cluster: cluster.describe(),
        workspace_hash: req.workspace_hash.clone(),
        replace_storage: req.replace_storage,
        delete_storage: req.delete_storage,
    };
    crate::plan::make(&request, Source::Cluster(cluster, ObserveOptions::default())).await
}

/// [`fresh_plan`], and for an apply (unless `opts.model_check` is off) the model check, whose
/// inspections `checks` keeps for the rest of the run; its progress goes to the reporter.
async fn checked_plan(
    cluster: &dyn Cluster,
    req: &Request<'_>,
    checks: &crate::plan::models::ModelChecks,
    stop: &Stop,
    reporter: &Arc<dyn Reporter>,
) -> Result<Plan, RunError> {
    let mut plan = fresh_plan(cluster, req).await?;
    if req.command == Command::Apply && req.opts.model_check {
        let progress = |line: &str| reporter.event(&Event::Note { message: line.to_string() });
        crate::plan::models::check(cluster, req.ws, &mut plan, checks, &stop.cancel, &progress).await?;
    }
    Ok(plan)
}

fn header(req: &Request<'_>, cluster: &dyn Cluster, command: &str) -> Header {
    Header {
        format: journal::JOURNAL_FORMAT,
        command: command.into(),
        workspace: req.ws.name.clone(),
        namespace: req.namespace.clone(),
        cluster: cluster.describe(),
        workspace_hash: req.workspace_hash.clone(),
        started_at: crate::apply::rfc3339(cluster.now()),
        holder: req.holder.identity.clone(),
        msws_version: env!("CARGO_PKG_VERSION").into(),
        replace_storage: req.replace_storage,
        delete_storage: req.delete_storage,
    }
}

/// The workspace's lock; a namespace that does not exist is said plainly (the Lease is the first
/// thing created in it).
async fn take_lock(cluster: &Arc<dyn Cluster>, req: &Request<'_>, command: &str) -> Result<lock::LockGuard, RunError> {
    match lock::acquire(cluster.clone(), &req.namespace, &req.ws.name, &req.holder, command).await {
        Err(LockError::Cluster(ClusterError::NotFound(m))) if m.contains("namespaces") => {
            Err(RunError::NoNamespace(req.namespace.clone()))
        }
        other => Ok(other?),
    }
}

/// Applies (or destroys). `confirm` sees the plan and says whether to go on; it is not asked
/// when there is nothing to do.
pub async fn run(
    cluster: Arc<dyn Cluster>,
    req: Request<'_>,
    reporter: Arc<dyn Reporter>,
    confirm: &mut (dyn FnMut(&Plan) -> bool + Send),
    stop: Stop,
) -> Result<(Plan, Report), RunError> {
    check_journal(&req)?;
    // A first look without the lock: a run with nothing to do (the common case in CI) takes no
    // lock and sends no mutating request at all. (The model check runs only for model services
    // the plan changes: with nothing to do, it makes no pod either.)
    let checks = crate::plan::models::ModelChecks::default();
    let first = checked_plan(cluster.as_ref(), &req, &checks, &stop, &reporter).await?;
    check_plan(&first, &req)?;
    if !has_work(&first, &req) {
        let report =
            execute(cluster, &req, &first, reporter, None, &stop, LockWatch::none(), Vec::new(), BTreeMap::new()).await;
        return Ok((first, report));
    }
    let guard = take_lock(&cluster, &req, req.command.as_str()).await?;
    let result = locked(cluster.clone(), &req, reporter.clone(), confirm, &stop, guard.watch(), &checks).await;
    if let Err(e) = guard.release().await {
        reporter.event(&Event::Warning { message: format!("could not release the lock (it expires by itself): {e}") });
    }
    result
}

/// An interrupted run's journal stops every new run until it is recovered.
fn check_journal(req: &Request<'_>) -> Result<(), RunError> {
    let path = journal::path_for(req.file, &req.ws.name);
    if !path.exists() {
        return Ok(());
    }
    let recorded = journal::read(&path)?;
    Err(RunError::Interrupted {
        command: recorded.header.command.clone(),
        path,
        file: req.file.display().to_string(),
        description: recorded.describe(),
    })
}

/// A saved plan must still be true; an apply must have no refusals and every secret value.
fn check_plan(plan: &Plan, req: &Request<'_>) -> Result<(), RunError> {
    if let Some(saved) = &req.saved {
        let mut stale = saved.staleness(&req.workspace_hash, &plan.read);
        if saved.mode != crate::plan::Mode::Cluster {
            stale.insert(0, format!("it was made against {}, without reading the cluster: only a plan made against the cluster can be applied", saved.cluster));
        } else if saved.cluster != plan.cluster {
            stale.insert(0, format!("it was made against {}, and this is {}", saved.cluster, plan.cluster));
        }
        if !stale.is_empty() {
            return Err(RunError::Stale(stale));
        }
    }
    // Destroy deletes what exists and is the workspace's own: an apply's refusals (a missing
    // storage class, a secret value not in the environment) do not stand in its way.
    if req.command == Command::Apply {
        if !plan.refusals.is_empty() {
            return Err(RunError::Refused(plan.refusals.clone()));
        }
        let missing = missing_secrets(plan, &req.secret_values);
        if !missing.is_empty() {
            return Err(RunError::MissingSecrets(missing));
        }
    }
    Ok(())
}

fn has_work(plan: &Plan, req: &Request<'_>) -> bool {
    match req.command {
        Command::Apply => plan.has_changes(),
        Command::Destroy => !destroy_targets(plan, req.delete_storage).0.is_empty(),
    }
}

/// Under the lock: plan again (the first look may be out of date), confirm, journal, run.
async fn locked(
    cluster: Arc<dyn Cluster>,
    req: &Request<'_>,
    reporter: Arc<dyn Reporter>,
    confirm: &mut (dyn FnMut(&Plan) -> bool + Send),
    stop: &Stop,
    lost: LockWatch,
    checks: &crate::plan::models::ModelChecks,
) -> Result<(Plan, Report), RunError> {
    check_journal(req)?;
    let plan = checked_plan(cluster.as_ref(), req, checks, stop, &reporter).await?;
    check_plan(&plan, req)?;
    let work = has_work(&plan, req);
    if work && !confirm(&plan) {
        return Err(RunError::Declined);
    }
    let path = journal::path_for(req.file, &req.ws.name);
    let journal =
        if work { Some(Journal::create(&path, header(req, cluster.as_ref(), req.command.as_str()))?) } else { None };
    let report = execute(cluster, req, &plan, reporter, journal, stop, lost, Vec::new(), BTreeMap::new()).await;
    Ok((plan, report))
}

#[allow(clippy::too_many_arguments)]
async fn execute(
    cluster: Arc<dyn Cluster>,
    req: &Request<'_>,
    plan: &Plan,
    reporter: Arc<dyn Reporter>,
    journal: Option<Journal>,
    stop: &Stop,
    lost: LockWatch,
    earlier: Vec<Done>,
    downloads: BTreeMap<String, crate::plan::DownloadRecord>,
) -> Report {
    let rendered = crate::render::render(
        req.ws,
        req.graph,
        &crate::render::Options {
            namespace: req.namespace.clone(),
            secret_values: req.secret_values.clone(),
            ..Default::default()
        },
    );
    // A lost lock stops the run like Ctrl-C does.
    let cancel = stop.cancel.clone();
    let watcher = tokio::spawn({
        let cancel = cancel.clone();
        let lost = lost.token();
        async move {
            lost.cancelled().await;
            cancel.cancel();
        }
    });
    let mut opts = req.opts.clone();
    opts.delete_storage = req.delete_storage;
    let input =
        Input { command: req.command, plan, rendered: &rendered, ws: req.ws, git_commit: req.git_commit.clone() };
    let engine = Engine::new(cluster, input, opts, reporter, journal)
        .with_cancel(cancel, stop.abort.clone())
        .with_lock(lost.clone())
        .resuming(earlier)
        .with_downloads(downloads);
    let report = engine.run().await;
    watcher.abort();
    report
}

/// What a destroy would delete and what it keeps (as people read them), from the plan: every
/// object that exists, last step first, then the pruned ones. Objects another owner holds are
/// skipped by the engine when it reads them.
pub fn destroy_targets(plan: &Plan, delete_storage: bool) -> (Vec<String>, Vec<String>) {
    let existing = plan.steps.iter().rev().flat_map(|s| &s.objects).filter(|o| o.action != crate::plan::Action::Create);
    let (keep, delete): (Vec<_>, Vec<_>) =
        existing.chain(plan.prune.iter()).partition(|o| engine::destroy_keeps(o, delete_storage).is_some());
    (delete.iter().map(|o| o.object.to_string()).collect(), keep.iter().map(|o| o.object.to_string()).collect())
}

/// Secrets the plan creates or changes whose value the environment does not give.
fn missing_secrets(plan: &Plan, values: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<String> {
    plan.secrets
        .iter()
        .filter(|s| !values.get(&s.secret).is_some_and(|m| m.contains_key(&s.key)))
        .filter(|s| {
            plan.steps
                .iter()
                .flat_map(|st| &st.objects)
                .any(|o| o.object.kind == "Secret" && o.object.name == s.secret && o.action.is_change())
        })
        .map(|s| format!("{} (set {})", s.secret, s.env))
        .collect()
}

/// Rolls back or resumes an interrupted run from its journal.
pub async fn recover(
    cluster: Arc<dyn Cluster>,
    req: Request<'_>,
    how: Recovery,
    reporter: Arc<dyn Reporter>,
    stop: Stop,
) -> Result<(Plan, Report), RunError> {
    let path = journal::path_for(req.file, &req.ws.name);
    if !path.exists() {
        return Err(RunError::NoJournal(path));
    }
    let guard = take_lock(&cluster, &req, "recover").await?;
    let result = async {
        let (journal, recorded) = Journal::reopen(&path)?;
        let earlier: Vec<Done> = recorded
            .mutations()
            .into_iter()
            .filter(|m| !m.undone && m.fate != Fate::Refused)
            .map(|m| Done { seq: m.seq, mutation: m.mutation, object: m.object.clone(), prior: m.prior.clone() })
            .collect();
        let downloads: BTreeMap<_, _> = recorded.downloads().into_iter().collect();
        let mut req = req;
        if recorded.header.command == "destroy" {
            req.command = Command::Destroy;
        }
        req.replace_storage = recorded.header.replace_storage;
        req.delete_storage = recorded.header.delete_storage;
        req.opts.delete_storage = recorded.header.delete_storage;
        let plan = match how {
            // Resuming applies: the models are checked as for an apply.
            Recovery::Resume => {
                let checks = crate::plan::models::ModelChecks::default();
                checked_plan(cluster.as_ref(), &req, &checks, &stop, &reporter).await?
            }
            Recovery::Rollback => fresh_plan(cluster.as_ref(), &req).await?,
        };
        let report = match how {
            Recovery::Resume => {
                if !plan.refusals.is_empty() {
                    return Err(RunError::Refused(plan.refusals.clone()));
                }
                let missing = missing_secrets(&plan, &req.secret_values);
                if req.command == Command::Apply && !missing.is_empty() {
                    return Err(RunError::MissingSecrets(missing));
                }
                execute(cluster.clone(), &req, &plan, reporter, Some(journal), &stop, guard.watch(), earlier, downloads)
                    .await
            }
            Recovery::Rollback => {
                let rendered = crate::render::render(
                    req.ws,
                    req.graph,
                    &crate::render::Options { namespace: req.namespace.clone(), ..Default::default() },
                );
                let input =
                    Input { command: req.command, plan: &plan, rendered: &rendered, ws: req.ws, git_commit: None };
                Engine::new(cluster.clone(), input, req.opts.clone(), reporter, Some(journal))
                    .with_cancel(stop.cancel.clone(), stop.abort.clone())
                    .resuming(earlier)
                    .with_downloads(downloads)
                    .rollback_only("msws recover --rollback")
                    .await
            }
        };
        Ok((plan, report))
    }
    .await;
    if let Err(e) = guard.release().await {
        eprintln!("warning: could not release the lock (it expires by itself): {e}");
    }
    result
}
