//! Model services whose workloads are the user's manifests (llm-d's Kustomize recipes): what msws
//! changes in their pod templates to serve the model from a claim, with the reasons it gives, and
//! the manifests it refuses.

use msws::render::{Object, Options, Rendered};
use serde_json::{Value, json};

use crate::support::root;

/// Loads `workspace` (the text of `w.kdl`) beside `files` in a temporary directory.
fn load(workspace: &str, files: &[(&str, &str)]) -> (Result<msws::model::Workspace, Vec<String>>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let p = dir.path().join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    let path = dir.path().join("w.kdl");
    std::fs::write(&path, workspace).unwrap();
    let fe = msws::lower::load(&path, &msws::lower::DiskFiles, &Default::default());
    let errors: Vec<String> = fe
        .sink
        .sorted()
        .into_iter()
        .filter(|d| d.severity == msws::diag::Severity::Error)
        .map(|d| format!("{}: {}", d.message, d.help.clone().unwrap_or_default()))
        .collect();
    (fe.workspace.ok_or(errors), dir)
}

fn render(ws: &msws::model::Workspace) -> Rendered {
    let mut sink = msws::diag::Sink::new();
    let graph = msws::graph::build(ws, &mut sink).unwrap();
    msws::render::render(ws, &graph, &Options { namespace: "llm-d".into(), ..Default::default() })
}

fn object(r: &Rendered, kind: &str, name: &str) -> Value {
    r.unique_objects()
        .map(|(_, o)| o)
        .find(|o: &&Object| o.kind() == kind && o.name() == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
        .to_json()
}

fn note(r: &Rendered) -> String {
    r.steps
        .iter()
        .find(|s| s.step.to_string().starts_with("model-service/"))
        .and_then(|s| s.adapted.clone())
        .map(|a| format!("{}:\n{}", a.source, a.changes.join("\n")))
        .unwrap_or_default()
}

const DEPLOYMENT: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: decode, labels: {llm-d.ai/role: decode}}
spec:
  replicas: 1
  selector: {matchLabels: {llm-d.ai/role: decode}}
  template:
    metadata: {labels: {llm-d.ai/role: decode}}
    spec:
      serviceAccountName: sa
      containers:
        - name: modelserver
          image: vllm/vllm-openai:v0.19.1
          command: [vllm, serve]
          args: [Qwen/Qwen3-0.6B, --max-model-len=32768]
          env: [{name: HF_TOKEN, valueFrom: {secretKeyRef: {name: llm-d-hf-token, key: HF_TOKEN}}}]
          volumeMounts: [{name: shm, mountPath: /dev/shm}]
      volumes: [{name: shm, emptyDir: {medium: Memory}}]
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: vllm}
spec:
  selector: {matchLabels: {llm-d.ai/role: decode}}
  podMetricsEndpoints: [{port: modelserver}]
"#;

fn workspace(access: &str, model: &str, extra: &str) -> String {
    format!(
        r#"workspace "w" format=1 {{
    namespace "llm-d"
}}
storage "models" {{
    access "{access}"
    size "20Gi"
}}
download "qwen" {{
    from "hf://Qwen/Qwen3-0.6B" revision="main"
    into "models" path="models/Qwen/Qwen3-0.6B"
}}
model-service "qwen" {{
    {model}
    manifests "recipe.yaml"
{extra}}}
"#
    )
}

