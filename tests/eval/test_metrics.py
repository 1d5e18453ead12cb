"""Classification metrics against numbers worked out by hand on small confusions, and the paper's protocol."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import label_binarize

from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.metrics import balanced_draw, classification_report, format_report, paper_line, paper_report


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


# ----------------------------------------------------------------------------- the paper's protocol

# Balanced already (4 + 4, nothing is drawn): TP=3, FN=1, FP=2, TN=2.
PAPER_Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
PAPER_PRED = [0, 0, 1, 1, 1, 1, 1, 0]


def _noisy_binary_fold(n_seizure: int, n_background: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
  """(N,) labels, seizure windows first, and (N, 2) probabilities of a detector that errs on ~20 % of each class."""
  rng = np.random.default_rng(seed)
  y = np.r_[np.ones(n_seizure, int), np.zeros(n_background, int)]
  p_seizure = np.clip(0.3 * y + 0.35 + 0.3 * rng.standard_normal(y.size), 0.0, 1.0)
  return y, np.stack([1 - p_seizure, p_seizure], axis=1)


def test_paper_binary_matches_hand_counts():
  r = paper_report(PAPER_Y, _probs_predicting(PAPER_PRED, 2), ["bckg", "seiz"])
  assert (r["protocol"], r["n_windows"], r["n_per_class"], r["positive_class"]) == ("balanced 1:1", 8, [4, 4], "seiz")
  assert (r["precision"], r["recall"], r["specificity"]) == pytest.approx((3 / 5, 3 / 4, 2 / 4))
  assert r["f1"] == pytest.approx(2 / 3)  # 2 * (3/5) * (3/4) / (3/5 + 3/4)
  assert r["accuracy"] == pytest.approx(5 / 8) and r["auc"] == pytest.approx(5 / 8)
  assert r["auc_micro"] is None and r["note"] is None


def test_paper_binary_background_index_picks_the_positive_class():
  r = paper_report(1 - PAPER_Y, _probs_predicting(PAPER_PRED, 2)[:, ::-1], ["seiz", "bckg"], background=1)
  assert r["positive_class"] == "seiz" and r["n_per_class"] == [4, 4]
  assert (r["precision"], r["recall"], r["specificity"]) == pytest.approx((3 / 5, 3 / 4, 2 / 4))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_paper_binary_identities_hold_on_the_balanced_draw(seed):
  y, probs = _noisy_binary_fold(50, 2000, seed)
  r = paper_report(y, probs, ["bckg", "seiz"], seed=seed)
  assert r["n_per_class"] == [50, 50] and r["n_windows"] == 100
  assert 0.5 < r["specificity"] < 1 and 0.5 < r["recall"] < 1  # the detector errs on both classes
  balanced = (r["recall"] + r["specificity"]) / 2
  assert r["accuracy"] == pytest.approx(balanced, abs=1e-12)
  assert r["auc"] == pytest.approx(balanced, abs=1e-12)
  assert r["precision"] == pytest.approx(r["recall"] / (r["recall"] + 1 - r["specificity"]), abs=1e-12)
  assert r["f1"] == pytest.approx(2 * r["precision"] * r["recall"] / (r["precision"] + r["recall"]), abs=1e-12)
  # The whole 1:40 fold gives the same detector a far lower seizure precision.
  assert classification_report(y, probs, ["bckg", "seiz"])["per_class"][1]["precision"] < r["precision"] / 2


def test_balanced_draw_is_seeded_and_keeps_every_seizure_window():
  y, _ = _noisy_binary_fold(30, 300)
  rows = balanced_draw(y, 1, 0, seed=0)
  assert rows.size == 60 and np.all(np.diff(rows) > 0)  # sorted, no repeats
  assert set(np.flatnonzero(y == 1)) <= set(rows) and np.sum(y[rows] == 0) == 30
  np.testing.assert_array_equal(balanced_draw(y, 1, 0, seed=0), rows)
  assert not np.array_equal(balanced_draw(y, 1, 0, seed=1), rows)
  probs = _noisy_binary_fold(30, 300)[1]
  assert paper_report(y, probs, ["bckg", "seiz"], seed=3) == paper_report(y, probs, ["bckg", "seiz"], seed=3)


def test_balanced_draw_keeps_the_smaller_class_when_background_is_scarcer():
  y, probs = _noisy_binary_fold(25, 10)
  rows = balanced_draw(y, 1, 0, seed=0)
  assert set(np.flatnonzero(y == 0)) <= set(rows) and np.sum(y[rows] == 1) == 10
  assert paper_report(y, probs, ["bckg", "seiz"])["n_per_class"] == [10, 10]


@pytest.mark.parametrize("label, absent", [(0, "seiz"), (1, "bckg")])
def test_paper_binary_without_one_class_is_none_with_a_note(label, absent):
  y = np.full(4, label)
  r = paper_report(y, _probs_predicting([0, 1, 0, 1], 2), ["bckg", "seiz"])
  assert [r[k] for k in ("accuracy", "precision", "recall", "specificity", "f1", "auc")] == [None] * 6
  assert r["n_windows"] == 0 and f"no {absent!r} windows" in r["note"]
  assert json.loads(json.dumps(r)) == r


def test_paper_multiclass_definitions_against_sklearn():
  y, y_pred = np.array(MULTI_Y), np.array(MULTI_PRED)
  r = paper_report(y, _probs_predicting(MULTI_PRED, 3), ["a", "b", "c"], seed=5)
  assert (r["protocol"], r["n_windows"], r["n_per_class"], r["seed"]) == ("whole fold", 15, [6, 6, 3], None)
  precision, recall = [5 / 7, 3 / 5, 2 / 3], [5 / 6, 3 / 6, 2 / 3]
  f1 = [2 * p * q / (p + q) for p, q in zip(precision, recall)]
  specificity = [7 / 9, 7 / 9, 11 / 12]
  support = [6, 6, 3]
  assert r["accuracy"] == pytest.approx(10 / 15)
  assert r["precision"] == pytest.approx(np.dot(support, precision) / 15)
  assert r["f1"] == pytest.approx(np.dot(support, f1) / 15)
  assert r["recall"] == pytest.approx(np.mean(recall))
  assert r["specificity"] == pytest.approx(np.mean(specificity))
  onehot_true, onehot_pred = label_binarize(y, classes=[0, 1, 2]), label_binarize(y_pred, classes=[0, 1, 2])
  assert r["auc"] == pytest.approx(roc_auc_score(onehot_true, onehot_pred, average="macro"), abs=1e-12)
  assert r["auc"] == pytest.approx(np.mean([(q + s) / 2 for q, s in zip(recall, specificity)]), abs=1e-12)
  assert r["auc_micro"] == pytest.approx(roc_auc_score(onehot_true, onehot_pred, average="micro"), abs=1e-12)
  assert r["auc_micro"] == pytest.approx((10 / 15 + 1 - (5 / 15) / 2) / 2, abs=1e-12)
  assert json.loads(json.dumps(r)) == r


def test_paper_report_bad_inputs_raise_naming_the_field():
  probs = _probs_predicting(PAPER_PRED, 2)
  with pytest.raises(DataError, match="probs: rows must sum to 1"):
    paper_report(PAPER_Y, probs * 2, ["bckg", "seiz"])
  with pytest.raises(DataError, match="y_true: class indices"):
    paper_report(PAPER_Y + 1, probs, ["bckg", "seiz"])
  for seed in (-1, 1.5, True):
    with pytest.raises(ConfigError, match="seed: expected a non-negative int"):
      paper_report(PAPER_Y, probs, ["bckg", "seiz"], seed=seed)


def test_paper_line_prints_percent_and_dashes_for_missing_metrics():
  r = paper_report(PAPER_Y, _probs_predicting(PAPER_PRED, 2), ["bckg", "seiz"])
  line = paper_line("ours (paper protocol)", r)
  assert line.startswith("ours (paper protocol)")
  assert "Acc  62.50" in line and "Pre  60.00" in line and "Spe  50.00" in line and line.endswith("AUC 0.6250")
  assert "Spe      -" in paper_line("paper (reported)", {"accuracy": 0.979, "auc": None})
