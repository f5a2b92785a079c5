"""The spectral response matrix: band intervals, curves and Gaussians integrated over them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phism_cli.forward.response import (
    FWHM_PER_SIGMA,
    OutsideRangeError,
    SpectralResponse,
    band_intervals,
    gaussian_response,
    response_from_curves,
)

torch.set_num_threads(1)

GRID_NM = np.arange(400.0, 1001.0, 10.0)


def test_rows_sum_to_one_and_are_non_negative() -> None:
    response = gaussian_response([480, 560, 660, 850], [60, 70, 60, 120],
                                 ["B", "G", "R", "NIR"], GRID_NM)
    assert response.matrix.shape == (4, GRID_NM.size)
    assert (response.n_bands, response.n_input) == (4, GRID_NM.size)
    np.testing.assert_allclose(response.matrix.sum(axis=1), 1.0, atol=1e-12)
    assert (response.matrix >= 0).all()
    assert response.band_names == ["B", "G", "R", "NIR"]


def test_intervals_meet_halfway_and_end_bands_extend_by_half_their_spacing() -> None:
    low, high = band_intervals(np.array([400.0, 410.0, 430.0]))
    np.testing.assert_allclose(low, [395.0, 405.0, 420.0])
    np.testing.assert_allclose(high, [405.0, 420.0, 440.0])


def test_intervals_of_unsorted_wavelengths_follow_the_bands() -> None:
    low, high = band_intervals(np.array([430.0, 400.0, 410.0]))
    np.testing.assert_allclose(low, [420.0, 395.0, 405.0])
    np.testing.assert_allclose(high, [440.0, 405.0, 420.0])


def test_a_band_beside_a_gap_does_not_claim_it() -> None:
    """Water-absorption bands removed: 1340 -> 1450 nm. The bands beside the gap reach one
    median spacing (10 nm) into it, not half of it (55 nm)."""
    grid = np.r_[np.arange(1300.0, 1341.0, 10.0), np.arange(1450.0, 1491.0, 10.0)]
    low, high = band_intervals(grid)
    assert high[4] == pytest.approx(1350.0)
    assert low[5] == pytest.approx(1440.0)
    with pytest.raises(OutsideRangeError, match=r"band 'water' responds from 13\d\d to 14\d\d "
                                                r"nm.*1295-1350, 1440-1495 nm"):
        gaussian_response([1400.0], [20.0], ["water"], grid)


def test_gaps_keep_the_bands_on_either_side() -> None:
    grid = np.r_[np.arange(400.0, 1341.0, 10.0), np.arange(1450.0, 1801.0, 10.0)]
    response = gaussian_response([1300.0, 1500.0], [40.0, 40.0], ["a", "b"], grid)
    np.testing.assert_allclose(response.centre_nm, [1300.0, 1500.0], atol=0.5)
    edge = gaussian_response([1346.0], [4.0], ["edge"], grid)  # inside 1340's 1335-1350
    assert edge.matrix[0, grid == 1340.0] == pytest.approx(1.0, abs=0.01)


def test_uneven_spacing_keeps_the_intervals_contiguous() -> None:
    grid = np.r_[np.arange(400.0, 600.0, 5.0), np.arange(600.0, 1000.0, 12.0)]
    low, high = band_intervals(grid)
    np.testing.assert_allclose(low[1:], high[:-1])


def test_a_gaussian_narrower_than_the_band_spacing_still_gives_a_row() -> None:
    response = gaussian_response([553.0], [0.5], ["laser"], GRID_NM)
    row = response.matrix[0]
    assert row.sum() == pytest.approx(1.0)
    assert row[np.argmin(np.abs(GRID_NM - 553.0))] == pytest.approx(1.0)


def test_gaussian_centre_and_fwhm_round_trip_on_a_fine_grid() -> None:
    """On a 1 nm grid the response-weighted centre is within 0.05 nm and the Gaussian-
    equivalent width within 0.5 % of what was asked."""
    grid = np.arange(350.0, 1100.0, 1.0)
    centres, widths = np.array([450.0, 555.5, 700.0, 860.0]), np.array([20.0, 35.0, 60.0, 140.0])
    response = gaussian_response(centres, widths, list("abcd"), grid)
    np.testing.assert_allclose(response.centre_nm, centres, atol=0.05)
    np.testing.assert_allclose(response.fwhm_nm, widths, rtol=5e-3)
    sigma = response.fwhm_nm / FWHM_PER_SIGMA
    np.testing.assert_allclose(sigma * 2.35482, widths, rtol=5e-3)


def test_fwhm_is_at_least_the_local_band_spacing() -> None:
    response = gaussian_response([552.0], [0.1], ["narrow"], GRID_NM)
    assert response.fwhm_nm[0] == pytest.approx(10.0)


def test_curves_resampled_onto_a_coarse_grid_match_the_integral_by_hand() -> None:
    """A triangle 0 at 500, 1 at 520, 0 at 540 nm over bands at 500, 520, 540 nm (intervals
    490-510, 510-530, 530-550): integrals 2.5, 15, 2.5 (total 20)."""
    response = response_from_curves([500.0, 520.0, 540.0], [[0.0, 1.0, 0.0]], ["tri"],
                                     np.array([500.0, 520.0, 540.0]), "hand")
    np.testing.assert_allclose(response.matrix[0], [2.5 / 20, 15 / 20, 2.5 / 20])


def test_curves_are_zero_outside_their_range_and_interpolated_inside() -> None:
    """A box 1.0 from 505 to 525 nm (grid 505, 515, 525) over intervals 490-510, 510-530:
    5 nm and 15 nm of it -> 0.25 and 0.75."""
    response = response_from_curves([505.0, 515.0, 525.0], [1.0, 1.0, 1.0], ["box"],
                                    np.array([500.0, 520.0]), "box")
    np.testing.assert_allclose(response.matrix[0], [0.25, 0.75])


def test_curves_are_sorted_and_negative_values_clipped() -> None:
    forward = response_from_curves([500.0, 520.0, 540.0], [[0.0, 1.0, -0.2]], ["a"],
                                   np.array([500.0, 520.0, 540.0]), "x")
    backward = response_from_curves([540.0, 520.0, 500.0], [[0.0, 1.0, 0.0]], ["a"],
                                    np.array([500.0, 520.0, 540.0]), "x")
    np.testing.assert_allclose(forward.matrix, backward.matrix)


@pytest.mark.parametrize(("wavelength", "curve", "match"), [
    ([500.0, 500.0, 540.0], [0.0, 1.0, 0.0], "500 nm appears twice"),
    ([500.0, 520.0, 540.0], [0.0, np.nan, 0.0], r"band 'a' is nan at 520 nm"),
    ([500.0, 520.0, 540.0], [0.0, -1.0, 0.0], "band 'a' is zero at every wavelength"),
    ([500.0], [1.0], "at least 2 wavelengths"),
])
def test_bad_curves_are_refused(wavelength, curve, match) -> None:
    with pytest.raises(ValueError, match=match):
        response_from_curves(wavelength, curve, ["a"], GRID_NM, "x")


def test_a_band_outside_the_hyperspectral_range_is_refused_naming_it() -> None:
    grid = np.arange(400.0, 701.0, 10.0)
    with pytest.raises(OutsideRangeError, match=r"band 'NIR' responds from 7\d\d to 9\d\d nm, "
                                                r"and .* outside the hyperspectral bands "
                                                r"\(395-705 nm\)"):
        gaussian_response([550.0, 830.0], [40.0, 60.0], ["G", "NIR"], grid)
    x = np.arange(700.0, 1000.0, 5.0)
    curve = np.exp(-0.5 * ((x - 830.0) / 25.0) ** 2)
    with pytest.raises(OutsideRangeError, match="band 'NIR'"):
        response_from_curves(x, curve, ["NIR"], grid, "x")


def test_a_hyperspectral_range_far_wider_than_the_bands_is_normal() -> None:
    hyperion = np.arange(400.0, 2501.0, 10.0)
    response = gaussian_response([550.0], [60.0], ["G"], hyperion)
    assert response.matrix[0, hyperion > 1000].max() < 1e-12


def test_five_percent_outside_is_the_limit() -> None:
    """A box 380-700 nm over bands from 400 nm (intervals from 395): 15/320 = 4.7 % outside
    passes; a box from 370 (25/330 = 7.6 %) does not."""
    grid = np.arange(400.0, 701.0, 10.0)
    response_from_curves([380.0, 700.0], [1.0, 1.0], ["pan"], grid, "x")
    with pytest.raises(OutsideRangeError, match="8 % of its response falls outside"):
        response_from_curves([370.0, 700.0], [1.0, 1.0], ["pan"], grid, "x")


def test_a_single_panchromatic_band_works() -> None:
    response = gaussian_response([600.0], [200.0], ["pan"], GRID_NM)
    assert response.matrix.shape == (1, GRID_NM.size)
    cube = np.ones((3, 4, GRID_NM.size), dtype=np.float32)
    out = response.apply(cube)
    assert out.shape == (3, 4, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, 1.0, rtol=1e-6)


def test_apply_on_numpy_and_torch_agree() -> None:
    response = gaussian_response([480, 560, 660], [60, 70, 60], ["B", "G", "R"], GRID_NM)
    spectra = np.random.default_rng(0).uniform(0, 1, (5, 7, GRID_NM.size))
    numpy_out = response.apply(spectra)
    torch_out = response.apply(torch.as_tensor(spectra))
    assert isinstance(torch_out, torch.Tensor) and torch_out.dtype == torch.float64
    np.testing.assert_allclose(torch_out.numpy(), numpy_out, rtol=1e-12)
    single = response.apply(torch.as_tensor(spectra, dtype=torch.float32))
    assert single.dtype == torch.float32
    np.testing.assert_allclose(single.numpy(), numpy_out, rtol=1e-5)
    assert response.apply(spectra.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="do not end in the 61 bands"):
        response.apply(spectra[..., :5])


def test_apply_propagates_nan() -> None:
    response = gaussian_response([480, 560], [60, 70], ["B", "G"], GRID_NM)
    spectra = np.ones((2, GRID_NM.size))
    spectra[1, 3] = np.nan
    out = response.apply(spectra)
    assert np.isfinite(out[0]).all() and np.isnan(out[1]).all()


def test_describe_is_json_ready() -> None:
    import json

    response = gaussian_response([480, 560], [60, 70], ["B", "G"], GRID_NM)
    described = json.loads(json.dumps(response.describe()))
    assert described["source"] == "gaussian"
    assert described["band_names"] == ["B", "G"]
    assert described["centre_nm"] == pytest.approx([480, 560], abs=0.5)
    assert len(described["fwhm_nm"]) == 2


def test_the_dataclass_refuses_matrices_that_are_not_responses() -> None:
    with pytest.raises(ValueError, match="sums to"):
        SpectralResponse(np.full((1, 3), 0.5), ["a"], np.array([1.0, 2.0, 3.0]), "x")
    with pytest.raises(ValueError, match="does not fit"):
        SpectralResponse(np.full((1, 3), 1 / 3), ["a", "b"], np.array([1.0, 2.0, 3.0]), "x")


def test_bad_hyperspectral_wavelengths_are_refused() -> None:
    with pytest.raises(ValueError, match="belongs to two bands"):
        band_intervals(np.array([400.0, 410.0, 410.0]))
    with pytest.raises(ValueError, match="at least 2 hyperspectral bands"):
        band_intervals(np.array([400.0]))
