//! Stage 4, render: steps → the Kubernetes objects each one applies (k8s-openapi types).
//!
//! - `storage/<name>` → a PersistentVolumeClaim (none for an existing claim);
//! - `secret/<name>` → a Secret built from the environment at apply time (a placeholder offline);
//! - `download/<name>` → a `batch/v1` Job running `download.py` against the claim;
//! - `release/<download>` → no object: the apply deletes the download's Job;
//! - `pre-pull/<model-service>` → no object here: its pull pods depend on the cluster's nodes,
//!   so the plan decides them (`plan/prepull.rs`);
//! - `model-service/<name>` → a ServiceAccount, ResourceClaimTemplates for DRA, and the decode and
//!   prefill Deployments, as the llm-d ModelService chart renders them for the same intent
//!   (docs/modelservice.md lists each deliberate difference).
//!
//! Pure: the same workspace and options give the same objects. Every object carries msws's
//! ownership labels (managed-by, workspace, ApplySet membership) and names its step in an
//! annotation.

mod download;
mod manifests;
mod service;
mod yaml;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, PersistentVolumeClaimSpec, Secret, ServiceAccount, VolumeResourceRequirements,
};
use k8s_openapi::api::resource::v1::ResourceClaimTemplate;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::graph::{StepGraph, StepId};
use crate::model::{Lookup, Map, SecretSource, StepKind, Workspace};

pub use download::{
    DOWNLOAD_SCRIPT, MARKER_FILE, PROGRESS_PREFIX, Progress, SCRIPT_KEY, job_name, last_progress, parse_progress,
    script_config_map_name,
};
pub use yaml::{GENERATED, OutFile, to_files, to_yaml_stream};

/// Labels and annotations msws puts on what it owns.
pub mod keys {
    pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
    pub const MANAGER: &str = "msws";
    pub const WORKSPACE: &str = "msws.io/workspace";
    pub const STEP: &str = "msws.io/step";
    pub const DOWNLOAD: &str = "msws.io/download";
    pub const SOURCE: &str = "msws.io/source";
    pub const REVISION: &str = "msws.io/revision";
    pub const PATH: &str = "msws.io/path";
    pub const STORAGE: &str = "msws.io/storage";
    /// On the pod template of a model service served from a download: the source and revision,
    /// so a new revision rolls the servers out.
    pub const MODEL_REVISION: &str = "msws.io/model-revision";
    /// On a Secret rendered without its value (`msws render`, `plan --offline`).
    pub const PLACEHOLDER: &str = "msws.io/placeholder";
    /// The step of an object shared by several steps, e.g. `download/*`.
    pub const ALL_OF_KIND: &str = "*";
    /// The Kubernetes ApplySet convention (KEP-3659): members carry their set's id.
    pub const APPLYSET_PART_OF: &str = "applyset.kubernetes.io/part-of";
    pub const ARGOCD_SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";
}

/// The name of the pod volume that holds the model, as the ModelService chart names it.
pub const MODEL_VOLUME: &str = "model-storage";

/// What rendering needs besides the workspace.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The namespace objects go into (already resolved: `--namespace`, the file, the context).
    pub namespace: String,
    /// Secret values by secret name and key, read from the environment at apply time. Without a
    /// value, a Secret is rendered with a placeholder and marked as such.
    pub secret_values: BTreeMap<String, BTreeMap<String, String>>,
    /// Add `argocd.argoproj.io/sync-wave` annotations (one wave per level of the step graph).
    pub argocd_waves: bool,
}

/// A Kubernetes object msws applies.
///
/// Boxed: k8s-openapi objects are large inline structs (a `Job` is 2.6 kB, a pod `Volume` 3.2 kB,
/// mostly empty `Option`s), and a thousand-service workspace would otherwise copy them around.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    PersistentVolumeClaim(Box<PersistentVolumeClaim>),
    Secret(Box<Secret>),
    /// Shared by several steps (the downloader's script): one value, referenced by each.
    ConfigMap(std::sync::Arc<ConfigMap>),
    Job(Box<Job>),
    ServiceAccount(Box<ServiceAccount>),
    ResourceClaimTemplate(Box<ResourceClaimTemplate>),
    Deployment(Box<Deployment>),
    ReplicaSet(Box<ReplicaSet>),
    /// A kind without a k8s-openapi type (LeaderWorkerSet, PodMonitor, DisaggregatedSet), or an
    /// object a workspace gives whole (a model service's extra objects).
    Dynamic(Box<Dynamic>),
}

