"""Ablations of the paper's Table II on a teacher config (switches: jclip_eeg/experiments/ablations.py).

The argument is `NAME[,BASE[,BASE_ARG]]`: NAME is eeg_lp, text_wp, text_lp,
text_hp, base_wp or base_lp; BASE is a config file in this folder (default
`demo`, the quick synthetic run; e.g. `chbmit_teacher` for the paper's
CHB-MIT teacher), BASE_ARG its own argument (e.g. `binary` for tusz_teacher).

  python scripts/train.py --config configs/ablations.py:text_lp --workdir runs/ablation_text_lp
  python scripts/train.py --config configs/ablations.py:base_wp,chbmit_teacher
  python scripts/ablations.py --config configs/demo.py --workdir runs/ablations   # every row + the table
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from jclip_eeg import config_lib
from jclip_eeg.errors import ConfigError
from jclip_eeg.experiments.ablations import ablation_config


def _base_config(name: str, arg: str | None) -> ml_collections.ConfigDict:
  path = Path(__file__).resolve().parent / f"{name}.py"
  if name == "ablations" or not path.is_file():
    raise ConfigError(f"configs/ablations.py: base config {name!r} is not a file in {path.parent}")
  return config_lib.load_config_file(path, arg)


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  if not arg:
    raise ConfigError("configs/ablations.py needs an argument: configs/ablations.py:NAME[,BASE[,BASE_ARG]]")
  name, base, base_arg = (*arg.split(",", 2), "", "")[:3]
  return ablation_config(_base_config(base or "demo", base_arg or None), name)
