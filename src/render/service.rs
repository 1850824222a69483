//! A model service's objects, as the llm-d ModelService chart renders them for the same intent:
//! a ServiceAccount, a ResourceClaimTemplate per role that uses DRA, and the decode and prefill
//! Deployments.
//!
//! Where the chart is followed to the letter: the model volume and its mount, the model argument
//! per URI scheme, the arguments each command kind adds and their order, `DP_SIZE` / `TP_SIZE` /
//! `DP_SIZE_LOCAL`, `HF_HOME` / `HF_HUB_CACHE` / `HF_TOKEN`, accelerator resources and
//! environment, the routing proxy as a native sidecar on decode pods, labels and selectors.
//! Where msws deliberately differs (docs/modelservice.md, "Deliberate differences"):
//! - what the chart adds to every container (devices, parallelism and Hugging Face environment)
//!   goes only to *model containers* — those that mount the model or run a vLLM command — so a
//!   sidecar never requests a GPU;
//! - an environment variable the user set is not added again (the chart repeats accelerator
//!   variables, which server-side apply rejects as duplicate keys);
//! - `HF_HUB_CACHE` follows the model service's mount path (the chart hard-codes /model-cache);
//! - `pvc://claim` serves the claim's root (the chart points at `/model-cache/claim`);
//! - a pod that mounts a ReadWriteOnce / ReadWriteOncePod claim gets the `Recreate` strategy
//!   unless one is given: a rolling update would wait forever for the volume (and for GPUs);
//!   otherwise Kubernetes' default (RollingUpdate 25%/25%) is written out, so msws owns it.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, ReplicaSet, ReplicaSetSpec, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapKeySelector, ConfigMapVolumeSource, Container, ContainerPort,
    EmptyDirVolumeSource, EnvVar, EnvVarSource, ExecAction, FileKeySelector, GRPCAction, HTTPGetAction, HTTPHeader,
    HostPathVolumeSource, ImageVolumeSource, LocalObjectReference, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, ObjectFieldSelector, PersistentVolumeClaimVolumeSource, PodResourceClaim, PodSpec,
    PodTemplateSpec, Probe, ResourceClaim, ResourceFieldSelector, ResourceRequirements, SecretKeySelector,
    SecretVolumeSource, SecurityContext, ServiceAccount, TCPSocketAction, Toleration, Volume, VolumeMount,
};
use k8s_openapi::api::resource::v1::{
    DeviceClaim, DeviceRequest, ExactDeviceRequest, ResourceClaimSpec, ResourceClaimTemplate, ResourceClaimTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{MODEL_VOLUME, Meta, Object, download::resources, quantity};
use crate::graph::StepId;
use crate::model::*;

/// The pod resource claim a role's DRA accelerator is requested through: the chart's
/// `acceleratorClaimName`, the template's name without `-claim-template`, then the role.
fn dra_claim_name(dra: &Dra, role: RoleKind) -> String {
    format!("{}-{}-claim", dra.template.strip_suffix("-claim-template").unwrap_or(&dra.template), role.as_str())
}

fn dra_template_name(dra: &Dra, role: RoleKind) -> String {
    format!("{}-{}", dra.template, role.as_str())
}

pub(super) fn objects(svc: &ModelService, ws: &Workspace, lookup: &Lookup, meta: &Meta, step: &StepId) -> Vec<Object> {
    let mut out = Vec::new();
    if svc.service_account.is_none() {
        out.push(Object::ServiceAccount(Box::new(ServiceAccount {
            metadata: meta.object(&svc.fullname, step, &Map::new(), &Map::new()),
            ..Default::default()
        })));
    }
    for (kind, role) in svc.roles() {
        if let Some(dra) = &role.accelerator.dra {
            out.push(Object::ResourceClaimTemplate(Box::new(claim_template(svc, role, kind, dra, meta, step))));
        }
    }
    for (kind, role) in svc.roles() {
        let template = pod_template(svc, ws, role, kind);
        out.push(match (&role.multinode, &role.requester) {
            (Some(m), _) => Object::Dynamic(Box::new(leader_worker_set(svc, role, kind, m, template, meta, step))),
            (None, Some(req)) => {
                Object::ReplicaSet(Box::new(requester_set(svc, role, kind, req, template, meta, step)))
            }
            (None, None) => Object::Deployment(Box::new(deployment(svc, lookup, role, kind, template, meta, step))),
        });
    }
    for (kind, role) in svc.roles() {
        if let Some(m) = &role.monitor {
            out.push(Object::Dynamic(Box::new(pod_monitor(svc, kind, m, meta, step))));
        }
    }
    out.extend(extra_objects(svc, meta, step));
    out
}

/// The model service's objects given whole (`object { … }`).
pub(super) fn extra_objects<'a>(
    svc: &'a ModelService,
    meta: &'a Meta,
    step: &'a StepId,
) -> impl Iterator<Item = Object> + 'a {
    svc.objects.iter().map(move |o| Object::Dynamic(Box::new(extra_object(o, meta, step))))
}

