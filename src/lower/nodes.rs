//! Reading each kind of node into the typed model: workspace, storage, secret, download,
//! model-service and everything inside a model-service. Cross-references are checked afterwards,
//! in `check.rs`, once every declaration is known.

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, Span};
use crate::model::*;
use crate::syntax::{Literal, Node, Value};

use super::raw;
use super::read::{Cx, Reader, with_origin};

/// Pod spec fields the language has words for: in `pod { … }` they are refused, naming the word.
const POD_WORDS: &[(&str, &str)] = &[
    ("containers", "`container`"),
    ("initContainers", "`init-container`"),
    ("volumes", "`volume`"),
    ("serviceAccountName", "`service-account` on the model-service"),
    ("resourceClaims", "`resource-claim`"),
    ("nodeSelector", "`node-selector`"),
    ("tolerations", "`toleration`"),
    ("schedulerName", "`scheduler-name`"),
    ("priorityClassName", "`priority-class`"),
    ("terminationGracePeriodSeconds", "`termination-grace-period`"),
    ("enableServiceLinks", "`enable-service-links`"),
    ("imagePullSecrets", "`image-pull-secret`"),
];

/// Container fields the language has words for (in `container { … }` they are refused).
const CONTAINER_WORDS: &[(&str, &str)] = &[
    ("name", "the container's name (its argument)"),
    ("image", "`image=`"),
    ("imagePullPolicy", "`pull-policy=`"),
    ("command", "`command` (with `command=\"custom\"`)"),
    ("args", "`args`"),
    ("env", "`env`"),
    ("ports", "`port`"),
    ("resources", "`resources`"),
    ("volumeMounts", "`volume-mount` (and `mount-model=#true` for the model)"),
    ("workingDir", "`working-dir=`"),
    ("restartPolicy", "`restart-policy=` (init containers)"),
];

/// Reads a raw block (`pod { … }`, `container { … }`): its children are the fields.
fn raw_block(cx: &mut Cx, node: &Node, root: raw::Root, words: &[(&str, &str)]) -> Fields {
    let mut r = Reader::new(node);
    r.all_children();
    r.finish(cx);
    raw::read_fields(cx, node, root, words)
}

/// A raw field also written with words (`security-context` and `container { securityContext … }`):
/// one place each.
fn both_ways(
    cx: &mut Cx,
    fields: &Fields,
    raw_block: Option<&Node>,
    field: &str,
    word: Option<&Node>,
    word_name: &str,
) {
    let (Some(block), Some(word)) = (raw_block, word) else { return };
    if !fields.contains_key(field) {
        return;
    }
    let at = block.children().iter().find(|c| c.name.name == field).map(|c| c.name.span).unwrap_or(block.name.span);
    cx.error(with_origin(
        Diagnostic::error("msws::k8s-field", format!("`{field}` is written twice: as `{word_name}` and as a field"))
            .label(at, "as a Kubernetes field")
            .label(word.head_span(), format!("as `{word_name}`"))
            .help(format!("keep one: `{word_name}` for what it has words for, or the whole `{field}` as fields")),
        word.origin.as_deref(),
    ));
}

/// The workspace's header: name, format, namespace, labels, annotations, and whether images are
/// pre-pulled (`pre-pull #false` turns it off).
pub type Header = (String, u32, Option<String>, Map, Map, bool);

pub fn workspace(cx: &mut Cx, node: &Node) -> Option<Header> {
    let mut r = Reader::new(node);
    let name = r.arg(cx, 0, "a name").and_then(|v| cx.name(v, "workspace"));
    let format = match r.prop("format") {
        None => {
            cx.error(
                Diagnostic::error("msws::format", "the workspace does not say which format it is written in")
                    .label(node.head_span(), "no `format=`")
                    .help(format!("add `format={CURRENT_FORMAT}`: this msws reads format {}", formats())),
            );
            None
        }
        Some(v) => {
            let f = cx.int(v)?;
            if !SUPPORTED_FORMATS.iter().any(|s| i128::from(*s) == f) {
                let help = if f > i128::from(CURRENT_FORMAT) {
                    format!("this msws reads format {}; a newer msws is needed for format {f}", formats())
                } else {
                    format!("this msws reads format {}; `msws migrate` rewrites older files", formats())
                };
                cx.error(
                    Diagnostic::error("msws::format", format!("unsupported workspace format {f}"))
                        .label(v.span, "not a supported format")
                        .help(help),
                );
                None
            } else {
                Some(f as u32)
            }
        }
    };
    let namespace = r.child_value(cx, "namespace").and_then(|v| cx.name(v, "namespace"));
    let labels = r.child_map(cx, "labels").unwrap_or_default();
    let annotations = r.child_map(cx, "annotations").unwrap_or_default();
    let pre_pull = r.child_value(cx, "pre-pull").and_then(|v| cx.bool(v)).unwrap_or(true);
    r.finish(cx);
    // A bad name is reported and makes the run fail, but the declarations can still be checked
    // under a placeholder; only an unknown format leaves them without a meaning.
    Some((name.unwrap_or_default(), format?, namespace, labels, annotations, pre_pull))
}

fn formats() -> String {
    SUPPORTED_FORMATS.iter().map(|f| f.to_string()).collect::<Vec<_>>().join(", ")
}

pub fn storage(cx: &mut Cx, node: &Node) -> Option<Storage> {
    let mut r = Reader::new(node);
    let name = r.arg(cx, 0, "a name").and_then(|v| cx.name(v, "storage"));
    let existing = r.prop("existing").and_then(|v| cx.bool(v)).unwrap_or(false);
    let access = r.req_child_value(cx, "access").and_then(|v| cx.choice(v, "access mode", &AccessMode::ALL));
    let (size, class, volume, labels, annotations) = if existing {
        // A claim msws does not own: only its access mode matters (ordering and lints). Anything
        // else would suggest msws applies it, which it never does.
        let extra = |name: &'static str, r: &mut Reader, cx: &mut Cx| {
            for c in r.children(name) {
                cx.error(with_origin(
                    Diagnostic::error("msws::existing-storage", format!("`{name}` cannot be set on an existing claim"))
                        .label(c.name.span, "not applied to an existing claim")
                        .help("msws only checks that an existing claim is there; remove this, or drop `existing=#true` to let msws own the claim"),
                    c.origin.as_deref(),
                ));
            }
        };
        for n in ["size", "class", "volume", "labels", "annotations"] {
            extra(n, &mut r, cx);
        }
        (None, None, None, Map::new(), Map::new())
    } else {
        let size = r.req_child_value(cx, "size").and_then(|v| cx.quantity(v));
        // `class ""` is Kubernetes' "no class": the claim binds only to a volume without one (and
        // is not given the cluster's default class).
        let class = r.child_value(cx, "class").and_then(|v| cx.string(v));
        let volume = r.child_value(cx, "volume").and_then(|v| cx.nonempty(v, "a volume name"));
        let labels = r.child_map(cx, "labels").unwrap_or_default();
        let annotations = r.child_map(cx, "annotations").unwrap_or_default();
        (size, class, volume, labels, annotations)
    };
    r.finish(cx);
    Some(Storage {
        name: name?,
        existing,
        access: access?,
        size,
        class,
        volume,
        labels,
        annotations,
        span: node.head_span(),
    })
}

pub fn secret(cx: &mut Cx, node: &Node) -> Option<Secret> {
    let mut r = Reader::new(node);
    let name = r.arg(cx, 0, "a name").and_then(|v| cx.name(v, "secret"));
    let from_env = r.prop("from-env");
    let key = r.prop("key");
    let existing = r.prop("existing");
    r.finish(cx);
    let source = match (from_env, existing) {
        (Some(v), None) => {
            let var = cx.nonempty(v, "an environment variable name")?;
            let key = match key {
                Some(k) => cx.nonempty(k, "a key")?,
                None => var.clone(),
            };
            SecretSource::FromEnv { var, key }
        }
        (None, Some(v)) => {
            if !cx.bool(v)? {
                cx.error(
                    Diagnostic::error("msws::secret", "a secret needs `from-env=` or `existing=#true`")
                        .label(v.span, "`existing=#false` says nothing about where the value comes from"),
                );
                return None;
            }
            if let Some(k) = node.prop("key").filter(|_| key.is_some()) {
                cx.error(
                    Diagnostic::error("msws::secret", "`key=` only applies to a secret built from the environment")
                        .label(k.span, "not used with `existing=#true`")
                        .help("say which key to read where the secret is used: `token secret=\"…\" key=\"…\"`"),
                );
            }
            SecretSource::Existing
        }
        (Some(a), Some(b)) => {
            let whole = |key: &str, v: &Value| node.prop(key).map(|p| p.span).unwrap_or(v.span);
            cx.error(
                Diagnostic::error(
                    "msws::secret",
                    "a secret is either built from the environment or existing, not both",
                )
                .label(whole("existing", b), "existing")
                .label(whole("from-env", a), "built from the environment")
                .help("keep `from-env=` to let msws create the Secret, or `existing=#true` to use one already in the namespace"),
            );
            return None;
        }
        (None, None) => {
            cx.error(
                Diagnostic::error("msws::secret", "a secret needs `from-env=` or `existing=#true`")
                    .label(node.head_span(), "where does the value come from?")
                    .help("`secret \"hf-token\" from-env=\"HF_TOKEN\"` creates it at apply time from your environment; `existing=#true` uses one that is already in the namespace"),
            );
            return None;
        }
    };
    Some(Secret { name: name?, source, span: node.head_span() })
}

fn secret_ref(cx: &mut Cx, node: &Node, default_key: &str) -> Option<SecretKeyRef> {
    let mut r = Reader::new(node);
    let secret_value = r.req_prop(cx, "secret");
    let secret = secret_value.and_then(|v| cx.name(v, "secret"));
    let key = match r.prop("key") {
        Some(v) => cx.nonempty(v, "a key"),
        None => Some(default_key.to_string()),
    };
    r.finish(cx);
    // The span is the secret's name, where a reference to a missing secret is pointed out.
    let span = secret_value.map(|v| v.span).unwrap_or(node.head_span());
    Some(SecretKeyRef { secret: secret?, key: key?, span })
}

