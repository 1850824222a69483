//! `msws import-values`: Helm's `--set` syntax (cases learned from Helm's own strvals tests), the
//! order values are merged in, the chart's `fullname` rule, every example of the chart imported,
//! loaded and snapshotted, the problems an import reports, and the command's exit codes.

use serde_json::{Value, json};
use snapbox::cmd::{Command, cargo_bin};

use msws::import_values::strvals::{self, Typing};
use msws::import_values::{self as iv, ImportError, Request, ValuesFile};
use msws::lower::Options;

use crate::support::root;

/// The chart's examples as CASES.md lists them: output file, release, values file, extra `--set`s.
pub const CASES: &[(&str, &str, &str, &[&str])] = &[
    ("output-cpu.yaml", "cpu-sim", "values-cpu.yaml", &[]),
    ("output-pd.yaml", "pd", "values-pd.yaml", &[]),
    ("output-pvc.yaml", "pvc", "values-pd.yaml", &["modelArtifacts.uri=pvc://pvc-name/path/to/model"]),
    (
        "output-pvc-hf.yaml",
        "pvc-hf",
        "values-pd.yaml",
        &["modelArtifacts.uri=pvc+hf://pvc-name/path/to/hf_hub_cache/facebook/opt-125m"],
    ),
    (
        "output-dra.yaml",
        "dra",
        "values-dra.yaml",
        &["modelArtifacts.uri=pvc+hf://model-pvc/meta-llama/Llama-3.1-8B-Instruct"],
    ),
    ("output-heterogeneous-pd.yaml", "heterogeneous-pd", "values-heterogeneous-pd.yaml", &[]),
    ("output-pd-mnnvl.yaml", "pd-mnnvl", "values-pd-mnnvl.yaml", &[]),
    ("output-requester.yaml", "requester", "values-requester.yaml", &[]),
    ("output-xpu-pd.yaml", "xpu-pd", "values-xpu-pd.yaml", &[]),
];

fn data(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/data/import").join(name)).unwrap()
}

fn request(files: &[(&str, &str)], sets: &[&str], release: &str) -> Request {
    Request {
        files: files.iter().map(|(n, t)| ValuesFile { name: n.to_string(), text: t.to_string() }).collect(),
        sets: sets.iter().map(|s| s.to_string()).collect(),
        set_strings: Vec::new(),
        release: release.into(),
        namespace: None,
    }
}

/// Imports one of [`CASES`] as `helm template` rendered it: the workspace text, or the problems.
pub fn import_case(output: &str) -> Result<String, ImportError> {
    let (_, release, values, sets) = CASES.iter().find(|c| c.0 == output).unwrap();
    iv::import(&request(&[(values, &data(values))], sets, release))
}

fn problems(r: Result<String, ImportError>) -> Vec<String> {
    match r {
        Ok(text) => panic!("expected problems, got a workspace:\n{text}"),
        Err(ImportError::Usage(m)) => panic!("expected problems, got a usage error: {m}"),
        Err(ImportError::Problems(p)) => p.iter().map(ToString::to_string).collect(),
    }
}

