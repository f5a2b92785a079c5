"""Analysis-by-synthesis unmixing: alternate exact FCLS on the abundances with projected Adam
steps on the physical parameters of the generated endmembers, for all spectra at once.

Only (spectrum, endmember) pairs with a non-zero abundance get parameter steps: the loss does
not depend on the others, so rendering them would be wasted work. Each pair keeps its own
parameter row, so the physics of one rock's quartz moves independently of another's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from phism_cli.forward.mixing import LinearMixing
from phism_cli.inversion.fcls import fcls, gram
from phism_cli.inversion.optimise import minimise_in_bounds

__all__ = ["MixingFit", "analysis_by_synthesis", "fcls_unmix", "residual_rms"]

ACTIVE_ABUNDANCE = 1e-9


@dataclass
class MixingFit:
    """Abundances (N, E), residual RMS (N,), and for generated endmembers the fitted
    parameters (N, G, P) (the library values where an endmember was never active)."""

    abundances: Tensor
    rms: Tensor
    generator_params: Tensor | None = None


def residual_rms(spectra: Tensor, fitted: Tensor, weights: Tensor | None) -> Tensor:
    residual = (spectra - fitted) ** 2
    if weights is None:
        return residual.mean(dim=1).sqrt()
    return ((residual * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)).sqrt()


def fcls_unmix(endmembers: Tensor, spectra: Tensor, weights: Tensor | None = None,
               sum_to_one: bool = True) -> MixingFit:
    """Plain FCLS (NNLS without `sum_to_one`) with endmembers (E, C) or per spectrum
    (N, E, C)."""
    g, c = gram(endmembers, spectra, weights)
    x = fcls(g, c, sum_to_one=sum_to_one)
    fitted = _mix(x, endmembers.to(torch.float64))
    return MixingFit(x, residual_rms(spectra.to(torch.float64), fitted, weights))


def _mix(x: Tensor, endmembers: Tensor) -> Tensor:
    return x @ endmembers if endmembers.dim() == 2 else torch.einsum("ne,nec->nc", x,
                                                                      endmembers)


def analysis_by_synthesis(mixing: LinearMixing, spectra: Tensor, weights: Tensor | None = None,
                          epochs: int = 10, steps: int = 5, lr: float = 0.05,
                          init_abundances: Tensor | None = None,
                          sum_to_one: bool = True) -> MixingFit:
    """Alternate FCLS and `steps` Adam steps on the generated endmembers, `epochs` times.

    With `init_abundances` (a network's estimate) the first round starts with the physics
    steps at those abundances instead of an FCLS solve: the hybrid inversion. Without
    `sum_to_one` every solve is NNLS (the abundances' sum is free).
    """
    b = spectra.to(torch.float64)
    n = b.shape[0]
    w = None if weights is None else weights.to(torch.float64)
    if not mixing.generated:
        return fcls_unmix(mixing.base_endmembers(), b, w, sum_to_one)
    endmembers = mixing.base_endmembers().expand(n, -1, -1).clone()
    params = mixing.initial_generator_params().to(torch.float64).expand(n, -1, -1).clone()
    lower, upper = (t.to(torch.float64) for t in mixing.generator_bounds())
    index = mixing.generated_index
    if init_abundances is not None:
        x = init_abundances.to(torch.float64)
    else:
        x = fcls(*gram(endmembers, b, w), sum_to_one=sum_to_one)
    for _ in range(epochs):
        pairs = (x[:, index] > ACTIVE_ABUNDANCE).nonzero()  # (Q, 2): spectrum, slot
        if len(pairs):
            spec, slot = pairs[:, 0], pairs[:, 1]
            best, _ = minimise_in_bounds(
                _pair_loss(mixing, b, w, x, endmembers, spec, slot),
                params[spec, slot], lower[slot], upper[slot], steps=steps, lr=lr)
            params[spec, slot] = best
            with torch.no_grad():
                endmembers[spec, index[slot]] = mixing.generated_spectra(best, slot)
        x = fcls(*gram(endmembers, b, w), sum_to_one=sum_to_one)
    fitted = _mix(x, endmembers)
    return MixingFit(x, residual_rms(b, fitted, w), params)


def _pair_loss(mixing: LinearMixing, b: Tensor, w: Tensor | None, x: Tensor,
               endmembers: Tensor, spec: Tensor, slot: Tensor):
    """Loss per pair (its spectrum's squared residual) as a function of the pairs' rows."""
    index = mixing.generated_index
    weight = x[spec, index[slot]]  # (Q,)
    # What the moving endmembers do not explain, held fixed during the physics steps.
    fixed = b - _mix(x, endmembers)
    fixed = fixed.index_add(0, spec, weight[:, None] * endmembers[spec, index[slot]])

    def loss(rows: Tensor) -> Tensor:
        moving = weight[:, None] * mixing.generated_spectra(rows, slot)
        residual = fixed.index_add(0, spec, -moving)
        per_spectrum = residual * residual
        if w is not None:
            per_spectrum = per_spectrum * w
        return per_spectrum.sum(dim=1)[spec]

    return loss
