"""Spectral response files: CSV and .mat tables, column picking, scenes' Gaussian responses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.io import savemat

from phism_cli.errors import PhismError, PhismNote, SceneError
from phism_cli.io.scene_formats import open_scene
from phism_cli.io.srf import read_response, response_for_scene
from tests.conftest import real_file, smooth_cube, write_envi

GRID_NM = np.arange(400.0, 1001.0, 10.0)
IKONOS = "paris_fusion/ikonos_spec_resp.mat"


def gaussian(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - centre) / width) ** 2)


def write_csv(path: Path, header: str, axis: np.ndarray, centres: list[float]) -> Path:
    rows = [header] + [",".join([f"{w:g}"] + [f"{gaussian(w * (1000 if w < 30 else 1), c, 25):.6f}"
                                              for c in centres]) for w in axis]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def srf_csv(tmp_path) -> Path:
    return write_csv(tmp_path / "srf.csv", "wavelength_nm,blue,green,red,nir",
                     np.arange(400.0, 1001.0, 5.0), [480, 560, 660, 850])


def test_csv_bands_are_named_by_the_header(srf_csv) -> None:
    response = read_response(srf_csv, GRID_NM)
    assert response.band_names == ["blue", "green", "red", "nir"]
    assert response.source == "srf.csv"
    np.testing.assert_allclose(response.centre_nm, [480, 560, 660, 850], atol=1.0)
    np.testing.assert_allclose(response.matrix.sum(axis=1), 1.0)


@pytest.mark.parametrize("header", ["wavelength_um", "Wavelength (um)", "wavelength"])
def test_csv_in_micrometres(tmp_path, header) -> None:
    path = write_csv(tmp_path / "um.csv", f"{header},blue,green",
                     np.arange(0.4, 1.0001, 0.005), [480, 560])
    response = read_response(path, GRID_NM)
    np.testing.assert_allclose(response.centre_nm, [480, 560], atol=1.0)


@pytest.mark.parametrize("header", ["wavelength (nm)", "WAVELENGTH_NM", "wavelength"])
def test_csv_wavelength_headers_in_nm(tmp_path, header) -> None:
    path = write_csv(tmp_path / "nm.txt", f"{header},b", np.arange(400.0, 1001.0, 5.0), [700])
    assert read_response(path, GRID_NM).centre_nm[0] == pytest.approx(700, abs=1.0)


@pytest.mark.parametrize(("columns", "names"), [
    ("green,nir", ["green", "nir"]),
    ("3,5", ["green", "nir"]),
    ("2-4", ["blue", "green", "red"]),
    ("nir, 2", ["nir", "blue"]),
])
def test_csv_columns_by_name_number_and_range(srf_csv, columns, names) -> None:
    assert read_response(srf_csv, GRID_NM, columns).band_names == names


@pytest.mark.parametrize(("columns", "match"), [
    ("1", "column 1 of .* is the wavelength"),
    ("7", r"has no column 7; pick among 2 'blue', 3 'green'"),
    ("cyan", r"'cyan' is neither a column number.*pick among 2 'blue'"),
    ("2,2", "picks column 2 twice"),
    ("4-2", "'4-2' is neither"),
    ("2,", "an empty item"),
])
def test_bad_columns_are_refused_listing_what_exists(srf_csv, columns, match) -> None:
    with pytest.raises(PhismError, match=match) as caught:
        read_response(srf_csv, GRID_NM, columns)
    assert str(caught.value).startswith(f"--srf-columns {columns!r}:")


def write_text(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "match"), [
    ("", "the file is empty"),
    ("\n\n", "the file is empty"),
    ("wavelength_nm,a\n", r"0 row\(s\) of values"),
    ("nm,a\n500,1\n600,1\n", "the first column is named 'nm'; name it wavelength_nm"),
    ("wavelength_nm\n500\n600\n", "the header names no band"),
    ("wavelength_nm,a,a\n500,1,1\n600,1,1\n", "columns 2 and 3 are both named 'a'"),
    ("wavelength_nm,a,\n500,1,1\n600,1,1\n", "column 3 of the header has no name"),
    ("wavelength_nm,a\n500,1\n600,x\n", r"line 3, column 'a' is 'x', not a number"),
    ("wavelength_nm,a\n500,1\n600,\n", r"line 3, column 'a' is empty"),
    ("wavelength_nm,a\n500,1,2\n600,1\n", "line 2 has 3 cells but the header has 2"),
    ("wavelength_nm,a\n500,1\n600,nan\n", "band 'a' is nan at 600 nm"),
    ("wavelength_nm,a\n500,1\n500,1\n", "500 nm appears twice"),
    ("wavelength_nm,a\n500,0\n600,0\n", "band 'a' is zero at every wavelength"),
])
def test_damaged_csv_tables_are_refused_in_one_line(tmp_path, text, match) -> None:
    path = write_text(tmp_path / "bad.csv", text)
    with pytest.raises(PhismError, match=match) as caught:
        read_response(path, GRID_NM)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"--srf {path}:")


def test_unreadable_files_are_refused(tmp_path) -> None:
    with pytest.raises(PhismError, match="no such file"):
        read_response(tmp_path / "missing.csv", GRID_NM)
    with pytest.raises(PhismError, match="is a folder"):
        read_response(tmp_path, GRID_NM)
    with pytest.raises(PhismError, match=r"unknown spectral response format '\.json'"):
        read_response(write_text(tmp_path / "srf.json", "{}"), GRID_NM)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x00\x01\x02wavelength")
    with pytest.raises(PhismError, match="holds binary bytes"):
        read_response(binary, GRID_NM)
    damaged = tmp_path / "damaged.mat"
    damaged.write_bytes(b"MATLAB 5.0 MAT-file" + b"\x07" * 200)
    with pytest.raises(PhismError, match="not a readable MATLAB v5 file") as caught:
        read_response(damaged, GRID_NM)
    assert "\n" not in str(caught.value)


def test_mat_tables(tmp_path) -> None:
    axis = np.arange(400.0, 1001.0, 5.0)
    table = np.column_stack([axis, gaussian(axis, 550, 25), gaussian(axis, 800, 25)])
    savemat(tmp_path / "srf.mat", {"small": np.ones((2, 2)), "srf": table})
    response = read_response(tmp_path / "srf.mat", GRID_NM)
    assert response.band_names == ["column 2", "column 3"]
    np.testing.assert_allclose(response.centre_nm, [550, 800], atol=1.0)
    savemat(tmp_path / "um.mat", {"srf": np.column_stack([axis / 1000, table[:, 1:]]).T})
    transposed = read_response(tmp_path / "um.mat", GRID_NM, "3")
    assert transposed.band_names == ["column 3"]
    assert transposed.centre_nm[0] == pytest.approx(800, abs=1.0)
    savemat(tmp_path / "none.mat", {"cube": np.ones((2, 2, 2)), "row": np.ones((1, 5))})
    with pytest.raises(PhismError, match="no 2-D numeric table inside"):
        read_response(tmp_path / "none.mat", GRID_NM)


def test_a_band_outside_the_scene_names_the_band_and_the_scene(srf_csv) -> None:
    with pytest.raises(PhismError, match=r"band 'nir' responds from 7\d\d to 9\d\d nm, and "
                                         r"all of its response falls outside the hyperspectral "
                                         r"bands of scene\.hdr \(395-705 nm\); no band can be "
                                         r"cut to nothing: keep only the bands the scene covers "
                                         r"with --srf-columns") as caught:
        read_response(srf_csv, np.arange(400.0, 701.0, 10.0), hsi_name="scene.hdr")
    assert str(caught.value).startswith(f"--srf {srf_csv}:")
    assert read_response(srf_csv, np.arange(400.0, 701.0, 10.0), "2-4").n_bands == 3


def test_cut_accepts_a_band_partly_outside_and_says_how_much(tmp_path) -> None:
    """IKONOS's NIR over a ROSIS-like cube ending at 860 nm: part of the band is cut off."""
    axis = np.arange(400.0, 1001.0, 5.0)
    path = tmp_path / "srf.csv"
    rows = "\n".join(f"{x},{gaussian(x, 550, 30):.6f},{gaussian(x, 820, 40):.6f}" for x in axis)
    path.write_text("wavelength_nm,green,nir\n" + rows + "\n")
    rosis = np.arange(430.0, 861.0, 4.0)
    with pytest.raises(PhismError, match=r"'nir' .* % of its response falls outside.*more than "
                                         "the 5 % allowed; pass --cut-srf to cut such bands"):
        read_response(path, rosis)
    with pytest.warns(PhismNote, match=r"band 'nir' was cut at the hyperspectral range: "
                                       r"\d+\.\d % of its response lay outside it"):
        response = read_response(path, rosis, cut=True)
    cut = response.describe()["outside_fraction"]
    assert cut[0] < 0.01 and 0.05 < cut[1] < 0.5
    np.testing.assert_allclose(response.matrix.sum(axis=1), 1.0)
    with pytest.raises(PhismError, match=r"all of its response falls outside.*no band can be "
                                         "cut to nothing"):
        read_response(path, np.arange(400.0, 500.0, 5.0), "3", cut=True)


