//! The differential test's comparison: the chart's objects against msws's, every field, by
//! meaning. Stricter than `tests/it/manifests.rs` (which compares the parts CASES.md names):
//! here nothing is left out but what may differ, and that is listed below and nowhere else.
//!
//! The same objects:
//! - every object the chart renders is in msws's output, with the same kind, name and
//!   `apiVersion`; and every object msws renders of a kind the chart can render
//!   ([`CHART_KINDS`], and the kinds of the case's `extraObjects`) is one the chart rendered.
//!   Other kinds of msws's own (a claim's PersistentVolumeClaim, a downloader's Job) are not
//!   compared: the chart has no such objects.
//!
//! The same meaning, field by field — what may differ, and why it means the same:
//! - the labels that only name the producing tool ([`TOOL_LABELS`], on an object's own metadata)
//!   and msws's bookkeeping labels and annotations ([`MSWS_PREFIXES`], likewise);
//! - `metadata.namespace`: Helm leaves it out of most objects, msws writes it on all;
//! - order where it means nothing: environment variables (of a name given twice, the last is
//!   the one a container sees), volumes, volume mounts, ports, resource claims, image pull
//!   secrets and tolerations; containers are matched by name, and their order compared apart;
//! - quantities by value (`"16"` = `16`, `1Gi` = `1073741824`, `0.5` = `500m`), and numbers by
//!   value (`1e+06` = `1000000`: Helm prints large numbers of its values as floats);
//! - a container port's `protocol: TCP`, Kubernetes' default (as `manifests.rs` treats it);
//! - the zero value of a field whose API type has no pointer ([`ZERO_IS_ABSENT`]): the API
//!   cannot tell `hostIPC: false` from no `hostIPC` at all;
//! - what Helm leaves empty: nulls, empty mappings and lists (`env:` with no items,
//!   `resources: {limits: {}, requests: {}}`), except a volume's source (`emptyDir: {}`);
//! - the requester's `dual-pod.llm-d.ai/server-patch` annotation is YAML text: it is compared
//!   as the YAML it holds, containers and all.
//!
//! The deliberate differences (`super::deliberate::DELIBERATE`) are applied to the pair of
//! objects before they are compared.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

/// The kinds the chart renders itself.
pub const CHART_KINDS: &[&str] =
    &["ServiceAccount", "Deployment", "LeaderWorkerSet", "ReplicaSet", "PodMonitor", "ResourceClaimTemplate"];

/// Labels that only say which tool produced an object.
pub const TOOL_LABELS: &[&str] = &["helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"];

/// msws's own bookkeeping: ownership and ApplySet membership.
pub const MSWS_PREFIXES: &[&str] = &["msws.io/", "applyset.kubernetes.io/"];

/// The requester's annotation that holds a pod spec patch as YAML text.
pub const SERVER_PATCH: &str = "dual-pod.llm-d.ai/server-patch";

/// Fields of the pod API whose Go type is not a pointer, with `omitempty`: their zero value
/// (`false`, `""`) and their absence are the same object once the API server has read it.
pub const ZERO_IS_ABSENT: &[&str] = &[
    "value",
    "readOnly",
    "stdin",
    "stdinOnce",
    "tty",
    "hostIPC",
    "hostPID",
    "hostNetwork",
    "workingDir",
    "imagePullPolicy",
    "subPath",
];

fn zero_is_absent(key: &str, v: &Value) -> bool {
    ZERO_IS_ABSENT.contains(&key) && (v == &Value::Bool(false) || v == &Value::String(String::new()))
}

/// One place where the two objects differ.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    /// `Kind/name`.
    pub object: String,
    /// Where in it, as segments: `spec`, `template`, `[vllm]`, `env`, `[DP_SIZE]`, `value`.
    pub path: Vec<String>,
    pub what: What,
}

#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// The chart has the field (or the object); msws does not.
    Missing(Value),
    /// msws has the field (or the object); the chart does not.
    Unexpected(Value),
    /// Both have it, with other values.
    Changed(Value, Value),
    /// An object twice on one side.
    Twice(&'static str),
}

