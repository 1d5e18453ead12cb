"""Data-parallel scaling of the teacher and student train steps, plus a paper estimate for 8 and 64 GPUs.

Measured part: for 1, 2, 4, 8 devices, each count in its own subprocess
(`XLA_FLAGS=--xla_force_host_platform_device_count=N` on CPU; on a GPU host
the first N real GPUs), the project's `steps.make_teacher_step` /
`make_student_step` on `sharding.make_mesh(devices[:N])`:
  * strong scaling: a fixed global batch split over N devices;
  * weak scaling: a fixed per-device batch (global batch = N * per-device batch).
Warm-up steps (the first includes compilation) are excluded; each timed step
is synchronised (`block_until_ready`). Reported: median and min/max step time,
samples/s in total and per device, scaling efficiency
throughput(N) / (N * throughput(1)), and whether the loss of step 1 (same
initial weights, same global batch, same dropout draws) is the same on N
devices as on 1, within float32 reduction-order tolerance.

Simulated CPU devices all share the same CPU cores (2 on the CI machine): their
"scaling" measures the overhead of partitioning and collectives, not a
speed-up. Ideal there is total samples/s constant (efficiency 1/N).

Estimated part (no GPU needed): the gradient all-reduce time against the
step time for 8 GPUs (one node, NVLink) and 64 GPUs (8 nodes, InfiniBand),
for the paper-shaped teacher (bert-base text tower, everything trainable) and
student. Gradient bytes = trainable parameters * 4 (float32 gradients of the
float32 master weights). Ring all-reduce:
  t = 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency.
Step compute time = XLA's FLOP count of the per-GPU step (`Lowered.cost_analysis`,
the text tower is replicated, so it runs on every GPU) / an assumed achieved
FLOP rate. Backward is about 2/3 of the step; XLA/NCCL can overlap the
all-reduce of early-finished gradient buckets with the rest of the backward
pass, so the all-reduce is counted as hidden when it fits in that 2/3.

  python benchmarks/bench_scaling.py [--quick] [--model demo|paper] [--out benchmarks/results/scaling.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _env
from _workload import ROLES, add_model_flags, model_configs, model_flags, random_batch, with_batch
from jclip_eeg import host_memory

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
_DEFAULT_OUT = HERE / "results" / "scaling.json"
# float32 sums in another order (per-device partial sums, then an all-reduce) move the loss by ~1e-7.
LOSS_RTOL = 1e-5


# ============================================================================= paper estimate


@dataclasses.dataclass(frozen=True)
class Interconnect:
  """A ring all-reduce setting: per-GPU bandwidth (bytes/s, one direction) and per-hop latency (s)."""
  name: str
  n_gpus: int
  bandwidth: float
  latency: float


# NVLink 4 (H100 SXM): 900 GB/s bidirectional = 450 GB/s per direction per GPU inside a node.
# InfiniBand NDR: 400 Gb/s = 50 GB/s per GPU (one NIC per GPU, rail-optimised) across nodes.
# Latencies are typical NCCL per-hop small-message figures (order of magnitude, assumed).
INTERCONNECTS = (
    Interconnect("8 GPUs, 1 node, NVLink 4", 8, 450e9, 5e-6),
    Interconnect("64 GPUs, 8 nodes, InfiniBand NDR", 64, 50e9, 10e-6),
)
# H100 SXM dense bf16 peak; the MFU target (40 %) as the achieved fraction.
PEAK_FLOPS = 989e12
ASSUMED_MFU = 0.40
BACKWARD_FRACTION = 2 / 3


def ring_allreduce_seconds(n_bytes: float, n_devices: int, bandwidth: float, latency: float) -> float:
  """Ring all-reduce time: 2 (N - 1) / N * bytes / bandwidth + 2 (N - 1) * latency (0 for one device)."""
  if n_devices < 1 or bandwidth <= 0:
    raise ValueError(f"need n_devices >= 1 and bandwidth > 0, got {n_devices}, {bandwidth}")
  steps = 2 * (n_devices - 1)
  return steps / n_devices * n_bytes / bandwidth + steps * latency


def allreduce_estimate(trainable_params: int, step_flops: float, link: Interconnect, *,
                       achieved_flops: float = PEAK_FLOPS * ASSUMED_MFU) -> dict[str, Any]:
  """One row of the paper estimate: all-reduce vs compute time of one data-parallel step.

  Args:
    trainable_params: number of trainable parameters (float32 gradients are all-reduced).
    step_flops: FLOPs of one step on one GPU (its share of the batch).
    link: the interconnect.
    achieved_flops: assumed FLOP/s one GPU sustains.
  """
  n_bytes = 4 * trainable_params
  allreduce = ring_allreduce_seconds(n_bytes, link.n_gpus, link.bandwidth, link.latency)
  compute = step_flops / achieved_flops
  backward = BACKWARD_FRACTION * compute
  return dict(interconnect=link.name, n_gpus=link.n_gpus, gradient_mb=n_bytes / 1e6,
              allreduce_ms=1e3 * allreduce, compute_ms=1e3 * compute,
              allreduce_fraction_no_overlap=allreduce / (allreduce + compute),
              exposed_ms_with_overlap=1e3 * max(0.0, allreduce - backward),
              hidden_by_overlap=allreduce <= backward)


def scaling_efficiency(samples_per_s: float, n_devices: int, one_device_samples_per_s: float) -> float:
  """throughput(N) / (N * throughput(1)): 1.0 is linear speed-up."""
  return samples_per_s / (n_devices * one_device_samples_per_s)


def losses_agree(losses: dict[int, float], rtol: float = LOSS_RTOL) -> dict[str, Any]:
  """Step-1 losses by device count vs the 1-device loss: the largest relative difference and a verdict."""
  if 1 not in losses:
    raise ValueError(f"need the 1-device loss, got device counts {sorted(losses)}")
  ref = losses[1]
  worst = max(abs(value - ref) / max(abs(ref), 1e-30) for value in losses.values())
  return dict(reference=ref, max_relative_difference=worst, rtol=rtol, identical=bool(worst <= rtol))


# ============================================================================= measured part (worker side)


def make_step(configs: dict[str, Any], role: str, mesh: Any) -> tuple[Any, Any]:
  """(loop.Built, step) of `role` on `mesh`, seed config.train.seed; the student's teacher is freshly built."""
  from jclip_eeg.runs import inference
  from jclip_eeg.train import loop, steps
  built = loop.build(configs[role], 1, mesh)
  if role == "teacher":
    return built, steps.make_teacher_step(built.graphdef, built.tx, configs[role], mesh)
  teacher = loop.build(with_batch(configs["teacher"], configs[role].train.batch_size), 1, mesh)
  weights = (teacher.state.params, teacher.state.rest)
  features = inference.class_text_features(weights, graphdef=teacher.graphdef, mesh=mesh)
  step = steps.make_student_step(built.graphdef, built.tx, configs[role], mesh, teacher.graphdef, weights,
                                 features)
  return built, step


