"""PhISM's bases behind the forward-model interface: same spectra as the renderer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phism_cli.forward.bases import make_basis
from phism_cli.forward.basis_registry import REGISTERED
from phism_cli.forward.bumps import BumpModel
from phism_cli.model.renderer import SpectralAxis, SpectralRenderer


@pytest.mark.parametrize("basis_name", sorted(REGISTERED))
def test_bump_model_renders_what_the_latent_renderer_renders(basis_name) -> None:
    torch.manual_seed(0)
    basis = make_basis(basis_name)
    axis = SpectralAxis(np.linspace(420.0, 2400.0, 50), "nm")
    renderer = SpectralRenderer(basis, 3, axis, np.zeros(50, np.float32),
                                np.ones(50, np.float32))
    model = BumpModel(basis, 3, torch.as_tensor(axis.positions), "nm")
    lower, upper = model.bounds()
    latent = lower + torch.rand(8, len(lower)) * (upper - lower)
    np.testing.assert_allclose(model.render(latent).numpy(), renderer.render(latent.numpy()),
                               rtol=1e-5, atol=1e-6)
    assert [p.name for p in model.parameters] == renderer.channel_names


def test_bounds_are_the_range_activate_maps_into() -> None:
    basis = make_basis("skewnormal", max_skew=5.0)
    model = BumpModel(basis, 2, torch.linspace(400.0, 900.0, 20), "nm")
    lower, upper = model.bounds()
    raw = torch.randn(1000, 2, 4) * 10
    physical = basis.to_physical(basis.activate(raw), 400.0, 500.0).reshape(1000, -1)
    assert (physical >= lower - 1e-4).all() and (physical <= upper + 1e-4).all()
    assert lower[0] == pytest.approx(400.0) and upper[0] == pytest.approx(900.0)
    assert lower[2] == pytest.approx(-5.0) and upper[2] == pytest.approx(5.0)
