//! The defaults a v1.36 API server fills in, for the kinds msws writes and the ones the fake's
//! controllers create. Derived from the reference recordings (`tests/data/apiserver/`: each
//! `*.input.yaml` against its `*.ssa-dryrun-create.json`) and the API's defaulting functions;
//! `tests/it/fake.rs` checks them against the recordings so they cannot drift.
//!
//! The kinds without a recording — Service, StatefulSet, DaemonSet, HorizontalPodAutoscaler,
//! and the custom resources LeaderWorkerSet, DisaggregatedSet and HTTPRoute — get the defaults
//! their API types declare, read from the sources rather than recorded: Kubernetes' defaulting
//! functions (`SetDefaults_Service`, `SetDefaults_StatefulSet`, `SetDefaults_DaemonSet`,
//! `SetDefaults_HorizontalPodAutoscaler` of autoscaling/v2), the LWS mutating webhook and the
//! kubebuilder defaults of the LWS, DisaggregatedSet and Gateway API CRDs (`/tmp/research` notes
//! in the change that added them). A CRD's schema does not run Kubernetes' pod defaulting: a
//! LeaderWorkerSet's pod templates stay as sent. PodMonitor, InferencePool and other custom
//! resources get none.
//!
//! [`apply`] runs on every write and only fills what is missing, so it is idempotent. [`on_create`]
//! adds what the server sets once, when an object is created (uid-derived Job selectors, a
//! claim's protection finalizer and `Pending` phase, a pod's admission defaults).

use base64::Engine;
use serde_json::{Map, Value, json};

/// Fills in `key` when the object does not have it (or has it as null).
fn default(m: &mut Map<String, Value>, key: &str, v: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), v);
    }
}

fn child<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    v.get_mut(key).and_then(Value::as_object_mut)
}

fn items<'a>(m: &'a mut Map<String, Value>, key: &str) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    m.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten().filter_map(Value::as_object_mut)
}

/// Defaults for any write of `kind`.
pub(super) fn apply(obj: &mut Value, kind: &str) {
    match kind {
        "Deployment" => deployment(obj),
        "ReplicaSet" => {
            if let Some(spec) = child(obj, "spec") {
                default(spec, "replicas", json!(1));
                template(spec);
            }
        }
        "Job" => job(obj),
        "Pod" => {
            if let Some(spec) = child(obj, "spec") {
                pod_spec(spec);
            }
        }
        "PersistentVolumeClaim" => {
            if let Some(spec) = child(obj, "spec") {
                default(spec, "volumeMode", json!("Filesystem"));
            }
        }
        "PersistentVolume" => {
            if let Some(spec) = child(obj, "spec") {
                default(spec, "persistentVolumeReclaimPolicy", json!("Retain"));
                default(spec, "volumeMode", json!("Filesystem"));
            }
        }
        "StorageClass" => {
            if let Some(m) = obj.as_object_mut() {
                default(m, "reclaimPolicy", json!("Delete"));
                default(m, "volumeBindingMode", json!("Immediate"));
            }
        }
        "Secret" => secret(obj),
        "Namespace" => {
            let name = obj.pointer("/metadata/name").cloned().unwrap_or(Value::Null);
            if let Some(meta) = child(obj, "metadata") {
                let labels = meta.entry("labels").or_insert_with(|| json!({}));
                if let Some(l) = labels.as_object_mut() {
                    default(l, "kubernetes.io/metadata.name", name);
                }
            }
            if let Some(m) = obj.as_object_mut() {
                let spec = m.entry("spec").or_insert_with(|| json!({}));
                if let Some(s) = spec.as_object_mut() {
                    default(s, "finalizers", json!(["kubernetes"]));
                }
            }
        }
        "ResourceClaimTemplate" => resource_claim_template(obj),
        "Service" => service(obj),
        "StatefulSet" => stateful_set(obj),
        "DaemonSet" => daemon_set(obj),
        "HorizontalPodAutoscaler" => horizontal_pod_autoscaler(obj),
        "LeaderWorkerSet" => {
            if let Some(spec) = child(obj, "spec") {
                leader_worker_set_spec(spec, true);
            }
        }
        "DisaggregatedSet" => disaggregated_set(obj),
        "HTTPRoute" => http_route(obj),
        _ => {}
    }
}

