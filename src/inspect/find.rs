//! Is the model a URI names on the claim? [`check`] answers from a [`Listing`]: found, or what is
//! there instead and the model directories nearest to what was asked for.

use super::listing::{Layout, Listing, Model, human_bytes};
use crate::model::ModelUri;

/// What a URI needs on its claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want<'a> {
    /// `pvc://claim/path`: a `config.json` in `path`.
    Files { path: &'a str },
    /// `pvc+hf://claim/cache/org/name`: the cache entry `cache/models--org--name` with a snapshot
    /// holding a `config.json`.
    HfCache { cache: &'a str, repo: &'a str },
}

impl<'a> Want<'a> {
    pub fn of(uri: &'a ModelUri) -> Option<Want<'a>> {
        match uri {
            ModelUri::Pvc { path, .. } => Some(Want::Files { path: path.trim_matches('/') }),
            ModelUri::PvcHf { cache, repo, .. } => Some(Want::HfCache { cache: cache.trim_matches('/'), repo }),
            _ => None,
        }
    }

    /// The directory it needs, relative to the claim's root.
    pub fn path(&self) -> String {
        match self {
            Want::Files { path } => path.to_string(),
            Want::HfCache { cache, repo } => {
                let entry = format!("models--{}", repo.replace('/', "--"));
                if cache.is_empty() { entry } else { format!("{cache}/{entry}") }
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict<'a> {
    Found(&'a Model),
    Missing {
        /// What the claim has at (or around) the path, as a clause: "there is no directory
        /// models/x on the claim".
        there: String,
        /// The URIs of the model directories most like the one asked for, nearest first.
        nearest: Vec<String>,
    },
}

fn inside(path: &str, dir: &str) -> bool {
    dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"))
}

fn shown(path: &str) -> String {
    if path.is_empty() { "the claim's root".to_string() } else { path.to_string() }
}

/// Whether the claim holds the model `want` names, per the listing.
pub fn check<'a>(listing: &'a Listing, claim: &str, want: Want<'_>) -> Verdict<'a> {
    let path = want.path();
    let there = match want {
        Want::Files { path: p } => {
            for m in &listing.models {
                match &m.layout {
                    Layout::Files { .. } if m.path == p => return Verdict::Found(m),
                    // A snapshot of a hub cache is a model directory too (its files are links
                    // into the entry's blobs, which the mount resolves).
                    Layout::HfCache { snapshots, .. }
                        if snapshots
                            .iter()
                            .any(|s| s.config && p == format!("{}/snapshots/{}", m.path, s.revision)) =>
                    {
                        return Verdict::Found(m);
                    }
                    _ => {}
                }
            }
            files_there(listing, claim, p)
        }
        Want::HfCache { cache, repo } => {
            let entry = listing
                .models
                .iter()
                .find(|m| matches!(&m.layout, Layout::HfCache { cache: c, repo: r, .. } if c == cache && r == repo));
            match entry {
                Some(m) if m.has_config() => return Verdict::Found(m),
                Some(m) => {
                    let Layout::HfCache { snapshots, .. } = &m.layout else { unreachable!("matched above") };
                    if snapshots.is_empty() {
                        format!("its cache entry {path} has no snapshot")
                    } else {
                        format!("no snapshot of its cache entry {path} holds a config.json")
                    }
                }
                None => {
                    let others: Vec<&str> = listing
                        .models
                        .iter()
                        .filter_map(|m| match &m.layout {
                            Layout::HfCache { cache: c, repo, .. } if c == cache => Some(repo.as_str()),
                            _ => None,
                        })
                        .collect();
                    if others.is_empty() && !listing.dirs.iter().any(|d| d.path == cache) && !cache.is_empty() {
                        format!("there is no directory {cache} on the claim, so no hub cache there")
                    } else if others.is_empty() {
                        format!("{} holds no hub cache entry (no models--ORG--NAME directory)", shown(cache))
                    } else {
                        format!(
                            "the hub cache in {} has no entry for {repo} (it holds {})",
                            shown(cache),
                            others.join(", ")
                        )
                    }
                }
            }
        }
    };
    let there = if listing.truncated {
        format!("{there} (among the directories the inspection listed; there were more)")
    } else {
        there
    };
    Verdict::Missing { there, nearest: nearest(listing, claim, &path) }
}

/// What is at a `pvc://` path that holds no model.
fn files_there(listing: &Listing, claim: &str, p: &str) -> String {
    if let Some(m) = listing.models.iter().find(|m| inside(p, &m.path)) {
        return match &m.layout {
            Layout::HfCache { .. } => format!(
                "{p} is inside the Hugging Face cache entry {}: serve it with {}",
                m.path,
                m.uri(claim).unwrap_or_default()
            ),
            Layout::Files { .. } if m.path.is_empty() => {
                format!(
                    "{p} is below the claim's root, which is the model directory itself (its config.json is at the root)"
                )
            }
            Layout::Files { .. } => format!("{p} is inside the model directory {}", m.path),
        };
    }
    let under: Vec<&str> = listing
        .models
        .iter()
        .filter(|m| m.has_config() && m.path != p && inside(&m.path, p))
        .map(|m| m.path.as_str())
        .collect();
    let under_clause = if under.is_empty() {
        String::new()
    } else {
        format!("; below it are the model directories {}", under.join(", "))
    };
    if p.is_empty() {
        return format!("the claim's root holds no config.json{under_clause}");
    }
    match listing.dirs.iter().find(|d| d.path == p) {
        Some(d) if d.files == 0 => format!("{p} is an empty directory{under_clause}"),
        Some(d) => format!(
            "{p} is a directory without a config.json ({} files, {}){under_clause}",
            d.files,
            human_bytes(d.bytes)
        ),
        None => {
            // The deepest directory of the path that is there.
            let mut parent = p;
            let found = loop {
                match parent.rsplit_once('/') {
                    Some((up, _)) => {
                        parent = up;
                        if listing.dirs.iter().any(|d| d.path == parent) {
                            break Some(parent);
                        }
                    }
                    None => break None,
                }
            };
            match found {
                Some(up) => format!("there is no directory {p} on the claim ({up} is there){under_clause}"),
                None => format!("there is no directory {p} on the claim{under_clause}"),
            }
        }
    }
}

/// The model directories most like `path`, as URIs, nearest first (at most three).
pub fn nearest(listing: &Listing, claim: &str, path: &str) -> Vec<String> {
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_lowercase();
    let mut scored: Vec<(f64, &str, String)> = listing
        .models
        .iter()
        .filter(|m| m.has_config())
        .filter_map(|m| {
            let uri = m.uri(claim)?;
            let full = strsim::normalized_levenshtein(&path.to_lowercase(), &m.path.to_lowercase());
            // The last component names the model; a cache entry's is `models--org--name`.
            let name = match &m.layout {
                Layout::HfCache { repo, .. } => base(repo),
                Layout::Files { .. } => base(&m.path),
            };
            let wanted = base(path);
            let wanted =
                wanted.strip_prefix("models--").map(|w| w.replace("--", "/")).map(|w| base(&w)).unwrap_or(wanted);
            let score = 0.5 * full + 0.5 * strsim::normalized_levenshtein(&wanted, &name);
            Some((score, m.path.as_str(), uri))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored.into_iter().take(3).map(|(_, _, uri)| uri).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::inspect::listing::{Dir, Snapshot};

    fn files(path: &str) -> Model {
        Model {
            path: path.into(),
            files: 2,
            bytes: 20,
            layout: Layout::Files { weights: BTreeMap::new(), download: None },
        }
    }

    fn cache(cache: &str, repo: &str, config: bool) -> Model {
        let path = format!(
            "{}models--{}",
            if cache.is_empty() { String::new() } else { format!("{cache}/") },
            repo.replace('/', "--")
        );
        let snapshots = vec![Snapshot { revision: "abc".into(), config, weights: BTreeMap::new() }];
        Model {
            path,
            files: 3,
            bytes: 30,
            layout: Layout::HfCache { cache: cache.into(), repo: repo.into(), snapshots, refs: BTreeMap::new() },
        }
    }

    fn listing(models: Vec<Model>, dirs: &[(&str, u64)]) -> Listing {
        Listing {
            format: 1,
            depth: 4,
            files: 0,
            bytes: 0,
            models,
            dirs: dirs.iter().map(|(p, f)| Dir { path: p.to_string(), files: *f, bytes: *f * 10 }).collect(),
            truncated: false,
            unreadable: vec![],
            unreadable_count: 0,
        }
    }

    fn missing(v: Verdict<'_>) -> (String, Vec<String>) {
        match v {
            Verdict::Missing { there, nearest } => (there, nearest),
            Verdict::Found(m) => panic!("found {m:?}"),
        }
    }

    #[test]
    fn a_wrong_path_names_what_is_there_and_the_nearest_model() {
        let l = listing(
            vec![files("models/opt-125m"), files("models/llama-3.1-8b"), files("other/qwen")],
            &[("models", 4), ("models/opt-125m", 2), ("models/llama-3.1-8b", 2), ("other", 2), ("other/qwen", 2)],
        );
        assert!(matches!(check(&l, "c", Want::Files { path: "models/opt-125m" }), Verdict::Found(_)));
        let (there, nearest) = missing(check(&l, "c", Want::Files { path: "models/opt125m" }));
        assert_eq!(there, "there is no directory models/opt125m on the claim (models is there)");
        assert_eq!(nearest[0], "pvc://c/models/opt-125m");
        let (there, nearest) = missing(check(&l, "c", Want::Files { path: "models" }));
        assert_eq!(
            there,
            "models is a directory without a config.json (4 files, 40 B); below it are the model directories models/opt-125m, models/llama-3.1-8b"
        );
        assert_eq!(nearest.len(), 3);
        let (there, _) = missing(check(&l, "c", Want::Files { path: "models/opt-125m/original" }));
        assert_eq!(there, "models/opt-125m/original is inside the model directory models/opt-125m");
        let (there, _) = missing(check(&l, "c", Want::Files { path: "" }));
        assert!(there.starts_with("the claim's root holds no config.json; below it"), "{there}");
    }

    #[test]
    fn the_runbook_s_mount_path_is_answered_with_the_claim_s_root() {
        // The runbook's downloader writes into its mount point, /models: the model is the claim's
        // root, and `models` (the mount point) is not on the claim at all.
        let l = listing(vec![files("")], &[(".cache", 3)]);
        let (there, nearest) = missing(check(&l, "model-pvc", Want::Files { path: "models" }));
        assert_eq!(
            there,
            "models is below the claim's root, which is the model directory itself (its config.json is at the root)"
        );
        assert_eq!(nearest, ["pvc://model-pvc/"]);
    }

    #[test]
    fn a_hub_cache_entry_is_found_by_cache_and_repository() {
        let l = listing(
            vec![cache("hub", "meta-llama/Llama-3.1-8B-Instruct", true), cache("hub", "org/no-config", false)],
            &[("hub", 6)],
        );
        assert!(matches!(
            check(&l, "c", Want::HfCache { cache: "hub", repo: "meta-llama/Llama-3.1-8B-Instruct" }),
            Verdict::Found(_)
        ));
        let (there, nearest) = missing(check(&l, "c", Want::HfCache { cache: "hub", repo: "meta-llama/Llama-3.1-8B" }));
        assert_eq!(
            there,
            "the hub cache in hub has no entry for meta-llama/Llama-3.1-8B (it holds meta-llama/Llama-3.1-8B-Instruct, org/no-config)"
        );
        assert_eq!(nearest, ["pvc+hf://c/hub/meta-llama/Llama-3.1-8B-Instruct"]);
        let (there, _) = missing(check(&l, "c", Want::HfCache { cache: "hub", repo: "org/no-config" }));
        assert_eq!(there, "no snapshot of its cache entry hub/models--org--no-config holds a config.json");
        let (there, _) = missing(check(&l, "c", Want::HfCache { cache: "cache/hub", repo: "org/m" }));
        assert_eq!(there, "there is no directory cache/hub on the claim, so no hub cache there");
        // A snapshot served as files is a model directory.
        assert!(matches!(
            check(&l, "c", Want::Files { path: "hub/models--meta-llama--Llama-3.1-8B-Instruct/snapshots/abc" }),
            Verdict::Found(_)
        ));
        let (there, _) = missing(check(&l, "c", Want::Files { path: "hub/models--meta-llama--Llama-3.1-8B-Instruct" }));
        assert_eq!(
            there,
            "hub/models--meta-llama--Llama-3.1-8B-Instruct is inside the Hugging Face cache entry hub/models--meta-llama--Llama-3.1-8B-Instruct: serve it with pvc+hf://c/hub/meta-llama/Llama-3.1-8B-Instruct"
        );
    }
}
