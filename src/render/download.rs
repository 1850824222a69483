//! The download Job: a pod that writes a Hugging Face repository onto the claim with
//! `download.py`, verifies it and leaves a completion marker next to the files.
//!
//! A Job, not a bare pod: it retries (`backoffLimit`; the next pod resumes what the last one left,
//! see docs/architecture.md, "The downloader"), it has a deadline (`activeDeadlineSeconds` from the
//! download's timeout) and it records success or failure in its status. It has no TTL: msws reads
//! the result before the release step deletes it. While it runs, its log carries progress lines,
//! read back by [`parse_progress`].

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapKeySelector, Container, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, ResourceRequirements, SecretKeySelector, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{Meta, keys, quantity};
use crate::graph::StepId;
use crate::model::{Download, Map, Resources};

/// The downloader, run by the Job with `python3 -c "$MSWS_SCRIPT"`.
pub const DOWNLOAD_SCRIPT: &str = include_str!("download.py");

/// The key of `download.py` in the downloader's ConfigMap.
pub const SCRIPT_KEY: &str = "download.py";

/// The ConfigMap that holds the downloader's script, one per workspace, shared by its downloads.
/// Kept out of the Job itself: a Job's template cannot change, so a new script (a new msws) must
/// not change it; and a 20 kB environment variable makes `kubectl describe` unreadable.
pub fn script_config_map_name(workspace: &str) -> String {
    format!("msws-{workspace}-downloader")
}

pub(super) fn script_config_map(meta: &Meta) -> ConfigMap {
    let step = StepId::new(crate::model::StepKind::Download, keys::ALL_OF_KIND);
    ConfigMap {
        metadata: meta.object(&script_config_map_name(&meta.ws.name), &step, &Map::new(), &Map::new()),
        data: Some(BTreeMap::from([(SCRIPT_KEY.to_string(), DOWNLOAD_SCRIPT.to_string())])),
        ..Default::default()
    }
}

/// The completion marker `download.py` writes next to the model's files.
pub const MARKER_FILE: &str = ".msws-download.json";

/// Where the claim is mounted in the downloader's pod.
const MOUNT: &str = "/data";

/// The container's shell command: keep the image's `huggingface_hub` when it is recent enough,
/// otherwise install one under /tmp, then run the script. `download.py` states it in its header,
/// where its tests read it from; this reads it from the same place, so the two cannot drift.
pub fn preamble() -> &'static str {
    static PREAMBLE: std::sync::OnceLock<&'static str> = std::sync::OnceLock::new();
    PREAMBLE.get_or_init(|| {
        DOWNLOAD_SCRIPT
            .lines()
            .take_while(|l| l.starts_with('#'))
            .map(|l| l.trim_start_matches('#').trim())
            .find(|l| l.ends_with("exec python3 -c \"$MSWS_SCRIPT\""))
            // The script's header always holds it (a unit test below says so); this fallback only
            // keeps a broken header from becoming a panic.
            .unwrap_or("exec python3 -c \"$MSWS_SCRIPT\"")
    })
}

pub fn job_name(download: &str) -> String {
    format!("{download}-download")
}

pub(super) fn resources(r: &Resources) -> Option<ResourceRequirements> {
    if r.is_empty() {
        return None;
    }
    let map = |m: &BTreeMap<String, crate::model::Quantity>| {
        (!m.is_empty()).then(|| m.iter().map(|(k, v)| (k.clone(), quantity(v))).collect())
    };
    Some(ResourceRequirements {
        limits: map(&r.limits),
        requests: map(&r.requests),
        claims: (!r.claims.is_empty()).then(|| {
            r.claims
                .iter()
                .map(|c| k8s_openapi::api::core::v1::ResourceClaim { name: c.name.clone(), request: c.request.clone() })
                .collect()
        }),
    })
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar { name: name.into(), value: Some(value.into()), value_from: None }
}

