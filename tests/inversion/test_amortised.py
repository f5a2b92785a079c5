"""The inverse-rendering network: training on rendered mixtures, adaptation to a scene."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phism_cli.forward.mixing import LinearMixing
from phism_cli.inversion.amortised import InverseRenderingNet
from phism_cli.inversion.unmixer import Unmixer

WAVELENGTH_NM = np.linspace(400.0, 1000.0, 50)


@pytest.fixture(autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def library() -> torch.Tensor:
    return torch.tensor(np.stack([0.2 + 0.6 * np.exp(-0.5 * ((WAVELENGTH_NM - c) / 70) ** 2)
                                  for c in (500, 700, 900)]))


def dark_scene(n: int = 400, gain: float = 0.25, seed: int = 0
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixtures (N, C) of the library at a quarter of its brightness (below the 0.5-2x the
    network is trained for) with their abundances (N, 3)."""
    rng = np.random.default_rng(seed)
    truth = torch.tensor(rng.dirichlet(np.ones(3), size=n))
    spectra = gain * truth @ library() + 1e-3 * torch.tensor(rng.normal(size=(n, 50)))
    return spectra, truth


def error(estimate: torch.Tensor, truth: torch.Tensor) -> float:
    return float(((estimate - truth) ** 2).sum(dim=1).mean())


def test_adapting_to_the_scene_recovers_what_training_alone_misses():
    spectra, truth = dark_scene()
    net = InverseRenderingNet(steps=800, seed=0, brightness=(0.5, 2.0))
    net.fit(LinearMixing(library(), ["a", "b", "c"]))
    before = error(net.predict(spectra), truth)
    net.adapt(spectra, library(), steps=400, scaled=True)
    after = error(net.predict(spectra), truth)
    assert after < 0.5 * before
    history = net.adapt_history_
    assert len(history) == 400 and np.mean(history[-20:]) < 0.5 * np.mean(history[:20])


def test_adaptation_ignores_bands_of_weight_zero():
    spectra, truth = dark_scene()
    corrupted = spectra.clone()
    corrupted[:, 10:20] = 5.0  # far off every mixture: only the weights keep them out
    weights = torch.ones_like(spectra)
    weights[:, 10:20] = 0.0
    mixing = LinearMixing(library(), ["a", "b", "c"])
    fits = {}
    for name, w in (("weighted", weights), ("unweighted", None)):
        unmixer = Unmixer("net", net_steps=800, adapt_steps=400, seed=0)
        unmixer.fit(mixing, corrupted.numpy(), None if w is None else w.numpy())
        # Both unmix with the weights: only the adaptation differs.
        fits[name] = error(unmixer.transform(corrupted.numpy(), weights).abundances, truth)
    assert fits["weighted"] < 0.1 * fits["unweighted"]


def test_unmixer_adapts_only_with_spectra_and_steps():
    spectra, _ = dark_scene(n=50)
    mixing = LinearMixing(library(), ["a", "b", "c"])
    plain = Unmixer("net", net_steps=200, seed=0).fit(mixing)
    off = Unmixer("net", net_steps=200, seed=0, adapt_steps=0).fit(mixing, spectra.numpy())
    on = Unmixer("net", net_steps=200, seed=0, adapt_steps=50).fit(mixing, spectra.numpy())
    assert not hasattr(plain.network_, "adapt_history_")
    assert not hasattr(off.network_, "adapt_history_")
    assert len(on.network_.adapt_history_) == 50
    same = [torch.equal(a, b) for a, b in zip(plain.network_.model_.parameters(),
                                               off.network_.model_.parameters(), strict=True)]
    assert all(same)
