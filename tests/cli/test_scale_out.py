"""Resume and Dask scale-out of `phism encode`, through real processes, real signals and a
real `distributed.LocalCluster` of 2 worker processes: every way of running ends with the
bytes an uninterrupted serial run writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.cli.kit import header_text, scene_cube
from tests.cli.test_batch_encode import make_scenes
from tests.cli.test_processes import SLOW_TILES, phism, start, wait_for

distributed = pytest.importorskip("distributed", reason="scale-out needs Dask distributed")


def tree_bytes(path: Path) -> dict[str, bytes]:
    """Every file of a store (or one file) by relative name: what 'bit-identical' compares."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


def assert_same_files(path: Path, reference: Path) -> None:
    """`path` holds `reference`'s files with its bytes; else the assertion names the files
    that differ, and for array chunks how much their values differ (not pages of bytes)."""
    ours, theirs = tree_bytes(path), tree_bytes(reference)
    if ours == theirs:
        return
    differ = sorted(k for k in ours.keys() & theirs.keys() if ours[k] != theirs[k])
    details = []
    if path.is_dir():
        import zarr

        mine, ref = zarr.open_group(path, mode="r"), zarr.open_group(reference, mode="r")
        for name in sorted({k.split("/")[0] for k in differ if "/" in k}):
            if name in mine and name in ref and hasattr(mine[name], "shape"):
                a, b = np.asarray(mine[name][...]), np.asarray(ref[name][...])
                if a.shape == b.shape and a.dtype.kind == "f":
                    gap = np.abs(a.astype(np.float64) - b)
                    details.append(f"{name}: {int((gap > 0).sum())} values differ, at most "
                                   f"{np.nanmax(gap, initial=0.0):.3g}; NaN where the "
                                   f"other is not: {int((np.isnan(a) != np.isnan(b)).sum())}")
    raise AssertionError(
        f"{path.name} and {reference.name} differ: only in {path.name}: "
        f"{sorted(ours.keys() - theirs.keys())[:10]}; only in {reference.name}: "
        f"{sorted(theirs.keys() - ours.keys())[:10]}; different bytes ({len(differ)}): "
        f"{differ[:10]}; {'; '.join(details)}")


def recorded_tiles(folder: Path) -> int:
    records = list(folder.glob(".out.zarr.partial-*/.phism-tiles"))
    return len(records[0].read_text().splitlines()) if records else 0


def run_phism(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(phism(*args), cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, "PHISM_THREADS": "1"})


@pytest.mark.parametrize("finish", [[], ["--workers", "2"]], ids=["serial", "dask"])
def test_resume_after_sigkill_ends_bit_identical(work, finish) -> None:
    reference = run_phism("encode", "slow.hdr", "-o", "ref.zarr", "-m", "model.safetensors",
                          *SLOW_TILES, cwd=work)
    assert reference.returncode == 0, reference.stderr
    args = ["encode", "slow.hdr", "-o", "out.zarr", "-m", "model.safetensors", *SLOW_TILES,
            "--resume"]
    proc = start(phism(*args), work)
    wait_for(lambda: recorded_tiles(work) >= 20, proc)
    proc.kill()
    proc.communicate()
    done_before = recorded_tiles(work)
    rerun = run_phism(*args, *finish, "--json", cwd=work)
    assert rerun.returncode == 0, rerun.stderr
    assert "continuing the tiles an interrupted run wrote" in rerun.stderr or finish
    summary = json.loads(rerun.stdout)
    assert summary["resumed_tiles"] >= done_before >= 20
    assert_same_files(work / "out.zarr", work / "ref.zarr")
    assert not list(work.glob(".out.zarr*"))


