//! Reading the cluster for a plan: what exists, what msws owns, what the inventory records, and
//! what a server-side dry run says each object would become.
//!
//! Requests: API discovery of each group-version the rendered objects have that not every
//! Kubernetes serves (LeaderWorkerSet, PodMonitor, DRA, any custom resource: one GET each), so a
//! kind the cluster does not serve is refused before anything changes, naming what to install;
//! one LIST per kind msws may own, in the workspace's namespace, selected by msws's workspace
//! label (that returns the inventory too) — the kinds it always owns, the kinds rendered, then
//! the group-kinds the inventory records that neither covers (discovered first, skipped with a
//! warning when the cluster no longer serves them); a GET for each desired object the lists did
//! not return (an object someone else made under the same name), for existing claims and secrets,
//! and for the storage classes and volumes the preflight checks need; then one dry-run apply per
//! desired object, several at a time.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt};
use serde_json::Value;

use super::{Inventory, Mode, owned_by};
use crate::cluster::{ALWAYS_SERVED, ApplyOptions, Cluster, ClusterError, KINDS, Kind, ObjectRef, group_of};
use crate::model::{EnvValue, Workspace};
use crate::render::{Rendered, applyset_parent_name, keys};

/// Kinds whose objects msws may own whatever the workspace renders now, and so always lists for
/// pruning; the kinds it renders and those its inventory records are listed as well.
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
    /// Every StorageClass was listed (to find the default one), not only the named ones read.
    pub classes_listed: bool,
    /// The cluster's nodes, for the pre-pull steps. Not in `reads`: nodes change all the time
    /// (heartbeats, images), and a pre-pull that finds an image already there just finishes.
    /// (Boxed: a `Live` travels by value in [`super::Source`].)
    pub nodes: Box<super::prepull::Nodes>,
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
            classes_listed: false,
            nodes: Box::new(super::prepull::Nodes::Unknown),
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
    // Recorded nodes (`kubectl get nodes -o yaml` in the same file) decide the pre-pull.
    let nodes: Vec<Value> = live.objects.iter().filter(|(r, _)| r.kind == "Node").map(|(_, v)| v.clone()).collect();
    if !nodes.is_empty() {
        *live.nodes = super::prepull::Nodes::Listed(nodes);
    }
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

    // The rendered objects' kinds: served by the cluster, and namespaced?
    let mut discovery = Discovery::default();
    let mut users: BTreeMap<(String, String), Vec<ObjectRef>> = BTreeMap::new();
    for (_, o) in rendered.unique_objects() {
        if let Some(r) = ObjectRef::of(&o.to_json()) {
            users.entry((r.api_version.clone(), r.kind.clone())).or_default().push(r);
        }
    }
    let mut excluded: BTreeSet<ObjectRef> = BTreeSet::new();
    let mut listed: Vec<(String, String)> = OWNED_KINDS.iter().map(|(av, k)| (av.to_string(), k.to_string())).collect();
    for ((av, kind), objects) in &users {
        let named = objects.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
        match discovery.kind(cluster, av, kind).await? {
            Served::Yes(k) if !k.namespaced => {
                live.problems.push(format!(
                    "{named}: {kind} ({av}) is cluster-scoped: msws applies a workspace's objects into its namespace ({ns}) and does not manage cluster-wide ones (create it another way)"
                ));
                excluded.extend(objects.iter().cloned());
            }
            Served::Yes(_) => {
                if !listed.contains(&(av.clone(), kind.clone())) {
                    listed.push((av.clone(), kind.clone()));
                }
            }
            Served::NoGroupVersion => {
                live.problems.push(format!(
                    "the cluster does not serve {kind} ({av}): {}; needed by {named}",
                    install_hint(av, kind)
                ));
                excluded.extend(objects.iter().cloned());
            }
            Served::NoKind => {
                live.problems.push(format!(
                    "the cluster serves {av} but not the kind {kind}: {}; needed by {named}",
                    install_hint(av, kind)
                ));
                excluded.extend(objects.iter().cloned());
            }
        }
    }

    // One LIST per kind msws may own.
    list_owned(cluster, &listed, ns, &selector, opts, &ws.name, &mut live).await?;
    live.inventory = find_inventory(&live, &ws.name);

    // The group-kinds the inventory says its members have, that the lists did not cover (a kind
    // the workspace no longer renders): listed too, so their objects are pruned. One the cluster
    // no longer serves has no objects left to prune.
    let mut more: Vec<(String, String)> = Vec::new();
    for gk in inventory_group_kinds(&live, &ws.name) {
        let (kind, group) = gk.split_once('.').unwrap_or((gk.as_str(), ""));
        if listed.iter().chain(&more).any(|(av, k)| k == kind && group_of(av) == group) {
            continue;
        }
        let av = match Kind::find_group_kind(group, kind) {
            Some(k) => Some(k.api_version.to_string()),
            None => cluster.preferred_version(group).await?.map(|v| match group {
                "" => v,
                g => format!("{g}/{v}"),
            }),
        };
        let served = match &av {
            Some(av) => discovery.kind(cluster, av, kind).await?,
            None => Served::NoGroupVersion,
        };
        match (served, av) {
            (Served::Yes(k), Some(av)) if k.namespaced => more.push((av, kind.to_string())),
            (Served::Yes(_), _) => {}
            _ => live.warnings.push(format!(
                "the inventory records objects of kind {gk}, which the cluster no longer serves: there is nothing of it left to prune"
            )),
        }
    }
    list_owned(cluster, &more, ns, &selector, opts, &ws.name, &mut live).await?;
    if ws.pre_pull && !ws.services.is_empty() {
        pre_pull_facts(cluster, ns, &ws.name, &mut live).await?;
    }

    // A GET for what the lists did not return: desired objects (someone may have made one under
    // the same name), existing claims and secrets, storage classes and volumes.
    let mut wanted: BTreeSet<ObjectRef> = rendered
        .unique_objects()
        .filter_map(|(_, o)| ObjectRef::of(&o.to_json()))
        .filter(|r| !excluded.contains(r))
        .collect();
    // A claim that names no class gets the cluster's default one (the DefaultStorageClass
    // admission plugin): the preflight needs to know which that is.
    if ws.storages.iter().any(|s| !s.existing && s.class.is_none()) {
        for class in cluster.list("storage.k8s.io/v1", "StorageClass", None, "").await? {
            live.add(class, &ws.name);
        }
        live.classes_listed = true;
    }
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
            .filter(|(r, _)| !excluded.contains(r))
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

