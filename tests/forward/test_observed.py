"""Forward models composed with a sensor's spectral response, and inverted through it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phism_cli.forward.bases import make_basis
from phism_cli.forward.bumps import BumpModel
from phism_cli.forward.dispersion import DispersionModel, Mineral, Mode
from phism_cli.forward.mixing import LinearMixing
from phism_cli.forward.observed import ObservedGenerator, ObservedModel
from phism_cli.forward.response import FWHM_PER_SIGMA, gaussian_response
from phism_cli.inversion.optimise import fit_forward_model
from phism_cli.inversion.synthesis import analysis_by_synthesis

GRID_NM = np.arange(400.0, 1000.01, 0.5)
CENTRES_NM = np.arange(450.0, 951.0, 15.0)
FWHM_NM = 20.0


def sensor(grid_nm: np.ndarray = GRID_NM):
    return gaussian_response(CENTRES_NM, np.full(len(CENTRES_NM), FWHM_NM),
                             [f"b{i}" for i in range(len(CENTRES_NM))], grid_nm)


def gaussian_bumps(positions: np.ndarray, n_components: int) -> BumpModel:
    return BumpModel(make_basis("gaussian"), n_components, torch.as_tensor(positions), "nm")


def test_a_gaussian_bump_seen_in_gaussian_bands_is_their_convolution() -> None:
    observed = ObservedModel(gaussian_bumps(GRID_NM, 1), sensor(), len(GRID_NM))
    mu_nm, sigma_nm, amp = 700.0, 9.0, 0.8
    bands = observed.render(torch.tensor([[mu_nm, sigma_nm, amp]], dtype=torch.float64))
    # amp * phi((x - mu) / sigma) / sigma on the axis normalised by its 600 nm span, and a
    # Gaussian convolved with a Gaussian is one with the variances added.
    span = GRID_NM[-1] - GRID_NM[0]
    wide = np.hypot(sigma_nm, FWHM_NM / FWHM_PER_SIGMA) / span
    z = (CENTRES_NM - mu_nm) / span / wide
    expected = amp * np.exp(-z**2 / 2) / np.sqrt(2 * np.pi) / wide
    np.testing.assert_allclose(bands[0].numpy(), expected, rtol=2e-3, atol=1e-4)
    assert observed.parameters == observed.model.parameters


def test_inverting_through_the_sensor_recovers_a_bump_narrower_than_its_bands() -> None:
    """Band values of an 8 nm wide bump seen in 20 nm bands: fitting through the composed
    model finds its width; fitting bumps point-sampled at the band centres, as if the bands
    were infinitely narrow, finds the blurred width instead."""
    truth = torch.tensor([[640.0, 8.0, 0.6, 820.0, 12.0, -0.3]], dtype=torch.float64)
    observed = ObservedModel(gaussian_bumps(GRID_NM, 2), sensor(), len(GRID_NM))
    bands = observed.render(truth)
    start = truth + torch.tensor([[6.0, 6.0, 0.1, -5.0, 5.0, 0.1]], dtype=torch.float64)
    fitted, rms = fit_forward_model(observed, bands, init=start, steps=600, lr=0.01)
    point = BumpModel(make_basis("gaussian"), 2, torch.as_tensor(CENTRES_NM), "nm",
                      frame=(observed.model.axis_min, observed.model.axis_span))
    naive, naive_rms = fit_forward_model(point, bands, init=start, steps=600, lr=0.01)
    assert abs(float(fitted[0, 1]) - 8.0) < 1.0 and abs(float(fitted[0, 0]) - 640.0) < 1.0
    assert float(naive[0, 1]) > 10.0  # about sqrt(8^2 + 8.5^2) = 11.7 nm
    assert float(rms[0]) < float(naive_rms[0])


def test_a_response_built_on_another_grid_is_refused() -> None:
    with pytest.raises(ValueError, match="build the response on the model's grid"):
        ObservedModel(gaussian_bumps(GRID_NM, 1), sensor(GRID_NM[::2]), len(GRID_NM))


def test_a_generated_library_seen_by_a_sensor_unmixes_at_the_sensor_bands() -> None:
    # Two dielectrics' emissivity on a fine axis, seen by broad bands of the same axis.
    axis = np.arange(500.0, 1500.01, 2.0)
    minerals = [Mineral(name, [Mode.fixed([freq], [0.1], [0.6], 2.0)])
                for name, freq in (("a", 800.0), ("b", 1150.0))]
    generator = DispersionModel(minerals, axis, dtype=torch.float64)
    response = gaussian_response(np.arange(550.0, 1451.0, 50.0), np.full(19, 60.0),
                                 [f"b{i}" for i in range(19)], axis)
    observed = ObservedGenerator(generator, response, len(axis))
    library = observed.render(generator.initial(), torch.arange(2))
    np.testing.assert_allclose(library.numpy(),
                               generator.render_library().numpy() @ response.matrix.T)
    mixing = LinearMixing(library, observed.names, observed, {0: 0, 1: 1})
    truth = torch.tensor([[0.3, 0.7], [0.9, 0.1]], dtype=torch.float64)
    fit = analysis_by_synthesis(mixing, truth @ library, epochs=1, steps=1)
    np.testing.assert_allclose(fit.abundances.numpy(), truth.numpy(), atol=1e-6)
