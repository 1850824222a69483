//! Reading the cluster for a plan: what exists, what msws owns, what the inventory records, and
//! what a server-side dry run says each object would become.
//!
//! Requests: one LIST per kind msws may own, in the workspace's namespace, selected by msws's
//! workspace label (that returns the inventory too); a GET for each desired object the lists did
//! not return (an object someone else made under the same name), for existing claims and secrets,
//! and for the storage classes and volumes the preflight checks need; then one dry-run apply per
//! desired object, several at a time.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::{Inventory, Mode, owned_by};
use crate::cluster::{ApplyOptions, Cluster, ClusterError, ObjectRef};
use crate::model::{EnvValue, Workspace};
use crate::render::{Rendered, applyset_parent_name, keys};

/// Kinds whose objects msws may own, and so lists for pruning.
const OWNED_KINDS: &[(&str, &str)] = &[
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("v1", "ServiceAccount"),
    ("batch/v1", "Job"),
    ("apps/v1", "Deployment"),
    ("resource.k8s.io/v1", "ResourceClaimTemplate"),
];

/// The cluster as a plan sees it.
#[derive(Clone, Debug)]
pub struct Live {
    pub mode: Mode,
    /// Every object read, by reference.
    pub objects: BTreeMap<ObjectRef, Value>,
    /// Objects labelled as this workspace's (the inventory's members).
    pub owned: BTreeSet<ObjectRef>,
    pub inventory: Inventory,
    /// The server's dry-run answer per desired object (online only).
    pub dry_run: BTreeMap<ObjectRef, Result<Value, ClusterError>>,
    /// The resourceVersion of everything read (`None`: absent).
    pub reads: BTreeMap<ObjectRef, Option<String>>,
    /// Preflight findings that do not stop a plan.
    pub warnings: Vec<String>,
    /// Preflight findings that do.
    pub problems: Vec<String>,
}

impl Live {
    /// An empty cluster (`--offline`).
    pub fn empty() -> Live {
        Live {
            mode: Mode::Offline,
            objects: BTreeMap::new(),
            owned: BTreeSet::new(),
            inventory: Inventory::default(),
            dry_run: BTreeMap::new(),
            reads: BTreeMap::new(),
            warnings: vec![],
            problems: vec![],
        }
    }

    fn add(&mut self, obj: Value, workspace: &str) {
        let Some(r) = ObjectRef::of(&obj) else { return };
        let rv = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).map(str::to_string);
        self.reads.insert(r.clone(), rv);
        if owned_by(&obj, workspace) {
            self.owned.insert(r.clone());
        }
        self.objects.insert(r, obj);
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ObserveOptions {
    /// Ask the server what each object would become (server-side apply with `dryRun=All`).
    pub dry_run: bool,
    /// How many requests run at once.
    pub concurrency: usize,
}

impl Default for ObserveOptions {
    fn default() -> Self {
        ObserveOptions { dry_run: true, concurrency: 8 }
    }
}

/// Objects recorded with `kubectl get -o yaml` (a `List`, or a stream of documents).
pub fn live_from_yaml(text: &str, workspace: &str) -> Result<Live, String> {
    let mut live = Live { mode: Mode::Recorded, ..Live::empty() };
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| format!("not YAML: {e}"))?;
        if v.is_null() {
            continue;
        }
        let items = match v.get("kind").and_then(Value::as_str) {
            Some(k) if k.ends_with("List") => v.get("items").and_then(Value::as_array).cloned().unwrap_or_default(),
            _ => vec![v],
        };
        for item in items {
            if ObjectRef::of(&item).is_none() {
                return Err("an object without apiVersion, kind or metadata.name".into());
            }
            live.add(item, workspace);
        }
    }
    live.inventory = find_inventory(&live, workspace);
    Ok(live)
}

