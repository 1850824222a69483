//! The cluster layer: the only door to Kubernetes.
//!
//! [`Cluster`] is what the plan, status and apply stages use; it speaks in JSON objects (what the
//! API server sends and takes) and typed errors. Two implementations:
//! - [`kube::KubeCluster`] talks to a real API server (kubeconfig, `--context`, in-cluster config),
//!   with server-side apply as field manager `msws`;
//! - [`fake::FakeCluster`], in memory and deterministic, for tests: it applies defaults, enforces
//!   immutable fields, simulates controllers on a simulated clock and injects faults.
//!
//! Only this module uses the `kube` crate.

pub mod fake;
pub mod kube;
pub mod time;

use std::fmt;

use async_trait::async_trait;
use serde_json::Value;

/// The field manager msws applies as.
pub const FIELD_MANAGER: &str = "msws";

/// A kind msws reads or writes: where its objects live in the API (`plural`, `namespaced`).
///
/// The strings are `&'static`: the kinds of [`KINDS`] are constants, and a kind learnt through
/// API discovery ([`Cluster::discover`]) is made permanent by [`Kind::remember`], once per kind
/// and process (a process meets a handful of them), so a `&'static Kind` can be handed around as
/// freely as before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kind {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
}

const fn kind(api_version: &'static str, kind: &'static str, plural: &'static str, namespaced: bool) -> Kind {
    Kind { api_version, kind, plural, namespaced }
}

/// The kinds msws knows without asking the server: what it renders and reads for itself, the
/// custom resources of llm-d's stack, and the built-in kinds a model service's extra objects
/// commonly have. Any other kind is usable once [`Cluster::discover`] found it; before that it
/// is refused without a request.
pub const KINDS: &[Kind] = &[
    kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims", true),
    kind("v1", "Secret", "secrets", true),
    kind("v1", "ConfigMap", "configmaps", true),
    kind("v1", "ServiceAccount", "serviceaccounts", true),
    kind("v1", "Service", "services", true),
    kind("v1", "Pod", "pods", true),
    kind("v1", "Event", "events", true),
    kind("v1", "PersistentVolume", "persistentvolumes", false),
    kind("v1", "Namespace", "namespaces", false),
    kind("v1", "Node", "nodes", false),
    kind("apps/v1", "Deployment", "deployments", true),
    kind("apps/v1", "ReplicaSet", "replicasets", true),
    kind("apps/v1", "StatefulSet", "statefulsets", true),
    kind("apps/v1", "DaemonSet", "daemonsets", true),
    kind("batch/v1", "Job", "jobs", true),
    kind("batch/v1", "CronJob", "cronjobs", true),
    kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true),
    kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", true),
    kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", true),
    kind("networking.k8s.io/v1", "Ingress", "ingresses", true),
    kind("rbac.authorization.k8s.io/v1", "Role", "roles", true),
    kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", true),
    kind("coordination.k8s.io/v1", "Lease", "leases", true),
    kind("storage.k8s.io/v1", "StorageClass", "storageclasses", false),
    kind("resource.k8s.io/v1", "ResourceClaimTemplate", "resourceclaimtemplates", true),
    kind("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", "leaderworkersets", true),
    kind("disaggregatedset.x-k8s.io/v1", "DisaggregatedSet", "disaggregatedsets", true),
    kind("monitoring.coreos.com/v1", "PodMonitor", "podmonitors", true),
];

/// The group-versions of [`KINDS`] that Kubernetes serves by itself; the others are custom
/// resources, served only where their CRD is installed.
pub const BUILT_IN: &[&str] = &[
    "v1",
    "apps/v1",
    "batch/v1",
    "autoscaling/v2",
    "policy/v1",
    "networking.k8s.io/v1",
    "rbac.authorization.k8s.io/v1",
    "coordination.k8s.io/v1",
    "storage.k8s.io/v1",
    "resource.k8s.io/v1",
];

/// Of [`BUILT_IN`], those every Kubernetes msws supports serves (1.23 and later), so a plan
/// need not ask. `resource.k8s.io/v1` (DRA) is served from 1.34 on only: a plan asks.
pub const ALWAYS_SERVED: &[&str] = &[
    "v1",
    "apps/v1",
    "batch/v1",
    "autoscaling/v2",
    "policy/v1",
    "networking.k8s.io/v1",
    "rbac.authorization.k8s.io/v1",
    "coordination.k8s.io/v1",
    "storage.k8s.io/v1",
];

