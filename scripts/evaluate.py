#!/usr/bin/env python
"""Score a trained teacher or student: print the metrics table and write the report as JSON.

  python scripts/evaluate.py --workdir runs/demo --out runs/demo/eval_student.json
  python scripts/evaluate.py --workdir runs/demo --stage teacher --split val --out val.json
  python scripts/evaluate.py --workdir runs/chbmit_student --store stores/chbmit_other --out other.json
  python scripts/evaluate.py --workdir runs/chbmit_student --raw /data/chbmit_new --dataset chbmit --out new.json

The model is the stage's best validation checkpoint. Without --store / --raw
the run's own store is scored (--split test by default: the same windows and
numbers as the run's result.json). --raw prepares the folder once with the
run's preprocessing into --store (default <workdir>/eval_stores/...), then
scores every window (--split all). Details: jclip_eeg/eval/evaluate.py.
Exit codes: jclip_eeg/cli.py (2 bad input).
"""

from __future__ import annotations

from absl import flags

from jclip_eeg import cli, jsonio
from jclip_eeg.data.prepare import existing_store
from jclip_eeg.errors import ConfigError, DataError
from jclip_eeg.eval import evaluate
from jclip_eeg.metrics import format_report
from jclip_eeg.runs import stage as stage_lib

_WORKDIR = flags.DEFINE_string("workdir", None, "The training run's workdir.")
_STAGE = flags.DEFINE_enum("stage", None, list(stage_lib.STAGES), "Stage (default: student if trained, else teacher).")
_STORE = flags.DEFINE_string("store", None, "A prepared store to score (with --raw: where to prepare it).")
_RAW = flags.DEFINE_string("raw", None, "A raw dataset folder to prepare and score.")
_DATASET = flags.DEFINE_string("dataset", None, "The raw folder's dataset (default: the run's dataset).")
_SPLIT = flags.DEFINE_enum("split", None, list(evaluate.SPLITS),
                           "Windows to score (default: test for the run's store, all otherwise).")
_OUT = flags.DEFINE_string("out", None, "Where to write the report (JSON).")
flags.mark_flags_as_required(["workdir", "out"])


def _store(workdir: str, stage: str) -> str | None:
  """The store to score: --store, or --raw prepared into --store or the workdir's cache."""
  if _RAW.value is None:
    if _DATASET.value is not None:
      raise ConfigError("--dataset only applies to --raw")
    store = _STORE.value or stage_lib.read_config(evaluate.stage_dir(workdir, stage)).data.store
    if existing_store(store) is None:
      named = "--store" if _STORE.value else f"the run's store (config.data.store of {workdir}/{stage})"
      raise DataError(f"{store}: no prepared store there ({named}); pass --store with a store prepared by "
                      "scripts/prepare_data.py, or --raw with a raw dataset folder to prepare")
    return _STORE.value
  data = stage_lib.read_config(evaluate.stage_dir(workdir, stage)).data
  dataset = _DATASET.value or data.dataset
  out = cli.check_output(_STORE.value or evaluate.raw_cache_dir(workdir, _RAW.value, dataset), flag="--store",
                         folder=True)
  return str(evaluate.prepare_raw(data, _RAW.value, dataset, out))


def main(argv: list[str]) -> None:
  workdir = _WORKDIR.value
  cli.check_output(_OUT.value, flag="--out")
  stage = _STAGE.value or evaluate.default_stage(workdir)
  report = evaluate.evaluate_workdir(workdir, stage=stage, store=_store(workdir, stage), split=_SPLIT.value,
                                     progress=True)
  jsonio.write_json(_OUT.value, report)
  title = (f"{report['stage']} of {workdir} (checkpoint step {report['checkpoint_step']}) on "
           f"{report['store']}, split {report['split']} ({report['n_samples']} windows)")
  print(format_report(report, title))
  cli.closing(f"\nwrote {_OUT.value}",
              next_step=f"python scripts/plots.py --workdir {workdir}   (ROC, confusion matrices, timelines, ECAM)")


if __name__ == "__main__":
  cli.run(main, "evaluate")
