"""Errors that name the offending file or field, so users never read a deep stack trace."""


class DataError(ValueError):
  """Raw data or a store is unusable: the message names the file and what was expected."""


class ConfigError(ValueError):
  """A configuration value is missing or invalid: the message names the field."""


class TrainingDiverged(RuntimeError):
  """The loss became NaN or infinite; the message names the step and the last good checkpoint."""


class InUse(RuntimeError):
  """Another process holds the lock of a workdir or store; the message names it (pid, host, command, since)."""
