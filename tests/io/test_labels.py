import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from phism_cli.errors import ModelMismatchError, SceneError
from phism_cli.io.labels import MISSING, LabelRaster, check_aligned
from tests.conftest import real_file, write_envi

TRANSFORM = Affine(30, 0, 500000, 0, -30, 4000000)


def _geotiff(path, array, **profile) -> None:
    base = {"driver": "GTiff", "height": array.shape[0], "width": array.shape[1], "count": 1,
            "dtype": array.dtype, "crs": CRS.from_epsg(32633), "transform": TRANSFORM}
    with rasterio.open(path, "w", **(base | profile)) as ds:
        ds.write(array, 1)
        if array.dtype == np.uint8:
            ds.write_colormap(1, {1: (255, 0, 0, 255), 2: (0, 0, 255, 255)})
            ds.update_tags(1, class_1="roof", class_2="water")


def test_geotiff_labels_with_names_and_colours(tmp_path) -> None:
    labels = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)
    _geotiff(tmp_path / "l.tif", labels)
    with LabelRaster(tmp_path / "l.tif") as raster:
        np.testing.assert_array_equal(raster.read(), labels)
        assert raster.class_names == {1: "roof", 2: "water"}
        assert raster.colours[2] == (0, 0, 255, 255)
        assert raster.crs == CRS.from_epsg(32633) and raster.transform == TRANSFORM


def test_float_labels_with_nan_and_nodata_are_missing(tmp_path) -> None:
    labels = np.array([[1.0, np.nan, -1.0, 3.0]], dtype=np.float32)
    _geotiff(tmp_path / "f.tif", labels, nodata=-1.0)
    with LabelRaster(tmp_path / "f.tif") as raster:
        assert raster.read().tolist() == [[1, MISSING, MISSING, 3]]


def test_non_integral_labels_are_refused(tmp_path) -> None:
    _geotiff(tmp_path / "f.tif", np.array([[1.5, 2.0]], dtype=np.float32))
    with LabelRaster(tmp_path / "f.tif") as raster, pytest.raises(SceneError, match="whole"):
        raster.read()


def test_envi_classification_names_and_lookup(tmp_path) -> None:
    classes = np.array([[0, 1], [2, 1]], dtype=np.uint8)[..., None]
    header = write_envi(tmp_path / "c.img", classes, extra_header=(
        "file type = ENVI Classification\nclasses = 3\n"
        "class names = {Unclassified, Corn, Soy}\nclass lookup = {0,0,0, 255,255,0, 0,128,0}\n"))
    with LabelRaster(header) as raster:
        np.testing.assert_array_equal(raster.read(), classes[..., 0])
        assert raster.class_names == {0: "Unclassified", 1: "Corn", 2: "Soy"}
        assert raster.colours[2] == (0, 128, 0, 255)


def test_npy_labels_and_multiband_refusal(tmp_path) -> None:
    np.save(tmp_path / "l.npy", np.arange(6).reshape(2, 3))
    with LabelRaster(tmp_path / "l.npy") as raster:
        assert raster.read().tolist() == [[0, 1, 2], [3, 4, 5]] and raster.crs is None
    with rasterio.open(tmp_path / "two.tif", "w", driver="GTiff", height=2, width=2, count=2,
                       dtype="uint8", transform=TRANSFORM) as ds:
        ds.write(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(SceneError, match="one band"):
        LabelRaster(tmp_path / "two.tif")


def test_alignment_is_checked(tmp_path) -> None:
    _geotiff(tmp_path / "l.tif", np.zeros((4, 5), np.uint8))
    with LabelRaster(tmp_path / "l.tif") as raster:
        check_aligned(raster, tmp_path / "f", 4, 5, CRS.from_epsg(32633), TRANSFORM)
        check_aligned(raster, tmp_path / "f", 4, 5, None, None)  # plain arrays: size only
        with pytest.raises(ModelMismatchError, match="4x5 pixels"):
            check_aligned(raster, tmp_path / "f", 5, 4, None, None)
        with pytest.raises(ModelMismatchError, match="different CRS"):
            check_aligned(raster, tmp_path / "f", 4, 5, CRS.from_epsg(4326), TRANSFORM)
        with pytest.raises(ModelMismatchError, match="different transforms"):
            check_aligned(raster, tmp_path / "f", 4, 5, CRS.from_epsg(32633),
                          TRANSFORM @ Affine.translation(1, 0))


def test_real_label_tiles(shared_data) -> None:
    path = real_file(shared_data, "enmap_potsdam/labels/enmap_potsdam_tile_128_0.tif")
    gt = real_file(shared_data, "indian_pines/Indian_pines_gt.mat")
    with LabelRaster(path) as raster:
        labels = raster.read()
        assert labels.shape == (32, 32) and set(np.unique(labels)) <= set(range(7))
        assert raster.crs is not None
    with LabelRaster(gt) as raster:
        labels = raster.read()
        assert labels.shape == (145, 145) and int((labels > 0).sum()) == 10249
