"""Latent parameters in physical units back to spectra, needing no encoder weights."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from phism_cli.errors import PhismError
from phism_cli.forward.bases import SpectralBasis, make_basis
from phism_cli.forward.resampling import MIN_FWHM_NM, gaussian_band_weights
from phism_cli.model.network import SERIAL_BELOW_ROWS, serial_torch


@dataclass
class SpectralAxis:
    """Band positions: wavelengths in nm, or band numbers 1..C when a scene has none."""

    positions: np.ndarray
    unit: str  # "nm" or "band"
    # (minimum, span) that normalise wavelengths for the basis: the fitted axis's own, also
    # where it renders at other positions (None: these positions' own)
    frame: tuple[float, float] | None = None

    @classmethod
    def from_wavelengths(cls, wavelength_nm: np.ndarray | None, n_bands: int) -> SpectralAxis:
        if wavelength_nm is None:
            return cls(np.arange(1, n_bands + 1, dtype=np.float64), "band")
        return cls(np.asarray(wavelength_nm, dtype=np.float64), "nm")

    @property
    def minimum(self) -> float:
        return float(self.positions.min()) if self.frame is None else self.frame[0]

    @property
    def span(self) -> float:
        if self.frame is not None:
            return self.frame[1]
        span = float(self.positions.max() - self.positions.min())
        return span if span > 0 else 1.0

    def normalised(self) -> torch.Tensor:
        return torch.as_tensor((self.positions - self.minimum) / self.span, dtype=torch.float32)


@dataclass
class BandIntegration:
    """A sensor's spectral response: each band's value is the spectrum drawn on a fine
    wavelength grid, integrated against the band's Gaussian response (`weights`, rows sum to
    1), instead of the spectrum's value at the band's centre."""

    grid: SpectralAxis  # the fine grid, normalised in the fitted axis's frame
    weights: np.ndarray  # (bands, grid) float32
    band_mean: np.ndarray  # (grid,) the band statistics on the grid
    band_scale: np.ndarray

    ROWS = 4096  # pixels drawn on the grid at a time: a (ROWS, grid) float32 block


# Pixels drawn at a time: their (rows, K, bands) intermediates stay in cache. On 2 CPU cores
# 1024 rendered 2.8x faster than a 65,536-pixel tile at once (5 components, 200 bands).
RENDER_ROWS = 1024

BRIGHTNESS_MEANING = ("the 'brightness' channel: each pixel's multiple of the reference "
                      "spectrum band_mean (the training mean; 1 = its level), added to the "
                      "components; illumination, topography or albedo")


@dataclass
class SpectralRenderer:
    """Everything needed to turn a latent map back into spectra in the input's units."""

    basis: SpectralBasis
    n_components: int
    axis: SpectralAxis
    band_mean: np.ndarray
    band_scale: np.ndarray
    brightness: bool = False  # a last channel multiplies band_mean, the reference spectrum
    sorted_by_centre: bool = False  # each pixel's components in order of their centres
    # None: each band is the spectrum at its centre (as the encoder was fitted)
    integration: BandIntegration | None = None

    @property
    def channel_names(self) -> list[str]:
        names = self.basis.channel_names(self.n_components, self.axis.unit)
        return [*names, "brightness"] if self.brightness else names

    @property
    def n_component_channels(self) -> int:
        return self.n_components * self.basis.n_params

    def _normalised_params(self, latent: np.ndarray) -> torch.Tensor:
        params = torch.as_tensor(latent[:, :self.n_component_channels],
                                 dtype=torch.float32).reshape(
            latent.shape[0], self.n_components, self.basis.n_params)
        return self.basis.from_physical(params, self.axis.minimum, self.axis.span)

    def brightness_of(self, latent: np.ndarray) -> np.ndarray:
        """(N, 1) each pixel's multiple of the reference spectrum (1 without the term)."""
        if not self.brightness:
            return np.ones((latent.shape[0], 1), dtype=np.float32)
        return latent[:, -1:]

    @torch.inference_mode()
    def render(self, latent: np.ndarray) -> np.ndarray:
        """(N, K*P [+1]) latent values in physical units -> (N, C) spectra in the input's
        units: brightness x band_mean plus the components."""
        if self.integration is not None:
            return self._integrated(latent)
        positions = self.axis.normalised()
        out = np.empty((latent.shape[0], len(self.band_mean)), dtype=np.float32)
        for first in range(0, latent.shape[0], RENDER_ROWS):
            rows = latent[first:first + RENDER_ROWS]
            scaled = self.basis.render(self._normalised_params(rows), positions).numpy()
            out[first:first + RENDER_ROWS] = (scaled * self.band_scale
                                              + self.brightness_of(rows) * self.band_mean)
        return out

    def _integrated(self, latent: np.ndarray) -> np.ndarray:
        fine = self.integration
        positions = fine.grid.normalised()
        out = np.empty((latent.shape[0], fine.weights.shape[0]), dtype=np.float32)
        for first in range(0, latent.shape[0], fine.ROWS):
            rows = latent[first:first + fine.ROWS]
            drawn = self.basis.render(self._normalised_params(rows), positions).numpy()
            drawn = drawn * fine.band_scale + self.brightness_of(rows) * fine.band_mean
            out[first:first + fine.ROWS] = drawn @ fine.weights.T
        return out

    @torch.inference_mode()
    def components(self, latent: np.ndarray) -> np.ndarray:
        """(N, K, C): each component's contribution, in the input's units but without the mean."""
        if self.integration is not None:
            fine = self.integration
            parts = self.basis.render_components(self._normalised_params(latent),
                                                 fine.grid.normalised())
            return (parts.numpy() * fine.band_scale) @ fine.weights.T
        parts = self.basis.render_components(self._normalised_params(latent),
                                             self.axis.normalised())
        return parts.numpy() * self.band_scale

    def at_wavelengths(self, wavelength_nm: np.ndarray,
                       fwhm_nm: np.ndarray | None = None) -> SpectralRenderer:
        """This renderer drawing the same latents at other bands (another sensor's): the
        bumps are continuous in nm; the band statistics are interpolated linearly between
        the fitted bands (held beyond the end ones). With `fwhm_nm` each band integrates the
        spectrum against its Gaussian response; without (or below MIN_FWHM_NM), it is the
        value at its centre."""
        if self.axis.unit != "nm":
            raise PhismError("the latents were encoded without wavelengths (band numbers), so "
                             "they render only at their own bands")
        order = np.argsort(self.axis.positions)
        fitted = self.axis.positions[order]
        target = np.asarray(wavelength_nm, dtype=np.float64)
        frame = (self.axis.minimum, self.axis.span)

        def resampled(values: np.ndarray, at: np.ndarray) -> np.ndarray:
            return np.interp(at, fitted, values[order]).astype(np.float32)

        integration = None
        band_mean, band_scale = resampled(self.band_mean, target), \
            resampled(self.band_scale, target)
        if fwhm_nm is not None and bool(np.any(np.asarray(fwhm_nm) >= MIN_FWHM_NM)):
            grid, weights = gaussian_band_weights(target, np.asarray(fwhm_nm, np.float64))
            weights = weights.astype(np.float32)
            integration = BandIntegration(
                SpectralAxis(grid, "nm", frame=frame), weights,
                resampled(self.band_mean, grid), resampled(self.band_scale, grid))
            band_mean = weights @ integration.band_mean
        return SpectralRenderer(
            basis=self.basis, n_components=self.n_components,
            axis=SpectralAxis(target, "nm", frame=frame),
            band_mean=band_mean, band_scale=band_scale,
            brightness=self.brightness, sorted_by_centre=self.sorted_by_centre,
            integration=integration)

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
            "brightness": self.brightness,
            "sorted_by_centre": self.sorted_by_centre,
            **({"brightness_meaning": BRIGHTNESS_MEANING} if self.brightness else {}),
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
            brightness=bool(meta.get("brightness", False)),
            sorted_by_centre=bool(meta.get("sorted_by_centre", False)),
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
            with serial_torch(batch.shape[0] < SERIAL_BELOW_ROWS):
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


