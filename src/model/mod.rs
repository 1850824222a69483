//! The typed workspace: what a workspace file means once presets, imports and variables are
//! resolved and every reference is checked. Produced by [`crate::lower`], read by every later stage.
//!
//! Nothing here knows about KDL. Spans are kept only where a later stage may need to point at the
//! file (names, references, `after` edges).

mod units;
mod uri;
pub mod workloads;

use std::collections::BTreeMap;

pub use units::{Duration, Quantity};
pub use uri::{ModelUri, UriError};

use crate::diag::Span;

/// The workspace file format versions this build understands.
pub const SUPPORTED_FORMATS: &[u32] = &[1];
pub const CURRENT_FORMAT: u32 = 1;

pub type Map = BTreeMap<String, String>;

/// Raw Kubernetes fields (the JSON an API server takes), written in a workspace where the language
/// has no words for them (`pod { … }`, `container { … }`); checked against the API's schema when
/// the workspace is loaded.
pub type Fields = serde_json::Map<String, serde_json::Value>;

#[derive(Clone, Debug, PartialEq)]
pub struct Workspace {
    pub name: String,
    pub format: u32,
    /// `None`: the namespace of the kube context (or `default`) is used.
    pub namespace: Option<String>,
    pub labels: Map,
    pub annotations: Map,
    pub storages: Vec<Storage>,
    pub secrets: Vec<Secret>,
    pub downloads: Vec<Download>,
    pub services: Vec<ModelService>,
    /// Pre-pull the model services' images while the downloads run (`pre-pull #false` turns
    /// it off): a `pre-pull/<model-service>` step per model service.
    pub pre_pull: bool,
    pub span: Span,
}

/// Name → declaration maps of a workspace, for stages that look names up in loops (the lookup
/// methods on [`Workspace`] scan, which is quadratic over a thousand declarations).
pub struct Lookup<'a> {
    pub storages: std::collections::HashMap<&'a str, &'a Storage>,
    pub secrets: std::collections::HashMap<&'a str, &'a Secret>,
    pub downloads: std::collections::HashMap<&'a str, &'a Download>,
    pub services: std::collections::HashMap<&'a str, &'a ModelService>,
    /// Downloads by the claim they write into, in declaration order.
    pub downloads_into: std::collections::HashMap<&'a str, Vec<&'a Download>>,
}

impl Lookup<'_> {
    /// Whether the named claim is declared single-attach (ReadWriteOnce or ReadWriteOncePod).
    pub fn single_attach(&self, claim: &str) -> bool {
        self.storages.get(claim).is_some_and(|s| s.access.is_single_attach())
    }
}

