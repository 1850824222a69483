//! The golden cases real Helm rendered (`tests/data/tpl/cases.json`, made by
//! `tests/python/gen_tpl_cases.py`), replayed exactly; the chart's helpers; robustness.

use serde_json::Value as J;

use super::*;

fn golden() -> J {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tpl/cases.json");
    let text = std::fs::read_to_string(path).expect("the golden file is committed");
    serde_json::from_str(&text).expect("the golden file is JSON")
}

/// Cases where msws knowingly differs from Helm, by template, with the reason.
const KNOWN_DIFFERENCES: &[(&str, &str)] = &[
    (
        "{{ fromYaml \"a: 1\\nb: [x, y]\\nc: {d: e}\\nn: null\\nyes: yes\\nt: true\\nf: 1.5\\nbig: 1000000\" }}",
        "fromYaml reads YAML 1.2 (serde_yaml_ng): plain y/n/yes/no are strings, to Helm's YAML 1.1 booleans",
    ),
    (
        "{{ fromYaml \"k: 010\\nh: 0x1F\\no: on\\nd: 2024-01-01\\ns: 'quoted'\\ntil: ~\" }}",
        "fromYaml reads YAML 1.2: a plain 010 is a string and `on` is not a boolean",
    ),
];

fn run_case(case: &J, ms_defaults: &J, ms_defines: &Defines) -> Result<String, TplError> {
    let values = case["values"].clone();
    let (ctx, defines) = if case["chart"] == "modelservice" {
        let user = values.as_object().cloned().unwrap_or_default();
        let defaults = ms_defaults.as_object().cloned().unwrap_or_default();
        let merged = J::Object(crate::import_values::values::coalesce(user, &defaults));
        let mut ctx = Context::modelservice(
            &merged,
            case["release"].as_str().unwrap_or("rel"),
            case["namespace"].as_str().unwrap_or("ns"),
        );
        ctx.template_name = "llm-d-modelservice/templates/case.yaml".into();
        (ctx, ms_defines.clone())
    } else {
        let chart = Chart { name: "tc".into(), version: "0.1.0".into(), api_version: "v2".into(), ..Chart::default() };
        let release =
            Release::new(case["release"].as_str().unwrap_or("rel"), case["namespace"].as_str().unwrap_or("ns"));
        let mut ctx = Context::new(&values, release, chart);
        ctx.template_name = "tc/templates/case.yaml".into();
        (ctx, Defines::default())
    };
    render(case["template"].as_str().unwrap_or_default(), &ctx, &defines)
}

