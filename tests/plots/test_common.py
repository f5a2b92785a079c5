"""Spectra lines break where bands are missing or detectors overlap."""

from __future__ import annotations

import numpy as np

from phism_cli.plots.common import line_breaks, line_segments, stretch, value_label, with_breaks


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


def test_overlapping_detectors_draw_as_two_increasing_lines() -> None:
    vnir = np.linspace(420.0, 1000.0, 30)
    swir = np.linspace(900.0, 2450.0, 60)  # starts below the VNIR's end, as EnMAP's does
    x = np.concatenate([vnir, swir])
    lines = line_segments(x)
    assert [len(line) for line in lines] == [30, 60]
    assert all((np.diff(x[line]) > 0).all() for line in lines)
    xs, ys = with_breaks(x, np.arange(90.0))
    assert np.isnan(xs).sum() == 1  # one break: between the detectors, no zig-zag
    np.testing.assert_array_equal(ys[~np.isnan(ys)], np.arange(90.0))


def test_a_shuffled_axis_is_sorted_into_one_line() -> None:
    x = np.random.default_rng(0).permutation(np.linspace(400.0, 900.0, 50))
    (line,) = line_segments(x)
    assert (np.diff(x[line]) > 0).all()


def test_value_labels_say_what_the_numbers_are() -> None:
    assert value_label("reflectance") == "Reflectance"
    assert value_label(None) == value_label("input units") == "Value"
    assert value_label("W m-2 sr-1 um-1") == "Radiance (W m-2 sr-1 um-1)"
    assert value_label("K") == "Value (K)"


def test_stretch_maps_to_the_unit_interval_and_nan_to_white() -> None:
    image = np.random.default_rng(1).normal(size=(6, 7, 3)) * 100
    image[2, 3] = np.nan
    out = stretch(image)
    assert out.shape == image.shape and out.min() >= 0 and out.max() <= 1
    assert (out[2, 3] == 1).all()
