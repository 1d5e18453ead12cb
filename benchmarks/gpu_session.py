"""The whole GPU measurement as one command within a time budget (run by `gpu_session.sh run`).

  python benchmarks/gpu_session.py [--out DIR] [--tokenizer DIR] [--budget-s 440] [--tiny BERT_DIR]

Parts, in order, each a benchmark subprocess that must end by its share of
the budget (what a part leaves unused goes to the next ones; a part past its
time is killed with its process group and keeps what it had written):

  train_b256   bench_train at batch 256: teacher, student and student_cached; JAX, torch eager, torch.compile
  inference    bench_inference: teacher vs student, batch-1 latency and large-batch throughput
  train_large  bench_train at batch 1024, JAX only: the larger batch for MFU
  attention    bench_train at batch 256, JAX only, --attention cudnn: the fused attention path (parity by the
               first step's loss, same weights and batch as train_b256's JAX rows)

After every part, `gpu_session.json` (the parts' own reports embedded, their
status and wall time, library versions, the GPU) and `gpu_session.md` (the
targets table, then each part's markdown) are rewritten atomically in --out,
with `gpu_session.log` (every part's output) beside them: three files, within
what the device tool brings back, and a session cut short keeps what it
measured. `--tiny BERT_DIR` runs the same parts at toy size on the demo
models with that BERT (CPU: the test of this script's logic; attention
"dot_product" instead of cuDNN).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SESSION = "gpu_session"
BUDGET_S = 440  # + ~20 s of wheel installs in gpu_session.sh: the session ends within 8 minutes
# Target ratios (issue 17 / NOTES): JAX over torch eager and torch.compile at batch 256, MFU, inference.
TARGETS = {"jax_over_torch_eager": 1.5, "jax_over_torch_compile": 1.0, "mfu": 0.40, "student_over_teacher": 1.7}
PACKAGES = ("jax", "jaxlib", "jax-cuda13-plugin", "jax-cuda12-plugin", "flax", "optax", "orbax-checkpoint", "grain",
            "numpy", "torch", "triton", "transformers", "tokenizers", "nvidia-cudnn-cu13", "nvidia-cudnn-cu12")


@dataclasses.dataclass(frozen=True)
class Part:
  """One benchmark run of the session: `script` with `flags`, allowed `share` of the budget."""
  name: str
  script: str
  flags: tuple[str, ...]
  share: float


def parts(tiny: bool) -> list[Part]:
  """The session's parts (module docstring); `tiny`: toy batch sizes, few steps, no torch.compile, no cuDNN."""
  small, large, attention = ("8", "16", "dot_product") if tiny else ("256", "1024", "cudnn")
  few = ("--steps", "2", "--warmup", "1", "--no-compile") if tiny else ("--steps", "20", "--warmup", "2")
  fewer = ("--steps", "2", "--warmup", "1") if tiny else ("--steps", "10", "--warmup", "2")
  return [
      Part("train_b256", "bench_train.py", ("--batch-sizes", small, "--roles", "teacher", "student_cached", *few),
           0.62),
      Part("inference", "bench_inference.py", ("--quick", "--large-batch", large) if tiny else (), 0.13),
      Part("train_large", "bench_train.py",
           ("--batch-sizes", large, "--roles", "teacher", "student_cached", "--jax-only", *fewer), 0.14),
      Part("attention", "bench_train.py", ("--batch-sizes", small, "--roles", "teacher", "student", "--jax-only",
                                           "--attention", attention, *fewer), 0.11),
  ]


def run_part(part: Part, model_flags: list[str], scratch: Path, until: float, log) -> dict[str, Any]:
  """Runs one part until it ends or the clock reaches `until` (time.monotonic); its status and report."""
  out = scratch / f"{part.name}.json"
  command = [sys.executable, str(HERE / part.script), *part.flags, *model_flags, "--out", str(out)]
  log.write(f"\n===== {part.name}: {' '.join(command)}\n")
  log.flush()
  started = time.monotonic()
  timeout = until - started
  if timeout <= 1:
    return {"status": "skipped: no time left", "seconds": 0.0}
  process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                             env=dict(os.environ, PYTHONUNBUFFERED="1"))
  try:
    returncode = process.wait(timeout=timeout)
    status = "complete" if returncode == 0 else f"failed: exit {returncode}"
  except subprocess.TimeoutExpired:
    os.killpg(process.pid, signal.SIGKILL)  # torch.compile's workers too
    process.wait()
    status = f"cut short at its time limit ({timeout:.0f} s)"
  entry = {"status": status, "seconds": round(time.monotonic() - started, 1)}
  if out.is_file():
    entry["report"] = json.loads(out.read_text())
    entry["markdown"] = out.with_suffix(".md").read_text() if out.with_suffix(".md").is_file() else ""
  return entry


def train_results(session: dict[str, Any], part: str) -> list[dict[str, Any]]:
  return session["parts"].get(part, {}).get("report", {}).get("results", [])


def _row(results: list[dict[str, Any]], role: str, framework: str = "jax") -> dict[str, Any] | None:
  for result in results:
    if result["role"] == role:
      return next((row for row in result["rows"] if row["framework"] == framework and "median_s" in row), None)
  return None


def _verdict(value: float | None, target: float) -> str:
  if value is None:
    return "not measured"
  return "met" if value >= target else "missed"


