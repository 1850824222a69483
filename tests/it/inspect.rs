//! `msws inspect` and the inspection pod (src/inspect/): its life on the fake cluster (created,
//! watched, its log parsed, deleted on every way out — success, failure, timeout, Ctrl-C),
//! claims that cannot be inspected (missing, unbound, ReadWriteOncePod in use) and ReadWriteOnce
//! claims in use on another node (the pod runs there; a Multi-Attach ends the wait), on tokio's
//! paused clock. Then the script itself (`src/inspect/inspect.py`), run for real on directory
//! trees: its answer is parsed by the same parser, equals what the fake's inspection pods print
//! for the same tree, never names the mount point; a claim filled by the runbook's own downloader
//! (`snapshot_download` into the mount point) and one filled by msws's `download.py`, against the
//! fake Hugging Face Hub, give the URIs a model service needs.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use msws::cluster::fake::{
    ClaimFile, FakeCluster, JobScript, Outcome, PodFate, Verb, claim_listing, hf_cache_files, model_files,
    storage_class,
};
use msws::cluster::{Cluster, ClusterError, ObjectRef};
use msws::inspect::{self, InspectError, Inspection, Layout, Listing, LogError, Request, parse_log};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::support::root;

const NS: &str = "llm-d";
const SCRIPT: &str = include_str!("../../src/inspect/inspect.py");

// ------------------------------------------------------------------------------------ the fake

fn cluster() -> Arc<FakeCluster> {
    let c = FakeCluster::new(NS).with_runtime_clock();
    c.insert(&storage_class("standard", "Immediate", true, "Retain")).unwrap();
    c.insert(&storage_class("wffc", "WaitForFirstConsumer", true, "Retain")).unwrap();
    Arc::new(c)
}

fn claim(name: &str, mode: &str, class: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NS},
           "spec": {"accessModes": [mode], "storageClassName": class, "resources": {"requests": {"storage": "20Gi"}}}})
}

/// A claim, bound (the fake binds after a second).
async fn bound(c: &FakeCluster, name: &str, mode: &str) {
    c.insert(&claim(name, mode, "standard")).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let r = ObjectRef::new("v1", "PersistentVolumeClaim", Some(NS), name);
    assert_eq!(c.peek(&r).unwrap()["status"]["phase"], "Bound");
}

/// A pod that serves from the claim on `node` (as a Deployment's would, and stays running).
fn user_pod(name: &str, claim: &str, node: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": {"app": "vllm"}},
           "spec": {"nodeName": node, "restartPolicy": "Always",
                    "containers": [{"name": "vllm", "image": "ghcr.io/llm-d/llm-d-cuda:latest",
                                    "volumeMounts": [{"name": "model-storage", "mountPath": "/model-cache", "readOnly": true}]}],
                    "volumes": [{"name": "model-storage", "persistentVolumeClaim": {"claimName": claim, "readOnly": true}}]}})
}

fn request(claim: &str) -> Request {
    Request { timeout: Duration::from_secs(120), ..Request::new(NS, claim, "demo") }
}

/// The runbook's claim after msws downloaded OPT into it, plus a hub cache and a stray file.
fn library(c: &FakeCluster, claim: &str) {
    c.put_claim_files(NS, claim, model_files("models/opt-125m", 250_000_000));
    c.put_claim_files(
        NS,
        claim,
        [(
            "models/opt-125m/.msws-download.json",
            ClaimFile::text(r#"{"source":"hf://facebook/opt-125m","repo":"facebook/opt-125m","revision":"main","commit":"27dcfa74d334bc871f3234de431e71c6eeba5dd6","files":8,"bytes":250000000,"completed_at":"2026-11-26T18:05:00Z"}"#),
        )],
    );
    c.put_claim_files(
        NS,
        claim,
        hf_cache_files("hub", "meta-llama/Llama-3.1-8B-Instruct", "0e9e39f249a16976918f6564b8830bc894c89659"),
    );
    c.put_claim_files(NS, claim, [("README.txt", ClaimFile::file(120)), ("scratch", ClaimFile::Dir)]);
}

struct Run {
    result: Result<Inspection, InspectError>,
    progress: Vec<String>,
}

async fn run(c: &FakeCluster, req: &Request, cancel: &CancellationToken) -> Run {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    let progress = move |l: &str| sink.lock().unwrap().push(l.to_string());
    let result = inspect::inspect(c, req, cancel, &progress).await;
    let progress = lines.lock().unwrap().clone();
    Run { result, progress }
}

async fn inspect_ok(c: &FakeCluster, req: &Request) -> Inspection {
    let r = run(c, req, &CancellationToken::new()).await;
    r.result.unwrap_or_else(|e| panic!("{e}\nprogress: {:?}", r.progress))
}

async fn inspect_err(c: &FakeCluster, req: &Request) -> InspectError {
    match run(c, req, &CancellationToken::new()).await.result {
        Ok(i) => panic!("inspected: {i:#?}"),
        Err(e) => e,
    }
}

/// Inspection pods left in the namespace.
fn leftovers(c: &FakeCluster) -> Vec<String> {
    c.snapshot()
        .objects
        .iter()
        .filter(|(r, o)| r.kind == "Pod" && o.pointer("/metadata/labels/msws.io~1purpose") == Some(&json!("inspect")))
        .map(|(r, _)| r.name.clone())
        .collect()
}

fn created_pods(c: &FakeCluster) -> usize {
    c.count(Verb::Create, "Pod")
}

#[tokio::test(start_paused = true)]
async fn an_inspection_lists_every_model_with_its_uri_and_deletes_its_pod() {
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteMany").await;
    library(&c, "model-pvc");
    let i = inspect_ok(&c, &request("model-pvc")).await;
    let uris: Vec<String> = i.listing.models.iter().filter_map(|m| m.uri("model-pvc")).collect();
    assert_eq!(uris, ["pvc+hf://model-pvc/hub/meta-llama/Llama-3.1-8B-Instruct", "pvc://model-pvc/models/opt-125m"]);
    let opt = &i.listing.models[1];
    let Layout::Files { download: Some(d), weights } = &opt.layout else { panic!("{opt:?}") };
    assert_eq!((d.source.as_deref(), d.revision.as_deref()), (Some("hf://facebook/opt-125m"), Some("main")));
    assert_eq!(weights.get("safetensors"), Some(&1));
    assert_eq!(i.claim.phase, "Bound");
    assert_eq!(i.claim.access_modes, ["ReadWriteMany"]);
    assert!(i.node.is_none(), "an RWX claim needs no node");
    assert!(i.pod.starts_with("msws-inspect-model-pvc-"), "{}", i.pod);
    // The pod is gone, and nothing else was written.
    assert_eq!(leftovers(&c), Vec::<String>::new());
    assert_eq!(created_pods(&c), 1);
    assert_eq!(c.count(Verb::Delete, "Pod"), 1);
    assert_eq!(c.count(Verb::Logs, "Pod"), 1);
    let writes: usize = c
        .requests()
        .iter()
        .filter(|((v, k), _)| matches!(v, Verb::Apply | Verb::Create | Verb::Replace | Verb::Delete) && k != "Pod")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(writes, 0, "{:?}", c.requests());
}

#[tokio::test(start_paused = true)]
async fn the_text_and_the_json_say_what_is_on_the_claim() {
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteOnce").await;
    library(&c, "model-pvc");
    c.insert(&user_pod("opt-decode-7d9f-x2", "model-pvc", "gpu-node-7")).unwrap();
    let i = inspect_ok(&c, &request("model-pvc")).await;
    insta::assert_snapshot!("inspect-text", inspect::show::to_text(&i));
    let doc = inspect::show::to_json(&i);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["models"][1]["uri"], "pvc://model-pvc/models/opt-125m");
    assert_eq!(doc["models"][1]["download"]["commit"], "27dcfa74d334bc871f3234de431e71c6eeba5dd6");
    assert_eq!(doc["models"][0]["layout"], "hf-cache");
    assert_eq!(doc["pod"]["node"], "gpu-node-7");
    insta::assert_json_snapshot!("inspect-json", doc);
}