/// The labels of a role's pods, which are also its workload's selector.
fn role_labels(svc: &ModelService, kind: RoleKind) -> Map {
    let mut selector = svc.labels.clone();
    selector.insert("llm-d.ai/role".into(), kind.as_str().into());
    selector
}

/// The object names of a role's workload: `<fullname>-decode`, `<fullname>-prefill`.
fn role_name(svc: &ModelService, kind: RoleKind) -> String {
    format!("{}-{}", svc.fullname, kind.as_str())
}

/// The chart's warning, on the workload, when the first container asks for another number of
/// accelerators than the parallelism gives (the container's own number is used). As the chart
/// computes it: with the resource of the model service's accelerator (the chart's helper is not
/// given the role, so a role's own accelerator type does not count), whether or not DRA is on.
fn accelerator_warning(svc: &ModelService, role: &Role) -> Option<String> {
    let c = role.containers.first()?;
    let resource = svc.accelerator.resource.as_ref()?;
    let want = role.parallelism.devices_per_pod();
    if c.image.contains("llm-d-inference-sim") || want < 1 {
        return None;
    }
    let set = c.resources.limits.get(resource)?.value();
    let set = set as i64;
    (set != i64::from(want)).then(|| {
        format!("Accelerator mismatch: {resource} is set to {set} but parallelism calculates {want}. Using {set}.")
    })
}

/// A workload's own annotations: the service's and the role's, and the chart's warning.
fn workload_annotations(svc: &ModelService, role: &Role) -> Map {
    let mut annotations = svc.annotations.clone();
    annotations.extend(role.annotations.clone());
    if let Some(w) = accelerator_warning(svc, role) {
        annotations.insert("llm-d.ai/accelerator-warning".into(), w);
    }
    annotations
}

/// The rollout strategy of a role's Deployment: the role's, else `Recreate` for a pod that
/// mounts a single-attach claim, else Kubernetes' default written out.
fn strategy(svc: &ModelService, lookup: &Lookup, role: &Role) -> Option<DeploymentStrategy> {
    let mounts_model = role.containers.iter().any(|c| c.mount_model);
    let uri = svc.model.uri();
    match &role.strategy {
        Some(Strategy::Recreate) => Some(DeploymentStrategy { type_: Some("Recreate".into()), rolling_update: None }),
        Some(Strategy::RollingUpdate { max_surge, max_unavailable }) => Some(DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: (max_surge.is_some() || max_unavailable.is_some()).then(|| RollingUpdateDeployment {
                max_surge: max_surge.as_ref().map(int_or_percent),
                max_unavailable: max_unavailable.as_ref().map(int_or_percent),
            }),
        }),
        None if mounts_model && uri.claim().is_some_and(|c| lookup.single_attach(c)) => {
            Some(DeploymentStrategy { type_: Some("Recreate".into()), rolling_update: None })
        }
        // Kubernetes' own default, written out: fields the server fills in are owned by no one,
        // so a later switch to `Recreate` would be refused for the `rollingUpdate` left behind;
        // fields msws sends are msws's, and go when it stops sending them.
        None => Some(DeploymentStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(RollingUpdateDeployment {
                max_surge: Some(IntOrString::String("25%".into())),
                max_unavailable: Some(IntOrString::String("25%".into())),
            }),
        }),
    }
}

#[allow(clippy::too_many_arguments)]
fn deployment(
    svc: &ModelService,
    lookup: &Lookup,
    role: &Role,
    kind: RoleKind,
    template: PodTemplateSpec,
    meta: &Meta,
    step: &StepId,
) -> Deployment {
    let metadata = meta.object(&role_name(svc, kind), step, &Map::new(), &workload_annotations(svc, role));
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: (!role.autoscaled).then_some(role.replicas as i32),
            selector: LabelSelector { match_labels: Some(role_labels(svc, kind)), match_expressions: None },
            strategy: strategy(svc, lookup, role),
            template,
            ..Default::default()
        }),
        status: None,
    }
}

