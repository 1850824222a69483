//! The fake cluster beyond the recorded kinds: API discovery and custom resources (served only
//! once their CRD is installed), the defaults of Services, LeaderWorkerSets, DisaggregatedSets and
//! the other kinds without a recording, and the LeaderWorkerSet, DisaggregatedSet and standalone
//! ReplicaSet controllers — with readiness read from what they write.

use std::time::Duration;

use msws::cluster::fake::{FakeCluster, PodFate, Verb};
use msws::cluster::{ApplyOptions, Cluster, ClusterError, ObjectRef, Propagation};
use msws::readiness::{self, State};
use serde_json::{Value, json};

const APPLY: ApplyOptions = ApplyOptions { dry_run: false, force: false };
const DRY: ApplyOptions = ApplyOptions { dry_run: true, force: false };
const LWS: &str = "leaderworkerset.x-k8s.io/v1";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn lws_ref(name: &str) -> ObjectRef {
    ObjectRef::new(LWS, "LeaderWorkerSet", Some("demo"), name)
}

fn condition<'a>(obj: &'a Value, ty: &str) -> Option<&'a Value> {
    obj["status"]["conditions"].as_array()?.iter().find(|c| c["type"] == ty)
}

fn status_of(obj: &Value, ty: &str) -> String {
    condition(obj, ty).map(|c| c["status"].as_str().unwrap().to_string()).unwrap_or_default()
}

fn pods(fake: &FakeCluster, selector: &str) -> Vec<Value> {
    futures::executor::block_on(fake.list("v1", "Pod", Some("demo"), selector)).unwrap()
}

/// A LeaderWorkerSet of `replicas` groups of `size` pods, as msws renders one.
fn leader_worker_set(name: &str, replicas: i64, size: i64, image: &str) -> Value {
    json!({
        "apiVersion": LWS,
        "kind": "LeaderWorkerSet",
        "metadata": {"name": name, "namespace": "demo", "labels": {"app.kubernetes.io/managed-by": "msws"}},
        "spec": {
            "replicas": replicas,
            "leaderWorkerTemplate": {
                "size": size,
                "workerTemplate": {
                    "metadata": {"labels": {"llm-d.ai/role": "decode"}},
                    "spec": {"containers": [{"name": "vllm", "image": image, "ports": [{"containerPort": 8200, "protocol": "TCP"}]}]},
                },
            },
        },
    })
}

fn fake() -> FakeCluster {
    let f = FakeCluster::new("demo");
    f.install_llm_d_crds();
    f
}

async fn lws_state(fake: &FakeCluster, name: &str) -> State {
    let obj = fake.get(&lws_ref(name)).await.unwrap().unwrap();
    msws::plan::status::workload_state(fake, &obj).await.unwrap()
}

// ---- discovery and custom resources ----

#[tokio::test]
async fn built_in_kinds_are_always_served_and_custom_ones_once_installed() {
    let fake = FakeCluster::new("demo");
    let apps = fake.discover("apps/v1").await.unwrap().unwrap();
    assert!(apps.iter().any(|k| k.kind == "Deployment" && k.plural == "deployments" && k.namespaced));
    let core = fake.discover("v1").await.unwrap().unwrap();
    assert!(core.iter().any(|k| k.kind == "PersistentVolume" && !k.namespaced));
    assert_eq!(fake.discover(LWS).await.unwrap(), None, "not installed: a 404, as a real server answers");
    assert_eq!(fake.preferred_version("leaderworkerset.x-k8s.io").await.unwrap(), None);
    // Requests for a kind that is not served fail as they do on a real server.
    let err = fake.get(&lws_ref("x")).await.unwrap_err();
    assert_eq!(err.to_string(), "the API for LeaderWorkerSet (leaderworkerset.x-k8s.io/v1) on fake not found");
    assert!(matches!(fake.list(LWS, "LeaderWorkerSet", Some("demo"), "").await, Err(ClusterError::NotFound(_))));
    let err = fake.apply(&leader_worker_set("x", 1, 1, "img:1"), APPLY).await.unwrap_err();
    assert_eq!(err, ClusterError::NotFound("fake: 404 page not found".into()));

    fake.install_llm_d_crds();
    let kinds = fake.discover(LWS).await.unwrap().unwrap();
    assert_eq!(kinds.iter().map(|k| (k.kind, k.plural)).collect::<Vec<_>>(), [("LeaderWorkerSet", "leaderworkersets")]);
    assert_eq!(fake.preferred_version("gateway.networking.k8s.io").await.unwrap().as_deref(), Some("v1"));
    assert_eq!(fake.preferred_version("").await.unwrap().as_deref(), Some("v1"));
    assert_eq!(fake.count(Verb::Discover, "APIResourceList"), 4);
    assert_eq!(fake.count(Verb::Discover, "APIGroup"), 2, "the core group needs no request");
}

