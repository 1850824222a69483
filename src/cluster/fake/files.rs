//! Files on claims: what the fake's pods find when they mount one.
//!
//! A test puts files on a claim ([`FakeCluster::put_claim_files`](super::FakeCluster::put_claim_files));
//! msws's two pods that read or write a claim behave as their real scripts do:
//! - an **inspection pod** (its container has `MSWS_INSPECT_ROOT`, the mount point of a claim)
//!   prints what `src/inspect/inspect.py` prints for that tree — [`listing`] is the script's
//!   algorithm, step for step, and `tests/it/inspect.rs` runs the real script on the same trees
//!   written to disk and compares the two answers;
//! - a **download pod** (a container with `MSWS_TARGET` under a claim's mount point) that succeeds
//!   with a `MSWS-DOWNLOAD-COMPLETE` line leaves on the claim what `download.py` leaves: a
//!   `config.json`, a weights file of the recorded size and the completion marker.
//!
//! Simplifications: files belong to the claim (by namespace and name), not to its volume; a
//! directory can be marked unreadable, a file cannot; file contents are text.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::controllers::s;

/// One entry on a claim, by its path relative to the claim's root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClaimFile {
    /// A regular file of `size` bytes; `content` is what reading it gives (for the few files
    /// msws reads: a marker, a hub cache's refs), `None` for zeros.
    File { size: u64, content: Option<String> },
    /// A directory (any path's parents are directories anyway; this makes an empty one).
    Dir,
    /// A symbolic link to `target` (relative to the link's directory, or absolute).
    Link { target: String },
    /// A directory the inspection pod's user cannot read.
    Unreadable,
}

impl ClaimFile {
    pub fn file(size: u64) -> ClaimFile {
        ClaimFile::File { size, content: None }
    }
    pub fn text(content: &str) -> ClaimFile {
        ClaimFile::File { size: content.len() as u64, content: Some(content.to_string()) }
    }
    pub fn link(target: &str) -> ClaimFile {
        ClaimFile::Link { target: target.to_string() }
    }
}

/// A model directory as a download leaves it: `config.json`, a tokenizer and `weights` bytes of
/// safetensors, at `path` (`""`: the claim's root).
pub fn model_files(path: &str, weights: u64) -> Vec<(String, ClaimFile)> {
    let at = |name: &str| if path.is_empty() { name.to_string() } else { format!("{path}/{name}") };
    vec![
        (at("config.json"), ClaimFile::text("{\"model_type\": \"opt\"}\n")),
        (at("tokenizer.json"), ClaimFile::file(2_000_000)),
        (at("model.safetensors"), ClaimFile::file(weights)),
    ]
}

/// A Hugging Face hub cache entry of `repo` at `commit` inside the cache directory `cache`, as
/// `huggingface_hub` lays it out: blobs, `refs/main`, and a snapshot of links into the blobs.
pub fn hf_cache_files(cache: &str, repo: &str, commit: &str) -> Vec<(String, ClaimFile)> {
    let entry = format!("models--{}", repo.replace('/', "--"));
    let dir = if cache.is_empty() { entry } else { format!("{cache}/{entry}") };
    let blob = |n: u8| format!("{:064x}", u64::from(n) * 0x1111_1111);
    let mut out = vec![(format!("{dir}/refs/main"), ClaimFile::text(commit))];
    for (n, (name, size)) in
        [("config.json", 700u64), ("tokenizer.json", 9_000_000), ("model.safetensors", 16_000_000_000)]
            .into_iter()
            .enumerate()
    {
        let b = blob(n as u8 + 1);
        out.push((format!("{dir}/blobs/{b}"), ClaimFile::file(size)));
        out.push((format!("{dir}/snapshots/{commit}/{name}"), ClaimFile::link(&format!("../../blobs/{b}"))));
    }
    out
}

/// A claim's files as a tree.
#[derive(Debug)]
enum Node {
    Dir(BTreeMap<String, Node>),
    File { size: u64, content: Option<String> },
    Link(String),
    Unreadable,
}