/// A multi-node role: a LeaderWorkerSet whose groups are `parallelism.workers` pods, each of the
/// role's pod template (the chart gives the leader no template of its own).
#[allow(clippy::too_many_arguments)]
fn leader_worker_set(
    svc: &ModelService,
    role: &Role,
    kind: RoleKind,
    m: &Multinode,
    mut template: PodTemplateSpec,
    meta: &Meta,
    step: &StepId,
) -> super::Dynamic {
    const EXCLUSIVE: &str = "leaderworkerset.sigs.k8s.io/subgroup-exclusive-topology";
    let mut annotations = workload_annotations(svc, role);
    if m.exclusive_topology {
        annotations.insert(EXCLUSIVE.into(), "kubernetes.io/hostname".into());
        let t = template.metadata.get_or_insert_with(Default::default);
        t.annotations.get_or_insert_with(Default::default).insert(EXCLUSIVE.into(), "kubernetes.io/hostname".into());
    }
    let metadata = meta.object(&role_name(svc, kind), step, &role_labels(svc, kind), &annotations);
    let mut lwt = serde_json::Map::new();
    lwt.insert("size".into(), serde_json::json!(role.parallelism.workers));
    if let Some(size) = m.subgroup_size {
        let mut policy = serde_json::Map::new();
        policy.insert("subGroupSize".into(), serde_json::json!(size));
        if let Some(t) = &m.subgroup_type {
            policy.insert("type".into(), serde_json::json!(t));
        }
        lwt.insert("subGroupPolicy".into(), serde_json::Value::Object(policy));
    }
    lwt.insert("workerTemplate".into(), serde_json::to_value(&template).unwrap_or_default());
    let mut spec = serde_json::Map::new();
    if !role.autoscaled {
        spec.insert("replicas".into(), serde_json::json!(role.replicas));
    }
    spec.insert("leaderWorkerTemplate".into(), serde_json::Value::Object(lwt));
    let mut body = serde_json::Map::new();
    body.insert("spec".into(), serde_json::Value::Object(spec));
    super::Dynamic { api_version: LEADER_WORKER_SET.0.into(), kind: LEADER_WORKER_SET.1.into(), metadata, body }
}

/// The LeaderWorkerSet kind.
pub const LEADER_WORKER_SET: (&str, &str) = ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet");
/// The Prometheus Operator's PodMonitor kind.
pub const POD_MONITOR: (&str, &str) = ("monitoring.coreos.com/v1", "PodMonitor");