impl Difference {
    fn path_text(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            if seg.starts_with('[') || s.is_empty() {
                s.push_str(seg);
            } else {
                s.push('.');
                s.push_str(seg);
            }
        }
        s
    }

    /// The kind of difference, for counting like with like across cases: the object by kind
    /// and role, the path without list keys and free-form map keys, and what happened.
    pub fn kind(&self, fullname: &str) -> String {
        let (kind, name) = self.object.split_once('/').unwrap_or((&self.object, ""));
        let object = format!("{kind}/{}", generic_name(name, fullname));
        let mut path = String::new();
        let mut free = false;
        for seg in &self.path {
            let shown = if seg.starts_with('[') {
                if KNOWN_ENV.iter().any(|k| seg == &format!("[{k}]")) { seg.clone() } else { "[*]".to_string() }
            } else if free {
                "*".to_string()
            } else {
                seg.clone()
            };
            free = FREE_FORM.contains(&seg.as_str());
            if shown.starts_with('[') || path.is_empty() {
                path.push_str(&shown);
            } else {
                path.push('.');
                path.push_str(&shown);
            }
        }
        let what = match &self.what {
            What::Missing(_) => "missing",
            What::Unexpected(_) => "not expected",
            What::Changed(..) => "differs",
            What::Twice(side) => side,
        };
        if path.is_empty() { format!("{object}: {what}") } else { format!("{object}: {path}: {what}") }
    }
}

/// Environment variables the chart itself adds: shown by name when grouping.
const KNOWN_ENV: &[&str] = &[
    "DP_SIZE",
    "TP_SIZE",
    "DP_SIZE_LOCAL",
    "HF_HOME",
    "HF_HUB_CACHE",
    "HF_TOKEN",
    "VLLM_USE_V1",
    "TORCH_LLM_ALLREDUCE",
    "VLLM_WORKER_MULTIPROC_METHOD",
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
];

/// Maps whose keys are the user's own.
const FREE_FORM: &[&str] = &["labels", "annotations", "matchLabels", "nodeSelector", "data", "volumeAttributes"];

/// An object's name with the model service's full name taken out: `<fullname>-decode`.
fn generic_name(name: &str, fullname: &str) -> String {
    if !fullname.is_empty() && name.starts_with(fullname) {
        return format!("<fullname>{}", &name[fullname.len()..]);
    }
    for role in ["-decode", "-prefill"] {
        if name.ends_with(role) {
            return format!("*{role}");
        }
    }
    "*".into()
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path_text();
        let at = if path.is_empty() { self.object.clone() } else { format!("{}: {path}", self.object) };
        match &self.what {
            What::Missing(v) if self.path.is_empty() => write!(f, "{at}: missing (the chart renders it: {})", show(v)),
            What::Unexpected(v) if self.path.is_empty() => {
                write!(f, "{at}: not rendered by the chart (msws renders {})", show(v))
            }
            What::Missing(v) => write!(f, "{at}: missing (expected {})", show(v)),
            What::Unexpected(v) => write!(f, "{at}: not expected (got {})", show(v)),
            What::Changed(Value::Array(e), Value::Array(a)) => {
                // Lists of words (args, commands) are shown from where they part.
                let i = e.iter().zip(a).take_while(|(x, y)| x == y).count();
                let from = if i > 0 { format!(" from [{i}]") } else { String::new() };
                write!(f, "{at}: expected{from} {}, got {}", show(&Value::from(&e[i..])), show(&Value::from(&a[i..])))
            }
            What::Changed(e, a) => write!(f, "{at}: expected {}, got {}", show(e), show(a)),
            What::Twice(side) => write!(f, "{at}: {side}"),
        }
    }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 { format!("{}…", s.chars().take(200).collect::<String>()) } else { s }
}

/// `Kind/name` of an object.
pub fn id(o: &Value) -> String {
    let s = |p: &str| o.pointer(p).and_then(Value::as_str).unwrap_or("").to_string();
    format!("{}/{}", s("/kind"), s("/metadata/name"))
}

/// The kinds compared in a case: the chart's own and those of the objects it renders.
pub fn compared_kinds(expected: &[Value]) -> BTreeSet<String> {
    let mut kinds: BTreeSet<String> = CHART_KINDS.iter().map(|k| k.to_string()).collect();
    kinds.extend(expected.iter().filter_map(|o| o["kind"].as_str().map(str::to_string)));
    kinds
}

