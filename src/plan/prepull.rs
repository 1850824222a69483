//! Image pre-pull: which images of a model service are missing on which nodes, and the
//! short-lived pods that pull them there while the download runs.
//!
//! Pure, like the rest of planning: it takes the model service's rendered objects and the nodes a
//! LIST returned. The nodes a model service's pods can land on are read from its rendered pod
//! templates — `nodeName`, `nodeSelector`, required node affinity, tolerations against the
//! nodes' `NoSchedule`/`NoExecute` taints, extended resources (accelerators) in the node's
//! allocatable, and not cordoned — rather than from the workspace, so a manifests-based model
//! service and a preset are judged alike. An image counts as present on a node when the node's
//! `status.images` names it (after the registry's defaults are filled in: `docker.io/`,
//! `library/`, `:latest`). A real kubelet reports at most 50 images (`nodeStatusMaxImages`), so
//! an image missing from the list may be there anyway: its pull pod then finishes at once.
//!
//! The pods: one per node that misses something, `nodeName` set (no scheduler, no accelerator
//! asked for: the pod needs none, so it holds no GPU and fits beside anything), the templates'
//! tolerations and image pull secrets, one container per image with `imagePullPolicy:
//! IfNotPresent` and a command that exits at once, tiny requests, no volumes (it never touches
//! the download's claim), `restartPolicy: Never` and a deadline. Whether an image is pulled is
//! judged from the container's status ([`pulled`]), not from the pod's success: an image without
//! a shell fails the command, and is pulled all the same.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cluster::{ClusterError, ObjectRef};
use crate::model::Workspace;
use crate::render::{Object, keys};

/// The label that marks a pre-pull pod, valued with its model service.
pub const PRE_PULL_LABEL: &str = "msws.io/pre-pull";
/// A pull pod gives up after this long (the step's own wait gives up a little later).
pub const DEADLINE_SECONDS: i64 = 3600;
/// How the note of a pre-pull without the nodes begins.
pub const CANNOT_LIST: &str = "cannot list nodes";
/// The RBAC a pre-pull needs beyond the namespace's.
pub const NODES_HELP: &str = "needs `list nodes`, a ClusterRole (docs/rbac.md)";

/// What a plan knows about the cluster's nodes.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Nodes {
    /// Offline or recorded: the pre-pull is decided at apply.
    #[default]
    Unknown,
    /// The LIST was refused (403) or failed: nothing is pre-pulled.
    Unlisted(String),
    Listed(Vec<Value>),
}

impl Nodes {
    /// What a LIST of nodes answered, for the pre-pull: a refusal (403) or another answer the
    /// pre-pull can do without means nothing is pre-pulled; a cluster that cannot be reached or
    /// does not take the credentials is an error of the plan or the step, as for any other read.
    pub fn of(answer: Result<Vec<Value>, ClusterError>) -> Result<Nodes, ClusterError> {
        match answer {
            Ok(nodes) => Ok(Nodes::Listed(nodes)),
            Err(e) if e.is_transient() || matches!(e, ClusterError::Unauthorized(_)) => Err(e),
            Err(ClusterError::Forbidden { .. }) => Ok(Nodes::Unlisted("forbidden".into())),
            Err(e) => Ok(Nodes::Unlisted(e.to_string())),
        }
    }
}

/// The label selector of a model service's pull pods (the labels [`pod`] gives them).
pub fn pods_selector(workspace: &str, service: &str) -> String {
    format!("{}={workspace},{PRE_PULL_LABEL}={service}", keys::WORKSPACE)
}

/// One image and where it is pulled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImagePull {
    pub image: String,
    /// Nodes its pods can land on that miss it.
    pub pull_on: Vec<String>,
    /// Nodes its pods can land on that have it.
    pub present_on: Vec<String>,
}

/// A pull pod on one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PullPod {
    pub node: String,
    pub images: Vec<String>,
    pub object: ObjectRef,
    /// What apply creates.
    pub desired: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PrePullPlan {
    pub service: String,
    /// False: the nodes were not known when planning (an offline plan); apply lists them and
    /// decides then.
    pub decided: bool,
    pub images: Vec<ImagePull>,
    pub pods: Vec<PullPod>,
    /// Why nothing is pulled, when that needs saying (no node can run the pods, nodes cannot be
    /// listed, decided at apply).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl PrePullPlan {
    pub fn has_changes(&self) -> bool {
        !self.decided || !self.pods.is_empty()
    }
}

