//! The kube adapter against a mocked HTTP layer: for each operation, the exact request it sends
//! (method, path, query, content type, body) and how the API server's recorded answers
//! (`tests/data/apiserver/`, copied from `../shared/reference/apiserver/`) map to results and
//! typed errors; transport failures and timeouts; and `connect` with kubeconfig files, which must
//! not touch the network.

use std::collections::BTreeMap;
use std::pin::pin;
use std::time::Duration;

use ::kube::client::Body;
use http::{Request, Response};
use msws::cluster::kube::KubeCluster;
use msws::cluster::{ApplyOptions, Cluster, ClusterError, ObjectRef, Propagation};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tower_test::mock;

macro_rules! recorded {
    ($file:literal) => {
        include_str!(concat!("../data/apiserver/", $file))
    };
}

/// A request as the mocked API server received it.
#[derive(Debug)]
struct Seen {
    method: String,
    path: String,
    /// The query string as sent (percent-encoded).
    raw_query: String,
    /// The query, decoded.
    query: BTreeMap<String, String>,
    content_type: Option<String>,
    body: Option<Value>,
}

/// A cluster whose API server answers one request with `code` and `body`; the task returns what
/// it received.
fn answering(code: u16, body: impl Into<String>) -> (KubeCluster, JoinHandle<Seen>) {
    let body: String = body.into();
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut handle = pin!(handle);
        let (request, send) = handle.next_request().await.expect("no request was sent");
        let seen = seen(request).await;
        let response = Response::builder()
            .status(code)
            .header("content-type", if body.starts_with('{') { "application/json" } else { "text/plain" })
            .body(Body::from(body.into_bytes()))
            .unwrap();
        send.send_response(response);
        seen
    });
    (cluster(service), server)
}

fn cluster(service: mock::Mock<Request<Body>, Response<Body>>) -> KubeCluster {
    KubeCluster::from_client(::kube::Client::new(service, "demo"), "demo", "mock API server")
}

async fn seen(request: Request<Body>) -> Seen {
    let (parts, body) = request.into_parts();
    let bytes = body.collect_bytes().await.unwrap();
    let raw_query = parts.uri.query().unwrap_or("").to_string();
    Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: decode_query(&raw_query),
        raw_query,
        content_type: parts.headers.get("content-type").map(|v| v.to_str().unwrap().to_string()),
        body: (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).expect("the body is JSON")),
    }
}

fn decode_query(q: &str) -> BTreeMap<String, String> {
    fn decode(s: &str) -> String {
        let s = s.replace('+', " ");
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn query(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn deploy_ref() -> ObjectRef {
    ObjectRef::new("apps/v1", "Deployment", Some("demo"), "opt-decode")
}

fn job_ref() -> ObjectRef {
    ObjectRef::new("batch/v1", "Job", Some("demo"), "opt-125m-download")
}

const APPLY: &str = "application/apply-patch+yaml";

// --- get and list ---

#[tokio::test]
async fn get_finds_an_object_and_returns_it_as_sent() {
    let (c, server) = answering(200, recorded!("deploy.live-after-controllers.json"));
    let got = c.get(&deploy_ref()).await.unwrap().unwrap();
    let seen = server.await.unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/apis/apps/v1/namespaces/demo/deployments/opt-decode")
    );
    assert_eq!(seen.raw_query, "");
    assert_eq!(seen.body, None);
    assert_eq!(got, json(recorded!("deploy.live-after-controllers.json")));
}

#[tokio::test]
async fn get_of_a_missing_object_is_none() {
    let (c, server) = answering(404, recorded!("deploy.get-before-create.status.json"));
    assert_eq!(c.get(&deploy_ref()).await, Ok(None));
    server.await.unwrap();

    // The core group lives under /api, and a reference without a namespace uses the default one.
    let (c, server) = answering(404, recorded!("notfound.status.json"));
    let claim = ObjectRef::new("v1", "PersistentVolumeClaim", None, "nope");
    assert_eq!(c.get(&claim).await, Ok(None));
    assert_eq!(server.await.unwrap().path, "/api/v1/namespaces/demo/persistentvolumeclaims/nope");
}

#[tokio::test]
async fn get_of_a_kind_the_server_does_not_serve_is_an_error_not_a_missing_object() {
    let (c, server) = answering(404, "404 page not found\n");
    let template = ObjectRef::new("resource.k8s.io/v1", "ResourceClaimTemplate", Some("demo"), "gpu");
    let err = c.get(&template).await.unwrap_err();
    assert_eq!(server.await.unwrap().path, "/apis/resource.k8s.io/v1/namespaces/demo/resourceclaimtemplates/gpu");
    assert_eq!(err.to_string(), "the API for ResourceClaimTemplate (resource.k8s.io/v1) on mock API server not found");
}

#[tokio::test]
async fn cluster_scoped_kinds_have_no_namespace_in_the_path() {
    let (c, server) = answering(404, recorded!("notfound.status.json"));
    let pv = ObjectRef::new("v1", "PersistentVolume", Some("demo"), "model-pv");
    assert_eq!(c.get(&pv).await, Ok(None));
    assert_eq!(server.await.unwrap().path, "/api/v1/persistentvolumes/model-pv");
}

#[tokio::test]
async fn list_by_label_sends_the_selector_and_completes_each_item() {
    let (c, server) = answering(200, recorded!("deploy.list-by-label.json"));
    let items = c.list("apps/v1", "Deployment", Some("demo"), "app.kubernetes.io/managed-by=msws").await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("GET", "/apis/apps/v1/namespaces/demo/deployments"));
    assert_eq!(seen.raw_query, "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dmsws");
    assert_eq!(seen.query, query(&[("labelSelector", "app.kubernetes.io/managed-by=msws")]));

    let list = json(recorded!("deploy.list-by-label.json"));
    let recorded_items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), recorded_items.len());
    assert!(recorded_items[0].get("kind").is_none(), "the server leaves kind out of list items");
    // Each item gains apiVersion and kind, first, and is otherwise what the server sent.
    let first = items[0].as_object().unwrap();
    assert_eq!(first.keys().take(2).collect::<Vec<_>>(), ["apiVersion", "kind"]);
    assert_eq!(ObjectRef::of(&items[0]), Some(deploy_ref()));
    let mut stripped = items[0].clone();
    stripped.as_object_mut().unwrap().retain(|k, _| k != "apiVersion" && k != "kind");
    assert_eq!(stripped, recorded_items[0]);
}

