//! What a real API server refuses, for the kinds msws writes: quantities that do not parse,
//! specs it cannot accept, and fields that cannot change in place, with the payloads of
//! `tests/data/apiserver/*.status.json`.
//!
//! Order, as in the real server: a bad quantity fails the conversion first (500 for an apply);
//! then validation (422); then validating admission (the claim resize check, 403).

use serde_json::Value;

use super::status::{self, FieldError};
use crate::cluster::{ClusterError, Kind};
use crate::model::Quantity;

/// Maps whose values are quantities, and fields that are one.
const QUANTITY_MAPS: &[&str] = &["requests", "limits", "capacity", "allocatable", "overhead", "allocatedResources"];
const QUANTITY_FIELDS: &[&str] = &["sizeLimit", "divisor"];

fn is_quantity(v: &Value) -> bool {
    match v {
        Value::String(s) => Quantity::parse(s).is_ok(),
        Value::Number(_) => true,
        _ => false,
    }
}

/// Whether every quantity in the object parses.
pub(super) fn quantities_ok(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().all(|(k, c)| {
            let here = if QUANTITY_MAPS.contains(&k.as_str()) {
                c.as_object().is_none_or(|q| q.values().all(is_quantity))
            } else if QUANTITY_FIELDS.contains(&k.as_str()) {
                is_quantity(c)
            } else {
                true
            };
            here && quantities_ok(c)
        }),
        Value::Array(a) => a.iter().all(quantities_ok),
        _ => true,
    }
}

fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("")
}

