"""The scene loop of `phism encode`: the batch's encoder, then each scene, here or on Dask."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phism_cli.cli.common import (
    CliReporter,
    fit_encoder_on_scenes,
    outputs,
    progress_bar,
    say,
)
from phism_cli.text import plural

if TYPE_CHECKING:
    from phism_cli.model.pca import Encoder
    from phism_cli.pipeline.batch import BatchFlags, BatchRun, SceneJob
    from phism_cli.pipeline.encode_files import EncodeSettings


def fit_batch_encoder(jobs: list[SceneJob], path: Path, encoder: Encoder,
                      settings: EncodeSettings, max_pixels: int, flags: BatchFlags,
                      run: BatchRun, quiet: bool) -> tuple[Path, list[SceneJob]]:
    """Fit one encoder on a sample of every scene that opens and save it at `path` before
    any scene is encoded; with --resume or --skip-existing an encoder already there is
    reused. Scenes that do not open are failed results; returns the path and the others."""
    from phism_cli.io.scene_formats import open_scene
    from phism_cli.model.encoder_file import is_phism_encoder
    from phism_cli.pipeline.batch import FAILED, SceneResult, describe_failure
    from phism_cli.pipeline.cross_sensor import on_common_bands

    if flags.skips_finished and path.is_file() and is_phism_encoder(path):
        say(f"reusing the batch's encoder {path} (fitted by an earlier run)", quiet)
        return path, jobs
    scenes, kept = [], []
    allow_open_files(len(jobs))
    try:
        for job in jobs:
            try:
                scenes.append(open_scene(job.input, **settings.scene_options))
                kept.append(job)
            except Exception as exc:
                if flags.fail_fast:
                    raise
                message, code = describe_failure(exc)
                run.add(SceneResult(job, FAILED, error=message, exit_code=code))
        if not scenes:
            return path, []
        with outputs(flags.overwrite, [f for s in scenes for f in s.source_files],
                     quiet) as out:
            model_out = out.add(path, recognise=is_phism_encoder)
            say(f"no --model given: fitting one encoder on {plural(len(scenes), 'scene')}", quiet)
            training = on_common_bands(scenes, settings.resample_bands)
            fit_encoder_on_scenes(training, encoder, max_pixels, settings.tile_size, quiet,
                                  model_out.tmp)
    finally:
        for scene in scenes:
            scene.close()
    say(f"saved the batch's encoder to {path} (reuse it with -m)", quiet)
    return path, kept


def fit_and_encode_one(job: SceneJob, encoder: Encoder, model_path: Path,
                       settings: EncodeSettings, max_pixels: int, flags: BatchFlags,
                       run: BatchRun, quiet: bool) -> None:
    """One scene without -m: fit `encoder` on it, then encode it with it."""
    from phism_cli.pipeline.encode_batch import fit_and_encode_job

    result = run.run(job, lambda j: fit_and_encode_job(
        j, encoder, model_path, settings, max_pixels,
        lambda inputs: outputs(flags.overwrite, inputs, quiet), CliReporter(quiet)))
    if result.status == "done":
        say(f"saved the encoder to {model_path} (reuse it with -m)", quiet)


def allow_open_files(n_scenes: int) -> None:
    """Sampling holds every scene of the batch open: raise the soft limit on open files
    towards the hard one (a default of 1024 would stop a batch of a few hundred scenes)."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * n_scenes + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def run_scenes(jobs: list[SceneJob], model: Path, settings: EncodeSettings,
               flags: BatchFlags, run: BatchRun, quiet: bool,
               cluster: dict[str, Any] | None, fitted: bool = False) -> None:
    """Encode every job with the encoder at `model`: in this process, or on a Dask cluster
    (`cluster`: workers, scheduler, threads)."""
    from phism_cli.model.checkpoint import load_encoder
    from phism_cli.pipeline.batch import finished_output
    from phism_cli.pipeline.encode_batch import encode_job
    from phism_cli.pipeline.encode_files import place_encoder

    encoder, meta = load_encoder(model)
    meta.update(path=str(model), fitted=fitted)
    if cluster is None or cluster.get("scheduler") is None:
        place_encoder(encoder, settings.device)  # here, or a check for local workers
    reporter = CliReporter(quiet)

    def open_outputs(inputs: list[Path]) -> Any:
        return outputs(flags.overwrite, inputs, quiet)

    if cluster is not None:
        from phism_cli.pipeline.distributed import DistributedEncode, cluster_client

        with cluster_client(**cluster) as client, progress_bar(quiet) as bar:
            task = bar.add_task(f"encoding {plural(len(jobs), 'scene')} on Dask", total=None)
            DistributedEncode(client, encoder, meta, settings, flags, open_outputs,
                              reporter, run).run(jobs, lambda n: bar.advance(task, n))
        return
    for job in jobs:
        run.run(job, lambda j: finished_output(j, flags) or encode_job(
            j, encoder, meta, settings, flags, open_outputs, reporter))
