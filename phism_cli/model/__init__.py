"""The PhISM model: a pixel-wise encoder and a parameter-free spectral renderer."""

from __future__ import annotations

from typing import Any

__all__ = [
    "BASES",
    "GaussianBasis",
    "PcaEncoder",
    "PhismEncoder",
    "SkewNormalBasis",
    "SpectralBasis",
    "make_basis",
]
_HOME = {"PhismEncoder": "estimator", "PcaEncoder": "pca"}


def __getattr__(name: str) -> Any:
    # Imported on first use, so that light modules of this package (encoder_file) load
    # without torch: `phism info MODEL` reads a model's metadata only.
    if name in __all__:
        import importlib

        return getattr(importlib.import_module(f"phism_cli.model.{_HOME.get(name, 'bases')}"),
                       name)
    raise AttributeError(f"module 'phism_cli.model' has no attribute {name!r}")
