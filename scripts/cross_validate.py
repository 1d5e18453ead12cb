#!/usr/bin/env python
"""k-fold cross-validation of teacher and student: the paper's Table I as mean ± std over folds.

  python scripts/cross_validate.py --config configs/demo.py --workdir runs/demo_cv --k 3
  python scripts/cross_validate.py --config configs/chbmit_teacher.py --workdir runs/chbmit_cv --by patient --k 5
  python scripts/cross_validate.py --config configs/chbmit_teacher.py --workdir runs/chbmit_loo --by patient \
      --leave_one_out

Fold i trains in <workdir>/fold_<i>/ with config.data.split.fold=i (teacher,
then the student: the config's student recipe, or the paper's 4-layer
student). --leave_one_out makes one fold per patient (or recording) with
seizures instead, testing on it alone (<workdir>/fold_<id>/). Rerunning the
command skips finished folds and resumes an interrupted one. Tables:
<workdir>/cv_table.md and cv_table.csv: per-fold rows, mean and std per stage,
the band-power baseline and the paper's reported rows, each in both test
protocols. Details: jclip_eeg/experiments/cross_validation.py.
Exit codes: jclip_eeg/cli.py (2 bad input, 3 diverged).
"""

from __future__ import annotations

from absl import flags
from ml_collections import config_flags

from jclip_eeg import cli
from jclip_eeg.data.splits import SPLIT_BY
from jclip_eeg.experiments import cross_validation
from jclip_eeg.train import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Teacher config (configs/*.py[:arg]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory: one fold_<i>/ workdir per fold, and the tables.")
_BY = flags.DEFINE_enum("by", None, list(SPLIT_BY), "Split unit (default: config.data.split.by).")
_K = flags.DEFINE_integer("k", None, "Number of folds (default: config.data.split.k).", lower_bound=2)
_LEAVE_ONE_OUT = flags.DEFINE_bool("leave_one_out", False, "One fold per patient (or recording, --by) with seizure "
                                   "windows, tested on it alone; --k does not apply.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> None:
  cli.check_output(_WORKDIR.value, flag="--workdir", folder=True)
  cross_validation.run_cross_validation(_CONFIG.value, _WORKDIR.value, by=_BY.value, k=_K.value,
                                        leave_one_out=_LEAVE_ONE_OUT.value)
  if loop.is_main_process():
    table = cross_validation.table_path(_WORKDIR.value)
    print(table.with_suffix(".md").read_text())
    cli.closing(f"wrote {table}.md, {table}.csv and the fold workdirs {_WORKDIR.value}/fold_<i>",
                next_step=f"python scripts/evaluate.py --workdir {_WORKDIR.value}/fold_0 --out fold_0.json")


if __name__ == "__main__":
  cli.run(main, "cross_validate")