def time_steps(configs: dict[str, Any], role: str, n_devices: int, batch_size: int, *, warmup: int,
               timed: int) -> dict[str, Any]:
  """Step times (s) of `role` at global `batch_size` on the first `n_devices` devices, and the step-1 loss."""
  import jax
  from jclip_eeg import sharding
  mesh = sharding.make_mesh(jax.devices()[:n_devices])
  configs = {name: with_batch(config, batch_size) for name, config in configs.items()}
  built, step = make_step(configs, role, mesh)
  state = built.state
  batch = sharding.shard_batch(random_batch(configs[role], batch_size), mesh)
  times, first_loss = [], None
  for k in range(warmup + timed):
    start = time.perf_counter()
    state, metrics = step(state, batch)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
    if k == 0:
      first_loss = float(metrics["loss"])
  return dict(role=role, n_devices=n_devices, global_batch=batch_size, per_device_batch=batch_size // n_devices,
              loss_step1=first_loss, compile_and_first_step_s=times[0], step_s=times[warmup:])


def worker(args: argparse.Namespace) -> None:
  """Measures every (role, batch) in args for each of args.worker device counts; writes JSON to args.worker_out."""
  import jax
  configs = model_configs(args)
  rows = []
  for n in args.worker:
    if n > jax.device_count():
      rows.append(dict(n_devices=n, skipped=f"only {jax.device_count()} devices"))
      continue
    for role in args.roles:
      for mode, batch in (("strong", args.batch), ("weak", args.per_device_batch * n)):
        if batch:
          rows.append(dict(mode=mode, **time_steps(configs, role, n, batch, warmup=args.warmup, timed=args.steps)))
  device = jax.devices()[0]
  out = dict(rows=rows, platform=device.platform, device_kind=device.device_kind, simulated=device.platform == "cpu")
  Path(args.worker_out).write_text(json.dumps(out))