pub fn after(cx: &mut Cx, r: &mut Reader) -> Vec<After> {
    let mut out = Vec::new();
    for c in r.children("after") {
        let mut cr = Reader::new(c);
        let args = cr.rest_args(0);
        if args.is_empty() {
            cx.error(
                Diagnostic::error("msws::missing", "`after` needs at least one step")
                    .label(c.name.span, "after what?")
                    .help("write `after \"download/name\"`"),
            );
        }
        for v in args {
            let Some(s) = cx.string(v) else { continue };
            let parsed = s.split_once('/').and_then(|(k, n)| StepKind::parse(k).map(|k| (k, n)));
            match parsed {
                Some((kind, name)) if !name.is_empty() => {
                    out.push(After { kind, name: name.to_string(), span: v.span })
                }
                _ => {
                    let kinds = StepKind::ALL.map(StepKind::as_str);
                    let named = format!("steps are named {}", kinds.map(|k| format!("`{k}/…`")).join(", "));
                    let mut d = Diagnostic::error("msws::after", format!("`{s}` is not a step"))
                        .label(v.span, "expected `kind/name`");
                    d = match s.split_once('/') {
                        Some((kind, name)) => match crate::diag::did_you_mean(kind, kinds) {
                            Some(k) => d.help(format!("did you mean `{k}/{name}`? {named}")),
                            None => d.help(named),
                        },
                        // A bare name: the steps of that name, whatever their kind.
                        None => {
                            let same: Vec<String> = cx
                                .steps
                                .iter()
                                .filter(|id| id.split_once('/').is_some_and(|(_, n)| n == s))
                                .map(|id| format!("`{id}`"))
                                .collect();
                            if same.is_empty() {
                                d.help(format!("name the step with its kind; {named}"))
                            } else {
                                d.help(format!("name the step with its kind: did you mean {}?", same.join(" or ")))
                            }
                        }
                    };
                    cx.error(with_origin(d, v.origin.as_deref()));
                }
            }
        }
        cr.finish(cx);
    }
    out
}

pub fn download(cx: &mut Cx, node: &Node) -> Option<Download> {
    let mut r = Reader::new(node);
    let name = r.arg(cx, 0, "a name").and_then(|v| cx.name(v, "download"));
    let mut repo = None;
    let mut revision = Some("main".to_string());
    if let Some(from) = r.req_child(cx, "from") {
        let mut fr = Reader::new(from);
        if let Some(v) = fr.arg(cx, 0, "a source") {
            repo = cx.string(v).and_then(|s| match ModelUri::parse(&s) {
                Ok(ModelUri::Hf { repo }) => Some(repo),
                Ok(other) => {
                    cx.error(with_origin(
                        Diagnostic::error("msws::download-source", format!("msws downloads from Hugging Face, not from `{other}`"))
                            .label(v.span, "not an hf:// source")
                            .help("write `from \"hf://org/model\"`; a model already on a claim needs no download, serve it with `uri \"pvc://…\"`"),
                        v.origin.as_deref(),
                    ));
                    None
                }
                Err(e) => {
                    cx.error(with_origin(
                        Diagnostic::error("msws::uri", e.message).label(v.span, "invalid source").help(e.help),
                        v.origin.as_deref(),
                    ));
                    None
                }
            });
        }
        if let Some(v) = fr.prop("revision") {
            revision = cx.nonempty(v, "a revision");
            if let Some(rev) = &revision
                && rev.chars().any(char::is_whitespace)
            {
                cx.error(
                    Diagnostic::error("msws::invalid-value", format!("revision `{rev}` contains whitespace"))
                        .label(v.span, "invalid revision"),
                );
            }
        }
        fr.finish(cx);
    }
    let mut storage = None;
    let mut path = None;
    let mut storage_span = node.head_span();
    if let Some(into) = r.req_child(cx, "into") {
        let mut ir = Reader::new(into);
        if let Some(v) = ir.arg(cx, 0, "a storage name") {
            storage_span = v.span;
            storage = cx.name(v, "storage");
        }
        path = match ir.prop("path") {
            Some(v) => cx.nonempty(v, "a path").map(|p| (p, Some(v))),
            None => repo.as_ref().map(|repo| (format!("models/{repo}"), None)),
        }
        .map(|(p, v)| {
            if let Some(v) = v {
                super::check::path_lint(cx, &p, v.span, v.origin.as_deref());
            }
            p.trim_matches('/').to_string()
        });
        ir.finish(cx);
    }
    let token = r.child(cx, "token").and_then(|t| secret_ref(cx, t, "HF_TOKEN"));
    let image = r.req_child_value(cx, "image").and_then(|v| cx.nonempty(v, "an image"));
    let resources = r.child(cx, "resources").map(|n| resources(cx, n)).unwrap_or_default();
    let timeout_value = r.req_child_value(cx, "timeout");
    let timeout = timeout_value.and_then(|v| cx.duration(v));
    let backoff_limit = r.req_child_value(cx, "backoff-limit").and_then(|v| cx.u32(v, 0, "backoff-limit"));
    let after = after(cx, &mut r);
    r.finish(cx);
    if let (Some(t), Some(v)) = (timeout, timeout_value)
        && t.seconds == 0
    {
        cx.error(with_origin(
            Diagnostic::error("msws::invalid-value", "a download timeout must be longer than 0s")
                .label(v.span, "no time to download")
                .help("give the download time to finish, e.g. `timeout \"2h\"`"),
            v.origin.as_deref(),
        ));
        return None;
    }
    Some(Download {
        name: name?,
        repo: repo?,
        revision: revision?,
        storage: storage?,
        path: path?,
        token,
        image: image?,
        resources,
        timeout: timeout?,
        backoff_limit: backoff_limit?,
        after,
        span: node.head_span(),
        storage_span,
    })
}

fn resource_map(cx: &mut Cx, node: &Node, into: &mut BTreeMap<String, Quantity>) {
    for p in &node.props {
        if let Some(q) = cx.quantity(&p.value) {
            into.insert(p.key.name.clone(), q);
        }
    }
}

/// `resources cpu="16" memory="16Gi" { limits …; requests …; claims "a" }`: properties on the node
/// itself set limits and requests alike.
pub fn resources(cx: &mut Cx, node: &Node) -> Resources {
    let mut res = Resources::default();
    let mut both = BTreeMap::new();
    resource_map(cx, node, &mut both);
    res.limits = both.clone();
    res.requests = both;
    let mut r = Reader::new(node);
    // Properties are resource names (`cpu`, `memory`, `nvidia.com/gpu`, …): any name is allowed.
    r.any_props();
    for (name, into) in [("limits", &mut res.limits), ("requests", &mut res.requests)] {
        if let Some(l) = r.child(cx, name) {
            let mut lr = Reader::new(l);
            lr.any_props();
            resource_map(cx, l, into);
            lr.finish(cx);
        }
    }
    res.claims = r.child_list(cx, "claims").into_iter().map(|name| ClaimRef { name, request: None }).collect();
    // `claim "name" request="gpu"`: one request of a claim.
    for c in r.children("claim") {
        let mut cr = Reader::new(c);
        let name = cr.arg(cx, 0, "a claim name").and_then(|v| cx.name(v, "resource claim"));
        let request = cr.prop("request").and_then(|v| cx.nonempty(v, "a request name"));
        cr.finish(cx);
        if let Some(name) = name {
            res.claims.push(ClaimRef { name, request });
        }
    }
    r.finish(cx);
    res
}

fn accelerator(cx: &mut Cx, node: &Node) -> Option<Accelerator> {
    let mut r = Reader::new(node);
    let v = r.arg(cx, 0, "an accelerator type")?;
    let kind = cx.nonempty(v, "an accelerator type")?;
    let resource_prop = r.prop("resource").and_then(|v| cx.nonempty(v, "a resource name"));
    let known = ACCELERATORS.iter().find(|(k, _)| *k == kind);
    let resource = match (known, resource_prop) {
        (_, Some(res)) => Some(res),
        (Some((_, res)), None) => res.map(str::to_string),
        (None, None) => {
            let names: Vec<&str> = ACCELERATORS.iter().map(|(k, _)| *k).collect();
            let mut d = Diagnostic::error("msws::accelerator", format!("unknown accelerator type `{kind}`"))
                .label(v.span, "not a known accelerator");
            d = match crate::diag::did_you_mean(&kind, names.iter().copied()) {
                Some(m) => d.help(format!("did you mean `{m}`?")),
                None => d.help(format!(
                    "known types: {}; for another device give its resource name: `accelerator \"{kind}\" resource=\"vendor.com/device\"`",
                    names.join(", ")
                )),
            };
            cx.error(with_origin(d, v.origin.as_deref()));
            return None;
        }
    };
    let dra_flag = r.prop("dra").and_then(|v| cx.bool(v));
    let dra_node = r.child(cx, "dra");
    let dra = if dra_flag == Some(true) || dra_node.is_some() {
        let (default_template, default_class) = crate::model::dra_defaults(&kind);
        let mut d = Dra {
            template: default_template,
            class: default_class,
            match_mode: "exactly".into(),
            count: None,
            selectors: Vec::new(),
        };
        if let Some(n) = dra_node {
            let mut dr = Reader::new(n);
            if let Some(v) = dr.prop("template").and_then(|v| cx.name(v, "resource claim template")) {
                d.template = v;
            }
            if let Some(v) = dr.prop("class").and_then(|v| cx.nonempty(v, "a device class")) {
                d.class = v;
            }
            if let Some(v) = dr.prop("match").and_then(|v| cx.choice(v, "device match", &[("exactly", "exactly")])) {
                d.match_mode = v.into();
            }
            d.count = dr.prop("count").and_then(|v| cx.u32(v, 1, "count"));
            // `selector "device.attributes[…].model == 'H100'"`: a CEL device selector.
            for sel in dr.children("selector") {
                let mut sr = Reader::new(sel);
                if let Some(e) = sr.arg(cx, 0, "a CEL expression").and_then(|v| cx.nonempty(v, "a CEL expression")) {
                    d.selectors.push(serde_json::json!({ "cel": { "expression": e } }));
                }
                sr.finish(cx);
            }
            dr.finish(cx);
        }
        if kind == "cpu" {
            cx.error(
                Diagnostic::error("msws::accelerator", "DRA needs a device; `cpu` has none")
                    .label(node.head_span(), "cpu with DRA")
                    .help("remove `dra`, or name a device accelerator such as `accelerator \"nvidia\" dra=#true`"),
            );
        }
        Some(d)
    } else {
        None
    };
    // The environment of model containers on this accelerator: the chart's for the type, unless
    // `default-env=#false`; then each `env "NAME" "value"`, replacing one of the same name.
    let default_env = r.prop("default-env").and_then(|v| cx.bool(v)).unwrap_or(true);
    let mut env = if default_env { crate::model::accelerator_env(&kind) } else { Vec::new() };
    for e in r.children("env") {
        let mut er = Reader::new(e);
        let name = er.arg(cx, 0, "a variable name").and_then(|v| cx.nonempty(v, "a variable name"));
        let value = er.arg(cx, 1, "a value").and_then(|v| match &v.literal {
            Literal::Int(i) => Some(i.to_string()),
            Literal::Bool(b) => Some(b.to_string()),
            _ => cx.string(v),
        });
        er.finish(cx);
        if let (Some(name), Some(value)) = (name, value) {
            env.retain(|(n, _)| *n != name);
            env.push((name, value));
        }
    }
    r.finish(cx);
    Some(Accelerator { kind, resource, dra, env })
}

fn default_accelerator() -> Accelerator {
    Accelerator { kind: "nvidia".into(), resource: Some("nvidia.com/gpu".into()), dra: None, env: Vec::new() }
}

