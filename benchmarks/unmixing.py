"""Unmixing accuracy: the Feely lab mixtures (thermal infrared) and Samson (VNIR).

Feely (Feely & Christensen 1999; the InfraRender paper's evaluation): the 90 `valid_mixture`
rocks, wavenumber rows 104 onward (399-1998 cm-1), the 38-endmember library with its
Lorentz-oscillator dispersion parameters. Methods fcls, abs (analysis-by-synthesis), net
(amortised inverse-rendering network) and hybrid (network warm-starts abs) through
`phism_cli.inversion.unmixer.Unmixer`, plus variants. The 38 abundances are consolidated to
the rocks' 17 mineral classes (corrections below), and scored by the mean per-rock squared
error, the RMS spectral error, precision / recall of class presence at 5 % and seconds per
spectrum.

Samson: abundance RMSE against the reference abundances with the reference endmembers
(fcls, net, hybrid) and with endmembers extracted from the scene (VCA, N-FINDR, matched to
the reference by minimum total spectral angle), and the FCLS time per pixel.

    python benchmarks/unmixing.py --threads 2

Data: $PHISM_DATA or ../shared/data relative to the project root.
"""

from __future__ import annotations

import sys

from early_threads import apply_from_argv

apply_from_argv(sys.argv[1:])

import argparse  # noqa: E402
import csv  # noqa: E402
import datetime as dt  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402
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
from scipy.optimize import linear_sum_assignment, nnls  # noqa: E402

from phism_cli.forward.mixing import LinearMixing  # noqa: E402
from phism_cli.inversion.endmembers import nfindr, vca  # noqa: E402
from phism_cli.inversion.synthesis import fcls_unmix  # noqa: E402
from phism_cli.inversion.unmixer import DEFAULT_ADAPT_STEPS, Unmixer  # noqa: E402
from phism_cli.io.dispersion_file import read_dispersion_file  # noqa: E402
from phism_cli.io.spectral_tables import SpectralTable, read_spectral_table  # noqa: E402
from phism_cli.pipeline.unmix import (  # noqa: E402
    build_mixing,
    spectra_weights,
    unmix_spectra,
)

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "unmixing.md"
FIRST_ROW = 104  # about 399 cm-1
AXIS_RANGE = (399.0, 2000.0)
PRESENCE = 0.05
# Endmember (kim_library_meta.csv sample_name) -> class, where the file's category is wrong;
# None: no class (its share counts as missing mineral).
CLASS_FIX = {"Obsidian": "obsidian", "Quartz": "quartz", "Quartz-slab": "quartz",
             "Blackbody": None}
REFERENCE = [
    {"method": "InfraRender authors' code: FCLS", "sq_error": 0.1135,
     "note": "0.1073 with the consolidation fixed"},
    {"method": "InfraRender authors' code: analysis-by-synthesis (30 epochs)",
     "sq_error": 0.1166, "note": "about 5 s per spectrum"},
]
SAMSON_NAMES = ["rock", "tree", "water"]


# -- Feely ----------------------------------------------------------------------------------
def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def feely_inputs(root: Path) -> dict:
    folder = root / "feely_tir"
    files = {
        "rocks": folder / "mtes_kimmurray_rocks_full_tab.txt",
        "rocks_meta": folder / "mtes_kimmurray_rocks_full_meta.csv",
        "library": folder / "kim_library_tab.txt",
        "library_names": folder / "kim_library_meta_full.csv",
        "library_classes": folder / "kim_library_meta.csv",
        "dispersion": folder / "feely_params.hdf",
    }
    for path in files.values():
        if not path.is_file():
            raise SystemExit(f"{path}: not found; set PHISM_DATA to the shared data folder")
    header, meta = read_csv(files["rocks_meta"])
    classes = header[2:]
    valid = np.array([row[1] == "valid_mixture" for row in meta])
    truth = np.array([[float(v) for v in row[2:]] for row in meta])[valid]
    _, lib_meta = read_csv(files["library_classes"])
    endmember_class = []
    for name, category in lib_meta:
        cls = CLASS_FIX.get(name, category)
        if cls is not None and cls not in classes:
            raise SystemExit(f"{files['library_classes']}: class {cls!r} of {name} is not one "
                             "of the rocks' classes")
        endmember_class.append(cls)
    membership = np.zeros((len(endmember_class), len(classes)))
    for e, cls in enumerate(endmember_class):
        if cls is not None:
            membership[e, classes.index(cls)] = 1.0
    return {"files": files, "classes": classes, "valid": valid, "truth": truth,
            "endmember_names": [row[0] for row in lib_meta],
            "endmember_class": endmember_class, "membership": membership}


