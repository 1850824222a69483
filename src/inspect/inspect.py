# msws claim inspector: runs in the short-lived, read-only pod of `msws inspect` (and of the model check of
# `msws plan` and `msws apply`) and describes what is on a PersistentVolumeClaim. Embedded in msws with
# include_str!("inspect.py") and run as the container's command ["python3", "-c", SCRIPT].
# Python 3.9+, standard library only (the image is any stock Python). It only reads: nothing is written
# anywhere, so the claim can be mounted read-only and the root filesystem can be read-only too. Run with
# PYTHONDONTWRITEBYTECODE=1. Tested in tests/it/inspect.rs on real directory trees.
#
# Environment (inputs):
#   MSWS_INSPECT_ROOT   absolute directory where the claim is mounted (required); it is never printed
#   MSWS_INSPECT_DEPTH  directory levels below the claim's root searched for models and listed (default 4)
#   MSWS_INSPECT_LIMIT  most models and directories listed (default 1000); beyond it "truncated" is true
#
# Output: the last line on stdout is either
#   MSWS-INSPECT-RESULT {...}          one JSON document (below), and exit 0, or
#   MSWS-INSPECT-FAILED <short reason> and exit 1.
# Every path in the document is relative to the claim's root ("" is the root itself), joined with "/".
#
# The document: {"format": 1, "depth": D, "files": N, "bytes": N, "models": [...], "dirs": [...],
#   "truncated": bool, "unreadable": [path, ...], "unreadable_count": N}
# - files, bytes: the regular files of the whole claim (symbolic links are never followed);
# - models, sorted by path: a directory at most D levels down that holds a config.json (a regular file,
#   or a link to one inside the claim) is {"path", "layout": "files", "files", "bytes", "weights",
#   "download"}: weights counts its top-level weight files by suffix ({"safetensors": 2}), download is
#   msws's completion marker .msws-download.json read back (source, repo, revision, commit, files, bytes,
#   completed_at) or null. A directory models--ORG--NAME with a snapshots/ directory, at most D levels
#   down, is a Hugging Face hub cache entry: {"path", "layout": "hf-cache", "cache" (the directory that
#   holds it), "repo" ("ORG/NAME"), "files", "bytes", "snapshots": [{"revision", "config", "weights"}],
#   "refs": {"main": COMMIT, ...}}. Nothing inside a model is searched further.
# - dirs, sorted by path: every directory 1 to D levels down that is not inside a model, with its
#   "files" and "bytes" (a model's own directory included);
# - unreadable: the first 20 paths that could not be read (permissions), unreadable_count all of them.
# lost+found at the claim's root (a file system's own) is left out.
import sys

# `python3 -c` puts the working directory first on sys.path: never import from there.
sys.path[:] = [p for p in sys.path if p not in ("", ".")]

import json
import os
import re
import stat

FORMAT = 1
MARKER = ".msws-download.json"
MARKER_KEYS = ("source", "repo", "revision", "commit", "files", "bytes", "completed_at")
WEIGHT_SUFFIXES = ("safetensors", "bin", "gguf", "pt", "pth")
CACHE_PREFIX = "models--"
UNREADABLE_LIMIT = 20
SMALL_READ = 65536


class Failure(Exception):
    pass


