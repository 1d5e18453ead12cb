#!/usr/bin/env python
"""Pictures of a finished training run: ROC curves, confusion matrices, probability timelines, ECAM topomaps.

  python scripts/plots.py --workdir runs/demo --out runs/demo/plots
  python scripts/plots.py --workdir runs/chbmit_teacher --stage teacher --max_recordings 5

Reads the best checkpoint of each finished stage (teacher, student) in the
workdir of scripts/train.py, predicts its test windows and writes into --out:

  roc.png                 ROC curves per stage (binary: seizure; else one-vs-rest + micro)
  confusion_matrices.png  row-normalised test confusion matrices per stage
  timelines/<rec>.png     per test recording: p(seizure) of each stage, true seizures shaded
  ecam.png, ecam.json     EEG channel activation maps per stage and class (jclip_eeg/eval/ecam.py)

Errors in the workdir or the data print one line and exit with status 2.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import app, flags

from jclip_eeg import cli
from jclip_eeg.data.store import EpochStore
from jclip_eeg.errors import ConfigError
from jclip_eeg.eval import ecam, plots
from jclip_eeg.eval.metrics import classification_report
from jclip_eeg.train import reporting, sharding

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a finished scripts/train.py run.")
_STAGES = flags.DEFINE_list("stage", ["teacher", "student"],
                            "Stages to draw; stages the workdir lacks are skipped if others exist.")
_OUT = flags.DEFINE_string("out", None, "Output folder (default: <workdir>/plots).")
_MAX_RECORDINGS = flags.DEFINE_integer("max_recordings", 20, "At most this many timelines (seizures first).")
_ECAM_WINDOWS = flags.DEFINE_integer("ecam_windows", 2000, "At most this many test windows per class for ECAM.")
flags.mark_flags_as_required(["workdir"])


def _finished(workdir: Path, roles: list[str]) -> list[str]:
  present = [r for r in roles if (workdir / r / "result.json").is_file()]
  if not present:
    raise ConfigError(f"{workdir}: none of the stages {roles} has finished (no <stage>/result.json); "
                      "train with scripts/train.py first")
  return present


def draw(workdir: Path, roles: list[str], out: Path, *, max_recordings: int, ecam_windows: int) -> list[Path]:
  """Writes every picture of the finished stages `roles` into `out`; returns the written paths."""
  out.mkdir(parents=True, exist_ok=True)
  mesh = sharding.make_mesh()
  predictions, maps = {}, {}
  for role in _finished(workdir, roles):
    stage = ecam.load_stage(workdir, role, mesh)
    predictions[role] = ecam.predict(stage, stage.split.test, mesh)
    maps[role] = ecam.compute_ecam(stage, stage.split.test, max_windows_per_class=ecam_windows)
  rows = stage.split.test  # every stage of one workdir shares the split (loop.load_teacher checks it)
  store = EpochStore(stage.split.store)
  class_names = stage.split.class_names
  written = [out / "roc.png", out / "confusion_matrices.png", out / "ecam.png", out / "ecam.json"]
  plots.plot_roc(predictions, class_names, written[0])
  reporting.plot_confusion_matrices({r: classification_report(y, p, class_names) for r, (y, p) in predictions.items()},
                                    written[1])
  plots.plot_ecam(maps, written[2])
  reporting.write_json(written[3], {role: m.to_json() for role, m in maps.items()})
  y = next(iter(predictions.values()))[0]
  written += plots.plot_timelines(store.recording[rows], np.asarray(store.start_s)[rows], y,
                                  {r: p for r, (_, p) in predictions.items()}, store.x.shape[2] / store.sfreq,
                                  out / "timelines", max_recordings)
  return written


def main(argv: list[str]) -> int:
  cli.start(argv)
  workdir = Path(_WORKDIR.value)
  out = Path(_OUT.value) if _OUT.value else workdir / "plots"
  try:
    written = draw(workdir, _STAGES.value, out, max_recordings=_MAX_RECORDINGS.value,
                   ecam_windows=_ECAM_WINDOWS.value)
  except cli.ERRORS as error:
    return cli.fail("plots", error)
  print(f"plots: wrote {len(written)} files into {out}")
  return 0


if __name__ == "__main__":
  app.run(main)
