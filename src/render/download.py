# msws model downloader: runs inside the download Job and writes one Hugging Face model repository onto
# the claim. Embedded in msws with include_str!("download.py") and passed to the container in the env var
# MSWS_SCRIPT. Python 3.9+, standard library + huggingface_hub (>= 0.24).
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
#   MSWS_DOWNLOAD_WORKERS  optional; files transferred at once (default 16)
#   MSWS_DIRECT    optional; 0 fetches small files through huggingface_hub's session too (see Direct)
#   MSWS_PROGRESS_SECONDS  optional; interval of progress lines while downloading (default 15, 0 = off)
#   MSWS_PYLIB     optional, preamble only: where pip installs huggingface_hub (default /tmp/msws-pylib)
# Also sets, for the client: HF_HOME/HF_HUB_CACHE/HF_XET_CACHE in a temporary directory (removed at the
# end), HF_XET_CHUNK_CACHE_SIZE_BYTES=0, HF_XET_HIGH_PERFORMANCE=1, HF_HUB_ETAG_TIMEOUT=30 and
# HF_HUB_DOWNLOAD_TIMEOUT=60 unless set.
#
# The transfer (docs/architecture.md, "The downloader"): the commit's file list comes from the hub with
# sizes and checksums (one listing, no request per file); the files are fetched MSWS_DOWNLOAD_WORKERS at
# a time, largest first, each with one GET (huggingface_hub's http_get: its HTTP client, proxies, headers
# and in-process retries; a file of up to 1 MiB in one request, over a keep-alive connection of the
# standard library when the hub answers it with a plain 200, through the client's session otherwise)
# into MSWS_TARGET/.cache/msws/partial/<path>.<etag>, hashed while it is written, checked against the
# hub's sha256 (LFS files) or git blob sha1 (the others), fsynced, renamed into place and recorded in
# MSWS_TARGET/.cache/msws/files.jsonl. A pod that is killed leaves its
# partial files; the next attempt (the Job's retry) keeps the files recorded in place, hashes each
# partial file and asks for the rest of it with a Range request. Files stored in Xet go through
# huggingface_hub's hf_hub_download when hf_xet is installed (it uses Xet itself; those do not resume
# across attempts). hf_transfer is not used: huggingface_hub removed it in 1.0.
#
# Output on stdout: lines "msws-download: ..." for people; progress lines (parsed by msws,
# render/download.rs parse_progress), one when the transfer starts, one per MSWS_PROGRESS_SECONDS while
# something changes (at least one a minute), one when every file is in place:
#   msws-progress bytes=<on disk> total=<all files> rate=<bytes/s>B/s eta=<seconds>s|- files=<in place>/<all> | <the same in words>
# and last either
#   MSWS-DOWNLOAD-COMPLETE {"source":...,"repo":...,"revision":...,"commit":...,"files":N,"bytes":N,"completed_at":...}
# (the marker MSWS_TARGET/.msws-download.json, on one line) and exit 0, or
#   MSWS-DOWNLOAD-FAILED <short reason>
# with exit code 2 repository or revision not found, 3 authentication (gated/private repo, missing or
# invalid token), 4 verification failed (no config.json, a checksum that does not match), 5 out of space
# (ENOSPC/EDQUOT), 1 anything else.
import sys

# `python3 -c` puts the working directory first on sys.path: never import from there.
sys.path[:] = [p for p in sys.path if p not in ("", ".")]

import collections
import concurrent.futures
import datetime
import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import ssl
import stat
import tempfile
import threading
import time
import traceback
import types
import urllib.parse
import urllib.request

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


