//! Time to ready with and without the image pre-pull, on the fake cluster and tokio's paused
//! clock, with the durations: an image pull of 8 minutes per node, a 10-minute download,
//! a 3-minute model load (the fake's ready delay). Three shapes: the RWO runbook
//! (`workspaces/opt-125m-rwo.kdl`), the RWX runbook (`workspaces/opt-125m-rwx.kdl`) and 10
//! independent model services (each its own claim, download and decode role), on two 8-GPU nodes
//! and a CPU node, none of which has the server's image.
//!
//! Prints, per case, the simulated time from the start of the apply until it ends (the servers
//! are ready: the model-service steps wait for it); the physical limit — the longer of the
//! claim's bind plus the download and the pull, then the release, then the load; the sum (what
//! runs one after another without the pre-pull: the pull starts with the server); how far the
//! time is over the limit; and msws's overhead per step of the critical path over that run's own
//! critical path (the limit with the pre-pull, the sum without). A deleted pod takes 20 s to
//! go (`FakeCluster::set_pod_termination`), so the RWO runbook's release of the downloader
//! costs the 20 s. Run with `cargo bench --bench prepull`.
//!
//! The Deployments' progress deadline is raised to an hour in every case: without pre-pull a
//! server pulls 8 minutes and loads 3, more than the default 10 minutes, and the rollout would
//! be reported failed (`ProgressDeadlineExceeded`) instead of timed.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use msws::apply::engine::{Command, Engine, Input, Options, Outcome};
use msws::apply::lock::Holder;
use msws::apply::progress::{Recording, human};
use msws::apply::session::{Request, fresh_plan};
use msws::cluster::Cluster;
use msws::cluster::fake::{FakeCluster, FakeNode, JobScript, Outcome as JobOutcome, persistent_volume, storage_class};
use msws::lower::{Options as LoadOptions, load_str};
use msws::render::Object;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MIN: u64 = 60;
const PULL: Duration = Duration::from_secs(8 * MIN);
const DOWNLOAD: Duration = Duration::from_secs(10 * MIN);
const LOAD: Duration = Duration::from_secs(3 * MIN);
const BIND: Duration = Duration::from_secs(1);
const RELEASE: Duration = Duration::from_secs(20);
const SERVER: &str = "ghcr.io/llm-d/llm-d-cuda:latest";

fn example(name: &str) -> String {
    std::fs::read_to_string(format!("{}/workspaces/{name}", env!("CARGO_MANIFEST_DIR"))).expect("the example")
}

/// `n` independent model services, each with its own claim, download and one GPU server.
fn independent(n: usize) -> String {
    common::units("ten", n, "    decode replicas=1 extends=\"std/vllm-single\"\n")
}

struct Case {
    name: &'static str,
    text: String,
    /// Steps on the critical path (claim, download, release if any, model service).
    path_steps: u32,
    release: bool,
}

struct Measured {
    ready: Duration,
    steps: usize,
}

