//! Readiness: what a live object's status says, in three answers — ready, still waiting (and
//! why), failed (and why). Used by `msws status` and by apply's waits.
//!
//! Pure functions of the objects' JSON. A wait built on "is it complete yet?" alone hangs on a
//! failed Job (kube-rs's `is_job_completed` never reports failure); every function here also
//! recognises failure.
//!
//! Workloads without a progress deadline of their own (LeaderWorkerSet, a ReplicaSet no
//! Deployment owns, DisaggregatedSet) fail on what their pods say waiting will not fix
//! ([`pod_failure`]: a container that crashed [`CRASH_LIMIT`] times, an image that does not
//! exist or may not be pulled, a container that cannot be configured). Everything else — an
//! unschedulable pod (an autoscaler may add a node; a rolling update frees accelerators), an
//! image pull that is slow or rate-limited, a first crash — is a reason to wait, named with its
//! group (and role and slice), until the wait's timeout ends it. A LeaderWorkerSet restarts a
//! whole group when one of its pods restarts (`RecreateGroupOnPodRestart`, the default), so on
//! a real cluster its pods' restart counts may stay low: there the timeout, with the crash as
//! its reason, is what ends a crash loop.
//!
//! Kinds with no status to wait for (PodMonitor, ConfigMap, Service, HTTPRoute, any kind msws
//! does not know) are ready once applied ([`applied`]).

use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Ready(String),
    Waiting(String),
    Failed(String),
    Absent,
}

impl State {
    pub fn word(&self) -> &'static str {
        match self {
            State::Ready(_) => "ready",
            State::Waiting(_) => "waiting",
            State::Failed(_) => "failed",
            State::Absent => "absent",
        }
    }
    pub fn detail(&self) -> &str {
        match self {
            State::Ready(s) | State::Waiting(s) | State::Failed(s) => s,
            State::Absent => "",
        }
    }
    pub fn is_ready(&self) -> bool {
        matches!(self, State::Ready(_))
    }
}

fn str_at<'a>(v: &'a Value, p: &str) -> Option<&'a str> {
    v.pointer(p).and_then(Value::as_str)
}

fn int_at(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

/// A condition of an object's status by type: (status, reason, message).
fn condition<'a>(obj: &'a Value, kind: &str) -> Option<(&'a str, &'a str, &'a str)> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        .map(|c| {
            (
                c.get("status").and_then(Value::as_str).unwrap_or(""),
                c.get("reason").and_then(Value::as_str).unwrap_or(""),
                c.get("message").and_then(Value::as_str).unwrap_or(""),
            )
        })
}

/// A claim: ready once Bound; with a class that binds on first consumer, waiting for that is
/// expected (the download is its first consumer).
pub fn claim(pvc: &Value, binds_on_first_consumer: bool) -> State {
    claim_with(pvc, binds_on_first_consumer, &ClaimFacts::default())
}

/// What else the cluster says about a claim that is not bound yet.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClaimFacts<'a> {
    /// Its events, oldest first (the persistent volume controller's say why it is pending).
    pub events: &'a [Value],
    /// The volume it names, when it names one: `Some(None)` when that volume does not exist.
    pub volume: Option<Option<&'a Value>>,
}

/// [`claim`], with the claim's events and its named volume: a claim that cannot bind however
/// long one waits fails at once, with the cluster's reason; otherwise the wait says why it is
/// pending in the cluster's words.
pub fn claim_with(pvc: &Value, binds_on_first_consumer: bool, facts: &ClaimFacts) -> State {
    let phase = str_at(pvc, "/status/phase").unwrap_or("Pending");
    let capacity = str_at(pvc, "/status/capacity/storage").unwrap_or("");
    let volume = str_at(pvc, "/spec/volumeName").unwrap_or("");
    match phase {
        "Bound" => return State::Ready(format!("Bound to {volume} ({capacity})")),
        "Lost" => return State::Failed(format!("Lost: its volume {volume} is gone")),
        _ => {}
    }
    if let Some(None) = facts.volume {
        return State::Failed(format!(
            "volume {volume} does not exist: the claim names it, so it cannot bind to anything else (create the PersistentVolume, or remove `volume` from the storage)"
        ));
    }
    let uid = str_at(pvc, "/metadata/uid");
    let latest = facts.events.iter().rev().find(|e| uid.is_none() || str_at(e, "/involvedObject/uid") == uid);
    if let Some(e) = latest {
        let reason = str_at(e, "/reason").unwrap_or("");
        let message = str_at(e, "/message").unwrap_or("");
        if claim_event_is_final(reason, message) {
            return State::Failed(format!("{reason}: {message}"));
        }
        if !binds_on_first_consumer {
            return State::Waiting(format!("{phase}: {reason}: {message}"));
        }
    }
    if binds_on_first_consumer {
        return State::Ready("Pending until its first consumer (the class binds on first use)".into());
    }
    State::Waiting(format!("{phase}: no volume bound yet"))
}

