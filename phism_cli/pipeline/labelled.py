"""Gathering the features of labelled pixels (and of fields) tile by tile.

Only labelled pixels are kept, so memory grows with the number of labels, never with the
size of the scenes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from phism_cli.io.features import FeatureSource
from phism_cli.io.labels import MISSING, LabelRaster

TileCallback = Callable[[int], None]
Pair = tuple[FeatureSource, LabelRaster]


@dataclass
class LabelledPixels:
    """Features and labels of labelled pixels, and where each pixel is."""

    features: np.ndarray  # (N, F) float32
    labels: np.ndarray  # (N,) int64
    source: np.ndarray  # (N,) index of the feature/label pair
    row: np.ndarray
    col: np.ndarray
    without_features: int = 0  # labelled pixels skipped because their features are nodata

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, mask: np.ndarray) -> LabelledPixels:
        return LabelledPixels(self.features[mask], self.labels[mask], self.source[mask],
                              self.row[mask], self.col[mask])


def collect_labelled_pixels(pairs: Sequence[Pair], ignore_label: int, tile_size: int = 256,
                            on_tile: TileCallback | None = None) -> LabelledPixels:
    """Features of every pixel whose label is set, not `ignore_label`, and whose features
    are valid, in row-major order of each pair in turn."""
    parts: list[tuple[np.ndarray, ...]] = []
    without_features = 0
    for index, (features, labels) in enumerate(pairs):
        for window in features.windows(tile_size):
            block, valid = features.read(window)
            label = labels.read(window)
            labelled = (label != MISSING) & (label != ignore_label)
            without_features += int(np.sum(labelled & ~valid))
            rows, cols = np.nonzero(labelled & valid)
            parts.append((block[rows, cols], label[rows, cols],
                          np.full(len(rows), index, dtype=np.int32),
                          (rows + window.row_off).astype(np.int32),
                          (cols + window.col_off).astype(np.int32)))
            if on_tile is not None:
                on_tile(window.height * window.width)
    n_features = len(pairs[0][0].names)
    if not parts:
        parts.append((np.empty((0, n_features), np.float32), np.empty(0, np.int64),
                      *(np.empty(0, np.int32) for _ in range(3))))
    columns = [np.concatenate(column) for column in zip(*parts, strict=True)]
    return LabelledPixels(*columns, without_features=without_features)


def field_means(pairs: Sequence[Pair], ignore_id: int, tile_size: int = 256,
                on_tile: TileCallback | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(field ids, mean features (M, F), valid pixel counts) of every field in the id
    rasters; a field's pixels may span several pairs."""
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    for features, fields in pairs:
        for window in features.windows(tile_size):
            block, valid = features.read(window)
            ids = fields.read(window)
            use = valid & (ids != MISSING) & (ids != ignore_id)
            for field_id in np.unique(ids[use]):
                members = use & (ids == field_id)
                key = int(field_id)
                sums[key] = sums.get(key, 0.0) + block[members].astype(np.float64).sum(axis=0)
                counts[key] = counts.get(key, 0) + int(members.sum())
            if on_tile is not None:
                on_tile(window.height * window.width)
    keys = sorted(sums)
    n_features = len(pairs[0][0].names)
    means = (np.stack([sums[k] / counts[k] for k in keys]).astype(np.float32) if keys
             else np.empty((0, n_features), np.float32))
    return np.asarray(keys, dtype=np.int64), means, np.asarray([counts[k] for k in keys])


def source_mean(features: FeatureSource, tile_size: int = 256,
                on_tile: TileCallback | None = None) -> tuple[np.ndarray, int]:
    """Mean features over the valid pixels of one source (one field per file)."""
    total = np.zeros(len(features.names), dtype=np.float64)
    count = 0
    for window in features.windows(tile_size):
        block, valid = features.read(window)
        total += block[valid].astype(np.float64).sum(axis=0)
        count += int(valid.sum())
        if on_tile is not None:
            on_tile(window.height * window.width)
    mean = total / count if count else np.full_like(total, np.nan)
    return mean.astype(np.float32), count
