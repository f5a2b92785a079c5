"""`phism predict` speed and memory as scenes grow.

Builds the synthetic ENVI scenes of `throughput.py`, fits an encoder on the smallest and
encodes every scene (not measured), trains a head on the smallest scene's latents with
synthetic labels (four brightness classes on every 7th pixel), then runs
`phism predict LATENTS.zarr -H HEAD -o CLASSES.tif` on each scene in a fresh process,
`--repeats` times, measuring wall time and memory as `throughput.py` does (GNU time's peak RSS;
RssAnon / RssFile sampled from /proc).

    python benchmarks/predict_throughput.py
    python benchmarks/predict_throughput.py --sizes 256x320 1280x1024 --proba
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import rasterio
from common import fmt, machine, write_results
from throughput import dir_size, parse_size, phism_command, run_ok, write_scene

from phism_cli.io.scene_formats import open_scene

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "predict_throughput.md"


def write_labels(scene_header: Path, path: Path) -> None:
    """Four classes by mean brightness quartile, on every 7th pixel; 0 elsewhere."""
    with open_scene(scene_header) as scene:
        brightness = scene.read().mean(axis=-1)
        crs, transform = scene.crs, scene.transform
    edges = np.quantile(brightness, [0.25, 0.5, 0.75])
    labels = (1 + np.searchsorted(edges, brightness)).astype(np.uint8)
    keep = np.zeros(labels.size, dtype=bool)
    keep[::7] = True
    labels[~keep.reshape(labels.shape)] = 0
    with rasterio.open(path, "w", driver="GTiff", height=labels.shape[0],
                       width=labels.shape[1], count=1, dtype="uint8", crs=crs,
                       transform=transform) as ds:
        ds.write(labels, 1)


def markdown(report: dict) -> str:
    s, m = report["settings"], report["machine"]
    lines = [
        "# `phism predict` throughput and memory",
        "",
        f"- Date: {report['date']}",
        f"- Machine: {m['nproc']} CPU cores, GPU: {'yes' if m['gpu'] else 'none'}; "
        f"load average at start {m['loadavg_at_start']}",
        f"- Scenes: synthetic ENVI BSQ float32, {s['bands']} bands, encoded with K = 5 "
        f"(20 latent channels, Zarr); head: XGBoost, 200 rounds, 4 classes"
        + (", with --proba" if s["proba"] else "") + f"; {s['repeats']} runs per scene "
        "(fastest shown, memory = the largest of the runs).",
        "",
        "| scene | pixels | latent MB | wall s | pixels/s | peak RSS MB | peak anon MB "
        "| peak file-backed MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['rows']}x{r['cols']} | {r['pixels']:,} | {fmt(r['latent_mb'], 0)} | "
            f"{fmt(r['wall_seconds'], 1)} | {r['pixels'] / r['wall_seconds']:,.0f} | "
            f"{fmt(r['maxrss_mb'], 0)} | {fmt(r['peak_rss_anon_mb'], 0)} | "
            f"{fmt(r['peak_rss_file_mb'], 0)} |")
    lines += ["", "Wall time is the whole process (Python start-up, imports and head loading "
              "included), so small scenes look slower per pixel.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size,
                        default=[(256, 320), (640, 512), (1280, 1024)])
    parser.add_argument("--bands", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--proba", action="store_true")
    parser.add_argument("--tmp", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    phism = phism_command()
    sizes = sorted(args.sizes, key=lambda rc: rc[0] * rc[1])
    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"sizes": [f"{r}x{c}" for r, c in sizes], "bands": args.bands,
                     "repeats": args.repeats, "proba": args.proba},
        "runs": [],
    }
    tmp = Path(tempfile.mkdtemp(prefix="phism_predict_", dir=args.tmp))
    try:
        scenes = [write_scene(tmp, rows, cols, args.bands, seed=i)
                  for i, (rows, cols) in enumerate(sizes)]
        model, head = tmp / "encoder.safetensors", tmp / "head.ubj"
        run_ok([*phism, "fit-encoder", str(scenes[0]), "-o", str(model), "--epochs", "3",
                "--max-pixels", "20000", "--device", "cpu", "-q"], tmp, "fit")
        latents = []
        for header in scenes:
            latents.append(tmp / f"{header.stem}.zarr")
            run_ok([*phism, "encode", str(header), "-o", str(latents[-1]), "-m", str(model),
                    "--device", "cpu", "-q"], tmp, f"encode_{header.stem}")
            if header == scenes[0]:
                write_labels(header, tmp / "labels.tif")
            header.with_suffix(".img").unlink()  # only the latents are needed from here on
        print("training the head", file=sys.stderr)
        run_ok([*phism, "train-head", str(latents[0]), "--labels", str(tmp / "labels.tif"),
                "-o", str(head), "--split", "none", "-q"], tmp, "train")
        for header, latent in zip(scenes, latents, strict=True):
            rows, cols = (int(v) for v in header.stem.split("_")[1].split("x")[:2])
            runs = []
            for i in range(args.repeats):
                out = tmp / "classes.tif"
                cmd = [*phism, "predict", str(latent), "-H", str(head), "-o", str(out), "-q",
                       "--overwrite", *(["--proba"] if args.proba else [])]
                run = run_ok(cmd, tmp, f"predict_{header.stem}_{i}")
                del run["stdout"], run["stderr"]
                runs.append(run)
                print(f"{header.stem} run {i + 1}: {run['wall_seconds']:.1f} s, peak RSS "
                      f"{run['maxrss_mb']:.0f} MB", file=sys.stderr)
            best = min(runs, key=lambda r: r["wall_seconds"])
            report["runs"].append({
                "rows": rows, "cols": cols, "pixels": rows * cols,
                "latent_mb": dir_size(latent) / 1e6,
                **best,
                **{k: max(r[k] for r in runs) for k in
                   ("maxrss_mb", "peak_rss_anon_mb", "peak_rss_file_mb")},
                "runs": runs,
            })
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(write_results(markdown(report), report, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
