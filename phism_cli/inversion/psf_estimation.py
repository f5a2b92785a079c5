"""The point-spread function of a low-resolution sensor, estimated from a fusion pair.

If the multispectral image Y_m = S X sees the scene X through the spectral response S at full
resolution and the hyperspectral cube Y_h = D B X through the PSF B and a decimation D, then
S Y_h = D B Y_m: each low-res pixel seen through S is the PSF-weighted sum of the
multispectral patch around its block, in every band. The PSF is the non-negative kernel
summing to 1 that best explains that (least squares, `fcls` on the normal equations), on
offsets `halo_px` beyond the block each side (Simoes et al., HySure, IEEE TGRS 2015, estimate
B the same way, with a smoothness prior instead of the sign and sum constraints).

Only whole patches of finite pixels count. The normal equations are accumulated batch by
batch, so a scene is read window by window. The estimate is reported as the separable PSF
nearest to it (its leading singular pair, non-negative by Perron-Frobenius), with the share
of the kernel that separable part holds, and the shift of its centre from the block's, which
measures a misregistration between the two images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from phism_cli.forward.psf import Kernel1D, SeparablePSF
from phism_cli.forward.response import SpectralResponse
from phism_cli.inversion.fcls import fcls

__all__ = ["EQUATIONS_PER_UNKNOWN", "MAX_SUPPORT_PX", "EstimatedPsf", "PsfEstimator",
           "block_patches", "estimate_psf", "halo_for"]

EQUATIONS_PER_UNKNOWN = 4  # the least a pair must give for a kernel of a given support
# The widest support searched, in high-res pixels: 32 x 32 weights solve in a fraction of a
# second (48 x 48, ratio 16 with a full block of halo, took 7 s on 2 cores; the cost grows
# as the sixth power of the width).
MAX_SUPPORT_PX = 32


def block_patches(msi: np.ndarray, origin: tuple[int, int], ratio: int, halo_px: int,
                  lowres_rows: range, lowres_cols: range,
                  image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Multispectral patches (n, M, L, L), L = ratio + 2 halo, around the blocks of the
    low-res pixels `lowres_rows` x `lowres_cols`, read from `msi`, the high-res pixels from
    image row origin[0] and column origin[1] on; and the (n, 2) low-res (row, col) of each.
    Blocks whose patch leaves the image or the array, or holds a non-finite value, are left
    out."""
    size = ratio + 2 * halo_px
    height, width = image_shape
    rows = np.array([r for r in lowres_rows if r * ratio - halo_px >= max(0, origin[0])
                     and (r + 1) * ratio + halo_px <= min(height, origin[0] + msi.shape[0])],
                    dtype=np.int64)
    cols = np.array([c for c in lowres_cols if c * ratio - halo_px >= max(0, origin[1])
                     and (c + 1) * ratio + halo_px <= min(width, origin[1] + msi.shape[1])],
                    dtype=np.int64)
    if rows.size == 0 or cols.size == 0:
        return np.empty((0, msi.shape[-1], size, size)), np.empty((0, 2), dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(msi, (size, size), axis=(0, 1))
    top = rows * ratio - halo_px - origin[0]
    left = cols * ratio - halo_px - origin[1]
    patches = windows[top[:, None], left[None, :]]  # (rows, cols, M, L, L)
    where = np.stack(np.meshgrid(rows, cols, indexing="ij"), axis=-1).reshape(-1, 2)
    patches = patches.reshape(-1, *patches.shape[2:])
    finite = np.isfinite(patches).all(axis=(1, 2, 3))
    return patches[finite], where[finite]


@dataclass(frozen=True, eq=False)
class EstimatedPsf:
    """What `PsfEstimator.solve` found: the separable PSF, the full 2-D kernel (rows, cols
    over offsets -halo .. ratio + halo - 1), the share of that kernel its separable part
    holds, the relative RMSE of the fit and how many patches and equations made it."""

    psf: SeparablePSF
    kernel: np.ndarray
    separable_share: float
    relative_rmse: float
    patches: int
    equations: int

    @property
    def shift_px(self) -> tuple[float, float]:
        """The PSF centre's offset from the block centre (rows, cols) in high-res pixels."""
        middle = (self.psf.ratio - 1) / 2.0
        return self.psf.rows.centre() - middle, self.psf.cols.centre() - middle

    def describe(self) -> dict[str, Any]:
        return {**self.psf.describe(), "shift_px": [round(float(s), 4) for s in self.shift_px],
                "separable_share": round(self.separable_share, 4),
                "relative_rmse": round(self.relative_rmse, 5), "patches": self.patches}


def _widest_halo(ratio: int) -> int:
    """One block beyond the block each side, capped so the support is at most MAX_SUPPORT_PX
    across (negative when the block alone is wider)."""
    return min(ratio, (MAX_SUPPORT_PX - ratio) // 2)


def halo_for(ratio: int, lowres_shape: tuple[int, int], n_bands: int) -> int | None:
    """The widest support to search, up to one block beyond the block each side and
    MAX_SUPPORT_PX across, for which a pair of `lowres_shape` low-res pixels and `n_bands`
    multispectral bands gives at least EQUATIONS_PER_UNKNOWN equations per kernel weight
    (None: not even the block alone, or a block wider than MAX_SUPPORT_PX)."""
    for halo in range(_widest_halo(ratio), -1, -1):
        margin = 2 * -(-halo // ratio)  # low-res pixels whose patch leaves the image
        patches = max(0, lowres_shape[0] - margin) * max(0, lowres_shape[1] - margin)
        if patches * n_bands >= EQUATIONS_PER_UNKNOWN * (ratio + 2 * halo) ** 2:
            return halo
    return None


class PsfEstimator:
    """Accumulate (multispectral patch, low-res pixel seen through S) pairs with `add`, then
    `solve` for the PSF. Hyper-parameters: the ratio and `halo_px` (default: the ratio, a
    support three blocks wide, at most MAX_SUPPORT_PX across)."""

    def __init__(self, ratio: int, halo_px: int | None = None) -> None:
        if int(ratio) != ratio or ratio < 2:
            raise ValueError(f"the ratio must be a whole number >= 2, not {ratio!r}")
        self.ratio = int(ratio)
        self.halo_px = max(0, _widest_halo(self.ratio)) if halo_px is None else int(halo_px)
        if self.halo_px < 0:
            raise ValueError(f"the halo must be >= 0 pixels, not {halo_px!r}")
        size = (self.ratio + 2 * self.halo_px) ** 2
        self.gram_ = np.zeros((size, size))
        self.moment_ = np.zeros(size)
        self.target_square_ = 0.0
        self.target_sum_ = 0.0
        self.patches_ = 0
        self.equations_ = 0

    @property
    def size(self) -> int:
        return self.ratio + 2 * self.halo_px

    def add(self, patches: np.ndarray, seen: np.ndarray) -> None:
        """`patches` (n, M, L, L) multispectral patches in the radiometry of `seen` (n, M),
        the low-res pixels seen through the spectral response; non-finite rows are dropped."""
        patches = np.asarray(patches, dtype=np.float64)
        seen = np.asarray(seen, dtype=np.float64)
        if patches.shape[2:] != (self.size, self.size) or patches.shape[:2] != seen.shape:
            raise ValueError(f"patches {patches.shape} do not match {seen.shape} pixels of "
                             f"{self.size} x {self.size}")
        keep = np.isfinite(seen).all(axis=1) & np.isfinite(patches).all(axis=(1, 2, 3))
        design = patches[keep].reshape(-1, self.size**2)
        target = seen[keep].reshape(-1)
        self.gram_ += design.T @ design
        self.moment_ += design.T @ target
        self.target_square_ += float(target @ target)
        self.target_sum_ += float(np.abs(target).sum())
        self.patches_ += int(keep.sum())
        self.equations_ += target.size

    def solve(self) -> EstimatedPsf:
        if self.equations_ < self.size**2:
            raise ValueError(f"{self.equations_} equations for a {self.size} x {self.size} "
                             "PSF: give a larger pair or a smaller halo")
        scale = float(np.trace(self.gram_)) / self.size**2 or 1.0
        weights = fcls(torch.as_tensor(self.gram_ / scale)[None],
                       torch.as_tensor(self.moment_ / scale)[None])[0].numpy()
        residual = (weights @ self.gram_ @ weights - 2 * weights @ self.moment_
                    + self.target_square_)
        mean_target = self.target_sum_ / self.equations_
        rmse = float(np.sqrt(max(residual, 0.0) / self.equations_))
        kernel = weights.reshape(self.size, self.size)
        return EstimatedPsf(self._separable(kernel), kernel, _separable_share(kernel),
                            rmse / mean_target if mean_target > 0 else float("nan"),
                            self.patches_, self.equations_)

    def _separable(self, kernel: np.ndarray) -> SeparablePSF:
        u, _, vt = np.linalg.svd(kernel)
        offsets = np.arange(-self.halo_px, self.ratio + self.halo_px)
        return SeparablePSF(self.ratio, Kernel1D(offsets, np.abs(u[:, 0])),
                            Kernel1D(offsets, np.abs(vt[0])), "estimated",
                            {"halo_searched_px": self.halo_px})


def _separable_share(kernel: np.ndarray) -> float:
    singular = np.linalg.svd(kernel, compute_uv=False)
    total = float((singular**2).sum())
    return float(singular[0] ** 2 / total) if total > 0 else 0.0


def estimate_psf(lowres: np.ndarray, msi: np.ndarray, response: SpectralResponse, ratio: int,
                 msi_gain: np.ndarray | None = None, halo_px: int | None = None
                 ) -> EstimatedPsf:
    """The PSF of a pair held in memory: `lowres` (h, w, C) and `msi` (>= h R, >= w R, M),
    the multispectral bands scaled by `msi_gain` (M,) into the radiometry of the response
    applied to `lowres` (default: already matched); `halo_px` default: `halo_for` the pair."""
    if halo_px is None:
        halo_px = halo_for(ratio, lowres.shape[:2], msi.shape[-1])
        if halo_px is None:
            raise ValueError(f"a {lowres.shape[0]} x {lowres.shape[1]} low-res cube is too "
                             "small to estimate the PSF from")
    estimator = PsfEstimator(ratio, halo_px)
    patches, where = block_patches(np.asarray(msi, dtype=np.float64), (0, 0), ratio,
                                   estimator.halo_px, range(lowres.shape[0]),
                                   range(lowres.shape[1]), msi.shape[:2])
    if msi_gain is not None:
        patches = patches * np.asarray(msi_gain, dtype=np.float64)[None, :, None, None]
    estimator.add(patches, response.apply(np.asarray(lowres, dtype=np.float64)
                                          [where[:, 0], where[:, 1]]))
    return estimator.solve()
