"""`phism fit-encoder`: self-supervised training on pixels sampled from one or many scenes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phism_cli.cli import options as opt
from phism_cli.cli.aliases import with_aliases
from phism_cli.cli.common import (
    build_encoder,
    emit_json,
    fit_encoder_on_scenes,
    open_scenes,
    outputs,
    say,
    scene_files,
)
from phism_cli.cli.scene_options import with_scene_options


@with_scene_options
@with_aliases(learning_rate="--lr")
def fit_encoder(
    scenes: Annotated[list[Path], typer.Argument(
        help="Scenes to train on: of one sensor, or of several with --resample-bands.")],
    output: opt.OutputPath = ...,
    components: opt.Components = 5,
    basis: opt.Basis = "skewnormal",
    brightness: opt.Brightness = True,
    fixed: opt.Fixed = False,
    decoder: opt.Decoder = "basis",
    latent_dim: opt.LatentDim = None,
    hidden: opt.Hidden = None,
    epochs: opt.Epochs = 50,
    max_steps: opt.MaxSteps = opt.DEFAULT_MAX_STEPS,
    patience: opt.Patience = 5,
    learning_rate: Annotated[float, typer.Option(
        "--learning-rate", min=0.0, help="AdamW learning rate.")] = 1e-3,
    batch_size: Annotated[int, typer.Option(
        "--batch-size", min=2, help="Pixels per training step.")] = 512,
    max_pixels: opt.MaxPixels = 200_000,
    seed: opt.Seed = 0,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    tile_size: opt.TileSize = 256,
    resample_bands: Annotated[bool, typer.Option(
        "--resample-bands", help="Train on scenes of several sensors: each scene whose bands "
        "differ from the first scene's is resampled onto them (Gaussian responses); refused "
        "when it spans less than 90 % of their range.")] = False,
    scene_options: dict | None = None,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    quiet: opt.Quiet = False,
) -> None:
    """Fit a PhISM encoder (or PCA: --basis pca) on valid pixels of SCENES (safetensors +
    JSON metadata)."""
    opt.apply_threads(threads)
    from phism_cli.io.files import file_sha256
    from phism_cli.model.encoder_file import is_phism_encoder
    from phism_cli.pipeline.cross_sensor import on_common_bands

    _check_model_name(output)
    opened = open_scenes(scenes, **scene_options)
    try:
        opened = on_common_bands(opened, resample_bands)
        encoder = build_encoder(components=components, basis=basis, fixed=fixed,
                                brightness=brightness,
                                decoder=decoder, latent_dim=latent_dim, hidden=hidden,
                                epochs=epochs,
                                max_steps=max_steps,
                                patience=patience, lr=learning_rate, batch_size=batch_size,
                                seed=seed, device=device)
        with outputs(overwrite, scene_files(opened), quiet) as out:
            model_out = out.add(output, recognise=is_phism_encoder)
            encoder, n_pixels = fit_encoder_on_scenes(opened, encoder, max_pixels, tile_size,
                                                      quiet, model_out.tmp)
            sha256 = file_sha256(model_out.tmp)
    finally:
        for scene in opened:
            scene.close()
    t = encoder.training_
    how = f" after {t.epochs} epochs" if t.epochs else ", PCA in closed form"
    say(f"fitted {output}: val PSNR {t.val_psnr_db:.2f} dB{how} "
        f"({t.seconds:.1f} s, {n_pixels} pixels)", quiet)
    if json_out:
        emit_json({
            "model": str(output), "sha256": sha256, "val_psnr_db": t.val_psnr_db,
            "val_loss": t.val_loss, "epochs": t.epochs, "steps": t.steps,
            "best_epoch": t.best_epoch,
            "stopped_early": t.stopped_early, "seconds": t.seconds, "pixels": n_pixels,
            "train_pixels": t.train_pixels, "val_pixels": t.val_pixels,
            "scenes": [str(s) for s in scenes], "channel_names": encoder.channel_names_,
        })


def _check_model_name(output: Path) -> None:
    if output.suffix.lower() != ".safetensors":
        from phism_cli.errors import PhismError

        raise PhismError(f"{output}: name the encoder *.safetensors")