fn imported(r: Result<String, ImportError>) -> String {
    match r {
        Ok(text) => text,
        Err(ImportError::Usage(m)) => panic!("usage error: {m}"),
        Err(ImportError::Problems(p)) => {
            panic!("problems:\n{}", p.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
        }
    }
}

/// A workspace must load without errors and have a step graph.
fn assert_loads(name: &str, text: &str) {
    let mut fe = msws::lower::load_str(name, text, &Options::default());
    let ws = fe
        .workspace
        .take()
        .unwrap_or_else(|| panic!("{name} does not load:\n{}\n{text}", crate::support::rendered(&fe)));
    assert!(msws::graph::build(&ws, &mut fe.sink).is_some(), "{name} has no graph");
    assert!(!fe.sink.has_errors(), "{name}:\n{}", crate::support::rendered(&fe));
}

// ---- `--set` syntax ----

fn set(line: &str) -> Value {
    Value::Object(strvals::parse(line, Typing::Typed).unwrap_or_else(|e| panic!("{line}: {e}")))
}

fn set_fails(line: &str) {
    assert!(strvals::parse(line, Typing::Typed).is_err(), "`{line}` should not parse");
}

#[test]
fn set_values_are_typed_like_helm_s() {
    assert_eq!(set("a=null,f=false,t=TRUE"), json!({"a": null, "f": false, "t": true}));
    assert_eq!(set("zero=0,long=1234567890,neg=-3"), json!({"zero": 0, "long": 1234567890, "neg": -3}));
    // A leading zero keeps a string (an id, a version), and so does anything not an integer.
    assert_eq!(set("lead=00009,float=1.5,word=nullable"), json!({"lead": "00009", "float": "1.5", "word": "nullable"}));
    // --set-string keeps everything a string, `null` included.
    let s = strvals::parse("b=true,n=null,z=0,i=12", Typing::Strings).unwrap();
    assert_eq!(Value::Object(s), json!({"b": "true", "n": "null", "z": "0", "i": "12"}));
}

#[test]
fn set_lines_hold_pairs_separated_by_commas_with_backslash_escapes() {
    assert_eq!(set("name1=value1,name2=value2"), json!({"name1": "value1", "name2": "value2"}));
    assert_eq!(set("name1=value1,name2=value2,"), json!({"name1": "value1", "name2": "value2"}));
    assert_eq!(set("name1=,name2=value2"), json!({"name1": "", "name2": "value2"}));
    assert_eq!(set("a=one two three"), json!({"a": "one two three"}));
    assert_eq!(set(r"a=one\,two,b=three\=four"), json!({"a": "one,two", "b": "three=four"}));
    assert_eq!(set(r"nodeSelector.kubernetes\.io/os=linux"), json!({"nodeSelector": {"kubernetes.io/os": "linux"}}));
    // What follows the first `=` is the value, `=`, `.`, `/`, `:` and all (up to a `,`).
    assert_eq!(set("u=pvc://c/a.b=c"), json!({"u": "pvc://c/a.b=c"}));
    for bad in ["name1=value1,,,,name2=value2,", "name1,name2=", "name1,name2=value2", "name1", "name1.name2"] {
        set_fails(bad);
    }
}

#[test]
fn set_keys_are_dotted_paths_into_nested_maps() {
    assert_eq!(set("outer.inner=value"), json!({"outer": {"inner": "value"}}));
    assert_eq!(set("outer.middle.inner=value"), json!({"outer": {"middle": {"inner": "value"}}}));
    assert_eq!(
        set("outer.inner1=value,outer.middle.inner=value"),
        json!({"outer": {"inner1": "value", "middle": {"inner": "value"}}})
    );
    assert_eq!(set("name1.name2="), json!({"name1": {"name2": ""}}));
    for bad in ["name1.=name2", "name1.,name2", "name1.name2,name1.name3"] {
        set_fails(bad);
    }
    let deep = format!("{}=1", vec!["a"; 32].join("."));
    set_fails(&deep);
}

#[test]
fn set_braces_make_lists_and_indices_address_them() {
    assert_eq!(set("name1={value1,value2}"), json!({"name1": ["value1", "value2"]}));
    assert_eq!(set("a={1021,902},b={x}"), json!({"a": [1021, 902], "b": ["x"]}));
    assert_eq!(set("a.b={x,y}"), json!({"a": {"b": ["x", "y"]}}));
    // Helm's reading of an empty list literal: one empty string.
    assert_eq!(set("a={}"), json!({"a": [""]}));
    set_fails("name1={1021,902");

    assert_eq!(set("list[0]=foo,list[1]=bar"), json!({"list": ["foo", "bar"]}));
    assert_eq!(set("list[0]=foo,list[3]=bar"), json!({"list": ["foo", null, null, "bar"]}));
    assert_eq!(set("list[0].foo=bar,list[0].hello=world"), json!({"list": [{"foo": "bar", "hello": "world"}]}));
    assert_eq!(set("nested[1][1]=1"), json!({"nested": [null, [null, 1]]}));
    assert_eq!(set("a.b[1].c=x,a.b[0].c=y"), json!({"a": {"b": [{"c": "y"}, {"c": "x"}]}}));
    assert_eq!(set("noval[0]"), json!({"noval": []}));
    assert_eq!(set("noval[0]="), json!({"noval": [""]}));
    for bad in
        ["list[-30].hello=world", "list[0]=foo,list[-20]=bar", "illegal[0]name.foo=bar", "a[x]=1", "a[1", "a[65537]=1"]
    {
        set_fails(bad);
    }
    // A key that is already a list cannot be made a map, and the other way round.
    set_fails("]={}].");
    set_fails("a=1,a.b=2");
    set_fails("a.b=1,a[0]=2");
}

#[test]
fn set_into_existing_values_changes_only_what_it_names() {
    let mut values = json!({"outer": {"inner1": "overwrite", "inner2": "value2"},
        "containers": [{"name": "vllm", "image": "old", "args": ["--x"]}]});
    let map = values.as_object_mut().unwrap();
    strvals::parse_into("outer.inner1=value1,outer.inner3=value3,outer.inner4=4", map, Typing::Typed).unwrap();
    strvals::parse_into("containers[0].image=new", map, Typing::Typed).unwrap();
    assert_eq!(
        values,
        json!({"outer": {"inner1": "value1", "inner2": "value2", "inner3": "value3", "inner4": 4},
            "containers": [{"name": "vllm", "image": "new", "args": ["--x"]}]})
    );
    let mut nested = serde_json::Map::new();
    strvals::parse_into("listOuter[0][0].type=listValue", &mut nested, Typing::Typed).unwrap();
    strvals::parse_into("listOuter[0][0].status=alive", &mut nested, Typing::Typed).unwrap();
    assert_eq!(Value::Object(nested), json!({"listOuter": [[{"type": "listValue", "status": "alive"}]]}));
}

// ---- merging ----

fn merged(files: &[&str], sets: &[&str], strings: &[&str]) -> Value {
    let named: Vec<(String, &str)> = files.iter().enumerate().map(|(i, t)| (format!("f{i}.yaml"), *t)).collect();
    let files: Vec<(&str, &str)> = named.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let mut req = request(&files, sets, "r");
    req.set_strings = strings.iter().map(|s| s.to_string()).collect();
    match iv::merged_values(&req) {
        Ok(m) => Value::Object(m),
        Err(ImportError::Usage(u)) => panic!("{u}"),
        Err(ImportError::Problems(p)) => panic!("{p:?}"),
    }
}

#[test]
fn values_merge_over_the_chart_defaults_then_file_by_file_then_set_by_set() {
    let v = merged(
        &["decode: {replicas: 2}\nrouting: {servicePort: 9000}", "decode: {replicas: 3}"],
        &["decode.replicas=4", "routing.servicePort=9001"],
        &["decode.replicas=5"],
    );
    // Later files win, --set wins over files, --set-string comes after every --set.
    assert_eq!(v["decode"]["replicas"], json!("5"));
    assert_eq!(v["routing"]["servicePort"], json!(9001));
    // What nobody sets keeps the chart's default, however deep.
    assert_eq!(v["routing"]["proxy"]["connector"], json!("nixlv2"));
    assert_eq!(v["decode"]["parallelism"]["tensor"], json!(1));
    assert_eq!(v["prefill"]["replicas"], json!(0));
}

#[test]
fn maps_merge_key_by_key_and_lists_are_replaced_whole() {
    let v = merged(
        &["modelArtifacts:\n  labels: {llm-d.ai/model: m}\ndecode:\n  containers: [{name: a, image: x}]"],
        &[],
        &[],
    );
    assert_eq!(v["modelArtifacts"]["labels"], json!({"llm-d.ai/inference-serving": "true", "llm-d.ai/model": "m"}));
    // The default container (and its /.config mount) is gone; the default volume stays.
    assert_eq!(v["decode"]["containers"], json!([{"name": "a", "image": "x"}]));
    assert_eq!(v["decode"]["volumes"], json!([{"name": "metrics-volume", "emptyDir": {}}]));
}

#[test]
fn null_deletes_a_default_and_a_later_map_still_merges_with_the_defaults() {
    let v = merged(&["routing:\n  proxy:\n    zapLogLevel: null"], &["modelArtifacts.size=null"], &[]);
    assert!(v["routing"]["proxy"].get("zapLogLevel").is_none());
    assert!(v["modelArtifacts"].get("size").is_none());
    // Helm merges the user's files first, then puts the defaults under them: a `null` in one file
    // followed by a mapping in the next is that mapping over the defaults.
    let v = merged(&["routing: {proxy: null}", "routing: {proxy: {connector: nixl}}"], &[], &[]);
    assert_eq!(v["routing"]["proxy"]["connector"], json!("nixl"));
    assert_eq!(v["routing"]["proxy"]["image"], json!("ghcr.io/llm-d/llm-d-routing-sidecar:latest"));
    // The other way round, the `null` wins and the proxy's defaults are gone.
    let v = merged(&["routing: {proxy: {connector: nixl}}", "routing: {proxy: null}"], &[], &[]);
    assert!(v["routing"].get("proxy").is_none());
}

#[test]
fn a_set_index_into_a_list_the_files_define_changes_that_element_only() {
    let pd = data("values-pd.yaml");
    let v = merged(&[&pd], &["decode.containers[0].image=ghcr.io/llm-d/llm-d-cuda:v0.4.0"], &[]);
    assert_eq!(v["decode"]["containers"][0]["image"], json!("ghcr.io/llm-d/llm-d-cuda:v0.4.0"));
    assert_eq!(v["decode"]["containers"][0]["modelCommand"], json!("vllmServe"));
    // Into the chart's default list, Helm's --set starts a new list: the defaults are not there
    // to be indexed (the result has no name, and an import then names it `vllm`).
    let v = merged(&[], &["decode.containers[0].image=x"], &[]);
    assert_eq!(v["decode"]["containers"], json!([{"image": "x"}]));
}

#[test]
fn a_bad_set_or_a_broken_file_is_reported() {
    let bad = iv::merged_values(&request(&[("a.yaml", "x: 1")], &["x.y=1"], "r"));
    assert!(matches!(bad, Err(ImportError::Usage(m)) if m.contains("x.y=1") && m.contains("not a map")));
    let broken = iv::merged_values(&request(&[("a.yaml", "x: [1"), ("b.yaml", "- 1")], &[], "r"));
    let Err(ImportError::Problems(p)) = broken else { panic!() };
    assert_eq!(p.len(), 2, "{p:?}");
    assert!(p[1].to_string().starts_with("b.yaml: not a values file"), "{}", p[1]);
}

#[test]
fn the_compiled_in_chart_defaults_are_the_reference_chart_s() {
    let defaults = iv::chart_defaults().as_object().unwrap();
    let reference: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root().join("src/import_values/chart-values.yaml")).unwrap())
            .unwrap();
    assert_eq!(Value::Object(defaults.clone()), serde_json::to_value(reference).unwrap());
    assert_eq!(defaults["decode"]["create"], json!(true));
    assert_eq!(defaults["prefill"]["replicas"], json!(0));
}

