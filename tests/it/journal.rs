//! The apply journal: what is on disk after each append, what a torn or damaged file reads as,
//! that Secret values never reach the disk, and how intents are classified for recovery.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use msws::apply::journal::{
    self, Entry, Fate, Header, JOURNAL_FORMAT, Journal, JournalError, Mutation, WITHHELD_FIELD,
};
use msws::cluster::ObjectRef;
use msws::plan::DownloadRecord;
use serde_json::{Value, json};

fn header() -> Header {
    Header {
        format: JOURNAL_FORMAT,
        command: "apply".into(),
        workspace: "opt-125m".into(),
        namespace: "llm-d".into(),
        cluster: "kind-dev".into(),
        workspace_hash: "sha256:0123".into(),
        started_at: "2026-11-26T18:00:00Z".into(),
        holder: "alice@laptop".into(),
        msws_version: "0.1.0".into(),
        replace_storage: false,
        delete_storage: true,
    }
}

fn pvc() -> ObjectRef {
    ObjectRef::new("v1", "PersistentVolumeClaim", Some("llm-d"), "model-pvc")
}

fn deployment() -> ObjectRef {
    ObjectRef::new("apps/v1", "Deployment", Some("llm-d"), "opt-decode")
}

fn secret() -> ObjectRef {
    ObjectRef::new("v1", "Secret", Some("llm-d"), "hf-token")
}

fn record() -> DownloadRecord {
    DownloadRecord {
        source: "hf://facebook/opt-125m".into(),
        revision: "main".into(),
        storage: "model-pvc".into(),
        path: "models/opt-125m".into(),
        commit: Some("abc123".into()),
        files: Some(8),
        bytes: Some(250_000_000),
        completed_at: Some("2026-11-26T18:04:12Z".into()),
    }
}

/// A journal path in a fresh temporary workspace directory (kept alive by the returned guard).
fn temp_journal() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = journal::path_for(&dir.path().join("opt.kdl"), "opt-125m");
    (dir, path)
}

