"""Threads: phism's speed alone, beside a busy core, and as two jobs on one machine.

Runs three workloads through the command line in fresh processes:

- `fit`: `phism fit-encoder` on the sample scene (`--epochs`, default 5), torch training;
- `head`: `phism train-head` on the sample scene's raw spectra and labels (200 rounds),
  XGBoost;
- `encode`: `phism encode` of the sample scene tiled 4 x 4 (256 x 256 pixels) with the fitted
  encoder, torch inference plus I/O;

in these situations, each measured side by side in one run:

- alone, with `--threads 1` and with phism's default;
- beside one busy core (another process spinning), with the default, with `--threads 1`,
  and with OpenMP's busy-waiting threads (`OMP_WAIT_POLICY=ACTIVE`, the libraries' own
  default before phism chose passive waiting);
- as two identical jobs started together, with the default and with busy-waiting threads.

It also records the sha256 of every fitted encoder and head: they must not depend on the
thread count or the situation.

    python benchmarks/threads.py
    python benchmarks/threads.py --repeats 3 --epochs 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import fmt, machine, write_results

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "enmap_potsdam_64x64.hdr"
LABELS = ROOT / "sample_data" / "enmap_potsdam_64x64_labels.tif"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "threads.md"


def tiled_scene(folder: Path, tiles: int) -> Path:
    """The sample scene repeated `tiles` x `tiles` times (same header, larger size)."""
    header = SAMPLE.read_text()
    raw = np.fromfile(SAMPLE.with_suffix(".bsq"), dtype="<i2").reshape(224, 64, 64)
    np.tile(raw, (1, tiles, tiles)).tofile(folder / "tiled.bsq")
    size = 64 * tiles
    (folder / "tiled.hdr").write_text(header.replace("samples = 64", f"samples = {size}")
                                      .replace("lines = 64", f"lines = {size}"))
    return folder / "tiled.hdr"


def workloads(folder: Path, epochs: int, model: Path, scene: Path) -> dict[str, list[str]]:
    return {
        "fit": ["fit-encoder", str(SAMPLE), "-o", str(folder / "{tag}.safetensors"),
                "--epochs", str(epochs), "--patience", str(epochs), "--device", "cpu"],
        "head": ["train-head", str(SAMPLE), "--labels", str(LABELS), "-o",
                 str(folder / "{tag}.ubj"), "--n-estimators", "200"],
        "encode": ["encode", str(scene), "-o", str(folder / "{tag}.zarr"), "-m", str(model),
                   "--device", "cpu"],
    }


def launch(args: list[str], tag: str, threads: int | None, wait_policy: str | None
           ) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PHISM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    if wait_policy is not None:
        env["OMP_WAIT_POLICY"] = wait_policy
    command = [sys.executable, "-m", "phism_cli", *(a.replace("{tag}", tag) for a in args),
               "-q"]
    if threads is not None:
        command += ["--threads", str(threads)]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen, started: float) -> float:
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"phism failed: {err}")
    return time.perf_counter() - started


def spinner() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def measure(args: list[str], situation: str, repeats: int, counter: list[int]) -> list[float]:
    """Wall seconds of `repeats` runs (for 'two jobs': of the slower of each pair)."""
    settings = {
        "alone, --threads 1": ([1], None, False),
        "alone, default": ([None], None, False),
        "busy core, default": ([None], None, True),
        "busy core, --threads 1": ([1], None, True),
        "busy core, busy-waiting": ([None], "ACTIVE", True),
        "two jobs, default": ([None, None], None, False),
        "two jobs, busy-waiting": ([None, None], "ACTIVE", False),
    }
    jobs, wait_policy, busy = settings[situation]
    times = []
    for _ in range(repeats):
        other = spinner() if busy else None
        try:
            started = time.perf_counter()
            procs = []
            for threads in jobs:
                counter[0] += 1
                procs.append(launch(args, f"run{counter[0]}", threads, wait_policy))
            times.append(max(finish(p, started) for p in procs))
        finally:
            if other is not None:
                other.kill()
                other.wait()
    return times


SITUATIONS = ["alone, --threads 1", "alone, default", "busy core, default",
              "busy core, --threads 1", "busy core, busy-waiting", "two jobs, default",
              "two jobs, busy-waiting"]


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Threads: alone, beside a busy core, two jobs at once",
        "",
        f"Machine: {m['nproc']} usable cores ({m['cpu']}), {m['platform']}, torch {m['torch']}; "
        f"{report['date']}. Median wall seconds of {report['settings']['repeats']} runs per "
        "cell (two jobs: the slower of the pair), each a fresh `python -m phism_cli` "
        "process, start-up included. phism's default here is "
        f"{report['default_threads']} threads with passive OpenMP waiting.",
        "",
        "| situation | " + " | ".join(report["workloads"]) + " |",
        "|---|" + "---|" * len(report["workloads"]),
    ]
    for situation in SITUATIONS:
        cells = [fmt(report["seconds"][w][situation]) for w in report["workloads"]]
        lines.append(f"| {situation} | " + " | ".join(cells) + " |")
    lines += ["", "Ratios (busy or shared over alone with the default):", ""]
    for w in report["workloads"]:
        s = report["seconds"][w]
        alone = s["alone, default"]
        lines.append(
            f"- {w}: busy core {fmt(s['busy core, default'] / alone)}x (busy-waiting "
            f"{fmt(s['busy core, busy-waiting'] / alone)}x), two jobs "
            f"{fmt(s['two jobs, default'] / alone)}x (busy-waiting "
            f"{fmt(s['two jobs, busy-waiting'] / alone)}x)")
    distinct = {k: len(set(v)) for k, v in report["sha256"].items()}
    lines += ["", "Distinct files over every run and situation (1 = identical bytes): "
              + ", ".join(f"{k} {v}" for k, v in distinct.items()), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    from phism_cli.threads import default_threads

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scene = tiled_scene(folder, 4)
        model = folder / "model.safetensors"
        subprocess.run([sys.executable, "-m", "phism_cli", "fit-encoder", str(SAMPLE), "-o",
                        str(model), "--epochs", "2", "-q"], check=True)
        jobs = workloads(folder, args.epochs, model, scene)
        seconds: dict[str, dict[str, float]] = {}
        counter = [0]
        for name, job in jobs.items():
            seconds[name] = {}
            for situation in SITUATIONS:
                times = measure(job, situation, args.repeats, counter)
                seconds[name][situation] = statistics.median(times)
                print(f"{name:7s} {situation:26s} {seconds[name][situation]:7.2f} s",
                      flush=True)
        hashes = {
            suffix: [hashlib.sha256(p.read_bytes()).hexdigest()
                     for p in sorted(folder.glob(f"run*{suffix}"))]
            for suffix in (".safetensors", ".ubj")
        }
    report = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
              "settings": vars(args) | {"out": str(args.out)},
              "default_threads": default_threads(), "workloads": list(jobs),
              "seconds": seconds, "sha256": hashes}
    print(write_results(markdown(report), report, args.out))


if __name__ == "__main__":
    main()
