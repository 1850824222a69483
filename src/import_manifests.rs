//! `msws import-manifests`: a workspace that serves a user's manifests (llm-d's Kustomize
//! recipes) from a claim — a storage, the download of the model the manifests name, and a model
//! service with `manifests` — written so that `msws validate` accepts it.
//!
//! What the manifests cannot say is asked for on the command line (the claim's size, its access
//! mode and class) or estimated and said so in a comment; nothing is guessed silently.

use std::path::{Path, PathBuf};

use crate::import_values::emit::{self, KNode};
use crate::model::workloads::{self, Found, Problem};

/// What to import, and the choices the manifests cannot make.
#[derive(Clone, Debug)]
pub struct Request {
    /// The manifests as the workspace names them (relative to the workspace file).
    pub manifests: String,
    /// Where they came from (`the Kustomize directory …, built by …`), for the header.
    pub source: String,
    /// Their text: a YAML stream.
    pub text: String,
    /// The workspace and model-service name.
    pub name: String,
    pub namespace: Option<String>,
    /// The claim's size; estimated from the model's name when not given.
    pub size: Option<String>,
    pub access: String,
    pub class: Option<String>,
    /// Where to download the model from, when the manifests name a path rather than a
    /// Hugging Face id (`hf://org/name`).
    pub model: Option<String>,
    pub revision: String,
    /// The container that serves the model, when several could.
    pub serving_container: Option<String>,
}

/// Why there is no workspace.
#[derive(Debug)]
pub enum ImportError {
    /// The command line is wrong (a bad name or size, no way to tell the model's source).
    Usage(String),
    /// The manifests cannot be served from a claim: every problem found.
    Problems(Vec<Problem>),
}

/// The manifests, read: a YAML file as it is, a directory built with `kubectl kustomize`.
pub fn read(path: &Path, files: &dyn crate::lower::Files) -> Result<(String, String), String> {
    if files.is_dir(path) {
        let (text, by) = files.kustomize(path)?;
        Ok((text, format!("the Kustomize directory {}, built by {by}", path.display())))
    } else {
        let text = files.read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok((text, format!("the file {}", path.display())))
    }
}

/// A DNS label made of a file or directory name: `Optimized_Baseline.yaml` → `optimized-baseline`.
pub fn name_from(path: &Path) -> String {
    let stem =
        path.file_stem().or_else(|| path.file_name()).map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    let stem = if stem.is_empty() || stem == "." || stem == ".." {
        std::env::current_dir()
            .ok()
            .and_then(|d| d.file_name().map(|s| s.to_string_lossy().to_string()))
            .unwrap_or_default()
    } else {
        stem
    };
    label(&stem, "model")
}

/// `s` as a DNS label: lower case, runs of other characters as one `-`, at most 63 characters.
fn label(s: &str, fallback: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let mut out: String = out.trim_matches('-').chars().take(63).collect();
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() { fallback.to_string() } else { out }
}

/// The claim's size for a model named like `Qwen3-0.6B`, `Llama-3.1-70B-Instruct-FP8`: its
/// parameters at two bytes each (one for FP8 or INT8, half for 4-bit), plus half again for the
/// tokenizer, other files and a revision to come, in whole GiB. `None` when the name gives no
/// parameter count.
pub fn estimate_size(model: &str) -> Option<(String, String)> {
    let name = model.rsplit('/').next().unwrap_or(model);
    let lower = name.to_ascii_lowercase();
    let params = lower.split(['-', '_']).find_map(|part| {
        let (n, unit) = part.split_at(part.find(|c: char| !(c.is_ascii_digit() || c == '.'))?);
        let n: f64 = n.parse().ok()?;
        match unit {
            "b" => Some(n * 1e9),
            "m" => Some(n * 1e6),
            "t" => Some(n * 1e12),
            _ => None,
        }
    })?;
    let (bytes, precision) = if ["fp8", "int8", "w8a8"].iter().any(|p| lower.contains(p)) {
        (1.0, "1 byte each (8-bit)")
    } else if ["awq", "gptq", "int4", "w4a16", "4bit", "nf4"].iter().any(|p| lower.contains(p)) {
        (0.5, "half a byte each (4-bit)")
    } else {
        (2.0, "2 bytes each (16-bit)")
    };
    let gib = (params * bytes * 1.5 / (1u64 << 30) as f64).ceil().max(1.0) as u64;
    let shown = if params >= 1e8 { format!("{}B", params / 1e9) } else { format!("{}M", params / 1e6) };
    Some((format!("{gib}Gi"), format!("{shown} parameters, {precision}, plus half again")))
}

