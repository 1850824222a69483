//! The examples in docs/ are tests: a ```kdl block must load cleanly, ```kdl invalid CODE must
//! fail with CODE, ```kdl warning CODE must load with that warning and no error. Every example is
//! also already in `msws fmt`'s layout, so copying one never produces a formatting diff.

use msws::diag::Severity;
use msws::lower::Options;

use crate::support::root;

/// One example as a file among the disk's.
struct BlockBeside<'a> {
    path: std::path::PathBuf,
    text: &'a str,
}

impl msws::lower::Files for BlockBeside<'_> {
    fn read(&self, path: &std::path::Path) -> std::io::Result<String> {
        if path == self.path { Ok(self.text.to_string()) } else { msws::lower::DiskFiles.read(path) }
    }
    fn is_dir(&self, path: &std::path::Path) -> bool {
        msws::lower::DiskFiles.is_dir(path)
    }
    fn kustomize(&self, dir: &std::path::Path) -> Result<(String, String), String> {
        msws::lower::DiskFiles.kustomize(dir)
    }
}

pub struct Block {
    pub info: String,
    pub text: String,
    pub line: usize,
}

/// Fenced code blocks of a markdown file, with their info string and starting line.
pub fn code_blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(info)) => {
                current = Some(Block { info: info.trim().to_string(), text: String::new(), line: i + 1 })
            }
            (Some(_), Some(_)) => out.extend(current.take()),
            (Some(b), None) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

fn check_language_block(b: &Block) -> Result<(), String> {
    let name = format!("docs/language.md:{}", b.line);
    // The example is read as if it were a file of `workspaces/`, so that the manifests it names
    // are that directory's recipes.
    let files = BlockBeside { path: root().join("workspaces/example.kdl"), text: &b.text };
    let mut fe = msws::lower::load(&files.path, &files, &Options::default());
    if let Some(ws) = &fe.workspace {
        msws::graph::build(ws, &mut fe.sink);
    }
    let rendered = crate::support::rendered(&fe);
    let has = |sev: Severity, code: &str| fe.sink.diagnostics().iter().any(|d| d.severity == sev && d.code == code);
    let words: Vec<&str> = b.info.split_whitespace().collect();
    match words.as_slice() {
        ["kdl"] => {
            if !fe.sink.is_empty() {
                return Err(format!("{name}: expected no diagnostics, got:\n{rendered}"));
            }
        }
        ["kdl", "invalid", code] => {
            if !has(Severity::Error, code) {
                return Err(format!("{name}: expected error {code}, got:\n{rendered}"));
            }
        }
        ["kdl", "warning", code] => {
            if fe.sink.has_errors() || !has(Severity::Warning, code) {
                return Err(format!("{name}: expected only warning {code}, got:\n{rendered}"));
            }
        }
        other => return Err(format!("{name}: unknown kdl block kind {other:?}")),
    }
    let formatted = msws::syntax::fmt::format_source(&b.text).map_err(|e| format!("{name}: {e}"))?;
    if formatted != b.text {
        return Err(format!("{name}: not in `msws fmt` layout; formatted:\n{formatted}"));
    }
    Ok(())
}

#[test]
fn language_reference_examples_behave_as_documented() {
    let md = std::fs::read_to_string(root().join("docs/language.md")).unwrap();
    let blocks: Vec<Block> = code_blocks(&md).into_iter().filter(|b| b.info.starts_with("kdl")).collect();
    assert!(blocks.len() >= 15, "only {} kdl examples", blocks.len());
    let failures: Vec<String> = blocks.iter().filter_map(|b| check_language_block(b).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn readme_workspace_example_loads() {
    let md = std::fs::read_to_string(root().join("README.md")).unwrap();
    let blocks: Vec<Block> = code_blocks(&md).into_iter().filter(|b| b.info == "kdl").collect();
    assert!(!blocks.is_empty());
    for b in blocks {
        check_language_block(&b).unwrap();
    }
}

#[test]
fn every_stdlib_preset_is_documented() {
    let md = std::fs::read_to_string(root().join("docs/language.md")).unwrap();
    for (file, text) in msws::lower::STDLIB {
        for line in text.lines().filter(|l| l.starts_with("preset ")) {
            let name = line.split('"').nth(1).unwrap();
            assert!(md.contains(&format!("`std/{name}`")), "std/{name} (from {file}) is not in docs/language.md");
        }
    }
}
