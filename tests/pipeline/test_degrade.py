"""Wald-protocol degradation: the PSF, noise, and the streamed path against the array path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from rasterio.windows import Window

from phism_cli.forward.psf import SeparablePSF, make_psf
from phism_cli.forward.response import gaussian_response
from phism_cli.io.scene_formats import open_scene
from phism_cli.pipeline.degrade import (
    band_mean_squares,
    default_psf_sigma,
    degrade_scene,
    degrade_window,
    noise_std,
    processing_tile,
    spatial_degrade,
    standard_normal,
)
from tests.conftest import smooth_cube, write_envi

torch.set_num_threads(1)

WAVELENGTH_NM = np.linspace(420.0, 980.0, 12)


class ArraySink:
    """An output held in memory."""

    def __init__(self, shape: tuple[int, int, int]) -> None:
        self.array = np.full(shape, -1.0, dtype=np.float32)
        self.writes = 0

    def write(self, window: Window, block: np.ndarray) -> None:
        rows, cols = window.toslices()
        self.array[rows, cols] = block
        self.writes += 1


def write_scene(tmp_path: Path, cube: np.ndarray, name: str = "x") -> Path:
    wl = np.linspace(420.0, 980.0, cube.shape[-1])
    header = "wavelength = {" + ", ".join(f"{w:.4f}" for w in wl) + "}\n"
    return write_envi(tmp_path / f"{name}.img", cube, extra_header=header)


def run_streamed(path: Path, ratio: int, psf: SeparablePSF | float, tile_size: int,
                 noise: dict | None = None, seed: int = 0,
                 snr_db: float | None = None) -> dict[str, ArraySink]:
    with open_scene(path) as scene:
        response = gaussian_response([500.0, 650.0, 850.0], [60.0, 60.0, 80.0],
                                     ["b", "r", "n"], scene.wavelength_nm)
        rows, cols = scene.height // ratio, scene.width // ratio
        sinks = {"hsi": ArraySink((rows, cols, scene.count)),
                 "msi": ArraySink((rows * ratio, cols * ratio, 3)),
                 "reference": ArraySink((rows * ratio, cols * ratio, scene.count))}
        summary = degrade_scene(scene, response, sinks["hsi"], sinks["msi"],
                                sinks["reference"], ratio=ratio, psf=psf,
                                noise=noise, snr_db=snr_db, seed=seed, tile_size=tile_size)
    assert summary.shapes == {name: sink.array.shape for name, sink in sinks.items()}
    sinks["response"] = response  # type: ignore[assignment]
    return sinks


# -- the PSF ---------------------------------------------------------------------------------
def test_default_psf_has_a_fwhm_of_the_ratio() -> None:
    assert default_psf_sigma(4) * 2.35482 == pytest.approx(4.0, rel=1e-5)


def test_ratio_and_shapes() -> None:
    cube = smooth_cube(37, 29, 3)
    assert spatial_degrade(cube, 4, 1.0).shape == (9, 7, 3)
    assert spatial_degrade(cube, 2, 0.0).shape == (18, 14, 3)
    assert spatial_degrade(cube, 4, 1.0).dtype == np.float32
    with pytest.raises(ValueError, match="holds no 5 x 5 block"):
        spatial_degrade(cube[:4], 5, 1.0)
    with pytest.raises(ValueError, match="whole number"):
        spatial_degrade(cube, 2.5, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sigma"):
        spatial_degrade(cube, 2, -1.0)


@pytest.mark.parametrize("psf", [0.0, 0.7, default_psf_sigma(4), 3.0,
                                 make_psf("box", 4, length_blocks=1.5), make_psf("sinc", 4),
                                 make_psf("motion", 4)])
def test_a_constant_cube_stays_constant(psf) -> None:
    cube = np.full((26, 30, 2), 0.375, dtype=np.float32)
    np.testing.assert_allclose(spatial_degrade(cube, 4, psf), 0.375, rtol=1e-6)


def test_sigma_zero_equals_block_means() -> None:
    cube = smooth_cube(27, 22, 5)
    expected = cube[:27 // 3 * 3, :22 // 3 * 3].reshape(9, 3, 7, 3, 5).mean(axis=(1, 3))
    np.testing.assert_allclose(spatial_degrade(cube, 3, 0.0), expected, rtol=1e-6)


@pytest.mark.parametrize(("ratio", "sigma"), [(4, default_psf_sigma(4)), (3, 2.0), (5, 1.5)])
def test_a_point_source_spreads_with_the_asked_sigma(ratio, sigma) -> None:
    """Band k holds a point at column k (and a fixed row): low-res column J of band k is
    the 1-D PSF at offset k - J * ratio (times the row's weight), so the bands sweep it; its
    second moment about the block centre is sigma^2 within 3 % (the PSF is sampled at whole
    pixels and cut 3 sigma beyond the block)."""
    height, width = 8 * ratio, 8 * ratio
    row, column_block = 4 * ratio + ratio // 2, 4
    cube = np.zeros((height, width, width), dtype=np.float64)
    cube[row, np.arange(width), np.arange(width)] = 1.0
    low = spatial_degrade(cube, ratio, sigma)
    profile = low[4, column_block, :]
    profile = profile / profile.sum()
    x = np.arange(width) - (column_block * ratio + (ratio - 1) / 2)
    assert (profile * x).sum() == pytest.approx(0.0, abs=1e-9)
    assert np.sqrt((profile * x**2).sum()) == pytest.approx(sigma, rel=0.03)


def test_motion_smears_along_the_columns_only() -> None:
    """A point at (row 17, column 18) of a 32 x 32 image, ratio 4: a one-block box along y
    keeps it in low-res row 4; a three-block box along x spreads it evenly over columns 3-5
    (the box reaches 4 pixels either side of the block), a quarter of it per low-res row."""
    cube = np.zeros((32, 32, 1))
    cube[17, 18] = 1.0
    low = spatial_degrade(cube, 4, make_psf("motion", 4))[..., 0]
    assert np.flatnonzero(low.sum(axis=1)).tolist() == [4]
    row = low[4]
    assert np.flatnonzero(row).tolist() == [3, 4, 5]
    np.testing.assert_allclose(row[3:6], 1 / 4 / 12)  # the row weight times the column one


def test_nan_propagates_to_every_low_res_pixel_whose_support_holds_it() -> None:
    cube = smooth_cube(32, 32, 3)
    cube[13, 21, 1] = np.nan
    low = spatial_degrade(cube, 4, 1.0)  # halo 3: block I reads 4I - 3 .. 4I + 6
    expected = np.zeros((8, 8), dtype=bool)
    expected[2:5, 4:7] = True  # row 13 in blocks 2-4, column 21 in blocks 4-6
    np.testing.assert_array_equal(np.isnan(low[..., 1]), expected)
    assert np.isfinite(low[..., [0, 2]]).all()
    assert np.isnan(spatial_degrade(cube, 4, 0.0)[..., 1]).sum() == 1


def test_degrade_window_refuses_a_block_without_the_support() -> None:
    cube = smooth_cube(16, 16, 2)
    with pytest.raises(ValueError, match="does not hold the PSF support"):
        degrade_window(cube[4:12], (4, 0), Window(0, 1, 4, 1), 4, 1.0, (16, 16))


def test_processing_tiles_fit_16_pixel_blocks() -> None:
    assert processing_tile(4, 256) == 256
    assert processing_tile(3, 256) == 240
    assert processing_tile(2, 16) == 16
    assert processing_tile(20, 256) == 240
    assert processing_tile(64, 16) == 64


# -- streaming --------------------------------------------------------------------------------
@pytest.mark.parametrize(("ratio", "psf", "tile_size"), [
    (2, 1.3, 16), (3, 0.0, 16), (4, default_psf_sigma(4), 64), (3, make_psf("sinc", 3), 16),
    (2, make_psf("motion", 2, length_blocks=4), 16),
    (3, make_psf("box", 3, length_blocks=1.7), 16)])
def test_streamed_equals_in_memory(tmp_path, ratio, psf, tile_size) -> None:
    """70 x 53 pixels: no multiple of the ratio or of the tile; several tiles each way."""
    cube = smooth_cube(70, 53, 12, seed=3)
    cube[5, 7, :] = np.nan
    sinks = run_streamed(write_scene(tmp_path, cube), ratio, psf, tile_size)
    assert sinks["hsi"].writes > 1
    rows, cols = 70 // ratio * ratio, 53 // ratio * ratio
    np.testing.assert_array_equal(sinks["hsi"].array, spatial_degrade(cube, ratio, psf))
    np.testing.assert_array_equal(sinks["reference"].array, cube[:rows, :cols])
    expected_msi = sinks["response"].apply(cube[:rows, :cols])
    np.testing.assert_allclose(sinks["msi"].array, expected_msi, rtol=1e-5)
    assert np.isnan(sinks["msi"].array[5, 7]).all()
    assert np.isnan(sinks["hsi"].array[5 // ratio, 7 // ratio]).all()


def test_the_cube_is_read_tile_by_tile(tmp_path) -> None:
    """The streamed path never asks for more than one tile and its PSF halo."""
    path = write_scene(tmp_path, smooth_cube(100, 90, 4))
    reads: list[tuple[int, int]] = []
    with open_scene(path) as scene:
        original = scene.read

        def spy(window=None):
            reads.append((int(window.height), int(window.width)))
            return original(window)

        scene.read = spy  # type: ignore[method-assign]
        response = gaussian_response([600.0], [100.0], ["p"], scene.wavelength_nm)
        sinks = [ArraySink((25, 22, 4)), ArraySink((100, 88, 1)), ArraySink((100, 88, 4))]
        degrade_scene(scene, response, *sinks, ratio=4, psf=1.7, tile_size=16)
    halo = make_psf("gaussian", 4, sigma_px=1.7).halo
    assert len(reads) == 7 * 6  # 16 x 16 high-res tiles over 100 x 88
    assert max(max(r) for r in reads) <= 16 + 2 * halo


# -- noise -------------------------------------------------------------------------------------
def test_standard_normal_does_not_depend_on_the_window() -> None:
    whole = standard_normal(7, 1, 0, 0, 9, 11, 11, 5)
    part = standard_normal(7, 1, 3, 4, 5, 6, 11, 5)
    np.testing.assert_array_equal(part, whole[3:8, 4:10])
    odd = standard_normal(7, 1, 2, 3, 1, 1, 11, 3)  # starts on an odd value index
    np.testing.assert_array_equal(odd, standard_normal(7, 1, 0, 0, 9, 11, 11, 3)[2:3, 3:4])
    assert not np.array_equal(whole, standard_normal(8, 1, 0, 0, 9, 11, 11, 5))
    assert not np.array_equal(whole, standard_normal(7, 2, 0, 0, 9, 11, 11, 5))


def test_standard_normal_is_standard_normal() -> None:
    values = standard_normal(0, 1, 0, 0, 200, 200, 200, 5).ravel()
    assert values.dtype == np.float32
    assert abs(values.mean()) < 0.01 and abs(values.std() - 1.0) < 0.01
    assert abs(np.mean(values**4) - 3.0) < 0.05  # Gaussian kurtosis


def test_band_mean_squares(tmp_path) -> None:
    cube = smooth_cube(21, 18, 12)
    cube[2, 3, 4] = np.nan
    with open_scene(write_scene(tmp_path, cube)) as scene:
        response = gaussian_response([600.0], [100.0], ["p"], scene.wavelength_nm)
        hsi, msi = band_mean_squares(scene, response, 4, tile_size=16)
    crop = cube[:20, :16].astype(np.float64)
    np.testing.assert_allclose(hsi, np.nanmean(crop**2, axis=(0, 1)), rtol=1e-6)
    applied = response.apply(crop)
    np.testing.assert_allclose(msi, np.nanmean(applied**2, axis=(0, 1)), rtol=1e-6)


def test_noise_level_as_asked_and_deterministic(tmp_path) -> None:
    snr_db, ratio = 25.0, 2
    cube = smooth_cube(192, 160, 12, seed=1)
    path = write_scene(tmp_path, cube)
    with open_scene(path) as scene:
        response = gaussian_response([500.0, 650.0, 850.0], [60.0, 60.0, 80.0],
                                     ["b", "r", "n"], scene.wavelength_nm)
        squares = band_mean_squares(scene, response, ratio)
    noise = {"hsi": noise_std(squares[0], snr_db), "msi": noise_std(squares[1], snr_db)}
    clean = run_streamed(path, ratio, 1.0, 64)
    noisy = run_streamed(path, ratio, 1.0, 64, noise=noise, seed=5)
    for role, mean_square in zip(("hsi", "msi"), squares, strict=True):
        added = (noisy[role].array - clean[role].array).astype(np.float64)
        measured = 10 * np.log10(mean_square / (added**2).mean(axis=(0, 1)))
        np.testing.assert_allclose(measured, snr_db, atol=0.5)
    np.testing.assert_array_equal(noisy["reference"].array, clean["reference"].array)
    again = run_streamed(path, ratio, 1.0, 32, noise=noise, seed=5)  # another tile size
    measured = run_streamed(path, ratio, 1.0, 16, snr_db=snr_db, seed=5)  # measures itself
    for role in ("hsi", "msi"):
        np.testing.assert_array_equal(again[role].array, noisy[role].array)
        np.testing.assert_allclose(measured[role].array, noisy[role].array, rtol=1e-5)
    other = run_streamed(path, ratio, 1.0, 64, noise=noise, seed=6)
    assert not np.array_equal(other["hsi"].array, noisy["hsi"].array)
