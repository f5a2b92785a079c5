"""Fusion below the command line: fit the inversion on the low-resolution grid, then stream
the high-resolution grid tile by tile, writing the fused cube (and abundances) and scoring
the self-checks as it goes.

Memory: training holds the low-resolution cube (ratio^2 times smaller than the output); the
high-resolution side is read, fused and written one tile at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from phism_cli.errors import PhismError, no_valid_pixels
from phism_cli.forward.response import SpectralResponse
from phism_cli.forward.spatial import block_mean
from phism_cli.inversion.fusion import FusionModel
from phism_cli.inversion.psf_estimation import (
    MAX_SUPPORT_PX,
    EstimatedPsf,
    PsfEstimator,
    block_patches,
    halo_for,
)
from phism_cli.io.rasters import RasterSpec, RasterWriter, spectral_band_metadata
from phism_cli.io.scene import Scene, iter_windows, source_summary
from phism_cli.pipeline.fusion_grid import FusionGrid
from phism_cli.pipeline.quality import FusionQuality
from phism_cli.pixels import valid_mask
from phism_cli.text import plural

__all__ = ["FusionChecks", "Quicklook", "abundance_spec", "check_endmembers", "check_reference",
           "estimate_pair_psf", "fuse_scene", "fused_spec", "msi_on_lowres_grid", "psf_note",
           "report_line", "write_endmembers"]

FUSED_FORMAT = "phism-fused"
ABUNDANCE_FORMAT = "phism-abundances"
PSF_FLOPS = 4e9  # the most work the PSF's normal equations may take: bounds its sample
MISREGISTRATION_PX = 0.5  # an estimated PSF centred further off its block is reported


@dataclass
class FusionChecks:
    """Self-checks accumulated while streaming: the fused cube averaged back to the low-res
    grid against the hyperspectral input, the response applied to it against the
    multispectral input (after radiometric matching), and (optional) a high-resolution
    reference."""

    lowres: FusionQuality
    msi: FusionQuality
    reference: FusionQuality | None = None
    fused_pixels: int = 0

    def as_dict(self, ratio: int) -> dict[str, Any]:
        out: dict[str, Any] = {"fused_pixels": self.fused_pixels,
                               "check_lowres": self.lowres.as_dict(),
                               "check_msi": self.msi.as_dict()}
        if self.reference is not None:
            out["reference"] = self.reference.as_dict(ratio)
        return out


@dataclass
class Quicklook:
    """Every `step`-th pixel of three bands of each image, for the --plot picture."""

    step: int
    hsi_bands: list[int]
    msi_bands: list[int]
    images: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def for_grid(cls, grid: FusionGrid, wavelength_nm: np.ndarray,
                 response: SpectralResponse, size: int = 480) -> Quicklook:
        step = max(1, math.ceil(max(grid.height, grid.width) / size))
        hsi_bands = [int(np.argmin(np.abs(wavelength_nm - w))) for w in (640.0, 550.0, 460.0)]
        centres = response.centre_nm
        msi_bands = [int(np.argmin(np.abs(centres - w))) for w in (640.0, 550.0, 460.0)]
        rows, cols = math.ceil(grid.height / step), math.ceil(grid.width / step)
        images = {name: np.full((rows, cols, 3), np.nan, dtype=np.float32)
                  for name in ("hsi", "msi", "fused")}
        return cls(step, hsi_bands, msi_bands, images)

    def add(self, window: Window, hsi: np.ndarray, msi: np.ndarray, fused: np.ndarray,
            truth: np.ndarray | None = None) -> None:
        """Keep the picked pixels; with `truth` (the reference), also their RMSE (fused vs
        reference over the bands, NaN where either has no data) as image "rmse"."""
        first_row = -window.row_off % self.step
        first_col = -window.col_off % self.step
        rows = slice((window.row_off + first_row) // self.step,
                     (window.row_off + window.height - 1) // self.step + 1)
        cols = slice((window.col_off + first_col) // self.step,
                     (window.col_off + window.width - 1) // self.step + 1)
        pick = (slice(first_row, None, self.step), slice(first_col, None, self.step))
        self.images["msi"][rows, cols] = msi[pick][..., self.msi_bands]
        self.images["fused"][rows, cols] = fused[pick][..., self.hsi_bands]
        self.images["hsi"][rows, cols] = hsi[pick][..., self.hsi_bands]
        if truth is not None:
            if "rmse" not in self.images:
                self.images["rmse"] = np.full(self.images["fused"].shape[:2], np.nan,
                                              dtype=np.float32)
            with np.errstate(invalid="ignore"):
                error = np.sqrt(np.mean((fused[pick] - truth[pick]) ** 2, axis=-1))
            self.images["rmse"][rows, cols] = error


def fuse_scene(hsi: Scene, msi: Scene, grid: FusionGrid, model: FusionModel,
               writer: RasterWriter, abundance_writer: RasterWriter | None = None,
               reference: Scene | None = None, quicklook: Quicklook | None = None,
               tile_size: int = 256,
               on_tile: Callable[[int], None] | None = None) -> FusionChecks:
    """Fuse every high-resolution pixel, tile by tile (tiles aligned to the low-res grid)."""
    ratio = grid.ratio
    response = model.response_
    checks = FusionChecks(FusionQuality(hsi.count), FusionQuality(msi.count),
                          None if reference is None else FusionQuality(hsi.count))
    tile = max(ratio, tile_size // ratio * ratio)
    for window in iter_windows(grid.height, grid.width, tile):
        rows = (window.row_off, window.row_off + window.height)
        cols = (window.col_off, window.col_off + window.width)
        lowres = hsi.read(Window(cols[0] // ratio, rows[0] // ratio,
                                 math.ceil(window.width / ratio),
                                 math.ceil(window.height / ratio)))
        msi_block = msi.read(window)
        prior = model.prior_window(rows, cols)
        valid = valid_mask(msi_block) & _repeat(valid_mask(lowres), ratio)
        if prior is not None:
            valid &= np.isfinite(prior).all(axis=-1)  # the bilinear taps reach nodata
        fused = np.full((*valid.shape, hsi.count), np.nan, dtype=np.float32)
        abundances = np.full((*valid.shape, model.n_endmembers_), np.nan, dtype=np.float32)
        if valid.any():
            abundances[valid] = model.transform(msi_block[valid],
                                                None if prior is None else prior[valid])
            fused[valid] = model.mix(abundances[valid])
            detail = model.detail_window(rows, cols)
            if detail is not None:
                fused[valid] += detail[valid]
            checks.fused_pixels += int(valid.sum())
            checks.msi.update(model.matched(msi_block[valid]), response.apply(fused[valid]))
        writer.write(window, fused)
        if abundance_writer is not None:
            abundance_writer.write(window, abundances)
        checks.lowres.update(lowres.reshape(-1, hsi.count),
                             block_mean(fused, ratio).reshape(-1, hsi.count))
        truth = None
        if reference is not None and checks.reference is not None:
            truth = reference.read(window)
            both = valid & valid_mask(truth)
            checks.reference.update(truth[both], fused[both])
        if quicklook is not None:
            quicklook.add(window, _repeat(lowres, ratio), msi_block, fused, truth)
        if on_tile is not None:
            on_tile(window.height * window.width)
    if checks.fused_pixels == 0:
        raise no_valid_pixels(f"{hsi.path} and {msi.path}", "pixel in both")
    return checks


def msi_on_lowres_grid(msi: Scene, grid: FusionGrid, tile_size: int = 256) -> np.ndarray:
    """(h, w, M): the multispectral image averaged over ratio x ratio blocks, tile by tile."""
    ratio = grid.ratio
    out = np.full((grid.height // ratio, grid.width // ratio, msi.count), np.nan,
                  dtype=np.float32)
    for window in iter_windows(grid.height, grid.width, max(ratio, tile_size // ratio * ratio)):
        rows = slice(window.row_off // ratio, (window.row_off + window.height) // ratio)
        cols = slice(window.col_off // ratio, (window.col_off + window.width) // ratio)
        block = msi.read(window)
        block[~valid_mask(block)] = np.nan
        out[rows, cols] = block_mean(block, ratio)
    return out


def estimate_pair_psf(lowres: np.ndarray, msi: Scene, grid: FusionGrid, model: FusionModel,
                      tile_size: int = 256) -> EstimatedPsf | None:
    """The low-res sensor's PSF estimated from the pair (`PsfEstimator`, the support
    `halo_for` the pair's size), from low-res windows spread evenly over the scene, as many
    as PSF_FLOPS allows; None when the pair is too small. `model` is fitted: its response
    and radiometric gains are used."""
    ratio = grid.ratio
    rows, cols = grid.height // ratio, grid.width // ratio
    halo = halo_for(ratio, (rows, cols), msi.count)
    if halo is None:
        return None
    estimator = PsfEstimator(ratio, halo)
    size = estimator.size
    edge = max(1, tile_size // ratio)
    windows = list(iter_windows(rows, cols, edge))
    budget = max(1, int(PSF_FLOPS / (msi.count * size**4)))
    picked = np.unique(np.linspace(0, len(windows) - 1,
                                   min(len(windows), math.ceil(budget / edge**2))).astype(int))
    for index in picked:
        low = windows[index]
        top, left = max(0, low.row_off * ratio - halo), max(0, low.col_off * ratio - halo)
        bottom = min(grid.height, (low.row_off + low.height) * ratio + halo)
        right = min(grid.width, (low.col_off + low.width) * ratio + halo)
        block = msi.read(Window(left, top, right - left, bottom - top))
        block[~valid_mask(block)] = np.nan
        patches, where = block_patches(
            block, (top, left), ratio, halo, range(low.row_off, low.row_off + low.height),
            range(low.col_off, low.col_off + low.width), (grid.height, grid.width))
        seen = model.response_.apply(lowres[where[:, 0], where[:, 1]].astype(np.float64))
        estimator.add(patches * model.msi_gain_[None, :, None, None], seen)
    if estimator.equations_ < size**2:
        return None
    return estimator.solve()


def psf_note(estimate: EstimatedPsf | None) -> str | None:
    """A note for stderr when the PSF could not be estimated or sits off its block."""
    if estimate is None:
        return ("the PSF was not estimated (psf_estimate is null): the pair holds too few "
                "whole low-resolution blocks, or its ratio is above "
                f"{MAX_SUPPORT_PX}")
    shift = estimate.shift_px
    if max(abs(s) for s in shift) <= MISREGISTRATION_PX:
        return None
    return (f"the PSF estimated from the pair is centred {shift[0]:+.2f} rows and "
            f"{shift[1]:+.2f} columns (high-res pixels) off its block: the two images may "
            "be misregistered; check their georeferencing")


def _repeat(lowres: np.ndarray, ratio: int) -> np.ndarray:
    """Each low-resolution pixel repeated over its ratio x ratio high-resolution block."""
    return np.repeat(np.repeat(lowres, ratio, axis=0), ratio, axis=1)


def check_endmembers(n_endmembers: int | None, hsi: Scene) -> None:
    """Refuse more endmembers than the hyperspectral cube has bands, before any work."""
    if n_endmembers is not None and n_endmembers > hsi.count:
        raise PhismError(f"--endmembers {n_endmembers}: more than the {hsi.count} bands "
                         f"of {hsi.path}; use at most {hsi.count}")


def check_reference(reference: Scene, grid: FusionGrid, hsi: Scene) -> None:
    """Refuse a reference that is not on the fused cube's grid or bands."""
    if reference.transform is not None and grid.transform is not None and (
            not reference.transform.almost_equals(grid.transform, precision=1e-6 * abs(
                grid.transform.a)) or (reference.crs is not None and grid.crs is not None
                                        and reference.crs != grid.crs)):
        raise PhismError(f"--reference {reference.path}: its georeferencing differs from the "
                         "multispectral grid the fused cube is on; give the reference on "
                         "that grid (same CRS and transform)")
    if (reference.height, reference.width) != (grid.height, grid.width):
        raise PhismError(f"--reference {reference.path}: {reference.height} x "
                         f"{reference.width} pixels, but the fused cube is {grid.height} x "
                         f"{grid.width} (the multispectral grid); give the high-resolution "
                         "reference on that grid")
    if reference.count != hsi.count:
        raise PhismError(f"--reference {reference.path}: {plural(reference.count, 'band')}, but "
                         f"{hsi.path} has {hsi.count}; give a reference with the "
                         "hyperspectral bands")


