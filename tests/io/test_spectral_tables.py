"""Spectral tables: round trips through every format, the refusals, resampling, real ASU files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from phism_cli.errors import PhismError
from phism_cli.io.spectral_tables import (
    AXIS_UNITS,
    SpectralTable,
    is_spectral_library,
    is_spectral_table_csv,
    read_spectral_table,
    write_spectral_table,
)
from tests.conftest import real_file


def table(n_spectra: int = 3, n_bands: int = 7, seed: int = 0,
          axis_unit: str = "wavelength_nm") -> SpectralTable:
    rng = np.random.default_rng(seed)
    axis = {"wavelength_nm": np.linspace(400.0, 1000.0, n_bands),
            "wavelength_um": np.linspace(0.4, 2.5, n_bands),
            "wavenumber_cm-1": np.linspace(400.0, 1400.0, n_bands)}[axis_unit]
    spectra = rng.uniform(0.05, 0.95, size=(n_spectra, n_bands))
    return SpectralTable(axis, axis_unit, [f"s{i}" for i in range(n_spectra)], spectra)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def refused(path: Path, *words: str, **kwargs) -> str:
    with pytest.raises(PhismError) as info:
        read_spectral_table(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message or any(str(p) in message for p in kwargs.values()), message
    for word in words:
        assert word in message, message
    return message


# -- round trips ------------------------------------------------------------------------------
@pytest.mark.parametrize("axis_unit", AXIS_UNITS)
@pytest.mark.parametrize("suffix", [".csv", ".sli", ".txt"])
def test_round_trip(tmp_path, suffix, axis_unit) -> None:
    original = table(axis_unit=axis_unit)
    path = tmp_path / f"lib{suffix}"
    write_spectral_table(path, original)
    back = read_spectral_table(path, axis_unit=axis_unit if suffix == ".txt" else None)
    assert back.axis_unit == axis_unit and back.path == path
    np.testing.assert_array_equal(back.axis, original.axis)
    if suffix == ".txt":  # a text table keeps no names
        assert back.names == ["column_1", "column_2", "column_3"]
    else:
        assert back.names == original.names
    # float32 in the library, full precision in the text formats
    np.testing.assert_allclose(back.spectra, original.spectra, rtol=1e-7 if suffix == ".sli"
                               else 0)


def test_float32_values_are_written_short_and_read_back_exactly(tmp_path) -> None:
    original = table()
    original.spectra = original.spectra.astype(np.float32).astype(np.float64)
    path = tmp_path / "lib.csv"
    write_spectral_table(path, original)
    assert max(len(cell) for cell in path.read_text().replace("\n", ",").split(",")) <= 14
    back = read_spectral_table(path)
    np.testing.assert_array_equal(back.spectra.astype(np.float32),
                                  original.spectra.astype(np.float32))


def test_library_reads_in_spectral_and_keeps_missing_values(tmp_path) -> None:
    from spectral.io import envi

    original = table()
    original.spectra[1, 2] = np.nan
    write_spectral_table(tmp_path / "lib.sli", original)
    lib = envi.open(str(tmp_path / "lib.hdr"), str(tmp_path / "lib.sli"))
    assert lib.names == original.names
    np.testing.assert_allclose(lib.bands.centers, original.axis)
    np.testing.assert_allclose(lib.spectra, original.spectra, rtol=1e-7)
    for path in (tmp_path / "lib.sli", tmp_path / "lib.hdr"):
        back = read_spectral_table(path)
        assert np.isnan(back.spectra[1, 2]) and np.isfinite(back.spectra).sum() == 20
    assert is_spectral_library(tmp_path / "lib.sli") and is_spectral_library(tmp_path / "lib.hdr")


def test_text_table_zeros_are_missing_and_names_come_from_a_file(tmp_path) -> None:
    path = tmp_path / "lib.txt"
    path.write_text("1400 0.9 0\n1200 0.8 0.7\n1000\t0.95\t0\n")
    names_csv = write_csv(tmp_path / "meta.csv", "sample_name,category\nquartz,a\nquartz,b\n")
    back = read_spectral_table(path, names_path=names_csv)
    assert back.axis_unit == "wavenumber_cm-1" and back.names == ["quartz", "quartz (2)"]
    np.testing.assert_array_equal(back.spectra[0], [0.9, 0.8, 0.95])
    assert np.isnan(back.spectra[1, [0, 2]]).all() and back.spectra[1, 1] == 0.7
    names_txt = tmp_path / "names.txt"
    names_txt.write_text("albite\n\nbiotite\n")
    assert read_spectral_table(path, names_path=names_txt).names == ["albite", "biotite"]
    names_txt.write_text("albite\n")
    refused(path, "1 names", "2 spectrum columns", names_path=names_txt)


def test_csv_with_a_byte_order_mark_and_blank_lines(tmp_path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes("\ufeffwavelength_um, a ,b\n0.5,1,2\n\n0.6,3,4\n".encode())
    back = read_spectral_table(path)
    assert back.names == ["a", "b"] and back.axis_unit == "wavelength_um"
    np.testing.assert_array_equal(back.spectra, [[1, 3], [2, 4]])
    assert is_spectral_table_csv(path)


# -- refusals ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("wavelength,a\n400,1\n500,2\n", ["'wavelength'", "wavelength_nm, wavelength_um"]),
        ("wavelength_nm,a,\n400,1,1\n500,2,2\n", ["column 3", "empty"]),
        ("wavelength_nm,a,a\n400,1,1\n500,2,2\n", ["column 3", "repeats the name 'a'",
                                                    "column 2"]),
        ("wavelength_nm\n400\n500\n", ["names no spectrum column"]),
        ("wavelength_nm,a\n400,x1\n500,2\n", ["line 2", "column 2", "'x1'", "not a number"]),
        ("wavelength_nm,a\n400,\n500,2\n", ["line 2", "column 2", "empty"]),
        ("wavelength_nm,a\n400,nan\n500,2\n", ["line 2", "'nan'", "NaN"]),
        ("wavelength_nm,a\n400,1\n500,inf\n", ["line 3", "'inf'", "infinite"]),
        ("wavelength_nm,a\n400,1\n", ["1 data row", "at least 2"]),
        ("wavelength_nm,a\n400,1\n500,2,3\n", ["line 3", "3 cells", "header has 2"]),
        ("wavelength_nm,a\n400,1\n400,2\n", ["line 3", "repeats"]),
        ("wavelength_nm,a\n400,1\n500,2\n450,3\n", ["line 4", "increasing order"]),
        ("wavelength_nm,a\n-400,1\n500,2\n", ["line 2", "positive"]),
        ("", ["empty"]),
    ],
)
def test_bad_csv_is_refused(tmp_path, text, words) -> None:
    refused(write_csv(tmp_path / "bad.csv", text), *words)


def test_csv_axis_unit_must_agree(tmp_path) -> None:
    path = write_csv(tmp_path / "t.csv", "wavelength_nm,a\n400,1\n500,2\n")
    refused(path, "wavelength_nm", "wavenumber_cm-1", axis_unit="wavenumber_cm-1")
    refused(path, "'furlongs'", "wavelength_nm", axis_unit="furlongs")
    refused(path, "names file", names_path=tmp_path / "names.txt")


def test_missing_and_binary_files_are_refused(tmp_path) -> None:
    refused(tmp_path / "none.csv", "no such file")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02")
    refused(tmp_path / "bin.txt", "binary")


def library(tmp_path: Path, header_lines: dict[str, str], data: bytes | None = None) -> Path:
    """lib.sli (2 spectra x 3 samples, float32) with its header, fields overridable."""
    fields = {"samples": "3", "lines": "2", "bands": "1", "header offset": "0",
              "file type": "ENVI Spectral Library", "data type": "4", "byte order": "0",
              "wavelength units": "Micrometers", "wavelength": "{0.5, 0.6, 0.7}",
              "spectra names": "{grass, soil}", **header_lines}
    text = "ENVI\n" + "".join(f"{k} = {v}\n" for k, v in fields.items() if v is not None)
    (tmp_path / "lib.hdr").write_text(text)
    values = np.arange(1, 7, dtype="<f4").tobytes()
    (tmp_path / "lib.sli").write_bytes(values if data is None else data)
    return tmp_path / "lib.sli"


def test_library_reads_units_and_values(tmp_path) -> None:
    back = read_spectral_table(library(tmp_path, {}))
    assert back.axis_unit == "wavelength_um" and back.names == ["grass", "soil"]
    np.testing.assert_array_equal(back.spectra, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_allclose(back.wavelength_nm(), [500, 600, 700])
    back = read_spectral_table(library(tmp_path, {"wavelength units": None}),
                               axis_unit="wavelength_um")
    assert back.axis_unit == "wavelength_um"
    big_endian = np.arange(1, 7, dtype=">i2").tobytes()
    back = read_spectral_table(library(tmp_path, {"data type": "2", "byte order": "1",
                                                  "reflectance scale factor": "10"},
                                       big_endian))
    np.testing.assert_allclose(back.spectra, [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])


@pytest.mark.parametrize(
    ("fields", "data", "words"),
    [
        ({}, b"\0" * 20, ["truncated", "20 bytes", "needs 24"]),
        ({}, b"\0" * 28, ["28 bytes", "needs 24"]),
        ({"wavelength units": None}, None, ["'wavelength units'", "missing"]),
        ({"wavelength units": "Furlongs"}, None, ["'Furlongs'", "Nanometers"]),
        ({"spectra names": None}, None, ["no 'spectra names'"]),
        ({"spectra names": "{grass}"}, None, ["1 names", "'lines' is 2"]),
        ({"spectra names": "{grass, grass}"}, None, ["repeats the name 'grass'"]),
        ({"wavelength": None}, None, ["no 'wavelength' field"]),
        ({"wavelength": "{0.5, 0.6}"}, None, ["2 values", "'samples' is 3"]),
        ({"wavelength": "{0.5, 0.5, 0.7}"}, None, ["value 2", "repeats"]),
        ({"file type": "ENVI Standard"}, None, ["'ENVI Standard'", "not an ENVI Spectral"]),
        ({"bands": "2"}, None, ["'bands'", "is 2"]),
        ({"data type": "6"}, None, ["'data type'", "is 6"]),
    ],
)
def test_bad_library_is_refused(tmp_path, fields, data, words) -> None:
    path = library(tmp_path, fields, data)
    with pytest.raises(PhismError) as info:
        read_spectral_table(path)
    message = str(info.value)
    assert "lib." in message and "\n" not in message
    for word in words:
        assert word in message, message


def test_library_without_header_is_refused(tmp_path) -> None:
    (tmp_path / "lone.sli").write_bytes(b"\0" * 8)
    refused(tmp_path / "lone.sli", "no ENVI header", "lone.hdr")


def test_library_axis_unit_conflict_is_refused(tmp_path) -> None:
    refused(library(tmp_path, {}), "wavelength_um", "wavelength_nm", axis_unit="wavelength_nm")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1400 0.9\n1200 0.8 0.7\n", ["line 2", "3 values", "line 1 has 2"]),
        ("1400 0.9\n1200 abc\n", ["line 2, column 2", "'abc'"]),
        ("1400 0.9\n1200 nan\n", ["line 2, column 2", "nan"]),
        ("1400 0.9\n", ["1 row(s)", "at least 2 rows"]),
        ("1400\n1200\n", ["1 value(s)"]),
        ("1400 0.9\n1400 0.8\n", ["line 2", "repeats"]),
    ],
)
def test_bad_text_table_is_refused(tmp_path, text, words) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(text)
    refused(path, *words)


def test_names_csv_without_a_name_column_is_refused(tmp_path) -> None:
    path = tmp_path / "lib.txt"
    path.write_text("1400 0.9\n1200 0.8\n")
    names = write_csv(tmp_path / "meta.csv", "mineral,category\nquartz,a\n")
    refused(path, "'sample_name' or 'name'", "'mineral'", names_path=names)


def test_all_missing_column_is_kept(tmp_path) -> None:
    path = tmp_path / "lib.txt"
    path.write_text("1400 0.9 0\n1200 0.8 0\n")
    back = read_spectral_table(path)
    assert back.spectra.shape == (2, 2) and np.isnan(back.spectra[1]).all()


def test_writers_refuse_what_they_cannot_hold(tmp_path) -> None:
    missing = table()
    missing.spectra[0, 1] = np.nan
    with pytest.raises(PhismError, match=r"'s0' has missing \(NaN\) values.*\.sli"):
        write_spectral_table(tmp_path / "t.csv", missing)
    zero = table()
    zero.spectra[2, 0] = 0.0
    with pytest.raises(PhismError, match="'s2' holds the value 0"):
        write_spectral_table(tmp_path / "t.txt", zero)
    comma = table()
    comma.names[0] = "a, b"
    with pytest.raises(PhismError, match="comma"):
        write_spectral_table(tmp_path / "t.sli", comma)
    with pytest.raises(PhismError, match=r"\.csv, \.sli .* or \.txt"):
        write_spectral_table(tmp_path / "t.dat", table())
    assert not any(tmp_path.iterdir())


def test_recognisers(tmp_path) -> None:
    write_spectral_table(tmp_path / "t.csv", table())
    assert is_spectral_table_csv(tmp_path / "t.csv")
    assert is_spectral_table_csv(write_csv(tmp_path / "ab.csv", "spectrum,c1\nem1,0.5\n"))
    assert not is_spectral_table_csv(write_csv(tmp_path / "o.csv", "x,y\n1,2\n"))
    (tmp_path / "b.csv").write_bytes(b"\xff\xfe\x00")
    assert not is_spectral_table_csv(tmp_path / "b.csv")
    assert not is_spectral_table_csv(tmp_path / "absent.csv")
    (tmp_path / "img.hdr").write_text("ENVI\nfile type = ENVI Standard\n")
    assert not is_spectral_library(tmp_path / "img.hdr")
    assert not is_spectral_library(tmp_path / "absent.sli")


# -- axes and resampling --------------------------------------------------------------------
def linear_table() -> SpectralTable:
    axis = np.linspace(400.0, 1000.0, 13)
    spectra = np.stack([0.001 * axis, 2.0 - 0.0005 * axis])
    return SpectralTable(axis, "wavelength_nm", ["up", "down"], spectra)


def test_units_convert_to_nm() -> None:
    np.testing.assert_allclose(table(axis_unit="wavelength_um").wavelength_nm()[[0, -1]],
                               [400.0, 2500.0])
    np.testing.assert_allclose(table(axis_unit="wavenumber_cm-1").wavelength_nm()[[0, -1]],
                               [1e7 / 400.0, 1e7 / 1400.0])
    lib = linear_table()
    assert lib.same_axis(lib.axis / 1000.0, "wavelength_um")
    assert lib.same_axis(lib.axis * (1 + 1e-8), "wavelength_nm")
    assert not lib.same_axis(lib.axis * (1 + 1e-5), "wavelength_nm")
    assert not lib.same_axis(lib.axis[:-1], "wavelength_nm")


@pytest.mark.parametrize(
    ("target", "unit"),
    [(np.linspace(410.0, 990.0, 29), "wavelength_nm"),
     (np.linspace(0.41, 0.99, 17), "wavelength_um"),
     (np.linspace(1e7 / 990.0, 1e7 / 410.0, 23), "wavenumber_cm-1")],
)
def test_linear_functions_resample_exactly(target, unit) -> None:
    lib = linear_table()
    out = lib.resampled(target, unit)
    assert out.axis_unit == unit and out.names == lib.names
    np.testing.assert_array_equal(out.axis, target)
    nm = out.wavelength_nm()
    np.testing.assert_allclose(out.spectra, np.stack([0.001 * nm, 2.0 - 0.0005 * nm]),
                               rtol=1e-12)


def test_resampling_outside_the_range_is_nan_and_no_overlap_is_refused() -> None:
    lib = linear_table()
    out = lib.resampled([300.0, 400.0, 700.0, 1000.0, 1100.0], "wavelength_nm")
    assert np.isnan(out.spectra[:, [0, 4]]).all() and np.isfinite(out.spectra[:, 1:4]).all()
    with pytest.raises(PhismError, match=r"400-1000 nm\) and the scene \(1100-1200 nm\) do "
                                         "not overlap"):
        lib.resampled([1100.0, 1200.0], "wavelength_nm", what="the scene")
    with pytest.raises(PhismError, match="wavenumber"):
        lib.resampled([1.0], "wavenumber")


def test_missing_values_do_not_leak_beyond_their_intervals() -> None:
    axis = np.array([100.0, 200.0, 300.0, 400.0, 500.0])
    lib = SpectralTable(axis, "wavelength_nm", ["a"], [[1.0, 2.0, np.nan, 4.0, 5.0]])
    out = lib.resampled([150.0, 200.0, 250.0, 300.0, 350.0, 400.0, 450.0], "wavelength_nm")
    np.testing.assert_array_equal(out.spectra[0], [1.5, 2.0, np.nan, np.nan, np.nan, 4.0, 4.5])


def test_decreasing_axis_resamples() -> None:
    axis = np.array([1400.0, 1200.0, 1000.0])  # cm-1, as the ASU tables order it
    lib = SpectralTable(axis, "wavenumber_cm-1", ["a"], [[3.0, 2.0, 1.0]])
    out = lib.resampled([1300.0, 1100.0], "wavenumber_cm-1")
    # linear in nm, not in cm-1: 1300 cm-1 is not halfway from 1400 to 1200 cm-1 in nm
    nm = 1e7 / np.array([1300.0, 1100.0])
    np.testing.assert_allclose(out.spectra[0], np.interp(nm, 1e7 / axis, [3.0, 2.0, 1.0]))
    assert out.spectra[0, 0] != 2.5


# -- the real ASU library ----------------------------------------------------------------------
def test_real_feely_library(shared_data) -> None:
    tab = real_file(shared_data, "feely_tir/kim_library_tab.txt")
    meta = real_file(shared_data, "feely_tir/kim_library_meta_full.csv")
    raw = np.loadtxt(tab)
    lib = read_spectral_table(tab, names_path=meta, what="mineral library")
    assert lib.spectra.shape == (38, 934) and len(lib.names) == 38
    assert lib.names[0] == "Actinolite [HS-116.4B]" and lib.axis_unit == "wavenumber_cm-1"
    np.testing.assert_array_equal(np.isnan(lib.spectra), raw[:, 1:].T == 0)
    assert np.isnan(lib.spectra).sum() == (raw[:, 1:] == 0).sum() > 0
    np.testing.assert_allclose(lib.wavelength_nm()[[0, -1]], 1e7 / raw[[0, -1], 0])


def test_real_feely_rocks_with_repeated_names(shared_data) -> None:
    tab = real_file(shared_data, "feely_tir/mtes_kimmurray_rocks_full_tab.txt")
    meta = real_file(shared_data, "feely_tir/mtes_kimmurray_rocks_full_meta.csv")
    rocks = read_spectral_table(tab, names_path=meta)
    assert rocks.spectra.shape == (96, 934) and len(set(rocks.names)) == 96
    assert "Biotite monzogranite (2)" in rocks.names
    refused(tab, "38 names", "96 spectrum columns",
            names_path=real_file(shared_data, "feely_tir/kim_library_meta_full.csv"))


def test_an_axis_unit_the_values_contradict_is_refused(tmp_path) -> None:
    from phism_cli.io.spectral_tables import read_spectral_table

    path = tmp_path / "lib.csv"
    path.write_text("wavelength_nm,a,b\n0.4,1,2\n0.5,2,3\n0.6,3,4\n")
    with pytest.raises(PhismError, match=r"lib\.csv: the table's axis: wavelengths 0\.4-0\.6 "
                                         r"are said to be in nm.*can only be micrometres; say "
                                         r"wavelength_um"):
        read_spectral_table(path)
    path.write_text("wavelength_um,a,b\n0.4,1,2\n0.5,2,3\n0.6,3,4\n")
    np.testing.assert_allclose(read_spectral_table(path).wavelength_nm(), [400, 500, 600])