/// Pairs the objects by `Kind/name`: (id, expected, actual); one on a side only, or twice on
/// one side, is a difference of its own.
pub fn pair<'a>(
    expected: &'a [Value],
    actual: &'a [Value],
    out: &mut Vec<Difference>,
) -> Vec<(String, &'a Value, &'a Value)> {
    let kinds = compared_kinds(expected);
    let mut pairs = Vec::new();
    let mut seen = BTreeSet::new();
    for e in expected {
        let key = id(e);
        if !seen.insert(key.clone()) {
            out.push(Difference { object: key, path: vec![], what: What::Twice("twice in the chart's objects") });
            continue;
        }
        let found: Vec<&Value> = actual.iter().filter(|a| id(a) == key).collect();
        match found.as_slice() {
            [] => out.push(Difference { object: key, path: vec![], what: What::Missing(e.clone()) }),
            [a, rest @ ..] => {
                if !rest.is_empty() {
                    out.push(Difference {
                        object: key.clone(),
                        path: vec![],
                        what: What::Twice("twice in msws's objects"),
                    });
                }
                pairs.push((key, e, *a));
            }
        }
    }
    let mut reported = BTreeSet::new();
    for a in actual {
        let key = id(a);
        let kind = a["kind"].as_str().unwrap_or("");
        if kinds.contains(kind) && !seen.contains(&key) && reported.insert(key.clone()) {
            out.push(Difference { object: key, path: vec![], what: What::Unexpected(a.clone()) });
        }
    }
    pairs
}

/// The differences between two objects of the same `Kind/name`, both as they are (normalized
/// here).
pub fn diff_objects(object: &str, expected: &Value, actual: &Value, out: &mut Vec<Difference>) {
    let (e, a) = (normalize(expected), normalize(actual));
    // Containers are matched by name; their order is compared here, apart (init containers
    // run one after the other; the first container is the pod's default one).
    for list in ["initContainers", "containers"] {
        let (Some(pe), Some(pa)) = (pod_spec_path(expected), pod_spec_path(actual)) else { break };
        let names = |o: &Value, p: &str| -> Vec<String> {
            o.pointer(&format!("{p}/{list}"))
                .and_then(Value::as_array)
                .map(|l| l.iter().map(|c| c["name"].as_str().unwrap_or("").to_string()).collect())
                .unwrap_or_default()
        };
        let (ne, na) = (names(expected, pe), names(actual, pa));
        let (mut se, mut sa) = (ne.clone(), na.clone());
        se.sort();
        sa.sort();
        if ne != na && se == sa {
            let path = pe.trim_start_matches('/').split('/').map(str::to_string);
            out.push(Difference {
                object: object.into(),
                path: path.chain([list.to_string(), "(order)".into()]).collect(),
                what: What::Changed(Value::from(ne), Value::from(na)),
            });
        }
    }
    diff(&e, &a, object, &mut Vec::new(), out);
}

/// Where a workload keeps its pod spec.
fn pod_spec_path(o: &Value) -> Option<&'static str> {
    match o["kind"].as_str()? {
        "Deployment" | "ReplicaSet" => Some("/spec/template/spec"),
        "LeaderWorkerSet" => Some("/spec/leaderWorkerTemplate/workerTemplate/spec"),
        _ => None,
    }
}

/// Both objects' pod specs (one for a Deployment, one more for a requester's server patch, the
/// leader's and the workers' for a LeaderWorkerSet), mutable: where the deliberate differences
/// look.
pub fn pod_specs_mut(o: &mut Value) -> Vec<&mut Value> {
    let kind = o["kind"].as_str().unwrap_or("").to_string();
    let mut out = Vec::new();
    match kind.as_str() {
        "Deployment" => out.extend(o.pointer_mut("/spec/template/spec")),
        "ReplicaSet" => {
            // The requester: its own pod (not the chart's containers), and the patch's spec.
            let Some(template) = o.pointer_mut("/spec/template") else { return out };
            if let Some(patch) = template
                .pointer_mut(&format!("/metadata/annotations/{}", SERVER_PATCH.replace('/', "~1")))
                .and_then(|p| p.get_mut("spec"))
            {
                out.push(patch);
            }
        }
        "LeaderWorkerSet" => {
            let Some(t) = o.pointer_mut("/spec/leaderWorkerTemplate") else { return out };
            let Some(m) = t.as_object_mut() else { return out };
            for (k, v) in m.iter_mut() {
                if k == "workerTemplate" || k == "leaderTemplate" {
                    out.extend(v.get_mut("spec"));
                }
            }
        }
        _ => {}
    }
    out
}

