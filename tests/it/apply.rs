//! Apply, destroy and recover against the fake cluster, on tokio's paused clock: the fake's
//! controllers follow tokio time, so a 5-minute download takes milliseconds and concurrent
//! branches interleave as they would in a real cluster.
//!
//! The failure tests compare whole cluster snapshots: after a failure anywhere, the cluster must be
//! what it was before, plus the storage and the download records that are kept on purpose.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use msws::apply::engine::{Command, Options, Outcome, Report};
use msws::apply::lock::Holder;
use msws::apply::progress::{Event, Recording};
use msws::apply::session::{self, Recovery, Request, RunError, Stop};
use msws::cluster::fake::{
    FakeCluster, JobScript, Outcome as JobOutcome, PodFate, Snapshot, Verb, persistent_volume, storage_class,
};
use msws::cluster::{Cluster, ClusterError, ObjectRef};
use msws::plan::DownloadAction;
use msws::plan::{Inventory, Plan};
use serde_json::{Value, json};

use crate::plan::{Loaded, load_ws};
use crate::support::root;

const TOKEN: &str = "hf_SECRET_VALUE_never_shown_42";
const COMMIT: &str = "27dcfa74d334bc871f3234de431e71c6eeba5dd6";

/// A workspace loaded from `workspaces/`, a fake cluster seeded with what it expects to find,
/// and a directory holding a copy of the file (the journal goes beside it).
pub(crate) struct World {
    pub(crate) l: Loaded,
    pub(crate) cluster: Arc<FakeCluster>,
    dir: tempfile::TempDir,
    file: PathBuf,
    secrets: BTreeMap<String, BTreeMap<String, String>>,
    hash: String,
}

pub(crate) fn world(example: &str) -> World {
    world_from(&root().join("workspaces").join(example))
}

fn world_from(path: &Path) -> World {
    let l = load_ws(path);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(path.file_name().unwrap());
    std::fs::copy(path, &file).unwrap();
    let ns = l.ws.namespace.clone().unwrap_or_else(|| "default".into());
    let cluster = Arc::new(FakeCluster::new(&ns).with_runtime_clock());
    // Claims msws does not own were bound long ago, through this class.
    cluster.insert(&storage_class("standard", "Immediate", true, "Retain")).unwrap();
    for s in &l.ws.storages {
        if let Some(class) = &s.class {
            let _ = cluster.insert(&storage_class(class, "Immediate", true, "Retain"));
            if let Some(v) = &s.volume {
                cluster.insert(&persistent_volume(v, "10Gi", &[s.access.as_str()], class)).unwrap();
            }
        }
        if s.existing {
            cluster
                .insert(&json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": s.name, "namespace": ns},
                    "spec": {"accessModes": [s.access.as_str()], "storageClassName": "standard", "resources": {"requests": {"storage": "10Gi"}}}}))
                .unwrap();
        }
    }
    for s in l.ws.secrets.iter().filter(|s| s.source == msws::model::SecretSource::Existing) {
        cluster
            .insert(&json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": s.name, "namespace": ns}, "data": {"HF_TOKEN": "eA=="}}))
            .unwrap();
    }
    let mut secrets: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for s in &l.ws.secrets {
        if let msws::model::SecretSource::FromEnv { key, .. } = &s.source {
            secrets.entry(s.name.clone()).or_default().insert(key.clone(), TOKEN.into());
        }
    }
    for d in &l.ws.downloads {
        cluster.script_job(&msws::render::job_name(&d.name), completes(d, Duration::from_secs(300)));
    }
    let hash = msws::plan::workspace_hash([("w.kdl", std::fs::read_to_string(path).unwrap().as_str())], &[], &ns);
    World { l, cluster, dir, file, secrets, hash }
}

/// A download Job that runs `duration` and prints the downloader's completion marker.
pub(crate) fn completes(d: &msws::model::Download, duration: Duration) -> JobScript {
    let marker = json!({"source": d.source_uri(), "repo": d.repo, "revision": d.revision, "commit": COMMIT,
        "files": 8, "bytes": 250_000_000u64, "completed_at": "2026-11-26T18:05:00Z"});
    JobScript {
        duration,
        outcome: JobOutcome::Succeed,
        log: format!("fetching {}\nMSWS-DOWNLOAD-COMPLETE {marker}\n", d.repo),
        failures_before_success: 0,
    }
}

impl World {
    pub(crate) fn namespace(&self) -> String {
        self.l.ws.namespace.clone().unwrap_or_else(|| "default".into())
    }

    pub(crate) fn request(&self, command: Command, opts: Options) -> Request<'_> {
        Request {
            command,
            ws: &self.l.ws,
            graph: &self.l.graph,
            file: &self.file,
            namespace: self.namespace(),
            secret_values: self.secrets.clone(),
            workspace_hash: self.hash.clone(),
            git_commit: Some("0000000000000000000000000000000000000001".into()),
            saved: None,
            replace_storage: false,
            delete_storage: false,
            opts,
            holder: Holder::new("test@host/1/abcd"),
        }
    }

    fn dyn_cluster(&self) -> Arc<dyn Cluster> {
        self.cluster.clone()
    }

    async fn run(&self, req: Request<'_>, stop: Stop) -> (Result<(Plan, Report), RunError>, Vec<Event>) {
        let rec = Arc::new(Recording::new());
        let mut yes = |_: &Plan| true;
        let r = session::run(self.dyn_cluster(), req, rec.clone(), &mut yes, stop).await;
        (r, rec.events())
    }

    async fn apply(&self) -> (Result<(Plan, Report), RunError>, Vec<Event>) {
        self.run(self.request(Command::Apply, fast()), Stop::default()).await
    }

    async fn applied(&self) -> Report {
        let (r, events) = self.apply().await;
        let (_, report) = r.unwrap_or_else(|e| panic!("apply failed: {e}\n{events:#?}"));
        assert_eq!(report.outcome, Outcome::Applied, "{report:#?}\n{events:#?}");
        report
    }

    /// `msws recover` of the interrupted run, with the plain flags.
    async fn recover(&self, how: Recovery) -> (Result<(Plan, Report), RunError>, Vec<Event>) {
        let rec = Arc::new(Recording::new());
        let r = session::recover(
            self.dyn_cluster(),
            self.request(Command::Apply, fast()),
            how,
            rec.clone(),
            Stop::default(),
        )
        .await;
        (r, rec.events())
    }

    /// The connection goes away `after` from now, and stays away until `reconnect`.
    fn disconnect_after(&self, after: Duration) {
        let c = self.cluster.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            c.disconnect();
        });
    }

    fn journal(&self) -> PathBuf {
        msws::apply::journal::path_for(&self.file, &self.l.ws.name)
    }

    fn inventory(&self) -> Option<Inventory> {
        let r = ObjectRef::new("v1", "ConfigMap", Some(&self.namespace()), &format!("msws-{}", self.l.ws.name));
        self.cluster.peek(&r).map(|cm| Inventory::from_config_map(&cm))
    }

    /// Lets the controllers finish what a run started (garbage collection of pods).
    async fn settle(&self) {
        tokio::time::sleep(Duration::from_secs(120)).await;
        self.cluster.advance(Duration::ZERO);
    }
}

fn base64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

pub(crate) fn fast() -> Options {
    Options { poll: Duration::from_secs(2), ..Options::default() }
}

/// What a failed run may leave behind on purpose: claims (and the volumes they bound), and
/// everything controllers derive (pods, replica sets, events).
fn comparable(s: &Snapshot) -> Snapshot {
    s.without_kinds(&["PersistentVolumeClaim", "PersistentVolume", "Pod", "ReplicaSet", "Event", "Lease"])
}

fn mutating(c: &FakeCluster) -> usize {
    c.requests()
        .iter()
        .filter(|((v, _), _)| matches!(v, Verb::Apply | Verb::Create | Verb::Replace | Verb::Delete))
        .map(|(_, n)| n)
        .sum()
}

// ---- the happy paths ----

