"""`encode` on a GPU: raw reads, the bare network by precision, the tile pipeline, PSNR loss.

Self-contained: needs torch, numpy and this repository's `phism_cli` on the path (no
rasterio, zarr, spectral or scikit-learn), so it runs on a bare GPU machine:

    PYTHONPATH=. python benchmarks/cuda_encode.py --out cuda_encode.json
    PYTHONPATH=. python benchmarks/cuda_encode.py --pixels 20000 --device cpu --out /tmp/c.json

It builds a synthetic cube (`--pixels` spectra of `--bands` bands: mixtures of 8 smooth
endmembers plus noise, float32) in memory and as a raw BIP file in `--tmp`, fits a PhISM
encoder on part of it (`--epochs`, on the device), and times:

1. raw file reads: the file read tile by tile (`--tile` rows x cols, one `preadv` per row)
   into a numpy array, once after asking the kernel to drop the file's pages
   (posix_fadvise DONTNEED after fsync: "cold", as near to the disk as an unprivileged
   process gets; the drop is advisory) and once again from the page cache ("warm");
2. the bare network on device tensors (no host copies): the encoder MLP unfolded (eval-mode
   BatchNorm) in float32, folded in float32, TF32, bfloat16 and float16 (autocast), and the
   whole model as `transform` runs it (unfolded, and folded in each precision);
3. `PhismEncoder.transform` from host numpy arrays (pinned staging, side-stream copies) in
   each precision, at its automatic batch size, with the peak device memory per pixel;
4. the tile pipeline end to end: `encode_scene` reading tiles from the raw file, encoding on
   the device and writing into a numpy memmap on local disk, with the overlap of reading,
   encoding and writing on and off, at tile sizes `--pipeline-tiles`;
5. reconstruction PSNR of each precision against float32 (on `--psnr-pixels` held-out
   spectra; `encoder.inverse_transform`), and the largest change of the centres (nm);
6. correctness: the device's float32 latents against the CPU's, and `transform` in several
   batches against one.

Prints a markdown table and writes every number to `--out` (JSON). Defaults finish in about
two minutes on one H100.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from phism_cli.model.estimator import PhismEncoder, psnr_db  # noqa: E402
from phism_cli.pipeline import encode as encode_module  # noqa: E402
from phism_cli.pipeline.encode import encode_scene  # noqa: E402

PRECISIONS = ("float32", "bfloat16", "float16")


# -- data ------------------------------------------------------------------------------------
def synthetic_pixels(n: int, bands: int, seed: int = 0, chunk: int = 1 << 20) -> np.ndarray:
    """(n, bands) float32 reflectance-like spectra: mixtures of 8 smooth endmembers."""
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, bands)
    ends = np.empty((8, bands))
    for i in range(8):
        s = 0.1 + 0.2 * rng.random() + 0.2 * (rng.random() - 0.5) * x
        for _ in range(rng.integers(2, 6)):
            mu, sigma = rng.random(), 0.03 + 0.2 * rng.random()
            s = s + (rng.random() - 0.3) * 0.3 * np.exp(-0.5 * ((x - mu) / sigma) ** 2)
        ends[i] = np.clip(s, 0.01, None)
    ends = ends.astype(np.float32)
    out = np.empty((n, bands), dtype=np.float32)
    for first in range(0, n, chunk):
        m = min(chunk, n - first)
        weights = rng.gamma(1.0, size=(m, 8)).astype(np.float32)
        weights /= weights.sum(axis=1, keepdims=True)
        out[first:first + m] = weights @ ends
        out[first:first + m] += rng.normal(0.0, 0.002, (m, bands)).astype(np.float32)
    return out


@dataclass(frozen=True)
class Win:
    """The parts of a rasterio Window that encode_scene and the writers use."""

    col_off: int
    row_off: int
    width: int
    height: int

    def toslices(self) -> tuple[slice, slice]:
        return (slice(self.row_off, self.row_off + self.height),
                slice(self.col_off, self.col_off + self.width))


def tiles(height: int, width: int, size: int) -> list[Win]:
    return [Win(c, r, min(size, width - c), min(size, height - r))
            for r in range(0, height, size) for c in range(0, width, size)]


class RawScene:
    """A raw BIP float32 file (rows, cols, bands) read tile by tile with preadv."""

    def __init__(self, path: Path, height: int, width: int, bands: int) -> None:
        self.path, self.height, self.width, self.bands = path, height, width, bands
        self.fd = os.open(path, os.O_RDONLY)
        self.bytes_read = 0

    def windows(self, tile_size: int) -> list[Win]:
        return tiles(self.height, self.width, tile_size)

    def read(self, window: Win) -> np.ndarray:
        out = np.empty((window.height, window.width, self.bands), dtype=np.float32)
        row_bytes = self.width * self.bands * 4
        seg = window.width * self.bands * 4
        for i in range(window.height):
            offset = (window.row_off + i) * row_bytes + window.col_off * self.bands * 4
            view = memoryview(out[i]).cast("B")
            got = os.preadv(self.fd, [view], offset)
            if got != seg:
                raise OSError(f"short read: {got} of {seg} bytes")
        self.bytes_read += out.nbytes
        return out

    def drop_cache(self) -> bool:
        """Ask the kernel to drop the file's cached pages (advisory; no root needed)."""
        try:
            os.fsync(self.fd)
            os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
            return True
        except (AttributeError, OSError):
            return False

    def close(self) -> None:
        os.close(self.fd)


