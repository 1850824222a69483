//! Merged chart values → workspace nodes, one chart value at a time.
//!
//! Every key read is recorded. A key that is read as a whole (a label map, a scalar) is *taken*;
//! a mapping or list whose entries are read one by one is *visited*. After the translation, any
//! key of the values that was neither is unknown to msws, and is an error unless it equals the
//! chart's default at the same place. So a new chart key, or a typo, is never dropped silently.
//!
//! Values that only matter when a feature is on (`requester`, `tracing`, `autoscaling`,
//! `monitoring`, a role with `create: false`) are taken whole when the feature is off: the chart
//! ignores them then, and so does msws.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::emit::{KNode, KVal};
use super::{Problem, ProblemKind, Request};
use crate::model::{ACCELERATORS, ModelUri, Quantity};

pub struct Translated {
    pub header: Vec<String>,
    pub nodes: Vec<KNode>,
    pub problems: Vec<Problem>,
}

const TOP_KEYS: &[&str] = &[
    "common",
    "enabled",
    "global",
    "fullnameOverride",
    "nameOverride",
    "serviceAccountOverride",
    "schedulerName",
    "tracing",
    "modelArtifacts",
    "multinode",
    "accelerator",
    "requester",
    "routing",
    "decode",
    "prefill",
    "extraObjects",
];
const MODEL_KEYS: &[&str] =
    &["name", "labels", "uri", "size", "authSecretName", "mountPath", "readOnly", "imagePullPolicy"];
const ACCEL_KEYS: &[&str] = &["type", "dra", "resources", "env", "resourceClaimTemplates"];
const ROUTING_KEYS: &[&str] = &["servicePort", "proxy"];
const PROXY_KEYS: &[&str] = &[
    "enabled",
    "image",
    "imagePullPolicy",
    "targetPort",
    "connector",
    "secure",
    "prefillerUseTLS",
    "certPath",
    "zapDevel",
    "zapEncoder",
    "zapLogLevel",
    "zapStacktraceLevel",
    "zapTimeEncoding",
];
const ROLE_KEYS: &[&str] = &[
    "create",
    "subGroupExclusiveTopology",
    "autoscaling",
    "replicas",
    "strategy",
    "nodeSelector",
    "schedulerName",
    "priorityClassName",
    "parallelism",
    "accelerator",
    "resourceClaims",
    "containers",
    "volumes",
    "initContainers",
    "hostIPC",
    "hostPID",
    "enableServiceLinks",
    "terminationGracePeriodSeconds",
    "subGroupPolicy",
    "acceleratorTypes",
    "monitoring",
    "tolerations",
    "annotations",
    "podAnnotations",
    "imagePullSecrets",
    "podSecurityContext",
    "extraConfig",
];
const PARALLELISM_KEYS: &[&str] = &["tensor", "data", "dataLocal", "workers"];
const ROLE_ACCEL_KEYS: &[&str] = &["type", "dra"];
const CONTAINER_KEYS: &[&str] = &[
    "name",
    "image",
    "modelCommand",
    "command",
    "args",
    "env",
    "imagePullPolicy",
    "ports",
    "resources",
    "mountModelVolume",
    "volumeMounts",
    "securityContext",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "workingDir",
    "stdin",
    "tty",
    "extraConfig",
];
const INIT_CONTAINER_KEYS: &[&str] = &[
    "name",
    "image",
    "command",
    "args",
    "env",
    "imagePullPolicy",
    "ports",
    "resources",
    "volumeMounts",
    "securityContext",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "workingDir",
    "restartPolicy",
];
/// Fields of a Kubernetes container the language has no place for yet.
const K8S_CONTAINER_UNSUPPORTED: &[&str] = &[
    "envFrom",
    "lifecycle",
    "resizePolicy",
    "restartPolicyRules",
    "stdin",
    "stdinOnce",
    "tty",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "volumeDevices",
];
/// The msws proxy flags, their chart keys, and msws's defaults for them (a flag msws sets by
/// default must be dropped with `#null` when the chart's values do not set it).
const PROXY_FLAGS: &[(&str, &str, Option<&str>)] = &[
    ("zapDevel", "zap-devel", None),
    ("zapEncoder", "zap-encoder", Some("json")),
    ("zapLogLevel", "zap-log-level", Some("debug")),
    ("zapStacktraceLevel", "zap-stacktrace-level", None),
    ("zapTimeEncoding", "zap-time-encoding", None),
    ("secure", "secure", Some("false")),
    ("prefillerUseTLS", "prefiller-use-tls", None),
    ("certPath", "cert-path", None),
];

/// msws's defaults that equal the chart's (so equal values need no output).
const PROXY_IMAGE: &str = "ghcr.io/llm-d/llm-d-routing-sidecar:latest";
const MOUNT_PATH: &str = "/model-cache";

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Seg {
    Key(String),
    Idx(usize),
}

/// `a.b[0].c`, with keys that are not plain written as `["llm-d.ai/model"]`.
fn display(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs {
        match s {
            Seg::Key(k) => out = path_join(&out, k),
            Seg::Idx(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Appends a key to a displayed path.
pub fn path_join(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

/// A place in the values: its value (if any) and its path.
#[derive(Clone)]
struct At<'v> {
    v: Option<&'v Value>,
    segs: Vec<Seg>,
}

impl<'v> At<'v> {
    fn key(&self, k: &str) -> At<'v> {
        let mut segs = self.segs.clone();
        segs.push(Seg::Key(k.to_string()));
        At { v: self.v.and_then(|v| v.get(k)), segs }
    }
    fn idx(&self, i: usize) -> At<'v> {
        let mut segs = self.segs.clone();
        segs.push(Seg::Idx(i));
        At { v: self.v.and_then(|v| v.get(i)), segs }
    }
    fn path(&self) -> String {
        display(&self.segs)
    }
    /// The value, unless absent or null.
    fn get(&self) -> Option<&'v Value> {
        self.v.filter(|v| !v.is_null())
    }
    fn has(&self) -> bool {
        self.get().is_some()
    }
}

/// Go template truthiness, which the chart's `if` and `with` use: false, 0, "", null and empty
/// collections are false.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(m)) => !m.is_empty(),
    }
}

/// A scalar as the chart's templates print it.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        }),
        _ => None,
    }
}

struct Cx<'v> {
    defaults: &'v Value,
    visited: HashSet<Vec<Seg>>,
    taken: HashSet<Vec<Seg>>,
    known: HashMap<Vec<Seg>, Vec<&'static str>>,
    problems: Vec<Problem>,
}

impl<'v> Cx<'v> {
    /// Records the place, and every place above it, as visited.
    fn mark_visited(&mut self, segs: &[Seg]) {
        for n in 0..=segs.len() {
            self.visited.insert(segs[..n].to_vec());
        }
    }

    /// Records the place as read whole and returns its value (unless null).
    fn take(&mut self, at: &At<'v>) -> Option<&'v Value> {
        if let Some((_, parents)) = at.segs.split_last() {
            self.mark_visited(parents);
        }
        self.taken.insert(at.segs.clone());
        at.get()
    }

    /// A mapping whose keys are read one by one (`known` are the keys it may have, for "did you
    /// mean"). `None` when absent; a problem when it is not a mapping.
    fn visit(&mut self, at: &At<'v>, known: &[&'static str]) -> Option<&'v Map<String, Value>> {
        match at.get() {
            None => {
                self.take(at);
                None
            }
            Some(Value::Object(m)) => {
                self.mark_visited(&at.segs);
                self.known.entry(at.segs.clone()).or_default().extend_from_slice(known);
                Some(m)
            }
            Some(other) => {
                self.take(at);
                self.wrong_type(at, "a mapping", other);
                None
            }
        }
    }

    /// The elements of a list, each to be read.
    fn items(&mut self, at: &At<'v>) -> Vec<At<'v>> {
        match at.get() {
            None => {
                self.take(at);
                Vec::new()
            }
            Some(Value::Array(a)) => {
                self.mark_visited(&at.segs);
                (0..a.len()).map(|i| at.idx(i)).collect()
            }
            Some(other) => {
                self.take(at);
                self.wrong_type(at, "a list", other);
                Vec::new()
            }
        }
    }

    fn wrong_type(&mut self, at: &At<'v>, expected: &str, found: &Value) {
        self.invalid(at, format!("expected {expected}, found a {}", super::values::kind(found)));
    }

    fn invalid(&mut self, at: &At<'v>, detail: impl Into<String>) {
        self.problems.push(Problem { kind: ProblemKind::Invalid, key: at.path(), detail: detail.into() });
    }

    /// A scalar as a string.
    fn string(&mut self, at: &At<'v>) -> Option<String> {
        let v = self.take(at)?;
        match scalar_text(v) {
            Some(s) => Some(s),
            None => {
                self.wrong_type(at, "a string", v);
                None
            }
        }
    }

    /// A non-empty string (the chart's `with` and `if` skip empty ones).
    fn text(&mut self, at: &At<'v>) -> Option<String> {
        self.string(at).filter(|s| !s.is_empty())
    }

    fn int(&mut self, at: &At<'v>) -> Option<i64> {
        let v = self.take(at)?;
        let i = match v {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        if i.is_none() {
            self.invalid(at, format!("expected a whole number, found `{}`", compact(v)));
        }
        i
    }

    fn int_in(&mut self, at: &At<'v>, min: i64, max: i64) -> Option<i64> {
        let i = self.int(at)?;
        if i < min || i > max {
            self.invalid(at, format!("{i} is out of range ({min} to {max})"));
            return None;
        }
        Some(i)
    }

    fn bool(&mut self, at: &At<'v>) -> Option<bool> {
        let v = self.take(at)?;
        match v {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" || s == "false" => Some(s == "true"),
            _ => {
                self.invalid(at, format!("expected true or false, found `{}`", compact(v)));
                None
            }
        }
    }

    /// A mapping of strings (labels, annotations, a node selector), in the order written.
    fn string_map(&mut self, at: &At<'v>) -> Vec<(String, String)> {
        let Some(v) = self.take(at) else { return Vec::new() };
        let Value::Object(m) = v else {
            self.wrong_type(at, "a mapping", v);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in m {
            match scalar_text(v) {
                Some(s) => out.push((k.clone(), s)),
                None if v.is_null() => {}
                None => self.wrong_type(&at.key(k), "a string", v),
            }
        }
        out
    }

    /// A list of strings (command, args).
    fn string_list(&mut self, at: &At<'v>) -> Vec<String> {
        let Some(v) = self.take(at) else { return Vec::new() };
        let Value::Array(a) = v else {
            self.wrong_type(at, "a list", v);
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in a.iter().enumerate() {
            match scalar_text(item) {
                Some(s) => out.push(s),
                None => self.wrong_type(&at.idx(i), "a string", item),
            }
        }
        out
    }

    /// A Kubernetes quantity (`16`, `"16Gi"`, `0.5`).
    fn quantity(&mut self, at: &At<'v>) -> Option<String> {
        let s = self.string(at)?;
        match Quantity::parse(&s) {
            Ok(_) => Some(s),
            Err(e) => {
                self.invalid(at, e);
                None
            }
        }
    }

    /// After the translation: every key nobody read, unless it holds the chart's default.
    fn unknown_keys(&mut self, v: &Value, segs: &mut Vec<Seg>) {
        if self.taken.contains(segs.as_slice()) {
            return;
        }
        if self.visited.contains(segs.as_slice()) {
            match v {
                Value::Object(m) => {
                    for (k, c) in m {
                        segs.push(Seg::Key(k.clone()));
                        self.unknown_keys(c, segs);
                        segs.pop();
                    }
                }
                Value::Array(a) => {
                    for (i, c) in a.iter().enumerate() {
                        segs.push(Seg::Idx(i));
                        self.unknown_keys(c, segs);
                        segs.pop();
                    }
                }
                _ => {}
            }
            return;
        }
        if default_at(self.defaults, segs) == Some(v) {
            return;
        }
        let detail = match (segs.split_last(), segs.last()) {
            (Some((_, parent)), Some(Seg::Key(k))) => self
                .known
                .get(parent)
                .and_then(|known| crate::diag::did_you_mean(k, known.iter().copied()))
                .map(|m| format!("did you mean `{m}`?"))
                .unwrap_or_default(),
            _ => String::new(),
        };
        self.problems.push(Problem { kind: ProblemKind::Unknown, key: display(segs), detail });
    }
}

fn default_at<'d>(defaults: &'d Value, segs: &[Seg]) -> Option<&'d Value> {
    let mut v = defaults;
    for s in segs {
        v = match s {
            Seg::Key(k) => v.get(k)?,
            Seg::Idx(i) => v.get(*i)?,
        };
    }
    Some(v)
}

/// A value in one line, for messages.
fn compact(v: &Value) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    if s.chars().count() > 60 { format!("{}…", s.chars().take(60).collect::<String>()) } else { s }
}