#[tokio::test(start_paused = true)]
async fn the_rwo_runbook_runs_end_to_end_in_one_apply() {
    let w = world("opt-125m-rwo.kdl");
    let report = w.applied().await;
    let ns = w.namespace();
    let claim = w.cluster.peek(&ObjectRef::new("v1", "PersistentVolumeClaim", Some(&ns), "model-pvc")).unwrap();
    assert_eq!(claim["status"]["phase"], "Bound");
    // The downloader was released: its Job and pod are gone before the servers started.
    assert!(w.cluster.peek(&ObjectRef::new("batch/v1", "Job", Some(&ns), "opt-125m-download")).is_none());
    let d = w.cluster.peek(&ObjectRef::new("apps/v1", "Deployment", Some(&ns), "opt-decode")).unwrap();
    assert_eq!(d["status"]["availableReplicas"], 1, "{d:#}");
    let inv = w.inventory().unwrap();
    assert_eq!(inv.downloads["opt-125m"].commit.as_deref(), Some(COMMIT));
    assert_eq!(inv.downloads["opt-125m"].files, Some(8));
    assert_eq!(inv.workspace_hash.as_deref(), Some(w.hash.as_str()));
    assert!(inv.git_commit.is_some());
    assert_eq!(report.downloads["opt-125m"].commit.as_deref(), Some(COMMIT));
    assert!(!w.journal().exists(), "a successful run leaves no journal");
    // The lock is released.
    assert!(w.cluster.peek(&msws::apply::lock::lease_ref(&ns, &w.l.ws.name)).is_none());
    // Order: the release finished before the model service started.
    let order: Vec<String> = w
        .cluster
        .request_log()
        .iter()
        .filter(|r| matches!(r.verb, Verb::Apply | Verb::Delete) && r.kind != "Lease" && r.kind != "ConfigMap")
        .map(|r| format!("{} {}", r.verb, r.kind))
        .collect();
    let pos = |s: &str| order.iter().position(|o| o == s).unwrap_or_else(|| panic!("{s} not in {order:?}"));
    assert!(pos("apply PersistentVolumeClaim") < pos("apply Job"));
    assert!(pos("apply Job") < pos("delete Job"));
    assert!(pos("delete Job") < pos("apply Deployment"), "{order:?}");
}

#[tokio::test(start_paused = true)]
async fn every_example_applies_and_a_second_apply_changes_nothing() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("workspaces"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "kdl"))
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    for f in files {
        let w = world_from(&f);
        // The custom resources llm-d's recipes use (LeaderWorkerSet, DisaggregatedSet, PodMonitor).
        w.cluster.install_llm_d_crds();
        w.applied().await;
        w.settle().await;
        w.cluster.reset_requests();
        let (r, events) = w.apply().await;
        let (plan, report) = r.unwrap();
        assert_eq!(report.outcome, Outcome::NoChanges, "{}: {:#?}\n{events:#?}", f.display(), plan.steps);
        assert_eq!(mutating(&w.cluster), 0, "{}: {:?}", f.display(), w.cluster.requests());
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_revision_downloads_once_and_rolls_the_servers_out() {
    let w = world("opt-125m-rwx.kdl");
    w.applied().await;
    w.settle().await;
    let text = std::fs::read_to_string(root().join("workspaces/opt-125m-rwx.kdl")).unwrap();
    let old = w.l.ws.downloads[0].revision.clone();
    let edited = text.replace(&format!("revision=\"{old}\""), "revision=\"v2\"");
    assert_ne!(text, edited, "the example names its revision");
    std::fs::write(&w.file, &edited).unwrap();
    let mut w2 = world_from(&w.file);
    w2.cluster = w.cluster.clone();
    w2.cluster.script_job("opt-125m-download", completes(&w2.l.ws.downloads[0], Duration::from_secs(60)));
    w2.cluster.reset_requests();
    let (r, events) = w2.apply().await;
    let (_, report) = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.outcome, Outcome::Applied, "{events:#?}");
    let changed: Vec<&str> = report.changed.iter().map(String::as_str).collect();
    assert!(changed.iter().filter(|c| c.contains("Job")).count() >= 1, "{changed:?}");
    assert!(changed.iter().any(|c| c.starts_with("update Deployment")), "{changed:?}");
    assert!(!changed.iter().any(|c| c.contains("PersistentVolumeClaim") || c.contains("Secret")), "{changed:?}");
    assert_eq!(w2.cluster.count(Verb::Create, "Job") + w2.cluster.count(Verb::Apply, "Job"), 1);
    assert_eq!(w2.inventory().unwrap().downloads["opt-125m"].revision, "v2");
}

#[tokio::test(start_paused = true)]
async fn independent_downloads_run_at_once() {
    let w = world("shared-claim.kdl");
    assert!(w.l.ws.downloads.len() >= 2, "the example has several downloads");
    for d in &w.l.ws.downloads {
        w.cluster.script_job(&msws::render::job_name(&d.name), completes(d, Duration::from_secs(600)));
    }
    let t = tokio::time::Instant::now();
    w.applied().await;
    let took = t.elapsed();
    let n = w.l.ws.downloads.len() as u64;
    assert!(took < Duration::from_secs(600 * n), "{n} downloads of 10 min took {took:?}: not concurrent");
}

// ---- refusals ----

#[tokio::test(start_paused = true)]
async fn a_second_concurrent_apply_is_refused_by_the_lock() {
    let w = world("opt-125m-rwo.kdl");
    let ns = w.namespace();
    let held =
        msws::apply::lock::acquire(w.dyn_cluster(), &ns, &w.l.ws.name, &Holder::new("alice@laptop/7/beef"), "apply")
            .await
            .unwrap();
    let before = w.cluster.snapshot();
    let (r, _) = w.apply().await;
    let e = r.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, RunError::Lock(_)), "{text}");
    assert!(text.contains("alice@laptop/7/beef"), "{text}");
    assert_eq!(comparable(&before).diff(&comparable(&w.cluster.snapshot())), Vec::<String>::new());
    held.release().await.unwrap();
    w.applied().await;
}

#[tokio::test(start_paused = true)]
async fn a_stale_plan_is_refused() {
    let w = world("opt-125m-rwx.kdl");
    w.applied().await;
    w.settle().await;
    let saved = session::fresh_plan(w.cluster.as_ref(), &w.request(Command::Apply, fast())).await.unwrap();
    // Someone scales a Deployment after the plan was made.
    let ns = w.namespace();
    w.cluster.scale(&ObjectRef::new("apps/v1", "Deployment", Some(&ns), "opt-decode"), 3).unwrap();
    let mut req = w.request(Command::Apply, fast());
    req.saved = Some(saved.clone());
    let (r, _) = w.run(req, Stop::default()).await;
    let text = r.unwrap_err().to_string();
    assert!(text.contains("stale") && text.contains("opt-decode"), "{text}");
    // A plan made from another file is refused too.
    let mut req = w.request(Command::Apply, fast());
    req.workspace_hash = "other".into();
    req.saved = Some(saved);
    let (r, _) = w.run(req, Stop::default()).await;
    assert!(r.unwrap_err().to_string().contains("workspace"));
}

#[tokio::test(start_paused = true)]
async fn a_missing_secret_value_is_refused_before_anything_changes() {
    let mut w = world("opt-125m-rwo.kdl");
    w.secrets.clear();
    let before = w.cluster.snapshot();
    let (r, _) = w.apply().await;
    let text = r.unwrap_err().to_string();
    assert!(text.contains("HF_TOKEN"), "{text}");
    assert_eq!(comparable(&before).diff(&comparable(&w.cluster.snapshot())), Vec::<String>::new());
}

// ---- failures roll back ----

