"""Fusion accuracy: phism fuse (map and net) against bicubic upsampling and CNMF (Wald
protocol), plus
the real Paris pair (no reference) through `phism fuse`.

Wald protocol: each real hyperspectral cube X is the reference. From it come a
low-resolution cube Y_h = spatial_degrade(X, r, default_psf_sigma(r)) (Gaussian PSF of FWHM
= r high-res pixels, sampled at each r x r block's centre) and a multispectral image
Y_m = S X (S: IKONOS B, G, R, NIR or IKONOS pan), with Gaussian noise of 35 dB SNR on Y_h and
40 dB on Y_m (per band std = sqrt(mean square of that band of Y_h or Y_m / 10^(SNR / 10)),
numpy's default_rng(0) drawn for Y_h then Y_m). Every method gets the same Y_h and Y_m and
is scored against X by `phism_cli.pipeline.quality.FusionQuality` (PSNR, SAM, ERGAS, UIQI).

Methods: `bicubic` (Y_h upsampled band by band), `cnmf` (Yokoya et al. 2012, given the true
PSF and decimation: an advantage phism does not get), and what `phism fuse` computes (the
same calls, radiometric matching included): `map` (the default: MAP abundances under the
coarse prior), `net` (SpectraMorph's MLP with the prior) and `net-noprior`; see
`fusion_baselines.py` and `phism_cli/inversion/fusion.py`. Nothing is tuned: every method
runs with its defaults.

    python benchmarks/fusion.py --threads 2
    python benchmarks/fusion.py --quick --no-paris --out /tmp/fusion_quick.md

Data: $PHISM_DATA or ../shared/data relative to the project root.
"""

from __future__ import annotations

import sys

from early_threads import apply_from_argv

apply_from_argv(sys.argv[1:])

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy.io  # noqa: E402
import torch  # noqa: E402
from common import (  # noqa: E402
    data_root,
    finish_report,
    fmt,
    machine,
    machine_line,
    write_results,
)
from fusion_baselines import bicubic_upsample, cnmf_fuse  # noqa: E402

from phism_cli.errors import PhismError  # noqa: E402
from phism_cli.forward.response import SpectralResponse, response_from_curves  # noqa: E402
from phism_cli.forward.spatial import block_mean  # noqa: E402
from phism_cli.inversion.fusion import fusion_model  # noqa: E402
from phism_cli.io.scene_formats import open_scene  # noqa: E402
from phism_cli.io.srf import read_response  # noqa: E402
from phism_cli.pipeline.degrade import (  # noqa: E402
    default_psf_sigma,
    noise_std,
    spatial_degrade,
)
from phism_cli.pipeline.quality import FusionQuality  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "fusion.md"
SCENES = ("indian_pines", "potsdam", "samson", "topoflux")
METHODS = ("bicubic", "cnmf", "map", "net", "net-noprior")
SRFS = (("IKONOS B,G,R,NIR", "3-6"), ("IKONOS pan", "2"))
SNR_HSI_DB, SNR_MSI_DB = 35.0, 40.0
NOISE_SEED = 0
N_ENDMEMBERS = 20
CROP = 8  # X is cropped to a multiple of this so ratios 4 and 8 share it
# Indian Pines: the 24 water-absorption bands removed from AVIRIS' 224 (1-based).
IP_REMOVED = [*range(104, 109), *range(150, 164), *range(220, 225)]
# CNMF's settings for a panchromatic image, from the authors' code (fusion_baselines.py).
CNMF_PAN = {"inner_iterations": 75, "outer_iterations": 1}
PAPER = ("SpectraMorph paper: Pavia University, mean over 80 configurations, PSNR 33.33 dB, "
         "SAM 3.46 deg (another scene and protocol: not comparable with the numbers here)")
# Hyperion band centres (nm) of 1-based band b: VNIR bands 1-70, SWIR bands 71-242.
HYPERION_VNIR = (355.59, 10.1763)
HYPERION_SWIR = (851.92, 10.0895)
PAN_CENTRE_NM, PAN_FWHM_NM = 585.0, 210.0


