"""SpectraMorph on a synthetic scene built from known endmembers and abundances."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phism_cli.errors import PhismError
from phism_cli.forward.response import gaussian_response
from phism_cli.forward.spatial import upsample_bilinear
from phism_cli.inversion.fusion import (
    FUSION_METHODS,
    FusionModel,
    MapFusion,
    NmfUnmixing,
    SpectraMorph,
    fusion_model,
    spatially_coherent_part,
)
from phism_cli.pipeline.degrade import spatial_degrade
from phism_cli.pipeline.quality import FusionQuality

WAVELENGTH_NM = np.linspace(400.0, 1000.0, 60)
RATIO = 4


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def synthetic_scene(size: int = 64, n_materials: int = 4, seed: int = 0
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W, C) cube = abundances (H, W, K) @ endmembers (K, C); sharp-edged abundances (a
    few fields with straight boundaries) so that upsampling alone cannot recover them."""
    rng = np.random.default_rng(seed)
    centres = np.linspace(450, 950, n_materials)
    endmembers = 0.2 + 0.6 * np.exp(-0.5 * ((WAVELENGTH_NM[None] - centres[:, None]) / 60) ** 2)
    rows, cols = np.mgrid[0:size, 0:size]
    logits = np.zeros((size, size, n_materials))
    for k in range(n_materials):
        for _ in range(3):
            a, b, c = rng.normal(size=3)
            logits[..., k] += 4 * (a * rows / size + b * cols / size + 0.3 * c > 0)
    abundances = np.exp(logits)
    abundances /= abundances.sum(axis=-1, keepdims=True)
    return (abundances @ endmembers).astype(np.float32), abundances, endmembers


def wald_pair(cube: np.ndarray, n_msi: int = 4):
    centres = np.linspace(520, 880, n_msi) if n_msi > 1 else np.array([700.0])
    fwhm = np.full(n_msi, 100.0 if n_msi > 1 else 300.0)
    response = gaussian_response(centres, fwhm, [f"b{i}" for i in range(n_msi)],
                                 WAVELENGTH_NM)
    return spatial_degrade(cube, RATIO, 0.0), response.apply(cube), response


def fuse(model: FusionModel, msi: np.ndarray) -> np.ndarray:
    height, width, _ = msi.shape
    prior = model.prior_window((0, height), (0, width))
    abundances = model.transform(msi.reshape(height * width, -1),
                                 None if prior is None else prior.reshape(height * width, -1))
    fused = model.mix(abundances).reshape(height, width, -1)
    detail = model.detail_window((0, height), (0, width))
    return fused if detail is None else fused + detail


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    quality = FusionQuality(reference.shape[-1])
    quality.update(reference.reshape(-1, reference.shape[-1]),
                   estimate.reshape(-1, reference.shape[-1]))
    return quality.psnr_db


NETWORK = {"hidden_units": 128, "steps": 800, "seed": 0}


@pytest.mark.parametrize("method, prior", [("map", True), ("net", True), ("net", False)])
def test_fusion_recovers_a_synthetic_scene_better_than_upsampling(method, prior):
    cube, _, _ = synthetic_scene()
    lowres, msi, response = wald_pair(cube)
    options = {"prior": prior, **NETWORK} if method == "net" else {}
    model = fusion_model(method, 4, **options).fit(lowres, response, RATIO)
    fused = fuse(model, msi)
    upsampled = upsample_bilinear(lowres, RATIO, (0, 64), (0, 64))
    # Stated tolerance: 30 dB band-mean PSNR, and at least 5 dB better than upsampling.
    assert psnr(cube, fused) > 30.0
    assert psnr(cube, fused) > psnr(cube, upsampled) + 5.0


@pytest.mark.parametrize("method", FUSION_METHODS)
def test_fusion_with_a_single_band_beats_upsampling(method):
    cube, _, _ = synthetic_scene(seed=1)
    lowres, pan, response = wald_pair(cube, n_msi=1)
    model = fusion_model(method, 4, **(NETWORK if method == "net" else {}))
    fused = fuse(model.fit(lowres, response, RATIO), pan)
    upsampled = upsample_bilinear(lowres, RATIO, (0, 64), (0, 64))
    assert psnr(cube, fused) > psnr(cube, upsampled) + 1.0


def test_fusion_is_deterministic_for_a_seed():
    cube, _, _ = synthetic_scene(size=32)
    lowres, msi, response = wald_pair(cube)
    runs = [fuse(SpectraMorph(n_endmembers=3, hidden_units=32, steps=50, seed=3)
                 .fit(lowres, response, RATIO), msi) for _ in range(2)]
    np.testing.assert_array_equal(runs[0], runs[1])


def test_map_fusion_agrees_with_the_multispectral_pixels():
    """Without noise the update explains each multispectral pixel through the response."""
    cube, _, _ = synthetic_scene(seed=2)
    lowres, msi, response = wald_pair(cube)
    model = MapFusion(4).fit(lowres, response, RATIO)
    prior = model.prior_window((0, 64), (0, 64)).reshape(-1, 4)
    abundances = model.transform(msi.reshape(-1, 4), prior)
    seen = response.apply(model.mix(abundances))
    before = np.abs(response.apply(model.mix(prior)) - msi.reshape(-1, 4)).mean()
    after = np.abs(seen - msi.reshape(-1, 4)).mean()
    assert after < 0.2 * before


