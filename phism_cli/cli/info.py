"""`phism info`: what phism sees in a scene, or a summary of a latent map from encode."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.common import emit_json, progress_bar


def info(
    scene: Annotated[Path, typer.Argument(
        metavar="SCENE|OUTPUT", help="ENVI (.hdr or binary), GeoTIFF, .mat or .npy; or a "
        "phism output (.zarr or .tif): a latent map, rendering, class map, abundances, ...")],
    json_out: opt.JsonOut = False,
    keep_bad_bands: opt.KeepBadBands = False,
    wavelengths: opt.Wavelengths = None,
    ignore_wavelengths: opt.IgnoreWavelengths = False,
    variable: opt.Variable = None,
    bins: Annotated[int, typer.Option(
        "--bins", min=2, max=1000, help="Latent maps: bins of the histogram of component "
        "centres over the spectral axis.")] = 20,
    quiet: opt.Quiet = False,
) -> None:
    """Show a scene's shape, wavelengths, bad bands, nodata, scale and georeferencing; for a
    latent map from encode, per-component statistics and where the centres lie; for another
    phism output, its channels (units, wavelengths, source bands), classes and metadata."""
    from phism_cli.io.scene import open_scene
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
    with open_scene(scene, **opt.scene_options(keep_bad_bands, wavelengths, variable,
                                               ignore_wavelengths)) as s:
        summary = s.describe()
    if json_out:
        emit_json(summary)
        return
    wl = summary["wavelength_nm"]
    lines = [
        f"path:        {summary['path']} ({summary['format']})",
        f"size:        {summary['height']} rows x {summary['width']} cols x "
        f"{summary['bands']} bands ({summary['source_bands']} in file), {summary['dtype']}",
        "wavelengths: " + ("none (band numbers are used)" if wl is None else
                           f"{min(wl):.2f}-{max(wl):.2f} nm"),
        f"bad bands:   {summary['bad_bands'] or 'none'}"
        + (" (dropped)" if summary["bad_bands_dropped"] else ""),
        f"nodata:      {_short(summary['nodata'])}",
        f"scale:       {_short(summary['scale'])} offset {_short(summary['offset'])}",
        f"crs:         {summary['crs']}",
        f"transform:   {summary['transform']}",
    ]
    typer.echo("\n".join(lines))


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


def _short(value: object) -> str:
    """A per-band list is summarised; a single value is shown as it is."""
    if isinstance(value, list):
        return f"per band ({min(value)}..{max(value)})"
    return str(value)