def fused_spec(hsi: Scene, msi: Scene, grid: FusionGrid, model: FusionModel,
               tile_size: int, settings: dict[str, Any],
               psf_estimate: EstimatedPsf | None = None) -> RasterSpec:
    """The fused cube: the hyperspectral bands (wavelengths, fwhm) on the multispectral grid;
    the metadata records the settings, the response and the PSF estimated from the pair."""
    from phism_cli import __version__

    wavelength_nm = np.asarray(hsi.wavelength_nm, dtype=np.float64)
    names, tags, coords = spectral_band_metadata(wavelength_nm, hsi.fwhm_nm,
                                                 source_bands=hsi.band_indices + 1)
    return RasterSpec(
        height=grid.height, width=grid.width, channel_names=names, crs=grid.crs,
        transform=grid.transform, tile_size=tile_size, variable="fused",
        channel_coords=coords, band_tags=tags,
        channel_units=None if hsi.data_unit is None else [hsi.data_unit] * len(names),
        metadata={"format": FUSED_FORMAT, "format_version": 1, "phism_version": __version__,
                  "variable": "fused", "method": settings["method"], "ratio": grid.ratio,
                  "settings": settings, "response": model.response_.describe(),
                  "hsi": source_summary(hsi), "msi": source_summary(msi), "notes": grid.notes,
                  "psf_estimate": None if psf_estimate is None else psf_estimate.describe()},
    )