/// Kinds learnt through discovery, for the rest of the process (see [`Kind`]).
static DISCOVERED: std::sync::RwLock<Vec<&'static Kind>> = std::sync::RwLock::new(Vec::new());

impl Kind {
    /// A kind of [`KINDS`], or one discovered earlier in this process.
    pub fn find(api_version: &str, kind: &str) -> Option<&'static Kind> {
        KINDS.iter().find(|k| k.api_version == api_version && k.kind == kind).or_else(|| {
            let found = DISCOVERED.read().unwrap_or_else(|e| e.into_inner());
            // The latest discovery wins, should two servers disagree about a kind.
            found.iter().rev().find(|k| k.api_version == api_version && k.kind == kind).copied()
        })
    }

    /// Makes a kind the server described known to [`Kind::find`] from now on. A kind of
    /// [`KINDS`] stays as msws knows it; a kind discovered before with the same plural and scope
    /// is reused, so each distinct kind is allocated (and leaked) once.
    pub fn remember(api_version: &str, kind: &str, plural: &str, namespaced: bool) -> &'static Kind {
        if let Some(k) = KINDS.iter().find(|k| k.api_version == api_version && k.kind == kind) {
            return k;
        }
        let mut found = DISCOVERED.write().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = found.iter().rev().find(|k| k.api_version == api_version && k.kind == kind)
            && k.plural == plural
            && k.namespaced == namespaced
        {
            return k;
        }
        let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
        let k: &'static Kind = Box::leak(Box::new(Kind {
            api_version: leak(api_version),
            kind: leak(kind),
            plural: leak(plural),
            namespaced,
        }));
        found.push(k);
        k
    }

    /// A kind of [`KINDS`] by API group and kind (any version), for a group-kind known without
    /// its version.
    pub fn find_group_kind(group: &str, kind: &str) -> Option<&'static Kind> {
        KINDS.iter().find(|k| k.group() == group && k.kind == kind)
    }

    /// The API group (`""` for the core group).
    pub fn group(&self) -> &'static str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }
    pub fn version(&self) -> &'static str {
        self.api_version.rsplit_once('/').map_or(self.api_version, |(_, v)| v)
    }
}

/// The kinds of an `APIResourceList` (the answer to discovery), subresources (`pods/log`) left
/// out, each [remembered](Kind::remember). Entries without a name or kind are skipped.
pub fn kinds_of_resource_list(api_version: &str, list: &Value) -> Vec<Kind> {
    list.get("resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let name = r.get("name").and_then(Value::as_str).filter(|n| !n.is_empty() && !n.contains('/'))?;
            let kind = r.get("kind").and_then(Value::as_str).filter(|k| !k.is_empty())?;
            let namespaced = r.get("namespaced").and_then(Value::as_bool).unwrap_or(true);
            Some(*Kind::remember(api_version, kind, name, namespaced))
        })
        .collect()
}

/// The API group of an `apiVersion` (`""` for the core group's `v1`).
pub fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

/// Which object: kind, namespace (none for cluster-scoped kinds) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn new(api_version: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: namespace.map(str::to_string),
            name: name.into(),
        }
    }
    /// The reference of an object's JSON (`apiVersion`, `kind`, `metadata.namespace/name`).
    pub fn of(obj: &Value) -> Option<ObjectRef> {
        Some(ObjectRef {
            api_version: obj.get("apiVersion")?.as_str()?.to_string(),
            kind: obj.get("kind")?.as_str()?.to_string(),
            namespace: obj.pointer("/metadata/namespace").and_then(Value::as_str).map(str::to_string),
            name: obj.pointer("/metadata/name")?.as_str()?.to_string(),
        })
    }
    pub fn kind_info(&self) -> Option<&'static Kind> {
        Kind::find(&self.api_version, &self.kind)
    }
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ApplyOptions {
    /// `dryRun=All`: the server answers with the object as it would be, and stores nothing.
    pub dry_run: bool,
    /// Take fields other managers own instead of failing with a conflict.
    pub force: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    /// The object goes once everything it owns is gone (a Job waits for its pods).
    Foreground,
    Background,
    Orphan,
}

