//! Stage 6, plan: the ordered actions that make a cluster match the workspace.
//!
//! A [`Plan`] is a value: it can be shown ([`show`]), saved to a file and applied later. Building
//! it is pure ([`plan`]): it takes the rendered objects and a [`Live`] picture of the cluster,
//! which [`observe`] reads from a cluster (one LIST per kind with msws's labels, a GET for what
//! the lists did not return, server-side dry-runs in parallel), or which comes from recorded YAML
//! (`--live FILE`) or is empty (`--offline`).
//!
//! Per object the plan says create, update, replace (a field that cannot change — refused for a
//! claim unless the user asks for exactly that), delete (pruned from the inventory; storage is
//! kept), or nothing. Downloads are planned from the inventory's completion records: run, skip
//! (already downloaded) or run again (source, revision or path changed).

pub mod inventory;
pub mod models;
mod observe;
pub mod prepull;
pub mod show;
pub mod status;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cluster::{ClusterError, ObjectRef};
use crate::diff::{Difference, compare_dry_run, compare_subset, immutable_change};
use crate::graph::StepGraph;
use crate::model::{SecretSource, StepKind, Workspace};
use crate::render::{Object, Rendered, keys};

pub use inventory::{DownloadRecord, Inventory};
pub use observe::{Live, ObserveOptions, live_from_yaml, observe};

/// Version of the plan file and of `plan --json`'s document (docs/commands.md).
pub const PLAN_FORMAT: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    /// Delete and create again: a field changes that Kubernetes cannot change in place.
    Replace,
    /// Pruned: owned by the workspace, no longer in it.
    Delete,
    /// Owned but no longer in the workspace, and kept: storage is never pruned unless asked.
    Keep,
    /// Exists and is what the workspace says.
    NoOp,
}

