"""k-fold cross-validation of teacher and student, and the paper's Table I layout (mean ± std over folds).

  rows = run_cross_validation(config, "runs/cv", by="patient", k=5)

Fold i trains the teacher and then the student with `config.data.split.fold=i`
through `loop.train_and_evaluate` in `<workdir>/fold_<i>/` (its usual
workdir: checkpoints, result.json, report.json). A fold whose report.json
lists both stages is finished and is read back, not rerun; an interrupted
fold resumes from its checkpoints; either way its config must equal this
run's up to `config_lib.RESUME_FREE_KEYS`. A teacher config without a
student recipe (`config.student`) gets the paper's student: the same model
with `eeg.n_layers=4`, projecting into the teacher's embedding space, trained
with the teacher's optimiser and batch sizes for a quarter of its epochs
(the paper's 100 vs 400).

Tables (`write_tables`): `<workdir>/cv_table.md` and `cv_table.csv` with one
row per (stage, fold) and then `mean` and `std` rows per stage. Metrics are
the test fold's accuracy and the macro precision, recall, specificity and F1
(`jclip_eeg.metrics`; specificity is the seizure class's in binary
tasks); the markdown shows the paper's Table I columns (Acc, Pre, Rec, F1)
in percent. std is the sample standard deviation (ddof=1) over folds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from jclip_eeg import config_lib, jsonio
from jclip_eeg.errors import ConfigError
from jclip_eeg.experiments.tables import pct, write_csv, write_markdown
from jclip_eeg.runs.stage import STAGES
from jclip_eeg.train import loop

_log = logging.getLogger(__name__)

# Table column -> classification_report key.
METRICS = {"accuracy": "accuracy", "precision": "precision_macro", "recall": "recall_macro",
           "specificity": "specificity", "f1": "f1_macro"}
# The paper's Table I columns.
TABLE_I = {"accuracy": "Acc(%)", "precision": "Pre(%)", "recall": "Rec(%)", "f1": "F1(%)"}


def metric_row(test: Mapping[str, Any]) -> dict[str, float]:
  """The METRICS of one `classification_report`, as fractions."""
  return {name: float(test[key]) for name, key in METRICS.items()}


def with_student(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """`config` (a teacher config) with a student recipe; the paper's (`config_lib.paper_student`) when it has none."""
  if config.model.role != "teacher":
    raise ConfigError(f"cross-validation starts from a teacher config; config.model.role={config.model.role!r}")
  if config.get("student") is not None:
    return config
  student = config_lib.paper_student(config)
  config = ml_collections.ConfigDict(config.to_dict())
  config.student = ml_collections.ConfigDict(dict(model=student.model, train=student.train,
                                                  optimizer=student.optimizer))
  return config


def fold_config(config: ml_collections.ConfigDict, fold: int, *, by: str | None = None,
                k: int | None = None) -> ml_collections.ConfigDict:
  """A locked copy of `config` that trains fold `fold` (split `by`, `k` folds when given)."""
  config = ml_collections.ConfigDict(config.to_dict())
  split = config.data.split
  split.update(dict(fold=fold, by=by or split.by, k=k or split.k))
  config.lock()
  return config


def _finished_report(fold_dir: Path, config: ml_collections.ConfigDict) -> dict[str, Any] | None:
  """The fold's report.json when both stages are done and its config matches `config`, else None."""
  path = fold_dir / "report.json"
  if not path.is_file():
    return None
  differences = config_lib.resume_differences(jsonio.read_json(fold_dir / "config.json"),
                                              config_lib.as_json(config))
  if differences:
    raise ConfigError(f"{fold_dir} holds a fold trained with another config (differences: "
                      f"{', '.join(differences)}); rerun with the same config or choose another --workdir")
  report = jsonio.read_json(path)
  return report if set(report["stages"]) == set(STAGES) else None


def run_cross_validation(config: ml_collections.ConfigDict, workdir: str | Path, *, by: str | None = None,
                         k: int | None = None) -> list[dict[str, Any]]:
  """Trains (or reads back) every fold and writes the tables; returns the per-(stage, fold) rows.

  Each row: `stage`, `fold`, the METRICS of its test fold (fractions),
  `n_test` (windows) and `trained` (False when read back from a finished fold).
  """
  workdir = Path(workdir)
  config = with_student(config)
  n_folds = k or config.data.split.k
  rows = []
  for fold in range(n_folds):
    fold_dir = workdir / f"fold_{fold}"
    current = fold_config(config, fold, by=by, k=n_folds)
    report = _finished_report(fold_dir, current)
    trained = report is None
    if trained:
      _log.info("fold %d of %d: training in %s", fold, n_folds, fold_dir)
      report = loop.train_and_evaluate(current, fold_dir)
    else:
      _log.info("fold %d of %d: finished earlier, reading %s", fold, n_folds, fold_dir / "report.json")
    for role in STAGES:
      test = report["stages"][role]["test"]
      rows.append({"stage": role, "fold": fold, **metric_row(test), "n_test": test["n_samples"],
                   "trained": trained})
  if loop.is_main_process():
    write_tables(rows, table_path(workdir))
  return rows


def table_path(workdir: str | Path) -> Path:
  """`<workdir>/cv_table` (the tables add .md / .csv)."""
  return Path(workdir) / "cv_table"


def summarize(rows: Sequence[Mapping[str, Any]], group: str = "stage") -> dict[str, dict[str, dict[str, float]]]:
  """{group value: {"mean": {metric: ...}, "std": {metric: ...}}} over the rows of each group (std ddof=1)."""
  out = {}
  for name in dict.fromkeys(row[group] for row in rows):
    values = np.array([[row[m] for m in METRICS] for row in rows if row[group] == name])
    std = values.std(axis=0, ddof=1) if len(values) > 1 else np.zeros(len(METRICS))
    out[name] = {"mean": dict(zip(METRICS, values.mean(axis=0).tolist())), "std": dict(zip(METRICS, std.tolist()))}
  return out


def write_tables(rows: Sequence[Mapping[str, Any]], stem: str | Path) -> tuple[Path, Path]:
  """`<stem>.md` (Table I layout, percent, mean ± std per stage) and `<stem>.csv` (fractions, full precision).

  Both list every row of `rows`, then the `mean` and `std` of each stage.
  """
  stem = Path(stem)
  body, records = [], []
  for stage, stats in summarize(rows).items():
    for row in rows:
      if row["stage"] == stage:
        body.append([stage, str(row["fold"]), *(pct(row[m]) for m in TABLE_I)])
        records.append({"stage": stage, "fold": row["fold"], **{m: row[m] for m in METRICS}})
    body.append([f"**{stage}**", "mean ± std", *(f"{pct(stats['mean'][m])} ± {pct(stats['std'][m])}"
                                                 for m in TABLE_I)])
    records += [{"stage": stage, "fold": kind, **stats[kind]} for kind in ("mean", "std")]
  return (write_markdown(stem.with_suffix(".md"), ["Model", "Fold", *TABLE_I.values()], body),
          write_csv(stem.with_suffix(".csv"), records))