# ---------------------------------------------------------------------------------- the transfer
# This script's bookkeeping, inside the target: partial files (MSWS_TARGET/.cache/msws/partial/
# <path>.<etag>) and the record of the files it put in place (MSWS_TARGET/.cache/msws/files.jsonl, one
# JSON line per file: path, etag, size, mtime_ns). huggingface_hub keeps its own in .cache/huggingface/.
STATE = os.path.join(".cache", "msws")
HF_STAGING = os.path.join(".cache", "huggingface", "download")
HASH_BLOCK = 8 * 1024 * 1024
CHUNK = 1024 * 1024
SMALL_FILE = 1024 * 1024  # fetched in one request, without streaming
DEFAULT_WORKERS = 16


class Stopped(Exception):
    """Raised inside a transfer when another one failed: the partial file stays for the next attempt."""


class RepoFile:
    """One file of the repository at the commit, as the hub lists it."""

    def __init__(self, path, size, etag, sha256, blob_id, xet):
        self.path, self.size, self.etag, self.sha256, self.blob_id, self.xet = path, size, etag, sha256, blob_id, xet
        self.have = 0         # bytes of it on disk: a partial file's length, or size once in place
        self.done = False

    def hasher(self):
        """A hash of the content that must equal the hub's: sha256 for LFS files, the git blob sha1 otherwise."""
        if self.sha256:
            return hashlib.sha256()
        h = hashlib.sha1()
        h.update(b"blob %d\0" % self.size)
        return h

    def expected_digest(self):
        return self.sha256 or self.blob_id


def safe_relpath(path):
    """A repository path as a relative path that stays inside the target, or None."""
    if not path or path.startswith("/") or "\\" in path or "\0" in path:
        return None
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return None
    if path == MARKER or path.startswith(MARKER + ".") or path.startswith(STATE.replace(os.sep, "/") + "/"):
        return None  # where this script keeps its own files
    return path


def list_files(api, repo, commit, token):
    entries = with_retries("listing the files of %s@%s" % (repo, commit[:12]), lambda: list(
        api.list_repo_tree(repo, recursive=True, revision=commit, token=token or False)))
    files = []
    for e in entries:
        size = getattr(e, "size", None)
        blob_id = getattr(e, "blob_id", None)
        if size is None or blob_id is None:  # a folder
            continue
        path = safe_relpath(getattr(e, "path", ""))
        if path is None:
            raise Failure(EXIT_OTHER, "the hub listed a file path that leaves the target directory or would"
                          " overwrite the downloader's own files: %r" % getattr(e, "path", ""))
        lfs = getattr(e, "lfs", None)
        sha256 = (lfs.get("sha256") if isinstance(lfs, dict) else getattr(lfs, "sha256", None)) if lfs else None
        files.append(RepoFile(path, int(size), sha256 or blob_id, sha256, blob_id, bool(getattr(e, "xet_hash", None))))
    files.sort(key=lambda f: f.path)
    return files