def estimate_worker(args: argparse.Namespace) -> None:
  """Trainable parameters and per-GPU step FLOPs of the paper-shaped models; writes JSON to args.worker_out."""
  import jax
  from jclip_eeg import sharding
  configs = model_configs(argparse.Namespace(**{**vars(args), "model": "paper"}))
  mesh = sharding.make_mesh(jax.devices()[:1])
  rows = []
  for role in ROLES:
    built, step = make_step(configs, role, mesh)
    # The step is retraced per batch shape; config.train.batch_size only guards divisibility.
    flops = {batch: float(step.lower(built.state, sharding.shard_batch(random_batch(configs[role], batch), mesh))
                          .cost_analysis()["flops"]) for batch in args.estimate_batches}
    rows.append(dict(role=role, trainable_params=built.params["trainable"], flops_per_step=flops))
  Path(args.worker_out).write_text(json.dumps(rows))


# ============================================================================= parent side (no JAX backend)


def run_worker(flags: list[str], n_devices: int, timeout: float) -> Any:
  """Runs this script with `flags` in a subprocess that sees `n_devices` simulated CPU devices; its JSON."""
  with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp) / "out.json"
    xla_flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={n_devices}".strip()
    path = os.pathsep.join(filter(None, [str(REPO), str(HERE), os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, XLA_FLAGS=xla_flags, PYTHONPATH=path)
    subprocess.run([sys.executable, str(Path(__file__).resolve()), *flags, "--worker-out", str(out)], env=env,
                   check=True, timeout=timeout)
    return json.loads(out.read_text())


def summarize(row: dict[str, Any]) -> dict[str, Any]:
  """Adds median/min/max step time and samples/s (total, per device) to a worker row."""
  median = statistics.median(row["step_s"])
  return dict(row, step_ms_median=1e3 * median, step_ms_min=1e3 * min(row["step_s"]),
              step_ms_max=1e3 * max(row["step_s"]), samples_per_s=row["global_batch"] / median,
              samples_per_s_per_device=row["global_batch"] / median / row["n_devices"])


def add_efficiency(rows: list[dict[str, Any]]) -> None:
  """Scaling efficiency of each measured row against the 1-device row of the same role and mode."""
  base = {(r["role"], r["mode"]): r["samples_per_s"] for r in rows if r.get("n_devices") == 1 and "mode" in r}
  for r in rows:
    if "mode" in r and (r["role"], r["mode"]) in base:
      r["efficiency"] = scaling_efficiency(r["samples_per_s"], r["n_devices"], base[(r["role"], r["mode"])])


def loss_checks(rows: list[dict[str, Any]]) -> dict[str, Any]:
  """Per role: the strong-scaling (same global batch) step-1 losses by device count, checked against 1 device."""
  checks = {}
  for role in {r["role"] for r in rows if r.get("mode") == "strong"}:
    losses = {r["n_devices"]: r["loss_step1"] for r in rows if r.get("mode") == "strong" and r["role"] == role}
    checks[role] = dict(losses_agree(losses), losses={str(n): v for n, v in sorted(losses.items())})
  return checks


def measure(args: argparse.Namespace) -> tuple[list[dict[str, Any]], dict[str, Any]]:
  rows, device = [], {}
  for n in args.devices:
    flags = ["--worker", str(n), *model_flags(args), "--roles", *args.roles, "--batch", str(args.batch),
             "--per-device-batch", str(args.per_device_batch), "--warmup", str(args.warmup), "--steps", str(args.steps)]
    result = run_worker(flags, n, args.timeout)
    device = {k: result[k] for k in ("platform", "device_kind", "simulated")}
    for row in result["rows"]:
      rows.append(summarize(row) if "step_s" in row else row)
      print_row(rows[-1])
  add_efficiency(rows)
  return rows, device


def estimate(args: argparse.Namespace) -> dict[str, Any]:
  models = run_worker(["--estimate", "--estimate-batches", *map(str, args.estimate_batches), *model_flags(args)],
                      1, args.timeout)
  rows = [dict(role=m["role"], trainable_params=m["trainable_params"], per_gpu_batch=int(batch),
               step_gflops=flops / 1e9, **allreduce_estimate(m["trainable_params"], flops, link))
          for m in models for batch, flops in m["flops_per_step"].items() for link in INTERCONNECTS]
  assumptions = dict(
      gradient_dtype="float32 (4 bytes per trainable parameter)",
      allreduce="ring: 2(N-1)/N * bytes / bandwidth + 2(N-1) * latency",
      interconnects=[dataclasses.asdict(link) for link in INTERCONNECTS],
      achieved_flops_per_gpu=PEAK_FLOPS * ASSUMED_MFU,
      achieved_flops_basis=f"H100 SXM dense bf16 peak {PEAK_FLOPS / 1e12:.0f} TFLOP/s x assumed MFU {ASSUMED_MFU}",
      step_flops="XLA cost analysis (jit(...).lower(...).cost_analysis()['flops']) of the one-device step "
                 "in the compute dtype of --dtype",
      overlap=f"hidden if all-reduce <= backward ~ {BACKWARD_FRACTION:.2f} of the step compute",
      models="paper CHB-MIT shape (23 x 256): teacher 8-layer Conformer + bert-base text tower, all trainable; "
             "student 4-layer Conformer (no text tower)")
  for row in rows:
    print(f"{row['role']:>8} {row['per_gpu_batch']:>6} {row['n_gpus']:>5} {row['gradient_mb']:>8.0f} "
          f"{row['allreduce_ms']:>9.2f} {row['compute_ms']:>9.2f} {row['allreduce_fraction_no_overlap']:>8.0%} "
          f"{'yes' if row['hidden_by_overlap'] else 'no':>7}")
  return dict(assumptions=assumptions, rows=rows)


def print_row(row: dict[str, Any]) -> None:
  if "skipped" in row:
    print(f"{row['n_devices']} devices: skipped ({row['skipped']})")
    return
  print(f"{row['role']:>8} {row['mode']:>6} {row['n_devices']:>3} {row['global_batch']:>6} "
        f"{row['step_ms_median']:>9.1f} {row['step_ms_min']:>8.1f} {row['step_ms_max']:>8.1f} "
        f"{row['samples_per_s']:>10.1f} {row['samples_per_s_per_device']:>10.1f} {row['loss_step1']:>12.8f}",
        flush=True)


def markdown(result: dict[str, Any]) -> str:
  env, device = result["environment"], result["device"]
  lines = [f"# Scaling benchmark ({result['model']} model)", "",
           f"{env['date']} · {device['platform']} ({device['device_kind']}) · {env['cpu']} x {env['cpu_count']} · "
           f"jax {env['jax']} · flax {env['flax']} · load average {env['load_average_1min_at_start']:.2f} at start, "
           f"{env['load_average_1min_at_end']:.2f} at end", ""]
  if device["simulated"]:
    lines += ["Simulated CPU devices share the same CPU cores: the numbers measure the overhead of "
              "partitioning and collectives, not a speed-up (ideal: constant total samples/s, efficiency 1/N).", ""]
  lines += ["| role | scaling | devices | global batch | step ms (median) | min | max | samples/s | per device "
            "| efficiency |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
  lines += [f"| {r['role']} | {r['mode']} | {r['n_devices']} | {r['global_batch']} | {r['step_ms_median']:.1f} | "
            f"{r['step_ms_min']:.1f} | {r['step_ms_max']:.1f} | {r['samples_per_s']:.1f} | "
            f"{r['samples_per_s_per_device']:.1f} | {r.get('efficiency', float('nan')):.2f} |"
            for r in result["measured"] if "mode" in r]
  lines += ["", "Step-1 loss, same global batch and initial weights, N devices vs 1:", ""]
  lines += [f"* {role}: max relative difference {c['max_relative_difference']:.2e} "
            f"({'identical' if c['identical'] else 'DIFFERENT'} at rtol {c['rtol']:g}); losses {c['losses']}"
            for role, c in sorted(result["loss_check"].items())]
  if result.get("estimate"):
    est = result["estimate"]
    lines += ["", "## Paper estimate: gradient all-reduce vs step compute", ""]
    lines += [f"* {key}: {value}" for key, value in est["assumptions"].items() if key != "interconnects"]
    lines += [f"* {link['name']}: {link['bandwidth'] / 1e9:.0f} GB/s per GPU, {link['latency'] * 1e6:.0f} us per hop"
              for link in est["assumptions"]["interconnects"]]
    lines += ["", "| role | trainable params | per-GPU batch | GFLOP/step | GPUs | grad MB | all-reduce ms "
              "| compute ms | all-reduce share (no overlap) | exposed ms (overlap) | hidden |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {r['role']} | {r['trainable_params'] / 1e6:.1f} M | {r['per_gpu_batch']} | {r['step_gflops']:.0f} | "
              f"{r['n_gpus']} | {r['gradient_mb']:.0f} | {r['allreduce_ms']:.2f} | {r['compute_ms']:.2f} | "
              f"{r['allreduce_fraction_no_overlap']:.0%} | {r['exposed_ms_with_overlap']:.2f} | "
              f"{'yes' if r['hidden_by_overlap'] else 'no'} |" for r in est["rows"]]
  return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  add_model_flags(parser, default_preset="demo")
  parser.add_argument("--roles", nargs="+", choices=ROLES, default=list(ROLES))
  parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
  parser.add_argument("--batch", type=int, default=64, help="global batch for strong scaling (0 = skip)")
  parser.add_argument("--per-device-batch", type=int, default=32, help="per-device batch for weak scaling (0 = skip)")
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--estimate-batches", type=int, nargs="+", default=[32, 256],
                      help="per-GPU batches of the all-reduce estimate")
  parser.add_argument("--no-estimate", action="store_true")
  parser.add_argument("--quick", action="store_true", help="5 timed steps, estimate at batch 32 only")
  parser.add_argument("--timeout", type=float, default=1800, help="seconds per subprocess")
  parser.add_argument("--out", type=Path, default=_DEFAULT_OUT)
  # Internal: the subprocess sides.
  parser.add_argument("--worker", type=int, nargs="+", help=argparse.SUPPRESS)
  parser.add_argument("--estimate", action="store_true", help=argparse.SUPPRESS)
  parser.add_argument("--worker-out", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.quick:
    args.steps, args.estimate_batches = 5, [32]
  return args


def main(argv: list[str]) -> None:
  args = parse_args(argv)
  if args.worker:
    return worker(args)
  if args.estimate:
    return estimate_worker(args)
  load_at_start = os.getloadavg()[0]
  print(f"{'role':>8} {'mode':>6} {'dev':>3} {'batch':>6} {'step ms':>9} {'min':>8} {'max':>8} "
        f"{'samples/s':>10} {'per dev':>10} {'loss@1':>12}")
  measured, device = measure(args)
  if device["simulated"]:
    print("simulated CPU devices share the same cores: this measures partitioning/collective overhead, not speed-up")
  checks = loss_checks([r for r in measured if "mode" in r])
  for role, check in sorted(checks.items()):
    print(f"{role}: step-1 loss max relative difference vs 1 device {check['max_relative_difference']:.2e} "
          f"({'identical' if check['identical'] else 'DIFFERENT'} at rtol {check['rtol']:g})")
  if not args.no_estimate:
    print(f"{'role':>8} {'batch':>6} {'GPUs':>5} {'grad MB':>8} {'AR ms':>9} {'step ms':>9} {'AR share':>8} "
          f"{'hidden':>7}")
  estimated = None if args.no_estimate else estimate(args)
  import flax
  import jax
  result = dict(benchmark="scaling", model=args.model, device=device,
                environment=_env.environment(jax, flax, load_average_1min_at_start=load_at_start),
                timing=dict(warmup_steps=args.warmup, timed_steps=args.steps), measured=measured,
                loss_check=checks, estimate=estimated)
  args.out.parent.mkdir(parents=True, exist_ok=True)
  args.out.write_text(json.dumps(result, indent=1) + "\n")
  args.out.with_suffix(".md").write_text(markdown(result))
  print(f"wrote {args.out} and {args.out.with_suffix('.md')}")


if __name__ == "__main__":
  host_memory.retain_freed_memory()  # before JAX starts its backend
  main(sys.argv[1:])
