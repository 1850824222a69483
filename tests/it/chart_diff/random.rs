//! A seeded generator of random *valid* values of the ModelService chart (v0.4.12): values that
//! Helm renders without a `fail`, a `required` or a schema error, into objects a Kubernetes API
//! server would accept. Each case draws every key of the chart with some probability, in the
//! shapes and with the values people use (the chart's examples, vLLM's flags, the routing
//! sidecar's options), so that a case exercises a subset and a hundred cases exercise all of it
//! (`super::coverage` holds the fixed-seed cases to that).
//!
//! What "valid" takes, beyond the chart's own checks (each rule is where the value is drawn):
//! - names: container names are DNS labels, unique in the pod (the decode pod's routing proxy is
//!   `routing-proxy`); port names are IANA service names, unique in the pod, as are container
//!   ports and host ports; volume names are unique and every mount names a volume of the pod;
//!   mount paths are unique in a container;
//! - the chart's own arithmetic: parallelism sizes the helpers can divide; an accelerator count
//!   given in `limits` is given in `requests` too (extended resources must be equal in both);
//!   `oci://` only where no container runs a vLLM command (the chart fails on its model argument);
//!   the accelerator label key only with values (`In` needs one);
//! - `extraConfig` is text the chart inserts into the pod spec or the container: its keys are
//!   drawn among the fields the chart does not write there itself for that case, or the YAML
//!   would hold a key twice;
//! - templates only where the chart runs `tpl` (containers' `env` and `ports`, `extraConfig`,
//!   `extraObjects`, an `hf://` URI), and only producing what the field's type takes;
//! - the schema's `additionalProperties: false`: no `count` in a claim template, no
//!   `scrapeTimeout` or `namespaceSelector` in a PodMonitor, no `imagePullPolicy` in
//!   `modelArtifacts`, no accelerator type of one's own under `accelerator.resources`, `.env` or
//!   `.resourceClaimTemplates` (the templates read some of these; the schema refuses them);
//! - the API server's rules for what the schema allows: lifecycle hooks, probes and resize
//!   policies only on sidecar init containers, `successThreshold: 1` for liveness and startup
//!   probes, a probe's own grace period not on readiness probes, `stopSignal` only with the pod's
//!   `os` set, no `allowPrivilegeEscalation: false` with `privileged` or `CAP_SYS_ADMIN`,
//!   `recursiveReadOnly` only on a read-only mount without propagation, a device only from a
//!   claim the container does not mount, a toleration's seconds only with `NoExecute`, Windows
//!   options only where the pod's `os` is not Linux; no `restartPolicyRules` (they need an init
//!   container's restart policy other than `Always`, refused without the ContainerRestartRules
//!   gate);
//! - what the chart's objects need to work: DRA only for accelerator types the chart has a claim
//!   template for (the pods of another would claim from a template nothing creates), the match
//!   `exactly` (the template cannot write the list `firstAvailable` is), a LeaderWorkerSet's
//!   sub-group size a divisor of its size, no dot in a multi-node release's name.
//!
//! Keys no template reads are not drawn (`subGroupExclusiveToplogy`, the spelling of a comment in
//! values.yaml: the templates read `subGroupExclusiveTopology`).
//!
//! Duplicate environment variables appear only where docs/modelservice.md lists them as a
//! deliberate difference: a container setting a variable the chart adds too (`DP_SIZE`,
//! `HF_HOME`, an accelerator's environment, …).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

/// SplitMix64: small, and the same sequence on every platform and for ever (a crate's generator
/// may change its stream between releases, and with it every fixed-seed case).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 0..n; n > 0.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64) < p * (1u64 << 53) as f64
    }

    /// lo..=hi.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as usize) as i64
    }

    pub fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())].clone()
    }
}

/// One generated case: what `helm template RELEASE chart -f values.yaml --namespace NS` and
/// `msws import-values` are given.
#[derive(Clone, Debug)]
pub struct Case {
    pub number: usize,
    pub seed: u64,
    pub release: String,
    pub namespace: String,
    /// The values file, as a tree (not merged with the chart's defaults).
    pub values: Value,
    /// The same, as the YAML text both tools read.
    pub yaml: String,
}

/// The feature each case is sure to exercise (the case's seed picks it), on top of what its
/// random draws give it: so that a hundred cases cover every key without luck.
pub const FOCUS: &[&str] = &[
    "multinode",
    "requester",
    "tracing",
    "extra-objects",
    "dra",
    "accelerator",
    "podmonitor",
    "pod-extra-config",
    "container-extra-config",
    "sidecar",
    "init-container",
    "probes",
    "security",
    "volumes",
    "templates",
    "oci",
    "pvc",
    "pvc-hf",
    "proxy",
    "names",
    "scheduling",
    "env",
    "resources",
    "parallelism",
    "role-accelerator",
    "claims",
    "strategy",
    "multinode",
    "sidecar",
    "init-container",
    "dra",
];

/// The case of a seed: the same seed always gives the same case (`MSWS_CHART_SEED=<seed>
/// MSWS_CHART_CASES=1` reruns one case of a report).
pub fn case(number: usize, seed: u64) -> Case {
    let mut g = Gen { rng: Rng::new(seed), focus: FOCUS[(seed % FOCUS.len() as u64) as usize], round: seed, salt: 0 };
    let (release, namespace, values) = g.values();
    let yaml = to_yaml(&values);
    Case { number, seed, release, namespace, values, yaml }
}

struct Gen {
    rng: Rng,
    focus: &'static str,
    /// The case's seed, for [`Gen::turn`]: the cases of one focus are `FOCUS.len()` (31, prime)
    /// seeds apart, so consecutive ones take different turns of what it cycles through (probe
    /// handlers, claim templates, resource names) and a few cases of a focus cover every variant.
    round: u64,
    /// Added to the turn: which role and which init container is being drawn.
    salt: u64,
}

/// Where the model is, as the URI says.
#[derive(Clone, Debug, PartialEq)]
enum Scheme {
    Hf,
    Pvc,
    PvcHf,
    Oci,
}

/// What the whole case has decided, that each role needs to know.
struct Cx {
    release: String,
    scheme: Scheme,
    mount_path: String,
    multinode: bool,
    requester: bool,
    service_port: i64,
    proxy: bool,
    target_port: i64,
    /// The accelerator type and DRA of the model service (a role may override them).
    accel_type: String,
    dra: bool,
    /// `accelerator.resources` as the values leave it (the chart's and any the values replace).
    resources: Map<String, Value>,
    /// `accelerator.resourceClaimTemplates.<type>.name` as the values leave them.
    template_names: Map<String, Value>,
    /// Accelerator environment names per type, as the values leave them.
    accel_env: Map<String, Value>,
    model_labels: Map<String, Value>,
    /// A top-level `schedulerName` is given.
    scheduler: bool,
    /// The release name has a dot (a DNS subdomain, not a label): no hostnames made of it.
    dotted: bool,
}

/// What one pod has, as it is drawn: for the names and references that must agree.
#[derive(Default)]
struct Pod {
    role: &'static str,
    /// Volume names and their source (`emptyDir`, `persistentVolumeClaim`, …).
    volumes: Vec<(String, String)>,
    container_names: BTreeSet<String>,
    port_names: BTreeSet<String>,
    ports: BTreeSet<i64>,
    host_ports: BTreeSet<i64>,
    /// The pod's resource claims (the accelerator's under DRA, then the role's own).
    claims: Vec<String>,
    /// A container uses `lifecycle.stopSignal`, which needs the pod's `os`.
    needs_os: bool,
    /// A container uses `hostPort`: no `hostNetwork: true` from extraConfig.
    /// (hostNetwork makes every container port a host port.)
    /// The pod spec keys the chart writes itself.
    written: BTreeSet<&'static str>,
    /// The vLLM port of the role (where a proxy forwards to, or the service port).
    vllm_port: i64,
    /// The port name the PodMonitor scrapes, when one is enabled.
    monitor_port: Option<String>,
    /// The role's `hostPID: true`: no shareProcessNamespace from extraConfig.
    host_pid: bool,
    /// A container has Windows options: the pod's `os` may not be Linux.
    windows: bool,
    gpus: i64,
}

const MODELS: &[&str] = &[
    "facebook/opt-125m",
    "Qwen/Qwen3-0.6B",
    "meta-llama/Llama-3.1-8B-Instruct",
    "ibm-granite/granite-3.3-2b-instruct",
    "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "random/model",
];

const VLLM_IMAGES: &[&str] = &[
    "ghcr.io/llm-d/llm-d-cuda:v0.4.0",
    "ghcr.io/llm-d/llm-d-cuda:latest",
    "vllm/vllm-openai:v0.11.0",
    "ghcr.io/llm-d/llm-d-xpu:v0.4.0",
    "ghcr.io/llm-d/llm-d-inference-sim:v0.6.1",
    "ghcr.io/llm-d/llm-d-inference-sim:latest",
    "quay.io/modh/vllm:rhoai-2.25-cuda",
];

const HELPER_IMAGES: &[&str] = &["busybox:1.37", "alpine:3.22", "registry.k8s.io/pause:3.10", "python:3.12-slim"];

const ACCELERATORS: &[&str] =
    &["nvidia", "nvidia", "intel-i915", "intel-xe", "intel-gaudi", "amd", "google", "cpu", "rebellions-atom"];

/// Types the values may name that the chart has no resource for (it uses `nvidia.com/gpu`):
/// `intel` has a claim template but no resource, `acme-npu` has nothing at all.
const ODD_ACCELERATORS: &[&str] = &["intel", "acme-npu"];

fn has_template(accel_type: &str) -> bool {
    CLAIM_TEMPLATES.iter().any(|c| c.0 == accel_type)
}

/// The chart's claim templates, by accelerator type (`accelerator.resourceClaimTemplates`).
const CLAIM_TEMPLATES: &[(&str, &str, &str)] = &[
    ("nvidia", "nvidia-claim-template", "gpu.nvidia.com"),
    ("intel", "intel-claim-template", "gpu.intel.com"),
    ("intel-i915", "intel-claim-template", "gpu.intel.com"),
    ("intel-xe", "intel-claim-template", "gpu.intel.com"),
    ("intel-gaudi", "intel-gaudi-claim-template", "gaudi.intel.com"),
    ("amd", "amd-claim-template", "gpu.amd.com"),
    ("google", "google-claim-template", "tpu.google.com"),
];

const CHART_RESOURCES: &[(&str, &str)] = &[
    ("nvidia", "nvidia.com/gpu"),
    ("intel-i915", "gpu.intel.com/i915"),
    ("intel-xe", "gpu.intel.com/xe"),
    ("intel-gaudi", "habana.ai/gaudi"),
    ("amd", "amd.com/gpu"),
    ("google", "google.com/tpu"),
    ("rebellions-atom", "rebellions.ai/ATOM"),
];

/// Templates for free text (environment values, ConfigMap data), as people write them.
const TEXT_TEMPLATES: &[&str] = &[
    "{{ .Release.Name }}",
    "{{ .Release.Namespace }}",
    "{{ .Chart.Name }}",
    "{{ .Values.modelArtifacts.name }}",
    "{{ include \"llm-d-modelservice.fullname\" . }}",
    "{{ .Values.modelArtifacts.name | quote }}",
    "{{ .Release.Name | upper }}",
    "{{ .Values.routing.servicePort }}",
    "{{ default \"all\" .Values.tracing.vllm.collectDetailedTraces }}",
    "http://{{ include \"llm-d-modelservice.fullname\" . }}.{{ .Release.Namespace }}.svc:{{ .Values.routing.servicePort }}",
    "{{ .Release.Name }}-{{ .Release.Namespace }}",
];

/// Templates that give a DNS label (when the release name is one).
const NAME_TEMPLATES: &[&str] =
    &["{{ .Release.Name }}", "{{ include \"llm-d-modelservice.fullname\" . }}", "{{ .Release.Name | lower }}"];

impl Gen {
    fn want(&mut self, feature: &str, p: f64) -> bool {
        self.focus == feature || self.rng.chance(p)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.chance(p)
    }

    /// The `salt`-th of `n` variants for this case's turn of its focus.
    fn turn(&self, salt: u64, n: usize) -> usize {
        (self.round.wrapping_add(self.salt).wrapping_add(salt) % n as u64) as usize
    }

