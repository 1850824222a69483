//! What an API server would refuse in the chart's objects for a generated case: a check of the
//! generator (it must draw values whose objects a cluster accepts), not of msws. Each object
//! reads as its API type (k8s-openapi), and the pod specs hold the rules the generator keeps
//! (`random.rs`'s module comment): names, references between containers, volumes and claims, ports.

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodSpec, PodTemplateSpec, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::resource::v1::ResourceClaimTemplate;
use serde_json::Value;

/// The problems of one object, `Kind/name: …`.
pub fn problems(o: &Value) -> Vec<String> {
    let what = super::compare::id(o);
    let mut p = Vec::new();
    let name = o.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    if !subdomain(name) {
        p.push(format!("{what}: invalid name"));
    }
    for key in ["labels", "annotations"] {
        if let Some(m) = o.pointer(&format!("/metadata/{key}")).and_then(Value::as_object) {
            for (k, v) in m {
                if !v.is_string() || key == "labels" && !label_value(v.as_str().unwrap_or("")) {
                    p.push(format!("{what}: {key} {k}={v} is not a valid value"));
                }
            }
        }
    }
    fn typed<T: serde::de::DeserializeOwned>(what: &str, o: &Value, p: &mut Vec<String>) -> Option<T> {
        match serde_json::from_value::<T>(o.clone()) {
            Ok(t) => Some(t),
            Err(e) => {
                p.push(format!("{what}: does not read as its API type: {e}"));
                None
            }
        }
    }
    let mut pods: Vec<PodSpec> = Vec::new();
    // The requester's patch is merged into another pod by its controller: it names volumes and
    // claims it does not declare.
    let mut patches: Vec<PodSpec> = Vec::new();
    match o["kind"].as_str().unwrap_or("") {
        "Deployment" => {
            if let Some(d) = typed::<Deployment>(&what, o, &mut p) {
                pods.extend(d.spec.and_then(|s| s.template.spec));
            }
        }
        "ReplicaSet" => {
            if let Some(r) = typed::<ReplicaSet>(&what, o, &mut p) {
                pods.extend(r.spec.and_then(|s| s.template).and_then(|t| t.spec));
            }
            // The requester's patch holds the chart's containers.
            let patch =
                o.pointer("/spec/template/metadata/annotations").and_then(|a| a.get(super::compare::SERVER_PATCH));
            match patch.and_then(Value::as_str).map(serde_yaml_ng::from_str::<Value>) {
                Some(Ok(v)) => {
                    if let Some(spec) = typed::<PodSpec>(&format!("{what} (server patch)"), &patch_spec(&v), &mut p) {
                        patches.push(spec);
                    }
                }
                Some(Err(e)) => p.push(format!("{what}: the server patch is not YAML: {e}")),
                None => {}
            }
        }
        "LeaderWorkerSet" => {
            let t = o.pointer("/spec/leaderWorkerTemplate/workerTemplate").cloned().unwrap_or(Value::Null);
            if let Some(t) = typed::<PodTemplateSpec>(&format!("{what} (worker template)"), &t, &mut p) {
                pods.extend(t.spec);
            }
            if o.pointer("/spec/leaderWorkerTemplate/size").and_then(Value::as_i64).is_none_or(|s| s < 1) {
                p.push(format!("{what}: size must be at least 1"));
            }
        }
        "ServiceAccount" => drop(typed::<ServiceAccount>(&what, o, &mut p)),
        "ConfigMap" => drop(typed::<ConfigMap>(&what, o, &mut p)),
        "Service" => drop(typed::<Service>(&what, o, &mut p)),
        "PodDisruptionBudget" => drop(typed::<PodDisruptionBudget>(&what, o, &mut p)),
        "ResourceClaimTemplate" => drop(typed::<ResourceClaimTemplate>(&what, o, &mut p)),
        _ => {}
    }
    for pod in &pods {
        check_pod(&what, pod, false, &mut p);
    }
    for pod in &patches {
        check_pod(&what, pod, true, &mut p);
    }
    p
}

