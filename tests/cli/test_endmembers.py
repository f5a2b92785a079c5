"""`phism endmembers`: a synthetic scene of three materials, its library read back, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from phism_cli.cli.endmembers import METHOD_NAMES
from phism_cli.inversion.endmembers import ENDMEMBER_METHODS
from phism_cli.io.spectral_tables import read_spectral_table
from tests.conftest import write_envi
from tests.inversion.test_endmembers import spectral_angles_deg

ROWS, COLS, BANDS, K = 20, 20, 30, 3
WAVELENGTH_NM = np.linspace(450.0, 950.0, BANDS)


def true_endmembers() -> np.ndarray:
    x = np.linspace(0.0, 1.0, BANDS)
    return np.stack([0.1 + 0.5 * np.exp(-0.5 * ((x - c) / 0.15) ** 2) for c in (0.2, 0.5, 0.8)])


def mixed_cube(seed: int = 0) -> np.ndarray:
    """Dirichlet mixtures of the three endmembers, a pure pixel of each, a nodata pixel."""
    rng = np.random.default_rng(seed)
    abundances = rng.dirichlet(np.ones(K), size=ROWS * COLS)
    abundances[[17, 150, 333]] = np.eye(K)
    pixels = abundances @ true_endmembers() + rng.normal(0.0, 0.001, (ROWS * COLS, BANDS))
    cube = pixels.reshape(ROWS, COLS, BANDS).astype(np.float32)
    cube[5, 5] = -9999.0
    return cube


@pytest.fixture
def scene(tmp_path) -> Path:
    wavelengths = ", ".join(f"{w:.3f}" for w in WAVELENGTH_NM)
    return write_envi(tmp_path / "mix.img", mixed_cube(), extra_header=(
        f"wavelength units = Nanometers\nwavelength = {{{wavelengths}}}\n"
        "data ignore value = -9999\n"))


def test_method_names_match_the_library() -> None:
    assert set(METHOD_NAMES) == set(ENDMEMBER_METHODS)


@pytest.mark.parametrize("method", METHOD_NAMES)
@pytest.mark.parametrize("suffix", [".csv", ".sli"])
def test_endmembers_written_and_read_back(cli, scene, tmp_path, method, suffix) -> None:
    output = tmp_path / f"lib{suffix}"
    result = cli("endmembers", scene, "-k", K, "-o", output, "--method", method, "--json",
                 "--tile-size", 16)
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    assert summary["output"] == str(output) and summary["method"] == method
    assert summary["n_endmembers"] == K and summary["names"] == ["em1", "em2", "em3"]
    assert summary["pixels_sampled"] == ROWS * COLS - 1 and summary["seconds"] > 0
    assert f"wrote {output}" in result.err
    library = read_spectral_table(output)
    assert library.names == ["em1", "em2", "em3"] and library.axis_unit == "wavelength_nm"
    np.testing.assert_allclose(library.axis, WAVELENGTH_NM, rtol=1e-6)
    angles = spectral_angles_deg(true_endmembers(), library.spectra)
    assert (angles.min(axis=1) < 1.0).all(), angles
    pure = mixed_cube().reshape(-1, BANDS)[[17, 150, 333]]
    assert all(any(np.array_equal(p, s) for s in library.spectra.astype(np.float32))
               for p in pure)
    if suffix == ".sli":
        assert (tmp_path / "lib.hdr").is_file()


def test_overwrite_only_replaces_a_library(cli, scene, tmp_path) -> None:
    output = tmp_path / "lib.csv"
    assert cli("endmembers", scene, "-k", 2, "-o", output, "-q").code == 0
    result = cli("endmembers", scene, "-k", 3, "-o", output, "-q")
    assert result.code == 3 and "exists; pass --overwrite" in result.err
    assert len(read_spectral_table(output).names) == 2
    assert cli("endmembers", scene, "-k", 3, "-o", output, "-q", "--overwrite").code == 0
    assert len(read_spectral_table(output).names) == 3
    other = tmp_path / "notes.csv"
    other.write_text("a,b\n1,2\n")
    result = cli("endmembers", scene, "-o", other, "-q", "--overwrite")
    assert result.code == 3 and "phism did not write" in result.err
    assert other.read_text() == "a,b\n1,2\n"


def test_overwrite_of_a_library_pair(cli, scene, tmp_path) -> None:
    output = tmp_path / "lib.sli"
    assert cli("endmembers", scene, "-k", 2, "-o", output, "-q").code == 0
    assert cli("endmembers", scene, "-k", 3, "-o", output, "-q").code == 3
    assert cli("endmembers", scene, "-k", 3, "-o", output, "-q", "--overwrite").code == 0
    assert len(read_spectral_table(tmp_path / "lib.hdr").names) == 3
    stray = tmp_path / "img.sli"
    stray.write_bytes(b"\0" * 8)
    (tmp_path / "img.hdr").write_text("ENVI\nfile type = ENVI Standard\n")
    assert cli("endmembers", scene, "-o", stray, "-q", "--overwrite").code == 3


def one_line_error(result) -> str:
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == 1 and len(lines) == 1 and "Traceback" not in result.err, result.err
    return lines[0]


def test_too_many_endmembers_is_refused(cli, scene, tmp_path) -> None:
    output = tmp_path / "lib.csv"
    message = one_line_error(cli("endmembers", scene, "-k", BANDS + 1, "-o", output))
    assert "-k 31" in message and "only 30 bands" in message and str(scene) in message
    assert not output.exists()


def test_more_endmembers_than_distinct_pixels_is_refused(cli, tmp_path) -> None:
    cube = np.repeat(mixed_cube()[:1, :2], 4, axis=0)  # 8 pixels, 2 distinct spectra
    header = write_envi(tmp_path / "two.img", cube, extra_header="wavelength = {"
                        + ", ".join(f"{w:.3f}" for w in WAVELENGTH_NM) + "}\n")
    message = one_line_error(cli("endmembers", header, "-k", 3, "-o", tmp_path / "lib.csv"))
    assert "-k 3" in message and "only 2 different spectra" in message
    assert not list(tmp_path.glob("*.csv")) and not list(tmp_path.glob(".lib*"))


def test_scene_without_wavelengths_is_refused(cli, tmp_path) -> None:
    header = write_envi(tmp_path / "bare.img", mixed_cube())
    message = one_line_error(cli("endmembers", header, "-k", 3, "-o", tmp_path / "lib.csv"))
    assert "no wavelengths" in message and "--wavelengths" in message
    result = cli("endmembers", header, "-k", 3, "-o", tmp_path / "lib.csv", "-q",
                 "--wavelengths", "450:950")
    assert result.code == 0, result.err
    np.testing.assert_allclose(read_spectral_table(tmp_path / "lib.csv").axis, WAVELENGTH_NM)


def test_bad_names_and_options_are_refused(cli, scene, tmp_path) -> None:
    message = one_line_error(cli("endmembers", scene, "-o", tmp_path / "lib.tif"))
    assert ".csv or .sli" in message
    result = cli("endmembers", scene, "-o", tmp_path / "lib.csv", "--method", "ppi")
    assert result.code == 2 and "'ppi'" in result.err
    assert cli("endmembers", scene, "-o", tmp_path / "lib.csv", "-k", 1).code == 2


def test_help_does_not_import_torch() -> None:
    script = ("import sys\nfrom phism_cli.cli.main import main\ntry:\n"
              "    main(['endmembers', '--help'])\nexcept SystemExit as exc:\n"
              "    assert not exc.code, exc.code\n"
              "print(sorted(m for m in ('torch', 'xgboost', 'zarr') if m in sys.modules),"
              " file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "[]"
