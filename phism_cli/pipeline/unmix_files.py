"""`phism unmix` from files to files: inputs read and checked, results written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from phism_cli.errors import PhismError, no_valid_pixels
from phism_cli.inversion.unmixer import ADAPT_PIXELS, Unmixer
from phism_cli.io.rasters import RasterWriter
from phism_cli.io.scene import Scene
from phism_cli.io.spectral_tables import SpectralTable, read_names, read_spectral_table
from phism_cli.io.unmix_tables import write_abundance_csv, write_params_csv
from phism_cli.pipeline.sampling import sample_pixels
from phism_cli.pipeline.unmix import (
    MixingSetup,
    abundance_spec,
    build_mixing,
    parameter_rows,
    spectra_weights,
    unmix_scene,
    unmix_spectra,
)

__all__ = ["TABLE_SUFFIXES", "fit_mixing", "is_table_input", "output_kind_for",
           "read_input_table", "read_library",
           "scene_sampler", "scene_wavelengths", "unmix_scene_to_raster", "unmix_table_to_csv"]

TABLE_SUFFIXES = (".csv", ".txt", ".tab", ".asc", ".sli", ".esl")


def is_table_input(path: Path) -> bool:
    """A spectra table (CSV out) rather than a scene (raster out)."""
    from phism_cli.io.spectral_tables import is_spectral_library

    suffix = path.suffix.lower()
    return suffix in TABLE_SUFFIXES or (suffix == ".hdr" and is_spectral_library(path))


def output_kind_for(output: Path, table_input: bool) -> str:
    """"csv" for a spectra table's abundances, else the raster kind `output` names."""
    from phism_cli.io.rasters import output_kind

    if not table_input:
        return output_kind(output)
    if output.suffix.lower() != ".csv":
        raise PhismError(f"{output}: abundances of a spectra table are written as CSV; name "
                         "the output *.csv")
    return "csv"


def read_library(path: Path, names: Path | None, axis_unit: str | None,
                 shade: str | None = None) -> SpectralTable:
    """The library, refusing repeated endmember names (also in a --names file) and a
    `shade` endmember it does not have."""
    library = read_spectral_table(path, names_path=names, axis_unit=axis_unit,
                                  what="spectral library")
    raw = library.names if names is None else read_names(names, keep_repeats=True)
    seen: set[str] = set()
    for name in raw:
        if name in seen:
            where = names if names is not None else library.source
            raise PhismError(f"{where}: endmember name '{name}' appears more than once; "
                             "give every endmember its own name")
        seen.add(name)
    if shade is not None and shade not in library.names:
        raise PhismError(f"{path}: --shade {shade!r} is not one of the library's endmembers "
                         f"({', '.join(library.names)}); give one of them")
    return library


def fit_mixing(unmixer: Unmixer, library: SpectralTable, axis: np.ndarray, axis_unit: str,
               input_name: str, minerals: Any, dispersion: Path | None, form: str,
               axis_range: tuple[float, float] | None, note: Callable[[str], None],
               sample: Callable[[], np.ndarray] | None = None) -> MixingSetup:
    """The library on the input's axis as a mixing model, and `unmixer` fitted to it
    (`note` hears what was resampled or left out, and of the network's training).
    `sample` draws input spectra (N, C on the input's axis) for a network to adapt to; it is
    called only when a network is trained and adapted."""
    setup = build_mixing(library, axis, axis_unit, input_name, minerals, dispersion, form,
                         axis_range)
    for text in setup.notes:
        note(text)
    values = weights = None
    if unmixer.uses_network(setup.mixing):
        drawn = None if sample is None or unmixer.adapt_steps == 0 else np.asarray(sample())
        if drawn is not None and not len(drawn):  # refused before the network trains
            raise no_valid_pixels(input_name)
        note(f"training the inverse-rendering network on {unmixer.net_steps} batches of "
             "rendered mixtures")
        if drawn is not None:
            values, weights = spectra_weights(drawn[:, setup.bands])
            note(f"then adapting it to {len(values)} of the input's spectra "
                 f"({unmixer.adapt_steps} steps)")
    unmixer.fit(setup.mixing, values, weights)
    return setup


def scene_sampler(src: Scene, seed: int, tile_size: int) -> Callable[[], np.ndarray]:
    """Draws up to ADAPT_PIXELS of `src`'s valid pixels, uniformly, in one pass."""
    return lambda: sample_pixels([src], ADAPT_PIXELS, seed, tile_size)


def read_input_table(path: Path, names: Path | None, axis_unit: str | None) -> SpectralTable:
    """The input spectra, refusing a spectrum with no value at all (a text table's zeros)."""
    table = read_spectral_table(path, names_path=names, axis_unit=axis_unit,
                                what="input spectra")
    all_missing = ~np.isfinite(table.spectra).any(axis=1)
    if all_missing.any():
        bad = table.names[int(np.argmax(all_missing))]
        raise PhismError(f"{table.source}: spectrum '{bad}' has no values (all missing); "
                         "remove it")
    return table


def scene_wavelengths(src: Scene) -> np.ndarray:
    if src.wavelength_nm is None:
        raise PhismError(f"{src.path}: the scene has no wavelengths, so the library cannot be "
                         "put on its bands; pass --wavelengths (START:STOP in nm, one value "
                         "per band, or a file of values)")
    return src.wavelength_nm


def unmix_table_to_csv(table: SpectralTable, unmixer: Unmixer, setup: MixingSetup,
                       path: Path, params_path: Path | None) -> dict[str, Any]:
    fit = unmix_spectra(unmixer, setup, table)
    write_abundance_csv(path, table.names, setup.mixing.names, fit.abundances.numpy(),
                        fit.rms.numpy())
    if params_path is not None:
        write_params_csv(params_path, parameter_rows(setup, fit.generator_params,
                                                     fit.abundances, table.names))
    return {"n_spectra": len(table.names), "mean_rms": float(fit.rms.mean())}


def unmix_scene_to_raster(src: Scene, unmixer: Unmixer, setup: MixingSetup, path: Path,
                          name: Path, kind: str, tile_size: int,
                          params_path: Path | None, geotiff: dict[str, Any] | None = None,
                          on_tile: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Abundances of every pixel of `src` into a raster at `path` (reported as `name`);
    `geotiff` holds --co and --cog (`RasterSpec.with_options`)."""
    spec = abundance_spec(src, setup, unmixer, tile_size).with_options(**(geotiff or {}))
    with RasterWriter(path, spec, kind, name=name) as writer:
        summary = unmix_scene(src, unmixer, setup, writer, tile_size=tile_size,
                              on_tile=on_tile)
        if summary.valid_pixels == 0:
            raise no_valid_pixels(src.path)
    if params_path is not None:
        mean = summary.mean_params()
        rows = [] if mean is None else parameter_rows(
            setup, mean[None], None, ["scene (abundance-weighted mean)"])
        write_params_csv(params_path, rows)
    return {"n_spectra": summary.valid_pixels, "pixels": summary.pixels,
            "mean_rms": summary.rms_sum / summary.valid_pixels}
