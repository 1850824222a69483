//! Comparing Kubernetes manifests by meaning, for the parity of msws's rendering with the
//! ModelService chart: what CASES.md (tests/data/import/) calls "the same".
//!
//! - The same objects, by (kind, name), for the kinds the chart renders (ServiceAccount,
//!   Deployment, ResourceClaimTemplate); other kinds msws renders are not compared.
//! - Inside each, the same meaning: containers and init containers (init containers in order),
//!   command and args in order, env in any order (of a name set twice, the last counts), ports, resources with quantities compared by
//!   value (`"16"` = `16`, `1Gi` = `1073741824`), volumes and volume mounts with their readOnly
//!   flags, the service account, selectors and pod labels, node selector, affinity, tolerations
//!   and resource claims.
//! - Not meaningful, so not compared: labels and annotations naming the producing tool
//!   ([`TOOL_LABELS`], [`TOOL_PREFIXES`]); empty values Helm leaves behind (`env:` with no items,
//!   `resources: {limits: {}, requests: {}}`); defaults Kubernetes fills in (`protocol: TCP`,
//!   `readOnly: false`, a `RollingUpdate` strategy of 25%/25%); metadata other than name, labels and annotations; status.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

/// Labels (and annotations) that only say which tool produced an object.
pub const TOOL_LABELS: &[&str] = &["helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"];
/// Label and annotation prefixes of msws's own bookkeeping (ownership, ApplySet membership).
pub const TOOL_PREFIXES: &[&str] = &["msws.io/", "applyset.kubernetes.io/", "kubectl.kubernetes.io/"];

