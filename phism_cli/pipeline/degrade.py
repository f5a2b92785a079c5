"""Wald-protocol pairs from a real hyperspectral cube X, streamed tile by tile.

From X cropped to whole R x R blocks (the reference) come a low-resolution hyperspectral cube
(X blurred by a point-spread function and sampled once per block) and a multispectral image
on X's grid (a spectral response applied to X), optionally with Gaussian noise.

The PSF is separable (`phism_cli.forward.psf`: Gaussian by default, box, sinc^2 or motion),
1-D weights over offsets from a block's first pixel. At the image's border the weights of
pixels outside it are dropped and the rest renormalised. A low-resolution value is NaN when
any pixel in its PSF support is (nodata propagates). Each output value is summed offset by
offset in the same order whatever the tiling, so the streamed result is bit for bit that of
`spatial_degrade` on the whole cube in memory.

Noise: per band, standard deviation sqrt(mean square of the band / 10^(snr_db / 10)), the
mean squares measured over the reference (for multispectral bands: over the response applied
to it). The normal deviates come from a counter-based generator (Philox) keyed by the seed
and indexed by (row, column, band) of each output, so they do not depend on the tile size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from affine import Affine
from rasterio.windows import Window

from phism_cli.errors import PhismError
from phism_cli.forward.psf import SeparablePSF, as_psf, default_gaussian_sigma, make_psf
from phism_cli.forward.response import SpectralResponse
from phism_cli.io.scene import Scene, iter_windows

if TYPE_CHECKING:
    from phism_cli.io.rasters import RasterSpec

__all__ = ["ROLES", "DegradeSummary", "band_mean_squares", "default_psf_sigma",
           "degrade_scene", "degrade_window", "degraded_size", "noise_std", "output_specs",
           "processing_tile", "psf_from_options", "spatial_degrade", "standard_normal"]

ROLES = ("hsi", "msi", "reference")
_NOISE_STREAMS = {"hsi": 1, "msi": 2}


class Sink(Protocol):
    """Where an output's windows go (a `RasterWriter`, or an array in tests)."""

    def write(self, window: Window, block: np.ndarray) -> None: ...


# -- the PSF ---------------------------------------------------------------------------------
def default_psf_sigma(ratio: int) -> float:
    """The Gaussian PSF whose FWHM equals the ratio: sigma = R / 2.3548 high-res pixels."""
    return default_gaussian_sigma(ratio)


def psf_from_options(shape: str, ratio: int, sigma_px: float | None,
                     length_blocks: float | None) -> SeparablePSF:
    """The PSF of `phism degrade --psf SHAPE [--psf-sigma S] [--psf-length L]`; a parameter
    the shape does not have, or a value out of range, is a PhismError naming the option."""
    if sigma_px is not None:
        if shape != "gaussian":
            raise PhismError(f"--psf-sigma {sigma_px:g}: a {shape} PSF has no sigma; drop "
                             "it or use --psf gaussian")
        if not (math.isfinite(sigma_px) and sigma_px >= 0):
            raise PhismError(f"--psf-sigma {sigma_px:g}: give a finite width >= 0 in "
                             "high-res pixels (0: a plain block average)")
    if length_blocks is not None:
        if shape not in ("box", "motion"):
            raise PhismError(f"--psf-length {length_blocks:g}: a {shape} PSF has no length; "
                             "it is for --psf box or motion")
        if not (math.isfinite(length_blocks) and 0 < length_blocks <= 64):
            raise PhismError(f"--psf-length {length_blocks:g}: give a length in blocks, "
                             "more than 0 and at most 64")
    return make_psf(shape, ratio, sigma_px=sigma_px, length_blocks=length_blocks)


def degraded_size(height: int, width: int, ratio: int) -> tuple[int, int]:
    """Low-res (rows, columns): whole R x R blocks only."""
    return height // ratio, width // ratio


