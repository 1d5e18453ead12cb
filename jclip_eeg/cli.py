"""The command-line style every script shares: absl flags, one-line errors, documented exit codes.

  def main(argv: list[str]) -> None:
    ...  # work, with a progress bar for anything slow
    cli.closing(f"wrote {out}", next_step="python scripts/evaluate.py --workdir ...")

  if __name__ == "__main__":
    cli.run(main, "evaluate")

Exit codes (README "Command line"):
  0  done (also `--help`);
  1  a bug: a Python traceback (please report it);
  2  bad input: a flag, the config, the data, a checkpoint or an output path; one line on stderr
     naming the file or field and what was expected;
  3  the training diverged (non-finite loss; the last good checkpoint is kept);
  130 interrupted (Ctrl-C); rerunning the same command resumes.
Logs are quiet by default (warnings only, JAX's and Orbax's INFO chatter
hidden); `--verbosity=0` shows INFO. Flags use absl's spelling
(`--max_recordings`, `--noprogress`); `--help` lists each flag with its
default.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TextIO

from absl import app, flags
from absl import logging as absl_logging

from jclip_eeg import host_memory
from jclip_eeg.errors import ConfigError, DataError, TrainingDiverged

EXIT_DONE, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 2, 3, 130
ERRORS = (ConfigError, DataError, TrainingDiverged)
_HELP_FLAGS = ("--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")


def exit_code(error: Exception) -> int:
  """The exit status of one of the project's errors (module docstring)."""
  return EXIT_DIVERGED if isinstance(error, TrainingDiverged) else EXIT_BAD_INPUT


def fail(script: str, error: Exception) -> int:
  """Prints `error` as one line naming `script`; returns its exit status."""
  kind = "diverged" if isinstance(error, TrainingDiverged) else "error"
  print(f"{script}: {kind}: {error}", file=sys.stderr)
  return exit_code(error)


def _parse_flags(script: str) -> Callable[[list[str]], list[str]]:
  """absl's flag parsing, with a bad flag as one line and status 2, and `--help` as status 0."""
  def parse(argv: list[str]) -> list[str]:
    try:
      return flags.FLAGS(argv)
    except flags.Error as error:
      message = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
      print(f"{script}: error: {message} (see --help)", file=sys.stderr)
      sys.exit(EXIT_BAD_INPUT)
    except SystemExit:
      if any(arg.split("=")[0] in _HELP_FLAGS for arg in argv[1:]):
        sys.exit(EXIT_DONE)  # absl exits 1 after printing the help
      raise
  return parse


def quiet_logs() -> None:
  """Warnings only: JAX's backend probing, Orbax and absl INFO lines stay hidden unless --verbosity >= 0."""
  level = logging.INFO if flags.FLAGS["verbosity"].present and flags.FLAGS.verbosity >= 0 else logging.WARNING
  logging.getLogger().setLevel(level)
  absl_logging.set_verbosity(absl_logging.INFO if level == logging.INFO else absl_logging.WARNING)
  ours = logging.getLogger("jclip_eeg")  # our own notes (resuming, generating data, skipping) as plain lines
  ours.setLevel(logging.INFO)
  if not ours.handlers:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    ours.addHandler(handler)
    ours.propagate = False


def run(main: Callable[[list[str]], None], script: str) -> None:
  """Runs `main(argv)` as the script `script` (module docstring) and exits with its status."""
  def wrapped(argv: list[str]) -> int:
    if len(argv) > 1:
      print(f"{script}: error: unexpected arguments {argv[1:]} (all options are --flags; see --help)",
            file=sys.stderr)
      return EXIT_BAD_INPUT
    host_memory.retain_freed_memory()  # before anything starts JAX's backend (host_memory.py)
    quiet_logs()
    try:
      main(argv)
    except ERRORS as error:
      return fail(script, error)
    except KeyboardInterrupt:
      print(f"{script}: interrupted; rerun the same command to resume", file=sys.stderr)
      return EXIT_INTERRUPTED
    return EXIT_DONE

  app.run(wrapped, flags_parser=_parse_flags(script))


def closing(what: str, next_step: str | None = None, *, file: TextIO | None = None) -> None:
  """The last line(s) of a script: what it wrote, and the command a user most likely runs next.

  `file` (default stdout): stderr where stdout carries data (model_info's JSON).
  """
  print(what, file=file or sys.stdout)
  if next_step:
    print(f"next: {next_step}", file=file or sys.stdout)