/// docs/commands.md shows what `msws inspect` prints for the runbook's claim after msws
/// downloaded OPT into it, used by a server on its node: it is this.
#[tokio::test(start_paused = true)]
async fn the_example_in_the_docs_is_what_msws_inspect_prints() {
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteOnce").await;
    c.put_claim_files(NS, "model-pvc", model_files("models/opt-125m", 250_000_000));
    c.put_claim_files(
        NS,
        "model-pvc",
        [(
            "models/opt-125m/.msws-download.json",
            ClaimFile::text(r#"{"source":"hf://facebook/opt-125m","repo":"facebook/opt-125m","revision":"main","commit":"27dcfa74d334bc871f3234de431e71c6eeba5dd6","files":8,"bytes":250000000,"completed_at":"2026-11-26T18:05:00Z"}"#),
        )],
    );
    c.insert(&user_pod("opt-decode-7d9f-x2", "model-pvc", "gpu-node-7")).unwrap();
    let text = inspect::show::to_text(&inspect_ok(&c, &request("model-pvc")).await);
    let md = std::fs::read_to_string(root().join("docs/commands.md")).unwrap();
    let block =
        crate::docs::code_blocks(&md).into_iter().find(|b| b.info == "text inspect-example").expect("the example");
    assert_eq!(block.text, text, "docs/commands.md:{} is not what msws prints", block.line);
}

#[tokio::test(start_paused = true)]
async fn the_pod_is_read_only_minimal_and_labelled_as_an_inspection() {
    let req = Request { depth: 6, ..request("model-pvc") };
    let pod = inspect::pod::pod(&req, None);
    let spec = &pod["spec"];
    assert_eq!(pod["metadata"]["generateName"], "msws-inspect-model-pvc-");
    assert_eq!(
        pod["metadata"]["labels"],
        json!({"app.kubernetes.io/managed-by": "msws", "msws.io/workspace": "demo", "msws.io/purpose": "inspect"})
    );
    assert_eq!(pod["metadata"]["annotations"], json!({"msws.io/storage": "model-pvc"}));
    assert_eq!(spec["restartPolicy"], "Never");
    assert_eq!(spec["activeDeadlineSeconds"], 120);
    assert_eq!(spec["automountServiceAccountToken"], false);
    assert_eq!(spec["volumes"][0]["persistentVolumeClaim"], json!({"claimName": "model-pvc", "readOnly": true}));
    let c = &spec["containers"][0];
    assert_eq!(c["volumeMounts"][0]["readOnly"], true);
    assert_eq!(
        c["securityContext"],
        json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true})
    );
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["command"][0], "python3");
    assert_eq!(c["command"][2], SCRIPT);
    let env: BTreeMap<&str, &str> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    assert_eq!(env["MSWS_INSPECT_DEPTH"], "6");
    assert_eq!(env["MSWS_INSPECT_ROOT"], c["volumeMounts"][0]["mountPath"].as_str().unwrap());
    assert!(spec.get("nodeName").is_none() && spec.get("tolerations").is_none());
    let pinned = inspect::pod::pod(&req, Some("gpu-node-7"));
    assert_eq!(pinned["spec"]["nodeName"], "gpu-node-7");
    assert_eq!(pinned["spec"]["tolerations"], json!([{"operator": "Exists"}]));
    // It is a valid Pod (k8s-openapi reads it back).
    let _: k8s_openapi::api::core::v1::Pod = serde_json::from_value(pod).unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_read_write_once_claim_in_use_is_inspected_on_its_node() {
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteOnce").await;
    library(&c, "model-pvc");
    c.insert(&user_pod("opt-decode-7d9f-x2", "model-pvc", "gpu-node-7")).unwrap();
    let r = run(&c, &request("model-pvc"), &CancellationToken::new()).await;
    let i = r.result.unwrap();
    assert_eq!(i.node.as_deref(), Some("gpu-node-7"));
    assert_eq!(
        i.pinned_because.as_deref(),
        Some("claim model-pvc is ReadWriteOnce and in use there by pod opt-decode-7d9f-x2")
    );
    assert!(r.progress[0].ends_with("created on node gpu-node-7"), "{:?}", r.progress);
    assert_eq!(i.listing.models.len(), 2);
    assert_eq!(leftovers(&c), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_read_write_once_claim_attached_elsewhere_ends_the_wait_with_the_multi_attach_error() {
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteOnce").await;
    library(&c, "model-pvc");
    // Every request takes a second; a serving pod lands on another node after msws looked for
    // the claim's users and before its pod was created (a race a real cluster has too).
    c.set_latency(Duration::from_secs(1));
    let c2 = c.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        c2.insert(&user_pod("opt-decode-7d9f-x2", "model-pvc", "gpu-node-7")).unwrap();
    });
    let e = inspect_err(&c, &request("model-pvc")).await;
    let InspectError::AttachedElsewhere { message, .. } = &e else { panic!("{e}") };
    assert!(message.starts_with("Multi-Attach error for volume \"pvc-"), "{message}");
    assert!(message.ends_with("Volume is already used by pod(s) opt-decode-7d9f-x2"), "{message}");
    assert!(e.to_string().contains("attached to another node"), "{e}");
    assert_eq!(leftovers(&c), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_read_write_once_pod_claim_in_use_is_refused_without_a_pod() {
    let c = cluster();
    bound(&c, "solo", "ReadWriteOncePod").await;
    c.insert(&user_pod("opt-decode-7d9f-x2", "solo", "gpu-node-7")).unwrap();
    let e = inspect_err(&c, &request("solo")).await;
    assert_eq!(
        e.to_string(),
        "claim solo is ReadWriteOncePod and in use by pod opt-decode-7d9f-x2 on node gpu-node-7: no second pod can mount it until that pod is gone"
    );
    assert_eq!(created_pods(&c), 0);
}

#[tokio::test(start_paused = true)]
async fn a_missing_or_unbound_claim_is_said_and_no_pod_is_made() {
    let c = cluster();
    let e = inspect_err(&c, &request("nope")).await;
    assert_eq!(e.to_string(), "claim nope does not exist in namespace llm-d");
    c.insert(&claim("later", "ReadWriteOnce", "wffc")).unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let e = inspect_err(&c, &request("later")).await;
    assert!(e.to_string().starts_with("claim later is Pending, not Bound: it has no volume yet"), "{e}");
    assert_eq!(created_pods(&c), 0);
    // The claim was not provisioned by an inspection.
    let r = ObjectRef::new("v1", "PersistentVolumeClaim", Some(NS), "later");
    assert_eq!(c.peek(&r).unwrap()["status"]["phase"], "Pending");
    // A claim being deleted, kept while a pod uses it, takes no new pod.
    bound(&c, "going", "ReadWriteMany").await;
    c.insert(&user_pod("vllm-0", "going", "gpu-node-7")).unwrap();
    let going = ObjectRef::new("v1", "PersistentVolumeClaim", Some(NS), "going");
    c.delete(&going, msws::cluster::Propagation::Background, false).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(c.peek(&going).unwrap()["metadata"].get("deletionTimestamp").is_some());
    let e = inspect_err(&c, &request("going")).await;
    assert_eq!(
        e.to_string(),
        "claim going is Terminating, not Bound: it is being deleted, and no new pod can mount it"
    );
    assert_eq!(created_pods(&c), 0);
}

fn script_inspection(c: &FakeCluster, claim: &str, script: JobScript) {
    c.script_pod(&inspect::pod::name_prefix(claim), script);
}

#[tokio::test(start_paused = true)]
async fn a_pod_that_runs_too_long_times_out_and_is_deleted() {
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteMany").await;
    script_inspection(&c, "model-pvc", JobScript { duration: Duration::from_secs(3600), ..JobScript::default() });
    let start = tokio::time::Instant::now();
    let e = inspect_err(&c, &Request { timeout: Duration::from_secs(60), ..request("model-pvc") }).await;
    assert!(matches!(&e, InspectError::Timeout { state, .. } if state == "running"), "{e}");
    assert!(
        e.to_string()
            .starts_with("the inspection of claim model-pvc timed out after 60s; the pod msws-inspect-model-pvc-"),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(70), "{:?}", start.elapsed());
    assert_eq!(leftovers(&c), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_deletes_the_pod() {
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteMany").await;
    script_inspection(&c, "model-pvc", JobScript { duration: Duration::from_secs(3600), ..JobScript::default() });
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        stop.cancel();
    });
    let r = run(&c, &request("model-pvc"), &cancel).await;
    let e = r.result.unwrap_err();
    assert!(matches!(&e, InspectError::Interrupted { pod: Some(_) }), "{e}");
    assert!(e.to_string().starts_with("interrupted: the inspection pod msws-inspect-model-pvc-"), "{e}");
    assert_eq!(leftovers(&c), Vec::<String>::new());
    // Cancelled before it began: nothing is made.
    let e = inspect_err(&c, &request("nope")).await;
    assert!(matches!(e, InspectError::NoClaim { .. }));
    let done = CancellationToken::new();
    done.cancel();
    assert!(matches!(run(&c, &request("model-pvc"), &done).await.result, Err(InspectError::Interrupted { pod: None })));
    assert_eq!(created_pods(&c), 1);
}

#[tokio::test(start_paused = true)]
async fn a_log_without_a_listing_or_with_a_broken_one_is_an_error_and_the_pod_goes() {
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteMany").await;
    type Expected = fn(&InspectError) -> bool;
    let cases: [(&str, Outcome, Expected); 4] = [
        ("MSWS-INSPECT-RESULT {\"format\":1,\"depth\":4,\"fil\n", Outcome::Succeed, |e| {
            matches!(e, InspectError::Log(LogError::Malformed(_)))
        }),
        (
            "Traceback (most recent call last):\nMemoryError\n",
            Outcome::Succeed,
            |e| matches!(e, InspectError::Log(LogError::NoResult(t)) if t.ends_with("MemoryError")),
        ),
        ("MSWS-INSPECT-FAILED the claim's root directory cannot be read\n", Outcome::Fail { exit_code: 1 }, |e| {
            e.to_string() == "the inspection script failed: the claim's root directory cannot be read"
        }),
        (
            "exec: \"python3\": executable file not found in $PATH\n",
            Outcome::Fail { exit_code: 128 },
            |e| matches!(e, InspectError::PodFailed { reason, .. } if reason.starts_with("its container exited with code 128")),
        ),
    ];
    for (log, outcome, expected) in cases {
        script_inspection(&c, "model-pvc", JobScript { log: log.into(), outcome, ..JobScript::default() });
        let e = inspect_err(&c, &request("model-pvc")).await;
        assert!(expected(&e), "{log}: {e:?}");
        assert_eq!(leftovers(&c), Vec::<String>::new(), "{log}");
    }
}

#[tokio::test(start_paused = true)]
async fn an_image_that_cannot_be_pulled_ends_the_wait_at_once() {
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteMany").await;
    c.script_image("registry.example/python:missing", PodFate::ImagePullBackOff);
    let start = tokio::time::Instant::now();
    let e = inspect_err(&c, &Request { image: "registry.example/python:missing".into(), ..request("model-pvc") }).await;
    assert!(
        matches!(&e, InspectError::PodFailed { reason, .. } if reason.starts_with("ImagePullBackOff") && reason.ends_with("(image registry.example/python:missing)")),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(leftovers(&c), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn a_leftover_of_a_crashed_run_is_deleted_and_a_running_one_is_said() {
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteMany").await;
    let req = request("model-pvc");
    let mut old = inspect::pod::pod(&req, None);
    old["metadata"]["name"] = json!("msws-inspect-model-pvc-old01");
    old["status"] = json!({"phase": "Succeeded"});
    c.insert(&old).unwrap();
    let mut busy = inspect::pod::pod(&req, None);
    busy["metadata"]["name"] = json!("msws-inspect-model-pvc-busy1");
    c.script_pod(
        "msws-inspect-model-pvc-busy1",
        JobScript { duration: Duration::from_secs(3600), ..JobScript::default() },
    );
    c.insert(&busy).unwrap();
    let i = inspect_ok(&c, &req).await;
    assert_eq!(
        i.notes,
        [
            "another inspection of claim model-pvc is running (pod msws-inspect-model-pvc-busy1)",
            "deleted the inspection pod msws-inspect-model-pvc-old01 an earlier run left behind",
        ]
    );
    assert_eq!(leftovers(&c), ["msws-inspect-model-pvc-busy1"]);
}

#[tokio::test(start_paused = true)]
async fn a_failed_deletion_is_tried_again_then_said() {
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteMany").await;
    c.fail_nth(Verb::Delete, "Pod", 1, ClusterError::Connection("connection reset".into()));
    inspect_ok(&c, &request("model-pvc")).await;
    assert_eq!(leftovers(&c), Vec::<String>::new());
    // A connection lost for a moment while the pod runs, or while its log is read, is waited out.
    c.fail_nth(Verb::Get, "Pod", 1, ClusterError::Connection("connection reset".into()));
    c.fail_nth(Verb::Logs, "Pod", 1, ClusterError::Timeout("slow".into()));
    let r = run(&c, &request("model-pvc"), &CancellationToken::new()).await;
    assert!(r.result.is_ok(), "{:?}", r.result);
    assert!(r.progress.iter().any(|l| l.contains("the cluster could not be read")), "{:?}", r.progress);
    assert_eq!(leftovers(&c), Vec::<String>::new());
    let forbidden = ClusterError::Forbidden { message: "pods is forbidden".into(), permission: None };
    c.fail_nth(Verb::Delete, "Pod", 1, forbidden.clone());
    let i = inspect_ok(&c, &request("model-pvc")).await;
    assert!(i.notes[0].contains("could not be deleted (forbidden: pods is forbidden): delete it with `kubectl delete pod -n llm-d msws-inspect-model-pvc-"), "{:?}", i.notes);
    // After a failure, the failed cleanup is said with it. (The first deletion is of the pod
    // left behind just now, which goes as a crashed run's would.)
    assert_eq!(leftovers(&c).len(), 1);
    script_inspection(&c, "model-pvc", JobScript { log: "nothing\n".into(), ..JobScript::default() });
    c.fail_nth(Verb::Delete, "Pod", 2, forbidden);
    let e = inspect_err(&c, &request("model-pvc")).await;
    assert!(matches!(e.root(), InspectError::Log(LogError::NoResult(_))), "{e}");
    assert!(e.to_string().contains("; and the inspection pod msws-inspect-model-pvc-"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn depth_says_how_far_down_models_are_found() {
    let c = cluster();
    bound(&c, "deep", "ReadWriteMany").await;
    c.put_claim_files(NS, "deep", model_files("a/b/c/d/e/model", 10));
    let shallow = inspect_ok(&c, &request("deep")).await;
    assert!(shallow.listing.models.is_empty());
    assert_eq!(shallow.listing.dirs.last().unwrap().path, "a/b/c/d");
    assert_eq!(shallow.listing.files, 3);
    let deep = inspect_ok(&c, &Request { depth: 6, ..request("deep") }).await;
    assert_eq!(deep.listing.models[0].path, "a/b/c/d/e/model");
    assert!(
        inspect::show::to_text(&shallow)
            .contains("No model directory (a config.json, or a Hugging Face hub cache entry) within 4 levels")
    );
}

#[tokio::test(start_paused = true)]
async fn a_download_leaves_its_model_on_the_claim_for_the_next_inspection() {
    // The fake's download pods write what download.py writes, so apply-then-inspect holds.
    let c = cluster();
    bound(&c, "model-pvc", "ReadWriteOnce").await;
    let marker = json!({"source": "hf://facebook/opt-125m", "repo": "facebook/opt-125m", "revision": "main",
                        "commit": "27dcfa74d334bc871f3234de431e71c6eeba5dd6", "files": 8, "bytes": 1234, "completed_at": "2026-11-26T18:05:00Z"});
    c.script_pod("downloader", JobScript { log: format!("MSWS-DOWNLOAD-COMPLETE {marker}\n"), ..JobScript::default() });
    c.create(&json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "downloader", "namespace": NS},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "download", "image": "python",
                 "env": [{"name": "MSWS_TARGET", "value": "/data/models/opt-125m"}],
                 "volumeMounts": [{"name": "model-storage", "mountPath": "/data"}]}],
                 "volumes": [{"name": "model-storage", "persistentVolumeClaim": {"claimName": "model-pvc"}}]}}))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    c.delete(&ObjectRef::new("v1", "Pod", Some(NS), "downloader"), msws::cluster::Propagation::Background, false)
        .await
        .unwrap();
    let i = inspect_ok(&c, &request("model-pvc")).await;
    assert_eq!(i.listing.models.len(), 1);
    assert_eq!(i.listing.models[0].uri("model-pvc").as_deref(), Some("pvc://model-pvc/models/opt-125m"));
    let Layout::Files { download: Some(d), .. } = &i.listing.models[0].layout else { panic!() };
    assert_eq!(d.bytes, Some(1234));
}

// ------------------------------------------------------------------------------------ the script

fn python() -> &'static Path {
    super::pyenv::python()
}

/// The tree of `files` written to `dir` as the fake describes it: sparse files of their size
/// (their text when they have one), links, empty and unreadable directories.
fn materialize(dir: &Path, files: &BTreeMap<String, ClaimFile>) {
    use std::os::unix::fs::PermissionsExt;
    let mut unreadable = Vec::new();
    for (path, f) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        match f {
            ClaimFile::File { size, content: Some(text) } => {
                assert_eq!(*size, text.len() as u64);
                std::fs::write(&p, text).unwrap();
            }
            ClaimFile::File { size, content: None } => std::fs::File::create(&p).unwrap().set_len(*size).unwrap(),
            ClaimFile::Dir => std::fs::create_dir_all(&p).unwrap(),
            ClaimFile::Link { target } => std::os::unix::fs::symlink(target, &p).unwrap(),
            ClaimFile::Unreadable => {
                std::fs::create_dir_all(&p).unwrap();
                unreadable.push(p);
            }
        }
    }
    for p in unreadable {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    }
}

