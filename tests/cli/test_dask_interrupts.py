"""Interrupting `phism encode --workers` as a terminal does: Ctrl-C reaches the whole
foreground process group, a closed window sends SIGHUP, a scheduler sends SIGTERM to phism
alone. Real processes, a real `distributed.LocalCluster` of 2 worker processes, real signals:
the workers never take the terminal's signal, phism closes them and says one line, and what
it says it kept, the next `--resume` takes over (never 'a partial output left by a phism run
that died'), ending with the bytes of an uninterrupted run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.test_processes import SLOW_TILES, phism, start, wait_for
from tests.cli.test_scale_out import assert_same_files, recorded_tiles, run_phism

distributed = pytest.importorskip("distributed", reason="--workers needs Dask distributed")

def encode(output: str, *args: str) -> list[str]:
    return ["encode", "slow.hdr", "-o", output, "-m", "model.safetensors", *args]


ARGS = encode("out.zarr", *SLOW_TILES, "--resume")
QUIET_PROGRESS = {"PHISM_PROGRESS_SECONDS": "3600"}  # stderr: only what phism says at the end


def session_processes(sid: int) -> dict[int, str]:
    """The live (not zombie) processes of session `sid`, by pid: their command lines."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue  # ended meanwhile
        if fields[0] != "Z" and int(fields[3]) == sid:
            found[int(stat.parent.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def workers_of(sid: int) -> list[int]:
    return [pid for pid, cmd in session_processes(sid).items() if "spawn_main" in cmd]


def no_process_left(sid: int, timeout: float = 10.0) -> dict[int, str]:
    """What of the session still runs once phism has exited (its resource tracker ends when
    phism does; give it a moment)."""
    deadline = time.monotonic() + timeout
    while (left := session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def blocked_signals(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return int(line.split()[1], 16)
    return 0


def bit(sig: signal.Signals) -> int:
    return 1 << (sig - 1)


def started(work: Path, *args: str) -> subprocess.Popen:
    """phism in a session of its own, as a shell's job: its pid is the process group's id."""
    return start(phism(*ARGS, *args), work, env=QUIET_PROGRESS, start_new_session=True)


def the_only_line(err: str, sig: signal.Signals) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"phism: error: interrupted by {sig.name}; "), err
    assert "Traceback" not in err and "leaked" not in err, err
    return lines[0]


def finish_with_resume(work: Path, *args: str) -> dict:
    """The same command with --resume: it continues what was kept, to the reference bytes."""
    reference = run_phism(*encode("ref.zarr", *SLOW_TILES, "-q"), cwd=work)
    assert reference.returncode == 0, reference.stderr
    rerun = run_phism(*ARGS, *args, "--json", cwd=work)
    assert rerun.returncode == 0, rerun.stderr
    assert "died" not in rerun.stderr and "removed" not in rerun.stderr, rerun.stderr
    assert_same_files(work / "out.zarr", work / "ref.zarr")
    assert not list(work.glob(".out.zarr*"))
    return json.loads(rerun.stdout)


Send = Callable[[subprocess.Popen], None]


def to_group(sig: signal.Signals) -> Send:
    return lambda proc: os.killpg(proc.pid, sig)  # what the terminal does


def to_phism(sig: signal.Signals) -> Send:
    return lambda proc: proc.send_signal(sig)  # what a scheduler or `kill PID` does


@pytest.mark.parametrize(("sig", "send"), [
    (signal.SIGINT, to_group(signal.SIGINT)),
    (signal.SIGHUP, to_group(signal.SIGHUP)),
    (signal.SIGTERM, to_phism(signal.SIGTERM)),
], ids=["ctrl-c-to-the-group", "hangup-to-the-group", "sigterm-to-phism"])
def test_interrupt_while_workers_encode(work, sig, send) -> None:
    for _ in range(3):  # the workers may finish every tile before the signal lands: again
        proc = started(work, "--workers", "2")
        wait_for(lambda: recorded_tiles(work) >= 1, proc, timeout=120)  # a block came back
        workers = workers_of(proc.pid)
        if proc.poll() is not None or len(workers) < 2:
            _, err = proc.communicate(timeout=60)
        else:
            for pid in workers:  # born with the terminal's signals blocked, SIGTERM deliverable
                mask = blocked_signals(pid)
                assert mask & bit(signal.SIGINT) and mask & bit(signal.SIGHUP), hex(mask)
                assert not mask & bit(signal.SIGTERM), hex(mask)
            assert not blocked_signals(proc.pid)  # phism's main thread answers every signal
            send(proc)
            _, err = proc.communicate(timeout=60)
            if proc.returncode != 0:
                break
        assert proc.returncode == 0, err  # finished before the signal, cleanly
        shutil.rmtree(work / "out.zarr")
    assert proc.returncode == 128 + sig, err
    line = the_only_line(err, sig)
    assert "kept the finished tiles of out.zarr" in line, line
    assert no_process_left(proc.pid) == {}
    done_before = recorded_tiles(work)
    if sig == signal.SIGINT:  # the same end for the others, shown once
        summary = finish_with_resume(work, "--workers", "2")
        assert summary["resumed_tiles"] >= done_before >= 1


def test_ctrl_c_while_the_cluster_starts(work) -> None:
    """Ctrl-C as the first worker process is being born: phism waits for the start to end,
    closes the cluster, and no worker is left to die on its own, printing."""
    proc = started(work, "--workers", "2")
    wait_for(lambda: bool(workers_of(proc.pid)), proc, timeout=60)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    the_only_line(err, signal.SIGINT)
    assert no_process_left(proc.pid) == {}
    assert not (work / "out.zarr").exists()
    finish_with_resume(work)  # whatever was kept (most likely nothing) is taken over


def test_interrupt_before_the_first_tile_is_resumed(work) -> None:
    """An interrupt before any tile is finished (one tile of the whole scene, in small
    batches so that it takes a while, interrupted as soon as its store exists) keeps a store
    the next --resume takes over, not one it removes as left by a run that died."""
    one_tile = ["--tile-size", "384", "--batch-size", "64"]
    args = encode("out.zarr", *one_tile, "--resume")
    proc = start(phism(*args), work, env=QUIET_PROGRESS)
    wait_for(lambda: any(work.glob(".out.zarr.partial-*/.phism-tiles")), proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "kept the finished tiles of out.zarr" in the_only_line(err, signal.SIGINT)
    assert recorded_tiles(work) == 0  # interrupted before the first (and only) tile
    rerun = run_phism(*args, cwd=work)
    assert rerun.returncode == 0, rerun.stderr
    assert "continuing the tiles an interrupted run wrote" in rerun.stderr, rerun.stderr
    assert "died" not in rerun.stderr and "removed" not in rerun.stderr, rerun.stderr
    reference = run_phism(*encode("ref.zarr", *one_tile), cwd=work)
    assert reference.returncode == 0, reference.stderr
    assert_same_files(work / "out.zarr", work / "ref.zarr")
    assert not list(work.glob(".out.zarr*"))


def test_a_kept_partial_must_be_one_the_next_run_takes_over(tmp_path) -> None:
    """`keep_partial` with an `adopt` recogniser keeps only what it recognises: anything else
    is removed and said removed, never said kept."""
    from phism_cli.io.outputs import ACTIVITY, OutputSet

    for resumable in (False, True):
        out = OutputSet()
        output = out.add(tmp_path / f"{resumable}.zarr", adopt=lambda p, r=resumable: r,
                         keep_partial=True)
        output.tmp.mkdir()
        out.discard()
        assert output.tmp.exists() is resumable
        assert (output.path in ACTIVITY.kept) is resumable
        assert (output.path in ACTIVITY.removed) is not resumable
