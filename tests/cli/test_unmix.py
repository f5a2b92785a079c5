"""`phism unmix` end to end: tables and scenes, the four methods, the refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from phism_cli.cli.unmix import FORM_NAMES, METHOD_NAMES, SUM_TO_ONE_NAMES
from phism_cli.forward.mixing import ENDMEMBER_FORMS
from phism_cli.inversion.unmixer import METHODS, SUM_TO_ONE
from tests.conftest import real_file

WAVELENGTH_NM = np.linspace(450.0, 950.0, 40)
NAMES = ["soil", "leaf", "water"]


def endmembers(wavelength_nm: np.ndarray = WAVELENGTH_NM) -> np.ndarray:
    x = (wavelength_nm - 450.0) / 500.0
    return np.stack([0.1 + 0.4 * x, 0.05 + 0.5 / (1 + np.exp(-(x - 0.5) * 20)),
                     0.08 * np.exp(-2 * x) + 0.01])


def write_table(path: Path, axis_header: str, axis: np.ndarray, names: list[str],
                spectra: np.ndarray) -> Path:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([axis_header, *names])
        for position, row in zip(axis, spectra.T, strict=True):
            writer.writerow([f"{position:.9g}", *(f"{v:.9g}" for v in row)])
    return path


@pytest.fixture
def library(tmp_path) -> Path:
    return write_table(tmp_path / "lib.csv", "wavelength_nm", WAVELENGTH_NM, NAMES,
                       endmembers())


@pytest.fixture
def truth() -> np.ndarray:
    return np.random.default_rng(0).dirichlet(np.ones(3), size=12)


@pytest.fixture
def spectra(tmp_path, truth) -> Path:
    """Mixtures on a finer axis in micrometres, inside the library's range."""
    axis_um = np.linspace(0.46, 0.94, 61)
    mixed = truth @ endmembers(axis_um * 1000)
    return write_table(tmp_path / "spectra.csv", "wavelength_um", axis_um,
                       [f"s{i}" for i in range(len(truth))], mixed)


def read_output(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], np.array([[float(v) for v in row[1:]] for row in rows[1:]])


def test_names_kept_in_step_with_the_library() -> None:
    assert METHOD_NAMES == METHODS and FORM_NAMES == ENDMEMBER_FORMS
    assert SUM_TO_ONE_NAMES == SUM_TO_ONE


def test_table_unmixed_with_resampled_library(cli, library, spectra, truth, tmp_path) -> None:
    output = tmp_path / "abundances.csv"
    result = cli("unmix", spectra, "-l", library, "-o", output, "--json",
                 "--sum-to-one", "strict")
    assert result.code == 0, result.err
    assert "resampled" in result.err
    header, values = read_output(output)
    assert header == ["spectrum", *NAMES, "rms"]
    # The library is linearly interpolated onto the finer axis: a small, known error.
    np.testing.assert_allclose(values[:, :3], truth, atol=5e-3)
    assert (values[:, 3] < 2e-3).all()
    summary = json.loads(result.out)
    assert summary["n_spectra"] == 12 and summary["method"] == "fcls"
    assert summary["sum_to_one"] == "strict" and summary["shade"] is None
    assert summary["mean_rms"] < 2e-3 and summary["seconds_per_spectrum"] > 0
    assert set(summary) >= {"seconds", "matches", "notes"}


def test_scaled_abundances_ignore_brightness_where_strict_ones_cannot(cli, library, truth,
                                                                      tmp_path) -> None:
    gain = np.random.default_rng(1).uniform(0.6, 1.6, (len(truth), 1))
    spectra = write_table(tmp_path / "bright.csv", "wavelength_nm", WAVELENGTH_NM,
                          [f"s{i}" for i in range(len(truth))], gain * truth @ endmembers())
    errors = {}
    for mode in ("scaled", "strict"):
        output = tmp_path / f"{mode}.csv"
        result = cli("unmix", spectra, "-l", library, "-o", output, "--sum-to-one", mode)
        assert result.code == 0, result.err
        values = read_output(output)[1][:, :3]
        np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-9)
        errors[mode] = np.abs(values - truth).max()
    assert errors["scaled"] < 1e-6 < 0.05 < errors["strict"]