def consolidate(abundances: np.ndarray, membership: np.ndarray,
                shade: int | None = None) -> np.ndarray:
    """Class sums divided by the total abundance (without the shade endmember's band, which
    then holds its share of the fit, not a material: `Unmixer`'s shade)."""
    counted = abundances if shade is None else np.delete(abundances, shade, axis=1)
    total = counted.sum(axis=1, keepdims=True)
    return (abundances @ membership) / np.where(total > 0, total, 1.0)


def feely_scores(abundances: np.ndarray, rms: np.ndarray, inputs: dict,
                 shade: int | None = None) -> dict:
    est = consolidate(abundances, inputs["membership"], shade)
    truth = inputs["truth"]
    sq = ((est - truth) ** 2).sum(axis=1)
    # Defaults are chosen on the even rocks (0, 2, ...) and reported on the odd ones too.
    even = np.arange(len(sq)) % 2 == 0
    present_est, present_true = est >= PRESENCE, truth >= PRESENCE
    tp = int((present_est & present_true).sum())
    fp = int((present_est & ~present_true).sum())
    fn = int((~present_est & present_true).sum())
    return {"sq_error": float(sq.mean()), "sq_error_median": float(np.median(sq)),
            "sq_error_even": float(sq[even].mean()), "sq_error_odd": float(sq[~even].mean()),
            "rms": float(np.mean(rms)),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "true_positives": tp, "false_positives": fp, "false_negatives": fn,
            "mean_active_endmembers": float((abundances > 1e-9).sum(axis=1).mean())}


