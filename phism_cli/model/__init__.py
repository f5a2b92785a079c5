"""The PhISM model: a pixel-wise encoder and a parameter-free spectral renderer."""

from phism_cli.model.bases import BASES, GaussianBasis, SkewNormalBasis, SpectralBasis, make_basis
from phism_cli.model.estimator import PhismEncoder

__all__ = [
    "BASES",
    "GaussianBasis",
    "PhismEncoder",
    "SkewNormalBasis",
    "SpectralBasis",
    "make_basis",
]
