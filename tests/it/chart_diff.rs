//! The differential test of `msws import-values` and `msws render` against the ModelService
//! chart (issue 9): random valid values of the chart (`random.rs`), rendered by real Helm (all
//! cases in one process: `helm::helm_template_batch`) and by msws (import, load, graph,
//! render), compared object by object and field by field (`compare.rs`), where only the
//! deliberate differences of `deliberate.rs` may remain. At least [`PASS_THRESHOLD`] of the cases
//! must render the same.
//!
//! The cases are fixed ([`SEED`], [`CASES`]) so CI is deterministic; `MSWS_CHART_SEED` and
//! `MSWS_CHART_CASES` run others (case *i* has seed `MSWS_CHART_SEED + i`, so
//! `MSWS_CHART_SEED=<seed> MSWS_CHART_CASES=1` reruns one case of a report). A failure lists the
//! kinds of problem with how many cases have each, most frequent first, then every failing case
//! (its seed, its values, its problems); the whole report, with each case's imported workspace,
//! is written to `target/tmp/chart-diff/`.
//!
//! A case Helm refuses, or whose objects an API server would refuse (`validity.rs`), is the
//! generator's fault, not msws's: the test fails on any such case, whatever the pass rate.

mod compare;
mod coverage;
mod deliberate;
mod random;
mod validity;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::Value;

use msws::import_values::{self as iv, ImportError, ProblemKind, Request, ValuesFile};

use crate::helm::{BatchCase, chart_dir, helm_template_batch};
use deliberate::{Apply, Ctx, DELIBERATE};
use random::Case;

/// The share of cases that must render what the chart renders.
pub const PASS_THRESHOLD: f64 = 0.95;
/// The fixed cases: seeds `SEED..SEED + CASES`.
pub const SEED: u64 = 9_000;
pub const CASES: usize = 100;
/// Lines of a case's values and of its problems shown in the failure message (the report file
/// has them all).
const SHOWN: usize = 20;

fn seed_and_count() -> (u64, usize) {
    let num =
        |k: &str| std::env::var(k).ok().map(|v| v.trim().parse::<u64>().unwrap_or_else(|e| panic!("{k}={v}: {e}")));
    (num("MSWS_CHART_SEED").unwrap_or(SEED), num("MSWS_CHART_CASES").map_or(CASES, |n| n as usize))
}

fn generate(seed: u64, n: usize) -> Vec<Case> {
    (0..n).map(|i| random::case(i, seed.wrapping_add(i as u64))).collect()
}

/// One problem of a case: its kind (for counting across cases) and the full line.
#[derive(Clone, Debug)]
struct Finding {
    kind: String,
    text: String,
}

enum Verdict {
    Pass,
    Fail(Vec<Finding>),
    /// Helm or an API server would refuse the values: the generator's fault.
    Invalid(Vec<String>),
}

struct Outcome {
    case: Case,
    verdict: Verdict,
    /// The deliberate differences that applied.
    used: BTreeSet<&'static str>,
    /// The workspace msws imported, when it did.
    workspace: Option<String>,
}

/// The chart's `fullname` helper, for naming objects in the report generically.
fn fullname(release: &str, values: &Value) -> String {
    let trunc = |s: &str| s.chars().take(55).collect::<String>().trim_end_matches('-').to_string();
    if let Some(f) = values["fullnameOverride"].as_str().filter(|f| !f.is_empty()) {
        return trunc(f);
    }
    let name = values["nameOverride"].as_str().filter(|n| !n.is_empty()).unwrap_or("llm-d-modelservice");
    if release.contains(name) { trunc(release) } else { trunc(&format!("{release}-{name}")) }
}

/// A key with its list indices and role taken out: `<role>.containers[].extraConfig`.
fn generic_key(key: &str) -> String {
    let re = regex::Regex::new(r"\[\d+\]").unwrap();
    let k = re.replace_all(key, "[]").to_string();
    for role in ["decode.", "prefill."] {
        if let Some(rest) = k.strip_prefix(role) {
            return format!("<role>.{rest}");
        }
    }
    k
}

