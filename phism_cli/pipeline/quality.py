"""Fusion quality metrics accumulated batch by batch of pixels, so they never need a whole scene.

Definitions follow the Wald protocol as the fusion literature uses it, with reference x and
estimate y, band c, N pixels:

* PSNR: per band, 10 log10(max_c(x)^2 / MSE_c), the peak being that band's maximum in the
  reference (float data, no 8-bit quantisation), then the mean over bands. A band
  reconstructed exactly has an infinite PSNR and a band whose reference maximum is not
  positive (while its error is) has none (NaN): the mean is over the bands with a finite
  PSNR, +inf when there is none but a band is exact, NaN when there is none at all.
* SAM: the angle between the reference and estimated spectra of each pixel, in degrees, mean
  over pixels; 0 when both spectra are zero vectors, 90 when only one is. Undefined (None)
  for a single band.
* RMSE: over every value of every pixel and band.
* ERGAS: (100 / ratio) sqrt(mean over bands of (RMSE_c / mean_c(x))^2), ratio the ratio of
  the low to the high resolution pixel size (4 for a 4x fusion).
* UIQI (Wang & Bovik's Q): per band over the whole image (one global window),
  4 cov(x, y) mean(x) mean(y) / ((var(x) + var(y)) (mean(x)^2 + mean(y)^2)), then the mean
  over bands. A band whose reference and estimate are the same constant scores 1; any other
  band with a zero denominator scores 0 (its numerator is then zero too).

Moments are accumulated in float64 and merged batch into total with Chan, Golub & LeVeque's
parallel formulas (count, means, second moments and the co-moment of every band). Pixels
with a non-finite value in the reference or the estimate are skipped, so every band sees the
same pixels and one count serves them all. With no pixels every metric is NaN.
"""

from __future__ import annotations

import math

import numpy as np