#[tokio::test]
async fn list_without_selector_or_namespace() {
    let (c, server) = answering(200, r#"{"kind":"PersistentVolumeList","apiVersion":"v1","metadata":{},"items":[]}"#);
    assert_eq!(c.list("v1", "PersistentVolume", None, "").await, Ok(vec![]));
    let seen = server.await.unwrap();
    assert_eq!((seen.path.as_str(), seen.raw_query.as_str()), ("/api/v1/persistentvolumes", ""));

    // A namespaced kind without a namespace lists the default namespace, as kubectl does.
    let (c, server) = answering(200, r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}"#);
    assert_eq!(c.list("v1", "Pod", None, "job-name=x").await, Ok(vec![]));
    let seen = server.await.unwrap();
    assert_eq!(seen.path, "/api/v1/namespaces/demo/pods");
    assert_eq!(seen.query, query(&[("labelSelector", "job-name=x")]));
}

#[tokio::test]
async fn events_of_an_object_are_listed_by_field_selector_oldest_first() {
    // Two events of the persistent volume controller, as a v1.36 server lists them (newest
    // first here, to show they come back in time order).
    let body = r#"{"kind":"EventList","apiVersion":"v1","metadata":{"resourceVersion":"812"},"items":[
      {"metadata":{"name":"model-pvc.18a2f3c4d5e6f701","namespace":"demo"},"involvedObject":{"kind":"PersistentVolumeClaim","namespace":"demo","name":"model-pvc","uid":"u-1","apiVersion":"v1"},
       "reason":"VolumeMismatch","message":"Cannot bind to requested volume \"model-pv\": requested PV is too small","type":"Warning","count":3,
       "firstTimestamp":"2026-12-01T10:00:05Z","lastTimestamp":"2026-12-01T10:00:35Z","source":{"component":"persistentvolume-controller"}},
      {"metadata":{"name":"model-pvc.18a2f3c4d5e6f700","namespace":"demo"},"involvedObject":{"kind":"PersistentVolumeClaim","namespace":"demo","name":"model-pvc","uid":"u-1","apiVersion":"v1"},
       "reason":"WaitForFirstConsumer","message":"waiting for first consumer to be created before binding","type":"Normal","count":1,
       "firstTimestamp":"2026-12-01T10:00:01Z","lastTimestamp":"2026-12-01T10:00:01Z","source":{"component":"persistentvolume-controller"}}]}"#;
    let (c, server) = answering(200, body);
    let claim = ObjectRef::new("v1", "PersistentVolumeClaim", Some("demo"), "model-pvc");
    let events = c.events(&claim, Some("u-1")).await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("GET", "/api/v1/namespaces/demo/events"));
    assert_eq!(
        seen.query,
        query(&[(
            "fieldSelector",
            "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=model-pvc,involvedObject.uid=u-1"
        )])
    );
    let reasons: Vec<&str> = events.iter().map(|e| e["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["WaitForFirstConsumer", "VolumeMismatch"]);

    // A cluster-scoped object has no events msws reads: nothing is sent.
    let (c, _server) = answering(200, "{}");
    let pv = ObjectRef::new("v1", "PersistentVolume", None, "model-pv");
    assert_eq!(c.events(&pv, None).await, Ok(vec![]));
}

// --- server-side apply ---

/// Applies `input` and checks the request is a server-side apply of exactly that object.
async fn apply(input: &str, path: &str, opts: ApplyOptions, code: u16, answer: &str) -> Result<Value, ClusterError> {
    let (c, server) = answering(code, answer.to_string());
    let obj = yaml(input);
    let got = c.apply(&obj, opts).await;
    let seen = server.await.unwrap();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("PATCH", path));
    assert_eq!(seen.content_type.as_deref(), Some(APPLY));
    let mut expected = vec![("fieldManager", "msws")];
    if opts.force {
        expected.push(("force", "true"));
    }
    if opts.dry_run {
        expected.push(("dryRun", "All"));
    }
    assert_eq!(seen.query, query(&expected));
    assert_eq!(seen.body, Some(obj), "the body is the object, as JSON");
    got
}

#[tokio::test]
async fn apply_creates_claim_job_and_deployment() {
    let real = ApplyOptions::default();
    let cases = [
        (
            recorded!("pvc.input.yaml"),
            "/api/v1/namespaces/demo/persistentvolumeclaims/model-pvc",
            recorded!("pvc.ssa-create.json"),
        ),
        (
            recorded!("job.input.yaml"),
            "/apis/batch/v1/namespaces/demo/jobs/opt-125m-download",
            recorded!("job.ssa-create.json"),
        ),
        (
            recorded!("deploy.input.yaml"),
            "/apis/apps/v1/namespaces/demo/deployments/opt-decode",
            recorded!("deploy.ssa-create.json"),
        ),
    ];
    for (input, path, answer) in cases {
        let got = apply(input, path, real, 201, answer).await.unwrap();
        assert_eq!(got, json(answer));
    }
}

#[tokio::test]
async fn apply_dry_run_sends_dry_run_all() {
    let dry = ApplyOptions { dry_run: true, force: false };
    let cases = [
        (
            recorded!("pvc.input.yaml"),
            "/api/v1/namespaces/demo/persistentvolumeclaims/model-pvc",
            recorded!("pvc.ssa-dryrun-create.json"),
        ),
        (
            recorded!("job.input.yaml"),
            "/apis/batch/v1/namespaces/demo/jobs/opt-125m-download",
            recorded!("job.ssa-dryrun-create.json"),
        ),
        (
            recorded!("deploy.input.yaml"),
            "/apis/apps/v1/namespaces/demo/deployments/opt-decode",
            recorded!("deploy.ssa-dryrun-create.json"),
        ),
    ];
    for (input, path, answer) in cases {
        let got = apply(input, path, dry, 201, answer).await.unwrap();
        assert_eq!(got, json(answer));
    }
}