/// The service-wide facts roles need.
struct Service<'v> {
    accelerator: At<'v>,
    accel_type: String,
    accel_dra: bool,
    scheduler_name: Option<String>,
    /// Roles are LeaderWorkerSets (`multinode: true`).
    multinode: bool,
    /// The decode role's `requester` node, when the chart renders the requester.
    requester: Option<KNode>,
    /// The routing proxy runs as an init container of decode pods.
    proxy: bool,
}

pub fn translate(root: &Value, defaults: &Value, req: &Request) -> Translated {
    let mut cx =
        Cx { defaults, visited: HashSet::new(), taken: HashSet::new(), known: HashMap::new(), problems: Vec::new() };
    let top = At { v: Some(root), segs: Vec::new() };
    cx.visit(&top, TOP_KEYS);

    // Settings that change nothing the chart renders on its own: `enabled` switches the chart
    // off as a parent chart's dependency; `global` holds values for parent and sibling charts.
    cx.take(&top.key("enabled"));
    cx.take(&top.key("global"));
    // Values for the Bitnami common library chart: its only helper the chart uses
    // (`common.tplvalues.render`) does not read them, so they render nothing by themselves
    // (templates in other values may read them, and were rendered with them).
    cx.take(&top.key("common"));
    let multinode = cx.bool(&top.key("multinode")) == Some(true);

    // Names.
    let name_override = cx.text(&top.key("nameOverride"));
    let fullname_override = cx.text(&top.key("fullnameOverride"));
    let fullname = super::fullname(&req.release, name_override.as_deref(), fullname_override.as_deref());
    if let Err(why) = crate::lower::check_dns_subdomain(&fullname, 63) {
        let at = if fullname_override.is_some() { top.key("fullnameOverride") } else { top.key("nameOverride") };
        cx.invalid(&at, format!("the objects would be named `{fullname}`, which is not a valid name: {why}"));
    }
    let name = super::dns_label(&req.release, 63);
    let name = if name.is_empty() { "modelservice".to_string() } else { name };

    let mut ws = KNode::new("workspace").arg(name.as_str()).prop("format", crate::model::CURRENT_FORMAT as i64);
    if let Some(ns) = &req.namespace {
        ws.push(KNode::new("namespace").arg(ns.as_str()));
    }
    let mut nodes = vec![ws];
    let mut svc = KNode::new("model-service").arg(name.as_str());
    svc.push(KNode::new("fullname").arg(fullname.as_str()));

    // The model.
    let ma = top.key("modelArtifacts");
    cx.visit(&ma, MODEL_KEYS);
    let served_name = cx.text(&ma.key("name"));
    let labels = cx.string_map(&ma.key("labels"));
    if labels.iter().any(|(k, _)| k == "llm-d.ai/role") {
        cx.invalid(
            &ma.key("labels").key("llm-d.ai/role"),
            "the role label is the chart's (and msws's) own, set on each role's pods; remove it",
        );
    }
    let uri_at = ma.key("uri");
    let uri = match cx.text(&uri_at) {
        None => {
            cx.invalid(&uri_at, "the model's URI is not set");
            None
        }
        Some(raw) => match ModelUri::parse(&unquote_uri(&raw)) {
            Ok(uri) => Some(uri),
            Err(e) => {
                cx.invalid(&uri_at, format!("{} ({})", e.message, e.help));
                None
            }
        },
    };
    let size = cx.quantity(&ma.key("size"));
    let secret = cx.text(&ma.key("authSecretName"));
    let mount_path = cx.string(&ma.key("mountPath"));
    let read_only = cx.bool(&ma.key("readOnly"));
    // The pull policy of an oci:// model's image volume (other schemes have no image).
    let model_pull_policy = cx.text(&ma.key("imagePullPolicy"));

    if let Some(uri) = &uri {
        let mut node = KNode::new("uri").arg(uri.to_string());
        if let (ModelUri::Oci { .. }, Some(p)) = (uri, &model_pull_policy)
            && p != "Always"
        {
            if ["IfNotPresent", "Never"].contains(&p.as_str()) {
                node = node.prop("pull-policy", p.as_str());
            } else {
                cx.invalid(
                    &ma.key("imagePullPolicy"),
                    format!("`{p}` is not a pull policy (Always, IfNotPresent, Never)"),
                );
            }
        }
        if let ModelUri::Pvc { claim, path } = uri
            && path.is_empty()
        {
            node = node.comment(format!(
                "The chart would serve `{MOUNT_PATH}/{claim}` here (a chart quirk); msws serves the claim's root."
            ));
        }
        svc.push(node);
        if let Some(claim) = uri.claim() {
            nodes.push(
                KNode::new("storage")
                    .arg(claim)
                    .prop("existing", true)
                    .comment("The claim of modelArtifacts.uri, which msws does not own. Its access mode is assumed:")
                    .comment(
                        "the values do not say it; write the claim's real one (ReadWriteOnce limits it to one node).",
                    )
                    .child(KNode::new("access").arg("ReadWriteMany")),
            );
        }
    }
    if let Some(n) = &served_name {
        svc.push(KNode::new("served-name").arg(n.as_str()));
    }
    // The size is the `emptyDir` of an hf:// model; for other schemes the chart does not use it,
    // and msws only checks it against claim sizes, so the chart's placeholder default is left out.
    let size_used = matches!(uri, Some(ModelUri::Hf { .. }));
    if let Some(size) = size
        && (size_used || ma.key("size").get() != default_at(defaults, &ma.key("size").segs))
    {
        svc.push(KNode::new("model-size").arg(size));
    }
    match mount_path.as_deref() {
        Some(p) if p != MOUNT_PATH => svc.push(KNode::new("mount-path").arg(p)),
        Some(_) => {}
        None => cx.invalid(&ma.key("mountPath"), "the model's mount path is not set"),
    }
    if read_only == Some(false) && uri.as_ref().and_then(ModelUri::claim).is_some() {
        svc.push(KNode::new("read-only").arg(false));
    }
    if let Some(s) = &secret {
        svc.push(KNode::new("token").prop("secret", s.as_str()).prop("key", "HF_TOKEN"));
        nodes.push(KNode::new("secret").arg(s.as_str()).prop("existing", true).comment(
            "modelArtifacts.authSecretName: a Secret already in the namespace, with the token under HF_TOKEN.",
        ));
    }
    if let Some(sa) = cx.text(&top.key("serviceAccountOverride")) {
        svc.push(KNode::new("service-account").arg(sa));
    }
    let mut labels_node = KNode::new("labels");
    for (k, v) in &labels {
        labels_node.push(KNode::new(k).arg(v.as_str()));
    }
    svc.push(labels_node);

    // The accelerator.
    let acc = top.key("accelerator");
    cx.visit(&acc, ACCEL_KEYS);
    let accel_type = cx.text(&acc.key("type")).unwrap_or_else(|| "nvidia".into());
    let accel_dra = truthy(cx.take(&acc.key("dra")));
    // Read for the types in use only (below); entries for other types change nothing.
    cx.take(&acc.key("resources"));
    cx.take(&acc.key("resourceClaimTemplates"));
    cx.take(&acc.key("env"));
    if accel_type != "nvidia"
        || accel_dra
        || resource_override(&acc, &accel_type).is_some()
        || env_override(&mut cx, &acc, &accel_type).is_some()
    {
        svc.push(accelerator_node(&mut cx, &acc, &accel_type, accel_dra));
    }

    // Routing.
    let routing = top.key("routing");
    cx.visit(&routing, ROUTING_KEYS);
    if let Some(r) = routing_node(&mut cx, &routing) {
        svc.push(r);
    }

    if let Some(t) = tracing_node(&mut cx, &top.key("tracing")) {
        svc.push(t);
    }

    let decode_created = truthy(top.key("decode").key("create").get());
    let requester = requester_node(&mut cx, &top.key("requester"), decode_created && !multinode);
    let service = Service {
        accelerator: acc.clone(),
        accel_type,
        accel_dra,
        scheduler_name: cx.text(&top.key("schedulerName")),
        multinode,
        requester,
        proxy: truthy(top.key("routing").key("proxy").key("enabled").get()),
    };
    let mut roles = 0;
    for kind in ["decode", "prefill"] {
        if let Some(r) = role(&mut cx, &top.key(kind), kind, &service) {
            roles += 1;
            svc.push(r);
        }
    }
    let release_ns = req.namespace.clone().unwrap_or_else(|| "default".into());
    for o in cx.items(&top.key("extraObjects")) {
        if let Some(n) = extra_object(&mut cx, &o, &release_ns) {
            svc.push(n);
        }
    }
    if roles == 0 {
        svc.comments.push(
            "The values create neither decode nor prefill: as with the chart, only the ServiceAccount (and objects) are applied."
                .into(),
        );
    }
    nodes.push(svc);

    cx.unknown_keys(root, &mut Vec::new());

    let mut from: Vec<String> = req.files.iter().map(|f| f.name.clone()).collect();
    let sets = req.sets.len() + req.set_strings.len();
    if sets > 0 {
        from.push(format!("{sets} --set value{}", if sets == 1 { "" } else { "s" }));
    }
    let header = vec![
        format!("Imported by `msws import-values` from {}.", from.join(", ")),
        format!(
            "Release `{}` of the {} chart {}: objects are named as the chart names them.",
            req.release,
            super::CHART_NAME,
            super::CHART_VERSION
        ),
    ];
    Translated { header, nodes, problems: cx.problems }
}

