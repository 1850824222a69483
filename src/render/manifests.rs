//! A model service whose workloads are the user's manifests (llm-d's Kustomize recipes): the
//! objects as they are, with msws's ownership labels and the workspace's namespace, and each pod
//! template of a Deployment, LeaderWorkerSet or DisaggregatedSet pointed at the model on the claim
//! — what the runbook does by hand:
//!
//! - the claim as a read-only volume `model-storage`, mounted at the model service's mount path in
//!   the serving container;
//! - the serving container's model argument (`vllm serve <model>`, `--model`) pointing at the
//!   model there (`pvc://`: its directory; `pvc+hf://`: the repository id, with `HF_HUB_CACHE`);
//! - `--served-model-name` added when the command has none, so clients keep the name they know;
//! - `HF_HUB_OFFLINE=1`: the hub is never asked at start;
//! - the rollout that a claim one node can attach needs (a Deployment's `Recreate`; for
//!   LeaderWorkerSets and DisaggregatedSet roles, no surge and everything unavailable at once);
//! - the model's revision on the pod template, so new weights roll the pods.
//!
//! Every change is listed, with its reason, for `msws render` and `msws plan` to show.

use serde_json::{Value, json};

use super::{Dynamic, MODEL_VOLUME, Meta, Object};
use crate::graph::StepId;
use crate::model::workloads::{self, ModelArg};
use crate::model::{Lookup, Manifests, ModelService, ModelSource, ModelUri, Workspace};

/// The objects of the model service, and the changes made to the manifests.
pub(super) fn objects(
    svc: &ModelService,
    m: &Manifests,
    ws: &Workspace,
    lookup: &Lookup,
    meta: &Meta,
    step: &StepId,
) -> (Vec<Object>, Vec<String>) {
    let mut out = Vec::new();
    let mut changes = Vec::new();
    for o in &m.objects {
        let mut v = Value::Object(o.clone());
        let kind = v["kind"].as_str().unwrap_or("").to_string();
        let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
        let what = format!("{kind}/{name}");
        for t in workloads::templates(&v) {
            point_at_model(svc, m, ws, &mut v, &t.pointer, &what, &mut changes);
        }
        if single_attach(svc, lookup) {
            recreate(&mut v, &kind, &what, &mut changes);
        }
        out.push(Object::Dynamic(Box::new(owned(&v, meta, step))));
    }
    (out, changes)
}

/// Whether the pods mount a claim only one node (or pod) can attach.
fn single_attach(svc: &ModelService, lookup: &Lookup) -> bool {
    svc.model.uri().claim().is_some_and(|c| lookup.single_attach(c))
}

