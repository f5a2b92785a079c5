"""One sensor's bands seen through another's: spectral resampling between band sets.

A spectrum measured at the source bands is taken as the linear interpolant of its band
values (held constant beyond the end bands, linear across gaps such as removed water bands)
on a fine wavelength grid; each target band is that curve integrated against the target
band's Gaussian response (its centre and FWHM). The result is one (target, source) matrix
whose rows sum to 1: target = matrix @ source.

A source band has already averaged the spectrum over its own response. Gaussians compose by
adding variances, so when the source's FWHM is known a target band integrates the source
curve over the remaining width only, sqrt(target^2 - source^2), and one narrower than the
source's takes the source curve at its centre: the sharper sensor's detail is not there to
recover (`effective_fwhm`).

`coverage` says how much of the target range the source bands span, so a caller can refuse
pairs that do not overlap enough instead of inventing the missing part.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phism_cli.forward.response import FWHM_PER_SIGMA

_GRID_STEP_NM = 1.0  # the fine grid's spacing (finer where a target band is narrower)
_MIN_GRID_STEP_NM = 0.5
_REACH_SIGMAS = 4.0  # each Gaussian is integrated this many sigmas either side
# A response narrower than this is taken as the value at the band's centre: it would change
# the spectrum of any feature a few nm wide by far less than a band's noise.
MIN_FWHM_NM = 2.0


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
                    target_fwhm_nm: np.ndarray | None,
                    source_fwhm_nm: np.ndarray | None = None) -> BandResampling:
    """The matrix taking spectra at `source_nm` to bands at `target_nm` of width
    `target_fwhm_nm` (None: each target band as wide as its spacing to its neighbours). With
    `source_fwhm_nm` the target bands integrate only the width the source bands lack."""
    source = np.asarray(source_nm, dtype=np.float64)
    target = np.asarray(target_nm, dtype=np.float64)
    if source.size < 2 or target.size < 1:
        raise ValueError(f"resampling needs at least 2 source bands and 1 target band "
                         f"(found {source.size} and {target.size})")
    width = band_widths(target) if target_fwhm_nm is None else \
        np.asarray(target_fwhm_nm, dtype=np.float64)
    if source_fwhm_nm is not None:
        width = effective_fwhm(target, width, source, source_fwhm_nm)
    grid, gauss = gaussian_band_weights(target, width,
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


def effective_fwhm(target_nm: np.ndarray, target_fwhm_nm: np.ndarray,
                   source_nm: np.ndarray, source_fwhm_nm: np.ndarray) -> np.ndarray:
    """The width each target band still has to integrate over a spectrum that source bands
    of `source_fwhm_nm` (interpolated at the target centres) have averaged already:
    sqrt(target^2 - source^2), 0 where the target band is the narrower."""
    order = np.argsort(source_nm, kind="stable")
    source_at = np.interp(target_nm, np.asarray(source_nm, np.float64)[order],
                          np.asarray(source_fwhm_nm, np.float64)[order])
    remaining = np.asarray(target_fwhm_nm, np.float64) ** 2 - source_at ** 2
    return np.sqrt(np.clip(remaining, 0.0, None))


def usable_fwhm(fwhm_nm: np.ndarray | None) -> np.ndarray | None:
    """`fwhm_nm` when every band has a finite positive width, else None (unknown)."""
    if fwhm_nm is None:
        return None
    fwhm = np.asarray(fwhm_nm, dtype=np.float64)
    return fwhm if bool(np.all(np.isfinite(fwhm) & (fwhm > 0))) else None


def gaussian_band_weights(centre_nm: np.ndarray, fwhm_nm: np.ndarray | None,
                          reach_nm: tuple[float, float] | None = None
                          ) -> tuple[np.ndarray, np.ndarray]:
    """A fine wavelength grid (nm) and the (bands, grid) weights that integrate a spectrum
    drawn on it against each band's Gaussian response (rows sum to 1); a band narrower than
    MIN_FWHM_NM takes the value at its centre (a grid point). `fwhm_nm` None: each band as
    wide as its spacing to its neighbours; the grid spans every response to `_REACH_SIGMAS`
    and at least `reach_nm`."""
    centre = np.asarray(centre_nm, dtype=np.float64)
    width = band_widths(centre) if fwhm_nm is None else np.asarray(fwhm_nm, dtype=np.float64)
    wide = width >= MIN_FWHM_NM
    sigma = np.where(wide, width, MIN_FWHM_NM) / FWHM_PER_SIGMA
    step = float(np.clip(sigma[wide].min() / 2.0 if wide.any() else _GRID_STEP_NM,
                         _MIN_GRID_STEP_NM, _GRID_STEP_NM))
    low = float((centre - _REACH_SIGMAS * sigma).min())
    high = float((centre + _REACH_SIGMAS * sigma).max())
    if reach_nm is not None:
        low, high = min(low, reach_nm[0]), max(high, reach_nm[1])
    # The narrow bands' centres are grid points of their own (their rows pick them); the
    # Gaussians are integrated by the trapezoid rule on the grid, uneven where they are.
    grid = np.union1d(np.arange(low, high + step, step), centre[~wide])
    spacing = np.diff(grid)
    trapezoid = np.r_[spacing[:1], spacing[:-1] + spacing[1:], spacing[-1:]] / 2.0 \
        if grid.size > 1 else np.ones(1)
    weights = np.exp(-0.5 * ((grid[None, :] - centre[:, None]) / sigma[:, None]) ** 2) \
        * trapezoid
    weights[~wide] = (grid[None, :] == centre[~wide, None]).astype(np.float64)
    return grid, weights / weights.sum(axis=1, keepdims=True)


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


def band_widths(centres: np.ndarray) -> np.ndarray:
    """Each band's width (nm) where none is known: the spacing to its neighbours."""
    if centres.size == 1:
        return np.array([10.0])
    order = np.argsort(centres, kind="stable")
    spacing = np.diff(centres[order])
    widths = np.empty_like(centres)
    widths[order] = np.r_[spacing[0], np.minimum(spacing[:-1], spacing[1:]), spacing[-1]] \
        if centres.size > 2 else np.r_[spacing, spacing]
    return np.maximum(widths, 1e-3)
