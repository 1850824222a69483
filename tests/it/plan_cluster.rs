//! Plans against the fake cluster: server-side dry runs, defaults the server fills in, other
//! managers' changes, immutable fields, the requests a plan makes, and `status`.

use std::path::Path;
use std::time::Duration;

use msws::cluster::fake::{FakeCluster, PodFate, Verb, persistent_volume, storage_class};
use msws::cluster::{ApplyOptions, Cluster, ObjectRef};
use msws::plan::{Action, DownloadAction, DownloadRecord, Inventory, ObserveOptions, Plan, Source, show};
use serde_json::json;

use crate::plan::{Loaded, load_ws, request};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn plan_on(l: &Loaded, cluster: &FakeCluster, secrets: &[(&str, &str, &str)]) -> Plan {
    rt().block_on(msws::plan::make(&request(l, secrets), Source::Cluster(cluster, ObserveOptions::default()))).unwrap()
}

/// What apply will do, done by hand: every rendered object applied, downloads recorded in the
/// inventory, the Jobs of released downloads deleted. Then the controllers run.
fn apply_all(l: &Loaded, cluster: &FakeCluster, secrets: &[(&str, &str, &str)]) {
    let req = request(l, secrets);
    let opts = msws::render::Options {
        namespace: req.namespace.clone(),
        secret_values: req.secret_values.clone(),
        ..Default::default()
    };
    let rendered = msws::render::render(&l.ws, &l.graph, &opts);
    let rt = rt();
    for (step, o) in rendered.unique_objects() {
        let released = o.kind() == "Job"
            && l.graph.find(&msws::graph::StepId::new(msws::model::StepKind::Release, step.name.clone())).is_some();
        if !released {
            rt.block_on(cluster.apply(&o.to_json(), ApplyOptions::default())).unwrap();
        }
    }
    let mut inv = Inventory::default();
    for d in &l.ws.downloads {
        inv.downloads.insert(
            d.name.clone(),
            DownloadRecord {
                commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
                files: Some(8),
                bytes: Some(1 << 20),
                ..DownloadRecord::of(d)
            },
        );
    }
    rt.block_on(cluster.apply(&inv.to_config_map(&l.ws.name, &req.namespace, &[]), ApplyOptions::default())).unwrap();
    cluster.advance(Duration::from_secs(60));
}

fn seeded(l: &Loaded) -> FakeCluster {
    let ns = l.ws.namespace.clone().unwrap_or_else(|| "default".into());
    let c = FakeCluster::new(&ns);
    // The custom resources llm-d's recipes use (LeaderWorkerSet, DisaggregatedSet, PodMonitor).
    c.install_llm_d_crds();
    for s in &l.ws.storages {
        if let Some(class) = &s.class {
            c.insert(&storage_class(class, "Immediate", true, "Retain")).unwrap();
            // The pre-created volume a claim names (the runbook's `pvc.yaml` binds to one).
            if let Some(v) = &s.volume {
                c.insert(&persistent_volume(v, "10Gi", &[s.access.as_str()], class)).unwrap();
            }
        }
        if s.existing {
            c.insert(&json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": s.name, "namespace": ns},
                "spec": {"accessModes": [s.access.as_str()], "resources": {"requests": {"storage": "10Gi"}}}})).unwrap();
        }
    }
    for s in l.ws.secrets.iter().filter(|s| s.source == msws::model::SecretSource::Existing) {
        c.insert(&json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": s.name, "namespace": ns}, "data": {"HF_TOKEN": "eA=="}})).unwrap();
    }
    c
}

fn changes(p: &Plan) -> Vec<(Action, String)> {
    p.steps
        .iter()
        .flat_map(|s| &s.objects)
        .chain(&p.prune)
        .filter(|o| o.action != Action::NoOp)
        .map(|o| (o.action, format!("{}/{}", o.object.kind, o.object.name)))
        .collect()
}

const SECRETS: [(&str, &str, &str); 1] = [("hf-token", "HF_TOKEN", "hf_value")];

#[test]
fn after_an_apply_every_example_plans_no_changes_despite_server_defaults() {
    for f in crate::support::workspace_files(&crate::support::root().join("workspaces"))
        .into_iter()
        .filter(|f| crate::support::is_root_file(f))
    {
        let l = load_ws(&f);
        let c = seeded(&l);
        let before = plan_on(&l, &c, &SECRETS);
        assert!(before.has_changes() && before.refusals.is_empty(), "{}: {:?}", f.display(), before.refusals);
        apply_all(&l, &c, &SECRETS);
        let p = plan_on(&l, &c, &SECRETS);
        assert!(!p.has_changes(), "{}:\n{}", f.display(), show::to_text(&p, show::Style { color: false }));
        assert!(p.refusals.is_empty(), "{}: {:?}", f.display(), p.refusals);
    }
}