def _axis_pass(values: np.ndarray, bad: np.ndarray, first: int, out_first: int, n_out: int,
               ratio: int, offsets: np.ndarray, weights: np.ndarray,
               size: int) -> tuple[np.ndarray, np.ndarray]:
    """PSF along axis 0: `values` (NaN-free) and `bad` hold image positions first.. of an
    axis `size` long; returns the normalised sums for blocks out_first.. and whether any
    pixel of their support was bad."""
    starts = (out_first + np.arange(n_out)) * ratio
    shape = (n_out,) + (1,) * (values.ndim - 1)
    total = np.zeros((n_out, *values.shape[1:]), dtype=np.float64)
    term = np.empty_like(total)
    flagged = np.zeros(total.shape, dtype=bool)
    any_bad = bool(bad.any())
    norm = np.zeros(n_out)
    for offset, weight in zip(offsets, weights, strict=True):
        position = starts + offset
        inside = (position >= 0) & (position < size)
        index = np.clip(position, 0, size - 1) - first
        if ((index[inside] < 0) | (index[inside] >= values.shape[0])).any():
            raise ValueError("the block does not hold the PSF support of its outputs; read "
                             "it with the PSF's halo of pixels around them")
        index = np.clip(index, 0, values.shape[0] - 1)
        used = np.where(inside, weight, 0.0)
        # Whole rows every `ratio` as a view where nothing is clipped: the same numbers.
        rows = slice(index[0], index[-1] + 1, ratio) if inside.all() else index
        np.multiply(values[rows], used.reshape(shape), out=term)
        total += term
        if any_bad:
            flagged |= inside.reshape(shape) & bad[rows]
        norm += used
    total /= norm.reshape(shape)
    return total, flagged


def degrade_window(block: np.ndarray, origin: tuple[int, int], out_window: Window,
                   ratio: int, psf: SeparablePSF | float, image_shape: tuple[int, int]
                   ) -> np.ndarray:
    """Low-res pixels of `out_window` (rows, cols, bands) from `block`, the high-res pixels
    from image row origin[0] and column origin[1] on, which must hold their PSF support
    within the image of `image_shape` (rows, cols); in the block's float dtype. `psf`: a
    `SeparablePSF` or a Gaussian's sigma in high-res pixels."""
    psf = as_psf(psf, ratio)
    bad = ~np.isfinite(block)
    values = np.where(bad, np.zeros((), block.dtype), block)
    height, width = image_shape
    rows, rows_bad = _axis_pass(values, bad, origin[0], int(out_window.row_off),
                                int(out_window.height), ratio, psf.rows.offsets,
                                psf.rows.weights, height)
    cols, cols_bad = _axis_pass(rows.swapaxes(0, 1), rows_bad.swapaxes(0, 1), origin[1],
                                int(out_window.col_off), int(out_window.width), ratio,
                                psf.cols.offsets, psf.cols.weights, width)
    out = cols.swapaxes(0, 1)
    out[cols_bad.swapaxes(0, 1)] = np.nan
    return out.astype(np.result_type(block.dtype, np.float32), copy=False)


def spatial_degrade(cube: np.ndarray, ratio: int, psf: SeparablePSF | float) -> np.ndarray:
    """(H, W, C) -> (H // R, W // R, C): the cube cropped to whole R x R blocks, blurred by the
    PSF (or a Gaussian of that sigma) and sampled once per block; exactly what
    `degrade_scene` writes."""
    cube = np.asarray(cube)
    if cube.ndim != 3:
        raise ValueError(f"a cube is (rows, cols, bands), not shape {cube.shape}")
    psf = as_psf(psf, ratio)
    rows, cols = degraded_size(cube.shape[0], cube.shape[1], ratio)
    if rows < 1 or cols < 1:
        raise ValueError(f"a {cube.shape[0]} x {cube.shape[1]} image holds no "
                         f"{ratio} x {ratio} block")
    cropped = cube[:rows * ratio, :cols * ratio]
    if cropped.dtype.kind != "f":
        cropped = cropped.astype(np.float64)
    return degrade_window(cropped, (0, 0), Window(0, 0, cols, rows), ratio, psf,
                          (rows * ratio, cols * ratio))


# -- noise ---------------------------------------------------------------------------------
def noise_std(mean_square: np.ndarray, snr_db: float) -> np.ndarray:
    """Per-band noise standard deviation giving `snr_db` against each band's mean square."""
    return np.sqrt(np.asarray(mean_square, dtype=np.float64) / 10.0 ** (snr_db / 10.0))