/// Runs a failing apply of the RWO example and checks the cluster went back to `before`, except
/// the claim (and, when the download completed, its record).
async fn fails_and_rolls_back(w: &World, expect_in_error: &str, download_kept: bool, claim_created: bool) -> Report {
    let before = w.cluster.snapshot();
    let (r, events) = w.apply().await;
    let (_, report) = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.outcome, Outcome::RolledBack, "{report:#?}\n{events:#?}");
    let error = report.error.clone().unwrap_or_default();
    assert!(error.contains(expect_in_error), "{error}");
    w.settle().await;
    let mut after = comparable(&w.cluster.snapshot());
    let inv = w.inventory();
    if download_kept {
        let inv = inv.expect("the inventory keeps the completed download");
        assert_eq!(inv.downloads["opt-125m"].commit.as_deref(), Some(COMMIT));
        after = after.without_kinds(&["ConfigMap"]);
        let before = comparable(&before).without_kinds(&["ConfigMap"]);
        assert_eq!(before.diff(&after), Vec::<String>::new(), "{events:#?}");
    } else {
        assert!(inv.is_none(), "nothing to keep: the inventory is gone");
        assert_eq!(comparable(&before).diff(&after), Vec::<String>::new(), "{events:#?}");
    }
    let ns = w.namespace();
    let claim = ObjectRef::new("v1", "PersistentVolumeClaim", Some(&ns), "model-pvc");
    assert_eq!(w.cluster.peek(&claim).is_some(), claim_created, "a claim this run created is kept");
    assert_eq!(
        events.iter().any(|e| matches!(e, Event::Kept { object, .. } if object.contains("model-pvc"))),
        claim_created
    );
    assert!(!w.journal().exists(), "a complete rollback leaves no journal");
    report
}

#[tokio::test(start_paused = true)]
async fn a_failed_download_rolls_back_with_the_log_tail() {
    let w = world("opt-125m-rwo.kdl");
    w.cluster.script_job(
        "opt-125m-download",
        JobScript {
            duration: Duration::from_secs(30),
            outcome: JobOutcome::Fail { exit_code: 1 },
            log: "fetching\nMSWS-DOWNLOAD-FAILED 401 Unauthorized: the token was refused\n".into(),
            failures_before_success: 0,
        },
    );
    let report = fails_and_rolls_back(&w, "the token was refused", false, true).await;
    assert!(report.rolled_back.iter().any(|r| r.contains("Job")), "{report:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_rollout_that_times_out_rolls_back_and_keeps_the_download() {
    let w = world("opt-125m-rwo.kdl");
    w.cluster.script_deployment("opt-decode", PodFate::CrashLoop { exit_code: 1, log: "CUDA error".into() });
    let mut opts = fast();
    opts.timeout = Some(Duration::from_secs(15 * 60));
    let before = w.cluster.snapshot();
    let (r, events) = w.run(w.request(Command::Apply, opts), Stop::default()).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack, "{events:#?}");
    let error = report.error.unwrap();
    assert!(error.contains("timed out") && error.contains("CrashLoopBackOff"), "{error}");
    w.settle().await;
    let inv = w.inventory().unwrap();
    assert_eq!(inv.downloads["opt-125m"].commit.as_deref(), Some(COMMIT));
    let (b, a) = (
        comparable(&before).without_kinds(&["ConfigMap"]),
        comparable(&w.cluster.snapshot()).without_kinds(&["ConfigMap"]),
    );
    assert_eq!(b.diff(&a), Vec::<String>::new());
    // The released Job is not brought back.
    assert!(w.cluster.peek(&ObjectRef::new("batch/v1", "Job", Some(&w.namespace()), "opt-125m-download")).is_none());
}

#[tokio::test(start_paused = true)]
async fn an_api_error_at_any_mutation_rolls_back() {
    // ConfigMap #1 is the inventory (written first), #2 the downloader's script. `claim`: the
    // claim is there afterwards — only once it bound (the Secret fails while the claim, created
    // at the same time, is still pending: a claim that never bound held nothing, and goes).
    for (kind, nth, claim) in [
        ("ConfigMap", 1, false),
        ("PersistentVolumeClaim", 1, false),
        ("Secret", 1, false),
        ("ConfigMap", 2, true),
        ("Job", 1, true),
        ("Deployment", 1, true),
    ] {
        for error in [
            ClusterError::Server { code: 500, message: "etcdserver: request timed out".into() },
            ClusterError::Conflict { message: "the object has been modified".into(), causes: vec![] },
        ] {
            let w = world("opt-125m-rwo.kdl");
            w.cluster.fail_nth(Verb::Apply, kind, nth, error.clone());
            let download_done = kind == "Deployment";
            let report = fails_and_rolls_back(&w, &error.to_string(), download_done, claim).await;
            assert!(report.not_undone.is_empty(), "{kind} #{nth}: {report:#?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn cancelling_mid_download_rolls_back() {
    let w = world("opt-125m-rwo.kdl");
    let stop = Stop::default();
    let cancel = stop.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(120)).await;
        cancel.cancel();
    });
    let before = w.cluster.snapshot();
    let (r, events) = w.run(w.request(Command::Apply, fast()), stop).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack, "{events:#?}");
    assert!(events.iter().any(|e| matches!(e, Event::StepCancelled { .. })), "{events:#?}");
    w.settle().await;
    assert_eq!(comparable(&before).diff(&comparable(&w.cluster.snapshot())), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_lost_connection_stops_cleanly_and_the_next_run_recovers() {
    let w = world("opt-125m-rwo.kdl");
    let before = w.cluster.snapshot();
    // The connection goes away mid-download, and stays away through the rollback.
    w.disconnect_after(Duration::from_secs(60));
    let (r, events) = w.apply().await;
    let (_, report) = r.unwrap();
    // Stopped: the lock's renewals found nobody answering until the lease was about to expire,
    // and the run stopped without a rollback — saying so, not that someone took the lock.
    assert_eq!(report.outcome, Outcome::Stopped, "{events:#?}");
    let error = report.error.clone().unwrap_or_default();
    assert!(error.contains("the cluster stopped answering at") && error.contains("fake"), "{error}");
    assert!(!error.contains("lock was lost"), "{error}");
    assert!(w.journal().exists(), "the journal stays for the next run");
    let journal_text = std::fs::read_to_string(w.journal()).unwrap();
    assert!(!journal_text.contains(TOKEN), "the journal never holds a secret value");

    w.cluster.reconnect();
    // The lock of the dead run expires; a new apply finds the journal and refuses.
    tokio::time::sleep(Duration::from_secs(90)).await;
    let (r, _) = w.apply().await;
    let text = r.unwrap_err().to_string();
    assert!(text.contains("interrupted") && text.contains("msws recover"), "{text}");

    let (r, events) = w.recover(Recovery::Rollback).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::Recovered, "{:#?}", events);
    assert!(!w.journal().exists());
    w.settle().await;
    assert_eq!(comparable(&before).diff(&comparable(&w.cluster.snapshot())), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_apply_can_be_resumed() {
    let w = world("opt-125m-rwo.kdl");
    w.disconnect_after(Duration::from_secs(60));
    let (r, _) = w.apply().await;
    assert_eq!(r.unwrap().1.outcome, Outcome::Stopped);
    w.cluster.reconnect();
    tokio::time::sleep(Duration::from_secs(90)).await;
    let (r, events) = w.recover(Recovery::Resume).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::Applied, "{:#?}", events);
    assert!(!w.journal().exists());
    w.settle().await;
    let (r, _) = w.apply().await;
    assert_eq!(r.unwrap().1.outcome, Outcome::NoChanges);
}

#[tokio::test(start_paused = true)]
async fn no_rollback_leaves_the_failure_in_place_with_a_journal() {
    let w = world("opt-125m-rwo.kdl");
    w.cluster.fail_nth(Verb::Apply, "Deployment", 1, ClusterError::Server { code: 500, message: "boom".into() });
    let mut opts = fast();
    opts.rollback = false;
    let (r, _) = w.run(w.request(Command::Apply, opts), Stop::default()).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::Stopped);
    assert!(w.journal().exists());
    assert!(w.cluster.peek(&ObjectRef::new("v1", "Secret", Some(&w.namespace()), "hf-token")).is_some());
}

// ---- prune and destroy ----

