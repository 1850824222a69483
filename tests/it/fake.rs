//! The fake cluster against what a real API server answered (`tests/data/apiserver/`, see its
//! README): defaults, server-side apply, validation payloads, controllers, deletion, faults,
//! the simulated clock, determinism, and every object msws renders applying cleanly.

use std::path::Path;
use std::time::Duration;

use msws::cluster::fake::{FakeCluster, JobScript, Outcome, PodFate, Verb, persistent_volume, storage_class};
use msws::cluster::{ApplyOptions, Cluster, ClusterError, ObjectRef, Propagation};
use serde_json::{Value, json};

use crate::support::{is_root_file, load, root, workspace_files};

// ---- helpers ----

fn data(name: &str) -> String {
    let path = root().join("tests/data/apiserver").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json_file(name: &str) -> Value {
    serde_json::from_str(&data(name)).unwrap()
}

fn yaml_file(name: &str) -> Value {
    serde_yaml_ng::from_str(&data(name)).unwrap()
}

const APPLY: ApplyOptions = ApplyOptions { dry_run: false, force: false };
const DRY_RUN: ApplyOptions = ApplyOptions { dry_run: true, force: false };
const FORCE: ApplyOptions = ApplyOptions { dry_run: false, force: true };

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn pvc(name: &str) -> ObjectRef {
    ObjectRef::new("v1", "PersistentVolumeClaim", Some("demo"), name)
}
fn job(name: &str) -> ObjectRef {
    ObjectRef::new("batch/v1", "Job", Some("demo"), name)
}
fn deploy(name: &str) -> ObjectRef {
    ObjectRef::new("apps/v1", "Deployment", Some("demo"), name)
}
fn pv(name: &str) -> ObjectRef {
    ObjectRef::new("v1", "PersistentVolume", None, name)
}

/// The recordings' cluster: namespace `demo`, class `standard` (no expansion, Immediate), and the
/// pre-created volume `model-pv` (10Gi, RWX+RWO) the reference claim names, which binds at once.
fn reference_cluster() -> FakeCluster {
    let fake = FakeCluster::new("demo");
    fake.set_bind_delay(Duration::ZERO);
    fake.insert(&storage_class("standard", "Immediate", false, "Retain")).unwrap();
    fake.insert(&persistent_volume("model-pv", "10Gi", &["ReadWriteMany", "ReadWriteOnce"], "standard")).unwrap();
    fake
}

/// Without what differs between two servers answering the same request: uid (and the Job
/// labels and selector made from it), timestamps, resource version, managed fields.
fn stable(v: &Value) -> Value {
    let mut v = v.clone();
    let uid = v.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in ["uid", "creationTimestamp", "resourceVersion", "managedFields", "deletionTimestamp"] {
            m.remove(k);
        }
    }
    fn walk(v: &mut Value, uid: &str) {
        match v {
            Value::String(s) if !uid.is_empty() && s == uid => *s = "<uid>".into(),
            Value::Object(m) => {
                for (k, c) in m.iter_mut() {
                    if k.ends_with("Time") || k.ends_with("Timestamp") || k == "startedAt" || k == "finishedAt" {
                        *c = json!("<time>");
                    } else if k == "uid" || k == "controller-uid" || k == "batch.kubernetes.io/controller-uid" {
                        *c = json!("<uid>");
                    } else if k == "containerID" || k == "imageID" {
                        *c = json!("<id>");
                    } else {
                        walk(c, uid);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|c| walk(c, uid)),
            _ => {}
        }
    }
    walk(&mut v, &uid);
    // ReplicaSet names end with a hash of the pod template, computed differently by the fake.
    let text = replica_set_names_without_hash(&v.to_string());
    serde_json::from_str(&text).unwrap()
}

/// `ReplicaSet "opt-decode-55c766748c"` → `ReplicaSet "opt-decode-<hash>"`.
fn replica_set_names_without_hash(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("ReplicaSet \\\"") {
        let start = i + "ReplicaSet \\\"".len();
        out.push_str(&rest[..start]);
        let end = rest[start..].find("\\\"").map_or(rest.len(), |e| start + e);
        let name = &rest[start..end];
        out.push_str(&name.rsplit_once('-').map_or(name.to_string(), |(n, _)| format!("{n}-<hash>")));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn managed_fields_of<'a>(v: &'a Value, manager: &str) -> Option<&'a Value> {
    v.pointer("/metadata/managedFields")?
        .as_array()?
        .iter()
        .find(|m| m["manager"] == manager && m["operation"] == "Apply")
        .map(|m| &m["fieldsV1"])
}

fn rv(v: &Value) -> String {
    v["metadata"]["resourceVersion"].as_str().unwrap().to_string()
}

async fn get(fake: &FakeCluster, r: &ObjectRef) -> Value {
    fake.get(r).await.unwrap().unwrap_or_else(|| panic!("{r} does not exist"))
}

fn pods_of(fake: &FakeCluster, selector: &str) -> Vec<Value> {
    futures::executor::block_on(fake.list("v1", "Pod", Some("demo"), selector)).unwrap()
}

fn condition<'a>(obj: &'a Value, ty: &str) -> &'a Value {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["type"] == ty))
        .unwrap_or_else(|| panic!("no {ty} condition in {}", obj["status"]))
}

fn claim(name: &str, class: &str, mode: &str, size: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": "demo"},
           "spec": {"accessModes": [mode], "resources": {"requests": {"storage": size}}, "storageClassName": class}})
}

/// A Job that mounts a claim (like the downloader).
fn job_on(name: &str, claim: &str) -> Value {
    let mut j = yaml_file("job.input.yaml");
    j["metadata"]["name"] = json!(name);
    j["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] = json!(claim);
    j
}

/// A serving Deployment that mounts a claim.
fn server_on(name: &str, claim: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "demo"},
           "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}},
                                 "spec": {"containers": [{"name": "c", "image": "img:1"}],
                                          "volumes": [{"name": "m", "persistentVolumeClaim": {"claimName": claim}}]}}}})
}

// ---- defaults and server-side apply against the recordings ----

const KINDS: &[&str] = &["pvc", "sa", "secret", "job", "deploy", "lease"];

#[tokio::test]
async fn defaults_match_the_reference_dry_runs() {
    for kind in KINDS {
        let fake = reference_cluster();
        let input = yaml_file(&format!("{kind}.input.yaml"));
        let answer = fake.apply(&input, DRY_RUN).await.unwrap();
        let recorded = json_file(&format!("{kind}.ssa-dryrun-create.json"));
        assert_eq!(stable(&answer), stable(&recorded), "{kind}: the fake's dry-run answer differs from the server's");
        assert_eq!(
            managed_fields_of(&answer, "msws"),
            managed_fields_of(&recorded, "msws"),
            "{kind}: msws's managed fields differ"
        );
        assert!(answer["metadata"].get("resourceVersion").is_none(), "{kind}: a dry-run create has no resourceVersion");
        let r = ObjectRef::of(&input).unwrap();
        assert_eq!(fake.get(&r).await.unwrap(), None, "{kind}: a dry run stored something");
    }
}

#[tokio::test]
async fn a_real_apply_matches_the_reference_and_a_second_one_changes_nothing() {
    let fake = reference_cluster();
    for kind in KINDS {
        let input = yaml_file(&format!("{kind}.input.yaml"));
        let created = fake.apply(&input, APPLY).await.unwrap();
        let recorded = json_file(&format!("{kind}.ssa-create.json"));
        assert_eq!(stable(&created), stable(&recorded), "{kind}");
        assert!(created["metadata"]["resourceVersion"].is_string(), "{kind}");
    }
    fake.advance(secs(10));
    let before = fake.snapshot();
    let mut versions = Vec::new();
    for kind in KINDS {
        let input = yaml_file(&format!("{kind}.input.yaml"));
        let live = get(&fake, &ObjectRef::of(&input).unwrap()).await;
        let again = fake.apply(&input, APPLY).await.unwrap();
        assert_eq!(again, live, "{kind}: an identical apply changed the object");
        versions.push((rv(&live), live["metadata"].get("generation").cloned()));
    }
    assert_eq!(fake.snapshot(), before);
    for (kind, (rv_before, generation)) in KINDS.iter().zip(versions) {
        let input = yaml_file(&format!("{kind}.input.yaml"));
        let live = get(&fake, &ObjectRef::of(&input).unwrap()).await;
        assert_eq!((rv(&live), live["metadata"].get("generation").cloned()), (rv_before, generation), "{kind}");
    }
}

#[tokio::test]
async fn controllers_write_what_the_reference_server_wrote() {
    let fake = reference_cluster();
    fake.script_job("opt-125m-download", JobScript { duration: secs(4), ..JobScript::default() });
    for kind in KINDS {
        fake.apply(&yaml_file(&format!("{kind}.input.yaml")), APPLY).await.unwrap();
    }
    fake.advance(secs(8));
    for kind in ["pvc", "job", "deploy"] {
        let input = yaml_file(&format!("{kind}.input.yaml"));
        let live = get(&fake, &ObjectRef::of(&input).unwrap()).await;
        let recorded = json_file(&format!("{kind}.live-after-controllers.json"));
        assert_eq!(stable(&live), stable(&recorded), "{kind} after the controllers");
        let unchanged = fake.apply(&input, DRY_RUN).await.unwrap();
        assert_eq!(unchanged, live, "{kind}: an unchanged dry run is the live object");
        let recorded = json_file(&format!("{kind}.ssa-dryrun-unchanged.json"));
        assert_eq!(stable(&unchanged), stable(&recorded), "{kind} unchanged dry run");
    }
    // Timestamps follow the simulated clock: the Job ran 4 s from its creation.
    let j = get(&fake, &job("opt-125m-download")).await;
    assert_eq!(j["status"]["startTime"], j["metadata"]["creationTimestamp"]);
    assert_eq!(j["status"]["startTime"], "2026-11-26T18:00:00Z");
    assert_eq!(j["status"]["completionTime"], "2026-11-26T18:00:04Z");
}

