"""`phism info`: what phism sees in a scene."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.common import emit_json
from phism_cli.io.scene import open_scene


def info(
    scene: Annotated[Path, typer.Argument(help="ENVI (.hdr or binary), GeoTIFF, .mat or .npy.")],
    json_out: opt.JsonOut = False,
    keep_bad_bands: opt.KeepBadBands = False,
    wavelengths: opt.Wavelengths = None,
    variable: opt.Variable = None,
) -> None:
    """Show a scene's shape, wavelengths, bad bands, nodata, scale and georeferencing."""
    with open_scene(scene, keep_bad_bands=keep_bad_bands, wavelengths=wavelengths,
                    variable=variable) as s:
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
        f"nodata:      {summary['nodata']}",
        f"scale:       {summary['scale']} offset {summary['offset']}",
        f"crs:         {summary['crs']}",
        f"transform:   {summary['transform']}",
    ]
    typer.echo("\n".join(lines))
