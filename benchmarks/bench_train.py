"""Train-step throughput: JAX (jit) vs PyTorch eager vs torch.compile, teacher and student.

  python benchmarks/bench_train.py [--quick] [--batch-sizes 32 256] [--steps 20] [--no-compile] [--jax-only]

Paper-sized models (CHB-MIT windows, 23 x 256): the teacher's text tower is
BERT-base with random weights (`checkpoint="random"`, every parameter
trained), the student distils from the frozen teacher (its initial weights). Both frameworks start
from the same weights (the JAX model's, copied by
`torch_reference.load_nnx_state`) and run AdamW on the same parameters.
Roles: `teacher`, `student` (the online step: the frozen teacher runs on
every batch) and `student_cached` (the step training uses, with the teacher's
logits of the batch precomputed, `train/teacher_cache.py`). The two student
steps are timed side by side against the same PyTorch twins, which recompute
the teacher: `student`'s JAX/PyTorch ratios are like-for-like,
`student_cached`'s include the algorithmic gain, and its `jax_over_jax_online`
is the cached over the online JAX step (`student_cached` brings `student`).
float32 on CPU, bfloat16 compute on GPU (JAX `compute_dtype`, torch autocast;
`--dtype` forces either). After the warm-up steps (compilation included), the
timed steps alternate between the frameworks in `--rounds` blocks, so a drift
of the machine's speed hits all of them alike; each ends with
`block_until_ready` / `torch.cuda.synchronize`. Loader windows/s from
`bench_loader` are reported beside, for the same batch sizes.
MFU: XLA's FLOP count of the step over the median step time and the device's
dense bf16 peak (`jclip_eeg.flops.PEAK_TFLOPS`, or `--peak-tflops`). Each JAX
row also keeps the loss of its first step (`first_step_loss`: the same
weights and batch for any --attention, so runs compare for parity) and, on a
GPU, the device's peak memory so far (`device_peak_bytes`).

Writes benchmarks/results/train_<device>.json and .md, rewritten after each
(role, batch size) with "complete": false until the last one is in, so a run
cut short keeps what it measured and says so.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# Both frameworks share one GPU: JAX must not reserve 75 % of its memory up front.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402  pylint: disable=wrong-import-position
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx

import _env
import _workload
import bench_loader
import torch_reference as tr
from jclip_eeg import host_memory, sharding
from jclip_eeg.flops import compiled_flops, peak_tflops
from jclip_eeg.runs import inference
from jclip_eeg.train import loop, steps, teacher_cache

RESULTS = Path(__file__).resolve().parent / "results"
STUDENT_ROLES = ("student", "student_cached")  # timed side by side: the online step first


def device_name() -> str:
  """"cpu" or the GPU's kind, e.g. "NVIDIA H100 80GB HBM3"."""
  return jax.devices()[0].device_kind if _workload.on_gpu() else "cpu"


def report_path(name: str, quick: bool, out: Path | None) -> Path:
  """`out`, or results/<name>_<device>[_quick].json."""
  device = device_name().replace(" ", "_").lower()
  return out or RESULTS / f"{name}_{device}{'_quick' if quick else ''}.json"


def write_report(report: dict, path: Path, to_markdown: Callable[[dict], str], *, echo: bool = True) -> None:
  """`report` as JSON at `path` and markdown beside it, each replaced atomically; prints the markdown."""
  path.parent.mkdir(parents=True, exist_ok=True)
  for target, text in ((path, json.dumps(report, indent=1)), (path.with_suffix(".md"), to_markdown(report))):
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text)
    partial.replace(target)
  if echo:
    print(to_markdown(report))


