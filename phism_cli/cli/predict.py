"""`phism predict`: apply a head to a latent map (or a scene) tile by tile."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from phism_cli.cli import batch_options as batch_opt
from phism_cli.cli import options as opt
from phism_cli.cli.common import outputs, progress_bar, require_plotting, say
from phism_cli.cli.scene_options import with_scene_options
from phism_cli.errors import PhismError, no_valid_pixels

if TYPE_CHECKING:
    from phism_cli.heads.xgb import Head
    from phism_cli.io.features import FeatureSource
    from phism_cli.io.rasters import RasterSpec

@with_scene_options
def predict(
    features: Annotated[list[Path], typer.Argument(
        help="Latent maps from encode, or scenes for a head trained "
        "on raw spectra: one or many.")],
    head_path: Annotated[Path, typer.Option("--head", "-H", help="Head from train-head.")],
    output: batch_opt.BatchOutput = ...,
    proba: Annotated[bool, typer.Option(
        "--proba", help="Add one probability band per class after the class band (the "
        "file is then float32 with NaN nodata).")] = False,
    labels: Annotated[Path | None, typer.Option(
        "--labels", "-l", help="Class raster on the same grid: report OA, AA and kappa of the "
        "class map against it (and draw the confusion matrix with --plot).")] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="PNG of the class map with its legend (or the regression maps).")]
    = None,
    tile_size: opt.TileSize = 256,
    device: opt.Device = "cpu",
    threads: opt.Threads = None,
    scene_options: dict | None = None,
    creation_options: opt.CreationOptions = None,
    cog: opt.Cog = False,
    skip_existing: batch_opt.SkipExisting = False,
    fail_fast: batch_opt.FailFast = False,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    json_lines: batch_opt.JsonLines = False,
    quiet: opt.Quiet = False,
) -> None:
    """Write a class map (or regression maps) for each of FEATURES (OUTPUT ending .tif or
    .zarr; a folder or a template for many)."""
    opt.apply_threads(threads)
    import numpy as np

    from phism_cli.heads.xgb import ClassifierHead, load_head
    from phism_cli.io.features import (
        check_features_match,
        open_features,
        trained_band_selection,
    )
    from phism_cli.io.labels import check_aligned
    from phism_cli.io.png import is_phism_png
    from phism_cli.io.rasters import RasterWriter, is_phism_raster, output_kind
    from phism_cli.pipeline.batch import is_batch_output, plan_outputs
    from phism_cli.pipeline.predict import TRAINING_NOTE, Agreement, predict_raster
    from phism_cli.plots.common import check_png_name
    from phism_cli.threads import configured_threads

    check_png_name(plot)
    if (labels or plot) and is_batch_output(output, len(features)):
        raise PhismError(f"{'--labels' if labels else '--plot'} names one file, for one class "
                         "map; predict the FEATURES one by one to use it")
    if plot is not None:
        require_plotting("--plot")

    geotiff = opt.geotiff_options(creation_options, cog,
                                  *(j.output for j in plan_outputs(features, output, ".tif")))
    head, meta = load_head(head_path)
    if labels is not None and not isinstance(head, ClassifierHead):
        raise PhismError(f"--labels {labels}: compares a class map with labels; {head_path} "
                         f"is a {meta['task']} head")
    head.to(device, n_jobs=configured_threads())
    trained_on = meta["features"]
    if proba and not isinstance(head, ClassifierHead):
        raise PhismError(f"--proba is for classification heads; {head_path} is a "
                         f"{meta['task']} head")

    def predict_one(source_path: Path, output: Path) -> dict[str, Any]:
        start = time.perf_counter()
        kind = output_kind(output)
        with open_features(source_path, **trained_band_selection(trained_on, scene_options)
                           ) as source, _labels(labels) as truth, \
                outputs(overwrite, [source_path, head_path, *source.files, *filter(None, [labels])],
                        quiet) as out:
            check_features_match(trained_on, source, head_path)
            agreement = None
            if truth is not None:
                check_aligned(truth, source.path, source.height, source.width, source.crs,
                              source.transform)
                agreement = Agreement(truth, int(meta.get("ignore_label", 0)),
                                      meta.get("training", {}).get("labels"))
            spec, nodata = _output_spec(source, head, meta, head_path, proba, tile_size)
            spec = spec.with_options(**geotiff)
            target = out.add(output, recognise=is_phism_raster)
            plot_out = None if plot is None else out.add(plot, recognise=is_phism_png)
            with RasterWriter(target.tmp, spec, kind, name=output) as writer, \
                    progress_bar(quiet) as progress:
                task = progress.add_task("predicting", total=source.height * source.width)
                counts = predict_raster(source, head, writer, len(spec.channel_names), nodata,
                                        proba=proba, tile_size=tile_size,
                                        on_tile=lambda n: progress.advance(task, n),
                                        agreement=agreement)
                if counts["valid_pixels"] == 0:
                    raise no_valid_pixels(source_path)
            scores = None if agreement is None else agreement.metrics(head.classes_.tolist())
            if plot_out is not None:
                from phism_cli.plots.classes import plot_predictions

                plot_predictions(plot_out.tmp, target.tmp, meta, nodata, scores,
                                 f"{head_path.name} on {source_path.name}")
        say(f"wrote {output}: {counts['valid_pixels']} of {counts['pixels']} pixels predicted",
            quiet)
        if scores is not None:
            say(f"against {labels}: OA {100 * scores['oa']:.1f} %, AA {100 * scores['aa']:.1f} %,"
                f" kappa {scores['kappa']:.3f} over {scores['n_test']} labelled pixels"
                f"{TRAINING_NOTE if scores['includes_training_labels'] else ''}", quiet)
        return {"output": str(output), "format": kind, "head": str(head_path),
                "task": meta["task"], "bands": spec.channel_names, "dtype": spec.dtype,
                "nodata": None if np.isnan(nodata) else int(nodata), **counts,
                "crs": None if source.crs is None else source.crs.to_string(),
                "agreement": scores, "plot": None if plot is None else str(plot),
                "seconds": time.perf_counter() - start}

    batch_opt.run_per_scene(features, output, ".tif", predict_one, overwrite=overwrite,
                            skip_existing=skip_existing, fail_fast=fail_fast,
                            json_out=json_out, json_lines=json_lines, quiet=quiet)


def _labels(path: Path | None) -> AbstractContextManager:
    from phism_cli.io.labels import LabelRaster

    return nullcontext() if path is None else LabelRaster(path)


def _output_spec(source: FeatureSource, head: Head, meta: dict[str, Any], head_path: Path,
                 proba: bool, tile_size: int) -> tuple[RasterSpec, float]:
    from phism_cli import __version__
    from phism_cli.heads.xgb import ClassifierHead
    from phism_cli.io.files import file_sha256
    from phism_cli.io.rasters import RasterSpec
    from phism_cli.pipeline import predict as predict_pipeline

    metadata = {"format": "phism-prediction", "format_version": 1, "phism_version": __version__,
                "task": meta["task"], "head": str(head_path),
                "head_sha256": file_sha256(head_path), "features": str(source.path),
                "model_sha256": source.descriptor.get("model_sha256")}
    common = {"height": source.height, "width": source.width, "crs": source.crs,
              "transform": source.transform, "tile_size": tile_size}
    if not isinstance(head, ClassifierHead):
        metadata["variable"] = "prediction"
        return RasterSpec(channel_names=list(meta["targets"]), variable="prediction",
                          metadata=metadata, **common), float("nan")
    classes = meta["classes"]
    metadata |= {"variable": "classes", "classes": classes}
    names = {str(c["value"]): c["name"] for c in classes}
    class_tags = {f"class_{c['value']}": c["name"] for c in classes}
    # GDAL's category names of band 1: a list indexed by value, so 0..65535 only
    categories = {int(c["value"]): str(c["name"]) for c in classes
                  if 0 <= int(c["value"]) <= 65535}
    common["category_names"] = categories or None
    if proba:
        channels = ["class"] + [f"p_{names.get(str(v), v)}" for v in head.classes_.tolist()]
        tags = [class_tags] + [{"class_value": str(v)} for v in head.classes_.tolist()]
        return RasterSpec(channel_names=channels, variable="classes", band_tags=tags,
                          channel_units=[""] + ["1"] * len(head.classes_),
                          metadata=metadata, **common), float("nan")
    try:
        dtype, nodata = predict_pipeline.class_map_encoding([c["value"] for c in classes],
                                           int(meta.get("ignore_label", 0)))
    except (ValueError, TypeError) as exc:
        raise PhismError(f"{head_path}: {exc}") from None
    colormap = {c["value"]: tuple(c["colour"]) for c in classes}
    return RasterSpec(channel_names=["class"], variable="classes", dtype=dtype,
                      nodata=nodata, band_tags=[class_tags], colormap=colormap,
                      metadata=metadata, **common), float(nodata)
