"""`PcaEncoder`: principal component analysis with the surface of `PhismEncoder`.

The linear baseline PhISM's latents are compared with: per pixel, the scores of the first N
principal components of the training pixels, in the input's units. Its decoder is the
parameter-free `LinearRenderer` (scores @ loadings + band mean), whose loadings travel with
every latent map, so `render` needs no model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from phism_cli.model.estimator import FittedAxisMixin, PhismEncoder, TrainingSummary, psnr_db
from phism_cli.model.preprocessing import BandScaler
from phism_cli.model.renderer import LinearRenderer, SpectralAxis

PCA_DECODER = "pca"


class PcaEncoder(FittedAxisMixin):
    """Fit on (N, C) spectra; `transform` gives (N, n_components) principal-component scores.

    PCA (scikit-learn, full SVD) of the mean-centred training pixels, in the input's units:
    no scaling (`scaler_.scale_` is 1), so a score is the centred spectrum's projection on a
    unit-length loading vector, in the input's units. 10 % of the pixels (`val_fraction`)
    are held out and only score the fit: `training_.val_psnr_db`, and `training_.val_loss`
    as their mean squared error in the input's units. At most one component per band may
    be asked for; fewer training pixels than components cap `n_components_` at their
    number. `device` is accepted for the shared command line and ignored: PCA runs on the
    CPU with numpy.
    """

    decoder = PCA_DECODER
    epochs = 0  # closed form: no training epochs
    PARAMS = ("n_components", "val_fraction", "seed", "device", "decoder")

    def __init__(self, n_components: int = 5, val_fraction: float = 0.1, seed: int = 0,
                 device: str = "auto", decoder: str = PCA_DECODER) -> None:
        if decoder != PCA_DECODER:
            raise ValueError(f"PcaEncoder's decoder is {PCA_DECODER!r}, not {decoder!r}")
        if isinstance(n_components, bool) or not isinstance(n_components, int) or \
                n_components < 1:
            raise ValueError(f"n_components {n_components!r}: give a whole number of at "
                             "least 1")
        if not (isinstance(val_fraction, int | float) and 0 < val_fraction < 1):
            raise ValueError(f"val_fraction {val_fraction!r}: give a number between 0 and 1")
        self.n_components = n_components
        self.val_fraction = val_fraction
        self.seed = seed
        self.device = device

    def get_params(self) -> dict[str, Any]:
        return {"n_components": self.n_components, "val_fraction": self.val_fraction,
                "seed": self.seed, "device": self.device, "decoder": self.decoder}

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> PcaEncoder:
        """An unfitted encoder from stored settings, ignoring those of other encoders."""
        return cls(**{k: v for k, v in params.items() if k in cls.PARAMS})

    # -- fitted state ---------------------------------------------------------------------
    def _set_fitted(self, components: np.ndarray, band_mean: np.ndarray,
                    band_scale: np.ndarray, axis: SpectralAxis) -> None:
        self.components_ = np.ascontiguousarray(components, dtype=np.float32)
        self.n_components_, self.n_bands_ = self.components_.shape
        self.scaler_ = BandScaler("global")
        self.scaler_.mean_ = np.asarray(band_mean, dtype=np.float32)
        self.scaler_.scale_ = np.asarray(band_scale, dtype=np.float32)
        self.axis_ = axis

    @property
    def renderer_(self) -> LinearRenderer:
        return LinearRenderer(self.components_, self.axis_, self.scaler_.mean_,
                              self.scaler_.scale_)

    # -- fitting --------------------------------------------------------------------------
    def fit(self, pixels: np.ndarray, wavelength_nm: np.ndarray | None = None,
            on_epoch: Callable[[int, float, float], None] | None = None,
            fwhm_nm: np.ndarray | None = None) -> PcaEncoder:
        """Fit on 90 % of `pixels` (N, C); `on_epoch` is accepted and never called."""
        from sklearn.decomposition import PCA

        pixels = np.asarray(pixels, dtype=np.float32)
        if pixels.ndim != 2 or pixels.shape[0] < 20:
            raise ValueError(f"need at least 20 valid pixels to fit, got {pixels.shape[0]}")
        n_bands = pixels.shape[1]
        if self.n_components > n_bands:
            raise ValueError(f"asked for {self.n_components} principal components but the "
                             f"spectra have {n_bands} bands; give --components/-k {n_bands} "
                             "or fewer")
        self._set_fwhm(fwhm_nm, n_bands)
        start = time.perf_counter()
        order = np.random.default_rng(self.seed).permutation(pixels.shape[0])
        n_val = max(1, round(self.val_fraction * pixels.shape[0]))
        val_idx, train_idx = order[:n_val], order[n_val:]
        train = pixels[train_idx].astype(np.float64)
        pca = PCA(n_components=min(self.n_components, len(train_idx)), svd_solver="full",
                  random_state=self.seed).fit(train)
        del train
        self._set_fitted(pca.components_, pca.mean_, np.ones(n_bands),
                         SpectralAxis.from_wavelengths(wavelength_nm, n_bands))
        val = pixels[val_idx]
        recon = self.inverse_transform(self.transform(val))
        self.training_ = TrainingSummary(
            epochs=0, best_epoch=0, train_pixels=len(train_idx), val_pixels=n_val,
            val_loss=float(np.mean((val.astype(np.float64) - recon) ** 2)),
            val_psnr_db=psnr_db(val, recon), seconds=time.perf_counter() - start)
        return self

    # -- using ----------------------------------------------------------------------------
    @property
    def linear_terms(self) -> int:
        """Scores per pixel; each needs a band of its own."""
        return self.n_components

    def to(self, device: object) -> PcaEncoder:
        """Nothing to move: PCA runs on the CPU."""
        return self

    def transform(self, pixels: np.ndarray, batch_size: int | None = None,
                  precision: str | None = None) -> np.ndarray:
        """(N, C) spectra in the input's units -> (N, n_components) scores, float32.
        `batch_size` None: 16384; `precision` is accepted and ignored (always float64)."""
        batch_size = batch_size or 16384
        mean = self.scaler_.mean_.astype(np.float64)
        scale = self.scaler_.scale_.astype(np.float64)
        loadings = self.components_.astype(np.float64).T
        out = np.empty((pixels.shape[0], self.n_components_), dtype=np.float32)
        for first in range(0, pixels.shape[0], batch_size):
            batch = np.asarray(pixels[first:first + batch_size], dtype=np.float64)
            out[first:first + batch_size] = ((batch - mean) / scale) @ loadings
        return out

    def inverse_transform(self, latent: np.ndarray) -> np.ndarray:
        return self.renderer_.render(latent)


# Either encoder, as fit-encoder, encode and the checkpoint functions take it.
Encoder = PhismEncoder | PcaEncoder

__all__ = ["PCA_DECODER", "Encoder", "PcaEncoder"]
