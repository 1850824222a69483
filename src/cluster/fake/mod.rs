//! [`FakeCluster`]: an in-memory, deterministic Kubernetes for tests.
//!
//! It answers the [`Cluster`] trait the way a v1.36 API server does for the requests msws makes
//! (ground truth: `tests/data/apiserver/`, recorded from a real one):
//!
//! - **what it serves**: the built-in kinds of [`KINDS`] (their group-versions are
//!   [`BUILT_IN`]) always, a custom resource once its CRD is installed
//!   ([`FakeCluster::install_crd`], [`FakeCluster::install_llm_d_crds`]); discovery answers an
//!   `APIResourceList` for a served group-version and `None` (a real server's 404) for any
//!   other; a request for a kind it does not serve fails as on a real server (the kube
//!   adapter's "the API for … not found", or the 404 of a write), and a request for a kind msws
//!   has not discovered is refused before it is counted, as the adapter refuses it;
//! - **storage**: objects by (apiVersion, kind, namespace, name), with a uid, a
//!   `resourceVersion` from one global counter, a `generation` bumped when the spec changes
//!   (kinds that have one: Deployment, ReplicaSet, Job, Pod), a `creationTimestamp` from the
//!   simulated clock, and `managedFields` in the server's `FieldsV1` format;
//! - **server-side apply** as `msws` (`fields.rs`): fields msws applied before and no longer
//!   applies are removed, fields another manager owns with another value are a 409 naming the
//!   manager and the field (unless forced), dry-run answers without storing; `create`, `replace`
//!   (a `resourceVersion` precondition), `delete` with propagation, `list` with equality label
//!   selectors, pod `logs`;
//! - **defaults** (`defaults.rs`) and **validation** (`validate.rs`) of the kinds msws writes, with
//!   the real error payloads (`status.rs`): immutable fields, claim resizing, bad quantities;
//! - **controllers** (`controllers.rs`) on a simulated clock that only moves when a test says so
//!   ([`FakeCluster::advance`], or the per-request latency) — or, with
//!   [`FakeCluster::with_runtime_clock`], with tokio's clock, so that code that polls with
//!   `tokio::time::sleep` can be tested under `#[tokio::test(start_paused = true)]`: claims bind,
//!   Jobs run pods that succeed or fail as scripted, Deployments roll out through ReplicaSets, a
//!   ReplicaSet no Deployment owns runs its pods, LeaderWorkerSets run groups of pods and roll
//!   them out, DisaggregatedSets run a LeaderWorkerSet per role and slice (`lws.rs`), the
//!   garbage collector follows owner references; PodMonitors, Services, HTTPRoutes and any other
//!   kind are stored, with no controller;
//! - **watches** (`watch.rs`): every write and delete goes into a change history; a watch
//!   replays it from a resource version and then follows it, waking on its own (on tokio's
//!   clock) when a controller has something to do; bookmarks, the 410 of a version older than
//!   the history, the server's timeout; `list_versioned` answers the list's resource version;
//! - **faults and accounting**: the Nth matching request fails (a watch too: it never starts),
//!   the connection drops (open watches break), a watch breaks after N events or expires;
//!   requests are counted by verb and kind (a watch once, when it starts);
//! - **snapshots** ([`Snapshot`]) to compare the whole cluster before and after (without
//!   events and nodes, which change by themselves).
//!
//! **Recorded or inferred.** Storage, server-side apply, the errors, and the defaults, status
//! and controllers of claims, volumes, Secrets, ServiceAccounts, Jobs, Deployments (and their
//! ReplicaSets), pods and Leases are held to the recordings. Everything else is inferred from
//! the API types and the projects' sources, not recorded from a server, and says so where it is
//! written: the defaults of Services (and their cluster IP and node port allocation),
//! StatefulSets, DaemonSets, HorizontalPodAutoscalers, LeaderWorkerSets (the LWS webhook and
//! CRD), DisaggregatedSets and HTTPRoutes (`defaults.rs`); discovery documents (real ones also
//! carry short names, categories and storage version hashes); a standalone ReplicaSet's
//! behaviour (the same controller as a Deployment's); the LeaderWorkerSet and DisaggregatedSet
//! controllers, their names, labels, status and conditions (`lws.rs`, with their own list of
//! simplifications); the growth of a crash-looping container's restart count.
//!
//! Deliberate simplifications, each because msws does not depend on the difference:
//! - SSA uses a table of list merge keys and atomic structs instead of the OpenAPI schema
//!   (containers, env, volumes, mounts, ports, conditions, … are keyed; other lists atomic, a
//!   custom resource's included, whatever its CRD's schema says); a
//!   merged keyed list holds the applied items in the applied order, then the others;
//! - managed fields of controllers' writes are approximate (the fake's controllers write with
//!   the same rules as any update); only msws's own entries are checked against the recordings;
//! - by default one node, `fake-node-1` (a `v1 Node` object), with no resource accounting
//!   (script [`PodFate::Unschedulable`] for a pod that does not fit); [`FakeCluster::set_nodes`]
//!   gives nodes ([`FakeNode`]: labels, taints, allocatable extended resources, cordon, images),
//!   onto which the scheduler puts each pod on the first node by name its node selector,
//!   required node affinity, tolerations and free extended resources admit, or leaves it
//!   Pending with a `0/N nodes are available: …` message (inferred from the scheduler's; no
//!   scoring, no preemption, no cpu or memory accounting, inter-pod affinity and topology
//!   spread ignored). A pod created with a `spec.nodeName` runs on that node (any name is a
//!   node): a ReadWriteOnce claim mounted by pods of one node blocks a pod of another (it waits
//!   in `ContainerCreating`, with the attach/detach controller's `Multi-Attach` event) as long
//!   as they are not finished; a ReadWriteOncePod claim blocks any second pod (it stays
//!   Pending, `Unschedulable`) as long as the first pod exists, finished or not;
//! - images (inferred from the kubelet's behaviour and messages, not recorded): an image a
//!   node does not list in `status.images` is pulled before the pod's containers start, for
//!   the duration [`FakeCluster::set_image_pull`] gives it (default: at once), the containers
//!   waiting in `ContainerCreating` (init containers in `PodInitializing`); the pod gets a
//!   `Pulling` event, then `Pulled` with the kubelet's message; pods of one node share a pull;
//!   a pulled image is added to the node's `status.images` (a real kubelet lists at most 50,
//!   the biggest first: the fake lists all, in pull order). `imagePullPolicy` is not read (an
//!   image present is never pulled again). msws's user may not read nodes until
//!   [`FakeCluster::allow_node_reads`]: a LIST or GET of nodes is the 403 a user with namespaced
//!   rights gets (the message's user is inferred);
//! - files on claims (`files.rs`) belong to the claim, by namespace and name, not to its volume;
//!   only msws's inspection and download pods read or write them; a bare pod's
//!   `activeDeadlineSeconds` is not enforced;
//! - pods are deleted at once (no grace period), and a deleted namespace's content goes at the
//!   next controller run; an orphaning delete drops owner references at once;
//! - a rolling update creates all new pods at once (full surge) and removes the old ones when the
//!   new ones are all available; `minReadySeconds` is ignored; a crash-looping container is
//!   restarted with the kubelet's back-off (10 s, doubling, at most 5 min), its restart count
//!   growing; a Job's `OnFailure` pods fail like `Never` ones; no TTL controller;
//! - events: only the persistent volume controller's about claims (`WaitForFirstConsumer`,
//!   `ExternalProvisioning`, `ProvisioningFailed` for a missing class, `FailedBinding`,
//!   `VolumeMismatch`, with the real controller's messages), each recorded once (a real recorder
//!   bumps `count` on repeats); snapshots leave events out;
//! - a Job's whole pod template is immutable (the server allows a few scheduling fields to
//!   change on a suspended Job);
//! - growing a claim needs a class with `allowVolumeExpansion` *and* a dynamically provisioned
//!   volume (a real server only checks the class; nothing would resize a static volume); the
//!   resize completes at the next controller run;
//! - the immutable-claim message holds a diff of the spec as JSON (the server's prints Go field
//!   names);
//! - list items carry `apiVersion` and `kind` (a real list leaves them out of each item);
//! - installing a CRD stores no CustomResourceDefinition object, and a custom resource's
//!   `status` is a subresource only for the kinds whose controllers the fake runs;
//! - no admission webhook validates (the LWS and DisaggregatedSet webhooks' refusals are not
//!   simulated);
//! - a dry-run delete answers as the delete would: `None` when the object would go at once.

