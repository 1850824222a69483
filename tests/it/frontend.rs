//! The front end on files, data-driven:
//! - every file in `tests/data/valid/` (and every example in `workspaces/`) loads without errors;
//! - every file in `tests/data/invalid/` has errors, the first line names where the one it is about
//!   starts (`// expect: LINE:COL CODE`), and its rendered diagnostics are snapshotted;
//! - every file in `tests/data/lint/` has warnings but no errors, checked and snapshotted the same way.
//!
//! Files under a `lib/` folder are only imported by the others and are not cases themselves.
//! Diagnostics are rendered without colour at a fixed width, so snapshots are stable.

use std::path::{Path, PathBuf};

use crate::support::{is_root_file, load, rendered, root, workspace_files};

/// The cases of a data folder: its `.kdl` files, without the library files under `lib/`.
fn cases(dir: &str) -> Vec<PathBuf> {
    let lib = Path::new(dir).join("lib");
    workspace_files(&root().join(dir)).into_iter().filter(|f| !f.starts_with(&lib)).collect()
}

/// Runs `check` on every file and fails once at the end, listing every file that failed, so one
/// run shows all the broken cases rather than the first.
fn for_each(files: &[PathBuf], mut check: impl FnMut(&Path) -> Result<(), String>) {
    let failures: Vec<String> = files.iter().filter_map(|f| check(f).err()).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n\n{}", failures.len(), files.len(), failures.join("\n\n"));
}

/// The `// allow: CODE CODE…` lines of a valid file: warnings it is meant to have.
fn allowed_warnings(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("// allow: "))
        .flat_map(|codes| codes.split_whitespace().map(str::to_string))
        .collect()
}

#[test]
fn every_valid_input_and_example_workspace_loads() {
    let mut files = cases("tests/data/valid");
    files.extend(workspace_files(&root().join("workspaces")));
    // In workspaces/, files without a `workspace` node are imported by the others.
    let files: Vec<_> = files.into_iter().filter(|f| !f.starts_with("workspaces") || is_root_file(f)).collect();
    assert!(files.len() >= 16, "found {files:?}");
    for_each(&files, |f| {
        let fe = load(f);
        if fe.sink.has_errors() || fe.workspace.is_none() {
            return Err(format!("{} has errors:\n{}", f.display(), rendered(&fe)));
        }
        // Examples are clean; other valid inputs have only the warnings they say they are about.
        let text = std::fs::read_to_string(f).unwrap();
        let allowed = if f.starts_with("workspaces") { vec![] } else { allowed_warnings(&text) };
        let unexpected = fe.sink.diagnostics().iter().filter(|d| !allowed.iter().any(|a| a == d.code)).count();
        if unexpected > 0 {
            return Err(format!("{} has warnings it does not allow:\n{}", f.display(), rendered(&fe)));
        }
        for code in &allowed {
            if !fe.sink.diagnostics().iter().any(|d| d.code == code) {
                return Err(format!("{} allows `{code}` but does not get it:\n{}", f.display(), rendered(&fe)));
            }
        }
        Ok(())
    });
}

/// Checks one invalid or lint case: the severity it must reach, the `// expect:` line, and the
/// snapshot of its rendered diagnostics.
fn check_case(f: &Path, snapshots: &Path, errors: bool) -> Result<(), String> {
    let fe = load(f);
    let out = rendered(&fe);
    let name = f.display();
    if errors && !fe.sink.has_errors() {
        return Err(format!("{name} loads without errors:\n{out}"));
    }
    if !errors && (fe.sink.has_errors() || fe.sink.warning_count() == 0) {
        return Err(format!("{name} should have warnings and no errors:\n{out}"));
    }
    expect_line(f, &fe).map_err(|e| format!("{name}: {e}; got:\n{out}"))?;
    let stem = f.file_stem().unwrap().to_string_lossy().to_string();
    // A changed snapshot panics inside insta (after printing its diff); catching it lets the other
    // cases run and report too.
    std::panic::catch_unwind(|| {
        insta::with_settings!({ snapshot_path => snapshots, prepend_module_to_snapshot => false, snapshot_suffix => "" }, {
            insta::assert_snapshot!(stem, out);
        });
    })
    .map_err(|_| format!("{name}: the snapshot changed (diff above)"))
}

