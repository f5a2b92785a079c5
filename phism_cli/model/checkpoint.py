"""Encoder checkpoints: safetensors weights plus JSON metadata in the same file. No pickle.

Files are reproducible: identical fits give identical bytes (training time is reported by the
command, never stored), so a model's sha256 identifies what it computes.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from phism_cli import __version__
from phism_cli.errors import PhismError
from phism_cli.io.files import file_sha256
from phism_cli.model.encoder_file import (
    FORMAT,
    FORMAT_VERSION,
    META_KEY,
    fitted_source_bands,
    read_encoder_metadata,
)
from phism_cli.model.estimator import DECODERS, LR_SCHEDULES, PhismEncoder, TrainingSummary
from phism_cli.model.network import AMPLITUDE_MODES, PAPER_HIDDEN
from phism_cli.model.pca import PCA_DECODER, Encoder, PcaEncoder
from phism_cli.model.renderer import LinearRenderer, check_renderer_metadata

# Stored with the model: what it is and how it was trained, but nothing that changes from
# one identical run to the next (wall time).
_UNSTORED_TRAINING_FIELDS = ("seconds",)


def encoder_metadata(encoder: Encoder, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    training = encoder.training_
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "phism_version": __version__,
        "config": encoder.get_params(),
        "n_bands": encoder.n_bands_,
        "channel_names": encoder.channel_names_,
        "renderer": encoder.renderer_.to_metadata(),
        "training": {k: v for k, v in vars(training).items()
                     if k not in _UNSTORED_TRAINING_FIELDS},
        **({} if encoder.fwhm_nm_ is None else
           {"fwhm_nm": [float(v) for v in encoder.fwhm_nm_]}),
        **(extra or {}),
    }


def save_encoder(encoder: Encoder, path: str | Path,
                 extra: dict[str, Any] | None = None) -> None:
    """Write weights and band statistics as tensors, everything else as JSON metadata, with
    a checksum over both so any later damage to the file is refused at load. A PCA model's
    weights are its loadings, tensor `pca.components` (N, C)."""
    if isinstance(encoder, PcaEncoder):
        tensors = {"pca.components": torch.as_tensor(encoder.components_)}
    else:
        tensors = {f"model.{k}": v.detach().cpu().contiguous()
                   for k, v in encoder.model_.state_dict().items()}
    tensors["band_mean"] = torch.as_tensor(encoder.scaler_.mean_)
    tensors["band_scale"] = torch.as_tensor(encoder.scaler_.scale_)
    meta = json.loads(json.dumps(encoder_metadata(encoder, extra)))
    meta["checksum"] = encoder_checksum(tensors, meta)
    save_file(tensors, str(path), metadata={META_KEY: json.dumps(meta)})


def encoder_checksum(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> str:
    """sha256 over every tensor (name, type, shape, bytes) and the metadata but its checksum."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(f"{name}|{tensor.dtype}|{list(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    digest.update(json.dumps({k: v for k, v in meta.items() if k != "checksum"},
                             sort_keys=True).encode())
    return digest.hexdigest()


def load_encoder(path: str | Path) -> tuple[Encoder, dict[str, Any]]:
    """Rebuild a fitted `PhismEncoder` (or `PcaEncoder`); returns it with its metadata
    (sha256 included).

    The file is checked before torch reads it: a whole container, a usable configuration,
    every expected tensor with its expected shape, finite weights and band statistics.
    """
    path = Path(path)
    meta = read_encoder_metadata(path)
    where = f"{path}"
    config = _checked_config(meta.get("config"), where)
    n_bands = meta.get("n_bands")
    if not isinstance(n_bands, int) or isinstance(n_bands, bool) or not 1 <= n_bands <= 100_000:
        raise PhismError(f"{where}: model field n_bands is {n_bands!r}, not a band count; the "
                         "file is damaged, fit it again")
    renderer = meta.get("renderer")
    check_renderer_metadata(renderer, where)
    if len(renderer["axis_positions"]) != n_bands:
        raise PhismError(f"{where}: the renderer has {len(renderer['axis_positions'])} bands "
                         f"but the model {n_bands}; the file is damaged, fit it again")
    encoder: Encoder
    try:
        if config.get("decoder") == PCA_DECODER:
            encoder = _pca_from_metadata(config, renderer)
        else:
            encoder = PhismEncoder(**config)
            wavelength_nm = (np.asarray(renderer["axis_positions"])
                             if renderer["axis_unit"] == "nm" else None)
            encoder._build(n_bands, wavelength_nm)
        encoder._set_fwhm(meta.get("fwhm_nm"), n_bands)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise PhismError(f"{where}: the model's configuration cannot be built "
                         f"({' '.join(str(exc).split())[:160]}); the file is damaged") from None
    _check_tensor_layout(meta["tensors"], encoder, n_bands, where)
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise PhismError(f"{where}: cannot read the model's tensors ({exc}); the file is "
                         "damaged, fit it again") from None
    stored = meta.pop("checksum", None)
    meta.pop("tensors")
    if stored is not None and stored != encoder_checksum(tensors, meta):
        raise PhismError(f"{where}: its checksum does not match its contents; the file is "
                         "damaged, fit or copy it again")
    for name, tensor in tensors.items():
        if not bool(torch.isfinite(tensor).all()):
            raise PhismError(f"{where}: tensor {name!r} holds NaN or infinite values; the model "
                             "is unusable, fit it again")
    if not bool((tensors["band_scale"] > 0).all()):
        raise PhismError(f"{where}: band_scale must be positive for every band; the model is "
                         "unusable, fit it again")
    if isinstance(encoder, PcaEncoder):
        _set_pca_tensors(encoder, tensors, where)
        return _with_training(encoder, meta, path)
    state = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    encoder.model_.load_state_dict(state)
    encoder.model_.eval()
    from phism_cli.model.preprocessing import BandScaler

    encoder.scaler_ = BandScaler(config.get("scaling", "global"))
    encoder.scaler_.mean_ = tensors["band_mean"].numpy()
    encoder.scaler_.scale_ = tensors["band_scale"].numpy()
    encoder._set_reference()
    return _with_training(encoder, meta, path)


def _with_training(encoder: Encoder, meta: dict[str, Any],
                   path: Path) -> tuple[Encoder, dict[str, Any]]:
    """The loaded encoder with its training summary, and its metadata with the file's sha256."""
    training = meta.get("training")
    training = {k: v for k, v in (training if isinstance(training, dict) else {}).items()
                if k in TrainingSummary.__dataclass_fields__}
    try:
        encoder.training_ = TrainingSummary(**training)
    except TypeError:
        encoder.training_ = TrainingSummary()
    meta["sha256"] = file_sha256(path)
    encoder.source_bands_ = fitted_source_bands(meta, encoder.n_bands_)
    return encoder, meta


def _pca_from_metadata(config: dict[str, Any], renderer: dict[str, Any]) -> PcaEncoder:
    """A PCA model as its renderer metadata describes it; `_set_pca_tensors` then puts in
    the tensors, which must say the same."""
    if renderer.get("decoder") != PCA_DECODER:
        raise ValueError(f"a PCA model with a {renderer.get('decoder', 'basis')!r} renderer")
    encoder = PcaEncoder.from_params(config)
    linear = LinearRenderer.from_metadata(renderer)
    encoder._set_fitted(linear.loadings, linear.band_mean, linear.band_scale, linear.axis)
    return encoder


def _set_pca_tensors(encoder: PcaEncoder, tensors: dict[str, torch.Tensor], where: str) -> None:
    components = tensors["pca.components"].numpy()
    if not np.array_equal(components, encoder.components_):
        raise PhismError(f"{where}: tensor 'pca.components' differs from the loadings in its "
                         "metadata; the file is damaged or was edited, fit it again")
    encoder._set_fitted(components, tensors["band_mean"].numpy(),
                        tensors["band_scale"].numpy(), encoder.axis_)


_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "n_components": (int,), "basis": (str,), "fixed": (bool,), "hidden": (list,),
    "batch_norm": (bool,), "epochs": (int,), "patience": (int,), "lr": (int, float),
    "weight_decay": (int, float), "batch_size": (int,), "val_fraction": (int, float),
    "huber_delta": (int, float), "scaling": (str,), "seed": (int,), "device": (str,),
    "basis_config": (dict,), "decoder": (str,), "latent_dim": (int, type(None)),
    "amplitudes": (str,), "brightness": (bool,), "lr_schedule": (str,),
    "max_steps": (int, type(None)),
}
# Models written before a setting existed computed what these values compute.
_CONFIG_BEFORE = {"amplitudes": "encoder", "brightness": False, "lr_schedule": "constant",
                  "max_steps": None, "hidden": list(PAPER_HIDDEN)}


def _checked_config(config: Any, where: str) -> dict[str, Any]:
    """The estimator's settings, each of the expected type and range."""
    if not isinstance(config, dict):
        raise PhismError(f"{where}: the model has no configuration; the file is damaged")
    checked = {}
    for key, value in config.items():
        if key not in _CONFIG_TYPES:
            continue  # a setting this phism does not know changes nothing it computes
        types = _CONFIG_TYPES[key]
        wrong_type = not isinstance(value, types) or (
            isinstance(value, bool) and bool not in types)
        bad = wrong_type or (isinstance(value, float) and not math.isfinite(value))
        if key == "hidden" and not bad:
            bad = not value or len(value) > 16 or not all(
                isinstance(h, int) and not isinstance(h, bool) and 1 <= h <= 65536
                for h in value)
        if key in ("n_components", "latent_dim") and not bad and value is not None:
            bad = not 1 <= value <= 4096
        if key == "decoder" and not bad:
            bad = value not in (*DECODERS, PCA_DECODER)
        if key == "scaling" and not bad:
            bad = value not in ("global", "band")
        if key == "amplitudes" and not bad:
            bad = value not in AMPLITUDE_MODES
        if key == "max_steps" and not bad and value is not None:
            bad = value < 1
        if key == "lr_schedule" and not bad:
            bad = value not in LR_SCHEDULES
        if bad:
            raise PhismError(f"{where}: model setting {key} = {value!r} is invalid; the file "
                             "is damaged, fit it again")
        checked[key] = value
    return _CONFIG_BEFORE | checked


def _check_tensor_layout(described: dict[str, Any], encoder: Encoder, n_bands: int,
                         where: str) -> None:
    """Every tensor the model needs, with its shape, and nothing else."""
    if isinstance(encoder, PcaEncoder):
        expected = {"pca.components": [encoder.n_components_, n_bands]}
    else:
        expected = {f"model.{k}": list(v.shape) for k, v in encoder.model_.state_dict().items()}
    expected |= {"band_mean": [n_bands], "band_scale": [n_bands]}
    found = {name: entry.get("shape") for name, entry in described.items()}
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        what = f"lacks {missing[0]!r}" if missing else f"has an unexpected {extra[0]!r}"
        raise PhismError(f"{where}: the model {what} ({len(missing)} missing, {len(extra)} "
                         "unexpected tensors) for its configuration; the file is damaged or "
                         "was edited, fit it again")
    for name, shape in expected.items():
        if found[name] != shape:
            raise PhismError(f"{where}: tensor {name!r} has shape {found[name]} but the "
                             f"configuration needs {shape}; the file is damaged, fit it again")
    for name, entry in described.items():
        if name.startswith("model.num_batches_tracked") or name.endswith("num_batches_tracked"):
            continue
        if entry.get("dtype") != "F32":
            raise PhismError(f"{where}: tensor {name!r} is {entry.get('dtype')}, not float32; "
                             "the file is damaged, fit it again")
