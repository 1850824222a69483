//! Downloader speed: `download.py` (the download Job's script, run as the Job runs it) against the
//! local Hugging Face Hub stand-in behind a throttled link (`tests/python/hub_link.py`: one token
//! bucket for every byte the hub sends, all connections together), for one large file and for a
//! thousand small ones. Prints, per case, the bytes per second of the transfer as a share of the
//! link, next to huggingface_hub's own `snapshot_download` (what the script used before) on the same
//! link. Run with `cargo bench --bench download`; docs/performance.md ("The downloader") has the
//! numbers and the method.
//!
//! Python is the tests' own environment (`tests/it/pyenv.rs`, made on first use under
//! `target/tmp`); the hub tools are found as the tests find them (`$MSWS_HF_TOOLS`,
//! `../shared/tools`, `/work/shared/tools`). `MSWS_BENCH_LINK` sets the link in bytes per second
//! (default 50 MB/s), `MSWS_BENCH_RUNS` the runs per case (default 3; the median is shown).

#[path = "../tests/it/pyenv.rs"]
#[allow(dead_code)]
mod pyenv;

/// What `pyenv` needs of the tests' support module.
mod support {
    pub fn root() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }
}

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCRIPT: &str = include_str!("../src/render/download.py");
const LARGE: &str = "bench/one-large";
const SMALL: &str = "bench/many-small";
const LARGE_SIZE: usize = 256 << 20;
const SMALL_FILES: usize = 1000;
const SMALL_SIZE: usize = 32 << 10;

fn tools_dir() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("MSWS_HF_TOOLS") {
        candidates.push(PathBuf::from(d));
    }
    candidates.push(support::root().join("../shared/tools"));
    candidates.push(PathBuf::from("/work/shared/tools"));
    candidates
        .iter()
        .find(|d| d.join("fake_hf_hub.py").is_file())
        .cloned()
        .unwrap_or_else(|| panic!("fake_hf_hub.py not found in {candidates:?}"))
}

fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn write_repos(root: &Path) {
    let config = "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\"}\n";
    let large = root.join(LARGE);
    std::fs::create_dir_all(&large).unwrap();
    std::fs::write(large.join("config.json"), config).unwrap();
    std::fs::write(large.join("model.safetensors"), noise(1, LARGE_SIZE)).unwrap();
    let small = root.join(SMALL);
    std::fs::create_dir_all(small.join("data")).unwrap();
    std::fs::write(small.join("config.json"), config).unwrap();
    for i in 0..SMALL_FILES {
        std::fs::write(small.join(format!("data/part-{i:04}.txt")), noise(100 + i as u64, SMALL_SIZE)).unwrap();
    }
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    Some((head.split_whitespace().nth(1)?.parse().ok()?, body.to_string()))
}

/// A command with none of the developer's Hub, proxy or Python settings.
fn clean(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        let upper = k.to_ascii_uppercase();
        if upper.starts_with("HF_")
            || upper.starts_with("MSWS_")
            || upper.ends_with("_PROXY")
            || upper == "PYTHONPATH"
            || upper == "PYTHONHOME"
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    cmd
}

struct Hub {
    child: Child,
    port: u16,
}