def test_shade_endmember_is_its_share_and_the_rest_sum_to_one(cli, tmp_path) -> None:
    names = [*NAMES, "shade"]
    library = write_table(tmp_path / "lib.csv", "wavelength_nm", WAVELENGTH_NM, names,
                          np.vstack([endmembers(), np.full((1, len(WAVELENGTH_NM)), 0.02)]))
    material = np.array([[0.2, 0.5, 0.3], [0.6, 0.0, 0.4]])
    shade_share = np.array([[0.25], [0.5]])
    spectra = write_table(tmp_path / "dark.csv", "wavelength_nm", WAVELENGTH_NM, ["a", "b"],
                          (1 - shade_share) * material @ endmembers() + shade_share * 0.02)
    output = tmp_path / "abundances.csv"
    result = cli("unmix", spectra, "-l", library, "-o", output, "--shade", "shade",
                 "--sum-to-one", "strict", "--json")
    assert result.code == 0, result.err
    values = read_output(output)[1]
    np.testing.assert_allclose(values[:, :3], material, atol=1e-8)
    np.testing.assert_allclose(values[:, 3:4], shade_share, atol=1e-8)
    assert json.loads(result.out)["shade"] == "shade"


def test_unknown_shade_endmember_is_refused_before_any_output(cli, library, spectra,
                                                              tmp_path) -> None:
    output = tmp_path / "abundances.csv"
    result = cli("unmix", spectra, "-l", library, "-o", output, "--shade", "Blackbody")
    assert result.code != 0 and not output.exists()
    assert "--shade 'Blackbody'" in result.err and "soil, leaf, water" in result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("method", ["abs", "net", "hybrid"])
def test_every_method_on_a_table(cli, library, spectra, truth, tmp_path, method) -> None:
    output = tmp_path / f"{method}.csv"
    result = cli("unmix", spectra, "-l", library, "-o", output, "--method", method,
                 "--net-steps", 400, "--threads", 1)
    assert result.code == 0, result.err
    _, values = read_output(output)
    np.testing.assert_allclose(values[:, :3].sum(axis=1), 1.0, atol=1e-6)
    assert (values[:, :3] >= 0).all()
    error = np.abs(values[:, :3] - truth).mean()
    assert error < (0.15 if method == "net" else 5e-3)


def test_scene_keeps_crs_transform_and_nodata(cli, library, truth, tmp_path) -> None:
    rng = np.random.default_rng(1)
    abundances = rng.dirichlet(np.ones(3), size=(9, 7))
    cube = (abundances @ endmembers()).astype(np.float32)
    cube[2, 3] = -1.0
    scene = tmp_path / "scene.tif"
    transform = Affine(30.0, 0, 500000.0, 0, -30.0, 4200000.0)
    with rasterio.open(scene, "w", driver="GTiff", height=9, width=7, count=40,
                       dtype="float32", crs=CRS.from_epsg(32633), transform=transform,
                       nodata=-1.0) as dst:
        dst.write(cube.transpose(2, 0, 1))
        for band, wavelength in enumerate(WAVELENGTH_NM, start=1):
            dst.update_tags(band, wavelength=f"{wavelength:.4f}")
    output = tmp_path / "abundances.tif"
    result = cli("unmix", scene, "-l", library, "-o", output, "--json", "--tile-size", 16,
                 "--wavelengths", ",".join(f"{w:.4f}" for w in WAVELENGTH_NM))
    assert result.code == 0, result.err
    with rasterio.open(output) as ds:
        assert ds.crs == CRS.from_epsg(32633) and ds.transform == transform
        assert list(ds.descriptions) == [*NAMES, "rms"]
        data = ds.read()
    assert np.isnan(data[:, 2, 3]).all()
    valid = np.ones((9, 7), bool)
    valid[2, 3] = False
    np.testing.assert_allclose(data[:3].transpose(1, 2, 0)[valid], abundances[valid],
                               atol=1e-3)
    assert json.loads(result.out)["n_spectra"] == 62


def test_dispersion_endmembers_and_params_table(cli, tmp_path) -> None:
    wavenumber = np.linspace(600.0, 1400.0, 50)
    library_values = np.stack([0.9 + 0.05 * np.cos(wavenumber / 90), 0.95 - 0.0 * wavenumber])
    library = write_table(tmp_path / "lib.csv", "wavenumber_cm-1", wavenumber,
                          ["Quartz [BUR-4120]", "Blackbody"], library_values)
    spectra = write_table(tmp_path / "rocks.csv", "wavenumber_cm-1", wavenumber, ["r1"],
                          library_values[:1] * 0.7 + library_values[1:] * 0.3)
    params = tmp_path / "params.hdf"
    with h5py.File(params, "w") as handle:
        mode = handle.create_group("Quartz [BUR").create_group("mode0")
        for key, value in (("freqs", [1080.0, 800.0]), ("gammas", [0.05, 0.04]),
                           ("rhos", [0.6, 0.2]), ("epsilon", [2.0]), ("mode_weight", [1.0])):
            mode[key] = np.asarray(value)
            mode[key + "_min"] = np.asarray(value) * 0.99
            mode[key + "_max"] = np.asarray(value) * 1.01
    output, table = tmp_path / "out.csv", tmp_path / "fitted.csv"
    result = cli("unmix", spectra, "-l", library, "--dispersion", params, "--method", "abs",
                 "-o", output, "--params-out", table, "--json", "--sum-to-one", "strict")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["matches"] == {"Quartz [BUR-4120]": "Quartz [BUR", "Blackbody": None}
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["endmember"] for r in rows} == {"Quartz [BUR-4120]"}
    freq = next(r for r in rows if r["parameter"] == "mode0.freq0")
    assert freq["unit"] == "cm-1"
    assert float(freq["lower"]) <= float(freq["value"]) <= float(freq["upper"])