pub(super) fn job(d: &Download, meta: &Meta, step: &StepId) -> Job {
    let target = if d.path.is_empty() { MOUNT.to_string() } else { format!("{MOUNT}/{}", d.path) };
    let own = Map::from([(keys::DOWNLOAD.to_string(), d.name.clone())]);
    let record = Map::from([
        (keys::SOURCE.to_string(), d.source_uri()),
        (keys::REVISION.to_string(), d.revision.clone()),
        (keys::STORAGE.to_string(), d.storage.clone()),
        (keys::PATH.to_string(), d.path.clone()),
    ]);
    let metadata = meta.object(&job_name(&d.name), step, &own, &record);
    // The pod carries what finds it (`msws.io/download`) and what owns it; the Job controller adds
    // its own `batch.kubernetes.io/job-name`.
    let pod_labels = BTreeMap::from([
        (keys::MANAGED_BY.to_string(), keys::MANAGER.to_string()),
        (keys::WORKSPACE.to_string(), meta.ws.name.clone()),
        (keys::DOWNLOAD.to_string(), d.name.clone()),
    ]);
    let mut env_vars = vec![
        EnvVar {
            name: "MSWS_SCRIPT".into(),
            value: None,
            value_from: Some(EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: script_config_map_name(&meta.ws.name),
                    key: SCRIPT_KEY.into(),
                    optional: None,
                }),
                ..Default::default()
            }),
        },
        env("MSWS_SOURCE", d.source_uri()),
        env("MSWS_REPO", d.repo.clone()),
        env("MSWS_REVISION", d.revision.clone()),
        env("MSWS_TARGET", target),
        env("HF_HUB_DISABLE_TELEMETRY", "1"),
        env("PYTHONUNBUFFERED", "1"),
    ];
    if let Some(t) = &d.token {
        env_vars.push(EnvVar {
            name: "HF_TOKEN".into(),
            value: None,
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector { name: t.secret.clone(), key: t.key.clone(), optional: None }),
                ..Default::default()
            }),
        });
    }
    let container = Container {
        name: "download".into(),
        image: Some(d.image.clone()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), preamble().into()]),
        env: Some(env_vars),
        resources: resources(&d.resources),
        volume_mounts: Some(vec![
            VolumeMount { name: super::MODEL_VOLUME.into(), mount_path: MOUNT.into(), ..Default::default() },
            // pip (when the image lacks huggingface_hub) and the hub's cache write here, which
            // must work on images with a read-only root filesystem.
            VolumeMount { name: "tmp".into(), mount_path: "/tmp".into(), ..Default::default() },
        ]),
        ..Default::default()
    };
    Job {
        metadata,
        spec: Some(JobSpec {
            backoff_limit: Some(d.backoff_limit as i32),
            active_deadline_seconds: Some(d.timeout.seconds as i64),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(pod_labels), ..Default::default() }),
                spec: Some(PodSpec {
                    restart_policy: Some("Never".into()),
                    // The downloader talks to the Hub, never to the Kubernetes API.
                    automount_service_account_token: Some(false),
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: super::MODEL_VOLUME.into(),
                            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                                claim_name: d.storage.clone(),
                                read_only: None,
                            }),
                            ..Default::default()
                        },
                        Volume {
                            name: "tmp".into(),
                            empty_dir: Some(EmptyDirVolumeSource::default()),
                            ..Default::default()
                        },
                    ]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        status: None,
    }
}

/// How far a download is, from the last progress line of its pod's log (`download.py` prints one
/// when the transfer starts, one per interval while something changes, and one when every file is
/// in place), for the apply's wait to show.
///
/// The line is `msws-progress` and then `key=value` fields, then ` | ` and the same in words:
///
/// ```text
/// msws-progress bytes=1048576 total=2097152 rate=524288B/s eta=2s files=3/8 | 1.0 MiB of 2.0 MiB (50%), 512.0 KiB/s, 2s left
/// ```
///
/// `bytes`: of the repository's files on disk (whole files and partial ones, those an earlier attempt
/// left included); `total`: the size of all of them; `rate`: bytes per second over the last 30
/// seconds (over the whole transfer on the last line); `eta`: seconds left at that rate, `-` while
/// unknown; `files`: files in place / files in the repository. Fields may be added later; a parser
/// ignores the ones it does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub bytes: u64,
    pub total: u64,
    /// Bytes per second.
    pub rate: u64,
    /// Seconds left; `None` while the rate is unknown.
    pub eta: Option<u64>,
    pub files_done: u64,
    pub files_total: u64,
}

/// What starts a progress line of `download.py`.
pub const PROGRESS_PREFIX: &str = "msws-progress ";

/// One progress line, or `None` when the line is not one (or is damaged). The line may carry a
/// prefix of its own before `msws-progress`, such as the timestamp of `kubectl logs --timestamps`.
pub fn parse_progress(line: &str) -> Option<Progress> {
    let line = line.trim_end_matches(['\r', '\n']);
    let at = if line.starts_with(PROGRESS_PREFIX) { 0 } else { line.find(&format!(" {PROGRESS_PREFIX}"))? + 1 };
    let fields = &line[at + PROGRESS_PREFIX.len()..];
    let fields = fields.split(" | ").next().unwrap_or("");
    let (mut bytes, mut total, mut rate, mut eta, mut files) = (None, None, None, None, None);
    for field in fields.split_whitespace() {
        let Some((key, value)) = field.split_once('=') else { continue };
        match key {
            "bytes" => bytes = Some(value.parse::<u64>().ok()?),
            "total" => total = Some(value.parse::<u64>().ok()?),
            "rate" => rate = Some(value.strip_suffix("B/s")?.parse::<u64>().ok()?),
            "eta" => eta = Some(if value == "-" { None } else { Some(value.strip_suffix('s')?.parse::<u64>().ok()?) }),
            "files" => {
                let (done, all) = value.split_once('/')?;
                files = Some((done.parse::<u64>().ok()?, all.parse::<u64>().ok()?));
            }
            _ => {}
        }
    }
    let (files_done, files_total) = files.unwrap_or((0, 0));
    Some(Progress {
        bytes: bytes?,
        total: total?,
        rate: rate.unwrap_or(0),
        eta: eta.flatten(),
        files_done,
        files_total,
    })
}

