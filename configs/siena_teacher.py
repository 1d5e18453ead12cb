"""Siena Scalp EEG teacher: the paper's recipe (configs/chbmit_teacher.py) on PhysioNet siena-scalp-eeg/1.0.0.

19 10-20 electrodes (`EEG Fp1` ..., 512 Hz, resampled) x 256 samples (1 s at 256 Hz), classes normal / seizure,
50 % window overlap inside seizures; 14 adults. The argument names a montage (`:banana18`, `:average19`): the
SzCORE channels, so the model runs on other datasets' files too (jclip_eeg/data/montages.py).

  python scripts/prepare_data.py --dataset siena --root data/raw/siena --out data/siena
  python scripts/train.py --config configs/siena_teacher.py [--config.data.split.by=patient]
  python scripts/prepare_data.py --dataset siena --root data/raw/siena --out data/siena_banana18 --option montage=banana18
  python scripts/train.py --config configs/siena_teacher.py:banana18
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  recipe = config_lib.load_config_file(Path(__file__).with_name("chbmit_teacher.py"))
  config = config_lib.on_dataset(recipe, "siena", arg)
  name = config.workdir.removeprefix("runs/").removesuffix("_teacher")  # siena or siena_<montage>
  config.data.update(dict(store=f"data/{name}", root="data/raw/siena"))
  return config