# -- scenes ---------------------------------------------------------------------------------
def require(path: Path) -> Path:
    if not path.exists():
        raise SystemExit(f"{path}: not found; set PHISM_DATA to the shared data folder")
    return path


def crop(cube: np.ndarray) -> np.ndarray:
    """Top-left crop to a multiple of CROP rows and columns."""
    h, w = cube.shape[0] // CROP * CROP, cube.shape[1] // CROP * CROP
    return cube[:h, :w]


def finish_scene(name: str, title: str, cube: np.ndarray, wavelength_nm: np.ndarray,
                 notes: list[str]) -> dict:
    """The scene's reference X: cropped, float64, scaled by its maximum."""
    original = cube.shape
    x = crop(np.asarray(cube, dtype=np.float64))
    if not np.isfinite(x).all():
        raise SystemExit(f"{name}: the reference holds non-finite values")
    peak = float(x.max())
    cropped = (f"cropped (top-left) from {original[0]} x {original[1]} to {x.shape[0]} x "
               f"{x.shape[1]}" if x.shape[:2] != original[:2] else
               f"{x.shape[0]} x {x.shape[1]}, no crop needed")
    notes = [*notes, f"{cropped}; divided by its maximum {peak:.6g}"]
    return {"name": name, "title": title, "x": x / peak, "wavelength_nm": wavelength_nm,
            "shape": list(x.shape), "scale": peak, "notes": notes,
            "range_nm": [float(wavelength_nm.min()), float(wavelength_nm.max())]}


def load_indian_pines(root: Path) -> dict:
    path = require(root / "indian_pines" / "Indian_pines_corrected.mat")
    cube = scipy.io.loadmat(path)["indian_pines_corrected"]
    wavelength = np.delete(np.linspace(400.0, 2500.0, 224), np.array(IP_REMOVED) - 1)
    return finish_scene("indian_pines", "Indian Pines (AVIRIS)", cube, wavelength, [
        "no wavelengths in the file: 224 AVIRIS bands taken evenly spaced over 400-2500 nm, "
        "with the removed water bands 104-108, 150-163 and 220-224 (1-based) deleted "
        f"({len(wavelength)} left)"])


