//! Plans without a cluster: offline (against an empty cluster) and against recorded objects
//! (`--live`), for up-to-date clusters and every kind of drift. Plans against the fake cluster
//! (with server-side dry-runs) are in `plan_cluster.rs`.

use std::collections::BTreeMap;
use std::path::Path;

use msws::plan::{
    Action, DownloadAction, DownloadRecord, Inventory, Live, Plan, ReleaseAction, Request, Source, live_from_yaml, show,
};
use serde_json::{Value, json};

use crate::support::{is_root_file, load, root, workspace_files};

pub struct Loaded {
    pub ws: msws::model::Workspace,
    pub graph: msws::graph::StepGraph,
}

pub fn load_ws(path: &Path) -> Loaded {
    let mut fe = load(path);
    let ws = fe.workspace.take().unwrap_or_else(|| panic!("{} does not load", path.display()));
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    Loaded { ws, graph }
}

pub fn request<'a>(l: &'a Loaded, secrets: &[(&str, &str, &str)]) -> Request<'a> {
    let mut secret_values: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, key, value) in secrets {
        secret_values.entry(name.to_string()).or_default().insert(key.to_string(), value.to_string());
    }
    Request {
        ws: &l.ws,
        graph: &l.graph,
        namespace: l.ws.namespace.clone().unwrap_or_else(|| "default".into()),
        secret_values,
        cluster: "test".into(),
        workspace_hash: "hash".into(),
        replace_storage: false,
        delete_storage: false,
    }
}

pub fn run(req: &Request, source: Source) -> Plan {
    tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(msws::plan::make(req, source)).unwrap()
}

/// What a cluster holds after msws applied this workspace: every rendered object with a few of
/// the defaults and status fields a server adds, plus the inventory with each download recorded.
pub fn applied(l: &Loaded, secrets: &[(&str, &str, &str)]) -> Vec<Value> {
    let req = request(l, secrets);
    let opts = msws::render::Options {
        namespace: req.namespace.clone(),
        secret_values: req.secret_values.clone(),
        ..Default::default()
    };
    let rendered = msws::render::render(&l.ws, &l.graph, &opts);
    let mut out: Vec<Value> = Vec::new();
    for (_, o) in rendered.unique_objects() {
        let mut v = o.to_json();
        v["metadata"]["resourceVersion"] = json!("100");
        v["metadata"]["uid"] = json!("uid-1");
        match o.kind() {
            "Deployment" => {
                v["spec"]["revisionHistoryLimit"] = json!(10);
                v["spec"]["progressDeadlineSeconds"] = json!(600);
                v["status"] = json!({"replicas": 1, "availableReplicas": 1});
                for c in v["spec"]["template"]["spec"]["containers"].as_array_mut().unwrap() {
                    c["terminationMessagePolicy"] = json!("File");
                    c["imagePullPolicy"] = json!("Always");
                }
            }
            "PersistentVolumeClaim" => {
                v["spec"]["volumeMode"] = json!("Filesystem");
                v["status"] = json!({"phase": "Bound"});
            }
            "Secret" => {
                // The server keeps data only, base64.
                if let Some(sd) = v.as_object_mut().unwrap().remove("stringData") {
                    use base64::Engine;
                    let data: serde_json::Map<String, Value> = sd
                        .as_object()
                        .unwrap()
                        .iter()
                        .map(|(k, s)| {
                            (k.clone(), json!(base64::engine::general_purpose::STANDARD.encode(s.as_str().unwrap())))
                        })
                        .collect();
                    v["data"] = Value::Object(data);
                }
            }
            _ => {}
        }
        // The release step deleted the Jobs of downloads into single-attach claims.
        let released = o.kind() == "Job"
            && l.graph
                .steps()
                .any(|s| s.id.kind == msws::model::StepKind::Release && msws::render::job_name(&s.id.name) == o.name());
        if !released {
            out.push(v);
        }
    }
    // What the workspace uses without owning it exists too.
    for s in l.ws.storages.iter().filter(|s| s.existing) {
        out.push(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": s.name, "namespace": req.namespace, "resourceVersion": "7"},
            "spec": {"accessModes": [s.access.as_str()]}, "status": {"phase": "Bound"}}));
    }
    for s in l.ws.secrets.iter().filter(|s| s.source == msws::model::SecretSource::Existing) {
        out.push(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": s.name, "namespace": req.namespace, "resourceVersion": "8"}, "data": {"HF_TOKEN": "eA=="}}));
    }
    let mut inv = Inventory::default();
    for d in &l.ws.downloads {
        inv.downloads.insert(
            d.name.clone(),
            DownloadRecord {
                commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
                files: Some(8),
                bytes: Some(2_000_000),
                completed_at: Some("2026-11-26T18:00:00Z".into()),
                ..DownloadRecord::of(d)
            },
        );
    }
    out.push(inv.to_config_map(&l.ws.name, &req.namespace, &[]));
    out
}

