"""Helsinki neonatal teacher: the paper's recipe (configs/chbmit_teacher.py) on the Zenodo neonatal EEG set.

19 10-20 electrodes (`EEG Fp1-Ref`, old T3-T6 names) x 256 samples (1 s at 256 Hz), classes normal /
seizure; a second is seizure when all three experts say so (prepare with --option consensus=majority|any|A|B|C
for another rule); 50 % window overlap inside seizures. 79 babies, one recording each.

  python scripts/prepare_data.py --dataset neonatal --root data/raw/neonatal --out data/neonatal
  python scripts/train.py --config configs/neonatal_teacher.py [--config.data.split.by=patient]
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  recipe = config_lib.load_config_file(Path(__file__).with_name("chbmit_teacher.py"))
  config = config_lib.on_dataset(recipe, "neonatal", arg)
  config.data.update(dict(store="data/neonatal", root="data/raw/neonatal"))
  return config
