//! Rendering: snapshots of every example's objects, a structural check of everything rendered (it
//! deserialises into its k8s-openapi type and has what the API server requires), and the rules
//! that matter one by one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PersistentVolumeClaim, PodSpec, Secret, ServiceAccount};
use k8s_openapi::api::resource::v1::ResourceClaimTemplate;
use msws::lower::Options as LowerOptions;
use msws::render::{Object, Options, Rendered, render, to_yaml_stream};

use crate::support::{is_root_file, load, root, workspace_files};

fn render_file(path: &Path, namespace: Option<&str>) -> Rendered {
    let mut fe = load(path);
    let ws = fe.workspace.take().unwrap_or_else(|| panic!("{} does not load", path.display()));
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let namespace = namespace.map(str::to_string).or(ws.namespace.clone()).unwrap_or_else(|| "default".into());
    render(&ws, &graph, &Options { namespace, ..Options::default() })
}

pub fn render_text(text: &str) -> Rendered {
    let mut fe = msws::lower::load_str("w.kdl", text, &LowerOptions::default());
    let ws = fe.workspace.take().unwrap_or_else(|| panic!("does not load:\n{}", crate::support::rendered(&fe)));
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    render(&ws, &graph, &Options { namespace: "ns".into(), ..Options::default() })
}

/// The downloader script is long and has its own tests; snapshots show where it goes, not what it
/// says.
fn elide_script(r: &mut Rendered) {
    for s in &mut r.steps {
        for o in &mut s.objects {
            if let Object::Job(j) = o {
                for c in &mut j.spec.as_mut().unwrap().template.spec.as_mut().unwrap().containers {
                    for e in c.env.iter_mut().flatten() {
                        if e.name == "MSWS_SCRIPT" {
                            e.value = Some(format!(
                                "(src/render/download.py, {} lines)",
                                msws::render::DOWNLOAD_SCRIPT.lines().count()
                            ));
                        }
                    }
                }
            }
        }
    }
}

fn examples() -> Vec<std::path::PathBuf> {
    workspace_files(&root().join("workspaces")).into_iter().filter(|f| is_root_file(f)).collect()
}

#[test]
fn every_example_renders_as_snapshotted() {
    for f in examples() {
        let mut r = render_file(&f, None);
        elide_script(&mut r);
        let name = f.strip_prefix("workspaces").unwrap().to_string_lossy().replace(['/', '.'], "_");
        insta::with_settings!({ snapshot_path => root().join("tests/it/snapshots/render"), prepend_module_to_snapshot => false, filters => crate::support::KUSTOMIZE_VERSION.to_vec() }, {
            insta::assert_snapshot!(name, to_yaml_stream(&r));
        });
    }
}

/// DNS-1123 subdomain (object names).
fn subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn dns_label(s: &str) -> bool {
    s.len() <= 63 && subdomain(s) && !s.contains('.')
}

fn label_value(v: &str) -> bool {
    v.len() <= 63
        && (v.is_empty()
            || (v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && v.starts_with(|c: char| c.is_ascii_alphanumeric())
                && v.ends_with(|c: char| c.is_ascii_alphanumeric())))
}

fn label_key(k: &str) -> bool {
    let (prefix, name) = k.rsplit_once('/').map_or((None, k), |(p, n)| (Some(p), n));
    prefix.is_none_or(subdomain) && !name.is_empty() && label_value(name)
}

fn check_labels(what: &str, labels: &Option<BTreeMap<String, String>>, problems: &mut Vec<String>) {
    for (k, v) in labels.iter().flatten() {
        if !label_key(k) || !label_value(v) {
            problems.push(format!("{what}: invalid label {k}={v}"));
        }
    }
}

