//! Inspection of a claim: what the runbook's debugging pod is for, done by msws. A short-lived
//! pod mounts the claim read-only and runs `inspect.py`, which prints one JSON document — the
//! model directories on the claim (a `config.json`, or a Hugging Face hub cache entry), their
//! sizes, what msws's downloader recorded there, and the directories around them — that
//! [`listing::parse_log`] reads back from the pod's log. Used by `msws inspect` and by the model
//! check of `plan` and `apply` ([`crate::plan::models`]).
//!
//! The pod's life, in [`inspect`]:
//! 1. the claim must exist and be bound (an unbound claim holds nothing, and a pod would be the
//!    first consumer that provisions it);
//! 2. the pods of the namespace that use the claim: a ReadWriteOncePod claim in use cannot be
//!    mounted by a second pod (refused, naming the pod); a ReadWriteOnce claim in use on a node
//!    can be mounted by a second pod only on that node, so the pod is pinned there
//!    (`spec.nodeName`). Inspection pods a crashed run left behind are deleted once finished or
//!    past their deadline;
//! 3. the pod is created (a generated name, the workspace's and msws's labels, `msws.io/purpose:
//!    inspect`) and watched until it ends: an image that cannot be pulled, a volume another node
//!    holds (a `Multi-Attach` event) and the timeout end the wait with what the pod was doing;
//! 4. its log is read and parsed;
//! 5. the pod is deleted on every way out — success, failure, timeout and cancellation (Ctrl-C)
//!    — and waited for until it is gone, so that a single-attach claim is free again.

pub mod find;
pub mod listing;
pub mod pod;
pub mod show;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::cluster::{Cluster, ClusterError, ObjectRef, Propagation};
use crate::render::keys;

pub use listing::{Dir, Layout, Listing, LogError, Marker, Model, Snapshot, parse_log};

/// The inspector, run by the pod with `python3 -c`.
pub const SCRIPT: &str = include_str!("inspect.py");

/// The image when the workspace has no download to borrow one from: the standard library's
/// downloader image (a unit test holds the two together), a stock Python.
pub const DEFAULT_IMAGE: &str = "docker.io/library/python:3.12-slim";

/// Levels below the claim's root that are searched for models by default.
pub const DEFAULT_DEPTH: u32 = 4;

/// How long an inspection may take by default, image pull included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What to inspect and how.
#[derive(Clone, Debug)]
pub struct Request {
    pub namespace: String,
    pub claim: String,
    /// The workspace the pod is labelled with.
    pub workspace: String,
    pub image: String,
    pub depth: u32,
    /// For the whole inspection; also the pod's `activeDeadlineSeconds`.
    pub timeout: Duration,
    /// Time between two looks at the pod.
    pub poll: Duration,
}

impl Request {
    pub fn new(namespace: &str, claim: &str, workspace: &str) -> Request {
        Request {
            namespace: namespace.into(),
            claim: claim.into(),
            workspace: workspace.into(),
            image: DEFAULT_IMAGE.into(),
            depth: DEFAULT_DEPTH,
            timeout: DEFAULT_TIMEOUT,
            poll: Duration::from_secs(1),
        }
    }
}

/// The image for inspecting a claim of this workspace: a download's into the claim, else any
/// download's (the node may have pulled it already), else [`DEFAULT_IMAGE`].
pub fn image_for(ws: &crate::model::Workspace, claim: &str) -> String {
    ws.downloads
        .iter()
        .find(|d| d.storage == claim)
        .or(ws.downloads.first())
        .map(|d| d.image.clone())
        .unwrap_or_else(|| DEFAULT_IMAGE.to_string())
}

