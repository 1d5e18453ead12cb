"""Window-level classification metrics as reported in the paper (Tables I-V).

`classification_report` turns labels and class probabilities into one
JSON-serialisable dict; `format_report` prints it as a fixed-width table.

Conventions (scikit-learn does the counting):
* The predicted class is `argmax(probs)` (ties go to the lower class index).
* Precision of a class that is never predicted, recall of a class absent from
  `y_true`, and their F1 are 0 (`zero_division=0`), never NaN.
* Macro/weighted precision, recall, F1 and macro specificity average over the
  classes that occur in `y_true` or in the predictions (scikit-learn's own
  default), so a test fold that lacks a rare class is not scored on it. The
  per-class rows always list every class.
* Specificity of class k is one-vs-rest TN / (TN + FP). Binary reports give the
  specificity of the positive (non-background) class, as in the paper's
  binary rows; multi-class reports give the macro mean over classes.
* AUC is one-vs-rest ROC AUC on the probabilities. Binary: AUC of the positive
  class. Multi-class: `auc` is the macro mean of the per-class AUCs and
  `auc_micro` pools every (sample, class) pair. An AUC that is undefined
  (a class absent from `y_true`) is `None` and `auc_note` says why.

`paper_report` scores the same predictions under the paper's own test protocol,
inferred from its tables (every binary row of Tables I/II has
Acc = AUC = (Rec + Spe) / 2 and Pre = Rec / (Rec + 1 - Spe), so its test folds
were balanced 1:1; Table V's AUCs are those of hard predictions). It is
reported beside `classification_report`, never instead of it: on a real,
imbalanced fold the paper's numbers overstate precision and F1 by far.
Callers store it as `report["paper"] = paper_report(...)`, so that
`classification_report` stays a pure, seedless function of the whole fold.
`paper_line` prints either protocol's headline metrics, or the paper's own
rows (`jclip_eeg.paper_results`), as one fixed-width line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (accuracy_score, confusion_matrix, multilabel_confusion_matrix,
                             precision_recall_fscore_support, roc_auc_score)
from sklearn.preprocessing import label_binarize

from jclip_eeg.errors import ConfigError, DataError

# Row sums of softmax outputs computed in float32 stay well inside this.
PROB_SUM_ATOL = 1e-3


def _check_inputs(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str], background: int) -> None:
  if y_true.ndim != 1:
    raise DataError(f"y_true: expected shape (N,), got {y_true.shape}")
  if y_true.size == 0:
    raise DataError("y_true: no samples (N=0); metrics need at least one window")
  if not np.issubdtype(y_true.dtype, np.integer):
    raise DataError(f"y_true: expected integer class indices, got dtype {y_true.dtype}")
  n_classes = len(class_names)
  if n_classes < 2:
    raise DataError(f"class_names: expected at least 2 classes, got {list(class_names)}")
  if probs.shape != (y_true.size, n_classes):
    raise DataError(f"probs: expected shape (N, C) = ({y_true.size}, {n_classes}), got {probs.shape}")
  if y_true.min() < 0 or y_true.max() >= n_classes:
    raise DataError(f"y_true: class indices must lie in [0, {n_classes}), got {y_true.min()}..{y_true.max()}")
  if not 0 <= background < n_classes:
    raise DataError(f"background: expected a class index in [0, {n_classes}), got {background}")
  if not np.all(np.isfinite(probs)) or probs.min() < 0:
    raise DataError("probs: expected finite non-negative probabilities (apply softmax to logits first)")
  sums = probs.sum(axis=1)
  bad = np.flatnonzero(np.abs(sums - 1.0) > PROB_SUM_ATOL)
  if bad.size:
    raise DataError(f"probs: rows must sum to 1 (+-{PROB_SUM_ATOL}); row {bad[0]} sums to {sums[bad[0]]:.6f} "
                    f"({bad.size} bad rows; apply softmax to logits first)")


def _specificity(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
  """(C,) one-vs-rest TN / (TN + FP); 0 where a class has no negatives."""
  mcm = multilabel_confusion_matrix(y_true, y_pred, labels=np.arange(n_classes))
  tn, fp = mcm[:, 0, 0], mcm[:, 0, 1]
  return np.divide(tn, tn + fp, out=np.zeros(n_classes), where=(tn + fp) > 0)


def _per_class_auc(y_true: np.ndarray, probs: np.ndarray) -> list[float | None]:
  """(C,) one-vs-rest ROC AUC of each class; None where y_true lacks the class or its complement."""
  aucs: list[float | None] = []
  for k in range(probs.shape[1]):
    is_k = y_true == k
    aucs.append(float(roc_auc_score(is_k, probs[:, k])) if 0 < is_k.sum() < is_k.size else None)
  return aucs


def _auc_note(y_true: np.ndarray, class_names: Sequence[str]) -> str | None:
  """Why some AUC is undefined, or None when every class occurs in y_true."""
  present = np.unique(y_true)
  if present.size == 1:
    return f"AUC undefined: y_true holds only class {class_names[present[0]]!r}"
  absent = [name for k, name in enumerate(class_names) if k not in present]
  return f"AUC macro undefined: classes absent from y_true: {absent}" if absent else None


def _auc_summary(y_true: np.ndarray, probs: np.ndarray, class_auc: list[float | None],
                 positive: int | None) -> dict[str, float | None]:
  """Headline `auc` (binary: positive class; multi-class: macro) and `auc_micro` (multi-class only)."""
  if positive is not None:
    return {"auc": class_auc[positive], "auc_micro": None}
  onehot = label_binarize(y_true, classes=np.arange(probs.shape[1]))
  return {
      "auc": None if None in class_auc else float(np.mean(class_auc)),
      # The pooled one-vs-rest problem always has both outcomes (C >= 2), so micro is always defined.
      "auc_micro": float(roc_auc_score(onehot, probs, average="micro")),
  }


def classification_report(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str], *,
                          background: int = 0) -> dict[str, Any]:
  """Window-level metrics of the paper's Tables I-V (conventions in the module docstring).

  Args:
    y_true: (N,) int true class index of each window.
    probs: (N, C) float class probabilities (rows sum to 1, e.g. a softmax).
    class_names: C class names, in index order.
    background: index of the non-seizure class; in a binary report the other
      class is the positive one (its specificity and AUC are reported).
  Returns:
    JSON-serialisable dict: `n_samples`, `class_names`, `positive_class` (name,
    binary only, else None), `accuracy`, `precision_macro`,
    `precision_weighted`, `recall_macro`, `recall_weighted`, `f1_macro`,
    `f1_weighted`, `specificity`, `auc`, `auc_micro`, `auc_note`,
    `confusion_matrix` (C x C list, rows = true, columns = predicted) and
    `per_class` (C dicts: name, precision, recall, specificity, f1, auc,
    support). Rates are fractions in [0, 1].
  Raises:
    DataError (a ValueError) naming the field when the inputs are malformed or empty.
  """
  y_true, probs = np.asarray(y_true), np.asarray(probs, dtype=np.float64)
  _check_inputs(y_true, probs, class_names, background)
  n_classes = len(class_names)
  y_pred = probs.argmax(axis=1)
  labels = np.arange(n_classes)
  seen = np.union1d(y_true, y_pred)
  positive = 1 - background if n_classes == 2 else None

  precision, recall, f1, support = precision_recall_fscore_support(
      y_true, y_pred, labels=labels, average=None, zero_division=0)
  specificity = _specificity(y_true, y_pred, n_classes)
  class_auc = _per_class_auc(y_true, probs)
  report: dict[str, Any] = {
      "n_samples": int(y_true.size),
      "class_names": [str(name) for name in class_names],
      "positive_class": None if positive is None else class_names[positive],
      "accuracy": float(accuracy_score(y_true, y_pred)),
  }
  for average in ("macro", "weighted"):
    p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=seen, average=average, zero_division=0)
    report |= {f"precision_{average}": float(p), f"recall_{average}": float(r), f"f1_{average}": float(f)}
  report["specificity"] = float(specificity[positive] if positive is not None else specificity[seen].mean())
  report |= _auc_summary(y_true, probs, class_auc, positive)
  report["auc_note"] = _auc_note(y_true, class_names)
  report["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
  report["per_class"] = [
      {"name": str(name), "precision": float(precision[k]), "recall": float(recall[k]),
       "specificity": float(specificity[k]), "f1": float(f1[k]), "auc": class_auc[k], "support": int(support[k])}
      for k, name in enumerate(class_names)
  ]
  return report


# The headline metrics of the paper's protocol, in the paper's column order.
PAPER_METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "auc")


def balanced_draw(y_true: np.ndarray, positive: int, background: int, seed: int) -> np.ndarray:
  """(2m,) sorted row indices of a 1:1 draw of the `positive` and `background` windows of `y_true`.

  m = min(#positive, #background): the smaller class is kept whole (in EEG
  almost always the seizure class, so every seizure window is scored) and m
  windows of the larger are drawn without replacement by
  `np.random.default_rng(seed)`. Rows of other classes never occur. m = 0
  (a class absent) gives an empty array.
  """
  rows = [np.flatnonzero(y_true == k) for k in (positive, background)]
  m = min(r.size for r in rows)
  rng = np.random.default_rng(seed)
  return np.sort(np.concatenate([r if r.size == m else rng.choice(r, size=m, replace=False) for r in rows]))


def _binary_paper(y_true: np.ndarray, y_pred: np.ndarray, positive: int) -> dict[str, float]:
  """Seizure-class precision/recall/F1/specificity, accuracy and hard-label AUC of one (balanced) draw."""
  (precision,), (recall,), (f1,), _ = precision_recall_fscore_support(
      y_true, y_pred, labels=[positive], average=None, zero_division=0)
  return {
      "accuracy": float(accuracy_score(y_true, y_pred)),
      "precision": float(precision), "recall": float(recall),
      "specificity": float(_specificity(y_true, y_pred, 2)[positive]), "f1": float(f1),
      "auc": float(roc_auc_score(y_true == positive, y_pred == positive)),
      "auc_micro": None,
  }


def _multiclass_paper(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
  """Weighted precision/F1, macro recall/specificity, hard-label macro and micro AUC of the whole fold."""
  seen = np.union1d(y_true, y_pred)
  precision, _, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=seen, average="weighted",
                                                        zero_division=0)
  _, recall, _, _ = precision_recall_fscore_support(y_true, y_pred, labels=seen, average="macro",
                                                    zero_division=0)
  specificity = float(_specificity(y_true, y_pred, n_classes)[seen].mean())
  classes = np.arange(n_classes)
  return {
      "accuracy": float(accuracy_score(y_true, y_pred)),
      "precision": float(precision), "recall": float(recall), "specificity": specificity, "f1": float(f1),
      # Mean over classes of the one-point ROC AUC (recall_c + specificity_c) / 2.
      "auc": (float(recall) + specificity) / 2,
      "auc_micro": float(roc_auc_score(label_binarize(y_true, classes=classes),
                                       label_binarize(y_pred, classes=classes), average="micro")),
  }


def paper_report(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str], *,
                 background: int = 0, seed: int = 0) -> dict[str, Any]:
  """The paper's test protocol (Tables I, II, V) on the predictions `classification_report` scores.

  Binary tasks (protocol "balanced 1:1"): the windows of `balanced_draw`
  (every seizure window and an equal seeded draw of background windows; if
  background is the smaller class, all of it and a draw of seizure windows).
  `precision`, `recall`, `f1` and `specificity` are the seizure class's;
  `auc` is the ROC AUC of the hard predictions argmax(probs), which is the
  balanced accuracy (recall + specificity) / 2 and, on the 1:1 draw, equals
  `accuracy`. A fold lacking either class cannot be balanced: its metrics are
  None and `note` says why.

  Multi-class tasks (protocol "whole fold"): every window; `precision` and
  `f1` are means over classes weighted by their support, `recall` and
  `specificity` macro means, `auc` the macro one-vs-rest ROC AUC of the
  one-hot predictions = mean over classes of (recall_c + specificity_c) / 2
  = (recall + specificity) / 2, and `auc_micro` the micro (pooled) one of
  the same, (accuracy + 1 - (1 - accuracy) / (C - 1)) / 2. Averages run over
  the classes in y_true or in the predictions, as in `classification_report`
  (a class predicted but absent from y_true has recall 0).

  Args:
    y_true: (N,) int true class index of each window.
    probs: (N, C) float class probabilities (rows sum to 1).
    class_names: C class names, in index order.
    background: index of the non-seizure class.
    seed: seed of the binary draw (unused for multi-class tasks).
  Returns:
    JSON-serialisable dict: the PAPER_METRICS `accuracy`, `precision`,
    `recall`, `specificity`, `f1`, `auc` (fractions in [0, 1], or None), and
    `auc_micro` (multi-class, else None), `n_windows` (windows scored),
    `n_per_class` (C window counts of the scored set), `protocol`, `seed`
    (None for multi-class), `positive_class` (name, binary only) and `note`
    (None unless the metrics are undefined).
  Raises:
    DataError naming the field when the inputs are malformed; ConfigError
    when `seed` is not a non-negative int.
  """
  y_true, probs = np.asarray(y_true), np.asarray(probs, dtype=np.float64)
  _check_inputs(y_true, probs, class_names, background)
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
    raise ConfigError(f"seed: expected a non-negative int, got {seed!r}")
  n_classes = len(class_names)
  y_pred = probs.argmax(axis=1)
  if n_classes > 2:
    return {**_multiclass_paper(y_true, y_pred, n_classes), "n_windows": int(y_true.size),
            "n_per_class": np.bincount(y_true, minlength=n_classes).tolist(), "protocol": "whole fold",
            "seed": None, "positive_class": None, "note": None}
  positive = 1 - background
  rows = balanced_draw(y_true, positive, background, int(seed))
  report: dict[str, Any] = {
      "n_windows": int(rows.size), "n_per_class": np.bincount(y_true[rows], minlength=2).tolist(),
      "protocol": "balanced 1:1", "seed": int(seed), "positive_class": str(class_names[positive]),
  }
  if rows.size == 0:
    absent = class_names[positive] if np.any(y_true == background) else class_names[background]
    return {**dict.fromkeys(PAPER_METRICS), "auc_micro": None, **report,
            "note": f"paper protocol undefined: no {absent!r} windows in y_true to balance against"}
  return {**_binary_paper(y_true[rows], y_pred[rows], positive), **report, "note": None}


def _pct(value: float | None) -> str:
  return "-" if value is None else f"{100 * value:.2f}"


def _auc(value: float | None) -> str:
  return "-" if value is None else f"{value:.4f}"


def _metrics_table(report: dict[str, Any]) -> list[str]:
  """Per-class rows then macro and weighted rows: Pre/Rec/Spec/F1 in %, AUC, support."""
  names = [row["name"] for row in report["per_class"]]
  width = max(len(name) for name in names + ["weighted avg"])
  header = f"{'class':<{width}}  {'Pre(%)':>7} {'Rec(%)':>7} {'Spe(%)':>7} {'F1(%)':>7} {'AUC':>7} {'support':>8}"
  lines = [header, "-" * len(header)]

  def row(label: str, pre: float, rec: float, spe: float | None, f1: float, auc: float | None,
          support: int) -> str:
    return (f"{label:<{width}}  {_pct(pre):>7} {_pct(rec):>7} {_pct(spe):>7} {_pct(f1):>7} "
            f"{_auc(auc):>7} {support:>8}")

  for r in report["per_class"]:
    lines.append(row(r["name"], r["precision"], r["recall"], r["specificity"], r["f1"], r["auc"], r["support"]))
  lines.append("-" * len(header))
  binary = report["positive_class"] is not None
  lines.append(row("macro avg", report["precision_macro"], report["recall_macro"],
                   None if binary else report["specificity"], report["f1_macro"],
                   None if binary else report["auc"], report["n_samples"]))
  lines.append(row("weighted avg", report["precision_weighted"], report["recall_weighted"], None,
                   report["f1_weighted"], None, report["n_samples"]))
  return lines


def _confusion_table(report: dict[str, Any]) -> list[str]:
  """Rows = true class `[k] name`, columns = predicted class index `[k]`."""
  corner = "true \\ predicted"
  row_labels = [f"[{k}] {name}" for k, name in enumerate(report["class_names"])]
  col_labels = [f"[{k}]" for k in range(len(row_labels))]
  matrix = report["confusion_matrix"]
  label_width = max(len(label) for label in row_labels + [corner])
  cell = max(len(str(v)) for v in [*col_labels, *np.ravel(matrix)])
  lines = [f"{corner:<{label_width}}  " + " ".join(f"{c:>{cell}}" for c in col_labels)]
  for label, counts in zip(row_labels, matrix):
    lines.append(f"{label:<{label_width}}  " + " ".join(f"{v:>{cell}}" for v in counts))
  return lines


def format_report(report: dict[str, Any], title: str) -> str:
  """Fixed-width text of a `classification_report` dict, laid out like the paper's Tables III/IV."""
  if report["positive_class"] is not None:
    summary = (f"positive class {report['positive_class']!r}: specificity {_pct(report['specificity'])}%  "
               f"AUC {_auc(report['auc'])}")
  else:
    summary = (f"macro specificity {_pct(report['specificity'])}%  AUC macro {_auc(report['auc'])}  "
               f"AUC micro {_auc(report['auc_micro'])}")
  lines = [title, "=" * len(title),
           f"N = {report['n_samples']}  accuracy {_pct(report['accuracy'])}%  {summary}"]
  if report["auc_note"]:
    lines.append(report["auc_note"])
  lines += ["", *_metrics_table(report), "", "confusion matrix", *_confusion_table(report)]
  if "paper" in report:
    paper = report["paper"]
    lines += ["", f"the paper's protocol ({paper['protocol']}, {paper['n_windows']} windows; its AUC is from "
                  "hard labels):", paper_line("paper protocol", paper)]
  return "\n".join(lines)


def evaluation_report(y_true: np.ndarray, probs: np.ndarray, class_names: Sequence[str], *, seed: int = 0
                ) -> dict[str, Any]:
  """Both test protocols of the same predictions: `classification_report` (the honest whole fold, the
  headline) with the paper's protocol under `paper` (`paper_report`, its 1:1 draw seeded by `seed`)."""
  return classification_report(y_true, probs, class_names) | {
      "paper": paper_report(y_true, probs, class_names, seed=seed)}


def paper_line(label: str, metrics: Mapping[str, float | None]) -> str:
  """`label`, then PAPER_METRICS as Acc/Pre/Rec/Spe/F1 in % and AUC; "-" where `metrics` lacks a value.

  Takes a `paper_report` dict or a row of `jclip_eeg.paper_results.reported`.
  """
  cells = [f"{column} {_pct(metrics.get(key)):>6}" for column, key in
           zip(("Acc", "Pre", "Rec", "Spe", "F1"), PAPER_METRICS)]
  return f"{label:<24} " + "  ".join(cells) + f"  AUC {_auc(metrics.get('auc')):>6}"
