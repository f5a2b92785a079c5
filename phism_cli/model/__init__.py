"""The PhISM model: a pixel-wise encoder and a parameter-free spectral renderer."""

from phism_cli.model.bases import BASES, GaussianBasis, SkewNormalBasis, SpectralBasis, make_basis
from phism_cli.model.estimator import PhismEncoder
from phism_cli.model.pca import PcaEncoder

__all__ = [
    "BASES",
    "GaussianBasis",
    "PcaEncoder",
    "PhismEncoder",
    "SkewNormalBasis",
    "SpectralBasis",
    "make_basis",
]
