"""Fusion under several point-spread functions: phism fuse against CNMF and bicubic.

The Wald protocol of `fusion.py` (same scenes, crops, IKONOS B/G/R/NIR response, noise at 35 dB
on Y_h and 40 dB on Y_m, ratio 4) with the low-resolution cube made through each of four
separable PSFs, all centred on their R x R block:

- gaussian: FWHM = R high-res pixels (`fusion.py`'s, phism's `degrade` default);
- box: the block's mean;
- sinc: sinc^2 with its first zeros R pixels from the centre, out to 3 lobes (the diffraction
  pattern of a slit; SpectraMorph's sinc PSF is the case where published methods collapse);
- motion: a box 3R pixels long along the columns (a smear along track) and R along the rows.

CNMF is given the true PSF (its spatial operator), an advantage phism does not get: `fuse`
assumes nothing about the PSF beyond the block. Reported per scene and PSF: PSNR and SAM, and
whether phism's default (map) is ahead of CNMF on both.

    python benchmarks/fusion_psf.py --threads 2
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
import torch  # noqa: E402
from common import data_root, finish_report, fmt, machine, machine_line, write_results  # noqa: E402
from fusion import (  # noqa: E402
    CROP,
    LOADERS,
    NOISE_SEED,
    SNR_HSI_DB,
    SNR_MSI_DB,
    add_noise,
    ikonos_response,
    quality,
    run_phism,
)
from fusion_baselines import bicubic_upsample, cnmf_fuse  # noqa: E402

from phism_cli.pipeline.degrade import default_psf_sigma, spatial_degrade  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fusion_psf.md"
PSFS = ("gaussian", "box", "sinc", "motion")
SCENES = ("indian_pines", "potsdam", "samson", "topoflux")
METHODS = ("bicubic", "cnmf", "map")


def kernel_1d(shape: str, ratio: int, length: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(offsets from a block's first pixel, weights summing to 1) of a 1-D box `length`
    blocks long or a sinc^2, centred at (ratio - 1) / 2 (the Gaussian is phism's own)."""
    centre = (ratio - 1) / 2.0
    if shape == "box":
        half = length * ratio / 2.0
        offsets = np.arange(int(np.floor(centre - half)), int(np.ceil(centre + half)) + 1)
        # each pixel weighs by how much of it lies inside the box
        weights = np.clip(np.minimum(offsets + 0.5, centre + half)
                          - np.maximum(offsets - 0.5, centre - half), 0, None)
    elif shape == "sinc":
        offsets = np.arange(int(np.floor(centre - 3 * ratio)), int(np.ceil(centre + 3 * ratio)) + 1)
        weights = np.sinc((offsets - centre) / ratio) ** 2
    else:
        raise ValueError(f"unknown PSF {shape!r}")
    keep = weights > 0
    return offsets[keep], weights[keep] / weights[keep].sum()