/// The pre-pull of model service `service`, from its rendered objects and the nodes.
pub fn decide(ws: &Workspace, namespace: &str, service: &str, objects: &[Object], nodes: &Nodes) -> PrePullPlan {
    let mut plan =
        PrePullPlan { service: service.to_string(), decided: true, images: vec![], pods: vec![], note: None };
    let list = match nodes {
        Nodes::Unknown => {
            plan.decided = false;
            plan.note = Some("decided at apply: the nodes and their images are read then".into());
            return plan;
        }
        Nodes::Unlisted(why) => {
            plan.note = Some(format!("{CANNOT_LIST} ({why}; pre-pull {NODES_HELP}): nothing is pre-pulled"));
            return plan;
        }
        Nodes::Listed(l) => l,
    };
    let specs: Vec<Value> = objects.iter().flat_map(|o| pod_specs(&o.to_json())).collect();
    // Per image, the nodes some pod using it can land on; per node, the specs that can land there.
    let mut where_: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut on_node: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    let mut order: Vec<String> = vec![];
    for spec in &specs {
        let eligible: Vec<&str> = list.iter().filter(|n| fits(spec, n)).map(|n| str_at(n, "/metadata/name")).collect();
        for image in images(spec) {
            if !order.contains(&image) {
                order.push(image.clone());
            }
            where_.entry(image).or_default().extend(eligible.iter().map(|n| n.to_string()));
        }
        for n in eligible {
            on_node.entry(n.to_string()).or_default().push(spec);
        }
    }
    let by_name: BTreeMap<&str, &Value> = list.iter().map(|n| (str_at(n, "/metadata/name"), n)).collect();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for image in &order {
        let mut pull = ImagePull { image: image.clone(), pull_on: vec![], present_on: vec![] };
        for n in where_.get(image).into_iter().flatten() {
            if by_name.get(n.as_str()).is_some_and(|node| has_image(node, image)) {
                pull.present_on.push(n.clone());
            } else {
                pull.pull_on.push(n.clone());
                missing.entry(n.clone()).or_default().push(image.clone());
            }
        }
        plan.images.push(pull);
    }
    if specs.is_empty() {
        plan.note = Some("the model service renders no pod".into());
    } else if on_node.is_empty() {
        plan.note = Some(format!(
            "none of the {} node(s) can run its pods (node selector, affinity, taints, accelerators): nothing is pre-pulled",
            list.len()
        ));
    }
    let pull_secrets = pull_secrets(&specs);
    for (node, images) in missing {
        let tolerations = tolerations(on_node.get(&node).map(Vec::as_slice).unwrap_or(&[]));
        let desired = pod(ws, namespace, service, &node, &images, &tolerations, &pull_secrets);
        let object = ObjectRef::new("v1", "Pod", Some(namespace), str_at(&desired, "/metadata/name"));
        plan.pods.push(PullPod { node, images, object, desired });
    }
    plan
}

/// The name of the pull pod of `service` on `node`: short, stable, a DNS subdomain.
pub fn pod_name(service: &str, node: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = hex::encode(Sha256::digest(format!("{service}\0{node}").as_bytes()));
    format!("{service}-pre-pull-{}", &h[..10])
}

/// The pull pod: see the module's comment for why each field is what it is.
pub fn pod(
    ws: &Workspace,
    namespace: &str,
    service: &str,
    node: &str,
    images: &[String],
    tolerations: &[Value],
    pull_secrets: &[Value],
) -> Value {
    let mut labels: BTreeMap<String, String> = ws.labels.clone().into_iter().collect();
    labels.insert(keys::MANAGED_BY.into(), keys::MANAGER.into());
    labels.insert(keys::WORKSPACE.into(), ws.name.clone());
    labels.insert(PRE_PULL_LABEL.into(), service.into());
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            json!({
                "name": format!("pull-{i}"),
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                // Exits at once; an image without a shell fails here, after it was pulled.
                "command": ["sh", "-c", "exit 0"],
                "resources": {
                    "requests": {"cpu": "10m", "memory": "16Mi"},
                    "limits": {"cpu": "100m", "memory": "64Mi"},
                },
            })
        })
        .collect();
    let mut spec = json!({
        "nodeName": node,
        "restartPolicy": "Never",
        "activeDeadlineSeconds": DEADLINE_SECONDS,
        "terminationGracePeriodSeconds": 0,
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "containers": containers,
    });
    if !tolerations.is_empty() {
        spec["tolerations"] = json!(tolerations);
    }
    if !pull_secrets.is_empty() {
        spec["imagePullSecrets"] = json!(pull_secrets);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name(service, node),
            "namespace": namespace,
            "labels": labels,
            "annotations": {keys::STEP: format!("pre-pull/{service}")},
        },
        "spec": spec,
    })
}

