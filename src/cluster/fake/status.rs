//! The errors a real API server sends, built as the same `Status` objects
//! (`tests/data/apiserver/*.status.json`) and turned into [`ClusterError`]s the way the kube
//! adapter turns them, so callers see the same messages from the fake and from a cluster.

use serde_json::{Value, json};

use crate::cluster::{ClusterError, Kind};

/// `persistentvolumeclaims`, `jobs.batch`: how messages name a resource.
pub(super) fn resource(kind: &Kind) -> String {
    match kind.group() {
        "" => kind.plural.to_string(),
        g => format!("{}.{g}", kind.plural),
    }
}

/// `PersistentVolumeClaim`, `Job.batch`: how validation messages name a kind.
fn qualified_kind(kind: &Kind) -> String {
    match kind.group() {
        "" => kind.kind.to_string(),
        g => format!("{}.{g}", kind.kind),
    }
}

fn details(kind: &Kind, name: &str, kind_field: &str) -> serde_json::Map<String, Value> {
    let mut d = serde_json::Map::new();
    d.insert("name".into(), name.into());
    if !kind.group().is_empty() {
        d.insert("group".into(), kind.group().into());
    }
    d.insert("kind".into(), kind_field.into());
    d
}

fn status(code: u16, reason: Option<&str>, message: String, details: Option<serde_json::Map<String, Value>>) -> Value {
    let mut s = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message});
    if let Some(r) = reason {
        s["reason"] = r.into();
    }
    if let Some(d) = details {
        s["details"] = Value::Object(d);
    }
    s["code"] = code.into();
    s
}

pub(super) fn not_found(kind: &Kind, name: &str) -> ClusterError {
    let msg = format!("{} {name:?} not found", resource(kind));
    ClusterError::from_status(404, &status(404, Some("NotFound"), msg, Some(details(kind, name, kind.plural))))
}

pub(super) fn namespace_not_found(ns: &str) -> ClusterError {
    let ns_kind = Kind::find("v1", "Namespace").unwrap_or(&crate::cluster::KINDS[0]);
    not_found(ns_kind, ns)
}

pub(super) fn already_exists(kind: &Kind, name: &str) -> ClusterError {
    let msg = format!("{} {name:?} already exists", resource(kind));
    ClusterError::from_status(409, &status(409, Some("AlreadyExists"), msg, Some(details(kind, name, kind.plural))))
}

/// 409 for a delete's uid or resourceVersion precondition that does not hold.
pub(super) fn precondition_failed(kind: &Kind, name: &str, why: &str) -> ClusterError {
    let msg = format!("Operation cannot be fulfilled on {} {name:?}: {why}", resource(kind));
    ClusterError::from_status(409, &status(409, Some("Conflict"), msg, Some(details(kind, name, kind.plural))))
}

/// 409 for a `resourceVersion` precondition that no longer holds.
pub(super) fn modified(kind: &Kind, name: &str) -> ClusterError {
    let msg = format!(
        "Operation cannot be fulfilled on {} {name:?}: the object has been modified; please apply your changes to the latest version and try again",
        resource(kind)
    );
    ClusterError::from_status(409, &status(409, Some("Conflict"), msg, Some(details(kind, name, kind.plural))))
}

pub(super) fn forbidden(kind: &Kind, name: &str, why: &str) -> ClusterError {
    let msg = format!("{} {name:?} is forbidden: {why}", resource(kind));
    ClusterError::from_status(403, &status(403, Some("Forbidden"), msg, Some(details(kind, name, kind.plural))))
}

/// One field a validation refused.
pub(super) struct FieldError {
    pub field: String,
    /// `FieldValueForbidden`, `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`.
    pub reason: &'static str,
    /// What follows the field in the message: `Forbidden: …`, `Invalid value: …: …`.
    pub detail: String,
}

impl FieldError {
    pub fn forbidden(field: &str, why: &str) -> FieldError {
        FieldError { field: field.into(), reason: "FieldValueForbidden", detail: format!("Forbidden: {why}") }
    }
    /// `Invalid value: <value as compact JSON, keys sorted>: <why>`.
    pub fn invalid(field: &str, value: &Value, why: &str) -> FieldError {
        FieldError {
            field: field.into(),
            reason: "FieldValueInvalid",
            detail: format!("Invalid value: {}: {why}", canonical(value)),
        }
    }
    pub fn required(field: &str, why: &str) -> FieldError {
        let detail = if why.is_empty() { "Required value".to_string() } else { format!("Required value: {why}") };
        FieldError { field: field.into(), reason: "FieldValueRequired", detail }
    }
    pub fn not_supported(field: &str, value: &Value, supported: &[&str]) -> FieldError {
        let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
        FieldError {
            field: field.into(),
            reason: "FieldValueNotSupported",
            detail: format!("Unsupported value: {value}: supported values: {}", list.join(", ")),
        }
    }
}

/// 422: `Kind "name" is invalid: field: detail` (several: `[a: …, b: …]`), one cause per field.
pub(super) fn invalid(kind: &Kind, name: &str, errors: Vec<FieldError>) -> ClusterError {
    let parts: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.detail)).collect();
    let what = if parts.len() == 1 { parts[0].clone() } else { format!("[{}]", parts.join(", ")) };
    let msg = format!("{} {name:?} is invalid: {what}", qualified_kind(kind));
    let mut d = details(kind, name, kind.kind);
    d.insert(
        "causes".into(),
        errors.iter().map(|e| json!({"reason": e.reason, "message": e.detail, "field": e.field})).collect(),
    );
    ClusterError::from_status(422, &status(422, Some("Invalid"), msg, Some(d)))
}

/// 409 from server-side apply: fields another manager owns, with different values.
/// `conflicts` holds (manager as printed, field path as printed), in the order found.
pub(super) fn apply_conflicts(conflicts: &[(String, String)]) -> ClusterError {
    let message = if let [(manager, path)] = conflicts {
        format!("Apply failed with 1 conflict: conflict with {manager}: {path}")
    } else {
        let mut managers: Vec<&String> = conflicts.iter().map(|(m, _)| m).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            lines.extend(conflicts.iter().filter(|(c, _)| c == m).map(|(_, p)| format!("- {p}")));
        }
        format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, p)| json!({"reason": "FieldManagerConflict", "message": format!("conflict with {m}"), "field": p}))
        .collect();
    let d = serde_json::Map::from_iter([("causes".to_string(), Value::Array(causes))]);
    ClusterError::from_status(409, &status(409, Some("Conflict"), message, Some(d)))
}

/// What a real server answers to a quantity it cannot parse in server-side apply: a 500 from
/// the conversion of the patched object (400 for a create or an update, which decode it first).
pub(super) fn bad_quantity(kind: &Kind, namespace: Option<&str>, name: &str, code: u16) -> ClusterError {
    let gvk = format!("{}/{}, Kind={}", kind.group(), kind.version(), kind.kind);
    let who = match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    };
    let msg = format!(
        "failed to convert new object ({who}; {gvk}) to proper version: unable to convert unstructured object to {gvk}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    );
    ClusterError::from_status(code, &status(code, None, msg, None))
}

/// JSON with object keys sorted at every level, compact: how Go prints maps.
pub(super) fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(keys.into_iter().map(|k| (k.clone(), sort(&m[k]))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}
