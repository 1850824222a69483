//! Image pre-pull: the fake cluster's nodes and image pulls, the `pre-pull/<model-service>` step
//! in the graph and the plan (offline, online, nodes with and without the image, nodes that may
//! not be listed, `pre-pull #false`), the pull pods' shape, and apply on tokio's paused clock:
//! pulled while the download runs, deleted on success, on a failed pull, on Ctrl-C, on the
//! rollback of a later failure, and by destroy; a second apply pulls nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use msws::apply::engine::{Command, Options, Outcome, Report};
use msws::apply::lock::Holder;
use msws::apply::progress::{Event, Recording};
use msws::apply::session::{self, Request, RunError, Stop};
use msws::cluster::fake::{
    FakeCluster, FakeNode, JobScript, Outcome as JobOutcome, PodFate, persistent_volume, storage_class,
};
use msws::cluster::{Cluster, ObjectRef};
use msws::plan::show::{Style, to_json, to_text};
use msws::plan::{ObserveOptions, Plan, Source};
use serde_json::{Value, json};

use crate::plan::{Loaded, load_ws};

const CUDA: &str = "ghcr.io/llm-d/llm-d-cuda:latest";
const SIDECAR: &str = "ghcr.io/llm-d/llm-d-routing-sidecar:latest";
const COMMIT: &str = "27dcfa74d334bc871f3234de431e71c6eeba5dd6";
const MIN: u64 = 60;

/// The RWO runbook, its servers pinned to the `pool=gpu` nodes and tolerating their taint.
fn workspace(extra_header: &str) -> String {
    format!(
        r#"workspace "pp" format=1 {{
    namespace "llm-d"
    {extra_header}
}}

storage "model-pvc" {{
    access "ReadWriteOnce"
    size "5Gi"
    class "standard"
    volume "model-pv"
}}

download "opt-125m" {{
    from "hf://facebook/opt-125m" revision="{COMMIT}"
    into "model-pvc" path="models/opt-125m"
}}

model-service "opt" {{
    model "opt-125m"
    served-name "facebook/opt-125m"
    decode replicas=1 extends="std/vllm-single" {{
        node-selector {{
            "pool" "gpu"
        }}
        toleration key="nvidia.com/gpu" operator="Exists" effect="NoSchedule"
        image-pull-secret "regcred"
    }}
}}
"#
    )
}

struct World {
    l: Loaded,
    cluster: Arc<FakeCluster>,
    _dir: tempfile::TempDir,
    file: PathBuf,
}

/// Three nodes: two GPU nodes of the pool (gpu-b already has the server's image), one CPU node.
fn nodes() -> Vec<FakeNode> {
    vec![
        FakeNode::new("cpu-c"),
        FakeNode::new("gpu-a").label("pool", "gpu").taint("nvidia.com/gpu", "present", "NoSchedule").gpus(1),
        FakeNode::new("gpu-b")
            .label("pool", "gpu")
            .taint("nvidia.com/gpu", "present", "NoSchedule")
            .gpus(1)
            .image(CUDA),
    ]
}

fn world(text: &str, with_nodes: bool) -> World {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pp.kdl");
    std::fs::write(&file, text).unwrap();
    let l = load_ws(&file);
    let cluster = Arc::new(FakeCluster::new("llm-d").with_runtime_clock());
    cluster.insert(&storage_class("standard", "Immediate", true, "Retain")).unwrap();
    cluster.insert(&persistent_volume("model-pv", "10Gi", &["ReadWriteOnce"], "standard")).unwrap();
    if with_nodes {
        cluster.set_nodes(&nodes());
        cluster.allow_node_reads(true);
    }
    // The issue's durations: a 10-minute download, an 8-minute pull of the server, a 3-minute load.
    cluster.set_image_pull(CUDA, Duration::from_secs(8 * MIN));
    cluster.set_image_pull(SIDECAR, Duration::from_secs(MIN));
    cluster.set_ready_delay(Duration::from_secs(3 * MIN));
    let marker = json!({"source": "hf://facebook/opt-125m", "repo": "facebook/opt-125m", "revision": COMMIT,
        "commit": COMMIT, "files": 8, "bytes": 250_000_000u64, "completed_at": "2026-11-26T18:05:00Z"});
    cluster.script_job(
        "opt-125m-download",
        JobScript {
            duration: Duration::from_secs(10 * MIN),
            outcome: JobOutcome::Succeed,
            log: format!("MSWS-DOWNLOAD-COMPLETE {marker}\n"),
            failures_before_success: 0,
        },
    );
    World { l, cluster, _dir: dir, file }
}