/// One reason an API server gave for refusing an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    pub field: Option<String>,
    pub message: String,
}

/// What can go wrong talking to a cluster, typed so that callers can react (a conflict is not a
/// connection loss) and messages can say what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// 404 (the server's message already says "not found").
    #[error("{0}")]
    NotFound(String),
    /// 409: a field another manager owns (server-side apply), an object that exists already, or a
    /// resourceVersion that moved (optimistic concurrency).
    #[error("conflict: {message}")]
    Conflict { message: String, causes: Vec<Cause> },
    /// 422: the object is invalid, or changes a field that cannot change.
    #[error("rejected as invalid: {message}")]
    Invalid { message: String, causes: Vec<Cause> },
    /// 403, with the missing permission when the server names it.
    #[error("forbidden: {message}")]
    Forbidden { message: String, permission: Option<Box<Permission>> },
    /// 401.
    #[error("not authenticated: {0}")]
    Unauthorized(String),
    /// The request took too long (a 504 or a client-side timeout).
    #[error("timed out: {0}")]
    Timeout(String),
    /// The API server could not be reached, or the connection broke.
    #[error("cannot reach the cluster: {0}")]
    Connection(String),
    /// Any other answer: 5xx (a bad quantity through server-side apply comes back as a 500),
    /// 429, or an unexpected code.
    #[error("the API server answered {code}: {message}")]
    Server { code: u16, message: String },
    /// Not a cluster answer: a kubeconfig problem, a kind msws does not handle.
    #[error("{0}")]
    Client(String),
}

/// A permission a 403 says is missing: `user` cannot `verb` `resource` in `namespace`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Permission {
    pub user: String,
    pub verb: String,
    pub resource: String,
    pub group: String,
    pub namespace: Option<String>,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let group = if self.group.is_empty() { "core".to_string() } else { self.group.clone() };
        write!(f, "{} cannot {} {} (API group {group})", self.user, self.verb, self.resource)?;
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns}")?;
        }
        Ok(())
    }
}

impl Permission {
    /// Reads the permission out of an API server's 403 message:
    /// `User "u" cannot get resource "persistentvolumeclaims" in API group "" in the namespace "demo"`.
    pub fn parse(message: &str) -> Option<Permission> {
        let quoted = |after: &str| -> Option<String> {
            let rest = &message[message.find(after)? + after.len()..];
            let rest = rest.strip_prefix('"')?;
            Some(rest[..rest.find('"')?].to_string())
        };
        let user = quoted("User ")?;
        let after_user = &message[message.find("cannot ")? + "cannot ".len()..];
        let verb = after_user.split_whitespace().next()?.to_string();
        Some(Permission {
            user,
            verb,
            resource: quoted("resource ")?,
            group: quoted("API group ").unwrap_or_default(),
            namespace: quoted("the namespace "),
        })
    }
}

impl ClusterError {
    /// The HTTP status code behind the error, when there is one.
    pub fn code(&self) -> Option<u16> {
        match self {
            ClusterError::NotFound(_) => Some(404),
            ClusterError::Conflict { .. } => Some(409),
            ClusterError::Invalid { .. } => Some(422),
            ClusterError::Forbidden { .. } => Some(403),
            ClusterError::Unauthorized(_) => Some(401),
            ClusterError::Server { code, .. } => Some(*code),
            ClusterError::Timeout(_) | ClusterError::Connection(_) | ClusterError::Client(_) => None,
        }
    }

