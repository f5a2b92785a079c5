"""One scene abstraction over ENVI, rasterio-readable rasters and .mat/.npy cubes.

A `Scene` knows its shape, wavelengths, bad bands, nodata, scale and georeferencing, and
reads windows of (rows, cols, bands) as float32 in physical units (scale and offset applied,
nodata as NaN) without ever loading the whole file. Opening a scene validates everything it
declares, so a command refuses bad input before any work starts.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from phism_cli.errors import SceneError

__all__ = ["BandInfo", "OpenRequest", "Scene", "SceneFormat", "Window", "iter_windows"]


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
    # One value for every band, or one per source band (GDAL rasters may differ by band).
    nodata: float | np.ndarray | None
    scale: float | np.ndarray
    offset: float | np.ndarray
    crs: CRS | None
    transform: Affine | None
    # The unit of the values read (after scale and offset) where the file states one for
    # every band (a GeoTIFF's band unit, a phism Zarr store's units); else None.
    data_unit: str | None = None
    # True where `_read_raw` returns a new array on every call (never a view of a cache or of
    # a memory map), which `read` may then convert in place.
    fresh_reads: bool = False

    def __init__(self, keep_bad_bands: bool = False) -> None:
        self.keep_bad_bands = keep_bad_bands
        # The source bands the user keeps (--bands less --bad-bands); None: all of them.
        self.band_selection: np.ndarray | None = None
        self.notes: list[str] = []  # what phism assumed while opening (also on stderr)

    @property
    def source_files(self) -> list[Path]:
        """Every file this scene reads (an ENVI scene has a header and a data file)."""
        return [self.path]

    # -- band selection -------------------------------------------------------------------
    @property
    def band_indices(self) -> np.ndarray:
        """0-based indices of the source bands this scene yields: the file's bad bands dropped
        (unless keep_bad_bands), and only those of the user's selection."""
        kept = np.ones(len(self.bands.good), dtype=bool) if self.keep_bad_bands else \
            np.asarray(self.bands.good, dtype=bool).copy()
        if self.band_selection is not None:
            kept &= self.band_selection
        return np.flatnonzero(kept)

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
        # A fresh float32 array from the reader is converted in place: one pass fewer.
        out = raw.astype(np.float32, copy=not (self.fresh_reads and raw.flags.writeable))
        if self.nodata is not None:
            nodata = self._selected(self.nodata)
            if np.ndim(nodata) or not np.isnan(nodata):
                out[raw == nodata] = np.nan
        scale, offset = self._selected(self.scale), self._selected(self.offset)
        if np.any(scale != 1.0):
            out *= np.asarray(scale, dtype=np.float32)
        if np.any(offset != 0.0):
            out += np.asarray(offset, dtype=np.float32)
        return out

    def _selected(self, value: float | np.ndarray) -> float | np.ndarray:
        """A per-band value for the bands this scene yields (a scalar stays a scalar)."""
        return value[self.band_indices] if np.ndim(value) else value

    @abc.abstractmethod
    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        """Return the raw values of `band_indices` in `window` as (rows, cols, bands)."""

    def provenance(self) -> dict[str, Any]:
        """What outputs record of this scene beyond `band_provenance` (a resampled scene
        says what it was resampled from)."""
        return {}

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
        kept = set(self.band_indices.tolist())
        dropped = [b + 1 for b in range(len(self.bands.good)) if b not in kept]
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
            "dropped_bands": dropped,
            "wavelength_nm": None if wl is None else [round(float(v), 4) for v in wl],
            "fwhm_nm": None if fw is None else [round(float(v), 4) for v in fw],
            "nodata": json_value(self.nodata),
            "scale": json_value(self.scale),
            "offset": json_value(self.offset),
            "crs": None if self.crs is None else self.crs.to_string(),
            "transform": None if self.transform is None else list(self.transform)[:6],
            "notes": list(self.notes),
        }


def json_value(value: float | np.ndarray | None) -> float | list[float] | None:
    """A JSON-ready scalar or list (NaN stays a float; the JSON writer turns it into null)."""
    if value is None:
        return None
    if np.ndim(value):
        return [float(v) for v in np.asarray(value)]
    return float(value)


def source_summary(scene: Scene) -> dict[str, Any]:
    """What an output's metadata records of the scene it came from."""
    return {"path": str(scene.path), "format": scene.format, "bands": scene.count,
            "scale": json_value(scene.scale), "offset": json_value(scene.offset),
            "nodata": json_value(scene.nodata), **band_provenance(scene)}


def band_provenance(scene: Scene) -> dict[str, Any]:
    """Which of the file's bands a scene yields, and what they are: their 1-based numbers in
    the file (bad bands dropped or not), wavelengths and fwhm (nm) and the data unit."""
    wl, fw = scene.wavelength_nm, scene.fwhm_nm
    return {"source_bands": [int(b) + 1 for b in scene.band_indices],
            "wavelength_nm": None if wl is None else [round(float(v), 4) for v in wl],
            "fwhm_nm": None if fw is None else [round(float(v), 4) for v in fw],
            "data_unit": scene.data_unit}


