"""Label rasters: class maps or field ids aligned with a scene or a latent map.

GeoTIFF and anything else GDAL reads (class names from `class_<value>` band tags, colours from
the colour table), ENVI classification files (`class names`, `class lookup`), and 2-D
`.mat`/`.npy` arrays. Values are read window by window as int64; nodata and NaN come back as
`MISSING`, and a non-integral label is an error rather than silently truncated.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.windows import Window

from phism_cli.errors import ModelMismatchError, SceneError

MISSING = np.iinfo(np.int64).min  # a pixel without a label value (nodata, NaN)

Colour = tuple[int, int, int, int]
_CLASS_TAG = re.compile(r"^class_(-?\d+)$", re.IGNORECASE)


class LabelRaster:
    """One band of integer labels, read by window."""

    def __init__(self, path: str | Path, variable: str | None = None) -> None:
        from phism_cli.io.arrays import is_array_path, load_array
        from phism_cli.io.envi import find_envi_pair

        self.path = Path(path)
        if not self.path.exists():
            raise SceneError(f"{self.path}: no such label file")
        self.class_names: dict[int, str] = {}
        self.colours: dict[int, Colour] = {}
        self.crs: CRS | None = None
        self.transform: Affine | None = None
        self.nodata: float | None = None
        self._array: np.ndarray | None = None
        self._dataset: rasterio.io.DatasetReader | None = None
        if is_array_path(self.path):
            self._array = load_array(self.path, variable, ndim=2)
            self.height, self.width = self._array.shape
            return
        pair = find_envi_pair(self.path)
        self._open_gdal(pair[1] if pair else self.path)
        if pair is not None:
            self._read_envi_classes(pair[0])

    def _open_gdal(self, path: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            try:
                ds = rasterio.open(path)
            except RasterioIOError as exc:
                raise SceneError(f"{self.path}: not a readable label raster ({exc})") from None
        if ds.count != 1:
            ds.close()
            raise SceneError(f"{self.path}: a label raster has one band, this one has "
                             f"{ds.count}")
        self._dataset = ds
        self.height, self.width = ds.height, ds.width
        self.nodata = ds.nodata
        if ds.crs is not None or not ds.transform.is_identity:
            self.crs, self.transform = ds.crs, ds.transform
        for key, value in {**ds.tags(), **ds.tags(1)}.items():
            if (match := _CLASS_TAG.match(key)) is not None:
                self.class_names[int(match.group(1))] = value
        with contextlib.suppress(ValueError):  # ValueError: no colour table
            self.colours = {int(k): tuple(v) for k, v in ds.colormap(1).items()}

    def _read_envi_classes(self, header_path: Path) -> None:
        from phism_cli.io.envi_header import parse_number, read_envi_header

        header = read_envi_header(header_path)
        for value, name in enumerate(header.strings("class names")):
            self.class_names[value] = name
        lookup = [parse_number(v) for v in header.strings("class lookup")]
        if len(lookup) % 3 or any(v is None or v != int(v) or not 0 <= v <= 255
                                  for v in lookup):
            raise SceneError(f"{header_path}: ENVI header field 'class lookup' must hold three "
                             "whole numbers 0-255 (red, green, blue) per class; fix the header")
        for value in range(len(lookup) // 3):
            r, g, b = (int(v) for v in lookup[3 * value:3 * value + 3])
            self.colours[value] = (r, g, b, 255)

    def read(self, window: Window | None = None) -> np.ndarray:
        """(rows, cols) int64 labels; nodata and non-finite values are `MISSING`."""
        window = window or Window(0, 0, self.width, self.height)
        if self._array is not None:
            rows, cols = window.toslices()
            raw = np.asarray(self._array[rows, cols])
        else:
            raw = self._dataset.read(1, window=window)
        missing = np.zeros(raw.shape, dtype=bool)
        if raw.dtype.kind == "f":
            missing |= ~np.isfinite(raw)
        if self.nodata is not None and not np.isnan(self.nodata):
            missing |= raw == self.nodata
        values = np.where(missing, 0, raw)
        if raw.dtype.kind == "f" and np.any(values != np.round(values)):
            raise SceneError(f"{self.path}: labels must be whole numbers; found "
                             f"{values[values != np.round(values)][0]!r}")
        labels = values.astype(np.int64)
        labels[missing] = MISSING
        return labels

    def close(self) -> None:
        if self._dataset is not None:
            self._dataset.close()

    def __enter__(self) -> LabelRaster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_aligned(labels: LabelRaster, path: Path, height: int, width: int,
                  crs: CRS | None, transform: Affine | None) -> None:
    """Labels must cover the features' grid pixel for pixel (georeferencing compared when both
    have it; a plain array is taken as aligned)."""
    if (labels.height, labels.width) != (height, width):
        raise ModelMismatchError(
            f"{labels.path} is {labels.height}x{labels.width} pixels but {path} is "
            f"{height}x{width}; labels must be on the same grid")
    if labels.crs is not None and crs is not None and labels.crs != crs:
        raise ModelMismatchError(f"{labels.path} and {path} have different CRS "
                                 f"({labels.crs} vs {crs}); reproject the labels first")
    if labels.transform is not None and transform is not None and \
            not labels.transform.almost_equals(transform, precision=1e-6):
        raise ModelMismatchError(f"{labels.path} and {path} have different transforms "
                                 f"(origin or pixel size differ); labels must be on the "
                                 "same grid")