struct Script {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the script as the pod does: `python3 -c SCRIPT`, the claim's directory as its root, as
/// the pod's user (65534) when the tests run as root (with `setpriv`, from util-linux), so that
/// permissions hold as they do in the pod.
fn run_script(root: &Path, env: &[(&str, &str)]) -> Script {
    let work = tempfile::tempdir().unwrap();
    let mut cmd = if is_root() {
        assert!(
            Command::new("setpriv").arg("--help").stdout(Stdio::null()).status().is_ok_and(|s| s.success()),
            "the tests run as root: running the inspection script as the pod's user needs `setpriv` (util-linux) on PATH"
        );
        let mut c = Command::new("setpriv");
        let user = inspect::pod::RUN_AS.to_string();
        c.args(["--reuid", &user, "--regid", &user, "--clear-groups"]).arg(python());
        c
    } else {
        Command::new(python())
    };
    cmd.arg("-c").arg(SCRIPT).env_clear().env("MSWS_INSPECT_ROOT", root).env("PYTHONDONTWRITEBYTECODE", "1");
    cmd.current_dir(work.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    Script {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn listing_of(root: &Path, env: &[(&str, &str)]) -> Listing {
    let run = run_script(root, env);
    assert_eq!(run.code, 0, "exit {}\n{}\n{}", run.code, run.stdout, run.stderr);
    // The mount point is in no answer.
    assert!(!run.stdout.contains(root.to_str().unwrap()), "{}", run.stdout);
    parse_log(&run.stdout).unwrap_or_else(|e| panic!("{e}\n{}", run.stdout))
}

fn is_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    })
}

/// A directory for a claim's files that the pod's user can enter.
fn claim_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// Trees the fake and the script must see alike.
fn trees() -> Vec<(&'static str, BTreeMap<String, ClaimFile>)> {
    let of = |v: Vec<(String, ClaimFile)>| v.into_iter().collect::<BTreeMap<_, _>>();
    let mut library = of(model_files("models/opt-125m", 5000));
    library.extend(hf_cache_files(
        "hub",
        "meta-llama/Llama-3.1-8B-Instruct",
        "0e9e39f249a16976918f6564b8830bc894c89659",
    ));
    library.extend(hf_cache_files("hub", "gpt2", "1111111111111111111111111111111111111111"));
    library.insert("hub/models--meta-llama--Llama-3.1-8B-Instruct/refs/pr/1".into(), ClaimFile::text("abc\n"));
    library.insert("hub/models--org--empty/snapshots/.keep".into(), ClaimFile::file(0));
    library.insert("models/opt-125m/.msws-download.json".into(), ClaimFile::text(r#"{"source":"hf://facebook/opt-125m","revision":"main","commit":"27dcfa74","files":3,"bytes":5000,"completed_at":"2026-11-26T18:05:00Z","extra":[1],"bool":true}"#));
    library.insert("models/broken/.msws-download.json".into(), ClaimFile::text("{not json"));
    library.insert("models/broken/tokenizer.json".into(), ClaimFile::file(10));
    library.insert("models/linked/config.json".into(), ClaimFile::link("../opt-125m/config.json"));
    library.insert("models/escape/config.json".into(), ClaimFile::link("../../../../etc/hostname"));
    library.insert("models/dangling/config.json".into(), ClaimFile::link("nowhere.json"));
    library.insert("models/dir-link".into(), ClaimFile::link("opt-125m"));
    library.insert("lost+found/x".into(), ClaimFile::file(1));
    library.insert("empty".into(), ClaimFile::Dir);
    library.insert("données/modèle/config.json".into(), ClaimFile::text("{}"));
    let mut runbook = of(model_files("", 3000));
    runbook.insert(".cache/huggingface/download/config.json.metadata".into(), ClaimFile::text("abc\n1\n"));
    runbook.insert("pytorch_model.bin".into(), ClaimFile::file(7000));
    let mut deep = of(model_files("a/b/c/d/e/m", 1));
    deep.extend(model_files("a/b/x", 2));
    deep.extend(model_files("a/b/x/nested", 3));
    let mut unreadable = of(model_files("ok/model", 1));
    unreadable.insert("ok/locked".into(), ClaimFile::Unreadable);
    unreadable.insert("ok/model/locked".into(), ClaimFile::Unreadable);
    vec![
        ("library", library),
        ("runbook", runbook),
        ("deep", deep),
        ("unreadable", unreadable),
        ("empty", BTreeMap::new()),
    ]
}

#[test]
fn the_script_and_the_fake_s_inspection_pods_see_a_tree_alike() {
    for (name, files) in trees() {
        for (depth, limit) in [(4u32, 1000usize), (2, 1000), (6, 2)] {
            let dir = claim_dir();
            let claim = dir.path().join("claim");
            std::fs::create_dir_all(&claim).unwrap();
            materialize(&claim, &files);
            let (d, l) = (depth.to_string(), limit.to_string());
            let real = listing_of(&claim, &[("MSWS_INSPECT_DEPTH", &d), ("MSWS_INSPECT_LIMIT", &l)]);
            let fake: Listing = serde_json::from_value(claim_listing(&files, depth, limit)).unwrap();
            assert_eq!(fake, real, "{name} at depth {depth}, limit {limit}");
            restore_permissions(&claim);
        }
    }
}

fn restore_permissions(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(rd) = std::fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let _ = std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o755));
            restore_permissions(&e.path());
        }
    }
}