def run_feely(args: argparse.Namespace, root: Path, log) -> dict:
    inputs = feely_inputs(root)
    f = inputs["files"]
    lib = read_spectral_table(f["library"], names_path=f["library_names"],
                              what="spectral library")
    rocks = read_spectral_table(f["rocks"], names_path=f["rocks_meta"], what="input spectra")
    minerals = read_dispersion_file(f["dispersion"])
    idx = np.flatnonzero(inputs["valid"])
    subset = SpectralTable(rocks.axis, rocks.axis_unit, [rocks.names[i] for i in idx],
                           rocks.spectra[idx], rocks.path)
    n = len(idx)
    setups, setup_seconds = {}, {}
    for form in ("rendered", "anchored"):
        start = time.perf_counter()
        setups[form] = build_mixing(lib, rocks.axis, rocks.axis_unit, "rocks", minerals,
                                    f["dispersion"], form=form, axis_range=AXIS_RANGE)
        setup_seconds[form] = time.perf_counter() - start
    base = {"epochs": 3, "steps": 3, "lr": 0.02, "net_steps": args.net_steps, "seed": 0,
            "sum_to_one": "strict"}
    more = {**base, "epochs": 10, "steps": 5, "lr": 0.05}
    scaled = {**base, "sum_to_one": "scaled"}
    shade = {**scaled, "shade": "Blackbody"}
    strict_shade = {**base, "shade": "Blackbody"}
    runs = [
        ("fcls", "fcls", "rendered", base,
         "classic FCLS (sum to one) on the dispersion model's rendered library spectra"),
        ("fcls, scaled", "fcls", "rendered", scaled, "NNLS, then divided by the sum"),
        ("fcls, strict, shade", "fcls", "rendered", strict_shade,
         "FCLS, minerals normalised without the blackbody"),
        ("fcls, scaled, shade", "fcls", "rendered", shade,
         "NNLS, minerals normalised without the blackbody"),
        ("abs", "abs", "rendered", base, "analysis-by-synthesis, epochs 3, steps 3, lr 0.02, "
         "strict"),
        ("abs, scaled", "abs", "rendered", scaled, "abs with NNLS solves"),
        ("abs, scaled, shade", "abs", "rendered", shade,
         "abs with NNLS solves, minerals normalised without the blackbody"),
        ("net", "net", "rendered", base, "inverse-rendering network, adapted to the rocks"),
        ("net, not adapted", "net", "rendered", {**base, "adapt_steps": 0},
         "the network as trained on rendered mixtures alone"),
        ("net, scaled, shade", "net", "rendered", shade,
         "network trained with brightness 0.5-2x, adapted"),
        ("net, scaled, shade, not adapted", "net", "rendered", {**shade, "adapt_steps": 0},
         "network trained with brightness 0.5-2x"),
        ("hybrid", "hybrid", "rendered", base, "network warm-starts abs (epochs 3, steps 3)"),
        ("hybrid, scaled, shade", "hybrid", "rendered", shade, "network warm-starts abs"),
        ("fcls, anchored", "fcls", "anchored", base,
         "FCLS on the measured library spectra (classic FCLS; missing bands dropped)"),
        ("fcls, anchored, scaled, shade", "fcls", "anchored", shade,
         "NNLS on the measured library spectra"),
        ("abs, anchored", "abs", "anchored", base,
         "abs with anchored endmembers (library + physics change)"),
        ("abs, anchored, scaled, shade", "abs", "anchored", shade,
         "anchored abs with NNLS solves, minerals normalised without the blackbody"),
        ("abs, more work", "abs", "rendered", more, "epochs 10, steps 5, lr 0.05"),
        ("abs, more work, scaled, shade", "abs", "rendered", {**more, **shade,
                                                              "epochs": 10, "steps": 5,
                                                              "lr": 0.05},
         "epochs 10, steps 5, lr 0.05"),
    ]
    # What `phism unmix` does: a network adapts to the spectra it unmixes.
    adapt_on = {form: spectra_weights(subset.spectra[:, setup.bands])
                for form, setup in setups.items()}
    rows = []
    for label, method, form, kw, note in runs:
        setup = setups[form]
        torch.manual_seed(0)
        start = time.perf_counter()
        unmixer = Unmixer(method, **kw).fit(setup.mixing, *adapt_on[form])
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        fit = unmix_spectra(unmixer, setup, subset)
        seconds = time.perf_counter() - start
        scores = feely_scores(fit.abundances.numpy(), fit.rms.numpy(), inputs,
                              unmixer.shade_index_)
        row = {"method": label, "unmixer": method, "form": form, "settings": kw, "note": note,
               "bands": int(setup.bands.sum()), **scores,
               "train_seconds": fit_seconds if unmixer.uses_network(setup.mixing) else None,
               "unmix_seconds": seconds, "seconds_per_spectrum": seconds / n}
        rows.append(row)
        log(f"Feely {label}: sq error {row['sq_error']:.4f} (even {row['sq_error_even']:.4f}, "
            f"odd {row['sq_error_odd']:.4f}), rms {row['rms']:.4g}, "
            f"{seconds / n:.4f} s/spectrum, fit {fit_seconds:.1f} s")

    # The authors' data handling: missing library / rock bands (zeros in the files) kept as
    # values, all rows from 104 on, plain FCLS on the measured library.
    lib_raw = np.loadtxt(f["library"])[FIRST_ROW:, 1:].T  # (38, C) with zeros
    rocks_raw = np.loadtxt(f["rocks"])[FIRST_ROW:, 1:].T[idx]  # (90, C) with zeros
    mixing = LinearMixing(torch.as_tensor(lib_raw), lib.names)
    start = time.perf_counter()
    fit = fcls_unmix(mixing.base_endmembers(), torch.as_tensor(rocks_raw, dtype=torch.float64))
    seconds = time.perf_counter() - start
    scores = feely_scores(fit.abundances.numpy(), fit.rms.numpy(), inputs)
    rows.append({"method": "fcls, zeros kept", "unmixer": "fcls", "form": "measured",
                 "settings": {}, "bands": int(lib_raw.shape[1]),
                 "note": "measured library, rows 104+ with the files' zeros kept as values "
                         "(the InfraRender authors' handling); rms includes those bands",
                 **scores, "train_seconds": None, "unmix_seconds": seconds,
                 "seconds_per_spectrum": seconds / n})
    log(f"Feely fcls, zeros kept: sq error {scores['sq_error']:.4f}")
    missing_lib = {name: int(np.sum(lib_raw[i] == 0)) for i, name in enumerate(lib.names)
                   if np.any(lib_raw[i] == 0)}
    return {"rocks": n, "classes": inputs["classes"],
            "endmember_class": dict(zip(inputs["endmember_names"], inputs["endmember_class"],
                                        strict=True)),
            "bands_used": int(setups["rendered"].bands.sum()),
            "bands_in_range": int(len(rocks.axis) - FIRST_ROW),
            "axis_cm1": [float(rocks.axis[FIRST_ROW]), float(rocks.axis[-1])],
            "library_zeros_rows_104_on": missing_lib,
            "rock_missing_values": int(np.isnan(subset.spectra[:, setups["rendered"].bands])
                                       .sum()),
            "setup_seconds": setup_seconds, "notes": setups["rendered"].notes,
            "results": rows, "reference": REFERENCE}


