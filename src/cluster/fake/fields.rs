//! Field ownership and server-side apply, simplified from structured-merge-diff.
//!
//! An object is seen as a set of leaf paths. A path goes through map keys (`f:name`), items of
//! *keyed* lists (`k:{"name":"vllm"}`: containers, env, volumes, volume mounts, ports, … by their
//! merge keys) and members of *set* lists (`v:"x"`: finalizers). Every other list, and a few
//! structs the API marks atomic (label selectors, `secretKeyRef`, …), is one leaf: owned, merged
//! and replaced as a whole. Each manager owns a set of paths; that is the `managedFields` the
//! fake shows, in the API server's `FieldsV1` format.
//!
//! Simplifications (documented in the fake's module docs): the schema is a table keyed by field
//! name, not the real OpenAPI schema; a merged keyed list lists the applied items in the applied
//! order, then the items only the live object has.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Pe {
    /// A map key or struct field.
    Field(String),
    /// An item of a keyed list, by its key as compact JSON with sorted names.
    Key(String),
    /// A member of a set list, as JSON.
    Value(String),
}

pub(super) type Path = Vec<Pe>;
pub(super) type FieldSet = BTreeSet<Path>;

enum ListType {
    Atomic,
    Set,
    Keyed(&'static [&'static str]),
}

/// How the API merges a list, by the field that holds it.
fn list_type(field: &str) -> ListType {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims"
        | "claims"
        | "schedulingGates" => ListType::Keyed(&["name"]),
        "volumeMounts" => ListType::Keyed(&["mountPath"]),
        "volumeDevices" => ListType::Keyed(&["devicePath"]),
        // (A Service's `ports` are keyed by `port` and `protocol`: see `item_key`.)
        "ports" => ListType::Keyed(&["containerPort", "protocol"]),
        "conditions" => ListType::Keyed(&["type"]),
        "hostAliases" => ListType::Keyed(&["ip"]),
        "topologySpreadConstraints" => ListType::Keyed(&["topologyKey", "whenUnsatisfiable"]),
        "ownerReferences" => ListType::Keyed(&["uid"]),
        "finalizers" => ListType::Set,
        _ => ListType::Atomic,
    }
}

/// Structs the API replaces as a whole (`+structType=atomic`).
fn is_atomic_struct(field: &str) -> bool {
    matches!(
        field,
        "selector"
            | "labelSelector"
            | "namespaceSelector"
            | "secretKeyRef"
            | "configMapKeyRef"
            | "fieldRef"
            | "resourceFieldRef"
            | "claimRef"
            | "dataSource"
            | "dataSourceRef"
    )
}

/// A key field the server defaults, so an item that leaves it out still has it in its key (a
/// container port without a protocol is `{"containerPort":8000,"protocol":"TCP"}`).
fn key_default(list: &str, key: &str) -> Option<Value> {
    (list == "ports" && key == "protocol").then(|| Value::from("TCP"))
}

/// Go maps in the API types: an empty one does not survive the server's round trip.
const MAP_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "limits",
    "requests",
    "nodeSelector",
    "data",
    "stringData",
    "binaryData",
    "capacity",
    "parameters",
    "volumeAttributes",
    "matchLabels",
];

fn item_key(list: &str, keys: &[&str], item: &Value) -> Option<String> {
    let obj = item.as_object()?;
    // A Service's ports are keyed by port and protocol, a container's by container port.
    let keys = match list == "ports" && !obj.contains_key("containerPort") && obj.contains_key("port") {
        true => &["port", "protocol"][..],
        false => keys,
    };
    let mut names = keys.to_vec();
    names.sort_unstable();
    let mut key = Map::new();
    for k in names {
        match obj.get(k).filter(|v| !v.is_null()) {
            Some(v) => key.insert(k.to_string(), v.clone()),
            None => key.insert(k.to_string(), key_default(list, k)?),
        };
    }
    Some(Value::Object(key).to_string())
}

/// The keys of a keyed list's items, or `None` when an item has no key or two share one (the
/// list is then handled as atomic, as a server would reject it anyway).
fn list_keys(list: &str, keys: &[&str], items: &[Value]) -> Option<Vec<String>> {
    let ks: Vec<String> = items.iter().map(|i| item_key(list, keys, i)).collect::<Option<_>>()?;
    let unique: BTreeSet<&String> = ks.iter().collect();
    (unique.len() == ks.len()).then_some(ks)
}

fn is_scalar(v: &Value) -> bool {
    !(v.is_object() || v.is_array())
}

/// Every leaf of an object (already reduced to what is owned, see [`view`]) with its value. A
/// keyed list item is a leaf of its own (value `true`: it exists) besides its fields' leaves.
pub(super) fn leaves(v: &Value) -> BTreeMap<Path, Value> {
    let mut out = BTreeMap::new();
    if let Some(m) = v.as_object() {
        let mut path = Vec::new();
        walk_fields(m, &mut path, &mut out);
    }
    out
}

