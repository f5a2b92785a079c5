"""Reconstruction metrics accumulated tile by tile, so they never need a whole scene."""

from __future__ import annotations

import math

import numpy as np


class ReconstructionMetrics:
    """PSNR (peak = the reference's value range over valid pixels) and mean SAM in degrees."""

    def __init__(self) -> None:
        self.squared_error = 0.0
        self.values = 0
        self.pixels = 0
        self.rendered = 0  # pixels rendered, compared or not
        self.angle_sum_deg = 0.0
        self.minimum = math.inf
        self.maximum = -math.inf

    def update(self, reference: np.ndarray, estimate: np.ndarray) -> None:
        """Add (N, C) reference spectra and their (N, C) reconstructions."""
        if len(reference) == 0:
            return
        ref = reference.astype(np.float64)
        est = estimate.astype(np.float64)
        self.squared_error += float(np.sum((ref - est) ** 2))
        self.values += ref.size
        self.pixels += ref.shape[0]
        self.minimum = min(self.minimum, float(ref.min()))
        self.maximum = max(self.maximum, float(ref.max()))
        norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(est, axis=1)
        cosine = np.sum(ref * est, axis=1) / np.where(norms > 0, norms, 1.0)
        self.angle_sum_deg += float(np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0))).sum())

    @property
    def mse(self) -> float:
        return self.squared_error / self.values if self.values else math.nan

    @property
    def psnr_db(self) -> float:
        if not self.values:
            return math.nan
        if self.squared_error == 0:
            return math.inf
        peak = self.maximum - self.minimum
        return 10.0 * math.log10(peak * peak / self.mse)

    @property
    def sam_deg(self) -> float:
        return self.angle_sum_deg / self.pixels if self.pixels else math.nan
