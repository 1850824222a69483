//! Helm values as Helm computes them: YAML files read into a tree, merged in order, `--set`s
//! applied, then coalesced with the chart's defaults; and the `{{ .Values.x }}` templates the
//! chart renders inside some values.

use serde_json::{Map, Number, Value};

use super::strvals::{self, SetError, Typing};

/// Reads a values file: a YAML mapping (an empty file is an empty mapping).
pub fn parse_yaml(text: &str) -> Result<Map<String, Value>, String> {
    let mut yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    // `<<: *anchor` merge keys, which Helm's YAML reader applies too.
    yaml.apply_merge().map_err(|e| e.to_string())?;
    match to_json(yaml)? {
        Value::Null => Ok(Map::new()),
        Value::Object(m) => Ok(m),
        other => Err(format!("the file holds a {}, not a mapping of values", kind(&other))),
    }
}

fn to_json(v: serde_yaml_ng::Value) -> Result<Value, String> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                // NaN and infinities have no JSON form; as strings they reach the chart's templates
                // the way Helm prints them.
                let f = n.as_f64().unwrap_or(f64::NAN);
                Number::from_f64(f).map(Value::Number).unwrap_or_else(|| Value::String(f.to_string()))
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    Y::Null => "null".to_string(),
                    other => return Err(format!("a mapping key is a {}, not a string", yaml_kind(&other))),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => to_json(t.value)?,
    })
}

fn yaml_kind(v: &serde_yaml_ng::Value) -> &'static str {
    match v {
        serde_yaml_ng::Value::Sequence(_) => "list",
        serde_yaml_ng::Value::Mapping(_) => "mapping",
        _ => "tagged value",
    }
}

/// A value's kind, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// Merges values files the way `helm -f a.yaml -f b.yaml` does: `over` wins; mappings present in
/// both are merged key by key; anything else (lists included) is replaced whole. A `null` is kept:
/// it deletes the chart's default later, in [`coalesce`].
pub fn merge(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(Value::Object(b)), Value::Object(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Applies one `--set` (or `--set-string`) line to the merged user values.
pub fn apply_set(values: &mut Map<String, Value>, line: &str, typing: Typing) -> Result<(), SetError> {
    strvals::parse_into(line, values, typing)
}

/// Puts the chart's defaults under the user's values, as Helm does before rendering: a key the
/// user does not set takes the default; mappings on both sides are coalesced key by key; a user's
/// `null` deletes the key (default included); any other user value wins whole.
pub fn coalesce(mut user: Map<String, Value>, defaults: &Map<String, Value>) -> Map<String, Value> {
    for (k, d) in defaults {
        match user.get_mut(k) {
            None => {
                user.insert(k.clone(), d.clone());
            }
            Some(Value::Null) => {
                user.remove(k);
            }
            Some(Value::Object(u)) => {
                if let Value::Object(dm) = d {
                    let merged = coalesce(std::mem::take(u), dm);
                    *u = merged;
                }
            }
            Some(_) => {}
        }
    }
    // Helm keeps a user's `null` for a key the chart has no default for; the templates treat it
    // as unset, and so does everything after this.
    user.retain(|_, v| !v.is_null());
    for v in user.values_mut() {
        strip_nulls(v);
    }
    user
}

fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, v| !v.is_null());
        m.values_mut().for_each(strip_nulls);
    }
}

/// Renders the `{{ … }}` actions of a value the chart passes through `tpl`. Only
/// `{{ .Values.path.to.key }}` (with optional `-` trim markers) is understood; the error names the
/// first action that is anything else.
pub fn render_template(text: &str, root: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            return Err(format!("`{}` opens a template action that is never closed", rest[start..].trim()));
        };
        let action = &rest[start + 2..start + len];
        let mut before = &rest[..start];
        let mut inner = action;
        if let Some(a) = inner.strip_prefix('-') {
            before = before.trim_end();
            inner = a;
        }
        let trim_after = inner.ends_with('-');
        if trim_after {
            inner = &inner[..inner.len() - 1];
        }
        out.push_str(before);
        let path = inner.trim();
        let Some(keys) = path.strip_prefix(".Values.") else {
            return Err(format!(
                "the template `{{{{{action}}}}}` is not supported: msws renders only `{{{{ .Values.key }}}}` references"
            ));
        };
        if keys.split('.').any(|k| k.is_empty() || !k.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')) {
            return Err(format!(
                "the template `{{{{{action}}}}}` is not supported: msws renders only `{{{{ .Values.key }}}}` references"
            ));
        }
        let mut v: Option<&Value> = None;
        let mut map = Some(root);
        for k in keys.split('.') {
            v = map.and_then(|m| m.get(k));
            map = v.and_then(Value::as_object);
        }
        match v {
            None | Some(Value::Null) => {
                return Err(format!("the template `{{{{{action}}}}}` refers to a value that is not set"));
            }
            Some(Value::String(s)) => out.push_str(s),
            Some(Value::Bool(b)) => out.push_str(&b.to_string()),
            Some(Value::Number(n)) => out.push_str(&n.to_string()),
            Some(other) => {
                return Err(format!(
                    "the template `{{{{{action}}}}}` refers to a {}, which msws cannot print into a string",
                    kind(other)
                ));
            }
        }
        rest = &rest[start + len + 2..];
        if trim_after {
            rest = rest.trim_start();
        }
    }
    out.push_str(rest);
    Ok(out)
}
