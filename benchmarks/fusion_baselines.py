"""Classical baselines for hyperspectral + multispectral fusion: bicubic upsampling and CNMF.

Bicubic: the low-resolution cube upsampled band by band (torch's bicubic, half-pixel
centres); it ignores the multispectral image and is the floor any fusion must beat.

CNMF: coupled nonnegative matrix factorisation, Yokoya, Yairi & Iwasaki, "Coupled
Nonnegative Matrix Factorization Unmixing for Hyperspectral and Multispectral Data Fusion",
IEEE TGRS 50(2), 528-537, 2012. The low-resolution hyperspectral cube X_h (C, n) and the
multispectral image X_m (M, N) are unmixed alternately into endmembers and abundances,
X_h ~ W_h H_h and X_m ~ W_m H_m, coupled by W_m = S W_h (S the spectral response, (M, C)) and
H_h = degrade(H_m); the fused cube is W_h H_m. Every factor is fitted by Lee & Seung's
multiplicative updates, the abundances' sum-to-one constraint by a row of delta appended to
the data and the endmembers (used by abundance updates only, left out of the error).

Followed: the authors' Python release (Naoto Yokoya, CNMF_fusion / CNMF_init / CNMF_ite,
update 2016/04/01) as kept in github.com/codegaj/py_pansharpening, `methods/CNMF.py`,
checked against the authors' MATLAB release (update 2015/02/10) in
github.com/Danaroth83/Band-Assignment, `Fusion/CNMF/CNMF_fusion.m`, `CNMF_init.m` and
`CNMF_ite.m`. From them: negative inputs set to 0; delta = 2 sqrt(mean(X_m) / 0.7455) / M^3;
W_h initialised by VCA on the low-resolution pixels and H_h by 1/K; HS unmixing (H_h alone
for up to 3 x inner iterations, then W_h and H_h in turn); W_m = S W_h, H_m bilinearly
upsampled from H_h; MS unmixing (H_m alone, then W_m and H_m in turn, W_m only when the MSI
has more than 3 bands); then per outer iteration H_h = degrade(H_m), HS unmixing (W_h
alone, then H_h (only with more than 3 MSI bands) and W_h in turn) and, unless it is the
last, W_m = S W_h and MS unmixing again. An inner loop stops, keeping the factors before the
step, once the relative decrease of its squared error is below 1e-8 (checked from the third
step of the first phase and at every step of the second); the outer loop goes on only while
both the HS and MS RMSE decrease by more than 1e-2 relative, otherwise the result is W_h from
the last HS unmixing times the H_m it was fitted to.

Deviations from the authors' code:

* The spectral response `srf` is given, not estimated from the images by nonnegative least
  squares (estR), so there is no MSI offset removal either.
* The abundances are degraded by the caller's `spatial_degrade` (the benchmark passes the true
  PSF and decimation: a known-PSF advantage for this baseline) instead of the authors'
  Gaussian of FWHM = ratio.
* K = `n_endmembers` (default 30, the authors' min(30, bands) floor) capped at the number of
  bands and of distinct low-resolution spectra, instead of max(min(30, bands), VD estimate).
* VCA is `phism_cli.inversion.endmembers.vca` (SNR threshold 15 + 10 log10 K as in
  Nascimento & Bioucas-Dias) instead of the authors' copy (threshold 15 + 10 ln K + 8).
* On convergence both factors return to their values before the step, as in the MATLAB
  release (the Python release updates W in place, so its rollback keeps the new W).
* Multiplicative-update denominators are kept above the smallest positive float64, where
  the authors' would give 0 / 0.
* The MS unmixing of the last outer iteration is not run: its result is never used.
* Defaults: 200 inner iterations (Python release; MATLAB 100) and up to 3 outer iterations
  (both releases run 1; their comments advise 3-5 for synthetic data, 1-2 for real data).
  For a panchromatic image (M = 1) the authors use 75 inner and 1 outer iteration: pass
  those.
* float64 torch on the CPU (threads as the caller set them; the 1e-8 stopping ratio is
  below float32's resolution); output float32. The result depends on rounding: numpy's
  BLAS thread count moved one synthetic scene's PSNR by 0.08 dB, so fix the threads.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from phism_cli.inversion.endmembers import distinct_pixel_count, vca

Factors = tuple[torch.Tensor, torch.Tensor]  # endmembers (bands + 1, K), abundances (K, N)

INNER_THRESHOLD = 1e-8  # the authors' th_h and th_m
OUTER_THRESHOLD = 1e-2  # the authors' th2
MIN_MS_BANDS = 3  # with this many MSI bands or fewer, W_m and (in HS steps) H_h stay fixed
DELTA_SCALE = 0.7455  # the authors' sum-to-one weight: 2 sqrt(mean(MSI) / 0.7455) / M^3
TINY = torch.finfo(torch.float64).tiny


# -- bicubic --------------------------------------------------------------------------------------
def bicubic_upsample(lowres: np.ndarray, ratio: int) -> np.ndarray:
    """(h, w, C) -> (h * ratio, w * ratio, C) float32 by bicubic interpolation."""
    cube = torch.from_numpy(np.ascontiguousarray(lowres, dtype=np.float32))
    image = cube.permute(2, 0, 1).unsqueeze(0)
    upsampled = torch.nn.functional.interpolate(image, scale_factor=ratio, mode="bicubic",
                                                align_corners=False)
    return upsampled[0].permute(1, 2, 0).contiguous().numpy()


# -- multiplicative updates -----------------------------------------------------------------------
def update_abundances(data: torch.Tensor, endmembers: torch.Tensor,
                      abundances: torch.Tensor) -> torch.Tensor:
    """One multiplicative update of H, the sum-to-one row included."""
    gram = endmembers.T @ endmembers
    return abundances * (endmembers.T @ data) / (gram @ abundances).clamp_min(TINY)


def update_endmembers(data: torch.Tensor, endmembers: torch.Tensor,
                      abundances: torch.Tensor) -> torch.Tensor:
    """One multiplicative update of W's spectral rows; the sum-to-one row is kept."""
    spectral = endmembers[:-1]
    numerator = data[:-1] @ abundances.T
    denominator = (spectral @ (abundances @ abundances.T)).clamp_min(TINY)
    return torch.cat([spectral * numerator / denominator, endmembers[-1:]])