@dataclass
class LinearRenderer:
    """PCA's decoder: spectra = (latent @ loadings) x band_scale + band_mean. It has no
    trained weights but the loadings, which a latent map carries in its metadata, so it
    renders without the model."""

    loadings: np.ndarray  # (N, C): one row per principal component
    axis: SpectralAxis
    band_mean: np.ndarray
    band_scale: np.ndarray

    @property
    def n_components(self) -> int:
        return int(self.loadings.shape[0])

    @property
    def channel_names(self) -> list[str]:
        return [f"pc{i}" for i in range(self.n_components)]

    def render(self, latent: np.ndarray, batch_size: int = 16384) -> np.ndarray:
        """(N, n_components) scores -> (N, C) spectra in the input's units, float32."""
        loadings = self.loadings.astype(np.float64)
        scale = self.band_scale.astype(np.float64)
        mean = self.band_mean.astype(np.float64)
        out = np.empty((latent.shape[0], loadings.shape[1]), dtype=np.float32)
        for start in range(0, latent.shape[0], batch_size):
            batch = np.asarray(latent[start:start + batch_size], dtype=np.float64)
            out[start:start + batch_size] = batch @ loadings * scale + mean
        return out

    def to_metadata(self) -> dict[str, Any]:
        return {
            "decoder": "pca",
            "n_components": self.n_components,
            "axis_unit": self.axis.unit,
            "axis_positions": [float(v) for v in self.axis.positions],
            "band_mean": [float(v) for v in self.band_mean],
            "band_scale": [float(v) for v in self.band_scale],
            "loadings": [[float(v) for v in row] for row in self.loadings],
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> LinearRenderer:
        return cls(
            loadings=np.asarray(meta["loadings"], dtype=np.float32),
            axis=SpectralAxis(np.asarray(meta["axis_positions"], dtype=np.float64),
                              meta["axis_unit"]),
            band_mean=np.asarray(meta["band_mean"], dtype=np.float32),
            band_scale=np.asarray(meta["band_scale"], dtype=np.float32),
        )


Renderer = SpectralRenderer | LearnedRenderer | LinearRenderer


def _finite_list(meta: dict[str, Any], key: str, where: str, length: int | None = None,
                 positive: bool = False) -> list[float]:
    values = meta.get(key)
    ok = isinstance(values, list) and len(values) > 0 and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        and (v > 0 or not positive) for v in values)
    if not ok or (length is not None and len(values) != length):
        need = "positive" if positive else "finite"
        size = "" if length is None else f" of {length} values"
        raise PhismError(f"{where}: renderer field '{key}' is not a list{size} of {need} "
                         "numbers; the file is damaged, write it again")
    return values