def largest_rectangle(valid: np.ndarray) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of the fully valid rectangle whose area, cropped to
    multiples of CROP, is largest (first found on ties: smallest row0, then col0)."""
    best, best_area = (0, 0, 0, 0), -1
    rows = valid.shape[0]
    for top in range(rows):
        band = np.ones(valid.shape[1], dtype=bool)
        for bottom in range(top, rows):
            band &= valid[bottom]
            if not band.any():
                break
            height = (bottom - top + 1) // CROP * CROP
            padded = np.r_[False, band, False].astype(np.int8)
            edges = np.flatnonzero(np.diff(padded))
            starts, stops = edges[0::2], edges[1::2]
            widths = (stops - starts) // CROP * CROP
            i = int(np.argmax(widths))
            if height * widths[i] > best_area:
                best_area = int(height * widths[i])
                best = (top, bottom + 1, int(starts[i]), int(stops[i]))
    return best


def load_potsdam(root: Path) -> dict:
    paths = sorted(require(root / "enmap_potsdam" / "images").glob("*.tif"))
    if not paths:
        raise SystemExit(f"{root / 'enmap_potsdam' / 'images'}: no tiles")
    tiles = []
    for path in paths:
        with open_scene(path) as scene:
            tiles.append((scene.transform, scene.read(), scene.wavelength_nm))
    first_t, _, wavelength = tiles[0]
    for t, cube, wl in tiles:
        if (t.a, t.b, t.d, t.e) != (first_t.a, first_t.b, first_t.d, first_t.e) or \
                not np.array_equal(wl, wavelength) or cube.shape[2] != len(wavelength):
            raise SystemExit("Potsdam tiles differ in pixel size, rotation or bands")
    size_x, size_y = first_t.a, -first_t.e
    left = min(t.c for t, _, _ in tiles)
    top = max(t.f for t, _, _ in tiles)
    placed = []
    for t, cube, _ in tiles:
        col = round((t.c - left) / size_x)
        row = round((top - t.f) / size_y)
        if abs(col * size_x - (t.c - left)) > 1e-6 * size_x or \
                abs(row * size_y - (top - t.f)) > 1e-6 * size_y:
            raise SystemExit("Potsdam tiles are not on one pixel grid")
        placed.append((row, col, cube))
    height = max(row + cube.shape[0] for row, _, cube in placed)
    width = max(col + cube.shape[1] for _, col, cube in placed)
    mosaic = np.full((height, width, len(wavelength)), np.nan, dtype=np.float32)
    for row, col, cube in placed:
        mosaic[row:row + cube.shape[0], col:col + cube.shape[1]] = cube
    valid = np.isfinite(mosaic).all(axis=2)
    r0, r1, c0, c1 = largest_rectangle(valid)
    rect = mosaic[r0:r1, c0:c1]
    x0, y0 = left + c0 * size_x, top - r0 * size_y
    return finish_scene("potsdam", "EnMAP Potsdam (mosaic)", rect, wavelength, [
        f"{len(paths)} EnMAP L2A tiles of 32 x 32 pixels, {size_x:g} m, read with open_scene "
        f"(bad bands dropped: {len(wavelength)} of 224 kept; scale 0.0001 applied), mosaicked "
        f"by their transforms into {height} x {width} pixels of which {int(valid.sum())} are "
        f"covered; the largest fully covered rectangle (area after cropping to multiples of "
        f"{CROP}) is rows {r0}-{r1 - 1}, columns {c0}-{c1 - 1} of the mosaic, upper-left "
        f"corner E {x0:.0f} N {y0:.0f} (UTM 33N)"])


def load_samson(root: Path) -> dict:
    paths = sorted(require(root / "samson").glob("*.mat"))
    cube = scipy.io.loadmat(paths[0])["SamSon"]
    wavelength = np.linspace(401.0, 889.0, cube.shape[2])
    return finish_scene("samson", "Samson", cube, wavelength, [
        f"`{paths[0].name}` variable `SamSon`; no wavelengths in the file: {cube.shape[2]} "
        "bands evenly spaced over 401-889 nm"])


def load_topoflux(root: Path) -> dict:
    path = require(root / "aviris_ng" / "topoflux" / "ang20160910t185702_2rdn_img")
    with open_scene(path) as scene:
        cube, wavelength = scene.read(), scene.wavelength_nm
        count = scene.count
    return finish_scene("topoflux", "AVIRIS-NG topoflux (radiance)", cube, wavelength, [
        f"ENVI radiance read with open_scene ({count} bands, wavelengths from the band "
        "names)"])


LOADERS: dict[str, Callable[[Path], dict]] = {
    "indian_pines": load_indian_pines, "potsdam": load_potsdam, "samson": load_samson,
    "topoflux": load_topoflux}
SKIPPED = [{"scene": "AVIRIS-NG small_chunk (10 x 10 x 425)",
            "reason": "cropped to 8 x 8 it leaves 2 x 2 low-resolution pixels at ratio 4 and "
                      "1 x 1 at ratio 8: too few pixels for any score to mean much"}]


# -- responses ------------------------------------------------------------------------------
def ikonos_response(path: Path, wavelength_nm: np.ndarray,
                    columns: str) -> tuple[SpectralResponse, str | None]:
    """read_response; where it refuses a band as outside the scene's bands, the curves
    restricted to the rows inside the scene's band centres (returned with a note)."""
    try:
        return read_response(path, wavelength_nm, columns), None
    except PhismError as exc:
        if "outside the hyperspectral bands" not in str(exc):
            raise
        refusal = str(exc)
    table = scipy.io.loadmat(path)["ikonos_sp"].astype(np.float64)
    cols = [int(c) - 1 for c in (range(3, 7) if columns == "3-6" else [int(columns)])]
    lo, hi = float(wavelength_nm.min()), float(wavelength_nm.max())
    inside = (table[:, 0] >= lo) & (table[:, 0] <= hi)
    kept = [float(np.trapezoid(table[inside, c], table[inside, 0])
                  / np.trapezoid(table[:, c], table[:, 0])) for c in cols]
    response = response_from_curves(table[inside, 0], table[inside][:, cols].T,
                                    [f"column {c + 1}" for c in cols], wavelength_nm,
                                    f"{path.name} restricted to {lo:.0f}-{hi:.0f} nm")
    reason = refusal.split(f"{path}: ", 1)[-1].split("; pick only", 1)[0]
    note = (f"read_response refused it ({reason}); used the curve rows "
            f"within {lo:.0f}-{hi:.0f} nm, which hold "
            f"{', '.join(f'{100 * k:.0f} %' for k in kept)} of each band's response")
    return response, note


