"""Lorentzian (Cauchy) bumps: the line shape of a damped oscillator's absorption, with
heavier tails than a Gaussian of the same width."""

from __future__ import annotations

import math

from torch import Tensor

from phism_cli.forward.bases import GaussianBasis, ParamSpec


class LorentzianBasis(GaussianBasis):
    """amp * gamma / (pi * ((x - mu)^2 + gamma^2)): `amp` is the component's signed area and
    `gamma` its half width at half maximum. Bounds, activation and settings are the
    Gaussian's; only the line shape differs."""

    name = "lorentzian"
    params = (
        ParamSpec("mu", "position"),
        ParamSpec("gamma", "width"),
        ParamSpec("amp", "unitless"),
    )

    def render(self, params: Tensor, x: Tensor) -> Tensor:
        mu, gamma, amp = (params[..., i, None] for i in range(3))  # (N, K, 1)
        density = gamma / (math.pi * ((x - mu) ** 2 + gamma ** 2))
        return (amp * density).sum(dim=1)