def time_interleaved(steps_by_name: dict[str, Callable[[], None]], n: int, rounds: int) -> dict[str, list[float]]:
  """Seconds of `n` steps of each function, taken in `rounds` blocks that alternate between them.

  A slow drift of the machine (other jobs, clocks) then hits every framework
  alike, so their ratio holds even where absolute rates move between runs.
  Each step must block until its work is done; warm up before calling this.
  """
  blocks = [n // rounds + (k < n % rounds) for k in range(rounds)]
  times: dict[str, list[float]] = {name: [] for name in steps_by_name}
  for block in blocks:
    for name, step in steps_by_name.items():
      for _ in range(block):
        start = time.perf_counter()
        step()
        times[name].append(time.perf_counter() - start)
  return times


def summarize(times: list[float], batch_size: int) -> dict[str, float]:
  median = statistics.median(times)
  return dict(median_s=median, min_s=min(times), max_s=max(times), steps=len(times),
              samples_per_s=batch_size / median)


class JaxRun:
  """One role's train step on a fixed batch (`compile`, then `step`); keeps the model's arrays for the torch twin.

  role "student_cached": the student step with the teacher's logits of the batch precomputed, as the
  teacher-logit cache gives them.
  """

  def __init__(self, config, teacher: JaxRun | None = None, role: str | None = None):
    self.config = config
    self.role = role or config.model.role
    self.mesh = sharding.make_mesh()
    built = loop.build(self.config, 1000, self.mesh)
    self.built = built
    self.arrays = tr.nnx_arrays(nnx.merge(built.graphdef, built.state.params, built.state.rest))
    batch = _workload.random_batch(config, config.train.batch_size)
    if self.role == "teacher":
      self.step_fn = steps.make_teacher_step(built.graphdef, built.tx, self.config, self.mesh)
      # A copy (the timed steps donate the state): students distil from the initial teacher, as the PyTorch
      # twins do, so a student's first-step loss depends on the seeds alone and compares across runs.
      self.initial_weights = jax.tree.map(jnp.copy, (built.state.params, built.state.rest))
    else:
      weights = teacher.initial_weights
      features = inference.class_text_features(weights, graphdef=teacher.built.graphdef, mesh=self.mesh)
      if self.role == "student_cached":
        x = sharding.shard_batch(batch, self.mesh)["x"]
        batch["teacher_logits"] = np.asarray(teacher_cache.batch_logits(
            weights, x, features, graphdef=teacher.built.graphdef, mode=config.model.prediction, mesh=self.mesh))
        self.step_fn = steps.make_cached_student_step(built.graphdef, built.tx, self.config, self.mesh, features)
      else:
        self.step_fn = steps.make_student_step(built.graphdef, built.tx, self.config, self.mesh,
                                               teacher.built.graphdef, weights, features)
    self.batch = sharding.shard_batch(batch, self.mesh)
    self.state = built.state
    self.first_step_loss: float | None = None

  def compile(self) -> dict[str, float | None]:
    """Compiles the step once, ahead of time; XLA's FLOPs and memory plan (bytes) of one step, and the seconds
    lowering and compiling took.

    The memory plan is arguments + outputs - donated (aliased) + temporaries:
    what the step needs on the device, read off the executable.
    """
    started = time.perf_counter()
    self.compiled = self.step_fn.lower(self.state, self.batch).compile()
    seconds = time.perf_counter() - started
    memory = self.compiled.memory_analysis()
    return dict(flops=compiled_flops(self.compiled), seconds=seconds,
                bytes=memory.argument_size_in_bytes + memory.output_size_in_bytes - memory.alias_size_in_bytes
                + memory.temp_size_in_bytes if memory else None)

  def step(self) -> None:
    self.state, metrics = self.compiled(self.state, self.batch, *self.step_fn.constants)
    jax.block_until_ready(metrics)
    if self.first_step_loss is None:
      self.first_step_loss = float(metrics["loss"])


def trainable_names(run: JaxRun) -> set[str]:
  """torch names of the JAX run's trainable parameters."""
  return {tr.torch_name(path) for path, _ in nnx.to_flat_state(run.built.state.params)}


class TorchRun:
  """The same step in PyTorch (eager or torch.compile'd forward + loss)."""

  def __init__(self, run: JaxRun, device: torch.device, teacher: TorchRun | None = None, compile_: bool = False):
    config = self.config = run.config
    n_sentences = run.arrays[("input_ids",)].shape[0] if config.model.role == "teacher" else 0
    self.model = tr.build_model(config, n_sentences)
    tr.load_nnx_state(self.model, run.arrays)
    self.model.to(device).train()
    names = trainable_names(run)
    for name, p in self.model.named_parameters():
      p.requires_grad_(name in names)
    opt = config.optimizer
    self.optimizer = torch.optim.AdamW([p for p in self.model.parameters() if p.requires_grad],
                                       lr=opt.learning_rate, betas=(opt.b1, opt.b2), eps=opt.eps,
                                       weight_decay=opt.weight_decay)
    batch = _workload.random_batch(config, config.train.batch_size)
    self.x = torch.from_numpy(batch["x"]).to(device)
    self.y = torch.from_numpy(batch["y"]).long().to(device)
    self.device = device
    self.teacher = teacher
    if teacher is not None:
      teacher.model.eval()
      with torch.no_grad():
        self.features = teacher.model.encode_text()
    # Plain Python values: torch.compile guards on ConfigDict attribute reads would not hold.
    self.alpha, self.mode = float(config.train.alpha), str(config.model.prediction)
    self.temperature = float(config.train.get("temperature", 1.0))
    self.bfloat16 = config.model.compute_dtype == "bfloat16"
    self.loss_fn = torch.compile(self.loss) if compile_ else self.loss

  def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bfloat16):
      if self.teacher is None:
        return tr.teacher_loss(self.model(x), y, self.alpha)
      with torch.no_grad():
        target = tr.prediction_logits(self.teacher.model(x, self.features), self.mode)
      logits = tr.prediction_logits(self.model(x, self.features), self.mode)
      return tr.distillation_loss(logits.float(), target.float(), y, self.alpha, self.temperature)

  def step(self) -> None:
    self.optimizer.zero_grad(set_to_none=True)
    self.loss_fn(self.x, self.y).backward()
    self.optimizer.step()
    if self.device.type == "cuda":
      torch.cuda.synchronize()


