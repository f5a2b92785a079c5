"""Hyperspectral + multispectral fusion through an unmixing bottleneck (SpectraMorph).

The forward model is linear mixing of K endmembers (NMF of the low-resolution cube), seen
through the multispectral sensor's spectral response S. The low-resolution cube's own NMF
abundances, upsampled, are the coarse prior of every high-resolution pixel. Two inversions
of that forward model give the high-resolution abundances from the multispectral pixel:

* `MapFusion` (per-pixel optimisation, in closed form): the abundances that best explain the
  multispectral pixel through S under a Gaussian prior centred on the upsampled low-res
  abundances, whose covariance is measured one level coarser (the low-res abundances
  against themselves averaged over ratio x ratio blocks and upsampled back). The update is
  linear, so it is one (K x M) gain matrix for the whole scene; what NMF does not explain in
  the low-resolution cube is added back upsampled, its sensor noise shrunk first
  (`spatially_coherent_part`).
* `SpectraMorph` (amortised; the paper's): a one-hidden-layer MLP trained self-supervised
  on the low-resolution grid (input: S applied to a low-res pixel; target: that pixel; L1
  loss through the mixing), optionally predicting the correction to the prior's abundances.
  Feeding the network the C-band prior itself was measured to let it memorise the few
  training pixels and extrapolate badly at high resolution.

Both first match each multispectral band's radiometry to S applied to the hyperspectral cube.
No point-spread function is needed anywhere.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from phism_cli.errors import PhismError
from phism_cli.forward.spatial import block_mean, upsample_bilinear
from phism_cli.pixels import valid_mask

if TYPE_CHECKING:
    from phism_cli.forward.response import SpectralResponse

__all__ = ["FUSION_METHODS", "FusionModel", "MapFusion", "NmfUnmixing", "SpectraMorph",
           "fusion_model", "radiometric_gain", "spatially_coherent_part"]


@contextlib.contextmanager
def _quiet_convergence() -> Iterator[None]:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


class NmfUnmixing:
    """Endmembers (K, C) of pixels by non-negative matrix factorisation (values clipped to
    >= 0), each scaled to unit maximum and ordered by share of the total abundance, largest
    first; then non-negative abundances of any pixels on them."""

    def __init__(self, n_endmembers: int, seed: int = 0, max_iter: int = 300,
                 tol: float = 1e-3) -> None:
        self.n_endmembers = n_endmembers
        self.seed = seed
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, pixels: np.ndarray) -> NmfUnmixing:
        from sklearn.decomposition import NMF

        self.nmf_ = NMF(n_components=self.n_endmembers, init="nndsvda", max_iter=self.max_iter,
                        random_state=self.seed, tol=self.tol)
        with _quiet_convergence():
            weights = self.nmf_.fit_transform(np.clip(pixels, 0.0, None).astype(np.float64))
        peak = self.nmf_.components_.max(axis=1)
        self.peak_ = np.where(peak > 0, peak, 1.0)
        self.order_ = np.argsort(-(weights * self.peak_).sum(axis=0), kind="stable")
        self.endmembers_ = (self.nmf_.components_ / self.peak_[:, None])[self.order_]
        return self

    def transform(self, pixels: np.ndarray) -> np.ndarray:
        """(N, C) -> (N, K) abundances on `endmembers_`."""
        with _quiet_convergence():
            weights = self.nmf_.transform(np.clip(pixels, 0.0, None).astype(np.float64))
        return (weights * self.peak_)[:, self.order_]


class FusionModel:
    """What both inversions share: endmembers, the low-resolution abundances (the prior),
    radiometric matching. `fit(lowres, response, ratio, msi_lowres)` learns from the
    low-resolution grid; `prior_window` and `detail_window` give a high-resolution window's
    prior abundances and upsampled NMF residual; `transform(msi, prior)` the abundances and
    `mix` their spectra. Fitted state lives in attributes ending in `_`."""

    uses_detail = False  # whether fused = mix(abundances) + detail_window(...)
    # `n_endmembers` None: DEFAULT_ENDMEMBERS, fewer when the cube has fewer bands or pixels

    def __init__(self, n_endmembers: int | None = None, nmf_pixels: int = 50_000,
                 seed: int = 0) -> None:
        self.n_endmembers = n_endmembers
        self.nmf_pixels = nmf_pixels
        self.seed = seed

    @property
    def uses_prior(self) -> bool:
        return True

    def fit(self, lowres: np.ndarray, response: SpectralResponse, ratio: int,
            msi_lowres: np.ndarray | None = None) -> FusionModel:
        """`lowres` (h, w, C): the low-resolution cube, NaN where invalid; `ratio`: how many
        times finer the multispectral grid is; `msi_lowres` (h, w, M): the multispectral image
        averaged over ratio x ratio blocks, to match its radiometry to the response applied to
        the hyperspectral cube (None: taken as matched)."""
        start = time.perf_counter()
        self.ratio_ = ratio
        self.response_ = response
        rng = np.random.default_rng(self.seed)
        valid = valid_mask(lowres)
        pixels = np.asarray(lowres[valid], dtype=np.float64)
        self._check_fit_input(pixels, response)
        self.n_endmembers_ = self.n_endmembers or min(DEFAULT_ENDMEMBERS, *pixels.shape)
        self.msi_gain_ = np.ones(response.n_bands)
        if msi_lowres is not None:
            self.msi_gain_ = radiometric_gain(lowres, msi_lowres, response)
        self.scale_ = float(np.mean(np.abs(pixels))) or 1.0
        unmixing = NmfUnmixing(self.n_endmembers_, self.seed).fit(
            _subset(pixels, self.nmf_pixels, rng) / self.scale_)
        self.endmembers_ = unmixing.endmembers_ * self.scale_
        abundances = np.full((*valid.shape, self.n_endmembers_), np.nan, dtype=np.float32)
        abundances[valid] = unmixing.transform(pixels / self.scale_)
        self.lowres_abundances_ = abundances
        if self.uses_detail:
            detail = np.full(lowres.shape, np.nan, dtype=np.float32)
            detail[valid] = pixels - self.mix(abundances[valid])
            self.lowres_detail_, self.detail_gains_ = spatially_coherent_part(detail)
        coarse = block_mean(abundances, ratio, ignore_nan=True)
        coarse_prior = upsample_bilinear(coarse, ratio, (0, valid.shape[0]),
                                         (0, valid.shape[1]))[valid].astype(np.float64)
        keep = np.isfinite(coarse_prior).all(axis=1)
        self.nmf_seconds_ = time.perf_counter() - start
        self._fit_inversion(pixels[keep], abundances[valid][keep].astype(np.float64),
                            coarse_prior[keep], rng)
        self.train_seconds_ = time.perf_counter() - start
        return self

    def _fit_inversion(self, pixels: np.ndarray, abundances: np.ndarray,
                       coarse_prior: np.ndarray, rng: np.random.Generator) -> None:
        """Learn the inversion from low-res pixels (N, C), their abundances (N, K) and the
        prior one level coarser (N, K)."""
        raise NotImplementedError

    def matched(self, msi: np.ndarray) -> np.ndarray:
        """Multispectral pixels (N, M) in the radiometry of the response-applied cube."""
        return np.asarray(msi, dtype=np.float64) * self.msi_gain_

    def _check_fit_input(self, pixels: np.ndarray, response: SpectralResponse) -> None:
        n_pixels, n_bands = pixels.shape
        if response.n_input != n_bands:
            raise PhismError(f"the spectral response maps {response.n_input} bands but the "
                             f"hyperspectral pixels have {n_bands}")
        if min(n_pixels, n_bands) < 2:
            raise PhismError(f"{n_pixels} valid low-resolution pixels of {n_bands} bands: "
                             "fusion needs at least 2 of each")
        if self.n_endmembers is None:
            return
        if not 2 <= self.n_endmembers <= n_bands:
            raise PhismError(f"--endmembers {self.n_endmembers}: use 2 to {n_bands} (the "
                             "hyperspectral band count)")
        if n_pixels < self.n_endmembers:
            raise PhismError(f"only {n_pixels} valid low-resolution pixels to learn "
                             f"{self.n_endmembers} endmembers from; use fewer --endmembers")

    # -- inference ----------------------------------------------------------------------------
    def prior_window(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray | None:
        """The prior abundances of high-resolution rows/cols [start, stop): the low-resolution
        abundances upsampled (None when the inversion uses no prior)."""
        if not self.uses_prior:
            return None
        return upsample_bilinear(self.lowres_abundances_, self.ratio_, rows, cols,
                                 ignore_nan=True)

    def detail_window(self, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray | None:
        """What NMF leaves unexplained in the low-res cube, upsampled (None when not used)."""
        if not self.uses_detail:
            return None
        return upsample_bilinear(self.lowres_detail_, self.ratio_, rows, cols, ignore_nan=True)

    def transform(self, msi: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        """(N, M) multispectral pixels (+ their (N, K) prior) -> (N, K) abundances (float32)."""
        raise NotImplementedError

    def mix(self, abundances: np.ndarray) -> np.ndarray:
        """(N, K) abundances -> (N, C) spectra in the input's units (float32)."""
        return (np.asarray(abundances, dtype=np.float64) @ self.endmembers_).astype(np.float32)


