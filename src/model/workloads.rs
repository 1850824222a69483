//! Reading users' workload manifests (llm-d's Kustomize recipes): where their pod templates are,
//! which container serves the model, and where its command names the model. Pure functions of the
//! objects' JSON; `lower` checks with them that msws can serve the manifests from a claim, and
//! `render` rewrites the same places.

use serde_json::Value;

/// Kinds whose objects are not in a namespace: an extra object of one would escape the
/// workspace's namespace, its inventory and its pruning.
pub const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "Node",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "RuntimeClass",
    "IngressClass",
    "DeviceClass",
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
    "APIService",
    "CSIDriver",
    "VolumeAttachment",
];

/// A problem with a user's manifests: what is wrong, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub help: String,
}

fn problem(message: impl Into<String>, help: impl Into<String>) -> Problem {
    Problem { message: message.into(), help: help.into() }
}

/// The objects of a YAML stream (what `kubectl kustomize` prints), `List`s unpacked.
pub fn read_stream(text: &str) -> Result<Vec<serde_json::Map<String, Value>>, Problem> {
    let mut objects = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v: Result<serde_yaml_ng::Value, _> = serde::Deserialize::deserialize(doc);
        let v = v.map_err(|e| e.to_string()).and_then(|v| serde_json::to_value(v).map_err(|e| e.to_string())).map_err(
            |e| {
                problem(
                    format!("the manifests are not YAML: {e}"),
                    "msws reads what `kubectl kustomize` prints: a stream of YAML documents",
                )
            },
        )?;
        match v {
            Value::Null => {}
            Value::Object(o) if o.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List")) => {
                for item in o.get("items").and_then(Value::as_array).into_iter().flatten() {
                    if let Value::Object(i) = item {
                        objects.push(i.clone());
                    }
                }
            }
            Value::Object(o) => objects.push(o),
            _ => {
                return Err(problem(
                    "a document of the manifests is not an object",
                    "each YAML document is one Kubernetes object",
                ));
            }
        }
    }
    Ok(objects)
}

/// What msws found in manifests it can serve from a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The model their serving containers name (a Hugging Face id, or a path).
    pub model: String,
    /// The secret and key the serving containers read `HF_TOKEN` from, if they do.
    pub hf_token: Option<(String, String)>,
    /// Whether the commands already give `--served-model-name`.
    pub served_name_given: bool,
}