class Journal:
    """The files put in place by this script: a file counts as in place while its record names the
    etag the hub lists for it and the file still has the size and modification time it had then.

    Each record is appended (one write) after the file is fsynced and renamed into place; a record
    that is lost costs a download, never a wrong file. Rewritten, with only what is still true, at the
    start of each attempt."""

    NAME = "files.jsonl"

    def __init__(self, target):
        self.dir = os.path.join(target, STATE)
        self.path = os.path.join(self.dir, self.NAME)
        self.lock = threading.Lock()
        self.fh = None

    def read(self):
        out = {}
        try:
            with open(self.path) as j:
                for line in j:
                    try:
                        r = json.loads(line)
                        out[r["path"]] = r
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line
        except OSError:
            pass
        return out

    def rewrite(self, records):
        os.makedirs(self.dir, exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as j:
            for r in records:
                j.write(json.dumps(r, separators=(",", ":")) + "\n")
        os.replace(tmp, self.path)
        self.fh = open(self.path, "a")

    def add(self, f, st):
        line = json.dumps({"path": f.path, "etag": f.etag, "size": st.st_size, "mtime_ns": st.st_mtime_ns},
                          separators=(",", ":")) + "\n"
        with self.lock:
            self.fh.write(line)
            self.fh.flush()

    def close(self):
        if self.fh:
            self.fh.close()
            self.fh = None


def matches_record(record, f, st):
    return (record is not None and record.get("etag") == f.etag and stat.S_ISREG(st.st_mode)
            and st.st_size == f.size == record.get("size") and st.st_mtime_ns == record.get("mtime_ns"))


def hf_has_it(target, f, st):
    """huggingface_hub's own record of a file it downloaded into a local_dir (the Xet path): its
    .metadata names this etag, and the file was not modified after it."""
    try:
        with open(os.path.join(target, HF_STAGING, *f.path.split("/")) + ".metadata") as m:
            lines = m.read().split("\n")
        return lines[1].strip() == f.etag and st.st_size == f.size and st.st_mtime - 1 <= float(lines[2])
    except (OSError, ValueError, IndexError):
        return False


class Sink:
    """The file object the client's `http_get` writes into: the partial file, hashed as it is written,
    counted for the progress line, and stopped when another transfer failed."""

    def __init__(self, fh, f, hasher, stop):
        self.fh, self.f, self.h, self.stop = fh, f, hasher, stop

    def write(self, data):
        if self.stop.is_set():
            raise Stopped()
        n = self.fh.write(data)
        self.h.update(data)
        self.f.have += len(data)
        return n

    def tell(self):
        return self.fh.tell()

    def seek(self, pos, whence=0):
        # http_get rewinds to where it started when a server answers a Range request with the whole file
        # (200): start over, hash included.
        pos = self.fh.seek(pos, whence)
        if pos != 0:
            raise OSError("unexpected seek to %d in %s" % (pos, self.f.path))
        self.h = self.f.hasher()
        self.f.have = 0
        return pos

    def truncate(self, size=None):
        return self.fh.truncate(size)

    def flush(self):
        self.fh.flush()


class Transfer:
    """Downloads the files of one commit into the target: several at once, each over plain HTTP into a
    partial file that a later attempt resumes with a Range request, checked against the hub's checksum
    before it is moved into place; Xet-stored files through huggingface_hub and hf_xet when installed."""

    def __init__(self, hf, repo, commit, target, token, files, workers, use_xet):
        self.hf, self.repo, self.commit, self.target, self.token = hf, repo, commit, target, token
        self.files, self.workers, self.use_xet = files, workers, use_xet
        self.stop = threading.Event()
        self.headers = hf_headers(hf, token)
        self.etag_timeout = float(os.environ["HF_HUB_ETAG_TIMEOUT"])
        self.download_timeout = float(os.environ["HF_HUB_DOWNLOAD_TIMEOUT"])
        self.direct = Direct.for_endpoint(self.hf.endpoint, self.headers, self.download_timeout)
        self.journal = Journal(target)
        self.partial_dir = os.path.join(target, STATE, "partial")
        self.dirs = set()            # directories made (or known to exist) by this attempt
        self.adopted = 0             # files found in place without a record, and kept
        self.adopted_bytes = 0
        self.dirs_lock = threading.Lock()

    def local_path(self, f):
        return os.path.join(self.target, *f.path.split("/"))

    def partial_path(self, f):
        return os.path.join(self.partial_dir, *f.path.split("/")) + "." + f.etag

    def makedirs(self, d):
        if d in self.dirs:
            return
        os.makedirs(d, exist_ok=True)
        with self.dirs_lock:
            self.dirs.add(d)

    def prepare(self):
        """What an earlier attempt left: files in place, partial files to resume, stale partials to remove.
        Returns (files in place, bytes in place, partial files kept, bytes in them)."""
        records = self.journal.read()
        keep, still_true = set(), []
        in_place = in_place_bytes = partials = partial_bytes = 0
        for f in self.files:
            try:
                st = os.stat(self.local_path(f))
            except OSError:
                st = None
            if st is not None and (matches_record(records.get(f.path), f, st) or (f.xet and hf_has_it(
                    self.target, f, st))):
                f.done, f.have = True, f.size
                in_place += 1
                in_place_bytes += f.size
                still_true.append({"path": f.path, "etag": f.etag, "size": st.st_size, "mtime_ns": st.st_mtime_ns})
                continue
            p = self.partial_path(f)
            try:
                n = os.path.getsize(p)
            except OSError:
                continue
            if 0 < n <= f.size and not (f.xet and self.use_xet):
                keep.add(os.path.normpath(p))
                f.have = n
                partials += 1
                partial_bytes += n
        # Partial files of other versions of the files, huggingface_hub's (>= 2: process-unique, never
        # resumed; older: of no use to this script): space for the files.
        removed, size = 0, 0
        for top, wanted in ((self.partial_dir, lambda p: p in keep),
                            (os.path.join(self.target, HF_STAGING), lambda p: not p.endswith(".incomplete"))):
            for dirpath, _, filenames in os.walk(top):
                for fn in filenames:
                    path = os.path.normpath(os.path.join(dirpath, fn))
                    if wanted(path):
                        continue
                    try:
                        size += os.path.getsize(path)
                        os.remove(path)
                        removed += 1
                    except OSError:
                        pass
        if removed:
            say("removed %d partial file(s) of an interrupted download (%s)" % (removed, human(size)))
        self.journal.rewrite(still_true)
        return in_place, in_place_bytes, partials, partial_bytes

    def run(self):
        todo = sorted((f for f in self.files if not f.done), key=lambda f: -f.size)  # largest first
        try:
            if todo:
                self.run_all(todo)
            # The renames reach the disk before the marker says the download is complete.
            for d in sorted(self.dirs | {self.target}):
                fsync_dir(d)
        finally:
            self.journal.close()

    def run_all(self, todo):
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="msws-dl")
        futures = [pool.submit(self.fetch, f) for f in todo]
        first = None
        try:
            for fut in concurrent.futures.as_completed(futures):
                if fut.cancelled():  # after a failure, those that had not started
                    continue
                e = fut.exception()
                if e is not None and first is None:
                    first = e
                    self.stop.set()
                    for other in futures:
                        other.cancel()
        except BaseException:
            self.stop.set()
            for other in futures:
                other.cancel()
            raise
        finally:
            pool.shutdown(wait=True)
        if first is not None:
            raise first

    def fetch(self, f):
        if self.stop.is_set():
            raise Stopped()
        if f.xet and self.use_xet:
            return with_retries("downloading %s" % f.path, lambda: self.fetch_xet(f), self.stop)
        return with_retries("downloading %s" % f.path, lambda: self.fetch_http(f), self.stop)

    def adopt(self, f, final):
        """A file already at its path with the right size but no record (put there by another tool, or
        by an attempt killed between the rename and the record): kept if it hashes to the hub's checksum."""
        try:
            st = os.stat(final)
        except OSError:
            return False
        if not stat.S_ISREG(st.st_mode) or st.st_size != f.size:
            return False
        h = f.hasher()
        with open(final, "rb") as fh:
            while True:
                if self.stop.is_set():
                    raise Stopped()
                block = fh.read(HASH_BLOCK)
                if not block:
                    break
                h.update(block)
        if h.hexdigest() != f.expected_digest() or os.stat(final).st_mtime_ns != st.st_mtime_ns:
            return False
        self.journal.add(f, st)
        f.have, f.done = f.size, True
        with self.dirs_lock:
            self.adopted += 1
            self.adopted_bytes += f.size
        return True

    def fetch_http(self, f):
        final, part = self.local_path(f), self.partial_path(f)
        if self.adopt(f, final):
            return
        self.makedirs(os.path.dirname(part))
        url = self.hf.hf_hub_url(self.repo, f.path, revision=self.commit)
        for attempt in (1, 2):
            try:
                offset = os.path.getsize(part)
            except OSError:
                offset = 0
            if offset > f.size:
                offset = 0
            sink = None
            h = f.hasher()
            with open(part, "r+b" if offset else "wb") as fh:
                if offset:
                    # Resume: the part on disk is hashed first, then the rest is appended.
                    left = offset
                    while left > 0:
                        block = fh.read(min(HASH_BLOCK, left))
                        if not block:
                            break
                        h.update(block)
                        left -= len(block)
                    fh.seek(offset)
                    fh.truncate()
                f.have = offset
                sink = Sink(fh, f, h, self.stop)
                if offset == 0 and f.size <= SMALL_FILE:
                    self.get_small(url, sink, f)
                elif offset < f.size:
                    self.hf.http_get(url, sink, resume_size=offset, headers=dict(self.headers), expected_size=f.size)
                fh.flush()
                os.fsync(fh.fileno())
            if sink.h.hexdigest() == f.expected_digest():
                break
            os.remove(part)
            f.have = 0
            what = "sha256" if f.sha256 else "git blob sha1"
            if attempt == 1:
                say("%s does not match the hub's %s%s: downloading it again" % (
                    f.path, what, " (the partial file of an earlier attempt was damaged)" if offset else ""))
                continue
            raise Failure(EXIT_VERIFY, "verification failed: %s downloaded twice and twice its %s differs from"
                          " the hub's %s" % (f.path, what, f.expected_digest()))
        self.makedirs(os.path.dirname(final))
        if os.path.isdir(final) and not os.path.islink(final):
            raise Failure(EXIT_OTHER, "cannot put %s in place: %s is a directory" % (f.path, final))
        os.replace(part, final)
        self.journal.add(f, os.stat(final))
        f.done = True

    def get_small(self, url, sink, f):
        """A small file in one request: straight from the hub when it answers 200 (Direct), otherwise
        through the client's session without http_get's streaming machinery (a progress bar, a retry
        context, a copy of the headers for each file): the same redirects, errors and retries."""
        if self.direct is not None:
            data = self.direct.get(url, f.size)
            if data is not None:
                sink.write(data)
                return
        r = self.hf.get_session().get(url, headers=self.headers, timeout=self.download_timeout)
        self.hf.hf_raise_for_status(r)
        data = r.content
        if len(data) != f.size:
            raise OSError("Consistency check failed: %s should be of size %d but has size %d" % (
                f.path, f.size, len(data)))
        sink.write(data)

    def fetch_xet(self, f):
        self.hf.hf_hub_download(self.repo, f.path, revision=self.commit, local_dir=self.target,
                                token=self.token or False, etag_timeout=self.etag_timeout)
        final = self.local_path(f)
        st = os.stat(final)
        if st.st_size != f.size:
            raise Failure(EXIT_VERIFY, "verification failed: %s has %d bytes, the hub says %d" % (
                f.path, st.st_size, f.size))
        self.makedirs(os.path.dirname(final))
        self.journal.add(f, st)
        f.have, f.done = f.size, True


