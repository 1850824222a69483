//! `msws import-values`: the values of the llm-d ModelService Helm chart → an equivalent
//! workspace file, for users moving a `helm install` to msws.
//!
//! The steps, in order:
//!
//! 1. read each values file ([`values::parse_yaml`]) and merge them as `helm -f a -f b` does;
//! 2. apply every `--set`, then every `--set-string`, with Helm's syntax ([`strvals`]);
//! 3. coalesce the result with the chart's own defaults (`chart-values.yaml`, compiled in), so
//!    the tree holds exactly what the chart's templates see;
//! 4. render the `{{ .Values.x }}` templates the chart renders inside values (the model URI,
//!    containers' `env` and `ports`);
//! 5. translate every value into the workspace language (`translate.rs`), collecting every value
//!    msws cannot express yet and every key it does not know, so one run lists all of them;
//! 6. print the workspace ([`emit`]), put it through `msws fmt`'s formatter, and load it with the
//!    front end: what comes out is a file `msws validate` accepts.
//!
//! Pure like the front end: no IO (the command reads the files), deterministic output.

pub mod emit;
pub mod strvals;
pub mod templates;
pub mod tpl;
mod translate;
pub mod values;

use std::fmt;

use serde_json::{Map, Value};

pub use strvals::Typing;

/// The chart whose values are read, and the version its defaults come from.
pub const CHART_NAME: &str = "llm-d-modelservice";
pub const CHART_VERSION: &str = "v0.4.12";

/// The chart's `values.yaml`, the defaults every import starts from.
pub const CHART_VALUES: &str = include_str!("chart-values.yaml");

/// One values file: the name it is shown under and its text.
#[derive(Clone, Debug)]
pub struct ValuesFile {
    pub name: String,
    pub text: String,
}

/// What to import.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Merged in order, later files winning.
    pub files: Vec<ValuesFile>,
    /// `--set` lines, applied in order after the files.
    pub sets: Vec<String>,
    /// `--set-string` lines, applied in order after every `--set` (Helm's order).
    pub set_strings: Vec<String>,
    /// The Helm release name: it names the objects, as the chart's `fullname` helper does.
    pub release: String,
    pub namespace: Option<String>,
}

/// What kind of problem a value has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// A key the chart does not have (a typo, or a newer chart), set to something other than the
    /// chart's default.
    Unknown,
    /// A value that cannot be used: wrong type, unparseable, or one the chart itself would refuse.
    Invalid,
}

/// A value that could not be imported, named by its key (`decode.containers[0].env`); no key
/// when the problem is with the workspace as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub key: String,
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ProblemKind::Unknown if self.detail.is_empty() => write!(f, "unknown value: {}", self.key),
            ProblemKind::Unknown => write!(f, "unknown value: {} ({})", self.key, self.detail),
            ProblemKind::Invalid if self.key.is_empty() => write!(f, "{}", self.detail),
            ProblemKind::Invalid => write!(f, "{}: {}", self.key, self.detail),
        }
    }
}

/// Why an import failed.
#[derive(Debug)]
pub enum ImportError {
    /// A `--set` that cannot be read, or a bad release name: the command line is wrong.
    Usage(String),
    /// The values have problems; every one found is listed.
    Problems(Vec<Problem>),
}

/// Imports the values: the formatted workspace file, or every problem found.
pub fn import(req: &Request) -> Result<String, ImportError> {
    let merged = merged_values(req)?;
    let mut problems = Vec::new();
    let root = Value::Object(render_templates(merged, req, &mut problems));
    literal_tokens(&root, "", &mut problems);
    let out = translate::translate(&root, chart_defaults(), req);
    problems.extend(out.problems);
    if !problems.is_empty() {
        return Err(ImportError::Problems(problems));
    }
    let text = emit::print(&out.header, &out.nodes);
    let text = crate::syntax::fmt::format_source(&text).map_err(|e| {
        ImportError::Problems(vec![Problem {
            kind: ProblemKind::Invalid,
            key: String::new(),
            detail: format!("internal error: the workspace msws wrote is not valid KDL ({e})"),
        }])
    })?;
    self_check(&text, req)?;
    Ok(text)
}