def targets(session: dict[str, Any]) -> list[dict[str, Any]]:
  """(target, role, measured value, verdict) rows from the parts measured so far."""
  rows = []
  b256 = train_results(session, "train_b256")
  for role in ("teacher", "student", "student_cached"):
    result = next((r for r in b256 if r["role"] == role), {})
    for ratio in ("jax_over_torch_eager", "jax_over_torch_compile"):
      value = result.get(ratio)
      rows.append(dict(target=f"{ratio} >= {TARGETS[ratio]} at batch 256", role=role, value=value,
                       verdict=_verdict(value, TARGETS[ratio])))
  large = train_results(session, "train_large")
  for role in ("teacher", "student", "student_cached"):
    mfus = [row["mfu"] for res in b256 + large if res["role"] == role for row in res["rows"][:1] if row.get("mfu")]
    value = max(mfus, default=None)
    rows.append(dict(target=f"MFU >= {TARGETS['mfu']:.0%} at the best batch size", role=role, value=value,
                     verdict=_verdict(value, TARGETS["mfu"])))
  inference = session["parts"].get("inference", {}).get("report", {})
  value = inference.get("student_over_teacher_throughput")
  rows.append(dict(target=f"student / teacher inference >= {TARGETS['student_over_teacher']}", role="student",
                   value=value, verdict=_verdict(value, TARGETS["student_over_teacher"])))
  rows += attention_rows(session)
  return rows


def attention_rows(session: dict[str, Any]) -> list[dict[str, Any]]:
  """The fused attention path against the einsum one (train_b256's JAX rows): speed-up and first-step loss."""
  rows = []
  fused = train_results(session, "attention")
  for role in ("teacher", "student"):
    base, other = _row(train_results(session, "train_b256"), role), _row(fused, role)
    if base is None or other is None:
      value, verdict = None, "not measured"
    else:
      value = base["median_s"] / other["median_s"]
      parity = abs(other["first_step_loss"] - base["first_step_loss"]) / abs(base["first_step_loss"])
      verdict = (f"{'faster' if value > 1 else 'not faster'}; first-step loss differs by {parity:.1e} "
                 f"(relative)")
    rows.append(dict(target="fused attention: einsum / fused step time at batch 256", role=role, value=value,
                     verdict=verdict))
  return rows


def versions() -> dict[str, str]:
  """Installed versions of the packages that matter (PACKAGES), by their distribution metadata."""
  found = {}
  for name in PACKAGES:
    try:
      found[name] = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
      continue
  return found


def gpu_description() -> str:
  """nvidia-smi's name, memory, max SM clock and driver of each GPU, or "no nvidia-smi"."""
  if shutil.which("nvidia-smi") is None:
    return "no nvidia-smi"
  query = ["nvidia-smi", "--query-gpu=name,memory.total,clocks.max.sm,driver_version", "--format=csv,noheader"]
  done = subprocess.run(query, capture_output=True, text=True, check=False)
  return done.stdout.strip() or done.stderr.strip()


def markdown(session: dict[str, Any]) -> str:
  lines = [f"# GPU session ({session['gpu']})", "",
           f"{session['date']}; budget {session['budget_s']} s, {session['seconds']:.0f} s so far; "
           + ", ".join(f"{name} {version}" for name, version in session["versions"].items()), "",
           "| part | status | seconds |", "|---|---|---|"]
  lines += [f"| {name} | {part['status']} | {part['seconds']:.0f} |" for name, part in session["parts"].items()]
  lines += ["", "| target | role | measured | verdict |", "|---|---|---|---|"]
  for row in targets(session):
    value = "-" if row["value"] is None else (f"{row['value']:.1%}" if "MFU" in row["target"] else f"{row['value']:.2f}")
    lines.append(f"| {row['target']} | {row['role']} | {value} | {row['verdict']} |")
  for name, part in session["parts"].items():
    if part.get("markdown"):
      lines += ["", f"## {name}", "", part["markdown"].replace("# ", "### ", 1)]
  return "\n".join(lines) + "\n"


def write(session: dict[str, Any], out: Path) -> None:
  """gpu_session.json and .md in `out`, each replaced atomically."""
  for path, text in ((out / f"{SESSION}.json", json.dumps(session, indent=1)),
                     (out / f"{SESSION}.md", markdown(session))):
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    partial.replace(path)


def parse_args(argv: list[str]) -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--out", type=Path, default=HERE / "results", help="where the three files go")
  parser.add_argument("--tokenizer", default="", help="tokenizer folder for the random bert-base text tower")
  parser.add_argument("--budget-s", type=float, default=BUDGET_S, help="wall-clock seconds for all the parts")
  parser.add_argument("--tiny", type=Path, default=None, metavar="BERT_DIR",
                      help="toy sizes on the demo models with this BERT folder (the CPU test)")
  return parser.parse_args(argv)


def main(argv: list[str]) -> dict[str, Any]:
  args = parse_args(argv)
  start = time.monotonic()
  args.out.mkdir(parents=True, exist_ok=True)
  model_flags = ["--model", "demo", "--text-checkpoint", str(args.tiny)] if args.tiny else []
  if args.tokenizer:
    model_flags += ["--tokenizer", args.tokenizer]
  session: dict[str, Any] = dict(benchmark=SESSION, gpu=gpu_description(), versions=versions(), budget_s=args.budget_s,
                                 date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                                 tiny=args.tiny is not None, seconds=0.0, complete=False, parts={})
  write(session, args.out)
  share = 0.0
  with tempfile.TemporaryDirectory() as scratch, open(args.out / f"{SESSION}.log", "w") as log:
    for part in parts(args.tiny is not None):
      share += part.share
      session["parts"][part.name] = run_part(part, model_flags, Path(scratch), start + share * args.budget_s, log)
      session["seconds"] = time.monotonic() - start
      write(session, args.out)
      print(f"{part.name}: {session['parts'][part.name]['status']} ({session['parts'][part.name]['seconds']:.0f} s)",
            flush=True)
  session["complete"] = all(part["status"] == "complete" for part in session["parts"].values())
  write(session, args.out)
  print(markdown(session))
  return session


if __name__ == "__main__":
  main(sys.argv[1:])
