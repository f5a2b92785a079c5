"""`phism predict`: apply a head to a latent map (or a scene) tile by tile."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from phism_cli.cli import batch_options as batch_opt
from phism_cli.cli import options as opt
from phism_cli.cli.common import outputs, progress_bar, say
from phism_cli.cli.scene_options import with_scene_options
from phism_cli.errors import PhismError, no_valid_pixels

if TYPE_CHECKING:
    from phism_cli.heads.xgb import Head
    from phism_cli.io.features import FeatureSource
    from phism_cli.io.rasters import RasterSpec

_CLASS_DTYPES = ("uint8", "uint16", "int16", "int32")


def class_map_encoding(class_values: list[int], ignore_label: int) -> tuple[str, int]:
    """The smallest integer type holding every class and a nodata value: the ignore label
    when it is not a class, else the type's largest value."""
    import numpy as np

    for dtype in _CLASS_DTYPES:
        info = np.iinfo(dtype)
        if min(class_values) < info.min or max(class_values) > info.max:
            continue
        for nodata in (ignore_label, info.max):
            if info.min <= nodata <= info.max and nodata not in class_values:
                return dtype, int(nodata)
    raise ValueError(f"class values {min(class_values)}..{max(class_values)} leave no "
                     "room for a nodata value in int32")


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
    from phism_cli.io.rasters import RasterWriter, is_phism_raster, output_kind
    from phism_cli.pipeline.batch import plan_outputs
    from phism_cli.pipeline.predict import predict_raster
    from phism_cli.threads import configured_threads

    geotiff = opt.geotiff_options(creation_options, cog,
                                  *(j.output for j in plan_outputs(features, output, ".tif")))
    head, meta = load_head(head_path)
    head.to(device, n_jobs=configured_threads())
    trained_on = meta["features"]
    if proba and not isinstance(head, ClassifierHead):
        raise PhismError(f"--proba is for classification heads; {head_path} is a "
                         f"{meta['task']} head")

    def predict_one(source_path: Path, output: Path) -> dict[str, Any]:
        start = time.perf_counter()
        kind = output_kind(output)
        with open_features(source_path, **trained_band_selection(trained_on, scene_options)
                           ) as source, \
                outputs(overwrite, [source_path, head_path, *source.files], quiet) as out:
            check_features_match(trained_on, source, head_path)
            spec, nodata = _output_spec(source, head, meta, head_path, proba, tile_size)
            spec = spec.with_options(**geotiff)
            target = out.add(output, recognise=is_phism_raster)
            with RasterWriter(target.tmp, spec, kind, name=output) as writer, \
                    progress_bar(quiet) as progress:
                task = progress.add_task("predicting", total=source.height * source.width)
                counts = predict_raster(source, head, writer, len(spec.channel_names), nodata,
                                        proba=proba, tile_size=tile_size,
                                        on_tile=lambda n: progress.advance(task, n))
                if counts["valid_pixels"] == 0:
                    raise no_valid_pixels(source_path)
        say(f"wrote {output}: {counts['valid_pixels']} of {counts['pixels']} pixels predicted",
            quiet)
        return {"output": str(output), "format": kind, "head": str(head_path),
                "task": meta["task"], "bands": spec.channel_names, "dtype": spec.dtype,
                "nodata": None if np.isnan(nodata) else int(nodata), **counts,
                "crs": None if source.crs is None else source.crs.to_string(),
                "seconds": time.perf_counter() - start}

    batch_opt.run_per_scene(features, output, ".tif", predict_one, overwrite=overwrite,
                            skip_existing=skip_existing, fail_fast=fail_fast,
                            json_out=json_out, json_lines=json_lines, quiet=quiet)


def _output_spec(source: FeatureSource, head: Head, meta: dict[str, Any], head_path: Path,
                 proba: bool, tile_size: int) -> tuple[RasterSpec, float]:
    from phism_cli import __version__
    from phism_cli.heads.xgb import ClassifierHead
    from phism_cli.io.files import file_sha256
    from phism_cli.io.rasters import RasterSpec

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
        dtype, nodata = class_map_encoding([c["value"] for c in classes],
                                           int(meta.get("ignore_label", 0)))
    except (ValueError, TypeError) as exc:
        raise PhismError(f"{head_path}: {exc}") from None
    colormap = {c["value"]: tuple(c["colour"]) for c in classes}
    return RasterSpec(channel_names=["class"], variable="classes", dtype=dtype,
                      nodata=nodata, band_tags=[class_tags], colormap=colormap,
                      metadata=metadata, **common), float(nodata)
