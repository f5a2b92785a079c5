"""Spatial resampling by integer ratios, exact when computed window by window.

Pixel centres follow GDAL's convention: output pixel o of an image upsampled by r sits at
source coordinate (o + 0.5) / r - 0.5. Bilinear taps are clamped at the image edge, so a
window of the upsampled image needs only a window of the source one pixel wider than its
footprint and equals the same window of the whole upsampled image.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["bilinear_taps", "block_mean", "upsample_bilinear", "upsample_window_source"]


def bilinear_taps(start: int, stop: int, ratio: int, n_source: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For outputs start..stop-1 of an r-times upsampling of n_source samples: the two source
    indices each one interpolates between and the weight of the second."""
    position = (np.arange(start, stop) + 0.5) / ratio - 0.5
    position = np.clip(position, 0.0, n_source - 1)
    first = np.minimum(np.floor(position).astype(np.int64), n_source - 1)
    second = np.minimum(first + 1, n_source - 1)
    return first, second, (position - first).astype(np.float32)


def upsample_window_source(row_start: int, row_stop: int, col_start: int, col_stop: int,
                           ratio: int, source_shape: tuple[int, int]
                           ) -> tuple[int, int, int, int]:
    """The source rows and columns (start, stop, start, stop) that an output window reads."""
    rows = bilinear_taps(row_start, row_stop, ratio, source_shape[0])
    cols = bilinear_taps(col_start, col_stop, ratio, source_shape[1])
    return (int(rows[0].min()), int(rows[1].max()) + 1,
            int(cols[0].min()), int(cols[1].max()) + 1)


def upsample_bilinear(source: np.ndarray, ratio: int, rows: tuple[int, int],
                      cols: tuple[int, int], source_origin: tuple[int, int] = (0, 0),
                      source_shape: tuple[int, int] | None = None,
                      ignore_nan: bool = False) -> np.ndarray:
    """Output rows/cols [start, stop) of the bilinear r-times upsampling of an (h, w, C) image.

    `source` may be a window of the whole image starting at `source_origin`, whose full size
    is `source_shape` (default: `source` is the whole image). With `ignore_nan`, pixels with a
    NaN are left out and the other taps' weights renormalised (NaN only where every tap is)."""
    if ignore_nan:
        valid = np.isfinite(source).all(axis=-1, keepdims=True)
        weighted = np.where(valid, source, 0.0)
        args = (ratio, rows, cols, source_origin, source_shape)
        total = upsample_bilinear(weighted, *args)
        weight = upsample_bilinear(valid.astype(source.dtype), *args)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(weight > 1e-6, total / weight, np.nan).astype(source.dtype)
    shape = source_shape or source.shape[:2]
    r0, r1, rw = bilinear_taps(*rows, ratio, shape[0])
    c0, c1, cw = bilinear_taps(*cols, ratio, shape[1])
    r0, r1 = r0 - source_origin[0], r1 - source_origin[0]
    c0, c1 = c0 - source_origin[1], c1 - source_origin[1]
    along_rows = source[r0] * (1 - rw)[:, None, None] + source[r1] * rw[:, None, None]
    return along_rows[:, c0] * (1 - cw)[None, :, None] + along_rows[:, c1] * cw[None, :, None]


def block_mean(cube: np.ndarray, ratio: int, ignore_nan: bool = False) -> np.ndarray:
    """(H, W, C) -> (ceil(H/r), ceil(W/r), C): the mean of each r x r block (partial blocks at
    the edges average what they have). With `ignore_nan`, NaN values are left out of the mean
    (a block with none valid stays NaN)."""
    height, width, bands = cube.shape
    rows, cols = math.ceil(height / ratio), math.ceil(width / ratio)
    padded = np.zeros((rows * ratio, cols * ratio, bands), dtype=np.float64)
    padded[:height, :width] = cube
    blocks = padded.reshape(rows, ratio, cols, ratio, bands)
    inside = np.zeros((rows * ratio, cols * ratio, 1), dtype=bool)
    inside[:height, :width] = True
    valid = inside.reshape(rows, ratio, cols, ratio, 1)
    if ignore_nan:
        valid = valid & np.isfinite(blocks)
    total = np.where(valid, blocks, 0.0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / valid.sum(axis=(1, 3))).astype(np.float32)
