//! What `inspect.py` reports about a claim ([`Listing`]), read back from the inspection pod's log
//! by [`parse_log`]. The document is described in the script's header; paths are relative to the
//! claim's root (`""` is the root itself) and joined with `/`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The version of the document `inspect.py` prints; [`parse_log`] refuses any other.
pub const LISTING_FORMAT: u32 = 1;

/// The line that carries the document: the last one of the log that starts with it.
pub const RESULT_PREFIX: &str = "MSWS-INSPECT-RESULT ";

/// The line the script prints instead when it cannot inspect the claim.
pub const FAILED_PREFIX: &str = "MSWS-INSPECT-FAILED ";

/// A claim's content, as far down as `depth` levels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub format: u32,
    pub depth: u32,
    /// Regular files of the whole claim, and their bytes (symbolic links are not followed).
    pub files: u64,
    pub bytes: u64,
    /// Every model directory found, by path.
    pub models: Vec<Model>,
    /// Every directory 1 to `depth` levels down that is not inside a model, by path.
    pub dirs: Vec<Dir>,
    /// More models or directories than the script lists were found.
    pub truncated: bool,
    /// The first paths that could not be read (permissions).
    pub unreadable: Vec<String>,
    pub unreadable_count: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dir {
    pub path: String,
    pub files: u64,
    pub bytes: u64,
}

/// A model directory: its files (and bytes), and how it is laid out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Model {
    pub path: String,
    pub files: u64,
    pub bytes: u64,
    #[serde(flatten)]
    pub layout: Layout,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "layout", rename_all = "kebab-case")]
pub enum Layout {
    /// A directory holding a `config.json` (and the weights beside it): `pvc://claim/path`.
    Files {
        /// Top-level weight files by suffix (`safetensors`, `bin`, `gguf`, `pt`, `pth`).
        weights: BTreeMap<String, u64>,
        /// The completion marker msws's downloader left there, when it did.
        download: Option<Marker>,
    },
    /// A Hugging Face hub cache entry `models--ORG--NAME`: `pvc+hf://claim/cache/ORG/NAME`.
    HfCache {
        /// The directory that holds it (the `HF_HUB_CACHE`), relative to the claim's root.
        cache: String,
        /// `ORG/NAME`.
        repo: String,
        snapshots: Vec<Snapshot>,
        /// `refs/<name>` → the commit it points to (`main`, `pr/1`, …).
        refs: BTreeMap<String, String>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub revision: String,
    /// The snapshot holds a `config.json`.
    pub config: bool,
    pub weights: BTreeMap<String, u64>,
}

/// The record `download.py` wrote next to the model (`.msws-download.json`), as far as it has the
/// fields msws reads.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marker {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

impl Model {
    /// Whether serving from it can work: a `config.json` there, or in a snapshot of the cache.
    pub fn has_config(&self) -> bool {
        match &self.layout {
            Layout::Files { .. } => true,
            Layout::HfCache { snapshots, .. } => snapshots.iter().any(|s| s.config),
        }
    }

    /// The snapshot a hub cache serves by default: the one `refs/main` names, else the only one
    /// with a `config.json`.
    pub fn main_snapshot(&self) -> Option<&Snapshot> {
        let Layout::HfCache { snapshots, refs, .. } = &self.layout else { return None };
        if let Some(main) = refs.get("main")
            && let Some(s) = snapshots.iter().find(|s| &s.revision == main)
        {
            return Some(s);
        }
        let with_config: Vec<&Snapshot> = snapshots.iter().filter(|s| s.config).collect();
        (with_config.len() == 1).then(|| with_config[0])
    }

    /// The URI a model service serves it with: `pvc://claim/path` (the claim's root as
    /// `pvc://claim/`, with the slash, which the ModelService chart needs too) or
    /// `pvc+hf://claim/cache/org/name`. A cache entry of a repository without an organisation
    /// (`models--gpt2`) cannot be named by `pvc+hf://`: its main snapshot is served as files.
    pub fn uri(&self, claim: &str) -> Option<String> {
        match &self.layout {
            Layout::Files { .. } if self.path.is_empty() => Some(format!("pvc://{claim}/")),
            Layout::Files { .. } => Some(format!("pvc://{claim}/{}", self.path)),
            Layout::HfCache { cache, repo, .. }
                if repo.split('/').count() == 2 && !repo.split('/').any(str::is_empty) =>
            {
                Some(match cache.as_str() {
                    "" => format!("pvc+hf://{claim}/{repo}"),
                    c => format!("pvc+hf://{claim}/{c}/{repo}"),
                })
            }
            Layout::HfCache { .. } => {
                self.main_snapshot().map(|s| format!("pvc://{claim}/{}/snapshots/{}", self.path, s.revision))
            }
        }
    }
}

/// Why an inspection pod's log holds no listing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The script said why it could not inspect the claim.
    #[error("the inspection script failed: {0}")]
    Failed(String),
    #[error("the inspection pod's log holds no result line ({RESULT_PREFIX:?}){}", tail_of(.0))]
    NoResult(String),
    #[error("the inspection pod's result is not a listing msws can read ({0}); the log may be cut short")]
    Malformed(String),
    #[error("the inspection pod printed a listing of format {0}; this msws reads format {LISTING_FORMAT}")]
    Format(u32),
}

fn tail_of(tail: &str) -> String {
    if tail.trim().is_empty() { "; the log is empty".to_string() } else { format!("; it ends with:\n{tail}") }
}

