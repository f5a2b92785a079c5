"""InfraRender's Lorentz-oscillator dispersion model: oscillators -> n, k -> Fresnel -> emissivity.

For one crystal axis ("mode") with oscillators j (centre nu_j in cm-1, strength 4*pi*rho_j,
dimensionless damping gamma_j) and high-frequency dielectric constant eps_inf, at wavenumber nu:

    a_j   = nu_j^2 - nu^2,        D_j = a_j^2 + gamma_j^2 nu_j^2 nu^2
    theta = eps_inf + sum_j 4 pi rho_j nu_j^2 a_j / D_j
    phi   =           sum_j 4 pi rho_j / 2 * nu_j^2 gamma_j nu_j nu / D_j
    n     = sqrt((theta + sqrt(theta^2 + 4 phi^2)) / 2),   k = phi / n
    R     = ((n - 1)^2 + k^2) / ((n + 1)^2 + k^2),         emissivity = 1 - R

and a mineral's emissivity is the mode-weighted sum over its modes. Every mineral's parameters
sit in one padded row (modes x oscillators), so any set of (spectrum, mineral) pairs renders as
one batched tensor expression; padding oscillators have zero strength and padding modes zero
weight, both with bounds pinned to those values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from phism_cli.forward.base import EndmemberGenerator, Parameter

__all__ = ["DispersionModel", "Mineral", "Mode"]

OSCILLATOR_FIELDS = ("freq", "gamma", "rho")
RENDER_CHUNK = 32
UNITS = {"freq": "cm-1", "gamma": "1", "rho": "1", "eps_inf": "1", "weight": "1"}


@dataclass
class Mode:
    """One crystal axis: arrays of J oscillators, each value with its (lower, upper) bounds."""

    freq_cm1: np.ndarray
    gamma: np.ndarray
    rho: np.ndarray  # 4 * pi * rho, as stored by InfraRender
    eps_inf: float
    weight: float
    lower: dict[str, np.ndarray]  # keys: freq, gamma, rho, eps_inf, weight
    upper: dict[str, np.ndarray]

    @classmethod
    def fixed(cls, freq_cm1: Sequence[float], gamma: Sequence[float], rho: Sequence[float],
              eps_inf: float, weight: float = 1.0) -> Mode:
        """A mode whose bounds equal its values (nothing may move)."""
        values = {"freq": np.asarray(freq_cm1, float), "gamma": np.asarray(gamma, float),
                  "rho": np.asarray(rho, float), "eps_inf": np.asarray([eps_inf], float),
                  "weight": np.asarray([weight], float)}
        return cls(values["freq"], values["gamma"], values["rho"], float(eps_inf),
                   float(weight), dict(values), dict(values))


@dataclass
class Mineral:
    name: str
    modes: list[Mode]


class DispersionModel(EndmemberGenerator):
    """Emissivity spectra of `minerals` at `wavenumber_cm1`; one padded parameter row each."""

    def __init__(self, minerals: Sequence[Mineral], wavenumber_cm1: np.ndarray,
                 dtype: torch.dtype = torch.float32) -> None:
        if not minerals:
            raise ValueError("a dispersion model needs at least one mineral")
        self.minerals = list(minerals)
        self.names = [m.name for m in self.minerals]
        self.dtype = dtype
        self.wavenumber_cm1 = torch.as_tensor(np.asarray(wavenumber_cm1, float), dtype=dtype)
        self.n_modes = max(len(m.modes) for m in self.minerals)
        self.n_oscillators = max(len(mode.freq_cm1) for m in self.minerals for mode in m.modes)
        self._initial, self._lower, self._upper = (
            torch.as_tensor(np.stack([self._row(m, which) for m in self.minerals]), dtype=dtype)
            for which in ("value", "lower", "upper"))
        self._oscillator_counts = torch.tensor(
            [max(len(mode.freq_cm1) for mode in m.modes) for m in self.minerals])

    # -- layout ---------------------------------------------------------------------------
    @property
    def row_length(self) -> int:
        return 3 * self.n_modes * self.n_oscillators + 2 * self.n_modes

    def _offset(self, field: str, mode: int, oscillator: int = 0) -> int:
        block = self.n_modes * self.n_oscillators
        if field in OSCILLATOR_FIELDS:
            return (OSCILLATOR_FIELDS.index(field) * block + mode * self.n_oscillators
                    + oscillator)
        return 3 * block + (0 if field == "eps_inf" else self.n_modes) + mode

    def _row(self, mineral: Mineral, which: str) -> np.ndarray:
        row = np.zeros(self.row_length)
        # Padding: unit-frequency oscillators of zero strength, vacuum modes of zero weight.
        for mode in range(self.n_modes):
            start = self._offset("freq", mode)
            row[start:start + self.n_oscillators] = 1.0
            row[self._offset("eps_inf", mode)] = 1.0
        for m, mode in enumerate(mineral.modes):
            values = {"freq": mode.freq_cm1, "gamma": mode.gamma, "rho": mode.rho,
                      "eps_inf": np.asarray([mode.eps_inf]), "weight": np.asarray([mode.weight])}
            if which != "value":
                values = mode.lower if which == "lower" else mode.upper
            for field in OSCILLATOR_FIELDS:
                start = self._offset(field, m)
                row[start:start + len(mode.freq_cm1)] = values[field]
            row[self._offset("eps_inf", m)] = float(np.ravel(values["eps_inf"])[0])
            row[self._offset("weight", m)] = float(np.ravel(values["weight"])[0])
        return row

    def parameters(self, endmember: int) -> list[tuple[int, Parameter]]:
        columns = []
        for m, mode in enumerate(self.minerals[endmember].modes):
            for field in OSCILLATOR_FIELDS:
                for j in range(len(mode.freq_cm1)):
                    columns.append((self._offset(field, m, j),
                                    Parameter(f"mode{m}.{field}{j}", UNITS[field])))
            for field in ("eps_inf", "weight"):
                columns.append((self._offset(field, m), Parameter(f"mode{m}.{field}",
                                                                  UNITS[field])))
        return columns

    # -- EndmemberGenerator ---------------------------------------------------------------
    def initial(self) -> Tensor:
        return self._initial.clone()

    def bounds(self) -> tuple[Tensor, Tensor]:
        return self._lower.clone(), self._upper.clone()

    def render(self, params: Tensor, which: Tensor | None = None) -> Tensor:
        """(Q, P) parameter rows of minerals `which` (Q,) -> (Q, C) emissivity.

        Rows are rendered in chunks of minerals with similar oscillator counts, each chunk
        trimmed of its padding; under autograd each chunk is checkpointed, so the (Q, M, J, C)
        intermediates never exist all at once (several times faster on a CPU's caches).
        """
        if which is None:
            which = torch.arange(params.shape[0]) % self.n_endmembers
        counts = self._oscillator_counts.to(which.device)[which]
        order = torch.argsort(counts, stable=True)
        out = torch.empty(params.shape[0], len(self.wavenumber_cm1), dtype=params.dtype,
                          device=params.device)
        pieces = []
        for start in range(0, len(order), RENDER_CHUNK):
            rows = order[start:start + RENDER_CHUNK]
            n_osc = int(counts[rows].max())
            chunk = params[rows]
            if chunk.requires_grad and torch.is_grad_enabled():
                pieces.append(checkpoint(self._render_rows, chunk, n_osc, use_reentrant=False))
            else:
                pieces.append(self._render_rows(chunk, n_osc))
        return out.index_copy(0, order, torch.cat(pieces)) if pieces else out

    def _render_rows(self, params: Tensor, n_osc: int) -> Tensor:
        q = params.shape[0]
        block = self.n_modes * self.n_oscillators
        freq, gamma, rho = (
            params[:, i * block:(i + 1) * block]
            .reshape(q, self.n_modes, self.n_oscillators)[:, :, :n_osc, None]
            for i in range(3))
        eps_inf = params[:, 3 * block:3 * block + self.n_modes, None]
        weight = params[:, 3 * block + self.n_modes:, None]
        nu = self.wavenumber_cm1.to(device=params.device, dtype=params.dtype)
        return emissivity(freq, gamma, rho, eps_inf, weight, nu)

    def render_library(self) -> Tensor:
        """(E, C) every mineral at its library parameters."""
        with torch.no_grad():
            return self.render(self._initial, torch.arange(self.n_endmembers))


def emissivity(freq: Tensor, gamma: Tensor, rho: Tensor, eps_inf: Tensor, weight: Tensor,
               nu: Tensor) -> Tensor:
    """Oscillators (Q, M, J, 1), modes (Q, M, 1), wavenumbers (C,) -> emissivity (Q, C)."""
    nu2 = nu * nu
    freq2 = freq * freq
    a = freq2 - nu2
    inv_d = 1.0 / (a * a + (gamma * freq) ** 2 * nu2)
    strength = rho * freq2 * inv_d
    theta = eps_inf + (strength * a).sum(dim=2)
    phi = 0.5 * (strength * gamma * freq).sum(dim=2) * nu
    n = torch.sqrt(torch.clamp(0.5 * (theta + torch.sqrt(theta * theta + 4.0 * phi * phi)),
                               min=1e-12))
    k = phi / n
    reflectance = ((n - 1.0) ** 2 + k * k) / ((n + 1.0) ** 2 + k * k)
    return (weight * (1.0 - reflectance)).sum(dim=1)
