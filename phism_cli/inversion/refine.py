"""Semi-amortised inference for PhISM: the encoder's latents refined by per-pixel optimisation
through the bump renderer (the same projected Adam as analysis-by-synthesis)."""

from __future__ import annotations

import numpy as np
import torch

from phism_cli.forward.bumps import BumpModel
from phism_cli.inversion.optimise import minimise_in_bounds
from phism_cli.model.renderer import SpectralRenderer

__all__ = ["LatentRefiner", "refine_batch_size"]


def refine_batch_size(device: str | torch.device) -> int:
    """Pixels per optimisation problem: on a CPU its autograd graph then stays in cache
    (1024 ran 2.5x faster than 4096); a GPU wants all it can get (65,536 ran 18x faster than
    1024 on an H100)."""
    return 65536 if torch.device(device).type == "cuda" else 1024


class LatentRefiner:
    """`refine(pixels, latent)` runs `steps` Adam steps per pixel from the encoder's latent
    on the squared error of the standardised spectrum; it never returns a worse fit."""

    def __init__(self, renderer: SpectralRenderer, steps: int, lr: float = 0.01,
                 device: str | torch.device = "cpu") -> None:
        self.renderer = renderer
        self.steps = steps
        self.lr = lr
        self.device = torch.device(device)
        self.model = BumpModel(renderer.basis, renderer.n_components,
                               torch.as_tensor(renderer.axis.positions), renderer.axis.unit)
        self.mean = torch.as_tensor(renderer.band_mean, dtype=torch.float32, device=self.device)
        self.scale = torch.as_tensor(renderer.band_scale, dtype=torch.float32,
                                     device=self.device)

    def refine(self, pixels: np.ndarray, latent: np.ndarray) -> np.ndarray:
        target = (torch.as_tensor(pixels, dtype=torch.float32, device=self.device)
                  - self.mean) / self.scale
        start = torch.as_tensor(latent, dtype=torch.float32, device=self.device)
        finite = torch.isfinite(start).all(dim=1)
        lower, upper = (b.to(self.device) for b in self.model.bounds())
        target = target[finite]  # once, not in every step

        def loss(params: torch.Tensor) -> torch.Tensor:
            return ((self.model.render(params) - target) ** 2).mean(dim=1)

        out = start.clone()
        if finite.any():
            with torch.enable_grad():
                best, _ = minimise_in_bounds(loss, start[finite], lower, upper,
                                             steps=self.steps, lr=self.lr)
            out[finite] = best
        return out.cpu().numpy()
