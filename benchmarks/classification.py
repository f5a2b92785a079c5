"""Classification study: PhISM latents against raw spectra, PCA and a conventional autoencoder
as features for an XGBoost head, on Indian Pines and the EnMAP Potsdam tiles.

Table I (the paper's Table I protocol, with phism's own folds): spatially disjoint block
folds (`phism_cli.heads.splits.block_folds`, 32-pixel blocks; Potsdam's 32 x 32 tiles are
one block each, so its folds are by tile), 4 folds x `--seeds` seeds. The seed sets the fold
layout, the encoder's training and XGBoost. OA and AA: mean and 95 % t-interval over the
folds x seeds runs.

Table II (low labels): a stratified random half of the labelled pixels is the test set;
training takes a stratified `fraction` of all labelled pixels from the other half (at least
one pixel per class), `--low-label-seeds` seeds. Seed s uses the encoders fitted with seed
s mod `--seeds`.

Every split is scored twice: with XGBoost's plain loss and with class-balanced sample
weights (`--class-weight balanced` of `train-head`), reported side by side.

Every encoder (and PCA) is fitted self-supervised, without labels, on all valid pixels of
the dataset (all tiles for Potsdam), test pixels included: the transductive setting of the
paper's pipeline, where the encoder never sees a label. Methods (K = --components,
default 5; 4K latent values each, except the Gaussian: 3K):

  raw             the spectra themselves (bad bands dropped)
  pca             PCA, 4K components (numpy SVD of the mean-centred pixels)
  autoencoder     PhismEncoder(decoder="mlp", latent_dim=4K): the same encoder, a mirrored
                  MLP decoder with linear output, trained the same way
  phism           PhismEncoder(n_components=K): skew normal, amplitudes solved per pixel,
                  brightness term, components sorted by centre (the library's defaults)
  phism_before    the training before issue 10 (the paper's: amplitudes from the network,
                  constant learning rate, no brightness), components sorted by centre
  phism_fixed     PhismEncoder(n_components=K, fixed=True)
  phism_gaussian  PhismEncoder(n_components=K, basis="gaussian")
  phism_network_order  phism's encoder (the same fit), its components left in the network's
                  slot order instead of sorted by centre
  phism_paper_width  phism with the paper's hidden widths, 512-1024-512-256
  phism_half_width   phism with half of them, 256-512-256-128

    python benchmarks/classification.py
    python benchmarks/classification.py --datasets indian_pines --seeds 2 --epochs 10
    python benchmarks/classification.py --tables 2 --fractions 0.01 0.005 --components 10 \
        --out benchmarks/results/classification_k10.md       # a variant

Data: $PHISM_DATA or ../shared/data relative to the project root.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from common import data_root, fmt, machine, write_results
from scipy import stats

from phism_cli.heads.metrics import classification_metrics
from phism_cli.heads.splits import Split, block_folds, random_split
from phism_cli.heads.xgb import ClassifierHead
from phism_cli.io.features import SpectraFeatures
from phism_cli.io.labels import LabelRaster
from phism_cli.io.scene_formats import open_scene
from phism_cli.model import PhismEncoder
from phism_cli.pipeline.labelled import LabelledPixels, collect_labelled_pixels
from phism_cli.pixels import valid_mask

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "classification.md"

METHODS = {
    "raw": "Raw spectra",
    "pca": "PCA (4K components)",
    "autoencoder": "Conventional autoencoder (4K latent values)",
    "phism": "PhISM, skew normal",
    "phism_before": "PhISM before issue 10 (paper training)",
    "phism_fixed": "PhISM fixed",
    "phism_gaussian": "PhISM, Gaussian",
    "phism_network_order": "PhISM, network order (not sorted)",
    "phism_paper_width": "PhISM, hidden 512-1024-512-256",
    "phism_half_width": "PhISM, hidden 256-512-256-128",
}

# The paper's Table I (Indian Pines, Nalepa et al.'s folds, OA / AA %) and its low-label AA
# on Pavia University (random split, 50 % test); see ../shared/design/phism-model.md.
PAPER_TABLE_I = {"indian_pines": {"phism": (64.4, 54.6), "phism_fixed": (57.7, 48.8),
                                  "autoencoder": (59.8, 50.4)}}
PAPER_LOW_LABEL = {"phism": [82.5, 80.1, 79.2, 73.6, 70.0], "raw": [81.3, 80.8, 78.6, 72.9, 56.1]}
PAPER_FRACTIONS = [0.5, 0.1, 0.05, 0.01, 0.005]
WEIGHTS = {"none": None, "balanced": "balanced"}  # column name -> ClassifierHead class_weight


@dataclass(frozen=True)
class Dataset:
    key: str
    title: str
    scenes: tuple[str, ...]  # relative to the data folder
    labels: tuple[str, ...]
    note: str


def _potsdam_tiles(folder: str) -> tuple[str, ...]:
    root = data_root() / "enmap_potsdam" / folder
    return tuple(f"enmap_potsdam/{folder}/{p.name}" for p in sorted(root.glob("*.tif")))


DATASETS = {
    "indian_pines": Dataset(
        "indian_pines", "Indian Pines", ("indian_pines/Indian_pines_corrected.mat",),
        ("indian_pines/Indian_pines_gt.mat",),
        "AVIRIS, 145 x 145 pixels, 200 bands, 16 classes, 10,249 labelled pixels; no "
        "wavelengths in the file, so PhISM's axis is the band number."),
    "potsdam": Dataset(
        "potsdam", "EnMAP Potsdam", _potsdam_tiles("images"), _potsdam_tiles("labels"),
        "18 EnMAP L2A tiles of 32 x 32 pixels, 224 bands (218 after the bad-band list), "
        "6 land-cover classes (0 = unlabelled)."),
}


# -- data -----------------------------------------------------------------------------------
def aviris_wavelengths() -> str:
    """Indian Pines' 200 "corrected" bands as AVIRIS band centres, approximated as 220 bands
    evenly spaced over 400-2500 nm minus the removed water bands 104-108, 150-163 and 220
    (1-based), as a --wavelengths value."""
    removed = [*range(103, 108), *range(149, 163), 219]
    return ",".join(f"{w:.2f}" for w in np.delete(np.linspace(400.0, 2500.0, 220), removed))


def load(ds: Dataset, root: Path,
         wavelengths: str | None = None) -> tuple[np.ndarray, LabelledPixels, np.ndarray | None]:
    """All valid pixels (for the encoders), the labelled pixels, the wavelengths."""
    scenes = [open_scene(root / p, wavelengths=wavelengths) for p in ds.scenes]
    rasters = [LabelRaster(root / p) for p in ds.labels]
    cubes = [s.read() for s in scenes]
    valid = np.concatenate([c[valid_mask(c)] for c in cubes])
    pairs = [(SpectraFeatures(s), r) for s, r in zip(scenes, rasters, strict=True)]
    labelled = collect_labelled_pixels(pairs, ignore_label=0)
    wavelength_nm = scenes[0].wavelength_nm
    for s in scenes:
        s.close()
    return valid, labelled, wavelength_nm


# -- features -------------------------------------------------------------------------------
def fit_features(method: str, valid: np.ndarray, wavelength_nm: np.ndarray | None, seed: int,
                 args: argparse.Namespace) -> tuple[object, dict]:
    """A fitted transform for `method` and its fit record."""
    start = time.perf_counter()
    if method == "raw":
        return None, {"fit_seconds": 0.0}
    if method == "pca":
        mean = valid.mean(axis=0, dtype=np.float64)
        _, _, vt = np.linalg.svd(valid - mean, full_matrices=False)
        return (mean, vt[:4 * args.components]), {"fit_seconds": time.perf_counter() - start}
    settings = {"autoencoder": {"decoder": "mlp", "latent_dim": 4 * args.components},
                "phism": {}, "phism_fixed": {"fixed": True},
                "phism_before": {"amplitudes": "encoder", "brightness": False,
                                 "lr_schedule": "constant"},
                "phism_gaussian": {"basis": "gaussian"},
                "phism_paper_width": {"hidden": (512, 1024, 512, 256)},
                "phism_half_width": {"hidden": (256, 512, 256, 128)}}[method]
    encoder = PhismEncoder(n_components=args.components, epochs=args.epochs,
                           patience=args.patience, seed=seed, device="cpu", **settings)
    rng = np.random.default_rng(seed)
    train = valid if len(valid) <= args.train_pixels else \
        valid[rng.choice(len(valid), args.train_pixels, replace=False)]
    encoder.fit(train, wavelength_nm=wavelength_nm)
    t = encoder.training_
    return encoder, {"fit_seconds": time.perf_counter() - start, "epochs": t.epochs,
                     "best_epoch": t.best_epoch, "val_psnr_db": t.val_psnr_db}


# Methods that reuse another method's fitted encoder (same seed), transformed differently.
FITTED_AS = {"phism_network_order": "phism"}


def latent_in_order(encoder: PhismEncoder, pixels: np.ndarray, sort: bool) -> np.ndarray:
    """PhISM's latent from the trained (unfolded) network, its components sorted by centre
    or in the network's slot order: the one difference between the two feature sets."""
    with torch.no_grad():
        scaled = torch.as_tensor(encoder.scaler_.transform(pixels))
        return encoder._physical_latent(encoder.model_.eval(), scaled, sort=sort).numpy()


