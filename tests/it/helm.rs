//! Real Helm for the tests: [`helm_template`] renders the ModelService chart
//! (`../shared/reference/modelservice/chart`) as `helm template` does, with Helm v4 as a library
//! (`tests/python/helm_template.py`, run with the tests' Python), and the tests below hold it
//! to the chart's own committed outputs (every row of CASES.md, object for object), to Helm's
//! value rules (files, then `--set`, then `--set-string`) and to the chart's error messages.
//! [`helm_template_batch`] renders many cases with one Python process (the differential test,
//! `chart_diff.rs`, renders a hundred).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use super::support::root;

/// The ModelService chart (v0.4.12, with its `common` dependency vendored).
pub fn chart_dir() -> PathBuf {
    root().join("../shared/reference/modelservice/chart")
}

/// The chart's examples: values files and the outputs `helm template` printed for them.
pub fn examples_dir() -> PathBuf {
    root().join("../shared/reference/modelservice/examples")
}

/// The objects `helm template RELEASE CHART -f FILE… --set S… --set-string S…` renders from the
/// ModelService chart, in Helm's order (namespace "default"). A render that fails (a `fail` or
/// `required` in the chart, values its schema refuses, a `--set` Helm cannot apply) is `Err` with
/// Helm's message.
pub fn helm_template(
    release: &str,
    files: &[&Path],
    sets: &[&str],
    set_strings: &[&str],
) -> Result<Vec<Value>, String> {
    let out = run(release, files, sets, set_strings, true)?;
    serde_json::from_str(&out).map_err(|e| format!("helm_template.py printed no JSON list: {e}\n{out}"))
}

/// One render of [`helm_template_batch`]: the values files' texts (in order), `--set`s and
/// `--set-string`s, as [`helm_template`] takes them.
#[derive(Clone, Debug, Default)]
pub struct BatchCase {
    pub release: String,
    /// "default" when empty.
    pub namespace: String,
    pub values: Vec<String>,
    pub sets: Vec<String>,
    pub set_strings: Vec<String>,
}

/// Renders every case as [`helm_template`] would, with one Python process and one loading of
/// the chart (`helm_template.py --batch`): each answer is the objects or Helm's message.
pub fn helm_template_batch(cases: &[BatchCase]) -> Vec<Result<Vec<Value>, String>> {
    use std::io::{BufRead, Write};
    use std::process::Stdio;

    let mut child = Command::new(super::pyenv::python())
        .arg(root().join("tests/python/helm_template.py"))
        .arg("--batch")
        .arg(chart_dir())
        .env_remove("PYTHONPATH")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines: Vec<String> = cases
        .iter()
        .map(|c| {
            let namespace = if c.namespace.is_empty() { "default" } else { c.namespace.as_str() };
            json!({"release": c.release, "namespace": namespace, "values": c.values, "sets": c.sets,
                "set_strings": c.set_strings})
            .to_string()
        })
        .collect();
    // Written from another thread: the answers are read while the requests are still going in.
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        for l in lines {
            if writeln!(stdin, "{l}").is_err() {
                break;
            }
        }
    });
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let answers: Vec<String> = stdout.lines().map_while(Result::ok).collect();
    writer.join().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && answers.len() == cases.len(),
        "helm_template.py --batch failed ({}, {} answers to {} cases):\n{stderr}",
        out.status,
        answers.len(),
        cases.len()
    );
    answers
        .iter()
        .map(|a| {
            let v: Value =
                serde_json::from_str(a).unwrap_or_else(|e| panic!("helm_template.py --batch printed {a}: {e}"));
            match (v.get("objects"), v.get("error")) {
                (Some(Value::Array(objs)), _) => Ok(objs.clone()),
                (_, Some(Value::String(e))) => Err(e.clone()),
                _ => panic!("helm_template.py --batch printed {a}"),
            }
        })
        .collect()
}

/// The same render as `helm template`'s YAML text.
fn helm_template_text(release: &str, files: &[&Path], sets: &[&str]) -> Result<String, String> {
    run(release, files, sets, &[], false)
}

fn run(release: &str, files: &[&Path], sets: &[&str], set_strings: &[&str], json: bool) -> Result<String, String> {
    let chart = chart_dir();
    assert!(
        chart.join("Chart.yaml").is_file(),
        "the ModelService chart is not at {}: the tests expect shared/ beside the crate",
        chart.display()
    );
    let mut cmd = Command::new(super::pyenv::python());
    cmd.arg(root().join("tests/python/helm_template.py")).arg(release).arg(&chart);
    for f in files {
        cmd.arg("-f").arg(f);
    }
    for s in sets {
        cmd.arg("--set").arg(s);
    }
    for s in set_strings {
        cmd.arg("--set-string").arg(s);
    }
    if json {
        cmd.arg("--json");
    }
    let out = cmd.env_remove("PYTHONPATH").env("PYTHONDONTWRITEBYTECODE", "1").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(String::from_utf8(out.stdout).unwrap()),
        // Helm's own error; anything else is a fault of the driver itself.
        Some(1) => Err(stderr.trim().strip_prefix("Error: ").unwrap_or(stderr.trim()).to_string()),
        _ => panic!("helm_template.py failed ({}):\n{stderr}", out.status),
    }
}