/// The variable that stands for the claim's size when msws cannot estimate it.
pub const SIZE_VAR: &str = "model-size";

/// Imports the manifests: the formatted workspace, or why not.
pub fn import(req: &Request) -> Result<String, ImportError> {
    crate::lower::check_dns_label(&req.name)
        .map_err(|why| ImportError::Usage(format!("`{}` is not a valid workspace name: {why}", req.name)))?;
    let objects = workloads::read_stream(&req.text).map_err(|p| ImportError::Problems(vec![p]))?;
    let found = workloads::check(&objects, req.serving_container.as_deref()).map_err(ImportError::Problems)?;
    let source = match &req.model {
        Some(m) => m.clone(),
        None if looks_like_repo_id(&found.model) => format!("hf://{}", found.model),
        None => {
            return Err(ImportError::Usage(format!(
                "the manifests serve the model from {}, which is not a Hugging Face id: name where to download it from with --model hf://ORG/NAME",
                found.model
            )));
        }
    };
    let Some(repo) = source.strip_prefix("hf://").filter(|r| looks_like_repo_id(r)) else {
        return Err(ImportError::Usage(format!("--model {source}: msws downloads from hf://ORG/NAME")));
    };
    let namespace = req.namespace.clone().or_else(|| common_namespace(&objects));
    let (size, size_comment) = match (&req.size, estimate_size(repo)) {
        (Some(s), _) => (s.clone(), None),
        (None, Some((s, why))) => (
            s,
            Some(format!(
                "The size is an estimate from the model's name ({why}): check it against the model's files on the Hub, and give --size to choose it."
            )),
        ),
        // A placeholder that cannot be applied by accident: `plan` asks for its value.
        (None, None) => (
            format!("${{{SIZE_VAR}}}"),
            Some(format!(
                "The name {repo} says nothing of the model's size: give it with `--var {SIZE_VAR}=…` (or MSWS_VAR_MODEL_SIZE), or write it here, at least the size of the model's files."
            )),
        ),
    };
    let text = print(req, &found, repo, namespace.as_deref(), &size, size_comment);
    crate::syntax::fmt::format_source(&text).map_err(|e| {
        ImportError::Problems(vec![Problem {
            message: format!("internal error: the workspace msws wrote is not valid KDL ({e})"),
            help: "please report it".into(),
        }])
    })
}