#[test]
fn the_script_reports_what_it_finds_on_a_real_tree() {
    let (_, files) = trees().remove(0);
    let dir = claim_dir();
    materialize(dir.path(), &files);
    let l = listing_of(dir.path(), &[]);
    let uris: Vec<String> = l.models.iter().filter_map(|m| m.uri("lib")).collect();
    assert_eq!(
        uris,
        [
            "pvc://lib/données/modèle",
            "pvc://lib/hub/models--gpt2/snapshots/1111111111111111111111111111111111111111",
            "pvc+hf://lib/hub/meta-llama/Llama-3.1-8B-Instruct",
            "pvc+hf://lib/hub/org/empty",
            "pvc://lib/models/linked",
            "pvc://lib/models/opt-125m",
        ]
    );
    let llama = &l.models[2];
    let Layout::HfCache { refs, snapshots, .. } = &llama.layout else { panic!() };
    assert_eq!(refs.get("pr/1").map(String::as_str), Some("abc"));
    assert!(snapshots[0].config);
    assert_eq!(llama.bytes, 700 + 9_000_000 + 16_000_000_000 + 40 + 4, "blobs and refs, links not followed");
    assert!(!l.models[3].has_config());
    let Layout::Files { download: Some(d), .. } = &l.models[5].layout else { panic!() };
    assert_eq!((d.commit.as_deref(), d.files), (Some("27dcfa74"), Some(3)));
    assert!(!l.dirs.iter().any(|d| d.path.starts_with("lost+found")));
    assert!(l.dirs.iter().any(|d| d.path == "empty" && d.files == 0));
}

