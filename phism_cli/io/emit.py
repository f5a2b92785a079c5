"""EMIT L2A surface reflectance (RFL) and L1B radiance (RAD) NetCDF-4 granules.

Structure (NASA/JPL EMIT product user guides and the LP DAAC's EMIT-Data-Resources tools):
the root variable `reflectance` or `radiance` is (downtrack, crosstrack, bands) float32
with `_FillValue` -9999; group `sensor_band_parameters` holds `wavelengths` and `fwhm` (nm)
and, in L2A, `good_wavelengths` (1 good, 0 bad); group `location` holds the geometry lookup
table `glt_x`, `glt_y` (ortho_y, ortho_x): 1-based crosstrack and downtrack indices of the
sensor pixel that fills each map cell, 0 where none does; the root attributes
`geotransform` (GDAL order) and `spatial_ref` (WKT) place that map grid.

By default a scene is read orthorectified: each tile of the map grid is filled through the
GLT from the sensor rows it needs, so memory stays bounded by the tile. With `no_ortho` it
is read in sensor geometry (downtrack x crosstrack), without georeferencing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from phism_cli.errors import SceneError
from phism_cli.io import hdf5_files as h5
from phism_cli.io.scene import (
    BandInfo,
    OpenRequest,
    Scene,
    SceneFormat,
    select_bands,
    wavelengths_in_nm,
)

VARIABLES = ("reflectance", "radiance")
FILL_VALUE = -9999.0  # the products' _FillValue, used where a file states none
_ROW_BLOCK = 128  # sensor rows gathered at once when filling a map tile through the GLT
_UNITLESS = ("", "unitless", "1")


def is_emit(path: Path) -> bool:
    """An HDF5 file whose name or content says EMIT."""
    if not h5.is_hdf5(path):
        return False
    if path.name.upper().startswith("EMIT_"):
        return True
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return "sensor_band_parameters" in handle and any(v in handle for v in VARIABLES)
    except OSError:
        return False


class EmitScene(Scene):
    format = "EMIT"
    fresh_reads = True

    def __init__(self, path: Path, request: OpenRequest, ortho: bool = True) -> None:
        super().__init__(request.keep_bad_bands)
        self.path = path
        self.ortho = ortho
        self._file = h5.open_hdf5(path, "EMIT NetCDF")
        try:
            self._describe(request)
        except BaseException:
            self._file.close()
            raise

    def _describe(self, request: OpenRequest) -> None:
        handle = self._file
        name = next((v for v in VARIABLES if h5.has_path(handle, v)), None)
        if name is None:
            found = ", ".join(sorted(handle.keys())[:8]) or "nothing"
            raise SceneError(f"{self.path}: an EMIT file without 'reflectance' or 'radiance' "
                             f"(it holds {found}); phism reads EMIT L2A RFL and L1B RAD "
                             "granules")
        self.variable = name
        self._data = h5.dataset(self.path, handle, name, ndim=3, what=f"the {name} cube")
        downtrack, crosstrack, n_bands = self._data.shape
        self.source_dtype = np.dtype(self._data.dtype)
        attrs = self._data.attrs
        fill = attrs.get("_FillValue")
        self.nodata = FILL_VALUE if fill is None else \
            float(h5.numbers(self.path, fill, f"'{name}' attribute '_FillValue'", 1)[0])
        self.scale = float(h5.numbers(self.path, attrs.get("scale_factor", 1.0),
                                      f"'{name}' attribute 'scale_factor'", 1)[0])
        self.offset = float(h5.numbers(self.path, attrs.get("add_offset", 0.0),
                                       f"'{name}' attribute 'add_offset'", 1)[0])
        unit = h5.text(attrs.get("units", "")).strip()
        self.data_unit = None if unit.lower() in _UNITLESS else unit
        self.bands = self._band_info(n_bands, request)
        self._sensor_shape = (downtrack, crosstrack)
        if self.ortho:
            self._open_glt()
        else:
            self._glt = None
            self.height, self.width = downtrack, crosstrack
            self.crs, self.transform = None, None

    def _band_info(self, n_bands: int, request: OpenRequest) -> BandInfo:
        group = "sensor_band_parameters"
        if not h5.has_path(self._file, group):
            raise SceneError(f"{self.path}: no group '{group}' (band wavelengths); the file is "
                             "not a complete EMIT granule")
        params = self._file[group]
        good = np.ones(n_bands, dtype=bool)
        if "good_wavelengths" in params:
            flags = h5.numbers(self.path, params["good_wavelengths"][()],
                               f"'{group}/good_wavelengths'", n_bands)
            good = flags != 0
        if request.ignore_wavelengths:
            return BandInfo(None, None, good)
        if "wavelengths" not in params:
            raise SceneError(f"{self.path}: no '{group}/wavelengths'; the file is not a "
                             "complete EMIT granule (or pass --ignore-wavelengths)")
        where = f"'{group}/wavelengths'"
        raw = h5.numbers(self.path, params["wavelengths"][()], where, n_bands)
        unit = h5.text(params["wavelengths"].attrs.get("units", "")).strip() or None
        wavelength_nm, factor = wavelengths_in_nm(self.path, raw, unit,
                                                  request.wavelength_unit, where)
        fwhm_nm = None
        if "fwhm" in params:
            fwhm_nm = h5.numbers(self.path, params["fwhm"][()], f"'{group}/fwhm'",
                                 n_bands) * factor
        return BandInfo(wavelength_nm, fwhm_nm, good)

    def _open_glt(self) -> None:
        """The GLT, checked whole (in row blocks) so that no tile finds it broken later."""
        where = "location"
        glt_x = h5.dataset(self.path, self._file, f"{where}/glt_x", ndim=2,
                           what="the geometry lookup table; pass --no-ortho to read the "
                           "granule in sensor geometry")
        glt_y = h5.dataset(self.path, self._file, f"{where}/glt_y", ndim=2, what="the GLT")
        if glt_x.shape != glt_y.shape:
            raise SceneError(f"{self.path}: 'location/glt_x' is {glt_x.shape} and "
                             f"'location/glt_y' {glt_y.shape}; the GLT is damaged (pass "
                             "--no-ortho to read the granule in sensor geometry)")
        downtrack, crosstrack = self._sensor_shape
        for array, name, limit in ((glt_x, "glt_x", crosstrack), (glt_y, "glt_y", downtrack)):
            for row in range(0, array.shape[0], 1024):
                values = np.abs(np.asarray(array[row:row + 1024], dtype=np.int64))
                if values.size and values.max() > limit:
                    raise SceneError(
                        f"{self.path}: 'location/{name}' points at index {values.max()} of a "
                        f"{limit}-pixel axis; the GLT does not belong to this cube (pass "
                        "--no-ortho to read the granule in sensor geometry)")
        self._glt = (glt_x, glt_y)
        self.height, self.width = glt_x.shape
        self.crs, self.transform = self._georeference()

    def _georeference(self) -> tuple[CRS | None, Affine | None]:
        attrs = self._file.attrs
        if "geotransform" not in attrs:
            return None, None
        gt = h5.numbers(self.path, attrs["geotransform"], "root attribute 'geotransform'", 6)
        if gt[1] == 0 or gt[5] == 0:
            raise SceneError(f"{self.path}: root attribute 'geotransform' has a zero pixel "
                             f"size ({list(gt)}); the file's metadata is damaged")
        crs = None
        if "spatial_ref" in attrs:
            from rasterio.errors import CRSError

            try:
                crs = CRS.from_wkt(h5.text(attrs["spatial_ref"]))
            except CRSError:
                raise SceneError(f"{self.path}: root attribute 'spatial_ref' is not a WKT "
                                 "coordinate system; the file's metadata is damaged") from None
        return crs, Affine.from_gdal(*gt)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        geometry = "orthorectified through the GLT" if self._glt is not None else \
            "in sensor geometry (downtrack x crosstrack)"
        info["product"] = f"{self.variable}, {geometry}"
        return info

    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        rows = slice(int(window.row_off), int(window.row_off + window.height))
        cols = slice(int(window.col_off), int(window.col_off + window.width))
        if self._glt is None:
            return np.ascontiguousarray(select_bands(self._data[rows, cols, :], band_indices))
        glt_x, glt_y = self._glt
        source_col = np.abs(np.asarray(glt_x[rows, cols], dtype=np.int64))
        source_row = np.abs(np.asarray(glt_y[rows, cols], dtype=np.int64))
        # Negative entries (a neighbour's pixel reused) point at |index|; 0 is no pixel.
        filled = (source_col > 0) & (source_row > 0)
        out = np.full((*source_col.shape, len(band_indices)), self.nodata,
                      dtype=self.source_dtype)
        if filled.any():
            out[filled] = self._gather(source_row[filled] - 1, source_col[filled] - 1,
                                       band_indices)
        return out

    def _gather(self, rows: np.ndarray, cols: np.ndarray, band_indices: np.ndarray
                ) -> np.ndarray:
        """The sensor pixels (rows[i], cols[i]), read a block of sensor rows at a time."""
        out = np.empty((len(rows), len(band_indices)), dtype=self.source_dtype)
        first, last = int(rows.min()), int(rows.max())
        for start in range(first, last + 1, _ROW_BLOCK):
            here = (rows >= start) & (rows < start + _ROW_BLOCK)
            if not here.any():
                continue
            r, c = rows[here], cols[here]
            r0, c0 = int(r.min()), int(c.min())
            block = self._data[r0:int(r.max()) + 1, c0:int(c.max()) + 1, :]
            out[here] = select_bands(block[r - r0, c - c0], band_indices)
        return out

    def close(self) -> None:
        self._file.close()


def open_emit(path: Path, request: OpenRequest) -> EmitScene:
    no_ortho = bool(request.format_options.get("no_ortho"))
    return EmitScene(path, request, ortho=not no_ortho)


FORMAT = SceneFormat("EMIT L2A/L1B NetCDF", is_emit, open_emit, options=("no_ortho",),
                     files="EMIT NetCDF granules")
