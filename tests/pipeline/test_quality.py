"""Fusion quality metrics: batched accumulation against the formulas on the whole array."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phism_cli.pipeline.quality import FusionQuality


def one_shot(ref: np.ndarray, est: np.ndarray, ratio: float) -> dict[str, float]:
    """Every metric computed directly from the whole (N, C) arrays."""
    mse = ((ref - est) ** 2).mean(axis=0)
    psnr = 10 * np.log10(ref.max(axis=0) ** 2 / mse)
    cos = (ref * est).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(est, axis=1)
    ergas = 100 / ratio * np.sqrt(np.mean(mse / ref.mean(axis=0) ** 2))
    q = []
    for c in range(ref.shape[1]):
        x, y = ref[:, c], est[:, c]
        cov = np.cov(x, y)
        q.append(4 * cov[0, 1] * x.mean() * y.mean()
                 / ((cov[0, 0] + cov[1, 1]) * (x.mean() ** 2 + y.mean() ** 2)))
    return {"psnr_db": float(psnr.mean()),
            "sam_deg": float(np.degrees(np.arccos(np.clip(cos, -1, 1))).mean()),
            "rmse": float(np.sqrt(((ref - est) ** 2).mean())), "uiqi": float(np.mean(q)),
            "ergas": float(ergas)}


def accumulate(ref: np.ndarray, est: np.ndarray, edges: list[int]) -> FusionQuality:
    quality = FusionQuality(ref.shape[1])
    for start, stop in zip([0, *edges], [*edges, len(ref)], strict=True):
        quality.update(ref[start:stop], est[start:stop])
    return quality


def test_batches_match_the_formulas_on_the_whole_cube() -> None:
    rng = np.random.default_rng(0)
    ref = 1000.0 + rng.uniform(0, 50, (24 * 17, 9)) * np.linspace(1, 3, 9)  # large mean
    est = 0.9 * ref + rng.normal(0, 5, ref.shape) + 80.0
    quality = accumulate(ref, est, [1, 7, 100, 101, 250])  # uneven, one of a single pixel
    expected = one_shot(ref, est, ratio=4)
    got = quality.as_dict(ratio=4)
    assert got["pixels"] == len(ref)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9), name
    cov = np.cov(ref[:, 3], est[:, 3], bias=True)
    np.testing.assert_allclose(quality.comoment[3] / len(ref), cov[0, 1], rtol=1e-10)
    np.testing.assert_allclose(quality.reference_m2[3] / len(ref), cov[0, 0], rtol=1e-10)


def test_identical_estimate_is_perfect() -> None:
    ref = np.random.default_rng(1).uniform(0.1, 1, (50, 4))
    quality = accumulate(ref, ref.copy(), [20])
    assert quality.psnr_db == math.inf
    assert quality.sam_deg == pytest.approx(0.0, abs=1e-5)
    assert quality.rmse == 0.0 and quality.ergas(4) == 0.0
    assert quality.uiqi == pytest.approx(1.0)


def test_constant_offset() -> None:
    ref = np.random.default_rng(2).uniform(0.2, 1, (60, 3))
    quality = accumulate(ref, ref + 0.1, [30])
    assert quality.rmse == pytest.approx(0.1)
    assert quality.psnr_db == pytest.approx(np.mean(20 * np.log10(ref.max(axis=0) / 0.1)))
    assert quality.ergas(2) == pytest.approx(50 * np.sqrt(np.mean(0.1**2 / ref.mean(0) ** 2)))
    assert quality.sam_deg > 0
    assert 0 < quality.uiqi < 1  # correlation 1, but the means differ


def test_scaled_estimate_has_no_angle_but_an_error() -> None:
    ref = np.random.default_rng(3).uniform(0.2, 1, (40, 5))
    quality = accumulate(ref, 1.5 * ref, [13])
    assert quality.sam_deg == pytest.approx(0.0, abs=1e-5)
    assert math.isfinite(quality.psnr_db) and quality.rmse > 0


def test_single_band_has_no_angle() -> None:
    ref = np.linspace(0.1, 1, 30)[:, None]
    quality = accumulate(ref, ref + 0.05, [10])
    assert quality.sam_deg is None and quality.as_dict()["sam_deg"] is None
    assert math.isfinite(quality.psnr_db) and "ergas" not in quality.as_dict()


def test_non_finite_pixels_are_skipped() -> None:
    rng = np.random.default_rng(4)
    ref = rng.uniform(0.1, 1, (80, 6))
    est = ref + rng.normal(0, 0.02, ref.shape)
    dirty_ref, dirty_est = ref.copy(), est.copy()
    dirty_ref[[3, 40], 2] = np.nan
    dirty_est[[10, 79], 5] = np.inf
    keep = np.setdiff1d(np.arange(80), [3, 10, 40, 79])
    dirty = accumulate(dirty_ref, dirty_est, [5, 41])
    clean = accumulate(ref[keep], est[keep], [30])
    assert dirty.pixels == 76
    for name, value in clean.as_dict(ratio=4).items():
        assert dirty.as_dict(ratio=4)[name] == pytest.approx(value, rel=1e-12), name


def test_ergas_by_hand_on_two_bands() -> None:
    ref = np.array([[1.0, 10.0], [3.0, 30.0]])  # band means 2 and 20
    est = np.array([[2.0, 10.0], [2.0, 34.0]])  # band RMSE 1 and sqrt(8)
    quality = accumulate(ref, est, [1])
    expected = 100 / 4 * math.sqrt(((1 / 2) ** 2 + (math.sqrt(8) / 20) ** 2) / 2)
    assert quality.ergas(4) == pytest.approx(expected)


def test_zero_vectors_and_constant_bands() -> None:
    ref = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    est = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]])
    assert accumulate(ref, est, []).sam_deg == pytest.approx((0 + 90 + 0) / 3)
    constant = np.full((10, 2), 0.5)
    assert accumulate(constant, constant.copy(), [4]).uiqi == 1.0
    assert accumulate(constant, constant + 0.1, [4]).uiqi == 0.0


def test_no_pixels_gives_nan() -> None:
    quality = FusionQuality(3)
    quality.update(np.full((4, 3), np.nan), np.zeros((4, 3)))
    values = quality.as_dict(ratio=4)
    assert values["pixels"] == 0
    assert all(math.isnan(v) for k, v in values.items() if k != "pixels")


def test_exact_band_is_left_out_of_the_mean_psnr() -> None:
    ref = np.random.default_rng(5).uniform(0.5, 1, (20, 2))
    est = ref.copy()
    est[:, 1] += 0.01
    quality = accumulate(ref, est, [7])
    assert np.isinf(quality.band_psnr_db[0])
    assert quality.psnr_db == pytest.approx(20 * math.log10(ref[:, 1].max() / 0.01))


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="pixels, 3"):
        FusionQuality(3).update(np.zeros((4, 3)), np.zeros((4, 2)))
