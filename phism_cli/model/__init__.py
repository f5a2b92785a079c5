"""The PhISM model: a pixel-wise encoder and a parameter-free spectral renderer."""

from __future__ import annotations

from typing import Any

__all__ = [
    "GaussianBasis",
    "PcaEncoder",
    "PhismEncoder",
    "SkewNormalBasis",
    "SpectralBasis",
    "make_basis",
]
_BASES = ("GaussianBasis", "SkewNormalBasis", "SpectralBasis", "make_basis")


def __getattr__(name: str) -> Any:
    # Imported on first use, so that light modules of this package (encoder_file) load
    # without torch: `phism info MODEL` reads a model's metadata only. The bases are the
    # forward model's (`forward.bases`), named here too for the model's users.
    if name == "PhismEncoder":
        from phism_cli.model.estimator import PhismEncoder

        return PhismEncoder
    if name == "PcaEncoder":
        from phism_cli.model.pca import PcaEncoder

        return PcaEncoder
    if name in _BASES:
        from phism_cli.forward import bases

        return getattr(bases, name)
    raise AttributeError(f"module 'phism_cli.model' has no attribute {name!r}")