impl Action {
    /// The symbol a user learns once: `+ ~ -/+ -`.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Keep => "=",
            Action::NoOp => " ",
        }
    }
    pub fn is_change(self) -> bool {
        !matches!(self, Action::NoOp | Action::Keep)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObjectPlan {
    pub object: ObjectRef,
    pub action: Action,
    /// Why, when it is not obvious: what makes a replacement necessary, what a deletion keeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A unified diff of the YAML (live → planned); secret values are fingerprints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// A Secret: its values are never shown, only whether they change.
    #[serde(default)]
    pub sensitive: bool,
    /// What apply sends (a Secret without its data: apply reads it from the environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DownloadAction {
    Run,
    /// The inventory records this exact download: nothing to do.
    Skip,
    /// A different download is recorded there: run it again.
    Rerun,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DownloadPlan {
    pub action: DownloadAction,
    pub source: String,
    pub revision: String,
    pub storage: String,
    pub path: String,
    pub reason: String,
    pub job: ObjectRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<DownloadRecord>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReleaseAction {
    /// Delete the download's Job once the download is verified.
    AfterDownload,
    /// A Job of an earlier download is still there: delete it.
    Leftover,
    /// No Job to delete.
    Nothing,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReleasePlan {
    pub action: ReleaseAction,
    pub job: ObjectRef,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepPlan {
    pub step: String,
    /// The steps this one waits for.
    pub after: Vec<String>,
    pub objects: Vec<ObjectPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<DownloadPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleasePlan>,
    /// Said for steps with nothing of their own (an existing claim or secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What msws changes in the user's manifests to serve the model from the claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapted: Option<crate::render::Adapted>,
    /// A `pre-pull/<model-service>` step: the images and the nodes missing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_pull: Option<prepull::PrePullPlan>,
}

impl StepPlan {
    pub fn has_changes(&self) -> bool {
        self.objects.iter().any(|o| o.action.is_change())
            || self.pre_pull.as_ref().is_some_and(prepull::PrePullPlan::has_changes)
            || self.download.as_ref().is_some_and(|d| d.action != DownloadAction::Skip)
            || self.release.as_ref().is_some_and(|r| r.action != ReleaseAction::Nothing)
    }
}

/// Where the live picture came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// A cluster, with server-side dry-runs.
    Cluster,
    /// Objects recorded with `kubectl get -o yaml`.
    Recorded,
    /// An empty cluster.
    Offline,
}

/// A secret apply must build from the environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretInput {
    pub secret: String,
    pub key: String,
    pub env: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    pub msws_version: String,
    pub workspace: String,
    pub namespace: String,
    /// The cluster the plan was made against (a context name), `offline`, or the recorded file.
    pub cluster: String,
    pub mode: Mode,
    /// Hash of the workspace's files, variables and namespace: apply refuses a plan whose
    /// workspace changed since.
    pub workspace_hash: String,
    pub steps: Vec<StepPlan>,
    /// Owned objects no longer in the workspace, deleted (or kept) after everything else.
    pub prune: Vec<ObjectPlan>,
    pub warnings: Vec<String>,
    /// Why the plan cannot be applied as it is; apply refuses a plan with any.
    pub refusals: Vec<String>,
    /// The resourceVersion of every object read (`null`: it did not exist): apply refuses a plan
    /// when any of them moved.
    pub read: BTreeMap<String, Option<String>>,
    pub secrets: Vec<SecretInput>,
    /// The workspace file, relative to the plan file's directory (set by `plan --out`, so
    /// `apply PLANFILE` finds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Made with `--replace-storage` / `--delete-storage`: applying it means the same.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace_storage: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_storage: bool,
}

/// Counts of what a plan does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub update: usize,
    pub replace: usize,
    pub delete: usize,
    pub keep: usize,
    pub downloads: usize,
    pub releases: usize,
    /// Pull pods a pre-pull creates (one per node missing an image).
    pub pulls: usize,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        let objects = self.steps.iter().flat_map(|st| &st.objects).chain(&self.prune);
        for o in objects {
            match o.action {
                Action::Create => s.create += 1,
                Action::Update => s.update += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.delete += 1,
                Action::Keep => s.keep += 1,
                Action::NoOp => {}
            }
        }
        for st in &self.steps {
            if st.download.as_ref().is_some_and(|d| d.action != DownloadAction::Skip) {
                s.downloads += 1;
            }
            if st.release.as_ref().is_some_and(|r| r.action != ReleaseAction::Nothing) {
                s.releases += 1;
            }
            s.pulls += st.pre_pull.as_ref().map_or(0, |p| p.pods.len());
        }
        s
    }

    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(StepPlan::has_changes) || self.prune.iter().any(|o| o.action.is_change())
    }

    /// Why this saved plan no longer describes what applying it would do: the workspace changed
    /// (`workspace_hash` is the current one), or an object it read moved, appeared or went away
    /// (`reads` is what reading the cluster again found: a fresh plan's `read`). Empty: the plan
    /// is current.
    pub fn staleness(&self, workspace_hash: &str, reads: &BTreeMap<String, Option<String>>) -> Vec<String> {
        let mut why = vec![];
        if self.format != PLAN_FORMAT {
            why.push(format!("the plan file has format {}; this msws reads format {PLAN_FORMAT}", self.format));
        }
        if self.workspace_hash != workspace_hash {
            why.push("the workspace (its files, variables or namespace) changed since the plan was made".into());
        }
        for (name, then) in &self.read {
            let current = reads.get(name).cloned().flatten();
            match (then, current) {
                (Some(a), Some(b)) if *a != b => why.push(format!("{name} changed (resourceVersion {a} → {b})")),
                (Some(_), None) => why.push(format!("{name} was deleted")),
                (None, Some(_)) => why.push(format!("{name} was created")),
                _ => {}
            }
        }
        for (name, v) in reads {
            if v.is_some() && !self.read.contains_key(name) {
                why.push(format!("{name} appeared"));
            }
        }
        why
    }
}

/// What planning needs besides the live picture.
pub struct PlanInput<'a> {
    pub ws: &'a Workspace,
    pub graph: &'a StepGraph,
    pub rendered: &'a Rendered,
    pub cluster: String,
    pub mode: Mode,
    pub workspace_hash: String,
    /// `--replace-storage`: a claim may be deleted and created again (its data is lost).
    pub replace_storage: bool,
    /// `--delete-storage`: claims no longer in the workspace are deleted, not kept.
    pub delete_storage: bool,
    /// Secrets whose value was found in the environment (their objects carry it).
    pub secrets_present: BTreeSet<String>,
}