/// The YAML documents of a stream (`---` separated, comments allowed), empty ones skipped.
pub fn parse_stream(yaml: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(yaml)
        .map(|doc| {
            let v: serde_yaml_ng::Value = serde::Deserialize::deserialize(doc).expect("a YAML document");
            serde_json::to_value(v).expect("YAML that is also JSON")
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// The differences between the objects of a YAML stream (the chart's output) and msws's objects,
/// one line each, `Kind/name: path: …`. Empty when they mean the same.
pub fn compare(expected_yaml_stream: &str, actual: &[Value]) -> Vec<String> {
    let expected = parse_stream(expected_yaml_stream);
    let kinds: BTreeSet<String> = expected.iter().map(|o| id(o).0).collect();
    let mut out = Vec::new();
    let exp = index(&expected, &kinds, "expected", &mut out);
    let act = index(actual, &kinds, "actual", &mut out);
    for ((kind, name), e) in &exp {
        let prefix = format!("{kind}/{name}");
        match act.iter().find(|(k, _)| k.0 == *kind && k.1 == *name) {
            None => out.push(format!("{prefix}: missing")),
            Some((_, a)) => diff(&normalize(e), &normalize(a), &prefix, "", &mut out),
        }
    }
    for ((kind, name), _) in &act {
        if !exp.iter().any(|(k, _)| k.0 == *kind && k.1 == *name) {
            out.push(format!("{kind}/{name}: not rendered by the chart"));
        }
    }
    out
}

/// The objects of the compared kinds by (kind, name); one there twice is a difference.
fn index<'a>(
    objs: &'a [Value],
    kinds: &BTreeSet<String>,
    side: &str,
    out: &mut Vec<String>,
) -> Vec<((String, String), &'a Value)> {
    let mut m: Vec<((String, String), &Value)> = Vec::new();
    for o in objs.iter().filter(|o| kinds.contains(&id(o).0)) {
        let key = id(o);
        if m.iter().any(|(k, _)| *k == key) {
            out.push(format!("{}/{}: twice in the {side} objects", key.0, key.1));
        } else {
            m.push((key, o));
        }
    }
    m
}

fn id(o: &Value) -> (String, String) {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    (s(o.get("kind")), s(o.pointer("/metadata/name")))
}

/// An object reduced to what it means.
pub fn normalize(o: &Value) -> Value {
    let mut o = o.clone();
    if let Some(m) = o.as_object_mut() {
        m.remove("status");
        if let Some(Value::Object(meta)) = m.get_mut("metadata") {
            meta.retain(|k, _| matches!(k.as_str(), "name" | "labels" | "annotations"));
        }
    }
    let mut o = norm(o, "");
    if let Some(m) = o.as_object_mut() {
        prune(m);
    }
    o
}

fn tool_key(k: &str) -> bool {
    TOOL_LABELS.contains(&k) || TOOL_PREFIXES.iter().any(|p| k.starts_with(p))
}

/// Lists whose elements are matched by name rather than position (their order means nothing).
const KEYED_BY_NAME: &[&str] =
    &["containers", "volumes", "volumeMounts", "resourceClaims", "claims", "imagePullSecrets"];

fn norm(v: Value, key: &str) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, c) in m {
                let c = match k.as_str() {
                    "labels" | "annotations" | "matchLabels" => match c {
                        Value::Object(lm) => Value::Object(
                            lm.into_iter()
                                .filter(|(k, _)| !tool_key(k))
                                .map(|(k, v)| {
                                    // The requester's server patch is YAML text: compared by meaning.
                                    if k == "dual-pod.llm-d.ai/server-patch"
                                        && let Some(text) = v.as_str()
                                        && let Ok(y) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text)
                                    {
                                        let patch = serde_json::to_value(y).unwrap_or(Value::Null);
                                        return (k, norm(patch, ""));
                                    }
                                    (k, v)
                                })
                                .collect(),
                        ),
                        other => other,
                    },
                    "limits" | "requests" | "capacity" => match c {
                        Value::Object(q) => Value::Object(q.into_iter().map(|(r, a)| (r, quantity(&a))).collect()),
                        other => other,
                    },
                    "sizeLimit" | "divisor" => quantity(&c),
                    _ => norm(c, &k),
                };
                // Kubernetes defaults: a port's protocol is TCP, a mount is writable, a Deployment
                // rolls out with 25% surge and 25% unavailable.
                if k == "readOnly" && c == Value::Bool(false) {
                    continue;
                }
                if k == "strategy"
                    && c == serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
                {
                    continue;
                }
                out.insert(k, c);
            }
            if key == "ports" || out.contains_key("containerPort") {
                out.entry("protocol").or_insert_with(|| Value::String("TCP".into()));
            }
            Value::Object(out)
        }
        Value::Array(items) => {
            let mut items: Vec<Value> = items.into_iter().map(|i| norm(i, key)).collect();
            if key == "env" {
                // Order means nothing, and of a name set twice the last entry is the one a
                // container sees.
                let name = |e: &Value| e.get("name").and_then(Value::as_str).unwrap_or("").to_string();
                let mut last: Vec<Value> = Vec::new();
                for e in items.into_iter().rev() {
                    if !last.iter().any(|l| name(l) == name(&e)) {
                        last.push(e);
                    }
                }
                let mut items = last;
                items.sort_by_key(name);
                for e in &mut items {
                    if let Some(m) = e.as_object_mut()
                        && m.get("value") == Some(&Value::String(String::new()))
                    {
                        m.remove("value");
                    }
                }
                return Value::Array(items);
            }
            if key == "ports" {
                items.sort_by_key(|p| p.to_string());
                return Value::Array(items);
            }
            if key == "tolerations" {
                items.sort_by_key(|t| t.to_string());
                return Value::Array(items);
            }
            if KEYED_BY_NAME.contains(&key) {
                let mut m = Map::new();
                for (i, item) in items.into_iter().enumerate() {
                    let name = item.get("name").and_then(Value::as_str).map(str::to_string).unwrap_or(format!("#{i}"));
                    // The key is how the element is shown in a path: `containers[vllm]`.
                    m.insert(format!("[{name}]"), item);
                }
                return Value::Object(m);
            }
            Value::Array(items)
        }
        other => other,
    }
}