    /// Whether this case is about init containers: they get every field.
    fn rich(&self) -> bool {
        self.focus == "sidecar" || self.focus == "init-container"
    }

    fn pick<T: Clone>(&mut self, xs: &[T]) -> T {
        self.rng.pick(xs)
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.range(lo, hi)
    }

    fn values(&mut self) -> (String, String, Value) {
        let release = self.release();
        let namespace = self.pick(&["default", "default", "llm-d", "team-a", "inference"]).to_string();
        let mut v = Map::new();

        // ---- names
        if self.want("names", 0.12) {
            v.insert("nameOverride".into(), json!(self.pick(&["ms", "modelservice", "vllm", "llm-d-modelservice"])));
        }
        if self.want("names", 0.12) {
            let long = "a-fully-overridden-model-service-name-that-is-longer-than-fifty-five";
            v.insert(
                "fullnameOverride".into(),
                json!(self.pick(&["my-model", "qwen-serving", "ms-", long, &format!("{release}-ms")])),
            );
        }
        if self.want("names", 0.12) {
            v.insert("serviceAccountOverride".into(), json!(self.pick(&["model-sa", "default", "llm-d-runner"])));
        }
        let scheduler = self.want("scheduling", 0.08);
        if scheduler {
            v.insert("schedulerName".into(), json!(self.pick(&["volcano", "kai-scheduler", "default-scheduler"])));
        }
        if self.chance(0.05) {
            v.insert("enabled".into(), json!(self.chance(0.2)));
        }
        if self.want("names", 0.04) {
            v.insert("common".into(), json!({"exampleValue": "common-chart"}));
        }
        if self.want("names", 0.04) {
            v.insert("global".into(), json!({"imageRegistry": "", "imagePullSecrets": []}));
        }

        // ---- modes
        // A LeaderWorkerSet's name makes a Service's, which takes no dot.
        let multinode = self.focus != "requester" && !release.contains('.') && self.want("multinode", 0.12);
        if multinode || self.chance(0.1) {
            v.insert("multinode".into(), json!(multinode));
        }
        let requester = !multinode && self.want("requester", 0.06);
        let tracing = self.want("tracing", 0.12);

        // ---- the model
        let scheme = match self.focus {
            "oci" => Scheme::Oci,
            "pvc" => Scheme::Pvc,
            "pvc-hf" => Scheme::PvcHf,
            _ => self.pick(&[Scheme::Hf, Scheme::Hf, Scheme::Hf, Scheme::Pvc, Scheme::PvcHf, Scheme::Hf]),
        };
        let (model, mount_path, labels) = self.model_artifacts(&scheme, requester);
        v.insert("modelArtifacts".into(), Value::Object(model));

        // ---- accelerator
        let (accel, accel_type, dra, resources, template_names, accel_env) = self.accelerator();
        if !accel.is_empty() {
            v.insert("accelerator".into(), Value::Object(accel));
        }

        // ---- routing
        let (routing, service_port, proxy, target_port) = self.routing();
        if let Some(r) = routing {
            v.insert("routing".into(), r);
        }

        let cx = Cx {
            release: release.clone(),
            scheme,
            mount_path,
            multinode,
            requester,
            service_port,
            proxy,
            target_port,
            accel_type,
            dra,
            resources,
            template_names,
            accel_env,
            model_labels: labels,
            scheduler,
            dotted: release.contains('.'),
        };

        // ---- roles
        if let Some(d) = self.role(&cx, "decode") {
            v.insert("decode".into(), d);
        }
        if let Some(p) = self.role(&cx, "prefill") {
            v.insert("prefill".into(), p);
        }

        // ---- requester
        if requester || self.chance(0.04) {
            v.insert("requester".into(), self.requester(requester));
        }

        // ---- tracing
        if tracing || self.chance(0.04) {
            v.insert("tracing".into(), self.tracing(tracing));
        }

        // ---- extraObjects
        if self.want("extra-objects", 0.1) {
            v.insert("extraObjects".into(), self.extra_objects(&cx));
        }

        (release, namespace, Value::Object(v))
    }

    fn release(&mut self) -> String {
        let base = self.pick(&[
            "pd",
            "qwen3",
            "opt-125m",
            "llama-8b-pd",
            "granite",
            "my-llm-d-modelservice",
            "prod-llm-d-modelservice-a",
            "a-rather-long-release-name-for-a-model-service",
            "x",
            "deepseek-r1",
            "cpu-sim",
        ]);
        // Helm takes a DNS subdomain for a release; a dot in one is rare.
        if self.chance(0.02) {
            return "ms.v2".into();
        }
        if self.chance(0.3) { format!("{base}-{}", self.range(1, 99)) } else { base.to_string() }
    }

    fn model_artifacts(
        &mut self,
        scheme: &Scheme,
        requester: bool,
    ) -> (Map<String, Value>, String, Map<String, Value>) {
        let mut m = Map::new();
        let name = self.pick(MODELS);
        // The requester splits the name at its `/`: keep one there.
        if name != "random/model" || self.chance(0.3) {
            m.insert("name".into(), json!(name));
        }
        let claim = self.pick(&["model-pvc", "models", "llama-cache", "shared-models"]);
        let uri = match scheme {
            Scheme::Hf => {
                let forms = [
                    "hf://{{ .Values.modelArtifacts.name }}".to_string(),
                    "hf://\"{{ .Values.modelArtifacts.name }}\"".to_string(),
                    "hf://{{ .Values.modelArtifacts.name | quote }}".to_string(),
                    "hf://{{ default \"facebook/opt-125m\" .Values.modelArtifacts.name }}".to_string(),
                    format!("hf://{name}"),
                    format!("hf://{name}"),
                ];
                let u = self.pick(&forms);
                // The chart's default is the first form: sometimes leave it to the default.
                if u == forms[0] && self.chance(0.5) { None } else { Some(u) }
            }
            Scheme::Pvc => Some(if self.chance(0.2) {
                // The claim's root: a deliberate difference (the chart serves /model-cache/claim).
                format!("pvc://{claim}")
            } else {
                format!("pvc://{claim}/{}", self.pick(&["models/opt-125m", "path/to/model", name, "llama"]))
            }),
            Scheme::PvcHf => Some(if self.chance(0.25) {
                format!("pvc+hf://{claim}/{name}")
            } else {
                format!("pvc+hf://{claim}/{}/{name}", self.pick(&["hub", "hf_hub_cache", "cache/hub"]))
            }),
            Scheme::Oci => Some(format!(
                "oci://{}",
                self.pick(&["quay.io/llm-d/models:opt-125m", "registry.example.com/models/qwen3:0.6b"])
            )),
        };
        if let Some(u) = uri {
            m.insert("uri".into(), json!(u));
        }
        let mut labels = Map::new();
        labels.insert("llm-d.ai/inference-serving".into(), json!("true"));
        if self.chance(0.5) || requester {
            let mut lm = Map::new();
            let model_label = name.to_lowercase().replace(['/', '.'], "-");
            lm.insert("llm-d.ai/model".into(), json!(model_label));
            labels.insert("llm-d.ai/model".into(), json!(model_label));
            if self.chance(0.15) {
                // Helm deletes a default with null.
                lm.insert("llm-d.ai/inference-serving".into(), Value::Null);
                labels.remove("llm-d.ai/inference-serving");
            }
            if self.chance(0.2) {
                lm.insert("app.kubernetes.io/part-of".into(), json!("llm-d"));
                labels.insert("app.kubernetes.io/part-of".into(), json!("llm-d"));
            }
            m.insert("labels".into(), Value::Object(lm));
        }
        if self.chance(0.5) {
            m.insert("size".into(), json!(self.pick(&["20Gi", "5Mi", "100Gi", "1Ti", "500M", "64Gi"])));
        }
        if self.chance(0.25) {
            m.insert("authSecretName".into(), json!(self.pick(&["hf-token", "llm-d-hf-token"])));
        }
        let mut mount_path = "/model-cache".to_string();
        if self.chance(0.2) {
            mount_path = self.pick(&["/models", "/data/hf", "/model-cache"]).to_string();
            m.insert("mountPath".into(), json!(mount_path));
        }
        if self.chance(0.25) {
            m.insert("readOnly".into(), json!(self.chance(0.4)));
        }
        (m, mount_path, labels)
    }

    #[allow(clippy::type_complexity)]
    fn accelerator(
        &mut self,
    ) -> (Map<String, Value>, String, bool, Map<String, Value>, Map<String, Value>, Map<String, Value>) {
        let mut m = Map::new();
        let focused = self.focus == "accelerator" || self.focus == "dra";
        let mut accel_type = "nvidia".to_string();
        if focused || self.chance(0.4) {
            accel_type = if self.focus == "dra" {
                self.pick(CLAIM_TEMPLATES).0
            } else if self.chance(0.12) {
                self.pick(ODD_ACCELERATORS)
            } else {
                self.pick(ACCELERATORS)
            }
            .into();
            m.insert("type".into(), json!(accel_type));
        }
        // DRA only for a type the chart has a claim template for: for another, the pods would
        // claim from a template nothing creates (and the schema allows no template of one's own).
        let dra = has_template(&accel_type) && self.want("dra", 0.1);
        if dra || self.chance(0.05) {
            m.insert("dra".into(), json!(dra));
        }
        let mut resources: Map<String, Value> =
            CHART_RESOURCES.iter().map(|(k, r)| (k.to_string(), json!(r))).collect();
        if self.want("accelerator", 0.05) {
            // Resource names of one's own (a MIG slice, a newer device plugin's).
            let own = [
                ("nvidia", "nvidia.com/mig-3g.40gb"),
                ("amd", "amd.com/mi300x"),
                ("google", "google.com/tpu-v5e"),
                ("intel-gaudi", "habana.ai/gaudi3"),
                ("rebellions-atom", "rebellions.ai/ATOM-CA22"),
                ("intel-i915", "gpu.intel.com/i915-flex"),
                ("intel-xe", "gpu.intel.com/xe2"),
            ];
            let n = if self.focus == "accelerator" { 4 } else { 1 };
            let mut rm = Map::new();
            for k in 0..n {
                let (t, r) = if self.focus == "accelerator" { own[self.turn(k, own.len())] } else { self.pick(&own) };
                resources.insert(t.into(), json!(r));
                rm.insert(t.into(), json!(r));
            }
            m.insert("resources".into(), Value::Object(rm));
        }
        let mut env: Map<String, Value> = Map::new();
        env.insert(
            "intel-i915".into(),
            json!([
                {"name": "VLLM_USE_V1", "value": "1"},
                {"name": "TORCH_LLM_ALLREDUCE", "value": "1"},
                {"name": "VLLM_WORKER_MULTIPROC_METHOD", "value": "spawn"},
            ]),
        );
        env.insert("intel-xe".into(), json!([{"name": "VLLM_WORKER_MULTIPROC_METHOD", "value": "spawn"}]));
        if self.want("accelerator", 0.05) {
            let mut em = Map::new();
            let focused = self.focus == "accelerator";
            for t in ["intel-i915", "intel-xe"] {
                if focused || self.chance(0.6) {
                    let list = if !focused && self.chance(0.2) {
                        json!([])
                    } else {
                        let mut l = vec![json!({"name": "VLLM_WORKER_MULTIPROC_METHOD", "value": "spawn"})];
                        if focused || self.chance(0.5) {
                            l.push(json!({"name": "ZE_AFFINITY_MASK", "value": "0,1"}));
                        }
                        if self.chance(0.5) {
                            l.push(json!({"name": "CCL_ZE_IPC_EXCHANGE", "value": "sockets"}));
                        }
                        Value::Array(l)
                    };
                    env.insert(t.into(), list.clone());
                    em.insert(t.into(), list);
                }
            }
            if !em.is_empty() {
                m.insert("env".into(), Value::Object(em));
            }
        }
        let mut template_names: Map<String, Value> =
            CLAIM_TEMPLATES.iter().map(|(t, n, _)| (t.to_string(), json!(n))).collect();
        if dra && (self.focus == "dra" || self.chance(0.5)) || self.chance(0.03) {
            let mut tm = Map::new();
            let focused = self.focus == "dra";
            // The accelerator's own template, and others (which the chart reads for no role).
            let own = CLAIM_TEMPLATES.iter().find(|c| c.0 == accel_type).copied();
            let mut picked: Vec<(&str, &str, &str)> = own.into_iter().filter(|_| focused || self.chance(0.7)).collect();
            if focused {
                picked.extend((0..4).map(|k| CLAIM_TEMPLATES[self.turn(k, CLAIM_TEMPLATES.len())]));
            } else {
                let n = 1 + self.rng.below(2) - picked.len().min(1);
                for _ in 0..n {
                    picked.push(self.pick(CLAIM_TEMPLATES));
                }
            }
            for (t, name, class) in picked {
                if tm.contains_key(t) {
                    continue;
                }
                let p = if focused { 0.8 } else { 0.4 };
                let mut c = Map::new();
                if self.chance(p) {
                    let own = self.pick(&["gpus", "h100-claim-template", "accel-claim-template"]);
                    c.insert("name".into(), json!(own));
                    template_names.insert(t.into(), json!(own));
                } else if self.chance(0.2) {
                    c.insert("name".into(), json!(name));
                }
                if self.chance(p) {
                    let classes = [class, "gpu.example.com", "h100.nvidia.com"];
                    c.insert("class".into(), json!(self.pick(if focused { &classes[1..] } else { &classes[..] })));
                }
                if self.chance(0.2) {
                    // The only request kind the template can write (firstAvailable is a list).
                    c.insert("match".into(), json!("exactly"));
                }
                if self.chance(p) {
                    c.insert("selectors".into(), self.device_selectors());
                }
                tm.insert(t.into(), Value::Object(c));
            }
            m.insert("resourceClaimTemplates".into(), Value::Object(tm));
        }
        (m, accel_type, dra, resources, template_names, env)
    }