/// What the server sets when it creates an object, besides uid and timestamps.
/// `default_class`: the StorageClass marked as the default, if any (DefaultStorageClass admission).
pub(super) fn on_create(obj: &mut Value, kind: &str, uid: &str, default_class: Option<&str>) {
    match kind {
        "PersistentVolumeClaim" => {
            add_finalizer(obj, "kubernetes.io/pvc-protection");
            if let (Some(class), Some(spec)) = (default_class, child(obj, "spec")) {
                default(spec, "storageClassName", json!(class));
            }
            if let Some(m) = obj.as_object_mut() {
                default(m, "status", json!({"phase": "Pending"}));
            }
        }
        "PersistentVolume" => {
            add_finalizer(obj, "kubernetes.io/pv-protection");
            if let Some(m) = obj.as_object_mut() {
                let claimed = m.get("spec").and_then(|s| s.get("claimRef")).is_some();
                default(m, "status", json!({"phase": if claimed { "Bound" } else { "Available" }}));
            }
        }
        "Job" => job_selector(obj, uid),
        "Deployment" => {
            if let Some(m) = obj.as_object_mut() {
                default(m, "status", json!({}));
            }
        }
        "ReplicaSet" => {
            if let Some(m) = obj.as_object_mut() {
                default(m, "status", json!({"replicas": 0}));
            }
        }
        "Namespace" => {
            if let Some(m) = obj.as_object_mut() {
                default(m, "status", json!({"phase": "Active"}));
            }
        }
        "Service" => {
            if let Some(m) = obj.as_object_mut() {
                default(m, "status", json!({"loadBalancer": {}}));
            }
        }
        "StatefulSet" | "DaemonSet" => {
            if let Some(m) = obj.as_object_mut() {
                default(m, "status", json!({"replicas": 0}));
            }
        }
        "Pod" => pod_admission(obj),
        _ => {}
    }
}

fn add_finalizer(obj: &mut Value, f: &str) {
    if let Some(meta) = child(obj, "metadata") {
        let list = meta.entry("finalizers").or_insert_with(|| json!([]));
        if let Some(a) = list.as_array_mut()
            && !a.iter().any(|x| x == f)
        {
            a.push(json!(f));
        }
    }
}

fn deployment(obj: &mut Value) {
    let Some(spec) = child(obj, "spec") else { return };
    default(spec, "replicas", json!(1));
    let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
    if let Some(s) = strategy.as_object_mut() {
        default(s, "type", json!("RollingUpdate"));
        if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(r) = ru.as_object_mut() {
                default(r, "maxUnavailable", json!("25%"));
                default(r, "maxSurge", json!("25%"));
            }
        }
    }
    default(spec, "revisionHistoryLimit", json!(10));
    default(spec, "progressDeadlineSeconds", json!(600));
    template(spec);
}