/// For the pre-pull steps: the nodes (a LIST msws may not be allowed: then nothing is pre-pulled,
/// and the plan says why), and pull pods an interrupted run left behind (pruned like any other
/// object the workspace no longer has). Neither goes into `reads`: both change by themselves.
async fn pre_pull_facts(cluster: &dyn Cluster, ns: &str, workspace: &str, live: &mut Live) -> Result<(), ClusterError> {
    use super::prepull::{Nodes, PRE_PULL_LABEL};
    *live.nodes = Nodes::of(cluster.list("v1", "Node", None, "").await)?;
    let selector = format!("{}={workspace},{PRE_PULL_LABEL}", keys::WORKSPACE);
    let pods = match cluster.list("v1", "Pod", Some(ns), &selector).await {
        Ok(p) => p,
        Err(ClusterError::Forbidden { .. }) => vec![],
        Err(e) => return Err(e),
    };
    for pod in pods {
        if let Some(r) = ObjectRef::of(&pod)
            && owned_by(&pod, workspace)
        {
            live.owned.insert(r.clone());
            live.objects.insert(r, pod);
        }
    }
    Ok(())
}

/// LISTs of these kinds, with the workspace's label, several at a time; what they return is
/// added to `live`.
async fn list_owned(
    cluster: &dyn Cluster,
    kinds: &[(String, String)],
    ns: &str,
    selector: &str,
    opts: ObserveOptions,
    workspace: &str,
    live: &mut Live,
) -> Result<(), ClusterError> {
    let lists = stream::iter(kinds.iter().map(|(av, k)| async move { cluster.list(av, k, Some(ns), selector).await }))
        .buffered(opts.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    for l in lists {
        let items = match l {
            // A LIST is never a 404 for a kind the server serves (an empty namespace lists
            // nothing): this kind is not served here (DRA before Kubernetes 1.34), so there is
            // nothing of it to own. Rendered objects of it are refused by the discovery above.
            Err(ClusterError::NotFound(_)) => continue,
            other => other?,
        };
        for obj in items {
            live.add(obj, workspace);
        }
    }
    Ok(())
}

/// The group-kinds (`Kind.group`) the inventory's ApplySet annotation lists.
fn inventory_group_kinds(live: &Live, workspace: &str) -> Vec<String> {
    let key = super::inventory::APPLYSET_GROUP_KINDS.replace('/', "~1");
    live.objects
        .iter()
        .find(|(r, _)| r.kind == "ConfigMap" && r.name == applyset_parent_name(workspace))
        .and_then(|(_, cm)| cm.pointer(&format!("/metadata/annotations/{key}")).and_then(Value::as_str))
        .map(|s| s.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

/// Whether the cluster serves a kind.
enum Served {
    Yes(Kind),
    /// Its whole group-version is missing (a CRD that is not installed).
    NoGroupVersion,
    /// The group-version is there, without this kind.
    NoKind,
}

/// API discovery for a plan: once per group-version, and not at all for the kinds msws knows in
/// the group-versions every Kubernetes serves.
#[derive(Default)]
struct Discovery {
    found: BTreeMap<String, Option<Vec<Kind>>>,
}

impl Discovery {
    async fn kind(&mut self, cluster: &dyn Cluster, av: &str, kind: &str) -> Result<Served, ClusterError> {
        if ALWAYS_SERVED.contains(&av)
            && let Some(k) = KINDS.iter().find(|k| k.api_version == av && k.kind == kind)
        {
            return Ok(Served::Yes(*k));
        }
        if !self.found.contains_key(av) {
            let kinds = cluster.discover(av).await?;
            self.found.insert(av.to_string(), kinds);
        }
        Ok(match self.found.get(av) {
            Some(Some(kinds)) => match kinds.iter().find(|k| k.kind == kind) {
                Some(k) => Served::Yes(*k),
                None => Served::NoKind,
            },
            _ => Served::NoGroupVersion,
        })
    }
}

/// What to install for a kind the cluster does not serve.
fn install_hint(av: &str, kind: &str) -> String {
    let group = group_of(av);
    match (group, kind) {
        ("leaderworkerset.x-k8s.io", "LeaderWorkerSet") => "install the LeaderWorkerSet controller and its CRD leaderworkersets.leaderworkerset.x-k8s.io (https://github.com/kubernetes-sigs/lws)".into(),
        ("disaggregatedset.x-k8s.io", "DisaggregatedSet") => "install the LeaderWorkerSet controller, v0.9 or newer, with DisaggregatedSet enabled (Helm: --set enableDisaggregatedSet=true); it brings the CRD disaggregatedsets.disaggregatedset.x-k8s.io (https://github.com/kubernetes-sigs/lws)".into(),
        ("monitoring.coreos.com", "PodMonitor") => "install the Prometheus Operator and its CRD podmonitors.monitoring.coreos.com (https://github.com/prometheus-operator/prometheus-operator)".into(),
        ("gateway.networking.k8s.io", _) => format!(
            "install the Gateway API CRDs, which include {}.gateway.networking.k8s.io (https://gateway-api.sigs.k8s.io)",
            kind.to_lowercase() + "s"
        ),
        ("inference.networking.k8s.io" | "inference.networking.x-k8s.io", _) => format!(
            "install the Gateway API Inference Extension CRDs, which include {}.{group} (https://gateway-api-inference-extension.sigs.k8s.io)",
            kind.to_lowercase() + "s"
        ),
        ("resource.k8s.io", _) => "dynamic resource allocation (resource.k8s.io/v1) needs Kubernetes 1.34 or newer".into(),
        _ => "install the CRD (or the API server) that defines it".into(),
    }
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
        let claim = live.objects.get(&ObjectRef::new("v1", "PersistentVolumeClaim", Some(ns), &s.name)).cloned();
        let (problems, warnings) = storage_preflight(s, ns, claim.as_ref(), live);
        live.problems.extend(problems.into_iter().map(|p| format!("storage/{}: {p}", s.name)));
        live.warnings.extend(warnings.into_iter().map(|w| format!("storage/{}: {w}", s.name)));
    }
    for secret in referenced_secrets(ws) {
        if !live.objects.contains_key(&ObjectRef::new("v1", "Secret", Some(ns), &secret)) {
            live.problems.push(format!(
                "secret {secret} does not exist in namespace {ns}: pods that read it would not start (create it, or declare `secret \"{secret}\" from-env=\"…\"`)"
            ));
        }
    }
}

const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

/// What can keep a claim from binding, checked before anything changes: its class (exists, has
/// a provisioner, retains data) and the volume it names (exists, is free or bound to this very
/// claim, big enough, offers its access modes, same class and volume mode). Problems refuse the
/// plan; warnings are shown. Nothing is checked for a claim that is bound already.
fn storage_preflight(
    s: &crate::model::Storage,
    ns: &str,
    claim: Option<&Value>,
    live: &Live,
) -> (Vec<String>, Vec<String>) {
    let (mut problems, mut warnings) = (Vec::new(), Vec::new());
    let str_at = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    let class_of = |name: &str| live.objects.get(&ObjectRef::new("storage.k8s.io/v1", "StorageClass", None, name));
    if let Some(pvc) = claim
        && str_at(pvc, "/status/phase") == "Bound"
    {
        if let Some(volume) = &s.volume {
            let bound = str_at(pvc, "/spec/volumeName");
            if &bound != volume {
                problems.push(format!("the claim is bound to volume {bound}, not {volume}"));
            }
        }
        return (problems, warnings);
    }
    // The class the claim has (or will have: the default class when it names none).
    let default_class = live
        .objects
        .iter()
        .filter(|(r, _)| r.kind == "StorageClass")
        .find(|(_, c)| {
            c.pointer("/metadata/annotations/storageclass.kubernetes.io~1is-default-class").and_then(Value::as_str)
                == Some("true")
        })
        .map(|(r, _)| r.name.clone());
    let class = match (&s.class, claim) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(pvc)) => Some(str_at(pvc, "/spec/storageClassName")).filter(|c| !c.is_empty()),
        (None, None) => default_class.clone(),
    };
    let class_obj = class.as_deref().filter(|c| !c.is_empty()).and_then(class_of);
    match (&s.class, class_obj) {
        (Some(c), None) if !c.is_empty() => problems.push(format!(
            "storage class {c} does not exist: the claim would never bind (kubectl get storageclass lists the classes)"
        )),
        (_, Some(c)) if s.volume.is_none() => {
            let name = class.clone().unwrap_or_default();
            let policy = c.get("reclaimPolicy").and_then(Value::as_str).unwrap_or("Delete");
            if policy != "Retain" {
                warnings.push(format!(
                    "storage class {name} has reclaim policy {policy}: deleting the claim deletes the downloaded weights; the runbook recommends Retain"
                ));
            }
            if c.get("provisioner").and_then(Value::as_str) == Some(NO_PROVISIONER) {
                warnings.push(format!(
                    "storage class {name} provisions no volumes ({NO_PROVISIONER}): the claim binds only to a free PersistentVolume of that class that an administrator created (name one with `volume`)"
                ));
            }
        }
        _ => {}
    }
    if s.class.is_none() && s.volume.is_none() && claim.is_none() && live.classes_listed && default_class.is_none() {
        problems.push(
            "it names no storage class and the cluster has no default class, so nothing would provision a volume for it: name a class (`class \"…\"`) or a volume (`volume \"…\"`)".into(),
        );
    }
    let Some(volume) = &s.volume else { return (problems, warnings) };
    let Some(pv) = live.objects.get(&ObjectRef::new("v1", "PersistentVolume", None, volume)) else {
        problems.push(format!(
            "volume {volume} does not exist: the claim names it, so it would never bind (create the PersistentVolume first, or remove `volume` to let the class provision one)"
        ));
        return (problems, warnings);
    };
    let claim_uid = claim.map(|c| str_at(c, "/metadata/uid")).unwrap_or_default();
    if pv.pointer("/spec/claimRef").is_some() {
        let (c, c_ns, c_uid) = (
            str_at(pv, "/spec/claimRef/name"),
            str_at(pv, "/spec/claimRef/namespace"),
            str_at(pv, "/spec/claimRef/uid"),
        );
        if c != s.name || c_ns != ns {
            problems.push(format!(
                "volume {volume} is bound to claim {}/{c}: this claim could never bind to it",
                if c_ns.is_empty() { "?" } else { c_ns.as_str() }
            ));
        } else if !c_uid.is_empty() && c_uid != claim_uid {
            problems.push(format!(
                "volume {volume} is {} and still reserved for an earlier claim {ns}/{c} (uid {c_uid}): a new claim cannot bind to it until an administrator clears its spec.claimRef (`kubectl patch pv {volume} --type json -p '[{{\"op\":\"remove\",\"path\":\"/spec/claimRef\"}}]'`); its data stays",
                str_at(pv, "/status/phase").to_lowercase()
            ));
        }
    }
    if str_at(pv, "/status/phase") == "Failed" {
        problems.push(format!("volume {volume} is Failed: {}", str_at(pv, "/status/message")));
    }
    let quantity = |v: &Value, p: &str| crate::model::Quantity::parse(&str_at(v, p)).ok().map(|q| q.value());
    if let (Some(size), Some(capacity)) = (&s.size, quantity(pv, "/spec/capacity/storage"))
        && capacity < size.value()
    {
        problems.push(format!(
            "volume {volume} holds {} but the claim asks for {size}: it would never bind",
            str_at(pv, "/spec/capacity/storage")
        ));
    }
    let offered: Vec<String> = pv
        .pointer("/spec/accessModes")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    if !offered.iter().any(|m| m == s.access.as_str()) {
        problems.push(format!(
            "volume {volume} offers {} but the claim asks for {}: it would never bind",
            if offered.is_empty() { "no access mode".to_string() } else { offered.join(", ") },
            s.access.as_str()
        ));
    }
    let pv_class = str_at(pv, "/spec/storageClassName");
    let claim_class = class.clone().unwrap_or_default();
    if pv_class != claim_class {
        let why = match (&s.class, claim) {
            (None, None) if !claim_class.is_empty() => {
                " (the cluster's default class, which Kubernetes gives a claim that names none)".to_string()
            }
            _ => String::new(),
        };
        problems.push(format!(
            "volume {volume} has storage class {} but the claim would have {}{why}: they must be the same to bind (set `class \"{pv_class}\"`)",
            if pv_class.is_empty() { "\"\" (none)".to_string() } else { pv_class.clone() },
            if claim_class.is_empty() { "\"\" (none)".to_string() } else { claim_class.clone() },
        ));
    }
    if !matches!(str_at(pv, "/spec/volumeMode").as_str(), "" | "Filesystem") {
        problems.push(format!("volume {volume} is a raw block volume: a model needs a file system"));
    }
    let policy = str_at(pv, "/spec/persistentVolumeReclaimPolicy");
    if !policy.is_empty() && policy != "Retain" {
        warnings.push(format!(
            "volume {volume} has reclaim policy {policy}: deleting the claim deletes the downloaded weights; the runbook recommends Retain"
        ));
    }
    (problems, warnings)
}
