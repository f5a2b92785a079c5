"""`phism render` against `phism encode` on the same scene: pixels per second, side by side.

One synthetic ENVI scene (`throughput.py`'s: 200 bands, float32, mixtures of smooth spectra)
is encoded by a quickly fitted PhISM encoder into a Zarr latent map, which is then rendered
back to Zarr, to GeoTIFF and to a Cloud-Optimized GeoTIFF (`--cog`), with and without
`--reference` (scoring against the scene), each with the tile stages overlapped (reading,
rendering and writing in threads of their own, the default) and one after another; and once
with every tile drawn at once (`RENDER_ROWS` = a whole 256 x 256 tile), as the renderer did
before it drew 1024 pixels at a time. Every command runs in a fresh process; pixels/s is the
command's own (`pixels_per_second` in `--json`: reading, the model and writing, a COG's
conversion included, no start-up), the best of `--repeats` runs.

    python benchmarks/render_speed.py --threads 2
"""

from __future__ import annotations

import sys

from early_threads import apply_from_argv

apply_from_argv(sys.argv[1:])

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

from common import finish_report, fmt, machine, machine_line, write_results  # noqa: E402
from throughput import parse_size, phism_command, run_measured, write_scene  # noqa: E402

from phism_cli.model.renderer import RENDER_ROWS  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "render_speed.md"
DRIVER = ("import sys; from phism_cli.pipeline import encode, render; "
          "from phism_cli.model import renderer; "
          "encode.OVERLAP = render.OVERLAP = sys.argv.pop(1) == '1'; "
          "rows = int(sys.argv.pop(1)); renderer.RENDER_ROWS = rows or renderer.RENDER_ROWS; "
          "from phism_cli.cli.main import main; main(sys.argv[1:])")
WHOLE_TILE = 256 * 256


def run_phism(args: list[str], tmp: Path, tag: str, overlap: bool, threads: int,
              render_rows: int = 0) -> dict:
    """`phism ARGS --json -q` in a fresh process; render_rows 0: the renderer's own chunk."""
    cmd = [sys.executable, "-c", DRIVER, "1" if overlap else "0", str(render_rows), *args,
           "--json", "-q"]
    run = run_measured(cmd, tmp, tag, {"PHISM_THREADS": str(threads)})
    if run["returncode"] != 0:
        sys.stderr.write(run["stderr"])
        raise SystemExit(f"{tag} failed with exit code {run['returncode']}")
    run["summary"] = json.loads(run["stdout"].strip().splitlines()[-1])
    del run["stdout"], run["stderr"]
    return run


def best_of(repeats: int, make: Callable[[int], dict]) -> dict:
    runs = [make(i) for i in range(repeats)]
    best = max(runs, key=lambda r: r["summary"]["pixels_per_second"])
    return {**best, "maxrss_mb": max(r["maxrss_mb"] for r in runs)}