// ---- names ----

#[test]
fn fullname_follows_the_chart_s_helper() {
    assert_eq!(iv::fullname("pd", None, None), "pd-llm-d-modelservice");
    // A release that contains the chart's name is the full name.
    assert_eq!(iv::fullname("my-llm-d-modelservice-x", None, None), "my-llm-d-modelservice-x");
    assert_eq!(iv::fullname("pd", Some("ms"), None), "pd-ms");
    assert_eq!(iv::fullname("ms-prod", Some("ms"), None), "ms-prod");
    assert_eq!(iv::fullname("pd", Some(""), None), "pd-llm-d-modelservice");
    assert_eq!(iv::fullname("pd", Some("ms"), Some("custom")), "custom");
    // Cut to 55 characters (room for `-prefill`), then no trailing `-`.
    let long = "a".repeat(40);
    assert_eq!(iv::fullname(&long, None, None), format!("{long}-llm-d-modelser"));
    assert_eq!(iv::fullname(&"b".repeat(60), None, None).len(), 55);
    assert_eq!(iv::fullname("pd", None, Some(&format!("{}-x", "c".repeat(54)))), "c".repeat(54));
    assert_eq!(iv::fullname("pd", None, Some("over-")), "over");
}

#[test]
fn the_release_defaults_to_the_file_s_name_made_a_valid_name() {
    assert_eq!(iv::release_from_file("examples/values-pd.yaml"), "values-pd");
    assert_eq!(iv::release_from_file("My_Values.YML"), "my-values-yml");
    assert_eq!(iv::release_from_file("prod.yml"), "prod");
    assert_eq!(iv::release_from_file("___.yaml"), "modelservice");
    assert!(iv::check_release("pd").is_ok());
    assert!(iv::check_release("Pd").is_err());
    assert!(iv::check_release(&"a".repeat(54)).is_err());
}

