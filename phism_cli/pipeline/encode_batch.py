"""`phism encode` over many scenes with one encoder: skip, resume, encode, report.

Each scene is opened, checked against the encoder and written on its own (`encode_job`);
with `resume` a Zarr output an interrupted run left unfinished is continued. One scene
without a model is fitted on and encoded in one step (`fit_and_encode_job`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phism_cli.io.files import file_sha256
from phism_cli.io.outputs import Output
from phism_cli.io.rasters import RasterSpec, is_phism_raster, output_kind
from phism_cli.io.scene import Scene
from phism_cli.io.scene_formats import open_scene
from phism_cli.model.encoder_file import is_phism_encoder
from phism_cli.model.pca import Encoder
from phism_cli.pipeline.batch import BatchFlags, SceneJob
from phism_cli.pipeline.cross_sensor import scene_for_model
from phism_cli.pipeline.encode import make_refinement
from phism_cli.pipeline.encode_files import (
    EncodeSettings,
    encoder_device,
    inference_settings,
    latent_spec,
    place_encoder,
    reserve_latents,
    write_latents,
)
from phism_cli.pipeline.encoder_fitting import fit_on_scenes
from phism_cli.pipeline.reporter import OpenOutputs, Reporter


def encode_job(job: SceneJob, encoder: Encoder, model_meta: dict[str, Any],
               settings: EncodeSettings, flags: BatchFlags, open_outputs: OpenOutputs,
               reporter: Reporter) -> dict[str, Any]:
    """Encode one scene of a batch into its output; returns the scene's summary record."""
    start = time.perf_counter()
    model_path = Path(model_meta["path"])
    opened = open_scene(job.input, **settings.scene_options)
    with opened, open_outputs([*opened.source_files, model_path]) as out:
        scene = scene_for_model(encoder, opened, model_path, settings.resample_bands)
        return _encode_into(
            job, scene, encoder, model_meta, settings, reporter, start,
            lambda spec: reserve_latents(out, job.output, spec, flags.resume))


def fit_and_encode_job(job: SceneJob, encoder: Encoder, model_path: Path,
                       settings: EncodeSettings, max_pixels: int, open_outputs: OpenOutputs,
                       reporter: Reporter) -> dict[str, Any]:
    """Fit the unfitted `encoder` on the job's scene, then encode the scene with it; the
    encoder (at `model_path`) and the latent map are committed together."""
    start = time.perf_counter()
    scene = open_scene(job.input, **settings.scene_options)
    with scene, open_outputs(scene.source_files) as out:
        latents_out = out.add(job.output, recognise=is_phism_raster)
        model_out = out.add(model_path, recognise=is_phism_encoder)
        reporter.say(f"no --model given: fitting an encoder on {job.input} first")
        fit_on_scenes([scene], encoder, max_pixels, settings.tile_size, reporter,
                      model_out.tmp)
        model_meta = {"sha256": file_sha256(model_out.tmp), "path": str(model_path),
                      "fitted": True}
        place_encoder(encoder, settings.device)
        return _encode_into(job, scene, encoder, model_meta, settings, reporter, start,
                            lambda spec: latents_out)


def _encode_into(job: SceneJob, scene: Scene, encoder: Encoder, model_meta: dict[str, Any],
                 settings: EncodeSettings, reporter: Reporter, start: float,
                 reserve: Callable[[RasterSpec], Output]) -> dict[str, Any]:
    """Encode the open `scene` into the output `reserve(spec)` gives; the scene's record."""
    model_path = Path(model_meta["path"])
    spec = latent_spec(scene, encoder, model_meta, settings)
    latents_out = reserve(spec)
    if latents_out.adopted:
        reporter.say(f"{job.output}: continuing the tiles an interrupted run wrote")
    inference = inference_settings(encoder, settings)
    refinement = make_refinement(encoder, settings.refine, settings.refine_lr, model_path)
    encode_start = time.perf_counter()
    with reporter.progress(f"encoding {job.input.name}",
                           scene.height * scene.width) as advance:
        counts = write_latents(scene, encoder, spec, latents_out, settings, model_path,
                               on_tile=advance, refinement=refinement)
    encode_seconds = time.perf_counter() - encode_start
    refined = {} if refinement is None else refinement.summary()
    return {"format": output_kind(job.output), "model": str(model_path),
            "model_sha256": model_meta["sha256"], **counts,
            "channels": spec.channel_names, "height": spec.height, "width": spec.width,
            "crs": None if spec.crs is None else spec.crs.to_string(),
            "seconds": time.perf_counter() - start, "encode_seconds": encode_seconds,
            "pixels_per_second": counts["pixels"] / max(encode_seconds, 1e-9),
            "device": encoder_device(encoder), **inference,
            "fitted_model": bool(model_meta.get("fitted")),
            "refine_steps": settings.refine, **refined}


def default_model_path(jobs: list[SceneJob], output: Path, batch: bool) -> Path:
    """Where a batch saves the encoder it fits: beside the outputs."""
    if not batch:
        first = jobs[0].output
        return first.with_name(f"{first.stem}.encoder.safetensors")
    folder = output if output.is_dir() and "{" not in str(output) else jobs[0].output.parent
    return folder / "encoder.safetensors"
