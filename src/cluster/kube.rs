//! The real cluster: [`KubeCluster`] talks to a Kubernetes API server through kube-rs.
//!
//! Requests are built by kube's own request builder (`kube::core::Request`, what `kube::Api` uses,
//! fed with its `PatchParams`, `PostParams`, `DeleteParams`, `ListParams` and `LogParams`) and sent
//! with `Client::send`, which hands back the raw answer. msws reads the HTTP code and the body
//! itself rather than going through `Api`, because it needs what `Api` smooths over: the object's
//! JSON exactly as the server sent it (no round trip through typed metadata), the difference
//! between a missing object (a `Status` 404) and an API the server does not serve (a plain-text
//! 404), and a DELETE answered by a `Status` rather than by the object.
//!
//! A kind outside [`KINDS`](super::KINDS) is addressed once API discovery found it
//! ([`Cluster::discover`]: `GET /api/v1` or `/apis/<group>/<version>`, an `APIResourceList`,
//! built with `http::Request` as kube's own `Client::list_api_group_resources` does, and sent
//! the same way); a 404 at a discovery path means the group-version is not served. Discovery
//! needs no permission beyond being authenticated (the default `system:discovery` role).
//!
//! A watch ([`Cluster::watch`]) is built by the same builder (`Request::watch`: `watch=true`,
//! `timeoutSeconds`, `allowWatchBookmarks`, the selectors and the `resourceVersion`) and sent the
//! same way, with `Accept-Encoding: identity` as kube's own watcher asks; its body,
//! newline-delimited JSON events, is read frame by frame as it arrives and cut into lines. An
//! answer that is not a 2xx is an error like any other (a 403 without the `watch` verb names
//! it); an ERROR event in the stream (a 410 `Expired`) is handed over as an event.
//!
//! Every request runs under a timeout (30 s unless [`KubeCluster::with_timeout`] says otherwise)
//! that covers sending it and reading the whole answer — for a watch, its head; its body may
//! take the watch's own timeout plus this one. kube's own retry layer is switched off:
//! it retries 429/503/504 up to 15 times with a backoff that can grow past any sensible timeout,
//! and the caller decides what to retry with [`ClusterError::is_transient`].

// `ClusterError` is the cluster layer's error type, returned by every method of the trait; its
// size (a `Forbidden` carries a whole `Permission`) is the contract's to change, not this file's.

use std::error::Error as StdError;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ::kube::api::{
    ApiResource, DeleteParams, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams, Preconditions,
    PropagationPolicy, WatchParams,
};
use ::kube::config::{KubeConfigOptions, Kubeconfig};
use ::kube::core::Request;
use ::kube::{Client, Config, Resource};
use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{
    ApplyOptions, Cluster, ClusterError, FIELD_MANAGER, Kind, ObjectRef, Propagation, VersionedList, WatchEvent,
    WatchRequest, WatchStream,
};

/// How long one request may take, sending and answer included, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// A cluster reached through a kubeconfig context or the in-cluster configuration.
pub struct KubeCluster {
    client: Client,
    namespace: String,
    /// Names the API server in every message: `context "kind-demo" (https://127.0.0.1:6443)`.
    description: String,
    timeout: Duration,
}

/// An answer as it came: the HTTP code and the body.
struct Answer {
    code: u16,
    body: Vec<u8>,
}

