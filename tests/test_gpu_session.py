"""benchmarks/gpu_session.sh run end to end on CPU at toy size (--tiny): the parts, the budget, the files, the targets.

The GPU session's logic, not its speed: every part runs (bench_train with student_cached, inference, the
JAX-only larger batch, the attention path as "dot_product"), the three files are rewritten after each
part, the targets table is read off the parts' own reports, and a budget too short cuts parts off
without losing what was written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from steps_helpers import write_tiny_bert

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import gpu_session  # noqa: E402  pylint: disable=wrong-import-position

FILES = ["gpu_session.json", "gpu_session.log", "gpu_session.md"]


def _session(tmp: Path, bert: Path, budget_s: float) -> tuple[subprocess.CompletedProcess, Path]:
  out = tmp / f"out_{budget_s:g}"
  env = dict(os.environ, OUT=str(out), JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1",
             GPU_SESSION_WHEELS=str(tmp / "no_wheels"), PYTHONPATH=str(REPO))
  done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_session.sh"), "run", "--tiny", str(bert),
                         "--budget-s", str(budget_s)], env=env, capture_output=True, text=True, timeout=1500)
  assert done.returncode == 0, done.stderr[-3000:]
  return done, out


@pytest.fixture(scope="module")
def bert(tmp_path_factory) -> Path:
  return write_tiny_bert(tmp_path_factory.mktemp("gpu_session") / "bert")


@pytest.fixture(scope="module")
def session(bert) -> tuple[dict, Path]:
  _, out = _session(bert.parent, bert, budget_s=1200)
  return json.loads((out / "gpu_session.json").read_text()), out


@pytest.mark.slow
def test_every_part_runs_and_the_files_come_back(session):
  report, out = session
  assert sorted(p.name for p in out.iterdir()) == FILES  # within the device tool's 8 files
  assert report["complete"] and list(report["parts"]) == ["train_b256", "inference", "train_large", "attention"]
  assert all(part["status"] == "complete" for part in report["parts"].values())
  assert report["versions"]["jax"] and report["versions"]["torch"]
  b256 = report["parts"]["train_b256"]["report"]
  assert [r["role"] for r in b256["results"]] == ["teacher", "student", "student_cached"]
  assert [row["framework"] for row in b256["results"][2]["rows"]] == ["jax", "torch_eager"]
  large = report["parts"]["train_large"]["report"]
  assert {r["batch_size"] for r in large["results"]} == {16}
  assert all([row["framework"] for row in r["rows"]] == ["jax"] for r in large["results"])
  assert report["parts"]["attention"]["report"]["settings"]["attention"] == "dot_product"
  assert report["parts"]["inference"]["report"]["student_over_teacher_throughput"] > 0
  log = (out / "gpu_session.log").read_text()
  assert log.count("===== ") == 4 and "bench_inference.py" in log


@pytest.mark.slow
def test_targets_are_read_off_the_parts_reports(session):
  report, out = session
  rows = gpu_session.targets(report)
  b256 = {r["role"]: r for r in report["parts"]["train_b256"]["report"]["results"]}
  eager = [r for r in rows if r["target"].startswith("jax_over_torch_eager")]
  assert [r["role"] for r in eager] == ["teacher", "student", "student_cached"]
  for row in eager:
    assert row["value"] == b256[row["role"]]["jax_over_torch_eager"]
    assert row["verdict"] == ("met" if row["value"] >= 1.5 else "missed")
  compiled = [r for r in rows if r["target"].startswith("jax_over_torch_compile")]
  assert all(r["verdict"] == "not measured" for r in compiled)  # --tiny skips torch.compile
  assert all(r["verdict"] == "not measured" for r in rows if "MFU" in r["target"])  # no peak on CPU
  attention = [r for r in rows if r["target"].startswith("fused attention")]
  assert [r["role"] for r in attention] == ["teacher", "student"]
  for row in attention:
    parity = float(row["verdict"].split("differs by ")[1].split()[0])
    assert row["value"] > 0 and parity < 1e-5  # float32 on CPU: dot_product_attention computes the same step
  md = (out / "gpu_session.md").read_text()
  assert "| target | role | measured | verdict |" in md
  assert all(f"## {name}" in md for name in report["parts"])


def test_a_budget_too_short_cuts_parts_off_and_keeps_the_files(bert):
  done, out = _session(bert.parent, bert, budget_s=4)
  report = json.loads((out / "gpu_session.json").read_text())
  assert sorted(p.name for p in out.iterdir()) == FILES
  assert not report["complete"] and len(report["parts"]) == 4
  statuses = [part["status"] for part in report["parts"].values()]
  assert statuses[0].startswith("cut short at its time limit")
  assert all(s.startswith(("cut short", "skipped: no time left")) for s in statuses)
  assert report["seconds"] < 4 + 3  # every part ends by its share of the budget (kill and clean-up aside)
  assert "train_b256: cut short" in done.stdout
