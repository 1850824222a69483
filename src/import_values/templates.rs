//! The templates the ModelService chart renders inside values, rendered as the chart renders
//! them: through its `common.tplvalues.render` helper (the Bitnami common chart's), with the
//! context each template of the chart passes — the container template's `(dict "role" …
//! "container" … "parallelism" … "Values" … "Release" … "Chart" … "pdSpec" …)` for a
//! container's `env`, `ports` and `extraConfig` and for the model URI, the pod's for a role's
//! `extraConfig`, the top-level one for `extraObjects`. The helper renders a value's YAML (or a
//! string itself) with Helm's `tpl` when it holds `{{`; the chart inserts the text into its
//! manifest, which Helm reads as YAML: so does msws.

use serde_json::{Map, Value};

use super::tpl::{self, Context, Defines, Numbers, Val, value::from_json};

/// Where a value is rendered, which decides what its templates see.
pub enum Scope<'a> {
    /// `$` of a chart file: `.Values`, `.Release`, `.Chart`, `.Capabilities`, …
    Top,
    /// A role's pod (`llm-d-modelservice.modelPod`): `.role`, `.pdSpec`, `.Values`, `.Release`,
    /// `.Chart`.
    Pod { role: &'a str },
    /// A container of a role (`llm-d-modelservice.container`): the pod's, with `.container` and
    /// `.parallelism`.
    Container { role: &'a str, container: &'a Value },
}

pub struct Templates {
    ctx: Context,
    defines: Defines,
    values: Value,
}

impl Templates {
    /// The chart's helpers and a context for the release, over the merged values.
    pub fn new(values: &Map<String, Value>, release: &str, namespace: &str) -> Result<Templates, String> {
        let values = Value::Object(values.clone());
        let ctx = Context::modelservice(&values, release, namespace);
        let defines = Defines::modelservice().map_err(|e| format!("internal error: the chart's helpers: {e}"))?;
        Ok(Templates { ctx, defines, values })
    }

    fn dot(&self, scope: &Scope) -> Val {
        let top = self.ctx.top();
        let pick = |k: &str| top.get(k).unwrap_or(Val::Nil);
        let role_values =
            |role: &str| self.values.get(role).map(|v| from_json(v, Numbers::Float64)).unwrap_or(Val::Nil);
        match scope {
            Scope::Top => top,
            Scope::Pod { role } => tpl::dict(vec![
                ("role", Val::str(*role)),
                ("pdSpec", role_values(role)),
                ("Values", pick("Values")),
                ("Release", pick("Release")),
                ("Chart", pick("Chart")),
            ]),
            Scope::Container { role, container } => {
                let parallelism = self
                    .values
                    .get(*role)
                    .and_then(|r| r.get("parallelism"))
                    .map(|v| from_json(v, Numbers::Float64))
                    .unwrap_or(Val::Nil);
                tpl::dict(vec![
                    ("role", Val::str(*role)),
                    ("container", from_json(container, Numbers::Float64)),
                    ("parallelism", parallelism),
                    ("Values", pick("Values")),
                    ("Release", pick("Release")),
                    ("Chart", pick("Chart")),
                    ("pdSpec", role_values(role)),
                ])
            }
        }
    }

    /// `common.tplvalues.render` of `value` in `scope`, as text (what the chart inserts).
    pub fn render_text(&self, value: &Value, scope: &Scope) -> Result<String, String> {
        let dot = tpl::dict(vec![("value", from_json(value, Numbers::Float64)), ("context", self.dot(scope))]);
        tpl::render_with(r#"{{ include "common.tplvalues.render" . }}"#, &self.ctx, &self.defines, dot)
            .map_err(|e| if e.cause.is_empty() { e.message.clone() } else { e.cause.clone() })
    }

    /// The value with its templates rendered, read back as the chart's YAML would be. A value
    /// without `{{` is returned as it is (the chart inserts its YAML unchanged).
    pub fn render_value(&self, value: &Value, scope: &Scope) -> Result<Value, String> {
        if !holds_template(value) {
            return Ok(value.clone());
        }
        let text = self.render_text(value, scope)?;
        if value.is_string() {
            return Ok(Value::String(text));
        }
        read_yaml(&text)
    }
}

/// Whether a value holds a template (the helper's own test: `{{` in its JSON).
pub fn holds_template(v: &Value) -> bool {
    serde_json::to_string(v).is_ok_and(|s| s.contains("{{"))
}

/// Rendered text read as YAML, as Helm reads a manifest.
pub fn read_yaml(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    let y: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| format!("the rendered template is not YAML ({e}):\n{text}"))?;
    serde_json::to_value(y).map_err(|e| format!("the rendered template is not JSON-like YAML: {e}"))
}