fn walk_fields(m: &Map<String, Value>, path: &mut Path, out: &mut BTreeMap<Path, Value>) {
    for (k, c) in m {
        path.push(Pe::Field(k.clone()));
        walk(c, k, path, out);
        path.pop();
    }
}

fn walk(v: &Value, field: &str, path: &mut Path, out: &mut BTreeMap<Path, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() && !is_atomic_struct(field) => walk_fields(m, path, out),
        Value::Array(items) if !items.is_empty() => match list_type(field) {
            ListType::Keyed(keys) => match list_keys(field, keys, items) {
                Some(ks) => {
                    for (item, key) in items.iter().zip(ks) {
                        path.push(Pe::Key(key));
                        out.insert(path.clone(), Value::Bool(true));
                        if let Some(m) = item.as_object() {
                            walk_fields(m, path, out);
                        }
                        path.pop();
                    }
                }
                None => {
                    out.insert(path.clone(), v.clone());
                }
            },
            ListType::Set if items.iter().all(is_scalar) => {
                for item in items {
                    path.push(Pe::Value(item.to_string()));
                    out.insert(path.clone(), Value::Bool(true));
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone(), v.clone());
            }
        },
        _ => {
            out.insert(path.clone(), v.clone());
        }
    }
}

/// The name of the last map field on a path ("" if none).
fn last_field(path: &[Pe]) -> &str {
    path.iter()
        .rev()
        .find_map(|pe| match pe {
            Pe::Field(f) => Some(f.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

/// The value a path leads to, if the object has it.
pub(super) fn value_at<'a>(v: &'a Value, path: &[Pe]) -> Option<&'a Value> {
    let mut cur = v;
    let mut field = "";
    for pe in path {
        match pe {
            Pe::Field(f) => {
                cur = cur.as_object()?.get(f)?;
                field = f;
            }
            Pe::Key(k) => {
                let ListType::Keyed(keys) = list_type(field) else { return None };
                cur = cur.as_array()?.iter().find(|i| item_key(field, keys, i).as_deref() == Some(k.as_str()))?;
            }
            Pe::Value(j) => {
                let want: Value = serde_json::from_str(j).ok()?;
                cur = cur.as_array()?.iter().find(|i| **i == want)?;
            }
        }
    }
    Some(cur)
}

fn value_at_mut<'a>(v: &'a mut Value, path: &[Pe]) -> Option<&'a mut Value> {
    let mut cur = v;
    let mut field = "";
    for pe in path {
        match pe {
            Pe::Field(f) => {
                cur = cur.as_object_mut()?.get_mut(f)?;
                field = f;
            }
            Pe::Key(k) => {
                let ListType::Keyed(keys) = list_type(field) else { return None };
                cur =
                    cur.as_array_mut()?.iter_mut().find(|i| item_key(field, keys, i).as_deref() == Some(k.as_str()))?;
            }
            Pe::Value(j) => {
                let want: Value = serde_json::from_str(j).ok()?;
                cur = cur.as_array_mut()?.iter_mut().find(|i| **i == want)?;
            }
        }
    }
    Some(cur)
}

/// Removes what a path leads to; false if the object does not have it.
pub(super) fn remove_at(v: &mut Value, path: &[Pe]) -> bool {
    let Some((last, parent_path)) = path.split_last() else { return false };
    let list = last_field(parent_path).to_string();
    let Some(parent) = value_at_mut(v, parent_path) else { return false };
    match last {
        Pe::Field(f) => parent.as_object_mut().is_some_and(|m| m.remove(f).is_some()),
        Pe::Key(k) => {
            let ListType::Keyed(keys) = list_type(&list) else { return false };
            let Some(items) = parent.as_array_mut() else { return false };
            let before = items.len();
            items.retain(|i| item_key(&list, keys, i).as_deref() != Some(k.as_str()));
            items.len() != before
        }
        Pe::Value(j) => {
            let Ok(want) = serde_json::from_str::<Value>(j) else { return false };
            let Some(items) = parent.as_array_mut() else { return false };
            let before = items.len();
            items.retain(|i| *i != want);
            items.len() != before
        }
    }
}