class MapFusion(FusionModel):
    """Maximum a posteriori abundances of each pixel: the prior (upsampled low-res abundances,
    covariance measured one level coarser) updated by the multispectral pixel through S,
    with the misfit NMF leaves in S-space as noise. One gain matrix for all pixels."""

    uses_detail = True

    def __init__(self, n_endmembers: int | None = None, nmf_pixels: int = 50_000,
                 seed: int = 0) -> None:
        super().__init__(n_endmembers, nmf_pixels, seed)

    def _fit_inversion(self, pixels: np.ndarray, abundances: np.ndarray,
                       coarse_prior: np.ndarray, rng: np.random.Generator) -> None:
        difference = abundances - coarse_prior
        covariance = difference.T @ difference / max(len(difference), 1)
        covariance += 1e-9 * max(np.trace(covariance), 1e-30) * np.eye(self.n_endmembers_)
        seen = self.response_.matrix @ self.endmembers_.T  # (M, K): endmembers through S
        misfit = self.response_.apply(pixels) - abundances @ seen.T
        noise = np.diag(misfit.var(axis=0) + 1e-12 * float(np.mean(seen**2)))
        innovation = seen @ covariance @ seen.T + noise
        self.gain_ = covariance @ seen.T @ np.linalg.inv(innovation)  # (K, M)
        self.seen_endmembers_ = seen

    def transform(self, msi: np.ndarray, prior: np.ndarray | None = None) -> np.ndarray:
        if prior is None:
            raise PhismError("map fusion needs the prior abundances of the pixels")
        prior = np.asarray(prior, dtype=np.float64)
        innovation = self.matched(msi) - prior @ self.seen_endmembers_.T
        return (prior + innovation @ self.gain_.T).astype(np.float32)


