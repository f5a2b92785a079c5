"""`predict --labels/--plot`: agreement with labels counted tile by tile, the class map with
its legend and the confusion matrix."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from phism_cli.io.labels import LabelRaster
from phism_cli.pipeline.predict import Agreement

pytest.importorskip("matplotlib")

from matplotlib.image import imread

from phism_cli.heads.headfile import read_head
from phism_cli.plots.classes import plot_predictions


def write_labels(path, labels: np.ndarray) -> None:
    with rasterio.open(path, "w", driver="GTiff", height=labels.shape[0],
                       width=labels.shape[1], count=1, dtype="int16", nodata=-1) as ds:
        ds.write(labels.astype(np.int16), 1)


def test_agreement_counts_pairs_and_scores_unknown_label_classes_as_wrong(tmp_path) -> None:
    truth = np.array([[1, 1, 2, 0], [2, 3, -1, 1]])  # 0: ignored, -1: nodata, 3: unknown
    predicted = np.array([[1, 2, 2, 1], [2, 1, 1, 1]])
    valid = np.array([[True, True, True, True], [True, True, True, False]])
    write_labels(tmp_path / "l.tif", truth)
    with LabelRaster(tmp_path / "l.tif") as labels:
        agreement = Agreement(labels, ignore_label=0, training_labels=["elsewhere/other.tif"])
        agreement.update(Window(0, 0, 2, 2), predicted[:, :2], valid[:, :2])
        agreement.update(Window(2, 0, 2, 2), predicted[:, 2:], valid[:, 2:])
        scores = agreement.metrics([1, 2])
    assert scores["classes"] == [1, 2, 3]
    assert scores["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert scores["n_test"] == 5 and scores["oa"] == pytest.approx(3 / 5)
    assert scores["aa"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert scores["labelled_without_prediction"] == 1  # the label 1 at (1, 3)
    assert scores["includes_training_labels"] is False


def test_predict_with_labels_and_plot(cli, kit, tmp_path) -> None:
    plot = tmp_path / "classes.png"
    result = cli("predict", kit.latents, "-H", kit.head, "-o", tmp_path / "c.tif",
                 "--labels", kit.labels, "--plot", plot, "--json")
    assert result.code == 0, result.err
    summary = json.loads(result.out)
    agreement = summary["agreement"]
    with rasterio.open(kit.labels) as ds, rasterio.open(tmp_path / "c.tif") as out:
        labels, classes = ds.read(1), out.read(1)
    both = (labels != 0) & (classes != out.nodata)
    assert agreement["n_test"] == int(both.sum())
    assert agreement["oa"] == pytest.approx(float((labels[both] == classes[both]).mean()))
    assert agreement["includes_training_labels"] is True  # the head was trained on these
    assert "not a held-out score" in result.err
    assert summary["plot"] == str(plot) and imread(plot).shape[2] == 4


def test_the_figure_names_the_classes_and_draws_the_confusion_matrix(cli, kit, tmp_path) -> None:
    assert cli("predict", kit.latents, "-H", kit.head, "-o", tmp_path / "c.tif", "-q").code == 0
    _, meta, _ = read_head(kit.head)
    names = [c["name"] for c in meta["classes"]]
    agreement = {"confusion": [[3, 1, 0], [0, 4, 0], [1, 0, 5]], "classes": [1, 2, 3],
                 "labels": "truth.tif", "oa": 0.857, "aa": 0.85, "kappa": 0.78, "n_test": 14}
    figure = plot_predictions(tmp_path / "f.png", tmp_path / "c.tif", meta, 255.0, agreement,
                              "head on latents")
    class_map, matrix = figure["axes"][:2]
    assert class_map["title"] == "head on latents" and class_map["images"] == [(8, 8)]
    assert [t.split(" ", 1)[1] for t in figure["legend"]] == names
    assert (matrix["xlabel"], matrix["ylabel"]) == ("Predicted class", "True class (labels)")
    assert "OA 85.7 %" in matrix["title"] and "AA 85.0 %" in matrix["title"]
    assert "5" in matrix["texts"] and "0" not in matrix["texts"]  # counts, empty cells blank
    assert imread(tmp_path / "f.png").shape[:2] == figure["size_px"][::-1]


@pytest.mark.parametrize(("extra", "expected"), [
    (["--plot", "{tmp}/c.jpg"], r"name the picture *.png"),
    (["--labels", "{tmp}/small.tif"], "labels must be on the same grid"),
])
def test_bad_labels_or_plot_are_refused_before_any_output(cli, kit, tmp_path, extra,
                                                          expected) -> None:
    write_labels(tmp_path / "small.tif", np.ones((3, 3)))
    result = cli("predict", kit.latents, "-H", kit.head, "-o", tmp_path / "c.tif",
                 *[e.format(tmp=tmp_path) for e in extra])
    assert result.code == 1 and expected in result.err, result.err
    assert not (tmp_path / "c.tif").exists()


def test_labels_for_many_feature_files_are_refused(cli, kit, tmp_path) -> None:
    result = cli("predict", kit.latents, kit.latents_tif, "-H", kit.head, "-o", tmp_path,
                 "--labels", kit.labels)
    assert result.code == 1 and "predict the FEATURES one by one" in result.err, result.err