/// The dual-pod requester of fast model actuation, as the chart renders it: a ReplicaSet of
/// requesters, which carry the decode role's servers (the proxy and the containers, as the
/// Deployment would run them) in their `dual-pod.llm-d.ai/server-patch` annotation.
#[allow(clippy::too_many_arguments)]
fn requester_set(
    svc: &ModelService,
    role: &Role,
    kind: RoleKind,
    req: &Requester,
    template: PodTemplateSpec,
    meta: &Meta,
    step: &StepId,
) -> ReplicaSet {
    let app = Map::from([("app".to_string(), "dp-app".to_string())]);
    let served = svc.served_name.clone().unwrap_or_default();
    let (repo, reg) = match served.split_once('/') {
        Some((repo, rest)) => (repo.to_string(), rest.split('/').next().unwrap_or("").to_string()),
        None => (served.clone(), String::new()),
    };
    let spec = template.spec.unwrap_or_default();
    let mut patch_spec = serde_json::Map::new();
    if let Some(init) = &spec.init_containers {
        patch_spec.insert("initContainers".into(), serde_json::to_value(init).unwrap_or_default());
    }
    patch_spec.insert("containers".into(), serde_json::to_value(&spec.containers).unwrap_or_default());
    let patch = serde_json::json!({
        "metadata": {"labels": {"model-reg": reg, "model-repo": repo, "app": null}},
        "spec": patch_spec,
    });
    let patch_text = serde_yaml_ng::to_string(&patch).unwrap_or_default();
    let annotations = Map::from([
        ("dual-pod.llm-d.ai/admin-port".to_string(), req.admin_port.to_string()),
        ("dual-pod.llm-d.ai/server-patch".to_string(), patch_text),
    ]);
    let q = |q: &Quantity| quantity(q);
    let requester = Container {
        name: "inference-server".into(),
        image: Some(req.image.clone()),
        image_pull_policy: Some("Always".into()),
        command: Some(vec!["/app/requester".into()]),
        env: Some(vec![
            EnvVar { name: "PROBES_PORT".into(), value: Some(req.probes_port.to_string()), value_from: None },
            EnvVar { name: "SPI_PORT".into(), value: Some(req.spi_port.to_string()), value_from: None },
        ]),
        ports: Some(vec![
            ContainerPort {
                name: Some("probes".into()),
                container_port: i32::from(req.probes_port),
                ..Default::default()
            },
            ContainerPort { name: Some("spi".into()), container_port: i32::from(req.spi_port), ..Default::default() },
        ]),
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/ready".into()),
                port: IntOrString::Int(i32::from(req.probes_port)),
                ..Default::default()
            }),
            initial_delay_seconds: Some(req.initial_delay),
            period_seconds: Some(req.period),
            ..Default::default()
        }),
        resources: Some(ResourceRequirements {
            limits: Some(BTreeMap::from([
                ("nvidia.com/gpu".to_string(), q(&req.gpus)),
                ("cpu".to_string(), q(&req.cpus)),
                ("memory".to_string(), q(&req.memory)),
            ])),
            ..Default::default()
        }),
        ..Default::default()
    };
    let _ = role;
    ReplicaSet {
        metadata: meta.object(&role_name(svc, kind), step, &Map::new(), &Map::new()),
        spec: Some(ReplicaSetSpec {
            replicas: Some(req.replicas.unwrap_or(role.replicas) as i32),
            selector: LabelSelector { match_labels: Some(app.clone()), match_expressions: None },
            template: Some(PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(app), annotations: Some(annotations), ..Default::default() }),
                spec: Some(PodSpec { containers: vec![requester], ..Default::default() }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

/// A role's PodMonitor: the role's pods, scraped at one named port.
fn pod_monitor(
    svc: &ModelService,
    kind: RoleKind,
    m: &crate::model::PodMonitor,
    meta: &Meta,
    step: &StepId,
) -> super::Dynamic {
    let mut labels = Map::from([("app.kubernetes.io/component".to_string(), kind.as_str().to_string())]);
    labels.extend(m.labels.clone());
    let metadata = meta.object(&format!("{}-podmonitor", role_name(svc, kind)), step, &labels, &m.annotations);
    let mut endpoint = serde_json::Map::new();
    endpoint.insert("port".into(), serde_json::json!(m.port));
    endpoint.insert("path".into(), serde_json::json!(m.path));
    endpoint.insert("interval".into(), serde_json::json!(m.interval));
    if let Some(t) = &m.scrape_timeout {
        endpoint.insert("scrapeTimeout".into(), serde_json::json!(t));
    }
    if !m.relabelings.is_empty() {
        endpoint.insert("relabelings".into(), serde_json::Value::Array(m.relabelings.clone()));
    }
    if !m.metric_relabelings.is_empty() {
        endpoint.insert("metricRelabelings".into(), serde_json::Value::Array(m.metric_relabelings.clone()));
    }
    let mut spec = serde_json::Map::new();
    spec.insert("selector".into(), serde_json::json!({"matchLabels": role_labels(svc, kind)}));
    spec.insert("podMetricsEndpoints".into(), serde_json::json!([endpoint]));
    if let Some(ns) = &m.namespace_selector {
        spec.insert("namespaceSelector".into(), ns.clone());
    }
    let mut body = serde_json::Map::new();
    body.insert("spec".into(), serde_json::Value::Object(spec));
    super::Dynamic { api_version: POD_MONITOR.0.into(), kind: POD_MONITOR.1.into(), metadata, body }
}

/// An object given whole, with msws's ownership labels and the workspace's namespace added.
fn extra_object(o: &ExtraObject, meta: &Meta, step: &StepId) -> super::Dynamic {
    let given: ObjectMeta =
        o.value.get("metadata").and_then(|m| serde_json::from_value(m.clone()).ok()).unwrap_or_default();
    let own = meta.object(&o.name, step, &Map::new(), &Map::new());
    let mut metadata = given;
    metadata.namespace = own.namespace;
    let mut labels = metadata.labels.take().unwrap_or_default();
    labels.extend(own.labels.unwrap_or_default());
    metadata.labels = Some(labels);
    let mut annotations = metadata.annotations.take().unwrap_or_default();
    annotations.extend(own.annotations.unwrap_or_default());
    metadata.annotations = Some(annotations);
    let body = o
        .value
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    super::Dynamic { api_version: o.api_version.clone(), kind: o.kind.clone(), metadata, body }
}

fn claim_template(
    svc: &ModelService,
    role: &Role,
    kind: RoleKind,
    dra: &Dra,
    meta: &Meta,
    step: &StepId,
) -> ResourceClaimTemplate {
    let labels = Map::from([("llm-d.ai/role".to_string(), kind.as_str().to_string())]);
    let _ = svc;
    ResourceClaimTemplate {
        metadata: meta.object(&dra_template_name(dra, kind), step, &labels, &Map::new()),
        spec: ResourceClaimTemplateSpec {
            metadata: None,
            spec: ResourceClaimSpec {
                devices: Some(DeviceClaim {
                    requests: Some(vec![DeviceRequest {
                        name: role.accelerator.kind.clone(),
                        exactly: Some(ExactDeviceRequest {
                            device_class_name: dra.class.clone(),
                            count: Some(i64::from(dra.count.unwrap_or(role.parallelism.devices_per_pod()))),
                            selectors: (!dra.selectors.is_empty())
                                .then(|| serde_json::from_value(serde_json::Value::Array(dra.selectors.clone())).ok())
                                .flatten(),
                            ..Default::default()
                        }),
                        first_available: None,
                    }]),
                    ..Default::default()
                }),
            },
        },
    }
}

/// The port vLLM listens on in this role: behind the proxy on decode, the service port otherwise.
fn vllm_port(svc: &ModelService, kind: RoleKind) -> u16 {
    match (kind, &svc.routing.proxy) {
        (RoleKind::Decode, Some(p)) => p.target_port,
        _ => svc.routing.service_port,
    }
}

/// Whether msws adds the model's arguments, environment and devices to this container.
fn is_model_container(c: &Container_) -> bool {
    c.mount_model || c.command_kind != CommandKind::Custom
}

type Container_ = crate::model::Container;

/// The pod template of a role, as the chart renders it into the Deployment (or the
/// LeaderWorkerSet's worker template, or the requester's server patch).
fn pod_template(svc: &ModelService, ws: &Workspace, role: &Role, kind: RoleKind) -> PodTemplateSpec {
    let selector = role_labels(svc, kind);
    let uri = svc.model.uri();
    let mounts_model = role.containers.iter().any(|c| c.mount_model);

    // New weights at the same path must restart the servers: the downloaded revision is part of
    // the pod template, so changing it rolls the Deployment out.
    let mut pod_annotations = role.pod_annotations.clone();
    if let ModelSource::Download { name, .. } = &svc.model
        && let Some(d) = ws.download(name)
    {
        pod_annotations.insert(super::keys::MODEL_REVISION.into(), format!("{}@{}", d.source_uri(), d.revision));
    }

    // Devices, parallelism and the model's environment go to the role's model containers — or,
    // in a role that has none, to every container, as the chart gives them.
    let any_model = role.containers.iter().any(is_model_container);
    let gets_model = |c: &Container_| !any_model || is_model_container(c);

    let mut init_containers = Vec::new();
    if kind == RoleKind::Decode
        && let Some(proxy) = &svc.routing.proxy
    {
        init_containers.push(routing_proxy(proxy, svc.routing.service_port, svc.tracing.as_ref()));
    }
    init_containers.extend(role.init_containers.iter().map(|c| container(svc, role, kind, c, false)));

    let mut volumes: Vec<Volume> = role.volumes.iter().map(volume).collect();
    if mounts_model {
        volumes.push(model_volume(svc, uri));
    }

    let mut claims: Vec<PodResourceClaim> = Vec::new();
    if let Some(dra) = &role.accelerator.dra {
        claims.push(PodResourceClaim {
            name: dra_claim_name(dra, kind),
            resource_claim_template_name: Some(dra_template_name(dra, kind)),
            resource_claim_name: None,
        });
    }
    claims.extend(role.resource_claims.iter().map(|c| {
        let (template, claim) = match &c.source {
            ClaimSource::Template(t) => (Some(t.clone()), None),
            ClaimSource::Claim(n) => (None, Some(n.clone())),
        };
        PodResourceClaim { name: c.name.clone(), resource_claim_template_name: template, resource_claim_name: claim }
    }));

    let affinity = (!role.node_affinity.is_empty()).then(|| Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_expressions: Some(
                        role.node_affinity
                            .iter()
                            .map(|a| NodeSelectorRequirement {
                                key: a.key.clone(),
                                operator: a.operator.clone(),
                                values: (!a.values.is_empty()).then(|| a.values.clone()),
                            })
                            .collect(),
                    ),
                    match_fields: None,
                }],
            }),
            ..Default::default()
        }),
        ..Default::default()
    });

    let pod = PodSpec {
        node_selector: (!role.node_selector.is_empty()).then(|| role.node_selector.clone()),
        init_containers: (!init_containers.is_empty()).then_some(init_containers),
        enable_service_links: role.enable_service_links,
        termination_grace_period_seconds: role.termination_grace_period,
        image_pull_secrets: (!role.image_pull_secrets.is_empty())
            .then(|| role.image_pull_secrets.iter().map(|n| LocalObjectReference { name: n.clone() }).collect()),
        scheduler_name: role.scheduler_name.clone(),
        priority_class_name: role.priority_class.clone(),
        service_account_name: Some(svc.service_account.clone().unwrap_or_else(|| svc.fullname.clone())),
        affinity,
        volumes: (!volumes.is_empty()).then_some(volumes),
        resource_claims: (!claims.is_empty()).then_some(claims),
        containers: role.containers.iter().map(|c| container(svc, role, kind, c, gets_model(c))).collect(),
        tolerations: (!role.tolerations.is_empty()).then(|| role.tolerations.iter().map(toleration).collect()),
        ..Default::default()
    };
    let pod = with_fields(pod, &role.pod);
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(selector),
            annotations: (!pod_annotations.is_empty()).then_some(pod_annotations),
            ..Default::default()
        }),
        spec: Some(pod),
    }
}