    fn device_selectors(&mut self) -> Value {
        let exprs = [
            "device.attributes[\"gpu.nvidia.com\"].productName == \"NVIDIA H100 80GB HBM3\"",
            "device.capacity[\"gpu.nvidia.com\"].memory.compareTo(quantity(\"40Gi\")) >= 0",
            "device.driver == \"gpu.intel.com\"",
            "device.attributes[\"dra.net\"].rdma == true",
        ];
        let n = 1 + self.rng.below(2);
        Value::Array((0..n).map(|i| json!({"cel": {"expression": exprs[(i + self.rng.below(4)) % 4]}})).collect())
    }

    fn routing(&mut self) -> (Option<Value>, i64, bool, i64) {
        let mut r = Map::new();
        let mut service_port = 8000;
        if self.want("proxy", 0.25) {
            service_port = self.pick(&[8000, 8080, 9000, 8000]);
            r.insert("servicePort".into(), json!(service_port));
        }
        let mut p = Map::new();
        let proxy = !self.chance(if self.focus == "proxy" { 0.2 } else { 0.15 });
        if !proxy || self.chance(0.1) {
            p.insert("enabled".into(), json!(proxy));
        }
        let mut target_port = 8200;
        let focused = self.focus == "proxy";
        let p_key = |g: &mut Gen| g.chance(if focused { 0.5 } else { 0.08 });
        if p_key(self) {
            p.insert(
                "image".into(),
                json!(self.pick(&[
                    "ghcr.io/llm-d/llm-d-routing-sidecar:v0.4.0",
                    "ghcr.io/llm-d/llm-d-routing-sidecar:latest"
                ])),
            );
        }
        if p_key(self) {
            p.insert("imagePullPolicy".into(), json!(self.pick(&["IfNotPresent", "Always", "Never"])));
        }
        if p_key(self) {
            target_port = self.pick(&[8200, 8001, 8100]);
            p.insert("targetPort".into(), json!(target_port));
        }
        if p_key(self) {
            p.insert("connector".into(), json!(self.pick(&["nixlv2", "nixl", "lmcache", "sglang"])));
        }
        if p_key(self) {
            p.insert("secure".into(), if self.chance(0.15) { Value::Null } else { json!(self.chance(0.5)) });
        }
        if p_key(self) {
            p.insert("prefillerUseTLS".into(), json!(self.chance(0.5)));
        }
        if p_key(self) {
            p.insert("certPath".into(), json!(self.pick(&["/certs", "/etc/tls"])));
        }
        if p_key(self) {
            p.insert("zapDevel".into(), json!(self.chance(0.5)));
        }
        if p_key(self) {
            p.insert(
                "zapEncoder".into(),
                if self.chance(0.15) { Value::Null } else { json!(self.pick(&["json", "console"])) },
            );
        }
        if p_key(self) {
            p.insert(
                "zapLogLevel".into(),
                if self.chance(0.15) {
                    Value::Null
                } else {
                    self.pick(&[json!("info"), json!("error"), json!(3), json!("debug")])
                },
            );
        }
        if p_key(self) {
            p.insert("zapStacktraceLevel".into(), json!(self.pick(&["info", "error", "panic"])));
        }
        if p_key(self) {
            p.insert(
                "zapTimeEncoding".into(),
                json!(self.pick(&["epoch", "millis", "nano", "iso8601", "rfc3339", "rfc3339nano"])),
            );
        }
        if service_port == target_port {
            target_port = 8200;
            p.insert("targetPort".into(), json!(target_port));
        }
        if !p.is_empty() {
            r.insert("proxy".into(), Value::Object(p));
        }
        ((!r.is_empty()).then_some(Value::Object(r)), service_port, proxy, target_port)
    }

    fn requester(&mut self, enable: bool) -> Value {
        let mut m = Map::new();
        m.insert("enable".into(), json!(enable));
        let p = if self.focus == "requester" { 0.8 } else { 0.5 };
        if self.chance(p) {
            m.insert("image".into(), json!("ghcr.io/llm-d-incubation/llm-d-fast-model-actuation/requester:v0.2.0"));
        }
        if self.chance(p) {
            m.insert("adminPort".into(), json!(self.pick(&[8081, 8090, 9081])));
        }
        if self.chance(p) {
            let mut port = Map::new();
            if self.chance(0.8) {
                port.insert("probes".into(), json!(self.pick(&[8082, 8090])));
            }
            if self.chance(0.8) {
                port.insert("spi".into(), json!(self.pick(&[8083, 8091])));
            }
            m.insert("port".into(), Value::Object(port));
        }
        if self.chance(p) {
            let mut rp = Map::new();
            if self.chance(0.7) {
                rp.insert("initialDelaySeconds".into(), json!(self.range(1, 10)));
            }
            if self.chance(0.7) {
                rp.insert("periodSeconds".into(), json!(self.range(2, 15)));
            }
            m.insert("readinessProbe".into(), Value::Object(rp));
        }
        if self.chance(p) {
            let mut l = Map::new();
            if self.chance(0.7) {
                l.insert("gpus".into(), json!(self.range(1, 4)));
            }
            if self.chance(0.7) {
                l.insert("cpus".into(), json!(self.range(1, 4)));
            }
            if self.chance(0.8) {
                l.insert("memory".into(), json!(self.pick(&["1Gi", "512Mi"])));
            }
            m.insert("resources".into(), json!({ "limits": l }));
        }
        Value::Object(m)
    }

    fn tracing(&mut self, enabled: bool) -> Value {
        let mut m = Map::new();
        m.insert("enabled".into(), json!(enabled));
        let p = if self.focus == "tracing" { 0.6 } else { 0.35 };
        if self.chance(p) {
            m.insert(
                "otlpEndpoint".into(),
                json!(self.pick(&["http://otel-collector.observability:4317", "http://jaeger-collector:4317"])),
            );
        }
        if self.chance(p) {
            let mut s = Map::new();
            if self.chance(0.7) {
                s.insert("sampler".into(), json!(self.pick(&["always_on", "traceidratio", "parentbased_always_on"])));
            }
            if self.chance(0.7) {
                s.insert("samplerArg".into(), json!(self.pick(&["0.1", "0.5", "0.25"])));
            }
            m.insert("sampling".into(), Value::Object(s));
        }
        if self.chance(p) {
            let mut s = Map::new();
            for (k, v) in [("vllmDecode", "decode"), ("vllmPrefill", "prefill"), ("routingProxy", "proxy")] {
                if self.chance(0.6) {
                    s.insert(k.into(), json!(format!("{}-{v}", self.pick(&["llm-d", "qwen"]))));
                }
            }
            m.insert("serviceNames".into(), Value::Object(s));
        }
        if self.chance(p) {
            m.insert(
                "vllm".into(),
                json!({"collectDetailedTraces": self.pick(&["model", "worker", "all", "model,worker"])}),
            );
        }
        Value::Object(m)
    }

    // ------------------------------------------------------------------------------ roles