def test_radiometric_matching_undoes_a_gain():
    cube, _, _ = synthetic_scene(size=32, seed=3)
    lowres, msi, response = wald_pair(cube)
    recalibrated = 2.0 * msi
    model = MapFusion(4).fit(lowres, response, RATIO, spatial_degrade(recalibrated, RATIO, 0))
    np.testing.assert_allclose(model.msi_gain_, 0.5, rtol=0.05)
    np.testing.assert_allclose(model.matched(recalibrated.reshape(-1, 4)),
                               msi.reshape(-1, 4), atol=0.05 * float(msi.mean()))


def test_nodata_low_resolution_pixels_are_left_out_of_training():
    cube, _, _ = synthetic_scene(size=32)
    lowres, _, response = wald_pair(cube)
    lowres[0, 0] = np.nan
    model = MapFusion(n_endmembers=3).fit(lowres, response, RATIO)
    assert np.isnan(model.lowres_abundances_[0, 0]).all()
    assert np.isfinite(model.lowres_abundances_[1:]).all()


def test_nmf_endmembers_reconstruct_the_scene():
    cube, _, _ = synthetic_scene(size=48)
    pixels = cube.reshape(-1, cube.shape[-1])
    unmixing = NmfUnmixing(4, seed=0).fit(pixels)
    assert unmixing.endmembers_.shape == (4, len(WAVELENGTH_NM))
    np.testing.assert_allclose(unmixing.endmembers_.max(axis=1), 1.0)
    reconstruction = unmixing.transform(pixels) @ unmixing.endmembers_
    assert np.abs(reconstruction - pixels).mean() < 0.01 * pixels.mean()
    assert (unmixing.transform(pixels) >= 0).all()


def test_more_endmembers_than_bands_refused():
    cube, _, _ = synthetic_scene(size=16)
    lowres, _, response = wald_pair(cube)
    with pytest.raises(PhismError, match="--endmembers 61"):
        SpectraMorph(n_endmembers=61).fit(lowres, response, RATIO)


def test_method_names_match_the_command_line():
    from phism_cli.cli.fuse import METHOD_NAMES

    assert tuple(METHOD_NAMES) == FUSION_METHODS
    with pytest.raises(PhismError, match="unknown"):
        fusion_model("cnmf")


def smooth_cube_with_noise(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A rank-3 cube of smooth images (40 x 30 x 50) and the same plus white noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:40, 0:30] / 10.0
    images = np.stack([np.sin(rows) * np.cos(cols), np.cos(0.7 * rows + 0.3 * cols),
                       np.sin(0.5 * cols) + 0.2 * rows], axis=-1)
    spectra = rng.normal(size=(3, 50))
    clean = images @ spectra
    noisy = clean + 0.3 * rng.normal(size=clean.shape)
    return clean.astype(np.float32), noisy.astype(np.float32)


def test_spatially_coherent_part_keeps_smooth_images_and_shrinks_white_noise():
    clean, noisy = smooth_cube_with_noise()
    kept, gains = spatially_coherent_part(noisy)
    before = np.sqrt(np.mean((noisy - clean) ** 2))
    after = np.sqrt(np.mean((kept - clean) ** 2))
    assert after < 0.3 * before
    assert gains.shape == (50,)
    assert (gains[:3] > 0.9).all()  # the three smooth components pass
    assert np.median(gains[3:]) < 0.1  # pure-noise components are shrunk


def test_spatially_coherent_part_leaves_invalid_pixels_invalid():
    clean, noisy = smooth_cube_with_noise()
    noisy[5, 7] = np.nan
    noisy[:, 0] = np.nan
    kept, _ = spatially_coherent_part(noisy)
    assert np.isnan(kept[5, 7]).all() and np.isnan(kept[:, 0]).all()
    valid = ~np.isnan(noisy).any(axis=-1)
    assert np.isfinite(kept[valid]).all()
    assert np.sqrt(np.mean((kept[valid] - clean[valid]) ** 2)) < \
        0.3 * np.sqrt(np.mean((noisy[valid] - clean[valid]) ** 2))


def test_spatially_coherent_part_keeps_a_residual_of_exactly_zero_valid():
    _, noisy = smooth_cube_with_noise()
    noisy[3, 4] = 0.0  # a pixel NMF fits exactly: a value, not nodata
    kept, _ = spatially_coherent_part(noisy)
    assert np.isfinite(kept).all()


def test_spatially_coherent_part_without_neighbours_returns_the_cube():
    cube = np.full((3, 3, 4), np.nan, dtype=np.float32)
    cube[0, 0] = [1, 2, 3, 4]
    cube[2, 2] = [4, 3, 2, 1]
    kept, gains = spatially_coherent_part(cube)
    np.testing.assert_array_equal(kept, cube)
    np.testing.assert_array_equal(gains, 1.0)


def test_map_fusion_detail_is_denoised_before_upsampling():
    cube, _, _ = synthetic_scene()
    lowres, msi, response = wald_pair(cube)
    rng = np.random.default_rng(1)
    noisy = lowres + 0.01 * rng.normal(size=lowres.shape).astype(np.float32)
    model = MapFusion(n_endmembers=3).fit(noisy, response, RATIO)
    raw = noisy - model.mix(model.lowres_abundances_.reshape(-1, 3)).reshape(noisy.shape)
    assert np.abs(model.lowres_detail_).mean() < 0.5 * np.abs(raw).mean()
    assert psnr(cube, fuse(model, msi)) > psnr(cube, upsample_bilinear(
        noisy, RATIO, (0, cube.shape[0]), (0, cube.shape[1])))