fn int_or_percent(v: &IntOrPercent) -> IntOrString {
    match v {
        IntOrPercent::Int(i) => IntOrString::Int(*i),
        IntOrPercent::Percent(p) => IntOrString::String(p.clone()),
    }
}

/// The OpenTelemetry exporter's environment, for a service name.
fn tracing_env(t: &Tracing, service: &str) -> Vec<EnvVar> {
    let e = |name: &str, value: &str| EnvVar { name: name.into(), value: Some(value.into()), value_from: None };
    vec![
        e("OTEL_SERVICE_NAME", service),
        e("OTEL_EXPORTER_OTLP_ENDPOINT", &t.endpoint),
        e("OTEL_TRACES_EXPORTER", "otlp"),
        e("OTEL_TRACES_SAMPLER", &t.sampler),
        e("OTEL_TRACES_SAMPLER_ARG", &t.sampler_arg),
    ]
}

fn routing_proxy(proxy: &Proxy, service_port: u16, tracing: Option<&Tracing>) -> Container {
    let mut args = vec![
        format!("--port={service_port}"),
        format!("--vllm-port={}", proxy.target_port),
        format!("--connector={}", proxy.connector),
    ];
    args.extend(proxy.flags.iter().map(|(flag, value)| format!("--{flag}={value}")));
    Container {
        name: "routing-proxy".into(),
        image: Some(proxy.image.clone()),
        image_pull_policy: Some(proxy.pull_policy.clone()),
        args: Some(args),
        env: tracing.map(|t| tracing_env(t, &t.proxy_service)),
        ports: Some(vec![ContainerPort { container_port: i32::from(service_port), ..Default::default() }]),
        resources: Some(ResourceRequirements::default()),
        restart_policy: Some("Always".into()),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            run_as_non_root: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The `model-storage` volume for the model's URI scheme.
fn model_volume(svc: &ModelService, uri: &ModelUri) -> Volume {
    let mut v = Volume { name: MODEL_VOLUME.into(), ..Default::default() };
    match uri {
        ModelUri::Hf { .. } => {
            v.empty_dir = Some(EmptyDirVolumeSource { size_limit: svc.model_size.as_ref().map(quantity), medium: None })
        }
        ModelUri::Pvc { claim, .. } | ModelUri::PvcHf { claim, .. } => {
            v.persistent_volume_claim =
                Some(PersistentVolumeClaimVolumeSource { claim_name: claim.clone(), read_only: Some(svc.read_only) })
        }
        ModelUri::Oci { reference } => {
            let pull_policy = svc.image_pull_policy.clone().unwrap_or_else(|| "Always".into());
            v.image = Some(ImageVolumeSource { reference: Some(reference.clone()), pull_policy: Some(pull_policy) })
        }
    }
    v
}

/// The model as vLLM is told about it: a repository id, or a path under the mount.
fn model_arg(svc: &ModelService, uri: &ModelUri) -> String {
    match uri {
        ModelUri::Hf { repo } | ModelUri::PvcHf { repo, .. } => repo.clone(),
        ModelUri::Pvc { path, .. } if path.is_empty() => svc.mount_path.clone(),
        ModelUri::Pvc { path, .. } => format!("{}/{path}", svc.mount_path.trim_end_matches('/')),
        ModelUri::Oci { .. } => svc.mount_path.clone(),
    }
}

/// A container of a role; `model`: it gets the role's devices and the model's environment.
fn container(svc: &ModelService, role: &Role, kind: RoleKind, c: &Container_, model: bool) -> Container {
    let uri = svc.model.uri();
    let p = &role.parallelism;

    let (command, args) = match c.command_kind {
        CommandKind::Custom => {
            ((!c.command.is_empty()).then(|| c.command.clone()), (!c.args.is_empty()).then(|| c.args.clone()))
        }
        kind_ => {
            let mut args = Vec::new();
            if kind_ == CommandKind::ImageDefault {
                args.push("--model".to_string());
            }
            args.push(model_arg(svc, uri));
            args.extend(["--port".to_string(), vllm_port(svc, kind).to_string()]);
            for (flag, n) in [
                ("--tensor-parallel-size", p.tensor),
                ("--data-parallel-size", p.data),
                ("--data-parallel-size-local", p.data_local),
            ] {
                if n > 1 {
                    args.extend([flag.to_string(), n.to_string()]);
                }
            }
            if let Some(name) = &svc.served_name {
                args.extend(["--served-model-name".to_string(), name.clone()]);
            }
            if let Some(t) = &svc.tracing {
                args.extend([
                    "--otlp-traces-endpoint".to_string(),
                    t.endpoint.clone(),
                    "--collect-detailed-traces".to_string(),
                    t.detailed_traces.clone(),
                ]);
            }
            args.extend(c.args.iter().cloned());
            let command = match kind_ {
                CommandKind::VllmServe => Some(vec!["vllm".to_string(), "serve".to_string()]),
                _ => (!c.command.is_empty()).then(|| c.command.clone()),
            };
            (command, Some(args))
        }
    };

    let mut env: Vec<EnvVar> = c.env.iter().map(env_var).collect();
    if model {
        let mut add = |name: &str, value: String| {
            if !env.iter().any(|e| e.name == name) {
                env.push(EnvVar { name: name.into(), value: Some(value), value_from: None });
            }
        };
        add("DP_SIZE", p.data.to_string());
        add("TP_SIZE", p.tensor.to_string());
        add("DP_SIZE_LOCAL", p.data_local.to_string());
        if c.mount_model {
            match uri {
                ModelUri::Hf { .. } => add("HF_HOME", svc.mount_path.clone()),
                ModelUri::PvcHf { cache, .. } => {
                    add("HF_HUB_CACHE", format!("{}/{cache}", svc.mount_path.trim_end_matches('/')))
                }
                _ => {}
            }
        }
        if let Some(t) = &svc.token
            && !env.iter().any(|e| e.name == "HF_TOKEN")
        {
            env.push(EnvVar {
                name: "HF_TOKEN".into(),
                value: None,
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: t.secret.clone(),
                        key: t.key.clone(),
                        optional: None,
                    }),
                    ..Default::default()
                }),
            });
        }
        let cpu = role.accelerator.kind == "cpu";
        for (name, value) in role.accelerator.env.iter().filter(|_| !cpu) {
            if !env.iter().any(|e| e.name == *name) {
                env.push(EnvVar { name: name.clone(), value: Some(value.clone()), value_from: None });
            }
        }
        if let Some(t) = &svc.tracing {
            let service = if kind == RoleKind::Decode { &t.decode_service } else { &t.prefill_service };
            for e in tracing_env(t, service) {
                if !env.iter().any(|x| x.name == e.name) {
                    env.push(e);
                }
            }
        }
    }

    let mut res = resources(&c.resources).unwrap_or_default();
    if model {
        let accel = &role.accelerator;
        match (&accel.dra, &accel.resource) {
            (Some(dra), _) => {
                let mut claims = vec![ResourceClaim { name: dra_claim_name(dra, kind), request: None }];
                claims.extend(res.claims.take().unwrap_or_default());
                res.claims = Some(claims);
            }
            // The chart gives the inference simulator no device: it needs none.
            (None, Some(resource)) if !c.image.contains("llm-d-inference-sim") && p.devices_per_pod() >= 1 => {
                let count = K8sQuantity(p.devices_per_pod().to_string());
                for map in [&mut res.limits, &mut res.requests] {
                    map.get_or_insert_with(BTreeMap::new).entry(resource.clone()).or_insert_with(|| count.clone());
                }
            }
            _ => {}
        }
    }
    let res_empty = res.limits.as_ref().is_none_or(|m| m.is_empty())
        && res.requests.as_ref().is_none_or(|m| m.is_empty())
        && res.claims.as_ref().is_none_or(|v| v.is_empty());

    let mut mounts: Vec<VolumeMount> = c
        .volume_mounts
        .iter()
        .map(|m| VolumeMount {
            name: m.name.clone(),
            mount_path: m.path.clone(),
            read_only: m.read_only,
            sub_path: m.sub_path.clone(),
            sub_path_expr: m.sub_path_expr.clone(),
            mount_propagation: m.propagation.clone(),
            recursive_read_only: m.recursive_read_only.clone(),
        })
        .collect();
    if c.mount_model {
        let read_only = match uri {
            ModelUri::Hf { .. } => None,
            ModelUri::Oci { .. } => Some(true),
            _ => svc.read_only.then_some(true),
        };
        mounts.push(VolumeMount {
            name: MODEL_VOLUME.into(),
            mount_path: svc.mount_path.clone(),
            read_only,
            ..Default::default()
        });
    }

    let probe = |which: ProbeKind| c.probes.iter().find(|p| p.kind == which).map(probe);
    let built = Container {
        name: c.name.clone(),
        image: Some(c.image.clone()),
        image_pull_policy: c.pull_policy.clone(),
        command,
        args,
        env: (!env.is_empty()).then_some(env),
        ports: (!c.ports.is_empty()).then(|| {
            c.ports
                .iter()
                .map(|p| ContainerPort {
                    container_port: i32::from(p.number),
                    name: p.name.clone(),
                    protocol: p.protocol.clone(),
                    host_port: p.host_port.map(i32::from),
                    host_ip: p.host_ip.clone(),
                })
                .collect()
        }),
        resources: (!res_empty).then_some(res),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        liveness_probe: probe(ProbeKind::Liveness),
        readiness_probe: probe(ProbeKind::Readiness),
        startup_probe: probe(ProbeKind::Startup),
        security_context: c.security_context.as_ref().map(security_context),
        working_dir: c.working_dir.clone(),
        restart_policy: c.restart_policy.clone(),
        ..Default::default()
    };
    with_fields(built, &c.fields)
}