/// Loads the written workspace with the front end as if it were the file `at` (its manifests
/// served from `built`, as read already), so an import never prints a file `msws validate`
/// refuses.
pub fn self_check(text: &str, at: &Path, manifests: &Path, built: &(String, String)) -> Result<(), ImportError> {
    struct Overlay<'a> {
        at: PathBuf,
        text: &'a str,
        manifests: PathBuf,
        built: &'a (String, String),
    }
    impl crate::lower::Files for Overlay<'_> {
        fn read(&self, path: &Path) -> std::io::Result<String> {
            let path = crate::lower::normalize(path);
            if path == self.at {
                Ok(self.text.to_string())
            } else if path == self.manifests {
                Ok(self.built.0.clone())
            } else {
                std::fs::read_to_string(path)
            }
        }
        fn is_dir(&self, path: &Path) -> bool {
            crate::lower::normalize(path) == self.manifests && self.manifests.is_dir()
        }
        fn kustomize(&self, _: &Path) -> Result<(String, String), String> {
            Ok(self.built.clone())
        }
    }
    let abs = |p: &Path| crate::lower::normalize(&std::env::current_dir().unwrap_or_default().join(p));
    let files = Overlay { at: abs(at), text, manifests: abs(manifests), built };
    // The size placeholder is the user's to fill in; any value checks the rest.
    let mut opts = crate::lower::Options::default();
    if text.contains(&format!("${{{SIZE_VAR}}}")) {
        opts.vars.insert(SIZE_VAR.into(), "1Gi".into());
    }
    let mut fe = crate::lower::load(&abs(at), &files, &opts);
    if let Some(ws) = &fe.workspace {
        crate::graph::build(ws, &mut fe.sink);
    }
    let problems: Vec<Problem> = fe
        .sink
        .sorted()
        .into_iter()
        .filter(|d| d.severity == crate::diag::Severity::Error)
        .map(|d| Problem {
            message: format!("the workspace made from these manifests does not load: {}", d.message),
            help: d.help.clone().unwrap_or_default(),
        })
        .collect();
    if problems.is_empty() { Ok(()) } else { Err(ImportError::Problems(problems)) }
}

fn looks_like_repo_id(s: &str) -> bool {
    let mut parts = s.split('/');
    let ok = |p: Option<&str>| {
        p.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
    };
    ok(parts.next()) && ok(parts.next()) && parts.next().is_none()
}

/// The namespace every namespaced object of the manifests names, if they agree on one.
fn common_namespace(objects: &[serde_json::Map<String, serde_json::Value>]) -> Option<String> {
    let names: std::collections::BTreeSet<&str> =
        objects.iter().filter_map(|o| o.get("metadata")?.get("namespace")?.as_str()).collect();
    (names.len() == 1).then(|| names.into_iter().next().unwrap_or_default().to_string())
}

fn print(
    req: &Request,
    found: &Found,
    repo: &str,
    namespace: Option<&str>,
    size: &str,
    size_comment: Option<String>,
) -> String {
    let header = vec![
        format!("Imported by `msws import-manifests` from {}.", req.source),
        "msws downloads the model onto the claim once, then serves the manifests from it: `msws plan` lists every"
            .to_string(),
        "change it makes to their workloads.".to_string(),
    ];
    let mut ws = KNode::new("workspace").arg(req.name.as_str()).prop("format", 1i64);
    let placeholder = size == format!("${{{SIZE_VAR}}}");
    match namespace {
        Some(ns) => ws.push(KNode::new("namespace").arg(ns)),
        None => ws.push(
            KNode::new("namespace")
                .arg("default")
                .comment("The manifests name no namespace: choose the one to serve in (or give --namespace)."),
        ),
    }
    let mut storage = KNode::new("storage").arg("models");
    storage.push(KNode::new("access").arg(req.access.as_str()));
    let mut size_node = if placeholder {
        KNode::new("size").arg(emit::KVal::Var(SIZE_VAR.into()))
    } else {
        KNode::new("size").arg(size)
    };
    if let Some(c) = size_comment {
        size_node = size_node.comment(c);
    }
    storage.push(size_node);
    match &req.class {
        Some(c) => storage.push(KNode::new("class").arg(c.as_str())),
        None if req.access != "ReadWriteOnce" => {
            storage.comments.push(format!(
                "No `class`: the cluster's default class provisions the claim, and it must make {} volumes (NFS, CephFS, a cloud file store); name one with --class.",
                req.access
            ));
        }
        None => {}
    }
    let download_name = label(repo.rsplit('/').next().unwrap_or(repo), "model");
    let mut nodes = vec![ws];
    if placeholder {
        nodes.push(
            KNode::new("var")
                .arg(SIZE_VAR)
                .prop("description", "the claim's size, at least the model's files (e.g. 200Gi)"),
        );
    }
    nodes.push(storage);
    let mut download = KNode::new("download").arg(download_name.as_str());
    let mut from = KNode::new("from").arg(format!("hf://{repo}")).prop("revision", req.revision.as_str());
    if req.revision == "main" {
        from = from.comment("Pin a commit (revision=\"<sha>\") to serve the same weights on every apply.");
    }
    download.push(from);
    download.push(KNode::new("into").arg("models").prop("path", format!("models/{repo}")));
    match &found.hf_token {
        Some((secret, key)) => {
            nodes.push(
                KNode::new("secret")
                    .arg(secret.as_str())
                    .prop("existing", true)
                    .comment("The manifests read the Hugging Face token from this secret; the download reads it too."),
            );
            let mut token = KNode::new("token").prop("secret", secret.as_str());
            if key != "HF_TOKEN" {
                token = token.prop("key", key.as_str());
            }
            download.push(token);
        }
        None => download
            .comments
            .push("A gated model needs a token: declare a `secret` and add `token secret=\"…\"` here.".to_string()),
    }
    nodes.push(download);
    let mut svc = KNode::new("model-service").arg(req.name.as_str());
    svc.push(KNode::new("model").arg(download_name.as_str()));
    svc.push(KNode::new("manifests").arg(req.manifests.as_str()));
    if let Some(c) = &req.serving_container {
        svc.push(KNode::new("serving-container").arg(c.as_str()));
    }
    nodes.push(svc);
    emit::print(&header, &nodes)
}

