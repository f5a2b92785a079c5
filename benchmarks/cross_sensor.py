"""Cross-sensor study: one encoder fitted on sensor A encodes scenes of sensor B.

From each real labelled cube (Indian Pines, AVIRIS; the EnMAP Potsdam tiles), the band sets
of seven sensors are simulated (`band_resampling`: each simulated band is the source's
linear interpolant integrated against the band's Gaussian response). Simulated bands outside
the source's range, or more than `GAP_NM` from any source band (removed water bands), are
dropped, as a sensor's bad bands would be. For every pair (A, B):

  PSNR   the encoder fitted on A encodes B's pixels resampled onto A's bands (what
         `phism encode --resample-bands` does) and renders them at B's own band centres (what
         `phism render --reference` does); the table gives that PSNR against B's own
         encoder (fitted on B) on B's pixels. Pairs that overlap less than
         `MIN_OVERLAP` are refused, as the command line refuses them.
  AA     low labels: an XGBoost head is trained on a stratified `--fraction` of the labelled
         pixels seen by A (A's latents, or A's raw spectra) and predicts the other half seen
         by B (B's pixels through A's encoder, or B's raw spectra resampled onto A's bands).
         Same-sensor heads (trained and tested on B, B's own encoder) are the diagonal.

Sensor band sets are nominal, from each mission's published specification (range, band
count, sampling and FWHM per detector), not per-band calibration tables:

  AVIRIS     224 bands, 370-2500 nm, FWHM 10 nm (Green et al. 1998)
  AVIRIS-NG  425 bands, 380-2510 nm, 5 nm sampling, FWHM 5.5 nm (Hamlin et al. 2011)
  EnMAP      VNIR 91 bands 420-1000 nm FWHM 8.1 nm; SWIR 133 bands 900-2450 nm FWHM 12.5 nm
             (Guanter et al. 2015)
  PRISMA     VNIR 66 bands 400-1010 nm; SWIR 173 bands 920-2505 nm; FWHM 12 nm (ASI PRISMA
             product specification)
  EMIT       285 bands, 381-2493 nm, 7.4 nm sampling, FWHM 8.5 nm (Green et al. 2020)
  DESIS      235 bands, 402-1000 nm, 2.55 nm sampling, FWHM 3.5 nm (Krutz et al. 2019)
  HySpex     VNIR-1800 186 bands 400-1000 nm, FWHM 3.3 nm; SWIR-384 288 bands 930-2500 nm,
             FWHM 5.5 nm (Norsk Elektro Optikk data sheets)

    python benchmarks/cross_sensor.py                       # both scenes, ~35 min on 2 cores
    python benchmarks/cross_sensor.py --datasets indian_pines --epochs 5 --seeds 1   # smoke

Data: $PHISM_DATA or ../shared/data relative to the project root.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from classification import DATASETS, aviris_wavelengths, load, low_label_split
from common import data_root, finish_report, fmt, machine, machine_line, write_results

from phism_cli.forward.resampling import band_resampling, effective_fwhm
from phism_cli.heads.metrics import classification_metrics
from phism_cli.heads.xgb import ClassifierHead
from phism_cli.model import PhismEncoder
from phism_cli.pipeline.cross_sensor import MIN_OVERLAP
from phism_cli.pipeline.metrics import ReconstructionMetrics
from phism_cli.threads import configure_threads

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "cross_sensor.md"
GAP_NM = 15.0  # a simulated band this far from every source band falls in a removed gap


@dataclass(frozen=True)
class Detector:
    first_nm: float
    last_nm: float
    bands: int
    fwhm_nm: float


SENSORS: dict[str, tuple[str, tuple[Detector, ...]]] = {
    "aviris": ("AVIRIS", (Detector(370.0, 2500.0, 224, 10.0),)),
    "aviris_ng": ("AVIRIS-NG", (Detector(380.0, 2510.0, 425, 5.5),)),
    "enmap": ("EnMAP", (Detector(420.0, 1000.0, 91, 8.1), Detector(900.0, 2450.0, 133, 12.5))),
    "prisma": ("PRISMA", (Detector(400.0, 1010.0, 66, 12.0),
                          Detector(920.0, 2505.0, 173, 12.0))),
    "emit": ("EMIT", (Detector(381.0, 2493.0, 285, 8.5),)),
    "desis": ("DESIS", (Detector(402.0, 1000.0, 235, 3.5),)),
    "hyspex": ("HySpex", (Detector(400.0, 1000.0, 186, 3.3), Detector(930.0, 2500.0, 288, 5.5))),
}


def sensor_bands(key: str) -> tuple[np.ndarray, np.ndarray]:
    """Band centres and FWHM (nm) of a sensor, in wavelength order."""
    centres = np.concatenate([np.linspace(d.first_nm, d.last_nm, d.bands)
                              for d in SENSORS[key][1]])
    fwhm = np.concatenate([np.full(d.bands, d.fwhm_nm) for d in SENSORS[key][1]])
    order = np.argsort(centres, kind="stable")
    return centres[order], fwhm[order]


@dataclass
class SimulatedSensor:
    key: str
    wavelength_nm: np.ndarray
    fwhm_nm: np.ndarray
    valid: np.ndarray  # (N, bands) every valid pixel, for the encoder
    labelled: np.ndarray  # (L, bands) the labelled pixels
    encoder: PhismEncoder | None = None
    fit_record: dict | None = None


def simulate(key: str, source_nm: np.ndarray, valid: np.ndarray,
             labelled: np.ndarray) -> SimulatedSensor:
    centres, fwhm = sensor_bands(key)
    nearest = np.abs(centres[:, None] - source_nm[None, :]).min(axis=1)
    keep = (centres >= source_nm.min()) & (centres <= source_nm.max()) & (nearest <= GAP_NM)
    resampling = band_resampling(source_nm, centres[keep], fwhm[keep])
    return SimulatedSensor(key, centres[keep], fwhm[keep], resampling.apply(valid),
                           resampling.apply(labelled))


def fit_encoder(sensor: SimulatedSensor, args: argparse.Namespace,
                seed: int | None = None) -> tuple[PhismEncoder, dict]:
    """An encoder fitted on the sensor's pixels (training sample and network both drawn from
    `seed`, default --seed) and its fit record."""
    seed = args.seed if seed is None else seed
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    pixels = sensor.valid if len(sensor.valid) <= args.train_pixels else \
        sensor.valid[rng.choice(len(sensor.valid), args.train_pixels, replace=False)]
    encoder = PhismEncoder(n_components=args.components, epochs=args.epochs, seed=seed,
                           device="cpu")
    encoder.fit(pixels, wavelength_nm=sensor.wavelength_nm, fwhm_nm=sensor.fwhm_nm)
    return encoder, {"sensor": sensor.key, "seed": seed,
                     "bands": int(sensor.wavelength_nm.size),
                     "fit_seconds": time.perf_counter() - start,
                     "epochs": encoder.training_.epochs,
                     "val_psnr_db": encoder.training_.val_psnr_db}


def own_seed_spread(sensor: SimulatedSensor, args: argparse.Namespace) -> list[dict]:
    """The sensor's own-encoder PSNR for --own-seeds seeds (--seed first, the encoder the
    tables use): how far apart encoders of one sensor land, the noise floor of every
    cross-sensor difference."""
    rows = [{"sensor": sensor.key, "seed": args.seed,
             "psnr_db": reconstruction(sensor, sensor)["psnr_db"]}]
    for seed in range(args.seed + 1, args.seed + args.own_seeds):
        encoder, record = fit_encoder(sensor, args, seed)
        other = SimulatedSensor(sensor.key, sensor.wavelength_nm, sensor.fwhm_nm,
                                sensor.valid, sensor.labelled, encoder, record)
        rows.append({"sensor": sensor.key, "seed": seed,
                     "psnr_db": reconstruction(other, other)["psnr_db"],
                     "fit_seconds": record["fit_seconds"]})
        print(f"  {sensor.key} seed {seed}: own PSNR {rows[-1]['psnr_db']:.2f} dB",
              file=sys.stderr, flush=True)
    return rows


def through(model: SimulatedSensor, scene: SimulatedSensor, pixels: np.ndarray,
            widths: str = "effective") -> tuple[np.ndarray | None, float]:
    """`pixels` of `scene` resampled onto `model`'s bands as --resample-bands does (None when
    refused), and the overlap. `widths` "effective": each model band integrates the width the
    scene's bands lack (phism now); "full": its whole FWHM (phism before)."""
    if model.key == scene.key:
        return pixels, 1.0
    resampling = band_resampling(scene.wavelength_nm, model.wavelength_nm, model.fwhm_nm,
                                 scene.fwhm_nm if widths == "effective" else None)
    if resampling.coverage < MIN_OVERLAP:
        return None, resampling.coverage
    return resampling.apply(pixels), resampling.coverage