/// An object with raw Kubernetes fields merged in: objects field by field, anything else
/// replaced. The fields were checked against the object's schema when the workspace was loaded,
/// and fields the words set are refused there, so nothing msws builds is overwritten.
fn with_fields<T: serde::Serialize + serde::de::DeserializeOwned>(built: T, fields: &Fields) -> T {
    if fields.is_empty() {
        return built;
    }
    let Ok(mut v) = serde_json::to_value(&built) else { return built };
    super::merge_json(&mut v, &serde_json::Value::Object(fields.clone()));
    serde_json::from_value(v).unwrap_or(built)
}

fn env_var(e: &EnvVar_) -> EnvVar {
    let (value, value_from) = match &e.value {
        EnvValue::Literal(v) => (Some(v.clone()), None),
        EnvValue::Field { path, api_version } => (
            None,
            Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector { field_path: path.clone(), api_version: api_version.clone() }),
                ..Default::default()
            }),
        ),
        EnvValue::FileKey { volume, path, key, optional } => (
            None,
            Some(EnvVarSource {
                file_key_ref: Some(FileKeySelector {
                    volume_name: volume.clone(),
                    path: path.clone(),
                    key: key.clone(),
                    optional: *optional,
                }),
                ..Default::default()
            }),
        ),
        EnvValue::SecretKey { secret, key, optional } => (
            None,
            Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector { name: secret.clone(), key: key.clone(), optional: *optional }),
                ..Default::default()
            }),
        ),
        EnvValue::ConfigMapKey { config_map, key, optional } => (
            None,
            Some(EnvVarSource {
                config_map_key_ref: Some(ConfigMapKeySelector {
                    name: config_map.clone(),
                    key: key.clone(),
                    optional: *optional,
                }),
                ..Default::default()
            }),
        ),
        EnvValue::Resource { resource, container, divisor } => (
            None,
            Some(EnvVarSource {
                resource_field_ref: Some(ResourceFieldSelector {
                    resource: resource.clone(),
                    container_name: container.clone(),
                    divisor: divisor.as_ref().map(quantity),
                }),
                ..Default::default()
            }),
        ),
    };
    EnvVar { name: e.name.clone(), value, value_from }
}

