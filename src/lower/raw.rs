//! Raw Kubernetes fields: the escape hatch for what the language has no words for. A block such
//! as `pod { … }` (a role's pod spec) or `container { … }` (inside a container) holds the fields
//! of a Kubernetes API object written as KDL, read into the JSON the API server takes, and checked
//! as it is read against the object's schema (k8s-openapi's types, through `schemars`): every
//! field name, every type, required fields, with the span of what is wrong.
//!
//! How KDL reads as JSON, the schema deciding what a node means:
//! - a scalar field: `dnsPolicy "None"`, or a property of its object: `httpGet path="/health" port=8000`;
//! - an object field: its properties and children are its fields (`securityContext runAsUser=1000`);
//!   a map field (labels, a node selector) likewise: `nodeSelector "kubernetes.io/arch"="amd64"`;
//! - a list of scalars: the arguments, `command "sh" "-c" "sleep 5"` (repeated nodes append);
//! - a list of objects: one node per element, `env name="A" value="1"` then `env name="B" …`, or
//!   the elements as `-` children of one node: `env { - name="A" value="1"; - name="B" … }`;
//!   an empty list is a node with nothing in it (`args`), an empty element `-` alone.
//!
//! Where no schema is known (custom resources: a PodMonitor's relabelings, objects of kinds
//! msws has no types for), the same rules hold without one: one argument is a scalar, several a
//! list, properties and children an object, `-` children a list; `(array)key` and `(object)key`
//! say which an empty or one-element value is.
//!
//! Only `lower` reads raw blocks; the model holds the resulting JSON, and render merges it into
//! the objects it builds.

use std::sync::OnceLock;

use serde_json::{Map, Number, Value as Json};

use super::read::{Cx, with_origin};
use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::syntax::{Literal, Node, Value};

/// The element marker of a list written as children: `env { - name="A"; - name="B" }`.
pub const ELEMENT: &str = "-";

/// A Kubernetes type whose fields a raw block may hold, by its OpenAPI name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    PodSpec,
    Container,
    Volume,
    Probe,
}

impl Root {
    pub fn definition(self) -> &'static str {
        match self {
            Root::PodSpec => "io.k8s.api.core.v1.PodSpec",
            Root::Container => "io.k8s.api.core.v1.Container",
            Root::Volume => "io.k8s.api.core.v1.Volume",
            Root::Probe => "io.k8s.api.core.v1.Probe",
        }
    }
}

/// Every definition the raw blocks may reach, from k8s-openapi's schemas (made once, on first use).
struct Schemas {
    defs: Map<String, Json>,
}

fn schemas() -> &'static Schemas {
    static SCHEMAS: OnceLock<Schemas> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        use k8s_openapi::api::core::v1 as core;
        use k8s_openapi::api::{apps, autoscaling, batch, networking, policy, rbac};
        let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
        let _ = generator.subschema_for::<core::PodSpec>();
        let _ = generator.subschema_for::<core::PodTemplateSpec>();
        // The kinds an extra object is checked as.
        let _ = generator.subschema_for::<core::ConfigMap>();
        let _ = generator.subschema_for::<core::Service>();
        let _ = generator.subschema_for::<core::ServiceAccount>();
        let _ = generator.subschema_for::<apps::v1::Deployment>();
        let _ = generator.subschema_for::<apps::v1::StatefulSet>();
        let _ = generator.subschema_for::<apps::v1::DaemonSet>();
        let _ = generator.subschema_for::<batch::v1::Job>();
        let _ = generator.subschema_for::<batch::v1::CronJob>();
        let _ = generator.subschema_for::<autoscaling::v2::HorizontalPodAutoscaler>();
        let _ = generator.subschema_for::<policy::v1::PodDisruptionBudget>();
        let _ = generator.subschema_for::<networking::v1::NetworkPolicy>();
        let _ = generator.subschema_for::<networking::v1::Ingress>();
        let _ = generator.subschema_for::<rbac::v1::Role>();
        let _ = generator.subschema_for::<rbac::v1::RoleBinding>();
        let mut defs = Map::new();
        for (name, schema) in generator.take_definitions(true) {
            defs.insert(name, schema);
        }
        for (name, def) in object_definitions() {
            defs.insert(name.to_string(), def);
        }
        Schemas { defs }
    })
}

/// Definitions for custom resources' fields that msws reads typed: a PodMonitor's relabelings and
/// namespace selector (monitoring.coreos.com/v1, from the Prometheus Operator's API types).
fn object_definitions() -> Vec<(&'static str, Json)> {
    let string = || serde_json::json!({"type": "string"});
    let strings = || serde_json::json!({"type": "array", "items": {"type": "string"}});
    vec![
        (
            RELABEL_CONFIG,
            serde_json::json!({
                "type": "object",
                "properties": {
                    "sourceLabels": strings(),
                    "separator": string(),
                    "targetLabel": string(),
                    "regex": string(),
                    "modulus": {"type": "integer", "format": "int64"},
                    "replacement": string(),
                    "action": string(),
                },
            }),
        ),
        (
            NAMESPACE_SELECTOR,
            serde_json::json!({
                "type": "object",
                "properties": {"any": {"type": "boolean"}, "matchNames": strings()},
            }),
        ),
    ]
}

/// A PodMonitor's relabeling rule (`RelabelConfig` of monitoring.coreos.com/v1).
pub const RELABEL_CONFIG: &str = "com.coreos.monitoring.v1.RelabelConfig";
/// A PodMonitor's `namespaceSelector` (`NamespaceSelector` of monitoring.coreos.com/v1).
pub const NAMESPACE_SELECTOR: &str = "com.coreos.monitoring.v1.NamespaceSelector";