fn append_raw(path: &Path, text: &str) {
    let mut f = OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn path_is_beside_the_workspace_file() {
    assert_eq!(
        journal::path_for(Path::new("deploy/prod/opt.kdl"), "opt-125m"),
        Path::new("deploy/prod/.msws/opt-125m.journal.jsonl")
    );
    assert_eq!(journal::path_for(Path::new("opt.kdl"), "w"), Path::new(".msws/w.journal.jsonl"));
}

#[test]
fn round_trip_of_every_entry() {
    let (_dir, path) = temp_journal();
    let mut j = Journal::create(&path, header()).unwrap();
    assert_eq!(j.path(), path);
    let prior = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "opt-decode"}, "spec": {"replicas": 1}});
    let a = j.intent("storage/model-pvc", Mutation::Create, &pvc(), None).unwrap();
    j.done(a, Some(&json!({"metadata": {"uid": "u-1", "resourceVersion": "41"}}))).unwrap();
    j.download("opt-125m", &record()).unwrap();
    let b = j.intent("model-service/opt", Mutation::Update, &deployment(), Some(&prior)).unwrap();
    j.refused(b, "admission webhook denied it").unwrap();
    j.rollback_started("model-service/opt failed").unwrap();
    j.undone(a).unwrap();
    assert_eq!((a, b), (1, 2));

    let r = journal::read(&path).unwrap();
    assert_eq!(r.header, header());
    assert!(r.warnings.is_empty());
    assert_eq!(
        r.entries,
        vec![
            Entry::Intent {
                seq: 1,
                step: "storage/model-pvc".into(),
                mutation: Mutation::Create,
                object: pvc(),
                prior: None
            },
            Entry::Done { seq: 1, uid: Some("u-1".into()), resource_version: Some("41".into()) },
            Entry::Download { download: "opt-125m".into(), record: record() },
            Entry::Intent {
                seq: 2,
                step: "model-service/opt".into(),
                mutation: Mutation::Update,
                object: deployment(),
                prior: Some(prior),
            },
            Entry::Refused { seq: 2, error: "admission webhook denied it".into() },
            Entry::RollbackStarted { reason: "model-service/opt failed".into() },
            Entry::Undone { seq: 1 },
        ]
    );
    assert_eq!(r.downloads(), vec![("opt-125m".to_string(), record())]);
    assert_eq!(r.finished(), None);
    // One JSON object per line, tagged by `entry`.
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 8);
    assert!(text.lines().next().unwrap().starts_with(r#"{"entry":"header","format":1,"#), "{text}");
    assert!(text.ends_with('\n'));
}

#[test]
fn every_append_is_readable_while_the_journal_is_open() {
    let (_dir, path) = temp_journal();
    let mut j = Journal::create(&path, header()).unwrap();
    assert!(journal::read(&path).unwrap().entries.is_empty());
    let seq = j.intent("storage/model-pvc", Mutation::Create, &pvc(), None).unwrap();
    // The intent is on disk before the request would be sent: a crash now leaves it uncertain.
    let r = journal::read(&path).unwrap();
    assert_eq!(r.mutations().len(), 1);
    assert_eq!(r.mutations()[0].fate, Fate::Uncertain);
    j.done(seq, None).unwrap();
    let r = journal::read(&path).unwrap();
    assert_eq!(r.mutations()[0].fate, Fate::Done);
}

#[test]
fn a_torn_last_line_is_ignored_with_a_warning() {
    let (_dir, path) = temp_journal();
    let mut j = Journal::create(&path, header()).unwrap();
    j.intent("storage/model-pvc", Mutation::Create, &pvc(), None).unwrap();
    drop(j);
    append_raw(&path, r#"{"entry":"done","seq":1,"ui"#);
    let r = journal::read(&path).unwrap();
    assert_eq!(r.entries.len(), 1);
    assert_eq!(r.mutations()[0].fate, Fate::Uncertain);
    assert_eq!(r.warnings.len(), 1);
    assert!(r.warnings[0].starts_with("line 3,"), "{:?}", r.warnings);
}

#[test]
fn a_damaged_middle_line_is_reported_with_its_number() {
    let (_dir, path) = temp_journal();
    let mut j = Journal::create(&path, header()).unwrap();
    j.intent("storage/model-pvc", Mutation::Create, &pvc(), None).unwrap();
    drop(j);
    append_raw(&path, "not json at all\n");
    let mut j = OpenOptions::new().append(true).open(&path).unwrap();
    writeln!(j, r#"{{"entry":"done","seq":1,"uid":null,"resource_version":null}}"#).unwrap();
    match journal::read(&path) {
        Err(JournalError::Corrupt { line, path: p, .. }) => {
            assert_eq!(line, 3);
            assert_eq!(p, path);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let message = journal::read(&path).unwrap_err().to_string();
    assert!(message.contains("line 3"), "{message}");
}

#[test]
fn a_missing_header_or_a_newer_format_is_an_error() {
    let (_dir, path) = temp_journal();
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, "").unwrap();
    assert!(matches!(journal::read(&path), Err(JournalError::Corrupt { line: 1, .. })));
    fs::write(&path, "{\"entry\":\"undone\",\"seq\":1}\n").unwrap();
    assert!(matches!(journal::read(&path), Err(JournalError::Corrupt { line: 1, .. })));

    let mut newer = serde_json::to_value(Entry::Header(header())).unwrap();
    newer["format"] = json!(7);
    newer["something"] = json!("new");
    fs::write(&path, format!("{newer}\n")).unwrap();
    let err = journal::read(&path).unwrap_err();
    assert!(matches!(err, JournalError::Format { found: 7, .. }), "{err:?}");
    assert!(err.to_string().contains("format 7"), "{err}");
}

#[test]
fn a_second_create_finds_the_first_journal() {
    let (_dir, path) = temp_journal();
    let _first = Journal::create(&path, header()).unwrap();
    let err = Journal::create(&path, header()).unwrap_err();
    assert!(matches!(&err, JournalError::Exists(p) if *p == path), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("--rollback") && message.contains("--resume"), "{message}");
    // The first journal was not touched.
    assert_eq!(journal::read(&path).unwrap().header, header());
}

#[test]
fn a_secret_value_never_reaches_the_disk() {
    let (_dir, path) = temp_journal();
    let mut j = Journal::create(&path, header()).unwrap();
    let token = "hf_SuperSecretTokenValue123";
    let encoded = "aGZfU3VwZXJTZWNyZXRUb2tlblZhbHVlMTIz"; // base64 of the token
    let last_applied = json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"HF_TOKEN": token}}).to_string();
    let prior = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "hf-token",
            "namespace": "llm-d",
            "uid": "u-9",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": last_applied, "team": "ml"},
            "managedFields": [{"manager": "msws", "fieldsV1": {"f:data": {"f:HF_TOKEN": {}}}}],
        },
        "type": "Opaque",
        "data": {"HF_TOKEN": encoded},
        "stringData": {"OTHER": token},
    });
    j.intent("secret/hf-token", Mutation::Update, &secret(), Some(&prior)).unwrap();
    drop(j);

    let text = fs::read_to_string(&path).unwrap();
    assert!(!text.contains(token), "{text}");
    assert!(!text.contains(encoded), "{text}");
    let r = journal::read(&path).unwrap();
    let kept = r.mutations()[0].prior.clone().unwrap();
    assert_eq!(
        kept,
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "hf-token",
                "namespace": "llm-d",
                "uid": "u-9",
                "annotations": {"team": "ml"},
            },
            "type": "Opaque",
            WITHHELD_FIELD: ["HF_TOKEN", "OTHER"],
        })
    );
    assert_eq!(journal::withheld(&kept), Some(vec!["HF_TOKEN".to_string(), "OTHER".to_string()]));
}

