"""Options and reporting of the scene commands that take many scenes in one call.

Importing this module must stay cheap: no torch, GDAL or Dask.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from phism_cli.cli.common import emit_json, say

if TYPE_CHECKING:
    from phism_cli.pipeline.batch import BatchRun, SceneResult

BatchOutput = Annotated[Path, typer.Option(
    "--output", "-o", help="Output path for one input; for many, an existing folder "
    "(FOLDER/STEM.zarr for encode, FOLDER/STEM.tif otherwise) or a template such as "
    "'out/{stem}.tif' (fields {stem}, {name}, {parent}, {index}).")]
JsonLines = Annotated[bool, typer.Option(
    "--json-lines", help="Print one JSON line per scene on stdout as each one ends.")]
FailFast = Annotated[bool, typer.Option(
    "--fail-fast", help="Stop at the first scene that fails (default: go on with the "
    "others and exit non-zero at the end).")]
SkipExisting = Annotated[bool, typer.Option(
    "--skip-existing", help="Leave scenes whose output is already a finished phism output.")]
Resume = Annotated[bool, typer.Option(
    "--resume", help="Continue an interrupted run: finished outputs are skipped, and a Zarr "
    "output it left unfinished is continued from its last written tile (an interrupted "
    "run with --resume keeps its finished tiles for this).")]
Workers = Annotated[int | None, typer.Option(
    "--workers", min=1, max=1024, help="Run on a local Dask cluster of N worker processes.")]
Scheduler = Annotated[str | None, typer.Option(
    "--scheduler", metavar="ADDRESS", help="Run on the Dask distributed cluster at ADDRESS "
    "(tcp://host:8786 or a scheduler file); workers must see the same file system.")]


def debug_mode() -> bool:
    """The global --debug (phism --debug encode ...)."""
    import click

    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().params.get("debug"))


class BatchPrinter:
    """Per-scene lines on stderr (and JSON lines on stdout) and the batch's summary;
    `announce_done`: say "wrote ..." for finished scenes (else the command says it)."""

    def __init__(self, quiet: bool, json_lines: bool, announce_done: bool = True) -> None:
        self.quiet, self.json_lines, self.announce_done = quiet, json_lines, announce_done

    def __call__(self, result: SceneResult) -> None:
        job = result.job
        if result.status == "failed":
            say(f"failed: {job.input}: {result.error}", False)
        elif result.status == "skipped":
            say(f"skipped {job.input}: {job.output} exists", self.quiet)
        elif self.announce_done:
            resumed = result.record.get("resumed_tiles", 0)
            say(f"wrote {job.output}: {result.record.get('valid_pixels', 0)} of "
                f"{result.record.get('pixels', 0)} pixels valid"
                + (f" ({resumed} tiles from the interrupted run)" if resumed else ""),
                self.quiet)
            if result.record.get("nonfinite_pixels"):
                say(f"warning: the encoder gave NaN or infinite latents for "
                    f"{result.record['nonfinite_pixels']} valid pixels of {job.input} "
                    "(written as nodata); their values are far outside what the model was "
                    "trained on", self.quiet)
            if "psnr_before_db" in result.record:
                say(f"--refine {result.record['refine_steps']}: PSNR "
                    f"{result.record['psnr_before_db']:.2f} -> "
                    f"{result.record['psnr_after_db']:.2f} dB "
                    f"({result.record['refine_seconds']:.1f} s)", self.quiet)
        if self.json_lines:
            emit_json(result.to_json())

    def finish(self, run: BatchRun, batch: bool, json_out: bool) -> None:
        """The end of a command: a batch's summary (or one scene's record for --json), and
        the exit code of the first failure."""
        if batch:
            say(run.describe(), self.quiet and run.exit_code == 0)
            if json_out:
                emit_json(run.summary())
        elif json_out and run.results:
            emit_json(run.results[0].to_json())
        if run.exit_code:
            raise typer.Exit(run.exit_code)


def run_per_scene(inputs: list[Path], output: Path, suffix: str,
                  work: Callable[[Path, Path], dict[str, Any]], *, overwrite: bool,
                  skip_existing: bool, fail_fast: bool, json_out: bool, json_lines: bool,
                  quiet: bool) -> None:
    """Run `work(input, output)` for every input, each into its own output (see
    `pipeline.batch.plan_outputs`): one scene as before, or a batch with per-scene results,
    a summary and an exit code that says whether any scene failed."""
    from phism_cli.pipeline.batch import (
        BatchFlags,
        BatchRun,
        check_jobs,
        is_batch_output,
        plan_outputs,
    )

    jobs = plan_outputs(inputs, output, suffix)
    batch = is_batch_output(output, len(inputs))
    flags = BatchFlags(overwrite, skip_existing, False, fail_fast or not batch)
    printer = BatchPrinter(quiet, json_lines, announce_done=False)
    run = BatchRun(flags.fail_fast, debug_mode(), on_result=printer)
    for job in check_jobs(jobs, flags, run):
        run.run(job, lambda j: work(j.input, j.output))
    printer.finish(run, batch, json_out)


def refuse_scale_out_conflicts(workers: int | None, scheduler: str | None) -> None:
    from phism_cli.errors import PhismError

    if workers is not None and scheduler is not None:
        raise PhismError("--workers starts a local cluster and --scheduler names a running "
                         "one; give one of the two")
