"""`phism render`: latent maps back to spectra, optionally scored against the source scene."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.common import emit_json, progress_bar, say
from phism_cli.errors import ModelMismatchError, PhismError
from phism_cli.io.atomic import atomic_output, check_output
from phism_cli.io.rasters import RasterReader, RasterSpec, RasterWriter, output_kind
from phism_cli.io.scene import Scene, open_scene
from phism_cli.model.checkpoint import load_encoder
from phism_cli.model.renderer import Renderer, renderer_from_metadata
from phism_cli.pipeline.render import render_latents


def _check_reference(reference: Scene, latents: RasterReader, n_bands: int) -> None:
    if (reference.height, reference.width) != (latents.height, latents.width):
        raise ModelMismatchError(
            f"--reference {reference.path} is {reference.height}x{reference.width} pixels but "
            f"{latents.path} is {latents.height}x{latents.width}")
    if reference.count != n_bands:
        raise ModelMismatchError(
            f"--reference {reference.path} gives {reference.count} bands but the latents "
            f"render {n_bands}; open it with the same --keep-bad-bands setting as encode")


def render(
    latents: Annotated[Path, typer.Argument(help="Latent map from encode (.zarr or .tif).")],
    output: opt.OutputPath = ...,
    reference: Annotated[Path | None, typer.Option(
        "--reference", help="The encoded scene: report psnr_db and sam_deg against it.")] = None,
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="PNG with a few pixels' spectra and their components.")] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", "-m", help="The encoder file: needed only for latents of a conventional "
        "autoencoder (fit-encoder --decoder mlp), whose decoder has weights.")] = None,
    tile_size: opt.TileSize = 256,
    keep_bad_bands: opt.KeepBadBands = False,
    wavelengths: opt.Wavelengths = None,
    variable: opt.Variable = None,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Render LATENTS into spectra in the input's units (OUTPUT ending .tif or .zarr)."""
    kind = output_kind(output)
    check_output(output, overwrite)
    if plot is not None:
        check_output(plot, overwrite)
    with RasterReader(latents) as reader:
        meta = reader.metadata
        if meta.get("format") != "phism-latents":
            raise PhismError(f"{latents}: not a phism latent map")
        renderer = _renderer(meta, model)
        n_bands = len(renderer.band_mean)
        ref = None
        if reference is not None:
            ref = open_scene(reference, keep_bad_bands=keep_bad_bands, wavelengths=wavelengths,
                             variable=variable)
            _check_reference(ref, reader, n_bands)
        spec = _output_spec(reader, renderer, meta, tile_size)
        with atomic_output(output, overwrite) as tmp, RasterWriter(tmp, spec, kind) as writer, \
                progress_bar(quiet) as progress:
            task = progress.add_task("rendering", total=reader.height * reader.width)
            metrics = render_latents(reader, renderer, writer, reference=ref,
                                     tile_size=tile_size,
                                     on_tile=lambda n: progress.advance(task, n))
        if plot is not None:
            from phism_cli.cli.plotting import plot_pixel_spectra

            with atomic_output(plot, overwrite) as tmp:
                plot_pixel_spectra(reader, renderer, ref, tmp)
        if ref is not None:
            ref.close()
    summary: dict[str, object] = {"output": str(output), "format": kind, "bands": n_bands,
                                  "height": reader.height, "width": reader.width}
    if ref is not None:
        summary |= {"psnr_db": metrics.psnr_db, "sam_deg": metrics.sam_deg,
                    "mse": metrics.mse, "pixels_compared": metrics.pixels,
                    "peak": metrics.maximum - metrics.minimum}
        say(f"wrote {output}: PSNR {metrics.psnr_db:.2f} dB, SAM {metrics.sam_deg:.3f} deg "
            f"over {metrics.pixels} pixels", quiet)
    else:
        say(f"wrote {output}", quiet)
    if plot is not None:
        summary["plot"] = str(plot)
    if json_out:
        emit_json(summary)


def _renderer(meta: dict, model: Path | None) -> Renderer:
    """The latents' own parameter-free renderer, or the decoder of the encoder that made them."""
    if model is None:
        return renderer_from_metadata(meta["renderer"])
    encoder, model_meta = load_encoder(model)
    if model_meta["sha256"] != meta.get("model_sha256"):
        raise ModelMismatchError(f"{model} is not the encoder that made these latents "
                                 "(sha256 differs); pass the encoder file encode used")
    return encoder.renderer_


def _output_spec(reader: RasterReader, renderer: Renderer, meta: dict,
                 tile_size: int) -> RasterSpec:
    axis = renderer.axis
    if axis.unit == "nm":
        names = [f"band {i + 1} ({w:.2f} Nanometers)" for i, w in enumerate(axis.positions)]
        band_tags = [{"wavelength": f"{w:.4f}", "wavelength_units": "Nanometers"}
                     for w in axis.positions]
        coords = {"wavelength_nm": [float(w) for w in axis.positions]}
    else:
        names = [f"band {int(b)}" for b in axis.positions]
        band_tags, coords = None, {}
    return RasterSpec(
        height=reader.height, width=reader.width, channel_names=names, crs=reader.crs,
        transform=reader.transform, tile_size=tile_size, variable="reflectance",
        channel_coords=coords, band_tags=band_tags,
        metadata={"format": "phism-rendering", "format_version": 1, "variable": "reflectance",
                  "latents": str(reader.path), "model_sha256": meta.get("model_sha256"),
                  "source": meta.get("source")},
    )


