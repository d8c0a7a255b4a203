"""Safe file reading: regular files only, size caps, data paths inside the problem's folder."""
from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
import tomllib
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .schema import MAX_DATA_FILE_BYTES, MAX_FILE_BYTES, ProblemFileError, ProblemSpec
from .tables import _check_relpath
from .parse import parse_problem

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


def _kind_of(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _os_error(display: str, fieldname: str, what: str, exc: OSError) -> ProblemFileError:
    if exc.errno == errno.ELOOP:
        return ProblemFileError(display, fieldname, f"{what} is a symbolic link loop (too many "
                                                    "levels of links; point it at a real file)")
    return ProblemFileError(display, fieldname, f"cannot read {what} ({exc.strerror or exc}; "
                                                "check the path)")


def open_regular(path: str | os.PathLike, *, display: str, fieldname: str, what: str,
                 max_bytes: int) -> io.BufferedReader:
    """Open a regular file for reading, refusing every other kind of file *before* reading.

    Directories, FIFOs, devices (``/dev/zero``, ``/dev/urandom``), sockets and symbolic link
    loops are refused by type (:func:`os.stat`, ``S_ISREG``); the file is opened non-blocking
    (opening a FIFO never waits) and its type checked again on the open descriptor, so a file
    swapped between the two checks is refused too. Files larger than ``max_bytes`` are refused.

    Raises
    ------
    ProblemFileError
        ``display: fieldname: ...`` naming what the path is and what to give instead.
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _os_error(display, fieldname, what, exc) from None
    for attempt in (st, None):
        if attempt is None:
            try:
                fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                             | getattr(os, "O_CLOEXEC", 0))
            except OSError as exc:
                raise _os_error(display, fieldname, what, exc) from None
            try:
                attempt = os.fstat(fd)
            except OSError as exc:
                os.close(fd)
                raise _os_error(display, fieldname, what, exc) from None
        else:
            fd = None
        if not stat.S_ISREG(attempt.st_mode):
            if fd is not None:
                os.close(fd)
            raise ProblemFileError(display, fieldname,
                                   f"{what} is {_kind_of(attempt.st_mode)}, not a regular file "
                                   "(give the path of an ordinary file)")
        if attempt.st_size > max_bytes:
            if fd is not None:
                os.close(fd)
            raise ProblemFileError(display, fieldname,
                                   f"{what} is {attempt.st_size} bytes, over the limit of "
                                   f"{max_bytes} bytes ({_SIZE_FIX.get(fieldname, 'give a smaller file')})")
    if getattr(os, "O_NONBLOCK", 0):
        os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


_SIZE_FIX = {"file": "problem files are small TOML files; put data in npz/csv files",
             "data.path": "subsample it, or save large data as .npz",
             "network.path": "save the network's arrays only"}


def read_capped(fh: io.BufferedReader, max_bytes: int, *, display: str, fieldname: str,
                what: str) -> bytes:
    """Read at most ``max_bytes + 1`` bytes; refuse the file when there are more."""
    data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ProblemFileError(display, fieldname,
                               f"{what} is over the limit of {max_bytes} bytes "
                               f"({_SIZE_FIX.get(fieldname, 'give a smaller file')})")
    return data


def resolve_data_path(file: str, folder: Path, fieldname: str, raw: str) -> Path:
    """Resolve a data path inside ``folder``; refuse escapes (also through symlinks), symbolic
    link loops, and anything but a regular file (folders, FIFOs, devices) by type."""
    _check_relpath(file, fieldname, raw)
    try:
        base = folder.resolve()
        target = (base / raw).resolve()
    except (OSError, RuntimeError):          # Python < 3.13: RuntimeError on a symlink loop
        raise ProblemFileError(file, fieldname, f"{raw!r} is a symbolic link loop (point it at "
                                                "a real file)") from None
    if not target.is_relative_to(base):
        raise ProblemFileError(file, fieldname, f"path {raw!r} resolves to outside the problem "
                                                "file's folder (through a symlink or '..'); "
                                                "copy the data into that folder")
    try:
        st = os.stat(target)
    except FileNotFoundError:
        raise ProblemFileError(file, fieldname, f"file not found: {raw!r} (relative to "
                                                f"{folder}); check the name") from None
    except OSError as exc:
        raise _os_error(file, fieldname, repr(raw), exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise ProblemFileError(file, fieldname, f"{raw!r} is {_kind_of(st.st_mode)}, not a "
                                                "regular file (give the path of a data file)")
    if st.st_size > MAX_DATA_FILE_BYTES:
        raise ProblemFileError(file, fieldname, f"{raw!r} is larger than "
                                                f"{MAX_DATA_FILE_BYTES >> 30} GiB (subsample it)")
    return target


def read_problem_bytes(path: str | os.PathLike, display: str | None = None) -> bytes:
    """Read a problem file's bytes, raising :class:`ProblemFileError`.

    Only regular files are read (directories, FIFOs, devices and link loops are refused by type
    before opening, see :func:`open_regular`), and at most :data:`MAX_FILE_BYTES` of them.
    """
    display = str(path) if display is None else display
    with open_regular(path, display=display, fieldname="file", what="the problem file",
                      max_bytes=MAX_FILE_BYTES) as fh:
        try:
            return read_capped(fh, MAX_FILE_BYTES, display=display, fieldname="file",
                               what="the problem file")
        except OSError as exc:
            raise _os_error(display, "file", "the problem file", exc) from None


def load_problem(path: str | os.PathLike, *, display: str | None = None,
                 max_memory: int | None = None, raw: bytes | None = None) -> ProblemSpec:
    """Read, parse and validate a problem file; resolve and check its data paths.

    Parameters
    ----------
    path : path-like
        The problem file.
    display : str, optional
        The name used in messages and records (default ``str(path)``).
    max_memory : int, optional
        Memory cap in bytes for the estimate (default :func:`max_memory_default`).
    raw : bytes, optional
        The file's bytes when already read (see :func:`read_problem_bytes`).

    Raises
    ------
    ProblemFileError
    """
    display = str(path) if display is None else display
    if raw is None:
        raw = read_problem_bytes(path, display)
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemFileError(display, "file", f"is not UTF-8 text (byte {exc.start}); save it "
                                                "as UTF-8 TOML") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProblemFileError(display, "toml", f"syntax error: {exc} (fix the TOML syntax)"
                               ) from None
    except RecursionError:
        raise ProblemFileError(display, "toml", "nested too deeply (problem files need at most "
                                                "three levels of tables)") from None
    folder = Path(path).parent
    spec = parse_problem(doc, file=display, folder=folder, sha256=digest, max_memory=max_memory)
    data, network = spec.data, spec.network
    if data.path is not None:
        data = replace(data, resolved=resolve_data_path(display, folder, "data.path", data.path))
    if network is not None:
        network = replace(network, resolved=resolve_data_path(display, folder, "network.path",
                                                              network.path))
    return replace(spec, data=data, network=network)


def _npz_headers(spec: ProblemSpec, path: Path, fieldname: str,
                 text_ok: Sequence[str] = ()) -> dict[str, tuple]:
    """Read (shape, dtype) of every array of an npz file without loading the arrays.

    Object (pickled) arrays are refused; so are non-numeric ones except the names in
    ``text_ok`` (0-d strings such as an MLP's ``out_activation``).
    """
    out: dict[str, tuple] = {}
    try:
        with open_regular(path, display=spec.file, fieldname=fieldname, what="the file",
                          max_bytes=MAX_DATA_FILE_BYTES) as raw, zipfile.ZipFile(raw) as zf:
            for info in zf.infolist():
                name = info.filename
                if not name.endswith(".npy"):
                    raise ProblemFileError(spec.file, fieldname, f"member {name!r} is not a "
                                                                 ".npy array (save with np.savez)")
                with zf.open(info) as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
                    else:
                        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
                out[name[:-4]] = (tuple(shape), dtype)
    except ProblemFileError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ProblemFileError(spec.file, fieldname, f"not a valid .npz file ({exc}); save "
                                                     "arrays with numpy.savez") from None
    for name, (shape, dtype) in out.items():
        if dtype.hasobject:
            raise ProblemFileError(spec.file, fieldname, f"array {name!r} holds Python objects "
                                                         "(pickled data is refused; save numeric "
                                                         "arrays)")
        if name in text_ok and dtype.kind in "US" and len(shape) <= 1:
            continue
        if dtype.kind not in "biuf":
            raise ProblemFileError(spec.file, fieldname, f"array {name!r} has dtype {dtype}; "
                                                         "only real numbers are accepted")
    return out


def _load_npz(spec: ProblemSpec, path: Path, fieldname: str) -> dict[str, np.ndarray]:
    try:
        with open_regular(path, display=spec.file, fieldname=fieldname, what="the file",
                          max_bytes=MAX_DATA_FILE_BYTES) as raw, \
                np.load(raw, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as exc:
        raise ProblemFileError(spec.file, fieldname, f"cannot read arrays ({exc}); save numeric "
                                                     "arrays with numpy.savez") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ProblemFileError(spec.file, fieldname, f"not a valid .npz file ({exc})") from None
