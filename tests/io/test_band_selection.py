"""Band lists (--bands, --bad-bands) and wavelength units (--wavelength-unit) on every kind
of scene."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from phism_cli.errors import PhismNote, SceneError
from phism_cli.io import open_scene
from phism_cli.io.band_lists import format_band_list, parse_band_list
from tests.conftest import smooth_cube, write_envi


def test_band_lists_parse_and_format_back() -> None:
    aviris_water = "108-112,154-167,224"
    numbers = parse_band_list(aviris_water, 224)
    assert len(numbers) == 5 + 14 + 1 and numbers[0] == 108 and numbers[-1] == 224
    assert format_band_list(numbers) == aviris_water
    assert parse_band_list(" 3, 1-2 ,2") == [1, 2, 3]


@pytest.mark.parametrize(("spec", "phrase"), [
    ("0-3", "band 0 does not exist"),
    ("5-2", "runs backwards; write 2-5"),
    ("1,x", "'x' is neither a band number nor a range"),
    ("1,,2", "an empty item"),
    ("", "no band is named"),
    ("10", "band 10 does not exist: the file has 6 bands"),
])
def test_malformed_band_lists_are_refused(spec, phrase) -> None:
    with pytest.raises(ValueError, match=phrase):
        parse_band_list(spec, 6)


@pytest.fixture
def envi_scene(tmp_path):
    cube = smooth_cube(4, 5, 6)
    header = write_envi(tmp_path / "s.img", cube, extra_header=(
        "wavelength = {400, 500, 600, 700, 800, 900}\nwavelength units = nm\n"
        "bbl = {1, 1, 0, 1, 1, 1}\n"))
    return header, cube


def test_bad_bands_and_bands_select_the_file_bands(envi_scene) -> None:
    header, cube = envi_scene
    with open_scene(header, bad_bands="1,6") as scene:  # bbl drops band 3 as well
        assert list(scene.band_indices + 1) == [2, 4, 5]
        np.testing.assert_allclose(scene.read(), cube[:, :, [1, 3, 4]])
        np.testing.assert_allclose(scene.wavelength_nm, [500, 700, 800])
        assert scene.describe()["dropped_bands"] == [1, 3, 6]
    with open_scene(header, bands="2-4") as scene:
        assert list(scene.band_indices + 1) == [2, 4]
    with open_scene(header, bands="2-4", keep_bad_bands=True) as scene:
        assert list(scene.band_indices + 1) == [2, 3, 4]


def test_band_selections_that_do_not_fit_the_file_are_refused(envi_scene) -> None:
    header, _ = envi_scene
    with pytest.raises(SceneError, match=r"--bad-bands '7': band 7 does not exist: the file "
                                         r"has 6 bands \(.*s\.hdr\)"):
        open_scene(header, bad_bands="7")
    with pytest.raises(SceneError, match="leave no band to read"):
        open_scene(header, bands="3")  # the one band bbl marks bad


def test_band_selection_on_geotiff_and_arrays(tmp_path) -> None:
    cube = smooth_cube(3, 3, 5)
    np.save(tmp_path / "c.npy", cube)
    with open_scene(tmp_path / "c.npy", bad_bands="2-3") as scene:
        np.testing.assert_array_equal(scene.read(), cube[:, :, [0, 3, 4]])
    path = tmp_path / "c.tif"
    with rasterio.open(path, "w", driver="GTiff", height=3, width=3, count=5,
                       dtype="float32") as ds:
        ds.write(np.moveaxis(cube, -1, 0))
    with open_scene(path, bands="5,1") as scene:
        np.testing.assert_array_equal(scene.read(), cube[:, :, [0, 4]])


def test_wavelengths_without_a_unit_below_30_are_micrometres_and_said(tmp_path) -> None:
    header = write_envi(tmp_path / "um.img", smooth_cube(2, 2, 3),
                        extra_header="wavelength = {0.5, 1.0, 2.0}\n")
    with pytest.warns(PhismNote, match=r"0.5-2 have no unit .* read as micrometres"):
        scene = open_scene(header)
    np.testing.assert_allclose(scene.wavelength_nm, [500, 1000, 2000])
    assert scene.notes and "micrometres" in scene.notes[0]
    with pytest.warns(PhismNote, match="--wavelengths 0.4:2.5: wavelengths 0.4-2.5"):
        scene = open_scene(tmp_path / "um.img", wavelengths="0.4:2.5")
    np.testing.assert_allclose(scene.wavelength_nm[[0, -1]], [400, 2500])


def test_wavelength_units_that_cannot_be_right_are_refused(tmp_path) -> None:
    header = write_envi(tmp_path / "nm.img", smooth_cube(2, 2, 3),
                        extra_header="wavelength = {0.5, 1.0, 2.0}\nwavelength units = nm\n")
    with pytest.raises(SceneError, match=r"nm\.hdr.*'wavelength units'.*can only be "
                                         r"micrometres; .*--wavelength-unit nm\|um"):
        open_scene(header)
    with open_scene(header, wavelength_unit="um") as scene:  # the user says better
        np.testing.assert_allclose(scene.wavelength_nm, [500, 1000, 2000])
    with pytest.raises(SceneError, match="--wavelengths '35:90': wavelengths 35-90 have no "
                                         "unit, and numbers up to 90 are neither"):
        open_scene(header, wavelengths="35:90", ignore_wavelengths=True)
    with pytest.raises(SceneError, match="--wavelength-unit 'furlong' is not a wavelength"):
        open_scene(header, wavelength_unit="furlong")
    with open_scene(header, wavelengths="0.4,0.5,0.6", wavelength_unit="um", fwhm="0.01",
                    ignore_wavelengths=True) as scene:
        np.testing.assert_allclose(scene.fwhm_nm, [10, 10, 10])


def test_geotiff_tag_units_follow_the_same_rule(tmp_path) -> None:
    path = tmp_path / "t.tif"
    with rasterio.open(path, "w", driver="GTiff", height=2, width=2, count=2,
                       dtype="float32") as ds:
        ds.write(np.ones((2, 2, 2), dtype="float32"))
        for band, value in ((1, "450"), (2, "0.55")):  # no unit, nm and um mixed up
            ds.update_tags(band, wavelength=value)
    with pytest.raises(SceneError, match=r"0.55-450 have no unit and mix values below 30"):
        open_scene(path)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(1, wavelength="0.45")
    with pytest.warns(PhismNote, match="read as micrometres"):
        scene = open_scene(path)
    np.testing.assert_allclose(scene.wavelength_nm, [450, 550])
