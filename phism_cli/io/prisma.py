"""PRISMA L1 and L2 (2B, 2C, 2D) HDF-EOS5 products (.he5): the VNIR and SWIR cubes read as
one scene.

Structure (ASI's PRISMA Product Specification, as read by prismaread and the EnMAP-Box
importers): the cubes are `HDFEOS/SWATHS/PRS_<level>_HCO/Data Fields/VNIR_Cube` and
`SWIR_Cube`, each (lines, bands, samples) uint16; the root attributes `List_Cw_Vnir`,
`List_Fwhm_Vnir`, `List_Cw_Vnir_Flags` (and _Swir) give each cube band's centre and width
in nm and whether it is in use (unused bands have centre 0); the VNIR list runs from long to
short wavelengths. Values are DN: L2 reflectance is `L2ScaleVnirMin + DN * (L2ScaleVnirMax -
L2ScaleVnirMin) / 65535` (likewise Swir); L1 radiance is `DN / ScaleFactor_Vnir -
Offset_Vnir`. L2D is on a map grid: `Epsg_Code`, and `Product_ULcorner_easting`/`_northing`
and `Product_LRcorner_*` the centres of the corner pixels.

The scene's bands are every band in use, in increasing wavelength. Where VNIR and SWIR
overlap (about 920-1010 nm) the SWIR bands at or below the last VNIR centre are marked bad
(VNIR has the better signal there): dropped unless --keep-bad-bands.
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
from phism_cli.io.scene import BandInfo, OpenRequest, Scene, SceneFormat

SWATHS = "HDFEOS/SWATHS"
LEVELS = ("L2D", "L2C", "L2B", "L1")  # the hyperspectral swath PRS_<level>_HCO read first
DN_RANGE = 65535.0
_DETECTORS = ("Vnir", "Swir")


def is_prisma(path: Path) -> bool:
    """An HDF5 file named PRS_* or holding PRISMA's swaths."""
    if not h5.is_hdf5(path):
        return False
    if path.name.upper().startswith("PRS_"):
        return True
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return "List_Cw_Vnir" in handle.attrs or _swath(handle) is not None
    except OSError:
        return False


def _swath(handle: Any) -> tuple[str, str] | None:
    for level in LEVELS:
        key = f"{SWATHS}/PRS_{level}_HCO"
        if h5.has_path(handle, key):
            return level, key
    return None


