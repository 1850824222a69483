//! The front end on files: every valid input loads without errors, every invalid input gets the
//! diagnostics snapshotted next to this file (rendered without colour at a fixed width).

use std::path::Path;

use std::path::PathBuf;

use crate::support::{is_root_file, load, rendered, root, workspace_files};

/// The invalid inputs; files under `invalid/lib/` are only imported by them.
fn invalid_files() -> Vec<PathBuf> {
    workspace_files(&root().join("tests/data/invalid")).into_iter().filter(|f| !f.starts_with("tests/data/invalid/lib")).collect()
}

#[test]
fn every_valid_input_and_example_workspace_loads() {
    let mut files = workspace_files(&root().join("tests/data/valid"));
    files.extend(workspace_files(&root().join("workspaces")));
    let files: Vec<_> = files.into_iter().filter(|f| is_root_file(f)).collect();
    assert!(files.len() >= 8, "found {files:?}");
    for f in files {
        let fe = load(&f);
        assert!(!fe.sink.has_errors(), "{} has errors:\n{}", f.display(), rendered(&fe));
        assert!(fe.workspace.is_some(), "{}", f.display());
        // Examples are clean: not even a warning.
        if f.starts_with("workspaces") {
            assert!(fe.sink.is_empty(), "{} has warnings:\n{}", f.display(), rendered(&fe));
        }
    }
}

#[test]
fn every_invalid_input_has_snapshotted_diagnostics() {
    let files = invalid_files();
    assert!(files.len() >= 40, "only {} invalid inputs", files.len());
    for f in files {
        let fe = load(&f);
        assert!(fe.sink.has_errors(), "{} loads without errors", f.display());
        assert!(fe.workspace.is_none() || fe.sink.has_errors());
        let name = f.file_stem().unwrap().to_string_lossy().to_string();
        insta::with_settings!({ snapshot_path => root().join("tests/data/invalid/snapshots"), prepend_module_to_snapshot => false, snapshot_suffix => "" }, {
            insta::assert_snapshot!(name, rendered(&fe));
        });
    }
}

#[test]
fn diagnostics_point_at_the_place_named_in_each_invalid_file() {
    // Each invalid file says where its first error is, as `// expect: LINE:COL code`.
    for f in invalid_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let Some(expect) = text.lines().find_map(|l| l.trim().strip_prefix("// expect: ")) else {
            panic!("{} has no `// expect: LINE:COL code` line", f.display());
        };
        let (pos, code) = expect.split_once(' ').unwrap();
        let (line, col) = pos.split_once(':').unwrap();
        let (line, col): (usize, usize) = (line.parse().unwrap(), col.parse().unwrap());
        let fe = load(&f);
        let found = fe.sink.diagnostics().iter().any(|d| {
            d.code == code
                && d.primary_span().is_some_and(|s| {
                    let file = fe.map.get(s.file);
                    Path::new(&file.name) == f.as_path() && file.line_col(s.start) == (line, col)
                })
        });
        assert!(found, "{}: no `{code}` at {line}:{col}; got:\n{}", f.display(), rendered(&fe));
    }
}