/// Drops what Helm leaves empty: nulls, empty mappings and lists (after their own pruning). An
/// `emptyDir: {}` is the one empty mapping that means something; it stays.
fn prune(m: &mut Map<String, Value>) {
    let keys: Vec<String> = m.keys().cloned().collect();
    for k in keys {
        let keep = match m.get_mut(&k) {
            Some(Value::Null) | None => false,
            Some(Value::Object(inner)) => {
                prune(inner);
                !inner.is_empty() || k == "emptyDir"
            }
            Some(Value::Array(items)) => {
                for i in items.iter_mut() {
                    if let Value::Object(im) = i {
                        prune(im);
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

/// A quantity in one canonical spelling, so equal amounts compare equal: `16` and `"16"`,
/// `1Gi` and `1073741824`, `0.5` and `500m`.
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

fn join(path: &str, key: &str) -> String {
    if key.starts_with('[') || path.is_empty() { format!("{path}{key}") } else { format!("{path}.{key}") }
}

fn show(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 160 { format!("{}…", s.chars().take(160).collect::<String>()) } else { s }
}

fn diff(e: &Value, a: &Value, prefix: &str, path: &str, out: &mut Vec<String>) {
    let at = if path.is_empty() { prefix.to_string() } else { format!("{prefix}: {path}") };
    match (e, a) {
        (Value::Object(em), Value::Object(am)) => {
            for (k, ev) in em {
                match am.get(k) {
                    Some(av) => diff(ev, av, prefix, &join(path, k), out),
                    None => out.push(format!("{prefix}: {}: missing (expected {})", join(path, k), show(ev))),
                }
            }
            for (k, av) in am {
                if !em.contains_key(k) {
                    out.push(format!("{prefix}: {}: not expected (got {})", join(path, k), show(av)));
                }
            }
        }
        (Value::Array(ea), Value::Array(aa)) if ea.len() == aa.len() => {
            for (i, (ev, av)) in ea.iter().zip(aa).enumerate() {
                diff(ev, av, prefix, &format!("{path}[{i}]"), out);
            }
        }
        _ if e != a => out.push(format!("{at}: expected {}, got {}", show(e), show(a))),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(name: &str) -> String {
        std::fs::read_to_string(crate::support::root().join("tests/data/import").join(name)).unwrap()
    }

    #[test]
    fn every_chart_output_compared_with_itself_is_the_same() {
        for f in std::fs::read_dir(crate::support::root().join("tests/data/import")).unwrap() {
            let name = f.unwrap().file_name().to_string_lossy().to_string();
            if !name.starts_with("output-") {
                continue;
            }
            let text = read(&name);
            let objs = parse_stream(&text);
            assert!(objs.len() >= 2, "{name}: {} objects", objs.len());
            assert_eq!(compare(&text, &objs), Vec::<String>::new(), "{name}");
        }
    }

    #[test]
    fn pd_against_pvc_differs_in_exactly_the_model_volume_its_argument_its_env_and_read_only() {
        // The same release name on both sides, so only the model's place differs.
        let pvc = read("output-pvc.yaml").replace("pvc-llm-d-modelservice", "pd-llm-d-modelservice");
        let diffs = compare(&read("output-pd.yaml"), &parse_stream(&pvc));
        let mut expected = Vec::new();
        for role in ["decode", "prefill"] {
            let d = format!("Deployment/pd-llm-d-modelservice-{role}");
            let spec = "spec.template.spec";
            expected.extend([
                format!("{d}: {spec}.volumes[model-storage].emptyDir: missing (expected {{\"sizeLimit\":\"20Gi\"}})"),
                format!(
                    "{d}: {spec}.volumes[model-storage].persistentVolumeClaim: not expected (got {{\"claimName\":\"pvc-name\",\"readOnly\":true}})"
                ),
                format!("{d}: {spec}.containers[vllm].args[0]: expected \"facebook/opt-125m\", got \"/model-cache/path/to/model\""),
                format!("{d}: {spec}.containers[vllm].volumeMounts[model-storage].readOnly: not expected (got true)"),
            ]);
        }
        // The env lists differ in length (HF_HOME is gone): reported as the whole list.
        let env: Vec<&String> = diffs.iter().filter(|d| d.contains(".env:")).collect();
        assert_eq!(env.len(), 2, "{diffs:#?}");
        assert!(env.iter().all(|d| d.contains("HF_HOME")), "{env:#?}");
        let rest: Vec<String> = diffs.iter().filter(|d| !d.contains(".env:")).cloned().collect();
        assert_eq!(rest, expected);
    }

    fn deployment_of(objs: &mut [Value], role: &str) -> usize {
        objs.iter().position(|o| id(o).1.ends_with(role) && id(o).0 == "Deployment").unwrap()
    }

    #[test]
    fn a_changed_replica_count_arg_or_read_only_flag_is_reported_and_a_shuffled_env_is_not() {
        let text = read("output-pvc.yaml");
        let base = parse_stream(&text);
        let container = "/spec/template/spec/containers/0";

        let mut objs = base.clone();
        let i = deployment_of(&mut objs, "-decode");
        *objs[i].pointer_mut("/spec/replicas").unwrap() = 3.into();
        assert_eq!(
            compare(&text, &objs),
            vec!["Deployment/pvc-llm-d-modelservice-decode: spec.replicas: expected 1, got 3".to_string()]
        );

        let mut objs = base.clone();
        let i = deployment_of(&mut objs, "-prefill");
        *objs[i].pointer_mut(&format!("{container}/args/5")).unwrap() = "--enforce-eager=false".into();
        let d = compare(&text, &objs);
        assert_eq!(d.len(), 1, "{d:#?}");
        assert!(d[0].contains("containers[vllm].args[5]: expected \"--enforce-eager\""), "{d:#?}");

        let mut objs = base.clone();
        let i = deployment_of(&mut objs, "-decode");
        *objs[i].pointer_mut(&format!("{container}/volumeMounts/0/readOnly")).unwrap() = false.into();
        let d = compare(&text, &objs);
        assert_eq!(d, vec![
            "Deployment/pvc-llm-d-modelservice-decode: spec.template.spec.containers[vllm].volumeMounts[model-storage].readOnly: missing (expected true)".to_string()
        ]);

        let mut objs = base.clone();
        let i = deployment_of(&mut objs, "-decode");
        objs[i].pointer_mut(&format!("{container}/env")).unwrap().as_array_mut().unwrap().reverse();
        assert_eq!(compare(&text, &objs), Vec::<String>::new());
    }

    #[test]
    fn quantities_compare_by_value_and_empty_leftovers_mean_nothing() {
        let text = read("output-cpu.yaml");
        let mut objs = parse_stream(&text);
        let i = deployment_of(&mut objs, "-decode");
        let c = objs[i].pointer_mut("/spec/template/spec/containers/0").unwrap().as_object_mut().unwrap();
        // `resources: {limits: {}, requests: {}}` is no resources at all.
        c.remove("resources");
        c.insert(
            "env".into(),
            serde_json::json!([
                {"name": "HF_HOME", "value": "/model-cache"},
                {"name": "DP_SIZE_LOCAL", "value": "1"},
                {"name": "TP_SIZE", "value": "1"},
                {"name": "DP_SIZE", "value": "1"},
            ]),
        );
        // 5Mi written as bytes.
        *objs[i].pointer_mut("/spec/template/spec/volumes/1/emptyDir/sizeLimit").unwrap() = 5_242_880.into();
        // The tool's labels differ; they do not count.
        objs[i]["metadata"]["labels"] =
            serde_json::json!({"app.kubernetes.io/managed-by": "msws", "msws.io/workspace": "cpu"});
        assert_eq!(compare(&text, &objs), Vec::<String>::new());

        // A kind the chart does not render is ignored; a missing object is not.
        objs.push(serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "inventory"}}));
        objs.retain(|o| id(o).0 != "ServiceAccount");
        assert_eq!(compare(&text, &objs), vec!["ServiceAccount/cpu-sim-llm-d-modelservice: missing".to_string()]);
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
