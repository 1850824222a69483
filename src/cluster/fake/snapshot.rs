//! A comparable picture of the whole fake cluster, for "the cluster is as before, except …".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use super::fields;
use crate::cluster::ObjectRef;

/// Every object of a fake cluster without what changes when nothing meaningful did: `uid`
/// (and every reference to one, shown as `uid(Kind namespace/name)`), `resourceVersion`,
/// `generation`, `creationTimestamp`, `managedFields`, and a claim reference's resource
/// version. Everything else (status and simulated times included) stays. Events are left out:
/// they are a record of what happened, not state (a real cluster expires them after an hour).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub objects: BTreeMap<ObjectRef, Value>,
}

impl Snapshot {
    pub(super) fn new(objects: BTreeMap<ObjectRef, Value>) -> Snapshot {
        let names: BTreeMap<String, String> = objects
            .iter()
            .filter_map(|(r, o)| {
                let uid = o.pointer("/metadata/uid")?.as_str()?;
                let ns = r.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default();
                Some((uid.to_string(), format!("uid({} {ns}{})", r.kind, r.name)))
            })
            .collect();
        let objects = objects
            .into_iter()
            // Nodes change by themselves (the images they hold), as events come and go.
            .filter(|(r, _)| r.kind != "Event" && r.kind != "Node")
            .map(|(r, mut o)| {
                if let Some(m) = o.get_mut("metadata").and_then(Value::as_object_mut) {
                    for k in ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"]
                    {
                        m.remove(k);
                    }
                }
                if let Some(c) = o.pointer_mut("/spec/claimRef").and_then(Value::as_object_mut) {
                    c.remove("resourceVersion");
                }
                replace_uids(&mut o, &names);
                (r, o)
            })
            .collect();
        Snapshot { objects }
    }

    pub fn get(&self, r: &ObjectRef) -> Option<&Value> {
        self.objects.get(r)
    }

    /// The same snapshot without objects of these kinds (pods and replica sets have generated
    /// names, so a re-created Deployment's differ).
    pub fn without_kinds(&self, kinds: &[&str]) -> Snapshot {
        Snapshot {
            objects: self
                .objects
                .iter()
                .filter(|(r, _)| !kinds.contains(&r.kind.as_str()))
                .map(|(r, o)| (r.clone(), o.clone()))
                .collect(),
        }
    }

    /// What changed from `self` to `after`, one line per object and field, sorted:
    /// `+ Kind ns/name`, `- Kind ns/name`, `~ Kind ns/name .spec.replicas`.
    pub fn diff(&self, after: &Snapshot) -> Vec<String> {
        let mut out = Vec::new();
        let refs: BTreeSet<&ObjectRef> = self.objects.keys().chain(after.objects.keys()).collect();
        for r in refs {
            match (self.objects.get(r), after.objects.get(r)) {
                (None, Some(_)) => out.push(format!("+ {r}")),
                (Some(_), None) => out.push(format!("- {r}")),
                (Some(a), Some(b)) if a != b => {
                    let (la, lb) = (fields::leaves(a), fields::leaves(b));
                    let paths: BTreeSet<&fields::Path> = la.keys().chain(lb.keys()).collect();
                    for p in paths {
                        if la.get(p) != lb.get(p) {
                            out.push(format!("~ {r} {}", fields::path_string(p)));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }
}

impl fmt::Display for Snapshot {
    /// YAML documents, one per object, in key order: stable for `insta`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in self.objects.values() {
            writeln!(f, "---")?;
            write!(f, "{}", serde_yaml_ng::to_string(o).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

fn replace_uids(v: &mut Value, names: &BTreeMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(n) = names.get(s.as_str()) {
                *s = n.clone();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| replace_uids(x, names)),
        Value::Object(m) => m.values_mut().for_each(|x| replace_uids(x, names)),
        _ => {}
    }
}