#[test]
fn drift_by_other_managers_is_shown_and_taken_back() {
    let l = load_ws(Path::new("workspaces/opt-125m-rwx.kdl"));
    let c = seeded(&l);
    apply_all(&l, &c, &SECRETS);
    // `kubectl scale --replicas=3`: another manager owns .spec.replicas now; the dry run forces,
    // so the plan shows what apply will set back.
    c.scale(&ObjectRef::new("apps/v1", "Deployment", Some("llm-d"), "opt-decode"), 3).unwrap();
    let p = plan_on(&l, &c, &SECRETS);
    assert_eq!(changes(&p), [(Action::Update, "Deployment/opt-decode".into())]);
    let diff =
        p.steps.iter().flat_map(|s| &s.objects).find(|o| o.action == Action::Update).unwrap().diff.clone().unwrap();
    assert!(diff.contains("-  replicas: 3") && diff.contains("+  replicas: 1"), "{diff}");
    let lines: Vec<&str> = diff
        .lines()
        .filter(|l| (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---"))
        .collect();
    assert_eq!(lines.len(), 2, "nothing but the replicas: {diff}");

    // `kubectl edit` of the image.
    let c = seeded(&l);
    apply_all(&l, &c, &SECRETS);
    let mut d = c.peek(&ObjectRef::new("apps/v1", "Deployment", Some("llm-d"), "opt-prefill")).unwrap();
    d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("someone/else:1");
    c.update_as("kubectl-edit", &d).unwrap();
    let p = plan_on(&l, &c, &SECRETS);
    assert_eq!(changes(&p), [(Action::Update, "Deployment/opt-prefill".into())]);
}

#[test]
fn immutable_changes_are_replacements_and_storage_ones_are_refused() {
    let l = load_ws(Path::new("workspaces/opt-125m-rwx.kdl"));
    let c = seeded(&l);
    apply_all(&l, &c, &SECRETS);
    // The workspace now asks for ReadWriteOnce: the server refuses it in place (422).
    let text = std::fs::read_to_string(crate::support::root().join("workspaces/opt-125m-rwx.kdl"))
        .unwrap()
        .replace("ReadWriteMany", "ReadWriteOnce");
    let mut fe = msws::lower::load_str("w.kdl", &text, &Default::default());
    let ws = fe.workspace.take().unwrap();
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let l2 = Loaded { ws, graph };
    let p = plan_on(&l2, &c, &SECRETS);
    let pvc = p.steps.iter().flat_map(|s| &s.objects).find(|o| o.object.kind == "PersistentVolumeClaim").unwrap();
    assert_eq!(pvc.action, Action::Replace);
    assert!(p.refusals.iter().any(|r| r.contains("model-pvc") && r.contains("--replace-storage")), "{:?}", p.refusals);
    // The Deployments switch to Recreate (a single-attach claim); the server accepts that, since
    // msws owned the rolling update it stops sending.
    assert!(!p.refusals.iter().any(|r| r.contains("Deployment")), "{:?}", p.refusals);

    // A bigger claim on an expandable class grows in place.
    let text = std::fs::read_to_string(crate::support::root().join("workspaces/opt-125m-rwx.kdl"))
        .unwrap()
        .replace("\"5Gi\"", "\"8Gi\"");
    let mut fe = msws::lower::load_str("w.kdl", &text, &Default::default());
    let ws = fe.workspace.take().unwrap();
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let l3 = Loaded { ws, graph };
    let p = plan_on(&l3, &c, &SECRETS);
    assert_eq!(changes(&p), [(Action::Update, "PersistentVolumeClaim/model-pvc".into())]);
}

#[test]
fn a_revision_change_plans_one_download_and_a_rollout() {
    let l = load_ws(Path::new("workspaces/opt-125m-rwo.kdl"));
    let c = seeded(&l);
    apply_all(&l, &c, &SECRETS);
    let text = std::fs::read_to_string(crate::support::root().join("workspaces/opt-125m-rwo.kdl"))
        .unwrap()
        .replace("27dcfa74d334bc871f3234de431e71c6eeba5dd6", "main");
    let mut fe = msws::lower::load_str("w.kdl", &text, &Default::default());
    let ws = fe.workspace.take().unwrap();
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let l2 = Loaded { ws, graph };
    let p = plan_on(&l2, &c, &SECRETS);
    assert_eq!(p.steps.iter().find_map(|s| s.download.as_ref()).unwrap().action, DownloadAction::Rerun);
    assert_eq!(
        changes(&p),
        [(Action::Create, "Job/opt-125m-download".into()), (Action::Update, "Deployment/opt-decode".into())]
    );
}

#[test]
fn reading_a_hundred_services_costs_one_list_per_kind() {
    let units: String = (0..100)
        .map(|i| {
            format!(
                "storage \"pvc-{i}\" {{\n    access \"ReadWriteMany\"\n    size \"5Gi\"\n}}\ndownload \"m-{i}\" {{\n    from \"hf://org/m-{i}\"\n    into \"pvc-{i}\" path=\"m\"\n}}\nmodel-service \"m-{i}\" {{\n    model \"m-{i}\"\n    served-name \"m-{i}\"\n    decode extends=\"std/vllm-decode\"\n    prefill extends=\"std/vllm-prefill\"\n}}\n"
            )
        })
        .collect();
    let text = format!("workspace \"big\" format=1 {{\n    namespace \"llm-d\"\n}}\n{units}");
    let mut fe = msws::lower::load_str("w.kdl", &text, &Default::default());
    let ws = fe.workspace.take().unwrap();
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let l = Loaded { ws, graph };
    let c = FakeCluster::new("llm-d");
    // Desired objects: 100 claims, the downloader ConfigMap, 100 Jobs, 100 ServiceAccounts,
    // 200 Deployments.
    let desired = 100 + 1 + 100 + 100 + 200;
    let count = |v: Verb| c.requests().iter().filter(|((verb, _), _)| *verb == v).map(|(_, n)| n).sum::<usize>();
    plan_on(&l, &c, &[]);
    // One LIST per kind msws may own, and one of the storage classes: the claims name none, so
    // they get the cluster's default, which the preflight looks up; for the 100 pre-pulls, one
    // of the nodes and one of the pull pods left.
    assert_eq!(count(Verb::List), 7 + 1 + 2, "one LIST per kind msws may own: {:?}", c.requests());
    assert_eq!(count(Verb::Get), desired, "a GET for each desired object the lists did not return");
    assert_eq!(count(Verb::ApplyDryRun), desired, "one dry run per desired object");
    assert_eq!(
        c.requests().keys().filter(|(v, _)| !matches!(v, Verb::List | Verb::Get | Verb::ApplyDryRun)).count(),
        0,
        "a plan changes nothing, and needs no discovery: every kind it renders is built in"
    );

    // Once applied, the lists return everything: no GETs at all.
    apply_all(&l, &c, &[]);
    c.reset_requests();
    let p = plan_on(&l, &c, &[]);
    assert!(!p.has_changes(), "{}", show::summary_line(&p));
    assert_eq!(count(Verb::List), 7 + 1 + 2);
    assert_eq!(count(Verb::Get), 0, "{:?}", c.requests());
    assert_eq!(count(Verb::ApplyDryRun), desired);
}

/// The example with every chart feature: a LeaderWorkerSet, PodMonitors, the dual-pod
/// requester ReplicaSet, a DRA claim template, and extra objects (a ConfigMap, an HTTPRoute).
fn chart_features() -> Loaded {
    load_ws(Path::new("tests/data/valid/chart-features.kdl"))
}

fn llm_d_cluster() -> FakeCluster {
    let c = FakeCluster::new("llm-d");
    c.install_llm_d_crds();
    c
}

#[test]
fn custom_resources_apply_and_then_plan_no_changes_despite_their_defaults() {
    let l = chart_features();
    let c = llm_d_cluster();
    let before = plan_on(&l, &c, &[]);
    assert!(before.refusals.is_empty(), "{:?}", before.refusals);
    assert!(
        changes(&before).contains(&(Action::Create, "LeaderWorkerSet/wide-decode".into()))
            && changes(&before).contains(&(Action::Create, "HTTPRoute/wide-route".into())),
        "{:?}",
        changes(&before)
    );
    apply_all(&l, &c, &[]);
    // The server's defaults are there (the LWS webhook's, Gateway API's)…
    let lws = c
        .peek(&ObjectRef::new("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet", Some("llm-d"), "wide-decode"))
        .unwrap();
    assert_eq!(lws["spec"]["startupPolicy"], "LeaderCreated");
    assert_eq!(lws["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"]["maxUnavailable"], 1);
    let route =
        c.peek(&ObjectRef::new("gateway.networking.k8s.io/v1", "HTTPRoute", Some("llm-d"), "wide-route")).unwrap();
    assert_eq!(route["spec"]["rules"][0]["backendRefs"][0]["weight"], 1);
    // …and do not show as changes.
    let p = plan_on(&l, &c, &[]);
    assert!(!p.has_changes(), "{}", show::to_text(&p, show::Style { color: false }));
    assert!(p.refusals.is_empty(), "{:?}", p.refusals);
}

#[test]
fn status_reads_leader_worker_sets_and_replica_sets_and_names_a_crashing_group() {
    let l = chart_features();
    let c = llm_d_cluster();
    c.script_workload("fast-decode", PodFate::CrashLoop { exit_code: 1, log: String::new() });
    plan_on(&l, &c, &[]);
    apply_all(&l, &c, &[]);
    let opts = msws::render::Options { namespace: "llm-d".into(), ..Default::default() };
    let rendered = msws::render::render(&l.ws, &l.graph, &opts);
    let states = rt().block_on(msws::plan::status::status(&c, &l.ws, &l.graph, &rendered)).unwrap();
    let by = |s: &str| states.iter().find(|x| x.step == s).unwrap().clone();
    let wide = by("model-service/wide");
    assert_eq!(wide.state, "ready", "{wide:?}");
    assert_eq!(wide.detail, "decode 2/2 groups of 2 ready; prefill 1/1 available");
    let fast = by("model-service/fast");
    assert_eq!(fast.state, "failed", "{fast:?}");
    assert!(
        fast.detail.starts_with("decode 0/1 available; pod fast-decode-") && fast.detail.contains("CrashLoopBackOff"),
        "{fast:?}"
    );
    // Without the CRDs, nothing of it can be there.
    let bare = FakeCluster::new("llm-d");
    let states = rt().block_on(msws::plan::status::status(&bare, &l.ws, &l.graph, &rendered)).unwrap();
    // A pre-pull leaves nothing behind; without the right to list nodes it says so.
    let (pulls, rest): (Vec<_>, Vec<_>) = states.iter().partition(|s| s.step.starts_with("pre-pull/"));
    assert!(rest.iter().all(|s| s.state == "absent"), "{states:?}");
    assert!(pulls.iter().all(|s| s.detail.contains("cannot list nodes")), "{states:?}");
}

#[test]
fn a_kind_the_cluster_does_not_serve_is_refused_naming_what_to_install() {
    let l = chart_features();
    // Gateway API and DRA, but neither LeaderWorkerSet nor the Prometheus Operator.
    let c = FakeCluster::new("llm-d");
    c.install_crd("gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes", true);
    let p = plan_on(&l, &c, &[]);
    let all = p.refusals.join("\n");
    assert!(
        p.refusals.contains(&"the cluster does not serve LeaderWorkerSet (leaderworkerset.x-k8s.io/v1): install the LeaderWorkerSet controller and its CRD leaderworkersets.leaderworkerset.x-k8s.io (https://github.com/kubernetes-sigs/lws); needed by LeaderWorkerSet llm-d/wide-decode".to_string()),
        "{all}"
    );
    assert!(
        all.contains("the cluster does not serve PodMonitor (monitoring.coreos.com/v1): install the Prometheus Operator and its CRD podmonitors.monitoring.coreos.com"),
        "{all}"
    );
    assert_eq!(p.refusals.len(), 2, "{all}");
    // Nothing is asked of kinds that are not there, and nothing changes.
    assert_eq!(c.count(Verb::ApplyDryRun, "LeaderWorkerSet") + c.count(Verb::List, "LeaderWorkerSet"), 0);
    assert!(
        c.requests().keys().all(|(v, _)| matches!(v, Verb::List | Verb::Get | Verb::ApplyDryRun | Verb::Discover)),
        "{:?}",
        c.requests()
    );

    // An unknown kind is named with its apiVersion.
    let text = "workspace \"w\" format=1 {\n    namespace \"llm-d\"\n}\nmodel-service \"m\" {\n    uri \"hf://org/m\"\n    served-name \"m\"\n    decode extends=\"std/vllm-single\"\n    object {\n        apiVersion \"example.org/v1\"\n        kind \"Gadget\"\n        metadata name=\"g\"\n    }\n}\n";
    let p = plan_on(&loaded(text), &c, &[]);
    assert_eq!(
        p.refusals,
        [
            "the cluster does not serve Gadget (example.org/v1): install the CRD (or the API server) that defines it; needed by Gadget llm-d/g"
        ]
    );
}

#[test]
fn an_extra_object_of_a_cluster_scoped_kind_is_refused() {
    let c = FakeCluster::new("llm-d");
    c.install_crd("example.org/v1", "ClusterGadget", "clustergadgets", false);
    let object = |av: &str, kind: &str| {
        format!(
            "workspace \"w\" format=1 {{\n    namespace \"llm-d\"\n}}\nmodel-service \"m\" {{\n    uri \"hf://org/m\"\n    served-name \"m\"\n    decode extends=\"std/vllm-single\"\n    object {{\n        apiVersion \"{av}\"\n        kind \"{kind}\"\n        metadata name=\"x\"\n    }}\n}}\n"
        )
    };
    // (The front end refuses the cluster-scoped kinds it knows, a Namespace say; a custom
    // resource's scope only the cluster knows.)
    let p = plan_on(&loaded(&object("example.org/v1", "ClusterGadget")), &c, &[]);
    assert_eq!(p.refusals.len(), 1, "{:?}", p.refusals);
    assert!(
        p.refusals[0].starts_with(
            "ClusterGadget llm-d/x: ClusterGadget (example.org/v1) is cluster-scoped: msws applies a workspace's objects into its namespace (llm-d)"
        ),
        "{:?}",
        p.refusals
    );
    assert_eq!(c.count(Verb::ApplyDryRun, "ClusterGadget"), 0);
}

fn loaded(text: &str) -> Loaded {
    let mut fe = msws::lower::load_str("w.kdl", text, &Default::default());
    let ws = fe.workspace.take().unwrap_or_else(|| panic!("{text}"));
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    Loaded { ws, graph }
}

#[test]
fn custom_resources_cost_one_discovery_per_group_version_and_one_list_per_kind() {
    let l = chart_features();
    let c = llm_d_cluster();
    let count = |v: Verb| c.requests().iter().filter(|((verb, _), _)| *verb == v).map(|(_, n)| n).sum::<usize>();
    plan_on(&l, &c, &[]);
    // Discovery of each group-version not every Kubernetes serves: resource.k8s.io/v1 (DRA),
    // leaderworkerset.x-k8s.io/v1, monitoring.coreos.com/v1, gateway.networking.k8s.io/v1.
    assert_eq!(count(Verb::Discover), 4, "{:?}", c.request_log());
    // The 7 kinds msws always lists, and the rendered kinds beyond them: LeaderWorkerSet,
    // PodMonitor, HTTPRoute, ReplicaSet; for the pre-pull, the nodes and the pull pods left.
    assert_eq!(count(Verb::List), 7 + 4 + 2, "{:?}", c.requests());
    // Desired objects: per service a ServiceAccount; for wide a ResourceClaimTemplate, the
    // LeaderWorkerSet, the prefill Deployment, a PodMonitor, a ConfigMap and an HTTPRoute; for
    // fast the requester ReplicaSet.
    assert_eq!(count(Verb::Get), 9);
    assert_eq!(count(Verb::ApplyDryRun), 9);
}

#[test]
fn preflight_finds_a_missing_class_a_taken_volume_and_a_missing_secret() {
    let text = r#"workspace "w" format=1 {
    namespace "llm-d"
}
storage "a" {
    access "ReadWriteMany"
    size "1Gi"
    class "no-such-class"
}
storage "b" {
    access "ReadWriteMany"
    size "1Gi"
    class "standard"
    volume "pv-taken"
}
storage "c" {
    access "ReadWriteMany"
    size "1Gi"
    class "standard"
}
model-service "m" {
    uri "hf://org/m"
    served-name "m"
    token secret="not-there"
    decode extends="std/vllm-single"
}
secret "not-there" existing=#true
"#;
    let mut fe = msws::lower::load_str("w.kdl", text, &Default::default());
    let ws = fe.workspace.take().unwrap();
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let l = Loaded { ws, graph };
    let c = FakeCluster::new("llm-d");
    c.insert(&storage_class("standard", "Immediate", false, "Delete")).unwrap();
    let mut pv = msws::cluster::fake::persistent_volume("pv-taken", "1Gi", &["ReadWriteMany"], "standard");
    pv["spec"]["claimRef"] = json!({"name": "someone", "namespace": "other"});
    c.insert(&pv).unwrap();
    let p = plan_on(&l, &c, &[]);
    let all = p.refusals.join("\n");
    assert!(all.contains("no-such-class does not exist"), "{all}");
    assert!(all.contains("pv-taken is bound to claim other/someone"), "{all}");
    assert!(all.contains("Secret not-there does not exist"), "{all}");
    assert!(
        p.warnings.iter().any(|w| w.contains("storage/c: storage class standard has reclaim policy Delete")),
        "{:?}",
        p.warnings
    );
}

/// A plan of `text` (a workspace with one storage, `s`) against `c`: its refusals and warnings.
fn storage_findings(text: &str, c: &FakeCluster) -> (String, String) {
    let text = format!("workspace \"w\" format=1 {{\n    namespace \"llm-d\"\n}}\n{text}");
    let mut fe = msws::lower::load_str("w.kdl", &text, &Default::default());
    let ws = fe.workspace.take().unwrap_or_else(|| panic!("{text}"));
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let p = plan_on(&Loaded { ws, graph }, c, &[]);
    (p.refusals.join("\n"), p.warnings.join("\n"))
}

const NAMED_VOLUME: &str = "storage \"s\" {\n    access \"ReadWriteOnce\"\n    size \"5Gi\"\n    class \"standard\"\n    volume \"model-pv\"\n}\n";

#[test]
fn preflight_checks_the_volume_a_claim_names() {
    let cluster = |pv: Option<serde_json::Value>| {
        let c = FakeCluster::new("llm-d");
        c.insert(&storage_class("standard", "Immediate", false, "Retain")).unwrap();
        if let Some(pv) = pv {
            c.insert(&pv).unwrap();
        }
        c
    };
    let good = persistent_volume("model-pv", "10Gi", &["ReadWriteOnce"], "standard");
    let (refused, _) = storage_findings(NAMED_VOLUME, &cluster(Some(good.clone())));
    assert_eq!(refused, "", "a free volume that fits");

    // The runbook's example on a cluster without its volume: said before anything changes.
    let (refused, _) = storage_findings(NAMED_VOLUME, &cluster(None));
    assert!(refused.contains("storage/s: volume model-pv does not exist"), "{refused}");

    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut pv = good.clone();
        f(&mut pv);
        storage_findings(NAMED_VOLUME, &cluster(Some(pv))).0
    };
    let r = with(&|pv| pv["spec"]["capacity"]["storage"] = json!("1Gi"));
    assert!(r.contains("volume model-pv holds 1Gi but the claim asks for 5Gi"), "{r}");
    let r = with(&|pv| pv["spec"]["accessModes"] = json!(["ReadOnlyMany"]));
    assert!(r.contains("offers ReadOnlyMany but the claim asks for ReadWriteOnce"), "{r}");
    let r = with(&|pv| pv["spec"]["storageClassName"] = json!("other"));
    assert!(r.contains("has storage class other but the claim would have standard"), "{r}");
    let r = with(&|pv| pv["spec"]["volumeMode"] = json!("Block"));
    assert!(r.contains("raw block volume"), "{r}");
    let r = with(&|pv| pv["spec"]["claimRef"] = json!({"name": "other-claim", "namespace": "llm-d"}));
    assert!(r.contains("volume model-pv is bound to claim llm-d/other-claim"), "{r}");
    // Released by an earlier claim of the same name (destroy --delete-storage, then apply again):
    // the volume is still reserved for the old claim's uid.
    let r = with(&|pv| {
        pv["spec"]["claimRef"] = json!({"name": "s", "namespace": "llm-d", "uid": "0ld-uid"});
        pv["status"] = json!({"phase": "Released"});
    });
    assert!(
        r.contains("is released and still reserved for an earlier claim llm-d/s (uid 0ld-uid)")
            && r.contains("spec.claimRef"),
        "{r}"
    );
    let (_, warned) = storage_findings(
        NAMED_VOLUME,
        &cluster(Some({
            let mut pv = good.clone();
            pv["spec"]["persistentVolumeReclaimPolicy"] = json!("Delete");
            pv
        })),
    );
    assert!(warned.contains("volume model-pv has reclaim policy Delete"), "{warned}");
}

