"""Heads on per-pixel features: classifiers and regressors, splits, metrics, head files."""

from __future__ import annotations

from typing import Any

__all__ = ["ClassifierHead", "RegressorHead", "load_head"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so that light modules of this package (headfile, ubjson, splits)
    # load without XGBoost: `phism info HEAD` reads a head's metadata only.
    if name in __all__:
        from phism_cli.heads import xgb

        return getattr(xgb, name)
    raise AttributeError(f"module 'phism_cli.heads' has no attribute {name!r}")
