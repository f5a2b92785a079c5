"""Spectra lines break where bands are missing or detectors overlap."""

from __future__ import annotations

import numpy as np

from phism_cli.cli.plotting import line_breaks, with_breaks


def test_a_gap_of_dropped_bands_breaks_the_line() -> None:
    x = np.array([400.0, 410, 420, 430, 500, 510, 520])  # 440..490 dropped
    assert line_breaks(x).tolist() == [4]
    xs, ys = with_breaks(x, np.arange(7.0))
    assert np.isnan(xs[4]) and np.isnan(ys[4]) and len(xs) == 8
    np.testing.assert_array_equal(ys[~np.isnan(ys)], np.arange(7.0))


def test_overlapping_detectors_and_repeats_break_the_line() -> None:
    x = np.array([900.0, 950, 1000, 960, 1010, 1010, 1060])  # SWIR starts below VNIR's end
    assert line_breaks(x).tolist() == [3, 5]


def test_even_spacing_a_descending_axis_and_tiny_axes_do_not_break() -> None:
    assert line_breaks(np.linspace(400, 2500, 200)).size == 0
    assert line_breaks(np.linspace(2500, 400, 200)).size == 0
    assert line_breaks(np.array([1000.0, 990, 980, 900, 890])).tolist() == [3]
    assert line_breaks(np.array([500.0])).size == 0
    assert line_breaks(np.arange(1.0, 6.0)).size == 0  # band numbers
