"""PRISMA L1/L2 products: VNIR and SWIR cubes joined, unused bands left out, the overlap
marked bad, DN scaled, the L2D map grid."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from phism_cli.errors import SceneError
from phism_cli.io import open_scene
from tests.io.mission_files import write_prisma


def _cubes(lines: int = 5, samples: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    vnir = rng.integers(1, 60000, size=(lines, 6, samples)).astype(np.uint16)
    swir = rng.integers(1, 60000, size=(lines, 6, samples)).astype(np.uint16)
    return vnir, swir


def test_l2d_bands_scaling_and_grid(tmp_path) -> None:
    vnir, swir = _cubes()
    path = write_prisma(tmp_path / "PRS_L2D_STD_20230101.he5", vnir, swir)
    with open_scene(path, keep_bad_bands=True) as scene:
        assert scene.format == "PRISMA" and scene.describe()["product"].startswith("level L2D")
        np.testing.assert_allclose(scene.wavelength_nm, [420, 550, 700, 960, 990, 1000, 1200,
                                                         1600, 2100, 2400])
        assert scene.fwhm_nm[0] == 9.0 and scene.fwhm_nm[-1] == 10.0
        # SWIR's 990 nm lies inside VNIR's range: bad, VNIR kept
        assert scene.bands.good.tolist() == [True] * 4 + [False] + [True] * 5
        assert scene.crs.to_epsg() == 32633
        assert tuple(scene.transform)[:6] == pytest.approx((30, 0, 500000, 0, -30, 4600000))
        block = scene.read()
    # 420 nm is VNIR cube band 5, 990 nm SWIR cube band 4, 2400 nm SWIR band 0
    np.testing.assert_allclose(block[..., 0], vnir[:, 5, :] / 65535.0, rtol=1e-5)
    np.testing.assert_allclose(block[..., 4], swir[:, 4, :] * 0.8 / 65535.0, rtol=1e-5)
    np.testing.assert_allclose(block[..., 9], swir[:, 0, :] * 0.8 / 65535.0, rtol=1e-5)
    with open_scene(path) as scene:
        assert scene.count == 9 and 990.0 not in scene.wavelength_nm.tolist()


def test_tiles_and_band_subsets_match_the_whole(tmp_path) -> None:
    vnir, swir = _cubes(9, 7)
    path = write_prisma(tmp_path / "PRS_L2D.he5", vnir, swir)
    with open_scene(path, bands="2,7-8") as scene:
        whole = scene.read()
        assert whole.shape == (9, 7, 3)
        tiles = np.zeros_like(whole)
        for window in scene.windows(4):
            r, c = int(window.row_off), int(window.col_off)
            tiles[r:r + window.height, c:c + window.width] = scene.read(window)
    np.testing.assert_array_equal(tiles, whole)
    np.testing.assert_allclose(whole[..., 1], np.moveaxis(swir, 1, -1)[..., 3] * 0.8 / 65535,
                               rtol=1e-5)


def test_l1_radiance_in_sensor_geometry(tmp_path) -> None:
    vnir, swir = _cubes()
    path = write_prisma(tmp_path / "PRS_L1_STD.he5", vnir, swir, level="L1")
    with open_scene(path) as scene:
        assert scene.crs is None and scene.transform is None
        assert scene.data_unit == "W m-2 sr-1 um-1"
        block = scene.read()
    np.testing.assert_allclose(block[..., 0], vnir[:, 5, :] / 100.0, rtol=1e-5)
    np.testing.assert_allclose(block[..., -1], swir[:, 0, :] / 200.0 - 0.5, rtol=1e-5)


@pytest.mark.parametrize(("attrs", "message"), [
    ({"L2ScaleVnirMax": -1.0}, r"L2ScaleVnirMax \(-1.0\) is not above L2ScaleVnirMin"),
    ({"List_Cw_Swir": np.array([1.0, 2.0])}, "List_Cw_Swir has 2 values for 6 bands"),
    ({"Epsg_Code": 999999}, "Epsg_Code 999999 is not an EPSG coordinate system"),
    ({"List_Fwhm_Vnir": np.zeros(6)}, "List_Fwhm_Vnir has a width of 0 or less"),
])
def test_damaged_metadata_is_refused(tmp_path, attrs, message) -> None:
    vnir, swir = _cubes()
    path = write_prisma(tmp_path / "PRS_L2D.he5", vnir, swir, attrs=attrs)
    with pytest.raises(SceneError, match=message):
        open_scene(path)


def test_cubes_that_cover_different_pixels(tmp_path) -> None:
    vnir, swir = _cubes()
    path = write_prisma(tmp_path / "PRS_L2D.he5", vnir, swir[:, :, :3])
    with pytest.raises(SceneError, match="they must cover the same pixels"):
        open_scene(path)


def test_file_without_a_hyperspectral_swath(tmp_path) -> None:
    path = tmp_path / "PRS_L2D_PAN.he5"
    with h5py.File(path, "w") as f:
        f.create_group("HDFEOS/SWATHS/PRS_L2D_PCO")
    with pytest.raises(SceneError, match="no hyperspectral swath"):
        open_scene(path)


@pytest.mark.parametrize(("indices", "expected"), [
    ([3, 2, 1, 0], slice(3, None, -1)), ([4, 3], slice(4, 2, -1)), ([0, 1, 2], slice(0, 3, 1)),
    ([5], slice(5, 6)), ([1, 3], [1, 3]), ([2, 1, 0, 4], [2, 1, 0, 4]),
])
def test_band_runs_become_slices(indices, expected) -> None:
    from phism_cli.io.prisma import _as_slice

    got = _as_slice(np.asarray(indices))
    if isinstance(expected, slice):
        assert got == expected
        assert np.arange(10)[got].tolist() == indices
    else:
        assert np.asarray(got).tolist() == expected


def test_interleaved_bands_split_into_runs() -> None:
    from phism_cli.io.prisma import _runs

    pick = np.array([0, 1, 2, 4, 5, 6, 7])
    wanted = np.array([9, 8, 7, 3, 4, 6, 5])
    assert _runs(pick, wanted) == [(slice(0, 3), 0, 3), (slice(4, 6), 3, 5),
                                   (slice(6, 8), 5, 7)]