fn live_of(objects: &[Value], ws: &str) -> Live {
    let yaml: String = objects.iter().map(|o| format!("---\n{}", serde_yaml_ng::to_string(o).unwrap())).collect();
    live_from_yaml(&yaml, ws).unwrap()
}

fn examples() -> Vec<std::path::PathBuf> {
    workspace_files(&root().join("workspaces")).into_iter().filter(|f| is_root_file(f)).collect()
}

#[test]
fn offline_plans_of_every_example_are_snapshotted() {
    for f in examples() {
        let l = load_ws(&f);
        let p = run(&request(&l, &[]), Source::Known(Live::empty()));
        assert!(p.has_changes() && p.refusals.is_empty(), "{}", f.display());
        let name = f.strip_prefix("workspaces").unwrap().to_string_lossy().replace(['/', '.'], "_");
        insta::with_settings!({ snapshot_path => root().join("tests/it/snapshots/plan"), prepend_module_to_snapshot => false, filters => crate::support::KUSTOMIZE_VERSION.to_vec() }, {
            insta::assert_snapshot!(name, show::to_text(&p, show::Style { color: false }));
        });
    }
}

#[test]
fn an_up_to_date_cluster_has_no_changes_for_every_example() {
    for f in examples() {
        let l = load_ws(&f);
        let secrets = [("hf-token", "HF_TOKEN", "hf_value")];
        let live = live_of(&applied(&l, &secrets), &l.ws.name);
        let p = run(&request(&l, &secrets), Source::Known(live));
        assert!(!p.has_changes(), "{}:\n{}", f.display(), show::to_text(&p, show::Style { color: false }));
        assert!(p.refusals.is_empty(), "{:?}", p.refusals);
        assert_eq!(show::summary_line(&p), format!("No changes: the cluster matches workspace {}.", l.ws.name));
    }
}

fn find<'a>(objects: &'a mut [Value], kind: &str, name: &str) -> &'a mut Value {
    objects.iter_mut().find(|o| o["kind"] == kind && o["metadata"]["name"] == name).unwrap()
}

fn changed(p: &Plan) -> Vec<(Action, String)> {
    p.steps
        .iter()
        .flat_map(|s| &s.objects)
        .chain(&p.prune)
        .filter(|o| o.action.is_change() || o.action == Action::Keep)
        .map(|o| (o.action, format!("{}/{}", o.object.kind, o.object.name)))
        .collect()
}

