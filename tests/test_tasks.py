"""The task registry (nnlasso.tasks): one class per task, read by spec, batch and the CLI."""
from __future__ import annotations

import numpy as np
import pytest

import nnlasso.spec as spec
from nnlasso.batch import run_problem
from nnlasso.cli import format_table
from nnlasso.spec import ProblemFileError, load_data, load_problem
from nnlasso.tasks import TASKS, Task, get_task, register

LASSO = """schema = 1
task = "{task}"

[data]
source = "synthetic"
generator = "relu_teacher"
params = {{ n = 40, d = 2, seed = 3 }}

[dictionary]
kind = "sphere"
size = 60
seed = 1

[model]
lam_ratio = 0.1
{extra}
"""


class RidgeFeatures(Task):
    """A task written for the test: a ridge fit over the sampled features, in closed form."""

    name = "ridge-test"
    dictionary_kinds = ("sphere",)
    certificates = ("none",)
    default_certificate = "none"

    def run(self, spec_, data, rec):
        import nnlasso as nl
        dic = nl.sample_neurons(data.X, spec_.dictionary.size, method="sphere",
                                seed=spec_.dictionary.seed)
        Phi, Y = dic.features(data.X), data.Y
        lam = spec_.model.lam_ratio
        V = np.linalg.solve(Phi.T @ Phi + lam * np.eye(Phi.shape[1]), Phi.T @ Y)
        R = Y - Phi @ V
        rec.update(status="optimal", D=Y.shape[1], K_dictionary=Phi.shape[1],
                   K_active=Phi.shape[1], K_reduced=Phi.shape[1], loss="squared", lam=lam,
                   objective=0.5 * float(np.sum(R**2)) + 0.5 * lam * float(np.sum(V**2)))
        return {"V": V}

    def neurons_before(self, rec):
        return rec.get("K_dictionary")


def test_the_registry_holds_the_three_tasks_in_order():
    assert list(TASKS) == ["fit", "lasso", "compress"] == list(spec.TASKS)
    assert all(isinstance(t, Task) and t.name == n for n, t in TASKS.items())
    assert get_task("lasso") is TASKS["lasso"]
    unknown = get_task("no-such-task")                    # records of invalid files
    assert isinstance(unknown, Task) and unknown.name not in TASKS


def test_a_task_without_a_runner_cannot_be_registered():
    class NoRunner(Task):
        name = "no-runner"
    with pytest.raises(TypeError, match="abstract"):
        register(NoRunner)
    assert "no-runner" not in TASKS


def test_register_refuses_a_duplicate_name():
    class Again(Task):
        name = "lasso"
    with pytest.raises(ValueError, match="already registered"):
        register(Again)
    assert type(TASKS["lasso"]).__name__ == "LassoTask"


def test_a_new_task_is_one_class(tmp_path, monkeypatch):
    """Registering one class makes the task known to the parser (choices, its own tables and
    keys), to the batch runner and to the summary table; its runner's result is checked
    against the normal equations written here."""
    monkeypatch.setitem(TASKS, RidgeFeatures.name, RidgeFeatures())
    assert "ridge-test" in spec.TASKS
    p = tmp_path / "r.toml"
    p.write_text(LASSO.format(task="ridge-test", extra=""))
    rec = run_problem(p)
    assert rec["status"] == "optimal", rec["error"]
    assert rec["task"] == "ridge-test" and rec["K_dictionary"] == 60
    # the task's own rules apply: its dictionary kinds, its certificates, no eps
    p.write_text(LASSO.format(task="ridge-test", extra="").replace('"sphere"', '"data"'))
    with pytest.raises(ProblemFileError, match="dictionary.kind: unknown value 'data'"):
        load_problem(p)
    p.write_text(LASSO.format(task="ridge-test", extra="[verify]\ncertificate = \"dictionary\""))
    with pytest.raises(ProblemFileError, match="not available for task = 'ridge-test'"):
        load_problem(p)
    p.write_text(LASSO.format(task="ridge-test", extra="eps = 0.1"))
    with pytest.raises(ProblemFileError, match="model.eps: only compress problems take eps"):
        load_problem(p)
    # the recorded objective is the ridge minimum, checked with scikit-learn's Ridge
    from sklearn.linear_model import Ridge

    import nnlasso as nl
    p.write_text(LASSO.format(task="ridge-test", extra=""))
    data = load_data(load_problem(p))
    assert data.K == 60
    Phi = nl.sample_neurons(data.X, 60, method="sphere", seed=1).features(data.X)
    V = Ridge(alpha=0.1, fit_intercept=False, solver="svd").fit(Phi, data.Y).coef_.reshape(60, -1)
    ref = 0.5 * np.sum((data.Y - Phi @ V) ** 2) + 0.05 * np.sum(V**2)
    assert rec["objective"] == pytest.approx(ref, rel=1e-8)
    table = format_table([rec])
    assert "60 -> 60" in table                           # neurons_before: K_dictionary


def test_an_unknown_task_lists_the_registered_ones(tmp_path):
    p = tmp_path / "u.toml"
    p.write_text(LASSO.format(task="fitt", extra=""))
    with pytest.raises(ProblemFileError, match="task: unknown value 'fitt'; did you mean 'fit'\\? "
                                               "choose one of fit, lasso, compress"):
        load_problem(p)