    /// Whether trying the same request again may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            ClusterError::Timeout(_) | ClusterError::Connection(_) => true,
            ClusterError::Server { code, .. } => *code == 429 || *code == 503 || *code == 504,
            _ => false,
        }
    }

    /// Whether the server refused the change because a field cannot change in place.
    pub fn is_immutable_field(&self) -> bool {
        match self {
            ClusterError::Invalid { message, causes } => {
                let says = |m: &str| m.contains("immutable") || m.contains("can not be less than");
                says(message) || causes.iter().any(|c| says(&c.message))
            }
            _ => false,
        }
    }

    /// Builds an error from a `Status` object's JSON (what the API server sends with an error).
    pub fn from_status(code: u16, status: &Value) -> ClusterError {
        let message = status.get("message").and_then(Value::as_str).unwrap_or("").to_string();
        let causes: Vec<Cause> = status
            .pointer("/details/causes")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|c| Cause {
                        field: c.get("field").and_then(Value::as_str).map(str::to_string),
                        message: c.get("message").and_then(Value::as_str).unwrap_or("").to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        match code {
            404 => ClusterError::NotFound(message),
            409 => ClusterError::Conflict { message, causes },
            422 => ClusterError::Invalid { message, causes },
            403 => ClusterError::Forbidden { permission: Permission::parse(&message).map(Box::new), message },
            401 => ClusterError::Unauthorized(message),
            504 => ClusterError::Timeout(message),
            code => ClusterError::Server { code, message },
        }
    }
}

/// A LIST with the resource version it was read at (`metadata.resourceVersion` of the list): a
/// watch from that version sees every change made after the list, and nothing before it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VersionedList {
    pub items: Vec<Value>,
    pub resource_version: String,
}

/// What to watch: the objects of one kind in a namespace (`None`: cluster-scoped, or the default
/// namespace, as for [`Cluster::list`]) that match both selectors (`key=value,…`, empty: all),
/// from a resource version on (empty or `"0"`: from now, with an ADDED event for each object
/// that exists). `timeout`: the server ends the watch after it (`timeoutSeconds`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchRequest {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub labels: String,
    pub fields: String,
    pub resource_version: String,
    /// `allowWatchBookmarks`: the server may send BOOKMARK events carrying its current version.
    pub bookmarks: bool,
    pub timeout: std::time::Duration,
}

/// One event of a watch, as the API server streams them (`{"type": …, "object": …}`).
#[derive(Clone, Debug, PartialEq)]
pub enum WatchEvent {
    Added(Value),
    Modified(Value),
    /// The object as it was last, with the resource version of its deletion.
    Deleted(Value),
    /// Nothing changed up to this resource version (a watch may resume from it).
    Bookmark(String),
    /// The server ended the watch with a `Status`: `code` 410 (reason `Expired`) means the
    /// resource version is too old to watch from — list again, and watch from the new one.
    Error {
        code: u16,
        reason: String,
        message: String,
    },
}

impl WatchEvent {
    /// The resource version the event moves a watcher to (an object's, or a bookmark's).
    pub fn resource_version(&self) -> Option<&str> {
        match self {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                o.pointer("/metadata/resourceVersion").and_then(Value::as_str)
            }
            WatchEvent::Bookmark(rv) => Some(rv),
            WatchEvent::Error { .. } => None,
        }
    }

    /// An ERROR event that says the resource version is too old (410 Gone, reason `Expired`).
    pub fn is_expired(&self) -> bool {
        matches!(self, WatchEvent::Error { code, reason, .. } if *code == 410 || reason == "Expired" || reason == "Gone")
    }

    /// The event a watch line stands for: `{"type": "ADDED", "object": {…}}`. `None` for
    /// anything else (an unknown type is skipped by the caller, as a client must).
    pub fn from_json(line: &Value) -> Option<WatchEvent> {
        let object = line.get("object")?;
        Some(match line.get("type")?.as_str()? {
            "ADDED" => WatchEvent::Added(object.clone()),
            "MODIFIED" => WatchEvent::Modified(object.clone()),
            "DELETED" => WatchEvent::Deleted(object.clone()),
            "BOOKMARK" => WatchEvent::Bookmark(
                object.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string(),
            ),
            "ERROR" => {
                let s = |k: &str| object.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                let code =
                    object.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).unwrap_or(500);
                WatchEvent::Error { code, reason: s("reason"), message: s("message") }
            }
            _ => return None,
        })
    }
}

/// The events of one watch. It ends when the server closes the watch (its timeout, or a broken
/// connection: an `Err` item, then the end); the caller watches again from the last resource
/// version it saw.
pub type WatchStream = futures::stream::BoxStream<'static, Result<WatchEvent, ClusterError>>;

