"""Per-band centring and scaling, stored with the model and applied again at encode time."""

from __future__ import annotations

import numpy as np


class BandScaler:
    """Zero-centre each band by its training mean, then divide by a scale.

    `mode="global"` divides every band by one number (the root-mean-square of the band
    stds), which keeps the centred spectrum's shape, so smooth components can fit it and the
    loss weighs bands as PSNR does. `mode="band"` divides each band by its own std, which
    amplifies noisy low-variance bands.
    """

    def __init__(self, mode: str = "global", min_scale: float = 1e-6) -> None:
        if mode not in ("global", "band"):
            raise ValueError(f"unknown scaling mode {mode!r}; use 'global' or 'band'")
        self.mode = mode
        self.min_scale = min_scale

    def fit(self, pixels: np.ndarray) -> BandScaler:
        data = np.asarray(pixels, dtype=np.float64)
        self.mean_ = data.mean(axis=0).astype(np.float32)
        std = data.std(axis=0)
        if self.mode == "global":
            std = np.full_like(std, np.sqrt(np.mean(std**2)))
        # A constant band would divide by zero; scale it like its neighbours' noise floor.
        floor = max(self.min_scale, float(np.median(std)) * 1e-3)
        self.scale_ = np.maximum(std, floor).astype(np.float32)
        return self

    def transform(self, pixels: np.ndarray) -> np.ndarray:
        return (pixels - self.mean_) / self.scale_

    def inverse_transform(self, scaled: np.ndarray) -> np.ndarray:
        return scaled * self.scale_ + self.mean_
