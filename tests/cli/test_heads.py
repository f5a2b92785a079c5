"""train-head and predict end to end, on the sample scene, the shared real scenes and small
synthetic cubes."""

import json

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

from phism_cli.io import open_scene
from phism_cli.io.labels import LabelRaster
from tests.conftest import SAMPLE_SCENE, real_file, smooth_cube, write_envi

SAMPLE_LABELS = SAMPLE_SCENE.with_name("enmap_potsdam_64x64_labels.tif")


@pytest.fixture(scope="module")
def sample_latents(tmp_path_factory, sample_model) -> str:
    from phism_cli.cli.main import main

    path = tmp_path_factory.mktemp("latents") / "sample.zarr"
    with pytest.raises(SystemExit) as exit_info:
        main(["encode", str(SAMPLE_SCENE), "-o", str(path), "-m", str(sample_model), "-q"])
    assert exit_info.value.code == 0
    return str(path)


def _train(cli, *args):
    result = cli("train-head", *args, "--json", "-q")
    assert result.code == 0, result.err
    return json.loads(result.out)


def test_train_head_then_predict_sample(cli, tmp_path, sample_latents) -> None:
    head = tmp_path / "head.ubj"
    summary = _train(cli, sample_latents, "--labels", SAMPLE_LABELS, "-o", head,
                     "--train-fraction", "0.5")
    with LabelRaster(SAMPLE_LABELS) as raster:
        labels = raster.read()
    counts = {str(v): int((labels == v).sum()) for v in range(1, 7)}
    assert summary["n_train"] + summary["n_test"] == sum(counts.values()) == 1023
    assert summary["n_train_per_class"] == {k: round(v / 2) for k, v in counts.items()}
    for key in ("oa", "aa", "kappa"):
        assert 0.0 <= summary[key] <= 1.0
    assert summary["oa"] > max(counts.values()) / 1023 + 0.1  # beats the majority class
    assert summary["class_names"]["6"] == "water"
    confusion = np.asarray(summary["confusion"])
    assert confusion.sum() == summary["n_test"] and summary["classes"] == list(range(1, 7))
    assert summary["oa"] == pytest.approx(np.trace(confusion) / confusion.sum())
    recall = np.diag(confusion) / confusion.sum(axis=1)
    assert summary["aa"] == pytest.approx(recall.mean())
    assert summary["per_class"] == pytest.approx({str(c): r for c, r in
                                                  zip(range(1, 7), recall, strict=True)})

    out = tmp_path / "classes.tif"
    result = cli("predict", sample_latents, "-H", head, "-o", out, "--json", "-q")
    assert result.code == 0, result.err
    with rasterio.open(out) as ds, open_scene(SAMPLE_SCENE) as scene:
        assert ds.crs == scene.crs and ds.transform == scene.transform
        assert ds.dtypes[0] == "uint8" and ds.nodata == 0
        assert ds.colormap(1)[6][:3] == (0, 100, 255)  # the labels' own colours travel
        assert ds.tags(1)["class_4"] == "tree"
        classes = ds.read(1)
        valid = np.isfinite(scene.read()).all(-1) & (scene.read() != 0).any(-1)
    assert set(np.unique(classes[valid])) <= set(range(1, 7))
    assert (classes[~valid] == 0).all()


def test_nodata_stays_nodata_and_probabilities(cli, tmp_path) -> None:
    cube = smooth_cube(24, 24, 10, seed=9)
    cube[5:9, 2:12] = -9999
    header = write_envi(tmp_path / "s.img", cube, extra_header="data ignore value = -9999\n")
    labels = np.where(cube[..., 0] > np.median(cube[..., 0]), 1, 2).astype(np.int16)
    labels[::3] = 0
    np.save(tmp_path / "labels.npy", labels)
    assert cli("encode", header, "-o", tmp_path / "l.tif", "--epochs", "1", "-q").code == 0
    _train(cli, tmp_path / "l.tif", "--labels", tmp_path / "labels.npy", "-o",
           tmp_path / "h.json", "--split", "none", "--n-estimators", "10")
    for name, extra in (("c.tif", ()), ("p.tif", ("--proba",)), ("c.zarr", ())):
        result = cli("predict", tmp_path / "l.tif", "-H", tmp_path / "h.json", "-o",
                     tmp_path / name, "-q", *extra)
        assert result.code == 0, result.err
    nodata = np.zeros((24, 24), bool)
    nodata[5:9, 2:12] = True
    with rasterio.open(tmp_path / "c.tif") as ds:
        classes = ds.read(1)
        assert ds.nodata == 0
    assert (classes[nodata] == 0).all() and set(np.unique(classes[~nodata])) <= {1, 2}
    with rasterio.open(tmp_path / "p.tif") as ds:
        stack = ds.read()
        assert ds.descriptions == ("class", "p_class_1", "p_class_2")
    assert np.isnan(stack[:, nodata]).all()
    np.testing.assert_array_equal(stack[0][~nodata], classes[~nodata])
    np.testing.assert_allclose(stack[1:, ~nodata].sum(axis=0), 1.0, rtol=1e-5)
    import zarr

    assert zarr.open_group(str(tmp_path / "c.zarr"), mode="r")["classes"].dtype == np.uint8