pub(crate) mod clock;
mod controllers;
mod defaults;
mod fields;
mod files;
mod lws;
mod selector;
mod server;
mod snapshot;
mod status;
mod validate;
mod watch;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{Value, json};

pub use files::{ClaimFile, hf_cache_files, listing as claim_listing, model_files};
pub use snapshot::Snapshot;

use super::{
    ApplyOptions, BUILT_IN, Cluster, ClusterError, KINDS, Kind, ObjectRef, Propagation, VersionedList, WatchRequest,
    WatchStream,
};

/// A request verb, as counted by [`FakeCluster::requests`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    Get,
    List,
    Apply,
    ApplyDryRun,
    Create,
    Replace,
    Delete,
    Logs,
    /// API discovery (`/api/v1`, `/apis/<group>[/<version>]`), counted under the kind
    /// `APIResourceList` (a group-version) or `APIGroup` (a group's preferred version).
    Discover,
    /// A watch started (or refused); its events are not requests.
    Watch,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Apply => "apply",
            Verb::ApplyDryRun => "apply-dry-run",
            Verb::Create => "create",
            Verb::Replace => "replace",
            Verb::Delete => "delete",
            Verb::Logs => "logs",
            Verb::Discover => "discover",
            Verb::Watch => "watch",
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request the fake received, in order (see [`FakeCluster::request_log`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub verb: Verb,
    pub kind: String,
    pub namespace: Option<String>,
    /// None for a list.
    pub name: Option<String>,
}

/// How a Job's pod (or a bare pod that does not restart) ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Succeed,
    Fail { exit_code: i32 },
}

