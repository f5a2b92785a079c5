"""What GDAL itself reports of a raster, for tests of how phism's outputs read in GDAL and
QGIS: the `gdalinfo` program when it is on PATH, else the same report (GDALInfo) from the
GDAL library inside rasterio's wheel, and a band's category names (GDALGetRasterCategoryNames),
which rasterio does not expose."""

from __future__ import annotations

import ctypes
import functools
import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import rasterio


@functools.cache
def _library() -> ctypes.CDLL:
    """The libgdal rasterio is linked against (already loaded: the same GDAL instance)."""
    here = Path(rasterio.__file__).parent
    found = sorted(glob.glob(str(here.parent / "rasterio.libs" / "libgdal*.so*")))
    try:
        lib = ctypes.CDLL(found[0]) if found else ctypes.CDLL("libgdal.so")
    except OSError:
        pytest.skip("no GDAL library to ask: neither gdalinfo nor rasterio's libgdal found")
    lib.GDALAllRegister()
    lib.GDALOpen.restype = ctypes.c_void_p
    lib.GDALOpen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.GDALClose.argtypes = [ctypes.c_void_p]
    lib.GDALInfo.restype = ctypes.c_void_p
    lib.GDALInfo.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.VSIFree.argtypes = [ctypes.c_void_p]
    lib.GDALGetRasterBand.restype = ctypes.c_void_p
    lib.GDALGetRasterBand.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.GDALGetRasterCategoryNames.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.GDALGetRasterCategoryNames.argtypes = [ctypes.c_void_p]
    lib.GDALGetDescription.restype = ctypes.c_char_p
    lib.GDALGetDescription.argtypes = [ctypes.c_void_p]
    return lib


def _open(path: Path) -> int:
    handle = _library().GDALOpen(os.fsencode(path), 0)
    assert handle, f"GDAL cannot open {path}"
    return handle


def gdalinfo(path: Path) -> str:
    """gdalinfo's report of `path`."""
    program = shutil.which("gdalinfo")
    if program is not None:
        return subprocess.run([program, str(path)], capture_output=True, text=True,
                              check=True).stdout
    lib = _library()
    handle = _open(path)
    try:
        text = lib.GDALInfo(handle, None)
        try:
            return ctypes.string_at(text).decode()
        finally:
            lib.VSIFree(text)
    finally:
        lib.GDALClose(handle)


def category_names(path: Path, band: int = 1) -> list[str] | None:
    """GDAL's category names of `band` (index = pixel value), None without any."""
    lib = _library()
    handle = _open(path)
    try:
        band_handle = lib.GDALGetRasterBand(handle, band)
        # A GeoTIFF band loads its PAM sidecar on the first call that needs it, and
        # GDALGetRasterCategoryNames alone is not one (GDAL 3.10); what applications ask
        # first (the description, metadata, colours) is.
        lib.GDALGetDescription(band_handle)
        names = lib.GDALGetRasterCategoryNames(band_handle)
        if not names:
            return None
        out = []
        while names[len(out)] is not None:
            out.append(names[len(out)].decode())
        return out
    finally:
        lib.GDALClose(handle)