def reconstruction(model: SimulatedSensor, scene: SimulatedSensor) -> dict:
    """PSNR of `scene` encoded by `model`'s encoder and rendered at the scene's bands, three
    ways: as phism does (`psnr_db`: encode and render integrate the width one sensor's bands
    add to the other's), with bands rendered at their centres (`psnr_centre_db`), and with
    every band integrated over its whole FWHM both ways (`psnr_full_db`, phism before). Where
    the scene's range reaches far beyond the model's (`render --reference` refuses below
    MIN_OVERLAP), only the scene's bands inside the model's range are compared
    (`render_share` < 1)."""
    row = {"fit": model.key, "encode": scene.key, "render_share": 1.0}
    renderer = model.encoder.renderer_
    bands = np.ones(scene.wavelength_nm.size, dtype=bool)
    variants = {"": ("effective", "effective"), "_centre": ("effective", "centre"),
                "_full": ("full", "full")}
    if model.key == scene.key:
        variants = {"": ("effective", "own")}
    fitted, wl = model.wavelength_nm, scene.wavelength_nm
    inside = max(0.0, min(wl.max(), fitted.max()) - max(wl.min(), fitted.min()))
    if model.key != scene.key and inside / float(wl.max() - wl.min()) < MIN_OVERLAP:
        bands = (wl >= fitted.min()) & (wl <= fitted.max())
        row["render_share"] = inside / float(wl.max() - wl.min())
    for suffix, (encode_widths, render_widths) in variants.items():
        seen, coverage = through(model, scene, scene.valid, encode_widths)
        row["coverage"] = coverage
        if seen is None:
            return row | {"psnr_db": None}
        latent = model.encoder.transform(seen)
        if render_widths == "own":
            drawing = renderer
        elif render_widths == "centre":
            drawing = renderer.at_wavelengths(wl[bands])
        else:
            fwhm = scene.fwhm_nm[bands]
            if render_widths == "effective":
                fwhm = effective_fwhm(wl[bands], fwhm, fitted, model.fwhm_nm)
            drawing = renderer.at_wavelengths(wl[bands], fwhm)
        finite = np.isfinite(latent).all(axis=1)
        metrics = ReconstructionMetrics()
        metrics.update(scene.valid[finite][:, bands], drawing.render(latent[finite]))
        row |= {f"psnr{suffix}_db": metrics.psnr_db, f"sam{suffix}_deg": metrics.sam_deg}
    return row


