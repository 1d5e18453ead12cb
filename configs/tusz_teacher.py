"""TUSZ teacher: 8-layer Conformer EEG tower + BERT-LP text tower.

19 channels x 256 samples (1 s at 256 Hz), 8 classes: background + 7 seizure types.
The config arg "binary" (configs/tusz_teacher.py:binary) gives the two-class bckg / seiz task.

  python scripts/model_info.py --config configs/tusz_teacher.py
  python scripts/train.py --config configs/tusz_teacher.py --workdir runs/tusz_teacher
"""

from __future__ import annotations

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.get_config("tusz", "teacher", arg)