class MemmapWriter:
    """encode_scene's writer: windows into a (rows, cols, channels) float32 memmap."""

    def __init__(self, path: Path, height: int, width: int, channels: int) -> None:
        self.array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                               shape=(height, width, channels))

    def write(self, window: Win, block: np.ndarray) -> None:
        rows, cols = window.toslices()
        self.array[rows, cols] = block

    def close(self) -> None:
        self.array.flush()


# -- timing ----------------------------------------------------------------------------------
def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(run, device: torch.device, repeats: int = 3) -> float:
    """Seconds of the fastest of `repeats` calls of `run` (after one warm-up call)."""
    run()
    sync(device)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        sync(device)
        best = min(best, time.perf_counter() - start)
    return best


@contextlib.contextmanager
def tf32(active: bool):
    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = active
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = matmul, cudnn


# -- the measurements ------------------------------------------------------------------------
def read_throughput(scene: RawScene, tile: int) -> dict:
    result = {}
    for label in ("cold", "warm"):
        dropped = scene.drop_cache() if label == "cold" else None
        start = time.perf_counter()
        pixels = 0
        for window in scene.windows(tile):
            pixels += scene.read(window).shape[0] * window.width
        seconds = time.perf_counter() - start
        result[label] = {"seconds": seconds, "pixels_per_second": pixels / seconds,
                         "bytes_per_second": pixels * scene.bands * 4 / seconds,
                         "cache_dropped": dropped}
    return result


def bare_network(encoder: PhismEncoder, pixels: np.ndarray, device: torch.device,
                 batch: int, repeats: int) -> dict:
    """Pixels/s of the network on device tensors in batches of `batch` (no host copies)."""
    model = encoder.model_.eval()
    n = len(pixels)
    x = torch.as_tensor(pixels, device=device)
    mean = torch.as_tensor(encoder.scaler_.mean_, device=device)
    scale = torch.as_tensor(encoder.scaler_.scale_, device=device)
    scaled = (x - mean) / scale
    del x

    def over_batches(fn):
        def run() -> None:
            with torch.inference_mode():
                for first in range(0, n, batch):
                    fn(scaled[first:first + batch])
        return run

    out: dict[str, float] = {}
    out["mlp_unfolded_float32"] = n / timed(over_batches(model.encoder), device, repeats)
    out["model_unfolded_float32"] = n / timed(
        over_batches(lambda b: encoder._physical_latent(model, b)), device, repeats)
    for precision in (*PRECISIONS, "tf32"):
        folded = encoder.inference_model("float32" if precision == "tf32" else precision)
        with tf32(precision == "tf32"):
            out[f"mlp_folded_{precision}"] = n / timed(over_batches(folded.encoder), device,
                                                       repeats)
            out[f"model_folded_{precision}"] = n / timed(
                over_batches(lambda b, m=folded: encoder._physical_latent(m, b)), device,
                repeats)
    return out