impl Answer {
    fn is_success(&self) -> bool {
        (200..300).contains(&self.code)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body when it is a `Status` object (what the API server sends with every error it
    /// produces itself; a proxy in the way, or a path no API group serves, answers plain text).
    fn status(&self) -> Option<Value> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        (v.get("kind").and_then(Value::as_str) == Some("Status")).then_some(v)
    }
}

impl KubeCluster {
    /// DELETE, with preconditions when given.
    async fn delete_with(
        &self,
        r: &ObjectRef,
        propagation: Propagation,
        dry_run: bool,
        preconditions: Option<Preconditions>,
    ) -> Result<Option<Value>, ClusterError> {
        let collection = self.collection(&r.api_version, &r.kind, r.namespace.as_deref())?;
        check_segment("name", &r.name)?;
        let params = DeleteParams {
            dry_run,
            propagation_policy: Some(match propagation {
                Propagation::Foreground => PropagationPolicy::Foreground,
                Propagation::Background => PropagationPolicy::Background,
                Propagation::Orphan => PropagationPolicy::Orphan,
            }),
            preconditions,
            ..DeleteParams::default()
        };
        let answer = self.send(collection.delete(&r.name, &params)).await?;
        if Self::is_missing_object(&answer) {
            return Ok(None);
        }
        if answer.code == 404 && answer.status().is_none() {
            return Err(self.not_served(&r.api_version, &r.kind));
        }
        let body = self.object(answer)?;
        // The server answers a `Status` of success when the object went at once, and the object
        // itself when its deletion is pending (finalizers, such as foreground deletion's, or a
        // pod's grace period): that one carries a deletionTimestamp. Some kinds answer with the
        // object even when it went at once; without a deletionTimestamp it is gone.
        if body.get("kind").and_then(Value::as_str) == Some("Status") {
            return Ok(None);
        }
        Ok(body.pointer("/metadata/deletionTimestamp").is_some().then_some(body))
    }

    /// Connects through the kubeconfig (`KUBECONFIG`, a list of files merged as kubectl merges
    /// them, else `~/.kube/config`) with `context` or its current context; without any kubeconfig
    /// file, through the in-cluster configuration (the pod's service account). The namespace is
    /// `namespace`, else the context's (or the service account's), else `default`.
    ///
    /// Nothing is sent to the cluster here: a wrong address or an expired credential shows at the
    /// first request. Needs a Tokio runtime (the client spawns its request buffer on it).
    pub async fn connect(context: Option<&str>, namespace: Option<&str>) -> Result<KubeCluster, ClusterError> {
        KubeCluster::connect_with(None, context, namespace).await
    }

    /// [`KubeCluster::connect`] with the kubeconfig file named explicitly (`None`: look for it as
    /// `connect` does). Tests use this rather than setting `KUBECONFIG`, which threads share.
    pub async fn connect_with(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        namespace: Option<&str>,
    ) -> Result<KubeCluster, ClusterError> {
        let files = match kubeconfig {
            Some(path) => vec![path.to_path_buf()],
            None => kubeconfig_files(),
        };
        let (mut config, description) =
            if files.is_empty() { in_cluster_config(context)? } else { kubeconfig_config(&files, context).await? };
        if let Some(ns) = namespace.filter(|ns| !ns.is_empty()) {
            config.default_namespace = ns.to_string();
        } else if config.default_namespace.is_empty() {
            config.default_namespace = "default".to_string();
        }
        // See the module comment: retries belong to the caller, inside a bounded time.
        config.default_retry = false;
        let namespace = config.default_namespace.clone();
        let client = Client::try_from(config)
            .map_err(|e| ClusterError::Client(format!("cannot set up a client for {description}: {}", chain(&e))))?;
        Ok(KubeCluster { client, namespace, description, timeout: DEFAULT_TIMEOUT })
    }

