import json

import numpy as np
import pytest
import xgboost as xgb

from phism_cli.errors import PhismError
from phism_cli.heads.xgb import ClassifierHead, RegressorHead, load_head


def _blobs(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three separable classes with labels 2, 5, 9 in 4 features."""
    rng = np.random.default_rng(seed)
    labels = rng.choice([2, 5, 9], size=n)
    centres = {2: [0, 0, 0, 0], 5: [4, 0, 4, 0], 9: [0, 4, 0, 4]}
    features = np.array([centres[v] for v in labels]) + rng.normal(0, 0.5, (n, 4))
    return features.astype(np.float32), labels


def test_classifier_learns_separable_classes_and_keeps_label_values() -> None:
    x, y = _blobs()
    head = ClassifierHead(n_estimators=20).fit(x[:200], y[:200])
    assert head.classes_.tolist() == [2, 5, 9]
    assert np.mean(head.predict(x[200:]) == y[200:]) > 0.95
    proba = head.predict_proba(x[200:])
    assert proba.shape == (100, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_binary_classifier_gives_two_probability_columns() -> None:
    x, y = _blobs()
    keep = y != 9
    head = ClassifierHead(n_estimators=10).fit(x[keep], y[keep])
    assert head.predict_proba(x[:5]).shape == (5, 2)
    assert set(head.predict(x[keep])) <= {2, 5}


def test_one_class_is_refused() -> None:
    with pytest.raises(ValueError, match="at least two classes"):
        ClassifierHead().fit(np.zeros((5, 2)), np.ones(5))


@pytest.mark.parametrize("raw_format", ["ubj", "json"])
def test_head_file_is_xgboost_format_with_metadata(tmp_path, raw_format) -> None:
    x, y = _blobs()
    head = ClassifierHead(n_estimators=10, seed=3).fit(x, y)
    path = tmp_path / f"head.{raw_format}"
    head.save(path, {"features": {"kind": "latent"}}, raw_format=raw_format)
    if raw_format == "json":
        assert json.loads(path.read_text())["learner"]["attributes"]["phism"]
    booster = xgb.Booster(model_file=str(path))  # plain XGBoost reads it
    assert json.loads(booster.attr("phism"))["class_values"] == [2, 5, 9]
    loaded, meta = load_head(path)
    assert meta["task"] == "classification" and meta["params"]["seed"] == 3
    np.testing.assert_array_equal(loaded.predict_proba(x), head.predict_proba(x))
    assert path.read_bytes()[:2] != b"\x80\x04"  # not a pickle


def test_regressor_fits_several_targets(tmp_path) -> None:
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (400, 3)).astype(np.float32)
    y = np.stack([10 * x[:, 0], 5 * x[:, 1] + x[:, 2]], axis=1)
    head = RegressorHead(n_estimators=50).fit(x[:300], y[:300])
    pred = head.predict(x[300:])
    assert pred.shape == (100, 2)
    for t in range(2):
        assert np.mean((pred[:, t] - y[300:, t]) ** 2) < 0.1 * np.var(y[300:, t])
    head.save(tmp_path / "r.ubj", {})
    loaded, meta = load_head(tmp_path / "r.ubj")
    assert meta["task"] == "regression" and meta["n_targets"] == 2
    np.testing.assert_allclose(loaded.predict(x[300:]), pred)


def test_load_refuses_other_files(tmp_path) -> None:
    (tmp_path / "junk.ubj").write_bytes(b"not a model")
    with pytest.raises(PhismError, match="not a usable phism head"):
        load_head(tmp_path / "junk.ubj")
    x, y = _blobs()
    plain = xgb.train({"objective": "multi:softprob", "num_class": 3},
                      xgb.DMatrix(x, label=np.searchsorted([2, 5, 9], y)), 2)
    plain.save_model(str(tmp_path / "plain.ubj"))
    with pytest.raises(PhismError, match="without phism metadata"):
        load_head(tmp_path / "plain.ubj")
    with pytest.raises(PhismError, match="no such head"):
        load_head(tmp_path / "missing.ubj")


def test_device_names() -> None:
    import torch

    from phism_cli.heads.xgb import xgboost_device

    assert xgboost_device("cpu") == "cpu"
    assert xgboost_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(PhismError, match="use auto, cpu"):
        xgboost_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(PhismError, match="no CUDA device"):
            xgboost_device("cuda")
