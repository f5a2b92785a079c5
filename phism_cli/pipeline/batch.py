"""Many scenes in one call: output names, per-scene outcomes and the batch's summary.

`plan_outputs` turns the inputs and `-o` into one output path per scene (a file for one
scene, a folder or a `{stem}` template for many) and refuses clashes before any work.
`BatchFlags` say what happens to outputs that exist (`check_jobs` skips or refuses them
before any work); `BatchRun` runs a function per scene, turning each scene's failure into a
result rather than the end of the batch (unless `fail_fast`), and counts what was done,
skipped and failed.
"""

from __future__ import annotations

import os
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phism_cli.errors import PhismError
from phism_cli.io.outputs import check_output_path
from phism_cli.text import plural

Recogniser = Callable[[Path], bool]


def is_finished_raster(path: Path) -> bool:
    """A GeoTIFF or Zarr store phism wrote and finished (what a batch may skip)."""
    from phism_cli.io.rasters import is_phism_raster, phism_raster_metadata

    meta = phism_raster_metadata(path)
    return meta is not None and is_phism_raster(path) and meta.get("complete") is not False

TEMPLATE_FIELDS = ("stem", "name", "parent", "index")
DONE, SKIPPED, FAILED = "done", "skipped", "failed"


@dataclass(frozen=True)
class SceneJob:
    """One scene of a batch and the output it becomes."""

    input: Path
    output: Path
    index: int = 0


def scene_stem(path: Path) -> str:
    """A scene's name without its format suffix (ENVI headers, GeoTIFF, Zarr, ...)."""
    return path.name.removesuffix(".gz").rsplit(".", 1)[0] if "." in path.name else path.name


def _fill_template(template: str, scene: Path, index: int) -> Path:
    fields = {"stem": scene_stem(scene), "name": scene.name,
              "parent": scene.parent.name, "index": index}
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise PhismError(f"-o {template}: not a valid template ({exc}); use fields such as "
                         "{stem}, e.g. -o 'out/{stem}.zarr'") from None
    unknown = sorted(names - set(TEMPLATE_FIELDS))
    if unknown:
        raise PhismError(f"-o {template}: unknown field {{{unknown[0]}}}; use "
                         f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)}")
    return Path(template.format(**fields))


def is_batch_output(output: Path, n_inputs: int) -> bool:
    """True when `-o` names a folder or template (one output per scene) rather than a file."""
    text = str(output)
    return (n_inputs > 1 or "{" in text or text.endswith(os.sep)
            or (output.is_dir() and output.suffix.lower() != ".zarr"))


def plan_outputs(inputs: Sequence[Path], output: Path, suffix: str) -> list[SceneJob]:
    """One output per input: `output` itself for one scene named as a file; else a folder
    (`FOLDER/STEM{suffix}`) or a template with {stem}, {name}, {parent} or {index}."""
    if not inputs:
        raise PhismError("no input scenes given")
    text = str(output)
    if not is_batch_output(output, len(inputs)):
        jobs = [SceneJob(Path(inputs[0]), output)]
    elif "{" in text:
        jobs = [SceneJob(Path(p), _fill_template(text, Path(p), i), i)
                for i, p in enumerate(inputs)]
    elif output.is_dir() and output.suffix.lower() != ".zarr":
        jobs = [SceneJob(Path(p), output / f"{scene_stem(Path(p))}{suffix}", i)
                for i, p in enumerate(inputs)]
    else:
        raise PhismError(f"-o {output}: {len(inputs)} scenes need an existing folder or a "
                         f"template such as -o 'out/{{stem}}{suffix}', one output each")
    _refuse_clashes(jobs)
    return jobs


def _refuse_clashes(jobs: list[SceneJob]) -> None:
    seen: dict[str, Path] = {}
    inputs = {os.path.abspath(j.input) for j in jobs}
    for job in jobs:
        key = os.path.abspath(job.output)
        if key in seen:
            raise PhismError(f"{job.output}: the output of both {seen[key]} and {job.input}; "
                             "use a template that tells them apart, such as "
                             "-o 'out/{parent}_{stem}.zarr' or '{index}'")
        if key in inputs:
            raise PhismError(f"{job.output}: is also an input of this command; write the "
                             "outputs elsewhere")
        seen[key] = job.input


@dataclass
class SceneResult:
    """What became of one scene: its status, its summary record, or its error."""

    job: SceneJob
    status: str
    record: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    exit_code: int = 0

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input": str(self.job.input), "output": str(self.job.output),
                               "status": self.status}
        if self.error is not None:
            out.update(error=self.error, exit_code=self.exit_code)
        return {**out, **self.record}


