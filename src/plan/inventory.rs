//! The inventory: what msws owns in a namespace for one workspace, and the downloads it completed.
//!
//! It is a ConfigMap named `msws-<workspace>` that is the parent of a Kubernetes ApplySet
//! (KEP-3659): it carries `applyset.kubernetes.io/id` (members carry the same id in
//! `applyset.kubernetes.io/part-of`), the tooling and the group-kinds its members may have, so
//! `kubectl` and other tools can see what msws owns. Its data records each completed download
//! (source, revision, path, claim, commit, size), so a download is planned from that record and
//! not from a Job that the release step may have deleted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::render::{applyset_id, applyset_parent_name, keys};

/// The record a completed download leaves (also in the `.msws-download.json` marker on the claim).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadRecord {
    pub source: String,
    pub revision: String,
    pub storage: String,
    pub path: String,
    /// The commit the revision resolved to.
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub files: Option<u64>,
    #[serde(default)]
    pub bytes: Option<u64>,
    #[serde(default)]
    pub completed_at: Option<String>,
}

/// The line the downloader prints when the files are verified, followed by its record as JSON
/// (src/render/download.py).
pub const COMPLETE_MARKER: &str = "MSWS-DOWNLOAD-COMPLETE ";
/// The line the downloader prints when it gives up, followed by the reason.
pub const FAILED_MARKER: &str = "MSWS-DOWNLOAD-FAILED ";

/// A commit as people read it: its first 12 characters.
pub fn short_commit(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

impl DownloadRecord {
    /// What a download of `d` records before its downloader says which commit it resolved and
    /// how much it fetched.
    pub fn of(d: &crate::model::Download) -> DownloadRecord {
        DownloadRecord {
            source: d.source_uri(),
            revision: d.revision.clone(),
            storage: d.storage.clone(),
            path: d.path.clone(),
            commit: None,
            files: None,
            bytes: None,
            completed_at: None,
        }
    }

    /// Fills the commit, file count, size and completion time from the downloader's last
    /// completion line in `log`; false (and nothing changed) when the log has none.
    pub fn read_marker(&mut self, log: &str) -> bool {
        let marker = log.lines().rev().find_map(|l| l.trim_start().strip_prefix(COMPLETE_MARKER));
        let Some(m) = marker.and_then(|m| serde_json::from_str::<Value>(m).ok()) else { return false };
        let text = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        self.commit = text("commit");
        self.files = m.get("files").and_then(Value::as_u64);
        self.bytes = m.get("bytes").and_then(Value::as_u64);
        self.completed_at = text("completed_at");
        true
    }

    /// Whether this record says the same model is where a download would put it.
    pub fn matches(&self, source: &str, revision: &str, storage: &str, path: &str) -> bool {
        self.source == source
            && self.storage == storage
            && self.path == path
            && (self.revision == revision || self.commit.as_deref() == Some(revision))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub downloads: BTreeMap<String, DownloadRecord>,
    pub workspace_hash: Option<String>,
    pub git_commit: Option<String>,
}

pub const DOWNLOADS_KEY: &str = "downloads";
pub const HASH_ANNOTATION: &str = "msws.io/workspace-hash";
pub const GIT_ANNOTATION: &str = "msws.io/git-commit";
pub const APPLYSET_ID: &str = "applyset.kubernetes.io/id";
pub const APPLYSET_TOOLING: &str = "applyset.kubernetes.io/tooling";
pub const APPLYSET_GROUP_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";

impl Inventory {
    /// Reads the inventory out of its ConfigMap; an unreadable record is left out (and planned
    /// as a fresh download, which the downloader itself then finds complete).
    pub fn from_config_map(cm: &Value) -> Inventory {
        let downloads = cm
            .pointer(&format!("/data/{DOWNLOADS_KEY}"))
            .and_then(Value::as_str)
            .and_then(|s| serde_json::from_str::<BTreeMap<String, DownloadRecord>>(s).ok())
            .unwrap_or_default();
        let ann = |k: &str| {
            cm.pointer("/metadata/annotations").and_then(|a| a.get(k)).and_then(Value::as_str).map(str::to_string)
        };
        Inventory { downloads, workspace_hash: ann(HASH_ANNOTATION), git_commit: ann(GIT_ANNOTATION) }
    }

    /// The ApplySet parent ConfigMap holding this inventory, for server-side apply.
    pub fn to_config_map(&self, workspace: &str, namespace: &str, group_kinds: &[String]) -> Value {
        let mut annotations = BTreeMap::from([
            (APPLYSET_TOOLING.to_string(), format!("msws/{}", env!("CARGO_PKG_VERSION"))),
            (APPLYSET_GROUP_KINDS.to_string(), group_kinds.join(",")),
        ]);
        if let Some(h) = &self.workspace_hash {
            annotations.insert(HASH_ANNOTATION.into(), h.clone());
        }
        if let Some(c) = &self.git_commit {
            annotations.insert(GIT_ANNOTATION.into(), c.clone());
        }
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": applyset_parent_name(workspace),
                "namespace": namespace,
                "labels": {
                    APPLYSET_ID: applyset_id(workspace, namespace),
                    keys::MANAGED_BY: keys::MANAGER,
                    keys::WORKSPACE: workspace,
                },
                "annotations": annotations,
            },
            "data": {
                DOWNLOADS_KEY: serde_json::to_string(&self.downloads).unwrap_or_else(|_| "{}".into()),
            },
        })
    }
}