#[test]
fn preflight_knows_the_default_class_a_claim_gets() {
    let no_class = "storage \"s\" {\n    access \"ReadWriteOnce\"\n    size \"5Gi\"\n}\n";
    // No class named, and none is the default: nothing would ever provision a volume.
    let c = FakeCluster::new("llm-d");
    c.insert(&storage_class("standard", "Immediate", false, "Retain")).unwrap();
    let (refused, _) = storage_findings(no_class, &c);
    assert!(refused.contains("names no storage class and the cluster has no default class"), "{refused}");
    // A default class: fine.
    let mut default = storage_class("fast", "Immediate", false, "Retain");
    default["metadata"]["annotations"] = json!({"storageclass.kubernetes.io/is-default-class": "true"});
    c.insert(&default).unwrap();
    assert_eq!(storage_findings(no_class, &c).0, "");
    // A volume without a class and a claim that names none: Kubernetes gives the claim the
    // default class, and the two never match — unless the claim says `class ""`.
    c.insert(&persistent_volume("model-pv", "10Gi", &["ReadWriteOnce"], "")).unwrap();
    let named = "storage \"s\" {\n    access \"ReadWriteOnce\"\n    size \"5Gi\"\n    volume \"model-pv\"\n}\n";
    let (refused, _) = storage_findings(named, &c);
    assert!(
        refused.contains("storage class \"\" (none) but the claim would have fast (the cluster's default class"),
        "{refused}"
    );
    let explicit = named.replace("    volume", "    class \"\"\n    volume");
    assert_eq!(storage_findings(&explicit, &c).0, "");
}