#[tokio::test]
async fn a_kind_outside_msws_s_list_is_usable_once_discovered() {
    let fake = FakeCluster::new("demo");
    fake.install_crd("example.net/v1beta1", "Sprocket", "sprockets", true);
    let sprocket = json!({"apiVersion": "example.net/v1beta1", "kind": "Sprocket", "metadata": {"name": "s", "namespace": "demo"},
                          "spec": {"teeth": 12}});
    // As the kube adapter would, the fake refuses it before any request: msws cannot address it.
    let err = fake.apply(&sprocket, APPLY).await.unwrap_err();
    assert!(matches!(&err, ClusterError::Client(m) if m.contains("API discovery has not found it")), "{err}");
    assert!(fake.requests().is_empty());
    fake.discover("example.net/v1beta1").await.unwrap().unwrap();
    let stored = fake.apply(&sprocket, APPLY).await.unwrap();
    assert_eq!(stored["metadata"]["generation"], 1, "every custom resource has a generation");
    assert_eq!(stored["spec"], json!({"teeth": 12}), "no defaults for a kind the fake does not know");
    let r = ObjectRef::new("example.net/v1beta1", "Sprocket", Some("demo"), "s");
    assert!(fake.get(&r).await.unwrap().is_some());
    assert_eq!(fake.list("example.net/v1beta1", "Sprocket", Some("demo"), "").await.unwrap().len(), 1);
    assert_eq!(fake.delete(&r, Propagation::Background, false).await.unwrap(), None);
    assert!(fake.get(&r).await.unwrap().is_none());
}

// ---- defaults ----

/// The dry run of a create, the real create, and a dry run of the same apply again: defaults
/// are filled in, and the second dry run is exactly what is stored (a plan sees no change).
async fn defaults_hold(fake: &FakeCluster, obj: &Value) -> Value {
    let dry = fake.apply(obj, DRY).await.unwrap();
    let stored = fake.apply(obj, APPLY).await.unwrap();
    // (A Service's dry-run create shows an address; the real create is given another.)
    let strip = |v: &Value| {
        let mut v = msws::cluster::without_server_fields(v);
        if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
            for p in spec.get_mut("ports").and_then(Value::as_array_mut).into_iter().flatten() {
                p.as_object_mut().unwrap().remove("nodePort");
            }
        }
        v
    };
    assert_eq!(strip(&dry), strip(&stored));
    let again = fake.apply(obj, DRY).await.unwrap();
    assert_eq!(again, fake.get(&ObjectRef::of(obj).unwrap()).await.unwrap().unwrap());
    stored
}

#[tokio::test]
async fn a_leader_worker_set_gets_the_webhook_s_and_the_crd_s_defaults() {
    let fake = fake();
    let mut lws = leader_worker_set("wide-decode", 2, 2, "img:1");
    lws["spec"]["leaderWorkerTemplate"]["subGroupPolicy"] = json!({"subGroupSize": 1});
    lws["spec"].as_object_mut().unwrap().remove("replicas");
    let stored = defaults_hold(&fake, &lws).await;
    let spec = &stored["spec"];
    assert_eq!(spec["replicas"], 1, "the CRD's default when an autoscaled role leaves it out");
    assert_eq!(spec["startupPolicy"], "LeaderCreated");
    assert_eq!(spec["networkConfig"], json!({"subdomainPolicy": "Shared"}));
    assert_eq!(
        spec["rolloutStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdateConfiguration": {"partition": 0, "maxUnavailable": 1, "maxSurge": 0}})
    );
    let t = &spec["leaderWorkerTemplate"];
    assert_eq!(
        (&t["restartPolicy"], &t["subGroupPolicy"]["subGroupPolicyType"]),
        (&json!("RecreateGroupOnPodRestart"), &json!("LeaderWorker"))
    );
    // A CRD does not run Kubernetes' pod defaulting: the template stays as sent.
    assert_eq!(t["workerTemplate"]["spec"], lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]);
    assert_eq!(stored["metadata"]["generation"], 1);
}

