"""Analysis-by-synthesis and the network on mixtures rendered by a known dispersion model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phism_cli.forward.dispersion import DispersionModel, Mineral, Mode
from phism_cli.forward.mixing import LinearMixing
from phism_cli.inversion.synthesis import analysis_by_synthesis, fcls_unmix
from phism_cli.inversion.unmixer import METHODS, Unmixer

NU = np.linspace(500.0, 1500.0, 120)


def loose_mode(freq: list[float], gamma: list[float], rho: list[float], eps: float) -> Mode:
    """A mode whose centres may move 3 % and strengths 20 % either way."""
    mode = Mode.fixed(freq, gamma, rho, eps)
    for key, tolerance in (("freq", 0.03), ("gamma", 0.2), ("rho", 0.2), ("eps_inf", 0.05)):
        mode.lower[key] = mode.lower[key] * (1 - tolerance)
        mode.upper[key] = mode.upper[key] * (1 + tolerance)
    return mode


def minerals() -> list[Mineral]:
    return [Mineral("a", [loose_mode([800.0, 1100.0], [0.03, 0.05], [0.6, 0.4], 2.0)]),
            Mineral("b", [loose_mode([650.0, 1000.0], [0.04, 0.03], [0.5, 0.7], 1.8)]),
            Mineral("c", [loose_mode([900.0, 1300.0], [0.05, 0.04], [0.8, 0.3], 2.2)])]


def shifted_truth(model: DispersionModel) -> torch.Tensor:
    """Each mineral's parameters with its centres 2 % up (inside the bounds)."""
    params = model.initial()
    params[:, model._offset("freq", 0):model._offset("freq", 0) + 2] *= 1.02
    return params


@pytest.fixture
def problem():
    torch.manual_seed(0)
    model = DispersionModel(minerals(), NU, dtype=torch.float64)
    library = model.render_library()
    mixing = LinearMixing(library, ["a", "b", "c"], model, {0: 0, 1: 1, 2: 2},
                          form="rendered")
    truth = torch.tensor([[0.6, 0.4, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 1.0]],
                         dtype=torch.float64)
    shifted = model.render(shifted_truth(model), torch.arange(3))
    spectra = truth @ shifted
    return model, mixing, truth, spectra


def test_recovers_shifted_physics_and_abundances(problem) -> None:
    model, mixing, truth, spectra = problem
    plain = fcls_unmix(mixing.base_endmembers(), spectra)
    fit = analysis_by_synthesis(mixing, spectra, epochs=15, steps=10, lr=0.05)
    assert float(fit.rms.max()) < 0.25 * float(plain.rms.min())
    assert float((fit.abundances - truth).abs().max()) < 0.05
    assert float((fit.abundances - truth).abs().max()) < \
        float((plain.abundances - truth).abs().max())
    # The centres of the present minerals moved towards their true (+2 %) values.
    column = model._offset("freq", 0)
    moved = fit.generator_params[2, 2, column] / model.initial()[2, column]
    assert float(moved) == pytest.approx(1.02, abs=0.004)


def test_parameters_stay_within_bounds(problem) -> None:
    _, mixing, _, spectra = problem
    fit = analysis_by_synthesis(mixing, spectra, epochs=3, steps=20, lr=0.5)
    lower, upper = mixing.generator_bounds()
    assert (fit.generator_params >= lower - 1e-12).all()
    assert (fit.generator_params <= upper + 1e-12).all()


def test_without_generated_endmembers_abs_is_fcls(problem) -> None:
    _, mixing, _, spectra = problem
    fixed = LinearMixing(mixing.base_endmembers(), ["a", "b", "c"])
    fit = analysis_by_synthesis(fixed, spectra)
    torch.testing.assert_close(fit.abundances, fcls_unmix(fixed.base_endmembers(),
                                                          spectra).abundances)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_abundances_on_the_simplex(problem, method) -> None:
    torch.set_num_threads(1)
    _, mixing, truth, spectra = problem
    unmixer = Unmixer(method, epochs=2, steps=3, net_steps=300, seed=0).fit(mixing)
    fit = unmixer.transform(spectra.numpy())
    assert fit.abundances.shape == truth.shape and (fit.abundances >= 0).all()
    torch.testing.assert_close(fit.abundances.sum(dim=1), torch.ones(3, dtype=torch.float64))
    assert fit.rms.shape == (3,) and torch.isfinite(fit.rms).all()


def test_network_learns_mixtures_of_the_library() -> None:
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    library = torch.tensor(np.stack([np.exp(-0.5 * ((NU - c) / 80) ** 2) + 0.2
                                     for c in (700, 1000, 1300)]))
    mixing = LinearMixing(library, ["x", "y", "z"])
    truth = torch.tensor(rng.dirichlet(np.ones(3), size=50))
    unmixer = Unmixer("net", net_steps=1500, seed=0).fit(mixing)
    fit = unmixer.transform(truth @ library)
    untrained_error = float(((truth - 1 / 3) ** 2).sum(1).mean())
    assert float(((fit.abundances - truth) ** 2).sum(1).mean()) < 0.1 * untrained_error