#[tokio::test(start_paused = true)]
async fn destroy_keeps_the_claim_and_the_download_record() {
    let w = world("opt-125m-rwo.kdl");
    w.applied().await;
    w.settle().await;
    let (r, events) = w.run(w.request(Command::Destroy, fast()), Stop::default()).await;
    let (_, report) = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.outcome, Outcome::Applied, "{events:#?}");
    w.settle().await;
    let ns = w.namespace();
    assert!(w.cluster.peek(&ObjectRef::new("v1", "PersistentVolumeClaim", Some(&ns), "model-pvc")).is_some());
    assert!(w.cluster.peek(&ObjectRef::new("apps/v1", "Deployment", Some(&ns), "opt-decode")).is_none());
    assert!(w.cluster.peek(&ObjectRef::new("v1", "Secret", Some(&ns), "hf-token")).is_none());
    assert_eq!(w.inventory().unwrap().downloads["opt-125m"].commit.as_deref(), Some(COMMIT));
    // Applying again does not download again.
    let (r, _) = w.apply().await;
    let (plan, _) = r.unwrap();
    assert!(
        plan.steps.iter().filter_map(|s| s.download.as_ref()).all(|d| d.action == msws::plan::DownloadAction::Skip)
    );

    // With --delete-storage, the claim goes too.
    w.settle().await;
    let mut req = w.request(Command::Destroy, Options { delete_storage: true, ..fast() });
    req.delete_storage = true;
    let (r, _) = w.run(req, Stop::default()).await;
    assert_eq!(r.unwrap().1.outcome, Outcome::Applied);
    w.settle().await;
    assert!(w.cluster.peek(&ObjectRef::new("v1", "PersistentVolumeClaim", Some(&ns), "model-pvc")).is_none());
    assert!(w.inventory().is_none());
}

#[tokio::test(start_paused = true)]
async fn pruning_keeps_claims_unless_asked() {
    let w = world("opt-125m-rwx.kdl");
    w.applied().await;
    w.settle().await;
    // The workspace loses its model service, download and storage.
    let text = format!("workspace \"{}\" format=1 {{\n    namespace \"llm-d\"\n}}\n", w.l.ws.name);
    std::fs::write(&w.file, text).unwrap();
    let mut w2 = world_from(&w.file);
    w2.cluster = w.cluster.clone();
    let (r, events) = w2.apply().await;
    let (_, report) = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.outcome, Outcome::Applied, "{events:#?}");
    let ns = w.namespace();
    assert!(w.cluster.peek(&ObjectRef::new("apps/v1", "Deployment", Some(&ns), "opt-decode")).is_none());
    let claims = w.l.ws.storages.iter().filter(|s| !s.existing).map(|s| s.name.clone()).collect::<Vec<_>>();
    assert!(!claims.is_empty());
    for c in claims {
        assert!(w.cluster.peek(&ObjectRef::new("v1", "PersistentVolumeClaim", Some(&ns), &c)).is_some(), "{c} kept");
    }
}

// ---- secrets ----

#[tokio::test(start_paused = true)]
async fn the_secret_value_appears_in_no_event_report_or_journal() {
    let w = world("opt-125m-rwo.kdl");
    w.cluster.fail_nth(Verb::Apply, "Deployment", 1, ClusterError::Server { code: 500, message: "boom".into() });
    let mut opts = fast();
    opts.rollback = false;
    let (r, events) = w.run(w.request(Command::Apply, opts), Stop::default()).await;
    let (plan, report) = r.unwrap();
    let everything = format!(
        "{events:?}{report:?}{}{}{}",
        serde_json::to_string(&plan).unwrap(),
        std::fs::read_to_string(w.journal()).unwrap(),
        {
            let mut json = Vec::new();
            let j = msws::apply::progress::Json::new(&mut json);
            for e in &events {
                msws::apply::progress::Reporter::event(&j, e);
            }
            drop(j);
            String::from_utf8(json).unwrap()
        }
    );
    assert!(!everything.contains(TOKEN));
    // The Secret did get its value.
    let s = w.cluster.peek(&ObjectRef::new("v1", "Secret", Some(&w.namespace()), "hf-token")).unwrap();
    assert!(
        s.to_string().contains(&{
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(TOKEN)
        }) || s.to_string().contains(TOKEN)
    );
    let _ = &w.dir;
}

// ---- the whole matrix: every fault at every step of the RWO runbook ----

/// A reporter that cancels the run when a given step starts, and records everything.
struct CancelAt {
    step: String,
    stop: Stop,
    rec: Recording,
}

impl msws::apply::progress::Reporter for CancelAt {
    fn event(&self, e: &Event) {
        if let Event::StepStarted { step, .. } = e
            && *step == self.step
        {
            self.stop.cancel.cancel();
        }
        self.rec.event(e);
    }
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    Api500,
    Conflict409,
    Timeout,
    ConnectionLost,
    Cancelled,
}

const STEPS: [&str; 5] =
    ["storage/model-pvc", "secret/hf-token", "download/opt-125m", "release/opt-125m", "model-service/opt"];

/// The first mutating request of each step in a clean run: (verb, kind), and its index in the
/// request log.
async fn first_mutations() -> BTreeMap<&'static str, (Verb, String, usize)> {
    let w = world("opt-125m-rwo.kdl");
    w.applied().await;
    let log = w.cluster.request_log();
    let find = |verb: Verb, kind: &str| {
        log.iter()
            .position(|r| r.verb == verb && r.kind == kind && r.name.as_deref() != Some("msws-opt-125m-rwo"))
            .unwrap()
    };
    BTreeMap::from([
        (
            "storage/model-pvc",
            (Verb::Apply, "PersistentVolumeClaim".to_string(), find(Verb::Apply, "PersistentVolumeClaim")),
        ),
        ("secret/hf-token", (Verb::Apply, "Secret".to_string(), find(Verb::Apply, "Secret"))),
        ("download/opt-125m", (Verb::Apply, "Job".to_string(), find(Verb::Apply, "Job"))),
        ("release/opt-125m", (Verb::Delete, "Job".to_string(), find(Verb::Delete, "Job"))),
        ("model-service/opt", (Verb::Apply, "Deployment".to_string(), find(Verb::Apply, "Deployment"))),
    ])
}

