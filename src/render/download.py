# msws model downloader: runs inside the download Job and writes one Hugging Face model repository onto
# the claim. Embedded in msws with include_str!("download.py") and passed to the container in the env var
# MSWS_SCRIPT. Python 3.9+, standard library + huggingface_hub (>= 0.24: `local_dir` holds real files, metadata in .cache/huggingface).
#
# Container command: ["/bin/sh", "-c", PREAMBLE], with PREAMBLE exactly (one line):
#
#   P="${MSWS_PYLIB:-/tmp/msws-pylib}"; export PYTHONPATH="$P${PYTHONPATH:+:$PYTHONPATH}"; python3 -c 'import sys, huggingface_hub as h; sys.exit(tuple(int(x) for x in h.__version__.split(".")[:2]) < (0, 24))' 2>/dev/null || PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check --no-warn-script-location --no-compile --upgrade --target "$P" 'huggingface_hub>=0.24,<3' || { echo "MSWS-DOWNLOAD-FAILED could not install huggingface_hub into $P"; exit 1; }; exec python3 -c "$MSWS_SCRIPT"
#
# It keeps an image's own huggingface_hub when it is recent enough, and otherwise installs one into
# /tmp/msws-pylib (the root filesystem may be read-only: mount an emptyDir at /tmp, which this script
# also uses for the hub's cache). Tested in tests/it/downloader.rs with `sh`, pip and huggingface_hub 2.4.0.
#
# Environment (inputs):
#   MSWS_REPO      org/model                        (required)
#   MSWS_REVISION  branch, tag or commit sha        (default "main")
#   MSWS_TARGET    absolute directory on the claim  (required; created if missing)
#   MSWS_SOURCE    hf://org/model, recorded in the marker (default "hf://" + MSWS_REPO)
#   HF_TOKEN       optional; never printed, never written to a file
#   HF_ENDPOINT    optional hub URL (read by huggingface_hub)
#   MSWS_PROGRESS_SECONDS  optional; interval of progress lines while downloading (default 15, 0 = off)
#   MSWS_PYLIB     optional, preamble only: where pip installs huggingface_hub (default /tmp/msws-pylib)
# Also sets, for the client: HF_HOME/HF_HUB_CACHE/HF_XET_CACHE in a temporary directory (removed at the
# end), HF_XET_CHUNK_CACHE_SIZE_BYTES=0, HF_HUB_ETAG_TIMEOUT=30 and HF_HUB_DOWNLOAD_TIMEOUT=60 unless
# set; the client retries and resumes interrupted transfers itself. huggingface_hub keeps its own
# bookkeeping in MSWS_TARGET/.cache/huggingface/ (per-file .metadata and .lock, trees/<commit>.json).
#
# Output: progress lines "msws-download: ..." on stdout; the last line on stdout is either
#   MSWS-DOWNLOAD-COMPLETE {"source":...,"repo":...,"revision":...,"commit":...,"files":N,"bytes":N,"completed_at":...}
# (the marker MSWS_TARGET/.msws-download.json, on one line) and exit 0, or
#   MSWS-DOWNLOAD-FAILED <short reason>
# with exit code 2 repository or revision not found, 3 authentication (gated/private repo, missing or
# invalid token), 4 verification failed (no config.json), 5 out of space (ENOSPC/EDQUOT), 1 anything else.
import sys

# `python3 -c` puts the working directory first on sys.path: never import from there.
sys.path[:] = [p for p in sys.path if p not in ("", ".")]

import datetime
import errno
import json
import os
import re
import shutil
import tempfile
import threading
import time
import traceback

MARKER = ".msws-download.json"
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
LIST_LIMIT = 100  # files listed by name in the log

EXIT_OTHER = 1
EXIT_NOT_FOUND = 2
EXIT_AUTH = 3
EXIT_VERIFY = 4
EXIT_NO_SPACE = 5


