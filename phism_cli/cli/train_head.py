"""`phism train-head`: an XGBoost classifier or random-forest regressor on per-pixel features,
with a held-out evaluation."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from phism_cli.cli import options as opt
from phism_cli.cli.common import emit_json, progress_bar, say
from phism_cli.errors import PhismError
from phism_cli.heads.classes import class_table
from phism_cli.heads.metrics import classification_metrics, regression_metrics
from phism_cli.heads.splits import Split, block_folds, random_split
from phism_cli.heads.xgb import HEAD_SUFFIXES, ClassifierHead, RegressorHead
from phism_cli.io.atomic import atomic_output, check_output
from phism_cli.io.features import FeatureSource, check_features_match, open_features
from phism_cli.io.labels import LabelRaster, check_aligned
from phism_cli.io.targets import TargetTable, normalise_id, read_targets
from phism_cli.pipeline.labelled import (
    LabelledPixels,
    collect_labelled_pixels,
    field_means,
    source_mean,
)

TASKS = ("classification", "regression")
SPLITS = ("random", "blocks", "none")


def train_head(
    features: Annotated[list[Path], typer.Argument(
        help="Latent maps from encode (.zarr/.tif), or scenes (their spectra are the "
        "features). Several train one head.")],
    output: opt.OutputPath = ...,
    labels: Annotated[list[Path] | None, typer.Option(
        "--labels", "-l", help="Class raster aligned with each FEATURES file, in order "
        "(repeat the option), or one folder holding a file of the same name for each.")] = None,
    task: Annotated[str, typer.Option("--task", help="classification or regression.")] =
    "classification",
    ignore_label: Annotated[int, typer.Option(
        "--ignore-label", help="Label (or field id) value meaning 'no label'.")] = 0,
    split: Annotated[str, typer.Option(
        "--split", help="random (stratified by class), blocks (spatially disjoint folds) or "
        "none (train on every label, no evaluation).")] = "random",
    train_fraction: Annotated[float, typer.Option(
        "--train-fraction", min=0.0, max=1.0, help="Share of each class's pixels (or of the "
        "fields) used for training with --split random.")] = 0.8,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Block folds.")] = 4,
    fold: Annotated[int, typer.Option(
        "--fold", min=1, help="Which fold (1..--folds) is the test set.")] = 1,
    block_size: Annotated[int, typer.Option(
        "--block-size", min=1, help="Block edge in pixels for --split blocks.")] = 32,
    buffer: Annotated[int, typer.Option(
        "--buffer", min=0, help="Drop training pixels this close (pixels) to a test block.")]
    = 0,
    seed: opt.Seed = 0,
    n_estimators: Annotated[int, typer.Option(
        "--n-estimators", min=1, help="Boosting rounds (classification) or forest trees "
        "(regression).")] = 200,
    learning_rate: Annotated[float, typer.Option(
        "--learning-rate", min=0.0, help="XGBoost learning rate (classification).")] = 0.1,
    max_depth: Annotated[int | None, typer.Option(
        "--max-depth", min=1, help="Tree depth (default 6 for classification, 8 for "
        "regression).")] = None,
    subsample: Annotated[float | None, typer.Option(
        "--subsample", min=0.0, max=1.0, help="Row subsample per tree (default 1.0 for "
        "classification, 0.8 for regression).")] = None,
    colsample: Annotated[float | None, typer.Option(
        "--colsample", min=0.0, max=1.0, help="Feature subsample per tree (classification, "
        "default 1.0) or per split (regression, default 0.8).")] = None,
    class_weight: Annotated[str | None, typer.Option(
        "--class-weight", help="balanced: weigh classes by inverse frequency.")] = None,
    targets: Annotated[Path | None, typer.Option(
        "--targets", help="Regression: CSV with a field-id column and target columns.")] = None,
    fields: Annotated[list[Path] | None, typer.Option(
        "--fields", help="Regression: field-id raster aligned with each FEATURES file "
        "(repeat, or one folder); without it each FEATURES file is one field, its id the "
        "file name without suffix.")] = None,
    id_column: Annotated[str | None, typer.Option(
        "--id-column", help="Regression: the CSV's field-id column (default: the first).")]
    = None,
    target_columns: Annotated[str | None, typer.Option(
        "--target-columns", help="Regression: comma-separated target columns (default: all "
        "but the id).")] = None,
    baseline_mse: Annotated[list[str] | None, typer.Option(
        "--baseline-mse", help="Regression: TARGET=MSE of the reference baseline for the "
        "score (repeat); default: the MSE of predicting the training mean.")] = None,
    split_plot: Annotated[Path | None, typer.Option(
        "--split-plot", help="PNG picture of the train/test split.")] = None,
    device: opt.Device = "cpu",
    tile_size: opt.TileSize = 256,
    keep_bad_bands: opt.KeepBadBands = False,
    wavelengths: opt.Wavelengths = None,
    variable: opt.Variable = None,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Train a head on FEATURES and write it (XGBoost .ubj or .json with phism metadata)."""
    start = time.perf_counter()
    _check_choice("--task", task, TASKS)
    _check_choice("--split", split, SPLITS)
    if output.suffix.lower() not in HEAD_SUFFIXES:
        raise PhismError(f"{output}: name the head *.ubj (UBJSON) or *.json")
    check_output(output, overwrite)
    if split_plot is not None:
        check_output(split_plot, overwrite)
    if split == "blocks" and fold > folds:
        raise PhismError(f"--fold {fold} is not one of 1..{folds}")
    head_settings = {"n_estimators": n_estimators, "max_depth": max_depth, "subsample": subsample,
                     "colsample": colsample, "seed": seed, "device": device}
    scene_options = {"keep_bad_bands": keep_bad_bands, "wavelengths": wavelengths,
                     "variable": variable}
    split_options = {"split": split, "train_fraction": train_fraction, "folds": folds,
                     "fold": fold - 1, "block_size": block_size, "buffer": buffer, "seed": seed}
    with ExitStack() as stack:
        sources = [stack.enter_context(open_features(p, **scene_options)) for p in features]
        _check_same_features(sources)
        if task == "classification":
            if labels is None:
                raise PhismError("classification needs --labels (a class raster per FEATURES)")
            if targets is not None or fields is not None:
                raise PhismError("--targets and --fields are for --task regression")
            rasters = [stack.enter_context(LabelRaster(p))
                       for p in match_files(labels, features, "--labels")]
            head = _classifier(learning_rate, class_weight, **head_settings)
            summary = _train_classifier(sources, rasters, head, ignore_label, split_options,
                                        tile_size, quiet, split_plot)
        else:
            if targets is None:
                raise PhismError("regression needs --targets (a CSV of field id and targets)")
            if split == "blocks":
                raise PhismError("--split blocks is for classification; regression splits "
                                 "fields at random")
            rasters = ([] if fields is None else
                       [stack.enter_context(LabelRaster(p))
                        for p in match_files(fields, features, "--fields")])
            columns = None if target_columns is None else \
                [c.strip() for c in target_columns.split(",") if c.strip()]
            table = read_targets(targets, id_column, columns)
            head = _regressor(**head_settings)
            summary = _train_regressor(sources, rasters, table, head, ignore_label,
                                       split_options, _parse_baselines(baseline_mse),
                                       tile_size, quiet)
        metadata = summary.pop("metadata") | {"features": sources[0].descriptor,
                                              "feature_names": sources[0].names}
        raw_format = "json" if output.suffix.lower() == ".json" else "ubj"
        with atomic_output(output, overwrite) as tmp:
            head.save(tmp, metadata, raw_format=raw_format)
    summary |= {"head": str(output), "task": task, "seconds": time.perf_counter() - start}
    if json_out:
        emit_json(summary)