#[test]
fn preflight_warns_of_a_class_that_provisions_nothing() {
    let c = FakeCluster::new("llm-d");
    let mut local = storage_class("local", "WaitForFirstConsumer", false, "Retain");
    local["provisioner"] = json!("kubernetes.io/no-provisioner");
    c.insert(&local).unwrap();
    let (refused, warned) = storage_findings(
        "storage \"s\" {\n    access \"ReadWriteOnce\"\n    size \"5Gi\"\n    class \"local\"\n}\n",
        &c,
    );
    assert_eq!(refused, "");
    assert!(warned.contains("storage class local provisions no volumes"), "{warned}");
}

#[test]
fn a_bound_claim_is_not_checked_again() {
    // Once the claim is bound to its volume, what the volume looks like now does not matter.
    let l = load_ws(Path::new("workspaces/opt-125m-rwo.kdl"));
    let c = seeded(&l);
    apply_all(&l, &c, &SECRETS);
    let pv = ObjectRef::new("v1", "PersistentVolume", None, "model-pv");
    let mut live = c.peek(&pv).unwrap();
    live["spec"]["capacity"]["storage"] = json!("1Gi");
    c.update_as("admin", &live).unwrap();
    let p = plan_on(&l, &c, &SECRETS);
    assert!(p.refusals.is_empty(), "{:?}", p.refusals);
    assert_eq!(
        c.peek(&ObjectRef::new("v1", "PersistentVolumeClaim", Some("llm-d"), "model-pvc")).unwrap()["status"]["phase"],
        "Bound"
    );
}

