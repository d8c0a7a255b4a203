"""The results file's lock: exclusive, non-blocking, held by one open file, on POSIX and Windows.

One batch at a time may append to a results file, and ``read_results`` repairs a cut-off last
line only when no batch holds the file. Both use :func:`try_lock` / :func:`unlock` on an open
file descriptor:

* POSIX (``fcntl`` importable): ``flock(fd, LOCK_EX | LOCK_NB)`` on the whole file. The lock
  belongs to the open file description: a second ``open`` of the same file, in this process or
  another, cannot take it; closing the descriptor releases it (so does the death of the
  process).
* Windows (``msvcrt``): ``msvcrt.locking(fd, LK_NBLCK, 1)`` on the single byte at
  :data:`WINDOWS_LOCK_OFFSET`, far beyond the end of any results file (Windows locks byte ranges,
  and may lock beyond the end of a file). Windows byte-range locks are mandatory: locking the
  records themselves would stop other processes from *reading* them, hence the byte past the
  end; appends, reads and ``read_results`` of other processes are unaffected, and a second
  batch's ``try_lock`` fails as on POSIX. The lock belongs to the handle; :func:`unlock` releases
  it explicitly before the descriptor is closed (Windows releases the locks of a closed handle
  only "eventually"), and the system releases it when the process dies.
* Neither (an unusual platform): no lock, :func:`try_lock` always succeeds (a second batch on
  the same file is then not refused).
"""
from __future__ import annotations

import os

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None  # type: ignore[assignment]

try:
    import msvcrt
except ImportError:  # not Windows
    msvcrt = None  # type: ignore[assignment]

#: the byte locked on Windows: 2**31 - 2, past the end of any results file (the C runtime's
#: _locking takes a 32-bit position)
WINDOWS_LOCK_OFFSET = 2**31 - 2


def backend() -> str:
    """The lock in use: "fcntl" (POSIX), "msvcrt" (Windows) or "none"."""
    if fcntl is not None:
        return "fcntl"
    if msvcrt is not None:
        return "msvcrt"
    return "none"


def _windows_lock(fd: int, mode: int) -> None:
    """msvcrt.locking on the byte at WINDOWS_LOCK_OFFSET; the file position is restored (the
    results file is opened with O_APPEND, so writes go to its end whatever the position)."""
    pos = os.lseek(fd, 0, os.SEEK_CUR)
    os.lseek(fd, WINDOWS_LOCK_OFFSET, os.SEEK_SET)
    try:
        msvcrt.locking(fd, mode, 1)
    finally:
        os.lseek(fd, pos, os.SEEK_SET)


def try_lock(fd: int) -> bool:
    """Take the exclusive lock of the open file ``fd`` without waiting.

    Returns
    -------
    bool
        True when the lock is now held through ``fd`` (or when the platform has no lock),
        False when another open file holds it.
    """
    kind = backend()
    try:
        if kind == "fcntl":
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        elif kind == "msvcrt":
            _windows_lock(fd, msvcrt.LK_NBLCK)
    except OSError:
        return False
    return True


def unlock(fd: int) -> None:
    """Release the lock taken by :func:`try_lock` through ``fd`` (call before closing it; on
    POSIX closing alone releases it too). Errors (the lock was not held) are ignored."""
    kind = backend()
    try:
        if kind == "fcntl":
            fcntl.flock(fd, fcntl.LOCK_UN)
        elif kind == "msvcrt":
            _windows_lock(fd, msvcrt.LK_UNLCK)
    except OSError:
        pass
