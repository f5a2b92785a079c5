"""Fitting speed: the encoder's step budget against training every epoch in full.

`PhismEncoder.fit` on the pixels `fit-encoder` would train on, side by side in one run:

- before: the paper's network widths (512-1024-512-256), 50 epochs of whole passes over the
  training pixels (patience 5): the default until the step budget (`max_steps=None`);
- paper width, 3000 steps: the default of the last release (step budget 3000);
- default: the library's defaults (half the paper's widths, `DEFAULT_MAX_STEPS`), which only
  bind where the whole passes would take more steps;
- default, 3000 steps: the same network under a larger budget.

Data: Indian Pines (21,025 pixels), the 18 EnMAP Potsdam tiles (18,432 pixels), and 100,000
synthetic spectra mixed from Indian Pines pixels (two random pixels, a uniform weight, noise
at 0.5 % of each band's spread): no real scene here has 100,000 pixels. Reported: seconds
of `fit` (sampling from files not included), validation PSNR of the fitted encoder (the one
`fit-encoder` prints), steps and epochs run.

    python benchmarks/fit_speed.py --threads 2
"""

from __future__ import annotations

import sys

from early_threads import apply_from_argv

apply_from_argv(sys.argv[1:])

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from classification import DATASETS, load  # noqa: E402
from common import (  # noqa: E402
    data_root,
    finish_report,
    fmt,
    machine,
    machine_line,
    write_results,
)

from phism_cli.model.estimator import DEFAULT_MAX_STEPS, PhismEncoder  # noqa: E402
from phism_cli.model.network import PAPER_HIDDEN  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fit_speed.md"
PAPER = {"hidden": PAPER_HIDDEN}
CONFIGS = {
    "before": {**PAPER, "max_steps": None},
    "paper width, 3000 steps": {**PAPER, "max_steps": 3000},
    "default": {},
    "default, 3000 steps": {"max_steps": 3000},
}


def mixtures(pixels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    first, second = rng.integers(0, len(pixels), (2, n))
    weight = rng.uniform(0, 1, (n, 1)).astype(np.float32)
    mixed = weight * pixels[first] + (1 - weight) * pixels[second]
    noise = rng.normal(0, 0.005, mixed.shape).astype(np.float32) * pixels.std(axis=0)
    return mixed + noise


def datasets(root: Path, n_mixed: int) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
    ip, _, ip_wavelengths = load(DATASETS["indian_pines"], root)
    potsdam, _, potsdam_wavelengths = load(DATASETS["potsdam"], root)
    return {"indian_pines": (ip, ip_wavelengths), "potsdam": (potsdam, potsdam_wavelengths),
            f"ip_mixtures_{n_mixed // 1000}k": (mixtures(ip, n_mixed), ip_wavelengths)}


def fit_once(pixels: np.ndarray, wavelength_nm: np.ndarray | None, settings: dict) -> dict:
    start = time.perf_counter()
    encoder = PhismEncoder(device="cpu", seed=0, **settings).fit(pixels,
                                                                 wavelength_nm=wavelength_nm)
    seconds = time.perf_counter() - start
    t = encoder.training_
    return {"seconds": seconds, "val_psnr_db": t.val_psnr_db, "steps": t.steps,
            "epochs": t.epochs, "best_epoch": t.best_epoch, "stopped_early": t.stopped_early,
            "max_steps": encoder.max_steps, "hidden": list(encoder.hidden)}


def markdown(report: dict) -> str:
    lines = [
        "# Fitting speed: network width and step budget",
        "",
        f"- Date: {report['date']}" + ("" if report.get("complete") else " (partial run)"),
        machine_line(report, report["threads"]),
        f"- Default step budget: {report['default_max_steps']} steps of 512 pixels; 50 "
        "epochs, patience 5, lr 1e-3 cosine, seed 0 in every row.",
        "",
        "| data | pixels | config | hidden | max steps | steps | epochs | s | "
        "val PSNR dB | vs before dB | speed-up |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in report["datasets"].items():
        before = entry["results"].get("before")
        for config, r in entry["results"].items():
            diff = r["val_psnr_db"] - before["val_psnr_db"] if before else float("nan")
            speed = before["seconds"] / r["seconds"] if before else float("nan")
            lines.append(
                f"| {name} | {entry['pixels']:,} | {config} | "
                f"{'-'.join(map(str, r['hidden']))} | {r['max_steps'] or '-'} | {r['steps']} | "
                f"{r['epochs']} | {r['seconds']:.1f} | {r['val_psnr_db']:.3f} | "
                f"{diff:+.3f} | {fmt(speed, 2)}x |")
    lines.append("")
    if "total_seconds" in report:
        lines.append(f"Total benchmark wall time: {report['total_seconds'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mixed-pixels", type=int, default=100_000)
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--datasets", nargs="+", help="names of the data sets to run "
                        "(default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    report = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": machine(), "threads": args.threads,
              "default_max_steps": DEFAULT_MAX_STEPS, "datasets": {}}
    for name, (pixels, wavelength_nm) in datasets(data_root(), args.mixed_pixels).items():
        if args.datasets and name not in args.datasets:
            continue
        entry = report["datasets"][name] = {"pixels": len(pixels), "results": {}}
        for config in args.configs:
            r = fit_once(pixels, wavelength_nm, CONFIGS[config])
            entry["results"][config] = r
            print(f"{name} {config}: {r['seconds']:.1f} s, {r['val_psnr_db']:.3f} dB, "
                  f"{r['steps']} steps", flush=True)
            write_results(markdown(report), report, args.out)
    finish_report(report, t0, markdown, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