def describe_failure(exc: Exception) -> tuple[str, int]:
    """A scene's failure as one sentence and an exit code."""
    if isinstance(exc, PhismError):
        return " ".join(str(exc).split()), exc.exit_code
    if isinstance(exc, MemoryError):
        return "out of memory; try a smaller --tile-size or --batch-size", 1
    if isinstance(exc, OSError) and exc.filename:
        from phism_cli.io.outputs import describe_os_error

        return describe_os_error(exc, "read or write", Path(str(exc.filename))), 1
    text = " ".join(str(exc).split()) or "no details"
    return f"unexpected {type(exc).__name__}: {text} (rerun with --debug)", 1


class BatchRun:
    """Run scenes one after another, keeping each scene's outcome.

    A scene's error becomes a failed result and the batch goes on, unless `fail_fast`
    (then the error is raised as it came). Interruptions always end the batch.
    """

    def __init__(self, fail_fast: bool = False, debug: bool = False,
                 on_result: Callable[[SceneResult], None] | None = None) -> None:
        self.fail_fast, self.debug = fail_fast, debug
        self.on_result = on_result
        self.results: list[SceneResult] = []
        self.started = time.perf_counter()

    def add(self, result: SceneResult) -> SceneResult:
        self.results.append(result)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def run(self, job: SceneJob,
            work: Callable[[SceneJob], dict[str, Any] | SceneResult]) -> SceneResult:
        """`work(job)` returns the scene's record, or a result of its own (a skip)."""
        try:
            record = work(job)
        except Exception as exc:
            if self.fail_fast or (self.debug and not isinstance(exc, PhismError)):
                raise
            message, code = describe_failure(exc)
            return self.add(SceneResult(job, FAILED, error=message, exit_code=code))
        if isinstance(record, SceneResult):
            return self.add(record)
        return self.add(SceneResult(job, DONE, record))

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def exit_code(self) -> int:
        """0 when no scene failed, else the exit code of the first failure."""
        return next((r.exit_code for r in self.results if r.status == FAILED), 0)

    def summary(self) -> dict[str, Any]:
        return {"scenes": len(self.results), DONE: self.count(DONE),
                SKIPPED: self.count(SKIPPED), FAILED: self.count(FAILED),
                "seconds": time.perf_counter() - self.started,
                "results": [r.to_json() for r in
                            sorted(self.results, key=lambda r: r.job.index)]}

    def describe(self) -> str:
        line = (f"{self.count(DONE)} done, {self.count(SKIPPED)} skipped, "
                f"{self.count(FAILED)} failed of {plural(len(self.results), 'scene')}")
        failed = [r for r in self.results if r.status == FAILED]
        if failed:
            line += f"; first failure: {failed[0].job.input}: {failed[0].error}"
        return line


@dataclass
class BatchFlags:
    """What to do with outputs that exist or were left unfinished."""

    overwrite: bool = False
    skip_existing: bool = False
    resume: bool = False
    fail_fast: bool = False

    def __post_init__(self) -> None:
        if self.skip_existing and self.overwrite:
            raise PhismError("--skip-existing keeps existing outputs and --overwrite replaces "
                             "them; give one of the two")

    @property
    def skips_finished(self) -> bool:
        """--skip-existing, or --resume without --overwrite: finished outputs stay."""
        return self.skip_existing or (self.resume and not self.overwrite)


def finished_output(job: SceneJob, flags: BatchFlags,
                    recognise: Recogniser = is_finished_raster) -> SceneResult | None:
    """A skipped result when `job.output` is a finished phism output that stays, else None.

    An existing path that `recognise` does not accept is refused, not skipped: a run that
    was meant to make it has not."""
    path = job.output
    if not flags.skips_finished or not (path.exists() or path.is_symlink()):
        return None
    if path.is_symlink() or not recognise(path):
        raise PhismError(f"{path}: exists and is not a finished phism output, so it cannot "
                         "be skipped; move it away or pass --overwrite")
    return SceneResult(job, SKIPPED, {"reason": "output exists"})


def check_jobs(jobs: list[SceneJob], flags: BatchFlags, run: BatchRun,
               recognise: Recogniser = is_finished_raster) -> list[SceneJob]:
    """Before any work: skip finished outputs, fail scenes whose output cannot be written
    (folder missing, exists without --overwrite, ...); the others remain."""
    remaining = []
    for job in jobs:
        try:
            skipped = finished_output(job, flags, recognise)
            if skipped is not None:
                run.add(skipped)
                continue
            check_output_path(job.output, flags.overwrite, recognise, [job.input])
        except PhismError as exc:
            if flags.fail_fast:
                raise
            message, code = describe_failure(exc)
            run.add(SceneResult(job, FAILED, error=message, exit_code=code))
            continue
        remaining.append(job)
    return remaining
