"""Per-pixel optimisation of PhISM latents: variable projection through the bump renderer."""

from __future__ import annotations

import numpy as np
import pytest

from phism_cli.forward.bases import SkewNormalBasis
from phism_cli.inversion.refine import (
    LatentRefiner,
    best_fit_latent,
    random_start,
    spread_start,
)
from phism_cli.model.estimator import psnr_db
from phism_cli.model.renderer import SpectralAxis, SpectralRenderer

WAVELENGTH_NM = np.linspace(400.0, 1000.0, 60)


def _renderer(brightness: bool, k: int = 2) -> SpectralRenderer:
    mean = np.full(60, 2.0, np.float32) + np.linspace(0, 1, 60, dtype=np.float32)
    return SpectralRenderer(SkewNormalBasis(), k, SpectralAxis(WAVELENGTH_NM, "nm"), mean,
                            np.full(60, 0.5, np.float32), brightness=brightness)


def _truth(renderer: SpectralRenderer, n: int, seed: int) -> np.ndarray:
    """Latents of two bumps at known places, brightness around 1."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        amp = rng.uniform(1, 3, 2) * rng.choice([-1, 1], 2)
        comps = [[rng.uniform(450, 650), rng.uniform(20, 60), 0.0, amp[0]],
                 [rng.uniform(700, 950), rng.uniform(20, 60), 0.0, amp[1]]]
        rows.append(np.concatenate([np.ravel(comps), [rng.uniform(0.7, 1.3)]]))
    return np.asarray(rows, np.float32)[:, :len(renderer.channel_names)]


@pytest.mark.parametrize("brightness", [True, False])
def test_refinement_from_a_nearby_start_recovers_known_bumps(brightness: bool) -> None:
    renderer = _renderer(brightness)
    truth = _truth(renderer, 40, seed=1)
    pixels = renderer.render(truth)
    start = truth.copy()
    start[:, [0, 4]] += 25.0  # centres off by 25 nm, widths 1.5x, no amplitude
    start[:, [1, 5]] *= 1.5
    start[:, [3, 7]] = 0.0
    best = LatentRefiner(renderer, steps=300, lr=0.02).refine(pixels, start)
    before = psnr_db(pixels, renderer.render(start))
    assert psnr_db(pixels, renderer.render(best)) > max(45.0, before + 20.0)
    # skew trades against location, so centres are near, not exact, after 300 steps
    np.testing.assert_allclose(best[:, [0, 4]], truth[:, [0, 4]], atol=40.0)
    if brightness:
        np.testing.assert_allclose(best[:, -1], truth[:, -1], atol=0.02)


def test_best_fit_keeps_each_pixels_best_start() -> None:
    renderer = _renderer(True)
    truth = _truth(renderer, 30, seed=5)
    pixels = renderer.render(truth)
    starts = [spread_start(renderer, 30), random_start(renderer, 30, seed=2)]
    best = best_fit_latent(renderer, pixels, starts, steps=40)
    refiner = LatentRefiner(renderer, steps=40)

    def err(latent: np.ndarray) -> np.ndarray:
        return ((renderer.render(latent) - pixels) ** 2).mean(axis=1)

    each = np.stack([err(refiner.refine(pixels, start)) for start in starts])
    np.testing.assert_allclose(err(best), each.min(axis=0), rtol=1e-5, atol=1e-9)
    assert (np.diff(best[:, [0, 4]], axis=1) >= 0).all()  # sorted by centre


def test_refinement_never_makes_a_fit_worse() -> None:
    renderer = _renderer(True)
    truth = _truth(renderer, 20, seed=3)
    pixels = renderer.render(truth)
    start = truth.copy()
    start[:, 0] += 30.0  # a wrong centre
    refiner = LatentRefiner(renderer, steps=5)
    refined = refiner.refine(pixels, start)

    def err(latent: np.ndarray) -> np.ndarray:
        return ((renderer.render(latent) - pixels) ** 2).mean(axis=1)

    assert (err(refined) <= err(start) + 1e-9).all()
    assert err(refined).mean() < err(start).mean()
    exact = refiner.refine(pixels, truth)  # already perfect: kept as it is
    np.testing.assert_allclose(renderer.render(exact), pixels, atol=1e-4)


def test_nonfinite_rows_pass_through() -> None:
    renderer = _renderer(False)
    truth = _truth(renderer, 3, seed=4)
    pixels = renderer.render(truth)
    truth[1] = np.nan
    out = LatentRefiner(renderer, steps=3).refine(pixels, truth)
    assert np.isnan(out[1]).all() and np.isfinite(out[[0, 2]]).all()
