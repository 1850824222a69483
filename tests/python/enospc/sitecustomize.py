"""Test helper: simulates a full volume for the downloader (tests/it/downloader.rs).

Put this directory on PYTHONPATH and set MSWS_TEST_ENOSPC=1: every file in a `.cache/msws/partial/`
directory (where the downloader streams a file before moving it into place) or whose name ends in
`.incomplete` (where huggingface_hub does) is opened normally, but writing to it fails with ENOSPC as
on a full filesystem. Nothing else changes.
"""
import builtins
import errno
import io
import os

if os.environ.get("MSWS_TEST_ENOSPC") == "1":
    _real_open = io.open

    class _Full:
        def __init__(self, f):
            self._f = f

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), getattr(self._f, "name", None))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()
            return False

        def __iter__(self):
            return iter(self._f)

        def __getattr__(self, name):
            return getattr(self._f, name)

    def _open(file, mode="r", *args, **kwargs):
        f = _real_open(file, mode, *args, **kwargs)
        name = str(os.fspath(file) if not isinstance(file, int) else "")
        if any(m in mode for m in "wax") and (name.endswith(".incomplete") or "/.cache/msws/partial/" in name):
            return _Full(f)
        return f

    io.open = _open
    builtins.open = _open
