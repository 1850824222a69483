//! A Go text/template interpreter with Helm's functions (Helm's own and sprig's), so that
//! `msws import-values` renders the templates the ModelService chart passes through Helm's
//! `tpl` (`common.tplvalues.render`): `{{ .Release.Name }}-config`,
//! `{{ include "llm-d-modelservice.fullname" . }}`, `{{ toYaml .Values.x | nindent 4 }}`, …
//!
//! Faithful to Helm 4.2 (Go 1.26's text/template, sprig 3.3, sigs.k8s.io/yaml), checked against
//! the golden cases in `tests/data/tpl/cases.json`, which real Helm rendered
//! (`tests/python/gen_tpl_cases.py`). What Helm does and this does too:
//!
//! - `missingkey=zero`: a missing key is nil, printed `<no value>`, which Helm then removes from
//!   the output (`render` and `tpl` do the same); a field of such a nil is an error ("nil pointer
//!   evaluating interface {}.x"), a field of a nil variable is nil.
//! - Numbers keep their Go types: values from YAML files are `float64` (they go through JSON),
//!   so `{{ .Values.n }}` prints `2` but `1e+06` for a million, and `eq .Values.n 2` is an
//!   error ("incompatible types for comparison"); literals are `int`; sprig's arithmetic gives
//!   `int64`. [`Context::new`] takes the values as JSON and makes every number a float64, as
//!   for values files; [`value::from_json`] with [`Numbers::Int64`] gives `--set`'s int64s.
//! - Functions check their arguments' Go types as Go does (`trunc .Values.n "x"` fails with a
//!   float64).
//!
//! Deliberate gaps, each an error naming the function: the non-deterministic functions (`now`,
//! `date…`, `rand…`, `uuidv4`, `shuffle`, the crypto ones, `getHostByName`), and a few Helm
//! defines that msws has no use for (`toToml`, `fromToml`, `semver…`, `url…`, `…case`, `wrap…`,
//! the decimal `…f` arithmetic). `fromYaml` reads YAML 1.2's core schema (serde_yaml_ng), so a
//! plain `yes`, `no`, `on`, `off` or `010` reads as Helm's YAML 1.1 would not.

mod exec;
mod funcs;
mod gofmt;
mod parse;
mod regex;
pub mod value;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use exec::{Ev, Exec, FuncErr, map_of};
use parse::{FuncCheck, Tree, TreeMap};
use value::{GoStruct, MapTy};
pub use value::{Numbers, Val};

/// The release a template is rendered for (`.Release`).
#[derive(Clone, Debug)]
pub struct Release {
    pub name: String,
    pub namespace: String,
    pub revision: i64,
    pub is_install: bool,
    pub is_upgrade: bool,
}

impl Release {
    /// A first install, as `helm template` renders it.
    pub fn new(name: &str, namespace: &str) -> Release {
        Release { name: name.into(), namespace: namespace.into(), revision: 1, is_install: true, is_upgrade: false }
    }
}

/// The chart's metadata (`.Chart`).
#[derive(Clone, Debug, Default)]
pub struct Chart {
    pub name: String,
    pub version: String,
    pub app_version: String,
    pub api_version: String,
    pub description: String,
    pub chart_type: String,
    pub sources: Vec<String>,
}

impl Chart {
    /// The ModelService chart's Chart.yaml.
    pub fn modelservice() -> Chart {
        Chart {
            name: super::CHART_NAME.into(),
            version: super::CHART_VERSION.into(),
            app_version: "v0.4.0".into(),
            api_version: "v2".into(),
            description: "A Helm chart for ModelService in llm-d".into(),
            chart_type: "application".into(),
            sources: vec!["https://github.com/llm-d-incubation/llm-d-modelservice".into()],
        }
    }
}

/// Everything a template sees: `.Values`, `.Release`, `.Chart`, `.Capabilities` (what
/// `helm template` reports without a cluster: Kubernetes v1.36.0) and `.Template`.
#[derive(Clone, Debug)]
pub struct Context {
    pub values: Val,
    pub release: Release,
    pub chart: Chart,
    /// `.Template.Name`, also the name errors point at.
    pub template_name: String,
}

