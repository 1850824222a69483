//! docs/rbac.md's Role covers every kind msws writes and every verb it uses: the verbs listed per
//! kind, and every request an apply, a rollback and a destroy actually send to the fake cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use msws::apply::engine::{Command, Options, Outcome};
use msws::apply::lock::Holder;
use msws::apply::progress::Recording;
use msws::apply::session::{self, Request, Stop};
use msws::cluster::fake::{FakeCluster, JobScript, Outcome as JobOutcome, PodFate, Verb, storage_class};
use msws::cluster::{Cluster, KINDS};
use msws::plan::Plan;
use serde_json::{Value, json};

use crate::docs::code_blocks;
use crate::plan::{Loaded, load_ws};
use crate::support::root;

/// (API group, resource) → verbs, from the ```yaml rbac block (the Role and the ClusterRole).
fn granted() -> BTreeMap<(String, String), BTreeSet<String>> {
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
    granted
}

#[test]
fn the_documented_role_grants_what_msws_uses() {
    let granted = granted();
    let need = |group: &str, resource: &str, verbs: &[&str]| {
        let have = granted.get(&(group.to_string(), resource.to_string())).cloned().unwrap_or_default();
        for v in verbs {
            assert!(have.contains(*v), "docs/rbac.md does not grant {v} on {resource} ({group})");
        }
    };
    // Every kind msws applies, as the render stage produces them: `plan` reads and dry-runs them,
    // `apply` server-side applies them (`patch`, `create`), prune, release and destroy delete them,
    // and a rollback puts a changed object back with a PUT (`update`) or recreates a deleted one.
    for k in KINDS {
        let written = [
            "PersistentVolumeClaim",
            "Secret",
            "ConfigMap",
            "ServiceAccount",
            "Deployment",
            "ReplicaSet",
            "Job",
            "ResourceClaimTemplate",
            "LeaderWorkerSet",
            "DisaggregatedSet",
            "PodMonitor",
        ];
        if written.contains(&k.kind) {
            need(k.group(), k.plural, &["get", "list", "watch", "create", "patch", "update", "delete"]);
        }
    }
    // Pods are read by the waits; inspection pods (msws inspect, the model check) are created
    // and deleted.
    // Waits watch what they wait for: the kinds above, their pods, a claim's events.
    need("", "pods", &["get", "list", "watch", "create", "delete"]);
    need("", "pods/log", &["get"]);
    need("coordination.k8s.io", "leases", &["get", "create", "update", "delete"]);
    need("storage.k8s.io", "storageclasses", &["get", "list"]);
    need("", "events", &["list", "watch"]);
    need("", "persistentvolumes", &["get"]);
}

const TOKEN: &str = "hf_rbac_test_token";

fn request<'a>(l: &'a Loaded, file: &'a std::path::Path, command: Command, token: &str) -> Request<'a> {
    let ns = l.ws.namespace.clone().unwrap_or_else(|| "default".into());
    let secret_values = BTreeMap::from([("hf-token".to_string(), BTreeMap::from([("HF_TOKEN".into(), token.into())]))]);
    Request {
        command,
        ws: &l.ws,
        graph: &l.graph,
        file,
        namespace: ns,
        secret_values,
        workspace_hash: "rbac".into(),
        git_commit: None,
        saved: None,
        replace_storage: false,
        delete_storage: command == Command::Destroy,
        opts: Options {
            timeout: Some(Duration::from_secs(10 * 60)),
            delete_storage: command == Command::Destroy,
            ..Options::default()
        },
        holder: Holder::new("rbac@test/1/00000000"),
    }
}

fn completes(l: &Loaded) -> JobScript {
    let d = &l.ws.downloads[0];
    let marker = json!({"source": d.source_uri(), "revision": d.revision, "files": 1, "bytes": 1});
    JobScript {
        duration: Duration::from_secs(90),
        outcome: JobOutcome::Succeed,
        log: format!("MSWS-DOWNLOAD-COMPLETE {marker}\n"),
        failures_before_success: 0,
    }
}

