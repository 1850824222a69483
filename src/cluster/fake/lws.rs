//! The controllers of the LeaderWorkerSet project (kubernetes-sigs/lws), step 4 of
//! `controllers.rs`: the DisaggregatedSet controller makes one LeaderWorkerSet per role and
//! slice, the LeaderWorkerSet controller makes groups of pods. Nothing here is recorded from a
//! real cluster: it follows the LWS types, webhooks and controllers as read in their sources
//! (ordinal group identity, status and condition rules, labels, names), simplified where msws
//! does not depend on the difference:
//!
//! - a LeaderWorkerSet's pods are owned by it directly (a real one has a leader StatefulSet and
//!   a worker StatefulSet per group, owned by the leader pod), with the names and labels the
//!   real ones have: leader `<lws>-<group>`, workers `<lws>-<group>-<index>`; no headless
//!   Service, no ControllerRevisions; the revision is a hash of `leaderWorkerTemplate`;
//! - a rolling update replaces whole groups, highest index first, at most `maxUnavailable`
//!   unready groups at a time (a group that is not ready anyway is replaced at once), from the
//!   `partition` up; no surge groups (`maxSurge` is ignored, and a `maxUnavailable` of 0 counts
//!   as 1);
//! - a pod's container restarts do not recreate its group (`RecreateGroupOnPodRestart` is not
//!   simulated): a crash-looping pod stays, its restart count growing;
//! - a DisaggregatedSet's revision is a hash of its roles without their replica counts; a new
//!   revision's LeaderWorkerSets are created at once and the old ones deleted once all new ones
//!   are ready (no coordinated cross-role pacing, no headless Services, no role scalers);
//! - no events.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::controllers::{deleting, int_or_percent, owner_ref, s, sha_hex, ts};
use super::server::{State, hashed_name, uid_of};
use super::status;
use crate::cluster::ObjectRef;

/// The LWS controller manager's field manager.
const MANAGER: &str = "lws";
const LWS_API: &str = "leaderworkerset.x-k8s.io/v1";
/// Label and annotation prefix of the LWS controller.
const L: &str = "leaderworkerset.sigs.k8s.io";
/// Label prefix of the DisaggregatedSet controller.
const D: &str = "disaggregatedset.x-k8s.io";

fn int(v: &Value, p: &str) -> Option<i64> {
    v.pointer(p).and_then(Value::as_i64)
}

fn label<'a>(v: &'a Value, key: &str) -> &'a str {
    v.pointer("/metadata/labels").and_then(|l| l.get(key)).and_then(Value::as_str).unwrap_or("")
}

/// One group of a LeaderWorkerSet as it stands: its pods by worker index.
#[derive(Default)]
struct Group {
    pods: BTreeMap<i64, (ObjectRef, Value)>,
}

impl Group {
    fn complete(&self, size: i64) -> bool {
        self.pods.len() as i64 == size
    }
    fn ready(&self, st: &State, size: i64) -> bool {
        self.complete(size) && self.pods.values().all(|(_, p)| st.ready(p))
    }
    fn updated(&self, revision: &str, size: i64) -> bool {
        self.complete(size)
            && self.pods.values().all(|(_, p)| label(p, &format!("{L}/template-revision-hash")) == revision)
    }
    /// The revision its pods have (its leader's).
    fn revision(&self) -> Option<String> {
        self.pods.values().next().map(|(_, p)| label(p, &format!("{L}/template-revision-hash")).to_string())
    }
}