class SpectraMorph(FusionModel):
    """The paper's amortised inversion: an MLP from the multispectral pixel (and, with
    `prior`, what the prior misses in it) to abundances (the prior's plus a correction)."""

    def __init__(self, n_endmembers: int | None = None, prior: bool = True,
                 hidden_units: int = 1024, steps: int = 2000, batch_size: int = 512,
                 learning_rate: float = 1e-3,
                 nmf_pixels: int = 50_000, max_pixels: int = 200_000, seed: int = 0,
                 device: str = "cpu") -> None:
        super().__init__(n_endmembers, nmf_pixels, seed)
        self.prior = prior
        self.hidden_units = hidden_units
        self.steps = steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_pixels = max_pixels
        self.device = device

    @property
    def uses_prior(self) -> bool:
        return self.prior

    def _fit_inversion(self, pixels: np.ndarray, abundances: np.ndarray,
                       coarse_prior: np.ndarray, rng: np.random.Generator) -> None:
        rows = _subset(np.arange(len(pixels)), self.max_pixels, rng)
        pixels = pixels[rows]
        prior = coarse_prior[rows] if self.prior else None
        features = self._features(self.response_.apply(pixels), prior)
        self.feature_mean_ = features.mean(axis=0)
        self.feature_std_ = features.std(axis=0)
        self.feature_std_[self.feature_std_ <= 1e-12 * max(abs(self.feature_mean_).max(), 1)] = 1
        self._train(self._standardise(features), pixels / self.scale_, prior)

    def _features(self, msi: np.ndarray, prior: np.ndarray | None) -> np.ndarray:
        """The network's input: the multispectral pixel and, with a prior, what the prior's
        spectrum misses in it."""
        msi = np.asarray(msi, dtype=np.float64)
        if prior is None:
            return msi
        return np.concatenate([msi, msi - self.response_.apply(self.mix(prior))], axis=1)

    def _standardise(self, features: np.ndarray) -> np.ndarray:
        return ((features - self.feature_mean_) / self.feature_std_).astype(np.float32)

    def _train(self, features: np.ndarray, target: np.ndarray, prior: np.ndarray | None) -> None:
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        device = torch.device(self.device)
        self.network_ = nn.Sequential(
            nn.Linear(features.shape[1], self.hidden_units), nn.ReLU(),
            nn.Linear(self.hidden_units, self.n_endmembers_),
            *([] if self.prior else [nn.Softplus()]),
        ).to(device)
        endmembers = torch.as_tensor(self.endmembers_ / self.scale_, dtype=torch.float32,
                                     device=device)
        x = torch.as_tensor(features, device=device)
        y = torch.as_tensor(target, dtype=torch.float32, device=device)
        base = None if prior is None else torch.as_tensor(prior, dtype=torch.float32,
                                                          device=device)
        optimiser = torch.optim.Adam(self.network_.parameters(), lr=self.learning_rate)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=self.learning_rate,
                                                       total_steps=self.steps)
        batch = min(self.batch_size, len(x))
        self.history_: list[float] = []
        for _ in range(self.steps):
            rows = torch.randint(0, len(x), (batch,), generator=generator).to(device)
            optimiser.zero_grad(set_to_none=True)
            abundances = self.network_(x[rows])
            if base is not None:
                abundances = abundances + base[rows]
            loss = (abundances @ endmembers - y[rows]).abs().mean()
            loss.backward()
            optimiser.step()
            schedule.step()
            self.history_.append(float(loss.detach()))
        self.network_.eval()

    @torch.inference_mode()
    def transform(self, msi: np.ndarray, prior: np.ndarray | None = None,
                  batch_size: int = 65536) -> np.ndarray:
        """With the prior the abundances are the prior's plus the network's correction, and
        may be slightly negative."""
        if self.prior and prior is None:
            raise PhismError("this fusion was trained with the coarse prior; give it")
        features = self._standardise(self._features(self.matched(msi), prior))
        out = np.empty((len(features), self.n_endmembers_), dtype=np.float32)
        for start in range(0, len(features), batch_size):
            batch = torch.as_tensor(features[start:start + batch_size], device=self.device)
            out[start:start + batch_size] = self.network_(batch).float().cpu().numpy()
        return out if prior is None else out + prior