/// Points one pod template at the model on the claim.
fn point_at_model(
    svc: &ModelService,
    m: &Manifests,
    ws: &Workspace,
    obj: &mut Value,
    pointer: &str,
    what: &str,
    changes: &mut Vec<String>,
) {
    let uri = svc.model.uri();
    let Some(claim) = uri.claim() else { return };
    let here = shown_path(obj, pointer);
    let Some(template) = obj.pointer_mut(pointer) else { return };
    let Some(spec) = template.get("spec").cloned() else { return };
    let serving = workloads::serving(&spec, m.serving_container.as_deref()).ok().flatten();
    let mount = svc.mount_path.clone();
    let at = |field: &str| format!("{what} {}", field);

    // The pod template's revision annotation: new weights at the same path restart the pods.
    if let ModelSource::Download { name, .. } = &svc.model
        && let Some(d) = ws.download(name)
    {
        let annotations = &mut template["metadata"]["annotations"];
        if !annotations.is_object() {
            *annotations = json!({});
        }
        annotations[super::keys::MODEL_REVISION] = json!(format!("{}@{}", d.source_uri(), d.revision));
    }
    let Some(spec) = template.get_mut("spec") else { return };

    // The claim, read-only, as the `model-storage` volume.
    let volumes = spec["volumes"].as_array_mut().map(std::mem::take).unwrap_or_default();
    let mut volumes: Vec<Value> = volumes.into_iter().filter(|v| v["name"] != MODEL_VOLUME).collect();
    volumes
        .push(json!({"name": MODEL_VOLUME, "persistentVolumeClaim": {"claimName": claim, "readOnly": svc.read_only}}));
    spec["volumes"] = Value::Array(volumes);
    changes.push(format!(
        "{}: + volume {MODEL_VOLUME} (claim {claim}{}): the model is on the claim",
        at(&format!("{here}.spec.volumes")),
        if svc.read_only { ", read-only" } else { "" }
    ));

    let containers = spec["containers"].as_array_mut();
    let Some(containers) = containers else { return };
    // The serving container; in a template without one (a LeaderWorkerSet's workers, which run
    // no `vllm serve` of their own), the container of the same name as in the workload's other
    // template, else the first: it reads the same weights.
    let index = match &serving {
        Some(s) => s.index,
        None => m
            .serving_container
            .as_ref()
            .and_then(|n| containers.iter().position(|c| c["name"] == n.as_str()))
            .unwrap_or(0),
    };
    let Some(c) = containers.get_mut(index) else { return };
    let cname = c["name"].as_str().unwrap_or("").to_string();
    let cpath = format!("{here}.spec.containers[{cname}]");

    // The mount.
    let mounts = c["volumeMounts"].as_array_mut().map(std::mem::take).unwrap_or_default();
    let mut mounts: Vec<Value> =
        mounts.into_iter().filter(|v| v["name"] != MODEL_VOLUME && v["mountPath"] != mount.as_str()).collect();
    let mut mount_v = json!({"name": MODEL_VOLUME, "mountPath": mount});
    if svc.read_only {
        mount_v["readOnly"] = json!(true);
    }
    mounts.push(mount_v);
    c["volumeMounts"] = Value::Array(mounts);
    changes.push(format!("{}: + mount {MODEL_VOLUME} at {mount}", at(&format!("{cpath}.volumeMounts"))));

    // The model argument, and the name clients send.
    if let Some(s) = &serving {
        let to = match uri {
            ModelUri::Pvc { path, .. } if path.is_empty() => mount.clone(),
            ModelUri::Pvc { path, .. } => format!("{}/{path}", mount.trim_end_matches('/')),
            ModelUri::PvcHf { repo, .. } => repo.clone(),
            _ => s.model_id.clone(),
        };
        if to != s.model_id {
            workloads::replace_model(c, &s.model, &to);
            let field = match &s.model {
                ModelArg::Positional { field, index }
                | ModelArg::Flag { field, index, .. }
                | ModelArg::Shell { field, index, .. } => {
                    format!("{field}[{index}]")
                }
            };
            changes.push(format!(
                "{}: {} → {to}: serve the model from the claim, not from the hub",
                at(&format!("{cpath}.{field}")),
                s.model_id
            ));
        }
        if !s.served_name_given {
            let served = svc.served_name.clone().unwrap_or_else(|| s.model_id.clone());
            match &s.model {
                ModelArg::Shell { field, index, .. } => {
                    // Right after the model in the script (found again: its range moved when
                    // the model changed).
                    if let Some(slot) = c.get_mut(*field).and_then(|a| a.get_mut(*index)) {
                        let text = slot.as_str().unwrap_or("").to_string();
                        if let Some(p) = text.find("vllm serve ") {
                            let from = p + "vllm serve ".len();
                            let start = from + (text[from..].len() - text[from..].trim_start().len());
                            let pos = start + text[start..].find(char::is_whitespace).unwrap_or(text.len() - start);
                            *slot = json!(format!("{} --served-model-name {served}{}", &text[..pos], &text[pos..]));
                        }
                    }
                }
                _ => {
                    let args = c["args"].as_array_mut().map(std::mem::take).unwrap_or_default();
                    let mut args = args;
                    args.extend([json!("--served-model-name"), json!(served)]);
                    c["args"] = Value::Array(args);
                }
            }
            changes.push(format!(
                "{}: + --served-model-name {served}: clients keep the model name they send",
                at(&format!("{cpath}.args"))
            ));
        }
    }

    // The environment: no hub at start; the cache on the claim for `pvc+hf://`.
    let mut env = c["env"].as_array_mut().map(std::mem::take).unwrap_or_default();
    let mut set = |name: &str, value: String, why: &str, changes: &mut Vec<String>| {
        let current = env.iter().position(|e| e["name"] == name);
        if let Some(i) = current {
            if env[i]["value"] == value.as_str() {
                return;
            }
            env[i] = json!({"name": name, "value": value});
        } else {
            env.push(json!({"name": name, "value": value}));
        }
        changes.push(format!("{}: {name}={value}: {why}", at(&format!("{cpath}.env"))));
    };
    set("HF_HUB_OFFLINE", "1".into(), "vLLM loads the model from the claim and never downloads it", changes);
    if let ModelUri::PvcHf { cache, .. } = uri {
        set(
            "HF_HUB_CACHE",
            format!("{}/{cache}", mount.trim_end_matches('/')),
            "the Hugging Face cache is on the claim",
            changes,
        );
    }
    c["env"] = Value::Array(env);
}

