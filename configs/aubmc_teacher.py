"""AUBMC teacher: 8-layer Conformer EEG tower + BERT-LP text tower.

19 channels x 500 samples (1 s at 500 Hz), 4 classes.

  python scripts/model_info.py --config configs/aubmc_teacher.py
  python scripts/train.py --config configs/aubmc_teacher.py --workdir runs/aubmc_teacher
"""

from __future__ import annotations

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.get_config("aubmc", "teacher", arg)
