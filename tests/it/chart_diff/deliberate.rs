//! The deliberate differences between msws and the chart (docs/modelservice.md, "Deliberate
//! differences"), in one table: what each matches, and why msws differs there. Each is matched
//! narrowly — a field of a kind of container, under a condition of the values — never a whole
//! object. Most rewrite the pair of objects before they are compared (the chart's object into
//! what msws renders on purpose, or msws's addition taken out); a refusal matches a problem
//! msws reports for values it refuses on purpose.
//!
//! The test counts how often each one applies, and reports those that never did: an entry that
//! matches nothing is either stale or matched too narrowly to catch what it is for.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::compare::pod_specs_mut;

/// What a deliberate difference applies to.
pub enum Apply {
    /// Rewrites a pair of objects (the chart's, msws's); returns how many places it changed.
    Objects(fn(&Ctx, &mut Value, &mut Value) -> usize),
    /// A problem msws reports for values it refuses on purpose: whether this one is it.
    Refusal(fn(&Ctx, &str) -> bool),
}

pub struct Deliberate {
    pub id: &'static str,
    /// What it matches, exactly.
    pub matches: &'static str,
    /// Why msws differs (docs/modelservice.md).
    pub reason: &'static str,
    pub apply: Apply,
}

/// The case a deliberate difference is looked for in.
pub struct Ctx {
    /// The values the templates saw: the chart's defaults coalesced with the case's.
    pub values: Value,
}

pub const DELIBERATE: &[Deliberate] = &[
    Deliberate {
        id: "no-duplicate-env",
        matches: "in a container of the chart's pod (decode, prefill, the requester's patch): a later entry of \
                  DP_SIZE, TP_SIZE, DP_SIZE_LOCAL, HF_HOME, HF_HUB_CACHE, HF_TOKEN or the role's accelerator \
                  environment, when the container's own `env` sets the name first; the later entry is dropped",
        reason: "the chart appends its variables after the container's own, so a name appears twice (Kubernetes \
                 takes the last); server-side apply rejects a list with two entries of one key, so msws keeps \
                 the container's value and does not add its own",
        apply: Apply::Objects(no_duplicate_env),
    },
    Deliberate {
        id: "model-containers-only",
        matches: "in a role that has a model container (one that mounts the model or runs vllmServe or \
                  imageDefault), in each of its other containers: the chart's DP_SIZE, TP_SIZE, DP_SIZE_LOCAL, \
                  HF_TOKEN, accelerator and tracing (OTEL_*) environment the container does not set itself, the \
                  accelerator resource in limits and requests the container does not give itself, and the DRA \
                  accelerator claim in its resources.claims; all are dropped from the chart's container",
        reason: "the chart adds them to every container, so a sidecar in a GPU role requests the role's GPUs \
                 again; msws adds them to model containers only (a role without one gets them on every \
                 container, as in the chart, so that it is not scheduled without its accelerators)",
        apply: Apply::Objects(model_containers_only),
    },
    Deliberate {
        id: "autoscaled-deployment-no-replicas",
        matches: "a Deployment of a role with autoscaling.enabled: the chart's spec.replicas is dropped",
        reason: "the chart leaves replicas out of an autoscaled LeaderWorkerSet but writes them into a \
                 Deployment; every apply would then set the count back and fight the autoscaler",
        apply: Apply::Objects(autoscaled_deployment_no_replicas),
    },
    Deliberate {
        id: "hf-hub-cache-follows-mount-path",
        matches: "with a pvc+hf:// URI and a modelArtifacts.mountPath other than /model-cache: the chart's \
                  HF_HUB_CACHE=/model-cache/<cache> becomes <mountPath>/<cache>",
        reason: "the chart hard-codes /model-cache; msws points at where the model volume is mounted",
        apply: Apply::Objects(hf_hub_cache_follows_mount_path),
    },
    Deliberate {
        id: "pvc-claim-root",
        matches: "with a pvc://<claim> URI without a path: the chart's model argument <mountPath>/<claim> of a \
                  vllmServe or imageDefault container becomes <mountPath>",
        reason: "the chart takes the claim's name for a directory in it; msws serves the claim's root",
        apply: Apply::Objects(pvc_claim_root),
    },
    Deliberate {
        id: "rolling-update-default",
        matches: "a Deployment the chart gives no strategy: msws's spec.strategy \
                  {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}} is dropped",
        reason: "Kubernetes' default, written out so that msws owns it: a default the server fills in belongs \
                 to no field manager, and a later switch to Recreate would be refused for the rollingUpdate it \
                 leaves behind",
        apply: Apply::Objects(rolling_update_default),
    },
    Deliberate {
        id: "recreate-single-attach",
        matches: "a Deployment the chart gives no strategy whose pods mount a persistentVolumeClaim: msws's \
                  spec.strategy {type: Recreate} is dropped",
        reason: "a ReadWriteOnce or ReadWriteOncePod claim attaches to one node: a rolling update's new pod \
                 waits forever for the volume (and for the GPUs the old pod holds)",
        apply: Apply::Objects(recreate_single_attach),
    },
    Deliberate {
        id: "model-revision-annotation",
        matches: "msws's pod template annotation msws.io/model-revision (Deployment, LeaderWorkerSet, ReplicaSet)",
        reason: "msws records the revision of a model it downloaded, so that a new revision rolls the pods",
        apply: Apply::Objects(model_revision_annotation),
    },
    Deliberate {
        id: "model-mount-refused",
        matches: "msws refuses the workspace (msws::model-mount, `container … serves … but does not mount it`, \
                  from the import or the load) \
                  when the URI is pvc:// or oci:// and a created role has a vllmServe or imageDefault container \
                  without mountModelVolume",
        reason: "the chart passes the model's path to vLLM even where the volume is not mounted, and vLLM fails \
                 at start; msws says so before anything is applied",
        apply: Apply::Refusal(model_mount_refused),
    },
];