def transform(method: str, model: object, pixels: np.ndarray) -> np.ndarray:
    if method == "phism_network_order":
        return latent_in_order(model, pixels, sort=False)
    if method == "raw":
        return pixels
    if method == "pca":
        mean, components = model
        return ((pixels - mean) @ components.T).astype(np.float32)
    return model.transform(pixels)  # PhISM components come sorted by centre


# -- evaluation -----------------------------------------------------------------------------
def low_label_split(labels: np.ndarray, fraction: float, seed: int) -> Split:
    """Half the labelled pixels for testing; `fraction` of all of them for training."""
    halves = random_split(labels, 0.5, seed)
    pool = np.flatnonzero(halves.train)
    inner = random_split(labels[pool], min(1.0, fraction / 0.5), seed)
    train = np.zeros(len(labels), dtype=bool)
    train[pool[inner.train]] = True
    return Split(train, halves.test, {"method": "low-label", "fraction": fraction})


def evaluate(features: np.ndarray, labels: np.ndarray, split: Split, classes: list[int],
             seed: int, class_weight: str | None = None) -> dict:
    start = time.perf_counter()
    head = ClassifierHead(seed=seed, class_weight=class_weight).fit(features[split.train],
                                                                    labels[split.train])
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    predicted = head.predict(features[split.test])
    predict_seconds = time.perf_counter() - start
    metrics = classification_metrics(labels[split.test], predicted, classes)
    return {"oa": metrics["oa"], "aa": metrics["aa"], "kappa": metrics["kappa"],
            "n_train": int(split.train.sum()), "n_test": int(split.test.sum()),
            "head_fit_seconds": fit_seconds, "head_predict_seconds": predict_seconds}