fn tree(files: &BTreeMap<String, ClaimFile>) -> Node {
    let mut root = BTreeMap::new();
    for (path, f) in files {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let Some((last, dirs)) = parts.split_last() else { continue };
        let mut cur = &mut root;
        for d in dirs {
            let entry = cur.entry(d.to_string()).or_insert_with(|| Node::Dir(BTreeMap::new()));
            if !matches!(entry, Node::Dir(_)) {
                *entry = Node::Dir(BTreeMap::new());
            }
            let Node::Dir(next) = entry else { unreachable!("made a directory just above") };
            cur = next;
        }
        let node = match f {
            ClaimFile::File { size, content } => Node::File { size: *size, content: content.clone() },
            ClaimFile::Dir => match cur.remove(*last) {
                Some(Node::Dir(m)) => Node::Dir(m),
                _ => Node::Dir(BTreeMap::new()),
            },
            ClaimFile::Link { target } => Node::Link(target.clone()),
            ClaimFile::Unreadable => Node::Unreadable,
        };
        cur.insert(last.to_string(), node);
    }
    Node::Dir(root)
}

fn lookup<'a>(root: &'a Node, parts: &[String]) -> Option<&'a Node> {
    let mut cur = root;
    for p in parts {
        match cur {
            Node::Dir(m) => cur = m.get(p)?,
            _ => return None,
        }
    }
    Some(cur)
}

fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() { name.to_string() } else { format!("{rel}/{name}") }
}

fn split(rel: &str) -> Vec<String> {
    rel.split('/').filter(|p| !p.is_empty()).map(str::to_string).collect()
}

const MARKER: &str = ".msws-download.json";
const MARKER_KEYS: [&str; 7] = ["source", "repo", "revision", "commit", "files", "bytes", "completed_at"];
const WEIGHT_SUFFIXES: [&str; 5] = ["safetensors", "bin", "gguf", "pt", "pth"];
const UNREADABLE_LIMIT: usize = 20;

/// One scanned entry: (name, kind, size) with kind `dir`, `file` or `link`.
type Entry = (String, &'static str, u64);

/// `inspect.py`'s `Inspector`, on a tree in memory.
struct Inspector<'a> {
    root: &'a Node,
    depth: u32,
    models: Vec<Value>,
    unreadable: Vec<String>,
    unreadable_count: u64,
}

