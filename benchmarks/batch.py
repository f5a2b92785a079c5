"""Batch: 50 real tiles as a loop of single `phism encode` calls, one batch call, and one
batch call on a local Dask cluster (`--workers 2`), wall and CPU time side by side.

The tiles: the 18 EnMAP Potsdam tiles (32 x 32 px, 224 bands) and 32 crops of the AVIRIS-NG
topoflux scene (12 x 12 px, 425 bands, overlapping), written as GeoTIFF with their
wavelengths. Two sensors need two encoders: each is fitted once beforehand (not timed), and
each way of running makes one call per sensor (the loop: one per tile). CPU time is that of
the phism processes and everything they start (Dask workers included), from
`getrusage(RUSAGE_CHILDREN)`.

    python benchmarks/batch.py --threads 2
"""

from __future__ import annotations

import sys

from early_threads import apply_from_argv

THREADS = apply_from_argv(sys.argv, default=2)

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from common import data_root, finish_report, fmt, machine, machine_line  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "batch.md"
N_AVIRIS_CROPS, CROP = 32, 12


def phism() -> str:
    return shutil.which("phism") or str(Path(sys.executable).with_name("phism"))


def aviris_crops(folder: Path) -> list[Path]:
    """Overlapping CROP x CROP GeoTIFF crops of the topoflux scene, wavelengths kept."""
    import numpy as np
    import rasterio
    from rasterio.windows import Window

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from phism_cli.io.scene_formats import open_scene

    scene = open_scene(data_root() / "aviris_ng/topoflux/ang20160910t185702_2rdn_img.hdr",
                       keep_bad_bands=True)
    rng = np.random.default_rng(0)
    crops = []
    with scene:
        for i in range(N_AVIRIS_CROPS):
            row = int(rng.integers(0, scene.height - CROP + 1))
            col = int(rng.integers(0, scene.width - CROP + 1))
            block = scene.read(Window(col, row, CROP, CROP))
            path = folder / f"aviris_crop_{i:02d}.tif"
            with rasterio.open(path, "w", driver="GTiff", height=CROP, width=CROP,
                               count=block.shape[-1], dtype="float32") as ds:
                ds.write(np.moveaxis(block, -1, 0))
                for b, w in enumerate(scene.wavelength_nm, start=1):
                    ds.update_tags(b, wavelength=f"{w:.4f}", wavelength_units="Nanometers")
            crops.append(path)
    return crops


def timed(command: list[str]) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed: {proc.stderr.strip()[-400:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}


def add(a: dict, b: dict) -> dict:
    return {k: a.get(k, 0.0) + b[k] for k in b}


def run_ways(groups: dict[str, tuple[list[Path], Path]], work: Path, threads: int) -> dict:
    exe = phism()
    ways: dict[str, dict] = {}
    loop = {"wall_s": 0.0, "cpu_s": 0.0}
    for name, (tiles, model) in groups.items():
        out = work / "loop" / name
        out.mkdir(parents=True)
        for tile in tiles:
            loop = add(loop, timed([exe, "encode", str(tile), "-o", str(out / f"{tile.stem}.zarr"),
                                    "-m", str(model), "-q", "--threads", str(threads)]))
    ways["loop of single calls"] = loop
    for way, extra in (("one batch call", []), ("batch, --workers 2", ["--workers", "2"])):
        total = {"wall_s": 0.0, "cpu_s": 0.0}
        for name, (tiles, model) in groups.items():
            out = work / way.replace(" ", "_").replace(",", "") / name
            out.mkdir(parents=True)
            total = add(total, timed([exe, "encode", *map(str, tiles), "-o", str(out),
                                      "-m", str(model), "-q", "--threads", str(threads),
                                      *extra]))
        ways[way] = total
    return ways


def identical_to_loop(work: Path) -> dict[str, bool]:
    """Whether each way wrote, file for file, the bytes the loop of single calls wrote."""
    def tree(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
                if p.is_file()}

    loop = tree(work / "loop")
    return {way: tree(folder) == loop for way, folder in
            (("one batch call", work / "one_batch_call"),
             ("batch, --workers 2", work / "batch_--workers_2"))}


def markdown(report: dict) -> str:
    base = report["ways"]["loop of single calls"]["wall_s"]
    lines = ["# Batch: 50 real tiles, loop vs batch vs Dask", "",
             f"- Date: {report['date']}", machine_line(report, report["threads"]),
             f"- Tiles: {report['tiles']} ({report['pixels']} pixels): 18 EnMAP Potsdam tiles "
             f"(32 x 32, 224 bands) and {N_AVIRIS_CROPS} AVIRIS-NG topoflux crops ({CROP} x "
             f"{CROP}, 425 bands); one encoder per sensor, fitted beforehand (not timed).",
             f"- Every call `--threads {report['threads']}`; `--workers 2` splits them (1 "
             "thread per worker). CPU time: all processes the calls started.", "",
             "| way | wall s | CPU s | tiles / s | wall vs loop | outputs = loop's |",
             "|---|---:|---:|---:|---:|---|"]
    for way, t in report["ways"].items():
        same = report["identical"].get(way)
        lines.append(f"| {way} | {fmt(t['wall_s'])} | {fmt(t['cpu_s'])} | "
                     f"{fmt(report['tiles'] / t['wall_s'])} | {fmt(base / t['wall_s'])}x | "
                     f"{'-' if same is None else ('byte for byte' if same else 'NO')} |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    started = time.perf_counter()
    report = {"date": dt.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
              "threads": args.threads}
    with tempfile.TemporaryDirectory(prefix="phism-batch-") as tmp:
        work = Path(tmp)
        enmap = sorted((data_root() / "enmap_potsdam/images").glob("*.tif"))
        crops_dir = work / "aviris"
        crops_dir.mkdir()
        groups = {"enmap": (enmap, work / "enmap.safetensors"),
                  "aviris": (aviris_crops(crops_dir), work / "aviris.safetensors")}
        for tiles, model in groups.values():
            subprocess.run([phism(), "fit-encoder", *map(str, tiles), "-o", str(model),
                            "--epochs", "5", "-q", "--threads", str(args.threads)], check=True)
        report["tiles"] = sum(len(t) for t, _ in groups.values())
        report["pixels"] = 18 * 32 * 32 + N_AVIRIS_CROPS * CROP * CROP
        report["ways"] = run_ways(groups, work, args.threads)
        report["identical"] = identical_to_loop(work)
    finish_report(report, started, markdown, args.out)


if __name__ == "__main__":
    main()