const PROXY_FLAGS: [(&str, &str); 8] = [
    ("zap-devel", "zap-devel"),
    ("zap-encoder", "zap-encoder"),
    ("zap-log-level", "zap-log-level"),
    ("zap-stacktrace-level", "zap-stacktrace-level"),
    ("zap-time-encoding", "zap-time-encoding"),
    ("secure", "secure-proxy"),
    ("prefiller-use-tls", "prefiller-use-tls"),
    ("cert-path", "cert-path"),
];

pub const PROXY_IMAGE: &str = "ghcr.io/llm-d/llm-d-routing-sidecar:latest";

fn routing(cx: &mut Cx, node: Option<&Node>) -> Routing {
    let mut routing = Routing {
        service_port: 8000,
        proxy: Some(Proxy {
            image: PROXY_IMAGE.into(),
            pull_policy: "Always".into(),
            target_port: 8200,
            connector: "nixlv2".into(),
            flags: vec![
                ("zap-encoder", "json".into()),
                ("zap-log-level", "debug".into()),
                ("secure-proxy", "false".into()),
            ],
        }),
    };
    let Some(node) = node else { return routing };
    let mut r = Reader::new(node);
    if let Some(p) = r.prop("service-port").and_then(|v| cx.port(v)) {
        routing.service_port = p;
    }
    if let Some(pn) = r.child(cx, "proxy") {
        let mut pr = Reader::new(pn);
        let enabled = pr.prop("enabled").and_then(|v| cx.bool(v)).unwrap_or(true);
        let mut proxy = routing.proxy.take().unwrap_or_else(unreachable_proxy);
        if let Some(v) = pr.prop("image").and_then(|v| cx.nonempty(v, "an image")) {
            proxy.image = v;
        }
        if let Some(v) = pr.prop("pull-policy").and_then(|v| cx.choice(v, "pull policy", &PULL_POLICIES)) {
            proxy.pull_policy = v.into();
        }
        if let Some(v) = pr.prop("target-port").and_then(|v| cx.port(v)) {
            proxy.target_port = v;
        }
        if let Some(v) = pr.prop("connector").and_then(|v| cx.nonempty(v, "a connector")) {
            proxy.connector = v;
        }
        for (prop, flag) in PROXY_FLAGS {
            let Some(v) = pr.prop(prop) else { continue };
            let value = match &v.literal {
                Literal::Null => None,
                Literal::Bool(b) => Some(b.to_string()),
                Literal::Int(i) => Some(i.to_string()),
                _ => cx.string(v),
            };
            proxy.flags.retain(|(f, _)| *f != flag);
            if let Some(value) = value {
                proxy.flags.push((flag, value));
            }
        }
        let order = |f: &str| PROXY_FLAGS.iter().position(|(_, fl)| *fl == f).unwrap_or(usize::MAX);
        proxy.flags.sort_by_key(|(f, _)| order(f));
        pr.finish(cx);
        routing.proxy = enabled.then_some(proxy);
    }
    r.finish(cx);
    routing
}

fn unreachable_proxy() -> Proxy {
    // `routing` always starts with the default proxy; this only exists to avoid a panic path.
    Proxy {
        image: PROXY_IMAGE.into(),
        pull_policy: "Always".into(),
        target_port: 8200,
        connector: "nixlv2".into(),
        flags: vec![],
    }
}

const PULL_POLICIES: [(&str, &str); 3] = [("Always", "Always"), ("IfNotPresent", "IfNotPresent"), ("Never", "Never")];

pub fn model_service(cx: &mut Cx, node: &Node) -> Option<ModelService> {
    let mut r = Reader::new(node);
    let name = r.arg(cx, 0, "a name").and_then(|v| cx.name(v, "model-service"));
    let model_node = r.child_value(cx, "model");
    let uri_child = r.child(cx, "uri");
    let (uri_node, image_pull_policy) = match uri_child {
        Some(n) => {
            let mut ur = Reader::new(n);
            let v = ur.arg(cx, 0, "a model URI");
            let policy =
                ur.prop("pull-policy").and_then(|v| cx.choice(v, "pull policy", &PULL_POLICIES)).map(str::to_string);
            ur.finish(cx);
            (v, policy)
        }
        None => (None, None),
    };
    let model = match (model_node, uri_node) {
        (Some(m), None) => cx.name(m, "download").map(|n| ModelSource::Download {
            name: n,
            uri: ModelUri::Pvc { claim: String::new(), path: String::new() },
            span: m.span,
        }),
        (None, Some(u)) => cx.nonempty(u, "a model URI").and_then(|s| match ModelUri::parse(&s) {
            Ok(uri) => {
                if let Some(p) = uri.claim_path() {
                    super::check::path_lint(cx, &p, u.span, u.origin.as_deref());
                }
                Some(ModelSource::Uri { uri, span: u.span })
            }
            Err(e) => {
                cx.error(with_origin(
                    Diagnostic::error("msws::uri", e.message).label(u.span, "invalid model URI").help(e.help),
                    u.origin.as_deref(),
                ));
                None
            }
        }),
        (Some(m), Some(u)) => {
            cx.error(with_origin(
                Diagnostic::error(
                    "msws::model",
                    "a model-service serves either a download (`model`) or a URI (`uri`), not both",
                )
                .label(u.span, "a URI")
                .label(m.span, "a download")
                .help("keep one: `model` serves a download of this workspace from its claim"),
                u.origin.as_deref(),
            ));
            None
        }
        (None, None) => {
            cx.missing(
                node,
                Diagnostic::error("msws::model", "the model-service does not say which model to serve")
                    .label(node.head_span(), "no `model` or `uri`")
                    .help("add `model \"<download name>\"` to serve a download of this workspace, or `uri \"hf://org/model\"` (or pvc://, pvc+hf://, oci://)"),
            );
            None
        }
    };
    let served_name = r.child_value(cx, "served-name").and_then(|v| cx.nonempty(v, "a served name"));
    let fullname = r.child_value(cx, "fullname").and_then(|v| cx.object_prefix(v));
    let service_account = r.child_value(cx, "service-account").and_then(|v| cx.name(v, "service account"));
    let labels_given = r.child_map(cx, "labels");
    let annotations = r.child_map(cx, "annotations").unwrap_or_default();
    let service_accel = r.child(cx, "accelerator").map(|n| accelerator(cx, n));
    let mount_path_value = r.child_value(cx, "mount-path");
    let mount_path = mount_path_value.and_then(|v| cx.nonempty(v, "a mount path"));
    let read_only = r.child_value(cx, "read-only").and_then(|v| cx.bool(v)).unwrap_or(true);
    let model_size = r.child_value(cx, "model-size").and_then(|v| cx.quantity(v));
    let token = r.child(cx, "token").and_then(|t| secret_ref(cx, t, "HF_TOKEN"));
    let routing_node = r.child(cx, "routing");
    let routing = routing(cx, routing_node);
    let accel = match &service_accel {
        Some(Some(a)) => Some(a.clone()),
        Some(None) => None,
        None => Some(default_accelerator()),
    };
    let decode_node = r.child(cx, "decode");
    let prefill_node = r.child(cx, "prefill");
    let decode = decode_node.map(|n| role(cx, n, accel.as_ref()));
    let prefill = prefill_node.map(|n| role(cx, n, accel.as_ref()));
    let tracing = r.child(cx, "tracing").and_then(|n| tracing(cx, n));
    let objects = r.children("object").into_iter().filter_map(|n| extra_object(cx, n)).collect();
    let manifests_node = r.child(cx, "manifests");
    let serving_container = r.child_value(cx, "serving-container").and_then(|v| cx.name(v, "container"));
    let manifests = manifests_node.and_then(|n| manifests(cx, n, serving_container.clone()));
    let after = after(cx, &mut r);
    r.finish(cx);
    if let (Some(p), Some(ModelSource::Uri { uri, .. })) = (&image_pull_policy, &model)
        && !matches!(uri, ModelUri::Oci { .. })
        && let Some(n) = uri_child
    {
        cx.error(with_origin(
            Diagnostic::error("msws::uri", format!("`pull-policy=\"{p}\"` is for an `oci://` model's image"))
                .label(n.prop("pull-policy").map(|p| p.span).unwrap_or(n.name.span), "not an oci:// model")
                .help("remove it: other models are not pulled as images"),
            n.origin.as_deref(),
        ));
    }
    if let Some(n) = manifests_node {
        // The manifests give the workloads; words that shape msws's own roles do not apply.
        for word in ["decode", "prefill", "fullname", "service-account", "accelerator", "routing", "tracing", "labels"]
        {
            if let Some(c) = node.children().iter().find(|c| c.name.name == word) {
                cx.error(with_origin(
                    Diagnostic::error("msws::manifests", format!("`{word}` does not go with `manifests`"))
                        .label(c.name.span, "for msws's own roles")
                        .label(n.head_span(), "the workloads come from here")
                        .help("the manifests say how their pods run; msws only points them at the model on the claim. Remove this, or drop `manifests` to describe the roles in the workspace"),
                    c.origin.as_deref(),
                ));
            }
        }
        if let Some(ModelSource::Uri { uri, span }) = &model
            && uri.claim().is_none()
        {
            cx.error(
                Diagnostic::error("msws::manifests", "manifests are served from a claim")
                    .label(*span, "not a claim")
                    .help("serve a download of this workspace (`model \"…\"`) or a `pvc://` / `pvc+hf://` URI: msws points the manifests' pods at the model there"),
            );
        }
    } else if let Some(v) = node.children().iter().find(|c| c.name.name == "serving-container") {
        cx.error(
            Diagnostic::error("msws::manifests", "`serving-container` goes with `manifests`")
                .label(v.name.span, "no manifests here")
                .help("it names which container of the manifests' pods serves the model"),
        );
    }
    if decode_node.is_none() && prefill_node.is_none() && manifests_node.is_none() {
        cx.missing(
            node,
            // A warning: the chart renders just the ServiceAccount when neither role is created,
            // and a workspace can say the same (a misspelt role is an error of its own).
            Diagnostic::warning(
                "msws::model-service",
                "the model-service has no pods: only its ServiceAccount and objects are applied",
            )
            .label(node.head_span(), "no `decode` or `prefill`")
            .help("to serve the model, add `decode replicas=1 extends=\"std/vllm-single\"` for a single vLLM deployment, or a `decode` and a `prefill` role extending `std/vllm-decode` and `std/vllm-prefill` for prefill/decode disaggregation"),
        );
    }
    let name = name?;
    let mount_path = mount_path.unwrap_or_else(|| "/model-cache".into());
    if !mount_path.starts_with('/') {
        let span = mount_path_value.map(|v| v.span).unwrap_or(node.head_span());
        cx.error(with_origin(
            Diagnostic::error("msws::invalid-value", format!("the model mount path `{mount_path}` is not absolute"))
                .label(span, "a relative path")
                .help(format!("write `/{mount_path}`: it is where the model appears inside the containers")),
            mount_path_value.and_then(|v| v.origin.as_deref()),
        ));
    }
    let labels = match labels_given {
        Some(l) => {
            if l.contains_key("llm-d.ai/role") {
                // Point at the key itself, written as a property or as a child of `labels`.
                let key_span = node
                    .children()
                    .iter()
                    .filter(|c| c.name.name == "labels")
                    .find_map(|c| {
                        c.props.iter().find(|p| p.key.name == "llm-d.ai/role").map(|p| p.key.span).or_else(|| {
                            c.children().iter().find(|e| e.name.name == "llm-d.ai/role").map(|e| e.name.span)
                        })
                    })
                    .unwrap_or(node.head_span());
                cx.error(
                    Diagnostic::error("msws::labels", "`llm-d.ai/role` is set by msws on each role's pods")
                        .label(key_span, "set by msws, not here")
                        .help("remove it; decode pods get `llm-d.ai/role: decode`, prefill pods `prefill`"),
                );
            }
            l
        }
        None => Map::from([
            ("llm-d.ai/inference-serving".to_string(), "true".to_string()),
            ("llm-d.ai/model".to_string(), name.clone()),
        ]),
    };
    Some(ModelService {
        fullname: fullname.unwrap_or_else(|| name.clone()),
        name,
        model: model?,
        served_name,
        service_account,
        labels,
        annotations,
        accelerator: accel?,
        mount_path,
        read_only,
        model_size,
        token,
        routing,
        decode: decode.flatten(),
        prefill: prefill.flatten(),
        image_pull_policy,
        tracing,
        objects,
        manifests,
        after,
        span: node.head_span(),
    })
}