/// The claim as the API server has it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClaimInfo {
    pub name: String,
    pub phase: String,
    pub access_modes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// A finished inspection.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Inspection {
    pub namespace: String,
    pub claim: ClaimInfo,
    /// The pod that ran it (deleted since).
    pub pod: String,
    pub image: String,
    /// The node it was pinned to, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pinned_because: Option<String>,
    pub listing: Listing,
    /// Things worth saying that did not stop it (a leftover pod deleted, another inspection
    /// running).
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    #[error("claim {claim} does not exist in namespace {namespace}")]
    NoClaim { namespace: String, claim: String },
    #[error("claim {claim} is {phase}, not Bound: {why}")]
    NotBound { claim: String, phase: String, why: String },
    #[error(
        "claim {claim} is ReadWriteOncePod and in use by {}: no second pod can mount it until {} gone",
        pods.join(", "), if pods.len() == 1 { "that pod is" } else { "those pods are" }
    )]
    InUse { claim: String, pods: Vec<String> },
    #[error(
        "claim {claim} is attached to another node, so the inspection pod cannot mount it ({message}); it is ReadWriteOnce: inspect it once the pods using it are gone, or while they run (msws then runs the inspection on their node)"
    )]
    AttachedElsewhere { claim: String, message: String },
    #[error("the inspection pod {pod} cannot run: {reason}")]
    PodFailed { pod: String, reason: String },
    #[error("the inspection of claim {claim} timed out after {}s; the pod {pod} was {state}", after.as_secs())]
    Timeout { claim: String, pod: String, after: Duration, state: String },
    #[error("the inspection pod {pod} was deleted by someone else before it finished")]
    Gone { pod: String },
    #[error("{0}")]
    Log(#[from] LogError),
    #[error("interrupted{}", pod.as_ref().map(|p| format!(": the inspection pod {p} was deleted")).unwrap_or_default())]
    Interrupted { pod: Option<String> },
    #[error("{0}")]
    Cluster(#[from] ClusterError),
    /// Another error, after which the pod could not be deleted either.
    #[error(
        "{error}; and the inspection pod {pod} could not be deleted ({cleanup}): delete it with `kubectl delete pod -n {namespace} {pod}`"
    )]
    Leftover { error: Box<InspectError>, namespace: String, pod: String, cleanup: String },
}

impl InspectError {
    /// The error itself, without a failed cleanup around it.
    pub fn root(&self) -> &InspectError {
        match self {
            InspectError::Leftover { error, .. } => error.root(),
            e => e,
        }
    }
}

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