/// The patch's `spec` as a pod spec (it has no containers of its own when the role has none).
fn patch_spec(v: &Value) -> Value {
    let mut spec = v.get("spec").cloned().unwrap_or(Value::Null);
    if spec.get("containers").is_none() && spec.is_object() {
        spec["containers"] = Value::Array(vec![]);
    }
    spec
}

/// DNS-1123 subdomain.
fn subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn dns_label(s: &str) -> bool {
    s.len() <= 63 && subdomain(s) && !s.contains('.')
}

fn label_value(v: &str) -> bool {
    v.len() <= 63
        && (v.is_empty()
            || (v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && v.starts_with(|c: char| c.is_ascii_alphanumeric())
                && v.ends_with(|c: char| c.is_ascii_alphanumeric())))
}

/// An IANA service name: what a port's name must be.
fn port_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 15
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// Names the chart appends to a container's own environment (a documented deliberate
/// difference when the container sets them too).
const CHART_ENV: &[&str] = &[
    "DP_SIZE",
    "TP_SIZE",
    "DP_SIZE_LOCAL",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_TOKEN",
    "VLLM_USE_V1",
    "TORCH_LLM_ALLREDUCE",
    "VLLM_WORKER_MULTIPROC_METHOD",
    "ZE_AFFINITY_MASK",
    "CCL_ZE_IPC_EXCHANGE",
];