impl Workspace {
    pub fn lookup(&self) -> Lookup<'_> {
        let mut downloads_into: std::collections::HashMap<&str, Vec<&Download>> = Default::default();
        for d in &self.downloads {
            downloads_into.entry(d.storage.as_str()).or_default().push(d);
        }
        Lookup {
            storages: self.storages.iter().map(|s| (s.name.as_str(), s)).collect(),
            secrets: self.secrets.iter().map(|s| (s.name.as_str(), s)).collect(),
            downloads: self.downloads.iter().map(|s| (s.name.as_str(), s)).collect(),
            services: self.services.iter().map(|s| (s.name.as_str(), s)).collect(),
            downloads_into,
        }
    }

    pub fn storage(&self, name: &str) -> Option<&Storage> {
        self.storages.iter().find(|s| s.name == name)
    }
    pub fn secret(&self, name: &str) -> Option<&Secret> {
        self.secrets.iter().find(|s| s.name == name)
    }
    pub fn download(&self, name: &str) -> Option<&Download> {
        self.downloads.iter().find(|d| d.name == name)
    }
    pub fn service(&self, name: &str) -> Option<&ModelService> {
        self.services.iter().find(|s| s.name == name)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessMode {
    ReadWriteMany,
    ReadWriteOnce,
    ReadWriteOncePod,
    ReadOnlyMany,
}

impl AccessMode {
    pub const ALL: [(&'static str, AccessMode); 4] = [
        ("ReadWriteMany", AccessMode::ReadWriteMany),
        ("ReadWriteOnce", AccessMode::ReadWriteOnce),
        ("ReadWriteOncePod", AccessMode::ReadWriteOncePod),
        ("ReadOnlyMany", AccessMode::ReadOnlyMany),
    ];
    pub fn as_str(self) -> &'static str {
        AccessMode::ALL.iter().find(|(_, m)| *m == self).map(|(s, _)| *s).unwrap_or("ReadWriteOnce")
    }
    /// Only one node (RWO) or one pod (RWOP) can use the claim at a time: the downloader must be
    /// gone before the servers start.
    pub fn is_single_attach(self) -> bool {
        matches!(self, AccessMode::ReadWriteOnce | AccessMode::ReadWriteOncePod)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Storage {
    pub name: String,
    /// A claim msws does not own: checked to exist, never created, changed or deleted.
    pub existing: bool,
    pub access: AccessMode,
    pub size: Option<Quantity>,
    pub class: Option<String>,
    pub volume: Option<String>,
    pub labels: Map,
    pub annotations: Map,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum SecretSource {
    /// Built at apply time from the named environment variable, stored under `key`.
    FromEnv { var: String, key: String },
    /// A Secret msws does not own.
    Existing,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Secret {
    pub name: String,
    pub source: SecretSource,
    pub span: Span,
}

/// A reference to a key of a Secret (declared in the workspace, or existing in the cluster).
#[derive(Clone, Debug, PartialEq)]
pub struct SecretKeyRef {
    pub secret: String,
    pub key: String,
    pub span: Span,
}

/// An explicit ordering edge: `after "download/x"`.
#[derive(Clone, Debug, PartialEq)]
pub struct After {
    pub kind: StepKind,
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StepKind {
    Storage,
    Secret,
    Download,
    Release,
    /// Pulls a model service's images onto the nodes its pods can land on, while the download
    /// runs.
    PrePull,
    ModelService,
}

impl StepKind {
    pub const ALL: [StepKind; 6] = [
        StepKind::Storage,
        StepKind::Secret,
        StepKind::Download,
        StepKind::Release,
        StepKind::PrePull,
        StepKind::ModelService,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Storage => "storage",
            StepKind::Secret => "secret",
            StepKind::Download => "download",
            StepKind::Release => "release",
            StepKind::PrePull => "pre-pull",
            StepKind::ModelService => "model-service",
        }
    }
    pub fn parse(s: &str) -> Option<StepKind> {
        StepKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Download {
    pub name: String,
    /// The Hugging Face repository, `org/model`.
    pub repo: String,
    pub revision: String,
    pub storage: String,
    /// Relative path inside the claim, no leading `/`.
    pub path: String,
    pub token: Option<SecretKeyRef>,
    pub image: String,
    pub resources: Resources,
    pub timeout: Duration,
    pub backoff_limit: u32,
    pub after: Vec<After>,
    pub span: Span,
    /// Span of `into "claim"`, for diagnostics about the storage reference.
    pub storage_span: Span,
}

impl Download {
    pub fn source_uri(&self) -> String {
        format!("hf://{}", self.repo)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    /// Served from a download of this workspace; `uri` is `pvc://<claim>/<path>`.
    Download {
        name: String,
        uri: ModelUri,
        span: Span,
    },
    Uri {
        uri: ModelUri,
        span: Span,
    },
}

impl ModelSource {
    pub fn uri(&self) -> &ModelUri {
        match self {
            ModelSource::Download { uri, .. } | ModelSource::Uri { uri, .. } => uri,
        }
    }
    pub fn span(&self) -> Span {
        match self {
            ModelSource::Download { span, .. } | ModelSource::Uri { span, .. } => *span,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelService {
    pub name: String,
    pub model: ModelSource,
    /// `--served-model-name`; the name clients use in OpenAI requests.
    pub served_name: Option<String>,
    /// Base of object names: ServiceAccount `<fullname>`, Deployments `<fullname>-decode|prefill`.
    pub fullname: String,
    /// Use this existing ServiceAccount instead of creating one.
    pub service_account: Option<String>,
    /// Pod labels shared by both roles (and their selectors), plus `llm-d.ai/role`.
    pub labels: Map,
    pub annotations: Map,
    pub accelerator: Accelerator,
    pub mount_path: String,
    pub read_only: bool,
    /// Size of the model; the `emptyDir` size for `hf://` models, and checked against claim sizes.
    pub model_size: Option<Quantity>,
    pub token: Option<SecretKeyRef>,
    pub routing: Routing,
    pub decode: Option<Role>,
    pub prefill: Option<Role>,
    /// The pull policy of an `oci://` model's image volume.
    pub image_pull_policy: Option<String>,
    /// OpenTelemetry tracing of vLLM and the routing proxy.
    pub tracing: Option<Tracing>,
    /// Other objects applied with the model service, each given whole (`object { … }`).
    pub objects: Vec<ExtraObject>,
    /// The workloads come from the user's manifests (llm-d's Kustomize recipes) instead of roles.
    pub manifests: Option<Manifests>,
    pub after: Vec<After>,
    pub span: Span,
}

/// OpenTelemetry tracing, as the ModelService chart configures it: the exporter's environment on
/// vLLM and the routing proxy, and vLLM's tracing arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Tracing {
    pub endpoint: String,
    pub sampler: String,
    pub sampler_arg: String,
    pub decode_service: String,
    pub prefill_service: String,
    pub proxy_service: String,
    pub detailed_traces: String,
}

/// A model service's workloads as the user's manifests give them: Deployments, LeaderWorkerSets,
/// DisaggregatedSets (whose pod templates msws points at the model on the claim) and the objects
/// around them, applied as they are.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifests {
    /// Where they come from, as the plan names it: a file, or the `kubectl kustomize` that built
    /// them.
    pub source: String,
    pub objects: Vec<Fields>,
    /// The container that serves the model, when the rule (a `vllm serve` command or a model
    /// argument) is not to be trusted.
    pub serving_container: Option<String>,
    pub span: Span,
}

/// The workload kinds whose pods msws points at the model: (apiVersion, kind).
pub const WORKLOAD_KINDS: &[(&str, &str)] = &[
    ("apps/v1", "Deployment"),
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
    ("disaggregatedset.x-k8s.io/v1", "DisaggregatedSet"),
];

/// An object applied with a model service, as the API takes it (`apiVersion`, `kind`, `metadata`
/// with at least a name, and the rest).
#[derive(Clone, Debug, PartialEq)]
pub struct ExtraObject {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub value: Fields,
    pub span: Span,
}

impl ModelService {
    pub fn roles(&self) -> impl Iterator<Item = (RoleKind, &Role)> {
        self.decode.iter().map(|r| (RoleKind::Decode, r)).chain(self.prefill.iter().map(|r| (RoleKind::Prefill, r)))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RoleKind {
    Decode,
    Prefill,
}

impl RoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoleKind::Decode => "decode",
            RoleKind::Prefill => "prefill",
        }
    }
}

/// Accelerator families the ModelService chart knows, with their device-plugin resource names.
pub const ACCELERATORS: &[(&str, Option<&str>)] = &[
    ("nvidia", Some("nvidia.com/gpu")),
    ("intel-i915", Some("gpu.intel.com/i915")),
    ("intel-xe", Some("gpu.intel.com/xe")),
    ("intel-gaudi", Some("habana.ai/gaudi")),
    ("amd", Some("amd.com/gpu")),
    ("google", Some("google.com/tpu")),
    ("rebellions-atom", Some("rebellions.ai/ATOM")),
    ("cpu", None),
];

/// The ModelService chart's ResourceClaimTemplate defaults per accelerator type: (template name,
/// device class).
pub fn dra_defaults(kind: &str) -> (String, String) {
    let (t, c) = match kind {
        "nvidia" => ("nvidia-claim-template", "gpu.nvidia.com"),
        "intel-i915" | "intel-xe" | "intel" => ("intel-claim-template", "gpu.intel.com"),
        "intel-gaudi" => ("intel-gaudi-claim-template", "gaudi.intel.com"),
        "amd" => ("amd-claim-template", "gpu.amd.com"),
        "google" => ("google-claim-template", "tpu.google.com"),
        other => return (format!("{other}-claim-template"), format!("gpu.{other}.com")),
    };
    (t.into(), c.into())
}

#[derive(Clone, Debug, PartialEq)]
pub struct Accelerator {
    /// One of [`ACCELERATORS`], or a custom type with its own `resource`.
    pub kind: String,
    /// Device-plugin resource name; `None` for CPU.
    pub resource: Option<String>,
    /// Dynamic Resource Allocation instead of device-plugin resources.
    pub dra: Option<Dra>,
    /// Environment the model containers get on this accelerator (the chart's defaults per type,
    /// unless the workspace says otherwise).
    pub env: Vec<(String, String)>,
}

/// The environment the ModelService chart gives model containers on each accelerator type.
pub fn accelerator_env(kind: &str) -> Vec<(String, String)> {
    let pairs: &[(&str, &str)] = match kind {
        "intel-i915" => {
            &[("VLLM_USE_V1", "1"), ("TORCH_LLM_ALLREDUCE", "1"), ("VLLM_WORKER_MULTIPROC_METHOD", "spawn")]
        }
        "intel-xe" => &[("VLLM_WORKER_MULTIPROC_METHOD", "spawn")],
        _ => &[],
    };
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dra {
    pub template: String,
    pub class: String,
    pub match_mode: String,
    /// `None`: tensor × data-local of the role.
    pub count: Option<u32>,
    /// Device selectors of the request (`{"cel": {"expression": …}}`), as the API takes them.
    pub selectors: Vec<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Routing {
    pub service_port: u16,
    pub proxy: Option<Proxy>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Proxy {
    pub image: String,
    pub pull_policy: String,
    pub target_port: u16,
    pub connector: String,
    /// Optional flags, each rendered as `--<flag>=<value>` when set, in the chart's order.
    pub flags: Vec<(&'static str, String)>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Parallelism {
    pub tensor: u32,
    pub data: u32,
    pub data_local: u32,
    pub workers: u32,
}

impl Parallelism {
    /// Accelerators per pod: data-local × tensor.
    pub fn devices_per_pod(&self) -> u32 {
        self.data_local * self.tensor
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Role {
    pub replicas: u32,
    pub parallelism: Parallelism,
    /// Overrides the service's accelerator for this role.
    pub accelerator: Accelerator,
    pub containers: Vec<Container>,
    pub init_containers: Vec<Container>,
    pub volumes: Vec<Volume>,
    pub strategy: Option<Strategy>,
    pub node_selector: Map,
    pub node_affinity: Vec<NodeAffinity>,
    pub tolerations: Vec<Toleration>,
    pub annotations: Map,
    pub pod_annotations: Map,
    pub resource_claims: Vec<PodResourceClaim>,
    pub scheduler_name: Option<String>,
    pub priority_class: Option<String>,
    pub termination_grace_period: Option<i64>,
    pub enable_service_links: Option<bool>,
    pub image_pull_secrets: Vec<String>,
    /// Pod spec fields without words (`pod { … }`), merged into what msws renders.
    pub pod: Fields,
    /// Served by a LeaderWorkerSet: a group of `parallelism.workers` pods per replica.
    pub multinode: Option<Multinode>,
    /// The replica count belongs to an autoscaler: msws does not set it.
    pub autoscaled: bool,
    /// A Prometheus Operator PodMonitor for the role's pods.
    pub monitor: Option<PodMonitor>,
    /// Decode only: served through the dual-pod requester of fast model actuation (a ReplicaSet
    /// of requesters instead of the Deployment).
    pub requester: Option<Requester>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Multinode {
    /// `subGroupPolicy`: pods per subgroup of a group, and how the leader counts.
    pub subgroup_size: Option<u32>,
    pub subgroup_type: Option<String>,
    /// The `leaderworkerset.sigs.k8s.io/subgroup-exclusive-topology` annotation (one subgroup
    /// per node).
    pub exclusive_topology: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PodMonitor {
    pub port: String,
    pub path: String,
    pub interval: String,
    pub scrape_timeout: Option<String>,
    pub labels: Map,
    pub annotations: Map,
    pub relabelings: Vec<serde_json::Value>,
    pub metric_relabelings: Vec<serde_json::Value>,
    pub namespace_selector: Option<serde_json::Value>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Requester {
    pub image: String,
    /// The requesters' ReplicaSet's count; `None`: the role's replicas. An autoscaled role's
    /// requester count is still fixed (the chart writes it).
    pub replicas: Option<u32>,
    pub admin_port: u16,
    pub probes_port: u16,
    pub spi_port: u16,
    pub initial_delay: i32,
    pub period: i32,
    pub gpus: Quantity,
    pub cpus: Quantity,
    pub memory: Quantity,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PodResourceClaim {
    pub name: String,
    pub source: ClaimSource,
}

/// Where a pod resource claim comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum ClaimSource {
    /// A ResourceClaimTemplate: each pod gets a claim of its own.
    Template(String),
    /// An existing ResourceClaim, shared by the pods.
    Claim(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    Recreate,
    RollingUpdate { max_surge: Option<IntOrPercent>, max_unavailable: Option<IntOrPercent> },
}

#[derive(Clone, Debug, PartialEq)]
pub enum IntOrPercent {
    Int(i32),
    Percent(String),
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeAffinity {
    pub key: String,
    pub operator: String,
    pub values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Toleration {
    pub key: Option<String>,
    pub operator: Option<String>,
    pub value: Option<String>,
    pub effect: Option<String>,
    pub seconds: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommandKind {
    /// `vllm serve <model> --port … --served-model-name …` then the user's args.
    VllmServe,
    /// The image's entrypoint with `--model <model> --port … --served-model-name …` then the args.
    ImageDefault,
    /// Exactly the user's command and args.
    Custom,
}

impl CommandKind {
    pub const ALL: [(&'static str, CommandKind); 3] = [
        ("vllm-serve", CommandKind::VllmServe),
        ("image-default", CommandKind::ImageDefault),
        ("custom", CommandKind::Custom),
    ];
}

#[derive(Clone, Debug, PartialEq)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub pull_policy: Option<String>,
    pub command_kind: CommandKind,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub mount_model: bool,
    pub env: Vec<EnvVar>,
    pub ports: Vec<Port>,
    pub resources: Resources,
    pub volume_mounts: Vec<VolumeMount>,
    pub probes: Vec<Probe>,
    pub security_context: Option<SecurityContext>,
    pub working_dir: Option<String>,
    /// Init containers only: `restartPolicy: Always` makes a native sidecar.
    pub restart_policy: Option<String>,
    /// Container fields without words (`container { … }`), merged into what msws renders.
    pub fields: Fields,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

#[derive(Clone, Debug, PartialEq)]
pub enum EnvValue {
    Literal(String),
    /// A field of the pod (`fieldRef`), with the API version of the path when not `v1`.
    Field {
        path: String,
        api_version: Option<String>,
    },
    /// A key of a file in a volume of the pod (`fileKeyRef`).
    FileKey {
        volume: String,
        path: String,
        key: String,
        optional: Option<bool>,
    },
    SecretKey {
        secret: String,
        key: String,
        optional: Option<bool>,
    },
    ConfigMapKey {
        config_map: String,
        key: String,
        optional: Option<bool>,
    },
    Resource {
        resource: String,
        container: Option<String>,
        divisor: Option<Quantity>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Port {
    pub number: u16,
    pub name: Option<String>,
    pub protocol: Option<String>,
    pub host_port: Option<u16>,
    pub host_ip: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Resources {
    pub limits: BTreeMap<String, Quantity>,
    pub requests: BTreeMap<String, Quantity>,
    pub claims: Vec<ClaimRef>,
}

/// A resource claim of the pod that a container uses, optionally one request of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimRef {
    pub name: String,
    pub request: Option<String>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.requests.is_empty() && self.claims.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct VolumeMount {
    pub name: String,
    pub path: String,
    pub read_only: Option<bool>,
    pub sub_path: Option<String>,
    pub sub_path_expr: Option<String>,
    pub propagation: Option<String>,
    pub recursive_read_only: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum VolumeSource {
    EmptyDir {
        medium: Option<String>,
        size_limit: Option<Quantity>,
    },
    Claim {
        claim: String,
        read_only: Option<bool>,
    },
    ConfigMap {
        name: String,
    },
    Secret {
        name: String,
    },
    HostPath {
        path: String,
        kind: Option<String>,
    },
    /// Any other source, as the fields of a Kubernetes `Volume` (without its name).
    Raw(Fields),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Volume {
    pub name: String,
    pub source: VolumeSource,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    Liveness,
    Readiness,
    Startup,
}

/// A container port by number or by name.
#[derive(Clone, Debug, PartialEq)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ProbeAction {
    HttpGet {
        path: Option<String>,
        port: PortRef,
        scheme: Option<String>,
        host: Option<String>,
        headers: Vec<(String, String)>,
    },
    TcpSocket {
        port: PortRef,
        host: Option<String>,
    },
    Exec {
        command: Vec<String>,
    },
    Grpc {
        port: i32,
        service: Option<String>,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub kind: ProbeKind,
    pub action: ProbeAction,
    pub initial_delay: Option<i32>,
    pub period: Option<i32>,
    pub timeout: Option<i32>,
    pub failure_threshold: Option<i32>,
    pub success_threshold: Option<i32>,
    pub termination_grace_period: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct SecurityContext {
    pub run_as_non_root: Option<bool>,
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub allow_privilege_escalation: Option<bool>,
    pub privileged: Option<bool>,
    pub read_only_root_filesystem: Option<bool>,
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
}