#[test]
fn objects_are_named_as_the_chart_names_them() {
    let text = imported(import_case("output-pd.yaml"));
    assert!(text.contains("\n    fullname \"pd-llm-d-modelservice\"\n"), "{text}");
    assert!(text.contains("workspace \"pd\" format=1"), "{text}");
    let text = imported(
        iv::import(&request(&[("v.yaml", "fullnameOverride: Big_Model")], &[], "r")).map(|_| String::new()).or_else(
            |e| match e {
                ImportError::Problems(p) => Ok(p.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")),
                other => Err(other),
            },
        ),
    );
    assert!(text.contains("fullnameOverride: the objects would be named `Big_Model`"), "{text}");
}

// ---- the chart's examples ----

#[test]
fn every_chart_example_imports_loads_and_is_snapshotted_or_names_what_is_not_supported() {
    for (output, release, values, _) in CASES {
        match import_case(output) {
            Ok(text) => {
                assert_loads(&format!("{release}.kdl"), &text);
                let formatted = msws::syntax::fmt::format_source(&text).unwrap();
                assert_eq!(formatted, text, "{output}: not in `msws fmt` layout");
                insta::assert_snapshot!(format!("import-{release}"), text);
            }
            Err(e) => panic!("{output} ({values}) does not import: {:#?}", problems(Err(e))),
        }
    }
}

#[test]
fn the_examples_say_what_the_chart_renders() {
    let pvc = imported(import_case("output-pvc.yaml"));
    assert!(pvc.contains("storage \"pvc-name\" existing=#true {\n    access \"ReadWriteMany\"\n}"), "{pvc}");
    assert!(pvc.contains("access mode is assumed"), "{pvc}");
    assert!(pvc.contains("uri \"pvc://pvc-name/path/to/model\""), "{pvc}");
    // `hf://"{{ .Values.modelArtifacts.name }}"` is the model facebook/opt-125m.
    let pd = imported(import_case("output-pd.yaml"));
    assert!(pd.contains("uri \"hf://facebook/opt-125m\""), "{pd}");
    assert!(pd.contains("volume \"metrics-volume\" empty-dir=#true"), "{pd}");
    let dra = imported(import_case("output-dra.yaml"));
    for want in [
        "uri \"pvc+hf://model-pvc/meta-llama/Llama-3.1-8B-Instruct\"",
        "secret \"llm-d-hf-token\" existing=#true",
        "token secret=\"llm-d-hf-token\" key=\"HF_TOKEN\"",
        "accelerator \"intel-gaudi\" dra=#true",
        "proxy enabled=#false",
        "parallelism tensor=2",
        "resource-claim \"llm-d-existing-claim-sample\" template=\"llm-d-existing-claim-sample\"",
    ] {
        assert!(dra.contains(want), "{want}:\n{dra}");
    }
    assert!(!dra.contains("prefill"), "prefill.create is false:\n{dra}");
    let het = imported(import_case("output-heterogeneous-pd.yaml"));
    assert!(het.contains("decode {\n        parallelism tensor=2\n        accelerator \"nvidia\" dra=#true"), "{het}");
    let xpu = imported(import_case("output-xpu-pd.yaml"));
    assert!(xpu.contains("node-affinity \"accelerator\" \"intel-xpu\""), "{xpu}");
    assert!(xpu.contains("command \"python3\" \"-m\" \"vllm.entrypoints.openai.api_server\""), "{xpu}");
}

#[test]
fn the_chart_defaults_alone_are_its_inference_simulator_with_a_prefill_of_zero_replicas() {
    let text = imported(iv::import(&request(&[("empty.yaml", "")], &[], "sim")));
    assert_loads("sim.kdl", &text);
    insta::assert_snapshot!("import-defaults", text);
}

#[test]
fn every_importable_value_at_once() {
    let mut req = request(&[("kitchen-sink.yaml", &data("kitchen-sink.yaml"))], &[], "kitchen-sink");
    req.namespace = Some("llm-d".into());
    let text = imported(iv::import(&req));
    assert_loads("kitchen-sink.kdl", &text);
    insta::assert_snapshot!("import-kitchen-sink", text);
}

// ---- what cannot be imported ----

fn import_yaml(yaml: &str) -> Result<String, ImportError> {
    iv::import(&request(&[("v.yaml", yaml)], &[], "r"))
}

#[test]
fn every_problem_of_the_values_is_listed_at_once() {
    let yaml = r#"
modelArtifacts: {nmae: x}
decode:
  replica: 2
  subGroupExclusiveToplogy: true
  extraConfig: {serviceAccountName: other}
  containers:
  - image: x
    modelCommand: vllmServe
    envFrom: [{configMapRef: {name: a}}]
    extraConfig: {env: [{name: A, value: b}]}
  initContainers: [{name: i, image: x, restartPolicy: Never}]
prefill: {create: false, anything: goes}
"#;
    let p = problems(import_yaml(yaml));
    assert_eq!(
        p,
        vec![
            "decode.containers[0].extraConfig.env: the chart writes `env` of this container itself, so with this the manifest has it twice, which Kubernetes' YAML reader refuses; set it in one place",
            "decode.initContainers[0].restartPolicy: an init container's restart policy is `Always` (a sidecar) or none; Kubernetes refuses `Never`",
            "decode.extraConfig.serviceAccountName: the chart writes `serviceAccountName` of the pod itself, so with this the manifest has it twice, which Kubernetes' YAML reader refuses; set it in one place",
            "unknown value: modelArtifacts.nmae (did you mean `name`?)",
            "unknown value: decode.replica (did you mean `replicas`?)",
            "unknown value: decode.subGroupExclusiveToplogy (did you mean `subGroupExclusiveTopology`?)",
            "unknown value: decode.containers[0].envFrom (did you mean `env`?)",
        ]
    );
}

#[test]
fn an_unknown_key_at_the_chart_s_default_is_harmless() {
    // `common: {}` and the inert settings of features that are off are the chart's own.
    let text =
        imported(import_yaml("common: {}\nrequester: {enable: false, image: other}\nenabled: true\nglobal: {x: 1}"));
    assert_loads("r.kdl", &text);
    // The common library chart's values: its one helper the chart uses does not read them.
    assert_loads("r.kdl", &imported(import_yaml("common: {a: 1}")));
    assert_eq!(problems(import_yaml("routing: {modelName: x}")), vec!["unknown value: routing.modelName"]);
}

#[test]
fn values_kubernetes_would_refuse_are_named_with_their_key() {
    let cases: &[(&str, &str)] = &[
        (
            "accelerator: {dra: true, resourceClaimTemplates: {nvidia: {name: t, class: c, selectors: [x]}}}",
            "accelerator.resourceClaimTemplates.nvidia.selectors[0]: a device selector is `cel: {expression: \"…\"}`",
        ),
        (
            "accelerator: {dra: true, resourceClaimTemplates: {nvidia: {name: t, class: c, match: firstAvailable}}}",
            "accelerator.resourceClaimTemplates.nvidia.match: the chart would render the device request with a field `firstAvailable:`",
        ),
        (
            "decode: {extraConfig: {volumes: []}}",
            "decode.extraConfig.volumes: the chart writes `volumes` of the pod itself",
        ),
    ];
    for (yaml, want) in cases {
        let p = problems(import_yaml(yaml));
        assert!(p.iter().any(|p| p.starts_with(want)), "{yaml}: expected `{want}`, got {p:#?}");
    }
}

/// What used to be "not supported yet" now imports (each renders as the chart does; the
/// differential test compares them with real Helm).
#[test]
fn every_chart_feature_imports() {
    for yaml in [
        "requester: {enable: true}",
        "decode: {podSecurityContext: {runAsUser: 1}}",
        "decode: {extraConfig: {hostNetwork: true}}",
        "multinode: true\ndecode: {subGroupPolicy: {subGroupSize: 8}, hostIPC: true}",
        "accelerator: {env: {nvidia: [{name: A, value: b}]}}",
        "accelerator: {dra: true, resourceClaimTemplates: {nvidia: {name: t, class: c, selectors: [{cel: {expression: 'true'}}]}}}",
        "modelArtifacts: {uri: 'hf://org/{{ .Release.Name }}'}",
        "decode: {volumes: [{name: metrics-volume, emptyDir: {}}, {name: n, nfs: {server: s, path: /}}]}",
        "decode: {containers: [{image: x, modelCommand: vllmServe, readinessProbe: {httpGet: {path: /, port: http}}}]}",
        "decode: {initContainers: [{name: i, image: x, lifecycle: {postStart: {exec: {command: [sh]}}}}]}",
        "tracing: {enabled: true}",
        "extraObjects: [{apiVersion: v1, kind: ConfigMap, metadata: {name: '{{ .Release.Name }}-x'}}]",
        "decode: {autoscaling: {enabled: true}, monitoring: {podmonitor: {enabled: true}}}",
        "decode: {containers: [{image: x, modelCommand: vllmServe, stdin: true, tty: true, extraConfig: {lifecycle: {preStop: {sleep: {seconds: 5}}}}}]}",
        "modelArtifacts: {uri: 'oci://registry/model:1', imagePullPolicy: IfNotPresent}\ndecode: {containers: [{image: x, command: [sh], mountModelVolume: true}]}",
        // Found by the differential test (chart_diff.rs), each once unrepresentable:
        "decode: {containers: [{image: x, modelCommand: imageDefault, extraConfig: {command: [sh]}}]}",
        "decode: {create: false}\nprefill: {create: false}",
        "decode: {parallelism: {tensor: 0}}",
        "decode: {extraConfig: \"preemptionPolicy: 'Never'\"}",
        "decode: {containers: [{image: x, modelCommand: vllmServe, extraConfig: 'stdin: true'}]}",
        "extraObjects: [{apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: '{{ .Release.Namespace }}'}}]",
        "decode: {autoscaling: {enabled: true}, replicas: 3}\nrequester: {enable: true}",
    ] {
        let text = imported(import_yaml(yaml));
        assert_loads("r.kdl", &text);
    }
}

#[test]
fn values_the_chart_itself_would_refuse_are_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "decode: {containers: [{image: x, modelCommand: custom}]}",
            "decode.containers[0].command: modelCommand custom",
        ),
        (
            "decode: {containers: [{image: x, modelCommand: vllm}]}",
            "decode.containers[0].modelCommand: `vllm` is not a modelCommand",
        ),
        ("decode: {containers: [{name: x}]}", "decode.containers[0].image: the container has no image"),
        ("decode: {replicas: many}", "decode.replicas: expected a whole number"),
        ("modelArtifacts: {uri: 's3://bucket/model'}", "modelArtifacts.uri: unknown model URI scheme"),
        ("modelArtifacts: {size: 5GB}", "modelArtifacts.size: `5GB` is not a Kubernetes quantity"),
        (
            "decode: {acceleratorTypes: {labelKey: gpu}}",
            "decode.acceleratorTypes.labelValues: labelKey is set but no labelValues",
        ),
        ("routing: {proxy: {enabled: null}}", "routing.proxy.enabled: must be true or false"),
        ("accelerator: {type: acme, dra: true}", "accelerator.resourceClaimTemplates.acme: DRA is on for `acme`"),
    ];
    for (yaml, want) in cases {
        let p = problems(import_yaml(yaml));
        assert!(p.iter().any(|p| p.starts_with(want)), "{yaml}: expected `{want}`, got {p:#?}");
    }
}

