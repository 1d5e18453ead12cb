"""How hard is the demo's synthetic data? Classical references beside the demo's teacher and student.

On the demo's patient-wise split (`runs.split.load_split(config.data)`; held-out test
patients) it scores, with `jclip_eeg.metrics.classification_report`:

  band power   `jclip_eeg.eval.baseline.band_power_baseline` (per-channel log band
               powers + line length, logistic regression), fitted once on the
               training patients (as the models) and once on training +
               validation patients (more data than the models get for
               gradients: the generous reading)
  mean RMS     `rms_threshold_reference`: one amplitude threshold, fitted on
               training + validation patients
  teacher,     the test scores in `<workdir>/report.json` of a finished demo run
  student      (scripts/train.py --config configs/demo.py), when --workdir is given

With --train it first runs that demo itself (`scripts/train.py` in a
subprocess, --workdir must not hold another run) and records its wall and CPU
time and the load average. Prints a table and writes the JSON to --out.

  python benchmarks/synthetic_difficulty.py --train --workdir /tmp/demo \\
      --store /tmp/demo_data/store --root /tmp/demo_data/raw \\
      --out benchmarks/results/synthetic_difficulty.json

The split (and store) is that of --workdir's config.json when it has one, else
that of --config (with --store / --root).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import ml_collections
import numpy as np
import scipy
import sklearn

import _env

import jclip_eeg
from jclip_eeg import config_lib
from jclip_eeg.data.store import EpochStore
from jclip_eeg.eval import baseline
from jclip_eeg.metrics import classification_report
from jclip_eeg.runs.split import DataSplit, load_split

REPO = Path(__file__).resolve().parents[1]
_METRICS = ("f1_macro", "accuracy", "auc", "recall_macro", "specificity")


def _data_config(args: argparse.Namespace) -> ml_collections.ConfigDict:
  """config.data of the run in --workdir (its config.json: the split its models were tested on), else of
  --config with --store / --root applied."""
  run_config = args.workdir / "config.json" if args.workdir else None
  if run_config and run_config.is_file():
    return ml_collections.ConfigDict(json.loads(run_config.read_text())["data"])
  data = config_lib.load_config_file(args.config).data
  with data.unlocked():
    data.store = args.store or data.store
    data.root = args.root or data.root
  return data


def _train(args: argparse.Namespace) -> dict[str, float]:
  """Runs the demo into --workdir; its wall and CPU seconds (user, system) and the load averages."""
  command = [sys.executable, str(REPO / "scripts" / "train.py"), "--config", str(args.config),
             "--workdir", str(args.workdir)]
  command += [f"--config.data.{name}={value}" for name, value in (("store", args.store), ("root", args.root))
              if value]
  generates = not (Path(args.store or _data_config(args).store) / "store.json").is_file()
  before, load_before, start = resource.getrusage(resource.RUSAGE_CHILDREN), os.getloadavg(), time.perf_counter()
  subprocess.run(command, check=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
  wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
  return {"wall_s": wall, "user_s": after.ru_utime - before.ru_utime, "system_s": after.ru_stime - before.ru_stime,
          "load_average_1min_before": load_before[0], "load_average_1min_after": os.getloadavg()[0],
          "includes_data_generation": generates}


def _scores(report: dict[str, Any]) -> dict[str, float]:
  return {name: report[name] for name in _METRICS}


def _references(store: EpochStore, split: DataSplit, seed: int) -> dict[str, dict[str, Any]]:
  """Test scores of the classical references (module docstring)."""
  y_test = np.asarray(store.y)[split.test]
  seen = np.sort(np.concatenate([split.train, split.val]))
  probs = {
      "band_power_train": baseline.band_power_baseline(store, split.train, split.test, seed=seed),
      "band_power_train_val": baseline.band_power_baseline(store, seen, split.test, seed=seed),
      "mean_rms_threshold": baseline.rms_threshold_reference(store, seen, split.test),
  }
  return {name: _scores(classification_report(y_test, p, store.class_names)) for name, p in probs.items()}


def _models(workdir: Path) -> dict[str, dict[str, Any]]:
  report = json.loads((workdir / "report.json").read_text())
  return {role: _scores(stage["test"]) for role, stage in report["stages"].items()}


def _table(rows: dict[str, dict[str, Any]]) -> str:
  lines = [f"{'':22s}" + "".join(f"{m:>14s}" for m in _METRICS)]
  lines += [f"{name:22s}" + "".join(f"{row[m]:14.4f}" for m in _METRICS) for name, row in rows.items()]
  return "\n".join(lines)


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--config", type=Path, default=REPO / "configs" / "demo.py")
  parser.add_argument("--store", help="config.data.store (default: the config's)")
  parser.add_argument("--root", help="config.data.root, where the synthetic EDFs are (default: the config's)")
  parser.add_argument("--workdir", type=Path, help="a finished demo run (its report.json), or where --train writes")
  parser.add_argument("--train", action="store_true", help="run the demo into --workdir first, timed")
  parser.add_argument("--seed", type=int, default=0, help="the band-power baseline's random_state")
  parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "synthetic_difficulty.json")
  args = parser.parse_args()
  if args.train and not args.workdir:
    parser.error("--train needs --workdir")
  timing = _train(args) if args.train else None
  data = _data_config(args)
  split = load_split(data)
  store = EpochStore(split.store)
  rows = _references(store, split, args.seed) | (_models(args.workdir) if args.workdir else {})
  print(f"{store}\ntest patients {split.description['test']['patients']}, "
        f"train {split.description['train']['patients']}, val {split.description['val']['patients']}")
  print(_table(rows))
  if timing:
    print(f"demo: {timing['wall_s']:.0f} s wall, {timing['user_s']:.0f} s user CPU, load average "
          f"{timing['load_average_1min_before']:.1f} -> {timing['load_average_1min_after']:.1f}")
  result = {"benchmark": "synthetic_difficulty",
            "environment": _env.environment(jclip_eeg, np, scipy, sklearn),
            "config": str(args.config), "synthetic": data.synthetic.to_dict(),
            "split": split.description, "test_scores": rows, "demo_time": timing}
  args.out.parent.mkdir(parents=True, exist_ok=True)
  args.out.write_text(json.dumps(result, indent=1, default=list) + "\n")
  print(f"wrote {args.out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
