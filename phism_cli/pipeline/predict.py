"""Apply a head to a feature raster tile by tile: class maps, probabilities, regression maps."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from phism_cli.heads.xgb import ClassifierHead, Head
from phism_cli.io.features import FeatureSource
from phism_cli.io.rasters import RasterWriter


def predict_pixels(head: Head, features: np.ndarray, proba: bool,
                   batch_size: int = 65536) -> np.ndarray:
    """(N, outputs): the class value (then class probabilities if `proba`), or the targets."""
    parts = []
    for start in range(0, len(features), batch_size):
        batch = features[start:start + batch_size]
        if isinstance(head, ClassifierHead):
            probabilities = head.predict_proba(batch)
            classes = head.classes_[np.argmax(probabilities, axis=1)][:, None]
            parts.append(np.hstack([classes, probabilities]) if proba else classes)
        else:
            parts.append(head.predict(batch))
    return np.concatenate(parts)


def predict_raster(source: FeatureSource, head: Head, writer: RasterWriter, n_outputs: int,
                   nodata: float, proba: bool = False, tile_size: int = 256,
                   on_tile: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write head predictions for every valid pixel of `source`; others get `nodata`."""
    dtype = np.dtype(writer.spec.dtype)
    valid_total = 0
    for window in source.windows(tile_size):
        block, valid = source.read(window)
        out = np.full((*valid.shape, n_outputs), nodata, dtype=dtype)
        if valid.any():
            out[valid] = predict_pixels(head, block[valid], proba).astype(dtype, copy=False)
        writer.write(window, out)
        valid_total += int(valid.sum())
        if on_tile is not None:
            on_tile(window.height * window.width)
    return {"pixels": source.height * source.width, "valid_pixels": valid_total}
