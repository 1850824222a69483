//! `msws inspect`'s text and JSON: the claim, its model directories with the URI to serve each
//! one with, and the directories around them.

use std::fmt::Write;

use serde_json::{Value, json};

use super::Inspection;
use super::listing::{Layout, Marker, Model, human_bytes};

fn weights(w: &std::collections::BTreeMap<String, u64>) -> String {
    if w.is_empty() {
        return "no weight files at its top level".to_string();
    }
    w.iter().map(|(k, n)| format!("{n} .{k}")).collect::<Vec<_>>().join(", ")
}

fn download(m: &Marker) -> String {
    let source = m.source.clone().or_else(|| m.repo.as_ref().map(|r| format!("hf://{r}"))).unwrap_or("?".into());
    let mut s = format!("downloaded by msws from {source}");
    if let Some(r) = &m.revision {
        let _ = write!(s, " at {r}");
    }
    if let Some(c) = m.commit.as_ref().filter(|c| Some(*c) != m.revision.as_ref()) {
        let _ = write!(s, " (commit {})", &c[..c.len().min(12)]);
    }
    if let Some(t) = &m.completed_at {
        let _ = write!(s, ", {t}");
    }
    s
}

fn files(n: u64) -> String {
    if n == 1 { "1 file".into() } else { format!("{n} files") }
}

/// What one model is, after its URI.
fn details(m: &Model) -> Vec<String> {
    let mut out = vec![format!("{} in {}", human_bytes(m.bytes), files(m.files))];
    match &m.layout {
        Layout::Files { weights: w, download: d } => {
            out[0] = format!("config.json, {}; {}", weights(w), out[0]);
            if let Some(d) = d {
                out.push(download(d));
            }
        }
        Layout::HfCache { repo, snapshots, refs, .. } => {
            out[0] = format!("Hugging Face hub cache of {repo}: {}", out[0]);
            for s in snapshots {
                let names: Vec<&str> =
                    refs.iter().filter(|(_, c)| **c == s.revision).map(|(r, _)| r.as_str()).collect();
                let refs = if names.is_empty() { String::new() } else { format!(" ({})", names.join(", ")) };
                let config =
                    if s.config { format!("config.json, {}", weights(&s.weights)) } else { "no config.json".into() };
                out.push(format!("snapshot {}{refs}: {config}", s.revision));
            }
            if snapshots.is_empty() {
                out.push("no snapshot".into());
            }
        }
    }
    out
}

/// The text `msws inspect` prints.
pub fn to_text(i: &Inspection) -> String {
    let mut s = String::new();
    let c = &i.claim;
    let mut about = vec![c.phase.clone()];
    about.extend(c.access_modes.iter().cloned());
    about.extend(c.capacity.iter().cloned());
    if let Some(v) = &c.volume {
        about.push(format!("volume {v}"));
    }
    let l = &i.listing;
    let _ = writeln!(
        s,
        "Claim {} in namespace {} ({}): {}, {}",
        c.name,
        i.namespace,
        about.join(", "),
        files(l.files),
        human_bytes(l.bytes)
    );
    match (&i.node, &i.pinned_because) {
        (Some(n), Some(why)) => {
            let _ = writeln!(s, "Inspected by pod {} on node {n}: {why}", i.pod);
        }
        _ => {
            let _ = writeln!(s, "Inspected by pod {} (deleted since)", i.pod);
        }
    }
    let usable: Vec<&Model> = l.models.iter().filter(|m| m.has_config()).collect();
    if l.models.is_empty() {
        let _ = writeln!(
            s,
            "\nNo model directory (a config.json, or a Hugging Face hub cache entry) within {} levels of the claim's root{}.",
            l.depth,
            if l.depth < 64 { "; --depth looks deeper" } else { "" }
        );
    } else {
        let _ = writeln!(
            s,
            "\nModels ({} with a config.json), each with the URI a model service serves it with:",
            usable.len()
        );
        for m in &l.models {
            let uri = m.uri(&c.name).unwrap_or_else(|| format!("(no URI: {} has no usable snapshot)", m.path));
            let root = if m.path.is_empty() && matches!(m.layout, Layout::Files { .. }) {
                "   (the claim's root)"
            } else {
                ""
            };
            let _ = writeln!(s, "\n  {uri}{root}");
            for d in details(m) {
                let _ = writeln!(s, "      {d}");
            }
        }
    }
    if !l.dirs.is_empty() {
        let _ = writeln!(s, "\nDirectories ({} levels):", l.depth);
        let model_paths: std::collections::BTreeSet<&str> = l.models.iter().map(|m| m.path.as_str()).collect();
        let width = l.dirs.iter().map(|d| d.path.len() + 1).max().unwrap_or(0);
        for d in &l.dirs {
            let mark = if model_paths.contains(d.path.as_str()) { "  model" } else { "" };
            let _ = writeln!(
                s,
                "  {:width$}  {:>10}  {:>11}{mark}",
                format!("{}/", d.path),
                human_bytes(d.bytes),
                files(d.files)
            );
        }
    }
    if l.truncated {
        let _ = writeln!(s, "\n(more models or directories than listed: the inspection lists at most 1000 of each)");
    }
    if l.unreadable_count > 0 {
        let _ = writeln!(
            s,
            "\n{} could not be read by the inspection pod (user {}): {}{}",
            if l.unreadable_count == 1 { "1 path".to_string() } else { format!("{} paths", l.unreadable_count) },
            super::pod::RUN_AS,
            l.unreadable.join(", "),
            if l.unreadable_count > l.unreadable.len() as u64 { ", …" } else { "" }
        );
    }
    for n in &i.notes {
        let _ = writeln!(s, "\nnote: {n}");
    }
    s
}

/// `msws inspect --json`'s document (docs/commands.md describes it).
pub fn to_json(i: &Inspection) -> Value {
    let models: Vec<Value> = i
        .listing
        .models
        .iter()
        .map(|m| {
            let mut v = serde_json::to_value(m).unwrap_or_default();
            v["uri"] = m.uri(&i.claim.name).map(Value::from).unwrap_or(Value::Null);
            v["has_config"] = m.has_config().into();
            v
        })
        .collect();
    let l = &i.listing;
    json!({
        "version": 1,
        "namespace": i.namespace,
        "claim": i.claim,
        "pod": {"name": i.pod, "image": i.image, "node": i.node, "pinned_because": i.pinned_because},
        "depth": l.depth,
        "files": l.files,
        "bytes": l.bytes,
        "models": models,
        "dirs": l.dirs,
        "truncated": l.truncated,
        "unreadable": l.unreadable,
        "unreadable_count": l.unreadable_count,
        "notes": i.notes,
    })
}
