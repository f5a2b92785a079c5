"""Latent parameters in physical units back to spectra, needing no encoder weights."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from phism_cli.errors import PhismError
from phism_cli.model.bases import SpectralBasis, make_basis


@dataclass
class SpectralAxis:
    """Band positions: wavelengths in nm, or band numbers 1..C when a scene has none."""

    positions: np.ndarray
    unit: str  # "nm" or "band"

    @classmethod
    def from_wavelengths(cls, wavelength_nm: np.ndarray | None, n_bands: int) -> SpectralAxis:
        if wavelength_nm is None:
            return cls(np.arange(1, n_bands + 1, dtype=np.float64), "band")
        return cls(np.asarray(wavelength_nm, dtype=np.float64), "nm")

    @property
    def minimum(self) -> float:
        return float(self.positions.min())

    @property
    def span(self) -> float:
        span = float(self.positions.max() - self.positions.min())
        return span if span > 0 else 1.0

    def normalised(self) -> torch.Tensor:
        return torch.as_tensor((self.positions - self.minimum) / self.span, dtype=torch.float32)


@dataclass
class SpectralRenderer:
    """Everything needed to turn a latent map back into spectra in the input's units."""

    basis: SpectralBasis
    n_components: int
    axis: SpectralAxis
    band_mean: np.ndarray
    band_scale: np.ndarray

    @property
    def channel_names(self) -> list[str]:
        return self.basis.channel_names(self.n_components, self.axis.unit)

    def _normalised_params(self, latent: np.ndarray) -> torch.Tensor:
        params = torch.as_tensor(latent, dtype=torch.float32).reshape(
            latent.shape[0], self.n_components, self.basis.n_params)
        return self.basis.from_physical(params, self.axis.minimum, self.axis.span)

    @torch.inference_mode()
    def render(self, latent: np.ndarray) -> np.ndarray:
        """(N, K*P) latent values in physical units -> (N, C) spectra in the input's units."""
        scaled = self.basis.render(self._normalised_params(latent), self.axis.normalised())
        return scaled.numpy() * self.band_scale + self.band_mean

    @torch.inference_mode()
    def components(self, latent: np.ndarray) -> np.ndarray:
        """(N, K, C): each component's contribution, in the input's units but without the mean."""
        parts = self.basis.render_components(self._normalised_params(latent),
                                             self.axis.normalised())
        return parts.numpy() * self.band_scale

    def to_metadata(self) -> dict[str, Any]:
        return {
            "decoder": "basis",
            "basis": self.basis.name,
            "basis_config": self.basis.config(),
            "n_components": self.n_components,
            "axis_unit": self.axis.unit,
            "axis_positions": [float(v) for v in self.axis.positions],
            "band_mean": [float(v) for v in self.band_mean],
            "band_scale": [float(v) for v in self.band_scale],
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> SpectralRenderer:
        return cls(
            basis=make_basis(meta["basis"], **meta.get("basis_config", {})),
            n_components=int(meta["n_components"]),
            axis=SpectralAxis(np.asarray(meta["axis_positions"], dtype=np.float64),
                              meta["axis_unit"]),
            band_mean=np.asarray(meta["band_mean"], dtype=np.float32),
            band_scale=np.asarray(meta["band_scale"], dtype=np.float32),
        )


@dataclass
class LearnedRenderer:
    """A conventional autoencoder's decoder: its weights live in the encoder file only, so a
    latent map records the band statistics but needs the model to be rendered."""

    decoder: torch.nn.Module
    latent_dim: int
    axis: SpectralAxis
    band_mean: np.ndarray
    band_scale: np.ndarray

    @property
    def channel_names(self) -> list[str]:
        return [f"z{i}" for i in range(self.latent_dim)]

    @torch.inference_mode()
    def render(self, latent: np.ndarray, batch_size: int = 16384) -> np.ndarray:
        self.decoder.eval()
        device = next(self.decoder.parameters()).device
        out = np.empty((latent.shape[0], len(self.band_mean)), dtype=np.float32)
        for start in range(0, latent.shape[0], batch_size):
            batch = torch.as_tensor(latent[start:start + batch_size], dtype=torch.float32,
                                    device=device)
            out[start:start + batch_size] = self.decoder(batch).cpu().numpy()
        return out * self.band_scale + self.band_mean

    def to_metadata(self) -> dict[str, Any]:
        return {
            "decoder": "mlp",
            "latent_dim": self.latent_dim,
            "axis_unit": self.axis.unit,
            "axis_positions": [float(v) for v in self.axis.positions],
            "band_mean": [float(v) for v in self.band_mean],
            "band_scale": [float(v) for v in self.band_scale],
        }


Renderer = SpectralRenderer | LearnedRenderer


def renderer_from_metadata(meta: dict[str, Any]) -> SpectralRenderer:
    """The parameter-free renderer a latent map describes; a learned decoder needs its model."""
    if meta.get("decoder", "basis") != "basis":
        raise PhismError("these latents come from a conventional autoencoder, whose decoder "
                         "has weights: pass the encoder file with --model/-m")
    return SpectralRenderer.from_metadata(meta)