async fn run(cluster: &Arc<FakeCluster>, req: Request<'_>) -> Outcome {
    let mut yes = |_: &Plan| true;
    let c: Arc<dyn Cluster> = cluster.clone();
    let (_, report) = session::run(c, req, Arc::new(Recording::new()), &mut yes, Stop::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    report.outcome
}

/// The RBAC verb (and resource, for logs) of each request the fake records.
fn rbac_verbs(verb: Verb) -> (&'static [&'static str], bool) {
    match verb {
        Verb::Get => (&["get"], false),
        Verb::List => (&["list"], false),
        // Server-side apply is a PATCH, which creates the object when it does not exist.
        Verb::Apply | Verb::ApplyDryRun => (&["patch", "create"], false),
        Verb::Create => (&["create"], false),
        Verb::Replace => (&["update"], false),
        Verb::Delete => (&["delete"], false),
        Verb::Logs => (&["get"], true),
        // Discovery (`/api/v1`, `/apis/…`) is a non-resource URL every authenticated user may
        // read (the default `system:discovery` ClusterRole): no Role grants it.
        Verb::Discover => (&[], false),
        Verb::Watch => (&["watch"], false),
    }
}

#[tokio::test(start_paused = true)]
async fn every_request_of_an_apply_a_rollback_and_a_destroy_is_granted() {
    let src = root().join("workspaces/opt-125m-rwx.kdl");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.kdl");
    std::fs::copy(&src, &file).unwrap();
    let l = load_ws(&file);
    let ns = l.ws.namespace.clone().unwrap();
    let cluster = Arc::new(FakeCluster::new(&ns).with_runtime_clock());
    cluster.insert(&storage_class("standard", "Immediate", true, "Retain")).unwrap();
    cluster.script_job(&msws::render::job_name(&l.ws.downloads[0].name), completes(&l));

    // 1. A first apply: creates, waits, a download read from its log, the lock renewed.
    assert_eq!(run(&cluster, request(&l, &file, Command::Apply, TOKEN)).await, Outcome::Applied);
    tokio::time::sleep(Duration::from_secs(120)).await;

    // 2. A new revision and a new token whose servers crash: updates, then a rollback that puts
    //    the Secret, the downloader's ConfigMap and the Deployments back.
    let text = std::fs::read_to_string(&file).unwrap().replace("revision=\"main\"", "revision=\"v2\"");
    std::fs::write(&file, text).unwrap();
    let l2 = load_ws(&file);
    cluster.script_job(&msws::render::job_name(&l2.ws.downloads[0].name), completes(&l2));
    for d in ["opt-decode", "opt-prefill"] {
        cluster.script_deployment(d, PodFate::CrashLoop { exit_code: 1, log: "CUDA error".into() });
    }
    assert_eq!(run(&cluster, request(&l2, &file, Command::Apply, "hf_new")).await, Outcome::RolledBack);
    assert!(
        cluster.count(Verb::Replace, "Deployment") > 0,
        "the rollback restores with a PUT: {:?}",
        cluster.requests()
    );
    tokio::time::sleep(Duration::from_secs(120)).await;

    // 3. A destroy with --delete-storage.
    assert_eq!(run(&cluster, request(&l, &file, Command::Destroy, TOKEN)).await, Outcome::Applied);
    let missing = not_granted(&cluster, &BTreeSet::new());
    assert!(missing.is_empty(), "docs/rbac.md does not grant:\n{}", missing.into_iter().collect::<Vec<_>>().join("\n"));
}

/// The requests the fake received that docs/rbac.md's Role does not grant; requests for the
/// kinds in `extra` (a workspace's extra objects, which the page says to grant) left out.
fn not_granted(cluster: &FakeCluster, extra: &BTreeSet<String>) -> BTreeSet<String> {
    let granted = granted();
    let mut missing = BTreeSet::new();
    for ((verb, kind), _) in cluster.requests() {
        if verb == Verb::Discover || extra.contains(&kind) {
            continue;
        }
        let k = KINDS.iter().find(|k| k.kind == kind).unwrap_or_else(|| panic!("{kind} is not in KINDS"));
        let (verbs, log) = rbac_verbs(verb);
        let resource = if log { format!("{}/log", k.plural) } else { k.plural.to_string() };
        let have = granted.get(&(k.group().to_string(), resource.clone())).cloned().unwrap_or_default();
        for v in verbs {
            if !have.contains(*v) {
                missing.insert(format!("{v} {resource} ({:?}) for a {verb} request", k.group()));
            }
        }
    }
    missing
}