impl Context {
    /// Values from YAML files (and the chart's defaults), as JSON: every number a float64.
    pub fn new(values: &serde_json::Value, release: Release, chart: Chart) -> Context {
        let template_name = format!("{}/templates/values.yaml", chart.name);
        Context { values: value::from_json(values, Numbers::Float64), release, chart, template_name }
    }

    /// The ModelService chart's context.
    pub fn modelservice(values: &serde_json::Value, release: &str, namespace: &str) -> Context {
        Context::new(values, Release::new(release, namespace), Chart::modelservice())
    }

    /// The template's dot: Helm's top-level map.
    fn root(&self) -> Val {
        let r = &self.release;
        let release = map_of(
            vec![
                ("Name", Val::str(r.name.as_str())),
                ("Namespace", Val::str(r.namespace.as_str())),
                ("IsUpgrade", Val::Bool(r.is_upgrade)),
                ("IsInstall", Val::Bool(r.is_install)),
                ("Revision", Val::int(r.revision)),
                ("Service", Val::str("Helm")),
            ],
            MapTy::Any,
        );
        let c = &self.chart;
        let chart = map_of(
            vec![
                ("APIVersion", Val::str(c.api_version.as_str())),
                ("Annotations", Val::typed_map(BTreeMap::new(), MapTy::StrStr)),
                ("AppVersion", Val::str(c.app_version.as_str())),
                ("Condition", Val::str("")),
                ("Dependencies", Val::list(Vec::new())),
                ("Deprecated", Val::Bool(false)),
                ("Description", Val::str(c.description.as_str())),
                ("Home", Val::str("")),
                ("Icon", Val::str("")),
                ("IsRoot", Val::Bool(true)),
                ("Keywords", Val::str_list(Vec::new())),
                ("KubeVersion", Val::str("")),
                ("Maintainers", Val::list(Vec::new())),
                ("Name", Val::str(c.name.as_str())),
                ("Sources", Val::str_list(c.sources.clone())),
                ("Tags", Val::str("")),
                ("Type", Val::str(c.chart_type.as_str())),
                ("Version", Val::str(c.version.as_str())),
            ],
            MapTy::Any,
        );
        let template = map_of(
            vec![
                ("Name", Val::str(self.template_name.as_str())),
                ("BasePath", Val::str(format!("{}/templates", self.chart.name))),
            ],
            MapTy::Values,
        );
        let values = match &self.values {
            Val::Map(m, _) => Val::Map(m.clone(), MapTy::Values),
            _ => Val::typed_map(BTreeMap::new(), MapTy::Values),
        };
        map_of(
            vec![
                ("Capabilities", capabilities()),
                ("Chart", chart),
                ("Files", Val::empty_map()),
                ("Release", release),
                ("Subcharts", Val::empty_map()),
                ("Template", template),
                ("Values", values),
            ],
            MapTy::Values,
        )
    }
}

