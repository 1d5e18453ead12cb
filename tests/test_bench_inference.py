"""benchmarks/bench_inference.py end to end on CPU through the GPU code path (bfloat16), demo-size models.

Checks the bookkeeping the deployment claim rests on (parameters, XLA FLOPs per
window against jclip_eeg.models.info's count, checkpoint size on disk, the
student/teacher ratios), not the speed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from steps_helpers import write_tiny_bert

pytest.importorskip("torch")  # bench_inference shares bench_train's helpers, which import torch

from jclip_eeg.models.info import model_info

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import _workload  # noqa: E402  pylint: disable=wrong-import-position
import bench_inference  # noqa: E402

LARGE_BATCH = 8
CALLS = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[list[str], Path, dict]:
  tmp = tmp_path_factory.mktemp("bench_inference")
  out = tmp / "inference.json"
  flags = ["--model", "demo", "--text-checkpoint", str(write_tiny_bert(tmp / "bert")), "--dtype", "bfloat16"]
  bench_inference.main(flags + ["--large-batch", str(LARGE_BATCH), "--latency-calls", str(CALLS),
                                "--throughput-calls", str(CALLS), "--warmup", "1", "--out", str(out)])
  return flags, out, json.loads(out.read_text())


def test_report_times_both_models_and_their_ratios(run):
  _, out, report = run
  assert report["settings"]["dtype"] == "bfloat16" and report["settings"]["large_batch"] == LARGE_BATCH
  teacher, student = report["models"]["teacher"], report["models"]["student"]
  for model in (teacher, student):
    latency, throughput = model["latency_batch1_ms"], model["throughput"]
    assert latency["calls"] == CALLS and latency["min"] <= latency["median"] <= latency["max"]
    assert throughput["calls"] == CALLS and throughput["batch"] == LARGE_BATCH
    assert throughput["min_s"] <= LARGE_BATCH / throughput["windows_per_s"] <= throughput["max_s"]
  assert report["student_over_teacher_throughput"] == pytest.approx(
      student["throughput"]["windows_per_s"] / teacher["throughput"]["windows_per_s"])
  assert report["student_over_teacher_latency"] == pytest.approx(
      teacher["latency_batch1_ms"]["median"] / student["latency_batch1_ms"]["median"])
  md = out.with_suffix(".md").read_text()
  assert "| teacher |" in md and "| student |" in md and "Student/teacher throughput" in md


def test_parameters_flops_and_checkpoints_are_the_models(run):
  flags, _, report = run
  configs = _workload.model_configs(bench_inference.parse_args(flags))
  for role, measured in report["models"].items():
    info = model_info(configs[role], batch=LARGE_BATCH)
    assert measured["params"]["total"] == info["params"]["total"]
    assert measured["params"]["eeg_encoder"] == info["params"]["eeg_encoder"]
    assert measured["params"]["trainable"] == info["trainable"]["total"]
    # The predictor is the EEG tower plus the logits against the class-text features and a softmax
    # (measured: 1.3e-4 more FLOPs at this size).
    assert measured["flops_per_window"] == pytest.approx(info["flops"]["eeg_tower_per_sample"], rel=1e-3)
    # Orbax writes every float32 parameter (random: incompressible; the fresh AdamW moments are zeros).
    assert measured["checkpoint_bytes"] >= 4 * measured["params"]["total"]
  teacher, student = report["models"]["teacher"], report["models"]["student"]
  assert student["params"]["total"] < teacher["params"]["total"]
  assert student["flops_per_window"] < teacher["flops_per_window"]