# -- one configuration ----------------------------------------------------------------------
def add_noise(cube: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    bands = cube.shape[-1]
    std = noise_std((cube.reshape(-1, bands) ** 2).mean(axis=0), snr_db)
    return cube + rng.standard_normal(cube.shape) * std


def quality(x: np.ndarray, z: np.ndarray, ratio: int) -> dict:
    c = x.shape[-1]
    q = FusionQuality(c)
    q.update(x.reshape(-1, c), np.asarray(z).reshape(-1, c))
    return q.as_dict(ratio=ratio)


def run_phism(y_h: np.ndarray, y_m: np.ndarray, response: SpectralResponse, ratio: int,
              method: str, prior: bool, steps: int) -> tuple[np.ndarray, float]:
    """What `phism fuse --method METHOD` computes, radiometric matching included."""
    h, w, m = y_m.shape
    network = {"prior": prior, "steps": steps, "seed": 0, "device": "cpu"}
    model = fusion_model(method, None, **(network if method == "net" else {"seed": 0}))
    model.fit(y_h, response, ratio, block_mean(y_m, ratio))
    prior_map = model.prior_window((0, h), (0, w))
    k = model.n_endmembers_
    abund = model.transform(y_m.reshape(-1, m),
                            None if prior_map is None else prior_map.reshape(-1, k))
    fused = model.mix(abund).reshape(h, w, -1)
    detail = model.detail_window((0, h), (0, w))
    return (fused if detail is None else fused + detail), model.train_seconds_


def run_configuration(scene: dict, ratio: int, srf_label: str, columns: str,
                      args: argparse.Namespace, log) -> dict:
    x = scene["x"]
    srf_path = require(args.srf)
    response, response_note = ikonos_response(srf_path, scene["wavelength_nm"], columns)
    sigma = default_psf_sigma(ratio)
    rng = np.random.default_rng(NOISE_SEED)
    y_h = add_noise(spatial_degrade(x, ratio, sigma), SNR_HSI_DB, rng)
    y_m = add_noise(response.apply(x), SNR_MSI_DB, rng)
    cnmf_kw = CNMF_PAN if response.n_bands == 1 else {}

    def degrade(a: np.ndarray) -> np.ndarray:
        return spatial_degrade(a, ratio, sigma)

    runners = {
        "bicubic": lambda: (bicubic_upsample(y_h, ratio), None),
        "cnmf": lambda: (cnmf_fuse(y_h, y_m, response.matrix, ratio, degrade, **cnmf_kw),
                         None),
        "map": lambda: run_phism(y_h, y_m, response, ratio, "map", True, args.steps),
        "net": lambda: run_phism(y_h, y_m, response, ratio, "net", True, args.steps),
        "net-noprior": lambda: run_phism(y_h, y_m, response, ratio, "net", False, args.steps),
    }
    rows = []
    for method in args.methods:
        start = time.perf_counter()
        try:
            z, train_seconds = runners[method]()
            seconds = time.perf_counter() - start
            metrics, error = quality(x, z, ratio), None
        except (PhismError, ValueError) as exc:
            seconds, train_seconds, metrics = time.perf_counter() - start, None, {}
            error = f"{type(exc).__name__}: {exc}"
        row = {"method": method, "ratio": ratio, "srf": srf_label,
               "srf_restricted": response_note is not None, **metrics, "seconds": seconds,
               "train_seconds": train_seconds, "error": error}
        if method == "cnmf":
            row["settings"] = {"n_endmembers": 30, "outer_iterations": 3,
                               "inner_iterations": 200, **cnmf_kw, "psf": "true"}
        rows.append(row)
        if error:
            log(f"{scene['name']} r{ratio} {srf_label} {method}: FAILED {error}")
        else:
            log(f"{scene['name']} r{ratio} {srf_label} {method}: PSNR {row['psnr_db']:.2f} dB, "
                f"SAM {fmt(row['sam_deg'])} deg, {seconds:.1f} s")
    return {"ratio": ratio, "srf": srf_label, "srf_columns": columns,
            "response": response.describe(), "response_note": response_note,
            "psf_sigma": sigma, "lowres_shape": list(y_h.shape),
            "msi_shape": list(y_m.shape), "rows": rows, "summary": summary(rows)}


def summary(rows: list[dict]) -> str:
    """Whether phism's default (map) and the paper's network beat cnmf and bicubic."""
    by = {r["method"]: r for r in rows}
    lines = []
    for ours in ("map", "net"):
        sm = by.get(ours)
        if sm is None or sm["error"]:
            lines.append(f"{ours} " + ("not run" if sm is None else "failed"))
            continue
        parts = []
        for other in ("cnmf", "bicubic"):
            o = by.get(other)
            if o is None or o["error"]:
                parts.append(f"{other} {'not run' if o is None else 'failed'}")
                continue
            d_psnr = sm["psnr_db"] - o["psnr_db"]
            d_sam = sm["sam_deg"] - o["sam_deg"]
            parts.append(f"vs {other}: PSNR {'beats' if d_psnr > 0 else 'loses'} "
                         f"({d_psnr:+.2f} dB), SAM {'beats' if d_sam < 0 else 'loses'} "
                         f"({d_sam:+.2f} deg)")
        lines.append(f"{ours} " + "; ".join(parts))
    return " | ".join(lines)


# -- Paris ----------------------------------------------------------------------------------
def hyperion_centres(bands: np.ndarray) -> np.ndarray:
    b = np.asarray(bands, dtype=np.float64)
    return np.where(b <= 70, HYPERION_VNIR[0] + HYPERION_VNIR[1] * (b - 1),
                    HYPERION_SWIR[0] + HYPERION_SWIR[1] * (b - 71))


def phism_executable() -> list[str]:
    beside = Path(sys.executable).with_name("phism")
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("phism")
    return [found] if found else [sys.executable, "-m", "phism_cli"]


def run_paris(args: argparse.Namespace, root: Path, plot: Path, log) -> dict:
    path = require(root / "paris_fusion" / "paris_data_hs_pan.mat")
    mat = scipy.io.loadmat(path)
    bands = mat["non_del_bands"].ravel().astype(int)
    wavelength = hyperion_centres(bands)
    info = {"file": str(path), "hsi_shape": list(mat["HSim"].shape),
            "pan_shape": list(mat["PCim"].shape),
            "wavelength_nm": [round(float(v), 3) for v in wavelength]}
    with tempfile.TemporaryDirectory(prefix="phism_fusion_") as tmp:
        wl_file = Path(tmp) / "paris_wavelengths.txt"
        wl_file.write_text("".join(f"{v:.4f}\n" for v in wavelength))
        plot.parent.mkdir(parents=True, exist_ok=True)
        command = [*phism_executable(), "fuse", str(path), str(path), "--variable", "HSim",
                   "--msi-variable", "PCim", "--wavelengths", str(wl_file),
                   "--msi-wavelengths", f"{PAN_CENTRE_NM:g}", "--msi-fwhm", f"{PAN_FWHM_NM:g}",
                   "-o", str(Path(tmp) / "paris_fused.tif"), "--plot", str(plot),
                   "--device", "cpu",
                   "--threads", str(args.threads), "--json", "--overwrite", "--quiet"]
        info["command"] = " ".join(command).replace(tmp, "TMP")
        start = time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True)
        info["wall_seconds"] = time.perf_counter() - start
    info["returncode"] = proc.returncode
    if proc.returncode != 0:
        print(f"phism fuse failed (exit {proc.returncode}):\n{proc.stderr}", file=sys.stderr)
        info["error"] = proc.stderr.strip()[-4000:] or f"exit {proc.returncode}"
        return info
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        info["error"] = f"stdout is not JSON ({exc}): {proc.stdout[-2000:]}"
        print(info["error"], file=sys.stderr)
        return info
    for key in ("ratio", "height", "width", "bands", "msi_bands", "check_lowres",
                "check_msi", "seconds", "train_seconds", "response", "notes", "settings"):
        info[key] = out.get(key)
    info["cli_json"] = out
    info["plot"] = str(plot) if plot.is_file() else None
    log(f"Paris: check_lowres PSNR {fmt(out['check_lowres'].get('psnr_db'))} dB, check_msi "
        f"PSNR {fmt(out['check_msi'].get('psnr_db'))} dB, {info['seconds']:.1f} s")
    return info