impl World {
    fn request(&self, command: Command) -> Request<'_> {
        Request {
            command,
            ws: &self.l.ws,
            graph: &self.l.graph,
            file: &self.file,
            namespace: "llm-d".into(),
            secret_values: BTreeMap::new(),
            workspace_hash: "hash".into(),
            git_commit: None,
            saved: None,
            replace_storage: false,
            delete_storage: false,
            opts: Options::default(),
            holder: Holder::new("test@host/1/abcd"),
        }
    }

    async fn run(&self, command: Command, stop: Stop) -> (Result<(Plan, Report), RunError>, Vec<Event>) {
        let rec = Arc::new(Recording::new());
        let mut yes = |_: &Plan| true;
        let c: Arc<dyn Cluster> = self.cluster.clone();
        let r = session::run(c, self.request(command), rec.clone(), &mut yes, stop).await;
        (r, rec.events())
    }

    async fn plan(&self) -> Plan {
        let req = crate::plan::request(&self.l, &[]);
        msws::plan::make(&req, Source::Cluster(self.cluster.as_ref(), ObserveOptions::default())).await.unwrap()
    }

    fn pull_pods(&self) -> Vec<Value> {
        self.cluster
            .peek_all("Pod")
            .into_iter()
            .filter(|o| o.pointer("/metadata/labels/msws.io~1pre-pull").is_some())
            .collect()
    }
}

fn pre_pull(plan: &Plan) -> &msws::plan::prepull::PrePullPlan {
    plan.steps.iter().find(|s| s.step == "pre-pull/opt").and_then(|s| s.pre_pull.as_ref()).expect("a pre-pull step")
}

// ---- the graph and the plan ----

#[test]
fn the_pre_pull_step_waits_for_nothing_and_the_model_service_waits_for_it() {
    let w = world(&workspace(""), false);
    let text = msws::graph::to_text(&w.l.graph);
    assert!(text.contains("pre-pull/opt"), "{text}");
    let g = &w.l.graph;
    let pp = g.find(&msws::graph::StepId::parse("pre-pull/opt").unwrap()).unwrap();
    let ms = g.find(&msws::graph::StepId::parse("model-service/opt").unwrap()).unwrap();
    assert!(g.dependencies(pp).is_empty());
    assert!(g.dependencies(ms).contains(&pp));
    assert!(msws::graph::to_dot(&w.l.graph).contains("\"pre-pull/opt\" -> \"model-service/opt\""));
}

#[test]
fn pre_pull_false_has_no_step_and_fmt_keeps_it() {
    let text = workspace("pre-pull #false");
    let w = world(&text, false);
    assert!(!w.l.ws.pre_pull);
    assert!(w.l.graph.steps().all(|s| s.id.kind != msws::model::StepKind::PrePull));
    let formatted = msws::syntax::fmt::format_source(&text).unwrap();
    assert!(formatted.contains("pre-pull #false"), "{formatted}");
}

#[test]
fn pre_pull_wants_a_boolean() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.kdl");
    std::fs::write(&file, workspace("pre-pull \"no\"")).unwrap();
    let fe = msws::lower::load(&file, &msws::lower::DiskFiles, &msws::lower::Options::default());
    let out = msws::diag::render_all(fe.sink.sorted(), &fe.map, msws::diag::RenderOptions::plain());
    assert!(fe.sink.has_errors(), "{out}");
    assert!(out.contains("pre-pull \"no\""), "the diagnostic points at the value: {out}");
}