def markdown(report: dict) -> str:
    s = report["settings"]
    rows, cols = s["size"]
    lines = [
        "# `phism render` against `phism encode`, side by side",
        "",
        f"- Date: {report['date']}" + ("" if report.get("complete") else " (partial run)"),
        machine_line(report, s["threads"]),
        f"- Scene: synthetic ENVI BSQ {rows} x {cols} x {s['bands']} float32 "
        f"({rows * cols * s['bands'] * 4 / 1e9:.2f} GB, page cache), `throughput.py`'s "
        f"mixtures. Encoder: `fit-encoder --epochs 3 --max-pixels 20000` (K = 5 skew normals). "
        f"PHISM_THREADS={s['threads']}; best of {s['repeats']} fresh processes per row.",
        "- pixels/s: the command's own (`pixels_per_second`); `/ encode`: against `encode` "
        "in the same mode (overlapped or serial).",
        "",
        "| command | output | stages | pixels drawn at once | pixels/s | / encode | process s "
        "| peak RSS MB |",
        "|---|---|---|---|---:|---:|---:|---:|",
    ]
    encode_rate = {r["overlap"]: r["pixels_per_second"] for r in report["rows"]
                   if r["command"] == "encode"}
    for r in report["rows"]:
        ratio = r["pixels_per_second"] / encode_rate[r["overlap"]] \
            if r["overlap"] in encode_rate else None
        lines.append(f"| {r['command']} | {r['output']} | "
                     f"{'overlapped' if r['overlap'] else 'serial'} | "
                     f"{r.get('drawn', '')} | {r['pixels_per_second']:,.0f} | {fmt(ratio)} | "
                     f"{fmt(r['wall_seconds'], 1)} | {r['maxrss_mb']:.0f} |")
    lines.append("")
    if "total_seconds" in report:
        lines.append(f"Total benchmark wall time: {report['total_seconds'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=parse_size, default=(500, 1000))
    parser.add_argument("--bands", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "rows": [], "complete": False,
        "settings": {"threads": args.threads, "size": list(args.size), "bands": args.bands,
                     "repeats": args.repeats},
    }
    tmp = Path(tempfile.mkdtemp(prefix="phism-render-speed-"))
    try:
        scene = write_scene(tmp, *args.size, args.bands, seed=0)
        model = tmp / "model.safetensors"
        fit = run_measured([*phism_command(), "fit-encoder", str(scene), "-o", str(model),
                            "--epochs", "3", "--max-pixels", "20000", "--device", "cpu", "-q"],
                           tmp, "fit", {"PHISM_THREADS": str(args.threads)})
        if fit["returncode"] != 0:
            raise SystemExit(f"fit-encoder failed: {fit['stderr']}")
        latents = tmp / "latents.zarr"
        for overlap in (True, False):
            def encode(i: int, overlap: bool = overlap) -> dict:
                shutil.rmtree(latents, ignore_errors=True)
                return run_phism(["encode", str(scene), "-o", str(latents), "-m", str(model),
                                  "--device", "cpu"], tmp, f"encode-{overlap}-{i}", overlap,
                                 args.threads)
            best = best_of(args.repeats, encode)
            report["rows"].append({"command": "encode", "output": "zarr", "overlap": overlap,
                                   "pixels_per_second": best["summary"]["pixels_per_second"],
                                   "wall_seconds": best["wall_seconds"],
                                   "maxrss_mb": best["maxrss_mb"]})
            print(f"encode overlap={overlap}: {best['summary']['pixels_per_second']:,.0f} "
                  "pixels/s", file=sys.stderr)
        configs = [("zarr", False, True, 0), ("zarr", False, False, 0),
                   ("zarr", False, True, WHOLE_TILE), ("tif", False, True, 0),
                   ("cog", False, True, 0),
                   ("zarr", True, True, 0), ("zarr", True, False, 0)]
        for output, reference, overlap, rows in configs:
            target = tmp / f"recon.{'tif' if output == 'cog' else output}"

            def render(i: int, output: str = output, reference: bool = reference,
                       overlap: bool = overlap, target: Path = target,
                       rows: int = rows) -> dict:
                cmd = ["render", str(latents), "-o", str(target), "--overwrite",
                       *(["--reference", str(scene)] if reference else []),
                       *(["--cog"] if output == "cog" else [])]
                return run_phism(cmd, tmp, f"render-{output}-{reference}-{overlap}-{rows}-{i}",
                                 overlap, args.threads, rows)
            best = best_of(args.repeats, render)
            drawn = f"{rows:,} (a whole tile, as before)" if rows else f"{RENDER_ROWS:,}"
            report["rows"].append({
                "command": "render --reference" if reference else "render",
                "output": output, "overlap": overlap, "drawn": drawn,
                "pixels_per_second": best["summary"]["pixels_per_second"],
                "wall_seconds": best["wall_seconds"], "maxrss_mb": best["maxrss_mb"]})
            print(f"render {output} reference={reference} overlap={overlap} rows={rows}: "
                  f"{best['summary']['pixels_per_second']:,.0f} pixels/s", file=sys.stderr)
            write_results(markdown(report), report, args.out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish_report(report, t0, markdown, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