# -- Samson ---------------------------------------------------------------------------------
def sam_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spectral angle in degrees between rows of a (K, C) and b (L, C): (K, L)."""
    na = a / np.linalg.norm(a, axis=1, keepdims=True)
    nb = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.degrees(np.arccos(np.clip(na @ nb.T, -1.0, 1.0)))


def abundance_rmse(est: np.ndarray, ref: np.ndarray) -> dict:
    per = np.sqrt(((est - ref) ** 2).mean(axis=0))
    return {"rmse": float(np.sqrt(((est - ref) ** 2).mean())),
            "rmse_per_endmember": dict(zip(SAMSON_NAMES, per.tolist(), strict=True))}


def run_samson(args: argparse.Namespace, root: Path, log) -> dict:
    path = root / "samson" / "Samson.mat"
    if not path.is_file():
        raise SystemExit(f"{path}: not found; set PHISM_DATA to the shared data folder")
    mat = scipy.io.loadmat(path)
    cube, ref_a, ref_m = mat["SamSon"], mat["A"], mat["M"]  # (95,95,156) (95,95,3) (156,3)
    h, w, c = cube.shape
    pixels = cube.reshape(-1, c).astype(np.float64)
    reference = ref_a.reshape(-1, ref_a.shape[-1]).astype(np.float64)
    # Orientation check: least-squares endmembers from the reference abundances and the
    # pixels, against M (same reshape of cube and A: correlation ~1 for rock and tree).
    lsq = np.linalg.lstsq(reference, pixels, rcond=None)[0]  # (3, C)
    orientation = {
        "correlation_with_M": [float(np.corrcoef(lsq[i], ref_m[:, i])[0, 1])
                               for i in range(3)],
        "scale_pixels_over_M": [float(np.median(lsq[i] / ref_m[:, i])) for i in range(3)],
        "reconstruction_rms_A_M": float(np.sqrt(((pixels - reference @ ref_m.T) ** 2)
                                                .mean())),
    }
    wavelengths = np.linspace(401, 889, c)
    library = SpectralTable(wavelengths, "wavelength_nm", SAMSON_NAMES, ref_m.T)
    table = SpectralTable(wavelengths, "wavelength_nm", [f"px{i}" for i in range(len(pixels))],
                          pixels)
    setup = build_mixing(library, wavelengths, "wavelength_nm", "samson", minerals=None)
    rows = []
    for method, sum_to_one, adapt in (("fcls", "strict", 0), ("fcls", "scaled", 0),
                                      ("net", "strict", DEFAULT_ADAPT_STEPS),
                                      ("net", "strict", 0),
                                      ("net", "scaled", DEFAULT_ADAPT_STEPS),
                                      ("net", "scaled", 0), ("hybrid", "strict", 0)):
        torch.manual_seed(0)
        start = time.perf_counter()
        unmixer = Unmixer(method, epochs=3, steps=3, lr=0.02, net_steps=args.net_steps,
                          seed=0, sum_to_one=sum_to_one, adapt_steps=adapt)
        unmixer.fit(setup.mixing, pixels)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        fit = unmix_spectra(unmixer, setup, table)
        seconds = time.perf_counter() - start
        label = f"{method}, {sum_to_one}" + (", not adapted" if method == "net" and not adapt
                                              else "")
        row = {"method": label, "endmembers": "reference M",
               **abundance_rmse(fit.abundances.numpy(), reference),
               "rms": float(fit.rms.mean()), "sam_deg": 0.0,
               "train_seconds": fit_seconds if unmixer.uses_network(setup.mixing) else None,
               "unmix_seconds": seconds, "seconds_per_spectrum": seconds / len(pixels)}
        if method == "hybrid":
            row["note"] = ("no generated endmembers, so the abs steps have nothing to move: "
                           "hybrid returns FCLS (the network's start is not used)")
        rows.append(row)
        log(f"Samson {label}: RMSE {row['rmse']:.4f}, {seconds:.2f} s")
    # Diagnostic, not phism: non-negative least squares with M (no sum-to-one), abundances
    # then divided by their sum. This is how the reference A relates to M (see the note).
    start = time.perf_counter()
    free = np.array([nnls(ref_m, x)[0] for x in pixels])
    seconds = time.perf_counter() - start
    total = free.sum(axis=1, keepdims=True)
    scaled = free / np.where(total > 0, total, 1.0)
    fitted = free @ ref_m.T
    rows.append({"method": "nnls, then / sum (scipy, diagnostic)", "endmembers": "reference M",
                 **abundance_rmse(scaled, reference),
                 "rms": float(np.sqrt(((pixels - fitted) ** 2).mean(axis=1)).mean()),
                 "sam_deg": 0.0, "mean_abundance_sum": float(total.mean()),
                 "train_seconds": None, "unmix_seconds": seconds,
                 "seconds_per_spectrum": seconds / len(pixels)})
    log(f"Samson nnls: RMSE {rows[-1]['rmse']:.4f}")
    for name, extract in (("vca", vca), ("nfindr", nfindr)):
        start = time.perf_counter()
        spectra, indices = extract(pixels, 3, 0)
        extract_seconds = time.perf_counter() - start
        angles = sam_deg(spectra, ref_m.T)  # (extracted, reference)
        got, want = linear_sum_assignment(angles)
        order = np.empty(3, dtype=int)
        order[want] = got  # reference endmember j <- extracted order[j]
        start = time.perf_counter()
        fit = fcls_unmix(torch.as_tensor(spectra[order]),
                         torch.as_tensor(pixels, dtype=torch.float64))
        seconds = time.perf_counter() - start
        sams = angles[order, np.arange(3)]
        row = {"method": f"fcls, {name} endmembers", "endmembers": name,
               **abundance_rmse(fit.abundances.numpy(), reference),
               "rms": float(fit.rms.mean()), "sam_deg": float(sams.mean()),
               "sam_per_endmember": dict(zip(SAMSON_NAMES, sams.tolist(), strict=True)),
               "pixel_indices": [int(indices[j]) for j in order],
               "extract_seconds": extract_seconds, "train_seconds": None,
               "unmix_seconds": seconds, "seconds_per_spectrum": seconds / len(pixels)}
        rows.append(row)
        log(f"Samson {name}: SAM {row['sam_deg']:.2f} deg, RMSE {row['rmse']:.4f}")
    return {"shape": [h, w, c], "pixels": len(pixels), "orientation": orientation,
            "value_range": [float(pixels.min()), float(pixels.max())],
            "results": rows}


# -- report ---------------------------------------------------------------------------------
def markdown(report: dict) -> str:
    s = report["settings"]
    lines = [
        "# Unmixing: Feely lab mixtures and Samson",
        "",
        f"- Date: {report['date']}" + ("" if report.get("complete") else " (partial run)"),
        machine_line(report, s["threads"]),
        f"- Settings: Unmixer(epochs 3, steps 3, lr 0.02, net_steps {s['net_steps']}, seed 0, "
        f"adapt_steps {DEFAULT_ADAPT_STEPS}) unless the row says otherwise; device cpu. A "
        "network (net, hybrid) is adapted, self-supervised, to the spectra it then unmixes "
        "(as `phism unmix` does; no abundances are used); train s includes that.",
        "",
    ]
    feely = report.get("feely")
    if feely:
        lines += [
            "## Feely lab mixtures (thermal infrared)",
            "",
            f"{feely['rocks']} `valid_mixture` rocks; rows {FIRST_ROW}+ "
            f"({feely['axis_cm1'][0]:.1f}-{feely['axis_cm1'][1]:.1f} cm-1, "
            f"{feely['bands_in_range']} bands), of which {feely['bands_used']} are used where "
            "the library has values (missing library bands dropped; missing rock values, "
            f"{feely['rock_missing_values']} on the used bands, get weight 0). 38 endmembers, "
            "all generated by the dispersion model (`feely_params.hdf`). Abundances are "
            "consolidated to the 17 classes of the rocks' meta file by `kim_library_meta.csv`'s "
            "category, with Obsidian -> obsidian, Quartz and Quartz-slab -> quartz, Blackbody -> "
            "no class (counts as missing mineral); class sums are divided by the total "
            "abundance (without the blackbody's band in rows with `shade`, where that band "
            "holds the blackbody's share of the fit and the minerals sum to 1: the "
            "blackbody-normalised modes of thermal-infrared practice).",
            "",
            "- sq error: mean over rocks of sum over classes (estimated - true)^2 (lower is "
            "better); RMS: mean residual RMS of the fit (emissivity); precision / recall: "
            f"class presence at >= {PRESENCE:.0%}, pooled over rocks and classes; s / spectrum: "
            "unmixing wall time / 90 (network training separately); even / odd: the error on "
            "the rocks of even / odd index (defaults were chosen on the even ones); vs fcls: "
            "change of sq error against the classic FCLS row of the same run.",
            "",
            "| method | sq error | vs fcls | even | odd | median | RMS | precision | recall | "
            "s / spectrum | train s | note |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        baseline = feely["results"][0]["sq_error"]
        for r in feely["results"]:
            change = 100 * (r["sq_error"] / baseline - 1)
            lines.append(
                f"| {r['method']} | {fmt(r['sq_error'], 4)} | {change:+.1f} % | "
                f"{fmt(r['sq_error_even'], 4)} | {fmt(r['sq_error_odd'], 4)} | "
                f"{fmt(r['sq_error_median'], 4)} | "
                f"{fmt(r['rms'], 4)} | {fmt(r['precision'], 3)} | {fmt(r['recall'], 3)} | "
                f"{r['seconds_per_spectrum']:.2e} | {fmt(r['train_seconds'], 1)} | "
                f"{r['note']} |")
        for r in feely["reference"]:
            lines.append(f"| {r['method']} (reference, not measured here) | "
                         f"{fmt(r['sq_error'], 4)} | - | - | - | - | - | - | - | - | - | "
                         f"{r['note']} |")
        lines.append("")
    samson = report.get("samson")
    if samson:
        o = samson["orientation"]
        diag = [r for r in samson["results"] if r["method"].startswith("nnls")]
        nnls_rmse = f"{diag[0]['rmse']:.4f}" if diag else "-"
        nnls_sum = f"{diag[0]['mean_abundance_sum']:.2f}" if diag else "-"
        lines += [
            "## Samson (VNIR)",
            "",
            f"{samson['shape'][0]} x {samson['shape'][1]} pixels, {samson['shape'][2]} bands "
            "(401-889 nm, `np.linspace`); `SamSon` reshaped row-major to pixels, `A` "
            "(95 x 95 x 3) the same way (checked: endmembers fitted by least squares from the "
            "reference abundances correlate with `M` at "
            f"{', '.join(f'{v:.3f}' for v in o['correlation_with_M'])} for rock, tree, water; "
            "the transposed cube gives a worse fit).",
            "",
            "**The reference `M` is not on the pixels' scale.** Each column of `M` is scaled to "
            f"a maximum of 1; pixel values are {samson['value_range'][0]:.2f}-"
            f"{samson['value_range'][1]:.2f} and A @ M.T misses the pixels by RMS "
            f"{o['reconstruction_rms_A_M']:.3f}. The reference `A` is what non-negative least "
            "squares with `M` gives after dividing each pixel's abundances by their sum (the "
            f"`nnls` row: RMSE {nnls_rmse}; the unconstrained sums average "
            f"{nnls_sum}): the pixels are a per-pixel multiple of A @ M.T. Sum-to-one "
            "unmixing with `M` (fcls, net, hybrid) therefore cannot reproduce `A`; its RMSE "
            "measures that scale mismatch more than the solver. Endmembers extracted from the "
            "scene are on the pixels' scale.",
            "",
            "Abundance RMSE over all pixels and endmembers and per endmember; SAM: mean spectral "
            "angle of the endmembers used against `M` (extracted endmembers matched to `M` by "
            "the assignment of minimum total angle); RMS: mean residual of the fit.",
            "",
            "| method | endmembers | RMSE | rock | tree | water | endmember SAM deg | RMS | "
            "s / spectrum | train s |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in samson["results"]:
            per = r["rmse_per_endmember"]
            lines.append(
                f"| {r['method']} | {r['endmembers']} | {fmt(r['rmse'], 4)} | "
                f"{fmt(per['rock'], 4)} | {fmt(per['tree'], 4)} | {fmt(per['water'], 4)} | "
                f"{fmt(r['sam_deg'], 2)} | {fmt(r['rms'], 4)} | "
                f"{r['seconds_per_spectrum']:.2e} | {fmt(r['train_seconds'], 1)} |")
        lines.append("")
        lines.append("hybrid: Samson's endmembers are fixed spectra (nothing is generated), so "
                     "hybrid is FCLS here.")
        for r in samson["results"]:
            if "sam_per_endmember" in r:
                sam = r["sam_per_endmember"]
                lines.append(f"{r['endmembers']}: SAM rock {sam['rock']:.2f}, tree "
                             f"{sam['tree']:.2f}, water {sam['water']:.2f} deg (pixels "
                             f"{r['pixel_indices']}), extraction {r['extract_seconds']:.2f} s.")
        lines.append("")
    if "total_seconds" in report:
        lines.append(f"Total benchmark wall time: {report['total_seconds'] / 60:.1f} min.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--net-steps", type=int, default=3000)
    parser.add_argument("--datasets", nargs="+", choices=["feely", "samson"],
                        default=["feely", "samson"])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="markdown results file; a .json is written beside it")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()

    def log(text: str) -> None:
        print(f"{text} [{(time.perf_counter() - t0) / 60:.1f} min, load "
              f"{os.getloadavg()[0]:.2f}]", file=sys.stderr)

    root = data_root()
    report: dict = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"threads": args.threads, "net_steps": args.net_steps,
                     "datasets": args.datasets, "data_root": str(root)},
        "complete": False,
    }
    if "feely" in args.datasets:
        report["feely"] = run_feely(args, root, log)
        write_results(markdown(report), report, args.out)
    if "samson" in args.datasets:
        report["samson"] = run_samson(args, root, log)
    finish_report(report, t0, markdown, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