def band_moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and sum of squared deviations (M2) of (N, C) `values`."""
    mean = values.mean(axis=0)
    return mean, ((values - mean) ** 2).sum(axis=0)


def pixel_angles_deg(reference: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """(N,) angles between the rows of two (N, C) arrays in degrees: 0 between two zero
    vectors, 90 between a zero vector and any other."""
    ref_norm = np.linalg.norm(reference, axis=1)
    est_norm = np.linalg.norm(estimate, axis=1)
    norms = ref_norm * est_norm
    cosine = np.sum(reference * estimate, axis=1) / np.where(norms > 0, norms, 1.0)
    angles = np.degrees(np.arccos(np.clip(cosine, -1.0, 1.0)))  # 90 if either is zero
    return np.where((ref_norm == 0) & (est_norm == 0), 0.0, angles)


def mean_band_psnr_db(band_psnr_db: np.ndarray) -> float:
    """Mean over the bands with a finite PSNR; +inf if none is finite but one is exact."""
    finite = band_psnr_db[np.isfinite(band_psnr_db)]
    if finite.size:
        return float(finite.mean())
    return math.inf if np.any(band_psnr_db == math.inf) else math.nan


class FusionQuality:
    """PSNR, SAM, RMSE, ERGAS and UIQI of an estimated cube against its reference, from
    (N, C) batches of pixels."""

    def __init__(self, n_bands: int) -> None:
        if n_bands < 1:
            raise ValueError(f"n_bands must be at least 1, got {n_bands}")
        self.n_bands = n_bands
        self.pixels = 0
        zeros = np.zeros(n_bands)
        self.reference_mean = zeros.copy()
        self.estimate_mean = zeros.copy()
        self.reference_m2 = zeros.copy()
        self.estimate_m2 = zeros.copy()
        self.comoment = zeros.copy()
        self.squared_error = zeros.copy()
        self.reference_max = np.full(n_bands, -math.inf)
        self.angle_sum_deg = 0.0

    def _valid_pixels(self, reference: np.ndarray,
                      estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both batches as float64, without the pixels with a non-finite value in either."""
        ref = np.asarray(reference, dtype=np.float64)
        est = np.asarray(estimate, dtype=np.float64)
        if ref.shape != est.shape or ref.ndim != 2 or ref.shape[1] != self.n_bands:
            raise ValueError(f"need two (pixels, {self.n_bands}) arrays; got reference "
                             f"{ref.shape} and estimate {est.shape}")
        valid = np.isfinite(ref).all(axis=1) & np.isfinite(est).all(axis=1)
        if valid.all():
            return ref, est
        return ref[valid], est[valid]

    def _merge_moments(self, ref: np.ndarray, est: np.ndarray) -> None:
        """Chan et al.'s pairwise merge of the batch's moments into the running ones."""
        n_a, n_b = self.pixels, len(ref)
        n = n_a + n_b
        ref_mean, ref_m2 = band_moments(ref)
        est_mean, est_m2 = band_moments(est)
        batch_comoment = ((ref - ref_mean) * (est - est_mean)).sum(axis=0)
        ref_delta = ref_mean - self.reference_mean
        est_delta = est_mean - self.estimate_mean
        weight = n_a * n_b / n
        self.reference_m2 += ref_m2 + ref_delta**2 * weight
        self.estimate_m2 += est_m2 + est_delta**2 * weight
        self.comoment += batch_comoment + ref_delta * est_delta * weight
        self.reference_mean += ref_delta * (n_b / n)
        self.estimate_mean += est_delta * (n_b / n)
        self.pixels = n

    def update(self, reference: np.ndarray, estimate: np.ndarray) -> None:
        """Add (N, C) reference spectra and their (N, C) estimates; pixels with a non-finite
        value in either are skipped."""
        ref, est = self._valid_pixels(reference, estimate)
        if len(ref) == 0:
            return
        self._merge_moments(ref, est)
        self.squared_error += ((ref - est) ** 2).sum(axis=0)
        self.reference_max = np.maximum(self.reference_max, ref.max(axis=0))
        if self.n_bands > 1:
            self.angle_sum_deg += float(pixel_angles_deg(ref, est).sum())

    # -- per band ---------------------------------------------------------------------------------
    @property
    def band_rmse(self) -> np.ndarray:
        """(C,) root mean squared error of each band."""
        if not self.pixels:
            return np.full(self.n_bands, math.nan)
        return np.sqrt(self.squared_error / self.pixels)

    @property
    def band_psnr_db(self) -> np.ndarray:
        """(C,) PSNR of each band (peak: the band's reference maximum); inf where exact, NaN
        where the peak is not positive."""
        if not self.pixels:
            return np.full(self.n_bands, math.nan)
        mse = self.squared_error / self.pixels
        peak_squared = np.where(self.reference_max > 0, self.reference_max, math.nan) ** 2
        psnr = 10.0 * np.log10(peak_squared / np.where(mse > 0, mse, 1.0))
        return np.where(mse > 0, psnr, math.inf)

    @property
    def band_uiqi(self) -> np.ndarray:
        """(C,) Wang & Bovik's Q of each band over the whole image."""
        if not self.pixels:
            return np.full(self.n_bands, math.nan)
        mean_x, mean_y = self.reference_mean, self.estimate_mean
        # The moments' common 1/N (or 1/(N-1)) cancels between numerator and denominator.
        numerator = 4.0 * self.comoment * mean_x * mean_y
        denominator = (self.reference_m2 + self.estimate_m2) * (mean_x**2 + mean_y**2)
        q = numerator / np.where(denominator > 0, denominator, 1.0)
        same_constant = ((self.reference_m2 == 0) & (self.estimate_m2 == 0)
                         & (mean_x == mean_y))
        return np.where(same_constant, 1.0, np.where(denominator > 0, q, 0.0))

    # -- whole cube -------------------------------------------------------------------------------
    @property
    def psnr_db(self) -> float:
        return mean_band_psnr_db(self.band_psnr_db) if self.pixels else math.nan

    @property
    def sam_deg(self) -> float | None:
        if self.n_bands == 1:
            return None
        return self.angle_sum_deg / self.pixels if self.pixels else math.nan

    @property
    def rmse(self) -> float:
        if not self.pixels:
            return math.nan
        return math.sqrt(float(self.squared_error.sum()) / (self.pixels * self.n_bands))

    def ergas(self, ratio: float) -> float:
        """ERGAS for a fusion `ratio` (low- over high-resolution pixel size); inf if a band
        with a zero reference mean has an error."""
        if not self.pixels:
            return math.nan
        rmse, mean = self.band_rmse, self.reference_mean
        if np.any((mean == 0) & (rmse > 0)):
            return math.inf
        relative = np.divide(rmse, mean, out=np.zeros(self.n_bands), where=mean != 0)
        return float(100.0 / ratio * math.sqrt(float(np.mean(relative**2))))

    @property
    def uiqi(self) -> float:
        return float(self.band_uiqi.mean()) if self.pixels else math.nan

    def as_dict(self, ratio: float | None = None) -> dict[str, float | int | None]:
        """Every metric by name; ERGAS only when the fusion `ratio` is given."""
        metrics: dict[str, float | int | None] = {
            "psnr_db": self.psnr_db, "sam_deg": self.sam_deg, "rmse": self.rmse,
            "uiqi": self.uiqi, "pixels": self.pixels}
        if ratio is not None:
            metrics["ergas"] = self.ergas(ratio)
        return metrics