/// Merges an applied configuration into a live object: maps field by field, keyed lists item by
/// item, sets by union, everything else replaced.
pub(super) fn merge(live: &mut Value, applied: &Value, field: &str) {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) if !is_atomic_struct(field) => {
            for (k, av) in a {
                match l.get_mut(k) {
                    Some(lv) => merge(lv, av, k),
                    None => {
                        l.insert(k.clone(), av.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(a)) => match list_type(field) {
            ListType::Keyed(keys) => match (list_keys(field, keys, l), list_keys(field, keys, a)) {
                (Some(lk), Some(ak)) => {
                    let mut out = Vec::with_capacity(l.len().max(a.len()));
                    for (item, key) in a.iter().zip(&ak) {
                        match lk.iter().position(|x| x == key) {
                            Some(i) => {
                                let mut merged = l[i].clone();
                                merge(&mut merged, item, "");
                                out.push(merged);
                            }
                            None => out.push(item.clone()),
                        }
                    }
                    out.extend(l.iter().zip(&lk).filter(|(_, k)| !ak.contains(k)).map(|(i, _)| i.clone()));
                    *l = out;
                }
                _ => *l = a.clone(),
            },
            ListType::Set => {
                for item in a {
                    if !l.contains(item) {
                        l.push(item.clone());
                    }
                }
            }
            ListType::Atomic => *l = a.clone(),
        },
        (l, a) => *l = a.clone(),
    }
}

/// What the API server's round trip through its Go types does to an object written to it: null
/// fields, empty lists and empty Go maps disappear.
pub(super) fn normalize(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for c in m.values_mut() {
                normalize(c);
            }
            m.retain(|k, c| {
                !(c.is_null()
                    || c.as_array().is_some_and(Vec::is_empty)
                    || (MAP_FIELDS.contains(&k.as_str()) && c.as_object().is_some_and(Map::is_empty)))
            });
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

/// Which part of an object a write owns: the main resource or the status subresource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    Main,
    Status,
}

/// The part of an object whose fields are owned in a scope: for the main resource everything but
/// `apiVersion`, `kind`, `status` and the server's metadata (labels, annotations, finalizers and
/// owner references stay).
pub(super) fn view(obj: &Value, scope: Scope) -> Value {
    let mut out = Map::new();
    let Some(m) = obj.as_object() else { return Value::Object(out) };
    match scope {
        Scope::Status => {
            if let Some(s) = m.get("status") {
                out.insert("status".into(), s.clone());
            }
        }
        Scope::Main => {
            for (k, v) in m {
                match k.as_str() {
                    "apiVersion" | "kind" | "status" => {}
                    "metadata" => {
                        let mut meta = Map::new();
                        for key in ["labels", "annotations", "finalizers", "ownerReferences"] {
                            if let Some(x) = v.get(key) {
                                meta.insert(key.into(), x.clone());
                            }
                        }
                        if !meta.is_empty() {
                            out.insert(k.clone(), Value::Object(meta));
                        }
                    }
                    _ => {
                        out.insert(k.clone(), v.clone());
                    }
                }
            }
        }
    }
    Value::Object(out)
}

/// A path as SSA conflict messages print it: `.spec.template.spec.containers[name="vllm"].image`.
pub(super) fn path_string(p: &[Pe]) -> String {
    let mut s = String::new();
    for pe in p {
        match pe {
            Pe::Field(f) => {
                s.push('.');
                s.push_str(f);
            }
            Pe::Key(k) => {
                let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                    .map(|m| m.iter().map(|(n, v)| format!("{n}={v}")).collect())
                    .unwrap_or_default();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Pe::Value(v) => s.push_str(&format!("[={v}]")),
        }
    }
    s
}

/// A set of paths in the API server's `FieldsV1` format.
pub(super) fn fields_v1(set: &FieldSet) -> Value {
    #[derive(Default)]
    struct Node(BTreeMap<String, Node>);
    fn to_json(n: &Node) -> Value {
        Value::Object(n.0.iter().map(|(k, c)| (k.clone(), to_json(c))).collect())
    }
    let mut root = Node::default();
    for p in set {
        let mut node = &mut root;
        for pe in p {
            let token = match pe {
                Pe::Field(f) => format!("f:{f}"),
                Pe::Key(k) => format!("k:{k}"),
                Pe::Value(v) => format!("v:{v}"),
            };
            node = node.0.entry(token).or_default();
        }
        if matches!(p.last(), Some(Pe::Key(_))) {
            node.0.entry(".".into()).or_default();
        }
    }
    to_json(&root)
}

/// One `managedFields` entry: a manager, how it wrote (apply or update, maybe to a subresource)
/// and the fields it owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Manager {
    pub name: String,
    pub apply: bool,
    pub subresource: Option<String>,
    pub api_version: String,
    pub time: String,
    pub fields: FieldSet,
}

impl Manager {
    pub fn is(&self, name: &str, apply: bool, subresource: Option<&str>) -> bool {
        self.name == name && self.apply == apply && self.subresource.as_deref() == subresource
    }

    /// The manager as SSA conflict messages name it: `"kubectl" with subresource "scale" using
    /// apps/v1` for an update, `"other"` for an applier.
    pub fn describe(&self) -> String {
        let mut s = format!("{:?}", self.name);
        if let Some(sub) = &self.subresource {
            s += &format!(" with subresource {sub:?}");
        }
        if !self.apply {
            s += &format!(" using {}", self.api_version);
        }
        s
    }

    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), self.name.clone().into());
        m.insert("operation".into(), if self.apply { "Apply" } else { "Update" }.into());
        m.insert("apiVersion".into(), self.api_version.clone().into());
        m.insert("time".into(), self.time.clone().into());
        m.insert("fieldsType".into(), "FieldsV1".into());
        m.insert("fieldsV1".into(), fields_v1(&self.fields));
        if let Some(s) = &self.subresource {
            m.insert("subresource".into(), s.clone().into());
        }
        Value::Object(m)
    }
}

