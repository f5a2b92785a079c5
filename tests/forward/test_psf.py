"""Point-spread functions: every shape centred on its block, normalised, of the asked width."""

from __future__ import annotations

import numpy as np
import pytest

from phism_cli.forward.psf import (
    PSF_SHAPES,
    Kernel1D,
    as_psf,
    box_kernel,
    default_gaussian_sigma,
    gaussian_kernel,
    make_psf,
    sinc_kernel,
)


@pytest.mark.parametrize("shape", PSF_SHAPES)
@pytest.mark.parametrize("ratio", [2, 3, 4, 5])
def test_every_shape_is_centred_on_the_block_and_sums_to_one(shape, ratio) -> None:
    psf = make_psf(shape, ratio)
    for kernel in (psf.rows, psf.cols):
        assert kernel.weights.sum() == pytest.approx(1.0)
        assert (kernel.weights > 0).all()
        assert kernel.centre() == pytest.approx((ratio - 1) / 2)
        assert kernel.offsets.min() >= -psf.halo
        assert kernel.offsets.max() <= ratio - 1 + psf.halo


@pytest.mark.parametrize(("ratio", "sigma"), [(3, 1.2), (4, default_gaussian_sigma(4)), (5, 2.5)])
def test_gaussian_reaches_three_sigma_beyond_the_block(ratio, sigma) -> None:
    kernel = gaussian_kernel(ratio, sigma)
    assert kernel.halo(ratio) == int(np.ceil(3 * sigma))
    second = kernel.weights @ (kernel.offsets - (ratio - 1) / 2) ** 2
    assert np.sqrt(second) == pytest.approx(sigma, rel=0.05)


def test_sigma_zero_and_a_one_block_box_are_the_block_mean() -> None:
    for kernel in (gaussian_kernel(4, 0.0), box_kernel(4)):
        np.testing.assert_array_equal(kernel.offsets, [0, 1, 2, 3])
        np.testing.assert_allclose(kernel.weights, 0.25)
        assert kernel.halo(4) == 0


def test_a_fractional_box_weighs_the_pixels_it_cuts_by_their_share() -> None:
    kernel = box_kernel(4, 1.5)  # 6 pixels wide about 1.5: -1.5 .. 4.5
    np.testing.assert_array_equal(kernel.offsets, [-1, 0, 1, 2, 3, 4])
    np.testing.assert_allclose(kernel.weights, np.array([1, 1, 1, 1, 1, 1]) / 6)
    kernel = box_kernel(3, 1.5)  # 4.5 pixels about 1: -1.25 .. 3.25
    np.testing.assert_allclose(kernel.weights * 4.5, [0.75, 1, 1, 1, 0.75])


def test_sinc_has_its_first_zeros_a_block_from_the_centre() -> None:
    kernel = sinc_kernel(4)  # centre 1.5: zeros at -2.5 and 5.5 fall between pixels
    dense = dict(zip(kernel.offsets.tolist(), kernel.weights, strict=True))
    assert dense[1] == dense[2] == kernel.weights.max()
    assert kernel.halo(4) == 11  # three lobes of 4 pixels about 1.5: pixels -11 .. 14
    sinc2 = sinc_kernel(2)  # centre 0.5: the zeros at -1.5, 2.5 ... are not pixels either
    assert sinc2.weights.min() > 0


def test_fwhm_of_each_shape() -> None:
    assert make_psf("gaussian", 4).describe()["fwhm_px"] == pytest.approx([4.0, 4.0], abs=0.3)
    assert make_psf("box", 4).describe()["fwhm_px"] == [4.0, 4.0]
    assert make_psf("motion", 4).describe()["fwhm_px"] == [4.0, 12.0]
    described = make_psf("motion", 4, length_blocks=2).describe()
    assert described["shape"] == "motion" and described["length_blocks"] == 2.0
    assert described["halo_px"] == 2 and described["centre_px"] == [1.5, 1.5]


def test_parameters_a_shape_does_not_have_are_refused() -> None:
    with pytest.raises(ValueError, match="sinc PSF has no sigma"):
        make_psf("sinc", 4, sigma_px=1.0)
    with pytest.raises(ValueError, match="gaussian PSF has no length"):
        make_psf("gaussian", 4, length_blocks=2.0)
    with pytest.raises(ValueError, match="unknown PSF shape 'airy'"):
        make_psf("airy", 4)
    with pytest.raises(ValueError, match="box length"):
        make_psf("box", 4, length_blocks=0.0)
    with pytest.raises(ValueError, match="whole number"):
        make_psf("box", 0)


def test_a_number_is_a_gaussian_sigma_and_a_psf_must_match_the_ratio() -> None:
    psf = as_psf(1.25, 3)
    assert psf.shape == "gaussian" and psf.parameters == {"sigma_px": 1.25}
    assert as_psf(psf, 3) is psf
    with pytest.raises(ValueError, match="ratio of 3, not 4"):
        as_psf(psf, 4)


def test_kernels_refuse_bad_weights() -> None:
    with pytest.raises(ValueError, match="as many offsets"):
        Kernel1D(np.arange(3), np.ones(2))
    with pytest.raises(ValueError, match="not all 0"):
        Kernel1D(np.arange(3), np.zeros(3))
    with pytest.raises(ValueError, match=">= 0"):
        Kernel1D(np.arange(2), np.array([1.0, -0.5]))