def interval(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of the 95 % t-interval, in percent."""
    data = 100.0 * np.asarray(values, dtype=np.float64)
    if len(data) < 2:
        return float(data.mean()), math.nan
    half = stats.t.ppf(0.975, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data))
    return float(data.mean()), float(half)


# -- report ---------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    s, m = report["settings"], report["machine"]
    lines = [
        "# Classification: PhISM latents and baselines with an XGBoost head",
        "",
        f"- Date: {report['date']}" + ("" if report["complete"] else " (PARTIAL: still "
                                       "running or interrupted)"),
        f"- Machine: {m['cpu_cores']} CPU cores, GPU: {'yes' if m['gpu'] else 'none'}; torch "
        f"{m['torch']} ({m['torch_threads']} threads), numpy {m['numpy']}, Python "
        f"{m['python']}; load average at start {m['loadavg_at_start']}",
        f"- Encoders: K = {s['components']} components (4K = {4 * s['components']} latent values "
        f"for PhISM, PCA and the autoencoder, 3K for the Gaussian), up to {s['epochs']} epochs "
        f"(early stopping, patience {s.get('patience', 5)}), library defaults otherwise, "
        "fitted without labels on all valid pixels (at most "
        f"{s.get('train_pixels', 200_000):,}, a seeded sample). Head: XGBoost, 200 rounds, "
        "learning rate 0.1, depth 6 (phism's defaults, the paper's settings)"
        + "; every split scored with plain and with class-balanced sample weights"
        + ("; Indian Pines on approximate AVIRIS wavelengths (nm)" if s.get("ip_wavelengths")
           else "") + ".",
        f"- Table I: {s['folds']} block folds (32-pixel blocks) x {s['seeds']} seeds; "
        f"Table II: {s['low_label_seeds']} seeds per fraction. Intervals: 95 % t-interval "
        "of the mean over runs." if "parts" not in report else
        "- Merged from runs made side by side: " + "; ".join(
            f"{', '.join(p['datasets'])}: table(s) {', '.join(map(str, p['tables']))}, "
            f"{p['seeds_done']} of {p['seeds']} encoder seeds"
            + (f", {p['low_label_seeds']} label seeds"
                                            if 2 in p["tables"] else "")
            + ("" if p["complete"] else " (stopped early)") for p in report["parts"])
        + f". Table I: {s['folds']} block folds (32-pixel blocks). Intervals: 95 % "
        "t-interval of the mean over runs.",
        "",
    ]
    for key, info in report["datasets"].items():
        lines += [f"## {info['title']}", "", info["note"], ""]
        rows = [r for r in report["table1"] if r["dataset"] == key]
        if rows:
            lines += ["### Table I: spatially disjoint folds (OA / AA %, mean ± 95 % interval)",
                      "", "| method | OA | AA | OA, balanced | AA, balanced | paper OA / AA |",
                      "|---|---:|---:|---:|---:|---:|"]
            for method in s["methods"]:
                cells = []
                for weight in WEIGHTS:
                    runs = [r for r in rows if r["method"] == method
                            and r.get("class_weight", "none") == weight]
                    for metric in ("oa", "aa"):
                        mean, half = interval([r[metric] for r in runs]) if runs else (0, 0)
                        cells.append(f"{fmt(mean, 1)} ± {fmt(half, 1)}" if runs else "")
                if not any(cells):
                    continue
                paper = PAPER_TABLE_I.get(key, {}).get(method)
                lines.append(f"| {METHODS[method]} | " + " | ".join(cells) + " | "
                             f"{'' if paper is None else f'{paper[0]} / {paper[1]}'} |")
            lines.append("")
        rows = [r for r in report["table2"] if r["dataset"] == key]
        if rows:
            fractions = s["fractions"]
            lines += ["### Table II: AA % against the labelled fraction (random stratified split, "
                      "50 % test; mean ± 95 % interval; plain | class-balanced weights)", "",
                      "| method | " + " | ".join(f"{100 * f:g} % | {100 * f:g} %, balanced"
                                                for f in fractions) + " |",
                      "|---|" + "---:|" * (2 * len(fractions))]
            for method in s["methods"]:
                cells = []
                for f, weight in itertools.product(fractions, WEIGHTS):
                    runs = [r["aa"] for r in rows if r["method"] == method
                            and r["fraction"] == f and r.get("class_weight", "none") == weight]
                    mean, half = interval(runs) if runs else (math.nan, math.nan)
                    cells.append(f"{fmt(mean, 1)} ± {fmt(half, 1)}" if runs else "")
                if any(cells):
                    lines.append(f"| {METHODS[method]} | " + " | ".join(cells) + " |")
            train = {f: int(np.mean([r["n_train"] for r in rows if r["fraction"] == f]))
                     for f in fractions if any(r["fraction"] == f for r in rows)}
            lines += ["", "Training pixels per fraction: " + ", ".join(
                f"{100 * f:g} %: {n}" for f, n in train.items()), ""]
        fits = [r for r in report["fits"] if r["dataset"] == key]
        if fits:
            lines += ["### Time on this machine (seconds, mean per run)", "",
                      "| method | encoder fit | encode all labelled pixels | head fit "
                      "(Table I) | head predict (Table I) |", "|---|---:|---:|---:|---:|"]
            for method in s["methods"]:
                f = [r for r in fits if r["method"] == method]
                t1 = [r for r in report["table1"] if r["dataset"] == key
                      and r["method"] == method and r.get("class_weight", "none") == "none"]
                if not f:
                    continue
                lines.append(
                    f"| {METHODS[method]} | {fmt(np.mean([r['fit_seconds'] for r in f]), 1)} | "
                    f"{fmt(np.mean([r['transform_seconds'] for r in f]), 2)} | "
                    f"{fmt(np.mean([r['head_fit_seconds'] for r in t1]) if t1 else None, 1)} | "
                    f"{fmt(np.mean([r['head_predict_seconds'] for r in t1]) if t1 else None, 2)}"
                    " |")
            lines.append("")
    lines += ["## The paper", "",
              "Table I, Indian Pines (Nalepa et al.'s folds, not reachable; phism's block folds "
              "differ): " + "; ".join(f"{METHODS[k]} {v[0]} / {v[1]}"
                                      for k, v in PAPER_TABLE_I["indian_pines"].items()) + ".",
              "Low-label AA on Pavia University (a different scene) at "
              + ", ".join(f"{100 * f:g} %" for f in PAPER_FRACTIONS) + ": PhISM "
              + " / ".join(map(str, PAPER_LOW_LABEL["phism"])) + "; raw "
              + " / ".join(map(str, PAPER_LOW_LABEL["raw"])) + ".", ""]
    return "\n".join(lines)


def merge(paths: list[Path], out: Path) -> int:
    """One report from runs over different datasets or tables (run side by side)."""
    reports = [json.loads(p.read_text()) for p in paths]
    merged = reports[0] | {"datasets": {}, "fits": [], "table1": [], "table2": [],
                           "parts": []}
    for report in reports:
        for key in ("fits", "table1", "table2"):
            merged[key] += report[key]
        merged["datasets"] |= report["datasets"]
        s = report["settings"]
        merged["parts"].append({
            "date": report["date"], "datasets": list(report["datasets"]),
            "tables": s["tables"], "seeds": s["seeds"],
            "low_label_seeds": s["low_label_seeds"], "methods": s["methods"],
            "seeds_done": len({r["seed"] for r in report["fits"]}),
            "complete": report["complete"]})
    merged["settings"]["methods"] = list(dict.fromkeys(
        m for r in reports for m in r["settings"]["methods"]))
    merged["complete"] = all(r["complete"] for r in reports)
    print(write_results(markdown(merged), merged, out))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--low-label-seeds", type=int, default=10)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--fractions", nargs="+", type=float, default=PAPER_FRACTIONS)
    parser.add_argument("--components", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--train-pixels", type=int, default=200_000,
                        help="encoders train on a seeded sample of at most this many valid "
                        "pixels (fit-encoder's --max-pixels)")
    parser.add_argument("--tables", nargs="+", type=int, choices=[1, 2], default=[1, 2])
    parser.add_argument("--class-weights", nargs="+", choices=list(WEIGHTS),
                        default=list(WEIGHTS), help="XGBoost sample weightings to score")
    parser.add_argument("--ip-wavelengths", action="store_true",
                        help="variant: give Indian Pines approximate AVIRIS wavelengths "
                        "(nm) instead of the band-number axis")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--merge", nargs="+", type=Path,
                        help="only merge these results files (.json) into --out")
    args = parser.parse_args(argv)
    if args.merge:
        return merge(args.merge, args.out)

    t0 = time.perf_counter()
    root = data_root()
    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(), "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "datasets": {}, "fits": [], "table1": [], "table2": [], "complete": False,
    }

    def save() -> str:
        return write_results(markdown(report), report, args.out)

    for key in args.datasets:
        ds = DATASETS[key]
        wavelengths = aviris_wavelengths() if key == "indian_pines" and args.ip_wavelengths \
            else None
        valid, labelled, wavelength_nm = load(ds, root, wavelengths)
        classes = sorted(int(c) for c in np.unique(labelled.labels))
        report["datasets"][key] = {"title": ds.title, "note": ds.note,
                                   "valid_pixels": len(valid), "labelled": len(labelled),
                                   "classes": classes}
        features: dict[tuple[str, int], np.ndarray] = {}
        for seed in range(args.seeds):
            fitted: dict[str, tuple[object, dict]] = {}
            for method in args.methods:
                fit_as = FITTED_AS.get(method, method)
                if fit_as not in fitted:
                    fitted[fit_as] = fit_features(fit_as, valid, wavelength_nm, seed, args)
                model, record = fitted[fit_as][0], dict(fitted[fit_as][1])
                start = time.perf_counter()
                features[method, seed] = transform(method, model, labelled.features)
                record["transform_seconds"] = time.perf_counter() - start
                report["fits"].append({"dataset": key, "method": method, "seed": seed,
                                       **record})
                print(f"{ds.title} seed {seed} {method}: fitted in {record['fit_seconds']:.1f} s "
                      f"[{(time.perf_counter() - t0) / 60:.1f} min]", file=sys.stderr)
            for fold in range(args.folds if 1 in args.tables else 0):
                split = block_folds(labelled.source, labelled.row, labelled.col, args.folds,
                                    fold, block_size=32, seed=seed)
                for method, weight in itertools.product(args.methods, args.class_weights):
                    row = evaluate(features[method, seed], labelled.labels, split, classes, seed,
                                   WEIGHTS[weight])
                    report["table1"].append({"dataset": key, "method": method, "seed": seed,
                                             "fold": fold + 1, "class_weight": weight, **row})
            save()
        for fraction in args.fractions if 2 in args.tables else []:
            for seed in range(args.low_label_seeds):
                split = low_label_split(labelled.labels, fraction, seed)
                for method, weight in itertools.product(args.methods, args.class_weights):
                    row = evaluate(features[method, seed % args.seeds], labelled.labels, split,
                                   classes, seed, WEIGHTS[weight])
                    report["table2"].append({"dataset": key, "method": method, "seed": seed,
                                             "fraction": fraction, "class_weight": weight,
                                             **row})
            print(f"{ds.title} fraction {fraction} done "
                  f"[{(time.perf_counter() - t0) / 60:.1f} min]", file=sys.stderr)
            save()
    report["complete"] = True
    report["total_seconds"] = time.perf_counter() - t0
    print(save())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
