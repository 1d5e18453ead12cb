"""benchmarks/bench_train.py end to end on CPU through the GPU code path (bfloat16 in both frameworks, MFU).

Small models (configs/demo.py, a tiny BERT), a few steps: this checks the
bookkeeping a GPU run depends on (torch autocast, MFU, the report written
after each measurement and marked partial until the end), not the speed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
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


def test_report_has_every_role_and_framework_in_bfloat16(run):
  _, out, report = run
  assert report["complete"] and report["settings"]["dtype"] == "bfloat16"
  assert [(r["role"], r["batch_size"]) for r in report["results"]] == [
      ("teacher", BATCH), ("student", BATCH), ("student_cached", BATCH)]
  for result in report["results"]:
    jax_row, torch_row = result["rows"]
    assert (jax_row["framework"], torch_row["framework"]) == ("jax", "torch_eager")
    for row in result["rows"]:
      assert row["steps"] == 2 and row["min_s"] <= row["median_s"] <= row["max_s"]
      assert row["samples_per_s"] == pytest.approx(BATCH / row["median_s"])
    assert result["jax_over_torch_eager"] == pytest.approx(jax_row["samples_per_s"] / torch_row["samples_per_s"])
    assert result["loader_windows_per_s"] > 0
    assert jax_row["memory_bytes"] > 0 and torch_row["memory_bytes"] is None  # XLA's plan; torch: CUDA only
    assert np.isfinite(jax_row["first_step_loss"]) and result["jax_device_peak_bytes"] is None  # CPU: no count
    assert 0 < jax_row["compile_s"] and torch_row["warmup_s"] > 0
  md = out.with_suffix(".md").read_text()
  assert "Partial" not in md and "dtype bfloat16" in md and md.count(report["environment"]["date"]) == 1


def test_the_cached_student_is_timed_beside_the_online_one_against_the_same_torch_twin(run):
  """Same weights, batch and loss; fewer FLOPs (no teacher forward); the torch rows are the shared online twin."""
  _, out, report = run
  _, student, cached = report["results"]
  assert cached["rows"][1] == student["rows"][1]
  assert cached["jax_over_jax_online"] == pytest.approx(cached["rows"][0]["samples_per_s"]
                                                        / student["rows"][0]["samples_per_s"])
  # bfloat16 here; both distil from the same initial teacher weights (float32 parity: tests/train/test_steps.py).
  assert cached["rows"][0]["first_step_loss"] == pytest.approx(student["rows"][0]["first_step_loss"], rel=1e-2)
  assert cached["xla_flops_per_step"] < student["xla_flops_per_step"]
  assert f"batch {BATCH} {cached['jax_over_jax_online']:.2f}x" in out.with_suffix(".md").read_text()


def test_mfu_is_xla_flops_over_step_time_and_stated_peak(run):
  """The PyTorch twins do the online step's work, so student_cached's torch rows count the online FLOPs."""
  _, _, report = run
  online = {"teacher": report["results"][0], "student": report["results"][1], "student_cached": report["results"][1]}
  for result in report["results"]:
    assert result["peak_tflops"] == PEAK_TFLOPS and result["xla_flops_per_step"] > 0
    for row in result["rows"]:
      flops = result["xla_flops_per_step"] if row["framework"] == "jax" else online[result["role"]]["xla_flops_per_step"]
      assert row["mfu"] == pytest.approx(flops / row["median_s"] / (PEAK_TFLOPS * 1e12))


def test_a_run_cut_short_keeps_its_results_and_says_partial(run, tmp_path, monkeypatch):
  """Also --jax-only: no PyTorch rows or ratios."""
  bert, _, _ = run
  real = bench_train.bench_roles

  def teacher_then_crash(jax_runs, *args):
    if "student" in jax_runs:
      raise KeyboardInterrupt  # the run is killed after the teacher's measurement
    return real(jax_runs, *args)

  monkeypatch.setattr(bench_train, "bench_roles", teacher_then_crash)
  out = tmp_path / "train.json"
  with pytest.raises(KeyboardInterrupt):
    bench_train.main(_argv(bert, out) + ["--jax-only"])
  report = json.loads(out.read_text())
  assert not report["complete"]
  assert [r["role"] for r in report["results"]] == ["teacher"]
  (teacher,) = report["results"]
  assert [row["framework"] for row in teacher["rows"]] == ["jax"] and "jax_over_torch_eager" not in teacher
  assert "Partial" in out.with_suffix(".md").read_text()
  assert not list(tmp_path.glob("*.partial"))


def test_student_cached_brings_its_online_baseline():
  args = bench_train.parse_args(["--roles", "student_cached", "--batch-sizes", "8"])
  assert args.roles == ["student_cached", "student"]


def test_timed_steps_alternate_between_frameworks_in_blocks():
  calls = []
  times = bench_train.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, n=5,
                                       rounds=2)
  assert "".join(calls) == "aaabbbaabb"
  assert [len(times["a"]), len(times["b"])] == [5, 5] and min(times["a"] + times["b"]) >= 0