/// A message with its quoted parts taken out, so that messages of a kind count together.
fn generic_message(m: &str) -> String {
    let re = regex::Regex::new(r#"`[^`]*`|"[^"]*""#).unwrap();
    let m = re.replace_all(m, "…").to_string();
    let m = m.lines().next().unwrap_or("").to_string();
    if m.chars().count() > 120 { format!("{}…", m.chars().take(120).collect::<String>()) } else { m }
}

/// What msws renders for a case: the objects, or what stopped it (and the workspace, if the
/// import gave one).
fn msws(case: &Case) -> (Result<Vec<Value>, Vec<Finding>>, Option<String>) {
    let req = Request {
        files: vec![ValuesFile { name: "values.yaml".into(), text: case.yaml.clone() }],
        sets: vec![],
        set_strings: vec![],
        release: case.release.clone(),
        namespace: Some(case.namespace.clone()),
    };
    let text = match iv::import(&req) {
        Ok(t) => t,
        Err(ImportError::Usage(u)) => {
            return (Err(vec![Finding { kind: format!("import (usage): {}", generic_message(&u)), text: u }]), None);
        }
        Err(ImportError::Problems(ps)) => {
            let findings = ps
                .iter()
                .map(|p| {
                    let kind = match p.kind {
                        ProblemKind::Unknown => format!("import: unknown value: {}", generic_key(&p.key)),
                        ProblemKind::Invalid if p.key.is_empty() => format!("import: {}", generic_message(&p.detail)),
                        ProblemKind::Invalid => {
                            format!("import: {}: {}", generic_key(&p.key), generic_message(&p.detail))
                        }
                    };
                    Finding { kind, text: format!("import: {p}") }
                })
                .collect();
            return (Err(findings), None);
        }
    };
    let name = format!("{}.kdl", case.release);
    let mut fe = msws::lower::load_str(&name, &text, &msws::lower::Options::default());
    let errors = |fe: &msws::lower::Frontend| -> Vec<Finding> {
        fe.sink
            .sorted()
            .into_iter()
            .filter(|d| d.severity == msws::diag::Severity::Error)
            .map(|d| Finding {
                kind: format!("load: {}: {}", d.code, generic_message(&d.message)),
                text: format!("load: error[{}]: {}", d.code, d.message),
            })
            .collect()
    };
    let Some(ws) = fe.workspace.take() else { return (Err(errors(&fe)), Some(text)) };
    let graph = msws::graph::build(&ws, &mut fe.sink);
    let found = errors(&fe);
    let Some(graph) = graph.filter(|_| found.is_empty()) else {
        let found = if found.is_empty() {
            vec![Finding { kind: "graph: no step graph".into(), text: "graph: no step graph".into() }]
        } else {
            found
        };
        return (Err(found), Some(text));
    };
    let namespace = ws.namespace.clone().unwrap_or_else(|| case.namespace.clone());
    let rendered = msws::render::render(&ws, &graph, &msws::render::Options { namespace, ..Default::default() });
    (Ok(rendered.unique_objects().map(|(_, o)| o.to_json()).collect()), Some(text))
}

fn judge(case: &Case, helm: Result<Vec<Value>, String>, defaults: &Value) -> Outcome {
    let mut outcome = Outcome { case: case.clone(), verdict: Verdict::Pass, used: BTreeSet::new(), workspace: None };
    let expected = match helm {
        Ok(objs) => objs,
        Err(e) => {
            outcome.verdict = Verdict::Invalid(vec![format!("helm: {e}")]);
            return outcome;
        }
    };
    let invalid: Vec<String> = expected.iter().flat_map(validity::problems).collect();
    if !invalid.is_empty() {
        outcome.verdict = Verdict::Invalid(invalid);
        return outcome;
    }
    let cx = Ctx { values: deliberate::coalesce(defaults, &case.values) };
    let full = fullname(&case.release, &cx.values);
    let run = catch_unwind(AssertUnwindSafe(|| {
        let (actual, workspace) = msws(case);
        let mut used = BTreeSet::new();
        let verdict = match actual {
            Err(findings) => {
                // A refusal msws makes on purpose: every problem is one.
                let refusals: Vec<&'static str> = findings
                    .iter()
                    .filter_map(|f| {
                        DELIBERATE
                            .iter()
                            .find(|d| matches!(&d.apply, Apply::Refusal(r) if r(&cx, &f.text)))
                            .map(|d| d.id)
                    })
                    .collect();
                if refusals.len() == findings.len() {
                    used.extend(refusals);
                    Verdict::Pass
                } else {
                    Verdict::Fail(findings)
                }
            }
            Ok(actual) => {
                let diffs = compare::compare(&expected, &actual, |e, a| {
                    for d in DELIBERATE {
                        if let Apply::Objects(f) = &d.apply
                            && f(&cx, e, a) > 0
                        {
                            used.insert(d.id);
                        }
                    }
                });
                if diffs.is_empty() {
                    Verdict::Pass
                } else {
                    Verdict::Fail(diffs.iter().map(|d| Finding { kind: d.kind(&full), text: d.to_string() }).collect())
                }
            }
        };
        (verdict, used, workspace)
    }));
    match run {
        Ok((verdict, used, workspace)) => {
            outcome.verdict = verdict;
            outcome.used = used;
            outcome.workspace = workspace;
        }
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "a panic".into());
            outcome.verdict = Verdict::Fail(vec![Finding {
                kind: format!("panic: {}", generic_message(&msg)),
                text: format!("panic: {msg}"),
            }]);
        }
    }
    outcome
}

