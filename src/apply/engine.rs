//! The apply engine: runs a plan's steps in graph order (independent branches concurrently), waits
//! where the runbook waits, records every mutation in the journal before making it, and rolls
//! this run's mutations back when a step fails.
//!
//! Invariants (docs/architecture.md):
//! - every mutation is preceded by a journal intent holding the prior object, and followed by a
//!   `done` (or `refused`) entry;
//! - a rollback undoes only this run's mutations, newest first; it never deletes a claim nor a
//!   completed download's record unless `rollback_storage`, never re-runs a Job, and never
//!   shrinks a claim;
//! - a failure stops new steps at once; running steps stop at their next wait.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::journal::{Journal, Mutation};
use super::lock::{LockWatch, Lost};
use super::progress::{Event, Reporter, StepTime, human};
use crate::cluster::{ApplyOptions, Cluster, ClusterError, ObjectRef, Propagation, WatchEvent, WatchRequest};
use crate::model::Workspace;
use crate::plan::inventory::{FAILED_MARKER, short_commit};
use crate::plan::prepull::{self, PrePullPlan};
use crate::plan::{Action, DownloadAction, DownloadRecord, Inventory, ObjectPlan, Plan, ReleaseAction, StepPlan};
use crate::readiness::{self, State};
use crate::render::Rendered;

#[derive(Clone, Debug)]
pub struct Options {
    /// Steps running at once.
    pub parallelism: usize,
    /// Overrides every wait's timeout (`--timeout`).
    pub timeout: Option<Duration>,
    /// Undo this run's mutations when it fails (`--no-rollback` turns it off).
    pub rollback: bool,
    /// A rollback also deletes claims this run created, and forgets its downloads.
    pub rollback_storage: bool,
    /// Destroy deletes claims too (with their data).
    pub delete_storage: bool,
    /// Time between two looks at an object being waited for.
    pub poll: Duration,
    /// A wait gives up when the cluster stayed unreachable this long.
    pub unreachable_after: Duration,
    /// Tries of a request that failed transiently (connection lost, timeout, 429/503/504).
    pub attempts: u32,
    /// Before applying, check that paths on claims msws did not download into hold a model
    /// (src/plan/models.rs; `--skip-model-check` turns it off).
    pub model_check: bool,
    /// Waits watch what they wait for, and act on the event that made the change; off, or
    /// where a watch cannot start, they look every `poll`.
    pub watch: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            parallelism: 4,
            timeout: None,
            rollback: true,
            rollback_storage: false,
            delete_storage: false,
            poll: Duration::from_secs(2),
            unreachable_after: Duration::from_secs(60),
            attempts: 3,
            model_check: true,
            watch: true,
        }
    }
}

/// Kinds deleted in the foreground by destroy (and by a replacement), so that their pods are
/// gone when the deletion is.
const FOREGROUND: &[&str] =
    &["Deployment", "Job", "LeaderWorkerSet", "DisaggregatedSet", "ReplicaSet", "StatefulSet", "DaemonSet"];

/// Default wait timeouts by what is waited for (a download's own `timeout` wins for downloads).
pub const CLAIM_TIMEOUT: Duration = Duration::from_secs(5 * 60);
pub const ROLLOUT_TIMEOUT: Duration = Duration::from_secs(15 * 60);
pub const RELEASE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
pub const GONE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Added to a download's timeout: the Job's own deadline fires first, and says so.
pub const DOWNLOAD_GRACE: Duration = Duration::from_secs(60);
/// While a wait watches, it still looks this often: a change a watch missed (it should not)
/// cannot hold it up for long.
pub const SAFETY_PROBE: Duration = Duration::from_secs(30);
/// How long one watch lasts before the server ends it (`timeoutSeconds`) and the wait watches
/// again from where it was.
pub const WATCH_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// A watch that broke is started again at once, but not more often than this.
pub const REWATCH_AFTER: Duration = Duration::from_secs(1);
/// How often a download's wait reads the downloader's progress from its log.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What is being run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Apply,
    Destroy,
}

impl Command {
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Apply => "apply",
            Command::Destroy => "destroy",
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything in the plan was done.
    Applied,
    /// The plan had nothing to do.
    NoChanges,
    /// A step failed and every mutation of the run was undone (except what is kept on purpose).
    RolledBack,
    /// A step failed and the run stopped: `--no-rollback`, or the rollback could not finish. The
    /// journal stays for `msws recover`.
    Stopped,
    /// `msws recover --rollback` undid every mutation of the interrupted run (except what is
    /// kept on purpose): a success.
    Recovered,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::NoChanges => "no changes",
            Outcome::RolledBack => "rolled back",
            Outcome::Stopped => "stopped",
            Outcome::Recovered => "recovered",
        }
    }
}

/// One mutation this run made (or may have made), with what undoing it needs.
#[derive(Clone, Debug)]
pub struct Done {
    pub seq: u64,
    pub mutation: Mutation,
    pub object: ObjectRef,
    /// The object before (with secret data: this copy never leaves memory). A mutation whose
    /// answer was lost is kept here too: the undo looks at the live object, so it copes with
    /// either fate.
    pub prior: Option<Value>,
}

/// What a run did, for the closing summary and the exit code.
#[derive(Clone, Debug)]
pub struct Report {
    pub outcome: Outcome,
    /// The first failure, when there was one.
    pub error: Option<String>,
    /// Mutations made, as people read them ("create Deployment llm-d/opt-decode").
    pub changed: Vec<String>,
    pub rolled_back: Vec<String>,
    pub kept: Vec<String>,
    /// Undo steps that failed: the journal keeps them.
    pub not_undone: Vec<String>,
    pub downloads: BTreeMap<String, DownloadRecord>,
    pub steps: Vec<StepTime>,
}

/// Why a step did not finish.
#[derive(Clone, Debug, PartialEq)]
enum StepError {
    Failed(String),
    Cancelled,
}

impl From<String> for StepError {
    fn from(s: String) -> StepError {
        StepError::Failed(s)
    }
}

type StepResult<T> = Result<T, StepError>;

/// What the run works from.
pub struct Input<'a> {
    pub command: Command,
    pub plan: &'a Plan,
    /// The rendered objects, secret values included (a Secret is sent from here, never from the plan).
    pub rendered: &'a Rendered,
    pub ws: &'a Workspace,
    pub git_commit: Option<String>,
}

pub struct Engine<'a> {
    cluster: Arc<dyn Cluster>,
    input: Input<'a>,
    opts: Options,
    reporter: Arc<dyn Reporter>,
    journal: Mutex<Option<Journal>>,
    /// Cancelled from outside: Ctrl-C, a lost lock.
    cancel: CancellationToken,
    /// Cancelled from outside a second time: the rollback stops too, leaving the journal.
    abort: CancellationToken,
    /// Cancelled at the first failure: no new step starts, running ones stop waiting.
    stop: CancellationToken,
    /// Fires when the lock is lost: the run stops without a rollback (another run may hold
    /// the lock now), leaving the journal.
    lock_lost: LockWatch,
    desired: BTreeMap<ObjectRef, Value>,
    done: Mutex<Vec<Done>>,
    /// Mutations made before this run (a resumed run undoes them too).
    earlier: Vec<Done>,
    downloads: Mutex<BTreeMap<String, DownloadRecord>>,
    next_seq: Mutex<u64>,
    /// Storage classes read by claim waits: whether each binds on first consumer.
    classes: Mutex<BTreeMap<String, bool>>,
    /// Kinds whose watch could not start, said once per run (their waits poll).
    unwatchable: Mutex<BTreeSet<String>>,
}