impl Inspector<'_> {
    fn cannot_read(&mut self, rel: &str) {
        self.unreadable_count += 1;
        if self.unreadable.len() < UNREADABLE_LIMIT {
            self.unreadable.push(rel.to_string());
        }
    }

    fn scan(&mut self, rel: &str) -> Option<Vec<Entry>> {
        match lookup(self.root, &split(rel)) {
            Some(Node::Dir(m)) => Some(
                m.iter()
                    .map(|(name, n)| match n {
                        Node::Dir(_) | Node::Unreadable => (name.clone(), "dir", 0),
                        Node::File { size, .. } => (name.clone(), "file", *size),
                        Node::Link(_) => (name.clone(), "link", 0),
                    })
                    .collect(),
            ),
            _ => {
                self.cannot_read(rel);
                None
            }
        }
    }

    fn total(&mut self, rel: &str, entries: Vec<Entry>) -> (u64, u64) {
        let (mut files, mut size) = (0, 0);
        let mut stack = vec![(rel.to_string(), Some(entries))];
        while let Some((d, ents)) = stack.pop() {
            let ents = match ents {
                Some(e) => e,
                None => match self.scan(&d) {
                    Some(e) => e,
                    None => continue,
                },
            };
            for (name, kind, sz) in ents {
                match kind {
                    "file" => {
                        files += 1;
                        size += sz;
                    }
                    "dir" => stack.push((join(&d, &name), None)),
                    _ => {}
                }
            }
        }
        (files, size)
    }

    /// `os.path.realpath` and `isfile`, inside the claim: links followed (relative to their
    /// directory), `..` never above the root, absolute targets outside the claim.
    fn is_file_inside(&self, rel: &str) -> bool {
        let mut todo: Vec<String> = split(rel).into_iter().rev().collect();
        let mut cur: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "" | "." => continue,
                ".." => {
                    if cur.pop().is_none() {
                        return false;
                    }
                    continue;
                }
                _ => {}
            }
            cur.push(c);
            match lookup(self.root, &cur) {
                Some(Node::Link(target)) => {
                    hops += 1;
                    if hops > 40 || target.starts_with('/') {
                        return false;
                    }
                    cur.pop();
                    todo.extend(target.split('/').rev().map(str::to_string));
                }
                Some(_) => {}
                None => return false,
            }
        }
        matches!(lookup(self.root, &cur), Some(Node::File { .. }))
    }

    fn has_config(&self, rel: &str, entries: &[Entry]) -> bool {
        entries
            .iter()
            .find(|(n, k, _)| n == "config.json" && (*k == "file" || *k == "link"))
            .is_some_and(|(n, k, _)| *k == "file" || self.is_file_inside(&join(rel, n)))
    }

    fn content(&self, rel: &str) -> Option<String> {
        match lookup(self.root, &split(rel)) {
            Some(Node::File { content, size }) => {
                Some(content.clone().unwrap_or_else(|| "\0".repeat((*size).min(65536) as usize)))
            }
            _ => None,
        }
    }

    fn marker(&self, rel: &str, entries: &[Entry]) -> Value {
        if !entries.iter().any(|(n, k, _)| n == MARKER && *k == "file") {
            return Value::Null;
        }
        let Some(text) = self.content(&join(rel, MARKER)) else { return Value::Null };
        let Ok(Value::Object(record)) = serde_json::from_str::<Value>(&text) else { return Value::Null };
        let mut out = Map::new();
        for k in MARKER_KEYS {
            match record.get(k) {
                Some(v @ Value::String(_)) => {
                    out.insert(k.into(), v.clone());
                }
                Some(v @ Value::Number(n)) if n.is_u64() => {
                    out.insert(k.into(), v.clone());
                }
                _ => {}
            }
        }
        Value::Object(out)
    }

    fn refs(&mut self, rel: &str) -> Value {
        let mut out = Map::new();
        let mut stack = vec![String::new()];
        while let Some(d) = stack.pop() {
            let Some(ents) = self.scan(&if d.is_empty() { rel.to_string() } else { join(rel, &d) }) else { continue };
            for (name, kind, _) in ents {
                let sub = join(&d, &name);
                match kind {
                    "dir" => stack.push(sub),
                    "file" => {
                        if let Some(text) = self.content(&join(rel, &sub)) {
                            out.insert(sub, json!(text.trim().chars().take(100).collect::<String>()));
                        }
                    }
                    _ => {}
                }
            }
        }
        Value::Object(out)
    }

    fn visit(&mut self, rel: &str, level: u32, entries: Vec<Entry>, dirs: &mut Vec<Value>) -> (u64, u64) {
        let name = rel.rsplit('/').next().unwrap_or(rel).to_string();
        let is_dir = |ents: &[Entry], n: &str| ents.iter().any(|(x, k, _)| x == n && *k == "dir");
        let (files, size);
        if self.has_config(rel, &entries) {
            let w = weights(&entries);
            let download = self.marker(rel, &entries);
            (files, size) = self.total(rel, entries);
            self.models.push(json!({"path": rel, "layout": "files", "files": files, "bytes": size,
                                    "weights": w, "download": download}));
        } else if level > 0 && name.starts_with("models--") && is_dir(&entries, "snapshots") {
            let has_refs = is_dir(&entries, "refs");
            (files, size) = self.total(rel, entries);
            let mut snapshots = Vec::new();
            let snaps = self.scan(&join(rel, "snapshots")).unwrap_or_default();
            for (sname, kind, _) in snaps {
                if kind != "dir" {
                    continue;
                }
                let srel = join(&join(rel, "snapshots"), &sname);
                let sents = self.scan(&srel).unwrap_or_default();
                snapshots.push(
                    json!({"revision": sname, "config": self.has_config(&srel, &sents), "weights": weights(&sents)}),
                );
            }
            let refs = if has_refs { self.refs(&join(rel, "refs")) } else { json!({}) };
            let cache = rel.rsplit_once('/').map_or("", |(c, _)| c);
            self.models.push(json!({"path": rel, "layout": "hf-cache", "cache": cache,
                                    "repo": name["models--".len()..].replace("--", "/"), "files": files, "bytes": size,
                                    "snapshots": snapshots, "refs": refs}));
        } else {
            let (mut f, mut b) = (0, 0);
            for (child, kind, sz) in entries {
                match kind {
                    "file" => {
                        f += 1;
                        b += sz;
                    }
                    "dir" => {
                        if level == 0 && child == "lost+found" {
                            continue;
                        }
                        let crel = join(rel, &child);
                        let Some(sub) = self.scan(&crel) else { continue };
                        let (cf, cb) = if level < self.depth {
                            self.visit(&crel, level + 1, sub, dirs)
                        } else {
                            self.total(&crel, sub)
                        };
                        f += cf;
                        b += cb;
                    }
                    _ => {}
                }
            }
            (files, size) = (f, b);
        }
        if level > 0 {
            dirs.push(json!({"path": rel, "files": files, "bytes": size}));
        }
        (files, size)
    }
}