/// An object as its JSON, with its metadata typed (for the ownership labels every object gets).
#[derive(Clone, Debug, PartialEq)]
pub struct Dynamic {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    /// Every field but `apiVersion`, `kind` and `metadata`.
    pub body: serde_json::Map<String, serde_json::Value>,
}

impl Object {
    pub fn kind(&self) -> &str {
        match self {
            Object::PersistentVolumeClaim(_) => "PersistentVolumeClaim",
            Object::Secret(_) => "Secret",
            Object::ConfigMap(_) => "ConfigMap",
            Object::Job(_) => "Job",
            Object::ServiceAccount(_) => "ServiceAccount",
            Object::ResourceClaimTemplate(_) => "ResourceClaimTemplate",
            Object::Deployment(_) => "Deployment",
            Object::ReplicaSet(_) => "ReplicaSet",
            Object::Dynamic(d) => &d.kind,
        }
    }

    pub fn api_version(&self) -> &str {
        match self {
            Object::PersistentVolumeClaim(_) | Object::Secret(_) | Object::ConfigMap(_) | Object::ServiceAccount(_) => {
                "v1"
            }
            Object::Job(_) => "batch/v1",
            Object::ResourceClaimTemplate(_) => "resource.k8s.io/v1",
            Object::Deployment(_) | Object::ReplicaSet(_) => "apps/v1",
            Object::Dynamic(d) => &d.api_version,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            Object::PersistentVolumeClaim(o) => &o.metadata,
            Object::Secret(o) => &o.metadata,
            Object::ConfigMap(o) => &o.metadata,
            Object::Job(o) => &o.metadata,
            Object::ServiceAccount(o) => &o.metadata,
            Object::ResourceClaimTemplate(o) => &o.metadata,
            Object::Deployment(o) => &o.metadata,
            Object::ReplicaSet(o) => &o.metadata,
            Object::Dynamic(o) => &o.metadata,
        }
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            Object::PersistentVolumeClaim(o) => &mut o.metadata,
            Object::Secret(o) => &mut o.metadata,
            Object::ConfigMap(o) => &mut std::sync::Arc::make_mut(o).metadata,
            Object::Job(o) => &mut o.metadata,
            Object::ServiceAccount(o) => &mut o.metadata,
            Object::ResourceClaimTemplate(o) => &mut o.metadata,
            Object::Deployment(o) => &mut o.metadata,
            Object::ReplicaSet(o) => &mut o.metadata,
            Object::Dynamic(o) => &mut o.metadata,
        }
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or("")
    }

    /// The object as the JSON an API server takes (apiVersion and kind included).
    pub fn to_json(&self) -> serde_json::Value {
        let v = match self {
            Object::PersistentVolumeClaim(o) => serde_json::to_value(&**o),
            Object::Secret(o) => serde_json::to_value(&**o),
            Object::ConfigMap(o) => serde_json::to_value(&**o),
            Object::Job(o) => serde_json::to_value(&**o),
            Object::ServiceAccount(o) => serde_json::to_value(&**o),
            Object::ResourceClaimTemplate(o) => serde_json::to_value(&**o),
            Object::Deployment(o) => serde_json::to_value(&**o),
            Object::ReplicaSet(o) => serde_json::to_value(&**o),
            Object::Dynamic(o) => {
                let mut m = serde_json::Map::new();
                m.insert("apiVersion".into(), o.api_version.clone().into());
                m.insert("kind".into(), o.kind.clone().into());
                m.insert("metadata".into(), serde_json::to_value(&o.metadata).unwrap_or_default());
                m.extend(o.body.clone());
                Ok(serde_json::Value::Object(m))
            }
        };
        // Serialising these types cannot fail: they hold only strings, numbers, maps and lists.
        v.unwrap_or(serde_json::Value::Null)
    }
}

/// The objects of one step.
#[derive(Clone, Debug)]
pub struct StepObjects {
    pub step: StepId,
    /// The step's level in the graph (0: depends on nothing), used for sync waves.
    pub level: usize,
    pub objects: Vec<Object>,
    /// Said in `msws render` output where a step has no object of its own.
    pub note: Option<String>,
    /// What msws changed in the user's manifests (a model service with `manifests`).
    pub adapted: Option<Adapted>,
}

/// The changes msws makes to a user's workloads to serve the model from a claim, one a line, each
/// with its reason: shown by `msws plan` and `msws render` so none of them is a surprise.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Adapted {
    /// Where the manifests came from ("the file recipe.yaml", "the Kustomize directory …").
    pub source: String,
    pub changes: Vec<String>,
}

