"""Exact FCLS against an independent solver: every support enumerated, KKT checked."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from phism_cli.inversion.fcls import fcls, gram, nnls


def brute_force_fcls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The best feasible equality-constrained least-squares solution over all supports."""
    k = a.shape[0]
    best, best_x = np.inf, None
    for size in range(1, k + 1):
        for support in itertools.combinations(range(k), size):
            rows = a[list(support)]
            system = np.zeros((size + 1, size + 1))
            system[:size, :size] = rows @ rows.T
            system[:size, size] = system[size, :size] = 1.0
            try:
                solution = np.linalg.solve(system, np.r_[rows @ b, 1.0])
            except np.linalg.LinAlgError:
                continue
            if (solution[:size] < -1e-12).any():
                continue
            x = np.zeros(k)
            x[list(support)] = solution[:size]
            error = float(np.sum((b - x @ a) ** 2))
            if error < best - 1e-12:
                best, best_x = error, x
    assert best_x is not None
    return best_x


def test_matches_brute_force_on_random_problems() -> None:
    rng = np.random.default_rng(0)
    for _ in range(60):
        k = int(rng.integers(2, 7))
        c = int(rng.integers(k, 25))
        a = rng.random((k, c))
        b = rng.random((4, c)) * rng.uniform(0.5, 2)
        x = fcls(*gram(torch.tensor(a), torch.tensor(b))).numpy()
        for row, spectrum in zip(x, b, strict=True):
            np.testing.assert_allclose(row, brute_force_fcls(a, spectrum), atol=1e-8)


def test_solution_is_feasible_and_optimal_by_kkt() -> None:
    rng = np.random.default_rng(1)
    a = torch.tensor(rng.random((8, 60)))
    b = torch.tensor(rng.random((500, 60)))
    g, c = gram(a, b)
    x = fcls(g, c)
    assert (x >= 0).all()
    torch.testing.assert_close(x.sum(dim=1), torch.ones(500, dtype=torch.float64))
    gradient = torch.einsum("nij,nj->ni", g.expand(500, -1, -1), x) - c
    # On the support the gradient is one constant (the multiplier); off it, no lower.
    support = x > 1e-12
    level = (gradient * support).sum(1) / support.sum(1)
    on = torch.where(support, gradient - level[:, None], 0.0)
    off = torch.where(support, 0.0, gradient - level[:, None])
    scale = float(g.diagonal(dim1=1, dim2=2).max())
    assert float(on.abs().max()) < 1e-9 * scale
    assert float(off.min()) > -1e-9 * scale


def test_exact_mixture_recovered_and_per_spectrum_weights_respected() -> None:
    rng = np.random.default_rng(2)
    a = torch.tensor(rng.random((4, 30)))
    truth = torch.tensor(rng.dirichlet(np.ones(4), size=20))
    b = truth @ a
    x = fcls(*gram(a, b))
    torch.testing.assert_close(x, truth, atol=1e-9, rtol=0)
    # Corrupt half the bands of each spectrum; weights that skip them still recover it.
    corrupted = b.clone()
    corrupted[:, ::2] += 5.0
    weights = torch.ones_like(b)
    weights[:, ::2] = 0.0
    torch.testing.assert_close(fcls(*gram(a, corrupted, weights)), truth, atol=1e-8, rtol=0)


def test_collinear_endmembers_still_give_a_feasible_optimum() -> None:
    a = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    b = torch.tensor([[1.5, 3.5, 4.5]], dtype=torch.float64)
    x = fcls(*gram(a, b))
    assert (x >= 0).all() and float(x.sum()) == pytest.approx(1.0)
    best = brute_force_fcls(a.numpy(), b[0].numpy())
    assert float(((b - x @ a) ** 2).sum()) == pytest.approx(
        float(((b[0].numpy() - best @ a.numpy()) ** 2).sum()), abs=1e-9)


def test_nnls_matches_scipy_and_leaves_the_sum_free() -> None:
    from scipy.optimize import nnls as scipy_nnls

    rng = np.random.default_rng(3)
    a = rng.uniform(0, 1, (6, 40))
    b = rng.uniform(0, 1, (2, 6)) @ a * rng.uniform(0.3, 2.0, (2, 1)) \
        + rng.normal(0, 0.05, (2, 40))
    b = np.vstack([b, rng.normal(0, 1, (30, 40))])
    x = nnls(*gram(torch.as_tensor(a), torch.as_tensor(b))).numpy()
    expected = np.stack([scipy_nnls(a.T, row)[0] for row in b])
    np.testing.assert_allclose(x, expected, atol=1e-8)
    assert (x >= 0).all() and np.ptp(x.sum(axis=1)) > 0.5
