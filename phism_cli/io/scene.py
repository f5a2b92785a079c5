"""One scene abstraction over ENVI, rasterio-readable rasters and .mat/.npy cubes.

A `Scene` knows its shape, wavelengths, bad bands, nodata, scale and georeferencing, and
reads windows of (rows, cols, bands) as float32 in physical units (scale and offset applied,
nodata as NaN) without ever loading the whole file.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from phism_cli.errors import SceneError

__all__ = ["BandInfo", "Scene", "Window", "iter_windows", "open_scene"]


@dataclass(frozen=True)
class BandInfo:
    """Per-band metadata of the source file, over all of its bands (bad bands included)."""

    wavelength_nm: np.ndarray | None
    fwhm_nm: np.ndarray | None
    good: np.ndarray  # bool, False where the file's bad-band list marks a band as bad
    names: list[str] = field(default_factory=list)


class Scene(abc.ABC):
    """A hyperspectral cube on disk. Subclasses implement `_read_raw` and set the fields."""

    path: Path
    format: str
    height: int
    width: int
    source_dtype: np.dtype
    bands: BandInfo
    nodata: float | None
    scale: float
    offset: float
    crs: CRS | None
    transform: Affine | None

    def __init__(self, keep_bad_bands: bool = False) -> None:
        self.keep_bad_bands = keep_bad_bands

    # -- band selection -------------------------------------------------------------------
    @property
    def band_indices(self) -> np.ndarray:
        """0-based indices of the source bands this scene yields (bad bands dropped by default)."""
        n = len(self.bands.good)
        if self.keep_bad_bands:
            return np.arange(n)
        return np.flatnonzero(self.bands.good)

    @property
    def count(self) -> int:
        return len(self.band_indices)

    @property
    def wavelength_nm(self) -> np.ndarray | None:
        wl = self.bands.wavelength_nm
        return None if wl is None else wl[self.band_indices]

    @property
    def fwhm_nm(self) -> np.ndarray | None:
        fw = self.bands.fwhm_nm
        return None if fw is None else fw[self.band_indices]

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.height, self.width, self.count)

    # -- reading ----------------------------------------------------------------------------
    def read(self, window: Window | None = None) -> np.ndarray:
        """Read (rows, cols, bands) float32 in physical units; nodata and non-finite as NaN."""
        window = window or Window(0, 0, self.width, self.height)
        raw = self._read_raw(window, self.band_indices)
        out = raw.astype(np.float32, copy=True)
        if self.nodata is not None and not np.isnan(self.nodata):
            out[raw == self.nodata] = np.nan
        if self.scale != 1.0:
            out *= np.float32(self.scale)
        if self.offset != 0.0:
            out += np.float32(self.offset)
        return out

    @abc.abstractmethod
    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        """Return the raw values of `band_indices` in `window` as (rows, cols, bands)."""

    def windows(self, tile_size: int) -> Iterator[Window]:
        return iter_windows(self.height, self.width, tile_size)

    def close(self) -> None:  # noqa: B027 - optional hook for subclasses holding handles
        pass

    def __enter__(self) -> Scene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- description ------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        """Everything `phism info` shows, JSON-serialisable."""
        wl = self.wavelength_nm
        fw = self.fwhm_nm
        bad = np.flatnonzero(~self.bands.good)
        return {
            "path": str(self.path),
            "format": self.format,
            "height": self.height,
            "width": self.width,
            "bands": self.count,
            "source_bands": len(self.bands.good),
            "dtype": str(self.source_dtype),
            "bad_bands": [int(b) + 1 for b in bad],
            "bad_bands_dropped": not self.keep_bad_bands and len(bad) > 0,
            "wavelength_nm": None if wl is None else [round(float(v), 4) for v in wl],
            "fwhm_nm": None if fw is None else [round(float(v), 4) for v in fw],
            "nodata": self.nodata,
            "scale": self.scale,
            "offset": self.offset,
            "crs": None if self.crs is None else self.crs.to_string(),
            "transform": None if self.transform is None else list(self.transform)[:6],
        }


def iter_windows(height: int, width: int, tile_size: int) -> Iterator[Window]:
    """Row-major square tiles covering the raster; edge tiles are clipped."""
    for row in range(0, height, tile_size):
        for col in range(0, width, tile_size):
            yield Window(col, row, min(tile_size, width - col), min(tile_size, height - row))


def default_band_info(n_bands: int) -> BandInfo:
    return BandInfo(wavelength_nm=None, fwhm_nm=None, good=np.ones(n_bands, dtype=bool))


def open_scene(
    path: str | Path,
    *,
    keep_bad_bands: bool = False,
    wavelengths: str | None = None,
    variable: str | None = None,
) -> Scene:
    """Open any supported scene. `wavelengths` overrides or supplies wavelengths (a flag spec)."""
    from phism_cli.io.arrays import ArrayScene, is_array_path
    from phism_cli.io.envi import EnviScene, find_envi_pair
    from phism_cli.io.raster import RasterioScene

    path = Path(path)
    if not path.exists():
        raise SceneError(f"{path}: no such file")
    if path.is_dir():
        raise SceneError(f"{path}: is a directory, not a scene file")
    if is_array_path(path):
        scene: Scene = ArrayScene(path, variable=variable, keep_bad_bands=keep_bad_bands)
    elif (pair := find_envi_pair(path)) is not None:
        scene = EnviScene(*pair, keep_bad_bands=keep_bad_bands)
    else:
        scene = RasterioScene(path, keep_bad_bands=keep_bad_bands)
    if wavelengths is not None:
        _override_wavelengths(scene, wavelengths)
    return scene


def _override_wavelengths(scene: Scene, spec: str) -> None:
    from phism_cli.io.wavelengths import parse_wavelength_spec

    n_source = len(scene.bands.good)
    try:
        wl = parse_wavelength_spec(spec, n_source)
    except ValueError as exc:
        raise SceneError(
            f"--wavelengths {spec!r}: {exc}; the scene has {n_source} bands "
            "(give START:STOP in nm or one value per band)"
        ) from None
    scene.bands = BandInfo(wl, scene.bands.fwhm_nm, scene.bands.good, scene.bands.names)