/// Sets a condition to True the way the LWS controller does: a condition already True stays as
/// it is, one that is False is replaced (with a new transition time), a new one is appended; and
/// each of `exclusive` that is True turns False in place. With `generation` (the
/// DisaggregatedSet controller), the one turned False takes the new one's reason and message
/// (and a new transition time), and every condition carries `observedGeneration`.
fn set_true(
    conds: &mut Vec<Value>,
    ty: &str,
    reason: &str,
    message: &str,
    exclusive: &[&str],
    now: &str,
    generation: Option<i64>,
) {
    for c in conds.iter_mut() {
        let other = c.get("type").and_then(Value::as_str).is_some_and(|t| exclusive.contains(&t));
        if other && c.get("status").and_then(Value::as_str) == Some("True") {
            c["status"] = json!("False");
            if let Some(g) = generation {
                c["observedGeneration"] = json!(g);
                c["lastTransitionTime"] = json!(now);
                c["reason"] = json!(reason);
                c["message"] = json!(message);
            }
        }
    }
    let fresh = || {
        let mut c = Map::new();
        c.insert("type".into(), json!(ty));
        c.insert("status".into(), json!("True"));
        if let Some(g) = generation {
            c.insert("observedGeneration".into(), json!(g));
        }
        c.insert("lastTransitionTime".into(), json!(now));
        c.insert("reason".into(), json!(reason));
        c.insert("message".into(), json!(message));
        Value::Object(c)
    };
    match conds.iter_mut().find(|c| c.get("type").and_then(Value::as_str) == Some(ty)) {
        Some(c) if c.get("status").and_then(Value::as_str) == Some("True") => {
            if let Some(g) = generation {
                c["observedGeneration"] = json!(g);
            }
        }
        Some(c) => *c = fresh(),
        None => conds.push(fresh()),
    }
}

impl State {
    // ---- leader worker sets ----

    pub(super) fn leader_worker_sets(&mut self) {
        for r in self.refs("LeaderWorkerSet") {
            if self.served(&r.api_version, &r.kind).is_some() {
                self.leader_worker_set(&r);
            }
        }
    }

    fn leader_worker_set(&mut self, r: &ObjectRef) {
        let Some(lws) = self.get_obj(r).cloned() else { return };
        if deleting(&lws) {
            return;
        }
        let replicas = int(&lws, "/spec/replicas").unwrap_or(1).max(0);
        let size = int(&lws, "/spec/leaderWorkerTemplate/size").unwrap_or(1).max(1);
        let lwt = lws.pointer("/spec/leaderWorkerTemplate").cloned().unwrap_or(json!({}));
        let revision = hashed_name(&status::canonical(&lwt), 10);
        let rolling = "/spec/rolloutStrategy/rollingUpdateConfiguration";
        let partition = int(&lws, &format!("{rolling}/partition")).unwrap_or(0).clamp(0, replicas);
        let max_unavailable =
            int_or_percent(lws.pointer(&format!("{rolling}/maxUnavailable")).or(Some(&json!(1))), replicas).max(1);

        let mut groups = self.groups(&lws);
        // Groups beyond the replicas go.
        for (_, g) in groups.split_off(&replicas) {
            for (p, _) in g.pods.values() {
                self.remove(p);
            }
        }
        // Missing groups, and missing pods of a group, are created (at the group's revision).
        for g in 0..replicas {
            let group = groups.entry(g).or_default();
            let at = group.revision().unwrap_or_else(|| revision.clone());
            let missing: Vec<i64> = (0..size).filter(|w| !group.pods.contains_key(w)).collect();
            let extra: Vec<ObjectRef> =
                group.pods.iter().filter(|(w, _)| **w >= size).map(|(_, (p, _))| p.clone()).collect();
            if missing.is_empty() && extra.is_empty() {
                continue;
            }
            if at != revision {
                // An old group that lost a pod is replaced whole by the rolling update below.
                continue;
            }
            for p in extra {
                self.remove(&p);
            }
            for w in missing {
                self.create_group_pod(&lws, g, w, size, &revision);
            }
        }
        let mut groups = self.groups(&lws);
        // The rolling update: outdated groups from the highest index down to the partition.
        let mut unavailable =
            (0..replicas).filter(|g| !groups.get(g).is_some_and(|x| x.ready(self, size))).count() as i64;
        for g in (partition..replicas).rev() {
            let Some(group) = groups.get(&g) else { continue };
            if group.updated(&revision, size) {
                continue;
            }
            let was_ready = group.ready(self, size);
            if was_ready && unavailable >= max_unavailable {
                continue;
            }
            let doomed: Vec<ObjectRef> = group.pods.values().map(|(p, _)| p.clone()).collect();
            for p in &doomed {
                self.remove(p);
            }
            for w in 0..size {
                self.create_group_pod(&lws, g, w, size, &revision);
            }
            if was_ready {
                unavailable += 1;
            }
        }
        groups = self.groups(&lws);
        self.leader_worker_set_status(r, &lws, &groups, replicas, size, partition, &revision);
    }