def psf_axes(psf: str, ratio: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The (rows, columns) 1-D kernels of the box, sinc or motion PSF."""
    if psf == "motion":
        return kernel_1d("box", ratio), kernel_1d("box", ratio, length=3.0)
    return kernel_1d(psf, ratio), kernel_1d(psf, ratio)


def blur_sample(cube: np.ndarray, ratio: int, psf: str) -> np.ndarray:
    """(H, W, C) -> (H // R, W // R, C): blurred by the PSF (edge pixels repeated) and sampled
    once per R x R block; the Gaussian is phism's own `spatial_degrade`, as in `fusion.py`."""
    if psf == "gaussian":
        return spatial_degrade(cube, ratio, default_psf_sigma(ratio))
    out = np.asarray(cube, dtype=np.float64)
    for axis, (offsets, weights) in enumerate(psf_axes(psf, ratio)):
        size = out.shape[axis]
        starts = np.arange(size // ratio) * ratio
        total = 0.0
        for offset, weight in zip(offsets, weights, strict=True):
            total = total + weight * np.take(out, np.clip(starts + offset, 0, size - 1), axis)
        out = total
    return out


def run_psf(scene: dict, psf: str, ratio: int, args: argparse.Namespace, log) -> dict:
    x = scene["x"]
    response, note = ikonos_response(args.srf, scene["wavelength_nm"], "3-6")
    rng = np.random.default_rng(NOISE_SEED)
    y_h = add_noise(blur_sample(x, ratio, psf), SNR_HSI_DB, rng)
    y_m = add_noise(response.apply(x), SNR_MSI_DB, rng)
    runners = {
        "bicubic": lambda: bicubic_upsample(y_h, ratio),
        "cnmf": lambda: cnmf_fuse(y_h, y_m, response.matrix, ratio,
                                  lambda a: blur_sample(a, ratio, psf)),
        "map": lambda: run_phism(y_h, y_m, response, ratio, "map", True, args.steps)[0],
    }
    rows = []
    for method in args.methods:
        start = time.perf_counter()
        z = runners[method]()
        rows.append({"method": method, "psf": psf, **quality(x, z, ratio),
                     "seconds": time.perf_counter() - start})
        log(f"{scene['name']} {psf} {method}: PSNR {rows[-1]['psnr_db']:.2f} dB, "
            f"SAM {rows[-1]['sam_deg']:.2f} deg")
    return {"psf": psf, "ratio": ratio, "srf_note": note, "rows": rows}


def verdict(rows: list[dict]) -> str:
    by = {r["method"]: r for r in rows}
    if "map" not in by or "cnmf" not in by:
        return "-"
    d_psnr = by["map"]["psnr_db"] - by["cnmf"]["psnr_db"]
    d_sam = by["map"]["sam_deg"] - by["cnmf"]["sam_deg"]
    both = "ahead on both" if d_psnr > 0 and d_sam < 0 else "behind on " + " and ".join(
        name for name, lost in (("PSNR", d_psnr <= 0), ("SAM", d_sam >= 0)) if lost)
    return f"{d_psnr:+.2f} dB, {d_sam:+.2f} deg: {both}"


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# Fusion under four PSFs: phism fuse (map) against CNMF given the true PSF",
        "",
        f"- Date: {report['date']}" + ("" if report.get("complete") else " (partial run)"),
        machine_line(report, s["threads"]),
        f"- Protocol: `fusion.py`'s scenes and crops (multiples of {CROP}), ratio "
        f"{s['ratio']}, IKONOS B,G,R,NIR, noise {SNR_HSI_DB:g} dB on Y_h and {SNR_MSI_DB:g} dB "
        "on Y_m; Y_h through each PSF (see the script's docstring), CNMF given that PSF, "
        "phism's `fuse` defaults given nothing about it.",
        "",
        "| scene | PSF | method | PSNR dB | SAM deg | ERGAS | seconds | map - cnmf |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    ahead = total = 0
    for scene in report["scenes"]:
        for cfg in scene["configs"]:
            v = verdict(cfg["rows"])
            total += v != "-"
            ahead += v.endswith("ahead on both")
            for r in cfg["rows"]:
                lines.append(f"| {scene['name']} | {cfg['psf']} | {r['method']} | "
                             f"{fmt(r['psnr_db'])} | {fmt(r['sam_deg'])} | {fmt(r['ergas'])} | "
                             f"{fmt(r['seconds'], 1)} | {v if r['method'] == 'map' else ''} |")
    lines += ["", f"map ahead of CNMF on PSNR and SAM in {ahead} of {total} rows.", ""]
    if "total_seconds" in report:
        lines.append(f"Total benchmark wall time: {report['total_seconds'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scenes", nargs="+", choices=SCENES, default=list(SCENES))
    parser.add_argument("--psfs", nargs="+", choices=PSFS, default=list(PSFS))
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--ratio", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = data_root()
    args.srf = root / "paris_fusion" / "ikonos_spec_resp.mat"
    t0 = time.perf_counter()

    def log(text: str) -> None:
        print(f"{text} [{(time.perf_counter() - t0) / 60:.1f} min]", file=sys.stderr)

    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "scenes": [], "complete": False,
        "settings": {"threads": args.threads, "ratio": args.ratio, "psfs": args.psfs,
                     "methods": args.methods, "steps": args.steps},
    }
    for name in args.scenes:
        scene = LOADERS[name](root)
        entry = {"name": name, "shape": scene["shape"], "configs": []}
        report["scenes"].append(entry)
        for psf in args.psfs:
            entry["configs"].append(run_psf(scene, psf, args.ratio, args, log))
            write_results(markdown(report), report, args.out)
    finish_report(report, t0, markdown, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
