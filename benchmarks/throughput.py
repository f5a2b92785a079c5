"""Encode and training throughput of phism against the bare network, and peak memory.

Builds synthetic ENVI BSQ scenes (smooth random spectra, wavelengths 400-2500 nm in the
header) in a temporary folder, sized in GB of file (`--sizes 0.5 2 8`) or as ROWSxCOLS;
scenes of `--int16-from` GB or more are stored as int16 with a reflectance scale factor, to
save disk. It fits one encoder with `phism fit-encoder` on the smallest scene (timed: the
training pixels/s) and then, in this process with the same thread count:

- the bare network: the trained model's encoder MLP alone (eval mode, BatchNorm unfolded),
  and the whole unfolded model as `transform` computed it before issue 11 (MLP, amplitude
  solve, sort, physical units), on pixels in memory, in batches of `--batch-size`;
- `PhismEncoder.transform` on the same pixels (folded inference copy), at that batch size
  and over a sweep of batch sizes (`--sweep`);
- one training step of the same architecture (forward, Huber loss, backward, AdamW), on
  batches of 512 pixels in memory: the bound `fit-encoder` works against.

Then `phism encode SCENE -o OUT.zarr -m MODEL --json -q --device cpu --batch-size B` runs on
every scene in a fresh child process (reading, encoding and writing overlapped), and, with
`--serial`, once more with the overlap switched off (`phism_cli.pipeline.encode.OVERLAP`).
For each run it records the command's own `encode_seconds` / `pixels_per_second`, the wall
time, and memory: the child's peak RSS from GNU time (`/usr/bin/time -f %M`, ru_maxrss:
file-backed pages of the input count too) and the peaks of RssAnon / RssFile sampled from
/proc/PID/status every 20 ms. Scenes and outputs are deleted afterwards.

    python benchmarks/throughput.py --threads 1                        # 0.1 and 0.5 GB
    python benchmarks/throughput.py --threads 1 --sizes 0.5 2 --serial
    python benchmarks/throughput.py --threads 2 --sizes 0.5 2 8
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from common import finish_report, fmt, machine, machine_line

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "throughput.md"
SCENE_WIDTH = 1000  # columns of a scene given in GB


def parse_size(text: str) -> tuple[int, int]:
    """'ROWSxCOLS' -> (rows, cols)."""
    try:
        rows, cols = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: use ROWSxCOLS, e.g. 1280x1024") from None
    if rows < 1 or cols < 1:
        raise argparse.ArgumentTypeError(f"size {text!r}: rows and cols must be positive")
    return rows, cols


def phism_command() -> list[str]:
    """The `phism` console script of this interpreter's environment."""
    exe = Path(sys.executable).with_name("phism")
    if exe.is_file():
        return [str(exe)]
    return [sys.executable, "-c", "from phism_cli.cli.main import main; main()"]


