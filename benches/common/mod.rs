//! What the benchmarks share: the generated workspaces.

#![allow(dead_code)]

pub const SIZES: [usize; 3] = [1, 100, 1000];

/// The roles of [`workspace`]'s model services: a decode and a prefill role on CPU.
const DECODE_AND_PREFILL: &str = r#"    decode replicas=1 extends="std/vllm-decode" {
        container "vllm" {
            args "--enforce-eager"
            env "VLLM_LOGGING_LEVEL" "DEBUG"
            resources cpu="16" memory="16Gi"
        }
    }
    prefill replicas=1 extends="std/vllm-prefill" {
        container "vllm" {
            args "--enforce-eager"
            env "VLLM_LOGGING_LEVEL" "DEBUG"
            resources cpu="16" memory="16Gi"
        }
    }
"#;

/// A workspace with `n` units of storage + download + model-service.
pub fn workspace(n: usize) -> String {
    units("bench", n, DECODE_AND_PREFILL)
}

/// Workspace `name` with `n` units of storage (ReadWriteMany) + download + model-service, each
/// model service with `roles` (KDL lines inside its `model-service` node).
pub fn units(name: &str, n: usize, roles: &str) -> String {
    let mut t = format!(
        "workspace \"{name}\" format=1 {{\n    namespace \"llm-d\"\n}}\n\nsecret \"hf-token\" from-env=\"HF_TOKEN\"\n\n"
    );
    for i in 0..n {
        t += &format!(
            r#"storage "pvc-{i}" {{
    access "ReadWriteMany"
    size "5Gi"
    class "standard"
}}

download "opt-{i}" {{
    from "hf://facebook/opt-125m" revision="main"
    into "pvc-{i}" path="models/opt-{i}"
    token secret="hf-token"
}}

model-service "opt-{i}" {{
    model "opt-{i}"
    served-name "facebook/opt-125m-{i}"
{roles}}}

"#
        );
    }
    t
}