#[tokio::test]
async fn apply_conflict_names_the_other_manager_and_the_field() {
    let path = "/apis/apps/v1/namespaces/demo/deployments/opt-decode";
    let err = apply(
        recorded!("deploy.input.yaml"),
        path,
        ApplyOptions::default(),
        409,
        recorded!("deploy.ssa-conflict.status.json"),
    )
    .await
    .unwrap_err();
    let ClusterError::Conflict { message, causes } = &err else { panic!("{err:?}") };
    assert!(message.contains(r#"conflict with "kubectl""#), "{message}");
    assert_eq!(causes.len(), 1);
    assert_eq!(causes[0].field.as_deref(), Some(".spec.replicas"));
    assert!(causes[0].message.contains("kubectl"));
    assert_eq!(err.code(), Some(409));
    assert!(!err.is_transient() && !err.is_immutable_field());

    // With force (and dry run), the query says so and the answer is the object.
    let opts = ApplyOptions { dry_run: true, force: true };
    let got = apply(recorded!("deploy.input.yaml"), path, opts, 200, recorded!("deploy.ssa-force-dryrun.json"))
        .await
        .unwrap();
    assert_eq!(got, json(recorded!("deploy.ssa-force-dryrun.json")));
}

#[tokio::test]
async fn apply_of_an_immutable_change_is_invalid_and_says_so() {
    let cases = [
        (
            recorded!("deploy.input.yaml"),
            "/apis/apps/v1/namespaces/demo/deployments/opt-decode",
            recorded!("deploy.immutable-selector.status.json"),
            "spec.selector",
        ),
        (
            recorded!("pvc.input.yaml"),
            "/api/v1/namespaces/demo/persistentvolumeclaims/model-pvc",
            recorded!("pvc.immutable-accessmodes.status.json"),
            "spec",
        ),
        (
            recorded!("pvc.input.yaml"),
            "/api/v1/namespaces/demo/persistentvolumeclaims/model-pvc",
            recorded!("pvc.shrink.status.json"),
            "spec.resources.requests.storage",
        ),
        (
            recorded!("job.input.yaml"),
            "/apis/batch/v1/namespaces/demo/jobs/opt-125m-download",
            recorded!("job.immutable-template.status.json"),
            "spec.template",
        ),
    ];
    for (input, path, answer, field) in cases {
        let err = apply(input, path, ApplyOptions::default(), 422, answer).await.unwrap_err();
        let ClusterError::Invalid { causes, .. } = &err else { panic!("{err:?}") };
        assert_eq!(causes[0].field.as_deref(), Some(field));
        assert!(err.is_immutable_field(), "{err:?}");
        assert_eq!(err.code(), Some(422));
    }
}

#[tokio::test]
async fn forbidden_names_the_missing_permission() {
    let (c, server) = answering(403, recorded!("forbidden.status.json"));
    let err = c.get(&ObjectRef::new("v1", "PersistentVolumeClaim", Some("demo"), "model-pvc")).await.unwrap_err();
    server.await.unwrap();
    let ClusterError::Forbidden { permission: Some(p), .. } = &err else { panic!("{err:?}") };
    assert_eq!(
        (p.user.as_str(), p.verb.as_str(), p.resource.as_str(), p.group.as_str(), p.namespace.as_deref()),
        ("system:serviceaccount:demo:nobody", "get", "persistentvolumeclaims", "", Some("demo"))
    );
}

#[tokio::test]
async fn growing_a_claim_that_cannot_expand_is_forbidden_without_a_permission() {
    let path = "/api/v1/namespaces/demo/persistentvolumeclaims/model-pvc";
    let err = apply(
        recorded!("pvc.input.yaml"),
        path,
        ApplyOptions::default(),
        403,
        recorded!("pvc.grow-no-expansion.status.json"),
    )
    .await
    .unwrap_err();
    let ClusterError::Forbidden { message, permission } = &err else { panic!("{err:?}") };
    assert!(message.contains("only dynamically provisioned pvc can be resized"), "{message}");
    assert_eq!(permission, &None);
}

#[tokio::test]
async fn a_bad_quantity_through_server_side_apply_is_a_500() {
    let path = "/api/v1/namespaces/demo/persistentvolumeclaims/model-pvc";
    let err = apply(
        recorded!("pvc.input.yaml"),
        path,
        ApplyOptions::default(),
        500,
        recorded!("pvc.invalid-quantity.status.json"),
    )
    .await
    .unwrap_err();
    let ClusterError::Server { code: 500, message } = &err else { panic!("{err:?}") };
    assert!(message.contains("quantities must match the regular expression"), "{message}");
    assert!(!err.is_transient());
}

#[tokio::test]
async fn an_answer_that_is_not_a_status_keeps_its_code_and_text() {
    let (c, server) = answering(503, "upstream connect error");
    let err = c.get(&deploy_ref()).await.unwrap_err();
    server.await.unwrap();
    assert_eq!(err, ClusterError::Server { code: 503, message: "mock API server: upstream connect error".into() });
    assert!(err.is_transient(), "kube's own retries are off; the caller retries");
}

// --- create, replace ---

#[tokio::test]
async fn create_posts_to_the_collection() {
    let (c, server) = answering(201, recorded!("pvc.ssa-create.json"));
    let obj = yaml(recorded!("pvc.input.yaml"));
    let got = c.create(&obj).await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/api/v1/namespaces/demo/persistentvolumeclaims"));
    assert_eq!(seen.query, query(&[("fieldManager", "msws")]));
    assert_eq!(seen.content_type.as_deref(), Some("application/json"));
    assert_eq!(seen.body, Some(obj));
    assert_eq!(got, json(recorded!("pvc.ssa-create.json")));
}

/// An object with a `generateName` and no name (the inspection pod) is posted as it is, and
/// the answer carries the name the server gave it. (The answer is a pod as a v1.36 server
/// returns one, shortened; not a recording.)
#[tokio::test]
async fn create_with_a_generated_name_posts_without_a_name() {
    let answer = r#"{"kind":"Pod","apiVersion":"v1","metadata":{"name":"msws-inspect-model-pvc-7xk2q","generateName":"msws-inspect-model-pvc-","namespace":"demo","uid":"0f6b3c59-6ab8-4d52-9e3c-1b1c1f0c2f4e","resourceVersion":"4242"},"spec":{},"status":{"phase":"Pending"}}"#;
    let (c, server) = answering(201, answer);
    let obj = msws::inspect::pod::pod(&msws::inspect::Request::new("demo", "model-pvc", "w"), None);
    assert!(obj.pointer("/metadata/name").is_none());
    let got = c.create(&obj).await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", "/api/v1/namespaces/demo/pods"));
    assert_eq!(seen.body, Some(obj));
    assert_eq!(got["metadata"]["name"], "msws-inspect-model-pvc-7xk2q");
    // Neither a name nor a generated one: refused before a request.
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let c = cluster(service);
    let nameless = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": ""}});
    assert!(matches!(c.create(&nameless).await, Err(ClusterError::Client(_))));
    drop(c);
    assert!(handle.next_request().await.is_none());
}

#[tokio::test]
async fn replace_puts_the_object_with_its_resource_version() {
    let conflict = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on deployments.apps \"opt-decode\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"opt-decode","group":"apps","kind":"deployments"},"code":409}"#;
    let (c, server) = answering(409, conflict);
    let mut obj = json(recorded!("deploy.live-after-controllers.json"));
    obj["spec"]["replicas"] = json!(2);
    let err = c.replace(&obj).await.unwrap_err();
    let seen = server.await.unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("PUT", "/apis/apps/v1/namespaces/demo/deployments/opt-decode")
    );
    assert_eq!(seen.query, query(&[("fieldManager", "msws")]));
    assert_eq!(seen.content_type.as_deref(), Some("application/json"));
    assert!(seen.body.as_ref().unwrap().pointer("/metadata/resourceVersion").is_some());
    assert_eq!(seen.body, Some(obj));
    let ClusterError::Conflict { message, .. } = &err else { panic!("{err:?}") };
    assert!(message.contains("the object has been modified"));
}

// --- delete ---

#[tokio::test]
async fn foreground_delete_returns_the_object_while_it_waits_for_its_pods() {
    let (c, server) = answering(200, recorded!("job.delete-foreground.json"));
    let got = c.delete(&job_ref(), Propagation::Foreground, false).await.unwrap().unwrap();
    let seen = server.await.unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("DELETE", "/apis/batch/v1/namespaces/demo/jobs/opt-125m-download")
    );
    assert_eq!(seen.raw_query, "");
    assert_eq!(seen.content_type.as_deref(), Some("application/json"));
    assert_eq!(seen.body, Some(json!({ "propagationPolicy": "Foreground" })));
    assert!(got.pointer("/metadata/deletionTimestamp").is_some());
    assert_eq!(got.pointer("/metadata/finalizers"), Some(&json!(["foregroundDeletion"])));
}