/// `partial`: a patch, whose volumes and claims are another pod's.
fn check_pod(what: &str, pod: &PodSpec, partial: bool, p: &mut Vec<String>) {
    let volumes: Vec<&str> = pod.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
    let unique: BTreeSet<&str> = volumes.iter().copied().collect();
    if unique.len() != volumes.len() {
        p.push(format!("{what}: a volume name twice: {volumes:?}"));
    }
    let claims: BTreeSet<&str> = pod.resource_claims.iter().flatten().map(|c| c.name.as_str()).collect();
    let all: Vec<&Container> = pod.init_containers.iter().flatten().chain(pod.containers.iter()).collect();
    let mut names = BTreeSet::new();
    let mut port_names = BTreeSet::new();
    let mut host_ports = BTreeSet::new();
    for c in all {
        let at = format!("{what}/{}", c.name);
        if !dns_label(&c.name) || !names.insert(c.name.as_str()) {
            p.push(format!("{at}: container name invalid or repeated"));
        }
        if c.image.as_deref().is_none_or(str::is_empty) {
            p.push(format!("{at}: no image"));
        }
        let mut env = BTreeSet::new();
        for e in c.env.iter().flatten() {
            if e.name.is_empty() || !env.insert(e.name.as_str()) && !CHART_ENV.contains(&e.name.as_str()) {
                p.push(format!("{at}: env {} empty or repeated", e.name));
            }
            if e.value.is_some() && e.value_from.is_some() {
                p.push(format!("{at}: env {} has a value and a source", e.name));
            }
        }
        let mut paths = BTreeSet::new();
        for m in c.volume_mounts.iter().flatten() {
            if !partial && !unique.contains(m.name.as_str()) {
                p.push(format!("{at}: mounts unknown volume {}", m.name));
            }
            if !paths.insert(m.mount_path.as_str()) {
                p.push(format!("{at}: mount path {} twice", m.mount_path));
            }
            if m.recursive_read_only.as_deref().is_some_and(|r| r != "Disabled") && m.read_only != Some(true) {
                p.push(format!("{at}: recursiveReadOnly on a writable mount"));
            }
        }
        for d in c.volume_devices.iter().flatten() {
            if !partial && !unique.contains(d.name.as_str())
                || c.volume_mounts.iter().flatten().any(|m| m.name == d.name)
            {
                p.push(format!("{at}: device {} unknown or also mounted", d.name));
            }
        }
        let mut ports = BTreeSet::new();
        for port in c.ports.iter().flatten() {
            if !(1..=65535).contains(&port.container_port) || !ports.insert(port.container_port) {
                p.push(format!("{at}: port {} invalid or repeated", port.container_port));
            }
            if let Some(n) = &port.name
                && (!port_name(n) || !port_names.insert(n.clone()))
            {
                p.push(format!("{at}: port name {n} invalid or repeated in the pod"));
            }
            if let Some(h) = port.host_port
                && !host_ports.insert(h)
            {
                p.push(format!("{at}: host port {h} twice"));
            }
        }
        for rc in c.resources.iter().flat_map(|r| r.claims.iter().flatten()) {
            if !partial && !claims.contains(rc.name.as_str()) {
                p.push(format!("{at}: uses resource claim {} the pod does not declare", rc.name));
            }
        }
        if let Some(r) = &c.resources {
            for (k, v) in r.limits.iter().flatten() {
                if k.contains('/') && !k.starts_with("kubernetes.io/") {
                    let req = r.requests.as_ref().and_then(|q| q.get(k));
                    if req.is_some_and(|q| q.0.trim_matches('"') != v.0.trim_matches('"')) {
                        p.push(format!("{at}: extended resource {k}: request {req:?} is not the limit {v:?}"));
                    }
                }
            }
        }
        let sidecar = c.restart_policy.as_deref() == Some("Always");
        let init = pod.init_containers.iter().flatten().any(|i| std::ptr::eq(i, c));
        if init
            && !sidecar
            && (c.lifecycle.is_some()
                || c.liveness_probe.is_some()
                || c.readiness_probe.is_some()
                || c.startup_probe.is_some())
        {
            p.push(format!("{at}: an init container that is not a sidecar has hooks or probes"));
        }
        for (kind, probe) in [("liveness", &c.liveness_probe), ("startup", &c.startup_probe)] {
            if probe.as_ref().and_then(|pr| pr.success_threshold).is_some_and(|s| s != 1) {
                p.push(format!("{at}: a {kind} probe must succeed once"));
            }
        }
        if c.readiness_probe.as_ref().is_some_and(|pr| pr.termination_grace_period_seconds.is_some()) {
            p.push(format!("{at}: a readiness probe has its own grace period"));
        }
        if !partial && c.lifecycle.as_ref().is_some_and(|l| l.stop_signal.is_some()) && pod.os.is_none() {
            p.push(format!("{at}: a stop signal without the pod's os"));
        }
        if let Some(s) = &c.security_context {
            let caps_admin =
                s.capabilities.iter().flat_map(|c| c.add.iter().flatten()).any(|a| a.contains("SYS_ADMIN"));
            if s.allow_privilege_escalation == Some(false) && (s.privileged == Some(true) || caps_admin) {
                p.push(format!("{at}: allowPrivilegeEscalation false with privileges"));
            }
            if s.windows_options.is_some() && pod.os.as_ref().is_some_and(|o| o.name == "linux") {
                p.push(format!("{at}: Windows options on a Linux pod"));
            }
        }
    }
    if pod.share_process_namespace == Some(true) && pod.host_pid == Some(true) {
        p.push(format!("{what}: shareProcessNamespace with hostPID"));
    }
    for t in pod.tolerations.iter().flatten() {
        if t.toleration_seconds.is_some() && t.effect.as_deref() != Some("NoExecute") {
            p.push(format!("{what}: tolerationSeconds without NoExecute"));
        }
        if t.operator.as_deref() == Some("Exists") && t.value.as_deref().is_some_and(|v| !v.is_empty()) {
            p.push(format!("{what}: a value with Exists"));
        }
    }
    if let Some(a) = pod.affinity.as_ref().and_then(|a| a.node_affinity.as_ref()) {
        for term in
            a.required_during_scheduling_ignored_during_execution.iter().flat_map(|s| s.node_selector_terms.iter())
        {
            for e in term.match_expressions.iter().flatten() {
                if e.operator == "In" && e.values.as_ref().is_none_or(Vec::is_empty) {
                    p.push(format!("{what}: node affinity `In` without values"));
                }
            }
        }
    }
}
