"""SzCORE's command line: detect seizures in one EDF and write its SzCORE events.tsv.

  python -m jclip_eeg.szcore INPUT.edf OUTPUT.tsv [--model PATH]

This is the entry point SzCORE (https://epilepsybenchmarks.com) runs inside a
submitted container, as `python3 -m <module> /data/INPUT /output/OUTPUT`, once
per recording, offline. The model is an artefact of scripts/export.py (or a
finished stage directory): `--model`, else `$JCLIP_EEG_MODEL`, else
`DEFAULT_MODEL`, where the repository's Dockerfile copies it. The EDF is
read with the montage the model was trained with, preprocessed as in
training, and scored with the post-processing the model carries (tuned on
its validation recordings); the TSV is written in place in SzCORE's format
(`jclip_eeg.eval.events`). Exit status: 0 done, 2 bad input (one line on
stderr naming the file and what was expected), 1 a bug.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from jclip_eeg import cli
from jclip_eeg.errors import ConfigError
from jclip_eeg.eval import detection, events

MODEL_VARIABLE = "JCLIP_EEG_MODEL"
DEFAULT_MODEL = Path("/opt/jclip-eeg/model.jaxexport")
_NAME = "jclip_eeg.szcore"


def model_path(given: str | None) -> Path:
  """--model, else $JCLIP_EEG_MODEL, else `DEFAULT_MODEL`; ConfigError naming all three when none exists."""
  path = Path(given or os.environ.get(MODEL_VARIABLE) or DEFAULT_MODEL)
  if not path.exists():
    raise ConfigError(f"model {path} not found: give --model PATH (an artefact of scripts/export.py), set "
                      f"${MODEL_VARIABLE}, or put it at {DEFAULT_MODEL}")
  return path


def run(edf_path: str | os.PathLike, out: str | os.PathLike, model: str | os.PathLike) -> detection.Detection:
  """Detects seizures in `edf_path` with `model` and writes the SzCORE TSV `out`."""
  found = detection.detect(detection.load_predictor(model), edf_path)
  events.write_tsv(out, found.events, found.duration_s, found.start)
  return found


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = argparse.ArgumentParser(prog=f"python -m {_NAME}", description=__doc__.splitlines()[0])
  parser.add_argument("input", help="the EDF recording (SzCORE: /data/INPUT)")
  parser.add_argument("output", help="the events.tsv to write (SzCORE: /output/OUTPUT)")
  parser.add_argument("--model", help=f"exported model (default: ${MODEL_VARIABLE}, else {DEFAULT_MODEL})")
  return parser.parse_args(argv)  # a usage error exits 2, like every bad input here


def main(argv: Sequence[str] | None = None) -> int:
  """The command (module docstring); returns the exit status."""
  args = _arguments(argv)
  started = time.perf_counter()
  try:
    found = run(args.input, args.output, model_path(args.model))
  except cli.ERRORS as error:
    return cli.fail(_NAME, error)
  print(f"{len(found.events)} seizure event(s) in {found.duration_s:.0f} s of {Path(args.input).name} "
        f"in {time.perf_counter() - started:.1f} s; wrote {args.output}", file=sys.stderr)
  return cli.EXIT_DONE


if __name__ == "__main__":
  sys.exit(main())
