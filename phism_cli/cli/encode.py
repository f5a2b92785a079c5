"""`phism encode`: a scene to a latent map, tile by tile."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from phism_cli import __version__
from phism_cli.cli import options as opt
from phism_cli.cli.common import (
    build_encoder,
    check_model_fits_scene,
    emit_json,
    fit_encoder_on_scenes,
    progress_bar,
    say,
    training_provenance,
)
from phism_cli.errors import PhismError
from phism_cli.io.atomic import atomic_output, check_output
from phism_cli.io.rasters import RasterSpec, RasterWriter, output_kind
from phism_cli.io.scene import Scene, open_scene
from phism_cli.model.checkpoint import file_sha256, load_encoder, save_encoder
from phism_cli.model.estimator import PhismEncoder
from phism_cli.pipeline.encode import encode_scene

LATENT_FORMAT = "phism-latents"
LATENT_FORMAT_VERSION = 1


def encoder_path_beside(output: Path) -> Path:
    return output.with_name(f"{output.stem}.encoder.safetensors")


def latent_spec(scene: Scene, encoder: PhismEncoder, model_meta: dict[str, Any],
                tile_size: int) -> RasterSpec:
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
                       "bands": scene.count, "scale": scene.scale, "offset": scene.offset,
                       "nodata": scene.nodata,
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
    components: opt.Components = 5,
    basis: opt.Basis = "skewnormal",
    decoder: opt.Decoder = "basis",
    latent_dim: opt.LatentDim = None,
    epochs: opt.Epochs = 50,
    max_pixels: opt.MaxPixels = 200_000,
    seed: opt.Seed = 0,
    keep_bad_bands: opt.KeepBadBands = False,
    wavelengths: opt.Wavelengths = None,
    variable: opt.Variable = None,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Encode SCENE into a latent map (OUTPUT ending .zarr or .tif)."""
    start = time.perf_counter()
    kind = output_kind(output)
    check_output(output, overwrite)
    new_model_path = encoder_path_beside(output) if model is None else None
    if new_model_path is not None:
        check_output(new_model_path, overwrite)
    src = open_scene(scene, keep_bad_bands=keep_bad_bands, wavelengths=wavelengths,
                     variable=variable)
    with src:
        if model is not None:
            encoder, meta = load_encoder(model)
            meta["path"] = str(model)
            check_model_fits_scene(encoder, src, model)
        else:
            say(f"no --model given: fitting an encoder on {scene} first", quiet)
            encoder = build_encoder(components=components, basis=basis, decoder=decoder,
                                    latent_dim=latent_dim, epochs=epochs, seed=seed,
                                    device=device)
            encoder, _ = fit_encoder_on_scenes([src], encoder, max_pixels, tile_size, quiet)
            with atomic_output(new_model_path, overwrite) as tmp:
                save_encoder(encoder, tmp, extra=training_provenance([src]))
            meta = {"sha256": file_sha256(new_model_path), "path": str(new_model_path)}
            say(f"saved the encoder to {new_model_path} (reuse it with -m)", quiet)
        try:
            encoder.to(device)
        except ValueError as exc:
            raise PhismError(str(exc)) from None
        spec = latent_spec(src, encoder, meta, tile_size)
        encode_start = time.perf_counter()
        with atomic_output(output, overwrite) as tmp, RasterWriter(tmp, spec, kind) as writer, \
                progress_bar(quiet) as progress:
            task = progress.add_task("encoding", total=src.height * src.width)
            counts = encode_scene(src, encoder, writer, tile_size=tile_size,
                                  batch_size=batch_size,
                                  on_tile=lambda n: progress.advance(task, n))
        encode_seconds = time.perf_counter() - encode_start
    say(f"wrote {output}: {counts['valid_pixels']} of {counts['pixels']} pixels valid, "
        f"{len(spec.channel_names)} channels", quiet)
    if json_out:
        emit_json({
            "output": str(output), "format": kind, "model": meta["path"],
            "model_sha256": meta["sha256"], "fitted_model": new_model_path is not None,
            **counts, "channels": spec.channel_names, "height": src.height,
            "width": src.width, "crs": None if src.crs is None else src.crs.to_string(),
            "seconds": time.perf_counter() - start, "encode_seconds": encode_seconds,
            "pixels_per_second": counts["pixels"] / max(encode_seconds, 1e-9),
            "device": str(next(encoder.model_.parameters()).device),
        })