    /// A LeaderWorkerSet's pods by group and worker index (pods being deleted left out).
    fn groups(&self, lws: &Value) -> BTreeMap<i64, Group> {
        let mut groups: BTreeMap<i64, Group> = BTreeMap::new();
        for p in self.dependents(uid_of(lws), "Pod") {
            let Some(pod) = self.get_obj(&p).filter(|o| !deleting(o)) else { continue };
            let (Ok(g), Ok(w)) =
                (label(pod, &format!("{L}/group-index")).parse(), label(pod, &format!("{L}/worker-index")).parse())
            else {
                continue;
            };
            groups.entry(g).or_default().pods.insert(w, (p.clone(), pod.clone()));
        }
        groups
    }

    /// Pod `w` of group `g`, as the LWS controller and its pod webhook make it: the leader
    /// template (or the worker one) for `w = 0`, the worker template otherwise, with the group's
    /// labels, annotations and environment, named after the StatefulSets the real one uses.
    fn create_group_pod(&mut self, lws: &Value, g: i64, w: i64, size: i64, revision: &str) {
        let name = s(lws, "/metadata/name").to_string();
        let ns = s(lws, "/metadata/namespace").to_string();
        let worker = lws.pointer("/spec/leaderWorkerTemplate/workerTemplate").cloned().unwrap_or(json!({}));
        let template = match lws.pointer("/spec/leaderWorkerTemplate/leaderTemplate") {
            Some(t) if w == 0 && t.is_object() => t.clone(),
            _ => worker,
        };
        let leader = format!("{name}-{g}");
        let pod_name = if w == 0 { leader.clone() } else { format!("{leader}-{w}") };
        let object = |v: Option<&Value>| v.filter(|v| v.is_object()).cloned().unwrap_or(json!({}));
        let mut labels = object(template.pointer("/metadata/labels"));
        let group_key = sha_hex(&format!("{ns}/{leader}"))[..40].to_string();
        for (k, v) in [
            ("name", name.clone()),
            ("group-index", g.to_string()),
            ("worker-index", w.to_string()),
            ("group-key", group_key.clone()),
            ("template-revision-hash", revision.to_string()),
        ] {
            labels[format!("{L}/{k}")] = json!(v);
        }
        if let Some(sub) = int(lws, "/spec/leaderWorkerTemplate/subGroupPolicy/subGroupSize").filter(|n| *n > 0) {
            let excluded = s(lws, "/spec/leaderWorkerTemplate/subGroupPolicy/subGroupPolicyType") == "LeaderExcluded";
            if !(excluded && w == 0) {
                let index = if excluded { (w - 1) / sub } else { w / sub };
                labels[format!("{L}/subgroup-index")] = json!(index.to_string());
                labels[format!("{L}/subgroup-key")] = json!(sha_hex(&format!("{group_key}/{index}"))[..40].to_string());
            }
        }
        let mut annotations = object(template.pointer("/metadata/annotations"));
        annotations[format!("{L}/size")] = json!(size.to_string());
        if w > 0 {
            annotations[format!("{L}/leader-name")] = json!(leader);
        }
        let mut spec = object(template.get("spec"));
        spec["hostname"] = json!(pod_name);
        spec["subdomain"] = json!(name);
        // The pod webhook's variables, where a container does not set them itself.
        let env = [
            ("LWS_LEADER_ADDRESS", format!("{leader}.{name}.{ns}")),
            ("LWS_GROUP_SIZE", size.to_string()),
            ("LWS_WORKER_INDEX", w.to_string()),
        ];
        for list in ["initContainers", "containers"] {
            let containers = spec.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten();
            for c in containers.filter_map(Value::as_object_mut) {
                let vars = c.entry("env").or_insert_with(|| json!([]));
                if let Some(vars) = vars.as_array_mut() {
                    for (k, v) in &env {
                        if !vars.iter().any(|e| e.get("name").and_then(Value::as_str) == Some(k)) {
                            vars.push(json!({"name": k, "value": v}));
                        }
                    }
                }
            }
        }
        let meta = json!({"name": pod_name, "namespace": ns, "labels": labels, "annotations": annotations,
                          "ownerReferences": [owner_ref(lws)]});
        let set = label(lws, &format!("{D}/name")).to_string();
        let plan = self.serving_fate(&template, &[&name, &set]);
        let log = plan.log();
        self.create_pod_as(meta, spec, plan, log);
    }

