//! Label selectors as `kubectl -l` takes them, the equality-based subset: `k=v` (or `k==v`),
//! `k!=v`, `k`, `!k`, separated by commas. Set-based terms (`k in (a,b)`) are refused, as
//! anything else that does not parse.

use serde_json::Value;

use crate::cluster::ClusterError;

#[derive(Debug, PartialEq, Eq)]
enum Term {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

/// A parsed selector; empty selects everything.
#[derive(Debug, Default)]
pub(super) struct Selector(Vec<Term>);

fn key_ok(k: &str) -> bool {
    !k.is_empty()
        && k.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        && k.matches('/').count() <= 1
}

fn value_ok(v: &str) -> bool {
    v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Selector {
    pub fn parse(text: &str) -> Result<Selector, ClusterError> {
        let bad = |why: &str| ClusterError::Client(format!("invalid label selector `{text}`: {why}"));
        let mut terms = Vec::new();
        if text.trim().is_empty() {
            return Ok(Selector(terms));
        }
        for raw in text.split(',') {
            let t = raw.trim();
            let term = if let Some((k, v)) = t.split_once("!=") {
                Term::NotEquals(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                Term::Equals(k.trim().into(), v.trim().into())
            } else if let Some(k) = t.strip_prefix('!') {
                Term::NotExists(k.trim().into())
            } else {
                Term::Exists(t.into())
            };
            let (key, value) = match &term {
                Term::Equals(k, v) | Term::NotEquals(k, v) => (k, Some(v)),
                Term::Exists(k) | Term::NotExists(k) => (k, None),
            };
            if !key_ok(key) {
                return Err(bad(&format!("`{t}` is not a term of the form k=v, k!=v, k or !k")));
            }
            if value.is_some_and(|v| !value_ok(v)) {
                return Err(bad(&format!("`{t}` has an invalid value")));
            }
            terms.push(term);
        }
        Ok(Selector(terms))
    }

    /// Whether an object with these labels (`metadata.labels`) is selected.
    pub fn matches(&self, labels: Option<&Value>) -> bool {
        let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        self.0.iter().all(|t| match t {
            Term::Equals(k, v) => get(k) == Some(v.as_str()),
            Term::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Term::Exists(k) => get(k).is_some(),
            Term::NotExists(k) => get(k).is_none(),
        })
    }
}

/// A field selector (`metadata.name=x,involvedObject.kind=Pod`): `k=v`, `k==v`, `k!=v`, each
/// key a dotted path into the object, compared as a string (a missing field is `""`). A real
/// server accepts only the fields each kind indexes (`metadata.name` and `metadata.namespace`
/// everywhere, `involvedObject.*` for events, a few of pods'); the fake accepts any path.
#[derive(Debug, Default)]
pub(super) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(text: &str) -> Result<FieldSelector, ClusterError> {
        let mut terms = Vec::new();
        for raw in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (k, eq, v) = if let Some((k, v)) = raw.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = raw.split_once("==").or_else(|| raw.split_once('=')) {
                (k, true, v)
            } else {
                return Err(ClusterError::from_status(
                    400,
                    &serde_json::json!({"message": format!("invalid selector: '{text}'; can't understand '{raw}'"), "reason": "BadRequest"}),
                ));
            };
            terms.push((k.trim().to_string(), eq, v.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.0.iter().all(|(k, eq, v)| {
            let at = obj.pointer(&format!("/{}", k.replace('.', "/"))).and_then(Value::as_str).unwrap_or("");
            (at == v) == *eq
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equality_terms_select_and_set_terms_are_refused() {
        let labels = json!({"app": "x", "tier": "web"});
        let m = |s: &str| Selector::parse(s).unwrap().matches(Some(&labels));
        assert!(m(""));
        assert!(m("app=x,tier"));
        assert!(m("app==x, !missing"));
        assert!(m("tier!=db"));
        assert!(!m("app!=x"));
        assert!(!m("missing"));
        assert!(!m("!app"));
        assert!(Selector::parse("app in (x,y)").is_err());
        assert!(Selector::parse("a=b=c").is_err());
        assert!(Selector::parse("app=x,,").is_err());
    }
}