#[tokio::test]
async fn delete_exact_sends_the_uid_and_resource_version_as_preconditions() {
    let (c, server) = answering(200, recorded!("job.delete-foreground.json"));
    c.delete_exact(&job_ref(), "5b1c", "4711", Propagation::Foreground).await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen.method, "DELETE");
    assert_eq!(
        seen.body,
        Some(
            json!({ "propagationPolicy": "Foreground", "preconditions": { "uid": "5b1c", "resourceVersion": "4711" } })
        )
    );
    // The server's answer when they do not hold is a 409, as for any conflict.
    let failed = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on jobs.batch \"opt-125m-download\": Precondition failed: UID in precondition: 5b1c, UID in object meta: 9e2a","reason":"Conflict","details":{"name":"opt-125m-download","group":"batch","kind":"jobs"},"code":409}"#;
    let (c, _server) = answering(409, failed);
    let e = c.delete_exact(&job_ref(), "5b1c", "4711", Propagation::Foreground).await.unwrap_err();
    assert!(matches!(&e, ClusterError::Conflict { message, .. } if message.contains("Precondition failed")), "{e}");
}

#[tokio::test]
async fn delete_of_something_already_gone_is_none() {
    let (c, server) = answering(404, recorded!("job.after-foreground-delete.json"));
    assert_eq!(c.delete(&job_ref(), Propagation::Background, false).await, Ok(None));
    assert_eq!(server.await.unwrap().body, Some(json!({ "propagationPolicy": "Background" })));
}

#[tokio::test]
async fn delete_answered_by_a_status_of_success_is_none() {
    let success = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"opt","kind":"serviceaccounts","uid":"2f0f"}}"#;
    let (c, server) = answering(200, success);
    let sa = ObjectRef::new("v1", "ServiceAccount", Some("demo"), "opt");
    assert_eq!(c.delete(&sa, Propagation::Orphan, true).await, Ok(None));
    let seen = server.await.unwrap();
    assert_eq!(seen.path, "/api/v1/namespaces/demo/serviceaccounts/opt");
    assert_eq!(seen.body, Some(json!({ "dryRun": ["All"], "propagationPolicy": "Orphan" })));

    // An object without a deletionTimestamp went at once (some kinds answer with the object).
    let mut gone = json(recorded!("deploy.live-after-controllers.json"));
    gone["metadata"].as_object_mut().unwrap().remove("deletionTimestamp");
    let (c, server) = answering(200, gone.to_string());
    assert_eq!(c.delete(&deploy_ref(), Propagation::Background, false).await, Ok(None));
    server.await.unwrap();
}

// --- logs ---

#[tokio::test]
async fn logs_asks_for_the_container_and_the_last_lines() {
    let (c, server) = answering(200, "downloading facebook/opt-125m\ndone\n");
    let text = c.logs("demo", "opt-125m-download-x7k2p", Some("download"), Some(20)).await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/api/v1/namespaces/demo/pods/opt-125m-download-x7k2p/log")
    );
    assert_eq!(seen.query, query(&[("container", "download"), ("tailLines", "20")]));
    assert_eq!(text, "downloading facebook/opt-125m\ndone\n");

    let (c, server) = answering(200, "");
    assert_eq!(c.logs("other", "p", None, None).await, Ok(String::new()));
    let seen = server.await.unwrap();
    assert_eq!((seen.path.as_str(), seen.raw_query.as_str()), ("/api/v1/namespaces/other/pods/p/log", ""));
}

#[tokio::test]
async fn logs_of_a_missing_pod_is_not_found() {
    let missing = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods \"p\" not found","reason":"NotFound","details":{"name":"p","kind":"pods"},"code":404}"#;
    let (c, server) = answering(404, missing);
    assert_eq!(c.logs("demo", "p", None, Some(5)).await, Err(ClusterError::NotFound("pods \"p\" not found".into())));
    server.await.unwrap();
}