fn weights(entries: &[Entry]) -> Value {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for (name, kind, _) in entries {
        if *kind != "file" && *kind != "link" {
            continue;
        }
        if let Some((_, suffix)) = name.rsplit_once('.')
            && WEIGHT_SUFFIXES.contains(&suffix)
        {
            *out.entry(suffix.to_string()).or_default() += 1;
        }
    }
    json!(out)
}

/// The document `inspect.py` prints for these files, at this depth, listing at most `limit`
/// models and directories.
pub fn listing(files: &BTreeMap<String, ClaimFile>, depth: u32, limit: usize) -> Value {
    let root = tree(files);
    let mut ins = Inspector { root: &root, depth, models: Vec::new(), unreadable: Vec::new(), unreadable_count: 0 };
    let entries = ins.scan("").unwrap_or_default();
    let mut dirs = Vec::new();
    let (files, size) = ins.visit("", 0, entries, &mut dirs);
    let mut models = std::mem::take(&mut ins.models);
    models.sort_by(|a, b| s(a, "/path").cmp(s(b, "/path")));
    dirs.sort_by(|a, b| s(a, "/path").cmp(s(b, "/path")));
    let truncated = models.len() > limit || dirs.len() > limit;
    models.truncate(limit);
    dirs.truncate(limit);
    json!({"format": 1, "depth": depth, "files": files, "bytes": size, "models": models, "dirs": dirs,
           "truncated": truncated, "unreadable": ins.unreadable, "unreadable_count": ins.unreadable_count})
}

/// The claim a container's mount point at `path` belongs to.
pub(super) fn claim_mounted_at(pod: &Value, container: &Value, path: &str) -> Option<String> {
    let mount = container
        .get("volumeMounts")
        .and_then(Value::as_array)?
        .iter()
        .filter(|m| {
            let at = s(m, "/mountPath").trim_end_matches('/');
            !at.is_empty() && (path == at || path.starts_with(&format!("{at}/")))
        })
        .max_by_key(|m| s(m, "/mountPath").len())?;
    let volume = s(mount, "/name");
    pod.pointer("/spec/volumes")
        .and_then(Value::as_array)?
        .iter()
        .find(|v| s(v, "/name") == volume)
        .and_then(|v| v.pointer("/persistentVolumeClaim/claimName").and_then(Value::as_str))
        .map(str::to_string)
}

fn env_of<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container
        .get("env")
        .and_then(Value::as_array)?
        .iter()
        .find(|e| s(e, "/name") == name)
        .and_then(|e| e.get("value").and_then(Value::as_str))
}

/// Whether the pod is an inspection pod, and what its script would print, with its exit code.
pub(super) fn inspection(
    pod: &Value,
    files: &BTreeMap<(String, String), BTreeMap<String, ClaimFile>>,
) -> Option<(String, i32)> {
    let container = pod.pointer("/spec/containers/0")?;
    let root = env_of(container, "MSWS_INSPECT_ROOT")?;
    let number = |name: &str, default: u64| env_of(container, name).and_then(|v| v.parse().ok()).unwrap_or(default);
    let (depth, limit) = (number("MSWS_INSPECT_DEPTH", 4), number("MSWS_INSPECT_LIMIT", 1000));
    let Some(claim) = claim_mounted_at(pod, container, root.trim_end_matches('/')) else {
        return Some(("MSWS-INSPECT-FAILED the claim's mount point is not a directory\n".into(), 1));
    };
    let ns = s(pod, "/metadata/namespace").to_string();
    let empty = BTreeMap::new();
    let on_claim = files.get(&(ns, claim)).unwrap_or(&empty);
    let doc = listing(on_claim, depth as u32, limit as usize);
    Some((format!("MSWS-INSPECT-RESULT {doc}\n"), 0))
}

