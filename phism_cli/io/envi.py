"""ENVI scenes: header parsed by `spectral`, pixels memory-mapped, georeferencing by GDAL."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window
from spectral.io import envi

from phism_cli.errors import SceneError
from phism_cli.io.scene import BandInfo, Scene
from phism_cli.io.wavelengths import nm_factor, wavelengths_from_names

_DATA_SUFFIXES = ("", ".img", ".dat", ".bsq", ".bil", ".bip", ".raw", ".bin")


def find_envi_pair(path: Path) -> tuple[Path, Path] | None:
    """(header, data) for an ENVI scene given either file, or None if `path` is not ENVI."""
    if path.suffix.lower() == ".hdr":
        for suffix in _DATA_SUFFIXES:
            candidate = path.with_suffix(suffix)
            if candidate.is_file() and candidate != path:
                return path, candidate
        raise SceneError(
            f"{path}: ENVI header without its data file (looked for "
            f"{', '.join(path.with_suffix(s).name for s in _DATA_SUFFIXES if s)} and "
            f"{path.with_suffix('').name}); put the binary file beside the header"
        )
    for header in (path.with_suffix(".hdr"), Path(f"{path}.hdr")):
        if header.is_file() and header != path:
            return header, path
    return None


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.strip("{} \n").split(",") if v.strip()]
    return [str(v).strip() for v in value]


def _float_or_none(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return float(value)


class EnviScene(Scene):
    format = "ENVI"

    def __init__(self, header_path: Path, data_path: Path, keep_bad_bands: bool = False) -> None:
        super().__init__(keep_bad_bands)
        self.path = header_path
        self.data_path = data_path
        header = self._read_header(header_path)
        self.header = header
        try:
            self.height = int(header["lines"])
            self.width = int(header["samples"])
            n_bands = int(header["bands"])
            data_type = str(header["data type"]).strip()
        except (KeyError, ValueError) as exc:
            raise SceneError(f"{header_path}: ENVI header lacks a valid {exc} field") from None
        if data_type in ("6", "9"):
            raise SceneError(f"{header_path}: complex ENVI data (data type {data_type}) "
                             "cannot be encoded; convert it to a real-valued type")
        if data_type not in envi.envi_to_dtype:
            raise SceneError(f"{header_path}: unknown ENVI data type {data_type!r}")
        self.source_dtype = np.dtype(envi.envi_to_dtype[data_type])
        offset = int(header.get("header offset", 0) or 0)
        needed = offset + self.height * self.width * n_bands * self.source_dtype.itemsize
        size = data_path.stat().st_size
        if size < needed:
            raise SceneError(
                f"{data_path}: truncated: {size} bytes on disk but the header "
                f"({self.height} lines x {self.width} samples x {n_bands} bands of "
                f"{self.source_dtype}, offset {offset}) needs {needed}"
            )
        try:
            self._image = envi.open(str(header_path), str(data_path))
        except Exception as exc:  # spectral raises a variety of types for malformed headers
            raise SceneError(f"{header_path}: cannot open ENVI data: {exc}") from None

        self.bands = self._band_info(header, n_bands)
        self.nodata = _float_or_none(header.get("data ignore value"))
        factor = _float_or_none(header.get("reflectance scale factor"))
        self.scale = 1.0 / factor if factor else 1.0
        self.offset = 0.0
        self._dataset = self._gdal_dataset(data_path, n_bands)
        georeferenced = self._dataset is not None and (
            self._dataset.crs is not None or not self._dataset.transform.is_identity)
        self.crs = self._dataset.crs if georeferenced else None
        self.transform = self._dataset.transform if georeferenced else None

    @staticmethod
    def _read_header(header_path: Path) -> dict[str, Any]:
        try:
            with open(header_path, errors="replace") as fh:
                first = fh.readline().strip()
        except OSError as exc:
            raise SceneError(f"{header_path}: cannot read header: {exc.strerror}") from None
        if first != "ENVI":
            raise SceneError(f"{header_path}: not an ENVI header (first line must be 'ENVI')")
        try:
            return envi.read_envi_header(str(header_path))
        except Exception as exc:
            raise SceneError(f"{header_path}: unreadable ENVI header: {exc}") from None

    @staticmethod
    def _band_info(header: dict[str, Any], n_bands: int) -> BandInfo:
        names = _as_list(header.get("band names"))
        unit = header.get("wavelength units")
        wl_values = _as_list(header.get("wavelength"))
        wavelength_nm = None
        factor = 1.0  # fwhm shares the wavelengths' unit
        if len(wl_values) == n_bands:
            raw_wavelengths = [float(v) for v in wl_values]
            factor = nm_factor(raw_wavelengths, unit)
            wavelength_nm = np.asarray(raw_wavelengths) * factor
        elif len(names) == n_bands:
            wavelength_nm = wavelengths_from_names(names)
        fwhm_values = _as_list(header.get("fwhm"))
        fwhm_nm = None
        if len(fwhm_values) == n_bands:
            fwhm_nm = np.asarray([float(v) for v in fwhm_values]) * factor
        bbl = _as_list(header.get("bbl"))
        good = (np.asarray([float(v) for v in bbl]) != 0 if len(bbl) == n_bands
                else np.ones(n_bands, dtype=bool))
        return BandInfo(wavelength_nm, fwhm_nm, good, names)

    def _gdal_dataset(self, data_path: Path, n_bands: int) -> Any:
        """GDAL's view of the file, used for georeferencing and for windowed reads.

        None when GDAL cannot open it or sees another shape; reads then use a memory map.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            try:
                ds = rasterio.open(data_path)
            except RasterioIOError:
                return None
        if (ds.height, ds.width, ds.count) != (self.height, self.width, n_bands) or \
                np.dtype(ds.dtypes[0]) != self.source_dtype.newbyteorder("="):
            ds.close()
            return None
        return ds

    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        if self._dataset is not None:
            # GDAL reads just the window's bytes: with a memory map, a BSQ window faults in
            # whole-width row strips of every band, so memory would grow with scene width.
            block = self._dataset.read(indexes=[int(i) + 1 for i in band_indices],
                                       window=window)
            return np.moveaxis(block, 0, -1)
        # A fresh map per window, dropped after the copy: pages of tiles already read leave
        # the process's resident set, so memory stays flat however large the file is.
        memmap = self._image.open_memmap(interleave="bip")
        rows, cols = window.toslices()
        block = memmap[rows, cols]
        if len(band_indices) == block.shape[2]:
            return np.array(block)
        return block[:, :, band_indices]

    def close(self) -> None:
        if self._dataset is not None:
            self._dataset.close()
        self._image = None
