//! The download Job: a pod that writes a Hugging Face repository onto the claim with
//! `download.py`, verifies it and leaves a completion marker next to the files.
//!
//! A Job, not a bare pod: it retries (`backoffLimit`), it has a deadline (`activeDeadlineSeconds`
//! from the download's timeout) and it records success or failure in its status. It has no TTL:
//! msws reads the result before the release step deletes it.

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
