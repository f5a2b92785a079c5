"""One scene abstraction over ENVI, rasterio-readable rasters and .mat/.npy cubes.

A `Scene` knows its shape, wavelengths, bad bands, nodata, scale and georeferencing, and
reads windows of (rows, cols, bands) as float32 in physical units (scale and offset applied,
nodata as NaN) without ever loading the whole file. Opening a scene validates everything it
declares, so a command refuses bad input before any work starts.
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
from phism_cli.text import plural

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
    # One value for every band, or one per source band (GDAL rasters may differ by band).
    nodata: float | np.ndarray | None
    scale: float | np.ndarray
    offset: float | np.ndarray
    crs: CRS | None
    transform: Affine | None
    # The unit of the values read (after scale and offset) where the file states one for
    # every band (a GeoTIFF's band unit, a phism Zarr store's units); else None.
    data_unit: str | None = None

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
        out = raw.astype(np.float32, copy=True)
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


ARRAY_OPTIONS = ("variable", "shape", "layout", "pixel_order")  # .mat/.npy only


def open_scene(
    path: str | Path,
    *,
    keep_bad_bands: bool = False,
    bad_bands: str | None = None,
    bands: str | None = None,
    wavelengths: str | None = None,
    wavelength_unit: str | None = None,
    fwhm: str | None = None,
    ignore_wavelengths: bool = False,
    variable: str | None = None,
    shape: str | None = None,
    layout: str | None = None,
    pixel_order: str | None = None,
    flag_prefix: str = "--",
) -> Scene:
    """Open and validate any supported scene.

    `bands` keeps only the listed source bands and `bad_bands` drops the listed ones (1-based
    numbers and ranges, on top of the file's bad-band list unless `keep_bad_bands`).
    `wavelengths` overrides or supplies wavelengths and `fwhm` the band widths (flag specs;
    one number gives every band that width), both in `wavelength_unit` when given (which
    also says the unit of the file's own wavelengths); `ignore_wavelengths` drops the file's
    wavelengths and fwhm. `variable`, `shape`, `layout` and `pixel_order` say how a .mat or
    .npy array is an image (see `io.arrays`). Messages call the flags `{flag_prefix}NAME`
    (e.g. "--msi-" for a second scene). What phism assumes is said as `PhismNote` warnings
    and kept in `Scene.notes`."""
    import warnings

    from phism_cli.errors import PhismNote, note

    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", PhismNote)
        scene = _open_scene(Path(path), keep_bad_bands, bad_bands, bands, wavelengths,
                            wavelength_unit, fwhm, ignore_wavelengths,
                            {"variable": variable, "shape": shape, "layout": layout,
                             "pixel_order": pixel_order}, flag_prefix)
    scene.notes = [str(w.message) for w in said if issubclass(w.category, PhismNote)]
    for message in scene.notes:  # said again, now outside the recording
        note(message)
    return scene


def _open_scene(path: Path, keep_bad_bands: bool, bad_bands: str | None, bands: str | None,
                wavelengths: str | None, wavelength_unit: str | None, fwhm: str | None,
                ignore_wavelengths: bool, array_options: dict[str, str | None],
                flag_prefix: str) -> Scene:
    from phism_cli.io.arrays import is_array_path
    from phism_cli.io.envi import EnviScene, find_envi_pair
    from phism_cli.io.outputs import refuse_partial
    from phism_cli.io.raster import RasterioScene

    if not path.exists():
        raise SceneError(f"{path}: no such file")
    refuse_partial(path)
    _check_wavelength_unit(wavelength_unit, f"{flag_prefix}wavelength-unit")
    given = [k for k, v in array_options.items() if v is not None]
    if given and not is_array_path(path):
        flag = flag_prefix + given[0].replace("_", "-")
        raise SceneError(f"{flag} {array_options[given[0]]}: applies to .mat and .npy arrays, "
                         f"and {path} is not one; drop {flag}")
    if path.is_dir():
        from phism_cli.io.zarr_scene import ZarrScene, is_phism_zarr

        if not is_phism_zarr(path):
            raise SceneError(f"{path}: is a directory, not a scene file (folders are read "
                             "only as Zarr stores phism wrote)")
        if wavelength_unit is not None and wavelengths is None:
            raise SceneError(f"{flag_prefix}wavelength-unit {wavelength_unit}: {path} is a "
                             "phism Zarr store, whose wavelengths are in nm; drop it")
        scene: Scene = ZarrScene(path, keep_bad_bands=keep_bad_bands)
    elif is_array_path(path):
        scene = _open_array(path, keep_bad_bands, wavelengths, array_options, flag_prefix)
    elif (pair := find_envi_pair(path)) is not None:
        scene = EnviScene(*pair, keep_bad_bands=keep_bad_bands,
                          ignore_wavelengths=ignore_wavelengths,
                          wavelength_unit=wavelength_unit)
    else:
        scene = RasterioScene(path, keep_bad_bands=keep_bad_bands,
                              ignore_wavelengths=ignore_wavelengths,
                              wavelength_unit=wavelength_unit)
    try:
        if ignore_wavelengths:
            scene.bands = BandInfo(None, None, scene.bands.good, scene.bands.names)
        if wavelengths is not None:
            _override_wavelengths(scene, wavelengths, wavelength_unit,
                                  f"{flag_prefix}wavelengths")
        if fwhm is not None:
            _override_fwhm(scene, fwhm, wavelength_unit, f"{flag_prefix}fwhm")
        if scene.height < 1 or scene.width < 1 or len(scene.bands.good) < 1:
            raise SceneError(f"{path}: the scene is empty ({scene.height} rows x {scene.width} "
                             f"columns x {len(scene.bands.good)} bands)")
        check_band_info(path, scene.bands, len(scene.bands.good))
        if bands is not None or bad_bands is not None:
            scene.band_selection = _band_selection(scene, bands, bad_bands, flag_prefix)
    except BaseException:
        scene.close()
        raise
    return scene


def _open_array(path: Path, keep_bad_bands: bool, wavelengths: str | None,
                options: dict[str, str | None], flag_prefix: str) -> Scene:
    from phism_cli.io.arrays import ArrayRequest, ArrayScene, parse_layout, parse_shape

    parsed: dict[str, object] = {"variable": options["variable"],
                                 "pixel_order": options["pixel_order"]}
    for key, parse in (("shape", parse_shape), ("layout", parse_layout)):
        if options[key] is not None:
            try:
                parsed[key] = parse(str(options[key]))
            except ValueError as exc:
                raise SceneError(f"{flag_prefix}{key} {exc}") from None
    return ArrayScene(path, keep_bad_bands=keep_bad_bands,
                      request=ArrayRequest(n_bands=_listed_count(wavelengths), **parsed))


def _listed_count(spec: str | None) -> int | None:
    """How many values a --wavelengths list gives (None for START:STOP or a file)."""
    if spec is None or ":" in spec or "," not in spec:
        return None
    return len([v for v in spec.split(",") if v.strip()])


def _check_wavelength_unit(unit: str | None, flag: str) -> None:
    from phism_cli.io.wavelengths import check_wavelength_unit

    if unit is not None:
        try:
            check_wavelength_unit(unit)
        except ValueError as exc:
            raise SceneError(f"{flag} {exc}") from None


def _band_selection(scene: Scene, bands: str | None, bad_bands: str | None,
                    flag_prefix: str) -> np.ndarray:
    """The source bands kept by --bands (default all) less --bad-bands, checked against the
    file; a selection that leaves no band is refused."""
    from phism_cli.io.band_lists import parse_band_list

    n = len(scene.bands.good)
    keep = np.ones(n, dtype=bool)
    for flag, spec, value in (("bands", bands, True), ("bad-bands", bad_bands, False)):
        if spec is None:
            continue
        try:
            numbers = parse_band_list(spec, n)
        except ValueError as exc:
            shown = spec if len(spec) <= 40 else spec[:40] + "..."
            raise SceneError(f"{flag_prefix}{flag} {shown!r}: {exc} ({scene.path})") from None
        chosen = np.zeros(n, dtype=bool)
        chosen[np.asarray(numbers) - 1] = True
        keep &= chosen if value else ~chosen
    if not keep.any() or not (keep & (scene.bands.good | scene.keep_bad_bands)).any():
        raise SceneError(f"{scene.path}: --bands and --bad-bands (with the file's bad-band "
                         "list) leave no band to read; keep at least one")
    return keep


def _override_wavelengths(scene: Scene, spec: str, unit: str | None,
                          flag: str = "--wavelengths") -> None:
    from phism_cli.errors import note
    from phism_cli.io.wavelengths import parse_wavelength_spec, wavelength_factor

    n_source = len(scene.bands.good)
    shown = spec if len(spec) <= 40 else spec[:40] + "..."
    try:
        values = parse_wavelength_spec(spec, n_source)
    except ValueError as exc:
        raise SceneError(
            f"{flag} {shown!r}: {exc}; {scene.path} has {plural(n_source, 'band')} (give "
            "START:STOP, one value per band, or a file of values, in nm or with --wavelength-unit)"
        ) from None
    try:
        factor, guessed = wavelength_factor(values, None, unit)
    except ValueError as exc:
        raise SceneError(f"{flag} {shown!r}: {exc}; give them in nm, or say their unit with "
                         "--wavelength-unit nm|um") from None
    if guessed:
        note(f"{flag} {shown}: {guessed} (give --wavelength-unit to say otherwise)")
    scene.bands = BandInfo(values * factor, scene.bands.fwhm_nm, scene.bands.good,
                           scene.bands.names)


def _override_fwhm(scene: Scene, spec: str, unit: str | None, flag: str = "--fwhm") -> None:
    """Band widths (FWHM) from a flag, in --wavelength-unit or nm: one value for every band,
    or a wavelength spec."""
    from phism_cli.io.wavelengths import parse_wavelength_spec, unit_to_nm_factor

    n_source = len(scene.bands.good)
    try:
        single = float(spec)
    except ValueError:
        single = None
    try:
        if single is not None and n_source > 1:
            widths = parse_wavelength_spec(spec, 1).repeat(n_source)
        else:
            widths = parse_wavelength_spec(spec, n_source)
    except ValueError as exc:
        shown = spec if len(spec) <= 40 else spec[:40] + "..."
        phrase = str(exc).replace("wavelengths given", "widths given")
        raise SceneError(
            f"{flag} {shown!r}: {phrase}; {scene.path} has {plural(n_source, 'band')} (give one "
            "width for every band, one value per band, START:STOP, or a file of values)"
        ) from None
    factor = unit_to_nm_factor(unit) if unit is not None else 1.0
    scene.bands = BandInfo(scene.bands.wavelength_nm, widths * (factor or 1.0),
                           scene.bands.good, scene.bands.names)