#[test]
fn golden_cases_match_helm() {
    let g = golden();
    let ms_defines = Defines::modelservice().expect("the chart's helpers parse");
    let cases = g["cases"].as_array().expect("cases");
    let mut failures = Vec::new();
    let mut skipped = 0;
    for case in cases {
        let tpl = case["template"].as_str().unwrap_or_default();
        if KNOWN_DIFFERENCES.iter().any(|(t, _)| *t == tpl) {
            skipped += 1;
            continue;
        }
        let got = run_case(case, &g["modelservice_values"], &ms_defines);
        let ok = match (&got, case.get("output"), case.get("error_contains")) {
            (Ok(out), Some(J::String(want)), _) => out == want,
            (Err(e), None, Some(J::String(want))) => {
                e.message.contains(want.as_str()) || e.cause.contains(want.as_str())
            }
            _ => false,
        };
        if !ok {
            let want = case.get("output").or(case.get("error_contains")).cloned().unwrap_or(J::Null);
            let got = match got {
                Ok(o) => format!("output {o:?}"),
                Err(e) => format!("error {:?}", e.message),
            };
            failures.push(format!("case {tpl:?}\n  want {want}\n  got  {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases differ from Helm ({skipped} known differences skipped):\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn functions_are_exactly_helms() {
    let g = golden();
    let helm: Vec<&str> = g["functions"].as_array().expect("functions").iter().filter_map(J::as_str).collect();
    for name in &helm {
        assert!(is_function(name), "Helm defines {name}, msws does not");
    }
    for name in
        ["env", "expandenv", "md5sum", "mustFromYaml", "mustFromYamlArray", "mustFromJsonArray", "randSeededNumeric"]
    {
        assert!(!is_function(name), "Helm does not define {name}");
    }
}

#[test]
fn the_chart_helpers_parse() {
    let d = Defines::modelservice().expect("parse");
    let names: Vec<&str> = d.names().collect();
    for n in [
        "llm-d-modelservice.fullname",
        "llm-d-modelservice.container",
        "common.tplvalues.render",
        "common.names.fullname",
    ] {
        assert!(names.contains(&n), "{n} missing");
    }
}

fn ctx() -> Context {
    Context::modelservice(&serde_json::json!({"a": {"b": 1}}), "rel", "ns")
}

#[test]
fn unsupported_and_nondeterministic_functions_name_themselves() {
    for (tpl, name) in [
        ("{{ now }}", "now"),
        ("{{ randAlphaNum 5 }}", "randAlphaNum"),
        ("{{ uuidv4 }}", "uuidv4"),
        ("{{ toToml . }}", "toToml"),
    ] {
        let e = render(tpl, &ctx(), &Defines::default()).expect_err(tpl);
        assert!(e.message.contains(&format!("error calling {name}")), "{}", e.message);
        assert_eq!(e.kind, ErrorKind::Exec);
    }
}

#[test]
fn fail_and_required_carry_the_message_exactly() {
    let e = render(
        r#"{{ fail "parallelism.data must be a multiple of parallelism.workers" }}"#,
        &ctx(),
        &Defines::default(),
    )
    .unwrap_err();
    assert_eq!(e.cause, "parallelism.data must be a multiple of parallelism.workers");
    let e = render(r#"{{ required "image of container is required" .Values.nope }}"#, &ctx(), &Defines::default())
        .unwrap_err();
    assert_eq!(e.cause, "image of container is required");
    let d = Defines::modelservice().unwrap();
    let e = render(
        r#"{{ include "llm-d-modelservice.container" (dict "container" (dict) "Values" .Values) }}"#,
        &ctx(),
        &d,
    )
    .unwrap_err();
    assert_eq!(e.cause, "image of container is required");
}

#[test]
fn parse_errors_have_a_position() {
    let e = render("line one\n  {{ if }}", &ctx(), &Defines::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Parse);
    assert_eq!(e.cause, "missing value for if");
    let loc = e.location.expect("location");
    assert_eq!((loc.line, loc.col), (2, 8));
}

#[test]
fn deep_recursion_is_an_error_not_a_crash() {
    let e = render(r#"{{ define "r" }}{{ include "r" . }}{{ end }}{{ include "r" . }}"#, &ctx(), &Defines::default())
        .unwrap_err();
    assert!(e.message.contains("exceeded maximum template depth"), "{}", e.message);
    let nested = format!("{}1{}", "{{ (", ") }}");
    assert!(render(&nested, &ctx(), &Defines::default()).is_ok());
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(500), ")".repeat(500));
    assert!(render(&deep, &ctx(), &Defines::default()).is_err());
}

#[test]
fn a_map_that_contains_itself_does_not_crash() {
    let out = render(
        r#"{{ $d := dict }}{{ $_ := set $d "self" $d }}{{ toYaml $d }}|{{ toJson $d }}|{{ len (printf "%v" $d) }}"#,
        &ctx(),
        &Defines::default(),
    );
    assert!(out.is_ok() || out.is_err());
}

mod props {
    use proptest::prelude::*;

    use super::*;

    fn config() -> ProptestConfig {
        ProptestConfig {
            cases: 2000,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x7e57_7e57),
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// Pieces of template syntax, so random texts reach deep into the parser and executor.
    fn piece() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("{{".to_string()),
            Just("}}".to_string()),
            Just("{{-".to_string()),
            Just("-}}".to_string()),
            Just(" ".to_string()),
            Just("(".to_string()),
            Just(")".to_string()),
            Just("|".to_string()),
            Just("$x := ".to_string()),
            Just("$x".to_string()),
            Just("$".to_string()),
            Just(".Values.a.b".to_string()),
            Just(".".to_string()),
            Just("if ".to_string()),
            Just("else ".to_string()),
            Just("end".to_string()),
            Just("range ".to_string()),
            Just("with ".to_string()),
            Just("break".to_string()),
            Just("define \"t\"".to_string()),
            Just("template \"t\" .".to_string()),
            Just("include \"t\" .".to_string()),
            Just("tpl \"{{ . }}\" .".to_string()),
            Just("\"str\"".to_string()),
            Just("`raw`".to_string()),
            Just("1".to_string()),
            Just("-1.5e3".to_string()),
            Just("'c'".to_string()),
            Just("nil".to_string()),
            Just("true".to_string()),
            Just("/* c */".to_string()),
            "[a-z]{1,8}".prop_map(|s| s),
            proptest::sample::select(vec![
                "toYaml",
                "fromYaml",
                "toJson",
                "quote",
                "dict",
                "list",
                "index",
                "slice",
                "printf",
                "eq",
                "lt",
                "and",
                "default",
                "merge",
                "set",
                "regexSplit",
                "trunc",
                "substr",
                "indent",
                "repeat",
                "until",
                "div",
                "len",
            ])
            .prop_map(str::to_string),
            any::<char>().prop_map(|c| c.to_string()),
        ]
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn random_templates_never_panic(pieces in proptest::collection::vec(piece(), 0..40)) {
            let text: String = pieces.concat();
            let _ = render(&text, &ctx(), &Defines::default());
        }

        #[test]
        fn random_strings_never_panic(text in "\\PC{0,80}") {
            let _ = render(&text, &ctx(), &Defines::default());
        }
    }
}