impl<'a> Engine<'a> {
    pub fn new(
        cluster: Arc<dyn Cluster>,
        input: Input<'a>,
        opts: Options,
        reporter: Arc<dyn Reporter>,
        journal: Option<Journal>,
    ) -> Engine<'a> {
        let desired = input
            .rendered
            .unique_objects()
            .filter_map(|(_, o)| ObjectRef::of(&o.to_json()).map(|r| (r, o.to_json())))
            .collect();
        Engine {
            cluster,
            input,
            opts,
            reporter,
            journal: Mutex::new(journal),
            cancel: CancellationToken::new(),
            abort: CancellationToken::new(),
            stop: CancellationToken::new(),
            lock_lost: LockWatch::none(),
            desired,
            done: Mutex::new(Vec::new()),
            earlier: Vec::new(),
            downloads: Mutex::new(BTreeMap::new()),
            next_seq: Mutex::new(1),
            classes: Mutex::new(BTreeMap::new()),
            unwatchable: Mutex::new(BTreeSet::new()),
        }
    }

    /// The token that stops the run (and starts its rollback): Ctrl-C, a lost lock.
    pub fn with_cancel(mut self, cancel: CancellationToken, abort: CancellationToken) -> Self {
        self.stop = cancel.child_token();
        self.cancel = cancel;
        self.abort = abort;
        self
    }

    /// The lock's "lost" signal: a run that lost its lock does not roll back.
    pub fn with_lock(mut self, lost: LockWatch) -> Self {
        self.lock_lost = lost;
        self
    }

    /// Mutations of an earlier, interrupted run that this one continues: undone with its own on
    /// failure.
    pub fn resuming(mut self, earlier: Vec<Done>) -> Self {
        self.earlier = earlier;
        self
    }

    /// Downloads an earlier, interrupted run completed (kept by a rollback, recorded at the end).
    pub fn with_downloads(self, downloads: BTreeMap<String, DownloadRecord>) -> Self {
        if let Ok(mut d) = self.downloads.lock() {
            d.extend(downloads);
        }
        self
    }

    /// Undoes the mutations given by [`Engine::resuming`] and nothing else (`msws recover --rollback`).
    pub async fn rollback_only(self, reason: &str) -> Report {
        let started = Instant::now();
        let mut report = Report {
            outcome: Outcome::Recovered,
            error: None,
            changed: vec![],
            rolled_back: vec![],
            kept: vec![],
            not_undone: vec![],
            downloads: self.downloads.lock().map(|d| d.clone()).unwrap_or_default(),
            steps: vec![],
        };
        self.rollback(reason, &mut report).await;
        if report.not_undone.is_empty() {
            self.finish_journal("rolled back");
        } else {
            report.outcome = Outcome::Stopped;
        }
        self.emit(Event::Finished {
            outcome: report.outcome.as_str().into(),
            elapsed: started.elapsed(),
            steps: vec![],
        });
        report
    }

    fn emit(&self, e: Event) {
        self.reporter.event(&e);
    }

    fn namespace(&self) -> &str {
        &self.input.plan.namespace
    }

    fn parent_ref(&self) -> ObjectRef {
        ObjectRef::new(
            "v1",
            "ConfigMap",
            Some(self.namespace()),
            &crate::render::applyset_parent_name(&self.input.plan.workspace),
        )
    }

    /// Runs the plan (or, for destroy, the plan's deletions) and rolls back on failure. The
    /// journal is finished (deleted) when the run ends cleanly, and kept when it does not.
    pub async fn run(self) -> Report {
        let started = Instant::now();
        let plan = self.input.plan;
        let steps: Vec<&StepPlan> = plan.steps.iter().collect();
        self.emit(Event::Started {
            command: self.input.command.as_str().into(),
            workspace: plan.workspace.clone(),
            namespace: plan.namespace.clone(),
            cluster: plan.cluster.clone(),
            steps: steps.iter().map(|s| s.step.clone()).collect(),
        });
        let mut times = Vec::new();
        let result = match self.input.command {
            Command::Apply => self.apply(&steps, &mut times).await,
            Command::Destroy => self.destroy(&steps, &mut times).await,
        };
        let changed = self
            .done
            .lock()
            .map(|d| d.iter().map(|d| format!("{} {}", d.mutation.verb(), d.object)).collect())
            .unwrap_or_default();
        let downloads = self.downloads.lock().map(|d| d.clone()).unwrap_or_default();
        let mut report = Report {
            outcome: Outcome::Applied,
            error: None,
            changed,
            rolled_back: vec![],
            kept: vec![],
            not_undone: vec![],
            downloads,
            steps: times.clone(),
        };
        match result {
            Ok(()) if report.changed.is_empty() && self.earlier.is_empty() => {
                report.outcome = Outcome::NoChanges;
                self.finish_journal("no changes");
            }
            Ok(()) => self.finish_journal("applied"),
            Err(e) => {
                let reason = match &e {
                    StepError::Failed(m) => m.clone(),
                    StepError::Cancelled => "cancelled".into(),
                };
                report.error = Some(reason.clone());
                if let Some(lost) = self.lock_lost.lost() {
                    report.outcome = Outcome::Stopped;
                    let (error, warning) = match &lost {
                        Lost::Unreachable { .. } => (
                            format!("{} ({}): {lost}", step_stopped(&e), self.input.plan.cluster),
                            "the cluster is not answering, so nothing can be rolled back now, and once the lock expires another msws may take it: stopping; the journal records what this run did (`msws recover` once the cluster answers again)",
                        ),
                        Lost::Taken(_) => (
                            format!("{}: the lock was lost: {lost}", step_stopped(&e)),
                            "the lock was lost, so another run may be changing these objects: stopping without a rollback; the journal records what this run did (`msws recover`)",
                        ),
                    };
                    report.error = Some(error);
                    self.emit(Event::Warning { message: warning.into() });
                } else if self.opts.rollback {
                    self.rollback(&reason, &mut report).await;
                    report.outcome = if report.not_undone.is_empty() { Outcome::RolledBack } else { Outcome::Stopped };
                    if report.outcome == Outcome::RolledBack {
                        self.finish_journal("rolled back");
                    }
                } else {
                    report.outcome = Outcome::Stopped;
                    self.emit(Event::Warning {
                        message: "--no-rollback: the cluster is left as the failure found it; the journal records what this run did".into(),
                    });
                }
            }
        }
        let outcome = match (self.input.command, report.outcome) {
            (Command::Destroy, Outcome::Applied) => "destroyed",
            (_, o) => o.as_str(),
        };
        self.emit(Event::Finished { outcome: outcome.into(), elapsed: started.elapsed(), steps: times });
        report
    }

    fn finish_journal(&self, outcome: &str) {
        if let Some(j) = self.journal.lock().ok().and_then(|mut j| j.take())
            && let Err(e) = j.finish(outcome)
        {
            self.emit(Event::Warning { message: format!("could not remove the journal: {e}") });
        }
    }

    // ---- scheduling ----

    /// Runs steps as their dependencies finish, up to `parallelism` at once.
    async fn schedule<'s, F, Fut>(&'s self, steps: &[&'s StepPlan], times: &mut Vec<StepTime>, run: F) -> StepResult<()>
    where
        F: Fn(&'s StepPlan) -> Fut,
        Fut: std::future::Future<Output = StepResult<Option<String>>> + 's,
    {
        let mut pending: Vec<&StepPlan> = steps.to_vec();
        let mut finished: BTreeSet<&str> = BTreeSet::new();
        let known: BTreeSet<&str> = steps.iter().map(|s| s.step.as_str()).collect();
        let mut running = FuturesUnordered::new();
        let mut failure: Option<StepError> = None;
        // Pre-pull steps only wait for pods the kubelets run: they do not take a slot of
        // `parallelism`, so ten of them never hold back a download.
        let light = |s: &StepPlan| s.pre_pull.is_some();
        let mut heavy = 0usize;
        loop {
            while failure.is_none() && !self.stop.is_cancelled() {
                let room = heavy < self.opts.parallelism.max(1);
                let Some(i) = pending.iter().position(|s| {
                    (room || light(s))
                        && s.after.iter().all(|a| finished.contains(a.as_str()) || !known.contains(a.as_str()))
                }) else {
                    break;
                };
                let sp = pending.remove(i);
                if !light(sp) {
                    heavy += 1;
                }
                let fut = run(sp);
                running.push(async move {
                    let t = Instant::now();
                    let r = fut.await;
                    (sp, t.elapsed(), r)
                });
            }
            let Some((sp, elapsed, r)) = running.next().await else { break };
            if !light(sp) {
                heavy -= 1;
            }
            match r {
                Ok(Some(summary)) => {
                    self.emit(Event::StepDone { step: sp.step.clone(), summary: summary.clone(), elapsed });
                    times.push(StepTime { step: sp.step.clone(), outcome: "done".into(), elapsed });
                    finished.insert(&sp.step);
                }
                Ok(None) => {
                    times.push(StepTime { step: sp.step.clone(), outcome: "unchanged".into(), elapsed });
                    finished.insert(&sp.step);
                }
                Err(StepError::Failed(m)) => {
                    self.emit(Event::StepFailed { step: sp.step.clone(), error: m.clone(), elapsed });
                    times.push(StepTime { step: sp.step.clone(), outcome: "failed".into(), elapsed });
                    if failure.is_none() {
                        failure = Some(StepError::Failed(format!("{}: {m}", sp.step)));
                    }
                    self.stop.cancel();
                }
                Err(StepError::Cancelled) => {
                    self.emit(Event::StepCancelled { step: sp.step.clone() });
                    times.push(StepTime { step: sp.step.clone(), outcome: "cancelled".into(), elapsed });
                    failure.get_or_insert(StepError::Cancelled);
                }
            }
        }
        if failure.is_none() && self.cancel.is_cancelled() {
            failure = Some(StepError::Cancelled);
        }
        for sp in pending {
            if failure.is_some() {
                self.emit(Event::StepCancelled { step: sp.step.clone() });
            } else {
                failure = Some(StepError::Failed(format!("{}: waits for a step that never finished (a bug)", sp.step)));
            }
        }
        match failure {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    // ---- apply ----

    async fn apply(&self, steps: &[&StepPlan], times: &mut Vec<StepTime>) -> StepResult<()> {
        let plan = self.input.plan;
        if !plan.refusals.is_empty() {
            return Err(StepError::Failed(format!("the plan has refusals: {}", plan.refusals.join("; "))));
        }
        if !plan.has_changes() {
            for s in steps {
                self.emit(Event::StepSkipped { step: s.step.clone(), why: "no changes".into() });
            }
            return Ok(());
        }
        self.begin_inventory().await?;
        self.schedule(steps, times, |sp| self.apply_step(sp)).await?;
        self.prune().await?;
        self.end_inventory().await
    }

    /// Records the run in the inventory before anything else changes: its group-kinds grow to
    /// cover what this run creates, so a crash never leaves members `kubectl` cannot see.
    async fn begin_inventory(&self) -> StepResult<()> {
        let r = self.parent_ref();
        let prior = self.get(&r).await?;
        let inv = prior.as_ref().map(Inventory::from_config_map).unwrap_or_default();
        let mut kinds: BTreeSet<String> = prior.as_ref().map(group_kinds_of).unwrap_or_default();
        kinds.extend(self.rendered_group_kinds());
        let cm =
            inv.to_config_map(&self.input.plan.workspace, self.namespace(), &kinds.into_iter().collect::<Vec<_>>());
        if prior.as_ref().is_some_and(|p| same_inventory(p, &cm)) {
            return Ok(());
        }
        self.apply_object("inventory", &r, &cm, prior).await.map(|_| ())
    }

    /// The inventory after a successful run: this workspace's hash and commit, the download
    /// records of its downloads, the exact group-kinds of its members.
    async fn end_inventory(&self) -> StepResult<()> {
        let r = self.parent_ref();
        let prior = self.get(&r).await?;
        let mut inv = prior.as_ref().map(Inventory::from_config_map).unwrap_or_default();
        let names: BTreeSet<&str> = self.input.ws.downloads.iter().map(|d| d.name.as_str()).collect();
        inv.downloads.retain(|k, _| names.contains(k.as_str()));
        inv.downloads.extend(self.downloads.lock().map(|d| d.clone()).unwrap_or_default());
        inv.workspace_hash = Some(self.input.plan.workspace_hash.clone());
        inv.git_commit = self.input.git_commit.clone();
        let mut kinds = self.rendered_group_kinds();
        // Kept (pruned) claims are still members.
        if self.input.plan.prune.iter().any(|p| p.action == Action::Keep) {
            kinds.insert("PersistentVolumeClaim".into());
        }
        let cm =
            inv.to_config_map(&self.input.plan.workspace, self.namespace(), &kinds.into_iter().collect::<Vec<_>>());
        if prior.as_ref().is_some_and(|p| same_inventory(p, &cm)) {
            return Ok(());
        }
        self.apply_object("inventory", &r, &cm, prior).await.map(|_| ())
    }

    fn rendered_group_kinds(&self) -> BTreeSet<String> {
        self.desired.keys().map(|r| crate::plan::inventory::group_kind(&r.api_version, &r.kind)).collect()
    }

    async fn apply_step(&self, sp: &StepPlan) -> StepResult<Option<String>> {
        if !sp.has_changes() {
            let why = match (&sp.download, &sp.release) {
                (Some(d), _) if d.action == DownloadAction::Skip => d.reason.clone(),
                (_, Some(_)) => "no Job to release".to_string(),
                _ => sp.note.clone().unwrap_or_else(|| "no changes".into()),
            };
            self.emit(Event::StepSkipped { step: sp.step.clone(), why });
            return Ok(None);
        }
        let what: Vec<String> = sp
            .objects
            .iter()
            .filter(|o| o.action.is_change())
            .map(|o| format!("{} {}", action_word(o.action), o.object))
            .chain(
                sp.download
                    .iter()
                    .filter(|d| d.action != DownloadAction::Skip)
                    .map(|d| format!("download {}", d.source)),
            )
            .chain(
                sp.release.iter().filter(|r| r.action != ReleaseAction::Nothing).map(|r| format!("release {}", r.job)),
            )
            .collect();
        if let Some(pp) = &sp.pre_pull {
            return self.pre_pull(sp, pp).await;
        }
        self.emit(Event::StepStarted { step: sp.step.clone(), what: what.join(", ") });
        let mut summary = Vec::new();
        for op in &sp.objects {
            match op.action {
                Action::Create | Action::Update => {
                    let obj = self.desired_object(&op.object)?;
                    let prior = self.get(&op.object).await?;
                    self.apply_object(&sp.step, &op.object, &obj, prior).await?;
                }
                Action::Replace => {
                    let obj = self.desired_object(&op.object)?;
                    self.replace_object(&sp.step, &op.object, &obj).await?;
                }
                Action::Delete | Action::Keep | Action::NoOp => continue,
            }
            summary.push(format!("{} {}", past(op.action), op.object.kind));
        }
        for op in sp.objects.iter().filter(|o| matches!(o.action, Action::Create | Action::Update | Action::Replace)) {
            match op.object.kind.as_str() {
                "PersistentVolumeClaim" => {
                    let how = self.wait(&sp.step, Wait::Claim(op.object.clone()), CLAIM_TIMEOUT).await?;
                    summary.push(how);
                }
                "Deployment" => {
                    let how = self.wait(&sp.step, Wait::Rollout(op.object.clone()), ROLLOUT_TIMEOUT).await?;
                    summary.push(format!("{}: {how}", op.object.name));
                }
                kind if readiness::is_workload(kind) => {
                    let how = self.wait(&sp.step, Wait::Workload(op.object.clone()), ROLLOUT_TIMEOUT).await?;
                    summary.push(format!("{}: {how}", op.object.name));
                }
                _ => {}
            }
        }
        if let Some(d) = sp.download.as_ref().filter(|d| d.action != DownloadAction::Skip) {
            let download = self
                .input
                .ws
                .downloads
                .iter()
                .find(|w| crate::render::job_name(&w.name) == d.job.name)
                .ok_or_else(|| format!("no download in the workspace runs Job {}", d.job.name))?;
            let timeout = download.timeout.as_std() + DOWNLOAD_GRACE;
            self.wait(&sp.step, Wait::Job(d.job.clone()), timeout).await?;
            let (record, note) = self.download_record(download, &d.job).await;
            summary.push(note);
            self.record_download(&download.name, record).await?;
        }
        if let Some(r) = sp.release.as_ref().filter(|r| r.action != ReleaseAction::Nothing) {
            if let Some(prior) = self.get(&r.job).await? {
                self.delete_object(&sp.step, &r.job, Propagation::Foreground, prior).await?;
            }
            self.wait(&sp.step, Wait::JobGone(r.job.clone()), RELEASE_TIMEOUT).await?;
            summary.push(format!("released the claim (Job {} and its pods deleted)", r.job.name));
        }
        Ok(Some(summary.join("; ")))
    }

    /// A pre-pull: one pull pod per node that misses an image, created at once; waited for until
    /// every image is on its node; then deleted — and deleted too when the pull fails or the run
    /// stops (a rollback finds them gone). A plan made offline is decided here, from the nodes.
    async fn pre_pull(&self, sp: &StepPlan, planned: &PrePullPlan) -> StepResult<Option<String>> {
        let pp = if planned.decided { planned.clone() } else { self.decide_pre_pull(planned).await? };
        if pp.pods.is_empty() {
            let why = pp.note.clone().unwrap_or_else(|| "its images are on every node its pods can land on".into());
            self.emit(Event::StepSkipped { step: sp.step.clone(), why });
            return Ok(None);
        }
        let pulls: Vec<_> = pp.images.iter().filter(|i| !i.pull_on.is_empty()).collect();
        let what: Vec<String> = pulls
            .iter()
            .map(|i| format!("pre-pull {} on {} node(s) ({})", i.image, i.pull_on.len(), i.pull_on.join(", ")))
            .collect();
        self.emit(Event::StepStarted { step: sp.step.clone(), what: what.join(", ") });
        let mut created = Vec::new();
        let result = async {
            for pod in &pp.pods {
                // A pull pod an interrupted run left is waited for as it is (a pod cannot change).
                match self.get(&pod.object).await? {
                    Some(_) => created.push(pod.object.clone()),
                    None => {
                        self.apply_object(&sp.step, &pod.object, &pod.desired, None).await?;
                        created.push(pod.object.clone());
                    }
                }
            }
            let timeout = Duration::from_secs(prepull::DEADLINE_SECONDS as u64) + DOWNLOAD_GRACE;
            self.wait(
                &sp.step,
                Wait::Pulls(
                    pp.pods.iter().map(|p| (p.object.clone(), p.node.clone())).collect(),
                    prepull::pods_selector(&self.input.ws.name, &pp.service),
                ),
                timeout,
            )
            .await
        }
        .await;
        // Pulled, failed or stopped: the pods go (they are finished or useless either way).
        let mut cleanup: StepResult<()> = Ok(());
        for r in &created {
            let gone = match self.get(r).await {
                Ok(Some(prior)) => self.delete_object(&sp.step, r, Propagation::Background, prior).await,
                Ok(None) => Ok(()),
                Err(e) => Err(e),
            };
            if cleanup.is_ok() {
                cleanup = gone;
            }
        }
        result?;
        cleanup?;
        let pulled: Vec<String> = pulls.iter().map(|i| format!("{} on {}", i.image, i.pull_on.join(", "))).collect();
        Ok(Some(format!("pulled {}; pull pods deleted", pulled.join("; "))))
    }

    /// The pre-pull of a plan made without the nodes: decided from the nodes now. Nodes that
    /// cannot be listed mean nothing is pre-pulled (a warning says why), never a failure.
    async fn decide_pre_pull(&self, planned: &PrePullPlan) -> StepResult<PrePullPlan> {
        use prepull::Nodes;
        let nodes = Nodes::of(self.retry(|| self.cluster.list("v1", "Node", None, "")).await)
            .map_err(|e| StepError::Failed(format!("listing nodes: {e}")))?;
        if let Nodes::Unlisted(why) = &nodes {
            self.emit(Event::Warning {
                message: format!(
                    "pre-pull/{}: cannot list nodes ({why}; pre-pull {}): nothing is pre-pulled",
                    planned.service,
                    prepull::NODES_HELP
                ),
            });
        }
        let objects = self
            .input
            .rendered
            .steps
            .iter()
            .find(|r| r.step.kind == crate::model::StepKind::ModelService && r.step.name == planned.service)
            .map(|r| r.objects.as_slice())
            .unwrap_or(&[]);
        Ok(prepull::decide(self.input.ws, self.namespace(), &planned.service, objects, &nodes))
    }

    fn desired_object(&self, r: &ObjectRef) -> Result<Value, String> {
        let obj = self.desired.get(r).cloned().ok_or_else(|| format!("{r} is planned but not rendered (a bug)"))?;
        if r.kind == "Secret" && obj.get("data").is_none() && obj.get("stringData").is_none() {
            return Err(format!("{r}: its value is not set in the environment (the plan lists the variable)"));
        }
        Ok(obj)
    }

    /// The record a completed download leaves, read from its pod's log; without the marker
    /// (a log that is gone), the workspace's values alone, and a note saying so.
    async fn download_record(&self, d: &crate::model::Download, job: &ObjectRef) -> (DownloadRecord, String) {
        let mut record = DownloadRecord::of(d);
        let log = self.job_log(job, None).await.unwrap_or_default();
        if !record.read_marker(&log) {
            return (record, "downloaded (the completion marker was not in the log; recorded from the plan)".into());
        }
        let mut note = "downloaded".to_string();
        if let Some(f) = record.files {
            note += &format!(" {f} files");
        }
        if let Some(c) = &record.commit {
            note += &format!(" (commit {})", short_commit(c));
        }
        (record, note)
    }

    /// The log of the Job's newest pod (its last `tail` lines).
    async fn job_log(&self, job: &ObjectRef, tail: Option<i64>) -> Result<String, ClusterError> {
        let pods = self.job_pods(job).await?;
        let Some(pod) = pods.last() else { return Ok(String::new()) };
        let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
        self.cluster.logs(self.namespace(), name, None, tail).await
    }

    async fn job_pods(&self, job: &ObjectRef) -> Result<Vec<Value>, ClusterError> {
        let selector = format!("batch.kubernetes.io/job-name={}", job.name);
        let mut pods = self.retry(|| self.cluster.list("v1", "Pod", Some(self.namespace()), &selector)).await?;
        pods.sort_by(|a, b| created(a).cmp(created(b)));
        Ok(pods)
    }

    /// A completed download is written down at once — journal and inventory — and kept by a
    /// rollback: the weights are on the claim.
    async fn record_download(&self, name: &str, record: DownloadRecord) -> StepResult<()> {
        if let Some(j) = self.journal.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            j.download(name, &record).map_err(|e| format!("cannot write the journal: {e}"))?;
        }
        let downloads = {
            let mut d = self.downloads.lock().map_err(|_| "poisoned".to_string())?;
            d.insert(name.to_string(), record);
            d.clone()
        };
        let r = self.parent_ref();
        let current = self.get(&r).await?;
        let mut inv = current.as_ref().map(Inventory::from_config_map).unwrap_or_default();
        inv.downloads.extend(downloads);
        let kinds: Vec<String> = current.as_ref().map(group_kinds_of).unwrap_or_default().into_iter().collect();
        let cm = inv.to_config_map(&self.input.plan.workspace, self.namespace(), &kinds);
        // The inventory's prior is in the journal since the run began: no new intent.
        self.retry(|| self.cluster.apply(&cm, ApplyOptions { dry_run: false, force: true }))
            .await
            .map_err(|e| StepError::Failed(format!("the download completed, but recording it in {r} failed: {e}")))?;
        Ok(())
    }

    /// Owned objects no longer in the workspace, after everything else; claims only with
    /// `--delete-storage` (the plan says `delete` for them only then).
    async fn prune(&self) -> StepResult<()> {
        let doomed: Vec<&crate::plan::ObjectPlan> =
            self.input.plan.prune.iter().filter(|p| p.action == Action::Delete).collect();
        for p in &self.input.plan.prune {
            if p.action == Action::Keep {
                self.emit(Event::Kept { object: p.object.to_string(), why: p.reason.clone().unwrap_or_default() });
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        self.emit(Event::StepStarted {
            step: "prune".into(),
            what: format!("delete {} object(s) no longer in the workspace", doomed.len()),
        });
        let t = Instant::now();
        for p in doomed {
            if let Some(prior) = self.get(&p.object).await? {
                self.delete_object("prune", &p.object, Propagation::Background, prior).await?;
            }
        }
        self.emit(Event::StepDone { step: "prune".into(), summary: "pruned".into(), elapsed: t.elapsed() });
        Ok(())
    }

    // ---- destroy ----

    /// Deletes what the workspace owns, last step first; claims (and the inventory recording
    /// their downloads) are kept unless the plan deletes them (`--delete-storage`).
    async fn destroy(&self, steps: &[&StepPlan], times: &mut Vec<StepTime>) -> StepResult<()> {
        let delete_storage = self.opts.delete_storage;
        let mut kept_any = false;
        for sp in steps.iter().rev() {
            let live: Vec<&ObjectPlan> = sp.objects.iter().filter(|o| o.action != Action::Create).collect();
            if live.is_empty() {
                self.emit(Event::StepSkipped { step: sp.step.clone(), why: "nothing to delete".into() });
                continue;
            }
            self.emit(Event::StepStarted {
                step: sp.step.clone(),
                what: live.iter().map(|o| format!("delete {}", o.object)).collect::<Vec<_>>().join(", "),
            });
            let t = Instant::now();
            let mut did = Vec::new();
            let result: StepResult<()> = async {
                for o in &live {
                    if let Some(why) = destroy_keeps(o, delete_storage) {
                        kept_any = true;
                        self.emit(Event::Kept { object: o.object.to_string(), why });
                    } else if self.destroy_one(&sp.step, &o.object).await? {
                        did.push(o.object.kind.clone());
                    }
                }
                Ok(())
            }
            .await;
            let elapsed = t.elapsed();
            if let Err(e) = result {
                self.emit(Event::StepFailed { step: sp.step.clone(), error: step_message(&e), elapsed });
                return Err(e);
            }
            self.emit(Event::StepDone {
                step: sp.step.clone(),
                summary: format!("deleted {}", did.join(", ")),
                elapsed,
            });
            times.push(StepTime { step: sp.step.clone(), outcome: "done".into(), elapsed });
            if self.cancel.is_cancelled() {
                return Err(StepError::Cancelled);
            }
        }
        for p in &self.input.plan.prune {
            if let Some(why) = destroy_keeps(p, delete_storage) {
                kept_any = true;
                self.emit(Event::Kept { object: p.object.to_string(), why });
            } else {
                self.destroy_one("prune", &p.object).await?;
            }
        }
        let parent = self.parent_ref();
        if kept_any {
            self.emit(Event::Kept {
                object: parent.to_string(),
                why: "it records the downloads on the kept claims (a later apply does not download them again)".into(),
            });
        } else if let Some(prior) = self.get(&parent).await? {
            self.delete_object("inventory", &parent, Propagation::Background, prior).await?;
        }
        Ok(())
    }

    /// Deletes one object of the workspace if it exists and is the workspace's own (another
    /// owner's is reported as kept); waits until it is gone when its dependents go first.
    /// True if it was deleted.
    async fn destroy_one(&self, step: &str, r: &ObjectRef) -> StepResult<bool> {
        let Some(prior) = self.get(r).await? else { return Ok(false) };
        if !crate::plan::owned_by(&prior, &self.input.ws.name) {
            self.emit(Event::Kept {
                object: r.to_string(),
                why: format!("not managed by workspace {}: destroy deletes only what it created", self.input.ws.name),
            });
            return Ok(false);
        }
        // Workloads go in the foreground: their pods are gone before the claims they mounted
        // are used again (a single-attach claim admits one pod) or deleted.
        let foreground = FOREGROUND.contains(&r.kind.as_str());
        let propagation = if foreground { Propagation::Foreground } else { Propagation::Background };
        self.delete_object(step, r, propagation, prior).await?;
        if foreground {
            self.wait(step, Wait::Gone(r.clone()), GONE_TIMEOUT).await?;
        }
        Ok(true)
    }

    // ---- mutations ----

    fn seq(&self) -> u64 {
        let mut n = self.next_seq.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        *n - 1
    }

    /// Journal intent (flushed) → request → journal `done` / `refused`.
    fn intend(&self, step: &str, mutation: Mutation, r: &ObjectRef, prior: Option<&Value>) -> StepResult<u64> {
        let mut j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        match j.as_mut() {
            Some(j) => j
                .intent(step, mutation, r, prior)
                .map_err(|e| StepError::Failed(format!("cannot write the journal: {e}"))),
            None => Ok(self.seq()),
        }
    }

    /// After the answer: `done` or `refused` in the journal, and the mutation remembered for a
    /// rollback unless the server refused it (a lost answer counts: it may have happened).
    fn settle(
        &self,
        seq: u64,
        mutation: Mutation,
        r: &ObjectRef,
        prior: Option<Value>,
        result: &Result<Option<Value>, ClusterError>,
    ) {
        // `done` and `refused` are best effort: without them the intent reads as uncertain, and
        // recovery looks at the live object.
        match result {
            Ok(v) => self.journaled(|j| j.done(seq, v.as_ref())),
            Err(e) if e.is_transient() => {}
            Err(e) => return self.journaled(|j| j.refused(seq, &e.to_string())),
        }
        if let Ok(mut d) = self.done.lock() {
            d.push(Done { seq, mutation, object: r.clone(), prior });
        }
    }

    /// A best-effort journal entry (the journal is optional, and these entries are not what a
    /// recovery depends on).
    fn journaled(&self, write: impl FnOnce(&mut Journal) -> Result<(), super::journal::JournalError>) {
        if let Some(j) = self.journal.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            let _ = write(j);
        }
    }

    async fn apply_object(&self, step: &str, r: &ObjectRef, obj: &Value, prior: Option<Value>) -> StepResult<Value> {
        let mutation = if prior.is_some() { Mutation::Update } else { Mutation::Create };
        let seq = self.intend(step, mutation, r, prior.as_ref())?;
        let result = self.retry(|| self.cluster.apply(obj, ApplyOptions { dry_run: false, force: true })).await;
        let settled = result.clone().map(Some);
        self.settle(seq, mutation, r, prior, &settled);
        result.map_err(|e| {
            StepError::Failed(format!(
                "{} {r}: {e}",
                if mutation == Mutation::Create { "creating" } else { "updating" }
            ))
        })
    }

    async fn delete_object(&self, step: &str, r: &ObjectRef, propagation: Propagation, prior: Value) -> StepResult<()> {
        let seq = self.intend(step, Mutation::Delete, r, Some(&prior))?;
        let result = match self.retry(|| self.cluster.delete(r, propagation, false)).await {
            Err(ClusterError::NotFound(_)) => Ok(None),
            other => other,
        };
        self.settle(seq, Mutation::Delete, r, Some(prior), &result);
        result.map(|_| ()).map_err(|e| StepError::Failed(format!("deleting {r}: {e}")))
    }

    /// Delete, wait until it is gone, create again.
    async fn replace_object(&self, step: &str, r: &ObjectRef, obj: &Value) -> StepResult<()> {
        if let Some(prior) = self.get(r).await? {
            self.delete_object(step, r, Propagation::Foreground, prior).await?;
            self.wait(step, Wait::Gone(r.clone()), GONE_TIMEOUT).await?;
        }
        self.apply_object(step, r, obj, None).await.map(|_| ())
    }

    async fn get(&self, r: &ObjectRef) -> StepResult<Option<Value>> {
        self.retry(|| self.cluster.get(r)).await.map_err(|e| StepError::Failed(format!("reading {r}: {e}")))
    }

    /// Tries a request again after a transient failure, a few times with a growing pause.
    async fn retry<T, F, Fut>(&self, f: F) -> Result<T, ClusterError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ClusterError>>,
    {
        let mut attempt = 1;
        loop {
            match f().await {
                Err(e) if e.is_transient() && attempt < self.opts.attempts => {
                    tokio::time::sleep(Duration::from_secs(1 << attempt.min(5))).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    // ---- waits ----

    async fn probe(&self, w: &Wait) -> Result<State, ClusterError> {
        match w {
            Wait::Claim(r) => {
                let Some(pvc) = self.cluster.get(r).await? else { return Ok(State::Failed(format!("{r} is gone"))) };
                let class = pvc.pointer("/spec/storageClassName").and_then(Value::as_str).unwrap_or("");
                let first_consumer = self.binds_on_first_consumer(class).await;
                if pvc.pointer("/status/phase").and_then(Value::as_str) == Some("Bound") {
                    return Ok(readiness::claim(&pvc, first_consumer));
                }
                // Pending: the cluster's reason, from the persistent volume controller's events
                // and the volume the claim names (the controller says nothing when it is missing).
                let uid = pvc.pointer("/metadata/uid").and_then(Value::as_str);
                let events = self.cluster.events(r, uid).await?;
                let named = pvc.pointer("/spec/volumeName").and_then(Value::as_str).filter(|v| !v.is_empty());
                let volume = match named {
                    Some(v) => Some(self.cluster.get(&ObjectRef::new("v1", "PersistentVolume", None, v)).await?),
                    None => None,
                };
                let facts = readiness::ClaimFacts { events: &events, volume: volume.as_ref().map(Option::as_ref) };
                Ok(readiness::claim_with(&pvc, first_consumer, &facts))
            }
            Wait::Job(r) => {
                let Some(job) = self.cluster.get(r).await? else {
                    return Ok(State::Failed(format!("{r} was deleted while it ran")));
                };
                let pods = self.job_pods(r).await?;
                match readiness::job(&job, &pods) {
                    State::Failed(why) => {
                        let tail = self.job_log(r, Some(20)).await.unwrap_or_default();
                        let reason = tail
                            .lines()
                            .rev()
                            .find_map(|l| l.trim_start().strip_prefix(FAILED_MARKER))
                            .map(|m| format!(" — the downloader said: {m}"))
                            .unwrap_or_default();
                        let lines: Vec<&str> =
                            tail.lines().rev().take(10).collect::<Vec<_>>().into_iter().rev().collect();
                        let mut msg = format!("{why}{reason}");
                        if !lines.is_empty() {
                            msg += &format!("\nlast lines of its log:\n  {}", lines.join("\n  "));
                        }
                        Ok(State::Failed(msg))
                    }
                    other => Ok(other),
                }
            }
            Wait::JobGone(r) => {
                let job = self.cluster.get(r).await?;
                let pods = self.job_pods(r).await?;
                Ok(match (job, pods.len()) {
                    (None, 0) => State::Ready("gone".into()),
                    (_, n) if n > 0 => State::Waiting(format!("{n} pod(s) of the Job still there")),
                    _ => State::Waiting("the Job is being deleted".into()),
                })
            }
            Wait::Gone(r) => Ok(match self.cluster.get(r).await? {
                None => State::Ready("gone".into()),
                Some(_) => State::Waiting(format!("{r} is being deleted")),
            }),
            Wait::Rollout(r) => {
                let Some(d) = self.cluster.get(r).await? else { return Ok(State::Failed(format!("{r} is gone"))) };
                let selector = d
                    .pointer("/spec/selector/matchLabels")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")
                    })
                    .unwrap_or_default();
                let pods = if selector.is_empty() {
                    vec![]
                } else {
                    self.cluster.list("v1", "Pod", Some(self.namespace()), &selector).await?
                };
                Ok(readiness::deployment(&d, &pods))
            }
            Wait::Workload(r) => {
                let Some(obj) = self.cluster.get(r).await? else { return Ok(State::Failed(format!("{r} is gone"))) };
                Ok(crate::plan::status::workload_state(self.cluster.as_ref(), &obj).await?)
            }
            Wait::Pulls(pods, _) => {
                // Per image: the nodes still pulling it, and how many nodes pull it at all.
                let mut pulling: BTreeMap<String, Vec<&str>> = BTreeMap::new();
                let mut total: BTreeMap<String, usize> = BTreeMap::new();
                for (r, node) in pods {
                    let Some(pod) = self.cluster.get(r).await? else {
                        return Ok(State::Failed(format!("pull pod {} on node {node} was deleted", r.name)));
                    };
                    for c in pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten() {
                        if let Some(i) = c.get("image").and_then(Value::as_str) {
                            *total.entry(i.to_string()).or_default() += 1;
                        }
                    }
                    match prepull::pulled(&pod) {
                        prepull::Pulled::Done => {}
                        prepull::Pulled::Failed(why) => return Ok(State::Failed(why)),
                        prepull::Pulled::Pulling(images) => {
                            for i in images {
                                pulling.entry(i).or_default().push(node);
                            }
                        }
                    }
                }
                if pulling.is_empty() {
                    return Ok(State::Ready(format!("pulled on {} node(s)", pods.len())));
                }
                let parts: Vec<String> = pulling
                    .iter()
                    .map(|(i, nodes)| {
                        let of = total.get(i).copied().unwrap_or(nodes.len());
                        format!("pulling {i} on {} of {of} nodes ({})", nodes.len(), nodes.join(", "))
                    })
                    .collect();
                Ok(State::Waiting(parts.join("; ")))
            }
        }
    }

    /// Whether a storage class binds its claims only when a pod first uses them. Read once per
    /// class and run (a wait polls many times); a class that cannot be read counts as binding at
    /// once, so the wait then says the claim is pending.
    async fn binds_on_first_consumer(&self, class: &str) -> bool {
        if class.is_empty() {
            return false;
        }
        if let Some(known) = self.classes.lock().unwrap_or_else(|e| e.into_inner()).get(class) {
            return *known;
        }
        let sc = ObjectRef::new("storage.k8s.io/v1", "StorageClass", None, class);
        let first = match self.cluster.get(&sc).await {
            Ok(Some(sc)) => sc.get("volumeBindingMode").and_then(Value::as_str) == Some("WaitForFirstConsumer"),
            // Not cached: a passing error may read differently next time.
            _ => return false,
        };
        self.classes.lock().unwrap_or_else(|e| e.into_inner()).insert(class.to_string(), first);
        first
    }

    /// What a wait watches: the object waited for, and what its probe reads about it (a
    /// claim's events, a Job's or a workload's pods), each by a field or label selector.
    fn sources(&self, w: &Wait) -> Vec<Source> {
        let by_name = |r: &ObjectRef| Source::new(r, "", &format!("metadata.name={}", r.name));
        let pods = |r: &ObjectRef, labels: String| Source {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: r.namespace.clone(),
            labels,
            fields: String::new(),
        };
        let match_labels = |r: &ObjectRef| {
            self.desired
                .get(r)
                .and_then(|d| d.pointer("/spec/selector/matchLabels"))
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")
                })
                .filter(|s| !s.is_empty())
        };
        match w {
            Wait::Claim(r) => vec![
                by_name(r),
                Source {
                    api_version: "v1".into(),
                    kind: "Event".into(),
                    namespace: r.namespace.clone(),
                    labels: String::new(),
                    fields: format!("involvedObject.kind={},involvedObject.name={}", r.kind, r.name),
                },
            ],
            Wait::Job(r) | Wait::JobGone(r) => {
                vec![by_name(r), pods(r, format!("batch.kubernetes.io/job-name={}", r.name))]
            }
            Wait::Pulls(pulls, labels) => match pulls.first() {
                Some((r, _)) => vec![pods(r, labels.clone())],
                None => vec![],
            },
            Wait::Gone(r) => vec![by_name(r)],
            Wait::Rollout(r) | Wait::Workload(r) => {
                let labels = match r.kind.as_str() {
                    "LeaderWorkerSet" => Some(format!("leaderworkerset.sigs.k8s.io/name={}", r.name)),
                    "DisaggregatedSet" => Some(format!("disaggregatedset.x-k8s.io/name={}", r.name)),
                    _ => match_labels(r),
                };
                let mut out = vec![by_name(r)];
                // A DisaggregatedSet's readiness is its LeaderWorkerSets', which its pods follow.
                out.extend(labels.map(|l| pods(r, l)));
                out
            }
        }
    }

    /// Says once per run and kind that its waits poll, because its watch could not start.
    fn note_unwatchable(&self, kind: &str, why: &str) {
        let first = self.unwatchable.lock().unwrap_or_else(|e| e.into_inner()).insert(kind.to_string());
        if first {
            self.emit(Event::Note {
                message: format!(
                    "cannot watch {kind} ({why}): waits on it look every {} instead",
                    human(self.opts.poll)
                ),
            });
        }
    }

    /// The downloader's latest progress line, from the tail of its pod's log. The pod's name is
    /// kept between reads (`pod`), so a read is one request; it is looked up again when the pod
    /// is gone (a retry runs a new one).
    async fn download_progress(&self, job: &ObjectRef, pod: &mut Option<String>) -> Option<String> {
        if pod.is_none() {
            let pods = self.job_pods(job).await.ok()?;
            *pod = pods.last().and_then(|p| p.pointer("/metadata/name")).and_then(Value::as_str).map(str::to_string);
        }
        let name = pod.clone()?;
        let tail = match self.cluster.logs(self.namespace(), &name, None, Some(40)).await {
            Ok(t) => t,
            Err(_) => {
                *pod = None;
                return None;
            }
        };
        // A pod that failed leaves its place to the next attempt's.
        if tail.contains(FAILED_MARKER) {
            *pod = None;
        }
        crate::render::last_progress(&tail).map(|p| format!("downloading: {p}"))
    }

    /// Waits until ready, failed, timed out, or the run stops. The wait looks (probes) once,
    /// then watches what it depends on from the resource version read before the look, and
    /// looks again at each relevant event: it acts on the event that made the change. A watch
    /// that breaks is started again from the last version seen (bookmarks move it on); an
    /// expired one (410) lists again; one that cannot start (403, a server that does not
    /// serve it) makes the wait look every `poll`, as it does without watches. A look every
    /// [`SAFETY_PROBE`] stays, whatever the watches say.
    async fn wait(&self, step: &str, w: Wait, timeout: Duration) -> StepResult<String> {
        let timeout = self.opts.timeout.unwrap_or(timeout);
        let start = Instant::now();
        let mut last: Option<String> = None;
        let mut unreachable_since: Option<Instant> = None;
        let sources = if self.opts.watch { self.sources(&w) } else { Vec::new() };
        let mut watches = Watches::new(self.cluster.clone(), sources);
        let job = match &w {
            Wait::Job(r) => Some(r.clone()),
            _ => None,
        };
        let mut next_progress = Instant::now();
        let mut progress: Option<String> = None;
        let mut progress_pod: Option<String> = None;
        let mut waiting: Option<String> = None;
        let mut look = true;
        let mut last_look = Instant::now();
        loop {
            if look {
                last_look = Instant::now();
                // The watches first: what changes after their list is not missed.
                watches.ensure().await;
                if let Some((kind, why)) = watches.refused.clone() {
                    self.note_unwatchable(&kind, &why);
                }
                waiting = None;
                let reason = match self.probe(&w).await {
                    Ok(State::Ready(s)) => return Ok(s),
                    Ok(State::Failed(s)) => return Err(StepError::Failed(s)),
                    Ok(State::Waiting(s)) => {
                        unreachable_since = None;
                        waiting = Some(s.clone());
                        s
                    }
                    Ok(State::Absent) => "not there yet".to_string(),
                    Err(e) if e.is_transient() => {
                        let since = *unreachable_since.get_or_insert_with(Instant::now);
                        if since.elapsed() >= self.opts.unreachable_after {
                            return Err(StepError::Failed(format!(
                                "the cluster has been unreachable for {}: {e}",
                                human(since.elapsed())
                            )));
                        }
                        format!("cluster unreachable ({e}); retrying")
                    }
                    Err(e) => return Err(StepError::Failed(format!("{}: {e}", w.what()))),
                };
                if waiting.is_none() {
                    self.emit_waiting(step, &reason, &mut last, start);
                }
            }
            // A running download says how far it got, read now and then (not at every event).
            if let (Some(job), Some(base)) = (&job, &waiting) {
                if Instant::now() >= next_progress {
                    next_progress = Instant::now() + PROGRESS_EVERY;
                    if let Some(p) = self.download_progress(job, &mut progress_pod).await {
                        progress = Some(p);
                    }
                }
                let reason = match &progress {
                    Some(p) => format!("{base}; {p}"),
                    None => base.clone(),
                };
                self.emit_waiting(step, &reason, &mut last, start);
            } else if let Some(base) = &waiting {
                self.emit_waiting(step, base, &mut last, start);
            }
            if start.elapsed() >= timeout {
                return Err(StepError::Failed(format!(
                    "timed out after {} waiting for {}: {}",
                    human(timeout),
                    w.what(),
                    last.unwrap_or_default()
                )));
            }
            let every = if watches.watching() { SAFETY_PROBE } else { self.opts.poll };
            let look_at = (last_look + every).min(start + timeout);
            let progress_at = (job.is_some() && waiting.is_some()).then_some(next_progress);
            let wake = progress_at.map_or(look_at, |p| p.min(look_at));
            tokio::select! {
                _ = self.stop.cancelled() => return Err(StepError::Cancelled),
                _ = tokio::time::sleep_until(wake) => look = progress_at.is_none_or(|p| look_at <= p),
                _ = watches.next_change() => look = true,
            }
        }
    }

    fn emit_waiting(&self, step: &str, reason: &str, last: &mut Option<String>, start: Instant) {
        if last.as_deref() != Some(reason) {
            self.emit(Event::StepWaiting { step: step.into(), reason: reason.to_string(), elapsed: start.elapsed() });
            *last = Some(reason.to_string());
        }
    }

    // ---- rollback ----

    /// Undoes this run's mutations (and a resumed run's), newest first.
    async fn rollback(&self, reason: &str, report: &mut Report) {
        let mut todo: Vec<Done> = self.earlier.clone();
        todo.extend(self.done.lock().map(|d| d.clone()).unwrap_or_default());
        if todo.is_empty() {
            return;
        }
        self.emit(Event::RollbackStarted { reason: reason.into() });
        self.journaled(|j| j.rollback_started(reason));
        let kept_downloads: BTreeMap<String, DownloadRecord> = if self.opts.rollback_storage {
            BTreeMap::new()
        } else {
            self.downloads.lock().map(|d| d.clone()).unwrap_or_default()
        };
        // Each object once, the one mutated last first, back to its state before this run's
        // first mutation of it.
        let mut by_object: BTreeMap<&ObjectRef, Vec<&Done>> = BTreeMap::new();
        for d in &todo {
            by_object.entry(&d.object).or_default().push(d);
        }
        let mut objects: Vec<Vec<&Done>> = by_object.into_values().collect();
        for ds in &mut objects {
            ds.sort_by_key(|d| d.seq);
        }
        objects.sort_by_key(|ds| std::cmp::Reverse(ds.last().map(|d| d.seq)));
        for ds in objects {
            let (Some(first), Some(last)) = (ds.first(), ds.last()) else { continue };
            let r = &first.object;
            if self.abort.is_cancelled() {
                report.not_undone.push(format!("{r} (rollback interrupted)"));
                continue;
            }
            match self.undo(r, first.mutation, first.prior.as_ref(), last.mutation, &kept_downloads).await {
                Undo::Done(how) => {
                    self.emit(Event::RolledBack { object: r.to_string(), how: how.clone() });
                    report.rolled_back.push(format!("{how} {r}"));
                }
                Undo::Kept(why) => {
                    self.emit(Event::Kept { object: r.to_string(), why: why.clone() });
                    report.kept.push(format!("{r}: {why}"));
                }
                Undo::Failed(e) => {
                    self.emit(Event::RollbackFailed { object: r.to_string(), error: e.clone() });
                    report.not_undone.push(format!("{r}: {e}"));
                    continue;
                }
            }
            self.journaled(|j| ds.iter().try_for_each(|d| j.undone(d.seq)));
        }
    }

    /// Puts one object back as it was before the run's first mutation of it (`first`, `prior`);
    /// `last` is the run's last mutation of it.
    async fn undo(
        &self,
        r: &ObjectRef,
        first: Mutation,
        prior: Option<&Value>,
        last: Mutation,
        kept_downloads: &BTreeMap<String, DownloadRecord>,
    ) -> Undo {
        if *r == self.parent_ref() {
            return self.undo_inventory(r, prior, kept_downloads).await;
        }
        let storage = r.kind == "PersistentVolumeClaim";
        if storage && first == Mutation::Update {
            return Undo::Kept("a claim is never shrunk back; its other fields cannot change in place".into());
        }
        let current = match self.retry(|| self.cluster.get(r)).await {
            Ok(c) => c,
            Err(e) => return Undo::Failed(e.to_string()),
        };
        if storage && first == Mutation::Create && !self.opts.rollback_storage {
            return match &current {
                Some(claim) if never_bound(claim) => self.delete_unbound_claim(r, claim).await,
                _ => Undo::Kept(
                    "storage is kept: it bound, so it may hold downloaded weights (`--rollback-storage` deletes it)"
                        .into(),
                ),
            };
        }
        if storage && first == Mutation::Delete && current.is_some() {
            return Undo::Kept(
                "the claim was replaced, and its data went with the old one; the new claim is kept".into(),
            );
        }
        match (first, prior) {
            (Mutation::Create, _) | (_, None) => match current {
                None => Undo::Done("already gone".into()),
                Some(_) => self.delete_for_rollback(r, "deleted").await,
            },
            // A Job this run deleted (released, or replaced) is not run again.
            (_, Some(_)) if r.kind == "Job" => match current {
                Some(_) if last == Mutation::Create => match self.delete_for_rollback(r, "").await {
                    Undo::Failed(e) => Undo::Failed(e),
                    _ => Undo::Kept(
                        "the earlier download's Job is not run again by a rollback (the new one was deleted)".into(),
                    ),
                },
                _ => Undo::Kept(
                    "a Job is not run again by a rollback: its download is recorded, and its claim released".into(),
                ),
            },
            (_, Some(prior)) => {
                if super::journal::withheld(prior).is_some() {
                    // After a crash the journal is all there is, and it never holds a secret value.
                    return Undo::Kept(
                        "its earlier value is not in the journal (secret values never are): it keeps the value this run wrote; apply the previous workspace to restore it"
                            .into(),
                    );
                }
                let body = for_create(prior);
                match current {
                    None => match self.retry(|| self.cluster.create(&body)).await {
                        Ok(_) => Undo::Done("recreated".into()),
                        Err(ClusterError::Conflict { .. }) => Undo::Kept("it exists again".into()),
                        Err(e) => Undo::Failed(e.to_string()),
                    },
                    Some(cur) => {
                        let mut put = for_update(prior);
                        if let (Some(m), Some(rv)) = (
                            put.get_mut("metadata").and_then(Value::as_object_mut),
                            cur.pointer("/metadata/resourceVersion"),
                        ) {
                            m.insert("resourceVersion".into(), rv.clone());
                        }
                        match self.retry(|| self.cluster.replace(&put)).await {
                            Ok(_) => Undo::Done("restored".into()),
                            Err(e) => Undo::Failed(e.to_string()),
                        }
                    }
                }
            }
        }
    }

    /// Deletes a claim this run created that never bound: nothing can have been written to it.
    /// Only that very version of it (a claim that binds in between is kept).
    async fn delete_unbound_claim(&self, r: &ObjectRef, claim: &Value) -> Undo {
        let meta = |k: &str| claim.pointer(&format!("/metadata/{k}")).and_then(Value::as_str).unwrap_or("").to_string();
        let (uid, rv) = (meta("uid"), meta("resourceVersion"));
        match self.retry(|| self.cluster.delete_exact(r, &uid, &rv, Propagation::Background)).await {
            Ok(_) | Err(ClusterError::NotFound(_)) => {
                Undo::Done("deleted (it never bound to a volume, so it held no data)".into())
            }
            Err(ClusterError::Conflict { .. }) => {
                Undo::Kept("storage is kept: it changed while the rollback read it (it may have bound)".into())
            }
            Err(e) => Undo::Failed(e.to_string()),
        }
    }

    /// Deletes what a rollback removes (gone already is as good): `Done(how)` or `Failed`.
    async fn delete_for_rollback(&self, r: &ObjectRef, how: &str) -> Undo {
        match self.retry(|| self.cluster.delete(r, Propagation::Background, false)).await {
            Ok(_) | Err(ClusterError::NotFound(_)) => Undo::Done(how.into()),
            Err(e) => Undo::Failed(e.to_string()),
        }
    }

    /// The inventory goes back to what it was, plus the downloads this run completed (their
    /// weights are on claims that are kept); a new one with nothing to keep is deleted.
    async fn undo_inventory(
        &self,
        r: &ObjectRef,
        prior: Option<&Value>,
        kept: &BTreeMap<String, DownloadRecord>,
    ) -> Undo {
        if prior.is_none() && kept.is_empty() {
            return self.delete_for_rollback(r, "deleted").await;
        }
        let mut inv = prior.map(Inventory::from_config_map).unwrap_or_default();
        inv.downloads.extend(kept.clone());
        let mut kinds: BTreeSet<String> = prior.map(group_kinds_of).unwrap_or_default();
        if !kept.is_empty() {
            kinds.insert("PersistentVolumeClaim".into());
        }
        let mut cm =
            inv.to_config_map(&self.input.plan.workspace, self.namespace(), &kinds.into_iter().collect::<Vec<_>>());
        if let Some(p) = prior
            && let Some(ann) = p.pointer("/metadata/annotations").and_then(Value::as_object)
        {
            for (k, v) in ann.iter().filter(|(k, _)| *k != crate::plan::inventory::APPLYSET_GROUP_KINDS) {
                cm["metadata"]["annotations"][k] = v.clone();
            }
        }
        match self.retry(|| self.cluster.apply(&cm, ApplyOptions { dry_run: false, force: true })).await {
            Ok(_) if kept.is_empty() => Undo::Done("restored".into()),
            Ok(_) => Undo::Kept(format!(
                "restored, keeping the record of {} completed download(s): {}",
                kept.len(),
                kept.keys().cloned().collect::<Vec<_>>().join(", ")
            )),
            Err(e) => Undo::Failed(e.to_string()),
        }
    }
}

enum Undo {
    Done(String),
    Kept(String),
    Failed(String),
}

#[derive(Clone, Debug)]
enum Wait {
    Claim(ObjectRef),
    Job(ObjectRef),
    JobGone(ObjectRef),
    Gone(ObjectRef),
    Rollout(ObjectRef),
    /// A LeaderWorkerSet, a standalone ReplicaSet or a DisaggregatedSet to be ready.
    Workload(ObjectRef),
    /// A pre-pull's pull pods (and their nodes) to have their images; the label selector of
    /// its pods, for the wait's watch.
    Pulls(Vec<(ObjectRef, String)>, String),
}

impl Wait {
    fn what(&self) -> String {
        match self {
            Wait::Claim(r) => format!("claim {} to bind", r.name),
            Wait::Job(r) => format!("Job {} to succeed", r.name),
            Wait::JobGone(r) => format!("Job {} and its pods to be deleted", r.name),
            Wait::Gone(r) => format!("{r} to be deleted"),
            Wait::Rollout(r) => format!("Deployment {} to roll out", r.name),
            Wait::Workload(r) => format!("{} {} to be ready", r.kind, r.name),
            Wait::Pulls(p, _) => format!("images to be pulled on {} node(s)", p.len()),
        }
    }
}

/// One thing a wait watches: the objects of a kind in a namespace that match the selectors.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Source {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    labels: String,
    fields: String,
}

impl Source {
    fn new(r: &ObjectRef, labels: &str, fields: &str) -> Source {
        Source {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            labels: labels.into(),
            fields: fields.into(),
        }
    }
}

/// A watch's event, tagged with its source and the generation of that source's watch (events
/// of a watch given up are ignored); `None` when the watch ended.
type Tagged = (usize, u64, Option<Result<WatchEvent, ClusterError>>);

/// The watch of one source.
struct Watched {
    source: Source,
    /// Where the next watch starts; `None`: list first (at the start, or after a 410).
    rv: Option<String>,
    generation: u64,
    open: bool,
    started: Option<Instant>,
    /// A watch that broke is started again from then on.
    retry_at: Option<Instant>,
}

/// The watches of one wait (see [`Engine::wait`]).
struct Watches {
    cluster: Arc<dyn Cluster>,
    watched: Vec<Watched>,
    streams: futures::stream::SelectAll<futures::stream::BoxStream<'static, Tagged>>,
    /// A watch that could not start: its kind and why. The wait polls from then on.
    refused: Option<(String, String)>,
}

impl Watches {
    fn new(cluster: Arc<dyn Cluster>, sources: Vec<Source>) -> Watches {
        let watched = sources
            .into_iter()
            .map(|source| Watched { source, rv: None, generation: 0, open: false, started: None, retry_at: None })
            .collect();
        Watches { cluster, watched, streams: futures::stream::SelectAll::new(), refused: None }
    }

    /// Whether every source is being watched (the wait then looks only at events, and every
    /// [`SAFETY_PROBE`]).
    fn watching(&self) -> bool {
        self.refused.is_none() && !self.watched.is_empty() && self.watched.iter().all(|w| w.open)
    }

    fn give_up(&mut self, kind: &str, why: String) {
        self.refused = Some((kind.to_string(), why));
        self.streams = futures::stream::SelectAll::new();
        for w in &mut self.watched {
            w.open = false;
        }
    }

    /// Starts the watches that are not running and are due: a list for a source whose resource
    /// version is unknown, then the watch from it. True when a list was needed (what it shows
    /// may be new: look again).
    async fn ensure(&mut self) -> bool {
        let mut listed = false;
        let now = Instant::now();
        for i in 0..self.watched.len() {
            if self.refused.is_some() {
                return listed;
            }
            let w = &self.watched[i];
            if w.open || w.retry_at.is_some_and(|t| t > now) {
                continue;
            }
            let src = w.source.clone();
            if w.rv.is_none() {
                let list = self
                    .cluster
                    .list_versioned(&src.api_version, &src.kind, src.namespace.as_deref(), &src.labels, &src.fields)
                    .await;
                match list {
                    Ok(l) if l.resource_version.is_empty() => {
                        self.give_up(&src.kind, "the cluster gives no resource version to watch from".into());
                        return listed;
                    }
                    Ok(l) => {
                        self.watched[i].rv = Some(l.resource_version);
                        listed = true;
                    }
                    Err(e) if e.is_transient() => {
                        self.watched[i].retry_at = Some(now + REWATCH_AFTER);
                        continue;
                    }
                    Err(e) => {
                        self.give_up(&src.kind, e.to_string());
                        return listed;
                    }
                }
            }
            let req = WatchRequest {
                api_version: src.api_version.clone(),
                kind: src.kind.clone(),
                namespace: src.namespace.clone(),
                labels: src.labels.clone(),
                fields: src.fields.clone(),
                resource_version: self.watched[i].rv.clone().unwrap_or_default(),
                bookmarks: true,
                timeout: WATCH_TIMEOUT,
            };
            match self.cluster.watch(&req).await {
                Ok(stream) => {
                    let w = &mut self.watched[i];
                    w.generation += 1;
                    w.open = true;
                    w.started = Some(Instant::now());
                    w.retry_at = None;
                    let generation = w.generation;
                    let tagged = stream
                        .map(move |e| (i, generation, Some(e)))
                        .chain(futures::stream::once(async move { (i, generation, None) }));
                    self.streams.push(tagged.boxed());
                }
                Err(e) if e.code() == Some(410) => {
                    let w = &mut self.watched[i];
                    w.rv = None;
                    w.retry_at = Some(now + REWATCH_AFTER);
                }
                Err(e) if e.is_transient() => self.watched[i].retry_at = Some(now + REWATCH_AFTER),
                Err(e) => {
                    self.give_up(&src.kind, e.to_string());
                    return listed;
                }
            }
        }
        listed
    }

    /// Takes in one tagged event; true when it is a change the wait must look at.
    fn take(&mut self, (i, generation, item): Tagged) -> bool {
        let Some(w) = self.watched.get_mut(i) else { return false };
        if w.generation != generation || !w.open {
            return false;
        }
        let broke = |w: &mut Watched| {
            w.open = false;
            w.generation += 1;
            // At once after a long watch, not more than once a REWATCH_AFTER after a short one.
            w.retry_at = w.started.map(|s| s + REWATCH_AFTER);
        };
        match item {
            Some(Ok(e)) if e.is_expired() => {
                broke(w);
                w.rv = None;
                w.retry_at = None;
                false
            }
            Some(Ok(WatchEvent::Error { .. })) | Some(Err(_)) | None => {
                broke(w);
                false
            }
            Some(Ok(WatchEvent::Bookmark(rv))) => {
                if !rv.is_empty() {
                    w.rv = Some(rv);
                }
                false
            }
            Some(Ok(e)) => {
                if let Some(rv) = e.resource_version() {
                    w.rv = Some(rv.to_string());
                }
                true
            }
        }
    }

    /// Returns at the next change the wait must look at: an event of a watch, or a list that
    /// replaced an expired watch. Watches that broke are started again here. Pending for good
    /// once a watch was refused (the wait polls). Cancel-safe: the state stays consistent
    /// wherever it is dropped.
    async fn next_change(&mut self) {
        loop {
            if self.refused.is_some() || self.watched.is_empty() {
                return std::future::pending().await;
            }
            if self.ensure().await {
                return;
            }
            if self.refused.is_some() {
                continue;
            }
            let retry = self.watched.iter().filter(|w| !w.open).filter_map(|w| w.retry_at).min();
            let item = tokio::select! {
                item = self.streams.next(), if !self.streams.is_empty() => item,
                _ = sleep_until_some(retry) => continue,
            };
            let Some(item) = item else { continue };
            if self.take(item) {
                // Events that came with it are taken too: one look for a burst.
                while let Some(Some(more)) = self.streams.next().now_or_never() {
                    self.take(more);
                }
                return;
            }
        }
    }
}

/// Sleeps until `at`, or for good without it.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Why destroy keeps an object of the plan (claims, with their data, unless `--delete-storage`),
/// or `None` when it deletes it. `destroy_targets` shows the same split before confirmation.
pub fn destroy_keeps(o: &ObjectPlan, delete_storage: bool) -> Option<String> {
    if delete_storage {
        return None;
    }
    if o.object.kind == "PersistentVolumeClaim" {
        return Some("storage is kept, with its data (`--delete-storage` deletes it)".into());
    }
    (o.action == Action::Keep).then(|| o.reason.clone().unwrap_or_default())
}

/// How the failing step ended, before the reason the run stopped: a step cut short by the lost
/// lock says only that it stopped.
fn step_stopped(e: &StepError) -> String {
    match e {
        StepError::Failed(m) => m.clone(),
        StepError::Cancelled => "stopped".into(),
    }
}

fn step_message(e: &StepError) -> String {
    match e {
        StepError::Failed(m) => m.clone(),
        StepError::Cancelled => "cancelled".into(),
    }
}

fn action_word(a: Action) -> &'static str {
    match a {
        Action::Create => "create",
        Action::Update => "update",
        Action::Replace => "replace",
        Action::Delete => "delete",
        Action::Keep => "keep",
        Action::NoOp => "keep",
    }
}

fn past(a: Action) -> &'static str {
    match a {
        Action::Create => "created",
        Action::Update => "updated",
        Action::Replace => "replaced",
        Action::Delete => "deleted",
        Action::Keep | Action::NoOp => "kept",
    }
}

