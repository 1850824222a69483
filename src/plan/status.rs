//! `msws status`: each step's live state, read from the cluster (no dry-runs, no changes).

use serde::Serialize;
use serde_json::Value;

use super::{Live, ObserveOptions, observe};
use crate::cluster::{Cluster, ClusterError, ObjectRef};
use crate::graph::StepGraph;
use crate::model::{SecretSource, StepKind, Workspace};
use crate::readiness::{self, State};
use crate::render::{Rendered, job_name, keys};

#[derive(Clone, Debug, Serialize)]
pub struct StepStatus {
    pub step: String,
    pub state: &'static str,
    pub detail: String,
}

fn selector_of(labels: &serde_json::Map<String, Value>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")
}

/// Reads the cluster and says where each step stands.
pub async fn status(
    cluster: &dyn Cluster,
    ws: &Workspace,
    graph: &StepGraph,
    rendered: &Rendered,
) -> Result<Vec<StepStatus>, ClusterError> {
    let live = observe(cluster, ws, rendered, ObserveOptions { dry_run: false, concurrency: 8 }).await?;
    let ns = rendered.namespace.as_str();
    let lookup = ws.lookup();
    let mut out = Vec::new();
    for step in graph.steps() {
        let name = step.id.name.as_str();
        let state = match step.id.kind {
            StepKind::Storage => {
                let r = ObjectRef::new("v1", "PersistentVolumeClaim", Some(ns), name);
                let first_consumer = lookup
                    .storages
                    .get(name)
                    .and_then(|s| s.class.as_ref())
                    .and_then(|c| live.objects.get(&ObjectRef::new("storage.k8s.io/v1", "StorageClass", None, c)))
                    .and_then(|c| c.get("volumeBindingMode").and_then(Value::as_str))
                    == Some("WaitForFirstConsumer");
                match live.objects.get(&r) {
                    Some(pvc) if pvc.pointer("/status/phase").and_then(Value::as_str) == Some("Pending") => {
                        // Why it is pending, in the cluster's words (as apply's wait says it).
                        let uid = pvc.pointer("/metadata/uid").and_then(Value::as_str);
                        let events = cluster.events(&r, uid).await?;
                        let volume = pvc
                            .pointer("/spec/volumeName")
                            .and_then(Value::as_str)
                            // Read by the observation only when the workspace names it.
                            .filter(|v| lookup.storages.get(name).and_then(|s| s.volume.as_deref()) == Some(*v))
                            .map(|v| live.objects.get(&ObjectRef::new("v1", "PersistentVolume", None, v)));
                        readiness::claim_with(pvc, first_consumer, &readiness::ClaimFacts { events: &events, volume })
                    }
                    Some(pvc) => readiness::claim(pvc, first_consumer),
                    None if lookup.storages.get(name).is_some_and(|s| s.existing) => {
                        State::Failed("declared existing, but there is no such claim".into())
                    }
                    None => State::Absent,
                }
            }
            StepKind::Secret => {
                let r = ObjectRef::new("v1", "Secret", Some(ns), name);
                match (live.objects.get(&r), lookup.secrets.get(name).map(|s| &s.source)) {
                    (Some(_), _) => State::Ready("exists".into()),
                    (None, Some(SecretSource::Existing)) => {
                        State::Failed("declared existing, but there is no such Secret".into())
                    }
                    (None, _) => State::Absent,
                }
            }
            StepKind::Download => download_state(cluster, ws, &live, ns, name).await?,
            StepKind::Release => {
                let job = ObjectRef::new("batch/v1", "Job", Some(ns), &job_name(name));
                match (live.objects.get(&job), live.inventory.downloads.contains_key(name)) {
                    (None, true) => State::Ready("the downloader is gone; the servers can attach the claim".into()),
                    (None, false) => State::Absent,
                    (Some(_), _) => State::Waiting(format!("Job {} still exists", job.name)),
                }
            }
            StepKind::PrePull => pre_pull_state(ws, rendered, &live, name),
            StepKind::ModelService => service_state(cluster, rendered, &live, name).await?,
        };
        out.push(StepStatus { step: step.id.to_string(), state: state.word(), detail: state.detail().to_string() });
    }
    Ok(out)
}