# -- report ---------------------------------------------------------------------------------
SOURCES = ("benchmarks/fusion.py", "benchmarks/fusion_baselines.py",
           "phism_cli/inversion/fusion.py", "phism_cli/pipeline/degrade.py",
           "phism_cli/pipeline/quality.py", "phism_cli/forward/response.py",
           "phism_cli/io/srf.py", "phism_cli/cli/fuse.py", "phism_cli/pipeline/fuse.py")


def sources() -> dict:
    """sha256 (first 12 hex digits) and modification time of the code measured: the library
    may change between runs while it is uncommitted."""
    base = Path(__file__).resolve().parent.parent
    out = {}
    for name in SOURCES:
        path = base / name
        if path.is_file():
            stamp = dt.datetime.fromtimestamp(path.stat().st_mtime).astimezone()
            out[name] = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:12],
                         "modified": stamp.isoformat(timespec="seconds")}
    return out


def scene_table(scene: dict) -> list[str]:
    lines = [f"## {scene['title']}", ""]
    lines += [f"- {note}" for note in scene["notes"]]
    lines += [f"- X: {scene['shape'][0]} x {scene['shape'][1]} x {scene['shape'][2]}, "
              f"{scene['range_nm'][0]:.1f}-{scene['range_nm'][1]:.1f} nm.",
              "- Seconds: wall time of the whole method (phism: NMF, fitting, inference and "
              "mixing); train s: `model.train_seconds_` (NMF + fitting).", ""]
    restricted = {cfg["srf"]: cfg["response_note"] for cfg in scene["configs"]
                  if cfg["response_note"]}
    for srf, note in restricted.items():
        lines.append(f"- {srf} (marked *): {note}")
    if restricted:
        lines.append("")
    lines += ["| ratio | SRF | method | PSNR dB | SAM deg | ERGAS | UIQI | seconds | train s |",
              "|---:|---|---|---:|---:|---:|---:|---:|---:|"]
    for cfg in scene["configs"]:
        srf = cfg["srf"] + (" *" if cfg["response_note"] else "")
        for r in cfg["rows"]:
            if r["error"]:
                lines.append(f"| {r['ratio']} | {srf} | {r['method']} | failed: "
                             f"{r['error']} | | | | {fmt(r['seconds'], 1)} | |")
                continue
            lines.append(f"| {r['ratio']} | {srf} | {r['method']} | {fmt(r['psnr_db'])} | "
                         f"{fmt(r['sam_deg'])} | {fmt(r['ergas'])} | {fmt(r['uiqi'], 4)} | "
                         f"{fmt(r['seconds'], 1)} | {fmt(r['train_seconds'], 1)} |")
    lines.append("")
    for cfg in scene["configs"]:
        lines.append(f"- ratio {cfg['ratio']}, {cfg['srf']}: {cfg['summary']}")
    lines.append("")
    return lines