#[tokio::test]
async fn list_selects_by_label_like_the_reference() {
    let fake = reference_cluster();
    for kind in KINDS {
        fake.apply(&yaml_file(&format!("{kind}.input.yaml")), APPLY).await.unwrap();
    }
    let recorded = json_file("deploy.list-by-label.json");
    let names = |items: &[Value]| items.iter().map(|i| i["metadata"]["name"].clone()).collect::<Vec<_>>();
    let listed = fake.list("apps/v1", "Deployment", Some("demo"), "app.kubernetes.io/managed-by=msws").await.unwrap();
    assert_eq!(names(&listed), names(recorded["items"].as_array().unwrap()));
    let count = |sel: &str| futures::executor::block_on(fake.list("v1", "Secret", Some("demo"), sel)).unwrap().len();
    assert_eq!(count(""), 1);
    assert_eq!(count("app.kubernetes.io/managed-by"), 0);
    assert_eq!(count("!app.kubernetes.io/managed-by"), 1);
    assert_eq!(count("app.kubernetes.io/managed-by!=msws"), 1);
    let claims = fake.list("v1", "PersistentVolumeClaim", None, "app.kubernetes.io/managed-by=msws").await.unwrap();
    assert_eq!(claims.len(), 1, "no namespace: every namespace");
    assert_eq!(fake.list("v1", "PersistentVolumeClaim", Some("other"), "").await.unwrap(), Vec::<Value>::new());
    let err = fake.list("v1", "Secret", Some("demo"), "tier in (a,b)").await.unwrap_err();
    assert!(matches!(err, ClusterError::Client(_)), "{err:?}");
    let err = fake.list("v1", "Nope", Some("demo"), "").await.unwrap_err();
    assert!(matches!(err, ClusterError::Client(_)), "{err:?}");
}

// ---- field ownership ----

#[tokio::test]
async fn kubectl_scale_then_apply_is_the_reference_conflict_unless_forced() {
    let fake = reference_cluster();
    let input = yaml_file("deploy.input.yaml");
    fake.apply(&input, APPLY).await.unwrap();
    fake.advance(secs(5));
    let scaled = fake.scale(&deploy("opt-decode"), 3).unwrap();
    let recorded = json_file("deploy.after-kubectl-scale.json");
    assert_eq!(scaled["spec"], recorded["spec"]);
    assert_eq!(scaled["metadata"]["generation"], 2);
    let managers: Vec<&Value> = scaled["metadata"]["managedFields"].as_array().unwrap().iter().collect();
    let kubectl = managers.iter().find(|m| m["manager"] == "kubectl").unwrap();
    assert_eq!(
        (&kubectl["subresource"], &kubectl["fieldsV1"]),
        (&json!("scale"), &json!({"f:spec": {"f:replicas": {}}}))
    );

    let err = fake.apply(&input, APPLY).await.unwrap_err();
    assert_eq!(err, ClusterError::from_status(409, &json_file("deploy.ssa-conflict.status.json")));

    let forced = fake.apply(&input, ApplyOptions { dry_run: true, force: true }).await.unwrap();
    assert_eq!(forced["spec"]["replicas"], 1);
    assert_eq!(get(&fake, &deploy("opt-decode")).await["spec"]["replicas"], 3, "a forced dry run stored nothing");

    let taken = fake.apply(&input, FORCE).await.unwrap();
    assert_eq!(taken["spec"]["replicas"], 1);
    let managers = taken["metadata"]["managedFields"].as_array().unwrap();
    assert!(!managers.iter().any(|m| m["manager"] == "kubectl"), "force takes kubectl's only field");
    fake.apply(&input, APPLY).await.unwrap();
}

#[tokio::test]
async fn a_field_msws_stops_applying_stays_with_the_manager_that_took_it() {
    let fake = reference_cluster();
    let mut input = yaml_file("deploy.input.yaml");
    fake.apply(&input, APPLY).await.unwrap();
    fake.scale(&deploy("opt-decode"), 3).unwrap();
    input["spec"].as_object_mut().unwrap().remove("replicas");
    let applied = fake.apply(&input, APPLY).await.unwrap();
    assert_eq!(applied["spec"]["replicas"], 3, "like an autoscaler's replicas");
}

#[tokio::test]
async fn fields_msws_no_longer_applies_are_removed_but_defaults_come_back() {
    let fake = reference_cluster();
    let mut input = yaml_file("deploy.input.yaml");
    input["metadata"]["labels"]["extra"] = json!("yes");
    input["spec"]["template"]["spec"]["containers"][0]["env"] =
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]);
    input["spec"]["replicas"] = json!(2);
    fake.apply(&input, APPLY).await.unwrap();
    // Another manager adds a label of its own.
    let mut edited = get(&fake, &deploy("opt-decode")).await;
    edited["metadata"]["labels"]["theirs"] = json!("x");
    fake.update_as("kubectl-edit", &edited).unwrap();

    input["metadata"]["labels"].as_object_mut().unwrap().remove("extra");
    input["spec"]["template"]["spec"]["containers"][0]["env"] = json!([{"name": "B", "value": "2"}]);
    input["spec"].as_object_mut().unwrap().remove("replicas");
    let applied = fake.apply(&input, APPLY).await.unwrap();
    assert_eq!(applied["metadata"]["labels"], json!({"app.kubernetes.io/managed-by": "msws", "theirs": "x"}));
    assert_eq!(applied["spec"]["template"]["spec"]["containers"][0]["env"], json!([{"name": "B", "value": "2"}]));
    assert_eq!(applied["spec"]["replicas"], 1, "the server's default");
    assert_eq!(applied["metadata"]["generation"], 2);
}

#[tokio::test]
async fn another_managers_change_is_a_conflict_naming_it_and_the_keyed_field() {
    let fake = reference_cluster();
    let input = yaml_file("deploy.input.yaml");
    fake.apply(&input, APPLY).await.unwrap();
    let mut edited = get(&fake, &deploy("opt-decode")).await;
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("ghcr.io/llm-d/llm-d-cuda:v2");
    edited["spec"]["replicas"] = json!(2);
    fake.update_as("kubectl-edit", &edited).unwrap();
    let err = fake.apply(&input, APPLY).await.unwrap_err();
    let ClusterError::Conflict { message, causes } = &err else { panic!("{err:?}") };
    assert_eq!(
        message,
        "Apply failed with 2 conflicts: conflicts with \"kubectl-edit\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"vllm\"].image"
    );
    assert_eq!(causes.len(), 2);
    assert_eq!(causes[1].field.as_deref(), Some(".spec.template.spec.containers[name=\"vllm\"].image"));
    // The same values as the other manager's are no conflict: the field is shared.
    let mut same = input.clone();
    same["spec"]["replicas"] = json!(2);
    same["spec"]["template"]["spec"]["containers"][0]["image"] = json!("ghcr.io/llm-d/llm-d-cuda:v2");
    fake.apply(&same, APPLY).await.unwrap();
    // A stale resourceVersion in an update is refused.
    let stale = fake.update_as("kubectl-edit", &edited).unwrap_err();
    assert_eq!(stale.code(), Some(409));
}

// ---- validation ----

