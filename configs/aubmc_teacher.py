"""AUBMC teacher: the paper's recipe (configs/chbmit_teacher.py) on the AUBMC focal epilepsy set.

19 channels x 500 samples (1 s at 500 Hz: the paper keeps AUBMC's rate), 4 classes: normal, complex partial,
electrographic, video-detected seizures; 75 % window overlap inside seizures (EDF layout). With 500-sample
windows the flatten head makes the EEG encoders 37.3 M (teacher) / 24.3 M (student) parameters.

  python scripts/prepare_data.py --dataset aubmc --root data/raw/aubmc --out data/aubmc
  python scripts/train.py --config configs/aubmc_teacher.py
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  recipe = config_lib.load_config_file(Path(__file__).with_name("chbmit_teacher.py"))
  config = config_lib.on_dataset(recipe, "aubmc", arg)
  # Patient-wise splits need the patient in the file names (`P3`, `pat3`): jclip_eeg/data/datasets/aubmc.py.
  config.data.update(dict(store="data/aubmc", root="data/raw/aubmc"))
  return config
