//! The downloader script of the download Job (`src/render/download.py`) and its shell preamble, run for
//! real: `python3` with huggingface_hub against the local Hugging Face Hub stand-in
//! (`shared/tools/fake_hf_hub.py`, repos made by `make_hf_repos.py`), on a free loopback port.
//!
//! The interpreter is the tests' own virtual environment (`super::pyenv`, huggingface_hub pinned in
//! `tests/python/requirements.txt`), made on first use. The preamble's tests run the same
//! interpreter as `python3` on PATH, some with an old client on PYTHONPATH so that the preamble
//! must install one itself; the one that installs it from the package index is skipped when
//! `MSWS_SKIP_NETWORK_TESTS` is set. The tools are looked up in `$MSWS_HF_TOOLS`,
//! `../shared/tools` beside the crate, `/work/shared/tools`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use msws::render::{Progress, parse_progress};
use serde_json::Value;
use sha2::Digest;
use tempfile::TempDir;

use super::support::root;

const SCRIPT: &str = include_str!("../../src/render/download.py");
const TOKEN: &str = "hf_testtoken";
const OPT: &str = "facebook/opt-125m-tiny";

// ------------------------------------------------------------------------------------ environment

/// The tests' Python interpreter, with huggingface_hub.
fn python() -> &'static Path {
    super::pyenv::python()
}

/// PATH with the interpreter's directory first, so that `python3` in the preamble is that one.
fn path_with_python() -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = python().parent().map(Path::to_path_buf).into_iter().collect();
    dirs.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
    std::env::join_paths(dirs).unwrap()
}

fn tools_dir() -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("MSWS_HF_TOOLS") {
        candidates.push(PathBuf::from(d));
    }
    candidates.push(root().join("../shared/tools"));
    candidates.push(PathBuf::from("/work/shared/tools"));
    candidates
        .iter()
        .find(|d| d.join("fake_hf_hub.py").is_file() && d.join("make_hf_repos.py").is_file())
        .cloned()
        .ok_or_else(|| format!("fake_hf_hub.py / make_hf_repos.py not found in {candidates:?}"))
}

