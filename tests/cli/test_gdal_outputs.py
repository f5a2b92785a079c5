"""Every raster output, written by the commands, as GDAL and QGIS see it: band units, class
names, which input bands survived, COG layout; and `phism info` on each kind."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

import phism_cli.io.outputs
from phism_cli.io.rasters import RasterReader
from tests.cli.kit import run
from tests.cli.test_degrade import write_srf
from tests.cli.test_unmix import NAMES, endmembers, write_table
from tests.cli.test_unmix import WAVELENGTH_NM as LIBRARY_NM
from tests.conftest import smooth_cube
from tests.gdal_info import category_names, gdalinfo
from tests.pipeline.latent_maps import (
    AXIS_NM,
    basis_names,
    basis_renderer,
    synthetic_basis_values,
    write_latent_map,
)

UNIT = "W m-2 sr-1 um-1"
BANDS = 16
BAD_BAND = 15  # 1-based, flagged bad in the scene: dropped by default
SCENE_NM = np.linspace(420.0, 980.0, BANDS)
# outputs.py moves the PAM sidecar (sidecar_paths) with its raster on commit
SIDECARS_MOVE = "sidecar_paths" in Path(phism_cli.io.outputs.__file__).read_text()


def write_scene(path: Path) -> Path:
    cube = smooth_cube(32, 36, BANDS, seed=4)
    with rasterio.open(path, "w", driver="GTiff", height=32, width=36, count=BANDS,
                       dtype="float32", crs=CRS.from_epsg(32633),
                       transform=Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4200000.0)) as ds:
        ds.write(np.moveaxis(cube, -1, 0))
        for i, w in enumerate(SCENE_NM, start=1):
            ds.update_tags(i, wavelength=f"{w:.3f}", wavelength_units="Nanometers",
                           fwhm="12.5", bbl="0" if i == BAD_BAND else "1")
        ds.units = [UNIT] * BANDS
    return path


def latents(path: Path, source: dict) -> Path:
    values = synthetic_basis_values(12, 10, 2)
    return write_latent_map(path, values, basis_names(2), basis_renderer(2),
                            extra={"source": source})


def ok(*args: object) -> None:
    assert run(*args, "-q") == 0, args


@pytest.fixture(scope="module")
def made(tmp_path_factory, kit) -> Path:
    """One output of every kind, written by the commands."""
    root = tmp_path_factory.mktemp("outputs")
    scene = write_scene(root / "scene.tif")
    write_srf(root / "srf.csv", {"blue": 480.0, "green": 560.0, "red": 660.0, "nir": 850.0})
    ok("degrade", scene, "-o", root / "p", "--ratio", 4, "--srf", root / "srf.csv")
    pair = (root / "p_hsi.tif", root / "p_msi.tif", "--srf", root / "srf.csv", "-k", 3,
            "--device", "cpu")
    ok("fuse", *pair, "-o", root / "fused.tif", "--abundances", root / "ab.tif", "--cog")
    ok("fuse", *pair, "-o", root / "fused.zarr", "--abundances", root / "abz.zarr")
    write_table(root / "lib.csv", "wavelength_nm", LIBRARY_NM, NAMES, endmembers())
    ok("unmix", scene, "-l", root / "lib.csv", "-o", root / "un.zarr", "--device", "cpu")
    ok("unmix", scene, "-l", root / "lib.csv", "-o", root / "un.tif", "--device", "cpu",
       "--co", "COMPRESS=DEFLATE")
    dropped = latents(root / "dropped.zarr", {"bands": len(AXIS_NM), "bad_bands": [5, 6],
                                              "bad_bands_dropped": True})
    ok("render", dropped, "-o", root / "rec.tif", "--plot", root / "rec.png")
    ok("render", dropped, "-o", root / "rec.zarr")
    listed = latents(root / "listed.zarr", {
        "bands": len(AXIS_NM), "source_bands": list(range(3, 3 + len(AXIS_NM))),
        "fwhm_nm": [9.5] * len(AXIS_NM), "data_unit": UNIT})
    ok("render", listed, "-o", root / "rec_unit.tif")
    head = ("-H", kit.head)
    ok("predict", kit.latents, *head, "-o", root / "cls.tif")
    ok("predict", kit.latents, *head, "-o", root / "cls.zarr")
    ok("predict", kit.latents, *head, "-o", root / "cls_cog.tif", "--cog")
    ok("predict", kit.latents, *head, "-o", root / "proba.tif", "--proba")
    return root


def band_tags(path: Path, key: str) -> list[str | None]:
    with rasterio.open(path) as ds:
        return [ds.tags(i).get(key) for i in range(1, ds.count + 1)]


def test_spectral_outputs_say_which_input_bands_survived(made) -> None:
    kept = [b for b in range(1, BANDS + 1) if b != BAD_BAND]
    for name in ("p_hsi.tif", "p_reference.tif"):
        assert band_tags(made / name, "source_band") == [str(b) for b in kept], name
        assert set(band_tags(made / name, "fwhm")) == {"12.5000"}, name
    assert set(band_tags(made / "p_msi.tif", "source_band")) == {None}  # bands of the SRF
    # fuse's input is p_hsi.tif, whose bands are all good: its band numbers
    every = list(range(1, BANDS))
    assert band_tags(made / "fused.tif", "source_band") == [str(b) for b in every]
    assert set(band_tags(made / "fused.tif", "fwhm")) == {"12.5000"}
    assert xr.open_zarr(made / "fused.zarr")["source_band"].values.tolist() == every
    with RasterReader(made / "un.zarr") as reader:
        used = reader.metadata["source_bands_used"]
    assert BAD_BAND not in used and set(used) <= set(kept)
    # render: worked out from the bad bands encode dropped, or as the metadata lists them
    expected = [b for b in range(1, len(AXIS_NM) + 3) if b not in (5, 6)]
    assert band_tags(made / "rec.tif", "source_band") == [str(b) for b in expected]
    assert xr.open_zarr(made / "rec.zarr")["source_band"].values.tolist() == expected
    assert band_tags(made / "rec_unit.tif", "source_band")[:2] == ["3", "4"]
    assert set(band_tags(made / "rec_unit.tif", "fwhm")) == {"9.5000"}
    assert (made / "rec.png").read_bytes()[:4] == b"\x89PNG"


def test_units_are_gdal_band_units(made) -> None:
    for name in ("p_hsi.tif", "p_msi.tif", "p_reference.tif", "fused.tif", "rec_unit.tif"):
        with rasterio.open(made / name) as ds:
            assert set(ds.units) == {UNIT}, name
        assert f"Unit Type: {UNIT}" in gdalinfo(made / name)
    assert xr.open_zarr(made / "fused.zarr")["fused"].attrs["units"] == UNIT
    with rasterio.open(made / "un.tif") as ds:
        assert ds.units == ("1", "1", "1", UNIT)  # abundances, then the rms in data units
        assert ds.profile["compress"] == "deflate"
    with rasterio.open(made / "rec.tif") as ds:  # the latents name no unit: none invented
        assert set(ds.units) <= {None, ""}
    assert "Unit Type" not in gdalinfo(made / "rec.tif")


def test_cog_outputs(made) -> None:
    for name in ("fused.tif", "ab.tif", "cls_cog.tif"):
        assert "LAYOUT=COG" in gdalinfo(made / name), name
        with RasterReader(made / name) as reader:
            assert reader.metadata["complete"] is True
    with rasterio.open(made / "cls_cog.tif") as ds:
        assert ds.colormap(1)[1][3] == 255 and ds.descriptions == ("class",)
    assert not list(made.glob(".*.tiled"))


def test_class_names(made) -> None:
    attrs = xr.open_zarr(made / "cls.zarr")["classes"].attrs
    assert attrs["category_names"] == {"1": "class_1", "2": "class_2", "3": "class_3"}
    assert attrs["flag_meanings"] == "class_1 class_2 class_3"
    text = run_info(made / "cls.tif")
    assert "classes:     1 class_1, 2 class_2, 3 class_3" in text


@pytest.mark.skipif(not SIDECARS_MOVE, reason="phism_cli/io/outputs.py does not move "
                    "io.rasters.sidecar_paths with their raster yet")
def test_class_names_reach_gdal_through_the_sidecar(made) -> None:
    for name in ("cls.tif", "cls_cog.tif", "proba.tif"):
        assert category_names(made / name) == ["", "class_1", "class_2", "class_3"], name
        assert "Categories:" in gdalinfo(made / name)
    assert not list(made.glob(".*.aux.xml"))


def run_info(path: Path, *extra: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run("info", path, *extra) == 0
    return out.getvalue()


@pytest.mark.parametrize("name", [
    "rec.tif", "rec.zarr", "cls.tif", "cls.zarr", "cls_cog.tif", "proba.tif", "p_hsi.tif",
    "p_msi.tif", "fused.tif", "fused.zarr", "ab.tif", "abz.zarr", "un.tif", "un.zarr"])
def test_info_reads_every_output(cli, made, name) -> None:
    result = cli("info", made / name)
    assert result.code == 0, result.err
    assert result.out.startswith(f"path:        {made / name} (")
    assert "phism metadata:" in result.out and "\n  format_version: " in result.out
    crs = "None" if name.startswith(("rec", "cls", "proba")) else "EPSG:32633"
    assert f"crs:         {crs}\n" in result.out
    summary = json.loads(cli("info", made / name, "--json").out)
    assert summary["phism_format"].startswith("phism-") and summary["channels"]
    assert summary["metadata"]["complete"] is True
    if name.startswith(("p_hsi", "fused.")):
        assert summary["channels"][0]["unit"] == UNIT
        last = BANDS if name.startswith("p_hsi") else BANDS - 1  # fuse read p_hsi.tif
        assert summary["channels"][-1]["source_band"] == last


def test_info_on_latents_shows_the_crs(cli, kit) -> None:
    result = cli("info", kit.latents, "-q")
    assert result.code == 0 and "phism latent map" in result.out
    assert "crs:         None" in result.out  # the kit scene is not georeferenced


def test_bad_options_leave_nothing(cli, kit, tmp_path) -> None:
    head = ("-H", kit.head)
    result = cli("predict", kit.latents, *head, "-o", tmp_path / "c.tif", "--co", "NOPE=1")
    assert result.code == 1 and len(result.err.splitlines()) == 1
    assert "does not take --co NOPE=1" in result.err
    result = cli("predict", kit.latents, *head, "-o", tmp_path / "c.zarr", "--cog")
    assert result.code == 1 and "--cog applies to GeoTIFF outputs only" in result.err
    result = cli("predict", kit.latents, *head, "-o", tmp_path / "c.tif", "--co", "ZSTD")
    assert result.code == 1 and "give a GDAL creation option as KEY=VALUE" in result.err
    assert list(tmp_path.iterdir()) == []
