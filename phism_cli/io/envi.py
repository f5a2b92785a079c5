"""ENVI scenes: the header read strictly and checked against the data file, pixels read
window by window through GDAL (or a memory map), georeferencing by GDAL."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window
from spectral.io import envi

from phism_cli.errors import SceneError, note
from phism_cli.io.envi_header import EnviHeader, read_envi_header
from phism_cli.io.scene import BandInfo, OpenRequest, Scene, SceneFormat, check_scale
from phism_cli.io.wavelengths import (
    unit_to_nm_factor,
    wavelength_factor,
    wavelengths_from_names,
)

_DATA_SUFFIXES = ("", ".img", ".dat", ".bsq", ".bil", ".bip", ".raw", ".bin")
_INTERLEAVES = ("bsq", "bil", "bip")
_UNKNOWN_UNITS = ("", "unknown", "none")


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


class EnviLayout:
    """Where the pixels are in the data file: validated against the file's size."""

    def __init__(self, header: EnviHeader, data_path: Path) -> None:
        self.lines = header.integer("lines", 1)
        self.samples = header.integer("samples", 1)
        self.bands = header.integer("bands", 1)
        data_type = header.integer("data type", 1)
        if data_type in (6, 9):
            raise SceneError(f"{header.where('data type')} is {data_type}, complex data, which "
                             "cannot be encoded; convert it to a real-valued type")
        if str(data_type) not in envi.envi_to_dtype:
            known = ", ".join(k for k in envi.envi_to_dtype if k not in ("6", "9"))
            raise SceneError(f"{header.where('data type')} is {data_type}, not an ENVI data "
                             f"type phism reads ({known}); fix the header")
        byte_order = header.integer("byte order", 0, default=0, allowed=(0, 1))
        self.dtype = np.dtype(envi.envi_to_dtype[str(data_type)]).newbyteorder(
            ">" if byte_order else "<")
        self.offset = header.integer("header offset", 0, default=0)
        interleave = (header.text("interleave") or "bsq").strip().lower()
        if interleave not in _INTERLEAVES:
            raise SceneError(f"{header.where('interleave')} is {interleave!r}; use bsq, bil or "
                             "bip")
        self.interleave = interleave
        for key in ("major frame offsets", "minor frame offsets"):
            if key in header and any(v not in ("0", "") for v in header.strings(key)):
                raise SceneError(f"{header.where(key)}: frame offsets are not supported; "
                                 "convert the file to plain BSQ, BIL or BIP")
        self._check_size(header, data_path)

    def _check_size(self, header: EnviHeader, data_path: Path) -> None:
        needed = self.offset + self.lines * self.samples * self.bands * self.dtype.itemsize
        size = data_path.stat().st_size
        if size == needed:
            return
        described = (f"{self.lines} lines x {self.samples} samples x {self.bands} bands of "
                     f"{self.dtype.name} after a {self.offset}-byte offset = {needed} bytes")
        if size < needed:
            raise SceneError(f"{data_path}: truncated: {size} bytes on disk but the header "
                             f"({described}) needs {needed}; the file is incomplete or the "
                             "header is wrong")
        raise SceneError(f"{data_path}: {size} bytes on disk but the header describes "
                         f"{described}; {size - needed} bytes would be ignored, so samples, "
                         "lines, bands, data type or header offset must be wrong: fix the "
                         "header")

    @property
    def shape(self) -> tuple[int, int, int]:
        """The data's shape in file order."""
        return {"bsq": (self.bands, self.lines, self.samples),
                "bil": (self.lines, self.bands, self.samples),
                "bip": (self.lines, self.samples, self.bands)}[self.interleave]

    def memmap(self, data_path: Path) -> np.memmap:
        return np.memmap(data_path, dtype=self.dtype, mode="r", offset=self.offset,
                         shape=self.shape)

    def read(self, memmap: np.ndarray, window: Window, band_indices: np.ndarray) -> np.ndarray:
        """(rows, cols, bands) of `window` from a memory map in file order."""
        rows, cols = window.toslices()
        if self.interleave == "bsq":
            block = memmap[band_indices, rows, cols].transpose(1, 2, 0)
        elif self.interleave == "bil":
            block = memmap[rows, band_indices, cols].transpose(0, 2, 1)
        else:
            block = memmap[rows, cols][:, :, band_indices]
        return np.array(block, dtype=self.dtype.newbyteorder("="))