/// Whether an event of the persistent volume controller says the claim will never bind by
/// itself: the volume it names does not fit it or belongs to another claim, no class and no
/// volume can serve it, or its class does not exist. (Provisioning failures of an existing class
/// are retried by the provisioner, and waiting may still help.)
fn claim_event_is_final(reason: &str, message: &str) -> bool {
    match reason {
        "VolumeMismatch" => true,
        "FailedBinding" => {
            message.contains("already bound to a different claim") || message.contains("no storage class is set")
        }
        "ProvisioningFailed" => message.starts_with("storageclass.storage.k8s.io") && message.ends_with("not found"),
        _ => false,
    }
}

/// Why a pod is not running or not ready, in a few words, if anything says so.
pub fn pod_problem(pod: &Value) -> Option<String> {
    let name = str_at(pod, "/metadata/name").unwrap_or("?");
    if let Some(("False", reason, message)) = condition(pod, "PodScheduled") {
        let reason = if reason.is_empty() { "not scheduled" } else { reason };
        return Some(format!("pod {name}: {reason}: {message}").trim_end_matches(": ").to_string());
    }
    let statuses = pod
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(pod.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten());
    for cs in statuses {
        let container = cs.get("name").and_then(Value::as_str).unwrap_or("?");
        if let Some(w) = cs.pointer("/state/waiting") {
            let reason = w.get("reason").and_then(Value::as_str).unwrap_or("waiting");
            if reason == "ContainerCreating" || reason == "PodInitializing" {
                continue;
            }
            let message = w.get("message").and_then(Value::as_str).unwrap_or("");
            let restarts = cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
            let mut s = format!("pod {name} container {container}: {reason}");
            if restarts > 0 {
                s += &format!(" (restarted {restarts} times)");
            }
            if !message.is_empty() {
                s += &format!(": {message}");
            }
            return Some(s);
        }
    }
    None
}

/// How many times a container may have crashed before its workload is failed rather than
/// waited for.
pub const CRASH_LIMIT: i64 = 3;

/// Kinds whose objects apply waits for after applying them, and whose pods `status` reads.
pub fn is_workload(kind: &str) -> bool {
    matches!(kind, "Deployment" | "LeaderWorkerSet" | "ReplicaSet" | "DisaggregatedSet")
}

/// A kind without a status to wait for: ready once the server accepted it.
pub fn applied(kind: &str) -> State {
    State::Ready(format!("applied ({kind} has no status to wait for)"))
}

