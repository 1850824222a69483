//! The fake API server: storage, resource versions, field ownership, and the verbs of the
//! [`Cluster`](crate::cluster::Cluster) trait, all on one [`State`] behind the fake's mutex.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::controllers::{JobRun, PodRun};
use super::fields::{self, FieldSet, Manager, Scope};
use super::status::{self, FieldError};
use super::{JobScript, PodFate, Request, Verb, clock, defaults, validate};
use crate::cluster::{ApplyOptions, BUILT_IN, ClusterError, FIELD_MANAGER, KINDS, Kind, ObjectRef, Propagation};

/// One stored object and who owns its fields.
#[derive(Clone, Debug)]
pub(super) struct Stored {
    /// The object as the server keeps it, `resourceVersion` included, `managedFields` excluded.
    pub obj: Value,
    pub managers: Vec<Manager>,
    /// When it was created, on the simulated clock.
    pub created: Duration,
}

/// A scripted failure: the `remaining`-th next request matching `verb` and `kind` fails.
pub(super) struct Fault {
    pub verb: Verb,
    pub kind: String,
    pub remaining: usize,
    pub error: ClusterError,
}

/// Where the simulated clock stood at a moment of tokio time, once the fake follows tokio's
/// clock ([`FakeCluster::follow_runtime_clock`](super::FakeCluster::follow_runtime_clock)):
/// from then on the simulated time is `sim` plus the tokio time elapsed since `tokio`.
#[derive(Clone, Copy, Debug)]
pub(super) struct RuntimeAnchor {
    pub sim: Duration,
    pub tokio: tokio::time::Instant,
}

/// Everything the fake knows, behind one lock.
pub(super) struct State {
    pub now: Duration,
    /// Set when the clock follows tokio time; `None`: it moves only when told to.
    pub runtime: Option<RuntimeAnchor>,
    pub default_namespace: String,
    pub bind_delay: Duration,
    pub ready_delay: Duration,
    /// How long a pod takes to go once deleted (`set_pod_termination`); zero: at once.
    pub pod_termination: Duration,
    /// Pods deleted while pods take time to go, and when each goes.
    pub terminating: BTreeMap<ObjectRef, Duration>,
    /// The resource version the controllers last ran on: a write after it (a request's) has
    /// not been reconciled yet.
    pub settled: u64,
    pub latency: Duration,
    pub objects: BTreeMap<ObjectRef, Stored>,
    /// Objects by the uid of each of their owners (kept in step with `objects` by `commit`
    /// and `remove`, so controllers find dependents without scanning everything).
    pub owned: HashMap<String, BTreeSet<ObjectRef>>,
    /// The last resource version handed out (one counter for every kind, as etcd's revision).
    pub rv: u64,
    uids: u64,
    names: u64,
    pub ips: u64,
    /// The last cluster IP handed to a Service (10.96.0.0/12, as kubeadm's default range).
    pub service_ips: u64,
    /// The last node port handed out (30000–32767).
    pub node_ports: u64,
    /// Custom resources the cluster serves, by (apiVersion, kind): their CRDs are installed.
    pub crds: BTreeMap<(String, String), &'static Kind>,
    pub job_scripts: BTreeMap<String, JobScript>,
    pub pod_scripts: BTreeMap<String, JobScript>,
    /// By workload name: a Deployment, a standalone ReplicaSet, a LeaderWorkerSet, a
    /// DisaggregatedSet (whose LeaderWorkerSets' pods follow it).
    pub deployment_scripts: BTreeMap<String, PodFate>,
    pub image_scripts: BTreeMap<String, PodFate>,
    pub faults: Vec<Fault>,
    /// Requests that still succeed before the connection is lost (`Some(0)`: lost now).
    pub fail_after: Option<usize>,
    pub requests: BTreeMap<(Verb, String), usize>,
    pub request_log: Vec<Request>,
    /// Simulated kubelet state, by pod uid.
    pub pods: BTreeMap<String, PodRun>,
    /// Simulated Job controller state, by Job uid.
    pub jobs: BTreeMap<String, JobRun>,
    /// When a WaitForFirstConsumer claim's first consumer was seen, by claim uid.
    pub consumers_seen: BTreeMap<String, Duration>,
    /// When a Deployment's rollout last made progress, by Deployment uid.
    pub progress: BTreeMap<String, Duration>,
    /// Times at which a controller has something to do (recomputed by every reconcile).
    pub wakeups: BTreeSet<Duration>,
    /// Files on claims, by (namespace, claim) and path (`files.rs`).
    pub claim_files: BTreeMap<(String, String), BTreeMap<String, super::files::ClaimFile>>,
    /// Every change of the store, oldest first, for watches (`watch.rs`).
    pub history: std::collections::VecDeque<super::watch::Change>,
    /// The resource version of the newest change dropped from the history: a watch from an
    /// older one is expired.
    pub history_floor: u64,
    /// Woken at every recorded change (open watches wait on it).
    pub changed: std::sync::Arc<tokio::sync::Notify>,
    /// Scripted misbehaviours of the next watch of a kind.
    pub watch_faults: Vec<(String, super::watch::WatchFault)>,
    /// Lines a Job's pods print as they run, by Job name: each after its delay from the pod's
    /// start.
    pub log_lines: BTreeMap<String, Vec<(Duration, String)>>,
    /// Whether msws's user may read nodes (a ClusterRole). Default false: the common case of
    /// namespaced rights only; a LIST or GET of nodes is then a 403.
    pub nodes_readable: bool,
    /// Nodes whose extended resources (accelerators) are accounted: those a test added. The
    /// default node runs whatever it is given, as it always did.
    pub accounted: BTreeSet<String>,
    /// How long pulling an image takes on a node, and its size; an image not listed pulls at once.
    pub image_pulls: BTreeMap<String, (Duration, u64)>,
    /// Pulls in progress, by (node, image): when they finish. Pods of one node share a pull.
    pub pulling: BTreeMap<(String, String), (Duration, Duration)>,
}

