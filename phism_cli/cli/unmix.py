"""`phism unmix`: abundances of library endmembers in spectra tables or scenes."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.aliases import with_aliases
from phism_cli.cli.common import emit_json, outputs, progress_bar, require_plotting, say
from phism_cli.cli.scene_options import with_scene_options
from phism_cli.errors import PhismError

if TYPE_CHECKING:
    from phism_cli.pipeline.unmix import MixingSetup

# phism_cli.inversion.unmixer.METHODS and forward.mixing.ENDMEMBER_FORMS; a test keeps them
# in step without importing torch here.
METHOD_NAMES = ("fcls", "abs", "net", "hybrid")
FORM_NAMES = ("anchored", "rendered")
SUM_TO_ONE_NAMES = ("scaled", "strict")


@with_scene_options
@with_aliases(library="-l")
def unmix(
    source: Annotated[Path, typer.Argument(
        metavar="INPUT", help="A scene (anything encode reads) or a spectra table (.csv, ENVI "
        ".sli, or an ASU whitespace text table).")],
    library: Annotated[Path | None, typer.Option(
        "--library", help="Spectral library: .csv, ENVI .sli, or an ASU text table "
        "with --names.  [required]")] = None,
    output: opt.OutputPath = ...,
    method: Annotated[str, typer.Option(
        "--method", callback=opt.choice(METHOD_NAMES),
        help="fcls: exact least squares with non-negative abundances (see --sum-to-one; the "
        "default and fastest); abs: analysis-by-synthesis through --dispersion; net: "
        "an inverse-rendering network trained on rendered mixtures; hybrid: net, then abs.")]
    = "fcls",
    sum_to_one: Annotated[str, typer.Option(
        "--sum-to-one", callback=opt.choice(SUM_TO_ONE_NAMES),
        help="scaled: non-negative least squares, then divided by the sum (brightness and "
        "contrast do not force the abundances onto the simplex; the default); strict: the "
        "sum is 1 in every solve (classic FCLS).")] = "scaled",
    shade: Annotated[str | None, typer.Option(
        "--shade", metavar="NAME", help="A library endmember that models contrast, not "
        "material (a blackbody, a shade spectrum): its band holds its share of the fit and "
        "the other abundances sum to 1 among themselves.")] = None,
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
        "--endmember-form", callback=opt.choice(FORM_NAMES),
        help="How a generated endmember relates to its library spectrum: anchored (library "
        "spectrum plus the model's change) or rendered (the model's spectrum alone).")]
    = "rendered",
    axis_range: Annotated[str | None, typer.Option(
        "--axis-range", metavar="LOW:HIGH", callback=opt.low_high,
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
    adapt_steps: Annotated[int, typer.Option(
        "--adapt-steps", min=0, help="net/hybrid: then steps of self-supervised adaptation "
        "to the input's spectra (up to 20,000 of a scene's pixels); 0: none.")] = 1000,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="PNG of the library and the abundance maps (scenes).")] = None,
    seed: opt.Seed = 0,
    tile_size: opt.TileSize = 256,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    scene_options: dict | None = None,
    creation_options: opt.CreationOptions = None,
    cog: opt.Cog = False,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Unmix INPUT into abundances of the endmembers of LIBRARY."""
    opt.apply_threads(threads)
    from phism_cli.inversion.unmixer import Unmixer
    from phism_cli.io.dispersion_file import read_dispersion_file
    from phism_cli.io.rasters import is_phism_raster
    from phism_cli.io.spectral_tables import check_axis_unit
    from phism_cli.io.unmix_tables import is_unmix_csv
    from phism_cli.model.estimator import resolve_device
    from phism_cli.pipeline import unmix_files as files
    from phism_cli.plots.library import check_unmix_plot, plot_unmix, reserve_plot

    start = time.perf_counter()
    if library is None:  # required, but its old spelling -l may give it (see with_aliases)
        raise typer.BadParameter("missing: give the spectral library to unmix with",
                                 param_hint="'--library'")
    if axis_unit is not None:
        check_axis_unit(axis_unit, "--axis-unit")
    table_input = files.is_table_input(source)
    kind = files.output_kind_for(output, table_input)
    if plot is not None:
        check_unmix_plot(plot, table_input)
        require_plotting("--plot")
    geotiff = opt.geotiff_options(creation_options, cog, output)
    if method in ("abs", "hybrid") and dispersion is None:
        say(f"note: --method {method} without --dispersion has no physics to move; it "
            "equals fcls", quiet)
    try:
        torch_device = str(resolve_device(device))
    except ValueError as exc:
        raise PhismError(str(exc)) from None
    lib = files.read_library(library, names, axis_unit, shade)
    minerals = None if dispersion is None else read_dispersion_file(dispersion)
    unmixer = Unmixer(method, epochs=epochs, steps=steps, lr=learning_rate,
                      net_steps=net_steps, seed=seed, device=torch_device,
                      sum_to_one=sum_to_one, shade=shade, adapt_steps=adapt_steps)
    inputs = [library, names, dispersion, input_names]

    def prepare(axis: Any, unit: str, sample: Callable[[], Any]) -> MixingSetup:
        return files.fit_mixing(unmixer, lib, axis, unit, str(source), minerals, dispersion,
                                form, opt.range_of(axis_range), lambda text: say(text, quiet),
                                sample)

    if table_input:
        table = files.read_input_table(source, input_names, axis_unit)
        with outputs(overwrite, [*inputs, source], quiet) as out:
            abundances_out = out.add(output, recognise=is_unmix_csv)
            params_file = None if params_out is None else \
                out.add(params_out, recognise=is_unmix_csv)
            setup = prepare(table.axis, table.axis_unit, lambda: table.spectra)
            work_start = time.perf_counter()
            summary = files.unmix_table_to_csv(table, unmixer, setup, abundances_out.tmp,
                                               params_file and params_file.tmp)
    else:
        from phism_cli.io.scene_formats import open_scene

        src = open_scene(source, **scene_options)
        with src, outputs(overwrite, [*inputs, *src.source_files], quiet) as out:
            abundances_out = out.add(output, recognise=is_phism_raster)
            plot_out = None if plot is None else reserve_plot(out, plot)
            params_file = None if params_out is None else \
                out.add(params_out, recognise=is_unmix_csv)
            setup = prepare(files.scene_wavelengths(src), "wavelength_nm",
                            files.scene_sampler(src, seed, tile_size))
            work_start = time.perf_counter()
            with progress_bar(quiet) as progress:
                task = progress.add_task("unmixing", total=src.height * src.width)
                summary = files.unmix_scene_to_raster(
                    src, unmixer, setup, abundances_out.tmp, output, kind, tile_size,
                    params_file and params_file.tmp, geotiff=geotiff,
                    on_tile=lambda n: progress.advance(task, n))
            if plot_out is not None:
                plot_unmix(lib, abundances_out.tmp, plot_out.tmp, src, method)
    seconds = time.perf_counter() - start
    work_seconds = time.perf_counter() - work_start
    say(f"wrote {output}: {summary['n_spectra']} spectra unmixed with {method}, mean rms "
        f"{summary['mean_rms']:.4g}", quiet)
    if json_out:
        emit_json({
            "output": str(output), "input": str(source), "library": str(library),
            "method": method, "sum_to_one": sum_to_one, "shade": shade,
            "adapt_steps": adapt_steps if unmixer.network_ is not None else 0,
            "endmember_form": form, **summary,
            "endmembers": lib.names, "matches": setup.matches,
            "bands_used": int(setup.bands.sum()), "notes": setup.notes,
            "seconds": seconds, "unmix_seconds": work_seconds,
            "seconds_per_spectrum": work_seconds / max(summary["n_spectra"], 1),
            "device": torch_device,
        })
