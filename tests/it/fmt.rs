//! `msws fmt` on real and messy files: the repository's own files are already formatted, formatting
//! twice changes nothing more, and formatting never changes what a file means to the front end.

use std::path::Path;

use msws::lower::{Frontend, MemFiles, Options};
use msws::syntax::fmt::{FmtError, format_source};
use proptest::collection::vec;
use proptest::prelude::*;

use crate::robustness::{Corpus, config, mutate, mutation};
use crate::support::{kdl_files, root};

#[test]
fn repository_files_are_already_formatted() {
    let mut files = kdl_files(&root().join("workspaces"));
    files.extend(kdl_files(&root().join("stdlib")));
    assert!(files.len() >= 10, "found {files:?}");
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let out = format_source(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if out != text {
            let diff = similar_lines(&text, &out);
            panic!("{} is not formatted; `msws fmt` would change:\n{diff}", f.display());
        }
    }
}

/// A minimal line diff for the failure message.
fn similar_lines(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out = String::new();
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i).copied(), b.get(i).copied());
        if x != y {
            out += &format!("line {}:\n- {}\n+ {}\n", i + 1, x.unwrap_or("<none>"), y.unwrap_or("<none>"));
        }
    }
    out
}

/// Inputs a person might write: odd indentation, `;`, comments in every position, KDL v1, CRLF,
/// tabs, slashdash, continuations, raw and multi-line strings, type annotations.
const MESSY: &[&str] = &[
    "workspace \"w\" format=1{namespace \"ns\"}\n",
    "\n\n\nworkspace   \"w\"    format=1   {\n\t\tnamespace\t\"ns\"   \n\n\n\n}\n\n\n",
    "workspace \"w\" format=1 { namespace \"ns\"; labels { a \"b\"; c \"d\" } }",
    "// lead\nworkspace \"w\" format=1 { // trailing\n  /* inside */ namespace \"ns\" // after value\n} // after brace\n/* tail */",
    "workspace \"w\" format=1 {\r\n    namespace \"ns\"\r\n}\r\n",
    "workspace \"w\" format=1 {\n namespace \"ns\"\n}\nstorage \"s\" {\n     access \"ReadWriteMany\"\n  size \"1Gi\"\n   }\n",
    "model-service \"m\" {\n  /-uri \"hf://x/y\"\n  uri \"hf://a/b\" \\\n      // why\n  decode replicas=1 extends=\"std/vllm-single\" /-{ gone 1 }\n}\n",
    "a #\"raw \"quoted\" text\"# \"\"\"\n    multi\n      line\n    \"\"\"\n",
    "x {\n        y \"\"\"\n          deep\n          \"\"\"\n   }\n",
    "n (u8)1 (t)\"v\" key=(t)0x1F other = 1.5e3 #true #null #inf\n",
    "workspace \"w\" format=1 {\n    namespace \"ns\"\n}\nsecret \"t\" from-env=\"HF_TOKEN\"\n\n\n\n\nsecret \"u\" from-env=\"X\"",
    // KDL v1: rewritten as v2.
    "workspace \"w\" format=1 {\n  namespace \"ns\"\n}\nmodel-service \"m\" {\n  read-only false\n  x null r\"raw\"\n}\n",
    "a { b { c { d { e 1; }; }; }; }\n",
    "a {}\nb {\n}\nc {\n\n}\n",
    "/* only a comment */",
    "",
    "\u{feff}workspace \"w\" format=1 {\n    namespace \"ns\"\n}\n",
];

