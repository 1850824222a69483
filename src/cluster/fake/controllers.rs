//! The controllers the fake simulates, run in a fixed order whenever the simulated clock moves:
//!
//! 1. namespace lifecycle (a deleted namespace takes its content with it);
//! 2. garbage collector (dependents of deleted owners; foreground deletions; finalizers done);
//! 3. persistent volumes (claims bind and are protected while in use; volumes are reclaimed);
//! 4. disaggregated sets and leader worker sets (`lws.rs`: a LeaderWorkerSet per role and
//!    slice, groups of pods, rolling updates, status and conditions);
//! 5. deployments (one ReplicaSet per pod template, the rollout strategy, status and conditions);
//! 6. replica sets (pods per replica, for a Deployment or standing alone);
//! 7. jobs (a pod per attempt, backoff, deadline, success and failure conditions);
//! 8. scheduler and kubelet: pods are scheduled when their claims allow it, onto the first node
//!    (by name) their `nodeName`, node selector, required node affinity, tolerations and
//!    extended resources admit (the default node, `fake-node-1`, admits any pod and accounts
//!    nothing); images not on the node are pulled first (`FakeCluster::set_image_pull`), then
//!    the pods run as their script says.
//!
//! A reconcile repeats the sequence until nothing changes, so the cluster is consistent after
//! every step of the clock; each controller notes when it next has something to do, and
//! [`State::advance`] jumps from one such moment to the next. Everything iterates in key order:
//! the same script gives the same cluster, resource versions included.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::server::{State, hashed_name, meta_mut, owner_uids, uid_of};
use super::{JobScript, Outcome, PodFate, clock, status};
use crate::cluster::ObjectRef;

const MANAGER: &str = "kube-controller-manager";
pub(crate) const NODE: &str = "fake-node-1";
/// The size an image is reported with when no test said.
const IMAGE_SIZE: u64 = 100_000_000;
/// How long an inspection pod's script runs.
const INSPECTION: Duration = Duration::from_secs(2);

/// How a pod will behave, decided when it is created.
#[derive(Clone, Debug)]
pub(super) enum Plan {
    /// Runs to completion (Job pods, pods that do not restart).
    Run { duration: Duration, exit_code: i32 },
    /// Serves until deleted (pods that restart always).
    Serve { fate: PodFate, image: Option<String> },
}

/// The simulated kubelet's view of one pod.
#[derive(Clone, Debug)]
pub(super) struct PodRun {
    pub plan: Plan,
    pub scheduled_at: Option<Duration>,
    pub ip: String,
    pub log: String,
    pub unschedulable_since: Option<(Duration, String)>,
    /// When its containers started: once its images were on the node.
    pub started_at: Option<Duration>,
    /// Images it waited to be pulled (each gets a `Pulled` event when the pod starts).
    pub pulling: Vec<String>,
}

impl PodRun {
    /// A pod the kubelet has not scheduled yet, to run as `plan` says, printing `log`.
    pub(super) fn new(plan: Plan, log: String) -> PodRun {
        PodRun {
            plan,
            scheduled_at: None,
            ip: String::new(),
            log,
            unschedulable_since: None,
            started_at: None,
            pulling: vec![],
        }
    }
}

impl Plan {
    /// The log of a serving pod: its crash message, if it crashes.
    pub(super) fn log(&self) -> String {
        match self {
            Plan::Serve { fate: PodFate::CrashLoop { log, .. }, .. } => log.clone(),
            _ => String::new(),
        }
    }
}

impl PodRun {
    /// Whether its containers never start (their image cannot be pulled).
    pub fn pulls_forever(&self) -> bool {
        matches!(self.plan, Plan::Serve { fate: PodFate::ImagePullBackOff, .. })
    }
}

/// The simulated Job controller's view of one Job.
#[derive(Clone, Debug, Default)]
pub(super) struct JobRun {
    pub started: Duration,
    pub succeeded: u32,
    pub failed: u32,
    /// Pods it created, by name, and those whose outcome it has counted.
    pub pods: Vec<String>,
    pub counted: BTreeSet<String>,
    pub last_failure: Option<Duration>,
    /// When and how it finished: (time, Complete or a failure reason).
    pub finished: Option<(Duration, Option<&'static str>)>,
}

pub(super) fn ts(t: Duration) -> String {
    clock::rfc3339(t)
}

pub(super) fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

pub(super) fn deleting(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp").is_some()
}

fn phase(v: &Value) -> &str {
    s(v, "/status/phase")
}

fn terminal(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

/// The claims a pod's volumes name.
fn claims_of(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.pointer("/persistentVolumeClaim/claimName").and_then(Value::as_str).map(str::to_string))
        .collect()
}

pub(super) fn condition_is_true(obj: &Value, ty: &str) -> bool {
    obj.pointer("/status/conditions").and_then(Value::as_array).into_iter().flatten().any(|c| {
        c.get("type").and_then(Value::as_str) == Some(ty) && c.get("status").and_then(Value::as_str) == Some("True")
    })
}

fn find_condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
}

pub(super) fn sha_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A value of `maxUnavailable`/`maxSurge`: an int, or a percentage of `of` (rounded down).
pub(super) fn int_or_percent(v: Option<&Value>, of: i64) -> i64 {
    match v {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(p)) => p.trim_end_matches('%').parse::<i64>().map_or(0, |pct| of * pct / 100),
        _ => 0,
    }
}