class Direct:
    """Small files straight from the hub over the standard library's keep-alive connections, one per
    worker thread: a tenth of the CPU of the client's own HTTP stack for each request, which is what
    bounds a repository of many small files. Only for a plain 200 answer of the hub itself, in full,
    uncompressed: anything else (a redirect, an error, a proxy to go through, a TLS failure, a closed
    connection) returns None and the file is fetched through huggingface_hub's session as usual."""

    def __init__(self, scheme, host, port, headers, timeout):
        self.scheme, self.host, self.port, self.timeout = scheme, host, port, timeout
        self.headers = dict(headers)
        self.headers["Accept-Encoding"] = "identity"
        self.local = threading.local()
        self.failures = 0
        self.ssl = None

    @classmethod
    def for_endpoint(cls, endpoint, headers, timeout):
        if env("MSWS_DIRECT", "1") == "0":
            return None
        try:
            u = urllib.parse.urlsplit(endpoint)
            host, port = u.hostname, u.port
        except ValueError:
            return None
        if u.scheme not in ("http", "https") or not host:
            return None
        proxies = urllib.request.getproxies()
        if (proxies.get(u.scheme) or proxies.get("all")) and not urllib.request.proxy_bypass(host):
            return None
        return cls(u.scheme, host, port, headers, timeout)

    def connection(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            if self.scheme == "https":
                if self.ssl is None:
                    # OpenSSL's default paths, SSL_CERT_FILE and SSL_CERT_DIR: what the client trusts on Linux.
                    self.ssl = ssl.create_default_context()
                c = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.ssl)
            else:
                c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.local.conn = c
        return c

    def drop(self):
        c = getattr(self.local, "conn", None)
        self.local.conn = None
        if c is not None:
            c.close()

    def get(self, url, size):
        """The file's bytes, or None."""
        if self.failures >= 8:  # this hub does not suit: stop trying
            return None
        u = urllib.parse.urlsplit(url)
        if u.hostname != self.host or u.port != self.port or u.scheme != self.scheme:
            return None
        path = u.path + ("?" + u.query if u.query else "")
        try:
            c = self.connection()
            c.request("GET", path, headers=self.headers)
            r = c.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException, ValueError):
            self.drop()
            self.failures += 1
            return None
        if r.will_close:
            self.drop()
        if (r.status != 200 or len(body) != size
                or (r.getheader("Content-Encoding") or "identity").lower() != "identity"):
            return None
        return body


def fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def hf_headers(hf, token):
    return hf.build_hf_headers(token=token or False, library_name="msws")


def backend_of(hf):
    """hf_xet's version when huggingface_hub would use it (installed, not disabled), else None."""
    if os.environ.get("HF_HUB_DISABLE_XET", "").strip().lower() in ("1", "true", "yes", "on"):
        return None
    if hf.is_xet_available is None or not hf.is_xet_available():
        return None
    try:
        import importlib.metadata as md
        return md.version("hf_xet")
    except Exception:  # noqa: BLE001
        return "?"


# ---------------------------------------------------------------------------------------- progress
PROGRESS_PREFIX = "msws-progress "
RATE_WINDOW = 30.0


def duration(s):
    s = int(round(s))
    if s >= 3600:
        return "%dh%02dm" % (s // 3600, s % 3600 // 60)
    if s >= 60:
        return "%dm%02ds" % (s // 60, s % 60)
    return "%ds" % s


def progress_line(have, total, rate, eta, done, files):
    """One progress line: `key=value` fields for msws (render/download.rs parse_progress), then after
    ` | ` the same in words."""
    pct = (have * 100 // total) if total else 100
    left = "done" if have >= total else ("%s left" % duration(eta)) if eta is not None else "time left unknown"
    words = "%s of %s (%d%%), %s/s, %s" % (human(have), human(total), pct, human(rate), left)
    return "%sbytes=%d total=%d rate=%dB/s eta=%s files=%d/%d | %s" % (
        PROGRESS_PREFIX, have, total, int(rate), ("%ds" % int(round(eta))) if eta is not None else "-",
        done, files, words)


class Progress(threading.Thread):
    """Prints a progress line every `interval` seconds while the files come in (when something changed,
    or at least every minute), and a last one when they are all in place."""

    def __init__(self, transfer, interval):
        super().__init__(daemon=True)
        self.t, self.interval = transfer, interval
        self.total = sum(f.size for f in transfer.files)
        self.stop = threading.Event()
        self.samples = collections.deque()
        self.start_bytes = self.have()
        self.t0 = time.monotonic()

    def have(self):
        n = sum(f.have for f in self.t.files)
        if self.t.use_xet:
            # hf_xet writes into huggingface_hub's own temporary file: count its allocated blocks.
            for dirpath, _, filenames in os.walk(os.path.join(self.t.target, HF_STAGING)):
                for fn in filenames:
                    if fn.endswith(".incomplete"):
                        try:
                            n += os.stat(os.path.join(dirpath, fn)).st_blocks * 512
                        except OSError:
                            pass
        return min(n, self.total)

    def line(self, final=False):
        now, have = time.monotonic(), self.have()
        done = sum(1 for f in self.t.files if f.done)
        if final:
            elapsed = max(now - self.t0, 1e-6)
            rate, eta = (have - self.start_bytes - self.t.adopted_bytes) / elapsed, 0
        else:
            self.samples.append((now, have))
            while len(self.samples) > 2 and now - self.samples[0][0] > RATE_WINDOW:
                self.samples.popleft()
            (t_old, b_old) = self.samples[0]
            rate = (have - b_old) / (now - t_old) if now > t_old else 0.0
            eta = (self.total - have) / rate if rate > 0 else None
        return progress_line(have, self.total, max(rate, 0.0), eta, done, len(self.t.files))

    def run(self):
        print(self.line(), flush=True)
        last_have, last_print = self.samples[-1][1], time.monotonic()
        while not self.stop.wait(self.interval):
            text = self.line()
            have = self.samples[-1][1]
            if have != last_have or time.monotonic() - last_print >= 60:
                print(text, flush=True)
                last_have, last_print = have, time.monotonic()


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


def with_retries(what, fn, stop=None):
    tries = max(1, int(env("MSWS_HUB_TRIES", "5")))
    delay = float(env("MSWS_RETRY_SECONDS", "2"))
    for attempt in range(1, tries + 1):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001
            if attempt == tries or not is_transient(e) or (stop is not None and stop.is_set()):
                raise
            say("%s failed (%s: %s), retrying in %gs (%d/%d)" % (
                what, type(e).__name__, first_line(e), delay, attempt, tries - 1))
            if stop is not None:
                if stop.wait(delay):
                    raise
            else:
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
    # hf_xet's mode for a machine that does nothing else: more parallel range requests, larger buffers.
    os.environ.setdefault("HF_XET_HIGH_PERFORMANCE", "1")
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


def client():
    """The parts of huggingface_hub this script uses, or a Failure naming what is missing."""
    try:
        import huggingface_hub
        import huggingface_hub.constants as hf_constants
        import huggingface_hub.file_download as file_download
        import huggingface_hub.utils as hf_utils
    except ImportError as e:
        raise Failure(EXIT_OTHER, "huggingface_hub is not installed (%s)" % e)
    version = huggingface_hub.__version__
    try:
        if tuple(int(x) for x in version.split(".")[:2]) < (0, 24):
            raise Failure(EXIT_OTHER, "huggingface_hub %s is too old (need >= 0.24)" % version)
    except ValueError:
        pass
    # http_get hands over what it received in pieces of this size (10 MiB by default): data still in memory
    # when a pod is killed is lost to the resume, and progress moves by it.
    if hasattr(hf_constants, "DOWNLOAD_CHUNK_SIZE"):
        hf_constants.DOWNLOAD_CHUNK_SIZE = CHUNK
    return types.SimpleNamespace(
        version=version,
        HfApi=huggingface_hub.HfApi,
        hf_hub_url=huggingface_hub.hf_hub_url,
        hf_hub_download=huggingface_hub.hf_hub_download,
        http_get=file_download.http_get,
        endpoint=getattr(hf_constants, "ENDPOINT", None) or "https://huggingface.co",
        build_hf_headers=hf_utils.build_hf_headers,
        get_session=hf_utils.get_session,
        hf_raise_for_status=hf_utils.hf_raise_for_status,
        # What hf_hub_download itself asks before it uses Xet.
        is_xet_available=getattr(file_download, "is_xet_available", None) or getattr(
            hf_utils, "is_xet_available", None),
    )


def workers():
    try:
        n = int(env("MSWS_DOWNLOAD_WORKERS", str(DEFAULT_WORKERS)))
    except ValueError:
        raise Failure(EXIT_OTHER, "MSWS_DOWNLOAD_WORKERS must be a whole number, got %r" % env(
            "MSWS_DOWNLOAD_WORKERS"))
    return max(1, min(n, 128))


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

    hf = client()
    say("huggingface_hub %s, python %s" % (hf.version, sys.version.split()[0]))

    api = hf.HfApi(token=token or False)
    info = with_retries("asking %s for %s@%s" % (endpoint_for_display(), repo, revision),
                        lambda: api.model_info(repo, revision=revision, token=token or False))
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

    # Download the resolved commit, not the branch: the files match the commit in the marker even if the
    # branch moves meanwhile.
    files = list_files(api, repo, commit, token)
    total = sum(f.size for f in files)
    say("%d files, %s in total:" % (len(files), human(total)))
    for f in files[:LIST_LIMIT]:
        say("  %10s  %s" % (human(f.size), f.path))
    if len(files) > LIST_LIMIT:
        say("  ... and %d more files" % (len(files) - LIST_LIMIT))

    xet = backend_of(hf)
    n_xet = sum(1 for f in files if f.xet)
    transfer = Transfer(hf, repo, commit, target, token, files, workers(), bool(xet and n_xet))
    in_place, in_place_bytes, partials, partial_bytes = transfer.prepare()
    if in_place:
        say("%d of %d files (%s) already in place from an earlier attempt" % (in_place, len(files),
                                                                               human(in_place_bytes)))
    if partials:
        say("resuming %d partial file(s) of an earlier attempt: %s already on disk" % (partials,
                                                                                      human(partial_bytes)))
    say("transfer: %d file(s) at once over HTTP, resumable%s%s" % (transfer.workers, (
        "; small files over keep-alive connections to %s" % transfer.direct.host) if transfer.direct else "", (
        "; hf_xet %s for the %d Xet-stored file(s)" % (xet, n_xet)) if xet and n_xet else (
        "; hf_xet %s installed, no Xet-stored files here" % xet) if xet else (
        "; %d Xet-stored file(s) over HTTP (hf_xet is not installed)" % n_xet) if n_xet else ""))
    try:
        free = shutil.disk_usage(target).free
        left = total - in_place_bytes - partial_bytes
        if left and free < left:
            say("warning: only %s free on the volume for %s still to download" % (human(free), human(left)))
    except OSError:
        pass

    interval = float(env("MSWS_PROGRESS_SECONDS", "15"))
    progress = Progress(transfer, interval) if interval > 0 else None
    if progress:
        progress.start()
    t0 = time.time()
    try:
        transfer.run()
    finally:
        if progress:
            progress.stop.set()
            progress.join()
    elapsed = time.time() - t0
    if progress:
        print(progress.line(final=True), flush=True)
    if transfer.adopted:
        say("kept %d file(s) that were already there with the hub's checksum" % transfer.adopted)
    fetched = total - in_place_bytes - partial_bytes - transfer.adopted_bytes
    say("downloaded %s in %.1fs (%s/s)%s" % (human(fetched), elapsed, human(fetched / max(elapsed, 1e-6)), (
        "; %s were already on disk" % human(total - fetched)) if total > fetched else ""))

    if not os.path.isfile(config):
        raise Failure(EXIT_VERIFY, "verification failed: %s@%s has no config.json at the top of the repository"
                      " (is it a model repository with transformers weights?)" % (repo, revision))
    files_n, size = count_files(target)
    record = {
        "source": source,
        "repo": repo,
        "revision": revision,
        "commit": commit,
        "files": files_n,
        "bytes": size,
        "completed_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    write_marker(target, record)
    say("verified config.json and every file's checksum; %d files, %s in %s; marker %s written" % (
        files_n, human(size), target, MARKER))
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
