"""Point-spread functions of a low-resolution sensor, on the high-resolution grid.

A PSF here is separable: one 1-D kernel along the rows (image y) and one along the columns
(image x), each as integer offsets from the first high-res pixel of an R x R block and weights
summing to 1. Every shape is centred on its block, at offset (R - 1) / 2:

- gaussian: standard deviation `sigma_px` high-res pixels (0: the block's R pixels alike),
  out to 3 sigma beyond the block;
- box: a box `length_blocks` blocks wide, each pixel weighted by how much of it lies inside;
- sinc: sinc^2 with its first zeros R pixels from the centre, out to `lobes` lobes (the
  diffraction pattern of a slit);
- motion: a box `length_blocks` blocks long along the columns (a smear along x) and one
  block along the rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phism_cli.forward.response import FWHM_PER_SIGMA

__all__ = ["DEFAULT_MOTION_BLOCKS", "PSF_SHAPES", "Kernel1D", "SeparablePSF", "as_psf",
           "box_kernel", "default_gaussian_sigma", "gaussian_kernel", "make_psf", "sinc_kernel"]

PSF_SHAPES = ("gaussian", "box", "sinc", "motion")
DEFAULT_MOTION_BLOCKS = 3.0
_TAIL_SIGMAS = 3.0
_SINC_LOBES = 3


@dataclass(frozen=True, eq=False)
class Kernel1D:
    """1-D weights (summing to 1) at integer offsets from a block's first pixel."""

    offsets: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        offsets = np.asarray(self.offsets, dtype=np.int64)
        weights = np.asarray(self.weights, dtype=np.float64)
        if offsets.ndim != 1 or offsets.shape != weights.shape or offsets.size == 0:
            raise ValueError("a kernel needs as many offsets as weights, at least one")
        if not (np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0):
            raise ValueError("kernel weights must be finite, >= 0 and not all 0")
        keep = weights > 0
        object.__setattr__(self, "offsets", offsets[keep])
        object.__setattr__(self, "weights", weights[keep] / weights[keep].sum())

    def halo(self, ratio: int) -> int:
        """High-res pixels the kernel reaches beyond its block on either side."""
        return max(0, -int(self.offsets.min()), int(self.offsets.max()) - (ratio - 1))

    def centre(self) -> float:
        return float(self.weights @ self.offsets)

    def fwhm_px(self) -> float:
        """The width at half the peak, linearly interpolated between offsets."""
        peak = self.weights.max()
        dense = np.arange(self.offsets.min(), self.offsets.max() + 1)
        values = np.zeros(dense.size)
        values[self.offsets - dense[0]] = self.weights
        above = np.flatnonzero(values >= peak / 2)
        first, last = above[0], above[-1]

        def crossing(inside: int, outside: int) -> float:
            if outside < 0 or outside >= values.size:
                return float(inside) + 0.5 * np.sign(outside - inside)
            a, b = values[inside], values[outside]
            return inside + (a - peak / 2) / (a - b) * (outside - inside)

        return crossing(last, last + 1) - crossing(first, first - 1)


def gaussian_kernel(ratio: int, sigma_px: float) -> Kernel1D:
    """A Gaussian of `sigma_px` centred on the block, out to 3 sigma beyond it (0: a box)."""
    _check(ratio)
    if not (math.isfinite(sigma_px) and sigma_px >= 0):
        raise ValueError(f"the PSF sigma must be a finite number >= 0, not {sigma_px!r}")
    if sigma_px == 0:
        return Kernel1D(np.arange(ratio), np.ones(ratio))
    halo = math.ceil(_TAIL_SIGMAS * sigma_px)
    offsets = np.arange(-halo, ratio + halo)
    # a tiny sigma underflows the tails to 0: Kernel1D drops them from the support
    return Kernel1D(offsets, np.exp(-0.5 * ((offsets - (ratio - 1) / 2.0) / sigma_px) ** 2))


def box_kernel(ratio: int, length_blocks: float = 1.0) -> Kernel1D:
    """A box `length_blocks` blocks wide centred on the block; pixels it cuts weigh by their
    share inside it."""
    _check(ratio)
    if not (math.isfinite(length_blocks) and length_blocks > 0):
        raise ValueError(f"the box length must be a finite number > 0, not {length_blocks!r}")
    centre, half = (ratio - 1) / 2.0, length_blocks * ratio / 2.0
    offsets = np.arange(math.floor(centre - half), math.ceil(centre + half) + 1)
    inside = (np.minimum(offsets + 0.5, centre + half)
              - np.maximum(offsets - 0.5, centre - half))
    return Kernel1D(offsets, np.clip(inside, 0.0, None))