/// The preamble documented at the top of download.py, which the Job's `sh -c` runs.
fn preamble() -> String {
    let mut lines = SCRIPT.lines().skip_while(|l| !l.contains("PREAMBLE exactly (one line):"));
    lines.next().expect("download.py documents the preamble");
    let line = lines.find(|l| l.trim_start_matches('#').trim() != "").expect("the preamble line");
    let p = line.trim_start_matches('#').trim();
    assert!(p.ends_with(r#"exec python3 -c "$MSWS_SCRIPT""#), "{p}");
    p.to_string()
}

/// A command with none of the developer's Hub, proxy or Python settings.
fn clean(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().to_string();
        let upper = k.to_ascii_uppercase();
        if upper.starts_with("HF_")
            || upper.starts_with("HUGGING_FACE")
            || upper.starts_with("MSWS_")
            || upper.ends_with("_PROXY")
            || upper == "PYTHONPATH"
            || upper == "PYTHONHOME"
        {
            cmd.env_remove(&k);
        }
    }
    // No __pycache__ in the source tree (tests/python).
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    cmd
}

// ------------------------------------------------------------------------------------ the fake Hub

struct Hub {
    child: Child,
    port: u16,
    log: PathBuf,
    repos: PathBuf,
    _dir: TempDir,
}

impl Hub {
    fn start() -> Hub {
        Hub::start_with(&[])
    }

    fn start_with(extra: &[&str]) -> Hub {
        let tools = tools_dir().unwrap_or_else(|e| panic!("{e}"));
        Hub::launch(&tools.join("fake_hf_hub.py"), &|_| {}, extra)
    }

    /// The hub behind a link of `bytes_per_s` shared by all connections, with a served-bytes counter
    /// (`tests/python/hub_link.py`), serving the sample repos and those `repos` writes into the root.
    fn start_link(bytes_per_s: u64, repos: &dyn Fn(&Path), extra: &[&str]) -> Hub {
        let tools = tools_dir().unwrap_or_else(|e| panic!("{e}"));
        let link = bytes_per_s.to_string();
        let mut args = vec!["--static", "--link", link.as_str(), "--tools", tools.to_str().unwrap()];
        args.extend_from_slice(extra);
        Hub::launch(&root().join("tests/python/hub_link.py"), repos, &args)
    }

    fn launch(program: &Path, repos_hook: &dyn Fn(&Path), extra: &[&str]) -> Hub {
        let tools = tools_dir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tempfile::tempdir().unwrap();
        let repos = dir.path().join("repos");
        let out = Command::new(python())
            .arg(tools.join("make_hf_repos.py"))
            .arg(&repos)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "make_hf_repos.py: {out:?}");
        repos_hook(&repos);
        let log = dir.path().join("hub.log");
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut child = clean(Command::new(python()))
                .arg(program)
                .arg(port.to_string())
                .arg("--root")
                .arg(&repos)
                .arg("--log-file")
                .arg(&log)
                .args(extra)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(15);
            while Instant::now() < deadline {
                if child.try_wait().unwrap().is_some() {
                    break; // port taken meanwhile: try another
                }
                if get(port, "/healthz").is_some_and(|(code, body)| code == 200 && body == "ok") {
                    return Hub { child, port, log, repos, _dir: dir };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("fake_hf_hub.py did not come up; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The commit sha the Hub reports for a repo's main branch.
    fn commit(&self, repo: &str) -> String {
        self.commit_as(repo, None)
    }

    fn commit_as(&self, repo: &str, token: Option<&str>) -> String {
        let (code, body) = get_as(self.port, &format!("/api/models/{repo}"), token).unwrap();
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["sha"].as_str().unwrap().to_string()
    }

    /// The request lines logged so far, once the Hub has logged a request made after them.
    fn requests(&self) -> Vec<String> {
        let mark = format!("/healthz?mark={}", rand_suffix());
        get(self.port, &mark).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if text.contains(&mark) {
                return text
                    .lines()
                    .filter(|l| l.contains(" -> ") && !l.contains("/healthz"))
                    .map(str::to_string)
                    .collect();
            }
            assert!(Instant::now() < deadline, "hub log never showed {mark}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// hub_link.py's counters, once they have settled: a response to a client that was killed may
    /// still be on its way out (and counted) for a moment.
    fn stats(&self) -> Value {
        let read = || {
            let (code, body) = get(self.port, "/_link/stats").expect("stats");
            assert_eq!(code, 200, "{body}");
            serde_json::from_str::<Value>(&body).unwrap()
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = read();
        loop {
            std::thread::sleep(Duration::from_millis(250));
            let now = read();
            if now["body_bytes"] == last["body_bytes"] && now["bodies"] == last["bodies"] {
                return now;
            }
            assert!(Instant::now() < deadline, "the hub's counters never settled: {now}");
            last = now;
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop();
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// A plain HTTP/1.0 GET on the loopback: (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    get_as(port, path, None)
}

fn get_as(port: u16, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{auth}\r\n").ok()?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_string()))
}

// ------------------------------------------------------------------------------------ running it

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn last_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or("")
    }

    /// The record of the final `MSWS-DOWNLOAD-COMPLETE` line.
    fn record(&self) -> Value {
        assert_eq!(self.code, 0, "{self}");
        let json = self
            .last_line()
            .strip_prefix("MSWS-DOWNLOAD-COMPLETE ")
            .unwrap_or_else(|| panic!("no COMPLETE line last: {self}"));
        serde_json::from_str(json).unwrap()
    }

    fn failed(&self, code: i32) -> String {
        assert_eq!(self.code, code, "{self}");
        self.last_line()
            .strip_prefix("MSWS-DOWNLOAD-FAILED ")
            .unwrap_or_else(|| panic!("no FAILED line last: {self}"))
            .to_string()
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// One place for a run: the target on a fake "claim", a working directory and a TMPDIR of its own.
struct Place {
    dir: TempDir,
}

impl Place {
    fn new() -> Place {
        let p = Place { dir: tempfile::tempdir().unwrap() };
        std::fs::create_dir_all(p.tmp()).unwrap();
        std::fs::create_dir_all(p.work()).unwrap();
        p
    }

    fn claim(&self) -> PathBuf {
        self.dir.path().join("claim")
    }

    fn target(&self) -> PathBuf {
        self.claim().join("models/opt-125m")
    }

    fn tmp(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    /// Where the downloader keeps partial files: `<path>.<etag>`.
    fn partials(&self) -> PathBuf {
        self.target().join(".cache/msws/partial")
    }

    fn marker(&self) -> PathBuf {
        self.target().join(".msws-download.json")
    }

    /// Runs the script as the Job does after the preamble: `python3 -c "$SCRIPT"`.
    fn run(&self, hub: &Hub, repo: &str, revision: &str, env: &[(&str, &str)]) -> Run {
        let mut cmd = clean(Command::new(python()));
        cmd.arg("-c").arg(SCRIPT);
        self.setup(&mut cmd, hub, repo, revision, env);
        output(cmd)
    }

    /// Starts the script without waiting for it; its output goes to files in this place.
    fn spawn(&self, hub: &Hub, repo: &str, env: &[(&str, &str)]) -> Child {
        let mut cmd = clean(Command::new(python()));
        cmd.arg("-c").arg(SCRIPT);
        self.setup(&mut cmd, hub, repo, "main", env);
        let out = std::fs::File::create(self.dir.path().join("spawned.out")).unwrap();
        let err = std::fs::File::create(self.dir.path().join("spawned.err")).unwrap();
        cmd.stdin(Stdio::null()).stdout(out).stderr(err).spawn().unwrap()
    }

    fn spawned_output(&self, status: std::process::ExitStatus) -> Run {
        Run {
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(self.dir.path().join("spawned.out")).unwrap(),
            stderr: std::fs::read_to_string(self.dir.path().join("spawned.err")).unwrap(),
        }
    }

    /// Bytes of the repository's files on the claim (files in place and partial files), and the
    /// partial files that are not empty: the repository path each belongs to, and its length.
    fn on_disk(&self, files: &BTreeMap<String, Vec<u8>>) -> (u64, Vec<(String, u64)>) {
        let mut bytes = 0;
        for rel in files.keys() {
            bytes += std::fs::metadata(self.target().join(rel)).map_or(0, |m| m.len());
        }
        let staging = self.partials();
        let mut partials = Vec::new();
        for p in walk(&staging) {
            // <path>.<etag>
            let rel = p.strip_prefix(&staging).unwrap().to_string_lossy().to_string();
            let len = std::fs::metadata(&p).map_or(0, |m| m.len());
            bytes += len;
            if len > 0 {
                partials.push((rel.rsplit_once('.').unwrap().0.to_string(), len));
            }
        }
        (bytes, partials)
    }

    /// Runs the documented preamble with the real `sh`, the script in MSWS_SCRIPT.
    fn run_preamble(&self, hub: &Hub, repo: &str, env: &[(&str, &str)]) -> Run {
        let mut cmd = clean(Command::new("/bin/sh"));
        cmd.arg("-c").arg(preamble()).env("MSWS_SCRIPT", SCRIPT).env("PATH", path_with_python());
        self.setup(&mut cmd, hub, repo, "main", env);
        output(cmd)
    }

    fn setup(&self, cmd: &mut Command, hub: &Hub, repo: &str, rev: &str, env: &[(&str, &str)]) {
        cmd.env("HF_ENDPOINT", hub.endpoint())
            .env("MSWS_REPO", repo)
            .env("MSWS_REVISION", rev)
            .env("MSWS_TARGET", self.target())
            .env("MSWS_SOURCE", format!("hf://{repo}"))
            .env("TMPDIR", self.tmp())
            .current_dir(self.work());
        for (k, v) in env {
            cmd.env(k, v);
        }
    }

    /// Every regular file written anywhere in this place: the claim, TMPDIR, the working directory.
    fn written_files(&self) -> Vec<PathBuf> {
        walk(self.dir.path())
    }
}

fn output(mut cmd: Command) -> Run {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// The repo's files as the fake Hub serves them: relative path → content.
fn repo_files(hub: &Hub, repo: &str) -> BTreeMap<String, Vec<u8>> {
    let dir = hub.repos.join(repo);
    walk(&dir)
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&dir).unwrap().to_string_lossy().to_string();
            (rel, std::fs::read(&p).unwrap())
        })
        .collect()
}

fn resolves(requests: &[String]) -> usize {
    requests.iter().filter(|l| l.contains("/resolve/") || l.contains("/cdn-lfs/")).count()
}

// ------------------------------------------------------------------------------------ the tests

#[test]
fn downloads_a_model_and_writes_the_marker() {
    let hub = Hub::start();
    let place = Place::new();
    let run = place.run(&hub, OPT, "main", &[]);
    let rec = run.record();

    // The files, as real files (no symlinks into a cache), byte for byte.
    let expected = repo_files(&hub, OPT);
    assert_eq!(expected.len(), 8);
    for (rel, content) in &expected {
        let p = place.target().join(rel);
        let meta = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{rel}: {e}\n{run}"));
        assert!(meta.file_type().is_file(), "{rel} is not a regular file");
        assert!(std::fs::read(&p).unwrap() == *content, "{rel} differs");
    }
    // Nothing but the repo's files, the marker and the record of the files in .cache/msws.
    for p in walk(&place.target()) {
        let rel = p.strip_prefix(place.target()).unwrap().to_string_lossy().to_string();
        assert!(
            expected.contains_key(&rel) || rel == ".msws-download.json" || rel == ".cache/msws/files.jsonl",
            "unexpected file {rel} in the target"
        );
    }
    let journal = std::fs::read_to_string(place.target().join(".cache/msws/files.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 8, "{journal}");
    // The hub's cache is not on the claim, and its temporary home is gone.
    assert!(!walk(&place.claim()).iter().any(|p| p.to_string_lossy().contains("models--")));
    assert_eq!(walk(&place.tmp()), Vec::<PathBuf>::new(), "temporary files left behind");

    // The marker, and the same record on the last line.
    let marker: Value = serde_json::from_slice(&std::fs::read(place.marker()).unwrap()).unwrap();
    assert_eq!(marker, rec);
    let keys: Vec<&str> = rec.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["source", "repo", "revision", "commit", "files", "bytes", "completed_at"]);
    assert_eq!(rec["source"], "hf://facebook/opt-125m-tiny");
    assert_eq!(rec["repo"], OPT);
    assert_eq!(rec["revision"], "main");
    assert_eq!(rec["commit"], hub.commit(OPT).as_str());
    assert_eq!(rec["files"], 8);
    let bytes: usize = expected.values().map(Vec::len).sum();
    assert_eq!(rec["bytes"], bytes);
    let at = rec["completed_at"].as_str().unwrap();
    assert!(at.len() == 20 && at.ends_with('Z') && at.as_bytes()[10] == b'T', "completed_at {at}");

    // Useful progress for `kubectl logs`.
    assert!(run.stdout.contains(&format!("from {}", hub.endpoint())), "{run}");
    assert!(run.stdout.contains("model.safetensors"), "{run}");
    assert!(run.stdout.contains("8 files, 2.0 MiB"), "{run}");
    assert!(!run.stdout.contains("MSWS-DOWNLOAD-FAILED"), "{run}");
    // The transfer it chose: the default number of files at once, and the Xet client it found.
    assert!(
        run.stdout.contains(
            "msws-download: transfer: 16 file(s) at once over HTTP, resumable; small files over keep-alive \
             connections to 127.0.0.1; hf_xet 1.8.0 installed, no Xet-stored files here\n"
        ),
        "{run}"
    );
    // A progress line when the transfer starts and one when it ends (the interval, 15 s, never came).
    let progress: Vec<Progress> = run.stdout.lines().filter_map(parse_progress).collect();
    assert_eq!(progress.len(), 2, "{run}");
    assert_eq!((progress[0].bytes, progress[0].files_done), (0, 0));
    assert_eq!((progress[1].bytes, progress[1].total, progress[1].files_done), (bytes as u64, bytes as u64, 8));
}

#[test]
fn a_second_run_finds_the_marker_and_downloads_nothing() {
    let hub = Hub::start();
    let place = Place::new();
    let first = place.run(&hub, OPT, "main", &[]).record();
    let before = hub.requests();
    assert!(resolves(&before) >= 8, "{before:#?}");

    let second = place.run(&hub, OPT, "main", &[]);
    assert_eq!(second.record(), first, "the same record, completed_at included");
    assert!(second.stdout.contains("already complete"), "{second}");
    let after = hub.requests();
    assert_eq!(resolves(&after), resolves(&before), "the second run downloaded: {:#?}", &after[before.len()..]);

    // config.json gone: the marker is not trusted, the file comes back, the marker is rewritten.
    std::fs::remove_file(place.target().join("config.json")).unwrap();
    let third = place.run(&hub, OPT, "main", &[]);
    let rec = third.record();
    assert!(place.target().join("config.json").is_file());
    assert_eq!(rec["commit"], first["commit"]);
    // Only that file: the others are in place, as their records in .cache/huggingface say.
    assert_eq!(resolves(&hub.requests()), resolves(&after) + 1, "{third}");
    assert!(third.stdout.contains("7 of 8 files (2.0 MiB) already in place from an earlier attempt"), "{third}");
}

/// Files already at their paths with the right content but no record of this downloader's (copied
/// there, or left by an older msws): checked against the hub's checksums and kept, not fetched.
#[test]
fn files_already_there_are_checked_and_kept() {
    let hub = Hub::start_link(0, &|_| {}, &[]);
    let place = Place::new();
    place.run(&hub, OPT, "main", &[]).record();
    std::fs::remove_file(place.marker()).unwrap();
    std::fs::remove_file(place.target().join(".cache/msws/files.jsonl")).unwrap();
    // One of them is not what the hub has, though it has the size.
    let readme = place.target().join("README.md");
    let mut text = std::fs::read(&readme).unwrap();
    text[0] ^= 1;
    std::fs::write(&readme, &text).unwrap();

    let before = hub.stats();
    let run = place.run(&hub, OPT, "main", &[]);
    run.record();
    let after = hub.stats();
    assert!(run.stdout.contains("kept 7 file(s) that were already there with the hub's checksum"), "{run}");
    assert!(run.stdout.contains("downloaded 92 B in "), "{run}");
    assert_eq!(after["bodies"].as_u64().unwrap() - before["bodies"].as_u64().unwrap(), 1, "{run}");
    assert!(std::fs::read(&readme).unwrap() == repo_files(&hub, OPT)["README.md"]);
}

#[test]
fn a_marker_of_another_commit_is_replaced() {
    let hub = Hub::start();
    let place = Place::new();
    std::fs::create_dir_all(place.target()).unwrap();
    let stale = serde_json::json!({
        "source": "hf://facebook/opt-125m-tiny", "repo": OPT, "revision": "main",
        "commit": "0".repeat(40), "files": 1, "bytes": 1, "completed_at": "2020-01-01T00:00:00Z"
    });
    std::fs::write(place.marker(), stale.to_string()).unwrap();
    std::fs::write(place.target().join("config.json"), "{}").unwrap();
    // What killed pods leave behind, none of it of use: huggingface_hub 2's process-unique partial
    // file, an older client's, and msws's own partial file of another version of a file.
    let staging = place.target().join(".cache/huggingface/download");
    std::fs::create_dir_all(&staging).unwrap();
    let stale = [
        (staging.join(format!("xGOK.{}.bd0730bf.incomplete", "a".repeat(64))), 4096),
        (staging.join(format!("xGOK.{}.incomplete", "b".repeat(40))), 1),
        (place.partials().join(format!("model.safetensors.{}", "c".repeat(64))), 100),
    ];
    std::fs::create_dir_all(place.partials()).unwrap();
    for (path, len) in &stale {
        std::fs::write(path, vec![0u8; *len]).unwrap();
    }

    let run = place.run(&hub, OPT, "main", &[("MSWS_PROGRESS_SECONDS", "0")]);
    let rec = run.record();
    assert!(stale.iter().all(|(p, _)| !p.exists()), "{run}");
    assert!(run.stdout.contains("removed 3 partial file(s) of an interrupted download (4.1 KiB)"), "{run}");
    assert!(!run.stdout.contains("resuming"), "{run}");
    assert!(!run.stdout.contains("msws-progress"), "progress lines although MSWS_PROGRESS_SECONDS=0: {run}");
    assert!(run.stdout.contains("removed the previous completion marker"), "{run}");
    assert_eq!(rec["commit"], hub.commit(OPT).as_str());
    assert_eq!(rec["files"], 8);
    let config = std::fs::read(place.target().join("config.json")).unwrap();
    assert_eq!(config, repo_files(&hub, OPT)["config.json"]);
}

#[test]
fn a_gated_repo_without_a_token_fails_with_exit_3() {
    let hub = Hub::start();
    let place = Place::new();
    let run = place.run(&hub, "gated/llama-tiny", "main", &[]);
    let reason = run.failed(3);
    assert!(reason.contains("gated/llama-tiny"), "{reason}");
    assert!(reason.contains("token secret"), "{reason}");
    assert!(!place.marker().exists());

    // A wrong token: also an authentication failure, and the token is not shown.
    let wrong = "hf_wrongtoken123";
    let run = place.run(&hub, "gated/llama-tiny", "main", &[("HF_TOKEN", wrong)]);
    let reason = run.failed(3);
    assert!(reason.contains("token"), "{reason}");
    assert!(!run.stdout.contains(wrong) && !run.stderr.contains(wrong), "{run}");
    assert!(!place.marker().exists());
}

/// As on the real Hub: the repository's listing is public, its files are not. The first refusal
/// comes for a file, past the direct connection, through the client's own errors.
#[test]
fn a_gated_repo_whose_files_alone_are_gated_fails_with_exit_3() {
    let hub = Hub::start_with(&["--gated-metadata-public"]);
    let place = Place::new();
    let run = place.run(&hub, "gated/llama-tiny", "main", &[]);
    let reason = run.failed(3);
    assert!(reason.contains("gated/llama-tiny is gated") && reason.contains("token secret"), "{run}");
    assert!(run.stdout.contains("small files over keep-alive connections"), "{run}");
    assert!(!place.marker().exists());
    assert!(!place.target().join("config.json").exists());
}

#[test]
fn a_gated_repo_with_the_token_downloads_and_never_leaks_it() {
    let hub = Hub::start();
    let place = Place::new();
    // As mounted from a Secret file, with a trailing newline.
    let run = place.run(
        &hub,
        "gated/llama-tiny",
        "main",
        &[("HF_TOKEN", &format!("{TOKEN}\n")), ("MSWS_DOWNLOAD_WORKERS", "1")],
    );
    let rec = run.record();
    assert!(run.stdout.contains("transfer: 1 file(s) at once over HTTP"), "{run}");
    // The token was really used for the files.
    let requests = hub.requests();
    assert!(requests.iter().any(|l| l.contains("/resolve/") && l.contains("auth=ok")), "{requests:#?}");
    assert_eq!(rec["commit"], hub.commit_as("gated/llama-tiny", Some(TOKEN)));
    assert!(place.target().join("config.json").is_file());
    assert!(run.stdout.contains("token: provided"), "{run}");

    assert!(!run.stdout.contains(TOKEN), "token on stdout:\n{run}");
    assert!(!run.stderr.contains(TOKEN), "token on stderr:\n{run}");
    let files = place.written_files();
    assert!(files.len() > 8, "{files:?}");
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()), "the token is in {}", f.display());
    }
}

#[test]
fn a_repo_without_config_json_fails_verification() {
    let hub = Hub::start();
    let place = Place::new();
    let run = place.run(&hub, "broken/no-config", "main", &[("HF_HUB_DISABLE_XET", "1"), ("MSWS_DIRECT", "0")]);
    let reason = run.failed(4);
    // With Xet switched off, the transfer does not mention it; without the direct connections, all
    // files go through huggingface_hub's session.
    assert!(run.stdout.contains("msws-download: transfer: 16 file(s) at once over HTTP, resumable\n"), "{run}");
    assert!(
        reason.contains("broken/no-config") && reason.contains("main") && reason.contains("config.json"),
        "{reason}"
    );
    assert!(!place.marker().exists(), "a marker was written");
    assert!(!run.stdout.contains("MSWS-DOWNLOAD-COMPLETE"), "{run}");
}

#[test]
fn a_missing_repo_or_revision_exits_2() {
    let hub = Hub::start();
    let place = Place::new();
    let run = place.run(&hub, "nobody/nothing", "main", &[]);
    let reason = run.failed(2);
    assert!(reason.contains("nobody/nothing") && reason.contains("not found"), "{reason}");

    let run = place.run(&hub, OPT, "v9.9.9", &[]);
    let reason = run.failed(2);
    assert!(reason.contains("v9.9.9") && reason.contains("not found"), "{reason}");
    assert!(!place.marker().exists());
    assert!(resolves(&hub.requests()) == 0);
}

#[test]
fn a_pinned_commit_is_recorded_and_a_rerun_needs_no_hub() {
    let mut hub = Hub::start();
    let place = Place::new();
    let sha = hub.commit(OPT);
    let run = place.run(&hub, OPT, &sha, &[]);
    let rec = run.record();
    assert_eq!(rec["revision"], sha.as_str());
    assert_eq!(rec["commit"], sha.as_str());
    assert_eq!(rec["files"], 8);

    // The files of a pinned commit cannot change: with the marker there, the Hub is not even asked.
    hub.stop();
    let again = place.run(&hub, OPT, &sha, &[]);
    assert_eq!(again.record(), rec, "{again}");

    // A branch must be resolved: with the Hub down, a few quick retries, then a failure (exit 1;
    // the Job's backoffLimit retries later).
    let down = place.run(&hub, OPT, "main", &[("MSWS_RETRY_SECONDS", "0.01"), ("MSWS_HUB_TRIES", "3")]);
    let reason = down.failed(1);
    assert!(reason.contains("unreachable"), "{down}");
    assert_eq!(down.stdout.matches("retrying in").count(), 2, "{down}");
    assert!(!down.stderr.contains("Traceback"), "{down}");
    // The completed download of the pinned commit is untouched.
    assert!(std::fs::read_to_string(place.marker()).unwrap().contains(&sha));
}

#[test]
fn a_full_volume_exits_5() {
    let hub = Hub::start();
    let place = Place::new();
    let helper = root().join("tests/python/enospc");
    let run = place.run(&hub, OPT, "main", &[("PYTHONPATH", helper.to_str().unwrap()), ("MSWS_TEST_ENOSPC", "1")]);
    let reason = run.failed(5);
    assert!(reason.contains("out of space"), "{reason}");
    assert!(!place.marker().exists());
}

#[test]
fn progress_lines_while_downloading() {
    // ~2 MiB at 4 MB/s: half a second of download, progress every 50 ms.
    let hub = Hub::start_with(&["--slow", "4000000"]);
    let place = Place::new();
    let run = place.run(&hub, OPT, "main", &[("MSWS_PROGRESS_SECONDS", "0.05")]);
    run.record();
    let total: u64 = repo_files(&hub, OPT).values().map(|c| c.len() as u64).sum();
    let lines: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("msws-progress ")).collect();
    let progress: Vec<Progress> = lines.iter().map(|l| parse_progress(l).unwrap()).collect();
    assert!(progress.len() >= 3, "{run}");
    let (first, last) = (progress[0], progress[progress.len() - 1]);
    assert_eq!((first.bytes, first.rate, first.eta, first.files_done, first.files_total), (0, 0, None, 0, 8));
    assert_eq!((last.bytes, last.eta, last.files_done), (total, Some(0), 8), "{run}");
    // The rate over the whole transfer: about the hub's 4 MB/s, never more.
    assert!(last.rate > 500_000 && last.rate <= 4_200_000, "{run}");
    assert!(progress.iter().all(|p| p.total == total), "{run}");
    assert!(progress.windows(2).all(|w| w[0].bytes <= w[1].bytes), "bytes went back: {run}");
    // Somewhere in between, with an estimate of the time left.
    assert!(progress.iter().any(|p| p.bytes > 0 && p.bytes < total && p.eta.is_some()), "{run}");
    // People read the same after the `|`.
    assert!(lines.iter().all(|l| l.contains(" | ")), "{run}");
    assert!(lines[0].ends_with("| 0 B of 2.0 MiB (0%), 0 B/s, time left unknown"), "{run}");
    assert!(
        lines[lines.len() - 1].contains("| 2.0 MiB of 2.0 MiB (100%), ") && lines[lines.len() - 1].ends_with(", done")
    );
    // The last one comes when every file is in place, before the summary.
    let after_last = run.stdout.lines().skip_while(|l| *l != lines[lines.len() - 1]).nth(1).unwrap();
    assert!(after_last.starts_with("msws-download: downloaded 2.0 MiB in "), "{run}");
}

/// Bytes that look random (xorshift), so that nothing along the way can compress them.
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

const SHARDED: &str = "big/sharded";

/// A repository of 40 MiB: two safetensors shards (LFS files, through the hub's CDN redirect), a
/// config and twenty small files.
fn sharded_repo(root: &Path) {
    let d = root.join(SHARDED);
    std::fs::create_dir_all(d.join("extra")).unwrap();
    std::fs::write(d.join("config.json"), "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\"}\n")
        .unwrap();
    std::fs::write(d.join("model-00001-of-00002.safetensors"), noise(1, 24 << 20)).unwrap();
    std::fs::write(d.join("model-00002-of-00002.safetensors"), noise(2, 16 << 20)).unwrap();
    for i in 0..20 {
        std::fs::write(d.join(format!("extra/notes-{i:02}.txt")), noise(10 + i, 4096)).unwrap();
    }
    // Small, but an LFS file: the hub redirects it to its CDN.
    std::fs::write(d.join("training_args.bin"), noise(3, 5000)).unwrap();
}

/// The runbook's worry: the download pod dies (evicted, OOM-killed, its node lost) and the Job starts
/// another. The second attempt must fetch only what is missing, from where each file stopped.
#[test]
fn a_download_killed_halfway_resumes_where_it_stopped() {
    // 40 MiB over a 16 MB/s link: about 2.6 s for all of it.
    let hub = Hub::start_link(16_000_000, &sharded_repo, &[]);
    let place = Place::new();
    let files = repo_files(&hub, SHARDED);
    let total: u64 = files.values().map(|c| c.len() as u64).sum();

    // Killed (SIGKILL: no clean-up of any kind) once a third is on the claim.
    let mut child = place.spawn(&hub, SHARDED, &[("MSWS_PROGRESS_SECONDS", "0.1")]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the download ended before it could be killed:\n{}", place.spawned_output(status));
        }
        if place.on_disk(&files).0 >= total / 3 {
            break;
        }
        assert!(Instant::now() < deadline, "no third of the download in 60 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let first = place.spawned_output(child.wait().unwrap());
    assert!(!first.stdout.contains("MSWS-DOWNLOAD-"), "{first}");
    let (left, partials) = place.on_disk(&files);
    assert!(!partials.is_empty() && left < total * 9 / 10, "not killed halfway: {left} of {total} bytes\n{first}");
    assert!(!place.marker().exists());
    // Partial files that stopped short of their file's end: each needs one Range request.
    let short = partials.iter().filter(|(rel, len)| *len < files[rel].len() as u64).count() as u64;

    let before = hub.stats();
    let second = place.run(&hub, SHARDED, "main", &[("MSWS_PROGRESS_SECONDS", "0.1")]);
    let rec = second.record();
    let after = hub.stats();

    // It fetched exactly what was missing, resuming each partial file with a Range request.
    let served = after["body_bytes"].as_u64().unwrap() - before["body_bytes"].as_u64().unwrap();
    assert_eq!(served, total - left, "{left} of {total} bytes were on disk\n{second}");
    assert_eq!(after["ranges"].as_u64().unwrap() - before["ranges"].as_u64().unwrap(), short, "{second}");
    assert!(second.stdout.contains(&format!("resuming {} partial file(s) of an earlier attempt", partials.len())));
    // Its first progress line starts where the first attempt stopped; the last one is at 100%.
    let progress: Vec<Progress> = second.stdout.lines().filter_map(parse_progress).collect();
    assert_eq!(progress[0].bytes, left, "{second}");
    assert_eq!(progress[progress.len() - 1].bytes, total, "{second}");

    // And the result verifies: every file byte for byte, no partial file left, the marker written.
    for (rel, content) in &files {
        assert!(std::fs::read(place.target().join(rel)).unwrap() == *content, "{rel} differs");
    }
    assert_eq!(place.on_disk(&files), (total, vec![]));
    assert_eq!(rec["files"], files.len());
    assert_eq!(rec["bytes"], total);
}

/// A partial file whose bytes are not the file's (a node that crashed with unwritten pages, a disk
/// error): the checksum says so, and the file is fetched again from the start.
#[test]
fn a_damaged_partial_file_is_downloaded_again() {
    let hub = Hub::start();
    let place = Place::new();
    let content = repo_files(&hub, OPT)["model.safetensors"].clone();
    let sha = hex::encode(sha2::Sha256::digest(&content));
    std::fs::create_dir_all(place.partials()).unwrap();
    std::fs::write(place.partials().join(format!("model.safetensors.{sha}")), vec![0xAB; 1 << 20]).unwrap();

    let run = place.run(&hub, OPT, "main", &[]);
    run.record();
    assert!(run.stdout.contains("resuming 1 partial file(s) of an earlier attempt: 1.0 MiB already on disk"), "{run}");
    assert!(
        run.stdout.contains(
            "model.safetensors does not match the hub's sha256 (the partial file of an earlier attempt was \
             damaged): downloading it again"
        ),
        "{run}"
    );
    assert!(std::fs::read(place.target().join("model.safetensors")).unwrap() == content);
    // The resume (206), then the whole file (200).
    let cdn: Vec<String> = hub
        .requests()
        .into_iter()
        .filter(|l| l.contains(" GET /cdn-lfs/"))
        .map(|l| l.split(" -> ").nth(1).unwrap()[..3].to_string())
        .collect();
    assert_eq!(cdn, ["206", "200"], "{run}");
}

/// A server that answers the Range request of a resume with the whole file (200): the downloader
/// starts that file over, and the result is right.
#[test]
fn a_resume_answered_with_the_whole_file_starts_it_over() {
    let hub = Hub::start_link(0, &|_| {}, &["--ignore-range"]);
    let place = Place::new();
    let content = repo_files(&hub, OPT)["model.safetensors"].clone();
    let sha = hex::encode(sha2::Sha256::digest(&content));
    std::fs::create_dir_all(place.partials()).unwrap();
    std::fs::write(place.partials().join(format!("model.safetensors.{sha}")), &content[..1 << 20]).unwrap();
    let before = hub.stats();
    let run = place.run(&hub, OPT, "main", &[]);
    run.record();
    let after = hub.stats();
    assert!(run.stdout.contains("resuming 1 partial file(s) of an earlier attempt: 1.0 MiB already on disk"), "{run}");
    assert!(!run.stdout.contains("does not match"), "{run}");
    assert!(std::fs::read(place.target().join("model.safetensors")).unwrap() == content);
    assert_eq!(after["ranges"], before["ranges"], "the hub was to ignore Range");
    let total: u64 = repo_files(&hub, OPT).values().map(|c| c.len() as u64).sum();
    assert_eq!(after["body_bytes"].as_u64().unwrap() - before["body_bytes"].as_u64().unwrap(), total);
}

/// A hub (or a proxy on the way) that serves a file whose bytes do not match its checksum: tried
/// twice, then the download fails verification, and nothing of that file is left in place.
#[test]
fn a_file_that_never_matches_its_checksum_fails_verification() {
    let hub = Hub::start_link(0, &|_| {}, &["--corrupt", "tokenizer.json"]);
    let place = Place::new();
    let run = place.run(&hub, OPT, "main", &[]);
    let reason = run.failed(4);
    assert!(
        reason.starts_with("verification failed: tokenizer.json downloaded twice and twice its git blob sha1 differs"),
        "{run}"
    );
    assert_eq!(
        run.stdout.matches("tokenizer.json does not match the hub's git blob sha1: downloading it again").count(),
        1,
        "{run}"
    );
    assert!(!place.target().join("tokenizer.json").exists());
    assert!(!place.marker().exists());
    // The damaged file's partial file is gone; what the other transfers had (they stop when one
    // fails) stays for the next attempt.
    let partials = place.on_disk(&repo_files(&hub, OPT)).1;
    assert!(!partials.iter().any(|(rel, _)| rel == "tokenizer.json"), "a damaged partial file was kept: {partials:?}");
}

#[test]
fn bad_inputs_fail_with_a_reason() {
    let hub = Hub::start();
    let place = Place::new();
    let run = place.run(&hub, OPT, "main", &[("MSWS_TARGET", "relative/dir")]);
    assert!(run.failed(1).contains("absolute"), "{run}");
    let run = place.run(&hub, "", "main", &[]);
    assert!(run.failed(1).contains("MSWS_REPO"), "{run}");
    let run = place.run(&hub, OPT, "main", &[("MSWS_DOWNLOAD_WORKERS", "many")]);
    assert!(run.failed(1).contains("MSWS_DOWNLOAD_WORKERS must be a whole number"), "{run}");
}

/// A repository with a file where the downloader keeps its own records is refused before anything
/// is written.
#[test]
fn a_repo_file_in_the_downloaders_own_place_is_refused() {
    let repo = |root: &Path| {
        let d = root.join("odd/state");
        std::fs::create_dir_all(d.join(".cache/msws")).unwrap();
        std::fs::write(d.join("config.json"), "{}").unwrap();
        std::fs::write(d.join(".cache/msws/files.jsonl"), "{}\n").unwrap();
    };
    let hub = Hub::start_link(0, &repo, &[]);
    let place = Place::new();
    let run = place.run(&hub, "odd/state", "main", &[]);
    let reason = run.failed(1);
    assert!(reason.contains("would overwrite the downloader's own files: '.cache/msws/files.jsonl'"), "{run}");
    assert_eq!(resolves(&hub.requests()), 0, "{run}");
}

#[test]
fn the_script_is_python_3_9() {
    let mut child = Command::new(python())
        .args(["-c", "import ast, sys; ast.parse(sys.stdin.read(), feature_version=(3, 9)); print('ok')"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(SCRIPT.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

// ------------------------------------------------------------------------------------ the preamble

#[test]
fn the_preamble_runs_the_script_with_the_installed_client() {
    let hub = Hub::start();
    let place = Place::new();
    let pylib = place.tmp().join("pylib");
    let run = place.run_preamble(&hub, OPT, &[("MSWS_PYLIB", pylib.to_str().unwrap())]);
    assert_eq!(run.record()["files"], 8);
    assert!(!pylib.exists(), "pip ran although huggingface_hub is installed");
}

/// A directory with an old huggingface_hub that the preamble must not accept.
fn old_client(place: &Place) -> PathBuf {
    let dir = place.dir.path().join("old-site");
    std::fs::create_dir_all(dir.join("huggingface_hub")).unwrap();
    std::fs::write(dir.join("huggingface_hub/__init__.py"), "__version__ = '0.20.3'\n").unwrap();
    dir
}

#[test]
fn the_preamble_reports_a_failed_install() {
    let hub = Hub::start();
    let place = Place::new();
    let old = old_client(&place);
    let pylib = place.tmp().join("pylib");
    let run = place.run_preamble(
        &hub,
        OPT,
        &[
            ("PYTHONPATH", old.to_str().unwrap()),
            ("MSWS_PYLIB", pylib.to_str().unwrap()),
            ("PIP_NO_INDEX", "1"), // pip finds nothing, without the network
        ],
    );
    let reason = run.failed(1);
    assert!(reason.contains("could not install huggingface_hub"), "{run}");
    assert!(!place.marker().exists());
}

#[test]
fn the_preamble_installs_the_client_when_missing_or_too_old() {
    if std::env::var_os("MSWS_SKIP_NETWORK_TESTS").is_some() {
        eprintln!("SKIPPED (MSWS_SKIP_NETWORK_TESTS is set): pip install from the package index");
        return;
    }
    let hub = Hub::start();
    let place = Place::new();
    let old = old_client(&place);
    let pylib = place.tmp().join("pylib");
    let run = place.run_preamble(
        &hub,
        OPT,
        &[("PYTHONPATH", old.to_str().unwrap()), ("MSWS_PYLIB", pylib.to_str().unwrap())],
    );
    assert_eq!(run.record()["files"], 8, "{run}");
    assert!(pylib.join("huggingface_hub/__init__.py").is_file(), "{run}");
    assert!(!run.stderr.contains("WARNING"), "pip warnings in the log: {run}");
}

/// The Job msws renders, run as the cluster would run it: its own command and environment (the
/// claim's mount point mapped to a directory, the token secret to its value), against the Hub.
#[test]
fn the_rendered_job_runs_as_specified() {
    let text = r#"workspace "w" format=1
storage "claim" {
    access "ReadWriteOnce"
    size "1Gi"
}
secret "tok" from-env="HF_TOKEN"
download "llama" {
    from "hf://gated/llama-tiny" revision="main"
    into "claim" path="models/llama"
    token secret="tok"
}
"#;
    let r = crate::render::render_text(text);
    let job = r
        .objects()
        .find_map(|(_, o)| if let msws::render::Object::Job(j) = o { Some(j.clone()) } else { None })
        .unwrap();
    let config_maps: Vec<_> = r
        .unique_objects()
        .filter_map(|(_, o)| if let msws::render::Object::ConfigMap(c) = o { Some(c.clone()) } else { None })
        .collect();
    let pod = job.spec.unwrap().template.spec.unwrap();
    let c = &pod.containers[0];
    let claim_mount = c.volume_mounts.as_ref().unwrap().iter().find(|m| m.name == "model-storage").unwrap();
    let hub = Hub::start();
    let place = Place::new();
    let command = c.command.clone().unwrap();
    assert_eq!(command[..2], ["/bin/sh".to_string(), "-c".to_string()]);
    let mut cmd = clean(Command::new(&command[0]));
    cmd.args(&command[1..])
        .env("PATH", path_with_python())
        .env("HF_ENDPOINT", hub.endpoint())
        .env("TMPDIR", place.tmp());
    cmd.current_dir(place.work());
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (Some(v), _) => v.replace(&claim_mount.mount_path, &place.claim().to_string_lossy()),
            (None, Some(from)) if from.config_map_key_ref.is_some() => {
                let sel = from.config_map_key_ref.as_ref().unwrap();
                let cm = config_maps.iter().find(|c| c.metadata.name.as_deref() == Some(sel.name.as_str())).unwrap();
                cm.data.as_ref().unwrap()[&sel.key].clone()
            }
            (None, Some(from)) => {
                let sel = from.secret_key_ref.as_ref().unwrap();
                assert_eq!((sel.name.as_str(), sel.key.as_str()), ("tok", "HF_TOKEN"));
                TOKEN.to_string()
            }
            _ => panic!("env {} has no value", e.name),
        };
        cmd.env(&e.name, value);
    }
    let run = output(cmd);
    let rec = run.record();
    assert_eq!((rec["source"].as_str(), rec["revision"].as_str()), (Some("hf://gated/llama-tiny"), Some("main")));
    assert!(place.claim().join("models/llama/config.json").is_file(), "{run}");
    assert!(place.claim().join("models/llama").join(msws::render::MARKER_FILE).is_file());
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN), "{run}");
}
