//! Apply speed: `msws apply` of N independent storage → download → model-service branches on the
//! fake cluster, on tokio's paused clock, with simulated download durations between 1 and 5.5
//! minutes. Prints, for each N and parallelism, the simulated wall time of the apply next to the
//! slowest branch's download and the sum of all downloads: the wall time must track the slowest
//! branch, not the sum. Also prints the real (CPU) time the run took. Run with
//! `cargo bench --bench apply`; docs/performance.md has the numbers.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msws::apply::engine::{Command, Options, Outcome};
use msws::apply::lock::Holder;
use msws::apply::progress::Recording;
use msws::apply::session::{self, Request, Stop};
use msws::cluster::Cluster;
use msws::cluster::fake::{FakeCluster, JobScript, Outcome as JobOutcome, storage_class};
use msws::lower::{Options as LoadOptions, load_str};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Download `i` takes 60 s + 30 s × (i mod 10).
fn duration(i: usize) -> Duration {
    Duration::from_secs(60 + 30 * (i % 10) as u64)
}

fn run(n: usize, parallelism: usize) -> (Duration, Duration, Duration) {
    let text = common::workspace(n);
    let mut fe = load_str("bench.kdl", &text, &LoadOptions::default());
    let ws = fe.workspace.take().expect("the generated workspace loads");
    let graph = msws::graph::build(&ws, &mut fe.sink).expect("no cycle");
    let dir = std::env::temp_dir().join(format!("msws-bench-apply-{}-{n}-{parallelism}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bench.kdl");
    std::fs::write(&file, &text).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    let real = Instant::now();
    let simulated = rt.block_on(async {
        let cluster = Arc::new(FakeCluster::new("llm-d").with_runtime_clock());
        cluster.insert(&storage_class("standard", "Immediate", true, "Retain")).unwrap();
        for (i, d) in ws.downloads.iter().enumerate() {
            let marker = "MSWS-DOWNLOAD-COMPLETE {\"commit\":\"0123456789abcdef0123456789abcdef01234567\",\"files\":8,\"bytes\":1}".to_string();
            cluster.script_job(
                &msws::render::job_name(&d.name),
                JobScript { duration: duration(i), outcome: JobOutcome::Succeed, log: marker, failures_before_success: 0 },
            );
        }
        let req = Request {
            command: Command::Apply,
            ws: &ws,
            graph: &graph,
            file: &file,
            namespace: "llm-d".into(),
            secret_values: BTreeMap::from([(
                "hf-token".to_string(),
                BTreeMap::from([("HF_TOKEN".to_string(), "hf_bench".to_string())]),
            )]),
            workspace_hash: "bench".into(),
            git_commit: None,
            saved: None,
            replace_storage: false,
            delete_storage: false,
            opts: Options { parallelism, ..Options::default() },
            holder: Holder::new("bench@host/1/0"),
        };
        let t = tokio::time::Instant::now();
        let dyn_cluster: Arc<dyn Cluster> = cluster.clone();
        let (_, report) = session::run(dyn_cluster, req, Arc::new(Recording::new()), &mut |_| true, Stop::default())
            .await
            .expect("the apply runs");
        assert_eq!(report.outcome, Outcome::Applied, "{report:?}");
        t.elapsed()
    });
    let _ = std::fs::remove_dir_all(&dir);
    (simulated, real.elapsed(), Duration::ZERO)
}

fn main() {
    // `cargo test --benches` runs this with `--test`: one small case, to prove it works.
    let quick = std::env::args().any(|a| a == "--test");
    let cases: &[(usize, usize)] = if quick { &[(2, 2)] } else { &[(1, 4), (10, 4), (10, 10), (100, 4), (100, 100)] };
    println!("{:>5} {:>12} {:>14} {:>14} {:>14} {:>10}", "N", "parallelism", "apply (sim)", "slowest", "sum", "real");
    for &(n, parallelism) in cases {
        let slowest = (0..n).map(duration).max().unwrap_or_default();
        let sum: Duration = (0..n).map(duration).sum();
        let (simulated, real, _) = run(n, parallelism);
        println!(
            "{n:>5} {parallelism:>12} {:>14} {:>14} {:>14} {:>10}",
            msws::apply::progress::human(simulated),
            msws::apply::progress::human(slowest),
            msws::apply::progress::human(sum),
            msws::apply::progress::human(real)
        );
    }
}
