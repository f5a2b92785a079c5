"""`Unmixer`: one estimator over the four inversions of a linear-mixing model.

- fcls: exact fully constrained least squares with the library's spectra; no physics moves.
- abs: analysis-by-synthesis, FCLS alternated with gradient steps on generated endmembers.
- net: the amortised inverse-rendering network alone (one forward pass per spectrum).
- hybrid: the network's abundances warm-start analysis-by-synthesis.
Without generated endmembers abs and hybrid have no physics to move and equal fcls.

How the abundances' sum is held (`sum_to_one`):
- strict: every solve keeps sum = 1 (Heinz and Chang's FCLS);
- scaled: every solve is non-negative only (NNLS), and the result is divided by its sum, so a
  spectrum brighter or darker than the library's mixtures (illumination, particle size) is
  not forced onto the simplex; the default, chosen on half of the Feely rocks and on Samson.
A `shade` endmember (a blackbody in the thermal infrared, a shade or dark spectrum in the
VNIR) absorbs contrast rather than material: its band holds its share of the fit and the other
abundances are shares of what is not shade, so they sum to 1 among themselves (the thermal-
infrared convention of blackbody-normalised modes).
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

__all__ = ["ADAPT_PIXELS", "DEFAULT_ADAPT_STEPS", "METHODS", "SUM_TO_ONE", "Unmixer"]

METHODS = ("fcls", "abs", "net", "hybrid")
SUM_TO_ONE = ("scaled", "strict")
# The net's training mixtures are scaled by a factor log-uniform in this range under "scaled":
# it sees brightness it must ignore, as NNLS-then-normalise does.
NET_BRIGHTNESS = (0.5, 2.0)
# Steps of self-supervised adaptation to the spectra being unmixed (net, hybrid): about a
# second, taking the network from 11-32 % worse than FCLS of the same settings on the Feely
# rocks to level with it.
DEFAULT_ADAPT_STEPS = 1000
ADAPT_PIXELS = 20_000  # at most this many of a scene's valid pixels to adapt on


class Unmixer:
    """`fit(mixing)` prepares the inversion (trains the network for net and hybrid);
    `transform(spectra, weights)` returns a `MixingFit` for (N, C) spectra."""

    def __init__(self, method: str = "fcls", epochs: int = 5, steps: int = 5,
                 lr: float = 0.05, net_steps: int = 3000, seed: int = 0,
                 device: str = "cpu", sum_to_one: str = "scaled",
                 shade: str | None = None, adapt_steps: int = DEFAULT_ADAPT_STEPS) -> None:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
        if sum_to_one not in SUM_TO_ONE:
            raise ValueError(f"unknown sum-to-one mode {sum_to_one!r}; choose one of "
                             f"{', '.join(SUM_TO_ONE)}")
        self.method = method
        self.epochs = epochs
        self.steps = steps
        self.lr = lr
        self.net_steps = net_steps
        self.seed = seed
        self.device = device
        self.sum_to_one = sum_to_one
        self.shade = shade
        self.adapt_steps = adapt_steps

    @property
    def strict(self) -> bool:
        return self.sum_to_one == "strict"

    def uses_network(self, mixing: LinearMixing) -> bool:
        return self.method == "net" or (self.method == "hybrid" and bool(mixing.generated))

    def fit(self, mixing: LinearMixing, spectra: np.ndarray | Tensor | None = None,
            weights: np.ndarray | Tensor | None = None) -> Unmixer:
        """Prepare the inversion; with `spectra` (N, C; weights as in `transform`), a
        network (net, hybrid) is then adapted to them for `adapt_steps` steps."""
        if self.shade is not None and self.shade not in mixing.names:
            raise ValueError(f"shade endmember {self.shade!r} is not in the library; its "
                             f"endmembers are {', '.join(mixing.names)}")
        self.shade_index_ = None if self.shade is None else mixing.names.index(self.shade)
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
            brightness = (1.0, 1.0) if self.strict else NET_BRIGHTNESS
            self.network_ = InverseRenderingNet(steps=self.net_steps, seed=self.seed,
                                                device=self.device,
                                                brightness=brightness).fit(mixing)
            if spectra is not None and len(spectra) and self.adapt_steps > 0:
                b = torch.as_tensor(spectra, dtype=torch.float64)
                w = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
                self.network_.adapt(fill_missing(b, w), mixing.base_endmembers(), w,
                                    steps=self.adapt_steps, scaled=not self.strict)
        return self

    def transform(self, spectra: np.ndarray | Tensor,
                  weights: np.ndarray | Tensor | None = None) -> MixingFit:
        """Spectra (N, C) with missing values set to anything finite and marked by weights
        (N, C) of 0 (1 elsewhere); None means every value counts."""
        b = torch.as_tensor(spectra, dtype=torch.float64)
        w = None if weights is None else torch.as_tensor(weights, dtype=torch.float64)
        fit = self._solve(b, w)
        fit.abundances = self._normalise(fit.abundances)
        return fit

    def _solve(self, b: Tensor, w: Tensor | None) -> MixingFit:
        mixing = self.mixing_
        if self.network_ is None and self.method != "abs":  # fcls, or hybrid with no physics
            return fcls_unmix(mixing.base_endmembers(), b, w, self.strict)
        if self.method == "abs":
            return analysis_by_synthesis(mixing, b, w, self.epochs, self.steps, self.lr,
                                         sum_to_one=self.strict)
        assert self.network_ is not None
        start = self.network_.predict(fill_missing(b, w))
        if self.method == "net":
            fitted = start @ mixing.base_endmembers()
            return MixingFit(start, residual_rms(b, fitted, w))
        return analysis_by_synthesis(mixing, b, w, self.epochs, self.steps, self.lr,
                                     init_abundances=start, sum_to_one=self.strict)

    def _normalise(self, x: Tensor) -> Tensor:
        """Scaled abundances divided by their sum; with a shade endmember, the others divided
        by their own sum and the shade by the whole (a spectrum with nothing left: zeros)."""
        shade = self.shade_index_
        if self.strict and shade is None:
            return x
        total = x.sum(dim=1, keepdim=True)
        if shade is None:
            return x / _nonzero(total)
        out = x / _nonzero(total - x[:, shade:shade + 1])
        out[:, shade] = x[:, shade] / _nonzero(total)[:, 0]
        return out


def _nonzero(divisor: Tensor) -> Tensor:
    """`divisor` with its zeros (and below) replaced by 1, so nothing divides by zero."""
    return torch.where(divisor > 0, divisor, 1.0)


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
