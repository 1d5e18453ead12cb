"""TUSZ teacher: the paper's recipe (configs/chbmit_teacher.py) on the TUH EEG Seizure Corpus v2.

19 common 10-20 electrodes (`EEG FP1-REF` / `-LE` montages, T3/T7 aliases) x 256 samples (1 s at 256 Hz),
8 classes: bckg + the 7 seizure types of the paper (mysz dropped); 75 % window overlap inside seizures.
The config arg "binary" (configs/tusz_teacher.py:binary) gives the two-class bckg / seiz task.

  python scripts/prepare_data.py --dataset tusz --root data/raw/tusz --out data/tusz
  python scripts/train.py --config configs/tusz_teacher.py [--config.data.split.by=patient]
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  recipe = config_lib.load_config_file(Path(__file__).with_name("chbmit_teacher.py"))
  config = config_lib.on_dataset(recipe, "tusz", arg)
  name = config.workdir.removeprefix("runs/").removesuffix("_teacher")  # tusz or tusz_binary
  # The paper's window-wise 5-fold; TUSZ's own train/dev/eval splits are patient-disjoint
  # (prepare with --option splits=train,dev to keep eval out, and split by patient).
  config.data.update(dict(store=f"data/{name}", root="data/raw/tusz"))
  return config
