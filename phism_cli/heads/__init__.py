"""Heads on per-pixel features: classifiers and regressors, splits, metrics, head files."""

from phism_cli.heads.xgb import ClassifierHead, RegressorHead, load_head

__all__ = ["ClassifierHead", "RegressorHead", "load_head"]