/// `hf://"org/model"` (what `hf://"{{ .Values.modelArtifacts.name }}"` renders to) is read by the
/// chart's templates as YAML, which drops the quotes: so does msws.
fn unquote_uri(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else { return raw.to_string() };
    let quoted = rest.len() >= 2
        && ((rest.starts_with('"') && rest.ends_with('"')) || (rest.starts_with('\'') && rest.ends_with('\'')));
    if quoted && let Ok(s) = serde_yaml_ng::from_str::<String>(rest) {
        return format!("{scheme}://{s}");
    }
    raw.to_string()
}

/// The device resource the chart uses for a type: `accelerator.resources[type]`, else
/// `nvidia.com/gpu` (the chart's fallback); none for `cpu`.
fn chart_resource(acc: &At, kind: &str) -> Option<String> {
    if kind == "cpu" {
        return None;
    }
    Some(acc.key("resources").key(kind).get().and_then(scalar_text).unwrap_or_else(|| "nvidia.com/gpu".into()))
}

/// `resource=` for an accelerator node, when the chart's resource differs from msws's own.
fn resource_override(acc: &At, kind: &str) -> Option<String> {
    let chart = chart_resource(acc, kind);
    let msws = ACCELERATORS.iter().find(|(k, _)| *k == kind).map(|(_, r)| r.map(str::to_string));
    match msws {
        Some(builtin) if builtin == chart => None,
        _ => chart,
    }
}

/// `accelerator "type" resource=… dra=#true` (or a `dra` child when the claim template is not
/// msws's default).
fn accelerator_node<'v>(cx: &mut Cx<'v>, acc: &At<'v>, kind: &str, dra: bool) -> KNode {
    let mut node = KNode::new("accelerator").arg(kind);
    if let Some(r) = resource_override(acc, kind) {
        node = node.prop("resource", r);
    }
    if let Some(env) = env_override(cx, acc, kind) {
        node = node.prop("default-env", false);
        for (k, v) in env {
            node.push(KNode::new("env").arg(k).arg(v));
        }
    }
    if !dra {
        return node;
    }
    let templates = acc.key("resourceClaimTemplates");
    let t = templates.key(kind);
    let Some(Value::Object(m)) = t.get() else {
        cx.invalid(
            &t,
            format!("DRA is on for `{kind}`, but there is no claim template for it (its device class is unknown)"),
        );
        return node;
    };
    let (def_template, def_class) = crate::model::dra_defaults(kind);
    let mut d = KNode::new("dra");
    let name = m
        .get("name")
        .and_then(scalar_text)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("{kind}-claim-template"));
    if name != def_template {
        d = d.prop("template", name);
    }
    match m.get("class").and_then(scalar_text).filter(|s| !s.is_empty()) {
        Some(c) if c != def_class => d = d.prop("class", c),
        Some(_) => {}
        None => cx.invalid(&t.key("class"), "the claim template has no device class"),
    }
    match m.get("match").and_then(scalar_text).as_deref() {
        None | Some("exactly") => {}
        Some(other) => cx.invalid(
            &t.key("match"),
            format!(
                "the chart would render the device request with a field `{other}:`, which Kubernetes refuses (a request is `exactly`, or `firstAvailable` sub-requests, which the chart cannot render)"
            ),
        ),
    }
    if let Some(c) = m.get("count").filter(|c| !c.is_null()) {
        match c.as_i64().or_else(|| c.as_str().and_then(|s| s.parse().ok())) {
            Some(n) if n >= 1 => d = d.prop("count", n),
            _ => cx.invalid(&t.key("count"), format!("expected a count of devices, found `{}`", compact(c))),
        }
    }
    // Device selectors: CEL expressions, the only kind a device request has.
    if let Some(Value::Array(sels)) = m.get("selectors") {
        for (i, sel) in sels.iter().enumerate() {
            match sel.pointer("/cel/expression").and_then(Value::as_str) {
                Some(e) if sel.as_object().is_some_and(|o| o.len() == 1) => {
                    d.push(KNode::new("selector").arg(e));
                }
                _ => cx.invalid(
                    &t.key("selectors").idx(i),
                    "a device selector is `cel: {expression: \"…\"}` (Kubernetes knows no other)",
                ),
            }
        }
    } else if truthy(m.get("selectors")) {
        cx.invalid(&t.key("selectors"), "expected a list of device selectors");
    }
    for k in m.keys().filter(|k| !["name", "class", "match", "count", "selectors"].contains(&k.as_str())) {
        cx.problems.push(Problem { kind: ProblemKind::Unknown, key: t.key(k).path(), detail: String::new() });
    }
    if d.props.is_empty() && d.children.is_empty() { node.prop("dra", true) } else { node.child(d) }
}

/// The chart's environment for an accelerator type (`accelerator.env[type]`), when it is not
/// msws's default for the type: `(name, value)` pairs.
fn env_override<'v>(cx: &mut Cx<'v>, acc: &At<'v>, kind: &str) -> Option<Vec<(String, String)>> {
    if kind == "cpu" {
        return None;
    }
    let at = acc.key("env").key(kind);
    let mut chart = Vec::new();
    if let Some(Value::Array(items)) = at.get() {
        for (i, item) in items.iter().enumerate() {
            let name = item.get("name").and_then(scalar_text).filter(|n| !n.is_empty());
            let value = item.get("value").map(|v| scalar_text(v).unwrap_or_default()).unwrap_or_default();
            match name {
                Some(n) => chart.push((n, value)),
                None => cx.invalid(&at.idx(i).key("name"), "an environment variable needs a name"),
            }
        }
    }
    (chart != crate::model::accelerator_env(kind)).then_some(chart)
}

/// `tracing …` when the chart's tracing is on, with the settings that are not the chart's
/// defaults.
fn tracing_node<'v>(cx: &mut Cx<'v>, at: &At<'v>) -> Option<KNode> {
    let on = truthy(at.key("enabled").get());
    if !on {
        // Inert while off.
        cx.take(at);
        return None;
    }
    cx.visit(at, &["enabled", "otlpEndpoint", "sampling", "serviceNames", "vllm"]);
    cx.take(&at.key("enabled"));
    let mut n = KNode::new("tracing");
    let sampling = at.key("sampling");
    let names = at.key("serviceNames");
    let vllm = at.key("vllm");
    cx.visit(&sampling, &["sampler", "samplerArg"]);
    cx.visit(&names, &["vllmDecode", "vllmPrefill", "routingProxy"]);
    cx.visit(&vllm, &["collectDetailedTraces"]);
    for (place, prop, default) in [
        (at.key("otlpEndpoint"), "endpoint", "http://otel-collector:4317"),
        (sampling.key("sampler"), "sampler", "parentbased_traceidratio"),
        (sampling.key("samplerArg"), "sampler-arg", "1.0"),
        (names.key("vllmDecode"), "decode-service", "vllm-decode"),
        (names.key("vllmPrefill"), "prefill-service", "vllm-prefill"),
        (names.key("routingProxy"), "proxy-service", "routing-proxy"),
        (vllm.key("collectDetailedTraces"), "detailed-traces", "all"),
    ] {
        let v = cx.string(&place).unwrap_or_default();
        if v != default {
            n = n.prop(prop, v);
        }
    }
    Some(n)
}