def squared_error(data: torch.Tensor, factors: Factors) -> float:
    """Sum of squared residuals over the spectral rows (not the sum-to-one row)."""
    endmembers, abundances = factors
    return float(((data[:-1] - endmembers[:-1] @ abundances) ** 2).sum())


def relative_decrease(previous: float, current: float) -> float:
    """(previous - current) / current, the authors' change ratio; inf where current is 0
    and previous is not, 0 where both are."""
    if current > 0:
        return (previous - current) / current
    return math.inf if previous > 0 else 0.0


def improved(previous: float, current: float) -> bool:
    """Whether an outer iteration lowered an RMSE by more than OUTER_THRESHOLD relative."""
    return previous > 0 and (previous - current) / previous > OUTER_THRESHOLD


def apply_steps(data: torch.Tensor, factors: Factors, steps: tuple[str, ...]) -> Factors:
    """The updates named in `steps` ("W" or "H"), in order."""
    endmembers, abundances = factors
    for step in steps:
        if step == "W":
            endmembers = update_endmembers(data, endmembers, abundances)
        else:
            abundances = update_abundances(data, endmembers, abundances)
    return endmembers, abundances


def nmf_phase(data: torch.Tensor, factors: Factors, steps: tuple[str, ...], iterations: int,
              cost: float, checks_from: int) -> tuple[Factors, float]:
    """Up to `iterations` rounds of `steps`; stops, keeping the factors before the round, once
    the squared error decreases by less than INNER_THRESHOLD relative (checked from round
    `checks_from` on). Returns the factors and their squared error."""
    for i in range(iterations):
        candidate = apply_steps(data, factors, steps)
        candidate_cost = squared_error(data, candidate)
        if i >= checks_from and relative_decrease(cost, candidate_cost) < INNER_THRESHOLD:
            break
        factors, cost = candidate, candidate_cost
    return factors, cost


def unmix(data: torch.Tensor, factors: Factors, first: tuple[str, ...], then: tuple[str, ...],
          first_iterations: int, iterations: int) -> tuple[Factors, float]:
    """The authors' two-phase NMF: `first` alone, then `then` (iterations - 1 rounds)."""
    factors, cost = nmf_phase(data, factors, first, first_iterations, 0.0, checks_from=2)
    return nmf_phase(data, factors, then, iterations - 1, cost, checks_from=0)


def rmse(cost: float, data: torch.Tensor) -> float:
    """RMSE from a squared error over `data`'s spectral rows."""
    return math.sqrt(cost / ((data.shape[0] - 1) * data.shape[1]))


# -- CNMF -----------------------------------------------------------------------------------------
def with_sum_to_one_row(matrix: np.ndarray | torch.Tensor, delta: float) -> torch.Tensor:
    """float64 `matrix` (rows, columns) with a row of `delta` appended."""
    values = torch.as_tensor(matrix, dtype=torch.float64)
    return torch.cat([values, torch.full((1, values.shape[1]), delta, dtype=torch.float64)])


def upsample_abundances(abundances: torch.Tensor, low_shape: tuple[int, int],
                        ratio: int) -> torch.Tensor:
    """(K, h w) -> (K, H W) by bilinear interpolation (half-pixel centres, edges clamped), as
    the authors' zoom_bi."""
    maps = abundances.reshape(1, -1, *low_shape)
    upsampled = torch.nn.functional.interpolate(maps, scale_factor=ratio, mode="bilinear",
                                                align_corners=False)
    return upsampled.reshape(abundances.shape[0], -1).clamp_min(0.0)