fn check_containers(what: &str, pod: &PodSpec, problems: &mut Vec<String>) {
    let volumes: BTreeSet<&str> = pod.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
    let mut names = BTreeSet::new();
    let all: Vec<&Container> = pod.containers.iter().chain(pod.init_containers.iter().flatten()).collect();
    if pod.containers.is_empty() {
        problems.push(format!("{what}: no containers"));
    }
    for c in all {
        if !dns_label(&c.name) || !names.insert(c.name.as_str()) {
            problems.push(format!("{what}: container name `{}` invalid or repeated", c.name));
        }
        if c.image.as_deref().is_none_or(str::is_empty) {
            problems.push(format!("{what}/{}: no image", c.name));
        }
        // Server-side apply keys env by name: a repeated name is rejected.
        let mut env = BTreeSet::new();
        for e in c.env.iter().flatten() {
            if !env.insert(e.name.as_str()) {
                problems.push(format!("{what}/{}: env {} twice", c.name, e.name));
            }
            if e.value.is_some() && e.value_from.is_some() {
                problems.push(format!("{what}/{}: env {} has a value and a source", c.name, e.name));
            }
        }
        for m in c.volume_mounts.iter().flatten() {
            if !volumes.contains(m.name.as_str()) {
                problems.push(format!("{what}/{}: mounts unknown volume {}", c.name, m.name));
            }
        }
        let mut ports = BTreeSet::new();
        for p in c.ports.iter().flatten() {
            if !(1..=65535).contains(&p.container_port) || !ports.insert(p.container_port) {
                problems.push(format!("{what}/{}: port {} invalid or repeated", c.name, p.container_port));
            }
        }
        let claims: BTreeSet<&str> = pod.resource_claims.iter().flatten().map(|c| c.name.as_str()).collect();
        for rc in c.resources.iter().flat_map(|r| r.claims.iter().flatten()) {
            if !claims.contains(rc.name.as_str()) {
                problems.push(format!("{what}/{}: uses resource claim {} the pod does not declare", c.name, rc.name));
            }
        }
    }
}