def head_scores(sensors: dict[str, SimulatedSensor], labels: np.ndarray, classes: list[int],
                args: argparse.Namespace) -> list[dict]:
    rows = []
    for fraction in args.fractions:
        for seed in range(args.seeds):
            split = low_label_split(labels, fraction, seed)
            for a in sensors.values():
                for feature in ("latent", "raw"):
                    train = a.labelled[split.train]
                    if feature == "latent":
                        train = a.encoder.transform(train)
                    head = ClassifierHead(seed=seed).fit(train, labels[split.train])
                    for b in sensors.values():
                        seen, _ = through(a, b, b.labelled[split.test])
                        row = {"fraction": fraction, "seed": seed, "feature": feature,
                               "fit": a.key, "encode": b.key, "n_train": int(split.train.sum())}
                        if seen is None:
                            rows.append(row | {"aa": None, "oa": None})
                            continue
                        test = a.encoder.transform(seen) if feature == "latent" else seen
                        metrics = classification_metrics(labels[split.test],
                                                         head.predict(test), classes)
                        rows.append(row | {"aa": metrics["aa"], "oa": metrics["oa"]})
    return rows


def run_dataset(key: str, args: argparse.Namespace, report: dict) -> None:
    ds = DATASETS[key]
    wavelengths = aviris_wavelengths() if key == "indian_pines" else None
    valid, labelled, source_nm = load(ds, data_root(), wavelengths)
    sensors = {}
    for sensor_key in args.sensors:
        sensor = sensors[sensor_key] = simulate(sensor_key, source_nm, valid,
                                                labelled.features)
        sensor.encoder, sensor.fit_record = fit_encoder(sensor, args)
        record = sensor.fit_record
        report["fits"].append({"dataset": key} | record)
        print(f"{key}: fitted on {sensor_key} ({record['bands']} bands) in "
              f"{record['fit_seconds']:.0f} s, val PSNR {record['val_psnr_db']:.2f} dB",
              file=sys.stderr, flush=True)
    for a in sensors.values():
        for b in sensors.values():
            report["psnr"].append({"dataset": key} | reconstruction(a, b))
    for sensor in sensors.values():
        report["own_seeds"] += [{"dataset": key} | row for row in own_seed_spread(sensor, args)]
    classes = sorted(int(c) for c in np.unique(labelled.labels))
    for row in head_scores(sensors, labelled.labels, classes, args):
        report["heads"].append({"dataset": key} | row)
    report["datasets"][key] = {
        "title": ds.title, "pixels": len(valid), "labelled": len(labelled),
        "source_nm": [float(source_nm.min()), float(source_nm.max())],
        "source_bands": int(source_nm.size)}