/// `manifests "dir-or-file.yaml"`: the workloads of the model service, read while loading (a
/// Kustomize directory built with `kubectl kustomize`). Checked here: that each object is one
/// msws may apply, that there is a workload, and that each workload's pods have a container
/// that serves the model, whose command names the model, all the same one.
fn manifests(cx: &mut Cx, node: &Node, serving_container: Option<String>) -> Option<Manifests> {
    let mut r = Reader::new(node);
    let arg = r.arg(cx, 0, "a Kustomize directory or a YAML file");
    r.finish(cx);
    let arg = arg?;
    let _ = cx.nonempty(arg, "a path")?;
    let fail = |cx: &mut Cx, message: String, help: &str| {
        cx.error(with_origin(
            Diagnostic::error("msws::manifests", message).label(arg.span, "these manifests").help(help.to_string()),
            arg.origin.as_deref(),
        ));
    };
    let Some(m) = cx.manifests.get(&arg.span).cloned() else {
        fail(
            cx,
            "these manifests were not read".into(),
            "manifests are read from the workspace's own files, not from a preset",
        );
        return None;
    };
    let text = match &m.text {
        Ok(t) => t.clone(),
        Err(e) => {
            fail(
                cx,
                format!("cannot read the manifests: {e}"),
                "name a YAML file or a Kustomize directory, relative to the workspace file",
            );
            return None;
        }
    };
    let objects = match crate::model::workloads::read_stream(&text) {
        Ok(o) => o,
        Err(p) => {
            fail(cx, p.message, &p.help);
            return None;
        }
    };
    let problems = crate::model::workloads::check(&objects, serving_container.as_deref()).err();
    for p in problems.iter().flatten() {
        fail(cx, p.message.clone(), &p.help);
    }
    problems.is_none().then(|| Manifests { source: m.source.clone(), objects, serving_container, span: arg.span })
}

/// `tracing endpoint="http://otel-collector:4317" …`: every setting defaults to the chart's.
fn tracing(cx: &mut Cx, node: &Node) -> Option<Tracing> {
    let mut r = Reader::new(node);
    let mut get = |name: &'static str, default: &str, r: &mut Reader| {
        r.prop(name).and_then(|v| cx.nonempty(v, name)).unwrap_or_else(|| default.to_string())
    };
    let t = Tracing {
        endpoint: get("endpoint", "http://otel-collector:4317", &mut r),
        sampler: get("sampler", "parentbased_traceidratio", &mut r),
        sampler_arg: get("sampler-arg", "1.0", &mut r),
        decode_service: get("decode-service", "vllm-decode", &mut r),
        prefill_service: get("prefill-service", "vllm-prefill", &mut r),
        proxy_service: get("proxy-service", "routing-proxy", &mut r),
        detailed_traces: get("detailed-traces", "all", &mut r),
    };
    let enabled = r.prop("enabled").and_then(|v| cx.bool(v)).unwrap_or(true);
    r.finish(cx);
    enabled.then_some(t)
}

/// `object { apiVersion "v1"; kind "ConfigMap"; metadata { name "x" }; data { … } }`: an object
/// applied with the model service, written as its fields.
fn extra_object(cx: &mut Cx, node: &Node) -> Option<ExtraObject> {
    let mut r = Reader::new(node);
    r.all_children();
    r.finish(cx);
    let fields = raw::read_object(cx, node);
    let s = |k: &str| fields.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
    let name =
        fields.get("metadata").and_then(|m| m.get("name")).and_then(serde_json::Value::as_str).map(str::to_string);
    let missing = |cx: &mut Cx, what: &str| {
        cx.error(with_origin(
            Diagnostic::error("msws::object", format!("this object has no {what}"))
                .label(node.name.span, format!("no {what}"))
                .help("an object needs `apiVersion \"…\"`, `kind \"…\"` and `metadata { name \"…\" }`"),
            node.origin.as_deref(),
        ));
    };
    let (Some(api_version), Some(kind), Some(name)) = (s("apiVersion"), s("kind"), name) else {
        if !node.children().is_empty() {
            for (what, present) in [
                ("`apiVersion`", s("apiVersion").is_some()),
                ("`kind`", s("kind").is_some()),
                ("`metadata.name`", fields.get("metadata").and_then(|m| m.get("name")).is_some()),
            ] {
                if !present {
                    missing(cx, what);
                }
            }
        }
        return None;
    };
    let kept_elsewhere = match kind.as_str() {
        "Secret" => Some(
            "a Secret given whole would put its value in the workspace file: declare it with `secret \"name\" from-env=\"VAR\"` (msws builds it from the environment at apply) or `existing=#true`",
        ),
        "PersistentVolumeClaim" => {
            Some("a claim is storage, which msws never deletes unless asked: declare it with `storage \"name\" { … }`")
        }
        _ => None,
    };
    if let Some(why) = kept_elsewhere {
        cx.error(with_origin(
            Diagnostic::error("msws::object", format!("a {kind} is not given as an object"))
                .label(node.name.span, format!("a {kind}"))
                .help(why),
            node.origin.as_deref(),
        ));
        return None;
    }
    if crate::model::workloads::CLUSTER_SCOPED.contains(&kind.as_str()) {
        cx.error(with_origin(
            Diagnostic::error("msws::object", format!("a {kind} is not in a namespace"))
                .label(node.name.span, "cluster-wide")
                .help("msws applies a workspace's objects in its namespace, and prunes them there; create cluster-wide objects another way"),
            node.origin.as_deref(),
        ));
        return None;
    }
    if let Some(ns) = fields.get("metadata").and_then(|m| m.get("namespace")).and_then(serde_json::Value::as_str) {
        let at = node
            .children()
            .iter()
            .find(|c| c.name.name == "metadata")
            .and_then(|m| {
                m.children()
                    .iter()
                    .find(|c| c.name.name == "namespace")
                    .map(|c| c.name.span)
                    .or(m.prop("namespace").map(|p| p.span))
            })
            .unwrap_or(node.name.span);
        cx.error(with_origin(
            Diagnostic::error("msws::object", format!("this object names the namespace `{ns}`"))
                .label(at, "a namespace of its own")
                .help("remove it: a workspace's objects go into the workspace's namespace"),
            node.origin.as_deref(),
        ));
        return None;
    }
    Some(ExtraObject { api_version, kind, name, value: fields, span: node.name.span })
}

