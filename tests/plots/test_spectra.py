"""The `render --plot` figure: chosen or spread pixels, scores per panel, every legend, the
scene's unit on the axis."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.image import imread

from phism_cli.io.rasters import RasterReader
from phism_cli.io.scene_formats import open_scene
from phism_cli.model.renderer import renderer_from_metadata
from phism_cli.plots.spectra import choose_pixels, plot_pixel_spectra, spread_pixels


def test_chosen_pixels_get_a_panel_each_with_scores_and_one_shared_legend(kit, tmp_path) -> None:
    path = tmp_path / "spectra.png"
    with RasterReader(kit.latents) as reader, open_scene(kit.header) as scene:
        renderer = renderer_from_metadata(reader.metadata["renderer"], str(kit.latents))
        figure = plot_pixel_spectra(reader, renderer, scene, path, [(1, 1), (2, 6), (7, 0)],
                                    "reflectance", peak=1.0)
    spectra_axes = [a for a in figure["axes"] if a["title"].startswith("row")]
    assert [a["title"].split(" ·")[0] for a in spectra_axes] == [
        "row 1, col 1", "row 2, col 6", "row 7, col 0"]
    assert all("PSNR" in a["title"] and "dB" in a["title"] and "SAM" in a["title"]
               for a in spectra_axes)
    assert {a["ylabel"] for a in spectra_axes} == {"Reflectance"}
    error_axes = [a for a in figure["axes"] if a["ylabel"] == "Error"]
    assert len(error_axes) == 3 and {a["xlabel"] for a in error_axes} == {"Wavelength (nm)"}
    assert figure["legend"][:3] == ["input", "rendered", "rendered - input"]
    assert {"component 1", "component 2"} <= set(figure["legend"])
    assert imread(path).shape[:2] == figure["size_px"][::-1]


def test_a_nodata_pixel_gets_an_empty_panel_not_a_crash(kit, tmp_path) -> None:
    with RasterReader(kit.latents) as reader:
        renderer = renderer_from_metadata(reader.metadata["renderer"], str(kit.latents))
        figure = plot_pixel_spectra(reader, renderer, None, tmp_path / "p.png", [(0, 0), (1, 1)])
    titles = [a["title"] for a in figure["axes"]]
    assert titles[0] == "row 0, col 0: no data" and titles[1].startswith("row 1, col 1\n")


def test_spread_pixels_take_one_from_each_cluster() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.1] * 5, [0.5] * 5, [0.9] * 5, [0.3, 0.6, 0.1, 0.8, 0.2]])
    spectra = np.concatenate([c + rng.normal(0, 0.01, (50, 5)) for c in centres])
    chosen = spread_pixels(spectra, 4)
    assert sorted(i // 50 for i in chosen) == [0, 1, 2, 3]
    assert spread_pixels(spectra[:3], 4) == [0, 1, 2]


def test_default_pixels_are_valid_and_distinct(kit) -> None:
    with RasterReader(kit.latents) as reader:
        renderer = renderer_from_metadata(reader.metadata["renderer"], str(kit.latents))
        pixels = choose_pixels(reader, renderer)
    assert len(set(pixels)) == 4 and (0, 0) not in pixels and (3, 5) not in pixels  # nodata
    assert all(0 <= r < 8 and 0 <= c < 8 for r, c in pixels)


def test_render_plot_pixels_from_the_command_line(cli, kit, tmp_path) -> None:
    plot = tmp_path / "fig.png"
    result = cli("render", kit.latents, "-o", tmp_path / "r.tif", "--reference", kit.header,
                 "--plot", plot, "--plot-pixels", "1,2; 4,4", "--json", "-q")
    assert result.code == 0, result.err
    assert json.loads(result.out)["plot"] == str(plot)
    height, width = imread(plot).shape[:2]
    assert width > height > 300  # two panels side by side, each with its error below


@pytest.mark.parametrize(("pixels", "expected"), [
    ("8,0", "pixel row 8, col 0 is outside the 8 x 8 latent map"),
    ("1;2", "give ROW,COL pairs"),
    ("-1,2", "give ROW,COL pairs"),
])
def test_bad_plot_pixels_are_refused_before_any_output(cli, kit, tmp_path, pixels,
                                                       expected) -> None:
    result = cli("render", kit.latents, "-o", tmp_path / "r.tif", "--plot", tmp_path / "p.png",
                 "--plot-pixels", pixels)
    assert result.code == 1 and expected in result.err, result.err
    assert list(tmp_path.iterdir()) == []


def test_plot_pixels_without_plot_is_refused(cli, kit, tmp_path) -> None:
    result = cli("render", kit.latents, "-o", tmp_path / "r.tif", "--plot-pixels", "1,1")
    assert result.code == 1 and "chooses the pixels of --plot" in result.err