#[test]
fn status_says_what_each_step_is_doing() {
    let l = load_ws(Path::new("workspaces/opt-125m-rwx.kdl"));
    let c = seeded(&l);
    c.script_deployment("opt-prefill", PodFate::CrashLoop { exit_code: 1, log: "boom".into() });
    apply_all(&l, &c, &SECRETS);
    let opts = msws::render::Options { namespace: "llm-d".into(), ..Default::default() };
    let rendered = msws::render::render(&l.ws, &l.graph, &opts);
    let states = rt().block_on(msws::plan::status::status(&c, &l.ws, &l.graph, &rendered)).unwrap();
    let by = |s: &str| states.iter().find(|x| x.step == s).unwrap().clone();
    assert_eq!(by("storage/model-pvc").state, "ready", "{:?}", by("storage/model-pvc"));
    assert_eq!(by("secret/hf-token").state, "ready");
    let d = by("download/opt-125m");
    assert!(d.state == "ready" && d.detail.contains("commit 0123456789ab") && d.detail.contains("8 files"), "{d:?}");
    let m = by("model-service/opt");
    assert_eq!(m.state, "waiting", "{m:?}");
    assert!(m.detail.contains("decode 1/1 available") && m.detail.contains("CrashLoopBackOff"), "{m:?}");

    let empty = FakeCluster::new("llm-d");
    let states = rt().block_on(msws::plan::status::status(&empty, &l.ws, &l.graph, &rendered)).unwrap();
    // A pre-pull leaves nothing behind; without the right to list nodes it says so.
    let (pulls, rest): (Vec<_>, Vec<_>) = states.iter().partition(|s| s.step.starts_with("pre-pull/"));
    assert!(rest.iter().all(|s| s.state == "absent"), "{states:?}");
    assert!(pulls.iter().all(|s| s.detail.contains("cannot list nodes")), "{states:?}");
}