// ---------------------------------------------------------------------------------- the values

fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| v.get(k).unwrap_or(&Value::Null))
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// The role an object renders: a workload's name ends with it; the requester's ReplicaSet is
/// the decode role.
fn role_of(o: &Value) -> Option<&'static str> {
    let name = o.pointer("/metadata/name")?.as_str()?;
    match o["kind"].as_str()? {
        "ReplicaSet" => Some("decode"),
        "Deployment" | "LeaderWorkerSet" if name.ends_with("-decode") => Some("decode"),
        "Deployment" | "LeaderWorkerSet" if name.ends_with("-prefill") => Some("prefill"),
        _ => None,
    }
}

/// The values of a rendered container: the first of the role's containers with its name (the
/// chart names a container without a name `vllm`).
fn values_container<'a>(cx: &'a Ctx, role: &str, name: &str) -> Option<&'a Value> {
    get(&cx.values, role)["containers"]
        .as_array()?
        .iter()
        .find(|c| c.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or("vllm") == name)
}

fn model_command(c: &Value) -> &str {
    c.get("modelCommand").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or("custom")
}

/// A model container, as msws has it: it mounts the model or runs a vLLM command.
fn is_model_container(c: &Value) -> bool {
    truthy(&c["mountModelVolume"]) || matches!(model_command(c), "vllmServe" | "imageDefault")
}

fn own_env_names(c: &Value) -> BTreeSet<String> {
    c["env"].as_array().into_iter().flatten().filter_map(|e| e["name"].as_str().map(str::to_string)).collect()
}

/// The role's accelerator type (`acceleratorType` helper).
fn accelerator_type(cx: &Ctx, role: &str) -> String {
    let own = get(&cx.values, role)["accelerator"].get("type");
    match own {
        Some(t) => t.as_str().unwrap_or("").to_string(),
        None => get(&cx.values, "accelerator.type").as_str().filter(|s| !s.is_empty()).unwrap_or("nvidia").to_string(),
    }
}

fn dra(cx: &Ctx, role: &str) -> bool {
    match get(&cx.values, role)["accelerator"].get("dra") {
        Some(d) => truthy(d),
        None => truthy(get(&cx.values, "accelerator.dra")),
    }
}

