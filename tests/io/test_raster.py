import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from phism_cli.errors import SceneError
from phism_cli.io import open_scene
from tests.conftest import real_file, smooth_cube


def test_enmap_tile_metadata(shared_data) -> None:
    path = real_file(shared_data, "enmap_potsdam/images/enmap_potsdam_tile_128_0.tif")
    with open_scene(path) as scene:
        assert scene.count == 218 and len(scene.bands.good) == 224
        assert scene.nodata == -32768 and scene.scale == pytest.approx(1e-4)
        assert scene.crs.to_epsg() == 32633
        assert scene.wavelength_nm[0] == pytest.approx(418.24)
        assert scene.fwhm_nm[0] == pytest.approx(6.99561)
        block = scene.read()
        with rasterio.open(path) as ds:
            raw = ds.read(1)
        np.testing.assert_allclose(block[..., 0], raw * 1e-4, rtol=1e-6)
    with open_scene(path, keep_bad_bands=True) as scene:
        assert np.isnan(scene.read()[..., 130]).all()  # bad band holds nodata


def _write_tif(path, cube, **band_meta) -> None:
    rows, cols, bands = cube.shape
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=bands,
                       dtype="float32", crs="EPSG:32633",
                       transform=from_origin(1000, 2000, 10, 10)) as ds:
        ds.write(np.moveaxis(cube, -1, 0))
        for i in range(1, bands + 1):
            if "imagery" in band_meta:
                ds.update_tags(i, ns="IMAGERY", CENTRAL_WAVELENGTH_UM=str(0.4 + 0.1 * i))
            if "descriptions" in band_meta:
                ds.set_band_description(i, f"band {i} ({400 + 10 * i} Nanometers)")


def test_imagery_domain_and_descriptions(tmp_path) -> None:
    cube = smooth_cube(4, 5, 3)
    _write_tif(tmp_path / "a.tif", cube, imagery=True)
    np.testing.assert_allclose(open_scene(tmp_path / "a.tif").wavelength_nm, [500, 600, 700])
    _write_tif(tmp_path / "b.tif", cube, descriptions=True)
    scene = open_scene(tmp_path / "b.tif")
    np.testing.assert_allclose(scene.wavelength_nm, [410, 420, 430])
    assert scene.transform == from_origin(1000, 2000, 10, 10)


def test_not_a_raster(tmp_path) -> None:
    (tmp_path / "x.tif").write_text("hello")
    with pytest.raises(SceneError, match="not a readable raster"):
        open_scene(tmp_path / "x.tif")


def test_phism_spectral_zarr_stores_open_as_scenes(tmp_path):
    from affine import Affine
    from rasterio.crs import CRS

    from phism_cli.io.rasters import RasterSpec, RasterWriter, spectral_band_metadata

    wavelength_nm, fwhm_nm = np.array([450.0, 550.0, 650.0]), np.array([10.0, 11.0, 12.0])
    names, tags, coords = spectral_band_metadata(wavelength_nm, fwhm_nm)
    cube = np.random.default_rng(0).random((5, 7, 3)).astype(np.float32)
    cube[0, 0] = np.nan
    transform = Affine(30.0, 0.0, 1000.0, 0.0, -30.0, 2000.0)
    for fmt, path in (("phism-fused", tmp_path / "cube.zarr"),
                      ("phism-latents", tmp_path / "latents.zarr")):
        spec = RasterSpec(5, 7, names, CRS.from_epsg(32633), transform, channel_coords=coords,
                          band_tags=tags, variable="data",
                          metadata={"format": fmt, "variable": "data"})
        with RasterWriter(path, spec, "zarr") as writer:
            writer.write(rasterio.windows.Window(0, 0, 7, 5), cube)
    with open_scene(tmp_path / "cube.zarr") as scene:
        assert scene.format == "zarr" and scene.shape == (5, 7, 3)
        np.testing.assert_allclose(scene.wavelength_nm, wavelength_nm)
        np.testing.assert_allclose(scene.fwhm_nm, fwhm_nm)
        assert scene.transform == transform and scene.crs == CRS.from_epsg(32633)
        np.testing.assert_array_equal(scene.read(), cube)
    with pytest.raises(SceneError, match="phism-latents store, not spectra"):
        open_scene(tmp_path / "latents.zarr")
    (tmp_path / "plain").mkdir()
    with pytest.raises(SceneError, match="is a directory"):
        open_scene(tmp_path / "plain")
