"""The Lorentz-oscillator dispersion model against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from phism_cli.forward.dispersion import DispersionModel, Mineral, Mode


def one_oscillator_emissivity(freq: float, rho: float, gamma: float, eps_inf: float,
                              nu: float) -> float:
    """The design page's equations written out for one oscillator, in plain floats."""
    a = freq**2 - nu**2
    d = a**2 + gamma**2 * freq**2 * nu**2
    theta = eps_inf + rho * freq**2 * a / d
    phi = rho / 2 * freq**2 * gamma * freq * nu / d
    n = math.sqrt((theta + math.sqrt(theta**2 + 4 * phi**2)) / 2)
    k = phi / n
    return 1 - ((n - 1) ** 2 + k**2) / ((n + 1) ** 2 + k**2)


def model_of(*minerals: Mineral, nu: np.ndarray) -> DispersionModel:
    return DispersionModel(list(minerals), nu, dtype=torch.float64)


def test_one_oscillator_at_resonance_matches_the_hand_value() -> None:
    # nu = nu_j = 1000 cm-1, 4 pi rho = 0.5, gamma = 0.1, eps_inf = 2: theta = 2, phi = 2.5,
    # n = 1.92161, k = 1.30099, R = 0.24852, emissivity = 0.75148 (worked on paper).
    mineral = Mineral("x", [Mode.fixed([1000.0], [0.1], [0.5], 2.0)])
    model = model_of(mineral, nu=np.array([1000.0]))
    value = float(model.render_library()[0, 0])
    assert value == pytest.approx(0.75148, abs=1e-5)


def test_one_oscillator_across_the_band_matches_the_equations() -> None:
    nu = np.linspace(400.0, 1600.0, 61)
    mineral = Mineral("x", [Mode.fixed([1050.0], [0.03], [0.8], 1.7)])
    rendered = model_of(mineral, nu=nu).render_library()[0].numpy()
    expected = [one_oscillator_emissivity(1050.0, 0.8, 0.03, 1.7, v) for v in nu]
    np.testing.assert_allclose(rendered, expected, rtol=1e-10)


def test_without_oscillators_a_dielectric_with_n_sqrt_eps_inf() -> None:
    eps_inf = 2.25  # n = 1.5, R = 0.04
    mineral = Mineral("glass", [Mode.fixed([900.0], [0.1], [0.0], eps_inf)])
    rendered = model_of(mineral, nu=np.linspace(500, 1500, 7)).render_library()[0].numpy()
    np.testing.assert_allclose(rendered, 1 - ((1.5 - 1) / (1.5 + 1)) ** 2, rtol=1e-12)


def test_modes_mix_by_weight_and_padding_changes_nothing() -> None:
    nu = np.linspace(400.0, 1400.0, 40)
    a = Mode.fixed([700.0, 1100.0], [0.05, 0.02], [0.3, 0.6], 1.9, weight=0.3)
    b = Mode.fixed([520.0], [0.08], [0.9], 2.4, weight=0.7)
    two_modes = Mineral("two", [a, b])
    # A wider mineral in the same model pads `two` to more oscillators per mode.
    wide = Mineral("wide", [Mode.fixed(np.linspace(450, 1300, 9), [0.05] * 9, [0.1] * 9,
                                       1.5)])
    together = model_of(two_modes, wide, nu=nu).render_library()[0].numpy()
    expected = 0.3 * np.array([_mode(a, v) for v in nu]) + 0.7 * np.array([_mode(b, v)
                                                                          for v in nu])
    np.testing.assert_allclose(together, expected, rtol=1e-10)


def _mode(mode: Mode, nu: float) -> float:
    theta = mode.eps_inf + sum(r * f**2 * (f**2 - nu**2) / ((f**2 - nu**2) ** 2 + g**2 * f**2
                                                              * nu**2)
                               for f, g, r in zip(mode.freq_cm1, mode.gamma, mode.rho,
                                                  strict=True))
    phi = sum(r / 2 * f**2 * g * f * nu / ((f**2 - nu**2) ** 2 + g**2 * f**2 * nu**2)
              for f, g, r in zip(mode.freq_cm1, mode.gamma, mode.rho, strict=True))
    n = math.sqrt((theta + math.sqrt(theta**2 + 4 * phi**2)) / 2)
    k = phi / n
    return 1 - ((n - 1) ** 2 + k**2) / ((n + 1) ** 2 + k**2)


def test_render_is_differentiable_and_chunked_rows_agree() -> None:
    nu = np.linspace(400.0, 1400.0, 30)
    minerals = [Mineral(f"m{i}", [Mode.fixed([600.0 + 40 * i], [0.05], [0.5], 2.0)])
                for i in range(40)]
    model = model_of(*minerals, nu=nu)
    which = torch.arange(40).repeat(2)  # more rows than one render chunk
    params = model.initial()[which].requires_grad_(True)
    out = model.render(params, which)
    out.sum().backward()
    assert params.grad is not None and torch.isfinite(params.grad).all()
    np.testing.assert_allclose(out.detach()[:40].numpy(), model.render_library().numpy(),
                               rtol=1e-12)


def test_float32_render_is_close_to_float64() -> None:
    nu = np.linspace(400.0, 1600.0, 200)
    mineral = Mineral("x", [Mode.fixed([800.0, 1100.0], [0.02, 0.05], [0.9, 0.4], 2.1)])
    exact = model_of(mineral, nu=nu).render_library()
    single = DispersionModel([mineral], nu, dtype=torch.float32).render_library()
    assert float((exact - single.double()).abs().max()) < 1e-5
