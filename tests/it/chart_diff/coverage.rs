//! Which keys of the chart the generated cases set: every leaf of `values.yaml`, every property
//! of `values.schema.json`, and every key the templates read (`.Values.…`, a role's `.pdSpec.…`,
//! a container's `.container.…`, the proxy's `.proxy.…` and `hasKey` tests), each set to a
//! value other than its default in at least one case. Keys are paths with `[]` for "any element
//! of the list": `decode.containers[].env`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helm::chart_dir;

/// Keys the templates read that valid values cannot set, and why.
pub const UNSETTABLE: &[(&str, &str)] = &[
    ("decode.monitoring.podmonitor.scrapeTimeout", "the schema's podmonitor has additionalProperties: false"),
    ("prefill.monitoring.podmonitor.scrapeTimeout", "the schema's podmonitor has additionalProperties: false"),
    ("decode.monitoring.podmonitor.namespaceSelector", "the schema's podmonitor has additionalProperties: false"),
    ("prefill.monitoring.podmonitor.namespaceSelector", "the schema's podmonitor has additionalProperties: false"),
    ("modelArtifacts.imagePullPolicy", "the schema's modelArtifacts has additionalProperties: false"),
    (
        "accelerator.resourceClaimTemplates.*.match",
        "the only other request kind of resource.k8s.io/v1, firstAvailable, is a list: the chart's template writes an object",
    ),
    ("*.initContainers[].readinessProbe.terminationGracePeriodSeconds", "the API refuses it on a readiness probe"),
    (
        "*.initContainers[].restartPolicyRules",
        "rules need an init container's restart policy other than Always, which the API refuses unless the \
         ContainerRestartRules gate (alpha in 1.34) is on",
    ),
];

/// Whether a key is one of [`UNSETTABLE`] or under one (`*` stands for one segment).
fn unsettable(key: &str) -> bool {
    UNSETTABLE.iter().any(|(pattern, _)| {
        let (p, k): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), key.split('.').collect());
        let k: Vec<&str> = k.iter().map(|s| s.strip_suffix("[]").unwrap_or(s)).collect();
        let p: Vec<&str> = p.iter().map(|s| s.strip_suffix("[]").unwrap_or(s)).collect();
        p.len() <= k.len() && p.iter().zip(&k).all(|(p, k)| *p == "*" || p == k)
    })
}

/// Every key: (path, where it comes from).
pub fn chart_keys() -> Vec<(String, &'static str)> {
    let dir = chart_dir();
    let values: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("values.yaml")).unwrap()).unwrap();
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("values.schema.json")).unwrap()).unwrap();
    let mut keys: Vec<(String, &'static str)> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut add = |k: String, from: &'static str, keys: &mut Vec<(String, &'static str)>| {
        if !unsettable(&k) && seen.insert(k.clone()) {
            keys.push((k, from));
        }
    };
    let mut leaves = Vec::new();
    values_leaves(&values, "", &mut leaves);
    for k in leaves {
        add(k, "values.yaml", &mut keys);
    }
    let mut props = Vec::new();
    schema_properties(&schema, "", &mut props);
    for k in props {
        add(k, "values.schema.json", &mut keys);
    }
    for k in template_reads() {
        add(k, "templates", &mut keys);
    }
    keys
}

fn join(prefix: &str, k: &str) -> String {
    if prefix.is_empty() { k.to_string() } else { format!("{prefix}.{k}") }
}

fn values_leaves(v: &Value, at: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                values_leaves(c, &join(at, k), out);
            }
        }
        Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_object) => {
            for item in a {
                values_leaves(item, &format!("{at}[]"), out);
            }
        }
        _ => out.push(at.to_string()),
    }
}

fn schema_properties(s: &Value, at: &str, out: &mut Vec<String>) {
    if let Some(Value::Object(props)) = s.get("properties") {
        for (k, p) in props {
            let path = join(at, k);
            out.push(path.clone());
            schema_properties(p, &path, out);
        }
    }
    if let Some(items) = s.get("items") {
        schema_properties(items, &format!("{at}[]"), out);
    }
    for alt in ["anyOf", "oneOf", "allOf"] {
        for a in s.get(alt).and_then(Value::as_array).into_iter().flatten() {
            schema_properties(a, at, out);
        }
    }
}