#[tokio::test(start_paused = true)]
async fn the_requests_on_custom_resources_and_extra_objects_are_granted_or_documented() {
    let src = root().join("tests/data/valid/chart-features.kdl");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.kdl");
    std::fs::copy(&src, &file).unwrap();
    let l = load_ws(&file);
    let cluster = Arc::new(FakeCluster::new("llm-d").with_runtime_clock());
    cluster.install_llm_d_crds();
    // An apply, an apply whose LeaderWorkerSet crash-loops (rolled back), a destroy.
    assert_eq!(run(&cluster, request(&l, &file, Command::Apply, TOKEN)).await, Outcome::Applied);
    tokio::time::sleep(Duration::from_secs(120)).await;
    let text = std::fs::read_to_string(&file).unwrap().replace("sampler-arg=\"0.1\"", "sampler-arg=\"0.2\"");
    std::fs::write(&file, text).unwrap();
    let l2 = load_ws(&file);
    cluster.script_workload("wide-decode", PodFate::CrashLoop { exit_code: 1, log: String::new() });
    assert_eq!(run(&cluster, request(&l2, &file, Command::Apply, TOKEN)).await, Outcome::RolledBack);
    assert!(cluster.count(Verb::Replace, "LeaderWorkerSet") > 0, "restored with a PUT: {:?}", cluster.requests());
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(run(&cluster, request(&l, &file, Command::Destroy, TOKEN)).await, Outcome::Applied);
    for kind in ["LeaderWorkerSet", "PodMonitor", "ReplicaSet", "HTTPRoute"] {
        assert!(cluster.count(Verb::Delete, kind) > 0, "{kind}: {:?}", cluster.requests());
    }

    // The extra objects' kinds are the user's to grant, and the page says so.
    let extra: BTreeSet<String> = l.ws.services.iter().flat_map(|s| &s.objects).map(|o| o.kind.clone()).collect();
    assert_eq!(extra, BTreeSet::from(["ConfigMap".to_string(), "HTTPRoute".to_string()]));
    let md = std::fs::read_to_string(root().join("docs/rbac.md")).unwrap();
    assert!(
        md.contains("extra objects (`object { … }`) can be of any kind") && md.contains("`httproutes`"),
        "docs/rbac.md"
    );
    // (A ConfigMap is granted anyway: only kinds outside the Role are left out.)
    let extra: BTreeSet<String> = extra.into_iter().filter(|k| k != "ConfigMap").collect();
    let missing = not_granted(&cluster, &extra);
    assert!(missing.is_empty(), "docs/rbac.md does not grant:\n{}", missing.into_iter().collect::<Vec<_>>().join("\n"));
}

#[tokio::test(start_paused = true)]
async fn the_requests_of_an_inspection_and_of_the_model_check_are_granted() {
    use msws::cluster::fake::model_files;
    let text = r#"workspace "lib" format=1 {
    namespace "llm-d"
}

storage "models" existing=#true {
    access "ReadWriteOnce"
}

model-service "opt" {
    uri "pvc://models/models/opt"
    served-name "opt"
    decode replicas=1 extends="std/vllm-decode"
}
"#;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.kdl");
    std::fs::write(&file, text).unwrap();
    let l = load_ws(&file);
    let cluster = Arc::new(FakeCluster::new("llm-d").with_runtime_clock());
    cluster.insert(&storage_class("standard", "Immediate", true, "Retain")).unwrap();
    cluster
        .insert(&json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "models", "namespace": "llm-d"},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "standard", "resources": {"requests": {"storage": "10Gi"}}}}))
        .unwrap();
    cluster.put_claim_files("llm-d", "models", model_files("models/opt", 10));
    tokio::time::sleep(Duration::from_secs(5)).await;
    // A leftover inspection pod to delete, then `msws inspect` and an apply that checks the model.
    let req = msws::inspect::Request::new("llm-d", "models", "lib");
    let mut old = msws::inspect::pod::pod(&req, None);
    old["metadata"]["name"] = json!("msws-inspect-models-old01");
    old["status"] = json!({"phase": "Failed"});
    cluster.insert(&old).unwrap();
    let i = msws::inspect::inspect(cluster.as_ref(), &req, &Default::default(), &|_| {}).await.unwrap();
    assert_eq!(i.notes.len(), 1, "{:?}", i.notes);
    assert_eq!(run(&cluster, request(&l, &file, Command::Apply, TOKEN)).await, Outcome::Applied);
    assert_eq!(cluster.count(Verb::Create, "Pod"), 2, "the inspection and the apply's model check");
    for verb in [Verb::Create, Verb::Delete, Verb::Logs, Verb::List] {
        assert!(cluster.count(verb, "Pod") > 0, "{verb}: {:?}", cluster.requests());
    }
    let missing = not_granted(&cluster, &BTreeSet::new());
    assert!(missing.is_empty(), "docs/rbac.md does not grant:\n{}", missing.into_iter().collect::<Vec<_>>().join("\n"));
}