def sinc_kernel(ratio: int, lobes: int = _SINC_LOBES) -> Kernel1D:
    """sinc^2 centred on the block, first zeros `ratio` pixels away, out to `lobes` lobes."""
    _check(ratio)
    centre = (ratio - 1) / 2.0
    offsets = np.arange(math.floor(centre - lobes * ratio), math.ceil(centre + lobes * ratio) + 1)
    return Kernel1D(offsets, np.sinc((offsets - centre) / ratio) ** 2)


def default_gaussian_sigma(ratio: int) -> float:
    """The Gaussian whose FWHM equals the ratio: sigma = R / 2.3548 high-res pixels."""
    return ratio / FWHM_PER_SIGMA


@dataclass(frozen=True, eq=False)
class SeparablePSF:
    """A PSF for blocks of `ratio` x `ratio` high-res pixels: `rows` weighs along image y,
    `cols` along x. `parameters` say how it was made (what `describe` reports)."""

    ratio: int
    rows: Kernel1D
    cols: Kernel1D
    shape: str = "custom"
    parameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.ratio)

    @property
    def halo(self) -> int:
        """High-res pixels the PSF reaches beyond its block on any side."""
        return max(self.rows.halo(self.ratio), self.cols.halo(self.ratio))

    def kernel_2d(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row offsets, column offsets, (rows, cols) weights) of the whole PSF."""
        return self.rows.offsets, self.cols.offsets, np.outer(self.rows.weights,
                                                              self.cols.weights)

    def describe(self) -> dict[str, Any]:
        """JSON-ready: shape, parameters, FWHM and centre (high-res pixels) along y and x."""
        return {"shape": self.shape, **self.parameters, "ratio": self.ratio,
                "fwhm_px": [_rounded(self.rows.fwhm_px()), _rounded(self.cols.fwhm_px())],
                "centre_px": [_rounded(self.rows.centre()), _rounded(self.cols.centre())],
                "halo_px": self.halo}


def make_psf(shape: str, ratio: int, *, sigma_px: float | None = None,
             length_blocks: float | None = None) -> SeparablePSF:
    """The PSF `shape` names (one of PSF_SHAPES) for blocks of `ratio` pixels. `sigma_px`
    (gaussian; default FWHM = ratio) and `length_blocks` (box: default 1; motion: default 3)
    are refused where the shape has no such parameter."""
    if shape not in PSF_SHAPES:
        raise ValueError(f"unknown PSF shape {shape!r}; use one of {', '.join(PSF_SHAPES)}")
    if sigma_px is not None and shape != "gaussian":
        raise ValueError(f"a {shape} PSF has no sigma")
    if length_blocks is not None and shape not in ("box", "motion"):
        raise ValueError(f"a {shape} PSF has no length")
    if shape == "gaussian":
        sigma = default_gaussian_sigma(ratio) if sigma_px is None else float(sigma_px)
        kernel = gaussian_kernel(ratio, sigma)
        return SeparablePSF(ratio, kernel, kernel, shape, {"sigma_px": sigma})
    if shape == "sinc":
        kernel = sinc_kernel(ratio)
        return SeparablePSF(ratio, kernel, kernel, shape, {"lobes": _SINC_LOBES})
    if shape == "box":
        length = 1.0 if length_blocks is None else float(length_blocks)
        kernel = box_kernel(ratio, length)
        return SeparablePSF(ratio, kernel, kernel, shape, {"length_blocks": length})
    length = DEFAULT_MOTION_BLOCKS if length_blocks is None else float(length_blocks)
    return SeparablePSF(ratio, box_kernel(ratio), box_kernel(ratio, length), shape,
                        {"length_blocks": length})


def as_psf(psf: SeparablePSF | float, ratio: int) -> SeparablePSF:
    """`psf` itself (refused when made for another ratio) or, for a number, the Gaussian PSF
    of that sigma in high-res pixels."""
    if isinstance(psf, SeparablePSF):
        if psf.ratio != ratio:
            raise ValueError(f"the PSF is for a ratio of {psf.ratio}, not {ratio}")
        return psf
    return make_psf("gaussian", ratio, sigma_px=float(psf))


def _rounded(value: float) -> float:
    return round(float(value), 4)


def _check(ratio: int) -> None:
    if int(ratio) != ratio or ratio < 1:
        raise ValueError(f"the ratio must be a whole number >= 1, not {ratio!r}")
