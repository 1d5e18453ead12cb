#!/usr/bin/env python
"""Train the DistilCLIP-EEG teacher, distil the student, print and save the report.

  python scripts/train.py --config configs/demo.py
  python scripts/train.py --config configs/chbmit_teacher.py --workdir runs/chbmit_teacher
  python scripts/train.py --config configs/chbmit_student.py --workdir runs/chbmit_student \\
      --config.student.teacher_workdir=runs/chbmit_teacher
  python scripts/train.py --config configs/tusz_teacher.py:binary --config.train.batch_size=64

Any config field can be overridden as --config.<section>.<field>=value (a
mistyped field is an error). Rerunning the same command resumes an
interrupted run from its last checkpoint. Errors in the config or the data
print one line and exit with status 2; a diverged run (non-finite loss)
exits with status 3. What the workdir holds: jclip_eeg/train/loop.py.
"""

from __future__ import annotations


from absl import app, flags
from ml_collections import config_flags

from jclip_eeg import cli
from jclip_eeg.train import loop, reporting

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:arg]).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default: config.workdir).")
flags.mark_flags_as_required(["config"])


def main(argv: list[str]) -> int:
  cli.start(argv, progress_logger="jclip_eeg.train")
  config = _CONFIG.value
  workdir = _WORKDIR.value or config.workdir
  try:
    report = loop.train_and_evaluate(config, workdir)
  except cli.ERRORS as error:
    return cli.fail("train", error)
  if loop.is_main_process():
    print(reporting.final_table(report))
    print(f"\nreport: {workdir}/report.json, plots: {workdir}/training_curves.png, "
          f"{workdir}/confusion_matrices.png")
  return 0


if __name__ == "__main__":
  app.run(main)