#[test]
fn a_token_in_the_values_is_named_and_never_written() {
    let token = format!("hf_{}", "a".repeat(34));
    let yaml = format!(
        "decode:\n  containers:\n  - image: x\n    modelCommand: vllmServe\n    env: [{{name: HF_TOKEN, value: {token}}}]"
    );
    let p = problems(import_yaml(&yaml));
    assert!(p.iter().any(|p| p.starts_with("decode.containers[0].env[0].value: holds a Hugging Face token")), "{p:#?}");
    assert!(!p.iter().any(|p| p.contains(&token)), "{p:#?}");
}

#[test]
fn what_the_workspace_language_would_misread_is_written_so_it_reads_back_the_same() {
    let yaml = r#"
decode:
  containers:
  - image: x
    modelCommand: custom
    command: ["sh", "-c", "exec vllm serve --port ${PORT} \"quoted\" \\ back"]
    args: ["line\nbreak", "$${kept}", 8192, true]
"#;
    let text = imported(import_yaml(yaml));
    assert_loads("r.kdl", &text);
    let fe = msws::lower::load_str("r.kdl", &text, &Options::default());
    let ws = fe.workspace.unwrap();
    let c = &ws.services[0].decode.as_ref().unwrap().containers[0];
    assert_eq!(c.command, vec!["sh", "-c", "exec vllm serve --port ${PORT} \"quoted\" \\ back"]);
    assert_eq!(c.args, vec!["line\nbreak", "$${kept}", "8192", "true"]);
}

