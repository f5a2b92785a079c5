"""Latent refinement (`phism encode --refine N`): PSNR and cost per number of steps.

One PhISM encoder (skew normal, K = 5, library defaults otherwise, seed 0) is fitted per scene
on all valid pixels; every valid pixel is then encoded and its latent refined by N projected
Adam steps through the bump renderer (`phism_cli.inversion.refine.LatentRefiner`, the code
behind `encode --refine`), in its batches of 1024 pixels. PSNR (peak = the reference's value
range) of the reconstruction is reported per N, with the refinement's seconds per megapixel.
One extra row compares Adam step sizes at N = 50 on Indian Pines.

    python benchmarks/refinement.py --threads 2

Data: $PHISM_DATA or ../shared/data relative to the project root.
"""

from __future__ import annotations

import sys

from early_threads import apply_from_argv

apply_from_argv(sys.argv[1:])

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import (  # noqa: E402
    data_root,
    finish_report,
    fmt,
    machine,
    machine_line,
    write_results,
)

from phism_cli.inversion.refine import LatentRefiner, refine_batch_size  # noqa: E402
from phism_cli.io import open_scene  # noqa: E402
from phism_cli.model import PhismEncoder  # noqa: E402
from phism_cli.model.estimator import psnr_db  # noqa: E402
from phism_cli.pixels import valid_mask  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "refinement.md"
BATCH = refine_batch_size("cpu")
SCENES = {
    "indian_pines": ("Indian Pines", "indian_pines/Indian_pines_corrected.mat",
                     "indian_pines_corrected", (400.0, 2500.0)),
    "samson": ("Samson", "samson/Samson.mat", "SamSon", (401.0, 889.0)),
}


def load(key: str, root: Path) -> tuple[np.ndarray, np.ndarray, list[int]]:
    _, rel, variable, (lo, hi) = SCENES[key]
    path = root / rel
    if not path.is_file():
        raise SystemExit(f"{path}: not found; set PHISM_DATA to the shared data folder")
    with open_scene(path, variable=variable) as scene:
        cube = scene.read()
        count = scene.count
    mask = valid_mask(cube)
    return cube[mask], np.linspace(lo, hi, count), list(cube.shape)


def refine_all(encoder: PhismEncoder, pixels: np.ndarray, latent: np.ndarray, steps: int,
               lr: float) -> tuple[np.ndarray, float]:
    if steps == 0:
        return latent, 0.0
    refiner = LatentRefiner(encoder.renderer_, steps=steps, lr=lr)
    out = np.empty_like(latent)
    start = time.perf_counter()
    for s in range(0, len(pixels), BATCH):
        out[s:s + BATCH] = refiner.refine(pixels[s:s + BATCH], latent[s:s + BATCH])
    return out, time.perf_counter() - start


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# Latent refinement (`encode --refine N`)",
        "",
        f"- Date: {report['date']}" + ("" if report.get("complete") else " (partial run)"),
        machine_line(report, s["threads"]),
        f"- Encoder: PhismEncoder(n_components {s['components']}, skew normal, epochs "
        f"{s['epochs']} (maximum, early stopping), seed {s['seed']}, library defaults otherwise), "
        "fitted once per scene on all valid pixels; every valid pixel is encoded, refined and "
        "reconstructed. Wavelengths: Indian Pines np.linspace(400, 2500, 200) nm (no file "
        "gives them), Samson np.linspace(401, 889, 156) nm.",
        f"- Refinement: `LatentRefiner(encoder.renderer_, steps=N, lr)`, batches of {BATCH} "
        "pixels; N = 0 is the encoder alone. PSNR: `psnr_db` (peak = the reference's value "
        "range). s / Mpx: refinement wall time per million pixels (encoding not included).",
        "",
        "| scene | pixels | fit s | N | lr | PSNR dB | gain dB | refine s | s / Mpx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        sc = report["scenes"][r["scene"]]
        lines.append(
            f"| {sc['title']} | {sc['pixels']:,} | {fmt(sc['fit_seconds'], 1)} | {r['steps']} | "
            f"{r['lr']} | {fmt(r['psnr_db'])} | {fmt(r['gain_db'])} | "
            f"{fmt(r['refine_seconds'], 1)} | {fmt(r['seconds_per_mpx'], 1)} |")
    lines.append("")
    if "total_seconds" in report:
        lines.append(f"Total benchmark wall time: {report['total_seconds'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", nargs="+", type=int, default=[0, 10, 50, 200])
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--compare-lr", nargs="*", type=float, default=[0.003, 0.03],
                        help="extra step sizes at N = 50 on Indian Pines")
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="+", choices=list(SCENES), default=list(SCENES))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="markdown results file; a .json is written beside it")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    root = data_root()
    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"threads": args.threads, "steps": args.steps, "lr": args.lr,
                     "compare_lr": args.compare_lr, "components": args.components,
                     "epochs": args.epochs, "seed": args.seed, "batch": BATCH,
                     "data_root": str(root)},
        "scenes": {}, "results": [], "complete": False,
    }
    for key in args.datasets:
        pixels, wavelengths, shape = load(key, root)
        encoder = PhismEncoder(n_components=args.components, epochs=args.epochs,
                               seed=args.seed, device="cpu")
        start = time.perf_counter()
        encoder.fit(pixels, wavelength_nm=wavelengths)
        fit_seconds = time.perf_counter() - start
        latent = encoder.transform(pixels)
        report["scenes"][key] = {"title": SCENES[key][0], "shape": shape,
                                 "pixels": len(pixels), "fit_seconds": fit_seconds,
                                 "epochs_run": encoder.training_.epochs,
                                 "best_epoch": encoder.training_.best_epoch}
        runs = [(n, args.lr) for n in args.steps]
        if key == "indian_pines":
            runs += [(50, lr) for lr in args.compare_lr]
        base = None
        for steps, lr in runs:
            refined, seconds = refine_all(encoder, pixels, latent, steps, lr)
            psnr = psnr_db(pixels, encoder.inverse_transform(refined))
            if steps == 0:
                base = psnr
            row = {"scene": key, "steps": steps, "lr": lr, "psnr_db": psnr,
                   "gain_db": None if base is None else psnr - base,
                   "refine_seconds": seconds,
                   "seconds_per_mpx": seconds / (len(pixels) / 1e6)}
            report["results"].append(row)
            print(f"{key} N={steps} lr={lr}: {psnr:.2f} dB, {seconds:.1f} s "
                  f"[{(time.perf_counter() - t0) / 60:.1f} min, load "
                  f"{os.getloadavg()[0]:.2f}]", file=sys.stderr)
            write_results(markdown(report), report, args.out)
    finish_report(report, t0, markdown, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
