"""`phism encode` end to end on a GPU machine, through the real command line, against the
rate at which the same file is read raw.

Writes a synthetic ENVI scene (`--rows` x `--cols` pixels, `--bands` float32 bands, BIL, the
layout of most airborne products) to `--tmp`, reads it raw (numpy, 64 MB reads; once after
asking the kernel to drop its pages, once from the page cache), fits an encoder on a sample
(`fit-encoder --device cuda`, not the subject here) and times `phism encode --json` to a Zarr
store on the GPU (`--device cuda`) and on the CPU, in fresh processes: the command's own
`pixels_per_second` (tiles read, encoded and written, start-up excluded) and the wall time of
the whole process. Every ratio is against the raw read rate of the same file, measured in
the same run.

    PYTHONPATH=. python benchmarks/cuda_cli.py --out cuda_cli.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

READ_CHUNK = 64 << 20


def write_scene(folder: Path, rows: int, cols: int, bands: int) -> Path:
    """A BIL float32 ENVI scene of smooth mixtures, written a block of lines at a time."""
    rng = np.random.default_rng(0)
    wavelength = np.linspace(400.0, 2500.0, bands)
    ends = np.stack([0.2 + 0.6 * np.exp(-0.5 * ((wavelength - c) / w) ** 2)
                     for c, w in zip(rng.uniform(500, 2300, 6), rng.uniform(80, 400, 6),
                                     strict=True)])
    data = folder / "scene.bil"
    with open(data, "wb") as fh:
        for first in range(0, rows, 256):
            n = min(256, rows - first)
            weights = rng.dirichlet(np.ones(len(ends)), size=(n, cols))
            block = (weights @ ends).astype(np.float32)  # (n, cols, bands)
            block += rng.normal(0, 0.002, block.shape).astype(np.float32)
            fh.write(np.ascontiguousarray(block.transpose(0, 2, 1)).tobytes())
    header = folder / "scene.hdr"
    header.write_text(
        "ENVI\n"
        f"samples = {cols}\nlines = {rows}\nbands = {bands}\nheader offset = 0\n"
        "file type = ENVI Standard\ndata type = 4\ninterleave = bil\nbyte order = 0\n"
        "wavelength units = Nanometers\n"
        f"wavelength = {{{', '.join(f'{w:.3f}' for w in wavelength)}}}\n")
    return header


def read_rate(path: Path, cold: bool) -> dict:
    """Bytes per second reading the whole file in 64 MB reads into one buffer."""
    size = path.stat().st_size
    dropped = False
    if cold:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            dropped = True
        except OSError:
            pass
        finally:
            os.close(fd)
    buffer = bytearray(READ_CHUNK)
    view = memoryview(buffer)
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        while fh.readinto(view):
            pass
    seconds = time.perf_counter() - started
    return {"bytes_per_s": size / seconds, "seconds": seconds, "page_cache_dropped": dropped}


def phism(*args: str, threads: int) -> tuple[dict, float]:
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "phism_cli", *args, "--json", "-q",
                           "--threads", str(threads)], capture_output=True, text=True,
                          check=False)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"phism {' '.join(args[:3])} failed: {proc.stderr.strip()[-600:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--cols", type=int, default=1024)
    parser.add_argument("--bands", type=int, default=200)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--devices", default="cuda,cpu")
    parser.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--out", type=Path, default=Path("cuda_cli.json"))
    args = parser.parse_args()
    import torch

    report: dict = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                    "torch": torch.__version__, "cpu_cores": os.cpu_count(),
                    "threads": args.threads, "rows": args.rows, "cols": args.cols,
                    "bands": args.bands, "runs": {}}
    pixels = args.rows * args.cols
    with tempfile.TemporaryDirectory(dir=args.tmp, prefix="phism-cli-") as tmp:
        folder = Path(tmp)
        header = write_scene(folder, args.rows, args.cols, args.bands)
        data = header.with_suffix(".bil")
        report["file_bytes"] = data.stat().st_size
        report["read_cold"] = read_rate(data, cold=True)
        report["read_warm"] = read_rate(data, cold=False)
        model = folder / "model.safetensors"
        fitted, _ = phism("fit-encoder", str(header), "-o", str(model), "--epochs", "5",
                          "--max-pixels", "100000", "--device",
                          args.devices.split(",")[0], threads=args.threads)
        report["fit"] = {k: fitted.get(k) for k in ("val_psnr_db", "seconds", "epochs_run")}
        for device in args.devices.split(","):
            out = folder / f"latents_{device}.zarr"
            summary, wall = phism("encode", str(header), "-o", str(out), "-m", str(model),
                                  "--device", device, threads=args.threads)
            report["runs"][device] = {
                "pixels_per_second": summary["pixels_per_second"],
                "encode_seconds": summary["encode_seconds"], "wall_seconds": wall,
                "wall_pixels_per_second": pixels / wall, "device": summary.get("device")}
    print(markdown(report))
    args.out.write_text(json.dumps(report, indent=2) + "\n")


def markdown(report: dict) -> str:
    bytes_per_pixel = report["bands"] * 4
    warm = report["read_warm"]["bytes_per_s"] / bytes_per_pixel
    cold = report["read_cold"]["bytes_per_s"] / bytes_per_pixel
    lines = [f"# `phism encode` end to end on {report['gpu']}", "",
             f"- Date: {report['date']}; torch {report['torch']}; {report['cpu_cores']} CPU "
             f"cores, --threads {report['threads']}.",
             f"- Scene: {report['rows']} x {report['cols']} pixels x {report['bands']} bands "
             f"float32 BIL ENVI ({report['file_bytes'] / 1e9:.2f} GB) on the machine's local "
             "disk; output a Zarr store (Blosc-zstd) on the same disk.",
             f"- Encoder: `fit-encoder --epochs 5 --max-pixels 100000` (val PSNR "
             f"{report['fit'].get('val_psnr_db')}).", "",
             "| what | pixels/s | GB/s of input | vs raw read (warm) | vs raw read (cold) |",
             "|---|---:|---:|---:|---:|",
             f"| raw read, cold (page cache dropped: {report['read_cold']['page_cache_dropped']})"
             f" | {cold:,.0f} | {cold * bytes_per_pixel / 1e9:.2f} | {cold / warm:.2f} | 1.00 |",
             f"| raw read, warm (page cache) | {warm:,.0f} | {warm * bytes_per_pixel / 1e9:.2f}"
             f" | 1.00 | {warm / cold:.2f} |"]
    for device, run in report["runs"].items():
        for label, rate in ((f"`encode --device {device}` (tiles: read, encode, write)",
                             run["pixels_per_second"]),
                            (f"`encode --device {device}`, whole process (start-up included)",
                             run["wall_pixels_per_second"])):
            lines.append(f"| {label} | {rate:,.0f} | {rate * bytes_per_pixel / 1e9:.2f} | "
                         f"{rate / warm:.2f} | {rate / cold:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