/// `SetDefaults_Service` (the allocations — cluster IP, families, node ports — happen at
/// creation, in `server.rs`).
fn service(obj: &mut Value) {
    let Some(spec) = child(obj, "spec") else { return };
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    let ty = spec.get("type").and_then(Value::as_str).unwrap_or("ClusterIP").to_string();
    if ty != "ExternalName" {
        default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if matches!(ty.as_str(), "NodePort" | "LoadBalancer") {
        default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        default(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    for p in items(spec, "ports") {
        default(p, "protocol", json!("TCP"));
        if let Some(port) = p.get("port").cloned() {
            default(p, "targetPort", port);
        }
    }
}

fn stateful_set(obj: &mut Value) {
    let Some(spec) = child(obj, "spec") else { return };
    default(spec, "replicas", json!(1));
    default(spec, "podManagementPolicy", json!("OrderedReady"));
    let strategy = spec.entry("updateStrategy").or_insert_with(|| json!({}));
    if let Some(s) = strategy.as_object_mut() {
        default(s, "type", json!("RollingUpdate"));
        if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(r) = ru.as_object_mut() {
                default(r, "partition", json!(0));
            }
        }
    }
    default(spec, "revisionHistoryLimit", json!(10));
    let retention = spec.entry("persistentVolumeClaimRetentionPolicy").or_insert_with(|| json!({}));
    if let Some(r) = retention.as_object_mut() {
        default(r, "whenDeleted", json!("Retain"));
        default(r, "whenScaled", json!("Retain"));
    }
    for t in items(spec, "volumeClaimTemplates") {
        default(t, "apiVersion", json!("v1"));
        default(t, "kind", json!("PersistentVolumeClaim"));
        if let Some(s) = t.get_mut("spec").and_then(Value::as_object_mut) {
            default(s, "volumeMode", json!("Filesystem"));
        }
        default(t, "status", json!({"phase": "Pending"}));
    }
    template(spec);
}

fn daemon_set(obj: &mut Value) {
    let Some(spec) = child(obj, "spec") else { return };
    let strategy = spec.entry("updateStrategy").or_insert_with(|| json!({}));
    if let Some(s) = strategy.as_object_mut() {
        default(s, "type", json!("RollingUpdate"));
        if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(r) = ru.as_object_mut() {
                default(r, "maxUnavailable", json!(1));
                default(r, "maxSurge", json!(0));
            }
        }
    }
    default(spec, "revisionHistoryLimit", json!(10));
    template(spec);
}

/// autoscaling/v2: one replica at least, CPU at 80 % when no metric is given, and a behavior's
/// missing rules filled with the controller's (`GenerateHPAScaleUpRules`, `…ScaleDownRules`).
fn horizontal_pod_autoscaler(obj: &mut Value) {
    let Some(spec) = child(obj, "spec") else { return };
    default(spec, "minReplicas", json!(1));
    if spec.get("metrics").and_then(Value::as_array).is_none_or(|m| m.is_empty()) {
        spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]),
        );
    }
    if let Some(b) = spec.get_mut("behavior").and_then(Value::as_object_mut) {
        let up = b.entry("scaleUp").or_insert_with(|| json!({}));
        if let Some(u) = up.as_object_mut() {
            default(u, "stabilizationWindowSeconds", json!(0));
            default(u, "selectPolicy", json!("Max"));
            default(
                u,
                "policies",
                json!([{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}]),
            );
        }
        let down = b.entry("scaleDown").or_insert_with(|| json!({}));
        if let Some(d) = down.as_object_mut() {
            default(d, "stabilizationWindowSeconds", json!(300));
            default(d, "selectPolicy", json!("Max"));
            default(d, "policies", json!([{"type": "Percent", "value": 100, "periodSeconds": 15}]));
        }
    }
}

/// A LeaderWorkerSet's spec: the CRD's kubebuilder defaults, and with `webhook` the LWS
/// controller's mutating webhook too (a DisaggregatedSet's roles embed the same spec, but no
/// webhook defaults them).
fn leader_worker_set_spec(spec: &mut Map<String, Value>, webhook: bool) {
    if webhook {
        default(spec, "replicas", json!(1));
    }
    default(spec, "startupPolicy", json!("LeaderCreated"));
    if let Some(t) = spec.get_mut("leaderWorkerTemplate").and_then(Value::as_object_mut) {
        default(t, "size", json!(1));
        default(t, "restartPolicy", json!("RecreateGroupOnPodRestart"));
        if webhook && t.get("restartPolicy") == Some(&json!("Default")) {
            t.insert("restartPolicy".into(), json!("None"));
        }
        if let Some(p) = t.get_mut("subGroupPolicy").and_then(Value::as_object_mut) {
            default(p, "subGroupPolicyType", json!("LeaderWorker"));
        }
    }
    if webhook {
        spec.entry("rolloutStrategy").or_insert_with(|| json!({}));
        let network = spec.entry("networkConfig").or_insert_with(|| json!({}));
        if let Some(n) = network.as_object_mut() {
            default(n, "subdomainPolicy", json!("Shared"));
        }
    }
    if let Some(r) = spec.get_mut("rolloutStrategy").and_then(Value::as_object_mut) {
        default(r, "type", json!("RollingUpdate"));
        if webhook && r.get("type") == Some(&json!("RollingUpdate")) {
            r.entry("rollingUpdateConfiguration").or_insert_with(|| json!({}));
        }
        if let Some(c) = r.get_mut("rollingUpdateConfiguration").and_then(Value::as_object_mut) {
            default(c, "partition", json!(0));
            default(c, "maxUnavailable", json!(1));
            default(c, "maxSurge", json!(0));
        }
    }
}

