"""`fuse --plot`: normalised endmembers in peak order and, with --reference, an error map."""

from __future__ import annotations

import numpy as np
import pytest
from rasterio.windows import Window

from phism_cli.pipeline.fuse import Quicklook
from tests.cli.test_fuse import FAST, pair  # noqa: F401  (the Wald-pair fixture)

pytest.importorskip("matplotlib")

from matplotlib.image import imread

from phism_cli.plots.fusion import plot_fusion


def test_the_quicklook_keeps_the_per_pixel_error_against_the_reference() -> None:
    quicklook = Quicklook(2, [0, 1, 2], [0, 1, 2],
                          {n: np.full((2, 2, 3), np.nan, np.float32) for n in ("hsi", "msi",
                                                                                "fused")})
    fused = np.zeros((4, 4, 5))
    truth = np.zeros((4, 4, 5))
    truth[0, 2] = 3.0  # kept (row 0, col 2 is a picked pixel): RMSE 3
    truth[1, 1] = 9.0  # not picked
    truth[2, 0, 0] = np.nan  # a band without data: no error for that pixel
    quicklook.add(Window(0, 0, 4, 4), fused[..., :3], fused[..., :3], fused, truth)
    rmse = quicklook.images["rmse"]
    assert rmse[0, 1] == pytest.approx(3.0) and rmse[0, 0] == 0.0 and np.isnan(rmse[1, 0])


def test_fusion_figure_with_an_error_map(tmp_path) -> None:
    rng = np.random.default_rng(0)
    images = {n: rng.uniform(size=(10, 12, 3)) for n in ("hsi", "msi", "fused")}
    images["rmse"] = rng.uniform(0, 0.05, size=(10, 12))
    axis = np.linspace(400.0, 1000.0, 30)
    endmembers = rng.uniform(0.1, 2.0, size=(4, 30))
    figure = plot_fusion(images, endmembers, axis, tmp_path / "f.png", "reflectance")
    titles = [a["title"] for a in figure["axes"]]
    assert {"multispectral", "fused", "RMSE, fused vs reference"} <= set(titles)
    spectra = figure["axes"][0]
    assert spectra["ylabel"] == "Reflectance, scaled to peak 1"
    assert len(figure["legend"]) == 4  # a figure legend beside the panels, not over the lines
    assert any(a["ylabel"] == "RMSE (reflectance)" for a in figure["axes"])
    assert imread(tmp_path / "f.png").shape[:2] == figure["size_px"][::-1]


def test_fuse_plot_with_a_reference(pair, cli) -> None:  # noqa: F811
    plot = pair / "fusion.png"
    result = cli("fuse", pair / "p_hsi.tif", pair / "p_msi.tif", "-o", pair / "fused.tif",
                 "--srf", pair / "srf.csv", "--reference", pair / "p_reference.tif",
                 "--plot", plot, *FAST)
    assert result.code == 0, result.err
    height, width = imread(plot).shape[:2]
    assert width > 4 * 300 and height >= 700  # four panels: hsi, msi, fused and the error