fn run(case: &Case, pre_pull: bool, parallelism: usize) -> Measured {
    let text = if pre_pull {
        case.text.clone()
    } else {
        case.text.replacen("    namespace \"llm-d\"\n", "    namespace \"llm-d\"\n    pre-pull #false\n", 1)
    };
    let mut fe = load_str("bench.kdl", &text, &LoadOptions::default());
    let ws = fe.workspace.take().expect("the workspace loads");
    assert_eq!(ws.pre_pull, pre_pull);
    let graph = msws::graph::build(&ws, &mut fe.sink).expect("no cycle");
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
    rt.block_on(async {
        let cluster = Arc::new(FakeCluster::new("llm-d").with_runtime_clock());
        cluster.insert(&storage_class("standard", "Immediate", true, "Retain")).unwrap();
        cluster.insert(&persistent_volume("model-pv", "10Gi", &["ReadWriteOnce"], "standard")).unwrap();
        cluster.set_nodes(&[FakeNode::new("cpu-0"), FakeNode::new("gpu-0").gpus(8), FakeNode::new("gpu-1").gpus(8)]);
        cluster.allow_node_reads(true);
        cluster.set_image_pull(SERVER, PULL);
        cluster.set_ready_delay(LOAD);
        cluster.set_bind_delay(BIND);
        cluster.set_pod_termination(RELEASE);
        for d in &ws.downloads {
            let marker = "MSWS-DOWNLOAD-COMPLETE {\"commit\":\"0123456789abcdef0123456789abcdef01234567\",\"files\":8,\"bytes\":1}".to_string();
            cluster.script_job(
                &msws::render::job_name(&d.name),
                JobScript { duration: DOWNLOAD, outcome: JobOutcome::Succeed, log: marker, failures_before_success: 0 },
            );
        }
        let secrets = BTreeMap::from([(
            "hf-token".to_string(),
            BTreeMap::from([("HF_TOKEN".to_string(), "hf_bench".to_string())]),
        )]);
        let file = std::env::temp_dir().join("msws-bench-prepull.kdl");
        let req = Request {
            command: Command::Apply,
            ws: &ws,
            graph: &graph,
            file: &file,
            namespace: "llm-d".into(),
            secret_values: secrets.clone(),
            workspace_hash: "bench".into(),
            git_commit: None,
            saved: None,
            replace_storage: false,
            delete_storage: false,
            opts: Options { parallelism, ..Options::default() },
            holder: Holder::new("bench@host/1/0"),
        };
        let t = tokio::time::Instant::now();
        let plan = fresh_plan(cluster.as_ref(), &req).await.expect("a plan");
        let opts = msws::render::Options { namespace: "llm-d".into(), secret_values: secrets, ..Default::default() };
        let mut rendered = msws::render::render(&ws, &graph, &opts);
        for o in rendered.steps.iter_mut().flat_map(|s| s.objects.iter_mut()) {
            if let Object::Deployment(d) = o
                && let Some(spec) = d.spec.as_mut()
            {
                spec.progress_deadline_seconds = Some(3600);
            }
        }
        let input = Input { command: Command::Apply, plan: &plan, rendered: &rendered, ws: &ws, git_commit: None };
        let dyn_cluster: Arc<dyn Cluster> = cluster.clone();
        let engine =
            Engine::new(dyn_cluster, input, Options { parallelism, ..Options::default() }, Arc::new(Recording::new()), None);
        let report = engine.run().await;
        assert_eq!(report.outcome, Outcome::Applied, "{}: {report:#?}", case.name);
        Measured { ready: t.elapsed(), steps: report.steps.len() }
    })
}

fn main() {
    // `cargo test --benches` runs this with `--test`: one case, to prove it works.
    let quick = std::env::args().any(|a| a == "--test");
    let cases = [
        Case { name: "RWO runbook", text: example("opt-125m-rwo.kdl"), path_steps: 4, release: true },
        Case { name: "RWX runbook", text: example("opt-125m-rwx.kdl"), path_steps: 3, release: false },
        Case { name: "10 services", text: independent(10), path_steps: 3, release: false },
    ];
    println!(
        "{:<12} {:>4} {:>9} {:>12} {:>12} {:>12} {:>9} {:>14}",
        "case", "par", "pre-pull", "ready (sim)", "limit", "sum", "vs limit", "overhead/step"
    );
    for case in &cases {
        let parallelisms: &[usize] = if case.name == "10 services" { &[4, 10] } else { &[4] };
        for &par in parallelisms {
            for pre_pull in [true, false] {
                if quick && (case.name != "RWO runbook" || !pre_pull) {
                    continue;
                }
                let m = run(case, pre_pull, par);
                let rel = if case.release { RELEASE } else { Duration::ZERO };
                let limit = (BIND + DOWNLOAD).max(PULL) + rel + LOAD;
                let sum = BIND + DOWNLOAD + PULL + rel + LOAD;
                // Over the run's own critical path: with the pre-pull the limit, without it the
                // sum (the pull then starts when the server does).
                let path = if pre_pull { limit } else { sum };
                let over = m.ready.saturating_sub(path);
                println!(
                    "{:<12} {:>4} {:>9} {:>12} {:>12} {:>12} {:>8.1}% {:>14}   ({} steps)",
                    case.name,
                    par,
                    if pre_pull { "on" } else { "off" },
                    human(m.ready),
                    human(limit),
                    human(sum),
                    100.0 * (m.ready.as_secs_f64() / limit.as_secs_f64() - 1.0),
                    format!("{:.1}s", over.as_secs_f64() / f64::from(case.path_steps)),
                    m.steps,
                );
            }
        }
    }
}
