"""Thread counts: where they come from, and results that do not depend on them."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from phism_cli import threads


def test_default_leaves_a_core_on_larger_machines(monkeypatch) -> None:
    for cpus, expected in ((1, 1), (2, 2), (3, 3), (4, 3), (16, 15)):
        monkeypatch.setattr(threads, "usable_cpus", lambda cpus=cpus: cpus)
        assert threads.default_threads() == expected


def test_cgroup_quota_v2_and_v1(tmp_path) -> None:
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path, tmp_path / "none") == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(tmp_path, tmp_path / "none") is None
    nested = tmp_path / "job" / "step"
    nested.mkdir(parents=True)
    (nested / "cpu.max").write_text("300000 100000\n")
    (tmp_path / "membership").write_text("0::/job/step\n")
    assert threads.cgroup_cpu_limit(tmp_path, tmp_path / "membership") == 3.0
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("200000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_cpu_limit(v1, tmp_path / "none") == 2.0


def test_usable_cpus_never_exceed_the_affinity_mask() -> None:
    assert 1 <= threads.usable_cpus() <= len(os.sched_getaffinity(0))


def test_option_then_environment_then_default(monkeypatch) -> None:
    monkeypatch.delenv("PHISM_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.resolve_threads(None) == threads.default_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.resolve_threads(None) == 3
    monkeypatch.setenv("PHISM_THREADS", " 5 ")
    assert threads.resolve_threads(None) == 5
    assert threads.resolve_threads(2) == 2
    for bad in ("0", "-1", "two", "1.5"):
        monkeypatch.setenv("PHISM_THREADS", bad)
        with pytest.raises(ValueError, match="PHISM_THREADS"):
            threads.resolve_threads(None)


def test_configure_sets_every_library(monkeypatch) -> None:
    import torch

    before = torch.get_num_threads()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                 "GDAL_NUM_THREADS", "OMP_WAIT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    try:
        threads.configure_threads(1)
        assert torch.get_num_threads() == 1 and threads.configured_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == os.environ["GDAL_NUM_THREADS"] == "1"
        assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    finally:
        torch.set_num_threads(before)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _phism(*args, threads_: int) -> None:
    env = {**os.environ, "PHISM_THREADS": str(threads_)}
    proc = subprocess.run([sys.executable, "-m", "phism_cli", *map(str, args), "-q"],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr


def test_same_bytes_whatever_the_thread_count(kit, tmp_path) -> None:
    """Training reduces in an order that does not depend on the thread count, and files hold
    no timings: a fit, a head and latents are byte for byte the same with 1 and 2 threads,
    and run twice."""
    for n in (1, 2, 2):
        folder = tmp_path / f"run{n}-{len(list(tmp_path.iterdir()))}"
        folder.mkdir()
        _phism("fit-encoder", kit.header, "-o", folder / "m.safetensors", "--epochs", "3",
               threads_=n)
        _phism("encode", kit.header, "-o", folder / "l.tif", "-m", folder / "m.safetensors",
               threads_=n)
        _phism("train-head", kit.latents, "--labels", kit.labels, "-o", folder / "h.ubj",
               "--n-estimators", "20", threads_=n)
    runs = sorted(tmp_path.iterdir())
    for name in ("m.safetensors", "h.ubj"):
        assert len({_sha256(run / name) for run in runs}) == 1, name
    import rasterio

    latents = []
    for run in runs:  # their metadata names the model's path, which differs by run
        with rasterio.open(run / "l.tif") as ds:
            latents.append(ds.read().tobytes())
    assert len(set(latents)) == 1