def text(name):
    """A name as valid UTF-8 text (undecodable bytes become U+FFFD)."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def join(rel, name):
    return name if rel == "" else rel + "/" + name


class Inspector:
    def __init__(self, root, depth, limit):
        self.root = root
        self.real_root = os.path.realpath(root)
        self.depth = depth
        self.limit = limit
        self.models = []
        self.dirs = []
        self.unreadable = []
        self.unreadable_count = 0

    def path(self, rel):
        return os.path.join(self.root, rel) if rel else self.root

    def cannot_read(self, rel):
        self.unreadable_count += 1
        if len(self.unreadable) < UNREADABLE_LIMIT:
            self.unreadable.append(text(rel))

    def scan(self, rel):
        """The entries of a directory, sorted by name, as (name, kind, size); kind is dir, file, link or
        other; size is a regular file's. None when the directory cannot be read."""
        try:
            with os.scandir(self.path(rel)) as it:
                entries = list(it)
        except OSError:
            self.cannot_read(rel)
            return None
        out = []
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                self.cannot_read(join(rel, e.name))
                continue
            if stat.S_ISDIR(st.st_mode):
                kind = "dir"
            elif stat.S_ISREG(st.st_mode):
                kind = "file"
            elif stat.S_ISLNK(st.st_mode):
                kind = "link"
            else:
                kind = "other"
            out.append((e.name, kind, st.st_size if kind == "file" else 0))
        out.sort(key=lambda x: text(x[0]))
        return out

    def total(self, rel, entries):
        """(files, bytes) of the regular files under a directory, links not followed."""
        files = size = 0
        stack = [(rel, entries)]
        while stack:
            d, ents = stack.pop()
            if ents is None:
                ents = self.scan(d)
                if ents is None:
                    continue
            for name, kind, sz in ents:
                if kind == "file":
                    files += 1
                    size += sz
                elif kind == "dir":
                    stack.append((join(d, name), None))
        return files, size

    def is_file_inside(self, rel):
        """A regular file, or a link that resolves to a regular file inside the claim."""
        p = self.path(rel)
        real = os.path.realpath(p)
        inside = real == self.real_root or real.startswith(self.real_root + os.sep)
        return inside and os.path.isfile(real)

    def has_config(self, rel, entries):
        for name, kind, _ in entries:
            if name == "config.json" and kind in ("file", "link"):
                return kind == "file" or self.is_file_inside(join(rel, name))
        return False

    def read_small(self, rel):
        try:
            with open(self.path(rel), "rb") as f:
                return f.read(SMALL_READ)
        except OSError:
            self.cannot_read(rel)
            return None

    def marker(self, rel, entries):
        if not any(name == MARKER and kind == "file" for name, kind, _ in entries):
            return None
        data = self.read_small(join(rel, MARKER))
        if data is None:
            return None
        try:
            record = json.loads(data.decode("utf-8"))
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        out = {}
        for k in MARKER_KEYS:
            v = record.get(k)
            if isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
                out[k] = v
        return out

    def refs(self, rel):
        """The refs/ of a hub cache entry: {name: commit} (name relative to refs/, as "main" or "pr/1")."""
        out = {}
        stack = [""]
        while stack:
            d = stack.pop()
            ents = self.scan(join(rel, d) if d else rel)
            if ents is None:
                continue
            for name, kind, _ in ents:
                sub = join(d, name)
                if kind == "dir":
                    stack.append(sub)
                elif kind == "file":
                    data = self.read_small(join(rel, sub))
                    if data is not None:
                        out[text(sub)] = data.decode("utf-8", "replace").strip()[:100]
        return out

    def visit(self, rel, level, entries, files_dirs):
        """A directory `level` levels down (the root is 0), already scanned: records it, its models and
        its subdirectories. Returns its (files, bytes)."""
        name = rel.rsplit("/", 1)[-1]
        if self.has_config(rel, entries):
            files, size = self.total(rel, entries)
            self.models.append({
                "path": text(rel), "layout": "files", "files": files, "bytes": size,
                "weights": weights(entries), "download": self.marker(rel, entries),
            })
        elif level > 0 and name.startswith(CACHE_PREFIX) and any(
                n == "snapshots" and k == "dir" for n, k, _ in entries):
            files, size = self.total(rel, entries)
            snapshots = []
            snaps = self.scan(join(rel, "snapshots")) or []
            for sname, kind, _ in snaps:
                if kind != "dir":
                    continue
                srel = join(join(rel, "snapshots"), sname)
                sents = self.scan(srel) or []
                snapshots.append({"revision": text(sname), "config": self.has_config(srel, sents),
                                  "weights": weights(sents)})
            refs = self.refs(join(rel, "refs")) if any(n == "refs" and k == "dir" for n, k, _ in entries) else {}
            self.models.append({
                "path": text(rel), "layout": "hf-cache", "cache": text(rel.rsplit("/", 1)[0] if "/" in rel else ""),
                "repo": text(name[len(CACHE_PREFIX):].replace("--", "/")), "files": files, "bytes": size,
                "snapshots": snapshots, "refs": refs,
            })
        else:
            files = size = 0
            for child, kind, sz in entries:
                if kind == "file":
                    files += 1
                    size += sz
                elif kind == "dir":
                    if level == 0 and child == "lost+found":
                        continue
                    crel = join(rel, child)
                    sub = self.scan(crel)
                    if sub is None:
                        continue
                    if level + 1 <= self.depth:
                        f, b = self.visit(crel, level + 1, sub, files_dirs)
                    else:
                        f, b = self.total(crel, sub)
                    files += f
                    size += b
        if level > 0:
            files_dirs.append({"path": text(rel), "files": files, "bytes": size})
        return files, size

    def run(self):
        if not os.path.isdir(self.root):
            raise Failure("the claim's mount point is not a directory")
        entries = self.scan("")
        if entries is None:
            raise Failure("the claim's root directory cannot be read")
        dirs = []
        files, size = self.visit("", 0, entries, dirs)
        models = sorted(self.models, key=lambda m: m["path"])
        dirs.sort(key=lambda d: d["path"])
        truncated = len(models) > self.limit or len(dirs) > self.limit
        return {
            "format": FORMAT, "depth": self.depth, "files": files, "bytes": size,
            "models": models[:self.limit], "dirs": dirs[:self.limit], "truncated": truncated,
            "unreadable": self.unreadable, "unreadable_count": self.unreadable_count,
        }


def weights(entries):
    """Top-level weight files (or links to them) by suffix."""
    out = {}
    for name, kind, _ in entries:
        if kind not in ("file", "link"):
            continue
        suffix = name.rsplit(".", 1)[-1] if "." in name else ""
        if suffix in WEIGHT_SUFFIXES:
            out[suffix] = out.get(suffix, 0) + 1
    return dict(sorted(out.items()))


def number(name, default, low, high):
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    if not re.match(r"^[0-9]+$", raw) or not low <= int(raw) <= high:
        raise Failure("%s must be a whole number from %d to %d, got %r" % (name, low, high, raw[:40]))
    return int(raw)


def main():
    root = (os.environ.get("MSWS_INSPECT_ROOT") or "").strip()
    try:
        if not root or not os.path.isabs(root):
            raise Failure("MSWS_INSPECT_ROOT must be an absolute directory")
        depth = number("MSWS_INSPECT_DEPTH", 4, 0, 64)
        limit = number("MSWS_INSPECT_LIMIT", 1000, 1, 1000000)
        doc = Inspector(os.path.normpath(root), depth, limit).run()
    except Failure as e:
        print("MSWS-INSPECT-FAILED " + str(e), flush=True)
        return 1
    except BaseException as e:  # noqa: BLE001 - every failure ends in one FAILED line
        # Only the exception's kind and its OS reason: a message could name the mount point.
        reason = getattr(e, "strerror", None) or ""
        print("MSWS-INSPECT-FAILED %s%s" % (type(e).__name__, (": " + reason) if reason else ""), flush=True)
        return 1
    print("MSWS-INSPECT-RESULT " + json.dumps(doc, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
