"""`phism unmix`: abundances of library endmembers in spectra tables or scenes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.common import emit_json, no_valid_pixels, outputs, progress_bar, say
from phism_cli.errors import PhismError

if TYPE_CHECKING:
    from phism_cli.io.scene import Scene
    from phism_cli.io.spectral_tables import SpectralTable
    from phism_cli.pipeline.unmix import MixingSetup

# phism_cli.inversion.unmixer.METHODS and forward.mixing.ENDMEMBER_FORMS; a test keeps them
# in step without importing torch here.
METHOD_NAMES = ("fcls", "abs", "net", "hybrid")
FORM_NAMES = ("anchored", "rendered")
TABLE_SUFFIXES = (".csv", ".txt", ".tab", ".asc", ".sli", ".esl")


def _choice(names: tuple[str, ...]):
    def check(value: str) -> str:
        if value not in names:
            raise typer.BadParameter(f"{value!r}: use one of {', '.join(names)}")
        return value
    return check


def _parse_range(value: str) -> str:
    parts = value.split(":")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise typer.BadParameter(f"{value!r}: give LOW:HIGH, two numbers") from None
    if not low < high:
        raise typer.BadParameter(f"{value!r}: LOW must be below HIGH")
    return value


def range_of(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    low, high = (float(p) for p in value.split(":"))
    return low, high


def is_table_input(path: Path) -> bool:
    from phism_cli.io.spectral_tables import is_spectral_library

    suffix = path.suffix.lower()
    return suffix in TABLE_SUFFIXES or (suffix == ".hdr" and is_spectral_library(path))


def unmix(
    source: Annotated[Path, typer.Argument(
        metavar="INPUT", help="A scene (anything encode reads) or a spectra table (.csv, ENVI "
        ".sli, or an ASU whitespace text table).")],
    library: Annotated[Path, typer.Option(
        "--library", "-l", help="Spectral library: .csv, ENVI .sli, or an ASU text table "
        "with --names.")],
    output: opt.OutputPath = ...,
    method: Annotated[str, typer.Option(
        "--method", callback=_choice(METHOD_NAMES),
        help="fcls: exact fully constrained least squares (default: most accurate in our "
        "benchmarks and fastest); abs: analysis-by-synthesis through --dispersion; net: "
        "an inverse-rendering network trained on rendered mixtures; hybrid: net, then abs.")]
    = "fcls",
    dispersion: Annotated[Path | None, typer.Option(
        "--dispersion", help="HDF5 dispersion parameters per endmember (InfraRender's "
        "format); matched to endmembers by name.")] = None,
    names: Annotated[Path | None, typer.Option(
        "--names", help="Endmember names for an ASU text library (a CSV with sample_name, "
        "or one name per line).")] = None,
    input_names: Annotated[Path | None, typer.Option(
        "--input-names", help="Spectrum names for an ASU text INPUT table.")] = None,
    axis_unit: Annotated[str | None, typer.Option(
        "--axis-unit", help="Axis unit of ASU text tables: wavelength_nm, wavelength_um or "
        "wavenumber_cm-1 (default wavenumber_cm-1).")] = None,
    form: Annotated[str, typer.Option(
        "--endmember-form", callback=_choice(FORM_NAMES),
        help="How a generated endmember relates to its library spectrum: anchored (library "
        "spectrum plus the model's change) or rendered (the model's spectrum alone).")]
    = "rendered",
    axis_range: Annotated[str | None, typer.Option(
        "--axis-range", metavar="LOW:HIGH", callback=lambda v: v and _parse_range(v),
        help="Use only bands with LOW <= position <= HIGH, in the input's axis unit (nm for "
        "scenes).")] = None,
    params_out: Annotated[Path | None, typer.Option(
        "--params-out", help="CSV of the fitted physical parameters of generated "
        "endmembers (per spectrum; for a scene, the abundance-weighted mean).")] = None,
    epochs: Annotated[int, typer.Option(
        "--epochs", min=1, help="abs/hybrid: rounds of FCLS + physics steps.")] = 3,
    steps: Annotated[int, typer.Option(
        "--steps", min=1, help="abs/hybrid: Adam steps on the physics per round.")] = 3,
    learning_rate: Annotated[float, typer.Option(
        "--learning-rate", min=1e-6, max=1.0,
        help="abs/hybrid: Adam step in units of each parameter's bound range.")] = 0.02,
    net_steps: Annotated[int, typer.Option(
        "--net-steps", min=1, help="net/hybrid: training batches of rendered mixtures.")]
    = 3000,
    seed: opt.Seed = 0,
    tile_size: opt.TileSize = 256,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    keep_bad_bands: opt.KeepBadBands = False,
    wavelengths: opt.Wavelengths = None,
    ignore_wavelengths: opt.IgnoreWavelengths = False,
    variable: opt.Variable = None,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Unmix INPUT into abundances of the endmembers of LIBRARY."""
    opt.apply_threads(threads)
    from phism_cli.inversion.unmixer import Unmixer
    from phism_cli.io.dispersion_file import read_dispersion_file
    from phism_cli.io.rasters import is_phism_raster, output_kind
    from phism_cli.io.spectral_tables import check_axis_unit, read_spectral_table
    from phism_cli.io.unmix_tables import is_unmix_csv
    from phism_cli.model.estimator import resolve_device
    from phism_cli.pipeline.unmix import build_mixing

    start = time.perf_counter()
    if axis_unit is not None:
        check_axis_unit(axis_unit, "--axis-unit")
    table_input = is_table_input(source)
    if table_input and output.suffix.lower() != ".csv":
        raise PhismError(f"{output}: abundances of a spectra table are written as CSV; name "
                         "the output *.csv")
    kind = None if table_input else output_kind(output)
    if method in ("abs", "hybrid") and dispersion is None:
        say(f"note: --method {method} without --dispersion has no physics to move; it "
            "equals fcls", quiet)
    try:
        torch_device = str(resolve_device(device))
    except ValueError as exc:
        raise PhismError(str(exc)) from None
    lib = read_spectral_table(library, names_path=names, axis_unit=axis_unit,
                              what="spectral library")
    _check_unique_names(lib, names)
    minerals = None if dispersion is None else read_dispersion_file(dispersion)
    inputs = [library, names, dispersion, input_names]
    if table_input:
        table = read_spectral_table(source, names_path=input_names, axis_unit=axis_unit,
                                    what="input spectra")
        _check_table_values(table)
        setup = build_mixing(lib, table.axis, table.axis_unit, str(source), minerals,
                             dispersion, form, range_of(axis_range))
        with outputs(overwrite, [*inputs, source], quiet) as out:
            abundances_out = out.add(output, recognise=is_unmix_csv)
            params_file = None if params_out is None else \
                out.add(params_out, recognise=is_unmix_csv)
            _report_setup(setup, quiet)
            unmixer = _fit_unmixer(Unmixer, method, epochs, steps, learning_rate, net_steps,
                                   seed, torch_device, setup, quiet)
            work_start = time.perf_counter()
            summary = _unmix_table(table, unmixer, setup, abundances_out.tmp,
                                   None if params_file is None else params_file.tmp)
    else:
        from phism_cli.io.scene import open_scene

        src = open_scene(source, **opt.scene_options(keep_bad_bands, wavelengths, variable,
                                                     ignore_wavelengths))
        with src, outputs(overwrite, [*inputs, *src.source_files], quiet) as out:
            abundances_out = out.add(output, recognise=is_phism_raster)
            params_file = None if params_out is None else \
                out.add(params_out, recognise=is_unmix_csv)
            setup = build_mixing(lib, _scene_wavelengths(src), "wavelength_nm",
                                 str(source), minerals, dispersion, form,
                                 range_of(axis_range))
            _report_setup(setup, quiet)
            unmixer = _fit_unmixer(Unmixer, method, epochs, steps, learning_rate, net_steps,
                                   seed, torch_device, setup, quiet)
            work_start = time.perf_counter()
            summary = _unmix_raster(src, unmixer, setup, abundances_out.tmp, output, kind,
                                    tile_size, quiet,
                                    None if params_file is None else params_file.tmp)
    seconds = time.perf_counter() - start
    work_seconds = time.perf_counter() - work_start
    say(f"wrote {output}: {summary['n_spectra']} spectra unmixed with {method}, mean rms "
        f"{summary['mean_rms']:.4g}", quiet)
    if json_out:
        emit_json({
            "output": str(output), "input": str(source), "library": str(library),
            "method": method, "endmember_form": form, **summary,
            "endmembers": lib.names, "matches": setup.matches,
            "bands_used": int(setup.bands.sum()), "notes": setup.notes,
            "seconds": seconds, "unmix_seconds": work_seconds,
            "seconds_per_spectrum": work_seconds / max(summary["n_spectra"], 1),
            "device": torch_device,
        })


