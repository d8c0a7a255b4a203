"""Write the malformed data files of the hostile corpus (run once; the outputs are committed).

    python tests/hostile/make_data.py
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent / "data"


def main() -> None:
    HERE.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((20, 2)), rng.standard_normal(20)
    # a pickled Python object inside an npz (refused: allow_pickle=False)
    obj = np.empty(2, dtype=object)
    obj[0], obj[1] = {"a": 1}, [1, 2]
    np.savez(HERE / "pickled.npz", X=obj, Y=Y)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    np.savez(HERE / "nan.npz", X=Xn, Y=Y)
    np.savez(HERE / "inf_target.npz", X=X, Y=np.where(np.arange(20) == 5, np.inf, Y))
    np.savez(HERE / "shape_mismatch.npz", X=X, Y=Y[:19])
    np.savez(HERE / "strings.npz", X=np.array(["a", "b"] * 10), Y=Y)
    np.savez(HERE / "extra_array.npz", X=X, Y=Y, Z=Y)
    np.savez(HERE / "complex.npz", X=X.astype(complex), Y=Y)
    np.savez(HERE / "three_d.npz", X=rng.standard_normal((20, 2, 2)), Y=Y)
    (HERE / "not_a_zip.npz").write_text("this is not an npz file\n")
    (HERE / "nan.csv").write_text("x1,x2,y\n1,2,3\n4,nan,6\n7,8,9\n")
    (HERE / "text.csv").write_text("1,2,3\n4,five,6\n7,8,9\n")
    (HERE / "ragged.csv").write_text("1,2,3\n4,5\n7,8,9\n")
    (HERE / "ok.csv").write_text("x1,x2,y\n1,2,3\n4,5,6\n7,8,9\n")
    np.savez(HERE / "net_bad_shape.npz", W1=rng.standard_normal((5, 3)), b1=np.zeros(5),
             W2=rng.standard_normal((1, 5)), b2=np.zeros(1))
    np.savez(HERE / "net_ok.npz", W1=rng.standard_normal((5, 2)), b1=np.zeros(5),
             W2=rng.standard_normal((1, 5)), b2=np.zeros(1))
    np.savez(HERE / "ok.npz", X=X, Y=Y)
    # a csv cell longer than the csv module's field limit (131072 characters)
    (HERE / "huge_cell.csv").write_text("1,2\n3," + "4" * 140_000 + "\n")
    # an output activation nnlasso does not know
    np.savez(HERE / "net_tanh.npz", W1=rng.standard_normal((5, 2)), b1=np.zeros(5),
             W2=rng.standard_normal((1, 5)), b2=np.zeros(1), out_activation=np.array("tanh"))

    # lam_ratio with lam_max = 0: targets the unpenalized part fits exactly (an affine target
    # under the linear skip, a constant one under the intercept) and classes the skip separates
    np.savez(HERE / "affine_target.npz", X=X, Y=1.5 * X[:, 0] - 0.5 * X[:, 1] + 2.0)
    np.savez(HERE / "constant_target.npz", Phi=np.maximum(X @ rng.standard_normal((2, 8)), 0),
             Y=np.full(20, 3.0))
    np.savez(HERE / "separable.npz", X=X, Y=(X[:, 0] > 0).astype(int))
    # compress with lam_ratio: a hidden layer of two copies of one neuron whose outgoing weights
    # cancel (v, -v), so the layer's output Psi is zero up to rounding (lam_max = 0)
    w = np.random.default_rng(1).standard_normal(2)
    np.savez(HERE / "net_cancelling.npz", W1=np.vstack([w, w]), b1=np.full(2, 0.1),
             W2=np.array([[0.7, -0.7]]), b2=np.zeros(1))


if __name__ == "__main__":
    main()
