"""cross_validate with k=2 on the toy run: per-fold rows, mean ± std tables, and resume without retraining."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from toy_run import toy_config

from jclip_eeg import paper_results
from jclip_eeg.errors import ConfigError
from jclip_eeg.experiments import cross_validation
from jclip_eeg.experiments.tables import COLUMNS
from jclip_eeg.runs import split as split_lib


@pytest.fixture(scope="module")
def cv(tmp_path_factory, fast_jax) -> dict:
  tmp = tmp_path_factory.mktemp("cv")
  config = toy_config(tmp, teacher_epochs=1, student_epochs=1)
  rows = cross_validation.run_cross_validation(config, tmp / "cv", k=2)
  return {"tmp": tmp, "config": config, "rows": rows, "workdir": tmp / "cv"}


def _read_csv(path) -> list[dict]:
  with path.open() as f:
    return list(csv.DictReader(f))


def _number(cell: str) -> float:
  return float("nan") if cell in ("", "None") else float(cell)


def test_tables_hold_every_fold_and_their_mean_and_std(cv):
  rows = cv["rows"]
  assert [(r["stage"], r["fold"]) for r in rows] == [
      ("teacher", 0), ("student", 0), ("baseline", 0), ("teacher", 1), ("student", 1), ("baseline", 1)]
  assert all(r["trained"] for r in rows)
  table = _read_csv(cv["workdir"] / "cv_table.csv")
  markdown = (cv["workdir"] / "cv_table.md").read_text()
  for stage in ("teacher", "student", "baseline"):
    folds = [r for r in table if r["stage"] == stage and r["fold"] in ("0", "1")]
    values = np.array([[_number(r[c]) for c in COLUMNS] for r in folds])
    expected = np.array([[np.nan if r[c] is None else r[c] for c in COLUMNS] for r in rows if r["stage"] == stage])
    np.testing.assert_array_equal(values, expected)
    (mean,) = [r for r in table if r["stage"] == stage and r["fold"] == "mean"]
    (std,) = [r for r in table if r["stage"] == stage and r["fold"] == "std"]
    np.testing.assert_allclose([_number(mean[c]) for c in COLUMNS], np.nanmean(values, 0), rtol=1e-12)
    np.testing.assert_allclose([_number(std[c]) for c in COLUMNS], np.nanstd(values, 0, ddof=1), rtol=1e-12)
    spread = " | ".join(f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in zip(values.mean(0), values.std(0, ddof=1)))
    assert f"| **{stage}** | mean ± std | {spread} |" in markdown
  # Both protocols from the same predictions; on the binary 1:1 draw the paper's accuracy is its hard-label AUC.
  for row in rows:
    assert row["paper_accuracy"] == pytest.approx(row["paper_auc"]) and row["full_auc"] is not None
  assert "paper (reported)" not in markdown  # synthetic data: the paper has no row for it
  # Teacher, student and baseline of a fold score the same test windows.
  assert rows[0]["n_test"] == rows[1]["n_test"] == rows[2]["n_test"] > 0 and rows[3]["n_test"] == rows[4]["n_test"]


def test_the_papers_own_rows_are_printed_for_its_datasets(tmp_path):
  row = {"stage": "teacher", "fold": 0, **{c: 0.5 for c in COLUMNS}}
  markdown, _ = cross_validation.write_tables([row], tmp_path / "t", "chbmit")
  published = paper_results.reported("I", "chbmit", "teacher")
  assert f"| teacher: paper (reported) | Table I | - | - | - | - | - | - | {100 * published['accuracy']:.2f} |" \
      in markdown.read_text()


def test_leave_one_out_runs_one_fold_per_patient_with_seizures(cv):
  config = toy_config(cv["tmp"], teacher_epochs=1, student_epochs=1)
  folds, skipped = cross_validation.folds_of(config, by="patient", k=None, leave_one_out=True)
  store = split_lib.open_store(config.data)
  with_seizures = sorted(set(np.asarray(store.patient)[np.asarray(store.y) > 0].tolist()))
  assert folds == with_seizures and not set(folds) & set(skipped)
  fold = cross_validation.fold_config(config, folds[0], by="patient")
  part = split_lib.load_split(fold.data)
  assert part.description["test"]["patients"] == [folds[0]]
  assert folds[0] not in part.description["train"]["patients"] + part.description["val"]["patients"]
  with pytest.raises(ConfigError, match="use --by patient or --by recording"):
    cross_validation.folds_of(config, by="window", k=None, leave_one_out=True)


def test_rerun_skips_finished_folds(cv):
  checkpoints = sorted((cv["workdir"] / "fold_1" / "student" / "checkpoints").rglob("*"))
  mtimes = [p.stat().st_mtime_ns for p in checkpoints]
  rows = cross_validation.run_cross_validation(cv["config"], cv["workdir"], k=2)
  assert not any(r["trained"] for r in rows)
  assert [{k: v for k, v in r.items() if k != "trained"} for r in rows] == \
      [{k: v for k, v in r.items() if k != "trained"} for r in cv["rows"]]
  assert [p.stat().st_mtime_ns for p in checkpoints] == mtimes


def test_changed_config_is_refused(cv):
  config = toy_config(cv["tmp"], teacher_epochs=2, student_epochs=1)
  with pytest.raises(ConfigError, match="train.epochs"):
    cross_validation.run_cross_validation(config, cv["workdir"], k=2)


def test_paper_student_is_added_to_a_teacher_only_config(cv):
  config = toy_config(cv["tmp"])
  with config.unlocked():
    del config["student"]
  student = cross_validation.with_student(config).student
  assert student.model.role == "student" and student.model.eeg.n_layers == 4
  assert student.model.teacher_embed_dim == config.model.embed_dim
  assert student.train.epochs == 1  # a quarter of the teacher's 2, at least 1


def test_a_leave_one_out_run_on_three_patients(tmp_path_factory, fast_jax):
  tmp = tmp_path_factory.mktemp("loo")
  config = toy_config(tmp, teacher_epochs=1, student_epochs=1)
  with config.unlocked():
    config.data.synthetic.n_patients = 3
    config.data.split.by = "patient"
  rows = cross_validation.run_cross_validation(config, tmp / "loo", leave_one_out=True)
  patients = ["chb01", "chb02", "chb03"]
  assert [(r["stage"], r["fold"]) for r in rows] == [(s, p) for p in patients for s in ("teacher", "student",
                                                                                         "baseline")]
  for patient in patients:
    report = json.loads((tmp / "loo" / f"fold_{patient}" / "report.json").read_text())
    assert report["data"]["test"]["patients"] == [patient] and report["data"]["split"]["test_groups"] == [patient]
  assert "| **teacher** | mean ± std |" in (tmp / "loo" / "cv_table.md").read_text()