#[test]
fn the_script_reports_unreadable_directories_without_stopping() {
    let dir = claim_dir();
    let (_, files) = trees().into_iter().find(|(n, _)| *n == "unreadable").unwrap();
    materialize(dir.path(), &files);
    let l = listing_of(dir.path(), &[]);
    restore_permissions(dir.path());
    assert_eq!(l.models.len(), 1);
    assert_eq!(l.unreadable, ["ok/locked", "ok/model/locked"]);
    assert_eq!(l.unreadable_count, 2);
}

#[test]
fn the_script_fails_with_one_line_and_never_names_the_mount_point() {
    let dir = claim_dir();
    let missing = dir.path().join("not-there");
    let run = run_script(&missing, &[]);
    assert_eq!((run.code, run.stdout.trim()), (1, "MSWS-INSPECT-FAILED the claim's mount point is not a directory"));
    assert!(!run.stdout.contains("not-there") && !run.stderr.contains("not-there"), "{}{}", run.stdout, run.stderr);
    let run = run_script(dir.path(), &[("MSWS_INSPECT_DEPTH", "-1")]);
    assert_eq!(run.code, 1);
    assert!(
        run.stdout.starts_with("MSWS-INSPECT-FAILED MSWS_INSPECT_DEPTH must be a whole number from 0 to 64"),
        "{}",
        run.stdout
    );
    let run = run_script(Path::new("relative"), &[]);
    assert_eq!(run.stdout.trim(), "MSWS-INSPECT-FAILED MSWS_INSPECT_ROOT must be an absolute directory");
    assert!(matches!(parse_log(&run.stdout), Err(LogError::Failed(_))));
}

#[test]
fn the_script_is_python_3_9_and_the_standard_library_only() {
    let check = r#"
import ast, sys
tree = ast.parse(sys.stdin.read(), feature_version=(3, 9))
mods = set()
for node in ast.walk(tree):
    if isinstance(node, ast.Import):
        mods.update(a.name.split(".")[0] for a in node.names)
    elif isinstance(node, ast.ImportFrom):
        mods.add((node.module or "").split(".")[0])
    elif isinstance(node, ast.Call) and getattr(node.func, "id", "") == "__import__":
        mods.add("__import__")
bad = sorted(m for m in mods if m not in sys.stdlib_module_names)
print(",".join(sorted(mods)))
sys.exit(1 if bad else 0)
"#;
    let mut child = Command::new(python())
        .args(["-c", check])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(SCRIPT.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "json,os,re,stat,sys");
}

#[test]
fn the_script_s_header_documents_what_it_reads_and_what_the_pod_sets() {
    let header: String = SCRIPT.lines().take_while(|l| l.starts_with('#')).collect::<Vec<_>>().join("\n");
    let read: std::collections::BTreeSet<&str> = SCRIPT
        .match_indices("os.environ.get(\"")
        .map(|(i, m)| &SCRIPT[i + m.len()..])
        .chain(SCRIPT.match_indices("number(\"").map(|(i, m)| &SCRIPT[i + m.len()..]))
        .map(|rest| &rest[..rest.find('"').unwrap()])
        .collect();
    assert_eq!(
        read.iter().copied().collect::<Vec<_>>(),
        ["MSWS_INSPECT_DEPTH", "MSWS_INSPECT_LIMIT", "MSWS_INSPECT_ROOT"]
    );
    for v in &read {
        assert!(header.contains(&format!("#   {v}")), "{v} is not documented in the header");
    }
    for (prefix, what) in [(inspect::listing::RESULT_PREFIX, "result"), (inspect::listing::FAILED_PREFIX, "failure")] {
        assert!(header.contains(prefix.trim()), "the {what} line {prefix:?} is not in the header");
        assert!(SCRIPT.contains(&format!("\"{prefix}")), "the script does not print {prefix:?}");
    }
    assert!(header.contains(&format!("\"format\": {}", inspect::listing::LISTING_FORMAT)));
    // Every variable the pod sets is one the script reads, or Python's own.
    let pod = inspect::pod::pod(&request("c"), None);
    for e in pod["spec"]["containers"][0]["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap();
        assert!(read.contains(name) || name.starts_with("PYTHON"), "the pod sets {name}, which nothing reads");
    }
}

// ------------------------------------------------------------------------------------ the runbook, for real

/// The fake Hugging Face Hub of `../shared/tools`, serving the sample repos on a free port.
struct Hub {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tools_dir() -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("MSWS_HF_TOOLS").map(PathBuf::from).into_iter().collect();
    candidates.push(root().join("../shared/tools"));
    candidates.push(PathBuf::from("/work/shared/tools"));
    candidates
        .iter()
        .find(|d| d.join("fake_hf_hub.py").is_file() && d.join("make_hf_repos.py").is_file())
        .cloned()
        .unwrap_or_else(|| panic!("fake_hf_hub.py / make_hf_repos.py not found in {candidates:?}"))
}

