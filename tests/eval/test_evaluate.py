"""evaluate.py on the toy teacher + student run: the run's test fold scores reproduce its result.json exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from toy_run import toy_config

from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.eval import evaluate
from jclip_eeg.metrics import PAPER_METRICS
from jclip_eeg.runs import split as split_lib, stage as stage_lib
from jclip_eeg.train import loop, reporting

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def run(tmp_path_factory, fast_jax) -> dict:
  tmp = tmp_path_factory.mktemp("evaluate")
  workdir = tmp / "run"
  report = loop.train_and_evaluate(toy_config(tmp), workdir)
  return {"tmp": tmp, "workdir": workdir, "report": report}


def _without_extras(report: dict) -> dict:
  return {k: v for k, v in report.items() if k not in ("workdir", "stage", "store", "split", "checkpoint_step")}


@pytest.mark.parametrize("stage", ["teacher", "student"])
def test_test_split_reproduces_the_runs_test_report(run, stage):
  got = evaluate.evaluate_workdir(run["workdir"], stage=stage)
  want = run["report"]["stages"][stage]
  assert got["split"] == "test" and got["checkpoint_step"] == want["best_step"]
  assert _without_extras(got) == want["test"]


def test_all_windows_of_another_store_path(run):
  store = split_lib.open_store(stage_lib.read_config(run["workdir"] / "teacher").data)
  got = evaluate.evaluate_workdir(run["workdir"], stage="teacher", store=store.path)
  assert got["split"] == "all" and got["n_samples"] == len(store.y)
  assert np.sum(got["confusion_matrix"]) == len(store.y)
  val = evaluate.evaluate_workdir(run["workdir"], stage="teacher", split="val")
  assert val["n_samples"] == run["report"]["data"]["val"]["windows"]


def test_default_stage_and_clear_errors(run, tmp_path):
  assert evaluate.default_stage(run["workdir"]) == "student"
  assert evaluate.default_stage(tmp_path) == "teacher"
  with pytest.raises(ConfigError, match="no teacher stage"):
    evaluate.evaluate_workdir(tmp_path)
  with pytest.raises(ConfigError, match="split 'train'"):
    evaluate.evaluate_workdir(run["workdir"], split="train")
  with pytest.raises(DataError, match="no prepared store"):
    evaluate.evaluate_workdir(run["workdir"], store=tmp_path / "nothing")


def test_raw_folder_is_prepared_into_a_cache_store(run):
  """The run's raw EDF folder, prepared again with the run's preprocessing, scores like the run's store."""
  data = stage_lib.read_config(run["workdir"] / "teacher").data
  cache = evaluate.raw_cache_dir(run["workdir"], run["tmp"] / "raw", "synthetic")
  store = evaluate.prepare_raw(data, run["tmp"] / "raw", "synthetic", cache)
  assert store == cache and cache.parent == run["workdir"] / "eval_stores"
  got = evaluate.evaluate_workdir(run["workdir"], stage="teacher", store=store)
  want = evaluate.evaluate_workdir(run["workdir"], stage="teacher", store=data.store)
  assert _without_extras(got) == _without_extras(want)


def test_script_error_is_one_line_with_status_2(tmp_path):
  done = subprocess.run(
      [sys.executable, str(REPO / "scripts" / "evaluate.py"), "--workdir", str(tmp_path), "--out",
       str(tmp_path / "r.json")], capture_output=True, text=True, timeout=120,
      env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(REPO)})
  assert done.returncode == 2
  assert done.stderr.strip().splitlines()[-1].startswith("evaluate: error: ") and "no teacher stage" in done.stderr


def test_reports_carry_both_protocols_and_the_baseline(run):
  report = run["report"]
  for stage in report["stages"].values():
    test, paper = stage["test"], stage["test"]["paper"]
    assert set(PAPER_METRICS) | {"n_windows"} <= set(paper)
    assert all(0 <= paper[m] <= 1 for m in PAPER_METRICS)
    # The paper's binary protocol: every seizure window and as many background ones; its AUC is balanced accuracy.
    assert paper["n_windows"] == 2 * test["per_class"][1]["support"]
    assert paper["accuracy"] == pytest.approx(paper["auc"]) == pytest.approx((paper["recall"] + paper["specificity"]) / 2)
  baseline = report["baseline"]["test"]
  assert baseline["n_samples"] == report["data"]["test"]["windows"] and "paper" in baseline
  assert json.loads((run["workdir"] / "baseline.json").read_text())["test"] == baseline
  table = reporting.final_table(report)
  assert "baseline (band power)" in table and "the paper's protocol" in table
