"""Time of one top-Hessian-eigenvalue estimate by Lanczos (scipy eigsh on a LinearOperator
of exact R-operator Hessian-vector products) against a dense Hessian eigendecomposition of
the same small network, both measured in this run.

Run: PYTHONPATH=. python benchmarks/bench_lanczos.py [--repeats R]
"""
from __future__ import annotations

import argparse

import numpy as np

from numeric.data import digits
from numeric.mlp import MLP, top_eigenvalue
from _timing import best_time  # noqa: E402  (benchmarks/ is the script's directory)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    X, y = digits(300, seed=0, standardize=False)
    X = X / 16.0
    print(f"{'network':>12} {'P':>6} {'lanczos s':>10} {'dense-eig s':>12} {'form+eig s':>11} "
          f"{'eig/lanczos':>12} {'form+eig/lanczos':>17} {'rel. diff':>10}")
    for hidden in (4, 16, 32):
        net = MLP((64, hidden, 10), loss_name="cross_entropy")
        th = net.init(0)
        P = net.n_params
        t_lz, (lam, _) = best_time(
            lambda: top_eigenvalue(lambda v: net.hvp(th, X, y, v), P, seed=0, tol=1e-8), args.repeats)
        t_form, H = best_time(lambda: np.stack([net.hvp(th, X, y, e) for e in np.eye(P)], axis=1), 1)
        H = 0.5 * (H + H.T)
        t_eig, w = best_time(lambda: np.linalg.eigvalsh(H), args.repeats)
        rel = abs(w[-1] - lam) / abs(w[-1])
        print(f"{'64-%d-10' % hidden:>12} {P:>6} {t_lz:>10.4f} {t_eig:>12.4f} {t_form + t_eig:>11.4f} "
              f"{t_eig / t_lz:>12.2f} {(t_form + t_eig) / t_lz:>17.1f} {rel:>10.1e}")


if __name__ == "__main__":
    main()