# -- synthetic scenes -----------------------------------------------------------------------
def endmembers(wavelengths: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, bands) smooth positive spectra: a sloped baseline plus a few Gaussian bumps."""
    x = (wavelengths - wavelengths.min()) / np.ptp(wavelengths)
    spectra = np.empty((n, len(x)))
    for i in range(n):
        s = 0.1 + 0.2 * rng.random() + 0.2 * (rng.random() - 0.5) * x
        for _ in range(rng.integers(2, 6)):
            mu, sigma = rng.random(), 0.03 + 0.2 * rng.random()
            s = s + (rng.random() - 0.3) * 0.3 * np.exp(-0.5 * ((x - mu) / sigma) ** 2)
        spectra[i] = np.clip(s, 0.01, None)
    return spectra


def abundances(rows: int, cols: int, n: int, rng: np.random.Generator,
               chunk_rows: int = 512) -> np.ndarray:
    """(rows, cols, n) float32 abundances summing to 1: a coarse random field, upsampled
    bilinearly, times per-pixel jitter; computed in row chunks so memory stays small."""
    coarse = rng.gamma(1.0, size=(rows // 32 + 2, cols // 32 + 2, n))
    rx = np.linspace(0, coarse.shape[1] - 1.001, cols)
    ix, fx = rx.astype(int), (rx % 1)[None, :, None]
    ry_all = np.linspace(0, coarse.shape[0] - 1.001, rows)
    out = np.empty((rows, cols, n), dtype=np.float32)
    for first in range(0, rows, chunk_rows):
        ry = ry_all[first:first + chunk_rows]
        iy, fy = ry.astype(int), (ry % 1)[:, None, None]
        top = coarse[iy][:, ix] * (1 - fx) + coarse[iy][:, ix + 1] * fx
        bottom = coarse[iy + 1][:, ix] * (1 - fx) + coarse[iy + 1][:, ix + 1] * fx
        part = (top * (1 - fy) + bottom * fy) * rng.uniform(0.8, 1.2, (len(ry), cols, 1))
        out[first:first + len(ry)] = part / part.sum(axis=-1, keepdims=True)
    return out


# int16 scenes store reflectance x this (the header's reflectance scale factor).
INT16_SCALE = 10000


def write_scene(folder: Path, rows: int, cols: int, bands: int, seed: int,
                dtype: str = "float32") -> Path:
    """Write an ENVI BSQ scene (float32, or int16 with a reflectance scale factor of
    INT16_SCALE) of linear mixtures of smooth spectra plus noise; return the .hdr."""
    rng = np.random.default_rng(seed)
    wavelengths = np.linspace(400.0, 2500.0, bands)
    ends = endmembers(wavelengths, 8, rng).astype(np.float32)  # (8, bands)
    abundance = abundances(rows, cols, len(ends), rng).reshape(-1, len(ends))

    suffix = "" if dtype == "float32" else f"_{dtype}"
    name = f"synthetic_{rows}x{cols}x{bands}{suffix}"
    data_path = folder / f"{name}.img"
    file_dtype = {"float32": "<f4", "int16": "<i2"}[dtype]
    cube = np.memmap(data_path, dtype=file_dtype, mode="w+", shape=(bands, rows * cols))
    for b in range(bands):  # BSQ: one band image at a time
        band = abundance @ ends[:, b]
        band += rng.normal(0.0, 0.002, band.shape).astype(np.float32)
        cube[b] = band if dtype == "float32" else np.round(band * INT16_SCALE)
    cube.flush()
    del cube
    header = folder / f"{name}.hdr"
    header.write_text(
        "ENVI\n"
        "description = {phism synthetic benchmark scene}\n"
        f"samples = {cols}\nlines = {rows}\nbands = {bands}\n"
        "header offset = 0\nfile type = ENVI Standard\n"
        f"data type = {4 if dtype == 'float32' else 2}\n"
        "interleave = bsq\nbyte order = 0\n"
        + ("" if dtype == "float32" else f"reflectance scale factor = {INT16_SCALE}\n")
        + "map info = {UTM, 1.000, 1.000, 500000.000, 5800000.000, 30.000, 30.000, 33, North, "
        "WGS-84, units=Meters}\n"
        "wavelength units = Nanometers\n"
        "wavelength = {" + ", ".join(f"{w:.3f}" for w in wavelengths) + "}\n"
    )
    return header


# -- measuring a child ----------------------------------------------------------------------
def find_child(pid: int) -> int | None:
    """The pid of a process whose parent is `pid` (the command /usr/bin/time started)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            return int(stat.parent.name)
    return None