/// What a pod says waiting will not fix, if anything: a container crashed [`CRASH_LIMIT`]
/// times, its image does not exist or may not be pulled (a rate limit or a slow registry is
/// waited for), its image name is invalid, or it cannot be configured (a missing key of a
/// ConfigMap or Secret).
pub fn pod_failure(pod: &Value) -> Option<String> {
    let statuses = pod
        .pointer("/status/initContainerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .chain(pod.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten());
    for cs in statuses {
        let Some(w) = cs.pointer("/state/waiting") else { continue };
        let reason = w.get("reason").and_then(Value::as_str).unwrap_or("");
        let message = w.get("message").and_then(Value::as_str).unwrap_or("").to_lowercase();
        let restarts = cs.get("restartCount").and_then(Value::as_i64).unwrap_or(0);
        let final_pull = ["not found", "manifest unknown", "unauthorized", "denied", "forbidden"]
            .iter()
            .any(|m| message.contains(m));
        let fails = match reason {
            "CrashLoopBackOff" => restarts >= CRASH_LIMIT,
            "InvalidImageName" | "ErrImageNeverPull" | "CreateContainerConfigError" => true,
            "ImagePullBackOff" | "ErrImagePull" => final_pull,
            _ => false,
        };
        if fails {
            return pod_problem(pod);
        }
    }
    None
}

/// A pod's problem (or failure) with the group it belongs to, as people look for it: `role
/// decode, slice 0, group 1: pod …` for a DisaggregatedSet's pod, `group 1: pod …` for a
/// LeaderWorkerSet's.
fn in_group(pod: &Value, problem: String) -> String {
    let label = |k: &str| pod.pointer("/metadata/labels").and_then(|l| l.get(k)).and_then(Value::as_str);
    let mut place = Vec::new();
    if let Some(role) = label("disaggregatedset.x-k8s.io/role") {
        place.push(format!("role {role}"));
        if let Some(slice) = label("disaggregatedset.x-k8s.io/slice") {
            place.push(format!("slice {slice}"));
        }
    }
    if let Some(g) = label("leaderworkerset.sigs.k8s.io/group-index") {
        place.push(format!("group {g}"));
    }
    match place.is_empty() {
        true => problem,
        false => format!("{}: {problem}", place.join(", ")),
    }
}

/// The first failure among `pods`, with its group, then the first problem.
fn pods_say(pods: &[Value]) -> (Option<String>, Option<String>) {
    let failure = pods.iter().find_map(|p| pod_failure(p).map(|f| in_group(p, f)));
    let problem = pods.iter().find_map(|p| pod_problem(p).map(|f| in_group(p, f)));
    (failure, problem)
}

fn condition_true(obj: &Value, ty: &str) -> bool {
    matches!(condition(obj, ty), Some(("True", _, _)))
}

/// A LeaderWorkerSet (`pods`: those labelled with its name): ready when every group (leader and
/// workers) is ready and at the latest revision, no surge group is left, the controller says
/// `Available` and no update is in progress — and, when its status has `observedGeneration`
/// (newer LWS releases only; without it the counts and conditions are all there is), when it
/// saw the latest spec. Failed when a pod says waiting will not help ([`pod_failure`]).
pub fn leader_worker_set(lws: &Value, pods: &[Value]) -> State {
    let want = lws.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let size = lws.pointer("/spec/leaderWorkerTemplate/size").and_then(Value::as_i64).unwrap_or(1);
    let generation = int_at(lws, "/metadata/generation");
    let observed = lws.pointer("/status/observedGeneration").and_then(Value::as_i64);
    let ready = int_at(lws, "/status/readyReplicas");
    let updated = int_at(lws, "/status/updatedReplicas");
    let total = int_at(lws, "/status/replicas");
    let counts = format!("{ready}/{want} groups of {size} ready");
    let (failure, problem) = pods_say(pods);
    if let Some(f) = failure {
        return State::Failed(format!("{counts}; {f}"));
    }
    let stale = observed.is_some_and(|o| o < generation);
    let updating = condition_true(lws, "UpdateInProgress");
    if !stale && !updating && ready >= want && updated >= want && total <= want && condition_true(lws, "Available") {
        return State::Ready(counts);
    }
    let mut why = counts;
    if stale {
        why += ", the controller has not seen the latest change yet";
    } else if updating || updated < want {
        why += &format!(", rolling update in progress ({updated}/{want} updated)");
    } else if total > want {
        why += &format!(", {} surge groups still there", total - want);
    }
    if let Some(p) = problem {
        why += &format!("; {p}");
    }
    State::Waiting(why)
}

/// A ReplicaSet no Deployment owns (the dual-pod requester; `pods`: those it owns): ready when
/// the controller saw the latest spec and every replica is available; failed when it cannot
/// create its pods (`ReplicaFailure`) or a pod says waiting will not help.
pub fn replica_set(rs: &Value, pods: &[Value]) -> State {
    let want = rs.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let generation = int_at(rs, "/metadata/generation");
    let observed = int_at(rs, "/status/observedGeneration");
    let available = int_at(rs, "/status/availableReplicas");
    let total = int_at(rs, "/status/replicas");
    if let Some(("True", reason, message)) = condition(rs, "ReplicaFailure") {
        return State::Failed(format!("{reason}: {message}"));
    }
    let counts = format!("{available}/{want} available");
    let (failure, problem) = pods_say(pods);
    if let Some(f) = failure {
        return State::Failed(format!("{counts}; {f}"));
    }
    if observed >= generation && available >= want && total == want {
        return State::Ready(counts);
    }
    let mut why = counts;
    if observed < generation {
        why += ", the controller has not seen the latest change yet";
    } else if total > want {
        why += &format!(", {} pods still terminating", total - want);
    }
    if let Some(p) = problem {
        why += &format!("; {p}");
    }
    State::Waiting(why)
}

/// A DisaggregatedSet (`pods`: those labelled with its name): ready when the controller saw the
/// latest spec (when it says: `observedGeneration` is in newer releases only), says `Available`,
/// and every role has its replicas per slice times the slices, all ready and at the current
/// revision. Failed when its role scalers cannot be made (`ReplicaTargetsUnresolved`) or a pod
/// says waiting will not help — named by role, slice and group.
pub fn disaggregated_set(ds: &Value, pods: &[Value]) -> State {
    let generation = int_at(ds, "/metadata/generation");
    let observed = ds.pointer("/status/observedGeneration").and_then(Value::as_i64);
    let slices = ds.pointer("/spec/slices").and_then(Value::as_i64).unwrap_or(1).max(1);
    let statuses: Vec<&Value> =
        ds.pointer("/status/roleStatuses").and_then(Value::as_array).into_iter().flatten().collect();
    let mut parts = Vec::new();
    let mut all = true;
    for role in ds.pointer("/spec/roles").and_then(Value::as_array).into_iter().flatten() {
        let name = str_at(role, "/name").unwrap_or("?");
        let desired = role.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1) * slices;
        let st = statuses.iter().find(|s| str_at(s, "/name") == Some(name));
        let at = |p: &str| st.map_or(0, |s| int_at(s, p));
        let (replicas, ready, updated) = (at("/replicas"), at("/readyReplicas"), at("/updatedReplicas"));
        all &= replicas == desired && ready == desired && updated == desired;
        let mut part = format!("{name} {ready}/{desired} ready");
        if updated < desired {
            part += &format!(" ({updated} updated)");
        }
        parts.push(part);
    }
    let counts = parts.join(", ");
    if let Some(("True", reason @ "ReplicaTargetsUnresolved", message)) = condition(ds, "Progressing") {
        return State::Failed(format!("{counts}; {reason}: {message}"));
    }
    let (failure, problem) = pods_say(pods);
    if let Some(f) = failure {
        return State::Failed(format!("{counts}; {f}"));
    }
    let stale = observed.is_some_and(|o| o < generation);
    if !stale && all && condition_true(ds, "Available") {
        return State::Ready(counts);
    }
    let mut why = counts;
    if stale {
        why += ", the controller has not seen the latest change yet";
    }
    if let Some(p) = problem {
        why += &format!("; {p}");
    }
    State::Waiting(why)
}

