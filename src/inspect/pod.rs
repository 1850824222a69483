//! The inspection pod: one container running `inspect.py` on the claim mounted read-only, as
//! little as a pod can be — no service account token, no service links, non-root, no
//! capabilities, a read-only root filesystem, small requests and a deadline of its own.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, EnvVar, PersistentVolumeClaimVolumeSource, Pod, PodSecurityContext, PodSpec,
    ResourceRequirements, SeccompProfile, SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::{Request, SCRIPT};
use crate::render::keys;

/// Where the claim is mounted in the pod. The script reports paths relative to it and never
/// prints it.
pub const MOUNT: &str = "/msws/claim";

/// The label value of `msws.io/purpose` that marks inspection pods (and nothing else).
pub const PURPOSE: &str = "inspect";

/// The label that says what a pod msws runs is for.
pub const PURPOSE_LABEL: &str = "msws.io/purpose";

/// The container's name (its log is the result).
pub const CONTAINER: &str = "inspect";

/// The user the script runs as: `nobody`, so that the pod is admitted where the namespace
/// enforces the `restricted` Pod Security Standard. Files the downloader wrote (as root, mode
/// 0644 and directories 0755) are readable by it; what is not is reported as unreadable.
pub const RUN_AS: i64 = 65534;

/// The label selector of this workspace's inspection pods.
pub fn selector(workspace: &str) -> String {
    format!("{}={},{}={},{PURPOSE_LABEL}={PURPOSE}", keys::MANAGED_BY, keys::MANAGER, keys::WORKSPACE, workspace)
}

/// The prefix of the pod's generated name: `msws-inspect-<claim>-`, short enough for a host name
/// once the server adds its five characters.
pub fn name_prefix(claim: &str) -> String {
    let mut short: String = claim.chars().take(40).collect();
    while short.ends_with(['-', '.']) {
        short.pop();
    }
    format!("msws-inspect-{}-", short.replace('.', "-"))
}

/// The pod, as JSON for [`Cluster::create`](crate::cluster::Cluster::create). `node`: run on that
/// node (a ReadWriteOnce claim attached there can be mounted by a second pod only there).
pub fn pod(req: &Request, node: Option<&str>) -> Value {
    let labels = BTreeMap::from([
        (keys::MANAGED_BY.to_string(), keys::MANAGER.to_string()),
        (keys::WORKSPACE.to_string(), req.workspace.clone()),
        (PURPOSE_LABEL.to_string(), PURPOSE.to_string()),
    ]);
    let annotations = BTreeMap::from([(keys::STORAGE.to_string(), req.claim.clone())]);
    let env = |name: &str, value: String| EnvVar { name: name.into(), value: Some(value), value_from: None };
    let container = Container {
        name: CONTAINER.into(),
        image: Some(req.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["python3".into(), "-c".into(), SCRIPT.into()]),
        env: Some(vec![
            env("MSWS_INSPECT_ROOT", MOUNT.into()),
            env("MSWS_INSPECT_DEPTH", req.depth.to_string()),
            env("PYTHONDONTWRITEBYTECODE", "1".into()),
            env("PYTHONUNBUFFERED", "1".into()),
        ]),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_string(), Quantity("10m".into())),
                ("memory".to_string(), Quantity("64Mi".into())),
            ])),
            limits: Some(BTreeMap::from([("memory".to_string(), Quantity("512Mi".into()))])),
            claims: None,
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities { drop: Some(vec!["ALL".into()]), add: None }),
            ..Default::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: "claim".into(),
            mount_path: MOUNT.into(),
            read_only: Some(true),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let pod = Pod {
        metadata: ObjectMeta {
            generate_name: Some(name_prefix(&req.claim)),
            namespace: Some(req.namespace.clone()),
            labels: Some(labels),
            annotations: Some(annotations),
            ..Default::default()
        },
        spec: Some(PodSpec {
            restart_policy: Some("Never".into()),
            active_deadline_seconds: Some(req.timeout.as_secs().max(1) as i64),
            // It reads a claim; it has nothing to ask the API server or other services.
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(1),
            node_name: node.map(str::to_string),
            // Pinned to a node, it must not be evicted by that node's taints (a GPU node's).
            tolerations: node.map(|_| vec![Toleration { operator: Some("Exists".into()), ..Default::default() }]),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(RUN_AS),
                run_as_group: Some(RUN_AS),
                seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".into(), localhost_profile: None }),
                ..Default::default()
            }),
            containers: vec![container],
            volumes: Some(vec![Volume {
                name: "claim".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: req.claim.clone(),
                    read_only: Some(true),
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        status: None,
    };
    let mut v = serde_json::to_value(&pod).unwrap_or_default();
    v["apiVersion"] = "v1".into();
    v["kind"] = "Pod".into();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_prefix_is_a_valid_short_name_whatever_the_claim() {
        assert_eq!(name_prefix("model-pvc"), "msws-inspect-model-pvc-");
        let long = "a".repeat(39) + "-.b" + &"c".repeat(200);
        let p = name_prefix(&long);
        assert!(p.len() + 5 <= 63, "{p}");
        assert!(!p.contains('.') && !p.contains("--"), "{p}");
        assert_eq!(name_prefix("claims.example.com"), "msws-inspect-claims-example-com-");
    }
}
