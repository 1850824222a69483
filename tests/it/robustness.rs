//! No input may panic the front end: random text, KDL-ish token soup and mutated copies of every
//! example and standard-library file go through parse, lower, graph and `fmt`.
//!
//! A panic inside any stage fails the proptest case, which then shrinks it to a small reproducer.
//! The case counts keep this module under ten seconds in a debug build on two cores.

use std::path::Path;

use msws::diag::{Sink, SourceMap};
use msws::lower::{MemFiles, Options};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use crate::support::{kdl_files, root};

/// Words and punctuation of the language, so random input gets past the tokenizer often.
pub const TOKENS: &[&str] = &[
    "workspace",
    "\"w\"",
    "format=1",
    "format=2",
    "namespace",
    "\"ns\"",
    "{",
    "}",
    ";",
    "\n",
    " ",
    "\\",
    "/-",
    "//",
    "/*",
    "*/",
    "#true",
    "#false",
    "#null",
    "#inf",
    "#-inf",
    "#nan",
    "(t)",
    "(u8)",
    "r#\"",
    "\"#",
    "#\"x\"#",
    "\"\"\"",
    "\"",
    "=",
    "0",
    "-1",
    "1.5e3",
    "0x1F",
    "0b101",
    "1_000",
    "340282366920938463463374607431768211456",
    "storage",
    "secret",
    "download",
    "model-service",
    "preset",
    "import",
    "var",
    "after",
    "access",
    "\"ReadWriteOnce\"",
    "\"ReadWriteMany\"",
    "size",
    "\"10Gi\"",
    "\"-1Gi\"",
    "\"1e400Ki\"",
    "from",
    "into",
    "\"hf://org/m\"",
    "\"pvc://c/p\"",
    "\"pvc+hf://c/hub/o/m\"",
    "\"s3://x\"",
    "token",
    "secret=\"tok\"",
    "from-env=\"HF_TOKEN\"",
    "uri",
    "model",
    "served-name",
    "decode",
    "prefill",
    "replicas=1",
    "replicas=-1",
    "replicas=\"${r}\"",
    "extends=\"std/vllm-decode\"",
    "extends=\"std/vllm-single\"",
    "extends=\"p\"",
    "extends=\"std/nope\"",
    "for=\"role\"",
    "for=\"container\"",
    "for=\"download\"",
    "container",
    "\"vllm\"",
    "image=\"img\"",
    "args",
    "env",
    "port",
    "8000",
    "resources",
    "cpu=\"4\"",
    "memory=\"8Gi\"",
    "parallelism",
    "tensor=2",
    "\"model-service/a\"",
    "\"download/a\"",
    "\"release/a\"",
    "\"storage/a\"",
    "\"a\"",
    "\"${v}\"",
    "\"${\"",
    "default=1",
    "\"x.kdl\"",
    "\"../x.kdl\"",
    "hf_abcdefghijklmnopqrstuvwxyz0123456789",
    "labels",
    "annotations",
    "fullname",
    "accelerator",
    "\"cpu\"",
    "model-size",
    "\"5Mi\"",
    "mount-model=#true",
    "probe",
    "liveness",
    "\u{feff}",
    "\r\n",
    "\t",
    "\u{2028}",
    "é",
    "🦀",
];

/// Runs every front-end stage on one root file (with `others` available to import). Any panic
/// propagates and fails the calling test.
pub fn run_frontend(name: &str, text: &str, others: &[(String, String)]) {
    let mut map = SourceMap::new();
    let mut sink = Sink::new();
    let id = map.add(name, None, text);
    let _ = msws::syntax::parse(id, text, &mut sink);

    let mut files = MemFiles::default().with(name, text);
    for (n, t) in others {
        files = files.with(n, t);
    }
    let mut fe = msws::lower::load(Path::new(name), &files, &Options::default());
    if let Some(ws) = &fe.workspace {
        let _ = msws::graph::build(ws, &mut fe.sink);
    }
    // Rendering the diagnostics reads every span against its file: spans must be in bounds.
    let _ = msws::diag::render_all(fe.sink.sorted(), &fe.map, msws::diag::RenderOptions::plain());

    let _ = msws::syntax::fmt::format_source(text);
}

fn soup() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        vec(select(TOKENS), 0..40).prop_map(|t| t.join(" ")),
        vec(select(TOKENS), 0..60).prop_map(|t| t.concat()),
        // A valid header followed by soup reaches lowering more often.
        vec(select(TOKENS), 0..40)
            .prop_map(|t| format!("workspace \"w\" format=1 {{\n    namespace \"ns\"\n}}\n{}", t.join(" "))),
    ]
}

/// `cases` runs, no failure files written: a failure prints its shrunk input, which belongs in a
/// named regression test, not in a seed file. The seed is fixed so that CI is deterministic;
/// `PROPTEST_RNG_SEED=N` (and `PROPTEST_CASES=N`) explore other inputs.
pub fn config(cases: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    let rng_seed = match std::env::var_os("PROPTEST_RNG_SEED") {
        Some(_) => default.rng_seed,
        None => proptest::test_runner::RngSeed::Fixed(0x6d73_7773),
    };
    let cases = if std::env::var_os("PROPTEST_CASES").is_some() { default.cases } else { cases };
    ProptestConfig { cases, failure_persistence: None, rng_seed, ..default }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn arbitrary_text_never_panics(text in soup()) {
        run_frontend("fuzz.kdl", &text, &[]);
    }
}