fn role(cx: &mut Cx, node: &Node, service_accel: Option<&Accelerator>) -> Option<Role> {
    let mut r = Reader::new(node);
    let replicas = match r.prop("replicas") {
        Some(v) => cx.u32(v, 0, "replicas"),
        None => Some(1),
    };
    let parallelism = r.child(cx, "parallelism").map(|n| parallelism(cx, n)).unwrap_or(Some(Parallelism {
        tensor: 1,
        data: 1,
        data_local: 1,
        workers: 1,
    }));
    let accel = match r.child(cx, "accelerator") {
        Some(n) => accelerator(cx, n),
        None => service_accel.cloned(),
    };
    let containers: Vec<Container> =
        r.children("container").into_iter().filter_map(|c| container(cx, c, false)).collect();
    let init_containers: Vec<Container> =
        r.children("init-container").into_iter().filter_map(|c| container(cx, c, true)).collect();
    let volumes = r.children("volume").into_iter().filter_map(|v| volume(cx, v)).collect();
    let strategy = r.child(cx, "strategy").and_then(|n| strategy(cx, n));
    let node_selector = r.child_map(cx, "node-selector").unwrap_or_default();
    let node_affinity = r.children("node-affinity").into_iter().filter_map(|n| node_affinity(cx, n)).collect();
    let tolerations = r.children("toleration").into_iter().filter_map(|n| toleration(cx, n)).collect();
    let annotations = r.child_map(cx, "annotations").unwrap_or_default();
    let pod_annotations = r.child_map(cx, "pod-annotations").unwrap_or_default();
    let resource_claims = r
        .children("resource-claim")
        .into_iter()
        .filter_map(|n| {
            let mut cr = Reader::new(n);
            let name = cr.arg(cx, 0, "a name").and_then(|v| cx.name(v, "resource claim"));
            let template = cr.prop("template").map(|v| cx.name(v, "resource claim template"));
            let claim = cr.prop("claim").map(|v| cx.name(v, "resource claim"));
            cr.finish(cx);
            let source = match (template, claim) {
                (Some(t), None) => ClaimSource::Template(t?),
                (None, Some(c)) => ClaimSource::Claim(c?),
                (t, _) => {
                    cx.error(with_origin(
                        Diagnostic::error(
                            "msws::resource-claim",
                            if t.is_some() {
                                "a resource claim comes from a `template=` or a `claim=`, not both"
                            } else {
                                "a resource claim needs a `template=` or a `claim=`"
                            },
                        )
                        .label(n.head_span(), "this claim")
                        .help("`template=\"…\"` gives each pod a claim of its own from a ResourceClaimTemplate; `claim=\"…\"` shares an existing ResourceClaim"),
                        n.origin.as_deref(),
                    ));
                    return None;
                }
            };
            Some(PodResourceClaim { name: name?, source })
        })
        .collect();
    let scheduler_name = r.child_value(cx, "scheduler-name").and_then(|v| cx.nonempty(v, "a scheduler name"));
    let priority_class = r.child_value(cx, "priority-class").and_then(|v| cx.nonempty(v, "a priority class"));
    let termination_grace_period = r.child_value(cx, "termination-grace-period").and_then(|v| seconds(cx, v));
    let enable_service_links = r.child_value(cx, "enable-service-links").and_then(|v| cx.bool(v));
    let image_pull_secrets = r.child_list(cx, "image-pull-secret");
    let autoscaled = r.prop("autoscaled").and_then(|v| cx.bool(v)).unwrap_or(false);
    let multinode = r.child(cx, "multinode").map(|n| multinode(cx, n));
    let monitor = r.child(cx, "pod-monitor").map(|n| pod_monitor(cx, n));
    let requester_node = r.child(cx, "requester");
    let requester = requester_node.map(|n| requester(cx, n));
    let pod_node = r.child(cx, "pod");
    let pod = pod_node.map(|n| raw_block(cx, n, raw::Root::PodSpec, POD_WORDS)).unwrap_or_default();
    r.finish(cx);
    if let Some(n) = pod_node
        && pod.get("affinity").and_then(|a| a.get("nodeAffinity")).is_some()
        && let Some(word) = node.children().iter().find(|c| c.name.name == "node-affinity")
    {
        let at = n.children().iter().find(|c| c.name.name == "affinity").map(|c| c.name.span).unwrap_or(n.name.span);
        cx.error(with_origin(
            Diagnostic::error(
                "msws::k8s-field",
                "the node affinity is written twice: as `node-affinity` and as a field",
            )
            .label(at, "`affinity` with a `nodeAffinity`")
            .label(word.head_span(), "`node-affinity`")
            .help("keep one: `node-affinity` nodes, or the whole `nodeAffinity` in `pod { affinity … }`"),
            word.origin.as_deref(),
        ));
    }
    if let Some(n) = requester_node {
        let why = if node.name.name != "decode" {
            Some("the requester serves decode pods only")
        } else if multinode.is_some() {
            Some("the requester and a multi-node role do not go together (the chart renders neither then)")
        } else {
            None
        };
        if let Some(why) = why {
            cx.error(with_origin(
                Diagnostic::error("msws::requester", why)
                    .label(n.name.span, "not here")
                    .help("put `requester` in a single-node `decode` role, or remove it"),
                n.origin.as_deref(),
            ));
        }
    }
    if autoscaled && let Some(p) = node.prop("replicas") {
        cx.error(with_origin(
            Diagnostic::error("msws::role", "an autoscaled role has no fixed replica count")
                .label(p.span, "set by the autoscaler, not here")
                .help("remove `replicas=`: msws leaves the count to the autoscaler (the cluster starts with 1)"),
            p.value.origin.as_deref(),
        ));
    }
    if containers.is_empty() && !node.children().iter().any(|c| c.name.name == "container") {
        let presets = if node.name.name == "prefill" {
            "`prefill extends=\"std/vllm-prefill\"`".to_string()
        } else {
            "`decode extends=\"std/vllm-single\"` (or `std/vllm-decode` beside a prefill role)".to_string()
        };
        cx.missing(
            node,
            Diagnostic::error("msws::role", format!("the `{}` role has no container", node.name.name))
                .label(node.name.span, "no `container` inside")
                .help(format!("add `container \"vllm\" extends=\"std/vllm\"`, or use {presets}")),
        );
    }
    names_once(
        cx,
        node,
        &["container", "init-container"],
        "container",
        "Kubernetes refuses a pod with two containers of one name",
    );
    names_once(cx, node, &["volume"], "volume", "Kubernetes refuses a pod with two volumes of one name");
    volume_mounts_resolve(cx, node);
    Some(Role {
        replicas: replicas?,
        parallelism: parallelism?,
        accelerator: accel?,
        containers,
        init_containers,
        volumes,
        strategy,
        node_selector,
        node_affinity,
        tolerations,
        annotations,
        pod_annotations,
        resource_claims,
        scheduler_name,
        priority_class,
        termination_grace_period,
        enable_service_links,
        image_pull_secrets,
        pod,
        multinode,
        autoscaled,
        monitor: monitor.flatten(),
        requester: requester.flatten(),
        span: node.name.span,
    })
}

/// `multinode subgroup-size=8 subgroup-type="LeaderWorker" exclusive-topology=#true`.
fn multinode(cx: &mut Cx, node: &Node) -> Multinode {
    let mut r = Reader::new(node);
    let subgroup_size = r.prop("subgroup-size").and_then(|v| cx.u32(v, 1, "subgroup-size"));
    let subgroup_type = r
        .prop("subgroup-type")
        .and_then(|v| {
            cx.choice(v, "subgroup type", &[("LeaderWorker", "LeaderWorker"), ("LeaderExcluded", "LeaderExcluded")])
        })
        .map(str::to_string);
    let exclusive_topology = r.prop("exclusive-topology").and_then(|v| cx.bool(v)).unwrap_or(false);
    r.finish(cx);
    if subgroup_type.is_some() && subgroup_size.is_none() {
        cx.error(with_origin(
            Diagnostic::error("msws::multinode", "a subgroup type needs a subgroup size")
                .label(node.head_span(), "no `subgroup-size=`")
                .help("add `subgroup-size=N`: the pods of each subgroup"),
            node.origin.as_deref(),
        ));
    }
    Multinode { subgroup_size, subgroup_type, exclusive_topology }
}

/// `pod-monitor port="metrics" path="/metrics" interval="30s" { labels …; relabeling … }`.
fn pod_monitor(cx: &mut Cx, node: &Node) -> Option<PodMonitor> {
    let mut r = Reader::new(node);
    let mut s = |name: &'static str, default: Option<&str>, r: &mut Reader| {
        r.prop(name).and_then(|v| cx.nonempty(v, name)).or(default.map(str::to_string))
    };
    let port = s("port", Some("metrics"), &mut r);
    let path = s("path", Some("/metrics"), &mut r);
    let interval = s("interval", Some("30s"), &mut r);
    let scrape_timeout = s("scrape-timeout", None, &mut r);
    let labels = r.child_map(cx, "labels").unwrap_or_default();
    let annotations = r.child_map(cx, "annotations").unwrap_or_default();
    // Each rule a `relabeling action="replace" targetLabel="…" { sourceLabels "a" "b" }`, in the
    // Prometheus Operator's field names, checked as its RelabelConfig.
    let relabelings: Vec<serde_json::Value> =
        r.children("relabeling").into_iter().filter_map(|n| raw::read_as(cx, n, raw::RELABEL_CONFIG)).collect();
    let metric_relabelings: Vec<serde_json::Value> =
        r.children("metric-relabeling").into_iter().filter_map(|n| raw::read_as(cx, n, raw::RELABEL_CONFIG)).collect();
    let ns_node = r.child(cx, "namespace-selector");
    r.finish(cx);
    let namespace_selector = ns_node.and_then(|n| raw::read_as(cx, n, raw::NAMESPACE_SELECTOR));
    Some(PodMonitor {
        port: port?,
        path: path?,
        interval: interval?,
        scrape_timeout,
        labels,
        annotations,
        relabelings,
        metric_relabelings,
        namespace_selector,
    })
}

/// `requester image="…" admin-port=8081 probes-port=8080 spi-port=8081 …`: the chart's defaults
/// for everything not given.
fn requester(cx: &mut Cx, node: &Node) -> Option<Requester> {
    let mut r = Reader::new(node);
    let image = r
        .prop("image")
        .and_then(|v| cx.nonempty(v, "an image"))
        .unwrap_or_else(|| "ghcr.io/llm-d-incubation/llm-d-fast-model-actuation/requester:latest".into());
    let mut port =
        |name: &'static str, default: u16, r: &mut Reader| r.prop(name).and_then(|v| cx.port(v)).unwrap_or(default);
    let admin_port = port("admin-port", 8081, &mut r);
    let probes_port = port("probes-port", 8080, &mut r);
    let spi_port = port("spi-port", 8081, &mut r);
    let mut secs = |name: &'static str, default: i32, r: &mut Reader| {
        r.prop(name).and_then(|v| seconds(cx, v)).map(|s| s as i32).unwrap_or(default)
    };
    let initial_delay = secs("initial-delay", 2, &mut r);
    let period = secs("period", 5, &mut r);
    let mut q = |name: &'static str, default: &str, r: &mut Reader| match r.prop(name) {
        Some(v) => match &v.literal {
            Literal::Int(i) => Quantity::parse(&i.to_string()).ok(),
            _ => cx.quantity(v),
        },
        None => Quantity::parse(default).ok(),
    };
    let gpus = q("gpus", "1", &mut r);
    let cpus = q("cpus", "1", &mut r);
    let memory = q("memory", "250Mi", &mut r);
    let replicas = r.prop("replicas").and_then(|v| cx.u32(v, 0, "replicas"));
    r.finish(cx);
    Some(Requester {
        image,
        replicas,
        admin_port,
        probes_port,
        spi_port,
        initial_delay,
        period,
        gpus: gpus?,
        cpus: cpus?,
        memory: memory?,
    })
}

/// Reports two children of `kinds` in a role with the same name (first argument).
fn names_once(cx: &mut Cx, role: &Node, kinds: &[&str], what: &str, why: &str) {
    let mut seen: Vec<(&str, Span)> = Vec::new();
    for c in role.children().iter().filter(|c| kinds.contains(&c.name.name.as_str())) {
        let Some(name) = c.key() else { continue };
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            cx.error(with_origin(
                Diagnostic::error(
                    "msws::duplicate",
                    format!("two {what}s of the `{}` role are named `{name}`", role.name.name),
                )
                .label(c.head_span(), "named again here")
                .label(*first, "first here")
                .help(format!("{why}; rename one")),
                c.origin.as_deref(),
            ));
        } else {
            seen.push((name, c.head_span()));
        }
    }
}

/// The name msws gives the model's volume in every serving pod (the chart's name).
pub const MODEL_VOLUME: &str = "model-storage";

/// Every `volume-mount` of the role's containers names one of its volumes (or the model's).
fn volume_mounts_resolve(cx: &mut Cx, role: &Node) {
    let volumes: Vec<&str> = role.children().iter().filter(|c| c.name.name == "volume").filter_map(Node::key).collect();
    let containers = role.children().iter().filter(|c| c.name.name == "container" || c.name.name == "init-container");
    for mount in containers.flat_map(|c| c.children().iter().filter(|m| m.name.name == "volume-mount")) {
        let (Some(name), Some(arg)) = (mount.key(), mount.args.first()) else { continue };
        if name == MODEL_VOLUME || volumes.contains(&name) {
            continue;
        }
        let mut d = Diagnostic::error(
            "msws::dangling-reference",
            format!("there is no volume `{name}` in the `{}` role", role.name.name),
        )
        .label(arg.span, "no volume of that name");
        d = match crate::diag::did_you_mean(name, volumes.iter().copied().chain([MODEL_VOLUME])) {
            Some(m) => d.help(format!("did you mean `{m}`?")),
            None => d.help(format!(
                "declare it in the role: `volume \"{name}\" empty-dir=#true` (or `claim=`, `config-map=`, `secret=`, `host-path=`); the model is mounted for you with `mount-model=#true`"
            )),
        };
        cx.error(with_origin(d, arg.origin.as_deref()));
    }
}

