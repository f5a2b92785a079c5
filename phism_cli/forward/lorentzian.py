"""Lorentzian (Cauchy) bumps: the line shape of a damped oscillator's absorption, with
heavier tails than a Gaussian of the same width."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from phism_cli.forward.bases import ParamSpec, SpectralBasis


class LorentzianBasis(SpectralBasis):
    """amp * gamma / (pi * ((x - mu)^2 + gamma^2)): `amp` is the component's signed area and
    `gamma` its half width at half maximum."""

    name = "lorentzian"
    params = (
        ParamSpec("mu", "position"),
        ParamSpec("gamma", "width"),
        ParamSpec("amp", "unitless"),
    )

    def __init__(self, amplitude_scale: float = 4.0, min_width: float = 1e-3) -> None:
        self.amplitude_scale = amplitude_scale
        self.min_width = min_width

    def activate(self, raw: Tensor) -> Tensor:
        mu = torch.sigmoid(raw[..., 0])
        gamma = self.min_width + torch.sigmoid(raw[..., 1])
        amp = torch.tanh(raw[..., 2]) * self.amplitude_scale
        return torch.stack((mu, gamma, amp), dim=-1)

    def render(self, params: Tensor, x: Tensor) -> Tensor:
        mu, gamma, amp = (params[..., i, None] for i in range(3))  # (N, K, 1)
        density = gamma / (math.pi * ((x - mu) ** 2 + gamma ** 2))
        return (amp * density).sum(dim=1)

    def bounds(self) -> list[tuple[float, float]]:
        return [(0.0, 1.0), (self.min_width, 1.0 + self.min_width),
                (-self.amplitude_scale, self.amplitude_scale)]

    def config(self) -> dict[str, Any]:
        return {"amplitude_scale": self.amplitude_scale, "min_width": self.min_width}