    #[allow(clippy::too_many_arguments)]
    fn leader_worker_set_status(
        &mut self,
        r: &ObjectRef,
        lws: &Value,
        groups: &BTreeMap<i64, Group>,
        replicas: i64,
        size: i64,
        partition: i64,
        revision: &str,
    ) {
        let ready = groups.values().filter(|g| g.ready(self, size)).count() as i64;
        let updated = groups.values().filter(|g| g.updated(revision, size)).count() as i64;
        let existing = groups.values().filter(|g| g.pods.contains_key(&0)).count() as i64;
        let in_partition = (partition..replicas).filter(|g| groups.contains_key(g)).count() as i64;
        let updated_in_partition =
            (partition..replicas).filter(|g| groups.get(g).is_some_and(|x| x.updated(revision, size))).count() as i64;
        let mut conds: Vec<Value> =
            lws.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        let now = ts(self.now);
        const PROGRESSING: (&str, &str, &str) = ("Progressing", "GroupsProgressing", "Replicas are progressing");
        if updated_in_partition < in_partition {
            set_true(
                &mut conds,
                "UpdateInProgress",
                "GroupsUpdating",
                "Rolling Upgrade is in progress",
                &["Available"],
                &now,
                None,
            );
            set_true(&mut conds, PROGRESSING.0, PROGRESSING.1, PROGRESSING.2, &["Available"], &now, None);
        } else if ready == replicas && updated == replicas {
            set_true(
                &mut conds,
                "Available",
                "AllGroupsReady",
                "All replicas are ready",
                &["Progressing", "UpdateInProgress"],
                &now,
                None,
            );
        } else {
            set_true(&mut conds, PROGRESSING.0, PROGRESSING.1, PROGRESSING.2, &["Available"], &now, None);
        }
        let mut st = Map::new();
        st.insert("conditions".into(), Value::Array(conds));
        for (k, v) in [("readyReplicas", ready), ("updatedReplicas", updated), ("replicas", existing)] {
            if v != 0 {
                st.insert(k.into(), json!(v));
            }
        }
        let name = s(lws, "/metadata/name");
        st.insert("hpaPodSelector".into(), json!(format!("{L}/name={name},{L}/worker-index=0")));
        st.insert("observedGeneration".into(), json!(int(lws, "/metadata/generation").unwrap_or(1)));
        let mut new = lws.clone();
        new["status"] = Value::Object(st);
        self.write_as(r, new, MANAGER);
    }

    // ---- disaggregated sets ----

    pub(super) fn disaggregated_sets(&mut self) {
        for r in self.refs("DisaggregatedSet") {
            if self.served(&r.api_version, &r.kind).is_some() && self.served(LWS_API, "LeaderWorkerSet").is_some() {
                self.disaggregated_set(&r);
            }
        }
    }

