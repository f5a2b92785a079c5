"""Encoder and head files described for `phism info MODEL` / `phism info HEAD`: what the model
is, what it expects and how it was trained, read from the files' own metadata with phism's
header readers (no torch, no XGBoost), so a damaged file is refused with their one sentence.

`model_file_kind` tells the two apart by content, not by name: a safetensors container (an
8-byte header length, then a JSON object) is an encoder, an XGBoost model (JSON or UBJSON
whose first key is `learner`) a head."""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any

from phism_cli.heads.headfile import read_head
from phism_cli.model.encoder_file import fitted_source_bands, read_encoder_metadata

__all__ = ["model_file_kind", "summarise_encoder", "summarise_head"]

_SNIFF_BYTES = 4096
_BY_SUFFIX = {".safetensors": "encoder", ".ubj": "head"}
_BASIS_LABELS = {"skewnormal": "skew-normal", "gaussian": "Gaussian"}


def model_file_kind(path: Path) -> str | None:
    """"encoder" or "head" for a file that looks like one (damaged or not), else None."""
    try:
        if not path.is_file():
            return None
        with open(path, "rb") as fh:
            start = fh.read(_SNIFF_BYTES)
    except OSError:
        return None
    if len(start) >= 10 and start[8:9] == b"{" and start[9:10] in b'"} \t\r\n':
        (header_bytes,) = struct.unpack("<Q", start[:8])
        if 2 <= header_bytes <= 100 * 1024 * 1024:
            return "encoder"
    if start.lstrip()[:1] == b"{" and b"learner" in start[:64]:
        return "head"
    # content that says nothing (empty, cut short): the name decides, as no scene reader
    # takes these suffixes, so the reader's sentence says what is wrong with the file
    return _BY_SUFFIX.get(path.suffix.lower())