/// A pre-pull is done when no pull pod is left and every node its pods can land on has its
/// images; a node that misses one is reported (the next apply pulls it there).
fn pre_pull_state(ws: &Workspace, rendered: &Rendered, live: &Live, name: &str) -> State {
    use super::prepull::{Nodes, PRE_PULL_LABEL, decide};
    let left = live
        .objects
        .iter()
        .filter(|(r, v)| {
            r.kind == "Pod"
                && v.pointer("/metadata/labels").and_then(|l| l.get(PRE_PULL_LABEL)).and_then(Value::as_str)
                    == Some(name)
        })
        .count();
    if left > 0 {
        return State::Waiting(format!("{left} pull pod(s) still there"));
    }
    if let Nodes::Unlisted(why) = live.nodes.as_ref() {
        return State::Ready(format!("nothing pre-pulled: cannot list nodes ({why})"));
    }
    let objects = rendered
        .steps
        .iter()
        .find(|r| r.step.kind == StepKind::ModelService && r.step.name == name)
        .map(|r| r.objects.as_slice())
        .unwrap_or(&[]);
    let pp = decide(ws, &rendered.namespace, name, objects, &live.nodes);
    // Nothing waits for a pre-pull once its model service runs: a node that joined since lacks
    // the images until the model service next changes, which is worth saying, not waiting for.
    match pp.pods.len() {
        0 => State::Ready("its images are on every node its pods can land on".into()),
        n => State::Ready(format!(
            "its images are missing on {n} node(s) ({}): the model service's next change pulls them",
            pp.pods.iter().map(|p| p.node.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

async fn pods(cluster: &dyn Cluster, ns: &str, selector: &str) -> Result<Vec<Value>, ClusterError> {
    cluster.list("v1", "Pod", Some(ns), selector).await
}

async fn download_state(
    cluster: &dyn Cluster,
    ws: &Workspace,
    live: &Live,
    ns: &str,
    name: &str,
) -> Result<State, ClusterError> {
    let Some(d) = ws.download(name) else { return Ok(State::Absent) };
    let job = live.objects.get(&ObjectRef::new("batch/v1", "Job", Some(ns), &job_name(name)));
    let record = live.inventory.downloads.get(name);
    if let Some(r) = record
        && r.matches(&d.source_uri(), &d.revision, &d.storage, &d.path)
    {
        return Ok(State::Ready(describe_record(r)));
    }
    match job {
        Some(j) => {
            let pods = pods(cluster, ns, &format!("{}={name}", keys::DOWNLOAD)).await?;
            Ok(match readiness::job(j, &pods) {
                State::Ready(_) => State::Waiting("the Job succeeded; the next apply records it".into()),
                other => other,
            })
        }
        None => Ok(match record {
            Some(r) => State::Waiting(format!("another download is recorded there: {}", describe_record(r))),
            None => State::Absent,
        }),
    }
}

/// "hf://org/m@main (commit 27dcfa74d334, 8 files, 250 MiB)".
pub fn describe_record(r: &super::DownloadRecord) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &r.commit {
        parts.push(format!("commit {}", super::inventory::short_commit(c)));
    }
    if let Some(f) = r.files {
        parts.push(format!("{f} files"));
    }
    if let Some(b) = r.bytes {
        parts.push(format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0)));
    }
    let extra = if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) };
    format!("downloaded {}@{}{extra}", r.source, r.revision)
}

async fn service_state(
    cluster: &dyn Cluster,
    rendered: &Rendered,
    live: &Live,
    name: &str,
) -> Result<State, ClusterError> {
    let objects: Vec<ObjectRef> = rendered
        .steps
        .iter()
        .filter(|s| s.step.kind == StepKind::ModelService && s.step.name == name)
        .flat_map(|s| &s.objects)
        .filter_map(|o| ObjectRef::of(&o.to_json()))
        .collect();
    let mut parts = Vec::new();
    let mut missing = Vec::new();
    let (mut failed, mut waiting) = (false, false);
    for r in &objects {
        let Some(obj) = live.objects.get(r) else {
            missing.push(r);
            continue;
        };
        if !readiness::is_workload(&r.kind) {
            continue;
        }
        let role = r.name.rsplit('-').next().unwrap_or(&r.name).to_string();
        let s = workload_state(cluster, obj).await?;
        failed |= matches!(s, State::Failed(_));
        waiting |= matches!(s, State::Waiting(_));
        parts.push(format!("{role} {}", s.detail()));
    }
    for r in &missing {
        match readiness::is_workload(&r.kind) {
            true => parts.push(format!("{}: absent", r.name.rsplit('-').next().unwrap_or(&r.name))),
            false => parts.push(format!("{} {}: absent", r.kind, r.name)),
        }
    }
    let detail = parts.join("; ");
    Ok(if missing.len() == objects.len() && !objects.is_empty() {
        State::Absent
    } else if failed {
        State::Failed(detail)
    } else if waiting || !missing.is_empty() {
        State::Waiting(detail)
    } else {
        State::Ready(detail)
    })
}

/// A live object's state, reading the pods (and for a DisaggregatedSet nothing more: its
/// status sums its LeaderWorkerSets') that say why it is not ready: a Deployment's pods by its
/// selector, a LeaderWorkerSet's and a DisaggregatedSet's by the label their controllers give
/// them, a ReplicaSet's by its selector and owner (the dual-pod requesters of several services
/// share a selector). Kinds without a status are ready once applied.
pub async fn workload_state(cluster: &dyn Cluster, obj: &Value) -> Result<State, ClusterError> {
    let str_at = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let (kind, name, ns) = (str_at("/kind"), str_at("/metadata/name"), str_at("/metadata/namespace"));
    let selector =
        obj.pointer("/spec/selector/matchLabels").and_then(Value::as_object).map(selector_of).unwrap_or_default();
    let listed = |selector: String| async move {
        match selector.is_empty() {
            true => Ok(Vec::new()),
            false => pods(cluster, ns, &selector).await,
        }
    };
    Ok(match kind {
        "Deployment" => readiness::deployment(obj, &listed(selector).await?),
        "LeaderWorkerSet" => {
            readiness::leader_worker_set(obj, &listed(format!("leaderworkerset.sigs.k8s.io/name={name}")).await?)
        }
        "DisaggregatedSet" => {
            readiness::disaggregated_set(obj, &listed(format!("disaggregatedset.x-k8s.io/name={name}")).await?)
        }
        "ReplicaSet" => {
            let uid = str_at("/metadata/uid");
            let owned: Vec<Value> = listed(selector)
                .await?
                .into_iter()
                .filter(|p| {
                    p.pointer("/metadata/ownerReferences")
                        .and_then(Value::as_array)
                        .is_some_and(|o| o.iter().any(|o| o.get("uid").and_then(Value::as_str) == Some(uid)))
                })
                .collect();
            readiness::replica_set(obj, &owned)
        }
        other => readiness::applied(other),
    })
}