def test_head_refuses_a_foreign_encoder(cli, tmp_path, sample_latents) -> None:
    head = tmp_path / "head.ubj"
    _train(cli, sample_latents, "--labels", SAMPLE_LABELS, "-o", head, "--n-estimators", "5")
    other = tmp_path / "other.tif"
    assert cli("encode", SAMPLE_SCENE, "-o", other, "--epochs", "1", "--seed", "3",
               "--max-pixels", "500", "-q").code == 0
    result = cli("predict", other, "-H", head, "-o", tmp_path / "out.tif")
    assert result.code == 1
    assert "encoder" in result.err and "sha256" in result.err and "Traceback" not in result.err
    assert not (tmp_path / "out.tif").exists()
    raw = cli("predict", SAMPLE_SCENE, "-H", head, "-o", tmp_path / "out.tif")
    assert raw.code == 1 and "raw scene spectra" in raw.err


def test_block_split_is_disjoint_reproducible_and_pictured(cli, tmp_path,
                                                           sample_latents) -> None:
    args = (sample_latents, "--labels", SAMPLE_LABELS, "--split", "blocks", "--folds", "4",
            "--block-size", "16", "--n-estimators", "5")
    runs = [_train(cli, *args, "--fold", str(f), "-o", tmp_path / f"h{f}.ubj",
                   "--split-plot", tmp_path / f"s{f}.png") for f in (1, 2, 3, 4)]
    blocks = [{tuple(b) for b in r["split"]["test_blocks"]} for r in runs]
    assert all(not a & b for i, a in enumerate(blocks) for b in blocks[i + 1:])
    assert sum(r["n_test"] for r in runs) == 1023  # every labelled pixel tested once
    again = _train(cli, *args, "--fold", "2", "-o", tmp_path / "again.ubj")
    assert again["split"] == runs[1]["split"] and again["confusion"] == runs[1]["confusion"]
    other_seed = _train(cli, *args, "--fold", "2", "--seed", "1", "-o", tmp_path / "s.ubj")
    assert other_seed["split"]["test_blocks"] != runs[1]["split"]["test_blocks"]
    assert (tmp_path / "s1.png").read_bytes()[:4] == b"\x89PNG"


def test_indian_pines_crop_raw_spectra(cli, tmp_path, shared_data) -> None:
    from scipy.io import loadmat

    cube_path = real_file(shared_data, "indian_pines/Indian_pines_corrected.mat")
    gt_path = real_file(shared_data, "indian_pines/Indian_pines_gt.mat")
    np.save(tmp_path / "ip.npy", loadmat(cube_path)["indian_pines_corrected"][:72, :72])
    np.save(tmp_path / "gt.npy", loadmat(gt_path)["indian_pines_gt"][:72, :72])
    summary = _train(cli, tmp_path / "ip.npy", "--labels", tmp_path / "gt.npy", "-o",
                     tmp_path / "h.ubj", "--split", "blocks", "--folds", "3",
                     "--block-size", "24", "--buffer", "2", "--n-estimators", "20")
    assert summary["dropped_by_buffer"] > 0 and summary["n_test"] > 0
    assert summary["oa"] > 0.3  # 10+ classes on spatially disjoint blocks: far above chance
    out = tmp_path / "ip_classes.tif"
    result = cli("predict", tmp_path / "ip.npy", "-H", tmp_path / "h.ubj", "-o", out, "-q")
    assert result.code == 0, result.err
    with rasterio.open(out) as ds:
        assert ds.crs is None and ds.shape == (72, 72)
        assert set(np.unique(ds.read(1))) <= {int(c) for c in summary["class_names"]}


def test_enmap_tiles_by_folder_keep_crs(cli, tmp_path, shared_data, sample_model) -> None:
    names = ["enmap_potsdam_tile_160_96", "enmap_potsdam_tile_192_96",
             "enmap_potsdam_tile_160_128", "enmap_potsdam_tile_192_128"]
    latents = []
    for name in names:
        scene = real_file(shared_data, f"enmap_potsdam/images/{name}.tif")
        latents.append(tmp_path / f"{name}.zarr")
        assert cli("encode", scene, "-o", latents[-1], "-m", sample_model, "-q").code == 0
    labels_dir = real_file(shared_data, "enmap_potsdam/labels")
    summary = _train(cli, *latents, "--labels", labels_dir, "-o", tmp_path / "h.ubj",
                     "--split", "blocks", "--folds", "2", "--n-estimators", "10")
    assert summary["split"]["block_size"] == 32 and len(summary["split"]["test_blocks"]) == 2
    out = tmp_path / "c.tif"
    assert cli("predict", latents[0], "-H", tmp_path / "h.ubj", "-o", out, "-q").code == 0
    with rasterio.open(out) as ds, \
            rasterio.open(shared_data / f"enmap_potsdam/images/{names[0]}.tif") as src:
        assert ds.crs == src.crs == CRS.from_epsg(32633) and ds.transform == src.transform


