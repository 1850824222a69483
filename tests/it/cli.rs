//! The `msws` binary as a user meets it: transcripts of `validate`, `graph` and `fmt` (what goes
//! to stdout, what to stderr, the exit code), the `--format json` schema, variables from the
//! command line and the environment, colour rules, and the ```console examples in `docs/`, which
//! are run exactly as written so that the documentation cannot drift from the binary.

use std::path::{Path, PathBuf};

use serde_json::Value;
use snapbox::cmd::{Command, cargo_bin};
use snapbox::str;

use crate::support::{is_root_file, root, workspace_files};

/// `msws`, run from the crate root, with no colour preference and no `MSWS_VAR_*` inherited from
/// whoever runs the tests.
fn msws() -> Command {
    in_dir(&root())
}

fn in_dir(dir: &Path) -> Command {
    let mut cmd = Command::new(cargo_bin!("msws")).current_dir(dir).env_remove("NO_COLOR");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MSWS_VAR_") {
            cmd = cmd.env_remove(k);
        }
    }
    cmd
}

fn stdout_of(out: &snapbox::cmd::OutputAssert) -> String {
    String::from_utf8(out.get_output().stdout.clone()).expect("stdout is UTF-8")
}

fn stderr_of(out: &snapbox::cmd::OutputAssert) -> String {
    String::from_utf8(out.get_output().stderr.clone()).expect("stderr is UTF-8")
}

fn json_of(out: &snapbox::cmd::OutputAssert) -> Value {
    let stdout = stdout_of(out);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{stdout}"))
}

/// A temporary directory holding `files`; commands run inside it name them by relative path.
fn temp_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn example_workspaces() -> Vec<PathBuf> {
    workspace_files(&root().join("workspaces")).into_iter().filter(|f| is_root_file(f)).collect()
}

/// Two errors in one file: both are reported, not only the first.
const BROKEN: &str = r#"workspace "broken" format=1 {
    namespace "llm-d"
}

storage "model-pvc" {
    access "ReadWriteMany"
    sise "5Gi"
}

secret "hf-token" from-env="HF_TOKEN"

download "opt-125m" {
    from "hf://facebook/opt-125m" revision="main"
    into "model-pvc" path="models/opt-125m"
    token secret="hf-tokne"
}
"#;

/// One claim whose access mode is a variable: ReadWriteOnce adds a `release` step to the graph,
/// so the graph shows which value won.
const ACCESS_VAR: &str = r#"workspace "access" format=1 {
    namespace "llm-d"
}

var "access" default="ReadWriteMany"

storage "models" {
    access "${access}"
    size "5Gi"
}

download "opt" {
    from "hf://facebook/opt-125m" revision="main"
    into "models" path="opt"
}

model-service "opt" {
    model "opt"
    served-name "facebook/opt-125m"
    decode replicas=1 extends="std/vllm-single"
}
"#;

/// Valid, but in no canonical layout, with comments of every kind and a node commented out.
const MESSY: &str = r#"// The model library.
workspace   "messy"   format=1 {
  namespace "llm-d"   // where everything goes
}