fn claim_info(claim: &Value) -> ClaimInfo {
    let strings = |p: &str| -> Vec<String> {
        claim
            .pointer(p)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let opt = |p: &str| Some(str_at(claim, p).to_string()).filter(|s| !s.is_empty());
    let mut modes = strings("/status/accessModes");
    if modes.is_empty() {
        modes = strings("/spec/accessModes");
    }
    ClaimInfo {
        name: str_at(claim, "/metadata/name").to_string(),
        phase: Some(str_at(claim, "/status/phase").to_string()).filter(|s| !s.is_empty()).unwrap_or("Pending".into()),
        access_modes: modes,
        capacity: opt("/status/capacity/storage"),
        volume: opt("/spec/volumeName"),
        storage_class: opt("/spec/storageClassName"),
    }
}

fn phase(pod: &Value) -> &str {
    str_at(pod, "/status/phase")
}

fn terminal(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

fn uses_claim(pod: &Value, claim: &str) -> bool {
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|v| v.pointer("/persistentVolumeClaim/claimName").and_then(Value::as_str) == Some(claim))
}

fn is_inspection_of(pod: &Value, claim: &str) -> bool {
    let label = pod.pointer(&format!("/metadata/labels/{}", pod::PURPOSE_LABEL.replace('/', "~1")));
    let storage = pod.pointer(&format!("/metadata/annotations/{}", keys::STORAGE.replace('/', "~1")));
    label.and_then(Value::as_str) == Some(pod::PURPOSE) && storage.and_then(Value::as_str) == Some(claim)
}

/// Seconds since an RFC 3339 timestamp, on the cluster's clock.
fn age(cluster: &dyn Cluster, ts: &str) -> Option<Duration> {
    let t = crate::apply::lock::parse_time(ts)?;
    cluster.now().duration_since(t).ok()
}

fn pod_ref(namespace: &str, name: &str) -> ObjectRef {
    ObjectRef::new("v1", "Pod", Some(namespace), name)
}

/// Where the pod must run, from the pods that use the claim now; leftovers of earlier
/// inspections deleted on the way.
struct Placement {
    node: Option<String>,
    because: Option<String>,
    notes: Vec<String>,
}

async fn place(cluster: &dyn Cluster, req: &Request, info: &ClaimInfo) -> Result<Placement, InspectError> {
    let pods = cluster.list("v1", "Pod", Some(&req.namespace), "").await?;
    let mut notes = Vec::new();
    let mut users: Vec<&Value> = Vec::new();
    let mine = pod::selector(&req.workspace);
    let ours = |p: &Value| {
        mine.split(',').all(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            p.pointer(&format!("/metadata/labels/{}", k.replace('/', "~1"))).and_then(Value::as_str) == Some(v)
        })
    };
    for p in pods.iter().filter(|p| uses_claim(p, &req.claim)) {
        let name = str_at(p, "/metadata/name");
        if is_inspection_of(p, &req.claim) && ours(p) {
            let deadline = p.pointer("/spec/activeDeadlineSeconds").and_then(Value::as_u64).unwrap_or(0);
            let old = age(cluster, str_at(p, "/metadata/creationTimestamp"))
                .is_some_and(|a| a > Duration::from_secs(deadline + 60));
            if terminal(p) || old {
                match cluster.delete(&pod_ref(&req.namespace, name), Propagation::Background, false).await {
                    Ok(_) => notes.push(format!("deleted the inspection pod {name} an earlier run left behind")),
                    Err(ClusterError::NotFound(_)) => {}
                    Err(e) => notes
                        .push(format!("could not delete the inspection pod {name} an earlier run left behind: {e}")),
                }
                continue;
            }
            notes.push(format!("another inspection of claim {} is running (pod {name})", req.claim));
        }
        if terminal(p) {
            continue;
        }
        users.push(p);
    }
    let on_node: Vec<(&str, &str)> = users
        .iter()
        .filter_map(|p| {
            let node = str_at(p, "/spec/nodeName");
            (!node.is_empty()).then(|| (str_at(p, "/metadata/name"), node))
        })
        .collect();
    let modes: BTreeSet<&str> = info.access_modes.iter().map(String::as_str).collect();
    if modes.contains("ReadWriteOncePod") && !users.is_empty() {
        let pods = users
            .iter()
            .map(|p| {
                let node = str_at(p, "/spec/nodeName");
                let name = str_at(p, "/metadata/name");
                if node.is_empty() { format!("pod {name}") } else { format!("pod {name} on node {node}") }
            })
            .collect();
        return Err(InspectError::InUse { claim: req.claim.clone(), pods });
    }
    let multi = modes.contains("ReadWriteMany") || modes.contains("ReadOnlyMany");
    let nodes: BTreeSet<&str> = on_node.iter().map(|(_, n)| *n).collect();
    if modes.contains("ReadWriteOnce") && !multi && !nodes.is_empty() {
        if nodes.len() == 1 {
            let node = nodes.iter().next().map(|n| n.to_string());
            let names: Vec<&str> = on_node.iter().map(|(p, _)| *p).collect();
            let because = format!(
                "claim {} is ReadWriteOnce and in use there by {} {}",
                req.claim,
                if names.len() == 1 { "pod" } else { "pods" },
                names.join(", ")
            );
            return Ok(Placement { node, because: Some(because), notes });
        }
        notes.push(format!(
            "claim {} is ReadWriteOnce but in use on nodes {}: its volume lets several nodes mount it",
            req.claim,
            nodes.iter().copied().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(Placement { node: None, because: None, notes })
}

/// Inspects a claim. `progress` hears what the inspection is doing, each time it changes.
/// Cancelling `cancel` stops it; the pod is deleted whatever happens.
pub async fn inspect(
    cluster: &dyn Cluster,
    req: &Request,
    cancel: &CancellationToken,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Inspection, InspectError> {
    let claim_ref = ObjectRef::new("v1", "PersistentVolumeClaim", Some(&req.namespace), &req.claim);
    let Some(claim) = cluster.get(&claim_ref).await? else {
        return Err(InspectError::NoClaim { namespace: req.namespace.clone(), claim: req.claim.clone() });
    };
    let info = claim_info(&claim);
    if !str_at(&claim, "/metadata/deletionTimestamp").is_empty() {
        // Kept only while pods use it; no new pod may mount it.
        let why = "it is being deleted, and no new pod can mount it".to_string();
        return Err(InspectError::NotBound { claim: req.claim.clone(), phase: "Terminating".into(), why });
    }
    if info.phase != "Bound" {
        let why = "it has no volume yet, so it holds no files (a pod that mounted it would be the first consumer that provisions it)";
        return Err(InspectError::NotBound { claim: req.claim.clone(), phase: info.phase, why: why.into() });
    }
    if cancel.is_cancelled() {
        return Err(InspectError::Interrupted { pod: None });
    }
    let placement = place(cluster, req, &info).await?;
    let created = cluster.create(&pod::pod(req, placement.node.as_deref())).await?;
    let name = str_at(&created, "/metadata/name").to_string();
    let uid = str_at(&created, "/metadata/uid").to_string();
    match &placement.node {
        Some(node) => progress(&format!("inspection pod {name} created on node {node}")),
        None => progress(&format!("inspection pod {name} created")),
    }
    let result = tokio::select! {
        r = watch(cluster, req, &name, &uid, progress) => r,
        _ = cancel.cancelled() => Err(InspectError::Interrupted { pod: Some(name.clone()) }),
    };
    let cleanup = remove(cluster, req, &name).await;
    match (result, cleanup) {
        (Ok(listing), cleanup) => {
            let mut notes = placement.notes;
            if let Err(e) = cleanup {
                notes.push(format!(
                    "the inspection pod {name} could not be deleted ({e}): delete it with `kubectl delete pod -n {} {name}`",
                    req.namespace
                ));
            }
            Ok(Inspection {
                namespace: req.namespace.clone(),
                claim: info,
                pod: name,
                image: req.image.clone(),
                node: placement.node,
                pinned_because: placement.because,
                listing,
                notes,
            })
        }
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(c)) => Err(InspectError::Leftover {
            error: Box::new(e),
            namespace: req.namespace.clone(),
            pod: name,
            cleanup: c.to_string(),
        }),
    }
}

/// Deletes the pod and waits until it is gone (a single-attach claim is free only then). A
/// connection error is tried again a few times: the pod must not be left behind.
async fn remove(cluster: &dyn Cluster, req: &Request, name: &str) -> Result<(), ClusterError> {
    let r = pod_ref(&req.namespace, name);
    let mut last = None;
    for attempt in 0..3u32 {
        match cluster.delete(&r, Propagation::Background, false).await {
            Ok(_) | Err(ClusterError::NotFound(_)) => {
                last = None;
                break;
            }
            Err(e) if e.is_transient() => {
                last = Some(e);
                tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(e) = last {
        return Err(e);
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match cluster.get(&r).await {
            Ok(None) => return Ok(()),
            Ok(Some(_)) | Err(_) if tokio::time::Instant::now() >= deadline => {
                return Err(ClusterError::Timeout(format!("pod {name} was still there 60s after its deletion")));
            }
            _ => tokio::time::sleep(req.poll.max(Duration::from_millis(100))).await,
        }
    }
}

/// Image and container states that waiting will not fix.
const HOPELESS: &[&str] = &[
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Watches the pod until it ends; its listing, or why there is none.
async fn watch(
    cluster: &dyn Cluster,
    req: &Request,
    name: &str,
    uid: &str,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Listing, InspectError> {
    let r = pod_ref(&req.namespace, name);
    let start = tokio::time::Instant::now();
    let mut state = "waiting to be scheduled".to_string();
    loop {
        let said = state.clone();
        // A connection that drops for a moment is waited out, as long as the timeout allows.
        let p = match cluster.get(&r).await {
            Ok(Some(p)) => Some(p),
            Ok(None) => return Err(InspectError::Gone { pod: name.into() }),
            Err(e) if e.is_transient() => {
                state = format!("unknown: the cluster could not be read ({e})");
                None
            }
            Err(e) => return Err(e.into()),
        };
        match p.as_ref().map(phase) {
            None => {}
            Some("Succeeded") => {
                let mut tries = 0;
                let log = loop {
                    match cluster.logs(&req.namespace, name, Some(pod::CONTAINER), None).await {
                        Err(e) if e.is_transient() && tries < 3 => {
                            tries += 1;
                            tokio::time::sleep(req.poll).await;
                        }
                        other => break other?,
                    }
                };
                return Ok(parse_log(&log)?);
            }
            Some("Failed") => return Err(failed(cluster, req, name, p.as_ref().unwrap_or(&Value::Null)).await),
            Some(ph) => {
                let p = p.as_ref().unwrap_or(&Value::Null);
                let waiting = p
                    .pointer("/status/containerStatuses/0/state/waiting")
                    .map(|w| (str_at(w, "/reason").to_string(), str_at(w, "/message").to_string()));
                if let Some((reason, message)) = &waiting
                    && HOPELESS.contains(&reason.as_str())
                {
                    let reason = if message.is_empty() { reason.clone() } else { format!("{reason}: {message}") };
                    return Err(InspectError::PodFailed {
                        pod: name.into(),
                        reason: format!("{reason} (image {})", req.image),
                    });
                }
                let unschedulable = p
                    .pointer("/status/conditions")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .find(|c| str_at(c, "/type") == "PodScheduled" && str_at(c, "/status") == "False")
                    .map(|c| str_at(c, "/message").to_string());
                state = match (ph, unschedulable, &waiting) {
                    (_, Some(m), _) => format!("not scheduled: {m}"),
                    ("Running", _, _) => "running".into(),
                    (_, None, Some((reason, _))) if !reason.is_empty() => format!("waiting: {reason}"),
                    _ if p.pointer("/spec/nodeName").is_some() => "starting".into(),
                    _ => "waiting to be scheduled".into(),
                };
                if ph == "Pending" {
                    let events = match cluster.events(&r, Some(uid)).await {
                        Err(e) if e.is_transient() => Vec::new(),
                        other => other?,
                    };
                    for e in events {
                        let (reason, message) = (str_at(&e, "/reason"), str_at(&e, "/message"));
                        if reason == "FailedAttachVolume" && message.contains("Multi-Attach") {
                            return Err(InspectError::AttachedElsewhere {
                                claim: req.claim.clone(),
                                message: message.into(),
                            });
                        }
                        if reason == "FailedMount" || reason == "FailedAttachVolume" {
                            state = format!("waiting for its volume: {message}");
                        }
                    }
                }
            }
        }
        if state != said {
            progress(&format!("inspection pod {name}: {state}"));
        }
        if start.elapsed() >= req.timeout {
            return Err(InspectError::Timeout {
                claim: req.claim.clone(),
                pod: name.into(),
                after: req.timeout,
                state,
            });
        }
        tokio::time::sleep(req.poll).await;
    }
}

/// Why a pod failed: its deadline, its container's end, what the script said.
async fn failed(cluster: &dyn Cluster, req: &Request, name: &str, p: &Value) -> InspectError {
    if str_at(p, "/status/reason") == "DeadlineExceeded" {
        return InspectError::Timeout {
            claim: req.claim.clone(),
            pod: name.into(),
            after: req.timeout,
            state: "stopped by its own deadline (activeDeadlineSeconds)".into(),
        };
    }
    if let Ok(log) = cluster.logs(&req.namespace, name, Some(pod::CONTAINER), Some(50)).await
        && let Err(LogError::Failed(reason)) = parse_log(&log)
    {
        return InspectError::Log(LogError::Failed(reason));
    }
    let t = p.pointer("/status/containerStatuses/0/state/terminated");
    let reason = match t {
        Some(t) => {
            let code = t.get("exitCode").and_then(Value::as_i64).unwrap_or(-1);
            let (why, message) = (str_at(t, "/reason"), str_at(t, "/message"));
            match why {
                "OOMKilled" => "it ran out of memory listing the claim".to_string(),
                _ if message.is_empty() => format!("its container exited with code {code} ({why})"),
                _ => format!(
                    "its container exited with code {code} ({why}: {message}); does image {} have python3?",
                    req.image
                ),
            }
        }
        None => {
            let m = str_at(p, "/status/message");
            if m.is_empty() { "it failed".to_string() } else { m.to_string() }
        }
    };
    InspectError::PodFailed { pod: name.into(), reason }
}

/// The depth an inspection needs to see every one of these paths (relative to the claim's
/// root) and what is in them: at least [`DEFAULT_DEPTH`].
pub fn depth_for<'a>(paths: impl IntoIterator<Item = &'a str>) -> u32 {
    let deepest = paths.into_iter().map(|p| p.split('/').filter(|s| !s.is_empty()).count() as u32).max().unwrap_or(0);
    DEFAULT_DEPTH.max(deepest + 1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_image_is_the_standard_library_downloader_s() {
        let stdlib = include_str!("../../stdlib/hf-download.kdl");
        assert!(stdlib.contains(&format!("image \"{}\"", super::DEFAULT_IMAGE)), "{stdlib}");
    }

    #[test]
    fn the_depth_reaches_the_deepest_path() {
        assert_eq!(super::depth_for(["", "models/x"]), super::DEFAULT_DEPTH);
        assert_eq!(super::depth_for(["a/b/c/d/e/f"]), 7);
    }
}
