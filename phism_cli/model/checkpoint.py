"""Encoder checkpoints: safetensors weights plus JSON metadata in the same file. No pickle."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from phism_cli import __version__
from phism_cli.errors import PhismError, check_file_format
from phism_cli.model.estimator import PhismEncoder, TrainingSummary

FORMAT = "phism-encoder"
FORMAT_VERSION = 2  # 2: config may name an MLP decoder (conventional autoencoder)
_META_KEY = "phism"


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def encoder_metadata(encoder: PhismEncoder, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    training = encoder.training_
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "phism_version": __version__,
        "config": encoder.get_params(),
        "n_bands": encoder.n_bands_,
        "channel_names": encoder.channel_names_,
        "renderer": encoder.renderer_.to_metadata(),
        "training": {k: v for k, v in vars(training).items() if k != "history"}
        | {"history": training.history},
        **(extra or {}),
    }


def save_encoder(encoder: PhismEncoder, path: str | Path,
                 extra: dict[str, Any] | None = None) -> None:
    """Write weights and band statistics as tensors, everything else as JSON metadata."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous()
               for k, v in encoder.model_.state_dict().items()}
    tensors["band_mean"] = torch.as_tensor(encoder.scaler_.mean_)
    tensors["band_scale"] = torch.as_tensor(encoder.scaler_.scale_)
    meta = encoder_metadata(encoder, extra)
    save_file(tensors, str(path), metadata={_META_KEY: json.dumps(meta)})


def read_encoder_metadata(path: str | Path) -> dict[str, Any]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            raw = (fh.metadata() or {}).get(_META_KEY)
    except (SafetensorError, OSError) as exc:
        raise PhismError(f"{path}: not a phism encoder (safetensors: {exc})") from None
    if raw is None:
        raise PhismError(f"{path}: safetensors file without phism metadata; "
                         "was it written by 'phism fit-encoder'?")
    meta = json.loads(raw)
    check_file_format(meta, path, FORMAT, FORMAT_VERSION, "encoder")
    return meta


def load_encoder(path: str | Path) -> tuple[PhismEncoder, dict[str, Any]]:
    """Rebuild a fitted `PhismEncoder`; returns it with its metadata (sha256 included)."""
    path = Path(path)
    if not path.is_file():
        raise PhismError(f"{path}: no such model file")
    meta = read_encoder_metadata(path)
    tensors = load_file(str(path))
    config = dict(meta["config"])
    encoder = PhismEncoder(**config)
    renderer = meta["renderer"]
    wavelength_nm = (np.asarray(renderer["axis_positions"])
                     if renderer["axis_unit"] == "nm" else None)
    encoder._build(int(meta["n_bands"]), wavelength_nm)
    state = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    encoder.model_.load_state_dict(state)
    encoder.model_.eval()
    from phism_cli.model.preprocessing import BandScaler

    encoder.scaler_ = BandScaler(config.get("scaling", "global"))
    encoder.scaler_.mean_ = tensors["band_mean"].numpy()
    encoder.scaler_.scale_ = tensors["band_scale"].numpy()
    training = {k: v for k, v in meta.get("training", {}).items()
                if k in TrainingSummary.__dataclass_fields__}
    encoder.training_ = TrainingSummary(**training)
    meta["sha256"] = file_sha256(path)
    return encoder, meta