/// The decode role's `requester …` node, when the chart renders the requester (`requester.enable`
/// with a single-node decode role): its settings that are not the chart's defaults.
fn requester_node<'v>(cx: &mut Cx<'v>, at: &At<'v>, rendered: bool) -> Option<KNode> {
    if !truthy(at.key("enable").get()) || !rendered {
        cx.take(at);
        return None;
    }
    cx.visit(at, &["enable", "image", "adminPort", "port", "readinessProbe", "resources"]);
    cx.take(&at.key("enable"));
    let mut n = KNode::new("requester");
    match cx.text(&at.key("image")) {
        Some(i) if i != "ghcr.io/llm-d-incubation/llm-d-fast-model-actuation/requester:latest" => {
            n = n.prop("image", i)
        }
        Some(_) => {}
        None => cx.invalid(&at.key("image"), "the requester needs an image"),
    }
    let port = at.key("port");
    cx.visit(&port, &["probes", "spi"]);
    for (place, prop, default) in [
        (at.key("adminPort"), "admin-port", 8081),
        (port.key("probes"), "probes-port", 8080),
        (port.key("spi"), "spi-port", 8081),
    ] {
        if let Some(p) = cx.int_in(&place, 1, 65535)
            && p != default
        {
            n = n.prop(prop, p);
        }
    }
    let probe = at.key("readinessProbe");
    cx.visit(&probe, &["initialDelaySeconds", "periodSeconds"]);
    for (place, prop, default) in
        [(probe.key("initialDelaySeconds"), "initial-delay", 2), (probe.key("periodSeconds"), "period", 5)]
    {
        if let Some(s) = cx.int_in(&place, 0, i64::from(i32::MAX))
            && s != default
        {
            n = n.prop(prop, s);
        }
    }
    let res = at.key("resources");
    cx.visit(&res, &["limits"]);
    let limits = res.key("limits");
    cx.visit(&limits, &["gpus", "cpus", "memory"]);
    for (key, prop, default) in [("gpus", "gpus", "1"), ("cpus", "cpus", "1"), ("memory", "memory", "250Mi")] {
        if let Some(q) = cx.quantity(&limits.key(key))
            && q != default
        {
            n = n.prop(prop, q);
        }
    }
    Some(n)
}

/// One of `extraObjects`, rendered (templates included), as an `object { … }`.
fn extra_object<'v>(cx: &mut Cx<'v>, at: &At<'v>, release_ns: &str) -> Option<KNode> {
    let v = cx.take(at)?;
    let Value::Object(m) = v else {
        cx.wrong_type(at, "an object (a Kubernetes manifest)", v);
        return None;
    };
    if m.is_empty() {
        return None;
    }
    // The release's namespace (`{{ .Release.Namespace }}`, or the same name written out) is the
    // workspace's: the object goes there without naming it.
    let mut m = m.clone();
    if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut)
        && meta.get("namespace").and_then(Value::as_str) == Some(release_ns)
    {
        meta.remove("namespace");
    }
    Some(KNode::raw_block("object", &crate::lower::raw::write_object(&m)))
}

/// `routing service-port=… { proxy … }`, or nothing when every value is the chart's default.
fn routing_node<'v>(cx: &mut Cx<'v>, routing: &At<'v>) -> Option<KNode> {
    let mut node = KNode::new("routing");
    if let Some(p) = cx.int_in(&routing.key("servicePort"), 1, 65535)
        && p != 8000
    {
        node = node.prop("service-port", p);
    }
    let proxy_at = routing.key("proxy");
    cx.visit(&proxy_at, PROXY_KEYS);
    let mut p = KNode::new("proxy");
    let enabled = match cx.bool(&proxy_at.key("enabled")) {
        Some(e) => e,
        None => {
            cx.invalid(&proxy_at.key("enabled"), "must be true or false");
            true
        }
    };
    if !enabled {
        // Nothing else of the proxy matters without it.
        cx.take(&proxy_at);
        p = p.prop("enabled", false);
    } else {
        match cx.text(&proxy_at.key("image")) {
            Some(i) if i != PROXY_IMAGE => p = p.prop("image", i),
            Some(_) => {}
            None => cx.invalid(&proxy_at.key("image"), "the routing proxy has no image (the chart requires one)"),
        }
        if let Some(pp) = cx.text(&proxy_at.key("imagePullPolicy"))
            && pp != "Always"
        {
            p = p.prop("pull-policy", pp);
        }
        if let Some(t) = cx.int_in(&proxy_at.key("targetPort"), 1, 65535)
            && t != 8200
        {
            p = p.prop("target-port", t);
        }
        if let Some(c) = cx.text(&proxy_at.key("connector"))
            && c != "nixlv2"
        {
            p = p.prop("connector", c);
        }
        for (key, prop, msws_default) in PROXY_FLAGS {
            let at = proxy_at.key(key);
            // The chart adds a flag when its key is there (`hasKey`); a null is no key.
            match (cx.take(&at), msws_default) {
                (Some(v), default) => {
                    let Some(text) = scalar_text(v) else {
                        cx.wrong_type(&at, "a flag value", v);
                        continue;
                    };
                    if Some(text.as_str()) != *default {
                        let kval = match v {
                            Value::Bool(b) => KVal::Bool(*b),
                            Value::Number(n) if n.is_i64() || n.is_u64() => KVal::Int(n.as_i64().unwrap_or_default()),
                            _ => KVal::Str(text),
                        };
                        p = p.prop(prop, kval);
                    }
                }
                (_, Some(_)) => p = p.prop(prop, KVal::Null),
                (_, None) => {}
            }
        }
    }
    if !p.props.is_empty() {
        node = node.child(p);
    }
    (!node.props.is_empty() || !node.children.is_empty()).then_some(node)
}

