import numpy as np
import rasterio

from phism_cli.io.features import open_features
from phism_cli.io.labels import LabelRaster
from phism_cli.pipeline.labelled import collect_labelled_pixels, field_means, source_mean
from tests.conftest import smooth_cube, write_envi


def _scene_and_labels(tmp_path):
    cube = smooth_cube(20, 30, 6, seed=5)
    cube[0:2, 0:3] = -9999  # nodata features under some labels
    header = write_envi(tmp_path / "s.img", cube, extra_header="data ignore value = -9999\n")
    labels = np.zeros((20, 30), dtype=np.int32)
    labels[0:10, 0:10] = 1
    labels[12:20, 5:25] = 2
    labels[5, 28] = 7
    np.save(tmp_path / "l.npy", labels)
    return cube, header, labels


def test_collects_labelled_pixels_with_valid_features_only(tmp_path) -> None:
    cube, header, labels = _scene_and_labels(tmp_path)
    with open_features(header) as features, LabelRaster(tmp_path / "l.npy") as raster:
        pixels = collect_labelled_pixels([(features, raster)], ignore_label=0, tile_size=16)
    expected = (labels != 0)
    expected[0:2, 0:3] = False
    assert len(pixels) == expected.sum() and pixels.without_features == 6
    np.testing.assert_array_equal(labels[pixels.row, pixels.col], pixels.labels)
    np.testing.assert_allclose(pixels.features, cube[pixels.row, pixels.col])
    assert set(pixels.source.tolist()) == {0}


def test_field_means_match_numpy(tmp_path) -> None:
    cube, header, labels = _scene_and_labels(tmp_path)
    with rasterio.open(tmp_path / "f.tif", "w", driver="GTiff", height=20, width=30, count=1,
                       dtype="int32", transform=rasterio.Affine(1, 0, 0, 0, -1, 20)) as ds:
        ds.write(labels, 1)
    with open_features(header) as features, LabelRaster(tmp_path / "f.tif") as raster:
        ids, means, counts = field_means([(features, raster)], ignore_id=0, tile_size=8)
        mean_all, n_all = source_mean(features, tile_size=8)
    assert ids.tolist() == [1, 2, 7]
    valid = np.ones((20, 30), bool)
    valid[0:2, 0:3] = False
    for fid, mean, count in zip(ids, means, counts, strict=True):
        members = (labels == fid) & valid
        assert count == members.sum()
        np.testing.assert_allclose(mean, cube[members].mean(axis=0), rtol=1e-5)
    assert n_all == valid.sum()
    np.testing.assert_allclose(mean_all, cube[valid].mean(axis=0), rtol=1e-5)
