import numpy as np
import pytest

from phism_cli.heads.metrics import classification_metrics, confusion_matrix, regression_metrics


def test_metrics_match_a_hand_computed_confusion_matrix() -> None:
    # true 1: 3 right, 1 as 2; true 2: 1 right, 1 as 1; true 5: 2 right.
    y_true = np.array([1, 1, 1, 1, 2, 2, 5, 5])
    y_pred = np.array([1, 1, 1, 2, 2, 1, 5, 5])
    m = classification_metrics(y_true, y_pred, [1, 2, 5])
    assert m["confusion"] == [[3, 1, 0], [1, 1, 0], [0, 0, 2]]
    assert m["oa"] == pytest.approx(6 / 8)
    assert m["aa"] == pytest.approx((3 / 4 + 1 / 2 + 1) / 3)
    # kappa: p_o = 0.75; p_e = (4*4 + 2*2 + 2*2) / 64 = 0.375
    assert m["kappa"] == pytest.approx((0.75 - 0.375) / (1 - 0.375))
    assert m["per_class"] == {"1": 0.75, "2": 0.5, "5": 1.0}
    assert m["n_test"] == 8


def test_a_class_unseen_in_training_counts_as_wrong() -> None:
    y_true = np.array([1, 1, 3, 3])
    y_pred = np.array([1, 1, 1, 1])  # the head never learned class 3
    m = classification_metrics(y_true, y_pred, [1, 3, 4])
    assert m["aa"] == pytest.approx(0.5)  # class 4 has no test pixels and is not averaged
    assert "4" not in m["per_class"] and m["per_class"]["3"] == 0.0


def test_confusion_rows_are_true_classes() -> None:
    assert confusion_matrix(np.array([2]), np.array([1]), [1, 2]).tolist() == [[0, 0], [1, 0]]


def test_regression_score_is_mse_over_baseline() -> None:
    y = np.array([[1.0, 10.0], [3.0, 30.0]])
    pred = np.array([[2.0, 10.0], [3.0, 20.0]])
    m = regression_metrics(y, pred, ["a", "b"], {"a": 1.0, "b": 100.0})
    assert m["mse"] == {"a": 0.5, "b": 50.0}
    assert m["score"] == pytest.approx((0.5 / 1.0 + 50.0 / 100.0) / 2)
    assert np.isnan(regression_metrics(y, pred, ["a", "b"], {"a": 1.0})["score"])
