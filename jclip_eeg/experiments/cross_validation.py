"""k-fold (or leave-one-out) cross-validation of teacher and student: the paper's Table I as mean ± std over folds.

  rows = run_cross_validation(config, "runs/cv", by="patient", k=5)
  rows = run_cross_validation(config, "runs/loo", by="patient", leave_one_out=True)

Fold i trains the teacher and then the student with `config.data.split.fold=i`
through `loop.train_and_evaluate` in `<workdir>/fold_<i>/` (its usual
workdir: checkpoints, result.json, report.json). Leave-one-out (the standard
protocol of patient-specific seizure detection) makes one fold per patient
(or recording, `by`) that has seizure windows, with
`config.data.split.test_groups=(that one,)`, in `<workdir>/fold_<id>/`;
groups without seizures cannot be scored and are listed as skipped. A fold
whose report.json lists both stages is finished and is read back, not
rerun; an interrupted fold resumes from its checkpoints; either way its
config must equal this run's up to `config_lib.RESUME_FREE_KEYS`. A teacher
config without a student recipe (`config.student`) gets the paper's student
(`config_lib.paper_student`).

Tables (`write_tables`): `<workdir>/cv_table.md` and `cv_table.csv` with one
row per (stage, fold), then `mean` and `std` rows per stage, the band-power
baseline's rows, and the paper's published Table I rows for the dataset
("paper (reported)"). Both test protocols side by side (experiments/tables.py):
the honest whole-fold metrics and the paper's protocol. std is the sample
standard deviation (ddof=1) over folds, of the folds where a metric is defined.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np

from jclip_eeg import config_lib, jsonio
from jclip_eeg.data.splits import seizure_groups
from jclip_eeg.errors import ConfigError
from jclip_eeg.experiments.tables import (COLUMNS, HEADER, REPORTED, cells, protocol_values, reported_values,
                                          write_csv, write_markdown)
from jclip_eeg.runs import split as split_lib
from jclip_eeg.runs.stage import STAGES
from jclip_eeg.train import loop

_log = logging.getLogger(__name__)

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


def fold_config(config: ml_collections.ConfigDict, fold: int | str, *, by: str | None = None,
                k: int | None = None) -> ml_collections.ConfigDict:
  """A locked copy of `config` that trains fold `fold` (split `by`, `k` folds when given); a str `fold` is a
  recording / patient id that the fold tests on (leave-one-out)."""
  config = ml_collections.ConfigDict(config.to_dict())
  split = config.data.split
  split.update(dict(by=by or split.by, k=k or split.k))
  if isinstance(fold, str):
    split.test_groups = (fold,)
  else:
    split.fold = fold
  config.lock()
  return config


def folds_of(config: ml_collections.ConfigDict, *, by: str | None, k: int | None,
             leave_one_out: bool) -> tuple[list[int | str], list[str]]:
  """(the folds to run: indices, or for leave-one-out the group ids with seizures; groups skipped)."""
  if not leave_one_out:
    return list(range(k or config.data.split.k)), []
  by = by or config.data.split.by
  if by not in ("recording", "patient"):
    raise ConfigError(f"leave-one-out holds out one recording or patient at a time: use --by patient or "
                      f"--by recording (the config splits by {by!r})")
  scored, skipped = seizure_groups(split_lib.open_store(config.data), by)
  if len(scored) < 2:
    raise ConfigError(f"leave-one-out by {by}: only {len(scored)} {by}(s) with seizure windows, need 2 or more")
  return scored, skipped
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
                         k: int | None = None, leave_one_out: bool = False) -> list[dict[str, Any]]:
  """Trains (or reads back) every fold and writes the tables; returns the per-(stage, fold) rows.

  Each row: `stage` (teacher, student, baseline), `fold`, the COLUMNS of its
  test fold (both protocols, fractions), `n_test` (windows) and `trained`
  (False when read back from a finished fold).
  """
  workdir = Path(workdir)
  config = with_student(config)
  folds, skipped = folds_of(config, by=by, k=k, leave_one_out=leave_one_out)
  if skipped:
    _log.info("leave-one-out: skipping %s without seizure windows: %s", by or config.data.split.by,
              ", ".join(skipped))
  rows = []
  for fold in folds:
    fold_dir = workdir / f"fold_{fold}"
    current = fold_config(config, fold, by=by, k=None if leave_one_out else len(folds))
    report = _finished_report(fold_dir, current)
    trained = report is None
    if trained:
      _log.info("fold %s (%d of %d): training in %s", fold, folds.index(fold) + 1, len(folds), fold_dir)
      report = loop.train_and_evaluate(current, fold_dir)
    else:
      _log.info("fold %s: finished earlier, reading %s", fold, fold_dir / "report.json")
    tests = {role: report["stages"][role]["test"] for role in STAGES} | {"baseline": report["baseline"]["test"]}
    rows += [{"stage": role, "fold": fold, **protocol_values(test), "n_test": test["n_samples"],
              "trained": trained} for role, test in tests.items()]
  if loop.is_main_process():
    write_tables(rows, table_path(workdir), config.data.dataset, skipped)
  return rows


def table_path(workdir: str | Path) -> Path:
  """`<workdir>/cv_table` (the tables add .md / .csv)."""
  return Path(workdir) / "cv_table"


def summarize(rows: Sequence[Mapping[str, Any]], group: str = "stage") -> dict[str, dict[str, dict[str, float]]]:
  """{group value: {"mean": {column: ...}, "std": {column: ...}}} over the rows of each group (std ddof=1),
  each column over the rows where it is defined (None: undefined, e.g. the AUC of a one-class fold)."""
  out = {}
  for name in dict.fromkeys(row[group] for row in rows):
    values = np.array([[np.nan if row[c] is None else row[c] for c in COLUMNS] for row in rows
                       if row[group] == name], dtype=np.float64)
    defined = np.isfinite(values).sum(axis=0)
    mean = np.where(defined > 0, np.nansum(values, axis=0) / np.maximum(defined, 1), np.nan)
    std = np.array([np.std(column[np.isfinite(column)], ddof=1) if n > 1 else 0.0 if n == 1 else np.nan
                    for column, n in zip(values.T, defined)])
    out[name] = {kind: {c: None if np.isnan(v) else float(v) for c, v in zip(COLUMNS, stats)}
                 for kind, stats in (("mean", mean), ("std", std))}
  return out


def write_tables(rows: Sequence[Mapping[str, Any]], stem: str | Path, dataset: str,
                 skipped: Sequence[str] = ()) -> tuple[Path, Path]:
  """`<stem>.md` (Table I layout, percent, both protocols) and `<stem>.csv` (fractions, full precision).

  Both list every row of `rows`, then the `mean` and `std` of each stage, then
  the paper's published Table I rows of `dataset` (if it has them).
  """
  stem = Path(stem)
  body, records = [], []
  for stage, stats in summarize(rows).items():
    for row in rows:
      if row["stage"] == stage:
        body.append([stage, str(row["fold"]), *cells(row)])
        records.append({"stage": stage, "fold": row["fold"], **{c: row[c] for c in COLUMNS}})
    spread = [f"{m} ± {s}" for m, s in zip(cells(stats["mean"]), cells(stats["std"]))]
    body.append([f"**{stage}**", "mean ± std", *spread])
    records += [{"stage": stage, "fold": kind, **stats[kind]} for kind in ("mean", "std")]
  for stage in STAGES:
    published = reported_values("I", dataset, stage)
    if published is not None:
      body.append([f"{stage}: {REPORTED}", "Table I", *cells(published)])
      records.append({"stage": f"{stage}: {REPORTED}", "fold": "Table I", **published})
  notes = [f"Skipped (no seizure windows to score): {', '.join(skipped)}."] if skipped else []
  return (write_markdown(stem.with_suffix(".md"), ["Model", "Fold", *HEADER], body, notes),
          write_csv(stem.with_suffix(".csv"), records))