    fn disaggregated_set(&mut self, r: &ObjectRef) {
        let Some(ds) = self.get_obj(r).cloned() else { return };
        if deleting(&ds) {
            return;
        }
        let name = r.name.clone();
        let ns = r.namespace.clone().unwrap_or_default();
        let slices = int(&ds, "/spec/slices").unwrap_or(1).max(1);
        let roles: Vec<Value> = ds.pointer("/spec/roles").and_then(Value::as_array).cloned().unwrap_or_default();
        let revision = ds_revision(&roles);
        let uid = uid_of(&ds).to_string();
        let children = self.dependents(&uid, "LeaderWorkerSet");
        let mut target: BTreeSet<ObjectRef> = BTreeSet::new();
        for slice in 0..slices {
            for role in &roles {
                let role_name = s(role, "/name");
                if role_name.is_empty() {
                    continue;
                }
                let child = ObjectRef::new(
                    LWS_API,
                    "LeaderWorkerSet",
                    Some(&ns),
                    &format!("{name}-{slice}-{revision}-{role_name}"),
                );
                let desired = int(role, "/spec/replicas").unwrap_or(1).max(0);
                match self.get_obj(&child).cloned() {
                    None => {
                        let obj = ds_child(&ds, role, slice, &revision, &child, desired);
                        self.create_as(obj, MANAGER);
                    }
                    Some(mut live) if int(&live, "/spec/replicas") != Some(desired) => {
                        live["spec"]["replicas"] = json!(desired);
                        self.write_as(&child, live, MANAGER);
                    }
                    Some(_) => {}
                }
                target.insert(child);
            }
        }
        // The previous revision (and removed roles or slices) go once the new one is ready.
        let child_ready = |st: &State, c: &ObjectRef| {
            st.get_obj(c).is_some_and(|l| {
                let want = int(l, "/spec/replicas").unwrap_or(1);
                int(l, "/status/readyReplicas").unwrap_or(0) >= want
                    && int(l, "/status/updatedReplicas").unwrap_or(0) >= want
            })
        };
        if target.iter().all(|c| child_ready(self, c)) {
            for old in children.iter().filter(|c| !target.contains(c)) {
                self.remove(old);
            }
        }
        self.disaggregated_set_status(r, &ds, &roles, slices, &revision);
    }

    fn disaggregated_set_status(&mut self, r: &ObjectRef, ds: &Value, roles: &[Value], slices: i64, revision: &str) {
        let children: Vec<Value> =
            self.dependents(uid_of(ds), "LeaderWorkerSet").iter().filter_map(|c| self.get_obj(c).cloned()).collect();
        let mut statuses = Vec::new();
        let mut all = true;
        for role in roles {
            let role_name = s(role, "/name");
            let of_role: Vec<&Value> =
                children.iter().filter(|c| label(c, &format!("{D}/role")) == role_name).collect();
            let sum = |p: &str, current: bool| -> i64 {
                of_role
                    .iter()
                    .filter(|c| !current || label(c, &format!("{D}/revision")) == revision)
                    .map(|c| int(c, p).unwrap_or(0))
                    .sum()
            };
            let (replicas, ready, updated) = (
                sum("/status/replicas", false),
                sum("/status/readyReplicas", false),
                sum("/status/updatedReplicas", true),
            );
            let desired = int(role, "/spec/replicas").unwrap_or(1).max(0) * slices;
            all &= replicas == desired && ready == desired && updated == desired;
            statuses.push(
                json!({"name": role_name, "replicas": replicas, "readyReplicas": ready, "updatedReplicas": updated}),
            );
        }
        let generation = int(ds, "/metadata/generation").unwrap_or(1);
        let mut conds: Vec<Value> =
            ds.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        let now = ts(self.now);
        if all {
            let message =
                "All roles have reached their desired replica count, ready and updated to the current revision";
            set_true(&mut conds, "Available", "AllRolesReady", message, &["Progressing"], &now, Some(generation));
        } else {
            let message =
                "Not all roles have reached their desired replica count, ready and updated to the current revision";
            set_true(&mut conds, "Progressing", "RolloutInProgress", message, &["Available"], &now, Some(generation));
        }
        let mut new = ds.clone();
        new["status"] = json!({"observedGeneration": generation, "roleStatuses": statuses, "conditions": conds});
        self.write_as(r, new, MANAGER);
    }
}