/* the claim */
storage "models" { access "ReadWriteMany"; size "5Gi"; class "standard" }
model-service "sim" {
        uri "hf://random/model"
  served-name "random/model"   ; accelerator "cpu"
    model-size "5Mi"
  /- prefill replicas=1
  decode replicas=1 { container "vllm" image="ghcr.io/llm-d/llm-d-inference-sim:latest" command="image-default" mount-model=#true { port 8200 protocol="TCP" } }
}
"#;

// ---------------------------------------------------------------------------------------------
// validate

#[test]
fn validate_accepts_every_example_on_stdout_with_exit_0() {
    let mut transcript = String::new();
    for f in example_workspaces() {
        let out = msws().arg("validate").arg(&f).assert().success().stderr_eq(str![""]);
        transcript += &stdout_of(&out);
    }
    snapbox::assert_data_eq!(
        transcript,
        str![[r#"
workspaces/cpu-sim.kdl: workspace `cpu-sim` is valid (2 steps)
workspaces/hf-direct.kdl: workspace `qwen-direct` is valid (2 steps)
workspaces/llm-d-optimized-baseline.kdl: workspace `optimized-baseline` is valid (5 steps)
workspaces/llm-d-pd-disaggregatedset.kdl: workspace `pd-disaggregation` is valid (4 steps)
workspaces/multi-env/dev.kdl: workspace `granite-dev` is valid (5 steps)
workspaces/multi-env/prod.kdl: workspace `granite-prod` is valid (5 steps)
workspaces/opt-125m-rwo.kdl: workspace `opt-125m-rwo` is valid (6 steps)
workspaces/opt-125m-rwx.kdl: workspace `opt-125m` is valid (5 steps)
workspaces/pvc-hf.kdl: workspace `llama-cache` is valid (4 steps)
workspaces/shared-claim.kdl: workspace `model-library` is valid (8 steps)

"#]]
    );
}

#[test]
fn validate_reports_every_error_on_stderr_and_exits_1() {
    let dir = temp_with(&[("broken.kdl", BROKEN)]);
    in_dir(dir.path()).args(["validate", "broken.kdl"]).assert().code(1).stdout_eq(str![""]).stderr_eq(str![[r#"
msws::unknown-node

  × unknown node `sise` in `storage "model-pvc"`
   ╭─[broken.kdl:7:5]
 6 │     access "ReadWriteMany"
 7 │     sise "5Gi"
   ·     ──┬─
   ·       ╰── unknown node
 8 │ }
   ╰────
  help: did you mean `size`?

msws::dangling-reference

  × there is no secret `hf-tokne`
    ╭─[broken.kdl:15:18]
 14 │     into "model-pvc" path="models/opt-125m"
 15 │     token secret="hf-tokne"
    ·                  ─────┬────
    ·                       ╰── no secret of that name
 16 │ }
    ╰────
  help: did you mean `hf-token`?

error: broken.kdl has 2 errors

"#]]);
}

#[test]
fn validate_json_on_a_valid_file_follows_the_documented_schema() {
    let out = msws().args(["validate", "workspaces/opt-125m-rwo.kdl", "--format", "json"]).assert().success();
    assert_eq!(stderr_of(&out), "");
    let doc = json_of(&out);
    assert_schema(&doc);
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["errors"], 0);
    assert_eq!(doc["warnings"], 0);
    assert_eq!(doc["diagnostics"], serde_json::json!([]));
    assert_eq!(doc["workspace"], "opt-125m-rwo");
    let steps: Vec<(&str, Vec<&str>)> = doc["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (s["id"].as_str().unwrap(), s["after"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect())
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("storage/model-pvc", vec![]),
            ("secret/hf-token", vec![]),
            ("download/opt-125m", vec!["storage/model-pvc", "secret/hf-token"]),
            ("release/opt-125m", vec!["download/opt-125m"]),
            ("pre-pull/opt", vec![]),
            ("model-service/opt", vec!["storage/model-pvc", "release/opt-125m", "pre-pull/opt"]),
        ]
    );
}

#[test]
fn validate_json_on_an_invalid_file_lists_every_diagnostic_with_its_place() {
    let dir = temp_with(&[("broken.kdl", BROKEN)]);
    let out = in_dir(dir.path()).args(["validate", "broken.kdl", "--format", "json"]).assert().code(1);
    // stdout is the JSON document alone; the diagnostics are in it, not rendered on stderr.
    assert_eq!(stderr_of(&out), "error: broken.kdl has 2 errors\n");
    let doc = json_of(&out);
    assert_schema(&doc);
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["errors"], 2);
    assert_eq!(doc["workspace"], Value::Null);
    assert_eq!(doc["steps"], serde_json::json!([]));
    let diags = doc["diagnostics"].as_array().unwrap();
    let brief: Vec<String> = diags
        .iter()
        .map(|d| {
            let text = |k: &str| d[k].as_str().unwrap().to_string();
            format!(
                "{} {} {}:{}:{} {}",
                text("severity"),
                text("code"),
                text("file"),
                d["line"],
                d["column"],
                text("message")
            )
        })
        .collect();
    snapbox::assert_data_eq!(
        brief.join("\n"),
        str![[r#"
error msws::unknown-node broken.kdl:7:5 unknown node `sise` in `storage "model-pvc"`
error msws::dangling-reference broken.kdl:15:18 there is no secret `hf-tokne`
"#]]
    );
    let unknown = diags.iter().find(|d| d["code"] == "msws::unknown-node").unwrap();
    assert_eq!(unknown["help"], "did you mean `size`?");
    assert_eq!(unknown["labels"][0]["text"], "unknown node");
    assert_eq!(unknown["labels"][0]["end_column"], 9);
}

#[test]
fn validate_json_on_a_missing_file_is_still_one_json_document() {
    let out = msws().args(["validate", "no/such/file.kdl", "--format", "json"]).assert().code(1);
    let doc = json_of(&out);
    assert_schema(&doc);
    assert_eq!(doc["diagnostics"][0]["code"], "msws::io");
    assert_eq!(doc["diagnostics"][0]["file"], Value::Null);
}

/// The shape of `validate --format json`, version 1 (docs/commands.md).
fn assert_schema(doc: &Value) {
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    assert_eq!(
        keys(doc),
        ["version", "file", "valid", "errors", "warnings", "diagnostics", "workspace", "variables", "steps"],
        "{doc:#}"
    );
    assert_eq!(doc["version"], 1);
    assert!(doc["file"].is_string());
    assert!(doc["valid"].is_boolean());
    assert!(doc["errors"].is_u64() && doc["warnings"].is_u64());
    assert!(doc["workspace"].is_string() || doc["workspace"].is_null());
    let diags = doc["diagnostics"].as_array().unwrap();
    let count = |sev: &str| diags.iter().filter(|d| d["severity"] == sev).count() as u64;
    assert_eq!(doc["errors"].as_u64(), Some(count("error")));
    assert_eq!(doc["warnings"].as_u64(), Some(count("warning")));
    assert_eq!(doc["valid"].as_bool(), Some(count("error") == 0));
    for d in diags {
        assert_diagnostic(d);
    }
    for v in doc["variables"].as_array().unwrap() {
        // Names and where the value came from; never the value itself.
        assert_eq!(keys(v), ["name", "source"], "{v:#}");
        assert!(v["name"].is_string());
        let source = v["source"].as_str().unwrap();
        assert!(
            ["command-line", "import", "default"].contains(&source) || source.starts_with("env:MSWS_VAR_"),
            "{source}"
        );
    }
    for s in doc["steps"].as_array().unwrap() {
        assert_eq!(keys(s), ["id", "after"], "{s:#}");
        assert!(s["id"].as_str().unwrap().contains('/'));
        assert!(s["after"].as_array().unwrap().iter().all(Value::is_string));
    }
}

fn assert_diagnostic(d: &Value) {
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["severity", "code", "message", "file", "line", "column", "labels", "help", "notes"], "{d:#}");
    assert!(["error", "warning", "note"].contains(&d["severity"].as_str().unwrap()), "{d:#}");
    assert!(d["code"].as_str().unwrap().starts_with("msws::"));
    assert!(d["message"].is_string());
    assert!(d["help"].is_string() || d["help"].is_null());
    let labels = d["labels"].as_array().unwrap();
    // The primary place is the first label's, or nothing at all when the problem has no place.
    match labels.first() {
        Some(first) => {
            for k in ["file", "line", "column"] {
                assert_eq!(d[k], first[k], "{d:#}");
            }
        }
        None => assert!(d["file"].is_null() && d["line"].is_null() && d["column"].is_null(), "{d:#}"),
    }
    for l in labels {
        let keys: Vec<&String> = l.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["file", "line", "column", "end_line", "end_column", "offset", "length", "text"], "{l:#}");
        assert!(l["file"].is_string() && l["text"].is_string());
        for k in ["line", "column", "end_line", "end_column", "offset", "length"] {
            assert!(l[k].is_u64(), "{k} in {l:#}");
        }
        assert!(l["line"].as_u64() >= Some(1) && l["column"].as_u64() >= Some(1));
    }
    for n in d["notes"].as_array().unwrap() {
        assert_diagnostic(n);
    }
}

#[test]
fn validate_json_names_where_each_variable_came_from_but_never_its_value() {
    let out = msws()
        .args(["validate", "workspaces/multi-env/prod.kdl", "--format", "json"])
        .args(["--var", "vllm-tag=sentinel-tag-4711"])
        .env("MSWS_VAR_STORAGE_CLASS", "sentinel-class-4712")
        .assert()
        .success();
    let stdout = stdout_of(&out);
    let doc = json_of(&out);
    assert_schema(&doc);
    assert_eq!(
        doc["variables"],
        serde_json::json!([
            { "name": "replicas", "source": "import" },
            { "name": "storage-class", "source": "env:MSWS_VAR_STORAGE_CLASS" },
            { "name": "vllm-tag", "source": "command-line" },
        ])
    );
    for value in ["sentinel-tag-4711", "sentinel-class-4712", "nfs-retain", "v0.3.0"] {
        assert!(!stdout.contains(value), "`{value}` is in the JSON:\n{stdout}");
    }

    // With nothing set, dev.kdl takes base.kdl's defaults.
    let out = msws().args(["validate", "workspaces/multi-env/dev.kdl", "--format", "json"]).assert().success();
    let doc = json_of(&out);
    let sources: Vec<&str> =
        doc["variables"].as_array().unwrap().iter().map(|v| v["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["default", "default", "default"]);
}

#[test]
fn a_variable_is_set_by_var_over_the_environment_over_the_default() {
    let dir = temp_with(&[("access.kdl", ACCESS_VAR)]);
    let run = |env: Option<&str>, var: Option<&str>| {
        let mut cmd = in_dir(dir.path()).args(["validate", "access.kdl", "--format", "json"]);
        if let Some(e) = env {
            cmd = cmd.env("MSWS_VAR_ACCESS", e);
        }
        if let Some(v) = var {
            cmd = cmd.args(["--var", &format!("access={v}")]);
        }
        let doc = json_of(&cmd.assert().success());
        let has_release = doc["steps"].as_array().unwrap().iter().any(|s| s["id"] == "release/opt");
        (doc["variables"][0]["source"].as_str().unwrap().to_string(), has_release)
    };
    assert_eq!(run(None, None), ("default".into(), false));
    assert_eq!(run(Some("ReadWriteOnce"), None), ("env:MSWS_VAR_ACCESS".into(), true));
    assert_eq!(run(None, Some("ReadWriteOnce")), ("command-line".into(), true));
    assert_eq!(run(Some("ReadWriteOnce"), Some("ReadWriteMany")), ("command-line".into(), false));

    // The same, seen in `msws graph`: the release step appears only when the value says so.
    in_dir(dir.path()).args(["graph", "access.kdl"]).assert().success().stdout_eq(str![[r#"
workspace access: 4 steps
storage/models
└── download/opt
    └── model-service/opt  (also after storage/models, pre-pull/opt)
pre-pull/opt

"#]]);
    in_dir(dir.path()).args(["graph", "access.kdl", "--var", "access=ReadWriteOnce"]).assert().success().stdout_eq(
        str![[r#"
workspace access: 5 steps
storage/models
└── download/opt
    └── release/opt
        └── model-service/opt  (also after storage/models, pre-pull/opt)
pre-pull/opt

"#]],
    );
    in_dir(dir.path())
        .args(["graph", "access.kdl"])
        .env("MSWS_VAR_ACCESS", "ReadWriteOnce")
        .assert()
        .success()
        .stdout_eq(str![[r#"
workspace access: 5 steps
storage/models
└── download/opt
    └── release/opt
        └── model-service/opt  (also after storage/models, pre-pull/opt)
pre-pull/opt

"#]]);
}

#[test]
fn a_bad_value_from_var_or_the_environment_is_an_error_at_its_use() {
    msws()
        .args(["validate", "workspaces/multi-env/dev.kdl", "--var", "replicas=three"])
        .assert()
        .code(1)
        .stdout_eq(str![""])
        .stderr_eq(str![[r#"
msws::wrong-kind

  × expected an integer, but the variable's value is `three`
    ╭─[workspaces/multi-env/base.kdl:32:21]
 31 │     served-name "ibm-granite/granite-3.3-2b-instruct"
 32 │     decode replicas="${replicas}" {
    ·                     ──────┬──────
    ·                           ╰── this variable
 33 │         container "vllm" extends="our-vllm" {
    ╰────
  help: `replicas` takes its value from `--var replicas=…`; it must be an integer, like `2` here

error: workspaces/multi-env/dev.kdl has 1 error

"#]]);
    msws()
        .args(["validate", "workspaces/multi-env/dev.kdl"])
        .env("MSWS_VAR_REPLICAS", "three")
        .assert()
        .code(1)
        .stdout_eq(str![""])
        .stderr_eq(str![[r#"
msws::wrong-kind

  × expected an integer, but the variable's value is `three`
    ╭─[workspaces/multi-env/base.kdl:32:21]
 31 │     served-name "ibm-granite/granite-3.3-2b-instruct"
 32 │     decode replicas="${replicas}" {
    ·                     ──────┬──────
    ·                           ╰── this variable
 33 │         container "vllm" extends="our-vllm" {
    ╰────
  help: `replicas` takes its value from the environment variable MSWS_VAR_REPLICAS; it must be an
        integer, like `2` here

error: workspaces/multi-env/dev.kdl has 1 error

"#]]);
}

#[test]
fn an_undeclared_var_is_an_error() {
    msws()
        .args(["validate", "workspaces/opt-125m-rwx.kdl", "--var", "replcias=2"])
        .assert()
        .code(1)
        .stdout_eq(str![""])
        .stderr_eq(str![[r#"
msws::variable

  × `--var replcias` sets a variable the workspace does not declare
  help: declare it: `var "replcias" default="…"`

error: workspaces/opt-125m-rwx.kdl has 1 error

"#]]);
}

#[test]
fn usage_errors_exit_2_with_clap_s_message_on_stderr() {
    let cases: &[&[&str]] = &[
        &[],
        &["validate"],
        &["validate", "workspaces/cpu-sim.kdl", "--bogus"],
        &["validate", "workspaces/cpu-sim.kdl", "--var", "novalue"],
        &["validate", "workspaces/cpu-sim.kdl", "--var", "=value"],
        &["validate", "workspaces/cpu-sim.kdl", "--format", "yaml"],
        &["validate", "workspaces/cpu-sim.kdl", "--color", "sometimes"],
        &["graph"],
        &["fmt"],
        &["frobnicate"],
    ];
    for args in cases {
        let out = msws().args(*args).assert().code(2).stdout_eq(str![""]);
        let stderr = stderr_of(&out);
        // Without a command, clap shows the help instead of an `error:` line.
        assert!(
            stderr.starts_with("error: ") || args.is_empty() && stderr.contains("Usage: msws"),
            "msws {args:?}:\n{stderr}"
        );
    }
    msws().args(["validate", "workspaces/cpu-sim.kdl", "--var", "novalue"]).assert().code(2).stderr_eq(str![[r#"
error: invalid value 'novalue' for '--var <NAME=VALUE>': `novalue` is not NAME=VALUE

For more information, try '--help'.

"#]]);
}

#[test]
fn help_and_version_go_to_stdout_with_exit_0() {
    let out = msws().arg("--help").assert().success().stderr_eq(str![""]);
    for command in ["validate", "graph", "fmt"] {
        assert!(stdout_of(&out).contains(command));
    }
    msws().arg("--version").assert().success().stdout_eq(str!["msws [..]\n"]);
}

#[test]
fn a_file_that_does_not_exist_is_a_clear_error_with_exit_1() {
    msws().args(["validate", "no/such/file.kdl"]).assert().code(1).stdout_eq(str![""]).stderr_eq(str![[r#"
msws::io

  × cannot read no/such/file.kdl: No such file or directory (os error 2)

error: no/such/file.kdl has 1 error

"#]]);
    msws().args(["graph", "no/such/file.kdl"]).assert().code(1).stdout_eq(str![""]).stderr_eq(str![[r#"
msws::io

  × cannot read no/such/file.kdl: No such file or directory (os error 2)

error: no/such/file.kdl has 1 error

"#]]);
    msws().args(["fmt", "no/such/file.kdl"]).assert().code(1).stdout_eq(str![""]).stderr_eq(str![[r#"
error: cannot read no/such/file.kdl: No such file or directory (os error 2)

"#]]);
}

// ---------------------------------------------------------------------------------------------
// colour

fn has_ansi(s: &str) -> bool {
    s.contains("\x1b[")
}

#[test]
fn colour_is_off_without_a_terminal_with_no_color_and_with_color_never() {
    let dir = temp_with(&[("broken.kdl", BROKEN)]);
    let stderr = |f: &dyn Fn(Command) -> Command| {
        let out = f(in_dir(dir.path()).args(["validate", "broken.kdl"])).assert().code(1);
        stderr_of(&out)
    };
    // Not a terminal (the tests capture stderr).
    assert!(!has_ansi(&stderr(&|c| c)));
    assert!(!has_ansi(&stderr(&|c| c.env("NO_COLOR", "1"))));
    assert!(!has_ansi(&stderr(&|c| c.args(["--color", "never"]))));
    assert!(!has_ansi(&stderr(&|c| c.args(["--color", "auto"]))));
    // `--color always` is the one way to get colour into a pipe; the flag goes before or after
    // the command.
    let always = stderr(&|c| c.args(["--color", "always"]));
    assert!(has_ansi(&always), "{always}");
    let before = in_dir(dir.path()).args(["--color", "always", "validate", "broken.kdl"]).assert().code(1);
    assert_eq!(stderr_of(&before), always);
    // Without its escape sequences, coloured output says exactly what plain output says.
    assert_eq!(strip_ansi(&always), stderr(&|c| c));
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `msws ARGS` on a pseudo-terminal with util-linux `script`; `None` where it is missing.
fn on_a_terminal(dir: &Path, args: &str, no_color: bool) -> Option<String> {
    let version = std::process::Command::new("script").arg("--version").output().ok()?;
    if !String::from_utf8_lossy(&version.stdout).contains("util-linux") {
        return None;
    }
    let bin = cargo_bin!("msws").display().to_string();
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &format!("'{bin}' {args}"), "/dev/null"]).current_dir(dir).env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd.output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn colour_is_on_at_a_terminal_unless_no_color_is_set() {
    let dir = temp_with(&[("broken.kdl", BROKEN)]);
    let Some(tty) = on_a_terminal(dir.path(), "validate broken.kdl", false) else {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    };
    assert!(has_ansi(&tty), "{tty}");
    let no_color = on_a_terminal(dir.path(), "validate broken.kdl", true).unwrap();
    assert!(!has_ansi(&no_color), "{no_color}");
    assert!(no_color.contains("unknown node `sise`"), "{no_color}");
    let never = on_a_terminal(dir.path(), "validate broken.kdl --color never", false).unwrap();
    assert!(!has_ansi(&never), "{never}");
}

// ---------------------------------------------------------------------------------------------
// graph

#[test]
fn graph_prints_the_tree_and_the_dot_on_stdout() {
    msws().args(["graph", "workspaces/opt-125m-rwo.kdl"]).assert().success().stderr_eq(str![""]).stdout_eq(str![[r#"
workspace opt-125m-rwo: 6 steps
storage/model-pvc
└── download/opt-125m  (also after secret/hf-token)
    └── release/opt-125m
        └── model-service/opt  (also after storage/model-pvc, pre-pull/opt)
secret/hf-token
pre-pull/opt

"#]]);
    msws().args(["graph", "workspaces/opt-125m-rwo.kdl", "--dot"]).assert().success().stderr_eq(str![""]).stdout_eq(
        str![[r#"
digraph "opt-125m-rwo" {
    rankdir=LR;
    node [fontname="Helvetica"];
    "storage/model-pvc" [shape=cylinder];
    "secret/hf-token" [shape=note];
    "download/opt-125m" [shape=box];
    "release/opt-125m" [shape=box, style=dashed];
    "pre-pull/opt" [shape=box, style=dotted];
    "model-service/opt" [shape=component];
    "storage/model-pvc" -> "download/opt-125m";
    "storage/model-pvc" -> "model-service/opt";
    "secret/hf-token" -> "download/opt-125m";
    "download/opt-125m" -> "release/opt-125m";
    "release/opt-125m" -> "model-service/opt" [label="single-attach"];
    "pre-pull/opt" -> "model-service/opt" [style=dotted];
}

"#]],
    );
}

#[test]
fn graph_of_an_invalid_file_prints_no_graph_and_exits_1() {
    let dir = temp_with(&[("broken.kdl", BROKEN)]);
    let out = in_dir(dir.path()).args(["graph", "broken.kdl"]).assert().code(1).stdout_eq(str![""]);
    let validate = in_dir(dir.path()).args(["validate", "broken.kdl"]).assert().code(1);
    assert_eq!(stderr_of(&out), stderr_of(&validate));
}

// ---------------------------------------------------------------------------------------------
// fmt

#[test]
fn fmt_check_passes_on_every_example_and_changes_nothing() {
    let files = workspace_files(&root().join("workspaces"));
    msws().arg("fmt").arg("--check").args(&files).assert().success().stdout_eq(str![""]).stderr_eq(str![""]);
}

#[test]
fn fmt_check_on_an_unformatted_file_exits_1_and_leaves_it_alone() {
    let dir = temp_with(&[("messy.kdl", MESSY)]);
    in_dir(dir.path())
        .args(["fmt", "--check", "messy.kdl"])
        .assert()
        .code(1)
        .stdout_eq(str![[r#"
messy.kdl: would be reformatted

"#]])
        .stderr_eq(str![""]);
    assert_eq!(std::fs::read_to_string(dir.path().join("messy.kdl")).unwrap(), MESSY);
}

#[test]
fn fmt_rewrites_a_file_once_keeping_its_comments() {
    let dir = temp_with(&[("messy.kdl", MESSY)]);
    let file = dir.path().join("messy.kdl");
    in_dir(dir.path())
        .args(["fmt", "messy.kdl"])
        .assert()
        .success()
        .stdout_eq(str![[r#"
messy.kdl: formatted

"#]])
        .stderr_eq(str![""]);
    let formatted = std::fs::read_to_string(&file).unwrap();
    snapbox::assert_data_eq!(
        formatted.clone(),
        str![[r#"
// The model library.
workspace "messy" format=1 {
    namespace "llm-d" // where everything goes
}

/* the claim */
storage "models" {
    access "ReadWriteMany"
    size "5Gi"
    class "standard"
}
model-service "sim" {
    uri "hf://random/model"
    served-name "random/model"
    accelerator "cpu"
    model-size "5Mi"
    /-prefill replicas=1
    decode replicas=1 {
        container "vllm" image="ghcr.io/llm-d/llm-d-inference-sim:latest" command="image-default" mount-model=#true {
            port 8200 protocol="TCP"
        }
    }
}

"#]]
    );
    for comment in ["// The model library.", "// where everything goes", "/* the claim */", "/-prefill replicas=1"] {
        assert!(formatted.contains(comment), "lost `{comment}`:\n{formatted}");
    }
    // The same workspace as before, to `validate`.
    let before = temp_with(&[("messy.kdl", MESSY)]);
    let validate = |dir: &Path| {
        let out = in_dir(dir).args(["validate", "messy.kdl", "--format", "json"]).assert().success();
        json_of(&out)
    };
    assert_eq!(validate(dir.path()), validate(before.path()));
    // Nothing left to do: `--check` passes and a second `fmt` says nothing.
    in_dir(dir.path()).args(["fmt", "--check", "messy.kdl"]).assert().success().stdout_eq(str![""]);
    in_dir(dir.path()).args(["fmt", "messy.kdl"]).assert().success().stdout_eq(str![""]);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), formatted);
    // No temporary file is left behind by the atomic write.
    let names: Vec<String> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["messy.kdl"]);
}

#[test]
fn fmt_refuses_a_file_with_a_syntax_error_and_leaves_it_byte_for_byte() {
    let bad = "workspace \"w\" format=1 {\n  namespace \"llm-d\n}\r\n";
    let dir = temp_with(&[("bad.kdl", bad)]);
    in_dir(dir.path()).args(["fmt", "bad.kdl"]).assert().code(1).stdout_eq(str![""]).stderr_eq(str![[r#"
msws::syntax

  × this string is not closed
   ╭─[bad.kdl:2:13]
 1 │ workspace "w" format=1 {
 2 │   namespace "llm-d
   ·             ───┬──
   ·                ╰── no closing `"` on this line
 3 │ }
   ╰────
  help: add the closing `"`; a string that spans lines is written between `"""` lines

error: bad.kdl is not valid KDL; left unchanged

"#]]);
    assert_eq!(std::fs::read(dir.path().join("bad.kdl")).unwrap(), bad.as_bytes());
    in_dir(dir.path()).args(["fmt", "--check", "bad.kdl"]).assert().code(1).stdout_eq(str![""]);
    assert_eq!(std::fs::read(dir.path().join("bad.kdl")).unwrap(), bad.as_bytes());
}

#[test]
fn fmt_formats_every_file_it_can_and_reports_the_others() {
    let dir = temp_with(&[("messy.kdl", MESSY), ("bad.kdl", "a {\n")]);
    let out = in_dir(dir.path()).args(["fmt", "missing.kdl", "bad.kdl", "messy.kdl"]).assert().code(1);
    assert_eq!(stdout_of(&out), "messy.kdl: formatted\n");
    let stderr = stderr_of(&out);
    assert!(stderr.starts_with("error: cannot read missing.kdl: "), "{stderr}");
    assert!(stderr.ends_with("error: bad.kdl is not valid KDL; left unchanged\n"), "{stderr}");
    assert_ne!(std::fs::read_to_string(dir.path().join("messy.kdl")).unwrap(), MESSY);
}

#[test]
fn fmt_dash_reads_stdin_and_writes_stdout() {
    let dir = temp_with(&[("messy.kdl", MESSY)]);
    in_dir(dir.path()).args(["fmt", "messy.kdl"]).assert().success();
    let formatted = std::fs::read_to_string(dir.path().join("messy.kdl")).unwrap();
    msws().args(["fmt", "-"]).stdin(MESSY).assert().success().stdout_eq(formatted.clone()).stderr_eq(str![""]);
    // Formatted input comes out unchanged.
    msws().args(["fmt", "-"]).stdin(formatted.clone()).assert().success().stdout_eq(formatted.clone());
    // `--check -` prints nothing but the verdict.
    msws().args(["fmt", "--check", "-"]).stdin(MESSY).assert().code(1).stdout_eq(str![[r#"
<stdin>: would be reformatted

"#]]);
    msws().args(["fmt", "--check", "-"]).stdin(formatted).assert().success().stdout_eq(str![""]);
    msws().args(["fmt", "-"]).stdin("a {\n").assert().code(1).stdout_eq(str![""]).stderr_eq(str![[r#"
msws::syntax

  × this `{` is never closed
   ╭─[<stdin>:1:3]
 1 │ a {
   ·   ┬
   ·   ╰── opened here
   ╰────
  help: add a `}` after the last child of this node

error: <stdin> is not valid KDL; left unchanged

"#]]);
}

// ---------------------------------------------------------------------------------------------
// KDL v1

/// A KDL v1 file: bare `true`/`false` are v1 (v2 writes `#true`/`#false`).
const V1: &str = r#"workspace "old" format=1 {
    namespace "llm-d"
}

storage "hf-cache" existing=true {
    access "ReadWriteMany"
}

model-service "llama" {
    uri "pvc+hf://hf-cache/hub/meta-llama/Llama-3.1-8B-Instruct"
    served-name "meta-llama/Llama-3.1-8B-Instruct"
    read-only false
    decode replicas=1 extends="std/vllm-single"
}
"#;

#[test]
fn a_kdl_v1_file_validates_with_a_warning_and_fmt_converts_it_to_v2() {
    let dir = temp_with(&[("old.kdl", V1)]);
    in_dir(dir.path())
        .args(["validate", "old.kdl"])
        .assert()
        .success()
        .stdout_eq(str![[r#"
old.kdl: workspace `old` is valid (3 steps, 1 warning)

"#]])
        .stderr_eq(str![[r#"
msws::kdl-v1

  ⚠ this file is written in KDL v1 syntax
   ╭─[old.kdl:1:1]
 1 │ workspace "old" format=1 {
   · ────┬────
   ·     ╰── parsed as KDL v1
 2 │     namespace "llm-d"
   ╰────
  help: KDL v1 is still read, but support will be removed; `msws fmt` rewrites the file in KDL v2


"#]]);
    let doc = json_of(&in_dir(dir.path()).args(["validate", "old.kdl", "--format", "json"]).assert().success());
    assert_schema(&doc);
    assert_eq!((doc["valid"].clone(), doc["warnings"].clone()), (Value::Bool(true), 1.into()));
    assert_eq!(doc["diagnostics"][0]["code"], "msws::kdl-v1");
    assert_eq!(doc["diagnostics"][0]["severity"], "warning");

    in_dir(dir.path()).args(["fmt", "--check", "old.kdl"]).assert().code(1);
    in_dir(dir.path()).args(["fmt", "old.kdl"]).assert().success().stdout_eq(str![[r#"
old.kdl: formatted

"#]]);
    let v2 = std::fs::read_to_string(dir.path().join("old.kdl")).unwrap();
    snapbox::assert_data_eq!(
        v2,
        str![[r#"
workspace "old" format=1 {
    namespace "llm-d"
}

storage "hf-cache" existing=#true {
    access "ReadWriteMany"
}

model-service "llama" {
    uri "pvc+hf://hf-cache/hub/meta-llama/Llama-3.1-8B-Instruct"
    served-name "meta-llama/Llama-3.1-8B-Instruct"
    read-only #false
    decode replicas=1 extends="std/vllm-single"
}

"#]]
    );
    // Now plain KDL v2: no warning, and the same workspace.
    in_dir(dir.path())
        .args(["validate", "old.kdl"])
        .assert()
        .success()
        .stdout_eq(str![[r#"
old.kdl: workspace `old` is valid (3 steps)

"#]])
        .stderr_eq(str![""]);
}

/// Whatever the conversion can or cannot do, `fmt` never loses a node: it either writes a file that
/// means the same, or refuses and leaves the file as it was.
#[test]
fn fmt_of_kdl_v1_never_loses_a_node() {
    let v1 = "workspace \"w\" format=1 {\n    namespace \"llm-d\"\n}\n\
              secret \"hf-token\" from-env=\"HF_TOKEN\" // the token\n\
              secret \"other\" existing=true\n";
    let dir = temp_with(&[("old.kdl", v1)]);
    let steps = || {
        let out = in_dir(dir.path()).args(["validate", "old.kdl", "--format", "json"]).assert().success();
        json_of(&out)["steps"].clone()
    };
    let before = steps();
    assert_eq!(before.as_array().map(Vec::len), Some(2), "{before:#}");
    let out = in_dir(dir.path()).args(["fmt", "old.kdl"]).assert();
    let after = std::fs::read_to_string(dir.path().join("old.kdl")).unwrap();
    match out.get_output().status.code() {
        Some(0) => assert_eq!(steps(), before, "{after}"),
        Some(1) => assert_eq!(after, v1),
        other => panic!("exit {other:?}"),
    }
}

/// The `kdl` crate's `v1_to_v2` drops the newline after a line comment at the end of a node, so
/// the next node would end up inside the comment. `fmt` detects the change and refuses (exit 1,
/// "internal error"), so nothing is lost, but such a file cannot be converted. Ignored until the
/// conversion in `src/syntax/fmt.rs` handles trailing comments.
#[test]
fn fmt_of_kdl_v1_keeps_every_node_after_a_trailing_comment() {
    let v1 = V1.replace("storage \"hf-cache\" existing=true {", "storage \"hf-cache\" existing=true { // ours");
    let v1 = v1.replace("namespace \"llm-d\"", "namespace \"llm-d\" // the namespace");
    let dir = temp_with(&[("old.kdl", &v1)]);
    in_dir(dir.path()).args(["fmt", "old.kdl"]).assert().success();
    let v2 = std::fs::read_to_string(dir.path().join("old.kdl")).unwrap();
    in_dir(dir.path()).args(["validate", "old.kdl"]).assert().success().stdout_eq(str![[r#"
old.kdl: workspace `old` is valid (3 steps)

"#]]);
    assert!(v2.contains("// ours") && v2.contains("// the namespace"), "{v2}");
}

// ---------------------------------------------------------------------------------------------
// The examples in docs/

/// One `$ command` of a ```console block and the output shown under it.
struct Example {
    line: usize,
    command: String,
    expected: String,
}

/// A ```console block: its examples, and where its body sits in the markdown (lines, 0-based,
/// end exclusive) so that `SNAPSHOTS=overwrite` can rewrite it.
struct ConsoleBlock {
    body: std::ops::Range<usize>,
    examples: Vec<Example>,
}

/// A markdown file's ```console blocks, and the files its other blocks define with `file=NAME`
/// in their info string (```kdl file=messy.kdl), which every console block of the file can use.
fn console_blocks(markdown: &str) -> (Vec<ConsoleBlock>, Vec<(String, String)>) {
    let lines: Vec<&str> = markdown.lines().collect();
    let (mut blocks, mut files) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < lines.len() {
        let Some(info) = lines[i].trim_start().strip_prefix("```") else {
            i += 1;
            continue;
        };
        let start = i + 1;
        let end = (start..lines.len()).find(|&j| lines[j].trim_start().starts_with("```")).unwrap_or(lines.len());
        let body = &lines[start..end];
        let words: Vec<&str> = info.split_whitespace().collect();
        if words.first() == Some(&"console") {
            let mut examples: Vec<Example> = Vec::new();
            for (k, l) in body.iter().enumerate() {
                if let Some(cmd) = l.strip_prefix("$ ") {
                    examples.push(Example { line: start + k + 1, command: cmd.to_string(), expected: String::new() });
                } else if let Some(e) = examples.last_mut() {
                    e.expected.push_str(l);
                    e.expected.push('\n');
                }
            }
            blocks.push(ConsoleBlock { body: start..end, examples });
        } else if let Some(name) = words.iter().find_map(|w| w.strip_prefix("file=")) {
            files.push((name.to_string(), body.iter().map(|l| format!("{l}\n")).collect()));
        }
        i = end + 1;
    }
    (blocks, files)
}

/// Trailing spaces and blank lines at the end are invisible in markdown; compare without them.
fn normalize(s: &str) -> String {
    // The Kustomize that built a recipe is the machine's kubectl's.
    let s = regex::Regex::new(crate::support::KUSTOMIZE_VERSION[0].0)
        .unwrap()
        .replace_all(s, crate::support::KUSTOMIZE_VERSION[0].1);
    let lines: Vec<&str> = s.lines().map(str::trim_end).collect();
    let n = lines.iter().rposition(|l| !l.is_empty()).map_or(0, |p| p + 1);
    lines[..n].iter().map(|l| format!("{l}\n")).collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Runs one command line as a user's shell would (`sh`, `msws` on the PATH), stdout and stderr
/// interleaved as a terminal shows them. Returns the output and the exit code.
fn run_shell(dir: &Path, command: &str) -> (String, i32) {
    let bin_dir = cargo_bin!("msws").parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin_dir).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(format!("exec 2>&1\n{command}")).current_dir(dir).env("PATH", path).env_remove("NO_COLOR");
    cmd.stdin(std::process::Stdio::null());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("MSWS_VAR_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run `sh -c {command}`: {e}"));
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
}

/// Runs a block in a fresh directory holding a copy of `workspaces/` and the doc's files. Returns
/// the output each example really gave, and the failures.
fn run_block(doc: &str, block: &ConsoleBlock, files: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&root().join("workspaces"), &dir.path().join("workspaces"));
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let (mut actual, mut failures) = (Vec::new(), Vec::new());
    let mut last: Option<(&Example, i32)> = None;
    // Docs show output byte for byte: no `\` to `/` rewriting (JSON escapes are backslashes).
    let assert = snapbox::Assert::new().palette(snapbox::report::Palette::plain()).normalize_paths(false);
    for (k, e) in block.examples.iter().enumerate() {
        // `$ echo $?` shows the exit code of the command before it.
        let (output, code) = if e.command.trim() == "echo $?" {
            let Some((_, code)) = last else {
                failures.push(format!("{doc}:{}: `echo $?` follows no command", e.line));
                continue;
            };
            (format!("{code}\n"), 0)
        } else {
            run_shell(dir.path(), &e.command)
        };
        let output = normalize(&output);
        let shown_code = block.examples.get(k + 1).is_some_and(|n| n.command.trim() == "echo $?");
        if code != 0 && !shown_code {
            failures.push(format!(
                "{doc}:{}: `{}` exited with {code}; follow it with `$ echo $?` showing that\n{output}",
                e.line, e.command
            ));
        }
        if let Err(err) =
            assert.try_eq(Some(&format!("{doc}:{}", e.line)), output.clone().into(), normalize(&e.expected).into())
        {
            failures.push(format!("{doc}:{}: `{}` printed something else:\n{err}", e.line, e.command));
        }
        actual.push(output);
        last = Some((e, code));
    }
    (actual, failures)
}

#[test]
fn every_console_example_in_the_docs_runs_as_shown() {
    let overwrite = std::env::var("SNAPSHOTS").is_ok_and(|v| v == "overwrite");
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.push(root().join("README.md"));
    docs.sort();
    let mut failures = Vec::new();
    let mut commands_md_examples = 0;
    for path in docs {
        let rel = path.strip_prefix(root()).unwrap().display().to_string();
        let markdown = std::fs::read_to_string(&path).unwrap();
        let (blocks, files) = console_blocks(&markdown);
        let mut lines: Vec<String> = markdown.lines().map(str::to_string).collect();
        // Rewrite from the last block up, so earlier line numbers stay valid.
        for block in blocks.iter().rev() {
            if rel == "docs/commands.md" {
                commands_md_examples += block.examples.len();
            }
            if block.examples.is_empty() {
                failures.push(format!("{rel}:{}: a console block without a `$ ` command", block.body.start));
                continue;
            }
            let (actual, block_failures) = run_block(&rel, block, &files);
            if overwrite && !block_failures.is_empty() {
                let mut body = Vec::new();
                for (e, out) in block.examples.iter().zip(&actual) {
                    body.push(format!("$ {}", e.command));
                    body.extend(out.lines().map(str::to_string));
                }
                lines.splice(block.body.clone(), body);
            }
            failures.extend(block_failures);
        }
        if overwrite {
            let mut text = lines.join("\n");
            text.push('\n');
            if text != markdown {
                std::fs::write(&path, text).unwrap();
            }
        }
    }
    assert!(commands_md_examples >= 10, "docs/commands.md has only {commands_md_examples} examples");
    assert!(failures.is_empty(), "{}\n(SNAPSHOTS=overwrite rewrites the outputs in the docs)", failures.join("\n\n"));
}

#[test]
fn console_blocks_are_read_as_commands_and_their_output() {
    let md = "text\n```console\n$ msws a\none\n\ntwo\n$ echo $?\n1\n```\n```kdl file=x.kdl\nnode\n```\n```kdl\nnot a file\n```\n";
    let (blocks, files) = console_blocks(md);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].body, 2..8);
    let ex: Vec<(usize, &str, &str)> =
        blocks[0].examples.iter().map(|e| (e.line, e.command.as_str(), e.expected.as_str())).collect();
    assert_eq!(ex, [(3, "msws a", "one\n\ntwo\n"), (7, "echo $?", "1\n")]);
    assert_eq!(files, [("x.kdl".to_string(), "node\n".to_string())]);
    assert_eq!(normalize("a  \n\nb \n\n\n"), "a\n\nb\n");
}

// ---------------------------------------------------------------------------------------------
// apply, destroy, recover, unlock without a cluster (they run against one in tests/it/apply.rs)

#[test]
fn commands_that_change_the_cluster_fail_cleanly_without_one_and_write_nothing() {
    let text = std::fs::read_to_string(root().join("workspaces/opt-125m-rwo.kdl")).unwrap();
    let dir = temp_with(&[("w.kdl", &text)]);
    for args in [&["apply", "w.kdl", "--yes"][..], &["destroy", "w.kdl", "--yes"], &["unlock", "w.kdl", "--force"]] {
        let out = in_dir(dir.path()).env("KUBECONFIG", "/nonexistent").env("HF_TOKEN", "x").args(args).assert().code(1);
        let stderr = stderr_of(&out);
        assert!(stderr.contains("kubeconfig"), "msws {args:?}:\n{stderr}");
    }
    // No journal, no half-written file.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("w.kdl")]);
    // recover needs a journal to recover from, and says what it needs.
    let out = in_dir(dir.path()).env("KUBECONFIG", "/nonexistent").args(["recover", "w.kdl"]).assert().code(2);
    assert!(stderr_of(&out).contains("--rollback"), "{}", stderr_of(&out));
}

#[test]
fn unlock_without_force_and_bad_apply_flags_are_usage_errors() {
    let out = msws().args(["unlock", "workspaces/opt-125m-rwo.kdl"]).assert().code(2);
    assert!(stderr_of(&out).contains("--force"), "{}", stderr_of(&out));
    let out = msws().args(["apply", "workspaces/opt-125m-rwo.kdl", "--timeout", "soon"]).assert().code(2);
    assert!(stderr_of(&out).contains("`soon` is not a duration"), "{}", stderr_of(&out));
    msws().args(["apply", "workspaces/opt-125m-rwo.kdl", "--parallelism", "0"]).assert().code(2);
    msws().args(["recover", "workspaces/opt-125m-rwo.kdl", "--rollback", "--resume"]).assert().code(2);
}

#[test]
fn a_saved_plan_names_its_workspace_and_apply_reads_it_back() {
    let text = std::fs::read_to_string(root().join("workspaces/opt-125m-rwo.kdl")).unwrap();
    let dir = temp_with(&[("ws/w.kdl", &text)]);
    in_dir(dir.path()).args(["plan", "--offline", "ws/w.kdl", "--out", "plans/p.json"]).assert().code(1);
    std::fs::create_dir_all(dir.path().join("plans")).unwrap();
    in_dir(dir.path()).args(["plan", "--offline", "ws/w.kdl", "--out", "plans/p.json"]).assert().success();
    let plan: Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("plans/p.json")).unwrap()).unwrap();
    assert_eq!(plan["source"], "../ws/w.kdl");
    // apply PLANFILE loads that workspace (and then needs a cluster).
    let out =
        in_dir(dir.path()).env("KUBECONFIG", "/nonexistent").args(["apply", "plans/p.json", "--yes"]).assert().code(1);
    assert!(stderr_of(&out).contains("kubeconfig"), "{}", stderr_of(&out));
    // A plan whose workspace is gone, or of another format, is refused with a reason.
    std::fs::remove_file(dir.path().join("ws/w.kdl")).unwrap();
    let out = in_dir(dir.path()).args(["apply", "plans/p.json", "--yes"]).assert().code(1);
    assert!(stderr_of(&out).contains("w.kdl"), "{}", stderr_of(&out));
    let mut other = plan.clone();
    other["format"] = 99.into();
    std::fs::write(dir.path().join("plans/old.json"), other.to_string()).unwrap();
    let out = in_dir(dir.path()).args(["apply", "plans/old.json", "--yes"]).assert().code(1);
    assert!(stderr_of(&out).contains("format 99"), "{}", stderr_of(&out));
}