/// Kinds whose objects carry `metadata.generation`: the built-in ones that have a status to
/// observe it with, and every custom resource (the API server sets it on all of them).
pub(super) fn has_generation(kind: &Kind) -> bool {
    !BUILT_IN.contains(&kind.api_version)
        || matches!(
            kind.kind,
            "Deployment"
                | "ReplicaSet"
                | "StatefulSet"
                | "DaemonSet"
                | "Job"
                | "CronJob"
                | "Pod"
                | "HorizontalPodAutoscaler"
                | "PodDisruptionBudget"
        )
}

/// Kinds whose `status` is a subresource: writes to the main resource keep the stored status.
fn has_status(kind: &str) -> bool {
    matches!(
        kind,
        "PersistentVolumeClaim"
            | "PersistentVolume"
            | "Job"
            | "CronJob"
            | "Deployment"
            | "ReplicaSet"
            | "StatefulSet"
            | "DaemonSet"
            | "Pod"
            | "Namespace"
            | "Service"
            | "HorizontalPodAutoscaler"
            | "PodDisruptionBudget"
            | "LeaderWorkerSet"
            | "DisaggregatedSet"
    )
}

/// What a real server answers a request for an API it does not serve: GET, LIST and DELETE
/// read as the kube adapter reads a plain-text 404 ("the API for … not found"), writes as the
/// 404 itself.
pub(super) fn not_served(api_version: &str, kind: &str) -> ClusterError {
    ClusterError::NotFound(format!("the API for {kind} ({api_version}) on fake not found"))
}

pub(super) fn not_served_write() -> ClusterError {
    ClusterError::NotFound("fake: 404 page not found".into())
}

pub(super) fn uid_of(v: &Value) -> &str {
    v.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("")
}

pub(super) fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = json!({});
    }
    // Just made sure it is an object.
    v["metadata"].as_object_mut().expect("metadata is an object")
}

/// Everything but metadata and status, for "did the spec change".
fn spec_part(v: &Value) -> Value {
    let mut m = v.as_object().cloned().unwrap_or_default();
    m.remove("metadata");
    m.remove("status");
    Value::Object(m)
}

/// Puts the fields of an object in the order the API server writes them.
fn ordered(obj: &Value) -> Value {
    let Some(m) = obj.as_object() else { return obj.clone() };
    let mut out = Map::new();
    for k in ["kind", "apiVersion", "metadata"] {
        if let Some(v) = m.get(k) {
            out.insert(k.into(), v.clone());
        }
    }
    for (k, v) in m {
        if !matches!(k.as_str(), "kind" | "apiVersion" | "metadata" | "status") {
            out.insert(k.clone(), v.clone());
        }
    }
    if let Some(s) = m.get("status") {
        out.insert("status".into(), s.clone());
    }
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        let order = [
            "name",
            "generateName",
            "namespace",
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "labels",
            "annotations",
            "ownerReferences",
            "finalizers",
            "managedFields",
        ];
        let mut sorted = Map::new();
        for k in order {
            if let Some(v) = meta.remove(k) {
                sorted.insert(k.into(), v);
            }
        }
        sorted.append(meta);
        *meta = sorted;
    }
    Value::Object(out)
}

