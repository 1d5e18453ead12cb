"""cross_validate with k=2 on the toy run: per-fold rows, mean ± std tables, and resume without retraining."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from jclip_eeg.errors import ConfigError
from jclip_eeg.experiments import cross_validation
from toy_run import toy_config


@pytest.fixture(scope="module")
def cv(tmp_path_factory, fast_jax) -> dict:
  tmp = tmp_path_factory.mktemp("cv")
  config = toy_config(tmp, teacher_epochs=1, student_epochs=1)
  rows = cross_validation.run_cross_validation(config, tmp / "cv", k=2)
  return {"tmp": tmp, "config": config, "rows": rows, "workdir": tmp / "cv"}


def _read_csv(path) -> list[dict]:
  with path.open() as f:
    return list(csv.DictReader(f))


def test_tables_hold_every_fold_and_their_mean_and_std(cv):
  rows = cv["rows"]
  assert [(r["stage"], r["fold"]) for r in rows] == [("teacher", 0), ("student", 0), ("teacher", 1),
                                                     ("student", 1)]
  assert all(r["trained"] for r in rows)
  table = _read_csv(cv["workdir"] / "cv_table.csv")
  for stage in ("teacher", "student"):
    folds = [r for r in table if r["stage"] == stage and r["fold"] in ("0", "1")]
    values = np.array([[float(r[m]) for m in cross_validation.METRICS] for r in folds])
    expected = np.array([[r[m] for m in cross_validation.METRICS] for r in rows if r["stage"] == stage])
    np.testing.assert_array_equal(values, expected)
    (mean,) = [r for r in table if r["stage"] == stage and r["fold"] == "mean"]
    (std,) = [r for r in table if r["stage"] == stage and r["fold"] == "std"]
    np.testing.assert_allclose([float(mean[m]) for m in cross_validation.METRICS], values.mean(0), rtol=1e-12)
    np.testing.assert_allclose([float(std[m]) for m in cross_validation.METRICS], values.std(0, ddof=1),
                               rtol=1e-12)
    markdown = (cv["workdir"] / "cv_table.md").read_text()
    cells = " | ".join(f"{100 * values.mean(0)[i]:.2f} ± {100 * values.std(0, ddof=1)[i]:.2f}"
                       for i, m in enumerate(cross_validation.METRICS) if m in cross_validation.TABLE_I)
    assert f"| **{stage}** | mean ± std | {cells} |" in markdown
  # Teacher and student of a fold score the same test windows.
  assert rows[0]["n_test"] == rows[1]["n_test"] > 0 and rows[2]["n_test"] == rows[3]["n_test"] > 0


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