def torch_peak_bytes(device: torch.device) -> int | None:
  """Peak CUDA bytes allocated by torch since the last call (None on CPU)."""
  if device.type != "cuda":
    return None
  peak = torch.cuda.max_memory_allocated()
  torch.cuda.reset_peak_memory_stats()
  return peak


def loader_rate(batch_size: int, n_channels: int, n_times: int) -> float:
  """Median windows/s of the training loader (bench_loader, in-process reads) at `batch_size`."""
  with tempfile.TemporaryDirectory() as tmp:
    store = bench_loader.make_store(Path(tmp) / "store", n_windows=max(4096, 8 * batch_size),
                                    n_channels=n_channels, n_times=n_times)
    rates = bench_loader.bench_loader(store, batch_size=batch_size, worker_count=0, warmup_batches=5,
                                      repeats=3, windows_per_repeat=20 * batch_size)
  return bench_loader.summary(rates)["median"]


def warm_up(name: str, step: Callable[[], None], warmup: int, device: torch.device) -> dict:
  """Runs `warmup` untimed steps (compilation included); their wall time, and for torch eager its peak memory.

  (torch.compile's peak would include the eager twin's resident model and optimiser state, so it is not kept.)
  """
  torch_peak_bytes(device)  # resets the peak
  start = time.perf_counter()
  for _ in range(warmup):
    step()
  row = dict(framework=name, warmup_s=time.perf_counter() - start)
  if name == "torch_eager":
    row["memory_bytes"] = torch_peak_bytes(device)
  return row


def device_peak_bytes() -> int | None:
  """The JAX device's peak memory in use since the process started (GPU); None where the backend keeps none."""
  stats = jax.devices()[0].memory_stats()
  return (stats or {}).get("peak_bytes_in_use")


def torch_rows(run: JaxRun, torch_run: TorchRun, args, device: torch.device) -> tuple[dict, dict]:
  """(rows, steps) of torch eager and (optionally) torch.compile, warmed up, for the twin of `run`."""
  steps_by_name = {"torch_eager": torch_run.step}
  rows = {"torch_eager": warm_up("torch_eager", torch_run.step, args.warmup, device)}
  if args.compile:
    try:
      compiled = TorchRun(run, device, teacher=torch_run.teacher, compile_=True)
      rows["torch_compile"] = warm_up("torch_compile", compiled.step, args.warmup, device)  # compiles
      steps_by_name["torch_compile"] = compiled.step
    except Exception as error:  # pylint: disable=broad-except  # any inductor failure is a result here
      print(f"  torch_compile  failed: {type(error).__name__}: {error}", flush=True)
      rows["torch_compile"] = dict(framework="torch_compile", error=f"{type(error).__name__}: {str(error)[:500]}")
  return rows, steps_by_name


