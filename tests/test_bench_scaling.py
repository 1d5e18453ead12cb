"""benchmarks/bench_scaling.py: all-reduce arithmetic, efficiency, and the step-1 loss check on 1 vs 2 devices."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_scaling  # noqa: E402
from steps_helpers import write_tiny_bert  # noqa: E402


def test_ring_allreduce_time_is_bandwidth_plus_latency_terms():
  # 8 GPUs, 1 GB: 2 * 7/8 * 1e9 / 450e9 s + 14 hops * 5 us.
  got = bench_scaling.ring_allreduce_seconds(1e9, 8, 450e9, 5e-6)
  assert got == pytest.approx(1.75e9 / 450e9 + 14 * 5e-6, rel=1e-12)
  assert bench_scaling.ring_allreduce_seconds(1e9, 1, 450e9, 5e-6) == 0.0
  with pytest.raises(ValueError):
    bench_scaling.ring_allreduce_seconds(1e9, 0, 450e9, 0.0)


def test_allreduce_estimate_counts_float32_gradients_and_overlap():
  link = bench_scaling.Interconnect("test", 4, 1e9, 0.0)
  # 1e6 params -> 4 MB; ring: 2 * 3/4 * 4e6 / 1e9 = 6 ms.
  row = bench_scaling.allreduce_estimate(1_000_000, 3e9, link, achieved_flops=1e12)
  assert row["gradient_mb"] == pytest.approx(4.0)
  assert row["allreduce_ms"] == pytest.approx(6.0)
  assert row["compute_ms"] == pytest.approx(3.0)
  assert row["allreduce_fraction_no_overlap"] == pytest.approx(6 / 9)
  assert row["exposed_ms_with_overlap"] == pytest.approx(4.0)  # backward = 2/3 * 3 ms hides 2 ms
  assert not row["hidden_by_overlap"]
  assert bench_scaling.allreduce_estimate(1_000_000, 30e9, link, achieved_flops=1e12)["hidden_by_overlap"]


def test_scaling_efficiency_and_loss_verdict():
  assert bench_scaling.scaling_efficiency(300.0, 4, 100.0) == pytest.approx(0.75)
  assert bench_scaling.losses_agree({1: 2.0, 2: 2.0 * (1 + 1e-7)})["identical"]
  different = bench_scaling.losses_agree({1: 2.0, 2: 2.001})
  assert not different["identical"] and different["max_relative_difference"] == pytest.approx(5e-4)
  with pytest.raises(ValueError, match="1-device"):
    bench_scaling.losses_agree({2: 1.0})


def test_step1_loss_is_identical_on_one_and_two_simulated_devices(tmp_path, monkeypatch):
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
  bert = write_tiny_bert(tmp_path / "bert")
  flags = ["--worker", "1", "2", "--model", "demo", "--text-checkpoint", str(bert), "--roles", "teacher",
           "--batch", "8", "--per-device-batch", "0", "--warmup", "1", "--steps", "2"]
  result = bench_scaling.run_worker(flags, 2, timeout=300)
  assert result["simulated"] and result["platform"] == "cpu"
  rows = [bench_scaling.summarize(row) for row in result["rows"]]
  assert [(r["n_devices"], r["per_device_batch"], len(r["step_s"])) for r in rows] == [(1, 8, 2), (2, 4, 2)]
  check = bench_scaling.loss_checks(rows)["teacher"]
  assert check["identical"], check
  bench_scaling.add_efficiency(rows)
  assert rows[0]["efficiency"] == pytest.approx(1.0) and rows[1]["efficiency"] > 0
