"""Siena Scalp EEG student: the paper's 4-layer Conformer distilled from configs/siena_teacher.py (Algorithm 2).

The teacher's config with the student's changes (`config_lib.paper_student`): 4 layers projected into the
teacher's embedding space, 100 epochs, L = 0.5 CE + 0.5 t^2 KL at t = 1; it takes the teacher's class-text
features frozen and never runs BERT.

  python scripts/train.py --config configs/siena_student.py --config.teacher_workdir=runs/siena_teacher
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.student_run(config_lib.load_config_file(Path(__file__).with_name("siena_teacher.py"), arg))
