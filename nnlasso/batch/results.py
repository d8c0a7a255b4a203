"""The results file: reading (:func:`read_results`), appending, locking."""
from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any, Sequence

from . import filelock
from .records import BatchUsageError

#: flags of the results file's descriptor: O_NONBLOCK (POSIX: a FIFO given as --out must not
#: block the open; it is then refused as not a regular file), O_BINARY (Windows: no newline
#: translation), O_CLOEXEC where they exist
_OPEN_FLAGS = (os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NONBLOCK", 0)
               | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0))


def _split_records(data: bytes) -> tuple[list[dict[str, Any]], int, bytes]:
    """Parse JSON lines: (records, number of bad complete lines, the unterminated tail)."""
    pieces = data.split(b"\n")
    tail = pieces.pop()                         # after the last newline: b"" or a cut-off line
    records, bad = [], 0
    for piece in pieces:
        if not piece.strip():
            continue
        try:
            rec = json.loads(piece.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            rec = None
        if isinstance(rec, dict):
            records.append(rec)
        else:
            bad += 1
    return records, bad, tail


def _is_record(rec: Any) -> bool:
    return isinstance(rec, dict) and "status" in rec and "problem" in rec


def read_results(out: str | os.PathLike, *, repair: bool = True) -> list[dict[str, Any]]:
    """Read a JSONL results file, dropping lines that are not complete JSON objects.

    A run killed while writing can leave a cut-off last line (no newline); with ``repair=True``
    that tail alone is removed in place, so the file stays valid JSONL for the next append, and
    only when no batch holds the file's lock (a running batch may be writing that line).
    Complete lines are never rewritten.
    """
    p = Path(out)
    if not p.exists():
        return []
    if not p.is_file():
        raise BatchUsageError(f"{out}: not a regular file (give a results file)")
    with open(p, "r+b" if repair else "rb") as fh:
        locked = repair and filelock.try_lock(fh.fileno())
        try:
            data = fh.read()
            records, _, tail = _split_records(data)
            if locked and tail.strip():         # (not locked: a batch may be writing that line)
                os.ftruncate(fh.fileno(), len(data) - len(tail))
                os.fsync(fh.fileno())
        finally:
            if locked:
                filelock.unlock(fh.fileno())
    return records


def _read_all(fd: int, size: int) -> bytes:
    """The first ``size`` bytes of the open file ``fd`` (os.pread where it exists; else a
    seek and reads, the position being irrelevant for an O_APPEND descriptor)."""
    if size <= 0:
        return b""
    if hasattr(os, "pread"):
        return os.pread(fd, size, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    chunks, left = [], size
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _free_bytes(folder: str) -> int | None:
    """Free bytes for an unprivileged user on the file system of ``folder`` (None: unknown)."""
    try:
        if hasattr(os, "statvfs"):
            vfs = os.statvfs(folder)
            return vfs.f_bavail * vfs.f_frsize
        return shutil.disk_usage(folder).free
    except OSError:
        return None


class _ResultsFile:
    """The ``--out`` file of a batch: checked, locked, appended to (never truncated).

    Opening it refuses (:class:`BatchUsageError`) a path that is not a regular file (a folder,
    ``/dev/null``, a FIFO), an existing file that is not a results file (its first line is not a
    JSON record: e.g. a problem file), one of the batch's own problem files, a folder that
    cannot be created or written, a full file system, and a file that another batch holds (an
    exclusive lock, :mod:`nnlasso.batch.filelock`: ``flock`` on POSIX, ``msvcrt.locking`` on
    Windows, kept until :meth:`close`). A cut-off last line left by a
    killed run is removed; nothing else of the file is ever changed.
    """

    #: refuse to start when the results file's file system has less free space than this
    MIN_FREE = 1 << 20

    def __init__(self, out: str | os.PathLike, problem_files: Sequence[str]) -> None:
        self.name = os.fspath(out)
        name = self.name
        try:
            st = os.stat(name)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise BatchUsageError(f"--out: {name}: {exc.strerror or exc} (give a results file "
                                  "name)") from None
        if st is not None and not stat.S_ISREG(st.st_mode):
            from ..spec.files import _kind_of
            raise BatchUsageError(f"--out: {name} is {_kind_of(st.st_mode)}, not a regular file "
                                  "(give a results file name, e.g. results.jsonl)")
        parent = os.path.dirname(os.path.abspath(name))
        try:
            os.makedirs(parent, exist_ok=True)
        except OSError as exc:
            raise BatchUsageError(f"--out: cannot create the folder {parent} "
                                  f"({exc.strerror or exc}; a part of the path is a file or not "
                                  "writable)") from None
        try:
            self.fd = os.open(name, _OPEN_FLAGS, 0o644)
        except OSError as exc:
            raise BatchUsageError(f"--out: cannot write {name} ({exc.strerror or exc}; choose "
                                  "a writable place)") from None
        self.locked = False
        try:
            self._check(problem_files, parent)
        except BaseException:
            self.close()
            raise

    def _check(self, problem_files: Sequence[str], parent: str) -> None:
        name, fd = self.name, self.fd
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BatchUsageError(f"--out: {name} is not a regular file (give a results file)")
        for f in problem_files:
            try:
                fst = os.stat(f)
            except OSError:
                continue
            if (fst.st_dev, fst.st_ino) == (st.st_dev, st.st_ino):
                raise BatchUsageError(f"--out: {name} is one of the problem files (give "
                                      "another results file name)")
        if not filelock.try_lock(fd):
            raise BatchUsageError(f"--out: {name} is in use by another nnlasso batch (wait for "
                                  "it to finish, or give another --out)") from None
        self.locked = True
        if getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        data = _read_all(fd, st.st_size)
        records, bad, tail = _split_records(data)
        first = next((ln for ln in data.split(b"\n")[:-1] if ln.strip()), None)
        if first is not None:
            try:
                ok = _is_record(json.loads(first.decode("utf-8")))
            except (UnicodeDecodeError, json.JSONDecodeError):
                ok = False
            if not ok:
                raise BatchUsageError(f"--out: {name} exists and is not an nnlasso results file "
                                      "(its first line is not a JSON record); refusing to "
                                      "append to it: give another --out")
        if tail.strip() and not tail.lstrip().startswith(b"{"):
            raise BatchUsageError(f"--out: {name} exists and is not an nnlasso results file; "
                                  "refusing to append to it: give another --out")
        free = _free_bytes(parent)
        if free is not None and free < self.MIN_FREE:
            raise BatchUsageError(f"--out: the file system of {parent} is full ({free} bytes "
                                  "free); free some space or write elsewhere")
        if tail.strip():                        # a record cut off by a killed run
            os.ftruncate(fd, len(data) - len(tail))
            os.fsync(fd)
        self.records = records

    def append(self, rec: dict[str, Any]) -> None:
        """Append one record (one line), flushed to disk."""
        data = (json.dumps(rec, allow_nan=False) + "\n").encode("utf-8")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view):]
            os.fsync(self.fd)
        except OSError as exc:
            raise BatchUsageError(f"--out: writing {self.name} failed ({exc.strerror or exc}); "
                                  "the records written so far are kept: free space and run "
                                  "again with --resume") from None

    def close(self) -> None:
        if self.fd >= 0:
            if self.locked:
                filelock.unlock(self.fd)        # (on POSIX closing alone would release it)
                self.locked = False
            os.close(self.fd)
            self.fd = -1