/// Whether a claim has never been bound to a volume (a claim, once bound, is Bound or Lost; a
/// volume named in its spec does not count until the controller bound it).
fn never_bound(claim: &Value) -> bool {
    claim.pointer("/status/phase").and_then(Value::as_str).is_none_or(|p| p == "Pending")
}

fn created(v: &Value) -> &str {
    v.pointer("/metadata/creationTimestamp").and_then(Value::as_str).unwrap_or("")
}

fn group_kinds_of(cm: &Value) -> BTreeSet<String> {
    cm.pointer(&format!("/metadata/annotations/{}", crate::plan::inventory::APPLYSET_GROUP_KINDS.replace('/', "~1")))
        .and_then(Value::as_str)
        .map(|s| s.split(',').filter(|k| !k.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Whether the live inventory already says what `cm` says (data, labels and annotations).
fn same_inventory(live: &Value, cm: &Value) -> bool {
    let sub = |v: &Value, p: &str| v.pointer(p).cloned().unwrap_or(Value::Null);
    let covers = |p: &str| match (live.pointer(p).and_then(Value::as_object), cm.pointer(p).and_then(Value::as_object))
    {
        (Some(l), Some(c)) => c.iter().all(|(k, v)| l.get(k) == Some(v)),
        (_, None) => true,
        (None, Some(c)) => c.is_empty(),
    };
    sub(live, "/data") == sub(cm, "/data") && covers("/metadata/labels") && covers("/metadata/annotations")
}

/// A prior object as a create request: without what the server sets.
fn for_create(prior: &Value) -> Value {
    let mut v = crate::cluster::without_server_fields(prior);
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("deletionTimestamp");
        m.remove("deletionGracePeriodSeconds");
        if let Some(f) = m.get_mut("finalizers").and_then(Value::as_array_mut) {
            f.retain(|x| x != "foregroundDeletion");
        }
    }
    v
}

/// A prior object as an update request (its uid kept: it is the same object).
fn for_update(prior: &Value) -> Value {
    let mut v = prior.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        m.remove("resourceVersion");
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}