/// A Deployment's rollout: ready when the controller has seen the latest spec and every replica
/// is updated and available; failed when it stopped progressing.
pub fn deployment(d: &Value, pods: &[Value]) -> State {
    let want = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
    let generation = int_at(d, "/metadata/generation");
    let observed = int_at(d, "/status/observedGeneration");
    let updated = int_at(d, "/status/updatedReplicas");
    let available = int_at(d, "/status/availableReplicas");
    let total = int_at(d, "/status/replicas");
    if let Some(("False", reason @ "ProgressDeadlineExceeded", message)) = condition(d, "Progressing") {
        let why = pods.iter().find_map(pod_problem).unwrap_or_default();
        return State::Failed(format!(
            "{reason}: {message}{}",
            if why.is_empty() { String::new() } else { format!("; {why}") }
        ));
    }
    if observed >= generation && updated >= want && available >= want && total <= want {
        return State::Ready(format!("{available}/{want} available"));
    }
    let mut why = format!("{available}/{want} available");
    if observed < generation {
        why += ", the controller has not seen the latest change yet";
    } else if total > want {
        why += &format!(", {} old pods still terminating", total - want);
    }
    if let Some(p) = pods.iter().find_map(pod_problem) {
        why += &format!("; {p}");
    }
    State::Waiting(why)
}