def test_sigterm_with_resume_keeps_the_finished_tiles(work) -> None:
    args = ["encode", "slow.hdr", "-o", "out.zarr", "-m", "model.safetensors", *SLOW_TILES,
            "--resume"]
    proc = start(phism(*args), work)
    wait_for(lambda: recorded_tiles(work) >= 5, proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert "kept the finished tiles of out.zarr" in err and "--resume" in err
    assert recorded_tiles(work) >= 5 and not (work / "out.zarr").exists()
    # Without --resume the next run starts over and clears the partial store.
    fresh = run_phism(*args[:-1], cwd=work)
    assert fresh.returncode == 0 and "removed" in fresh.stderr
    assert not list(work.glob(".out.zarr.partial-*"))


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as local:
        yield local


@pytest.mark.parametrize("template", ["{stem}.zarr", "{stem}.tif"])
def test_workers_write_what_a_serial_run_writes(cli, kit, tmp_path, cluster, template) -> None:
    """Zarr stores by blocks of tiles, GeoTIFFs a scene per task: the serial run's bytes.
    (--workers starts its own cluster in test_resume_after_sigkill_ends_bit_identical.)"""
    scenes = make_scenes(tmp_path / "in", 3)
    for kind in ("serial", "dask"):
        (tmp_path / kind).mkdir()
    common = ["-m", kit.model, "--tile-size", "16", "-q"]
    serial = cli("encode", *scenes, "-o", f"{tmp_path}/serial/{template}", *common)
    assert serial.code == 0, serial.err
    dask = cli("encode", *scenes, "-o", f"{tmp_path}/dask/{template}", *common,
               "--scheduler", cluster.scheduler_address, "--json")
    assert dask.code == 0, dask.err
    assert json.loads(dask.out)["done"] == 3
    for output in sorted((tmp_path / "serial").iterdir()):
        assert_same_files(tmp_path / "dask" / output.name, output)


def test_scheduler_address_of_a_running_cluster(cli, kit, tmp_path, cluster) -> None:
    """Blocks of tiles of one scene run on the workers of a cluster phism did not start."""
    big = tmp_path / "big.hdr"
    big.write_text(header_text().replace("samples = 8", "samples = 64")
                   .replace("lines = 8", "lines = 64"))
    tiled = np.tile(scene_cube(), (8, 8, 1))
    np.ascontiguousarray(np.moveaxis(tiled, -1, 0)).astype("<f4").tofile(
        big.with_suffix(".img"))
    serial = cli("encode", big, "-o", tmp_path / "serial.zarr", "-m", kit.model,
                 "--tile-size", "16", "-q")
    assert serial.code == 0, serial.err
    result = cli("encode", big, "-o", tmp_path / "dask.zarr", "-m", kit.model,
                 "--tile-size", "16", "--scheduler", cluster.scheduler_address, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["valid_pixels"] == 64 * 64 - 2 * 64
    assert_same_files(tmp_path / "dask.zarr", tmp_path / "serial.zarr")
    with distributed.Client(cluster.scheduler_address) as client:
        loaded = client.run(_encoders_loaded)
    assert sum(loaded.values()) >= 1  # the work ran on the cluster's workers


def _encoders_loaded() -> int:
    from phism_cli.pipeline import distributed as scale_out

    return len(scale_out._ENCODERS)


def test_unreachable_scheduler_is_one_line(cli, kit, tmp_path) -> None:
    scenes = make_scenes(tmp_path / "in", 1)
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        result = cli("encode", *scenes, "-o", tmp_path / "x.zarr", "-m", kit.model,
                     "--scheduler", "tcp://127.0.0.1:9")
    assert result.code == 1
    assert "cannot reach a Dask scheduler" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "x.zarr").exists()


def test_workers_and_scheduler_together_are_refused(cli, kit, tmp_path) -> None:
    scenes = make_scenes(tmp_path / "in", 1)
    result = cli("encode", *scenes, "-o", tmp_path / "x.zarr", "-m", kit.model,
                 "--workers", "2", "--scheduler", "tcp://127.0.0.1:9")
    assert result.code == 1 and "give one of the two" in result.err


def test_a_failing_scene_on_workers_does_not_stop_the_others(cli, kit, tmp_path,
                                                             cluster) -> None:
    scenes = make_scenes(tmp_path / "in", 3)
    scenes[1].write_text(header_text().replace("bands = 12", "bands = 13"))  # data too short
    out = tmp_path / "out"
    out.mkdir()
    result = cli("encode", *scenes, "-o", out, "-m", kit.model, "--scheduler",
                 cluster.scheduler_address, "--json")
    assert result.code == 1, result.err
    summary = json.loads(result.out)
    assert [r["status"] for r in summary["results"]] == ["done", "failed", "done"]
    assert sorted(p.name for p in out.iterdir()) == ["scene0.zarr", "scene2.zarr"]