/// What an API server would refuse in a rendered object; empty when it is fine.
pub fn problems(o: &Object) -> Vec<String> {
    let mut p = Vec::new();
    let json = o.to_json();
    let what = format!("{}/{}", o.kind(), o.name());
    if json["apiVersion"] != o.api_version() || json["kind"] != o.kind() {
        p.push(format!("{what}: apiVersion/kind missing from JSON"));
    }
    if !subdomain(o.name()) || o.metadata().namespace.is_none() {
        p.push(format!("{what}: invalid name or no namespace"));
    }
    check_labels(&what, &o.metadata().labels, &mut p);
    // Round trip through the typed API object: nothing is lost or invented.
    let back = match o {
        Object::PersistentVolumeClaim(_) => serde_json::from_value::<PersistentVolumeClaim>(json.clone())
            .map(|o| Object::PersistentVolumeClaim(Box::new(o))),
        Object::Secret(_) => serde_json::from_value::<Secret>(json.clone()).map(|o| Object::Secret(Box::new(o))),
        Object::ConfigMap(_) => serde_json::from_value::<ConfigMap>(json.clone()).map(|c| Object::ConfigMap(c.into())),
        Object::Job(_) => serde_json::from_value::<Job>(json.clone()).map(|o| Object::Job(Box::new(o))),
        Object::ServiceAccount(_) => {
            serde_json::from_value::<ServiceAccount>(json.clone()).map(|o| Object::ServiceAccount(Box::new(o)))
        }
        Object::ResourceClaimTemplate(_) => serde_json::from_value::<ResourceClaimTemplate>(json.clone())
            .map(|o| Object::ResourceClaimTemplate(Box::new(o))),
        Object::Deployment(_) => {
            serde_json::from_value::<Deployment>(json.clone()).map(|o| Object::Deployment(Box::new(o)))
        }
        Object::ReplicaSet(_) => serde_json::from_value::<k8s_openapi::api::apps::v1::ReplicaSet>(json.clone())
            .map(|o| Object::ReplicaSet(Box::new(o))),
        // No type to go through: the JSON is the object.
        Object::Dynamic(_) => Ok(o.clone()),
    };
    match back {
        Ok(b) if b == *o => {}
        Ok(_) => p.push(format!("{what}: changes through a JSON round trip")),
        Err(e) => p.push(format!("{what}: does not deserialise: {e}")),
    }
    match o {
        Object::PersistentVolumeClaim(pvc) => {
            let spec = pvc.spec.as_ref();
            if spec.and_then(|s| s.access_modes.as_ref()).is_none_or(Vec::is_empty) {
                p.push(format!("{what}: no access mode"));
            }
            if spec
                .and_then(|s| s.resources.as_ref())
                .and_then(|r| r.requests.as_ref())
                .and_then(|r| r.get("storage"))
                .is_none()
            {
                p.push(format!("{what}: no storage request"));
            }
        }
        Object::Secret(s) => {
            if s.data.is_none() && s.string_data.is_none() {
                p.push(format!("{what}: no data"));
            }
        }
        Object::Job(j) => {
            let spec = j.spec.as_ref().unwrap();
            let pod = spec.template.spec.as_ref().unwrap();
            if !matches!(pod.restart_policy.as_deref(), Some("Never" | "OnFailure")) {
                p.push(format!("{what}: a Job's pods must not restart Always"));
            }
            if spec.ttl_seconds_after_finished.is_some() {
                p.push(format!("{what}: a TTL would delete the evidence before msws reads it"));
            }
            check_containers(&what, pod, &mut p);
        }
        Object::Deployment(d) => {
            let spec = d.spec.as_ref().unwrap();
            let selector = spec.selector.match_labels.clone().unwrap_or_default();
            let pod_labels = spec.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
            if selector.is_empty() || selector.iter().any(|(k, v)| pod_labels.get(k) != Some(v)) {
                p.push(format!("{what}: selector does not match the pod labels"));
            }
            check_labels(&what, &Some(pod_labels), &mut p);
            check_containers(&what, spec.template.spec.as_ref().unwrap(), &mut p);
        }
        Object::ConfigMap(c) => {
            let size: usize = c.data.iter().flatten().map(|(k, v)| k.len() + v.len()).sum();
            if size > 1024 * 1024 {
                p.push(format!("{what}: larger than a ConfigMap may be"));
            }
        }
        Object::ReplicaSet(r) => {
            let spec = r.spec.as_ref().unwrap();
            let selector = spec.selector.match_labels.clone().unwrap_or_default();
            let template = spec.template.as_ref().unwrap();
            let pod_labels = template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
            if selector.is_empty() || selector.iter().any(|(k, v)| pod_labels.get(k) != Some(v)) {
                p.push(format!("{what}: selector does not match the pod labels"));
            }
            check_containers(&what, template.spec.as_ref().unwrap(), &mut p);
        }
        Object::Dynamic(d) if d.kind == "LeaderWorkerSet" => {
            // The worker template is a pod template: it must be one.
            let template = &json["spec"]["leaderWorkerTemplate"]["workerTemplate"];
            match serde_json::from_value::<k8s_openapi::api::core::v1::PodTemplateSpec>(template.clone()) {
                Ok(t) => {
                    check_labels(&what, &t.metadata.as_ref().and_then(|m| m.labels.clone()), &mut p);
                    check_containers(&what, t.spec.as_ref().unwrap(), &mut p);
                }
                Err(e) => p.push(format!("{what}: the worker template is not a pod template: {e}")),
            }
            if json["spec"]["leaderWorkerTemplate"]["size"].as_u64().is_none_or(|n| n < 1) {
                p.push(format!("{what}: no group size"));
            }
        }
        Object::ServiceAccount(_) | Object::ResourceClaimTemplate(_) | Object::Dynamic(_) => {}
    }
    p
}

