"""`phism encode`: scenes to latent maps, tile by tile; one scene or a batch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from phism_cli.cli import batch_options as batch_opt
from phism_cli.cli import options as opt
from phism_cli.cli.aliases import with_aliases
from phism_cli.cli.common import build_encoder
from phism_cli.cli.scene_options import with_scene_options
from phism_cli.errors import PhismError


@with_scene_options
@with_aliases(refine_learning_rate="--refine-lr")
def encode(
    scenes: Annotated[list[Path], typer.Argument(
        help="Scenes to encode: one or many.")],
    output: batch_opt.BatchOutput = ...,
    model: Annotated[Path | None, typer.Option(
        "--model", "-m", help="Encoder from fit-encoder; without it one is fitted on a sample "
        "of all SCENES and saved (--save-model).")] = None,
    save_model: Annotated[Path | None, typer.Option(
        "--save-model", help="Where an encoder fitted here is saved (default: "
        "<stem>.encoder.safetensors beside one output, encoder.safetensors beside many).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option(
        "--batch-size", min=1, help="Pixels per encoder batch (default: automatic: 2048 on "
        "the CPU; on CUDA a power of two from free device memory).")] = None,
    precision: Annotated[str, typer.Option(
        "--precision", callback=opt.choice(("auto", "float32", "bfloat16", "float16")),
        help="Precision of the encoder network's layers: auto = float32 on the CPU, "
        "bfloat16 on CUDA (reconstruction within 0.01 dB of float32); the amplitude solve "
        "and the outputs stay float32.")] = "auto",
    resample_bands: Annotated[bool, typer.Option(
        "--resample-bands", help="Encode a scene of another sensor: resample its spectra onto "
        "the model's bands (Gaussian responses over the scene's spectrum); refused when it "
        "spans less than 90 % of the model's range.")] = False,
    tile_size: opt.TileSize = 256,
    device: opt.Device = "auto",
    threads: opt.Threads = None,
    components: opt.Components = 5,
    basis: opt.Basis = "skewnormal",
    brightness: opt.Brightness = True,
    decoder: opt.Decoder = "basis",
    latent_dim: opt.LatentDim = None,
    hidden: opt.Hidden = None,
    epochs: opt.Epochs = 50,
    max_steps: opt.MaxSteps = opt.DEFAULT_MAX_STEPS,
    patience: opt.Patience = 5,
    max_pixels: opt.MaxPixels = 200_000,
    seed: opt.Seed = 0,
    scene_options: dict | None = None,
    refine: Annotated[int, typer.Option(
        "--refine", min=0, metavar="N", help="Refine each pixel's latent by N steps of "
        "per-pixel optimisation through the renderer, starting from the encoder's output; "
        "reports the PSNR gain (basis decoder only).")] = 0,
    refine_learning_rate: Annotated[float, typer.Option(
        "--refine-learning-rate", min=1e-5, max=1.0, help="Adam step of --refine, as a "
        "fraction of each parameter's range.")] = 0.01,
    co: opt.CreationOptions = None,
    cog: opt.Cog = False,
    skip_existing: batch_opt.SkipExisting = False,
    resume: batch_opt.Resume = False,
    fail_fast: batch_opt.FailFast = False,
    workers: batch_opt.Workers = None,
    scheduler: batch_opt.Scheduler = None,
    overwrite: opt.Overwrite = False,
    json_out: opt.JsonOut = False,
    json_lines: batch_opt.JsonLines = False,
    quiet: opt.Quiet = False,
) -> None:
    """Encode SCENES into latent maps (OUTPUT ending .zarr or .tif; a folder or a template
    for many scenes)."""
    opt.apply_threads(threads)
    from phism_cli.cli.encode_batch import (
        fit_and_encode_one,
        fit_batch_encoder,
        run_scenes,
    )
    from phism_cli.pipeline.batch import (
        BatchFlags,
        BatchRun,
        check_jobs,
        is_batch_output,
        plan_outputs,
    )
    from phism_cli.pipeline.encode_batch import default_model_path
    from phism_cli.pipeline.encode_files import EncodeSettings
    from phism_cli.threads import configured_threads

    batch_opt.refuse_scale_out_conflicts(workers, scheduler)
    if refine and model is None and (decoder != "basis" or basis == "pca"):
        raise PhismError(f"--refine optimises the parameters of a physical renderer, and "
                         f"{'--basis pca' if basis == 'pca' else '--decoder ' + decoder} "
                         "has none; drop one of the two")
    if save_model is not None and model is not None:
        raise PhismError("--save-model names where an encoder fitted here goes, and with -m "
                         "none is fitted; drop one of the two")
    if refine and (workers or scheduler):
        raise PhismError("--refine runs in this process; drop --workers or --scheduler")
    jobs = plan_outputs(scenes, output, ".zarr")
    batch = is_batch_output(output, len(scenes))
    flags = BatchFlags(overwrite, skip_existing, resume, fail_fast or not batch)
    settings = EncodeSettings(
        scene_options,
        tile_size, batch_size, device, refine, refine_learning_rate,
        opt.geotiff_options(co, cog, *(j.output for j in jobs)), precision, resample_bands)
    cluster = None if not (workers or scheduler) else {
        "workers": workers, "scheduler": scheduler, "threads": configured_threads()}
    fit = {"components": components, "basis": basis, "decoder": decoder,
           "brightness": brightness, "latent_dim": latent_dim, "hidden": hidden,
           "epochs": epochs,
           "max_steps": max_steps, "patience": patience, "seed": seed, "device": device}
    printer = batch_opt.BatchPrinter(quiet, json_lines)
    run = BatchRun(flags.fail_fast, batch_opt.debug_mode(), on_result=printer)
    jobs = check_jobs(jobs, flags, run)
    fitted = model is None
    model_path = save_model or default_model_path(jobs, output, batch) if jobs else None
    if model is None and jobs and not (batch or resume or skip_existing or cluster):
        fit_and_encode_one(jobs[0], build_encoder(**fit), model_path, settings, max_pixels,
                           flags, run, quiet)
        jobs = []
    elif model is None and jobs:
        model, jobs = fit_batch_encoder(jobs, model_path, build_encoder(**fit), settings,
                                        max_pixels, flags, run, quiet)
    if jobs:
        run_scenes(jobs, model, settings, flags, run, quiet, cluster, fitted)
    printer.finish(run, batch, json_out)
