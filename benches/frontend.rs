//! Front-end and render speed and memory: parse, lower, order and render generated workspaces of
//! 1, 100 and 1000 model-services. Run with `cargo bench --bench frontend`; docs/performance.md has the numbers.
//!
//! Each unit of a generated workspace is what workspaces/opt-125m-rwx.kdl declares: a storage, a
//! download into it and a model-service serving the download with prefill and decode roles built
//! from the standard presets. A counting allocator reports the peak heap of one run per size
//! before the timed runs start.

use std::alloc::{GlobalAlloc, Layout};

use mimalloc::MiMalloc as System;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use msws::diag::{FileId, Sink};
use msws::lower::{Options, load_str};

/// The allocator the `msws` binary uses (mimalloc), counting live bytes and their peak. The two relaxed atomics per call
/// cost a few nanoseconds, the same in every measured run.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded unchanged to the allocator.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the allocator.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged to the allocator.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let live = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(live, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

mod common;

use common::{SIZES, workspace};

/// Parse + lower + graph, as `msws validate` runs them. Returns the number of steps.
fn frontend(text: &str) -> usize {
    let mut fe = load_str("bench.kdl", text, &Options::default());
    let ws = fe.workspace.as_ref().expect("the generated workspace loads");
    msws::graph::build(ws, &mut fe.sink).expect("the generated workspace has no cycle").len()
}

/// Parse + lower + graph + render, as `msws render` runs them. Returns the number of objects.
fn through_render(text: &str) -> usize {
    let mut fe = load_str("bench.kdl", text, &Options::default());
    let ws = fe.workspace.as_ref().expect("the generated workspace loads");
    let graph = msws::graph::build(ws, &mut fe.sink).expect("the generated workspace has no cycle");
    let opts = msws::render::Options { namespace: "llm-d".into(), ..Default::default() };
    let rendered = msws::render::render(ws, &graph, &opts);
    rendered.objects().count()
}

/// Peak heap of one run per size and stage, and the process's peak resident set afterwards.
fn report_memory() {
    for (what, run) in
        [("parse + lower + graph", frontend as fn(&str) -> usize), ("parse + lower + graph + render", through_render)]
    {
        println!("peak heap of one {what} run (counting allocator):");
        for n in SIZES {
            let text = workspace(n);
            let base = LIVE.load(Ordering::Relaxed);
            PEAK.store(base, Ordering::Relaxed);
            let start = Instant::now();
            let count = run(&text);
            let took = start.elapsed();
            let peak = PEAK.load(Ordering::Relaxed) - base;
            println!(
                "  {n:>5} model-services: {count:>5} steps/objects, input {:>8.1} KiB, peak heap {:>8.1} MiB, one cold run {:>8.2} ms",
                text.len() as f64 / 1024.0,
                peak as f64 / (1024.0 * 1024.0),
                took.as_secs_f64() * 1000.0
            );
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(hwm) = status.lines().find(|l| l.starts_with("VmHWM"))
    {
        println!("process peak resident set so far: {}", hwm.trim_start_matches("VmHWM:").trim());
    }
}

fn bench(c: &mut Criterion) {
    let mut parse = c.benchmark_group("parse");
    for n in SIZES {
        let text = workspace(n);
        parse.throughput(Throughput::Bytes(text.len() as u64));
        parse.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| msws::syntax::parse(FileId(0), black_box(text), &mut Sink::new()).map(|d| d.nodes.len()))
        });
    }
    parse.finish();

    let mut all = c.benchmark_group("parse+lower+graph");
    for n in SIZES {
        let text = workspace(n);
        all.throughput(Throughput::Elements(n as u64));
        if n >= 1000 {
            all.sample_size(20);
        }
        all.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| b.iter(|| frontend(black_box(text))));
    }
    all.finish();

    let mut render = c.benchmark_group("parse+lower+graph+render");
    for n in SIZES {
        let text = workspace(n);
        render.throughput(Throughput::Elements(n as u64));
        if n >= 1000 {
            render.sample_size(20);
        }
        render.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| through_render(black_box(text)))
        });
    }
    render.finish();
}

criterion_group!(benches, bench);

fn main() {
    // `cargo test --benches` runs this binary with `--test`: only check that it works, quickly.
    if !std::env::args().any(|a| a == "--test") {
        report_memory();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
