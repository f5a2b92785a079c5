"""`phism render`: latent maps back to spectra, optionally scored against the source scene."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from phism_cli.cli import batch_options as batch_opt
from phism_cli.cli import options as opt
from phism_cli.cli.common import CliReporter, outputs, require_plotting, say
from phism_cli.cli.scene_options import with_scene_options
from phism_cli.errors import PhismError
from phism_cli.text import plural

if TYPE_CHECKING:
    from phism_cli.io.rasters import RasterReader
    from phism_cli.io.scene import Scene
    from phism_cli.model.renderer import Renderer


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
    from phism_cli.pipeline.batch import is_batch_output, plan_outputs
    from phism_cli.pipeline.render import RenderRequest, render_file

    geotiff = opt.geotiff_options(creation_options, cog,
                                  *(j.output for j in plan_outputs(latents, output, ".tif")))
    if is_batch_output(output, len(latents)) and (reference or plot):
        raise PhismError(f"{'--reference' if reference else '--plot'} names one file, for "
                         "one latent map; render the latent maps one by one to use it")
    from phism_cli.plots.common import check_png_name

    check_png_name(plot)
    if plot_pixels is not None and plot is None:
        raise PhismError(f"--plot-pixels {plot_pixels!r} chooses the pixels of --plot; give it")
    figure = None if plot is None else _SpectraPlot(plot_pixels)
    if plot is not None:
        require_plotting("--plot")

    def render_one(latents: Path, output: Path) -> dict[str, object]:
        request = RenderRequest(latents, output, reference, model, tile_size,
                                scene_options or {}, geotiff, plot)
        summary = render_file(request, CliReporter(quiet),
                              lambda inputs: outputs(overwrite, inputs, quiet), figure)
        if reference is not None:
            say(f"wrote {output}: PSNR {summary['psnr_db']:.2f} dB, SAM "
                f"{summary['sam_deg']:.3f} deg over "
                f"{plural(summary['pixels_compared'], 'pixel')}", quiet)
        else:
            say(f"wrote {output}", quiet)
        return summary

    batch_opt.run_per_scene(latents, output, ".tif", render_one, overwrite=overwrite,
                            skip_existing=skip_existing, fail_fast=fail_fast,
                            json_out=json_out, json_lines=json_lines, quiet=quiet)


class _SpectraPlot:
    """`--plot` of `render`: a few pixels' spectra, components and error."""

    def __init__(self, plot_pixels: str | None) -> None:
        from phism_cli.plots.spectra import parse_pixels

        self.text = plot_pixels
        self.pixels = None if plot_pixels is None else parse_pixels(plot_pixels)

    def check(self, height: int, width: int) -> None:
        from phism_cli.plots.spectra import check_pixels

        if self.pixels is not None:
            check_pixels(self.pixels, height, width, str(self.text))

    def draw(self, png: Path, latents: RasterReader, renderer: Renderer,
             reference: Scene | None, unit: str | None, peak: float | None) -> None:
        from phism_cli.plots.common import scene_unit
        from phism_cli.plots.spectra import plot_pixel_spectra

        plot_pixel_spectra(latents, renderer, reference, png, self.pixels,
                           unit or scene_unit(reference), peak)