/// The DisaggregatedSet CRD's defaults (it has no mutating webhook): one slice, and in each
/// role's embedded LeaderWorkerSet spec the CRD defaults of that spec. A role's `replicas` stays
/// unset (the controller reads an unset one as 1).
fn disaggregated_set(obj: &mut Value) {
    let Some(spec) = child(obj, "spec") else { return };
    default(spec, "slices", json!(1));
    for role in items(spec, "roles") {
        if let Some(s) = role.get_mut("spec").and_then(Value::as_object_mut) {
            leader_worker_set_spec(s, false);
        }
        if let Some(s) = role.get_mut("scaling").and_then(Value::as_object_mut) {
            default(s, "mode", json!("Static"));
        }
    }
    if let Some(p) = spec.get_mut("placementPolicy").and_then(Value::as_object_mut) {
        default(p, "type", json!("None"));
    }
    if let Some(p) = spec.get_mut("scalingPolicy").and_then(Value::as_object_mut) {
        default(p, "duringRollout", json!("RolloutCoupled"));
    }
}

/// Gateway API (v1): a parent is a Gateway of its group, a backend a Service of the core group
/// with weight 1, a rule without matches matches every path.
fn http_route(obj: &mut Value) {
    let Some(spec) = child(obj, "spec") else { return };
    for p in items(spec, "parentRefs") {
        default(p, "group", json!("gateway.networking.k8s.io"));
        default(p, "kind", json!("Gateway"));
    }
    let every_path = json!([{"path": {"type": "PathPrefix", "value": "/"}}]);
    default(spec, "rules", json!([{"matches": every_path}]));
    for rule in items(spec, "rules") {
        default(rule, "matches", every_path.clone());
        for m in items(rule, "matches") {
            if let Some(p) = m.get_mut("path").and_then(Value::as_object_mut) {
                default(p, "type", json!("PathPrefix"));
                default(p, "value", json!("/"));
            }
            for h in items(m, "headers") {
                default(h, "type", json!("Exact"));
            }
            for q in items(m, "queryParams") {
                default(q, "type", json!("Exact"));
            }
        }
        for b in items(rule, "backendRefs") {
            default(b, "group", json!(""));
            default(b, "kind", json!("Service"));
            default(b, "weight", json!(1));
        }
    }
}

fn job(obj: &mut Value) {
    let Some(spec) = child(obj, "spec") else { return };
    if spec.get("completions").is_none() && spec.get("parallelism").is_none() {
        spec.insert("completions".into(), json!(1));
    }
    default(spec, "parallelism", json!(1));
    let per_index = spec.get("backoffLimitPerIndex").is_some_and(|v| !v.is_null());
    default(spec, "backoffLimit", json!(if per_index { 2_147_483_647 } else { 6 }));
    default(spec, "completionMode", json!("NonIndexed"));
    default(spec, "suspend", json!(false));
    default(spec, "manualSelector", json!(false));
    let failure_policy = spec.get("podFailurePolicy").is_some_and(|v| !v.is_null());
    default(spec, "podReplacementPolicy", json!(if failure_policy { "Failed" } else { "TerminatingOrFailed" }));
    template(spec);
}