/// The listing in an inspection pod's log: the last line starting with [`RESULT_PREFIX`] or
/// [`FAILED_PREFIX`] decides. Anything else in the log (a warning on stderr) is ignored.
pub fn parse_log(log: &str) -> Result<Listing, LogError> {
    for line in log.lines().rev() {
        let line = line.trim_end_matches('\r');
        if let Some(reason) = line.strip_prefix(FAILED_PREFIX) {
            return Err(LogError::Failed(reason.trim().to_string()));
        }
        if let Some(doc) = line.strip_prefix(RESULT_PREFIX) {
            // The format first, so that a newer document is named as such rather than as garbage.
            let value: serde_json::Value =
                serde_json::from_str(doc.trim()).map_err(|e| LogError::Malformed(e.to_string()))?;
            match value.get("format").and_then(serde_json::Value::as_u64) {
                Some(f) if f == u64::from(LISTING_FORMAT) => {}
                Some(f) => return Err(LogError::Format(u32::try_from(f).unwrap_or(u32::MAX))),
                None => return Err(LogError::Malformed("it has no format".into())),
            }
            return serde_json::from_value(value).map_err(|e| LogError::Malformed(e.to_string()));
        }
    }
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("\n");
    Err(LogError::NoResult(crate::diag::redact_tokens(&tail).into_owned()))
}

/// Bytes as people read them: `512 B`, `2.0 MiB`, `14.9 GiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"format":1,"depth":4,"files":3,"bytes":30,"models":[{"path":"models/opt","layout":"files","files":3,"bytes":30,"weights":{"safetensors":1},"download":{"source":"hf://facebook/opt-125m","revision":"main"}},{"path":"hub/models--org--m","layout":"hf-cache","cache":"hub","repo":"org/m","files":0,"bytes":0,"snapshots":[{"revision":"abc","config":true,"weights":{}}],"refs":{"main":"abc"}}],"dirs":[{"path":"models","files":3,"bytes":30}],"truncated":false,"unreadable":[],"unreadable_count":0}"#;

    #[test]
    fn reads_the_last_result_line_and_ignores_the_rest() {
        let log = format!("warning: something on stderr\n{RESULT_PREFIX}{DOC}\n");
        let l = parse_log(&log).unwrap();
        assert_eq!((l.files, l.models.len(), l.dirs.len()), (3, 2, 1));
        assert_eq!(l.models[0].uri("c").as_deref(), Some("pvc://c/models/opt"));
        assert_eq!(l.models[1].uri("c").as_deref(), Some("pvc+hf://c/hub/org/m"));
        let Layout::Files { download: Some(m), .. } = &l.models[0].layout else { panic!() };
        assert_eq!(m.source.as_deref(), Some("hf://facebook/opt-125m"));
        // It round-trips: what msws prints in `inspect --json` is the same document.
        let again: Listing = serde_json::from_str(&serde_json::to_string(&l).unwrap()).unwrap();
        assert_eq!(again, l);
    }

    #[test]
    fn a_failure_line_an_empty_log_a_cut_and_a_newer_document_are_errors() {
        assert_eq!(
            parse_log("MSWS-INSPECT-FAILED the claim's root directory cannot be read\n"),
            Err(LogError::Failed("the claim's root directory cannot be read".into()))
        );
        assert!(matches!(parse_log(""), Err(LogError::NoResult(t)) if t.is_empty()));
        let e = parse_log("Traceback\nMemoryError\n").unwrap_err();
        assert!(e.to_string().contains("ends with:\nTraceback\nMemoryError"), "{e}");
        let cut = format!("{RESULT_PREFIX}{}", &DOC[..DOC.len() / 2]);
        assert!(matches!(parse_log(&cut), Err(LogError::Malformed(_))));
        let newer = format!("{RESULT_PREFIX}{}", DOC.replace(r#""format":1"#, r#""format":7"#));
        assert_eq!(parse_log(&newer), Err(LogError::Format(7)));
        let wrong = format!(
            "{RESULT_PREFIX}{}",
            DOC.replace(r#""files":3,"bytes":30,"models""#, r#""files":"3","bytes":30,"models""#)
        );
        assert!(
            matches!(parse_log(&wrong), Err(LogError::Malformed(m)) if m.contains("files") || m.contains("string"))
        );
    }

    #[test]
    fn the_root_and_a_cache_without_an_organisation_have_uris_too() {
        let root = Model {
            path: "".into(),
            files: 1,
            bytes: 1,
            layout: Layout::Files { weights: BTreeMap::new(), download: None },
        };
        assert_eq!(root.uri("model-pvc").as_deref(), Some("pvc://model-pvc/"));
        let snap = |r: &str, c: bool| Snapshot { revision: r.into(), config: c, weights: BTreeMap::new() };
        let gpt2 = Model {
            path: "hub/models--gpt2".into(),
            files: 1,
            bytes: 1,
            layout: Layout::HfCache {
                cache: "hub".into(),
                repo: "gpt2".into(),
                snapshots: vec![snap("a", false), snap("b", true)],
                refs: BTreeMap::new(),
            },
        };
        assert_eq!(gpt2.uri("c").as_deref(), Some("pvc://c/hub/models--gpt2/snapshots/b"));
        let at_root = Model {
            path: "models--o--n".into(),
            files: 1,
            bytes: 1,
            layout: Layout::HfCache { cache: "".into(), repo: "o/n".into(), snapshots: vec![], refs: BTreeMap::new() },
        };
        assert_eq!(at_root.uri("c").as_deref(), Some("pvc+hf://c/o/n"));
        assert!(!at_root.has_config());
    }

    #[test]
    fn sizes_read_as_people_read_them() {
        assert_eq!(
            [human_bytes(0), human_bytes(1023), human_bytes(1024), human_bytes(2 * 1024 * 1024 + 1)],
            ["0 B", "1023 B", "1.0 KiB", "2.0 MiB"]
        );
        assert_eq!(human_bytes(u64::MAX), "16384.0 PiB");
    }
}
