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

/// A kind msws reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kind {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub namespaced: bool,
}

/// Every kind msws touches. Anything else is refused before a request is made.
pub const KINDS: &[Kind] = &[
    Kind { api_version: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims", namespaced: true },
    Kind { api_version: "v1", kind: "Secret", plural: "secrets", namespaced: true },
    Kind { api_version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true },
    Kind { api_version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", namespaced: true },
    Kind { api_version: "v1", kind: "Pod", plural: "pods", namespaced: true },
    Kind { api_version: "v1", kind: "Event", plural: "events", namespaced: true },
    Kind { api_version: "v1", kind: "PersistentVolume", plural: "persistentvolumes", namespaced: false },
    Kind { api_version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false },
    Kind { api_version: "apps/v1", kind: "Deployment", plural: "deployments", namespaced: true },
    Kind { api_version: "apps/v1", kind: "ReplicaSet", plural: "replicasets", namespaced: true },
    Kind { api_version: "batch/v1", kind: "Job", plural: "jobs", namespaced: true },
    Kind { api_version: "coordination.k8s.io/v1", kind: "Lease", plural: "leases", namespaced: true },
    Kind { api_version: "storage.k8s.io/v1", kind: "StorageClass", plural: "storageclasses", namespaced: false },
    Kind {
        api_version: "resource.k8s.io/v1",
        kind: "ResourceClaimTemplate",
        plural: "resourceclaimtemplates",
        namespaced: true,
    },
];

impl Kind {
    pub fn find(api_version: &str, kind: &str) -> Option<&'static Kind> {
        KINDS.iter().find(|k| k.api_version == api_version && k.kind == kind)
    }
    /// The API group (`""` for the core group).
    pub fn group(&self) -> &'static str {
        self.api_version.rsplit_once('/').map_or("", |(g, _)| g)
    }
    pub fn version(&self) -> &'static str {
        self.api_version.rsplit_once('/').map_or(self.api_version, |(_, v)| v)
    }
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
    }
}