/// The keys the chart's templates read.
fn template_reads() -> Vec<String> {
    let mut text = String::new();
    for e in std::fs::read_dir(chart_dir().join("templates")).unwrap() {
        text.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap());
    }
    let re = |p: &str| regex::Regex::new(p).unwrap();
    let mut out = BTreeSet::new();
    let roles = |k: &str| ["decode", "prefill"].map(|r| format!("{r}.{k}"));
    for c in re(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").captures_iter(&text) {
        out.insert(c[1][1..].to_string());
    }
    for c in re(r"\.pdSpec((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").captures_iter(&text) {
        out.extend(roles(&c[1][1..]));
    }
    for c in re(r"\.container((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").captures_iter(&text) {
        out.extend(roles(&format!("containers[]{}", &c[1])));
    }
    for c in re(r"\.proxy((?:\.[A-Za-z_][A-Za-z0-9_]*)+)").captures_iter(&text) {
        out.insert(format!("routing.proxy{}", &c[1]));
    }
    for c in re(r#"hasKey \.proxy "([A-Za-z_]+)""#).captures_iter(&text) {
        out.insert(format!("routing.proxy.{}", &c[1]));
    }
    for c in re(r#"hasKey \.Values\.([a-z]+) "([A-Za-z_]+)""#).captures_iter(&text) {
        out.insert(format!("{}.{}", &c[1], &c[2]));
    }
    // `.Values.decode` alone, a role's parallelism passed on: keys of keys, set when theirs are.
    out.into_iter()
        .filter(|k| !matches!(k.as_str(), "decode" | "prefill" | "decode.containers" | "prefill.containers"))
        .collect()
}

/// The values found at a key (with `[]` for any element), in one case's values.
fn at<'a>(v: &'a Value, path: &str, out: &mut Vec<&'a Value>) {
    if path.is_empty() {
        out.push(v);
        return;
    }
    let (head, rest) = match path.find(['.', '[']) {
        Some(0) if path.starts_with("[]") => {
            for item in v.as_array().into_iter().flatten() {
                at(item, path[2..].trim_start_matches('.'), out);
            }
            return;
        }
        Some(i) => (&path[..i], path[i..].trim_start_matches('.')),
        None => (path, ""),
    };
    // Keys with dots (`llm-d.ai/inference-serving`) are matched whole first.
    if let Some(m) = v.as_object() {
        if let Some(c) = m.get(path) {
            out.push(c);
            return;
        }
        for (k, c) in m {
            if let Some(r) = path.strip_prefix(k.as_str())
                && (r.starts_with('.') || r.starts_with('['))
                && k.contains('.')
            {
                at(c, r.trim_start_matches('.'), out);
                return;
            }
        }
        if let Some(c) = m.get(head) {
            at(c, rest, out);
        }
    }
}

/// The keys no case sets to something other than the chart's default.
pub fn uncovered(cases: &[&Value]) -> Vec<(String, &'static str)> {
    let defaults: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap()).unwrap();
    chart_keys()
        .into_iter()
        .filter(|(k, _)| {
            let mut d = Vec::new();
            at(&defaults, k, &mut d);
            !cases.iter().any(|c| {
                let mut found = Vec::new();
                at(c, k, &mut found);
                found.iter().any(|v| !(d.contains(v) || v.is_null() && d.is_empty()))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_chart_s_keys_are_found_in_all_three_places() {
        let keys: Vec<String> = chart_keys().into_iter().map(|(k, _)| k).collect();
        for k in [
            "modelArtifacts.labels.llm-d.ai/inference-serving",
            "decode.containers[].volumeMounts[].mountPath",
            "prefill.initContainers[].lifecycle.postStart.httpGet.httpHeaders[].name",
            "accelerator.env.intel-i915[].value",
            "decode.subGroupExclusiveTopology",
            "decode.containers[].extraConfig",
            "routing.proxy.zapTimeEncoding",
            "routing.proxy.prefillerUseTLS",
            "schedulerName",
            "nameOverride",
            "decode.hostIPC",
        ] {
            assert!(keys.contains(&k.to_string()), "{k} is not among {keys:#?}");
        }
        assert!(!keys.iter().any(|k| k.ends_with("scrapeTimeout")));
    }

    #[test]
    fn a_key_is_covered_by_a_value_other_than_its_default() {
        let v = json!({"decode": {"containers": [{"name": "vllm", "image": "x"}]}, "modelArtifacts": {"labels": {"llm-d.ai/inference-serving": "false"}}});
        let mut found = Vec::new();
        at(&v, "decode.containers[].image", &mut found);
        assert_eq!(found, vec![&json!("x")]);
        let mut found = Vec::new();
        at(&v, "modelArtifacts.labels.llm-d.ai/inference-serving", &mut found);
        assert_eq!(found, vec![&json!("false")]);
        let left: Vec<String> = uncovered(&[&v]).into_iter().map(|(k, _)| k).collect();
        assert!(!left.contains(&"decode.containers[].image".to_string()));
        assert!(!left.contains(&"modelArtifacts.labels.llm-d.ai/inference-serving".to_string()));
        // The default name is no coverage of the name.
        assert!(left.contains(&"decode.containers[].name".to_string()));
    }
}