/// Runs every case: Helm for all at once, then msws and the comparison, case by case.
fn run(cases: &[Case]) -> Vec<Outcome> {
    let batch: Vec<BatchCase> = cases
        .iter()
        .map(|c| BatchCase {
            release: c.release.clone(),
            namespace: c.namespace.clone(),
            values: vec![c.yaml.clone()],
            ..BatchCase::default()
        })
        .collect();
    let answers = helm_template_batch(&batch);
    let defaults: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap()).unwrap();
    // msws's panics are findings; the default hook would print each one besides.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcomes = cases.iter().zip(answers).map(|(c, a)| judge(c, a, &defaults)).collect();
    std::panic::set_hook(hook);
    outcomes
}

fn head(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut s: String = lines.iter().take(n).map(|l| format!("    {l}\n")).collect();
    if lines.len() > n {
        let _ = writeln!(s, "    … ({} more lines)", lines.len() - n);
    }
    s
}

/// The report: (the summary and the failing cases shortened, for the failure message; the
/// whole of it, for the file).
fn report(seed: u64, outcomes: &[Outcome]) -> (String, String) {
    let n = outcomes.len();
    let passed = outcomes.iter().filter(|o| matches!(o.verdict, Verdict::Pass)).count();
    let mut kinds: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for o in outcomes {
        if let Verdict::Fail(fs) = &o.verdict {
            let unique: BTreeSet<&str> = fs.iter().map(|f| f.kind.as_str()).collect();
            for k in unique {
                kinds.entry(k).or_default().push(o.case.number);
            }
        }
    }
    let mut kinds: Vec<(&str, Vec<usize>)> = kinds.into_iter().collect();
    kinds.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));

    let mut s = String::new();
    let _ = writeln!(
        s,
        "chart_diff: {passed} of {n} cases render what the chart renders ({:.0}%; {:.0}% needed), seeds {seed}..{}",
        100.0 * passed as f64 / n.max(1) as f64,
        100.0 * PASS_THRESHOLD,
        seed + n as u64,
    );
    let invalid: Vec<&Outcome> = outcomes.iter().filter(|o| matches!(o.verdict, Verdict::Invalid(_))).collect();
    if !invalid.is_empty() {
        let _ = writeln!(
            s,
            "\nTHE GENERATOR drew {} cases that Helm or an API server refuses (a bug of random.rs):",
            invalid.len()
        );
        for o in &invalid {
            if let Verdict::Invalid(p) = &o.verdict {
                let _ = writeln!(s, "  case {} (seed {}): {}", o.case.number, o.case.seed, p.join("; "));
            }
        }
    }
    let _ = writeln!(s, "\nproblems by kind, most frequent first (cases with it, and which):");
    for (k, cs) in &kinds {
        let list: Vec<String> = cs.iter().take(12).map(|c| c.to_string()).collect();
        let more = if cs.len() > 12 { ", …" } else { "" };
        let _ = writeln!(s, "  {:>4}  {k}  [{}{more}]", cs.len(), list.join(", "));
    }
    let _ = writeln!(s, "\ndeliberate differences (cases they applied to):");
    for d in DELIBERATE {
        let count = outcomes.iter().filter(|o| o.used.contains(d.id)).count();
        let note = if count == 0 { "  — NEVER APPLIED in this run: stale, or matched too narrowly?" } else { "" };
        let _ = writeln!(s, "  {:>4}  {}{note}", count, d.id);
    }
    let summary = s.clone();
    let mut short = summary.clone();
    let mut full = summary;
    let _ = writeln!(full, "\nthe deliberate differences:");
    for d in DELIBERATE {
        let _ = writeln!(full, "  {}: {}\n      why: {}", d.id, d.matches, d.reason);
    }
    for o in outcomes {
        let Verdict::Fail(fs) = &o.verdict else { continue };
        let c = &o.case;
        let header = format!(
            "\n--- case {} (seed {}): release `{}`, namespace `{}`, focus {}: {} problems\n",
            c.number,
            c.seed,
            c.release,
            c.namespace,
            random::FOCUS[(c.seed % random::FOCUS.len() as u64) as usize],
            fs.len()
        );
        let problems: String = fs.iter().map(|f| format!("{}\n", f.text)).collect();
        short.push_str(&header);
        let _ = write!(short, "  values.yaml:\n{}  problems:\n{}", head(&c.yaml, SHOWN), head(&problems, SHOWN));
        full.push_str(&header);
        let _ =
            write!(full, "  values.yaml:\n{}  problems:\n{}", head(&c.yaml, usize::MAX), head(&problems, usize::MAX));
        if let Some(w) = &o.workspace {
            let _ = write!(full, "  the imported workspace:\n{}", head(w, usize::MAX));
        }
    }
    (short, full)
}

