"""The thread-independent layers compute what torch's own layers compute."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from phism_cli.forward.bases import make_basis
from phism_cli.model.network import (
    PhismAutoencoder,
    SerialLinear,
    StableBatchNorm1d,
    linear,
    serial_torch,
)


def test_stable_batchnorm_matches_torch() -> None:
    torch.manual_seed(0)
    x = torch.randn(300, 40) * 3 + 1
    ours, theirs = StableBatchNorm1d(40), nn.BatchNorm1d(40)
    theirs.load_state_dict(ours.state_dict())
    for module in (ours, theirs):
        with torch.no_grad():
            module.weight.uniform_(0.5, 1.5, generator=torch.Generator().manual_seed(1))
            module.bias.uniform_(-1, 1, generator=torch.Generator().manual_seed(2))
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = ours(xa), theirs(xb)
    torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
    (ya ** 3).sum().backward()
    (yb ** 3).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-4, atol=1e-3)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(ours, name), getattr(theirs, name))
    ours.eval()
    theirs.eval()
    torch.testing.assert_close(ours(x), theirs(x))


def test_serial_linear_matches_torch_and_keeps_the_thread_count() -> None:
    torch.manual_seed(0)
    ours, theirs = SerialLinear(256, 20), nn.Linear(256, 20)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(100, 256)
    threads = torch.get_num_threads()
    ya, yb = ours(x), theirs(x)
    torch.testing.assert_close(ya, yb)
    ya.square().sum().backward()
    yb.square().sum().backward()
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, rtol=1e-5, atol=1e-4)
    assert torch.get_num_threads() == threads


def test_only_narrow_layers_are_serial() -> None:
    assert isinstance(linear(512, 20), SerialLinear)
    assert isinstance(linear(20, 512), SerialLinear)
    assert type(linear(218, 512)) is nn.Linear


def test_serial_torch_restores_after_an_error() -> None:
    threads = torch.get_num_threads()
    try:
        with serial_torch():
            assert torch.get_num_threads() == 1
            raise RuntimeError
    except RuntimeError:
        pass
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize(("basis", "brightness"), [("skewnormal", True), ("skewnormal", False),
                                                   ("gaussian", True)])
def test_training_forward_is_the_render_of_the_solved_components(basis: str,
                                                                 brightness: bool) -> None:
    """forward sums the reconstruction from the amplitude solve's design matrix instead of
    rendering again: same spectra and same gradients as render(encode(x))."""
    torch.manual_seed(0)
    model = PhismAutoencoder(30, make_basis(basis), 3, torch.linspace(0, 1, 30),
                             hidden=(16, 8), brightness=brightness).double()
    model.set_reference(torch.linspace(1.0, 2.0, 30))
    x = torch.randn(12, 30, dtype=torch.float64)
    spectra = []
    grads = []
    for run in (model, lambda x: model.render(*model.encode(x))):
        model.zero_grad()
        out = run(x)
        out.square().sum().backward()
        spectra.append(out.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(spectra[0], spectra[1])
    for ours, reference in zip(*grads, strict=True):
        torch.testing.assert_close(ours, reference)