/// Whether an object belongs to this workspace (its labels say so).
pub fn owned_by(obj: &Value, workspace: &str) -> bool {
    let label = |k: &str| obj.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str);
    label(keys::MANAGED_BY) == Some(keys::MANAGER) && label(keys::WORKSPACE) == Some(workspace)
}

/// Builds the plan. Pure: everything it knows about the cluster is in `live`.
pub fn plan(input: &PlanInput, live: &Live) -> Plan {
    let ws = input.ws;
    let lookup = ws.lookup();
    let mut warnings = live.warnings.clone();
    let mut refusals = live.problems.clone();
    let mut planned: BTreeSet<ObjectRef> = BTreeSet::new();
    let mut steps = Vec::new();
    let downloads: BTreeMap<&str, DownloadPlan> =
        ws.downloads.iter().map(|d| (d.name.as_str(), download_plan(d, live, input))).collect();

    for s in &input.rendered.steps {
        let i = input.graph.find(&s.step);
        let after = i
            .map(|i| input.graph.dependencies(i).into_iter().map(|d| input.graph.step(d).id.to_string()).collect())
            .unwrap_or_default();
        let mut step = StepPlan {
            step: s.step.to_string(),
            after,
            objects: vec![],
            download: None,
            release: None,
            note: s.note.clone(),
            adapted: s.adapted.clone(),
            pre_pull: None,
        };
        for o in &s.objects {
            let json = o.to_json();
            let Some(r) = ObjectRef::of(&json) else { continue };
            // An object several steps apply (the downloader's ConfigMap) is planned once.
            if !planned.insert(r.clone()) {
                continue;
            }
            let mut op = object_plan(o, json, &r, live, input, &mut refusals, &mut warnings);
            if let Object::Job(_) = o
                && let Some(d) = downloads.get(s.step.name.as_str())
            {
                // A download Job is run (or not) by the download plan, not by a diff.
                op = job_plan(op, d, live);
            }
            step.objects.push(op);
        }
        match s.step.kind {
            StepKind::Download => step.download = downloads.get(s.step.name.as_str()).cloned(),
            StepKind::Release => {
                if let Some(d) = downloads.get(s.step.name.as_str()) {
                    let action = match d.action {
                        DownloadAction::Run | DownloadAction::Rerun => ReleaseAction::AfterDownload,
                        DownloadAction::Skip if live.objects.contains_key(&d.job) => ReleaseAction::Leftover,
                        DownloadAction::Skip => ReleaseAction::Nothing,
                    };
                    step.release = Some(ReleasePlan { action, job: d.job.clone() });
                }
            }
            StepKind::Storage => {
                if let Some(st) = lookup.storages.get(s.step.name.as_str())
                    && st.existing
                    && live.mode != Mode::Offline
                {
                    let r = ObjectRef::new("v1", "PersistentVolumeClaim", Some(&input.rendered.namespace), &st.name);
                    if !live.objects.contains_key(&r) {
                        refusals.push(format!("storage/{}: claim {} does not exist (it is declared `existing=#true`, so msws does not create it)", st.name, st.name));
                    }
                }
            }
            StepKind::Secret => {
                if let Some(sec) = lookup.secrets.get(s.step.name.as_str())
                    && sec.source == SecretSource::Existing
                    && live.mode != Mode::Offline
                {
                    let r = ObjectRef::new("v1", "Secret", Some(&input.rendered.namespace), &sec.name);
                    if !live.objects.contains_key(&r) {
                        refusals.push(format!("secret/{}: Secret {} does not exist (it is declared `existing=#true`, so msws does not create it)", sec.name, sec.name));
                    }
                }
            }
            StepKind::PrePull => {
                let objects = input
                    .rendered
                    .steps
                    .iter()
                    .find(|r| r.step.kind == StepKind::ModelService && r.step.name == s.step.name)
                    .map(|r| r.objects.as_slice())
                    .unwrap_or(&[]);
                let pp = prepull::decide(ws, &input.rendered.namespace, &s.step.name, objects, &live.nodes);
                step.note = pp.note.clone();
                step.pre_pull = Some(pp);
            }
            StepKind::ModelService => {}
        }
        steps.push(step);
    }

    // A pre-pull is for its model service's start: a model service that does not change starts
    // nothing, so nothing is pulled for it (new nodes of its pool get its images when it next
    // rolls out, or from its own pods).
    let changed: BTreeSet<String> = steps
        .iter()
        .filter(|s| s.step.starts_with("model-service/") && s.has_changes())
        .map(|s| s.step["model-service/".len()..].to_string())
        .collect();
    for step in &mut steps {
        if let Some(pp) = &mut step.pre_pull
            && !changed.contains(&pp.service)
            && !pp.note.as_deref().is_some_and(|n| n.starts_with(prepull::CANNOT_LIST))
        {
            pp.decided = true;
            pp.pods.clear();
            for i in &mut pp.images {
                i.pull_on.clear();
            }
            pp.note = Some(format!("model-service/{} does not change: nothing to pre-pull", pp.service));
            step.note = pp.note.clone();
        }
    }

    // A claim that is replaced loses its files: what was downloaded into it runs again. (Without
    // --replace-storage the replacement is refused, and nothing is re-planned.)
    let replaced: BTreeSet<String> = steps
        .iter()
        .flat_map(|s| &s.objects)
        .filter(|o| o.object.kind == "PersistentVolumeClaim" && o.action == Action::Replace && input.replace_storage)
        .map(|o| o.object.name.clone())
        .collect();
    for step in &mut steps {
        if let Some(d) = &mut step.download
            && replaced.contains(&d.storage)
            && d.action == DownloadAction::Skip
        {
            d.action = DownloadAction::Rerun;
            d.reason = format!("claim {} is replaced, and its files with it", d.storage);
            for o in step.objects.iter_mut().filter(|o| o.object == d.job) {
                o.action = if live.objects.contains_key(&d.job) { Action::Replace } else { Action::Create };
                o.reason = None;
            }
        }
    }
    // A download that now runs is released after it, like any other.
    let running: BTreeSet<ObjectRef> = steps
        .iter()
        .filter_map(|s| s.download.as_ref())
        .filter(|d| d.action != DownloadAction::Skip)
        .map(|d| d.job.clone())
        .collect();
    for r in steps.iter_mut().filter_map(|s| s.release.as_mut()) {
        if running.contains(&r.job) {
            r.action = ReleaseAction::AfterDownload;
        }
    }

    // Owned objects the workspace no longer has: pruned after everything else; storage kept.
    let parent = ObjectRef::new(
        "v1",
        "ConfigMap",
        Some(&input.rendered.namespace),
        &crate::render::applyset_parent_name(&ws.name),
    );
    let mut prune = Vec::new();
    for r in &live.owned {
        if planned.contains(r) || *r == parent {
            continue;
        }
        let storage = r.kind == "PersistentVolumeClaim";
        let (action, reason) = if storage && !input.delete_storage {
            (
                Action::Keep,
                "no longer in the workspace; storage is kept (pass --delete-storage to delete it and its data)"
                    .to_string(),
            )
        } else if storage {
            (
                Action::Delete,
                "no longer in the workspace; --delete-storage: the claim and its data are deleted".to_string(),
            )
        } else {
            (Action::Delete, "no longer in the workspace".to_string())
        };
        prune.push(ObjectPlan {
            object: r.clone(),
            action,
            reason: Some(reason),
            diff: None,
            sensitive: r.kind == "Secret",
            desired: None,
        });
    }

    let secrets = ws
        .secrets
        .iter()
        .filter_map(|s| match &s.source {
            SecretSource::FromEnv { var, key } => {
                Some(SecretInput { secret: s.name.clone(), key: key.clone(), env: var.clone() })
            }
            SecretSource::Existing => None,
        })
        .collect();
    Plan {
        format: PLAN_FORMAT,
        msws_version: env!("CARGO_PKG_VERSION").into(),
        workspace: ws.name.clone(),
        namespace: input.rendered.namespace.clone(),
        cluster: input.cluster.clone(),
        mode: input.mode,
        workspace_hash: input.workspace_hash.clone(),
        steps,
        prune,
        warnings,
        refusals,
        read: live.reads.iter().map(|(r, v)| (r.to_string(), v.clone())).collect(),
        secrets,
        source: None,
        replace_storage: input.replace_storage,
        delete_storage: input.delete_storage,
    }
}