#[tokio::test]
async fn immutable_fields_are_refused_with_the_reference_payloads_and_change_nothing() {
    let fake = reference_cluster();
    for kind in ["pvc", "job", "deploy"] {
        fake.apply(&yaml_file(&format!("{kind}.input.yaml")), APPLY).await.unwrap();
    }
    fake.advance(secs(10));
    let before = fake.snapshot();
    let claim = yaml_file("pvc.input.yaml");

    let mut rwx = claim.clone();
    rwx["spec"]["accessModes"] = json!(["ReadWriteMany"]);
    let err = fake.apply(&rwx, DRY_RUN).await.unwrap_err();
    assert!(err.is_immutable_field(), "{err:?}");
    let recorded = ClusterError::from_status(422, &json_file("pvc.immutable-accessmodes.status.json"));
    let (ClusterError::Invalid { message, causes }, ClusterError::Invalid { message: want, causes: want_causes }) =
        (&err, &recorded)
    else {
        panic!("{err:?}")
    };
    let head = want.split("\n@@").next().unwrap();
    assert!(message.starts_with(&format!("{head}\n@@ ")), "{message}");
    assert!(message.contains("\n-  \"ReadWriteOnce\"\n+  \"ReadWriteMany\"\n"), "{message}");
    assert_eq!(causes[0].field, want_causes[0].field);

    let mut shrink = claim.clone();
    shrink["spec"]["resources"]["requests"]["storage"] = json!("4Gi");
    let err = fake.apply(&shrink, APPLY).await.unwrap_err();
    assert_eq!(err, ClusterError::from_status(422, &json_file("pvc.shrink.status.json")));
    assert!(err.is_immutable_field());

    let mut grow = claim.clone();
    grow["spec"]["resources"]["requests"]["storage"] = json!("20Gi");
    let err = fake.apply(&grow, APPLY).await.unwrap_err();
    assert_eq!(err, ClusterError::from_status(403, &json_file("pvc.grow-no-expansion.status.json")));

    let mut bad = claim.clone();
    bad["spec"]["resources"]["requests"]["storage"] = json!("5 gigs");
    let err = fake.apply(&bad, DRY_RUN).await.unwrap_err();
    assert_eq!(err, ClusterError::from_status(500, &json_file("pvc.invalid-quantity.status.json")));

    let mut template = yaml_file("job.input.yaml");
    template["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["python3", "-c", "print('download v2')"]);
    let err = fake.apply(&template, APPLY).await.unwrap_err();
    let ClusterError::Invalid { message, causes } = &err else { panic!("{err:?}") };
    assert!(
        message.starts_with("Job.batch \"opt-125m-download\" is invalid: spec.template: Invalid value: {"),
        "{message}"
    );
    assert!(message.ends_with("}: field is immutable"), "{message}");
    assert!(message.contains("print('download v2')"));
    assert_eq!(causes[0].field.as_deref(), Some("spec.template"));
    assert!(err.is_immutable_field());
    assert_eq!(ClusterError::from_status(422, &json_file("job.immutable-template.status.json")).code(), err.code());

    let mut selector = yaml_file("deploy.input.yaml");
    selector["spec"]["selector"]["matchLabels"]["extra"] = json!("x");
    selector["spec"]["template"]["metadata"]["labels"]["extra"] = json!("x");
    let err = fake.apply(&selector, APPLY).await.unwrap_err();
    assert_eq!(err, ClusterError::from_status(422, &json_file("deploy.immutable-selector.status.json")));

    assert_eq!(fake.snapshot(), before, "a refused change changes nothing");
}

#[tokio::test]
async fn a_claim_grows_only_with_an_expandable_class_and_a_provisioned_volume() {
    let fake = FakeCluster::new("demo");
    fake.insert(&storage_class("fast", "Immediate", true, "Delete")).unwrap();
    fake.apply(&claim("c", "fast", "ReadWriteOnce", "5Gi"), APPLY).await.unwrap();
    // Unbound, a claim's request cannot change at all.
    let err = fake.apply(&claim("c", "fast", "ReadWriteOnce", "6Gi"), DRY_RUN).await.unwrap_err();
    assert!(err.is_immutable_field(), "{err:?}");
    fake.advance(secs(2));
    let bound = get(&fake, &pvc("c")).await;
    assert_eq!(bound["status"]["capacity"]["storage"], "5Gi");
    fake.apply(&claim("c", "fast", "ReadWriteOnce", "8Gi"), APPLY).await.unwrap();
    fake.advance(Duration::ZERO);
    let grown = get(&fake, &pvc("c")).await;
    assert_eq!(grown["status"]["capacity"]["storage"], "8Gi");
    let volume = bound["spec"]["volumeName"].as_str().unwrap();
    assert_eq!(get(&fake, &pv(volume)).await["spec"]["capacity"]["storage"], "8Gi");
    // Shrinking back above the capacity is allowed (recovering from a failed expansion); below is not.
    let err = fake.apply(&claim("c", "fast", "ReadWriteOnce", "7Gi"), DRY_RUN).await.unwrap_err();
    assert_eq!(err.code(), Some(422));
}

#[tokio::test]
async fn specs_a_server_refuses_on_create_are_refused() {
    let fake = FakeCluster::new("demo");
    let mut no_restart = yaml_file("job.input.yaml");
    no_restart["spec"]["template"]["spec"].as_object_mut().unwrap().remove("restartPolicy");
    let err = fake.apply(&no_restart, DRY_RUN).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "rejected as invalid: Job.batch \"opt-125m-download\" is invalid: spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\""
    );
    let mut mismatch = yaml_file("deploy.input.yaml");
    mismatch["spec"]["template"]["metadata"]["labels"] = json!({"other": "x"});
    let err = fake.apply(&mismatch, DRY_RUN).await.unwrap_err();
    assert!(err.to_string().contains("`selector` does not match template `labels`"), "{err}");
    let mut missing = yaml_file("pvc.input.yaml");
    missing["spec"].as_object_mut().unwrap().remove("accessModes");
    let err = fake.apply(&missing, DRY_RUN).await.unwrap_err();
    assert!(err.to_string().contains("spec.accessModes: Required value"), "{err}");
    let mut elsewhere = yaml_file("sa.input.yaml");
    elsewhere["metadata"]["namespace"] = json!("nowhere");
    let err = fake.apply(&elsewhere, APPLY).await.unwrap_err();
    assert_eq!(err, ClusterError::NotFound("namespaces \"nowhere\" not found".into()));
}

#[tokio::test]
async fn a_defaulted_rolling_update_cannot_become_recreate_in_place() {
    // The server fills in `rollingUpdate` when the strategy is left out; nobody owns it, so an
    // apply switching to Recreate keeps it and is refused, as on a real cluster.
    let fake = FakeCluster::new("demo");
    let mut d = yaml_file("deploy.input.yaml");
    d["spec"].as_object_mut().unwrap().remove("strategy");
    let created = fake.apply(&d, APPLY).await.unwrap();
    assert_eq!(
        created["spec"]["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    d["spec"]["strategy"] = json!({"type": "Recreate"});
    let err = fake.apply(&d, DRY_RUN).await.unwrap_err();
    assert!(
        err.to_string().contains(
            "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"
        ),
        "{err}"
    );
}

// ---- create, replace, delete ----

#[tokio::test]
async fn create_and_replace_keep_their_preconditions() {
    let fake = FakeCluster::new("demo");
    let lease = yaml_file("lease.input.yaml");
    let created = fake.create(&lease).await.unwrap();
    assert_eq!(created["metadata"]["managedFields"][0]["operation"], "Update");
    let err = fake.create(&lease).await.unwrap_err();
    assert_eq!(
        err,
        ClusterError::Conflict {
            message: "leases.coordination.k8s.io \"msws-opt-125m\" already exists".into(),
            causes: vec![]
        }
    );
    let mut renewed = created.clone();
    renewed["spec"]["renewTime"] = json!("2026-11-26T18:01:00.000000Z");
    let replaced = fake.replace(&renewed).await.unwrap();
    assert_ne!(rv(&replaced), rv(&created));
    assert_eq!(replaced["spec"]["renewTime"], "2026-11-26T18:01:00.000000Z");
    let err = fake.replace(&renewed).await.unwrap_err();
    assert_eq!(err.code(), Some(409), "the resourceVersion moved: {err}");
    assert!(err.to_string().contains("the object has been modified"));
    let mut no_rv = renewed.clone();
    no_rv["metadata"].as_object_mut().unwrap().remove("resourceVersion");
    assert_eq!(fake.replace(&no_rv).await.unwrap_err().code(), Some(422));
    let same = fake.replace(&replaced).await.unwrap();
    assert_eq!(rv(&same), rv(&replaced), "an update that changes nothing keeps the resourceVersion");
    let mut nope = yaml_file("pvc.input.yaml");
    nope["metadata"]["name"] = json!("nope");
    nope["metadata"]["resourceVersion"] = json!("1");
    let err = fake.replace(&nope).await.unwrap_err();
    assert_eq!(err, ClusterError::from_status(404, &json_file("notfound.status.json")));
    assert_eq!(fake.get(&pvc("nope")).await.unwrap(), None);
    // generateName.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "inspect-", "namespace": "demo"},
                     "spec": {"restartPolicy": "Never", "containers": [{"name": "ls", "image": "busybox:1"}]}});
    let made = fake.create(&pod).await.unwrap();
    let name = made["metadata"]["name"].as_str().unwrap();
    assert!(name.starts_with("inspect-") && name.len() == "inspect-".len() + 5, "{name}");
}

#[tokio::test]
async fn a_foreground_delete_answers_like_the_reference_and_finishes_at_the_next_run() {
    let fake = reference_cluster();
    fake.script_job("opt-125m-download", JobScript { duration: secs(4), ..JobScript::default() });
    fake.apply(&yaml_file("pvc.input.yaml"), APPLY).await.unwrap();
    fake.apply(&yaml_file("job.input.yaml"), APPLY).await.unwrap();
    fake.advance(secs(8));
    assert_eq!(pods_of(&fake, "job-name=opt-125m-download").len(), 1);
    let dry = fake.delete(&job("opt-125m-download"), Propagation::Foreground, true).await.unwrap().unwrap();
    assert!(dry["metadata"]["deletionTimestamp"].is_string());
    assert!(get(&fake, &job("opt-125m-download")).await["metadata"].get("deletionTimestamp").is_none());
    let answer = fake.delete(&job("opt-125m-download"), Propagation::Foreground, false).await.unwrap().unwrap();
    assert_eq!(stable(&answer), stable(&json_file("job.delete-foreground.json")));
    assert_eq!(answer["metadata"]["deletionTimestamp"], "2026-11-26T18:00:08Z");
    assert!(fake.get(&job("opt-125m-download")).await.unwrap().is_some(), "it waits for its pods");
    fake.advance(Duration::ZERO);
    assert_eq!(fake.get(&job("opt-125m-download")).await.unwrap(), None);
    assert!(pods_of(&fake, "job-name=opt-125m-download").is_empty());
    assert_eq!(fake.delete(&job("opt-125m-download"), Propagation::Foreground, false).await.unwrap(), None);
}

#[tokio::test]
async fn background_and_orphan_deletes_leave_the_pods_for_the_collector_or_for_good() {
    let fake = reference_cluster();
    fake.apply(&yaml_file("pvc.input.yaml"), APPLY).await.unwrap();
    for name in ["a", "b"] {
        fake.apply(&job_on(name, "model-pvc"), APPLY).await.unwrap();
    }
    fake.advance(secs(10));
    assert_eq!(fake.delete(&job("a"), Propagation::Background, true).await.unwrap(), None);
    assert!(fake.get(&job("a")).await.unwrap().is_some(), "a dry run deletes nothing");
    assert_eq!(fake.delete(&job("a"), Propagation::Background, false).await.unwrap(), None);
    assert_eq!(fake.get(&job("a")).await.unwrap(), None);
    assert_eq!(pods_of(&fake, "job-name=a").len(), 1, "the pod goes at the collector's next run");
    assert_eq!(fake.delete(&job("b"), Propagation::Orphan, false).await.unwrap(), None);
    fake.advance(Duration::ZERO);
    assert!(pods_of(&fake, "job-name=a").is_empty());
    let orphans = pods_of(&fake, "job-name=b");
    assert_eq!(orphans.len(), 1);
    assert!(orphans[0]["metadata"].get("ownerReferences").is_none());
}