/// Seconds, written as a duration (`60s`) or a plain integer.
fn seconds(cx: &mut Cx, v: &Value) -> Option<i64> {
    match &v.literal {
        Literal::Int(_) => cx.int_in(v, 0, i64::MAX.into(), "seconds").map(|i| i as i64),
        _ => cx.duration(v).map(|d| d.seconds as i64),
    }
}

/// The ModelService chart's rules: an unset size is derived from the others.
fn parallelism(cx: &mut Cx, node: &Node) -> Option<Parallelism> {
    let mut r = Reader::new(node);
    let mut get = |name: &'static str, r: &mut Reader| r.prop(name).and_then(|v| cx.u32(v, 1, name));
    let t = get("tensor", &mut r);
    let d = get("data", &mut r);
    let dl = get("data-local", &mut r);
    let w = get("workers", &mut r);
    r.finish(cx);
    let tensor = t.unwrap_or(1);
    let inconsistent = |cx: &mut Cx, message: String, help: &str| {
        cx.error(with_origin(
            Diagnostic::error("msws::parallelism", message)
                .label(node.span, "inconsistent sizes")
                .help(help.to_string()),
            node.origin.as_deref(),
        ));
    };
    let (data, data_local, workers) = match (d, dl, w) {
        (Some(d), Some(dl), Some(w)) => {
            // The chart passes such sizes to vLLM as they are, and so does msws; vLLM is likely
            // to refuse them, so say so.
            if dl.checked_mul(w) != Some(d) {
                cx.error(with_origin(
                    Diagnostic::warning("msws::parallelism", format!("data parallelism {d} is not data-local {dl} × workers {w}"))
                        .label(node.span, "inconsistent sizes")
                        .help("vLLM runs data-local ranks on each of the workers: data = data-local × workers; give two of them and msws derives the third"),
                    node.origin.as_deref(),
                ));
            }
            (d, dl, w)
        }
        (Some(d), None, Some(w)) => {
            if d % w != 0 {
                inconsistent(
                    cx,
                    format!("data parallelism {d} cannot be split evenly over {w} workers"),
                    "each worker runs data ÷ workers ranks: make data a multiple of workers",
                );
                return None;
            }
            (d, d / w, w)
        }
        (Some(d), Some(dl), None) => {
            if d % dl != 0 {
                inconsistent(
                    cx,
                    format!("data parallelism {d} is not a multiple of data-local {dl}"),
                    "workers = data ÷ data-local: make data a multiple of data-local",
                );
                return None;
            }
            (d, dl, d / dl)
        }
        (None, Some(dl), Some(w)) => match dl.checked_mul(w) {
            Some(d) => (d, dl, w),
            None => {
                inconsistent(cx, format!("data-local {dl} × workers {w} is too large"), "use smaller sizes");
                return None;
            }
        },
        (Some(d), None, None) => (d, d, 1),
        (None, Some(dl), None) => (dl, dl, 1),
        // Workers alone: one rank on each (the chart's defaults for the unset sizes).
        (None, None, Some(w)) => (w, 1, w),
        (None, None, None) => (1, 1, 1),
    };
    if tensor.checked_mul(data_local).is_none() {
        inconsistent(
            cx,
            format!("tensor {tensor} × data-local {data_local} accelerators per pod is too many"),
            "each pod gets tensor × data-local accelerators; use smaller sizes",
        );
        return None;
    }
    Some(Parallelism { tensor, data, data_local, workers })
}

fn container(cx: &mut Cx, node: &Node, init: bool) -> Option<Container> {
    let mut r = Reader::new(node);
    let name = r.arg(cx, 0, "a name").and_then(|v| cx.name(v, "container"));
    let image = r.req_prop(cx, "image").and_then(|v| cx.nonempty(v, "an image"));
    let pull_policy =
        r.prop("pull-policy").and_then(|v| cx.choice(v, "pull policy", &PULL_POLICIES)).map(str::to_string);
    let kind_value = r.prop("command");
    let mount_model = r.prop("mount-model").and_then(|v| cx.bool(v)).unwrap_or(false);
    let working_dir = r.prop("working-dir").and_then(|v| cx.nonempty(v, "a directory"));
    let restart_policy = if init {
        r.prop("restart-policy")
            .and_then(|v| cx.choice(v, "restart policy", &[("Always", "Always")]))
            .map(str::to_string)
    } else {
        None
    };
    let command = r.child_list(cx, "command");
    let command_kind = match kind_value {
        Some(v) => cx.choice(v, "command kind", &CommandKind::ALL)?,
        None => CommandKind::Custom,
    };
    // `image-default` with a `command` runs that command, instead of the image's entrypoint, with
    // the model's arguments (the chart's imageDefault with `extraConfig.command`).
    if command_kind == CommandKind::VllmServe && !command.is_empty() {
        let span =
            node.children().iter().find(|c| c.name.name == "command").map(|c| c.name.span).unwrap_or(node.name.span);
        cx.error(with_origin(
            Diagnostic::error("msws::command", "a `command` list does not go with `command=\"vllm-serve\"`")
                .label(span, "this command would be ignored")
                .help("`vllm-serve` runs `vllm serve`; use `command=\"image-default\"` to run your own command with the model's arguments, or `command=\"custom\"` to give every argument yourself"),
            node.origin.as_deref(),
        ));
    }
    if init && command_kind != CommandKind::Custom {
        let span = node.prop("command").map(|p| p.span).unwrap_or(node.name.span);
        cx.error(with_origin(
            Diagnostic::error("msws::command", "an init container runs its own command, not the model server")
                .label(span, "not for an init container")
                .help("remove `command=`: an init container runs its `command` list, or its image's entrypoint"),
            node.origin.as_deref(),
        ));
    }
    let args = r.child_list(cx, "args");
    let mut env_vars: Vec<EnvVar> = Vec::new();
    let mut seen_env: Vec<(String, Span)> = Vec::new();
    for n in r.children("env") {
        let Some(e) = env(cx, n) else { continue };
        if let Some((_, first)) = seen_env.iter().find(|(name, _)| *name == e.name) {
            cx.error(with_origin(
                Diagnostic::error("msws::duplicate", format!("environment variable `{}` is set twice", e.name))
                    .label(n.head_span(), "set again here")
                    .label(*first, "first set here")
                    .help("keep one; Kubernetes would use the last"),
                n.origin.as_deref(),
            ));
            continue;
        }
        seen_env.push((e.name.clone(), n.head_span()));
        env_vars.push(e);
    }
    let env = env_vars;
    let mut ports: Vec<Port> = Vec::new();
    let mut seen_ports: Vec<(u16, Option<String>, Span)> = Vec::new();
    for n in r.children("port") {
        let Some(p) = port(cx, n) else { continue };
        let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        if let Some((_, _, first)) =
            seen_ports.iter().find(|(num, proto, _)| *num == p.number && proto.as_deref() == Some(&protocol))
        {
            cx.error(with_origin(
                Diagnostic::error("msws::duplicate", format!("port {} ({protocol}) is declared twice", p.number))
                    .label(n.head_span(), "declared again here")
                    .label(*first, "first declared here")
                    .help("Kubernetes refuses a container with the same port twice; keep one"),
                n.origin.as_deref(),
            ));
            continue;
        }
        seen_ports.push((p.number, Some(protocol), n.head_span()));
        ports.push(p);
    }
    let resources = r.child(cx, "resources").map(|n| resources(cx, n)).unwrap_or_default();
    let volume_mounts = r
        .children("volume-mount")
        .into_iter()
        .filter_map(|n| {
            let mut vr = Reader::new(n);
            let name = vr.arg(cx, 0, "a volume name").and_then(|v| cx.name(v, "volume"));
            let path = vr.req_prop(cx, "path").and_then(|v| cx.nonempty(v, "a mount path"));
            let read_only = vr.prop("read-only").and_then(|v| cx.bool(v));
            let sub_path = vr.prop("sub-path").and_then(|v| cx.nonempty(v, "a sub-path"));
            let sub_path_expr = vr.prop("sub-path-expr").and_then(|v| cx.nonempty(v, "a sub-path expression"));
            let propagation = vr
                .prop("propagation")
                .and_then(|v| {
                    cx.choice(
                        v,
                        "mount propagation",
                        &[("None", "None"), ("HostToContainer", "HostToContainer"), ("Bidirectional", "Bidirectional")],
                    )
                })
                .map(str::to_string);
            let recursive_read_only = vr
                .prop("recursive-read-only")
                .and_then(|v| {
                    cx.choice(
                        v,
                        "recursive read-only mode",
                        &[("Disabled", "Disabled"), ("IfPossible", "IfPossible"), ("Enabled", "Enabled")],
                    )
                })
                .map(str::to_string);
            vr.finish(cx);
            Some(VolumeMount {
                name: name?,
                path: path?,
                read_only,
                sub_path,
                sub_path_expr,
                propagation,
                recursive_read_only,
            })
        })
        .collect();
    let mut probes: Vec<Probe> = Vec::new();
    let mut seen_probes: Vec<(ProbeKind, Span)> = Vec::new();
    for n in r.children("probe") {
        let Some(p) = probe(cx, n) else { continue };
        if let Some((_, first)) = seen_probes.iter().find(|(k, _)| *k == p.kind) {
            cx.error(with_origin(
                Diagnostic::error("msws::duplicate", "a container has one probe of each kind")
                    .label(n.head_span(), "a second probe of this kind")
                    .label(*first, "the first")
                    .help("keep one; a container has at most one liveness, one readiness and one startup probe"),
                n.origin.as_deref(),
            ));
            continue;
        }
        seen_probes.push((p.kind, n.head_span()));
        probes.push(p);
    }
    let security_node = r.child(cx, "security-context");
    let security_context = security_node.map(|n| security_context(cx, n));
    let raw_node = r.child(cx, "container");
    let fields = raw_node.map(|n| raw_block(cx, n, raw::Root::Container, CONTAINER_WORDS)).unwrap_or_default();
    r.finish(cx);
    both_ways(cx, &fields, raw_node, "securityContext", security_node, "security-context");
    for (kind, field) in [("liveness", "livenessProbe"), ("readiness", "readinessProbe"), ("startup", "startupProbe")] {
        let word = node.children().iter().find(|c| c.name.name == "probe" && c.key() == Some(kind));
        both_ways(cx, &fields, raw_node, field, word, &format!("probe \"{kind}\""));
    }
    Some(Container {
        name: name?,
        image: image?,
        pull_policy,
        command_kind,
        command,
        args,
        mount_model,
        env,
        ports,
        resources,
        volume_mounts,
        probes,
        security_context,
        working_dir,
        restart_policy,
        fields,
        span: node.head_span(),
    })
}