/// `Kind.group` as the ApplySet annotation lists them (core kinds without a group), sorted.
pub fn group_kind(api_version: &str, kind: &str) -> String {
    match api_version.rsplit_once('/') {
        Some((group, _)) => format!("{kind}.{group}"),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_downloaders_last_completion_line_fills_the_record() {
        let mut r = DownloadRecord {
            source: "hf://facebook/opt-125m".into(),
            revision: "main".into(),
            storage: "model-pvc".into(),
            path: "models/opt".into(),
            commit: None,
            files: None,
            bytes: None,
            completed_at: None,
        };
        assert!(!r.read_marker("fetching\nMSWS-DOWNLOAD-FAILED 401\n"));
        assert!(!r.read_marker("MSWS-DOWNLOAD-COMPLETE {not json"));
        assert_eq!(r.commit, None);
        let log = "MSWS-DOWNLOAD-COMPLETE {\"commit\":\"old\"}\n  MSWS-DOWNLOAD-COMPLETE {\"commit\":\"27dcfa74d334bc871f\",\"files\":8,\"bytes\":9,\"completed_at\":\"2026-11-26T18:05:00Z\"}\n";
        assert!(r.read_marker(log));
        assert_eq!((r.commit.as_deref(), r.files, r.bytes), (Some("27dcfa74d334bc871f"), Some(8), Some(9)));
        assert_eq!(r.completed_at.as_deref(), Some("2026-11-26T18:05:00Z"));
        assert_eq!(short_commit(r.commit.as_deref().unwrap()), "27dcfa74d334");
        assert_eq!(short_commit("abc"), "abc");
    }

    #[test]
    fn an_inventory_round_trips_through_its_config_map() {
        let mut inv = Inventory { workspace_hash: Some("abc".into()), ..Inventory::default() };
        inv.downloads.insert(
            "opt".into(),
            DownloadRecord {
                source: "hf://facebook/opt-125m".into(),
                revision: "main".into(),
                storage: "model-pvc".into(),
                path: "models/opt".into(),
                commit: Some("27dcfa7".into()),
                files: Some(8),
                bytes: Some(1000),
                completed_at: None,
            },
        );
        let cm = inv.to_config_map("opt-125m", "llm-d", &["Deployment.apps".into()]);
        assert_eq!(cm["metadata"]["labels"][APPLYSET_ID], applyset_id("opt-125m", "llm-d"));
        assert_eq!(Inventory::from_config_map(&cm), inv);
        assert!(inv.downloads["opt"].matches("hf://facebook/opt-125m", "27dcfa7", "model-pvc", "models/opt"));
        assert!(!inv.downloads["opt"].matches("hf://facebook/opt-125m", "v2", "model-pvc", "models/opt"));
    }
}
