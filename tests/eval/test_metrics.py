"""Classification metrics against numbers worked out by hand on small confusions."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from jclip_eeg.errors import DataError
from jclip_eeg.metrics import classification_report, format_report


def _probs_predicting(y_pred: list[int], n_classes: int) -> np.ndarray:
  """(N, C) probabilities whose argmax is y_pred: 0.6 on the predicted class, the rest shared."""
  probs = np.full((len(y_pred), n_classes), 0.4 / (n_classes - 1))
  probs[np.arange(len(y_pred)), y_pred] = 0.6
  return probs


# Binary: 6 background windows, 4 seizure windows. Seizure probability per window;
# > 0.5 predicts seizure, giving TN=4, FP=2 (0.6, 0.7), FN=1 (0.45), TP=3.
BINARY_Y = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
BINARY_P_SEIZ = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.45, 0.8, 0.9, 0.65])
BINARY_PROBS = np.stack([1 - BINARY_P_SEIZ, BINARY_P_SEIZ], axis=1)


def test_binary_report_matches_hand_counts():
  r = classification_report(BINARY_Y, BINARY_PROBS, ["bckg", "seiz"])
  assert r["n_samples"] == 10 and r["positive_class"] == "seiz"
  assert r["confusion_matrix"] == [[4, 2], [1, 3]]
  assert r["accuracy"] == pytest.approx(7 / 10)
  bckg, seiz = r["per_class"]
  assert (bckg["precision"], bckg["recall"], bckg["support"]) == pytest.approx((4 / 5, 4 / 6, 6))
  assert (seiz["precision"], seiz["recall"], seiz["support"]) == pytest.approx((3 / 5, 3 / 4, 4))
  f1_bckg = 2 * (4 / 5) * (4 / 6) / (4 / 5 + 4 / 6)
  f1_seiz = 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4)
  assert (bckg["f1"], seiz["f1"]) == pytest.approx((f1_bckg, f1_seiz))
  assert r["precision_macro"] == pytest.approx((4 / 5 + 3 / 5) / 2)
  assert r["recall_macro"] == pytest.approx((4 / 6 + 3 / 4) / 2)
  assert r["f1_macro"] == pytest.approx((f1_bckg + f1_seiz) / 2)
  assert r["precision_weighted"] == pytest.approx((6 * 4 / 5 + 4 * 3 / 5) / 10)
  assert r["recall_weighted"] == pytest.approx(7 / 10)
  assert r["f1_weighted"] == pytest.approx((6 * f1_bckg + 4 * f1_seiz) / 10)
  # Specificity of the seizure class: TN / (TN + FP) = 4 / 6.
  assert r["specificity"] == pytest.approx(4 / 6)
  assert (bckg["specificity"], seiz["specificity"]) == pytest.approx((3 / 4, 4 / 6))
  # Seizure-vs-background pairs ranked correctly: 0.45 beats 4, 0.8 and 0.9 beat 6, 0.65 beats 5 -> 21/24.
  assert r["auc"] == pytest.approx(21 / 24)
  assert r["auc_micro"] is None and r["auc_note"] is None


def test_binary_background_index_picks_the_positive_class():
  r = classification_report(1 - BINARY_Y, BINARY_PROBS[:, ::-1], ["seiz", "bckg"], background=1)
  assert r["positive_class"] == "seiz"
  assert r["specificity"] == pytest.approx(4 / 6)
  assert r["auc"] == pytest.approx(21 / 24)


# 3 classes, confusion (rows = true): [[5, 1, 0], [2, 3, 1], [0, 1, 2]].
MULTI_Y = [0] * 6 + [1] * 6 + [2] * 3
MULTI_PRED = [0, 0, 0, 0, 0, 1] + [0, 0, 1, 1, 1, 2] + [1, 2, 2]


def test_multiclass_report_matches_hand_counts():
  r = classification_report(np.array(MULTI_Y), _probs_predicting(MULTI_PRED, 3), ["a", "b", "c"])
  assert r["positive_class"] is None
  assert r["confusion_matrix"] == [[5, 1, 0], [2, 3, 1], [0, 1, 2]]
  assert r["accuracy"] == pytest.approx(10 / 15)
  precision, recall = [5 / 7, 3 / 5, 2 / 3], [5 / 6, 3 / 6, 2 / 3]
  f1 = [2 * p * q / (p + q) for p, q in zip(precision, recall)]
  # One-vs-rest: FP = column sum - diagonal, negatives = N - support.
  specificity = [(9 - 2) / 9, (9 - 2) / 9, (12 - 1) / 12]
  support = [6, 6, 3]
  for row, p, q, f, s, n in zip(r["per_class"], precision, recall, f1, specificity, support):
    assert (row["precision"], row["recall"], row["f1"], row["specificity"]) == pytest.approx((p, q, f, s))
    assert row["support"] == n
  assert r["precision_macro"] == pytest.approx(np.mean(precision))
  assert r["recall_macro"] == pytest.approx(np.mean(recall))
  assert r["f1_macro"] == pytest.approx(np.mean(f1))
  assert r["precision_weighted"] == pytest.approx(np.dot(support, precision) / 15)
  assert r["f1_weighted"] == pytest.approx(np.dot(support, f1) / 15)
  assert r["specificity"] == pytest.approx(np.mean(specificity))


def test_multiclass_auc_macro_and_micro_by_hand():
  y = np.array([0, 0, 1, 1, 2, 2])
  probs = np.array([[0.7, 0.2, 0.1], [0.4, 0.25, 0.35], [0.3, 0.6, 0.1],
                    [0.2, 0.45, 0.35], [0.1, 0.1, 0.8], [0.5, 0.2, 0.3]])
  r = classification_report(y, probs, ["a", "b", "c"])
  # Class a: 0.7 beats all 4 negatives, 0.4 beats 3 -> 7/8; b: 8/8; c: 0.8 beats 4, 0.3 beats 2 -> 6/8.
  assert [row["auc"] for row in r["per_class"]] == pytest.approx([7 / 8, 1.0, 6 / 8])
  assert r["auc"] == pytest.approx((7 / 8 + 1.0 + 6 / 8) / 3)
  # Micro pools the 6 true-class scores against the 12 other scores:
  # 0.8, 0.7, 0.6 beat all 12; 0.45, 0.4 beat 11; 0.3 beats 8 and ties 1 (half) -> 66.5 / 72.
  assert r["auc_micro"] == pytest.approx(66.5 / 72)
  assert r["auc_note"] is None


def test_absent_class_gives_none_auc_with_reason():
  y = np.array([0, 0, 1, 1])
  probs = np.array([[0.8, 0.1, 0.1], [0.3, 0.2, 0.5], [0.2, 0.7, 0.1], [0.4, 0.5, 0.1]])
  r = classification_report(y, probs, ["bckg", "fnsz", "tnsz"])
  assert r["auc"] is None and r["per_class"][2]["auc"] is None
  assert "tnsz" in r["auc_note"]
  assert r["per_class"][0]["auc"] == pytest.approx(3 / 4)  # bckg 0.8 beats both, 0.3 beats 0.2 only
  assert r["auc_micro"] is not None and 0.0 <= r["auc_micro"] <= 1.0
  # tnsz is predicted once (wrongly), so it counts in the macro averages with precision 0.
  assert r["per_class"][2]["precision"] == 0.0
  assert r["precision_macro"] == pytest.approx((1 / 1 + 2 / 2 + 0) / 3)


def test_single_class_y_true_does_not_crash():
  y = np.zeros(4, dtype=np.int32)
  r = classification_report(y, _probs_predicting([0, 1, 0, 0], 2), ["bckg", "seiz"])
  assert r["auc"] is None and "only class 'bckg'" in r["auc_note"]
  assert r["accuracy"] == pytest.approx(3 / 4)
  assert r["specificity"] == pytest.approx(3 / 4)  # TN / (TN + FP) of the seizure class


def test_never_predicted_class_scores_zero_without_warnings():
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    r = classification_report(np.array([0, 1, 2, 2]), _probs_predicting([0, 1, 1, 1], 3), ["a", "b", "c"])
  c = r["per_class"][2]
  assert (c["precision"], c["recall"], c["f1"]) == (0.0, 0.0, 0.0)
  assert r["precision_macro"] == pytest.approx((1 + 1 / 3 + 0) / 3)


def test_macro_skips_classes_neither_true_nor_predicted():
  r = classification_report(BINARY_Y, np.pad(BINARY_PROBS, ((0, 0), (0, 1))), ["bckg", "seiz", "other"])
  assert r["precision_macro"] == pytest.approx((4 / 5 + 3 / 5) / 2)
  assert r["per_class"][2]["support"] == 0


def test_report_is_json_serialisable():
  r = classification_report(np.array(MULTI_Y), _probs_predicting(MULTI_PRED, 3), ["a", "b", "c"])
  assert json.loads(json.dumps(r)) == r


def test_format_report_lists_classes_accuracy_and_confusion():
  names = ["Normal", "Complex Partial Seizures", "Electrographic Seizures"]
  r = classification_report(np.array(MULTI_Y), _probs_predicting(MULTI_PRED, 3), names)
  text = format_report(r, "AUBMC teacher")
  assert text.startswith("AUBMC teacher")
  assert "accuracy 66.67%" in text
  for name in names:
    assert name in text
  assert text.splitlines()[-2].split()[-3:] == ["2", "3", "1"]  # confusion row of class 1
  binary = format_report(classification_report(BINARY_Y, BINARY_PROBS, ["bckg", "seiz"]), "CHB-MIT")
  assert "AUC 0.8750" in binary and "'seiz'" in binary


@pytest.mark.parametrize("y, probs, field", [
    (np.zeros(0, int), np.zeros((0, 2)), "N=0"),
    (np.array([0, 1]), np.array([[0.5, 0.6], [0.2, 0.8]]), "probs: rows must sum to 1"),
    (np.array([0, 1]), np.array([[1.0], [1.0]]), "probs: expected shape"),
    (np.array([0, 2]), np.array([[0.5, 0.5], [0.2, 0.8]]), "y_true: class indices"),
    (np.array([0.0, 1.0]), np.array([[0.5, 0.5], [0.2, 0.8]]), "y_true: expected integer"),
    (np.array([0, 1]), np.array([[np.nan, 1.0], [0.2, 0.8]]), "probs: expected finite"),
])
def test_bad_inputs_raise_value_error_naming_the_field(y, probs, field):
  with pytest.raises(ValueError, match=field):
    classification_report(y, probs, ["bckg", "seiz"])


def test_bad_background_and_class_names_raise():
  with pytest.raises(DataError, match="background"):
    classification_report(BINARY_Y, BINARY_PROBS, ["bckg", "seiz"], background=2)
  with pytest.raises(DataError, match="class_names"):
    classification_report(np.zeros(2, int), np.ones((2, 1)), ["bckg"])