/// A file of the repository to mutate, and the files it may import.
pub struct Corpus {
    /// `(name, text)` for every example and standard-library file.
    pub files: Vec<(String, String)>,
}

impl Corpus {
    pub fn load() -> Corpus {
        let mut files = Vec::new();
        for dir in ["workspaces", "stdlib", "tests/data/valid"] {
            for p in kdl_files(&root().join(dir)) {
                let name = p.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/");
                files.push((name, std::fs::read_to_string(&p).unwrap()));
            }
        }
        assert!(files.len() >= 10, "found {} files", files.len());
        Corpus { files }
    }
}

/// One edit to a file's bytes or lines.
#[derive(Clone, Debug)]
pub enum Mutation {
    DeleteBytes(Index, usize),
    InsertToken(Index, &'static str),
    DuplicateBytes(Index, usize),
    SwapBytes(Index, Index),
    DeleteLine(Index),
    DuplicateLine(Index),
    SwapLines(Index, Index),
    InsertLine(Index, Vec<&'static str>),
}

pub fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1usize..8).prop_map(|(i, n)| Mutation::DeleteBytes(i, n)),
        (any::<Index>(), select(TOKENS)).prop_map(|(i, t)| Mutation::InsertToken(i, t)),
        (any::<Index>(), 1usize..16).prop_map(|(i, n)| Mutation::DuplicateBytes(i, n)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Mutation::SwapBytes(i, j)),
        any::<Index>().prop_map(Mutation::DeleteLine),
        any::<Index>().prop_map(Mutation::DuplicateLine),
        (any::<Index>(), any::<Index>()).prop_map(|(i, j)| Mutation::SwapLines(i, j)),
        (any::<Index>(), vec(select(TOKENS), 1..6)).prop_map(|(i, t)| Mutation::InsertLine(i, t)),
    ]
}

/// Applies the edits in order. Byte edits can split a UTF-8 sequence; the result is read lossily,
/// as any text that reached msws would be valid UTF-8.
pub fn mutate(text: &str, edits: &[Mutation]) -> String {
    let mut b = text.as_bytes().to_vec();
    for m in edits {
        let n = b.len();
        match m {
            Mutation::DeleteBytes(i, len) if n > 0 => {
                let at = i.index(n);
                b.drain(at..(at + len).min(n));
            }
            Mutation::InsertToken(i, t) => {
                let at = i.index(n + 1);
                b.splice(at..at, t.bytes());
            }
            Mutation::DuplicateBytes(i, len) if n > 0 => {
                let at = i.index(n);
                let piece = b[at..(at + len).min(n)].to_vec();
                b.splice(at..at, piece);
            }
            Mutation::SwapBytes(i, j) if n > 0 => b.swap(i.index(n), j.index(n)),
            Mutation::DeleteLine(i)
            | Mutation::DuplicateLine(i)
            | Mutation::SwapLines(i, _)
            | Mutation::InsertLine(i, _) => {
                let s = String::from_utf8_lossy(&b).into_owned();
                let mut lines: Vec<String> = s.split('\n').map(str::to_string).collect();
                let k = lines.len();
                let at = i.index(k);
                match m {
                    Mutation::DeleteLine(_) => {
                        lines.remove(at);
                    }
                    Mutation::DuplicateLine(_) => lines.insert(at, lines[at].clone()),
                    Mutation::SwapLines(_, j) => lines.swap(at, j.index(k)),
                    Mutation::InsertLine(_, t) => lines.insert(at, t.join(" ")),
                    _ => unreachable!("the outer match only lets line edits through"),
                }
                b = lines.join("\n").into_bytes();
            }
            _ => {}
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// A root file that imports a mutated standard-library file and uses its presets, since the real
/// standard library is compiled in and cannot be swapped.
pub const STDLIB_USER: &str = r#"workspace "w" format=1 {
    namespace "ns"
}
import "lib.kdl"
storage "st" {
    access "ReadWriteMany"
    size "10Gi"
}
download "d" extends="hf-download" {
    from "hf://org/m"
    into "st" path="m"
}
model-service "m" {
    model "d"
    served-name "org/m"
    decode extends="vllm-decode"
    prefill extends="vllm-prefill"
}
"#;

/// Runs a mutated corpus file through the front end: as the root file (its siblings importable),
/// and, for a standard-library file, as the import of a small workspace.
pub fn run_mutated(corpus: &Corpus, file: usize, text: &str) {
    let (name, _) = &corpus.files[file];
    let others: Vec<(String, String)> = corpus.files.iter().filter(|(n, _)| n != name).cloned().collect();
    run_frontend(name, text, &others);
    if name.starts_with("stdlib/") {
        run_frontend("user.kdl", STDLIB_USER, &[("lib.kdl".to_string(), text.to_string())]);
    }
}

#[test]
fn mutated_examples_never_panic() {
    let corpus = Corpus::load();
    let n = corpus.files.len();
    proptest!(config(1000), |(file in 0..n, edits in vec(mutation(), 1..6))| {
        let text = mutate(&corpus.files[file].1, &edits);
        run_mutated(&corpus, file, &text);
    });
}

#[test]
fn the_corpus_itself_runs_clean() {
    let corpus = Corpus::load();
    for (i, (_, text)) in corpus.files.iter().enumerate() {
        run_mutated(&corpus, i, text);
    }
}
