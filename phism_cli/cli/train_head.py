"""`phism train-head`: an XGBoost classifier or random-forest regressor on per-pixel features,
with a held-out evaluation."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.common import CliReporter, emit_json, outputs, require_plotting
from phism_cli.cli.scene_options import with_scene_options
from phism_cli.errors import PhismError

TASKS = ("classification", "regression")
SPLITS = ("random", "blocks", "none")


@with_scene_options
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
    threads: opt.Threads = None,
    tile_size: opt.TileSize = 256,
    scene_options: dict | None = None,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Train a head on FEATURES and write it (XGBoost .ubj or .json with phism metadata)."""
    opt.apply_threads(threads)
    from phism_cli.cli import head_options as ho
    from phism_cli.heads.headfile import HEAD_SUFFIXES, is_phism_head
    from phism_cli.io.features import open_features
    from phism_cli.io.labels import LabelRaster
    from phism_cli.io.png import is_phism_png
    from phism_cli.io.targets import read_targets
    from phism_cli.pipeline import head_training as ht

    start = time.perf_counter()
    ho.check_choice("--task", task, TASKS)
    ho.check_choice("--split", split, SPLITS)
    if output.suffix.lower() not in HEAD_SUFFIXES:
        raise PhismError(f"{output}: name the head *.ubj (UBJSON) or *.json")
    if split_plot is not None:
        if split_plot.suffix.lower() != ".png":
            raise PhismError(f"--split-plot {split_plot}: name the picture *.png")
        require_plotting("--split-plot")
    if split == "blocks" and fold > folds:
        raise PhismError(f"--fold {fold} is not one of 1..{folds}")
    head_settings = {"n_estimators": n_estimators, "max_depth": max_depth, "subsample": subsample,
                     "colsample": colsample, "seed": seed, "device": device}
    split_options = {"split": split, "train_fraction": train_fraction, "folds": folds,
                     "fold": fold - 1, "block_size": block_size, "buffer": buffer, "seed": seed}
    with ExitStack() as stack:
        sources = [stack.enter_context(open_features(p, **scene_options)) for p in features]
        ht.check_same_features(sources)
        if task == "classification":
            if labels is None:
                raise PhismError("classification needs --labels (a class raster per FEATURES)")
            if targets is not None or fields is not None:
                raise PhismError("--targets and --fields are for --task regression")
            rasters = [stack.enter_context(LabelRaster(p))
                       for p in ht.match_files(labels, features, "--labels")]
            head = ho.classifier(learning_rate, class_weight, **head_settings)
        else:
            if targets is None:
                raise PhismError("regression needs --targets (a CSV of field id and targets)")
            if split == "blocks":
                raise PhismError("--split blocks is for classification; regression splits "
                                 "fields at random")
            if split_plot is not None:
                raise PhismError("--split-plot is for classification")
            rasters = ([] if fields is None else
                       [stack.enter_context(LabelRaster(p))
                        for p in ht.match_files(fields, features, "--fields")])
            columns = None if target_columns is None else \
                [c.strip() for c in target_columns.split(",") if c.strip()]
            table = read_targets(targets, id_column, columns)
            baselines = ho.parse_baselines(baseline_mse)
            head = ho.regressor(**head_settings)
        inputs = [*(f for s in sources for f in s.files), *(r.path for r in rasters), targets]
        out = stack.enter_context(outputs(overwrite, inputs, quiet))
        head_out = out.add(output, recognise=is_phism_head)
        plot_out = None if split_plot is None else out.add(split_plot, recognise=is_phism_png)
        report = CliReporter(quiet)
        if task == "classification":
            on_split = None if plot_out is None else _split_plotter(sources, plot_out.tmp)
            summary = ht.train_classifier(sources, rasters, head, ignore_label, split_options,
                                          tile_size, report, on_split)
        else:
            summary = ht.train_regressor(sources, rasters, table, head, ignore_label,
                                         split_options, baselines, tile_size, report)
        metadata = summary.pop("metadata") | {"features": sources[0].descriptor,
                                              "feature_names": sources[0].names}
        raw_format = "json" if output.suffix.lower() == ".json" else "ubj"
        head.save(head_out.tmp, metadata, raw_format=raw_format)
    summary |= {"head": str(output), "task": task, "seconds": time.perf_counter() - start}
    if json_out:
        emit_json(summary)


def _split_plotter(sources: list, path: Path) -> Callable:
    """Draws the split (`--split-plot`) once the pipeline has made it."""
    def plot(pixels: object, split: object) -> None:
        from phism_cli.plots.splits import plot_split

        plot_split(pixels, split, [(s.height, s.width) for s in sources],
                   [s.path.name for s in sources], path)
    return plot