fn download_plan(d: &crate::model::Download, live: &Live, input: &PlanInput) -> DownloadPlan {
    let job = ObjectRef::new("batch/v1", "Job", Some(&input.rendered.namespace), &crate::render::job_name(&d.name));
    let record = live.inventory.downloads.get(&d.name).cloned();
    let source = d.source_uri();
    let (action, reason) = match &record {
        Some(r) if r.matches(&source, &d.revision, &d.storage, &d.path) => (
            DownloadAction::Skip,
            match &r.commit {
                Some(c) => format!("already downloaded (commit {})", inventory::short_commit(c)),
                None => "already downloaded".into(),
            },
        ),
        Some(r) => {
            let mut what = Vec::new();
            if r.source != source {
                what.push(format!("source {} → {}", r.source, source));
            }
            if r.revision != d.revision && r.commit.as_deref() != Some(d.revision.as_str()) {
                what.push(format!("revision {} → {}", r.revision, d.revision));
            }
            if r.storage != d.storage || r.path != d.path {
                what.push(format!("place {}:{} → {}:{}", r.storage, r.path, d.storage, d.path));
            }
            (DownloadAction::Rerun, what.join(", "))
        }
        None => (DownloadAction::Run, "not downloaded yet".into()),
    };
    DownloadPlan {
        action,
        source,
        revision: d.revision.clone(),
        storage: d.storage.clone(),
        path: d.path.clone(),
        reason,
        job,
        record,
    }
}

