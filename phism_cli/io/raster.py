"""Scenes that GDAL reads through rasterio: GeoTIFF and friends."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from phism_cli.errors import SceneError, note
from phism_cli.io.scene import BandInfo, OpenRequest, Scene, SceneFormat, check_scale
from phism_cli.io.wavelengths import wavelength_factor, wavelength_from_name


class RasterioScene(Scene):
    format = "GDAL"
    fresh_reads = True  # rasterio reads into a new array every time

    def __init__(self, path: Path, keep_bad_bands: bool = False,
                 ignore_wavelengths: bool = False, wavelength_unit: str | None = None) -> None:
        super().__init__(keep_bad_bands)
        self.path = path
        self._wavelength_unit = wavelength_unit
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            try:
                self._ds = rasterio.open(path)
            except RasterioIOError as exc:
                raise SceneError(f"{path}: not a readable raster ({_gdal_reason(exc)})") from None
        try:
            self._describe(self._ds, ignore_wavelengths)
        except BaseException:
            self._ds.close()
            raise

    def _describe(self, ds: rasterio.DatasetReader, ignore_wavelengths: bool) -> None:
        self.format = ds.driver
        self.height, self.width = ds.height, ds.width
        if len(set(ds.dtypes)) > 1:
            raise SceneError(f"{self.path}: bands have different data types "
                             f"({', '.join(sorted(set(ds.dtypes)))}); convert to one type")
        self.source_dtype = np.dtype(ds.dtypes[0])
        if self.source_dtype.kind not in "biuf":
            raise SceneError(f"{self.path}: {self.source_dtype} rasters cannot be encoded; "
                             "convert to a real-valued type")
        self.bands = self._band_info(ds, ignore_wavelengths)
        nodata = ds.nodatavals
        self.nodata = None if all(v is None for v in nodata) else \
            _per_band([np.nan if v is None else float(v) for v in nodata])
        scales = [1.0 if v is None else float(v) for v in ds.scales]
        offsets = [0.0 if v is None else float(v) for v in ds.offsets]
        check_scale(self.path, "band scale", np.asarray(scales), positive=True)
        check_scale(self.path, "band offset", np.asarray(offsets), positive=False)
        self.scale, self.offset = _per_band(scales), _per_band(offsets)
        units = {(unit or "").strip() for unit in ds.units}
        self.data_unit = units.pop() if len(units) == 1 and "" not in units else None
        georeferenced = ds.crs is not None or not ds.transform.is_identity
        self.crs = ds.crs if georeferenced else None
        self.transform = ds.transform if georeferenced else None

    def _band_info(self, ds: rasterio.DatasetReader, ignore_wavelengths: bool) -> BandInfo:
        n = ds.count
        # Tag values as written, converted to nm below, all bands of one unit together.
        raw_wavelength = np.full(n, np.nan)
        raw_fwhm = np.full(n, np.nan)
        units: list[str | None] = [None] * n
        wavelength_nm = np.full(n, np.nan)
        fwhm_nm = np.full(n, np.nan)
        good = np.ones(n, dtype=bool)
        for i in range(1, n + 1):
            tags = {k.lower(): v for k, v in {**ds.tags(i, ns="ENVI"), **ds.tags(i)}.items()}
            if "wavelength" in tags:
                raw_wavelength[i - 1] = self._number(tags["wavelength"],
                                                     f"band {i} tag 'wavelength'")
                units[i - 1] = tags.get("wavelength_units") or tags.get("units")
                if "fwhm" in tags:
                    raw_fwhm[i - 1] = self._number(tags["fwhm"], f"band {i} tag 'fwhm'")
            else:
                imagery = ds.tags(i, ns="IMAGERY")
                if "CENTRAL_WAVELENGTH_UM" in imagery:
                    raw_wavelength[i - 1] = self._number(
                        imagery["CENTRAL_WAVELENGTH_UM"], f"band {i} CENTRAL_WAVELENGTH_UM")
                    units[i - 1] = "um"
                    if "FWHM_UM" in imagery:
                        raw_fwhm[i - 1] = self._number(imagery["FWHM_UM"], f"band {i} FWHM_UM")
                elif ds.descriptions[i - 1]:
                    parsed = wavelength_from_name(ds.descriptions[i - 1])
                    if parsed is not None:
                        wavelength_nm[i - 1] = parsed
            if "bbl" in tags:
                flag = self._number(tags["bbl"], f"band {i} tag 'bbl'")
                if flag not in (0.0, 1.0):
                    raise SceneError(f"{self.path}: band {i} tag 'bbl' is {tags['bbl']!r}; a "
                                     "bad-band flag is 0 (bad) or 1 (good)")
                good[i - 1] = flag != 0
        dataset_envi = {k.lower(): v for k, v in ds.tags(ns="ENVI").items()}
        if "bbl" in dataset_envi:
            flags = self._list(dataset_envi["bbl"], "ENVI metadata 'bbl'", n)
            good = np.asarray(flags) != 0
        names = [d or "" for d in ds.descriptions]
        if ignore_wavelengths:
            return BandInfo(None, None, good, names)
        tagged = ~np.isnan(raw_wavelength)
        for unit in {units[i] for i in np.flatnonzero(tagged)}:
            same = tagged & np.asarray([u == unit for u in units])
            factor = self._factor(raw_wavelength[same], unit, "band tags 'wavelength'")
            wavelength_nm[same] = raw_wavelength[same] * factor
            fwhm_nm[same] = raw_fwhm[same] * factor
        if np.isnan(wavelength_nm).all() and "wavelength" in dataset_envi:
            values = np.asarray(self._list(dataset_envi["wavelength"],
                                           "ENVI metadata 'wavelength'", n))
            wavelength_nm = values * self._factor(values, dataset_envi.get("wavelength_units"),
                                                  "ENVI metadata 'wavelength'")
        missing = np.isnan(wavelength_nm)
        if missing.any() and not missing.all():
            raise SceneError(f"{self.path}: band {int(np.argmax(missing)) + 1} has no wavelength "
                             f"but {int((~missing).sum())} other bands do; fix the band metadata "
                             "or pass --ignore-wavelengths")
        return BandInfo(
            None if missing.any() else wavelength_nm,
            None if np.isnan(fwhm_nm).any() else fwhm_nm,
            good,
            names,
        )

    def _factor(self, values: np.ndarray, unit: str | None, what: str) -> float:
        """nm per unit of the file's wavelengths (or of --wavelength-unit), said when read
        from the values and refused when impossible."""
        try:
            factor, guessed = wavelength_factor(values, unit, self._wavelength_unit)
        except ValueError as exc:
            raise SceneError(f"{self.path}: {what}: {exc}; give the unit with "
                             "--wavelength-unit nm|um (or pass --ignore-wavelengths)") from None
        if guessed:
            note(f"{self.path}: {guessed} (give --wavelength-unit to say otherwise)")
        return factor

    def _number(self, text: str, what: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise SceneError(f"{self.path}: {what} is {text!r}, not a finite number; fix the "
                             "band metadata or pass --ignore-wavelengths")
        return value

    def _list(self, text: str, what: str, n: int) -> list[float]:
        try:
            values = _envi_list(text)
        except (ValueError, TypeError):
            raise SceneError(f"{self.path}: {what} is not a list of numbers; fix the "
                             "metadata") from None
        if len(values) != n:
            raise SceneError(f"{self.path}: {what} has {len(values)} values for {n} bands; fix "
                             "the metadata or pass --ignore-wavelengths")
        return values

    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        block = self._ds.read(indexes=[int(i) + 1 for i in band_indices], window=window)
        return np.moveaxis(block, 0, -1)

    def close(self) -> None:
        self._ds.close()


def _per_band(values: list[float]) -> Any:
    """One float when every band shares it (NaN counts as equal), else an array per band."""
    array = np.asarray(values, dtype=np.float64)
    if np.all((array == array[0]) | (np.isnan(array) & np.isnan(array[0]))):
        return float(array[0])
    return array


def _gdal_reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:160] + "..."


def _envi_list(text: str) -> list[float]:
    text = text.strip()
    if text.startswith("["):
        return [float(v) for v in json.loads(text)]
    return [float(v) for v in text.strip("{}").split(",") if v.strip()]


def _any_file(path: Path) -> bool:
    return True  # the last resort: whatever GDAL reads (it says so when it cannot)


def open_raster(path: Path, request: OpenRequest) -> RasterioScene:
    return RasterioScene(path, keep_bad_bands=request.keep_bad_bands,
                         ignore_wavelengths=request.ignore_wavelengths,
                         wavelength_unit=request.wavelength_unit)


FORMAT = SceneFormat("GDAL raster (GeoTIFF, ...)", _any_file, open_raster)