#[tokio::test]
async fn offline_the_pre_pull_is_decided_at_apply() {
    let w = world(&workspace(""), false);
    let req = crate::plan::request(&w.l, &[]);
    let plan = msws::plan::make(&req, Source::Known(msws::plan::Live::empty())).await.unwrap();
    let pp = pre_pull(&plan);
    assert!(!pp.decided);
    let text = to_text(&plan, Style { color: false });
    assert!(text.contains("pre-pull/opt\n  ? pre-pull decided at apply"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn online_a_node_without_the_image_pulls_it_and_a_node_with_it_is_skipped() {
    let w = world(&workspace(""), true);
    let plan = w.plan().await;
    let pp = pre_pull(&plan);
    assert!(pp.decided);
    let by_image: BTreeMap<&str, (&[String], &[String])> =
        pp.images.iter().map(|i| (i.image.as_str(), (i.pull_on.as_slice(), i.present_on.as_slice()))).collect();
    // The CPU node is not one the servers can land on (no `pool=gpu`).
    assert_eq!(by_image[CUDA], (&["gpu-a".to_string()][..], &["gpu-b".to_string()][..]));
    assert_eq!(by_image[SIDECAR].0, ["gpu-a", "gpu-b"]);
    let pods: BTreeMap<&str, &[String]> = pp.pods.iter().map(|p| (p.node.as_str(), p.images.as_slice())).collect();
    assert_eq!(pods["gpu-a"], [SIDECAR, CUDA]);
    assert_eq!(pods["gpu-b"], [SIDECAR], "gpu-b has the server's image: only the sidecar is pulled there");
    let text = to_text(&plan, Style { color: false });
    assert!(text.contains(&format!("  + pre-pull {CUDA} on 1 node (gpu-a); present on gpu-b\n")), "{text}");
    assert!(text.contains(&format!("  + pre-pull {SIDECAR} on 2 nodes (gpu-a, gpu-b)\n")), "{text}");
    assert!(text.contains("pre-pull on 2 nodes."), "{text}");
    let json = to_json(&plan);
    let step = json["steps"].as_array().unwrap().iter().find(|s| s["step"] == "pre-pull/opt").unwrap();
    assert_eq!(step["pre_pull"]["images"][1]["pull_on"], json!(["gpu-a"]), "{step:#}");
    assert!(step["pre_pull"]["pods"][0].get("desired").is_none(), "the JSON leaves the objects out");
    assert_eq!(json["summary"]["pulls"], 2);
}

#[tokio::test(start_paused = true)]
async fn the_pull_pods_hold_no_accelerator_and_land_on_their_node() {
    let w = world(&workspace(""), true);
    let plan = w.plan().await;
    for p in &pre_pull(&plan).pods {
        let pod = &p.desired;
        assert_eq!(pod["spec"]["nodeName"], p.node.as_str());
        assert_eq!(pod["spec"]["restartPolicy"], "Never");
        assert!(pod["spec"]["activeDeadlineSeconds"].as_i64().is_some());
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
            "{pod:#}"
        );
        assert_eq!(pod["spec"]["imagePullSecrets"], json!([{"name": "regcred"}]));
        assert!(pod["spec"].get("volumes").is_none(), "no volume: never the download's claim");
        assert!(!pod.to_string().contains("nvidia.com/gpu\":"), "no accelerator request: {pod:#}");
        for c in pod["spec"]["containers"].as_array().unwrap() {
            assert_eq!(c["imagePullPolicy"], "IfNotPresent");
            assert!(c["resources"]["requests"].as_object().unwrap().keys().all(|k| k == "cpu" || k == "memory"));
        }
        assert_eq!(pod["metadata"]["labels"]["msws.io/workspace"], "pp");
        assert_eq!(pod["metadata"]["labels"]["msws.io/pre-pull"], "opt");
        assert_eq!(pod["metadata"]["labels"]["app.kubernetes.io/managed-by"], "msws");
        // The selector a pre-pull's wait watches them by selects them.
        for kv in msws::plan::prepull::pods_selector("pp", "opt").split(',') {
            let (k, v) = kv.split_once('=').unwrap();
            assert_eq!(pod["metadata"]["labels"][k], v, "{kv}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn nodes_that_may_not_be_listed_pull_nothing_and_the_plan_says_why() {
    // The fake's default: namespaced rights only.
    let w = world(&workspace(""), true);
    w.cluster.allow_node_reads(false);
    // Short enough that pulling at the servers' start stays inside the progress deadline.
    w.cluster.set_image_pull(CUDA, Duration::from_secs(MIN));
    let plan = w.plan().await;
    let pp = pre_pull(&plan);
    assert!(pp.decided && pp.pods.is_empty());
    let text = to_text(&plan, Style { color: false });
    assert!(
        text.contains("pre-pull cannot list nodes (forbidden; pre-pull needs `list nodes`, a ClusterRole"),
        "{text}"
    );
    assert!(plan.refusals.is_empty() && plan.warnings.is_empty(), "{plan:#?}");
    // Apply goes on without it, and the servers pull their images themselves.
    let (r, events) = w.run(Command::Apply, Stop::default()).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::Applied, "{events:#?}");
    assert!(events.iter().any(
        |e| matches!(e, Event::StepSkipped { step, why } if step == "pre-pull/opt" && why.contains("cannot list nodes"))
    ));
    assert!(!report.changed.iter().any(|c| c.contains("Pod")), "{report:#?}");
}

#[tokio::test(start_paused = true)]
async fn pre_pull_false_plans_and_runs_no_pull() {
    let w = world(&workspace("pre-pull #false"), true);
    let plan = w.plan().await;
    assert!(plan.steps.iter().all(|s| s.pre_pull.is_none()));
    assert_eq!(w.cluster.count(msws::cluster::fake::Verb::List, "Node"), 0, "nodes are not even listed");
}

// ---- apply ----

#[tokio::test(start_paused = true)]
async fn apply_pulls_during_the_download_and_the_servers_are_ready_at_the_physical_limit() {
    let w = world(&workspace(""), true);
    w.cluster.set_pod_termination(Duration::from_secs(20));
    let t0 = tokio::time::Instant::now();
    let (r, events) = w.run(Command::Apply, Stop::default()).await;
    let elapsed = t0.elapsed();
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::Applied, "{events:#?}");
    // Pulled: the pods were created and deleted, the images are on the nodes.
    let created: Vec<&String> = report.changed.iter().filter(|c| c.contains("Pod llm-d/opt-pre-pull-")).collect();
    assert_eq!(created.len(), 4, "created and deleted on two nodes: {:#?}", report.changed);
    assert!(w.pull_pods().is_empty(), "no pull pod is left");
    assert!(w.cluster.node_images("gpu-a").contains(&CUDA.to_string()), "{:?}", w.cluster.node_images("gpu-a"));
    assert!(w.cluster.node_images("gpu-b").contains(&SIDECAR.to_string()));
    assert!(!w.cluster.node_images("cpu-c").contains(&CUDA.to_string()), "the CPU node pulled nothing");
    // Progress said what it waited for.
    assert!(
        events.iter().any(|e| matches!(e, Event::StepWaiting { step, reason, .. }
            if step == "pre-pull/opt" && reason.contains(&format!("pulling {CUDA} on 1 of 1 nodes (gpu-a)")))),
        "{events:#?}"
    );
    // max(download 10 min, pull 8 min) + release 20 s (the downloader's pod takes that long to
    // go) + load 3 min, plus the claim's 1 s bind: the pull is off the critical path, and each
    // wait ends on the event that ends it (no poll interval, no lock renewal later, is in there).
    let limit = Duration::from_secs(13 * MIN + 20);
    assert!(elapsed >= limit && elapsed < limit + Duration::from_secs(3), "{elapsed:?}");
    // A second plan changes nothing: the images are there now.
    let again = w.plan().await;
    assert!(!again.has_changes(), "{:#?}", again.steps);
    assert!(pre_pull(&again).pods.is_empty());
    // Status: nothing left, every image where the servers can land.
    let opts = msws::render::Options { namespace: "llm-d".into(), ..Default::default() };
    let rendered = msws::render::render(&w.l.ws, &w.l.graph, &opts);
    let states = msws::plan::status::status(w.cluster.as_ref(), &w.l.ws, &w.l.graph, &rendered).await.unwrap();
    let st = states.iter().find(|s| s.step == "pre-pull/opt").unwrap();
    assert_eq!((st.state, st.detail.as_str()), ("ready", "its images are on every node its pods can land on"));
    // A node that joins the pool lacks them: said, not waited for, and not pulled by a plan of
    // an unchanged model service.
    w.cluster
        .add_node(FakeNode::new("gpu-c").label("pool", "gpu").taint("nvidia.com/gpu", "present", "NoSchedule").gpus(1));
    let states = msws::plan::status::status(w.cluster.as_ref(), &w.l.ws, &w.l.graph, &rendered).await.unwrap();
    let st = states.iter().find(|s| s.step == "pre-pull/opt").unwrap();
    assert_eq!(st.state, "ready");
    assert!(st.detail.starts_with("its images are missing on 1 node(s) (gpu-c)"), "{st:?}");
    assert!(!w.plan().await.has_changes());
}

#[tokio::test(start_paused = true)]
async fn without_pre_pull_the_pull_adds_to_the_time_to_ready() {
    let w = world(&workspace("pre-pull #false"), true);
    // A 5-minute pull here: 5 + 3 minutes stay inside the Deployment's 10-minute progress
    // deadline (the issue's 8 + 3 would not: without pre-pull that rollout times out).
    w.cluster.set_image_pull(CUDA, Duration::from_secs(5 * MIN));
    let t0 = tokio::time::Instant::now();
    let (r, events) = w.run(Command::Apply, Stop::default()).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::Applied, "{events:#?}");
    // download 10 + pull 5 + load 3: the server lands on gpu-a (first by name), which lacks it.
    assert!(t0.elapsed() >= Duration::from_secs(18 * MIN), "{:?}", t0.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_pull_that_cannot_succeed_fails_the_step_naming_node_and_image_and_rolls_back() {
    let w = world(&workspace(""), true);
    w.cluster.script_image(CUDA, PodFate::ImagePullBackOff);
    let (r, events) = w.run(Command::Apply, Stop::default()).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack, "{events:#?}");
    let error = report.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("pre-pull/opt: image ghcr.io/llm-d/llm-d-cuda:latest cannot be pulled on node gpu-a"),
        "{error}"
    );
    assert!(w.pull_pods().is_empty(), "{:#?}", w.pull_pods());
    // It failed early: long before the 10-minute download would have finished.
    let failed = events.iter().find_map(|e| match e {
        Event::StepFailed { step, elapsed, .. } if step == "pre-pull/opt" => Some(*elapsed),
        _ => None,
    });
    assert!(failed.is_some_and(|t| t < Duration::from_secs(MIN)), "{failed:?}");
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_during_the_pull_deletes_the_pull_pods() {
    let w = world(&workspace(""), true);
    let stop = Stop::default();
    let cancel = stop.cancel.clone();
    let c = w.cluster.clone();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen2 = seen.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2 * MIN)).await;
        let pods = c
            .peek_all("Pod")
            .iter()
            .filter(|p| p.pointer("/metadata/name").and_then(Value::as_str).is_some_and(|n| n.contains("pre-pull")))
            .count();
        seen2.store(pods, std::sync::atomic::Ordering::SeqCst);
        cancel.cancel();
    });
    let (r, events) = w.run(Command::Apply, stop).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack, "{events:#?}");
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 2, "two pull pods were running at Ctrl-C");
    assert!(w.pull_pods().is_empty(), "{:#?}", w.pull_pods());
}