// --- refused before any request ---

#[tokio::test]
async fn unknown_kinds_and_bad_objects_are_refused_without_a_request() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let c = cluster(service);
    let crd = ObjectRef::new("example.com/v1", "Widget", Some("demo"), "w");
    let err = c.get(&crd).await.unwrap_err();
    assert_eq!(
        err,
        ClusterError::Client(
            "msws does not handle the kind Widget (apiVersion example.com/v1): it is not one of its kinds, and API discovery has not found it"
                .into()
        )
    );
    assert!(matches!(c.list("v1", "ReplicationController", None, "").await, Err(ClusterError::Client(_))));
    let widget = json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" } });
    assert!(matches!(c.apply(&widget, ApplyOptions::default()).await, Err(ClusterError::Client(_))));
    assert!(matches!(c.create(&json!({ "kind": "Secret" })).await, Err(ClusterError::Client(_))));
    assert!(matches!(c.delete(&crd, Propagation::Foreground, false).await, Err(ClusterError::Client(_))));
    let sneaky = ObjectRef::new("v1", "Secret", Some("demo"), "../../kube-system/secrets/x");
    assert!(matches!(c.get(&sneaky).await, Err(ClusterError::Client(_))));
    assert!(matches!(c.logs("demo", "", None, None).await, Err(ClusterError::Client(_))));
    // Nothing reached the server.
    drop(c);
    assert!(handle.next_request().await.is_none());
}

// --- discovery ---

/// A cluster whose API server answers each request in turn with the next of `answers`; the task
/// returns what it received.
fn answering_all(answers: Vec<(u16, String)>) -> (KubeCluster, JoinHandle<Vec<Seen>>) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut handle = pin!(handle);
        let mut all = Vec::new();
        for (code, body) in answers {
            let (request, send) = handle.next_request().await.expect("fewer requests than answers");
            all.push(seen(request).await);
            let response = Response::builder()
                .status(code)
                .header("content-type", if body.starts_with('{') { "application/json" } else { "text/plain" })
                .body(Body::from(body.into_bytes()))
                .unwrap();
            send.send_response(response);
        }
        all
    });
    (cluster(service), server)
}

/// `GET /apis/gateway.networking.k8s.io/v1` on a cluster with the Gateway API v1.2 CRDs, as the
/// API server answers it (CRDs list their verbs in this order, subresources follow their resource).
const GATEWAY_V1: &str = r#"{"kind":"APIResourceList","apiVersion":"v1","groupVersion":"gateway.networking.k8s.io/v1","resources":[{"name":"gatewayclasses","singularName":"gatewayclass","namespaced":false,"kind":"GatewayClass","verbs":["delete","deletecollection","get","list","patch","create","update","watch"],"shortNames":["gc"],"categories":["gateway-api"],"storageVersionHash":"Hs5ZVZqkZ2A="},{"name":"gatewayclasses/status","singularName":"","namespaced":false,"kind":"GatewayClass","verbs":["get","patch","update"]},{"name":"gateways","singularName":"gateway","namespaced":true,"kind":"Gateway","verbs":["delete","deletecollection","get","list","patch","create","update","watch"],"shortNames":["gtw"],"categories":["gateway-api"],"storageVersionHash":"x4ow1g2kDTM="},{"name":"gateways/status","singularName":"","namespaced":true,"kind":"Gateway","verbs":["get","patch","update"]},{"name":"grpcroutes","singularName":"grpcroute","namespaced":true,"kind":"GRPCRoute","verbs":["delete","deletecollection","get","list","patch","create","update","watch"],"categories":["gateway-api"],"storageVersionHash":"6Ey4r9Q4Dlc="},{"name":"grpcroutes/status","singularName":"","namespaced":true,"kind":"GRPCRoute","verbs":["get","patch","update"]},{"name":"httproutes","singularName":"httproute","namespaced":true,"kind":"HTTPRoute","verbs":["delete","deletecollection","get","list","patch","create","update","watch"],"categories":["gateway-api"],"storageVersionHash":"0A1ThVTYkJ4="},{"name":"httproutes/status","singularName":"","namespaced":true,"kind":"HTTPRoute","verbs":["get","patch","update"]}]}"#;

/// The start of `GET /api/v1` (a real list has some thirty resources; these are enough to show
/// subresources, cluster-scoped and namespaced kinds).
const CORE_V1: &str = r#"{"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"bindings","singularName":"binding","namespaced":true,"kind":"Binding","verbs":["create"]},{"name":"configmaps","singularName":"configmap","namespaced":true,"kind":"ConfigMap","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":["cm"],"storageVersionHash":"qFsyl6wFWjQ="},{"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["create","delete","get","list","patch","update","watch"],"shortNames":["ns"],"storageVersionHash":"Q3oi5N2YM8M="},{"name":"namespaces/finalize","singularName":"","namespaced":false,"kind":"Namespace","verbs":["update"]},{"name":"componentstatuses","singularName":"componentstatus","namespaced":false,"kind":"ComponentStatus","verbs":["get","list"],"shortNames":["cs"]},{"name":"pods","singularName":"pod","namespaced":true,"kind":"Pod","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":["po"],"categories":["all"],"storageVersionHash":"xPOwRZ+Yhw8="},{"name":"pods/log","singularName":"","namespaced":true,"kind":"Pod","verbs":["get"]},{"name":"pods/status","singularName":"","namespaced":true,"kind":"Pod","verbs":["get","patch","update"]}]}"#;