/// A `decode` or `prefill` role, or `None` when the chart does not create it.
fn role<'v>(cx: &mut Cx<'v>, at: &At<'v>, kind: &str, svc: &Service<'v>) -> Option<KNode> {
    let m = cx.visit(at, ROLE_KEYS)?;
    if !truthy(cx.take(&at.key("create"))) {
        // The chart renders nothing of the role; its settings are inert.
        cx.take(at);
        return None;
    }
    let at_default = default_at(cx.defaults, &at.segs) == at.get();
    let mut node = KNode::new(kind);
    if at_default {
        node = node.comment(format!("The chart's default {kind} role, which the values leave as it is."));
    }
    // Autoscaling: an autoscaler owns the replica count (the chart leaves it out of a
    // LeaderWorkerSet; msws leaves it out of a Deployment too, or every apply would undo the
    // autoscaler's count).
    let autoscaling = at.key("autoscaling");
    let autoscaled = truthy(autoscaling.key("enabled").get());
    cx.take(&autoscaling);
    if autoscaled {
        node = node.prop("autoscaled", true);
    }
    let monitoring = at.key("monitoring");
    if let Some(pm) = pod_monitor(cx, &monitoring) {
        node.push(pm);
    }

    // `replicas` is 1 when the key is absent (the chart's `ternary … (hasKey …)`).
    let mut requester_replicas = None;
    if autoscaled {
        // Not the Deployment's (the autoscaler owns it), but still the requesters' count.
        if m.contains_key("replicas")
            && let Some(r) = cx.int_in(&at.key("replicas"), 0, i64::from(i32::MAX))
            && r != 1
        {
            requester_replicas = Some(r);
        }
        cx.take(&at.key("replicas"));
    } else if m.contains_key("replicas")
        && let Some(r) = cx.int_in(&at.key("replicas"), 0, i64::from(i32::MAX))
        && r != 1
    {
        node = node.prop("replicas", r);
    }
    if kind == "decode"
        && let Some(r) = &svc.requester
    {
        let mut r = r.clone();
        if let Some(n) = requester_replicas {
            r = r.prop("replicas", n);
        }
        node.push(r);
    }

    // A LeaderWorkerSet's own settings; the chart reads them only with `multinode`.
    let mut pod_fields: Map<String, Value> = Map::new();
    if svc.multinode {
        let mut mn = KNode::new("multinode");
        let policy = at.key("subGroupPolicy");
        if let Some(pm) = cx.visit(&policy, &["subGroupSize", "type"]) {
            if pm.contains_key("subGroupSize")
                && let Some(n) = cx.int_in(&policy.key("subGroupSize"), 1, i64::from(i32::MAX))
            {
                mn = mn.prop("subgroup-size", n);
            }
            if let Some(t) = cx.text(&policy.key("type")) {
                if ["LeaderWorker", "LeaderExcluded"].contains(&t.as_str()) {
                    mn = mn.prop("subgroup-type", t);
                } else {
                    cx.invalid(
                        &policy.key("type"),
                        format!("`{t}` is not a subgroup type (LeaderWorker, LeaderExcluded)"),
                    );
                }
            }
        }
        if truthy(cx.take(&at.key("subGroupExclusiveTopology"))) {
            mn = mn.prop("exclusive-topology", true);
        }
        node.push(mn);
        for key in ["hostIPC", "hostPID"] {
            if m.contains_key(key)
                && let Some(b) = cx.bool(&at.key(key))
            {
                pod_fields.insert(key.into(), Value::Bool(b));
            }
        }
    } else {
        for key in ["subGroupPolicy", "subGroupExclusiveTopology", "hostIPC", "hostPID"] {
            cx.take(&at.key(key));
        }
    }
    if let Some(psc) = cx.take(&at.key("podSecurityContext")).filter(|v| truthy(Some(v))) {
        pod_fields.insert("securityContext".into(), psc.clone());
    }
    if let Some(p) = parallelism(cx, &at.key("parallelism")) {
        node.push(p);
    }

    // A role's own accelerator, when it differs from the service's.
    let ra = at.key("accelerator");
    cx.visit(&ra, ROLE_ACCEL_KEYS);
    let r_type = cx.text(&ra.key("type")).unwrap_or_else(|| svc.accel_type.clone());
    let r_dra = match ra.key("dra").get() {
        Some(_) => truthy(cx.take(&ra.key("dra"))),
        None => {
            cx.take(&ra.key("dra"));
            svc.accel_dra
        }
    };
    if r_type != svc.accel_type || r_dra != svc.accel_dra {
        node.push(accelerator_node(cx, &svc.accelerator, &r_type, r_dra));
    }

    // The chart gives every container of the role the pod's resource claims.
    let mut pod_claims = Vec::new();
    let mut claim_nodes = Vec::new();
    for rc in cx.items(&at.key("resourceClaims")) {
        if cx.visit(&rc, &["name", "resourceClaimTemplateName", "resourceClaimName"]).is_none() {
            continue;
        }
        let name = cx.text(&rc.key("name"));
        let template = cx.text(&rc.key("resourceClaimTemplateName"));
        let claim = cx.text(&rc.key("resourceClaimName"));
        let Some(n) = name else {
            cx.invalid(&rc.key("name"), "a resource claim needs a name");
            continue;
        };
        let node = match (template, claim) {
            (Some(t), None) => KNode::new("resource-claim").arg(n.as_str()).prop("template", t),
            (None, Some(_)) => {
                cx.invalid(
                    &rc.key("resourceClaimTemplateName"),
                    "the chart's values schema requires a template (Helm refuses a claim without one): write `resource-claim \"…\" claim=\"…\"` in the workspace to share an existing ResourceClaim",
                );
                continue;
            }
            (Some(_), Some(_)) => {
                cx.invalid(&rc, "a pod resource claim names a template or a claim, not both (Kubernetes refuses it)");
                continue;
            }
            (None, None) => {
                cx.invalid(&rc.key("resourceClaimTemplateName"), "a resource claim needs a template or a claim");
                continue;
            }
        };
        pod_claims.push(n);
        claim_nodes.push(node);
    }
    for c in cx.items(&at.key("containers")) {
        if let Some(n) = container(cx, &c, false, &pod_claims) {
            node.push(n);
        }
    }
    if !at.key("containers").get().is_some_and(|c| truthy(Some(c))) {
        cx.invalid(&at.key("containers"), format!("the {kind} role has no container"));
    }
    for c in cx.items(&at.key("initContainers")) {
        if let Some(n) = container(cx, &c, true, &[]) {
            node.push(n);
        }
    }
    for v in cx.items(&at.key("volumes")) {
        if let Some(n) = volume(cx, &v) {
            node.push(n);
        }
    }
    if let Some(s) = strategy(cx, &at.key("strategy")) {
        node.push(s);
    }
    let selector = cx.string_map(&at.key("nodeSelector"));
    if !selector.is_empty() {
        node.push(map_node("node-selector", &selector));
    }
    if let Some(a) = accelerator_types(cx, &at.key("acceleratorTypes")) {
        node.push(a);
    }
    for t in cx.items(&at.key("tolerations")) {
        if let Some(n) = toleration(cx, &t) {
            node.push(n);
        }
    }
    let annotations = cx.string_map(&at.key("annotations"));
    if !annotations.is_empty() {
        node.push(map_node("annotations", &annotations));
    }
    let pod_annotations = cx.string_map(&at.key("podAnnotations"));
    if !pod_annotations.is_empty() {
        node.push(map_node("pod-annotations", &pod_annotations));
    }
    node.children.extend(claim_nodes);
    if let Some(s) = cx.text(&at.key("schedulerName")).or_else(|| svc.scheduler_name.clone()) {
        node.push(KNode::new("scheduler-name").arg(s));
    }
    if let Some(p) = cx.text(&at.key("priorityClassName"))
        && !p.eq_ignore_ascii_case("none")
    {
        node.push(KNode::new("priority-class").arg(p));
    }
    if m.contains_key("terminationGracePeriodSeconds")
        && let Some(s) = cx.int_in(&at.key("terminationGracePeriodSeconds"), 0, i64::MAX)
    {
        node.push(KNode::new("termination-grace-period").arg(format!("{s}s")));
    }
    if m.contains_key("enableServiceLinks")
        && let Some(b) = cx.bool(&at.key("enableServiceLinks"))
    {
        node.push(KNode::new("enable-service-links").arg(b));
    }
    let secrets: Vec<String> = cx
        .items(&at.key("imagePullSecrets"))
        .iter()
        .filter_map(|s| match s.get() {
            Some(Value::Object(_)) => {
                cx.visit(s, &["name"]);
                cx.text(&s.key("name"))
            }
            _ => cx.text(s),
        })
        .collect();
    let has_claims = truthy(at.key("resourceClaims").get()) || r_dra;
    // extraConfig: pod spec fields the chart inserts as they are. A field the chart writes
    // itself as well would be in the manifest twice, which Kubernetes' YAML reader refuses.
    let extra_at = at.key("extraConfig");
    let mut secrets = secrets;
    let text_form;
    if let Some(v) = cx.take(&extra_at).filter(|v| truthy(Some(v))) {
        // The chart renders a string of YAML into the pod as it renders a mapping.
        let v = match v {
            Value::String(t) => match yaml_text_fields(t) {
                Ok(m) => {
                    text_form = Value::Object(m);
                    &text_form
                }
                Err(e) => {
                    cx.invalid(&extra_at, format!("the text is not a mapping of pod spec fields: {e}"));
                    &Value::Null
                }
            },
            v => v,
        };
        match v {
            Value::Object(extra) => {
                let has = |name: &str| node.children.iter().any(|c| c.name == name);
                let written: Vec<&str> = [
                    ("serviceAccountName", true),
                    ("volumes", true),
                    ("containers", true),
                    ("initContainers", truthy(at.key("initContainers").get()) || (kind == "decode" && svc.proxy)),
                    ("imagePullSecrets", !secrets.is_empty()),
                    ("schedulerName", has("scheduler-name")),
                    ("priorityClassName", has("priority-class")),
                    ("securityContext", pod_fields.contains_key("securityContext")),
                    ("affinity", has("node-affinity")),
                    ("resourceClaims", has_claims),
                    ("nodeSelector", has("node-selector")),
                    ("tolerations", has("toleration")),
                    ("terminationGracePeriodSeconds", m.contains_key("terminationGracePeriodSeconds")),
                    ("enableServiceLinks", m.contains_key("enableServiceLinks")),
                    ("hostIPC", pod_fields.contains_key("hostIPC")),
                    ("hostPID", pod_fields.contains_key("hostPID")),
                ]
                .into_iter()
                .filter_map(|(f, w)| w.then_some(f))
                .collect();
                for (field, value) in extra {
                    let here = extra_at.key(field);
                    if written.contains(&field.as_str()) {
                        cx.invalid(
                            &here,
                            format!("the chart writes `{field}` of the pod itself, so with this the manifest has it twice, which Kubernetes' YAML reader refuses; set it in one place"),
                        );
                        continue;
                    }
                    match field.as_str() {
                        "imagePullSecrets" => {
                            for (i, item) in value.as_array().into_iter().flatten().enumerate() {
                                match item.get("name").and_then(Value::as_str) {
                                    Some(n) => secrets.push(n.to_string()),
                                    None => cx.invalid(&here.idx(i), "an image pull secret is `name: …`"),
                                }
                            }
                        }
                        "schedulerName"
                        | "priorityClassName"
                        | "terminationGracePeriodSeconds"
                        | "enableServiceLinks" => {
                            let word = match field.as_str() {
                                "schedulerName" => "scheduler-name",
                                "priorityClassName" => "priority-class",
                                "terminationGracePeriodSeconds" => "termination-grace-period",
                                _ => "enable-service-links",
                            };
                            match (field.as_str(), value) {
                                ("terminationGracePeriodSeconds", v) => {
                                    match v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)) {
                                        Some(n) if n >= 0 => node.push(KNode::new(word).arg(format!("{n}s"))),
                                        _ => cx.invalid(&here, "expected a number of seconds"),
                                    }
                                }
                                ("enableServiceLinks", Value::Bool(b)) => node.push(KNode::new(word).arg(*b)),
                                (_, Value::String(t)) if !t.is_empty() => node.push(KNode::new(word).arg(t.as_str())),
                                _ => cx.invalid(&here, "expected a value of the pod spec's type"),
                            }
                        }
                        "nodeSelector" => {
                            let entries: Vec<(String, String)> = value
                                .as_object()
                                .into_iter()
                                .flatten()
                                .filter_map(|(k, v)| scalar_text(v).map(|v| (k.clone(), v)))
                                .collect();
                            node.push(map_node("node-selector", &entries));
                        }
                        "tolerations" => {
                            for i in 0..value.as_array().map_or(0, Vec::len) {
                                if let Some(n) = toleration(cx, &here.idx(i)) {
                                    node.push(n);
                                }
                            }
                        }
                        "initContainers" => {
                            for i in 0..value.as_array().map_or(0, Vec::len) {
                                if let Some(n) = container(cx, &here.idx(i), true, &[]) {
                                    node.push(n);
                                }
                            }
                        }
                        _ => {
                            pod_fields.insert(field.clone(), value.clone());
                        }
                    }
                }
            }
            other => cx.wrong_type(&extra_at, "a mapping of pod spec fields", other),
        }
    }
    if !secrets.is_empty() {
        let mut n = KNode::new("image-pull-secret");
        for s in secrets {
            n = n.arg(s);
        }
        node.push(n);
    }
    if !pod_fields.is_empty() {
        node.push(KNode::raw_block(
            "pod",
            &crate::lower::raw::write_fields(&pod_fields, crate::lower::raw::Root::PodSpec),
        ));
    }
    Some(node)
}

/// `pod-monitor …` when the role's PodMonitor is on, with what is not the chart's default.
fn pod_monitor<'v>(cx: &mut Cx<'v>, monitoring: &At<'v>) -> Option<KNode> {
    let at = monitoring.key("podmonitor");
    if !truthy(at.key("enabled").get()) {
        cx.take(monitoring);
        return None;
    }
    cx.visit(monitoring, &["podmonitor"]);
    cx.visit(
        &at,
        &[
            "enabled",
            "portName",
            "path",
            "interval",
            "scrapeTimeout",
            "labels",
            "annotations",
            "relabelings",
            "metricRelabelings",
            "namespaceSelector",
        ],
    );
    cx.take(&at.key("enabled"));
    let mut n = KNode::new("pod-monitor");
    // The chart's `| default …`: an empty value is the default.
    for (key, prop, default) in
        [("portName", "port", "metrics"), ("path", "path", "/metrics"), ("interval", "interval", "30s")]
    {
        let v = cx.string(&at.key(key)).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string());
        if v != default {
            n = n.prop(prop, v);
        }
    }
    if let Some(t) = cx.text(&at.key("scrapeTimeout")) {
        n = n.prop("scrape-timeout", t);
    }
    for (key, child) in [("labels", "labels"), ("annotations", "annotations")] {
        let entries = cx.string_map(&at.key(key));
        if !entries.is_empty() {
            n.push(map_node(child, &entries));
        }
    }
    for (key, child) in [("relabelings", "relabeling"), ("metricRelabelings", "metric-relabeling")] {
        if let Some(Value::Array(rules)) = cx.take(&at.key(key)) {
            for r in rules {
                let w = crate::lower::raw::write_as(child, r, crate::lower::raw::RELABEL_CONFIG);
                n.push(KNode::from_written(&w));
            }
        }
    }
    if let Some(sel) = cx.take(&at.key("namespaceSelector")).filter(|v| truthy(Some(v))) {
        let w = crate::lower::raw::write_as("namespace-selector", sel, crate::lower::raw::NAMESPACE_SELECTOR);
        n.push(KNode::from_written(&w));
    }
    Some(n)
}