class PrismaScene(Scene):
    format = "PRISMA"
    fresh_reads = True

    def __init__(self, path: Path, request: OpenRequest) -> None:
        super().__init__(request.keep_bad_bands)
        self.path = path
        self._file = h5.open_hdf5(path, "PRISMA HDF-EOS5")
        self._kept: dict[int, tuple[tuple[int, ...], np.ndarray]] = {}
        try:
            self._describe(request)
        except BaseException:
            self._file.close()
            raise

    def _describe(self, request: OpenRequest) -> None:
        handle = self._file
        found = _swath(handle)
        if found is None:
            raise SceneError(f"{self.path}: no hyperspectral swath ({SWATHS}/PRS_L2D_HCO, "
                             "PRS_L2C_HCO, PRS_L2B_HCO or PRS_L1_HCO); phism reads PRISMA "
                             "L1 and L2 products")
        self.level, swath = found
        attrs = handle.attrs
        cubes, detector, cube_band, centres, widths, scales, offsets = [], [], [], [], [], [], []
        detector_scaling = []
        for number, name in enumerate(_DETECTORS):
            cube = h5.dataset(self.path, handle, f"{swath}/Data Fields/{name.upper()}_Cube",
                              ndim=3, what=f"the {name.upper()} cube")
            n = cube.shape[1]
            cw = h5.numbers(self.path, h5.attribute(self.path, attrs, f"List_Cw_{name}",
                                                    "the root"), f"List_Cw_{name}", n)
            fw = h5.numbers(self.path, h5.attribute(self.path, attrs, f"List_Fwhm_{name}",
                                                    "the root"), f"List_Fwhm_{name}", n)
            in_use = cw > 0
            flags_name = f"List_Cw_{name}_Flags"
            if flags_name in attrs:
                in_use &= h5.numbers(self.path, attrs[flags_name], flags_name, n) != 0
            bands = np.flatnonzero(in_use)
            if len(bands) and (fw[bands] <= 0).any():
                raise SceneError(f"{self.path}: List_Fwhm_{name} has a width of 0 or less "
                                 "for a band in use; the file's metadata is damaged")
            cubes.append(cube)
            detector.append(np.full(len(bands), number))
            cube_band.append(bands)
            centres.append(cw[bands])
            widths.append(fw[bands])
            scale, offset = self._scaling(name)
            detector_scaling.append((np.float32(scale), np.float32(offset)))
            scales.append(np.full(len(bands), scale))
            offsets.append(np.full(len(bands), offset))
        vnir, swir = cubes
        if vnir.shape[0] != swir.shape[0] or vnir.shape[2] != swir.shape[2]:
            raise SceneError(f"{self.path}: the VNIR cube is {vnir.shape} and the SWIR cube "
                             f"{swir.shape} (lines, bands, samples); they must cover the "
                             "same pixels")
        if vnir.dtype != swir.dtype:
            raise SceneError(f"{self.path}: the VNIR cube holds {vnir.dtype} and the SWIR "
                             f"cube {swir.dtype}; the file is not a PRISMA product")
        wavelength_nm = np.concatenate(centres)
        if not len(wavelength_nm):
            raise SceneError(f"{self.path}: List_Cw_Vnir and List_Cw_Swir mark no band in "
                             "use; the file's metadata is damaged")
        order = np.argsort(wavelength_nm, kind="stable")
        self._cubes = tuple(cubes)
        self._fused_scaling = tuple(detector_scaling)
        self._detector = np.concatenate(detector)[order]
        self._cube_band = np.concatenate(cube_band)[order]
        self.height, self.width = vnir.shape[0], vnir.shape[2]
        self.source_dtype = np.dtype(vnir.dtype)
        good = np.ones(len(order), dtype=bool)
        if len(centres[0]) and len(centres[1]):
            good = (self._detector == 0) | (wavelength_nm[order] > centres[0].max())
        self.bands = BandInfo(None, None, good) if request.ignore_wavelengths else \
            BandInfo(wavelength_nm[order], np.concatenate(widths)[order], good)
        self.scale = _uniform(np.concatenate(scales)[order])
        self.offset = _uniform(np.concatenate(offsets)[order])
        self.nodata = None
        self.data_unit = None if self.level != "L1" else "W m-2 sr-1 um-1"
        self.crs, self.transform = self._georeference() if self.level == "L2D" else (None, None)

    def _scaling(self, name: str) -> tuple[float, float]:
        """Value = DN * scale + offset for the detector's bands."""
        attrs = self._file.attrs
        if self.level == "L1":
            factor = _number(self.path, attrs, f"ScaleFactor_{name}")
            if factor <= 0:
                raise SceneError(f"{self.path}: ScaleFactor_{name} is {factor}; it must be "
                                 "positive (the file's metadata is damaged)")
            return 1.0 / factor, -_number(self.path, attrs, f"Offset_{name}")
        low = _number(self.path, attrs, f"L2Scale{name}Min")
        high = _number(self.path, attrs, f"L2Scale{name}Max")
        if high <= low:
            raise SceneError(f"{self.path}: L2Scale{name}Max ({high}) is not above "
                             f"L2Scale{name}Min ({low}); the file's metadata is damaged")
        return (high - low) / DN_RANGE, low

    def _georeference(self) -> tuple[CRS | None, Affine | None]:
        attrs = self._file.attrs
        if "Epsg_Code" not in attrs:
            return None, None
        epsg = int(_number(self.path, attrs, "Epsg_Code"))
        try:
            crs = CRS.from_epsg(epsg)
        except Exception:  # rasterio raises CRSError, pyproj others
            raise SceneError(f"{self.path}: Epsg_Code {epsg} is not an EPSG coordinate "
                             "system; the file's metadata is damaged") from None
        ul_x = _number(self.path, attrs, "Product_ULcorner_easting")
        ul_y = _number(self.path, attrs, "Product_ULcorner_northing")
        lr_x = _number(self.path, attrs, "Product_LRcorner_easting")
        lr_y = _number(self.path, attrs, "Product_LRcorner_northing")
        if self.width < 2 or self.height < 2 or lr_x <= ul_x or ul_y <= lr_y:
            raise SceneError(f"{self.path}: corners UL ({ul_x}, {ul_y}) and LR ({lr_x}, "
                             f"{lr_y}) do not span a {self.height} x {self.width} grid; the "
                             "file's metadata is damaged")
        size_x = (lr_x - ul_x) / (self.width - 1)
        size_y = (ul_y - lr_y) / (self.height - 1)
        return crs, Affine(size_x, 0.0, ul_x - size_x / 2, 0.0, -size_y, ul_y + size_y / 2)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["product"] = f"level {self.level}, VNIR and SWIR joined"
        return info

    def read(self, window: Window | None = None) -> np.ndarray:
        """As `Scene.read`, converting DN to physical units while the bands are transposed
        into place (one pass over the tile instead of three; the same float32 values)."""
        window = window or Window(0, 0, self.width, self.height)
        return self._fill(window, self.band_indices, np.float32, self._fused_scaling)

    def _read_raw(self, window: Window, band_indices: np.ndarray) -> np.ndarray:
        return self._fill(window, band_indices, self.source_dtype, None)

    def _fill(self, window: Window, band_indices: np.ndarray, dtype: np.dtype | type,
              scaling: tuple[tuple[np.float32, np.float32], ...] | None) -> np.ndarray:
        """The tile as (rows, cols, bands) of `dtype`: DN, or DN * scale + offset of each
        detector in `scaling`."""
        rows = slice(int(window.row_off), int(window.row_off + window.height))
        cols = slice(int(window.col_off), int(window.col_off + window.width))
        out = np.empty((rows.stop - rows.start, cols.stop - cols.start, len(band_indices)),
                       dtype=dtype)
        for number in range(len(self._cubes)):
            pick = np.flatnonzero(self._detector[band_indices] == number)
            if not len(pick):
                continue
            wanted = self._cube_band[band_indices[pick]]
            low, high = int(wanted.min()), int(wanted.max()) + 1
            lines = self._lines(number, rows, low, high)  # (lines, bands, samples)
            # Run by run as slices: strided copies instead of a gather and a scatter (5x
            # faster); where VNIR and SWIR overlap, their bands interleave in a few runs.
            for into, start, stop in _runs(pick, wanted - low):
                source = lines[:, _as_slice(wanted[start:stop] - low), cols].transpose(0, 2, 1)
                if scaling is None:
                    out[..., into] = source
                    continue
                scale, offset = scaling[number]
                np.multiply(source, scale, out=out[..., into], casting="unsafe")
                if offset:
                    out[..., into] += offset
        return out

    def _lines(self, number: int, rows: slice, low: int, high: int) -> np.ndarray:
        """Whole lines of cube `number`, bands low..high: a (lines, bands, samples) cube is
        stored a line at a time, so a tile's lines are read once, whole, and kept for the
        next tiles of the same row (memory: one row of tiles)."""
        key = (rows.start, rows.stop, low, high)
        kept = self._kept.get(number)
        if kept is None or kept[0] != key:
            self._kept.pop(number, None)  # the old lines go before the new ones come
            kept = self._kept[number] = (key, self._cubes[number][rows, low:high, :])
        return kept[1]

    def close(self) -> None:
        self._kept.clear()
        self._file.close()