#[tokio::test]
async fn a_claim_in_use_is_deleted_once_unused_and_a_retained_volume_is_released() {
    let fake = FakeCluster::new("demo");
    fake.insert(&storage_class("keep", "Immediate", false, "Retain")).unwrap();
    fake.insert(&storage_class("drop", "Immediate", false, "Delete")).unwrap();
    fake.apply(&claim("kept", "keep", "ReadWriteOnce", "1Gi"), APPLY).await.unwrap();
    fake.apply(&claim("dropped", "drop", "ReadWriteOnce", "1Gi"), APPLY).await.unwrap();
    fake.apply(&server_on("s", "kept"), APPLY).await.unwrap();
    fake.advance(secs(5));
    let kept_pv = get(&fake, &pvc("kept")).await["spec"]["volumeName"].as_str().unwrap().to_string();
    let dropped_pv = get(&fake, &pvc("dropped")).await["spec"]["volumeName"].as_str().unwrap().to_string();
    let answer = fake.delete(&pvc("kept"), Propagation::Background, false).await.unwrap().unwrap();
    assert_eq!(answer["metadata"]["finalizers"], json!(["kubernetes.io/pvc-protection"]));
    fake.advance(secs(5));
    assert!(fake.get(&pvc("kept")).await.unwrap().is_some(), "a pod still uses it");
    fake.delete(&deploy("s"), Propagation::Foreground, false).await.unwrap();
    fake.advance(Duration::ZERO);
    assert_eq!(fake.get(&pvc("kept")).await.unwrap(), None);
    let released = get(&fake, &pv(&kept_pv)).await;
    assert_eq!(released["status"]["phase"], "Released");
    assert_eq!(released["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    fake.delete(&pvc("dropped"), Propagation::Background, false).await.unwrap();
    fake.advance(Duration::ZERO);
    assert_eq!(fake.get(&pv(&dropped_pv)).await.unwrap(), None, "reclaim policy Delete");
}

// ---- controllers ----

#[tokio::test]
async fn claims_bind_after_the_delay_or_on_first_consumer() {
    let fake = FakeCluster::new("demo");
    fake.set_bind_delay(secs(3));
    fake.insert(&storage_class("now", "Immediate", false, "Retain")).unwrap();
    fake.insert(&storage_class("later", "WaitForFirstConsumer", false, "Delete")).unwrap();
    fake.apply(&claim("a", "now", "ReadWriteMany", "2Gi"), APPLY).await.unwrap();
    fake.apply(&claim("b", "later", "ReadWriteOnce", "2Gi"), APPLY).await.unwrap();
    fake.apply(&claim("c", "missing", "ReadWriteOnce", "2Gi"), APPLY).await.unwrap();
    fake.advance(secs(2));
    assert_eq!(get(&fake, &pvc("a")).await["status"]["phase"], "Pending");
    fake.advance(secs(1));
    let a = get(&fake, &pvc("a")).await;
    assert_eq!(
        a["status"],
        json!({"phase": "Bound", "accessModes": ["ReadWriteMany"], "capacity": {"storage": "2Gi"}})
    );
    let volume = get(&fake, &pv(a["spec"]["volumeName"].as_str().unwrap())).await;
    assert_eq!(volume["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(volume["spec"]["claimRef"]["name"], "a");
    assert_eq!(volume["status"]["phase"], "Bound");
    fake.advance(secs(60));
    assert_eq!(get(&fake, &pvc("b")).await["status"]["phase"], "Pending", "no consumer yet");
    assert_eq!(get(&fake, &pvc("c")).await["status"]["phase"], "Pending", "no such class");
    fake.script_job("dl", JobScript { duration: secs(5), ..JobScript::default() });
    fake.apply(&job_on("dl", "b"), APPLY).await.unwrap();
    fake.advance(secs(2));
    assert_eq!(get(&fake, &pvc("b")).await["status"]["phase"], "Pending");
    assert_eq!(pods_of(&fake, "job-name=dl")[0]["status"]["phase"], "Pending");
    fake.advance(secs(1));
    assert_eq!(get(&fake, &pvc("b")).await["status"]["phase"], "Bound");
    fake.advance(secs(5));
    assert!(get(&fake, &job("dl")).await["status"]["conditions"].to_string().contains("Complete"));
    // A pod on a claim that does not exist, or is not bound, cannot be scheduled.
    fake.apply(&server_on("ghost", "nope"), APPLY).await.unwrap();
    fake.apply(&server_on("early", "c"), APPLY).await.unwrap();
    fake.advance(secs(1));
    let ghost = &pods_of(&fake, "app=ghost")[0];
    assert_eq!(condition(ghost, "PodScheduled")["message"], "persistentvolumeclaim \"nope\" not found");
    let early = &pods_of(&fake, "app=early")[0];
    assert_eq!(condition(early, "PodScheduled")["reason"], "Unschedulable");
}

#[tokio::test]
async fn a_job_succeeds_with_its_scripted_log() {
    let fake = reference_cluster();
    fake.apply(&yaml_file("pvc.input.yaml"), APPLY).await.unwrap();
    fake.script_job(
        "opt-125m-download",
        JobScript { log: "one\ntwo\nMSWS-DOWNLOAD-COMPLETE {}\n".into(), ..JobScript::default() },
    );
    let j = fake.apply(&yaml_file("job.input.yaml"), APPLY).await.unwrap();
    let uid = j["metadata"]["uid"].as_str().unwrap();
    fake.advance(secs(1));
    let pod = &pods_of(&fake, "job-name=opt-125m-download")[0];
    let labels = &pod["metadata"]["labels"];
    assert_eq!(labels["batch.kubernetes.io/job-name"], "opt-125m-download");
    assert_eq!(labels["batch.kubernetes.io/controller-uid"], uid);
    assert_eq!(labels["app.kubernetes.io/managed-by"], "msws");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], uid);
    assert_eq!(pod["status"]["phase"], "Running");
    let running = get(&fake, &job("opt-125m-download")).await;
    assert_eq!((&running["status"]["active"], &running["status"]["ready"]), (&json!(1), &json!(1)));
    fake.advance(secs(4));
    let done = get(&fake, &job("opt-125m-download")).await;
    assert_eq!(done["status"]["succeeded"], 1);
    assert_eq!(condition(&done, "Complete")["status"], "True");
    let name = pod["metadata"]["name"].as_str().unwrap();
    assert_eq!(fake.logs("demo", name, None, None).await.unwrap(), "one\ntwo\nMSWS-DOWNLOAD-COMPLETE {}\n");
    assert_eq!(fake.logs("demo", name, Some("download"), Some(1)).await.unwrap(), "MSWS-DOWNLOAD-COMPLETE {}\n");
    let err = fake.logs("demo", name, Some("nope"), None).await.unwrap_err();
    assert_eq!(err.code(), Some(400));
    assert_eq!(
        fake.logs("demo", "gone", None, None).await.unwrap_err(),
        ClusterError::NotFound("pods \"gone\" not found".into())
    );
}

#[tokio::test]
async fn a_job_past_its_backoff_limit_fails_like_the_reference() {
    let fake = reference_cluster();
    fake.apply(&yaml_file("pvc.input.yaml"), APPLY).await.unwrap();
    fake.script_job(
        "fail-download",
        JobScript { duration: secs(3), outcome: Outcome::Fail { exit_code: 1 }, ..JobScript::default() },
    );
    let mut failing = yaml_file("job.input.yaml");
    failing["metadata"]["name"] = json!("fail-download");
    failing["spec"]["backoffLimit"] = json!(0);
    fake.apply(&failing, APPLY).await.unwrap();
    fake.advance(secs(8));
    let live = get(&fake, &job("fail-download")).await;
    assert_eq!(stable(&live), stable(&json_file("job.failed.json")));
    let recorded = json_file("job.failed.pods.json");
    let pods = pods_of(&fake, "job-name=fail-download");
    assert_eq!(pods.len(), 1);
    let (ours, theirs) = (stable(&pods[0]), stable(&recorded["items"][0]));
    assert_eq!(ours["status"]["phase"], theirs["status"]["phase"]);
    assert_eq!(ours["status"]["containerStatuses"][0]["state"], theirs["status"]["containerStatuses"][0]["state"]);
    assert_eq!(ours["status"]["conditions"], theirs["status"]["conditions"]);
    assert_eq!(ours["metadata"]["ownerReferences"], theirs["metadata"]["ownerReferences"]);
    assert_eq!(ours["spec"]["nodeName"], "fake-node-1");
    let mut labels = theirs["metadata"]["labels"].clone();
    labels.as_object_mut().unwrap().retain(|k, _| !k.starts_with("topology.kubernetes.io/"));
    assert_eq!(ours["metadata"]["labels"], labels);
}

#[tokio::test]
async fn a_job_retries_with_backoff_and_succeeds_within_its_limit() {
    let fake = reference_cluster();
    fake.apply(&yaml_file("pvc.input.yaml"), APPLY).await.unwrap();
    fake.script_job("flaky", JobScript { duration: secs(2), failures_before_success: 2, ..JobScript::default() });
    fake.script_job("flakier", JobScript { duration: secs(2), failures_before_success: 3, ..JobScript::default() });
    for name in ["flaky", "flakier"] {
        fake.apply(&job_on(name, "model-pvc"), APPLY).await.unwrap(); // backoffLimit 2
    }
    // Attempts: 0–2 s fails, retry at 12 s (10 s backoff), fails at 14 s, retry at 34 s (20 s), ends at 36 s.
    fake.advance(secs(35));
    let flaky = get(&fake, &job("flaky")).await;
    assert_eq!((&flaky["status"]["failed"], &flaky["status"]["active"]), (&json!(2), &json!(1)));
    fake.advance(secs(1));
    let flaky = get(&fake, &job("flaky")).await;
    assert_eq!((&flaky["status"]["failed"], &flaky["status"]["succeeded"]), (&json!(2), &json!(1)));
    assert_eq!(flaky["status"]["completionTime"], "2026-11-26T18:00:36Z");
    assert_eq!(pods_of(&fake, "job-name=flaky").len(), 3);
    fake.advance(secs(60));
    let flakier = get(&fake, &job("flakier")).await;
    assert_eq!(flakier["status"]["failed"], 3);
    assert_eq!(condition(&flakier, "Failed")["reason"], "BackoffLimitExceeded");
}

#[tokio::test]
async fn a_job_past_its_deadline_fails_with_deadline_exceeded() {
    let fake = reference_cluster();
    fake.apply(&yaml_file("pvc.input.yaml"), APPLY).await.unwrap();
    fake.script_job("slow", JobScript { duration: secs(3600), ..JobScript::default() });
    let mut slow = job_on("slow", "model-pvc");
    slow["spec"]["activeDeadlineSeconds"] = json!(30);
    fake.apply(&slow, APPLY).await.unwrap();
    fake.advance(secs(29));
    assert_eq!(get(&fake, &job("slow")).await["status"]["active"], 1);
    fake.advance(secs(1));
    let failed = get(&fake, &job("slow")).await;
    assert_eq!(condition(&failed, "Failed")["reason"], "DeadlineExceeded");
    assert_eq!(condition(&failed, "Failed")["message"], "Job was active longer than specified deadline");
    assert!(pods_of(&fake, "job-name=slow").is_empty(), "its running pod is stopped");
}

#[tokio::test]
async fn a_deployment_rolls_out_through_a_replica_set() {
    let fake = reference_cluster();
    fake.set_ready_delay(secs(4));
    fake.apply(&yaml_file("pvc.input.yaml"), APPLY).await.unwrap();
    let d = fake.apply(&yaml_file("deploy.input.yaml"), APPLY).await.unwrap();
    fake.advance(secs(3));
    let rolling = get(&fake, &deploy("opt-decode")).await;
    assert_eq!(rolling["status"]["observedGeneration"], 1);
    assert_eq!(rolling["status"]["updatedReplicas"], 1);
    assert!(rolling["status"].get("availableReplicas").is_none());
    assert_eq!(condition(&rolling, "Progressing")["reason"], "ReplicaSetUpdated");
    fake.advance(secs(1));
    let done = get(&fake, &deploy("opt-decode")).await;
    assert_eq!(done["status"]["availableReplicas"], 1);
    assert_eq!(condition(&done, "Progressing")["reason"], "NewReplicaSetAvailable");
    let sets = fake.list("apps/v1", "ReplicaSet", Some("demo"), "llm-d.ai/model=opt").await.unwrap();
    assert_eq!(sets.len(), 1);
    let rs = &sets[0];
    assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], d["metadata"]["uid"]);
    let hash = rs["metadata"]["labels"]["pod-template-hash"].as_str().unwrap();
    assert_eq!(rs["metadata"]["name"], format!("opt-decode-{hash}"));
    let pods = pods_of(&fake, "llm-d.ai/role=decode");
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["metadata"]["labels"]["pod-template-hash"], hash);
    assert_eq!(condition(&pods[0], "Ready")["status"], "True");
    assert_eq!(pods[0]["status"]["initContainerStatuses"][0]["state"]["running"]["startedAt"], "2026-11-26T18:00:00Z");
    // Scaling through the apply adds pods to the same set.
    let mut three = yaml_file("deploy.input.yaml");
    three["spec"]["replicas"] = json!(3);
    fake.apply(&three, APPLY).await.unwrap();
    fake.advance(secs(4));
    let scaled = get(&fake, &deploy("opt-decode")).await;
    assert_eq!((&scaled["status"]["readyReplicas"], &scaled["status"]["observedGeneration"]), (&json!(3), &json!(2)));
    assert_eq!(fake.list("apps/v1", "ReplicaSet", Some("demo"), "").await.unwrap().len(), 1);
}