/// Loads the written workspace with the front end, so an import never prints a file that
/// `msws validate` refuses; anything the translation let through is reported with the front
/// end's own diagnostics.
fn self_check(text: &str, req: &Request) -> Result<(), ImportError> {
    let name = format!("{}.kdl", req.release);
    let mut fe = crate::lower::load_str(&name, text, &crate::lower::Options::default());
    if let Some(ws) = &fe.workspace {
        crate::graph::build(ws, &mut fe.sink);
    }
    if !fe.sink.has_errors() {
        return Ok(());
    }
    let problems = fe
        .sink
        .sorted()
        .into_iter()
        .filter(|d| d.severity == crate::diag::Severity::Error)
        .map(|d| Problem {
            kind: ProblemKind::Invalid,
            key: String::new(),
            detail: format!("the workspace made from these values does not load: {}", d.message),
        })
        .collect();
    Err(ImportError::Problems(problems))
}

/// The chart's defaults, parsed (once per process).
pub fn chart_defaults() -> &'static Value {
    static DEFAULTS: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    // The file is compiled in and covered by tests; an empty map would only make every value
    // look unknown, never crash.
    DEFAULTS.get_or_init(|| Value::Object(values::parse_yaml(CHART_VALUES).unwrap_or_default()))
}

/// The values the chart's templates would see: the files merged in order, the `--set`s applied,
/// coalesced with the chart's defaults.
pub fn merged_values(req: &Request) -> Result<Map<String, Value>, ImportError> {
    let mut user = Map::new();
    let mut problems = Vec::new();
    for f in &req.files {
        match values::parse_yaml(&f.text) {
            Ok(v) => values::merge(&mut user, v),
            Err(e) => problems.push(Problem {
                kind: ProblemKind::Invalid,
                key: f.name.clone(),
                detail: format!("not a values file: {e}"),
            }),
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Problems(problems));
    }
    let sets = req.sets.iter().map(|s| (s, Typing::Typed, "--set"));
    let strings = req.set_strings.iter().map(|s| (s, Typing::Strings, "--set-string"));
    for (line, typing, flag) in sets.chain(strings) {
        values::apply_set(&mut user, line, typing).map_err(|e| ImportError::Usage(format!("{flag} {line}: {e}")))?;
    }
    Ok(match chart_defaults() {
        Value::Object(defaults) => values::coalesce(user, defaults),
        _ => user,
    })
}

/// Renders the templates in the values the chart passes through `tpl` (its
/// `common.tplvalues.render`), each in the context the chart renders it in: the model URI, each
/// container's `env`, `ports` and `extraConfig`, each role's `extraConfig`, and `extraObjects`.
/// Elsewhere the chart prints `{{ … }}` literally, and so does msws.
fn render_templates(mut root: Map<String, Value>, req: &Request, problems: &mut Vec<Problem>) -> Map<String, Value> {
    if !templates::holds_template(&Value::Object(root.clone())) {
        return root;
    }
    let namespace = req.namespace.clone().unwrap_or_else(|| "default".into());
    let t = match templates::Templates::new(&root, &req.release, &namespace) {
        Ok(t) => t,
        Err(detail) => {
            problems.push(Problem { kind: ProblemKind::Invalid, key: String::new(), detail });
            return root;
        }
    };
    let render = |v: &mut Value, scope: &templates::Scope, key: String, problems: &mut Vec<Problem>| match t
        .render_value(v, scope)
    {
        Ok(r) => *v = r,
        Err(detail) => problems.push(Problem {
            kind: ProblemKind::Invalid,
            key,
            detail: format!("its template does not render: {detail}"),
        }),
    };
    let snapshot = root.clone();
    // The model URI is rendered where the chart renders it: in the arguments of a container.
    let first_role = ["decode", "prefill"]
        .into_iter()
        .find(|r| snapshot.get(*r).and_then(|v| v.get("create")).and_then(Value::as_bool) != Some(false))
        .unwrap_or("decode");
    let first_container =
        snapshot.get(first_role).and_then(|r| r.get("containers")).and_then(|c| c.get(0)).cloned().unwrap_or_default();
    if let Some(Value::Object(ma)) = root.get_mut("modelArtifacts")
        && let Some(uri) = ma.get_mut("uri")
    {
        let scope = templates::Scope::Container { role: first_role, container: &first_container };
        render(uri, &scope, "modelArtifacts.uri".into(), problems);
    }
    for role in ["decode", "prefill"] {
        let Some(Value::Object(r)) = root.get_mut(role) else { continue };
        if let Some(extra) = r.get_mut("extraConfig") {
            render(extra, &templates::Scope::Pod { role }, format!("{role}.extraConfig"), problems);
        }
        let Some(Value::Array(containers)) = r.get_mut("containers") else { continue };
        for (i, c) in containers.iter_mut().enumerate() {
            let original = c.clone();
            let scope = templates::Scope::Container { role, container: &original };
            for field in ["env", "ports", "extraConfig"] {
                if let Some(v) = c.get_mut(field) {
                    render(v, &scope, format!("{role}.containers[{i}].{field}"), problems);
                }
            }
        }
    }
    if let Some(Value::Array(objects)) = root.get_mut("extraObjects") {
        for (i, o) in objects.iter_mut().enumerate() {
            render(o, &templates::Scope::Top, format!("extraObjects[{i}]"), problems);
            // A string item is a whole manifest: read as the YAML the chart would apply.
            if let Value::String(text) = o {
                match templates::read_yaml(text) {
                    Ok(v) => *o = v,
                    Err(detail) => {
                        problems.push(Problem { kind: ProblemKind::Invalid, key: format!("extraObjects[{i}]"), detail })
                    }
                }
            }
        }
    }
    root
}