/// Every step's objects, in apply order.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub workspace: String,
    pub namespace: String,
    pub steps: Vec<StepObjects>,
}

impl Rendered {
    /// Every step's objects, in order; an object shared by several steps comes once per step.
    pub fn objects(&self) -> impl Iterator<Item = (&StepId, &Object)> {
        self.steps.iter().flat_map(|s| s.objects.iter().map(move |o| (&s.step, o)))
    }

    /// Each object once, with the first step that applies it.
    pub fn unique_objects(&self) -> impl Iterator<Item = (&StepId, &Object)> {
        let mut seen = std::collections::HashSet::new();
        self.objects().filter(move |(_, o)| seen.insert((o.kind(), o.name().to_string())))
    }
}

/// Merges `over` into `base`: objects key by key, recursively; any other value replaces.
pub fn merge_json(base: &mut serde_json::Value, over: &serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) => merge_json(existing, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The ApplySet parent: a ConfigMap named after the workspace holds the inventory.
pub fn applyset_parent_name(workspace: &str) -> String {
    format!("msws-{workspace}")
}

/// The ApplySet id (KEP-3659): `applyset-<base64url(sha256(<name>.<namespace>.<kind>.<group>))>-v1`.
pub fn applyset_id(workspace: &str, namespace: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let key = format!("{}.{namespace}.ConfigMap.", applyset_parent_name(workspace));
    let hash = Sha256::digest(key.as_bytes());
    format!("applyset-{}-v1", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash))
}

/// Shared by every object of a render: the workspace's labels and msws's own.
pub(crate) struct Meta<'a> {
    ws: &'a Workspace,
    namespace: &'a str,
    applyset: String,
}

impl Meta<'_> {
    /// Metadata for an object of `step`: the workspace's labels and annotations, then the object's
    /// own, then msws's (which win: ownership must not be overridable by accident).
    pub(crate) fn object(&self, name: &str, step: &StepId, labels: &Map, annotations: &Map) -> ObjectMeta {
        let mut l: BTreeMap<String, String> = self.ws.labels.clone();
        l.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        l.insert(keys::MANAGED_BY.into(), keys::MANAGER.into());
        l.insert(keys::WORKSPACE.into(), self.ws.name.clone());
        l.insert(keys::APPLYSET_PART_OF.into(), self.applyset.clone());
        let mut a: BTreeMap<String, String> = self.ws.annotations.clone();
        a.extend(annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
        a.insert(keys::STEP.into(), step.to_string());
        ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(self.namespace.to_string()),
            labels: Some(l),
            annotations: Some(a),
            ..ObjectMeta::default()
        }
    }
}

pub(crate) fn quantity(q: &crate::model::Quantity) -> K8sQuantity {
    K8sQuantity(q.as_str().to_string())
}

/// Below this many steps, rendering on one thread is faster than starting others.
const PARALLEL_FROM: usize = 256;

