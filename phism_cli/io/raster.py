"""Scenes that GDAL reads through rasterio: GeoTIFF and friends."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from phism_cli.errors import SceneError
from phism_cli.io.scene import BandInfo, Scene
from phism_cli.io.wavelengths import nm_factor, to_nanometres, wavelength_from_name


class RasterioScene(Scene):
    format = "GDAL"

    def __init__(self, path: Path, keep_bad_bands: bool = False) -> None:
        super().__init__(keep_bad_bands)
        self.path = path
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            try:
                self._ds = rasterio.open(path)
            except RasterioIOError as exc:
                raise SceneError(f"{path}: not a readable raster ({exc})") from None
        ds = self._ds
        self.format = ds.driver
        self.height, self.width = ds.height, ds.width
        self.source_dtype = np.dtype(ds.dtypes[0])
        if np.issubdtype(self.source_dtype, np.complexfloating):
            raise SceneError(f"{path}: complex rasters cannot be encoded")
        self.bands = self._band_info(ds)
        self.nodata = ds.nodatavals[0]
        self.scale = float(ds.scales[0]) if ds.scales[0] is not None else 1.0
        self.offset = float(ds.offsets[0]) if ds.offsets[0] is not None else 0.0
        georeferenced = ds.crs is not None or not ds.transform.is_identity
        self.crs = ds.crs if georeferenced else None
        self.transform = ds.transform if georeferenced else None

    @staticmethod
    def _band_info(ds: rasterio.DatasetReader) -> BandInfo:
        n = ds.count
        wavelength_nm = np.full(n, np.nan)
        fwhm_nm = np.full(n, np.nan)
        good = np.ones(n, dtype=bool)
        for i in range(1, n + 1):
            tags = {**ds.tags(i, ns="ENVI"), **ds.tags(i)}
            tags = {k.lower(): v for k, v in tags.items()}
            unit = tags.get("wavelength_units") or tags.get("units")
            if "wavelength" in tags:
                factor = nm_factor([float(tags["wavelength"])], unit)
                wavelength_nm[i - 1] = float(tags["wavelength"]) * factor
                if "fwhm" in tags:
                    fwhm_nm[i - 1] = float(tags["fwhm"]) * factor
            else:
                imagery = ds.tags(i, ns="IMAGERY")
                if "CENTRAL_WAVELENGTH_UM" in imagery:
                    wavelength_nm[i - 1] = float(imagery["CENTRAL_WAVELENGTH_UM"]) * 1000.0
                    if "FWHM_UM" in imagery:
                        fwhm_nm[i - 1] = float(imagery["FWHM_UM"]) * 1000.0
                elif ds.descriptions[i - 1]:
                    parsed = wavelength_from_name(ds.descriptions[i - 1])
                    if parsed is not None:
                        wavelength_nm[i - 1] = parsed
            if "bbl" in tags:
                good[i - 1] = float(tags["bbl"]) != 0
        dataset_envi = {k.lower(): v for k, v in ds.tags(ns="ENVI").items()}
        if np.isnan(wavelength_nm).any() and "wavelength" in dataset_envi:
            values = _envi_list(dataset_envi["wavelength"])
            if len(values) == n:
                wavelength_nm = to_nanometres(values, dataset_envi.get("wavelength_units"))
        if "bbl" in dataset_envi and len(_envi_list(dataset_envi["bbl"])) == n:
            good = np.asarray(_envi_list(dataset_envi["bbl"])) != 0
        names = [d or "" for d in ds.descriptions]
        return BandInfo(
            None if np.isnan(wavelength_nm).any() else wavelength_nm,
            None if np.isnan(fwhm_nm).any() else fwhm_nm,
            good,
            names,
        )

    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        block = self._ds.read(indexes=[int(i) + 1 for i in band_indices], window=window)
        return np.moveaxis(block, 0, -1)

    def close(self) -> None:
        self._ds.close()


def _envi_list(text: str) -> list[float]:
    text = text.strip()
    if text.startswith("["):
        return [float(v) for v in json.loads(text)]
    return [float(v) for v in text.strip("{}").split(",") if v.strip()]