def test_feely_rocks_fcls_reproduces_the_reference_error(cli, shared_data, tmp_path) -> None:
    folder = real_file(shared_data, "feely_tir")
    output = tmp_path / "rocks.csv"
    result = cli("unmix", folder / "mtes_kimmurray_rocks_full_tab.txt", "--input-names",
                 folder / "mtes_kimmurray_rocks_full_meta.csv", "-l",
                 folder / "kim_library_tab.txt", "--names",
                 folder / "kim_library_meta_full.csv", "--axis-range", "399:2000", "-o", output)
    assert result.code == 0, result.err
    header, values = read_output(output)
    assert len(header) == 40 and values.shape == (96, 39)
    np.testing.assert_allclose(values[:, :38].sum(axis=1), 1.0, atol=1e-9)
    # Quartz-rich granites come out with quartz as a main component.
    quartz = header.index("Quartz [BUR-4120]") - 1
    assert values[1, quartz] + values[1, quartz + 1] > 0.2


# -- refusals: one line, non-zero exit, nothing written -----------------------------------
def refused(result, output: Path, *fragments: str) -> None:
    assert result.code == 1, result.err
    lines = [line for line in result.err.strip().splitlines() if line]
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not output.exists()
    assert not [p for p in output.parent.iterdir() if ".partial" in p.name]


def test_axes_that_do_not_overlap(cli, library, tmp_path) -> None:
    spectra = write_table(tmp_path / "s.csv", "wavelength_nm", np.linspace(1500, 2000, 5),
                          ["a"], np.ones((1, 5)))
    output = tmp_path / "o.csv"
    refused(cli("unmix", spectra, "-l", library, "-o", output), output, "do not overlap")


def test_nan_in_spectra(cli, library, tmp_path) -> None:
    values = np.full((1, 40), 0.3)
    values[0, 4] = np.nan
    spectra = write_table(tmp_path / "s.csv", "wavelength_nm", WAVELENGTH_NM, ["a"], values)
    output = tmp_path / "o.csv"
    refused(cli("unmix", spectra, "-l", library, "-o", output), output, "s.csv")


def test_all_zero_endmember(cli, spectra, tmp_path) -> None:
    values = endmembers()
    values[1] = 0.0
    library = write_table(tmp_path / "zero.csv", "wavelength_nm", WAVELENGTH_NM, NAMES, values)
    output = tmp_path / "o.csv"
    refused(cli("unmix", spectra, "-l", library, "-o", output), output, "'leaf'",
            "all zeros")


def test_more_endmembers_than_bands(cli, tmp_path) -> None:
    axis = np.linspace(500, 900, 3)
    library = write_table(tmp_path / "lib.csv", "wavelength_nm", axis, ["a", "b", "c", "d"],
                          np.random.default_rng(0).random((4, 3)) + 0.1)
    spectra = write_table(tmp_path / "s.csv", "wavelength_nm", axis, ["x"], np.ones((1, 3)))
    output = tmp_path / "o.csv"
    refused(cli("unmix", spectra, "-l", library, "-o", output), output, "4 endmembers",
            "3 bands")


def test_duplicate_names(cli, spectra, tmp_path) -> None:
    library = tmp_path / "lib.txt"
    np.savetxt(library, np.column_stack([WAVELENGTH_NM, endmembers().T]))
    names = tmp_path / "names.txt"
    names.write_text("soil\nleaf\nsoil\n")
    output = tmp_path / "o.csv"
    refused(cli("unmix", spectra, "-l", library, "--names", names, "--axis-unit",
                "wavelength_nm", "-o", output), output, "'soil'", "more than once")


def test_dispersion_file_with_missing_fields(cli, library, spectra, tmp_path) -> None:
    params = tmp_path / "params.hdf"
    with h5py.File(params, "w") as handle:
        handle.create_group("soil").create_group("mode0")["freqs"] = np.array([900.0])
    output = tmp_path / "o.csv"
    refused(cli("unmix", spectra, "-l", library, "--dispersion", params, "-o", output),
            output, "soil/mode0", "gammas")