#[tokio::test(start_paused = true)]
async fn a_later_failure_rolls_back_and_leaves_no_pull_pod() {
    let w = world(&workspace(""), true);
    w.cluster.script_deployment("opt-decode", PodFate::CrashLoop { exit_code: 1, log: "CUDA error".into() });
    let (r, events) = w.run(Command::Apply, Stop::default()).await;
    let (_, report) = r.unwrap();
    assert_eq!(report.outcome, Outcome::RolledBack, "{events:#?}");
    assert!(report.error.as_deref().unwrap_or_default().starts_with("model-service/opt"), "{report:#?}");
    assert!(w.pull_pods().is_empty());
    // The pull pods were deleted by the step; the rollback found them gone.
    assert!(
        report.rolled_back.iter().filter(|r| r.contains("pre-pull")).all(|r| r.starts_with("already gone")),
        "{report:#?}"
    );
    assert!(report.not_undone.is_empty(), "{report:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_pull_pod_left_behind_is_pruned_by_apply_and_deleted_by_destroy() {
    for command in [Command::Apply, Command::Destroy] {
        let w = world(&workspace(""), true);
        let plan = w.plan().await;
        let mut left = pre_pull(&plan).pods[0].desired.clone();
        left["metadata"]["name"] = json!("opt-pre-pull-0000000000");
        w.cluster.insert(&left).unwrap();
        let plan = w.plan().await;
        assert!(
            plan.prune.iter().any(|p| p.object.name == "opt-pre-pull-0000000000"),
            "{command:?}: {:#?}",
            plan.prune
        );
        let (r, events) = w.run(command, Stop::default()).await;
        let (_, report) = r.unwrap();
        assert!(matches!(report.outcome, Outcome::Applied), "{command:?}: {report:#?}\n{events:#?}");
        let r = ObjectRef::new("v1", "Pod", Some("llm-d"), "opt-pre-pull-0000000000");
        assert!(w.cluster.peek(&r).is_none(), "{command:?}");
        assert!(w.pull_pods().is_empty(), "{command:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_saved_offline_plan_decides_the_pre_pull_at_apply() {
    let w = world(&workspace(""), true);
    let req = crate::plan::request(&w.l, &[]);
    let offline = msws::plan::make(&req, Source::Known(msws::plan::Live::empty())).await.unwrap();
    assert!(!pre_pull(&offline).decided);
    // The engine alone, with the offline plan: it lists the nodes and pulls where needed.
    let opts = msws::render::Options { namespace: "llm-d".into(), ..Default::default() };
    let rendered = msws::render::render(&w.l.ws, &w.l.graph, &opts);
    let mut plan = w.plan().await;
    for s in plan.steps.iter_mut() {
        if s.step == "pre-pull/opt" {
            *s = offline.steps.iter().find(|o| o.step == "pre-pull/opt").unwrap().clone();
        }
    }
    let input = msws::apply::engine::Input {
        command: Command::Apply,
        plan: &plan,
        rendered: &rendered,
        ws: &w.l.ws,
        git_commit: None,
    };
    let rec = Arc::new(Recording::new());
    let c: Arc<dyn Cluster> = w.cluster.clone();
    let report = msws::apply::engine::Engine::new(c, input, Options::default(), rec.clone(), None).run().await;
    assert_eq!(report.outcome, Outcome::Applied, "{:#?}", rec.events());
    assert!(w.cluster.node_images("gpu-a").contains(&CUDA.to_string()));
    assert!(w.pull_pods().is_empty());
}

// ---- the fake's nodes and pulls ----

fn pod(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "llm-d"}, "spec": spec})
}