/// Reads the requester's server patch (YAML text) into the object, so it compares as YAML.
/// Text that is not YAML stays text.
pub fn read_embedded(o: &mut Value) {
    let p = format!("/spec/template/metadata/annotations/{}", SERVER_PATCH.replace('/', "~1"));
    if let Some(v) = o.pointer_mut(&p)
        && let Some(text) = v.as_str()
        && let Ok(y) = serde_yaml_ng::from_str::<serde_json::Value>(text)
    {
        *v = y;
    }
}

/// An object reduced to what it means (see the module's comment).
pub fn normalize(o: &Value) -> Value {
    let mut o = o.clone();
    read_embedded(&mut o);
    if let Some(m) = o.as_object_mut()
        && let Some(Value::Object(meta)) = m.get_mut("metadata")
    {
        meta.remove("namespace");
        for key in ["labels", "annotations"] {
            if let Some(Value::Object(l)) = meta.get_mut(key) {
                let tool = |k: &str| key == "labels" && TOOL_LABELS.contains(&k);
                l.retain(|k, _| !(tool(k) || MSWS_PREFIXES.iter().any(|p| k.starts_with(p))));
            }
        }
    }
    let workload = matches!(o["kind"].as_str(), Some("Deployment" | "ReplicaSet" | "LeaderWorkerSet"));
    let mut o = norm(o, "", workload);
    if let Some(m) = o.as_object_mut() {
        prune(m, Level::Normal);
    }
    o
}

/// Lists keyed by a field of their elements (their order means nothing), and the field.
const KEYED: &[(&str, &str)] = &[
    ("containers", "name"),
    ("initContainers", "name"),
    ("volumes", "name"),
    ("volumeMounts", "mountPath"),
    ("resourceClaims", "name"),
    ("claims", "name"),
    ("imagePullSecrets", "name"),
];

fn norm(v: Value, key: &str, workload: bool) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, c) in m {
                let c = match k.as_str() {
                    "limits" | "requests" | "capacity" => match c {
                        Value::Object(q) => Value::Object(q.into_iter().map(|(r, a)| (r, quantity(&a))).collect()),
                        other => other,
                    },
                    "sizeLimit" | "divisor" => quantity(&c),
                    _ => norm(c, &k, workload),
                };
                if workload && zero_is_absent(&k, &c) {
                    continue;
                }
                out.insert(k, c);
            }
            if out.contains_key("containerPort") {
                out.entry("protocol").or_insert_with(|| Value::String("TCP".into()));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let items: Vec<Value> = items.into_iter().map(|i| norm(i, key, workload)).collect();
            if key == "env" && items.iter().all(|e| e.get("name").is_some()) {
                // Of a name set twice, the last entry is the one a container sees.
                let mut m = Map::new();
                for e in items {
                    let name = e["name"].as_str().unwrap_or("").to_string();
                    m.shift_remove(&format!("[{name}]"));
                    m.insert(format!("[{name}]"), e);
                }
                m.sort_keys();
                return Value::Object(m);
            }
            if key == "ports" && items.iter().all(|p| p.get("containerPort").is_some()) {
                let mut m = Map::new();
                for (i, p) in items.into_iter().enumerate() {
                    let k = format!("[{}/{}]", p["containerPort"], p["protocol"].as_str().unwrap_or("TCP"));
                    let k = if m.contains_key(&k) { format!("[{k}#{i}]") } else { k };
                    m.insert(k, p);
                }
                m.sort_keys();
                return Value::Object(m);
            }
            if key == "tolerations" {
                let mut items = items;
                items.sort_by_key(|t| t.to_string());
                return Value::Array(items);
            }
            if let Some((_, field)) = KEYED.iter().find(|(k, _)| *k == key)
                && items.iter().all(|i| i.get(field).is_some_and(Value::is_string))
            {
                let mut m = Map::new();
                for (i, item) in items.into_iter().enumerate() {
                    let name = item[field].as_str().unwrap_or("").to_string();
                    let k = if m.contains_key(&format!("[{name}]")) {
                        format!("[{name}#{i}]")
                    } else {
                        format!("[{name}]")
                    };
                    m.insert(k, item);
                }
                m.sort_keys();
                return Value::Object(m);
            }
            Value::Array(items)
        }
        Value::Number(n) => match n.as_f64() {
            // 1e+06 from Helm's float printing is 1000000.
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
            _ => Value::Number(n),
        },
        other => other,
    }
}