#[test]
fn random_values_render_what_the_chart_renders() {
    let (seed, n) = seed_and_count();
    let started = std::time::Instant::now();
    let cases = generate(seed, n);
    let outcomes = run(&cases);
    let (short, full) = report(seed, &outcomes);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("chart-diff");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("report-{seed}-{n}.txt"));
    std::fs::write(&path, &full).unwrap();
    // The summary (the failure message has it too, with the cases).
    println!("{}", short.split("\n--- case").next().unwrap_or(""));
    println!("full report: {} ({:.1}s)", path.display(), started.elapsed().as_secs_f64());

    let invalid = outcomes.iter().filter(|o| matches!(o.verdict, Verdict::Invalid(_))).count();
    let passed = outcomes.iter().filter(|o| matches!(o.verdict, Verdict::Pass)).count();
    assert!(invalid == 0, "full report: {}\n{short}", path.display());
    assert!(
        passed as f64 >= PASS_THRESHOLD * n as f64,
        "{passed} of {n} cases pass, {:.0}% are needed; full report: {}\n\n{short}",
        100.0 * PASS_THRESHOLD,
        path.display()
    );
}

#[test]
fn the_fixed_cases_cover_every_key_of_the_chart() {
    let cases = generate(SEED, CASES);
    let values: Vec<&Value> = cases.iter().map(|c| &c.values).collect();
    let left = coverage::uncovered(&values);
    assert!(
        left.is_empty(),
        "{} keys of the chart no fixed case sets to a value other than its default:\n{}",
        left.len(),
        left.iter().map(|(k, from)| format!("  {k}  ({from})")).collect::<Vec<_>>().join("\n")
    );
}

