"""Projected Adam per row: bounds hold, rows are independent, the best point is kept."""

from __future__ import annotations

import torch

from phism_cli.inversion.optimise import minimise_in_bounds


def test_rows_reach_their_own_optimum_within_bounds() -> None:
    target = torch.tensor([[0.3, -2.0], [5.0, 0.5]], dtype=torch.float64)
    lower = torch.tensor([0.0, -1.0], dtype=torch.float64)
    upper = torch.tensor([1.0, 1.0], dtype=torch.float64)

    def loss(p: torch.Tensor) -> torch.Tensor:
        return ((p - target) ** 2).sum(dim=1)

    best, best_loss = minimise_in_bounds(loss, torch.zeros(2, 2, dtype=torch.float64),
                                         lower, upper, steps=400, lr=0.02)
    expected = target.clamp(lower, upper)
    torch.testing.assert_close(best, expected, atol=2e-3, rtol=0)
    torch.testing.assert_close(best_loss, loss(best))


def test_never_worse_than_the_start_and_pinned_parameters_stay() -> None:
    start = torch.tensor([[0.5, 0.2]], dtype=torch.float64)

    def loss(p: torch.Tensor) -> torch.Tensor:  # minimum at the start already
        return ((p - start) ** 2).sum(dim=1)

    lower = torch.tensor([0.0, 0.2], dtype=torch.float64)
    upper = torch.tensor([1.0, 0.2], dtype=torch.float64)  # the second is pinned
    best, best_loss = minimise_in_bounds(loss, start, lower, upper, steps=30, lr=0.3)
    assert float(best_loss) == 0.0
    torch.testing.assert_close(best, start)