def test_scene_without_wavelengths_is_refused(srf_csv) -> None:
    with pytest.raises(PhismError, match=r"hsi\.mat: its bands have no wavelengths.*--wavelengths"):
        read_response(srf_csv, None, hsi_name="hsi.mat")


def test_real_ikonos_table(shared_data) -> None:
    path = real_file(shared_data, IKONOS)
    hyperion = np.arange(400.0, 2501.0, 10.0)
    everything = read_response(path, hyperion)
    assert everything.band_names == [f"column {i}" for i in range(2, 7)]
    pan = read_response(path, hyperion, "2")
    assert pan.band_names == ["column 2"] and pan.n_bands == 1
    assert 600 < pan.centre_nm[0] < 800
    bgrn = read_response(path, hyperion, "3-6")
    assert bgrn.band_names == ["column 3", "column 4", "column 5", "column 6"]
    assert np.all(np.diff(bgrn.centre_nm) > 0)  # blue, green, red, near infrared
    np.testing.assert_allclose(bgrn.centre_nm, [497, 560, 666, 792], atol=5)
    np.testing.assert_allclose(bgrn.matrix.sum(axis=1), 1.0)
    with pytest.raises(PhismError, match="band 'column 6' responds from"):
        read_response(path, np.arange(400.0, 701.0, 10.0), "3,6")