def select_bands(block: np.ndarray, band_indices: np.ndarray, axis: int = -1) -> np.ndarray:
    """`block` with only `band_indices` along `axis`: a view when they are a run."""
    if len(band_indices) and np.array_equal(
            band_indices, np.arange(band_indices[0], band_indices[0] + len(band_indices))):
        index = [slice(None)] * block.ndim
        index[axis] = slice(int(band_indices[0]), int(band_indices[0]) + len(band_indices))
        return block[tuple(index)]
    return np.take(block, band_indices, axis=axis)


def check_band_info(path: Path, bands: BandInfo, n_bands: int) -> None:
    """Refuse wavelengths or fwhm that are not one finite, positive value per band."""
    for name, values in (("wavelength", bands.wavelength_nm), ("fwhm", bands.fwhm_nm)):
        if values is None:
            continue
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (n_bands,):
            raise SceneError(f"{path}: {values.size} {name} values for {n_bands} bands; fix the "
                             "file's metadata or pass --ignore-wavelengths")
        bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
        if len(bad):
            found = float(values[bad[0]])
            raise SceneError(f"{path}: {name} of band {bad[0] + 1} is {found}; each band needs "
                             f"a finite, positive {name} (fix the metadata or pass "
                             "--ignore-wavelengths)")
    if np.asarray(bands.good).shape != (n_bands,):
        raise SceneError(f"{path}: the bad-band list (bbl) has {np.size(bands.good)} entries for "
                         f"{n_bands} bands; fix the file's metadata")
    if not np.any(bands.good):
        raise SceneError(f"{path}: the bad-band list (bbl) marks every band bad; fix it or pass "
                         "--keep-bad-bands")


def wavelengths_in_nm(path: Path, values: np.ndarray, unit: str | None,
                      override: str | None, where: str) -> tuple[np.ndarray, float]:
    """`values` (the file's wavelengths, stated in `unit` or None) in nm, and the factor used
    (for the fwhm): the user's --wavelength-unit `override` wins; a unit read from the
    values is said; one that cannot be right is refused."""
    from phism_cli.errors import note
    from phism_cli.io.wavelengths import wavelength_factor

    try:
        factor, guessed = wavelength_factor(values, unit, override)
    except ValueError as exc:
        raise SceneError(f"{path}: {where}: {exc}; give the unit with --wavelength-unit "
                         "nm|um (or pass --ignore-wavelengths)") from None
    if guessed:
        note(f"{path}: {guessed} (give --wavelength-unit to say otherwise)")
    return np.asarray(values, dtype=np.float64) * factor, factor


def check_scale(path: Path, what: str, value: float | np.ndarray, *, positive: bool) -> None:
    """Scale factors must be finite and non-zero (positive where they divide); offsets and
    nodata need only be numbers."""
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if positive:
        bad = ~(np.isfinite(values) & (values != 0))
        if what == "reflectance scale factor":
            bad |= values <= 0
    else:
        bad = ~np.isfinite(values)
    if bad.any():
        found = float(values[np.flatnonzero(bad)[0]])
        need = "a positive" if what == "reflectance scale factor" else \
            "a finite, non-zero" if positive else "a finite"
        raise SceneError(f"{path}: {what} is {found}; it must be {need} number (fix the "
                         "file's metadata)")


def iter_windows(height: int, width: int, tile_size: int) -> Iterator[Window]:
    """Row-major square tiles covering the raster; edge tiles are clipped."""
    for row in range(0, height, tile_size):
        for col in range(0, width, tile_size):
            yield Window(col, row, min(tile_size, width - col), min(tile_size, height - row))


def default_band_info(n_bands: int) -> BandInfo:
    return BandInfo(wavelength_nm=None, fwhm_nm=None, good=np.ones(n_bands, dtype=bool))


@dataclass(frozen=True)
class OpenRequest:
    """How to read a scene file, as the reading options say (see `io.scene_formats`):
    `wavelengths` is the --wavelengths spec (applied after opening; an array reader counts
    it to find its band axis), `format_options` the options only some formats take."""

    keep_bad_bands: bool = False
    ignore_wavelengths: bool = False
    wavelength_unit: str | None = None
    wavelengths: str | None = None
    format_options: dict[str, str | None] = field(default_factory=dict)
    flag_prefix: str = "--"


@dataclass(frozen=True)
class SceneFormat:
    """A scene file format: `can_open(path)` says whether `path` is one (it may raise
    SceneError for a file that is one but broken), `open(path, request)` reads it, `options`
    names the `OpenRequest.format_options` it takes and `files` what such files are called
    in messages ("EMIT NetCDF granules"). Registered in `io.scene_formats`."""

    name: str
    can_open: Callable[[Path], bool]
    open: Callable[[Path, OpenRequest], Scene]
    options: tuple[str, ...] = ()
    files: str = ""