#[test]
fn a_deployment_recipe_is_pointed_at_the_model_on_the_claim_and_every_change_is_said() {
    let (ws, _dir) = load(&workspace("ReadWriteMany", "model \"qwen\"", ""), &[("recipe.yaml", DEPLOYMENT)]);
    let ws = ws.unwrap();
    let r = render(&ws);
    let d = object(&r, "Deployment", "decode");
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(
        c["args"],
        json!([
            "/model-cache/models/Qwen/Qwen3-0.6B",
            "--max-model-len=32768",
            "--served-model-name",
            "Qwen/Qwen3-0.6B"
        ])
    );
    assert!(c["env"].as_array().unwrap().contains(&json!({"name": "HF_HUB_OFFLINE", "value": "1"})), "{c}");
    assert!(
        c["volumeMounts"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "model-storage", "mountPath": "/model-cache", "readOnly": true}))
    );
    assert!(pod["volumes"].as_array().unwrap().contains(
        &json!({"name": "model-storage", "persistentVolumeClaim": {"claimName": "models", "readOnly": true}})
    ));
    // The user's own volumes and environment are still there.
    assert!(pod["volumes"].as_array().unwrap().iter().any(|v| v["name"] == "shm"));
    assert!(c["env"].as_array().unwrap().iter().any(|e| e["name"] == "HF_TOKEN"));
    // A new revision rolls the pods; a claim many nodes can attach keeps the recipe's rollout.
    assert_eq!(d["spec"]["template"]["metadata"]["annotations"]["msws.io/model-revision"], "hf://Qwen/Qwen3-0.6B@main");
    assert!(d["spec"].get("strategy").is_none(), "{d}");
    // The objects around the workload go as they are, owned by the workspace, in its namespace.
    let pm = object(&r, "PodMonitor", "vllm");
    assert_eq!(pm["metadata"]["namespace"], "llm-d");
    assert_eq!(pm["metadata"]["labels"]["msws.io/workspace"], "w");
    assert_eq!(
        pm["spec"],
        json!({"selector": {"matchLabels": {"llm-d.ai/role": "decode"}}, "podMetricsEndpoints": [{"port": "modelserver"}]})
    );
    assert_eq!(object(&r, "ServiceAccount", "sa")["metadata"]["labels"]["msws.io/workspace"], "w");
    let n = note(&r);
    for want in [
        "the file recipe.yaml:",
        "Deployment/decode spec.template.spec.containers[modelserver].args[0]: Qwen/Qwen3-0.6B → /model-cache/models/Qwen/Qwen3-0.6B: serve the model from the claim, not from the hub",
        "Deployment/decode spec.template.spec.containers[modelserver].args: + --served-model-name Qwen/Qwen3-0.6B",
        "HF_HUB_OFFLINE=1: vLLM loads the model from the claim and never downloads it",
        "+ volume model-storage (claim models, read-only)",
    ] {
        assert!(n.contains(want), "{want}\n{n}");
    }
    // Nothing else: no ServiceAccount or Deployment of msws's own roles.
    assert_eq!(r.unique_objects().filter(|(s, _)| s.to_string() == "model-service/qwen").count(), 3);
    // `msws render` prints the changes, as comments.
    let yaml = msws::render::to_yaml_stream(&r);
    assert!(yaml.contains("#   Deployment/decode spec.template.spec.containers[modelserver].volumeMounts: + mount model-storage at /model-cache"), "{yaml}");
    // `msws render --out` says them in the workload's own file, and only there.
    let files = msws::render::to_files(&r);
    let file = |kind: &str| files.iter().find(|f| f.name.contains(kind)).map(|f| f.contents.clone()).unwrap();
    assert!(
        file("-deployment-decode").contains("# msws changed this Deployment of the file recipe.yaml:\n#   spec.template.spec.volumes: + volume model-storage"),
        "{}",
        file("-deployment-decode")
    );
    assert!(!file("-podmonitor-vllm").contains("msws changed"), "{}", file("-podmonitor-vllm"));
}

#[test]
fn a_claim_one_node_attaches_gets_the_rollout_it_needs_and_pvc_hf_keeps_the_repository_id() {
    let (ws, _dir) = load(
        &workspace("ReadWriteOnce", "uri \"pvc+hf://models/hub/Qwen/Qwen3-0.6B\"", "    served-name \"qwen\"\n"),
        &[("recipe.yaml", DEPLOYMENT)],
    );
    let r = render(&ws.unwrap());
    let d = object(&r, "Deployment", "decode");
    assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    // The model argument stays the repository id; the cache is on the claim.
    assert_eq!(c["args"], json!(["Qwen/Qwen3-0.6B", "--max-model-len=32768", "--served-model-name", "qwen"]));
    assert!(
        c["env"].as_array().unwrap().contains(&json!({"name": "HF_HUB_CACHE", "value": "/model-cache/hub"})),
        "{c}"
    );
    assert!(note(&r).contains("spec.strategy: Recreate"), "{}", note(&r));
}

