"""`phism info`: what phism sees in a scene."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.common import emit_json


def info(
    scene: Annotated[Path, typer.Argument(help="ENVI (.hdr or binary), GeoTIFF, .mat or .npy.")],
    json_out: opt.JsonOut = False,
    keep_bad_bands: opt.KeepBadBands = False,
    wavelengths: opt.Wavelengths = None,
    ignore_wavelengths: opt.IgnoreWavelengths = False,
    variable: opt.Variable = None,
) -> None:
    """Show a scene's shape, wavelengths, bad bands, nodata, scale and georeferencing."""
    from phism_cli.io.scene import open_scene

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


def _short(value: object) -> str:
    """A per-band list is summarised; a single value is shown as it is."""
    if isinstance(value, list):
        return f"per band ({min(value)}..{max(value)})"
    return str(value)