def _runs(pick: np.ndarray, wanted: np.ndarray) -> list[tuple[slice, int, int]]:
    """Split positions `pick` (ascending) and cube bands `wanted` into stretches where pick
    steps by 1 and wanted by a constant +1 or -1: (pick slice, start, stop) into both."""
    runs, start = [], 0
    for i in range(1, len(pick) + 1):
        if i < len(pick):
            step = int(wanted[i] - wanted[i - 1])
            same = step == (int(wanted[start + 1] - wanted[start]) if i - start >= 2 else step)
            if pick[i] == pick[i - 1] + 1 and step in (1, -1) and same:
                continue
        runs.append((slice(int(pick[start]), int(pick[i - 1]) + 1), start, i))
        start = i
    return runs


def _as_slice(indices: np.ndarray) -> slice | np.ndarray:
    """`indices` as a slice when they run by +1 or -1 (VNIR bands are stored from long to
    short wavelengths, so they come reversed), else as they are."""
    if len(indices) < 2:
        return slice(int(indices[0]), int(indices[0]) + 1) if len(indices) else indices
    step = int(indices[1] - indices[0])
    if step not in (1, -1) or not np.all(np.diff(indices) == step):
        return indices
    stop = int(indices[-1]) + step
    return slice(int(indices[0]), None if stop < 0 else stop, step)


def _number(path: Path, attrs: Any, name: str) -> float:
    return float(h5.numbers(path, h5.attribute(path, attrs, name, "the root"), name, 1)[0])


def _uniform(values: np.ndarray) -> float | np.ndarray:
    return float(values[0]) if np.all(values == values[0]) else values


def open_prisma(path: Path, request: OpenRequest) -> PrismaScene:
    return PrismaScene(path, request)


FORMAT = SceneFormat("PRISMA L1/L2 HDF-EOS5", is_prisma, open_prisma,
                     files="PRISMA .he5 products")