fn map_node(name: &str, entries: &[(String, String)]) -> KNode {
    let mut n = KNode::new(name);
    for (k, v) in entries {
        n.push(KNode::new(k).arg(v.as_str()));
    }
    n
}

/// `parallelism tensor= data= data-local= workers=`, sizes as the chart computes them. Only
/// sizes other than 1 are written; msws derives the rest the same way.
fn parallelism<'v>(cx: &mut Cx<'v>, at: &At<'v>) -> Option<KNode> {
    cx.visit(at, PARALLELISM_KEYS)?;
    let mut get = |k: &str| -> Option<i64> {
        let a = at.key(k);
        if !truthy(a.get()) {
            // The chart's helpers read 0 (or an empty value) as not set.
            cx.take(&a);
            return None;
        }
        cx.int_in(&a, 1, i64::from(u32::MAX))
    };
    let (t, d, dl, w) = (get("tensor"), get("data"), get("dataLocal"), get("workers"));
    // The chart's helpers: each size is its own value when set, else derived from the others.
    let tensor = t.unwrap_or(1);
    let data = d.or(match (dl, w) {
        (Some(dl), Some(w)) => Some(dl * w),
        (Some(dl), None) => Some(dl),
        _ => None,
    });
    let data = data.unwrap_or(1);
    let data_local = dl.or(match (d, w) {
        (Some(d), Some(w)) if d % w == 0 => Some(d / w),
        (Some(_), Some(_)) => {
            cx.invalid(at, "data must be a multiple of workers (the chart refuses it too)");
            None
        }
        (Some(d), None) => Some(d),
        _ => None,
    });
    let data_local = data_local.unwrap_or(1);
    let workers = w.or(match (d, dl) {
        (Some(d), Some(dl)) if d % dl == 0 => Some(d / dl),
        (Some(_), Some(_)) => {
            cx.invalid(at, "data must be a multiple of dataLocal (the chart refuses it too)");
            None
        }
        _ => None,
    });
    let workers = workers.unwrap_or(1);
    let mut n = KNode::new("parallelism");
    // Sizes that do not add up are the chart's to pass on as they are: all three are written,
    // so that msws does not derive one (it warns about them).
    let consistent = data == data_local * workers;
    for (prop, v) in [("tensor", tensor), ("data", data), ("data-local", data_local), ("workers", workers)] {
        if v != 1 || (!consistent && prop != "tensor") {
            n = n.prop(prop, v);
        }
    }
    (!n.props.is_empty()).then_some(n)
}

/// A container (`init`: an init container, which the chart copies into the pod as it is);
/// `pod_claims` are the role's resource claims, which the chart adds to each container's.
/// Fields without words go into the container's raw `container { … }` block.
fn container<'v>(cx: &mut Cx<'v>, at: &At<'v>, init: bool, pod_claims: &[String]) -> Option<KNode> {
    let m = cx.visit(at, if init { INIT_CONTAINER_KEYS } else { CONTAINER_KEYS })?;
    let mut raw: Map<String, Value> = Map::new();
    if init {
        // The chart copies an init container as it is: every Kubernetes field is rendered.
        for f in K8S_CONTAINER_UNSUPPORTED {
            if let Some(v) = cx.take(&at.key(f)) {
                raw.insert((*f).to_string(), v.clone());
            }
        }
        if let Some(k) = cx.known.get_mut(&at.segs) {
            k.extend_from_slice(K8S_CONTAINER_UNSUPPORTED);
        }
    } else {
        // `with`: false and empty are not rendered.
        for f in ["stdin", "tty"] {
            if let Some(v) = cx.take(&at.key(f)).filter(|v| truthy(Some(v))) {
                raw.insert(f.to_string(), v.clone());
            }
        }
    }
    let name = cx.text(&at.key("name"));
    let name = match (name, init) {
        (Some(n), _) => n,
        (None, false) => "vllm".to_string(),
        (None, true) => {
            cx.invalid(&at.key("name"), "an init container needs a name");
            return None;
        }
    };
    let Some(image) = cx.text(&at.key("image")) else {
        cx.invalid(&at.key("image"), "the container has no image (the chart requires one)");
        return None;
    };
    let mut node = KNode::new(if init { "init-container" } else { "container" }).arg(name).prop("image", image);
    let mut body: Vec<KNode> = Vec::new();
    // What the container's extraConfig adds (the chart inserts it as it is).
    let extra = if init { None } else { cx.take(&at.key("extraConfig")).filter(|v| truthy(Some(v))).cloned() };
    let extra = match extra {
        Some(Value::Object(e)) => e,
        // The chart renders a string of YAML into the container as it renders a mapping.
        Some(Value::String(t)) => yaml_text_fields(&t).unwrap_or_else(|e| {
            cx.invalid(&at.key("extraConfig"), format!("the text is not a mapping of container fields: {e}"));
            Map::new()
        }),
        Some(other) => {
            cx.wrong_type(&at.key("extraConfig"), "a mapping of container fields", &other);
            Map::new()
        }
        None => Map::new(),
    };

    let command = cx.string_list(&at.key("command"));
    let mut kind_word = "custom";
    if init {
        if !command.is_empty() {
            body.push(list_node("command", &command));
        }
    } else {
        let kind_at = at.key("modelCommand");
        let kind = cx.text(&kind_at);
        match kind.as_deref() {
            Some("vllmServe") | Some("imageDefault") => {
                let k = if kind.as_deref() == Some("vllmServe") { "vllm-serve" } else { "image-default" };
                kind_word = k;
                node = node.prop("command", k);
                if !command.is_empty() {
                    node = node.comment(format!(
                        "{}: the chart ignores `command` with modelCommand {}, and so does this file.",
                        at.key("command").path(),
                        kind.as_deref().unwrap_or_default()
                    ));
                }
            }
            None | Some("custom") => {
                if command.is_empty() {
                    cx.invalid(
                        &at.key("command"),
                        "modelCommand custom (the default) needs a command; the chart refuses a container without one",
                    );
                }
                if kind.is_some() {
                    node = node.prop("command", "custom");
                }
                if !command.is_empty() {
                    body.push(list_node("command", &command));
                }
            }
            Some(other) => cx.invalid(
                &kind_at,
                format!("`{other}` is not a modelCommand; the chart knows vllmServe, imageDefault and custom"),
            ),
        }
        if cx.bool(&at.key("mountModelVolume")) == Some(true) {
            node = node.prop("mount-model", true);
        }
    }
    if let Some(p) = cx.text(&at.key("imagePullPolicy")) {
        if ["Always", "IfNotPresent", "Never"].contains(&p.as_str()) {
            node = node.prop("pull-policy", p);
        } else {
            cx.invalid(&at.key("imagePullPolicy"), format!("`{p}` is not a pull policy (Always, IfNotPresent, Never)"));
        }
    }
    if let Some(d) = cx.text(&at.key("workingDir")) {
        node = node.prop("working-dir", d);
    }
    if init && let Some(r) = cx.text(&at.key("restartPolicy")) {
        if r == "Always" {
            node = node.prop("restart-policy", r);
        } else {
            cx.invalid(
                &at.key("restartPolicy"),
                format!("an init container's restart policy is `Always` (a sidecar) or none; Kubernetes refuses `{r}`"),
            );
        }
    }

    let args = cx.string_list(&at.key("args"));
    if !args.is_empty() {
        body.push(list_node("args", &args));
    }
    for e in cx.items(&at.key("env")) {
        if let Some(n) = env(cx, &e) {
            body.push(n);
        }
    }
    for p in cx.items(&at.key("ports")) {
        if let Some(n) = port(cx, &p) {
            body.push(n);
        }
    }
    if let Some(r) = resources(cx, &at.key("resources"), pod_claims) {
        body.push(r);
    }
    for vm in cx.items(&at.key("volumeMounts")) {
        if let Some(n) = volume_mount(cx, &vm) {
            body.push(n);
        }
    }
    for (key, kind) in [("livenessProbe", "liveness"), ("readinessProbe", "readiness"), ("startupProbe", "startup")] {
        match probe(cx, &at.key(key), kind) {
            Some(Ok(n)) => body.push(n),
            Some(Err(v)) => {
                raw.insert(key.to_string(), v);
            }
            None => {}
        }
    }
    match security_context(cx, &at.key("securityContext")) {
        Some(Ok(n)) => body.push(n),
        Some(Err(v)) => {
            raw.insert("securityContext".into(), v);
        }
        None => {}
    }

    // extraConfig, field by field: words where the language has them, raw fields otherwise; a
    // field the chart also writes from the container's own values would be there twice.
    let extra_at = at.key("extraConfig");
    for (field, value) in &extra {
        let here = extra_at.key(field);
        let twice = match field.as_str() {
            "name" | "image" | "env" | "resources" => true,
            "command" => kind_word != "image-default",
            "args" => kind_word != "custom" || !args.is_empty(),
            "securityContext" | "imagePullPolicy" | "ports" | "livenessProbe" | "readinessProbe" | "startupProbe"
            | "workingDir" | "stdin" | "tty" => truthy(m.get(field)),
            "volumeMounts" => truthy(m.get("volumeMounts")) || truthy(m.get("mountModelVolume")),
            _ => false,
        };
        if twice {
            cx.invalid(
                &here,
                format!("the chart writes `{field}` of this container itself, so with this the manifest has it twice, which Kubernetes' YAML reader refuses; set it in one place"),
            );
            continue;
        }
        match field.as_str() {
            "command" => {
                // With imageDefault the chart gives the model's arguments and no command: this
                // command runs with them instead of the image's entrypoint.
                let list: Vec<String> = value.as_array().into_iter().flatten().filter_map(scalar_text).collect();
                body.push(list_node("command", &list));
            }
            "args" => {
                let list: Vec<String> = value.as_array().into_iter().flatten().filter_map(scalar_text).collect();
                body.push(list_node("args", &list));
            }
            "imagePullPolicy" | "workingDir" => match value.as_str() {
                Some(v) => node = node.prop(if field == "imagePullPolicy" { "pull-policy" } else { "working-dir" }, v),
                None => cx.invalid(&here, "expected a string"),
            },
            "ports" => {
                for i in 0..value.as_array().map_or(0, Vec::len) {
                    if let Some(n) = port(cx, &here.idx(i)) {
                        body.push(n);
                    }
                }
            }
            "volumeMounts" => {
                for i in 0..value.as_array().map_or(0, Vec::len) {
                    if let Some(n) = volume_mount(cx, &here.idx(i)) {
                        body.push(n);
                    }
                }
            }
            _ => {
                raw.insert(field.clone(), value.clone());
            }
        }
    }
    if !raw.is_empty() {
        body.push(KNode::raw_block(
            "container",
            &crate::lower::raw::write_fields(&raw, crate::lower::raw::Root::Container),
        ));
    }
    node.children = body;
    Some(node)
}