impl Hub {
    fn start(python: &Path, repos: &Path, link: u64, latency_ms: u64) -> Hub {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = clean(python)
            .arg(support::root().join("tests/python/hub_link.py"))
            .arg(port.to_string())
            .args(["--root", repos.to_str().unwrap(), "--static", "--link", &link.to_string()])
            .args(["--latency", &latency_ms.to_string()])
            .args(["--tools", tools_dir().to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        while get(port, "/healthz").is_none_or(|(c, _)| c != 200) {
            assert!(Instant::now() < deadline, "hub_link.py did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The hub hashes a repository's files the first time it is asked for it: not in the timings.
        for repo in [LARGE, SMALL] {
            assert_eq!(get(port, &format!("/api/models/{repo}")).map(|r| r.0), Some(200));
        }
        Hub { child, port }
    }

    fn body_bytes(&self) -> u64 {
        let (_, body) = get(self.port, "/_link/stats").unwrap();
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["body_bytes"].as_u64().unwrap()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One measured download.
struct Sample {
    /// Bytes per second while the files were transferred.
    transfer: f64,
    /// Bytes per second from the process's start to its end (Python, imports, the hub's metadata).
    end_to_end: f64,
    /// CPU seconds of the client (all its threads) and of the hub (with its link).
    client_cpu: f64,
    hub_cpu: f64,
}

/// Runs the code in argv[1] as `python3 -c` would, then prints the process's CPU time.
const WITH_CPU: &str = r#"
import resource, sys
code = sys.argv[1]
del sys.argv[1]
rc = 0
try:
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__"})
except SystemExit as e:
    rc = e.code
finally:
    r = resource.getrusage(resource.RUSAGE_SELF)
    sys.stderr.write("bench-cpu %.6f\n" % (r.ru_utime + r.ru_stime))
sys.exit(rc)
"#;

/// CPU seconds a process has used so far (user and system), from /proc.
fn cpu_of(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let out = Command::new("getconf").arg("CLK_TCK").output().expect("getconf CLK_TCK");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("CLK_TCK")
    })
}

/// The huggingface_hub call the script made before: `snapshot_download` into `local_dir`.
const BASELINE: &str = r#"
import os, sys, time
from huggingface_hub import snapshot_download
t0 = time.time()
snapshot_download(sys.argv[1], local_dir=sys.argv[2], max_workers=int(sys.argv[3]), token=False)
print("baseline-seconds %.6f" % (time.time() - t0))
"#;

#[derive(Clone, Copy)]
enum Client {
    Msws { workers: usize, direct: bool },
    SnapshotDownload { workers: usize },
}

impl Client {
    fn name(self) -> String {
        match self {
            Client::Msws { workers, direct: true } => format!("download.py, {workers} at once"),
            Client::Msws { workers, direct: false } => format!("download.py, {workers} at once, MSWS_DIRECT=0"),
            Client::SnapshotDownload { workers } => format!("snapshot_download, max_workers={workers}"),
        }
    }
}

fn once(python: &Path, hub: &Hub, repo: &str, client: Client, payload: u64) -> Sample {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("claim/model");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let mut cmd = clean(python);
    cmd.env("HF_ENDPOINT", format!("http://127.0.0.1:{}", hub.port))
        .env("TMPDIR", &tmp)
        .env("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .current_dir(dir.path());
    cmd.arg("-c").arg(WITH_CPU);
    match client {
        Client::Msws { workers, direct } => {
            cmd.arg(SCRIPT)
                .env("MSWS_DIRECT", if direct { "1" } else { "0" })
                .env("MSWS_REPO", repo)
                .env("MSWS_TARGET", &target)
                .env("MSWS_DOWNLOAD_WORKERS", workers.to_string())
                .env("MSWS_PROGRESS_SECONDS", "5");
        }
        Client::SnapshotDownload { workers } => {
            cmd.arg(BASELINE).arg(repo).arg(&target).arg(workers.to_string()).env("HF_HOME", &tmp);
        }
    }
    let served = hub.body_bytes();
    let hub_cpu = cpu_of(hub.child.id());
    let started = Instant::now();
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    let wall = started.elapsed().as_secs_f64();
    let hub_cpu = cpu_of(hub.child.id()) - hub_cpu;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let client_cpu: f64 = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| l.strip_prefix("bench-cpu "))
        .and_then(|s| s.trim().parse().ok())
        .expect("bench-cpu");
    assert!(out.status.success(), "{}: {stdout}\n{}", client.name(), String::from_utf8_lossy(&out.stderr));
    let fetched = hub.body_bytes() - served;
    assert!(fetched >= payload, "{}: the hub served {fetched} bytes of {payload}", client.name());
    let transfer = match client {
        // The last progress line's rate: bytes fetched over the time from the first request for a
        // file to the last file in place.
        Client::Msws { .. } => {
            stdout.lines().rev().find_map(msws::render::parse_progress).expect("a last progress line").rate as f64
        }
        Client::SnapshotDownload { .. } => {
            let secs: f64 = stdout
                .lines()
                .find_map(|l| l.strip_prefix("baseline-seconds "))
                .and_then(|s| s.trim().parse().ok())
                .expect("baseline-seconds");
            payload as f64 / secs
        }
    };
    Sample { transfer, end_to_end: payload as f64 / wall, client_cpu, hub_cpu }
}

fn dir_size(dir: &Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        n += if e.file_type().unwrap().is_dir() { dir_size(&e.path()) } else { e.metadata().unwrap().len() };
    }
    n
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects cases by name.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let link: u64 = std::env::var("MSWS_BENCH_LINK").ok().and_then(|v| v.parse().ok()).unwrap_or(50_000_000);
    let runs: usize = std::env::var("MSWS_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    let python = pyenv::python();
    let repos = tempfile::tempdir().unwrap();
    write_repos(repos.path());
    // The same link twice: next to each other, and with a round trip of 20 ms per request, as to a
    // hub in another region.
    let near = Hub::start(python, repos.path(), link, 0);
    let far = Hub::start(python, repos.path(), link, 20);

    let large = dir_size(&repos.path().join(LARGE));
    let small = dir_size(&repos.path().join(SMALL));
    let msws = |workers| Client::Msws { workers, direct: true };
    let baseline = |workers| Client::SnapshotDownload { workers };
    let cases: Vec<(&str, &Hub, &str, u64, Client)> = vec![
        ("1 file of 256 MiB", &near, LARGE, large, msws(16)),
        ("1 file of 256 MiB", &near, LARGE, large, baseline(8)),
        ("1000 files of 32 KiB", &near, SMALL, small, msws(16)),
        ("1000 files of 32 KiB", &near, SMALL, small, Client::Msws { workers: 16, direct: false }),
        ("1000 files of 32 KiB", &near, SMALL, small, msws(4)),
        ("1000 files of 32 KiB", &near, SMALL, small, msws(64)),
        ("1000 files of 32 KiB", &near, SMALL, small, baseline(8)),
        ("1000 files of 32 KiB, 20 ms away", &far, SMALL, small, msws(16)),
        ("1000 files of 32 KiB, 20 ms away", &far, SMALL, small, msws(64)),
        ("1000 files of 32 KiB, 20 ms away", &far, SMALL, small, baseline(8)),
    ];
    println!("link: {:.1} MB/s; median of {runs} runs", link as f64 / 1e6);
    println!("| files | client | transfer | share of the link | end to end | share of the link | CPU: client, hub |");
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
    for (what, hub, repo, payload, client) in cases {
        let name = format!("{what}, {}", client.name());
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let samples: Vec<Sample> = (0..runs).map(|_| once(python, hub, repo, client, payload)).collect();
        let transfer = median(samples.iter().map(|s| s.transfer).collect());
        let end_to_end = median(samples.iter().map(|s| s.end_to_end).collect());
        let client_cpu = median(samples.iter().map(|s| s.client_cpu).collect());
        let hub_cpu = median(samples.iter().map(|s| s.hub_cpu).collect());
        println!(
            "| {what} | {} | {:.1} MB/s | {:.0}% | {:.1} MB/s | {:.0}% | {client_cpu:.2} s, {hub_cpu:.2} s |",
            client.name(),
            transfer / 1e6,
            100.0 * transfer / link as f64,
            end_to_end / 1e6,
            100.0 * end_to_end / link as f64
        );
    }
}