/// Records an update (not an apply) by a manager: it takes every field whose value it changed
/// or added, from whoever owned it; fields it removed are nobody's any more.
pub(super) fn record_update(
    managers: &mut Vec<Manager>,
    who: (&str, Option<&str>),
    api_version: &str,
    time: &str,
    old: &Value,
    new: &Value,
    scope: Scope,
) {
    let before = leaves(&view(old, scope));
    let after = leaves(&view(new, scope));
    let changed: FieldSet = after.iter().filter(|(p, v)| before.get(*p) != Some(v)).map(|(p, _)| p.clone()).collect();
    let removed: FieldSet = before.keys().filter(|p| !after.contains_key(*p)).cloned().collect();
    if changed.is_empty() && removed.is_empty() {
        return;
    }
    for m in managers.iter_mut() {
        let me = m.is(who.0, false, who.1);
        m.fields.retain(|p| !removed.contains(p) && (me || !changed.contains(p)));
    }
    if !changed.is_empty() {
        let idx = match managers.iter().position(|m| m.is(who.0, false, who.1)) {
            Some(i) => i,
            None => {
                managers.push(Manager {
                    name: who.0.to_string(),
                    apply: false,
                    subresource: who.1.map(str::to_string),
                    api_version: api_version.to_string(),
                    time: time.to_string(),
                    fields: FieldSet::new(),
                });
                managers.len() - 1
            }
        };
        let m = &mut managers[idx];
        m.fields.extend(changed);
        m.time = time.to_string();
        m.api_version = api_version.to_string();
    }
    managers.retain(|m| !m.fields.is_empty());
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keyed_lists_merge_by_key_and_atomic_lists_replace() {
        let mut live = json!({"spec": {"containers": [
            {"name": "a", "image": "x", "args": ["1", "2"]},
            {"name": "b", "image": "y"}
        ]}});
        let applied = json!({"spec": {"containers": [{"name": "a", "args": ["3"]}, {"name": "c", "image": "z"}]}});
        merge(&mut live, &applied, "");
        assert_eq!(
            live,
            json!({"spec": {"containers": [
                {"name": "a", "image": "x", "args": ["3"]},
                {"name": "c", "image": "z"},
                {"name": "b", "image": "y"}
            ]}})
        );
    }

    #[test]
    fn paths_find_and_remove_keyed_items_with_defaulted_keys() {
        let mut obj = json!({"spec": {"ports": [{"containerPort": 80}, {"containerPort": 81, "protocol": "UDP"}]}});
        let l = leaves(&obj);
        let key = Pe::Key(r#"{"containerPort":80,"protocol":"TCP"}"#.into());
        let item = vec![Pe::Field("spec".into()), Pe::Field("ports".into()), key];
        assert_eq!(l.get(&item), Some(&Value::Bool(true)));
        assert_eq!(path_string(&item), r#".spec.ports[containerPort=80,protocol="TCP"]"#);
        assert!(remove_at(&mut obj, &item));
        assert_eq!(obj, json!({"spec": {"ports": [{"containerPort": 81, "protocol": "UDP"}]}}));
    }

    #[test]
    fn an_update_takes_the_fields_it_changes() {
        let old = json!({"spec": {"replicas": 1, "paused": false}});
        let new = json!({"spec": {"replicas": 3, "paused": false}});
        let mut managers = vec![Manager {
            name: "msws".into(),
            apply: true,
            subresource: None,
            api_version: "apps/v1".into(),
            time: "t".into(),
            fields: leaves(&old).into_keys().collect(),
        }];
        record_update(&mut managers, ("kubectl", Some("scale")), "apps/v1", "t2", &old, &new, Scope::Main);
        let replicas = vec![Pe::Field("spec".into()), Pe::Field("replicas".into())];
        assert!(!managers[0].fields.contains(&replicas));
        assert!(managers[1].fields.contains(&replicas));
        assert_eq!(managers[1].describe(), r#""kubectl" with subresource "scale" using apps/v1"#);
    }
}
