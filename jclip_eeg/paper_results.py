"""The paper's published results (Wang et al., IEEE JBHI 2025, Tables I-V) as data, in fractions.

  reported("II", "chbmit", "base_lp")        # {'accuracy': 0.979, 'precision': 0.9813, ...}
  source("II", "chbmit", "base_lp")          # "Table II, row 'Basemodel with learnable prompt ...'"
  print(format_reported("II", "chbmit", "base_lp"))  # paper (reported)  Acc  97.90  Pre  98.13 ...

Keys: `table` is "I" ... "V"; `dataset` is the project's name ("chbmit",
"tusz", "aubmc", "neonatal" = the paper's "Zenodo"); `row` is
* Table I: "teacher", "student" (rows "DistilCLIP-EEG Teacher/Student (Ours)");
  accuracy, precision, recall, f1.
* Table II (ablations of the teacher): the keys of
  `jclip_eeg.experiments.ablations.ABLATIONS` ("eeg_lp", "text_wp", "text_lp",
  "text_hp", "base_wp", "base_lp"); accuracy, precision, recall, specificity, f1.
* Tables III (tusz) and IV (aubmc): "teacher", "student" (row "Overall") and
  "teacher/<class>", "student/<class>" with the project's class names; the
  same five metrics. Each cell prints "teacher/student".
* Table V: "teacher", "student": `auc` (binary: "AUC"; multi-class: "AUC of
  macro") and, multi-class only, `auc_micro` ("AUC of micro"); per class
  (multi-class only) "teacher/<class>", "student/<class>": `auc`.
Metric names are those of `jclip_eeg.metrics.paper_report`.

What the numbers are (checked in tests/eval/test_paper_results.py to the
rounding of the printed digits): every binary row (CHB-MIT, Zenodo) has
Acc = (Rec + Spe) / 2 and Pre = Rec / (Rec + 1 - Spe), the seizure class
scored on a 1:1 balanced test set, and its Table V "AUC" equals Acc, the AUC
of hard predictions. In Tables III/IV the overall Rec and Spe are macro means
of the class rows, Pre and F1 support-weighted means, and Table V's per-class,
macro and micro AUCs are those of one-hot predictions: (Rec_c + Spe_c) / 2,
(Rec + Spe) / 2 and (Acc + 1 - (1 - Acc) / (C - 1)) / 2.

Transcription notes (from reference/distilclip-eeg-paper.md, a text rendering
of the PDF):
* Table II, CHB-MIT, Text-LP: Pre 96.95 is 0.01 below Rec / (Rec + 1 - Spe)
  = 96.96 from its own Rec 97.08 and Spe 96.96, beyond rounding; the only
  binary cell that misses (a typo in the paper, or a value from another run).
* CHB-MIT teacher F1: 97.89 in Table I, 97.90 in Table II's Base-LP row
  (otherwise the same numbers); 2 Pre Rec / (Pre + Rec) = 97.894.
* Tables III/IV: the per-class "Acc" column repeats "Recall" exactly.
* Table V: the rendering shifts the dataset labels one row: "AUBMC" sits on
  the TNSZ row, which belongs to TUSZ (8 classes; its value is TNSZ's
  (Rec + Spe) / 2 from Table III). The macro and micro cells are split over
  two lines ("0.9797 /" then "0.9772"): teacher / student.
* Table I's rows of other methods are not transcribed: they are quoted from
  other papers, under their own protocols.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from jclip_eeg.errors import ConfigError
from jclip_eeg.metrics import paper_line

TABLES = ("I", "II", "III", "IV", "V")
TITLES = {"chbmit": "CHB-MIT", "tusz": "TUSZ", "aubmc": "AUBMC", "neonatal": "Zenodo"}
MODELS = ("teacher", "student")
_FIVE = ("accuracy", "precision", "recall", "specificity", "f1")

# Table I, rows "DistilCLIP-EEG Teacher (Ours)" and "... Student (Ours)": Acc Pre Rec F1 (%).
_TABLE_I = {
    "tusz": ("97.75 97.82 96.26 97.77", "97.12 97.21 95.86 97.14"),
    "aubmc": ("97.77 97.95 96.27 97.82", "97.38 97.64 95.77 97.46"),
    "chbmit": ("97.90 98.13 97.66 97.89", "97.13 97.90 96.32 97.10"),
    "neonatal": ("94.61 95.78 93.33 94.54", "94.10 95.00 93.10 94.04"),
}

# Table II, one row per ablation as printed: TUSZ, AUBMC, CHB-MIT, Zenodo x Acc Pre Rec Spe F1 (%).
_TABLE_II_DATASETS = ("tusz", "aubmc", "chbmit", "neonatal")
_TABLE_II = {
    "eeg_lp": ("EEG encoder with learnable prompt (EEG-LP)",
               "97.37 97.42 96.25 99.62 97.38  97.05 97.37 94.04 98.98 97.16  "
               "97.10 97.11 97.09 97.11 97.10  94.08 95.22 92.81 95.34 94.00"),
    "text_wp": ("Only Text encoder without prompt (Text-WP)",
                "97.09 97.14 95.76 99.58 97.11  96.92 97.27 93.44 98.95 97.05  "
                "97.07 97.08 97.06 97.08 97.07  93.96 95.01 92.80 95.12 93.89"),
    "text_lp": ("Text encoder with learnable prompt (Text-LP)",
                "96.94 96.99 95.62 99.55 96.96  96.79 97.21 94.09 98.91 96.93  "
                "97.02 96.95 97.08 96.96 97.02  93.82 94.91 92.60 95.03 93.74"),
    "text_hp": ("Text encoder with handcrafted prompt (Text-HP)",
                "96.86 96.91 95.64 99.54 96.88  96.66 97.11 93.52 98.86 96.82  "
                "96.90 96.79 97.02 96.78 96.91  93.73 94.83 92.51 94.96 93.65"),
    "base_wp": ("Basemodel without prompt (Base-WP)",
                "96.76 96.82 95.64 99.53 96.78  96.53 97.00 92.89 98.82 96.70  "
                "96.84 96.66 97.04 96.64 96.85  93.61 94.55 92.55 94.66 93.54"),
    "base_lp": ("Basemodel with learnable prompt (Base-LP)",
                "97.75 97.82 96.26 99.68 97.77  97.77 97.95 96.27 99.23 97.82  "
                "97.90 98.13 97.66 98.14 97.90  94.61 95.78 93.33 95.89 94.54"),
}

# Tables III (TUSZ) and IV (AUBMC): class -> (paper's label, Acc Pre Recall Spec F1 (%) as teacher/student).
_TABLE_III = {
    "absz": ("ABSZ", "85.17/85.17 75.11/75.11 85.17/85.17 99.58/99.58 79.82/79.82"),
    "bckg": ("BCKG", "97.70/97.70 99.25/99.25 97.70/97.70 99.80/99.80 98.47/98.47"),
    "cpsz": ("CPSZ", "97.82/97.34 98.15/98.15 97.82/97.34 99.69/99.69 97.99/97.74"),
    "fnsz": ("FNSZ", "97.10/94.43 99.28/98.92 97.10/94.43 99.81/99.72 98.18/96.62"),
    "gnsz": ("GNSZ", "99.27/99.27 98.25/95.72 99.27/99.27 99.53/98.82 98.76/97.46"),
    "spsz": ("SPSZ", "97.50/97.50 95.59/95.59 97.50/97.50 99.66/99.66 96.53/96.53"),
    "tcsz": ("TCSZ", "98.14/98.14 96.61/96.61 98.14/98.14 99.63/99.63 97.37/97.37"),
    "tnsz": ("TNSZ", "97.39/97.39 94.28/94.28 97.39/97.39 99.75/99.75 95.81/95.81"),
    "overall": ("Overall", "97.75/97.12 97.82/97.21 96.26/95.86 99.68/99.58 97.77/97.14"),
}
_TABLE_IV = {
    "normal": ("Normal", "97.33/97.33 99.48/99.14 97.33/97.33 99.49/99.15 98.39/98.23"),
    "complex_partial": ("Complex Partial Seizures",
                        "98.95/98.29 97.91/97.83 98.95/98.29 98.65/98.61 98.43/98.06"),
    "electrographic": ("Electrographic Seizures",
                       "96.00/94.67 94.61/94.29 96.00/94.67 99.42/99.39 95.30/94.48"),
    "video_only": ("Video-detected Seizures with no visual change over EEG",
                   "92.79/92.79 67.76/62.42 92.79/92.79 99.36/99.19 78.33/74.64"),
    "overall": ("Overall", "97.77/97.38 97.95/97.64 96.27/95.77 99.23/99.09 97.82/97.46"),
}

# Table V (already fractions), teacher/student: per-class "AUC" and the dataset's summary cells.
_TABLE_V_CLASSES = {
    "tusz": {"absz": "0.9237/0.9237", "bckg": "0.9875/0.9875", "cpsz": "0.9875/0.9851",
             "fnsz": "0.9846/0.9708", "gnsz": "0.9940/0.9904", "spsz": "0.9858/0.9858",
             "tcsz": "0.9888/0.9888", "tnsz": "0.9857/0.9857"},
    "aubmc": {"normal": "0.9841/0.9824", "complex_partial": "0.9880/0.9845",
              "electrographic": "0.9771/0.9703", "video_only": "0.9608/0.9599"},
}
_TABLE_V = {
    "tusz": {"auc": "0.9797/0.9772", "auc_micro": "0.9872/0.9836"},
    "aubmc": {"auc": "0.9775/0.9743", "auc_micro": "0.9851/0.9825"},
    "chbmit": {"auc": "0.9790/0.9713"},
    "neonatal": {"auc": "0.9461/0.9410"},
}


@dataclasses.dataclass(frozen=True)
class Reported:
  """One published row: `source` (table, row and columns as printed) and `metrics` (name -> fraction)."""
  source: str
  metrics: Mapping[str, float]


def _percent(names: tuple[str, ...], cells: list[str]) -> dict[str, float]:
  """Printed percentages -> {name: fraction}."""
  return {name: round(float(cell) / 100, 6) for name, cell in zip(names, cells, strict=True)}


def _split(cells: str) -> tuple[list[str], list[str]]:
  """"t1/s1 t2/s2 ..." -> (teacher cells, student cells)."""
  teacher, student = zip(*(cell.split("/") for cell in cells.split()))
  return list(teacher), list(student)


def _build() -> dict[tuple[str, str, str], Reported]:
  """Every published row, keyed (table, dataset, row)."""
  out: dict[tuple[str, str, str], Reported] = {}
  for dataset, rows in _TABLE_I.items():
    for model, cells in zip(MODELS, rows):
      out["I", dataset, model] = Reported(
          f"Table I, row 'DistilCLIP-EEG {model.title()} (Ours)', {TITLES[dataset]} columns",
          _percent(("accuracy", "precision", "recall", "f1"), cells.split()))
  for name, (label, cells) in _TABLE_II.items():
    values = cells.split()
    for i, dataset in enumerate(_TABLE_II_DATASETS):
      out["II", dataset, name] = Reported(f"Table II, row '{label}', {TITLES[dataset]} columns",
                                          _percent(_FIVE, values[5 * i:5 * i + 5]))
  for table, dataset, rows in (("III", "tusz", _TABLE_III), ("IV", "aubmc", _TABLE_IV)):
    for cls, (label, cells) in rows.items():
      for model, values in zip(MODELS, _split(cells)):
        row = model if cls == "overall" else f"{model}/{cls}"
        out[table, dataset, row] = Reported(f"Table {table}, row '{label}', {model} (cells: teacher/student)",
                                            _percent(_FIVE, values))
  for dataset, cells in _TABLE_V.items():
    columns = {"auc": "AUC of macro", "auc_micro": "AUC of micro"} if dataset in _TABLE_V_CLASSES else {"auc": "AUC"}
    for i, model in enumerate(MODELS):
      out["V", dataset, model] = Reported(
          f"Table V, {TITLES[dataset]}, columns {list(columns.values())}, {model} (cells: teacher/student)",
          {name: float(cells[name].split("/")[i]) for name in columns})
  for dataset, classes in _TABLE_V_CLASSES.items():
    labels = {"tusz": _TABLE_III, "aubmc": _TABLE_IV}[dataset]
    for cls, cells in classes.items():
      for i, model in enumerate(MODELS):
        out["V", dataset, f"{model}/{cls}"] = Reported(
            f"Table V, {TITLES[dataset]}, class '{labels[cls][0]}', column 'AUC', {model} (cells: teacher/student)",
            {"auc": float(cells.split("/")[i])})
  return out


REPORTED = _build()


def rows(table: str, dataset: str) -> list[str]:
  """The row keys of `dataset` in `table` (empty when the table does not cover it)."""
  return [row for (t, d, row) in REPORTED if (t, d) == (table, dataset)]


def _entry(table: str, dataset: str, row: str) -> Reported:
  if table not in TABLES:
    raise ConfigError(f"table: {table!r}; expected one of {list(TABLES)}")
  if dataset not in TITLES:
    raise ConfigError(f"dataset: {dataset!r}; expected one of {list(TITLES)}")
  if (table, dataset, row) not in REPORTED:
    raise ConfigError(f"row: {row!r} is not in Table {table} for {dataset!r}; expected one of "
                      f"{rows(table, dataset)}")
  return REPORTED[table, dataset, row]


def reported(table: str, dataset: str, row: str) -> dict[str, float]:
  """The published metrics of one row (name -> fraction in [0, 1]); keys as in the module docstring.

  Raises:
    ConfigError naming `table`, `dataset` or `row` when the paper has no such row.
  """
  return dict(_entry(table, dataset, row).metrics)


def source(table: str, dataset: str, row: str) -> str:
  """Where the row is printed: table, row label and columns."""
  return _entry(table, dataset, row).source


def format_reported(table: str, dataset: str, row: str, label: str = "paper (reported)") -> str:
  """One `paper_line` of the published row, to print under ours; "-" for metrics the table lacks."""
  return paper_line(label, reported(table, dataset, row))


def whole_fold(recall: float, specificity: float, seizure_fraction: float) -> dict[str, float]:
  """What a binary detector's seizure `recall` and `specificity` give on a whole, imbalanced fold.

  Args:
    recall, specificity: fractions in [0, 1], the seizure class's.
    seizure_fraction: fraction of the fold's windows that are seizure, in (0, 1).
  Returns:
    Expected fractions: `precision` and `f1` of the seizure class,
    `precision_macro`, `recall_macro`, `f1_macro` (means over seizure and
    background) and `accuracy`.
  Raises:
    ConfigError naming the argument that is out of range.
  """
  for name, value in (("recall", recall), ("specificity", specificity)):
    if not 0 <= value <= 1:
      raise ConfigError(f"{name}: expected a fraction in [0, 1], got {value}")
  if not 0 < seizure_fraction < 1:
    raise ConfigError(f"seizure_fraction: expected a fraction in (0, 1), got {seizure_fraction}")
  tp, fn = recall * seizure_fraction, (1 - recall) * seizure_fraction
  tn, fp = specificity * (1 - seizure_fraction), (1 - specificity) * (1 - seizure_fraction)
  precision = (tp / (tp + fp) if tp + fp else 0.0, tn / (tn + fn) if tn + fn else 0.0)
  f1 = [2 * p * r / (p + r) if p + r else 0.0 for p, r in zip(precision, (recall, specificity))]
  return {"precision": precision[0], "f1": f1[0], "precision_macro": sum(precision) / 2,
          "recall_macro": (recall + specificity) / 2, "f1_macro": sum(f1) / 2, "accuracy": tp + tn}
