#!/usr/bin/env python
"""Export a trained stage for deployment: one file runnable with only jax + numpy.

  python scripts/export.py --model runs/demo/student --out student.jaxexport

--model is a finished stage directory (it may be copied anywhere on its own).
Load the artefact with `jclip_eeg.export.load(path)` (jclip_eeg/export.py), or
give it to scripts/detect.py --model; it carries the model's input
description and detection settings. Exit codes: jclip_eeg/cli.py.
"""

from __future__ import annotations

from absl import flags

from jclip_eeg import cli, export

_MODEL = flags.DEFINE_string("model", None, "A finished stage directory, e.g. runs/demo/student.")
_OUT = flags.DEFINE_string("out", None, "The artefact to write (.jaxexport).")
flags.mark_flags_as_required(["model", "out"])


def main(argv: list[str]) -> None:
  cli.check_output(_OUT.value, flag="--out")
  sizes = export.export_stage(_MODEL.value, _OUT.value, progress=True)
  cli.closing(f"wrote {_OUT.value}: {sizes['artefact'] / 1e6:.2f} MB (program {sizes['program'] / 1e6:.2f} MB; "
              f"the stage's checkpoints {sizes['checkpoint'] / 1e6:.2f} MB)",
              next_step=f"python scripts/detect.py --model {_OUT.value} --edf REC.edf --out REC_events.tsv")


if __name__ == "__main__":
  cli.run(main, "export")
