//! Stage 5, diff: a desired object against the live one.
//!
//! Two ways to compare, depending on what the cluster can tell us:
//! - **online** ([`compare_dry_run`]): the desired object is server-side applied with
//!   `dryRun=All`; the answer is the object exactly as it would be after the apply (server
//!   defaults, other managers' fields, fields msws stops setting removed). Comparing it with the
//!   live object, both without server-owned metadata, is exact: any difference is what the apply
//!   would change, and a server default never shows as one.
//! - **offline** ([`compare_subset`]): without a server (`plan --offline`, `--live FILE`), the
//!   desired object must be contained in the live one: every field msws sets has the same value
//!   live (quantities by amount), lists match element by element; fields only the live object has
//!   (server defaults, other managers) are not changes. A field msws stopped setting cannot be
//!   seen this way; the offline plan says so.
//!
//! Secret data never reaches a diff: values are replaced by a short hash first ([`redact`]).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::cluster::without_server_fields;
use crate::model::Quantity;

/// What comparing a desired object with the live one found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Difference {
    Same,
    /// The live object would change; a unified diff of the YAML (live → desired).
    Changed(String),
}

/// A short, non-reversible fingerprint of a secret value.
pub fn fingerprint(bytes: &[u8]) -> String {
    hex::encode(&Sha256::digest(bytes)[..4])
}

/// Replaces a Secret's values with fingerprints (`data` is base64: its decoded bytes are hashed,
/// so `data` and `stringData` holding the same value look the same).
pub fn redact(obj: &Value) -> Value {
    let mut v = obj.clone();
    if v.get("kind").and_then(Value::as_str) != Some("Secret") {
        return v;
    }
    let mut merged = Map::new();
    if let Some(data) = v.get("data").and_then(Value::as_object) {
        for (k, val) in data {
            let bytes = val.as_str().map(decode_base64).unwrap_or_default();
            merged.insert(k.clone(), Value::String(format!("(sensitive, {})", fingerprint(&bytes))));
        }
    }
    if let Some(data) = v.get("stringData").and_then(Value::as_object) {
        for (k, val) in data {
            let bytes = val.as_str().unwrap_or("").as_bytes().to_vec();
            merged.insert(k.clone(), Value::String(format!("(sensitive, {})", fingerprint(&bytes))));
        }
    }
    if let Some(o) = v.as_object_mut() {
        o.remove("stringData");
        if merged.is_empty() {
            o.remove("data");
        } else {
            o.insert("data".into(), Value::Object(merged));
        }
    }
    v
}

fn decode_base64(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap_or_else(|_| s.as_bytes().to_vec())
}

/// An object as it is compared and shown: without server-owned fields, secrets redacted, empty
/// maps and lists and nulls dropped (an absent field and an empty one mean the same).
pub fn normalize(obj: &Value) -> Value {
    prune_empty(&redact(&without_server_fields(obj)))
}

fn prune_empty(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, val) in m {
                let p = prune_empty(val);
                let empty = match &p {
                    Value::Null => true,
                    Value::Object(o) => o.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    _ => false,
                };
                // `resources: {}` on a container is how the chart writes "none"; keep no empty.
                if !empty {
                    out.insert(k.clone(), p);
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(prune_empty).collect()),
        other => other.clone(),
    }
}

/// YAML for showing an object.
pub fn to_yaml(v: &Value) -> String {
    serde_yaml_ng::to_string(v).unwrap_or_default()
}

/// A unified diff from `before` to `after`, with three lines of context, or `None` if equal.
pub fn unified(before: &str, after: &str) -> Option<String> {
    if before == after {
        return None;
    }
    let diff = similar::TextDiff::from_lines(before, after);
    let text = diff.unified_diff().context_radius(3).header("live", "planned").to_string();
    Some(text)
}