def check_renderer_metadata(meta: Any, where: str) -> None:
    """Refuse renderer metadata (in a model or a latent map) that cannot render correctly."""
    if not isinstance(meta, dict):
        raise PhismError(f"{where}: no renderer description; the file is damaged, write it "
                         "again")
    decoder = meta.get("decoder", "basis")
    if decoder not in ("basis", "mlp", "pca"):
        raise PhismError(f"{where}: unknown decoder {decoder!r}; the file is damaged or newer "
                         "than this phism")
    if meta.get("axis_unit") not in ("nm", "band"):
        raise PhismError(f"{where}: renderer axis unit {meta.get('axis_unit')!r} is not 'nm' or "
                         "'band'; the file is damaged, write it again")
    positions = _finite_list(meta, "axis_positions", where, positive=True)
    _finite_list(meta, "band_mean", where, len(positions))
    _finite_list(meta, "band_scale", where, len(positions), positive=True)
    count_key = "latent_dim" if decoder == "mlp" else "n_components"
    count = meta.get(count_key)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 4096:
        raise PhismError(f"{where}: renderer field '{count_key}' is {count!r}, not a whole "
                         "number from 1 to 4096; the file is damaged, write it again")
    if decoder == "pca":
        _check_loadings(meta.get("loadings"), count, len(positions), where)
    if decoder == "basis":
        if not isinstance(meta.get("brightness", False), bool):
            raise PhismError(f"{where}: renderer field 'brightness' is "
                             f"{meta.get('brightness')!r}, not true or false; the file is "
                             "damaged, write it again")
        try:
            make_basis(str(meta.get("basis")), **dict(meta.get("basis_config") or {}))
        except (TypeError, ValueError) as exc:
            raise PhismError(f"{where}: renderer basis is unusable ({exc}); the file is "
                             "damaged or newer than this phism") from None


def _check_loadings(rows: Any, n_components: int, n_bands: int, where: str) -> None:
    """PCA's loadings: one list of n_bands finite numbers per component."""
    ok = isinstance(rows, list) and len(rows) == n_components and all(
        isinstance(row, list) and len(row) == n_bands and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for v in row)
        for row in rows)
    if not ok:
        raise PhismError(f"{where}: renderer field 'loadings' is not {n_components} lists of "
                         f"{n_bands} finite numbers (one per principal component and band); "
                         "the file is damaged, write it again")


def renderer_from_metadata(meta: dict[str, Any],
                           where: str = "latents") -> SpectralRenderer | LinearRenderer:
    """The parameter-free renderer a latent map describes; a learned decoder needs its model."""
    check_renderer_metadata(meta, where)
    if meta.get("decoder") == "pca":
        return LinearRenderer.from_metadata(meta)
    if meta.get("decoder", "basis") != "basis":
        raise PhismError(f"{where}: these latents come from a conventional autoencoder, whose "
                         "decoder has weights: pass the encoder file with --model/-m")
    return SpectralRenderer.from_metadata(meta)