#[test]
fn everything_rendered_is_what_an_api_server_accepts() {
    let mut files = examples();
    files.extend(workspace_files(&root().join("tests/data/valid")).into_iter().filter(|f| is_root_file(f)));
    let mut all = Vec::new();
    let mut count = 0;
    for f in files {
        let r = render_file(&f, None);
        let mut names: BTreeMap<(&str, String), &Object> = BTreeMap::new();
        for (_, o) in r.objects() {
            count += 1;
            all.extend(problems(o));
            // An object shared by several steps is the same object in each.
            if let Some(prev) = names.insert((o.kind(), o.name().to_string()), o)
                && prev != o
            {
                all.push(format!("{}: {} {} rendered twice, differently", f.display(), o.kind(), o.name()));
            }
        }
    }
    assert!(count > 40, "only {count} objects");
    assert!(all.is_empty(), "{}", all.join("\n"));
}

#[test]
fn the_structural_check_catches_what_it_is_for() {
    let mut r = render_text(include_str!("../../workspaces/opt-125m-rwx.kdl"));
    let dep = r.steps.iter_mut().flat_map(|s| s.objects.iter_mut()).find(|o| o.kind() == "Deployment").unwrap();
    let Object::Deployment(d) = dep else { unreachable!() };
    let pod = d.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    let first = pod.containers[0].env.as_ref().unwrap()[0].clone();
    pod.containers[0].env.as_mut().unwrap().push(first);
    pod.containers[0].volume_mounts.as_mut().unwrap()[0].name = "nope".into();
    let p = problems(dep);
    assert!(p.iter().any(|x| x.contains("twice")) && p.iter().any(|x| x.contains("unknown volume")), "{p:?}");
}

