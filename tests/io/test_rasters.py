"""RasterWriter outputs as GDAL (and QGIS, which reads through GDAL) sees them: band units,
class names, source band numbers, creation options and Cloud-Optimized GeoTIFFs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from phism_cli.errors import PhismError
from phism_cli.io.rasters import (
    RasterReader,
    RasterSpec,
    RasterWriter,
    is_phism_raster,
    sidecar_paths,
    spectral_band_metadata,
)
from phism_cli.io.scene_formats import open_scene
from tests.gdal_info import category_names, gdalinfo

WAVELENGTH_NM = np.array([450.0, 550.0, 650.0, 1250.0])
FWHM_NM = np.array([10.0, 10.5, 11.0, 20.0])
SOURCE_BANDS = [2, 3, 4, 9]  # bands 1 and 5-8 of the input were dropped
TRANSFORM = Affine(30.0, 0.0, 366975.0, 0.0, -30.0, 5807085.0)


def spectral_spec(height: int = 20, width: int = 24, **extra: object) -> RasterSpec:
    names, tags, coords = spectral_band_metadata(WAVELENGTH_NM, FWHM_NM,
                                                 source_bands=SOURCE_BANDS)
    settings: dict = {"height": height, "width": width, "channel_names": names,
                      "band_tags": tags, "channel_coords": coords, "crs": CRS.from_epsg(32633),
                      "transform": TRANSFORM, "tile_size": 16, "variable": "reflectance",
                      "channel_units": ["W m-2 sr-1 um-1"] * 4,
                      "metadata": {"format": "phism-rendering", "format_version": 1,
                                   "variable": "reflectance"}}
    return RasterSpec(**(settings | extra))


def class_spec(height: int = 20, width: int = 24, **extra: object) -> RasterSpec:
    settings: dict = {
        "height": height, "width": width, "channel_names": ["class"], "dtype": "uint8",
        "nodata": 0, "tile_size": 16, "variable": "classes",
        "colormap": {1: (0, 0, 255, 255), 3: (0, 160, 0, 255)},
        "category_names": {1: "water", 3: "low vegetation"},
        "metadata": {"format": "phism-prediction", "format_version": 1,
                     "variable": "classes"}}
    return RasterSpec(**(settings | extra))


def write(path: Path, spec: RasterSpec, kind: str = "tif", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    n = len(spec.channel_names)
    if spec.dtype == "uint8":
        block = rng.choice([1, 3], size=(spec.height, spec.width, n)).astype(np.uint8)
    else:
        block = rng.uniform(0, 1, (spec.height, spec.width, n)).astype(np.float32)
    with RasterWriter(path, spec, kind) as writer:
        writer.write(Window(0, 0, spec.width, spec.height), block)
    return path


def test_band_units_are_gdal_units_and_tags(tmp_path) -> None:
    path = write(tmp_path / "r.tif", spectral_spec())
    with rasterio.open(path) as ds:
        assert ds.units == ("W m-2 sr-1 um-1",) * 4
        assert ds.tags(2)["units"] == "W m-2 sr-1 um-1"
    assert gdalinfo(path).count("Unit Type: W m-2 sr-1 um-1") == 4


def test_bands_carry_wavelength_fwhm_and_source_band(tmp_path) -> None:
    path = write(tmp_path / "r.tif", spectral_spec())
    with rasterio.open(path) as ds:
        tags = [ds.tags(i) for i in range(1, 5)]
    assert [t["source_band"] for t in tags] == ["2", "3", "4", "9"]
    assert [float(t["fwhm"]) for t in tags] == list(FWHM_NM)
    with open_scene(path) as scene:  # phism reads its own output back as a scene
        np.testing.assert_allclose(scene.wavelength_nm, WAVELENGTH_NM)
        np.testing.assert_allclose(scene.fwhm_nm, FWHM_NM)
        assert scene.data_unit == "W m-2 sr-1 um-1"
    store = write(tmp_path / "r.zarr", spectral_spec(), "zarr")
    ds = xr.open_zarr(store)
    assert ds["source_band"].values.tolist() == SOURCE_BANDS
    assert ds["source_band"].dtype.kind == "i"
    np.testing.assert_allclose(ds["fwhm_nm"].values, FWHM_NM)
    assert ds["reflectance"].attrs["units"] == "W m-2 sr-1 um-1"
    with open_scene(store) as scene:
        assert scene.data_unit == "W m-2 sr-1 um-1"


def test_class_names_are_gdal_category_names(tmp_path) -> None:
    path = write(tmp_path / "c.tif", class_spec())
    assert sidecar_paths(path) == [tmp_path / "c.tif.aux.xml"]
    assert sidecar_paths(path)[0].is_file()
    assert category_names(path) == ["", "water", "", "low vegetation"]
    report = gdalinfo(path)
    assert "Categories:" in report and "3: low vegetation" in report
    assert "c.tif.aux.xml" in report  # GDAL lists the sidecar among the dataset's files
    with rasterio.open(path) as ds:
        assert ds.colormap(1)[3][:3] == (0, 160, 0)


def test_class_names_in_zarr_attributes(tmp_path) -> None:
    store = write(tmp_path / "c.zarr", class_spec(), "zarr")
    attrs = xr.open_zarr(store)["classes"].attrs
    assert attrs["category_names"] == {"1": "water", "3": "low vegetation"}
    assert attrs["flag_values"] == [1, 3]
    assert attrs["flag_meanings"] == "water low_vegetation"


def test_no_sidecar_without_class_names_or_after_failure(tmp_path) -> None:
    write(tmp_path / "r.tif", spectral_spec())
    spec = class_spec()
    with pytest.raises(RuntimeError), RasterWriter(tmp_path / "c.tif", spec, "tif"):
        raise RuntimeError("the run failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.tif", "r.tif"]


def test_creation_options_override_phism_defaults(tmp_path) -> None:
    spec = spectral_spec().with_options({"COMPRESS": "DEFLATE", "BLOCKXSIZE": "32",
                                         "BLOCKYSIZE": "32"})
    path = write(tmp_path / "r.tif", spec)
    with rasterio.open(path) as ds:
        assert ds.profile["compress"] == "deflate" and ds.block_shapes[0] == (32, 32)
        assert ds.units[0] == "W m-2 sr-1 um-1"
    assert is_phism_raster(path)


@pytest.mark.parametrize("cog", [False, True])
@pytest.mark.parametrize("option", [{"NOT_AN_OPTION": "1"}, {"COMPRESS": "NOPE"}])
def test_options_gdal_refuses_are_one_sentence(tmp_path, cog, option) -> None:
    key, value = next(iter(option.items()))
    with pytest.raises(PhismError, match=rf"does not take --co {key}={value} \(") as info:
        RasterWriter(tmp_path / "r.tif", spectral_spec().with_options(option, cog), "tif",
                     name="out.tif")
    assert str(info.value).startswith("out.tif: GDAL's ")
    assert "\n" not in str(info.value)


def test_cog_has_overviews_layout_and_keeps_everything(tmp_path) -> None:
    path = write(tmp_path / "r.tif", spectral_spec(300, 280).with_options(cog=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.tif"]  # no .tiled left
    with rasterio.open(path) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        # built from a band-interleaved intermediate, the COG is still pixel-interleaved
        assert ds.tags(ns="IMAGE_STRUCTURE")["INTERLEAVE"] == "PIXEL"
        assert ds.overviews(1) == [2, 4]
        assert ds.units == ("W m-2 sr-1 um-1",) * 4
        assert ds.tags(4)["source_band"] == "9" and ds.descriptions[0].startswith("band 1")
        assert ds.crs == CRS.from_epsg(32633) and ds.transform == TRANSFORM
        assert np.isnan(ds.nodata)
    with RasterReader(path) as reader:
        assert reader.metadata["complete"] is True
        assert reader.metadata["format"] == "phism-rendering"
    assert is_phism_raster(path)
    report = gdalinfo(path)
    assert "LAYOUT=COG" in report and "Overviews: 140x150, 70x75" in report


def test_cog_class_map_keeps_colours_and_names(tmp_path) -> None:
    path = write(tmp_path / "c.tif", class_spec(300, 280).with_options({"COMPRESS": "LZW"},
                                                                       cog=True))
    with rasterio.open(path) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["COMPRESSION"] == "LZW"
        assert ds.colormap(1)[1][:3] == (0, 0, 255) and ds.nodata == 0
        overview = ds.read(1, out_shape=(150, 140))
    assert set(np.unique(overview)) <= {1, 3}  # classes, never averages of classes
    assert category_names(path)[3] == "low vegetation"


def test_cog_metadata_is_marked_unfinished_until_closed(tmp_path) -> None:
    writer = RasterWriter(tmp_path / "r.tif", spectral_spec().with_options(cog=True), "tif")
    writer.close(complete=False)
    assert not (tmp_path / "r.tif").exists()  # never converted: the output never appears
    writer = RasterWriter(tmp_path / "r.tif", spectral_spec(), "tif")
    writer.close(complete=False)
    with rasterio.open(tmp_path / "r.tif") as ds:
        assert json.loads(ds.tags(ns="PHISM")["metadata"])["complete"] is False