/// The path to write in a workspace at `workspace_dir` for manifests at `target` (both as given,
/// relative to the current directory or absolute): relative when it can be.
pub fn relative_path(workspace_dir: &Path, target: &Path) -> String {
    let abs = |p: &Path| -> PathBuf {
        let p = if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir().unwrap_or_default().join(p) };
        crate::lower::normalize(&p)
    };
    let (from, to) = (abs(workspace_dir), abs(target));
    let common = from.components().zip(to.components()).take_while(|(a, b)| a == b).count();
    // Sharing only the root, the absolute path says more than a climb of `../..`.
    if common <= 1 && to.has_root() {
        return to.display().to_string();
    }
    let ups = from.components().count() - common;
    let mut out = PathBuf::new();
    for _ in 0..ups {
        out.push("..");
    }
    for c in to.components().skip(common) {
        out.push(c);
    }
    let s = out.display().to_string();
    if s.is_empty() { ".".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_estimated_from_the_parameter_count_in_the_name() {
        assert_eq!(estimate_size("Qwen/Qwen3-0.6B").unwrap().0, "2Gi");
        assert_eq!(estimate_size("meta-llama/Llama-3.1-70B-Instruct").unwrap().0, "196Gi");
        assert_eq!(estimate_size("RedHatAI/Llama-3.1-70B-Instruct-FP8").unwrap().0, "98Gi");
        assert_eq!(estimate_size("facebook/opt-125m").unwrap().0, "1Gi");
        assert_eq!(estimate_size("Qwen/Qwen3-30B-A3B").unwrap().0, "84Gi");
        assert!(estimate_size("deepseek-ai/DeepSeek-R1").is_none());
        assert!(estimate_size("Qwen/Qwen3-8B").unwrap().1.contains("8B parameters, 2 bytes each"));
    }

    #[test]
    fn names_are_dns_labels() {
        assert_eq!(name_from(Path::new("guides/Optimized_Baseline")), "optimized-baseline");
        assert_eq!(name_from(Path::new("pd.yaml")), "pd");
        assert_eq!(label("Qwen3-0.6B", "m"), "qwen3-0-6b");
        assert_eq!(label("--", "m"), "m");
    }

    #[test]
    fn paths_are_written_relative_to_the_workspace() {
        assert_eq!(relative_path(Path::new("/tmp/x"), Path::new("/work/r")), "/work/r");
        assert_eq!(relative_path(Path::new("/a/b"), Path::new("/a/c/d")), "../c/d");
        assert_eq!(relative_path(Path::new("/a"), Path::new("/a/recipes/x")), "recipes/x");
        assert_eq!(relative_path(Path::new("/a/b"), Path::new("/a/b")), ".");
    }
}