/// What a Job's pods do: each attempt runs `duration`, prints `log`, and ends with `outcome` —
/// except that the first `failures_before_success` attempts fail (exit code 1) whatever the
/// outcome. Retries follow the Job's `backoffLimit`, with the controller's backoff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobScript {
    pub duration: Duration,
    pub outcome: Outcome,
    pub log: String,
    pub failures_before_success: u32,
}

impl Default for JobScript {
    /// Succeeds after 5 s, with a one-line log.
    fn default() -> JobScript {
        JobScript {
            duration: Duration::from_secs(5),
            outcome: Outcome::Succeed,
            log: "fake: the job ran and succeeded\n".into(),
            failures_before_success: 0,
        }
    }
}

/// What a serving pod (one that restarts always) does once created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodFate {
    /// Runs, and is Ready after the fake's ready delay.
    Ready,
    /// Its container exits with `exit_code` and waits in `CrashLoopBackOff`; `log` is its log.
    CrashLoop { exit_code: i32, log: String },
    /// Stays Pending with `PodScheduled=False`, reason `Unschedulable`, and this message.
    Unschedulable { message: String },
    /// Stays Pending, its container waiting in `ImagePullBackOff`.
    ImagePullBackOff,
}

/// The in-memory cluster. Cheap to create; share it behind an `Arc` where a `dyn Cluster` is
/// needed. Every method takes `&self` (one mutex inside).
pub struct FakeCluster {
    /// Shared with the open watches, which read it as time passes.
    state: Arc<Mutex<server::State>>,
    /// Also in the state; kept here because the trait lends it out.
    namespace: String,
}

impl Default for FakeCluster {
    fn default() -> FakeCluster {
        FakeCluster::new("default")
    }
}

/// A StorageClass for [`FakeCluster::insert`]: `binding_mode` is `Immediate` or
/// `WaitForFirstConsumer`, `reclaim` is `Retain` or `Delete`.
pub fn storage_class(name: &str, binding_mode: &str, allow_expansion: bool, reclaim: &str) -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": "fake.msws.io/hostpath",
        "reclaimPolicy": reclaim,
        "volumeBindingMode": binding_mode,
        "allowVolumeExpansion": allow_expansion,
    })
}

/// A pre-created PersistentVolume for [`FakeCluster::insert`] (reclaim policy `Retain`).
pub fn persistent_volume(name: &str, size: &str, access_modes: &[&str], class: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": access_modes,
            "storageClassName": class,
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": format!("/srv/{name}"), "type": ""},
        },
    })
}

/// A node of the fake cluster, as a test describes it ([`FakeCluster::set_nodes`]). Its `v1
/// Node` object has the labels a kubelet sets (`kubernetes.io/hostname`, `…/os`, `…/arch`) and
/// the test's, the taints, `spec.unschedulable`, an allocatable of 64 cpus, 512Gi, 110 pods
/// and the test's extended resources, a `Ready` condition, and the images it holds in
/// `status.images` (`names`: the full reference and a digest, `sizeBytes`). Inferred from the
/// API types and a kubelet's node status, not recorded.
#[derive(Clone, Debug, Default)]
pub struct FakeNode {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Value>,
    pub allocatable: BTreeMap<String, String>,
    pub unschedulable: bool,
    pub images: Vec<String>,
}

impl FakeNode {
    pub fn new(name: &str) -> FakeNode {
        FakeNode { name: name.to_string(), ..FakeNode::default() }
    }
    pub fn label(mut self, k: &str, v: &str) -> FakeNode {
        self.labels.insert(k.into(), v.into());
        self
    }
    pub fn taint(mut self, key: &str, value: &str, effect: &str) -> FakeNode {
        self.taints.push(json!({"key": key, "value": value, "effect": effect}));
        self
    }
    /// An extended resource the node offers (`nvidia.com/gpu`, `8`).
    pub fn allocatable(mut self, resource: &str, quantity: &str) -> FakeNode {
        self.allocatable.insert(resource.into(), quantity.into());
        self
    }
    pub fn gpus(self, n: u32) -> FakeNode {
        self.allocatable("nvidia.com/gpu", &n.to_string())
    }
    /// Cordoned (`kubectl cordon`).
    pub fn unschedulable(mut self) -> FakeNode {
        self.unschedulable = true;
        self
    }
    /// An image already on the node.
    pub fn image(mut self, image: &str) -> FakeNode {
        self.images.push(image.into());
        self
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut labels = json!({"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
                                "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                                "beta.kubernetes.io/arch": "amd64"});
        for (k, v) in &self.labels {
            labels[k] = json!(v);
        }
        let mut allocatable = json!({"cpu": "64", "memory": "512Gi", "pods": "110", "ephemeral-storage": "1Ti"});
        for (k, v) in &self.allocatable {
            allocatable[k] = json!(v);
        }
        let mut spec = json!({"podCIDR": "10.244.0.0/24"});
        if !self.taints.is_empty() {
            spec["taints"] = json!(self.taints);
        }
        if self.unschedulable {
            spec["unschedulable"] = json!(true);
        }
        let images: Vec<Value> = self.images.iter().map(|i| image_entry(i, 1_000_000_000)).collect();
        json!({
            "apiVersion": "v1",
            "kind": "Node",
            // A uid of its own, from its name: nodes do not take from the counter the other
            // objects' uids come from (tests and docs show those).
            "metadata": {"name": self.name, "labels": labels, "uid": node_uid(&self.name)},
            "spec": spec,
            "status": {
                "capacity": allocatable.clone(),
                "allocatable": allocatable,
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status"}],
                "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": self.name}],
                "nodeInfo": {"kubeletVersion": "v1.36.0", "containerRuntimeVersion": "containerd://2.1.0",
                             "operatingSystem": "linux", "architecture": "amd64"},
                "images": images,
            },
        })
    }
}

