//! The tests' own Python: a virtual environment with the pinned packages of
//! `tests/python/requirements.txt` (huggingface_hub for the downloader, helm-python-sdk for the
//! Helm renderer), made by the tests themselves under `target/tmp` and reused by every later run.
//!
//! The environment is `target/tmp/pyenv-<hash>`, named after a hash of the requirements file, so
//! changing a pin makes a new one. nextest runs every test in a process of its own, several at
//! once, so it is made under an exclusive lock on `pyenv-<hash>.lock`: the first process that
//! needs it makes it (`python3 -m venv`, then pip), the others wait on the lock and then use it.
//! It is good only once its marker file is there, written last (by rename, so it is whole or
//! absent): a process that died half-way leaves a directory without the marker, which the next
//! one removes and makes again. (A virtual environment cannot be built elsewhere and renamed into
//! place: it records its own path in its scripts.) pip's whole output is in `pyenv-<hash>.log`.
//!
//! When pip fails (no network, no proxy set), the failure is recorded in `pyenv-<hash>.failed`
//! with the id of the process that started the test processes (nextest's), so that the other
//! tests of the same run fail at once with the same message instead of each trying pip again;
//! the next run tries again.
//!
//! `MSWS_TEST_PYTHON` names an interpreter to use instead; it must have the pinned versions.
//! Nothing is skipped when Python is missing: the tests that need it fail, saying how to fix it.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::support::root;

const MARKER: &str = "msws-complete";
/// Lines of pip's output shown in a failure.
const TAIL: usize = 25;

/// The tests' Python interpreter, the virtual environment made on first use. A failure to make it
/// fails the calling test with what went wrong and how to fix it.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(find) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    }
}

fn requirements() -> PathBuf {
    root().join("tests/python/requirements.txt")
}