impl State {
    pub fn new(default_namespace: &str) -> State {
        let mut s = State {
            now: clock::START,
            runtime: None,
            default_namespace: default_namespace.to_string(),
            bind_delay: Duration::from_secs(1),
            ready_delay: Duration::from_secs(2),
            pod_termination: Duration::ZERO,
            terminating: BTreeMap::new(),
            settled: 0,
            latency: Duration::ZERO,
            objects: BTreeMap::new(),
            owned: HashMap::new(),
            rv: 100,
            uids: 0,
            names: 0,
            ips: 1,
            service_ips: 0,
            node_ports: 0,
            crds: BTreeMap::new(),
            job_scripts: BTreeMap::new(),
            pod_scripts: BTreeMap::new(),
            deployment_scripts: BTreeMap::new(),
            image_scripts: BTreeMap::new(),
            faults: Vec::new(),
            fail_after: None,
            requests: BTreeMap::new(),
            request_log: Vec::new(),
            pods: BTreeMap::new(),
            jobs: BTreeMap::new(),
            consumers_seen: BTreeMap::new(),
            progress: BTreeMap::new(),
            wakeups: BTreeSet::new(),
            claim_files: BTreeMap::new(),
            history: std::collections::VecDeque::new(),
            history_floor: 0,
            changed: std::sync::Arc::new(tokio::sync::Notify::new()),
            watch_faults: Vec::new(),
            log_lines: BTreeMap::new(),
            nodes_readable: false,
            accounted: BTreeSet::new(),
            image_pulls: BTreeMap::new(),
            pulling: BTreeMap::new(),
        };
        let mut namespaces = vec!["default".to_string(), default_namespace.to_string()];
        namespaces.dedup();
        for ns in namespaces {
            // A fresh Namespace object is always accepted.
            let _ = s.insert(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}));
        }
        let _ = s.insert(&super::FakeNode::new(super::controllers::NODE).to_json());
        s
    }

    /// On the runtime clock, runs the controllers up to the simulated time that tokio's clock
    /// says it is. Without it, nothing.
    pub fn catch_up(&mut self) {
        let Some(anchor) = self.runtime else { return };
        let target = anchor.sim + tokio::time::Instant::now().saturating_duration_since(anchor.tokio);
        if target > self.now {
            let d = target - self.now;
            self.advance(d);
        }
    }

    pub fn time(&self) -> String {
        clock::rfc3339(self.now)
    }

    pub fn next_uid(&mut self) -> String {
        self.uids += 1;
        format!("00000000-0000-4000-8000-{:012x}", self.uids)
    }

    /// `n` characters as Kubernetes generates names (no vowels, no confusable digits), from a
    /// counter: deterministic, and different every time.
    pub fn suffix(&mut self, n: usize) -> String {
        self.names += 1;
        hashed_name(&self.names.to_string(), n)
    }

    // ---- requests: accounting and faults ----

    /// Counts a request, lets the simulated latency pass, and fails it if a fault says so.
    /// (On the runtime clock the latency is a tokio sleep before the state is locked, so that
    /// concurrent requests overlap: see `FakeCluster::serve`.)
    pub fn begin(
        &mut self,
        verb: Verb,
        kind: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<(), ClusterError> {
        if self.runtime.is_none() && !self.latency.is_zero() {
            self.advance(self.latency);
        }
        *self.requests.entry((verb, kind.to_string())).or_default() += 1;
        self.request_log.push(Request {
            verb,
            kind: kind.to_string(),
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
        });
        if kind == "Node" && !self.nodes_readable && matches!(verb, Verb::Get | Verb::List) {
            // The message a real server sends a user with namespaced rights only.
            let user = format!("system:serviceaccount:{}:msws", self.default_namespace);
            let (what, verb) = match (name, verb) {
                (Some(n), Verb::Get) => (format!("nodes {n:?}"), "get"),
                _ => ("nodes".to_string(), "list"),
            };
            let msg = format!(
                "{what} is forbidden: User {user:?} cannot {verb} resource \"nodes\" in API group \"\" at the cluster scope"
            );
            let mut st = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": msg, "reason": "Forbidden", "details": {"kind": "nodes"}, "code": 403});
            if let Some(n) = name {
                st["details"]["name"] = json!(n);
            }
            return Err(ClusterError::from_status(403, &st));
        }
        match &mut self.fail_after {
            Some(0) => {
                return Err(ClusterError::Connection(
                    "dial tcp 127.0.0.1:6443: connect: connection refused (FakeCluster disconnected)".into(),
                ));
            }
            Some(n) => *n -= 1,
            None => {}
        }
        let hit = self.faults.iter_mut().position(|f| {
            if f.verb == verb && (f.kind == kind || f.kind == "*") {
                f.remaining -= 1;
                f.remaining == 0
            } else {
                false
            }
        });
        if let Some(i) = hit {
            return Err(self.faults.remove(i).error);
        }
        Ok(())
    }

    // ---- storage primitives ----

    /// The kind this server serves under `api_version` and `kind`: a built-in one, or a custom
    /// resource whose CRD is installed.
    pub fn served(&self, api_version: &str, kind: &str) -> Option<&'static Kind> {
        if let Some(k) = self.crds.get(&(api_version.to_string(), kind.to_string())) {
            return Some(k);
        }
        KINDS.iter().find(|k| k.api_version == api_version && k.kind == kind && BUILT_IN.contains(&k.api_version))
    }

    /// The discovery document of a group-version (`APIResourceList`) as a server answers it: its
    /// kinds, each with its `/status` subresource where it has one. `None`: not served.
    pub fn resource_list(&self, api_version: &str) -> Option<Value> {
        let mut kinds: Vec<&'static Kind> = KINDS
            .iter()
            .filter(|k| k.api_version == api_version && BUILT_IN.contains(&k.api_version))
            .chain(self.crds.values().copied().filter(|k| k.api_version == api_version))
            .collect();
        kinds.sort_by_key(|k| k.plural);
        kinds.dedup_by_key(|k| k.plural);
        if kinds.is_empty() {
            return None;
        }
        let verbs = json!(["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]);
        let mut resources = Vec::new();
        for k in kinds {
            resources.push(json!({"name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced,
                                  "kind": k.kind, "verbs": verbs}));
            if has_status(k.kind) {
                resources.push(json!({"name": format!("{}/status", k.plural), "singularName": "",
                                      "namespaced": k.namespaced, "kind": k.kind, "verbs": ["get", "patch", "update"]}));
            }
        }
        Some(
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": api_version, "resources": resources}),
        )
    }

    /// What the kube adapter checks before it sends a request: msws knows how to address the
    /// kind (one of its own, or one discovered). The fake refuses the same way, without
    /// counting a request, so code that forgets to discover a kind fails here as on a cluster.
    pub fn known(api_version: &str, kind: &str) -> Result<(), ClusterError> {
        match Kind::find(api_version, kind) {
            Some(_) => Ok(()),
            None => Err(ClusterError::Client(format!(
                "msws does not handle the kind {kind} (apiVersion {api_version}): it is not one of its kinds, and API discovery has not found it"
            ))),
        }
    }

    /// The reference of an object of a kind the server serves (a namespaced kind without a
    /// namespace goes to the default one), or the not-served 404.
    pub fn resolve(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(ObjectRef, &'static Kind), ClusterError> {
        let k = self.served(api_version, kind).ok_or_else(|| not_served(api_version, kind))?;
        let ns = k.namespaced.then(|| namespace.unwrap_or(&self.default_namespace).to_string());
        Ok((ObjectRef { api_version: api_version.into(), kind: kind.into(), namespace: ns, name: name.into() }, k))
    }

    pub fn resolve_obj(&self, obj: &Value) -> Result<(ObjectRef, &'static Kind), ClusterError> {
        let s = |p: &str| obj.pointer(p).and_then(Value::as_str);
        let (Some(av), Some(kind)) = (s("/apiVersion"), s("/kind")) else {
            return Err(ClusterError::Client("object has no apiVersion or kind".into()));
        };
        let Some(name) = s("/metadata/name").filter(|n| !n.is_empty()) else {
            return Err(ClusterError::Client(format!("{kind} has no metadata.name")));
        };
        // The controllers index into these: anything but an object there is refused up front.
        for p in [
            "/metadata",
            "/spec",
            "/status",
            "/spec/template",
            "/spec/template/metadata",
            "/spec/template/spec",
            "/spec/leaderWorkerTemplate",
            "/spec/leaderWorkerTemplate/workerTemplate",
            "/spec/leaderWorkerTemplate/leaderTemplate",
        ] {
            if obj.pointer(p).is_some_and(|v| !v.is_object()) {
                return Err(ClusterError::Client(format!("{kind} {name}: {p} is not an object")));
            }
        }
        if obj.pointer("/spec/roles").is_some_and(|v| !v.is_array()) {
            return Err(ClusterError::Client(format!("{kind} {name}: /spec/roles is not a list")));
        }
        match self.resolve(av, kind, s("/metadata/namespace"), name) {
            Err(ClusterError::NotFound(_)) => Err(not_served_write()),
            other => other,
        }
    }

    fn check_namespace(&self, r: &ObjectRef, kind: &Kind) -> Result<(), ClusterError> {
        let Some(ns) = &r.namespace else { return Ok(()) };
        match self.objects.get(&ObjectRef::new("v1", "Namespace", None, ns)) {
            None => Err(status::namespace_not_found(ns)),
            Some(s) if s.obj.pointer("/metadata/deletionTimestamp").is_some() => Err(status::forbidden(
                kind,
                &r.name,
                &format!("unable to create new content in namespace {ns} because it is being terminated"),
            )),
            Some(_) => Ok(()),
        }
    }

    pub fn get_obj(&self, r: &ObjectRef) -> Option<&Value> {
        self.objects.get(r).map(|s| &s.obj)
    }

    /// Stores a version of an object, with a new resource version, if it changed. True if it did.
    pub fn commit(&mut self, r: &ObjectRef, mut obj: Value, managers: Vec<Manager>) -> bool {
        let created = match self.objects.get(r) {
            Some(s) if s.obj == obj && s.managers == managers => return false,
            Some(s) => s.created,
            None => self.now,
        };
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), self.rv.to_string().into());
        for uid in owner_uids(&obj) {
            self.owned.entry(uid.to_string()).or_default().insert(r.clone());
        }
        let ty = match self.objects.insert(r.clone(), Stored { obj, managers, created }) {
            Some(old) => {
                self.unindex(r, &old.obj);
                super::watch::ChangeType::Modified
            }
            None => super::watch::ChangeType::Added,
        };
        if let Some(rendered) = self.output(r) {
            self.record(r, ty, rendered);
        }
        true
    }

    /// Drops the owner-index entries `old` had that the stored version of `r` no longer has.
    fn unindex(&mut self, r: &ObjectRef, old: &Value) {
        let current: BTreeSet<String> =
            self.objects.get(r).map(|s| owner_uids(&s.obj).map(str::to_string).collect()).unwrap_or_default();
        for uid in owner_uids(old).filter(|u| !current.contains(*u)) {
            if let Some(set) = self.owned.get_mut(uid) {
                set.remove(r);
                if set.is_empty() {
                    self.owned.remove(uid);
                }
            }
        }
    }

    /// Objects with an owner reference to `uid`.
    pub fn owned_by(&self, uid: &str) -> impl Iterator<Item = &ObjectRef> {
        self.owned.get(uid).into_iter().flatten()
    }

    /// Removes an object for good (the deletion moves the resource version on, as in etcd).
    /// Deletes an object as a controller does (the garbage collector, a foreground deletion):
    /// at once, except a pod while pods take time to go (`pod_termination`: the kubelet stops
    /// its containers, unmounts its volumes, and the volumes detach), which is marked deleted
    /// and goes when its time is up. Called again, it removes the pod once that time has come.
    pub fn dispose(&mut self, r: &ObjectRef) {
        let graceful = r.kind == "Pod" && r.api_version == "v1" && !self.pod_termination.is_zero();
        if !graceful {
            self.remove(r);
            return;
        }
        match self.terminating.get(r).copied() {
            Some(until) if until <= self.now => {
                self.terminating.remove(r);
                self.remove(r);
            }
            // Noted again at every pass: a reconcile forgets the moments noted before it.
            Some(until) => self.wake(until),
            None => {
                let Some(mut obj) = self.get_obj(r).cloned() else { return };
                let m = meta_mut(&mut obj);
                if !m.contains_key("deletionTimestamp") {
                    m.insert("deletionTimestamp".into(), self.time().into());
                    m.insert("deletionGracePeriodSeconds".into(), self.pod_termination.as_secs().into());
                }
                self.terminate_later(r);
                self.write_as(r, obj, "kube-controller-manager");
            }
        }
    }

    /// Notes that a deleted pod goes `pod_termination` from now.
    fn terminate_later(&mut self, r: &ObjectRef) {
        let until = self.now + self.pod_termination;
        self.terminating.insert(r.clone(), until);
        self.wake(until);
    }

    pub fn remove(&mut self, r: &ObjectRef) -> bool {
        self.terminating.remove(r);
        let Some(old) = self.objects.remove(r) else { return false };
        self.unindex(r, &old.obj);
        self.rv += 1;
        let mut last = self.render(&old.obj, &old.managers);
        meta_mut(&mut last).insert("resourceVersion".into(), self.rv.to_string().into());
        self.record(r, super::watch::ChangeType::Deleted, last);
        true
    }

    /// A write by a controller or another tool (an update, not an apply): spec and metadata
    /// changes are owned by `manager`, status changes by `manager` through the status subresource.
    pub fn write_as(&mut self, r: &ObjectRef, new: Value, manager: &str) -> bool {
        let Some(old) = self.objects.get(r) else { return false };
        if old.obj == new {
            return false;
        }
        let mut managers = old.managers.clone();
        let (time, av) = (self.time(), r.api_version.clone());
        fields::record_update(&mut managers, (manager, None), &av, &time, &old.obj, &new, Scope::Main);
        fields::record_update(&mut managers, (manager, Some("status")), &av, &time, &old.obj, &new, Scope::Status);
        self.commit(r, new, managers)
    }

    /// Server-set metadata of a new object.
    fn stamp(&mut self, obj: &mut Value, kind: &Kind) -> String {
        let uid = self.next_uid();
        let time = self.time();
        let m = meta_mut(obj);
        m.insert("uid".into(), uid.clone().into());
        m.insert("creationTimestamp".into(), time.into());
        if has_generation(kind) {
            m.insert("generation".into(), 1.into());
        }
        uid
    }

    fn default_class(&self) -> Option<String> {
        self.objects
            .iter()
            .filter(|(r, _)| r.kind == "StorageClass")
            .find(|(_, s)| {
                s.obj.pointer("/metadata/annotations/storageclass.kubernetes.io~1is-default-class")
                    == Some(&json!("true"))
            })
            .map(|(r, _)| r.name.clone())
    }

    /// A new object's server fields and defaults.
    fn prepare_new(&mut self, obj: &mut Value, kind: &Kind) {
        if obj.pointer("/metadata/name").is_none()
            && let Some(gn) = obj.pointer("/metadata/generateName").and_then(Value::as_str).map(str::to_string)
        {
            let name = gn + &self.suffix(5);
            meta_mut(obj).insert("name".into(), name.into());
        }
        let uid = self.stamp(obj, kind);
        defaults::apply(obj, kind.kind);
        let class = self.default_class();
        defaults::on_create(obj, kind.kind, &uid, class.as_deref());
        if kind.kind == "Service" {
            self.allocate(obj);
        }
    }

    /// An update of a Service keeps its cluster IPs (a write that leaves them out gets the old
    /// ones, as the Service strategy carries them over), and a port that lost its node port
    /// gets a new one.
    fn keep_allocations(&mut self, kind: &Kind, live: &Value, new: &mut Value) {
        if kind.kind != "Service" {
            return;
        }
        if let Some(spec) = new.get_mut("spec").and_then(Value::as_object_mut) {
            for k in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                if spec.get(k).is_none_or(Value::is_null)
                    && let Some(v) = live.pointer(&format!("/spec/{k}"))
                {
                    spec.insert(k.into(), v.clone());
                }
            }
        }
        self.allocate(new);
    }

    /// What the Service IP and node port allocators give a new Service: a cluster IP (none for
    /// a headless or ExternalName Service), its families, node ports for NodePort and
    /// LoadBalancer ports.
    fn allocate(&mut self, svc: &mut Value) {
        let Some(spec) = svc.get_mut("spec").and_then(Value::as_object_mut) else { return };
        let ty = spec.get("type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
        if ty == "ExternalName" {
            return;
        }
        let ip = match spec.get("clusterIP").and_then(Value::as_str) {
            Some(ip) if !ip.is_empty() => ip.to_string(),
            _ => {
                self.service_ips += 1;
                let n = self.service_ips;
                format!("10.96.{}.{}", n / 254, n % 254 + 1)
            }
        };
        spec.insert("clusterIP".into(), json!(ip));
        spec.entry("clusterIPs").or_insert_with(|| json!([ip]));
        spec.entry("ipFamilies").or_insert_with(|| json!(["IPv4"]));
        spec.entry("ipFamilyPolicy").or_insert_with(|| json!("SingleStack"));
        if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
            let ports = spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten();
            for p in ports.filter_map(Value::as_object_mut) {
                if p.get("nodePort").is_none_or(Value::is_null) {
                    self.node_ports += 1;
                    p.insert("nodePort".into(), json!(30000 + (self.node_ports % 2768)));
                }
            }
        }
    }

    /// Creates an object on behalf of a controller (no validation: controllers write valid objects).
    pub fn create_as(&mut self, mut obj: Value, manager: &str) -> Option<ObjectRef> {
        let kind = self.served(obj.get("apiVersion")?.as_str()?, obj.get("kind")?.as_str()?)?;
        self.prepare_new(&mut obj, kind);
        let (r, _) = self.resolve_obj(&obj).ok()?;
        let mut managers = Vec::new();
        let (time, empty) = (self.time(), json!({}));
        fields::record_update(&mut managers, (manager, None), kind.api_version, &time, &empty, &obj, Scope::Main);
        self.commit(&r, obj, managers);
        Some(r)
    }

    fn lookup_validate(&self, kind: &Kind, old: &Value, new: &Value) -> Result<(), ClusterError> {
        let class =
            |name: &str| self.get_obj(&ObjectRef::new("storage.k8s.io/v1", "StorageClass", None, name)).cloned();
        let volume = |name: &str| self.get_obj(&ObjectRef::new("v1", "PersistentVolume", None, name)).cloned();
        validate::on_update(kind, old, new, &validate::Lookup { class: &class, volume: &volume })
    }

    // ---- output ----

    /// An object as the server answers with it: fields in order, `managedFields` included.
    pub fn render(&self, obj: &Value, managers: &[Manager]) -> Value {
        let mut out = obj.clone();
        if !managers.is_empty() {
            meta_mut(&mut out).insert("managedFields".into(), managers.iter().map(Manager::to_json).collect());
        }
        ordered(&out)
    }

    pub fn output(&self, r: &ObjectRef) -> Option<Value> {
        self.objects.get(r).map(|s| self.render(&s.obj, &s.managers))
    }

    // ---- the verbs ----

    /// Server-side apply as `msws`.
    pub fn apply(&mut self, obj: &Value, opts: ApplyOptions) -> Result<Value, ClusterError> {
        let (r, kind) = self.resolve_obj(obj)?;
        if !validate::quantities_ok(obj) {
            return Err(status::bad_quantity(kind, r.namespace.as_deref(), &r.name, 500));
        }
        self.check_namespace(&r, kind)?;
        let applied = applied_config(obj, &r);
        let applied_set: FieldSet = fields::leaves(&fields::view(&applied, Scope::Main)).into_keys().collect();
        let time = self.time();
        let me = Manager {
            name: FIELD_MANAGER.into(),
            apply: true,
            subresource: None,
            api_version: kind.api_version.into(),
            time: time.clone(),
            fields: applied_set.clone(),
        };
        let Some(stored) = self.objects.get(&r) else {
            let mut new = applied;
            fields::normalize(&mut new);
            self.prepare_new(&mut new, kind);
            validate::on_create(kind, &new)?;
            let managers = vec![me];
            if opts.dry_run {
                return Ok(self.render(&new, &managers));
            }
            self.commit(&r, new, managers);
            return self.output(&r).ok_or_else(|| status::not_found(kind, &r.name));
        };
        let (live, mut managers) = (stored.obj.clone(), stored.managers.clone());
        if let Some(rv) = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str)
            && live.pointer("/metadata/resourceVersion").and_then(Value::as_str) != Some(rv)
        {
            return Err(status::modified(kind, &r.name));
        }
        let mut new = live.clone();
        fields::merge(&mut new, &applied, "");
        // Fields msws applied before and no longer applies go, unless someone else owns them too.
        let is_me = |m: &Manager| m.is(FIELD_MANAGER, true, None);
        let previous = managers.iter().find(|m| is_me(m)).map(|m| m.fields.clone()).unwrap_or_default();
        for p in previous.difference(&applied_set) {
            let shared = managers.iter().filter(|m| !is_me(m)).any(|m| m.fields.iter().any(|q| q.starts_with(p)));
            if !shared && fields::remove_at(&mut new, p) {
                // A map msws's fields were all that was in goes with them, as on a real server
                // (`strategy.rollingUpdate` when a Deployment switches to Recreate).
                for depth in (1..p.len()).rev() {
                    let parent = &p[..depth];
                    let empty =
                        fields::value_at(&new, parent).is_some_and(|v| v.as_object().is_some_and(|m| m.is_empty()));
                    let owned_by_others =
                        managers.iter().filter(|m| !is_me(m)).any(|m| m.fields.iter().any(|q| q.starts_with(parent)));
                    if !empty || owned_by_others || applied_set.iter().any(|q| q.starts_with(parent)) {
                        break;
                    }
                    fields::remove_at(&mut new, parent);
                }
            }
        }
        fields::normalize(&mut new);
        defaults::apply(&mut new, kind.kind);
        self.keep_allocations(kind, &live, &mut new);
        // Fields another manager owns with another value are conflicts, unless forced.
        let mut conflicts = Vec::new();
        let mut taken = Vec::new();
        for (i, m) in managers.iter().enumerate().filter(|(_, m)| !is_me(m)) {
            for p in m.fields.intersection(&applied_set) {
                if fields::value_at(&new, p) != fields::value_at(&live, p) {
                    conflicts.push((m.describe(), fields::path_string(p)));
                    taken.push((i, p.clone()));
                }
            }
        }
        if !conflicts.is_empty() && !opts.force {
            return Err(status::apply_conflicts(&conflicts));
        }
        self.lookup_validate(kind, &live, &new)?;
        for (i, p) in taken {
            managers[i].fields.remove(&p);
        }
        match managers.iter().position(is_me) {
            Some(i) if managers[i].fields == applied_set => {}
            Some(i) => managers[i] = me,
            None => managers.push(me),
        }
        managers.retain(|m| !m.fields.is_empty() || is_me(m));
        bump_generation(kind, &live, &mut new);
        if opts.dry_run {
            return Ok(self.render(&new, &managers));
        }
        self.commit(&r, new, managers);
        self.output(&r).ok_or_else(|| status::not_found(kind, &r.name))
    }

    /// POST, by `msws`.
    pub fn create(&mut self, obj: &Value) -> Result<Value, ClusterError> {
        let mut obj = obj.clone();
        if obj.pointer("/metadata/name").is_none()
            && let Some(gn) = obj.pointer("/metadata/generateName").and_then(Value::as_str).map(str::to_string)
        {
            let name = gn + &self.suffix(5);
            meta_mut(&mut obj).insert("name".into(), name.into());
        }
        let (r, kind) = self.resolve_obj(&obj)?;
        self.check_namespace(&r, kind)?;
        if self.objects.contains_key(&r) {
            return Err(status::already_exists(kind, &r.name));
        }
        if !validate::quantities_ok(&obj) {
            return Err(status::bad_quantity(kind, r.namespace.as_deref(), &r.name, 400));
        }
        let mut new = user_object(&obj, &r, kind);
        fields::normalize(&mut new);
        self.prepare_new(&mut new, kind);
        validate::on_create(kind, &new)?;
        let mut managers = Vec::new();
        let time = self.time();
        fields::record_update(
            &mut managers,
            (FIELD_MANAGER, None),
            kind.api_version,
            &time,
            &json!({}),
            &new,
            Scope::Main,
        );
        self.commit(&r, new, managers);
        self.output(&r).ok_or_else(|| status::not_found(kind, &r.name))
    }

    /// PUT (or another manager's update): the whole object, with a `resourceVersion`
    /// precondition when given (required when `require_rv`).
    pub fn update(&mut self, obj: &Value, who: (&str, Option<&str>), require_rv: bool) -> Result<Value, ClusterError> {
        let (r, kind) = self.resolve_obj(obj)?;
        let Some(stored) = self.objects.get(&r) else { return Err(status::not_found(kind, &r.name)) };
        let (live, mut managers) = (stored.obj.clone(), stored.managers.clone());
        match obj.pointer("/metadata/resourceVersion").and_then(Value::as_str) {
            Some(rv) if live.pointer("/metadata/resourceVersion").and_then(Value::as_str) != Some(rv) => {
                return Err(status::modified(kind, &r.name));
            }
            None if require_rv => {
                return Err(status::invalid(
                    kind,
                    &r.name,
                    vec![FieldError {
                        field: "metadata.resourceVersion".into(),
                        reason: "FieldValueInvalid",
                        detail: "Invalid value: 0x0: must be specified for an update".into(),
                    }],
                ));
            }
            _ => {}
        }
        self.check_namespace(&r, kind)?;
        if !validate::quantities_ok(obj) {
            return Err(status::bad_quantity(kind, r.namespace.as_deref(), &r.name, 400));
        }
        let mut new = user_object(obj, &r, kind);
        fields::normalize(&mut new);
        {
            let (live_meta, m) = (live.get("metadata").cloned().unwrap_or_default(), meta_mut(&mut new));
            for k in [
                "uid",
                "creationTimestamp",
                "generation",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "resourceVersion",
            ] {
                match live_meta.get(k) {
                    Some(v) => m.insert(k.into(), v.clone()),
                    None => m.remove(k),
                };
            }
        }
        if has_status(kind.kind)
            && let (Some(m), Some(s)) = (new.as_object_mut(), live.get("status"))
        {
            m.insert("status".into(), s.clone());
        }
        defaults::apply(&mut new, kind.kind);
        self.keep_allocations(kind, &live, &mut new);
        self.lookup_validate(kind, &live, &new)?;
        bump_generation(kind, &live, &mut new);
        let time = self.time();
        fields::record_update(&mut managers, who, kind.api_version, &time, &live, &new, Scope::Main);
        self.commit(&r, new, managers);
        self.output(&r).ok_or_else(|| status::not_found(kind, &r.name))
    }

    /// Seeds an object as it would be after its creation: server fields and defaults, no
    /// validation, no field manager; a status given is kept. Replaces an object of that name.
    pub fn insert(&mut self, obj: &Value) -> Result<Value, ClusterError> {
        let (r, kind) = self.resolve_obj(obj)?;
        let mut new = obj.clone();
        for k in ["resourceVersion", "managedFields"] {
            meta_mut(&mut new).remove(k);
        }
        if let Some(ns) = &r.namespace {
            meta_mut(&mut new).insert("namespace".into(), ns.clone().into());
        }
        fields::normalize(&mut new);
        let given = new.pointer("/metadata/uid").and_then(Value::as_str).map(str::to_string);
        let uid = match given {
            Some(u) => u,
            None => self.stamp(&mut new, kind),
        };
        if new.pointer("/metadata/creationTimestamp").is_none() {
            let t = self.time();
            meta_mut(&mut new).insert("creationTimestamp".into(), t.into());
        }
        defaults::apply(&mut new, kind.kind);
        let class = self.default_class();
        defaults::on_create(&mut new, kind.kind, &uid, class.as_deref());
        if let Some(old) = self.objects.remove(&r) {
            self.unindex(&r, &old.obj);
        }
        self.commit(&r, new, Vec::new());
        self.output(&r).ok_or_else(|| status::not_found(kind, &r.name))
    }

    /// DELETE.
    /// A delete's preconditions, as the API server checks them: 409 Conflict when the object is
    /// another one (uid) or changed (resourceVersion). A missing object passes (the delete is
    /// then a no-op).
    pub fn check_preconditions(&self, r: &ObjectRef, uid: &str, resource_version: &str) -> Result<(), ClusterError> {
        let Some(stored) = self.objects.get(r) else { return Ok(()) };
        let kind = self.served(&r.api_version, &r.kind).ok_or_else(|| not_served(&r.api_version, &r.kind))?;
        let (have_uid, have_rv) = (
            uid_of(&stored.obj).to_string(),
            stored.obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string(),
        );
        if have_uid != uid {
            return Err(status::precondition_failed(
                kind,
                &r.name,
                &format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have_uid}"),
            ));
        }
        if have_rv != resource_version {
            return Err(status::precondition_failed(
                kind,
                &r.name,
                &format!(
                    "Precondition failed: ResourceVersion in precondition: {resource_version}, ResourceVersion in object meta: {have_rv}"
                ),
            ));
        }
        Ok(())
    }

    pub fn delete(
        &mut self,
        r: &ObjectRef,
        propagation: Propagation,
        dry_run: bool,
    ) -> Result<Option<Value>, ClusterError> {
        let Some(stored) = self.objects.get(r) else { return Ok(None) };
        let kind = self.served(&r.api_version, &r.kind).ok_or_else(|| not_served(&r.api_version, &r.kind))?;
        let mut obj = stored.obj.clone();
        let managers = stored.managers.clone();
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(Some(self.render(&obj, &managers)));
        }
        let has_finalizers =
            obj.pointer("/metadata/finalizers").and_then(Value::as_array).is_some_and(|f| !f.is_empty());
        let graceful = kind.kind == "Pod" && !self.pod_termination.is_zero();
        let lingers = propagation == Propagation::Foreground || has_finalizers || kind.kind == "Namespace" || graceful;
        if !dry_run && propagation == Propagation::Orphan {
            self.orphan_dependents(uid_of(&obj).to_string());
        }
        if !lingers {
            if dry_run {
                return Ok(None);
            }
            self.remove(r);
            return Ok(None);
        }
        let time = self.time();
        {
            let m = meta_mut(&mut obj);
            m.insert("deletionTimestamp".into(), time.into());
            let grace = if graceful { self.pod_termination.as_secs() } else { 0 };
            m.insert("deletionGracePeriodSeconds".into(), grace.into());
            if propagation == Propagation::Foreground {
                let f = m.entry("finalizers").or_insert_with(|| json!([]));
                if let Some(a) = f.as_array_mut() {
                    a.push(json!("foregroundDeletion"));
                }
            }
            if let Some(g) = m.get("generation").and_then(Value::as_i64) {
                m.insert("generation".into(), (g + 1).into());
            }
        }
        if kind.kind == "Namespace" {
            obj["status"] = json!({"phase": "Terminating"});
        }
        if dry_run {
            return Ok(Some(self.render(&obj, &managers)));
        }
        if graceful {
            self.terminate_later(r);
        }
        self.commit(r, obj, managers);
        Ok(self.output(r))
    }

    /// Drops owner references to `uid` (an orphaning delete).
    fn orphan_dependents(&mut self, uid: String) {
        let dependents: Vec<ObjectRef> = self.owned_by(&uid).cloned().collect();
        for d in dependents {
            let Some(mut obj) = self.get_obj(&d).cloned() else { continue };
            if let Some(refs) = obj.pointer_mut("/metadata/ownerReferences").and_then(Value::as_array_mut) {
                refs.retain(|o| o.get("uid").and_then(Value::as_str) != Some(uid.as_str()));
            }
            fields::normalize(&mut obj);
            self.write_as(&d, obj, "kube-controller-manager");
        }
    }

    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        let k = self.served(api_version, kind).ok_or_else(|| not_served(api_version, kind))?;
        let sel = super::selector::Selector::parse(selector)?;
        // As the trait says (and kubectl does): no namespace for a namespaced kind means the
        // default one.
        let ns = namespace.unwrap_or(&self.default_namespace);
        Ok(self
            .objects
            .iter()
            .filter(|(r, _)| r.api_version == api_version && r.kind == kind)
            .filter(|(r, _)| !k.namespaced || r.namespace.as_deref() == Some(ns))
            .filter(|(_, s)| sel.matches(s.obj.pointer("/metadata/labels")))
            .map(|(_, s)| self.render(&s.obj, &s.managers))
            .collect())
    }

    pub fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        tail: Option<i64>,
    ) -> Result<String, ClusterError> {
        let pod_kind = Kind::find("v1", "Pod").unwrap_or(&KINDS[0]);
        let r = ObjectRef::new("v1", "Pod", Some(namespace), pod);
        let Some(obj) = self.get_obj(&r) else { return Err(status::not_found(pod_kind, pod)) };
        let names = |list: &str| -> Vec<String> {
            obj.pointer(&format!("/spec/{list}"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        };
        let (containers, inits) = (names("containers"), names("initContainers"));
        let bad_request = |message: String| {
            ClusterError::from_status(
                400,
                &json!({"kind": "Status", "status": "Failure", "message": message, "reason": "BadRequest", "code": 400}),
            )
        };
        let container = match container {
            Some(c) if containers.iter().chain(&inits).any(|n| n == c) => c.to_string(),
            Some(c) => return Err(bad_request(format!("container {c} is not valid for pod {pod}"))),
            None if containers.len() == 1 => containers[0].clone(),
            None => {
                return Err(bad_request(format!(
                    "a container name must be specified for pod {pod}, choose one of: [{}]",
                    containers.join(" ")
                )));
            }
        };
        let run = self.pods.get(uid_of(obj));
        let started = run.is_some_and(|p| p.started_at.is_some() && !p.pulls_forever());
        if !started {
            return Err(bad_request(format!(
                "container {container:?} in pod {pod:?} is waiting to start: ContainerCreating"
            )));
        }
        let mut text = match run {
            Some(p) if containers.first() == Some(&container) => p.log.clone(),
            _ => String::new(),
        };
        // Lines scripted to appear over time (a downloader's progress), each once its moment came.
        let job = obj.pointer("/metadata/labels/batch.kubernetes.io~1job-name").and_then(Value::as_str);
        if let (Some(lines), Some(start)) = (job.and_then(|j| self.log_lines.get(j)), run.and_then(|p| p.scheduled_at))
            && containers.first() == Some(&container)
        {
            let due: String = lines
                .iter()
                .filter(|(after, _)| start + *after <= self.now)
                .map(|(_, l)| format!("{}\n", l.trim_end_matches('\n')))
                .collect();
            text = due + &text;
        }
        Ok(match tail {
            Some(n) if n >= 0 => {
                let lines: Vec<&str> = text.lines().collect();
                let from = lines.len().saturating_sub(n as usize);
                lines[from..].iter().map(|l| format!("{l}\n")).collect()
            }
            _ => text,
        })
    }
}

/// The owners' uids of an object.
pub(super) fn owner_uids(v: &Value) -> impl Iterator<Item = &str> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|o| o.get("uid").and_then(Value::as_str))
}