def host_transform(encoder: PhismEncoder, pixels: np.ndarray, device: torch.device,
                   repeats: int) -> dict:
    """`transform` from numpy in each precision at the automatic batch size."""
    out: dict[str, object] = {"auto_batch_size": encoder.auto_batch_size()}
    for precision in PRECISIONS:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
        seconds = timed(lambda p=precision: encoder.transform(pixels, precision=p), device,
                        repeats)
        out[f"transform_{precision}"] = len(pixels) / seconds
        if device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(device) - base
            rows = min(len(pixels), encoder.auto_batch_size())
            out[f"peak_bytes_per_pixel_{precision}"] = peak / rows
    return out


class Timed:
    """Wraps one method of an object, adding up the seconds spent in it."""

    def __init__(self, target: object, method: str) -> None:
        self.target, self.method, self.seconds = target, method, 0.0
        self.inner = getattr(target, method)

    def __enter__(self) -> Timed:
        def timed_call(*args, **kwargs):
            start = time.perf_counter()
            try:
                return self.inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
        setattr(self.target, self.method, timed_call)
        return self

    def __exit__(self, *exc: object) -> None:
        delattr(self.target, self.method)


def pipeline(encoder: PhismEncoder, scene: RawScene, folder: Path, tile: int,
             overlap: bool, batch: int | None, precision: str = "auto") -> dict:
    """encode_scene from the raw file into a memmap; the seconds each thread spent reading,
    in `transform` and writing (the rest of the serial loop is finding valid pixels and
    laying tiles out)."""
    writer = MemmapWriter(folder / f"latent_{tile}_{int(overlap)}.npy", scene.height,
                          scene.width, len(encoder.channel_names_))
    saved = encode_module.OVERLAP
    encode_module.OVERLAP = overlap
    encoder.inference_precision = precision
    try:
        with Timed(scene, "read") as reads, Timed(encoder, "transform") as encodes, \
                Timed(writer, "write") as writes:
            start = time.perf_counter()
            counts = encode_scene(scene, encoder, writer, tile_size=tile, batch_size=batch)
            writer.close()
            seconds = time.perf_counter() - start
    finally:
        encode_module.OVERLAP = saved
        del encoder.inference_precision
    latent = np.asarray(writer.array)
    digest = hash(latent.tobytes()) if latent.nbytes < (1 << 31) else None
    del writer
    (folder / f"latent_{tile}_{int(overlap)}.npy").unlink()
    return {"tile": tile, "overlap": overlap, "precision": precision, "seconds": seconds,
            "read_s": reads.seconds, "transform_s": encodes.seconds, "write_s": writes.seconds,
            "pixels_per_second": counts["pixels"] / seconds, "valid": counts["valid_pixels"],
            "digest": digest}


def precision_loss(encoder: PhismEncoder, pixels: np.ndarray) -> dict:
    latent = {p: encoder.transform(pixels, precision=p) for p in PRECISIONS}
    psnr = {p: psnr_db(pixels, encoder.inverse_transform(latent[p])) for p in PRECISIONS}
    centres = [i for i, name in enumerate(encoder.channel_names_) if "_mu_" in name]
    out: dict[str, object] = {"psnr_db": psnr}
    for p in PRECISIONS[1:]:
        change = np.abs(latent[p][:, centres] - latent["float32"][:, centres])
        out[f"loss_db_{p}"] = psnr["float32"] - psnr[p]
        out[f"centre_change_nm_{p}"] = {"max": float(np.nanmax(change)),
                                        "mean": float(np.nanmean(change)),
                                        "p99": float(np.nanpercentile(change, 99))}
        out[f"nonfinite_{p}"] = int((~np.isfinite(latent[p])).any(axis=1).sum())
    return out