fn node_of(c: &FakeCluster, name: &str) -> String {
    let p = c.peek(&ObjectRef::new("v1", "Pod", Some("llm-d"), name)).unwrap();
    p.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("").to_string()
}

fn unschedulable(c: &FakeCluster, name: &str) -> Option<String> {
    let p = c.peek(&ObjectRef::new("v1", "Pod", Some("llm-d"), name)).unwrap();
    p.pointer("/status/conditions/0/message").and_then(Value::as_str).map(str::to_string)
}

#[test]
fn the_fake_scheduler_honours_selectors_affinity_taints_and_gpus() {
    let c = FakeCluster::new("llm-d");
    c.set_nodes(&nodes());
    let gpu = json!({"limits": {"nvidia.com/gpu": "1"}, "requests": {"nvidia.com/gpu": "1"}});
    let tol = json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]);
    let serve = |res: &Value| json!([{"name": "c", "image": "busybox", "resources": res}]);
    // No toleration: the tainted nodes are out; the CPU node takes it.
    c.insert(&pod("plain", json!({"restartPolicy": "Always", "containers": serve(&json!({}))}))).unwrap();
    // A node selector and a toleration: gpu-a (first by name), its one GPU taken.
    c.insert(&pod("g1", json!({"restartPolicy": "Always", "nodeSelector": {"pool": "gpu"}, "tolerations": tol, "containers": serve(&gpu)})))
        .unwrap();
    // Required affinity, operator NotIn: not gpu-a.
    let aff = json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["gpu-a"]},
                              {"key": "pool", "operator": "Exists"}]}]}}});
    c.advance(Duration::from_secs(1));
    c.insert(&pod(
        "g2",
        json!({"restartPolicy": "Always", "affinity": aff, "tolerations": tol, "containers": serve(&gpu)}),
    ))
    .unwrap();
    c.advance(Duration::from_secs(1));
    // A third GPU pod: both GPUs are taken.
    c.insert(&pod("g3", json!({"restartPolicy": "Always", "nodeSelector": {"pool": "gpu"}, "tolerations": tol, "containers": serve(&gpu)})))
        .unwrap();
    c.advance(Duration::from_secs(1));
    assert_eq!(node_of(&c, "plain"), "cpu-c");
    assert_eq!(node_of(&c, "g1"), "gpu-a");
    assert_eq!(node_of(&c, "g2"), "gpu-b");
    assert_eq!(node_of(&c, "g3"), "");
    let why = unschedulable(&c, "g3").unwrap();
    assert!(why.starts_with("0/3 nodes are available: 2 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector."), "{why}");
    // nodeName skips the scheduler; a cordoned node takes no new pod.
    c.insert(&pod("named", json!({"restartPolicy": "Always", "nodeName": "gpu-b", "containers": serve(&json!({}))})))
        .unwrap();
    c.set_nodes(&[FakeNode::new("cordoned").unschedulable()]);
    c.insert(&pod("late", json!({"restartPolicy": "Always", "containers": serve(&json!({}))}))).unwrap();
    c.advance(Duration::from_secs(1));
    assert_eq!(node_of(&c, "named"), "gpu-b");
    assert!(unschedulable(&c, "late").unwrap().contains("1 node(s) were unschedulable"));
}

