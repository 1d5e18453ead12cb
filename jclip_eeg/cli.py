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
  4  in use: another run holds the lock of the same workdir or store (`locks.py`); the line names it
     (pid, host, command, since);
  130 interrupted (Ctrl-C); rerunning the same command resumes.
Flag values are checked before any work: a config file that cannot be
loaded, a `--config.x.y` override naming no field (with the closest field's
name), and output paths (`check_output`: a missing folder is created; a path
that is a folder where a file is wanted, lies under a file, or cannot be
written is refused) all exit 2 before anything is computed.
Logs are quiet by default (warnings only, JAX's and Orbax's INFO chatter
hidden); `--verbosity=0` shows INFO. Flags use absl's spelling
(`--max_recordings`, `--noprogress`); `--help` lists each flag with its
default.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from absl import app, flags
from absl import logging as absl_logging
from ml_collections import config_flags

from jclip_eeg import host_memory
from jclip_eeg.errors import ConfigError, DataError, InUse, TrainingDiverged

EXIT_DONE, EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_IN_USE, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
ERRORS = (ConfigError, DataError, TrainingDiverged, InUse)
_KINDS = {TrainingDiverged: ("diverged", EXIT_DIVERGED), InUse: ("in use", EXIT_IN_USE)}
_HELP_FLAGS = ("--help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")


def exit_code(error: Exception) -> int:
  """The exit status of one of the project's errors (module docstring)."""
  return _KINDS.get(type(error), ("error", EXIT_BAD_INPUT))[1]


def fail(script: str, error: Exception) -> int:
  """Prints `error` as one line naming `script`; returns its exit status."""
  kind = _KINDS.get(type(error), ("error", EXIT_BAD_INPUT))[0]
  print(f"{script}: {kind}: {error}", file=sys.stderr)
  return exit_code(error)


# ----------------------------------------------------------------------------- flags


def _last_line(text: str) -> str:
  """The last non-empty line of `text` without a leading "module.SomeError: " (a traceback's verdict)."""
  last = [line.strip() for line in text.splitlines() if line.strip()][-1:] or [""]
  return re.sub(r"^[\w.]+(Error|Exception): ", "", last[0])


def flag_error_text(error: flags.Error) -> str:
  """absl's message for a bad flag; a config file's own error (ml_collections puts its whole traceback in the
  message) is reduced to its last line."""
  text = str(error)
  if "Traceback (most recent call last)" not in text:
    return "; ".join(line.strip() for line in text.splitlines() if line.strip())
  return f"{text.split('Error whilst parsing config file')[0]}{_last_line(text)}"


def override_error_text(argv: Sequence[str], error: Exception) -> str:
  """The message for a `--config.<path>=value` override naming no config field (ml_collections raises a
  KeyError or AttributeError whose text holds the field and its closest existing name)."""
  text = str(error).replace("\\'", "'").replace("\\n", "\n")
  field = re.search(r"'([^'\s]+)'", text)
  guess = re.search(r'Did you mean "([^"]+)"', text)
  arg = next((a for a in argv if field and a.startswith("--") and re.search(rf"\.{re.escape(field[1])}(=|\.|$)", a)),
             "a --config.<field> override")
  name = f"no config field {field[1]!r}" if field else "no such config field"
  return f"{arg}: {name}" + (f"; did you mean {guess[1]!r}?" if guess else "")


def _is_config_file_flag(name: str) -> bool:
  try:
    config_flags.get_config_filename(flags.FLAGS[name])
  except TypeError:
    return False
  return True


def _unloadable_config(name: str) -> str | None:
  """Why the config-file flag `name` holds no config (ml_collections defers a file's load error), or None."""
  try:
    flags.FLAGS[name].value.get  # noqa: B018 (a config that failed to load raises on any attribute)
  except OSError as error:
    return f"--{name}: cannot load the config file: {_last_line(str(error))}"
  return None


def _exit_bad_input(script: str, message: str) -> NoReturn:
  print(f"{script}: error: {message} (see --help)", file=sys.stderr)
  sys.exit(EXIT_BAD_INPUT)


def _parse_flags(script: str) -> Callable[[list[str]], list[str]]:
  """absl's flag parsing, with a bad flag or config file as one line and status 2, and `--help` as status 0."""
  def parse(argv: list[str]) -> list[str]:
    try:
      remaining = flags.FLAGS(argv)
    except flags.Error as error:
      _exit_bad_input(script, flag_error_text(error))
    except SystemExit:
      if any(arg.split("=")[0] in _HELP_FLAGS for arg in argv[1:]):
        sys.exit(EXIT_DONE)  # absl exits 1 after printing the help
      raise
    except (AttributeError, KeyError) as error:
      _exit_bad_input(script, override_error_text(argv, error))
    except OSError as error:  # an override of a config file that failed to load
      _exit_bad_input(script, f"cannot load the config file: {_last_line(str(error))}")
    except Exception as error:  # a config file that fails to run (SyntaxError, ImportError, ...)
      _exit_bad_input(script, f"while reading the flags: {type(error).__name__}: {_last_line(str(error))}")
    for problem in filter(None, map(_unloadable_config, filter(_is_config_file_flag, flags.FLAGS))):
      _exit_bad_input(script, problem)
    return remaining
  return parse


# ----------------------------------------------------------------------------- output paths


def check_output(path: str | os.PathLike, *, flag: str, folder: bool = False) -> Path:
  """Checks, before any work, that the output `path` can be written; creates its missing parent folders.

  Args:
    path: the file (or with `folder`, the directory) a script will write.
    flag: the flag that named it, for the message ("--out").
    folder: `path` is a directory (a workdir, a plots folder, a store).
  Returns:
    `path` as a Path.
  Raises:
    ConfigError: naming the flag and path, when `path` is a folder where a
      file is wanted (or the reverse) or neither (a device), lies under a
      file, or its folder cannot be created or written.
  """
  path = Path(path)
  where = f"{flag}={path}"
  if path.exists() and not (path.is_dir() or path.is_file()):
    raise ConfigError(f"{where}: is not a regular file or folder (a device or socket); choose another path")
  if path.exists() and path.is_dir() != folder:
    raise ConfigError(f"{where}: is a {'file' if folder else 'folder'}; expected the name of a "
                      f"{'folder' if folder else 'file'} to write")
  above = next(p for p in path.parents if p.exists() or p == p.parent)
  if not above.is_dir():
    raise ConfigError(f"{where}: {above} is a file, so nothing can be written under it")
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    receiving = path if folder and path.is_dir() else path.parent
    tempfile.TemporaryFile(dir=receiving).close()
    if path.is_file():
      open(path, "ab").close()
  except OSError as error:
    raise ConfigError(f"{where}: cannot write there ({error.strerror or error})") from None
  return path


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