fn node_uid(name: &str) -> String {
    let h = controllers::sha_hex(&format!("node/{name}"));
    format!("{}-{}-4{}-8{}-{}", &h[0..8], &h[8..12], &h[13..16], &h[17..20], &h[20..32])
}

/// An entry of a node's `status.images`, as a kubelet reports it: the digest and the tag.
pub(crate) fn image_entry(image: &str, size: u64) -> Value {
    let full = crate::plan::prepull::normalize(image);
    let repo = full.split('@').next().unwrap_or(&full);
    let repo = match repo.rfind(':') {
        Some(c) if c > repo.rfind('/').unwrap_or(0) => &repo[..c],
        _ => repo,
    };
    let digest = format!("{repo}@sha256:{}", controllers::sha_hex(&full));
    json!({"names": [digest, full], "sizeBytes": size})
}

impl FakeCluster {
    /// An empty cluster whose default namespace is `namespace` (it exists, with `default`), one
    /// node, no StorageClass. The clock starts at 2026-11-26T18:00:00Z.
    pub fn new(namespace: &str) -> FakeCluster {
        FakeCluster { state: Arc::new(Mutex::new(server::State::new(namespace))), namespace: namespace.to_string() }
    }

    /// The state, its clock caught up with tokio's when it follows it.
    fn lock(&self) -> MutexGuard<'_, server::State> {
        // A test that panicked while holding the lock leaves a usable state behind: recover it.
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.catch_up();
        s
    }

    /// The state for serving a request. On the runtime clock the request's latency is a tokio
    /// sleep taken *before* the lock (a std mutex is never held across an await), so concurrent
    /// requests overlap in simulated time as they would on a real server; otherwise `begin`
    /// moves the simulated clock by the latency, as it always did.
    async fn serve(&self) -> MutexGuard<'_, server::State> {
        let pause = {
            let s = self.lock();
            if s.runtime.is_some() { s.latency } else { Duration::ZERO }
        };
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        self.lock()
    }

    // ---- configuration ----

    /// How long after its creation (or, for WaitForFirstConsumer, after its first consumer) a
    /// claim binds. Default 1 s.
    pub fn set_bind_delay(&self, d: Duration) {
        self.lock().bind_delay = d;
    }

    /// How long after it starts a serving pod is Ready. Default 2 s.
    pub fn set_ready_delay(&self, d: Duration) {
        self.lock().ready_delay = d;
    }

    /// How long a pod takes to go once deleted — by a request or by the garbage collector
    /// (a released downloader's pod, a rollout's old pods): it stays, with its
    /// `deletionTimestamp` and `deletionGracePeriodSeconds`, while the kubelet would stop its
    /// containers and unmount its volumes and the volume detach. Default zero: at once, as
    /// before. Inferred (the kubelet's graceful termination), not recorded.
    pub fn set_pod_termination(&self, d: Duration) {
        self.lock().pod_termination = d;
    }

    /// Simulated time every request takes (the clock advances, and controllers run, before the
    /// request is served). Default zero. On the runtime clock it is a `tokio::time::sleep`
    /// before the request is served, so concurrent requests wait together (and a request must
    /// then be awaited on the tokio runtime: `futures::executor::block_on` would wait forever
    /// on a current-thread runtime).
    pub fn set_latency(&self, d: Duration) {
        self.lock().latency = d;
    }

    // ---- clock ----

    /// From now on the simulated clock also moves with tokio's clock: before each request (and
    /// in [`FakeCluster::now`] and the other inspections) the controllers run up to the
    /// simulated time of this call plus the tokio time elapsed since. Under
    /// `#[tokio::test(start_paused = true)]`, where tokio jumps its clock whenever every task
    /// sleeps, a ten-minute download takes milliseconds. [`FakeCluster::advance`] still works
    /// (it moves the clock ahead of tokio's for good), and the latency becomes a tokio sleep.
    pub fn with_runtime_clock(self) -> FakeCluster {
        self.follow_runtime_clock();
        self
    }

    /// [`FakeCluster::with_runtime_clock`] on a shared cluster. Calling it again changes
    /// nothing.
    pub fn follow_runtime_clock(&self) {
        let mut s = self.lock();
        if s.runtime.is_none() {
            s.runtime = Some(server::RuntimeAnchor { sim: s.now, tokio: tokio::time::Instant::now() });
        }
    }

    /// The simulated time.
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + self.lock().now
    }

    /// Moves the simulated clock on, running the controllers at every moment something is due
    /// (and once at the end). `advance(Duration::ZERO)` runs them now. On the runtime clock the
    /// jump adds to tokio's time: the simulated clock stays `d` ahead of it.
    pub fn advance(&self, d: Duration) {
        let mut s = self.lock();
        s.advance(d);
        if let Some(anchor) = &mut s.runtime {
            anchor.sim += d;
        }
    }

    // ---- scripting ----

    /// What the pods of the Job named `job` (in any namespace) do. Without a script: succeed
    /// after 5 s ([`JobScript::default`]).
    pub fn script_job(&self, job: &str, script: JobScript) {
        self.lock().job_scripts.insert(job.to_string(), script);
    }

    /// Lines the pods of the Job named `job` print as they run, each `after` its pod started
    /// (before the script's own log): a downloader's progress appearing over time.
    pub fn script_job_lines(&self, job: &str, lines: Vec<(Duration, String)>) {
        self.lock().log_lines.insert(job.to_string(), lines);
    }

    /// What a bare pod (no owner, does not restart) named `name`, or generated from the prefix
    /// `name`, does. Without a script: succeed after 5 s.
    pub fn script_pod(&self, name: &str, script: JobScript) {
        self.lock().pod_scripts.insert(name.to_string(), script);
    }

    /// What the pods a Deployment creates from now on do. Default [`PodFate::Ready`].
    pub fn script_deployment(&self, deployment: &str, fate: PodFate) {
        self.lock().deployment_scripts.insert(deployment.to_string(), fate);
    }

    /// What the pods of the workload named `name` create from now on do: a Deployment, a
    /// ReplicaSet no Deployment owns, a LeaderWorkerSet (every pod of every group), or a
    /// DisaggregatedSet (the pods of all its LeaderWorkerSets). Default [`PodFate::Ready`].
    pub fn script_workload(&self, name: &str, fate: PodFate) {
        self.script_deployment(name, fate);
    }

    // ---- nodes and images ----

    /// Replaces the cluster's nodes (the default `fake-node-1` too): from now on pods are
    /// scheduled onto these, by their node selector, required node affinity, tolerations and
    /// extended resources (accounted per node: a pod asking for 8 GPUs takes 8 of its
    /// allocatable until it finishes or goes).
    pub fn set_nodes(&self, nodes: &[FakeNode]) {
        let mut s = self.lock();
        for r in s.refs("Node") {
            s.remove(&r);
        }
        s.accounted.clear();
        for n in nodes {
            let _ = s.insert(&n.to_json());
            s.accounted.insert(n.name.clone());
        }
    }

    /// Adds a node (see [`FakeCluster::set_nodes`]), keeping the others.
    pub fn add_node(&self, node: FakeNode) {
        let mut s = self.lock();
        let _ = s.insert(&node.to_json());
        s.accounted.insert(node.name.clone());
    }

    /// Whether msws's user may read nodes (a ClusterRole granting `list nodes`). Default false,
    /// the common case of namespaced rights only: a LIST or GET of nodes is a 403.
    pub fn allow_node_reads(&self, allowed: bool) {
        self.lock().nodes_readable = allowed;
    }

    /// How long the kubelet takes to pull `image` onto a node where it is not (default: at
    /// once). While it pulls, the pod's containers wait in `ContainerCreating`, the pod gets a
    /// `Pulling` event, and pods of the same node share the pull; when it is done the pod gets
    /// `Pulled`, the image is in the node's `status.images`, and the pod's containers start (a
    /// serving pod's ready delay counts from then).
    pub fn set_image_pull(&self, image: &str, duration: Duration) {
        self.lock().image_pulls.insert(image.to_string(), (duration, 8_000_000_000));
    }

    /// Puts an image on a node (as if pulled before), or takes it off.
    pub fn set_image_present(&self, node: &str, image: &str, present: bool) {
        let mut s = self.lock();
        if present {
            s.record_image(node, image);
        } else {
            s.forget_image(node, image);
        }
    }

    /// The images on a node, as its `status.images` names them (their tags).
    pub fn node_images(&self, node: &str) -> Vec<String> {
        let s = self.lock();
        let Some(n) = s.get_obj(&ObjectRef::new("v1", "Node", None, node)) else { return vec![] };
        n.pointer("/status/images")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.pointer("/names/1").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    // ---- custom resources ----

    /// Installs a CRD: from now on the cluster serves `kind` under `api_version` (discovery
    /// lists it, and its objects can be stored), with `plural` as its resource name. Nothing
    /// but storage and the defaults `defaults.rs` knows for it: a controller runs only for the
    /// kinds `controllers.rs` simulates (LeaderWorkerSet, DisaggregatedSet).
    pub fn install_crd(&self, api_version: &str, kind: &str, plural: &str, namespaced: bool) {
        let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
        let k: &'static Kind = match KINDS.iter().find(|k| k.api_version == api_version && k.kind == kind) {
            Some(k) if k.plural == plural && k.namespaced == namespaced => k,
            _ => Box::leak(Box::new(Kind {
                api_version: leak(api_version),
                kind: leak(kind),
                plural: leak(plural),
                namespaced,
            })),
        };
        self.lock().crds.insert((api_version.to_string(), kind.to_string()), k);
    }

    /// The CRDs an llm-d stack brings: LeaderWorkerSet and DisaggregatedSet (LWS 0.10 with
    /// DisaggregatedSet enabled), PodMonitor (Prometheus Operator), HTTPRoute (Gateway API),
    /// InferencePool (Gateway API Inference Extension, v1 and the older v1alpha2).
    pub fn install_llm_d_crds(&self) {
        for (av, kind, plural) in [
            ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", "leaderworkersets"),
            ("disaggregatedset.x-k8s.io/v1", "DisaggregatedSet", "disaggregatedsets"),
            ("monitoring.coreos.com/v1", "PodMonitor", "podmonitors"),
            ("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes"),
            ("inference.networking.k8s.io/v1", "InferencePool", "inferencepools"),
            ("inference.networking.x-k8s.io/v1alpha2", "InferencePool", "inferencepools"),
        ] {
            self.install_crd(av, kind, plural, true);
        }
    }

    /// What pods created from now on with a container running `image` do; wins over a
    /// Deployment's script, and applies to Job pods (a crash loop there is a failed attempt).
    pub fn script_image(&self, image: &str, fate: PodFate) {
        self.lock().image_scripts.insert(image.to_string(), fate);
    }

    // ---- seeding and other managers ----

    /// Puts an object in the cluster as if something else had created it: server fields and
    /// defaults are added, nothing is validated, no field manager owns it, a status given is
    /// kept. Replaces an object of the same name. For StorageClasses, volumes, claims and
    /// secrets that exist before msws runs.
    pub fn insert(&self, obj: &Value) -> Result<Value, ClusterError> {
        self.lock().insert(obj)
    }

    /// An update by another field manager (like `kubectl edit`): `obj` is the whole object as
    /// the manager wants it; its `resourceVersion`, if given, must be current. The manager takes
    /// the fields it changes. Validated like any update.
    pub fn update_as(&self, manager: &str, obj: &Value) -> Result<Value, ClusterError> {
        self.lock().update(obj, (manager, None), false)
    }

    /// `kubectl scale --replicas=N`: an update of `spec.replicas` through the `scale`
    /// subresource, by manager `kubectl`.
    pub fn scale(&self, r: &ObjectRef, replicas: i64) -> Result<Value, ClusterError> {
        let mut state = self.lock();
        let (r, kind) = state.resolve(&r.api_version, &r.kind, r.namespace.as_deref(), &r.name)?;
        let Some(mut obj) = state.get_obj(&r).cloned() else { return Err(status::not_found(kind, &r.name)) };
        obj["spec"]["replicas"] = json!(replicas);
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        state.update(&obj, ("kubectl", Some("scale")), false)
    }

    // ---- files on claims ----

    /// Puts files on a claim (by namespace and claim name; the claim need not exist yet): what
    /// inspection pods that mount it list, as `inspect.py` would (`files.rs`). Paths are relative
    /// to the claim's root; a path given again is replaced.
    pub fn put_claim_files<P: Into<String>>(
        &self,
        namespace: &str,
        claim: &str,
        files: impl IntoIterator<Item = (P, ClaimFile)>,
    ) {
        let mut s = self.lock();
        let on = s.claim_files.entry((namespace.to_string(), claim.to_string())).or_default();
        for (p, f) in files {
            on.insert(p.into(), f);
        }
    }

    /// The files on a claim: those put there, and what download pods wrote.
    pub fn claim_files(&self, namespace: &str, claim: &str) -> BTreeMap<String, ClaimFile> {
        self.lock().claim_files.get(&(namespace.to_string(), claim.to_string())).cloned().unwrap_or_default()
    }

    // ---- faults ----

    /// The `n`th next request with this verb and kind (`"*"`: any kind) fails with `error`
    /// (n = 1: the next one). Several can be pending.
    pub fn fail_nth(&self, verb: Verb, kind: &str, n: usize, error: ClusterError) {
        let mut s = self.lock();
        s.faults.push(server::Fault { verb, kind: kind.to_string(), remaining: n.max(1), error });
    }

    /// After `n` more requests succeed, every request fails with a connection error until
    /// [`FakeCluster::reconnect`].
    pub fn fail_all_after(&self, n: usize) {
        self.lock().fail_after = Some(n);
    }

    /// Every request from now on fails with a connection error, and every open watch breaks.
    pub fn disconnect(&self) {
        self.fail_all_after(0);
        self.lock().changed.notify_waiters();
    }

    /// The next watch of `kind` breaks (a connection error, then its end) after delivering
    /// `events` events. (A watch that cannot start: [`FakeCluster::fail_nth`] with
    /// [`Verb::Watch`].)
    pub fn break_next_watch(&self, kind: &str, events: usize) {
        self.lock().watch_faults.push((kind.to_string(), watch::WatchFault::BreakAfter(events)));
    }

    /// The next watch of `kind` is answered as from a compacted resource version: one ERROR
    /// event with a 410 `Expired` Status, then its end.
    pub fn expire_next_watch(&self, kind: &str) {
        self.lock().watch_faults.push((kind.to_string(), watch::WatchFault::Expire));
    }

    /// Forgets the change history, as etcd's compaction does: a watch from any resource version
    /// handed out so far is expired (open watches included, at their next look).
    pub fn compact(&self) {
        let mut s = self.lock();
        s.compact();
        s.changed.notify_waiters();
    }

    pub fn reconnect(&self) {
        self.lock().fail_after = None;
    }

    // ---- accounting ----

    /// Requests received so far, by verb and kind (faulted ones included).
    pub fn requests(&self) -> BTreeMap<(Verb, String), usize> {
        self.lock().requests.clone()
    }

    /// How many requests of this verb and kind were received.
    pub fn count(&self, verb: Verb, kind: &str) -> usize {
        self.lock().requests.get(&(verb, kind.to_string())).copied().unwrap_or(0)
    }

    /// Every request received so far, in order.
    pub fn request_log(&self) -> Vec<Request> {
        self.lock().request_log.clone()
    }

    pub fn reset_requests(&self) {
        let mut s = self.lock();
        s.requests.clear();
        s.request_log.clear();
    }

    // ---- inspection ----

    /// The whole cluster, without volatile fields (see [`Snapshot`]).
    pub fn snapshot(&self) -> Snapshot {
        let s = self.lock();
        Snapshot::new(s.objects.keys().filter_map(|r| Some((r.clone(), s.output(r)?))).collect())
    }

    /// An object as `get` would answer, without counting a request or running into a fault.
    pub fn peek(&self, r: &ObjectRef) -> Option<Value> {
        let s = self.lock();
        let (r, _) = s.resolve(&r.api_version, &r.kind, r.namespace.as_deref(), &r.name).ok()?;
        s.output(&r)
    }

    /// Every object of a kind (events included), as `get` would answer each, without counting
    /// a request.
    pub fn peek_all(&self, kind: &str) -> Vec<Value> {
        let s = self.lock();
        s.objects.keys().filter(|r| r.kind == kind).filter_map(|r| s.output(r)).collect()
    }
}