#[test]
fn formatting_is_idempotent_on_messy_input() {
    for input in MESSY {
        let once = format_source(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let twice = format_source(&once).unwrap_or_else(|e| panic!("{once:?}: {e}"));
        assert_eq!(twice, once, "formatting {input:?} a second time changed it");
        assert!(once.is_empty() || once.ends_with('\n') && !once.ends_with("\n\n"), "{once:?}");
    }
}

#[test]
fn formatting_is_idempotent_on_the_repository_files() {
    let corpus = Corpus::load();
    for (name, text) in &corpus.files {
        let once = format_source(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(format_source(&once).unwrap(), once, "{name}");
    }
}

/// What the front end made of a file, without positions: the workspace (spans blanked) and the
/// diagnostics' codes, messages and help. The KDL v1 warning is left out, since `fmt` removes its
/// cause on purpose.
fn meaning(fe: &Frontend) -> (Option<String>, Vec<String>) {
    let ws = fe.workspace.as_ref().map(|w| blank_spans(&format!("{w:#?}")));
    let mut diags: Vec<String> = fe
        .sink
        .diagnostics()
        .iter()
        .filter(|d| d.code != "msws::kdl-v1")
        .map(|d| format!("{} {} {}: {:?}", d.severity, d.code, d.message, d.help))
        .collect();
    diags.sort();
    (ws, diags)
}

/// Replaces the numbers in `start: N,` and `end: N,` (the fields of a `Span` in debug output).
fn blank_spans(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for line in s.lines() {
        let t = line.trim_start();
        if t.starts_with("start: ") || t.starts_with("end: ") {
            let key = t.split(':').next().unwrap_or("");
            out += &format!("{key}: _\n");
        } else {
            out += line;
            out += "\n";
        }
    }
    out
}

fn load(name: &str, text: &str, others: &[(String, String)]) -> Frontend {
    let mut files = MemFiles::default().with(name, text);
    for (n, t) in others {
        files = files.with(n, t);
    }
    msws::lower::load(Path::new(name), &files, &Options::default())
}

/// The corpus files load to the same meaning after formatting (a check of the check itself).
#[test]
fn formatting_keeps_the_meaning_of_the_repository_files() {
    let corpus = Corpus::load();
    for (name, text) in &corpus.files {
        let others: Vec<(String, String)> = corpus.files.iter().filter(|(n, _)| n != name).cloned().collect();
        let formatted = format_source(text).unwrap();
        assert_eq!(meaning(&load(name, text, &others)), meaning(&load(name, &formatted, &others)), "{name}");
    }
}

/// Found by `formatting_keeps_the_meaning_of_mutated_files`: a KDL v1 string holding `\r\n` became
/// a v2 multi-line string, whose newlines are read as `\n`, so `fmt` silently dropped the `\r`. The
/// conversion now writes such a string with escapes.
#[test]
fn a_v1_string_with_crlf_keeps_its_value() {
    assert_eq!(format_source("a \"x\r\ny\"\n").unwrap(), "a \"x\\r\\ny\"\n");
    // Plain v1 input converts, values kept as written.
    assert_eq!(format_source("a \"x\" true\n").unwrap(), "a \"x\" #true\n");
    // A trailing comment keeps its line (kdl's own converter ran the next node into it).
    assert_eq!(format_source("a \"x\" // c\nz true\n").unwrap(), "a \"x\" // c\nz #true\n");
}

/// Found by `arbitrary_text_never_panics`: a line separator (U+2028, three bytes) before a token
/// that is re-indented made `fmt` slice inside the character.
#[test]
fn a_wide_newline_before_a_token_does_not_panic() {
    for text in ["a\u{2028} storage\n", "a\u{2028}// c\n", "a\u{2028}/* c\n */\n", "a\u{2028}\"\"\"\n  x\n  \"\"\"\n"] {
        let _ = format_source(text);
    }
}

#[test]
fn formatting_keeps_the_meaning_of_mutated_files() {
    let corpus = Corpus::load();
    let n = corpus.files.len();
    proptest!(config(500), |(file in 0..n, edits in vec(mutation(), 1..4))| {
        let (name, original) = &corpus.files[file];
        let text = mutate(original, &edits);
        let others: Vec<(String, String)> = corpus.files.iter().filter(|(n, _)| n != name).cloned().collect();
        match format_source(&text) {
            // Not KDL any more: nothing to compare.
            Err(FmtError::Syntax) => {}
            Err(e) => prop_assert!(false, "{e} on {text:?}"),
            Ok(formatted) => {
                prop_assert_eq!(meaning(&load(name, &text, &others)), meaning(&load(name, &formatted, &others)));
                prop_assert_eq!(format_source(&formatted), Ok(formatted.clone()), "not idempotent");
            }
        }
    });
}