def _number(value: Any) -> float | None:
    """A finite number, else None (metadata is shown, never trusted)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _table(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _band_numbers(values: Any) -> list[int] | None:
    """1-based band numbers, or None when they are not that."""
    if not isinstance(values, list) or not all(_whole(b) is not None and b >= 1
                                               for b in values):
        return None
    return values


def _range(values: Any) -> list[float] | None:
    numbers = [_number(v) for v in values] if isinstance(values, list) else []
    if not numbers or None in numbers:
        return None
    return [float(min(numbers)), float(max(numbers))]


def _file_facts(path: Path) -> dict[str, Any]:
    from phism_cli.io.files import file_sha256

    return {"path": str(path), "sha256": file_sha256(path), "size_bytes": path.stat().st_size}


def summarise_encoder(path: str | Path) -> dict[str, Any]:
    """Everything `phism info MODEL` shows, JSON-ready; a damaged file raises PhismError."""
    path = Path(path)
    meta = read_encoder_metadata(path)
    config, renderer = _table(meta.get("config")), _table(meta.get("renderer"))
    decoder = renderer.get("decoder", config.get("decoder", "basis"))
    basis = renderer.get("basis", config.get("basis")) if decoder == "basis" else None
    if decoder == "pca":
        label, components = "PCA (principal components)", renderer.get("n_components")
    elif decoder == "mlp":
        label, components = "learned MLP decoder", renderer.get("latent_dim")
    else:
        label = f"PhISM, {_BASIS_LABELS.get(str(basis), str(basis))} basis"
        components = renderer.get("n_components", config.get("n_components"))
    n_bands = _whole(meta.get("n_bands"))
    unit = renderer.get("axis_unit")
    axis_range = _range(renderer.get("axis_positions"))
    used = fitted_source_bands(meta, n_bands)
    source_bands = _whole(meta.get("source_bands"))
    dropped = None if used is None or source_bands is None else \
        sorted(set(range(1, source_bands + 1)) - set(used))
    training = _table(meta.get("training"))
    train_pixels, val_pixels = _whole(training.get("train_pixels")), \
        _whole(training.get("val_pixels"))
    return {
        "kind": "encoder", **_file_facts(path),
        "format": meta.get("format"), "format_version": meta.get("format_version"),
        "phism_version": meta.get("phism_version"),
        "model": label, "decoder": decoder, "basis": basis, "components": _whole(components),
        "brightness": bool(renderer.get("brightness", config.get("brightness", False))),
        "amplitudes": config.get("amplitudes"), "scaling": config.get("scaling"),
        "hidden": config.get("hidden"),
        "channels": _strings(meta.get("channel_names")),
        "bands": n_bands, "axis_unit": unit,
        "wavelength_range_nm": axis_range if unit == "nm" else None,
        "axis_range": axis_range,
        "fwhm_range_nm": _range(meta.get("fwhm_nm")),
        "source_bands": source_bands, "bands_used": used, "bands_dropped": dropped,
        "training": {
            "scenes": _strings(meta.get("scenes")),
            "pixels": None if train_pixels is None or val_pixels is None
            else train_pixels + val_pixels,
            "train_pixels": train_pixels, "val_pixels": val_pixels,
            "epochs": _whole(training.get("epochs")),
            "best_epoch": _whole(training.get("best_epoch")),
            "max_epochs": _whole(config.get("epochs")),
            "stopped_early": training.get("stopped_early"),
            "val_loss": _number(training.get("val_loss")),
            "val_psnr_db": _number(training.get("val_psnr_db")),
            "seconds": _number(training.get("seconds")),
            "seed": config.get("seed"),
        },
        "checksum": meta.get("checksum") is not None,
    }


def _features(meta: dict[str, Any], n_features: int) -> dict[str, Any]:
    described = _table(meta.get("features"))
    kind = described.get("kind")
    features: dict[str, Any] = {"kind": kind, "count": n_features,
                                "names": _strings(meta.get("feature_names"))}
    if kind == "latent":
        features |= {"encoder_sha256": described.get("model_sha256"),
                     "encoder_path": described.get("model_path")}
    elif kind == "spectra":
        wavelengths = described.get("wavelength_nm")
        features |= {"wavelength_nm": wavelengths if isinstance(wavelengths, list) else None,
                     "wavelength_range_nm": _range(wavelengths),
                     "source_bands": _band_numbers(described.get("source_bands")),
                     "keep_bad_bands": described.get("keep_bad_bands")}
    return features


def summarise_head(path: str | Path) -> dict[str, Any]:
    """Everything `phism info HEAD` shows, JSON-ready; a damaged file raises PhismError."""
    path = Path(path)
    raw, meta, sizes = read_head(path)
    task = meta["task"]
    params = _table(meta.get("params"))
    training = _table(meta.get("training"))
    summary: dict[str, Any] = {
        "kind": "head", **_file_facts(path),
        "file_format": "json" if raw.lstrip()[:2] in (b'{"', b"{\n", b"{ ", b"{\r")
        else "ubj",
        "format": meta.get("format"), "format_version": meta.get("format_version"),
        "phism_version": meta.get("phism_version"), "task": task,
        "classes": None, "targets": None,
        "features": _features(meta, sizes["features"]),
        "metrics": {k: v for k, v in _table(meta.get("metrics")).items() if v is not None},
        "split": _table(meta.get("split")),
        "ignore_label": meta.get("ignore_label"),
        "training": {"n_train": _whole(training.get("n_train")),
                     "n_train_per_class": training.get("n_train_per_class")
                     if isinstance(training.get("n_train_per_class"), dict) else None,
                     "features": _strings(training.get("features")),
                     "labels": _strings(training.get("labels")),
                     "fields": _strings(training.get("fields"))},
        "trees": sizes["trees"], "n_estimators": params.get("n_estimators"),
        "model": "XGBoost gradient-boosted trees" if task == "classification"
        else "XGBoost random forest",
        "params": params,
        "checksum": meta.get("checksum") is not None,
    }
    if task == "classification":
        listed = meta.get("classes")
        names = {c.get("value"): c.get("name") for c in
                 (listed if isinstance(listed, list) else []) if isinstance(c, dict)}
        summary["classes"] = [{"value": v, "name": names.get(v, f"class_{v}")}
                              for v in meta["class_values"]]
    else:
        summary["targets"] = _strings(meta.get("targets")) or \
            [f"target_{i}" for i in range(sizes["targets"])]
    return summary