FUSION_METHODS = ("map", "net")
DEFAULT_ENDMEMBERS = 20  # unless the low-res cube has fewer bands or valid pixels


def fusion_model(method: str, n_endmembers: int | None = None, **network: Any) -> FusionModel:
    """The inversion `method` names ("map" or "net"); `network` options go to SpectraMorph."""
    if method == "map":
        return MapFusion(n_endmembers, seed=network.get("seed", 0))
    if method == "net":
        return SpectraMorph(n_endmembers, **network)
    raise PhismError(f"fusion method {method!r} is unknown; use {' or '.join(FUSION_METHODS)}")


def radiometric_gain(lowres: np.ndarray, msi_lowres: np.ndarray,
                     response: SpectralResponse) -> np.ndarray:
    """Per multispectral band, the gain that gives its block means `msi_lowres` (h, w, M) the
    mean of the response applied to the hyperspectral cube `lowres` (h, w, C), where both are
    valid (1 where a band cannot be matched): real pairs come from two sensors with their own
    calibration. Means only, because the hyperspectral sensor's unknown blur lowers its spread
    but not its mean (matching spreads too made the gain about 0.7 on blurred, perfectly
    calibrated pairs)."""
    both = valid_mask(lowres) & valid_mask(msi_lowres)
    if not both.any():
        return np.ones(response.n_bands)
    seen = response.apply(np.asarray(lowres[both], dtype=np.float64)).mean(axis=0)
    measured = np.asarray(msi_lowres[both], dtype=np.float64).mean(axis=0)
    usable = (measured != 0) & (np.sign(measured) == np.sign(seen))
    return np.where(usable, seen / np.where(usable, measured, 1.0), 1.0)