class EnviScene(Scene):
    format = "ENVI"

    def __init__(self, header_path: Path, data_path: Path, keep_bad_bands: bool = False,
                 ignore_wavelengths: bool = False, wavelength_unit: str | None = None) -> None:
        super().__init__(keep_bad_bands)
        self.path = header_path
        self.data_path = data_path
        self._dataset = None
        header = read_envi_header(header_path)
        self.header = header
        if (header.text("file type") or "").strip().lower() == "envi spectral library":
            raise SceneError(f"{header_path}: an ENVI spectral library, not an image; give a "
                             "scene")
        self.layout = EnviLayout(header, data_path)
        self.height, self.width = self.layout.lines, self.layout.samples
        n_bands = self.layout.bands
        self.source_dtype = self.layout.dtype.newbyteorder("=")
        self.bands = self._band_info(header, n_bands, ignore_wavelengths, wavelength_unit)
        self.nodata = header.number("data ignore value", allow_nan=True)
        self.scale, self.offset = self._scale_offset(header, n_bands)
        self._dataset = self._gdal_dataset(data_path)
        georeferenced = self._dataset is not None and (
            self._dataset.crs is not None or not self._dataset.transform.is_identity)
        self.crs = self._dataset.crs if georeferenced else None
        self.transform = self._dataset.transform if georeferenced else None

    @property
    def source_files(self) -> list[Path]:
        return [self.path, self.data_path]

    @staticmethod
    def _scale_offset(header: EnviHeader, n_bands: int) -> tuple[Any, Any]:
        """Physical value = (raw x gain + offset) / reflectance scale factor."""
        factor = header.number("reflectance scale factor")
        if factor is not None:
            check_scale(header.path, "reflectance scale factor", factor, positive=True)
        gain = header.numbers("data gain values", n_bands)
        offset = header.numbers("data offset values", n_bands)
        if gain is not None:
            check_scale(header.path, "data gain values", np.asarray(gain), positive=True)
        scale: Any = 1.0 if gain is None else np.asarray(gain)
        shift: Any = 0.0 if offset is None else np.asarray(offset)
        if factor is not None:
            scale, shift = scale / factor, shift / factor
        if np.ndim(scale) and np.all(scale == scale[0]):
            scale = float(scale[0])
        if np.ndim(shift) and np.all(shift == shift[0]):
            shift = float(shift[0])
        return scale, shift

    @staticmethod
    def _band_info(header: EnviHeader, n_bands: int, ignore_wavelengths: bool,
                   wavelength_unit: str | None) -> BandInfo:
        names = header.strings("band names")
        wavelength_nm = fwhm_nm = None
        if not ignore_wavelengths:
            raw = header.numbers("wavelength", n_bands)
            fwhm = header.numbers("fwhm", n_bands)
            if raw is not None:
                factor = _unit_factor(header, raw, wavelength_unit)
                wavelength_nm = np.asarray(raw) * factor
                if fwhm is not None:
                    fwhm_nm = np.asarray(fwhm) * factor  # fwhm shares the wavelengths' unit
            elif len(names) == n_bands:
                wavelength_nm = wavelengths_from_names(names)
        good = np.ones(n_bands, dtype=bool)
        bbl = header.numbers("bbl", n_bands) if "bbl" in header else None
        if bbl is not None:
            if any(v not in (0.0, 1.0) for v in bbl):
                raise SceneError(f"{header.where('bbl')}: the bad-band list must hold 0 (bad) or "
                                 "1 (good) for each band; fix the header")
            good = np.asarray(bbl) != 0
        return BandInfo(wavelength_nm, fwhm_nm, good, names)

    def _gdal_dataset(self, data_path: Path) -> Any:
        """GDAL's view of the file, used for georeferencing and for windowed reads.

        None when GDAL cannot open the file or reads its pixels differently from the header
        phism validated (then reads use a memory map).
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            try:
                ds = rasterio.open(data_path)
            except RasterioIOError:
                return None
        layout = self.layout
        if (ds.height, ds.width, ds.count) != (layout.lines, layout.samples, layout.bands) or \
                np.dtype(ds.dtypes[0]) != self.source_dtype or not self._gdal_agrees(ds):
            ds.close()
            return None
        return ds

    def _gdal_agrees(self, ds: Any) -> bool:
        """GDAL parses the header on its own: check it reads the same values at two corners."""
        memmap = self.layout.memmap(self.data_path)
        bands = np.arange(self.layout.bands)
        for row, col in ((0, 0), (self.height - 1, self.width - 1)):
            window = Window(col, row, 1, 1)
            ours = self.layout.read(memmap, window, bands)
            gdals = np.moveaxis(ds.read(window=window), 0, -1)
            if not np.array_equal(ours, gdals, equal_nan=ours.dtype.kind == "f"):
                return False
        return True

    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        if self._dataset is not None:
            # GDAL reads just the window's bytes: with a memory map, a BSQ window faults in
            # whole-width row strips of every band, so memory would grow with scene width.
            block = self._dataset.read(indexes=[int(i) + 1 for i in band_indices],
                                       window=window)
            return np.moveaxis(block, 0, -1)
        # A fresh map per window, dropped after the copy: pages of tiles already read leave
        # the process's resident set, so memory stays flat however large the file is.
        return self.layout.read(self.layout.memmap(self.data_path), window, band_indices)

    def close(self) -> None:
        if self._dataset is not None:
            self._dataset.close()
            self._dataset = None


def _unit_factor(header: EnviHeader, wavelengths: list[float],
                 override: str | None = None) -> float:
    """nm per unit of the header's wavelengths (or of --wavelength-unit): the stated unit,
    else read from the values (and said); refused when it cannot be right."""
    unit = (header.text("wavelength units") or "").strip()
    stated = None if unit.lower() in _UNKNOWN_UNITS else unit
    if stated is not None and override is None and unit_to_nm_factor(stated) is None:
        raise SceneError(f"{header.where('wavelength units')} is {unit!r}, not a length unit "
                         "phism knows (nm, um, micrometers, ...); fix the header, give "
                         "--wavelength-unit nm|um, or pass --ignore-wavelengths")
    where = header.where("wavelength units" if stated else "wavelength")
    try:
        factor, guessed = wavelength_factor(wavelengths, stated, override)
    except ValueError as exc:
        raise SceneError(f"{where}: {exc}; fix the header or give --wavelength-unit nm|um "
                         "(or pass --ignore-wavelengths)") from None
    if guessed:
        note(f"{header.path}: {guessed} (give --wavelength-unit to say otherwise)")
    return factor


def _is_envi(path: Path) -> bool:
    return find_envi_pair(path) is not None


def open_envi(path: Path, request: OpenRequest) -> EnviScene:
    pair = find_envi_pair(path)
    if pair is None:
        raise SceneError(f"{path}: not an ENVI scene (no .hdr header beside it)")
    return EnviScene(*pair, keep_bad_bands=request.keep_bad_bands,
                     ignore_wavelengths=request.ignore_wavelengths,
                     wavelength_unit=request.wavelength_unit)


FORMAT = SceneFormat("ENVI", _is_envi, open_envi)