#[test]
fn drift_shows_exactly_what_changed() {
    let l = load_ws(Path::new("workspaces/opt-125m-rwx.kdl"));
    let secrets = [("hf-token", "HF_TOKEN", "hf_value")];

    // Someone scaled the decode Deployment to 3.
    let mut objs = applied(&l, &secrets);
    find(&mut objs, "Deployment", "opt-decode")["spec"]["replicas"] = json!(3);
    let p = run(&request(&l, &secrets), Source::Known(live_of(&objs, &l.ws.name)));
    assert_eq!(changed(&p), [(Action::Update, "Deployment/opt-decode".into())]);
    let diff =
        p.steps.iter().flat_map(|s| &s.objects).find(|o| o.action == Action::Update).unwrap().diff.clone().unwrap();
    assert!(diff.contains("-  replicas: 3") && diff.contains("+  replicas: 1"), "{diff}");
    assert_eq!(
        diff.lines().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count(),
        1,
        "only the replica line: {diff}"
    );

    // Someone changed the image.
    let mut objs = applied(&l, &secrets);
    find(&mut objs, "Deployment", "opt-prefill")["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("evil:latest");
    let p = run(&request(&l, &secrets), Source::Known(live_of(&objs, &l.ws.name)));
    assert_eq!(changed(&p), [(Action::Update, "Deployment/opt-prefill".into())]);

    // The claim is smaller than the workspace says: it grows in place.
    let mut objs = applied(&l, &secrets);
    find(&mut objs, "PersistentVolumeClaim", "model-pvc")["spec"]["resources"]["requests"]["storage"] = json!("1Gi");
    let p = run(&request(&l, &secrets), Source::Known(live_of(&objs, &l.ws.name)));
    assert_eq!(changed(&p), [(Action::Update, "PersistentVolumeClaim/model-pvc".into())]);

    // The claim is larger: a claim cannot shrink, and replacing it would lose the weights.
    let mut objs = applied(&l, &secrets);
    find(&mut objs, "PersistentVolumeClaim", "model-pvc")["spec"]["resources"]["requests"]["storage"] = json!("50Gi");
    let p = run(&request(&l, &secrets), Source::Known(live_of(&objs, &l.ws.name)));
    assert_eq!(changed(&p), [(Action::Replace, "PersistentVolumeClaim/model-pvc".into())]);
    assert!(
        p.refusals.iter().any(|r| r.contains("cannot shrink") && r.contains("--replace-storage")),
        "{:?}",
        p.refusals
    );

    // The access mode changed: refused too; with --replace-storage, planned, and the download
    // into it runs again.
    let mut objs = applied(&l, &secrets);
    find(&mut objs, "PersistentVolumeClaim", "model-pvc")["spec"]["accessModes"] = json!(["ReadWriteOnce"]);
    let p = run(&request(&l, &secrets), Source::Known(live_of(&objs, &l.ws.name)));
    assert!(p.refusals.iter().any(|r| r.contains("access mode")), "{:?}", p.refusals);
    let mut req = request(&l, &secrets);
    req.replace_storage = true;
    let p = run(&req, Source::Known(live_of(&objs, &l.ws.name)));
    assert!(p.refusals.is_empty(), "{:?}", p.refusals);
    let d = p.steps.iter().find_map(|s| s.download.clone()).unwrap();
    assert_eq!(d.action, DownloadAction::Rerun);
    assert!(d.reason.contains("replaced"), "{}", d.reason);
}

#[test]
fn an_object_removed_from_the_workspace_is_pruned_and_storage_is_kept() {
    let full = load_ws(Path::new("workspaces/shared-claim.kdl"));
    let secrets = [("hf-token", "HF_TOKEN", "hf_value")];
    let objs = applied(&full, &secrets);
    // The same workspace without Qwen (download and service), and with the claim renamed.
    let text = std::fs::read_to_string(root().join("workspaces/shared-claim.kdl")).unwrap();
    let cut = text[..text.find("download \"qwen-7b\"").unwrap()].to_string()
        + &text[text.find("model-service \"llama\"").unwrap()..text.find("model-service \"qwen\"").unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.kdl");
    std::fs::write(&file, cut).unwrap();
    let mut fe = msws::lower::load(&file, &msws::lower::DiskFiles, &Default::default());
    let ws = fe.workspace.take().unwrap();
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let l = Loaded { ws, graph };
    let p = run(&request(&l, &secrets), Source::Known(live_of(&objs, &l.ws.name)));
    let pruned: Vec<(Action, String)> =
        p.prune.iter().map(|o| (o.action, format!("{}/{}", o.object.kind, o.object.name))).collect();
    assert_eq!(
        pruned,
        [
            (Action::Delete, "Deployment/qwen-decode".into()),
            (Action::Delete, "Job/qwen-7b-download".into()),
            (Action::Delete, "ServiceAccount/qwen".into()),
        ]
    );
    assert!(changed(&p).iter().all(|(a, _)| *a == Action::Delete), "{:?}", changed(&p));

    // A claim no longer in the workspace is kept, and said to be.
    let mut objs = applied(&full, &secrets);
    let mut extra = find(&mut objs, "PersistentVolumeClaim", "models").clone();
    extra["metadata"]["name"] = json!("old-models");
    objs.push(extra);
    let p = run(&request(&full, &secrets), Source::Known(live_of(&objs, &full.ws.name)));
    assert_eq!(changed(&p), [(Action::Keep, "PersistentVolumeClaim/old-models".into())]);
    assert!(!p.has_changes(), "a kept claim is not a change");
    let text = show::to_text(&p, show::Style { color: false });
    assert!(text.contains("storage is kept"), "{text}");
    let mut req = request(&full, &secrets);
    req.delete_storage = true;
    let p = run(&req, Source::Known(live_of(&objs, &full.ws.name)));
    assert_eq!(changed(&p), [(Action::Delete, "PersistentVolumeClaim/old-models".into())]);
}

#[test]
fn downloads_are_planned_from_their_records() {
    let l = load_ws(Path::new("workspaces/opt-125m-rwo.kdl"));
    let secrets = [("hf-token", "HF_TOKEN", "hf_value")];
    let objs = applied(&l, &secrets);
    let p = run(&request(&l, &secrets), Source::Known(live_of(&objs, &l.ws.name)));
    let step = p.steps.iter().find(|s| s.step == "download/opt-125m").unwrap();
    assert_eq!(step.download.as_ref().unwrap().action, DownloadAction::Skip);
    let release = p.steps.iter().find(|s| s.step == "release/opt-125m").unwrap();
    assert_eq!(release.release.as_ref().unwrap().action, ReleaseAction::Nothing);

    // A new revision in the workspace: one new download, its release, and a rollout.
    let text = std::fs::read_to_string(root().join("workspaces/opt-125m-rwo.kdl"))
        .unwrap()
        .replace("27dcfa74d334bc871f3234de431e71c6eeba5dd6", "main");
    let mut fe = msws::lower::load_str("w.kdl", &text, &Default::default());
    let ws = fe.workspace.take().unwrap();
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let l2 = Loaded { ws, graph };
    let p = run(&request(&l2, &secrets), Source::Known(live_of(&objs, &l2.ws.name)));
    let d = p.steps.iter().find_map(|s| s.download.clone()).unwrap();
    assert_eq!(d.action, DownloadAction::Rerun);
    assert!(d.reason.contains("revision 27dcfa74d334bc871f3234de431e71c6eeba5dd6 → main"), "{}", d.reason);
    assert_eq!(
        changed(&p),
        [(Action::Create, "Job/opt-125m-download".into()), (Action::Update, "Deployment/opt-decode".into())],
        "the rollout comes from the revision annotation on the pod template"
    );
    let release = p.steps.iter().find(|s| s.step == "release/opt-125m").unwrap();
    assert_eq!(release.release.as_ref().unwrap().action, ReleaseAction::AfterDownload);

    // A Job of an earlier download is still there: the release deletes it.
    let mut objs2 = objs.clone();
    let mut job = applied(&l, &secrets).into_iter().find(|o| o["kind"] == "ConfigMap").unwrap();
    job["kind"] = json!("Job");
    job["apiVersion"] = json!("batch/v1");
    job["metadata"]["name"] = json!("opt-125m-download");
    objs2.push(job);
    let p = run(&request(&l, &secrets), Source::Known(live_of(&objs2, &l.ws.name)));
    let release = p.steps.iter().find(|s| s.step == "release/opt-125m").unwrap();
    assert_eq!(release.release.as_ref().unwrap().action, ReleaseAction::Leftover);
}

#[test]
fn an_object_msws_does_not_own_is_not_taken_over() {
    let l = load_ws(Path::new("workspaces/opt-125m-rwx.kdl"));
    let mut objs = applied(&l, &[]);
    let pvc = find(&mut objs, "PersistentVolumeClaim", "model-pvc");
    pvc["metadata"]["labels"] = json!({"team": "someone-else"});
    let p = run(&request(&l, &[]), Source::Known(live_of(&objs, &l.ws.name)));
    assert!(
        p.refusals.iter().any(|r| r.contains("model-pvc") && r.contains("not managed by workspace")),
        "{:?}",
        p.refusals
    );
}

#[test]
fn secret_values_appear_nowhere_in_a_plan() {
    let l = load_ws(Path::new("workspaces/opt-125m-rwx.kdl"));
    let old = "hf_OLDvalueOLDvalueOLDvalueOLDvalue12";
    let new = "hf_NEWvalueNEWvalueNEWvalueNEWvalue34";
    let objs = applied(&l, &[("hf-token", "HF_TOKEN", old)]);
    let secrets = [("hf-token", "HF_TOKEN", new)];
    let p = run(&request(&l, &secrets), Source::Known(live_of(&objs, &l.ws.name)));
    let secret = p.steps.iter().flat_map(|s| &s.objects).find(|o| o.object.kind == "Secret").unwrap();
    assert_eq!(secret.action, Action::Update);
    assert!(secret.sensitive && secret.diff.as_ref().unwrap().contains("(sensitive, "));
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let everything = [
        show::to_text(&p, show::Style { color: false }),
        serde_json::to_string(&show::to_json(&p)).unwrap(),
        serde_json::to_string(&p).unwrap(),
    ]
    .join("\n");
    for v in [old, new] {
        assert!(!everything.contains(v) && !everything.contains(&b64(v)), "a secret value leaked");
    }
}

#[test]
fn the_plan_json_document_has_its_documented_shape() {
    let l = load_ws(Path::new("workspaces/opt-125m-rwo.kdl"));
    let p = run(&request(&l, &[]), Source::Known(Live::empty()));
    let v = show::to_json(&p);
    assert_eq!(v["format"], 1);
    for k in [
        "msws_version",
        "workspace",
        "namespace",
        "cluster",
        "mode",
        "workspace_hash",
        "steps",
        "prune",
        "warnings",
        "refusals",
        "secrets",
        "summary",
        "changes",
    ] {
        assert!(v.get(k).is_some(), "no {k}");
    }
    assert!(v.get("read").is_none(), "read versions are for plan files only");
    assert_eq!(v["mode"], "offline");
    assert_eq!(v["summary"]["create"], 6);
    assert_eq!(v["summary"]["downloads"], 1);
    let step = &v["steps"][2];
    assert_eq!(step["step"], "download/opt-125m");
    assert_eq!(step["after"], json!(["storage/model-pvc", "secret/hf-token"]));
    assert_eq!(step["download"]["action"], "run");
    let o = &step["objects"][1];
    assert_eq!((o["object"]["kind"].as_str(), o["action"].as_str()), (Some("Job"), Some("create")));
    assert!(o.get("desired").is_none());
    assert_eq!(v["steps"][3]["release"]["action"], "after-download");
    assert_eq!(v["secrets"][0], json!({"secret": "hf-token", "key": "HF_TOKEN", "env": "HF_TOKEN"}));
}
