#!/usr/bin/env python
"""Raw EEG dataset -> pre-epoched store of labelled 1-s windows.

  python scripts/prepare_data.py --dataset synthetic --root data/raw/synthetic --out data/synthetic
  python scripts/prepare_data.py --dataset neonatal --root RAW --out DIR --consensus majority

Datasets: chbmit, tusz, neonatal, aubmc, synthetic. With --dataset synthetic an
absent or empty --root is first filled with generated data. An interrupted run
resumes where it stopped when rerun with the same arguments. Errors in the data
or the arguments print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from jclip_eeg import cli
from jclip_eeg.data import synthetic
from jclip_eeg.data.prepare import DTYPES, existing_store, prepare_store
from jclip_eeg.data.windows import RULES
from jclip_eeg.errors import ConfigError

# flag -> (dataset, reader option); values are passed to `datasets.get`.
_DATASET_OPTIONS = {
    "consensus": ("neonatal", "consensus"),
    "tusz_classes": ("tusz", "classes"),
    "tusz_splits": ("tusz", "splits"),
    "aubmc_layout": ("aubmc", "layout"),
}


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--dataset", required=True,
                      help="chbmit, tusz, neonatal, aubmc or synthetic")
  parser.add_argument("--root", required=True, type=Path, help="raw dataset directory")
  parser.add_argument("--out", required=True, type=Path, help="store directory to create")
  parser.add_argument("--workers", type=int, default=os.cpu_count(),
                      help="worker processes (default: all cores)")
  parser.add_argument("--label-rule", default="touch", choices=RULES,
                      help="when a window belongs to an event (default: touch, the paper's)")
  parser.add_argument("--dtype", default="float32", choices=DTYPES)
  parser.add_argument("--strict", action="store_true",
                      help="fail on a recording that cannot be read instead of skipping it")
  parser.add_argument("--overwrite", action="store_true", help="rebuild an existing store")
  parser.add_argument("--no-progress", action="store_true", help="no progress bar")
  parser.add_argument("--consensus", help="neonatal: all (default), majority, any, A, B or C")
  parser.add_argument("--tusz-classes", help="tusz: types (default, 8 classes) or binary")
  parser.add_argument("--tusz-splits", help="tusz: comma-separated subset of train,dev,eval")
  parser.add_argument("--aubmc-layout", help="aubmc: auto (default), segments or edf")
  return parser


def _options(args: argparse.Namespace) -> dict[str, object]:
  """The reader options given on the command line; ConfigError for another dataset's flag."""
  options: dict[str, object] = {}
  for flag, (dataset, option) in _DATASET_OPTIONS.items():
    value = getattr(args, flag)
    if value is None:
      continue
    if dataset != args.dataset:
      raise ConfigError(f"--{flag.replace('_', '-')} applies to --dataset {dataset} only")
    options[option] = tuple(value.split(",")) if option == "splits" else value
  return options


def _generate_if_empty(root: Path) -> None:
  if root.is_dir() and any(root.iterdir()):
    return
  print(f"{root} is absent or empty: writing synthetic EEG there (CHB-MIT layout, "
        "jclip_eeg.data.synthetic.generate defaults)", flush=True)
  manifest = synthetic.generate(root)
  print(f"wrote {len(manifest.recordings)} recordings of {len(manifest.patients)} patients",
        flush=True)


def main(argv: list[str] | None = None) -> int:
  args = _parser().parse_args(argv)
  logging.basicConfig(level=logging.INFO, format="%(message)s")
  try:
    options = _options(args)
    store = None if args.overwrite else existing_store(args.out)
    if store is not None:
      print(f"{args.out} already exists (pass --overwrite to rebuild it):\n{store!r}")
      return 0
    if args.dataset == "synthetic":
      _generate_if_empty(args.root)
    store = prepare_store(args.dataset, args.root, args.out, options=options,
                          workers=args.workers, label_rule=args.label_rule, dtype=args.dtype,
                          strict=args.strict, overwrite=args.overwrite,
                          progress=not args.no_progress)
  except cli.ERRORS as error:
    return cli.fail("prepare_data", error)
  report = store.metadata["report"]
  print(f"{store!r}\n{report['hours']:g} h of EEG, {len(store.metadata['skipped'])} files "
        f"skipped, dropped windows {report['dropped'] or 'none'}, "
        f"{report['run']['seconds']:g} s")
  return 0


if __name__ == "__main__":
  sys.exit(main())
