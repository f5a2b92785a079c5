"""Held-out metrics: OA, AA, Cohen's kappa and the confusion matrix; regression MSE and the
HYPERVIEW score."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray,
                     classes: Sequence[int]) -> np.ndarray:
    """(C, C) counts, rows = true class, columns = predicted class, in the order of `classes`."""
    index = {int(c): i for i, c in enumerate(classes)}
    n = len(classes)
    rows = np.array([index[int(v)] for v in y_true], dtype=np.int64)
    cols = np.array([index[int(v)] for v in y_pred], dtype=np.int64)
    return np.bincount(rows * n + cols, minlength=n * n).reshape(n, n)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray,
                           classes: Sequence[int]) -> dict[str, Any]:
    """OA, AA (mean recall over the classes present in `y_true`; a class the head never
    saw in training is never predicted, so it counts as wrong), kappa, per-class recall."""
    return confusion_metrics(confusion_matrix(y_true, y_pred, classes), classes)


def confusion_metrics(matrix: np.ndarray, classes: Sequence[int]) -> dict[str, Any]:
    """`classification_metrics` from a (C, C) confusion matrix (rows true, columns predicted)."""
    matrix = np.asarray(matrix, dtype=np.int64)
    total = int(matrix.sum())
    support = matrix.sum(axis=1)
    present = support > 0
    recall = np.divide(np.diag(matrix), support, out=np.zeros(len(classes)), where=present)
    oa = float(np.trace(matrix) / total) if total else float("nan")
    expected = float(np.sum(support * matrix.sum(axis=0))) / total**2 if total else 0.0
    kappa = (oa - expected) / (1.0 - expected) if total and expected < 1.0 else float("nan")
    return {
        "oa": oa,
        "aa": float(recall[present].mean()) if present.any() else float("nan"),
        "kappa": float(kappa),
        "per_class": {str(c): float(r) for c, r, p in zip(classes, recall, present, strict=True)
                      if p},
        "confusion": matrix.tolist(),
        "classes": [int(c) for c in classes],
        "n_test": total,
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray, targets: Sequence[str],
                       baseline_mse: dict[str, float]) -> dict[str, Any]:
    """Per-target MSE and R^2, and the HYPERVIEW score: the mean over targets of
    MSE / MSE of the baseline (1.0 = no better than the baseline, lower is better)."""
    mse = np.mean((y_true - y_pred) ** 2, axis=0)
    variance = np.var(y_true, axis=0)
    ratios = [float(m / baseline_mse[t]) for t, m in zip(targets, mse, strict=True)
              if baseline_mse.get(t)]
    return {
        "mse": {t: float(m) for t, m in zip(targets, mse, strict=True)},
        "r2": {t: float(1.0 - m / v) if v > 0 else float("nan")
               for t, m, v in zip(targets, mse, variance, strict=True)},
        "baseline_mse": {t: float(baseline_mse[t]) for t in targets if t in baseline_mse},
        "score": float(np.mean(ratios)) if len(ratios) == len(targets) else float("nan"),
        "n_test": len(y_true),
    }
