"""AUBMC student: 4-layer Conformer projected into the teacher's embedding space.

19 channels x 500 samples (1 s at 500 Hz), 4 classes.

  python scripts/model_info.py --config configs/aubmc_student.py
  python scripts/train.py --config configs/aubmc_student.py --workdir runs/aubmc_student \
      --config.student.teacher_workdir=runs/aubmc_teacher
"""

from __future__ import annotations

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.get_config("aubmc", "student", arg)
