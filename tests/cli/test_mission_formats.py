"""EMIT, PRISMA and EnMAP products through the commands: read tile by tile, their bands,
nodata and map grid carried into every output."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401 - the .rio accessor
import xarray as xr

from tests.conftest import smooth_cube
from tests.io.mission_files import emit_glt, write_emit, write_enmap, write_prisma


@pytest.fixture
def emit_granule(tmp_path):
    cube = smooth_cube(40, 30, 24, seed=5)
    return write_emit(tmp_path / "EMIT_L2A_RFL_001_cli.nc", cube, np.linspace(400, 2400, 24))


def test_emit_encode_and_render_on_the_map_grid(emit_granule, cli, tmp_path) -> None:
    model, latents, rendered = tmp_path / "m.safetensors", tmp_path / "l.zarr", tmp_path / "r.tif"
    assert cli("fit-encoder", emit_granule, "-o", model, "--basis", "pca", "--components", "4",
               "-q").code == 0
    result = cli("encode", emit_granule, "-m", model, "-o", latents, "--tile-size", "16",
                 "--json")
    assert result.code == 0, result.err
    store = xr.open_zarr(latents)
    glt_x, _ = emit_glt(40, 30)
    assert (store.sizes["y"], store.sizes["x"]) == glt_x.shape
    assert store.rio.crs.to_epsg() == 4326
    assert store.rio.transform()[0] == pytest.approx(0.0005)
    # map cells the GLT leaves empty are invalid, every other one is encoded
    summary = json.loads(result.out)
    assert summary["valid_pixels"] == 40 * 30
    assert cli("render", latents, "-o", rendered, "--reference", emit_granule).code == 0
    with rasterio.open(rendered) as ds:
        assert ds.count == 24 and ds.crs.to_epsg() == 4326
        assert float(ds.tags(1)["wavelength"]) == pytest.approx(400.0)


def test_emit_sensor_geometry(emit_granule, cli) -> None:
    result = cli("info", emit_granule, "--no-ortho", "--json")
    info = json.loads(result.out)
    assert (info["height"], info["width"], info["crs"]) == (40, 30, None)
    assert info["product"] == "reflectance, in sensor geometry (downtrack x crosstrack)"


def test_prisma_and_enmap_info(cli, tmp_path) -> None:
    cube = np.full((4, 6, 3), 1000, np.uint16)
    prisma = write_prisma(tmp_path / "PRS_L2D_STD_x.he5", cube, cube)
    info = json.loads(cli("info", prisma, "--json").out)
    assert info["format"] == "PRISMA" and info["bands"] == 9 and info["bad_bands"] == [5]
    assert info["crs"] == "EPSG:32633"
    _, metadata = write_enmap(tmp_path, np.ones((3, 4, 4), np.int16), np.array([450., 900, 2e3]))
    info = json.loads(cli("info", metadata, "--json").out)
    assert info["format"] == "EnMAP L2A" and info["fwhm_nm"] == [7.5, 7.5, 7.5]