type EnvVar_ = crate::model::EnvVar;

fn volume(v: &crate::model::Volume) -> Volume {
    let mut out = Volume { name: v.name.clone(), ..Default::default() };
    match &v.source {
        VolumeSource::EmptyDir { medium, size_limit } => {
            out.empty_dir =
                Some(EmptyDirVolumeSource { medium: medium.clone(), size_limit: size_limit.as_ref().map(quantity) })
        }
        VolumeSource::Claim { claim, read_only } => {
            out.persistent_volume_claim =
                Some(PersistentVolumeClaimVolumeSource { claim_name: claim.clone(), read_only: *read_only })
        }
        VolumeSource::ConfigMap { name } => {
            out.config_map = Some(ConfigMapVolumeSource { name: name.clone(), ..Default::default() })
        }
        VolumeSource::Secret { name } => {
            out.secret = Some(SecretVolumeSource { secret_name: Some(name.clone()), ..Default::default() })
        }
        VolumeSource::HostPath { path, kind } => {
            out.host_path = Some(HostPathVolumeSource { path: path.clone(), type_: kind.clone() })
        }
        VolumeSource::Raw(fields) => {
            let mut v = serde_json::Value::Object(fields.clone());
            v["name"] = serde_json::Value::String(out.name.clone());
            // Checked against the Volume schema when the workspace was loaded.
            if let Ok(parsed) = serde_json::from_value::<Volume>(v) {
                out = parsed;
            }
        }
    }
    out
}

