"""CHB-MIT teacher: 8-layer Conformer EEG tower + BERT-LP text tower.

23 channels x 256 samples (1 s at 256 Hz), classes normal / seizure.

  python scripts/model_info.py --config configs/chbmit_teacher.py
  python scripts/train.py --config configs/chbmit_teacher.py --workdir runs/chbmit_teacher
"""

from __future__ import annotations

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  return config_lib.get_config("chbmit", "teacher", arg)
