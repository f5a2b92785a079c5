"""Fusion under several point-spread functions: phism fuse against CNMF and bicubic.

The Wald protocol of `fusion.py` (same scenes, crops, IKONOS B/G/R/NIR response, noise at 35 dB
on Y_h and 40 dB on Y_m, ratio 4) with the low-resolution cube made by phism's `degrade` code
(`spatial_degrade`) through each of its four PSFs (`phism_cli.forward.psf`), all centred on
their R x R block:

- gaussian: FWHM = R high-res pixels (`fusion.py`'s, phism's `degrade` default);
- box: the block's mean;
- sinc: sinc^2 with its first zeros R pixels from the centre, out to 3 lobes (the diffraction
  pattern of a slit; SpectraMorph's sinc PSF is the case where published methods collapse);
- motion: a box 3R pixels long along the columns (a smear along track) and R along the rows.

Per configuration, the PSF is also estimated from the pair as `phism fuse` does (least squares
of S Y_h on the multispectral patches, non-negative, summing to 1; reported as its FWHM and
the shift of its centre). CNMF runs twice: given the true PSF (cnmf), an advantage no real
pair offers, and given the estimated one (cnmf-est), the fair baseline. `fuse` (map) uses no
PSF. Reported per scene and PSF: PSNR and SAM, and whether map is ahead of each CNMF on both.

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

from phism_cli.forward.psf import PSF_SHAPES, make_psf  # noqa: E402
from phism_cli.forward.spatial import block_mean  # noqa: E402
from phism_cli.inversion.fusion import radiometric_gain  # noqa: E402
from phism_cli.inversion.psf_estimation import EstimatedPsf, estimate_psf  # noqa: E402
from phism_cli.pipeline.degrade import spatial_degrade  # noqa: E402
from phism_cli.pipeline.quality import FusionQuality  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fusion_psf.md"
PSFS = PSF_SHAPES
SCENES = ("indian_pines", "potsdam", "samson", "topoflux")
DARK_SHARE = 0.1
METHODS = ("bicubic", "cnmf", "cnmf-est", "map")


def pair_psf(y_h: np.ndarray, y_m: np.ndarray, response, ratio: int) -> EstimatedPsf:
    """What `phism fuse` estimates: the PSF from the pair, after radiometric matching."""
    gain = radiometric_gain(y_h, block_mean(y_m, ratio), response)
    return estimate_psf(y_h, y_m, response, ratio, gain)


def run_psf(scene: dict, psf_name: str, ratio: int, args: argparse.Namespace, log) -> dict:
    x = scene["x"]
    response, note = ikonos_response(args.srf, scene["wavelength_nm"], "3-6")
    psf = make_psf(psf_name, ratio)
    rng = np.random.default_rng(NOISE_SEED)
    y_h = add_noise(spatial_degrade(x, ratio, psf), SNR_HSI_DB, rng)
    y_m = add_noise(response.apply(x), SNR_MSI_DB, rng)
    start = time.perf_counter()
    estimate = pair_psf(y_h, y_m, response, ratio)
    estimated = {**estimate.describe(), "seconds": time.perf_counter() - start}
    log(f"{scene['name']} {psf_name}: estimated FWHM {estimated['fwhm_px']} px "
        f"(true {psf.describe()['fwhm_px']}), shift {estimated['shift_px']}")
    runners = {
        "bicubic": lambda: bicubic_upsample(y_h, ratio),
        "cnmf": lambda: cnmf_fuse(y_h, y_m, response.matrix, ratio,
                                  lambda a: spatial_degrade(a, ratio, psf)),
        "cnmf-est": lambda: cnmf_fuse(y_h, y_m, response.matrix, ratio,
                                      lambda a: spatial_degrade(a, ratio, estimate.psf)),
        "map": lambda: run_phism(y_h, y_m, response, ratio, "map", True, args.steps)[0],
    }
    rows = []
    for method in args.methods:
        start = time.perf_counter()
        z = runners[method]()
        rows.append({"method": method, "psf": psf_name, **quality(x, z, ratio),
                     "sam_bright_deg": sam_bright_deg(x, z),
                     "seconds": time.perf_counter() - start})
        log(f"{scene['name']} {psf_name} {method}: PSNR {rows[-1]['psnr_db']:.2f} dB, "
            f"SAM {rows[-1]['sam_deg']:.2f} deg")
    return {"psf": psf_name, "true_psf": psf.describe(), "estimated_psf": estimated,
            "ratio": ratio, "srf_note": note, "rows": rows}


def bright_pixels(x: np.ndarray) -> np.ndarray:
    """(H, W) mask of pixels whose reference spectrum's norm is at least DARK_SHARE of the
    scene's median: on near-zero spectra (water in SWIR-zeroed L2A products) the angle
    measures the noise, not the fusion."""
    norm = np.linalg.norm(x.astype(np.float64), axis=-1)
    return norm >= DARK_SHARE * np.median(norm)


def sam_bright_deg(x: np.ndarray, z: np.ndarray) -> float:
    keep = bright_pixels(x)
    q = FusionQuality(x.shape[-1])
    q.update(x[keep], np.asarray(z)[keep])
    return q.sam_deg


def verdict(rows: list[dict], baseline: str) -> str:
    by = {r["method"]: r for r in rows}
    if "map" not in by or baseline not in by:
        return "-"
    d_psnr = by["map"]["psnr_db"] - by[baseline]["psnr_db"]
    d_sam = by["map"]["sam_deg"] - by[baseline]["sam_deg"]
    both = "ahead on both" if d_psnr > 0 and d_sam < 0 else "behind on " + " and ".join(
        name for name, lost in (("PSNR", d_psnr <= 0), ("SAM", d_sam >= 0)) if lost)
    return f"{d_psnr:+.2f} dB, {d_sam:+.2f} deg: {both}"


def psf_row(scene: str, cfg: dict) -> str:
    true, found = cfg["true_psf"], cfg["estimated_psf"]
    return (f"| {scene} | {cfg['psf']} | {true['fwhm_px'][0]:.2f} x {true['fwhm_px'][1]:.2f} | "
            f"{found['fwhm_px'][0]:.2f} x {found['fwhm_px'][1]:.2f} | "
            f"{found['shift_px'][0]:+.3f}, {found['shift_px'][1]:+.3f} | "
            f"{found['separable_share']:.4f} | {found['seconds']:.2f} |")


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# Fusion under four PSFs: phism fuse (map) against CNMF given the true PSF and the "
        "PSF estimated from the pair",
        "",
        f"- Date: {report['date']}" + ("" if report.get("complete") else " (partial run)"),
        machine_line(report, s["threads"]),
        f"- Protocol: `fusion.py`'s scenes and crops (multiples of {CROP}), ratio "
        f"{s['ratio']}, IKONOS B,G,R,NIR, noise {SNR_HSI_DB:g} dB on Y_h and {SNR_MSI_DB:g} dB "
        "on Y_m; Y_h through each PSF (see the script's docstring); cnmf given that PSF, "
        "cnmf-est the PSF estimated from the pair, phism's `fuse` defaults given nothing.",
        "",
        f"- SAM bright: SAM over the pixels whose reference norm is at least "
        f"{DARK_SHARE:g} x the scene's median (a diagnostic; the verdicts use SAM over all "
        "pixels). Pixels left out: " + ", ".join(
            f"{sc['name']} {sc['dark_pixels']} of {sc['pixels']}" for sc in report["scenes"])
        + ".",
        "",
        "| scene | PSF | method | PSNR dB | SAM deg | SAM bright | ERGAS | seconds | "
        "map - cnmf | map - cnmf-est |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    counts = {"cnmf": [0, 0], "cnmf-est": [0, 0]}
    for scene in report["scenes"]:
        for cfg in scene["configs"]:
            verdicts = {b: verdict(cfg["rows"], b) for b in counts}
            for b, v in verdicts.items():
                counts[b][1] += v != "-"
                counts[b][0] += v.endswith("ahead on both")
            for r in cfg["rows"]:
                shown = [verdicts[b] if r["method"] == "map" else "" for b in counts]
                lines.append(f"| {scene['name']} | {cfg['psf']} | {r['method']} | "
                             f"{fmt(r['psnr_db'])} | {fmt(r['sam_deg'])} | "
                             f"{fmt(r.get('sam_bright_deg'))} | {fmt(r['ergas'])} | "
                             f"{fmt(r['seconds'], 1)} | {shown[0]} | {shown[1]} |")
    lines += ["", *(f"map ahead of {b} on PSNR and SAM in {n} of {t} rows."
                    for b, (n, t) in counts.items()), "",
              "## The PSF estimated from the pair (what `phism fuse --json` reports)", "",
              "FWHM along rows x columns in high-res pixels; shift of the centre from the "
              "block's (rows, columns); share of the 2-D kernel its separable part holds.", "",
              "| scene | PSF | true FWHM | estimated FWHM | shift px | separable | seconds |",
              "|---|---|---|---|---|---:|---:|"]
    lines += [psf_row(scene["name"], cfg) for scene in report["scenes"]
              for cfg in scene["configs"]]
    lines.append("")
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
        entry = {"name": name, "shape": scene["shape"], "configs": [],
                 "pixels": int(np.prod(scene["x"].shape[:2])),
                 "dark_pixels": int((~bright_pixels(scene["x"])).sum())}
        report["scenes"].append(entry)
        for psf in args.psfs:
            entry["configs"].append(run_psf(scene, psf, args.ratio, args, log))
            write_results(markdown(report), report, args.out)
    finish_report(report, t0, markdown, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
