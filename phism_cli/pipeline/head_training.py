"""Training a head on labelled pixels or fields: matching label files to features,
splitting, fitting and scoring. Progress and messages go to a `Reporter` the caller gives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.errors import PhismError
from phism_cli.heads.classes import class_table
from phism_cli.heads.metrics import classification_metrics, regression_metrics
from phism_cli.heads.splits import Split, block_folds, random_split
from phism_cli.heads.xgb import ClassifierHead, RegressorHead
from phism_cli.io.features import FeatureSource, check_features_match
from phism_cli.io.labels import LabelRaster, check_aligned
from phism_cli.io.targets import TargetTable, normalise_id
from phism_cli.pipeline.labelled import (
    LabelledPixels,
    collect_labelled_pixels,
    field_means,
    source_mean,
)
from phism_cli.pipeline.reporter import Reporter
from phism_cli.text import plural

SplitCallback = Callable[[LabelledPixels, Split], None]


def match_files(given: list[Path], features: list[Path], flag: str) -> list[Path]:
    """One file per features path: listed in order, or found by name in one folder."""
    if len(given) == 1 and given[0].is_dir():
        return [_find_by_stem(given[0], f, flag) for f in features]
    if len(given) != len(features):
        raise PhismError(f"{len(features)} FEATURES but {len(given)} {flag}; give one per "
                         "FEATURES file, in order, or a folder of files with the same names")
    return given


def _stem(path: Path) -> str:
    return path.name.split(".")[0]


def _find_by_stem(folder: Path, features: Path, flag: str) -> Path:
    stem = _stem(features)
    found = [p for p in folder.iterdir() if _stem(p) == stem
             and not p.name.endswith((".aux.xml", ".ovr", ".json"))]
    headers = [p for p in found if p.suffix.lower() == ".hdr"]
    if headers:
        return headers[0]
    if len(found) != 1:
        raise PhismError(f"{flag} {folder}: {'no' if not found else 'several'} file(s) named "
                         f"{stem}.* for {features}")
    return found[0]


def check_same_features(sources: Sequence[FeatureSource]) -> None:
    first = sources[0]
    for other in sources[1:]:
        check_features_match(first.descriptor, other, first.path)


def make_split(pixels: LabelledPixels, split: str, train_fraction: float, folds: int,
               fold: int, block_size: int, buffer: int, seed: int) -> Split:
    try:
        if split == "random":
            return random_split(pixels.labels, train_fraction, seed)
        if split == "blocks":
            return block_folds(pixels.source, pixels.row, pixels.col, folds, fold, block_size,
                               buffer, seed)
    except ValueError as exc:
        raise PhismError(f"--split {split}: {exc}") from None
    everything = np.ones(len(pixels), dtype=bool)
    return Split(everything, ~everything, {"method": "none"})


def train_classifier(sources: Sequence[FeatureSource], rasters: Sequence[LabelRaster],
                      head: ClassifierHead, ignore_label: int, split_options: dict[str, Any],
                      tile_size: int, report: Reporter,
                      on_split: SplitCallback | None = None) -> dict[str, Any]:
    """Gather the labelled pixels, split them, fit `head`, score it on the held-out pixels;
    returns the summary (with the head file's `metadata`)."""
    for source, raster in zip(sources, rasters, strict=True):
        check_aligned(raster, source.path, source.height, source.width, source.crs,
                      source.transform)
    with report.progress("reading labelled pixels",
                         sum(s.height * s.width for s in sources)) as advance:
        pixels = collect_labelled_pixels(list(zip(sources, rasters, strict=True)),
                                         ignore_label, tile_size, on_tile=advance)
    if len(pixels) == 0:
        raise PhismError(f"no labelled pixels with valid features (labels other than "
                         f"--ignore-label {ignore_label}) in "
                         f"{', '.join(str(r.path) for r in rasters)}")
    split = make_split(pixels, **split_options)
    train, test = pixels.subset(split.train), pixels.subset(split.test)
    report.say(f"{len(train)} training and {len(test)} test pixels "
               f"({split.settings['method']} split){_dropped_note(pixels, split)}")
    fit_start = time.perf_counter()
    try:
        head.fit(train.features, train.labels)
    except ValueError as exc:
        raise PhismError(f"cannot train: {exc}") from None
    fit_seconds = time.perf_counter() - fit_start
    classes = class_table(np.unique(pixels.labels), rasters)
    n_train = dict(zip(*np.unique(train.labels, return_counts=True), strict=True))
    summary: dict[str, Any] = {
        "n_train": len(train), "n_test": len(test), "fit_seconds": fit_seconds,
        "class_names": {str(c["value"]): c["name"] for c in classes},
        "n_train_per_class": {str(k): int(v) for k, v in n_train.items()},
        "labelled_without_features": pixels.without_features,
        "dropped_by_buffer": split.dropped_by_buffer,
        "split": split.settings,
    }
    metrics: dict[str, Any] = {}
    if len(test):
        metrics = classification_metrics(test.labels, head.predict(test.features),
                                         [c["value"] for c in classes])
        summary |= metrics
        report.say(f"held out: OA {metrics['oa']:.3f}, AA {metrics['aa']:.3f}, kappa "
                   f"{metrics['kappa']:.3f} on {len(test)} pixels")
    if on_split is not None:
        on_split(pixels, split)
    summary["metadata"] = {
        "classes": classes, "ignore_label": ignore_label, "split": split.settings,
        "training": {"features": [str(s.path) for s in sources],
                     "labels": [str(r.path) for r in rasters], "n_train": len(train),
                     "n_train_per_class": summary["n_train_per_class"]},
        "metrics": {k: metrics.get(k) for k in ("oa", "aa", "kappa", "n_test")},
    }
    return summary


def _dropped_note(pixels: LabelledPixels, split: Split) -> str:
    notes = []
    if pixels.without_features:
        notes.append(f"{pixels.without_features} labelled pixels have nodata features")
    if split.dropped_by_buffer:
        notes.append(f"{split.dropped_by_buffer} dropped by the buffer")
    return f"; {', '.join(notes)}" if notes else ""


def train_regressor(sources: Sequence[FeatureSource], rasters: Sequence[LabelRaster],
                     table: TargetTable, head: RegressorHead, ignore_id: int,
                     split_options: dict[str, Any], baselines: dict[str, float],
                     tile_size: int, report: Reporter) -> dict[str, Any]:
    """Average the features of each field, fit `head` on the targets of a random share of
    the fields and score it on the rest; returns the summary (with `metadata`)."""
    with report.progress("averaging fields",
                         sum(s.height * s.width for s in sources)) as advance:
        if rasters:
            for source, raster in zip(sources, rasters, strict=True):
                check_aligned(raster, source.path, source.height, source.width, source.crs,
                              source.transform)
            ids, means, _ = field_means(list(zip(sources, rasters, strict=True)), ignore_id,
                                        tile_size, advance)
            field_ids = [str(int(i)) for i in ids]
        else:
            pairs = [(normalise_id(_stem(s.path)), *source_mean(s, tile_size, advance))
                     for s in sources]
            field_ids = [fid for fid, _, count in pairs if count]
            means = np.stack([mean for _, mean, count in pairs if count]) if field_ids \
                else np.empty((0, len(sources[0].names)), np.float32)
    found, values = table.lookup(field_ids)
    present = set(field_ids)
    missing = [table_id for table_id in table.ids if table_id not in present]
    if len(found) < 2:
        shown = ", ".join(field_ids[:5]) + (", ..." if len(field_ids) > 5 else "")
        verb = "has" if len(found) == 1 else "have"
        raise PhismError(f"only {plural(len(found), 'field')} {verb} both valid pixels and a "
                         "row in the targets table (fields found: "
                         f"{shown or 'none'}; table ids: {', '.join(table.ids[:5])}"
                         f"{', ...' if len(table.ids) > 5 else ''}); at least 2 are needed: "
                         "check --fields or the file names against the ids")
    features = means[found]
    unknown = [t for t in baselines if t not in table.names]
    if unknown:
        raise PhismError(f"--baseline-mse names {', '.join(unknown)}, not target columns "
                         f"({', '.join(table.names)})")
    order = np.random.default_rng(split_options["seed"]).permutation(len(found))
    if split_options["split"] == "none":
        train_idx, test_idx = order, order[:0]
    else:
        n_train = min(len(found) - 1, max(1, round(split_options["train_fraction"] * len(found))))
        train_idx, test_idx = np.sort(order[:n_train]), np.sort(order[n_train:])
    fit_start = time.perf_counter()
    head.fit(features[train_idx], values[train_idx])
    fit_seconds = time.perf_counter() - fit_start
    summary: dict[str, Any] = {"n_train": len(train_idx), "n_test": len(test_idx),
                               "fields": len(found), "fields_without_targets":
                               len(field_ids) - len(found),
                               "targets_without_fields": len(missing),
                               "targets": table.names, "fit_seconds": fit_seconds}
    metrics: dict[str, Any] = {}
    if len(test_idx):
        train_mean = values[train_idx].mean(axis=0)
        mean_mse = np.mean((values[test_idx] - train_mean) ** 2, axis=0)
        reference = {t: float(m) for t, m in zip(table.names, mean_mse, strict=True)} | baselines
        metrics = regression_metrics(values[test_idx], head.predict(features[test_idx]),
                                     table.names, reference)
        summary |= metrics
        report.say(f"held out: score {metrics['score']:.4f} (MSE / baseline MSE, mean over "
                   f"{len(table.names)} targets) on {len(test_idx)} fields")
    split = {"method": "random" if len(test_idx) else "none",
             "train_fraction": split_options["train_fraction"], "seed": split_options["seed"],
             "unit": "field"}
    summary["split"] = split
    summary["metadata"] = {
        "targets": table.names, "ignore_label": ignore_id, "split": split,
        "training": {"features": [str(s.path) for s in sources],
                     "fields": [str(r.path) for r in rasters], "n_train": len(train_idx)},
        "metrics": {k: metrics.get(k) for k in ("score", "mse", "r2", "n_test")},
    }
    return summary
