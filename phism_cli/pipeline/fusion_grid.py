"""Whether a low-resolution hyperspectral scene and a high-resolution multispectral one can be
fused, and on which grid: same area, an integer resolution ratio, compatible bands."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from affine import Affine
from rasterio.crs import CRS

from phism_cli.errors import PhismError
from phism_cli.io.scene import Scene
from phism_cli.text import plural

__all__ = ["FusionGrid", "check_pair"]

RATIO_TOLERANCE = 1e-6


@dataclass
class FusionGrid:
    """The high-resolution grid the fused cube is written on."""

    ratio: int
    height: int
    width: int
    crs: CRS | None
    transform: Affine | None
    notes: list[str] = field(default_factory=list)


def check_pair(hsi: Scene, msi: Scene) -> FusionGrid:
    """Refuse pairs that cannot be fused; otherwise the output grid (the multispectral one)."""
    if hsi.wavelength_nm is None:
        raise PhismError(f"{hsi.path}: the hyperspectral scene has no band wavelengths, which "
                         "fusion needs to place the multispectral bands; give --wavelengths")
    if msi.count > hsi.count:
        raise PhismError(f"{msi.path}: the multispectral image has "
                         f"{plural(msi.count, 'band')}, more than "
                         f"the {hsi.count} of the hyperspectral {hsi.path}; swap the two inputs "
                         "(LOWRES_HSI first)")
    notes: list[str] = []
    georeferenced = [s.transform is not None for s in (hsi, msi)]
    if all(georeferenced):
        ratio = _georeferenced_ratio(hsi, msi)
    else:
        if any(georeferenced):
            which = hsi if georeferenced[0] else msi
            notes.append(f"only {which.path} is georeferenced; the resolution ratio comes from "
                         "the image sizes")
        ratio = _shape_ratio(hsi, msi)
    if ratio < 2:
        raise PhismError(f"{msi.path} has the resolution of {hsi.path} (ratio {ratio}); fusion "
                         "needs a multispectral image finer by an integer factor of 2 or more")
    if (msi.height, msi.width) != (hsi.height * ratio, hsi.width * ratio):
        raise PhismError(f"{msi.path} is {msi.height} x {msi.width} pixels but {ratio} times "
                         f"{hsi.path} ({hsi.height} x {hsi.width}) is {hsi.height * ratio} x "
                         f"{hsi.width * ratio}; crop them to the same area")
    crs, transform = msi.crs, msi.transform
    if transform is None and hsi.transform is not None:
        crs, transform = hsi.crs, hsi.transform * Affine.scale(1 / ratio)
        notes.append(f"the output takes its georeferencing from {hsi.path}")
    elif crs is None and hsi.crs is not None:
        crs = hsi.crs
        notes.append(f"the output takes its CRS from {hsi.path}")
    return FusionGrid(ratio, msi.height, msi.width, crs, transform, notes)


def _shape_ratio(hsi: Scene, msi: Scene) -> int:
    ratios = (msi.height / hsi.height, msi.width / hsi.width)
    if ratios[0] != ratios[1] or ratios[0] != int(ratios[0]):
        raise PhismError(
            f"{hsi.path} is {hsi.height} x {hsi.width} pixels and {msi.path} is {msi.height} x "
            f"{msi.width} (ratios {ratios[0]:g} and {ratios[1]:g}); without georeferencing on "
            "both, the multispectral image must be the same integer multiple of the "
            "hyperspectral one in both directions (crop them to match)")
    return int(ratios[0])


def _georeferenced_ratio(hsi: Scene, msi: Scene) -> int:
    a, b = hsi.transform, msi.transform
    if hsi.crs is not None and msi.crs is not None and hsi.crs != msi.crs:
        raise PhismError(f"{hsi.path} and {msi.path} are in different coordinate reference "
                         f"systems ({hsi.crs.to_string()} and {msi.crs.to_string()}); "
                         "reproject one onto the other's CRS first (gdalwarp -t_srs)")
    if a.b or a.d or b.b or b.d:
        raise PhismError(f"{hsi.path} or {msi.path} has a rotated geotransform; fusion needs "
                         "north-up rasters (gdalwarp without -tr first)")
    ratios = (a.a / b.a, a.e / b.e)
    ratio = round(ratios[0])
    if ratio < 1 or any(abs(r - ratio) > RATIO_TOLERANCE * ratio for r in ratios):
        raise PhismError(
            f"{hsi.path} has {abs(a.a):g} x {abs(a.e):g} pixels and {msi.path} {abs(b.a):g} x "
            f"{abs(b.e):g} (ratios {ratios[0]:g} and {ratios[1]:g}); fusion needs one "
            "integer ratio in both directions (resample with gdalwarp -tr)")
    hsi_bounds = _bounds(a, hsi.height, hsi.width)
    msi_bounds = _bounds(b, msi.height, msi.width)
    tolerance = 0.5 * np.array([abs(b.a), abs(b.e), abs(b.a), abs(b.e)])
    if (np.abs(hsi_bounds - msi_bounds) >= tolerance).any():
        raise PhismError(
            f"{hsi.path} covers {_show(hsi_bounds)} but {msi.path} covers {_show(msi_bounds)} "
            "(left, bottom, right, top); fusion needs both over the same area (crop them "
            "with gdal_translate -projwin)")
    return ratio


def _bounds(transform: Affine, height: int, width: int) -> np.ndarray:
    x0, y0 = transform * (0, 0)
    x1, y1 = transform * (width, height)
    return np.array([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)])


def _show(bounds: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in bounds) + ")"