#[tokio::test(start_paused = true)]
async fn every_fault_at_every_step_of_the_rwo_runbook_leaves_the_cluster_as_it_was() {
    let firsts = first_mutations().await;
    let mut checked = 0;
    for (k, step) in STEPS.iter().enumerate() {
        for fault in [Fault::Api500, Fault::Conflict409, Fault::Timeout, Fault::ConnectionLost, Fault::Cancelled] {
            let w = world("opt-125m-rwo.kdl");
            let (verb, kind, index) = firsts[step].clone();
            let mut opts = fast();
            let stop = Stop::default();
            match fault {
                Fault::Api500 => w.cluster.fail_nth(
                    verb,
                    &kind,
                    1,
                    ClusterError::Server { code: 500, message: "etcd timed out".into() },
                ),
                Fault::Conflict409 => w.cluster.fail_nth(
                    verb,
                    &kind,
                    1,
                    ClusterError::Conflict { message: "modified".into(), causes: vec![] },
                ),
                Fault::Timeout => {
                    opts.timeout = Some(Duration::from_secs(10 * 60));
                    match *step {
                        "storage/model-pvc" => w.cluster.set_bind_delay(Duration::from_secs(3600)),
                        "download/opt-125m" => w.cluster.script_job(
                            "opt-125m-download",
                            completes(&w.l.ws.downloads[0], Duration::from_secs(3600)),
                        ),
                        "model-service/opt" => w.cluster.script_deployment("opt-decode", PodFate::ImagePullBackOff),
                        // A Secret has no wait, and the fake deletes a Job's pods at once.
                        _ => continue,
                    }
                }
                Fault::ConnectionLost => w.cluster.fail_all_after(index),
                Fault::Cancelled => {}
            }
            let before = w.cluster.snapshot();
            let reporter = Arc::new(CancelAt {
                step: if matches!(fault, Fault::Cancelled) { step.to_string() } else { String::new() },
                stop: stop.clone(),
                rec: Recording::new(),
            });
            let mut yes = |_: &Plan| true;
            let (_, report) =
                session::run(w.dyn_cluster(), w.request(Command::Apply, opts), reporter.clone(), &mut yes, stop)
                    .await
                    .unwrap_or_else(|e| panic!("{step} {fault:?}: {e}"));
            let events = reporter.rec.events();
            let case = format!("{step} {fault:?}");
            if matches!(fault, Fault::ConnectionLost) {
                assert_eq!(report.outcome, Outcome::Stopped, "{case}: {events:#?}");
                assert!(w.journal().exists(), "{case}");
                w.cluster.reconnect();
                tokio::time::sleep(Duration::from_secs(90)).await;
                let (r, events) = w.recover(Recovery::Rollback).await;
                let (_, r) = r.unwrap_or_else(|e| panic!("{case}: recover: {e}"));
                assert_eq!(r.outcome, Outcome::Recovered, "{case}: {:#?}", events);
            } else {
                assert_eq!(report.outcome, Outcome::RolledBack, "{case}: {events:#?}");
            }
            assert!(!w.journal().exists(), "{case}: the journal is gone once everything is undone");
            w.settle().await;
            let after = w.cluster.snapshot();
            // Downloads completed before the failure keep their record; nothing else remains.
            let download_done = k >= 3;
            let inv = w.inventory();
            assert_eq!(inv.is_some(), download_done, "{case}: inventory {inv:?}");
            if let Some(inv) = inv {
                assert_eq!(inv.downloads["opt-125m"].commit.as_deref(), Some(COMMIT), "{case}");
            }
            let (b, a) =
                (comparable(&before).without_kinds(&["ConfigMap"]), comparable(&after).without_kinds(&["ConfigMap"]));
            assert_eq!(b.diff(&a), Vec::<String>::new(), "{case}");
            let cms = |s: &Snapshot| {
                s.without_kinds(&[])
                    .objects
                    .keys()
                    .filter(|r| r.kind == "ConfigMap" && !r.name.starts_with("msws-"))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(cms(&before), cms(&after), "{case}: the downloader's ConfigMap is rolled back");
            // A claim that bound may hold data and is kept (the download step starts only once it
            // is bound); one that never bound held nothing and is gone (the Secret's step runs
            // beside the claim's, so it may fail before the claim bound).
            let claim =
                w.cluster.peek(&ObjectRef::new("v1", "PersistentVolumeClaim", Some(&w.namespace()), "model-pvc"));
            if k >= 2 {
                assert!(claim.is_some(), "{case}: the claim is kept");
            }
            if let Some(c) = &claim {
                assert_eq!(
                    c.pointer("/status/phase"),
                    Some(&json!("Bound")),
                    "{case}: an unbound claim is left behind"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 5 * 5 - 2);
}

#[tokio::test(start_paused = true)]
async fn a_missing_namespace_is_named_and_nothing_is_written() {
    let w = world("opt-125m-rwo.kdl");
    let mut req = w.request(Command::Apply, fast());
    req.namespace = "nowhere".into();
    let (r, _) = w.run(req, Stop::default()).await;
    let e = r.unwrap_err();
    assert!(matches!(e, RunError::NoNamespace(_)), "{e}");
    assert!(e.to_string().contains("namespace nowhere does not exist"), "{e}");
    assert!(!w.journal().exists());
}

#[tokio::test(start_paused = true)]
async fn a_resumed_destroy_keeps_its_storage_flag() {
    let w = world("opt-125m-rwo.kdl");
    w.applied().await;
    w.settle().await;
    w.cluster.fail_nth(
        Verb::Delete,
        "PersistentVolumeClaim",
        1,
        ClusterError::Server { code: 500, message: "boom".into() },
    );
    let mut req = w.request(Command::Destroy, Options { delete_storage: true, rollback: false, ..fast() });
    req.delete_storage = true;
    let (r, events) = w.run(req, Stop::default()).await;
    assert_eq!(r.unwrap().1.outcome, Outcome::Stopped, "{events:#?}");
    assert!(w.journal().exists());
    let ns = w.namespace();
    let claim = ObjectRef::new("v1", "PersistentVolumeClaim", Some(&ns), "model-pvc");
    assert!(w.cluster.peek(&claim).is_some());
    // Resumed without the flag on the command line: the journal remembers it.
    let (r, events) = w.recover(Recovery::Resume).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::Applied, "{:#?}", events);
    assert!(
        events.iter().any(|e| matches!(e, Event::Finished { outcome, .. } if outcome == "destroyed")),
        "{:#?}",
        events
    );
    w.settle().await;
    assert!(w.cluster.peek(&claim).is_none());
    assert!(!w.journal().exists());
}

// ---- failure paths of the machinery itself ----

/// A reporter that presses Ctrl-C a second time as soon as the rollback starts.
struct AbortRollback {
    stop: Stop,
    rec: Recording,
}

impl msws::apply::progress::Reporter for AbortRollback {
    fn event(&self, e: &Event) {
        if let Event::RollbackStarted { .. } = e {
            self.stop.abort.cancel();
        }
        self.rec.event(e);
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_ctrl_c_stops_the_rollback_and_keeps_the_journal() {
    let w = world("opt-125m-rwo.kdl");
    w.cluster.fail_nth(Verb::Apply, "Deployment", 1, ClusterError::Server { code: 500, message: "boom".into() });
    let stop = Stop::default();
    let reporter = Arc::new(AbortRollback { stop: stop.clone(), rec: Recording::new() });
    let mut yes = |_: &Plan| true;
    let (_, report) =
        session::run(w.dyn_cluster(), w.request(Command::Apply, fast()), reporter.clone(), &mut yes, stop)
            .await
            .unwrap();
    assert_eq!(report.outcome, Outcome::Stopped, "{:#?}", reporter.rec.events());
    assert!(report.rolled_back.is_empty(), "{report:#?}");
    assert!(report.not_undone.iter().all(|n| n.contains("rollback interrupted")) && !report.not_undone.is_empty());
    assert!(w.journal().exists(), "the journal stays for `msws recover`");
    let (r, events) = w.recover(Recovery::Rollback).await;
    assert_eq!(r.unwrap().1.outcome, Outcome::Recovered, "{events:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_run_that_loses_its_lock_stops_without_rolling_back() {
    let w = world("opt-125m-rwo.kdl");
    let ns = w.namespace();
    // Mid-download, someone removes the lock and another run takes it.
    let c = w.dyn_cluster();
    let (ns2, name) = (ns.clone(), w.l.ws.name.clone());
    let thief = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        msws::apply::lock::force_unlock(c.as_ref(), &ns2, &name).await.unwrap();
        msws::apply::lock::acquire(c, &ns2, &name, &Holder::new("bob@ci/9/feed"), "apply").await.unwrap()
    });
    let (r, events) = w.apply().await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::Stopped, "{events:#?}");
    assert!(report.error.as_deref().unwrap_or("").contains("the lock was lost"), "{report:#?}");
    assert!(report.rolled_back.is_empty() && report.kept.is_empty(), "no rollback without the lock: {report:#?}");
    assert!(events.iter().any(|e| matches!(e, Event::Warning { message } if message.contains("without a rollback"))));
    assert!(w.journal().exists());
    // The Secret this run created is still there: nothing was undone behind the new holder's back.
    assert!(w.cluster.peek(&ObjectRef::new("v1", "Secret", Some(&ns), "hf-token")).is_some());
    let bobs = thief.await.unwrap();
    assert_eq!(bobs.holder(), "bob@ci/9/feed");
    bobs.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_passing_connection_error_is_retried_and_the_apply_goes_on() {
    let w = world("opt-125m-rwo.kdl");
    w.cluster.fail_nth(Verb::Apply, "Secret", 1, ClusterError::Connection("connection reset by peer".into()));
    w.cluster.fail_nth(Verb::Apply, "Job", 1, ClusterError::Timeout("the server did not answer".into()));
    let report = w.applied().await;
    assert!(report.changed.iter().any(|c| c.contains("Secret")), "{report:#?}");
    assert_eq!(w.cluster.count(Verb::Apply, "Secret"), 2, "one failed try, one retry");
    assert_eq!(w.cluster.count(Verb::Apply, "Job"), 2, "one failed try, one retry");
}

#[tokio::test(start_paused = true)]
async fn a_cluster_error_while_planning_changes_nothing() {
    let w = world("opt-125m-rwo.kdl");
    w.cluster.fail_nth(Verb::Get, "Job", 1, ClusterError::Timeout("the server did not answer".into()));
    let before = w.cluster.snapshot();
    let (r, _) = w.apply().await;
    let e = r.unwrap_err();
    assert!(matches!(e, RunError::Cluster(ClusterError::Timeout(_))), "{e}");
    assert_eq!(before.diff(&w.cluster.snapshot()), Vec::<String>::new());
    assert!(!w.journal().exists());
}

#[tokio::test(start_paused = true)]
async fn a_download_log_without_the_marker_is_recorded_from_the_workspace() {
    let w = world("opt-125m-rwo.kdl");
    w.cluster.script_job("opt-125m-download", JobScript::default());
    let (r, events) = w.apply().await;
    assert_eq!(r.unwrap().1.outcome, Outcome::Applied, "{events:#?}");
    let rec = &w.inventory().unwrap().downloads["opt-125m"];
    assert_eq!((rec.revision.as_str(), rec.commit.as_deref(), rec.files), (COMMIT, None, None));
    assert!(
        events.iter().any(
            |e| matches!(e, Event::StepDone { summary, .. } if summary.contains("completion marker was not in the log"))
        ),
        "{events:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_claim_wait_reads_its_storage_class_once() {
    let w = world("opt-125m-rwx.kdl");
    w.cluster.set_bind_delay(Duration::from_secs(60));
    // Polling (no watch), so that the wait looks many times.
    let (r, events) = w.run(w.request(Command::Apply, Options { watch: false, ..fast() }), Stop::default()).await;
    assert_eq!(r.unwrap().1.outcome, Outcome::Applied, "{events:#?}");
    let polls =
        w.cluster.request_log().iter().filter(|q| q.verb == Verb::Get && q.kind == "PersistentVolumeClaim").count();
    assert!(polls >= 20, "the claim was polled {polls} times");
    // One read by each of the two plans (the first look and the one under the lock), one by the wait.
    assert_eq!(w.cluster.count(Verb::Get, "StorageClass"), 3);
}

#[tokio::test(start_paused = true)]
async fn after_a_crash_a_changed_secret_is_kept_with_its_new_value_and_said_so() {
    let w = world("opt-125m-rwo.kdl");
    w.applied().await;
    let ns = w.namespace();
    let secret = ObjectRef::new("v1", "Secret", Some(&ns), "hf-token");
    let prior = w.cluster.peek(&secret).unwrap();
    // A run that crashed right after updating the Secret: its journal is all that is left.
    let header = msws::apply::journal::Header {
        format: msws::apply::journal::JOURNAL_FORMAT,
        command: "apply".into(),
        workspace: w.l.ws.name.clone(),
        namespace: ns.clone(),
        cluster: "fake".into(),
        workspace_hash: w.hash.clone(),
        started_at: "2026-11-26T18:10:00Z".into(),
        holder: "crashed@host/1/dead".into(),
        msws_version: "0.1.0".into(),
        replace_storage: false,
        delete_storage: false,
    };
    let mut j = msws::apply::journal::Journal::create(&w.journal(), header).unwrap();
    let seq = j.intent("secret/hf-token", msws::apply::journal::Mutation::Update, &secret, Some(&prior)).unwrap();
    j.done(seq, None).unwrap();
    drop(j);
    let text = std::fs::read_to_string(w.journal()).unwrap();
    assert!(!text.contains(TOKEN) && !text.contains(&base64(TOKEN)), "the prior is kept without its data:\n{text}");
    let (r, events) = w.recover(Recovery::Rollback).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::Recovered, "{events:#?}");
    assert!(report.kept.iter().any(|k| k.contains("hf-token") && k.contains("not in the journal")), "{report:#?}");
    assert!(w.cluster.peek(&secret).is_some(), "the Secret is neither deleted nor emptied");
    assert!(!w.journal().exists());
}

#[tokio::test(start_paused = true)]
async fn destroy_leaves_an_object_of_the_same_name_that_someone_else_owns() {
    let w = world("opt-125m-rwo.kdl");
    let ns = w.namespace();
    // Someone's own Secret under the name the workspace would use; nothing of the workspace exists.
    w.cluster
        .insert(&json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hf-token", "namespace": ns}, "data": {"HF_TOKEN": "eA=="}}))
        .unwrap();
    let before = w.cluster.snapshot();
    let (r, events) =
        w.run(w.request(Command::Destroy, Options { delete_storage: true, ..fast() }), Stop::default()).await;
    let (_, report) = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.outcome, Outcome::NoChanges, "{events:#?}");
    assert!(
        events.iter().any(
            |e| matches!(e, Event::Kept { object, why } if object.contains("hf-token") && why.contains("not managed"))
        ),
        "{events:#?}"
    );
    assert_eq!(before.diff(&w.cluster.snapshot()), Vec::<String>::new());
    assert!(!w.journal().exists());
}

// ---- claims that cannot bind ----

/// Runs `then` when a step starts (the cluster changing under a run), recording every event.
struct OnStepStart {
    step: &'static str,
    then: Box<dyn Fn() + Send + Sync>,
    rec: Recording,
}

impl msws::apply::progress::Reporter for OnStepStart {
    fn event(&self, e: &Event) {
        if let Event::StepStarted { step, .. } = e
            && step == self.step
        {
            (self.then)();
        }
        self.rec.event(e);
    }
}

#[tokio::test(start_paused = true)]
async fn a_claim_that_cannot_bind_ends_its_wait_at_once_and_is_not_left_behind() {
    let w = world("opt-125m-rwo.kdl");
    w.cluster.set_bind_delay(Duration::from_secs(20));
    // The plan found a volume that fits; between the plan and the wait an administrator
    // shrinks it (the preflight cannot see the future): the controller says so in an event.
    let cluster = w.cluster.clone();
    let reporter = Arc::new(OnStepStart {
        step: "storage/model-pvc",
        then: Box::new(move || {
            let r = ObjectRef::new("v1", "PersistentVolume", None, "model-pv");
            let mut pv = cluster.peek(&r).unwrap();
            pv["spec"]["capacity"]["storage"] = json!("1Gi");
            cluster.update_as("admin", &pv).unwrap();
        }),
        rec: Recording::new(),
    });
    let mut yes = |_: &Plan| true;
    let mut opts = fast();
    opts.timeout = Some(Duration::from_secs(30 * 60));
    let (_, report) =
        session::run(w.dyn_cluster(), w.request(Command::Apply, opts), reporter.clone(), &mut yes, Stop::default())
            .await
            .unwrap();
    let events = reporter.rec.events();
    assert_eq!(report.outcome, Outcome::RolledBack, "{events:#?}");
    let error = report.error.clone().unwrap();
    assert!(
        error.contains("VolumeMismatch: Cannot bind to requested volume \"model-pv\": requested PV is too small"),
        "{error}"
    );
    // Within one poll of the controller's event (20 s after the claim was made), not after the
    // 30-minute timeout.
    let failed_after = events
        .iter()
        .find_map(|e| match e {
            Event::StepFailed { step, elapsed, .. } if step == "storage/model-pvc" => Some(*elapsed),
            _ => None,
        })
        .unwrap();
    assert!(failed_after <= Duration::from_secs(25), "{failed_after:?}");
    // The claim never bound, so it held nothing: the rollback deleted it, and says so.
    let claim = ObjectRef::new("v1", "PersistentVolumeClaim", Some(&w.namespace()), "model-pvc");
    w.settle().await;
    assert!(w.cluster.peek(&claim).is_none(), "no pending claim is left behind");
    assert!(report.rolled_back.iter().any(|r| r.contains("model-pvc") && r.contains("never bound")), "{report:#?}");
    assert!(!report.kept.iter().any(|k| k.contains("model-pvc")), "{report:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_named_volume_that_does_not_exist_is_refused_before_anything_changes() {
    // The runbook's example on a cluster without its pre-created volume.
    let w = world("opt-125m-rwo.kdl");
    let pv = ObjectRef::new("v1", "PersistentVolume", None, "model-pv");
    w.cluster.delete(&pv, msws::cluster::Propagation::Background, false).await.unwrap();
    w.settle().await;
    assert!(w.cluster.peek(&pv).is_none());
    w.cluster.reset_requests();
    let before = w.cluster.snapshot();
    let (r, _) = w.apply().await;
    let e = r.unwrap_err().to_string();
    assert!(e.contains("refusals") && e.contains("volume model-pv does not exist"), "{e}");
    assert_eq!(mutating(&w.cluster), 0, "{:?}", w.cluster.requests());
    assert_eq!(before.diff(&w.cluster.snapshot()), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_cluster_that_goes_away_briefly_and_comes_back_does_not_stop_the_run() {
    let w = world("opt-125m-rwo.kdl");
    // Away for 30 s in the middle of the 5-minute download: shorter than the lock's lease and
    // than the minute a wait tolerates.
    w.disconnect_after(Duration::from_secs(90));
    let c = w.cluster.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(120)).await;
        c.reconnect();
    });
    let report = w.applied().await;
    assert!(report.error.is_none(), "{report:#?}");
    assert!(!w.journal().exists());
}

// ---- custom resources and the workloads beyond Deployments ----

/// The example with every chart feature (a LeaderWorkerSet of 2 groups of 2, PodMonitors, the
/// dual-pod requester ReplicaSet, extra objects including an HTTPRoute) on a cluster with the
/// CRDs of an llm-d stack.
fn chart_world() -> World {
    let w = world_from(&root().join("tests/data/valid/chart-features.kdl"));
    w.cluster.install_llm_d_crds();
    w
}

fn lws_ref(name: &str) -> ObjectRef {
    ObjectRef::new("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", Some("llm-d"), name)
}

/// A snapshot without what controllers derive (pods, their events, the Deployments' replica
/// sets — but not a ReplicaSet msws applied) and the lock.
fn without_derived(s: &Snapshot) -> Snapshot {
    let mut s = s.without_kinds(&["Pod", "Event", "Lease"]);
    s.objects.retain(|r, o| !(r.kind == "ReplicaSet" && o.pointer("/metadata/ownerReferences").is_some()));
    s
}

#[tokio::test(start_paused = true)]
async fn custom_resources_apply_with_their_waits_and_a_second_apply_changes_nothing() {
    let w = chart_world();
    let (r, events) = w.apply().await;
    let (plan, report) = r.unwrap_or_else(|e| panic!("{e}\n{events:#?}"));
    assert!(plan.refusals.is_empty(), "{:?}", plan.refusals);
    assert_eq!(report.outcome, Outcome::Applied, "{report:#?}\n{events:#?}");
    let done: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::StepDone { step, summary, .. } => Some(format!("{step}: {summary}")),
            _ => None,
        })
        .collect();
    let wide = done.iter().find(|d| d.starts_with("model-service/wide")).unwrap();
    assert!(
        wide.contains("wide-decode: 2/2 groups of 2 ready") && wide.contains("wide-prefill: 1/1 available"),
        "{wide}"
    );
    let fast = done.iter().find(|d| d.starts_with("model-service/fast")).unwrap();
    assert!(fast.contains("fast-decode: 1/1 available"), "{fast}");
    let lws = w.cluster.peek(&lws_ref("wide-decode")).unwrap();
    assert_eq!(lws["status"]["readyReplicas"], 2);
    let pods =
        w.cluster.list("v1", "Pod", Some("llm-d"), "leaderworkerset.sigs.k8s.io/name=wide-decode").await.unwrap();
    assert_eq!(pods.len(), 4);
    // The inventory records every group-kind, custom ones included.
    let cm = w.cluster.peek(&ObjectRef::new("v1", "ConfigMap", Some("llm-d"), "msws-chart-features")).unwrap();
    let kinds = cm["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"].as_str().unwrap();
    for gk in [
        "LeaderWorkerSet.leaderworkerset.x-k8s.io",
        "PodMonitor.monitoring.coreos.com",
        "HTTPRoute.gateway.networking.k8s.io",
        "ReplicaSet.apps",
    ] {
        assert!(kinds.split(',').any(|k| k == gk), "{gk} not in {kinds}");
    }

    w.settle().await;
    w.cluster.reset_requests();
    let (r, events) = w.apply().await;
    let (plan, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::NoChanges, "{:#?}\n{events:#?}", plan.steps);
    assert_eq!(mutating(&w.cluster), 0, "{:?}", w.cluster.requests());
}

#[tokio::test(start_paused = true)]
async fn a_crash_looping_leader_worker_set_fails_its_wait_with_the_reason_and_is_rolled_back() {
    let w = chart_world();
    w.cluster.script_workload("wide-decode", PodFate::CrashLoop { exit_code: 1, log: "NCCL timeout".into() });
    let before = w.cluster.snapshot();
    let t = tokio::time::Instant::now();
    let (r, events) = w.apply().await;
    let (_, report) = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.outcome, Outcome::RolledBack, "{report:#?}\n{events:#?}");
    let error = report.error.clone().unwrap();
    assert!(
        error.starts_with("model-service/wide: ")
            && error.contains("groups of 2 ready; group ")
            && error.contains("container vllm: CrashLoopBackOff (restarted 3 times)"),
        "{error}"
    );
    assert!(t.elapsed() < Duration::from_secs(5 * 60), "failed on the crashes, not on the timeout: {:?}", t.elapsed());
    assert!(report.rolled_back.iter().any(|r| r.contains("LeaderWorkerSet llm-d/wide-decode")), "{report:#?}");
    w.settle().await;
    // Everything this run created is gone, pods included.
    assert_eq!(without_derived(&before).diff(&without_derived(&w.cluster.snapshot())), Vec::<String>::new());
    assert!(w.cluster.list("v1", "Pod", Some("llm-d"), "").await.unwrap().is_empty());
    assert!(!w.journal().exists());
}

#[tokio::test(start_paused = true)]
async fn an_update_whose_pods_crash_loop_puts_the_previous_leader_worker_set_back() {
    let w = chart_world();
    w.applied().await;
    w.settle().await;
    let before = w.cluster.snapshot();
    // A new sampling rate changes every role of `wide`; its decode pods now crash.
    let text = std::fs::read_to_string(&w.file).unwrap().replace("sampler-arg=\"0.1\"", "sampler-arg=\"0.5\"");
    std::fs::write(&w.file, text).unwrap();
    let mut w2 = world_from(&w.file);
    w2.cluster = w.cluster.clone();
    w2.cluster.script_workload("wide-decode", PodFate::CrashLoop { exit_code: 1, log: String::new() });
    let (r, events) = w2.apply().await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack, "{events:#?}");
    assert!(report.error.clone().unwrap().contains("CrashLoopBackOff"));
    assert!(report.rolled_back.iter().any(|r| r == "restored LeaderWorkerSet llm-d/wide-decode"), "{report:#?}");
    w2.cluster.script_workload("wide-decode", PodFate::Ready);
    w2.settle().await;
    // What msws wrote is as it was; the controllers' status says so again.
    let spec_only = |s: &Snapshot| {
        let mut s = without_derived(s);
        for o in s.objects.values_mut() {
            o.as_object_mut().unwrap().remove("status");
            if let Some(a) = o.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
                a.remove("deployment.kubernetes.io/revision");
            }
        }
        s
    };
    assert_eq!(spec_only(&before).diff(&spec_only(&w2.cluster.snapshot())), Vec::<String>::new());
    let lws = w2.cluster.peek(&lws_ref("wide-decode")).unwrap();
    let env = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["env"].to_string();
    assert!(env.contains("\"0.1\""), "{env}");
}

