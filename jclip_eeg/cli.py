"""What every absl script does first, and with the project's errors (one line, an exit status).

  def main(argv):
    cli.start(argv, progress_logger="jclip_eeg")
    try:
      ...
    except cli.ERRORS as error:
      return cli.fail("train", error)
"""

from __future__ import annotations

import logging
import sys

from absl import app

from jclip_eeg import host_memory
from jclip_eeg.errors import ConfigError, DataError, TrainingDiverged

ERRORS = (ConfigError, DataError, TrainingDiverged)


def start(argv: list[str], *, progress_logger: str | None = None) -> None:
  """Refuses positional arguments; keeps INFO notes of `progress_logger` (resuming, generating
  data), not JAX's and Orbax's INFO chatter; keeps freed host memory mapped (XLA:CPU's step
  temporaries, `host_memory`), so call it before anything starts JAX's backend."""
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  host_memory.retain_freed_memory()
  logging.getLogger().setLevel(logging.WARNING)
  if progress_logger:
    logging.getLogger(progress_logger).setLevel(logging.INFO)


def fail(script: str, error: Exception) -> int:
  """Prints `error` as one line naming `script`; returns 3 for a diverged run, else 2."""
  kind = "diverged" if isinstance(error, TrainingDiverged) else "error"
  print(f"{script}: {kind}: {error}", file=sys.stderr)
  return 3 if isinstance(error, TrainingDiverged) else 2
