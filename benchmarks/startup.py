"""Start-up: how long phism takes to answer before any real work, against rasterio's `rio`.

Times fresh processes of `phism --help`, `phism encode --help`, `phism info SCENE` and
`phism info SCENE --json` on the sample scene, with `rio --help` and `rio info SCENE` as the
baseline, `--repeats` times each (default 10), interleaved so that a busy moment hits every
command alike. Reports the median and the fastest run, and which heavy libraries each
command imported.

    python benchmarks/startup.py
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import fmt, machine, write_results

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "enmap_potsdam_64x64.hdr"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "startup.md"
HEAVY = ("torch", "xgboost", "zarr", "rasterio", "numpy")


def commands() -> dict[str, list[str]]:
    rio = shutil.which("rio") or str(Path(sys.executable).with_name("rio"))
    phism = shutil.which("phism") or str(Path(sys.executable).with_name("phism"))
    return {
        "phism --help": [phism, "--help"],
        "phism encode --help": [phism, "encode", "--help"],
        "phism info SCENE": [phism, "info", str(SAMPLE)],
        "phism info SCENE --json": [phism, "info", str(SAMPLE), "--json"],
        "rio --help": [rio, "--help"],
        "rio info SCENE": [rio, "info", str(SAMPLE.with_suffix(".bsq"))],
    }


def imported(args: list[str]) -> list[str]:
    """The heavy libraries a phism command loads (run in-process through its entry point)."""
    script = ("import sys\nfrom phism_cli.cli.main import main\ntry:\n"
              f"    main({args!r})\nexcept SystemExit:\n    pass\n"
              f"print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False)
    last = (proc.stderr.strip().splitlines() or [""])[-1]
    return [m for m in last.split(",") if m]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    runs = commands()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeats):
        for name, command in runs.items():
            started = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True)
            seconds[name].append(time.perf_counter() - started)
    loads = {name: imported(command[1:]) for name, command in runs.items()
             if name.startswith("phism")}
    report = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
              "settings": {"repeats": args.repeats}, "seconds": seconds, "imports": loads}
    m = report["machine"]
    lines = ["# Start-up time", "",
             f"Machine: {m['nproc']} usable cores ({m['cpu']}), {m['platform']}; "
             f"{report['date']}. {args.repeats} fresh processes per command, interleaved.", "",
             "| command | median s | fastest s | heavy libraries loaded |", "|---|---|---|---|"]
    for name, values in seconds.items():
        libraries = ", ".join(loads.get(name, [])) or ("-" if name in loads else "n/a")
        lines.append(f"| `{name}` | {fmt(statistics.median(values))} | {fmt(min(values))} | "
                     f"{libraries} |")
    lines.append("")
    print(write_results("\n".join(lines), report, args.out))


if __name__ == "__main__":
    main()
