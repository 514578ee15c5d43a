"""Speed of the seed-003 machinery, each against a baseline measured in the same run.

1. Training S quadratic networks with label noise: one batched ``train`` call
   versus S separate calls (the loop a user would write).
2. The Monte Carlo of the per-draw modified loss over K noise draws: one
   quadratic form through the n x n Gram matrix versus forming each draw's
   gradient J^T (r - sigma xi) in parameter space.

Run:  PYTHONPATH=. python benchmarks/label_noise_training.py
"""
from __future__ import annotations


import numpy as np

from numeric import quadratic_net
from numeric.quadratic_net import QuadraticNet, RegressionTask, loss_weight, network, train
from _timing import best_of  # noqa: E402  (benchmarks/ is the script's directory)


def main():
    task = RegressionTask.make(d=20, n_train=80, n_test=200, seed=0)
    S, steps = 24, 300
    net = QuadraticNet.init(task.d, 100, count=S, seed=list(range(S)))
    chunked = best_of(lambda: train(task, net, 0.05, steps, sigma=2.0, seed=1))
    looped = best_of(lambda: [train(task, net.take([s]), 0.05, steps, sigma=2.0, seed=1) for s in range(S)])
    default, quadratic_net.CHUNK = quadratic_net.CHUNK, S
    try:
        whole = best_of(lambda: train(task, net, 0.05, steps, sigma=2.0, seed=1))
    finally:
        quadratic_net.CHUNK = default
    print(f"train {S} networks x {steps} steps: chunks of {default} {chunked:.3f} s, "
          f"one batch {whole:.3f} s, loop {looped:.3f} s; ratios one-batch/chunked = {whole / chunked:.2f}, "
          f"loop/chunked = {looped / chunked:.2f}")

    one = network(train(task, net.take([0]), 0.05, 300, sigma=2.0, seed=1), task.d)
    J = one.per_sample_jacobian(task.X_train)[0]
    r = one.predict(task.X_train)[0] - task.y_train
    c, h, sigma, K = loss_weight("mse", task.n), 0.05, 2.0, 4000
    xi = np.random.default_rng(0).standard_normal((K, task.n))
    U = r[None, :] - sigma * xi

    def gram_route():
        gram = J @ J.T
        return c * (U * U).sum(1) + h * c * c * ((U @ gram) * U).sum(1)

    def parameter_route():
        G = 2 * c * U @ J                       # (K, p): every draw's gradient
        return c * (U * U).sum(1) + h / 4 * (G * G).sum(1)

    assert np.allclose(gram_route(), parameter_route())
    fast, slow = best_of(gram_route), best_of(parameter_route)
    print(f"Monte Carlo, {K} draws, p = {J.shape[1]}: Gram {fast * 1e3:.1f} ms, "
          f"parameter space {slow * 1e3:.1f} ms, ratio = {slow / fast:.1f}")


if __name__ == "__main__":
    main()