#[tokio::test]
async fn a_service_gets_its_cluster_ip_and_port_defaults() {
    let fake = FakeCluster::new("demo");
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "wide", "namespace": "demo"},
                     "spec": {"selector": {"app": "wide"}, "ports": [{"name": "http", "port": 8000}]}});
    let stored = defaults_hold(&fake, &svc).await;
    let spec = &stored["spec"];
    assert!(spec["clusterIP"].as_str().unwrap().starts_with("10.96."), "{spec}");
    assert_eq!(spec["clusterIPs"], json!([spec["clusterIP"]]));
    assert_eq!(spec["ports"], json!([{"name": "http", "port": 8000, "protocol": "TCP", "targetPort": 8000}]));
    for (k, v) in [
        ("type", "ClusterIP"),
        ("sessionAffinity", "None"),
        ("ipFamilyPolicy", "SingleStack"),
        ("internalTrafficPolicy", "Cluster"),
    ] {
        assert_eq!(spec[k], v, "{k}");
    }
    assert_eq!(spec["ipFamilies"], json!(["IPv4"]));
    assert_eq!(stored["status"], json!({"loadBalancer": {}}));
    assert!(stored["metadata"].get("generation").is_none(), "a Service has no generation");
    // A headless one keeps `None`; a NodePort one gets its ports.
    let mut headless = svc.clone();
    headless["metadata"]["name"] = json!("wide-headless");
    headless["spec"]["clusterIP"] = json!("None");
    assert_eq!(defaults_hold(&fake, &headless).await["spec"]["clusterIPs"], json!(["None"]));
    let mut node_port = svc.clone();
    node_port["metadata"]["name"] = json!("wide-np");
    node_port["spec"]["type"] = json!("NodePort");
    let np = defaults_hold(&fake, &node_port).await;
    assert!(np["spec"]["ports"][0]["nodePort"].as_i64().unwrap() >= 30000);
    assert_eq!(np["spec"]["externalTrafficPolicy"], "Cluster");
}

