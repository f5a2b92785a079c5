import numpy as np
import pytest

from phism_cli.forward.resampling import band_resampling


def _spectrum(nm: np.ndarray) -> np.ndarray:
    return 0.3 + 0.2 * np.sin(nm / 180.0) + 0.1 * np.exp(-0.5 * ((nm - 1200) / 60) ** 2)


def test_smooth_spectrum_survives_resampling_to_coarser_bands() -> None:
    fine = np.arange(400.0, 2500.0, 5.0)
    coarse = np.arange(420.0, 2450.0, 10.0)
    resampling = band_resampling(fine, coarse, np.full(coarse.size, 10.0))
    np.testing.assert_allclose(resampling.matrix.sum(axis=1), 1.0, atol=1e-9)
    assert resampling.coverage == 1.0 and resampling.outside.size == 0
    got = resampling.apply(_spectrum(fine)[None].astype(np.float32))[0]
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _spectrum(coarse), atol=2e-3)


def test_gaps_are_bridged_and_ends_held() -> None:
    source = np.r_[np.arange(400.0, 1300.0, 10.0), np.arange(1500.0, 2400.0, 10.0)]
    target = np.array([380.0, 1400.0, 2450.0])
    resampling = band_resampling(source, target, np.full(3, 5.0))
    values = resampling.apply(_spectrum(source)[None])[0]
    assert values[0] == pytest.approx(_spectrum(np.array([400.0]))[0], abs=1e-6)
    assert values[2] == pytest.approx(_spectrum(np.array([2390.0]))[0], abs=1e-6)
    bridge = np.interp(1400.0, [1290.0, 1500.0], _spectrum(np.array([1290.0, 1500.0])))
    assert values[1] == pytest.approx(bridge, abs=1e-3)
    assert resampling.outside.tolist() == [0, 2]
    assert resampling.coverage == pytest.approx((2390 - 400) / (2450 - 380))


def test_widths_default_to_the_spacing_and_order_does_not_matter() -> None:
    source = np.arange(400.0, 1000.0, 3.0)
    shuffled = np.random.default_rng(0).permutation(source.size)
    target = np.array([500.0, 600.0, 800.0])
    a = band_resampling(source, target, None)
    b = band_resampling(source[shuffled], target, None)
    np.testing.assert_allclose(a.matrix[:, shuffled], b.matrix, atol=1e-12)