def paris_lines(paris: dict) -> list[str]:
    lines = ["## Paris (real pair, no reference)", "",
             f"`{Path(paris['file']).name}`: `HSim` {' x '.join(map(str, paris['hsi_shape']))} "
             f"(Hyperion-type, low resolution) and `PCim` "
             f"{' x '.join(map(str, paris['pan_shape']))} (ALI panchromatic), ratio 3. HS "
             "wavelengths from `non_del_bands` (Hyperion band numbers b, 1-based): "
             f"{HYPERION_VNIR[0]} + {HYPERION_VNIR[1]} (b - 1) nm for b <= 70, else "
             f"{HYPERION_SWIR[0]} + {HYPERION_SWIR[1]} (b - 71) nm "
             f"({paris['wavelength_nm'][0]:.1f}-{paris['wavelength_nm'][-1]:.1f} nm). The ALI "
             f"panchromatic band covers about 480-690 nm; it is approximated by a Gaussian at "
             f"{PAN_CENTRE_NM:g} nm with {PAN_FWHM_NM:g} nm FWHM.", "",
             f"Command: `{paris['command']}`", ""]
    if paris.get("error"):
        lines += [f"**`phism fuse` failed** (exit {paris['returncode']}, "
                  f"{paris['wall_seconds']:.1f} s):", "", "```", paris["error"], "```", ""]
        return lines
    lines += ["Self-checks (no reference exists): `check_lowres` = the fused cube averaged back "
              "to the low-resolution grid against `HSim`; `check_msi` = the response applied "
              "to the fused cube against `PCim` (one band: no SAM).", "",
              "| check | PSNR dB | SAM deg | RMSE | UIQI |", "|---|---:|---:|---:|---:|"]
    for key in ("check_lowres", "check_msi"):
        q = paris[key] or {}
        lines.append(f"| {key} | {fmt(q.get('psnr_db'))} | {fmt(q.get('sam_deg'))} | "
                     f"{fmt(q.get('rmse'), 4)} | {fmt(q.get('uiqi'), 4)} |")
    lines += ["", f"Fused {paris['height']} x {paris['width']} x {paris['bands']}; "
              f"`seconds` {fmt(paris['seconds'], 1)}, `train_seconds` "
              f"{fmt(paris['train_seconds'], 1)}, process wall time "
              f"{paris['wall_seconds']:.1f} s."
              + (f" Notes: {'; '.join(paris['notes'])}." if paris.get("notes") else "")
              + (f" Figure: `{Path(paris['plot']).name}`." if paris.get("plot") else ""), ""]
    return lines