impl State {
    /// Moves the clock on by `d`, running the controllers at every moment something is due.
    pub fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        loop {
            self.reconcile();
            let next = self.wakeups.iter().copied().find(|t| *t > self.now);
            match next {
                Some(t) if t <= target => self.now = t,
                _ if self.now < target => self.now = target,
                _ => break,
            }
        }
    }

    /// Runs every controller until the cluster settles.
    fn reconcile(&mut self) {
        for _ in 0..64 {
            self.wakeups.clear();
            let before = self.rv;
            self.namespaces();
            self.garbage_collect();
            self.volumes();
            self.disaggregated_sets();
            self.leader_worker_sets();
            self.deployments();
            self.replica_sets();
            self.jobs();
            self.kubelet();
            if self.rv == before {
                break;
            }
        }
        self.settled = self.rv;
    }

    pub(super) fn wake(&mut self, t: Duration) {
        if t > self.now {
            self.wakeups.insert(t);
        }
    }

    pub(super) fn refs(&self, kind: &str) -> Vec<ObjectRef> {
        self.objects.keys().filter(|r| r.kind == kind).cloned().collect()
    }

    /// Objects whose controller (or any owner) is `uid`, in creation order.
    pub(super) fn dependents(&self, uid: &str, kind: &str) -> Vec<ObjectRef> {
        let mut deps: Vec<(Duration, ObjectRef)> = self
            .owned_by(uid)
            .filter(|r| r.kind == kind)
            .filter_map(|r| self.objects.get(r).map(|st| (st.created, r.clone())))
            .collect();
        deps.sort();
        deps.into_iter().map(|(_, r)| r).collect()
    }

    // ---- 1. namespaces ----

    fn namespaces(&mut self) {
        for r in self.refs("Namespace") {
            if !self.get_obj(&r).is_some_and(deleting) {
                continue;
            }
            let content: Vec<ObjectRef> =
                self.objects.keys().filter(|k| k.namespace.as_deref() == Some(r.name.as_str())).cloned().collect();
            for c in content {
                self.remove(&c);
            }
            self.remove(&r);
        }
    }

    // ---- 2. garbage collector ----

    fn garbage_collect(&mut self) {
        let uids: BTreeSet<String> = self.objects.values().map(|st| uid_of(&st.obj).to_string()).collect();
        let orphans: Vec<ObjectRef> = self
            .objects
            .iter()
            .filter(|(_, st)| {
                let owners: Vec<&str> = owner_uids(&st.obj).collect();
                !owners.is_empty() && owners.iter().all(|u| !uids.contains(*u))
            })
            .map(|(r, _)| r.clone())
            .collect();
        for r in orphans {
            self.dispose(&r);
        }
        let doomed: Vec<ObjectRef> =
            self.objects.iter().filter(|(_, st)| deleting(&st.obj)).map(|(r, _)| r.clone()).collect();
        for r in doomed {
            let Some(obj) = self.get_obj(&r).cloned() else { continue };
            let finalizers: Vec<String> = obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect();
            if finalizers.iter().any(|f| f == "foregroundDeletion") {
                let uid = uid_of(&obj).to_string();
                let deps: Vec<ObjectRef> = self.owned_by(&uid).cloned().collect();
                if !deps.is_empty() {
                    for d in deps {
                        self.dispose(&d);
                    }
                    continue;
                }
                if finalizers.len() > 1 {
                    let mut o = obj.clone();
                    if let Some(f) = o.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut) {
                        f.retain(|x| x != "foregroundDeletion");
                    }
                    self.write_as(&r, o, MANAGER);
                    continue;
                }
                self.dispose(&r);
            } else if finalizers.is_empty() {
                self.dispose(&r);
            }
        }
    }

    // ---- 3. persistent volumes ----

    /// Pods (not finished) in `ns` that use the claim.
    fn claim_users(&self, ns: &str, claim: &str) -> Vec<ObjectRef> {
        self.objects
            .iter()
            .filter(|(r, st)| {
                r.kind == "Pod"
                    && r.namespace.as_deref() == Some(ns)
                    && !terminal(&st.obj)
                    && claims_of(&st.obj).iter().any(|c| c == claim)
            })
            .map(|(r, _)| r.clone())
            .collect()
    }

    /// Why the volume of a ReadWriteOnce claim the pod mounts cannot be attached to `node`: it
    /// is attached to another node, for pods there that are not finished (the attach/detach
    /// controller's `Multi-Attach` message).
    fn attached_elsewhere(&self, r: &ObjectRef, pod: &Value, node: &str) -> Option<String> {
        let ns = r.namespace.clone().unwrap_or_default();
        for claim_name in claims_of(pod) {
            let Some(claim) = self.get_obj(&ObjectRef::new("v1", "PersistentVolumeClaim", Some(&ns), &claim_name))
            else {
                continue;
            };
            let modes: Vec<&str> = claim
                .pointer("/spec/accessModes")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !modes.contains(&"ReadWriteOnce") || modes.contains(&"ReadWriteMany") || modes.contains(&"ReadOnlyMany")
            {
                continue;
            }
            let users: Vec<String> = self
                .claim_users(&ns, &claim_name)
                .into_iter()
                .filter(|o| o != r)
                .filter_map(|o| self.get_obj(&o))
                .filter(|p| !matches!(s(p, "/spec/nodeName"), "") && s(p, "/spec/nodeName") != node)
                .map(|p| s(p, "/metadata/name").to_string())
                .collect();
            if !users.is_empty() {
                let volume = s(claim, "/spec/volumeName");
                return Some(format!(
                    "Multi-Attach error for volume \"{volume}\" Volume is already used by pod(s) {}",
                    users.join(", ")
                ));
            }
        }
        None
    }

    fn class(&self, name: &str) -> Option<Value> {
        if name.is_empty() {
            return None;
        }
        self.get_obj(&ObjectRef::new("storage.k8s.io/v1", "StorageClass", None, name)).cloned()
    }

    fn volumes(&mut self) {
        // PV protection: a deleted volume goes once no claim is bound to it.
        for r in self.refs("PersistentVolume") {
            let Some(pv) = self.get_obj(&r).cloned() else { continue };
            if deleting(&pv) && phase(&pv) != "Bound" {
                let mut v = pv.clone();
                if let Some(f) = v.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut) {
                    f.retain(|x| x != "kubernetes.io/pv-protection");
                    if !f.is_empty() {
                        self.write_as(&r, v, MANAGER);
                        continue;
                    }
                }
                self.remove(&r);
            }
        }
        for r in self.refs("PersistentVolumeClaim") {
            let Some(st) = self.objects.get(&r) else { continue };
            let (claim, created) = (st.obj.clone(), st.created);
            let ns = r.namespace.clone().unwrap_or_default();
            if deleting(&claim) {
                self.release_claim(&r, &claim);
                continue;
            }
            if phase(&claim) == "Bound" {
                self.expand(&r, &claim);
                continue;
            }
            let class_name = s(&claim, "/spec/storageClassName").to_string();
            let volume_name = s(&claim, "/spec/volumeName").to_string();
            let class = self.class(&class_name);
            let wffc = class.as_ref().is_some_and(|c| s(c, "/volumeBindingMode") == "WaitForFirstConsumer");
            let since = if wffc && volume_name.is_empty() {
                if self.claim_users(&ns, &r.name).is_empty() {
                    let waiting = "waiting for first consumer to be created before binding";
                    self.event(&claim, "Normal", "WaitForFirstConsumer", waiting);
                    continue;
                }
                let now = self.now;
                *self.consumers_seen.entry(uid_of(&claim).to_string()).or_insert(now)
            } else {
                created
            };
            let due = since + self.bind_delay;
            if self.now < due {
                self.wake(due);
                continue;
            }
            // What the persistent volume controller does with an unbound claim, and the events
            // it records on it, case by case.
            if !volume_name.is_empty() {
                let pv_r = ObjectRef::new("v1", "PersistentVolume", None, &volume_name);
                // A volume that does not exist: the claim stays Pending, and the real controller
                // records no event about it (it only logs).
                let Some(pv) = self.get_obj(&pv_r).cloned() else { continue };
                match satisfies(&pv, &claim) {
                    Ok(()) => self.bind(&r, &pv_r, None),
                    Err(Unbindable::OtherClaim) => {
                        let message = format!("volume \"{volume_name}\" already bound to a different claim.");
                        self.event(&claim, "Warning", "FailedBinding", &message);
                    }
                    Err(Unbindable::Mismatch(why)) => {
                        let message = format!("Cannot bind to requested volume \"{volume_name}\": {why}");
                        self.event(&claim, "Warning", "VolumeMismatch", &message);
                    }
                }
                continue;
            }
            if let Some(pv) = self.matching_volume(&claim, &class_name) {
                self.bind(&r, &pv, None);
                continue;
            }
            match class {
                Some(class) if s(&class, "/provisioner") == NO_PROVISIONER => {
                    let message = format!(
                        "Waiting for a volume to be created either by the external provisioner '{NO_PROVISIONER}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
                    );
                    self.event(&claim, "Normal", "ExternalProvisioning", &message);
                }
                Some(class) => {
                    if let Some(pv) = self.provision(&claim, &class) {
                        self.bind(&r, &pv, Some(s(&class, "/provisioner").to_string()));
                    }
                }
                None if class_name.is_empty() => {
                    let message = "no persistent volumes available for this claim and no storage class is set";
                    self.event(&claim, "Warning", "FailedBinding", message);
                }
                None => {
                    let message = format!("storageclass.storage.k8s.io \"{class_name}\" not found");
                    self.event(&claim, "Warning", "ProvisioningFailed", &message);
                }
            }
        }
    }

    /// Records an event about an object, as a controller's event recorder does — once: the
    /// recorder's later repeats only bump `count` and `lastTimestamp`, which the fake leaves.
    fn event(&mut self, about: &Value, ty: &str, reason: &str, message: &str) {
        self.event_from(about, "persistentvolume-controller", ty, reason, message);
    }

    /// [`State::event`] from another component.
    fn event_from(&mut self, about: &Value, component: &str, ty: &str, reason: &str, message: &str) {
        let uid = uid_of(about).to_string();
        let ns = s(about, "/metadata/namespace").to_string();
        let seen = self.objects.iter().any(|(r, st)| {
            r.kind == "Event"
                && s(&st.obj, "/involvedObject/uid") == uid
                && s(&st.obj, "/reason") == reason
                && s(&st.obj, "/message") == message
        });
        if seen {
            return;
        }
        let name = format!("{}.{}", s(about, "/metadata/name"), self.suffix(16));
        let now = ts(self.now);
        let event = json!({
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {
                "apiVersion": s(about, "/apiVersion"),
                "kind": s(about, "/kind"),
                "name": s(about, "/metadata/name"),
                "namespace": ns,
                "uid": uid,
                "resourceVersion": s(about, "/metadata/resourceVersion"),
            },
            "reason": reason,
            "message": message,
            "type": ty,
            "source": {"component": component},
            "reportingComponent": component,
            "reportingInstance": "",
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
        });
        self.create_as(event, MANAGER);
    }

    /// An available, unclaimed volume of the claim's class that is big enough and has its access
    /// modes; the smallest such one.
    fn matching_volume(&self, claim: &Value, class: &str) -> Option<ObjectRef> {
        let want = super::validate::amount(claim.pointer("/spec/resources/requests/storage"));
        let modes: Vec<&Value> =
            claim.pointer("/spec/accessModes").and_then(Value::as_array).into_iter().flatten().collect();
        self.objects
            .iter()
            .filter(|(r, st)| {
                let pv = &st.obj;
                r.kind == "PersistentVolume"
                    && pv.pointer("/spec/claimRef").is_none()
                    && phase(pv) == "Available"
                    && s(pv, "/spec/storageClassName") == class
                    && super::validate::amount(pv.pointer("/spec/capacity/storage")) >= want
                    && modes.iter().all(|m| {
                        pv.pointer("/spec/accessModes").and_then(Value::as_array).is_some_and(|a| a.contains(m))
                    })
            })
            .map(|(r, st)| (super::validate::amount(st.obj.pointer("/spec/capacity/storage")), r.clone()))
            .min_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
            .map(|(_, r)| r)
    }

    /// A volume for the claim, as the class's provisioner would make it.
    fn provision(&mut self, claim: &Value, class: &Value) -> Option<ObjectRef> {
        let name = format!("pvc-{}", uid_of(claim));
        let pv = json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {"pv.kubernetes.io/provisioned-by": s(class, "/provisioner")}},
            "spec": {
                "capacity": {"storage": claim.pointer("/spec/resources/requests/storage").cloned().unwrap_or(json!("0"))},
                "accessModes": claim.pointer("/spec/accessModes").cloned().unwrap_or(json!([])),
                "persistentVolumeReclaimPolicy": class.get("reclaimPolicy").cloned().unwrap_or(json!("Delete")),
                "storageClassName": s(claim, "/spec/storageClassName"),
                "volumeMode": claim.pointer("/spec/volumeMode").cloned().unwrap_or(json!("Filesystem")),
                "hostPath": {"path": format!("/var/lib/fake-provisioner/{name}"), "type": ""},
                "claimRef": claim_ref(claim),
            }
        });
        self.create_as(pv, MANAGER)
    }

    fn bind(&mut self, claim_r: &ObjectRef, pv_r: &ObjectRef, provisioner: Option<String>) {
        let (Some(mut pv), Some(mut claim)) = (self.get_obj(pv_r).cloned(), self.get_obj(claim_r).cloned()) else {
            return;
        };
        if pv.pointer("/spec/claimRef").is_none() {
            pv["spec"]["claimRef"] = claim_ref(&claim);
            annotate(&mut pv, "pv.kubernetes.io/bound-by-controller", "yes");
        }
        pv["status"] = json!({"phase": "Bound"});
        self.write_as(pv_r, pv.clone(), MANAGER);
        annotate(&mut claim, "pv.kubernetes.io/bind-completed", "yes");
        if s(&claim, "/spec/volumeName").is_empty() {
            claim["spec"]["volumeName"] = json!(pv_r.name);
            annotate(&mut claim, "pv.kubernetes.io/bound-by-controller", "yes");
        }
        if let Some(p) = provisioner {
            annotate(&mut claim, "volume.beta.kubernetes.io/storage-provisioner", &p);
            annotate(&mut claim, "volume.kubernetes.io/storage-provisioner", &p);
        }
        claim["status"] = json!({
            "phase": "Bound",
            "accessModes": pv.pointer("/spec/accessModes").cloned().unwrap_or(json!([])),
            "capacity": pv.pointer("/spec/capacity").cloned().unwrap_or(json!({})),
        });
        self.write_as(claim_r, claim, MANAGER);
    }

    /// A bound claim asking for more than it has, on a volume its class can expand: the volume
    /// and the claim's capacity grow (at once; no resize conditions).
    fn expand(&mut self, r: &ObjectRef, claim: &Value) {
        let want = super::validate::amount(claim.pointer("/spec/resources/requests/storage"));
        if want <= super::validate::amount(claim.pointer("/status/capacity/storage")) {
            return;
        }
        let pv_r = ObjectRef::new("v1", "PersistentVolume", None, s(claim, "/spec/volumeName"));
        let expandable =
            self.class(s(claim, "/spec/storageClassName")).is_some_and(|c| c["allowVolumeExpansion"] == true);
        let Some(mut pv) = self.get_obj(&pv_r).cloned() else { return };
        if !expandable || pv.pointer("/metadata/annotations/pv.kubernetes.io~1provisioned-by").is_none() {
            return;
        }
        let size = claim.pointer("/spec/resources/requests/storage").cloned().unwrap_or(Value::Null);
        pv["spec"]["capacity"] = json!({"storage": size.clone()});
        self.write_as(&pv_r, pv, MANAGER);
        let mut c = claim.clone();
        c["status"]["capacity"] = json!({"storage": size});
        self.write_as(r, c, MANAGER);
    }

    /// A deleted claim goes once no pod uses it; its volume is then kept (`Retain`: Released)
    /// or deleted.
    fn release_claim(&mut self, r: &ObjectRef, claim: &Value) {
        let ns = r.namespace.clone().unwrap_or_default();
        if !self.claim_users(&ns, &r.name).is_empty() {
            return;
        }
        let mut c = claim.clone();
        if let Some(f) = c.pointer_mut("/metadata/finalizers").and_then(Value::as_array_mut) {
            f.retain(|x| x != "kubernetes.io/pvc-protection");
            if !f.is_empty() {
                self.write_as(r, c, MANAGER);
                return;
            }
        }
        self.remove(r);
        let pv_r = ObjectRef::new("v1", "PersistentVolume", None, s(claim, "/spec/volumeName"));
        let Some(mut pv) = self.get_obj(&pv_r).cloned() else { return };
        if s(&pv, "/spec/claimRef/uid") != uid_of(claim) {
            return;
        }
        match s(&pv, "/spec/persistentVolumeReclaimPolicy") {
            "Retain" => {
                pv["status"] = json!({"phase": "Released"});
                self.write_as(&pv_r, pv, MANAGER);
            }
            _ => {
                self.remove(&pv_r);
            }
        }
    }

    // ---- 4. deployments ----

    fn deployments(&mut self) {
        for r in self.refs("Deployment") {
            let Some(d) = self.get_obj(&r).cloned() else { continue };
            if deleting(&d) || d.pointer("/spec/paused") == Some(&json!(true)) {
                continue;
            }
            let (uid, ns) = (uid_of(&d).to_string(), r.namespace.clone().unwrap_or_default());
            let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
            let hash = hashed_name(&status::canonical(&template), 10);
            let desired = d.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1);
            let new_ref = ObjectRef::new("apps/v1", "ReplicaSet", Some(&ns), &format!("{}-{hash}", r.name));
            let mut owned = self.dependents(&uid, "ReplicaSet");
            if !owned.contains(&new_ref) {
                self.create_replica_set(&d, &new_ref, &hash, &template);
                owned.push(new_ref.clone());
            }
            let revision = |st: &State, rs: &ObjectRef| -> i64 {
                st.get_obj(rs)
                    .and_then(|o| o.pointer("/metadata/annotations/deployment.kubernetes.io~1revision"))
                    .and_then(Value::as_str)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            let old: Vec<ObjectRef> = owned.iter().filter(|o| **o != new_ref).cloned().collect();
            let max_old = old.iter().map(|o| revision(self, o)).max().unwrap_or(0);
            let mut new_revision = revision(self, &new_ref);
            if new_revision <= max_old {
                new_revision = max_old + 1;
                if let Some(mut rs) = self.get_obj(&new_ref).cloned() {
                    annotate(&mut rs, "deployment.kubernetes.io/revision", &new_revision.to_string());
                    self.write_as(&new_ref, rs, MANAGER);
                }
            }
            let recreate = s(&d, "/spec/strategy/type") == "Recreate";
            if recreate {
                let old_pods: usize = old.iter().map(|o| self.live_pods(o).len()).sum();
                for o in &old {
                    self.scale(o, 0);
                }
                if old_pods == 0 {
                    self.scale(&new_ref, desired);
                }
            } else {
                self.scale(&new_ref, desired);
                let available = self.live_pods(&new_ref).iter().filter(|p| self.ready(p)).count() as i64;
                if available >= desired {
                    for o in &old {
                        self.scale(o, 0);
                    }
                }
            }
            self.deployment_status(&r, &d, &new_ref, &owned, new_revision, recreate, desired);
        }
    }

    fn create_replica_set(&mut self, d: &Value, r: &ObjectRef, hash: &str, template: &Value) {
        let object = |v: Option<&Value>| v.filter(|v| v.is_object()).cloned().unwrap_or(json!({}));
        let mut template = template.clone();
        let mut labels = object(template.pointer("/metadata/labels"));
        labels["pod-template-hash"] = json!(hash);
        template["metadata"]["labels"] = labels.clone();
        let mut selector = object(d.pointer("/spec/selector"));
        let mut match_labels = object(selector.get("matchLabels"));
        match_labels["pod-template-hash"] = json!(hash);
        selector["matchLabels"] = match_labels;
        let desired = d.pointer("/spec/replicas").cloned().unwrap_or(json!(1));
        let rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": r.name,
                "namespace": r.namespace,
                "labels": labels,
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                    "deployment.kubernetes.io/max-replicas": desired.to_string(),
                    "deployment.kubernetes.io/revision": "0",
                },
                "ownerReferences": [owner_ref(d)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
        });
        self.create_as(rs, MANAGER);
    }

    fn scale(&mut self, rs: &ObjectRef, replicas: i64) {
        let Some(mut obj) = self.get_obj(rs).cloned() else { return };
        if obj.pointer("/spec/replicas").and_then(Value::as_i64) != Some(replicas) {
            obj["spec"]["replicas"] = json!(replicas);
            self.write_as(rs, obj, MANAGER);
        }
    }

    /// Pods a controller owns, not being deleted, oldest first.
    pub(super) fn live_pods(&self, owner: &ObjectRef) -> Vec<Value> {
        let Some(o) = self.get_obj(owner) else { return vec![] };
        self.dependents(uid_of(o), "Pod")
            .iter()
            .filter_map(|p| self.get_obj(p))
            .filter(|p| !deleting(p))
            .cloned()
            .collect()
    }

    pub(super) fn ready(&self, pod: &Value) -> bool {
        condition_is_true(pod, "Ready")
    }

    #[allow(clippy::too_many_arguments)]
    fn deployment_status(
        &mut self,
        r: &ObjectRef,
        d: &Value,
        new_ref: &ObjectRef,
        owned: &[ObjectRef],
        revision: i64,
        recreate: bool,
        desired: i64,
    ) {
        let now = self.time();
        let all: Vec<Value> = owned.iter().flat_map(|o| self.live_pods(o)).collect();
        let updated = self.live_pods(new_ref).len() as i64;
        let replicas = all.len() as i64;
        let ready = all.iter().filter(|p| self.ready(p)).count() as i64;
        let available = ready;
        let spec_total: i64 = owned
            .iter()
            .filter_map(|o| self.get_obj(o))
            .map(|o| o.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0))
            .sum();
        let generation = d.pointer("/metadata/generation").and_then(Value::as_i64).unwrap_or(1);
        let max_unavailable = if recreate {
            0
        } else {
            int_or_percent(d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"), desired)
        };
        let complete = updated == desired && replicas == desired && available == desired;
        let counts = (replicas, updated, ready, available, generation);
        let old = d.get("status").cloned().unwrap_or(json!({}));
        let old_counts = (
            old.get("replicas").and_then(Value::as_i64).unwrap_or(0),
            old.get("updatedReplicas").and_then(Value::as_i64).unwrap_or(0),
            old.get("readyReplicas").and_then(Value::as_i64).unwrap_or(0),
            old.get("availableReplicas").and_then(Value::as_i64).unwrap_or(0),
            old.get("observedGeneration").and_then(Value::as_i64).unwrap_or(0),
        );
        let uid = uid_of(d).to_string();
        if counts != old_counts || !self.progress.contains_key(&uid) {
            self.progress.insert(uid.clone(), self.now);
        }
        let last_progress = self.progress.get(&uid).copied().unwrap_or(self.now);
        let rs_name = &new_ref.name;
        let available_cond = if available >= desired - max_unavailable {
            ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.".to_string())
        } else {
            ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.".to_string())
        };
        let deadline = d.pointer("/spec/progressDeadlineSeconds").and_then(Value::as_u64).unwrap_or(600);
        let progressing = if complete {
            ("True", "NewReplicaSetAvailable", format!("ReplicaSet {rs_name:?} has successfully progressed."))
        } else if self.now >= last_progress + Duration::from_secs(deadline) {
            ("False", "ProgressDeadlineExceeded", format!("ReplicaSet {rs_name:?} has timed out progressing."))
        } else {
            self.wake(last_progress + Duration::from_secs(deadline));
            ("True", "ReplicaSetUpdated", format!("ReplicaSet {rs_name:?} is progressing."))
        };
        let cond = |ty: &str, (st, reason, message): (&str, &str, String), update: &str| -> Value {
            let prev = find_condition(d, ty);
            let same =
                prev.is_some_and(|p| s(p, "/status") == st && s(p, "/reason") == reason && s(p, "/message") == message);
            let transition = match prev {
                Some(p) if s(p, "/status") == st => s(p, "/lastTransitionTime").to_string(),
                _ => now.clone(),
            };
            let last_update = match prev {
                Some(p) if same && reason != "ReplicaSetUpdated" => s(p, "/lastUpdateTime").to_string(),
                _ => update.to_string(),
            };
            json!({"type": ty, "status": st, "lastUpdateTime": last_update, "lastTransitionTime": transition,
                   "reason": reason, "message": message})
        };
        let progress_time = ts(last_progress);
        let conditions =
            vec![cond("Available", available_cond, &now), cond("Progressing", progressing, &progress_time)];
        let mut st = Map::new();
        st.insert("observedGeneration".into(), json!(generation));
        for (k, v) in [
            ("replicas", replicas),
            ("updatedReplicas", updated),
            ("readyReplicas", ready),
            ("availableReplicas", available),
            ("unavailableReplicas", (spec_total - available).max(0)),
        ] {
            if v != 0 {
                st.insert(k.into(), json!(v));
            }
        }
        st.insert("terminatingReplicas".into(), json!(0));
        st.insert("conditions".into(), Value::Array(conditions));
        let mut new = d.clone();
        annotate(&mut new, "deployment.kubernetes.io/revision", &revision.to_string());
        new["status"] = Value::Object(st);
        self.write_as(r, new, MANAGER);
    }

    // ---- 5. replica sets ----

    fn replica_sets(&mut self) {
        for r in self.refs("ReplicaSet") {
            let Some(rs) = self.get_obj(&r).cloned() else { continue };
            if deleting(&rs) {
                continue;
            }
            let want = rs.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1).max(0) as usize;
            let pods = self.dependents(uid_of(&rs), "Pod");
            let live: Vec<ObjectRef> =
                pods.into_iter().filter(|p| self.get_obj(p).is_some_and(|o| !deleting(o))).collect();
            if live.len() < want {
                // Scripted by its Deployment's name, or by its own when it stands alone.
                let workload = match rs.pointer("/metadata/ownerReferences/0/name").and_then(Value::as_str) {
                    Some(owner) => owner.to_string(),
                    None => r.name.clone(),
                };
                let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
                for _ in live.len()..want {
                    let plan = self.serving_fate(&template, &[&workload]);
                    let log = plan.log();
                    self.create_pod(&r, &rs, &template, plan, log);
                }
            } else if live.len() > want {
                // Not ready ones go first, then the newest.
                let mut order: Vec<(bool, usize, ObjectRef)> = live
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (self.get_obj(p).is_some_and(|o| self.ready(o)), usize::MAX - i, p.clone()))
                    .collect();
                order.sort();
                for (_, _, p) in order.into_iter().take(live.len() - want) {
                    self.remove(&p);
                }
            }
            let pods = self.live_pods(&r);
            let ready = pods.iter().filter(|p| self.ready(p)).count();
            let mut st = Map::new();
            st.insert("replicas".into(), json!(pods.len()));
            if !pods.is_empty() {
                st.insert("fullyLabeledReplicas".into(), json!(pods.len()));
            }
            if ready > 0 {
                st.insert("readyReplicas".into(), json!(ready));
                st.insert("availableReplicas".into(), json!(ready));
            }
            st.insert("observedGeneration".into(), rs.pointer("/metadata/generation").cloned().unwrap_or(json!(1)));
            let mut new = rs.clone();
            new["status"] = Value::Object(st);
            self.write_as(&r, new, MANAGER);
        }
    }

    /// How a serving pod will behave: an image script wins over its workload's script (the
    /// first of `workloads` that has one).
    pub(super) fn serving_fate(&self, template: &Value, workloads: &[&str]) -> Plan {
        let images: Vec<&str> = template
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("image").and_then(Value::as_str))
            .collect();
        if let Some((image, fate)) = images.iter().find_map(|i| self.image_scripts.get(*i).map(|f| (i, f))) {
            return Plan::Serve { fate: fate.clone(), image: Some(image.to_string()) };
        }
        let fate = workloads.iter().find_map(|w| self.deployment_scripts.get(*w)).cloned().unwrap_or(PodFate::Ready);
        Plan::Serve { fate, image: None }
    }

    /// Creates a pod from a template for its owner; the kubelet will run it as `plan` says.
    fn create_pod(
        &mut self,
        owner_r: &ObjectRef,
        owner: &Value,
        template: &Value,
        plan: Plan,
        log: String,
    ) -> Option<ObjectRef> {
        let generate = format!("{}-", owner_r.name);
        let name = format!("{generate}{}", self.suffix(5));
        let mut meta = json!({"name": name, "generateName": generate, "namespace": owner_r.namespace,
                              "ownerReferences": [owner_ref(owner)]});
        for k in ["labels", "annotations"] {
            if let Some(v) = template.pointer(&format!("/metadata/{k}")) {
                meta[k] = v.clone();
            }
        }
        self.create_pod_as(meta, template.get("spec").cloned().unwrap_or(json!({})), plan, log)
    }

    /// Creates a pod with this metadata (name, namespace, owner, labels) and spec; the kubelet
    /// will run it as `plan` says.
    pub(super) fn create_pod_as(&mut self, meta: Value, spec: Value, plan: Plan, log: String) -> Option<ObjectRef> {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
        let r = self.create_as(pod, MANAGER)?;
        let uid = self.get_obj(&r).map(|p| uid_of(p).to_string())?;
        self.pods.insert(uid, PodRun::new(plan, log));
        Some(r)
    }

    // ---- 6. jobs ----

    fn jobs(&mut self) {
        for r in self.refs("Job") {
            let Some(job) = self.get_obj(&r).cloned() else { continue };
            if deleting(&job) || job.pointer("/spec/suspend") == Some(&json!(true)) {
                continue;
            }
            let uid = uid_of(&job).to_string();
            let now = self.now;
            let mut run = self.jobs.remove(&uid).unwrap_or_else(|| JobRun { started: now, ..JobRun::default() });
            self.job_step(&r, &job, &mut run);
            self.jobs.insert(uid, run);
        }
    }

    fn job_step(&mut self, r: &ObjectRef, job: &Value, run: &mut JobRun) {
        let spec = |p: &str| job.pointer(p).and_then(Value::as_i64);
        let completions = spec("/spec/completions").unwrap_or(1).max(1) as u32;
        let parallelism = spec("/spec/parallelism").unwrap_or(1).max(0) as u32;
        let backoff_limit = spec("/spec/backoffLimit").unwrap_or(6).max(0) as u32;
        let pods = self.dependents(uid_of(job), "Pod");
        let mut active = Vec::new();
        if run.finished.is_none() {
            for p in &pods {
                let Some(pod) = self.get_obj(p) else { continue };
                match phase(pod) {
                    "Succeeded" if run.counted.insert(p.name.clone()) => run.succeeded += 1,
                    "Failed" if run.counted.insert(p.name.clone()) => {
                        run.failed += 1;
                        run.last_failure = Some(self.now);
                    }
                    "Succeeded" | "Failed" => {}
                    _ => active.push(p.clone()),
                }
            }
            // A pod deleted before it finished counts as failed.
            for name in run.pods.clone() {
                if !pods.iter().any(|p| p.name == name) && run.counted.insert(name) {
                    run.failed += 1;
                    run.last_failure = Some(self.now);
                }
            }
            let deadline =
                spec("/spec/activeDeadlineSeconds").map(|s| run.started + Duration::from_secs(s.max(0) as u64));
            let outcome = if run.succeeded >= completions {
                Some(None)
            } else if deadline.is_some_and(|d| self.now >= d) {
                Some(Some("DeadlineExceeded"))
            } else if run.failed > backoff_limit {
                Some(Some("BackoffLimitExceeded"))
            } else {
                None
            };
            if let Some(o) = outcome {
                run.finished = Some((self.now, o));
                for p in active.drain(..) {
                    if o.is_some() {
                        run.failed += 1;
                        run.counted.insert(p.name.clone());
                    }
                    self.remove(&p);
                }
            } else {
                if let Some(d) = deadline {
                    self.wake(d);
                }
                let want = parallelism.min(completions.saturating_sub(run.succeeded)) as usize;
                if active.len() < want {
                    // Retries wait 10 s, 20 s, 40 s … (at most 6 min) after the last failure.
                    let next = run.last_failure.map(|t| {
                        let backoff = 10u64.saturating_mul(1 << run.failed.saturating_sub(1).min(10)).min(360);
                        t + Duration::from_secs(backoff)
                    });
                    match next {
                        Some(t) if self.now < t => self.wake(t),
                        _ => {
                            for _ in active.len()..want {
                                let attempt = run.pods.len() as u32;
                                let (plan, log) = self.job_plan(job, attempt);
                                let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
                                if let Some(p) = self.create_pod(r, job, &template, plan, log) {
                                    run.pods.push(p.name.clone());
                                    active.push(p);
                                }
                            }
                        }
                    }
                }
            }
        }
        let ready = active.iter().filter(|p| self.get_obj(p).is_some_and(|o| self.ready(o))).count();
        let mut st = Map::new();
        if let Some((at, outcome)) = run.finished {
            let t = ts(at);
            let (types, reason, message) = match outcome {
                None => (
                    ["SuccessCriteriaMet", "Complete"],
                    "CompletionsReached",
                    "Reached expected number of succeeded pods",
                ),
                Some("DeadlineExceeded") => {
                    (["FailureTarget", "Failed"], "DeadlineExceeded", "Job was active longer than specified deadline")
                }
                Some(r) => (["FailureTarget", "Failed"], r, "Job has reached the specified backoff limit"),
            };
            let conditions: Vec<Value> = types
                .iter()
                .map(|ty| {
                    json!({"type": ty, "status": "True", "lastProbeTime": t, "lastTransitionTime": t,
                                 "reason": reason, "message": message})
                })
                .collect();
            st.insert("conditions".into(), Value::Array(conditions));
        }
        st.insert("startTime".into(), json!(ts(run.started)));
        if let Some((at, None)) = run.finished {
            st.insert("completionTime".into(), json!(ts(at)));
        }
        for (k, v) in [("active", active.len() as u32), ("succeeded", run.succeeded), ("failed", run.failed)] {
            if v > 0 {
                st.insert(k.into(), json!(v));
            }
        }
        st.insert("terminating".into(), json!(0));
        st.insert("uncountedTerminatedPods".into(), json!({}));
        st.insert("ready".into(), json!(ready));
        let mut new = job.clone();
        new["status"] = Value::Object(st);
        self.write_as(r, new, MANAGER);
    }

    /// How attempt `attempt` of a Job's pod will go, and its log.
    fn job_plan(&self, job: &Value, attempt: u32) -> (Plan, String) {
        let name = s(job, "/metadata/name");
        let script = self.job_scripts.get(name).cloned().unwrap_or_default();
        let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
        if let Plan::Serve { fate, image } = self.serving_fate(&template, &[])
            && fate != PodFate::Ready
        {
            return match fate {
                PodFate::CrashLoop { exit_code, log } => (Plan::Run { duration: script.duration, exit_code }, log),
                other => (Plan::Serve { fate: other, image }, script.log),
            };
        }
        let fails = attempt < script.failures_before_success || matches!(script.outcome, Outcome::Fail { .. });
        let exit_code = match (&script.outcome, fails) {
            (_, false) => 0,
            (Outcome::Fail { exit_code }, true) => *exit_code,
            (Outcome::Succeed, true) => 1,
        };
        (Plan::Run { duration: script.duration, exit_code }, script.log)
    }

    // ---- 7. scheduler and kubelet ----

    fn kubelet(&mut self) {
        for r in self.refs("Pod") {
            let Some(pod) = self.get_obj(&r).cloned() else { continue };
            if deleting(&pod) {
                continue;
            }
            let uid = uid_of(&pod).to_string();
            let mut run = match self.pods.get(&uid) {
                Some(run) => run.clone(),
                None => self.bare_pod_run(&pod),
            };
            let mut new = pod.clone();
            if run.scheduled_at.is_none() {
                let placed = match self.schedulable(&r, &pod, &run) {
                    Ok(true) => self.choose_node(&r, &pod).map(Some),
                    Ok(false) => Ok(None),
                    Err(m) => Err(m),
                };
                match placed {
                    Ok(Some(node)) => {
                        new["spec"]["nodeName"] = json!(node);
                        if let Some(message) = self.attached_elsewhere(&r, &pod, &node) {
                            // The attach/detach controller cannot attach the volume here: the
                            // pod waits in ContainerCreating, the event says why.
                            let since = match &run.unschedulable_since {
                                Some((t, m)) if *m == message => *t,
                                _ => self.now,
                            };
                            run.unschedulable_since = Some((since, message.clone()));
                            let since = ts(since);
                            let waiting: Vec<Value> = pod
                                .pointer("/spec/containers")
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                                .map(|c| json!({"name": s(c, "/name"), "state": {"waiting": {"reason": "ContainerCreating"}},
                                                "lastState": {}, "ready": false, "restartCount": 0, "image": s(c, "/image"),
                                                "imageID": "", "started": false}))
                                .collect();
                            new["status"] = json!({
                                "phase": "Pending",
                                "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": since}],
                                "hostIP": "127.0.0.1",
                                "startTime": since,
                                "containerStatuses": waiting,
                                "qosClass": pod.pointer("/status/qosClass"),
                            });
                            self.pods.insert(uid, run);
                            self.write_as(&r, new.clone(), "kubelet");
                            if let Some(stored) = self.get_obj(&r).cloned() {
                                self.event_from(
                                    &stored,
                                    "attachdetach-controller",
                                    "Warning",
                                    "FailedAttachVolume",
                                    &message,
                                );
                            }
                            continue;
                        }
                        run.scheduled_at = Some(self.now);
                        run.unschedulable_since = None;
                        self.ips += 1;
                        run.ip = format!("10.244.0.{}", self.ips);
                    }
                    Ok(None) => {
                        run.unschedulable_since = None;
                        new["status"] = json!({"phase": "Pending", "qosClass": pod.pointer("/status/qosClass")});
                    }
                    Err(message) => {
                        let since = match &run.unschedulable_since {
                            Some((t, m)) if *m == message => *t,
                            _ => self.now,
                        };
                        run.unschedulable_since = Some((since, message.clone()));
                        new["status"] = json!({
                            "phase": "Pending",
                            "conditions": [{"type": "PodScheduled", "status": "False", "lastProbeTime": null,
                                            "lastTransitionTime": ts(since), "reason": "Unschedulable", "message": message}],
                            "qosClass": pod.pointer("/status/qosClass"),
                        });
                    }
                }
            }
            if run.scheduled_at.is_some() && run.started_at.is_none() && run.pulls_forever() {
                // Scripted never to pull: it stays in ImagePullBackOff (`pod_status`).
                run.started_at = run.scheduled_at;
            }
            if run.scheduled_at.is_some() && run.started_at.is_none() {
                match self.pull_images(&new, &mut run) {
                    None => {
                        run.started_at = Some(self.now);
                        for image in std::mem::take(&mut run.pulling) {
                            let took = self.image_pulls.get(&image).map(|p| p.0).unwrap_or_default();
                            let size = self.image_pulls.get(&image).map(|p| p.1).unwrap_or(IMAGE_SIZE);
                            let d = go_duration(took);
                            let message = format!(
                                "Successfully pulled image {image:?} in {d} ({d} including waiting). Image size: {size} bytes."
                            );
                            if let Some(stored) = self.get_obj(&r).cloned() {
                                self.event_from(&stored, "kubelet", "Normal", "Pulled", &message);
                            }
                        }
                    }
                    Some(until) => {
                        // The kubelet pulls before it creates the containers: they wait.
                        self.wake(until);
                        let since = ts(run.scheduled_at.unwrap_or(self.now));
                        let waiting = |list: &str| -> Vec<Value> {
                            pod.pointer(&format!("/spec/{list}"))
                                .and_then(Value::as_array)
                                .into_iter()
                                .flatten()
                                .map(|c| json!({"name": s(c, "/name"), "state": {"waiting": {"reason": if list == "containers" { "ContainerCreating" } else { "PodInitializing" }}},
                                                "lastState": {}, "ready": false, "restartCount": 0, "image": s(c, "/image"),
                                                "imageID": "", "started": false}))
                                .collect()
                        };
                        let mut st = json!({
                            "phase": "Pending",
                            "conditions": [
                                {"type": "PodReadyToStartContainers", "status": "False", "lastProbeTime": null, "lastTransitionTime": since},
                                {"type": "Initialized", "status": "False", "lastProbeTime": null, "lastTransitionTime": since, "reason": "ContainersNotInitialized"},
                                {"type": "Ready", "status": "False", "lastProbeTime": null, "lastTransitionTime": since, "reason": "ContainersNotReady"},
                                {"type": "ContainersReady", "status": "False", "lastProbeTime": null, "lastTransitionTime": since, "reason": "ContainersNotReady"},
                                {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": since},
                            ],
                            "hostIP": "127.0.0.1",
                            "hostIPs": [{"ip": "127.0.0.1"}],
                            "startTime": since,
                            "containerStatuses": waiting("containers"),
                            "qosClass": pod.pointer("/status/qosClass").cloned().unwrap_or(json!("BestEffort")),
                        });
                        let init = waiting("initContainers");
                        if !init.is_empty() {
                            st["initContainerStatuses"] = json!(init);
                        }
                        new["status"] = st;
                        self.pods.insert(uid, run);
                        self.write_as(&r, new, "kubelet");
                        continue;
                    }
                }
            }
            if run.scheduled_at.is_some() {
                let (status, wake) = self.pod_status(&new, &run);
                new["status"] = status;
                if let Some(t) = wake {
                    self.wake(t);
                }
            }
            // A downloader that succeeded leaves the model on its claim.
            if s(&new, "/status/phase") == "Succeeded"
                && s(&pod, "/status/phase") != "Succeeded"
                && let Some((ns, claim, files)) = super::files::downloaded(&new, &run.log)
            {
                self.claim_files.entry((ns, claim)).or_default().extend(files);
            }
            self.pods.insert(uid, run);
            self.write_as(&r, new, "kubelet");
        }
    }

    /// A pod no controller of the fake made (created through the API or inserted).
    fn bare_pod_run(&self, pod: &Value) -> PodRun {
        let script = [s(pod, "/metadata/name"), s(pod, "/metadata/generateName")]
            .iter()
            .find_map(|n| self.pod_scripts.get(*n))
            .cloned();
        let template = json!({"spec": pod.get("spec").cloned().unwrap_or(json!({}))});
        let (plan, log) = match script {
            Some(sc) => {
                let exit_code = match sc.outcome {
                    Outcome::Succeed => 0,
                    Outcome::Fail { exit_code } => exit_code,
                };
                (Plan::Run { duration: sc.duration, exit_code }, sc.log)
            }
            None if s(pod, "/spec/restartPolicy") == "Always" => {
                let plan = self.serving_fate(&template, &[]);
                let log = plan.log();
                (plan, log)
            }
            // An image scripted not to start (it cannot be pulled) does not start here either.
            None if let Plan::Serve { fate, image } = self.serving_fate(&template, &[])
                && fate != PodFate::Ready =>
            {
                (Plan::Serve { fate, image }, String::new())
            }
            // msws's inspection pod lists the claim it mounts, as its script would.
            None if let Some((log, exit_code)) = super::files::inspection(pod, &self.claim_files) => {
                (Plan::Run { duration: INSPECTION, exit_code }, log)
            }
            None => {
                let sc = JobScript::default();
                (Plan::Run { duration: sc.duration, exit_code: 0 }, sc.log)
            }
        };
        PodRun::new(plan, log)
    }

    /// The node a pod goes onto: its `spec.nodeName` (any name is a node, as before nodes
    /// were modelled), or the first node by name whose labels, taints and free extended
    /// resources admit it; none → why, in the scheduler's words (inferred from its messages:
    /// `0/N nodes are available: …`).
    fn choose_node(&self, r: &ObjectRef, pod: &Value) -> Result<String, String> {
        let named = s(pod, "/spec/nodeName");
        if !named.is_empty() {
            return Ok(named.to_string());
        }
        let spec = pod.get("spec").cloned().unwrap_or(json!({}));
        let nodes = self.refs("Node");
        if nodes.is_empty() {
            return Ok(NODE.to_string());
        }
        let want = crate::plan::prepull::extended_requests(&spec);
        let mut why: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
        for nr in &nodes {
            let Some(node) = self.get_obj(nr) else { continue };
            if let Err(reason) = crate::plan::prepull::placement(&spec, node) {
                *why.entry(format!("node(s) {reason}")).or_default() += 1;
                continue;
            }
            if self.accounted.contains(&nr.name) {
                let used = self.extended_in_use(&nr.name, r);
                let short = want.iter().find(|(res, n)| {
                    let have = node
                        .pointer("/status/allocatable")
                        .and_then(|a| a.get(res.as_str()))
                        .and_then(crate::plan::prepull::quantity_int)
                        .unwrap_or(0);
                    have - used.get(*res).copied().unwrap_or(0) < **n
                });
                if let Some((res, _)) = short {
                    *why.entry(format!("Insufficient {res}")).or_default() += 1;
                    continue;
                }
            }
            return Ok(nr.name.clone());
        }
        let n = nodes.len();
        let parts: Vec<String> = why.iter().map(|(w, k)| format!("{k} {w}")).collect();
        Err(format!(
            "0/{n} nodes are available: {}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.",
            parts.join(", ")
        ))
    }

    /// Extended resources taken on a node by its pods that have not finished (but `r`).
    fn extended_in_use(&self, node: &str, r: &ObjectRef) -> std::collections::BTreeMap<String, i64> {
        let mut used = std::collections::BTreeMap::new();
        for (o, st) in &self.objects {
            if o.kind != "Pod"
                || o == r
                || deleting(&st.obj)
                || terminal(&st.obj)
                || s(&st.obj, "/spec/nodeName") != node
            {
                continue;
            }
            let spec = st.obj.get("spec").cloned().unwrap_or(json!({}));
            for (k, v) in crate::plan::prepull::extended_requests(&spec) {
                *used.entry(k).or_default() += v;
            }
        }
        used
    }

    /// Pulls the pod's images that are not on its node: `None` when all are there, else when
    /// the last pull it waits for ends. A pull in progress on the node is shared.
    fn pull_images(&mut self, pod: &Value, run: &mut PodRun) -> Option<Duration> {
        let node = s(pod, "/spec/nodeName").to_string();
        let spec = pod.get("spec").cloned().unwrap_or(json!({}));
        let mut until: Option<Duration> = None;
        for image in crate::plan::prepull::images(&spec) {
            if self.node_has_image(&node, &image) {
                continue;
            }
            let key = (node.clone(), image.clone());
            let took = self.image_pulls.get(&image).map(|p| p.0).unwrap_or_default();
            let (_, done) = *self.pulling.entry(key.clone()).or_insert((self.now, self.now + took));
            if !run.pulling.contains(&image) {
                run.pulling.push(image.clone());
                if let Some(r) = ObjectRef::of(pod)
                    && let Some(stored) = self.get_obj(&r).cloned()
                {
                    self.event_from(&stored, "kubelet", "Normal", "Pulling", &format!("Pulling image {image:?}"));
                }
            }
            if self.now >= done {
                self.pulling.remove(&key);
                self.record_image(&node, &image);
            } else {
                until = Some(until.map_or(done, |u| u.max(done)));
            }
        }
        until
    }

    fn node_has_image(&self, node: &str, image: &str) -> bool {
        self.get_obj(&ObjectRef::new("v1", "Node", None, node))
            .is_some_and(|n| crate::plan::prepull::has_image(n, image))
    }

    /// The kubelet reports a pulled image in its node's status (a node msws never heard of,
    /// named by a pod's `nodeName`, has no object to report in).
    pub(super) fn record_image(&mut self, node: &str, image: &str) {
        let r = ObjectRef::new("v1", "Node", None, node);
        let Some(mut n) = self.get_obj(&r).cloned() else { return };
        if crate::plan::prepull::has_image(&n, image) {
            return;
        }
        let size = self.image_pulls.get(image).map(|p| p.1).unwrap_or(IMAGE_SIZE);
        let mut images = n.pointer("/status/images").and_then(Value::as_array).cloned().unwrap_or_default();
        images.push(super::image_entry(image, size));
        n["status"]["images"] = Value::Array(images);
        self.write_as(&r, n, "kubelet");
    }

    pub(super) fn forget_image(&mut self, node: &str, image: &str) {
        let r = ObjectRef::new("v1", "Node", None, node);
        let Some(mut n) = self.get_obj(&r).cloned() else { return };
        let want = crate::plan::prepull::normalize(image);
        let images: Vec<Value> = n
            .pointer("/status/images")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|i| {
                i.pointer("/names/1").and_then(Value::as_str).map(crate::plan::prepull::normalize) != Some(want.clone())
            })
            .cloned()
            .collect();
        n["status"]["images"] = Value::Array(images);
        self.write_as(&r, n, "kubelet");
    }

    /// Whether a pod can go onto the node now (`Ok(false)`: it waits for its claim to be
    /// provisioned), or why it cannot.
    fn schedulable(&self, r: &ObjectRef, pod: &Value, run: &PodRun) -> Result<bool, String> {
        if let Plan::Serve { fate: PodFate::Unschedulable { message }, .. } = &run.plan {
            return Err(message.clone());
        }
        let ns = r.namespace.clone().unwrap_or_default();
        let mut waits = false;
        for claim_name in claims_of(pod) {
            let Some(claim) = self.get_obj(&ObjectRef::new("v1", "PersistentVolumeClaim", Some(&ns), &claim_name))
            else {
                return Err(format!("persistentvolumeclaim {claim_name:?} not found"));
            };
            if deleting(claim) {
                return Err(format!("persistentvolumeclaim {claim_name:?} is being deleted"));
            }
            if phase(claim) != "Bound" {
                let class = self.class(s(claim, "/spec/storageClassName"));
                if class.is_some_and(|c| s(&c, "/volumeBindingMode") == "WaitForFirstConsumer") {
                    waits = true;
                    continue;
                }
                return Err("0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.".into());
            }
            let rwop = claim
                .pointer("/spec/accessModes")
                .and_then(Value::as_array)
                .is_some_and(|m| m.iter().any(|x| x == "ReadWriteOncePod"));
            // ReadWriteOncePod: one pod on the node may use the claim, finished or not, until
            // it is deleted. ReadWriteOnce does not block: the fake has a single node.
            let taken = rwop
                && self.objects.iter().any(|(o, st)| {
                    o.kind == "Pod"
                        && o != r
                        && o.namespace == r.namespace
                        && !deleting(&st.obj)
                        && st.obj.pointer("/spec/nodeName").is_some()
                        && claims_of(&st.obj).contains(&claim_name)
                });
            if taken {
                return Err("0/1 nodes are available: 1 node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.".into());
            }
        }
        Ok(!waits)
    }

    /// A scheduled pod's status at the current time, and when it next changes.
    fn pod_status(&self, pod: &Value, run: &PodRun) -> (Value, Option<Duration>) {
        let t0 = run.started_at.or(run.scheduled_at).unwrap_or(self.now);
        let (name, ns, uid) = (s(pod, "/metadata/name"), s(pod, "/metadata/namespace"), uid_of(pod));
        let containers = |list: &str| -> Vec<Value> {
            pod.pointer(&format!("/spec/{list}")).and_then(Value::as_array).cloned().unwrap_or_default()
        };
        let cid = |c: &str| format!("containerd://{}", sha_hex(&format!("{uid}/{c}")));
        let image_id = |i: &str| format!("{i}@sha256:{}", sha_hex(i));
        let status_of = |c: &Value,
                         state: Value,
                         last: Value,
                         ready: bool,
                         restarts: i64,
                         started: bool,
                         running: bool| {
            let (cname, image) = (s(c, "/name"), s(c, "/image"));
            let mut v = json!({"name": cname, "state": state, "lastState": last, "ready": ready, "restartCount": restarts,
                               "image": image, "imageID": if running { image_id(image) } else { String::new() }});
            if running {
                v["containerID"] = json!(cid(cname));
            }
            v["started"] = json!(started);
            v
        };
        let cond = |ty: &str, ok: bool, at: Duration, reason: Option<&str>| {
            let mut c = json!({"type": ty, "status": if ok { "True" } else { "False" }, "lastProbeTime": null,
                               "lastTransitionTime": ts(at)});
            if let Some(r) = reason {
                c["reason"] = json!(r);
            }
            c
        };
        let running = json!({"running": {"startedAt": ts(t0)}});
        let mut wake = None;
        let mut phase = "Running";
        let mut statuses = Vec::new();
        // (ready, since, reason when not ready, whether the pod finished)
        let (ready, ready_at, not_ready_reason, finished_at) = match &run.plan {
            Plan::Run { duration, exit_code } => {
                let end = t0 + *duration;
                if self.now < end {
                    wake = Some(end);
                    for c in containers("containers") {
                        statuses.push(status_of(&c, running.clone(), json!({}), true, 0, true, true));
                    }
                    (true, t0, None, None)
                } else {
                    phase = if *exit_code == 0 { "Succeeded" } else { "Failed" };
                    let reason = if *exit_code == 0 { "Completed" } else { "Error" };
                    for c in containers("containers") {
                        let state = json!({"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": ts(t0),
                                                          "finishedAt": ts(end), "containerID": cid(s(&c, "/name"))}});
                        statuses.push(status_of(&c, state, json!({}), false, 0, false, true));
                    }
                    (false, end, Some("PodCompleted"), Some(end))
                }
            }
            Plan::Serve { fate, image } => {
                let affected = |c: &Value| image.as_deref().is_none_or(|i| s(c, "/image") == i);
                match fate {
                    PodFate::Ready | PodFate::Unschedulable { .. } => {
                        let at = t0 + self.ready_delay;
                        let ok = self.now >= at;
                        if !ok {
                            wake = Some(at);
                        }
                        for c in containers("containers") {
                            statuses.push(status_of(&c, running.clone(), json!({}), ok, 0, true, true));
                        }
                        (ok, if ok { at } else { t0 }, Some("ContainersNotReady"), None)
                    }
                    PodFate::CrashLoop { exit_code, .. } => {
                        let (restarts, last_run, backoff, next) = crash_schedule(t0, self.now);
                        wake = Some(next);
                        for c in containers("containers") {
                            if affected(&c) {
                                let cname = s(&c, "/name");
                                let waiting = json!({"waiting": {"reason": "CrashLoopBackOff", "message": format!(
                                    "back-off {backoff}s restarting failed container={cname} pod={name}_{ns}({uid})")}});
                                let last = json!({"terminated": {"exitCode": exit_code, "reason": "Error", "startedAt": ts(last_run),
                                                                 "finishedAt": ts(last_run), "containerID": cid(cname)}});
                                statuses.push(status_of(&c, waiting, last, false, restarts, false, true));
                            } else {
                                statuses.push(status_of(&c, running.clone(), json!({}), true, 0, true, true));
                            }
                        }
                        (false, t0, Some("ContainersNotReady"), None)
                    }
                    PodFate::ImagePullBackOff => {
                        phase = "Pending";
                        for c in containers("containers") {
                            if affected(&c) {
                                let img = s(&c, "/image");
                                let waiting = json!({"waiting": {"reason": "ImagePullBackOff", "message": format!(
                                    "Back-off pulling image {img:?}: ErrImagePull: failed to pull and unpack image {img:?}: not found")}});
                                statuses.push(status_of(&c, waiting, json!({}), false, 0, false, false));
                            } else {
                                statuses.push(status_of(&c, running.clone(), json!({}), true, 0, true, true));
                            }
                        }
                        (false, t0, Some("ContainersNotReady"), None)
                    }
                }
            }
        };
        let init_statuses: Vec<Value> = containers("initContainers")
            .iter()
            .map(|c| {
                if s(c, "/restartPolicy") == "Always" {
                    status_of(c, running.clone(), json!({}), finished_at.is_none(), 0, finished_at.is_none(), true)
                } else {
                    let state = json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": ts(t0),
                                                      "finishedAt": ts(t0), "containerID": cid(s(c, "/name"))}});
                    status_of(c, state, json!({}), true, 0, false, true)
                }
            })
            .collect();
        let conditions = vec![
            cond("PodReadyToStartContainers", finished_at.is_none(), finished_at.unwrap_or(t0), None),
            cond("Initialized", true, t0, None),
            cond("Ready", ready, ready_at, (!ready).then_some(not_ready_reason).flatten()),
            cond("ContainersReady", ready, ready_at, (!ready).then_some(not_ready_reason).flatten()),
            cond("PodScheduled", true, t0, None),
        ];
        let mut st = json!({
            "phase": phase,
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": run.ip,
            "podIPs": [{"ip": run.ip}],
            "startTime": ts(t0),
        });
        if !init_statuses.is_empty() {
            st["initContainerStatuses"] = Value::Array(init_statuses);
        }
        st["containerStatuses"] = Value::Array(statuses);
        st["qosClass"] = pod.pointer("/status/qosClass").cloned().unwrap_or(json!("BestEffort"));
        (st, wake)
    }
}

