"""What every script does with the project's errors: one line on stderr and an exit status.

  try:
    ...
  except cli.ERRORS as error:
    return cli.fail("train", error)
"""

from __future__ import annotations

import sys

from jclip_eeg.errors import ConfigError, DataError, TrainingDiverged

ERRORS = (ConfigError, DataError, TrainingDiverged)


def fail(script: str, error: Exception) -> int:
  """Prints `error` as one line naming `script`; returns 3 for a diverged run, else 2."""
  kind = "diverged" if isinstance(error, TrainingDiverged) else "error"
  print(f"{script}: {kind}: {error}", file=sys.stderr)
  return 3 if isinstance(error, TrainingDiverged) else 2