def bench_roles(runs: dict[str, JaxRun], torch_run: TorchRun | None, args, device: torch.device) -> list[dict]:
  """One result per JAX run (role -> run, the online one first) of one batch size: its JAX row, then the rows of
  the PyTorch twin of the first run (eager, optionally compiled; none with --jax-only), all timed interleaved."""
  online = next(iter(runs.values()))
  batch_size = online.config.train.batch_size
  print(f"{' + '.join(runs)} batch {batch_size}", flush=True)
  xla = {role: run.compile() for role, run in runs.items()}
  rows = {role: warm_up("jax", run.step, args.warmup, device) for role, run in runs.items()}
  for role, run in runs.items():
    rows[role].update(memory_bytes=xla[role]["bytes"], compile_s=xla[role]["seconds"],
                      first_step_loss=run.first_step_loss)
  steps_by_name = {role: run.step for role, run in runs.items()}
  if torch_run is not None:
    twin_rows, twin_steps = torch_rows(online, torch_run, args, device)
    rows |= twin_rows
    steps_by_name |= twin_steps
  times = time_interleaved(steps_by_name, args.steps, args.rounds)
  peak = peak_tflops(args.peak_tflops)
  for name, row in rows.items():
    if name in times:
      row.update(summarize(times[name], batch_size))
      print(f"  {name:14s} {row['samples_per_s']:9.1f} samples/s  median {row['median_s'] * 1e3:8.1f} ms", flush=True)
      flops = xla[name if name in runs else next(iter(runs))]["flops"]  # the twins do the online run's work
      if flops and peak:
        row["mfu"] = flops / row["median_s"] / (peak * 1e12)
  common = dict(batch_size=batch_size, peak_tflops=peak, jax_device_peak_bytes=device_peak_bytes(),
                loader_windows_per_s=loader_rate(batch_size, online.config.data.n_channels, online.config.data.n_times))
  results = []
  for role in runs:
    twins = [dict(row) for name, row in rows.items() if name not in runs]
    result = dict(role=role, xla_flops_per_step=xla[role]["flops"], rows=[rows[role], *twins], **common)
    for twin in twins:
      if "samples_per_s" in twin:
        result[f"jax_over_{twin['framework']}"] = rows[role]["samples_per_s"] / twin["samples_per_s"]
    if role == "student_cached":
      result["jax_over_jax_online"] = rows[role]["samples_per_s"] / rows["student"]["samples_per_s"]
    results.append(result)
  return results


def bench_batch_size(configs: dict, batch_size: int, args, device: torch.device) -> Iterator[dict]:
  """The teacher's result (the teacher is always built: the student distils from it), then the students'."""
  teacher = JaxRun(_workload.with_batch(configs["teacher"], batch_size))
  torch_teacher = None if args.jax_only else TorchRun(teacher, device)
  if "teacher" in args.roles:
    yield from bench_roles({"teacher": teacher}, torch_teacher, args, device)
  if torch_teacher is not None:
    torch_teacher.optimizer = None  # the student needs the frozen teacher model only: free its AdamW moments
  students = [role for role in STUDENT_ROLES if role in args.roles]
  if students:
    config = _workload.with_batch(configs["student"], batch_size)
    runs = {role: JaxRun(config, teacher=teacher, role=role) for role in students}
    torch_student = None if torch_teacher is None else TorchRun(runs["student"], device, teacher=torch_teacher)
    yield from bench_roles(runs, torch_student, args, device)


def markdown_header(report: dict, title: str) -> list[str]:
  """Title and the environment line (date, versions, CPU, load average) of a results markdown."""
  env = report["environment"]
  versions = ", ".join(f"{m} {env[m]}" for m in ("jax", "torch") if m in env)
  partial = [] if report.get("complete", True) else ["**Partial: the run stopped before its last measurement.**", ""]
  return [f"# {title} ({env['device']})", "", *partial,
          f"{env['date']}, {versions}, {env['cpu']} x {env['cpu_count']}, load average "
          f"{env['load_average_1min_at_start']:.1f} (start) / {env['load_average_1min_at_end']:.1f} (end); "
          + ", ".join(f"{key} {value}" for key, value in report["settings"].items())
          + "".join(f"; {name}={value}" for name, value in env.get("variables", {}).items())
          + f"; malloc: {env['malloc']}", ""]


