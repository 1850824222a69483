//! docs/rbac.md's Role covers every kind msws writes and every verb it uses.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::docs::code_blocks;
use crate::support::root;

#[test]
fn the_documented_role_grants_what_msws_uses() {
    let md = std::fs::read_to_string(root().join("docs/rbac.md")).unwrap();
    let block = code_blocks(&md).into_iter().find(|b| b.info == "yaml rbac").expect("a ```yaml rbac block");
    let mut granted: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&block.text) {
        let v: Value = serde::Deserialize::deserialize(doc).unwrap();
        for rule in v["rules"].as_array().unwrap() {
            for g in rule["apiGroups"].as_array().unwrap() {
                for r in rule["resources"].as_array().unwrap() {
                    let verbs = rule["verbs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string());
                    granted.entry((g.as_str().unwrap().into(), r.as_str().unwrap().into())).or_default().extend(verbs);
                }
            }
        }
    }
    let need = |group: &str, resource: &str, verbs: &[&str]| {
        let have = granted.get(&(group.to_string(), resource.to_string())).cloned().unwrap_or_default();
        for v in verbs {
            assert!(have.contains(*v), "docs/rbac.md does not grant {v} on {resource} ({group})");
        }
    };
    // Every kind msws applies, as the render stage produces them.
    for k in msws::cluster::KINDS {
        let written = [
            "PersistentVolumeClaim",
            "Secret",
            "ConfigMap",
            "ServiceAccount",
            "Deployment",
            "Job",
            "ResourceClaimTemplate",
        ];
        if written.contains(&k.kind) {
            need(k.group(), k.plural, &["get", "list", "create", "patch", "delete"]);
        }
    }
    need("", "configmaps", &["update"]);
    need("", "pods", &["get", "list"]);
    need("", "pods/log", &["get"]);
    need("coordination.k8s.io", "leases", &["get", "create", "update", "delete"]);
    need("storage.k8s.io", "storageclasses", &["get"]);
    need("", "persistentvolumes", &["get"]);
}
