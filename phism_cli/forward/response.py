"""A multispectral sensor's spectral response (SRF) as a matrix over hyperspectral bands.

Each hyperspectral band stands for an interval of wavelengths: its edges lie halfway between
neighbouring (sorted) band centres and the end bands extend by half their spacing. No
half-interval is wider than the local median spacing (the median of the `_LOCAL_SPACINGS`
spacings either side), so a band beside a gap (water-absorption bands removed) does not
claim the whole gap, while a grid whose spacing changes (VNIR and SWIR detectors) keeps
contiguous intervals.

S[m, c] is multispectral band m's response integrated over hyperspectral band c's interval:
measured curves exactly as their linear interpolant (zero outside the curve's range),
Gaussians exactly with the normal distribution function. Each row is then normalised to sum
to 1. A band with more than `max_outside` (default `MAX_OUTSIDE`) of its response outside the
hyperspectral bands' intervals is refused: the hyperspectral cube cannot say what that band
sees. A caller may accept more (up to all but nothing inside): the response is then cut at
the hyperspectral range and renormalised, and `SpectralResponse.outside_fraction` says how
much of each band was cut.

Errors are `ValueError`s holding a phrase; callers add the file or option they came from.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["FWHM_PER_SIGMA", "MAX_OUTSIDE", "OutsideRangeError", "SpectralResponse",
           "band_intervals", "gaussian_response", "response_from_curves"]

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))  # 2.3548: a Gaussian's FWHM / sigma
MAX_OUTSIDE = 0.05  # the largest fraction of a band's response allowed outside the bands
RESPONDS_ABOVE = 0.01  # a band "responds" where it is above this fraction of its peak
_ROW_SUM_TOLERANCE = 1e-6
_LOCAL_SPACINGS = 4  # spacings either side that set the local median spacing


class OutsideRangeError(ValueError):
    """A multispectral band responds mostly outside the hyperspectral bands (`nothing_inside`:
    wholly)."""

    def __init__(self, message: str, nothing_inside: bool = False) -> None:
        super().__init__(message.replace("{of}", ""))
        self.template = message  # "{of}" where the hyperspectral cube may be named
        self.nothing_inside = nothing_inside

    def naming(self, cube: str | None) -> str:
        """The message with the hyperspectral bands said to be `cube`'s."""
        return self.template.replace("{of}", f" of {cube}" if cube else "")


