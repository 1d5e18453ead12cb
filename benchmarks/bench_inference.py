"""Teacher vs student at inference: parameters, FLOPs per window, latency, throughput, checkpoint size.

  python benchmarks/bench_inference.py [--quick] [--large-batch 1024]

Paper-sized CHB-MIT models (23 x 256 windows; the teacher's text tower is
BERT-base with random weights). Both predict with the project's eval function
(`runs.inference.Predictor`); the class-text features are computed once and passed
in, as at deployment (the text tower does not run per window). FLOPs come from
XLA's cost analysis of the compiled predictor; the checkpoint is written with
`runs.checkpoints.Checkpoints` (Orbax) and measured on disk. The target is a
student/teacher throughput ratio >= 1.7.

Writes benchmarks/results/inference_<device>.json and .md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grain
import jax
import numpy as np

import _env
import _workload
from bench_train import device_name, markdown_header, report_path, write_report
from jclip_eeg import host_memory, sharding
from jclip_eeg.flops import compiled_flops
from jclip_eeg.runs import checkpoints, inference
from jclip_eeg.train import loop, steps

TARGET_RATIO = 1.7


def seconds_per_call(fn, x: jax.Array, warmup: int, n: int) -> list[float]:
  """Wall time of `n` blocking calls fn(x) after `warmup` untimed ones."""
  for _ in range(warmup):
    jax.block_until_ready(fn(x))
  times = []
  for _ in range(n):
    start = time.perf_counter()
    jax.block_until_ready(fn(x))
    times.append(time.perf_counter() - start)
  return times


def directory_bytes(path: Path) -> int:
  return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def checkpoint_bytes(state: steps.TrainState) -> int:
  """Bytes on disk of one Orbax checkpoint of `state` (with the optimiser state, as training saves it)."""
  with tempfile.TemporaryDirectory() as tmp:
    ckpt = checkpoints.Checkpoints(Path(tmp) / "ckpt", async_save=False)
    iterator = iter(grain.MapDataset.range(1).to_iter_dataset())
    ckpt.save(state, iterator, {checkpoints.SELECTION_METRIC: 0.0})
    ckpt.wait()
    ckpt.close()
    return directory_bytes(Path(tmp) / "ckpt")


def bench_model(built: loop.Built, config, mesh, features: jax.Array, args) -> dict:
  """Latency at batch 1 and throughput at `args.large_batch` of one model's predictor."""
  predict = inference.Predictor(built.graphdef, (built.state.params, built.state.rest), features,
                                config.model.prediction, mesh)
  data = config.data
  rng = np.random.default_rng(0)

  def batch(b: int) -> jax.Array:
    x = rng.standard_normal((b, data.n_channels, data.n_times), dtype=np.float32)
    return sharding.shard_batch(dict(x=x), mesh)["x"]

  x_large = batch(args.large_batch)
  flops_per_call = compiled_flops(predict.lower(x_large).compile())
  latency = seconds_per_call(predict, batch(1), args.warmup, args.latency_calls)
  large = seconds_per_call(predict, x_large, args.warmup, args.throughput_calls)
  return dict(params=built.params, flops_per_window=flops_per_call / args.large_batch,
              latency_batch1_ms=dict(median=statistics.median(latency) * 1e3, min=min(latency) * 1e3,
                                     max=max(latency) * 1e3, calls=len(latency)),
              throughput=dict(batch=args.large_batch, windows_per_s=args.large_batch / statistics.median(large),
                              min_s=min(large), max_s=max(large), calls=len(large)),
              checkpoint_bytes=checkpoint_bytes(built.state))


def run(args) -> dict:
  mesh = sharding.make_mesh()
  configs = _workload.model_configs(args)
  teacher_config, student_config = configs["teacher"], configs["student"]
  teacher = loop.build(teacher_config, 1000, mesh)
  features = inference.class_text_features((teacher.state.params, teacher.state.rest), graphdef=teacher.graphdef,
                                           mesh=mesh)
  results = {"teacher": bench_model(teacher, teacher_config, mesh, features, args)}
  student = loop.build(student_config, 1000, mesh)
  results["student"] = bench_model(student, student_config, mesh, features, args)
  ratio = results["student"]["throughput"]["windows_per_s"] / results["teacher"]["throughput"]["windows_per_s"]
  return dict(models=results, student_over_teacher_throughput=ratio, target_ratio=TARGET_RATIO,
              student_over_teacher_latency=(results["teacher"]["latency_batch1_ms"]["median"]
                                            / results["student"]["latency_batch1_ms"]["median"]))


def markdown(report: dict) -> str:
  lines = markdown_header(report, "Inference: teacher vs student") + [
           "| model | params (total / EEG encoder) | MFLOP per window | latency batch 1 (ms, median) | "
           "windows/s at large batch | checkpoint MB |", "|---|---|---|---|---|---|"]
  for name, m in report["models"].items():
    lines.append(f"| {name} | {m['params']['total'] / 1e6:.1f} M / {m['params']['eeg_encoder'] / 1e6:.1f} M | "
                 f"{m['flops_per_window'] / 1e6:.0f} | {m['latency_batch1_ms']['median']:.2f} | "
                 f"{m['throughput']['windows_per_s']:.0f} (batch {m['throughput']['batch']}) | "
                 f"{m['checkpoint_bytes'] / 2**20:.1f} |")
  lines += ["", f"Student/teacher throughput: {report['student_over_teacher_throughput']:.2f}x "
                f"(target >= {report['target_ratio']}x); latency: {report['student_over_teacher_latency']:.2f}x."]
  return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true", help="fewer calls, large batch 256")
  parser.add_argument("--large-batch", type=int, default=None, help="default 1024 (CPU), 8192 (GPU)")
  parser.add_argument("--latency-calls", type=int, default=50)
  parser.add_argument("--throughput-calls", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--out", type=Path, default=None)
  _workload.add_model_flags(parser)
  args = parser.parse_args(argv)
  if args.quick:
    args.large_batch, args.latency_calls, args.throughput_calls = args.large_batch or 256, 20, 5
  args.large_batch = args.large_batch or (8192 if _workload.on_gpu() else 1024)
  return args


def main(argv: list[str]) -> None:
  args = parse_args(argv)
  load_start = os.getloadavg()[0]
  report = run(args)
  report = dict(benchmark="inference", environment=_env.environment(
      jax, np, device=device_name(), load_average_1min_at_start=load_start),
      settings=dict(model=args.model, large_batch=args.large_batch, dtype=_workload.compute_dtype(args.dtype),
                    quick=args.quick), **report)
  write_report(report, report_path("inference", args.quick, args.out), markdown)


if __name__ == "__main__":
  host_memory.retain_freed_memory()  # before JAX starts its backend
  main(sys.argv[1:])