/// Online comparison: the server's dry-run answer against the live object.
pub fn compare_dry_run(dry_run: &Value, live: &Value) -> Difference {
    let (a, b) = (normalize(live), normalize(dry_run));
    if same_value(&a, &b) {
        return Difference::Same;
    }
    match unified(&to_yaml(&a), &to_yaml(&b)) {
        Some(d) => Difference::Changed(d),
        None => Difference::Same,
    }
}

/// Offline comparison: is every field of `desired` the same in `live`?
pub fn compare_subset(desired: &Value, live: &Value) -> Difference {
    let (d, l) = (normalize(desired), normalize(live));
    if contains(&l, &d) {
        return Difference::Same;
    }
    // Show the live object cut down to the fields msws sets, against the desired one.
    let projected = project(&l, &d);
    match unified(&to_yaml(&projected), &to_yaml(&d)) {
        Some(diff) => Difference::Changed(diff),
        None => Difference::Same,
    }
}

/// Scalars that mean the same thing: `"1"` and `1`, `"16Gi"` and `"17179869184"`, `"1000m"`
/// and `"1"`.
fn same_scalar(a: &Value, b: &Value) -> bool {
    if a == b {
        return true;
    }
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match (text(a), text(b)) {
        (Some(x), Some(y)) if x == y => true,
        (Some(x), Some(y)) => match (Quantity::parse(&x), Quantity::parse(&y)) {
            (Ok(p), Ok(q)) => p.same_amount(&q),
            _ => false,
        },
        _ => false,
    }
}

/// Equality, with scalars compared by meaning.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_value(v, w)),
        _ => same_scalar(a, b),
    }
}

/// Whether `live` holds everything `desired` says.
pub fn contains(live: &Value, desired: &Value) -> bool {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => d.iter().all(|(k, dv)| l.get(k).is_some_and(|lv| contains(lv, dv))),
        (Value::Array(l), Value::Array(d)) => l.len() == d.len() && l.iter().zip(d).all(|(lv, dv)| contains(lv, dv)),
        _ => same_scalar(live, desired),
    }
}