/// A duration as Go prints it (`8m0s`, `1.5s`), for the kubelet's messages.
fn go_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let frac = d.subsec_millis();
    let sec = if frac == 0 { format!("{s}s") } else { format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0')) };
    match (h, m) {
        (0, 0) => sec,
        (0, m) => format!("{m}m{sec}"),
        (h, m) => format!("{h}h{m}m{sec}"),
    }
}

/// A crash-looping container's restarts, as the kubelet's back-off spaces them: it first exits
/// at `t0` (restart count 1, back-off 10 s), then runs again after each back-off, which doubles up
/// to five minutes. At `now`: (restart count, when it last ran, the current back-off in
/// seconds, when it next runs).
fn crash_schedule(t0: Duration, now: Duration) -> (i64, Duration, u64, Duration) {
    let (mut restarts, mut at, mut backoff) = (1, t0, 10u64);
    loop {
        let next = at + Duration::from_secs(backoff);
        if next > now {
            return (restarts, at, backoff, next);
        }
        restarts += 1;
        at = next;
        backoff = (backoff * 2).min(300);
    }
}

/// The provisioner of classes whose volumes an administrator creates (local volumes).
const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

/// Why a volume a claim names cannot be bound to it.
enum Unbindable {
    /// The volume's `claimRef` is another claim (or an earlier claim of the same name).
    OtherClaim,
    /// The persistent volume controller's `checkVolumeSatisfyClaim` reason.
    Mismatch(&'static str),
}

/// Whether a named volume can be bound to the claim, checked as the persistent volume controller
/// does: its claim reference (name, namespace and, when set, uid), then size, class, volume mode
/// and access modes, with the controller's messages.
fn satisfies(pv: &Value, claim: &Value) -> Result<(), Unbindable> {
    if let Some(c) = pv.pointer("/spec/claimRef") {
        let uid = s(c, "/uid");
        let same = s(c, "/name") == s(claim, "/metadata/name")
            && s(c, "/namespace") == s(claim, "/metadata/namespace")
            && (uid.is_empty() || uid == uid_of(claim));
        if !same {
            return Err(Unbindable::OtherClaim);
        }
    }
    let want = super::validate::amount(claim.pointer("/spec/resources/requests/storage"));
    if super::validate::amount(pv.pointer("/spec/capacity/storage")) < want {
        return Err(Unbindable::Mismatch("requested PV is too small"));
    }
    if s(pv, "/spec/storageClassName") != s(claim, "/spec/storageClassName") {
        return Err(Unbindable::Mismatch("storageClassName does not match"));
    }
    let mode = |v: &Value| match s(v, "/spec/volumeMode") {
        "" => "Filesystem".to_string(),
        m => m.to_string(),
    };
    if mode(pv) != mode(claim) {
        return Err(Unbindable::Mismatch("incompatible volumeMode"));
    }
    let modes = |v: &Value| v.pointer("/spec/accessModes").and_then(Value::as_array).cloned().unwrap_or_default();
    let offered = modes(pv);
    if !modes(claim).iter().all(|m| offered.contains(m)) {
        return Err(Unbindable::Mismatch("incompatible accessMode"));
    }
    Ok(())
}

/// A controller owner reference to `owner`.
pub(super) fn owner_ref(owner: &Value) -> Value {
    json!({"apiVersion": s(owner, "/apiVersion"), "kind": s(owner, "/kind"), "name": s(owner, "/metadata/name"),
           "uid": uid_of(owner), "controller": true, "blockOwnerDeletion": true})
}

fn claim_ref(claim: &Value) -> Value {
    json!({"kind": "PersistentVolumeClaim", "namespace": s(claim, "/metadata/namespace"), "name": s(claim, "/metadata/name"),
           "uid": uid_of(claim), "apiVersion": "v1", "resourceVersion": s(claim, "/metadata/resourceVersion")})
}

fn annotate(obj: &mut Value, key: &str, value: &str) {
    let meta = meta_mut(obj);
    let a = meta.entry("annotations").or_insert_with(|| json!({}));
    if let Some(m) = a.as_object_mut() {
        m.insert(key.into(), json!(value));
    }
}
