"""`phism endmembers`: the purest pixels of a scene, written as a spectral library."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.aliases import with_aliases
from phism_cli.cli.common import CliReporter, emit_json, outputs, require_plotting, say
from phism_cli.cli.scene_options import with_scene_options
from phism_cli.text import plural

if TYPE_CHECKING:
    import numpy as np

    from phism_cli.io.scene import Scene

# The methods of phism_cli.inversion.endmembers.ENDMEMBER_METHODS; a test keeps them in step.
METHOD_NAMES = ("vca", "nfindr")


def _check_method(value: str) -> str:
    if value not in METHOD_NAMES:
        raise typer.BadParameter(f"{value!r}: use {' or '.join(METHOD_NAMES)}")
    return value


@with_scene_options
@with_aliases(n_endmembers="--n-endmembers")
def endmembers(
    scene: Annotated[Path, typer.Argument(help="Scene to find endmembers in.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Endmember library: .csv (wavelength_nm, em1, ...) or .sli "
        "(ENVI spectral library, NAME.hdr written beside it).")] = ...,
    n_endmembers: Annotated[int, typer.Option(
        "--endmembers", "-k", min=2, help="Number of endmembers K; choose it from the "
        "materials the scene holds.")] = 5,
    method: Annotated[str, typer.Option(
        "--method", callback=_check_method, help="nfindr (Winter 1999; the default, from "
        "benchmarks/endmember_defaults.py) or vca (Nascimento & Bioucas-Dias 2005).")] = "nfindr",
    max_pixels: Annotated[int, typer.Option(
        "--max-pixels", min=2, help="Most valid pixels sampled (uniformly) from SCENE to "
        "search.")] = 100_000,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="PNG of the endmember spectra.")] = None,
    seed: opt.Seed = 0,
    tile_size: opt.TileSize = 256,
    threads: opt.Threads = None,
    scene_options: dict | None = None,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Find K endmembers (the purest pixels) in SCENE and write them as a spectral library."""
    opt.apply_threads(threads)
    from phism_cli.pipeline import endmembers as pipeline
    from phism_cli.plots.common import check_png_name

    pipeline.check_library_name(output)
    check_png_name(plot)
    if plot is not None:
        require_plotting("--plot")
    request = pipeline.EndmemberRequest(scene, output, n_endmembers, method, max_pixels,
                                        seed, tile_size, plot, scene_options or {})
    summary = pipeline.run(request, CliReporter(quiet),
                           lambda inputs: outputs(overwrite, inputs, quiet), _draw_library)
    say(f"wrote {output}: {n_endmembers} endmembers by {method} from "
        f"{plural(summary['pixels_sampled'], 'sampled pixel')}", quiet)
    if json_out:
        emit_json(summary)


def _draw_library(png: Path, spectra: np.ndarray, wavelength_nm: np.ndarray,
                  names: list[str], scene: Scene, title: str) -> None:
    from phism_cli.plots.common import scene_unit
    from phism_cli.plots.library import plot_library

    plot_library(spectra, wavelength_nm, names, png, scene_unit(scene), title)