/// `live` cut down to the shape of `desired` (for showing an offline difference).
fn project(live: &Value, desired: &Value) -> Value {
    match (live, desired) {
        (Value::Object(l), Value::Object(d)) => {
            let mut out = Map::new();
            for (k, dv) in d {
                if let Some(lv) = l.get(k) {
                    out.insert(k.clone(), project(lv, dv));
                }
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(d)) => Value::Array(
            l.iter().enumerate().map(|(i, lv)| d.get(i).map_or_else(|| lv.clone(), |dv| project(lv, dv))).collect(),
        ),
        _ => live.clone(),
    }
}

/// Fields Kubernetes does not let change in place, per kind, with what changing them costs.
/// `None` when the desired object can be applied over the live one.
pub fn immutable_change(desired: &Value, live: &Value) -> Option<String> {
    let kind = desired.get("kind").and_then(Value::as_str)?;
    let get = |v: &Value, p: &str| v.pointer(p).cloned().unwrap_or(Value::Null);
    let differs = |p: &str| {
        let (d, l) = (get(desired, p), get(live, p));
        !d.is_null() && !contains(&normalize_scalar_tree(&l), &normalize_scalar_tree(&d))
    };
    match kind {
        "PersistentVolumeClaim" => {
            for (p, what) in [
                ("/spec/accessModes", "access mode"),
                ("/spec/storageClassName", "storage class"),
                ("/spec/volumeName", "volume"),
                ("/spec/volumeMode", "volume mode"),
            ] {
                if differs(p) {
                    return Some(format!("the claim's {what} cannot change"));
                }
            }
            let q = |v: &Value| {
                v.pointer("/spec/resources/requests/storage")
                    .and_then(Value::as_str)
                    .and_then(|s| Quantity::parse(s).ok())
            };
            if let (Some(d), Some(l)) = (q(desired), q(live))
                && d.value() < l.value()
            {
                return Some(format!("a claim cannot shrink ({l} → {d})"));
            }
            None
        }
        "Job" => {
            if differs("/spec/selector") {
                return Some("a Job's selector cannot change".into());
            }
            if differs("/spec/template") {
                return Some("a Job's pod template cannot change".into());
            }
            None
        }
        "Deployment" if differs("/spec/selector") => Some("a Deployment's selector cannot change".into()),
        _ => None,
    }
}

fn normalize_scalar_tree(v: &Value) -> Value {
    prune_empty(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_compared_with_itself_is_the_same_both_ways() {
        let d = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "resourceVersion": "5"}, "data": {"a": "b"}});
        assert_eq!(compare_dry_run(&d, &d), Difference::Same);
        assert_eq!(compare_subset(&d, &d), Difference::Same);
    }

    #[test]
    fn server_defaults_and_quantity_spellings_are_not_changes_offline() {
        let desired = json!({"kind": "Deployment", "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "v", "resources": {"limits": {"memory": "1Gi", "cpu": "1"}}}]}}}});
        let live = json!({"kind": "Deployment", "metadata": {"uid": "u", "generation": 3}, "status": {"replicas": 1},
            "spec": {"replicas": 1, "revisionHistoryLimit": 10, "template": {"spec": {"dnsPolicy": "ClusterFirst",
            "containers": [{"name": "v", "imagePullPolicy": "Always", "resources": {"limits": {"memory": "1073741824", "cpu": "1000m"}}}]}}}});
        assert_eq!(compare_subset(&desired, &live), Difference::Same);
        let scaled = json!({"kind": "Deployment", "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "v", "resources": {"limits": {"memory": "1Gi", "cpu": "1"}}}]}}}});
        let Difference::Changed(d) = compare_subset(&desired, &scaled) else { panic!() };
        assert!(d.contains("-  replicas: 3") && d.contains("+  replicas: 1"), "{d}");
        assert!(!d.contains("revisionHistoryLimit"), "{d}");
    }

    #[test]
    fn a_removed_list_element_is_a_change_offline() {
        let desired = json!({"spec": {"args": ["a"]}});
        let live = json!({"spec": {"args": ["a", "b"]}});
        assert!(matches!(compare_subset(&desired, &live), Difference::Changed(_)));
    }

    #[test]
    fn secret_values_never_reach_a_diff() {
        let a = json!({"kind": "Secret", "data": {"HF_TOKEN": "aGZfb2xk"}});
        let b = json!({"kind": "Secret", "stringData": {"HF_TOKEN": "hf_new"}});
        let Difference::Changed(d) = compare_dry_run(&b, &a) else { panic!() };
        assert!(!d.contains("hf_new") && !d.contains("aGZfb2xk") && !d.contains("hf_old"), "{d}");
        assert!(d.contains("(sensitive, "), "{d}");
        // The same value written as data or stringData is no change.
        let same = json!({"kind": "Secret", "stringData": {"HF_TOKEN": "hf_old"}});
        assert_eq!(compare_dry_run(&same, &a), Difference::Same);
    }

    #[test]
    fn immutable_fields_are_named() {
        let pvc = |mode: &str, size: &str| json!({"kind": "PersistentVolumeClaim", "spec": {"accessModes": [mode], "resources": {"requests": {"storage": size}}}});
        assert!(
            immutable_change(&pvc("ReadWriteMany", "5Gi"), &pvc("ReadWriteOnce", "5Gi"))
                .unwrap()
                .contains("access mode")
        );
        assert!(
            immutable_change(&pvc("ReadWriteOnce", "1Gi"), &pvc("ReadWriteOnce", "5Gi")).unwrap().contains("shrink")
        );
        assert_eq!(immutable_change(&pvc("ReadWriteOnce", "10Gi"), &pvc("ReadWriteOnce", "5Gi")), None);
        let dep = |l: &str| json!({"kind": "Deployment", "spec": {"selector": {"matchLabels": {"a": l}}}});
        assert!(immutable_change(&dep("x"), &dep("y")).is_some());
        assert_eq!(immutable_change(&dep("x"), &dep("x")), None);
    }
}
