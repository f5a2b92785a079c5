"""encode_scene with reading, encoding and writing overlapped in threads: the same bytes as
the plain loop, errors and interrupts in the caller's thread, no thread left behind."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
import torch
import zarr
from rasterio.windows import Window

from phism_cli import interrupts
from phism_cli.io.rasters import RasterSpec, RasterWriter
from phism_cli.io.scene import iter_windows
from phism_cli.io.scene_formats import open_scene
from phism_cli.model import PhismEncoder
from phism_cli.pipeline import encode as encode_module
from phism_cli.pipeline.encode import _encode_tiles, encode_scene
from phism_cli.pipeline.overlap import Overlapped
from phism_cli.pixels import valid_mask
from tests.conftest import smooth_cube, write_envi

ROWS, COLS, BANDS = 37, 29, 24


@pytest.fixture(scope="module")
def scene_path(tmp_path_factory):
    cube = smooth_cube(ROWS, COLS, BANDS, seed=3)
    cube[2, 3] = np.nan  # invalid: not finite
    cube[5, :4] = 0.0  # invalid: all zeros
    cube[9:17, 8:16] = np.nan  # a whole 8 x 8 tile invalid
    cube[20, 20, 5] = 1e30  # valid, and far outside the training data
    return write_envi(tmp_path_factory.mktemp("scene") / "cube.img", cube)


@pytest.fixture(scope="module")
def encoder(scene_path):
    with open_scene(scene_path) as scene:
        block = scene.read()
    torch.manual_seed(0)
    return PhismEncoder(n_components=3, hidden=(64, 96), epochs=1, device="cpu",
                        seed=0).fit(block[valid_mask(block)][::3])


def threads_left() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("phism-")]


def run(scene_path, encoder, tmp_path, name, how, tile=8, batch=None):
    """Encode into a Zarr store; returns its array and every on_written call."""
    calls: list[tuple[int, int, int, int]] = []

    def written(w, v, n):
        calls.append((w.row_off, w.col_off, v, n))

    with open_scene(scene_path) as scene:
        spec = RasterSpec(scene.height, scene.width, encoder.channel_names_, tile_size=tile)
        with RasterWriter(tmp_path / f"{name}.zarr", spec, "zarr") as writer:
            counts = how(scene, writer, tile, batch, written)
    data = zarr.open_group(str(tmp_path / f"{name}.zarr"), mode="r")["latent"][:]
    return data, counts, calls


def reference_loop(encoder):
    """The plain loop encode_scene ran before it overlapped anything."""
    def how(scene, writer, tile, batch, on_written):
        counts = {"pixels": 0, "valid_pixels": 0, "nonfinite_pixels": 0}
        for window in scene.windows(tile):
            block = scene.read(window)
            mask = valid_mask(block)
            out = np.full((*mask.shape, len(encoder.channel_names_)), np.nan, np.float32)
            bad = 0
            if mask.any():
                latent = encoder.transform(block[mask], batch_size=batch)
                nonfinite = ~np.isfinite(latent).all(axis=1)
                latent[nonfinite] = np.nan
                out[mask] = latent
                bad = int(nonfinite.sum())
            writer.write(window, out)
            counts["pixels"] += window.height * window.width
            counts["valid_pixels"] += int(mask.sum()) - bad
            counts["nonfinite_pixels"] += bad
            on_written(window, int(mask.sum()) - bad, bad)
        return counts
    return how


def through(overlap, encoder):
    def how(scene, writer, tile, batch, on_written):
        return _encode_tiles(scene, encoder, writer, tile, batch, None, None, None, on_written,
                             overlap=overlap)
    return how


@pytest.mark.parametrize(("tile", "batch"), [(8, None), (8, 5), (16, 64), (64, None)])
def test_overlapped_writes_the_same_bytes_as_the_plain_loop(scene_path, encoder, tmp_path,
                                                            tile, batch) -> None:
    reference = run(scene_path, encoder, tmp_path, "ref", reference_loop(encoder), tile,
                    batch or encoder.auto_batch_size())
    serial = run(scene_path, encoder, tmp_path, "serial", through(False, encoder), tile, batch)
    overlapped = run(scene_path, encoder, tmp_path, "overlap", through(True, encoder), tile,
                     batch)
    for data, counts, calls in (serial, overlapped):
        assert data.tobytes() == reference[0].tobytes()
        assert counts == reference[1]
        assert calls == reference[2]  # in tile order, with the same counts
    assert reference[1]["nonfinite_pixels"] >= 0
    assert reference[1]["valid_pixels"] + reference[1]["nonfinite_pixels"] == \
        ROWS * COLS - 1 - 4 - 64
    assert threads_left() == []


def test_encode_scene_overlaps_by_default_and_takes_a_window_subset(scene_path, encoder,
                                                                    tmp_path) -> None:
    assert encode_module.OVERLAP
    windows = [w for i, w in enumerate(iter_windows(ROWS, COLS, 8)) if i % 3 == 1]

    def how(scene, writer, tile, batch, on_written):
        return encode_scene(scene, encoder, writer, tile_size=tile, windows=iter(windows),
                            on_written=on_written)

    data, counts, calls = run(scene_path, encoder, tmp_path, "some", how)
    assert [(r, c) for r, c, _, _ in calls] == [(w.row_off, w.col_off) for w in windows]
    assert counts["pixels"] == sum(w.height * w.width for w in windows)
    full = run(scene_path, encoder, tmp_path, "all", through(True, encoder))[0]
    for w in windows:
        rows, cols = w.toslices()
        assert data[:, rows, cols].tobytes() == full[:, rows, cols].tobytes()


class FailingScene:
    """A scene whose read of tile `fail_at` raises; counts reads in flight at once."""

    def __init__(self, inner, fail_at: int) -> None:
        self.inner, self.fail_at, self.reads, self.busy, self.overlaps = inner, fail_at, 0, 0, 0
        self.height, self.width = inner.height, inner.width

    def windows(self, tile):
        return self.inner.windows(tile)

    def read(self, window):
        self.busy += 1
        self.overlaps = max(self.overlaps, self.busy)
        try:
            self.reads += 1
            if self.reads == self.fail_at:
                raise OSError("disk went away")
            return self.inner.read(window)
        finally:
            self.busy -= 1


class RecordingWriter:
    def __init__(self, fail_at: int | None = None) -> None:
        self.windows, self.threads, self.fail_at = [], set(), fail_at

    def write(self, window, block) -> None:
        self.threads.add(threading.get_ident())
        if self.fail_at is not None and len(self.windows) + 1 == self.fail_at:
            raise RuntimeError("the disk is full")
        self.windows.append(window)


def test_a_read_error_is_raised_in_the_caller_after_the_tiles_before_it(scene_path,
                                                                        encoder) -> None:
    with open_scene(scene_path) as inner:
        scene = FailingScene(inner, fail_at=4)
        writer, written = RecordingWriter(), []
        with pytest.raises(OSError, match="disk went away"):
            encode_scene(scene, encoder, writer, tile_size=8,
                         on_written=lambda w, v, n: written.append(w))
        assert len(writer.windows) == len(written) == 3
        assert writer.threads == {threading.get_ident()}  # writes stay in this thread
        assert scene.overlaps == 1  # one read at a time
    assert threads_left() == []


def test_a_write_error_stops_the_reader_and_the_encoder(scene_path, encoder) -> None:
    with open_scene(scene_path) as scene:
        writer = RecordingWriter(fail_at=2)
        with pytest.raises(RuntimeError, match="the disk is full"):
            encode_scene(scene, encoder, writer, tile_size=8)
        assert len(writer.windows) == 1
    assert threads_left() == []


class SlowEncoder:
    """Wraps an encoder; every transform call takes `seconds`."""

    def __init__(self, inner, seconds: float) -> None:
        self.inner, self.seconds, self.calls = inner, seconds, 0
        self.channel_names_ = inner.channel_names_

    def transform(self, pixels, batch_size=None):
        self.calls += 1
        time.sleep(self.seconds)
        return self.inner.transform(pixels, batch_size=batch_size)


def test_an_error_in_the_caller_stops_a_long_tile_within_a_batch(scene_path, encoder) -> None:
    """Raised in on_written while the encoder is in the middle of a tile of 1024 pixels in
    batches of 8: the encoder stops at its next batch, not at the end of the tile."""
    slow = SlowEncoder(encoder, 0.02)

    def stop(window, valid, nonfinite):
        raise KeyboardInterrupt

    with open_scene(scene_path) as scene:
        start = time.perf_counter()
        with pytest.raises(KeyboardInterrupt):
            encode_scene(scene, slow, RecordingWriter(), tile_size=32, batch_size=8,
                         on_written=stop)
        elapsed = time.perf_counter() - start
    assert threads_left() == []
    # The first tile (128 batches) had to finish; the second stopped soon after it began.
    assert slow.calls < 128 + 40, slow.calls
    assert elapsed < 128 * 0.02 * 3 + 2.0


def test_a_signal_interrupts_promptly_and_leaves_no_thread(scene_path, encoder) -> None:
    """phism's SIGTERM handler raises Interrupted in the main thread, which waits on the
    encoder; the stages stop within a batch."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signal handlers run in the main thread only")
    slow = SlowEncoder(encoder, 0.02)
    previous = interrupts.install()
    try:
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM))
        with open_scene(scene_path) as scene:
            timer.start()
            start = time.perf_counter()
            with pytest.raises(interrupts.Interrupted) as caught:
                encode_scene(scene, slow, RecordingWriter(), tile_size=16, batch_size=4)
            stopped = time.perf_counter() - start
        timer.join()
    finally:
        interrupts.restore(previous)
        interrupts._received.clear()
    assert caught.value.signum == signal.SIGTERM
    assert stopped < 0.5 + 1.0
    assert threads_left() == []