def spatially_coherent_part(cube: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`cube` (h, w, C; NaN where invalid) with each principal component (uncentred, over
    the valid pixels) scaled by its image's lag-1 spatial autocorrelation clipped to [0, 1],
    and those gains (C,), largest component first.

    For a component made of a smooth image plus white noise the lag-1 autocorrelation is the
    signal's share of its power, the Wiener gain, so this keeps what varies smoothly across
    pixels (detail worth upsampling) and shrinks the sensor noise, which upsampling would
    otherwise copy into every fine pixel. A cube with no two valid neighbours is returned
    as it is (gains of 1)."""
    valid = np.isfinite(cube).all(axis=-1)  # a residual of exactly 0 is valid: not valid_mask
    n_bands = cube.shape[-1]
    if not ((valid[1:] & valid[:-1]).any() or (valid[:, 1:] & valid[:, :-1]).any()):
        return cube, np.ones(n_bands)
    # float32 images, float64 sums row by row: the detail cube is the size of the low-res
    # cube, so its copies are what this costs in memory.
    scores = np.where(valid[..., None], cube, 0.0).astype(np.float32)
    covariance = np.zeros((n_bands, n_bands))
    for row in scores:
        covariance += row.T.astype(np.float64) @ row
    _, vectors = np.linalg.eigh(covariance)
    vectors = vectors[:, ::-1]  # largest first
    scores = scores @ vectors.astype(np.float32)
    gains = np.clip(_lag_one_correlation(scores, valid), 0.0, 1.0)
    scores *= gains.astype(np.float32)
    kept = scores @ vectors.T.astype(np.float32)
    kept[~valid] = np.nan
    return kept.astype(cube.dtype, copy=False), gains


def _lag_one_correlation(images: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Per channel of `images` (h, w, K), the uncentred correlation of each valid pixel with
    its valid lower and right neighbours (the two directions pooled)."""
    n = images.shape[-1]
    products, powers = np.zeros(n), np.zeros(n)
    for axis in (0, 1):
        sums = np.zeros((3, n))  # a*b, a*a, b*b
        for i in range(images.shape[0] - (axis == 0)):
            if axis == 0:
                a, b, both = images[i + 1], images[i], valid[i + 1] & valid[i]
            else:
                a, b, both = images[i, 1:], images[i, :-1], valid[i, 1:] & valid[i, :-1]
            a, b = a[both].astype(np.float64), b[both].astype(np.float64)
            sums += [(a * b).sum(axis=0), (a * a).sum(axis=0), (b * b).sum(axis=0)]
        products += sums[0]
        powers += np.sqrt(sums[1] * sums[2])
    return products / np.where(powers > 0, powers, 1.0)


def _subset(values: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """At most `count` of `values`' rows, chosen at random, in their original order."""
    if len(values) <= count:
        return values
    return values[np.sort(rng.choice(len(values), count, replace=False))]