def run_measured(cmd: list[str], log_dir: Path, tag: str, env: dict | None = None) -> dict:
    """Run `cmd` in a fresh child; return its exit code, stdout, wall time and memory peaks.

    Peak RSS comes from GNU time (`%M`, the child's ru_maxrss). Calling `os.wait4` on a child
    forked straight from this script would not do: Linux carries the forking process's RSS
    high-water mark into the child's ru_maxrss, and this script has just written the scenes.
    """
    stdout_path, stderr_path = log_dir / f"{tag}.out", log_dir / f"{tag}.err"
    rss_path = log_dir / f"{tag}.maxrss"
    peaks = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}
    timer = shutil.which("time") or "/usr/bin/time"
    if not Path(timer).is_file():
        raise SystemExit("GNU time (/usr/bin/time) is needed to measure peak memory")
    start = time.perf_counter()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen([timer, "-f", "%M", "-o", str(rss_path), *cmd],
                                stdout=out, stderr=err,
                                env=None if env is None else {**os.environ, **env})
        done = threading.Event()

        def sample() -> None:
            child = None
            while not done.is_set():
                child = child or find_child(proc.pid)
                if child is not None:
                    try:
                        for line in Path(f"/proc/{child}/status").read_text().splitlines():
                            key, _, value = line.partition(":")
                            if key in peaks:
                                peaks[key] = max(peaks[key], int(value.split()[0]))
                    except (OSError, ValueError, IndexError):
                        pass
                done.wait(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        proc.wait()
        done.set()
        sampler.join()
    wall = time.perf_counter() - start
    maxrss_kib = int(rss_path.read_text().split()[-1])
    return {
        "returncode": proc.returncode,
        "stdout": stdout_path.read_text(),
        "stderr": stderr_path.read_text(),
        "wall_seconds": wall,
        "maxrss_mb": maxrss_kib / 1024.0,  # GNU time reports KiB
        "peak_rss_anon_mb": peaks["RssAnon"] / 1024.0,
        "peak_rss_file_mb": peaks["RssFile"] / 1024.0,
        "vmhwm_sampled_mb": peaks["VmHWM"] / 1024.0,
    }


def run_ok(cmd: list[str], log_dir: Path, tag: str) -> dict:
    """`run_measured`, stopping the benchmark with the command's stderr if it fails."""
    run = run_measured(cmd, log_dir, tag)
    if run["returncode"] != 0:
        sys.stderr.write(run["stderr"])
        raise SystemExit(f"{' '.join(cmd[:3])} ... failed with exit code {run['returncode']}")
    return run


def dir_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())