#[test]
fn a_saved_plan_knows_when_it_went_stale() {
    let l = load_ws(Path::new("workspaces/opt-125m-rwo.kdl"));
    let c = seeded(&l);
    apply_all(&l, &c, &SECRETS);
    let saved: Plan = serde_json::from_str(&serde_json::to_string(&plan_on(&l, &c, &SECRETS)).unwrap()).unwrap();
    assert!(!saved.read.is_empty());
    let hash = saved.workspace_hash.clone();
    assert_eq!(saved.staleness(&hash, &plan_on(&l, &c, &SECRETS).read), Vec::<String>::new());

    // Another manager scales a Deployment: its resourceVersion moves.
    c.scale(&ObjectRef::new("apps/v1", "Deployment", Some("llm-d"), "opt-decode"), 3).unwrap();
    let why = saved.staleness(&hash, &plan_on(&l, &c, &SECRETS).read);
    assert_eq!(why.len(), 1, "{why:?}");
    assert!(why[0].starts_with("Deployment llm-d/opt-decode changed (resourceVersion"), "{why:?}");

    // The workspace file changed.
    assert!(saved.staleness("other", &saved.read)[0].contains("workspace"));

    // An object that was absent appeared, and one that was there went away.
    let c2 = seeded(&l);
    let empty = plan_on(&l, &c2, &SECRETS);
    apply_all(&l, &c2, &SECRETS);
    let why = empty.staleness(&hash, &plan_on(&l, &c2, &SECRETS).read);
    assert!(why.iter().any(|w| w.ends_with("opt-decode was created")), "{why:?}");
    let why = saved.staleness(&hash, &empty.read);
    assert!(why.iter().any(|w| w.ends_with("opt-decode was deleted")), "{why:?}");
}