#[test]
fn a_leader_worker_set_s_workers_mount_the_model_and_a_shell_command_is_rewritten() {
    let lws = r#"
apiVersion: leaderworkerset.x-k8s.io/v1
kind: LeaderWorkerSet
metadata: {name: wide-ep}
spec:
  replicas: 1
  leaderWorkerTemplate:
    size: 2
    leaderTemplate:
      spec:
        containers:
          - name: vllm
            image: x
            command: [/bin/bash, -c]
            args: ["set -e\nexec vllm serve deepseek-ai/DeepSeek-R1 --port 8200 --data-parallel-size 16"]
    workerTemplate:
      spec:
        containers:
          - name: vllm
            image: x
            command: [/bin/bash, -c]
            args: ["exec ray start --block"]
"#;
    let ws =
        workspace("ReadWriteMany", "uri \"pvc://models/models/r1\"", "    served-name \"deepseek-ai/DeepSeek-R1\"\n");
    let (ws, _dir) = load(&ws, &[("recipe.yaml", lws)]);
    let r = render(&ws.unwrap());
    let l = object(&r, "LeaderWorkerSet", "wide-ep");
    let lt = &l["spec"]["leaderWorkerTemplate"];
    assert_eq!(
        lt["leaderTemplate"]["spec"]["containers"][0]["args"][0],
        "set -e\nexec vllm serve /model-cache/models/r1 --served-model-name deepseek-ai/DeepSeek-R1 --port 8200 --data-parallel-size 16"
    );
    let worker = &lt["workerTemplate"]["spec"];
    assert_eq!(worker["containers"][0]["args"][0], "exec ray start --block", "the workers' command is theirs");
    assert!(worker["containers"][0]["volumeMounts"].as_array().unwrap().iter().any(|m| m["name"] == "model-storage"));
    assert!(worker["volumes"].as_array().unwrap().iter().any(|v| v["name"] == "model-storage"));
}