/// The Job of a download: created when the download runs, replaced when an earlier download's
/// Job is still there, left alone when the download is skipped.
fn job_plan(mut op: ObjectPlan, d: &DownloadPlan, live: &Live) -> ObjectPlan {
    let exists = live.objects.contains_key(&d.job);
    op.diff = None;
    (op.action, op.reason) = match (d.action, exists) {
        (DownloadAction::Skip, _) => {
            (Action::NoOp, Some("the download is already complete; its Job is not run again".into()))
        }
        (_, false) => (Action::Create, None),
        (_, true) => {
            (Action::Replace, Some("the Job of the previous download is deleted first (a Job cannot change)".into()))
        }
    };
    op
}

fn object_plan(
    o: &Object,
    json: Value,
    r: &ObjectRef,
    live: &Live,
    input: &PlanInput,
    refusals: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> ObjectPlan {
    let sensitive = matches!(o, Object::Secret(_));
    // A secret goes into the plan without its value; apply fills it in from the environment.
    let desired = if sensitive {
        let mut d = json.clone();
        if let Some(m) = d.as_object_mut() {
            m.remove("data");
            m.remove("stringData");
        }
        d
    } else {
        json.clone()
    };
    let mut op = ObjectPlan {
        object: r.clone(),
        action: Action::NoOp,
        reason: None,
        diff: None,
        sensitive,
        desired: Some(desired),
    };
    let Some(live_obj) = live.objects.get(r) else {
        op.action = Action::Create;
        return op;
    };
    if !owned_by(live_obj, &input.ws.name) {
        refusals.push(format!(
            "{r} exists and is not managed by workspace {}: msws does not take over objects it did not create (delete or rename it, or declare a claim or secret `existing=#true`)",
            input.ws.name
        ));
        op.reason = Some("exists, not managed by this workspace".into());
        return op;
    }
    let secret_unknown = sensitive && !input.secrets_present.contains(&r.name);
    if secret_unknown {
        warnings.push(format!("{r}: its value is not in the environment, so it is not compared; apply will need it"));
        return op;
    }
    let claim = r.kind == "PersistentVolumeClaim";
    let (difference, immutable) = match live.dry_run.get(r) {
        Some(Ok(dry)) => (compare_dry_run(dry, live_obj), None),
        Some(Err(e)) if e.is_immutable_field() => {
            (Difference::Same, Some(immutable_change(&json, live_obj).unwrap_or_else(|| e.to_string())))
        }
        Some(Err(e)) if claim && matches!(e, ClusterError::Forbidden { .. }) => {
            refusals.push(format!("{r}: the server refuses to grow it: {e}"));
            return op;
        }
        Some(Err(e)) => {
            refusals.push(format!("{r}: the server's dry run failed: {e}"));
            return op;
        }
        None => match immutable_change(&json, live_obj) {
            Some(why) => (Difference::Same, Some(why)),
            None => (compare_subset(&json, live_obj), None),
        },
    };
    if let Some(why) = immutable {
        op.action = Action::Replace;
        op.diff = match compare_subset(&json, live_obj) {
            Difference::Changed(d) => Some(d),
            Difference::Same => None,
        };
        if claim {
            if input.replace_storage {
                op.reason = Some(format!(
                    "{why}: --replace-storage deletes the claim and the model weights on it; downloads into it run again"
                ));
            } else {
                op.reason = Some(format!("{why}; replacing it would delete the model weights on it"));
                refusals.push(format!(
                    "{r}: {why}. Replacing the claim deletes it and every file on it; msws does not do that unless you pass --replace-storage (or change the workspace back)"
                ));
            }
        } else {
            op.reason = Some(format!("{why}: it is deleted and created again"));
        }
        return op;
    }
    if let Difference::Changed(d) = difference {
        op.action = Action::Update;
        op.diff = Some(d);
    }
    op
}

/// Where the live picture comes from.
pub enum Source<'a> {
    /// A cluster: read it, with dry-runs.
    Cluster(&'a dyn crate::cluster::Cluster, ObserveOptions),
    /// Already known: recorded objects, or an empty cluster.
    Known(Live),
}

/// Everything `msws plan` does after loading the workspace: render (with the secret values the
/// environment has), read the cluster, plan.
pub struct Request<'a> {
    pub ws: &'a Workspace,
    pub graph: &'a StepGraph,
    pub namespace: String,
    /// Secret values by secret name and key, from the environment.
    pub secret_values: BTreeMap<String, BTreeMap<String, String>>,
    pub cluster: String,
    pub workspace_hash: String,
    pub replace_storage: bool,
    pub delete_storage: bool,
}