/// How far a pull pod got, judged from its containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pulled {
    /// Every image is on the node.
    Done,
    /// Still pulling these images.
    Pulling(Vec<String>),
    /// An image cannot be pulled, and waiting will not change it.
    Failed(String),
}

/// Whether the pull pod's images are on its node: a container whose image was pulled has an
/// `imageID`, or is running or terminated (any exit code), or waits for a reason that comes
/// after the pull (a command that cannot start). A pull the registry refuses (not found,
/// unauthorized) fails; a pod that ended without starting its containers (its deadline) fails.
pub fn pulled(pod: &Value) -> Pulled {
    let statuses: Vec<&Value> =
        pod.pointer("/status/containerStatuses").and_then(Value::as_array).into_iter().flatten().collect();
    let wanted: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| str_at(c, "/image"))
        .collect();
    let node = str_at(pod, "/spec/nodeName");
    let mut pulling = vec![];
    for image in wanted {
        let Some(cs) =
            statuses.iter().find(|cs| str_at(cs, "/image") == image || same_image(str_at(cs, "/image"), image))
        else {
            pulling.push(image.to_string());
            continue;
        };
        let id = str_at(cs, "/imageID");
        let state = cs.get("state");
        let started = state.is_some_and(|s| s.get("running").is_some() || s.get("terminated").is_some());
        if !id.is_empty() || started {
            continue;
        }
        let reason = cs.pointer("/state/waiting/reason").and_then(Value::as_str).unwrap_or("");
        let message = cs.pointer("/state/waiting/message").and_then(Value::as_str).unwrap_or("");
        let lower = message.to_lowercase();
        let final_pull =
            ["not found", "manifest unknown", "unauthorized", "denied", "forbidden"].iter().any(|m| lower.contains(m));
        match reason {
            "ErrImagePull" | "ImagePullBackOff" if final_pull => {
                return Pulled::Failed(format!("image {image} cannot be pulled on node {node}: {reason}: {message}"));
            }
            "InvalidImageName" | "ErrImageNeverPull" => {
                return Pulled::Failed(format!("image {image} cannot be pulled on node {node}: {reason}: {message}"));
            }
            "" | "ContainerCreating" | "ErrImagePull" | "ImagePullBackOff" | "PodInitializing" => {
                pulling.push(image.to_string())
            }
            // CreateContainerError and the like come after the pull.
            _ => {}
        }
    }
    let phase = str_at(pod, "/status/phase");
    if !pulling.is_empty() && (phase == "Failed" || phase == "Succeeded") {
        let why = pod.pointer("/status/reason").and_then(Value::as_str).unwrap_or("it ended");
        return Pulled::Failed(format!("pull pod on node {node} ended ({why}) before pulling {}", pulling.join(", ")));
    }
    if pulling.is_empty() { Pulled::Done } else { Pulled::Pulling(pulling) }
}

// ---- reading pod specs ----

fn str_at<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or("")
}

