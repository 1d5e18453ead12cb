#!/usr/bin/env python
"""Export a trained stage for deployment: one file runnable with only jax + numpy.

  python scripts/export.py --workdir runs/demo --stage student --out student.jaxexport

Load it with `jclip_eeg.export.load(path)` (see jclip_eeg/export.py); prints the sizes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from jclip_eeg import cli, export


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--workdir", required=True, type=Path)
  parser.add_argument("--stage", choices=("student", "teacher"), default="student")
  parser.add_argument("--out", required=True, type=Path)
  args = parser.parse_args(argv)
  try:
    sizes = export.export_stage(args.workdir / args.stage, args.out)
  except cli.ERRORS as error:
    return cli.fail("export", error)
  print(f"{args.out}: {sizes['artefact'] / 1e6:.2f} MB (program {sizes['program'] / 1e6:.2f} MB; "
        f"the stage's checkpoints {sizes['checkpoint'] / 1e6:.2f} MB)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