#[test]
fn status_and_managed_fields_are_not_journalled() {
    let (_dir, path) = temp_journal();
    let mut j = Journal::create(&path, header()).unwrap();
    let prior = json!({
        "kind": "Deployment",
        "metadata": {"name": "opt-decode", "managedFields": [{"manager": "x"}]},
        "spec": {"replicas": 2},
        "status": {"readyReplicas": 2},
    });
    j.intent("model-service/opt", Mutation::Delete, &deployment(), Some(&prior)).unwrap();
    let r = journal::read(&path).unwrap();
    assert_eq!(
        r.mutations()[0].prior,
        Some(json!({"kind": "Deployment", "metadata": {"name": "opt-decode"}, "spec": {"replicas": 2}}))
    );
    assert_eq!(journal::withheld(r.mutations()[0].prior.as_ref().unwrap()), None);
}

#[test]
fn finish_removes_the_journal_and_its_empty_directory() {
    let (dir, path) = temp_journal();
    let mut j = Journal::create(&path, header()).unwrap();
    let seq = j.intent("storage/model-pvc", Mutation::Create, &pvc(), None).unwrap();
    j.done(seq, None).unwrap();
    j.finish("applied").unwrap();
    assert!(!path.exists());
    assert!(!dir.path().join(".msws").exists());
    assert!(dir.path().exists());
}

#[test]
fn finish_keeps_a_directory_other_journals_are_in() {
    let (dir, path) = temp_journal();
    let other = journal::path_for(&dir.path().join("opt.kdl"), "other");
    let _other = Journal::create(&other, Header { workspace: "other".into(), ..header() }).unwrap();
    Journal::create(&path, header()).unwrap().finish("no changes").unwrap();
    assert!(!path.exists());
    assert!(other.exists());
}