/// The resource the chart requests the role's accelerator through, for a container
/// (`acceleratorResource` helper); None for the simulator and for CPUs.
fn accelerator_resource(cx: &Ctx, role: &str, c: &Value) -> Option<String> {
    let t = accelerator_type(cx, role);
    if c["image"].as_str().is_some_and(|i| i.contains("llm-d-inference-sim")) || t == "cpu" {
        return None;
    }
    Some(get(&cx.values, "accelerator.resources")[&t].as_str().unwrap_or("nvidia.com/gpu").to_string())
}

/// The environment the chart adds for the role's accelerator type.
fn accelerator_env(cx: &Ctx, role: &str) -> Vec<String> {
    let t = accelerator_type(cx, role);
    if t == "cpu" {
        return vec![];
    }
    get(&cx.values, "accelerator.env")[&t]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str().map(str::to_string))
        .collect()
}

/// The pod claim of a role's DRA accelerator (`acceleratorClaimName` helper).
fn dra_claim_name(cx: &Ctx, role: &str) -> String {
    let t = accelerator_type(cx, role);
    let templates = get(&cx.values, "accelerator.resourceClaimTemplates");
    match templates.get(&t) {
        Some(tpl) if truthy(&tpl["name"]) => {
            let name = tpl["name"].as_str().unwrap_or("");
            format!("{}-{role}-claim", name.strip_suffix("-claim-template").unwrap_or(name))
        }
        _ => format!("{t}-{role}-claim"),
    }
}

fn uri(cx: &Ctx) -> (String, String) {
    let uri = get(&cx.values, "modelArtifacts.uri").as_str().unwrap_or("").to_string();
    match uri.split_once("://") {
        Some((s, rest)) => (s.to_string(), rest.to_string()),
        None => (uri, String::new()),
    }
}

fn mount_path(cx: &Ctx) -> String {
    get(&cx.values, "modelArtifacts.mountPath").as_str().unwrap_or("").to_string()
}

/// Each container of each pod spec of the object (not init containers: the chart adds nothing
/// to those), with the role.
fn containers_mut(o: &mut Value) -> Vec<(&'static str, &mut Value)> {
    let Some(role) = role_of(o) else { return vec![] };
    let mut out = Vec::new();
    for spec in pod_specs_mut(o) {
        if let Some(Value::Array(cs)) = spec.get_mut("containers") {
            out.extend(cs.iter_mut().map(|c| (role, c)));
        }
    }
    out
}

// ---------------------------------------------------------------------------------- the rewrites

const CHART_ENV: &[&str] = &["DP_SIZE", "TP_SIZE", "DP_SIZE_LOCAL", "HF_HOME", "HF_HUB_CACHE", "HF_TOKEN"];

fn no_duplicate_env(cx: &Ctx, e: &mut Value, _: &mut Value) -> usize {
    let mut n = 0;
    for (role, c) in containers_mut(e) {
        let mut added: Vec<String> = CHART_ENV.iter().map(|s| s.to_string()).collect();
        added.extend(accelerator_env(cx, role));
        let Some(Value::Array(env)) = c.get_mut("env") else { continue };
        let mut seen = BTreeSet::new();
        env.retain(|item| {
            let name = item["name"].as_str().unwrap_or("").to_string();
            let again = !seen.insert(name.clone());
            let drop = again && added.contains(&name);
            n += usize::from(drop);
            !drop
        });
    }
    n
}

const TRACING_ENV: &[&str] = &[
    "OTEL_SERVICE_NAME",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_TRACES_EXPORTER",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
];