/// Checks that msws can serve `objects` from a claim: no Secret, claim or cluster-wide object;
/// at least one workload; in every workload a container that serves a model (the one named
/// `serving_container`, else the one that runs `vllm serve` or passes `--model`); one model.
pub fn check(
    objects: &[serde_json::Map<String, Value>],
    serving_container: Option<&str>,
) -> Result<Found, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut workloads = 0;
    let mut models: Vec<(String, String)> = Vec::new();
    let mut hf_token = None;
    let mut served_name_given = false;
    for o in objects {
        let s = |k: &str| o.get(k).and_then(Value::as_str).unwrap_or("");
        let name = o.get("metadata").and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("");
        let (api_version, kind) = (s("apiVersion"), s("kind"));
        if api_version.is_empty() || kind.is_empty() || name.is_empty() {
            problems.push(problem(
                format!("an object of the manifests has no apiVersion, kind or metadata.name ({kind} {name})"),
                "each object needs all three",
            ));
            continue;
        }
        let refused = match kind {
            "Secret" => Some(
                "a Secret's value would be in the manifests: declare it with `secret \"name\" from-env=…` or `existing=#true`, and leave it out of the manifests",
            ),
            "PersistentVolumeClaim" => Some(
                "the model's claim is a `storage` of the workspace (msws never deletes storage unless asked); leave the claim, and components such as llm-d's model-cache, out of the manifests",
            ),
            k if CLUSTER_SCOPED.contains(&k) => {
                Some("msws applies a workspace's objects in its namespace; create cluster-wide objects another way")
            }
            _ => None,
        };
        if let Some(why) = refused {
            problems.push(problem(
                format!("the manifests hold {kind} {name}, which msws does not apply from manifests"),
                why,
            ));
            continue;
        }
        let v = Value::Object(o.clone());
        let templates = templates(&v);
        if templates.is_empty() {
            continue;
        }
        workloads += 1;
        let mut served = false;
        for t in &templates {
            let spec = v.pointer(&format!("{}/spec", t.pointer)).cloned().unwrap_or_default();
            match serving(&spec, serving_container) {
                Ok(Some(sv)) => {
                    served = true;
                    served_name_given |= sv.served_name_given;
                    if hf_token.is_none() {
                        hf_token = token_ref(&spec["containers"][sv.index]);
                    }
                    models.push((t.what.clone(), sv.model_id.clone()));
                }
                Ok(None) => {}
                Err(e) => problems.push(problem(
                    format!("{}: {e}", t.what),
                    "msws points the serving container at the model on the claim",
                )),
            }
        }
        if !served {
            problems.push(problem(
                format!("no container of {kind} {name} serves a model that msws can find"),
                "msws looks for a container whose command runs `vllm serve <model>` or passes `--model`; name it with `serving-container \"…\"`",
            ));
        }
    }
    if workloads == 0 && problems.is_empty() {
        problems.push(problem(
            "the manifests hold no workload",
            "a model service's manifests hold a Deployment, a LeaderWorkerSet or a DisaggregatedSet that serves the model",
        ));
    }
    let distinct: std::collections::BTreeSet<&str> = models.iter().map(|(_, m)| m.as_str()).collect();
    if distinct.len() > 1 {
        let list = models.iter().map(|(w, m)| format!("{w}: {m}")).collect::<Vec<_>>().join("; ");
        problems.push(problem(
            format!("the manifests serve more than one model ({list})"),
            "a model service serves one model: split the manifests into one model service each",
        ));
    }
    match (problems.is_empty(), models.into_iter().next()) {
        (true, Some((_, model))) => Ok(Found { model, hf_token, served_name_given }),
        _ => Err(problems),
    }
}

/// The secret and key a container reads `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`) from.
fn token_ref(container: &Value) -> Option<(String, String)> {
    container.get("env").and_then(Value::as_array)?.iter().find_map(|e| {
        let name = e.get("name").and_then(Value::as_str)?;
        if name != "HF_TOKEN" && name != "HUGGING_FACE_HUB_TOKEN" {
            return None;
        }
        let r = e.pointer("/valueFrom/secretKeyRef")?;
        Some((r.get("name")?.as_str()?.to_string(), r.get("key")?.as_str()?.to_string()))
    })
}

/// A pod template of a workload: a JSON pointer to it, and what to call it in messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pub pointer: String,
    pub what: String,
}