/// The pods of a Deployment, by the image of their first container.
fn images(fake: &FakeCluster, selector: &str) -> Vec<String> {
    let mut v: Vec<String> = pods_of(fake, selector)
        .iter()
        .map(|p| {
            let ready = condition(p, "Ready")["status"] == "True";
            format!("{}{}", p["spec"]["containers"][0]["image"].as_str().unwrap(), if ready { " ready" } else { "" })
        })
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn recreate_removes_old_pods_first_and_rolling_update_keeps_them_until_new_ones_are_ready() {
    let fake = reference_cluster();
    fake.set_ready_delay(secs(2));
    let mut recreate = server_on("r", "model-pvc");
    recreate["spec"]["strategy"] = json!({"type": "Recreate"});
    let rolling = server_on("u", "model-pvc");
    fake.apply(&yaml_file("pvc.input.yaml"), APPLY).await.unwrap();
    fake.apply(&recreate, APPLY).await.unwrap();
    fake.apply(&rolling, APPLY).await.unwrap();
    fake.advance(secs(5));
    for d in [&mut recreate, &mut server_on("u", "model-pvc")] {
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("img:2");
        fake.apply(d, APPLY).await.unwrap();
    }
    fake.advance(Duration::ZERO);
    assert_eq!(images(&fake, "app=r"), vec!["img:2"]);
    assert_eq!(images(&fake, "app=u"), vec!["img:1 ready", "img:2"]);
    fake.advance(secs(2));
    assert_eq!(images(&fake, "app=r"), vec!["img:2 ready"]);
    assert_eq!(images(&fake, "app=u"), vec!["img:2 ready"]);
    let r = get(&fake, &deploy("r")).await;
    assert_eq!(r["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
}

#[tokio::test]
async fn a_crash_loop_looks_like_the_reference_and_a_rollback_heals_it() {
    let fake = reference_cluster();
    fake.apply(&yaml_file("pvc.input.yaml"), APPLY).await.unwrap();
    let good = yaml_file("deploy.input.yaml");
    fake.apply(&good, APPLY).await.unwrap();
    fake.advance(secs(5));
    fake.script_image("example.invalid/crashloop:1", PodFate::CrashLoop { exit_code: 1, log: "boom\n".into() });
    let mut bad = good.clone();
    bad["spec"]["template"]["spec"]["containers"][0]["image"] = json!("example.invalid/crashloop:1");
    fake.apply(&bad, APPLY).await.unwrap();
    fake.advance(secs(20));
    let live = get(&fake, &deploy("opt-decode")).await;
    let recorded = json_file("deploy.crashloop.json");
    assert_eq!(stable(&live)["status"], stable(&recorded)["status"]);
    assert_eq!(stable(&live)["spec"], stable(&recorded)["spec"]);
    let pods = pods_of(&fake, "llm-d.ai/role=decode");
    assert_eq!(pods.len(), 1);
    let theirs = &json_file("deploy.crashloop.pods.json")["items"][0];
    let (ours, theirs) = (stable(&pods[0]), stable(theirs));
    assert_eq!(ours["status"]["phase"], theirs["status"]["phase"]);
    assert_eq!(ours["status"]["conditions"], theirs["status"]["conditions"]);
    let waiting = &ours["status"]["containerStatuses"][0]["state"]["waiting"];
    assert_eq!(waiting["reason"], "CrashLoopBackOff");
    assert_eq!(
        ours["status"]["containerStatuses"][0]["lastState"],
        theirs["status"]["containerStatuses"][0]["lastState"]
    );
    assert_eq!(
        ours["status"]["initContainerStatuses"][0]["state"],
        theirs["status"]["initContainerStatuses"][0]["state"]
    );
    assert_eq!(ours["status"]["qosClass"], theirs["status"]["qosClass"]);
    let name = pods[0]["metadata"]["name"].as_str().unwrap();
    assert_eq!(fake.logs("demo", name, None, None).await.unwrap(), "boom\n");
    // Back to the previous template: the old ReplicaSet comes back as revision 3.
    fake.apply(&good, APPLY).await.unwrap();
    fake.advance(secs(5));
    let healed = get(&fake, &deploy("opt-decode")).await;
    assert_eq!(condition(&healed, "Available")["status"], "True");
    assert_eq!(healed["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
    assert_eq!(fake.list("apps/v1", "ReplicaSet", Some("demo"), "").await.unwrap().len(), 2);
}

#[tokio::test]
async fn unschedulable_and_image_pull_failures_and_the_progress_deadline() {
    let fake = FakeCluster::new("demo");
    let gpu = "0/1 nodes are available: 1 Insufficient nvidia.com/gpu.";
    fake.script_deployment("big", PodFate::Unschedulable { message: gpu.into() });
    fake.script_image("nowhere.invalid/x:1", PodFate::ImagePullBackOff);
    let mut big = server_on("big", "unused");
    big["spec"]["template"]["spec"].as_object_mut().unwrap().remove("volumes");
    big["spec"]["progressDeadlineSeconds"] = json!(60);
    let mut pull = big.clone();
    pull["metadata"]["name"] = json!("pull");
    pull["spec"]["selector"]["matchLabels"]["app"] = json!("pull");
    pull["spec"]["template"]["metadata"]["labels"]["app"] = json!("pull");
    pull["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nowhere.invalid/x:1");
    fake.apply(&big, APPLY).await.unwrap();
    fake.apply(&pull, APPLY).await.unwrap();
    fake.advance(secs(30));
    let pending = &pods_of(&fake, "app=big")[0];
    assert_eq!(pending["status"]["phase"], "Pending");
    let scheduled = condition(pending, "PodScheduled");
    assert_eq!(
        (&scheduled["status"], &scheduled["reason"], &scheduled["message"]),
        (&json!("False"), &json!("Unschedulable"), &json!(gpu))
    );
    let pulling = &pods_of(&fake, "app=pull")[0];
    assert_eq!(pulling["status"]["phase"], "Pending");
    assert_eq!(pulling["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "ImagePullBackOff");
    let name = pulling["metadata"]["name"].as_str().unwrap();
    assert_eq!(fake.logs("demo", name, None, None).await.unwrap_err().code(), Some(400));
    let d = get(&fake, &deploy("big")).await;
    assert_eq!(condition(&d, "Available")["status"], "False");
    assert_eq!(condition(&d, "Progressing")["reason"], "ReplicaSetUpdated");
    fake.advance(secs(30));
    for name in ["big", "pull"] {
        let d = get(&fake, &deploy(name)).await;
        let p = condition(&d, "Progressing");
        assert_eq!((&p["status"], &p["reason"]), (&json!("False"), &json!("ProgressDeadlineExceeded")), "{name}");
        assert_eq!(p["lastTransitionTime"], "2026-11-26T18:01:00Z");
    }
}

#[tokio::test]
async fn read_write_once_pod_admits_one_pod_and_read_write_once_does_not_block() {
    let fake = FakeCluster::new("demo");
    fake.insert(&storage_class("standard", "Immediate", false, "Retain")).unwrap();
    fake.apply(&claim("once", "standard", "ReadWriteOnce", "1Gi"), APPLY).await.unwrap();
    fake.apply(&claim("only", "standard", "ReadWriteOncePod", "1Gi"), APPLY).await.unwrap();
    fake.advance(secs(2));
    for (name, claim) in [("w1", "once"), ("w2", "once"), ("p1", "only")] {
        fake.apply(&server_on(name, claim), APPLY).await.unwrap();
    }
    fake.advance(secs(5));
    fake.apply(&server_on("p2", "only"), APPLY).await.unwrap();
    fake.advance(secs(5));
    for name in ["w1", "w2", "p1"] {
        assert_eq!(pods_of(&fake, &format!("app={name}"))[0]["status"]["phase"], "Running", "{name}");
    }
    let blocked = &pods_of(&fake, "app=p2")[0];
    assert_eq!(blocked["status"]["phase"], "Pending");
    let scheduled = condition(blocked, "PodScheduled");
    assert_eq!(scheduled["reason"], "Unschedulable");
    assert!(scheduled["message"].as_str().unwrap().contains("ReadWriteOncePod"));
    // Once the first user is gone, the second is scheduled.
    fake.delete(&deploy("p1"), Propagation::Foreground, false).await.unwrap();
    fake.advance(secs(3));
    assert_eq!(pods_of(&fake, "app=p2")[0]["status"]["phase"], "Running");
}

#[tokio::test]
async fn resource_claim_templates_get_their_defaults_and_cannot_change() {
    let fake = FakeCluster::new("demo");
    let mut rct = json!({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaimTemplate",
                         "metadata": {"name": "gpus", "namespace": "demo"},
                         "spec": {"spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "gpu.nvidia.com"}}]}}}});
    let created = fake.apply(&rct, APPLY).await.unwrap();
    assert_eq!(
        created["spec"]["spec"]["devices"]["requests"][0]["exactly"],
        json!({"deviceClassName": "gpu.nvidia.com", "allocationMode": "ExactCount", "count": 1})
    );
    assert_eq!(fake.apply(&rct, APPLY).await.unwrap(), created);
    rct["spec"]["spec"]["devices"]["requests"][0]["exactly"]["count"] = json!(2);
    let err = fake.apply(&rct, DRY_RUN).await.unwrap_err();
    assert!(err.is_immutable_field(), "{err:?}");
    assert_eq!(
        err.to_string().split(": Invalid value").next().unwrap(),
        "rejected as invalid: ResourceClaimTemplate.resource.k8s.io \"gpus\" is invalid: spec"
    );
}

#[tokio::test]
async fn a_deleted_namespace_refuses_new_content_and_takes_its_content_with_it() {
    let fake = FakeCluster::new("demo");
    assert_eq!((fake.default_namespace(), fake.describe()), ("demo", "fake".to_string()));
    fake.insert(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tmp"}})).unwrap();
    let mut sa = yaml_file("sa.input.yaml");
    sa["metadata"]["namespace"] = json!("tmp");
    fake.apply(&sa, APPLY).await.unwrap();
    let ns = ObjectRef::new("v1", "Namespace", None, "tmp");
    let answer = fake.delete(&ns, Propagation::Background, false).await.unwrap().unwrap();
    assert_eq!(answer["status"]["phase"], "Terminating");
    let err = fake.create(&yaml_file("secret.input.yaml").tap_ns("tmp")).await.unwrap_err();
    assert_eq!(err.code(), Some(403), "{err}");
    assert!(err.to_string().contains("because it is being terminated"));
    fake.advance(Duration::ZERO);
    assert_eq!(fake.get(&ns).await.unwrap(), None);
    assert_eq!(fake.get(&ObjectRef::of(&sa).unwrap()).await.unwrap(), None);
    // Objects that are not objects where the API has objects are refused, not a panic.
    let err =
        fake.insert(&json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "x"}, "spec": "?"}));
    assert!(matches!(err, Err(ClusterError::Client(_))));
}

trait TapNamespace {
    fn tap_ns(self, ns: &str) -> Value;
}

impl TapNamespace for Value {
    fn tap_ns(mut self, ns: &str) -> Value {
        self["metadata"]["namespace"] = json!(ns);
        self
    }
}

#[tokio::test]
async fn a_job_pod_deleted_while_running_counts_as_a_failed_attempt() {
    let fake = reference_cluster();
    fake.apply(&yaml_file("pvc.input.yaml"), APPLY).await.unwrap();
    fake.script_job("dl", JobScript { duration: secs(30), ..JobScript::default() });
    fake.apply(&job_on("dl", "model-pvc"), APPLY).await.unwrap();
    fake.advance(secs(5));
    let first = pods_of(&fake, "job-name=dl")[0]["metadata"]["name"].as_str().unwrap().to_string();
    let r = ObjectRef::new("v1", "Pod", Some("demo"), &first);
    assert_eq!(fake.delete(&r, Propagation::Background, false).await.unwrap(), None, "pods go at once");
    fake.advance(Duration::ZERO);
    assert_eq!(get(&fake, &job("dl")).await["status"]["failed"], 1);
    assert!(pods_of(&fake, "job-name=dl").is_empty(), "the retry waits for its backoff");
    fake.advance(secs(10));
    let retry = pods_of(&fake, "job-name=dl");
    assert_eq!(retry.len(), 1);
    assert_ne!(retry[0]["metadata"]["name"], first.as_str());
    fake.advance(secs(30));
    assert_eq!(condition(&get(&fake, &job("dl")).await, "Complete")["status"], "True");
}

// ---- faults, accounting, clock ----

#[tokio::test]
async fn the_nth_matching_request_fails_and_requests_are_counted() {
    let fake = FakeCluster::new("demo");
    let sa = yaml_file("sa.input.yaml");
    let forbidden = ClusterError::from_status(403, &json_file("forbidden.status.json"));
    fake.fail_nth(Verb::Apply, "ServiceAccount", 2, forbidden.clone());
    fake.fail_nth(Verb::Get, "*", 1, ClusterError::Timeout("slow".into()));
    assert_eq!(fake.get(&pvc("x")).await.unwrap_err(), ClusterError::Timeout("slow".into()));
    assert_eq!(fake.get(&pvc("x")).await.unwrap(), None);
    fake.apply(&sa, APPLY).await.unwrap();
    fake.apply(&sa, DRY_RUN).await.unwrap();
    let err = fake.apply(&sa, APPLY).await.unwrap_err();
    assert_eq!(err, forbidden);
    let ClusterError::Forbidden { permission: Some(p), .. } = &err else { panic!("{err:?}") };
    assert_eq!(p.verb, "get");
    fake.apply(&sa, APPLY).await.unwrap();
    let counts: Vec<(String, String, usize)> =
        fake.requests().into_iter().map(|((v, k), n)| (v.to_string(), k, n)).collect();
    assert_eq!(
        counts,
        vec![
            ("get".into(), "PersistentVolumeClaim".into(), 2),
            ("apply".into(), "ServiceAccount".into(), 3),
            ("apply-dry-run".into(), "ServiceAccount".into(), 1),
        ]
    );
    assert_eq!(fake.count(Verb::Apply, "ServiceAccount"), 3);
    assert_eq!(fake.request_log().len(), 6);
    fake.reset_requests();
    assert!(fake.requests().is_empty() && fake.request_log().is_empty());
}

#[tokio::test]
async fn a_lost_connection_fails_everything_until_reconnected() {
    let fake = FakeCluster::new("demo");
    let sa = yaml_file("sa.input.yaml");
    fake.fail_all_after(2);
    fake.apply(&sa, APPLY).await.unwrap();
    fake.get(&ObjectRef::of(&sa).unwrap()).await.unwrap();
    let err = fake.apply(&sa, APPLY).await.unwrap_err();
    assert!(matches!(err, ClusterError::Connection(_)) && err.is_transient(), "{err:?}");
    assert!(fake.logs("demo", "x", None, None).await.is_err());
    fake.reconnect();
    fake.get(&ObjectRef::of(&sa).unwrap()).await.unwrap();
    fake.disconnect();
    assert!(matches!(fake.list("v1", "Pod", None, "").await, Err(ClusterError::Connection(_))));
    fake.reconnect();
    assert_eq!(fake.count(Verb::Apply, "ServiceAccount"), 2);
}

#[tokio::test]
async fn latency_moves_the_clock_and_runs_the_controllers() {
    let fake = FakeCluster::new("demo");
    let start = fake.now();
    fake.insert(&storage_class("standard", "Immediate", false, "Retain")).unwrap();
    fake.set_latency(Duration::from_millis(500));
    fake.apply(&claim("c", "standard", "ReadWriteOnce", "1Gi"), APPLY).await.unwrap();
    let mut polls = 0;
    while get(&fake, &pvc("c")).await["status"]["phase"] != "Bound" {
        polls += 1;
        assert!(polls < 10);
    }
    assert_eq!(polls, 1, "bound 1 s after its creation, at the second poll");
    assert_eq!(fake.now().duration_since(start).unwrap(), Duration::from_millis(1500));
    fake.advance(secs(60));
    assert_eq!(fake.now().duration_since(start).unwrap(), Duration::from_millis(61_500));
}

// ---- determinism and snapshots ----

async fn script(fake: &FakeCluster) {
    fake.insert(&storage_class("standard", "Immediate", false, "Retain")).unwrap();
    fake.insert(&persistent_volume("model-pv", "10Gi", &["ReadWriteMany", "ReadWriteOnce"], "standard")).unwrap();
    fake.script_job("opt-125m-download", JobScript { failures_before_success: 1, ..JobScript::default() });
    for kind in KINDS {
        fake.apply(&yaml_file(&format!("{kind}.input.yaml")), APPLY).await.unwrap();
        fake.advance(Duration::from_millis(300));
    }
    fake.advance(secs(30));
    fake.scale(&deploy("opt-decode"), 2).unwrap();
    fake.delete(&job("opt-125m-download"), Propagation::Background, false).await.unwrap();
    fake.advance(secs(10));
}

#[tokio::test]
async fn the_same_script_gives_the_same_cluster() {
    let (a, b) = (reference_cluster(), reference_cluster());
    script(&a).await;
    script(&b).await;
    assert_eq!(a.snapshot(), b.snapshot());
    assert_eq!(a.snapshot().to_string(), b.snapshot().to_string());
    // Everything, uids and resource versions included.
    for kind in ["Pod", "ReplicaSet", "Deployment", "PersistentVolumeClaim"] {
        let av = if kind == "Deployment" || kind == "ReplicaSet" { "apps/v1" } else { "v1" };
        assert_eq!(a.list(av, kind, None, "").await.unwrap(), b.list(av, kind, None, "").await.unwrap());
    }
    assert_eq!(a.now(), b.now());
}

#[tokio::test]
async fn a_snapshot_diff_names_what_changed() {
    let fake = reference_cluster();
    script(&fake).await;
    let before = fake.snapshot();
    fake.apply(&yaml_file("sa.input.yaml"), DRY_RUN).await.unwrap();
    fake.delete(&deploy("opt-decode"), Propagation::Foreground, true).await.unwrap();
    assert_eq!(fake.snapshot(), before, "dry runs change nothing");
    fake.scale(&deploy("opt-decode"), 3).unwrap();
    fake.delete(&ObjectRef::of(&yaml_file("sa.input.yaml")).unwrap(), Propagation::Background, false).await.unwrap();
    let after = fake.snapshot().without_kinds(&["Pod", "ReplicaSet"]);
    assert_eq!(
        before.without_kinds(&["Pod", "ReplicaSet"]).diff(&after),
        vec!["~ Deployment demo/opt-decode .spec.replicas".to_string(), "- ServiceAccount demo/opt".to_string()]
    );
    let j = before.get(&pvc("model-pvc")).unwrap();
    assert!(j["metadata"].get("uid").is_none() && j["metadata"].get("resourceVersion").is_none());
}

// ---- everything msws renders ----

#[tokio::test]
async fn every_rendered_example_applies_and_reapplies_as_a_no_op() {
    let examples: Vec<_> =
        workspace_files(&root().join("workspaces")).into_iter().filter(|f| is_root_file(f)).collect();
    assert!(!examples.is_empty());
    for file in examples {
        let rendered = render(&file);
        let fake = FakeCluster::new(&rendered.namespace);
        fake.install_llm_d_crds();
        let objects: Vec<Value> = rendered.unique_objects().map(|(_, o)| o.to_json()).collect();
        for o in &objects {
            if o["kind"] == "PersistentVolumeClaim"
                && let Some(class) = o["spec"]["storageClassName"].as_str()
            {
                fake.insert(&storage_class(class, "WaitForFirstConsumer", true, "Retain")).unwrap();
            }
        }
        for o in &objects {
            let dry = fake.apply(o, DRY_RUN).await.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let real = fake.apply(o, APPLY).await.unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert_eq!(stable(&dry), stable(&real), "{}: dry run and apply differ", file.display());
        }
        fake.advance(secs(60));
        let before = fake.snapshot();
        for o in &objects {
            let live = fake.get(&ObjectRef::of(o).unwrap()).await.unwrap().unwrap();
            let again = fake.apply(o, APPLY).await.unwrap();
            assert_eq!(again, live, "{}: re-applying {} changed it", file.display(), ObjectRef::of(o).unwrap());
        }
        assert_eq!(fake.snapshot(), before, "{}", file.display());
    }
}

fn render(path: &Path) -> msws::render::Rendered {
    let mut fe = load(path);
    let ws = fe.workspace.take().unwrap_or_else(|| panic!("{} does not load", path.display()));
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let namespace = ws.namespace.clone().unwrap_or_else(|| "default".into());
    msws::render::render(&ws, &graph, &msws::render::Options { namespace, ..Default::default() })
}

/// A map whose fields msws alone set goes when msws stops setting them, as on a real server: a
/// Deployment switching from an msws-written RollingUpdate to Recreate is accepted.
#[tokio::test]
async fn fields_msws_stops_applying_take_their_empty_parents_with_them() {
    use msws::cluster::{ApplyOptions, Cluster};
    let c = FakeCluster::new("ns");
    let mut d = serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "ns"},
      "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}});
    c.apply(&d, ApplyOptions::default()).await.unwrap();
    d["spec"]["strategy"] = serde_json::json!({"type": "Recreate"});
    let out = c.apply(&d, ApplyOptions::default()).await.unwrap();
    assert_eq!(out["spec"]["strategy"], serde_json::json!({"type": "Recreate"}));
    // Without msws owning them (the server filled them in), the switch is refused, as it is on a
    // real server: which is why msws writes the default strategy out.
    let c = FakeCluster::new("ns");
    let mut d2 = d.clone();
    d2["spec"].as_object_mut().unwrap().remove("strategy");
    c.apply(&d2, ApplyOptions::default()).await.unwrap();
    assert!(c.apply(&d, ApplyOptions::default()).await.unwrap_err().to_string().contains("may not be specified"));
}

// ---- the runtime clock: the simulated clock following tokio's ----

/// Whether the reference Job has completed.
async fn download_done(fake: &FakeCluster) -> bool {
    let j = get(fake, &job("opt-125m-download")).await;
    j["status"]["succeeded"] == 1 && condition(&j, "Complete")["status"] == "True"
}

/// The reference claim and Job, the Job's pod scripted to run `minutes`.
async fn start_download(fake: &FakeCluster, minutes: u64) {
    fake.apply(&yaml_file("pvc.input.yaml"), APPLY).await.unwrap();
    fake.script_job("opt-125m-download", JobScript { duration: secs(minutes * 60), ..JobScript::default() });
    fake.apply(&yaml_file("job.input.yaml"), APPLY).await.unwrap();
}

fn since(t: std::time::SystemTime, start: std::time::SystemTime) -> Duration {
    t.duration_since(start).unwrap()
}

#[tokio::test(start_paused = true)]
async fn on_the_runtime_clock_a_ten_minute_job_completes_after_ten_minutes_of_tokio_time() {
    let real = std::time::Instant::now();
    let fake = reference_cluster().with_runtime_clock();
    let start = fake.now();
    start_download(&fake, 10).await;
    tokio::time::sleep(secs(599)).await;
    assert_eq!(since(fake.now(), start), secs(599), "the simulated clock moved with tokio's");
    assert!(!download_done(&fake).await, "done before its ten minutes");
    assert_eq!(get(&fake, &job("opt-125m-download")).await["status"]["active"], 1);
    tokio::time::sleep(secs(1)).await;
    assert!(download_done(&fake).await, "not done after ten minutes");
    assert_eq!(since(Cluster::now(&fake), start), secs(600), "the trait's clock is the simulated one");
    assert!(real.elapsed() < secs(5), "ten simulated minutes took {:?}", real.elapsed());
}

#[tokio::test(start_paused = true)]
async fn tasks_polling_concurrently_see_one_clock() {
    let fake = std::sync::Arc::new(reference_cluster().with_runtime_clock());
    let (t0, s0) = (tokio::time::Instant::now(), fake.now());
    start_download(&fake, 10).await;
    // Each task polls at its own pace and notes, at every poll, tokio's and the fake's time.
    let poll = |every: u64| {
        let fake = fake.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while t0.elapsed() < secs(1200) {
                tokio::time::sleep(secs(every)).await;
                let done = download_done(&fake).await;
                seen.push((t0.elapsed(), since(fake.now(), s0)));
                if done {
                    return seen;
                }
            }
            panic!("polling every {every}s, the Job was not seen complete in 20 minutes: {seen:?}");
        })
    };
    let (a, b) = futures::join!(poll(7), poll(11));
    let (a, b) = (a.unwrap(), b.unwrap());
    for (tokio_time, fake_time) in a.iter().chain(&b) {
        assert_eq!(tokio_time, fake_time);
    }
    // Both saw the Job complete at their first poll after it did.
    let completed = get(&fake, &job("opt-125m-download")).await["status"]["completionTime"].clone();
    let completed = since(msws::apply::lock::parse_time(completed.as_str().unwrap()).unwrap(), s0);
    assert_eq!(completed, secs(600));
    for (seen, every) in [(&a, 7), (&b, 11)] {
        let first_done = seen.last().unwrap().0;
        assert!(first_done >= completed && first_done < completed + secs(every), "{first_done:?} every {every}s");
    }
}

#[tokio::test(start_paused = true)]
async fn on_the_runtime_clock_concurrent_requests_wait_out_their_latency_together() {
    let fake = reference_cluster().with_runtime_clock();
    fake.set_latency(secs(2));
    let model_pv = pv("model-pv");
    let (t0, s0) = (tokio::time::Instant::now(), fake.now());
    let answers = futures::future::join_all((0..5).map(|_| fake.get(&model_pv))).await;
    assert!(answers.iter().all(|a| matches!(a, Ok(Some(_)))));
    assert_eq!((t0.elapsed(), since(fake.now(), s0)), (secs(2), secs(2)), "five requests side by side");
    for _ in 0..5 {
        fake.get(&model_pv).await.unwrap().unwrap();
    }
    assert_eq!((t0.elapsed(), since(fake.now(), s0)), (secs(12), secs(12)), "then five one after another");
    // Without the runtime clock, latency is simulated time as before: each request moves the
    // fake's clock, tokio's not at all.
    let plain = reference_cluster();
    plain.set_latency(secs(2));
    let (t0, s0) = (tokio::time::Instant::now(), plain.now());
    futures::future::join_all((0..5).map(|_| plain.get(&model_pv))).await;
    assert_eq!((t0.elapsed(), since(plain.now(), s0)), (Duration::ZERO, secs(10)));
}

#[tokio::test(start_paused = true)]
async fn advancing_by_hand_adds_to_the_runtime_clock() {
    let fake = reference_cluster().with_runtime_clock();
    let (t0, s0) = (tokio::time::Instant::now(), fake.now());
    start_download(&fake, 10).await;
    fake.advance(secs(540));
    assert_eq!(since(fake.now(), s0), secs(540));
    assert!(!download_done(&fake).await);
    tokio::time::sleep(secs(59)).await;
    assert_eq!(since(fake.now(), s0), secs(599), "the jump is kept, tokio's time adds to it");
    assert!(!download_done(&fake).await);
    tokio::time::sleep(secs(1)).await;
    assert!(download_done(&fake).await);
    assert_eq!(t0.elapsed(), secs(60));
}

#[tokio::test]
async fn a_delete_with_preconditions_refuses_another_object_or_a_changed_one() {
    let fake = FakeCluster::new("demo");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "demo"}, "data": {"a": "1"}});
    let live = fake.apply(&cm, ApplyOptions::default()).await.unwrap();
    let r = ObjectRef::of(&live).unwrap();
    let uid = live["metadata"]["uid"].as_str().unwrap().to_string();
    let rv = live["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    // Someone writes it in between: the old resourceVersion no longer holds.
    let mut changed = cm.clone();
    changed["data"]["a"] = json!("2");
    fake.apply(&changed, ApplyOptions::default()).await.unwrap();
    let e = fake.delete_exact(&r, &uid, &rv, Propagation::Background).await.unwrap_err();
    assert!(
        matches!(&e, ClusterError::Conflict { message, .. } if message.contains("ResourceVersion in precondition")),
        "{e}"
    );
    let e = fake.delete_exact(&r, "another-uid", &rv, Propagation::Background).await.unwrap_err();
    assert!(matches!(&e, ClusterError::Conflict { message, .. } if message.contains("UID in precondition")), "{e}");
    assert!(fake.peek(&r).is_some());
    let now = fake.peek(&r).unwrap();
    let rv = now["metadata"]["resourceVersion"].as_str().unwrap();
    assert_eq!(fake.delete_exact(&r, &uid, rv, Propagation::Background).await, Ok(None));
    assert!(fake.peek(&r).is_none());
    // Already gone: nothing to do.
    assert_eq!(fake.delete_exact(&r, &uid, rv, Propagation::Background).await, Ok(None));
}

/// The persistent volume controller's events about a claim, as `(type, reason, message)`.
async fn claim_events(fake: &FakeCluster, name: &str) -> Vec<(String, String, String)> {
    let c = get(fake, &pvc(name)).await;
    let uid = c["metadata"]["uid"].as_str().map(str::to_string);
    fake.events(&pvc(name), uid.as_deref())
        .await
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (s("type"), s("reason"), s("message"))
        })
        .collect()
}

#[tokio::test]
async fn claims_that_cannot_bind_say_why_in_events_as_the_real_controller_does() {
    let fake = FakeCluster::new("demo");
    fake.set_bind_delay(secs(1));
    fake.insert(&storage_class("standard", "Immediate", false, "Retain")).unwrap();
    fake.insert(&storage_class("later", "WaitForFirstConsumer", false, "Retain")).unwrap();
    let mut local = storage_class("local", "Immediate", false, "Retain");
    local["provisioner"] = json!("kubernetes.io/no-provisioner");
    fake.insert(&local).unwrap();
    fake.insert(&persistent_volume("small", "1Gi", &["ReadWriteOnce"], "standard")).unwrap();
    fake.insert(&persistent_volume("rox", "10Gi", &["ReadOnlyMany"], "standard")).unwrap();
    fake.insert(&persistent_volume("fast-pv", "10Gi", &["ReadWriteOnce"], "premium")).unwrap();
    let mut taken = persistent_volume("taken", "10Gi", &["ReadWriteOnce"], "standard");
    taken["spec"]["claimRef"] = json!({"name": "someone", "namespace": "other"});
    fake.insert(&taken).unwrap();
    let named = |name: &str, volume: &str| {
        let mut c = claim(name, "standard", "ReadWriteOnce", "5Gi");
        c["spec"]["volumeName"] = json!(volume);
        c
    };
    for c in [
        named("missing-volume", "no-such-pv"),
        named("too-small", "small"),
        named("wrong-mode", "rox"),
        named("wrong-class", "fast-pv"),
        named("other-claims", "taken"),
        claim("missing-class", "fast", "ReadWriteOnce", "5Gi"),
        claim("first-consumer", "later", "ReadWriteOnce", "5Gi"),
        claim("local", "local", "ReadWriteOnce", "5Gi"),
    ] {
        fake.apply(&c, APPLY).await.unwrap();
    }
    let mut no_class = claim("no-class", "", "ReadWriteOnce", "5Gi");
    no_class["spec"].as_object_mut().unwrap().remove("storageClassName");
    fake.apply(&no_class, APPLY).await.unwrap();
    fake.advance(secs(5));

    let one = |t: &str, r: &str, m: &str| vec![(t.to_string(), r.to_string(), m.to_string())];
    // A named volume that does not exist: Pending, and (as on a real cluster) no event at all.
    assert_eq!(claim_events(&fake, "missing-volume").await, vec![]);
    assert_eq!(
        claim_events(&fake, "too-small").await,
        one("Warning", "VolumeMismatch", "Cannot bind to requested volume \"small\": requested PV is too small")
    );
    assert_eq!(
        claim_events(&fake, "wrong-mode").await,
        one("Warning", "VolumeMismatch", "Cannot bind to requested volume \"rox\": incompatible accessMode")
    );
    assert_eq!(
        claim_events(&fake, "wrong-class").await,
        one(
            "Warning",
            "VolumeMismatch",
            "Cannot bind to requested volume \"fast-pv\": storageClassName does not match"
        )
    );
    assert_eq!(
        claim_events(&fake, "other-claims").await,
        one("Warning", "FailedBinding", "volume \"taken\" already bound to a different claim.")
    );
    assert_eq!(
        claim_events(&fake, "missing-class").await,
        one("Warning", "ProvisioningFailed", "storageclass.storage.k8s.io \"fast\" not found")
    );
    assert_eq!(
        claim_events(&fake, "first-consumer").await,
        one("Normal", "WaitForFirstConsumer", "waiting for first consumer to be created before binding")
    );
    let local = claim_events(&fake, "local").await;
    assert_eq!((local[0].1.as_str(), local.len()), ("ExternalProvisioning", 1), "{local:?}");
    assert!(local[0].2.contains("'kubernetes.io/no-provisioner'"), "{local:?}");
    assert_eq!(
        claim_events(&fake, "no-class").await,
        one("Warning", "FailedBinding", "no persistent volumes available for this claim and no storage class is set")
    );
    for name in ["missing-volume", "too-small", "missing-class", "no-class"] {
        assert_eq!(get(&fake, &pvc(name)).await["status"]["phase"], "Pending", "{name}");
    }
    // Recorded once, however often the controller looks again.
    fake.advance(secs(60));
    assert_eq!(claim_events(&fake, "too-small").await.len(), 1);
    // Events are about one claim: a claim of the same name made again starts without them.
    fake.delete(&pvc("too-small"), Propagation::Background, false).await.unwrap();
    fake.advance(secs(1));
    fake.apply(&named("too-small", "no-such-pv"), APPLY).await.unwrap();
    assert_eq!(claim_events(&fake, "too-small").await, vec![]);
    // … and a snapshot of the cluster leaves events out.
    assert!(fake.snapshot().objects.keys().all(|r| r.kind != "Event"));
}