/// Where [`prune`] is: a volume's fields are its sources, which stay even when empty
/// (`emptyDir: {}` is a volume).
#[derive(Clone, Copy, PartialEq)]
enum Level {
    Normal,
    /// The volumes, keyed by name.
    Volumes,
    Volume,
}

/// Drops nulls, empty mappings and lists (after their own pruning), but not a volume's source.
fn prune(m: &mut Map<String, Value>, level: Level) {
    let keys: Vec<String> = m.keys().cloned().collect();
    for k in keys {
        let child = match level {
            Level::Volumes => Level::Volume,
            _ if k == "volumes" => Level::Volumes,
            _ => Level::Normal,
        };
        let keep = match m.get_mut(&k) {
            Some(Value::Null) | None => false,
            Some(Value::Object(inner)) => {
                prune(inner, child);
                !inner.is_empty() || level == Level::Volume || k == "emptyDir"
            }
            Some(Value::Array(items)) => {
                for i in items.iter_mut() {
                    if let Value::Object(im) = i {
                        prune(im, if k == "volumes" { Level::Volume } else { Level::Normal });
                    }
                }
                !items.is_empty()
            }
            Some(_) => true,
        };
        if !keep {
            m.remove(&k);
        }
    }
}

/// A quantity in one canonical spelling, so equal amounts compare equal.
fn quantity(v: &Value) -> Value {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => return other.clone(),
    };
    let Ok(q) = msws::model::Quantity::parse(&text) else { return Value::String(text) };
    let x = q.value();
    let canonical = if x.fract() != 0.0 {
        format!("{}m", (x * 1000.0).round() as i64)
    } else {
        let n = x as i128;
        let binary = [("Ei", 60), ("Pi", 50), ("Ti", 40), ("Gi", 30), ("Mi", 20), ("Ki", 10)];
        let decimal = [("E", 18u32), ("P", 15), ("T", 12), ("G", 9), ("M", 6), ("k", 3)];
        binary
            .iter()
            .find(|(_, p)| n != 0 && n % (1i128 << p) == 0)
            .map(|(s, p)| format!("{}{s}", n >> p))
            .or_else(|| {
                decimal
                    .iter()
                    .find(|(_, p)| n != 0 && n % 10i128.pow(*p) == 0)
                    .map(|(s, p)| format!("{}{s}", n / 10i128.pow(*p)))
            })
            .unwrap_or_else(|| n.to_string())
    };
    Value::String(canonical)
}

fn diff(e: &Value, a: &Value, object: &str, path: &mut Vec<String>, out: &mut Vec<Difference>) {
    match (e, a) {
        (Value::Object(em), Value::Object(am)) => {
            for (k, ev) in em {
                path.push(k.clone());
                match am.get(k) {
                    Some(av) => diff(ev, av, object, path, out),
                    None => out.push(Difference {
                        object: object.into(),
                        path: path.clone(),
                        what: What::Missing(ev.clone()),
                    }),
                }
                path.pop();
            }
            for (k, av) in am {
                if !em.contains_key(k) {
                    path.push(k.clone());
                    out.push(Difference {
                        object: object.into(),
                        path: path.clone(),
                        what: What::Unexpected(av.clone()),
                    });
                    path.pop();
                }
            }
        }
        (Value::Array(ea), Value::Array(aa)) if ea.len() == aa.len() && ea.iter().all(Value::is_object) => {
            for (i, (ev, av)) in ea.iter().zip(aa).enumerate() {
                path.push(format!("[{i}]"));
                diff(ev, av, object, path, out);
                path.pop();
            }
        }
        _ if e != a => out.push(Difference {
            object: object.into(),
            path: path.clone(),
            what: What::Changed(e.clone(), a.clone()),
        }),
        _ => {}
    }
}