fn model_containers_only(cx: &Ctx, e: &mut Value, _: &mut Value) -> usize {
    let mut n = 0;
    let Some(role) = role_of(e) else { return 0 };
    // A role without a model container keeps the chart's way: everything on every container.
    if !get(&cx.values, role)["containers"].as_array().into_iter().flatten().any(is_model_container) {
        return 0;
    }
    for (role, c) in containers_mut(e) {
        let name = c["name"].as_str().unwrap_or("").to_string();
        let Some(vc) = values_container(cx, role, &name) else { continue };
        if is_model_container(vc) {
            continue;
        }
        let own = own_env_names(vc);
        let mut added: Vec<String> = ["DP_SIZE", "TP_SIZE", "DP_SIZE_LOCAL", "HF_TOKEN"]
            .iter()
            .chain(TRACING_ENV)
            .map(|s| s.to_string())
            .collect();
        added.extend(accelerator_env(cx, role));
        if let Some(Value::Array(env)) = c.get_mut("env") {
            env.retain(|item| {
                let name = item["name"].as_str().unwrap_or("");
                let drop = added.iter().any(|a| a == name) && !own.contains(name);
                n += usize::from(drop);
                !drop
            });
        }
        if dra(cx, role) {
            let claim = dra_claim_name(cx, role);
            if let Some(Value::Array(claims)) = c.pointer_mut("/resources/claims") {
                let before = claims.len();
                claims.retain(|x| x["name"] != json!(claim));
                n += before - claims.len();
            }
        } else if let Some(resource) = accelerator_resource(cx, role, vc) {
            for side in ["limits", "requests"] {
                let given = vc["resources"][side].get(&resource).is_some();
                if let Some(Value::Object(m)) = c.pointer_mut(&format!("/resources/{side}"))
                    && !given
                    && m.remove(&resource).is_some()
                {
                    n += 1;
                }
            }
        }
    }
    n
}

fn autoscaled_deployment_no_replicas(cx: &Ctx, e: &mut Value, _: &mut Value) -> usize {
    let Some(role) = role_of(e) else { return 0 };
    if e["kind"] != "Deployment" || !truthy(&get(&cx.values, role)["autoscaling"]["enabled"]) {
        return 0;
    }
    usize::from(e["spec"].as_object_mut().and_then(|s| s.remove("replicas")).is_some())
}

fn hf_hub_cache_follows_mount_path(cx: &Ctx, e: &mut Value, _: &mut Value) -> usize {
    let (scheme, _) = uri(cx);
    let mount = mount_path(cx);
    if scheme != "pvc+hf" || mount == "/model-cache" {
        return 0;
    }
    let mut n = 0;
    for (role, c) in containers_mut(e) {
        let name = c["name"].as_str().unwrap_or("").to_string();
        let own = values_container(cx, role, &name).map(own_env_names).unwrap_or_default();
        if own.contains("HF_HUB_CACHE") {
            continue;
        }
        for item in c.get_mut("env").and_then(Value::as_array_mut).into_iter().flatten() {
            if item["name"] == "HF_HUB_CACHE"
                && let Some(rest) = item["value"].as_str().and_then(|v| v.strip_prefix("/model-cache/"))
            {
                item["value"] = json!(format!("{mount}/{rest}"));
                n += 1;
            }
        }
    }
    n
}

fn pvc_claim_root(cx: &Ctx, e: &mut Value, _: &mut Value) -> usize {
    let (scheme, rest) = uri(cx);
    if scheme != "pvc" || rest.contains('/') {
        return 0;
    }
    let mount = mount_path(cx);
    let chart = format!("{mount}/{rest}");
    let mut n = 0;
    for (role, c) in containers_mut(e) {
        let name = c["name"].as_str().unwrap_or("").to_string();
        if !values_container(cx, role, &name)
            .is_some_and(|vc| matches!(model_command(vc), "vllmServe" | "imageDefault"))
        {
            continue;
        }
        for a in c.get_mut("args").and_then(Value::as_array_mut).into_iter().flatten() {
            if a == &json!(chart) {
                *a = json!(mount);
                n += 1;
                // Only the model argument: the user's own arguments come after it.
                break;
            }
        }
    }
    n
}

fn chart_has_no_strategy(e: &Value) -> bool {
    e["kind"] == "Deployment" && !truthy(&e["spec"]["strategy"])
}

fn rolling_update_default(_: &Ctx, e: &mut Value, a: &mut Value) -> usize {
    let default = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
    if chart_has_no_strategy(e) && a["kind"] == "Deployment" && a["spec"]["strategy"] == default {
        a["spec"].as_object_mut().map(|s| s.remove("strategy"));
        return 1;
    }
    0
}