@dataclass(frozen=True, eq=False)
class SpectralResponse:
    """How a multispectral sensor sees a hyperspectral spectrum: M bands, each a weighting of
    the C hyperspectral bands (each row sums to 1)."""

    matrix: np.ndarray  # (M, C) float64, rows sum to 1, all >= 0
    band_names: list[str]  # M names
    wavelength_nm: np.ndarray  # (C,) hyperspectral band centres the matrix maps from
    source: str  # for messages and metadata: the file name, or "gaussian"
    # (M,) the fraction of each band's response that lay outside the hyperspectral bands and
    # was cut off before normalising (None: nothing was measured, as for a given matrix)
    outside_fraction: np.ndarray | None = None

    def __post_init__(self) -> None:
        matrix = np.array(self.matrix, dtype=np.float64)
        wavelength_nm = np.array(self.wavelength_nm, dtype=np.float64)
        names = [str(n) for n in self.band_names]
        if wavelength_nm.ndim != 1 or matrix.shape != (len(names), wavelength_nm.size):
            raise ValueError(f"a response matrix of shape {matrix.shape} does not fit "
                             f"{len(names)} band names and {wavelength_nm.size} wavelengths")
        if not names:
            raise ValueError("a spectral response needs at least one band")
        if not np.isfinite(matrix).all() or (matrix < 0).any():
            raise ValueError("a response matrix must hold finite values >= 0")
        sums = matrix.sum(axis=1)
        if np.abs(sums - 1.0).max() > _ROW_SUM_TOLERANCE:
            worst = int(np.argmax(np.abs(sums - 1.0)))
            raise ValueError(f"row {worst + 1} of the response matrix sums to "
                             f"{sums[worst]:.6g}, not 1")
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "wavelength_nm", wavelength_nm)
        object.__setattr__(self, "band_names", names)
        if self.outside_fraction is not None:
            object.__setattr__(self, "outside_fraction",
                               np.asarray(self.outside_fraction, dtype=np.float64))

    @property
    def n_bands(self) -> int:
        """M, the multispectral bands."""
        return self.matrix.shape[0]

    @property
    def n_input(self) -> int:
        """C, the hyperspectral bands the matrix maps from."""
        return self.matrix.shape[1]

    @property
    def centre_nm(self) -> np.ndarray:
        """(M,) response-weighted mean wavelength of each band."""
        return self.matrix @ self.wavelength_nm

    @property
    def fwhm_nm(self) -> np.ndarray:
        """(M,) Gaussian-equivalent width: FWHM_PER_SIGMA x the response-weighted standard
        deviation, at least the width of the hyperspectral band at the centre."""
        centre = self.centre_nm
        spread = self.wavelength_nm[None, :] - centre[:, None]
        sigma = np.sqrt((self.matrix * spread**2).sum(axis=1))
        low, high = band_intervals(self.wavelength_nm)
        nearest = np.abs(spread).argmin(axis=1)
        return np.maximum(FWHM_PER_SIGMA * sigma, (high - low)[nearest])

    def apply(self, spectra: Any) -> Any:
        """(..., C) spectra -> (..., M) band values: a numpy array in the input's float dtype
        (float64 for integers), or a torch tensor on the input's device and dtype. A NaN in
        a spectrum makes every band of it NaN."""
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(spectra, torch.Tensor):
            self._check_input(tuple(spectra.shape))
            if not spectra.is_floating_point():
                spectra = spectra.to(torch.float64)
            weights = torch.as_tensor(self.matrix.T, dtype=spectra.dtype,
                                      device=spectra.device)
            return spectra @ weights
        array = np.asarray(spectra)
        self._check_input(array.shape)
        dtype = array.dtype if array.dtype.kind == "f" else np.dtype(np.float64)
        return array.astype(dtype, copy=False) @ self.matrix.T.astype(dtype)

    def _check_input(self, shape: tuple[int, ...]) -> None:
        if not shape or shape[-1] != self.n_input:
            raise ValueError(f"spectra of shape {shape} do not end in the {self.n_input} "
                             f"bands the response ({self.source}) maps from")

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary: source, band names, centres and widths in nm."""
        summary: dict[str, Any] = {
            "source": self.source,
            "band_names": list(self.band_names),
            "centre_nm": [round(float(v), 4) for v in self.centre_nm],
            "fwhm_nm": [round(float(v), 4) for v in self.fwhm_nm],
        }
        if self.outside_fraction is not None:
            summary["outside_fraction"] = [round(float(v), 4) for v in self.outside_fraction]
        return summary


def band_intervals(wavelength_nm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) wavelength edges of each hyperspectral band, in the bands' own order."""
    wl = _check_wavelengths(wavelength_nm)
    order = np.argsort(wl, kind="stable")
    centres = wl[order]
    spacing = np.diff(centres)
    half = np.minimum(spacing / 2.0, _local_median(spacing))  # per spacing, both sides
    half_below = np.r_[half[0], half]  # end bands extend by half their spacing
    half_above = np.r_[half, half[-1]]
    low, high = np.empty_like(wl), np.empty_like(wl)
    low[order] = centres - half_below
    high[order] = centres + half_above
    return low, high


def _local_median(spacing: np.ndarray) -> np.ndarray:
    """The median of the `_LOCAL_SPACINGS` spacings either side of each spacing (itself
    left out; itself when it has no neighbour)."""
    n = _LOCAL_SPACINGS
    padded = np.r_[np.full(n, np.nan), spacing, np.full(n, np.nan)]
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * n + 1).copy()
    windows[:, n] = np.nan
    alone = np.isnan(windows).all(axis=1)
    windows[alone, n] = spacing[alone]
    return np.nanmedian(windows, axis=1)