/// The differences between the chart's objects and msws's (both as rendered), after the
/// deliberate differences have been applied by `rewrite` to each pair.
pub fn compare(
    expected: &[Value],
    actual: &[Value],
    mut rewrite: impl FnMut(&mut Value, &mut Value),
) -> Vec<Difference> {
    let mut out = Vec::new();
    let pairs = pair(expected, actual, &mut out);
    for (key, e, a) in pairs {
        let (mut e, mut a) = (e.clone(), a.clone());
        read_embedded(&mut e);
        read_embedded(&mut a);
        rewrite(&mut e, &mut a);
        diff_objects(&key, &e, &a, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(container: Value) -> Value {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "r-llm-d-modelservice-decode", "labels": {"helm.sh/chart": "llm-d-modelservice-v0.4.12"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"llm-d.ai/role": "decode"}},
                "template": {
                    "metadata": {"labels": {"llm-d.ai/role": "decode"}},
                    "spec": {
                        "serviceAccountName": "r-llm-d-modelservice",
                        "volumes": [{"name": "metrics-volume", "emptyDir": {}}, {"name": "model-storage", "emptyDir": {"sizeLimit": "5Mi"}}],
                        "containers": [container],
                    },
                },
            },
        })
    }

    fn vllm() -> Value {
        json!({
            "name": "vllm",
            "image": "ghcr.io/llm-d/llm-d-cuda:v0.4.0",
            "args": ["--model", "facebook/opt-125m", "--port", "8200"],
            "env": [{"name": "DP_SIZE", "value": "1"}, {"name": "TP_SIZE", "value": "1"}, {"name": "EMPTY"}],
            "ports": [{"containerPort": 8200}],
            "resources": {"limits": {"nvidia.com/gpu": "1", "memory": "16Gi"}, "requests": {"nvidia.com/gpu": "1"}},
            "volumeMounts": [{"name": "metrics-volume", "mountPath": "/.config"}, {"name": "model-storage", "mountPath": "/model-cache"}],
        })
    }

    fn differences(e: &[Value], a: &[Value]) -> Vec<String> {
        compare(e, a, |_, _| {}).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn what_means_the_same_compares_equal() {
        let e = deployment(vllm());
        let mut c = vllm();
        // Env in another order, an empty value written out, a name set twice (the last counts).
        c["env"] = json!([{"name": "EMPTY", "value": ""}, {"name": "TP_SIZE", "value": "0"}, {"name": "DP_SIZE", "value": "1"}, {"name": "TP_SIZE", "value": "1"}]);
        // Quantities by value, the port's default protocol, mounts and volumes in another order.
        c["resources"] = json!({"limits": {"nvidia.com/gpu": 1, "memory": 17179869184_i64}, "requests": {"nvidia.com/gpu": "1"}, "claims": []});
        c["ports"] = json!([{"containerPort": 8200, "protocol": "TCP"}]);
        c["volumeMounts"] = json!([{"name": "model-storage", "mountPath": "/model-cache", "readOnly": false}, {"name": "metrics-volume", "mountPath": "/.config"}]);
        c["stdin"] = json!(false);
        let mut a = deployment(c);
        a["metadata"] = json!({
            "name": "r-llm-d-modelservice-decode",
            "namespace": "default",
            "labels": {"app.kubernetes.io/managed-by": "msws", "msws.io/workspace": "r", "applyset.kubernetes.io/part-of": "x"},
            "annotations": {"msws.io/step": "model-service/r"},
        });
        a["spec"]["template"]["spec"]["volumes"] = json!([{"name": "model-storage", "emptyDir": {"sizeLimit": 5242880}}, {"name": "metrics-volume", "emptyDir": {}}]);
        a["spec"]["template"]["spec"]["hostIPC"] = json!(false);
        a["spec"]["template"]["spec"]["tolerations"] = json!(null);
        a["status"] = json!({});
        assert_eq!(differences(std::slice::from_ref(&e), &[a]), Vec::<String>::new());
        assert_eq!(differences(std::slice::from_ref(&e), std::slice::from_ref(&e)), Vec::<String>::new());
    }

    #[test]
    fn every_field_counts() {
        let e = deployment(vllm());
        let name = "Deployment/r-llm-d-modelservice-decode";
        let spec = "spec.template.spec";
        type Change = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(Change, String)> = vec![
            (Box::new(|a| a["spec"]["replicas"] = json!(2)), format!("{name}: spec.replicas: expected 1, got 2")),
            (
                Box::new(|a| {
                    a["spec"]["template"]["spec"]["containers"][0]["lifecycle"] =
                        json!({"preStop": {"sleep": {"seconds": 5}}})
                }),
                format!(
                    "{name}: {spec}.containers[vllm].lifecycle: not expected (got {{\"preStop\":{{\"sleep\":{{\"seconds\":5}}}}}})"
                ),
            ),
            (
                Box::new(|a| {
                    a["spec"]["template"]["spec"]["containers"][0]["args"][1] = json!("/model-cache");
                }),
                format!(
                    "{name}: {spec}.containers[vllm].args: expected from [1] [\"facebook/opt-125m\",\"--port\",\"8200\"], got [\"/model-cache\",\"--port\",\"8200\"]"
                ),
            ),
            (
                Box::new(|a| a["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("2")),
                format!("{name}: {spec}.containers[vllm].env[DP_SIZE].value: expected \"1\", got \"2\""),
            ),
            (
                Box::new(|a| {
                    a["spec"]["template"]["spec"]["containers"][0]["env"].as_array_mut().unwrap().remove(1);
                }),
                format!(
                    "{name}: {spec}.containers[vllm].env[TP_SIZE]: missing (expected {{\"name\":\"TP_SIZE\",\"value\":\"1\"}})"
                ),
            ),
            (
                Box::new(|a| {
                    a["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] = json!("16G")
                }),
                format!(
                    "{name}: {spec}.containers[vllm].resources.limits.memory: expected \"16Gi\", got \"15625000Ki\""
                ),
            ),
            (
                Box::new(|a| a["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("UDP")),
                format!(
                    "{name}: {spec}.containers[vllm].ports[8200/TCP]: missing (expected {{\"containerPort\":8200,\"protocol\":\"TCP\"}})\n{name}: {spec}.containers[vllm].ports[8200/UDP]: not expected (got {{\"containerPort\":8200,\"protocol\":\"UDP\"}})"
                ),
            ),
            (
                Box::new(|a| a["spec"]["template"]["spec"]["enableServiceLinks"] = json!(false)),
                format!("{name}: {spec}.enableServiceLinks: not expected (got false)"),
            ),
            (
                Box::new(|a| a["spec"]["template"]["spec"]["volumes"][0]["emptyDir"] = json!(null)),
                format!("{name}: {spec}.volumes[metrics-volume].emptyDir: missing (expected {{}})"),
            ),
            (
                Box::new(|a| a["metadata"]["labels"]["llm-d.ai/role"] = json!("decode")),
                format!("{name}: metadata.labels: not expected (got {{\"llm-d.ai/role\":\"decode\"}})"),
            ),
            (
                Box::new(|a| a["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"] = json!("v1")),
                format!("{name}: spec.template.metadata.labels.app.kubernetes.io/version: not expected (got \"v1\")"),
            ),
            (
                Box::new(|a| {
                    a["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][1]["readOnly"] = json!(true)
                }),
                format!("{name}: {spec}.containers[vllm].volumeMounts[/model-cache].readOnly: not expected (got true)"),
            ),
            (
                Box::new(|a| a["apiVersion"] = json!("apps/v1beta2")),
                format!("{name}: apiVersion: expected \"apps/v1\", got \"apps/v1beta2\""),
            ),
        ];
        for (change, expected) in cases {
            let mut a = e.clone();
            change(&mut a);
            assert_eq!(differences(std::slice::from_ref(&e), &[a]).join("\n"), expected);
        }
    }

    #[test]
    fn objects_are_paired_by_kind_and_name_and_only_the_chart_s_kinds_count_both_ways() {
        let e = deployment(vllm());
        let sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "r-llm-d-modelservice"}});
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "msws-download"}});
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "download"}});
        // A kind the chart does not render here and could not: not compared.
        assert_eq!(differences(&[e.clone(), sa.clone()], &[job.clone(), sa.clone(), e.clone()]), Vec::<String>::new());
        // A ConfigMap is compared when the chart renders one (extraObjects): msws's own is extra.
        let extra =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "r-config"}, "data": {"a": "1"}});
        let d = differences(&[e.clone(), extra.clone()], &[e.clone(), cm.clone()]);
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(d[0].starts_with("ConfigMap/r-config: missing"), "{d:#?}");
        assert!(d[1].starts_with("ConfigMap/msws-download: not rendered by the chart"), "{d:#?}");
        // A chart kind msws renders that the chart did not.
        let pm = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": "x"}});
        assert_eq!(differences(std::slice::from_ref(&e), &[e.clone(), pm]).len(), 1);
        // Twice on one side.
        let d = differences(std::slice::from_ref(&e), &[e.clone(), e.clone()]);
        assert_eq!(d, vec!["Deployment/r-llm-d-modelservice-decode: twice in msws's objects".to_string()]);
    }

    #[test]
    fn containers_in_another_order_are_one_difference() {
        let mut two = vllm();
        two["name"] = json!("sidecar");
        let mut e = deployment(vllm());
        e["spec"]["template"]["spec"]["containers"] = json!([vllm(), two.clone()]);
        let mut a = e.clone();
        a["spec"]["template"]["spec"]["containers"] = json!([two, vllm()]);
        let d = differences(&[e], &[a]);
        assert_eq!(
            d,
            vec!["Deployment/r-llm-d-modelservice-decode: spec.template.spec.containers.(order): expected [\"vllm\",\"sidecar\"], got [\"sidecar\",\"vllm\"]".to_string()]
        );
    }

    #[test]
    fn the_requester_s_server_patch_compares_as_yaml() {
        let text = |order: &str| {
            format!(
                "metadata:\n  labels: {{\"model-reg\": \"opt-125m\", \"app\": null}}\nspec:\n  containers:\n  - name: vllm\n    image: x\n    env:\n{order}"
            )
        };
        let rs = |t: String| {
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r-llm-d-modelservice-decode"},
                "spec": {"template": {"metadata": {"annotations": {SERVER_PATCH: t}}}}})
        };
        let e = rs(text("    - {name: A, value: \"1\"}\n    - {name: B, value: \"2\"}\n"));
        let a = rs(text("    - name: B\n      value: \"2\"\n    - name: A\n      value: \"1\"\n"));
        assert_eq!(differences(std::slice::from_ref(&e), &[a]), Vec::<String>::new());
        let b = rs(text("    - {name: A, value: \"1\"}\n"));
        let d = differences(&[e], &[b]);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert!(d[0].contains("server-patch.spec.containers[vllm].env[B]: missing"), "{d:#?}");
    }

    #[test]
    fn numbers_compare_by_value_but_a_number_is_not_a_string() {
        let mut e = deployment(vllm());
        e["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(1e6);
        let mut a = e.clone();
        a["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = json!(1000000);
        assert_eq!(differences(std::slice::from_ref(&e), &[a.clone()]), Vec::<String>::new());
        a["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = json!("8200");
        assert_eq!(differences(&[e], &[a]).len(), 2);
    }

    #[test]
    fn differences_of_a_kind_are_grouped_without_names_and_keys() {
        let d = Difference {
            object: "Deployment/my-rel-llm-d-modelservice-decode".into(),
            path: ["spec", "template", "spec", "containers", "[sidecar]", "env", "[DP_SIZE]"]
                .map(String::from)
                .to_vec(),
            what: What::Missing(json!(1)),
        };
        assert_eq!(
            d.kind("my-rel-llm-d-modelservice"),
            "Deployment/<fullname>-decode: spec.template.spec.containers[*].env[DP_SIZE]: missing"
        );
        let d = Difference {
            object: "ConfigMap/x-config".into(),
            path: ["metadata", "labels", "team"].map(String::from).to_vec(),
            what: What::Changed(json!(1), json!(2)),
        };
        assert_eq!(d.kind("rel"), "ConfigMap/*: metadata.labels.*: differs");
    }

    #[test]
    fn quantities_have_one_spelling() {
        for (a, b) in [("16", "16"), ("1Gi", "1073741824"), ("0.5", "500m"), ("1000", "1k"), ("16Gi", "16384Mi")] {
            assert_eq!(quantity(&Value::String(a.into())), quantity(&Value::String(b.into())), "{a} {b}");
        }
        assert_eq!(quantity(&Value::from(16)), quantity(&Value::String("16".into())));
        assert_ne!(quantity(&Value::String("1G".into())), quantity(&Value::String("1Gi".into())));
    }
}