/// The selector and labels the server generates for a Job (unless `manualSelector`), from its uid.
fn job_selector(obj: &mut Value, uid: &str) {
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(m) = obj.as_object_mut() {
        default(m, "status", json!({}));
    }
    let Some(spec) = child(obj, "spec") else { return };
    if spec.get("manualSelector") == Some(&json!(true)) {
        return;
    }
    spec.insert("selector".into(), json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}));
    let template = spec.entry("template").or_insert_with(|| json!({}));
    if let Some(t) = template.as_object_mut() {
        let meta = t.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                for (k, v) in [
                    ("batch.kubernetes.io/controller-uid", uid),
                    ("batch.kubernetes.io/job-name", &name),
                    ("controller-uid", uid),
                    ("job-name", &name),
                ] {
                    default(l, k, json!(v));
                }
            }
        }
    }
}

fn template(spec: &mut Map<String, Value>) {
    if let Some(pod) = spec.get_mut("template").and_then(|t| t.get_mut("spec")).and_then(Value::as_object_mut) {
        pod_spec(pod);
    }
}

fn pod_spec(spec: &mut Map<String, Value>) {
    for list in ["initContainers", "containers", "ephemeralContainers"] {
        for c in items(spec, list) {
            container(c);
        }
    }
    for v in items(spec, "volumes") {
        volume(v);
    }
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    match (spec.get("serviceAccountName").cloned(), spec.get("serviceAccount").cloned()) {
        (Some(n), None) => {
            spec.insert("serviceAccount".into(), n);
        }
        (None, Some(n)) => {
            spec.insert("serviceAccountName".into(), n);
        }
        _ => {}
    }
    default(spec, "securityContext", json!({}));
    default(spec, "schedulerName", json!("default-scheduler"));
    if spec.get("hostNetwork") == Some(&json!(true)) {
        for list in ["initContainers", "containers"] {
            for c in items(spec, list) {
                for p in items(c, "ports") {
                    if let Some(port) = p.get("containerPort").cloned() {
                        default(p, "hostPort", port);
                    }
                }
            }
        }
    }
}

/// `Always` for `:latest` or no tag, `IfNotPresent` otherwise (a digest without a tag included).
pub(super) fn pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        None | Some((_, "latest")) => "Always",
        Some(_) => "IfNotPresent",
    }
}

fn container(c: &mut Map<String, Value>) {
    for p in items(c, "ports") {
        default(p, "protocol", json!("TCP"));
    }
    for e in items(c, "env") {
        if let Some(from) = e.get_mut("valueFrom").and_then(Value::as_object_mut) {
            if let Some(f) = from.get_mut("fieldRef").and_then(Value::as_object_mut) {
                default(f, "apiVersion", json!("v1"));
            }
            if let Some(r) = from.get_mut("resourceFieldRef").and_then(Value::as_object_mut) {
                default(r, "divisor", json!("0"));
            }
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).and_then(Value::as_object_mut) {
            default(p, "timeoutSeconds", json!(1));
            default(p, "periodSeconds", json!(10));
            default(p, "successThreshold", json!(1));
            default(p, "failureThreshold", json!(3));
            if let Some(h) = p.get_mut("httpGet").and_then(Value::as_object_mut) {
                default(h, "scheme", json!("HTTP"));
            }
            if let Some(g) = p.get_mut("grpc").and_then(Value::as_object_mut) {
                default(g, "service", json!(""));
            }
        }
    }
    default(c, "resources", json!({}));
    default(c, "terminationMessagePath", json!("/dev/termination-log"));
    default(c, "terminationMessagePolicy", json!("File"));
    let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
    default(c, "imagePullPolicy", json!(pull_policy(&image)));
}

fn volume(v: &mut Map<String, Value>) {
    for source in ["configMap", "secret", "downwardAPI", "projected"] {
        if let Some(s) = v.get_mut(source).and_then(Value::as_object_mut) {
            default(s, "defaultMode", json!(420));
        }
    }
    if let Some(h) = v.get_mut("hostPath").and_then(Value::as_object_mut) {
        default(h, "type", json!(""));
    }
    if let Some(i) = v.get_mut("image").and_then(Value::as_object_mut) {
        let reference = i.get("reference").and_then(Value::as_str).unwrap_or("").to_string();
        default(i, "pullPolicy", json!(pull_policy(&reference)));
    }
}

