#!/usr/bin/env python
"""k-fold cross-validation of teacher and student: the paper's Table I as mean ± std over folds.

  python scripts/cross_validate.py --config configs/demo.py --workdir runs/demo_cv --k 3
  python scripts/cross_validate.py --config configs/chbmit_teacher.py --workdir runs/chbmit_cv --by patient --k 5

Fold i trains in <workdir>/fold_<i>/ with config.data.split.fold=i (teacher,
then the student: the config's student section, or the paper's 4-layer
student). Rerunning the command skips finished folds and resumes an
interrupted one. Tables: <workdir>/cv_table.md and cv_table.csv (per-fold
rows, then mean and std per stage). Details: jclip_eeg/eval/cross_validation.py.
Errors in the config or the data print one line and exit with status 2.
"""

from __future__ import annotations


from absl import app, flags
from ml_collections import config_flags

from jclip_eeg import cli
from jclip_eeg.data.splits import SPLIT_BY
from jclip_eeg.eval import cross_validation
from jclip_eeg.train import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Teacher config (configs/*.py[:arg]).",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
_BY = flags.DEFINE_enum("by", None, list(SPLIT_BY), "Split unit (default: config.data.split.by).")
_K = flags.DEFINE_integer("k", None, "Number of folds (default: config.data.split.k).", lower_bound=2)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> int:
  cli.start(argv, progress_logger="jclip_eeg")
  try:
    cross_validation.run_cross_validation(_CONFIG.value, _WORKDIR.value, by=_BY.value, k=_K.value)
  except cli.ERRORS as error:
    return cli.fail("cross_validate", error)
  if loop.is_main_process():
    print(cross_validation.table_path(_WORKDIR.value).with_suffix(".md").read_text())
  return 0


if __name__ == "__main__":
  app.run(main)