/// A download Job: ready when it succeeded, failed when Kubernetes gave up on it (backoff limit,
/// deadline), waiting otherwise — with the pod's own trouble when it has one.
pub fn job(j: &Value, pods: &[Value]) -> State {
    if let Some(("True", reason, message)) = condition(j, "Failed") {
        return State::Failed(format!("{reason}: {message}").trim_end_matches(": ").to_string());
    }
    if let Some(("True", _, _)) = condition(j, "Complete") {
        return State::Ready("succeeded".into());
    }
    if let Some(("True", reason, _)) = condition(j, "FailureTarget") {
        return State::Failed(format!("{reason}: its pods are being stopped"));
    }
    let active = int_at(j, "/status/active");
    let failed = int_at(j, "/status/failed");
    let mut why = if active > 0 { "running".to_string() } else { "starting".to_string() };
    if failed > 0 {
        why += &format!(" ({failed} failed attempt{} so far)", if failed == 1 { "" } else { "s" });
    }
    if let Some(p) = pods.iter().find_map(pod_problem) {
        why += &format!("; {p}");
    }
    State::Waiting(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_job_is_failed_not_waiting() {
        let j = json!({"status": {"failed": 1, "conditions": [
            {"type": "FailureTarget", "status": "True", "reason": "BackoffLimitExceeded"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}});
        assert_eq!(
            job(&j, &[]),
            State::Failed("BackoffLimitExceeded: Job has reached the specified backoff limit".into())
        );
        let ok = json!({"status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]}});
        assert!(job(&ok, &[]).is_ready());
        assert!(matches!(job(&json!({"status": {"active": 1}}), &[]), State::Waiting(w) if w == "running"));
    }

    #[test]
    fn a_crash_looping_rollout_says_why() {
        let d = json!({"metadata": {"generation": 1}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "unavailableReplicas": 1}});
        let pod = json!({"metadata": {"name": "opt-decode-abc"}, "status": {"containerStatuses": [
            {"name": "vllm", "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}}]}});
        let State::Waiting(w) = deployment(&d, &[pod]) else { panic!() };
        assert!(
            w.contains("0/1 available") && w.contains("CrashLoopBackOff") && w.contains("restarted 3 times"),
            "{w}"
        );
        let done = json!({"metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}});
        assert_eq!(deployment(&done, &[]), State::Ready("2/2 available".into()));
        let stale = json!({"metadata": {"generation": 3}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}});
        assert!(matches!(deployment(&stale, &[]), State::Waiting(_)));
    }

    #[test]
    fn an_unschedulable_pod_is_named() {
        let pod = json!({"metadata": {"name": "p"}, "status": {"conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."}]}});
        assert_eq!(
            pod_problem(&pod).unwrap(),
            "pod p: Unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."
        );
    }

    #[test]
    fn claims_bind_or_wait_for_their_first_consumer() {
        let bound =
            json!({"spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}}});
        assert_eq!(claim(&bound, false), State::Ready("Bound to pv-1 (5Gi)".into()));
        let pending = json!({"status": {"phase": "Pending"}});
        assert!(matches!(claim(&pending, false), State::Waiting(_)));
        assert!(claim(&pending, true).is_ready());
    }

    #[test]
    fn a_claim_that_can_never_bind_fails_with_the_clusters_reason() {
        let pvc =
            json!({"metadata": {"uid": "u1"}, "spec": {"volumeName": "model-pv"}, "status": {"phase": "Pending"}});
        let missing = ClaimFacts { events: &[], volume: Some(None) };
        let State::Failed(why) = claim_with(&pvc, false, &missing) else { panic!() };
        assert!(why.contains("volume model-pv does not exist"), "{why}");

        let event = |uid: &str, reason: &str, message: &str| json!({"involvedObject": {"uid": uid}, "reason": reason, "message": message, "type": "Warning"});
        let pv = json!({});
        let mismatch =
            [event("u1", "VolumeMismatch", "Cannot bind to requested volume \"model-pv\": requested PV is too small")];
        let facts = ClaimFacts { events: &mismatch, volume: Some(Some(&pv)) };
        assert_eq!(
            claim_with(&pvc, false, &facts),
            State::Failed(
                "VolumeMismatch: Cannot bind to requested volume \"model-pv\": requested PV is too small".into()
            )
        );
        // Another claim's events (an earlier claim of the same name) say nothing about this one.
        let old = [event("u0", "VolumeMismatch", "…")];
        let facts = ClaimFacts { events: &old, volume: Some(Some(&pv)) };
        assert!(matches!(claim_with(&pvc, false, &facts), State::Waiting(_)));

        let unbound = json!({"metadata": {"uid": "u2"}, "status": {"phase": "Pending"}});
        let no_class = [event("u2", "ProvisioningFailed", "storageclass.storage.k8s.io \"fast\" not found")];
        assert!(matches!(
            claim_with(&unbound, false, &ClaimFacts { events: &no_class, volume: None }),
            State::Failed(_)
        ));
        let nothing = [event(
            "u2",
            "FailedBinding",
            "no persistent volumes available for this claim and no storage class is set",
        )];
        assert!(matches!(
            claim_with(&unbound, false, &ClaimFacts { events: &nothing, volume: None }),
            State::Failed(_)
        ));
        // A provisioner that is slow or failing now may succeed later: the wait says so and goes on.
        let slow = [event(
            "u2",
            "ProvisioningFailed",
            "failed to provision volume with StorageClass \"fast\": rpc error: timeout",
        )];
        let State::Waiting(w) = claim_with(&unbound, false, &ClaimFacts { events: &slow, volume: None }) else {
            panic!()
        };
        assert!(w.contains("rpc error: timeout"), "{w}");
    }
}
