"""Apply a head to a feature raster tile by tile: class maps, probabilities, regression maps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.heads.metrics import confusion_metrics
from phism_cli.heads.xgb import ClassifierHead, Head
from phism_cli.io.features import FeatureSource
from phism_cli.io.labels import MISSING, LabelRaster
from phism_cli.io.rasters import RasterWriter

_CLASS_DTYPES = ("uint8", "uint16", "int16", "int32")


def class_map_encoding(class_values: list[int], ignore_label: int) -> tuple[str, int]:
    """The smallest integer type holding every class and a nodata value: the ignore label
    when it is not a class, else the type's largest value."""
    for dtype in _CLASS_DTYPES:
        info = np.iinfo(dtype)
        if min(class_values) < info.min or max(class_values) > info.max:
            continue
        for nodata in (ignore_label, info.max):
            if info.min <= nodata <= info.max and nodata not in class_values:
                return dtype, int(nodata)
    raise ValueError(f"class values {min(class_values)}..{max(class_values)} leave no "
                     "room for a nodata value in int32")


TRAINING_NOTE = ("; these are the labels the head was trained on, so its training pixels "
                 "count: not a held-out score (phism info HEAD gives that)")


class Agreement:
    """A class map against a label raster on the same grid: counts of (label, predicted
    class) over the pixels that have both; `ignore_label` and missing labels are left out."""

    def __init__(self, labels: LabelRaster, ignore_label: int,
                 training_labels: list[str] | None = None) -> None:
        self.labels = labels
        self.ignore_label = ignore_label
        # the labels the head was trained on score its training pixels too: not a held-out score
        self.includes_training = any(_same_file(Path(p), labels.path)
                                     for p in training_labels or [])
        self.pairs: Counter[tuple[int, int]] = Counter()
        self.labelled_unpredicted = 0  # labelled pixels with no valid features

    def update(self, window: Any, predicted: np.ndarray, valid: np.ndarray) -> None:
        truth = self.labels.read(window)
        labelled = (truth != MISSING) & (truth != self.ignore_label)
        self.labelled_unpredicted += int((labelled & ~valid).sum())
        both = labelled & valid
        if both.any():
            pairs, counts = np.unique(np.stack([truth[both], predicted[both].astype(np.int64)]),
                                      axis=1, return_counts=True)
            self.pairs.update({(int(t), int(p)): int(n)
                               for (t, p), n in zip(pairs.T, counts, strict=True)})

    def metrics(self, head_classes: list[int]) -> dict[str, Any]:
        """OA, AA, kappa and the confusion matrix over the head's classes and every label
        value found (a label class the head does not know counts as wrong)."""
        classes = sorted(set(head_classes) | {t for t, _ in self.pairs})
        index = {c: i for i, c in enumerate(classes)}
        matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
        for (truth, predicted), n in self.pairs.items():
            matrix[index[truth], index[predicted]] += n
        return {**confusion_metrics(matrix, classes), "labels": str(self.labels.path),
                "labelled_without_prediction": self.labelled_unpredicted,
                "includes_training_labels": self.includes_training}


def _same_file(a: Path, b: Path) -> bool:
    """Same path, or (a head made elsewhere records other folders) the same file name."""
    try:
        if a.exists() and b.exists() and a.samefile(b):
            return True
    except OSError:
        pass
    return a.name == b.name


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
                   on_tile: Callable[[int], None] | None = None,
                   agreement: Agreement | None = None) -> dict[str, int]:
    """Write head predictions for every valid pixel of `source`; others get `nodata`. With
    `agreement`, the class band is compared with its labels tile by tile as it is written."""
    dtype = np.dtype(writer.spec.dtype)
    valid_total = 0
    for window in source.windows(tile_size):
        block, valid = source.read(window)
        out = np.full((*valid.shape, n_outputs), nodata, dtype=dtype)
        if valid.any():
            out[valid] = predict_pixels(head, block[valid], proba).astype(dtype, copy=False)
        writer.write(window, out)
        if agreement is not None:
            agreement.update(window, out[..., 0], valid)
        valid_total += int(valid.sum())
        if on_tile is not None:
            on_tile(window.height * window.width)
    return {"pixels": source.height * source.width, "valid_pixels": valid_total}