/// `a/lib/../b` → `a/b`, the way the loader names imported files.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Each case says where the diagnostic it is about starts, as `// expect: [PATH:]LINE:COL CODE`
/// on its first line; PATH (relative to the case) names an imported file when the mistake is there.
fn expect_line(f: &Path, fe: &msws::lower::Frontend) -> Result<(), String> {
    let text = std::fs::read_to_string(f).unwrap();
    let Some(expect) = text.lines().next().and_then(|l| l.trim().strip_prefix("// expect: ")) else {
        return Err("the first line is not `// expect: [PATH:]LINE:COL CODE`".into());
    };
    let (pos, code) = expect.split_once(' ').ok_or("no code after the position")?;
    let mut parts: Vec<&str> = pos.rsplitn(3, ':').collect();
    parts.reverse();
    let (file, line, col) = match parts.as_slice() {
        [file, line, col] => (normalize(&f.parent().unwrap().join(file)), *line, *col),
        [line, col] => (f.to_path_buf(), *line, *col),
        _ => return Err(format!("cannot read the position `{pos}`")),
    };
    let (line, col): (usize, usize) = (line.parse().map_err(|_| "bad line")?, col.parse().map_err(|_| "bad column")?);
    let found = fe.sink.diagnostics().iter().any(|d| {
        d.code == code
            && d.primary_span().is_some_and(|s| {
                let source = fe.map.get(s.file);
                Path::new(&source.name) == file.as_path() && source.line_col(s.start) == (line, col)
            })
    });
    if found { Ok(()) } else { Err(format!("no `{code}` at {}:{line}:{col}", file.display())) }
}

#[test]
fn every_invalid_input_has_its_error_and_snapshotted_diagnostics() {
    let files = cases("tests/data/invalid");
    assert!(files.len() >= 45, "only {} invalid inputs", files.len());
    let snapshots = root().join("tests/data/invalid/snapshots");
    for_each(&files, |f| check_case(f, &snapshots, true));
}

#[test]
fn every_lint_input_has_its_warning_and_snapshotted_diagnostics() {
    let files = cases("tests/data/lint");
    assert!(files.len() >= 4, "only {} lint inputs", files.len());
    let snapshots = root().join("tests/data/lint/snapshots");
    for_each(&files, |f| check_case(f, &snapshots, false));
}