fn find() -> Result<PathBuf, String> {
    let reqs_path = requirements();
    let reqs = fs::read_to_string(&reqs_path).map_err(|e| format!("cannot read {}: {e}", reqs_path.display()))?;
    if let Some(given) = std::env::var_os("MSWS_TEST_PYTHON") {
        return check_given(Path::new(&given), &reqs_path);
    }
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let name = format!("pyenv-{}", &hex::encode(Sha256::digest(reqs.as_bytes()))[..12]);
    let venv = tmp.join(&name);
    let python = venv.join("bin/python");
    if complete(&venv) {
        return Ok(python);
    }

    fs::create_dir_all(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?;
    let lock_path = tmp.join(format!("{name}.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| format!("cannot open {}: {e}", lock_path.display()))?;
    // Blocks while another test process is making the environment; released when `lock` is
    // dropped, or by the kernel if this process dies.
    lock.lock().map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
    if complete(&venv) {
        return Ok(python);
    }
    let failed = tmp.join(format!("{name}.failed"));
    if let Some(earlier) = failed_in_this_run(&failed) {
        return Err(earlier);
    }
    let started = Instant::now();
    let made = make(&venv, &tmp.join(format!("{name}.log")), &reqs_path, &reqs);
    record(&failed, &made);
    made?;
    eprintln!("made the tests' Python environment {} in {:.1?}", venv.display(), started.elapsed());
    Ok(python)
}

fn complete(venv: &Path) -> bool {
    // bin/python is a symbolic link to the interpreter it was made with: gone with it, the
    // environment is made again.
    venv.join(MARKER).is_file() && venv.join("bin/python").is_file()
}

/// The id of the process that started this one: nextest, for every test process of a run.
fn run_id() -> String {
    std::os::unix::process::parent_id().to_string()
}

fn failed_in_this_run(failed: &Path) -> Option<String> {
    let text = fs::read_to_string(failed).ok()?;
    let (id, message) = text.split_once('\n')?;
    (id == run_id()).then(|| {
        format!("{message}\n(found by an earlier test of this run, recorded in {}; not tried again)", failed.display())
    })
}

/// A failure for the other tests of this run; a success clears an earlier run's.
fn record(failed: &Path, made: &Result<(), String>) {
    match made {
        Ok(()) => {
            let _ = fs::remove_file(failed);
        }
        Err(e) => {
            let _ = fs::write(failed, format!("{}\n{e}", run_id()));
        }
    }
}

/// A command for the environment's Python, without the developer's PYTHONPATH or PYTHONHOME
/// (which would reach into another installation), run where no stray module can shadow one.
fn python_command(program: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_remove("PYTHONPATH").env_remove("PYTHONHOME").env("PYTHONDONTWRITEBYTECODE", "1");
    cmd.current_dir(env!("CARGO_TARGET_TMPDIR"));
    cmd
}

fn make(venv: &Path, log_path: &Path, reqs_path: &Path, reqs: &str) -> Result<(), String> {
    if venv.exists() {
        // Left by a process that died before the marker: never trusted, made again.
        fs::remove_dir_all(venv).map_err(|e| format!("cannot remove the unfinished {}: {e}", venv.display()))?;
    }
    let log = File::create(log_path).map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let into_log = || -> Result<(Stdio, Stdio), String> {
        let out = log.try_clone().map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        Ok((out.into(), err.into()))
    };
    let tail = || tail_of(log_path);

    let mut venv_cmd = python_command(Path::new("python3"));
    venv_cmd.args(["-m", "venv"]).arg(venv);
    let (out, err) = into_log()?;
    let status = venv_cmd.stdin(Stdio::null()).stdout(out).stderr(err).status().map_err(|e| {
        format!(
            "cannot run python3 to make the tests' virtual environment: {e}\n\
             How to fix: install Python 3.10 or later (with its venv module), or set MSWS_TEST_PYTHON \
             to a Python interpreter that has the packages of {}.",
            reqs_path.display()
        )
    })?;
    if !status.success() {
        return Err(format!(
            "`python3 -m venv {}` failed ({status}); the end of its output:\n{}\n\
             How to fix: install Python's venv module (on Debian and Ubuntu: apt-get install python3-venv), \
             or set MSWS_TEST_PYTHON to a Python interpreter that has the packages of {}.",
            venv.display(),
            tail(),
            reqs_path.display()
        ));
    }

    let mut pip = python_command(&venv.join("bin/python"));
    pip.args(["-m", "pip", "install", "--disable-pip-version-check", "--no-input", "-r"]).arg(reqs_path);
    let (out, err) = into_log()?;
    let status =
        pip.stdin(Stdio::null()).stdout(out).stderr(err).status().map_err(|e| format!("cannot run pip: {e}"))?;
    if !status.success() {
        let pins: Vec<&str> =
            reqs.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty()).collect();
        return Err(format!(
            "could not install the Python packages the tests need ({}, from {}) into {}: \
             `python -m pip install -r` failed ({status}); the end of pip's output (all of it is in {}):\n{}\n\
             How to fix: pip must reach the package index: check the network; behind a proxy, set \
             HTTPS_PROXY (pip reads it); for a mirror, set PIP_INDEX_URL. Or set MSWS_TEST_PYTHON to a \
             Python interpreter that already has these packages. The next test run tries again.",
            pins.join(", "),
            reqs_path.display(),
            venv.display(),
            log_path.display(),
            tail()
        ));
    }

    // The marker last, whole or not at all.
    let pending = venv.join(format!("{MARKER}.pending"));
    fs::write(&pending, reqs)
        .and_then(|()| fs::rename(&pending, venv.join(MARKER)))
        .map_err(|e| format!("cannot write {}: {e}", venv.join(MARKER).display()))
}

fn tail_of(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(TAIL)..]
        .iter()
        .map(|l| format!("    | {l}\n"))
        .collect::<String>()
        .trim_end()
        .to_string()
}

/// `MSWS_TEST_PYTHON`: used as it is, if it has exactly the pinned versions; its `sys.executable`
/// is returned (a name found on PATH, or a pyenv shim, costs a lookup at every call).
fn check_given(given: &Path, reqs_path: &Path) -> Result<PathBuf, String> {
    const CHECK: &str = r##"
import sys, importlib.metadata as md
bad = []
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, _, want = line.partition("==")
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        bad.append(line + " (not installed)")
        continue
    if have != want:
        bad.append(line + " (it has " + have + ")")
print(sys.executable)
print("; ".join(bad))
"##;
    let fix = format!(
        "How to fix: install them into it (`{} -m pip install -r {}`), or unset MSWS_TEST_PYTHON and the \
         tests make an environment of their own.",
        given.display(),
        reqs_path.display()
    );
    let out = python_command(given)
        .arg("-c")
        .arg(CHECK)
        .arg(reqs_path)
        .output()
        .map_err(|e| format!("MSWS_TEST_PYTHON={}: cannot run it: {e}", given.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines();
    let (exe, bad) = (lines.next().unwrap_or_default(), lines.next().unwrap_or_default());
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("MSWS_TEST_PYTHON={} failed ({}):\n{}", given.display(), out.status, stderr.trim()));
    }
    if !bad.is_empty() {
        return Err(format!("MSWS_TEST_PYTHON={} lacks the pinned packages: {bad}.\n{fix}", given.display()));
    }
    Ok(if exe.is_empty() { given.to_path_buf() } else { PathBuf::from(exe) })
}