def degrade_abundances(abundances: torch.Tensor, high_shape: tuple[int, int],
                       spatial_degrade: Callable[[np.ndarray], np.ndarray],
                       low_shape: tuple[int, int]) -> torch.Tensor:
    """(K, H W) -> (K, h w) through the caller's (H, W, K) -> (h, w, K) operator."""
    maps = abundances.T.reshape(*high_shape, -1).numpy()
    degraded = np.asarray(spatial_degrade(maps), dtype=np.float64)
    if degraded.shape != (*low_shape, abundances.shape[0]):
        raise ValueError(f"spatial_degrade gave shape {degraded.shape}; expected "
                         f"{(*low_shape, abundances.shape[0])}")
    return torch.from_numpy(degraded.reshape(-1, abundances.shape[0]).T.copy())


def check_fusion_inputs(lowres: np.ndarray, msi: np.ndarray, srf: np.ndarray,
                        ratio: int) -> None:
    """Refuse shapes that do not describe one scene at two resolutions."""
    if lowres.ndim != 3 or msi.ndim != 3:
        raise ValueError(f"need (h, w, C) and (H, W, M) cubes; got {lowres.shape}, {msi.shape}")
    h, w, bands = lowres.shape
    if msi.shape[:2] != (h * ratio, w * ratio):
        raise ValueError(f"the MSI is {msi.shape[:2]}; at ratio {ratio} the low-resolution "
                         f"cube {lowres.shape[:2]} needs {(h * ratio, w * ratio)}")
    if srf.shape != (msi.shape[2], bands):
        raise ValueError(f"srf is {srf.shape}; expected (MSI bands, HSI bands) = "
                         f"{(msi.shape[2], bands)}")


def cnmf_fuse(lowres: np.ndarray, msi: np.ndarray, srf: np.ndarray, ratio: int,
              spatial_degrade: Callable[[np.ndarray], np.ndarray], n_endmembers: int = 30,
              outer_iterations: int = 3, inner_iterations: int = 200,
              seed: int = 0) -> np.ndarray:
    """(H, W, C) float32 fusion of the (h, w, C) `lowres` cube and the (H, W, M) `msi` by
    CNMF; `srf` (M, C) maps spectra to MSI bands, `spatial_degrade` maps (H, W, K) to
    (h, w, K)."""
    check_fusion_inputs(lowres, msi, srf, ratio)
    low_shape, high_shape = lowres.shape[:2], msi.shape[:2]
    hyper_pixels = np.clip(lowres.reshape(-1, lowres.shape[2]).astype(np.float64), 0, None)
    multi_pixels = np.clip(msi.reshape(-1, msi.shape[2]).astype(np.float64), 0, None)
    msi_bands = msi.shape[2]
    delta = 2.0 * math.sqrt(multi_pixels.mean() / DELTA_SCALE) / msi_bands**3
    k = min(n_endmembers, hyper_pixels.shape[1], distinct_pixel_count(hyper_pixels))
    hyper = with_sum_to_one_row(hyper_pixels.T, delta)
    multi = with_sum_to_one_row(multi_pixels.T, delta)
    response = torch.from_numpy(np.asarray(srf, dtype=np.float64))
    hs_alternate = ("H", "W") if msi_bands > MIN_MS_BANDS else ("W",)
    ms_alternate = ("W", "H") if msi_bands > MIN_MS_BANDS else ("H",)

    endmembers = with_sum_to_one_row(vca(hyper_pixels, k, seed=seed)[0].T, delta)
    abundances = torch.full((k, hyper.shape[1]), 1.0 / k, dtype=torch.float64)
    (endmembers, abundances), cost_h = unmix(hyper, (endmembers, abundances), ("H",),
                                             ("W", "H"), 3 * inner_iterations,
                                             inner_iterations)
    multi_factors = (with_sum_to_one_row(response @ endmembers[:-1], delta),
                     upsample_abundances(abundances, low_shape, ratio))
    multi_factors, cost_m = unmix(multi, multi_factors, ("H",), ms_alternate,
                                  inner_iterations, inner_iterations)
    rmse_h, rmse_m = rmse(cost_h, hyper), rmse(cost_m, multi)

    for i in range(outer_iterations):
        abundances = degrade_abundances(multi_factors[1], high_shape, spatial_degrade,
                                        low_shape)
        (endmembers, abundances), cost_h = unmix(hyper, (endmembers, abundances), ("W",),
                                                 hs_alternate, inner_iterations,
                                                 inner_iterations)
        if i == outer_iterations - 1:
            break
        coupled = (torch.cat([response @ endmembers[:-1], multi_factors[0][-1:]]),
                   multi_factors[1])
        candidate, cost_m = unmix(multi, coupled, ("H",), ms_alternate, inner_iterations,
                                  inner_iterations)
        new_rmse_h, new_rmse_m = rmse(cost_h, hyper), rmse(cost_m, multi)
        if not (improved(rmse_h, new_rmse_h) and improved(rmse_m, new_rmse_m)):
            break
        multi_factors, rmse_h, rmse_m = candidate, new_rmse_h, new_rmse_m

    fused = endmembers[:-1] @ multi_factors[1]
    return fused.T.reshape(*high_shape, -1).numpy().astype(np.float32)
