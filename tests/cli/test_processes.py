"""phism as schedulers and shell scripts see it: real processes, real signals, two writers at
once, a writer killed by SIGKILL, a file system that refuses to grow, stdout closed early,
and progress lines when stderr is a log file."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

SLOW_TILES = ["--tile-size", "16"]  # many small tiles: encoding takes a few seconds


def phism(*args: object) -> list[str]:
    return [sys.executable, "-m", "phism_cli", *(str(a) for a in args)]


def start(args: list[str], cwd: Path, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PHISM_THREADS": "1", **kwargs.pop("env", {})}
    return subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, **kwargs)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen,
             timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"finished too early: {proc.communicate()}"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def hidden(folder: Path, marker: str) -> Callable[[], bool]:
    return lambda: any(marker in p.name for p in folder.iterdir())


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


INPUTS = {"slow.hdr", "slow.img", "model.safetensors"}


def left_behind(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} - INPUTS


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                           (signal.SIGHUP, 129)])
def test_signal_while_encoding_leaves_nothing(work, sig, code) -> None:
    proc = start(phism("encode", "slow.hdr", "-o", "out.zarr", "-m", "model.safetensors",
                       *SLOW_TILES), work)
    wait_for(hidden(work, ".out.zarr.partial-"), proc)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    line = one_line(err)
    assert re.fullmatch(rf"phism: error: interrupted by {sig.name}; removed the unfinished "
                        r"out\.zarr; no output was written", line), line
    assert left_behind(work) == set()


def test_signal_while_fitting_leaves_no_encoder(work) -> None:
    """encode without -m: the encoder it fits is an output like the latents, so an
    interrupted run leaves neither (it used to leave a finished-looking encoder)."""
    proc = start(phism("encode", "slow.hdr", "-o", "out.tif", "--epochs", "1000",
                       "--patience", "1000", "--max-pixels", "2000"), work)
    wait_for(hidden(work, ".out.encoder.safetensors.lock"), proc)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143
    assert "interrupted by SIGTERM" in err.splitlines()[-1] and "Traceback" not in err
    assert left_behind(work) == set()


def catches_sigterm(pid: int) -> Callable[[], bool]:
    """True once the process has its own SIGTERM handler: phism's entry point installs it
    before importing anything heavy (the interpreter's first milliseconds are not phism's)."""
    def check() -> bool:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
        return False
    return check


@pytest.mark.parametrize("delay_s", [0.0, 0.1, 0.3, 1.0])
def test_interrupt_during_start_up(work, delay_s) -> None:
    proc = start(phism("encode", "slow.hdr", "-o", "out.zarr", "-m", "model.safetensors",
                       *SLOW_TILES), work)
    wait_for(catches_sigterm(proc.pid), proc, timeout=30)
    time.sleep(delay_s)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert one_line(err).startswith("phism: error: interrupted by SIGINT")
    assert left_behind(work) == set()


def test_writer_killed_by_sigkill_is_cleaned_up_by_the_next_run(work) -> None:
    args = phism("encode", "slow.hdr", "-o", "out.zarr", "-m", "model.safetensors",
                 *SLOW_TILES)
    proc = start(args, work)
    wait_for(hidden(work, ".out.zarr.partial-"), proc)
    proc.kill()
    proc.communicate()
    stale = left_behind(work)
    assert any(".partial-" in name for name in stale) and ".out.zarr.lock" in stale
    rerun = subprocess.run(args, cwd=work, capture_output=True, text=True, check=False,
                           env={**os.environ, "PHISM_THREADS": "1"})
    assert rerun.returncode == 0, rerun.stderr
    assert f"-{proc.pid}" in rerun.stderr and "died" in rerun.stderr
    assert left_behind(work) == {"out.zarr"}


@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_two_writers_exactly_one_proceeds(work, overwrite) -> None:
    """Two runs started together on one output: one writes it, the other exits 4 naming the
    process that holds the output."""
    args = phism("encode", "slow.hdr", "-o", "out.zarr", "-m", "model.safetensors",
                 *SLOW_TILES, *overwrite)
    runs = [start(args, work), start(args, work)]
    results = [(proc, *proc.communicate(timeout=120)) for proc in runs]
    codes = sorted(proc.returncode for proc, _, _ in results)
    assert codes == [0, 4], results
    winner = next(proc for proc, _, _ in results if proc.returncode == 0)
    loser_err = next(err for proc, _, err in results if proc.returncode == 4)
    assert f"another phism process (pid {winner.pid}" in one_line(loser_err)
    assert left_behind(work) == {"out.zarr"}
    from phism_cli.io.rasters import RasterReader

    with RasterReader(work / "out.zarr") as reader:
        assert reader.metadata["complete"] is True


def _file_size_limit(limit: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead
    return apply


@pytest.mark.parametrize("output", ["out.tif", "out.zarr"])
def test_file_system_refusing_to_grow(work, output) -> None:
    """What a full disk does to a writer: every write past a size fails."""
    proc = subprocess.run(phism("encode", "slow.hdr", "-o", output, "-m", "model.safetensors"),
                          cwd=work, capture_output=True, text=True, check=False,
                          preexec_fn=_file_size_limit(2000))
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert line.startswith(f"phism: error: {output}"), line
    assert re.search("too large|GDAL could not", line), line
    assert left_behind(work) == set()


def test_progress_lines_when_stderr_is_not_a_terminal(work) -> None:
    proc = start(phism("encode", "slow.hdr", "-o", "out.zarr", "-m", "model.safetensors",
                       *SLOW_TILES), work, env={"PHISM_PROGRESS_SECONDS": "0.5"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0
    progress = [line for line in err.splitlines() if line.startswith("phism: encoding")]
    assert len(progress) >= 2, err
    assert re.match(r"phism: encoding slow.hdr: [\d,]+ of 147,456 \(\d+ %\)", progress[0])
    quiet = subprocess.run(phism("encode", "slow.hdr", "-o", "q.zarr", "-m",
                                 "model.safetensors", "-q", "--tile-size", "64"),
                           cwd=work, capture_output=True, text=True, check=False,
                           env={**os.environ, "PHISM_PROGRESS_SECONDS": "0"})
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_stdout_closed_early_ends_quietly(work) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will read the JSON
    proc = subprocess.run(phism("info", "slow.hdr", "--json"), cwd=work, stdout=write_end,
                          stderr=subprocess.PIPE, text=True, check=False)
    os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == ""


@pytest.mark.parametrize("args", [["--help"], ["info", "slow.hdr"], ["encode", "--help"]])
def test_start_up_loads_neither_torch_nor_xgboost(work, args) -> None:
    script = ("import sys\nfrom phism_cli.cli.main import main\ntry:\n"
              f"    main({[str(a) for a in args]!r})\nexcept SystemExit as exc:\n"
              "    assert not exc.code, exc.code\n"
              "print(sorted(m for m in ('torch', 'xgboost', 'zarr') if m in sys.modules),"
              " file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=work, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "[]"