/// The definitions whole objects of known kinds are read as, by `apiVersion` and `kind`.
const OBJECT_KINDS: &[(&str, &str, &str)] = &[
    ("v1", "ConfigMap", "io.k8s.api.core.v1.ConfigMap"),
    ("v1", "Service", "io.k8s.api.core.v1.Service"),
    ("v1", "ServiceAccount", "io.k8s.api.core.v1.ServiceAccount"),
    ("apps/v1", "Deployment", "io.k8s.api.apps.v1.Deployment"),
    ("apps/v1", "StatefulSet", "io.k8s.api.apps.v1.StatefulSet"),
    ("apps/v1", "DaemonSet", "io.k8s.api.apps.v1.DaemonSet"),
    ("batch/v1", "Job", "io.k8s.api.batch.v1.Job"),
    ("batch/v1", "CronJob", "io.k8s.api.batch.v1.CronJob"),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"),
    ("policy/v1", "PodDisruptionBudget", "io.k8s.api.policy.v1.PodDisruptionBudget"),
    ("networking.k8s.io/v1", "NetworkPolicy", "io.k8s.api.networking.v1.NetworkPolicy"),
    ("networking.k8s.io/v1", "Ingress", "io.k8s.api.networking.v1.Ingress"),
    ("rbac.authorization.k8s.io/v1", "Role", "io.k8s.api.rbac.v1.Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "io.k8s.api.rbac.v1.RoleBinding"),
];

/// Reads a node as a list of values of the definition `def` (its `-` children, or its
/// arguments for scalars).
pub fn read_list_of(cx: &mut Cx, node: &Node, def: &str) -> Vec<Json> {
    let schema = serde_json::json!({"type": "array", "items": {"$ref": format!("#/$defs/{def}")}});
    let mut r = Reading { cx, schemas: schemas() };
    match r.field(&schema, &[node], &node.name.name) {
        Some(Json::Array(a)) => a,
        _ => Vec::new(),
    }
}

/// Reads a node as a value of the definition `def`.
pub fn read_as(cx: &mut Cx, node: &Node, def: &str) -> Option<Json> {
    let schema = serde_json::json!({"$ref": format!("#/$defs/{def}")});
    let mut r = Reading { cx, schemas: schemas() };
    r.node_value(&schema, node, &node.name.name)
}

/// Reads the children of `block` as a whole object: typed when its `apiVersion` and `kind` are
/// of a kind msws has the schema of, schema-less otherwise (custom resources).
pub fn read_object(cx: &mut Cx, block: &Node) -> Map<String, Json> {
    let arg = |name: &str| {
        block.children().iter().find(|c| c.name.name == name).and_then(|c| c.args.first()).and_then(|v| {
            match &v.literal {
                Literal::String(s) => Some(s.as_str()),
                _ => None,
            }
        })
    };
    let def = match (arg("apiVersion"), arg("kind")) {
        (Some(av), Some(k)) => OBJECT_KINDS.iter().find(|(a, kk, _)| *a == av && *kk == k).map(|(_, _, d)| *d),
        _ => None,
    };
    let Some(def) = def else { return read_free_fields(cx, block) };
    let schemas = schemas();
    let schema = serde_json::json!({"$ref": format!("#/$defs/{def}")});
    let mut r = Reading { cx, schemas };
    let Shape::Struct { name, properties, required } = schemas.shape(&schema) else { return Map::new() };
    let mut out = Map::new();
    let children: Vec<&Node> = block.children().iter().collect();
    r.object_fields(name, properties, required, &[], &children, block, &mut out);
    out
}

/// What a schema says a value is.
#[derive(Clone, Copy, Debug)]
enum Shape<'s> {
    String,
    Integer {
        bits: u8,
    },
    Number,
    Boolean,
    /// An int or a string (`port: 8000` or `port: http`); a quantity (`1`, `"500m"`) is one too.
    IntOrString {
        quantity: bool,
    },
    List(&'s Json),
    /// An object with known fields: (its name, the fields, the required ones).
    Struct {
        name: &'s str,
        properties: &'s Map<String, Json>,
        required: &'s [Json],
    },
    /// An object with open keys (labels, resource lists): the schema of each value.
    Map(&'s Json),
    /// Anything (a schema-less value).
    Free,
}

impl Schemas {
    /// A schema with its `$ref` followed.
    fn resolve<'s>(&'s self, schema: &'s Json) -> (&'s str, &'s Json) {
        let mut name = "";
        let mut s = schema;
        for _ in 0..8 {
            let Some(r) = s.get("$ref").and_then(Json::as_str) else { break };
            let Some(n) = r.strip_prefix("#/$defs/") else { break };
            match self.defs.get(n) {
                Some(d) => {
                    name = n;
                    s = d;
                }
                None => break,
            }
        }
        (name, s)
    }

    fn shape<'s>(&'s self, schema: &'s Json) -> Shape<'s> {
        let (name, s) = self.resolve(schema);
        if s.get("x-kubernetes-int-or-string").and_then(Json::as_bool) == Some(true) {
            return Shape::IntOrString { quantity: name.ends_with(".Quantity") };
        }
        match s.get("type").and_then(Json::as_str) {
            Some("string") => Shape::String,
            Some("integer") => {
                Shape::Integer { bits: if s.get("format").and_then(Json::as_str) == Some("int32") { 32 } else { 64 } }
            }
            Some("number") => Shape::Number,
            Some("boolean") => Shape::Boolean,
            Some("array") => s.get("items").map(Shape::List).unwrap_or(Shape::Free),
            Some("object") => match (s.get("properties").and_then(Json::as_object), s.get("additionalProperties")) {
                (Some(properties), _) => Shape::Struct {
                    name,
                    properties,
                    required: s.get("required").and_then(Json::as_array).map(Vec::as_slice).unwrap_or(&[]),
                },
                (None, Some(v)) if v.is_object() => Shape::Map(v),
                _ => Shape::Free,
            },
            _ => Shape::Free,
        }
    }

    /// A definition as a schema value (`{"$ref": …}`).
    fn root(&self, root: Root) -> Json {
        serde_json::json!({ "$ref": format!("#/$defs/{}", root.definition()) })
    }
}

/// The short name of a definition for messages: `io.k8s.api.core.v1.Probe` → `Probe`.
fn type_name(name: &str) -> &str {
    name.rsplit('.').next().unwrap_or(name)
}

/// One reading of a raw block.
struct Reading<'c, 'a> {
    cx: &'c mut Cx<'a>,
    schemas: &'static Schemas,
}

/// Reads the children of `block` as the fields of `root` (the block's own properties and
/// arguments are not fields: the caller reads those). `taken` are fields the surrounding words
/// set, each with the word to use: a raw field of that name is an error naming it.
pub fn read_fields(cx: &mut Cx, block: &Node, root: Root, taken: &[(&str, &str)]) -> Map<String, Json> {
    let schemas = schemas();
    let schema = schemas.root(root);
    let Shape::Struct { name, properties, .. } = schemas.shape(&schema) else { return Map::new() };
    let mut r = Reading { cx, schemas };
    let mut out = Map::new();
    let children: Vec<&Node> = block.children().iter().collect();
    for c in &children {
        if let Some((_, word)) = taken.iter().find(|(f, _)| *f == c.name.name) {
            r.cx.error(with_origin(
                Diagnostic::error("msws::k8s-field", format!("`{}` is written with {word}", c.name.name))
                    .label(c.name.span, "set by msws from the workspace's words")
                    .help(format!(
                        "use {word} instead of the raw field, so that msws can combine it with what it adds"
                    )),
                c.origin.as_deref(),
            ));
        }
    }
    let children: Vec<&Node> = children.into_iter().filter(|c| !taken.iter().any(|(f, _)| *f == c.name.name)).collect();
    r.object_fields(name, properties, &[], &[], &children, block, &mut out);
    out
}

/// Reads a value with no schema at all (a custom resource's field): the node's arguments,
/// properties and children by the schema-less rules.
pub fn read_free(cx: &mut Cx, node: &Node) -> Option<Json> {
    let mut r = Reading { cx, schemas: schemas() };
    r.free(node)
}

/// Reads the children of `block` as a schema-less object.
pub fn read_free_fields(cx: &mut Cx, block: &Node) -> Map<String, Json> {
    let mut r = Reading { cx, schemas: schemas() };
    let mut out = Map::new();
    let children: Vec<&Node> = block.children().iter().collect();
    r.free_fields(&[], &children, &mut out);
    out
}

impl Reading<'_, '_> {
    fn error(
        &mut self,
        at: Span,
        origin: Option<&crate::syntax::Origin>,
        message: String,
        label: &str,
        help: Option<String>,
    ) {
        let mut d = Diagnostic::error("msws::k8s-field", message).label(at, label);
        if let Some(h) = help {
            d = d.help(h);
        }
        self.cx.error(with_origin(d, origin));
    }

    /// The fields of an object: from properties (scalar fields) and children (any field).
    #[allow(clippy::too_many_arguments)]
    fn object_fields(
        &mut self,
        name: &str,
        properties: &Map<String, Json>,
        required: &[Json],
        props: &[crate::syntax::Prop],
        children: &[&Node],
        at: &Node,
        out: &mut Map<String, Json>,
    ) {
        let what = type_name(name);
        // Fields a misspelt key stands for: not reported missing as well.
        let mut meant: Vec<&str> = Vec::new();
        let unknown = |r: &mut Self, key: &str, span: Span, origin: Option<&crate::syntax::Origin>| {
            let help = match did_you_mean(key, properties.keys().map(String::as_str)) {
                Some(m) => format!("did you mean `{m}`?"),
                None => {
                    format!("a {what} has: {}", properties.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
                }
            };
            r.error(span, origin, format!("a {what} has no field `{key}`"), "unknown field", Some(help));
        };
        for p in props {
            let key = p.key.name.as_str();
            let Some(field) = properties.get(key) else {
                meant.extend(did_you_mean(key, properties.keys().map(String::as_str)));
                unknown(self, key, p.key.span, p.value.origin.as_deref());
                continue;
            };
            if out.contains_key(key) {
                self.twice(key, p.key.span, p.value.origin.as_deref());
                continue;
            }
            if let Some(v) = self.prop_value(field, &p.value, key) {
                out.insert(key.to_string(), v);
            }
        }
        // Children, grouped by name: a list field takes every node of its name.
        let mut seen: Vec<&str> = Vec::new();
        for c in children {
            let key = c.name.name.as_str();
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            let group: Vec<&Node> = children.iter().copied().filter(|n| n.name.name == key).collect();
            let Some(field) = properties.get(key) else {
                meant.extend(did_you_mean(key, properties.keys().map(String::as_str)));
                unknown(self, key, c.name.span, c.origin.as_deref());
                continue;
            };
            if out.contains_key(key) {
                self.twice(key, c.name.span, c.origin.as_deref());
                continue;
            }
            if let Some(v) = self.field(field, &group, key) {
                out.insert(key.to_string(), v);
            }
        }
        // (The block itself is given no required fields: words around it set those.)
        let missing: Vec<&str> =
            required.iter().filter_map(Json::as_str).filter(|f| !out.contains_key(*f) && !meant.contains(f)).collect();
        if !missing.is_empty() {
            let list = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ");
            self.error(
                at.name.span,
                at.origin.as_deref(),
                format!("this {what} needs {list}"),
                "incomplete",
                Some(format!("add {list}: Kubernetes refuses a {what} without it")),
            );
        }
    }

    fn twice(&mut self, key: &str, span: Span, origin: Option<&crate::syntax::Origin>) {
        self.error(
            span,
            origin,
            format!("`{key}` is set twice"),
            "set again here",
            Some("a field is set once: as a property or as a child".into()),
        );
    }

    /// A field's value from all the nodes of its name.
    fn field(&mut self, schema: &Json, nodes: &[&Node], key: &str) -> Option<Json> {
        for n in nodes {
            if let Some(t) = n.ty.as_ref().filter(|t| t.name != "array" && t.name != "object") {
                self.error(
                    t.span,
                    n.origin.as_deref(),
                    format!("unknown type annotation `({})`", t.name),
                    "not `(array)` or `(object)`",
                    Some("the schema says what this field is; remove the annotation".into()),
                );
                return None;
            }
        }
        let shape = self.schemas.shape(schema);
        if let Shape::List(items) = shape {
            return self.list(items, nodes, key);
        }
        if let [first, .., last] = nodes {
            self.error(
                last.name.span,
                last.origin.as_deref(),
                format!("`{key}` is given more than once"),
                "given again here",
                Some(format!("`{key}` is not a list; keep the one at line {}", first.name.span.start)),
            );
            return None;
        }
        self.node_value(schema, nodes[0], key)
    }

    /// One node as a value of `schema`.
    fn node_value(&mut self, schema: &Json, node: &Node, key: &str) -> Option<Json> {
        match self.schemas.shape(schema) {
            Shape::Struct { name, properties, required } => {
                if let Some(a) = node.args.first() {
                    let what = type_name(name);
                    self.error(
                        a.span,
                        a.origin.as_deref(),
                        format!("`{key}` is a {what}, written with its fields, not with a value"),
                        "a value",
                        Some(format!(
                            "write its fields as properties or children: `{key} field=…` or `{key} {{ field … }}`"
                        )),
                    );
                    return None;
                }
                let mut out = Map::new();
                let children: Vec<&Node> = node.children().iter().collect();
                self.object_fields(name, properties, required, &node.props, &children, node, &mut out);
                Some(Json::Object(out))
            }
            Shape::Map(values) => self.map(values, node, key),
            Shape::Free => self.free(node),
            Shape::List(items) => self.list(items, &[node], key),
            _ => {
                if !node.props.is_empty() || !node.children().is_empty() || node.args.len() != 1 {
                    let span = node.props.first().map(|p| p.span).unwrap_or(node.name.span);
                    self.error(
                        span,
                        node.origin.as_deref(),
                        format!("`{key}` takes one value"),
                        if node.args.is_empty() { "no value" } else { "more than a value" },
                        Some(format!("write `{key} <value>`")),
                    );
                    return None;
                }
                self.scalar(schema, &node.args[0], key)
            }
        }
    }

    /// A property's value: a scalar field, or a one-element list of scalars.
    fn prop_value(&mut self, schema: &Json, v: &Value, key: &str) -> Option<Json> {
        match self.schemas.shape(schema) {
            Shape::List(items) if self.is_scalar(items) => self.scalar(items, v, key).map(|x| Json::Array(vec![x])),
            Shape::Free => self.free_scalar(v),
            Shape::String | Shape::Integer { .. } | Shape::Number | Shape::Boolean | Shape::IntOrString { .. } => {
                self.scalar(schema, v, key)
            }
            _ => {
                self.error(
                    v.span,
                    v.origin.as_deref(),
                    format!("`{key}` holds fields, so it is written as a child node"),
                    "not a single value",
                    Some(format!("write `{key} {{ … }}` (or `{key} field=…`) as a child")),
                );
                None
            }
        }
    }

    fn is_scalar(&self, schema: &Json) -> bool {
        matches!(
            self.schemas.shape(schema),
            Shape::String | Shape::Integer { .. } | Shape::Number | Shape::Boolean | Shape::IntOrString { .. }
        )
    }

    /// A list from the nodes of its name: each node's arguments (scalars), its `-` children, or
    /// the node itself as one element (objects).
    fn list(&mut self, items: &Json, nodes: &[&Node], key: &str) -> Option<Json> {
        let scalar = self.is_scalar(items);
        let mut out = Vec::new();
        let mut ok = true;
        for n in nodes {
            let elements = n.children().iter().all(|c| c.name.name == ELEMENT) && !n.children().is_empty();
            if scalar {
                if !n.props.is_empty() {
                    let p = &n.props[0];
                    self.error(
                        p.span,
                        p.value.origin.as_deref(),
                        format!("`{key}` is a list of values: it has no properties"),
                        "a property",
                        Some(format!("write the values as arguments: `{key} \"a\" \"b\"`")),
                    );
                    ok = false;
                }
                for a in &n.args {
                    match self.scalar(items, a, key) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                for c in n.children() {
                    if c.name.name != ELEMENT {
                        self.error(
                            c.name.span,
                            c.origin.as_deref(),
                            format!("`{key}` is a list of values"),
                            "not a `-` element",
                            Some(format!(
                                "write the values as arguments: `{key} \"a\" \"b\"`, or as `- \"a\"` children"
                            )),
                        );
                        ok = false;
                        continue;
                    }
                    match self.node_value(items, c, key) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
            } else if elements {
                if let Some(a) = n.args.first() {
                    self.error(
                        a.span,
                        a.origin.as_deref(),
                        format!("`{key}` with `-` elements takes no value of its own"),
                        "a value",
                        None,
                    );
                    ok = false;
                }
                for c in n.children() {
                    match self.node_value(items, c, key) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
            } else if n.args.is_empty() && n.props.is_empty() && n.children().is_empty() {
                // `key` alone: an empty list.
            } else {
                match self.node_value(items, n, key) {
                    Some(v) => out.push(v),
                    None => ok = false,
                }
            }
        }
        ok.then_some(Json::Array(out))
    }

    /// A map: properties and `key value` children (or `key { … }` for values with fields).
    fn map(&mut self, values: &Json, node: &Node, key: &str) -> Option<Json> {
        let mut out = Map::new();
        let mut ok = true;
        if let Some(a) = node.args.first() {
            self.error(
                a.span,
                a.origin.as_deref(),
                format!("`{key}` is a map, written as `key=value` properties or `\"key\" \"value\"` children"),
                "a value",
                None,
            );
            ok = false;
        }
        for p in &node.props {
            match self.prop_value(values, &p.value, &p.key.name) {
                Some(v) => {
                    out.insert(p.key.name.clone(), v);
                }
                None => ok = false,
            }
        }
        for c in node.children() {
            match self.node_value(values, c, &c.name.name) {
                Some(v) => {
                    out.insert(c.name.name.clone(), v);
                }
                None => ok = false,
            }
        }
        ok.then_some(Json::Object(out))
    }

    /// A scalar of the schema's type, from one KDL value (variables substituted in strings).
    fn scalar(&mut self, schema: &Json, v: &Value, key: &str) -> Option<Json> {
        let wrong = |r: &mut Self, expected: &str| {
            let found = v.literal.kind_name();
            let help = match (&v.literal, expected) {
                (Literal::Int(i), "a string") => Some(format!("quote it: \"{i}\"")),
                (Literal::Float(f), "a string") => Some(format!("quote it: \"{f}\"")),
                (Literal::Bool(b), "a string") => Some(format!("quote it: \"{b}\"")),
                (Literal::String(s), "a boolean") if s == "true" || s == "false" => {
                    Some(format!("write #{s}, without quotes"))
                }
                (Literal::String(s), e) if e.contains("integer") && s.trim().parse::<i64>().is_ok() => {
                    Some(format!("drop the quotes: {}", s.trim()))
                }
                _ => None,
            };
            r.error(
                v.span,
                v.origin.as_deref(),
                format!("`{key}` takes {expected}, not {found}"),
                &format!("this is {found}"),
                help,
            );
            None
        };
        if v.ty.is_some() {
            self.error(
                v.span,
                v.origin.as_deref(),
                "a value in Kubernetes fields has no type annotation".into(),
                "type annotation",
                Some("remove the `(…)` before the value".into()),
            );
            return None;
        }
        match self.schemas.shape(schema) {
            Shape::String => match &v.literal {
                Literal::String(_) => self.cx.string(v).map(Json::String),
                _ => wrong(self, "a string"),
            },
            Shape::Integer { bits } => match &v.literal {
                Literal::Int(_) | Literal::String(_) => {
                    let (min, max) = if bits == 32 {
                        (i32::MIN as i128, i32::MAX as i128)
                    } else {
                        (i64::MIN as i128, i64::MAX as i128)
                    };
                    if matches!(v.literal, Literal::String(_)) && !v_is_var(v) {
                        return wrong(self, "an integer");
                    }
                    self.cx.int_in(v, min, max, key).map(|i| Json::Number(Number::from(i as i64)))
                }
                _ => wrong(self, "an integer"),
            },
            Shape::Number => match &v.literal {
                Literal::Int(i) => Some(Json::Number(Number::from(*i as i64))),
                Literal::Float(f) => Number::from_f64(*f).map(Json::Number),
                _ => wrong(self, "a number"),
            },
            Shape::Boolean => match &v.literal {
                Literal::Bool(_) | Literal::String(_) => {
                    if matches!(v.literal, Literal::String(_)) && !v_is_var(v) {
                        return wrong(self, "a boolean");
                    }
                    self.cx.bool(v).map(Json::Bool)
                }
                _ => wrong(self, "a boolean"),
            },
            Shape::IntOrString { quantity: false } => match &v.literal {
                Literal::Int(_) => {
                    self.cx.int_in(v, i32::MIN as i128, i32::MAX as i128, key).map(|i| Json::from(i as i64))
                }
                Literal::String(_) => self.cx.string(v).map(Json::String),
                _ => wrong(self, "a number or a name"),
            },
            Shape::IntOrString { quantity: true } => {
                let text = match &v.literal {
                    Literal::Int(i) => i.to_string(),
                    Literal::Float(f) => f.to_string(),
                    Literal::String(_) => self.cx.string(v)?,
                    _ => return wrong(self, "a quantity"),
                };
                // The API server answers a bad quantity sent through server-side apply with a
                // 500: say so here, where the value is.
                match crate::model::Quantity::parse(&text) {
                    Ok(_) => Some(Json::String(text)),
                    Err(e) => {
                        self.error(v.span, v.origin.as_deref(), format!("`{key}`: {e}"), "not a quantity", None);
                        None
                    }
                }
            }
            _ => self.free_scalar(v),
        }
    }

    /// A scalar without a schema: the KDL value as it is.
    fn free_scalar(&mut self, v: &Value) -> Option<Json> {
        match &v.literal {
            Literal::String(_) => self.cx.string(v).map(Json::String),
            Literal::Int(i) => match i64::try_from(*i) {
                Ok(i) => Some(Json::from(i)),
                Err(_) => u64::try_from(*i).ok().map(Json::from),
            },
            Literal::Float(f) => Number::from_f64(*f).map(Json::Number),
            Literal::Bool(b) => Some(Json::Bool(*b)),
            Literal::Null => Some(Json::Null),
        }
    }

    /// A node without a schema.
    fn free(&mut self, node: &Node) -> Option<Json> {
        let annotation = node.ty.as_ref().map(|t| t.name.as_str());
        let elements = !node.children().is_empty() && node.children().iter().all(|c| c.name.name == ELEMENT);
        match annotation {
            Some("array") => return self.free_list(node),
            Some("object") => {
                if let Some(a) = node.args.first() {
                    self.error(
                        a.span,
                        a.origin.as_deref(),
                        "an `(object)` has fields, not values".into(),
                        "a value",
                        None,
                    );
                    return None;
                }
                let mut out = Map::new();
                let children: Vec<&Node> = node.children().iter().collect();
                self.free_fields(&node.props, &children, &mut out);
                return Some(Json::Object(out));
            }
            Some(other) => {
                let span = node.ty.as_ref().map(|t| t.span).unwrap_or(node.name.span);
                self.error(
                    span,
                    node.origin.as_deref(),
                    format!("unknown type annotation `({other})`"),
                    "not `(array)` or `(object)`",
                    Some(
                        "`(array)key` makes a list of the node's values, `(object)key` an object of its fields".into(),
                    ),
                );
                return None;
            }
            None => {}
        }
        if elements && node.args.is_empty() && node.props.is_empty() {
            return self.free_list(node);
        }
        if node.props.is_empty() && node.children().is_empty() {
            return match node.args.as_slice() {
                [] => {
                    self.error(
                        node.name.span,
                        node.origin.as_deref(),
                        format!("`{}` has no value", node.name.name),
                        "empty",
                        Some(format!(
                            "write a value (`{0} \"…\"`, `{0} #null`), or `(object){0}` for {{}} and `(array){0}` for []",
                            node.name.name
                        )),
                    );
                    None
                }
                [one] => self.free_scalar(one),
                _ => self.free_list(node),
            };
        }
        if let Some(a) = node.args.first() {
            self.error(
                a.span,
                a.origin.as_deref(),
                format!("`{}` has fields, so it takes no value of its own", node.name.name),
                "a value beside fields",
                None,
            );
            return None;
        }
        let mut out = Map::new();
        let children: Vec<&Node> = node.children().iter().collect();
        self.free_fields(&node.props, &children, &mut out);
        Some(Json::Object(out))
    }

    fn free_list(&mut self, node: &Node) -> Option<Json> {
        let mut out = Vec::new();
        for a in &node.args {
            out.push(self.free_scalar(a)?);
        }
        if let Some(p) = node.props.first() {
            self.error(p.span, p.value.origin.as_deref(), "a list has no properties".into(), "a property", None);
            return None;
        }
        for c in node.children() {
            if c.name.name != ELEMENT {
                self.error(
                    c.name.span,
                    c.origin.as_deref(),
                    "the elements of a list are `-` nodes".into(),
                    "not `-`",
                    Some("write `- value`, `- field=…` or `- { … }` for each element".into()),
                );
                return None;
            }
            if c.args.is_empty() && c.props.is_empty() && c.children().is_empty() && c.ty.is_none() {
                out.push(Json::Object(Map::new()));
                continue;
            }
            out.push(self.free(c)?);
        }
        Some(Json::Array(out))
    }

    fn free_fields(&mut self, props: &[crate::syntax::Prop], children: &[&Node], out: &mut Map<String, Json>) {
        for p in props {
            if out.contains_key(&p.key.name) {
                self.twice(&p.key.name, p.key.span, p.value.origin.as_deref());
                continue;
            }
            if let Some(v) = self.free_scalar(&p.value) {
                out.insert(p.key.name.clone(), v);
            }
        }
        for c in children {
            if out.contains_key(&c.name.name) {
                self.twice(&c.name.name, c.name.span, c.origin.as_deref());
                continue;
            }
            if let Some(v) = self.free(c) {
                out.insert(c.name.name.clone(), v);
            }
        }
    }
}

/// Whether a string value is a whole `${variable}` reference (which may stand for a number or a
/// boolean).
fn v_is_var(v: &Value) -> bool {
    matches!(&v.literal, Literal::String(s) if super::vars::Vars::whole_reference(s).is_some())
}

/// A node to write: the inverse of reading, for `msws import-values`, which turns Kubernetes
/// fields of chart values into raw blocks. Reading what is written gives the same JSON back.
#[derive(Clone, Debug, PartialEq)]
pub struct Written {
    pub name: String,
    /// `(array)` or `(object)`, where no schema says what an empty or one-element value is.
    pub ty: Option<&'static str>,
    pub args: Vec<Json>,
    pub props: Vec<(String, Json)>,
    pub children: Vec<Written>,
}

impl Written {
    fn new(name: &str) -> Written {
        Written { name: name.to_string(), ty: None, args: Vec::new(), props: Vec::new(), children: Vec::new() }
    }
}

/// The children of a block holding `fields` of `root` (nulls, which mean "not set", are left
/// out).
pub fn write_fields(fields: &Map<String, Json>, root: Root) -> Vec<Written> {
    let schemas = schemas();
    let schema = schemas.root(root);
    let mut w = Writer { schemas };
    w.struct_children(&schema, fields)
}

/// The children of a block holding `fields` without a schema.
pub fn write_free_fields(fields: &Map<String, Json>) -> Vec<Written> {
    let mut w = Writer { schemas: schemas() };
    let mut out = Vec::new();
    for (k, v) in fields {
        out.push(w.free(k, v));
    }
    out
}

/// The children of an `object { … }` block: typed when msws has the kind's schema.
pub fn write_object(value: &Map<String, Json>) -> Vec<Written> {
    let s = |k: &str| value.get(k).and_then(Json::as_str);
    let def = match (s("apiVersion"), s("kind")) {
        (Some(av), Some(k)) => OBJECT_KINDS.iter().find(|(a, kk, _)| *a == av && *kk == k).map(|(_, _, d)| *d),
        _ => None,
    };
    match def {
        Some(def) => {
            let schema = serde_json::json!({"$ref": format!("#/$defs/{def}")});
            let mut w = Writer { schemas: schemas() };
            w.struct_children(&schema, value)
        }
        None => write_free_fields(value),
    }
}

/// One node `key` holding `value` as a value of the definition `def`.
pub fn write_as(key: &str, value: &Json, def: &str) -> Written {
    let schema = serde_json::json!({"$ref": format!("#/$defs/{def}")});
    let mut w = Writer { schemas: schemas() };
    w.nodes(key, &schema, value).into_iter().next().unwrap_or_else(|| Written::new(key))
}

struct Writer {
    schemas: &'static Schemas,
}

impl Writer {
    fn is_scalar(&self, schema: &Json) -> bool {
        matches!(
            self.schemas.shape(schema),
            Shape::String | Shape::Integer { .. } | Shape::Number | Shape::Boolean | Shape::IntOrString { .. }
        )
    }

    /// The fields of a struct as children (for a block, whose own properties are not fields).
    fn struct_children(&mut self, schema: &Json, fields: &Map<String, Json>) -> Vec<Written> {
        let properties = match self.schemas.shape(schema) {
            Shape::Struct { properties, .. } => Some(properties),
            _ => None,
        };
        let mut out = Vec::new();
        for (k, v) in fields.iter().filter(|(_, v)| !v.is_null()) {
            match properties.and_then(|p| p.get(k)) {
                Some(field) => out.extend(self.nodes(k, field, v)),
                None => out.push(self.free(k, v)),
            }
        }
        out
    }

    /// The nodes of one field: one node, or one per element of a list of objects.
    fn nodes(&mut self, key: &str, schema: &Json, v: &Json) -> Vec<Written> {
        match (self.schemas.shape(schema), v) {
            (Shape::List(items), Json::Array(a)) => {
                let mut n = Written::new(key);
                if self.is_scalar(items) && a.iter().all(|x| !x.is_object() && !x.is_array()) {
                    n.args = a.clone();
                    return vec![n];
                }
                // Objects: a node each, unless an element is empty (it would read as nothing)
                // or not an object: then `-` elements.
                let plain = a.iter().all(|x| x.as_object().is_some_and(|m| !m.is_empty()));
                if plain && !a.is_empty() {
                    return a.iter().map(|x| self.node(key, items, x)).collect();
                }
                n.children = a.iter().map(|x| self.node(ELEMENT, items, x)).collect();
                vec![n]
            }
            _ => vec![self.node(key, schema, v)],
        }
    }

    /// One node holding a value of `schema`.
    fn node(&mut self, key: &str, schema: &Json, v: &Json) -> Written {
        let mut n = Written::new(key);
        match (self.schemas.shape(schema), v) {
            (Shape::Struct { properties, .. }, Json::Object(m)) => {
                for (k, x) in m.iter().filter(|(_, x)| !x.is_null()) {
                    match properties.get(k) {
                        Some(field) if self.is_scalar(field) && is_scalar_json(x) => {
                            n.props.push((k.clone(), x.clone()))
                        }
                        Some(field) => n.children.extend(self.nodes(k, field, x)),
                        None => n.children.push(self.free(k, x)),
                    }
                }
            }
            (Shape::Map(values), Json::Object(m)) => {
                for (k, x) in m.iter().filter(|(_, x)| !x.is_null()) {
                    if self.is_scalar(values) && is_scalar_json(x) {
                        n.props.push((k.clone(), x.clone()));
                    } else {
                        n.children.push(self.node(k, values, x));
                    }
                }
            }
            (Shape::List(_), Json::Array(_)) => {
                return self.nodes(key, schema, v).into_iter().next().unwrap_or(n);
            }
            (Shape::Free, _) => return self.free(key, v),
            (_, x) if is_scalar_json(x) => n.args.push(x.clone()),
            (_, x) => return self.free(key, x),
        }
        n
    }

    /// A value without a schema, by the schema-less rules (annotated where they would not say).
    fn free(&mut self, key: &str, v: &Json) -> Written {
        let mut n = Written::new(key);
        match v {
            Json::Array(a) => {
                if a.len() >= 2 && a.iter().all(is_scalar_json) {
                    n.args = a.clone();
                } else if a.iter().all(is_scalar_json) {
                    n.ty = Some("array");
                    n.args = a.clone();
                } else {
                    n.ty = Some("array");
                    n.children = a.iter().map(|x| self.element(x)).collect();
                }
            }
            Json::Object(m) if m.is_empty() => n.ty = Some("object"),
            Json::Object(m) => {
                // An object whose fields are all `-` would read as a list: annotate it.
                if m.keys().all(|k| k == ELEMENT) {
                    n.ty = Some("object");
                }
                for (k, x) in m {
                    if is_scalar_json(x) {
                        n.props.push((k.clone(), x.clone()));
                    } else {
                        n.children.push(self.free(k, x));
                    }
                }
            }
            x => n.args.push(x.clone()),
        }
        n
    }

    /// An element of a schema-less list: `- value`, `- field=…`, `- { … }`.
    fn element(&mut self, v: &Json) -> Written {
        match v {
            Json::Object(m) if m.is_empty() => Written::new(ELEMENT),
            x if is_scalar_json(x) => {
                let mut n = Written::new(ELEMENT);
                n.args.push(x.clone());
                n
            }
            x => self.free(ELEMENT, x),
        }
    }
}

fn is_scalar_json(v: &Json) -> bool {
    !v.is_array() && !v.is_object()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Writes the fields as a block in a workspace, loads it, and gives back what was read.
    fn round_trip(block: &str, fields: &Json) -> (Json, String) {
        let written = match block {
            "pod" => write_fields(fields.as_object().unwrap(), Root::PodSpec),
            "container" => write_fields(fields.as_object().unwrap(), Root::Container),
            "object" => write_object(fields.as_object().unwrap()),
            _ => unreachable!(),
        };
        let node = crate::import_values::emit::KNode::raw_block(block, &written);
        let kdl = crate::import_values::emit::print(&[], &[node]);
        let indented: String = kdl.lines().map(|l| format!("            {l}\n")).collect();
        let (container_block, pod_block, object_block) = match block {
            "pod" => (String::new(), indented, String::new()),
            "container" => (indented, String::new(), String::new()),
            _ => (String::new(), String::new(), indented),
        };
        let text = format!(
            "workspace \"w\" format=1\nmodel-service \"m\" {{\n    uri \"hf://org/m\"\n    served-name \"m\"\n{object_block}    decode extends=\"std/vllm-single\" {{\n{pod_block}        container \"vllm\" {{\n{container_block}        }}\n    }}\n}}\n"
        );
        let fe = crate::lower::load_str("w.kdl", &text, &Default::default());
        let Some(ws) = fe.workspace else {
            let errors: Vec<String> = fe.sink.sorted().into_iter().map(|d| d.message.clone()).collect();
            panic!("{text}\n{errors:#?}");
        };
        let svc = &ws.services[0];
        let role = svc.decode.as_ref().unwrap();
        let got = match block {
            "pod" => Json::Object(role.pod.clone()),
            "container" => Json::Object(role.containers[0].fields.clone()),
            _ => Json::Object(svc.objects[0].value.clone()),
        };
        (got, text)
    }

    #[track_caller]
    fn same(block: &str, fields: Json) {
        let (got, text) = round_trip(block, &fields);
        assert_eq!(got, fields, "{text}");
    }

    #[test]
    fn what_is_written_reads_back_the_same() {
        same(
            "pod",
            json!({
                "hostIPC": true,
                "dnsPolicy": "None",
                "dnsConfig": {"nameservers": ["10.0.0.10"], "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]},
                "securityContext": {"runAsUser": 1000, "sysctls": [{"name": "net.core.somaxconn", "value": "1024"}]},
                "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app.kubernetes.io/name": "x"}}, "topologyKey": "kubernetes.io/hostname"}
                ]}},
                "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"}],
                "hostAliases": [{"ip": "10.1.2.3", "hostnames": ["one"]}],
                "overhead": {"cpu": "250m"},
                "readinessGates": [],
            }),
        );
        same(
            "container",
            json!({
                "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 5; echo \"done\""]}}, "postStart": {"sleep": {"seconds": 3}}},
                "envFrom": [{"configMapRef": {"name": "a"}}, {"prefix": "X_", "secretRef": {"name": "b", "optional": true}}],
                "stdin": true,
                "tty": false,
                "livenessProbe": {"httpGet": {"path": "/health", "port": "http", "httpHeaders": [{"name": "X", "value": "${not-a-var}"}]}, "periodSeconds": 10},
                "resizePolicy": [{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
                "volumeDevices": [{"name": "raw", "devicePath": "/dev/xvda"}],
            }),
        );
        // An empty element and an empty list, which would read as nothing written plainly.
        same("pod", json!({"dnsConfig": {"options": [{}, {"name": "ndots"}]}, "readinessGates": []}));
        // A custom resource, without a schema: one-element lists, empty objects, nesting.
        same(
            "object",
            json!({
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {"name": "r", "labels": {"a": "b"}},
                "spec": {
                    "parentRefs": [{"name": "gw"}],
                    "hostnames": ["one.example.com"],
                    "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "filters": []}],
                    "empty": {},
                    "nested": [[1, 2], [3]],
                    "ratio": 0.5,
                    "whole": 2.0,
                    "nothing": null,
                },
            }),
        );
        // A kind msws has the schema of is written and checked typed.
        same(
            "object",
            json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "s"},
                "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": "http", "name": "http"}]},
            }),
        );
    }
}