def abundance_spec(hsi: Scene, grid: FusionGrid, model: FusionModel, tile_size: int,
                   endmembers_file: str, method: str) -> RasterSpec:
    """The abundance maps: one band per endmember; spectra in the metadata and a CSV."""
    from phism_cli import __version__

    names = [f"endmember {k + 1}" for k in range(model.n_endmembers_)]
    return RasterSpec(
        height=grid.height, width=grid.width, channel_names=names, crs=grid.crs,
        transform=grid.transform, tile_size=tile_size, variable="abundance",
        channel_units=["1"] * model.n_endmembers_,
        metadata={"format": ABUNDANCE_FORMAT, "format_version": 1,
                  "phism_version": __version__, "variable": "abundance",
                  "method": method, "endmembers": names,
                  "endmembers_file": endmembers_file,
                  "wavelength_nm": [float(w) for w in np.asarray(hsi.wavelength_nm)],
                  "source_bands": [int(b) + 1 for b in hsi.band_indices],
                  "endmember_spectra": model.endmembers_.round(7).tolist(),
                  "note": "the fused spectrum of a pixel is the sum over endmembers of its "
                          "abundance times the endmember's spectrum" + (
                              ", plus what NMF leaves unexplained in the low-resolution "
                              "cube, its spatially incoherent part (noise) shrunk, upsampled"
                              if model.uses_detail else "")},
    )


def write_endmembers(path: Path, model: FusionModel, wavelength_nm: np.ndarray) -> None:
    """The endmember spectra as a spectral-library CSV (`phism unmix --library` reads it)."""
    from phism_cli.io.spectral_tables import SpectralTable, write_table_csv

    names = [f"endmember {k + 1}" for k in range(model.n_endmembers_)]
    write_table_csv(path, SpectralTable(np.asarray(wavelength_nm), "wavelength_nm", names,
                                        model.endmembers_))


def report_line(output: object, checks: FusionChecks) -> str:
    """One line for stderr: the self-checks (and the reference scores when given)."""
    def scores(quality: FusionQuality) -> str:
        text = f"PSNR {quality.psnr_db:.2f} dB"
        sam = quality.sam_deg
        return text if sam is None else f"{text}, SAM {sam:.2f} deg"

    line = (f"wrote {output}: {checks.fused_pixels} pixels; averaged back vs the low-res "
            f"input {scores(checks.lowres)}; through the response vs the multispectral "
            f"input {scores(checks.msi)}")
    if checks.reference is not None:
        line += f"; vs the reference {scores(checks.reference)}"
    return line
