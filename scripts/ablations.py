#!/usr/bin/env python
"""Train the paper's ablations (Table II) of a teacher config and write the ablation table.

  python scripts/ablations.py --config configs/demo.py --workdir runs/ablations
  python scripts/ablations.py --config configs/chbmit_teacher.py --workdir runs/chbmit_ablations \\
      --only eeg_lp,base_wp,base_lp

Each ablation trains in <workdir>/<name>/ (a rerun reads finished ones back
and resumes interrupted ones); the table goes to <workdir>/ablation_table.md
and .csv. What each ablation switches: jclip_eeg/experiments/ablations.py. One
ablation alone: scripts/train.py --config configs/ablations.py:NAME.
Exit codes: jclip_eeg/cli.py (2 bad input, 3 diverged).
"""

from __future__ import annotations

from absl import flags
from ml_collections import config_flags

from jclip_eeg import cli
from jclip_eeg.experiments import ablations
from jclip_eeg.train import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Base teacher config (configs/*.py[:arg]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory: one <name>/ workdir per ablation, and the table.")
_ONLY = flags.DEFINE_list("only", list(ablations.ABLATIONS), "Ablations to run, in table order.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
  cli.check_output(_WORKDIR.value, flag="--workdir", folder=True)
  ablations.run_ablations(_CONFIG.value, _WORKDIR.value, _ONLY.value)
  if loop.is_main_process():
    table = ablations.table_path(_WORKDIR.value)
    print(table.with_suffix(".md").read_text())
    cli.closing(f"wrote {table}.md, {table}.csv and the ablation workdirs {_WORKDIR.value}/<name>",
                next_step=f"python scripts/plots.py --workdir {_WORKDIR.value}/base_lp --stage teacher")


if __name__ == "__main__":
  cli.run(main, "ablations")