    /// A role's values, or None to leave the role at the chart's defaults.
    fn role(&mut self, cx: &Cx, role: &'static str) -> Option<Value> {
        let decode = role == "decode";
        let mut m = Map::new();
        let create = if decode { cx.requester || !self.chance(0.05) } else { self.rich() || !self.chance(0.15) };
        if !create {
            m.insert("create".into(), json!(false));
            if self.chance(0.2) {
                // Ignored while the role is off.
                m.insert("replicas".into(), json!(2));
            }
            return Some(Value::Object(m));
        }
        // The chart's default prefill: a simulator with 0 replicas (its command would fail for
        // oci://, its mount needs the default volume).
        if !decode && cx.scheme != Scheme::Oci && !self.rich() && self.chance(0.2) {
            return None;
        }
        if self.chance(0.15) {
            m.insert("create".into(), json!(true));
        }
        let mut pod = Pod {
            role,
            vllm_port: if decode && cx.proxy { cx.target_port } else { cx.service_port },
            ..Pod::default()
        };
        if decode && cx.proxy {
            pod.container_names.insert("routing-proxy".into());
            pod.ports.insert(cx.service_port);
            pod.written.insert("initContainers");
        }

        if self.chance(0.55) {
            m.insert("replicas".into(), json!(self.pick(&[0, 1, 2, 3, 1, 4])));
        }
        if self.want("scheduling", 0.08) {
            m.insert("autoscaling".into(), json!({"enabled": self.chance(0.6)}));
        }
        if !cx.multinode && self.want("strategy", 0.15) {
            let s = self.pick(&[
                json!({"type": "Recreate"}),
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}),
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "50%", "maxUnavailable": "25%"}}),
                json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}),
                json!({"type": "RollingUpdate"}),
            ]);
            m.insert("strategy".into(), s);
        }

        // Parallelism and the GPUs it gives each pod.
        let (par, tp, dpl, size) = self.parallelism(cx.multinode);
        if let Some(p) = par {
            m.insert("parallelism".into(), p);
        }
        pod.gpus = tp * dpl;

        // The role's own accelerator.
        let mut accel_type = cx.accel_type.clone();
        let mut dra = cx.dra;
        if self.want("role-accelerator", 0.08) {
            let mut a = Map::new();
            if self.chance(0.8) {
                accel_type = self.pick(ACCELERATORS).into();
                a.insert("type".into(), json!(accel_type));
            }
            if self.chance(0.5) || dra && !has_template(&accel_type) {
                dra = has_template(&accel_type) && self.chance(0.5);
                a.insert("dra".into(), json!(dra));
            }
            m.insert("accelerator".into(), Value::Object(a));
        }
        if dra {
            pod.claims.push(self.claim_name(cx, &accel_type, role));
        }
        if self.want("claims", 0.06) || self.focus == "init-container" {
            let mut l = Vec::new();
            for (n, t) in [("imex-channel", "imex-channel-0"), ("rdma-nic", "rdma-nic-template")] {
                if l.is_empty() || self.chance(0.4) {
                    pod.claims.push(n.into());
                    l.push(json!({"name": n, "resourceClaimTemplateName": t}));
                }
            }
            m.insert("resourceClaims".into(), Value::Array(l));
        }
        if !pod.claims.is_empty() {
            pod.written.insert("resourceClaims");
        }

        // Volumes before the containers that mount them.
        match self.volumes(&mut pod) {
            Some(v) => {
                m.insert("volumes".into(), v);
            }
            None => pod.volumes.push(("metrics-volume".into(), "emptyDir".into())),
        }

        // The PodMonitor before the ports it scrapes.
        let monitor = self.want("podmonitor", 0.1);
        let mut monitor_values = None;
        if monitor || self.chance(0.04) {
            let (v, port) = self.podmonitor(monitor);
            pod.monitor_port = port;
            monitor_values = Some(v);
        }

        // Containers.
        let default_containers =
            cx.scheme != Scheme::Oci && pod.volumes.iter().any(|(n, _)| n == "metrics-volume") && self.chance(0.08);
        if default_containers {
            pod.container_names.insert("vllm".into());
        } else {
            let n = if self.chance(0.18) { 2 } else { 1 };
            let mut cs = Vec::new();
            for i in 0..n {
                cs.push(self.container(cx, &mut pod, i, &accel_type, dra));
            }
            m.insert("containers".into(), Value::Array(cs));
        }
        if let (Some(port), Some(mv)) = (&pod.monitor_port, &mut monitor_values) {
            // The port must be one a container has: give the first one that name if none does.
            let _ = (port, mv);
        }
        if let Some(mv) = monitor_values {
            m.insert("monitoring".into(), json!({ "podmonitor": mv }));
        }

        // Init containers (after the main ones: they may not take their names).
        if self.rich() || self.chance(0.15) {
            let n = if self.rich() || self.chance(0.3) { 2 } else { 1 };
            let mut l = Vec::new();
            for i in 0..n {
                let restartable = if self.rich() { i == 0 } else { self.chance(0.35) };
                self.salt = u64::from(role == "prefill") * 2 + i as u64;
                l.push(self.init_container(&mut pod, restartable));
            }
            m.insert("initContainers".into(), Value::Array(l));
            pod.written.insert("initContainers");
        }

        // Multinode options.
        if cx.multinode {
            if self.want("multinode", 0.3) {
                m.insert("hostIPC".into(), json!(self.chance(0.7)));
                pod.written.insert("hostIPC");
            }
            if self.chance(0.4) {
                let v = self.chance(0.3);
                pod.host_pid = v;
                m.insert("hostPID".into(), json!(v));
                pod.written.insert("hostPID");
            }
            if self.want("multinode", 0.3) {
                // The group's size must divide the LeaderWorkerSet's.
                let divisors: Vec<i64> = (1..=size).filter(|d| size % d == 0).collect();
                m.insert("subGroupPolicy".into(), json!({"subGroupSize": self.pick(&divisors)}));
            }
            if self.want("multinode", 0.3) {
                m.insert("subGroupExclusiveTopology".into(), json!(self.chance(0.8)));
            }
        }
        // Not drawn: `subGroupExclusiveToplogy`, the spelling of values.yaml's comment, which no
        // template reads (the templates read `subGroupExclusiveTopology`).

        // Pod-level settings.
        if self.want("scheduling", 0.12) {
            m.insert("enableServiceLinks".into(), json!(self.chance(0.4)));
            pod.written.insert("enableServiceLinks");
        }
        if self.want("scheduling", 0.12) {
            m.insert("terminationGracePeriodSeconds".into(), json!(self.pick(&[30, 60, 120, 600, 0])));
            pod.written.insert("terminationGracePeriodSeconds");
        }
        if self.want("scheduling", 0.2) {
            let mut ns = Map::new();
            for (k, v) in [
                ("nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"),
                ("kubernetes.io/arch", "amd64"),
                ("node-pool", "gpu-a"),
                ("topology.kubernetes.io/zone", "us-east-1a"),
            ] {
                if ns.is_empty() || self.chance(0.3) {
                    ns.insert(k.into(), json!(v));
                }
            }
            m.insert("nodeSelector".into(), Value::Object(ns));
            pod.written.insert("nodeSelector");
        }
        if self.want("scheduling", 0.1) {
            m.insert("schedulerName".into(), json!(self.pick(&["volcano", "gpu-scheduler", "default-scheduler"])));
            pod.written.insert("schedulerName");
        } else if cx.scheduler {
            pod.written.insert("schedulerName");
        }
        if self.want("scheduling", 0.15) {
            let p = self.pick(&["high-priority", "none", "None", "llm-serving", ""]);
            m.insert("priorityClassName".into(), json!(p));
            if !p.is_empty() && p.to_lowercase() != "none" {
                pod.written.insert("priorityClassName");
            }
        }
        if self.want("scheduling", 0.12) {
            let key = self.pick(&[
                "cloud.google.com/gke-accelerator",
                "nvidia.com/gpu.product",
                "node.kubernetes.io/instance-type",
            ]);
            let values = self.pick(&[
                json!(["nvidia-h100-80gb"]),
                json!(["nvidia-h100-80gb", "nvidia-a100-80gb"]),
                json!(["NVIDIA-L4"]),
            ]);
            m.insert("acceleratorTypes".into(), json!({"labelKey": key, "labelValues": values}));
            pod.written.insert("affinity");
        } else if self.chance(0.03) {
            m.insert("acceleratorTypes".into(), json!({"labelKey": "", "labelValues": []}));
        }
        if self.want("scheduling", 0.2) {
            m.insert("tolerations".into(), self.tolerations());
            pod.written.insert("tolerations");
        }
        if self.chance(0.15) {
            m.insert(
                "annotations".into(),
                json!({"llm-d.ai/owner": self.pick(&["team-a", "platform"]), "example.com/ticket": "LLM-42"}),
            );
        }
        if self.chance(0.2) {
            let mut a = Map::new();
            a.insert("prometheus.io/scrape".into(), json!("true"));
            if self.chance(0.5) {
                a.insert("prometheus.io/port".into(), json!(pod.vllm_port.to_string()));
            }
            if self.chance(0.3) {
                a.insert("kubectl.kubernetes.io/default-container".into(), json!("vllm"));
            }
            m.insert("podAnnotations".into(), Value::Object(a));
        }
        if self.chance(0.12) {
            m.insert("imagePullSecrets".into(), json!([{"name": self.pick(&["regcred", "ghcr-pull"])}]));
            pod.written.insert("imagePullSecrets");
        }
        if self.want("security", 0.12) {
            m.insert("podSecurityContext".into(), self.pod_security_context());
            pod.written.insert("securityContext");
        }
        if self.want("pod-extra-config", 0.12) || pod.needs_os {
            m.insert("extraConfig".into(), self.pod_extra_config(cx, &mut pod));
        }
        Some(Value::Object(m))
    }

    /// The pod claim name the chart gives a role's DRA accelerator (`acceleratorClaimName`).
    fn claim_name(&self, cx: &Cx, accel_type: &str, role: &str) -> String {
        match cx.template_names.get(accel_type).and_then(Value::as_str) {
            Some(name) if !name.is_empty() => {
                format!("{}-{role}-claim", name.strip_suffix("-claim-template").unwrap_or(name))
            }
            _ => format!("{accel_type}-{role}-claim"),
        }
    }

    /// Parallelism values the chart's helpers accept, and the tensor and local data sizes they
    /// give (the GPUs of a worker are their product) and the number of workers (a
    /// LeaderWorkerSet's size).
    fn parallelism(&mut self, multinode: bool) -> (Option<Value>, i64, i64, i64) {
        if !self.want("parallelism", 0.4) {
            return (None, 1, 1, 1);
        }
        let tp = self.pick(&[1, 1, 2, 4, 8]);
        let dpl = if tp <= 4 { self.pick(&[1, 1, 2]) } else { 1 };
        let workers = if multinode {
            self.pick(&[1, 2, 4])
        } else if self.chance(0.1) {
            2
        } else {
            1
        };
        let mut data = dpl * workers;
        let mut m = Map::new();
        m.insert("tensor".into(), json!(tp));
        m.insert("dataLocal".into(), json!(dpl));
        m.insert("workers".into(), json!(workers));
        if self.chance(0.06) {
            // Sizes the chart passes as they are, not data = dataLocal × workers.
            data *= 2;
        }
        m.insert("data".into(), json!(data));
        let mut eff_dpl = dpl;
        let mut size = workers;
        match self.rng.below(10) {
            // A size left out (null deletes the chart's default of 1): the helpers derive it.
            0 => {
                m.insert("data".into(), Value::Null);
            }
            1 if data % workers == 0 => {
                m.insert("dataLocal".into(), Value::Null);
                eff_dpl = data / workers;
            }
            2 if data % dpl == 0 => {
                m.insert("workers".into(), Value::Null);
                size = data / dpl;
            }
            3 => {
                // Sizes of 1 are the chart's defaults: leave them out.
                m.retain(|_, v| v != &json!(1));
            }
            _ => {}
        }
        if self.chance(0.03) {
            // 0 is "not set" to the helpers: 1.
            m.insert("tensor".into(), json!(0));
            return (Some(Value::Object(m)), 1, eff_dpl, size);
        }
        (Some(Value::Object(m)), tp, eff_dpl, size)
    }

    fn volumes(&mut self, pod: &mut Pod) -> Option<Value> {
        let rich = self.rich();
        if !rich && !self.want("volumes", 0.5) {
            return None;
        }
        if !rich && self.chance(0.04) {
            // null deletes the chart's metrics-volume; an empty list too.
            pod.volumes.clear();
            return Some(if self.chance(0.5) { Value::Null } else { json!([]) });
        }
        let mut l = Vec::new();
        if self.chance(0.7) {
            l.push(json!({"name": "metrics-volume", "emptyDir": {}}));
            pod.volumes.push(("metrics-volume".into(), "emptyDir".into()));
        }
        let n = self.range(if self.focus == "volumes" { 2 } else { 0 }, 4);
        let mut kinds: Vec<usize> = Vec::new();
        // Init containers get every field: a claim to use as a block device, an emptyDir for
        // environment files.
        let wanted: Vec<usize> = if rich { vec![11, 1] } else { vec![] };
        for i in 0..n + wanted.len() as i64 {
            let k = if (i as usize) < wanted.len() { wanted[i as usize] } else { self.rng.below(13) };
            if kinds.contains(&k) {
                continue;
            }
            kinds.push(k);
            let (name, source, v) = match k {
                0 => ("shm", "emptyDir", json!({"medium": "Memory", "sizeLimit": self.pick(&["16Gi", "8Gi", "1Gi"])})),
                1 => ("scratch", "emptyDir", json!({"sizeLimit": "10Gi"})),
                2 => {
                    ("cache", "persistentVolumeClaim", json!({"claimName": "vllm-cache", "readOnly": self.chance(0.3)}))
                }
                3 => ("config", "configMap", self.config_map_volume()),
                4 => ("certs", "secret", self.secret_volume()),
                5 => (
                    "host-models",
                    "hostPath",
                    json!({"path": "/mnt/models", "type": self.pick(&["Directory", "DirectoryOrCreate", ""])}),
                ),
                6 => ("token", "projected", self.projected_volume()),
                7 => (
                    "podinfo",
                    "downwardAPI",
                    json!({"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}),
                ),
                8 => (
                    "ephemeral-cache",
                    "ephemeral",
                    json!({"volumeClaimTemplate": {"spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": "fast-ssd",
                        "resources": {"requests": {"storage": "50Gi"}}}}}),
                ),
                9 => (
                    "nfs-models",
                    "nfs",
                    json!({"server": "nfs.example.com", "path": "/exports/models", "readOnly": true}),
                ),
                10 => (
                    "csi-models",
                    "csi",
                    json!({"driver": "s3.csi.aws.com", "readOnly": true, "volumeAttributes": {"bucketName": "models"}}),
                ),
                11 => ("block-dev", "persistentVolumeClaim", json!({"claimName": "raw-block"})),
                _ => (
                    "tools",
                    "image",
                    json!({"reference": "quay.io/llm-d/tools:v1", "pullPolicy": self.pick(&["IfNotPresent", "Always"])}),
                ),
            };
            let mut vol = Map::new();
            vol.insert("name".into(), json!(name));
            vol.insert(source.into(), v);
            if self.chance(0.3) {
                // Key order means nothing: the chart writes the list as given.
                let n = vol.shift_remove("name").unwrap();
                vol.insert("name".into(), n);
            }
            l.push(Value::Object(vol));
            pod.volumes.push((name.into(), source.into()));
        }
        Some(Value::Array(l))
    }

    fn config_map_volume(&mut self) -> Value {
        let mut m = Map::new();
        m.insert("name".into(), json!("vllm-config"));
        if self.chance(0.4) {
            m.insert("items".into(), json!([{"key": "config.yaml", "path": "config.yaml", "mode": 420}]));
        }
        if self.chance(0.3) {
            m.insert("defaultMode".into(), json!(self.pick(&[420, 292, 511])));
        }
        if self.chance(0.3) {
            m.insert("optional".into(), json!(self.chance(0.5)));
        }
        Value::Object(m)
    }

    fn secret_volume(&mut self) -> Value {
        let mut m = Map::new();
        m.insert("secretName".into(), json!("vllm-tls"));
        if self.chance(0.4) {
            m.insert(
                "items".into(),
                json!([{"key": "tls.crt", "path": "tls.crt"}, {"key": "tls.key", "path": "tls.key"}]),
            );
        }
        if self.chance(0.3) {
            m.insert("defaultMode".into(), json!(256));
        }
        if self.chance(0.3) {
            m.insert("optional".into(), json!(self.chance(0.5)));
        }
        Value::Object(m)
    }

    fn projected_volume(&mut self) -> Value {
        let mut sources =
            vec![json!({"serviceAccountToken": {"audience": "vault", "expirationSeconds": 3600, "path": "token"}})];
        if self.chance(0.5) {
            sources.push(
                json!({"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}),
            );
        }
        if self.chance(0.3) {
            sources.push(json!({"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}));
        }
        json!({ "sources": sources })
    }

    fn podmonitor(&mut self, enabled: bool) -> (Value, Option<String>) {
        let mut m = Map::new();
        m.insert("enabled".into(), json!(enabled));
        let mut port = "metrics".to_string();
        let p = if self.focus == "podmonitor" { 0.8 } else { 0.5 };
        if self.chance(p) {
            port = self.pick(&["vllm-metrics", "http", "metrics"]).to_string();
            m.insert("portName".into(), json!(port));
        }
        if self.chance(p) {
            m.insert("path".into(), json!(self.pick(&["/v1/metrics", "/metrics/vllm", "/metrics"])));
        }
        if self.chance(p) {
            m.insert("interval".into(), json!(self.pick(&["15s", "30s", "1m"])));
        }
        if self.chance(p) {
            m.insert("labels".into(), json!({"release": "prometheus"}));
        }
        if self.chance(p) {
            m.insert("annotations".into(), json!({"example.com/scraped-by": "prometheus"}));
        }
        if self.chance(p) {
            m.insert(
                "relabelings".into(),
                json!([{"sourceLabels": ["__meta_kubernetes_pod_label_llm_d_ai_role"], "targetLabel": "role", "action": "replace"}]),
            );
        }
        if self.chance(p) {
            m.insert(
                "metricRelabelings".into(),
                json!([{"sourceLabels": ["__name__"], "regex": "vllm:.*", "action": "keep"}]),
            );
        }
        (Value::Object(m), enabled.then_some(port))
    }

    fn tolerations(&mut self) -> Value {
        let mut l = vec![json!({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})];
        if self.chance(0.5) {
            l.push(json!({"key": "dedicated", "operator": "Equal", "value": "llm", "effect": "NoSchedule"}));
        }
        if self.chance(0.3) {
            l.push(json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
        }
        if self.chance(0.2) {
            l.push(json!({"operator": "Exists"}));
        }
        Value::Array(l)
    }

    fn pod_security_context(&mut self) -> Value {
        let mut m = Map::new();
        if self.chance(0.6) {
            m.insert("runAsNonRoot".into(), json!(true));
            m.insert("runAsUser".into(), json!(1000));
        }
        if self.chance(0.5) {
            m.insert("runAsGroup".into(), json!(1000));
        }
        if self.chance(0.6) {
            m.insert("fsGroup".into(), json!(2000));
        }
        if self.chance(0.3) {
            m.insert("fsGroupChangePolicy".into(), json!("OnRootMismatch"));
        }
        if self.chance(0.3) {
            m.insert("supplementalGroups".into(), json!([44, 109]));
        }
        if self.chance(0.4) {
            m.insert("seccompProfile".into(), json!({"type": "RuntimeDefault"}));
        }
        if self.chance(0.2) {
            m.insert("sysctls".into(), json!([{"name": "net.ipv4.ip_local_port_range", "value": "1024 65000"}]));
        }
        if m.is_empty() {
            m.insert("runAsNonRoot".into(), json!(true));
        }
        Value::Object(m)
    }

    fn pod_extra_config(&mut self, cx: &Cx, pod: &mut Pod) -> Value {
        let mut m = Map::new();
        if pod.needs_os {
            m.insert("os".into(), json!({"name": "linux"}));
        }
        let mut candidates: Vec<&str> = vec![
            "dnsConfig",
            "runtimeClassName",
            "shareProcessNamespace",
            "topologySpreadConstraints",
            "hostAliases",
            "readinessGates",
            "automountServiceAccountToken",
            "hostname",
            "subdomain",
            "schedulingGates",
            "preemptionPolicy",
            "dnsPolicy",
            "hostNetwork",
            "os",
        ];
        for k in [
            "securityContext",
            "affinity",
            "nodeSelector",
            "tolerations",
            "imagePullSecrets",
            "schedulerName",
            "priorityClassName",
            "enableServiceLinks",
            "terminationGracePeriodSeconds",
            "hostIPC",
            "hostPID",
        ] {
            if !pod.written.contains(k) {
                candidates.push(k);
            }
        }
        let n = 1 + self.rng.below(3);
        for _ in 0..n {
            let k = self.pick(&candidates);
            if m.contains_key(k) {
                continue;
            }
            let v = match k {
                "dnsConfig" => {
                    json!({"options": [{"name": "ndots", "value": "2"}], "searches": ["{{ .Release.Namespace }}.svc.cluster.local"]})
                }
                "runtimeClassName" => json!(self.pick(&["nvidia", "kata"])),
                "shareProcessNamespace" if !pod.host_pid => json!(true),
                "topologySpreadConstraints" => json!([{
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": {"llm-d.ai/role": pod.role}},
                }]),
                "hostAliases" => json!([{
                    "ip": "10.0.0.10",
                    "hostnames": ["{{ .Release.Name }}-cache.{{ .Release.Namespace }}.local"],
                }]),
                "readinessGates" => json!([{"conditionType": "example.com/model-loaded"}]),
                "automountServiceAccountToken" => json!(self.chance(0.5)),
                "hostname" if !cx.dotted => json!(self.pick(NAME_TEMPLATES)),
                "subdomain" if !cx.dotted && !cx.release.contains("llm-d-modelservice") => json!("{{ .Release.Name }}"),
                "schedulingGates" => json!([{"name": "example.com/quota"}]),
                "preemptionPolicy" => json!(self.pick(&["Never", "PreemptLowerPriority"])),
                "dnsPolicy" => json!(self.pick(&["ClusterFirst", "Default"])),
                "hostNetwork" if pod.host_ports.is_empty() => json!(false),
                "os" if !pod.windows => json!({"name": "linux"}),
                "securityContext" => self.pod_security_context(),
                "affinity" => json!({"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                    "weight": 100,
                    "podAffinityTerm": {
                        "topologyKey": "kubernetes.io/hostname",
                        "labelSelector": {"matchLabels": {"llm-d.ai/role": pod.role}},
                    },
                }]}}),
                "nodeSelector" => json!({"kubernetes.io/os": "linux"}),
                "tolerations" => json!([{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]),
                "imagePullSecrets" => json!([{"name": "{{ .Release.Name }}-pull"}]),
                "schedulerName" => json!("kai-scheduler"),
                "priorityClassName" => json!("high-priority"),
                "enableServiceLinks" => json!(false),
                "terminationGracePeriodSeconds" => json!(90),
                "hostIPC" => json!(true),
                "hostPID" if !m.contains_key("shareProcessNamespace") => json!(false),
                _ => continue,
            };
            m.insert(k.into(), v);
        }
        if self.chance(0.1) {
            // extraConfig may be text too: the chart inserts a string as it is.
            let text = m
                .iter()
                .filter(|(_, v)| !v.is_object() && !v.is_array())
                .map(|(k, v)| match v {
                    // Single quotes: a template's own double quotes stay as they are.
                    Value::String(t) => format!("{k}: '{}'", t.replace('\'', "''")),
                    other => format!("{k}: {other}"),
                })
                .collect::<Vec<_>>();
            if !text.is_empty() && m.iter().all(|(_, v)| !v.is_object() && !v.is_array()) {
                return json!(text.join("\n"));
            }
        }
        Value::Object(m)
    }

    // ------------------------------------------------------------------------------ containers

    fn container_name(&mut self, pod: &mut Pod, first: &str, others: &[&str]) -> String {
        let mut name = first.to_string();
        let mut i = 0;
        while pod.container_names.contains(&name) {
            name = if i < others.len() { others[i].to_string() } else { format!("{first}-{i}") };
            i += 1;
        }
        pod.container_names.insert(name.clone());
        name
    }

    fn port_name(&mut self, pod: &mut Pod, wanted: &str) -> Option<String> {
        if pod.port_names.insert(wanted.to_string()) { Some(wanted.to_string()) } else { None }
    }

    fn container(&mut self, cx: &Cx, pod: &mut Pod, index: usize, accel_type: &str, dra: bool) -> Value {
        let mut m = Map::new();
        let name = if index == 0 {
            if self.chance(0.85) {
                self.container_name(pod, "vllm", &["vllm-0"])
            } else {
                self.container_name(pod, "server", &["engine"])
            }
        } else {
            let first = self.pick(&["sidecar", "metrics-exporter", "kv-offload"]);
            self.container_name(pod, first, &["helper"])
        };
        let default_name = name == "vllm" && self.chance(0.15);
        if !default_name {
            m.insert("name".into(), json!(name));
        }
        let image = if index == 0 { self.pick(VLLM_IMAGES) } else { self.pick(HELPER_IMAGES) };
        m.insert("image".into(), json!(image));

        // The command. oci:// only with custom commands (the chart fails on its model argument).
        let custom_only = cx.scheme == Scheme::Oci;
        let command = if custom_only || index > 0 && self.chance(0.7) {
            if self.chance(0.2) { "" } else { "custom" }
        } else {
            self.pick(&["vllmServe", "vllmServe", "imageDefault", "custom", ""])
        };
        if !command.is_empty() {
            m.insert("modelCommand".into(), json!(command));
        }
        let custom = command == "custom" || command.is_empty();
        if custom {
            let c = if index == 0 {
                self.pick(&[
                    json!(["vllm", "serve"]),
                    json!(["python3", "-m", "vllm.entrypoints.openai.api_server"]),
                    json!(["/bin/sh", "-c", "exec vllm serve \"$MODEL\" --port 8200"]),
                ])
            } else {
                self.pick(&[json!(["sleep", "infinity"]), json!(["/bin/sh", "-c", "while true; do sleep 30; done"])])
            };
            m.insert("command".into(), c);
        } else if self.chance(0.08) {
            // Ignored with vllmServe and imageDefault.
            m.insert("command".into(), json!(["ignored"]));
        } else if self.chance(0.2) {
            m.insert("command".into(), json!([]));
        }
        if self.chance(0.6) {
            let mut args = Vec::new();
            if custom && index == 0 && self.chance(0.5) {
                args.extend([json!("--model"), json!(format!("{}/model", cx.mount_path))]);
            }
            for (flags, p) in [
                (vec!["--enforce-eager"], 0.4),
                (vec!["--max-model-len", "4096"], 0.3),
                (vec!["--kv-transfer-config", "{\"kv_connector\":\"NixlConnector\", \"kv_role\":\"kv_both\"}"], 0.3),
                (vec!["--gpu-memory-utilization", "0.9"], 0.2),
                (vec!["--block-size", "128"], 0.1),
                (vec!["--disable-log-requests"], 0.1),
            ] {
                if self.chance(p) {
                    args.extend(flags.into_iter().map(|f| json!(f)));
                }
            }
            m.insert("args".into(), Value::Array(args));
        }

        // Ports before probes and the environment (which may name them).
        let mut own_ports: Vec<(i64, Option<String>)> = Vec::new();
        if index == 0 && (self.chance(0.6) || pod.monitor_port.is_some()) || index > 0 && self.chance(0.3) {
            let mut l = Vec::new();
            let wanted = if index == 0 { pod.vllm_port } else { 9400 };
            if pod.ports.insert(wanted) {
                let mut p = Map::new();
                p.insert("containerPort".into(), json!(wanted));
                let name = match &pod.monitor_port {
                    Some(port) if index == 0 => Some(port.clone()),
                    _ if self.chance(0.5) => Some(if index == 0 { "http".into() } else { "exporter".into() }),
                    _ => None,
                };
                if let Some(n) = name.and_then(|n| self.port_name(pod, &n)) {
                    let templated =
                        index == 0 && pod.monitor_port.as_deref() == Some(n.as_str()) && self.want("templates", 0.3);
                    p.insert(
                        "name".into(),
                        if templated {
                            json!(format!("{{{{ .Values.{}.monitoring.podmonitor.portName }}}}", pod.role))
                        } else {
                            json!(n)
                        },
                    );
                    own_ports.push((wanted, Some(n)));
                } else {
                    own_ports.push((wanted, None));
                }
                if self.chance(0.5) {
                    p.insert("protocol".into(), json!("TCP"));
                }
                l.push(Value::Object(p));
            }
            if index == 0 && self.chance(0.4) && pod.ports.insert(5600) {
                let mut p = Map::new();
                p.insert("containerPort".into(), json!(5600));
                if let Some(n) = self.port_name(pod, "nixl") {
                    p.insert("name".into(), json!(n));
                }
                p.insert("protocol".into(), json!("TCP"));
                l.push(Value::Object(p));
            }
            if self.chance(0.08) && pod.ports.insert(5557) && pod.host_ports.insert(5557) {
                let mut p = json!({"containerPort": 5557, "hostPort": 5557, "protocol": "TCP"});
                if self.chance(0.5) {
                    p["hostIP"] = json!("0.0.0.0");
                }
                l.push(p);
            }
            if !l.is_empty() {
                m.insert("ports".into(), Value::Array(l));
            }
        }

        // Whether this is a model container (mounts the model or runs vLLM), and the mount.
        let vllm = !custom;
        let mount = if vllm {
            // Not mounting the model with pvc:// is a deliberate refusal of msws's: seldom.
            if cx.scheme == Scheme::Hf || cx.scheme == Scheme::PvcHf { self.chance(0.85) } else { self.chance(0.95) }
        } else {
            index == 0 && self.chance(0.5)
        };
        if !mount || self.chance(0.7) {
            m.insert("mountModelVolume".into(), json!(mount));
        }

        // The environment.
        if self.want("env", 0.55) {
            let env = self.env(cx, pod, &name, index == 0 && (vllm || mount), accel_type);
            m.insert("env".into(), env);
        } else if self.chance(0.1) {
            m.insert("env".into(), json!([]));
        }
        if self.chance(0.2) {
            m.insert("imagePullPolicy".into(), json!(self.pick(&["Always", "IfNotPresent", "Never", ""])));
        }

        // Resources.
        if self.want("resources", 0.5) {
            m.insert("resources".into(), self.resources(cx, pod, image, accel_type, dra, index == 0));
        }

        // Mounts of the pod's volumes.
        let mut paths: BTreeSet<String> = BTreeSet::new();
        if mount {
            paths.insert(cx.mount_path.clone());
        }
        let mut mounted: BTreeSet<String> = BTreeSet::new();
        if self.chance(0.55) {
            let mounts = self.volume_mounts(pod, &mut paths, &mut mounted, false);
            m.insert("volumeMounts".into(), mounts);
        }

        if self.want("security", 0.15) {
            m.insert("securityContext".into(), self.security_context(false));
        }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
            if self.want("probes", 0.15) {
                m.insert(probe.into(), self.probe(probe, &own_ports, false));
            }
        }
        if self.chance(0.08) {
            m.insert("workingDir".into(), json!(self.pick(&["/workspace", "/opt/app", ""])));
        }
        if self.chance(0.08) {
            m.insert("stdin".into(), json!(self.chance(0.7)));
        }
        if self.chance(0.08) {
            m.insert("tty".into(), json!(self.chance(0.7)));
        }
        if self.want("container-extra-config", 0.1) {
            let ec = self.container_extra_config(pod, &m, &mounted, &mut paths, command);
            m.insert("extraConfig".into(), ec);
        }
        Value::Object(m)
    }

    /// Environment variables of every form, with templates (the chart renders `env`).
    fn env(&mut self, cx: &Cx, pod: &mut Pod, container: &str, model: bool, accel_type: &str) -> Value {
        let mut l: Vec<Value> = Vec::new();
        let mut names: BTreeSet<String> = BTreeSet::new();
        let n = self.range(1, 6);
        for _ in 0..n {
            let (name, v) = match self.rng.below(14) {
                0 => ("VLLM_LOGGING_LEVEL", json!({"value": self.pick(&["DEBUG", "INFO"])})),
                1 => ("UCX_TLS", json!({"value": "cuda_ipc,cuda_copy,tcp"})),
                2 => ("VLLM_NIXL_SIDE_CHANNEL_HOST", json!({"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})),
                3 => ("VLLM_NIXL_SIDE_CHANNEL_PORT", json!({"value": "5600"})),
                4 => (
                    "POD_NAME",
                    json!({"valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": self.pick(&["metadata.name", "metadata.labels['llm-d.ai/role']"])}}}),
                ),
                5 => (
                    "MEMORY_LIMIT",
                    json!({"valueFrom": {"resourceFieldRef": {
                        "containerName": container,
                        "resource": "limits.memory",
                        "divisor": self.pick(&["1Mi", "1Gi", "1"])}}}),
                ),
                6 => (
                    "CPU_REQUEST",
                    json!({"valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1m"}}}),
                ),
                7 => ("VLLM_API_KEY", {
                    let mut s = json!({"name": "vllm-api", "key": "api-key"});
                    if self.chance(0.5) {
                        s["optional"] = json!(self.chance(0.5));
                    }
                    json!({"valueFrom": {"secretKeyRef": s}})
                }),
                8 => ("VLLM_CONFIG", {
                    let mut s = json!({"name": "vllm-config", "key": "config.yaml"});
                    if self.chance(0.5) {
                        s["optional"] = json!(true);
                    }
                    json!({"valueFrom": {"configMapKeyRef": s}})
                }),
                9 => match pod.volumes.iter().find(|(_, s)| s == "emptyDir").map(|(n, _)| n.clone()) {
                    Some(vol) => ("MODEL_REVISION", {
                        let mut f = json!({"volumeName": vol, "path": "revision.env", "key": "MODEL_REVISION"});
                        if self.chance(0.5) {
                            f["optional"] = json!(true);
                        }
                        json!({"valueFrom": {"fileKeyRef": f}})
                    }),
                    None => ("EMPTY_VALUE", json!({"value": ""})),
                },
                10 | 11 => {
                    // Templates, rendered by the chart.
                    let t = self.pick(TEXT_TEMPLATES);
                    let name = self.pick(&["RELEASE_INFO", "SERVED_MODEL", "SERVICE_URL", "OTEL_RESOURCE_ATTRIBUTES"]);
                    let value = if self.chance(0.3) { format!("prefix-{t}") } else { t.to_string() };
                    (name, json!({ "value": value }))
                }
                12 => ("EMPTY_VALUE", json!({"value": ""})),
                _ => ("PYTHONHASHSEED", json!({"value": "0"})),
            };
            if !names.insert(name.to_string()) {
                continue;
            }
            let mut e = Map::new();
            e.insert("name".into(), json!(name));
            for (k, v) in v.as_object().unwrap() {
                e.insert(k.clone(), v.clone());
            }
            l.push(Value::Object(e));
        }
        // A variable the chart adds too: a documented deliberate difference (the container's own
        // value wins in msws; the chart repeats it, and its own comes last).
        if model && self.chance(0.12) {
            let mut dup: Vec<String> =
                vec!["DP_SIZE".into(), "TP_SIZE".into(), "HF_HOME".into(), "DP_SIZE_LOCAL".into()];
            if let Some(Value::Array(a)) = cx.accel_env.get(accel_type) {
                dup.extend(a.iter().filter_map(|e| e["name"].as_str().map(str::to_string)));
            }
            let name = self.pick(&dup);
            if names.insert(name.clone()) {
                let value = if name == "HF_HOME" { "/tmp/hf".to_string() } else { "1".to_string() };
                l.push(json!({"name": name, "value": value}));
            }
        }
        Value::Array(l)
    }

    fn resources(&mut self, cx: &Cx, pod: &Pod, image: &str, accel_type: &str, dra: bool, first: bool) -> Value {
        if self.chance(0.1) {
            // The chart's own default shape.
            return json!({"limits": {}, "requests": {}});
        }
        let mut limits = Map::new();
        let mut requests = Map::new();
        let (cpu, mem) = self.pick(&[("16", "16Gi"), ("8", "64Gi"), ("500m", "1Gi"), ("2", "8Gi"), ("4", "32Gi")]);
        match self.rng.below(4) {
            0 => {
                limits.insert("cpu".into(), json!(cpu));
                limits.insert("memory".into(), json!(mem));
                requests.insert("cpu".into(), json!(cpu));
                requests.insert("memory".into(), json!(mem));
            }
            1 => {
                limits.insert("memory".into(), json!(mem));
                requests.insert("cpu".into(), json!(self.pick(&["1", "250m", "2"])));
                requests.insert("memory".into(), json!(mem));
            }
            2 => {
                requests.insert("cpu".into(), json!(self.pick(&[json!(4), json!("4"), json!(0.5)])));
            }
            _ => {
                limits.insert("memory".into(), json!(mem));
                limits.insert("ephemeral-storage".into(), json!("20Gi"));
            }
        }
        // The accelerator count given explicitly (a TPU pod needs fewer chips than its TP size).
        let sim = image.contains("llm-d-inference-sim");
        if first && !dra && !sim && accel_type != "cpu" && self.chance(0.2) {
            let resource = cx.resources.get(accel_type).and_then(Value::as_str).unwrap_or("nvidia.com/gpu").to_string();
            let n = if self.chance(0.5) { pod.gpus.max(1) } else { self.pick(&[1, 2, 4]) };
            let v = if self.chance(0.5) { json!(n) } else { json!(n.to_string()) };
            limits.insert(resource.clone(), v.clone());
            requests.insert(resource, v);
        }
        let mut m = Map::new();
        if !limits.is_empty() || self.chance(0.3) {
            m.insert("limits".into(), Value::Object(limits));
        }
        if !requests.is_empty() || self.chance(0.3) {
            m.insert("requests".into(), Value::Object(requests));
        }
        Value::Object(m)
    }

    fn volume_mounts(
        &mut self,
        pod: &Pod,
        paths: &mut BTreeSet<String>,
        mounted: &mut BTreeSet<String>,
        init: bool,
    ) -> Value {
        let mut l = Vec::new();
        for (name, source) in pod.volumes.clone() {
            if name == "block-dev" || !self.chance(if name == "metrics-volume" { 0.8 } else { 0.6 }) {
                continue;
            }
            let path = match name.as_str() {
                "metrics-volume" => "/.config".to_string(),
                "shm" => "/dev/shm".to_string(),
                "cache" => "/root/.cache".to_string(),
                "config" => "/etc/vllm".to_string(),
                "certs" => "/certs".to_string(),
                "token" => "/var/run/secrets/tokens".to_string(),
                other => format!("/mnt/{other}"),
            };
            if !paths.insert(path.clone()) {
                continue;
            }
            mounted.insert(name.clone());
            let mut m = Map::new();
            m.insert("name".into(), json!(name));
            m.insert("mountPath".into(), json!(path));
            let writable = matches!(source.as_str(), "emptyDir" | "persistentVolumeClaim" | "hostPath");
            let read_only = !writable || self.chance(0.3);
            if read_only || self.chance(0.3) {
                m.insert("readOnly".into(), json!(read_only));
            }
            if init || self.focus == "volumes" {
                if read_only && source != "emptyDir" && self.chance(if self.rich() { 0.7 } else { 0.3 }) {
                    m.insert("recursiveReadOnly".into(), json!(self.pick(&["IfPossible", "Enabled", "Disabled"])));
                } else if self.chance(0.2) {
                    m.insert("mountPropagation".into(), json!(self.pick(&["None", "HostToContainer"])));
                }
                if self.chance(0.2) {
                    m.insert("subPathExpr".into(), json!("$(POD_NAME)"));
                } else if self.chance(0.2) {
                    m.insert("subPath".into(), json!("sub"));
                }
            } else if self.chance(0.15) {
                m.insert("subPath".into(), json!("vllm"));
            }
            l.push(Value::Object(m));
        }
        Value::Array(l)
    }

    fn security_context(&mut self, full: bool) -> Value {
        let mut m = Map::new();
        let privileged =
            if full && self.rich() { self.turn(7, 2) == 0 } else { self.chance(if full { 0.3 } else { 0.15 }) };
        if privileged {
            m.insert("privileged".into(), json!(true));
        } else if self.chance(0.6) {
            m.insert("allowPrivilegeEscalation".into(), json!(false));
        }
        if self.chance(0.5) {
            m.insert("runAsNonRoot".into(), json!(true));
        }
        if self.chance(0.4) {
            m.insert("runAsUser".into(), json!(self.pick(&[1000, 1001, 65532])));
        }
        if self.chance(0.3) {
            m.insert("runAsGroup".into(), json!(1000));
        }
        if full || self.chance(0.3) {
            m.insert("readOnlyRootFilesystem".into(), json!(self.chance(0.6)));
        }
        if self.chance(0.4) {
            let mut c = Map::new();
            if self.chance(0.6) {
                let add = if m.get("allowPrivilegeEscalation") == Some(&json!(false)) {
                    json!(["NET_BIND_SERVICE"])
                } else {
                    self.pick(&[json!(["IPC_LOCK"]), json!(["SYS_PTRACE", "IPC_LOCK"]), json!(["NET_BIND_SERVICE"])])
                };
                c.insert("add".into(), add);
            }
            if c.is_empty() || self.chance(0.6) {
                c.insert("drop".into(), json!(["ALL"]));
            }
            m.insert("capabilities".into(), Value::Object(c));
        }
        let p = if full && self.rich() {
            0.8
        } else if full {
            0.35
        } else {
            0.08
        };
        if self.chance(p) {
            m.insert(
                "seccompProfile".into(),
                self.pick(&[
                    json!({"type": "RuntimeDefault"}),
                    json!({"type": "Localhost", "localhostProfile": "profiles/vllm.json"}),
                ]),
            );
        }
        if self.chance(p) {
            m.insert(
                "appArmorProfile".into(),
                self.pick(&[
                    json!({"type": "RuntimeDefault"}),
                    json!({"type": "Localhost", "localhostProfile": "k8s-vllm"}),
                ]),
            );
        }
        if self.chance(p) {
            m.insert("seLinuxOptions".into(), json!({"level": "s0:c123,c456", "role": "object_r", "type": "svirt_sandbox_file_t", "user": "system_u"}));
        }
        if self.chance(p) {
            m.insert("procMount".into(), json!("Default"));
        }
        if full && self.chance(p) {
            m.insert(
                "windowsOptions".into(),
                json!({"gmsaCredentialSpec": "{}", "gmsaCredentialSpecName": "gmsa", "hostProcess": false, "runAsUserName": "ContainerUser"}),
            );
        }
        if m.is_empty() {
            m.insert("runAsNonRoot".into(), json!(true));
        }
        Value::Object(m)
    }

    /// A probe of any form. `ports` are the container's own (number, name).
    fn probe(&mut self, kind: &str, ports: &[(i64, Option<String>)], full: bool) -> Value {
        let port_ref = |g: &mut Gen| -> Value {
            let named: Vec<&String> = ports.iter().filter_map(|(_, n)| n.as_ref()).collect();
            if !named.is_empty() && g.chance(0.4) {
                json!(named[g.rng.below(named.len())])
            } else if let Some((p, _)) = ports.first() {
                json!(p)
            } else {
                json!(8000)
            }
        };
        let mut m = Map::new();
        let rich = full && self.rich();
        let salt = match kind {
            "livenessProbe" => 0,
            "readinessProbe" => 1,
            _ => 2,
        };
        let handler = if rich { self.turn(salt, 4) } else { self.rng.below(4) };
        match handler {
            0 => {
                let mut h = Map::new();
                h.insert("path".into(), json!(self.pick(&["/health", "/v1/models", "/ready"])));
                h.insert("port".into(), port_ref(self));
                if rich || self.chance(0.3) {
                    h.insert("scheme".into(), json!(self.pick(&["HTTPS", "HTTP"])));
                }
                if rich || self.chance(if full { 0.4 } else { 0.2 }) {
                    h.insert("host".into(), json!("127.0.0.1"));
                }
                if rich || self.chance(if full { 0.4 } else { 0.2 }) {
                    h.insert("httpHeaders".into(), json!([{"name": "X-Probe", "value": kind}]));
                }
                m.insert("httpGet".into(), Value::Object(h));
            }
            1 => {
                let mut t = json!({ "port": port_ref(self) });
                if rich || self.chance(if full { 0.4 } else { 0.1 }) {
                    t["host"] = json!("127.0.0.1");
                }
                m.insert("tcpSocket".into(), t);
            }
            2 => {
                m.insert("exec".into(), json!({"command": ["/bin/sh", "-c", "curl -sf localhost:8000/health"]}));
            }
            _ => {
                let mut g = json!({"port": self.pick(&[9000, 50051])});
                if rich || self.chance(0.5) {
                    g["service"] = json!("vllm.health");
                }
                m.insert("grpc".into(), g);
            }
        }
        for (k, lo, hi, p) in [
            ("initialDelaySeconds", 0, 600, 0.5),
            ("periodSeconds", 1, 30, 0.5),
            ("timeoutSeconds", 1, 10, 0.4),
            ("failureThreshold", 1, 60, 0.4),
        ] {
            if rich || self.chance(p) {
                m.insert(k.into(), json!(self.range(lo, hi)));
            }
        }
        if rich || self.chance(0.3) {
            // Liveness and startup probes must succeed once.
            m.insert("successThreshold".into(), json!(if kind == "readinessProbe" { self.range(1, 3) } else { 1 }));
        }
        if kind != "readinessProbe" && (rich || self.chance(if full { 0.3 } else { 0.1 })) {
            m.insert("terminationGracePeriodSeconds".into(), json!(self.range(5, 60)));
        }
        Value::Object(m)
    }

    /// Fields of a container the chart does not write itself for this container, as its
    /// `extraConfig`, with templates (the chart renders it).
    fn container_extra_config(
        &mut self,
        pod: &mut Pod,
        c: &Map<String, Value>,
        mounted: &BTreeSet<String>,
        paths: &mut BTreeSet<String>,
        command: &str,
    ) -> Value {
        let mut candidates: Vec<&str> =
            vec!["lifecycle", "envFrom", "terminationMessagePath", "terminationMessagePolicy", "resizePolicy"];
        let set = |k: &str| c.get(k).is_some_and(|v| !(v.is_null() || v == "" || v == &json!(false)));
        for k in [
            "securityContext",
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
            "workingDir",
            "stdin",
            "tty",
            "imagePullPolicy",
        ] {
            if !set(k) {
                candidates.push(k);
            }
        }
        if c.get("ports").is_none() {
            candidates.push("ports");
        }
        if command == "imageDefault" {
            // Only args are written for the image's own command.
            candidates.push("command");
        }
        if pod.volumes.iter().any(|(n, s)| s == "persistentVolumeClaim" && !mounted.contains(n)) {
            candidates.push("volumeDevices");
        }
        let mut m = Map::new();
        let n = 1 + self.rng.below(3);
        for _ in 0..n {
            let k = self.pick(&candidates);
            if m.contains_key(k) {
                continue;
            }
            let v = match k {
                "lifecycle" => json!({"preStop": {"sleep": {"seconds": self.range(5, 30)}}}),
                "envFrom" => json!([{"configMapRef": {"name": "{{ include \"llm-d-modelservice.fullname\" . }}-env"}}]),
                "terminationMessagePath" => json!("/tmp/{{ .Release.Name }}-termination-log"),
                "terminationMessagePolicy" => json!("FallbackToLogsOnError"),
                "resizePolicy" => json!([{"resourceName": "cpu", "restartPolicy": "NotRequired"}]),
                "securityContext" => self.security_context(false),
                "livenessProbe" | "readinessProbe" | "startupProbe" => self.probe(k, &[], false),
                "workingDir" => json!("/workspace"),
                "stdin" => json!(true),
                "tty" => json!(true),
                "imagePullPolicy" => json!("IfNotPresent"),
                "ports" => {
                    json!([{"containerPort": 9090, "name": "{{ .Values.decode.monitoring.podmonitor.portName }}-x"}])
                }
                "command" => json!(["/usr/bin/env", "vllm", "serve"]),
                "volumeDevices" => {
                    let (vol, _) = pod
                        .volumes
                        .iter()
                        .find(|(n, s)| s == "persistentVolumeClaim" && !mounted.contains(n))
                        .unwrap()
                        .clone();
                    if !paths.insert("/dev/xvda".into()) {
                        continue;
                    }
                    json!([{"name": vol, "devicePath": "/dev/xvda"}])
                }
                _ => continue,
            };
            // One such port in the pod: its name is the same template in every container.
            if k == "ports" && !pod.ports.insert(9090) {
                continue;
            }
            m.insert(k.into(), v);
        }
        if m.is_empty() {
            m.insert("terminationMessagePolicy".into(), json!("File"));
        }
        Value::Object(m)
    }

    /// An init container, with any field of a Kubernetes Container (the chart writes the list as
    /// it is: no templates). A restartable one (a native sidecar) may have probes, lifecycle
    /// hooks and resize policies; a plain one may not.
    fn init_container(&mut self, pod: &mut Pod, restartable: bool) -> Value {
        let mut m = Map::new();
        let name = if restartable {
            self.container_name(pod, "kv-cache-sidecar", &["log-shipper", "proxy-helper"])
        } else {
            self.container_name(pod, "fetch-config", &["wait-for-model", "prepare"])
        };
        m.insert("name".into(), json!(name));
        m.insert("image".into(), json!(self.pick(HELPER_IMAGES)));
        let rich = self.rich();
        let p = if rich { 0.8 } else { 0.25 };
        m.insert(
            "command".into(),
            if restartable { json!(["/bin/sh", "-c", "sleep infinity"]) } else { json!(["/bin/sh", "-c"]) },
        );
        if self.chance(0.7) {
            m.insert("args".into(), json!([if restartable { "--verbose" } else { "echo ready > /work/ready" }]));
        }
        // Not drawn: `restartPolicyRules`, which need a restart policy other than Always, which an
        // API server refuses on an init container unless its ContainerRestartRules gate is on.
        if restartable {
            m.insert("restartPolicy".into(), json!("Always"));
        }
        if self.chance(p) {
            m.insert("imagePullPolicy".into(), json!(self.pick(&["IfNotPresent", "Always", "Never"])));
        }
        if self.chance(p) {
            // Unlike the containers', no template is rendered here: it stays as written.
            let mut env = vec![
                json!({"name": "MODE", "value": if self.chance(0.2) { "{{ .Release.Name }}" } else { "init" }}),
                json!({"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName", "apiVersion": "v1"}}}),
            ];
            if self.chance(0.6) {
                env.push(json!({"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN", "optional": true}}}));
            }
            if self.chance(0.6) {
                env.push(json!({"name": "SETTINGS", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "settings.json", "optional": false}}}));
            }
            if self.chance(0.6) {
                env.push(json!({"name": "MEM", "valueFrom": {"resourceFieldRef": {"containerName": name, "resource": "limits.memory", "divisor": "1Mi"}}}));
            }
            if let Some((vol, _)) = pod.volumes.iter().find(|(_, s)| s == "emptyDir")
                && self.chance(0.6)
            {
                env.push(json!({"name": "FROM_FILE", "valueFrom": {"fileKeyRef": {"volumeName": vol, "path": "vars.env", "key": "FROM_FILE", "optional": true}}}));
            }
            m.insert("env".into(), Value::Array(env));
        }
        if self.chance(p) {
            m.insert(
                "envFrom".into(),
                json!([{"configMapRef": {"name": "init-env", "optional": true}, "prefix": "CFG_"}, {"secretRef": {"name": "init-secrets", "optional": false}}]),
            );
        }
        let mut own_ports = Vec::new();
        if restartable && (rich || self.chance(p)) {
            let port = if pod.ports.insert(9100) { 9100 } else { 9101 };
            pod.ports.insert(port);
            let mut pm = Map::new();
            pm.insert("containerPort".into(), json!(port));
            let pname = self.port_name(pod, if port == 9100 { "sidecar-http" } else { "sidecar-http2" });
            if let Some(n) = &pname {
                pm.insert("name".into(), json!(n));
            }
            pm.insert("protocol".into(), json!(self.pick(&["TCP", "UDP", "SCTP"])));
            if pm["protocol"] != "TCP" {
                pm.insert("protocol".into(), json!("TCP"));
            }
            if self.chance(if rich { 0.8 } else { 0.3 }) && pod.host_ports.insert(19100) {
                pm.insert("hostPort".into(), json!(19100));
                pm.insert("hostIP".into(), json!("127.0.0.1"));
            }
            own_ports.push((port, pname));
            m.insert("ports".into(), json!([pm]));
        }
        if self.chance(p) {
            let mut r =
                json!({"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}});
            if !pod.claims.is_empty() && (rich || self.chance(0.6)) {
                let mut claim = json!({"name": pod.claims[0]});
                if rich || self.chance(0.5) {
                    claim["request"] = json!("gpu");
                }
                r["claims"] = json!([claim]);
            }
            m.insert("resources".into(), r);
        }
        if self.chance(p) {
            let mut sc = self.security_context(true);
            if sc.get("windowsOptions").is_some() {
                if pod.needs_os {
                    sc.as_object_mut().unwrap().remove("windowsOptions");
                } else {
                    pod.windows = true;
                }
            }
            m.insert("securityContext".into(), sc);
        }
        if self.chance(p * 0.6) {
            let stdin = self.chance(0.8);
            m.insert("stdin".into(), json!(stdin));
            if stdin && self.chance(0.7) {
                m.insert("stdinOnce".into(), json!(true));
            }
            m.insert("tty".into(), json!(self.chance(0.5)));
        }
        if self.chance(p) {
            m.insert("terminationMessagePath".into(), json!("/dev/termination-log"));
            m.insert("terminationMessagePolicy".into(), json!(self.pick(&["File", "FallbackToLogsOnError"])));
        }
        let mut paths = BTreeSet::new();
        let mut mounted = BTreeSet::new();
        if self.chance(p + 0.2) {
            let mounts = self.volume_mounts(pod, &mut paths, &mut mounted, true);
            m.insert("volumeMounts".into(), mounts);
        }
        if let Some((vol, _)) = pod.volumes.iter().find(|(n, s)| s == "persistentVolumeClaim" && !mounted.contains(n))
            && self.chance(p)
        {
            m.insert("volumeDevices".into(), json!([{"name": vol, "devicePath": "/dev/block0"}]));
        }
        if self.chance(p) {
            m.insert("workingDir".into(), json!("/work"));
        }
        if restartable {
            if self.chance(p + 0.2) {
                let mut l = Map::new();
                if rich || self.chance(0.7) {
                    l.insert("postStart".into(), self.handler(&own_ports, 0));
                }
                if rich || self.chance(0.7) {
                    l.insert("preStop".into(), self.handler(&own_ports, 1));
                }
                if !pod.windows && (rich || self.chance(0.4)) {
                    l.insert("stopSignal".into(), json!(self.pick(&["SIGTERM", "SIGINT", "SIGUSR1"])));
                    pod.needs_os = true;
                }
                if l.is_empty() {
                    l.insert("preStop".into(), json!({"sleep": {"seconds": 5}}));
                }
                m.insert("lifecycle".into(), Value::Object(l));
            }
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                if rich || self.chance(p) {
                    m.insert(probe.into(), self.probe(probe, &own_ports, true));
                }
            }
            if self.chance(p) {
                m.insert(
                    "resizePolicy".into(),
                    json!([{"resourceName": "cpu", "restartPolicy": "NotRequired"}, {"resourceName": "memory", "restartPolicy": "RestartContainer"}]),
                );
            }
        }
        Value::Object(m)
    }

    /// A lifecycle hook's handler.
    fn handler(&mut self, ports: &[(i64, Option<String>)], salt: u64) -> Value {
        let rich = self.rich();
        let port = match ports.first() {
            Some((_, Some(n))) if self.chance(0.5) => json!(n),
            Some((p, _)) => json!(p),
            None => json!(8080),
        };
        let kind = if rich { self.turn(salt, 4) } else { self.rng.below(4) };
        match kind {
            0 => json!({"exec": {"command": ["/bin/sh", "-c", "echo hook"]}}),
            1 => {
                let mut h = json!({"path": "/hook", "port": port});
                if rich || self.chance(0.6) {
                    h["host"] = json!("localhost");
                }
                if rich || self.chance(0.6) {
                    h["scheme"] = json!(self.pick(&["HTTP", "HTTPS"]));
                }
                if rich || self.chance(0.6) {
                    h["httpHeaders"] = json!([{"name": "X-Hook", "value": "1"}]);
                }
                json!({ "httpGet": h })
            }
            2 => json!({"sleep": {"seconds": self.range(1, 10)}}),
            _ => {
                let mut t = json!({ "port": port });
                if rich || self.chance(0.6) {
                    t["host"] = json!("localhost");
                }
                json!({ "tcpSocket": t })
            }
        }
    }

    // ------------------------------------------------------------------------------ extraObjects

    fn extra_objects(&mut self, cx: &Cx) -> Value {
        let mut l = Vec::new();
        let fullname = "{{ include \"llm-d-modelservice.fullname\" . }}";
        let selector = |role: &str| {
            let mut s = cx.model_labels.clone();
            s.insert("llm-d.ai/role".into(), json!(role));
            Value::Object(s)
        };
        let n = 1 + self.rng.below(3);
        let mut kinds = BTreeSet::new();
        for _ in 0..n {
            let k = self.rng.below(5);
            if !kinds.insert(k) {
                continue;
            }
            let o = match k {
                0 => {
                    let mut data = Map::new();
                    data.insert("MODEL".into(), json!("{{ .Values.modelArtifacts.name }}"));
                    data.insert("RELEASE".into(), json!(self.pick(TEXT_TEMPLATES)));
                    if self.chance(0.5) {
                        data.insert(
                            "config.yaml".into(),
                            json!("model: {{ .Values.modelArtifacts.name }}\nport: {{ .Values.routing.servicePort }}\nnamespace: {{ .Release.Namespace }}\n"),
                        );
                    }
                    if self.chance(0.3) {
                        data.insert("plain".into(), json!("no templates here"));
                    }
                    let mut meta = json!({"name": format!("{fullname}-config")});
                    if self.chance(0.5) {
                        meta["labels"] = json!({"app.kubernetes.io/instance": "{{ .Release.Name }}"});
                    }
                    if self.chance(0.3) {
                        meta["namespace"] = json!("{{ .Release.Namespace }}");
                    }
                    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data})
                }
                1 => json!({
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": if cx.release.contains('.') { "model-service".to_string() } else { format!("{fullname}-svc") }},
                    "spec": {
                        "type": "ClusterIP",
                        "selector": selector("decode"),
                        "ports": [{"name": "http", "port": cx.service_port, "targetPort": cx.service_port, "protocol": "TCP"}],
                    },
                }),
                2 => json!({
                    "apiVersion": "gateway.networking.k8s.io/v1",
                    "kind": "HTTPRoute",
                    "metadata": {"name": format!("{fullname}-route"), "labels": {"app.kubernetes.io/name": "{{ .Chart.Name }}"}},
                    "spec": {
                        "parentRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "infra-gateway"}],
                        "rules": [{
                            "backendRefs": [{"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "{{ .Release.Name }}-pool", "port": cx.service_port}],
                            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                            "timeouts": {"request": "300s"},
                        }],
                    },
                }),
                3 => json!({
                    "apiVersion": "inference.networking.k8s.io/v1",
                    "kind": "InferencePool",
                    "metadata": {"name": "{{ .Release.Name }}-pool"},
                    "spec": {
                        "selector": {"matchLabels": cx.model_labels},
                        "targetPorts": [{"number": cx.service_port}],
                        "endpointPickerRef": {"name": "{{ .Release.Name }}-epp", "port": {"number": 9002}},
                    },
                }),
                _ => json!({
                    "apiVersion": "policy/v1",
                    "kind": "PodDisruptionBudget",
                    "metadata": {"name": "decode-pdb"},
                    "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector("decode")}},
                }),
            };
            l.push(o);
        }
        Value::Array(l)
    }
}