def _check_wavelengths(wavelength_nm: np.ndarray) -> np.ndarray:
    wl = np.asarray(wavelength_nm, dtype=np.float64)
    if wl.ndim != 1 or wl.size < 2:
        raise ValueError(f"the hyperspectral scene has {wl.size} band(s); a spectral "
                         "response needs at least 2 hyperspectral bands")
    if not (np.isfinite(wl) & (wl > 0)).all():
        raise ValueError("the hyperspectral wavelengths must be finite and positive")
    ordered = np.sort(wl)
    repeated = np.flatnonzero(np.diff(ordered) == 0)
    if len(repeated):
        raise ValueError(f"the hyperspectral wavelength {ordered[repeated[0]]:g} nm belongs to "
                         "two bands; each band needs its own wavelength")
    return wl


def response_from_curves(curve_wavelength_nm: np.ndarray, curves: np.ndarray,
                         band_names: list[str], wavelength_nm: np.ndarray,
                         source: str, max_outside: float = MAX_OUTSIDE) -> SpectralResponse:
    """The response of measured curves: `curves` (M, K) (or (K,) for one band) sampled at
    `curve_wavelength_nm` (K,), integrated over each hyperspectral band's interval."""
    x = np.asarray(curve_wavelength_nm, dtype=np.float64)
    y = np.atleast_2d(np.asarray(curves, dtype=np.float64))
    names = [str(n) for n in band_names]
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"a response curve needs at least 2 wavelengths, found {x.size}")
    if y.shape != (len(names), x.size):
        raise ValueError(f"{y.shape[0]} curves of {y.shape[-1]} values do not fit "
                         f"{len(names)} band names and {x.size} wavelengths")
    if not (np.isfinite(x) & (x > 0)).all():
        bad = x[~(np.isfinite(x) & (x > 0))][0]
        raise ValueError(f"a curve wavelength is {float(bad)}; wavelengths must be finite and "
                         "positive")
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[:, order]
    repeated = np.flatnonzero(np.diff(x) == 0)
    if len(repeated):
        raise ValueError(f"the curve wavelength {x[repeated[0]]:g} nm appears twice; each "
                         "wavelength needs one row")
    for m, name in enumerate(names):
        bad = np.flatnonzero(~np.isfinite(y[m]))
        if len(bad):
            raise ValueError(f"band {name!r} is {float(y[m, bad[0]])} at {x[bad[0]]:g} nm; "
                             "responses must be finite numbers")
    y = np.clip(y, 0.0, None)
    for m, name in enumerate(names):
        if not y[m].any():
            raise ValueError(f"band {name!r} is zero at every wavelength")
    low, high = band_intervals(wavelength_nm)
    cumulative = _cumulative_trapezoid(x, y)
    raw = _integral_to(x, y, cumulative, high) - _integral_to(x, y, cumulative, low)
    total = cumulative[:, -1]
    responds = [_responding_range(x, y[m]) for m in range(len(names))]
    return _normalised(raw, total, responds, names, wavelength_nm, source, max_outside)


def gaussian_response(centre_nm: np.ndarray, fwhm_nm: np.ndarray, band_names: list[str],
                      wavelength_nm: np.ndarray, source: str = "gaussian",
                      max_outside: float = MAX_OUTSIDE) -> SpectralResponse:
    """The response of Gaussian bands of the given centres and full widths at half maximum,
    integrated exactly over each hyperspectral band's interval."""
    from scipy.special import ndtr

    centre = np.atleast_1d(np.asarray(centre_nm, dtype=np.float64))
    fwhm = np.atleast_1d(np.asarray(fwhm_nm, dtype=np.float64))
    names = [str(n) for n in band_names]
    if centre.ndim != 1 or centre.shape != fwhm.shape or centre.size != len(names):
        raise ValueError(f"{centre.size} centres and {fwhm.size} widths do not fit "
                         f"{len(names)} band names")
    for what, values in (("centre", centre), ("fwhm", fwhm)):
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if len(bad):
            raise ValueError(f"the {what} of band {names[bad[0]]!r} is {float(values[bad[0]])}; "
                             "it must be a finite, positive number of nm")
    sigma = fwhm / FWHM_PER_SIGMA
    low, high = band_intervals(wavelength_nm)
    a = (low[None, :] - centre[:, None]) / sigma[:, None]
    b = (high[None, :] - centre[:, None]) / sigma[:, None]
    # Above the centre take differences of the upper tail: they keep their precision there.
    raw = np.where(a > 0, ndtr(-a) - ndtr(-b), ndtr(b) - ndtr(a))
    reach = sigma * math.sqrt(2.0 * math.log(1.0 / RESPONDS_ABOVE))
    responds = list(zip(centre - reach, centre + reach, strict=True))
    return _normalised(raw, np.ones(len(names)), responds, names, wavelength_nm, source,
                       max_outside)