#[test]
fn proxy_flags_the_values_leave_out_are_dropped_from_msws_s_defaults() {
    let text = imported(import_yaml("routing:\n  proxy:\n    zapEncoder: null\n    zapLogLevel: 3\n    secure: null"));
    assert!(text.contains("proxy zap-encoder=#null zap-log-level=3 secure=#null"), "{text}");
    let fe = msws::lower::load_str("r.kdl", &text, &Options::default());
    let proxy = fe.workspace.unwrap().services[0].routing.proxy.clone().unwrap();
    assert_eq!(proxy.flags, vec![("zap-log-level", "3".to_string())]);
}

#[test]
fn a_pvc_claim_without_a_path_says_how_msws_differs_from_the_chart() {
    let text = imported(iv::import(&request(&[("v.yaml", "")], &["modelArtifacts.uri=pvc://models"], "r")));
    assert!(text.contains("The chart would serve `/model-cache/models` here"), "{text}");
    assert!(text.contains("storage \"models\" existing=#true"), "{text}");
}

/// Every place in a values tree, as JSON pointers; of a list, the first element (the others have
/// its shape).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(c, p, out);
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate().take(1) {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(c, p, out);
            }
        }
        _ => {}
    }
}

#[test]
fn any_value_replaced_by_anything_imports_a_loadable_workspace_or_names_problems() {
    // Four kinds of wrong: absent, a string, a mapping, a list of mappings (numbers and booleans
    // go through the same readers as strings).
    let replacements = [json!(null), json!("x"), json!({}), json!([{"a": true}])];
    let base = Value::Object(iv::values::parse_yaml(&data("kitchen-sink.yaml")).unwrap());
    let mut places = Vec::new();
    pointers(&base, String::new(), &mut places);
    let cases: Vec<(&String, &Value)> = places.iter().flat_map(|p| replacements.iter().map(move |r| (p, r))).collect();
    // A few threads: each import is formatted and loaded, which adds up in a debug build.
    std::thread::scope(|s| {
        for chunk in cases.chunks(cases.len().div_ceil(4)) {
            let base = &base;
            s.spawn(move || {
                for (p, r) in chunk {
                    let mut v = base.clone();
                    *v.pointer_mut(p).unwrap() = (*r).clone();
                    let yaml = serde_yaml_ng::to_string(&v).unwrap();
                    // A workspace that comes out has been loaded by the import itself.
                    match iv::import(&request(&[("v.yaml", &yaml)], &[], "r")) {
                        Ok(_) => {}
                        Err(ImportError::Problems(problems)) => assert!(!problems.is_empty()),
                        Err(ImportError::Usage(u)) => panic!("{p} = {r}: {u}"),
                    }
                }
            });
        }
    });
}