/// Files written on a claim: (namespace, claim, files by path).
pub(super) type Written = (String, String, Vec<(String, ClaimFile)>);

/// What a download pod that succeeded leaves on its claim: (namespace, claim, files), from its
/// `MSWS_TARGET` and the `MSWS-DOWNLOAD-COMPLETE` line of its log.
pub(super) fn downloaded(pod: &Value, log: &str) -> Option<Written> {
    let record = log.lines().rev().find_map(|l| l.strip_prefix("MSWS-DOWNLOAD-COMPLETE "))?;
    let container = pod.pointer("/spec/containers/0")?;
    let target = env_of(container, "MSWS_TARGET")?.trim_end_matches('/');
    let claim = claim_mounted_at(pod, container, target)?;
    let mount = container
        .get("volumeMounts")
        .and_then(Value::as_array)?
        .iter()
        .map(|m| s(m, "/mountPath").trim_end_matches('/'))
        .filter(|at| target == *at || target.starts_with(&format!("{at}/")))
        .max_by_key(|at| at.len())?;
    let path = target[mount.len()..].trim_start_matches('/').to_string();
    let bytes =
        serde_json::from_str::<Value>(record).ok().and_then(|r| r.get("bytes").and_then(Value::as_u64)).unwrap_or(1);
    let mut files = model_files(&path, bytes);
    let at = if path.is_empty() { MARKER.to_string() } else { format!("{path}/{MARKER}") };
    files.push((at, ClaimFile::text(record.trim())));
    Some((s(pod, "/metadata/namespace").to_string(), claim, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(files: Vec<(String, ClaimFile)>) -> BTreeMap<String, ClaimFile> {
        files.into_iter().collect()
    }

    #[test]
    fn a_model_directory_and_a_hub_cache_are_found_with_their_sizes() {
        let mut f = of(model_files("models/opt", 1000));
        f.extend(hf_cache_files("hub", "org/name", "abc"));
        f.insert(
            "models/opt/.msws-download.json".into(),
            ClaimFile::text(r#"{"source":"hf://org/opt","revision":"main","files":3,"bytes":1000,"extra":true}"#),
        );
        f.insert("notes.txt".into(), ClaimFile::file(5));
        let l = listing(&f, 4, 1000);
        let models = l["models"].as_array().unwrap();
        assert_eq!(models.len(), 2, "{l:#}");
        assert_eq!(models[0]["path"], "hub/models--org--name");
        assert_eq!(models[0]["repo"], "org/name");
        assert_eq!(
            models[0]["snapshots"][0],
            json!({"revision": "abc", "config": true, "weights": {"safetensors": 1}})
        );
        assert_eq!(models[0]["refs"], json!({"main": "abc"}));
        assert_eq!(
            models[1]["download"],
            json!({"source": "hf://org/opt", "revision": "main", "files": 3, "bytes": 1000})
        );
        assert_eq!(models[1]["files"], 4);
        let paths: Vec<&str> = l["dirs"].as_array().unwrap().iter().map(|d| d["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["hub", "hub/models--org--name", "models", "models/opt"]);
        assert_eq!(l["files"], 4 + 4 + 1);
    }

    #[test]
    fn links_out_of_the_claim_and_unreadable_directories() {
        let mut f = BTreeMap::new();
        f.insert("a/config.json".to_string(), ClaimFile::link("/etc/passwd"));
        f.insert("b/config.json".to_string(), ClaimFile::link("../../outside"));
        f.insert("c/config.json".to_string(), ClaimFile::link("../real/config.json"));
        f.insert("real/config.json".to_string(), ClaimFile::text("{}"));
        f.insert("secret".to_string(), ClaimFile::Unreadable);
        let l = listing(&f, 4, 1000);
        let paths: Vec<&str> = l["models"].as_array().unwrap().iter().map(|d| d["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["c", "real"]);
        assert_eq!((l["unreadable"].clone(), l["unreadable_count"].clone()), (json!(["secret"]), json!(1)));
    }
}