/// The API versions Helm 4.2 reports without a cluster.
const API_VERSIONS: &str = "v1 admissionregistration.k8s.io/v1 admissionregistration.k8s.io/v1alpha1 \
admissionregistration.k8s.io/v1beta1 internal.apiserver.k8s.io/v1alpha1 apps/v1 apps/v1beta1 apps/v1beta2 \
authentication.k8s.io/v1 authentication.k8s.io/v1alpha1 authentication.k8s.io/v1beta1 authorization.k8s.io/v1 \
authorization.k8s.io/v1beta1 autoscaling/v1 autoscaling/v2 batch/v1 batch/v1beta1 certificates.k8s.io/v1 \
certificates.k8s.io/v1beta1 certificates.k8s.io/v1alpha1 coordination.k8s.io/v1alpha2 coordination.k8s.io/v1beta1 \
coordination.k8s.io/v1 discovery.k8s.io/v1 discovery.k8s.io/v1beta1 events.k8s.io/v1 events.k8s.io/v1beta1 \
extensions/v1beta1 flowcontrol.apiserver.k8s.io/v1 flowcontrol.apiserver.k8s.io/v1beta1 \
flowcontrol.apiserver.k8s.io/v1beta2 flowcontrol.apiserver.k8s.io/v1beta3 networking.k8s.io/v1 \
networking.k8s.io/v1beta1 node.k8s.io/v1 node.k8s.io/v1alpha1 node.k8s.io/v1beta1 policy/v1 policy/v1beta1 \
rbac.authorization.k8s.io/v1 rbac.authorization.k8s.io/v1beta1 rbac.authorization.k8s.io/v1alpha1 \
resource.k8s.io/v1 resource.k8s.io/v1beta2 resource.k8s.io/v1beta1 resource.k8s.io/v1alpha3 \
scheduling.k8s.io/v1alpha2 scheduling.k8s.io/v1beta1 scheduling.k8s.io/v1 storage.k8s.io/v1beta1 storage.k8s.io/v1 \
storage.k8s.io/v1alpha1 storagemigration.k8s.io/v1beta1 apiextensions.k8s.io/v1beta1 apiextensions.k8s.io/v1";

fn capabilities() -> Val {
    let kube = GoStruct {
        type_name: "common.KubeVersion",
        fields: vec![
            ("Version", Val::str("v1.36.0")),
            ("Major", Val::str("1")),
            ("Minor", Val::str("36")),
            ("GitVersion", Val::str("v1.36.0")),
        ],
        display: Some("v1.36.0".into()),
        has: None,
    };
    let apis = GoStruct {
        type_name: "common.VersionSet",
        fields: Vec::new(),
        display: None,
        has: Some(API_VERSIONS.split(' ').map(str::to_string).collect()),
    };
    let helm = GoStruct {
        type_name: "common.HelmVersion",
        fields: vec![
            ("Version", Val::str("v4.2")),
            ("GitCommit", Val::str("")),
            ("GitTreeState", Val::str("")),
            ("GoVersion", Val::str("go1.26.6")),
            ("KubeClientVersion", Val::str("v1.36")),
        ],
        display: None,
        has: None,
    };
    Val::Struct(Rc::new(GoStruct {
        type_name: "*common.Capabilities",
        fields: vec![
            ("KubeVersion", Val::Struct(Rc::new(kube))),
            ("APIVersions", Val::Struct(Rc::new(apis))),
            ("HelmVersion", Val::Struct(Rc::new(helm))),
        ],
        display: None,
        has: None,
    }))
}

/// What kind of error a template produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The text is not a template Go accepts.
    Parse,
    /// Executing it failed (including `fail` and `required`).
    Exec,
}

/// Where an error happened: the template file, its 1-based line and 0-based byte column
/// (Go's convention).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub template: String,
    pub line: usize,
    pub col: usize,
}

/// A template error: Go's full message (`template: NAME:LINE:COL: executing … at <…>: …`) and
/// the innermost cause, which for `fail "msg"` and `required "msg" x` is exactly `msg`.
#[derive(Clone, Debug)]
pub struct TplError {
    pub kind: ErrorKind,
    pub message: String,
    pub cause: String,
    pub location: Option<Location>,
}

impl fmt::Display for TplError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TplError {}

impl TplError {
    fn parse(name: &str, line: usize, col: usize, msg: String) -> TplError {
        TplError {
            kind: ErrorKind::Parse,
            message: format!("template: {name}:{line}: {msg}"),
            cause: msg,
            location: Some(Location { template: name.into(), line, col }),
        }
    }

    fn exec(
        parse_name: &str,
        name: &str,
        line: usize,
        col: usize,
        context: &str,
        msg: String,
        inner: Option<Box<TplError>>,
    ) -> TplError {
        let cause = match &inner {
            Some(i) => i.cause.clone(),
            None => msg
                .split_once("error calling ")
                .map_or(msg.as_str(), |(_, r)| r.split_once(": ").map_or(r, |x| x.1))
                .to_string(),
        };
        TplError {
            kind: ErrorKind::Exec,
            message: format!("template: {parse_name}:{line}:{col}: executing {name:?} at <{context}>: {msg}"),
            cause,
            location: Some(Location { template: parse_name.into(), line, col }),
        }
    }