fn list_node(name: &str, items: &[String]) -> KNode {
    let mut n = KNode::new(name);
    for i in items {
        n = n.arg(i.as_str());
    }
    n
}

fn env<'v>(cx: &mut Cx<'v>, at: &At<'v>) -> Option<KNode> {
    cx.visit(at, &["name", "value", "valueFrom"])?;
    let Some(name) = cx.text(&at.key("name")) else {
        cx.invalid(&at.key("name"), "an environment variable needs a name");
        return None;
    };
    let node = KNode::new("env").arg(name);
    let vf = at.key("valueFrom");
    let Some(from) = cx.visit(&vf, &["fieldRef", "secretKeyRef", "configMapKeyRef", "resourceFieldRef", "fileKeyRef"])
    else {
        // No value at all is an empty one, as in Kubernetes.
        return Some(node.arg(cx.string(&at.key("value")).unwrap_or_default()));
    };
    cx.take(&at.key("value"));
    if at.key("value").has() {
        cx.invalid(&at.key("value"), "an environment variable has a value or valueFrom, not both");
    }
    if from.len() != 1 {
        cx.invalid(&vf, "valueFrom names one source");
        return None;
    }
    let (kind, _) = from.iter().next()?;
    let src = vf.key(kind);
    match kind.as_str() {
        "fieldRef" => {
            cx.visit(&src, &["fieldPath", "apiVersion"])?;
            let path = cx.text(&src.key("fieldPath"))?;
            let mut n = node.prop("field", path);
            if let Some(v) = cx.text(&src.key("apiVersion")) {
                n = n.prop("api-version", v);
            }
            Some(n)
        }
        "fileKeyRef" => {
            cx.visit(&src, &["path", "volumeName", "key", "optional"])?;
            let (Some(path), Some(volume), Some(key)) =
                (cx.text(&src.key("path")), cx.text(&src.key("volumeName")), cx.text(&src.key("key")))
            else {
                cx.invalid(&src, "a value from a file needs its path, volumeName and key");
                return None;
            };
            let mut n = node.prop("file", path).prop("volume", volume).prop("key", key);
            if let Some(o) = cx.bool(&src.key("optional")) {
                n = n.prop("optional", o);
            }
            Some(n)
        }
        "secretKeyRef" | "configMapKeyRef" => {
            cx.visit(&src, &["name", "key", "optional"])?;
            let name = cx.text(&src.key("name"))?;
            let key = cx.text(&src.key("key"))?;
            let prop = if kind == "secretKeyRef" { "secret" } else { "config-map" };
            let mut n = node.prop(prop, name).prop("key", key);
            if let Some(o) = cx.bool(&src.key("optional")) {
                n = n.prop("optional", o);
            }
            Some(n)
        }
        "resourceFieldRef" => {
            cx.visit(&src, &["resource", "containerName", "divisor"])?;
            let mut n = node.prop("resource", cx.text(&src.key("resource"))?);
            if let Some(c) = cx.text(&src.key("containerName")) {
                n = n.prop("container", c);
            }
            if let Some(d) = cx.quantity(&src.key("divisor")) {
                n = n.prop("divisor", d);
            }
            Some(n)
        }
        _ => None,
    }
}

fn port<'v>(cx: &mut Cx<'v>, at: &At<'v>) -> Option<KNode> {
    cx.visit(at, &["containerPort", "name", "protocol", "hostIP", "hostPort"])?;
    let Some(number) = cx.int_in(&at.key("containerPort"), 1, 65535) else {
        if !at.key("containerPort").has() {
            cx.invalid(&at.key("containerPort"), "a port needs its number");
        }
        return None;
    };
    let mut n = KNode::new("port").arg(number);
    if let Some(name) = cx.text(&at.key("name")) {
        n = n.prop("name", name);
    }
    if let Some(p) = cx.text(&at.key("protocol")) {
        n = n.prop("protocol", p);
    }
    if let Some(h) = cx.int_in(&at.key("hostPort"), 1, 65535) {
        n = n.prop("host-port", h);
    }
    if let Some(ip) = cx.text(&at.key("hostIP")) {
        n = n.prop("host-ip", ip);
    }
    Some(n)
}

/// `resources cpu=… memory=…` when limits and requests are the same, else `limits` and
/// `requests` children; `claims` lists the pod's resource claims the container uses.
fn resources<'v>(cx: &mut Cx<'v>, at: &At<'v>, pod_claims: &[String]) -> Option<KNode> {
    cx.visit(at, &["limits", "requests", "claims"]);
    let mut amounts = |k: &str| -> Vec<(String, String)> {
        let a = at.key(k);
        let Some(v) = cx.take(&a) else { return Vec::new() };
        let Value::Object(m) = v else {
            cx.wrong_type(&a, "a mapping of resources", v);
            return Vec::new();
        };
        m.keys().filter_map(|r| cx.quantity(&a.key(r)).map(|q| (r.clone(), q))).collect()
    };
    let limits = amounts("limits");
    let requests = amounts("requests");
    let mut claims = pod_claims.to_vec();
    let mut claim_requests: Vec<(String, String)> = Vec::new();
    for c in cx.items(&at.key("claims")) {
        if cx.visit(&c, &["name", "request"]).is_none() {
            continue;
        }
        let (name, request) = (cx.text(&c.key("name")), cx.text(&c.key("request")));
        match (name, request) {
            (Some(n), Some(r)) => claim_requests.push((n, r)),
            (Some(n), None) if !claims.contains(&n) => claims.push(n),
            _ => {}
        }
    }
    let mut node = KNode::new("resources");
    let same = |a: &[(String, String)], b: &[(String, String)]| {
        a.len() == b.len() && a.iter().all(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v == v2))
    };
    if !limits.is_empty() && same(&limits, &requests) {
        for (k, v) in &limits {
            node = node.prop(k, v.as_str());
        }
    } else {
        for (name, list) in [("limits", &limits), ("requests", &requests)] {
            if !list.is_empty() {
                let mut n = KNode::new(name);
                for (k, v) in list {
                    n = n.prop(k, v.as_str());
                }
                node.push(n);
            }
        }
    }
    if !claims.is_empty() {
        node.push(list_node("claims", &claims));
    }
    for (name, request) in claim_requests {
        node.push(KNode::new("claim").arg(name).prop("request", request));
    }
    (!node.props.is_empty() || !node.children.is_empty()).then_some(node)
}

fn volume_mount<'v>(cx: &mut Cx<'v>, at: &At<'v>) -> Option<KNode> {
    cx.visit(
        at,
        &["name", "mountPath", "readOnly", "subPath", "subPathExpr", "mountPropagation", "recursiveReadOnly"],
    )?;
    let name = cx.text(&at.key("name"));
    let path = cx.text(&at.key("mountPath"));
    let (Some(name), Some(path)) = (name, path) else {
        cx.invalid(at, "a volume mount needs a name and a mountPath");
        return None;
    };
    let mut n = KNode::new("volume-mount").arg(name).prop("path", path);
    if let Some(r) = cx.bool(&at.key("readOnly")) {
        n = n.prop("read-only", r);
    }
    if let Some(s) = cx.text(&at.key("subPath")) {
        n = n.prop("sub-path", s);
    }
    for (key, prop) in [
        ("subPathExpr", "sub-path-expr"),
        ("mountPropagation", "propagation"),
        ("recursiveReadOnly", "recursive-read-only"),
    ] {
        if let Some(v) = cx.text(&at.key(key)) {
            n = n.prop(prop, v);
        }
    }
    Some(n)
}

/// A volume: in words for the sources they have (an empty dir, a claim, a config map or secret by
/// name, a host path), else as raw `Volume` fields in the node's children.
fn volume<'v>(cx: &mut Cx<'v>, at: &At<'v>) -> Option<KNode> {
    let v = cx.take(at)?;
    let Value::Object(m) = v else {
        cx.wrong_type(at, "a volume", v);
        return None;
    };
    let Some(name) = m.get("name").and_then(Value::as_str).filter(|n| !n.is_empty()) else {
        cx.invalid(&at.key("name"), "a volume needs a name");
        return None;
    };
    let n = KNode::new("volume").arg(name);
    if let Some(words) = volume_words(m, n.clone()) {
        return Some(words);
    }
    let mut fields = m.clone();
    fields.remove("name");
    let written = crate::lower::raw::write_fields(&fields, crate::lower::raw::Root::Volume);
    Some(KNode { children: written.iter().map(KNode::from_written).collect(), ..n })
}