# -- report ---------------------------------------------------------------------------------
def _mean(rows: list[dict], metric: str) -> float | None:
    values = [r[metric] for r in rows if r[metric] is not None]
    return float(np.mean(values)) if values else None


def _seed_spread(report: dict, key: str, names: dict[str, str], psnr: dict,
                 pairs: list[tuple[str, str]]) -> list[str]:
    """The own-encoder seed table, and the cross-sensor pairs measured against each column's
    own encoders over all seeds instead of the first seed's alone."""
    own: dict[str, list[float]] = {}
    for r in report.get("own_seeds", []):
        if r["dataset"] == key and r["psnr_db"] is not None:
            own.setdefault(r["sensor"], []).append(r["psnr_db"])
    if not own or max(len(v) for v in own.values()) < 2:
        return []
    seeds = max(len(v) for v in own.values())
    lines = ["", f"### The noise floor: each sensor's own encoder over {seeds} seeds", "",
             "Same data, same settings, another seed (training sample and network "
             "initialisation): how far apart two encoders of one sensor land.", "",
             "| sensor | own PSNR per seed (dB) | mean | max - min |", "|---|---|---:|---:|"]
    for k in names:
        v = own.get(k, [])
        if v:
            lines.append(f"| {names[k]} | {', '.join(fmt(x) for x in v)} | "
                         f"{fmt(float(np.mean(v)))} | {max(v) - min(v):.2f} |")
    d_mean = [psnr[p]["psnr_db"] - float(np.mean(own[p[1]])) for p in pairs if p[1] in own]
    in_range = [psnr[p]["psnr_db"] >= min(own[p[1]]) for p in pairs if p[1] in own]
    if d_mean:
        lines += ["", f"Cross-sensor pairs within 1 dB of the mean of the column's own "
                  f"encoders: {sum(v >= -1.0 for v in d_mean)} of {len(d_mean)} (worst "
                  f"{min(d_mean):+.2f} dB, median {np.median(d_mean):+.2f} dB); at or above "
                  f"the worst of the column's own encoders: {sum(in_range)} of "
                  f"{len(in_range)}."]
    return lines