    fn exec_plain(msg: String) -> TplError {
        TplError { kind: ErrorKind::Exec, cause: msg.clone(), message: msg, location: None }
    }
}

struct HelmFuncs;

impl FuncCheck for HelmFuncs {
    fn has_function(&self, name: &str) -> bool {
        funcs::lookup(name).is_some()
    }
}

/// Whether Helm defines a template function of that name.
pub fn is_function(name: &str) -> bool {
    funcs::lookup(name).is_some()
}

/// Named templates (`{{ define "name" }}…{{ end }}`), for `include` and `template`.
#[derive(Clone, Debug, Default)]
pub struct Defines {
    trees: TreeMap,
}

/// The chart's helper files, compiled in, in the order Helm parses them (the subchart first,
/// so the chart's own definitions win).
const CHART_FILES: &[(&str, &str)] = &[
    ("llm-d-modelservice/charts/common/templates/_affinities.tpl", include_str!("../chart/common/_affinities.tpl")),
    ("llm-d-modelservice/charts/common/templates/_capabilities.tpl", include_str!("../chart/common/_capabilities.tpl")),
    (
        "llm-d-modelservice/charts/common/templates/_compatibility.tpl",
        include_str!("../chart/common/_compatibility.tpl"),
    ),
    ("llm-d-modelservice/charts/common/templates/_errors.tpl", include_str!("../chart/common/_errors.tpl")),
    ("llm-d-modelservice/charts/common/templates/_images.tpl", include_str!("../chart/common/_images.tpl")),
    ("llm-d-modelservice/charts/common/templates/_ingress.tpl", include_str!("../chart/common/_ingress.tpl")),
    ("llm-d-modelservice/charts/common/templates/_labels.tpl", include_str!("../chart/common/_labels.tpl")),
    ("llm-d-modelservice/charts/common/templates/_names.tpl", include_str!("../chart/common/_names.tpl")),
    ("llm-d-modelservice/charts/common/templates/_resources.tpl", include_str!("../chart/common/_resources.tpl")),
    ("llm-d-modelservice/charts/common/templates/_secrets.tpl", include_str!("../chart/common/_secrets.tpl")),
    ("llm-d-modelservice/charts/common/templates/_storage.tpl", include_str!("../chart/common/_storage.tpl")),
    ("llm-d-modelservice/charts/common/templates/_tplvalues.tpl", include_str!("../chart/common/_tplvalues.tpl")),
    ("llm-d-modelservice/charts/common/templates/_utils.tpl", include_str!("../chart/common/_utils.tpl")),
    ("llm-d-modelservice/charts/common/templates/_warnings.tpl", include_str!("../chart/common/_warnings.tpl")),
    ("llm-d-modelservice/templates/_helpers-dra.tpl", include_str!("../chart/_helpers-dra.tpl")),
    ("llm-d-modelservice/templates/_helpers.tpl", include_str!("../chart/_helpers.tpl")),
];

impl Defines {
    /// The named templates a text defines.
    pub fn parse(file: &str, text: &str) -> Result<Defines, TplError> {
        let mut d = Defines::default();
        d.add(file, text)?;
        Ok(d)
    }

    /// Adds (or replaces) the templates `text` defines.
    pub fn add(&mut self, file: &str, text: &str) -> Result<(), TplError> {
        let (_, defs) = parse::parse(file, text, &HelmFuncs).map_err(|e| e.into_error(file, text))?;
        let src: Rc<str> = text.into();
        let file: Rc<str> = file.into();
        for (name, root) in defs {
            insert_define(&mut self.trees, name, root, &file, &src);
        }
        Ok(())
    }