pub async fn make(req: &Request<'_>, source: Source<'_>) -> Result<Plan, ClusterError> {
    let opts = crate::render::Options {
        namespace: req.namespace.clone(),
        secret_values: req.secret_values.clone(),
        ..Default::default()
    };
    let rendered = crate::render::render(req.ws, req.graph, &opts);
    let live = match source {
        Source::Cluster(c, o) => observe(c, req.ws, &rendered, o).await?,
        Source::Known(l) => l,
    };
    let input = PlanInput {
        ws: req.ws,
        graph: req.graph,
        rendered: &rendered,
        cluster: req.cluster.clone(),
        mode: live.mode,
        workspace_hash: req.workspace_hash.clone(),
        replace_storage: req.replace_storage,
        delete_storage: req.delete_storage,
        secrets_present: req.secret_values.keys().cloned().collect(),
    };
    Ok(plan(&input, &live))
}

/// The hash a plan records of what it was made from: msws's version, the workspace's files (names
/// and contents), the variables' values and the namespace. Only a hash is kept, never a value.
pub fn workspace_hash<'a>(
    files: impl IntoIterator<Item = (&'a str, &'a str)>,
    vars: &[(String, String)],
    namespace: &str,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    for (name, text) in files {
        h.update([0u8]);
        h.update(name.as_bytes());
        h.update([0u8]);
        h.update(text.as_bytes());
    }
    for (k, v) in vars {
        h.update([1u8]);
        h.update(k.as_bytes());
        h.update([0u8]);
        h.update(v.as_bytes());
    }
    h.update([2u8]);
    h.update(namespace.as_bytes());
    hex::encode(h.finalize())
}