fn toleration(t: &crate::model::Toleration) -> Toleration {
    Toleration {
        key: t.key.clone(),
        operator: t.operator.clone(),
        value: t.value.clone(),
        effect: t.effect.clone(),
        toleration_seconds: t.seconds,
    }
}

fn port_ref(p: &PortRef) -> IntOrString {
    match p {
        PortRef::Number(n) => IntOrString::Int(i32::from(*n)),
        PortRef::Name(n) => IntOrString::String(n.clone()),
    }
}

fn probe(p: &crate::model::Probe) -> Probe {
    let mut out = Probe {
        initial_delay_seconds: p.initial_delay,
        period_seconds: p.period,
        timeout_seconds: p.timeout,
        failure_threshold: p.failure_threshold,
        success_threshold: p.success_threshold,
        termination_grace_period_seconds: p.termination_grace_period,
        ..Default::default()
    };
    match &p.action {
        ProbeAction::HttpGet { path, port, scheme, host, headers } => {
            out.http_get = Some(HTTPGetAction {
                path: path.clone(),
                port: port_ref(port),
                scheme: scheme.clone(),
                host: host.clone(),
                http_headers: (!headers.is_empty()).then(|| {
                    headers
                        .iter()
                        .map(|(name, value)| HTTPHeader { name: name.clone(), value: value.clone() })
                        .collect()
                }),
            })
        }
        ProbeAction::TcpSocket { port, host } => {
            out.tcp_socket = Some(TCPSocketAction { port: port_ref(port), host: host.clone() })
        }
        ProbeAction::Exec { command } => out.exec = Some(ExecAction { command: Some(command.clone()) }),
        ProbeAction::Grpc { port, service } => out.grpc = Some(GRPCAction { port: *port, service: service.clone() }),
    }
    out
}

fn security_context(s: &crate::model::SecurityContext) -> SecurityContext {
    let caps = !s.capabilities_add.is_empty() || !s.capabilities_drop.is_empty();
    SecurityContext {
        run_as_non_root: s.run_as_non_root,
        run_as_user: s.run_as_user,
        run_as_group: s.run_as_group,
        allow_privilege_escalation: s.allow_privilege_escalation,
        privileged: s.privileged,
        read_only_root_filesystem: s.read_only_root_filesystem,
        capabilities: caps.then(|| Capabilities {
            add: (!s.capabilities_add.is_empty()).then(|| s.capabilities_add.clone()),
            drop: (!s.capabilities_drop.is_empty()).then(|| s.capabilities_drop.clone()),
        }),
        ..Default::default()
    }
}