/// How well the generator covers the chart's keys with other seeds than the fixed ones: for
/// whoever changes `random.rs` (a change reshuffles every draw), so that the fixed cases cover
/// every key by design rather than by luck. `cargo nextest run --run-ignored only -E
/// 'test(/chart_diff::coverage_with_other_seeds/)' --no-capture`.
#[test]
#[ignore]
fn coverage_with_other_seeds() {
    let mut misses: BTreeMap<String, usize> = BTreeMap::new();
    let bases: Vec<u64> = (0..20).map(|i| 1 + i * 7919).collect();
    for &base in &bases {
        let cases = generate(base, CASES);
        let values: Vec<&Value> = cases.iter().map(|c| &c.values).collect();
        for (k, _) in coverage::uncovered(&values) {
            *misses.entry(k).or_default() += 1;
        }
    }
    let mut misses: Vec<(String, usize)> = misses.into_iter().collect();
    misses.sort_by_key(|m| std::cmp::Reverse(m.1));
    println!("keys left uncovered by {} runs of {CASES} cases (how many runs):", bases.len());
    for (k, n) in misses {
        println!("  {n:>3}  {k}");
    }
}

#[test]
fn every_fixed_case_is_valid_values_of_the_chart() {
    // Fast, without msws: Helm accepts the values and an API server would accept the objects.
    let cases = generate(SEED, CASES);
    let batch: Vec<BatchCase> = cases
        .iter()
        .map(|c| BatchCase {
            release: c.release.clone(),
            namespace: c.namespace.clone(),
            values: vec![c.yaml.clone()],
            ..Default::default()
        })
        .collect();
    let mut bad = Vec::new();
    for (c, a) in cases.iter().zip(helm_template_batch(&batch)) {
        let problems = match a {
            Err(e) => vec![format!("helm: {e}")],
            Ok(objs) => objs.iter().flat_map(validity::problems).collect(),
        };
        if !problems.is_empty() {
            bad.push(format!("case {} (seed {}): {}\n{}", c.number, c.seed, problems.join("\n  "), c.yaml));
        }
    }
    assert!(bad.is_empty(), "{} cases are not valid:\n{}", bad.len(), bad.join("\n\n"));
}

/// The harness against what is known to render the same: every example of the chart that msws
/// imports compares equal by the strict comparison too (the lenient one of `manifests.rs` holds
/// them already), and one it cannot import says only what is not supported.
#[test]
fn the_chart_s_examples_compare_the_same_strictly() {
    use msws::import_values::strvals::{self, Typing};
    let cases: Vec<Case> = crate::import_values::CASES
        .iter()
        .enumerate()
        .map(|(i, (_, release, file, sets))| {
            let text = std::fs::read_to_string(crate::helm::examples_dir().join(file)).unwrap();
            let mut values: Value = serde_yaml_ng::from_str(&text).unwrap();
            for s in sets.iter() {
                strvals::parse_into(s, values.as_object_mut().unwrap(), Typing::Typed).unwrap();
            }
            let yaml = random::to_yaml(&values);
            Case { number: i, seed: 0, release: release.to_string(), namespace: "default".into(), values, yaml }
        })
        .collect();
    let outcomes = run(&cases);
    let mut passed = 0;
    for o in &outcomes {
        match &o.verdict {
            Verdict::Pass => passed += 1,
            Verdict::Fail(fs) if fs.iter().all(|f| f.kind.starts_with("import: not supported yet:")) => {}
            _ => panic!("{}", report(0, &outcomes).0),
        }
    }
    assert!(passed >= 8, "{}", report(0, &outcomes).0);
}