def test_table_output_must_be_csv(cli, library, spectra, tmp_path) -> None:
    output = tmp_path / "o.tif"
    refused(cli("unmix", spectra, "-l", library, "-o", output), output, "*.csv")


def test_existing_output_needs_overwrite(cli, library, spectra, tmp_path) -> None:
    output = tmp_path / "o.csv"
    output.write_text("keep me\n")
    result = cli("unmix", spectra, "-l", library, "-o", output)
    assert result.code == 3 and output.read_text() == "keep me\n"
    result = cli("unmix", spectra, "-l", library, "-o", output, "--overwrite")
    assert result.code == 3, "a file phism did not write is never replaced"
    output.unlink()
    assert cli("unmix", spectra, "-l", library, "-o", output).code == 0
    assert cli("unmix", spectra, "-l", library, "-o", output, "--overwrite").code == 0


def test_samson_with_extracted_endmembers_finds_the_reference_maps(cli, shared_data,
                                                                   tmp_path) -> None:
    """`endmembers` then `unmix` on Samson: each abundance map follows its reference map
    (measured correlations 0.93 / 0.84 / 0.88 for VCA + FCLS). The reference abundances are
    scaled differently from the cube (A @ M misses it by RMS 0.37), so RMSE is only bounded."""
    import itertools

    import scipy.io

    mat = real_file(shared_data, "samson/Samson.mat")
    scene = ("--variable", "SamSon", "--wavelengths", "401:889", "--threads", 1, "-q")
    library, output = tmp_path / "samson.csv", tmp_path / "samson.tif"
    assert cli("endmembers", mat, "-k", 3, "-o", library, *scene).code == 0
    result = cli("unmix", mat, "-l", library, "-o", output, *scene)
    assert result.code == 0, result.err
    with rasterio.open(output) as ds:
        estimate = ds.read()[:3].reshape(3, -1)
    reference = scipy.io.loadmat(mat)["A"].reshape(-1, 3).T
    order = max(itertools.permutations(range(3)), key=lambda p: sum(
        np.corrcoef(estimate[i], reference[j])[0, 1] for i, j in enumerate(p)))
    correlations = [np.corrcoef(estimate[i], reference[j])[0, 1] for i, j in enumerate(order)]
    assert min(correlations) > 0.75, correlations
    rmse = np.sqrt(np.mean((estimate - reference[list(order)]) ** 2))
    assert rmse < 0.35


def test_net_adapts_to_a_scene_sample_and_reports_it(cli, library, tmp_path) -> None:
    rng = np.random.default_rng(2)
    abundances = rng.dirichlet(np.ones(3), size=(20, 18))
    cube = (0.3 * abundances @ endmembers()).astype(np.float32)  # darker than the library
    scene = tmp_path / "scene.tif"
    with rasterio.open(scene, "w", driver="GTiff", height=20, width=18, count=40,
                       dtype="float32") as dst:
        dst.write(cube.transpose(2, 0, 1))
    wavelengths = ",".join(f"{w:.4f}" for w in WAVELENGTH_NM)
    errors = {}
    for steps in (0, 300):
        output = tmp_path / f"adapt{steps}.tif"
        result = cli("unmix", scene, "-l", library, "-o", output, "--method", "net",
                     "--net-steps", 400, "--adapt-steps", steps, "--threads", 1, "--json",
                     "--tile-size", 16, "--wavelengths", wavelengths)
        assert result.code == 0, result.err
        assert json.loads(result.out)["adapt_steps"] == steps
        assert ("adapting it to 360 of the input's spectra (300 steps)" in result.err) == \
            (steps > 0)
        with rasterio.open(output) as ds:
            values = ds.read()[:3].transpose(1, 2, 0)
        errors[steps] = float(np.abs(values - abundances).mean())
    assert errors[300] < 0.5 * errors[0]


def test_net_on_a_scene_without_valid_pixels_is_refused_before_training(cli, library,
                                                                         tmp_path) -> None:
    scene = tmp_path / "empty.tif"
    with rasterio.open(scene, "w", driver="GTiff", height=16, width=16, count=40,
                       dtype="float32", nodata=-1.0) as dst:
        dst.write(np.full((40, 16, 16), -1.0, dtype=np.float32))
    output = tmp_path / "abundances.tif"
    result = cli("unmix", scene, "-l", library, "-o", output, "--method", "net",
                 "--net-steps", 100000, "--threads", 1,
                 "--wavelengths", ",".join(f"{w:.4f}" for w in WAVELENGTH_NM))
    assert result.code == 1 and not output.exists()
    assert "no valid pixel" in result.err and "training" not in result.err
    assert "Traceback" not in result.err
