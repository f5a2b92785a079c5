"""Per-spectrum optimisation of bounded physical parameters, batched over spectra.

Each row of the parameter tensor belongs to one spectrum and the loss is a sum of per-row
losses, so one Adam run on the whole tensor is N independent optimisations (Adam's steps are
element-wise). Parameters move in the unit box u = (p - lower) / (upper - lower), clipped after
every step, so one learning rate suits nanometres and dimensionless strengths alike. The best
parameters seen per row are kept: more steps never make a row's fit worse.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from phism_cli.forward.base import ForwardModel

__all__ = ["RowLoss", "fit_forward_model", "minimise_in_bounds"]

RowLoss = Callable[[Tensor], Tensor]  # parameters (N, ...) -> loss per row (N,)


def minimise_in_bounds(loss: RowLoss, init: Tensor, lower: Tensor, upper: Tensor,
                       steps: int, lr: float = 0.02) -> tuple[Tensor, Tensor]:
    """Run `steps` projected Adam steps from `init`; return (best parameters, best loss) per row.

    `lower` and `upper` broadcast against `init`; where they are equal a parameter is pinned.
    """
    lower = lower.to(init).expand_as(init)
    upper = upper.to(init).expand_as(init)
    span = upper - lower
    free = span > 0
    safe_span = torch.where(free, span, 1.0)
    unit = torch.where(free, (init.clamp(lower, upper) - lower) / safe_span, 0.0)
    unit = unit.detach().requires_grad_(True)

    def params_of(u: Tensor) -> Tensor:
        return torch.where(free, lower + u * safe_span, lower)

    best = params_of(unit).detach().clone()
    best_loss = torch.full(init.shape[:1], torch.inf, dtype=init.dtype, device=init.device)

    def keep_better(params: Tensor, row_loss: Tensor) -> None:
        better = row_loss < best_loss
        best_loss.copy_(torch.where(better, row_loss, best_loss))
        best[better] = params[better]

    optimiser = torch.optim.Adam([unit], lr=lr) if free.any() else None
    for _ in range(steps if optimiser is not None else 0):
        optimiser.zero_grad(set_to_none=True)
        params = params_of(unit)
        row_loss = loss(params)
        row_loss.sum().backward()
        with torch.no_grad():
            keep_better(params.detach(), row_loss.detach())
        optimiser.step()
        with torch.no_grad():
            unit.clamp_(0.0, 1.0)
    with torch.no_grad():
        params = params_of(unit)
        keep_better(params, loss(params))
    return best, best_loss


def fit_forward_model(model: ForwardModel, spectra: Tensor, init: Tensor | None = None,
                      steps: int = 200, lr: float = 0.02,
                      weights: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Analysis by synthesis through any `ForwardModel`: for each spectrum (N, C) the
    parameters (N, P) within the model's bounds whose rendering is nearest it (squared error,
    per band `weights` (N, C) if given); returns them and each spectrum's residual RMS.
    `init` defaults to the middle of the bounds."""
    lower, upper = model.bounds()
    n_params = len(model.parameters)
    lower = lower.to(spectra.dtype).expand(n_params)
    upper = upper.to(spectra.dtype).expand(n_params)
    if init is None:
        init = ((lower + upper) / 2).expand(spectra.shape[0], -1).clone()

    def squared_error(params: Tensor) -> Tensor:
        residual = (model.render(params).to(spectra.dtype) - spectra) ** 2
        return (residual if weights is None else residual * weights).sum(dim=1)

    best, loss = minimise_in_bounds(squared_error, init.to(spectra.dtype), lower, upper,
                                    steps=steps, lr=lr)
    bands = spectra.shape[1] if weights is None else weights.sum(dim=1).clamp(min=1)
    return best, (loss / bands).sqrt()
