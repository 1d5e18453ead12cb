"""BIDS teacher: the paper's recipe (configs/chbmit_teacher.py) on a BIDS folder as epilepsy2bids writes it.

Any dataset epilepsy2bids converts (CHB-MIT, Siena, TUSZ, SeizeIT) or the SzCORE challenge data: 1-s windows of
the 18 double-banana channels (default; `:average19` for the 19 common-average electrodes of referential
files), classes normal / seizure (events.tsv rows `sz*`), patient = subject.

  python scripts/prepare_data.py --dataset bids --root data/raw/bids --out data/bids
  python scripts/train.py --config configs/bids_teacher.py [--config.data.split.by=patient]
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from jclip_eeg import config_lib


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  recipe = config_lib.load_config_file(Path(__file__).with_name("chbmit_teacher.py"))
  config = config_lib.on_dataset(recipe, "bids", arg or "banana18")
  name = config.workdir.removeprefix("runs/").removesuffix("_teacher")  # bids or bids_average19
  config.data.update(dict(store=f"data/{name}", root="data/raw/bids"))
  return config
