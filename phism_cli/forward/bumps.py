"""PhISM's decoder as a forward model: K bumps of a spectral basis, parameters in axis units."""

from __future__ import annotations

import torch
from torch import Tensor

from phism_cli.forward.base import ForwardModel, Parameter
from phism_cli.forward.bases import SpectralBasis

__all__ = ["BumpModel"]


class BumpModel(ForwardModel):
    """K components of `basis` rendered at band positions `positions` (in `axis_unit`).

    Parameters are the latent channels `encode` writes: positions and widths in the axis unit,
    the rest unitless, so a latent row is a parameter row. Spectra come out standardised (the
    encoder's band scaling undone by the caller).
    """

    def __init__(self, basis: SpectralBasis, n_components: int, positions: Tensor,
                 axis_unit: str, frame: tuple[float, float] | None = None) -> None:
        """`frame`: the (minimum, span) that normalise positions for the basis (default:
        the positions' own), so that parameter rows mean the same at other positions."""
        self.basis = basis
        self.n_components = n_components
        self.axis_unit = axis_unit
        positions = torch.as_tensor(positions, dtype=torch.float64)
        if frame is None:
            span = float(positions.max() - positions.min())
            frame = (float(positions.min()), span if span > 0 else 1.0)
        self.axis_min, self.axis_span = frame
        self.x = ((positions - self.axis_min) / self.axis_span).to(torch.float32)

    @property
    def parameters(self) -> list[Parameter]:
        names = self.basis.channel_names(self.n_components, self.axis_unit)
        kinds = [spec.kind for spec in self.basis.params] * self.n_components
        return [Parameter(name, self.axis_unit if kind != "unitless" else "1")
                for name, kind in zip(names, kinds, strict=True)]

    def bounds(self) -> tuple[Tensor, Tensor]:
        normalised = torch.tensor(self.basis.bounds(), dtype=torch.float32).T  # (2, P)
        physical = self.basis.to_physical(normalised, self.axis_min, self.axis_span)
        lower, upper = physical.repeat(1, self.n_components)
        return lower, upper

    def render(self, params: Tensor) -> Tensor:
        shaped = params.reshape(params.shape[0], self.n_components, self.basis.n_params)
        normalised = self.basis.from_physical(shaped, self.axis_min, self.axis_span)
        return self.basis.render(normalised, self.x.to(params.device))