fn find_inventory(live: &Live, workspace: &str) -> Inventory {
    live.objects
        .iter()
        .find(|(r, _)| r.kind == "ConfigMap" && r.name == applyset_parent_name(workspace))
        .map(|(_, v)| Inventory::from_config_map(v))
        .unwrap_or_default()
}

/// Reads everything a plan needs from the cluster. `rendered` must hold secret values where the
/// environment had them (to compare them), placeholders otherwise (not dry-run).
pub async fn observe(
    cluster: &dyn Cluster,
    ws: &Workspace,
    rendered: &Rendered,
    opts: ObserveOptions,
) -> Result<Live, ClusterError> {
    let ns = rendered.namespace.as_str();
    let mut live = Live { mode: Mode::Cluster, ..Live::empty() };
    let selector = format!("{}={}", keys::WORKSPACE, ws.name);

    // One LIST per kind msws may own.
    let lists = stream::iter(OWNED_KINDS.iter().map(|(av, k)| {
        let selector = selector.clone();
        async move { cluster.list(av, k, Some(ns), &selector).await }
    }))
    .buffered(opts.concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    for l in lists {
        for obj in l? {
            live.add(obj, &ws.name);
        }
    }
    live.inventory = find_inventory(&live, &ws.name);

    // A GET for what the lists did not return: desired objects (someone may have made one under
    // the same name), existing claims and secrets, storage classes and volumes.
    let mut wanted: BTreeSet<ObjectRef> =
        rendered.unique_objects().filter_map(|(_, o)| ObjectRef::of(&o.to_json())).collect();
    for s in &ws.storages {
        wanted.insert(ObjectRef::new("v1", "PersistentVolumeClaim", Some(ns), &s.name));
        if let Some(class) = &s.class {
            wanted.insert(ObjectRef::new("storage.k8s.io/v1", "StorageClass", None, class));
        }
        if let Some(v) = &s.volume {
            wanted.insert(ObjectRef::new("v1", "PersistentVolume", None, v));
        }
    }
    for secret in referenced_secrets(ws) {
        wanted.insert(ObjectRef::new("v1", "Secret", Some(ns), &secret));
    }
    // Declared secrets too: an existing one must be there, one built from the environment may be.
    for s in &ws.secrets {
        wanted.insert(ObjectRef::new("v1", "Secret", Some(ns), &s.name));
    }
    let missing: Vec<ObjectRef> = wanted.into_iter().filter(|r| !live.objects.contains_key(r)).collect();
    let got = stream::iter(missing.into_iter().map(|r| async move {
        let v = cluster.get(&r).await;
        (r, v)
    }))
    .buffer_unordered(opts.concurrency.max(1))
    .collect::<Vec<_>>()
    .await;
    let mut got = got;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    for (r, v) in got {
        match v? {
            Some(obj) => live.add(obj, &ws.name),
            None => {
                live.reads.insert(r, None);
            }
        }
    }

    if opts.dry_run {
        let placeholders: BTreeSet<String> = rendered
            .unique_objects()
            .filter(|(_, o)| o.metadata().annotations.as_ref().is_some_and(|a| a.contains_key(keys::PLACEHOLDER)))
            .map(|(_, o)| o.name().to_string())
            .collect();
        let targets: Vec<(ObjectRef, Value)> = rendered
            .unique_objects()
            .filter(|(_, o)| !(o.kind() == "Secret" && placeholders.contains(o.name())))
            .filter_map(|(_, o)| {
                let j = o.to_json();
                ObjectRef::of(&j).map(|r| (r, j))
            })
            // An object someone else owns is refused by the plan; asking the server would only
            // show what msws would take over.
            .filter(|(r, _)| live.objects.get(r).is_none_or(|v| owned_by(v, &ws.name)))
            .collect();
        let answers = stream::iter(targets.into_iter().map(|(r, j)| async move {
            let a = cluster.apply(&j, ApplyOptions { dry_run: true, force: true }).await;
            (r, a)
        }))
        .buffer_unordered(opts.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
        for (r, a) in answers {
            // A lost connection stops the plan; a refusal of one object is that object's answer.
            if let Err(e @ (ClusterError::Connection(_) | ClusterError::Timeout(_) | ClusterError::Unauthorized(_))) =
                &a
            {
                return Err(e.clone());
            }
            live.dry_run.insert(r, a);
        }
    }
    preflight(ws, ns, &mut live);
    Ok(live)
}

/// Secrets the workspace uses but does not create: they must exist.
fn referenced_secrets(ws: &Workspace) -> BTreeSet<String> {
    // Declared secrets are checked by their own step (an existing one must be there; one built
    // from the environment is created).
    let declared: BTreeSet<&str> = ws.secrets.iter().map(|s| s.name.as_str()).collect();
    let mut out = BTreeSet::new();
    for d in &ws.downloads {
        out.extend(d.token.iter().map(|t| t.secret.clone()));
    }
    for s in &ws.services {
        out.extend(s.token.iter().map(|t| t.secret.clone()));
        for (_, role) in s.roles() {
            for c in role.containers.iter().chain(&role.init_containers) {
                for e in &c.env {
                    if let EnvValue::SecretKey { secret, optional, .. } = &e.value
                        && *optional != Some(true)
                    {
                        out.insert(secret.clone());
                    }
                }
            }
        }
    }
    out.retain(|s| !declared.contains(s.as_str()));
    out
}

/// The runbook's checks that need the cluster: classes, volumes, referenced secrets.
fn preflight(ws: &Workspace, ns: &str, live: &mut Live) {
    for s in ws.storages.iter().filter(|s| !s.existing) {
        if let Some(class) = &s.class {
            let r = ObjectRef::new("storage.k8s.io/v1", "StorageClass", None, class);
            match live.objects.get(&r) {
                None => live.problems.push(format!(
                    "storage/{}: storage class {class} does not exist: the claim would never bind (kubectl get storageclass lists the classes)",
                    s.name
                )),
                Some(c) => {
                    let policy = c.get("reclaimPolicy").and_then(Value::as_str).unwrap_or("Delete");
                    if policy != "Retain" {
                        live.warnings.push(format!(
                            "storage/{}: storage class {class} has reclaim policy {policy}: deleting the claim deletes the downloaded weights; the runbook recommends Retain",
                            s.name
                        ));
                    }
                }
            }
        }
        if let Some(volume) = &s.volume
            && let Some(pv) = live.objects.get(&ObjectRef::new("v1", "PersistentVolume", None, volume))
        {
            let claim = pv.pointer("/spec/claimRef/name").and_then(Value::as_str);
            let claim_ns = pv.pointer("/spec/claimRef/namespace").and_then(Value::as_str);
            if let Some(c) = claim
                && (c != s.name || claim_ns != Some(ns))
            {
                live.problems.push(format!(
                    "storage/{}: volume {volume} is bound to claim {}/{c}: this claim could never bind to it",
                    s.name,
                    claim_ns.unwrap_or("?")
                ));
            }
        }
        // A claim of this name bound to another volume than the one asked for.
        if let (Some(volume), Some(pvc)) =
            (&s.volume, live.objects.get(&ObjectRef::new("v1", "PersistentVolumeClaim", Some(ns), &s.name)))
            && let Some(bound) = pvc.pointer("/spec/volumeName").and_then(Value::as_str)
            && bound != volume
        {
            live.problems.push(format!("storage/{}: the claim is bound to volume {bound}, not {volume}", s.name));
        }
    }
    for secret in referenced_secrets(ws) {
        if !live.objects.contains_key(&ObjectRef::new("v1", "Secret", Some(ns), &secret)) {
            live.problems.push(format!(
                "secret {secret} does not exist in namespace {ns}: pods that read it would not start (create it, or declare `secret \"{secret}\" from-env=\"…\"`)"
            ));
        }
    }
}
