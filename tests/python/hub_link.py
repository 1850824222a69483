#!/usr/bin/env python3
"""hub_link.py - the local Hugging Face Hub stand-in (shared/tools/fake_hf_hub.py) behind a throttled link
that counts what it serves. For the downloader's resume test (tests/it/downloader.rs) and its benchmark
(benches/download.rs).

Why a wrapper and not fake_hf_hub.py itself: that tool is shared and not ours to change, and it lacks
what these need.
  - A link. Its --slow throttles each connection on its own; a link is shared: N parallel downloads get
    1/N of it each, and headers count too. --link BYTES_PER_S puts every byte the hub sends (status
    lines, headers, bodies, of every connection) through one token bucket. --latency MS waits that long
    before answering each request: the round trip to a hub that is not on the same machine.
  - No Nagle. The stand-in writes a response's headers and its body with two send calls; with Nagle's
    algorithm on, a small body then waits for the client's delayed ACK of the headers (40 ms on Linux)
    for every file. Web servers and CDNs set TCP_NODELAY; so does this wrapper.
  - A counter. /_link/stats answers, as JSON, the bytes the hub sent in file bodies (200 and 206 answers
    of /resolve and /cdn-lfs), how many such answers it sent, the Range answers (206) among them, and
    every byte it sent at all. A body cut short by a client that died counts what reached the socket.
  - A fixed repository tree. The stand-in walks a repository and stats every file on every request (to
    notice changes); for a repository of 1000 files that is a thousand stat calls per request, more than
    the request itself costs. --static serves the tree as it was at start: the files must not change
    while it runs (the benchmark and the resume test write their repositories before they start it).
  - Faults. --corrupt NAME serves every file of that name with its first byte changed (size, ETag and
    the listing's checksums as they were), as a broken proxy or disk would. --ignore-range answers Range
    requests with the whole file (200), as some CDNs and proxies do.

The stand-in is imported from the directory named by --tools (default: $MSWS_HF_TOOLS, else
../../../shared/tools beside this file). Usage:
  hub_link.py PORT --root DIR [--link BYTES_PER_S] [--latency MS] [--static] [--corrupt NAME]
              [--ignore-range] [--tools DIR] [--log-file F] [--gated PATTERN] [--token TOKEN] [--no-cdn]
Standard library only.
"""
import argparse
import json
import os
import sys
import threading
import time


class Link:
    """A token bucket shared by every connection: at most `rate` bytes per second, bursts of `burst`."""

    def __init__(self, rate, burst=None):
        self.rate = float(rate)
        self.burst = float(burst or max(16 * 1024, rate // 100))  # 10 ms of the link
        self.tokens = self.burst
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def take(self, n):
        """Reserves n bytes of the link and sleeps until they may be sent (FIFO by reservation)."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            self.tokens -= n
            wait = -self.tokens / self.rate if self.tokens < 0 else 0.0
        if wait > 0:
            time.sleep(wait)


class Counters:
    def __init__(self):
        self.lock = threading.Lock()
        self.body_bytes = 0
        self.bodies = 0
        self.ranges = 0
        self.sent = 0

    def snapshot(self):
        with self.lock:
            return {"body_bytes": self.body_bytes, "bodies": self.bodies, "ranges": self.ranges, "sent": self.sent}


class LinkWriter:
    """The handler's wfile, sending through the link and counting."""

    def __init__(self, raw, link, counters):
        self._raw, self._link, self._counters = raw, link, counters

    def write(self, data):
        view = memoryview(data)
        step = int(self._link.burst) if self._link else len(view) or 1
        for i in range(0, len(view), step):
            piece = view[i:i + step]
            if self._link:
                self._link.take(len(piece))
            self._raw.write(piece)
            with self._counters.lock:
                self._counters.sent += len(piece)
        return len(view)

    def flush(self):
        self._raw.flush()

    def __getattr__(self, name):
        return getattr(self._raw, name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--root", required=True)
    ap.add_argument("--link", type=int, default=0, metavar="BYTES_PER_S", help="shared link speed (0: unlimited)")
    ap.add_argument("--latency", type=float, default=0, metavar="MS", help="wait before each answer")
    ap.add_argument("--static", action="store_true", help="scan each repository once (the files must not change)")
    ap.add_argument("--tools", default=os.environ.get("MSWS_HF_TOOLS") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "tools"))
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--log-file")
    ap.add_argument("--gated", action="append")
    ap.add_argument("--token", action="append")
    ap.add_argument("--no-cdn", action="store_true")
    ap.add_argument("--corrupt", action="append", default=[], metavar="NAME", help="serve NAME damaged")
    ap.add_argument("--ignore-range", action="store_true", help="answer Range requests with 200")
    a = ap.parse_args()

    sys.path.insert(0, os.path.abspath(a.tools))
    import fake_hf_hub as fh  # noqa: E402 - found through --tools

    import logging
    handlers = [logging.FileHandler(a.log_file)] if a.log_file else [logging.NullHandler()]
    logging.basicConfig(level=logging.INFO, handlers=handlers, format="%(asctime)s %(levelname)s %(message)s")

    class StaticHub(fh.Hub):
        def repo(self, repo_id):
            with self._lock:
                hit = self._cache.get(repo_id)
            if hit:
                return hit[1]
            return super().repo(repo_id)

    hub_cls = StaticHub if a.static else fh.Hub
    hub = hub_cls(a.root, a.gated or ["gated/*"], a.token or ["hf_testtoken"], False, 0, not a.no_cdn, None)
    link = Link(a.link) if a.link else None
    counters = Counters()
    base = fh.make_handler(hub)

    damaged = {}
    damaged_lock = threading.Lock()

    def damaged_copy(path):
        with damaged_lock:
            if path not in damaged:
                import tempfile
                with open(path, "rb") as f:
                    data = bytearray(f.read())
                if data:
                    data[0] ^= 0xFF
                fd, copy = tempfile.mkstemp(prefix="hub-link-damaged-")
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                damaged[path] = copy
            return damaged[path]

    class Handler(base):
        disable_nagle_algorithm = True  # see "No Nagle" above

        def _send_file(self, info, filename, extra):
            if filename in a.corrupt:
                info = dict(info, abspath=damaged_copy(info["abspath"]))
            return super()._send_file(info, filename, extra)

        def setup(self):
            super().setup()
            self.wfile = LinkWriter(self.wfile, link, counters)

        def _handle(self):
            if self.path == "/_link/stats":
                body = json.dumps(counters.snapshot()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if a.latency:
                time.sleep(a.latency / 1000.0)
            if a.ignore_range:
                del self.headers["Range"]
            super()._handle()
            if "/resolve/" in self.path or self.path.startswith("/cdn-lfs/"):
                if self._code in (200, 206) and self.command == "GET":
                    with counters.lock:
                        counters.body_bytes += self._sent
                        counters.bodies += 1
                        counters.ranges += self._code == 206

    srv = fh.Server((a.host, a.port), Handler)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown, daemon=True).start())
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    srv.server_close()
    for copy in damaged.values():
        os.remove(copy)


if __name__ == "__main__":
    main()