fn env(cx: &mut Cx, node: &Node) -> Option<EnvVar> {
    let mut r = Reader::new(node);
    let name = r.arg(cx, 0, "a variable name").and_then(|v| cx.nonempty(v, "a variable name"));
    let literal = r.opt_arg(1);
    let field = r.prop("field");
    let api_version = r.prop("api-version");
    let file = r.prop("file");
    let volume = r.prop("volume");
    let secret = r.prop("secret");
    let config_map = r.prop("config-map");
    let resource = r.prop("resource");
    let key = r.prop("key");
    let optional = r.prop("optional").and_then(|v| cx.bool(v));
    let container = r.prop("container");
    let divisor = r.prop("divisor");
    r.finish(cx);
    let at = |key: &str| node.prop(key).map(|p| p.span);
    let sources: Vec<(Span, &str)> = [
        (literal.map(|v| v.span), "a literal value"),
        (at("field"), "`field=`"),
        (at("file"), "`file=`"),
        (at("secret"), "`secret=`"),
        (at("config-map"), "`config-map=`"),
        (at("resource"), "`resource=`"),
    ]
    .into_iter()
    .filter_map(|(span, what)| span.map(|s| (s, what)))
    .collect();
    let forms = "write `env \"NAME\" \"value\"`, or one of `field=\"status.podIP\"`, `secret=\"s\" key=\"k\"`, `config-map=\"c\" key=\"k\"`, `resource=\"limits.cpu\"`, `file=\"env/vars\" volume=\"config\" key=\"k\"`";
    match sources.as_slice() {
        [_] => {}
        [] => {
            cx.missing(
                node,
                Diagnostic::error("msws::env", "this `env` has no value")
                    .label(node.head_span(), "no value")
                    .help(forms),
            );
            return None;
        }
        [_, rest @ ..] => {
            let mut d =
                Diagnostic::error("msws::env", format!("an `env` takes one value, but this one has {}", sources.len()));
            for (span, what) in rest {
                d = d.label(*span, format!("and {what}"));
            }
            d = d.label(sources[0].0, format!("{} here", sources[0].1)).help(format!("keep one; {forms}"));
            cx.error(with_origin(d, node.origin.as_deref()));
            return None;
        }
    }
    let need_key = |cx: &mut Cx| match key {
        Some(k) => cx.nonempty(k, "a key"),
        None => {
            cx.error(with_origin(
                Diagnostic::error("msws::env", "a secret or config map value needs `key=`")
                    .label(node.head_span(), "which key?")
                    .help("add `key=\"…\"`: the key whose value the variable takes"),
                node.origin.as_deref(),
            ));
            None
        }
    };
    let value = if let Some(v) = literal {
        EnvValue::Literal(match &v.literal {
            Literal::Int(i) => i.to_string(),
            Literal::Bool(b) => b.to_string(),
            Literal::Float(f) => f.to_string(),
            _ => cx.string(v)?,
        })
    } else if let Some(f) = field {
        let path = cx.nonempty(f, "a field path")?;
        EnvValue::Field { path, api_version: api_version.and_then(|v| cx.nonempty(v, "an API version")) }
    } else if let Some(f) = file {
        let path = cx.nonempty(f, "a file path")?;
        let Some(volume) = volume else {
            cx.error(with_origin(
                Diagnostic::error("msws::env", "a value from a file needs `volume=`")
                    .label(node.head_span(), "which volume?")
                    .help("add `volume=\"…\"`: the pod's volume the file is in"),
                node.origin.as_deref(),
            ));
            return None;
        };
        let volume = cx.name(volume, "volume")?;
        EnvValue::FileKey { volume, path, key: need_key(cx)?, optional }
    } else if let Some(s) = secret {
        let secret = cx.name(s, "secret")?;
        EnvValue::SecretKey { secret, key: need_key(cx)?, optional }
    } else if let Some(c) = config_map {
        let config_map = cx.name(c, "config map")?;
        EnvValue::ConfigMapKey { config_map, key: need_key(cx)?, optional }
    } else if let Some(res) = resource {
        EnvValue::Resource {
            resource: cx.nonempty(res, "a resource")?,
            container: container.and_then(|v| cx.name(v, "container")),
            divisor: divisor.and_then(|v| cx.quantity(v)),
        }
    } else {
        return None;
    };
    Some(EnvVar { name: name?, value })
}

fn port(cx: &mut Cx, node: &Node) -> Option<Port> {
    let mut r = Reader::new(node);
    let number = r.arg(cx, 0, "a port number").and_then(|v| cx.port(v));
    let name = r.prop("name").and_then(|v| cx.name(v, "port"));
    let protocol = r
        .prop("protocol")
        .and_then(|v| cx.choice(v, "protocol", &[("TCP", "TCP"), ("UDP", "UDP"), ("SCTP", "SCTP")]))
        .map(str::to_string);
    let host_port = r.prop("host-port").and_then(|v| cx.port(v));
    let host_ip = r.prop("host-ip").and_then(|v| cx.nonempty(v, "an IP address"));
    r.finish(cx);
    Some(Port { number: number?, name, protocol, host_port, host_ip })
}

fn volume(cx: &mut Cx, node: &Node) -> Option<Volume> {
    let mut r = Reader::new(node);
    let name = r.arg(cx, 0, "a name").and_then(|v| cx.name(v, "volume"));
    let empty_dir = r.prop("empty-dir").and_then(|v| cx.bool(v));
    let size_limit = r.prop("size-limit").and_then(|v| cx.quantity(v));
    let medium = r.prop("medium").and_then(|v| cx.choice(v, "medium", &[("Memory", "Memory")])).map(str::to_string);
    let claim = r.prop("claim").and_then(|v| cx.name(v, "claim"));
    let read_only = r.prop("read-only").and_then(|v| cx.bool(v));
    let config_map = r.prop("config-map").and_then(|v| cx.name(v, "config map"));
    let secret = r.prop("secret").and_then(|v| cx.name(v, "secret"));
    let host_path = r.prop("host-path").and_then(|v| cx.nonempty(v, "a path"));
    let host_type = r.prop("type").and_then(|v| cx.nonempty(v, "a host path type"));
    // Any other source, as raw `Volume` fields in the node's children: `volume "x" { nfs … }`.
    let raw_children = r.all_children();
    r.finish(cx);
    if !raw_children.is_empty() {
        let fields = raw::read_fields(cx, node, raw::Root::Volume, &[("name", "the volume's name (its argument)")]);
        if let Some(p) = node.props.first() {
            cx.error(with_origin(
                Diagnostic::error("msws::volume", "a volume has one source, but this one has several")
                    .label(p.span, "a source written with words")
                    .label(node.children()[0].name.span, "and one written as Kubernetes fields")
                    .help("keep one: the words (`empty-dir=#true`, `claim=…`, …) or the fields in the block"),
                node.origin.as_deref(),
            ));
            return None;
        }
        if fields.is_empty() {
            return None;
        }
        return Some(Volume { name: name?, source: VolumeSource::Raw(fields) });
    }
    // Where each kind of source is written, to point at the ones that clash.
    let at = |key: &str| node.prop(key).map(|p| p.span);
    let empty_dir_at = ["empty-dir", "size-limit", "medium"].into_iter().find_map(at);
    let kinds: Vec<(Span, &str)> = [
        (empty_dir_at.filter(|_| empty_dir == Some(true) || size_limit.is_some() || medium.is_some()), "an empty dir"),
        (at("claim").filter(|_| claim.is_some()), "a claim"),
        (at("config-map").filter(|_| config_map.is_some()), "a config map"),
        (at("secret").filter(|_| secret.is_some()), "a secret"),
        (at("host-path").filter(|_| host_path.is_some()), "a host path"),
    ]
    .into_iter()
    .filter_map(|(span, what)| span.map(|s| (s, what)))
    .collect();
    let forms = "write one of `empty-dir=#true`, `claim=\"pvc\"`, `config-map=\"name\"`, `secret=\"name\"`, `host-path=\"/path\"`";
    match kinds.as_slice() {
        [_] => {}
        [] => {
            cx.missing(
                node,
                Diagnostic::error("msws::volume", "this volume has no source")
                    .label(node.head_span(), "which kind of volume?")
                    .help(forms),
            );
            return None;
        }
        [first, rest @ ..] => {
            let mut d = Diagnostic::error("msws::volume", "a volume has one source, but this one has several");
            for (span, what) in rest {
                d = d.label(*span, format!("and {what}"));
            }
            d = d
                .label(first.0, format!("{} here", first.1))
                .help(format!("keep one, or declare two volumes; {forms}"));
            cx.error(with_origin(d, node.origin.as_deref()));
            return None;
        }
    }
    let source = if let Some(claim) = claim {
        VolumeSource::Claim { claim, read_only }
    } else if let Some(name) = config_map {
        VolumeSource::ConfigMap { name }
    } else if let Some(name) = secret {
        VolumeSource::Secret { name }
    } else if let Some(path) = host_path {
        VolumeSource::HostPath { path, kind: host_type }
    } else {
        VolumeSource::EmptyDir { medium, size_limit }
    };
    Some(Volume { name: name?, source })
}

fn strategy(cx: &mut Cx, node: &Node) -> Option<Strategy> {
    let mut r = Reader::new(node);
    let kind =
        r.arg(cx, 0, "a strategy").and_then(|v| cx.choice(v, "strategy", &[("Recreate", 0), ("RollingUpdate", 1)]));
    let mut int_or_percent = |name: &'static str, r: &mut Reader| {
        r.prop(name).and_then(|v| match &v.literal {
            Literal::Int(_) => cx.int_in(v, 0, i32::MAX.into(), name).map(|i| IntOrPercent::Int(i as i32)),
            _ => cx.string(v).and_then(|s| {
                if s.strip_suffix('%').is_some_and(|n| n.parse::<u32>().is_ok()) {
                    Some(IntOrPercent::Percent(s))
                } else {
                    cx.error(
                        Diagnostic::error("msws::invalid-value", format!("`{s}` is neither a number nor a percentage"))
                            .label(v.span, "expected 1 or \"25%\""),
                    );
                    None
                }
            }),
        })
    };
    let max_surge = int_or_percent("max-surge", &mut r);
    let max_unavailable = int_or_percent("max-unavailable", &mut r);
    r.finish(cx);
    match kind? {
        0 => {
            if let Some(p) = node.props.iter().find(|p| p.key.name == "max-surge" || p.key.name == "max-unavailable")
                && (max_surge.is_some() || max_unavailable.is_some())
            {
                cx.error(with_origin(
                    Diagnostic::error("msws::strategy", format!("`Recreate` takes no `{}`", p.key.name))
                        .label(p.span, "only for `RollingUpdate`")
                        .help("`Recreate` stops every old pod before starting new ones; remove this, or use `strategy \"RollingUpdate\"`"),
                    p.value.origin.as_deref(),
                ));
            }
            Some(Strategy::Recreate)
        }
        _ => Some(Strategy::RollingUpdate { max_surge, max_unavailable }),
    }
}

