"""EMIT L2A/L1B granules: bands, the GLT orthorectification per tile, sensor geometry."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from phism_cli.errors import SceneError
from phism_cli.io import open_scene
from tests.conftest import smooth_cube
from tests.io.mission_files import emit_glt, write_emit

WAVELENGTHS = np.linspace(400.0, 2450.0, 9)


def _reference_ortho(cube: np.ndarray, glt_x: np.ndarray, glt_y: np.ndarray) -> np.ndarray:
    """The LP DAAC tools' apply_glt, written out: map cell <- sensor pixel, NaN where none."""
    out = np.full((*glt_x.shape, cube.shape[-1]), np.nan, dtype=np.float32)
    valid = (glt_x != 0) & (glt_y != 0)
    out[valid] = cube[np.abs(glt_y[valid]) - 1, np.abs(glt_x[valid]) - 1]
    return out


@pytest.fixture
def granule(tmp_path):
    cube = smooth_cube(30, 20, 9, seed=3)
    good = np.ones(9, dtype=bool)
    good[4] = False
    return write_emit(tmp_path / "EMIT_L2A_RFL_001_20230101T000000_2300101_001.nc", cube,
                      WAVELENGTHS, good=good), cube


def test_metadata_and_georeferencing(granule) -> None:
    path, _ = granule
    with open_scene(path) as scene:
        assert scene.format == "EMIT"
        assert (scene.height, scene.width) == (22, 32)  # the map grid of the GLT
        assert len(scene.bands.good) == 9 and scene.count == 8  # good_wavelengths drops one
        np.testing.assert_allclose(scene.wavelength_nm, np.delete(WAVELENGTHS, 4), rtol=1e-6)
        assert scene.fwhm_nm == pytest.approx(np.full(8, 8.5))
        assert scene.nodata == -9999 and scene.data_unit is None
        assert scene.crs.to_epsg() == 4326
        assert tuple(scene.transform)[:6] == pytest.approx((0.0005, 0, 10, 0, -0.0005, 40))
        assert scene.describe()["product"] == "reflectance, orthorectified through the GLT"


def test_orthorectified_tiles_match_the_glt(granule) -> None:
    path, cube = granule
    glt_x, glt_y = emit_glt(30, 20)
    expected = _reference_ortho(cube, glt_x, glt_y)
    with open_scene(path, keep_bad_bands=True) as scene:
        whole = scene.read()
        np.testing.assert_array_equal(whole, expected)
        tiles = np.full_like(whole, -1.0)
        for window in scene.windows(7):
            r, c = int(window.row_off), int(window.col_off)
            tiles[r:r + window.height, c:c + window.width] = scene.read(window)
    np.testing.assert_array_equal(tiles, whole)
    assert np.isnan(whole[0]).all() and np.isfinite(whole[1:-1, 1:-1]).all()


def test_scattered_glt_gathers_from_far_apart_rows(tmp_path) -> None:
    cube = smooth_cube(300, 4, 3, seed=1)
    rng = np.random.default_rng(0)
    glt_y = rng.integers(1, 301, size=(5, 6)).astype(np.int32)
    glt_x = rng.integers(1, 5, size=(5, 6)).astype(np.int32)
    glt_x[0, 0] = 0
    glt_y[1, 1] = -glt_y[1, 1]  # a neighbour's pixel reused
    path = write_emit(tmp_path / "EMIT_L2A_RFL.nc", cube, WAVELENGTHS[:3], glt=(glt_x, glt_y))
    with open_scene(path) as scene:
        np.testing.assert_array_equal(scene.read(), _reference_ortho(cube, glt_x, glt_y))


def test_sensor_geometry_with_no_ortho(granule) -> None:
    path, cube = granule
    with open_scene(path, no_ortho=True, keep_bad_bands=True) as scene:
        assert (scene.height, scene.width) == (30, 20)
        assert scene.crs is None and scene.transform is None
        np.testing.assert_array_equal(scene.read(), cube.astype(np.float32))


def test_radiance_granule(tmp_path) -> None:
    cube = smooth_cube(6, 5, 4) * 10
    path = write_emit(tmp_path / "EMIT_L1B_RAD_001.nc", cube, WAVELENGTHS[:4],
                      variable="radiance")
    with open_scene(path, no_ortho=True) as scene:
        assert scene.count == 4 and scene.data_unit == "uW/cm^2/SR/nm"
        np.testing.assert_allclose(scene.read(), cube, rtol=1e-6)


def _damage(path, change) -> None:
    with h5py.File(path, "a") as f:
        change(f)


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.__delitem__("reflectance"), "without 'reflectance' or 'radiance'"),
    (lambda f: f.__delitem__("sensor_band_parameters"), "no group 'sensor_band_parameters'"),
    (lambda f: f.__delitem__("location/glt_x"), "no dataset 'location/glt_x'.*--no-ortho"),
    (lambda f: f["location/glt_y"].__setitem__((2, 2), 99), "glt_y' points at index 99 of a "
     "30-pixel axis"),
    (lambda f: f["sensor_band_parameters/wavelengths"].__setitem__(2, np.nan),
     "wavelengths' value 3 is nan"),
    (lambda f: f.attrs.__setitem__("spatial_ref", "not a crs"), "'spatial_ref' is not a WKT"),
])
def test_damaged_granules_are_refused(granule, change, message) -> None:
    path, _ = granule
    _damage(path, change)
    with pytest.raises(SceneError, match=message):
        open_scene(path)


def test_truncated_granule(granule) -> None:
    path, _ = granule
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(SceneError, match="not a readable EMIT NetCDF file"):
        open_scene(path)


def test_no_ortho_on_another_format(tmp_path) -> None:
    np.save(tmp_path / "cube.npy", np.ones((3, 3, 4), np.float32))
    with pytest.raises(SceneError, match=r"--no-ortho: applies to EMIT NetCDF granules, and "):
        open_scene(tmp_path / "cube.npy", no_ortho=True)