// ---------------------------------------------------------------------------------- YAML

/// The values as a YAML document both Helm (YAML 1.1) and msws (YAML 1.2) read the same: block
/// style, and a string plain only when no reader could take it for anything else (otherwise
/// double-quoted as JSON writes it, which is a YAML double-quoted scalar).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(m, 0, &mut out),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn write_map(m: &Map<String, Value>, indent: usize, out: &mut String) {
    for (k, v) in m {
        out.push_str(&" ".repeat(indent));
        out.push_str(&plain_or_quoted(k));
        out.push(':');
        write_value(v, indent, out);
    }
}

/// A value after `key:` or `- `: inline when a scalar or empty, else on the next lines.
fn write_value(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(m, indent + 2, out);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_list(a, indent + 2, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn write_list(a: &[Value], indent: usize, out: &mut String) {
    for item in a {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Object(m) if !m.is_empty() => {
                // The first key on the dash's line, the others under it.
                let mut first = true;
                for (k, v) in m {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        out.push_str(&" ".repeat(indent + 2));
                    }
                    out.push_str(&plain_or_quoted(k));
                    out.push(':');
                    write_value(v, indent + 2, out);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_list(inner, indent + 2, out);
            }
            other => {
                out.push(' ');
                out.push_str(&scalar(other));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => plain_or_quoted(s),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Words YAML 1.1 (Helm's reader) takes for booleans or null.
const RESERVED: &[&str] = &["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"];

fn plain_or_quoted(s: &str) -> String {
    let mut chars = s.chars();
    let plain = match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '/' => {
            s.chars().all(|c| c.is_ascii_alphanumeric() || "_./-:".contains(c))
                && !s.ends_with(':')
                && !s.contains(": ")
                && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
        }
        _ => false,
    };
    if plain { s.to_string() } else { serde_json::to_string(s).unwrap() }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prints the case of `MSWS_CHART_SEED`, to look at: `MSWS_CHART_SEED=9017 cargo nextest run
    /// --run-ignored only -E 'test(/random::tests::print_a_case/)' --no-capture`.
    #[test]
    #[ignore]
    fn print_a_case() {
        let seed: u64 = std::env::var("MSWS_CHART_SEED").map_or(super::super::SEED, |s| s.parse().unwrap());
        println!("{}", case(0, seed).yaml);
    }

    #[test]
    fn the_same_seed_gives_the_same_case_and_another_seed_another() {
        let a = case(0, 42);
        assert_eq!(a.yaml, case(7, 42).yaml);
        assert_ne!(a.yaml, case(0, 43).yaml);
    }

    #[test]
    fn the_yaml_reads_back_as_the_values() {
        for seed in 0..200 {
            let c = case(0, seed);
            let back: Value =
                serde_yaml_ng::from_str(&c.yaml).unwrap_or_else(|e| panic!("seed {seed}: {e}\n{}", c.yaml));
            assert_eq!(back, c.values, "seed {seed}:\n{}", c.yaml);
        }
    }

    #[test]
    fn strings_that_yaml_1_1_would_read_as_something_else_are_quoted() {
        for s in ["yes", "on", "No", "null", "16", "0.5", "1e3", "", "a: b", "- x", "{{ x }}", "#c", "true"] {
            assert!(plain_or_quoted(s).starts_with('"'), "{s}");
        }
        for s in ["vllm", "hf://facebook/opt-125m", "nvidia.com/gpu", "/model-cache", "llm-d.ai/role"] {
            assert_eq!(plain_or_quoted(s), s);
        }
    }
}