/// A command without the developer's Hub, proxy or Python settings.
fn clean(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars_os() {
        let u = k.to_string_lossy().to_ascii_uppercase();
        if u.starts_with("HF_")
            || u.starts_with("HUGGING_FACE")
            || u.starts_with("MSWS_")
            || u.ends_with("_PROXY")
            || u.starts_with("PYTHON")
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    cmd
}

impl Hub {
    fn start() -> Hub {
        let tools = tools_dir();
        let dir = tempfile::tempdir().unwrap();
        let repos = dir.path().join("repos");
        let out = clean(Command::new(python()))
            .arg(tools.join("make_hf_repos.py"))
            .arg(&repos)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "make_hf_repos.py: {out:?}");
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = clean(Command::new(python()))
                .arg(tools.join("fake_hf_hub.py"))
                .arg(port.to_string())
                .arg("--root")
                .arg(&repos)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            while std::time::Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Hub { child, port, _dir: dir };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("the fake Hub did not start");
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

#[test]
fn a_claim_filled_by_the_runbook_s_downloader_is_served_from_its_root() {
    // The runbook's download-model.yaml mounts the claim at /models and downloads into
    // local_dir='/models': the model is the claim's root, and `models` is the mount point.
    let hub = Hub::start();
    let claim = claim_dir();
    let home = tempfile::tempdir().unwrap();
    let download = format!(
        "from huggingface_hub import snapshot_download; snapshot_download(repo_id='facebook/opt-125m-tiny', local_dir={:?})",
        claim.path().to_str().unwrap()
    );
    let out = clean(Command::new(python()))
        .args(["-c", &download])
        .env("HF_ENDPOINT", hub.endpoint())
        .env("HF_HOME", home.path())
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(claim.path().join("config.json").is_file());
    let l = listing_of(claim.path(), &[]);
    let uris: Vec<String> = l.models.iter().filter_map(|m| m.uri("model-pvc")).collect();
    assert_eq!(uris, ["pvc://model-pvc/"], "{l:#?}");
    // What `msws inspect model-pvc FILE` prints of it.
    let shown = Inspection {
        namespace: NS.into(),
        claim: inspect::ClaimInfo {
            name: "model-pvc".into(),
            phase: "Bound".into(),
            access_modes: vec!["ReadWriteMany".into()],
            capacity: Some("5Gi".into()),
            volume: Some("model-pv".into()),
            storage_class: Some("standard".into()),
        },
        pod: "msws-inspect-model-pvc-x".into(),
        image: inspect::DEFAULT_IMAGE.into(),
        node: None,
        pinned_because: None,
        listing: l.clone(),
        notes: vec![],
    };
    let text = inspect::show::to_text(&shown);
    assert!(text.contains("\n  pvc://model-pvc/   (the claim's root)\n      config.json, 1 .safetensors;"), "{text}");
    // The runbook says `models` is the path for step 2: that is the downloader's mount point,
    // and msws says so — the right URI is the claim's root.
    let wrong = msws::model::ModelUri::parse("pvc://model-pvc/models").unwrap();
    let msws::inspect::find::Verdict::Missing { there, nearest } =
        msws::inspect::find::check(&l, "model-pvc", msws::inspect::find::Want::of(&wrong).unwrap())
    else {
        panic!("found a model at models/")
    };
    assert_eq!(nearest, ["pvc://model-pvc/"]);
    assert!(there.contains("the claim's root, which is the model directory itself"), "{there}");
    // The URI is one the workspace language and the chart both take (with the slash, the
    // chart's `--model` is the mount path itself).
    let uri = msws::model::ModelUri::parse(&uris[0]).unwrap();
    assert_eq!(uri, msws::model::ModelUri::Pvc { claim: "model-pvc".into(), path: String::new() });
}

#[test]
fn a_claim_filled_by_msws_s_downloader_names_the_download() {
    let hub = Hub::start();
    let claim = claim_dir();
    let tmp = tempfile::tempdir().unwrap();
    let target = claim.path().join("models/opt-125m");
    let out = clean(Command::new(python()))
        .arg("-c")
        .arg(msws::render::DOWNLOAD_SCRIPT)
        .env("HF_ENDPOINT", hub.endpoint())
        .env("MSWS_REPO", "facebook/opt-125m-tiny")
        .env("MSWS_REVISION", "main")
        .env("MSWS_TARGET", &target)
        .env("MSWS_SOURCE", "hf://facebook/opt-125m-tiny")
        .env("MSWS_PROGRESS_SECONDS", "0")
        .env("TMPDIR", tmp.path())
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let l = listing_of(claim.path(), &[]);
    assert_eq!(l.models.len(), 1, "{l:#?}");
    let m = &l.models[0];
    assert_eq!(m.uri("model-pvc").as_deref(), Some("pvc://model-pvc/models/opt-125m"));
    let Layout::Files { download: Some(d), weights } = &m.layout else { panic!("{m:?}") };
    assert_eq!((d.source.as_deref(), d.revision.as_deref()), (Some("hf://facebook/opt-125m-tiny"), Some("main")));
    assert_eq!(d.commit.as_ref().map(String::len), Some(40));
    assert_eq!(weights.get("safetensors"), Some(&1));
    assert_eq!(
        d.files,
        Some(m.files - 1 - hidden_files(&target)),
        "the marker counts the model's files, not itself or .cache"
    );
}

fn hidden_files(dir: &Path) -> u64 {
    fn count(d: &Path) -> u64 {
        std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .map(|e| if e.file_type().unwrap().is_dir() { count(&e.path()) } else { 1 })
            .sum()
    }
    let cache = dir.join(".cache");
    if cache.is_dir() { count(&cache) } else { 0 }
}

// ------------------------------------------------------------------------------------ the model check

mod model_check {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use msws::apply::engine::{Command, Options, Outcome, Report};
    use msws::apply::lock::Holder;
    use msws::apply::progress::{Event, Recording};
    use msws::apply::session::{self, Request, RunError, Stop};
    use msws::cluster::fake::{ClaimFile, FakeCluster, JobScript, Verb, hf_cache_files, model_files};
    use msws::cluster::{Cluster, ObjectRef};
    use msws::plan::models::{CheckError, ModelChecks};
    use msws::plan::{ObserveOptions, Plan, Source};
    use serde_json::json;
    use tokio_util::sync::CancellationToken;

    use super::{NS, bound, cluster, leftovers, user_pod};

    struct Loaded {
        ws: msws::model::Workspace,
        graph: msws::graph::StepGraph,
        dir: tempfile::TempDir,
        file: std::path::PathBuf,
    }

    fn load(text: &str) -> Loaded {
        let mut fe = msws::lower::load_str("w.kdl", text, &msws::lower::Options::default());
        let ws = fe.workspace.take().unwrap_or_else(|| panic!("{}", crate::support::rendered(&fe)));
        let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("w.kdl");
        std::fs::write(&file, text).unwrap();
        Loaded { ws, graph, dir, file }
    }

    /// A workspace serving `uri` from the existing claim `models` (ReadWriteMany).
    fn serving(uri: &str, access: &str) -> String {
        format!(
            r#"workspace "lib" format=1 {{
    namespace "llm-d"
}}

storage "models" existing=#true {{
    access "{access}"
}}

model-service "opt" {{
    uri "{uri}"
    served-name "facebook/opt-125m"
    decode replicas=1 extends="std/vllm-decode"
}}
"#
        )
    }

    fn plan_request(l: &Loaded) -> msws::plan::Request<'_> {
        msws::plan::Request {
            ws: &l.ws,
            graph: &l.graph,
            namespace: NS.into(),
            secret_values: BTreeMap::new(),
            cluster: "fake".into(),
            workspace_hash: "h".into(),
            replace_storage: false,
            delete_storage: false,
        }
    }

    /// `msws plan` against the cluster: the plan, then the model check.
    async fn plan(l: &Loaded, c: &FakeCluster) -> Result<Plan, CheckError> {
        let mut plan = msws::plan::make(&plan_request(l), Source::Cluster(c, ObserveOptions::default())).await.unwrap();
        let checks = ModelChecks::default();
        msws::plan::models::check(c, &l.ws, &mut plan, &checks, &CancellationToken::new(), &|_| {}).await?;
        Ok(plan)
    }

    async fn library() -> Arc<FakeCluster> {
        let c = cluster();
        bound(&c, "models", "ReadWriteMany").await;
        c.put_claim_files(NS, "models", model_files("models/opt-125m", 250_000_000));
        c.put_claim_files(NS, "models", model_files("models/llama-3.1-8b", 16_000_000_000));
        c.put_claim_files(
            NS,
            "models",
            hf_cache_files("hub", "meta-llama/Llama-3.1-8B-Instruct", "0e9e39f249a16976918f6564b8830bc894c89659"),
        );
        c.insert(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})).ok();
        c
    }

    #[tokio::test(start_paused = true)]
    async fn a_wrong_path_on_an_existing_claim_is_refused_at_plan_time_with_the_nearest_right_one() {
        let c = library().await;
        let l = load(&serving("pvc://models/models/opt-125", "ReadWriteMany"));
        let p = plan(&l, &c).await.unwrap();
        assert_eq!(
            p.refusals,
            [
                "model-service/opt: no model at pvc://models/models/opt-125 — there is no directory models/opt-125 on the claim (models is there); did you mean pvc://models/models/opt-125m? (also on the claim: pvc://models/models/llama-3.1-8b, pvc+hf://models/hub/meta-llama/Llama-3.1-8B-Instruct) (`msws inspect models FILE` lists the claim; --skip-model-check skips this check)"
            ]
        );
        assert_eq!(leftovers(&c), Vec::<String>::new());
        // docs/commands.md shows this refusal as the plan prints it.
        let md = std::fs::read_to_string(crate::support::root().join("docs/commands.md")).unwrap();
        assert!(md.contains(&format!("refused: {}\n", p.refusals[0])), "docs/commands.md shows another refusal");
        // The right path plans cleanly.
        let l = load(&serving("pvc://models/models/opt-125m", "ReadWriteMany"));
        let p = plan(&l, &c).await.unwrap();
        assert_eq!((p.refusals.len(), p.warnings.len()), (0, 0), "{p:#?}");
        // And so does a hub cache entry; a wrong repository names the right one.
        let l = load(&serving("pvc+hf://models/hub/meta-llama/Llama-3.1-8B-Instruct", "ReadWriteMany"));
        assert_eq!(plan(&l, &c).await.unwrap().refusals, Vec::<String>::new());
        let l = load(&serving("pvc+hf://models/hub/meta-llama/Llama-3.1-70B-Instruct", "ReadWriteMany"));
        let r = &plan(&l, &c).await.unwrap().refusals[0];
        assert!(r.contains("the hub cache in hub has no entry for meta-llama/Llama-3.1-70B-Instruct (it holds meta-llama/Llama-3.1-8B-Instruct); did you mean pvc+hf://models/hub/meta-llama/Llama-3.1-8B-Instruct?"), "{r}");
    }

    #[tokio::test(start_paused = true)]
    async fn what_cannot_be_checked_is_a_warning_that_says_why() {
        let c = library().await;
        // ReadWriteOncePod in use: no second pod can mount it.
        bound(&c, "solo", "ReadWriteOncePod").await;
        c.insert(&user_pod("vllm-0", "solo", "gpu-node-7")).unwrap();
        let text =
            serving("pvc://solo/models/opt-125m", "ReadWriteOncePod").replace("storage \"models\"", "storage \"solo\"");
        let p = plan(&load(&text), &c).await.unwrap();
        assert_eq!(p.refusals, Vec::<String>::new());
        assert_eq!(
            p.warnings,
            [
                "model-service/opt: could not check that pvc://solo/models/opt-125m holds a model: claim solo is ReadWriteOncePod and in use by pod vllm-0 on node gpu-node-7: no second pod can mount it until that pod is gone (--skip-model-check skips this check)"
            ]
        );
        // A claim msws creates does not exist before the first apply.
        let fresh = r#"workspace "lib" format=1 {
    namespace "llm-d"
}