/// Renders every step of the workspace, in the graph's order.
pub fn render(ws: &Workspace, graph: &StepGraph, opts: &Options) -> Rendered {
    let meta = Meta { ws, namespace: &opts.namespace, applyset: applyset_id(&ws.name, &opts.namespace) };
    let lookup = ws.lookup();
    let levels = levels(graph);
    // One copy of the downloader's script, shared by every download step.
    let script = (!ws.downloads.is_empty()).then(|| std::sync::Arc::new(download::script_config_map(&meta)));
    let one = |i: petgraph::graph::NodeIndex| -> StepObjects {
        let step = graph.step(i).id.clone();
        let mut adapted = None;
        let (objects, note) = match step.kind {
            StepKind::Storage => storage(&lookup, &meta, &step),
            StepKind::Secret => secret(&lookup, &meta, &step, opts),
            StepKind::Download => match (lookup.downloads.get(step.name.as_str()), &script) {
                (Some(d), Some(script)) => (
                    vec![Object::ConfigMap(script.clone()), Object::Job(Box::new(download::job(d, &meta, &step)))],
                    None,
                ),
                _ => (vec![], None),
            },
            StepKind::Release => (
                vec![],
                Some(format!(
                    "deletes Job {} and its pods once the download is verified, so the servers can attach the claim",
                    job_name(&step.name)
                )),
            ),
            StepKind::PrePull => (
                vec![],
                Some(format!(
                    "pulls the images of model-service {} onto the nodes its pods can land on that miss them, while the download runs",
                    step.name
                )),
            ),
            StepKind::ModelService => match lookup.services.get(step.name.as_str()) {
                Some(s) => match &s.manifests {
                    Some(m) => {
                        let (mut objects, changes) = manifests::objects(s, m, ws, &lookup, &meta, &step);
                        objects.extend(service::extra_objects(s, &meta, &step));
                        adapted = Some(Adapted { source: m.source.clone(), changes });
                        (objects, None)
                    }
                    None => (service::objects(s, ws, &lookup, &meta, &step), None),
                },
                None => (vec![], None),
            },
        };
        let level = levels.get(i.index()).copied().unwrap_or(0);
        let mut objects = objects;
        if opts.argocd_waves {
            // Shared objects stay identical in every step: the earliest wave is theirs.
            for o in objects.iter_mut().filter(|o| !matches!(o, Object::ConfigMap(_))) {
                o.metadata_mut()
                    .annotations
                    .get_or_insert_with(BTreeMap::new)
                    .insert(keys::ARGOCD_SYNC_WAVE.into(), level.to_string());
            }
        }
        StepObjects { step, level, objects, note, adapted }
    };
    // Steps render independently: a large workspace is split over the cores, in order, so the
    // result is the same as rendering one step after another.
    let order = graph.order();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let mut steps: Vec<StepObjects> = if order.len() < PARALLEL_FROM || threads < 2 {
        order.iter().map(|&i| one(i)).collect()
    } else {
        let chunk = order.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = order
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(|&i| one(i)).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
        })
    };
    if opts.argocd_waves
        && let Some(script) = &script
    {
        let wave = steps.iter().filter(|s| s.step.kind == StepKind::Download).map(|s| s.level).min().unwrap_or(0);
        let mut shared = (**script).clone();
        shared
            .metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(keys::ARGOCD_SYNC_WAVE.into(), wave.to_string());
        let shared = std::sync::Arc::new(shared);
        for o in steps.iter_mut().flat_map(|s| s.objects.iter_mut()) {
            if let Object::ConfigMap(c) = o {
                *c = shared.clone();
            }
        }
    }
    Rendered { workspace: ws.name.clone(), namespace: opts.namespace.clone(), steps }
}

/// Each step's level: 0 for steps that wait for nothing, else one more than its latest dependency.
fn levels(graph: &StepGraph) -> Vec<usize> {
    let mut level = vec![0usize; graph.graph.node_count()];
    for &i in graph.order() {
        level[i.index()] = graph.dependencies(i).iter().map(|d| level[d.index()] + 1).max().unwrap_or(0);
    }
    level
}

fn storage(lookup: &Lookup, meta: &Meta, step: &StepId) -> (Vec<Object>, Option<String>) {
    let Some(s) = lookup.storages.get(step.name.as_str()) else { return (vec![], None) };
    if s.existing {
        return (vec![], Some(format!("claim {} exists already: checked at apply time, never changed", s.name)));
    }
    let requests = s.size.as_ref().map(|q| BTreeMap::from([("storage".to_string(), quantity(q))]));
    let pvc = PersistentVolumeClaim {
        metadata: meta.object(&s.name, step, &s.labels, &s.annotations),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec![s.access.as_str().to_string()]),
            resources: Some(VolumeResourceRequirements { requests, ..Default::default() }),
            storage_class_name: s.class.clone(),
            volume_name: s.volume.clone(),
            ..Default::default()
        }),
        status: None,
    };
    (vec![Object::PersistentVolumeClaim(Box::new(pvc))], None)
}

fn secret(lookup: &Lookup, meta: &Meta, step: &StepId, opts: &Options) -> (Vec<Object>, Option<String>) {
    let Some(s) = lookup.secrets.get(step.name.as_str()) else { return (vec![], None) };
    let SecretSource::FromEnv { var, key } = &s.source else {
        return (vec![], Some(format!("secret {} exists already: checked at apply time, never changed", s.name)));
    };
    let value = opts.secret_values.get(&s.name).and_then(|m| m.get(key));
    let mut metadata = meta.object(&s.name, step, &Map::new(), &Map::new());
    let (data, string_data) = match value {
        Some(v) => (Some(BTreeMap::from([(key.clone(), k8s_openapi::ByteString(v.as_bytes().to_vec()))])), None),
        None => {
            metadata.annotations.get_or_insert_with(BTreeMap::new).insert(keys::PLACEHOLDER.into(), "true".into());
            (None, Some(BTreeMap::from([(key.clone(), format!("(set from ${var} at apply time)"))])))
        }
    };
    let secret = Secret { metadata, type_: Some("Opaque".into()), data, string_data, immutable: None };
    (vec![Object::Secret(Box::new(secret))], None)
}
