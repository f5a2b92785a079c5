"""Turning `phism train-head` options into head estimators and settings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from phism_cli.errors import PhismError
from phism_cli.heads.xgb import ClassifierHead, RegressorHead


def check_choice(flag: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise PhismError(f"{flag} {value!r}: choose one of {', '.join(choices)}")


def classifier(learning_rate: float, class_weight: str | None, n_estimators: int,
                max_depth: int | None, subsample: float | None, colsample: float | None,
                seed: int, device: str) -> ClassifierHead:
    from phism_cli.threads import configured_threads

    if not (np.isfinite(learning_rate) and learning_rate > 0):
        raise PhismError(f"--learning-rate {learning_rate!r}: give a finite positive number")
    try:
        return ClassifierHead(n_estimators=n_estimators, learning_rate=learning_rate,
                              max_depth=max_depth or 6, subsample=subsample or 1.0,
                              colsample_bytree=colsample or 1.0, class_weight=class_weight,
                              seed=seed, device=device, n_jobs=configured_threads())
    except ValueError as exc:
        raise PhismError(f"--class-weight: {exc}") from None


def regressor(n_estimators: int, max_depth: int | None, subsample: float | None,
               colsample: float | None, seed: int, device: str) -> RegressorHead:
    from phism_cli.threads import configured_threads

    return RegressorHead(n_estimators=n_estimators, max_depth=max_depth or 8,
                         subsample=subsample or 0.8, colsample_bynode=colsample or 0.8,
                         n_jobs=configured_threads(),
                         seed=seed, device=device)


def parse_baselines(values: list[str] | None) -> dict[str, float]:
    baselines = {}
    for item in values or []:
        name, _, number = item.partition("=")
        try:
            mse = float(number)
        except ValueError:
            mse = float("nan")
        if not name.strip() or not mse > 0:
            raise PhismError(f"--baseline-mse {item!r}: write TARGET=MSE with a positive MSE, "
                             "e.g. P=1100.5")
        baselines[name.strip()] = mse
    return baselines