/// The revision of a DisaggregatedSet's roles: a hash of every role without its replica count
/// (scaling is not a rollout), so a change to any role's template rolls all roles together.
fn ds_revision(roles: &[Value]) -> String {
    let stripped: Vec<Value> = roles
        .iter()
        .map(|r| {
            let mut r = r.clone();
            if let Some(spec) = r.get_mut("spec").and_then(Value::as_object_mut) {
                spec.remove("replicas");
            }
            if let Some(m) = r.as_object_mut() {
                m.remove("scaling");
                m.remove("subRoles");
            }
            r
        })
        .collect();
    hashed_name(&status::canonical(&Value::Array(stripped)), 8)
}

/// The LeaderWorkerSet of one role and slice: the role's spec with its replicas, its metadata,
/// the DisaggregatedSet's labels (which win) on it and on its pod templates, and the
/// controller's environment in every container.
fn ds_child(ds: &Value, role: &Value, slice: i64, revision: &str, r: &ObjectRef, replicas: i64) -> Value {
    let ds_name = s(ds, "/metadata/name");
    let role_name = s(role, "/name");
    let object = |v: Option<&Value>| v.filter(|v| v.is_object()).cloned().unwrap_or(json!({}));
    let system = [
        (format!("{D}/name"), ds_name.to_string()),
        (format!("{D}/role"), role_name.to_string()),
        (format!("{D}/slice"), slice.to_string()),
        (format!("{D}/revision"), revision.to_string()),
    ];
    let mut labels = object(role.pointer("/metadata/labels"));
    for (k, v) in &system {
        labels[k] = json!(v);
    }
    let mut annotations = object(role.pointer("/metadata/annotations"));
    annotations[format!("{D}/initial-replicas")] = json!(replicas.to_string());
    let mut spec = object(role.get("spec"));
    spec["replicas"] = json!(replicas);
    let env = [
        ("DISAGGREGATEDSET_NAME", ds_name.to_string()),
        ("DISAGGREGATEDSET_ROLE", role_name.to_string()),
        ("DISAGGREGATEDSET_SLICE", slice.to_string()),
        ("DISAGGREGATEDSET_REVISION", revision.to_string()),
    ];
    for t in ["workerTemplate", "leaderTemplate"] {
        let Some(tpl) = spec.pointer_mut(&format!("/leaderWorkerTemplate/{t}")).and_then(Value::as_object_mut) else {
            continue;
        };
        let meta = tpl.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            let l = meta.entry("labels").or_insert_with(|| json!({}));
            for (k, v) in &system {
                l[k] = json!(v);
            }
        }
        for list in ["initContainers", "containers"] {
            let containers = tpl.get_mut("spec").and_then(|s| s.get_mut(list)).and_then(Value::as_array_mut);
            for c in containers.into_iter().flatten().filter_map(Value::as_object_mut) {
                let vars = c.entry("env").or_insert_with(|| json!([]));
                if let Some(vars) = vars.as_array_mut() {
                    for (k, v) in &env {
                        if !vars.iter().any(|e| e.get("name").and_then(Value::as_str) == Some(k)) {
                            vars.push(json!({"name": k, "value": v}));
                        }
                    }
                }
            }
        }
    }
    json!({
        "apiVersion": LWS_API,
        "kind": "LeaderWorkerSet",
        "metadata": {"name": r.name, "namespace": r.namespace, "labels": labels, "annotations": annotations,
                     "ownerReferences": [owner_ref(ds)]},
        "spec": spec,
    })
}