/// The rows of CASES.md's table: output file, release, values file, extra `--set`.
fn cases() -> Vec<(String, String, String, Option<String>)> {
    let path = root().join("../shared/reference/modelservice/CASES.md");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let rows: Vec<_> = text
        .lines()
        .filter(|l| l.starts_with("| output-"))
        .map(|l| {
            let cells: Vec<String> = l.trim_matches('|').split('|').map(|c| c.trim().to_string()).collect();
            assert_eq!(cells.len(), 4, "{l}");
            let set = (!cells[3].is_empty()).then(|| cells[3].clone());
            (cells[0].clone(), cells[1].clone(), cells[2].clone(), set)
        })
        .collect();
    assert!(rows.len() >= 9, "CASES.md has a table of examples: {rows:?}");
    rows
}

fn render_case(release: &str, values: &str, set: &Option<String>) -> Result<Vec<Value>, String> {
    let sets: Vec<&str> = set.iter().map(String::as_str).collect();
    helm_template(release, &[&examples_dir().join(values)], &sets, &[])
}

fn committed(output: &str) -> String {
    std::fs::read_to_string(examples_dir().join(output)).unwrap()
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap()
}

#[test]
fn every_example_renders_exactly_as_committed() {
    for (output, release, values, set) in cases() {
        let actual = render_case(&release, &values, &set).unwrap_or_else(|e| panic!("{output}: {e}"));
        let expected = super::manifests::parse_stream(&committed(&output));
        let ids = |objs: &[Value]| -> Vec<String> {
            objs.iter()
                .map(|o| format!("{}/{}", o["kind"].as_str().unwrap(), o["metadata"]["name"].as_str().unwrap()))
                .collect()
        };
        assert_eq!(ids(&actual), ids(&expected), "{output}: the objects, in order");
        for (a, e) in actual.iter().zip(&expected) {
            if a != e {
                let (pe, pa) = (pretty(e), pretty(a));
                let diff = similar::TextDiff::from_lines(pe.as_str(), pa.as_str())
                    .unified_diff()
                    .header("committed", "helm")
                    .to_string();
                panic!("{output}: {}/{} differs from the committed output:\n{diff}", e["kind"], e["metadata"]["name"]);
            }
        }
    }
}

/// The YAML text is `helm template`'s: the same documents, each under its `# Source:` line, in the
/// same order. Blank lines are not compared: helm_template.py splits documents as Helm v4's
/// `SplitManifests` does, keeping a template's trailing newline, which the Helm that made the
/// outputs trimmed.
#[test]
fn the_yaml_stream_is_helm_template_s_text() {
    let no_blank = |t: &str| t.lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join("\n");
    for (output, release, values, set) in cases() {
        let sets: Vec<&str> = set.iter().map(String::as_str).collect();
        let text = helm_template_text(&release, &[&examples_dir().join(&values)], &sets).unwrap();
        let committed = committed(&output);
        let body = committed.strip_prefix("# generated by generate-example-output.sh\n").unwrap_or(&committed);
        assert_eq!(no_blank(&text), no_blank(body), "{output}");
    }
}

#[test]
fn the_cases_of_cases_md_are_the_ones_the_import_tests_use() {
    let table: Vec<(String, String, String, Vec<String>)> =
        cases().into_iter().map(|(o, r, v, s)| (o, r, v, s.into_iter().collect())).collect();
    let consts: Vec<(String, String, String, Vec<String>)> = super::import_values::CASES
        .iter()
        .map(|(o, r, v, s)| (o.to_string(), r.to_string(), v.to_string(), s.iter().map(|x| x.to_string()).collect()))
        .collect();
    assert_eq!(table, consts);
}