fn recreate_single_attach(_: &Ctx, e: &mut Value, a: &mut Value) -> usize {
    let claims = e
        .pointer("/spec/template/spec/volumes")
        .and_then(Value::as_array)
        .is_some_and(|vs| vs.iter().any(|v| v.get("persistentVolumeClaim").is_some()));
    if chart_has_no_strategy(e) && claims && a["spec"]["strategy"] == json!({"type": "Recreate"}) {
        a["spec"].as_object_mut().map(|s| s.remove("strategy"));
        return 1;
    }
    0
}

fn model_revision_annotation(_: &Ctx, _: &mut Value, a: &mut Value) -> usize {
    let mut n = 0;
    for p in ["/spec/template/metadata/annotations", "/spec/leaderWorkerTemplate/workerTemplate/metadata/annotations"] {
        if let Some(Value::Object(m)) = a.pointer_mut(p)
            && m.remove("msws.io/model-revision").is_some()
        {
            n += 1;
        }
    }
    n
}

fn model_mount_refused(cx: &Ctx, problem: &str) -> bool {
    let (scheme, _) = uri(cx);
    let refused = problem.contains("msws::model-mount") || problem.contains("but does not mount it");
    if !refused || !(scheme == "pvc" || scheme == "oci") {
        return false;
    }
    ["decode", "prefill"].iter().any(|role| {
        truthy(&get(&cx.values, role)["create"])
            && get(&cx.values, role)["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| matches!(model_command(c), "vllmServe" | "imageDefault") && !truthy(&c["mountModelVolume"]))
    })
}

/// Helm's coalescing of the chart's defaults with the values given: mappings merge key by key,
/// anything else given replaces the default, and a null deletes it.
pub fn coalesce(defaults: &Value, given: &Value) -> Value {
    match (defaults, given) {
        (Value::Object(d), Value::Object(g)) => {
            let mut out = d.clone();
            for (k, v) in g {
                if v.is_null() {
                    out.shift_remove(k);
                } else if let Some(dv) = d.get(k) {
                    out.insert(k.clone(), coalesce(dv, v));
                } else {
                    out.insert(k.clone(), strip_nulls(v));
                }
            }
            Value::Object(out)
        }
        (_, g) => strip_nulls(g),
    }
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), strip_nulls(v))).collect())
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(values: Value) -> Ctx {
        let defaults: Value =
            serde_yaml_ng::from_str(&std::fs::read_to_string(crate::helm::chart_dir().join("values.yaml")).unwrap())
                .unwrap();
        Ctx { values: coalesce(&defaults, &values) }
    }

    fn apply(id: &str, cx: &Ctx, e: &mut Value, a: &mut Value) -> usize {
        match &DELIBERATE.iter().find(|d| d.id == id).unwrap().apply {
            Apply::Objects(f) => f(cx, e, a),
            Apply::Refusal(_) => unreachable!(),
        }
    }

    fn decode(containers: Value) -> Value {
        json!({"kind": "Deployment", "metadata": {"name": "r-llm-d-modelservice-decode"},
            "spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn the_ids_are_unique_and_every_entry_says_what_and_why() {
        let ids: BTreeSet<&str> = DELIBERATE.iter().map(|d| d.id).collect();
        assert_eq!(ids.len(), DELIBERATE.len());
        assert!(DELIBERATE.iter().all(|d| d.matches.len() > 40 && d.reason.len() > 40));
    }

    #[test]
    fn a_duplicate_the_container_set_first_is_dropped_and_nothing_else() {
        let cx = cx(json!({"accelerator": {"type": "intel-xe"}}));
        let env = json!([
            {"name": "VLLM_WORKER_MULTIPROC_METHOD", "value": "fork"},
            {"name": "MINE", "value": "1"}, {"name": "MINE", "value": "2"},
            {"name": "DP_SIZE", "value": "1"},
            {"name": "VLLM_WORKER_MULTIPROC_METHOD", "value": "spawn"},
        ]);
        let mut e = decode(json!([{"name": "vllm", "env": env}]));
        assert_eq!(apply("no-duplicate-env", &cx, &mut e, &mut json!({})), 1);
        let names: Vec<&str> = e
            .pointer("/spec/template/spec/containers/0/env")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["value"].as_str().unwrap())
            .collect();
        // The user's own repeated name is not the chart's: it stays (and is reported).
        assert_eq!(names, ["fork", "1", "2", "1"]);
    }

    #[test]
    fn a_sidecar_loses_the_chart_s_devices_and_a_model_container_keeps_them() {
        let cx = cx(json!({"decode": {"containers": [
            {"name": "vllm", "image": "vllm/vllm-openai:v0.11.0", "modelCommand": "vllmServe", "mountModelVolume": true},
            {"name": "sidecar", "image": "busybox", "command": ["sleep"], "env": [{"name": "TP_SIZE", "value": "9"}],
             "resources": {"requests": {"nvidia.com/gpu": "1"}}},
        ]}}));
        let chart_container = |name: &str| {
            json!({"name": name, "env": [{"name": "TP_SIZE", "value": "9"}, {"name": "DP_SIZE", "value": "1"}, {"name": "TP_SIZE", "value": "1"}],
                "resources": {"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}}})
        };
        let mut e = decode(json!([chart_container("vllm"), chart_container("sidecar")]));
        let n = apply("model-containers-only", &cx, &mut e, &mut json!({}));
        // DP_SIZE and the limit go; TP_SIZE (its own) and the request (its own) stay.
        assert_eq!(n, 2);
        let c = e.pointer("/spec/template/spec/containers/1").unwrap();
        assert_eq!(c["env"], json!([{"name": "TP_SIZE", "value": "9"}, {"name": "TP_SIZE", "value": "1"}]));
        assert_eq!(c["resources"], json!({"limits": {}, "requests": {"nvidia.com/gpu": "1"}}));
        assert_eq!(e.pointer("/spec/template/spec/containers/0").unwrap(), &chart_container("vllm"));
    }

    #[test]
    fn the_strategy_msws_writes_out_is_dropped_only_where_the_chart_has_none() {
        let cx = cx(json!({}));
        let ru = json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}});
        let mut a = decode(json!([]));
        a["spec"]["strategy"] = ru.clone();
        let mut e = decode(json!([]));
        assert_eq!(apply("rolling-update-default", &cx, &mut e, &mut a), 1);
        assert!(a["spec"].get("strategy").is_none());
        let mut a = decode(json!([]));
        a["spec"]["strategy"] = ru.clone();
        let mut e = decode(json!([]));
        e["spec"]["strategy"] = json!({"type": "Recreate"});
        assert_eq!(apply("rolling-update-default", &cx, &mut e, &mut a), 0);
        assert_eq!(a["spec"]["strategy"], ru);
    }

    #[test]
    fn the_model_argument_of_a_claim_without_a_path_is_the_mount() {
        let cx = cx(json!({"modelArtifacts": {"uri": "pvc://models"}, "decode": {"containers": [
            {"name": "vllm", "image": "x", "modelCommand": "vllmServe", "mountModelVolume": true}]}}));
        let mut e =
            decode(json!([{"name": "vllm", "args": ["/model-cache/models", "--port", "8200", "/model-cache/models"]}]));
        assert_eq!(apply("pvc-claim-root", &cx, &mut e, &mut json!({})), 1);
        assert_eq!(
            e.pointer("/spec/template/spec/containers/0/args").unwrap(),
            &json!(["/model-cache", "--port", "8200", "/model-cache/models"])
        );
    }

    #[test]
    fn coalescing_is_helm_s() {
        let d = json!({"a": {"b": 1, "c": 2}, "l": [1, 2], "x": 1});
        let g = json!({"a": {"b": null, "d": 3}, "l": [3], "y": {"z": null, "w": 1}});
        assert_eq!(coalesce(&d, &g), json!({"a": {"c": 2, "d": 3}, "l": [3], "x": 1, "y": {"w": 1}}));
    }
}