/// The only door to Kubernetes. Objects are JSON as the API server sends them.
#[async_trait]
pub trait Cluster: Send + Sync {
    /// The namespace of the current context (`default` when it names none).
    fn default_namespace(&self) -> &str;

    /// A short description for messages: the context or `fake`.
    fn describe(&self) -> String;

    /// The cluster's idea of the current time, for times written into objects and compared
    /// with times read from them (a Lease's renewTime). The wall clock, except in the fake,
    /// where it is the simulated clock.
    fn now(&self) -> std::time::SystemTime {
        std::time::SystemTime::now()
    }

    /// GET. `Ok(None)` when the object does not exist.
    async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, ClusterError>;

    /// LIST of one kind in a namespace with a label selector (`key=value,other`, as
    /// `kubectl -l` takes it; empty: everything). `None`: a cluster-scoped kind, or, for a
    /// namespaced kind, the default namespace (as kubectl does). Items come back complete, with
    /// their `apiVersion` and `kind` (the server leaves those out of list items).
    async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, ClusterError>;

    /// LIST with a label and a field selector (`metadata.name=x`), and the list's resource
    /// version, to watch from. Items are complete, as [`Cluster::list`]'s.
    async fn list_versioned(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        labels: &str,
        fields: &str,
    ) -> Result<VersionedList, ClusterError> {
        // A cluster that cannot say: no version, and no field selector.
        if !fields.is_empty() {
            return Err(ClusterError::Client(format!("{} cannot list by field ({fields})", self.describe())));
        }
        let items = self.list(api_version, kind, namespace, labels).await?;
        Ok(VersionedList { items, resource_version: String::new() })
    }

    /// WATCH: the changes to the objects `req` names after its resource version, as they
    /// happen. An error here means the watch did not start (a 403 without the `watch` verb, a
    /// server that does not serve it); an expired resource version may come either as a 410
    /// here or as an ERROR event.
    ///
    /// The default refuses (a cluster that cannot watch): waits then poll.
    async fn watch(&self, req: &WatchRequest) -> Result<WatchStream, ClusterError> {
        Err(ClusterError::Client(format!("{} cannot watch {}", self.describe(), req.kind)))
    }

    /// Server-side apply as field manager `msws`; the answer is the object as stored (or, with
    /// `dry_run`, as it would be).
    async fn apply(&self, obj: &Value, opts: ApplyOptions) -> Result<Value, ClusterError>;

    /// POST: creates the object, or fails with a conflict if it exists.
    async fn create(&self, obj: &Value) -> Result<Value, ClusterError>;

    /// PUT: replaces the object; `metadata.resourceVersion` is a precondition (a conflict if the
    /// object changed since it was read).
    async fn replace(&self, obj: &Value) -> Result<Value, ClusterError>;

    /// DELETE. `Ok(Some(obj))` while the object still exists (a foreground deletion waiting for
    /// what it owns, shown with its `deletionTimestamp`); `Ok(None)` once it is gone, if it never
    /// existed, or when the server answers with the object but no `deletionTimestamp` (deleted at
    /// once).
    async fn delete(
        &self,
        r: &ObjectRef,
        propagation: Propagation,
        dry_run: bool,
    ) -> Result<Option<Value>, ClusterError>;

    /// DELETE with preconditions: only while the object still has this uid and resourceVersion
    /// (a 409 Conflict otherwise), so that a read followed by a delete never deletes what someone
    /// else wrote in between. `Ok(None)` when it was already gone.
    async fn delete_exact(
        &self,
        r: &ObjectRef,
        uid: &str,
        resource_version: &str,
        propagation: Propagation,
    ) -> Result<Option<Value>, ClusterError>;

    /// The last `tail` lines of a pod container's log.
    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        tail: Option<i64>,
    ) -> Result<String, ClusterError>;

    /// API discovery of one group-version (`GET /api/v1`, `GET /apis/<group>/<version>`): the
    /// kinds it serves, subresources left out, each made known to msws from then on (so get,
    /// list, apply and delete accept a kind outside [`KINDS`] once it was discovered). `None`
    /// when the server does not serve that group-version (a CRD that is not installed).
    async fn discover(&self, api_version: &str) -> Result<Option<Vec<Kind>>, ClusterError>;

    /// The version of an API group the server prefers (`GET /apis/<group>`; `v1` for the core
    /// group), for a group-kind known without its version (an ApplySet parent's
    /// `contains-group-kinds`). `None` when the server does not serve the group.
    async fn preferred_version(&self, group: &str) -> Result<Option<String>, ClusterError>;

    /// The events about one object (core `v1` Events whose `involvedObject` is it, as `kubectl
    /// describe` shows them), oldest first. With `uid`, only those about that very object (a
    /// claim deleted and created again under the same name has the old one's events too).
    async fn events(&self, about: &ObjectRef, uid: Option<&str>) -> Result<Vec<Value>, ClusterError>;
}