storage "new" {
    access "ReadWriteMany"
    size "10Gi"
    class "standard"
}

model-service "opt" {
    uri "pvc://new/models/opt"
    served-name "opt"
    decode replicas=1 extends="std/vllm-decode"
}
"#;
        let p = plan(&load(fresh), &c).await.unwrap();
        assert_eq!(p.refusals, Vec::<String>::new());
        assert!(
            p.warnings.iter().any(|w| w.starts_with(
                "model-service/opt: pvc://new/models/opt not checked for a model: claim new does not exist yet"
            )),
            "{:?}",
            p.warnings
        );
        assert_eq!(c.count(Verb::Create, "Pod"), 0, "nothing to inspect, no pod");
    }

    #[tokio::test(start_paused = true)]
    async fn a_path_msws_downloads_into_and_an_unchanged_service_are_not_checked() {
        let c = library().await;
        let text = r#"workspace "lib" format=1 {
    namespace "llm-d"
}

storage "models" existing=#true {
    access "ReadWriteMany"
}

download "opt" {
    from "hf://facebook/opt-125m" revision="main"
    into "models" path="models/fresh"
}

model-service "a" {
    model "opt"
    served-name "a"
    decode replicas=1 extends="std/vllm-decode"
}

model-service "b" {
    uri "pvc://models/models/fresh"
    served-name "b"
    decode replicas=1 extends="std/vllm-decode"
}
"#;
        let p = plan(&load(text), &c).await.unwrap();
        assert_eq!((p.refusals.len(), p.warnings.len()), (0, 0), "{p:#?}");
        assert_eq!(c.count(Verb::Create, "Pod"), 0);
        assert!(msws::plan::models::targets(&load(text).ws, &p).is_empty());
    }

    fn session_request<'a>(l: &'a Loaded, opts: Options) -> Request<'a> {
        Request {
            command: Command::Apply,
            ws: &l.ws,
            graph: &l.graph,
            file: &l.file,
            namespace: NS.into(),
            secret_values: BTreeMap::new(),
            workspace_hash: "h".into(),
            git_commit: None,
            saved: None,
            replace_storage: false,
            delete_storage: false,
            opts,
            holder: Holder::new("test@host/1/abcd"),
        }
    }

    async fn apply(
        l: &Loaded,
        c: &Arc<FakeCluster>,
        opts: Options,
        stop: Stop,
    ) -> (Result<(Plan, Report), RunError>, Vec<Event>) {
        let rec = Arc::new(Recording::new());
        let mut yes = |_: &Plan| true;
        let dyn_c: Arc<dyn Cluster> = c.clone();
        let r = session::run(dyn_c, session_request(l, opts), rec.clone(), &mut yes, stop).await;
        (r, rec.events())
    }

    fn fast() -> Options {
        Options { poll: Duration::from_secs(2), ..Options::default() }
    }

    #[tokio::test(start_paused = true)]
    async fn apply_refuses_a_wrong_path_before_any_change_and_checks_once() {
        let c = library().await;
        let l = load(&serving("pvc://models/models/opt", "ReadWriteMany"));
        c.reset_requests();
        let (r, _) = apply(&l, &c, fast(), Stop::default()).await;
        let Err(RunError::Refused(why)) = r else { panic!("{r:?}") };
        assert!(why[0].contains("did you mean pvc://models/models/opt-125m?"), "{why:?}");
        let writes: Vec<_> = c
            .request_log()
            .into_iter()
            .filter(|r| matches!(r.verb, Verb::Apply | Verb::Create | Verb::Replace | Verb::Delete) && r.kind != "Pod")
            .collect();
        assert_eq!(writes, vec![], "nothing but the inspection pod was written");
        assert!(!l.dir.path().join(".msws").exists(), "no journal");

        // The right path: applied, with one inspection for the two plans (without and with the
        // lock), announced as notes; a second apply has nothing to do and makes no pod.
        let l = load(&serving("pvc://models/models/opt-125m", "ReadWriteMany"));
        c.reset_requests();
        let (r, events) = apply(&l, &c, fast(), Stop::default()).await;
        assert_eq!(r.unwrap().1.outcome, Outcome::Applied);
        assert_eq!(c.count(Verb::Create, "Pod"), 1, "{:?}", c.request_log());
        assert!(events.iter().any(|e| matches!(e, Event::Note { message } if message == "checking that claim models holds pvc://models/models/opt-125m")), "{events:#?}");
        tokio::time::sleep(Duration::from_secs(30)).await;
        c.reset_requests();
        let (r, _) = apply(&l, &c, fast(), Stop::default()).await;
        assert_eq!(r.unwrap().1.outcome, Outcome::NoChanges);
        assert_eq!(c.count(Verb::Create, "Pod"), 0);
        assert_eq!(leftovers(&c), Vec::<String>::new());
    }

    #[tokio::test(start_paused = true)]
    async fn skip_model_check_applies_what_the_user_says() {
        let c = library().await;
        let l = load(&serving("pvc://models/somewhere/else", "ReadWriteMany"));
        let (r, _) = apply(&l, &c, Options { model_check: false, ..fast() }, Stop::default()).await;
        assert_eq!(r.unwrap().1.outcome, Outcome::Applied);
        assert_eq!(c.count(Verb::Create, "Pod"), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn ctrl_c_during_the_check_changes_nothing_and_deletes_the_pod() {
        let c = library().await;
        c.script_pod(
            &msws::inspect::pod::name_prefix("models"),
            JobScript { duration: Duration::from_secs(3600), ..JobScript::default() },
        );
        let l = load(&serving("pvc://models/models/opt-125m", "ReadWriteMany"));
        let stop = Stop::default();
        let cancel = stop.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(20)).await;
            cancel.cancel();
        });
        let (r, _) = apply(&l, &c, fast(), stop).await;
        let Err(e @ RunError::Check(_)) = r else { panic!("{r:?}") };
        assert!(
            e.to_string().starts_with(
                "interrupted while checking the models on the claims (the inspection pod msws-inspect-models-"
            ),
            "{e}"
        );
        assert!(e.to_string().ends_with("was deleted): nothing was changed"), "{e}");
        assert_eq!(leftovers(&c), Vec::<String>::new());
        assert!(c.peek(&ObjectRef::new("apps/v1", "Deployment", Some(NS), "opt-decode")).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_connection_during_the_check_stops_the_plan() {
        let c = library().await;
        let l = load(&serving("pvc://models/models/opt-125m", "ReadWriteMany"));
        let mut p =
            msws::plan::make(&plan_request(&l), Source::Cluster(c.as_ref(), ObserveOptions::default())).await.unwrap();
        c.fail_nth(Verb::Create, "Pod", 1, msws::cluster::ClusterError::Connection("reset".into()));
        let r = msws::plan::models::check(
            c.as_ref(),
            &l.ws,
            &mut p,
            &ModelChecks::default(),
            &CancellationToken::new(),
            &|_| {},
        )
        .await;
        assert!(matches!(r, Err(CheckError::Cluster(_))), "{r:?}");
        let _ = ClaimFile::Dir;
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = lines.clone();
        let progress = move |l: &str| sink.lock().unwrap().push(l.to_string());
        msws::plan::models::check(
            c.as_ref(),
            &l.ws,
            &mut p,
            &ModelChecks::default(),
            &CancellationToken::new(),
            &progress,
        )
        .await
        .unwrap();
        assert_eq!(lines.lock().unwrap()[0], "checking that claim models holds pvc://models/models/opt-125m");
    }
}

