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

Exit codes: jclip_eeg/cli.py (2 bad input).
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from jclip_eeg import cli
from jclip_eeg.eval import plots
from jclip_eeg.runs import stage as stage_lib

_WORKDIR = flags.DEFINE_string("workdir", None, "Workdir of a finished scripts/train.py run.")
_STAGES = flags.DEFINE_list("stage", list(stage_lib.STAGES),
                            "Stages to draw; stages the workdir lacks are skipped if others exist.")
_OUT = flags.DEFINE_string("out", None, "Output folder (default: <workdir>/plots).")
_MAX_RECORDINGS = flags.DEFINE_integer("max_recordings", 20, "At most this many timelines (seizures first).",
                                       lower_bound=0)
_ECAM_WINDOWS = flags.DEFINE_integer("ecam_windows", 2000, "At most this many test windows per class for ECAM.",
                                     lower_bound=1)
flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> None:
  workdir = Path(_WORKDIR.value)
  out = cli.check_output(_OUT.value or workdir / "plots", flag="--out", folder=True)
  written = plots.draw_run(workdir, _STAGES.value, out, max_recordings=_MAX_RECORDINGS.value,
                           ecam_windows=_ECAM_WINDOWS.value, progress=True)
  cli.closing(f"wrote {len(written)} files into {out} (roc.png, confusion_matrices.png, ecam.png, timelines/)",
              next_step=f"python scripts/export.py --workdir {workdir} --out {workdir}/student.jaxexport")


if __name__ == "__main__":
  cli.run(main, "plots")