#[tokio::test]
async fn discovery_lists_a_group_versions_kinds_and_makes_them_usable() {
    let route = ObjectRef::new("gateway.networking.k8s.io/v1", "HTTPRoute", Some("demo"), "wide-route");
    // Before discovery the kind is refused without a request.
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    assert!(matches!(cluster(service).get(&route).await, Err(ClusterError::Client(_))));
    assert!(handle.next_request().await.is_none());

    let route_json = r#"{"apiVersion":"gateway.networking.k8s.io/v1","kind":"HTTPRoute","metadata":{"name":"wide-route","namespace":"demo","uid":"u","resourceVersion":"7","generation":1},"spec":{"parentRefs":[{"group":"gateway.networking.k8s.io","kind":"Gateway","name":"llm-d-gateway"}]}}"#;
    let (c, server) = answering_all(vec![(200, GATEWAY_V1.into()), (200, route_json.into()), (200, route_json.into())]);
    let kinds = c.discover("gateway.networking.k8s.io/v1").await.unwrap().unwrap();
    let found: Vec<(&str, &str, bool)> = kinds.iter().map(|k| (k.kind, k.plural, k.namespaced)).collect();
    assert_eq!(
        found,
        [
            ("GatewayClass", "gatewayclasses", false),
            ("Gateway", "gateways", true),
            ("GRPCRoute", "grpcroutes", true),
            ("HTTPRoute", "httproutes", true)
        ],
        "subresources are not kinds"
    );
    assert_eq!(c.get(&route).await.unwrap().unwrap(), json(route_json));
    let mut obj = json(route_json);
    obj["metadata"].as_object_mut().unwrap().retain(|k, _| k == "name" || k == "namespace");
    c.apply(&obj, ApplyOptions::default()).await.unwrap();
    let seen = server.await.unwrap();
    assert_eq!((seen[0].method.as_str(), seen[0].path.as_str()), ("GET", "/apis/gateway.networking.k8s.io/v1"));
    assert_eq!((seen[0].raw_query.as_str(), &seen[0].body), ("", &None));
    assert_eq!(seen[1].path, "/apis/gateway.networking.k8s.io/v1/namespaces/demo/httproutes/wide-route");
    assert_eq!(
        (seen[2].method.as_str(), seen[2].path.as_str(), seen[2].content_type.as_deref()),
        ("PATCH", "/apis/gateway.networking.k8s.io/v1/namespaces/demo/httproutes/wide-route", Some(APPLY))
    );
}

#[tokio::test]
async fn discovery_of_the_core_group_goes_to_api_v1() {
    let (c, server) = answering(200, CORE_V1);
    let kinds = c.discover("v1").await.unwrap().unwrap();
    assert_eq!(server.await.unwrap().path, "/api/v1");
    let names: Vec<(&str, bool)> = kinds.iter().map(|k| (k.kind, k.namespaced)).collect();
    assert_eq!(
        names,
        [("Binding", true), ("ConfigMap", true), ("Namespace", false), ("ComponentStatus", false), ("Pod", true)]
    );
    // A kind discovered there can be listed; one msws knows stays as it knows it.
    // (Not Node: another test shows it refused, and discovered kinds are the process's.)
    let (c, server) = answering(
        200,
        r#"{"kind":"ComponentStatusList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"etcd-0"}}]}"#,
    );
    let statuses = c.list("v1", "ComponentStatus", Some("demo"), "").await.unwrap();
    assert_eq!(server.await.unwrap().path, "/api/v1/componentstatuses", "cluster-scoped: no namespace in the path");
    assert_eq!(statuses[0]["kind"], "ComponentStatus");
}

#[tokio::test]
async fn a_group_version_the_server_does_not_serve_is_none() {
    // Plain text from the server's not-found handler, or a Status: either way, not served.
    let (c, server) = answering(404, "404 page not found\n");
    assert_eq!(c.discover("leaderworkerset.x-k8s.io/v1").await, Ok(None));
    assert_eq!(server.await.unwrap().path, "/apis/leaderworkerset.x-k8s.io/v1");
    let (c, server) = answering(404, recorded!("notfound.status.json"));
    assert_eq!(c.discover("monitoring.coreos.com/v1").await, Ok(None));
    server.await.unwrap();
    // Anything else is an error, typed as usual (a 503 is an aggregated API that is down).
    let (c, server) = answering(503, "service unavailable");
    let err = c.discover("metrics.k8s.io/v1beta1").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    server.await.unwrap();
    let (c, server) = answering(200, r#"{"kind":"Status","status":"Success"}"#);
    assert!(matches!(c.discover("example.org/v1").await, Err(ClusterError::Server { .. })));
    server.await.unwrap();
    // A malformed group-version is refused without a request.
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let c = cluster(service);
    assert!(matches!(c.discover("a/b/c").await, Err(ClusterError::Client(_))));
    assert!(matches!(c.discover("../v1").await, Err(ClusterError::Client(_))));
    drop(c);
    assert!(handle.next_request().await.is_none());
}

#[tokio::test]
async fn the_preferred_version_of_a_group_comes_from_its_api_group() {
    let group = r#"{"kind":"APIGroup","apiVersion":"v1","name":"gateway.networking.k8s.io","versions":[{"groupVersion":"gateway.networking.k8s.io/v1","version":"v1"},{"groupVersion":"gateway.networking.k8s.io/v1beta1","version":"v1beta1"}],"preferredVersion":{"groupVersion":"gateway.networking.k8s.io/v1","version":"v1"}}"#;
    let (c, server) = answering(200, group);
    assert_eq!(c.preferred_version("gateway.networking.k8s.io").await, Ok(Some("v1".into())));
    assert_eq!(server.await.unwrap().path, "/apis/gateway.networking.k8s.io");
    let (c, server) = answering(404, "404 page not found\n");
    assert_eq!(c.preferred_version("leaderworkerset.x-k8s.io").await, Ok(None));
    server.await.unwrap();
    // The core group needs no request.
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let c = cluster(service);
    assert_eq!(c.preferred_version("").await, Ok(Some("v1".into())));
    drop(c);
    assert!(handle.next_request().await.is_none());
}

// --- transport ---

#[tokio::test]
async fn a_failing_connection_is_a_connection_error_naming_the_server() {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut handle = pin!(handle);
        let (_, send) = handle.next_request().await.unwrap();
        send.send_error(std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused"));
    });
    let err = cluster(service).get(&deploy_ref()).await.unwrap_err();
    server.await.unwrap();
    let ClusterError::Connection(message) = &err else { panic!("{err:?}") };
    assert_eq!(
        message,
        "mock API server, GET /apis/apps/v1/namespaces/demo/deployments/opt-decode: connection refused"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn a_timeout_under_the_client_is_a_timeout() {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut handle = pin!(handle);
        let (_, send) = handle.next_request().await.unwrap();
        send.send_error(std::io::Error::new(std::io::ErrorKind::TimedOut, "read timed out"));
    });
    let err = cluster(service).get(&deploy_ref()).await.unwrap_err();
    server.await.unwrap();
    let ClusterError::Timeout(message) = &err else { panic!("{err:?}") };
    assert!(message.starts_with("mock API server did not answer GET"), "{message}");
}