    /// A cluster over a client built elsewhere (tests give it a mocked HTTP service).
    /// `description` names the API server in messages.
    pub fn from_client(client: Client, namespace: &str, description: &str) -> KubeCluster {
        KubeCluster {
            client,
            namespace: namespace.to_string(),
            description: description.to_string(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Sets how long one request may take before it fails with [`ClusterError::Timeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> KubeCluster {
        self.timeout = timeout;
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The request builder for a kind's collection: `/apis/apps/v1/namespaces/demo/deployments`.
    /// A namespaced kind without a namespace goes to the default namespace (as kubectl does); a
    /// cluster-scoped kind ignores the namespace. Kinds msws does not handle are refused here,
    /// before any request.
    fn collection(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Result<Request, ClusterError> {
        let k = Kind::find(api_version, kind).ok_or_else(|| {
            ClusterError::Client(format!(
                "msws does not handle the kind {kind} (apiVersion {api_version}): it is not one of its kinds, and API discovery has not found it"
            ))
        })?;
        let namespace = match k.namespaced {
            true => Some(check_segment("namespace", namespace.unwrap_or(&self.namespace))?),
            false => None,
        };
        Ok(Request::new(DynamicObject::url_path(&api_resource(k), namespace)))
    }

    /// The collection of an object given as JSON, and its name.
    fn collection_of(&self, obj: &Value) -> Result<(Request, ObjectRef), ClusterError> {
        let r = ObjectRef::of(obj).ok_or_else(|| {
            ClusterError::Client("an object to send needs apiVersion, kind and metadata.name".to_string())
        })?;
        check_segment("name", &r.name)?;
        Ok((self.collection(&r.api_version, &r.kind, r.namespace.as_deref())?, r))
    }

    /// Sends one request and reads the whole answer, within the timeout.
    async fn send<E: StdError>(&self, request: Result<http::Request<Vec<u8>>, E>) -> Result<Answer, ClusterError> {
        let request = tidy(request)?;
        let what = format!("{} {}", request.method(), request.uri().path());
        let exchange = async {
            let response = self.client.send(request.map(::kube::client::Body::from)).await?;
            let code = response.status().as_u16();
            let body = response.into_body().collect_bytes().await?;
            Ok::<_, ::kube::Error>(Answer { code, body: body.to_vec() })
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(e)) => Err(self.transport_error(&what, &e)),
            Err(_) => Err(ClusterError::Timeout(format!(
                "{} did not answer {what} within {:?}",
                self.description, self.timeout
            ))),
        }
    }

    /// WATCH: the request is sent and its answer's head read within the timeout; the body, a
    /// stream of JSON lines, is read as it comes, for as long as the server keeps the watch
    /// open (its `timeoutSeconds`, plus this client's timeout as a margin for a silent one).
    async fn watch_with(&self, req: &WatchRequest) -> Result<WatchStream, ClusterError> {
        let collection = self.collection(&req.api_version, &req.kind, req.namespace.as_deref())?;
        let secs = u32::try_from(req.timeout.as_secs()).unwrap_or(u32::MAX).max(1);
        let mut params = WatchParams::default().timeout(secs);
        params.bookmarks = req.bookmarks;
        if !req.labels.is_empty() {
            params = params.labels(&req.labels);
        }
        if !req.fields.is_empty() {
            params = params.fields(&req.fields);
        }
        let mut request = tidy(collection.watch(&params, &req.resource_version))?;
        // As kube's own watcher does: no compression (a server may gzip each event on its own,
        // which the client's decompression does not follow).
        request.headers_mut().insert(http::header::ACCEPT_ENCODING, http::HeaderValue::from_static("identity"));
        let what = format!("{} {} (watch)", request.method(), request.uri().path());
        let head = async { self.client.send(request.map(::kube::client::Body::from)).await };
        let response = match tokio::time::timeout(self.timeout, head).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(self.transport_error(&what, &e)),
            Err(_) => {
                return Err(ClusterError::Timeout(format!(
                    "{} did not answer {what} within {:?}",
                    self.description, self.timeout
                )));
            }
        };
        let code = response.status().as_u16();
        let body = response.into_body();
        if !(200..300).contains(&code) {
            let bytes = match tokio::time::timeout(self.timeout, body.collect_bytes()).await {
                Ok(Ok(b)) => b.to_vec(),
                _ => Vec::new(),
            };
            let answer = Answer { code, body: bytes };
            if code == 404 && answer.status().is_none() {
                return Err(self.not_served(&req.api_version, &req.kind));
            }
            return Err(self.error(&answer));
        }
        let deadline = tokio::time::Instant::now() + req.timeout + self.timeout;
        let description = self.description.clone();
        let lines = Lines { buf: Vec::new(), done: false };
        let stream = futures::stream::unfold((body, lines), move |(mut body, mut lines)| {
            let description = description.clone();
            async move {
                loop {
                    if let Some(item) = lines.next_event(&description) {
                        return Some((item, (body, lines)));
                    }
                    if lines.done {
                        return None;
                    }
                    match tokio::time::timeout_at(deadline, http_body_util::BodyExt::frame(&mut body)).await {
                        // The server should have ended the watch by now: end it here.
                        Err(_) => lines.done = true,
                        // The end: a partial last line is dropped (the watch resumes from
                        // the last version that was read whole).
                        Ok(None) => lines.done = true,
                        Ok(Some(Ok(frame))) => {
                            if let Ok(data) = frame.into_data() {
                                lines.buf.extend_from_slice(&data);
                            }
                        }
                        Ok(Some(Err(e))) => {
                            lines.done = true;
                            let detail = match &e {
                                ::kube::Error::Service(inner) => chain(inner.as_ref()),
                                other => chain(other),
                            };
                            let err = ClusterError::Connection(format!("{description}, watch broke: {detail}"));
                            return Some((Err(err), (body, lines)));
                        }
                    }
                }
            }
        });
        Ok(Box::pin(stream))
    }

    /// What went wrong below HTTP: a timeout somewhere in the stack (connecting, reading), a
    /// credential that could not be obtained, or a connection that failed or broke.
    fn transport_error(&self, what: &str, e: &::kube::Error) -> ClusterError {
        // kube's own layers ("ServiceError: …") say nothing the user needs; start below them.
        let detail = match e {
            ::kube::Error::Service(inner) => chain(inner.as_ref()),
            ::kube::Error::HyperError(inner) => chain(inner),
            other => chain(other),
        };
        if let ::kube::Error::Auth(_) = e {
            return ClusterError::Client(format!("cannot get credentials for {}: {detail}", self.description));
        }
        if timed_out(e) {
            return ClusterError::Timeout(format!("{} did not answer {what} in time: {detail}", self.description));
        }
        ClusterError::Connection(format!("{}, {what}: {detail}", self.description))
    }

    /// The error an unsuccessful answer stands for.
    fn error(&self, answer: &Answer) -> ClusterError {
        if let Some(status) = answer.status() {
            return ClusterError::from_status(answer.code, &status);
        }
        let text = answer.text();
        let mut message = text.trim().chars().take(500).collect::<String>();
        if message.is_empty() {
            message = http::StatusCode::from_u16(answer.code)
                .ok()
                .and_then(|c| c.canonical_reason())
                .unwrap_or("no message")
                .to_string();
        }
        ClusterError::from_status(answer.code, &json!({ "message": format!("{}: {message}", self.description) }))
    }

    /// The object in a successful answer, or the error in an unsuccessful one.
    fn object(&self, answer: Answer) -> Result<Value, ClusterError> {
        if !answer.is_success() {
            return Err(self.error(&answer));
        }
        serde_json::from_slice(&answer.body).map_err(|e| ClusterError::Server {
            code: answer.code,
            message: format!("{} answered something that is not JSON: {e}", self.description),
        })
    }

    /// Whether a 404 says the object is missing (a `Status` with reason `NotFound`), rather than
    /// that the server does not serve the kind at all (plain text `404 page not found`), which
    /// must not pass for "not there yet".
    fn is_missing_object(answer: &Answer) -> bool {
        answer.code == 404
            && answer.status().is_some_and(|s| s.get("reason").and_then(Value::as_str) == Some("NotFound"))
    }

    /// A discovery document (`/api/v1`, `/apis/<group>`, `/apis/<group>/<version>`): its JSON,
    /// or `None` when the server answers 404 — a plain-text `404 page not found`, or a `Status`:
    /// at a discovery path either means the API is not served, there is no object to miss.
    async fn discovery(&self, path: &str) -> Result<Option<Value>, ClusterError> {
        let request = http::Request::builder().method("GET").uri(path).body(Vec::new());
        let answer = self.send(request).await?;
        if answer.code == 404 {
            return Ok(None);
        }
        self.object(answer).map(Some)
    }

    /// The server has no such API (reads "the API for … on … not found").
    fn not_served(&self, api_version: &str, kind: &str) -> ClusterError {
        ClusterError::NotFound(format!("the API for {kind} ({api_version}) on {} not found", self.description))
    }
}

#[async_trait]
impl Cluster for KubeCluster {
    fn default_namespace(&self) -> &str {
        &self.namespace
    }

    fn describe(&self) -> String {
        self.description.clone()
    }

    async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, ClusterError> {
        let collection = self.collection(&r.api_version, &r.kind, r.namespace.as_deref())?;
        check_segment("name", &r.name)?;
        let answer = self.send(collection.get(&r.name, &Default::default())).await?;
        if Self::is_missing_object(&answer) {
            return Ok(None);
        }
        if answer.code == 404 && answer.status().is_none() {
            return Err(self.not_served(&r.api_version, &r.kind));
        }
        self.object(answer).map(Some)
    }

    async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        selector: &str,
    ) -> Result<Vec<Value>, ClusterError> {
        Ok(self.list_versioned(api_version, kind, namespace, selector, "").await?.items)
    }

    async fn list_versioned(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        labels: &str,
        fields: &str,
    ) -> Result<VersionedList, ClusterError> {
        let collection = self.collection(api_version, kind, namespace)?;
        let mut params = ListParams::default();
        if !labels.is_empty() {
            params = params.labels(labels);
        }
        if !fields.is_empty() {
            params = params.fields(fields);
        }
        let answer = self.send(collection.list(&params)).await?;
        if answer.code == 404 && answer.status().is_none() {
            return Err(self.not_served(api_version, kind));
        }
        let list = self.object(answer)?;
        let items = match list.get("items") {
            Some(Value::Array(items)) => items.as_slice(),
            // An empty list may come as `items: null`.
            Some(Value::Null) => &[],
            _ => {
                return Err(ClusterError::Server {
                    code: 200,
                    message: format!("{} answered a list without items", self.description),
                });
            }
        };
        let resource_version =
            list.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string();
        // The server leaves apiVersion and kind out of a list's items; put them back, first as
        // in a single object, so each item is a complete object (ObjectRef::of works on it).
        let items = items
            .iter()
            .map(|item| {
                let mut full = Map::new();
                full.insert("apiVersion".into(), json!(api_version));
                full.insert("kind".into(), json!(kind));
                if let Some(fields) = item.as_object() {
                    for (k, v) in fields {
                        if k != "apiVersion" && k != "kind" {
                            full.insert(k.clone(), v.clone());
                        }
                    }
                }
                Value::Object(full)
            })
            .collect();
        Ok(VersionedList { items, resource_version })
    }

    async fn watch(&self, req: &WatchRequest) -> Result<WatchStream, ClusterError> {
        self.watch_with(req).await
    }

    async fn apply(&self, obj: &Value, opts: ApplyOptions) -> Result<Value, ClusterError> {
        let (collection, r) = self.collection_of(obj)?;
        let params = PatchParams {
            dry_run: opts.dry_run,
            force: opts.force,
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PatchParams::default()
        };
        // `Patch::Apply` sends the object as JSON with `application/apply-patch+yaml` (JSON is YAML).
        let answer = self.send(collection.patch(&r.name, &params, &Patch::Apply(obj))).await?;
        self.object(answer)
    }

    async fn create(&self, obj: &Value) -> Result<Value, ClusterError> {
        // An object with only a `generateName` is named by the server (a POST needs no name).
        let generated = obj.pointer("/metadata/name").is_none()
            && obj.pointer("/metadata/generateName").and_then(Value::as_str).is_some_and(|g| !g.is_empty());
        let collection = if generated {
            let s = |p: &str| obj.pointer(p).and_then(Value::as_str);
            let (Some(av), Some(kind)) = (s("/apiVersion"), s("/kind")) else {
                return Err(ClusterError::Client("an object to send needs apiVersion and kind".to_string()));
            };
            self.collection(av, kind, s("/metadata/namespace"))?
        } else {
            self.collection_of(obj)?.0
        };
        let body = serde_json::to_vec(obj).map_err(|e| ClusterError::Client(e.to_string()))?;
        let answer = self.send(collection.create(&post_params(), body)).await?;
        self.object(answer)
    }

    async fn replace(&self, obj: &Value) -> Result<Value, ClusterError> {
        let (collection, r) = self.collection_of(obj)?;
        let body = serde_json::to_vec(obj).map_err(|e| ClusterError::Client(e.to_string()))?;
        let answer = self.send(collection.replace(&r.name, &post_params(), body)).await?;
        self.object(answer)
    }

    async fn delete(
        &self,
        r: &ObjectRef,
        propagation: Propagation,
        dry_run: bool,
    ) -> Result<Option<Value>, ClusterError> {
        self.delete_with(r, propagation, dry_run, None).await
    }

    async fn delete_exact(
        &self,
        r: &ObjectRef,
        uid: &str,
        resource_version: &str,
        propagation: Propagation,
    ) -> Result<Option<Value>, ClusterError> {
        let pre = Preconditions { uid: Some(uid.to_string()), resource_version: Some(resource_version.to_string()) };
        self.delete_with(r, propagation, false, Some(pre)).await
    }

    async fn logs(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        tail: Option<i64>,
    ) -> Result<String, ClusterError> {
        let pods = self.collection("v1", "Pod", Some(namespace))?;
        check_segment("name", pod)?;
        let params = LogParams { container: container.map(str::to_string), tail_lines: tail, ..LogParams::default() };
        let answer = self.send(pods.logs(pod, &params)).await?;
        if !answer.is_success() {
            return Err(self.error(&answer));
        }
        Ok(answer.text())
    }

    async fn discover(&self, api_version: &str) -> Result<Option<Vec<Kind>>, ClusterError> {
        let path = match api_version.split_once('/') {
            None => format!("/api/{}", check_segment("version", api_version)?),
            Some((group, version)) => {
                format!("/apis/{}/{}", check_segment("API group", group)?, check_segment("version", version)?)
            }
        };
        let Some(list) = self.discovery(&path).await? else { return Ok(None) };
        if list.get("kind").and_then(Value::as_str) != Some("APIResourceList") {
            return Err(ClusterError::Server {
                code: 200,
                message: format!("{} answered {path} with something that is not an APIResourceList", self.description),
            });
        }
        Ok(Some(super::kinds_of_resource_list(api_version, &list)))
    }

    async fn preferred_version(&self, group: &str) -> Result<Option<String>, ClusterError> {
        if group.is_empty() {
            return Ok(Some("v1".into()));
        }
        let path = format!("/apis/{}", check_segment("API group", group)?);
        let Some(doc) = self.discovery(&path).await? else { return Ok(None) };
        let preferred = doc.pointer("/preferredVersion/version").and_then(Value::as_str);
        // A group without a preferred version (never seen, but the field is optional): its first.
        let first = doc.pointer("/versions/0/version").and_then(Value::as_str);
        Ok(preferred.or(first).map(str::to_string))
    }

    async fn events(&self, about: &ObjectRef, uid: Option<&str>) -> Result<Vec<Value>, ClusterError> {
        let Some(ns) = about.namespace.as_deref() else { return Ok(Vec::new()) };
        let events = self.collection("v1", "Event", Some(ns))?;
        let mut fields =
            vec![format!("involvedObject.kind={}", about.kind), format!("involvedObject.name={}", about.name)];
        if let Some(uid) = uid {
            fields.push(format!("involvedObject.uid={uid}"));
        }
        let params = ListParams::default().fields(&fields.join(","));
        let answer = self.send(events.list(&params)).await?;
        let list = self.object(answer)?;
        let mut items: Vec<Value> = list.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
        items.sort_by(|a, b| super::event_time(a).cmp(super::event_time(b)));
        Ok(items)
    }
}

/// A built request, with its URI tidied: kube's builder leaves a bare `?` on a path without
/// parameters and starts the query with `&`; servers ignore both, but the request msws sends
/// should read as it means.
fn tidy<E: StdError>(request: Result<http::Request<Vec<u8>>, E>) -> Result<http::Request<Vec<u8>>, ClusterError> {
    let mut request = request.map_err(|e| ClusterError::Client(format!("cannot build the request: {}", chain(&e))))?;
    if let Some(query) = request.uri().query() {
        let tidy = query.trim_start_matches('&');
        let path_and_query = match tidy.is_empty() {
            true => request.uri().path().to_string(),
            false => format!("{}?{tidy}", request.uri().path()),
        };
        if let Ok(uri) = path_and_query.parse() {
            *request.uri_mut() = uri;
        }
    }
    Ok(request)
}

/// The body of a watch as it arrives, cut into its lines (one JSON event each).
struct Lines {
    buf: Vec<u8>,
    done: bool,
}

impl Lines {
    /// The next whole line's event, if one is buffered. Blank lines and events of a type this
    /// client does not know are skipped; a line that is not JSON ends the watch with an error.
    fn next_event(&mut self, description: &str) -> Option<Result<WatchEvent, ClusterError>> {
        while let Some(at) = self.buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=at).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let value: Value = match serde_json::from_slice(&line) {
                Ok(v) => v,
                Err(e) => {
                    self.done = true;
                    self.buf.clear();
                    return Some(Err(ClusterError::Server {
                        code: 200,
                        message: format!("{description} sent a watch event that is not JSON: {e}"),
                    }));
                }
            };
            if let Some(event) = WatchEvent::from_json(&value) {
                return Some(Ok(event));
            }
            // A bare `Status` in the stream (not wrapped in an ERROR event) ends it as one.
            if value.get("kind").and_then(Value::as_str) == Some("Status") {
                let code = value.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).unwrap_or(500);
                let s = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                return Some(Ok(WatchEvent::Error { code, reason: s("reason"), message: s("message") }));
            }
        }
        None
    }
}

/// kube's description of one of msws's kinds.
fn api_resource(k: &Kind) -> ApiResource {
    ApiResource {
        group: k.group().to_string(),
        version: k.version().to_string(),
        api_version: k.api_version.to_string(),
        kind: k.kind.to_string(),
        plural: k.plural.to_string(),
    }
}

/// Create and replace record msws as the manager of what they write (an `Update` entry in
/// managedFields), so that a later conflict names msws.
fn post_params() -> PostParams {
    PostParams { dry_run: false, field_manager: Some(FIELD_MANAGER.to_string()) }
}

/// A name or namespace goes into the URL path as is: refuse what Kubernetes refuses in a name
/// anyway and what would change the path (`/`, `%`, `.`, `..`), rather than send it.
fn check_segment<'a>(what: &str, s: &'a str) -> Result<&'a str, ClusterError> {
    if s.is_empty() || s == "." || s == ".." || s.contains(['/', '%', '?', '#']) {
        return Err(ClusterError::Client(format!("{what} {s:?} cannot be used in a request path")));
    }
    Ok(s)
}

/// The kubeconfig files to read when none is named: every existing file `KUBECONFIG` lists, else
/// `~/.kube/config` if it exists. Missing files are skipped, as kubectl skips them; no file at all
/// means the in-cluster configuration.
fn kubeconfig_files() -> Vec<PathBuf> {
    match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        Some(list) => std::env::split_paths(&list).filter(|p| !p.as_os_str().is_empty() && p.is_file()).collect(),
        None => std::env::home_dir()
            .map(|home| home.join(".kube").join("config"))
            .filter(|p| p.is_file())
            .into_iter()
            .collect(),
    }
}

/// The configuration of `context` (or the current context) in the merged kubeconfig files.
async fn kubeconfig_config(files: &[PathBuf], context: Option<&str>) -> Result<(Config, String), ClusterError> {
    let shown = files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    let mut merged = Kubeconfig::default();
    for path in files {
        let file = Kubeconfig::read_from(path).map_err(|e| {
            ClusterError::Client(format!("cannot read the kubeconfig {}: {}", path.display(), chain(&e)))
        })?;
        merged = merged
            .merge(file)
            .map_err(|e| ClusterError::Client(format!("cannot merge the kubeconfig files {shown}: {}", chain(&e))))?;
    }
    let known = merged.contexts.iter().map(|c| c.name.as_str()).collect::<Vec<_>>();
    let known = if known.is_empty() { "it has none".to_string() } else { format!("it has {}", known.join(", ")) };
    let name = match context.map(str::to_string).or_else(|| merged.current_context.clone().filter(|c| !c.is_empty())) {
        Some(name) => name,
        None => {
            return Err(ClusterError::Client(format!(
                "the kubeconfig {shown} has no current context: name one with --context ({known})"
            )));
        }
    };
    if !merged.contexts.iter().any(|c| c.name == name) {
        return Err(ClusterError::Client(format!("no context \"{name}\" in the kubeconfig {shown} ({known})")));
    }
    let options = KubeConfigOptions { context: Some(name.clone()), ..KubeConfigOptions::default() };
    let config = Config::from_custom_kubeconfig(merged, &options)
        .await
        .map_err(|e| ClusterError::Client(format!("context \"{name}\" in the kubeconfig {shown}: {}", chain(&e))))?;
    let description = format!("context \"{name}\" ({})", server(&config));
    Ok((config, description))
}

/// The configuration of the pod msws runs in, when there is no kubeconfig.
fn in_cluster_config(context: Option<&str>) -> Result<(Config, String), ClusterError> {
    let missing = "no kubeconfig file (KUBECONFIG names none that exists, and there is no ~/.kube/config)";
    if let Some(name) = context {
        return Err(ClusterError::Client(format!("cannot use context \"{name}\": {missing}")));
    }
    let config = Config::incluster()
        .map_err(|e| ClusterError::Client(format!("{missing}, and not running inside a cluster: {}", chain(&e))))?;
    let description = format!("the in-cluster API server ({})", server(&config));
    Ok((config, description))
}

/// The API server's address, as a person writes it (no trailing `/`).
fn server(config: &Config) -> String {
    config.cluster_url.to_string().trim_end_matches('/').to_string()
}

/// An error and its sources, each once: kube wraps errors in layers that repeat their source.
fn chain(e: &dyn StdError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(e);
    while let Some(err) = current {
        let text = err.to_string();
        if !parts.last().is_some_and(|last| last.contains(&text)) {
            parts.push(text);
        }
        current = err.source();
    }
    parts.join(": ")
}

/// Whether a timeout anywhere under the client (connecting, reading, writing) caused the error.
fn timed_out(e: &(dyn StdError + 'static)) -> bool {
    let mut current = Some(e);
    while let Some(err) = current {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        if err.is::<tokio::time::error::Elapsed>() {
            return true;
        }
        current = err.source();
    }
    false
}