// ---- the command ----

fn msws() -> Command {
    Command::new(cargo_bin!("msws")).current_dir(root()).env_remove("NO_COLOR")
}

#[test]
fn the_command_prints_the_workspace_on_stdout_and_exits_0() {
    let out = msws()
        .args(["import-values", "tests/data/import/values-pd.yaml", "--name", "pvc", "--namespace", "llm-d"])
        .args(["--set", "modelArtifacts.uri=pvc://pvc-name/path/to/model"])
        .assert()
        .success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("workspace \"pvc\" format=1 {\n    namespace \"llm-d\"\n}"), "{stdout}");
    assert!(out.get_output().stderr.is_empty());
}

#[test]
fn the_command_lists_every_problem_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v.yaml"), "decode: {replica: 2, extraConfig: {volumes: []}}\n").unwrap();
    msws().current_dir(dir.path()).args(["import-values", "v.yaml"]).assert().code(1).stdout_eq("").stderr_eq(
        snapbox::str![[r#"
error: decode.extraConfig.volumes: the chart writes `volumes` of the pod itself, so with this the manifest has it twice, which Kubernetes' YAML reader refuses; set it in one place
error: unknown value: decode.replica (did you mean `replicas`?)
error: v.yaml cannot be imported: 2 problems (msws reads the values of the llm-d-modelservice chart v0.4.12)

"#]],
    );
    msws()
        .args(["import-values", "tests/data/import/missing.yaml"])
        .assert()
        .code(1)
        .stderr_eq("error: cannot read tests/data/import/missing.yaml: No such file or directory (os error 2)\n");
}

#[test]
fn a_bad_set_name_or_namespace_is_a_usage_error_with_exit_2() {
    for (flag, value, message) in [
        ("--set", "a[1", "error: --set a[1: list index `[1` has no `]`\n"),
        ("--name", "Pd", "error: `Pd` is not a valid release name: it contains `P`\n"),
        ("--namespace", "llm_d", "error: `llm_d` is not a valid namespace: it contains `_`\n"),
    ] {
        msws()
            .args(["import-values", "tests/data/import/values-pd.yaml", flag, value])
            .assert()
            .code(2)
            .stdout_eq("")
            .stderr_eq(message);
    }
}

// ---- parity with the chart ----

/// Every importable example, imported and rendered by `msws render`, means what the chart
/// rendered (tests/it/manifests.rs says what "means" covers).
#[test]
fn every_imported_example_renders_what_the_chart_renders() {
    let mut failures = Vec::new();
    let mut compared = 0;
    for (output, release, _, _) in CASES {
        let text = imported(import_case(output));
        compared += 1;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("{release}.kdl"));
        std::fs::write(&file, &text).unwrap();
        let out = std::process::Command::new(cargo_bin!("msws")).arg("render").arg(&file).output().unwrap();
        assert!(out.status.success(), "{output}: {}", String::from_utf8_lossy(&out.stderr));
        let rendered = crate::manifests::parse_stream(&String::from_utf8(out.stdout).unwrap());
        failures
            .extend(crate::manifests::compare(&data(output), &rendered).into_iter().map(|d| format!("{output}: {d}")));
    }
    assert_eq!(compared, 9, "every example is compared, the requester's included");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The values file of the issue that started the work on the chart's whole schema: one vLLM
/// container with startup, liveness and readiness probes on the named port `vllm`, their periods
/// and thresholds, shm and cache volumes (shaped like llm-d's benchmarking harness's). It imports,
/// and renders what real Helm renders from it.
#[test]
fn a_real_users_values_file_imports_and_renders_as_helm_does() {
    let path = root().join("tests/data/import/values-benchmark.yaml");
    let text =
        imported(iv::import(&request(&[("values-benchmark.yaml", &data("values-benchmark.yaml"))], &[], "bench")));
    assert_loads("bench.kdl", &text);
    for want in [
        "probe \"startup\" http-get=\"/v1/models\" port=\"vllm\" failure-threshold=60",
        "probe \"liveness\" tcp-port=\"vllm\"",
        "volume \"dshm\" empty-dir=#true medium=\"Memory\" size-limit=\"16Gi\"",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
    let helm = crate::helm::helm_template("bench", &[&path], &[], &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bench.kdl");
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new(cargo_bin!("msws")).arg("render").arg(&file).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rendered = crate::manifests::parse_stream(&String::from_utf8(out.stdout).unwrap());
    let helm_yaml: String = helm.iter().map(|o| format!("---\n{}", serde_yaml_ng::to_string(o).unwrap())).collect();
    let diffs = crate::manifests::compare(&helm_yaml, &rendered);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// A pod resource claim of an existing ResourceClaim (`resourceClaimName`): the chart's schema
/// refuses it, so does the import, naming what the workspace can write instead.
#[test]
fn an_existing_resource_claim_is_refused_as_helm_refuses_it() {
    let values = "decode:\n  resourceClaims:\n    - name: shared\n      resourceClaimName: gpu-pool\n  containers:\n    - name: vllm\n      image: x\n      modelCommand: vllmServe\n      mountModelVolume: true\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("claims.yaml");
    std::fs::write(&path, values).unwrap();
    let helm = crate::helm::helm_template("claims", &[&path], &[], &[]).unwrap_err();
    assert!(helm.contains("missing property 'resourceClaimTemplateName'"), "{helm}");
    let p = problems(iv::import(&request(&[("claims.yaml", values)], &[], "claims")));
    assert!(
        p.iter().any(|p| p.starts_with(
            "decode.resourceClaims[0].resourceClaimTemplateName: the chart's values schema requires a template"
        ) && p.contains("claim=")),
        "{p:#?}"
    );
}
