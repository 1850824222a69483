//! Fuzz target: arbitrary UTF-8 through parse, lower, graph and `fmt`. No input may panic, a file
//! `fmt` accepts must format to a fixed point, and wherever the fast parser answers, the `kdl`
//! crate must accept the input and give the same tree.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use msws::diag::{RenderOptions, Sink, SourceMap, render_all};
use msws::lower::{MemFiles, Options};

fuzz_target!(|text: &str| {
    let mut map = SourceMap::new();
    let mut sink = Sink::new();
    let id = map.add("fuzz.kdl", None, text);
    let _ = msws::syntax::parse(id, text, &mut sink);
    if let Some(fast) = msws::syntax::parse_fast(id, text) {
        assert_eq!(msws::syntax::parse_kdl_v2(id, text).as_ref(), Some(&fast), "the fast parser disagrees with kdl");
    }

    // The input is also importable as `lib.kdl`, so imports of itself (cycles) are exercised.
    let files = MemFiles::default().with("fuzz.kdl", text).with("lib.kdl", text);
    let mut fe = msws::lower::load(Path::new("fuzz.kdl"), &files, &Options::default());
    if let Some(ws) = &fe.workspace {
        let _ = msws::graph::build(ws, &mut fe.sink);
    }
    let _ = render_all(fe.sink.sorted(), &fe.map, RenderOptions::plain());

    if let Ok(once) = msws::syntax::fmt::format_source(text) {
        assert_eq!(msws::syntax::fmt::format_source(&once).as_ref(), Ok(&once), "fmt is not idempotent");
    }
});