def _cumulative_trapezoid(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(M, K) integral of each curve's linear interpolant from x[0] to each x."""
    segments = 0.5 * (y[:, 1:] + y[:, :-1]) * np.diff(x)
    return np.concatenate([np.zeros((y.shape[0], 1)), np.cumsum(segments, axis=1)], axis=1)


def _integral_to(x: np.ndarray, y: np.ndarray, cumulative: np.ndarray,
                 t: np.ndarray) -> np.ndarray:
    """(M, T) integral of each curve's linear interpolant (zero outside x) from x[0] to t:
    the trapezoid rule on the union of the curve's grid and t, which is exact."""
    t = np.clip(t, x[0], x[-1])
    k = np.clip(np.searchsorted(x, t, side="right") - 1, 0, x.size - 2)
    step = t - x[k]
    at_t = y[:, k] + (y[:, k + 1] - y[:, k]) * (step / (x[k + 1] - x[k]))
    return cumulative[:, k] + 0.5 * (y[:, k] + at_t) * step


def _responding_range(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    above = np.flatnonzero(y >= RESPONDS_ABOVE * y.max())
    return float(x[above[0]]), float(x[above[-1]])


def _covered(wavelength_nm: np.ndarray) -> str:
    """The hyperspectral bands' intervals merged into ranges: '400-1340, 1450-2500'."""
    low, high = band_intervals(wavelength_nm)
    order = np.argsort(low)
    pieces: list[list[float]] = []
    for lo, hi in zip(low[order], high[order], strict=True):
        if pieces and lo <= pieces[-1][1] * (1 + 1e-9):
            pieces[-1][1] = max(pieces[-1][1], hi)
        else:
            pieces.append([lo, hi])
    return ", ".join(f"{lo:.0f}-{hi:.0f}" for lo, hi in pieces)


def _normalised(raw: np.ndarray, total: np.ndarray, responds: list[tuple[float, float]],
                names: list[str], wavelength_nm: np.ndarray, source: str,
                max_outside: float = MAX_OUTSIDE) -> SpectralResponse:
    """Refuse bands with more than `max_outside` of their response outside the hyperspectral
    bands (or nothing inside), then normalise rows to 1."""
    raw = np.clip(raw, 0.0, None)
    inside = raw.sum(axis=1)
    outside = np.clip(1.0 - inside / total, 0.0, 1.0)
    for m in np.flatnonzero((outside > max_outside) | (inside <= 0)):
        start, stop = responds[m]
        share = "all" if inside[m] <= 0 else f"{100 * outside[m]:.0f} %"
        limit = "" if inside[m] <= 0 else f", more than the {100 * max_outside:.0f} % allowed"
        raise OutsideRangeError(
            f"band {names[m]!r} responds from {start:.0f} to {stop:.0f} nm, and {share} of its "
            f"response falls outside the hyperspectral bands{{of}} ({_covered(wavelength_nm)} "
            f"nm){limit}", nothing_inside=bool(inside[m] <= 0))
    return SpectralResponse(raw / inside[:, None], names, np.asarray(wavelength_nm), source,
                            outside_fraction=outside)