def markdown(report: dict) -> str:
    s = report["settings"]
    names = {k: SENSORS[k][0] for k in s["sensors"]}
    lines = ["# Cross-sensor: an encoder fitted on one sensor encodes another", "",
             f"- Date: {report['date']}" + ("" if report.get("complete") else " (PARTIAL)"),
             machine_line(report, s["threads"]),
             f"- Encoders: PhismEncoder(K = {s['components']}), up to {s['epochs']} epochs, "
             f"{s['train_pixels']:,} training pixels at most, seed {s['seed']}; heads: "
             f"XGBoost (phism's defaults), {s['seeds']} label seeds per fraction, 50 % of the "
             "labelled pixels held out.",
             "- Sensor band sets are nominal (published range, count and FWHM per detector), "
             "simulated from the real cube through Gaussian responses; bands outside the "
             "cube's range or in its removed gaps are dropped.", ""]
    for key, info in report["datasets"].items():
        psnr = {(r["fit"], r["encode"]): r for r in report["psnr"] if r["dataset"] == key}
        fits = {r["sensor"]: r for r in report["fits"] if r["dataset"] == key}
        lines += [f"## {info['title']} ({info['source_bands']} bands, "
                  f"{info['source_nm'][0]:.0f}-{info['source_nm'][1]:.0f} nm, "
                  f"{info['pixels']:,} pixels)", "",
                  "Simulated bands kept: " + ", ".join(
                      f"{names[k]} {fits[k]['bands']}" for k in names) + ".", "",
                  "### Reconstruction PSNR (dB): rows fitted on, columns encoded", "",
                  "Diagonal: the sensor's own encoder. Off the diagonal: the difference to the "
                  "column's own encoder (negative: worse) as phism encodes and renders (each "
                  "band integrated over the width one sensor's bands add to the other's) and, "
                  "in brackets, with the bands rendered at their centres, and with every band "
                  "integrated over its whole FWHM both ways (phism before this change); "
                  "`refused` where the column's range "
                  f"covers less than {100 * MIN_OVERLAP:.0f} % of the row's (share found). "
                  "†: the row's range covers too little of the column's for `render "
                  "--reference` (it refuses); the PSNR given is over the column's bands inside "
                  "the row's range, not comparable with the diagonal.", "",
                  "| fitted on \\ encoded | " + " | ".join(names.values()) + " |",
                  "|---|" + "---:|" * len(names)]
        for a in names:
            cells = []
            for b in names:
                r = psnr[(a, b)]
                own = psnr[(b, b)]["psnr_db"]
                if r["psnr_db"] is None:
                    cells.append(f"refused ({100 * r['coverage']:.0f} %)")
                elif a == b:
                    cells.append(f"**{fmt(r['psnr_db'])}**")
                elif r["render_share"] < 1.0:
                    cells.append(f"{fmt(r['psnr_db'])} in range†")
                else:
                    cells.append(f"{r['psnr_db'] - own:+.2f} ({r['psnr_centre_db'] - own:+.2f}, "
                                 f"{r['psnr_full_db'] - own:+.2f})")
            lines.append(f"| {names[a]} | " + " | ".join(cells) + " |")
        pairs = [(a, b) for a in names for b in names if a != b
                 and psnr[(a, b)]["psnr_db"] is not None and psnr[(a, b)]["render_share"] == 1.0]
        for key_, label in (("psnr_db", "as phism does"), ("psnr_centre_db", "bands at centres"),
                            ("psnr_full_db", "whole FWHM both ways")):
            d = [psnr[p][key_] - psnr[(p[1], p[1])]["psnr_db"] for p in pairs]
            if d:
                lines += ["",
                          f"Cross-sensor pairs (rendered at all their bands) within 1 dB of the "
                          f"column's own encoder, {label}: {sum(v >= -1.0 for v in d)} of "
                          f"{len(d)} (worst {min(d):+.2f} dB, median {np.median(d):+.2f} dB)."]
        lines += _seed_spread(report, key, names, psnr, pairs)
        lines.append("")
        heads = [r for r in report["heads"] if r["dataset"] == key]
        for fraction in s["fractions"]:
            n_train = int(np.mean([r["n_train"] for r in heads if r["fraction"] == fraction]))
            lines += [f"### AA % with {100 * fraction:g} % labels ({n_train} training pixels): "
                      "rows trained on, columns predicted; latents | raw spectra", "",
                      "Diagonal: same-sensor heads. Off the diagonal: cross-sensor AA and its "
                      "difference to the column's same-sensor head.", "",
                      "| trained on \\ predicted | " + " | ".join(names.values()) + " |",
                      "|---|" + "---:|" * len(names)]
            cross = {"latent": [], "raw": []}
            for a in names:
                cells = []
                for b in names:
                    parts = []
                    for feature in ("latent", "raw"):
                        pick = [r for r in heads if r["fraction"] == fraction
                                and r["feature"] == feature]
                        aa = _mean([r for r in pick if (r["fit"], r["encode"]) == (a, b)], "aa")
                        same = _mean([r for r in pick if (r["fit"], r["encode"]) == (b, b)],
                                     "aa")
                        if aa is None:
                            parts.append("refused")
                        elif a == b:
                            parts.append(f"**{100 * aa:.1f}**")
                        else:
                            parts.append(f"{100 * aa:.1f} ({100 * (aa - same):+.1f})")
                            cross[feature].append(100 * (aa - same))
                    cells.append(" \\| ".join(parts))
                lines.append(f"| {names[a]} | " + " | ".join(cells) + " |")
            for feature, label in (("latent", "latents"), ("raw", "raw spectra")):
                d = cross[feature]
                if d:
                    lines.append(f"\nCross-sensor heads on {label} within 5 AA points of the "
                                 f"same-sensor head: {sum(v >= -5.0 for v in d)} of {len(d)} "
                                 f"(worst {min(d):+.1f}, median {np.median(d):+.1f}).")
            lines.append("")
        lines += ["### Encoder fits", "", "| sensor | bands | seconds | epochs | val PSNR dB |",
                  "|---|---:|---:|---:|---:|"]
        for k in names:
            f = fits[k]
            lines.append(f"| {names[k]} | {f['bands']} | {f['fit_seconds']:.0f} | "
                         f"{f['epochs']} | {fmt(f['val_psnr_db'])} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["indian_pines", "potsdam"],
                        choices=sorted(DATASETS))
    parser.add_argument("--sensors", nargs="+", default=list(SENSORS), choices=list(SENSORS))
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--train-pixels", type=int, default=5000)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.05, 0.01])
    parser.add_argument("--seeds", type=int, default=3, help="label seeds per fraction")
    parser.add_argument("--seed", type=int, default=0, help="the encoders' seed")
    parser.add_argument("--own-seeds", type=int, default=3,
                        help="seeds of each sensor's own encoder, for the seed spread")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    configure_threads(args.threads)
    started = time.perf_counter()
    report = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": machine(), "settings": {k: (str(v) if isinstance(v, Path) else v)
                                                 for k, v in vars(args).items()},
              "datasets": {}, "fits": [], "psnr": [], "heads": [], "own_seeds": []}
    for key in args.datasets:
        run_dataset(key, args, report)
        write_results(markdown(report), report, args.out)  # partial results as they come
    finish_report(report, started, markdown, args.out)


if __name__ == "__main__":
    main()