# -- scenes: Gaussians from their metadata, or --srf ------------------------------------------
def write_msi(tmp_path: Path, extra_header: str, bands: int = 3) -> Path:
    return write_envi(tmp_path / "msi.img", smooth_cube(4, 4, bands), extra_header=extra_header)


def test_response_for_scene_with_srf_checks_the_band_count(tmp_path, srf_csv) -> None:
    with open_scene(write_msi(tmp_path, "", bands=4)) as msi:
        response = response_for_scene(msi, GRID_NM, srf_csv, None, "hsi.hdr")
        assert response.n_bands == 4
    with open_scene(write_msi(tmp_path, "", bands=3)) as msi, \
            pytest.raises(PhismError, match=r"--srf .*srf\.csv has 4 bands but MSI .*msi\.hdr "
                                            r"has 3; pick them with --srf-columns"):
        response_for_scene(msi, GRID_NM, srf_csv, None, "hsi.hdr")
    with open_scene(write_msi(tmp_path, "", bands=3)) as msi:
        assert response_for_scene(msi, GRID_NM, srf_csv, "2-4", "hsi.hdr").n_bands == 3


def test_response_for_scene_from_wavelengths_and_fwhm(tmp_path) -> None:
    header = ("wavelength = {480, 560, 660}\nfwhm = {60, 70, 60}\n"
              "band names = {blue, green, red}\n")
    with open_scene(write_msi(tmp_path, header)) as msi:
        response = response_for_scene(msi, GRID_NM, None, None, "hsi.hdr")
    assert response.source == "gaussian"
    assert response.band_names == ["blue", "green", "red"]
    np.testing.assert_allclose(response.centre_nm, [480, 560, 660], atol=1.0)


