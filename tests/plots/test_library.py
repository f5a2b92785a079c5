"""`endmembers --plot` and `unmix --plot`: spectra with their legend, abundance maps on one
0-1 colour bar; a scene whose detectors overlap gives a library and a plot without a zig-zag."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.image import imread

from phism_cli.io.rasters import RasterReader
from phism_cli.io.spectral_tables import read_spectral_table
from phism_cli.plots.library import plot_library, plot_unmixing
from tests.conftest import write_envi

VNIR_NM = np.linspace(420.0, 1000.0, 20)
SWIR_NM = np.linspace(900.0, 2400.0, 30)  # starts below the VNIR's end, as EnMAP's does


def overlapping_scene(folder) -> object:
    """Mixtures of three smooth materials seen by two detectors that overlap at 900-1000 nm."""
    axis = np.concatenate([VNIR_NM, SWIR_NM])
    x = (axis - 400.0) / 2000.0
    materials = np.stack([0.1 + 0.5 * np.exp(-0.5 * ((x - c) / 0.2) ** 2) for c in (0.1, 0.5, 0.9)])
    rng = np.random.default_rng(0)
    abundances = rng.dirichlet(np.ones(3), size=12 * 12)
    abundances[:3] = np.eye(3)
    cube = (abundances @ materials).reshape(12, 12, -1).astype(np.float32)
    wavelengths = ", ".join(f"{w:.3f}" for w in axis)
    return write_envi(folder / "two_detectors.img", cube, extra_header=(
        f"wavelength units = Nanometers\nwavelength = {{{wavelengths}}}\n"))


def test_endmembers_and_unmix_plots_of_a_scene_with_overlapping_detectors(cli, tmp_path) -> None:
    scene = overlapping_scene(tmp_path)
    library, plot = tmp_path / "lib.csv", tmp_path / "em.png"
    result = cli("endmembers", scene, "-k", "3", "-o", library, "--plot", plot, "--json", "-q")
    assert result.code == 0, result.err
    assert json.loads(result.out)["plot"] == str(plot)
    table = read_spectral_table(library)
    assert (np.diff(table.axis) > 0).all() and len(table.axis) == 50  # wavelength order
    assert imread(plot).shape[2] == 4

    abundances, unmix_plot = tmp_path / "ab.tif", tmp_path / "unmix.png"
    result = cli("unmix", scene, "--library", library, "-o", abundances, "--plot", unmix_plot,
                 "-q")
    assert result.code == 0, result.err
    height, width = imread(unmix_plot).shape[:2]
    assert width > 600 and height > 500


def test_library_figure_lists_every_spectrum_in_peak_order(tmp_path) -> None:
    axis = np.linspace(400.0, 900.0, 51)  # 10 nm steps
    spectra = np.stack([np.exp(-0.5 * ((axis - c) / 40) ** 2) for c in (800, 500, 650)])
    figure = plot_library(spectra, axis, ["late", "early", "middle"], tmp_path / "l.png",
                          "reflectance", "three")
    assert [t.split(" (")[0] for t in figure["legend"]] == ["early", "middle", "late"]
    assert figure["legend"][0] == "early (peak 500 nm)"
    (ax,) = figure["axes"]
    assert (ax["xlabel"], ax["ylabel"], ax["title"]) == ("Wavelength (nm)", "Reflectance",
                                                         "three")
    assert imread(tmp_path / "l.png").shape[:2] == figure["size_px"][::-1]


def test_many_spectra_get_a_colour_bar_instead_of_a_legend(tmp_path) -> None:
    axis = np.linspace(400.0, 900.0, 40)
    spectra = np.random.default_rng(0).uniform(size=(15, 40))
    figure = plot_library(spectra, axis, [f"s{i}" for i in range(15)], tmp_path / "l.png")
    assert figure["legend"] == []
    assert any(a["ylabel"] == "Position of the peak (nm)" for a in figure["axes"])


def test_unmixing_figure_has_a_map_per_endmember_and_one_abundance_colour_bar(
        cli, kit, tmp_path) -> None:
    library = tmp_path / "lib.csv"
    assert cli("endmembers", kit.header, "-k", "2", "-o", library, "-q").code == 0
    abundances = tmp_path / "ab.tif"
    assert cli("unmix", kit.header, "--library", library, "-o", abundances, "-q").code == 0
    table = read_spectral_table(library)
    with RasterReader(abundances) as reader:
        figure = plot_unmixing(table.spectra, table.axis, table.axis_unit, table.names, reader,
                               tmp_path / "u.png", "reflectance")
    titles = [a["title"] for a in figure["axes"]]
    assert titles.count("abundance of em1") == titles.count("abundance of em2") == 1
    assert "fit RMS" in titles
    maps = [a for a in figure["axes"] if a["title"].startswith("abundance of")]
    assert all(a["images"] == [(8, 8)] for a in maps)
    assert any(a["xlabel"] == "Abundance (0-1), every map" for a in figure["axes"])
    assert figure["legend"] and all("peak" in t for t in figure["legend"])


def test_unmix_plot_of_a_spectra_table_is_refused_before_work(cli, tmp_path) -> None:
    (tmp_path / "lib.csv").write_text("wavelength_nm,a,b\n400,0.1,0.2\n500,0.2,0.3\n600,0.3,0.1\n")
    result = cli("unmix", tmp_path / "lib.csv", "--library", tmp_path / "lib.csv", "-o",
                 tmp_path / "ab.csv", "--plot", tmp_path / "u.png")
    assert result.code == 1 and "INPUT is a spectra table" in result.err, result.err
    assert not (tmp_path / "ab.csv").exists()