fn volume_words(m: &Map<String, Value>, n: KNode) -> Option<KNode> {
    let sources: Vec<(&String, &Value)> = m.iter().filter(|(k, v)| *k != "name" && !v.is_null()).collect();
    let [(source, s)] = sources.as_slice() else { return None };
    let o = s.as_object()?;
    let only = |keys: &[&str]| o.keys().all(|k| keys.contains(&k.as_str()));
    match source.as_str() {
        "emptyDir" if only(&["medium", "sizeLimit"]) => {
            let mut n = n.prop("empty-dir", true);
            match o.get("medium").and_then(Value::as_str) {
                None if o.get("medium").is_none() => {}
                Some("Memory") => n = n.prop("medium", "Memory"),
                _ => return None,
            }
            if let Some(q) = o.get("sizeLimit") {
                let q = scalar_text(q)?;
                Quantity::parse(&q).ok()?;
                n = n.prop("size-limit", q);
            }
            Some(n)
        }
        "persistentVolumeClaim" if only(&["claimName", "readOnly"]) => {
            let mut n = n.prop("claim", o.get("claimName")?.as_str()?);
            if let Some(r) = o.get("readOnly") {
                n = n.prop("read-only", r.as_bool()?);
            }
            Some(n)
        }
        "configMap" if only(&["name"]) => Some(n.prop("config-map", o.get("name")?.as_str()?)),
        "secret" if only(&["secretName"]) => Some(n.prop("secret", o.get("secretName")?.as_str()?)),
        "hostPath" if only(&["path", "type"]) => {
            let mut n = n.prop("host-path", o.get("path")?.as_str()?);
            if let Some(t) = o.get("type") {
                n = n.prop("type", t.as_str().filter(|t| !t.is_empty())?);
            }
            Some(n)
        }
        _ => None,
    }
}

fn strategy<'v>(cx: &mut Cx<'v>, at: &At<'v>) -> Option<KNode> {
    cx.visit(at, &["type", "rollingUpdate"])?;
    let ru = at.key("rollingUpdate");
    let kind = cx.text(&at.key("type")).or_else(|| ru.has().then(|| "RollingUpdate".to_string()))?;
    let mut n = KNode::new("strategy").arg(kind.as_str());
    match kind.as_str() {
        "Recreate" => {
            cx.take(&ru);
        }
        "RollingUpdate" => {
            cx.visit(&ru, &["maxSurge", "maxUnavailable"]);
            for (key, prop) in [("maxSurge", "max-surge"), ("maxUnavailable", "max-unavailable")] {
                let a = ru.key(key);
                match cx.take(&a) {
                    None => {}
                    Some(Value::Number(num)) if num.is_i64() || num.is_u64() => {
                        n = n.prop(prop, num.as_i64().unwrap_or_default());
                    }
                    Some(Value::String(s)) => n = n.prop(prop, s.as_str()),
                    Some(other) => cx.wrong_type(&a, "a number or a percentage", other),
                }
            }
        }
        other => {
            cx.invalid(&at.key("type"), format!("`{other}` is not a Deployment strategy (Recreate, RollingUpdate)"));
            return None;
        }
    }
    Some(n)
}

/// The chart's node affinity for `acceleratorTypes`: the label key must be one of the values.
fn accelerator_types<'v>(cx: &mut Cx<'v>, at: &At<'v>) -> Option<KNode> {
    cx.visit(at, &["labelKey", "labelValues"])?;
    let key = cx.text(&at.key("labelKey"));
    let values = cx.string_list(&at.key("labelValues"));
    let key = key?;
    if values.is_empty() {
        cx.invalid(
            &at.key("labelValues"),
            "labelKey is set but no labelValues: the chart would render a node affinity Kubernetes refuses",
        );
        return None;
    }
    let mut n = KNode::new("node-affinity").arg(key);
    for v in values {
        n = n.arg(v);
    }
    Some(n)
}

fn toleration<'v>(cx: &mut Cx<'v>, at: &At<'v>) -> Option<KNode> {
    cx.visit(at, &["key", "operator", "value", "effect", "tolerationSeconds"])?;
    let mut n = KNode::new("toleration");
    for (key, prop) in [("key", "key"), ("operator", "operator"), ("value", "value"), ("effect", "effect")] {
        if let Some(v) = cx.text(&at.key(key)) {
            n = n.prop(prop, v);
        }
    }
    if let Some(s) = cx.int(&at.key("tolerationSeconds")) {
        n = n.prop("seconds", s);
    }
    Some(n)
}

/// A probe: `Ok` in words (`probe "liveness" http-get=… port=…`) when they say exactly what the
/// values say, else `Err` with the probe as it is, for the container's raw fields.
fn probe<'v>(cx: &mut Cx<'v>, at: &At<'v>, kind: &str) -> Option<Result<KNode, Value>> {
    let v = cx.take(at)?;
    let Value::Object(m) = v else {
        cx.wrong_type(at, "a probe", v);
        return None;
    };
    if m.is_empty() {
        return None;
    }
    Some(probe_words(m, kind).ok_or_else(|| v.clone()))
}

fn probe_words(m: &Map<String, Value>, kind: &str) -> Option<KNode> {
    const TIMES: &[(&str, &str)] = &[
        ("initialDelaySeconds", "initial-delay"),
        ("periodSeconds", "period"),
        ("timeoutSeconds", "timeout"),
        ("terminationGracePeriodSeconds", "termination-grace-period"),
    ];
    const COUNTS: &[(&str, &str)] =
        &[("failureThreshold", "failure-threshold"), ("successThreshold", "success-threshold")];
    let whole = |v: &Value| v.as_i64().or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64));
    let mut n = KNode::new("probe").arg(kind);
    let mut actions = 0;
    for (k, v) in m {
        if let Some((_, prop)) = TIMES.iter().find(|(key, _)| key == k) {
            n = n.prop(prop, format!("{}s", whole(v).filter(|s| *s >= 0)?));
            continue;
        }
        if let Some((_, prop)) = COUNTS.iter().find(|(key, _)| key == k) {
            n = n.prop(prop, whole(v).filter(|s| *s >= 1)?);
            continue;
        }
        let port = |v: Option<&Value>| -> Option<KVal> {
            match v? {
                Value::String(s) if s.parse::<i64>().is_err() && crate::lower::check_dns_label(s).is_ok() => {
                    Some(KVal::Str(s.clone()))
                }
                other => whole(other).filter(|p| (1..=65535).contains(p)).map(KVal::Int),
            }
        };
        let o = v.as_object()?;
        let only = |keys: &[&str]| o.keys().all(|k| keys.contains(&k.as_str()));
        actions += 1;
        match k.as_str() {
            "httpGet" if only(&["path", "port", "scheme", "host", "httpHeaders"]) => {
                let path = o.get("path").and_then(Value::as_str).filter(|p| !p.is_empty())?;
                n = n.prop("http-get", path).prop("port", port(o.get("port"))?);
                if let Some(sch) = o.get("scheme") {
                    n = n.prop("scheme", sch.as_str().filter(|s| ["HTTP", "HTTPS"].contains(s))?);
                }
                if let Some(h) = o.get("host") {
                    n = n.prop("host", h.as_str().filter(|h| !h.is_empty())?);
                }
                for h in o.get("httpHeaders").and_then(Value::as_array).into_iter().flatten() {
                    let (name, value) = (h.get("name")?.as_str()?, h.get("value")?.as_str()?);
                    if name.is_empty() || h.as_object()?.len() != 2 {
                        return None;
                    }
                    n.push(KNode::new("header").arg(name).arg(value));
                }
                if o.get("httpHeaders").is_some_and(|h| !h.is_array()) {
                    return None;
                }
            }
            "tcpSocket" if only(&["port", "host"]) => {
                n = n.prop("tcp-port", port(o.get("port"))?);
                if let Some(h) = o.get("host") {
                    n = n.prop("host", h.as_str().filter(|h| !h.is_empty())?);
                }
            }
            "grpc" if only(&["port", "service"]) => {
                n = n.prop("grpc-port", whole(o.get("port")?).filter(|p| (1..=65535).contains(p))?);
                if let Some(sv) = o.get("service") {
                    n = n.prop("grpc-service", sv.as_str()?);
                }
            }
            "exec" if only(&["command"]) => {
                let cmd: Option<Vec<String>> =
                    o.get("command")?.as_array()?.iter().map(|c| c.as_str().map(str::to_string)).collect();
                let cmd = cmd.filter(|c| !c.is_empty())?;
                n.push(list_node("exec", &cmd));
            }
            _ => return None,
        }
    }
    (actions == 1).then_some(n)
}

/// A container's security context: `Ok` in words when they say all of it, else `Err` as it is.
fn security_context<'v>(cx: &mut Cx<'v>, at: &At<'v>) -> Option<Result<KNode, Value>> {
    let v = cx.take(at)?;
    let Value::Object(m) = v else {
        cx.wrong_type(at, "a security context", v);
        return None;
    };
    if m.is_empty() {
        return None;
    }
    Some(security_words(m).ok_or_else(|| v.clone()))
}

fn security_words(m: &Map<String, Value>) -> Option<KNode> {
    let mut n = KNode::new("security-context");
    for (k, v) in m {
        let prop = match k.as_str() {
            "runAsNonRoot" => "run-as-non-root",
            "allowPrivilegeEscalation" => "allow-privilege-escalation",
            "privileged" => "privileged",
            "readOnlyRootFilesystem" => "read-only-root-filesystem",
            "runAsUser" | "runAsGroup" => {
                let id = v.as_i64().filter(|i| *i >= 0)?;
                n = n.prop(if k == "runAsUser" { "run-as-user" } else { "run-as-group" }, id);
                continue;
            }
            "capabilities" => {
                let caps = v.as_object()?;
                for (ck, cv) in caps {
                    let child = match ck.as_str() {
                        "add" => "capabilities-add",
                        "drop" => "capabilities-drop",
                        _ => return None,
                    };
                    let list: Option<Vec<String>> =
                        cv.as_array()?.iter().map(|c| c.as_str().map(str::to_string)).collect();
                    let list = list?;
                    if list.is_empty() {
                        return None;
                    }
                    n.push(list_node(child, &list));
                }
                if caps.is_empty() {
                    return None;
                }
                continue;
            }
            _ => return None,
        };
        n = n.prop(prop, v.as_bool()?);
    }
    Some(n)
}

/// `extraConfig` given as text: the YAML mapping it holds.
fn yaml_text_fields(text: &str) -> Result<Map<String, Value>, String> {
    match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).map_err(|e| e.to_string())? {
        serde_yaml_ng::Value::Mapping(_) => super::values::parse_yaml(text),
        other => Err(format!(
            "it is YAML of a {}",
            match other {
                serde_yaml_ng::Value::Sequence(_) => "list",
                serde_yaml_ng::Value::Null => "null",
                _ => "scalar",
            }
        )),
    }
}
