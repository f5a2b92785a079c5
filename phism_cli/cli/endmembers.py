"""`phism endmembers`: the purest pixels of a scene, written as a spectral library."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.aliases import with_aliases
from phism_cli.cli.common import emit_json, outputs, progress_bar, require_plotting, say
from phism_cli.cli.scene_options import with_scene_options
from phism_cli.errors import PhismError, no_valid_pixels
from phism_cli.text import plural

if TYPE_CHECKING:
    import numpy as np

    from phism_cli.io.outputs import OutputSet
    from phism_cli.io.scene import Scene
    from phism_cli.io.spectral_tables import SpectralTable

# The methods of phism_cli.inversion.endmembers.ENDMEMBER_METHODS; a test keeps them in step.
METHOD_NAMES = ("vca", "nfindr")
LIBRARY_SUFFIXES = (".csv", ".sli")


def _check_method(value: str) -> str:
    if value not in METHOD_NAMES:
        raise typer.BadParameter(f"{value!r}: use {' or '.join(METHOD_NAMES)}")
    return value


def check_library_name(output: Path) -> None:
    if output.suffix.lower() not in LIBRARY_SUFFIXES:
        raise PhismError(f"{output}: an endmember library is written as .csv or .sli (ENVI "
                         "spectral library, with its .hdr beside it); give one of those "
                         "suffixes")


def check_scene_fits(src: Scene, n_endmembers: int) -> np.ndarray:
    """The scene's wavelengths in nm, after refusing a scene that cannot give K endmembers."""
    from phism_cli.io.spectral_tables import check_axis

    wavelength_nm = src.wavelength_nm
    if wavelength_nm is None:
        raise PhismError(f"{src.path}: the scene has no wavelengths, and an endmember library "
                         "needs them; pass --wavelengths (START:STOP in nm, one value per "
                         "band, or a file of values)")
    if n_endmembers > src.count:
        raise PhismError(f"-k {n_endmembers}: {src.path} has only {src.count} bands, so at "
                         f"most {src.count} endmembers can be told apart; give a smaller -k")
    import numpy as np

    # the library is written in wavelength order, so overlapping detectors are no error
    order = np.argsort(wavelength_nm, kind="stable")
    check_axis(np.unique(wavelength_nm), f"{src.path}: the scene's wavelengths",
               lambda i: f"band {src.band_indices[order[i]] + 1}")
    return wavelength_nm


def sample_scene(src: Scene, max_pixels: int, seed: int, tile_size: int,
                 quiet: bool) -> np.ndarray:
    from phism_cli.pipeline.sampling import sample_pixels

    with progress_bar(quiet) as progress:
        task = progress.add_task("sampling pixels", total=src.height * src.width)
        pixels = sample_pixels([src], max_pixels, seed=seed, tile_size=tile_size,
                               on_tile=lambda n: progress.advance(task, n))
    if len(pixels) == 0:
        raise no_valid_pixels(src.path)
    return pixels


def extract(src: Scene, pixels: np.ndarray, method: str, n_endmembers: int,
            seed: int) -> np.ndarray:
    """(K, C) endmember spectra; a refusal of the method names the scene."""
    from phism_cli.inversion.endmembers import ENDMEMBER_METHODS

    try:
        spectra, _ = ENDMEMBER_METHODS[method](pixels, n_endmembers, seed=seed)
    except PhismError as exc:
        raise PhismError(f"{src.path} (-k {n_endmembers}, {len(pixels)} valid pixels "
                         f"sampled): {exc}") from None
    return spectra


def reserve_library(out: OutputSet, output: Path) -> Callable[[SpectralTable], None]:
    """Reserve the library's file(s) in `out`; returns what writes a table to them."""
    from phism_cli.io.spectral_tables import (
        is_spectral_library,
        is_spectral_table_csv,
        library_header_path,
        write_spectral_library,
        write_table_csv,
    )

    if output.suffix.lower() == ".csv":
        table_out = out.add(output, recognise=is_spectral_table_csv)
        return lambda table: write_table_csv(table_out.tmp, table)
    data = out.add(output, recognise=is_spectral_library)
    header = out.add(library_header_path(output), recognise=is_spectral_library)
    return lambda table: write_spectral_library(data.tmp, header.tmp, table)


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
    from phism_cli.io.png import is_phism_png
    from phism_cli.io.scene_formats import open_scene
    from phism_cli.io.spectral_tables import SpectralTable
    from phism_cli.plots.common import check_png_name

    start = time.perf_counter()
    check_library_name(output)
    check_png_name(plot)
    if plot is not None:
        require_plotting("--plot")
    src = open_scene(scene, **scene_options)
    with src:
        wavelength_nm = check_scene_fits(src, n_endmembers)
        with outputs(overwrite, src.source_files, quiet) as out:
            write_table = reserve_library(out, output)
            plot_out = None if plot is None else out.add(plot, recognise=is_phism_png)
            pixels = sample_scene(src, max_pixels, seed, tile_size, quiet)
            spectra = extract(src, pixels, method, n_endmembers, seed)
            names = [f"em{i + 1}" for i in range(n_endmembers)]
            table = SpectralTable(wavelength_nm, "wavelength_nm", names, spectra).in_axis_order()
            write_table(table)
            if plot_out is not None:
                from phism_cli.plots.common import scene_unit
                from phism_cli.plots.library import plot_library

                plot_library(spectra, wavelength_nm, names, plot_out.tmp, scene_unit(src),
                             f"{n_endmembers} endmembers by {method} from {src.path.name}")
    say(f"wrote {output}: {n_endmembers} endmembers by {method} from "
        f"{plural(len(pixels), 'sampled pixel')}", quiet)
    if json_out:
        emit_json({"output": str(output), "method": method, "n_endmembers": n_endmembers,
                   "names": names, "pixels_sampled": len(pixels),
                   "plot": None if plot is None else str(plot),
                   "seconds": time.perf_counter() - start})