#[test]
fn mutations_have_their_fates() {
    let (_dir, path) = temp_journal();
    let mut j = Journal::create(&path, header()).unwrap();
    let done = j.intent("storage/model-pvc", Mutation::Create, &pvc(), None).unwrap();
    let refused = j.intent("secret/hf-token", Mutation::Create, &secret(), None).unwrap();
    let undone = j.intent("model-service/opt", Mutation::Create, &deployment(), None).unwrap();
    let uncertain = j.intent("model-service/opt", Mutation::Delete, &deployment(), None).unwrap();
    j.done(done, Some(&json!({"metadata": {"uid": "u-1", "resourceVersion": "7"}}))).unwrap();
    j.refused(refused, "forbidden").unwrap();
    j.done(undone, None).unwrap();
    j.rollback_started("a step failed").unwrap();
    j.undone(undone).unwrap();

    let r = journal::read(&path).unwrap();
    let m = r.mutations();
    let fates: Vec<(u64, Fate, bool)> = m.iter().map(|m| (m.seq, m.fate, m.undone)).collect();
    assert_eq!(
        fates,
        vec![
            (done, Fate::Done, false),
            (refused, Fate::Refused, false),
            (undone, Fate::Done, true),
            (uncertain, Fate::Uncertain, false),
        ]
    );
    assert_eq!((m[0].uid.as_deref(), m[0].resource_version.as_deref()), (Some("u-1"), Some("7")));
    assert_eq!(m[1].error.as_deref(), Some("forbidden"));
    assert_eq!((m[3].uid.as_deref(), m[3].error.as_deref()), (None, None));
    assert_eq!(m[3].mutation, Mutation::Delete);
    assert_eq!(m[1].object, secret());

    let text = r.describe();
    assert!(text.contains("`msws apply` of workspace opt-125m"), "{text}");
    assert!(text.contains("alice@laptop") && text.contains("2026-11-26T18:00:00Z"), "{text}");
    assert!(text.contains("did not finish"), "{text}");
    assert!(text.contains("4 mutations (2 done, 1 uncertain"), "{text}");
    assert!(text.contains("A rollback started (a step failed) and undid 1"), "{text}");
}

#[test]
fn reopen_continues_after_the_highest_seq() {
    let (_dir, path) = temp_journal();
    let mut j = Journal::create(&path, header()).unwrap();
    j.intent("storage/model-pvc", Mutation::Create, &pvc(), None).unwrap();
    j.intent("secret/hf-token", Mutation::Create, &secret(), None).unwrap();
    drop(j);
    // The run died while writing an answer.
    append_raw(&path, r#"{"entry":"done","se"#);

    let (mut j, recorded) = Journal::reopen(&path).unwrap();
    assert_eq!(recorded.mutations().len(), 2);
    assert_eq!(recorded.warnings.len(), 1);
    j.rollback_started("recover --rollback").unwrap();
    let seq = j.intent("storage/model-pvc", Mutation::Delete, &pvc(), None).unwrap();
    assert_eq!(seq, 3);
    j.undone(1).unwrap();

    // The torn line was cut off, so the file reads cleanly again.
    let r = journal::read(&path).unwrap();
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    assert_eq!(r.mutations().iter().map(|m| m.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(r.mutations()[0].undone);
    j.finish("rolled back").unwrap();
    assert!(!path.exists());
}

#[test]
fn describe_a_finished_run() {
    let (_dir, path) = temp_journal();
    let mut j = Journal::create(&path, header()).unwrap();
    j.download("opt-125m", &record()).unwrap();
    drop(j);
    append_raw(&path, &format!("{}\n", serde_json::to_string(&Entry::Finished { outcome: "applied".into() }).unwrap()));
    let r = journal::read(&path).unwrap();
    assert_eq!(r.finished(), Some("applied"));
    let text = r.describe();
    assert!(text.contains("finished: applied"), "{text}");
    assert!(text.contains("0 mutations") && text.contains("1 download"), "{text}");
    assert!(text.contains("No rollback started"), "{text}");
    let _: Value = serde_json::to_value(&r.header).unwrap();
}