#[async_trait]
impl Cluster for FakeCluster {
    fn default_namespace(&self) -> &str {
        &self.namespace
    }

    fn describe(&self) -> String {
        "fake".to_string()
    }

    /// The simulated time (see [`FakeCluster::now`]).
    fn now(&self) -> SystemTime {
        FakeCluster::now(self)
    }

    async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        server::State::known(&r.api_version, &r.kind)?;
        let mut s = self.serve().await;
        s.begin(Verb::Get, &r.kind, r.namespace.as_deref(), Some(&r.name))?;
        let (r, _) = s.resolve(&r.api_version, &r.kind, r.namespace.as_deref(), &r.name)?;
        Ok(s.output(&r))
    }

    async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        server::State::known(api_version, kind)?;
        let mut s = self.serve().await;
        s.begin(Verb::List, kind, namespace, None)?;
        s.list(api_version, kind, namespace, selector)
    }

    async fn list_versioned(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        labels: &str,
        fields: &str,
    ) -> Result<VersionedList, ClusterError> {
        server::State::known(api_version, kind)?;
        let mut s = self.serve().await;
        s.begin(Verb::List, kind, namespace, None)?;
        let fields = selector::FieldSelector::parse(fields)?;
        let items = s.list(api_version, kind, namespace, labels)?.into_iter().filter(|o| fields.matches(o)).collect();
        Ok(VersionedList { items, resource_version: s.rv.to_string() })
    }

    async fn watch(&self, req: &WatchRequest) -> Result<WatchStream, ClusterError> {
        server::State::known(&req.api_version, &req.kind)?;
        let mut s = self.serve().await;
        s.begin(Verb::Watch, &req.kind, req.namespace.as_deref(), None)?;
        let kind =
            s.served(&req.api_version, &req.kind).ok_or_else(|| server::not_served(&req.api_version, &req.kind))?;
        s.start_watch(self.state.clone(), req, kind)
    }

    async fn apply(&self, obj: &Value, opts: ApplyOptions) -> Result<Value, ClusterError> {
        known_obj(obj)?;
        let mut s = self.serve().await;
        let verb = if opts.dry_run { Verb::ApplyDryRun } else { Verb::Apply };
        let (kind, ns, name) = describe_obj(obj);
        s.begin(verb, &kind, ns.as_deref(), name.as_deref())?;
        s.apply(obj, opts)
    }

    async fn create(&self, obj: &Value) -> Result<Value, ClusterError> {
        known_obj(obj)?;
        let mut s = self.serve().await;
        let (kind, ns, name) = describe_obj(obj);
        s.begin(Verb::Create, &kind, ns.as_deref(), name.as_deref())?;
        s.create(obj)
    }

    async fn replace(&self, obj: &Value) -> Result<Value, ClusterError> {
        known_obj(obj)?;
        let mut s = self.serve().await;
        let (kind, ns, name) = describe_obj(obj);
        s.begin(Verb::Replace, &kind, ns.as_deref(), name.as_deref())?;
        s.update(obj, (super::FIELD_MANAGER, None), true)
    }

    async fn delete(
        &self,
        r: &ObjectRef,
        propagation: Propagation,
        dry_run: bool,
    ) -> Result<Option<Value>, ClusterError> {
        server::State::known(&r.api_version, &r.kind)?;
        let mut s = self.serve().await;
        s.begin(Verb::Delete, &r.kind, r.namespace.as_deref(), Some(&r.name))?;
        let (r, _) = s.resolve(&r.api_version, &r.kind, r.namespace.as_deref(), &r.name)?;
        s.delete(&r, propagation, dry_run)
    }

    async fn delete_exact(
        &self,
        r: &ObjectRef,
        uid: &str,
        resource_version: &str,
        propagation: Propagation,
    ) -> Result<Option<Value>, ClusterError> {
        server::State::known(&r.api_version, &r.kind)?;
        let mut s = self.serve().await;
        s.begin(Verb::Delete, &r.kind, r.namespace.as_deref(), Some(&r.name))?;
        let (r, _) = s.resolve(&r.api_version, &r.kind, r.namespace.as_deref(), &r.name)?;
        s.check_preconditions(&r, uid, resource_version)?;
        s.delete(&r, propagation, false)
    }

    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        tail: Option<i64>,
    ) -> Result<String, ClusterError> {
        let mut s = self.serve().await;
        s.begin(Verb::Logs, "Pod", Some(namespace), Some(pod))?;
        s.logs(namespace, pod, container, tail)
    }

    async fn discover(&self, api_version: &str) -> Result<Option<Vec<Kind>>, ClusterError> {
        let mut s = self.serve().await;
        s.begin(Verb::Discover, "APIResourceList", None, Some(api_version))?;
        Ok(s.resource_list(api_version).map(|list| super::kinds_of_resource_list(api_version, &list)))
    }

    async fn preferred_version(&self, group: &str) -> Result<Option<String>, ClusterError> {
        if group.is_empty() {
            return Ok(Some("v1".into()));
        }
        let mut s = self.serve().await;
        s.begin(Verb::Discover, "APIGroup", None, Some(group))?;
        // A built-in group's version msws knows; a custom one's first installed version.
        let builtin = KINDS.iter().find(|k| k.group() == group && BUILT_IN.contains(&k.api_version));
        let installed = s.crds.values().copied().find(|k| k.group() == group);
        Ok(builtin.or(installed).map(|k| k.version().to_string()))
    }

    async fn events(&self, about: &ObjectRef, uid: Option<&str>) -> Result<Vec<Value>, ClusterError> {
        let mut s = self.serve().await;
        s.begin(Verb::List, "Event", about.namespace.as_deref(), None)?;
        let Some(ns) = about.namespace.as_deref() else { return Ok(Vec::new()) };
        let mut events: Vec<Value> = s
            .list("v1", "Event", Some(ns), "")?
            .into_iter()
            .filter(|e| {
                let at = |p: &str| e.pointer(&format!("/involvedObject/{p}")).and_then(Value::as_str);
                at("kind") == Some(about.kind.as_str())
                    && at("name") == Some(about.name.as_str())
                    && uid.is_none_or(|u| at("uid") == Some(u))
            })
            .collect();
        events.sort_by(|a, b| super::event_time(a).cmp(super::event_time(b)));
        Ok(events)
    }
}

/// [`server::State::known`] for an object to send (one without apiVersion or kind goes on, to
/// be refused by the server's own checks).
fn known_obj(obj: &Value) -> Result<(), ClusterError> {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str);
    match (s("/apiVersion"), s("/kind")) {
        (Some(av), Some(kind)) => server::State::known(av, kind),
        _ => Ok(()),
    }
}

/// Kind, namespace and name of a request's object, for accounting.
fn describe_obj(obj: &Value) -> (String, Option<String>, Option<String>) {
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).map(str::to_string);
    (s("/kind").unwrap_or_default(), s("/metadata/namespace"), s("/metadata/name"))
}