#[tokio::test]
async fn a_server_that_does_not_answer_times_out() {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut handle = pin!(handle);
        let (_, send) = handle.next_request().await.unwrap();
        seen_tx.send(()).unwrap();
        // Holds the response open and never answers.
        std::future::pending::<()>().await;
        drop(send);
    });
    let c = cluster(service).with_timeout(Duration::from_millis(100));
    let err = c.apply(&yaml(recorded!("pvc.input.yaml")), ApplyOptions::default()).await.unwrap_err();
    seen_rx.await.unwrap();
    assert_eq!(
        err,
        ClusterError::Timeout(
            "mock API server did not answer PATCH /api/v1/namespaces/demo/persistentvolumeclaims/model-pvc within 100ms".into()
        )
    );
}

// --- connect ---

const KUBECONFIG: &str = r#"
apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster: {server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true}
- name: prod-cluster
  cluster: {server: "https://prod.example.com:6443"}
contexts:
- name: dev
  context: {cluster: dev-cluster, user: someone, namespace: llm-d}
- name: prod
  context: {cluster: prod-cluster, user: someone}
users:
- name: someone
  user: {token: not-a-real-token}
"#;

fn kubeconfig(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[tokio::test]
async fn connect_uses_the_current_context_and_its_namespace() {
    let (_dir, path) = kubeconfig(KUBECONFIG);
    // The server does not exist: building the client must not contact it.
    let c = KubeCluster::connect_with(Some(&path), None, None).await.unwrap();
    assert_eq!(c.default_namespace(), "llm-d");
    assert_eq!(c.describe(), r#"context "dev" (https://127.0.0.1:6443)"#);
    assert_eq!(c.timeout(), msws::cluster::kube::DEFAULT_TIMEOUT);
}

#[tokio::test]
async fn connect_with_another_context_and_a_namespace_override() {
    let (_dir, path) = kubeconfig(KUBECONFIG);
    let c = KubeCluster::connect_with(Some(&path), Some("prod"), None).await.unwrap();
    assert_eq!(c.default_namespace(), "default", "prod names no namespace");
    assert_eq!(c.describe(), r#"context "prod" (https://prod.example.com:6443)"#);

    let c = KubeCluster::connect_with(Some(&path), Some("prod"), Some("serving")).await.unwrap();
    assert_eq!(c.default_namespace(), "serving");
    let c = KubeCluster::connect_with(Some(&path), None, Some("serving")).await.unwrap();
    assert_eq!(c.default_namespace(), "serving", "the override wins over the context's namespace");
}

#[tokio::test]
async fn connect_refuses_a_missing_context_or_file_clearly() {
    let (_dir, path) = kubeconfig(KUBECONFIG);
    let Err(err) = KubeCluster::connect_with(Some(&path), Some("staging"), None).await else { panic!("connected") };
    assert_eq!(
        err,
        ClusterError::Client(format!(
            r#"no context "staging" in the kubeconfig {} (it has dev, prod)"#,
            path.display()
        ))
    );

    let (_dir, no_current) = kubeconfig(&KUBECONFIG.replace("current-context: dev\n", ""));
    let Err(err) = KubeCluster::connect_with(Some(&no_current), None, None).await else { panic!("connected") };
    let ClusterError::Client(message) = &err else { panic!("{err:?}") };
    assert!(message.contains("has no current context: name one with --context (it has dev, prod)"), "{message}");

    let missing = path.with_file_name("absent");
    let Err(err) = KubeCluster::connect_with(Some(&missing), None, None).await else { panic!("connected") };
    let ClusterError::Client(message) = &err else { panic!("{err:?}") };
    assert!(message.starts_with(&format!("cannot read the kubeconfig {}", missing.display())), "{message}");
}

#[tokio::test]
async fn a_real_refused_connection_and_a_silent_server() {
    // Loopback only: a port nobody listens on, then a listener that accepts and never speaks.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let text = KUBECONFIG.replace("https://127.0.0.1:6443", &format!("https://127.0.0.1:{port}"));
    let (_dir, path) = kubeconfig(&text);
    let c = KubeCluster::connect_with(Some(&path), None, None).await.unwrap();
    let err = c.get(&deploy_ref()).await.unwrap_err();
    let ClusterError::Connection(message) = &err else { panic!("{err:?}") };
    let expected = format!(
        r#"context "dev" (https://127.0.0.1:{port}), GET /apis/apps/v1/namespaces/demo/deployments/opt-decode: "#
    );
    assert!(message.starts_with(&expected), "{message}");

    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let keep = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = silent.accept().await.unwrap();
            held.push(socket);
        }
    });
    let text = KUBECONFIG.replace("https://127.0.0.1:6443", &format!("https://127.0.0.1:{port}"));
    let (_dir, path) = kubeconfig(&text);
    let c = KubeCluster::connect_with(Some(&path), None, None).await.unwrap().with_timeout(Duration::from_millis(300));
    let err = c.get(&deploy_ref()).await.unwrap_err();
    assert!(matches!(&err, ClusterError::Timeout(m) if m.contains(&format!("127.0.0.1:{port}"))), "{err:?}");
    keep.abort();
}

// --- watch ---

/// A watch of the download's pods from resource version 4711.
fn watch_request() -> msws::cluster::WatchRequest {
    msws::cluster::WatchRequest {
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: Some("demo".into()),
        labels: "batch.kubernetes.io/job-name=opt-125m-download".into(),
        fields: String::new(),
        resource_version: "4711".into(),
        bookmarks: true,
        timeout: Duration::from_secs(300),
    }
}

fn pod(name: &str, rv: &str, phase: &str) -> Value {
    json!({"kind": "Pod", "apiVersion": "v1",
           "metadata": {"name": name, "namespace": "demo", "resourceVersion": rv,
                        "labels": {"batch.kubernetes.io/job-name": "opt-125m-download"}},
           "status": {"phase": phase}})
}