/// The pod templates of a workload object (none for other kinds): a Deployment's, a
/// LeaderWorkerSet's worker (and leader) template, each role's of a DisaggregatedSet.
pub fn templates(obj: &Value) -> Vec<Template> {
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let lws = |base: &str, what: &str| -> Vec<Template> {
        let mut out = Vec::new();
        for t in ["leaderTemplate", "workerTemplate"] {
            let p = format!("{base}/leaderWorkerTemplate/{t}");
            if obj.pointer(&p).is_some_and(Value::is_object) {
                out.push(Template { pointer: p, what: format!("{what}, {t}") });
            }
        }
        out
    };
    match kind {
        "Deployment" => {
            vec![Template { pointer: "/spec/template".into(), what: format!("Deployment {name}") }]
        }
        "LeaderWorkerSet" => lws("/spec", &format!("LeaderWorkerSet {name}")),
        "DisaggregatedSet" => obj
            .pointer("/spec/roles")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .flat_map(|(i, r)| {
                let role = r.get("name").and_then(Value::as_str).unwrap_or("?");
                lws(&format!("/spec/roles/{i}/spec"), &format!("DisaggregatedSet {name}, role {role}"))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Where a container's command names the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelArg {
    /// `vllm serve <model>`: the token at this index of `field` (`command` or `args`).
    Positional { field: &'static str, index: usize },
    /// `--model <model>` (the value's index) or `--model=<model>` (`inline`).
    Flag { field: &'static str, index: usize, inline: bool },
    /// Inside a shell script (`bash -c "… vllm serve <model> …"`): the byte range of the model in
    /// the string at this index of `field`.
    Shell { field: &'static str, index: usize, start: usize, end: usize },
}

/// The container of a pod spec that serves the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Serving {
    /// Its index in `containers`, and its name.
    pub index: usize,
    pub name: String,
    pub model: ModelArg,
    /// The model as the manifests name it (a Hugging Face id, or a path).
    pub model_id: String,
    /// The command already gives `--served-model-name`.
    pub served_name_given: bool,
}

fn strings(c: &Value, field: &str) -> Vec<String> {
    c.get(field)
        .and_then(Value::as_array)
        .map(|a| a.iter().map(|v| v.as_str().unwrap_or("").to_string()).collect())
        .unwrap_or_default()
}

/// Where in a container's command (`command` then `args`) the model is, if it is a vLLM server.
fn model_arg(c: &Value) -> Option<(ModelArg, String, bool)> {
    let command = strings(c, "command");
    let args = strings(c, "args");
    let tokens: Vec<(&'static str, usize, &str)> = command
        .iter()
        .enumerate()
        .map(|(i, s)| ("command", i, s.as_str()))
        .chain(args.iter().enumerate().map(|(i, s)| ("args", i, s.as_str())))
        .collect();
    let served = tokens.iter().any(|(_, _, t)| *t == "--served-model-name" || t.starts_with("--served-model-name="));
    // `vllm serve <model>`.
    for w in tokens.windows(3) {
        if w[0].2.rsplit('/').next() == Some("vllm") && w[1].2 == "serve" && !w[2].2.starts_with('-') {
            return Some((ModelArg::Positional { field: w[2].0, index: w[2].1 }, w[2].2.to_string(), served));
        }
    }
    // `--model <model>`, `--model=<model>`.
    for (i, (field, index, t)) in tokens.iter().enumerate() {
        if let Some(m) = t.strip_prefix("--model=") {
            return Some((ModelArg::Flag { field, index: *index, inline: true }, m.to_string(), served));
        }
        if *t == "--model"
            && let Some((f, idx, m)) = tokens.get(i + 1)
        {
            return Some((ModelArg::Flag { field: f, index: *idx, inline: false }, m.to_string(), served));
        }
    }
    // A shell script that runs `vllm serve <model>`.
    for (field, index, t) in &tokens {
        if let Some(at) = t.find("vllm serve ") {
            let rest = &t[at + "vllm serve ".len()..];
            let skip = rest.len() - rest.trim_start().len();
            let start = at + "vllm serve ".len() + skip;
            let len = t[start..]
                .find(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|')
                .unwrap_or(t.len() - start);
            let model = &t[start..start + len];
            if !model.is_empty() && !model.starts_with('-') {
                let served = served || t.contains("--served-model-name");
                return Some((
                    ModelArg::Shell { field, index: *index, start, end: start + len },
                    model.to_string(),
                    served,
                ));
            }
        }
    }
    None
}

/// The serving container of a pod spec: the one named, or the one whose command runs `vllm serve`
/// or passes `--model`. `Err` when the named one does not serve, or several do.
pub fn serving(pod_spec: &Value, named: Option<&str>) -> Result<Option<Serving>, String> {
    let containers = pod_spec.get("containers").and_then(Value::as_array).cloned().unwrap_or_default();
    let name_of = |c: &Value| c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(n) = named {
        let Some((index, c)) = containers.iter().enumerate().find(|(_, c)| name_of(c) == n) else {
            return Ok(None);
        };
        return match model_arg(c) {
            Some((model, model_id, served_name_given)) => {
                Ok(Some(Serving { index, name: n.to_string(), model, model_id, served_name_given }))
            }
            None => Err(format!(
                "container {n} does not name its model: msws looks for `vllm serve <model>`, `--model <model>` or `--model=<model>` in its command and args"
            )),
        };
    }
    let found: Vec<Serving> = containers
        .iter()
        .enumerate()
        .filter_map(|(index, c)| {
            let (model, model_id, served_name_given) = model_arg(c)?;
            Some(Serving { index, name: name_of(c), model, model_id, served_name_given })
        })
        .collect();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        _ => Err(format!(
            "several containers serve a model ({}): name the one with `serving-container`",
            found.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The argument with the model replaced by `to`.
pub fn replace_model(container: &mut Value, arg: &ModelArg, to: &str) {
    let (field, index) = match arg {
        ModelArg::Positional { field, index }
        | ModelArg::Flag { field, index, .. }
        | ModelArg::Shell { field, index, .. } => (*field, *index),
    };
    let Some(slot) = container.get_mut(field).and_then(|a| a.get_mut(index)) else { return };
    let current = slot.as_str().unwrap_or("").to_string();
    *slot = Value::String(match arg {
        ModelArg::Positional { .. } | ModelArg::Flag { inline: false, .. } => to.to_string(),
        ModelArg::Flag { inline: true, .. } => format!("--model={to}"),
        ModelArg::Shell { start, end, .. } => format!("{}{to}{}", &current[..*start], &current[*end..]),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: Value) -> Value {
        json!({ "containers": containers })
    }

    #[test]
    fn finds_the_model_where_llm_d_recipes_put_it() {
        let recipe = pod(
            json!([{"name": "modelserver", "command": ["vllm", "serve"], "args": ["Qwen/Qwen3-32B", "--tensor-parallel-size=2"]}]),
        );
        let s = serving(&recipe, None).unwrap().unwrap();
        assert_eq!(
            (s.name.as_str(), s.model_id.as_str(), s.served_name_given),
            ("modelserver", "Qwen/Qwen3-32B", false)
        );
        assert_eq!(s.model, ModelArg::Positional { field: "args", index: 0 });

        let flag = pod(json!([
            {"name": "sidecar", "image": "x"},
            {"name": "vllm", "args": ["--model", "/models/x", "--served-model-name", "x"]}
        ]));
        let s = serving(&flag, None).unwrap().unwrap();
        assert_eq!((s.index, s.model_id.as_str(), s.served_name_given), (1, "/models/x", true));

        let shell = pod(
            json!([{"name": "vllm-worker", "command": ["/bin/bash", "-c"], "args": ["set -e\nexec vllm serve deepseek-ai/DeepSeek-R1 --port 8200"]}]),
        );
        let mut c = shell["containers"][0].clone();
        let s = serving(&shell, None).unwrap().unwrap();
        assert_eq!(s.model_id, "deepseek-ai/DeepSeek-R1");
        replace_model(&mut c, &s.model, "/model-cache/models/r1");
        assert_eq!(c["args"][0], "set -e\nexec vllm serve /model-cache/models/r1 --port 8200");

        assert_eq!(serving(&pod(json!([{"name": "a", "image": "x"}])), None), Ok(None));
        let two = pod(json!([{"name": "a", "args": ["--model=x"]}, {"name": "b", "args": ["--model=y"]}]));
        assert!(serving(&two, None).unwrap_err().contains("name the one with `serving-container`"));
        assert_eq!(serving(&two, Some("b")).unwrap().unwrap().model_id, "y");
        assert!(serving(&pod(json!([{"name": "a"}])), Some("a")).is_err());
    }

    #[test]
    fn finds_every_pod_template() {
        let ds = json!({"kind": "DisaggregatedSet", "metadata": {"name": "pd"}, "spec": {"roles": [
            {"name": "prefill", "spec": {"leaderWorkerTemplate": {"workerTemplate": {}}}},
            {"name": "decode", "spec": {"leaderWorkerTemplate": {"leaderTemplate": {}, "workerTemplate": {}}}}]}});
        let t: Vec<String> = templates(&ds).into_iter().map(|t| t.pointer).collect();
        assert_eq!(
            t,
            [
                "/spec/roles/0/spec/leaderWorkerTemplate/workerTemplate",
                "/spec/roles/1/spec/leaderWorkerTemplate/leaderTemplate",
                "/spec/roles/1/spec/leaderWorkerTemplate/workerTemplate",
            ]
        );
        assert_eq!(templates(&json!({"kind": "Deployment", "metadata": {"name": "d"}}))[0].pointer, "/spec/template");
        assert!(templates(&json!({"kind": "Service"})).is_empty());
    }
}