/// The last progress line of a log, if it has one.
pub fn last_progress(log: &str) -> Option<Progress> {
    log.lines().rev().find_map(parse_progress)
}

impl Progress {
    /// The share of the bytes on disk, 0 to 1 (1 for an empty repository).
    pub fn fraction(&self) -> f64 {
        if self.total == 0 { 1.0 } else { (self.bytes as f64 / self.total as f64).min(1.0) }
    }
}

/// `1.0 MiB of 2.0 MiB (50%), 512.0 KiB/s, 2s left, 3/8 files`.
impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = (self.fraction() * 100.0).floor() as u64;
        write!(f, "{} of {} ({pct}%), {}/s", bytes(self.bytes), bytes(self.total), bytes(self.rate))?;
        match self.eta {
            _ if self.total > 0 && self.bytes >= self.total => write!(f, ", done")?,
            Some(s) => write!(f, ", {} left", crate::apply::progress::human(std::time::Duration::from_secs(s)))?,
            None => {}
        }
        if self.files_total > 0 {
            write!(f, ", {}/{} files", self.files_done, self.files_total)?;
        }
        Ok(())
    }
}

/// Bytes for people, in binary units, as `download.py` writes them.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_preamble_comes_from_the_script_header() {
        let p = super::preamble();
        assert!(
            p.starts_with("P=") && p.contains("pip install") && p.ends_with("exec python3 -c \"$MSWS_SCRIPT\""),
            "{p}"
        );
    }
}

#[cfg(test)]
mod progress_tests {
    use super::{Progress, last_progress, parse_progress};

    const LINE: &str = "msws-progress bytes=1048576 total=2097152 rate=524288B/s eta=2s files=3/8 | 1.0 MiB of 2.0 MiB (50%), 512.0 KiB/s, 2s left";

    #[test]
    fn a_line_is_read_with_every_field() {
        let p = parse_progress(LINE).unwrap();
        assert_eq!(
            p,
            Progress { bytes: 1 << 20, total: 2 << 20, rate: 512 << 10, eta: Some(2), files_done: 3, files_total: 8 }
        );
        assert_eq!(p.to_string(), "1.0 MiB of 2.0 MiB (50%), 512.0 KiB/s, 2s left, 3/8 files");
        assert!((p.fraction() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn unknown_eta_timestamps_and_new_fields() {
        let p =
            parse_progress("2026-01-02T03:04:05.000Z msws-progress bytes=0 total=10 rate=0B/s eta=- files=0/1 x=y | …")
                .unwrap();
        assert_eq!(p.eta, None);
        assert_eq!(p.to_string(), "0 B of 10 B (0%), 0 B/s, 0/1 files");
        let done = parse_progress("msws-progress bytes=10 total=10 rate=5B/s eta=0s files=1/1").unwrap();
        assert_eq!(done.to_string(), "10 B of 10 B (100%), 5 B/s, done, 1/1 files");
    }

    #[test]
    fn other_lines_and_damaged_ones_are_not_progress() {
        for line in [
            "",
            "msws-download: progress: 1 MiB",
            "msws-progress",
            "msws-progress total=10",
            "msws-progress bytes=x total=10",
            "msws-progress bytes=1 total=10 rate=5 eta=1s",
            "msws-progress bytes=1 total=10 eta=soon",
            "msws-progress bytes=1 total=10 files=1",
            "xmsws-progress bytes=1 total=10",
            "msws-download: 8 files | msws-progress-ish",
        ] {
            assert_eq!(parse_progress(line), None, "{line:?}");
        }
    }

    #[test]
    fn the_last_progress_line_of_a_log() {
        let log = format!(
            "msws-download: start\nmsws-progress bytes=0 total=10 rate=0B/s eta=- files=0/1\n{LINE}\nMSWS-DOWNLOAD-COMPLETE {{}}\n"
        );
        assert_eq!(last_progress(&log).unwrap().bytes, 1 << 20);
        assert_eq!(last_progress("msws-download: nothing yet\n"), None);
    }
}
