//! Readiness: what a live object's status says, in three answers — ready, still waiting (and
//! why), failed (and why). Used by `msws status` and by apply's waits.
//!
//! Pure functions of the objects' JSON. A wait built on "is it complete yet?" alone hangs on a
//! failed Job (kube-rs's `is_job_completed` never reports failure); every function here also
//! recognises failure.

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
