"""The whole student stage's wall time with the teacher's logits online (recomputed every step) vs cached.

  python benchmarks/bench_student_stage.py [--preset demo|paper] [--student-epochs N] [--workdir DIR] [--repeats 1]

A teacher is trained once in `--workdir` (reused when finished there), then
the student stage runs in fresh workdirs with `train.teacher_cache` False (the
online step: the frozen teacher runs on every batch, as before the cache) and
True, alternately, each in its own process (`loop.train_and_evaluate`, what
scripts/train.py runs), so neither reuses the other's compiled programs. The
wall time is the whole stage: loading the split and the teacher, the cache,
compiling, training, the evaluations and the test fold. Presets:
  demo   configs/demo.py (teacher 8 epochs, student 6 epochs at batch 64).
  paper  the CHB-MIT recipe's models and training (configs/chbmit_teacher.py: 8-layer teacher, MiniLM text
         tower, batch 32, lr 1e-5) on the demo's synthetic data: a 1-epoch teacher to distil from (its
         quality does not matter here) and a 4-layer student of --student-epochs epochs.
Teacher forwards: the online stage runs the teacher on every drawn window of
every step (total steps x batch size); the cached stage on each distinct
drawn window once (result.json's `teacher_cache`).

Writes benchmarks/results/student_stage_<preset>_<device>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import ml_collections

import _env
from bench_train import device_name, write_report
from jclip_eeg import config_lib, host_memory

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MODES = {"online": False, "cached": True}


def teacher_and_student(preset: str, data_dir: Path, student_epochs: int | None
                        ) -> tuple[ml_collections.ConfigDict, ml_collections.ConfigDict]:
  """(the teacher's config without a student recipe, the student's config) of a preset (module docstring)."""
  demo = config_lib.load_config_file(REPO / "configs" / "demo.py")
  teacher = ml_collections.ConfigDict(demo.to_dict())
  teacher.data.update(dict(store=str(data_dir / "store"), root=str(data_dir / "raw")))
  if preset == "paper":
    recipe = config_lib.load_config_file(REPO / "configs" / "chbmit_teacher.py")
    for section in ("model", "train", "optimizer"):
      teacher[section] = ml_collections.ConfigDict(recipe[section].to_dict())
    teacher.train.epochs = 1
    student = config_lib.paper_student(teacher)
  else:
    student = config_lib.paper_student(teacher)
    for section in ("model", "train", "optimizer"):
      student[section] = ml_collections.ConfigDict(demo.student[section].to_dict())
  del teacher["student"]
  if student_epochs:
    student.train.epochs = student_epochs
  for config in (teacher, student):
    config.train.progress = False
  return teacher, student


def stage_run(args: argparse.Namespace) -> dict[str, Any]:
  """(worker) Trains one stage of the preset in `args.run_workdir`; its wall time, batch size and result."""
  from jclip_eeg.train import loop  # pylint: disable=import-outside-toplevel  # after the malloc setting
  teacher, student = teacher_and_student(args.preset, args.workdir / "data", args.student_epochs)
  if args.worker == "teacher":
    config = teacher
  else:
    config = student
    config.teacher_workdir = str(args.workdir / "teacher_run")
    config.train.teacher_cache = MODES[args.worker]
  config.lock()
  started = time.perf_counter()
  report = loop.train_and_evaluate(config, args.run_workdir)
  return dict(wall_s=time.perf_counter() - started, batch_size=config.train.batch_size,
              result=report["stages"][config.model.role])


def run_worker(args: argparse.Namespace, worker: str, run_workdir: Path) -> dict[str, Any]:
  """This script in `--worker` mode in a subprocess; its JSON."""
  with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp) / "out.json"
    path = os.pathsep.join(filter(None, [str(REPO), str(HERE), os.environ.get("PYTHONPATH")]))
    flags = ["--preset", args.preset, "--workdir", str(args.workdir), "--worker", worker, "--run-workdir",
             str(run_workdir), "--worker-out", str(out)]
    if args.student_epochs:
      flags += ["--student-epochs", str(args.student_epochs)]
    subprocess.run([sys.executable, str(Path(__file__).resolve()), *flags], env=dict(os.environ, PYTHONPATH=path),
                   check=True)
    return json.loads(out.read_text())


def describe(mode: str, run: dict[str, Any]) -> dict[str, Any]:
  """What the report keeps of one student stage."""
  result, batch = run["result"], run["batch_size"]
  cache = result.get("teacher_cache")
  return dict(mode=mode, wall_s=round(run["wall_s"], 1), total_steps=result["total_steps"], batch_size=batch,
              steps_per_epoch=result["steps_per_epoch"], train_seconds=result["train_seconds_this_run"],
              compile_seconds=result["compile_seconds_this_run"],
              teacher_forwards=cache["windows"] if cache else result["total_steps"] * batch,
              cache_seconds=cache["seconds_this_run"] if cache else 0.0, best_step=result["best_step"],
              test_f1_macro=result["test"]["f1_macro"], test_accuracy=result["test"]["accuracy"])


def markdown(report: dict[str, Any]) -> str:
  env = report["environment"]
  partial = [] if report["complete"] else ["**Partial: the run stopped before its last stage.**", ""]
  lines = [f"# Student stage wall time, teacher online vs cached ({env['device']})", "", *partial,
           f"{env['date']}, jax {env.get('jax', '?')}, {env['cpu']} x {env['cpu_count']}, load average "
           f"{env['load_average_1min_at_start']:.1f} (start) / {env['load_average_1min_at_end']:.1f} (end); preset "
           f"{report['preset']}; malloc: {env['malloc']}", "",
           "| mode | wall s | steps x batch | teacher forwards | cache s | compile s | train + eval s | "
           "best step | test F1 macro | test accuracy |", "|---|---|---|---|---|---|---|---|---|---|"]
  for run in report["runs"]:
    lines.append(f"| {run['mode']} | {run['wall_s']:.1f} | {run['total_steps']} x {run['batch_size']} | "
                 f"{run['teacher_forwards']} | {run['cache_seconds']:.1f} | {run['compile_seconds']:.1f} | "
                 f"{run['train_seconds']:.1f} | {run['best_step']} | {run['test_f1_macro']:.3f} | "
                 f"{run['test_accuracy']:.3f} |")
  forwards = report["teacher_forwards"]
  if "online_over_cached_wall" in report:
    lines += ["", f"Whole stage, online / cached wall time (medians): {report['online_over_cached_wall']:.2f}x; "
              f"teacher forwards {forwards['online']} online vs {forwards['cached']} cached "
              f"({forwards['online'] / forwards['cached']:.1f}x fewer)."]
  lines += ["", "Wall time: the whole stage in its own process (split and teacher loading, cache, compilation, "
            "training, evaluations, test fold); compile s: the train step's; train + eval s: result.json's "
            "train_seconds_this_run (first batch to last checkpoint, compilation included)."]
  return "\n".join(lines) + "\n"


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--preset", choices=("demo", "paper"), default="demo")
  parser.add_argument("--student-epochs", type=int, default=None, help="default: the preset's (demo 6, paper 10)")
  parser.add_argument("--workdir", type=Path, default=None,
                      help="data, the teacher and the student runs (default: a temporary folder)")
  parser.add_argument("--repeats", type=int, default=1, help="online / cached pairs")
  parser.add_argument("--out", type=Path, default=None)
  parser.add_argument("--worker", choices=("teacher", *MODES), help=argparse.SUPPRESS)
  parser.add_argument("--run-workdir", type=Path, help=argparse.SUPPRESS)
  parser.add_argument("--worker-out", type=Path, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.preset == "paper" and args.student_epochs is None:
    args.student_epochs = 10
  return args


def bench(args: argparse.Namespace, out: Path) -> dict[str, Any]:
  """The teacher, then `repeats` online / cached student stages; the report is rewritten after each stage
  ("complete": false until the last)."""
  load_start = os.getloadavg()[0]
  run_worker(args, "teacher", args.workdir / "teacher_run")
  report = dict(benchmark="student_stage", preset=args.preset, complete=False, runs=[])
  for repeat in range(args.repeats):
    for mode in MODES:
      report["runs"].append(describe(mode, run_worker(args, mode, args.workdir / f"student_{mode}_{repeat}")))
      print(f"{mode}: {report['runs'][-1]['wall_s']:.1f} s", flush=True)
      summarize(report, load_start)
      write_report(report, out, markdown, echo=False)
  report["complete"] = True
  write_report(report, out, markdown)
  return report


def summarize(report: dict[str, Any], load_start: float) -> None:
  """Median wall times and teacher forwards per mode, and the environment, into `report`."""
  runs = report["runs"]
  wall = {mode: statistics.median(r["wall_s"] for r in runs if r["mode"] == mode) for mode in MODES
          if any(r["mode"] == mode for r in runs)}
  if len(wall) == len(MODES):
    report["online_over_cached_wall"] = wall["online"] / wall["cached"]
  report["teacher_forwards"] = {r["mode"]: r["teacher_forwards"] for r in runs}
  report["environment"] = _env.environment(jax, device=device_name(), load_average_1min_at_start=load_start)


def main(argv: list[str]) -> None:
  args = parse_args(argv)
  if args.worker:
    args.worker_out.write_text(json.dumps(stage_run(args)))
    return
  out = args.out or HERE / "results" / f"student_stage_{args.preset}_{device_name().replace(' ', '_').lower()}.json"
  with tempfile.TemporaryDirectory() as tmp:
    args.workdir = (args.workdir or Path(tmp)).resolve()
    bench(args, out)


if __name__ == "__main__":
  host_memory.retain_freed_memory()  # before JAX starts its backend
  main(sys.argv[1:])
