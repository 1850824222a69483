//! Plan speed: `msws plan --offline` of generated workspaces of 1, 100 and 1000 model-services,
//! and a plan against the fake cluster after those workspaces were applied to it (every object
//! read back, one server-side dry-run per object). Run with `cargo bench --bench plan`;
//! docs/performance.md has the numbers.

mod common;

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use msws::cluster::fake::{FakeCluster, storage_class};
use msws::cluster::{ApplyOptions, Cluster};
use msws::lower::{Options, load_str};
use msws::plan::{DownloadRecord, Inventory, Live, ObserveOptions, Request, Source, show};

use common::{SIZES, workspace};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn secrets() -> BTreeMap<String, BTreeMap<String, String>> {
    BTreeMap::from([("hf-token".to_string(), BTreeMap::from([("HF_TOKEN".to_string(), "hf_bench".to_string())]))])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// Everything `msws plan` does from the text to the printed plan, against `source`.
fn plan_text(text: &str, source: impl FnOnce() -> Source<'static>, rt: &tokio::runtime::Runtime) -> usize {
    let mut fe = load_str("bench.kdl", text, &Options::default());
    let ws = fe.workspace.take().expect("the generated workspace loads");
    let graph = msws::graph::build(&ws, &mut fe.sink).expect("the generated workspace has no cycle");
    let req = Request {
        ws: &ws,
        graph: &graph,
        namespace: "llm-d".into(),
        secret_values: secrets(),
        cluster: "bench".into(),
        workspace_hash: msws::plan::workspace_hash([("bench.kdl", text)], &[], "llm-d"),
        replace_storage: false,
        delete_storage: false,
    };
    let plan = rt.block_on(msws::plan::make(&req, source())).expect("plans");
    show::to_text(&plan, show::Style { color: false }).len()
}

/// A fake cluster holding what applying the workspace leaves: every object, downloads recorded.
fn applied(text: &str) -> &'static FakeCluster {
    let mut fe = load_str("bench.kdl", text, &Options::default());
    let ws = fe.workspace.take().unwrap();
    let graph = msws::graph::build(&ws, &mut fe.sink).unwrap();
    let opts = msws::render::Options { namespace: "llm-d".into(), secret_values: secrets(), ..Default::default() };
    let rendered = msws::render::render(&ws, &graph, &opts);
    let cluster: &'static FakeCluster = Box::leak(Box::new(FakeCluster::new("llm-d")));
    cluster.insert(&storage_class("standard", "Immediate", true, "Retain")).unwrap();
    let rt = runtime();
    for (_, o) in rendered.unique_objects() {
        rt.block_on(cluster.apply(&o.to_json(), ApplyOptions::default())).unwrap();
    }
    let mut inv = Inventory::default();
    for d in &ws.downloads {
        let record = DownloadRecord {
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            files: Some(8),
            bytes: Some(1 << 20),
            ..DownloadRecord::of(d)
        };
        inv.downloads.insert(d.name.clone(), record);
    }
    rt.block_on(cluster.apply(&inv.to_config_map(&ws.name, "llm-d", &[]), ApplyOptions::default())).unwrap();
    cluster.advance(Duration::from_secs(600));
    cluster.reset_requests();
    cluster
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let mut offline = c.benchmark_group("plan --offline");
    for n in SIZES {
        let text = workspace(n);
        offline.throughput(Throughput::Elements(n as u64));
        if n >= 1000 {
            offline.sample_size(20);
        }
        offline.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| plan_text(black_box(text), || Source::Known(Live::empty()), &rt))
        });
    }
    offline.finish();

    let mut online = c.benchmark_group("plan against the fake cluster");
    for n in SIZES {
        let text = workspace(n);
        let cluster = applied(&text);
        online.throughput(Throughput::Elements(n as u64));
        if n >= 100 {
            online.sample_size(10);
        }
        online.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, text| {
            b.iter(|| plan_text(black_box(text), || Source::Cluster(cluster, ObserveOptions::default()), &rt))
        });
        // One plan's requests, for the record.
        cluster.reset_requests();
        plan_text(&text, || Source::Cluster(cluster, ObserveOptions::default()), &rt);
        println!("  {n} model-services: one plan makes {} requests", cluster.requests().values().sum::<usize>());
    }
    online.finish();
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