def _check_unique_names(lib: SpectralTable, names: Path | None) -> None:
    from phism_cli.io.spectral_tables import read_names

    raw = lib.names if names is None else read_names(names, keep_repeats=True)
    seen = set()
    for name in raw:
        if name in seen:
            where = names if names is not None else lib.source
            raise PhismError(f"{where}: endmember name '{name}' appears more than once; "
                             "give every endmember its own name")
        seen.add(name)


def _check_table_values(table: SpectralTable) -> None:
    import numpy as np

    if table.path is not None and table.path.suffix.lower() == ".csv":
        return  # the CSV reader already refuses NaN
    all_missing = ~np.isfinite(table.spectra).any(axis=1)
    if all_missing.any():
        bad = table.names[int(np.argmax(all_missing))]
        raise PhismError(f"{table.source}: spectrum '{bad}' has no values (all missing); "
                         "remove it")


def _scene_wavelengths(src: Scene) -> Any:
    if src.wavelength_nm is None:
        raise PhismError(f"{src.path}: the scene has no wavelengths, so the library cannot be "
                         "put on its bands; pass --wavelengths (START:STOP in nm, one value "
                         "per band, or a file of values)")
    return src.wavelength_nm


def _report_setup(setup: MixingSetup, quiet: bool) -> None:
    for note in setup.notes:
        say(note, quiet)


