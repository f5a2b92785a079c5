"""One sensor's bands seen through another's: spectral resampling between band sets.

A spectrum measured at the source bands is taken as the linear interpolant of its band
values (held constant beyond the end bands, linear across gaps such as removed water bands)
on a fine wavelength grid; each target band is that curve integrated against the target
band's Gaussian response (its centre and FWHM). The result is one (target, source) matrix
whose rows sum to 1: target = matrix @ source.

`coverage` says how much of the target range the source bands span, so a caller can refuse
pairs that do not overlap enough instead of inventing the missing part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phism_cli.forward.response import FWHM_PER_SIGMA

_GRID_STEP_NM = 1.0  # the fine grid's spacing (finer where a target band is narrower)
_REACH_SIGMAS = 4.0  # each Gaussian is integrated this many sigmas either side


@dataclass(frozen=True)
class BandResampling:
    """How source bands map onto target bands."""

    matrix: np.ndarray  # (targets, sources) float64, rows sum to 1
    source_nm: np.ndarray
    target_nm: np.ndarray
    coverage: float  # the share of the target range (first to last centre) the source spans
    # target bands whose centre lies outside the source range (their values are held from
    # the nearest source band)
    outside: np.ndarray

    def apply(self, spectra: np.ndarray) -> np.ndarray:
        """(..., sources) -> (..., targets), in float32 for float32 input."""
        dtype = spectra.dtype if spectra.dtype.kind == "f" else np.dtype(np.float64)
        return spectra.astype(dtype, copy=False) @ self.matrix.T.astype(dtype)


def band_resampling(source_nm: np.ndarray, target_nm: np.ndarray,
                    target_fwhm_nm: np.ndarray | None) -> BandResampling:
    """The matrix taking spectra at `source_nm` to bands at `target_nm` of width
    `target_fwhm_nm` (None: each target band as wide as its spacing to its neighbours)."""
    source = np.asarray(source_nm, dtype=np.float64)
    target = np.asarray(target_nm, dtype=np.float64)
    if source.size < 2 or target.size < 1:
        raise ValueError(f"resampling needs at least 2 source bands and 1 target band "
                         f"(found {source.size} and {target.size})")
    grid, gauss = gaussian_band_weights(target, target_fwhm_nm,
                                        (float(source.min()), float(source.max())))
    matrix = gauss @ _interpolation(source, grid)
    lo, hi = float(source.min()), float(source.max())
    span = float(target.max() - target.min())
    inside = max(0.0, min(hi, float(target.max())) - max(lo, float(target.min())))
    coverage = 1.0 if span == 0 else inside / span
    if span == 0:
        coverage = float(lo <= target[0] <= hi)
    return BandResampling(matrix, source, target, coverage,
                          np.flatnonzero((target < lo) | (target > hi)))


def gaussian_band_weights(centre_nm: np.ndarray, fwhm_nm: np.ndarray | None,
                          reach_nm: tuple[float, float] | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """A fine wavelength grid (nm) and the (bands, grid) weights that integrate a spectrum
    drawn on it against each band's Gaussian response (rows sum to 1). `fwhm_nm` None: each
    band as wide as its spacing to its neighbours; the grid spans every response to
    `_REACH_SIGMAS` and at least `reach_nm`."""
    centre = np.asarray(centre_nm, dtype=np.float64)
    width = _widths(centre) if fwhm_nm is None else np.asarray(fwhm_nm, dtype=np.float64)
    sigma = width / FWHM_PER_SIGMA
    step = min(_GRID_STEP_NM, float(sigma.min()) / 2.0)
    low = float((centre - _REACH_SIGMAS * sigma).min())
    high = float((centre + _REACH_SIGMAS * sigma).max())
    if reach_nm is not None:
        low, high = min(low, reach_nm[0]), max(high, reach_nm[1])
    grid = np.arange(low, high + step, step)
    gauss = np.exp(-0.5 * ((grid[None, :] - centre[:, None]) / sigma[:, None]) ** 2)
    return grid, gauss / gauss.sum(axis=1, keepdims=True)


def _interpolation(source: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """(grid, sources) weights of np.interp: the linear interpolant of the source values,
    constant beyond the end bands."""
    order = np.argsort(source, kind="stable")
    centres = source[order]
    upper = np.clip(np.searchsorted(centres, grid, side="right"), 1, len(centres) - 1)
    lower = upper - 1
    gap = centres[upper] - centres[lower]
    t = np.clip((grid - centres[lower]) / np.where(gap > 0, gap, 1.0), 0.0, 1.0)
    weights = np.zeros((grid.size, source.size))
    rows = np.arange(grid.size)
    np.add.at(weights, (rows, order[lower]), 1.0 - t)
    np.add.at(weights, (rows, order[upper]), t)
    return weights


def _widths(centres: np.ndarray) -> np.ndarray:
    """A band's width where none is known: the spacing to its neighbours."""
    if centres.size == 1:
        return np.array([10.0])
    order = np.argsort(centres, kind="stable")
    spacing = np.diff(centres[order])
    widths = np.empty_like(centres)
    widths[order] = np.r_[spacing[0], np.minimum(spacing[:-1], spacing[1:]), spacing[-1]] \
        if centres.size > 2 else np.r_[spacing, spacing]
    return np.maximum(widths, 1e-3)
