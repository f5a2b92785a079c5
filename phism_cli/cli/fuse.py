"""`phism fuse`: a low-res hyperspectral cube and a high-res multispectral image -> a high-res
hyperspectral cube (SpectraMorph)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.common import emit_json, outputs, progress_bar, require_plotting, say
from phism_cli.cli.scene_options import with_scene_options
from phism_cli.errors import PhismError

# phism_cli.inversion.fusion.FUSION_METHODS; a test keeps them in step without torch here.
METHOD_NAMES = ("map", "net")


def _method(value: str) -> str:
    if value not in METHOD_NAMES:
        raise typer.BadParameter(f"{value!r}: use one of {', '.join(METHOD_NAMES)}")
    return value


@with_scene_options
def fuse(
    lowres: Annotated[Path, typer.Argument(
        metavar="LOWRES_HSI", help="The low-resolution hyperspectral cube (anything encode "
        "reads).")],
    highres: Annotated[Path, typer.Argument(
        metavar="HIGHRES_MSI", help="The high-resolution multispectral or panchromatic "
        "image of the same area.")],
    output: opt.OutputPath = ...,
    srf: opt.Srf = None,
    srf_columns: opt.SrfColumns = None,
    cut_srf: opt.CutSrf = False,
    n_endmembers: Annotated[int | None, typer.Option(
        "--endmembers", "-k", min=2, max=512, help="Endmembers K (NMF of the low-resolution "
        "cube; default 20, fewer when the cube has fewer bands or valid pixels).")] = None,
    method: Annotated[str, typer.Option(
        "--method", callback=_method,
        help="map: per-pixel MAP abundances under the coarse prior, in closed form (default: "
        "best in our benchmarks, no training); net: SpectraMorph's MLP, trained on the "
        "low-res grid.")] = "map",
    prior: Annotated[bool, typer.Option(
        "--prior/--no-prior", help="net: feed the network the coarse spectral prior (the "
        "low-res abundances upsampled). map always uses it.")] = True,
    abundances: Annotated[Path | None, typer.Option(
        "--abundances", help="Also write the abundance maps here (.tif or .zarr); the "
        "endmember spectra go beside them as NAME_endmembers.csv.")] = None,
    reference: Annotated[Path | None, typer.Option(
        "--reference", help="A high-resolution hyperspectral reference on the "
        "multispectral grid (simulations): report PSNR, SAM, ERGAS and UIQI against it.")]
    = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="PNG of the endmembers and quicklooks of inputs and result.")] = None,
    estimate_psf: Annotated[bool, typer.Option(
        "--estimate-psf/--no-estimate-psf", help="Estimate the low-res sensor's PSF from "
        "the pair and report it (a note when it sits off its block: misregistration).")]
    = True,
    steps: Annotated[int, typer.Option(
        "--steps", min=1, help="net: training batches.")] = 2000,
    hidden_units: Annotated[int, typer.Option(
        "--hidden-units", min=1, max=16384, help="net: hidden units of the MLP.")] = 1024,
    learning_rate: Annotated[float, typer.Option(
        "--learning-rate", min=1e-6, max=1.0, help="net: peak Adam learning rate.")] = 1e-3,
    max_pixels: Annotated[int, typer.Option(
        "--max-pixels", min=100, help="net: most low-resolution training pixels.")] = 200_000,
    msi_variable: Annotated[str | None, typer.Option(
        "--msi-variable", help="Variable of a .mat HIGHRES_MSI (2-D for one band).")] = None,
    msi_wavelengths: Annotated[str | None, typer.Option(
        "--msi-wavelengths", help="Band centres of HIGHRES_MSI in nm (for Gaussian "
        "responses without --srf): values, START:STOP or a file.")] = None,
    msi_fwhm: Annotated[str | None, typer.Option(
        "--msi-fwhm", help="Band widths (FWHM, nm) of HIGHRES_MSI for Gaussian responses.")]
    = None,
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
    """Fuse LOWRES_HSI with HIGHRES_MSI into a hyperspectral cube on the multispectral grid."""
    opt.apply_threads(threads)
    from contextlib import ExitStack

    from phism_cli.inversion.fusion import fusion_model
    from phism_cli.io.png import is_phism_png
    from phism_cli.io.rasters import RasterWriter, is_phism_raster, output_kind
    from phism_cli.io.scene_formats import open_scene
    from phism_cli.io.spectral_tables import is_spectral_table_csv
    from phism_cli.io.srf import response_for_scene
    from phism_cli.model.estimator import resolve_device
    from phism_cli.pipeline import fuse as pipeline
    from phism_cli.pipeline.fusion_grid import check_pair

    start = time.perf_counter()
    if method == "map" and not prior:
        raise PhismError("--no-prior needs --method net: map fusion is an update of the prior")
    kind = output_kind(output)
    abundance_kind = None if abundances is None else output_kind(abundances)
    geotiff = opt.geotiff_options(creation_options, cog, output, abundances)
    if plot is not None:
        if plot.suffix.lower() != ".png":
            raise PhismError(f"--plot {plot}: name the picture *.png")
        require_plotting("--plot")
    try:
        torch_device = str(resolve_device(device))
    except ValueError as exc:
        raise PhismError(str(exc)) from None
    with ExitStack() as stack:
        hsi = stack.enter_context(open_scene(lowres, **scene_options))
        msi = stack.enter_context(open_scene(
            highres, variable=msi_variable, wavelengths=msi_wavelengths, fwhm=msi_fwhm,
            flag_prefix="--msi-"))
        grid = check_pair(hsi, msi)
        response = response_for_scene(msi, hsi.wavelength_nm, srf, srf_columns, str(lowres),
                                      cut=cut_srf)
        pipeline.check_endmembers(n_endmembers, hsi)
        ref = None
        if reference is not None:
            ref = stack.enter_context(open_scene(reference, **scene_options))
            pipeline.check_reference(ref, grid, hsi)
        for note in grid.notes:
            say(f"note: {note}", quiet)
        inputs = [*hsi.source_files, *msi.source_files, srf,
                  *(ref.source_files if ref is not None else [])]
        out = stack.enter_context(outputs(overwrite, inputs, quiet))
        fused_out = out.add(output, recognise=is_phism_raster)
        abundance_out = table_out = None
        if abundances is not None:
            abundance_out = out.add(abundances, recognise=is_phism_raster)
            table_out = out.add(endmembers_path(abundances), recognise=is_spectral_table_csv)
        plot_out = None if plot is None else out.add(plot, recognise=is_phism_png)

        say(f"learning {n_endmembers or 'up to 20'} endmembers and the {method} inversion from "
            f"{hsi.height} x {hsi.width} low-resolution pixels (ratio {grid.ratio})", quiet)
        network = {"prior": prior, "hidden_units": hidden_units, "steps": steps,
                   "learning_rate": learning_rate, "max_pixels": max_pixels, "seed": seed,
                   "device": torch_device}
        model = fusion_model(method, n_endmembers, **network)
        lowres_cube = hsi.read()
        model.fit(lowres_cube, response, grid.ratio,
                  pipeline.msi_on_lowres_grid(msi, grid, tile_size))
        psf = pipeline.estimate_pair_psf(lowres_cube, msi, grid, model, tile_size) \
            if estimate_psf else None
        if estimate_psf and (note := pipeline.psf_note(psf)) is not None:
            say(f"note: {note}", quiet)
        settings = {"method": method, "endmembers": model.n_endmembers_, "seed": seed,
                    **({k: v for k, v in network.items() if k != "device"}
                       if method == "net" else {})}
        quicklook = None if plot is None else \
            pipeline.Quicklook.for_grid(grid, hsi.wavelength_nm, response)
        writer = stack.enter_context(RasterWriter(
            fused_out.tmp, pipeline.fused_spec(hsi, msi, grid, model, tile_size, settings, psf)
            .with_options(**geotiff), kind, name=output))
        abundance_writer = None
        if abundance_out is not None and table_out is not None:
            spec = pipeline.abundance_spec(hsi, grid, model, tile_size,
                                           endmembers_path(abundances).name, method)
            abundance_writer = stack.enter_context(RasterWriter(
                abundance_out.tmp, spec.with_options(**geotiff), abundance_kind,
                name=abundances))
            pipeline.write_endmembers(table_out.tmp, model, hsi.wavelength_nm)
        with progress_bar(quiet) as progress:
            task = progress.add_task("fusing", total=grid.height * grid.width)
            checks = pipeline.fuse_scene(hsi, msi, grid, model, writer, abundance_writer,
                                         ref, quicklook, tile_size,
                                         on_tile=lambda n: progress.advance(task, n))
        if plot_out is not None and quicklook is not None:
            from phism_cli.plots.common import scene_unit
            from phism_cli.plots.fusion import plot_fusion

            plot_fusion(quicklook.images, model.endmembers_, hsi.wavelength_nm, plot_out.tmp,
                        scene_unit(hsi))
    summary = {"output": str(output), "format": kind, "lowres": str(lowres),
               "highres": str(highres), "ratio": grid.ratio, "height": grid.height,
               "width": grid.width, "bands": hsi.count, "msi_bands": msi.count,
               **checks.as_dict(grid.ratio), "response": response.describe(),
               "settings": settings, "notes": grid.notes,
               "msi_gain": model.msi_gain_,
               "psf_estimate": None if psf is None else psf.describe(),
               "abundances": None if abundances is None else str(abundances),
               "plot": None if plot is None else str(plot), "device": torch_device,
               "train_seconds": model.train_seconds_,
               "seconds": time.perf_counter() - start}
    say(pipeline.report_line(output, checks), quiet)
    if json_out:
        emit_json(summary)


def endmembers_path(abundances: Path) -> Path:
    return abundances.with_name(f"{abundances.stem}_endmembers.csv")
