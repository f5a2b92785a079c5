"""`phism fuse` speed and memory as the multispectral grid grows.

Builds `throughput.py`'s synthetic ENVI scenes (smooth mixtures of 8 spectra plus noise,
400-2500 nm) as high-resolution references, makes a Wald pair of each with
`phism degrade --ratio R --srf sample_data/sentinel2_gaussian_srf.csv --snr-db 35` (not
measured), then runs `phism fuse PAIR_hsi.tif PAIR_msi.tif -o FUSED.tif --srf ...` in a fresh
process, measuring wall time and memory as `throughput.py` does (GNU time's peak RSS; RssAnon
and RssFile sampled from /proc), and reports the fused cube's PSNR / SAM against the reference.
Each pair is fused twice, side by side: as `phism fuse` does, and with the low-res residual
kept as it is (`spatially_coherent_part` replaced by the identity: the code before the
residual's noise was shrunk), to show what that step costs.

    python benchmarks/fuse_memory.py --threads 2
    python benchmarks/fuse_memory.py --sizes 512x512 1024x1024 2048x2048 --bands 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
from pathlib import Path

from common import fmt, machine, write_results
from throughput import parse_size, phism_command, run_ok, write_scene

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "fuse_memory.md"
SRF = HERE.parent / "sample_data" / "sentinel2_gaussian_srf.csv"


# `phism` with the residual's shrinkage turned off (the baseline rows).
RAW_RESIDUAL = [sys.executable, "-c",
                "import phism_cli.inversion.fusion as f\n"
                "f.spatially_coherent_part = lambda cube: (cube, None)\n"
                "from phism_cli.cli.main import main\nmain()"]


def markdown(report: dict) -> str:
    s, m = report["settings"], report["machine"]
    lines = [
        "# `phism fuse` speed and memory",
        "",
        f"- Date: {report['date']}",
        f"- Machine: {m['nproc']} CPU cores, GPU: {'yes' if m['gpu'] else 'none'}; "
        f"--threads {s['threads']}; load average at start {m['loadavg_at_start']}",
        f"- Pairs: `phism degrade` of synthetic ENVI BSQ float32 references, {s['bands']} "
        f"bands, ratio {s['ratio']}, Sentinel-2 B2/B3/B4/B8 as Gaussians, 35 dB; "
        "`phism fuse` with its defaults (map, K 20), GeoTIFF out, one fresh process each.",
        "",
        "| multispectral grid | low-res grid | residual | wall s | fuse s | train s "
        "| peak RSS MB | peak anon MB | output MB | PSNR dB | SAM deg |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        lines.append(
            f"| {r['rows']}x{r['cols']} | {r['rows'] // s['ratio']}x{r['cols'] // s['ratio']} "
            f"| {r['residual']} | {fmt(r['wall_seconds'], 1)} | {fmt(r['seconds'], 1)} | "
            f"{fmt(r['train_seconds'], 1)} | {fmt(r['maxrss_mb'], 0)} | "
            f"{fmt(r['peak_rss_anon_mb'], 0)} | {fmt(r['output_mb'], 0)} | "
            f"{fmt(r['psnr_db'])} | {fmt(r['sam_deg'])} |")
    lines += ["", "Wall time is the whole process (start-up included); fuse s and train s are "
              "the command's own `seconds` and `train_seconds` (NMF and fitting).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size,
                        default=[(1024, 1024), (2048, 2048)])
    parser.add_argument("--bands", type=int, default=50)
    parser.add_argument("--ratio", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tmp", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    phism = [*phism_command(), "--threads", str(args.threads)]
    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"sizes": [f"{r}x{c}" for r, c in args.sizes], "bands": args.bands,
                     "ratio": args.ratio, "threads": args.threads},
        "runs": [],
    }
    tmp = Path(tempfile.mkdtemp(prefix="phism_fuse_", dir=args.tmp))
    try:
        for i, (rows, cols) in enumerate(args.sizes):
            reference = write_scene(tmp, rows, cols, args.bands, seed=i)
            pair = tmp / f"pair{i}"
            run_ok([*phism, "degrade", str(reference), "-o", str(pair), "--ratio",
                    str(args.ratio), "--srf", str(SRF), "--snr-db", "35", "-q"], tmp,
                   f"degrade{i}")
            reference.with_suffix(".img").unlink()
            for residual, command in (("shrunk (phism)", phism),
                                      ("as is (before)", [*RAW_RESIDUAL, *phism[1:]])):
                fused = tmp / f"fused{i}.tif"
                run = run_ok([*command, "fuse", f"{pair}_hsi.tif", f"{pair}_msi.tif", "-o",
                              str(fused), "--srf", str(SRF), "--reference",
                              f"{pair}_reference.tif", "--json", "-q", "--overwrite"], tmp,
                             f"fuse{i}")
                out = json.loads(run.pop("stdout"))
                del run["stderr"]
                report["runs"].append({
                    "rows": rows, "cols": cols, "residual": residual, **run,
                    "output_mb": fused.stat().st_size / 1e6, "seconds": out["seconds"],
                    "train_seconds": out["train_seconds"],
                    "psnr_db": out["reference"]["psnr_db"],
                    "sam_deg": out["reference"]["sam_deg"]})
                print(f"{rows}x{cols} {residual}: {run['wall_seconds']:.1f} s, peak RSS "
                      f"{run['maxrss_mb']:.0f} MB", file=sys.stderr)
                fused.unlink()
                write_results(markdown(report), report, args.out)
            for path in tmp.glob(f"pair{i}_*"):
                path.unlink()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
