"""The amortised inverse: a network trained on spectra rendered by the mixing model.

Training data comes from the forward model alone, so it needs no labels: random sparse
abundances (a few endmembers per spectrum, Dirichlet weights), each generated endmember drawn
from a bank of variants rendered at random parameters within its bounds, plus Gaussian noise
at a random level, optionally scaled by a random brightness factor (log-uniform in
`brightness`) that the abundances ignore. The network maps a spectrum to abundances on the
simplex (softmax).

`adapt` then fine-tunes it on the spectra it will unmix, self-supervised through the mixing
model (no abundances needed): the loss is the spectra's misfit by the mixtures of the
predicted abundances, so the network moves from the library's idealised mixtures towards the
scene's own, as FCLS would fit them, but with one smooth map shared by all spectra.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from phism_cli.forward.mixing import LinearMixing

__all__ = ["InverseRenderingNet"]


class InverseRenderingNet:
    """Spectra (N, C) -> abundances (N, E); `fit` trains it on the mixing model's renders.

    Hyper-parameters are set here; fitted state lives in attributes ending in `_`.
    """

    def __init__(self, hidden: tuple[int, ...] = (256, 256), steps: int = 3000,
                 batch_size: int = 256, lr: float = 1e-3, max_active: int = 6,
                 variants: int = 16, noise_min: float = 1e-4, noise_max: float = 2e-2,
                 seed: int = 0, device: str = "cpu",
                 brightness: tuple[float, float] = (1.0, 1.0)) -> None:
        low, high = brightness
        if not 0 < low <= high:
            raise ValueError(f"brightness range must be 0 < low <= high, got {brightness}")
        self.hidden = hidden
        self.steps = steps
        self.batch_size = batch_size
        self.lr = lr
        self.max_active = max_active
        self.variants = variants
        self.noise_min = noise_min
        self.noise_max = noise_max
        self.seed = seed
        self.device = device
        self.brightness = (float(low), float(high))

    def fit(self, mixing: LinearMixing) -> InverseRenderingNet:
        generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        bank = self._variant_bank(mixing, generator).to(torch.float32)  # (V, E, C)
        n_em, n_bands = bank.shape[1], bank.shape[2]
        self.offset_ = float(bank.mean())
        self.scale_ = float(bank.std()) or 1.0
        layers: list[nn.Module] = []
        width = n_bands
        for size in self.hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, n_em))
        self.model_ = nn.Sequential(*layers).to(self.device)
        optimiser = torch.optim.Adam(self.model_.parameters(), lr=self.lr)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=self.lr,
                                                       total_steps=max(self.steps, 1))
        amplitude = float(bank.abs().mean())
        self.history_: list[float] = []
        for _ in range(self.steps):
            spectra, abundances = self._batch(bank, amplitude, generator)
            optimiser.zero_grad(set_to_none=True)
            estimate = torch.softmax(self.model_(self._standardise(spectra)), dim=1)
            loss = ((estimate - abundances) ** 2).sum(dim=1).mean()
            loss.backward()
            optimiser.step()
            schedule.step()
            self.history_.append(float(loss.detach()))
        self.model_.eval()
        return self

    def adapt(self, spectra: np.ndarray | Tensor, endmembers: Tensor,
              weights: np.ndarray | Tensor | None = None, steps: int = 1000,
              lr: float = 3e-4, scaled: bool = True) -> InverseRenderingNet:
        """Fine-tune on `spectra` (N, C; missing values filled, weight 0 in `weights`) by
        minimising the weighted misfit of abundances @ `endmembers` (E, C); `scaled`: each
        mixture first takes its best non-negative brightness factor (least squares), as
        NNLS-then-normalise ignores brightness. The history is in `adapt_history_`."""
        generator = torch.Generator().manual_seed(self.seed + 1)
        data = torch.as_tensor(spectra, dtype=torch.float32)
        mask = torch.ones_like(data) if weights is None else \
            torch.as_tensor(weights, dtype=torch.float32)
        basis = torch.as_tensor(endmembers, dtype=torch.float32, device=self.device)
        optimiser = torch.optim.Adam(self.model_.parameters(), lr=lr)
        self.model_.train()
        self.adapt_history_: list[float] = []
        for _ in range(steps):
            rows = torch.randint(0, len(data), (min(self.batch_size, len(data)),),
                                 generator=generator)
            target, w = data[rows].to(self.device), mask[rows].to(self.device)
            mixed = torch.softmax(self.model_(self._standardise(target)), dim=1) @ basis
            if scaled:
                gain = (w * target * mixed).sum(dim=1, keepdim=True) \
                    / (w * mixed * mixed).sum(dim=1, keepdim=True).clamp(min=1e-12)
                mixed = mixed * gain.clamp(min=0.0).detach()
            loss = (w * (target - mixed) ** 2).sum(dim=1).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            self.adapt_history_.append(float(loss.detach()))
        self.model_.eval()
        return self

    def _variant_bank(self, mixing: LinearMixing, generator: torch.Generator) -> Tensor:
        """(V, E, C): variant 0 is the library; the others re-render generated endmembers at
        parameters drawn uniformly within their bounds."""
        base = mixing.base_endmembers()
        bank = base.expand(self.variants, -1, -1).clone()
        if not mixing.generated or self.variants < 2:
            return bank[:1]
        lower, upper = mixing.generator_bounds()
        slots = torch.arange(len(mixing.generated_index))
        for v in range(1, self.variants):
            draw = torch.rand(lower.shape, generator=generator, dtype=lower.dtype)
            with torch.no_grad():
                spectra = mixing.generated_spectra(lower + draw * (upper - lower), slots)
            bank[v, mixing.generated_index] = spectra
        return bank

    def _batch(self, bank: Tensor, amplitude: float,
               generator: torch.Generator) -> tuple[Tensor, Tensor]:
        n_variants, n_em, _ = bank.shape
        size = self.batch_size
        active = torch.randint(1, min(self.max_active, n_em) + 1, (size, 1), generator=generator)
        keys = torch.rand(size, n_em, generator=generator)
        rank = keys.argsort(dim=1).argsort(dim=1)
        chosen = rank < active
        weights = -torch.log(torch.rand(size, n_em, generator=generator).clamp(min=1e-12))
        abundances = torch.where(chosen, weights, 0.0)
        abundances = abundances / abundances.sum(dim=1, keepdim=True)
        variant = torch.randint(0, n_variants, (size, n_em), generator=generator)
        endmembers = bank[variant, torch.arange(n_em)]  # (B, E, C)
        spectra = torch.einsum("be,bec->bc", abundances, endmembers)
        log_noise = torch.empty(size, 1).uniform_(math.log(self.noise_min),
                                                  math.log(self.noise_max),
                                                  generator=generator)
        noise = torch.randn(spectra.shape, generator=generator) * log_noise.exp() * amplitude
        spectra = spectra + noise
        low, high = self.brightness
        if high > low:
            log_gain = torch.empty(size, 1).uniform_(math.log(low), math.log(high),
                                                     generator=generator)
            spectra = spectra * log_gain.exp()
        return spectra.to(self.device), abundances.to(self.device)

    def _standardise(self, spectra: Tensor) -> Tensor:
        return (spectra - self.offset_) / self.scale_

    @torch.inference_mode()
    def predict(self, spectra: np.ndarray | Tensor, batch_size: int = 16384) -> Tensor:
        """(N, C) spectra (missing bands already filled) -> (N, E) abundances, float64."""
        data = torch.as_tensor(spectra, dtype=torch.float32)
        out = []
        for start in range(0, data.shape[0], batch_size):
            batch = data[start:start + batch_size].to(self.device)
            out.append(torch.softmax(self.model_(self._standardise(batch)), dim=1).cpu())
        return torch.cat(out).to(torch.float64) if out else torch.empty(0, 0)