def test_response_for_scene_without_fwhm_uses_the_band_spacing(tmp_path) -> None:
    with open_scene(write_msi(tmp_path, "wavelength = {480, 560, 660}\n")) as msi:
        response = response_for_scene(msi, np.arange(300.0, 1001.0, 2.0), None, None, "h")
    assert response.band_names == ["band 1", "band 2", "band 3"]
    np.testing.assert_allclose(response.fwhm_nm, [80, 80, 100], rtol=0.02)


def test_response_for_scene_refusals(tmp_path) -> None:
    with open_scene(write_msi(tmp_path, "")) as msi, \
            pytest.raises(PhismError, match=r"no wavelengths.*give --srf or --msi-wavelengths"):
        response_for_scene(msi, GRID_NM, None, None, "hsi.hdr")
    with open_scene(write_msi(tmp_path, "wavelength = {650}\n", bands=1)) as msi, \
            pytest.raises(PhismError, match=r"one band at 650 nm.*--msi-fwhm"):
        response_for_scene(msi, GRID_NM, None, None, "hsi.hdr")
    with open_scene(write_msi(tmp_path, "wavelength = {480, 560, 1660}\n")) as msi, \
            pytest.raises(PhismError, match=r"Gaussian band 'band 3' responds from .* of hsi\.hdr"):
        response_for_scene(msi, GRID_NM, None, None, "hsi.hdr")
    with open_scene(write_msi(tmp_path, "wavelength = {480, 560, 660}\n")) as msi, \
            pytest.raises(PhismError, match=r"--srf-columns 2: .*give --srf too"):
        response_for_scene(msi, GRID_NM, None, "2", "hsi.hdr")


# -- open_scene's fwhm --------------------------------------------------------------------------
def test_open_scene_fwhm_overrides_or_supplies_widths(tmp_path) -> None:
    path = write_msi(tmp_path, "wavelength = {480, 560, 660}\nfwhm = {1, 2, 3}\n")
    with open_scene(path) as scene:
        np.testing.assert_allclose(scene.fwhm_nm, [1, 2, 3])
    with open_scene(path, fwhm="60,70,80") as scene:
        np.testing.assert_allclose(scene.fwhm_nm, [60, 70, 80])
        np.testing.assert_allclose(scene.wavelength_nm, [480, 560, 660])
    with open_scene(path, fwhm="40") as scene:
        np.testing.assert_allclose(scene.fwhm_nm, [40, 40, 40])
    with open_scene(path, ignore_wavelengths=True, wavelengths="500:700", fwhm="25") as scene:
        np.testing.assert_allclose(scene.wavelength_nm, [500, 600, 700])
        np.testing.assert_allclose(scene.fwhm_nm, [25, 25, 25])


@pytest.mark.parametrize(("spec", "prefix", "match"), [
    ("1,2", "--", r"--fwhm '1,2': 2 widths given for 3 bands; .*msi\.hdr has 3 bands"),
    ("-5", "--msi-", r"--msi-fwhm '-5': '-5' is not a positive number"),
    ("a,b,c", "--msi-", r"--msi-fwhm 'a,b,c': 'a' is not a positive number"),
])
def test_open_scene_bad_fwhm(tmp_path, spec, prefix, match) -> None:
    path = write_msi(tmp_path, "wavelength = {480, 560, 660}\n")
    with pytest.raises(SceneError, match=match):
        open_scene(path, fwhm=spec, flag_prefix=prefix)
    with pytest.raises(SceneError, match=r"^--msi-wavelengths '1,2': 2 wavelengths given"):
        open_scene(path, wavelengths="1,2", flag_prefix="--msi-")