// ------------------------------------------------------------------------------------ the command line

mod command_line {
    use snapbox::cmd::{Command, cargo_bin};

    use crate::support::root;

    fn msws() -> Command {
        Command::new(cargo_bin!("msws"))
            .current_dir(root())
            .env("KUBECONFIG", "/nonexistent")
            .env_remove("MSWS_VAR_REPLICAS")
    }

    fn stderr(out: &snapbox::cmd::OutputAssert) -> String {
        String::from_utf8_lossy(&out.get_output().stderr).into_owned()
    }

    #[test]
    fn inspect_without_a_cluster_fails_cleanly_and_names_the_kubeconfig() {
        let out = msws().args(["inspect", "model-pvc", "workspaces/opt-125m-rwo.kdl"]).assert().code(1);
        assert!(stderr(&out).contains("kubeconfig"), "{}", stderr(&out));
        assert!(out.get_output().stdout.is_empty());
    }

    #[test]
    fn inspect_s_usage_errors_exit_2_before_any_cluster_is_asked() {
        for args in [
            &["inspect", "workspaces/opt-125m-rwo.kdl"][..],
            &["inspect", "model-pvc", "workspaces/opt-125m-rwo.kdl", "--depth", "99"],
            &["inspect", "model-pvc", "workspaces/opt-125m-rwo.kdl", "--timeout", "soon"],
        ] {
            msws().args(args).assert().code(2);
        }
        let out = msws().args(["inspect", "hf-cach", "workspaces/pvc-hf.kdl"]).assert().code(2);
        assert_eq!(stderr(&out), "error: workspace llama-cache has no storage `hf-cach` (did you mean `hf-cache`?)\n");
        // A workspace with errors is reported as any command reports it.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("w.kdl"), "workspace \"w\" format=1\nstorage \"s\" { sise \"1Gi\" }\n").unwrap();
        let out =
            Command::new(cargo_bin!("msws")).current_dir(dir.path()).args(["inspect", "s", "w.kdl"]).assert().code(1);
        assert!(stderr(&out).contains("error: w.kdl has 2 errors"), "{}", stderr(&out));
    }

    #[test]
    fn the_model_check_can_be_skipped_and_offline_plans_make_no_check() {
        for cmd in ["plan", "apply", "recover"] {
            let help = msws().args([cmd, "--help"]).assert().success();
            let text = String::from_utf8_lossy(&help.get_output().stdout).into_owned();
            assert!(text.contains("--skip-model-check"), "msws {cmd} --help:\n{text}");
        }
        msws().args(["plan", "--offline", "--skip-model-check", "workspaces/pvc-hf.kdl"]).assert().success();
        let out = msws().args(["plan", "--offline", "workspaces/pvc-hf.kdl"]).assert().success();
        assert!(!stderr(&out).contains("checking"), "{}", stderr(&out));
    }
}
