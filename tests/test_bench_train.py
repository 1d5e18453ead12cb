"""benchmarks/bench_train.py end to end on CPU through the GPU code path (bfloat16 in both frameworks, MFU).

Small models (configs/demo.py, a tiny BERT), a few steps: this checks the
bookkeeping a GPU run depends on (torch autocast, MFU, the report written
after each measurement and marked partial until the end), not the speed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_train  # noqa: E402  pylint: disable=wrong-import-position
from steps_helpers import write_tiny_bert  # noqa: E402

BATCH = 8
PEAK_TFLOPS = 0.5


def _argv(bert: Path, out: Path) -> list[str]:
  return ["--model", "demo", "--text-checkpoint", str(bert), "--dtype", "bfloat16", "--batch-sizes", str(BATCH),
          "--steps", "2", "--warmup", "1", "--no-compile", "--peak-tflops", str(PEAK_TFLOPS), "--out", str(out)]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path, dict]:
  tmp = tmp_path_factory.mktemp("bench_train")
  bert = write_tiny_bert(tmp / "bert")
  out = tmp / "train.json"
  bench_train.main(_argv(bert, out))
  return bert, out, json.loads(out.read_text())


def test_report_has_both_roles_and_frameworks_in_bfloat16(run):
  _, out, report = run
  assert report["complete"] and report["settings"]["dtype"] == "bfloat16"
  assert [(r["role"], r["batch_size"]) for r in report["results"]] == [("teacher", BATCH), ("student", BATCH)]
  for result in report["results"]:
    jax_row, torch_row = result["rows"]
    assert (jax_row["framework"], torch_row["framework"]) == ("jax", "torch_eager")
    for row in result["rows"]:
      assert row["steps"] == 2 and row["min_s"] <= row["median_s"] <= row["max_s"]
      assert row["samples_per_s"] == pytest.approx(BATCH / row["median_s"])
    assert result["jax_over_torch_eager"] == pytest.approx(jax_row["samples_per_s"] / torch_row["samples_per_s"])
    assert result["loader_windows_per_s"] > 0
    assert jax_row["memory_bytes"] > 0 and torch_row["memory_bytes"] is None  # XLA's plan; torch: CUDA only
  md = out.with_suffix(".md").read_text()
  assert "Partial" not in md and "dtype bfloat16" in md and md.count(report["environment"]["date"]) == 1


def test_mfu_is_xla_flops_over_step_time_and_stated_peak(run):
  _, _, report = run
  for result in report["results"]:
    assert result["peak_tflops"] == PEAK_TFLOPS and result["xla_flops_per_step"] > 0
    for row in result["rows"]:
      assert row["mfu"] == pytest.approx(result["xla_flops_per_step"] / row["median_s"] / (PEAK_TFLOPS * 1e12))


def test_a_run_cut_short_keeps_its_results_and_says_partial(run, tmp_path, monkeypatch):
  bert, _, _ = run
  real = bench_train.bench_role

  def teacher_then_crash(jax_run, *args):
    if jax_run.config.model.role == "student":
      raise KeyboardInterrupt  # the run is killed after the teacher's measurement
    return real(jax_run, *args)

  monkeypatch.setattr(bench_train, "bench_role", teacher_then_crash)
  out = tmp_path / "train.json"
  with pytest.raises(KeyboardInterrupt):
    bench_train.main(_argv(bert, out))
  report = json.loads(out.read_text())
  assert not report["complete"]
  assert [r["role"] for r in report["results"]] == ["teacher"]
  assert "Partial" in out.with_suffix(".md").read_text()
  assert not list(tmp_path.glob("*.partial"))


def test_timed_steps_alternate_between_frameworks_in_blocks():
  calls = []
  times = bench_train.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, n=5,
                                       rounds=2)
  assert "".join(calls) == "aaabbbaabb"
  assert [len(times["a"]), len(times["b"])] == [5, 5] and min(times["a"] + times["b"]) >= 0