def _fit_unmixer(cls: Any, method: str, epochs: int, steps: int, lr: float, net_steps: int,
                 seed: int, device: str, setup: MixingSetup, quiet: bool) -> Any:
    unmixer = cls(method, epochs=epochs, steps=steps, lr=lr, net_steps=net_steps, seed=seed,
                  device=device)
    if unmixer.uses_network:
        say(f"training the inverse-rendering network on {net_steps} batches of rendered "
            "mixtures", quiet)
    return unmixer.fit(setup.mixing)


def _unmix_table(table: SpectralTable, unmixer: Any, setup: MixingSetup, path: Path,
                 params_path: Path | None) -> dict[str, Any]:
    from phism_cli.io.unmix_tables import write_abundance_csv, write_params_csv
    from phism_cli.pipeline.unmix import parameter_rows, unmix_spectra

    fit = unmix_spectra(unmixer, setup, table)
    write_abundance_csv(path, table.names, setup.mixing.names, fit.abundances.numpy(),
                        fit.rms.numpy())
    if params_path is not None:
        write_params_csv(params_path, parameter_rows(setup, fit.generator_params,
                                                     fit.abundances, table.names))
    return {"n_spectra": len(table.names), "mean_rms": float(fit.rms.mean())}


def _unmix_raster(src: Scene, unmixer: Any, setup: MixingSetup, path: Path, name: Path,
                  kind: str | None, tile_size: int, quiet: bool,
                  params_path: Path | None) -> dict[str, Any]:
    from phism_cli.io.rasters import RasterWriter
    from phism_cli.io.unmix_tables import write_params_csv
    from phism_cli.pipeline.unmix import abundance_spec, parameter_rows, unmix_scene

    spec = abundance_spec(src, setup, unmixer.method, tile_size)
    with RasterWriter(path, spec, kind or "tif", name=name) as writer, \
            progress_bar(quiet) as progress:
        task = progress.add_task("unmixing", total=src.height * src.width)
        summary = unmix_scene(src, unmixer, setup, writer, tile_size=tile_size,
                              on_tile=lambda n: progress.advance(task, n))
        if summary.valid_pixels == 0:
            raise no_valid_pixels(src.path)
    if params_path is not None:
        mean = summary.mean_params()
        rows = [] if mean is None else parameter_rows(
            setup, mean[None], None, ["scene (abundance-weighted mean)"])
        write_params_csv(params_path, rows)
    return {"n_spectra": summary.valid_pixels, "pixels": summary.pixels,
            "mean_rms": summary.rms_sum / summary.valid_pixels}