#[test]
fn the_fake_kubelet_pulls_missing_images_once_per_node_and_reports_them() {
    let c = FakeCluster::new("llm-d");
    c.set_nodes(&[FakeNode::new("n1"), FakeNode::new("n2").image("big:1")]);
    c.set_image_pull("big:1", Duration::from_secs(8 * MIN));
    c.set_ready_delay(Duration::from_secs(3 * MIN));
    let spec = |node: &str| json!({"restartPolicy": "Always", "nodeName": node, "containers": [{"name": "c", "image": "big:1"}]});
    c.insert(&pod("a", spec("n1"))).unwrap();
    c.advance(Duration::from_secs(4 * MIN));
    // A second pod on the same node shares the pull in progress; one on n2 finds the image.
    c.insert(&pod("b", spec("n1"))).unwrap();
    c.insert(&pod("c", spec("n2"))).unwrap();
    c.advance(Duration::from_secs(1));
    let get = |n: &str| c.peek(&ObjectRef::new("v1", "Pod", Some("llm-d"), n)).unwrap();
    let waiting = |n: &str| {
        get(n).pointer("/status/containerStatuses/0/state/waiting/reason").and_then(Value::as_str).map(str::to_string)
    };
    assert_eq!(waiting("a").as_deref(), Some("ContainerCreating"));
    assert_eq!(waiting("b").as_deref(), Some("ContainerCreating"));
    assert_eq!(get("a")["status"]["phase"], "Pending");
    assert_eq!(waiting("c"), None, "n2 has the image: it starts at once");
    assert!(!c.node_images("n1").contains(&"docker.io/library/big:1".to_string()));
    // The pull ends 8 minutes after it began, for both pods; then the 3-minute load.
    c.advance(Duration::from_secs(4 * MIN - 1));
    assert_eq!(waiting("a").as_deref(), None);
    assert_eq!(waiting("b").as_deref(), None, "the second pod shared the pull");
    assert!(c.node_images("n1").contains(&"docker.io/library/big:1".to_string()), "{:?}", c.node_images("n1"));
    let ready = |n: &str| {
        get(n)["status"]["conditions"].as_array().unwrap().iter().any(|x| x["type"] == "Ready" && x["status"] == "True")
    };
    assert!(!ready("a"));
    c.advance(Duration::from_secs(3 * MIN));
    assert!(ready("a") && ready("b"));
    // The kubelet's events, as it writes them.
    let mut events: Vec<Value> =
        c.peek_all("Event").into_iter().filter(|e| e.pointer("/involvedObject/name") == Some(&json!("a"))).collect();
    events.sort_by_key(|e| e["metadata"]["resourceVersion"].as_str().unwrap_or("").parse::<u64>().unwrap_or(0));
    let reasons: Vec<&str> = events.iter().filter_map(|e| e["reason"].as_str()).collect();
    assert_eq!(reasons, ["Pulling", "Pulled"], "{events:#?}");
    assert_eq!(events[0]["message"], "Pulling image \"big:1\"");
    assert!(
        events[1]["message"].as_str().unwrap().starts_with("Successfully pulled image \"big:1\" in 8m0s"),
        "{events:#?}"
    );
}

#[tokio::test]
async fn nodes_are_forbidden_until_allowed() {
    let c = FakeCluster::new("llm-d");
    let e = c.list("v1", "Node", None, "").await.unwrap_err();
    assert_eq!(e.code(), Some(403));
    assert!(e.to_string().contains("cannot list resource \"nodes\" in API group \"\" at the cluster scope"), "{e}");
    c.allow_node_reads(true);
    let nodes = c.list("v1", "Node", None, "").await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0]["metadata"]["name"], "fake-node-1");
    assert!(nodes[0]["status"]["images"].as_array().is_none_or(Vec::is_empty), "no image yet: {:#}", nodes[0]);
}