/// A Hugging Face token written into the values would be written into the workspace, which lives
/// in Git (and which msws refuses to load): name the key, so the user moves it to a Secret.
fn literal_tokens(v: &Value, key: &str, problems: &mut Vec<Problem>) {
    match v {
        Value::String(s) if !crate::diag::token_ranges(s).is_empty() => problems.push(Problem {
            kind: ProblemKind::Invalid,
            key: key.to_string(),
            detail: "holds a Hugging Face token, which msws never writes into a workspace file; put it in a Secret and name the Secret in modelArtifacts.authSecretName (or in an env valueFrom.secretKeyRef)".into(),
        }),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                literal_tokens(item, &format!("{key}[{i}]"), problems);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                literal_tokens(item, &translate::path_join(key, k), problems);
            }
        }
        _ => {}
    }
}

/// The chart's `fullname` helper: `fullnameOverride`, else the release name when it already
/// contains the chart's name (or `nameOverride`), else `<release>-<chart name>`; cut to 55
/// characters (room for `-prefill`) without a trailing `-`.
pub fn fullname(release: &str, name_override: Option<&str>, fullname_override: Option<&str>) -> String {
    let cut = |s: &str| s.chars().take(55).collect::<String>().trim_end_matches('-').to_string();
    if let Some(f) = fullname_override.filter(|f| !f.is_empty()) {
        return cut(f);
    }
    let name = name_override.filter(|n| !n.is_empty()).unwrap_or(CHART_NAME);
    if release.contains(name) { cut(release) } else { cut(&format!("{release}-{name}")) }
}

/// A release name taken from a file name (`values-pd.yaml` → `values-pd`), made a valid DNS
/// label: lower case, other characters as `-`, at most 53 characters (Helm's limit).
pub fn release_from_file(file_name: &str) -> String {
    let stem = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let stem = stem.strip_suffix(".yaml").or_else(|| stem.strip_suffix(".yml")).unwrap_or(stem);
    let name = dns_label(stem, 53);
    if name.is_empty() { "modelservice".into() } else { name }
}

/// Lower case, runs of other characters as one `-`, no `-` at either end, at most `max` long.
pub(crate) fn dns_label(s: &str, max: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out: String = out.trim_matches('-').chars().take(max).collect();
    out.trim_end_matches('-').to_string()
}

/// Checks a release name given with `--name`, as Helm does: a DNS label of at most 53 characters.
pub fn check_release(name: &str) -> Result<(), String> {
    // Helm's rule: a DNS subdomain of at most 53 characters.
    crate::lower::check_dns_subdomain(name, 253)
        .map_err(|why| format!("`{name}` is not a valid release name: {why}"))?;
    if name.len() > 53 {
        return Err(format!("`{name}` is not a valid release name: Helm allows at most 53 characters"));
    }
    Ok(())
}