fn node_affinity(cx: &mut Cx, node: &Node) -> Option<NodeAffinity> {
    let mut r = Reader::new(node);
    let key = r.arg(cx, 0, "a node label key").and_then(|v| cx.nonempty(v, "a label key"));
    let values: Vec<String> = r.rest_args(1).iter().filter_map(|v| cx.string(v)).collect();
    let operator = r
        .prop("operator")
        .and_then(|v| {
            cx.choice(
                v,
                "operator",
                &[
                    ("In", "In"),
                    ("NotIn", "NotIn"),
                    ("Exists", "Exists"),
                    ("DoesNotExist", "DoesNotExist"),
                    ("Gt", "Gt"),
                    ("Lt", "Lt"),
                ],
            )
        })
        .unwrap_or("In");
    r.finish(cx);
    if matches!(operator, "In" | "NotIn") && values.is_empty() {
        let key_text = key.as_deref().unwrap_or("label");
        cx.error(with_origin(
            Diagnostic::error("msws::affinity", format!("this node affinity lists no values for `{operator}`"))
                .label(node.head_span(), "no values")
                .help(format!(
                    "list the values the node label may take: `node-affinity \"{key_text}\" \"value\" …`, or use `operator=\"Exists\"`"
                )),
            node.origin.as_deref(),
        ));
    }
    Some(NodeAffinity { key: key?, operator: operator.into(), values })
}

fn toleration(cx: &mut Cx, node: &Node) -> Option<Toleration> {
    let mut r = Reader::new(node);
    let mut s = |name: &'static str, r: &mut Reader| r.prop(name).and_then(|v| cx.nonempty(v, name));
    let key = s("key", &mut r);
    let value = s("value", &mut r);
    let operator = r
        .prop("operator")
        .and_then(|v| cx.choice(v, "operator", &[("Exists", "Exists"), ("Equal", "Equal")]))
        .map(str::to_string);
    let effect = r
        .prop("effect")
        .and_then(|v| {
            cx.choice(
                v,
                "effect",
                &[("NoSchedule", "NoSchedule"), ("PreferNoSchedule", "PreferNoSchedule"), ("NoExecute", "NoExecute")],
            )
        })
        .map(str::to_string);
    let seconds = r.prop("seconds").and_then(|v| seconds(cx, v));
    r.finish(cx);
    Some(Toleration { key, operator, value, effect, seconds })
}

/// A container port, by number or by name (`port=8000`, `port="http"`).
fn port_ref(cx: &mut Cx, v: &Value) -> Option<PortRef> {
    match &v.literal {
        Literal::String(s) if super::vars::Vars::whole_reference(s).is_none() => cx.name(v, "port").map(PortRef::Name),
        _ => cx.port(v).map(PortRef::Number),
    }
}

fn probe(cx: &mut Cx, node: &Node) -> Option<Probe> {
    let mut r = Reader::new(node);
    let kind = r.arg(cx, 0, "a probe kind").and_then(|v| {
        cx.choice(
            v,
            "probe kind",
            &[("liveness", ProbeKind::Liveness), ("readiness", ProbeKind::Readiness), ("startup", ProbeKind::Startup)],
        )
    });
    let http = r.prop("http-get").and_then(|v| cx.string(v));
    let port = r.prop("port").and_then(|v| port_ref(cx, v));
    let scheme = r
        .prop("scheme")
        .and_then(|v| cx.choice(v, "scheme", &[("HTTP", "HTTP"), ("HTTPS", "HTTPS")]))
        .map(str::to_string);
    let host = r.prop("host").and_then(|v| cx.nonempty(v, "a host"));
    let headers: Vec<(String, String)> = r
        .children("header")
        .into_iter()
        .filter_map(|h| {
            let mut hr = Reader::new(h);
            let name = hr.arg(cx, 0, "a header name").and_then(|v| cx.nonempty(v, "a header name"));
            let value = hr.arg(cx, 1, "a value").and_then(|v| cx.string(v));
            hr.finish(cx);
            Some((name?, value?))
        })
        .collect();
    let tcp = r.prop("tcp-port").and_then(|v| port_ref(cx, v));
    let grpc = r.prop("grpc-port").and_then(|v| cx.port(v));
    let grpc_service = r.prop("grpc-service").and_then(|v| cx.string(v));
    let exec = r.child_list(cx, "exec");
    let mut secs = |name: &'static str, r: &mut Reader| r.prop(name).and_then(|v| seconds(cx, v)).map(|s| s as i32);
    let initial_delay = secs("initial-delay", &mut r);
    let period = secs("period", &mut r);
    let timeout = secs("timeout", &mut r);
    let failure_threshold =
        r.prop("failure-threshold").and_then(|v| cx.u32(v, 1, "failure-threshold")).map(|i| i as i32);
    let success_threshold =
        r.prop("success-threshold").and_then(|v| cx.u32(v, 1, "success-threshold")).map(|i| i as i32);
    let termination_grace_period = r.prop("termination-grace-period").and_then(|v| seconds(cx, v));
    r.finish(cx);
    let forms = "write `http-get=\"/health\" port=8200` (or `port=\"http\"`), `tcp-port=8200`, `grpc-port=9000`, or `{ exec \"cmd\" \"arg\" }`";
    let span_of = |key: &str| node.prop(key).map(|p| p.span);
    let exec_at = node.children().iter().find(|c| c.name.name == "exec").map(|c| c.name.span);
    let checks: Vec<(Span, &str)> = [
        (span_of("http-get").or(span_of("port")), "an HTTP check"),
        (span_of("tcp-port"), "a TCP check"),
        (span_of("grpc-port").or(span_of("grpc-service")), "a gRPC check"),
        (exec_at, "a command"),
    ]
    .into_iter()
    .filter_map(|(span, what)| span.map(|s| (s, what)))
    .collect();
    if checks.len() > 1 {
        let mut d = Diagnostic::error("msws::probe", "a probe makes one check, but this one has several");
        for (span, what) in &checks[1..] {
            d = d.label(*span, format!("and {what}"));
        }
        d = d.label(checks[0].0, format!("{} here", checks[0].1)).help(format!("keep one; {forms}"));
        cx.error(with_origin(d, node.origin.as_deref()));
        return None;
    }
    // Options that belong to one kind of check only.
    let misplaced = |cx: &mut Cx, key: &str, belongs: &str| {
        if let Some(at) = span_of(key) {
            cx.error(with_origin(
                Diagnostic::error("msws::probe", format!("`{key}=` goes with {belongs}"))
                    .label(at, "not for this check")
                    .help(format!("remove it, or make the probe {belongs}")),
                node.origin.as_deref(),
            ));
        }
    };
    let is_http = span_of("http-get").is_some() || span_of("port").is_some();
    if !is_http {
        misplaced(cx, "scheme", "an HTTP check");
        if let Some(h) = node.children().iter().find(|c| c.name.name == "header") {
            cx.error(with_origin(
                Diagnostic::error("msws::probe", "`header` goes with an HTTP check")
                    .label(h.name.span, "not for this check"),
                node.origin.as_deref(),
            ));
        }
    }
    if !is_http && span_of("tcp-port").is_none() {
        misplaced(cx, "host", "an HTTP or TCP check");
    }
    let action = match (http, port, tcp, grpc, exec.is_empty()) {
        (Some(path), Some(port), None, None, true) => {
            ProbeAction::HttpGet { path: Some(path).filter(|p| !p.is_empty()), port, scheme, host, headers }
        }
        (None, None, Some(port), None, true) => ProbeAction::TcpSocket { port, host },
        (None, None, None, Some(port), true) => ProbeAction::Grpc { port: i32::from(port), service: grpc_service },
        (None, None, None, None, false) => ProbeAction::Exec { command: exec },
        (Some(_), None, _, _, _) if span_of("port").is_none() => {
            cx.error(with_origin(
                Diagnostic::error("msws::probe", "an HTTP probe needs the port to call")
                    .label(span_of("http-get").unwrap_or(node.head_span()), "no `port=` for this path")
                    .help("add `port=8200` or `port=\"http\"` (the container port serving the path)"),
                node.origin.as_deref(),
            ));
            return None;
        }
        (None, Some(_), _, _, _) if span_of("http-get").is_none() => {
            cx.error(with_origin(
                Diagnostic::error("msws::probe", "`port=` goes with `http-get=`")
                    .label(span_of("port").unwrap_or(node.head_span()), "a port without a path")
                    .help("add `http-get=\"/health\"`, or write `tcp-port=…` for a TCP check"),
                node.origin.as_deref(),
            ));
            return None;
        }
        (None, None, None, None, true) if span_of("grpc-service").is_some() => {
            cx.error(with_origin(
                Diagnostic::error("msws::probe", "a gRPC probe needs its port")
                    .label(span_of("grpc-service").unwrap_or(node.head_span()), "no `grpc-port=`")
                    .help("add `grpc-port=9000`"),
                node.origin.as_deref(),
            ));
            return None;
        }
        _ => {
            // No check at all (values that failed to read were reported where they stand).
            if checks.is_empty() {
                cx.missing(
                    node,
                    Diagnostic::error("msws::probe", "this probe checks nothing")
                        .label(node.head_span(), "no check")
                        .help(forms),
                );
            }
            return None;
        }
    };
    Some(Probe {
        kind: kind?,
        action,
        initial_delay,
        period,
        timeout,
        failure_threshold,
        success_threshold,
        termination_grace_period,
    })
}

fn security_context(cx: &mut Cx, node: &Node) -> SecurityContext {
    let mut r = Reader::new(node);
    let mut b = |name: &'static str, r: &mut Reader| r.prop(name).and_then(|v| cx.bool(v));
    let run_as_non_root = b("run-as-non-root", &mut r);
    let allow_privilege_escalation = b("allow-privilege-escalation", &mut r);
    let privileged = b("privileged", &mut r);
    let read_only_root_filesystem = b("read-only-root-filesystem", &mut r);
    let run_as_user =
        r.prop("run-as-user").and_then(|v| cx.int_in(v, 0, i64::MAX.into(), "a user id")).map(|i| i as i64);
    let run_as_group =
        r.prop("run-as-group").and_then(|v| cx.int_in(v, 0, i64::MAX.into(), "a group id")).map(|i| i as i64);
    let capabilities_add = r.child_list(cx, "capabilities-add");
    let capabilities_drop = r.child_list(cx, "capabilities-drop");
    r.finish(cx);
    SecurityContext {
        run_as_non_root,
        run_as_user,
        run_as_group,
        allow_privilege_escalation,
        privileged,
        read_only_root_filesystem,
        capabilities_add,
        capabilities_drop,
    }
}
