"""`phism endmembers` below the command line: the purest pixels of a scene, checked, sampled,
extracted and written as a spectral library (with an optional plot the caller draws)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.errors import PhismError, no_valid_pixels
from phism_cli.io.outputs import OutputSet
from phism_cli.io.png import is_phism_png
from phism_cli.io.scene import Scene
from phism_cli.io.scene_formats import open_scene
from phism_cli.io.spectral_tables import (
    SpectralTable,
    check_axis,
    is_spectral_library,
    is_spectral_table_csv,
    library_header_path,
    write_spectral_library,
    write_table_csv,
)
from phism_cli.pipeline.reporter import OpenOutputs, Reporter
from phism_cli.pipeline.sampling import sample_pixels

LIBRARY_SUFFIXES = (".csv", ".sli")
# (png path, spectra (K, C), wavelength_nm, names, scene, title) -> None
DrawPlot = Callable[[Path, np.ndarray, np.ndarray, list[str], Scene, str], None]


@dataclass
class EndmemberRequest:
    scene: Path
    output: Path  # .csv or .sli
    n_endmembers: int = 5
    method: str = "nfindr"
    max_pixels: int = 100_000
    seed: int = 0
    tile_size: int = 256
    plot: Path | None = None  # a PNG drawn by `run`'s draw_plot
    scene_options: dict[str, Any] = field(default_factory=dict)


def check_library_name(output: Path) -> None:
    if output.suffix.lower() not in LIBRARY_SUFFIXES:
        raise PhismError(f"{output}: an endmember library is written as .csv or .sli (ENVI "
                         "spectral library, with its .hdr beside it); give one of those "
                         "suffixes")


def run(request: EndmemberRequest, reporter: Reporter, open_outputs: OpenOutputs,
        draw_plot: DrawPlot | None = None) -> dict[str, Any]:
    """Find the endmembers and write the library (and plot) together; the --json summary."""
    start = time.perf_counter()
    check_library_name(request.output)
    with open_scene(request.scene, **request.scene_options) as src:
        wavelength_nm = check_scene_fits(src, request.n_endmembers)
        with open_outputs(src.source_files) as out:
            write_table = reserve_library(out, request.output)
            plot_out = None if request.plot is None else out.add(request.plot,
                                                                 recognise=is_phism_png)
            pixels = sample_scene(src, request, reporter)
            spectra = extract(src, pixels, request.method, request.n_endmembers, request.seed)
            names = [f"em{i + 1}" for i in range(request.n_endmembers)]
            write_table(SpectralTable(wavelength_nm, "wavelength_nm", names,
                                      spectra).in_axis_order())
            if plot_out is not None and draw_plot is not None:
                draw_plot(plot_out.tmp, spectra, wavelength_nm, names, src,
                          f"{request.n_endmembers} endmembers by {request.method} from "
                          f"{src.path.name}")
    return {"output": str(request.output), "method": request.method,
            "n_endmembers": request.n_endmembers, "names": names,
            "pixels_sampled": len(pixels),
            "plot": None if request.plot is None else str(request.plot),
            "seconds": time.perf_counter() - start}


def check_scene_fits(src: Scene, n_endmembers: int) -> np.ndarray:
    """The scene's wavelengths in nm, after refusing a scene that cannot give K endmembers."""
    wavelength_nm = src.wavelength_nm
    if wavelength_nm is None:
        raise PhismError(f"{src.path}: the scene has no wavelengths, and an endmember library "
                         "needs them; pass --wavelengths (START:STOP in nm, one value per "
                         "band, or a file of values)")
    if n_endmembers > src.count:
        raise PhismError(f"-k {n_endmembers}: {src.path} has only {src.count} bands, so at "
                         f"most {src.count} endmembers can be told apart; give a smaller -k")
    # the library is written in wavelength order, so overlapping detectors are no error
    order = np.argsort(wavelength_nm, kind="stable")
    check_axis(np.unique(wavelength_nm), f"{src.path}: the scene's wavelengths",
               lambda i: f"band {src.band_indices[order[i]] + 1}")
    return wavelength_nm


def sample_scene(src: Scene, request: EndmemberRequest, reporter: Reporter) -> np.ndarray:
    with reporter.progress("sampling pixels", src.height * src.width) as advance:
        pixels = sample_pixels([src], request.max_pixels, seed=request.seed,
                               tile_size=request.tile_size, on_tile=advance)
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
    if output.suffix.lower() == ".csv":
        table_out = out.add(output, recognise=is_spectral_table_csv)
        return lambda table: write_table_csv(table_out.tmp, table)
    data = out.add(output, recognise=is_spectral_library)
    header = out.add(library_header_path(output), recognise=is_spectral_library)
    return lambda table: write_spectral_library(data.tmp, header.tmp, table)