def correctness(encoder: PhismEncoder, pixels: np.ndarray, device: torch.device) -> dict:
    one = encoder.transform(pixels, batch_size=len(pixels), precision="float32")
    several = encoder.transform(pixels, batch_size=max(1, len(pixels) // 3 + 7),
                                precision="float32")
    out = {"batches_identical": bool(np.array_equal(one, several)),
           "batches_max_abs_diff": float(np.abs(one - several).max())}
    if device.type == "cuda":
        encoder.to("cpu")
        cpu = encoder.transform(pixels, precision="float32")
        encoder.to(str(device))
        scale = np.abs(cpu).max(axis=0)
        out["cuda_vs_cpu_max_rel_diff"] = float((np.abs(one - cpu).max(axis=0) / scale).max())
    return out


# -- report ----------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    s, bare, host = report["settings"], report["bare"], report["transform"]
    reads, loss = report["reads"], report["precision"]
    mlp = bare["mlp_unfolded_float32"]

    def rate(v: float) -> str:
        return f"{v:,.0f}"

    lines = [
        "# `encode` on " + report["device_name"],
        "",
        f"- Date: {report['date']}; torch {report['torch']} (CUDA {report['cuda']}), "
        f"{report['cpu_count']} CPU cores, torch threads {report['torch_threads']}, "
        f"Python {report['python']}",
        f"- Data: {s['pixels']:,} synthetic spectra x {s['bands']} bands float32 "
        f"({s['pixels'] * s['bands'] * 4 / 1e9:.2f} GB), a raw BIP file of "
        f"{s['height']} x {s['width']} pixels in {s['tmp']}; encoder fitted "
        f"{s['epochs']} epochs on {s['fit_pixels']:,} of them on the device "
        f"(val PSNR {report['fit']['val_psnr_db']:.2f} dB, {report['fit']['seconds']:.1f} s).",
        f"- Bare network: device tensors, batches of {bare['batch']:,} (the automatic batch "
        f"size), fastest of {s['repeats']}.",
        "",
        "| what | pixels/s | / bare MLP fp32 |",
        "|---|---:|---:|",
        f"| raw read, cold (page cache dropped: {reads['cold']['cache_dropped']}) | "
        f"{rate(reads['cold']['pixels_per_second'])} "
        f"({reads['cold']['bytes_per_second'] / 1e9:.2f} GB/s) | "
        f"{reads['cold']['pixels_per_second'] / mlp:.2f} |",
        f"| raw read, warm (page cache) | {rate(reads['warm']['pixels_per_second'])} "
        f"({reads['warm']['bytes_per_second'] / 1e9:.2f} GB/s) | "
        f"{reads['warm']['pixels_per_second'] / mlp:.2f} |",
    ]
    for key, value in bare.items():
        if key == "batch":
            continue
        lines.append(f"| bare {key.replace('_', ' ')} | {rate(value)} | {value / mlp:.2f} |")
    for p in PRECISIONS:
        lines.append(f"| `transform` from numpy, {p} | {rate(host[f'transform_{p}'])} | "
                     f"{host[f'transform_{p}'] / mlp:.2f} |")
    for run in report["pipeline"]:
        lines.append(f"| pipeline: raw file -> encode -> memmap, tile {run['tile']}, "
                     f"{'overlapped' if run['overlap'] else 'serial'}, precision "
                     f"{run['precision']} (s reading / transform / writing: "
                     f"{run['read_s']:.2f} / {run['transform_s']:.2f} / {run['write_s']:.2f} "
                     f"of {run['seconds']:.2f}) | "
                     f"{rate(run['pixels_per_second'])} | {run['pixels_per_second'] / mlp:.2f} |")
    lines += [
        "",
        f"Automatic batch size: {host['auto_batch_size']:,}"
        + "".join(f"; peak device memory {host[k] / 1e3:.1f} kB/pixel ({k.rsplit('_', 1)[1]})"
                  for k in host if k.startswith("peak_bytes")) + ".",
        "",
        "| precision | PSNR dB | loss dB | centre change nm (mean / p99 / max) | non-finite |",
        "|---|---:|---:|---:|---:|",
        f"| float32 | {loss['psnr_db']['float32']:.3f} | - | - | - |",
    ]
    for p in PRECISIONS[1:]:
        c = loss[f"centre_change_nm_{p}"]
        lines.append(f"| {p} | {loss['psnr_db'][p]:.3f} | {loss[f'loss_db_{p}']:.4f} | "
                     f"{c['mean']:.3f} / {c['p99']:.3f} / {c['max']:.3f} | "
                     f"{loss[f'nonfinite_{p}']} |")
    lines += ["", "Correctness: " + json.dumps(report["correctness"]),
              "", f"Total: {report['total_seconds']:.0f} s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pixels", type=int, default=2_000_000)
    parser.add_argument("--bands", type=int, default=200)
    parser.add_argument("--width", type=int, default=2000, help="columns of the raw file")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--fit-pixels", type=int, default=50_000)
    parser.add_argument("--psnr-pixels", type=int, default=100_000)
    parser.add_argument("--bare-pixels", type=int, default=1_000_000,
                        help="pixels on the device for the bare-network timings")
    parser.add_argument("--tile", type=int, default=256, help="tile size of the raw reads")
    parser.add_argument("--pipeline-tiles", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tmp", type=Path, default=None,
                        help="folder on local disk for the raw file (default: system temp)")
    parser.add_argument("--out", type=Path, required=True, help="JSON results file")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("torch sees no CUDA device; give --device cpu for a dry run")
    width = min(args.width, args.pixels)
    height = args.pixels // width
    n = height * width
    print(f"building {n:,} x {args.bands} spectra ...", file=sys.stderr)
    pixels = synthetic_pixels(n, args.bands)
    wavelengths = np.linspace(400.0, 2500.0, args.bands)
    folder = Path(tempfile.mkdtemp(prefix="phism_cuda_", dir=args.tmp))
    raw = folder / "cube.bip"
    pixels.tofile(raw)

    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU",
        "torch": torch.__version__, "cuda": torch.version.cuda, "python":
            platform.python_version(), "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "settings": {**{k: (str(v) if isinstance(v, Path) else v)
                        for k, v in vars(args).items()},
                     "height": height, "width": width, "pixels": n,
                     "tmp": str(folder)},
    }
    try:
        rng = np.random.default_rng(1)
        fit_rows = rng.choice(n, min(args.fit_pixels, n), replace=False)
        print("fitting ...", file=sys.stderr)
        start = time.perf_counter()
        encoder = PhismEncoder(epochs=args.epochs, patience=args.epochs, device=str(device),
                               seed=0).fit(pixels[fit_rows], wavelengths)
        encoder.to(str(device))
        report["fit"] = {"seconds": time.perf_counter() - start,
                         "val_psnr_db": encoder.training_.val_psnr_db}
        batch = encoder.auto_batch_size()

        print("reads ...", file=sys.stderr)
        scene = RawScene(raw, height, width, args.bands)
        report["reads"] = read_throughput(scene, args.tile)

        print("bare network ...", file=sys.stderr)
        bare_n = min(args.bare_pixels, n)
        report["bare"] = {"batch": min(batch, bare_n),
                          **bare_network(encoder, pixels[:bare_n], device,
                                         min(batch, bare_n), args.repeats)}
        print("transform ...", file=sys.stderr)
        report["transform"] = host_transform(encoder, pixels[:bare_n], device, args.repeats)

        print("pipeline ...", file=sys.stderr)
        report["pipeline"] = []
        runs = [(tile, overlap, "auto") for tile in args.pipeline_tiles
                for overlap in (True, False)]
        runs.insert(1, (args.pipeline_tiles[0], True, "float32"))
        for tile, overlap, precision in runs:
            report["pipeline"].append(pipeline(encoder, scene, folder, tile, overlap, None,
                                               precision))
            print(f"  {report['pipeline'][-1]}", file=sys.stderr)
        scene.close()

        print("precision ...", file=sys.stderr)
        held_out = pixels[rng.choice(n, min(args.psnr_pixels, n), replace=False)]
        report["precision"] = precision_loss(encoder, held_out)
        report["correctness"] = correctness(encoder, held_out[:20000], device)
        for tile in args.pipeline_tiles:
            digests = {r["digest"] for r in report["pipeline"]
                       if r["tile"] == tile and r["precision"] == "auto"}
            report["correctness"][f"pipeline_tile_{tile}_overlap_equals_serial"] = \
                len(digests) == 1
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    report["total_seconds"] = time.perf_counter() - t0
    text = markdown(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
