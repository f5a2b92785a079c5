"""`phism render`: latent maps back to spectra, optionally scored against the source scene."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from phism_cli.cli import batch_options as batch_opt
from phism_cli.cli import options as opt
from phism_cli.cli.common import (
    outputs,
    progress_bar,
    require_plotting,
    say,
)
from phism_cli.cli.scene_options import with_scene_options
from phism_cli.errors import (
    ModelMismatchError,
    PhismError,
    check_file_format,
    no_valid_pixels,
)
from phism_cli.io.latent_format import LATENT_FORMAT, LATENT_FORMAT_VERSION
from phism_cli.text import plural

if TYPE_CHECKING:
    from phism_cli.io.rasters import RasterReader
    from phism_cli.io.scene import Scene
    from phism_cli.model.renderer import Renderer


def _check_reference(reference: Scene, latents: RasterReader) -> None:
    if (reference.height, reference.width) != (latents.height, latents.width):
        raise ModelMismatchError(
            f"--reference {reference.path} is {reference.height}x{reference.width} pixels but "
            f"{latents.path} is {latents.height}x{latents.width}")


@with_scene_options
def render(
    latents: Annotated[list[Path], typer.Argument(
        help="Latent maps from encode (.zarr or .tif): one or many.")],
    output: batch_opt.BatchOutput = ...,
    reference: Annotated[Path | None, typer.Option(
        "--reference", help="The encoded scene: report psnr_db and sam_deg against it.")] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="PNG of a few pixels' spectra, components and error.")] = None,
    plot_pixels: Annotated[str | None, typer.Option(
        "--plot-pixels", metavar="R,C;R,C", help="--plot these pixels (0-based row,col); "
        "default: 4 spanning the scene's spectra (k-means).")] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", "-m", help="The encoder file: needed only for latents of a conventional "
        "autoencoder (fit-encoder --decoder mlp), whose decoder has weights.")] = None,
    tile_size: opt.TileSize = 256,
    threads: opt.Threads = None,
    scene_options: dict | None = None,
    creation_options: opt.CreationOptions = None,
    cog: opt.Cog = False,
    skip_existing: batch_opt.SkipExisting = False,
    fail_fast: batch_opt.FailFast = False,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    json_lines: batch_opt.JsonLines = False,
    quiet: opt.Quiet = False,
) -> None:
    """Render LATENTS into spectra in the input's units (OUTPUT ending .tif or .zarr; a
    folder or a template for many)."""
    opt.apply_threads(threads)
    from contextlib import ExitStack

    from phism_cli.io.png import is_phism_png
    from phism_cli.io.rasters import RasterReader, RasterWriter, is_phism_raster, output_kind
    from phism_cli.io.scene_formats import open_scene
    from phism_cli.pipeline.batch import is_batch_output, plan_outputs
    from phism_cli.pipeline.render import (
        band_response_of,
        latent_band_fwhm,
        render_latents,
        renderer_for_reference,
        rendering_spec,
    )

    geotiff = opt.geotiff_options(creation_options, cog,
                                  *(j.output for j in plan_outputs(latents, output, ".tif")))
    if is_batch_output(output, len(latents)) and (reference or plot):
        raise PhismError(f"{'--reference' if reference else '--plot'} names one file, for "
                         "one latent map; render the latent maps one by one to use it")
    from phism_cli.plots.common import check_png_name
    from phism_cli.plots.spectra import check_pixels, parse_pixels

    check_png_name(plot)
    if plot_pixels is not None and plot is None:
        raise PhismError(f"--plot-pixels {plot_pixels!r} chooses the pixels of --plot; give it")
    pixels = None if plot_pixels is None else parse_pixels(plot_pixels)
    if plot is not None:
        require_plotting("--plot")

    def render_one(latents: Path, output: Path) -> dict[str, object]:
        kind = output_kind(output)
        with ExitStack() as stack:
            reader = stack.enter_context(RasterReader(latents))
            meta = reader.metadata
            if meta.get("format") != LATENT_FORMAT:
                raise PhismError(f"{latents}: not a phism latent map (format "
                                 f"{meta.get('format')!r}); give the output of 'phism encode'")
            check_file_format(meta, latents, LATENT_FORMAT, LATENT_FORMAT_VERSION, "latent map")
            renderer = _renderer(meta, model, latents)
            if list(renderer.channel_names) != list(reader.channel_names):
                raise PhismError(f"{latents}: its channels ({len(reader.channel_names)}) are not "
                                 f"those its renderer describes ({len(renderer.channel_names)}); "
                                 "the latent map is damaged, encode again")
            n_bands = len(renderer.band_mean)
            if pixels is not None:
                check_pixels(pixels, reader.height, reader.width, str(plot_pixels))
            ref, at_reference = None, False
            if reference is not None:
                ref = stack.enter_context(open_scene(reference, **scene_options))
                _check_reference(ref, reader)
                renderer, at_reference = renderer_for_reference(
                    renderer, ref, n_bands, latent_band_fwhm(meta, n_bands))
            inputs = [latents, model, *(ref.source_files if ref is not None else [])]
            out = stack.enter_context(outputs(overwrite, inputs, quiet))
            main_out = out.add(output, recognise=is_phism_raster)
            plot_out = None if plot is None else out.add(plot, recognise=is_phism_png)
            spec = rendering_spec(reader, renderer, meta, tile_size, ref,
                                  at_reference).with_options(**geotiff)
            with RasterWriter(main_out.tmp, spec, kind, name=output) as writer, \
                    progress_bar(quiet) as progress:
                task = progress.add_task("rendering", total=reader.height * reader.width)
                metrics = render_latents(reader, renderer, writer, reference=ref,
                                         tile_size=tile_size,
                                         on_tile=lambda n: progress.advance(task, n))
                if metrics.rendered == 0:
                    raise no_valid_pixels(latents, "latent")
                if ref is not None and metrics.pixels == 0:
                    raise PhismError(f"--reference {reference}: no pixel is valid in both it and "
                                     f"{latents}, so nothing can be compared; nothing was written")
            if plot_out is not None:
                from phism_cli.plots.common import scene_unit
                from phism_cli.plots.spectra import plot_pixel_spectra

                plot_pixel_spectra(reader, renderer, ref, plot_out.tmp, pixels,
                                   (spec.channel_units or [None])[0] or scene_unit(ref),
                                   None if ref is None else metrics.maximum - metrics.minimum)
        summary: dict[str, object] = {"output": str(output), "format": kind,
                                      "bands": len(renderer.band_mean),
                                      "at_reference_bands": at_reference,
                                      "band_response": band_response_of(renderer),
                                      "height": reader.height, "width": reader.width,
                                      "rendered_pixels": metrics.rendered}
        if ref is not None:
            summary |= {"psnr_db": metrics.psnr_db, "sam_deg": metrics.sam_deg,
                        "mse": metrics.mse, "pixels_compared": metrics.pixels,
                        "peak": metrics.maximum - metrics.minimum}
            say(f"wrote {output}: PSNR {metrics.psnr_db:.2f} dB, SAM {metrics.sam_deg:.3f} deg "
                f"over {plural(metrics.pixels, 'pixel')}", quiet)
        else:
            say(f"wrote {output}", quiet)
        if plot is not None:
            summary["plot"] = str(plot)
        return summary

    batch_opt.run_per_scene(latents, output, ".tif", render_one, overwrite=overwrite,
                            skip_existing=skip_existing, fail_fast=fail_fast,
                            json_out=json_out, json_lines=json_lines, quiet=quiet)


def _renderer(meta: dict, model: Path | None, latents: Path) -> Renderer:
    """The latents' own parameter-free renderer, or the decoder of the encoder that made them."""
    from phism_cli.model.renderer import renderer_from_metadata

    if model is None:
        return renderer_from_metadata(meta.get("renderer"), str(latents))
    from phism_cli.model.checkpoint import load_encoder

    encoder, model_meta = load_encoder(model)
    if model_meta["sha256"] != meta.get("model_sha256"):
        raise ModelMismatchError(f"{model} is not the encoder that made these latents "
                                 "(sha256 differs); pass the encoder file encode used")
    return encoder.renderer_
