#!/usr/bin/env python
"""Train the DistilCLIP-EEG teacher, distil the student, print and save the report.

  python scripts/train.py --config configs/demo.py
  python scripts/train.py --config configs/chbmit_teacher.py --workdir runs/chbmit_teacher
  python scripts/train.py --config configs/chbmit_student.py --workdir runs/chbmit_student \\
      --config.teacher_workdir=runs/chbmit_teacher
  python scripts/train.py --config configs/tusz_teacher.py:binary --config.train.batch_size=64

Any config field can be overridden as --config.<section>.<field>=value (a
mistyped field is an error). Rerunning the same command resumes an
interrupted run from its last checkpoint. What the workdir holds:
jclip_eeg/train/loop.py. Exit codes: jclip_eeg/cli.py (2 bad input, 3 diverged).
"""

from __future__ import annotations

from absl import flags
from ml_collections import config_flags

from jclip_eeg import cli
from jclip_eeg.train import loop, reporting

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file (configs/*.py[:arg]).", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default: the config's workdir).")
flags.mark_flags_as_required(["config"])


def main(argv: list[str]) -> None:
  config = _CONFIG.value
  workdir = str(cli.check_output(_WORKDIR.value or config.workdir, flag="--workdir", folder=True))
  report = loop.train_and_evaluate(config, workdir)
  if loop.is_main_process():
    print(reporting.final_table(report))
    cli.closing(f"\nwrote {workdir}/report.json, {workdir}/training_curves.png, {workdir}/confusion_matrices.png "
                f"and the stages {', '.join(f'{workdir}/{role}' for role in report['stages'])}",
                next_step=f"python scripts/evaluate.py --workdir {workdir} --out {workdir}/eval.json   "
                          f"(or scripts/plots.py / detect.py / export.py)")


if __name__ == "__main__":
  cli.run(main, "train")