#[test]
fn a_kind_msws_always_lists_but_the_cluster_does_not_serve_is_skipped() {
    // A cluster before DRA: no resource.k8s.io/v1, so no ResourceClaimTemplate to own or prune.
    struct NoDra(FakeCluster);
    #[async_trait::async_trait]
    impl msws::cluster::Cluster for NoDra {
        fn default_namespace(&self) -> &str {
            self.0.default_namespace()
        }
        fn describe(&self) -> String {
            "fake without DRA".into()
        }
        async fn get(&self, r: &ObjectRef) -> Result<Option<serde_json::Value>, msws::cluster::ClusterError> {
            self.0.get(r).await
        }
        async fn list(
            &self,
            av: &str,
            kind: &str,
            ns: Option<&str>,
            sel: &str,
        ) -> Result<Vec<serde_json::Value>, msws::cluster::ClusterError> {
            match av {
                "resource.k8s.io/v1" => {
                    Err(msws::cluster::ClusterError::NotFound(format!("the API for {kind} ({av}) on fake not found")))
                }
                _ => self.0.list(av, kind, ns, sel).await,
            }
        }
        async fn apply(
            &self,
            o: &serde_json::Value,
            opts: ApplyOptions,
        ) -> Result<serde_json::Value, msws::cluster::ClusterError> {
            self.0.apply(o, opts).await
        }
        async fn create(&self, o: &serde_json::Value) -> Result<serde_json::Value, msws::cluster::ClusterError> {
            self.0.create(o).await
        }
        async fn replace(&self, o: &serde_json::Value) -> Result<serde_json::Value, msws::cluster::ClusterError> {
            self.0.replace(o).await
        }
        async fn delete(
            &self,
            r: &ObjectRef,
            p: msws::cluster::Propagation,
            d: bool,
        ) -> Result<Option<serde_json::Value>, msws::cluster::ClusterError> {
            self.0.delete(r, p, d).await
        }
        async fn delete_exact(
            &self,
            r: &ObjectRef,
            uid: &str,
            rv: &str,
            p: msws::cluster::Propagation,
        ) -> Result<Option<serde_json::Value>, msws::cluster::ClusterError> {
            self.0.delete_exact(r, uid, rv, p).await
        }
        async fn logs(
            &self,
            ns: &str,
            pod: &str,
            c: Option<&str>,
            t: Option<i64>,
        ) -> Result<String, msws::cluster::ClusterError> {
            self.0.logs(ns, pod, c, t).await
        }
        async fn discover(&self, av: &str) -> Result<Option<Vec<msws::cluster::Kind>>, msws::cluster::ClusterError> {
            match av {
                "resource.k8s.io/v1" => Ok(None),
                _ => self.0.discover(av).await,
            }
        }
        async fn preferred_version(&self, g: &str) -> Result<Option<String>, msws::cluster::ClusterError> {
            self.0.preferred_version(g).await
        }
        async fn events(
            &self,
            about: &ObjectRef,
            uid: Option<&str>,
        ) -> Result<Vec<serde_json::Value>, msws::cluster::ClusterError> {
            self.0.events(about, uid).await
        }
    }
    let l = load_ws(Path::new("workspaces/opt-125m-rwx.kdl"));
    let c = NoDra(seeded(&l));
    let p = rt()
        .block_on(msws::plan::make(&request(&l, &SECRETS), Source::Cluster(&c, ObserveOptions::default())))
        .unwrap();
    assert!(p.refusals.is_empty(), "{:?}", p.refusals);
    // A workspace that asks for DRA there is refused, saying why.
    let dra = chart_features();
    let c = NoDra(llm_d_cluster());
    let p =
        rt().block_on(msws::plan::make(&request(&dra, &[]), Source::Cluster(&c, ObserveOptions::default()))).unwrap();
    assert_eq!(
        p.refusals,
        [
            "the cluster does not serve ResourceClaimTemplate (resource.k8s.io/v1): dynamic resource allocation (resource.k8s.io/v1) needs Kubernetes 1.34 or newer; needed by ResourceClaimTemplate llm-d/nvidia-claim-template-prefill"
        ]
    );
}
