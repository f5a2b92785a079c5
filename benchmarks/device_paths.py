"""CPU against CUDA for the engine's batched inversions, side by side in one run.

Synthetic, seeded data (no scene files needed, so it runs on a bare GPU machine with only
torch): smooth spectra for `encode --refine` (a PhISM encoder fitted for a few epochs, then 50
refinement steps per pixel), random mixtures for exact FCLS, and the inverse-rendering
network's training. Each is timed on the CPU and on CUDA in the same process.

    python benchmarks/device_paths.py --threads 16 --out benchmarks/results/device_paths.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

import numpy as np
import torch
from common import machine, write_results

from phism_cli.forward.mixing import LinearMixing
from phism_cli.inversion.amortised import InverseRenderingNet
from phism_cli.inversion.fcls import fcls, gram
from phism_cli.inversion.refine import LatentRefiner, refine_batch_size
from phism_cli.model import PhismEncoder
from phism_cli.model.estimator import psnr_db


def smooth_spectra(n: int, bands: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.linspace(0, 1, bands)
    centres = rng.uniform(0.05, 0.95, (n, 6, 1))
    widths = rng.uniform(0.02, 0.3, (n, 6, 1))
    heights = rng.uniform(0.0, 0.5, (n, 6, 1))
    return (0.1 + (heights * np.exp(-0.5 * ((x - centres) / widths) ** 2)).sum(1)).astype(
        np.float32)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_refine(encoder: PhismEncoder, pixels: np.ndarray, device: str, steps: int) -> dict:
    latent = encoder.transform(pixels)
    refiner = LatentRefiner(encoder.renderer_, steps, device=device)
    batch = refine_batch_size(device)
    refiner.refine(pixels[:batch], latent[:batch])  # warm-up
    sync(device)
    start = time.perf_counter()
    out = np.concatenate([refiner.refine(pixels[i:i + batch], latent[i:i + batch])
                          for i in range(0, len(pixels), batch)])
    sync(device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "s_per_mpx": seconds / len(pixels) * 1e6, "batch": batch,
            "psnr_before_db": psnr_db(pixels, encoder.inverse_transform(latent)),
            "psnr_after_db": psnr_db(pixels, encoder.inverse_transform(out))}


def time_fcls(n: int, k: int, bands: int, device: str) -> dict:
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(k, bands, generator=gen, dtype=torch.float64)
    x = torch.distributions.Dirichlet(torch.full((k,), 0.5)).sample((n,)).double()
    b = x @ a + 0.01 * torch.randn(n, bands, generator=gen, dtype=torch.float64)
    a, b = a.to(device), b.to(device)
    fcls(*gram(a, b[:1000]))
    sync(device)
    start = time.perf_counter()
    estimate = fcls(*gram(a, b))
    sync(device)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "us_per_spectrum": seconds / n * 1e6,
            "max_abs_error": float((estimate.cpu() - x).abs().max())}


def time_network(device: str, steps: int) -> dict:
    gen = np.random.default_rng(0)
    library = torch.tensor(gen.random((38, 800)))
    mixing = LinearMixing(library, [f"e{i}" for i in range(38)])
    start = time.perf_counter()
    InverseRenderingNet(steps=steps, seed=0, device=device).fit(mixing)
    sync(device)
    return {"seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pixels", type=int, default=65536)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).parent / "results" / "device_paths.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    pixels = smooth_spectra(args.pixels, 200)
    wavelength_nm = np.linspace(400, 2500, 200)
    report = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": machine(), "settings": vars(args) | {"out": str(args.out)},
              "gpu_name": torch.cuda.get_device_name() if "cuda" in devices else None,
              "results": {}}
    for device in devices:
        encoder = PhismEncoder(n_components=5, epochs=5, seed=0, device=device)
        encoder.fit(pixels[:20000], wavelength_nm=wavelength_nm).to(device)
        report["results"][device] = {
            "refine": time_refine(encoder, pixels, device, args.steps),
            "fcls": time_fcls(262144, 10, 200, device),
            "network": time_network(device, 1000),
        }
        print(device, report["results"][device], flush=True)
    lines = [
        "# Engine inversions: CPU against CUDA", "",
        f"- Date: {report['date']}; GPU: {report['gpu_name']}; CPU threads: {args.threads}; "
        f"torch {report['machine']['torch']}.",
        f"- refine: {args.pixels} synthetic 200-band pixels, K = 5, {args.steps} steps, batches "
        "of 1024 pixels on the CPU and 65,536 on CUDA (`refine_batch_size`); fcls: 262,144 "
        "spectra, K = 10, 200 bands, float64; network: 1,000 training batches, 38 endmembers, "
        "800 bands.", "",
        "| device | refine s / Mpx | PSNR before -> after | fcls us / spectrum | network s |",
        "|---|---:|---:|---:|---:|",
    ]
    for device, r in report["results"].items():
        lines.append(f"| {device} | {r['refine']['s_per_mpx']:.1f} | "
                     f"{r['refine']['psnr_before_db']:.2f} -> {r['refine']['psnr_after_db']:.2f}"
                     f" | {r['fcls']['us_per_spectrum']:.2f} | {r['network']['seconds']:.1f} |")
    print(write_results("\n".join(lines) + "\n", report, args.out))


if __name__ == "__main__":
    main()