def test_regression_with_fields_raster(cli, tmp_path) -> None:
    cube = smooth_cube(40, 40, 12, seed=3)
    header = write_envi(tmp_path / "s.img", cube)
    fields = np.repeat(np.repeat(np.arange(1, 65).reshape(8, 8), 5, 0), 5, 1)
    np.save(tmp_path / "fields.npy", fields)
    lines = ["id,P,K"] + [f"{f},{cube[fields == f].mean(0)[2] * 100:.5f},"
                          f"{cube[fields == f].mean(0)[9] * 10:.5f}" for f in range(1, 65)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    summary = _train(cli, header, "--task", "regression", "--targets", tmp_path / "t.csv",
                     "--fields", tmp_path / "fields.npy", "-o", tmp_path / "r.ubj")
    assert summary["fields"] == 64 and summary["n_train"] == 51 and summary["n_test"] == 13
    assert 0 < summary["score"] < 0.5  # well below the mean predictor
    assert set(summary["mse"]) == {"P", "K"}
    with_baseline = _train(cli, header, "--task", "regression", "--targets",
                           tmp_path / "t.csv", "--fields", tmp_path / "fields.npy", "-o",
                           tmp_path / "r2.ubj", "--baseline-mse", "P=1e9", "--baseline-mse",
                           "K=1e9")
    assert with_baseline["score"] < 1e-6
    out = tmp_path / "maps.tif"
    result = cli("predict", header, "-H", tmp_path / "r.ubj", "-o", out, "--json", "-q")
    assert result.code == 0, result.err
    with rasterio.open(out) as ds:
        assert ds.descriptions == ("P", "K") and ds.dtypes[0] == "float32"
    proba = cli("predict", header, "-H", tmp_path / "r.ubj", "-o", tmp_path / "x.tif",
                "--proba")
    assert proba.code == 1 and "--proba is for classification" in proba.err


def test_regression_one_file_per_field(cli, tmp_path) -> None:
    rows = ["field_id,N"]
    paths = []
    for field in range(1, 9):
        cube = smooth_cube(6, 6, 8, seed=field)
        np.save(tmp_path / f"{field}.npy", cube)
        paths.append(tmp_path / f"{field}.npy")
        rows.append(f"{field},{cube.mean() * 7:.6f}")
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    summary = _train(cli, *paths, "--task", "regression", "--targets", tmp_path / "t.csv",
                     "-o", tmp_path / "r.ubj", "--train-fraction", "0.75")
    assert summary["fields"] == 8 and summary["n_test"] == 2


@pytest.mark.parametrize(("args", "message"), [
    (("--labels", SAMPLE_LABELS, "--labels", SAMPLE_LABELS), "1 FEATURES but 2 --labels"),
    ((), "needs --labels"),
    (("--labels", SAMPLE_LABELS, "--task", "regression", "--targets", "t.csv", "--split",
      "blocks"), "--split blocks is for classification"),
    (("--labels", SAMPLE_LABELS, "--split", "blocks", "--fold", "5"), "--fold 5"),
    (("--labels", SAMPLE_LABELS, "--split", "sideways"), "--split 'sideways'"),
])
def test_train_head_usage_errors(cli, tmp_path, args, message) -> None:
    result = cli("train-head", SAMPLE_SCENE, "-o", tmp_path / "h.ubj", *args)
    assert result.code == 1 and message in result.err, result.err
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert not (tmp_path / "h.ubj").exists()


def test_train_head_refuses_misaligned_labels_and_keeps_outputs(cli, tmp_path) -> None:
    np.save(tmp_path / "small.npy", np.ones((10, 10), np.uint8))
    result = cli("train-head", SAMPLE_SCENE, "--labels", tmp_path / "small.npy", "-o",
                 tmp_path / "h.ubj")
    assert result.code == 1 and "same grid" in result.err
    (tmp_path / "h.ubj").write_text("precious")
    result = cli("train-head", SAMPLE_SCENE, "--labels", SAMPLE_LABELS, "-o", tmp_path / "h.ubj")
    assert result.code == 3 and (tmp_path / "h.ubj").read_text() == "precious"
    bad_suffix = cli("train-head", SAMPLE_SCENE, "--labels", SAMPLE_LABELS, "-o",
                     tmp_path / "h.pkl")
    assert bad_suffix.code == 1 and "*.ubj" in bad_suffix.err
