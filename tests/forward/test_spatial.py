"""Upsampling and block means by integer ratios, whole-image and window by window."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from phism_cli.forward.spatial import block_mean, upsample_bilinear, upsample_window_source


@pytest.mark.parametrize("ratio", [2, 3, 4])
def test_bilinear_matches_torch(ratio):
    image = np.random.default_rng(0).random((7, 9, 3)).astype(np.float32)
    ours = upsample_bilinear(image, ratio, (0, 7 * ratio), (0, 9 * ratio))
    theirs = torch.nn.functional.interpolate(
        torch.tensor(image).permute(2, 0, 1)[None], scale_factor=ratio, mode="bilinear",
        align_corners=False)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_a_window_reads_only_its_footprint_and_equals_the_whole():
    image = np.random.default_rng(1).random((10, 12, 2)).astype(np.float32)
    whole = upsample_bilinear(image, 4, (0, 40), (0, 48))
    r0, r1, c0, c1 = upsample_window_source(5, 17, 30, 48, 4, (10, 12))
    assert (r0, r1, c0, c1) == (0, 5, 7, 12)
    window = upsample_bilinear(image[r0:r1, c0:c1], 4, (5, 17), (30, 48), (r0, c0), (10, 12))
    np.testing.assert_array_equal(window, whole[5:17, 30:48])


def test_block_mean_with_partial_blocks_and_nodata():
    image = np.arange(5 * 5, dtype=np.float64).reshape(5, 5, 1)
    means = block_mean(image, 2)
    assert means.shape == (3, 3, 1)
    assert means[0, 0, 0] == pytest.approx(np.mean([0, 1, 5, 6]))
    assert means[2, 2, 0] == pytest.approx(24.0)  # a 1 x 1 partial block
    image[0, 0] = np.nan
    assert np.isnan(block_mean(image, 2)[0, 0, 0])
    assert block_mean(image, 2, ignore_nan=True)[0, 0, 0] == pytest.approx(4.0)


def test_nodata_taps_are_left_out_and_the_others_renormalised():
    image = np.random.default_rng(2).random((6, 6, 2)).astype(np.float32)
    image[2, 3] = np.nan
    plain = upsample_bilinear(image, 4, (0, 24), (0, 24))
    kept = upsample_bilinear(image, 4, (0, 24), (0, 24), ignore_nan=True)
    reached = np.isnan(plain).any(axis=-1)
    assert reached.sum() > 16  # the NaN reaches past its own 4 x 4 block without ignore_nan
    assert np.isfinite(kept).all()
    np.testing.assert_allclose(kept[~reached], plain[~reached], rtol=1e-6)
    # a pixel between a valid and a NaN neighbour takes the valid one alone
    row, col = 2 * 4 + 1, 3 * 4 - 2  # left of the NaN pixel's block
    assert np.isfinite(kept[row, col]).all()
    # an all-NaN source stays NaN
    assert np.isnan(upsample_bilinear(np.full((2, 2, 1), np.nan), 2, (0, 4), (0, 4),
                                      ignore_nan=True)).all()
