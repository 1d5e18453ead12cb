#!/usr/bin/env python
"""Parameter counts and XLA forward FLOPs of a config's model, printed as JSON.

  python scripts/model_info.py --config configs/chbmit_teacher.py [--config.model.eeg.n_layers=4 ...]

What each count and FLOP figure means: jclip_eeg/models/info.py. Exit codes: jclip_eeg/cli.py.
"""

from __future__ import annotations

import json
import sys

import tqdm
from absl import flags
from ml_collections import config_flags

from jclip_eeg import cli
from jclip_eeg.models.info import model_info

_CONFIG = config_flags.DEFINE_config_file("config", None, "Model config file (configs/<dataset>_<role>.py).",
                                          lock_config=True)
_BATCH = flags.DEFINE_integer("batch", 8, "EEG windows per compiled forward pass for the FLOP count.", lower_bound=1)
_OUT = flags.DEFINE_string("out", None, "Also write the JSON to this file.")
flags.mark_flags_as_required(["config"])


def main(argv: list[str]) -> None:
  if _OUT.value:
    cli.check_output(_OUT.value, flag="--out")
  with tqdm.tqdm(total=3, desc="build, compile EEG and text towers", unit="step") as bar:
    info = model_info(_CONFIG.value, _BATCH.value, tick=bar.update)
  text = json.dumps(info, indent=2)
  print(text)
  if _OUT.value:
    with open(_OUT.value, "w") as f:
      f.write(text + "\n")
  cli.closing(f"{info['role']} of {info['dataset']}: {info['params']['total'] / 1e6:.2f} M parameters, "
              f"{info['flops']['eeg_tower_per_sample'] / 1e9:.3f} GFLOP per window"
              + (f"; wrote {_OUT.value}" if _OUT.value else ""), file=sys.stderr)


if __name__ == "__main__":
  cli.run(main, "model_info")