/// Newline-delimited watch events, as the API server streams them.
fn lines(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

async fn collect(c: &KubeCluster) -> Vec<Result<msws::cluster::WatchEvent, ClusterError>> {
    use futures::StreamExt;
    let stream = c.watch(&watch_request()).await.unwrap();
    stream.collect().await
}

#[tokio::test]
async fn a_watch_sends_its_version_selectors_and_bookmarks_and_streams_the_events() {
    use msws::cluster::WatchEvent;
    let body = lines(&[
        json!({"type": "ADDED", "object": pod("opt-125m-download-x7k2p", "4712", "Pending")}),
        json!({"type": "MODIFIED", "object": pod("opt-125m-download-x7k2p", "4720", "Running")}),
        json!({"type": "BOOKMARK", "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": "4800", "annotations": {"k8s.io/initial-events-end": "true"}}}}),
        json!({"type": "SOMETHING-NEW", "object": {}}),
        json!({"type": "DELETED", "object": pod("opt-125m-download-x7k2p", "4801", "Succeeded")}),
    ]);
    let (c, server) = answering(200, body);
    let events = collect(&c).await;
    let seen = server.await.unwrap();
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("GET", "/api/v1/namespaces/demo/pods"));
    assert_eq!(
        seen.query,
        query(&[
            ("watch", "true"),
            ("timeoutSeconds", "300"),
            ("labelSelector", "batch.kubernetes.io/job-name=opt-125m-download"),
            ("allowWatchBookmarks", "true"),
            ("resourceVersion", "4711"),
        ])
    );
    let events: Vec<WatchEvent> = events.into_iter().map(Result::unwrap).collect();
    // The event of an unknown type is skipped, as a client must.
    assert_eq!(events.len(), 4, "{events:#?}");
    assert!(matches!(&events[0], WatchEvent::Added(p) if p["status"]["phase"] == "Pending"));
    assert!(matches!(&events[1], WatchEvent::Modified(p) if p["status"]["phase"] == "Running"));
    assert_eq!(events[2], WatchEvent::Bookmark("4800".into()));
    assert!(matches!(&events[3], WatchEvent::Deleted(_)));
    let versions: Vec<Option<&str>> = events.iter().map(WatchEvent::resource_version).collect();
    assert_eq!(versions, [Some("4712"), Some("4720"), Some("4800"), Some("4801")]);
}

#[tokio::test]
async fn a_watch_from_a_compacted_version_gets_the_410_error_event() {
    use msws::cluster::WatchEvent;
    // What the API server sends for a resource version etcd has compacted away.
    let body = lines(&[json!({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": "too old resource version: 4711 (5120)", "reason": "Expired", "code": 410}})]);
    let (c, server) = answering(200, body);
    let events = collect(&c).await;
    server.await.unwrap();
    assert_eq!(events.len(), 1);
    let e = events[0].as_ref().unwrap();
    assert!(e.is_expired(), "{e:?}");
    assert_eq!(
        e,
        &WatchEvent::Error {
            code: 410,
            reason: "Expired".into(),
            message: "too old resource version: 4711 (5120)".into()
        }
    );
    // An error of another kind is not an expiry.
    let other = WatchEvent::Error { code: 500, reason: "InternalError".into(), message: "etcd".into() };
    assert!(!other.is_expired());
}

#[tokio::test]
async fn a_watch_whose_connection_ends_mid_line_keeps_what_came_whole() {
    let mut body = lines(&[json!({"type": "ADDED", "object": pod("p", "4712", "Pending")})]);
    body.push_str(r#"{"type": "MODIFIED", "object": {"kind": "Pod", "metad"#);
    let (c, server) = answering(200, body);
    let events = collect(&c).await;
    server.await.unwrap();
    // The partial event is dropped: the caller watches again from 4712.
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].as_ref().unwrap().resource_version(), Some("4712"));
}

#[tokio::test]
async fn a_watch_that_sends_something_not_json_ends_with_an_error() {
    let (c, server) = answering(200, "<html>proxy error</html>\n");
    let events = collect(&c).await;
    server.await.unwrap();
    assert_eq!(events.len(), 1);
    assert!(matches!(&events[0], Err(ClusterError::Server { code: 200, message }) if message.contains("not JSON")));
}

#[tokio::test]
async fn a_watch_without_the_watch_verb_is_forbidden_and_names_it() {
    // A user granted get and list, but not watch.
    let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "pods is forbidden: User \"system:serviceaccount:demo:reader\" cannot watch resource \"pods\" in API group \"\" in the namespace \"demo\"",
        "reason": "Forbidden", "details": {"kind": "pods"}, "code": 403});
    let (c, server) = answering(403, status.to_string());
    let err = match c.watch(&watch_request()).await {
        Ok(_) => panic!("the watch started"),
        Err(e) => e,
    };
    server.await.unwrap();
    let ClusterError::Forbidden { permission: Some(p), .. } = &err else { panic!("{err:?}") };
    assert_eq!((p.verb.as_str(), p.resource.as_str()), ("watch", "pods"));
    assert!(!err.is_transient());
}

#[tokio::test]
async fn a_watch_of_a_kind_the_server_does_not_serve_is_not_found() {
    let (c, server) = answering(404, "404 page not found");
    let err = match c.watch(&watch_request()).await {
        Ok(_) => panic!("the watch started"),
        Err(e) => e,
    };
    server.await.unwrap();
    assert!(matches!(&err, ClusterError::NotFound(m) if m.contains("the API for Pod (v1)")), "{err:?}");
}

#[tokio::test]
async fn a_versioned_list_sends_both_selectors_and_keeps_the_lists_version() {
    let list = json!({"kind": "EventList", "apiVersion": "v1", "metadata": {"resourceVersion": "9001"},
        "items": [{"metadata": {"name": "model-pvc.1", "namespace": "demo"}, "reason": "ExternalProvisioning"}]});
    let (c, server) = answering(200, list.to_string());
    let got = c
        .list_versioned(
            "v1",
            "Event",
            Some("demo"),
            "",
            "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=model-pvc",
        )
        .await
        .unwrap();
    let seen = server.await.unwrap();
    assert_eq!(seen.path, "/api/v1/namespaces/demo/events");
    assert_eq!(
        seen.query,
        query(&[("fieldSelector", "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=model-pvc")])
    );
    assert_eq!(got.resource_version, "9001");
    assert_eq!(got.items[0]["kind"], "Event");
}
