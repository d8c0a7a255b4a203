"""The :class:`Task` base class and the one registry of problem-file tasks.

A task (``task = "fit"`` in a problem file) is one subclass of :class:`Task`, registered with
:func:`register`. The class says which tables and keys the task takes, validates its own part
of the file (``[dictionary]`` or ``[network]``, and what it forbids in ``[model]``,
``[solver]`` and ``[verify]``), checks its arrays after loading, gives the feature count of the
memory estimate, runs the problem into a batch record, and fills its cell of the summary
table. The problem-file parser (:mod:`nnlasso.spec`), the batch runner (:mod:`nnlasso.batch`)
and the command line read every task-specific fact from here.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, ClassVar

import numpy as np

from ..spec.schema import (DictionarySpec, MAX_DICTIONARY, NetworkSpec, ProblemData,
                           ProblemFileError, ProblemSpec, _DICT_KEYS)
from ..spec.tables import _Table


class Task(ABC):
    """One kind of problem (a value of ``task``); subclasses set the class attributes.

    Attributes
    ----------
    name : str
        The value of ``task`` in a problem file.
    penalized : bool
        The program is a penalized lasso of the targets (lam or lam_ratio required, the loss
        encodes Y, a squared loss makes it a QP, the native solver may run it).
    dictionary_kinds : tuple of str
        The ``[dictionary] kind`` values accepted; empty if the task takes no dictionary.
    dictionary_required : bool
        ``[dictionary]`` is always built (with defaults when the table is absent).
    certificates : tuple of str
        The ``[verify] certificate`` values accepted; the default is ``default_certificate``.
    npz_arrays, npz_required : tuple of str
        Array names allowed / required in an npz data file; ``npz_rows`` the one that sets N.
    model_forbids : dict
        ``[model]`` keys the task refuses, with the message.
    """

    name: ClassVar[str] = ""
    penalized: ClassVar[bool] = True
    dictionary_kinds: ClassVar[tuple[str, ...]] = ()
    dictionary_required: ClassVar[bool] = False
    certificates: ClassVar[tuple[str, ...]] = ("none", "dictionary")
    default_certificate: ClassVar[str] = "dictionary"
    npz_arrays: ClassVar[tuple[str, ...]] = ("X", "Y")
    npz_required: ClassVar[tuple[str, ...]] = ("X", "Y")
    npz_rows: ClassVar[str] = "X"
    model_forbids: ClassVar[dict[str, str]] = {
        "eps": "only compress problems take eps (remove it)"}

    # ---- parsing (pure) ------------------------------------------------------------------

    def parse_structure(self, file: str, top: _Table
                        ) -> tuple[DictionarySpec | None, NetworkSpec | None]:
        """The ``[dictionary]`` / ``[network]`` tables: (dictionary, network)."""
        if top.has("network"):
            raise top.error("network", "only compress problems take a network (remove "
                                       "[network] or set task = \"compress\")")
        if not (top.has("dictionary") or self.dictionary_required):
            return None, None
        dc = _Table(file, "dictionary", top.table.get("dictionary", {}), _DICT_KEYS)
        return DictionarySpec(
            kind=dc.str("kind", "data", choices=self.dictionary_kinds),
            size=dc.int("size", 2000, 1, MAX_DICTIONARY,
                        fix="use a few hundred to a few thousand neurons"),
            seed=dc.int("seed", 0, 0, 2**63 - 1)), None

    def check_model(self, mt: _Table, loss: str, lam: float | None, lam_ratio: float | None,
                    eps: float) -> None:
        """Task-specific checks of ``[model]`` after its keys are read."""

    def check_verify(self, vt: _Table, reduce_support: bool) -> None:
        """Task-specific checks of ``[verify]``."""

    # ---- data and memory -----------------------------------------------------------------

    def check_arrays(self, spec: ProblemSpec, fld: str, X: np.ndarray | None,
                     Phi: np.ndarray | None) -> None:
        """Checks of the loaded arrays that depend on the task (before the network)."""

    def ratio_features(self, spec: ProblemSpec, X: np.ndarray | None,
                       Phi: np.ndarray | None) -> np.ndarray | None:
        """The features whose lam_max turns ``lam_ratio`` into lam when the problem runs
        (validation refuses lam_max = 0 on them); None: the task has no such lam_max."""
        return None

    def check_lam_ratio(self, spec: ProblemSpec, X: np.ndarray | None, Y: np.ndarray | None,
                        Phi: np.ndarray | None, extra: dict[str, Any]) -> None:
        """Compute the lam_max(s) that ``lam_ratio`` becomes lam against when the problem runs
        (:func:`nnlasso.shallow.checked_lam_max`), raising its ``ZeroLamMaxError`` when one is
        numerically zero (the error then names :meth:`zero_lam_max_fix`). Default: the lam_max
        of :meth:`ratio_features` with the file's targets, loss and skip."""
        from ..affine import skip_argument
        from ..shallow import checked_lam_max
        feats = self.ratio_features(spec, X, Phi) if self.penalized and Y is not None else None
        if feats is not None:
            checked_lam_max(feats, Y, spec.model.loss, skip_argument(spec.model.skip, X))

    def zero_lam_max_fix(self, spec: ProblemSpec) -> str:
        """The fix named when :meth:`check_lam_ratio` finds lam_max = 0."""
        if spec.model.loss == "squared":
            return "give lam directly (any lam > 0 then gives V = 0, the affine fit)"
        return 'set skip = "intercept" or false, or give lam directly'

    def load_extra(self, spec: ProblemSpec, d: int, max_memory: int | None) -> dict[str, Any]:
        """Extra inputs read after the data (a network): ProblemData fields, plus D and K."""
        return {}

    def feature_count(self, spec: ProblemSpec, N: int, d: int, K: int | None) -> int:
        """Effective number of feature columns of the memory estimate."""
        if spec.dictionary is None:
            return int(K or 1)
        kind, size = spec.dictionary.kind, spec.dictionary.size
        if kind == "knots":
            return N + 1
        if kind in ("patterns", "gated"):
            return 2 * size * (d + 1)
        return size

    def memory_fix(self, spec: ProblemSpec) -> tuple[str, str]:
        """(field, fix) named when the memory estimate is over the cap."""
        if spec.dictionary is not None:
            return "dictionary.size", "lower dictionary.size or data.max_samples"
        return "data.max_samples", "set data.max_samples lower"

    # ---- running and reporting -----------------------------------------------------------

    @abstractmethod
    def run(self, spec: ProblemSpec, data: ProblemData, rec: dict) -> dict[str, np.ndarray]:
        """Solve the problem, fill the record ``rec``; return the arrays to save."""

    def neurons_before(self, rec: dict[str, Any]) -> Any:
        """The first number of the summary's "neurons -> kept" cell."""
        return rec.get("K_active")

    def neurons_text(self, rec: dict[str, Any], fmt: Callable[[Any], str]) -> str:
        """The neurons of ``nnlasso solve``'s report (``rec["K_dictionary"]`` is set)."""
        return (f"dictionary {rec['K_dictionary']}, active {fmt(rec['K_active'])} -> reduced "
                f"{fmt(rec['K_reduced'])}")

    def describe(self, data: ProblemData) -> str:
        """The size part of ``nnlasso check``'s line."""
        return f", K = {data.K}"


#: the registry: task name -> the task (in the order listed in messages)
TASKS: dict[str, Task] = {}


def register(cls: type[Task]) -> type[Task]:
    """Class decorator: add one instance of ``cls`` to :data:`TASKS` under ``cls.name``."""
    if not cls.name or cls.name in TASKS:
        raise ValueError(f"task name {cls.name!r} is empty or already registered")
    TASKS[cls.name] = cls()
    return cls


def get_task(name: str | None) -> Task:
    """The registered task called ``name``; a plain :class:`Task` for an unknown name."""
    return TASKS.get(name) or _DEFAULT


class _UnregisteredTask(Task):
    """Stands for a task name that is not registered: only its reporting methods are used
    (``parse_problem`` refuses the name before anything runs)."""

    def run(self, spec: ProblemSpec, data: ProblemData, rec: dict) -> dict[str, np.ndarray]:
        raise ProblemFileError(spec.file, "task", f"{spec.task!r} is not a registered task; "
                               f"use one of {sorted(TASKS)}")


_DEFAULT = _UnregisteredTask()