    /// The ModelService chart's helpers and the common chart's.
    pub fn modelservice() -> Result<Defines, TplError> {
        let mut d = Defines::default();
        for (file, text) in CHART_FILES {
            d.add(file, text)?;
        }
        Ok(d)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.trees.keys().map(String::as_str)
    }
}

/// Go's rule for a redefinition: a later definition replaces an earlier one, unless its body is
/// empty.
fn insert_define(trees: &mut TreeMap, name: String, root: Vec<parse::Node>, file: &Rc<str>, src: &Rc<str>) {
    let empty = root.iter().all(|n| matches!(n, parse::Node::Text(t) if t.trim().is_empty()));
    if empty && trees.contains_key(&name) {
        return;
    }
    trees.insert(name.clone(), Rc::new(Tree { name, parse_name: file.clone(), src: src.clone(), root }));
}

/// Renders a template text as Helm renders a chart file (and `tpl` a string): with `defines`
/// and the text's own `define`s available, `<no value>` removed from the output.
pub fn render(text: &str, ctx: &Context, defines: &Defines) -> Result<String, TplError> {
    render_with(text, ctx, defines, ctx.root())
}

/// [`render`] with another dot than Helm's top-level map: what a chart's `include` of a define
/// passes, such as the container template's `(dict "role" … "Values" $.Values …)`.
pub fn render_with(text: &str, ctx: &Context, defines: &Defines, dot: Val) -> Result<String, TplError> {
    let name = ctx.template_name.clone();
    run_text(ctx, &defines.trees, &name, text, Ev::new(dot), 0)
}

impl Context {
    /// Helm's top-level map (`$` in a chart file): `.Values`, `.Release`, `.Chart`, …
    pub fn top(&self) -> Val {
        self.root()
    }
}

/// A map as sprig's `dict` makes it (`map[string]interface {}`).
pub fn dict(entries: Vec<(&str, Val)>) -> Val {
    map_of(entries, MapTy::Any)
}

fn run_text(ctx: &Context, base: &TreeMap, name: &str, text: &str, dot: Ev, depth: usize) -> Result<String, TplError> {
    let (root, defs) = parse::parse(name, text, &HelmFuncs).map_err(|e| e.into_error(name, text))?;
    let src: Rc<str> = text.into();
    let file: Rc<str> = name.into();
    let mut trees = base.clone();
    for (n, r) in defs {
        insert_define(&mut trees, n, r, &file, &src);
    }
    let tree = Tree { name: name.to_string(), parse_name: file, src, root };
    let mut ex = Exec { ctx, trees: Rc::new(trees), depth };
    let out = ex.run_tree(&tree, dot)?;
    Ok(out.replace("<no value>", ""))
}

/// Helm's `include`.
fn helm_include(ex: &mut Exec, a: &[Ev]) -> Result<Val, FuncErr> {
    let name = a[0].v.as_str().unwrap_or_default();
    match ex.execute(name, Ev::new(a[1].v.clone())) {
        Ok(s) => Ok(Val::str(s)),
        Err(e) => Err(FuncErr { msg: e.message.clone(), inner: Some(Box::new(e)) }),
    }
}

/// Helm's `tpl`: the text rendered with the given values as its dot, the chart's templates
/// available, `<no value>` removed.
fn helm_tpl(ex: &mut Exec, a: &[Ev]) -> Result<Val, FuncErr> {
    let text = a[0].v.as_str().unwrap_or_default().to_string();
    let dot = Ev::new(a[1].v.clone());
    let trees = ex.trees.clone();
    match run_text(ex.ctx, &trees, "gotpl", &text, dot, ex.depth + 1) {
        Ok(s) => Ok(Val::str(s)),
        Err(e) if e.kind == ErrorKind::Parse => {
            Err(FuncErr { msg: format!("cannot parse template {text:?}: {}", e.message), inner: Some(Box::new(e)) })
        }
        Err(e) => Err(FuncErr {
            msg: format!("error during tpl function execution for {text:?}: {}", e.message),
            inner: Some(Box::new(e)),
        }),
    }
}