def _check_choice(flag: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise PhismError(f"{flag} {value!r}: choose one of {', '.join(choices)}")


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


def _check_same_features(sources: Sequence[FeatureSource]) -> None:
    first = sources[0]
    for other in sources[1:]:
        check_features_match(first.descriptor, other, first.path)


def _classifier(learning_rate: float, class_weight: str | None, n_estimators: int,
                max_depth: int | None, subsample: float | None, colsample: float | None,
                seed: int, device: str) -> ClassifierHead:
    try:
        return ClassifierHead(n_estimators=n_estimators, learning_rate=learning_rate,
                              max_depth=max_depth or 6, subsample=subsample or 1.0,
                              colsample_bytree=colsample or 1.0, class_weight=class_weight,
                              seed=seed, device=device)
    except ValueError as exc:
        raise PhismError(f"--class-weight: {exc}") from None


def _regressor(n_estimators: int, max_depth: int | None, subsample: float | None,
               colsample: float | None, seed: int, device: str) -> RegressorHead:
    return RegressorHead(n_estimators=n_estimators, max_depth=max_depth or 8,
                         subsample=subsample or 0.8, colsample_bynode=colsample or 0.8,
                         seed=seed, device=device)


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


def _train_classifier(sources: Sequence[FeatureSource], rasters: Sequence[LabelRaster],
                      head: ClassifierHead, ignore_label: int, split_options: dict[str, Any],
                      tile_size: int, quiet: bool, split_plot: Path | None) -> dict[str, Any]:
    for source, raster in zip(sources, rasters, strict=True):
        check_aligned(raster, source.path, source.height, source.width, source.crs,
                      source.transform)
    with progress_bar(quiet) as progress:
        task = progress.add_task("reading labelled pixels",
                                 total=sum(s.height * s.width for s in sources))
        pixels = collect_labelled_pixels(list(zip(sources, rasters, strict=True)),
                                         ignore_label, tile_size,
                                         on_tile=lambda n: progress.advance(task, n))
    if len(pixels) == 0:
        raise PhismError(f"no labelled pixels with valid features (labels other than "
                         f"--ignore-label {ignore_label}) in "
                         f"{', '.join(str(r.path) for r in rasters)}")
    split = make_split(pixels, **split_options)
    train, test = pixels.subset(split.train), pixels.subset(split.test)
    say(f"{len(train)} training and {len(test)} test pixels ({split.settings['method']} "
        f"split){_dropped_note(pixels, split)}", quiet)
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
        say(f"held out: OA {metrics['oa']:.3f}, AA {metrics['aa']:.3f}, kappa "
            f"{metrics['kappa']:.3f} on {len(test)} pixels", quiet)
    if split_plot is not None:
        from phism_cli.cli.plotting import plot_split

        with atomic_output(split_plot, overwrite=True) as tmp:
            plot_split(pixels, split, [(s.height, s.width) for s in sources],
                       [s.path.name for s in sources], tmp)
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


def _parse_baselines(values: list[str] | None) -> dict[str, float]:
    baselines = {}
    for item in values or []:
        name, _, number = item.partition("=")
        try:
            mse = float(number)
        except ValueError:
            mse = float("nan")
        if not name.strip() or not mse > 0:
            raise PhismError(f"--baseline-mse {item!r}: write TARGET=MSE with a positive MSE, "
                             "e.g. P=1100.5")
        baselines[name.strip()] = mse
    return baselines


def _train_regressor(sources: Sequence[FeatureSource], rasters: Sequence[LabelRaster],
                     table: TargetTable, head: RegressorHead, ignore_id: int,
                     split_options: dict[str, Any], baselines: dict[str, float],
                     tile_size: int, quiet: bool) -> dict[str, Any]:
    with progress_bar(quiet) as progress:
        task = progress.add_task("averaging fields",
                                 total=sum(s.height * s.width for s in sources))

        def advance(n: int) -> None:
            progress.advance(task, n)

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
        raise PhismError(f"only {len(found)} field(s) have both valid pixels and a row in the "
                         "targets table; check --fields or the file names against the ids")
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
        say(f"held out: score {metrics['score']:.4f} (MSE / baseline MSE, mean over "
            f"{len(table.names)} targets) on {len(test_idx)} fields", quiet)
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

