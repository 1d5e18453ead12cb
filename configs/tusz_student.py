"""TUSZ student: 4-layer Conformer projected into the teacher's embedding space.

19 channels x 256 samples (1 s at 256 Hz), 8 classes: background + 7 seizure types.
The config arg "binary" (configs/tusz_student.py:binary) gives the two-class bckg / seiz task.

  python scripts/model_info.py --config configs/tusz_student.py
  python scripts/train.py --config configs/tusz_student.py --workdir runs/tusz_student \
      --config.student.teacher_workdir=runs/tusz_teacher
"""

from __future__ import annotations

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.get_config("tusz", "student", arg)
