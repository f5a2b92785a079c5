"""`encode` on a Dask distributed cluster: blocks of tiles and whole scenes as tasks.

This process stays the only one that reserves, commits or removes outputs (`io.outputs`)
and keeps the progress record of a resumable store; workers only encode and write:
- a Zarr output is created here, then split into blocks of whole tiles; a worker writes the
  chunks of its block and nothing else (a tile is a chunk, so each chunk has one writer);
- a GeoTIFF output is one task: one worker writes the whole file, as a serial run would.
When every block of a scene is back, the store is finished and committed here. Tiles,
encoder and code are those of a serial run, so the output is byte for byte the same.
Workers must see the same file system as this process (scenes, model and outputs).
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any

from rasterio.windows import Window

from phism_cli.errors import PhismError
from phism_cli.io.outputs import Output
from phism_cli.io.rasters import RasterSpec, RasterWriter, output_kind
from phism_cli.io.scene_formats import open_scene
from phism_cli.model.pca import Encoder
from phism_cli.pipeline.batch import (
    FAILED,
    BatchFlags,
    BatchRun,
    SceneJob,
    SceneResult,
    describe_failure,
    finished_output,
)
from phism_cli.pipeline.cross_sensor import scene_for_model
from phism_cli.pipeline.encode_files import (
    EncodeSettings,
    check_counts,
    inference_settings,
    latent_spec,
    open_latent_writer,
    reserve_latents,
)
from phism_cli.pipeline.reporter import OpenOutputs, Reporter
from phism_cli.pipeline.resume import TileProgress, ZarrTileWriter

WindowTuple = tuple[int, int, int, int]  # col_off, row_off, width, height


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        # A dependency of phism's: missing only from an environment changed by hand.
        raise PhismError("--workers and --scheduler need Dask distributed, which this "
                         "environment lacks: pip install 'distributed>=2024.8'") from None
    return distributed


@contextmanager
def cluster_client(workers: int | None, scheduler: str | None,
                   threads: int) -> Iterator[Any]:
    """A `distributed.Client`: of a new local cluster of `workers` processes sharing
    `threads`, or of the scheduler at `scheduler` (an address or a scheduler file)."""
    distributed = _distributed()
    import logging

    if scheduler is not None:
        try:
            if os.path.isfile(scheduler):
                client = distributed.Client(scheduler_file=scheduler)
            else:  # waits distributed.comm.timeouts.connect (Dask's config; 30 s by default)
                client = distributed.Client(scheduler)
        except (OSError, TimeoutError, ValueError) as exc:
            raise PhismError(f"--scheduler {scheduler}: cannot reach a Dask scheduler "
                             f"({' '.join(str(exc).split())[:120]}); check the address and "
                             "that the scheduler runs") from None
        with client:
            yield client
        return
    n = workers or 1
    cluster = _start_local_cluster(
        distributed, n_workers=n, threads_per_worker=max(1, threads // n), processes=True,
        # Off stderr, which carries phism's lines: distributed's own records, down to the
        # errors its workers log when they are closed in the middle of a heartbeat (phism
        # reports what went wrong with a task itself).
        dashboard_address=None, silence_logs=logging.CRITICAL)
    try:
        with distributed.Client(cluster) as client:
            yield client
    finally:
        cluster.close()


# The signals a terminal sends its whole foreground process group (Ctrl-C, a closed window).
TERMINAL_SIGNALS = {signal.SIGINT, signal.SIGHUP}


def _start_local_cluster(distributed: Any, **options: Any) -> Any:
    """A started `distributed.LocalCluster` whose worker processes never get the terminal's
    SIGINT or SIGHUP, with this process's main thread answering every signal meanwhile.

    Why: the workers share phism's process group, so Ctrl-C reached each of them too and each
    died printing its own KeyboardInterrupt traceback (and, killed half-way, leaked
    multiprocessing semaphores) while this process was closing the cluster in order. A signal
    mask is inherited by the threads a thread starts and by the processes they spawn (fork and
    exec keep it), and the cluster's event loop thread, which the nanny spawns every worker
    (and every restarted one) from, is started by the thread that creates the cluster. So the
    cluster is created in a helper thread that blocks SIGINT and SIGHUP first: no worker can
    ever take them, from its first instruction on, and this process, whose main thread keeps
    its own mask, closes the workers through their nannies. SIGTERM stays deliverable, since
    the nanny ends a worker that does not stop in time with it. An interruption while the
    cluster starts waits for the start to end (further signals as during any clean-up), then
    closes what was started, so no worker is left to die on its own."""
    result: dict[str, Any] = {}

    def start() -> None:
        # multiprocessing's resource tracker (started on the first semaphore, by the process
        # that creates it) ignores SIGINT and SIGTERM but not SIGHUP, and unblocks SIGINT in
        # the thread that starts it: start it here, with the mask, then block again.
        signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
        resource_tracker.ensure_running()
        signal.pthread_sigmask(signal.SIG_BLOCK, TERMINAL_SIGNALS)
        try:
            result["cluster"] = distributed.LocalCluster(**options)
        except BaseException as exc:  # handed to the main thread
            result["error"] = exc

    thread = threading.Thread(target=start, name="phism: start the Dask cluster", daemon=True)
    thread.start()
    try:
        while thread.is_alive():
            thread.join(0.2)
    except BaseException:
        thread.join()
        if "cluster" in result:
            with contextlib.suppress(Exception):
                result["cluster"].close()
        raise
    if "error" in result:
        raise result["error"]
    return result["cluster"]


def worker_count(client: Any) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


# -- work done on the workers --------------------------------------------------------------
_ENCODERS: dict[tuple[str, str, str], Encoder] = {}


def _worker_encoder(model_path: str, sha256: str, settings: EncodeSettings) -> Encoder:
    """The encoder of `model_path`, loaded once per worker process and checked by hash."""
    device = settings.device
    key = (model_path, sha256, device)
    if key not in _ENCODERS:
        from phism_cli.model.checkpoint import load_encoder
        from phism_cli.threads import configure_threads

        with contextlib.suppress(ImportError, ValueError, AttributeError):
            import distributed

            configure_threads(distributed.get_worker().state.nthreads)
        encoder, meta = load_encoder(model_path)
        if meta["sha256"] != sha256:
            raise PhismError(f"{model_path}: changed while the batch ran (another sha256 "
                             "on a worker); rerun")
        try:
            encoder.to(device)
        except (ValueError, RuntimeError) as exc:
            raise PhismError(f"--device {device} on a Dask worker: "
                             f"{' '.join(str(exc).split())}") from None
        _ENCODERS.clear()
        _ENCODERS[key] = encoder
    inference_settings(_ENCODERS[key], settings)
    return _ENCODERS[key]


def _stop_if_abandoned() -> Callable[[], None]:
    """A check, made after each tile a task writes, that raises once the task's work is no
    longer wanted: its worker is closing (phism closes the local cluster when interrupted)
    or the task was cancelled (phism cancels its tasks on a remote cluster). The worker then
    closes at once rather than after the block, and stops writing into a partial output that
    the driver keeps or removes. The task fails rather than returning the tiles done so far,
    so a block is never mistaken for finished."""
    try:
        import distributed
        from distributed.core import Status

        worker = distributed.get_worker()
        key = worker.get_current_task()
    except (ImportError, ValueError, KeyError, AttributeError):  # not on a worker
        return lambda: None

    def check() -> None:
        task = worker.state.tasks.get(key)
        if worker.status in (Status.closing, Status.closed) or task is None \
                or task.state == "cancelled":
            raise PhismError("the Dask worker stopped this task before it was done "
                             "(the cluster is closing or the run was abandoned); rerun")

    return check


def encode_block_task(scene_path: str, settings: EncodeSettings, model: dict[str, Any],
                      store: str, spec: RasterSpec,
                      windows: list[WindowTuple]) -> list[tuple[WindowTuple, int, int]]:
    """Encode `windows` of a scene into the existing Zarr `store`; per tile (valid,
    nonfinite) counts."""
    from phism_cli.pipeline.encode import encode_scene

    stop_if_abandoned = _stop_if_abandoned()
    encoder = _worker_encoder(model["path"], model["sha256"], settings)
    stop_if_abandoned()  # loading the encoder may have taken seconds
    done: list[tuple[WindowTuple, int, int]] = []

    def written(w: Window, valid: int, nonfinite: int) -> None:
        done.append(((int(w.col_off), int(w.row_off), int(w.width), int(w.height)), valid,
                     nonfinite))
        stop_if_abandoned()

    with open_scene(scene_path, **settings.scene_options) as opened:
        scene = scene_for_model(encoder, opened, Path(model["path"]), settings.resample_bands)
        writer = ZarrTileWriter(Path(store), spec)
        encode_scene(scene, encoder, writer, tile_size=settings.tile_size,
                     batch_size=settings.batch_size,
                     windows=[Window(*w) for w in windows], on_written=written)
    return done


def encode_geotiff_task(scene_path: str, settings: EncodeSettings, model: dict[str, Any],
                        tmp: str, spec: RasterSpec, name: str) -> dict[str, int]:
    """Encode a whole scene into a new GeoTIFF at `tmp` (one writer per GeoTIFF)."""
    from phism_cli.pipeline.encode import encode_scene

    stop_if_abandoned = _stop_if_abandoned()
    encoder = _worker_encoder(model["path"], model["sha256"], settings)
    stop_if_abandoned()
    with open_scene(scene_path, **settings.scene_options) as opened, \
            RasterWriter(Path(tmp), spec, "tif", name=name) as writer:
        scene = scene_for_model(encoder, opened, Path(model["path"]), settings.resample_bands)
        counts = encode_scene(scene, encoder, writer, tile_size=settings.tile_size,
                              batch_size=settings.batch_size,
                              on_written=lambda *_: stop_if_abandoned())
        check_counts(counts, scene.path, model["path"])
    return counts


# -- the driver, in this process --------------------------------------------------------------
@dataclass
class _SceneState:
    """A scene in flight: its reserved output, writer, progress and outstanding tasks."""

    job: SceneJob
    stack: ExitStack
    output: Output
    spec: RasterSpec
    windows: list[Window]
    progress: TileProgress | None
    writer: RasterWriter | None
    pending: set[str] = field(default_factory=set)
    counts: dict[str, int] = field(default_factory=lambda: {
        "pixels": 0, "valid_pixels": 0, "nonfinite_pixels": 0})
    resumed_tiles: int = 0


def _blocks(windows: list[Window], n_workers: int) -> list[list[WindowTuple]]:
    per_block = max(1, math.ceil(len(windows) / (2 * n_workers)))
    tuples = [(int(w.col_off), int(w.row_off), int(w.width), int(w.height)) for w in windows]
    return [tuples[i:i + per_block] for i in range(0, len(tuples), per_block)]


class DistributedEncode:
    """Submit a batch's scenes to `client` and finish each scene's output as it completes."""

    def __init__(self, client: Any, encoder: Encoder, model: dict[str, Any],
                 settings: EncodeSettings, flags: BatchFlags, open_outputs: OpenOutputs,
                 reporter: Reporter, run: BatchRun) -> None:
        self.client, self.encoder, self.model = client, encoder, model
        self.settings, self.flags = settings, flags
        self.open_outputs, self.reporter, self.run_ = open_outputs, reporter, run
        self.n_workers = worker_count(client)
        self.futures: dict[str, tuple[_SceneState, list[WindowTuple] | None, Any]] = {}

    def run(self, jobs: list[SceneJob], advance: Callable[[int], None]) -> None:
        distributed = _distributed()
        queue = list(jobs)
        states: list[_SceneState] = []
        completed = distributed.as_completed()
        try:
            while queue or self.futures:
                while queue and len(states) < 2 * self.n_workers:
                    state = self._start(queue.pop(0), advance)
                    if state is None:
                        continue
                    states.append(state)
                    for future in self._submit(state):
                        completed.add(future)
                    if not state.pending:  # every tile was written by an interrupted run
                        states.remove(state)
                        self._finish_or_fail(state)
                if not self.futures:
                    continue
                future = next(completed)
                entry = self.futures.pop(future.key, None)
                if entry is None:  # a task of a scene that failed already
                    continue
                state, block, _ = entry
                try:
                    self._collect(state, future, block, advance)
                except Exception as exc:
                    states.remove(state)
                    self._fail(state, exc)
                    continue
                if not state.pending:
                    states.remove(state)
                    self._finish_or_fail(state)
        except BaseException as exc:
            self._abort()
            for state in states:
                state.stack.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def _abort(self) -> None:
        """Stop the tasks before outputs are removed or kept: a local cluster is closed (its
        workers end); a remote one finishes the blocks it runs, into hidden partial stores
        that the next run removes or, with --resume, continues."""
        self.client.cancel([f for _, _, f in self.futures.values()])
        self.futures.clear()
        cluster = getattr(self.client, "cluster", None)
        if cluster is not None:
            with contextlib.suppress(Exception):  # the cluster is being torn down anyway
                cluster.close()

    def _start(self, job: SceneJob, advance: Callable[[int], None]) -> _SceneState | None:
        try:
            skipped = finished_output(job, self.flags)
            if skipped is not None:
                self.run_.add(skipped)
                return None
            return self._reserve(job, advance)
        except Exception as exc:
            if self.flags.fail_fast:
                raise
            message, code = describe_failure(exc)
            self.run_.add(SceneResult(job, FAILED, error=message, exit_code=code))
            return None

    def _reserve(self, job: SceneJob, advance: Callable[[int], None]) -> _SceneState:
        stack = ExitStack()
        try:
            opened = stack.enter_context(open_scene(job.input, **self.settings.scene_options))
            model_path = Path(self.model["path"])
            out = self.open_outputs([*opened.source_files, model_path])
            stack.push(out.__exit__)  # commit on a normal exit, discard (or keep) on failure
            scene = scene_for_model(self.encoder, opened, model_path,
                                    self.settings.resample_bands)
            spec = latent_spec(scene, self.encoder, self.model, self.settings)
            output = reserve_latents(out, job.output, spec, self.flags.resume)
            windows = list(scene.windows(self.settings.tile_size))
            progress, writer = None, None
            if output_kind(job.output) == "zarr":
                writer, progress = open_latent_writer(output, spec)
            state = _SceneState(job, stack, output, spec, windows, progress, writer)
            if progress is not None and progress.done:
                state.counts = progress.counts(windows)
                state.resumed_tiles = sum(progress.is_done(w) for w in windows)
                advance(state.counts["pixels"])
            return state
        except BaseException as exc:  # discard (or keep) what was reserved, never commit
            stack.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def _submit(self, state: _SceneState) -> list[Any]:
        # Workers may run in other folders: every path they get is absolute.
        s, model = self.settings, {**self.model, "path": os.path.abspath(self.model["path"])}
        if state.writer is None:
            futures = [self.client.submit(
                encode_geotiff_task, os.path.abspath(state.job.input), s, model,
                os.path.abspath(state.output.tmp),
                state.spec, str(state.job.output), pure=False)]
            blocks: list[list[WindowTuple] | None] = [None]
        else:
            todo = [w for w in state.windows
                    if state.progress is None or not state.progress.is_done(w)]
            blocks = list(_blocks(todo, self.n_workers))
            futures = [self.client.submit(
                encode_block_task, os.path.abspath(state.job.input), s, model,
                os.path.abspath(state.output.tmp),
                state.spec, block, pure=False) for block in blocks]
        for future, block in zip(futures, blocks, strict=True):
            self.futures[future.key] = (state, block, future)
            state.pending.add(future.key)
        return futures

    def _collect(self, state: _SceneState, future: Any, block: list[WindowTuple] | None,
                 advance: Callable[[int], None]) -> None:
        state.pending.discard(future.key)
        result = future.result()
        if block is None:  # a whole GeoTIFF
            state.counts = dict(result)
            advance(result["pixels"])
            return
        resumable = state.output.keep_partial or state.output.adopted
        for (col, row, width, height), valid, nonfinite in result:
            if resumable and state.progress is not None:
                state.progress.record(Window(col, row, width, height), valid, nonfinite)
            state.counts["pixels"] += width * height
            state.counts["valid_pixels"] += valid
            state.counts["nonfinite_pixels"] += nonfinite
            advance(width * height)

    def _finish_or_fail(self, state: _SceneState) -> None:
        try:
            self._finish(state)
        except Exception as exc:
            self._fail(state, exc)
        except BaseException as exc:  # interrupted while finishing: not committed
            state.stack.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def _finish(self, state: _SceneState) -> None:
        if state.writer is not None:
            check_counts(state.counts, state.job.input, self.model["path"])
            if state.progress is not None and state.progress.path.exists():
                state.progress.remove()
            state.writer.close(complete=True)
        state.stack.close()  # commits the output
        self.run_.add(SceneResult(state.job, "done", {
            "format": output_kind(state.job.output), "model": self.model["path"],
            "model_sha256": self.model["sha256"], **state.counts,
            "resumed_tiles": state.resumed_tiles, "channels": state.spec.channel_names,
            "height": state.spec.height, "width": state.spec.width}))

    def _fail(self, state: _SceneState, exc: Exception) -> None:
        for key in list(state.pending):
            entry = self.futures.pop(key, None)
            if entry is not None:
                entry[2].cancel()
        state.pending.clear()
        state.stack.__exit__(type(exc), exc, exc.__traceback__)
        if self.flags.fail_fast:
            raise exc
        message, code = describe_failure(exc)
        self.run_.add(SceneResult(state.job, FAILED, error=message, exit_code=code))
