"""`phism info MODEL` and `phism info HEAD`: what an encoder from fit-encoder and a head from
train-head are, read from their metadata alone (no torch, no XGBoost), recognised by content;
damaged files are refused with one line."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

from tests.cli.kit import BANDS, WAVELENGTHS, run

DROPPED = [3, 4, 9]  # --bad-bands given to fit-encoder
USED = [b for b in range(1, BANDS + 1) if b not in DROPPED]
VALID_PIXELS = 62  # the kit scene's 64 pixels but its two nodata pixels


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def fitted(kit, tmp_path_factory) -> dict[str, Path]:
    """Through the real command line: an encoder fitted on the kit scene without bands 3-4,9,
    a PCA model, the latents of the first, a head on them and a head on the raw spectra."""
    folder = tmp_path_factory.mktemp("model_info")
    made = {name: folder / name for name in
            ("model.safetensors", "pca.safetensors", "latents.zarr", "head.ubj", "raw.json")}
    assert run("fit-encoder", kit.header, "-o", made["model.safetensors"], "-k", "2",
               "--epochs", "2", "--bad-bands", "3-4,9", "--threads", "2", "-q") == 0
    assert run("fit-encoder", kit.header, "-o", made["pca.safetensors"], "-k", "3",
               "--basis", "pca", "--threads", "2", "-q") == 0
    assert run("encode", kit.header, "-o", made["latents.zarr"], "-m",
               made["model.safetensors"], "--bad-bands", "3-4,9", "--threads", "2",
               "-q") == 0
    assert run("train-head", made["latents.zarr"], "--labels", kit.labels, "-o",
               made["head.ubj"], "--n-estimators", "3", "--threads", "2", "-q") == 0
    assert run("train-head", kit.header, "--labels", kit.labels, "-o", made["raw.json"],
               "--n-estimators", "2", "--threads", "2", "-q") == 0
    return made


def summary_of(cli, path: Path) -> dict:
    result = cli("info", path, "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_encoder_summary(cli, kit, fitted):
    path = fitted["model.safetensors"]
    s = summary_of(cli, path)
    scene = summary_of(cli, kit.header)
    assert s["kind"] == "encoder" and s["path"] == str(path)
    assert s["sha256"] == sha256(path) and s["size_bytes"] == path.stat().st_size
    assert (s["decoder"], s["basis"], s["components"], s["brightness"]) == \
        ("basis", "skewnormal", 2, True)
    assert s["channels"][-1] == "brightness" and len(s["channels"]) == 2 * 4 + 1
    assert s["source_bands"] == scene["bands"] == BANDS
    assert s["bands"] == len(USED) and s["bands_used"] == USED and s["bands_dropped"] == DROPPED
    wavelengths = np.asarray(scene["wavelength_nm"])[np.asarray(USED) - 1]
    assert s["wavelength_range_nm"] == pytest.approx([wavelengths.min(), wavelengths.max()],
                                                     abs=0.01)
    assert s["format_version"] == 3 and s["checksum"] is True
    t = s["training"]
    assert t["pixels"] == VALID_PIXELS == t["train_pixels"] + t["val_pixels"]
    assert t["epochs"] == 2 and t["max_epochs"] == 2 and 1 <= t["best_epoch"] <= 2
    assert math.isfinite(t["val_psnr_db"]) and t["val_psnr_db"] > 0 and t["val_loss"] > 0
    assert t["scenes"] == [str(kit.header)]

    text = cli("info", path)
    assert text.code == 0 and text.err == ""
    lines = text.out.splitlines()
    assert lines[0] == f"path:        {path} (phism encoder, format 3, phism " \
        f"{s['phism_version']})"
    assert "model:       PhISM, skew-normal basis, 2 components, brightness on" in text.out
    bands = f"bands:       9 bands, {wavelengths.min():.2f}-{wavelengths.max():.2f} nm"
    fwhm = s["fwhm_range_nm"]  # the FWHM the model was fitted at, where the scene gave it
    assert (f"{bands}, fwhm {fwhm[0]:.2f}" if fwhm else bands) in "\n".join(lines)
    assert "bands used:  1-2,5-8,10-12 of 12 in the file (dropped: 3-4,9)" in lines
    assert f"sha256:      {sha256(path)}" in lines
    assert all(line[:13].rstrip().endswith(":") for line in lines)


def test_pca_summary(cli, fitted):
    s = summary_of(cli, fitted["pca.safetensors"])
    assert (s["decoder"], s["basis"], s["components"]) == ("pca", None, 3)
    assert s["channels"] == ["pc0", "pc1", "pc2"]
    assert s["bands"] == BANDS and s["bands_dropped"] == []
    assert s["wavelength_range_nm"] == pytest.approx([WAVELENGTHS[0], WAVELENGTHS[-1]])
    assert s["training"]["epochs"] == 0
    out = cli("info", fitted["pca.safetensors"]).out
    assert "PCA (principal components), 3 components" in out and "closed form" in out


def label_classes(kit) -> list[int]:
    with rasterio.open(kit.labels) as ds:
        labels = ds.read(1)
    return [int(v) for v in np.unique(labels[labels != ds.nodata])]


def test_head_summary(cli, kit, fitted):
    path, model = fitted["head.ubj"], fitted["model.safetensors"]
    s = summary_of(cli, path)
    encoder = summary_of(cli, model)
    assert s["kind"] == "head" and s["path"] == str(path) and s["file_format"] == "ubj"
    assert s["sha256"] == sha256(path) and s["size_bytes"] == path.stat().st_size
    assert s["task"] == "classification" and s["targets"] is None
    classes = label_classes(kit)
    assert [c["value"] for c in s["classes"]] == classes
    assert [c["name"] for c in s["classes"]] == [f"class_{v}" for v in classes]
    f = s["features"]
    assert f["kind"] == "latent" and f["count"] == len(encoder["channels"])
    assert f["names"] == encoder["channels"]
    assert f["encoder_sha256"] == sha256(model) == encoder["sha256"]
    m = s["metrics"]
    assert 0 <= m["oa"] <= 1 and 0 <= m["aa"] <= 1 and -1 <= m["kappa"] <= 1
    assert m["n_test"] + s["training"]["n_train"] == VALID_PIXELS
    assert sum(s["training"]["n_train_per_class"].values()) == s["training"]["n_train"]
    assert s["split"] == {"method": "random", "train_fraction": 0.8, "seed": 0}
    assert s["n_estimators"] == 3 and s["trees"] == 3 * len(classes)

    text = cli("info", path)
    assert text.code == 0 and text.err == ""
    lines = text.out.splitlines()
    assert lines[0].startswith(f"path:        {path} (phism head, UBJ, format 1")
    assert "task:        classification: XGBoost gradient-boosted trees, 3 boosting rounds, " \
        "9 trees in all" in lines
    assert "classes:     3 classes: 1 class_1, 2 class_2, 3 class_3" in lines
    assert f"encoder:     {sha256(model)} ({model})" in lines
    assert f"held out:    OA {m['oa']:.3f}, AA {m['aa']:.3f}, kappa {m['kappa']:.3f} on " \
        f"{m['n_test']} pixels" in lines
    assert f"sha256:      {sha256(path)}" in lines


def test_raw_spectra_head(cli, kit, fitted):
    s = summary_of(cli, fitted["raw.json"])
    f = s["features"]
    assert s["file_format"] == "json" and f["kind"] == "spectra" and f["count"] == BANDS
    assert f["wavelength_range_nm"] == pytest.approx([WAVELENGTHS[0], WAVELENGTHS[-1]],
                                                     abs=0.01)
    assert f["source_bands"] == list(range(1, BANDS + 1)) and "encoder_sha256" not in f
    assert [c["value"] for c in s["classes"]] == label_classes(kit)
    assert "features:    12 raw bands, 420.00-980.00 nm (bands 1-12 of the file)" in \
        cli("info", fitted["raw.json"]).out


def test_recognised_by_content(cli, kit, tmp_path):
    """Renamed files are still told apart by what they hold."""
    model = kit.copy("model.safetensors", tmp_path, "weights.bin")
    head = kit.copy("head.json", tmp_path, "trees.dat")
    assert summary_of(cli, model)["kind"] == "encoder"
    assert summary_of(cli, head)["kind"] == "head"
    assert summary_of(cli, kit.head)["features"]["encoder_sha256"] == sha256(kit.model)


def one_line_error(cli, path: Path) -> str:
    result = cli("info", path)
    assert result.code != 0 and result.out == ""
    assert "Traceback" not in result.err and len(result.err.strip().splitlines()) == 1
    return result.err


def test_truncated_encoder(cli, fitted, tmp_path):
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(fitted["model.safetensors"].read_bytes()[:3000])
    assert "not a complete phism encoder" in one_line_error(cli, cut)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    assert "too short for a safetensors file" in one_line_error(cli, empty)


def test_corrupted_head(cli, kit, tmp_path):
    raw = kit.head_json.read_bytes()
    broken = tmp_path / "broken.json"
    broken.write_bytes(raw[:200] + b"}}{{" + raw[204:])
    assert "not a usable phism head" in one_line_error(cli, broken)
    cut = tmp_path / "cut.ubj"
    cut.write_bytes(kit.head.read_bytes()[:4000])
    assert "not a usable phism head" in one_line_error(cli, cut)


def test_wrong_metadata(cli, fitted, tmp_path):
    other = tmp_path / "other.safetensors"
    other.write_bytes(fitted["pca.safetensors"].read_bytes().replace(b"phism-encoder",
                                                                     b"phism-encodeX"))
    assert "not a phism encoder" in one_line_error(cli, other)


def test_other_files_fall_through(cli, tmp_path):
    notes = tmp_path / "notes.bin"
    notes.write_bytes(b'{"learn": 1}\n')
    assert "not a readable raster" in one_line_error(cli, notes)


@pytest.mark.parametrize("name", ["model.safetensors", "head.ubj", "head.json"])
def test_no_torch_or_xgboost(kit, name):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "phism_cli", "info",
                           str(kit.root / name)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert not {m for m in imported if m.split(".")[0] in ("torch", "xgboost")}
    assert proc.stdout.startswith(f"path:        {kit.root / name}")