def test_overlapped_passes_results_in_order_and_errors_through() -> None:
    def slow_square(x):
        time.sleep(0.001 * (x % 3))
        return x * x

    with Overlapped(range(50), slow_square, lambda y: y + 1, depth=2) as results:
        assert list(results) == [x * x + 1 for x in range(50)]

    def fail_at_7(x):
        if x == 7:
            raise ValueError("seven")
        return x

    seen = []
    with pytest.raises(ValueError, match="seven"), \
            Overlapped(range(50), fail_at_7, str) as results:
        seen.extend(results)
    assert seen == [str(x) for x in range(7)]
    assert threads_left() == []


def test_one_window_runs_without_threads(scene_path, encoder) -> None:
    with open_scene(scene_path) as scene:
        writer = RecordingWriter()
        counts = encode_scene(scene, encoder, writer, windows=[Window(0, 0, 5, 5)])
    assert counts["pixels"] == 25 and len(writer.windows) == 1


def test_overlapped_holds_at_most_limit_items() -> None:
    held, most = [0], [0]
    lock = threading.Lock()

    def take(x):
        with lock:
            held[0] += 1
            most[0] = max(most[0], held[0])
        return x

    with Overlapped(range(40), take, lambda x: x, lambda x: x, limit=3) as results:
        for _ in results:
            time.sleep(0.002)  # a slow consumer: the stages would run ahead
            with lock:
                held[0] -= 1
    assert most[0] <= 3 + 1  # in the stages, and the one the caller holds
    assert encode_module.IN_FLIGHT == 3