/// A pod template's place for people: `spec.roles[decode].spec.leaderWorkerTemplate.workerTemplate`.
fn shown_path(obj: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut cur = obj;
    for part in pointer.trim_start_matches('/').split('/') {
        let next = match cur {
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            Value::Object(m) => m.get(part),
            _ => None,
        };
        match (cur, next) {
            (Value::Array(_), Some(item)) => {
                let name = item.get("name").and_then(Value::as_str).unwrap_or(part);
                out.push_str(&format!("[{name}]"));
            }
            _ => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(part);
            }
        }
        match next {
            Some(n) => cur = n,
            None => break,
        }
    }
    out
}

/// The rollout a claim only one node can attach needs: the old pods go before new ones start.
fn recreate(obj: &mut Value, kind: &str, what: &str, changes: &mut Vec<String>) {
    let lws = |spec: &mut Value, path: &str, changes: &mut Vec<String>| {
        spec["rolloutStrategy"] = json!({
            "type": "RollingUpdate",
            "rollingUpdateConfiguration": {"maxSurge": 0, "maxUnavailable": "100%"}
        });
        changes.push(format!(
            "{what} {path}.rolloutStrategy: no surge, all unavailable at once: new pods need the claim the old ones hold"
        ));
    };
    match kind {
        "Deployment" => {
            obj["spec"]["strategy"] = json!({"type": "Recreate"});
            changes.push(format!(
                "{what} spec.strategy: Recreate: a new pod needs the claim (and the accelerators) the old one holds"
            ));
        }
        "LeaderWorkerSet" => lws(&mut obj["spec"], "spec", changes),
        "DisaggregatedSet" => {
            let n = obj.pointer("/spec/roles").and_then(Value::as_array).map_or(0, Vec::len);
            for i in 0..n {
                let role = obj["spec"]["roles"][i]["name"].as_str().unwrap_or("?").to_string();
                lws(&mut obj["spec"]["roles"][i]["spec"], &format!("spec.roles[{role}].spec"), changes);
            }
        }
        _ => {}
    }
}

/// The object with msws's ownership labels and annotations and the workspace's namespace.
fn owned(v: &Value, meta: &Meta, step: &StepId) -> Dynamic {
    let name = v.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let given: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta =
        v.get("metadata").and_then(|m| serde_json::from_value(m.clone()).ok()).unwrap_or_default();
    let own = meta.object(name, step, &Default::default(), &Default::default());
    let mut metadata = given;
    metadata.namespace = own.namespace;
    let mut labels = metadata.labels.take().unwrap_or_default();
    labels.extend(own.labels.unwrap_or_default());
    metadata.labels = Some(labels);
    let mut annotations = metadata.annotations.take().unwrap_or_default();
    annotations.extend(own.annotations.unwrap_or_default());
    metadata.annotations = Some(annotations);
    let body = v
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata" | "status"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Dynamic {
        api_version: v["apiVersion"].as_str().unwrap_or("").to_string(),
        kind: v["kind"].as_str().unwrap_or("").to_string(),
        metadata,
        body,
    }
}
