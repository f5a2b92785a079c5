"""The basis renderer at another sensor's bands: at band centres, or integrated over each
band's Gaussian response."""

from __future__ import annotations

import numpy as np

from phism_cli.forward.bases import SkewNormalBasis
from phism_cli.forward.resampling import MIN_FWHM_NM
from phism_cli.forward.response import FWHM_PER_SIGMA
from phism_cli.model.renderer import SpectralAxis, SpectralRenderer

FITTED_NM = np.linspace(400.0, 1000.0, 60)
# Two narrow bumps (centre nm, width nm, shape, amplitude) and a brightness of 1.2.
LATENT = np.array([[520.0, 6.0, 0.0, 3.0, 800.0, 25.0, 2.0, -1.5, 1.2]], np.float32)


def _renderer() -> SpectralRenderer:
    mean = (1.0 + np.sin(FITTED_NM / 90.0)).astype(np.float32)
    scale = np.linspace(0.5, 1.0, 60, dtype=np.float32)
    return SpectralRenderer(SkewNormalBasis(), 2, SpectralAxis(FITTED_NM, "nm"), mean, scale,
                            brightness=True)


def _gaussian_average(curve_nm: np.ndarray, curve: np.ndarray, centre_nm: np.ndarray,
                      fwhm_nm: np.ndarray) -> np.ndarray:
    sigma = fwhm_nm[:, None] / FWHM_PER_SIGMA
    weights = np.exp(-0.5 * ((curve_nm[None, :] - centre_nm[:, None]) / sigma) ** 2)
    return (weights @ curve) / weights.sum(axis=1)


def test_integrated_bands_average_the_spectrum_over_their_response() -> None:
    """Each band is the spectrum drawn at its centre's neighbourhood, weighted by its
    Gaussian: checked against the point-sampled spectrum on a 0.05 nm grid."""
    renderer = _renderer()
    centre = np.array([450.0, 520.0, 523.0, 700.0, 800.0, 950.0])
    fwhm = np.array([12.0, 12.0, 30.0, 8.0, 12.0, 20.0])
    dense_nm = np.arange(380.0, 1020.0, 0.05)
    dense = renderer.at_wavelengths(dense_nm).render(LATENT)[0].astype(np.float64)
    expected = _gaussian_average(dense_nm, dense, centre, fwhm)
    integrated = renderer.at_wavelengths(centre, fwhm)
    got = integrated.render(LATENT)[0]
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=2e-3)
    # The narrow bump at 520 nm is smoothed where the response is wider than it.
    centres = renderer.at_wavelengths(centre).render(LATENT)[0]
    assert got[1] < centres[1] - 0.1 and got[2] < got[1]
    assert integrated.render(np.repeat(LATENT, 3, axis=0)).shape == (3, 6)
    assert integrated.axis.positions.tolist() == centre.tolist()


def test_components_are_integrated_like_the_spectrum() -> None:
    renderer = _renderer()
    centre, fwhm = np.linspace(420.0, 980.0, 40), np.full(40, 10.0)
    integrated = renderer.at_wavelengths(centre, fwhm)
    parts = integrated.components(LATENT)
    assert parts.shape == (1, 2, 40)
    total = integrated.render(LATENT)
    mean_part = LATENT[:, -1:] * integrated.band_mean
    np.testing.assert_allclose(parts.sum(axis=1) + mean_part, total, rtol=1e-4, atol=1e-4)


def test_narrow_responses_tend_to_the_value_at_the_centre() -> None:
    """The difference to the centre value is the response's second moment times the
    spectrum's curvature: it falls 4x each time the FWHM halves; below MIN_FWHM_NM a band is
    the value at its centre."""
    renderer = _renderer()
    centre = np.linspace(430.0, 970.0, 25)
    point = renderer.at_wavelengths(centre).render(LATENT).astype(np.float64)
    gaps = [np.abs(renderer.at_wavelengths(centre, np.full(25, fwhm)).render(LATENT) - point
                   ).max() for fwhm in (8.0, 4.0, 2.0)]
    assert 3.0 < gaps[0] / gaps[1] < 5.0 and 3.0 < gaps[1] / gaps[2] < 5.0, gaps
    narrow = renderer.at_wavelengths(centre, np.full(25, 0.5 * MIN_FWHM_NM)).render(LATENT)
    np.testing.assert_allclose(narrow, point, rtol=1e-5, atol=1e-5)
