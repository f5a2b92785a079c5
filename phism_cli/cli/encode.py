"""`phism encode`: a scene to a latent map, tile by tile."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.common import (
    build_encoder,
    emit_json,
    fit_encoder_on_scenes,
    move_encoder,
    outputs,
    progress_bar,
    say,
    training_provenance,
)
from phism_cli.cli.pca_options import encoder_device
from phism_cli.errors import PhismError, no_valid_pixels
from phism_cli.io.latent_format import LATENT_FORMAT, LATENT_FORMAT_VERSION

if TYPE_CHECKING:
    from phism_cli.io.rasters import RasterSpec
    from phism_cli.io.scene import Scene
    from phism_cli.model.pca import Encoder



def encoder_path_beside(output: Path) -> Path:
    return output.with_name(f"{output.stem}.encoder.safetensors")


def latent_spec(scene: Scene, encoder: Encoder, model_meta: dict[str, Any],
                tile_size: int) -> RasterSpec:
    from phism_cli import __version__
    from phism_cli.io.rasters import RasterSpec
    from phism_cli.io.scene import json_value

    names = encoder.channel_names_
    units = [n.rsplit("_", 1)[1] if n.endswith(("_nm", "_band")) else "1" for n in names]
    return RasterSpec(
        height=scene.height, width=scene.width, channel_names=names, crs=scene.crs,
        transform=scene.transform, tile_size=tile_size, variable="latent",
        channel_units=units,
        metadata={
            "format": LATENT_FORMAT, "format_version": LATENT_FORMAT_VERSION,
            "phism_version": __version__, "variable": "latent",
            "renderer": encoder.renderer_.to_metadata(),
            "model_sha256": model_meta["sha256"], "model_path": model_meta.get("path"),
            "source": {"path": str(scene.path), "format": scene.format,
                       "bands": scene.count, "scale": json_value(scene.scale),
                       "offset": json_value(scene.offset), "nodata": json_value(scene.nodata),
                       "bad_bands": [int(b) + 1 for b in (~scene.bands.good).nonzero()[0]],
                       "bad_bands_dropped": not scene.keep_bad_bands},
        },
    )


def encode(
    scene: Annotated[Path, typer.Argument(help="Scene to encode.")],
    output: opt.OutputPath = ...,
    model: Annotated[Path | None, typer.Option(
        "--model", "-m", help="Encoder from fit-encoder; without it one is fitted on SCENE "
        "and saved beside OUTPUT as <stem>.encoder.safetensors.")] = None,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=1, help="Pixels per encoder batch on the device.")] = 16384,
    tile_size: opt.TileSize = 256,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    components: opt.Components = 5,
    basis: opt.Basis = "skewnormal",
    brightness: opt.Brightness = True,
    decoder: opt.Decoder = "basis",
    latent_dim: opt.LatentDim = None,
    epochs: opt.Epochs = 50,
    patience: opt.Patience = 5,
    max_pixels: opt.MaxPixels = 200_000,
    seed: opt.Seed = 0,
    keep_bad_bands: opt.KeepBadBands = False,
    wavelengths: opt.Wavelengths = None,
    ignore_wavelengths: opt.IgnoreWavelengths = False,
    variable: opt.Variable = None,
    refine: Annotated[int, typer.Option(
        "--refine", min=0, metavar="N", help="Refine each pixel's latent by N steps of "
        "per-pixel optimisation through the renderer, starting from the encoder's output; "
        "reports the PSNR gain (basis decoder only).")] = 0,
    refine_lr: Annotated[float, typer.Option(
        "--refine-lr", min=1e-5, max=1.0, help="Adam step of --refine, as a fraction of each "
        "parameter's range.")] = 0.01,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Encode SCENE into a latent map (OUTPUT ending .zarr or .tif)."""
    opt.apply_threads(threads)
    from phism_cli.io.files import file_sha256
    from phism_cli.io.rasters import RasterWriter, is_phism_raster, output_kind
    from phism_cli.io.scene import open_scene
    from phism_cli.model.checkpoint import load_encoder, save_encoder
    from phism_cli.model.encoder_file import is_phism_encoder
    from phism_cli.pipeline.encode import encode_scene, make_refinement
    from phism_cli.pipeline.sensors import check_model_fits_scene

    start = time.perf_counter()
    if refine and model is None and decoder != "basis":
        raise PhismError(f"--refine optimises the parameters of a physical renderer, and "
                         f"--decoder {decoder} learns its decoder; drop one of the two")
    if refine and model is None and basis == "pca":
        raise PhismError("--refine optimises the parameters of a physical renderer, and "
                         "--basis pca scores are already the least-squares fit of its "
                         "components; drop one of the two")
    kind = output_kind(output)
    src = open_scene(scene, **opt.scene_options(keep_bad_bands, wavelengths, variable,
                                                ignore_wavelengths))
    with src, outputs(overwrite, [*src.source_files, model], quiet) as out:
        latents_out = out.add(output, recognise=is_phism_raster)
        if model is not None:
            encoder, meta = load_encoder(model)
            meta["path"] = str(model)
            check_model_fits_scene(encoder, src, model)
        else:
            model_path = encoder_path_beside(output)
            model_out = out.add(model_path, recognise=is_phism_encoder)
            encoder = build_encoder(components=components, basis=basis, decoder=decoder,
                                    brightness=brightness,
                                    latent_dim=latent_dim, epochs=epochs, patience=patience,
                                    seed=seed, device=device)
            say(f"no --model given: fitting an encoder on {scene} first", quiet)
            encoder, _ = fit_encoder_on_scenes([src], encoder, max_pixels, tile_size, quiet)
            save_encoder(encoder, model_out.tmp, extra=training_provenance([src]))
            meta = {"sha256": file_sha256(model_out.tmp), "path": str(model_path)}
        move_encoder(encoder, device)
        refinement = make_refinement(encoder, refine, refine_lr, model or "the encoder")
        spec = latent_spec(src, encoder, meta, tile_size)
        encode_start = time.perf_counter()
        with RasterWriter(latents_out.tmp, spec, kind, name=output) as writer, \
                progress_bar(quiet) as progress:
            task = progress.add_task("encoding", total=src.height * src.width)
            counts = encode_scene(src, encoder, writer, tile_size=tile_size,
                                  batch_size=batch_size,
                                  on_tile=lambda n: progress.advance(task, n),
                                  refinement=refinement)
            if counts["valid_pixels"] == 0 and counts["nonfinite_pixels"]:
                raise PhismError(f"{meta['path']} gave NaN or infinite latents for every "
                                 f"valid pixel of {src.path}: its values are far outside "
                                 "what the model was trained on (check the scale factor); "
                                 "nothing was written")
            if counts["valid_pixels"] == 0:
                raise no_valid_pixels(src.path)
        encode_seconds = time.perf_counter() - encode_start
    if model is None:
        say(f"saved the encoder to {meta['path']} (reuse it with -m)", quiet)
    if counts["nonfinite_pixels"]:
        say(f"warning: the encoder gave NaN or infinite latents for "
            f"{counts['nonfinite_pixels']} valid pixels (written as nodata); their values "
            "are far outside what the model was trained on", quiet)
    say(f"wrote {output}: {counts['valid_pixels']} of {counts['pixels']} pixels valid, "
        f"{len(spec.channel_names)} channels", quiet)
    refined = {} if refinement is None else refinement.summary()
    if refined:
        say(f"--refine {refine}: PSNR {refined['psnr_before_db']:.2f} -> "
            f"{refined['psnr_after_db']:.2f} dB ({refined['refine_seconds']:.1f} s)", quiet)
    if json_out:
        emit_json({
            "output": str(output), "format": kind, "model": meta["path"],
            "model_sha256": meta["sha256"], "fitted_model": model is None,
            **counts, "channels": spec.channel_names, "height": src.height,
            "width": src.width, "crs": None if src.crs is None else src.crs.to_string(),
            "seconds": time.perf_counter() - start, "encode_seconds": encode_seconds,
            "pixels_per_second": counts["pixels"] / max(encode_seconds, 1e-9),
            "device": encoder_device(encoder),
            "refine_steps": refine, **refined,
        })
