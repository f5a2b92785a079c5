"""`phism encode` over many scenes with one encoder: skip, resume, encode, report.

Each scene is opened, checked against the encoder and written on its own (`encode_job`);
with `resume` a Zarr output an interrupted run left unfinished is continued.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phism_cli.io.outputs import OutputSet
from phism_cli.io.rasters import output_kind
from phism_cli.io.scene_formats import open_scene
from phism_cli.model.pca import Encoder
from phism_cli.pipeline.batch import BatchFlags, SceneJob
from phism_cli.pipeline.cross_sensor import scene_for_model
from phism_cli.pipeline.encode import make_refinement
from phism_cli.pipeline.encode_files import (
    EncodeSettings,
    encoder_device,
    inference_settings,
    latent_spec,
    reserve_latents,
    write_latents,
)
from phism_cli.pipeline.reporter import Reporter

OpenOutputs = Callable[[list[Path]], OutputSet]


def encode_job(job: SceneJob, encoder: Encoder, model_meta: dict[str, Any],
               settings: EncodeSettings, flags: BatchFlags, open_outputs: OpenOutputs,
               reporter: Reporter) -> dict[str, Any]:
    """Encode one scene of a batch into its output; returns the scene's summary record."""
    start = time.perf_counter()
    model_path = Path(model_meta["path"])
    opened = open_scene(job.input, **settings.scene_options)
    with opened, open_outputs([*opened.source_files, model_path]) as out:
        scene = scene_for_model(encoder, opened, model_path, settings.resample_bands)
        spec = latent_spec(scene, encoder, model_meta, settings)
        latents_out = reserve_latents(out, job.output, spec, flags.resume)
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