/// Bytes (or cores) of a quantity; 0 when absent or unreadable.
pub(super) fn amount(v: Option<&Value>) -> f64 {
    match v {
        Some(Value::String(s)) => Quantity::parse(s).map_or(0.0, |q| q.value()),
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Checks of a spec, on create and on every update.
fn spec_errors(kind: &str, obj: &Value, errs: &mut Vec<FieldError>) {
    let restart = obj.pointer("/spec/template/spec/restartPolicy").cloned().unwrap_or(Value::Null);
    match kind {
        "Deployment" => {
            let selector = obj.pointer("/spec/selector");
            let match_labels = selector.and_then(|s| s.get("matchLabels")).and_then(Value::as_object);
            let has_expressions = selector
                .and_then(|s| s.get("matchExpressions"))
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            match match_labels.filter(|m| !m.is_empty()) {
                None if !has_expressions => errs.push(FieldError::required("spec.selector", "")),
                Some(wanted) => {
                    let labels = obj.pointer("/spec/template/metadata/labels");
                    if !wanted.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)) {
                        errs.push(FieldError::invalid(
                            "spec.template.metadata.labels",
                            labels.unwrap_or(&Value::Null),
                            "`selector` does not match template `labels`",
                        ));
                    }
                }
                None => {}
            }
            if obj.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate")
                && obj.pointer("/spec/strategy/rollingUpdate").is_some()
            {
                errs.push(FieldError::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
            if restart != "Always" {
                errs.push(FieldError::not_supported("spec.template.spec.restartPolicy", &restart, &["Always"]));
            }
        }
        "Job" if restart != "OnFailure" && restart != "Never" => {
            errs.push(FieldError::not_supported("spec.template.spec.restartPolicy", &restart, &["OnFailure", "Never"]));
        }
        "PersistentVolumeClaim" => {
            if obj.pointer("/spec/accessModes").and_then(Value::as_array).is_none_or(Vec::is_empty) {
                errs.push(FieldError::required("spec.accessModes", "at least 1 access mode is required"));
            }
            if obj.pointer("/spec/resources/requests/storage").is_none() {
                errs.push(FieldError::required("spec.resources[storage]", ""));
            }
        }
        _ => {}
    }
}

/// Validation of a new object.
pub(super) fn on_create(kind: &Kind, obj: &Value) -> Result<(), ClusterError> {
    let mut errs = Vec::new();
    spec_errors(kind.kind, obj, &mut errs);
    if errs.is_empty() { Ok(()) } else { Err(status::invalid(kind, name_of(obj), errs)) }
}

/// What an update needs to know about the rest of the cluster.
pub(super) struct Lookup<'a> {
    /// A StorageClass by name.
    pub class: &'a dyn Fn(&str) -> Option<Value>,
    /// A PersistentVolume by name.
    pub volume: &'a dyn Fn(&str) -> Option<Value>,
}

/// Validation of an update from `old` to `new` (both with defaults), then the admission checks.
pub(super) fn on_update(kind: &Kind, old: &Value, new: &Value, lookup: &Lookup) -> Result<(), ClusterError> {
    let name = name_of(new);
    let mut errs = Vec::new();
    spec_errors(kind.kind, new, &mut errs);
    let immutable = |errs: &mut Vec<FieldError>, pointer: &str, field: &str| {
        let (o, n) = (old.pointer(pointer), new.pointer(pointer));
        if o != n {
            errs.push(FieldError::invalid(field, n.unwrap_or(&Value::Null), "field is immutable"));
        }
    };
    match kind.kind {
        "Deployment" => immutable(&mut errs, "/spec/selector", "spec.selector"),
        "Job" => {
            immutable(&mut errs, "/spec/selector", "spec.selector");
            immutable(&mut errs, "/spec/template", "spec.template");
        }
        "ResourceClaimTemplate" => immutable(&mut errs, "/spec", "spec"),
        "PersistentVolumeClaim" => claim_update(old, new, &mut errs),
        _ => {}
    }
    if !errs.is_empty() {
        return Err(status::invalid(kind, name, errs));
    }
    if kind.kind == "PersistentVolumeClaim" {
        claim_resize_admission(kind, old, new, lookup)?;
    }
    Ok(())
}

/// A claim's spec is immutable, except that an unbound claim may get a `volumeName` once, and a
/// bound one may change its storage request (never below its capacity).
fn claim_update(old: &Value, new: &Value, errs: &mut Vec<FieldError>) {
    let mut o = old.get("spec").cloned().unwrap_or(Value::Null);
    let mut n = new.get("spec").cloned().unwrap_or(Value::Null);
    if o.get("volumeName").and_then(Value::as_str).unwrap_or("").is_empty()
        && let (Some(om), Some(nv)) = (o.as_object_mut(), n.get("volumeName"))
    {
        om.insert("volumeName".into(), nv.clone());
    }
    let bound = new.pointer("/status/phase").and_then(Value::as_str) == Some("Bound");
    let old_size = old.pointer("/spec/resources/requests/storage").cloned();
    if bound
        && let (Some(req), Some(size)) =
            (n.pointer_mut("/resources/requests").and_then(Value::as_object_mut), &old_size)
    {
        req.insert("storage".into(), size.clone());
    }
    for field in ["volumeAttributesClassName"] {
        match o.get(field).cloned() {
            Some(v) => {
                if let Some(m) = n.as_object_mut() {
                    m.insert(field.into(), v);
                }
            }
            None => {
                if let Some(m) = n.as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    if o != n {
        errs.push(FieldError::forbidden(
            "spec",
            &format!(
                "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n{}",
                unified(&o, &n)
            ),
        ));
    }
    let new_size = amount(new.pointer("/spec/resources/requests/storage"));
    let capacity = amount(old.pointer("/status/capacity/storage"));
    if new_size < amount(old_size.as_ref()) && new_size <= capacity {
        errs.push(FieldError::forbidden(
            "spec.resources.requests.storage",
            "field can not be less than status.capacity",
        ));
    }
}

/// The PersistentVolumeClaimResize admission plugin: growing a claim needs a class that allows
/// expansion. The fake also refuses a claim bound to a volume nobody provisioned dynamically
/// (no `pv.kubernetes.io/provisioned-by`): nothing could resize it.
fn claim_resize_admission(kind: &Kind, old: &Value, new: &Value, lookup: &Lookup) -> Result<(), ClusterError> {
    let grows = amount(new.pointer("/spec/resources/requests/storage"))
        > amount(old.pointer("/spec/resources/requests/storage"));
    if !grows {
        return Ok(());
    }
    let class = |v: &Value| v.pointer("/spec/storageClassName").and_then(Value::as_str).unwrap_or("").to_string();
    let (old_class, new_class) = (class(old), class(new));
    let expandable = !new_class.is_empty()
        && new_class == old_class
        && (lookup.class)(&new_class).is_some_and(|c| c.get("allowVolumeExpansion") == Some(&Value::Bool(true)));
    let volume = new.pointer("/spec/volumeName").and_then(Value::as_str).unwrap_or("");
    let provisioned = (lookup.volume)(volume)
        .is_some_and(|pv| pv.pointer("/metadata/annotations/pv.kubernetes.io~1provisioned-by").is_some());
    if expandable && provisioned {
        Ok(())
    } else {
        Err(status::forbidden(
            kind,
            name_of(new),
            "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize",
        ))
    }
}

/// A unified diff of two values as JSON indented by one space, hunks only: the shape of the
/// diff a real server puts in the claim's immutable-spec message (which prints Go field names).
fn unified(old: &Value, new: &Value) -> String {
    fn pretty(v: &Value) -> String {
        use serde::Serialize;
        let mut out = Vec::new();
        let mut ser =
            serde_json::Serializer::with_formatter(&mut out, serde_json::ser::PrettyFormatter::with_indent(b" "));
        // Serialising a Value into memory cannot fail.
        let _ = v.serialize(&mut ser);
        String::from_utf8(out).unwrap_or_default() + "\n"
    }
    let (a, b) = (pretty(old), pretty(new));
    let diff = similar::TextDiff::from_lines(&a, &b);
    diff.unified_diff().context_radius(3).iter_hunks().map(|h| h.to_string()).collect()
}