#[test]
fn a_disaggregated_set_recipe_built_with_kustomize_has_both_roles_served_from_the_claim() {
    let recipe = root().join("workspaces/recipes/guides/pd-disaggregation");
    let ws = workspace("ReadWriteMany", "model \"qwen\"", "")
        .replace("manifests \"recipe.yaml\"", &format!("manifests {:?}", recipe.display().to_string()));
    let (ws, _dir) = load(&ws, &[]);
    let ws = ws.unwrap();
    let m = ws.services[0].manifests.as_ref().unwrap();
    assert!(m.source.contains("built by kubectl kustomize"), "{}", m.source);
    let r = render(&ws);
    let ds = object(&r, "DisaggregatedSet", "pd-disaggregation-pd-disagg");
    for role in ds["spec"]["roles"].as_array().unwrap() {
        let c = &role["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0];
        assert_eq!(c["args"][0], "/model-cache/models/Qwen/Qwen3-0.6B", "{}", role["name"]);
        assert!(c["env"].as_array().unwrap().contains(&json!({"name": "HF_HUB_OFFLINE", "value": "1"})));
    }
    assert!(
        note(&r).contains(
            "DisaggregatedSet/pd-disaggregation-pd-disagg spec.roles[decode].spec.leaderWorkerTemplate.workerTemplate"
        ),
        "{}",
        note(&r)
    );
}

#[test]
fn without_kubectl_a_kustomize_directory_is_a_clear_error() {
    let recipe = root().join("workspaces/recipes/guides/optimized-baseline");
    let ws = workspace("ReadWriteMany", "model \"qwen\"", "")
        .replace("manifests \"recipe.yaml\"", &format!("manifests {:?}", recipe.display().to_string()));
    // SAFETY of the test: nextest runs every test in its own process.
    unsafe { std::env::set_var("MSWS_KUBECTL", "/nonexistent/kubectl") };
    let (ws, _dir) = load(&ws, &[]);
    let errors = ws.unwrap_err().join("\n");
    assert!(
        errors.contains("cannot run `/nonexistent/kubectl kustomize`") && errors.contains("install kubectl"),
        "{errors}"
    );
}

#[test]
fn manifests_msws_cannot_serve_from_a_claim_are_refused_with_the_reason() {
    let with = |objects: &str, model: &str, extra: &str| -> String {
        let (ws, _dir) = load(&workspace("ReadWriteMany", model, extra), &[("recipe.yaml", objects)]);
        ws.err().map(|e| e.join("\n")).unwrap_or_default()
    };
    let m = "model \"qwen\"";
    let secret = format!("{DEPLOYMENT}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: token}}\n");
    assert!(with(&secret, m, "").contains("the manifests hold Secret token"), "{}", with(&secret, m, ""));
    let pvc = format!("{DEPLOYMENT}---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: model-pvc}}\n");
    assert!(with(&pvc, m, "").contains("model-cache"), "{}", with(&pvc, m, ""));
    let none = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    assert!(with(none, m, "").contains("the manifests hold no workload"));
    let no_model = DEPLOYMENT.replace("command: [vllm, serve]", "command: [python3, app.py]");
    assert!(
        with(&no_model, m, "").contains("no container of Deployment decode serves a model"),
        "{}",
        with(&no_model, m, "")
    );
    assert!(
        with(DEPLOYMENT, m, "    serving-container \"nope\"\n")
            .contains("no container of Deployment decode serves a model")
    );
    let two = format!(
        "{DEPLOYMENT}---\n{}",
        DEPLOYMENT
            .split("---")
            .nth(1)
            .unwrap()
            .replace("name: decode", "name: other")
            .replace("Qwen/Qwen3-0.6B", "Qwen/Qwen3-8B")
    );
    assert!(with(&two, m, "").contains("serve more than one model"), "{}", with(&two, m, ""));
    assert!(with(DEPLOYMENT, "uri \"hf://Qwen/Qwen3-0.6B\"", "").contains("manifests are served from a claim"));
    assert!(
        with(DEPLOYMENT, m, "    decode extends=\"std/vllm-single\"\n")
            .contains("`decode` does not go with `manifests`")
    );
    assert!(with("{{{", m, "").contains("not YAML"));
    let (ws, _dir) = load(&workspace("ReadWriteMany", m, ""), &[]);
    assert!(ws.unwrap_err().join("\n").contains("does not exist"));
}

#[test]
fn a_token_written_in_the_manifests_is_found_like_one_in_the_workspace() {
    let leaked = DEPLOYMENT.replace(
        "HF_TOKEN, valueFrom: {secretKeyRef: {name: llm-d-hf-token, key: HF_TOKEN}}",
        "HF_TOKEN, value: hf_abcdefghijklmnopqrstuvwxyz012345",
    );
    let (ws, _dir) = load(&workspace("ReadWriteMany", "model \"qwen\"", ""), &[("recipe.yaml", &leaked)]);
    let e = ws.unwrap_err().join("\n");
    assert!(e.contains("a Hugging Face token is written"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// msws import-manifests

fn msws_in(dir: &std::path::Path) -> snapbox::cmd::Command {
    snapbox::cmd::Command::new(snapbox::cmd::cargo_bin!("msws")).current_dir(dir).env_remove("MSWS_KUBECTL")
}

/// A temporary directory holding a copy of `workspaces/recipes`.
fn recipes_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let from = root().join("workspaces/recipes");
    for f in walk(&from) {
        let to = dir.path().join("recipes").join(f.strip_prefix(&from).unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap();
    }
    dir
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
    }
    out
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn import_manifests_writes_a_workspace_that_downloads_the_recipe_s_model_and_serves_it() {
    let dir = recipes_copy();
    std::fs::create_dir(dir.path().join("ws")).unwrap();
    let out = msws_in(dir.path())
        .args(["import-manifests", "recipes/guides/optimized-baseline", "-o", "ws/baseline.kdl"])
        .args(["--namespace", "llm-d", "--class", "shared-files"])
        .assert()
        .success();
    assert_eq!(text_of(&out.get_output().stdout), "");
    assert!(text_of(&out.get_output().stderr).contains("wrote ws/baseline.kdl"));
    let ws = std::fs::read_to_string(dir.path().join("ws/baseline.kdl")).unwrap();
    insta::with_settings!({ filters => crate::support::KUSTOMIZE_VERSION.to_vec() }, {
        insta::assert_snapshot!("import_manifests_optimized_baseline", ws);
    });
    // The path is relative to the workspace file; the workspace plans, listing msws's changes.
    assert!(ws.contains("manifests \"../recipes/guides/optimized-baseline\""), "{ws}");
    let plan = msws_in(dir.path()).args(["plan", "--offline", "ws/baseline.kdl"]).assert().success();
    let plan = text_of(&plan.get_output().stdout);
    for want in [
        "+ PersistentVolumeClaim models",
        "↓ download hf://Qwen/Qwen3-0.6B@main into models:models/Qwen/Qwen3-0.6B",
        "+ Deployment optimized-baseline-decode",
        "+ PodMonitor optimized-baseline-vllm",
        "args[0]: Qwen/Qwen3-0.6B → /model-cache/models/Qwen/Qwen3-0.6B",
    ] {
        assert!(plan.contains(want), "{want}\n{plan}");
    }
    // An existing file is not replaced without --force.
    let again = msws_in(dir.path())
        .args(["import-manifests", "recipes/guides/optimized-baseline", "-o", "ws/baseline.kdl"])
        .assert()
        .code(2);
    assert!(
        text_of(&again.get_output().stderr).contains("ws/baseline.kdl exists: choose another file, or give --force")
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("ws/baseline.kdl")).unwrap(), ws);
}

#[test]
fn import_manifests_of_a_file_prints_the_workspace_and_takes_the_token_and_namespace_from_it() {
    let recipe = DEPLOYMENT.replace("metadata: {name: decode,", "metadata: {name: decode, namespace: serving,");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Qwen_Decode.yaml"), recipe).unwrap();
    let out = msws_in(dir.path()).args(["import-manifests", "Qwen_Decode.yaml", "--size", "4Gi"]).assert().success();
    let ws = text_of(&out.get_output().stdout);
    for want in [
        "workspace \"qwen-decode\" format=1",
        "namespace \"serving\"",
        "size \"4Gi\"",
        "secret \"llm-d-hf-token\" existing=#true",
        "token secret=\"llm-d-hf-token\"",
        "manifests \"Qwen_Decode.yaml\"",
    ] {
        assert!(ws.contains(want), "{want}\n{ws}");
    }
    assert!(!ws.contains("estimate"), "a size given is not estimated: {ws}");
    // Printed beside the manifests, it is valid as it is.
    std::fs::write(dir.path().join("w.kdl"), &ws).unwrap();
    msws_in(dir.path()).args(["validate", "w.kdl"]).assert().success();
}

#[test]
fn import_manifests_says_what_it_cannot_do_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    let run = |args: &[&str], code: i32| -> String {
        let out = msws_in(dir.path()).arg("import-manifests").args(args).assert().code(code);
        assert_eq!(text_of(&out.get_output().stdout), "", "nothing on stdout when it fails");
        text_of(&out.get_output().stderr)
    };
    put("ok.yaml", DEPLOYMENT);
    assert!(run(&["missing.yaml"], 1).contains("cannot read missing.yaml"));
    assert!(run(&["ok.yaml", "--access", "ReadOnlyMany"], 2).contains("--access ReadOnlyMany: one of ReadWriteMany"));
    assert!(run(&["ok.yaml", "--size", "20GB"], 2).contains("--size 20GB"));
    assert!(run(&["ok.yaml", "--name", "Bad_Name"], 2).contains("`Bad_Name` is not a valid workspace name"));
    // The model's name has no parameter count: the size is a variable `plan` asks for.
    put("r1.yaml", &DEPLOYMENT.replace("Qwen/Qwen3-0.6B", "deepseek-ai/DeepSeek-R1"));
    let r1 = msws_in(dir.path()).args(["import-manifests", "r1.yaml", "-o", "r1.kdl"]).assert().success();
    assert_eq!(text_of(&r1.get_output().stdout), "");
    let ws = std::fs::read_to_string(dir.path().join("r1.kdl")).unwrap();
    assert!(ws.contains("var \"model-size\"") && ws.contains("size \"${model-size}\""), "{ws}");
    let plan = msws_in(dir.path()).args(["plan", "--offline", "r1.kdl"]).assert().failure();
    assert!(text_of(&plan.get_output().stderr).contains("model-size"), "{}", text_of(&plan.get_output().stderr));
    msws_in(dir.path()).args(["plan", "--offline", "r1.kdl", "--var", "model-size=1400Gi"]).assert().success();
    msws_in(dir.path())
        .args(["import-manifests", "r1.yaml", "--model-size", "1400Gi", "-o", "r1b.kdl"])
        .assert()
        .success();
    assert!(std::fs::read_to_string(dir.path().join("r1b.kdl")).unwrap().contains("size \"1400Gi\""));
    // A model served from a path: where to download it from must be given.
    put("path.yaml", &DEPLOYMENT.replace("Qwen/Qwen3-0.6B", "/models/qwen"));
    assert!(run(&["path.yaml", "--size", "2Gi"], 2).contains("with --model hf://ORG/NAME"));
    let with_model = msws_in(dir.path())
        .args(["import-manifests", "path.yaml", "--size", "2Gi", "--model", "hf://Qwen/Qwen3-0.6B"])
        .assert()
        .success();
    assert!(text_of(&with_model.get_output().stdout).contains("from \"hf://Qwen/Qwen3-0.6B\""));
    // Manifests msws cannot serve: every problem, with its help.
    put("secret.yaml", &format!("{DEPLOYMENT}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: token}}\n"));
    let e = run(&["secret.yaml", "-o", "out.kdl"], 1);
    assert!(e.contains("the manifests hold Secret token") && e.contains("help: a Secret's value"), "{e}");
    assert!(e.contains("secret.yaml cannot be served from a claim: 1 problem"), "{e}");
    assert!(!dir.path().join("out.kdl").exists());
}