def parse_scene_size(text: str) -> tuple[int, int] | float:
    """'ROWSxCOLS' -> (rows, cols); '0.5' or '2GB' -> GB of file."""
    if "x" in text.lower():
        return parse_size(text)
    try:
        gb = float(text.lower().removesuffix("gb"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: give GB (0.5, 2GB) or ROWSxCOLS"
                                         ) from None
    if gb <= 0:
        raise argparse.ArgumentTypeError(f"size {text!r}: must be positive")
    return gb


def scene_shape(size: tuple[int, int] | float, bands: int, int16_from: float
                ) -> tuple[int, int, str]:
    """(rows, cols, dtype) of a scene size; GB sizes are SCENE_WIDTH columns wide."""
    if isinstance(size, tuple):
        rows, cols = size
        gb = rows * cols * bands * 4 / 1e9
        return rows, cols, "int16" if gb >= int16_from else "float32"
    dtype = "int16" if size >= int16_from else "float32"
    itemsize = 2 if dtype == "int16" else 4
    rows = max(1, round(size * 1e9 / (SCENE_WIDTH * bands * itemsize)))
    return rows, SCENE_WIDTH, dtype


# The real command line in a child, with encode's overlap on or off (first argument 1/0).
ENCODE_DRIVER = ("import sys; from phism_cli.pipeline import encode; "
                 "encode.OVERLAP = sys.argv.pop(1) == '1'; "
                 "from phism_cli.cli.main import main; main(sys.argv[1:])")


# -- the bare network, in this process ------------------------------------------------------
def best_rate(run: object, pixels: int, repeats: int) -> float:
    """Pixels per second of the fastest of `repeats` calls of `run` (after a warm-up)."""
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return pixels / best


def bare_network(model: Path, header: Path, batch: int, n_pixels: int, repeats: int,
                 sweep: list[int]) -> dict:
    """Inference px/s of the bare unfolded network and of `transform` on pixels in memory."""
    import torch
    from rasterio.windows import Window

    from phism_cli.io.scene_formats import open_scene
    from phism_cli.model.checkpoint import load_encoder
    from phism_cli.model.network import PhismAutoencoder
    from phism_cli.pipeline.encode import valid_rows
    from phism_cli.pixels import valid_mask

    encoder, _ = load_encoder(model)
    encoder.to("cpu")
    with open_scene(header) as scene:
        rows = min(scene.height, -(-n_pixels // scene.width))
        block = scene.read(Window(0, 0, scene.width, rows))
    pixels = valid_rows(block, valid_mask(block))[:n_pixels]
    n = len(pixels)
    model = encoder.model_.eval()
    with torch.inference_mode():
        scaled = (torch.as_tensor(pixels) - torch.as_tensor(encoder.scaler_.mean_)) / \
            torch.as_tensor(encoder.scaler_.scale_)

    def chunks(fn: object) -> object:
        def run() -> None:
            with torch.inference_mode():
                for first in range(0, n, batch):
                    fn(scaled[first:first + batch])
        return run

    result = {"pixels": n, "batch": batch, "threads": torch.get_num_threads(),
              "mlp_unfolded": best_rate(chunks(model.encoder), n, repeats)}
    if isinstance(model, PhismAutoencoder):
        result["model_unfolded"] = best_rate(
            chunks(lambda x: encoder._physical_latent(model, x)), n, repeats)
    result["transform"] = best_rate(lambda: encoder.transform(pixels, batch_size=batch), n,
                                    repeats)
    result["sweep"] = {str(b): best_rate(lambda b=b: encoder.transform(pixels, batch_size=b),
                                         n, repeats) for b in sweep}
    result["training_step"] = training_step(encoder, pixels, repeats)
    return result


def training_step(fitted: object, pixels: np.ndarray, repeats: int, batch: int = 512,
                  steps: int = 20) -> float:
    """Pixels/s of `fit`'s training step (forward, loss, backward, AdamW) on batches of
    `batch` pixels in memory, for a fresh model of `fitted`'s architecture."""
    import torch

    from phism_cli.model.estimator import PhismEncoder, StableHuberLoss

    if not isinstance(fitted, PhismEncoder):
        return float("nan")
    fresh = PhismEncoder(**{**fitted.get_params(), "device": "cpu"})
    fresh.scaler_ = fitted.scaler_
    fresh._build(pixels.shape[1], fitted.wavelength_nm_)
    fresh._set_reference()
    model = fresh.model_.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=fresh.lr,
                                  weight_decay=fresh.weight_decay)
    loss_fn = StableHuberLoss(fresh.huber_delta)
    data = torch.as_tensor(fresh.scaler_.transform(pixels))
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(0))

    def run() -> None:
        for i in range(steps):
            idx = order[(i * batch) % (len(data) - batch):][:batch]
            step = data[idx]
            optimiser.zero_grad(set_to_none=True)
            loss = loss_fn(model(step), step)
            loss.backward()
            optimiser.step()

    return best_rate(run, steps * batch, repeats)


def merge_best(first: dict, second: dict) -> dict:
    """Per key, the larger rate of two bare-network measurements (nested dicts too)."""
    out = {}
    for key, value in first.items():
        other = second.get(key, value)
        if isinstance(value, dict):
            out[key] = merge_best(value, other)
        elif isinstance(value, float):
            out[key] = max(value, other)
        else:
            out[key] = value
    return out


# -- report ---------------------------------------------------------------------------------
def num(value: float | None) -> str:
    """A rate with thousands separators ('-' when missing)."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:,.0f}"


def markdown(report: dict) -> str:
    s, bare, fit = report["settings"], report.get("bare", {}), report.get("fit", {})
    mlp, unfolded = bare.get("mlp_unfolded"), bare.get("model_unfolded")
    lines = [
        "# `phism encode` and `fit-encoder` throughput against the bare network; peak memory",
        "",
        f"- Date: {report['date']}" + ("" if report.get("complete") else " (partial run)"),
        machine_line(report, s["threads"]),
        f"- Scenes: synthetic ENVI BSQ, {s['bands']} bands (float32, or int16 with a "
        f"reflectance scale factor from {s['int16_from']} GB of file), wavelengths 400-2500 "
        "nm, linear mixtures of 8 smooth spectra plus noise, written just before encoding "
        "(read from the page cache: disk speed is not measured).",
        f"- Encoder: `phism fit-encoder` on the smallest scene, {s['components']} skew-normal "
        f"components, {s['epochs']} epochs, --max-pixels {s['max_pixels']}, device cpu, "
        f"hidden widths {s.get('hidden') or 'phism default'}.",
        f"- Encode: `phism encode SCENE -o OUT.zarr -m MODEL --json -q --device cpu "
        f"--batch-size {s['batch_size']}` (default tile size 256), PHISM_THREADS="
        f"{s['threads']}, a fresh process per run; overlapped = reading, encoding and writing "
        "in three threads (the default), serial = the same with the overlap off. pixels/s is "
        "the command's own (`pixels_per_second`: reading, encoding, writing; no start-up or "
        "model loading); the fastest of the runs, memory the largest.",
        f"- Bare network, in the benchmark process with {bare.get('threads', '-')} torch "
        f"thread(s), on {bare.get('pixels', 0):,} pixels in memory in batches of "
        f"{bare.get('batch', '-')} (fastest of {max(3, s['repeats'])}, measured before and "
        "after the encodes): the MLP alone (eval mode, "
        "BatchNorm not folded), and the whole unfolded model as `transform` computed it "
        "before issue 11 (MLP, amplitude solve, sort, physical units); `transform` now (BatchNorm "
        "folded, design matrix in place).",
        "",
        "## Bare network (inference)",
        "",
        "| what | pixels/s |",
        "|---|---:|",
        f"| encoder MLP alone, unfolded | {num(mlp)} |",
        f"| whole model, unfolded (old `transform` maths) | {num(unfolded)} |",
        f"| `transform` now (folded, in place) | {num(bare.get('transform'))} |",
        "",
        "`transform` by batch size: " + ", ".join(
            f"{b}: {v:,.0f}" for b, v in bare.get("sweep", {}).items()) + " pixels/s.",
        "",
        "## `phism encode` end to end",
        "",
        "| scene (rows x cols x bands) | dtype | pixels | file GB | pixels/s overlapped | "
        "pixels/s serial | / bare MLP | / bare model | process s | peak RSS MB | "
        "peak anon MB | peak file-backed MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        rate = r["pixels_per_second"]
        serial = r.get("serial", {}).get("pixels_per_second")
        lines.append(
            f"| {r['rows']} x {r['cols']} x {r['bands']} | {r['dtype']} | {r['pixels']:,} | "
            f"{r['file_gb']:.2f} | {rate:,.0f} | {num(serial)} | "
            f"{fmt(rate / mlp if mlp else None)} | {fmt(rate / unfolded if unfolded else None)} "
            f"| {r['wall_seconds']:.1f} | {r['maxrss_mb']:.0f} | {r['peak_rss_anon_mb']:.0f} | "
            f"{r['peak_rss_file_mb']:.0f} |")
    if fit:
        step = bare.get("training_step")
        later = fit.get("later_epochs_pixels_per_second") or math.nan
        lines += [
            "",
            "## Training",
            "",
            "| what | pixels/s |",
            "|---|---:|",
            f"| `phism fit-encoder` ({fit['epochs']} epochs x {fit['train_pixels']:,} "
            f"training pixels in {fit['seconds']:.1f} s of `fit`) | "
            f"{num(fit['pixels_per_second'])} |",
            f"| `fit-encoder`, epochs after the first ({fit['epochs']}-epoch fit less a "
            f"1-epoch fit: {fit['seconds'] - fit['one_epoch_seconds']:.1f} s) | "
            f"{num(fit.get('later_epochs_pixels_per_second'))} |",
            f"| bare training step (forward, loss, backward, AdamW; batches of 512 in memory) "
            f"| {num(step)} |",
            f"| ratio, whole fit / bare | "
            f"{fmt(fit['pixels_per_second'] / step if step else None)} |",
            f"| ratio, epochs after the first / bare | "
            f"{fmt(later / step if step else None)} |",
            "",
            "A fit's one-off costs (the first AdamW imports torch._dynamo, about 2 s; the "
            "first steps; the final validation) weigh on short fits; the difference of two fits "
            "shows what each further epoch costs.",
        ]
    lines += ["", f"Total benchmark wall time: {report.get('total_seconds', 0):.0f} s."]
    return "\n".join(lines) + "\n"


def encode_once(model: Path, header: Path, tmp: Path, tag: str, overlap: bool,
                batch: int, env: dict) -> dict:
    out = tmp / f"{header.stem}.zarr"
    cmd = [sys.executable, "-c", ENCODE_DRIVER, "1" if overlap else "0", "encode",
           str(header), "-o", str(out), "-m", str(model), "--device", "cpu", "--json", "-q",
           "--batch-size", str(batch)]
    run = run_measured(cmd, tmp, tag, env)
    if run["returncode"] != 0:
        sys.stderr.write(run["stderr"])
        raise SystemExit(f"phism encode failed on {header.name} with exit code "
                         f"{run['returncode']}")
    summary = json.loads(run["stdout"].strip().splitlines()[-1])
    run.update(encode_seconds=summary["encode_seconds"],
               pixels_per_second=summary["pixels_per_second"],
               valid_pixels=summary["valid_pixels"], latent_mb=dir_size(out) / 1e6)
    del run["stdout"], run["stderr"]
    shutil.rmtree(out)
    print(f"  {tag}: {run['pixels_per_second']:,.0f} pixels/s, peak RSS "
          f"{run['maxrss_mb']:.0f} MB", file=sys.stderr)
    return run


def main(argv: list[str] | None = None) -> int:
    from phism_cli.model.estimator import CPU_BATCH_SIZE

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_scene_size, default=[0.1, 0.5],
                        help="scene sizes: GB of file (0.5, 2, 8) or ROWSxCOLS "
                        "(default: 0.1 0.5)")
    parser.add_argument("--int16-from", type=float, default=4.0,
                        help="scenes of this many GB or more are int16 (default 4)")
    parser.add_argument("--threads", type=int, default=1,
                        help="PHISM_THREADS of every run, torch threads here (default 1)")
    parser.add_argument("--batch-size", type=int, default=CPU_BATCH_SIZE,
                        help=f"encode --batch-size (default {CPU_BATCH_SIZE}, transform's "
                        "automatic size on the CPU)")
    parser.add_argument("--bands", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3, help="epochs for fit-encoder")
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--hidden", help="fit-encoder --hidden W1,W2,... (default: phism's)")
    parser.add_argument("--max-pixels", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=1, help="encode runs per scene")
    parser.add_argument("--serial", action="store_true",
                        help="also encode every scene with the overlap off")
    parser.add_argument("--bare-pixels", type=int, default=32768,
                        help="pixels for the bare-network measurements")
    parser.add_argument("--sweep", type=int, nargs="*", default=[512, 1024, 2048, 4096, 16384],
                        help="transform batch sizes to time (none: skip)")
    parser.add_argument("--tmp", type=Path, default=None,
                        help="folder for the temporary scenes (default: system temp)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="markdown results file; a .json is written beside it")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    env = {"PHISM_THREADS": str(args.threads), "OMP_NUM_THREADS": str(args.threads)}
    t0 = time.perf_counter()
    shapes = sorted((scene_shape(size, args.bands, args.int16_from) for size in args.sizes),
                    key=lambda s: s[0] * s[1])
    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"sizes": [f"{r}x{c} {d}" for r, c, d in shapes], "bands": args.bands,
                     "threads": args.threads, "batch_size": args.batch_size,
                     "int16_from": args.int16_from, "epochs": args.epochs,
                     "components": args.components, "max_pixels": args.max_pixels,
                     "repeats": args.repeats, "serial": args.serial, "hidden": args.hidden},
        "runs": [], "complete": False,
    }
    tmp = Path(tempfile.mkdtemp(prefix="phism_throughput_", dir=args.tmp))
    need = sum(r * c * args.bands * (2 if d == "int16" else 4) for r, c, d in shapes)
    free = shutil.disk_usage(tmp).free
    if need * 1.1 + 2e9 > free:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SystemExit(f"the scenes need {need / 1e9:.1f} GB and {tmp.parent} has "
                         f"{free / 1e9:.1f} GB free; give --tmp elsewhere or smaller --sizes")
    try:
        scenes = []
        for i, (rows, cols, dtype) in enumerate(shapes):
            t = time.perf_counter()
            scenes.append((write_scene(tmp, rows, cols, args.bands, seed=i, dtype=dtype),
                           dtype))
            print(f"wrote {scenes[-1][0].name} in {time.perf_counter() - t:.1f} s",
                  file=sys.stderr)

        def fit_encoder(epochs: int, path: Path) -> tuple[dict, dict]:
            fit = run_measured(
                [*phism_command(), "fit-encoder", str(scenes[0][0]), "-o", str(path),
                 "--epochs", str(epochs), "--patience", str(epochs + 1), "--max-pixels",
                 str(args.max_pixels), "--components", str(args.components), "--device",
                 "cpu", "--json", "-q", *(["--hidden", args.hidden] if args.hidden else [])],
                tmp, f"fit{epochs}", env)
            if fit["returncode"] != 0:
                sys.stderr.write(fit["stderr"])
                raise SystemExit(f"phism fit-encoder failed with exit code {fit['returncode']}")
            return fit, json.loads(fit["stdout"].strip().splitlines()[-1])

        model = tmp / "encoder.safetensors"
        fit, summary = fit_encoder(args.epochs, model)
        # One epoch alone: the difference is what the later epochs cost, without the one-off
        # costs of a fit (torch.optim imports torch._dynamo, ~2 s; first steps; final val).
        _, one = fit_encoder(1, tmp / "one_epoch.safetensors")
        n_train, batch = summary["train_pixels"], 512
        passes = max(1, math.ceil(25 / math.ceil(n_train / batch)))
        per_epoch = passes * n_train
        extra = summary["seconds"] - one["seconds"]
        report["fit"] = {"seconds": summary["seconds"], "epochs": summary["epochs"],
                         "one_epoch_seconds": one["seconds"],
                         "train_pixels": n_train, "passes_per_epoch": passes,
                         "pixels_per_second": summary["epochs"] * per_epoch
                         / summary["seconds"],
                         "later_epochs_pixels_per_second": (summary["epochs"] - 1) * per_epoch
                         / extra if summary["epochs"] > 1 and extra > 0 else None,
                         "process_seconds": fit["wall_seconds"],
                         "maxrss_mb": fit["maxrss_mb"], "val_psnr_db": summary["val_psnr_db"]}
        print(f"fit-encoder: {report['fit']['pixels_per_second']:,.0f} pixels/s",
              file=sys.stderr)

        def bare() -> dict:
            return bare_network(model, scenes[0][0], args.batch_size, args.bare_pixels,
                                max(3, args.repeats), args.sweep)

        report["bare"] = bare()
        print(f"bare: {report['bare']}", file=sys.stderr)

        for header, dtype in scenes:
            rows, cols = (int(v) for v in header.stem.split("_")[1].split("x")[:2])
            runs = [encode_once(model, header, tmp, f"{header.stem}_{i}", True,
                                args.batch_size, env) for i in range(args.repeats)]
            best = max(runs, key=lambda r: r["pixels_per_second"])
            row = {
                "rows": rows, "cols": cols, "bands": args.bands, "dtype": dtype,
                "pixels": rows * cols, "file_gb": header.with_suffix(".img").stat().st_size / 1e9,
                **best,
                **{k: max(r[k] for r in runs) for k in
                   ("maxrss_mb", "peak_rss_anon_mb", "peak_rss_file_mb", "vmhwm_sampled_mb")},
                "runs": runs,
            }
            if args.serial:
                row["serial"] = encode_once(model, header, tmp, f"{header.stem}_serial", False,
                                            args.batch_size, env)
            report["runs"].append(row)
            if header != scenes[0][0]:  # free the disk for the next scene
                header.unlink()
                header.with_suffix(".img").unlink()
        # The bare network once more, after the encodes: the faster of the two measurements
        # counts (other processes on a shared machine only ever slow a measurement down).
        again = bare()
        report["bare_first"] = report["bare"]
        report["bare"] = merge_best(report["bare"], again)
        print(f"bare again: {again}", file=sys.stderr)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish_report(report, t0, markdown, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