/// `n` name characters derived from a seed.
pub(super) fn hashed_name(seed: &str, n: usize) -> String {
    use sha2::{Digest, Sha256};
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let hash = Sha256::digest(seed.as_bytes());
    hash.iter().take(n).map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char).collect()
}

/// Bumps `metadata.generation` if the spec changed.
fn bump_generation(kind: &Kind, live: &Value, new: &mut Value) {
    if has_generation(kind) && spec_part(live) != spec_part(new) {
        let g = live.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(0);
        meta_mut(new).insert("generation".into(), (g + 1).into());
    }
}

/// What an apply request carries that the server merges: everything but status and the server's
/// metadata.
fn applied_config(obj: &Value, r: &ObjectRef) -> Value {
    let mut out = obj.clone();
    if let Some(m) = out.as_object_mut() {
        m.remove("status");
    }
    let m = meta_mut(&mut out);
    m.retain(|k, _| matches!(k.as_str(), "name" | "labels" | "annotations" | "finalizers" | "ownerReferences"));
    if let Some(ns) = &r.namespace {
        m.insert("namespace".into(), ns.clone().into());
    }
    out
}

/// An object from a create or update request, without what the server sets itself.
fn user_object(obj: &Value, r: &ObjectRef, kind: &Kind) -> Value {
    let mut out = obj.clone();
    if has_status(kind.kind)
        && let Some(m) = out.as_object_mut()
    {
        m.remove("status");
    }
    let m = meta_mut(&mut out);
    for k in [
        "uid",
        "resourceVersion",
        "creationTimestamp",
        "generation",
        "managedFields",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        m.remove(k);
    }
    match &r.namespace {
        Some(ns) => m.insert("namespace".into(), ns.clone().into()),
        None => m.remove("namespace"),
    };
    out
}