class Failure(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


# ----------------------------------------------------------------------------------------- output
class Redacting:
    """Wraps stdout/stderr so that the token can never be printed, by us or by a library."""

    def __init__(self, stream, secrets):
        self._stream = stream
        self._secrets = secrets

    def write(self, s):
        for secret in self._secrets:
            if secret and secret in s:
                s = s.replace(secret, "***")
        n = self._stream.write(s)
        self._stream.flush()
        return n

    def flush(self):
        self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def say(msg):
    print("msws-download: " + msg, flush=True)


def human(n):
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return ("%d %s" % (n, unit)) if unit == "B" else ("%.1f %s" % (n, unit))
        n /= 1024.0


def endpoint_for_display():
    ep = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    return re.sub(r"//[^/@]*@", "//", ep)  # drop any user:password@


# ------------------------------------------------------------------------------------- the files
def count_files(target):
    """Regular files under target, without the marker (or its temp files) and the top-level .cache."""
    files, size = 0, 0
    for dirpath, dirnames, filenames in os.walk(target):
        if dirpath == target:
            dirnames[:] = [d for d in dirnames if d != ".cache"]
        for fn in filenames:
            if dirpath == target and fn.startswith(MARKER):
                continue
            try:
                st = os.lstat(os.path.join(dirpath, fn))
            except OSError:
                continue
            if (st.st_mode & 0o170000) == 0o100000:  # S_ISREG
                files += 1
                size += st.st_size
    return files, size


def read_marker(target):
    path = os.path.join(target, MARKER)
    try:
        with open(path) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        say("ignoring unreadable marker %s: %s" % (path, e))
        return None


def remove_marker(target):
    try:
        os.remove(os.path.join(target, MARKER))
        say("removed the previous completion marker")
    except FileNotFoundError:
        pass


def write_marker(target, record):
    path = os.path.join(target, MARKER)
    tmp = "%s.tmp-%d" % (path, os.getpid())
    try:
        with open(tmp, "w") as f:
            json.dump(record, f, indent=2)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    try:
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def complete(record):
    print("MSWS-DOWNLOAD-COMPLETE " + json.dumps(record, separators=(",", ":")), flush=True)


class Progress(threading.Thread):
    """Prints how much of the expected files is on disk (finished files plus partial downloads)."""

    def __init__(self, target, expected, total, interval):
        super().__init__(daemon=True)
        self.target, self.expected, self.total, self.interval = target, expected, total, interval
        self.stop = threading.Event()
        self.last = None

    def on_disk(self):
        n = 0
        for rel in self.expected:
            try:
                n += os.path.getsize(os.path.join(self.target, rel))
            except OSError:
                pass
        staging = os.path.join(self.target, ".cache", "huggingface", "download")
        for dirpath, _, filenames in os.walk(staging):
            for fn in filenames:
                if fn.endswith(".incomplete"):
                    try:
                        n += os.path.getsize(os.path.join(dirpath, fn))
                    except OSError:
                        pass
        return n

    def run(self):
        t0 = time.time()
        while not self.stop.wait(self.interval):
            n = self.on_disk()
            if n == self.last:
                continue
            self.last = n
            pct = (" (%d%%)" % min(99, n * 100 // self.total)) if self.total else ""
            say("progress: %s of %s on disk%s after %ds" % (human(n), human(self.total), pct, time.time() - t0))


STALE_PARTIAL_RE = re.compile(r"\.[0-9a-f]{40,64}\.[0-9a-f]{8}\.incomplete$")


def remove_stale_partials(target):
    """huggingface_hub >= 2 streams each file into a process-unique `<...>.<etag>.<uuid8>.incomplete`
    that no later process resumes; a killed pod leaves it behind. Remove those before downloading."""
    staging = os.path.join(target, ".cache", "huggingface", "download")
    n, size = 0, 0
    for dirpath, _, filenames in os.walk(staging):
        for fn in filenames:
            if STALE_PARTIAL_RE.search(fn):
                path = os.path.join(dirpath, fn)
                try:
                    size += os.path.getsize(path)
                    os.remove(path)
                    n += 1
                except OSError:
                    pass
    if n:
        say("removed %d partial file(s) of an interrupted download (%s)" % (n, human(size)))


# ---------------------------------------------------------------------------------------- errors
def is_no_space(e):
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(e)
        if "No space left on device" in text or "Disk quota exceeded" in text:
            return True
        e = e.__cause__ or e.__context__
    return False


TRANSIENT_NAMES = {"TransportError", "NetworkError", "TimeoutException", "ConnectionError", "Timeout",
                   "TimeoutError", "ProtocolError", "RemoteProtocolError"}


def is_transient(e):
    """Network trouble or an overloaded hub (5xx, 429): worth another try."""
    status = http_status(e)
    if status is not None:
        return status == 429 or status >= 500
    return any(c.__name__ in TRANSIENT_NAMES for c in type(e).__mro__)


def with_retries(what, fn):
    tries = max(1, int(env("MSWS_HUB_TRIES", "5")))
    delay = float(env("MSWS_RETRY_SECONDS", "2"))
    for attempt in range(1, tries + 1):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001
            if attempt == tries or not is_transient(e):
                raise
            say("%s failed (%s: %s), retrying in %gs (%d/%d)" % (
                what, type(e).__name__, first_line(e), delay, attempt, tries - 1))
            time.sleep(delay)
            delay = min(delay * 2, 60)


def http_status(e):
    resp = getattr(e, "response", None)
    return getattr(resp, "status_code", None)


def classify(e, hf_errors, repo, revision, has_token):
    """Maps an exception to (exit code, short reason)."""
    if isinstance(e, Failure):
        return e.code, e.reason
    if is_no_space(e):
        return EXIT_NO_SPACE, "out of space writing %s@%s to the volume: make the claim larger" % (repo, revision)
    gated, repo_nf, rev_nf, http_err, validation = hf_errors
    token_hint = (
        "the token was refused: check the token secret"
        if has_token
        else "set the token secret (HF_TOKEN) of this download"
    )
    if gated and isinstance(e, gated):
        return EXIT_AUTH, "%s is gated and needs an authorized token: %s" % (repo, token_hint)
    if rev_nf and isinstance(e, rev_nf):
        return EXIT_NOT_FOUND, "revision %s not found in %s" % (revision, repo)
    if repo_nf and isinstance(e, repo_nf):
        return EXIT_NOT_FOUND, (
            "repository %s not found (if it is private, %s)" % (repo, token_hint) if not has_token
            else "repository %s not found, or the token has no access to it" % repo
        )
    if http_err and isinstance(e, http_err) and http_status(e) in (401, 403):
        return EXIT_AUTH, "access to %s denied (HTTP %s): %s" % (repo, http_status(e), token_hint)
    if validation and isinstance(e, validation):
        return EXIT_NOT_FOUND, "invalid repository id or revision %s@%s: %s" % (repo, revision, first_line(e))
    if is_transient(e):
        return EXIT_OTHER, "hub %s unreachable or unavailable (%s: %s)" % (
            endpoint_for_display(), type(e).__name__, first_line(e))
    return EXIT_OTHER, "%s: %s" % (type(e).__name__, first_line(e))


def first_line(e):
    text = str(e).strip()
    return (text.splitlines()[0] if text else "")[:300]


def hf_error_classes():
    names = ("GatedRepoError", "RepositoryNotFoundError", "RevisionNotFoundError", "HfHubHTTPError",
             "HFValidationError")
    out = []
    for name in names:
        cls = None
        for mod in ("huggingface_hub.errors", "huggingface_hub.utils"):
            try:
                cls = getattr(__import__(mod, fromlist=[name]), name)
                break
            except (ImportError, AttributeError):
                continue
        out.append(cls)
    return tuple(out)


# ------------------------------------------------------------------------------------------ main
def env(name, default=None):
    v = os.environ.get(name, "")
    v = v.strip()
    return v if v else default


def run(token):
    repo = env("MSWS_REPO")
    revision = env("MSWS_REVISION", "main")
    target = env("MSWS_TARGET")
    if not repo:
        raise Failure(EXIT_OTHER, "MSWS_REPO is not set")
    if not target or not os.path.isabs(target):
        raise Failure(EXIT_OTHER, "MSWS_TARGET must be an absolute directory, got %r" % (target or ""))
    target = os.path.normpath(target)
    source = env("MSWS_SOURCE", "hf://" + repo)

    # The hub's own cache, token file and Xet state live in a temporary directory, never on the claim.
    base = tempfile.gettempdir()
    if os.path.realpath(base) == os.path.realpath(target) or os.path.realpath(base).startswith(
            os.path.realpath(target) + os.sep):
        base = "/tmp"
    try:
        hf_home = tempfile.mkdtemp(prefix="msws-hf-home-", dir=base)
    except OSError as e:
        raise Failure(EXIT_OTHER, "cannot create a temporary directory in %s for the hub's cache (%s):"
                      " give the container a writable /tmp (an emptyDir)" % (base, e.strerror or e))
    os.environ["HF_HOME"] = hf_home
    os.environ["HF_HUB_CACHE"] = os.path.join(hf_home, "hub")
    os.environ["HF_XET_CACHE"] = os.path.join(hf_home, "xet")
    os.environ.setdefault("HF_XET_CHUNK_CACHE_SIZE_BYTES", "0")  # no multi-GB chunk cache in /tmp
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # tqdm bars are unreadable in `kubectl logs`
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "30")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "60")
    for var in ("HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_TOKEN_PATH"):
        os.environ.pop(var, None)
    if token:
        os.environ["HF_TOKEN"] = token
    else:
        os.environ.pop("HF_TOKEN", None)
    try:
        return download(repo, revision, target, source, token)
    finally:
        shutil.rmtree(hf_home, ignore_errors=True)


def download(repo, revision, target, source, token):
    say("repository %s, revision %s, from %s" % (repo, revision, endpoint_for_display()))
    say("target %s; token: %s" % (target, "provided" if token else "none"))
    marker = read_marker(target)
    config = os.path.join(target, "config.json")

    def matches(commit):
        return (marker is not None and marker.get("source") == source and marker.get("revision") == revision
                and marker.get("commit") == commit)

    # A pinned commit already on disk needs no network at all.
    if SHA_RE.match(revision) and matches(revision) and os.path.isfile(config):
        say("already complete: %s@%s (marker of %s), %d files, %s" % (
            repo, revision[:12], marker.get("completed_at"), marker.get("files", 0), human(marker.get("bytes", 0))))
        return marker

    try:
        import huggingface_hub
    except ImportError as e:
        raise Failure(EXIT_OTHER, "huggingface_hub is not installed (%s)" % e)
    version = huggingface_hub.__version__
    try:
        if tuple(int(x) for x in version.split(".")[:2]) < (0, 24):
            raise Failure(EXIT_OTHER, "huggingface_hub %s is too old (need >= 0.24)" % version)
    except ValueError:
        pass
    say("huggingface_hub %s, python %s" % (version, sys.version.split()[0]))

    api = huggingface_hub.HfApi(token=token or False)
    info = with_retries("asking %s for %s@%s" % (endpoint_for_display(), repo, revision),
                        lambda: api.model_info(repo, revision=revision, files_metadata=True, token=token or False))
    commit = info.sha
    if not commit:
        raise Failure(EXIT_OTHER, "the hub did not report a commit for %s@%s" % (repo, revision))
    if commit != revision:
        say("revision %s is commit %s" % (revision, commit))

    try:
        os.makedirs(target, exist_ok=True)
    except OSError as e:
        if is_no_space(e):
            raise
        raise Failure(EXIT_OTHER, "cannot create %s: %s" % (target, e.strerror or e))

    if matches(commit):
        if os.path.isfile(config):
            say("already complete: %s@%s (marker of %s), %d files, %s; nothing to download" % (
                repo, commit[:12], marker.get("completed_at"), marker.get("files", 0),
                human(marker.get("bytes", 0))))
            return marker
        say("marker present but config.json is missing: downloading again")
    remove_marker(target)

    siblings = [s for s in (info.siblings or []) if getattr(s, "rfilename", None)]
    sizes = {s.rfilename: (getattr(s, "size", None) or 0) for s in siblings}
    total = sum(sizes.values())
    say("%d files, %s in total:" % (len(sizes), human(total)))
    names = sorted(sizes)
    for name in names[:LIST_LIMIT]:
        say("  %10s  %s" % (human(sizes[name]), name))
    if len(names) > LIST_LIMIT:
        say("  ... and %d more files" % (len(names) - LIST_LIMIT))
    try:
        free = shutil.disk_usage(target).free
        if total and free < total:
            say("warning: only %s free on the volume for %s of files" % (human(free), human(total)))
    except OSError:
        pass

    remove_stale_partials(target)
    interval = float(env("MSWS_PROGRESS_SECONDS", "15"))
    progress = Progress(target, list(sizes), total, interval) if interval > 0 else None
    if progress:
        progress.start()
    t0 = time.time()
    try:
        # Download the resolved commit, not the branch: the files match the commit in the marker even
        # if the branch moves meanwhile.
        huggingface_hub.snapshot_download(
            repo_id=repo,
            revision=commit,
            local_dir=target,
            token=token or False,
            etag_timeout=float(os.environ["HF_HUB_ETAG_TIMEOUT"]),
        )
    finally:
        if progress:
            progress.stop.set()
    elapsed = time.time() - t0
    say("downloaded %s in %.1fs" % (human(total), elapsed))

    if not os.path.isfile(config):
        raise Failure(EXIT_VERIFY, "verification failed: %s@%s has no config.json at the top of the repository"
                      " (is it a model repository with transformers weights?)" % (repo, revision))
    files, size = count_files(target)
    record = {
        "source": source,
        "repo": repo,
        "revision": revision,
        "commit": commit,
        "files": files,
        "bytes": size,
        "completed_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_marker(target, record)
    say("verified config.json; %d files, %s in %s; marker %s written" % (
        files, human(size), target, MARKER))
    return record


def main():
    token = (os.environ.get("HF_TOKEN") or "").strip()
    secrets = [t for t in {token, os.environ.get("HF_TOKEN") or ""} if len(t) >= 4]
    sys.stdout = Redacting(sys.stdout, secrets)
    sys.stderr = Redacting(sys.stderr, secrets)
    ctx = {"repo": env("MSWS_REPO", "?"), "revision": env("MSWS_REVISION", "main")}
    try:
        record = run(token)
    except KeyboardInterrupt:
        print("MSWS-DOWNLOAD-FAILED interrupted", flush=True)
        return EXIT_OTHER
    except BaseException as e:  # noqa: BLE001 - every failure ends in one FAILED line
        if isinstance(e, SystemExit) and e.code in (0, None):
            e = Failure(EXIT_OTHER, "exited early")
        code, reason = classify(e, hf_error_classes() if not isinstance(e, Failure) else (None,) * 5,
                                ctx["repo"], ctx["revision"], bool(token))
        if code == EXIT_OTHER and not isinstance(e, Failure) and not is_transient(e):
            traceback.print_exc(file=sys.stderr)
        print("MSWS-DOWNLOAD-FAILED " + " ".join(reason.split()), flush=True)
        return code
    complete(record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