#[test]
fn a_batch_answers_each_case_as_a_single_render_does() {
    let mut batch: Vec<BatchCase> = cases()
        .into_iter()
        .map(|(_, release, values, set)| BatchCase {
            release,
            values: vec![std::fs::read_to_string(examples_dir().join(values)).unwrap()],
            sets: set.into_iter().collect(),
            ..BatchCase::default()
        })
        .collect();
    let custom = "decode:\n  containers:\n  - {name: vllm, image: img, modelCommand: custom}\n";
    batch.push(BatchCase { release: "x".into(), values: vec![custom.into()], ..BatchCase::default() });
    batch.push(BatchCase { release: "Bad_Name".into(), ..BatchCase::default() });
    batch.push(BatchCase {
        release: "ns".into(),
        namespace: "team-a".into(),
        values: vec!["decode: {replicas: 2}\n---\ndecode: {monitoring: {podmonitor: {enabled: true}}}\n".into()],
        set_strings: vec!["modelArtifacts.labels.kept=007".into()],
        ..BatchCase::default()
    });
    let answers = helm_template_batch(&batch);
    assert_eq!(answers.len(), batch.len());
    for ((output, ..), answer) in cases().iter().zip(&answers) {
        let expected = super::manifests::parse_stream(&committed(output));
        assert_eq!(answer.as_ref().unwrap(), &expected, "{output}");
    }
    let n = cases().len();
    assert_eq!(
        answers[n].as_ref().unwrap_err(),
        &helm_template(
            "x",
            &[],
            &[
                "decode.containers[0].name=vllm",
                "decode.containers[0].image=img",
                "decode.containers[0].modelCommand=custom",
            ],
            &[]
        )
        .unwrap_err()
    );
    assert!(answers[n + 1].as_ref().unwrap_err().starts_with("invalid release name"), "{:?}", answers[n + 1]);
    // Documents of one text merge; the namespace reaches the templates; --set-string applies.
    let objs = answers[n + 2].as_ref().unwrap();
    let monitor = objs.iter().find(|o| o["kind"] == "PodMonitor").expect("a PodMonitor");
    assert_eq!(monitor["metadata"]["namespace"], json!("team-a"));
    let decode = objs.iter().find(|o| o["metadata"]["name"] == "ns-llm-d-modelservice-decode").unwrap();
    assert_eq!(decode["spec"]["replicas"], json!(2));
    assert_eq!(decode["spec"]["template"]["metadata"]["labels"]["kept"], json!("007"));
}

/// The first container of the decode Deployment.
fn decode_container(objs: &[Value]) -> &Value {
    let decode =
        objs.iter().find(|o| o["kind"] == "Deployment" && o["metadata"]["name"].as_str().unwrap().ends_with("-decode"));
    &decode.expect("a decode Deployment")["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn a_set_applies_into_the_files_values_with_helm_s_types_and_a_set_string_after_it() {
    let pd = examples_dir().join("values-pd.yaml");
    let plain = helm_template("pd", &[&pd], &[], &[]).unwrap();
    let objs = helm_template(
        "pd",
        &[&pd],
        &[
            "decode.replicas=3",
            "decode.containers[0].image=example.com/vllm:1",
            "modelArtifacts.labels.typed=true,modelArtifacts.labels.boolean=true",
        ],
        // Given before the --set on the same key, applied after it: a string.
        &["modelArtifacts.labels.typed=true,modelArtifacts.labels.kept=007"],
    )
    .unwrap();
    let decode = objs.iter().find(|o| o["metadata"]["name"] == "pd-llm-d-modelservice-decode").unwrap();
    assert_eq!(decode["spec"]["replicas"], json!(3));
    // An index into the list the values file gave changes that element only (Helm's ParseInto).
    let (before, after) = (decode_container(&plain), decode_container(&objs));
    assert_eq!(after["image"], json!("example.com/vllm:1"));
    assert_eq!((&after["args"], &after["ports"], &after["name"]), (&before["args"], &before["ports"], &before["name"]));
    let labels = &decode["spec"]["template"]["metadata"]["labels"];
    assert_eq!((&labels["typed"], &labels["kept"]), (&json!("true"), &json!("007")), "{labels}");
    assert_eq!(labels["boolean"], json!(true), "--set types a value: {labels}");
}

#[test]
fn a_set_that_does_not_fit_the_files_values_is_helm_s_error() {
    let pd = examples_dir().join("values-pd.yaml");
    let e = helm_template("pd", &[&pd], &["decode.containers[0].image.tag=1"], &[]).unwrap_err();
    assert!(e.starts_with("failed parsing --set data: unable to parse key: interface conversion"), "{e}");
    let e = helm_template("pd", &[&pd], &["decode.containers[x]=1"], &[]).unwrap_err();
    assert_eq!(e, r#"failed parsing --set data: error parsing index: strconv.Atoi: parsing "x": invalid syntax"#);
}

#[test]
fn a_failing_render_reports_the_chart_s_message() {
    let custom = [
        "decode.containers[0].name=vllm",
        "decode.containers[0].image=img",
        "decode.containers[0].modelCommand=custom",
    ];
    let e = helm_template("x", &[], &custom, &[]).unwrap_err();
    assert_eq!(
        e,
        "execution error at (llm-d-modelservice/templates/decode-deployment.yaml:61:13): \
         When .container.modelCommand not set or `custom`, a `command` is required."
    );
    // A `required` value removed (null deletes the chart's default).
    let e = helm_template("x", &[], &["decode.containers[0].name=vllm", "decode.containers[0].image=null"], &[])
        .unwrap_err();
    assert!(e.ends_with("image of container is required"), "{e}");
    // The values schema: a replica count given as a string.
    let e = helm_template("x", &[], &[], &["decode.replicas=3"]).unwrap_err();
    assert!(e.contains("at '/decode/replicas': got string, want integer"), "{e}");
}