/// A few valid inputs exercise forms that could load and still mean the wrong thing; check what
/// they mean.
#[test]
fn valid_inputs_mean_what_they_say() {
    use msws::model::{EnvValue, VolumeSource};

    let ws = |f: &str| load(Path::new(f)).workspace.unwrap_or_else(|| panic!("{f} does not load"));

    // Variables: an integer and a boolean through "${…}", and `$${` kept as a literal `${`.
    let vars = ws("tests/data/valid/variables.kdl");
    let qwen = vars.service("qwen").unwrap();
    let decode = qwen.decode.as_ref().unwrap();
    assert_eq!(decode.replicas, 2);
    assert!(qwen.read_only);
    assert_eq!(qwen.served_name.as_deref(), Some("Qwen/Qwen2.5-7B-Instruct"));
    let vllm = &decode.containers[0];
    assert!(vllm.args.windows(2).any(|w| w == ["--max-model-len", "8192"]), "{:?}", vllm.args);
    let greeting = vllm.env.iter().find(|e| e.name == "GREETING").unwrap();
    assert_eq!(greeting.value, EnvValue::Literal("${HOME} stays as written".into()));

    // An import's settings win over the imported file's defaults.
    let imported = ws("tests/data/valid/import-with-vars.kdl");
    assert_eq!(imported.service("granite").unwrap().decode.as_ref().unwrap().replicas, 3);
    assert_eq!(imported.storage("models").unwrap().class.as_deref(), Some("nfs-retain"));

    // Routing: `#null` drops a default flag, `enabled=#false` drops the proxy.
    let routing = ws("tests/data/valid/routing.kdl");
    let proxy = routing.service("tuned-proxy").unwrap().routing.proxy.clone().unwrap();
    assert!(proxy.flags.iter().all(|(f, _)| *f != "zap-log-level"), "{:?}", proxy.flags);
    assert!(proxy.flags.contains(&("secure-proxy", "true".into())), "{:?}", proxy.flags);
    assert_eq!(proxy.target_port, 8201);
    assert!(routing.service("no-proxy").unwrap().routing.proxy.is_none());

    // Volumes of every kind, and a preset's container merged with the role's own.
    let roles = ws("tests/data/valid/roles.kdl");
    let decode = roles.service("llama").unwrap().decode.clone().unwrap();
    assert_eq!(decode.volumes.len(), 6);
    assert!(matches!(decode.volumes[2].source, VolumeSource::Claim { read_only: Some(true), .. }));
    assert_eq!(decode.containers.len(), 1, "the role's `vllm` merges with the preset's");
    assert_eq!(decode.init_containers[0].restart_policy.as_deref(), Some("Always"));
    assert_eq!((decode.parallelism.tensor, decode.parallelism.data, decode.parallelism.workers), (4, 2, 2));

    // KDL v1: bare booleans read as booleans.
    let v1 = ws("tests/data/valid/kdl-v1.kdl");
    assert!(v1.storage("cache").unwrap().existing);
    assert!(!v1.service("opt").unwrap().read_only);
}

/// A workspace large enough to be read on several threads reports exactly what a small one would:
/// each problem once, wherever it falls in the split, and a variable counts as used when any
/// part of the file uses it.
#[test]
fn a_large_workspace_reports_the_same_diagnostics_as_a_small_one() {
    let unit = |i: usize| {
        let class = if i == 290 { "${class}" } else { "standard" };
        let typo = if i == 3 || i == 280 { "    sise \"1Gi\"\n" } else { "" };
        format!(
            "storage \"pvc-{i}\" {{\n    access \"ReadWriteMany\"\n    size \"5Gi\"\n    class \"{class}\"\n{typo}}}\n"
        )
    };
    let head = "workspace \"w\" format=1\nvar \"class\" default=\"fast\"\nvar \"unused\" default=\"x\"\n";
    let text: String = head.to_string() + &(0..300).map(unit).collect::<String>();
    let fe = msws::lower::load_str("w.kdl", &text, &msws::lower::Options::default());
    let codes: Vec<&str> = fe.sink.diagnostics().iter().map(|d| d.code).collect();
    assert_eq!(codes.iter().filter(|c| **c == "msws::unknown-node").count(), 2, "{codes:?}");
    // `class` is used only by a late storage; `unused` by none. Warnings come only without errors,
    // so check the usage on the same file with the typos fixed.
    let fixed = text.replace("    sise \"1Gi\"\n", "");
    let fe = msws::lower::load_str("w.kdl", &fixed, &msws::lower::Options::default());
    let warnings: Vec<String> = fe.sink.diagnostics().iter().map(|d| d.message.clone()).collect();
    assert_eq!(warnings, ["variable `unused` is never used"]);
    let ws = fe.workspace.unwrap();
    assert_eq!(ws.storages.len(), 300);
    assert_eq!(ws.storages[290].class.as_deref(), Some("fast"));
    assert!(ws.storages.iter().enumerate().all(|(i, s)| s.name == format!("pvc-{i}")), "declaration order kept");
}
