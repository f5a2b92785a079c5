import numpy as np
import pytest
import torch
from scipy.stats import norm, skewnorm

from phism_cli.forward.bases import (
    GaussianBasis,
    SkewNormalBasis,
    make_basis,
    skew_normal_density,
)
from phism_cli.forward.basis_registry import REGISTERED

X = torch.linspace(0.0, 1.0, 101)


def _params(*rows: tuple[float, ...]) -> torch.Tensor:
    return torch.tensor([rows], dtype=torch.float32)  # (1, K, P)


def test_skew_normal_matches_scipy() -> None:
    basis = SkewNormalBasis()
    for mu, sigma, alpha in [(0.3, 0.05, 0.0), (0.5, 0.2, 4.0), (0.7, 0.1, -2.5)]:
        got = basis.render(_params((mu, sigma, alpha, 1.0)), X)[0].numpy()
        expected = skewnorm.pdf(X.numpy(), alpha, loc=mu, scale=sigma)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_alpha_zero_is_a_gaussian() -> None:
    got = SkewNormalBasis().render(_params((0.4, 0.1, 0.0, 2.0)), X)[0].numpy()
    np.testing.assert_allclose(got, 2.0 * norm.pdf(X.numpy(), 0.4, 0.1), rtol=1e-4, atol=1e-5)
    gauss = GaussianBasis().render(_params((0.4, 0.1, 2.0)), X)[0].numpy()
    np.testing.assert_allclose(gauss, got, rtol=1e-4, atol=1e-5)


def _density_by_autograd(mu: torch.Tensor, sigma: torch.Tensor, alpha: torch.Tensor,
                         x: torch.Tensor) -> torch.Tensor:
    z = (x - mu) / sigma
    return 2.0 / sigma * torch.exp(-0.5 * z * z) / np.sqrt(2 * np.pi) * torch.special.ndtr(
        alpha * z)


def test_skew_normal_gradient_is_the_formula_s_gradient() -> None:
    generator = torch.Generator().manual_seed(1)
    shape = (7, 4, 1)
    mu = torch.rand(shape, generator=generator, dtype=torch.float64)
    sigma = 0.002 + 0.4 * torch.rand(shape, generator=generator, dtype=torch.float64)
    alpha = 10 * (2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1)
    alpha[0] = 0.0
    x = torch.linspace(0.0, 1.0, 37, dtype=torch.float64)
    upstream = torch.randn(7, 4, 37, generator=generator, dtype=torch.float64)
    grads = []
    for density in (skew_normal_density, _density_by_autograd):
        inputs = [t.clone().requires_grad_() for t in (mu, sigma, alpha)]
        value = density(*inputs, x)
        grads.append((value, *torch.autograd.grad(value, inputs, upstream)))
    for ours, reference in zip(*grads, strict=True):
        torch.testing.assert_close(ours, reference, rtol=1e-9, atol=1e-9)


def test_skew_normal_gradient_sums_over_broadcast_inputs() -> None:
    mu = torch.tensor([0.4], dtype=torch.float64, requires_grad=True)
    sigma = torch.full((3, 1), 0.1, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor([2.0], dtype=torch.float64, requires_grad=True)
    x = torch.linspace(0.0, 1.0, 11, dtype=torch.float64)
    assert torch.autograd.gradcheck(skew_normal_density, (mu, sigma, alpha, x))


def test_skew_normal_refuses_a_second_derivative() -> None:
    mu = torch.tensor([[0.4]], requires_grad=True)
    value = skew_normal_density(mu, torch.tensor([[0.1]]), torch.tensor([[1.0]]), X).sum()
    (grad,) = torch.autograd.grad(value, mu, create_graph=True)
    with pytest.raises(RuntimeError, match="grad"):  # an error, not a silently wrong value
        torch.autograd.grad(grad.sum(), mu)


@pytest.mark.parametrize("name", ["skewnormal", "gaussian"])
def test_vectorised_render_equals_per_pixel_sum(name: str) -> None:
    basis = make_basis(name)
    params = basis.activate(torch.randn(6, 3, basis.n_params, generator=torch.Generator()
                                        .manual_seed(0)))
    batch = basis.render(params, X)
    for n in range(6):
        single = sum(basis.render(params[n:n + 1, k:k + 1], X) for k in range(3))
        torch.testing.assert_close(batch[n:n + 1], single, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(basis.render_components(params, X).sum(1), batch)


def test_activation_bounds_and_physical_round_trip() -> None:
    basis = SkewNormalBasis(max_skew=10.0, amplitude_scale=4.0)
    params = basis.activate(torch.randn(1000, 5, 4) * 10)
    mu, sigma, alpha, amp = params.unbind(-1)
    assert mu.min() >= 0 and mu.max() <= 1 and sigma.min() > 0
    assert alpha.abs().max() <= 10 and amp.abs().max() <= 4
    physical = basis.to_physical(params, 400.0, 2100.0)
    assert physical[..., 0].min() >= 400 and physical[..., 0].max() <= 2500
    torch.testing.assert_close(basis.from_physical(physical, 400.0, 2100.0), params)
    assert basis.channel_names(2, "nm") == [
        "c0_mu_nm", "c0_sigma_nm", "c0_alpha", "c0_amp",
        "c1_mu_nm", "c1_sigma_nm", "c1_alpha", "c1_amp"]


def test_unknown_basis() -> None:
    with pytest.raises(ValueError, match="unknown basis"):
        make_basis("spline")


@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_every_registered_basis_loads_and_renders_unit_area_bumps(name: str) -> None:
    """A registration line names a class that loads, is called by its name and renders a
    component of amplitude 1 as a bump of area 1 on the normalised axis."""
    basis = make_basis(name)
    assert basis.name == name and dict(basis.config()) == dict(type(basis)().config())
    params = basis.activate(basis.initial_raw(1))
    params[..., basis.amplitude_index] = 1.0
    params[..., basis.position_index] = 0.5
    params[..., 1] = 0.01
    x = torch.linspace(0.0, 1.0, 20001)
    area = torch.trapezoid(basis.render(params[None], x)[0], x)
    assert float(area) == pytest.approx(1.0, abs=0.02)


def test_initial_components_are_spread_over_the_axis() -> None:
    for basis in (SkewNormalBasis(), GaussianBasis()):
        params = basis.activate(basis.initial_raw(4))
        np.testing.assert_allclose(params[:, 0].numpy(), [0.125, 0.375, 0.625, 0.875],
                                   atol=1e-6)
        np.testing.assert_allclose(params[:, 1].numpy(), 0.125 + basis.min_width, atol=1e-6)
        assert (params[:, basis.amplitude_index] == 0).all()


def test_solve_weights_is_least_squares() -> None:
    from phism_cli.forward.bases import solve_weights

    gen = torch.Generator().manual_seed(0)
    design = torch.randn(5, 3, 40, generator=gen, dtype=torch.float64)
    target = torch.randn(5, 40, generator=gen, dtype=torch.float64)
    got = solve_weights(design, target, ridge=0.0)
    for i in range(5):
        want = np.linalg.lstsq(design[i].T.numpy(), target[i].numpy(), rcond=None)[0]
        np.testing.assert_allclose(got[i].numpy(), want, rtol=1e-9)
    twin = torch.cat([design[:, :1], design[:, :1]], dim=1).float()  # coinciding components
    assert torch.isfinite(solve_weights(twin, target.float())).all()