def markdown(report: dict) -> str:
  lines = markdown_header(report, "Train-step throughput") + [
           "| role | batch | framework | samples/s | median ms | min-max ms | steps | MFU | memory MB |"
           " JAX/framework | loader windows/s |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
  for res in report["results"]:
    jax_rate = res["rows"][0]["samples_per_s"]
    for row in res["rows"]:
      if "error" in row:
        lines.append(f"| {res['role']} | {res['batch_size']} | {row['framework']} | failed: {row['error'][:80]} "
                     "| | | | | | | |")
        continue
      mfu = f"{row['mfu']:.1%}" if row.get("mfu") else "-"
      memory_mb = f"{row['memory_bytes'] / 2**20:.0f}" if row.get("memory_bytes") else "-"
      lines.append(f"| {res['role']} | {res['batch_size']} | {row['framework']} | {row['samples_per_s']:.1f} | "
                   f"{row['median_s'] * 1e3:.1f} | {row['min_s'] * 1e3:.1f}-{row['max_s'] * 1e3:.1f} | "
                   f"{row['steps']} | {mfu} | {memory_mb} | {jax_rate / row['samples_per_s']:.2f} | "
                   f"{res['loader_windows_per_s']:.0f} |")
  peaks = {res["peak_tflops"] for res in report["results"] if res.get("peak_tflops")}
  lines += ["", "Memory: JAX, XLA's plan of the compiled step (arguments + outputs - donated + temporaries); "
            "torch eager, torch.cuda.max_memory_allocated over its warm-up steps (GPU only)."]
  device_peaks = [f"{res['jax_device_peak_bytes'] / 2**20:.0f} MB after batch {res['batch_size']}"
                  for res in report["results"] if res.get("jax_device_peak_bytes") and res["role"] != "student_cached"]
  if device_peaks:
    lines.append(f"JAX device peak memory in use (the process's running peak): {', '.join(device_peaks)}.")
  if peaks:
    lines.append(f"MFU: XLA's FLOP count of the step / median step time / {', '.join(map(str, peaks))} TFLOP/s.")
  lines += cached_lines(report["results"])
  return "\n".join(lines) + "\n"


def cached_lines(results: list[dict]) -> list[str]:
  """What the student_cached rows mean, and its cached / online JAX ratio per batch size."""
  cached = [res for res in results if res["role"] == "student_cached"]
  if not cached:
    return []
  ratios = ", ".join(f"batch {res['batch_size']} {res['jax_over_jax_online']:.2f}x" for res in cached)
  return ["", "student_cached: the JAX student step with the teacher's logits of the batch precomputed (the "
          "teacher-logit cache training uses); the PyTorch twins recompute the teacher, so its JAX/PyTorch ratios "
          "include that algorithmic gain, and the like-for-like comparison with PyTorch is the student row. "
          f"Cached / online JAX step, same interleaved timing: {ratios}."]


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--quick", action="store_true",
                      help="batch 32, 1 warm-up + 5 timed steps, no torch.compile (< 3 min on 2 cores)")
  parser.add_argument("--batch-sizes", type=int, nargs="+", default=None,
                      help="default 32 256 (CPU), 32 256 1024 (GPU)")
  parser.add_argument("--roles", nargs="+", default=["teacher", *STUDENT_ROLES], choices=["teacher", *STUDENT_ROLES],
                      help="student_cached is timed beside student (its baseline), which it brings along")
  parser.add_argument("--steps", type=int, default=20, help="timed steps (>= 20 for reported numbers)")
  parser.add_argument("--warmup", type=int, default=3)
  parser.add_argument("--rounds", type=int, default=4,
                      help="the timed steps alternate between the frameworks in this many blocks")
  parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
  parser.add_argument("--jax-only", action="store_true", help="no PyTorch rows (e.g. a large batch for MFU)")
  parser.add_argument("--peak-tflops", type=float, default=None,
                      help="device peak for MFU (default: dense bf16 peak of a known GPU; none on CPU)")
  parser.add_argument("--out", type=Path, default=None, help="JSON path (default results/train_<device>.json)")
  _workload.add_model_flags(parser)
  args = parser.parse_args(argv)
  if args.quick:
    args.batch_sizes, args.steps, args.warmup, args.compile = args.batch_sizes or [32], 5, 1, False
  args.batch_sizes = args.batch_sizes or ([32, 256, 1024, 4096] if _workload.on_gpu() else [32, 256])
  if "student_cached" in args.roles and "student" not in args.roles:
    args.roles.append("student")
  return args


def main(argv: list[str]) -> None:
  args = parse_args(argv)
  device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
  load_start = os.getloadavg()[0]
  configs = _workload.model_configs(args)
  path = report_path("train", args.quick, args.out)
  model, data = configs["teacher"].model, configs["teacher"].data
  text = model.text.checkpoint + (f" ({model.text.arch})" if model.text.checkpoint == "random" else "")
  report = dict(benchmark="train_step", complete=False, results=[], settings=dict(
      model=args.model, dtype=model.compute_dtype, steps=args.steps, rounds=args.rounds, warmup=args.warmup,
      text=f"{text}, trainable {model.text.trainable}", data=f"{data.dataset} {data.n_channels} x {data.n_times}",
      attention=model.eeg.attention, quick=args.quick))
  for batch_size in args.batch_sizes:
    for result in bench_batch_size(configs, batch_size, args, device):
      report["results"].append(result)
      report["environment"] = _env.environment(jax, torch, np, device=device_name(), jax_backend=jax.default_backend(),
                                               torch_threads=torch.get_num_threads(),
                                               load_average_1min_at_start=load_start)
      write_report(report, path, markdown, echo=False)
  report["complete"] = True
  write_report(report, path, markdown)


if __name__ == "__main__":
  host_memory.retain_freed_memory()  # before JAX starts its backend
  main(sys.argv[1:])