/// Every pod spec inside an object (a Deployment's template, a LeaderWorkerSet's leader and
/// worker templates, a bare pod, any custom resource holding templates): whatever has
/// `containers`.
pub fn pod_specs(obj: &Value) -> Vec<Value> {
    let mut out = vec![];
    fn walk(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Object(m) => {
                if m.get("containers").is_some_and(Value::is_array) {
                    out.push(v.clone());
                    return;
                }
                for (k, x) in m {
                    // Status and metadata hold no pod spec.
                    if k != "status" && k != "metadata" {
                        walk(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(obj, &mut out);
    out
}

/// The images of a pod spec: init containers (the routing sidecar among them), then containers.
pub fn images(spec: &Value) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for list in ["initContainers", "containers"] {
        for c in spec.get(list).and_then(Value::as_array).into_iter().flatten() {
            let i = str_at(c, "/image");
            if !i.is_empty() && !out.iter().any(|o| o == i) {
                out.push(i.to_string());
            }
        }
    }
    out
}

fn tolerations(specs: &[&Value]) -> Vec<Value> {
    let mut out: Vec<Value> = vec![];
    for t in specs.iter().flat_map(|s| s.get("tolerations").and_then(Value::as_array).into_iter().flatten()) {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

fn pull_secrets(specs: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = vec![];
    for t in specs.iter().flat_map(|s| s.get("imagePullSecrets").and_then(Value::as_array).into_iter().flatten()) {
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

// ---- matching pods to nodes ----

/// Whether a pod with this spec can land on the node, as the scheduler's filters judge it
/// (nodeName, cordon, node selector, required node affinity, taints, extended resources).
/// Requests of cpu and memory are not compared: the pods of a model service are sized for the
/// nodes they are meant for, and a busy node frees up.
pub fn fits(spec: &Value, node: &Value) -> bool {
    placement(spec, node).is_ok()
        && extended_requests(spec).into_iter().all(|(resource, want)| {
            let have = node.pointer("/status/allocatable").and_then(|a| a.get(&resource)).and_then(quantity_int);
            have.unwrap_or(0) >= want
        })
}

/// Why a pod with this spec cannot land on the node, resources aside (the scheduler's filters:
/// nodeName, cordon, node selector and required affinity, taints), in the scheduler's words.
pub fn placement(spec: &Value, node: &Value) -> Result<(), &'static str> {
    let name = str_at(node, "/metadata/name");
    let wanted = str_at(spec, "/nodeName");
    if !wanted.is_empty() && wanted != name {
        return Err("didn't match the requested node name");
    }
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) && wanted.is_empty() {
        return Err("were unschedulable");
    }
    let labels = node.pointer("/metadata/labels").and_then(Value::as_object);
    let label =
        |k: &str| -> Option<String> { labels.and_then(|l| l.get(k)).and_then(Value::as_str).map(str::to_string) };
    if let Some(sel) = spec.get("nodeSelector").and_then(Value::as_object)
        && !sel.iter().all(|(k, v)| label(k).as_deref() == v.as_str())
    {
        return Err("didn't match Pod's node affinity/selector");
    }
    if let Some(terms) = spec
        .pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array)
        && !terms.iter().any(|t| term_matches(t, &label, name))
    {
        return Err("didn't match Pod's node affinity/selector");
    }
    let tolerations: Vec<&Value> = spec.get("tolerations").and_then(Value::as_array).into_iter().flatten().collect();
    for taint in node.pointer("/spec/taints").and_then(Value::as_array).into_iter().flatten() {
        let effect = str_at(taint, "/effect");
        if (effect == "NoSchedule" || effect == "NoExecute") && !tolerations.iter().any(|t| tolerates(t, taint)) {
            return Err("had untolerated taint(s)");
        }
    }
    Ok(())
}

/// A node selector term: every expression and field matches (an empty term matches nothing).
pub fn term_matches(term: &Value, label: &dyn Fn(&str) -> Option<String>, node_name: &str) -> bool {
    let exprs: Vec<&Value> = term.get("matchExpressions").and_then(Value::as_array).into_iter().flatten().collect();
    let fields: Vec<&Value> = term.get("matchFields").and_then(Value::as_array).into_iter().flatten().collect();
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    exprs.iter().all(|e| expression_matches(e, label(str_at(e, "/key")).as_deref()))
        && fields.iter().all(|e| {
            let v = (str_at(e, "/key") == "metadata.name").then_some(node_name);
            expression_matches(e, v)
        })
}

/// One `matchExpressions` item against the label's value (`None`: the node has no such label).
pub fn expression_matches(e: &Value, value: Option<&str>) -> bool {
    let values: Vec<&str> =
        e.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
    let number = |s: &str| s.parse::<i64>().ok();
    match str_at(e, "/operator") {
        "In" => value.is_some_and(|v| values.contains(&v)),
        "NotIn" => value.is_none_or(|v| !values.contains(&v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" => matches!((value.and_then(number), values.first().and_then(|x| number(x))), (Some(a), Some(b)) if a > b),
        "Lt" => matches!((value.and_then(number), values.first().and_then(|x| number(x))), (Some(a), Some(b)) if a < b),
        _ => false,
    }
}

/// Whether a toleration tolerates a taint (the scheduler's rule: an empty key with `Exists`
/// tolerates everything; an empty effect matches every effect).
pub fn tolerates(t: &Value, taint: &Value) -> bool {
    let (key, op, effect) = (str_at(t, "/key"), str_at(t, "/operator"), str_at(t, "/effect"));
    if !effect.is_empty() && effect != str_at(taint, "/effect") {
        return false;
    }
    if key.is_empty() {
        return op == "Exists";
    }
    if key != str_at(taint, "/key") {
        return false;
    }
    match op {
        "Exists" => true,
        // `Equal` is the default operator.
        _ => str_at(t, "/value") == str_at(taint, "/value"),
    }
}

/// The extended resources (accelerators and other device-plugin resources) a pod asks for:
/// the sum over its containers, or the largest init container's if that is more.
pub fn extended_requests(spec: &Value) -> BTreeMap<String, i64> {
    let standard = |r: &str| {
        matches!(r, "cpu" | "memory" | "ephemeral-storage" | "storage")
            || r.starts_with("hugepages-")
            || !r.contains('/')
    };
    let of = |c: &Value| -> BTreeMap<String, i64> {
        let mut m = BTreeMap::new();
        // Extended resources must have requests equal to limits; either says how many.
        for part in ["limits", "requests"] {
            for (k, v) in c.pointer(&format!("/resources/{part}")).and_then(Value::as_object).into_iter().flatten() {
                if !standard(k)
                    && let Some(n) = quantity_int(v)
                {
                    m.insert(k.clone(), n);
                }
            }
        }
        m
    };
    let mut sum: BTreeMap<String, i64> = BTreeMap::new();
    for c in spec.get("containers").and_then(Value::as_array).into_iter().flatten() {
        for (k, n) in of(c) {
            *sum.entry(k).or_default() += n;
        }
    }
    for c in spec.get("initContainers").and_then(Value::as_array).into_iter().flatten() {
        for (k, n) in of(c) {
            let e = sum.entry(k).or_default();
            *e = (*e).max(n);
        }
    }
    sum
}

/// An integer quantity (`"8"`, `8`); extended resources are whole numbers.
pub fn quantity_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => {
            s.parse().ok().or_else(|| s.strip_suffix('k').and_then(|x| x.parse::<i64>().ok()).map(|n| n * 1000))
        }
        _ => None,
    }
}

/// An image reference with the registry's defaults filled in: `vllm/vllm-openai:v1` →
/// `docker.io/vllm/vllm-openai:v1`, `busybox` → `docker.io/library/busybox:latest`.
pub fn normalize(image: &str) -> String {
    let (name, suffix) = match image.find('@') {
        Some(at) => (&image[..at], image[at..].to_string()),
        None => {
            let last = image.rsplit('/').next().unwrap_or(image);
            if last.contains(':') {
                let colon = image.len() - last.len() + last.find(':').unwrap_or(0);
                (&image[..colon], image[colon..].to_string())
            } else {
                (image, ":latest".to_string())
            }
        }
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry = name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    format!("{full}{suffix}")
}

fn same_image(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

/// Whether the node's `status.images` names the image.
pub fn has_image(node: &Value, image: &str) -> bool {
    let want = normalize(image);
    node.pointer("/status/images").and_then(Value::as_array).into_iter().flatten().any(|i| {
        i.get("names")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .any(|n| normalize(n) == want)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_get_the_registrys_defaults() {
        assert_eq!(normalize("vllm/vllm-openai:v0.10.0"), "docker.io/vllm/vllm-openai:v0.10.0");
        assert_eq!(normalize("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(normalize("ghcr.io/llm-d/router:1"), "ghcr.io/llm-d/router:1");
        assert_eq!(normalize("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(normalize("a/b@sha256:00"), "docker.io/a/b@sha256:00");
    }

    #[test]
    fn taints_need_a_matching_toleration() {
        let taint = json!({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"});
        assert!(tolerates(&json!({"key": "nvidia.com/gpu", "operator": "Exists"}), &taint));
        assert!(tolerates(&json!({"operator": "Exists"}), &taint));
        assert!(!tolerates(&json!({"key": "nvidia.com/gpu", "value": "other"}), &taint));
        assert!(!tolerates(&json!({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoExecute"}), &taint));
    }

    #[test]
    fn pod_specs_are_found_in_any_kind_and_their_accelerators_summed() {
        // A LeaderWorkerSet, as a manifests-based model service may hold it: two templates.
        let lws = json!({"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet",
            "metadata": {"name": "x", "labels": {"containers": "not a spec"}},
            "spec": {"leaderWorkerTemplate": {
                "leaderTemplate": {"spec": {
                    "initContainers": [{"name": "routing", "image": "ghcr.io/llm-d/llm-d-routing-sidecar:v1"}],
                    "containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.10.0",
                                    "resources": {"limits": {"nvidia.com/gpu": "4", "cpu": "8"}}},
                                   {"name": "side", "image": "busybox",
                                    "resources": {"requests": {"nvidia.com/gpu": 2}}}]}},
                "workerTemplate": {"spec": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai:v0.10.0"}]}}}},
            "status": {"containers": []}});
        let specs = pod_specs(&lws);
        assert_eq!(specs.len(), 2);
        assert_eq!(
            images(&specs[0]),
            ["ghcr.io/llm-d/llm-d-routing-sidecar:v1", "vllm/vllm-openai:v0.10.0", "busybox"]
        );
        assert_eq!(extended_requests(&specs[0]), BTreeMap::from([("nvidia.com/gpu".to_string(), 6)]));
        assert!(extended_requests(&specs[1]).is_empty());
        // A node with 4 GPUs cannot take the leader; one with 8 can; a cordoned one cannot.
        let node = |gpus: &str, cordoned: bool| {
            json!({"metadata": {"name": "n"}, "spec": {"unschedulable": cordoned},
                   "status": {"allocatable": {"nvidia.com/gpu": gpus}}})
        };
        assert!(!fits(&specs[0], &node("4", false)));
        assert!(fits(&specs[0], &node("8", false)));
        assert!(!fits(&specs[0], &node("8", true)));
    }

    #[test]
    fn a_pull_is_judged_from_the_containers_not_the_pod() {
        let pod = |status: Value| json!({"spec": {"nodeName": "n1", "containers": [{"name": "pull-0", "image": "busybox"}]}, "status": status});
        let waiting = |reason: &str, message: &str| {
            pod(json!({"phase": "Pending", "containerStatuses": [{"image": "busybox", "imageID": "",
                "state": {"waiting": {"reason": reason, "message": message}}}]}))
        };
        assert_eq!(pulled(&waiting("ContainerCreating", "")), Pulled::Pulling(vec!["busybox".into()]));
        assert_eq!(pulled(&waiting("ErrImagePull", "rpc error: i/o timeout")), Pulled::Pulling(vec!["busybox".into()]));
        assert!(
            matches!(pulled(&waiting("ImagePullBackOff", "…: not found")), Pulled::Failed(m) if m.contains("node n1"))
        );
        // Pulled, though its command could not run (no shell in the image).
        assert_eq!(pulled(&waiting("CreateContainerError", "exec: \"sh\": not in $PATH")), Pulled::Done);
        let failed = pod(json!({"phase": "Failed", "containerStatuses": [{"image": "docker.io/library/busybox:latest",
            "imageID": "docker.io/library/busybox@sha256:00", "state": {"terminated": {"exitCode": 127}}}]}));
        assert_eq!(pulled(&failed), Pulled::Done);
    }

    #[test]
    fn expressions_match_as_the_scheduler_reads_them() {
        let e = |op: &str, v: &[&str]| json!({"key": "k", "operator": op, "values": v});
        assert!(expression_matches(&e("In", &["a", "b"]), Some("b")));
        assert!(!expression_matches(&e("In", &["a"]), None));
        assert!(expression_matches(&e("NotIn", &["a"]), None));
        assert!(expression_matches(&e("Exists", &[]), Some("")));
        assert!(expression_matches(&e("DoesNotExist", &[]), None));
        assert!(expression_matches(&e("Gt", &["3"]), Some("4")));
        assert!(!expression_matches(&e("Lt", &["3"]), Some("4")));
    }
}