/// When an event last happened, for ordering: `lastTimestamp`, else `eventTime`, else
/// `firstTimestamp` (RFC 3339 strings of one format sort as times do).
pub fn event_time(e: &Value) -> &str {
    ["/lastTimestamp", "/eventTime", "/firstTimestamp", "/metadata/creationTimestamp"]
        .iter()
        .find_map(|p| e.pointer(p).and_then(Value::as_str).filter(|s| !s.is_empty()))
        .unwrap_or("")
}

/// Strips what the server owns from an object (for comparisons and for showing it): managed
/// fields, resource version, uid, generation, timestamps, status.
pub fn without_server_fields(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["managedFields", "resourceVersion", "uid", "generation", "creationTimestamp", "selfLink"] {
            m.remove(k);
        }
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("deployment.kubernetes.io/revision");
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
            if a.is_empty() {
                m.remove("annotations");
            }
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("status");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_missing_permission_out_of_a_403() {
        let p = Permission::parse(r#"persistentvolumeclaims "model-pvc" is forbidden: User "system:serviceaccount:demo:nobody" cannot get resource "persistentvolumeclaims" in API group "" in the namespace "demo""#).unwrap();
        assert_eq!(
            (p.user.as_str(), p.verb.as_str(), p.resource.as_str(), p.group.as_str(), p.namespace.as_deref()),
            ("system:serviceaccount:demo:nobody", "get", "persistentvolumeclaims", "", Some("demo"))
        );
        assert_eq!(
            p.to_string(),
            "system:serviceaccount:demo:nobody cannot get persistentvolumeclaims (API group core) in namespace demo"
        );
        assert!(Permission::parse("only dynamically provisioned pvc can be resized").is_none());
    }

    #[test]
    fn every_kind_is_known_with_its_group() {
        let d = Kind::find("apps/v1", "Deployment").unwrap();
        assert_eq!((d.group(), d.version(), d.plural), ("apps", "v1", "deployments"));
        assert_eq!(Kind::find("v1", "Secret").unwrap().group(), "");
        assert!(Kind::find("v1", "Nope").is_none());
        let lws = Kind::find("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet").unwrap();
        assert_eq!((lws.group(), lws.plural, lws.namespaced), ("leaderworkerset.x-k8s.io", "leaderworkersets", true));
    }

    #[test]
    fn discovered_kinds_are_found_afterwards_and_allocated_once() {
        let list = serde_json::json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "example.com/v1",
            "resources": [
                {"name": "widgets", "singularName": "widget", "namespaced": true, "kind": "Widget", "verbs": ["get"]},
                {"name": "widgets/status", "singularName": "", "namespaced": true, "kind": "Widget", "verbs": ["get"]},
                {"name": "gadgets", "singularName": "gadget", "namespaced": false, "kind": "Gadget", "verbs": ["get"]}]});
        assert!(Kind::find("example.com/v1", "Widget").is_none());
        let kinds = kinds_of_resource_list("example.com/v1", &list);
        assert_eq!(
            kinds.iter().map(|k| (k.kind, k.plural, k.namespaced)).collect::<Vec<_>>(),
            [("Widget", "widgets", true), ("Gadget", "gadgets", false)]
        );
        let w = Kind::find("example.com/v1", "Widget").unwrap();
        assert_eq!(w.group(), "example.com");
        assert!(std::ptr::eq(w, Kind::remember("example.com/v1", "Widget", "widgets", true)));
        // A kind msws knows stays as it knows it.
        assert!(std::ptr::eq(Kind::remember("v1", "Secret", "secrets", true), Kind::find("v1", "Secret").unwrap()));
    }
}