#[tokio::test]
async fn other_kinds_get_their_api_defaults_or_none() {
    let fake = fake();
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "wide", "namespace": "demo"},
        "spec": {"scaleTargetRef": {"apiVersion": LWS, "kind": "LeaderWorkerSet", "name": "wide-decode"}, "maxReplicas": 4,
                 "behavior": {"scaleDown": {"stabilizationWindowSeconds": 600}}}});
    let s = defaults_hold(&fake, &hpa).await;
    assert_eq!(s["spec"]["minReplicas"], 1);
    assert_eq!(s["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 80);
    assert_eq!(s["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"], 600);
    assert_eq!(s["spec"]["behavior"]["scaleUp"]["policies"].as_array().unwrap().len(), 2);
    let monitor = json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor", "metadata": {"name": "m", "namespace": "demo"},
        "spec": {"selector": {"matchLabels": {"llm-d.ai/role": "decode"}}, "podMetricsEndpoints": [{"port": "metrics"}]}});
    let s = defaults_hold(&fake, &monitor).await;
    assert_eq!(s["spec"], monitor["spec"], "a PodMonitor has no defaults");
    assert!(s.get("status").is_none(), "and nothing writes a status");
    let route = json!({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "demo"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "wide"}]}]}});
    fake.discover("gateway.networking.k8s.io/v1").await.unwrap();
    let s = defaults_hold(&fake, &route).await;
    assert_eq!(
        s["spec"]["parentRefs"][0],
        json!({"name": "gw", "group": "gateway.networking.k8s.io", "kind": "Gateway"})
    );
    assert_eq!(s["spec"]["rules"][0]["matches"], json!([{"path": {"type": "PathPrefix", "value": "/"}}]));
    assert_eq!(s["spec"]["rules"][0]["backendRefs"][0]["weight"], 1);
    assert_eq!(s["spec"]["rules"][0]["backendRefs"][0]["kind"], "InferencePool");
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s", "namespace": "demo"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "serviceName": "s",
                 "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}});
    let s = defaults_hold(&fake, &sts).await;
    assert_eq!(s["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(s["spec"]["updateStrategy"], json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}));
    assert_eq!(s["spec"]["template"]["spec"]["restartPolicy"], "Always", "pod defaults inside a built-in kind");
}

// ---- the LeaderWorkerSet controller ----

#[tokio::test]
async fn a_leader_worker_set_makes_groups_of_pods_and_becomes_available() {
    let fake = fake();
    fake.apply(&leader_worker_set("wide-decode", 2, 3, "img:1"), APPLY).await.unwrap();
    fake.advance(Duration::ZERO);
    let lws = fake.get(&lws_ref("wide-decode")).await.unwrap().unwrap();
    assert_eq!(status_of(&lws, "Progressing"), "True");
    assert_eq!(lws["status"]["replicas"], 2);
    assert!(lws["status"].get("readyReplicas").is_none(), "zero counts are left out");
    assert!(
        matches!(lws_state(&fake, "wide-decode").await, State::Waiting(w) if w.starts_with("0/2 groups of 3 ready"))
    );
    let all = pods(&fake, "leaderworkerset.sigs.k8s.io/name=wide-decode");
    let mut names: Vec<&str> = all.iter().map(|p| p["metadata"]["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        ["wide-decode-0", "wide-decode-0-1", "wide-decode-0-2", "wide-decode-1", "wide-decode-1-1", "wide-decode-1-2"]
    );
    let worker = all.iter().find(|p| p["metadata"]["name"] == "wide-decode-1-2").unwrap();
    let labels = &worker["metadata"]["labels"];
    assert_eq!(
        (
            &labels["leaderworkerset.sigs.k8s.io/group-index"],
            &labels["leaderworkerset.sigs.k8s.io/worker-index"],
            &labels["llm-d.ai/role"]
        ),
        (&json!("1"), &json!("2"), &json!("decode"))
    );
    assert_eq!(worker["metadata"]["annotations"]["leaderworkerset.sigs.k8s.io/leader-name"], "wide-decode-1");
    let env = &worker["spec"]["containers"][0]["env"];
    assert!(
        env.as_array()
            .unwrap()
            .contains(&json!({"name": "LWS_LEADER_ADDRESS", "value": "wide-decode-1.wide-decode.demo"})),
        "{env}"
    );
    // The leaders are what an HPA scales by.
    assert_eq!(
        lws["status"]["hpaPodSelector"],
        "leaderworkerset.sigs.k8s.io/name=wide-decode,leaderworkerset.sigs.k8s.io/worker-index=0"
    );

    fake.advance(secs(5));
    let lws = fake.get(&lws_ref("wide-decode")).await.unwrap().unwrap();
    assert_eq!(
        (lws["status"]["readyReplicas"].clone(), lws["status"]["updatedReplicas"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(status_of(&lws, "Available"), "True");
    assert_eq!(status_of(&lws, "Progressing"), "False", "turned False in place");
    assert_eq!(condition(&lws, "Progressing").unwrap()["reason"], "GroupsProgressing");
    assert_eq!(lws["status"]["observedGeneration"], 1);
    assert_eq!(lws_state(&fake, "wide-decode").await, State::Ready("2/2 groups of 3 ready".into()));

    // Scaling down removes the highest groups.
    fake.apply(&leader_worker_set("wide-decode", 1, 3, "img:1"), APPLY).await.unwrap();
    fake.advance(Duration::ZERO);
    assert_eq!(pods(&fake, "leaderworkerset.sigs.k8s.io/group-index=1").len(), 0);
    assert_eq!(pods(&fake, "leaderworkerset.sigs.k8s.io/name=wide-decode").len(), 3);
}

#[tokio::test]
async fn a_new_template_rolls_out_group_by_group_with_the_update_conditions() {
    let fake = fake();
    fake.apply(&leader_worker_set("wide-decode", 3, 2, "img:1"), APPLY).await.unwrap();
    fake.advance(secs(5));
    fake.apply(&leader_worker_set("wide-decode", 3, 2, "img:2"), APPLY).await.unwrap();
    fake.advance(Duration::ZERO);
    let lws = fake.get(&lws_ref("wide-decode")).await.unwrap().unwrap();
    assert_eq!(lws["metadata"]["generation"], 2);
    for (ty, st) in [("UpdateInProgress", "True"), ("Progressing", "True"), ("Available", "False")] {
        assert_eq!(status_of(&lws, ty), st, "{ty}: {:#}", lws["status"]);
    }
    let image = |g: u32| {
        pods(
            &fake,
            &format!("leaderworkerset.sigs.k8s.io/name=wide-decode,leaderworkerset.sigs.k8s.io/group-index={g}"),
        )
        .iter()
        .map(|p| p["spec"]["containers"][0]["image"].as_str().unwrap().to_string())
        .collect::<Vec<_>>()
    };
    // maxUnavailable 1: the highest group first, the others once it is ready.
    assert_eq!(
        (image(2), image(1), image(0)),
        (vec!["img:2".to_string(); 2], vec!["img:1".to_string(); 2], vec!["img:1".to_string(); 2])
    );
    assert!(
        matches!(lws_state(&fake, "wide-decode").await, State::Waiting(w) if w.contains("rolling update in progress"))
    );
    fake.advance(secs(3));
    assert_eq!(image(1), vec!["img:2".to_string(); 2]);
    fake.advance(secs(10));
    let lws = fake.get(&lws_ref("wide-decode")).await.unwrap().unwrap();
    assert_eq!(image(0), vec!["img:2".to_string(); 2]);
    for (ty, st) in [("UpdateInProgress", "False"), ("Progressing", "False"), ("Available", "True")] {
        assert_eq!(status_of(&lws, ty), st, "{ty}");
    }
    assert!(lws_state(&fake, "wide-decode").await.is_ready());
}

#[tokio::test]
async fn crash_looping_pods_fail_the_readiness_naming_their_group() {
    let fake = fake();
    fake.script_workload("wide-decode", PodFate::CrashLoop { exit_code: 1, log: "NCCL error\n".into() });
    fake.apply(&leader_worker_set("wide-decode", 2, 2, "img:1"), APPLY).await.unwrap();
    fake.advance(secs(5));
    // A first crash is waited for (a worker may crash while its leader starts)…
    let State::Waiting(w) = lws_state(&fake, "wide-decode").await else { panic!() };
    assert!(w.contains("group 0: pod wide-decode-0 container vllm: CrashLoopBackOff (restarted 1 times)"), "{w}");
    // …the third is a failure (the kubelet restarts after 10 s, then 20 s).
    fake.advance(secs(30));
    let State::Failed(f) = lws_state(&fake, "wide-decode").await else { panic!() };
    assert!(f.starts_with("0/2 groups of 2 ready; group 0: pod wide-decode-0 container vllm: CrashLoopBackOff (restarted 3 times): back-off 40s"), "{f}");
    let log = fake.logs("demo", "wide-decode-1-1", None, None).await.unwrap();
    assert_eq!(log, "NCCL error\n");
}

#[tokio::test]
async fn unschedulable_and_missing_images_wait_and_fail_as_they_should() {
    let fake = fake();
    fake.script_workload(
        "big",
        PodFate::Unschedulable { message: "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.".into() },
    );
    fake.script_image("nowhere.invalid/x:1", PodFate::ImagePullBackOff);
    fake.apply(&leader_worker_set("big", 1, 2, "img:1"), APPLY).await.unwrap();
    fake.apply(&leader_worker_set("pull", 1, 2, "nowhere.invalid/x:1"), APPLY).await.unwrap();
    fake.advance(secs(60));
    // An autoscaler may bring a node: waited for, with the scheduler's reason.
    let State::Waiting(w) = lws_state(&fake, "big").await else { panic!() };
    assert!(
        w.contains("group 0: pod big-0: Unschedulable: 0/1 nodes are available: 1 Insufficient nvidia.com/gpu."),
        "{w}"
    );
    // An image that does not exist will not appear by waiting.
    let State::Failed(f) = lws_state(&fake, "pull").await else { panic!() };
    assert!(f.contains("group 0: pod pull-0 container vllm: ImagePullBackOff"), "{f}");
}

#[tokio::test]
async fn a_foreground_delete_of_a_leader_worker_set_takes_its_pods_first() {
    let fake = fake();
    fake.apply(&leader_worker_set("wide-decode", 2, 2, "img:1"), APPLY).await.unwrap();
    fake.advance(secs(5));
    let pending = fake.delete(&lws_ref("wide-decode"), Propagation::Foreground, false).await.unwrap().unwrap();
    assert_eq!(pending["metadata"]["finalizers"], json!(["foregroundDeletion"]));
    fake.advance(Duration::ZERO);
    assert!(fake.get(&lws_ref("wide-decode")).await.unwrap().is_none());
    assert!(pods(&fake, "").is_empty());
}

// ---- a standalone ReplicaSet ----

#[tokio::test]
async fn a_replica_set_no_deployment_owns_runs_its_pods_and_is_scripted_by_its_name() {
    let fake = FakeCluster::new("demo");
    let rs = |name: &str| {
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": name, "namespace": "demo"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "dp-app"}},
                     "template": {"metadata": {"labels": {"app": "dp-app"}}, "spec": {"containers": [{"name": "requester", "image": "req:1"}]}}}})
    };
    fake.script_workload("bad-decode", PodFate::CrashLoop { exit_code: 2, log: String::new() });
    fake.apply(&rs("fast-decode"), APPLY).await.unwrap();
    fake.apply(&rs("bad-decode"), APPLY).await.unwrap();
    fake.advance(secs(60));
    let state = |name: &str| {
        let obj = futures::executor::block_on(fake.get(&ObjectRef::new("apps/v1", "ReplicaSet", Some("demo"), name)))
            .unwrap()
            .unwrap();
        futures::executor::block_on(msws::plan::status::workload_state(&fake, &obj)).unwrap()
    };
    assert_eq!(state("fast-decode"), State::Ready("2/2 available".into()));
    // The two share a selector: each is judged by the pods it owns.
    let State::Failed(f) = state("bad-decode") else { panic!() };
    assert!(
        f.starts_with("0/2 available; pod bad-decode-") && f.contains("CrashLoopBackOff (restarted 3 times)"),
        "{f}"
    );
}

// ---- the DisaggregatedSet controller ----

fn disaggregated_set(image: &str, prefill: i64) -> Value {
    let role = |name: &str, replicas: i64| {
        json!({"name": name, "metadata": {"labels": {"llm-d.ai/role": name}},
               "spec": {"replicas": replicas, "leaderWorkerTemplate": {"size": 1, "workerTemplate": {
                   "metadata": {"labels": {"llm-d.ai/inference-serving": "true"}},
                   "spec": {"containers": [{"name": "modelserver", "image": image}]}}}}})
    };
    json!({"apiVersion": "disaggregatedset.x-k8s.io/v1", "kind": "DisaggregatedSet",
           "metadata": {"name": "pd", "namespace": "demo"},
           "spec": {"roles": [role("prefill", prefill), role("decode", 1)]}})
}

fn ds_ref() -> ObjectRef {
    ObjectRef::new("disaggregatedset.x-k8s.io/v1", "DisaggregatedSet", Some("demo"), "pd")
}

async fn children(fake: &FakeCluster) -> Vec<String> {
    let mut names: Vec<String> = fake
        .list(LWS, "LeaderWorkerSet", Some("demo"), "disaggregatedset.x-k8s.io/name=pd")
        .await
        .unwrap()
        .iter()
        .map(|l| l["metadata"]["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_disaggregated_set_runs_a_leader_worker_set_per_role_and_rolls_all_roles_together() {
    let fake = fake();
    let stored = fake.apply(&disaggregated_set("ms:1", 2), APPLY).await.unwrap();
    assert_eq!(stored["spec"]["slices"], 1);
    assert_eq!(
        stored["spec"]["roles"][0]["spec"]["startupPolicy"], "LeaderCreated",
        "the embedded LWS spec's CRD defaults"
    );
    assert!(stored["spec"]["roles"][0]["spec"].get("networkConfig").is_none(), "but no webhook defaults it");
    fake.advance(Duration::ZERO);
    let first = children(&fake).await;
    assert_eq!(first.len(), 2, "{first:?}");
    let rev = first[0].split('-').nth(2).unwrap().to_string();
    assert_eq!(first, [format!("pd-0-{rev}-decode"), format!("pd-0-{rev}-prefill")]);
    let child = fake.get(&lws_ref(&format!("pd-0-{rev}-prefill"))).await.unwrap().unwrap();
    let labels = &child["metadata"]["labels"];
    assert_eq!(
        (&labels["disaggregatedset.x-k8s.io/role"], &labels["llm-d.ai/role"]),
        (&json!("prefill"), &json!("prefill"))
    );
    assert_eq!(child["spec"]["replicas"], 2);
    assert_eq!(
        child["spec"]["networkConfig"]["subdomainPolicy"], "Shared",
        "the child LWS is defaulted by the LWS webhook"
    );
    let ds_state = || async {
        let ds = fake.get(&ds_ref()).await.unwrap().unwrap();
        (ds.clone(), msws::plan::status::workload_state(&fake, &ds).await.unwrap())
    };
    let (ds, state) = ds_state().await;
    assert_eq!(status_of(&ds, "Progressing"), "True");
    assert!(matches!(&state, State::Waiting(w) if w.starts_with("prefill 0/2 ready")), "{state:?}");
    fake.advance(secs(5));
    let (ds, state) = ds_state().await;
    assert_eq!(
        ds["status"]["roleStatuses"],
        json!([{"name": "prefill", "replicas": 2, "readyReplicas": 2, "updatedReplicas": 2},
               {"name": "decode", "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1}])
    );
    let available = condition(&ds, "Available").unwrap();
    assert_eq!(
        (&available["status"], &available["reason"], &available["observedGeneration"]),
        (&json!("True"), &json!("AllRolesReady"), &json!(1))
    );
    assert_eq!(status_of(&ds, "Progressing"), "False");
    assert_eq!(state, State::Ready("prefill 2/2 ready, decode 1/1 ready".into()));

    // Scaling a role is not a new revision.
    fake.apply(&disaggregated_set("ms:1", 1), APPLY).await.unwrap();
    fake.advance(secs(5));
    assert_eq!(children(&fake).await, first);
    // A new image rolls both roles to a new revision; the old children go once it is ready.
    fake.script_image("ms:2", PodFate::Ready);
    fake.apply(&disaggregated_set("ms:2", 1), APPLY).await.unwrap();
    fake.advance(Duration::ZERO);
    assert_eq!(children(&fake).await.len(), 4, "both revisions while the new one starts");
    assert!(matches!(ds_state().await.1, State::Waiting(_)));
    fake.advance(secs(5));
    let now = children(&fake).await;
    assert_eq!(now.len(), 2);
    assert!(now.iter().all(|c| !first.contains(c)), "{now:?}");
    assert!(ds_state().await.1.is_ready());

    // Foreground deletion takes the children and their pods first.
    fake.delete(&ds_ref(), Propagation::Foreground, false).await.unwrap();
    fake.advance(Duration::ZERO);
    assert!(fake.get(&ds_ref()).await.unwrap().is_none());
    assert!(children(&fake).await.is_empty());
    assert!(pods(&fake, "").is_empty());
}

#[tokio::test]
async fn a_crash_in_one_role_fails_the_disaggregated_set_naming_role_slice_and_group() {
    let fake = fake();
    fake.script_workload("pd", PodFate::CrashLoop { exit_code: 1, log: String::new() });
    fake.apply(&disaggregated_set("ms:1", 1), APPLY).await.unwrap();
    fake.advance(secs(60));
    let ds = fake.get(&ds_ref()).await.unwrap().unwrap();
    let State::Failed(f) = msws::plan::status::workload_state(&fake, &ds).await.unwrap() else { panic!() };
    assert!(f.starts_with("prefill 0/1 ready, decode 0/1 ready; role "), "{f}");
    assert!(f.contains(", slice 0, group 0: pod pd-0-") && f.contains("CrashLoopBackOff"), "{f}");
}

#[test]
fn readiness_treats_observed_generation_as_optional() {
    // An older LWS release writes no observedGeneration: the counts and conditions decide.
    let lws = json!({"metadata": {"generation": 3}, "spec": {"replicas": 2, "leaderWorkerTemplate": {"size": 2}},
        "status": {"readyReplicas": 2, "updatedReplicas": 2, "replicas": 2,
                   "conditions": [{"type": "Available", "status": "True"}, {"type": "Progressing", "status": "False"}]}});
    assert!(readiness::leader_worker_set(&lws, &[]).is_ready());
    // A newer one that has not seen generation 3 yet is waited for.
    let mut stale = lws.clone();
    stale["status"]["observedGeneration"] = json!(2);
    assert!(
        matches!(readiness::leader_worker_set(&stale, &[]), State::Waiting(w) if w.contains("has not seen the latest change"))
    );
    // An update in progress is not ready, whatever the counts say.
    let mut updating = lws.clone();
    updating["status"]["conditions"] =
        json!([{"type": "UpdateInProgress", "status": "True"}, {"type": "Available", "status": "True"}]);
    assert!(matches!(readiness::leader_worker_set(&updating, &[]), State::Waiting(_)));
    assert_eq!(readiness::applied("PodMonitor"), State::Ready("applied (PodMonitor has no status to wait for)".into()));
}