#[tokio::test(start_paused = true)]
async fn a_cluster_without_the_leader_worker_set_crd_is_refused_before_anything_changes() {
    let w = world_from(&root().join("tests/data/valid/chart-features.kdl"));
    // Everything but LeaderWorkerSet.
    w.cluster.install_crd("monitoring.coreos.com/v1", "PodMonitor", "podmonitors", true);
    w.cluster.install_crd("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", true);
    let before = w.cluster.snapshot();
    let (r, _) = w.apply().await;
    let Err(RunError::Refused(why)) = r else { panic!("{r:?}") };
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(
        why[0].starts_with("the cluster does not serve LeaderWorkerSet (leaderworkerset.x-k8s.io/v1): install the LeaderWorkerSet controller and its CRD leaderworkersets.leaderworkerset.x-k8s.io (https://github.com/kubernetes-sigs/lws)"),
        "{why:?}"
    );
    assert_eq!(mutating(&w.cluster), 0, "{:?}", w.cluster.requests());
    assert_eq!(before, w.cluster.snapshot());
    assert!(!w.journal().exists());
}

#[tokio::test(start_paused = true)]
async fn destroy_deletes_the_workloads_in_the_foreground_and_prunes_by_the_inventory_s_kinds() {
    let w = chart_world();
    w.applied().await;
    w.settle().await;
    // The HTTPRoute leaves the workspace: the inventory lists its kind, so the next plan finds
    // it, and apply prunes it.
    let text = std::fs::read_to_string(&w.file).unwrap();
    let start = text.find("    object {\n        apiVersion \"gateway.networking.k8s.io/v1\"").unwrap();
    let end = start + text[start..].find("\n    }\n").unwrap() + "\n    }\n".len();
    std::fs::write(&w.file, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let mut w2 = world_from(&w.file);
    w2.cluster = w.cluster.clone();
    let (r, events) = w2.apply().await;
    let (plan, report) = r.unwrap_or_else(|e| panic!("{e}\n{events:#?}"));
    assert_eq!(report.outcome, Outcome::Applied, "{events:#?}");
    let pruned: Vec<String> = plan.prune.iter().map(|p| p.object.to_string()).collect();
    assert_eq!(pruned, ["HTTPRoute llm-d/wide-route"]);
    let route = ObjectRef::new("gateway.networking.k8s.io/v1", "HTTPRoute", Some("llm-d"), "wide-route");
    assert!(w2.cluster.peek(&route).is_none());
    w2.settle().await;

    // Destroy: the LeaderWorkerSet and the ReplicaSet go in the foreground, pods first.
    let mut req = w2.request(Command::Destroy, fast());
    req.delete_storage = true;
    let (r, events) = w2.run(req, Stop::default()).await;
    let (_, report) = r.unwrap_or_else(|e| panic!("{e}\n{events:#?}"));
    assert_eq!(report.outcome, Outcome::Applied, "{events:#?}");
    assert!(w2.cluster.peek(&lws_ref("wide-decode")).is_none());
    assert!(
        w2.cluster.list("v1", "Pod", Some("llm-d"), "").await.unwrap().is_empty(),
        "the pods went with their workloads"
    );
    let foreground: Vec<String> =
        w2.cluster.request_log().iter().filter(|r| r.verb == Verb::Delete).map(|r| r.kind.clone()).collect();
    for kind in ["LeaderWorkerSet", "ReplicaSet", "PodMonitor", "HTTPRoute"] {
        if kind == "HTTPRoute" {
            assert_eq!(foreground.iter().filter(|k| *k == kind).count(), 1, "pruned once, not destroyed again");
        } else {
            assert!(foreground.iter().any(|k| k == kind), "{kind}: {foreground:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Model services from llm-d's Kustomize recipes

fn recipe_world(example: &str) -> World {
    let w = world(example);
    w.cluster.install_llm_d_crds();
    w
}

#[tokio::test(start_paused = true)]
async fn a_kustomize_recipe_is_served_from_the_claim_after_the_download() {
    let w = recipe_world("llm-d-optimized-baseline.kdl");
    let report = w.applied().await;
    // In the runbook's order: the claim, the download, then the recipe's objects.
    let order: Vec<&str> = report.steps.iter().map(|s| s.step.as_str()).collect();
    let at = |s: &str| order.iter().position(|o| *o == s).unwrap_or_else(|| panic!("{s} not in {order:?}"));
    assert!(
        at("storage/models") < at("download/qwen3-0-6b")
            && at("download/qwen3-0-6b") < at("model-service/optimized-baseline")
    );
    let d = w
        .cluster
        .peek(&ObjectRef::new("apps/v1", "Deployment", Some("llm-d"), "optimized-baseline-decode"))
        .expect("the recipe's Deployment");
    assert_eq!(d["status"]["readyReplicas"], json!(d["spec"]["replicas"]), "{d:#}");
    // Its pods mount the claim the download filled, read-only.
    let pods = w.cluster.list("v1", "Pod", Some("llm-d"), "llm-d.ai/role=decode").await.unwrap();
    assert!(!pods.is_empty());
    for p in &pods {
        let volumes = p["spec"]["volumes"].as_array().unwrap();
        assert!(
            volumes.contains(
                &json!({"name": "model-storage", "persistentVolumeClaim": {"claimName": "models", "readOnly": true}})
            ),
            "{volumes:#?}"
        );
    }
    // The recipe's PodMonitor is the workspace's: in its applyset, pruned with it.
    let cm = w.cluster.peek(&ObjectRef::new("v1", "ConfigMap", Some("llm-d"), "msws-optimized-baseline")).unwrap();
    let kinds = cm["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"].as_str().unwrap();
    assert!(kinds.split(',').any(|k| k == "PodMonitor.monitoring.coreos.com"), "{kinds}");
}

#[tokio::test(start_paused = true)]
async fn a_disaggregated_set_recipe_that_crash_loops_is_rolled_back_and_the_weights_stay() {
    let w = recipe_world("llm-d-pd-disaggregatedset.kdl");
    let ds = ObjectRef::new(
        "disaggregatedset.x-k8s.io/v1",
        "DisaggregatedSet",
        Some("llm-d"),
        "pd-disaggregation-pd-disagg",
    );
    // The role pods of the DisaggregatedSet crash (the child LeaderWorkerSets' names start with it).
    w.cluster.script_workload(
        "pd-disaggregation-pd-disagg",
        PodFate::CrashLoop { exit_code: 1, log: "CUDA out of memory".into() },
    );
    let (r, events) = w.apply().await;
    let (_, report) = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.outcome, Outcome::RolledBack, "{report:#?}\n{events:#?}");
    let error = report.error.clone().unwrap();
    assert!(error.starts_with("model-service/pd: ") && error.contains("CrashLoopBackOff"), "{error}");
    assert!(
        report.rolled_back.iter().any(|r| r.contains("DisaggregatedSet llm-d/pd-disaggregation-pd-disagg")),
        "{report:#?}"
    );
    w.settle().await;
    assert!(w.cluster.peek(&ds).is_none(), "the DisaggregatedSet this run created is gone");
    // The claim and the weights on it are kept: the next apply does not download again.
    assert!(w.cluster.peek(&ObjectRef::new("v1", "PersistentVolumeClaim", Some("llm-d"), "models")).is_some());
    w.cluster.script_workload("pd-disaggregation-pd-disagg", PodFate::Ready);
    let (r, events) = w.apply().await;
    let (plan, report) = r.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.outcome, Outcome::Applied, "{report:#?}\n{events:#?}");
    let download = plan.steps.iter().find(|s| s.step == "download/qwen3-0-6b").unwrap();
    assert_eq!(download.download.as_ref().unwrap().action, DownloadAction::Skip, "{download:#?}");
}
