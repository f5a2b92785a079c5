"""The PSF estimated from a pair: every shape recovered from an image degraded through it,
a shift measured, patches only where whole and finite."""

from __future__ import annotations

import numpy as np
import pytest

from phism_cli.forward.psf import PSF_SHAPES, make_psf
from phism_cli.inversion.psf_estimation import (
    PsfEstimator,
    block_patches,
    estimate_psf,
    halo_for,
)
from phism_cli.pipeline.degrade import spatial_degrade

RATIO = 4


def texture(height: int = 96, width: int = 96, bands: int = 3, seed: int = 0) -> np.ndarray:
    """White noise: every spatial frequency present, so the PSF is fully determined."""
    return np.random.default_rng(seed).random((height, width, bands))


def estimate(msi: np.ndarray, lowres: np.ndarray):
    """The PSF with the multispectral image as its own response: S the identity."""
    return estimate_psf(lowres, msi, IDENTITY[msi.shape[-1]], RATIO)


class Identity:
    """A spectral response that passes the bands through."""

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        return pixels


IDENTITY = dict.fromkeys(range(1, 8), Identity())


@pytest.mark.parametrize("shape", PSF_SHAPES)
def test_each_shape_is_recovered(shape) -> None:
    psf = make_psf(shape, RATIO)
    x = texture()
    found = estimate(x, spatial_degrade(x, RATIO, psf))
    truth = psf.describe()
    assert found.describe()["fwhm_px"] == pytest.approx(truth["fwhm_px"], abs=0.05)
    assert found.shift_px == pytest.approx((0.0, 0.0), abs=0.01)
    assert found.separable_share > 0.99 and found.relative_rmse < 0.01
    assert found.kernel.sum() == pytest.approx(1.0) and (found.kernel >= 0).all()


def test_noise_moves_the_estimate_little() -> None:
    x = texture(128, 128, 4, seed=1)
    low = spatial_degrade(x, RATIO, make_psf("gaussian", RATIO))
    noisy = low + np.random.default_rng(2).normal(0, 0.02 * low.std(), low.shape)
    found = estimate(x, noisy)
    assert found.describe()["fwhm_px"] == pytest.approx([4.17, 4.17], abs=0.3)
    assert found.relative_rmse > 0.001  # the noise is seen in the fit


def test_a_misregistered_pair_shows_as_a_shift() -> None:
    """The low-res cube sees the scene one row lower and two columns further right than the
    multispectral image says: the PSF centre moves by (+1, +2)."""
    x = texture(100, 100)
    low = spatial_degrade(x[1:97, 2:98], RATIO, make_psf("box", RATIO))
    found = estimate(x[:96, :96], low)
    assert found.shift_px == pytest.approx((1.0, 2.0), abs=0.02)


def test_patches_are_whole_and_finite() -> None:
    x = texture(32, 32, 2)
    x[13, 21, 1] = np.nan
    patches, where = block_patches(x, (0, 0), RATIO, 4, range(8), range(8), (32, 32))
    assert patches.shape[1:] == (2, 12, 12)
    # blocks 1..6 fit their 12-pixel patch (block r: pixels 4r - 4 .. 4r + 7); pixel
    # (13, 21) lies in the patches of block rows 2-4 and columns 4-6
    expected = {(r, c) for r in range(1, 7) for c in range(1, 7)} - {
        (r, c) for r in (2, 3, 4) for c in (4, 5, 6)}
    assert {tuple(w) for w in where} == expected
    np.testing.assert_array_equal(patches[0, :, 4:8, 4:8],
                                  np.moveaxis(x[4:8, 4:8], -1, 0))


def test_batches_add_up_and_too_few_equations_are_refused() -> None:
    x = texture(64, 64)
    low = spatial_degrade(x, RATIO, make_psf("sinc", RATIO))
    patches, where = block_patches(x, (0, 0), RATIO, 4, range(16), range(16), (64, 64))
    seen = low[where[:, 0], where[:, 1]]
    whole, halves = PsfEstimator(RATIO), PsfEstimator(RATIO)
    whole.add(patches, seen)
    halves.add(patches[:50], seen[:50])
    halves.add(patches[50:], seen[50:])
    np.testing.assert_allclose(halves.solve().kernel, whole.solve().kernel, atol=1e-9)
    few = PsfEstimator(RATIO)
    few.add(patches[:10], seen[:10])
    with pytest.raises(ValueError, match="30 equations for a 12 x 12 PSF"):
        few.solve()
    with pytest.raises(ValueError, match="do not match"):
        few.add(patches[:2, :, :10], seen[:2])


def test_the_support_shrinks_to_what_the_pair_can_determine() -> None:
    assert halo_for(4, (24, 24), 4) == 4  # 22 x 22 patches x 4 bands >> 4 x 144
    assert halo_for(4, (6, 6), 4) == 0  # 4 x 4 x 4 = 64 < 4 x 64: the block alone (36 x 4)
    assert halo_for(4, (2, 2), 1) is None
    assert halo_for(16, (100, 100), 4) == 8  # 32 pixels across at most
    assert halo_for(32, (100, 100), 4) == 0 and halo_for(33, (100, 100), 4) is None
    x = texture(24, 24)
    low = spatial_degrade(x, RATIO, make_psf("box", RATIO))
    found = estimate(x, low)  # 6 x 6 low-res pixels: the block's own 16 weights only
    assert found.kernel.shape == (4, 4)
    np.testing.assert_allclose(found.kernel, 1 / 16, atol=1e-6)
    with pytest.raises(ValueError, match="too small to estimate the PSF"):
        estimate(x[:8, :8, :1], low[:2, :2, :1])
