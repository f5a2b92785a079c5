"""Resuming a partial Zarr store: the progress record, which partial stores are taken over,
and the output reservation that adopts or keeps them."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rasterio.windows import Window

from phism_cli.io.outputs import ACTIVITY, PARTIAL_MARK, OutputSet
from phism_cli.io.rasters import RasterReader, RasterSpec, RasterWriter
from phism_cli.pipeline.resume import PROGRESS_NAME, TileProgress, ZarrTileWriter, can_resume


def _spec(sha: str = "a" * 64, tile: int = 4) -> RasterSpec:
    return RasterSpec(height=8, width=8, channel_names=["c0", "c1"], tile_size=tile,
                      metadata={"format": "phism-latents", "model_sha256": sha,
                                "model_path": "m.safetensors"})


def _partial(tmp_path, spec: RasterSpec, writer: str = "host-1-abcd1234"):
    store = tmp_path / f".out.zarr{PARTIAL_MARK}{writer}"
    RasterWriter(store, spec, "zarr")  # created, never closed: an interrupted write
    return store


def test_progress_record_round_trip_ignores_a_torn_line(tmp_path) -> None:
    store = _partial(tmp_path, _spec())
    progress = TileProgress(store / PROGRESS_NAME)
    progress.record(Window(0, 0, 4, 4), 16, 0)
    progress.record(Window(4, 0, 4, 4), 14, 1)
    with open(store / PROGRESS_NAME, "a") as fh:
        fh.write("4 4 1")  # a kill in the middle of an append
    again = TileProgress.read(store)
    assert again.done == {(0, 0): (16, 0), (0, 4): (14, 1)}
    windows = [Window(c, r, 4, 4) for r in (0, 4) for c in (0, 4)]
    assert again.counts(windows) == {"pixels": 32, "valid_pixels": 30, "nonfinite_pixels": 1}
    assert again.is_done(Window(4, 0, 4, 4)) and not again.is_done(Window(4, 4, 4, 4))


def test_can_resume_only_the_same_output(tmp_path) -> None:
    spec = _spec()
    store = _partial(tmp_path, spec)
    assert not can_resume(store, spec)  # no progress record: nothing to continue
    TileProgress(store / PROGRESS_NAME).record(Window(0, 0, 4, 4), 16, 0)
    assert can_resume(store, spec)
    moved = _spec()
    moved.metadata["model_path"] = "elsewhere/m.safetensors"  # the same model, named again
    assert can_resume(store, moved)
    assert not can_resume(store, _spec(sha="b" * 64))  # another model
    assert not can_resume(store, _spec(tile=8))  # other tiles
    attrs = json.loads((store / ".zattrs").read_text())
    attrs["phism"]["complete"] = True
    (store / ".zattrs").write_text(json.dumps(attrs))
    assert not can_resume(store, spec)


def test_tile_writer_continues_a_store_and_finishes_it(tmp_path) -> None:
    spec = _spec()
    store = _partial(tmp_path, spec)
    first = np.full((4, 4, 2), 1.0, dtype=np.float32)
    ZarrTileWriter(store, spec).write(Window(0, 0, 4, 4), first)
    with ZarrTileWriter(store, spec) as writer:
        writer.write(Window(4, 4, 4, 4), first * 2)
    final = tmp_path / "out.zarr"
    store.rename(final)
    with RasterReader(final) as reader:
        data = reader.read(Window(0, 0, 8, 8))
    assert (data[:4, :4] == 1).all() and (data[4:, 4:] == 2).all()
    assert np.isnan(data[:4, 4:]).all()


def test_output_set_adopts_a_matching_partial_and_removes_others(tmp_path) -> None:
    spec = _spec()
    store = _partial(tmp_path, spec)
    TileProgress(store / PROGRESS_NAME).record(Window(0, 0, 4, 4), 16, 0)
    other = _partial(tmp_path, _spec(sha="b" * 64), writer="host-2-ffff0000")
    TileProgress(other / PROGRESS_NAME).record(Window(0, 0, 4, 4), 16, 0)
    out = OutputSet()
    output = out.add(tmp_path / "out.zarr", adopt=lambda p: can_resume(p, spec),
                     keep_partial=True)
    assert output.adopted and TileProgress.read(output.tmp).done == {(0, 0): (16, 0)}
    assert not store.exists() and not other.exists()
    out.discard()
    assert output.tmp.is_dir() and tmp_path / "out.zarr" in ACTIVITY.kept


def test_output_set_without_adopt_removes_partials(tmp_path) -> None:
    spec = _spec()
    store = _partial(tmp_path, spec)
    TileProgress(store / PROGRESS_NAME).record(Window(0, 0, 4, 4), 16, 0)
    out = OutputSet()
    output = out.add(tmp_path / "out.zarr")
    assert not output.adopted and not store.exists()
    out.discard()


@pytest.mark.parametrize("keep", [False, True])
def test_a_failed_command_keeps_its_partial_only_when_asked(tmp_path, keep) -> None:
    with pytest.raises(RuntimeError), OutputSet() as out:
        output = out.add(tmp_path / "out.zarr", keep_partial=keep)
        RasterWriter(output.tmp, _spec(), "zarr")
        raise RuntimeError("interrupted")
    assert output.tmp.exists() is keep
    assert not (tmp_path / "out.zarr").exists()


def test_a_torn_last_line_is_ended_before_the_next_record(tmp_path) -> None:
    store = _partial(tmp_path, _spec())
    (store / PROGRESS_NAME).write_text("0 0 16 0\n4 4 1")  # killed in the middle of a line
    progress = TileProgress.read(store)
    progress.record(Window(4, 0, 4, 4), 14, 1)
    assert TileProgress.read(store).done == {(0, 0): (16, 0), (0, 4): (14, 1)}


def test_an_adopted_store_survives_an_interrupted_reservation(tmp_path, monkeypatch) -> None:
    spec = _spec()
    store = _partial(tmp_path, spec)
    TileProgress(store / PROGRESS_NAME).record(Window(0, 0, 4, 4), 16, 0)
    from phism_cli.io import outputs

    calls = []

    def interrupted_after_adoption(*args, **kwargs):  # the check made once the lock is held
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return False

    monkeypatch.setattr(outputs, "check_output_path", interrupted_after_adoption)
    out = OutputSet()
    with pytest.raises(KeyboardInterrupt):
        out.add(tmp_path / "out.zarr", adopt=lambda p: can_resume(p, spec), keep_partial=True)
    kept = list(tmp_path.glob(f".out.zarr{PARTIAL_MARK}*"))
    assert len(calls) == 2 and not store.exists()  # it was adopted (renamed) first
    assert len(kept) == 1 and TileProgress.read(kept[0]).done == {(0, 0): (16, 0)}


def test_chunk_writes_a_killed_writer_left_are_discarded_and_nothing_else(tmp_path) -> None:
    from phism_cli.pipeline.resume import discard_interrupted_chunk_writes

    store = tmp_path / "out.zarr"
    (store / "latent").mkdir(parents=True)
    kept = [store / "latent" / "0.1", store / ".phism-tiles", store / "latent" / "x.partial",
            store / "latent" / "0.0.123.partial"]
    for path in kept:
        path.write_bytes(b"k")
    dead = store / "latent" / f"0.2.{'ab' * 16}.partial"
    dead.write_bytes(b"half a chunk")
    assert discard_interrupted_chunk_writes(store) == 1
    assert not dead.exists() and all(p.exists() for p in kept)