def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# Fusion: phism fuse against bicubic and CNMF (Wald protocol) and the Paris pair",
        "",
        f"- Date: {report['date']}" + ("" if report.get("complete") else " (partial run)"),
        machine_line(report, s["threads"]),
        f"- Protocol: X cropped (top-left) to multiples of {CROP} so both ratios share it; "
        "Y_h = spatial_degrade(X, r, default_psf_sigma(r)) (Gaussian PSF, FWHM = r "
        f"high-res pixels); Y_m = IKONOS response applied to X; Gaussian noise at "
        f"{SNR_HSI_DB:g} dB SNR on Y_h and {SNR_MSI_DB:g} dB on Y_m (per band std = "
        "sqrt(mean square of the band / 10^(SNR/10)), numpy default_rng"
        f"({NOISE_SEED}), Y_h then Y_m). Same inputs for every method.",
        f"- Methods: bicubic (Y_h upsampled); cnmf (Yokoya et al. 2012, K 30, 3 outer x 200 "
        "inner iterations, 1 x 75 for the pan, given the true PSF and decimation: an "
        "advantage the other methods do not get); phism's defaults (K "
        f"{N_ENDMEMBERS} or fewer when the cube has fewer pixels, radiometric matching): map "
        f"(the default), net (SpectraMorph's MLP, {s['steps']} steps, seed 0, cpu, coarse "
        "prior on) and net-noprior. Nothing tuned.",
        "- Metrics (`FusionQuality`): PSNR per band with the band's reference maximum as peak, "
        "mean over bands; SAM mean over pixels; ERGAS with the ratio; UIQI per band over the "
        "whole image, mean over bands. X is scaled by its maximum (metrics other than RMSE "
        "do not depend on that).",
        f"- SRF: `{Path(s['srf']).name}` via `read_response`: columns 3-6 (IKONOS B, G, R, "
        "NIR) and column 2 (pan). Where a scene's bands do not cover a band's response, the "
        "curves restricted to the scene's range are used (marked *).",
        f"- Context: {PAPER}.",
        "- Code measured (sha256, first 12 digits): "
        + ", ".join(f"`{k}` {v['sha256']}" for k, v in report["sources"].items())
        + " (modification times in the JSON).",
        "",
    ]
    for item in report.get("skipped", []):
        lines.append(f"Skipped: {item['scene']}: {item['reason']}.")
    lines.append("")
    for scene in report["scenes"]:
        lines += scene_table(scene)
    if report.get("paris"):
        lines += paris_lines(report["paris"])
    if "total_seconds" in report:
        lines.append(f"Total benchmark wall time: {report['total_seconds'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--scenes", nargs="+", choices=SCENES, default=list(SCENES))
    parser.add_argument("--ratios", nargs="+", type=int, default=[4, 8])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--steps", type=int, default=2000,
                        help="net: training steps (the Paris run uses the default method, map)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: Indian Pines only, ratio 4")
    parser.add_argument("--paris", action=argparse.BooleanOptionalAction, default=True,
                        help="also fuse the real Paris pair through `phism fuse`")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="markdown results file; a .json is written beside it and the "
                             "Paris figure as NAME_paris.png")
    args = parser.parse_args(argv)
    if args.quick:
        args.scenes, args.ratios = ["indian_pines"], [4]
    bad = [r for r in args.ratios if r < 2 or CROP % r]
    if bad:
        parser.error(f"--ratios {bad}: use divisors of {CROP} from 2 up")
    torch.set_num_threads(args.threads)
    root = data_root()
    args.srf = root / "paris_fusion" / "ikonos_spec_resp.mat"
    t0 = time.perf_counter()

    def log(text: str) -> None:
        print(f"{text} [{(time.perf_counter() - t0) / 60:.1f} min, load "
              f"{os.getloadavg()[0]:.2f}]", file=sys.stderr)

    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"threads": args.threads, "scenes": args.scenes, "ratios": args.ratios,
                     "methods": args.methods, "steps": args.steps, "quick": args.quick,
                     "paris": args.paris, "data_root": str(root), "srf": str(args.srf),
                     "snr_hsi_db": SNR_HSI_DB, "snr_msi_db": SNR_MSI_DB,
                     "noise_seed": NOISE_SEED, "n_endmembers": N_ENDMEMBERS},
        "sources": sources(), "paper": PAPER, "skipped": SKIPPED, "scenes": [], "complete": False,
    }
    for name in args.scenes:
        scene = LOADERS[name](root)
        log(f"{name}: X {scene['shape']}")
        entry = {k: v for k, v in scene.items() if k not in ("x", "wavelength_nm")}
        entry["configs"] = []
        report["scenes"].append(entry)
        for ratio in args.ratios:
            for label, columns in SRFS:
                try:
                    cfg = run_configuration(scene, ratio, label, columns, args, log)
                except (PhismError, ValueError) as exc:  # the response itself failed
                    traceback.print_exc()
                    cfg = {"ratio": ratio, "srf": label, "srf_columns": columns,
                           "response_note": f"failed: {exc}", "rows": [],
                           "summary": f"not run: {exc}"}
                entry["configs"].append(cfg)
                log(f"{name} r{ratio} {label}: {cfg['summary']}")
                write_results(markdown(report), report, args.out)
    if args.paris:
        report["paris"] = run_paris(args, root, args.out.with_name(f"{args.out.stem}_paris.png"),
                                    log)
    finish_report(report, t0, markdown, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