def standard_normal(seed: int, stream: int, row0: int, col0: int, rows: int, cols: int,
                    width: int, bands: int) -> np.ndarray:
    """(rows, cols, bands) float32 standard normal deviates of the output pixels from
    (row0, col0) of a `width`-wide image: value n = (row * width + col) * bands + band is
    the same whichever window asks for it (Philox counters, Box-Muller pairs)."""
    out = np.empty((rows, cols * bands), dtype=np.float32)
    key = int(seed) + (int(stream) << 64)
    for r in range(rows):
        first = ((row0 + r) * width + col0) * bands
        stop = first + cols * bands
        raw_first, raw_stop = first // 2 * 2, (stop + 1) // 2 * 2
        block = raw_first // 4
        generator = np.random.Philox(key=key, counter=[block & (2**64 - 1), block >> 64, 0, 0])
        skip = raw_first - 4 * block
        raw = generator.random_raw(skip + raw_stop - raw_first)[skip:]
        uniform = ((raw >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
        radius = np.sqrt(-2.0 * np.log(uniform[0::2]))
        angle = 2.0 * np.pi * uniform[1::2]
        normal = np.empty(raw.size)
        normal[0::2] = radius * np.cos(angle)
        normal[1::2] = radius * np.sin(angle)
        out[r] = normal[first - raw_first:stop - raw_first]
    return out.reshape(rows, cols, bands)


def _add_noise(block: np.ndarray, std: np.ndarray | None, seed: int, role: str,
               window: Window, width: int) -> np.ndarray:
    if std is None:
        return block
    deviates = standard_normal(seed, _NOISE_STREAMS[role], int(window.row_off),
                               int(window.col_off), int(window.height), int(window.width),
                               width, block.shape[-1])
    return block + std.astype(np.float32) * deviates


def band_mean_squares(scene: Scene, response: SpectralResponse, ratio: int,
                      tile_size: int = 256, on_tile: Callable[[int], None] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Mean square of each band of the cropped reference and of the response applied to it
    (NaN values left out), in one streaming pass."""
    rows, cols = degraded_size(scene.height, scene.width, ratio)
    sums = np.zeros(scene.count)
    counts = np.zeros(scene.count)
    msi_sums = np.zeros(response.n_bands)
    msi_counts = np.zeros(response.n_bands)
    for window in iter_windows(rows * ratio, cols * ratio, tile_size):
        block = scene.read(window).astype(np.float64).reshape(-1, scene.count)
        for values, total, count in ((block, sums, counts),
                                     (response.apply(block), msi_sums, msi_counts)):
            finite = np.isfinite(values)
            total += (np.where(finite, values, 0.0) ** 2).sum(axis=0)
            count += finite.sum(axis=0)
        if on_tile is not None:
            on_tile(window.width * window.height)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (np.where(counts > 0, sums / counts, 0.0),
                np.where(msi_counts > 0, msi_sums / msi_counts, 0.0))


# -- streaming -------------------------------------------------------------------------------
def processing_tile(ratio: int, tile_size: int) -> int:
    """High-res tile edge: `tile_size` rounded down to a multiple of 16 x ratio, so that high-
    and low-res tiles both fit 16-pixel GeoTIFF blocks; when the tile is smaller than that, to
    a multiple of the ratio (at least the ratio)."""
    unit = 16 * ratio if tile_size >= 16 * ratio else ratio
    return max(unit, tile_size // unit * unit)


@dataclass
class DegradeSummary:
    """What `degrade_scene` wrote."""

    shapes: dict[str, tuple[int, int, int]]
    noise_std: dict[str, np.ndarray] = field(default_factory=dict)
    valid_pixels: int = 0  # reference pixels with every band finite


def degrade_scene(scene: Scene, response: SpectralResponse, hsi: Sink, msi: Sink,
                  reference: Sink, *, ratio: int, psf: SeparablePSF | float,
                  snr_db: float | None = None, seed: int = 0, tile_size: int = 256,
                  noise: dict[str, np.ndarray] | None = None,
                  on_tile: Callable[[int], None] | None = None) -> DegradeSummary:
    """Stream `scene`, writing the three outputs tile by tile. Noise: `noise` maps "hsi" and
    "msi" to per-band standard deviations (see `noise_std`); without it, `snr_db` has them
    measured first (`band_mean_squares`, a pass of its own); with neither, none is added.
    `psf`: a `SeparablePSF` or a Gaussian's sigma in high-res pixels."""
    psf = as_psf(psf, ratio)
    if noise is None and snr_db is not None:
        squares = band_mean_squares(scene, response, ratio, tile_size)
        noise = {role: noise_std(ms, snr_db) for role, ms in zip(("hsi", "msi"), squares,
                                                                   strict=True)}
    noise = noise or {}
    rows, cols = degraded_size(scene.height, scene.width, ratio)
    height, width = rows * ratio, cols * ratio
    halo = psf.halo
    tile = processing_tile(ratio, tile_size) // ratio
    valid = 0
    for low in iter_windows(rows, cols, tile):
        high = Window(low.col_off * ratio, low.row_off * ratio, low.width * ratio,
                      low.height * ratio)
        row0, col0 = max(0, high.row_off - halo), max(0, high.col_off - halo)
        row1 = min(height, high.row_off + high.height + halo)
        col1 = min(width, high.col_off + high.width + halo)
        block = scene.read(Window(col0, row0, col1 - col0, row1 - row0))
        inner = block[high.row_off - row0:high.row_off - row0 + high.height,
                      high.col_off - col0:high.col_off - col0 + high.width]
        reference.write(high, inner)
        valid += int(np.isfinite(inner).all(axis=-1).sum())
        bands = response.apply(inner).astype(np.float32, copy=False)
        msi.write(high, _add_noise(bands, noise.get("msi"), seed, "msi", high, width))
        degraded = degrade_window(block, (row0, col0), low, ratio, psf, (height, width))
        hsi.write(low, _add_noise(degraded, noise.get("hsi"), seed, "hsi", low, cols))
        if on_tile is not None:
            on_tile(high.width * high.height)
    shapes = {"hsi": (rows, cols, scene.count), "msi": (height, width, response.n_bands),
              "reference": (height, width, scene.count)}
    return DegradeSummary(shapes, dict(noise), valid)


# -- outputs --------------------------------------------------------------------------------
def output_specs(scene: Scene, response: SpectralResponse, ratio: int, psf: SeparablePSF,
                 settings: dict[str, Any], tile_size: int = 256) -> dict[str, RasterSpec]:
    """The three outputs' rasters: `settings` (snr_db, seed, noise_std, ...) go into each
    one's phism metadata beside its role, the ratio, the PSF and the response."""
    from phism_cli.io.rasters import RasterSpec, spectral_band_metadata

    if scene.wavelength_nm is None:
        raise ValueError("the scene has no wavelengths")
    rows, cols = degraded_size(scene.height, scene.width, ratio)
    tile = processing_tile(ratio, tile_size)
    hyper = spectral_band_metadata(scene.wavelength_nm, scene.fwhm_nm,
                                   source_bands=scene.band_indices + 1)
    multi = spectral_band_metadata(response.centre_nm, response.fwhm_nm,
                                   list(response.band_names))
    low_transform = None if scene.transform is None else scene.transform * Affine.scale(ratio)
    layout = {
        "hsi": (rows, cols, hyper, low_transform, tile // ratio),
        "msi": (rows * ratio, cols * ratio, multi, scene.transform, tile),
        "reference": (rows * ratio, cols * ratio, hyper, scene.transform, tile),
    }
    specs = {}
    for role, (height, width, (names, tags, coords), transform, edge) in layout.items():
        metadata = {"format": "phism-degraded", "format_version": 1, "role": role,
                    "variable": "data", "ratio": ratio, "psf": psf.describe(),
                    "psf_sigma_px": psf.parameters.get("sigma_px"),
                    **settings, "srf": response.describe(), "source": str(scene.path)}
        specs[role] = RasterSpec(
            height=height, width=width, channel_names=names, crs=scene.crs,
            transform=transform, tile_size=edge, variable="data", channel_coords=coords,
            band_tags=tags, metadata=metadata,
            channel_units=None if scene.data_unit is None else [scene.data_unit] * len(names))
    return specs