/// A Secret's `stringData` is write-only: the server folds it into `data` (base64), where it wins
/// over a `data` entry of the same key, and never stores it.
fn secret(obj: &mut Value) {
    let Some(m) = obj.as_object_mut() else { return };
    if let Some(Value::Object(sd)) = m.remove("stringData") {
        let data = m.entry("data").or_insert_with(|| json!({}));
        if let Some(d) = data.as_object_mut() {
            for (k, v) in sd {
                let text = v.as_str().unwrap_or("").to_string();
                d.insert(k, json!(base64::engine::general_purpose::STANDARD.encode(text)));
            }
        }
    }
    default(m, "type", json!("Opaque"));
}

fn resource_claim_template(obj: &mut Value) {
    let requests = obj.pointer_mut("/spec/spec/devices/requests").and_then(Value::as_array_mut);
    for r in requests.into_iter().flatten().filter_map(Value::as_object_mut) {
        if let Some(e) = r.get_mut("exactly").and_then(Value::as_object_mut) {
            device_request(e);
        }
        for s in items(r, "firstAvailable") {
            device_request(s);
        }
    }
}

fn device_request(r: &mut Map<String, Value>) {
    default(r, "allocationMode", json!("ExactCount"));
    if r.get("allocationMode") == Some(&json!("ExactCount")) {
        default(r, "count", json!(1));
    }
    for t in items(r, "tolerations") {
        default(t, "operator", json!("Equal"));
    }
}

/// What admission adds to a pod: its service account, the default tolerations, priority, service
/// links, a Pending status with its QoS class. (No token volume: the fake has no tokens.)
fn pod_admission(obj: &mut Value) {
    let qos = obj.get("spec").map(qos_class).unwrap_or("BestEffort");
    if let Some(spec) = child(obj, "spec") {
        default(spec, "serviceAccountName", json!("default"));
        default(spec, "serviceAccount", json!("default"));
        default(spec, "enableServiceLinks", json!(true));
        default(spec, "priority", json!(0));
        default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
        let tolerations = spec.entry("tolerations").or_insert_with(|| json!([]));
        if let Some(t) = tolerations.as_array_mut() {
            for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
                if !t.iter().any(|x| x.get("key").and_then(Value::as_str) == Some(key)) {
                    t.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
                }
            }
        }
    }
    if let Some(m) = obj.as_object_mut() {
        default(m, "status", json!({"phase": "Pending", "qosClass": qos}));
    }
}

/// Guaranteed when every container's CPU and memory requests equal its limits, BestEffort when
/// none has any, Burstable otherwise.
fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec.get("containers").and_then(Value::as_array).into_iter().flatten().collect();
    let (mut any, mut guaranteed) = (false, !containers.is_empty());
    for c in containers {
        let limits = c.pointer("/resources/limits");
        let requests = c.pointer("/resources/requests");
        any |= limits.is_some_and(|l| l.as_object().is_some_and(|m| !m.is_empty()))
            || requests.is_some_and(|r| r.as_object().is_some_and(|m| !m.is_empty()));
        for r in ["cpu", "memory"] {
            let limit = limits.and_then(|l| l.get(r));
            let request = requests.and_then(|q| q.get(r)).or(limit);
            if limit.is_none() || request != limit {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy("ghcr.io/llm-d/llm-d-cuda:latest"), "Always");
        assert_eq!(pull_policy("busybox"), "Always");
        assert_eq!(pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(pull_policy("quay.io/fedora/python:3.10"), "IfNotPresent");
        assert_eq!(pull_policy("busybox@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn a_secret_folds_string_data_into_data() {
        let mut s = json!({"stringData": {"HF_TOKEN": "not-a-real-token"}, "data": {"HF_TOKEN": "eA==", "B": "eQ=="}});
        apply(&mut s, "Secret");
        assert_eq!(s, json!({"data": {"HF_TOKEN": "bm90LWEtcmVhbC10b2tlbg==", "B": "eQ=="}, "type": "Opaque"}));
    }
}
