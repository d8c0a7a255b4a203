"""Progress reports through the standard :mod:`logging` module.

nnlasso never prints: long-running loops (column generation, the pattern program's working
set) log one line per round to the logger ``"nnlasso"`` (module loggers such as
``"nnlasso.representer"`` are its children). Without ``verbose`` the lines go out at DEBUG,
so they appear only when the application asks for them::

    import logging
    logging.basicConfig()
    logging.getLogger("nnlasso").setLevel(logging.DEBUG)

With ``verbose=True`` they go out at INFO and are shown: through the application's own logging
handlers when it has configured any, otherwise on stderr (a handler attached to ``"nnlasso"``
for the duration of the call). Standard output is never written.
"""
from __future__ import annotations

import contextlib
import logging
import sys
from typing import Iterator

LOGGER_NAME = "nnlasso"

logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())


def _has_handler(log: logging.Logger) -> bool:
    """Whether a record of ``log`` reaches a handler other than a NullHandler."""
    current: logging.Logger | None = log
    while current is not None:
        if any(not isinstance(h, logging.NullHandler) for h in current.handlers):
            return True
        if not current.propagate:
            return False
        current = current.parent  # type: ignore[assignment]
    return False


@contextlib.contextmanager
def progress(log: logging.Logger, verbose: bool) -> Iterator[int]:
    """The level at which ``log`` reports progress during the ``with`` block.

    Parameters
    ----------
    log : logging.Logger
        A logger in the ``"nnlasso"`` hierarchy.
    verbose : bool
        False: yield ``logging.DEBUG`` and change nothing. True: yield ``logging.INFO``; lower
        the ``"nnlasso"`` logger's level to INFO if it is higher and, when no handler would
        receive the records, attach a stderr handler; both are undone on exit.
    """
    if not verbose:
        yield logging.DEBUG
        return
    root = logging.getLogger(LOGGER_NAME)
    old_level = root.level
    handler = None
    if not _has_handler(log):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        root.addHandler(handler)
    if root.getEffectiveLevel() > logging.INFO:
        root.setLevel(logging.INFO)
    try:
        yield logging.INFO
    finally:
        root.setLevel(old_level)
        if handler is not None:
            root.removeHandler(handler)
