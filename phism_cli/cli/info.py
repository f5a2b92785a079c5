"""`phism info`: what phism sees in a scene, a summary of a latent map from encode, or what an
encoder (fit-encoder) or head (train-head) file is and how it was trained."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.common import emit_json, progress_bar
from phism_cli.cli.scene_options import with_scene_options


@with_scene_options
def info(
    scene: Annotated[Path, typer.Argument(
        metavar="SCENE|OUTPUT|MODEL|HEAD", help="ENVI (.hdr or binary), GeoTIFF, .mat or "
        ".npy; a phism output (.zarr or .tif): a latent map, rendering, class map, "
        "abundances, ...; or a MODEL from fit-encoder (.safetensors) or a HEAD from "
        "train-head (.ubj, .json).")],
    json_out: opt.JsonOut = False,
    scene_options: dict | None = None,
    bins: Annotated[int, typer.Option(
        "--bins", min=2, max=1000, help="Latent maps: bins of the histogram of component "
        "centres over the spectral axis.")] = 20,
    quiet: opt.Quiet = False,
) -> None:
    """Show a scene's shape, wavelengths, bad bands, nodata, scale and georeferencing; for a
    latent map from encode, per-component statistics and where the centres lie; for another
    phism output, its channels (units, wavelengths, source bands), classes and metadata; for a
    MODEL, its basis, components, bands and training; for a HEAD, its task, classes or
    targets, the features it expects and its held-out metrics."""
    from phism_cli.pipeline.model_summary import model_file_kind

    model_kind = model_file_kind(scene)
    if model_kind is not None:
        _model_info(scene, model_kind, json_out)
        return
    from phism_cli.io.scene_formats import open_scene
    from phism_cli.pipeline.latent_summary import is_latent_map
    from phism_cli.pipeline.output_summary import is_phism_output

    if is_latent_map(scene):
        _latent_info(scene, bins, json_out, quiet)
        return
    if is_phism_output(scene):
        from phism_cli.cli.output_info import output_summary_text
        from phism_cli.pipeline.output_summary import summarise_output

        summary = summarise_output(scene)
        if json_out:
            emit_json(summary)
        else:
            typer.echo(output_summary_text(summary))
        return
    with open_scene(scene, **scene_options) as s:
        summary = s.describe()
    if json_out:
        emit_json(summary)
        return
    from phism_cli.cli.scene_info import scene_summary_text

    typer.echo(scene_summary_text(summary))


def _model_info(path: Path, kind: str, json_out: bool) -> None:
    """Print the summary of an encoder or head file (its metadata only: no torch, no XGBoost)."""
    from phism_cli.cli import model_info
    from phism_cli.pipeline import model_summary

    if kind == "encoder":
        summary, text = model_summary.summarise_encoder(path), model_info.encoder_summary_text
    else:
        summary, text = model_summary.summarise_head(path), model_info.head_summary_text
    if json_out:
        emit_json(summary)
    else:
        typer.echo(text(summary))


def _latent_info(path: Path, bins: int, json_out: bool, quiet: bool) -> None:
    """Stream the latent map at `path` (two passes) and print its summary."""
    from phism_cli.cli.latent_info import latent_summary_text
    from phism_cli.io.rasters import RasterReader
    from phism_cli.pipeline.latent_summary import summarise_latents

    with RasterReader(path) as reader, progress_bar(quiet) as progress:
        task = progress.add_task("summarising", total=2 * reader.height * reader.width)
        summary = summarise_latents(reader, bins=bins,
                                    on_pixels=lambda n: progress.advance(task, n))
    if json_out:
        emit_json(summary)
    else:
        typer.echo(latent_summary_text(summary))

