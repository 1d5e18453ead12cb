"""CHB-MIT student: 4-layer Conformer projected into the teacher's embedding space.

23 channels x 256 samples (1 s at 256 Hz), classes normal / seizure.

  python scripts/model_info.py --config configs/chbmit_student.py
  python scripts/train.py --config configs/chbmit_student.py --workdir runs/chbmit_student \
      --config.student.teacher_workdir=runs/chbmit_teacher
"""

from __future__ import annotations

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.get_config("chbmit", "student", arg)
