"""`Unmixer`: one estimator over the four inversions of a linear-mixing model.

- fcls: exact fully constrained least squares with the library's spectra; no physics moves.
- abs: analysis-by-synthesis, FCLS alternated with gradient steps on generated endmembers.
- net: the amortised inverse-rendering network alone (one forward pass per spectrum).
- hybrid: the network's abundances warm-start analysis-by-synthesis.
Without generated endmembers abs and hybrid have no physics to move and equal fcls.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from phism_cli.forward.mixing import LinearMixing
from phism_cli.inversion.amortised import InverseRenderingNet
from phism_cli.inversion.synthesis import (
    MixingFit,
    analysis_by_synthesis,
    fcls_unmix,
    residual_rms,
)

__all__ = ["METHODS", "Unmixer"]

METHODS = ("fcls", "abs", "net", "hybrid")


class Unmixer:
    """`fit(mixing)` prepares the inversion (trains the network for net and hybrid);
    `transform(spectra, weights)` returns a `MixingFit` for (N, C) spectra."""

    def __init__(self, method: str = "fcls", epochs: int = 5, steps: int = 5,
                 lr: float = 0.05, net_steps: int = 3000, seed: int = 0,
                 device: str = "cpu") -> None:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        self.method = method
        self.epochs = epochs
        self.steps = steps
        self.lr = lr
        self.net_steps = net_steps
        self.seed = seed
        self.device = device

    def uses_network(self, mixing: LinearMixing) -> bool:
        return self.method == "net" or (self.method == "hybrid" and bool(mixing.generated))

    def fit(self, mixing: LinearMixing) -> Unmixer:
        self.mixing_ = mixing
        # Analysis-by-synthesis holds every spectrum's own endmembers (N, E, C) in float64:
        # batches of about 256 MB of them.
        per_spectrum = mixing.generated and self.method in ("abs", "hybrid")
        self.batch_size_ = max(16, 2**25 // (mixing.n_endmembers * mixing.n_bands)) \
            if per_spectrum else 4096
        self.network_ = None
        # Without generated endmembers hybrid is FCLS: the network's start would be
        # overwritten by the first exact solve, so it is not trained.
        if self.uses_network(mixing):
            self.network_ = InverseRenderingNet(steps=self.net_steps, seed=self.seed,
                                                device=self.device).fit(mixing)
        return self

    def transform(self, spectra: np.ndarray | Tensor,
                  weights: np.ndarray | Tensor | None = None) -> MixingFit:
        """Spectra (N, C) with missing values set to anything finite and marked by weights
        (N, C) of 0 (1 elsewhere); None means every value counts."""
        b = torch.as_tensor(spectra, dtype=torch.float64)
        w = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        mixing = self.mixing_
        if self.network_ is None and self.method != "abs":  # fcls, or hybrid with no physics
            return fcls_unmix(mixing.base_endmembers(), b, w)
        if self.method == "abs":
            return analysis_by_synthesis(mixing, b, w, self.epochs, self.steps, self.lr)
        assert self.network_ is not None
        start = self.network_.predict(fill_missing(b, w))
        if self.method == "net":
            fitted = start @ mixing.base_endmembers()
            return MixingFit(start, residual_rms(b, fitted, w))
        return analysis_by_synthesis(mixing, b, w, self.epochs, self.steps, self.lr,
                                     init_abundances=start)


def fill_missing(spectra: Tensor, weights: Tensor | None) -> Tensor:
    """Missing values (weight 0) linearly interpolated from the spectrum's valid neighbours
    along the band order, for inversions that cannot skip a band (the network)."""
    if weights is None or bool((weights > 0).all()):
        return spectra
    out = spectra.clone().numpy()
    index = np.arange(out.shape[1])
    for row, valid in zip(out, (weights > 0).numpy(), strict=True):
        if valid.any() and not valid.all():
            row[~valid] = np.interp(index[~valid], index[valid], row[valid])
    return torch.from_numpy(out)
