"""Heads on per-pixel features: an XGBoost classifier and a random-forest regressor (XGBoost's
random-forest mode), scikit-learn style.

A head file is XGBoost's own model format (UBJSON for `.ubj`, JSON for `.json`; any XGBoost
reads it) with phism's metadata as a JSON string in the booster attribute `phism`. No pickle.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from phism_cli import __version__
from phism_cli.errors import PhismError
from phism_cli.heads.headfile import (
    ATTRIBUTE,
    HEAD_FORMAT,
    HEAD_FORMAT_VERSION,
    HEAD_SUFFIXES,
    head_checksum,
    parse_head_bytes,
    read_head,
)

__all__ = ["HEAD_FORMAT", "HEAD_FORMAT_VERSION", "HEAD_SUFFIXES", "ClassifierHead",
           "Head", "RegressorHead", "load_head", "xgboost_device"]


def _cuda_visible() -> bool:
    if not xgb.build_info().get("USE_CUDA"):
        return False
    import torch  # only XGBoost builds with CUDA get here

    return torch.cuda.is_available()


def xgboost_device(device: str) -> str:
    """phism's --device (auto, cpu, cuda, cuda:N) as XGBoost's device string."""
    if device != "cpu" and device != "auto" and not device.startswith("cuda"):
        raise PhismError(f"--device {device!r}: use auto, cpu, cuda or cuda:N")
    if device == "cpu":
        return device
    if device == "auto":
        return "cuda" if _cuda_visible() and xgboost_has_cuda() else "cpu"
    if not _cuda_visible():
        raise PhismError("--device cuda was asked for but no CUDA device is visible; use "
                         "--device cpu or auto")
    if not xgboost_has_cuda():
        raise PhismError("--device cuda: this XGBoost is the CPU-only build (xgboost-cpu, "
                         "phism's default); for heads on the GPU replace it with the CUDA "
                         "build (pip uninstall -y xgboost-cpu && pip install xgboost), or use "
                         "--device cpu")
    return device


def xgboost_has_cuda() -> bool:
    """True when the installed XGBoost was built with CUDA (PyPI's `xgboost` on Linux; not
    `xgboost-cpu`)."""
    import xgboost

    return bool(xgboost.build_info().get("USE_CUDA", False))


class _XGBoostHead:
    booster_: xgb.Booster
    n_features_in_: int

    def _dmatrix(self, features: np.ndarray, **kw: Any) -> xgb.DMatrix:
        return xgb.DMatrix(np.asarray(features, dtype=np.float32), nthread=self.n_jobs, **kw)

    def _raw_predict(self, features: np.ndarray) -> np.ndarray:
        features = np.asarray(features, dtype=np.float32)
        if features.shape[1] != self.n_features_in_:
            raise ValueError(f"head expects {self.n_features_in_} features, got "
                             f"{features.shape[1]}")
        return self.booster_.inplace_predict(features)

    def to(self, device: str, n_jobs: int | None = None) -> _XGBoostHead:
        """Predict on `device` (auto, cpu, cuda, cuda:N) whatever the head was trained on,
        with `n_jobs` threads (0: XGBoost's default, every core)."""
        self.device = device
        if n_jobs is not None:
            self.n_jobs = n_jobs
        self.booster_.set_param({"device": xgboost_device(device), "nthread": self.n_jobs})
        return self

    def save(self, path: str | Path, metadata: dict[str, Any], raw_format: str = "ubj") -> None:
        """Write the booster in XGBoost's format with `metadata` attached."""
        meta = {"format": HEAD_FORMAT, "format_version": HEAD_FORMAT_VERSION,
                "phism_version": __version__,
                # n_jobs is how this machine ran, not what the head is: keep files identical
                "params": {k: v for k, v in self.get_params().items() if k != "n_jobs"},
                "n_features": self.n_features_in_, **self._fitted_metadata(), **metadata}
        meta = json.loads(json.dumps(meta))  # the form it will be read back in
        self.booster_.set_attr(**{ATTRIBUTE: json.dumps(meta)})
        model = parse_head_bytes(bytes(self.booster_.save_raw(raw_format=raw_format)),
                                 Path(path))
        meta["checksum"] = head_checksum(model, meta)
        self.booster_.set_attr(**{ATTRIBUTE: json.dumps(meta)})
        Path(path).write_bytes(bytes(self.booster_.save_raw(raw_format=raw_format)))

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments, as scikit-learn estimators report them."""
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        return {name: getattr(self, name) for name in names}

    def _fitted_metadata(self) -> dict[str, Any]:
        raise NotImplementedError


class ClassifierHead(_XGBoostHead):
    """Gradient-boosted trees on per-pixel features (the paper: 200 trees, learning rate 0.1).

    `class_weight="balanced"` weighs each class by n / (n_classes x n_class).
    Fitted: `booster_`, `classes_` (the label values), `n_features_in_`.
    """

    task = "classification"

    def __init__(self, n_estimators: int = 200, learning_rate: float = 0.1, max_depth: int = 6,
                 subsample: float = 1.0, colsample_bytree: float = 1.0,
                 min_child_weight: float = 1.0, reg_lambda: float = 1.0,
                 class_weight: str | None = None, n_jobs: int = 0, seed: int = 0,
                 device: str = "cpu") -> None:
        if class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {class_weight!r}")
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.seed = seed
        self.device = device


    def fit(self, features: np.ndarray, labels: np.ndarray) -> ClassifierHead:
        labels = np.asarray(labels)
        self.classes_ = np.unique(labels)
        if len(self.classes_) < 2:
            raise ValueError(f"training needs at least two classes, found "
                             f"{self.classes_.tolist()}")
        target = np.searchsorted(self.classes_, labels)
        weight = None
        if self.class_weight == "balanced":
            counts = np.bincount(target)
            weight = (len(target) / (len(counts) * counts))[target]
        binary = len(self.classes_) == 2
        params = {
            "objective": "binary:logistic" if binary else "multi:softprob",
            "eta": self.learning_rate, "max_depth": self.max_depth,
            "subsample": self.subsample, "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight, "lambda": self.reg_lambda,
            "tree_method": "hist", "seed": self.seed, "nthread": self.n_jobs,
            "device": xgboost_device(self.device), "verbosity": 0,
        }
        if not binary:
            params["num_class"] = len(self.classes_)
        data = self._dmatrix(features, label=target, weight=weight)
        self.booster_ = xgb.train(params, data, num_boost_round=self.n_estimators)
        self.n_features_in_ = int(features.shape[1])
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """(N, n_classes) probabilities, columns in the order of `classes_`."""
        raw = self._raw_predict(features)
        if raw.ndim == 1:  # binary: the probability of the second class
            return np.stack([1.0 - raw, raw], axis=1)
        return raw

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(features), axis=1)]

    def _fitted_metadata(self) -> dict[str, Any]:
        return {"task": self.task, "class_values": self.classes_.tolist()}


class RegressorHead(_XGBoostHead):
    """A random forest (XGBoost's random-forest mode: one round of `n_estimators` parallel
    trees on row and column subsamples) per target; all targets share one booster, with
    separate trees per target. Fitted: `booster_`, `n_targets_`, `n_features_in_`."""

    task = "regression"

    def __init__(self, n_estimators: int = 200, max_depth: int = 8, subsample: float = 0.8,
                 colsample_bynode: float = 0.8, min_child_weight: float = 1.0,
                 n_jobs: int = 0, seed: int = 0, device: str = "cpu") -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bynode = colsample_bynode
        self.min_child_weight = min_child_weight
        self.n_jobs = n_jobs
        self.seed = seed
        self.device = device


    def fit(self, features: np.ndarray, targets: np.ndarray) -> RegressorHead:
        targets = np.asarray(targets, dtype=np.float32)
        if targets.ndim == 1:
            targets = targets[:, None]
        if len(targets) < 2:
            raise ValueError(f"training needs at least two samples, got {len(targets)}")
        params = {
            "objective": "reg:squarederror", "eta": 1.0, "max_depth": self.max_depth,
            "num_parallel_tree": self.n_estimators, "subsample": self.subsample,
            "colsample_bynode": self.colsample_bynode,
            "min_child_weight": self.min_child_weight, "tree_method": "hist",
            "multi_strategy": "one_output_per_tree", "seed": self.seed,
            "nthread": self.n_jobs, "device": xgboost_device(self.device), "verbosity": 0,
        }
        data = self._dmatrix(features, label=targets)
        self.booster_ = xgb.train(params, data, num_boost_round=1)
        self.n_targets_ = targets.shape[1]
        self.n_features_in_ = int(features.shape[1])
        return self

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(N, n_targets) predictions."""
        return self._raw_predict(features).reshape(len(features), self.n_targets_)

    def _fitted_metadata(self) -> dict[str, Any]:
        return {"task": self.task, "n_targets": self.n_targets_}


Head = ClassifierHead | RegressorHead


def load_head(path: str | Path) -> tuple[Head, dict[str, Any]]:
    """A fitted head and its metadata from a file `save` wrote; the file is checked whole
    (`headfile.read_head`) before XGBoost reads it."""
    path = Path(path)
    raw, meta, _ = read_head(path)
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError:
        raise PhismError(f"{path}: XGBoost cannot read this head; train it again") from None
    head: Head
    try:
        if meta["task"] == "classification":
            head = ClassifierHead(**meta["params"])
            head.classes_ = np.asarray(meta["class_values"], dtype=np.int64)
        else:
            head = RegressorHead(**meta["params"])
            head.n_targets_ = int(meta["n_targets"])
    except (TypeError, ValueError):
        raise PhismError(f"{path}: the head's parameters are damaged; train it again") from None
    head.booster_ = booster
    head.n_features_in_ = int(meta["n_features"])
    return head, meta