fn deployment<'a>(r: &'a Rendered, name: &str) -> &'a Deployment {
    r.objects()
        .find_map(|(_, o)| match o {
            Object::Deployment(d) if d.metadata.name.as_deref() == Some(name) => Some(d),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Deployment {name}"))
}

fn pod(d: &Deployment) -> &PodSpec {
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn env_of(c: &Container) -> BTreeMap<String, String> {
    c.env.iter().flatten().map(|e| (e.name.clone(), e.value.clone().unwrap_or_else(|| "<from>".into()))).collect()
}

#[test]
fn a_read_write_once_claim_gets_recreate_and_a_read_only_mount() {
    let r = render_file(Path::new("workspaces/opt-125m-rwo.kdl"), None);
    let d = deployment(&r, "opt-decode");
    assert_eq!(d.spec.as_ref().unwrap().strategy.as_ref().unwrap().type_.as_deref(), Some("Recreate"));
    let c = &pod(d).containers[0];
    assert_eq!(c.args.as_ref().unwrap()[0], "/model-cache/models/opt-125m");
    let mount = c.volume_mounts.as_ref().unwrap().iter().find(|m| m.name == "model-storage").unwrap();
    assert_eq!((mount.mount_path.as_str(), mount.read_only), ("/model-cache", Some(true)));
    let vol = pod(d).volumes.as_ref().unwrap().iter().find(|v| v.name == "model-storage").unwrap();
    assert_eq!(vol.persistent_volume_claim.as_ref().unwrap().claim_name, "model-pvc");
    // A ReadWriteMany claim gets Kubernetes' default strategy, written out so that msws owns it.
    let rwx = render_file(Path::new("workspaces/opt-125m-rwx.kdl"), None);
    let s = deployment(&rwx, "opt-decode").spec.as_ref().unwrap().strategy.clone().unwrap();
    assert_eq!(s.type_.as_deref(), Some("RollingUpdate"));
    let ru = s.rolling_update.unwrap();
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    assert_eq!(
        (ru.max_surge, ru.max_unavailable),
        (Some(IntOrString::String("25%".into())), Some(IntOrString::String("25%".into())))
    );
}

#[test]
fn the_download_job_mounts_the_claim_writable_and_reads_the_token_from_the_secret() {
    let r = render_file(Path::new("workspaces/opt-125m-rwx.kdl"), None);
    let job = r.objects().find_map(|(_, o)| if let Object::Job(j) = o { Some(j) } else { None }).unwrap();
    assert_eq!(job.metadata.name.as_deref(), Some("opt-125m-download"));
    let spec = job.spec.as_ref().unwrap();
    assert_eq!((spec.backoff_limit, spec.active_deadline_seconds), (Some(2), Some(7200)));
    let pod = spec.template.spec.as_ref().unwrap();
    let vol = pod.volumes.as_ref().unwrap()[0].persistent_volume_claim.as_ref().unwrap();
    assert_eq!((vol.claim_name.as_str(), vol.read_only), ("model-pvc", None));
    let c = &pod.containers[0];
    assert_eq!(c.volume_mounts.as_ref().unwrap()[0].read_only, None);
    // The script comes from the workspace's downloader ConfigMap, applied in the same step.
    let script = c.env.iter().flatten().find(|e| e.name == "MSWS_SCRIPT").unwrap();
    let cm_ref = script.value_from.as_ref().unwrap().config_map_key_ref.as_ref().unwrap();
    assert_eq!((cm_ref.name.as_str(), cm_ref.key.as_str()), ("msws-opt-125m-downloader", "download.py"));
    let step = r.steps.iter().find(|s| s.step.to_string() == "download/opt-125m").unwrap();
    let Object::ConfigMap(cm) = &step.objects[0] else { panic!("the ConfigMap comes first in the step") };
    assert_eq!(cm.data.as_ref().unwrap()["download.py"], msws::render::DOWNLOAD_SCRIPT);
    let env = env_of(c);
    assert_eq!(env["MSWS_TARGET"], "/data/models/opt-125m");
    assert_eq!(env["MSWS_REVISION"], "main");
    let token = c.env.iter().flatten().find(|e| e.name == "HF_TOKEN").unwrap();
    let sel = token.value_from.as_ref().unwrap().secret_key_ref.as_ref().unwrap();
    assert_eq!((sel.name.as_str(), sel.key.as_str()), ("hf-token", "HF_TOKEN"));
    assert_eq!(spec.template.metadata.as_ref().unwrap().labels.as_ref().unwrap()["msws.io/download"], "opt-125m");
}

#[test]
fn a_secret_is_a_placeholder_offline_and_never_the_value() {
    let text = include_str!("../../workspaces/opt-125m-rwx.kdl");
    let r = render_text(text);
    let yaml = to_yaml_stream(&r);
    assert!(yaml.contains("(set from $HF_TOKEN at apply time)"));
    let mut fe = msws::lower::load_str("w.kdl", text, &LowerOptions::default());
    let ws = fe.workspace.take().unwrap();
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let values = BTreeMap::from([(
        "hf-token".to_string(),
        BTreeMap::from([("HF_TOKEN".to_string(), "hf_secretvalue".to_string())]),
    )]);
    let r = render(&ws, &graph, &Options { namespace: "ns".into(), secret_values: values, ..Options::default() });
    let secret = r.objects().find_map(|(_, o)| if let Object::Secret(s) = o { Some(s) } else { None }).unwrap();
    assert_eq!(secret.data.as_ref().unwrap()["HF_TOKEN"].0, b"hf_secretvalue");
    assert!(!secret.metadata.annotations.as_ref().unwrap().contains_key("msws.io/placeholder"));
}

#[test]
fn uri_schemes_render_their_volume_argument_and_environment() {
    let cases = [
        ("hf://Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B", Some(("HF_HOME", "/model-cache"))),
        ("pvc://c/models/x", "/model-cache/models/x", None),
        ("pvc://c", "/model-cache", None),
        ("pvc+hf://c/hub/org/m", "org/m", Some(("HF_HUB_CACHE", "/model-cache/hub"))),
        ("oci://registry.example/models/m:1", "/model-cache", None),
    ];
    for (uri, model, env) in cases {
        let text = format!(
            "workspace \"w\" format=1\nstorage \"c\" existing=#true {{\n    access \"ReadWriteMany\"\n}}\nmodel-service \"m\" {{\n    uri \"{uri}\"\n    served-name \"m\"\n    model-size \"1Gi\"\n    decode extends=\"std/vllm-single\"\n}}\n"
        );
        let r = render_text(&text);
        let d = deployment(&r, "m-decode");
        let c = &pod(d).containers[0];
        assert_eq!(c.command.as_deref(), Some(&["vllm".to_string(), "serve".to_string()][..]), "{uri}");
        let args = c.args.as_ref().unwrap();
        assert_eq!(args[..3], [model.to_string(), "--port".into(), "8200".into()], "{uri}");
        assert!(args.windows(2).any(|w| w == ["--served-model-name", "m"]), "{uri}");
        let e = env_of(c);
        if let Some((k, v)) = env {
            assert_eq!(e.get(k).map(String::as_str), Some(v), "{uri}");
        }
        let vol = pod(d).volumes.as_ref().unwrap().iter().find(|v| v.name == "model-storage").unwrap();
        match uri.split("://").next().unwrap() {
            "hf" => assert_eq!(vol.empty_dir.as_ref().unwrap().size_limit.as_ref().unwrap().0, "1Gi"),
            "oci" => assert_eq!(vol.image.as_ref().unwrap().reference.as_deref(), Some("registry.example/models/m:1")),
            _ => assert_eq!(vol.persistent_volume_claim.as_ref().unwrap().read_only, Some(true)),
        }
        assert_eq!(e["DP_SIZE"], "1");
        assert_eq!(c.resources.as_ref().unwrap().limits.as_ref().unwrap()["nvidia.com/gpu"].0, "1");
    }
}

#[test]
fn devices_follow_parallelism_and_only_model_containers_get_them() {
    let r = render_text(
        r#"workspace "w" format=1
model-service "m" {
    uri "hf://org/m"
    served-name "org/m"
    decode {
        parallelism tensor=4 data=4 data-local=2
        container "vllm" image="ghcr.io/llm-d/llm-d-cuda:latest" command="vllm-serve" mount-model=#true {
            env "TP_SIZE" "override"
        }
        container "sidecar" image="busybox"
    }
}
"#,
    );
    let d = deployment(&r, "m-decode");
    let [vllm, sidecar] = &pod(d).containers[..] else { panic!() };
    let lim = vllm.resources.as_ref().unwrap().limits.as_ref().unwrap();
    assert_eq!(lim["nvidia.com/gpu"].0, "8", "data-local × tensor");
    let args = vllm.args.as_ref().unwrap().join(" ");
    assert!(args.contains("--tensor-parallel-size 4 --data-parallel-size 4 --data-parallel-size-local 2"), "{args}");
    let env = env_of(vllm);
    assert_eq!(
        (env["TP_SIZE"].as_str(), env["DP_SIZE"].as_str(), env["DP_SIZE_LOCAL"].as_str()),
        ("override", "4", "2")
    );
    assert!(sidecar.resources.is_none() && sidecar.env.is_none() && sidecar.args.is_none());
}

#[test]
fn dra_renders_a_claim_template_per_role_and_claims_instead_of_devices() {
    let r = render_text(
        r#"workspace "w" format=1
model-service "m" {
    uri "hf://org/m"
    served-name "org/m"
    accelerator "intel-gaudi" dra=#true
    decode extends="std/vllm-single" {
        parallelism tensor=2
        resource-claim "imex" template="imex-channel"
        resource-claim "pool" claim="shared-gpus"
    }
}
"#,
    );
    let rct =
        r.objects().find_map(|(_, o)| if let Object::ResourceClaimTemplate(t) = o { Some(t) } else { None }).unwrap();
    assert_eq!(rct.metadata.name.as_deref(), Some("intel-gaudi-claim-template-decode"));
    let req = &rct.spec.spec.devices.as_ref().unwrap().requests.as_ref().unwrap()[0];
    let exact = req.exactly.as_ref().unwrap();
    assert_eq!(
        (req.name.as_str(), exact.device_class_name.as_str(), exact.count),
        ("intel-gaudi", "gaudi.intel.com", Some(2))
    );
    let d = deployment(&r, "m-decode");
    let claims: Vec<_> = pod(d).resource_claims.as_ref().unwrap().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(claims, ["intel-gaudi-decode-claim", "imex", "pool"]);
    let pool = &pod(d).resource_claims.as_ref().unwrap()[2];
    assert_eq!(
        (pool.resource_claim_name.as_deref(), pool.resource_claim_template_name.as_deref()),
        (Some("shared-gpus"), None)
    );
    let res = pod(d).containers[0].resources.as_ref().unwrap();
    assert!(res.limits.as_ref().is_none_or(|l| !l.contains_key("habana.ai/gaudi")));
    assert_eq!(res.claims.as_ref().unwrap()[0].name, "intel-gaudi-decode-claim");
}

#[test]
fn the_routing_proxy_is_a_native_sidecar_on_decode_only() {
    let r = render_file(Path::new("workspaces/opt-125m-rwx.kdl"), None);
    let decode = pod(deployment(&r, "opt-decode"));
    let proxy = &decode.init_containers.as_ref().unwrap()[0];
    assert_eq!(proxy.name, "routing-proxy");
    assert_eq!(proxy.restart_policy.as_deref(), Some("Always"));
    assert_eq!(
        proxy.args.as_ref().unwrap(),
        &[
            "--port=8000",
            "--vllm-port=8200",
            "--connector=nixlv2",
            "--zap-encoder=json",
            "--zap-log-level=debug",
            "--secure-proxy=false"
        ]
    );
    let prefill = pod(deployment(&r, "opt-prefill"));
    assert!(prefill.init_containers.is_none());
    assert_eq!(prefill.containers[0].args.as_ref().unwrap()[2], "8000", "prefill serves on the service port");
}

#[test]
fn argocd_waves_follow_the_graph_levels() {
    let path = Path::new("workspaces/opt-125m-rwo.kdl");
    let mut fe = load(path);
    let ws = fe.workspace.take().unwrap();
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let r = render(&ws, &graph, &Options { namespace: "ns".into(), argocd_waves: true, ..Options::default() });
    let waves: Vec<(String, String)> = r
        .objects()
        .map(|(_, o)| {
            (
                format!("{}/{}", o.kind(), o.name()),
                o.metadata().annotations.as_ref().unwrap()["argocd.argoproj.io/sync-wave"].clone(),
            )
        })
        .collect();
    let wave = |k: &str| waves.iter().find(|(n, _)| n == k).unwrap().1.parse::<u32>().unwrap();
    assert!(wave("PersistentVolumeClaim/model-pvc") < wave("Job/opt-125m-download"));
    assert!(wave("Job/opt-125m-download") < wave("Deployment/opt-decode"));
}

#[test]
fn objects_carry_ownership_labels_and_their_step() {
    let r = render_file(Path::new("workspaces/opt-125m-rwo.kdl"), Some("elsewhere"));
    let id = msws::render::applyset_id("opt-125m-rwo", "elsewhere");
    for (step, o) in r.objects() {
        let m = o.metadata();
        assert_eq!(m.namespace.as_deref(), Some("elsewhere"));
        let l = m.labels.as_ref().unwrap();
        assert_eq!(l["app.kubernetes.io/managed-by"], "msws");
        assert_eq!(l["applyset.kubernetes.io/part-of"], id);
        assert_eq!(l["team"], "inference", "workspace labels reach every object");
        // An object shared by every step of a kind (the downloader's script) names them all.
        let expected = if o.kind() == "ConfigMap" { format!("{}/*", step.kind.as_str()) } else { step.to_string() };
        assert_eq!(m.annotations.as_ref().unwrap()["msws.io/step"], expected);
    }
    // The id follows the ApplySet convention: sha256 of `<name>.<namespace>.<kind>.<group>`.
    assert!(id.starts_with("applyset-") && id.ends_with("-v1") && id.len() == "applyset-".len() + 43 + 3);
}

#[test]
fn render_out_replaces_its_own_files_and_leaves_others_alone() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("w.kdl");
    let two = std::fs::read_to_string(root().join("workspaces/shared-claim.kdl")).unwrap();
    std::fs::write(&ws, &two).unwrap();
    let out = dir.path().join("manifests");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("kustomization.yaml"), "resources: []\n").unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_msws")).args(args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    run(&["render", ws.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let files = |d: &Path| {
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    assert!(files(&out).iter().any(|f| f.ends_with("deployment-qwen-decode.yaml")));
    // Take the Qwen model-service (and its download) out of the workspace: its files go, the
    // user's own file stays.
    let one = two[..two.find("download \"qwen-7b\"").unwrap()].to_string()
        + &two[two.find("model-service \"llama\"").unwrap()..two.find("model-service \"qwen\"").unwrap()];
    std::fs::write(&ws, one).unwrap();
    let said = run(&["render", ws.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let now = files(&out);
    assert!(!now.iter().any(|f| f.contains("qwen")), "{now:?}");
    assert!(now.contains(&"kustomization.yaml".to_string()), "{now:?}");
    assert!(said.contains("removed") && said.contains("deployment-qwen-decode.yaml"), "{said}");
    for f in now.iter().filter(|f| *f != "kustomization.yaml") {
        let text = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(text.starts_with(msws::render::GENERATED), "{f}");
    }
}

/// A workspace large enough to be rendered on several threads comes out in the graph's order,
/// the same every time, and equal, step for step, to rendering each step of a small workspace.
#[test]
fn a_large_workspace_renders_in_order_and_deterministically() {
    let unit = |i: usize| {
        format!(
            "storage \"pvc-{i}\" {{\n    access \"ReadWriteOnce\"\n    size \"5Gi\"\n}}\ndownload \"opt-{i}\" {{\n    from \"hf://facebook/opt-125m\"\n    into \"pvc-{i}\" path=\"m\"\n}}\nmodel-service \"opt-{i}\" {{\n    model \"opt-{i}\"\n    served-name \"opt-{i}\"\n    decode extends=\"std/vllm-single\"\n}}\n"
        )
    };
    let big: String = String::from("workspace \"w\" format=1\n") + &(0..150).map(unit).collect::<String>();
    let mut fe = msws::lower::load_str("w.kdl", &big, &LowerOptions::default());
    let ws = fe.workspace.take().unwrap();
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    assert!(graph.len() >= 256, "large enough to take the parallel path");
    let opts = Options { namespace: "ns".into(), ..Options::default() };
    let a = render(&ws, &graph, &opts);
    let b = render(&ws, &graph, &opts);
    let ids: Vec<String> = a.steps.iter().map(|s| s.step.to_string()).collect();
    let order: Vec<String> = graph.steps().map(|s| s.id.to_string()).collect();
    assert_eq!(ids, order);
    assert_eq!(to_yaml_stream(&a), to_yaml_stream(&b));
    // Unit 7 alone renders the same objects (namespaced the same, in the same workspace).
    let small = String::from("workspace \"w\" format=1\n") + &unit(7);
    let s = render_text(&small);
    let pick = |r: &Rendered, name: &str| {
        r.objects().filter(|(st, _)| st.name == name).map(|(_, o)| o.to_json()).collect::<Vec<_>>()
    };
    assert_eq!(pick(&a, "opt-7"), pick(&s, "opt-7"));
}
